# Reference fixtures for multi-group models and measurement invariance
# (pipeline/sem/multigroup.py, invariance.py, lrt.py, score_test.py),
# computed with lavaan.
#
# Run from the repository root:
#     Rscript tests/reference/lavaan_multigroup.R
#
# Data: HolzingerSwineford1939 as tests/reference/data/holzinger_swineford.csv
# (written by lavaan_engine.R; the same rows), grouped by `school`.
# Writes tests/reference/fixtures/lavaan_multigroup.json:
#   versions, group_labels (lavaan's group order), cases: name -> {call, model,
#   estimator, group_equal, group_partial, nobs (per group), npar, df,
#   fit (fitMeasures), parameters (parameterEstimates(fit) with group column,
#   rows of op "==" dropped)}, lrt: name -> lavTestLRT table (records),
#   score: name -> lavTestScore(fit)$uni with the partable rows the
#   constraints name, and $test.
# Numbers at full precision (jsonlite digits = NA); NA written as null.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
  library(semTools)
})

get_script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else "tests/reference"
}
ref_dir <- get_script_dir()
fix_dir <- file.path(ref_dir, "fixtures")
HS <- read.csv(file.path(ref_dir, "data", "holzinger_swineford.csv"))
# x1..x9 MCAR p = .12 (set.seed(20210), written by lavaan_engine.R)
HS_MCAR <- read.csv(file.path(ref_dir, "data", "holzinger_swineford_mcar.csv"))

HS_MODEL <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"
# group-specific labels and values: c(a, a) equal loadings, c(1, NA) a marker
# fixed only in group 1 (free in group 2), c(l1, l2) distinct labels + ==
CLAB_MODEL <- "
visual  =~ x1 + c(a, a)*x2 + c(b1, b2)*x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
b1 == b2
x9 ~~ c(0.5, NA)*x9
"
SEM_MODEL <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
textual ~ visual
speed ~ visual + textual
"

cases <- list(
  configural = list(model = HS_MODEL, equal = character(0)),
  metric     = list(model = HS_MODEL, equal = c("loadings")),
  scalar     = list(model = HS_MODEL, equal = c("loadings", "intercepts")),
  strict     = list(model = HS_MODEL, equal = c("loadings", "intercepts", "residuals")),
  scalar_partial = list(model = HS_MODEL, equal = c("loadings", "intercepts"),
                        partial = c("x3~1", "x7~1")),
  clabels    = list(model = CLAB_MODEL, equal = character(0)),
  sem_struct = list(model = SEM_MODEL,
                    equal = c("loadings", "regressions", "lv.variances", "lv.covariances",
                              "residual.covariances")),
  sem_all    = list(model = SEM_MODEL,
                    equal = c("loadings", "intercepts", "means", "residuals",
                              "regressions", "lv.variances"))
)

num <- function(x) { x <- unclass(x); attributes(x) <- NULL; x }
records <- function(df) {
  df <- as.data.frame(df)
  for (v in names(df)) if (is.factor(df[[v]])) df[[v]] <- as.character(df[[v]])
  rownames(df) <- NULL
  df
}

# FIML (missing = "ml") cases: ML and MLR, on the MCAR copy
fiml_cases <- list(
  configural_fiml = list(model = HS_MODEL, equal = "", estimator = "ML"),
  metric_fiml     = list(model = HS_MODEL, equal = "loadings", estimator = "ML"),
  metric_fiml_mlr = list(model = HS_MODEL, equal = "loadings", estimator = "MLR")
)
# single group with general constraints (nonlinear ==, inequality)
CONSTR_MODEL <- "
visual  =~ x1 + a*x2 + b*x3
textual =~ x4 + x5 + x6
b == a^2 + 0.1
a > 0.6
"

fits <- list()
out_cases <- list()
for (est in c("ML", "MLR", "MLM")) {
  for (nm in names(cases)) {
    if (est != "ML" && !(nm %in% c("configural", "metric", "scalar", "strict", "scalar_partial")))
      next
    spec <- cases[[nm]]
    partial <- if (is.null(spec$partial)) character(0) else spec$partial
    ge <- if (length(spec$equal)) spec$equal else ""
    fit <- cfa(spec$model, data = HS, group = "school", estimator = est,
               group.equal = ge, group.partial = partial)
    key <- paste0(nm, "_", tolower(est))
    fits[[key]] <- fit
    pe <- parameterEstimates(fit, remove.eq = FALSE, remove.system.eq = TRUE,
                             remove.ineq = FALSE, remove.def = FALSE, standardized = TRUE)
    if (is.null(pe$label)) pe$label <- ""
    pe <- pe[pe$op != "==", c("lhs", "op", "rhs", "group", "label", "est", "se", "std.lv", "std.all")]
    fm <- fitMeasures(fit)
    out_cases[[key]] <- list(
      call = sprintf(
        'cfa(model, data = HolzingerSwineford1939, group = "school", estimator = "%s", group.equal = c(%s)%s)',
        est, paste0('"', spec$equal, '"', collapse = ", "),
        if (length(partial)) sprintf(', group.partial = c(%s)',
                                     paste0('"', partial, '"', collapse = ", ")) else ""),
      model = spec$model, estimator = est, group_equal = spec$equal,
      group_partial = partial,
      nobs = num(lavInspect(fit, "nobs")),
      npar = num(fm[["npar"]]), df = num(fm[["df"]]),
      fit = as.list(setNames(num(fm), names(fm))),
      r2 = lapply(lavInspect(fit, "r2"), function(x) as.list(setNames(as.numeric(x), names(x)))),
      parameters = records(pe))
  }
}

for (nm in names(fiml_cases)) {
  spec <- fiml_cases[[nm]]
  fit <- cfa(spec$model, data = HS_MCAR, group = "school", missing = "ml",
             estimator = spec$estimator, group.equal = spec$equal)
  pe <- parameterEstimates(fit)
  if (is.null(pe$label)) pe$label <- ""
  pe <- pe[pe$op != "==", c("lhs", "op", "rhs", "group", "label", "est", "se")]
  fm <- fitMeasures(fit)
  out_cases[[nm]] <- list(
    call = sprintf('cfa(model, data = hs_mcar, group = "school", missing = "ml", estimator = "%s", group.equal = "%s")',
                   spec$estimator, spec$equal),
    model = spec$model, estimator = spec$estimator, missing = "ml", data = "holzinger_swineford_mcar.csv",
    group_equal = if (nchar(spec$equal)) spec$equal else character(0), group_partial = character(0),
    nobs = num(lavInspect(fit, "nobs")), npar = num(fm[["npar"]]), df = num(fm[["df"]]),
    fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))
}
fit <- cfa(CONSTR_MODEL, data = HS)
pe <- parameterEstimates(fit)
pe <- pe[!(pe$op %in% c("==", ">", "<")), c("lhs", "op", "rhs", "label", "est", "se")]
fm <- fitMeasures(fit)
constrained <- list(call = "cfa(model, data = HolzingerSwineford1939)", model = CONSTR_MODEL,
                    npar = num(fm[["npar"]]), df = num(fm[["df"]]),
                    fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))

# ordinal items (WLSMV, delta parameterization), bfi by gender: A1-A3, C1-C3
BFI <- read.csv(file.path(ref_dir, "data", "bfi.csv"))
ORD_ITEMS <- c("A1", "A2", "A3", "C1", "C2", "C3")
BFI_D <- BFI[complete.cases(BFI[c(ORD_ITEMS, "gender")]), c(ORD_ITEMS, "gender")]
ORD_MODEL <- "
agree =~ A1 + A2 + A3
consc =~ C1 + C2 + C3
"
ord_fits <- list()
ordinal <- list()
for (nm in c("configural", "thresholds", "metric")) {
  ge <- switch(nm, configural = "", thresholds = "thresholds",
               metric = c("thresholds", "loadings"))
  fit <- cfa(ORD_MODEL, data = BFI_D, ordered = ORD_ITEMS, group = "gender",
             estimator = "WLSMV", group.equal = ge)
  ord_fits[[nm]] <- fit
  pe <- parameterEstimates(fit, standardized = TRUE)
  if (is.null(pe$label)) pe$label <- ""
  pe <- pe[pe$op != "==", c("lhs", "op", "rhs", "group", "label", "est", "se", "std.lv", "std.all")]
  fm <- fitMeasures(fit)
  ordinal[[nm]] <- list(
    call = sprintf('cfa(model, bfi_complete, ordered = items, group = "gender", estimator = "WLSMV", group.equal = c(%s))',
                   paste0('"', ge, '"', collapse = ", ")),
    group_equal = if (nchar(ge[1])) ge else character(0),
    nobs = num(lavInspect(fit, "nobs")), npar = num(fm[["npar"]]), df = num(fm[["df"]]),
    fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))
}
for (nm in c("loadings", "loadings_thresholds")) {
  ge <- if (nm == "loadings") "loadings" else c("loadings", "thresholds")
  fit <- cfa(ORD_MODEL, data = BFI_D, ordered = ORD_ITEMS, group = "gender",
             estimator = "WLSMV", group.equal = ge)
  ord_fits[[nm]] <- fit
  fm <- fitMeasures(fit)
  ordinal[[nm]] <- list(
    call = sprintf('cfa(model, bfi_complete, ordered = items, group = "gender", estimator = "WLSMV", group.equal = c(%s))',
                   paste0('"', ge, '"', collapse = ", ")),
    group_equal = ge, nobs = num(lavInspect(fit, "nobs")), npar = num(fm[["npar"]]),
    df = num(fm[["df"]]), fit = as.list(setNames(num(fm), names(fm))),
    parameters = records(parameterEstimates(fit)[, c("lhs", "op", "rhs", "group", "est", "se")]))
}
ordinal_lrt <- list(
  loadings_vs_configural = records(as.data.frame(lavTestLRT(ord_fits$configural, ord_fits$loadings))),
  loadings_thresholds_vs_loadings = records(as.data.frame(lavTestLRT(ord_fits$loadings, ord_fits$loadings_thresholds))),
  thresholds_vs_configural = records(as.data.frame(lavTestLRT(ord_fits$configural, ord_fits$thresholds))),
  metric_vs_thresholds = records(as.data.frame(lavTestLRT(ord_fits$thresholds, ord_fits$metric))))
# Wu & Estabrook (2016) sequence: semTools::measEq.syntax(ID.cat = "Wu.Estabrook.2016",
# ID.fac = "std.lv", parameterization = "delta"); the fit does not depend on the
# factor identification, so the marker-variable models of the engine must agree
we <- list()
we_fits <- list()
for (nm in c("configural", "thresholds", "metric", "scalar")) {
  ge <- switch(nm, configural = "", thresholds = "thresholds",
               metric = c("thresholds", "loadings"),
               scalar = c("thresholds", "loadings", "intercepts"))
  syn <- measEq.syntax(configural.model = ORD_MODEL, data = BFI_D, ordered = ORD_ITEMS,
                       parameterization = "delta", ID.fac = "std.lv",
                       ID.cat = "Wu.Estabrook.2016", group = "gender", group.equal = ge)
  fit <- cfa(as.character(syn), data = BFI_D, ordered = ORD_ITEMS, group = "gender",
             estimator = "WLSMV")
  we_fits[[nm]] <- fit
  fm <- fitMeasures(fit)
  we[[nm]] <- list(group_equal = if (nchar(ge[1])) ge else character(0),
                   npar = num(fm[["npar"]]), df = num(fm[["df"]]),
                   fit = as.list(setNames(num(fm), names(fm))))
}
# score tests of freeing the (fixed, zero) item intercepts of group 2 in the
# Wu-Estabrook scalar model: modindices (= univariate lavTestScore(add =))
we_mi <- modindices(we_fits$scalar, op = "~1", free.remove = FALSE, sort. = FALSE)
we_mi <- we_mi[we_mi$lhs %in% ORD_ITEMS, c("lhs", "op", "rhs", "group", "mi")]
we_lrt <- list()
steps <- names(we_fits)
for (i in 2:length(steps)) {
  tab <- as.data.frame(lavTestLRT(we_fits[[steps[i - 1]]], we_fits[[steps[i]]]))
  we_lrt[[paste0(steps[i], "_vs_", steps[i - 1])]] <- records(tab)
}
ord_score <- lavTestScore(ord_fits$metric)
ord_pt <- parTable(ord_fits$metric)
ord_uni <- as.data.frame(ord_score$uni)
ord_rowinfo <- function(pl) {
  r <- ord_pt[ord_pt$plabel == pl, ]
  sprintf("%s %s %s g%d", r$lhs, r$op, r$rhs, r$group)
}
ord_uni$lhs_row <- vapply(ord_uni$lhs, ord_rowinfo, "")

ordinal_info <- list(model = ORD_MODEL, items = ORD_ITEMS, data = "bfi.csv", group = "gender",
                     group_labels = lavInspect(ord_fits$configural, "group.label"),
                     fits = ordinal, lrt = ordinal_lrt,
                     wu_estabrook = list(call = 'measEq.syntax(ORD_MODEL, data, ordered = items, parameterization = "delta", ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "gender", group.equal = ...)',
                                         fits = we, lrt = we_lrt, mi_intercepts = records(we_mi)),
                     score_metric = list(test = records(ord_score$test), uni = records(ord_uni)))

# five groups with missing group values (bfi by education, items as continuous,
# listwise) and a fixed.x covariate per group (HS, visual ~ ageyr)
BFI_MODEL <- "
agree =~ A1 + A2 + A3 + A4 + A5
consc =~ C1 + C2 + C3 + C4 + C5
"
FIXEDX_MG_MODEL <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual ~ ageyr
"
extra <- list()
for (nm in c("configural", "metric", "scalar")) {
  ge <- switch(nm, configural = "", metric = "loadings", scalar = c("loadings", "intercepts"))
  for (est in c("ML", "MLR")) {
    fit <- cfa(BFI_MODEL, data = BFI, group = "education", estimator = est, group.equal = ge)
    pe <- parameterEstimates(fit)
    if (is.null(pe$label)) pe$label <- ""
    pe <- pe[pe$op != "==", c("lhs", "op", "rhs", "group", "label", "est", "se")]
    fm <- fitMeasures(fit)
    extra[[paste0("bfi_edu_", nm, "_", tolower(est))]] <- list(
      call = sprintf('cfa(model, bfi, group = "education", estimator = "%s", group.equal = c(%s))',
                     est, paste0('"', ge, '"', collapse = ", ")),
      model = BFI_MODEL, data = "bfi.csv", group = "education", estimator = est,
      group_equal = if (nchar(ge[1])) ge else character(0),
      group_labels = lavInspect(fit, "group.label"),
      nobs = num(lavInspect(fit, "nobs")), npar = num(fm[["npar"]]), df = num(fm[["df"]]),
      fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))
  }
}
for (est in c("ML", "MLR", "MLM")) {
  fit <- sem(FIXEDX_MG_MODEL, data = HS, group = "school", group.equal = "loadings",
             estimator = est)
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op != "==", c("lhs", "op", "rhs", "group", "label", "est", "se")]
  fm <- fitMeasures(fit)
  extra[[paste0("hs_fixedx_metric_", tolower(est))]] <- list(
    call = sprintf('sem(model, HolzingerSwineford1939, group = "school", group.equal = "loadings", estimator = "%s")', est),
    model = FIXEDX_MG_MODEL, data = "holzinger_swineford.csv", group = "school", estimator = est,
    group_equal = "loadings", group_labels = lavInspect(fit, "group.label"),
    nobs = num(lavInspect(fit, "nobs")), npar = num(fm[["npar"]]), df = num(fm[["df"]]),
    fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))
}

# difference tests with a fixed.x covariate (configural vs metric), three methods
lrt_fixedx <- list()
for (est in c("MLR", "MLM")) {
  f0 <- sem(FIXEDX_MG_MODEL, data = HS, group = "school", estimator = est)
  f1 <- sem(FIXEDX_MG_MODEL, data = HS, group = "school", estimator = est,
            group.equal = "loadings")
  for (m in c("satorra.bentler.2001", "satorra.bentler.2010", "satorra.2000")) {
    tab <- as.data.frame(lavTestLRT(f0, f1, method = m))
    lrt_fixedx[[paste0(tolower(est), "_", gsub(".", "_", m, fixed = TRUE))]] <- records(tab)
  }
}

# std.lv = TRUE: unit factor variances; with equal loadings free in group 2
for (nm in c("metric", "scalar")) {
  ge <- if (nm == "metric") "loadings" else c("loadings", "intercepts")
  fit <- cfa(HS_MODEL, data = HS, group = "school", std.lv = TRUE, group.equal = ge)
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op != "==", c("lhs", "op", "rhs", "group", "label", "est", "se")]
  fm <- fitMeasures(fit)
  extra[[paste0("stdlv_", nm, "_ml")]] <- list(
    call = sprintf('cfa(model, HolzingerSwineford1939, group = "school", std.lv = TRUE, group.equal = c(%s))',
                   paste0('"', ge, '"', collapse = ", ")),
    model = HS_MODEL, data = "holzinger_swineford.csv", group = "school", estimator = "ML",
    std_lv = TRUE, group_equal = ge, group_labels = lavInspect(fit, "group.label"),
    nobs = num(lavInspect(fit, "nobs")), npar = num(fm[["npar"]]), df = num(fm[["df"]]),
    fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))
}

# := over group-specific labels, and an active inequality (single group)
DEF_MODEL <- "
visual  =~ x1 + c(a1, a2)*x2 + x3
textual =~ x4 + x5 + x6
diff := a1 - a2
ratio := a1 / a2
"
fit <- cfa(DEF_MODEL, data = HS, group = "school")
pe <- parameterEstimates(fit)
pe <- pe[pe$op != "==", c("lhs", "op", "rhs", "group", "label", "est", "se")]
fm <- fitMeasures(fit)
extra[["defined_ml"]] <- list(
  call = 'cfa(model, HolzingerSwineford1939, group = "school")', model = DEF_MODEL,
  data = "holzinger_swineford.csv", group = "school", estimator = "ML",
  group_equal = character(0), group_labels = lavInspect(fit, "group.label"),
  nobs = num(lavInspect(fit, "nobs")), npar = num(fm[["npar"]]), df = num(fm[["df"]]),
  fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))
ACTIVE_MODEL <- "
visual  =~ x1 + a*x2 + x3
textual =~ x4 + x5 + x6
a < 0.5
"
fit <- cfa(ACTIVE_MODEL, data = HS)
pe <- parameterEstimates(fit)
pe <- pe[!(pe$op %in% c("==", "<", ">")), c("lhs", "op", "rhs", "label", "est", "se")]
fm <- fitMeasures(fit)
active <- list(call = "cfa(model, data = HolzingerSwineford1939)", model = ACTIVE_MODEL,
               npar = num(fm[["npar"]]), df = num(fm[["df"]]),
               fit = as.list(setNames(num(fm), names(fm))), parameters = records(pe))

lrt <- list()
for (est in c("ml", "mlr", "mlm")) {
  f <- function(n) fits[[paste0(n, "_", est)]]
  for (pair in list(c("configural", "metric"), c("metric", "scalar"), c("scalar", "strict"),
                    c("metric", "scalar_partial"))) {
    tab <- lavTestLRT(f(pair[1]), f(pair[2]))
    tab <- as.data.frame(tab)
    tab$model <- pair
    lrt[[paste0(pair[2], "_vs_", pair[1], "_", est)]] <- records(tab)
  }
  # the three other methods of the scaled difference (robust estimators)
  if (est != "ml") {
    for (m in c("satorra.bentler.2001", "satorra.bentler.2010", "satorra.2000")) {
      tab <- as.data.frame(lavTestLRT(f("configural"), f("metric"), method = m))
      tab$model <- c("configural", "metric")
      lrt[[paste0("metric_vs_configural_", est, "_", gsub(".", "_", m, fixed = TRUE))]] <-
        records(tab)
    }
  }
}

score <- list()
for (key in c("metric_ml", "scalar_ml", "strict_ml", "scalar_mlr", "metric_mlr")) {
  fit <- fits[[key]]
  st <- lavTestScore(fit)
  pt <- parTable(fit)
  uni <- as.data.frame(st$uni)
  # the two partable rows each constraint names (lhs/rhs are plabels .pN.)
  rowinfo <- function(pl) {
    r <- pt[pt$plabel == pl, ]
    sprintf("%s %s %s g%d", r$lhs, r$op, r$rhs, r$group)
  }
  uni$lhs_row <- vapply(uni$lhs, rowinfo, "")
  uni$rhs_row <- vapply(uni$rhs, rowinfo, "")
  score[[key]] <- list(test = records(st$test), uni = records(uni))
}

out <- list(
  versions = list(lavaan = as.character(packageVersion("lavaan")),
                  semTools = as.character(packageVersion("semTools")),
                  R = paste(R.version$major, R.version$minor, sep = ".")),
  data = "holzinger_swineford.csv",
  group = "school",
  group_labels = lavInspect(fits[["configural_ml"]], "group.label"),
  cases = out_cases, lrt = lrt, score = score, constrained = constrained, extra = extra,
  constrained_active = active, lrt_fixedx = lrt_fixedx,
  ordinal = ordinal_info)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE),
           file.path(fix_dir, "lavaan_multigroup.json"))
cat("wrote", file.path(fix_dir, "lavaan_multigroup.json"), "\n")
