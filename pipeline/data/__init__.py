"""Data: codebooks, loading raw files, screening, privacy.

Front door::

    from pipeline.data import load_codebook, read_raw, read_table
    cb = load_codebook("studies/<study>/codebooks/<instrument>.yaml")
    res = read_raw("data/raw/wave.xlsx", cb)          # validated, recoded, logged
    df = read_table("any.csv")                        # a plain table (CSV, XLSX, SAV)

Screening (:mod:`~pipeline.data.screening`) and privacy
(:mod:`~pipeline.data.privacy`, :mod:`~pipeline.data.disclosure`) are
imported from their modules.
"""
from pipeline.data.codebook import Codebook, Variable, load_codebook
from pipeline.data.loading import read_raw, read_table

__all__ = ["Codebook", "Variable", "load_codebook", "read_raw", "read_table"]
