"""Write tests/reference/data/thesis_n300.csv: N = 300 draws from the thesis
population model (studies/amirova2021/models/thesis_population.lav), continuous responses
rounded to 4 decimals.  Used by tests/reference/lavaan_boot_thesis.R, by
tests/test_resampling_fast.py and by benchmarks/bench_bootstrap.py.

Run from the repository root:  .venv/bin/python tests/reference/make_thesis_n300.py
"""
import numpy as np
import pandas as pd

from pipeline.core import paths
from pipeline.core.io import write_csv
from pipeline.sem import implied_moments

SEED = 20190601
N = 300

observed, sigma, _ = implied_moments((paths.MODELS / "thesis_population.lav").read_text())
rng = np.random.default_rng(SEED)
x = rng.standard_normal((N, len(observed))) @ np.linalg.cholesky(sigma).T
write_csv(paths.ROOT / "tests" / "reference" / "data" / "thesis_n300.csv",
          pd.DataFrame(np.round(x, 4), columns=observed), index=False)
