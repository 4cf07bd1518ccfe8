# Bootstrap of a multi-group model (cases resampled within groups) with
# lavaan 0.6-14: the reference for pipeline.sem.bootstrap.bootstrap_multigroup.
# Run from the repository root:  Rscript tests/reference/lavaan_boot_multigroup.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/reference/data/holzinger_swineford.csv")
model <- paste(readLines("tests/reference/models/holzinger_3factor.lav"), collapse = "\n")
set.seed(20261201)
fit <- cfa(model, data = hs, group = "school", group.equal = "loadings",
           se = "bootstrap", bootstrap = 2000)
pe <- parameterEstimates(fit, boot.ci.type = "perc")
ml <- parameterEstimates(cfa(model, data = hs, group = "school", group.equal = "loadings"))
out <- list(
  versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
  call = 'cfa(model, hs, group = "school", group.equal = "loadings", se = "bootstrap", bootstrap = 2000); parameterEstimates(boot.ci.type = "perc")',
  B = 2000, seed = 20261201,
  lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est,
  se_boot = pe$se, ci_lower = pe$ci.lower, ci_upper = pe$ci.upper, se_ml = ml$se)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/fixtures/lavaan_boot_multigroup.json")
