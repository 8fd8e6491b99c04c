"""Comparative interrupted time series: one site against the mean of its comparator pool."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaluation.methods.comparative_common import (
    _LINKS,
    _SCALES,
    ValueType,
    _balanced_donors,
    _check_value_type,
    _is_datetime,
    _link,
    _min_months,
    _month_ordinal,
    _natural,
    _to_time_like,
    _wide,
)
from evaluation.methods.plain import json_safe

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
    errors: Literal["ar1_kr", "ar1", "hac"] = "ar1_kr",
    maxlags: int | None = None,
    harmonics: int = 2,
    covid: tuple[str, str] | str | None = "default",
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

    With month-start dates the gap model also has Fourier seasonality (``harmonics`` pairs) and the COVID-19
    indicator (``covid``; the data dictionary's window by default): seasonal patterns and pandemic
    disruption that differ between the site and its comparators would otherwise be read as effects.

    The errors are not clustered by organisation -- with one treated organisation that is degenerate --
    but modelled on the gap series with the same inference as the main ITS (``errors="ar1_kr"``, default):
    AR(1) errors estimated by REML and Kenward-Roger intervals (:func:`evaluation.methods.its.fit_its` with
    ``value_type="rate"`` on the gap). The plug-in feasible GLS of statsmodels ``GLSAR`` (``errors="ar1"``,
    the previous default) under-covered with 8 post months (90.7% in the issue's simulation); Newey-West
    HAC errors on OLS (``errors="hac"``) are kept for comparison. ``primary`` is the average effect over
    the first 12 months from go-live (step and slope together) on the link scale, with its natural-scale
    reading (percent for counts, percentage points for proportions -- at the site's observed post-period
    level -- and points for rates).

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
        ``"ar1_kr"`` (default), ``"ar1"`` or ``"hac"``.
    harmonics, covid:
        Seasonality and COVID-19 terms of the gap model (dated series only; see above).
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
    if errors not in ("ar1_kr", "ar1", "hac"):
        raise ValueError(f"errors must be 'ar1_kr', 'ar1' or 'hac', got {errors!r}")

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
    primary: dict[str, Any] | None = None
    if errors == "ar1_kr":
        its, did, model, primary = _fit_gap_kr(gap, times, treatment_time, dated, harmonics, covid, alpha,
                                               value_type, sub[treated_unit].to_numpy())
        rho_its, rho_did = model["ar1_rho"], model["ar1_rho_did"]
    else:
        x_its = np.column_stack([np.ones_like(trend), trend, post, since])
        its_res, rho_its = _fit_gap(gap, x_its, errors, lags)
        did_res, rho_did = _fit_gap(gap, np.column_stack([np.ones_like(post), post]), errors, lags)
        its = {"step": _sm_estimate(its_res, 2, alpha), "slope": _sm_estimate(its_res, 3, alpha)}
        did = _sm_estimate(did_res, 1, alpha)
        model = {
            "estimator": "GLS with plug-in AR(1) errors (statsmodels GLSAR)" if errors == "ar1"
            else "OLS with Newey-West HAC errors (statsmodels)",
            "ar1_rho": rho_its, "ar1_rho_did": rho_did, "hac_maxlags": lags if errors == "hac" else None,
            "residual_sd": float(np.sqrt(its_res.scale)), "pre_trend_link": float(its_res.params[1]),
        }  # fmt: skip

    def estimate(link: dict[str, float]) -> dict[str, float]:
        return {
            "estimate": _natural(link["b"], value_type),
            "ci_low": _natural(link["lo"], value_type),
            "ci_high": _natural(link["hi"], value_type),
            "p_value": link["p"],
            "estimate_link": link["b"],
            "se_link": link["se"],
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
            "step": estimate(its["step"]),
            "slope": estimate(its["slope"]),
            "did": estimate(did),
            "primary": primary,
            "model": {"outcome": "site minus comparator mean, link scale", **model},
        }
    )


def _sm_estimate(res: Any, i: int, alpha: float) -> dict[str, float]:
    lo, hi = (float(v) for v in res.conf_int(alpha=alpha)[i])
    return {"b": float(res.params[i]), "se": float(res.bse[i]), "lo": lo, "hi": hi, "p": float(res.pvalues[i])}


def _fit_gap_kr(
    gap: np.ndarray, times: pd.Index, treatment_time: Any, dated: bool, harmonics: int,
    covid: tuple[str, str] | str | None, alpha: float, value_type: str, site_link: np.ndarray,
) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, Any], dict[str, Any]]:
    """The gap model with AR(1) REML / Kenward-Roger inference (fit_its on the gap as a rate series)."""
    from scipy import stats

    from evaluation.methods.its import covid_window, fit_its, segmented_design
    from evaluation.methods.its_inference import fit_ar1_pseudo_likelihood

    if dated:
        periods = pd.DatetimeIndex(times)
        go = pd.Timestamp(treatment_time)
    else:  # integer periods: consecutive months from an arbitrary origin, no seasonality or COVID term
        k = np.asarray(times, dtype=np.int64)
        periods = pd.DatetimeIndex([pd.Timestamp("2000-01-01") + pd.DateOffset(months=int(v - k[0])) for v in k])
        go = pd.Timestamp("2000-01-01") + pd.DateOffset(months=int(np.ceil(float(treatment_time) - k[0])))
        harmonics, covid = 0, None
    series = pd.DataFrame({"period": periods, "value": gap})
    x_ols = np.column_stack([np.ones(len(gap)), np.arange(len(gap)), (periods >= go).astype(float)])
    resid = gap - x_ols @ np.linalg.lstsq(x_ols, gap, rcond=None)[0]
    exact = float(resid @ resid) <= 1e-20 * max(1.0, float(gap @ gap))
    cov_type = "nonrobust" if exact else "ar1_kr"  # a noise-free gap has no error process to estimate
    res = fit_its(series, intervention=go, value_type="rate", covid=covid, harmonics=harmonics, cov_type=cov_type,
                  alpha=alpha)

    def link(e: Any) -> dict[str, float]:
        return {"b": e.estimate, "se": e.se, "lo": e.ci_low, "hi": e.ci_high, "p": e.p_value}

    assert res.slope is not None
    its = {"step": link(res.step), "slope": link(res.slope)}
    # Difference in differences: level shift only, same error model (GLS, AR(1) by REML, Kenward-Roger).
    cols = [c for c in res.params if c not in ("time", "slope")]
    design = segmented_design(series, go, covid_window(covid), harmonics, False).reindex(
        columns=[c for c in cols if c != "post"] + ["post"], fill_value=0.0)
    x_did = design.loc[:, (design != 0).any(axis=0)].to_numpy(dtype=float)
    j = x_did.shape[1] - 1
    if exact:
        b = np.linalg.lstsq(x_did, gap, rcond=None)[0]
        did = {"b": float(b[j]), "se": 0.0, "lo": float(b[j]), "hi": float(b[j]), "p": float("nan")}
        rho_did = 0.0
    else:
        months = np.asarray(periods.year * 12 + periods.month, dtype=float)
        fit = fit_ar1_pseudo_likelihood(x_did, gap, "rate", months, np.zeros(x_did.shape[1]))
        c = np.zeros(x_did.shape[1])
        c[j] = 1.0
        se = float(np.sqrt(fit.cov[j, j]))
        df = fit.df_for(c)
        q = float(stats.t.ppf(1 - alpha / 2, df))
        b = float(fit.beta[j])
        did = {"b": b, "se": se, "lo": b - q * se, "hi": b + q * se,
               "p": float(2 * stats.t.sf(abs(b / se), df)) if se > 0 else float("nan")}
        rho_did = fit.rho
    pe = res.primary_estimand()
    primary = {
        "months": pe.months, "complete": pe.complete, "note": pe.note,
        "link": {"estimate": pe.absolute.estimate, "ci_low": pe.absolute.ci_low, "ci_high": pe.absolute.ci_high,
                 "se": pe.absolute.se, "df": pe.absolute.df, "p_value": pe.absolute.p_value},
        **_primary_natural(value_type, pe.absolute.estimate, pe.absolute.ci_low, pe.absolute.ci_high,
                           site_link[(periods >= go)][: pe.months]),
    }  # fmt: skip
    model = {
        "estimator": "GLS with AR(1) errors by REML, Kenward-Roger intervals (as the main ITS)"
        if not exact else "OLS (the gap is fitted exactly: no error process to estimate)",
        "ar1_rho": None if res.error_model is None else res.error_model["rho"], "ar1_rho_did": rho_did,
        "hac_maxlags": None, "harmonics": harmonics, "covid_term": "covid" in res.params,
        "residual_sd": None if res.error_model is None else res.error_model["latent_sd"],
        "pre_trend_link": res.params["time"],
    }  # fmt: skip
    return its, did, model, primary


def _primary_natural(value_type: str, b: float, lo: float, hi: float, site_post_link: np.ndarray) -> dict[str, Any]:
    """The link-scale average effect read on the natural scale: percent for counts; for proportions the
    change in percentage points at the site's observed post-go-live level (the counterfactual is the observed
    logit minus the effect); points for rates."""
    if value_type == "count":
        vals = [100.0 * math.expm1(v) for v in (b, lo, hi)]
        scale = "percent"
    elif value_type == "proportion":
        obs = site_post_link[np.isfinite(site_post_link)]

        def pp(d: float) -> float:
            return 100.0 * float(np.mean(1 / (1 + np.exp(-obs)) - 1 / (1 + np.exp(-(obs - d)))))

        vals = [pp(b), pp(lo), pp(hi)]
        scale = "percentage_points"
    else:
        vals, scale = [b, lo, hi], "points"
    return {"relative": {"estimate": vals[0], "ci_low": vals[1], "ci_high": vals[2]}, "relative_scale": scale}


