"""The REML search of the AR(1) fit: its exact gradient, and that it finds the highest of two maxima.

A short count series can have a restricted likelihood with two maxima (no latent process, rho = 0; and a slowly
varying one at rho's bound). A single local search lands on one or the other as rounding falls, so the same data
gave headlines 5% apart on two CPUs; the search now starts from several values of rho and keeps the highest.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from evaluation.methods import its_inference as ii


def _working_problem():
    """The working response of a Poisson series with a slope change (the series of
    ``test_poisson_detects_a_real_slope_change``) at its independence fit."""
    rng = np.random.default_rng(7)
    n, n_pre = 60, 36
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    slope = (t - n_pre) * post
    y = rng.poisson(np.exp(math.log(400) + 0.03 * slope)).astype(float)
    x = np.column_stack([np.ones(n), t, post, slope])
    beta = np.linalg.lstsq(x, np.log(y), rcond=None)[0]
    mu = np.exp(x @ beta)
    z = x @ beta + (y - mu) / mu
    d0 = 1.0 / mu
    return x, z, d0, ii.month_distances(t)


def test_whole_months_index_a_table_of_powers_equal_to_raising_each_cell():
    t = np.array([0.0, 1.0, 2.0, 5.0, 6.0])  # a gap keeps its spacing
    dist = ii.month_distances(t)
    assert dist.dtype.kind == "i"
    for rho in (0.0, 0.37, 0.95):
        r, dr = ii._rho_powers(rho, dist)
        r_float, dr_float = ii._rho_powers(rho, dist.astype(float))
        np.testing.assert_allclose(r, r_float, rtol=1e-14, atol=0)
        np.testing.assert_allclose(dr, dr_float, rtol=1e-14, atol=0)
    assert ii.month_distances(np.array([0.0, 0.5])).dtype.kind == "f"


@pytest.mark.parametrize("whole_months", [True, False])
def test_the_exact_gradient_matches_finite_differences(whole_months: bool):
    x, z, d0, dist = _working_problem()
    dist = dist if whole_months else dist.astype(float)
    for theta in ([math.log(4e-4), 0.3], [math.log(1e-3), 0.8], [math.log(2e-4), 0.0]):
        theta = np.array(theta)
        _, grad = ii._reml_value_and_gradient(theta, x, z, d0, dist)
        h = 1e-6
        numeric = [(ii._reml_value(theta + e, x, z, d0, dist) - ii._reml_value(theta - e, x, z, d0, dist)) / (2 * h)
                   for e in np.eye(2) * h]
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_the_search_keeps_the_highest_maximum_where_one_start_would_not():
    x, z, d0, dist = _working_problem()
    scale = float(np.var(z)) + float(np.mean(d0))
    bounds = [(math.log(1e-8 * scale), math.log(1e3 * scale)), (0.0, ii._RHO_MAX)]
    # The grid's best value: for each rho, the best latent variance (a one-dimensional search).
    grid = []
    for rho in np.linspace(0.0, ii._RHO_MAX, 39):
        best = optimize.minimize_scalar(lambda ls, r=rho: ii._reml_value(np.array([ls, r]), x, z, d0, dist),
                                        bounds=bounds[0], method="bounded", options={"xatol": 1e-9})
        grid.append(float(best.fun))
    one_start = optimize.minimize(ii._reml_value_and_gradient, np.array([math.log(2e-4), 0.05]),
                                  args=(x, z, d0, dist), jac=True, method="L-BFGS-B", bounds=bounds)
    found = ii._reml_search(np.array([math.log(2e-4), 0.05]), x, z, d0, dist, bounds)
    value = ii._reml_value(found, x, z, d0, dist)
    # The case is a real one: a single search from rho = 0.05 stops at the lower maximum.
    assert one_start.fun > min(grid) + 0.1
    # The search is at least as high as every point of the grid (minus the objective: no larger).
    assert value <= min(grid) + 1e-9
