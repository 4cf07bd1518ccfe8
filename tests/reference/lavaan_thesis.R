# lavaan reference for the thesis-shaped SEM (Amirova 2021, 2019 wave):
# five factors L(2) S(3) HC(5) O(3) R(3) -> single-item Citizen Centricity
# (CC) -> ICS(2), plus direct paths factor -> ICS and the indirect effects
# through CC (studies/amirova2021/models/cs2019/thesis_sem.lav).
#
# Run from the repository root, after `python -m pipeline synth` wrote the
# synthetic 2019 wave:
#     Rscript tests/reference/lavaan_thesis.R [DATA.csv]
# (default DATA: data/synthetic/cs2019.csv).  Without the data file the
# script stops and writes nothing.
#
# Writes tests/reference/data/thesis_cs2019.csv (the model's columns of the
# rows lavaan used, so the Python tests do not depend on later
# regenerations of the synthetic wave) and, in the layout documented in
# lavaan_engine.R, tests/reference/fixtures/lavaan_thesis_normal.json
# (sem(..., likelihood = "normal"), lavaan's default) and
# lavaan_thesis_wishart.json (likelihood = "wishart", AMOS's chi-square, as
# the thesis used AMOS).

LAVAAN_ENGINE_HELPERS_ONLY <- TRUE
local_args <- commandArgs(trailingOnly = TRUE)
this_file <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
here <- if (length(this_file) == 1) dirname(normalizePath(this_file)) else "tests/reference"
source(file.path(here, "lavaan_engine.R"))   # helpers: describe_fit, write_data, ...

root <- normalizePath(file.path(here, "..", ".."))
data_path <- if (length(local_args)) local_args[1] else
  file.path(root, "data", "synthetic", "cs2019.csv")
model_path <- file.path(root, "models", "cs2019", "thesis_sem.lav")
if (!file.exists(data_path)) {
  stop("no data: ", data_path, " does not exist (run `python -m pipeline synth`)")
}
model <- paste(readLines(model_path, warn = FALSE), collapse = "\n")

raw <- read.csv(data_path, check.names = FALSE, stringsAsFactors = FALSE)
items <- c("L1", "L2", "S1", "S2", "S3", "HC1", "HC2", "HC3", "HC4", "HC5",
           "O1", "O2", "O3", "R1", "R2", "R3", "CC", "ICS1", "ICS2")
absent <- setdiff(items, names(raw))
if (length(absent)) stop("data lacks the model's items: ", paste(absent, collapse = ", "))
d <- raw[, items]
for (v in items) d[[v]] <- as.numeric(d[[v]])
d <- d[stats::complete.cases(d), , drop = FALSE]    # listwise, as lavaan
rownames(d) <- NULL
datasets[["thesis_cs2019"]] <- d
invisible(write_data(d, "thesis_cs2019"))

thesis_cases <- list(
  thesis_normal = list(
    model = model, data = "thesis_cs2019",
    call = 'sem(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), data = cs2019, likelihood = "normal")',
    fit = function(m, d) sem(m, data = d, likelihood = "normal")),
  thesis_wishart = list(
    model = model, data = "thesis_cs2019",
    call = 'sem(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), data = cs2019, likelihood = "wishart")',
    fit = function(m, d) sem(m, data = d, likelihood = "wishart"))
)

for (case in names(thesis_cases)) {
  spec <- thesis_cases[[case]]
  fit <- spec$fit(spec$model, d)
  out <- describe_fit(case, spec, fit)
  out$source_data <- basename(data_path)
  out$source_rows <- nrow(raw)
  path <- file.path(fix_dir, paste0("lavaan_", case, ".json"))
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE,
                    na = "null", null = "null", dataframe = "rows",
                    matrix = "rowmajor"), path)
  cat(sprintf("%-16s N=%d chisq=%.4f df=%d cfi=%.4f rmsea=%.4f -> %s\n", case,
              lavInspect(fit, "nobs"), fitMeasures(fit, "chisq"),
              as.integer(fitMeasures(fit, "df")), fitMeasures(fit, "cfi"),
              fitMeasures(fit, "rmsea"), basename(path)))
}
