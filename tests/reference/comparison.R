# Reference values for pipeline.psychometrics.comparison (tests/test_comparison.py).
# Run from the repository root:  Rscript tests/reference/comparison.R
library(jsonlite)
x <- c(5,5,4,5,3,4,5,2,5,4,4,5,1,5,3,5,4,5,5,4,3,5,5,2,4)
y <- c(4,3,5,2,4,3,3,5,1,4,2,3,4,5,3,2,4,1,3,4)
xs <- c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30)   # no ties: exact
ys <- c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.07, 3.14, 1.28)   # no ties: exact
w2 <- wilcox.test(x, y)
wg <- wilcox.test(x, y, alternative = "greater")
wl <- wilcox.test(x, y, alternative = "less")
wn <- wilcox.test(x, y, correct = FALSE)
we <- wilcox.test(xs, ys)
t22 <- matrix(c(10, 4, 3, 12), 2)
trc <- matrix(c(12, 5, 9, 3, 20, 7, 11, 2, 8), 3)
c22 <- chisq.test(t22)
crc <- suppressWarnings(chisq.test(trc))
weak <- matrix(c(10, 11, 8, 12, 9, 10), 3)
set.seed(1)
cmc <- chisq.test(weak, simulate.p.value = TRUE, B = 1e5)
p <- c(0.010, 0.020, 0.030, 0.040, 0.050, 0.001, NA, 0.2, 0.04, 0.9)
adj <- sapply(c("holm", "hochberg", "BH", "BY", "bonferroni"),
              function(m) p.adjust(p, m), simplify = FALSE)
out <- list(
  x = x, y = y, xs = xs, ys = ys,
  wilcox = list(two.sided = list(W = unname(w2$statistic), p = w2$p.value),
                greater = list(W = unname(wg$statistic), p = wg$p.value),
                less = list(W = unname(wl$statistic), p = wl$p.value),
                nocorrect = list(W = unname(wn$statistic), p = wn$p.value),
                exact = list(W = unname(we$statistic), p = we$p.value)),
  t22 = t22, trc = trc,
  chisq = list(t22 = list(X2 = unname(c22$statistic), df = unname(c22$parameter), p = c22$p.value),
               trc = list(X2 = unname(crc$statistic), df = unname(crc$parameter), p = crc$p.value),
               weak_mc = list(X2 = unname(cmc$statistic), p = cmc$p.value, B = 1e5)),
  weak = weak,
  p = p, p_adjust = adj)
write_json(out, "tests/reference/fixtures/comparison.json", digits = NA, auto_unbox = TRUE,
           na = "null", pretty = TRUE)
