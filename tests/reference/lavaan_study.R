# Reference fit of the 2019 study (Table 12, Table K.2, defined effects,
# CR/AVE, bootstrap) for tests/test_study_lavaan.py.
#
# Run from the repository root:
#     Rscript tests/reference/lavaan_study.R            # uses the existing clean.csv
#     Rscript tests/reference/lavaan_study.R --prepare  # first re-runs prepare_wave('cs2019')
# (clean.csv is also prepared when it is missing.)  After data/synthetic/cs2019.csv
# is regenerated, run with --prepare so the screened rows are refreshed.
#
# Reads data/processed/cs2019/prepared/clean.csv (the screened 2019 wave), keeps
# the Likert columns L1..ICS2 of the complete cases and writes them to
#     tests/reference/data/study_cs2019.csv
# (the rows both lavaan and the Python test fit), then
#     tests/reference/fixtures/lavaan_study_cs2019.json
# with, for the structural model (studies/amirova2021/models/cs2019/thesis_sem.lav) and the
# measurement model (studies/amirova2021/models/cs2019/thesis_cfa.lav), both fitted as the study
# does (params.yaml sem: likelihood = "wishart", listwise):
#   parameters    parameterEstimates(fit, standardized = TRUE) (:= rows with
#                 delta-method SEs)
#   fit           fitMeasures(fit) (all of them)
#   r2            inspect(fit, "r2")
# and for the CFA also
#   compRelSEM / AVE            semTools defaults (obs.var = TRUE)
#   compRelSEM_implied / AVE_implied   obs.var = FALSE
#   std_cr / std_ave            Fornell-Larcker formulas on standardizedSolution()
#   compRelSEM_std / AVE_std    obs.var = FALSE on the CFA fitted to scale(data)
# and a bootstrap of the SEM:
#   set.seed(20190601); sem(..., se = "bootstrap", bootstrap = 2000)
#   parameterEstimates(fitb, boot.ci.type = "perc") (:= rows) and "bca.simple".
suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
  library(jsonlite)
})

clean_csv <- "data/processed/cs2019/prepared/clean.csv"
if (!file.exists("studies/amirova2021/models/cs2019/thesis_sem.lav"))
  stop("run from the repository root (studies/amirova2021/models/cs2019/thesis_sem.lav not found)")
if (!file.exists(clean_csv) || "--prepare" %in% commandArgs(trailingOnly = TRUE)) {
  py <- if (file.exists(".venv/bin/python")) ".venv/bin/python" else "python3"
  status <- system2(py, c("-c", shQuote(
    "from pipeline.workflow.wave import prepare_wave; prepare_wave('cs2019')")))
  if (status != 0) stop("prepare_wave('cs2019') failed")
}

raw <- read.csv(clean_csv, check.names = FALSE)
first <- match("L1", names(raw))
last <- match("ICS2", names(raw))
if (is.na(first) || is.na(last) || last <= first)
  stop(clean_csv, ": columns L1..ICS2 not found")
likert <- raw[, first:last]
d <- likert[complete.cases(likert), ]
rownames(d) <- NULL
dir.create("tests/reference/data", showWarnings = FALSE, recursive = TRUE)
write.csv(d, "tests/reference/data/study_cs2019.csv", row.names = FALSE)
# fit exactly the rows written (what the Python test reads back)
d <- read.csv("tests/reference/data/study_cs2019.csv")

# lavaan 0.6-14 does not strip comments from a character vector of several lines
# (it stops at the ':' of the first comment), so the file is passed as one string
sem_model <- paste(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), collapse = "\n")
cfa_model <- paste(readLines("studies/amirova2021/models/cs2019/thesis_cfa.lav"), collapse = "\n")
B <- 2000L
seed <- 20190601L

sem_fit <- sem(sem_model, data = d, likelihood = "wishart")
cfa_fit <- cfa(cfa_model, data = d, likelihood = "wishart")

pe <- function(fit) {
  p <- parameterEstimates(fit, standardized = TRUE)
  if (is.null(p$label)) p$label <- ""
  p[, c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower", "ci.upper",
        "std.lv", "std.all")]
}
fm <- function(fit) as.list(fitMeasures(fit))

# CR / AVE of the standardized solution (Fornell & Larcker 1981), as Table K.1
std <- standardizedSolution(cfa_fit)
factors <- unique(std$lhs[std$op == "=~"])
std_cr <- list(); std_ave <- list()
for (f in factors) {
  lam <- std[std$op == "=~" & std$lhs == f, ]
  th <- std[std$op == "~~" & std$lhs == std$rhs & std$lhs %in% lam$rhs, ]
  th <- th$est.std[match(lam$rhs, th$lhs)]
  std_cr[[f]] <- sum(lam$est.std)^2 / (sum(lam$est.std)^2 + sum(th))
  std_ave[[f]] <- sum(lam$est.std^2) / (sum(lam$est.std^2) + sum(th))
}
as_named <- function(x) as.list(unlist(x))
# semTools on the standardized solution: the same CFA fitted to the z-scored
# items (ML is scale invariant), model-implied variances (obs.var = FALSE)
cfa_z <- cfa(cfa_model, data = as.data.frame(scale(d)), likelihood = "wishart")

set.seed(seed)
sem_boot <- sem(sem_model, data = d, likelihood = "wishart", se = "bootstrap", bootstrap = B)
perc <- parameterEstimates(sem_boot, boot.ci.type = "perc", level = 0.95)
bc <- parameterEstimates(sem_boot, boot.ci.type = "bca.simple", level = 0.95)
def <- perc$op == ":="
boot_coef <- lavInspect(sem_boot, "boot")
err <- attr(boot_coef, "error.idx")
ok_coef <- if (length(err)) boot_coef[-err, , drop = FALSE] else boot_coef
n_boot_ok <- nrow(ok_coef)
# parameterEstimates() gives no SE for := rows under se = "bootstrap": the SD of
# the defined parameters over the successful draws (as lavaan's own boot SEs)
def_draws <- t(apply(ok_coef, 1, sem_boot@Model@def.function))
boot_sd_def <- apply(def_draws, 2, sd)

res <- list(
  calls = list(
    data = sprintf('read.csv("%s"): columns L1..ICS2, complete.cases', clean_csv),
    sem = 'sem(paste(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), collapse = "\\n"), data, likelihood = "wishart")',
    cfa = 'cfa(paste(readLines("studies/amirova2021/models/cs2019/thesis_cfa.lav"), collapse = "\\n"), data, likelihood = "wishart")',
    parameters = "parameterEstimates(fit, standardized = TRUE)",
    fit = "fitMeasures(fit)", r2 = 'inspect(fit, "r2")',
    cr_ave = "semTools::compRelSEM(cfa), AVE(cfa) (obs.var = TRUE); *_implied: obs.var = FALSE; std_*: standardizedSolution(cfa); *_std: compRelSEM(cfa(model, as.data.frame(scale(data)), likelihood = \"wishart\"), obs.var = FALSE), AVE(idem)",
    bootstrap = sprintf('set.seed(%d); sem(model, data, likelihood = "wishart", se = "bootstrap", bootstrap = %d); parameterEstimates(fitb, boot.ci.type = "perc" / "bca.simple")', seed, B)),
  lavaan_version = as.character(packageVersion("lavaan")),
  semTools_version = as.character(packageVersion("semTools")),
  data = "study_cs2019.csv", source = clean_csv,
  n_clean = nrow(raw), nobs = nobs(sem_fit),
  sem = list(model = sem_model, parameters = pe(sem_fit),
             fit = fm(sem_fit), r2 = as.list(inspect(sem_fit, "r2"))),
  cfa = list(model = cfa_model, parameters = pe(cfa_fit),
             fit = fm(cfa_fit), r2 = as.list(inspect(cfa_fit, "r2")),
             compRelSEM = as_named(compRelSEM(cfa_fit)),
             compRelSEM_implied = as_named(compRelSEM(cfa_fit, obs.var = FALSE)),
             AVE = as_named(AVE(cfa_fit)),
             AVE_implied = as_named(AVE(cfa_fit, obs.var = FALSE)),
             std_cr = std_cr, std_ave = std_ave,
             compRelSEM_std = as_named(compRelSEM(cfa_z, obs.var = FALSE)),
             AVE_std = as_named(AVE(cfa_z, obs.var = FALSE))),
  bootstrap = list(B = B, seed = seed, n_boot_ok = n_boot_ok,
                   defined = data.frame(lhs = perc$lhs[def], op = perc$op[def],
                                        rhs = perc$rhs[def], est = perc$est[def],
                                        boot_se = unname(boot_sd_def[perc$lhs[def]]),
                                        perc.lower = perc$ci.lower[def],
                                        perc.upper = perc$ci.upper[def],
                                        bc.lower = bc$ci.lower[def],
                                        bc.upper = bc$ci.upper[def])))
dir.create("tests/reference/fixtures", showWarnings = FALSE)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/fixtures/lavaan_study_cs2019.json")
cat(sprintf("wrote tests/reference/data/study_cs2019.csv (%d rows) and tests/reference/fixtures/lavaan_study_cs2019.json (bootstrap: %d of %d draws)\n",
            nrow(d), n_boot_ok, B))
