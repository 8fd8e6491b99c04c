"""The primary estimand of an interrupted time series, its minimum detectable effect and prediction bands.

**Primary estimand** (pre-specified in ``data_dictionary/analysis.yaml``, ``its.primary_horizon_months``):
the average effect over the first 12 months from go-live -- fitted minus counterfactual, step and slope
change together -- or over the months from go-live to the end of the data when fewer (``months`` says
how many, ``complete`` whether the full horizon was reached). It is reported two ways:

* ``absolute``: the average change per month in the measure's own units (counts a month, a proportion,
  or the rate's units), ``mean_h (mu_f(h) - mu_c(h))``;
* ``relative`` on the natural scale: for counts the percent change of the total over those months,
  ``100 (sum mu_f / sum mu_c - 1)``, with its interval built on the log scale (so it never goes below
  -100%); for proportions and rates the change in percentage points (100 x the absolute change for a
  proportion; the absolute change itself for a rate, which in this workbook is a percentage).

No odds ratio appears: a logit-scale coefficient is a modelling device, not a finding. Intervals are
delta-method intervals on the fit's covariance (Kenward-Roger by default) with t quantiles on the
contrast's Kenward-Roger degrees of freedom.

**Minimum detectable effect**: the smallest true primary estimand a two-sided test at level ``alpha``
would detect with probability ``power`` at this site's design (its months, noise and autocorrelation):
``(t_{1-alpha/2} + t_{power}) x SE`` on the estimand's scale (Bloom 1995), with the SE of this fit.

**Prediction bands**: the range within which a month's observed value would be expected to fall had
nothing changed -- the counterfactual mean's uncertainty plus the month-to-month variation the model
estimates (the AR(1) latent variance and the Poisson or binomial sampling variance, or the
quasi-likelihood dispersion for the other ``cov_type`` options). Distinct from the confidence band of the
counterfactual mean (``cf_low`` / ``cf_high``), which only says how well the mean is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "EffectInterval",
    "ITSModel",
    "MinimumDetectableEffect",
    "PrimaryEstimand",
    "minimum_detectable_effect",
    "prediction_band",
    "primary_estimand",
]


@dataclass(frozen=True)
class EffectInterval:
    """An effect with its 95% (1 - alpha) interval, standard error, degrees of freedom and two-sided p."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    df: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        """JSON-friendly dict (an infinite df, meaning a normal reference, stays ``inf``)."""
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class MinimumDetectableEffect:
    """Smallest true primary estimand detectable with ``power`` by a two-sided test at ``alpha``.

    ``absolute`` is a magnitude in the measure's units (either direction); ``relative_decrease`` (negative)
    and ``relative_increase`` (positive) are on the relative scale of the estimand (percent for counts,
    asymmetric because the interval is built on the log scale; percentage points otherwise, symmetric).
    """

    absolute: float
    relative_decrease: float
    relative_increase: float
    relative_scale: str
    power: float
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return asdict(self)


@dataclass(frozen=True)
class PrimaryEstimand:
    """The average effect over the first ``horizon_months`` months from go-live (see the module docstring).

    ``months`` is the number of calendar months averaged over (``horizon_months``, or fewer when the data
    end sooner: ``complete`` is then False); ``n_post_used`` how many of them have an observed value;
    ``first_month`` / ``last_month`` ISO dates. ``absolute`` is in the measure's units per month
    (``absolute_units``); ``relative`` in percent (counts) or percentage points (proportions, rates), as
    ``relative_scale`` says. ``fitted_mean`` / ``counterfactual_mean`` are the average fitted and expected
    values over those months. ``mde`` is the minimum detectable effect at this design.
    """

    horizon_months: int
    months: int
    n_post_used: int
    complete: bool
    first_month: str
    last_month: str
    absolute: EffectInterval
    absolute_units: str
    relative: EffectInterval
    relative_scale: str
    fitted_mean: float
    counterfactual_mean: float
    mde: MinimumDetectableEffect
    alpha: float

    @property
    def note(self) -> str:
        """Plain statement of the months averaged over (says so when fewer than the horizon)."""
        if self.complete:
            return f"average over the first {self.months} months from go-live"
        return (f"average over the {self.months} months from go-live that the data cover (the pre-specified "
                f"estimand is the first {self.horizon_months})")

    @property
    def includes_no_change(self) -> bool:
        """Whether the interval of the absolute effect includes zero."""
        return self.absolute.ci_low <= 0.0 <= self.absolute.ci_high

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of everything above, including ``note`` and ``includes_no_change``."""
        out = asdict(self)
        out["note"] = self.note
        out["includes_no_change"] = self.includes_no_change
        return out


@dataclass(frozen=True)
class ITSModel:
    """What a fitted segmented regression keeps for estimands beyond the coefficients.

    ``row_at(h)`` gives the design row (with the intervention terms on), its log exposure and its observed
    denominator (NaN when not a proportion or not observed) for the h-th month from go-live, or None past
    the end of the data; ``observed_months`` the month-start dates with data. ``switch`` are the column
    indices of the intervention terms (set to zero for the counterfactual). ``dfs_for`` maps contrast rows
    to their degrees of freedom (inf: normal reference). ``latent_var`` is the AR(1) latent variance on the
    link scale (None when the error model has none) and ``dispersion`` the quasi-likelihood scale.
    """

    value_type: str
    go_live: pd.Timestamp
    last_month: pd.Timestamp
    observed_months: frozenset[pd.Timestamp]
    beta: np.ndarray
    cov: np.ndarray
    switch: tuple[int, ...]
    row_at: Callable[[int], tuple[pd.Timestamp, np.ndarray, float] | None]
    dfs_for: Callable[[np.ndarray], np.ndarray]
    latent_var: float | None
    dispersion: float


def _t_ppf(q: float, df: float) -> float:
    return float(stats.norm.ppf(q)) if math.isinf(df) else float(stats.t.ppf(q, df))


def _p_value(est: float, se: float, df: float) -> float:
    if se <= 0:
        return float("nan")
    z = abs(est / se)
    return float(2 * (stats.norm.sf(z) if math.isinf(df) else stats.t.sf(z, df)))


def _se(g: np.ndarray, cov: np.ndarray) -> float:
    return float(math.sqrt(max(float(g @ cov @ g), 0.0)))


def _interval(est: float, g: np.ndarray, model: ITSModel, alpha: float, factor: float = 1.0) -> EffectInterval:
    se = _se(g, model.cov)
    df = float(model.dfs_for(g)[0])
    q = _t_ppf(1 - alpha / 2, df)
    return EffectInterval(factor * est, factor * (est - q * se), factor * (est + q * se), factor * se, df,
                          _p_value(est, se, df))


def _log_interval(log_est: float, g: np.ndarray, model: ITSModel, alpha: float) -> EffectInterval:
    """Percent change 100 (exp(L) - 1) with the interval transformed from the log scale."""
    se = _se(g, model.cov)
    df = float(model.dfs_for(g)[0])
    q = _t_ppf(1 - alpha / 2, df)
    pct = lambda v: 100.0 * float(np.expm1(v))  # noqa: E731
    return EffectInterval(pct(log_est), pct(log_est - q * se), pct(log_est + q * se), se, df,
                          _p_value(log_est, se, df))


def minimum_detectable_effect(se: float, df: float, *, power: float, alpha: float) -> float:
    """``(t_{1-alpha/2, df} + t_{power, df}) x se``: the true effect a two-sided test at ``alpha`` detects with
    probability ``power`` (ignoring the negligible chance of rejecting in the wrong direction)."""
    if not (0 < power < 1 and 0 < alpha < 1):
        raise ValueError(f"power and alpha must be in (0, 1), got {power}, {alpha}")
    return (_t_ppf(1 - alpha / 2, df) + _t_ppf(power, df)) * se


def primary_estimand(model: ITSModel, *, horizon: int, alpha: float = 0.05, power: float = 0.8,
                     mde_alpha: float = 0.05) -> PrimaryEstimand:
    """The average effect over the first ``horizon`` months from go-live; see the module docstring."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    rows = []
    for h in range(1, horizon + 1):
        found = model.row_at(h)
        if found is None:
            break
        rows.append(found)
    if not rows:  # cannot happen for a fitted model (it has post months), but say so plainly
        raise ValueError("the series has no month from go-live on")
    periods = [r[0] for r in rows]
    xf = np.vstack([r[1] for r in rows])
    off = np.array([r[2] for r in rows])
    xc = xf.copy()
    xc[:, list(model.switch)] = 0.0
    eta_f, eta_c = xf @ model.beta + off, xc @ model.beta + off
    m = len(rows)
    vt = model.value_type
    if vt == "count":
        mu_f, mu_c = np.exp(eta_f), np.exp(eta_c)
        g_abs = (mu_f @ xf - mu_c @ xc) / m
        g_log = (mu_f @ xf) / mu_f.sum() - (mu_c @ xc) / mu_c.sum()
        absolute = _interval(float(np.mean(mu_f - mu_c)), g_abs, model, alpha)
        relative = _log_interval(math.log(mu_f.sum()) - math.log(mu_c.sum()), g_log, model, alpha)
        units, rel_scale = "count per month", "percent"
        k = minimum_detectable_effect(1.0, relative.df, power=power, alpha=mde_alpha)
        # A huge standard error (a near-empty series) must give an unbounded MDE, never an overflow.
        mde_rel = (100.0 * math.expm1(max(-k * relative.se, -700.0)), 100.0 * math.expm1(min(k * relative.se, 700.0)))
    elif vt == "proportion":
        mu_f, mu_c = 1 / (1 + np.exp(-eta_f)), 1 / (1 + np.exp(-eta_c))
        g_abs = ((mu_f * (1 - mu_f)) @ xf - (mu_c * (1 - mu_c)) @ xc) / m
        absolute = _interval(float(np.mean(mu_f - mu_c)), g_abs, model, alpha)
        relative = _interval(float(np.mean(mu_f - mu_c)), g_abs, model, alpha, factor=100.0)
        units, rel_scale = "proportion", "percentage_points"
        k = minimum_detectable_effect(1.0, relative.df, power=power, alpha=mde_alpha)
        mde_rel = (-k * relative.se, k * relative.se)
    else:
        mu_f, mu_c = eta_f, eta_c
        g_abs = (xf - xc).mean(axis=0)
        absolute = _interval(float(np.mean(mu_f - mu_c)), g_abs, model, alpha)
        relative = absolute
        units, rel_scale = "rate units (percentage points)", "percentage_points"
        k = minimum_detectable_effect(1.0, relative.df, power=power, alpha=mde_alpha)
        mde_rel = (-k * relative.se, k * relative.se)
    k_abs = minimum_detectable_effect(1.0, absolute.df, power=power, alpha=mde_alpha)
    mde = MinimumDetectableEffect(k_abs * absolute.se, mde_rel[0], mde_rel[1], rel_scale, power, mde_alpha)
    return PrimaryEstimand(
        horizon_months=int(horizon), months=m, n_post_used=sum(p in model.observed_months for p in periods),
        complete=m == horizon, first_month=f"{periods[0]:%Y-%m-%d}", last_month=f"{periods[-1]:%Y-%m-%d}",
        absolute=absolute, absolute_units=units, relative=relative, relative_scale=rel_scale,
        fitted_mean=float(np.mean(mu_f)), counterfactual_mean=float(np.mean(mu_c)), mde=mde, alpha=alpha,
    )  # fmt: skip


def prediction_band(
    value_type: str,
    eta_cf: np.ndarray,
    se_cf: np.ndarray,
    q: np.ndarray,
    *,
    latent_var: float | None,
    dispersion: float,
    trials: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper prediction limits, on the display scale, for a month's observed value had nothing
    changed.

    On the link scale the predictive variance is the counterfactual mean's variance ``se_cf**2`` plus the
    month-to-month variation: the AR(1) latent variance (when the error model has one) plus the sampling
    variance on the link scale (Poisson ``1 / mu``, binomial ``1 / (n p (1 - p))``), or the quasi-likelihood
    dispersion times the sampling variance when there is no latent process (for rates: the dispersion, the
    residual variance). ``q`` is the interval multiplier per month.
    """
    var = se_cf**2
    if value_type == "count":
        mu = np.exp(eta_cf)
        sampling = 1.0 / mu
    elif value_type == "proportion":
        p = 1 / (1 + np.exp(-eta_cf))
        n = np.ones_like(p) if trials is None else np.asarray(trials, dtype=float)
        sampling = 1.0 / (n * p * (1 - p))
    else:
        sampling = np.zeros_like(eta_cf)
    if latent_var is not None:
        var = var + latent_var + sampling
    elif value_type == "rate":
        var = var + dispersion
    else:
        var = var + dispersion * sampling
    half = q * np.sqrt(var)
    lo, hi = eta_cf - half, eta_cf + half
    if value_type == "count":
        return np.exp(lo), np.exp(hi)
    if value_type == "proportion":
        return 1 / (1 + np.exp(-lo)), 1 / (1 + np.exp(-hi))
    return lo, hi
