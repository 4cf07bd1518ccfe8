# Reference fixtures for ordinal estimation (WLSMV, DWLS, ULSMV) and for the
# polychoric / polyserial correlations, computed with lavaan 0.6-14 on the
# bfi personality items (psych::bfi, 6-point Likert; the committed copy
# tests/reference/data/bfi.csv).
#
# Run from the repository root:
#     Rscript tests/reference/lavaan_ordinal.R
#
# Writes tests/reference/fixtures/lavaan_ordinal.json:
#   versions (R, lavaan), lavcor (lavCor(bfi[items], ordered = items):
#   polychoric matrix, pairwise = listwise on the items), lavcor_mixed
#   (A1..A5 ordered + age numeric: polyserial correlations), and per case:
#   call, model, items, nobs, parameters (parameterEstimates(fit,
#   standardized = TRUE), thresholds with op "|"), fit (fitMeasures(fit)),
#   sampstat (thresholds th, correlation matrix cov), gamma
#   (lavInspect(fit, "gamma"), for the mixed and covariate cases: they hold
#   ordinal, polyserial, Pearson and slope blocks), wls_obs, vcov_names,
#   modindices (modindices(fit), two cases).
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})
dat_dir <- "tests/reference/data"
fix_dir <- "tests/reference/fixtures"
bfi <- read.csv(file.path(dat_dir, "bfi.csv"))
ITEMS <- c(paste0("A", 1:5), paste0("C", 1:5), paste0("E", 1:5))
BFI_MODEL <- "
agree =~ A1 + A2 + A3 + A4 + A5
consc =~ C1 + C2 + C3 + C4 + C5
extra =~ E1 + E2 + E3 + E4 + E5
"
d <- bfi[complete.cases(bfi[ITEMS]), ITEMS]
# the thesis's structure: a single ordinal item (C1) between latent variables,
# with an indirect effect; and an ordinal item correlated with the factors
SEM_MODEL <- "
agree =~ A1 + A2 + A3 + A4 + A5
extra =~ E1 + E2 + E3 + E4 + E5
C1 ~ a*agree
extra ~ b*C1 + c*agree
ind := a*b
total := c + a*b
"
COV_MODEL <- "
agree =~ A1 + A2 + A3 + A4 + A5
extra =~ E1 + E2 + E3 + E4 + E5
C1 ~~ agree + extra
"
SEM_ITEMS <- c(paste0("A", 1:5), paste0("E", 1:5), "C1")
# ordinal items with two continuous variables (polyserial and Pearson parts)
MIX_MODEL <- "
agree =~ A1 + A2 + A3 + A4 + A5
agree ~~ age + education
age ~~ education
"
MIX_VARS <- c(paste0("A", 1:5), "age", "education")
dmix <- bfi[complete.cases(bfi[MIX_VARS]), MIX_VARS]
# ordinal items with exogenous covariates (lavaan: conditional.x = TRUE)
X_MODEL <- "
agree =~ A1 + A2 + A3 + A4 + A5
agree ~ age + gender
"
X_VARS <- c(paste0("A", 1:5), "age", "gender")
dx <- bfi[complete.cases(bfi[X_VARS]), X_VARS]
# an item whose middle category nobody chose (A2: answers 3 recoded to 4);
# lavaan uses the observed categories (1, 2, 4, 5, 6: four thresholds)
dgap <- d[, paste0("A", 1:5)]
dgap$A2[dgap$A2 == 3] <- 4
GAP_MODEL <- "agree =~ A1 + A2 + A3 + A4 + A5"

num <- function(x) { x <- unclass(x); attributes(x) <- NULL; x }
mat <- function(x) { x <- as.matrix(unclass(x)); storage.mode(x) <- "double"; unname(x) }
out <- list(versions = list(R = R.version.string,
                            lavaan = as.character(packageVersion("lavaan"))),
            items = ITEMS, nobs_listwise = nrow(d))
pc <- lavCor(d, ordered = ITEMS)
out$lavcor <- list(names = colnames(pc), cor = mat(pc))
MIX <- c(paste0("A", 1:5), "age")
dm <- bfi[complete.cases(bfi[MIX]), MIX]
pm <- lavCor(dm, ordered = paste0("A", 1:5))
out$lavcor_mixed <- list(names = colnames(pm), cor = mat(pm), nobs = nrow(dm))

cases <- list(
  bfi_wlsmv = list(call = 'cfa(model, data, ordered = items, estimator = "WLSMV")',
                   fit = function() cfa(BFI_MODEL, data = d, ordered = ITEMS, estimator = "WLSMV")),
  bfi_wlsmv_sem = list(call = 'sem(SEM_MODEL, data, ordered = TRUE, estimator = "WLSMV")',
                       model = SEM_MODEL,
                       fit = function() sem(SEM_MODEL, data = d[SEM_ITEMS], ordered = SEM_ITEMS,
                                            estimator = "WLSMV")),
  bfi_wlsmv_cov = list(call = 'sem(COV_MODEL, data, ordered = TRUE, estimator = "WLSMV")',
                       model = COV_MODEL,
                       fit = function() sem(COV_MODEL, data = d[SEM_ITEMS], ordered = SEM_ITEMS,
                                            estimator = "WLSMV")),
  bfi_wlsmv_mixed = list(call = 'cfa(MIX_MODEL, dmix, ordered = A1..A5, estimator = "WLSMV")',
                         model = MIX_MODEL, data = "mixed",
                         fit = function() cfa(MIX_MODEL, data = dmix, ordered = paste0("A", 1:5),
                                              estimator = "WLSMV")),
  bfi_wlsmv_x = list(call = 'cfa(X_MODEL, dx, ordered = A1..A5, estimator = "WLSMV")  # conditional.x',
                     model = X_MODEL,
                     fit = function() cfa(X_MODEL, data = dx, ordered = paste0("A", 1:5),
                                          estimator = "WLSMV")),
  bfi_wlsmv_gap = list(call = 'cfa(GAP_MODEL, dgap, ordered = TRUE, estimator = "WLSMV")  # A2: 3 -> 4',
                       model = GAP_MODEL,
                       fit = function() cfa(GAP_MODEL, data = dgap, ordered = TRUE,
                                            estimator = "WLSMV")),
  bfi_dwls = list(call = 'cfa(model, data, ordered = items, estimator = "DWLS")',
                  fit = function() cfa(BFI_MODEL, data = d, ordered = ITEMS, estimator = "DWLS")),
  bfi_ulsmv = list(call = 'cfa(model, data, ordered = items, estimator = "ULSMV")',
                   fit = function() cfa(BFI_MODEL, data = d, ordered = ITEMS, estimator = "ULSMV"))
)
out$cases <- list()
for (nm in names(cases)) {
  fit <- cases[[nm]]$fit()
  ss <- lavInspect(fit, "sampstat")
  fm <- fitMeasures(fit)
  V <- vcov(fit)
  out$cases[[nm]] <- list(
    call = cases[[nm]]$call,
    model = if (is.null(cases[[nm]]$model)) BFI_MODEL else cases[[nm]]$model,
    nobs = lavInspect(fit, "nobs"),
    options = lavInspect(fit, "options")[c("estimator", "se", "test", "parameterization")],
    parameters = as.data.frame(parameterEstimates(fit, standardized = TRUE)),
    fit = as.list(setNames(num(fm), names(fm))),
    sampstat = list(th = num(ss$th), th_names = names(ss$th), cov = mat(ss$cov)),
    gamma = if (nm %in% c("bfi_wlsmv_mixed", "bfi_wlsmv_x"))
      mat(lavInspect(fit, "gamma")) else NULL,
    wls_obs = num(lavInspect(fit, "wls.obs")),
    vcov_names = colnames(V),
    modindices = if (nm %in% c("bfi_wlsmv", "bfi_wlsmv_x"))
      as.data.frame(modindices(fit))[, c("lhs", "op", "rhs", "mi", "epc", "sepc.lv", "sepc.all")]
      else NULL)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE),
           file.path(fix_dir, "lavaan_ordinal.json"))
cat("wrote", file.path(fix_dir, "lavaan_ordinal.json"), "\n")
