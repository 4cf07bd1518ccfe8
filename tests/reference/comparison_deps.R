# Reference values for the statsmodels and pingouin roles in
# pipeline.psychometrics.comparison (tests/psychometrics/test_comparison.py):
#   * p.adjust for every method on four p-value vectors (NA, ties, 0/1 edges, random);
#   * Welch's t-test (t.test(var.equal = FALSE)) and Hedges' g by hand formula on a
#     real data set: Holzinger & Swineford (1939), Pasteur vs Grant-White, x1..x9.
# Run from the repository root:  Rscript tests/reference/comparison_deps.R
library(jsonlite)
set.seed(20261201)
pv <- list(
  with_na = c(0.010, 0.020, 0.030, 0.040, 0.050, 0.001, NA, 0.2, 0.04, 0.9),
  ties    = c(0.01, 0.01, 0.03, 0.03, 0.03, 0.2, 0.2, 0.5, 0.5, 0.04),
  edges   = c(0, 1, 0.5, 1e-12, 0.049, 0.051, 0.999, 0.0001),
  random  = runif(25)^3)
methods <- c("holm", "hochberg", "hommel", "BH", "BY", "bonferroni")
padj <- lapply(pv, function(p) sapply(methods, function(m) p.adjust(p, m), simplify = FALSE))

hs <- read.csv("tests/reference/data/holzinger_swineford.csv")
g1 <- hs$school == "Pasteur"; g2 <- hs$school == "Grant-White"
hedges <- function(x, y, level = 0.95) {
  n1 <- length(x); n2 <- length(y); df <- n1 + n2 - 2
  sp <- sqrt(((n1 - 1) * var(x) + (n2 - 1) * var(y)) / df)
  d <- (mean(x) - mean(y)) / sp
  g <- d * (1 - 3 / (4 * (n1 + n2) - 9))                  # Hedges (1981) approximation
  J <- exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))   # exact factor
  se <- sqrt((n1 + n2) / (n1 * n2) + g^2 / (2 * (n1 + n2)))  # Hedges & Olkin (1985)
  q <- qt(1 - (1 - level) / 2, df)
  list(d = d, g = g, g_exact = d * J, g_ci = c(g - q * se, g + q * se))
}
welch <- list()
for (v in paste0("x", 1:9)) {
  x <- hs[[v]][g1]; y <- hs[[v]][g2]
  tt <- t.test(x, y, var.equal = FALSE)
  welch[[v]] <- c(list(t = unname(tt$statistic), df = unname(tt$parameter), p = tt$p.value,
                       ci = unname(tt$conf.int), mean_diff = mean(x) - mean(y),
                       n1 = length(x), n2 = length(y)), hedges(x, y))
}
x <- hs$x5[g1]; y <- hs$x5[g2]
one <- list(greater = t.test(x, y, var.equal = FALSE, alternative = "greater"),
            less = t.test(x, y, var.equal = FALSE, alternative = "less"),
            level90 = t.test(x, y, var.equal = FALSE, conf.level = 0.90))
one <- lapply(one, function(tt) list(t = unname(tt$statistic), df = unname(tt$parameter),
                                     p = tt$p.value, ci = unname(tt$conf.int)))
out <- list(
  versions = list(R = R.version.string, jsonlite = as.character(packageVersion("jsonlite"))),
  p = pv, p_adjust = padj,
  welch = welch, welch_x5 = one, g_ci90_x5 = hedges(x, y, 0.90)$g_ci)
write_json(out, "tests/reference/fixtures/comparison_deps.json", digits = NA, auto_unbox = TRUE,
           na = "null", pretty = TRUE)
