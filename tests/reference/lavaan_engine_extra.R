# Extra reference values for the SEM engine (pipeline/sem), complementing
# lavaan_engine.R: lavaan's parameter tables for a set of syntax cases.
# Run from the repository root:  Rscript tests/reference/lavaan_engine_extra.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference/fixtures"

models <- list(
  poldem = '
    ind60 =~ x1 + x2 + x3
    dem60 =~ y1 + a*y2 + b*y3 + c*y4
    dem65 =~ y5 + a*y6 + b*y7 + c*y8
    dem60 ~ ind60
    dem65 ~ ind60 + dem60
    y1 ~~ y5
    y2 ~~ y4 + y6',
  mediator_x = '
    L =~ L1 + L2
    CC ~ L + x1
    ICS ~ CC + L + x2
    y3 ~ x1',
  free_marker = '
    # comment line
    f =~ NA*x1 + x2 +
         x3   # trailing comment
    f ~~ 1*f
    g =~ y1 + 0.5*y2 + start(0.3)*y3; f ~~ 0*g',
  single = '
    F =~ a + b + c
    M =~ m
    F ~ M
    y ~ F + M',
  higher = '
    f1 =~ x1 + x2 + x3
    f2 =~ x4 + x5 + x6
    g =~ f1 + f2
    y ~ g')
res <- list()
for (nm in names(models)) {
  pt <- lavaanify(models[[nm]], auto.var=TRUE, auto.fix.first=TRUE, auto.fix.single=TRUE,
                  auto.cov.lv.x=TRUE, auto.cov.y=TRUE, fixed.x=TRUE, meanstructure=TRUE,
                  int.ov.free=TRUE)
  pt <- pt[pt$op != "==", ]
  res[[nm]] <- list(model = models[[nm]],
                    call = "lavaanify(model, auto.var=TRUE, auto.fix.first=TRUE, auto.fix.single=TRUE, auto.cov.lv.x=TRUE, auto.cov.y=TRUE, fixed.x=TRUE, meanstructure=TRUE, int.ov.free=TRUE)",
                    ov = lavNames(pt, "ov"), ov.x = lavNames(pt, "ov.x"),
                    lv = lavNames(pt, "lv"),
                    partable = data.frame(lhs=pt$lhs, op=pt$op, rhs=pt$rhs, user=pt$user,
                                          free=as.integer(pt$free > 0), ustart=pt$ustart,
                                          exo=pt$exo, label=pt$label))
}
res$lavaan_version <- as.character(packageVersion("lavaan"))
writeLines(toJSON(res, auto_unbox=TRUE, digits=NA, na="null", pretty=TRUE),
           file.path(out_dir, "lavaan_engine_partables.json"))
