# Reference values for tests/test_synth.py: lavaan and psych on the committed
# synthetic 2019 wave (valid questionnaires only), so the calibration
# tolerances are checked with R as well as with pipeline.sem.
# Run: Rscript tests/reference/synth_cs2019.R   (from the project root)
# Rerun after `python -m pipeline synth` changes data/synthetic/cs2019.csv.
suppressMessages({library(lavaan); library(psych); library(jsonlite); library(digest)})
csv <- "data/synthetic/cs2019.csv"
d <- read.csv(csv, encoding = "UTF-8")
meta <- fromJSON("data/synthetic/cs2019.meta.json")
v <- d[!(d$id %in% c(meta$rejected_ids$missing, meta$rejected_ids$straightline)), ]
scales <- list(L = c("L1", "L2"), S = c("S1", "S2", "S3"), HC = paste0("HC", 1:5),
               O = paste0("O", 1:3), R = paste0("R", 1:3), ICS = c("ICS1", "ICS2"))
alphas <- lapply(scales, function(s) psych::alpha(v[, s], warnings = FALSE)$total$raw_alpha)
model <- paste(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), collapse = "\n")
fit <- sem(model, data = v)
pe <- parameterEstimates(fit, standardized = TRUE)
load <- pe[pe$op == "=~", ]
reg <- pe[pe$op == "~" & pe$lhs == "ICS", ]
out <- list(
  call = "sem(readLines('studies/amirova2021/models/cs2019/thesis_sem.lav'), data = valid rows of data/synthetic/cs2019.csv); psych::alpha",
  csv_sha256 = digest(file = csv, algo = "sha256"),
  n = nrow(v),
  alpha = alphas,
  loadings = setNames(as.list(load$est), paste(load$lhs, load$rhs, sep = ".")),
  std_loadings = setNames(as.list(load$std.all), paste(load$lhs, load$rhs, sep = ".")),
  ics_paths = lapply(split(reg, reg$rhs), function(r) list(est = r$est, pvalue = r$pvalue, std = r$std.all)),
  fit = as.list(unclass(fitMeasures(fit, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))))
)
write_json(out, "tests/reference/fixtures/synth_cs2019.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
