"""pipeline.sem.power's Likert discretization: closed forms.

Cut a standard bivariate normal with correlation r at 0: X = 1 + 1(Z > 0), so
E X = 1.5, Var X = 1/4 and Cov(X1, X2) = P(Z1 > 0, Z2 > 0) - 1/4 = asin(r) / (2 pi)
(Sheppard's formula)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.sem.power import discretized_moments, thresholds_from_shares


@pytest.mark.parametrize("r", [-0.6, 0.0, 0.3, 0.8])
def test_binary_split_at_zero_matches_sheppard(r):
    sigma = np.array([[2.0, r * math.sqrt(2.0) * 3.0], [r * math.sqrt(2.0) * 3.0, 9.0]])
    mean, cov = discretized_moments(sigma, [np.array([0.0]), np.array([0.0])])
    np.testing.assert_allclose(mean, [1.5, 1.5], atol=1e-12)
    np.testing.assert_allclose(np.diag(cov), [0.25, 0.25], atol=1e-12)
    assert cov[0, 1] == pytest.approx(math.asin(r) / (2 * math.pi), abs=1e-6)


def test_category_shares_give_the_mean_of_the_categories():
    shares = [0.02, 0.05, 0.13, 0.42, 0.38]
    mean, cov = discretized_moments(np.eye(1), [thresholds_from_shares(shares)])
    k = np.arange(1, 6)
    assert mean[0] == pytest.approx(float(k @ shares), abs=1e-9)
    assert cov[0, 0] == pytest.approx(float((k ** 2) @ shares - (k @ shares) ** 2), abs=1e-9)
    with pytest.raises(ValueError, match="one entry per variable"):
        discretized_moments(np.eye(2), [thresholds_from_shares(shares)])
