"""Reproducible SEM pipeline for survey data.

First study: A.K. Amirova (2021), the innovative transformation of
Kazakhstan's civil service.  Each analysis family lives in its own module
with a small public front door (``__all__``); ``python -m pipeline --help``
lists the command-line entry points.
"""
__version__ = "0.1.0"
