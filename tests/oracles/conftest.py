"""Shared helpers of the cross-check oracles (semopy, factor_analyzer, pingouin)."""
from __future__ import annotations

import functools
import inspect

import pytest


@pytest.fixture
def factor_analyzer_cls(monkeypatch):
    """``factor_analyzer.FactorAnalyzer`` working on scikit-learn >= 1.8.

    factor_analyzer 0.5.1 calls ``sklearn.utils.check_array(X, force_all_finite=...)``;
    scikit-learn 1.6 renamed the keyword to ``ensure_all_finite`` and 1.8 removed the old
    name (TypeError).  The oracle gets a ``check_array`` that translates the keyword, for
    the duration of one test only; the runtime never imports factor_analyzer.
    """
    import factor_analyzer.factor_analyzer as fa_mod
    from sklearn.utils import check_array

    if "force_all_finite" in inspect.signature(check_array).parameters:
        return fa_mod.FactorAnalyzer              # scikit-learn < 1.8: nothing to translate

    @functools.wraps(check_array)
    def translated(*args, force_all_finite=None, **kwargs):
        if force_all_finite is not None:
            kwargs["ensure_all_finite"] = force_all_finite
        return check_array(*args, **kwargs)

    monkeypatch.setattr(fa_mod, "check_array", translated)
    return fa_mod.FactorAnalyzer
