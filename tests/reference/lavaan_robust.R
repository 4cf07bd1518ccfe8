# Reference fixtures for the robust ML estimators (MLM, MLR, MLR + FIML) and
# continuous ULS, computed with lavaan 0.6-14 on real data.
#
# Run from the repository root:
#     Rscript tests/reference/lavaan_robust.R
#
# Reads the committed CSVs (tests/reference/data/holzinger_swineford.csv,
# holzinger_swineford_mcar.csv, political_democracy.csv), so Python and R see
# the same numbers, and writes tests/reference/fixtures/lavaan_robust.json:
#   versions (R, lavaan), and per case: call, model, data, estimator, options
#   (lavInspect(fit, "options") subset), nobs, parameters
#   (parameterEstimates(fit, standardized = TRUE)), fit (fitMeasures(fit)),
#   vcov (vcov(fit)) with vcov_names.
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})
dat_dir <- "tests/reference/data"
fix_dir <- "tests/reference/fixtures"
rd <- function(f) read.csv(file.path(dat_dir, f))
HS <- rd("holzinger_swineford.csv")
HS_MCAR <- rd("holzinger_swineford_mcar.csv")
PD <- rd("political_democracy.csv")
BFI <- rd("bfi.csv")   # psych::bfi with its real missing answers
BFI_MODEL <- "
agree =~ A1 + A2 + A3 + A4 + A5
consc =~ C1 + C2 + C3 + C4 + C5
extra =~ E1 + E2 + E3 + E4 + E5
"

HS_MODEL <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"
POLDEM_MODEL <- "
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
ind   := a*b
total := c + a*b
"

FIXEDX_MODEL <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual  ~ ageyr + agemo
textual ~ ageyr
"
cases <- list(
  bfi_mlr_fiml = list(model = BFI_MODEL, data = "bfi.csv", d = BFI,
                call = 'cfa(model, bfi, estimator = "MLR", missing = "ml")  # real missingness',
                fit = function(m, d) cfa(m, data = d, estimator = "MLR", missing = "ml")),
  hs_fixedx_mlm = list(model = FIXEDX_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'sem(model, data, estimator = "MLM")  # fixed.x = TRUE',
                fit = function(m, d) sem(m, data = d, estimator = "MLM")),
  hs_fixedx_mlr_fiml = list(model = FIXEDX_MODEL, data = "holzinger_swineford_mcar.csv",
                d = HS_MCAR,
                call = 'sem(model, data, estimator = "MLR", missing = "ml")  # fixed.x = TRUE',
                fit = function(m, d) sem(m, data = d, estimator = "MLR", missing = "ml")),
  hs_fixedx_mlr = list(model = FIXEDX_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'sem(model, data, estimator = "MLR")  # fixed.x = TRUE',
                fit = function(m, d) sem(m, data = d, estimator = "MLR")),
  hs_mlm = list(model = HS_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'cfa(model, data, estimator = "MLM")',
                fit = function(m, d) cfa(m, data = d, estimator = "MLM")),
  hs_mlr = list(model = HS_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'cfa(model, data, estimator = "MLR")',
                fit = function(m, d) cfa(m, data = d, estimator = "MLR")),
  hs_mlr_ms = list(model = HS_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'cfa(model, data, estimator = "MLR", meanstructure = TRUE)',
                fit = function(m, d) cfa(m, data = d, estimator = "MLR", meanstructure = TRUE)),
  hs_mlr_fiml = list(model = HS_MODEL, data = "holzinger_swineford_mcar.csv", d = HS_MCAR,
                call = 'cfa(model, data, estimator = "MLR", missing = "ml")',
                fit = function(m, d) cfa(m, data = d, estimator = "MLR", missing = "ml")),
  poldem_mlm = list(model = POLDEM_MODEL, data = "political_democracy.csv", d = PD,
                call = 'sem(model, data, estimator = "MLM")',
                fit = function(m, d) sem(m, data = d, estimator = "MLM")),
  poldem_mlr = list(model = POLDEM_MODEL, data = "political_democracy.csv", d = PD,
                call = 'sem(model, data, estimator = "MLR")',
                fit = function(m, d) sem(m, data = d, estimator = "MLR")),
  hs_dwls = list(model = HS_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'cfa(model, data, estimator = "DWLS")  # continuous data',
                fit = function(m, d) cfa(m, data = d, estimator = "DWLS")),
  hs_wlsmv = list(model = HS_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'cfa(model, data, estimator = "WLSMV")  # continuous data',
                fit = function(m, d) cfa(m, data = d, estimator = "WLSMV")),
  hs_ulsmv = list(model = HS_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'cfa(model, data, estimator = "ULSMV")  # continuous data',
                fit = function(m, d) cfa(m, data = d, estimator = "ULSMV")),
  hs_uls = list(model = HS_MODEL, data = "holzinger_swineford.csv", d = HS,
                call = 'cfa(model, data, estimator = "ULS")',
                fit = function(m, d) cfa(m, data = d, estimator = "ULS"))
)

num <- function(x) { x <- unclass(x); attributes(x) <- NULL; x }
out <- list(versions = list(R = R.version.string,
                            lavaan = as.character(packageVersion("lavaan"))),
            cases = list())
for (nm in names(cases)) {
  s <- cases[[nm]]
  fit <- s$fit(s$model, s$d)
  opt <- lavInspect(fit, "options")
  pe <- parameterEstimates(fit, standardized = TRUE)
  fm <- fitMeasures(fit)
  V <- vcov(fit)
  out$cases[[nm]] <- list(
    call = s$call, model = s$model, data = s$data,
    options = opt[c("estimator", "se", "test", "information", "h1.information",
                    "observed.information", "missing", "meanstructure", "likelihood")],
    nobs = lavInspect(fit, "nobs"),
    parameters = as.data.frame(pe),
    fit = as.list(setNames(num(fm), names(fm))),
    vcov = unname(as.matrix(unclass(V))), vcov_names = colnames(V))
}
dir.create(fix_dir, showWarnings = FALSE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE),
           file.path(fix_dir, "lavaan_robust.json"))
cat("wrote", file.path(fix_dir, "lavaan_robust.json"), "\n")
