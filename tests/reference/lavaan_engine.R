# Reference fixtures for the SEM engine (pipeline/sem) and the fit-index
# layer (pipeline/fit_indices.py), computed with lavaan.
#
# Run from the repository root:
#     Rscript tests/reference/lavaan_engine.R            # all cases
#     Rscript tests/reference/lavaan_engine.R hs_normal  # some cases
#
# Writes, for each case, tests/reference/fixtures/lavaan_<case>.json and the
# exact rows used as tests/reference/data/<dataset>.csv, so that the Python
# tests read the same data as lavaan did.  The fixtures are committed; the
# tests do not need R.
#
# JSON layout (one object per case):
#   case, call (R code), lavaan_version, options (lavInspect(fit, "options")
#   subset: likelihood, missing, information, h1.information,
#   observed.information, estimator, se, test), model (syntax), data (csv
#   file name), nobs, parameters (parameterEstimates(fit, standardized=TRUE,
#   rsquare=FALSE) as records), fit (fitMeasures(fit), name -> value), r2,
#   sample {cov, mean, divisor} (lavInspect(fit, "sampstat"): divisor N, but
#   N - 1 under likelihood = "wishart"; under missing = "ml" the EM estimate
#   of the saturated model), implied {cov, mean}
#   (fitted(fit)), observed (variable order of all matrices), ov_x (fixed.x
#   covariates, lavNames(fit, "ov.x")), npar, df, fmin,
#   modindices (modindices(fit, sort. = TRUE) as records),
#   residuals_standardized (residuals(fit, type = "standardized")$cov),
#   residuals_cov_z (lavResiduals(fit)$cov.z), vcov_free (vcov(fit)),
#   vcov_names.
# Matrices are arrays of rows in `observed` order.  Numbers are written at
# full precision (jsonlite digits = NA); NA / NaN are written as null.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (exists("LAVAAN_ENGINE_HELPERS_ONLY")) args <- character(0)
get_script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else "tests/reference"
}
ref_dir <- get_script_dir()
fix_dir <- file.path(ref_dir, "fixtures")
dat_dir <- file.path(ref_dir, "data")
dir.create(fix_dir, showWarnings = FALSE, recursive = TRUE)
dir.create(dat_dir, showWarnings = FALSE, recursive = TRUE)

# ---------------------------------------------------------------- datasets
HS <- lavaan::HolzingerSwineford1939
PD <- lavaan::PoliticalDemocracy

make_hs_mcar <- function() {
  # MCAR: each cell of x1..x9 missing with probability 0.12 (seed 20210),
  # then any row left fully empty gets one random cell restored.
  set.seed(20210)
  d <- HS
  xs <- paste0("x", 1:9)
  m <- matrix(runif(nrow(d) * 9) < 0.12, nrow(d), 9)
  empty <- which(rowSums(m) == 9)
  for (i in empty) m[i, sample.int(9, 1)] <- FALSE
  for (j in seq_along(xs)) d[[xs[j]]][m[, j]] <- NA
  d
}
HS_MCAR <- make_hs_mcar()

write_data <- function(d, name) {
  # Shortest of 15 / 17 significant digits that reads back as the same
  # double, so Python reads exactly the numbers R used; numbers unquoted.
  path <- file.path(dat_dir, paste0(name, ".csv"))
  fmt <- function(x) {
    s <- sprintf("%.15g", x)
    bad <- !is.na(x) & suppressWarnings(as.numeric(s)) != x
    s[bad] <- sprintf("%.17g", x[bad])
    s[is.na(x)] <- NA
    s
  }
  d2 <- d
  for (v in names(d2)) if (is.double(d2[[v]])) d2[[v]] <- fmt(d2[[v]])
  chr <- which(vapply(d, function(x) is.character(x) || is.factor(x), TRUE))
  write.csv(d2, path, row.names = FALSE, na = "", quote = unname(chr))
  basename(path)
}

datasets <- list(
  holzinger_swineford = HS,
  political_democracy = PD,
  holzinger_swineford_mcar = HS_MCAR
)
# lavaan_thesis.R sources this file for its helpers only.
ENGINE_MAIN <- !exists("LAVAAN_ENGINE_HELPERS_ONLY")
if (ENGINE_MAIN) for (nm in names(datasets)) write_data(datasets[[nm]], nm)

# ------------------------------------------------------------------ models
HS_MODEL <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"

HS_EQUAL_MODEL <- "
visual  =~ x1 + a*x2 + a*x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"

POLDEM_MODEL <- "
# measurement model
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
# regressions
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
# residual correlations
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
# defined parameters
ind   := a*b
total := c + a*b
"

MEDIATOR_MODEL <- "
visual =~ x1 + x2 + x3
speed  =~ x7 + x8 + x9
x4 ~ a*visual
speed ~ b*x4 + c*visual
ind := a*b
"

FIXEDX_MODEL <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual  ~ ageyr + agemo
textual ~ ageyr
"

cases <- list(
  hs_normal = list(
    model = HS_MODEL, data = "holzinger_swineford",
    call = 'cfa(model, data = HolzingerSwineford1939, likelihood = "normal")',
    fit = function(m, d) cfa(m, data = d, likelihood = "normal")),
  hs_wishart = list(
    model = HS_MODEL, data = "holzinger_swineford",
    call = 'cfa(model, data = HolzingerSwineford1939, likelihood = "wishart")',
    fit = function(m, d) cfa(m, data = d, likelihood = "wishart")),
  hs_equal = list(
    model = HS_EQUAL_MODEL, data = "holzinger_swineford",
    call = 'cfa(model, data = HolzingerSwineford1939)',
    fit = function(m, d) cfa(m, data = d)),
  poldem = list(
    model = POLDEM_MODEL, data = "political_democracy",
    call = 'sem(model, data = PoliticalDemocracy)',
    fit = function(m, d) sem(m, data = d)),
  hs_fiml = list(
    model = HS_MODEL, data = "holzinger_swineford_mcar",
    call = paste0('cfa(model, data = hs_mcar, missing = "ml")  ',
                  '# hs_mcar: x1..x9 MCAR p = .12, set.seed(20210)'),
    fit = function(m, d) cfa(m, data = d, missing = "ml")),
  mediator_single = list(
    model = MEDIATOR_MODEL, data = "holzinger_swineford",
    call = 'sem(model, data = HolzingerSwineford1939)',
    fit = function(m, d) sem(m, data = d)),
  hs_fixedx = list(
    model = FIXEDX_MODEL, data = "holzinger_swineford",
    call = 'sem(model, data = HolzingerSwineford1939)  # fixed.x = TRUE',
    fit = function(m, d) sem(m, data = d)),
  boot_poldem = list(
    model = POLDEM_MODEL, data = "political_democracy",
    call = paste0('set.seed(4321); sem(model, data = PoliticalDemocracy, ',
                  'se = "bootstrap", bootstrap = 1000)'),
    fit = function(m, d) {
      set.seed(4321)
      sem(m, data = d, se = "bootstrap", bootstrap = 1000)
    })
)

# ----------------------------------------------------------------- helpers
mat <- function(x) {
  x <- as.matrix(unclass(x))
  storage.mode(x) <- "double"
  unname(x)
}
vec <- function(x) as.list(unclass(x))
num <- function(x) { x <- unclass(x); attributes(x) <- NULL; x }

ordered_cov <- function(m, ov) mat(m[ov, ov, drop = FALSE])
ordered_mean <- function(v, ov) if (is.null(v)) NULL else as.list(num(v[ov]))

records <- function(df) {
  df <- as.data.frame(df)
  for (v in names(df)) if (is.factor(df[[v]])) df[[v]] <- as.character(df[[v]])
  df
}

describe_fit <- function(case, spec, fit) {
  ov <- lavNames(fit, "ov")
  opts <- lavInspect(fit, "options")
  samp <- lavInspect(fit, "sampstat")
  # the sample means also when the model has no mean structure
  smean <- if (!is.null(samp$mean)) samp$mean else {
    v <- fit@SampleStats@mean[[1]]; names(v) <- ov; v
  }
  fitted_ <- fitted(fit)
  pe <- parameterEstimates(fit, standardized = TRUE, rsquare = FALSE)
  mi <- tryCatch(modindices(fit, sort. = TRUE), error = function(e) NULL)
  rs <- tryCatch(residuals(fit, type = "standardized")$cov,
                 error = function(e) NULL)
  lr <- tryCatch(lavResiduals(fit), error = function(e) NULL)
  vc <- tryCatch(vcov(fit), error = function(e) NULL)
  out <- list(
    case = case,
    call = spec$call,
    lavaan_version = as.character(packageVersion("lavaan")),
    options = list(
      likelihood = lavInspect(fit, "options")$likelihood,
      likelihood_used = fit@Options$likelihood,
      missing = opts$missing,
      information = opts$information[1],
      h1.information = opts$h1.information[1],
      observed.information = opts$observed.information[1],
      estimator = opts$estimator,
      se = opts$se,
      test = opts$test[1],
      meanstructure = opts$meanstructure,
      fixed.x = opts$fixed.x
    ),
    model = spec$model,
    data = paste0(spec$data, ".csv"),
    nobs = lavInspect(fit, "nobs"),
    ntotal = lavInspect(fit, "ntotal"),
    converged = lavInspect(fit, "converged"),
    observed = ov,
    ov_x = as.list(lavNames(fit, "ov.x")),   # fixed.x exogenous covariates
    parameters = records(pe),
    fit = vec(fitMeasures(fit)),
    r2 = vec(lavInspect(fit, "r2")),
    sample = list(cov = ordered_cov(samp$cov, ov), mean = ordered_mean(smean, ov),
                  divisor = if (fit@Options$likelihood == "wishart") "N-1" else "N"),
    implied = list(cov = ordered_cov(fitted_$cov, ov),
                   mean = ordered_mean(fitted_$mean, ov)),
    # npar as fitMeasures (free parameters net of equality constraints, the
    # count AIC/BIC use); npar_free counts labelled-equal parameters apart.
    npar = as.integer(num(fitMeasures(fit, "npar"))),
    npar_free = lavInspect(fit, "npar"),
    df = num(fitMeasures(fit, "df")),
    # lavaan's fmin is half the ML discrepancy: chisq = 2 * N * fmin
    # (likelihood = "normal").  fml = 2 * fmin is F_ML as in ARCHITECTURE.md.
    fmin = num(fitMeasures(fit, "fmin")),
    fml = 2 * num(fitMeasures(fit, "fmin")),
    optim_fx = num(fit@optim$fx),
    modindices = if (is.null(mi)) NULL else records(mi),
    residuals_standardized = if (is.null(rs)) NULL else ordered_cov(rs, ov),
    residuals_cov_z = if (is.null(lr) || is.null(lr$cov.z)) NULL else
      ordered_cov(lr$cov.z, ov),
    vcov_free = if (is.null(vc)) NULL else mat(vc),
    vcov_names = if (is.null(vc)) NULL else colnames(vc)
  )
  if (opts$missing %in% c("ml", "ml.x")) {
    # coverage and the h1 (EM) log-likelihood used for chisq under FIML
    out$coverage <- mat(lavInspect(fit, "coverage")[ov, ov])
    out$missing_patterns <- nrow(lavInspect(fit, "patterns"))
  }
  if (identical(opts$se, "bootstrap")) {
    B <- fit@boot$coef
    # lavaan 0.6-14 drops failed / non-converged draws (error.idx) but only
    # counts and warns about non-admissible ones (they stay in).
    err <- attr(B, "error.idx")
    nonadm <- attr(B, "nonadmissible")
    perc <- parameterEstimates(fit, boot.ci.type = "perc", level = 0.95,
                               standardized = FALSE, rsquare = FALSE)
    bca <- parameterEstimates(fit, boot.ci.type = "bca.simple", level = 0.95,
                              standardized = FALSE, rsquare = FALSE)
    norm <- parameterEstimates(fit, boot.ci.type = "norm", level = 0.95,
                               standardized = FALSE, rsquare = FALSE)
    out$bootstrap <- list(
      R = 1000L,
      seed = 4321L,
      n_ok = nrow(B) - length(err),
      n_failed = length(err),
      n_nonadmissible = length(nonadm),
      nonadmissible_kept = TRUE,
      perc = records(perc[, c("lhs", "op", "rhs", "label", "est", "se",
                              "ci.lower", "ci.upper")]),
      bca.simple = records(bca[, c("lhs", "op", "rhs", "label", "est", "se",
                                   "ci.lower", "ci.upper")]),
      norm = records(norm[, c("lhs", "op", "rhs", "label", "est", "se",
                              "ci.lower", "ci.upper")]),
      boot_se_free = as.list(num(apply(B[setdiff(seq_len(nrow(B)), err), ,
                                           drop = FALSE], 2, sd))),
      boot_names = if (ncol(B) == length(coef(fit))) names(coef(fit)) else
        colnames(B)
    )
  }
  out
}

selected <- if (!ENGINE_MAIN) character(0) else if (length(args)) args else
  names(cases)
for (case in selected) {
  spec <- cases[[case]]
  if (is.null(spec)) stop("unknown case: ", case)
  d <- datasets[[spec$data]]
  t0 <- Sys.time()
  fit <- spec$fit(spec$model, d)
  out <- describe_fit(case, spec, fit)
  path <- file.path(fix_dir, paste0("lavaan_", case, ".json"))
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE,
                    na = "null", null = "null", dataframe = "rows",
                    matrix = "rowmajor"), path)
  cat(sprintf("%-16s %6.1fs  chisq=%.4f df=%d npar=%d -> %s\n", case,
              as.numeric(Sys.time() - t0, units = "secs"),
              fitMeasures(fit, "chisq"), as.integer(fitMeasures(fit, "df")),
              as.integer(lavInspect(fit, "npar")), basename(path)))
}
