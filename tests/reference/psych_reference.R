# Regenerates the psychometrics fixtures used by tests/test_reliability.py,
# tests/test_efa.py, tests/test_descriptives.py:
#   tests/reference/data/bfi.csv            psych::bfi (2800 x 25 items, with NAs)
#   tests/reference/data/holzinger.csv      lavaan::HolzingerSwineford1939 x1..x9
#   tests/reference/fixtures/psych_*.json   psych / semTools results
#
# Run from the repository root:  Rscript tests/reference/psych_reference.R
# R 4, psych 2.2.9, GPArotation 2022.10-2, lavaan 0.6-14, semTools 0.5-6.
suppressPackageStartupMessages({
  library(psych); library(GPArotation); library(lavaan); library(semTools)
  library(jsonlite)
})
options(mc.cores = 1)   # fa.parallel uses mclapply: one core keeps set.seed reproducible
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
fix <- file.path(here, "fixtures"); dat <- file.path(here, "data")
dir.create(fix, showWarnings = FALSE); dir.create(dat, showWarnings = FALSE)
put <- function(x, name) write_json(x, file.path(fix, name), digits = NA,
                                    auto_unbox = TRUE, pretty = TRUE, na = "null")

## ---- data -----------------------------------------------------------------
bfi <- psych::bfi
items <- colnames(bfi)[1:25]
out <- data.frame(id = seq_len(nrow(bfi)), bfi[, c(items, "gender", "education", "age")])
write.csv(out, file.path(dat, "bfi.csv"), row.names = FALSE, na = "")
X <- bfi[, items]
HS <- HolzingerSwineford1939[, paste0("x", 1:9)]
write.csv(data.frame(id = HolzingerSwineford1939$id, HS), file.path(dat, "holzinger.csv"),
          row.names = FALSE)

scales <- list(
  A = c("-A1", "A2", "A3", "A4", "A5"),
  C = c("C1", "C2", "C3", "-C4", "-C5"),
  E = c("-E1", "-E2", "E3", "E4", "E5"),
  N = c("N1", "N2", "N3", "N4", "N5"),
  O = c("O1", "-O2", "O3", "O4", "-O5"))
keyed <- function(df, spec) {          # reverse with 1 + 6 - x (bfi range 1..6)
  nm <- sub("^-", "", spec); d <- df[, nm]
  for (k in nm[grepl("^-", spec)]) d[[k]] <- 7 - d[[k]]
  d
}

## ---- alpha ------------------------------------------------------------------
alpha_fx <- list()
for (s in names(scales)) {
  spec <- scales[[s]]; nm <- sub("^-", "", spec); rev <- nm[grepl("^-", spec)]
  for (miss in c("pairwise", "listwise")) {
    d <- X[, nm]
    if (miss == "listwise") d <- na.omit(d)
    # psych::alpha(d, keys = rev)  (use = "pairwise" on listwise-complete data is listwise)
    a <- psych::alpha(d, keys = if (length(rev)) rev else NULL, warnings = FALSE)
    n_used <- if (miss == "listwise") nrow(d) else min(pairwiseCount(d))
    ci <- alpha.ci(a$total$raw_alpha, n.obs = n_used, n.var = length(nm))
    alpha_fx[[paste0(s, "_", miss)]] <- list(
      scale = s, items = nm, reverse = rev, missing = miss,
      raw_alpha = a$total$raw_alpha, std_alpha = a$total$std.alpha,
      average_r = a$total$average_r, n_used = n_used,
      feldt_lower = ci$lower.ci, feldt_upper = ci$upper.ci,
      r_drop = unname(a$item.stats$r.drop),
      r_cor = unname(a$item.stats$r.cor),
      alpha_if_deleted = unname(a$alpha.drop$raw_alpha),
      std_alpha_if_deleted = unname(a$alpha.drop$std.alpha),
      item_mean = unname(a$item.stats$mean), item_sd = unname(a$item.stats$sd))
  }
}
# A left unreversed: psych::alpha(X[, c("A1","A2","A3","A4","A5")], check.keys = FALSE)
a <- psych::alpha(X[, paste0("A", 1:5)], warnings = FALSE)
alpha_fx[["A_unreversed_pairwise"]] <- list(
  scale = "A", items = paste0("A", 1:5), reverse = character(0), missing = "pairwise",
  raw_alpha = a$total$raw_alpha, std_alpha = a$total$std.alpha,
  r_drop = unname(a$item.stats$r.drop),
  alpha_if_deleted = unname(a$alpha.drop$raw_alpha))
# HolzingerSwineford x1..x3 (complete data)
a <- psych::alpha(HS[, 1:3])
ci <- alpha.ci(a$total$raw_alpha, n.obs = nrow(HS), n.var = 3)
alpha_fx[["HS_visual"]] <- list(
  scale = "visual", items = c("x1", "x2", "x3"), reverse = character(0), missing = "listwise",
  raw_alpha = a$total$raw_alpha, std_alpha = a$total$std.alpha, n_used = nrow(HS),
  feldt_lower = ci$lower.ci, feldt_upper = ci$upper.ci,
  r_drop = unname(a$item.stats$r.drop), alpha_if_deleted = unname(a$alpha.drop$raw_alpha))
put(alpha_fx, "psych_alpha.json")

## ---- omega ------------------------------------------------------------------
om <- list()
for (s in c("A", "C", "O")) {
  d <- keyed(X, scales[[s]])
  o <- psych::omega(d, nfactors = 1, fm = "minres", plot = FALSE, flip = FALSE)
  om[[paste0(s, "_1")]] <- list(items = colnames(d), reverse = sub("^-", "", grep("^-", scales[[s]], value = TRUE)),
                                nfactors = 1, omega_tot = o$omega.tot,
                                alpha = o$alpha)
}
all_keyed <- do.call(cbind, lapply(scales, function(sp) keyed(X, sp)))
colnames(all_keyed) <- unlist(lapply(scales, function(sp) sub("^-", "", sp)))
o <- psych::omega(all_keyed, nfactors = 5, fm = "minres", plot = FALSE, flip = FALSE)
om[["all_5"]] <- list(items = colnames(all_keyed),
                      reverse = sub("^-", "", grep("^-", unlist(scales), value = TRUE)),
                      nfactors = 5, omega_tot = o$omega.tot, omega_h = o$omega_h)
o <- psych::omega(all_keyed, nfactors = 3, fm = "minres", plot = FALSE, flip = FALSE)
om[["all_3"]] <- list(items = colnames(all_keyed),
                      reverse = sub("^-", "", grep("^-", unlist(scales), value = TRUE)),
                      nfactors = 3, omega_tot = o$omega.tot, omega_h = o$omega_h)
ac <- all_keyed[, c(paste0("A", 1:5), paste0("C", 1:5))]
o <- psych::omega(ac, nfactors = 2, fm = "minres", plot = FALSE, flip = FALSE)
om[["AC_2"]] <- list(items = colnames(ac), reverse = c("A1", "C4", "C5"),
                     nfactors = 2, omega_tot = o$omega.tot, omega_h = o$omega_h)
put(om, "psych_omega.json")

## ---- KMO and Bartlett --------------------------------------------------------
kb <- list()
R_pw <- cor(X, use = "pairwise"); n_pw <- min(pairwiseCount(X))
Xc <- na.omit(X); R_lw <- cor(Xc)
k1 <- KMO(R_pw); b1 <- cortest.bartlett(R_pw, n = n_pw)
k2 <- KMO(R_lw); b2 <- cortest.bartlett(R_lw, n = nrow(Xc))
R_hs <- cor(HS); k3 <- KMO(R_hs); b3 <- cortest.bartlett(R_hs, n = nrow(HS))
kb$bfi_pairwise <- list(n = n_pw, msa = k1$MSA, msai = unname(k1$MSAi),
  chisq = b1$chisq, df = b1$df, p = b1$p.value)
kb$bfi_listwise <- list(n = nrow(Xc), msa = k2$MSA, msai = unname(k2$MSAi),
  chisq = b2$chisq, df = b2$df, p = b2$p.value)
kb$holzinger <- list(n = nrow(HS), msa = k3$MSA, msai = unname(k3$MSAi),
  chisq = b3$chisq, df = b3$df, p = b3$p.value)
put(kb, "psych_kmo.json")

## ---- fa ----------------------------------------------------------------------
fx <- list()
one_fa <- function(R, n, k, fm, rot) {
  f <- psych::fa(R, nfactors = k, n.obs = n, fm = fm, rotate = rot, warnings = FALSE)
  L <- unclass(f$loadings)
  list(nfactors = k, fm = fm, rotate = rot, n = n,
       loadings = lapply(seq_len(ncol(L)), function(j) unname(L[, j])),
       communality = unname(f$communality), values = unname(f$values),
       e_values = unname(f$e.values),
       Phi = if (is.null(f$Phi)) NULL else lapply(seq_len(ncol(f$Phi)), function(j) unname(f$Phi[, j])),
       ss_loadings = unname(f$Vaccounted["SS loadings", ]))
}
for (fm in c("minres", "ml", "pa")) for (rot in c("varimax", "oblimin", "promax")) {
  fx[[paste("bfi_pairwise", fm, rot, sep = "_")]] <- one_fa(R_pw, n_pw, 5, fm, rot)
}
fx[["bfi_listwise_minres_oblimin"]] <- one_fa(R_lw, nrow(Xc), 5, "minres", "oblimin")
fx[["holzinger_ml_promax"]] <- one_fa(R_hs, nrow(HS), 3, "ml", "promax")
fx[["holzinger_pa_none_1"]] <- one_fa(R_hs, nrow(HS), 1, "pa", "none")
one_pc <- function(R, n, k, rot) {       # psych::principal (SPSS's default extraction)
  f <- psych::principal(R, nfactors = k, n.obs = n, rotate = rot)
  L <- unclass(f$loadings)
  list(nfactors = k, fm = "pc", rotate = rot, n = n,
       loadings = lapply(seq_len(ncol(L)), function(j) unname(L[, j])),
       communality = unname(f$communality), values = unname(f$values),
       e_values = unname(f$values),
       Phi = if (is.null(f$Phi)) NULL else lapply(seq_len(ncol(f$Phi)), function(j) unname(f$Phi[, j])),
       ss_loadings = unname(f$Vaccounted["SS loadings", ]))
}
for (rot in c("varimax", "oblimin", "promax")) {
  fx[[paste("holzinger_pc", rot, sep = "_")]] <- one_pc(R_hs, nrow(HS), 3, rot)
}
fx[["bfi_pairwise_pc_varimax"]] <- one_pc(R_pw, n_pw, 5, "varimax")
fx$items_bfi <- items; fx$items_holzinger <- colnames(HS)
put(fx, "psych_fa.json")

## ---- fa.parallel ----------------------------------------------------------------
set.seed(20190601)
pa1 <- fa.parallel(R_pw, n.obs = n_pw, fm = "minres", fa = "both", n.iter = 20, plot = FALSE)
set.seed(20190601)
pa2 <- fa.parallel(R_hs, n.obs = nrow(HS), fm = "minres", fa = "both", n.iter = 20, plot = FALSE)
put(list(
  bfi = list(n = n_pw, nfact = pa1$nfact, ncomp = pa1$ncomp, fa_values = pa1$fa.values,
             pc_values = pa1$pc.values, fa_sim = pa1$fa.sim, pc_sim = pa1$pc.sim, n_iter = 20),
  holzinger = list(n = nrow(HS), nfact = pa2$nfact, ncomp = pa2$ncomp, fa_values = pa2$fa.values,
             pc_values = pa2$pc.values, fa_sim = pa2$fa.sim, pc_sim = pa2$pc.sim, n_iter = 20)),
  "psych_parallel.json")

## ---- describe, Shapiro-Wilk, Mardia -------------------------------------------
d2 <- psych::describe(X, type = 2)
dh <- psych::describe(HS, type = 2)
sw <- lapply(HS, function(v) { s <- shapiro.test(v); list(W = unname(s$statistic), p = s$p.value) })
m <- psych::mardia(HS, plot = FALSE)
ma <- psych::mardia(X[, paste0("A", 1:5)], plot = FALSE)   # listwise (na.omit) inside
put(list(
  bfi = list(items = items, n = d2$n, mean = d2$mean, sd = d2$sd, median = d2$median,
             skew = d2$skew, kurtosis = d2$kurtosis, min = d2$min, max = d2$max),
  holzinger = list(items = colnames(HS), n = dh$n, mean = dh$mean, sd = dh$sd,
                   median = dh$median, skew = dh$skew, kurtosis = dh$kurtosis,
                   shapiro = sw),
  mardia_holzinger = list(n = m$n.obs, b1p = m$b1p, b2p = m$b2p, skew = m$skew,
                          small_skew = m$small.skew, kurtosis = m$kurtosis,
                          p_skew = m$p.skew, p_small = m$p.small, p_kurt = m$p.kurt),
  mardia_bfi_A = list(n = ma$n.obs, b1p = ma$b1p, b2p = ma$b2p, skew = ma$skew,
                      kurtosis = ma$kurtosis, p_skew = ma$p.skew, p_kurt = ma$p.kurt)),
  "psych_describe.json")

## ---- semTools: composite reliability, AVE, HTMT ----------------------------------
HS.model <- ' visual  =~ x1 + x2 + x3
              textual =~ x4 + x5 + x6
              speed   =~ x7 + x8 + x9 '
fit <- cfa(HS.model, data = HolzingerSwineford1939, std.lv = TRUE)
pe <- parameterEstimates(fit, standardized = TRUE)
cr_impl <- compRelSEM(fit, obs.var = FALSE)
cr_obs <- compRelSEM(fit)                       # default obs.var = TRUE
ave_impl <- AVE(fit, obs.var = FALSE)
ave_obs <- AVE(fit)
S <- lavInspect(fit, "sampstat")$cov
h2 <- htmt(HS.model, data = HolzingerSwineford1939)                  # htmt2 = TRUE
h1 <- htmt(HS.model, data = HolzingerSwineford1939, htmt2 = FALSE)
# Fornell-Larcker convention on the standardized solution, computed here for the wrapper test
std <- pe[pe$op == "=~", ]
th <- pe[pe$op == "~~" & pe$lhs == pe$rhs & pe$lhs %in% paste0("x", 1:9), ]
fl <- sapply(c("visual", "textual", "speed"), function(f) {
  l <- std$std.all[std$lhs == f]; t <- th$std.all[match(std$rhs[std$lhs == f], th$lhs)]
  c(cr = sum(l)^2 / (sum(l)^2 + sum(t)), ave = sum(l^2) / (sum(l^2) + sum(t)))
})
put(list(
  call = "cfa(HS.model, data = HolzingerSwineford1939, std.lv = TRUE)",
  parameters = pe[, c("lhs", "op", "rhs", "est", "se", "std.all")],
  observed_cov = lapply(seq_len(ncol(S)), function(j) unname(S[, j])),
  observed_names = colnames(S),
  sample_cor = lapply(1:9, function(j) unname(cor(HS)[, j])),
  compRelSEM_implied = as.list(cr_impl), compRelSEM_observed = as.list(cr_obs),
  AVE_implied = as.list(ave_impl), AVE_observed = as.list(ave_obs),
  htmt2 = lapply(1:3, function(j) unname(h2[, j])), htmt1 = lapply(1:3, function(j) unname(h1[, j])),
  htmt_names = colnames(h2),
  std_cr = as.list(fl["cr", ]), std_ave = as.list(fl["ave", ])),
  "psych_semtools.json")
cat("fixtures written to", fix, "\n")
