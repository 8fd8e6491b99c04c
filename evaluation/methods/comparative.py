"""Comparative designs: each site against a pool of comparator organisations that never had the programme.

Three designs, each answering "what would the site have looked like without the programme?" with a
different counterfactual built from the comparators:

* :func:`comparative_its` -- comparative interrupted time series / difference-in-differences of one site
  against the mean of the comparator pool (statsmodels GLS with AR(1) errors);
* :func:`staggered_did` -- staggered-adoption difference-in-differences across the sites that went live
  at different months: Callaway & Sant'Anna (2021) group-time effects ATT(g, t), their simple, group and
  event-time aggregations, and a pre-trend test (estimates from the maintained ``csdid`` package, a port of
  R's ``did``);
* :func:`synthetic_control` -- a synthetic control per site with donor weights, pre-period fit and a
  placebo-in-space permutation p-value (weights from the maintained ``pysyncon`` package).

:func:`site_vs_comparators` and :func:`staggered_from_panel` build the inputs from the measure panel
(:mod:`evaluation.panel.frame`) and return JSON-safe dictionaries for the results files.

Why the inference is not simply the libraries' default
------------------------------------------------------
Each site is a single organisation. Standard errors that are right when many units are treated are wrong
when one is:

* a cluster-robust (by organisation) standard error of a site-specific effect is degenerate -- the
  treated cluster's score is zero by the normal equations (MacKinnon & Webb 2018, *Econometrics Journal*
  21:114-135) -- so :func:`comparative_its` models the time series of the site-minus-comparators gap,
  with AR(1) errors, instead;
* the Callaway-Sant'Anna analytic (influence-function) standard errors treat a cohort's mean outcome
  change as estimated from many treated units; with one treated organisation per cohort the site's own
  month-to-month noise is left out and the intervals are far too narrow (on the synthetic data the
  pre-treatment ATT(g, t), which are zero in truth, scatter more than twice as widely as their analytic
  standard errors allow). Its Wald
  pre-test is also not computable with monthly data: there are hundreds of pre-treatment ATT(g, t) and a
  few dozen organisations, so their covariance matrix is singular. :func:`staggered_did` therefore
  reports, besides the library's analytic results, placebo-in-space inference in the spirit of Conley &
  Taber (2011, *Review of Economics and Statistics* 93:113-125): comparators are relabelled as pseudo-sites
  with the real cohort sizes, the same estimator is re-applied, and the spread of those placebo estimates
  gives the standard errors, intervals, p-values and the reference distribution of the pre-trend Wald
  statistic. This is the one hand-written part of the module; it re-applies the library's 2x2 formula
  (a difference of mean outcome changes, exact for ``est_method="reg"`` without covariates) and checks on
  every call that it reproduces the library's ATT(g, t) and aggregations for the real assignment.

The placebo methods assume that, had they not had the programme, the sites would have varied about their
comparator-based counterfactual as much as the comparators vary about theirs. Comparators much smaller
or larger than the sites make that approximate.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import default_registry
from evaluation.results.jsonsafe import json_safe

__all__ = [
    "MIN_NEVER_TREATED",
    "StaggeredDiDResult",
    "comparative_its",
    "site_vs_comparators",
    "staggered_did",
    "staggered_from_panel",
    "synthetic_control",
]

#: csdid (like R ``did``) refuses a never-treated group of fewer than 5 units when it is the control group.
MIN_NEVER_TREATED = 5

ValueType = Literal["count", "proportion", "rate"]
_SCALES: dict[str, str] = {"count": "rate_ratio", "proportion": "odds_ratio", "rate": "difference"}
_LINKS: dict[str, str] = {"count": "log", "proportion": "logit", "rate": "identity"}
_CONTROL_GROUPS: dict[str, str] = {"never_treated": "nevertreated", "not_yet_treated": "notyettreated"}


# --- small helpers ----------------------------------------------------------------------------------------


def _min_months() -> tuple[int, int]:
    """Shortest pre- and post-periods (months) for a site-level design, from ``analysis.yaml``."""
    its = default_registry().analysis.its
    return its.min_pre_months, its.min_post_months


def _check_value_type(value_type: str) -> None:
    if value_type not in _SCALES:
        raise ValueError(f"value_type must be one of {sorted(_SCALES)}, got {value_type!r}")


def _link(values: np.ndarray, value_type: str) -> np.ndarray:
    """Values on the analysis (link) scale; impossible values (<= 0 counts, proportions at 0 or 1) -> NaN."""
    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if value_type == "count":
            return np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)
        if value_type == "proportion":
            ok = (v > 0) & (v < 1)
            safe = np.where(ok, v, 0.5)
            return np.where(ok, np.log(safe / (1 - safe)), np.nan)
    return v


def _natural(b: float, value_type: str) -> float:
    # Ratios (rate or odds) for log/logit links, differences for the identity link.
    return float(math.exp(b)) if value_type != "rate" else float(b)


def _is_datetime(values: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(values)


def _month_ordinal(values: Any) -> np.ndarray:
    ts = pd.DatetimeIndex(pd.to_datetime(values))
    return (ts.year * 12 + ts.month - 1).to_numpy(dtype=np.int64)


def _to_time_like(value: Any, like: pd.Series, what: str) -> Any:
    """``value`` converted to the type of the time column (Timestamp for datetimes, number otherwise)."""
    if _is_datetime(like):
        try:
            return pd.Timestamp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a date when the time column holds dates, got {value!r}") from None
    if isinstance(value, pd.Timestamp | np.datetime64 | str):
        raise ValueError(f"{what} must be a number when the time column holds numbers, got {value!r}")
    return value


def _require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"df is missing column(s) {missing}; it has {list(df.columns)}")


def _wide(df: pd.DataFrame, *, unit: str, time: str, outcome: str) -> pd.DataFrame:
    """time x unit table of the outcome; duplicated (unit, time) rows are an error, not silently averaged."""
    _require_columns(df, [unit, time, outcome])
    if df.duplicated([unit, time]).any():
        dup = df[df.duplicated([unit, time], keep=False)].iloc[0]
        raise ValueError(f"more than one row for unit {dup[unit]!r} at time {dup[time]!r}")
    wide = df.pivot(index=time, columns=unit, values=outcome).sort_index()
    return wide.astype(float)


def _balanced_donors(
    wide: pd.DataFrame, treated: Sequence[Any], donors: Sequence[Any]
) -> tuple[pd.DataFrame, list[Any], dict[str, str]]:
    """Keep the times where every treated unit is observed and the donors observed at all of those times.

    A comparator with a gap would change the composition of the comparator mean (or of the synthetic
    control) from month to month, which reads as a spurious change, so it is dropped and reported.
    """
    rows = wide[list(treated)].notna().all(axis=1)
    sub = wide.loc[rows]
    kept: list[Any] = []
    dropped: dict[str, str] = {}
    for d in donors:
        if d not in sub.columns:
            dropped[str(d)] = "no data"
        elif sub[d].isna().any():
            dropped[str(d)] = f"missing or unusable in {int(sub[d].isna().sum())} period(s)"
        else:
            kept.append(d)
    return sub[[*treated, *kept]], kept, dropped


# --- comparative interrupted time series / difference-in-differences ---------------------------------------


def _hac_maxlags(n: int) -> int:
    # Newey & West (1994) rule of thumb, the same rule as evaluation.methods.its.
    return max(1, int(math.floor(4 * (n / 100) ** (2 / 9))))


def _fit_gap(gap: np.ndarray, x: np.ndarray, errors: str, maxlags: int) -> tuple[Any, float]:
    """statsmodels fit of the gap series; returns the results and the AR(1) coefficient used (or NaN)."""
    from statsmodels.regression.linear_model import GLSAR, OLS

    ols = OLS(gap, x)
    if errors == "hac":
        return ols.fit(cov_type="HAC", cov_kwds={"maxlags": maxlags}, use_t=True), float("nan")
    first = ols.fit()
    # A gap the model fits exactly (noise-free test data) has no autocorrelation to estimate, and
    # GLSAR's Yule-Walker step would divide zero by zero.
    if first.ssr <= 1e-20 * max(1.0, float(np.sum(gap**2))):
        return first, 0.0
    model = GLSAR(gap, x, rho=1)
    res = model.iterative_fit(maxiter=50)
    return res, float(np.atleast_1d(model.rho)[0])


def comparative_its(
    df: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str,
    treated_unit: Any,
    treatment_time: Any,
    value_type: ValueType = "count",
    comparators: Sequence[Any] | None = None,
    alpha: float = 0.05,
    errors: Literal["ar1", "hac"] = "ar1",
    maxlags: int | None = None,
) -> dict[str, Any]:
    """Comparative interrupted time series and difference-in-differences of one site against a comparator pool.

    The outcome is put on the link scale of its ``value_type`` (log for counts, logit for proportions, as
    is for rates), the comparators are averaged month by month, and the gap ``d_t = y_site,t - mean_c
    y_c,t`` is modelled with statsmodels (Lopez Bernal, Cummins & Gasparrini 2018, *Int J Epidemiol*
    47:2082-2093, "the use of controls in interrupted time series studies")::

        d_t = b0 + b1 * time + b_step * post_t + b_slope * months_since_t + e_t          (comparative ITS)
        d_t = a0 + a_did * post_t + e_t                                                  (difference in differences)

    ``post_t`` is 1 from ``treatment_time`` on and ``months_since_t`` counts the go-live period as 1 (the
    parametrisation of :mod:`evaluation.methods.its`). The comparators remove shocks common to all
    organisations (COVID-19, national seasonality, coding changes); the site's own linear trend ``b1``
    absorbs a gap that was already drifting. The second model is the classic difference-in-differences: by
    least squares its estimate is exactly that of a two-way fixed effects regression on the whole panel
    (unit and month effects and a site x post term), and likewise the first adds site-specific trend and
    slope terms to it.

    The errors are not clustered by organisation -- with one treated organisation that is degenerate --
    but modelled on the gap series: by default AR(1) errors, fitted by feasible GLS (statsmodels
    ``GLSAR``, iterated Cochrane-Orcutt), with t-based intervals. Newey-West HAC errors on OLS
    (``errors="hac"``) gave intervals that were too narrow in checks on the synthetic data (91% of 160
    site-level 95% intervals covered the true step, against 94% with AR(1) GLS, at the same accuracy).

    Parameters
    ----------
    df:
        Long table, one row per unit and time, outcome on its natural scale.
    unit, time, outcome:
        Column names. ``time`` holds month-start Timestamps or integer period numbers.
    treated_unit:
        The site.
    treatment_time:
        First period of the post-period (go-live), of the same type as ``time``.
    value_type:
        ``"count"`` (effects are rate ratios), ``"proportion"`` (odds ratios) or ``"rate"`` (differences).
        Counts of 0 and proportions of exactly 0 or 1 have no log/logit and are left out.
    comparators:
        Units to average; all other units by default. A comparator missing any period the site has is
        dropped (reported in ``dropped_comparators``) so the mean's composition does not change.
    alpha:
        1 - confidence level.
    errors:
        ``"ar1"`` (default) or ``"hac"``.
    maxlags:
        HAC lag length for ``errors="hac"``; default Newey-West ``floor(4 (n/100)^(2/9))``.

    Returns
    -------
    dict
        JSON-safe: ``step``, ``slope`` and ``did`` as ``{estimate, ci_low, ci_high, p_value,
        estimate_link, se_link}`` on the natural scale (``scale`` says which: rate ratio, odds ratio or
        difference; the slope is per period), periods used, comparators used and dropped, model details.
    """
    _check_value_type(value_type)
    if errors not in ("ar1", "hac"):
        raise ValueError(f"errors must be 'ar1' or 'hac', got {errors!r}")

    data = df.copy()
    treatment_time = _to_time_like(treatment_time, data[time], "treatment_time")
    data["_y"] = _link(data[outcome].to_numpy(), value_type)
    wide = _wide(data, unit=unit, time=time, outcome="_y")
    if treated_unit not in wide.columns:
        raise ValueError(f"treated_unit {treated_unit!r} is not in column {unit!r}")
    pool = [u for u in (comparators if comparators is not None else wide.columns) if u != treated_unit]
    sub, kept, dropped = _balanced_donors(wide, [treated_unit], pool)
    if not kept:
        raise ValueError(f"no comparator is observed in every period the treated unit {treated_unit!r} is")

    times = sub.index
    post = np.asarray(times >= treatment_time, dtype=float)
    n_pre, n_post = int((post == 0).sum()), int(post.sum())
    min_pre, min_post = _min_months()
    if n_pre < min_pre or n_post < min_post:
        raise ValueError(
            f"{treated_unit!r}: {n_pre} pre and {n_post} post periods; at least {min_pre} and {min_post} needed"
        )
    dated = _is_datetime(pd.Series(times))
    k = _month_ordinal(times) if dated else np.asarray(times, dtype=float)
    k0 = _month_ordinal([treatment_time])[0] if dated else float(treatment_time)
    trend = (k - k[0] + 1).astype(float)
    since = (k - k0 + 1).astype(float) * post
    gap = (sub[treated_unit] - sub[kept].mean(axis=1)).to_numpy()

    lags = maxlags if maxlags is not None else _hac_maxlags(len(gap))
    x_its = np.column_stack([np.ones_like(trend), trend, post, since])
    its, rho_its = _fit_gap(gap, x_its, errors, lags)
    did, rho_did = _fit_gap(gap, np.column_stack([np.ones_like(post), post]), errors, lags)

    def estimate(res: Any, i: int) -> dict[str, float]:
        b, se = float(res.params[i]), float(res.bse[i])
        lo, hi = (float(v) for v in res.conf_int(alpha=alpha)[i])
        return {
            "estimate": _natural(b, value_type),
            "ci_low": _natural(lo, value_type),
            "ci_high": _natural(hi, value_type),
            "p_value": float(res.pvalues[i]),
            "estimate_link": b,
            "se_link": se,
        }

    return json_safe(
        {
            "design": "comparative interrupted time series (site minus comparator mean on the link scale)",
            "treated_unit": treated_unit,
            "treatment_time": treatment_time,
            "value_type": value_type,
            "scale": _SCALES[value_type],
            "link": _LINKS[value_type],
            "alpha": alpha,
            "n_pre": n_pre,
            "n_post": n_post,
            "first_period": times[0],
            "last_period": times[-1],
            "n_comparators": len(kept),
            "comparators": [str(c) for c in kept],
            "dropped_comparators": dropped,
            "step": estimate(its, 2),
            "slope": estimate(its, 3),
            "did": estimate(did, 1),
            "model": {
                "estimator": "GLS with AR(1) errors (statsmodels GLSAR)"
                if errors == "ar1"
                else "OLS with Newey-West HAC errors (statsmodels)",
                "outcome": "site minus comparator mean, link scale",
                "ar1_rho": rho_its,
                "ar1_rho_did": rho_did,
                "hac_maxlags": lags if errors == "hac" else None,
                "residual_sd": float(np.sqrt(its.scale)),
                "pre_trend_link": float(its.params[1]),
            },
        }
    )


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

    Returns
    -------
    dict
        JSON-safe: ``weights`` (donor -> weight), ``pre_rmspe``, ``post_rmspe``, ``rmspe_ratio``,
        ``effect`` (``mean_gap`` = mean post-period actual minus synthetic, in outcome units, and
        ``relative_change`` = mean post actual / mean post synthetic - 1), ``placebo`` (``p_value``, the
        donors' ratios) and ``path`` (time, actual, synthetic) for charts.
    """
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
        # Ties count against the site, so the p-value is never too small.
        at_least = sum(r >= ratio * (1 - 1e-12) for r in ratios.values())
        placebo_out = {
            "statistic": "post/pre RMSPE ratio",
            "p_value": (1 + at_least) / (1 + len(ratios)),
            "rank": 1 + sum(r > ratio for r in ratios.values()),
            "n_placebos": len(ratios),
            "min_possible_p_value": 1 / (1 + len(ratios)),
            "ratios": ratios,
            "pre_rmspe": pre_fits,
        }

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
                "relative_change": mean_actual / mean_synth - 1 if mean_synth != 0 else float("nan"),
                "mean_actual_post": mean_actual,
                "mean_synthetic_post": mean_synth,
            },
            "placebo": placebo_out,
            "path": [
                {"time": t, "actual": float(a), "synthetic": float(s)}
                for t, a, s in zip(sub.index, actual, synth, strict=True)
            ],
        }
    )


# --- staggered difference-in-differences (Callaway & Sant'Anna) -------------------------------------------


@dataclass
class StaggeredDiDResult:
    """Callaway & Sant'Anna group-time effects, their aggregations and the pre-trend test.

    Tables use the caller's time labels (Timestamps or integers) for ``group`` (the cohort: first treated
    period) and ``time``; ``event_time`` is in periods since go-live (0 = go-live period).

    Every estimate carries two sets of uncertainty: the headline ``se``/``ci_low``/``ci_high``/``p_value``
    from placebo-in-space resampling (valid with one site per cohort; see the module docstring) and
    ``se_analytic``/``ci_low_analytic``/``ci_high_analytic``, the library's influence-function results
    (valid with many treated units per cohort). With ``n_placebo=0`` the headline columns are the analytic
    ones.
    """

    att_gt: pd.DataFrame
    simple: dict[str, float]
    group: pd.DataFrame
    group_overall: dict[str, float]
    event_time: pd.DataFrame
    event_time_overall: dict[str, float]
    pretrend: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of everything."""

        def records(table: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: json_safe(v) for k, v in row.items()} for row in table.to_dict(orient="records")]

        return json_safe(
            {
                "att_gt": records(self.att_gt),
                "simple": self.simple,
                "group": {"overall": self.group_overall, "by_group": records(self.group)},
                "event_time": {"overall": self.event_time_overall, "by_event_time": records(self.event_time)},
                "pretrend": self.pretrend,
                "info": self.info,
            }
        )


@dataclass(frozen=True)
class _Cells:
    """The library's (g, t) cells, described so the placebo engine can recompute them."""

    group: np.ndarray  # cohort, internal period number
    time: np.ndarray  # period, internal number
    tcol: np.ndarray  # column of Y for the period
    bcol: np.ndarray  # column of Y for the base period
    threshold: np.ndarray  # not-yet-treated controls need a cohort above this
    zero: np.ndarray  # universal-base reference cell: ATT is 0 by construction

    @property
    def post(self) -> np.ndarray:
        return self.time >= self.group


def _cells(group: np.ndarray, time: np.ndarray, tlist: np.ndarray, base_period: str, anticipation: int) -> _Cells:
    """Base period and control threshold of every (g, t) cell, following csdid/R ``did`` exactly.

    Base: the last period before ``g - anticipation`` for cells at or after ``g - anticipation`` (and for
    every cell with a universal base); the previous period otherwise. Not-yet-treated controls: cohorts
    first treated after ``max(t, base) + anticipation``.
    """
    pos = {int(t): i for i, t in enumerate(tlist)}
    tcol = np.array([pos[int(t)] for t in time])
    bcol = np.empty_like(tcol)
    for i, (g, t) in enumerate(zip(group, time, strict=True)):
        last_pre = np.flatnonzero(tlist + anticipation < g)
        if base_period == "universal" or g - anticipation <= t:
            bcol[i] = last_pre[-1]
        else:
            bcol[i] = tcol[i] - 1
    threshold = np.maximum(time, tlist[bcol]) + anticipation
    return _Cells(group, time, tcol, bcol, threshold, tcol == bcol)


def _att_cells(y: np.ndarray, assign: np.ndarray, cells: _Cells, not_yet: bool) -> np.ndarray:
    """ATT(g, t) for every cell and every assignment row: mean change of cohort g minus mean change of controls.

    ``y`` is units x periods; ``assign`` is draws x units of cohorts (0 = never treated, -1 = left out).
    This is csdid's ``est_method="reg"`` without covariates (DRDID's outcome regression on an intercept).
    """
    n_draws = assign.shape[0]
    out = np.full((n_draws, len(cells.group)), np.nan)
    never = (assign == 0).astype(float)
    n_never = never.sum(axis=1)
    for c in range(len(cells.group)):
        if cells.zero[c]:
            out[:, c] = 0.0
            continue
        g = cells.group[c]
        change = y[:, cells.tcol[c]] - y[:, cells.bcol[c]]
        treat = (assign == g).astype(float)
        if not_yet:
            ctrl = ((assign == 0) | ((assign > cells.threshold[c]) & (assign != g))).astype(float)
            n_ctrl = ctrl.sum(axis=1)
        else:
            ctrl, n_ctrl = never, n_never
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c] = (treat @ change) / treat.sum(axis=1) - (ctrl @ change) / n_ctrl
    return out


def _aggregate(att: np.ndarray, cells: _Cells, sizes: Mapping[int, int]) -> dict[str, Any]:
    """Simple, group and event-time aggregations of ATT(g, t) (rows = draws), with R ``did``'s weights.

    Cohort weights are proportional to cohort size; group effects average a cohort's post-period cells
    equally; the event-time overall effect is the mean of the event-time effects at or after go-live.
    """
    pg = np.array([sizes[int(g)] for g in cells.group], dtype=float)
    post = cells.post
    simple = att[:, post] @ pg[post] / pg[post].sum()
    cohorts = np.array(sorted(sizes))
    by_group = np.column_stack([att[:, post & (cells.group == g)].mean(axis=1) for g in cohorts])
    w_g = np.array([sizes[int(g)] for g in cohorts], dtype=float)
    group_overall = by_group @ w_g / w_g.sum()
    e = cells.time - cells.group
    events = np.unique(e)
    by_event = np.column_stack([att[:, e == k] @ pg[e == k] / pg[e == k].sum() for k in events])
    event_overall = by_event[:, events >= 0].mean(axis=1)
    return {
        "simple": simple,
        "cohorts": cohorts,
        "group": by_group,
        "group_overall": group_overall,
        "events": events,
        "event": by_event,
        "event_overall": event_overall,
    }


def _placebo_assignments(
    pool: np.ndarray, sizes: Mapping[int, int], n_units: int, n_draws: int, seed: int
) -> tuple[np.ndarray, bool]:
    """Draws x units matrix of placebo cohorts: comparators relabelled as pseudo-sites with the real cohort sizes.

    The real treated units are left out (-1). Every distinct assignment is used when there are at most
    ``n_draws`` of them (exact randomisation distribution); otherwise ``n_draws`` are sampled.
    """
    cohorts = sorted(sizes)
    need = [sizes[g] for g in cohorts]
    n_distinct = 1
    left = len(pool)
    for k in need:
        n_distinct *= math.comb(left, k)
        left -= k

    def base_row() -> np.ndarray:
        row = np.full(n_units, -1, dtype=np.int64)
        row[pool] = 0
        return row

    if n_distinct <= n_draws:

        def assignments(avail: tuple[int, ...], i: int) -> Iterator[list[tuple[int, ...]]]:
            if i == len(cohorts):
                yield []
                return
            for chosen in itertools.combinations(avail, need[i]):
                rest = tuple(a for a in avail if a not in chosen)
                for tail in assignments(rest, i + 1):
                    yield [chosen, *tail]

        rows = []
        for combo in assignments(tuple(int(p) for p in pool), 0):
            row = base_row()
            for g, members in zip(cohorts, combo, strict=True):
                row[list(members)] = g
            rows.append(row)
        return np.array(rows), True
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_draws):
        perm = rng.permutation(pool)
        row = base_row()
        start = 0
        for g, k in zip(cohorts, need, strict=True):
            row[perm[start : start + k]] = g
            start += k
        rows.append(row)
    return np.array(rows), False


def _placebo_summary(estimate: np.ndarray, draws: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Placebo standard error, interval and two-sided p-value for each column of ``draws``.

    The placebo estimates approximate the distribution of the estimation error, so the interval inverts
    it (Conley & Taber 2011): ``[est - q(1 - alpha/2), est - q(alpha/2)]``.
    """
    se = np.nanstd(draws, axis=0, ddof=1)
    lo_q = np.nanquantile(draws, alpha / 2, axis=0)
    hi_q = np.nanquantile(draws, 1 - alpha / 2, axis=0)
    n = np.sum(~np.isnan(draws), axis=0)
    tol = 1e-12 * np.maximum(1.0, np.abs(estimate))
    extreme = np.sum(np.abs(draws) >= np.abs(estimate) - tol, axis=0)
    return {"se": se, "ci_low": estimate - hi_q, "ci_high": estimate - lo_q, "p_value": (1 + extreme) / (1 + n)}


def _run_csdid(
    data: pd.DataFrame, control_group: str, base_period: str, anticipation: int, alpha: float
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """Fit csdid's ATTgt and the three aggregations; csdid prints its tables, which are swallowed here."""
    from csdid.att_gt import ATTgt

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # csdid warns that one-unit cohorts are "small groups": true, and the reason for the placebo inference.
        warnings.filterwarnings("ignore", message=".*small groups.*")
        # Reported in the result's pretrend.library_wald note instead.
        warnings.filterwarnings("ignore", message=".*Not returning pre-test Wald statistic.*")
        model = ATTgt(
            yname="y",
            tname="t",
            idname="id",
            gname="g",
            data=data,
            control_group=_CONTROL_GROUPS[control_group],
            anticipation=anticipation,
            alp=alpha,
        )
        model.fit(est_method="reg", base_period=base_period, bstrap=False)
        aggs = {}
        for kind in ("simple", "group", "dynamic"):
            model.aggte(typec=kind, alp=alpha)
            aggs[kind] = model.atte
    return model, aggs


def staggered_did(
    df: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str,
    first_treated: str,
    control_group: Literal["never_treated", "not_yet_treated"] = "never_treated",
    base_period: Literal["varying", "universal"] = "varying",
    anticipation: int = 0,
    alpha: float = 0.05,
    n_placebo: int = 999,
    pretrend_periods: int | None = 12,
    seed: int = 20240401,
) -> StaggeredDiDResult:
    """Staggered-adoption difference-in-differences (Callaway & Sant'Anna 2021) with placebo inference.

    Group-time average effects ATT(g, t) -- the effect in period ``t`` on the units first treated in period
    ``g`` -- come from ``csdid`` (``ATTgt(...).fit(est_method="reg")``; Callaway & Sant'Anna 2021,
    *J Econometrics* 225:200-230), each a 2x2 difference-in-differences of cohort ``g`` against the control
    group between ``t`` and a base period (the period before go-live for post-periods; the previous period
    for pre-periods with ``base_period="varying"``). They are aggregated as R ``did`` does: ``simple``
    (post-period cells weighted by cohort size), ``group`` (each cohort's post-period average, and their
    size-weighted mean) and ``event_time`` (by periods since go-live, and the mean of the post-go-live
    event-time effects).

    Inference: see the module docstring. Headline standard errors, intervals and p-values come from
    ``n_placebo`` placebo assignments of the never-treated units to pseudo-cohorts with the real cohort
    sizes (all distinct assignments when there are fewer). The pre-trend test is a Wald-type test that the
    pre-treatment ATT(g, t) of the last ``pretrend_periods`` periods before each cohort's go-live are all
    zero: ``W = sum theta_c^2 / v_c`` with ``v_c`` the placebo variance of cell ``c``, referred to the placebo
    distribution of the same statistic (so it needs no chi-squared approximation; see :func:`_pretrend` for
    why the weighting is diagonal). The library's own analytic Wald pre-test (R ``did``'s, over all
    pre-treatment cells) is reported alongside; it is usually not computable with monthly data (singular
    covariance). With one site per cohort the test only detects large departures: it guards against gross
    pre-trends, and a high p-value is not evidence that trends were parallel.

    Parameters
    ----------
    df:
        Long table, one row per unit and time; a balanced panel is used (units missing any period are
        dropped and listed in ``info``).
    unit, time, outcome:
        Column names. ``time`` holds integer period numbers or month-start Timestamps (converted to month
        numbers for the library and back for the output).
    first_treated:
        Column with each unit's first treated period (same type as ``time``; constant within a unit), and
        0, NaN or NaT for units never treated. Units first treated after the last period count as never
        treated, as in R ``did``.
    control_group:
        ``"never_treated"`` (needs at least :data:`MIN_NEVER_TREATED` such units) or ``"not_yet_treated"``.
    base_period:
        ``"varying"`` or ``"universal"`` (R ``did``'s options).
    anticipation:
        Periods before go-live in which effects may already appear.
    alpha:
        1 - confidence level.
    n_placebo:
        Placebo draws; 0 turns placebo inference off (headline results are then the analytic ones).
    pretrend_periods:
        How many pre-treatment periods per cohort the placebo Wald pre-test uses (None: all).
    seed:
        Seed for sampling placebo assignments.

    Returns
    -------
    StaggeredDiDResult
    """
    if control_group not in _CONTROL_GROUPS:
        raise ValueError(f"control_group must be one of {sorted(_CONTROL_GROUPS)}, got {control_group!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if anticipation < 0 or n_placebo < 0:
        raise ValueError("anticipation and n_placebo must be non-negative")
    _require_columns(df, [unit, time, outcome, first_treated])

    data = df[[unit, time, outcome, first_treated]].copy()
    datetime_time = _is_datetime(data[time])
    if datetime_time:
        ordinal = _month_ordinal(data[time])
        origin = int(ordinal.min()) - 1
        data["t"] = ordinal - origin
        raw = data[first_treated]
        # 0 marks a never-treated unit in csdid's convention; with dates it must not become 1970-01-01.
        zero = raw.map(lambda v: isinstance(v, int | float | np.number) and not pd.isna(v) and v == 0)
        ft = pd.to_datetime(raw.where(~zero.astype(bool)), errors="raise")
        g = np.where(ft.isna(), 0, _month_ordinal(ft.fillna(pd.Timestamp("2000-01-01"))) - origin)

        def label(k: Any) -> Any:
            m = int(k) + origin
            return pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1)

    else:
        tnum = pd.to_numeric(data[time], errors="raise").to_numpy(dtype=float)
        if not np.all(tnum == np.round(tnum)):
            raise ValueError(f"time column {time!r} must hold integers or Timestamps")
        origin = int(tnum.min()) - 1
        data["t"] = tnum.astype(np.int64) - origin
        raw = pd.to_numeric(data[first_treated], errors="raise").to_numpy(dtype=float)
        never = np.isnan(raw) | (raw == 0)
        g = np.where(never, 0, np.nan_to_num(raw) - origin)

        def label(k: Any) -> Any:
            return int(k) + origin

    data["g"] = np.asarray(g, dtype=np.int64)
    data["y"] = pd.to_numeric(data[outcome], errors="raise").astype(float)
    per_unit = data.groupby(unit)["g"].nunique()
    if (per_unit > 1).any():
        raise ValueError(f"first_treated varies within unit(s) {list(per_unit[per_unit > 1].index[:5])}")
    t_last = int(data["t"].max())
    data.loc[data["g"] > t_last, "g"] = 0
    if (data.loc[data["g"] > 0, "g"] <= int(data["t"].min())).any():
        raise ValueError("a unit is treated from the first period, so it has no pre-treatment period")

    # Balanced panel: a unit missing a period (or with a non-finite outcome) is dropped whole, because the
    # 2x2 comparisons must use the same units before and after.
    data = data[np.isfinite(data["y"])]
    n_t = data["t"].nunique()
    counts = data.groupby(unit)["t"].nunique()
    incomplete = sorted(str(u) for u in counts[counts < n_t].index)
    data = data[data[unit].isin(counts[counts == n_t].index)].copy()
    units = sorted(data[unit].unique(), key=str)
    data["id"] = data[unit].map({u: i + 1 for i, u in enumerate(units)}).astype(np.int64)
    unit_g = data.groupby("id")["g"].first().reindex(range(1, len(units) + 1)).to_numpy()
    n_never = int((unit_g == 0).sum())
    treated_ids = np.flatnonzero(unit_g > 0)
    if len(treated_ids) == 0:
        raise ValueError("no treated unit with a complete series")
    if n_never < MIN_NEVER_TREATED and control_group == "never_treated":
        raise ValueError(
            f"{n_never} never-treated unit(s) with a complete series; csdid (like R did) needs at least "
            f"{MIN_NEVER_TREATED} as a control group"
        )

    model, aggs = _run_csdid(data[["id", "t", "y", "g"]], control_group, base_period, anticipation, alpha)
    res = model.results
    lib_group = np.asarray(res["group"], dtype=np.int64)
    lib_time = np.asarray(res["year"], dtype=np.int64)
    lib_att = np.asarray(res["att"], dtype=float)
    lib_se = np.asarray(res["se"], dtype=float)

    tlist = np.sort(data["t"].unique())
    y = data.pivot(index="id", columns="t", values="y").reindex(columns=tlist).to_numpy()
    cells = _cells(lib_group, lib_time, tlist, base_period, anticipation)
    sizes = {int(c): int((unit_g == c).sum()) for c in np.unique(unit_g[unit_g > 0])}
    not_yet = control_group == "not_yet_treated"

    # The placebo engine must be the library's estimator: check it on the real assignment first.
    real = _att_cells(y, unit_g[None, :], cells, not_yet)[0]
    scale = max(1.0, float(np.nanstd(y)))
    if not np.allclose(real, lib_att, rtol=0, atol=1e-8 * scale, equal_nan=True):
        worst = float(np.nanmax(np.abs(real - lib_att)))
        raise RuntimeError(f"placebo engine does not reproduce csdid's ATT(g,t) (max difference {worst:.3g})")
    real_agg = _aggregate(real[None, :], cells, sizes)
    lib_checks = {
        "simple": (real_agg["simple"][0], aggs["simple"]["overall_att"]),
        "group": (real_agg["group_overall"][0], aggs["group"]["overall_att"]),
        "dynamic": (real_agg["event_overall"][0], aggs["dynamic"]["overall_att"]),
    }
    for kind, (mine, theirs) in lib_checks.items():
        if not math.isclose(float(mine), float(theirs), rel_tol=0, abs_tol=1e-8 * scale):
            raise RuntimeError(f"placebo engine does not reproduce csdid's {kind} aggregation")
    # The group and event-time tables are matched to the placebo draws by position, so check the order too.
    for kind, labels, values in (("group", "cohorts", "group"), ("dynamic", "events", "event")):
        same_labels = np.array_equal(np.asarray(aggs[kind]["egt"], dtype=np.int64), real_agg[labels])
        if not same_labels or not np.allclose(
            np.asarray(aggs[kind]["att_egt"], dtype=float), real_agg[values][0], rtol=0, atol=1e-8 * scale
        ):
            raise RuntimeError(f"placebo engine does not reproduce csdid's {kind} table")

    pool = np.flatnonzero(unit_g == 0)
    use_placebo = n_placebo > 0
    if use_placebo and len(pool) < len(treated_ids):
        raise ValueError(
            f"placebo inference needs at least as many never-treated units ({len(pool)}) as treated units "
            f"({len(treated_ids)}); pass n_placebo=0 for analytic inference only"
        )
    z = float(_norm_ppf(1 - alpha / 2))

    def analytic(est: np.ndarray, se: np.ndarray) -> dict[str, np.ndarray]:
        return {"se_analytic": se, "ci_low_analytic": est - z * se, "ci_high_analytic": est + z * se}

    def headline(est: np.ndarray, draws: np.ndarray | None, se_an: np.ndarray) -> dict[str, np.ndarray]:
        if draws is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                p = 2 * _norm_sf(np.abs(est) / se_an)
            return {"se": se_an, "ci_low": est - z * se_an, "ci_high": est + z * se_an, "p_value": p}
        return _placebo_summary(est, draws, alpha)

    exact = False
    assign: np.ndarray | None = None
    draws_att: np.ndarray | None = None
    draws_agg: dict[str, Any] | None = None
    if use_placebo:
        assign, exact = _placebo_assignments(pool, sizes, len(units), n_placebo, seed)
        draws_att = _att_cells(y, assign, cells, not_yet)
        draws_agg = _aggregate(draws_att, cells, sizes)

    # ATT(g, t) table.
    table = pd.DataFrame(
        {
            "group": [label(v) for v in lib_group],
            "time": [label(v) for v in lib_time],
            "event_time": lib_time - lib_group,
            "post": lib_time >= lib_group,
            "att": lib_att,
        }
    )
    for k, v in headline(lib_att, draws_att, lib_se).items():
        table[k] = v
    for k, v in analytic(lib_att, lib_se).items():
        table[k] = v

    def one(est: float, se_an: float, draws: np.ndarray | None) -> dict[str, float]:
        e = np.array([est])
        column = None if draws is None else draws[:, None]
        out = {k: float(v[0]) for k, v in headline(e, column, np.array([se_an])).items()}
        out.update({k: float(v[0]) for k, v in analytic(e, np.array([se_an])).items()})
        return {"estimate": float(est), **out}

    simple = one(
        aggs["simple"]["overall_att"], aggs["simple"]["overall_se"], None if draws_agg is None else draws_agg["simple"]
    )
    group_overall = one(
        aggs["group"]["overall_att"],
        aggs["group"]["overall_se"],
        None if draws_agg is None else draws_agg["group_overall"],
    )
    event_overall = one(
        aggs["dynamic"]["overall_att"],
        aggs["dynamic"]["overall_se"],
        None if draws_agg is None else draws_agg["event_overall"],
    )

    g_est = np.asarray(aggs["group"]["att_egt"], dtype=float)
    g_se = np.asarray(aggs["group"]["se_egt"], dtype=float)
    group_tab = pd.DataFrame({"group": [label(v) for v in real_agg["cohorts"]], "att": g_est})
    group_tab["n_units"] = [sizes[int(c)] for c in real_agg["cohorts"]]
    for k, v in headline(g_est, None if draws_agg is None else draws_agg["group"], g_se).items():
        group_tab[k] = v
    for k, v in analytic(g_est, g_se).items():
        group_tab[k] = v

    e_est = np.asarray(aggs["dynamic"]["att_egt"], dtype=float)
    e_se = np.asarray(aggs["dynamic"]["se_egt"], dtype=float)
    event_tab = pd.DataFrame({"event_time": real_agg["events"], "att": e_est, "post": real_agg["events"] >= 0})
    for k, v in headline(e_est, None if draws_agg is None else draws_agg["event"], e_se).items():
        event_tab[k] = v
    for k, v in analytic(e_est, e_se).items():
        event_tab[k] = v

    pretrend = _pretrend(
        real,
        draws_att,
        assign,
        cells,
        pretrend_periods,
        anticipation,
        scale,
        model.MP.get("W"),
        model.MP.get("Wpval"),
    )
    info = {
        "estimator": "Callaway & Sant'Anna (2021) ATT(g,t), csdid ATTgt est_method='reg' (no covariates)",
        "library": _library_version("csdid"),
        "control_group": control_group,
        "base_period": base_period,
        "anticipation": anticipation,
        "alpha": alpha,
        "time_unit": "month" if datetime_time else "period",
        "n_units": len(units),
        "n_never_treated": n_never,
        "cohorts": {str(json_safe(label(c))): [str(units[i]) for i in np.flatnonzero(unit_g == c)] for c in sizes},
        "dropped_incomplete_units": incomplete,
        "inference": "placebo-in-space" if use_placebo else "analytic (influence function)",
        "n_placebo": 0 if draws_att is None else int(draws_att.shape[0]),
        "placebo_exact": exact,
    }
    return StaggeredDiDResult(
        att_gt=table,
        simple=simple,
        group=group_tab,
        group_overall=group_overall,
        event_time=event_tab,
        event_time_overall=event_overall,
        pretrend=pretrend,
        info=info,
    )


def _pretrend(
    real: np.ndarray,
    draws: np.ndarray | None,
    assign: np.ndarray | None,
    cells: _Cells,
    periods: int | None,
    anticipation: int,
    scale: float,
    lib_w: Any,
    lib_p: Any,
) -> dict[str, Any]:
    """Placebo-calibrated Wald-type test that the pre-treatment ATT(g, t) in the window are all zero.

    ``W = sum_c theta_c^2 / v_c`` over the window's pre-treatment cells, ``v_c`` the placebo variance of
    cell ``c``: a Wald statistic with the diagonal of the placebo covariance as its weight matrix. The full
    covariance is not used because a few dozen cells' covariance estimated from twenty comparators is
    nearly singular, and inverting it inflates the statistic for any unit outside the sample it was
    estimated from (Hotelling's out-of-sample penalty) -- on the synthetic data that rejected parallel
    trends that hold by construction. The reference distribution is the same statistic for each placebo
    draw, with ``v_c`` estimated from the draws that share no pseudo-site with it, so that the real sites
    and the placebos are both scored out of sample.
    """
    lib = {
        "test": "csdid analytic Wald pre-test (R did), all pre-treatment ATT(g,t)",
        "statistic": None if lib_w is None else float(lib_w),
        "p_value": None if lib_p is None else float(lib_p),
        "note": None
        if lib_w is not None
        else "not computable: the analytic covariance of the pre-treatment ATT(g,t) is singular "
        "(more pre-treatment cells than units, or one unit per cohort)",
    }
    pre = (cells.time < cells.group - anticipation) & ~cells.zero
    if periods is not None:
        # Period numbers may have gaps, so the window counts a cohort's pre-treatment cells back from
        # go-live rather than subtracting period numbers.
        rank = np.zeros(len(cells.group), dtype=np.int64)
        for g in np.unique(cells.group):
            idx = np.flatnonzero(pre & (cells.group == g))
            order = np.argsort(-cells.time[idx])
            rank[idx[order]] = np.arange(1, len(idx) + 1)
        pre &= rank <= periods
    theta = real[pre]
    out: dict[str, Any] = {
        "test": "Wald-type test that the pre-treatment ATT(g,t) are all zero (diagonal placebo variance "
        "weighting), referred to the placebo distribution of the same statistic",
        "n_cells": int(pre.sum()),
        "window_periods": periods,
        "max_abs_pre_att": float(np.max(np.abs(theta))) if theta.size else None,
        "library_wald": lib,
    }
    if draws is None or assign is None or not theta.size:
        out.update({"statistic": None, "df": None, "p_value": None, "n_reference": 0})
        return out
    sample = draws[:, pre]
    # Cells where the comparators never vary (noise-free data) carry no information unless the site moves.
    floor = (1e-9 * scale) ** 2

    def statistic(x: np.ndarray, var: np.ndarray) -> np.ndarray:
        flat = var <= floor
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(flat, np.where(x**2 <= floor, 0.0, np.inf), x**2 / np.where(flat, 1.0, var))
        return terms.sum(axis=-1)

    stat = float(statistic(theta, np.var(sample, axis=0, ddof=1)))
    pseudo = (assign > 0).astype(float)
    disjoint = ((pseudo @ pseudo.T) == 0).astype(float)
    n_ok = disjoint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = disjoint @ sample / n_ok
        var = (disjoint @ sample**2 - n_ok * mean**2) / (n_ok - 1)
    null = statistic(sample, np.where(n_ok > 1, np.maximum(var, 0.0), np.nan))
    null = null[~np.isnan(null)]
    out.update(
        {
            "statistic": stat,
            "df": int(pre.sum()),
            "p_value": float((1 + np.sum(null >= stat * (1 - 1e-12))) / (1 + len(null))),
            "n_reference": len(null),
        }
    )
    return out


def _norm_ppf(q: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q))


def _norm_sf(x: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.norm.sf(x)


def _library_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:  # pragma: no cover - the import above would have failed first
        return name


# --- from the measure panel ---------------------------------------------------------------------------------


def _panel_measure(panel: pd.DataFrame, measure_id: str, orgs: Sequence[str]) -> pd.DataFrame:
    """Monthly, unsuppressed, non-missing rows of one measure for the given organisations.

    Final and provisional rows are both used (the panel already lets a final row replace its provisional
    one); quarterly and rolling 12-month rows never enter a monthly design.
    """
    sel = panel[
        (panel["measure_id"] == measure_id)
        & (panel["period_type"] == "month")
        & panel["org_code"].isin(list(orgs))
        & ~panel["suppressed"].astype(bool)
        & panel["value"].notna()
    ]
    out = sel[["org_code", "period", "value"]].copy()
    out["period"] = pd.to_datetime(out["period"])
    return out.sort_values(["org_code", "period"], kind="mergesort").reset_index(drop=True)


def _month(value: Any, what: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.day != 1:
        raise ValueError(f"{what} must be the first day of a month, got {value!r}")
    return ts.normalize()


def site_vs_comparators(
    panel: pd.DataFrame,
    *,
    measure_id: str,
    site_org: str,
    comparator_orgs: Sequence[str],
    intervention: Any,
    value_type: ValueType,
    placebo: bool = True,
) -> dict[str, Any]:
    """Comparative ITS and synthetic control of one site against the comparator pool, from the panel.

    Outcome scales (so that organisations of different sizes are comparable):

    * comparative ITS works on the link scale of ``value_type`` -- log counts, logit proportions, rates as
      they are -- where size is a constant the site-minus-comparators gap absorbs; the step is a rate
      ratio, odds ratio or difference;
    * synthetic control needs every unit on the same footing, because its weights average levels: counts
      are divided by the unit's own pre-period mean (an index, 1 = that unit's pre-period average), so
      ``mean_gap`` is a share of the site's pre-period level; proportions and rates are used as they are.

    Returns a JSON-safe dict with ``comparative_its`` and ``synthetic_control`` (see those functions), the
    periods, and the comparators used; a design that cannot run (too short a series, too few donors) is
    reported under ``errors`` rather than failing the other one.
    """
    _check_value_type(value_type)
    start = _month(intervention, "intervention")
    comps = [c for c in comparator_orgs if c != site_org]
    data = _panel_measure(panel, measure_id, [site_org, *comps])
    if site_org not in set(data["org_code"]):
        raise ValueError(f"no usable monthly {measure_id} values for {site_org!r}")
    result: dict[str, Any] = {
        "measure_id": measure_id,
        "site_org": site_org,
        "intervention_date": start,
        "value_type": value_type,
        "comparators_requested": list(comps),
        "errors": {},
    }
    try:
        result["comparative_its"] = comparative_its(
            data,
            unit="org_code",
            time="period",
            outcome="value",
            treated_unit=site_org,
            treatment_time=start,
            value_type=value_type,
            comparators=comps,
        )
    except ValueError as exc:
        result["comparative_its"] = None
        result["errors"]["comparative_its"] = str(exc)

    sc_data = data.copy()
    if value_type == "count":
        pre_mean = sc_data[sc_data["period"] < start].groupby("org_code")["value"].mean()
        sc_data["value"] = sc_data["value"] / sc_data["org_code"].map(pre_mean)
        sc_data = sc_data[np.isfinite(sc_data["value"])]
        outcome_desc = "value divided by the organisation's own pre-period mean (index, 1 = pre-period average)"
    else:
        outcome_desc = "value as published"
    try:
        result["synthetic_control"] = synthetic_control(
            sc_data,
            unit="org_code",
            time="period",
            outcome="value",
            treated_unit=site_org,
            treatment_time=start,
            donors=comps,
            placebo=placebo,
        )
        result["synthetic_control"]["outcome"] = outcome_desc
    except ValueError as exc:
        result["synthetic_control"] = None
        result["errors"]["synthetic_control"] = str(exc)
    return json_safe(result)


def staggered_from_panel(
    panel: pd.DataFrame,
    *,
    measure_id: str,
    sites: Mapping[str, Any],
    comparator_orgs: Sequence[str],
    value_type: ValueType,
    control_group: Literal["never_treated", "not_yet_treated"] = "never_treated",
    n_placebo: int = 999,
    pretrend_periods: int | None = 12,
    seed: int = 20240401,
) -> dict[str, Any]:
    """Staggered difference-in-differences of the sites (org code -> go-live month) against the comparators.

    The outcome is put on the link scale of ``value_type`` (log counts, logit proportions, rates as they
    are) so that organisation size drops out of the differences; effects on that scale are also given on the
    natural scale (``natural``: exp for rate or odds ratios, unchanged for rate differences). Returns
    :meth:`StaggeredDiDResult.to_dict` plus the measure, the sites and the scale.
    """
    _check_value_type(value_type)
    starts = {org: _month(month, f"sites[{org!r}]") for org, month in sites.items()}
    comps = [c for c in comparator_orgs if c not in starts]
    data = _panel_measure(panel, measure_id, [*starts, *comps])
    data["y"] = _link(data["value"].to_numpy(), value_type)
    data = data[np.isfinite(data["y"])]
    data["first_treated"] = data["org_code"].map(starts)
    res = staggered_did(
        data,
        unit="org_code",
        time="period",
        outcome="y",
        first_treated="first_treated",
        control_group=control_group,
        n_placebo=n_placebo,
        pretrend_periods=pretrend_periods,
        seed=seed,
    )
    out = res.to_dict()

    def natural(d: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: (None if d.get(k) is None else _natural(float(d[k]), value_type))
            for k in ("estimate", "ci_low", "ci_high")
        }

    out["simple"]["natural"] = natural(out["simple"])
    out["group"]["overall"]["natural"] = natural(out["group"]["overall"])
    out["event_time"]["overall"]["natural"] = natural(out["event_time"]["overall"])
    for row in out["group"]["by_group"]:
        row["natural"] = natural({"estimate": row["att"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]})
    out.update(
        {
            "measure_id": measure_id,
            "value_type": value_type,
            "scale": _SCALES[value_type],
            "link": _LINKS[value_type],
            "sites": {org: start for org, start in starts.items()},
            "comparators_requested": list(comps),
        }
    )
    return json_safe(out)
