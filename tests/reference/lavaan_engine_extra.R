# Extra reference values for the SEM engine (pipeline/sem), complementing
# lavaan_engine.R: lavaan's parameter tables for a set of syntax cases.
# Run from the repository root:  Rscript tests/reference/lavaan_engine_extra.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference/fixtures"

models <- list(
  poldem = '
    ind60 =~ x1 + x2 + x3
    dem60 =~ y1 + a*y2 + b*y3 + c*y4
    dem65 =~ y5 + a*y6 + b*y7 + c*y8
    dem60 ~ ind60
    dem65 ~ ind60 + dem60
    y1 ~~ y5
    y2 ~~ y4 + y6',
  mediator_x = '
    L =~ L1 + L2
    CC ~ L + x1
    ICS ~ CC + L + x2
    y3 ~ x1',
  free_marker = '
    # comment line
    f =~ NA*x1 + x2 +
         x3   # trailing comment
    f ~~ 1*f
    g =~ y1 + 0.5*y2 + start(0.3)*y3; f ~~ 0*g',
  single = '
    F =~ a + b + c
    M =~ m
    F ~ M
    y ~ F + M',
  higher = '
    f1 =~ x1 + x2 + x3
    f2 =~ x4 + x5 + x6
    g =~ f1 + f2
    y ~ g')
res <- list()
for (nm in names(models)) {
  pt <- lavaanify(models[[nm]], auto.var=TRUE, auto.fix.first=TRUE, auto.fix.single=TRUE,
                  auto.cov.lv.x=TRUE, auto.cov.y=TRUE, fixed.x=TRUE, meanstructure=TRUE,
                  int.ov.free=TRUE)
  pt <- pt[pt$op != "==", ]
  res[[nm]] <- list(model = models[[nm]],
                    call = "lavaanify(model, auto.var=TRUE, auto.fix.first=TRUE, auto.fix.single=TRUE, auto.cov.lv.x=TRUE, auto.cov.y=TRUE, fixed.x=TRUE, meanstructure=TRUE, int.ov.free=TRUE)",
                    ov = lavNames(pt, "ov"), ov.x = lavNames(pt, "ov.x"),
                    lv = lavNames(pt, "lv"),
                    partable = data.frame(lhs=pt$lhs, op=pt$op, rhs=pt$rhs, user=pt$user,
                                          free=as.integer(pt$free > 0), ustart=pt$ustart,
                                          exo=pt$exo, label=pt$label))
}
res$lavaan_version <- as.character(packageVersion("lavaan"))
writeLines(toJSON(res, auto_unbox=TRUE, digits=NA, na="null", pretty=TRUE),
           file.path(out_dir, "lavaan_engine_partables.json"))

# ---------------------------------------------------------------------------
# The thesis SEM (studies/amirova2021/models/cs2019/thesis_sem.lav) on synthetic data drawn from
# studies/amirova2021/models/thesis_population.lav (N = 250; written by the Python side with
# numpy default_rng(20190601), tests/reference/data/sem_thesis_synthetic.csv):
# an observed single-item mediator (CC) regressed on five factors.
thesis_model <- paste(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), collapse = "\n")
d <- read.csv("tests/reference/data/sem_thesis_synthetic.csv")
fit <- sem(thesis_model, data = d)
fitw <- sem(thesis_model, data = d, likelihood = "wishart")
pe <- parameterEstimates(fit, standardized = TRUE)
out <- list(
  call = 'sem(model, data = read.csv("tests/reference/data/sem_thesis_synthetic.csv"))',
  model = thesis_model,
  data = "sem_thesis_synthetic.csv",
  nobs = lavInspect(fit, "nobs"),
  parameters = pe[, c("lhs", "op", "rhs", "label", "est", "se", "std.lv", "std.all")],
  fit = as.list(fitMeasures(fit)),
  fit_wishart = as.list(fitMeasures(fitw, c("chisq", "df", "cfi", "tli", "rmsea", "gfi", "agfi"))),
  r2 = as.list(lavInspect(fit, "r2")),
  modindices = modindices(fit, sort. = TRUE)[1:20, c("lhs", "op", "rhs", "mi", "epc", "sepc.all")],
  lavaan_version = as.character(packageVersion("lavaan"))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path(out_dir, "lavaan_engine_thesis.json"))

# ---------------------------------------------------------------------------
# Exogenous observed covariates (fixed.x = TRUE): their variances, covariances
# are fixed at the sample values and not counted in npar / df.
hs <- read.csv("tests/reference/data/holzinger_swineford.csv")
fixedx_model <- '
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual  ~ ageyr + sex
textual ~ ageyr + grade
'
fit <- sem(fixedx_model, data = hs)
out <- list(
  call = 'sem(model, data = HolzingerSwineford1939)  # rows with missing grade dropped (listwise)',
  model = fixedx_model,
  data = "holzinger_swineford.csv",
  nobs = lavInspect(fit, "nobs"),
  ov = lavNames(fit, "ov"), ov.x = lavNames(fit, "ov.x"),
  parameters = parameterEstimates(fit, standardized = TRUE)[, c("lhs", "op", "rhs", "est", "se", "std.lv", "std.all")],
  fit = as.list(fitMeasures(fit)),
  r2 = as.list(lavInspect(fit, "r2")),
  modindices = modindices(fit, sort. = TRUE)[, c("lhs", "op", "rhs", "mi", "epc", "sepc.all")],
  residuals_standardized = unname(residuals(fit, type = "standardized")$cov[lavNames(fit, "ov"), lavNames(fit, "ov")]),
  lavaan_version = as.character(packageVersion("lavaan"))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE, matrix = "rowmajor"),
           file.path(out_dir, "lavaan_engine_fixedx.json"))

# ---------------------------------------------------------------------------
# Syntax variants on HolzingerSwineford1939 (sem() defaults): free markers
# with fixed latent variances, fixed loadings, a cross-loading, a
# second-order factor, structural paths, start(), a fixed covariance.
variants <- list(
  one_factor = 'g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9',
  std_lv = 'visual =~ NA*x1 + x2 + x3
            textual =~ NA*x4 + x5 + x6
            visual ~~ 1*visual
            textual ~~ 1*textual',
  cross = 'visual =~ x1 + x2 + x3 + x9
           textual =~ x4 + x5 + x6
           speed =~ x7 + x8 + x9',
  second_order = 'visual =~ x1 + x2 + x3
                  textual =~ x4 + x5 + x6
                  speed =~ x7 + x8 + x9
                  g =~ visual + textual + speed',
  structural = 'visual =~ x1 + x2 + x3
                textual =~ x4 + x5 + x6
                speed =~ x7 + x8 + x9
                speed ~ visual + textual
                x1 ~~ x9',
  fixed_values = 'visual =~ x1 + 0.5*x2 + start(0.8)*x3
                  textual =~ x4 + x5 + x6
                  visual ~~ 0*textual
                  x5 ~~ x6',
  orth_obs = 'x9 ~ x1 + x4
              x1 ~~ x4'
)
vres <- list()
for (nm in names(variants)) {
  f <- sem(variants[[nm]], data = hs)
  pe <- parameterEstimates(f, standardized = TRUE)
  vres[[nm]] <- list(model = variants[[nm]],
                     call = "sem(model, data = HolzingerSwineford1939)",
                     nobs = lavInspect(f, "nobs"),
                     fit = as.list(fitMeasures(f, c("npar", "chisq", "df", "cfi", "rmsea", "srmr", "logl", "gfi"))),
                     parameters = pe[, c("lhs", "op", "rhs", "est", "se", "std.all")])
}
writeLines(toJSON(vres, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path(out_dir, "lavaan_engine_variants.json"))

# ---------------------------------------------------------------------------
# FIML with exogenous covariates (fixed.x = TRUE) on the MCAR version of
# HolzingerSwineford1939 written by lavaan_engine.R.
hs_mcar <- read.csv("tests/reference/data/holzinger_swineford_mcar.csv")
fiml_x_model <- '
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual  ~ ageyr + sex
textual ~ ageyr
'
fit <- sem(fiml_x_model, data = hs_mcar, missing = "ml")
out <- list(
  call = 'sem(model, data = hs_mcar, missing = "ml")',
  model = fiml_x_model,
  data = "holzinger_swineford_mcar.csv",
  nobs = lavInspect(fit, "nobs"),
  ov = lavNames(fit, "ov"),
  parameters = parameterEstimates(fit, standardized = TRUE)[, c("lhs", "op", "rhs", "est", "se", "std.all")],
  fit = as.list(fitMeasures(fit)),
  r2 = as.list(lavInspect(fit, "r2")),
  lavaan_version = as.character(packageVersion("lavaan"))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path(out_dir, "lavaan_engine_fiml_x.json"))
