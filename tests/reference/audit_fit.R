# Reference values for tests/test_audit.py: lavaan's fit measures of the
# Holzinger-Swineford three-factor CFA, and pchisq.
# Run: Rscript tests/reference/audit_fit.R   (from the project root)
library(lavaan)
library(jsonlite)
model <- ' visual =~ x1 + x2 + x3
           textual =~ x4 + x5 + x6
           speed =~ x7 + x8 + x9 '
fit <- cfa(model, data = HolzingerSwineford1939)
fm <- fitMeasures(fit, c("chisq", "df", "pvalue", "rmsea", "cfi", "tli", "baseline.chisq",
                         "baseline.df", "ifi", "ntotal"))
out <- list(
  call = "cfa(' visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9 ', data = HolzingerSwineford1939)",
  fit = as.list(unclass(fm)),
  pchisq_293_157_188 = pchisq(293.157, 188, lower.tail = FALSE)
)
write_json(out, "tests/reference/fixtures/audit_fit.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
