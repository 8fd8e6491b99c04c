"""Synthetic control per site: donor weights (pysyncon), pre-period fit, placebo-in-space inference with the
pre-fit filter, and a conformal interval for the average post-period effect.

* **Placebo filter** (Abadie, Diamond & Hainmueller 2010, section 3): a placebo whose pre-period fit is poor
  -- pre-period RMSPE over ``analysis.yaml`` comparators.placebo_rmspe_cutoff (5) times the site's --
  says nothing about whether the site's post-period gap is unusual, so it is left out of the p-value (and
  listed).
* **Interval** (Chernozhukov, Wuthrich & Zhu 2021, *JASA* 116:1849-1864, "An exact and robust conformal
  inference method for counterfactual and synthetic controls"): for a constant post-period effect theta,
  subtract theta from the site's post-period values, fit the synthetic control on *all* periods, and
  compare the post-period residuals' mean with that of every cyclic (moving-block) shift of the residual
  series; theta is in the 95% set when its p-value exceeds 0.05. The set is found on a grid and refined
  by bisection at its ends. Exact under exchangeable residuals, approximately valid under weak dependence;
  with T periods the smallest p-value is 1/T.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import default_registry
from evaluation.methods.comparative_common import _balanced_donors, _min_months, _to_time_like, _wide
from evaluation.methods.plain import json_safe

# --- synthetic control -------------------------------------------------------------------------------------


def simplex_least_squares(V_mat: np.ndarray, X0: np.ndarray, X1: np.ndarray) -> tuple[np.ndarray, float]:  # noqa: N803
    """pysyncon's inner problem, min_w 1/2 w'Pw - q'w (P = X0'VX0, q = X1'VX0) over the simplex, solved fast.

    pysyncon hands this quadratic programme to SLSQP with finite-difference gradients, which takes tens of
    iterations and a few hundred milliseconds for 50 donors; the placebo-in-space test solves it once per
    donor. Here non-negative least squares with the sum-to-one constraint as a heavily weighted extra row
    (Lawson & Hanson 1974) gives the solution in one active-set solve; the weights are then rescaled to sum
    to exactly 1. Same objective, same constraints; a test checks the fit is never worse than pysyncon's own
    solver's and the weights agree. Returns the weights and the objective, as pysyncon's ``w_optimize`` does.
    """
    from scipy.optimize import Bounds, LinearConstraint, minimize, nnls

    n = X0.shape[1]
    p_mat = X0.T @ V_mat @ X0
    q = X1.T @ V_mat @ X0
    diag = np.diag(V_mat)
    if np.allclose(V_mat, np.diag(diag)) and (diag >= 0).all():
        root = np.sqrt(diag)
        a, b = root[:, None] * X0, root * X1
        big = 1e3 * max(float(np.linalg.norm(a)), 1.0)
        w, _ = nnls(np.vstack([a, np.full((1, n), big)]), np.append(b, big), maxiter=50 * n)
        w = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    else:
        w = np.full(n, 1.0 / n)
    if not np.allclose(V_mat, np.diag(diag)) or (diag < 0).any():
        # Not the diagonal V this package uses: pysyncon's own route, with the exact gradient.
        res = minimize(lambda x: 0.5 * x @ p_mat @ x - q @ x, w, jac=lambda x: p_mat @ x - q, method="SLSQP",
                       bounds=Bounds(np.zeros(n), np.ones(n)),
                       constraints=LinearConstraint(np.ones((1, n)), 1.0, 1.0), options={"maxiter": 1000})
        w = np.asarray(res.x, dtype=float)
    return w, float(0.5 * w @ p_mat @ w - q @ w)


@functools.lru_cache(maxsize=1)
def _synth_class():
    with warnings.catch_warnings():
        # pysyncon 1.7.0 has a docstring with an invalid escape ("\hat"): a compile-time warning on import.
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pysyncon import Synth

    class FastSynth(Synth):
        """pysyncon's Synth with :func:`simplex_least_squares` as its inner solver."""

        @staticmethod
        def w_optimize(V_mat, X0, X1, qp_method="SLSQP", qp_options=None):  # noqa: N803
            del qp_method, qp_options
            return simplex_least_squares(V_mat, X0, X1)

    return FastSynth


def _synth_weights(z0_pre: pd.DataFrame, z1_pre: pd.Series) -> np.ndarray:
    """Donor weights (>= 0, sum 1) minimising the pre-period mean squared gap, from pysyncon."""
    Synth = _synth_class()  # noqa: N806

    # pysyncon divides every predictor (here: every pre-period month) by its spread across units before
    # weighting by V; V = that variance undoes it, so the weights minimise the plain pre-period mean squared
    # gap -- the quantity reported as the pre-period RMSPE. A month with no spread gets weight 1.
    spread = pd.concat([z0_pre, z1_pre], axis=1).std(axis=1).to_numpy() ** 2
    v = np.where(spread > 0, spread, 1.0)
    v = v / v.mean()
    model = Synth()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(X0=z0_pre, X1=z1_pre, Z0=z0_pre, Z1=z1_pre, custom_V=v)
    w = np.clip(np.asarray(model.W, dtype=float), 0.0, None)
    # SLSQP meets the constraints to ~1e-10; renormalise so downstream sums are exact.
    return w / w.sum()


def _synth_fit(
    wide: pd.DataFrame, treated: Any, donors: list[Any], pre: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Weights, synthetic path, pre-period RMSPE and post-period RMSPE for one treated unit."""
    z0, z1 = wide[donors], wide[treated]
    w = _synth_weights(z0.loc[pre], z1.loc[pre])
    synth = z0.to_numpy() @ w
    gap = z1.to_numpy() - synth
    return w, synth, float(np.sqrt(np.mean(gap[pre] ** 2))), float(np.sqrt(np.mean(gap[~pre] ** 2)))


def _rmspe_ratio(post: float, pre: float, scale: float) -> float:
    # A perfect pre-period fit would divide by zero; floor it at numerical precision of the outcome.
    return post / max(pre, 1e-12 * max(scale, 1.0))


def _relative_bound(conformal: dict | None, key: str, mean_synth: float) -> float | None:
    """A bound of the gap's interval as a relative change (gap / synthetic mean); None without an interval or
    when the synthetic mean is not positive (a ratio to it would flip or be undefined)."""
    if conformal is None or conformal.get(key) is None or not mean_synth > 0:
        return None
    return float(conformal[key]) / mean_synth


def synthetic_control(
    df: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str,
    treated_unit: Any,
    treatment_time: Any,
    donors: Sequence[Any] | None = None,
    placebo: bool = True,
    rmspe_cutoff: float | None = None,
    interval: bool = True,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Synthetic control for one site against a donor pool, with placebo-in-space inference.

    The synthetic site is a weighted average of donors (weights non-negative, summing to 1) chosen by
    ``pysyncon.Synth`` (Abadie, Diamond & Hainmueller 2010, *JASA* 105:493-505) to track the site's
    outcome over every pre-period month; V is set so the weights minimise the plain pre-period mean
    squared gap. The outcome is used as given, so units of different sizes must first be put on a common
    footing (:func:`site_vs_comparators` indexes counts to each unit's own pre-period mean).

    The placebo-in-space test refits the synthetic control for every donor as if it had been treated at
    ``treatment_time`` (with the other donors, never the site, as its pool) and ranks the site's ratio of
    post- to pre-period RMSPE among all of them: ``p = (1 + #{donor ratio >= site ratio}) / (1 + donors)``
    (Abadie, Diamond & Hainmueller 2010; Abadie 2021, *J Econ Lit* 59:391-425). The smallest possible p is
    ``1 / (1 + donors)``. The ratio, rather than the post-period gap alone, stops donors that no synthetic
    control can fit from looking like effects. The placebo loop is run here rather than with
    ``pysyncon.PlaceboTest``, which starts a process pool and counts the site in the denominator but not
    the numerator of its p-value.

    Parameters
    ----------
    df:
        Long table, one row per unit and time.
    unit, time, outcome:
        Column names; ``time`` holds Timestamps or integers.
    treated_unit, treatment_time:
        The site and its first post-period, of the same type as ``time``.
    donors:
        The donor pool; all other units by default. Donors missing any period the site has are dropped.
    placebo:
        Run the placebo-in-space test.
    rmspe_cutoff:
        Placebos with a pre-period RMSPE over this multiple of the site's are left out of the p-value
        (default ``analysis.yaml`` comparators.placebo_rmspe_cutoff, 5); ``inf`` keeps all.
    interval:
        Compute the conformal interval of the average post-period effect (``effect["ci_low"]``,
        ``effect["ci_high"]``, in outcome units, and ``interval``).
    alpha:
        1 - confidence level of the interval.

    Returns
    -------
    dict
        JSON-safe: ``weights`` (donor -> weight), ``pre_rmspe``, ``post_rmspe``, ``rmspe_ratio``,
        ``effect`` (``mean_gap`` = mean post-period actual minus synthetic, in outcome units, with its
        interval ``ci_low`` / ``ci_high``; ``relative_change`` = mean post actual / mean post synthetic - 1,
        with its interval ``relative_ci_low`` / ``relative_ci_high``), ``placebo`` (``p_value``, the
        donors' ratios, which were left out for a poor pre-period fit) and ``path`` (time, actual,
        synthetic) for charts.
    """
    cutoff = default_registry().analysis.comparators.placebo_rmspe_cutoff if rmspe_cutoff is None else rmspe_cutoff
    data = df.copy()
    treatment_time = _to_time_like(treatment_time, data[time], "treatment_time")
    wide = _wide(data, unit=unit, time=time, outcome=outcome)
    if treated_unit not in wide.columns:
        raise ValueError(f"treated_unit {treated_unit!r} is not in column {unit!r}")
    pool = [u for u in (donors if donors is not None else wide.columns) if u != treated_unit]
    sub, kept, dropped = _balanced_donors(wide, [treated_unit], pool)
    if len(kept) < 2:
        raise ValueError(f"synthetic control needs at least 2 complete donors, found {len(kept)}")
    pre = np.asarray(sub.index < treatment_time)
    n_pre, n_post = int(pre.sum()), int((~pre).sum())
    min_pre, min_post = _min_months()
    if n_pre < min_pre or n_post < min_post:
        raise ValueError(
            f"{treated_unit!r}: {n_pre} pre and {n_post} post periods; at least {min_pre} and {min_post} needed"
        )

    w, synth, pre_rmspe, post_rmspe = _synth_fit(sub, treated_unit, kept, pre)
    actual = sub[treated_unit].to_numpy()
    scale = float(np.nanmean(np.abs(sub.to_numpy())))
    ratio = _rmspe_ratio(post_rmspe, pre_rmspe, scale)
    mean_actual, mean_synth = float(actual[~pre].mean()), float(synth[~pre].mean())

    placebo_out: dict[str, Any] | None = None
    if placebo:
        ratios: dict[str, float] = {}
        pre_fits: dict[str, float] = {}
        for d in kept:
            others = [o for o in kept if o != d]
            _, _, p_pre, p_post = _synth_fit(sub, d, others, pre)
            ratios[str(d)] = _rmspe_ratio(p_post, p_pre, scale)
            pre_fits[str(d)] = p_pre
        poor = sorted(d for d, f in pre_fits.items() if f > cutoff * max(pre_rmspe, 1e-12 * max(scale, 1.0)))
        used = {d: r for d, r in ratios.items() if d not in poor}
        # Ties count against the site, so the p-value is never too small.
        at_least = sum(r >= ratio * (1 - 1e-12) for r in used.values())
        placebo_out = {
            "statistic": "post/pre RMSPE ratio",
            "p_value": (1 + at_least) / (1 + len(used)),
            "rank": 1 + sum(r > ratio for r in used.values()),
            "n_placebos": len(used),
            "min_possible_p_value": 1 / (1 + len(used)),
            "rmspe_cutoff": cutoff,
            "excluded_poor_pre_fit": poor,
            "ratios": ratios,
            "pre_rmspe": pre_fits,
        }
    conformal = (
        conformal_interval(sub[kept].to_numpy(), actual, pre, alpha=alpha, estimate=mean_actual - mean_synth)
        if interval else None
    )

    return json_safe(
        {
            "design": "synthetic control (pysyncon.Synth, weights fitted to every pre-period outcome)",
            "treated_unit": treated_unit,
            "treatment_time": treatment_time,
            "n_pre": n_pre,
            "n_post": n_post,
            "n_donors": len(kept),
            "dropped_donors": dropped,
            "weights": {str(d): float(v) for d, v in zip(kept, w, strict=True)},
            "pre_rmspe": pre_rmspe,
            "post_rmspe": post_rmspe,
            "rmspe_ratio": ratio,
            "effect": {
                "mean_gap": mean_actual - mean_synth,
                "ci_low": None if conformal is None else conformal["ci_low"],
                "ci_high": None if conformal is None else conformal["ci_high"],
                "relative_change": mean_actual / mean_synth - 1 if mean_synth != 0 else float("nan"),
                # The interval on the relative change's scale: the gap's interval over the synthetic mean, as the
                # relative change is the gap over that mean (the weights, so the synthetic mean, held fixed).
                "relative_ci_low": _relative_bound(conformal, "ci_low", mean_synth),
                "relative_ci_high": _relative_bound(conformal, "ci_high", mean_synth),
                "mean_actual_post": mean_actual,
                "mean_synthetic_post": mean_synth,
            },
            "placebo": placebo_out,
            "interval": conformal,
            "path": [
                {"time": t, "actual": float(a), "synthetic": float(s)}
                for t, a, s in zip(sub.index, actual, synth, strict=True)
            ],
        }
    )




def _conformal_p(y0: np.ndarray, y1: np.ndarray, pre: np.ndarray, theta: float) -> float:
    """Chernozhukov-Wuthrich-Zhu p-value of H0: the post-period effect is theta in every post period."""
    y = y1 - theta * (~pre)
    w, _ = simplex_least_squares(np.eye(len(y)), y0, y)  # the plain squared-gap objective, all periods
    u = y - y0 @ w
    n, post = len(u), np.flatnonzero(~pre)
    stat = abs(float(np.sum(u[post]))) / math.sqrt(len(post))
    shifted = np.array([abs(float(np.sum(u[(post + j) % n]))) for j in range(n)]) / math.sqrt(len(post))
    return float(np.mean(shifted >= stat * (1 - 1e-12)))


def conformal_interval(
    y0: np.ndarray, y1: np.ndarray, pre: np.ndarray, *, alpha: float = 0.05, estimate: float | None = None,
    grid_points: int = 41, refine: int = 12,
) -> dict[str, Any]:
    """Conformal (1 - alpha) set for a constant post-period effect, by test inversion (see the module docstring).

    ``y0`` is periods x donors, ``y1`` the site, ``pre`` marks the pre-period. The grid spans the estimate
    +/- 8 pre-period residual SDs (of the gap), refined by bisection at each end; ``open_low`` /
    ``open_high`` say the set reached the grid's end (the interval is then unbounded on that side).
    """
    y0 = np.asarray(y0, dtype=float)
    y1 = np.asarray(y1, dtype=float)
    pre = np.asarray(pre, dtype=bool)
    w, _ = simplex_least_squares(np.eye(int(pre.sum())), y0[pre], y1[pre])
    gap = y1 - y0 @ w
    centre = float(np.mean(gap[~pre])) if estimate is None else float(estimate)
    sd = float(np.std(gap[pre])) or 1e-12 * max(float(np.mean(np.abs(y1))), 1.0)
    half = 8 * sd + abs(centre)
    grid = np.linspace(centre - half, centre + half, grid_points)
    pvals = np.array([_conformal_p(y0, y1, pre, t) for t in grid])
    inside = np.flatnonzero(pvals > alpha)
    if inside.size == 0:
        return {"method": "conformal (Chernozhukov, Wuthrich & Zhu 2021), moving-block permutations",
                "ci_low": None, "ci_high": None, "open_low": False, "open_high": False,
                "p_value_no_effect": _conformal_p(y0, y1, pre, 0.0), "alpha": alpha}

    def edge(a: float, b: float) -> float:
        # a is inside the set, b outside: bisect the boundary.
        for _ in range(refine):
            m = (a + b) / 2
            if _conformal_p(y0, y1, pre, m) > alpha:
                a = m
            else:
                b = m
        return a

    lo_i, hi_i = int(inside[0]), int(inside[-1])
    lo = float(grid[lo_i]) if lo_i == 0 else edge(float(grid[lo_i]), float(grid[lo_i - 1]))
    hi = float(grid[hi_i]) if hi_i == len(grid) - 1 else edge(float(grid[hi_i]), float(grid[hi_i + 1]))
    return {
        "method": "conformal (Chernozhukov, Wuthrich & Zhu 2021), moving-block permutations",
        "ci_low": lo, "ci_high": hi, "open_low": lo_i == 0, "open_high": hi_i == len(grid) - 1,
        "p_value_no_effect": _conformal_p(y0, y1, pre, 0.0), "alpha": alpha,
    }  # fmt: skip
