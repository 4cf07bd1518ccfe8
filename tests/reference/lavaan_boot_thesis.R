# Reference bootstrap of the thesis SEM for pipeline/sem/fast.py and the
# fast bootstrap (tests/test_resampling_fast.py).
#
# Run from the repository root:
#     Rscript tests/reference/lavaan_boot_thesis.R
# Data: tests/reference/data/thesis_n300.csv (tests/reference/make_thesis_n300.py).
# Writes tests/reference/fixtures/lavaan_boot_thesis.json with
#   call, lavaan_version, model (the syntax fitted), nobs, B, seed, n_boot_ok (successful draws),
#   parameters: parameterEstimates() records with est, se (expected
#     information, from a fit with se = "standard"), and the bootstrap
#     columns boot_se, perc.lower, perc.upper (boot.ci.type = "perc"),
#     bc.lower, bc.upper (boot.ci.type = "bca.simple"),
#   fit: chisq, df, cfi, rmsea, fmin.
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})
model <- paste(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), collapse = "\n")
d <- read.csv("tests/reference/data/thesis_n300.csv")
B <- 1000L
seed <- 20260601L
fit <- sem(model, data = d)                        # se = "standard", information = "expected"
set.seed(seed)
fitb <- sem(model, data = d, se = "bootstrap", bootstrap = B)
perc <- parameterEstimates(fitb, boot.ci.type = "perc", level = 0.95)
bc <- parameterEstimates(fitb, boot.ci.type = "bca.simple", level = 0.95)
std <- parameterEstimates(fit)
keep <- !(std$op == "~~" & std$lhs == std$rhs & std$se == 0) & std$se != 0 | std$op == ":="
out <- data.frame(lhs = std$lhs, op = std$op, rhs = std$rhs, label = std$label,
                  est = std$est, se = std$se, boot_se = perc$se,
                  perc.lower = perc$ci.lower, perc.upper = perc$ci.upper,
                  bc.lower = bc$ci.lower, bc.upper = bc$ci.upper)[keep, ]
nok <- nrow(fitb@boot$coef) - length(attr(fitb@boot$coef, "error.idx"))
res <- list(
  call = sprintf('set.seed(%d); sem(model, data = d, se = "bootstrap", bootstrap = %d); parameterEstimates(fit, boot.ci.type = "perc" / "bca.simple")', seed, B),
  lavaan_version = as.character(packageVersion("lavaan")),
  model = model, nobs = nobs(fit), B = B, seed = seed, n_boot_ok = nok,
  parameters = out,
  fit = as.list(fitMeasures(fit, c("chisq", "df", "cfi", "rmsea", "fmin"))))
dir.create("tests/reference/fixtures", showWarnings = FALSE)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/fixtures/lavaan_boot_thesis.json")
cat("wrote tests/reference/fixtures/lavaan_boot_thesis.json\n")
