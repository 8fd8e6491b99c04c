"""Interrupted time series (ITS) analysis by segmented regression.

Follows Lopez Bernal, Cummins & Gasparrini (2017), "Interrupted time series regression for the
evaluation of public health interventions: a tutorial", Int J Epidemiol 46(1):348-355.

The model for a monthly series is::

    g(E[y_t]) = b0 + b_time*time + b_post*post + b_slope*slope + seasonality + covid [+ offset]

where ``time`` counts months from 1 at the first period, ``post`` is 1 from the intervention month
on and ``slope`` is the number of months since the intervention counting the go-live month as 1
(``(time - time_before_intervention) * post``). Seasonality is a Fourier series in calendar month.

The family follows the kind of measure:

* counts -> quasi-Poisson GLM, log link, optional exposure offset (reported as rate ratios);
* proportions -> quasi-binomial GLM, logit link (reported as odds ratios);
* rates -> Gaussian, identity link (reported as differences).

By default the month-to-month variation beyond these terms is modelled as an AR(1) process on the link
scale (on top of Poisson or binomial sampling noise), fitted by restricted pseudo-likelihood with
Kenward-Roger intervals: see :func:`fit_ar1_pseudo_likelihood` and ``cov_type`` of :func:`fit_its`.

Beyond the step and slope, a fit reports what a careful reader asks next: the effect 12 and 24 months
after go-live on the display scale (``effects``), whether the family's variance held
(``overdispersion_test``), whether the residuals are still autocorrelated (``autocorrelation_test``) and
the data for a residual/ACF panel (:func:`diagnostics`). :func:`placebo_its` and
:func:`covid_sensitivity` are the falsification and sensitivity analyses of the tutorial's checklist.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.stats.stattools import durbin_watson
from statsmodels.tsa.stattools import acf

from evaluation.dictionary.registry import AnalysisFacts, default_registry
from evaluation.methods.its_estimand import ITSModel, PrimaryEstimand, prediction_band, primary_estimand
from evaluation.methods.its_inference import AR1Fit, ar1_covariance, fit_ar1_pseudo_likelihood
from evaluation.methods.plain import json_safe

__all__ = [
    "EFFECT_HORIZONS",
    "AR1Fit",
    "Estimate",
    "ITSResult",
    "covid_sensitivity",
    "covid_window",
    "default_hac_maxlags",
    "diagnostics",
    "fit_ar1_pseudo_likelihood",
    "fit_its",
    "placebo_its",
    "segmented_design",
]

_FAMILIES: dict[str, tuple[str, str]] = {
    # value_type -> (model name, scale of step/slope estimates)
    "count": ("quasi-poisson", "rate_ratio"),
    "proportion": ("quasi-binomial", "odds_ratio"),
    "rate": ("gaussian", "difference"),
}
_COV_TYPES = ("ar1_kr", "ar1", "HAC", "nonrobust")
#: Months after go-live at which :attr:`ITSResult.effects` reports the effect (month 1 = go-live month).
EFFECT_HORIZONS: tuple[int, ...] = (12, 24)
#: Ljung-Box test length: a year of monthly lags, so residual seasonality the harmonics missed shows up.
LJUNG_BOX_LAGS = 12
#: ACF lags for the diagnostics panel: two years.
ACF_LAGS = 24


def analysis_facts() -> AnalysisFacts:
    """The analysis facts (``data_dictionary/analysis.yaml``): minimum months, COVID-19 window, horizons."""
    return default_registry().analysis


def covid_window(covid: tuple[str, str] | str | None) -> tuple[str, str] | None:
    """``"default"`` -> the registry's COVID-19 window; a (start, end) pair or None as given."""
    if isinstance(covid, str):
        if covid != "default":
            raise ValueError(f"covid must be 'default', a (start, end) pair or None, got {covid!r}")
        return analysis_facts().covid.months
    return covid


@dataclass(frozen=True)
class Estimate:
    """One model coefficient on its natural scale.

    ``estimate``, ``ci_low`` and ``ci_high`` are on the natural scale (exp of the coefficient for
    log/logit links, the coefficient itself for the identity link); ``se`` is the standard error of
    the coefficient on the link scale; ``p_value`` is two-sided, from the t distribution with the fit's
    degrees of freedom ("ar1_kr", "ar1") or the normal ("HAC", "nonrobust").
    """

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        """Return the estimate as a JSON-safe dict of floats."""
        return {
            "estimate": float(self.estimate),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "se": float(self.se),
            "p_value": float(self.p_value),
        }


@dataclass
class ITSResult:
    """Result of :func:`fit_its`.

    ``slope`` is ``None`` when the model was fitted without a slope change. ``frame`` has one row per
    period used in the fit with columns ``period``, ``observed`` (the series' ``value``), ``fitted``,
    ``counterfactual``, ``cf_low``, ``cf_high`` (confidence band of the counterfactual *mean*),
    ``cf_pred_low``, ``cf_pred_high`` (prediction band: the range a month's value would be expected in had
    nothing changed) and ``post``; fitted and counterfactual values are on the display scale (expected
    counts including any offset, probabilities, or rate values).

    :meth:`primary_estimand` gives the pre-specified primary estimand (average effect over the first 12
    months from go-live, absolute and relative, with its minimum detectable effect).
    """

    value_type: str
    model: str
    scale: str
    step: Estimate
    slope: Estimate | None
    pre_slope: Estimate
    dispersion: float
    cov_type: str
    hac_maxlags: int | None
    n_pre: int
    n_post: int
    frame: pd.DataFrame
    params: dict[str, float]
    autocorrelation: float = 0.0  # lag-1 autocorrelation of the Pearson residuals (before correction)
    # Effect at each of EFFECT_HORIZONS months after go-live, keyed "12", "24" (strings, for JSON):
    # {"period", "months_after", "fitted", "counterfactual", "absolute": {estimate, ci_low, ci_high},
    # "relative": {...} or None}; None for a horizon the series does not reach.
    effects: dict[str, dict[str, Any] | None] | None = None
    # Pearson chi2 test of the Poisson/binomial variance; None for rates (Gaussian has no fixed variance).
    overdispersion_test: dict[str, Any] | None = None
    # Ljung-Box (to lag 12) and Durbin-Watson on the Pearson residuals.
    autocorrelation_test: dict[str, Any] | None = None
    # One row per month used: period, residual (Pearson, independence fit), normalized (what is left
    # once the fitted error model is allowed for), post; kept out of ``frame`` so that frame's columns
    # stay as documented.
    residuals: pd.DataFrame | None = None
    # For cov_type "ar1_kr": the REML AR(1) correlation ``rho``, the SD of the latent AR(1) process on
    # the link scale ``latent_sd``, the step's Kenward-Roger/Satterthwaite ``step_df`` and the
    # pseudo-likelihood ``iterations``; None for the other options.
    error_model: dict[str, float] | None = None
    # What :meth:`primary_estimand` needs from the fit (coefficients, covariance, design rows by month).
    model_state: ITSModel | None = field(default=None, repr=False, compare=False)
    alpha: float = 0.05

    def primary_estimand(self, horizon: int | None = None) -> PrimaryEstimand:
        """The average effect over the first ``horizon`` months from go-live (default: ``analysis.yaml``
        its.primary_horizon_months, 12), step and slope together, as an absolute change per month and a
        relative change (percent for counts, percentage points otherwise), with intervals and the minimum
        detectable effect (``analysis.yaml`` its.mde_power, its.mde_alpha). See
        :mod:`evaluation.methods.its_estimand`."""
        if self.model_state is None:
            raise ValueError("this result has no model state (it was not made by fit_its)")
        facts = analysis_facts().its
        return primary_estimand(
            self.model_state, horizon=facts.primary_horizon_months if horizon is None else int(horizon),
            alpha=self.alpha, power=facts.mde_power, mde_alpha=facts.mde_alpha,
        )  # fmt: skip

    def diagnostics(self) -> dict[str, Any]:
        """Residual and ACF data for a diagnostics panel; see :func:`diagnostics`."""
        return diagnostics(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the headline results as a JSON-safe dict (no frame)."""
        return {
            "value_type": self.value_type,
            "scale": self.scale,
            "model": self.model,
            "cov_type": self.cov_type,
            "hac_maxlags": None if self.hac_maxlags is None else int(self.hac_maxlags),
            "dispersion": float(self.dispersion),
            "autocorrelation": float(self.autocorrelation),
            "n_pre": int(self.n_pre),
            "n_post": int(self.n_post),
            "step": self.step.to_dict(),
            "slope": None if self.slope is None else self.slope.to_dict(),
            "pre_slope": self.pre_slope.to_dict(),
            "effects": json_safe(self.effects),
            "overdispersion_test": json_safe(self.overdispersion_test),
            "autocorrelation_test": json_safe(self.autocorrelation_test),
            "error_model": json_safe(self.error_model),
        }


def default_hac_maxlags(n: int) -> int:
    """Newey-West (1994) rule-of-thumb lag length, ``floor(4 * (n / 100) ** (2 / 9))``."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


def _month_start(values: Any) -> pd.Series:
    ts = pd.to_datetime(pd.Series(values))
    return ts.dt.to_period("M").dt.to_timestamp()


def _months_between(later: pd.Series | pd.Timestamp, earlier: pd.Timestamp) -> Any:
    if isinstance(later, pd.Series):
        return (later.dt.year - earlier.year) * 12 + (later.dt.month - earlier.month)
    return (later.year - earlier.year) * 12 + (later.month - earlier.month)


def _align_offset(offset: pd.Series | np.ndarray, series: pd.DataFrame) -> np.ndarray:
    # A Series with the same labels as ``series`` is aligned by label so that a caller who
    # shuffled or filtered one of them does not get silently mismatched exposures.
    if isinstance(offset, pd.Series):
        if offset.index.equals(series.index) or (
            len(offset) == len(series) and offset.index.is_unique and set(offset.index) == set(series.index)
        ):
            return offset.reindex(series.index).to_numpy(dtype=float)
        if len(offset) != len(series):
            raise ValueError(f"offset has {len(offset)} values but series has {len(series)} rows")
        return offset.to_numpy(dtype=float)
    arr = np.asarray(offset, dtype=float).reshape(-1)
    if len(arr) != len(series):
        raise ValueError(f"offset has {len(arr)} values but series has {len(series)} rows")
    return arr


def _prepare(
    series: pd.DataFrame, value_type: str, offset: pd.Series | np.ndarray | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    required = {"period", "value"} | ({"numerator", "denominator"} if value_type == "proportion" else set())
    missing = sorted(required - set(series.columns))
    if missing:
        raise ValueError(f"series is missing required column(s): {', '.join(missing)}")

    cols = [c for c in ("period", "numerator", "denominator", "value") if c in series.columns]
    df = series[cols].copy()
    if offset is not None:
        df["_offset"] = _align_offset(offset, series)
    df["period"] = _month_start(df["period"]).to_numpy()
    for col in ("numerator", "denominator", "value"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)

    needed = ["value"] + (["numerator", "denominator"] if value_type == "proportion" else [])
    df = df.dropna(subset=needed)
    if df["period"].isna().any():
        raise ValueError("series has missing periods")
    df = df.sort_values("period", kind="mergesort").reset_index(drop=True)
    if df["period"].duplicated().any():
        dups = df.loc[df["period"].duplicated(), "period"].dt.strftime("%Y-%m").unique()
        raise ValueError(f"series has more than one row for month(s): {', '.join(dups)}")

    if value_type == "count":
        if (df["value"] < 0).any():
            raise ValueError("count series has negative values")
    elif value_type == "proportion":
        if (df["denominator"] <= 0).any():
            raise ValueError("proportion series has rows with denominator <= 0")
        if (df["numerator"] < 0).any():
            raise ValueError("proportion series has rows with negative numerator")
        if (df["numerator"] > df["denominator"]).any():
            raise ValueError("proportion series has rows with numerator > denominator")

    log_offset = None
    if offset is not None:
        exposure = df.pop("_offset").to_numpy(dtype=float)
        if not np.all(np.isfinite(exposure)) or np.any(exposure <= 0):
            raise ValueError("offset (exposure) must be finite and > 0 for every row used")
        log_offset = np.log(exposure)
    return df, log_offset


def segmented_design(
    df: pd.DataFrame,
    intervention: pd.Timestamp,
    covid: tuple[str, str] | None,
    harmonics: int,
    slope_change: bool,
) -> pd.DataFrame:
    """The segmented-regression design for ``df["period"]`` (month starts, sorted): ``const``, ``time``
    (months from the first, gaps kept), ``post``, ``slope`` (1 in the go-live month; with ``slope_change``),
    ``sin{k}``/``cos{k}`` of the calendar month and ``covid`` (when the window splits the series)."""
    first = df["period"].iloc[0]
    # Months elapsed (not row number) so that gaps in the series keep their true spacing.
    time = _months_between(df["period"], first).to_numpy() + 1
    post = (df["period"] >= intervention).to_numpy().astype(float)
    cols: dict[str, np.ndarray] = {
        "const": np.ones(len(df)),
        "time": time.astype(float),
        "post": post,
    }
    if slope_change:
        # Centred on the month before go-live, so the go-live month has slope = 1 (the tutorial's
        # I(time - 36) * smokban). Using the calendar month keeps this right if that month is missing.
        t_before = _months_between(intervention, first)
        cols["slope"] = (time - t_before) * post
    month = df["period"].dt.month.to_numpy().astype(float)
    for k in range(1, harmonics + 1):
        cols[f"sin{k}"] = np.sin(2 * np.pi * k * month / 12)
        cols[f"cos{k}"] = np.cos(2 * np.pi * k * month / 12)
    if covid is not None:
        start = _month_start([covid[0]]).iloc[0]
        end = _month_start([covid[1]]).iloc[0]
        if end < start:
            raise ValueError(f"covid period ends ({end:%Y-%m-%d}) before it starts ({start:%Y-%m-%d})")
        flag = ((df["period"] >= start) & (df["period"] <= end)).to_numpy().astype(float)
        # An all-zero column would make the design singular; an all-one column duplicates the
        # intercept. Either way the term carries no information, so leave it out.
        if 0 < flag.sum() < len(flag):
            cols["covid"] = flag
    return pd.DataFrame(cols, index=df.index)


_design = segmented_design


def lag1_autocorrelation(resid: np.ndarray, periods: pd.Series) -> float:
    """Lag-1 autocorrelation of residuals over consecutive calendar months (gaps are not bridged)."""
    r = np.asarray(resid, dtype=float)
    months = pd.DatetimeIndex(periods).year * 12 + pd.DatetimeIndex(periods).month
    adjacent = np.diff(np.asarray(months)) == 1
    denom = float(np.sum(r * r))
    if denom <= 0 or not adjacent.any():
        return 0.0
    return float(np.sum((r[1:] * r[:-1])[adjacent]) / denom)


def _estimate(b: float, se: float, z: float, exp: bool, df: float | None = None) -> Estimate:
    # sf called on the distribution rather than a frozen one: freezing costs more than the fit's
    # linear algebra, which matters when the simulation study fits thousands of series.
    if se > 0:
        stat = abs(b / se)
        p = float(2 * (stats.t.sf(stat, df) if df else stats.norm.sf(stat)))
    else:
        p = float("nan")
    lo, hi = b - z * se, b + z * se
    if exp:
        return Estimate(float(np.exp(b)), float(np.exp(lo)), float(np.exp(hi)), float(se), p)
    return Estimate(float(b), float(lo), float(hi), float(se), p)


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _interval(estimate: float, se: float, q: float) -> dict[str, float]:
    return {"estimate": float(estimate), "ci_low": float(estimate - q * se), "ci_high": float(estimate + q * se)}


def _exp_interval(log_estimate: float, se: float, q: float) -> dict[str, float]:
    # Relative effect exp(r) - 1 with the interval transformed from the log scale, so that it can never
    # go below -100% and is exact for the log link.
    return {
        "estimate": float(math.expm1(log_estimate)),
        "ci_low": float(np.expm1(log_estimate - q * se)),
        "ci_high": float(np.expm1(log_estimate + q * se)),  # inf rather than an error for a huge interval
    }


def _quad_se(g: np.ndarray, cov: np.ndarray) -> float:
    return float(math.sqrt(max(float(g @ cov @ g), 0.0)))


def _month_index(periods: Any) -> np.ndarray:
    idx = pd.DatetimeIndex(periods)
    return np.asarray(idx.year * 12 + idx.month, dtype=float)


def _horizon_row(
    h: int,
    df: pd.DataFrame,
    design: pd.DataFrame,
    off: np.ndarray,
    go_live: pd.Timestamp,
    covid: tuple[str, str] | None,
    harmonics: int,
    slope_change: bool,
) -> tuple[pd.Timestamp, np.ndarray, float] | None:
    """Design row and log-exposure of the h-th month from go-live, or None if the series ends before it."""
    target = go_live + pd.DateOffset(months=h - 1)
    if target > df["period"].iloc[-1]:
        return None
    hit = np.flatnonzero(df["period"].to_numpy() == target.to_datetime64())
    if hit.size:
        i = int(hit[0])
        return target, design.iloc[i].to_numpy(dtype=float), float(off[i])
    # The month is a gap in the series: build its row from the same terms (reindexing drops a COVID
    # column the fitted design left out), and interpolate the exposure, which moves slowly month to month.
    ext = pd.concat([df[["period"]], pd.DataFrame({"period": [target]})], ignore_index=True)
    ext = ext.sort_values("period", kind="mergesort").reset_index(drop=True)
    rows = _design(ext, go_live, covid, harmonics, slope_change).reindex(columns=design.columns, fill_value=0.0)
    x = rows.loc[(ext["period"] == target).to_numpy()].iloc[0].to_numpy(dtype=float)
    o = float(np.interp(_month_index([target])[0], _month_index(df["period"]), off))
    return target, x, o


def _effects(
    value_type: str,
    df: pd.DataFrame,
    design: pd.DataFrame,
    beta: np.ndarray,
    cov: np.ndarray,
    off: np.ndarray,
    q_for: Callable[[np.ndarray], float],
    go_live: pd.Timestamp,
    covid: tuple[str, str] | None,
    harmonics: int,
    slope_change: bool,
) -> dict[str, dict[str, Any] | None]:
    """Fitted minus counterfactual at each horizon, absolute and relative, by the delta method.

    ``q_for`` gives the interval multiplier for a contrast (gradient) vector: t with Kenward-Roger /
    Satterthwaite degrees of freedom for "ar1_kr", t on the residual df for "ar1", normal otherwise. The
    relative effect's interval is built on the log scale for counts (exact: log(fitted/counterfactual) =
    step + h * slope) and proportions (delta method for log p_f - log p_c), which keeps it above -100%;
    for rates, whose counterfactual can sit near zero, it is the delta method on the natural scale of
    (fitted - counterfactual) / counterfactual.
    """
    cols = list(design.columns)
    switch = [cols.index("post")] + ([cols.index("slope")] if slope_change else [])
    out: dict[str, dict[str, Any] | None] = {}
    for h in EFFECT_HORIZONS:
        found = _horizon_row(h, df, design, off, go_live, covid, harmonics, slope_change)
        if found is None:
            out[str(h)] = None
            continue
        period, x_f, o = found
        x_c = x_f.copy()
        x_c[switch] = 0.0
        eta_f, eta_c = float(x_f @ beta) + o, float(x_c @ beta) + o
        diff_vec = x_f - x_c
        relative: dict[str, float] | None
        if value_type == "count":
            mu_f, mu_c = math.exp(eta_f), math.exp(eta_c)
            g_abs = mu_f * x_f - mu_c * x_c
            absolute = _interval(mu_f - mu_c, _quad_se(g_abs, cov), q_for(g_abs))
            relative = _exp_interval(eta_f - eta_c, _quad_se(diff_vec, cov), q_for(diff_vec))
        elif value_type == "proportion":
            mu_f, mu_c = 1.0 / (1.0 + math.exp(-eta_f)), 1.0 / (1.0 + math.exp(-eta_c))
            g_abs = mu_f * (1 - mu_f) * x_f - mu_c * (1 - mu_c) * x_c
            absolute = _interval(mu_f - mu_c, _quad_se(g_abs, cov), q_for(g_abs))
            g_log = (1 - mu_f) * x_f - (1 - mu_c) * x_c  # gradient of log(p_f) - log(p_c)
            relative = _exp_interval(math.log(mu_f) - math.log(mu_c), _quad_se(g_log, cov), q_for(g_log))
        else:
            mu_f, mu_c = eta_f, eta_c
            absolute = _interval(mu_f - mu_c, _quad_se(diff_vec, cov), q_for(diff_vec))
            if mu_c > 0:
                g_rel = x_f / mu_c - mu_f * x_c / mu_c**2
                relative = _interval(mu_f / mu_c - 1.0, _quad_se(g_rel, cov), q_for(g_rel))
            else:  # a relative change against a counterfactual at or below zero means nothing
                relative = None
        out[str(h)] = {
            "period": period.strftime("%Y-%m-%d"),
            "months_after": h,
            "fitted": float(mu_f),
            "counterfactual": float(mu_c),
            "absolute": absolute,
            "relative": relative,
        }
    return out


def _overdispersion_test(value_type: str, mle: Any, cov_type: str) -> dict[str, Any] | None:
    """Pearson chi2 / df against the Poisson or binomial variance (upper tail: overdispersion)."""
    if value_type == "rate":
        return None
    chi2, df_resid = float(mle.pearson_chi2), float(mle.df_resid)
    ratio = chi2 / df_resid
    p_over = float(stats.chi2.sf(chi2, df_resid))
    p_under = float(stats.chi2.cdf(chi2, df_resid))
    family = "Poisson" if value_type == "count" else "binomial"
    used = {
        "ar1_kr": "the latent AR(1) process's variance allows for it",
        "HAC": "the Newey-West sandwich allows for it",
        "ar1": "quasi-likelihood scale used",
        "nonrobust": "quasi-likelihood scale used",
    }[cov_type]
    stat = f"Pearson χ²/df = {ratio:.2f}"
    if p_over < 0.05:
        check = f"overdispersed ({stat}, {_fmt_p(p_over)}): {used}"
    elif p_under < 0.05:
        # Under-dispersion usually means smoothed or imputed figures; the scale then narrows the intervals.
        check = f"underdispersed ({stat}, {_fmt_p(p_under)} for under-dispersion): {used}, which narrows the intervals"
    else:
        check = f"consistent with the {family} variance ({stat}, {_fmt_p(p_over)})"
    return {
        "pearson_chi2": chi2,
        "df_resid": df_resid,
        "dispersion": ratio,
        "p_value": p_over,
        "family_check": check,
    }


def _autocorrelation_test(resid: np.ndarray, rho: float, cov_type: str) -> dict[str, Any]:
    """Ljung-Box to lag 12 and Durbin-Watson on the Pearson residuals, in row order."""
    n = len(resid)
    lags = int(min(LJUNG_BOX_LAGS, max(1, n // 2)))
    lb = acorr_ljungbox(resid, lags=[lags], return_df=True)
    q_stat, p = float(lb["lb_stat"].iloc[-1]), float(lb["lb_pvalue"].iloc[-1])
    allowed = {
        "ar1_kr": "the AR(1) error model allows for it",
        "ar1": "the AR(1) standard errors allow for lag-1 dependence",
        "HAC": "the Newey-West standard errors allow for it",
        "nonrobust": "these model-based standard errors do not allow for it, so the intervals are too narrow",
    }[cov_type]
    if p < 0.05:
        text = f"residual autocorrelation (Ljung-Box {_fmt_p(p)} over {lags} lags; lag-1 r = {rho:.2f}): {allowed}"
    else:
        text = f"no clear residual autocorrelation (Ljung-Box {_fmt_p(p)} over {lags} lags; lag-1 r = {rho:.2f})"
    return {
        "ljung_box": {"statistic": q_stat, "p_value": p, "lags": lags},
        "durbin_watson": float(durbin_watson(resid)),
        "lag1_autocorrelation": float(rho),
        "interpretation": text,
    }


def _gap_aware_acf(periods: pd.Series, r: np.ndarray, nlags: int) -> np.ndarray:
    """ACF at lags 1..nlags over calendar months: a gap is a missing value, not a join."""
    months = _month_index(periods).astype(int)
    full = np.full(int(months[-1] - months[0]) + 1, np.nan)
    full[months - months[0]] = r
    return np.asarray(acf(full, nlags=nlags, fft=False, missing="conservative")[1:], dtype=float)


def _lags_outside(values: np.ndarray, band: float) -> list[int]:
    return [int(k) for k, v in enumerate(values, start=1) if abs(v) > band]


def _diagnostics_summary(raw: np.ndarray, left: np.ndarray, band: float, result: ITSResult) -> str:
    """One sentence on what the ACF panel shows, for alt text and captions."""
    raw_out, left_out = _lags_outside(raw, band), _lags_outside(left, band)
    nlags = len(raw)

    def lie(k: int) -> str:
        return "lies" if k == 1 else "lie"

    first = (
        f"before allowing for autocorrelation the residuals' lag-1 autocorrelation is {raw[0]:.2f}"
        f" and {len(raw_out)} of {nlags} lags {lie(len(raw_out))} outside the ±{band:.2f} white-noise band"
    )
    if result.error_model is None:
        return first[0].upper() + first[1:] + " (this fit models no autocorrelation)"
    # About 1 lag in 20 falls outside a 95% band by chance alone.
    chance = max(1, round(0.05 * nlags))
    if not left_out:
        after = "no autocorrelation is left at any lag"
    elif left_out == [1] or (1 not in left_out and len(left_out) <= chance):
        where = ", ".join(str(k) for k in left_out)
        after = (
            "no autocorrelation is left beyond lag 1" if left_out == [1]
            else f"{len(left_out)} of {nlags} lags (lag {where}) {lie(len(left_out))} outside the band, "
            "about what chance gives"
        )  # fmt: skip
    else:
        where = ", ".join(str(k) for k in left_out[:6]) + (", ..." if len(left_out) > 6 else "")
        after = f"autocorrelation remains at {len(left_out)} of {nlags} lags (lag {where}), more than chance gives"
    rho = result.error_model["rho"]
    return f"{first[0].upper() + first[1:]}; after the AR(1) error model (rho = {rho:.2f}) {after}"


def diagnostics(result: ITSResult) -> dict[str, Any]:
    """Data for a residual diagnostics panel (drawing is left to the plotting module).

    Returns a JSON-safe dict with ``residuals`` (one record per month used: ``period`` ISO date,
    ``residual`` Pearson residual of the independence fit, ``normalized`` residual left once the fitted
    error model is allowed for, ``post`` bool), ``acf`` (``lags`` 1..24, or fewer for a short series,
    ``values`` of the Pearson residuals, ``normalized`` the same for the normalized residuals, and
    ``band`` = 1.96 / sqrt(n), the approximate 95% limits for white noise), ``qq`` (``theoretical``
    normal quantiles and ``sample``, the sorted standardised normalized residuals), ``summary`` (a
    sentence on what the ACF shows) and the fit's ``autocorrelation_test`` and ``overdispersion_test``.
    The ACFs are computed over calendar months: a gap is a missing value, not a join between the
    months either side of it.
    """
    if result.residuals is None:
        raise ValueError("this ITSResult has no residuals (it was not produced by fit_its)")
    res = result.residuals
    r = res["residual"].to_numpy(dtype=float)
    norm = res["normalized"].to_numpy(dtype=float) if "normalized" in res else r
    n = len(r)
    nlags = int(min(ACF_LAGS, n - 1))
    values = _gap_aware_acf(res["period"], r, nlags)
    left = _gap_aware_acf(res["period"], norm, nlags)
    band = float(stats.norm.ppf(0.975) / math.sqrt(n))
    sd = float(np.std(norm, ddof=1)) if n > 1 else 1.0
    std = np.sort((norm - np.mean(norm)) / (sd if sd > 0 else 1.0))
    theoretical = stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n)  # Hazen plotting positions
    return json_safe(
        {
            "residuals": [
                {"period": p.strftime("%Y-%m-%d"), "residual": float(v), "normalized": float(m), "post": bool(post)}
                for p, v, m, post in zip(res["period"], r, norm, res["post"], strict=True)
            ],
            "acf": {
                "lags": list(range(1, nlags + 1)),
                "values": [float(v) for v in values],
                "normalized": [float(v) for v in left],
                "band": band,
                "n": n,
            },
            "qq": {"theoretical": [float(v) for v in theoretical], "sample": [float(v) for v in std]},
            "summary": _diagnostics_summary(values, left, band, result),
            "autocorrelation_test": result.autocorrelation_test,
            "overdispersion_test": result.overdispersion_test,
        }
    )


def fit_its(
    series: pd.DataFrame,
    *,
    intervention: str | pd.Timestamp,
    value_type: str,
    covid: tuple[str, str] | str | None = "default",
    harmonics: int = 2,
    slope_change: bool = True,
    cov_type: str = "ar1_kr",
    hac_maxlags: int | None = None,
    offset: pd.Series | np.ndarray | None = None,
    alpha: float = 0.05,
) -> ITSResult:
    """Fit a segmented regression ITS model to a monthly series.

    Parameters
    ----------
    series:
        Columns ``period`` (month starts; any order, sorted here), ``numerator``, ``denominator``
        (NaN for counts) and ``value`` (count, numerator/denominator, or rate). Rows with a missing
        ``value`` (and, for proportions, a missing numerator or denominator) are dropped before
        fitting; gaps are allowed and keep their true spacing in the time term.
    intervention:
        Go-live date; the month containing it is the first post-intervention month.
    value_type:
        ``"count"`` (quasi-Poisson, log link), ``"proportion"`` (quasi-binomial, logit link, fitted to
        [numerator, denominator - numerator]) or ``"rate"`` (Gaussian, identity link, fitted to
        ``value``).
    covid:
        Inclusive (start, end) months of a COVID-19 indicator term; ``"default"`` for the data
        dictionary's window (``analysis.yaml``); ``None`` for no term. The term is
        also left out when no month (or every month) of the series falls in the window.
    harmonics:
        Number of Fourier harmonic pairs (sin, cos of 2*pi*k*month/12) for seasonality, 0 to 5.
    slope_change:
        Include the post-intervention slope change term. If False, ``result.slope`` is ``None``.
    cov_type:
        ``"ar1_kr"`` (default): the extra variation is an AR(1) process on the link scale on top of
        Poisson / binomial sampling noise, fitted by restricted pseudo-likelihood, with Kenward-Roger
        adjusted standard errors and Satterthwaite degrees of freedom for every interval (see
        :func:`fit_ar1_pseudo_likelihood`); the step, slope and effects are then GLS estimates and
        ``error_model`` reports rho, the latent SD and the step's degrees of freedom. Chosen because
        the options below under-covered in simulated series with realistic noise (Method validation).
        ``"ar1"``: a sandwich covariance with an AR(1) working correlation of the Pearson
        residuals and the quasi-likelihood scale, with the lag-1 autocorrelation bias-corrected for
        small samples, and t-based intervals on the residual degrees of freedom (see
        :func:`ar1_covariance`; the default before "ar1_kr", itself chosen because Newey-West intervals
        covered the truth in only about 82-86% of simulated series of this length). ``"HAC"`` for
        Newey-West standard errors, or
        ``"nonrobust"`` for model-based standard errors using the quasi-likelihood scale (Pearson
        chi2 / residual df), both with normal-based intervals. With HAC the sandwich already absorbs
        overdispersion, so the scale does not enter the SEs; the dispersion is still reported.
    hac_maxlags:
        HAC lag length. Default ``floor(4 * (n / 100) ** (2 / 9))`` (Newey & West 1994 rule of
        thumb), with n the number of months used. HAC treats rows as consecutive, so gaps in the
        series are not allowed for in the autocorrelation structure.
    offset:
        Exposure for counts (e.g. population), on the natural scale: ``log(offset)`` enters the
        model. A Series with the same index labels as ``series`` is aligned by label; otherwise it
        is taken in ``series`` row order. Only allowed for counts.
    alpha:
        1 - confidence level for the intervals ``b +/- q * SE`` (q a t quantile for "ar1_kr" and "ar1",
        normal otherwise) and the counterfactual band (95% by default).

    Returns
    -------
    ITSResult
        Step, slope change and pre-intervention slope on the natural scale (rate ratios, odds
        ratios or differences per month) and a per-period frame with fitted and counterfactual
        values. The counterfactual sets the post and slope terms to zero; its band comes from the
        delta method on the link scale using the model's covariance matrix.

    Raises
    ------
    ValueError
        For an unknown ``value_type`` or ``cov_type``; fewer months before or from the intervention than
        ``analysis.yaml`` its.min_pre_months / its.min_post_months (12 and 3); negative counts;
        proportion rows with denominator <= 0 or numerator > denominator; a non-positive offset; or a
        design matrix that is not of full rank.
    """
    if value_type not in _FAMILIES:
        raise ValueError(f"unknown value_type {value_type!r}; expected one of {', '.join(_FAMILIES)}")
    if cov_type not in _COV_TYPES:
        raise ValueError(f"unknown cov_type {cov_type!r}; expected one of {', '.join(_COV_TYPES)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    # k = 6 gives sin(pi * m) = 0 for every month, so at most 5 harmonic pairs are identifiable.
    if not 0 <= harmonics <= 5:
        raise ValueError(f"harmonics must be between 0 and 5, got {harmonics}")
    if offset is not None and value_type != "count":
        raise ValueError(f"offset is only used for counts, not for value_type {value_type!r}")
    if hac_maxlags is not None and hac_maxlags < 0:
        raise ValueError(f"hac_maxlags must be >= 0, got {hac_maxlags}")

    covid = covid_window(covid)
    facts = analysis_facts().its
    min_pre, min_post = facts.min_pre_months, facts.min_post_months
    go_live = pd.Timestamp(intervention).to_period("M").to_timestamp()
    df, log_offset = _prepare(series, value_type, offset)

    n_pre = int((df["period"] < go_live).sum())
    n_post = int((df["period"] >= go_live).sum())
    if n_pre < min_pre:
        raise ValueError(
            f"series has {n_pre} months before the intervention {go_live:%Y-%m-%d}; "
            f"at least {min_pre} are needed"
        )
    if n_post < min_post:
        raise ValueError(
            f"series has {n_post} months from the intervention {go_live:%Y-%m-%d} on; "
            f"at least {min_post} are needed"
        )

    design = _design(df, go_live, covid, harmonics, slope_change)
    if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        raise ValueError(
            f"design matrix is not of full rank (terms: {', '.join(design.columns)}); "
            "check that the COVID window and the intervention do not coincide"
        )
    if design.shape[1] >= len(design):
        raise ValueError(f"{len(design)} months are too few for {design.shape[1]} model terms")

    model_name, scale_name = _FAMILIES[value_type]
    if value_type == "count":
        endog: np.ndarray = df["value"].to_numpy(dtype=float)
        family: families.Family = families.Poisson()
    elif value_type == "proportion":
        succ = df["numerator"].to_numpy(dtype=float)
        endog = np.column_stack([succ, df["denominator"].to_numpy(dtype=float) - succ])
        family = families.Binomial()
    else:
        endog = df["value"].to_numpy(dtype=float)
        family = families.Gaussian()

    glm = GLM(endog, design, family=family, offset=log_offset)
    # The dispersion is taken from the results' Pearson chi2 rather than fit(scale="X2"): for a
    # binomial with [successes, failures] endog, statsmodels' "X2" scale is computed on the
    # proportion scale without the trial counts (too small by roughly the number of trials),
    # while results.pearson_chi2 is correct. A fixed float scale is then used for the SEs.
    mle = glm.fit()
    dispersion = float(mle.pearson_chi2 / mle.df_resid)
    maxlags: int | None = None
    rho = lag1_autocorrelation(np.asarray(mle.resid_pearson), df["period"])
    x_arr = design.to_numpy(dtype=float)
    ar: AR1Fit | None = None
    t_df: float | None = None  # t degrees of freedom for p-values (None: normal)
    if cov_type == "HAC":
        maxlags = default_hac_maxlags(len(design)) if hac_maxlags is None else int(hac_maxlags)
        res = glm.fit(cov_type="HAC", cov_kwds={"maxlags": maxlags})
        beta = np.asarray(res.params, dtype=float)
        cov = np.asarray(res.cov_params())
    elif cov_type == "ar1_kr":
        ar = fit_ar1_pseudo_likelihood(
            x_arr, endog, value_type, _month_index(df["period"]), np.asarray(mle.params), log_offset
        )
        beta, cov = ar.beta, ar.cov
    elif cov_type == "ar1":
        beta = np.asarray(mle.params, dtype=float)
        cov = ar1_covariance(mle, x_arr, df["period"], rho)
        t_df = float(mle.df_resid)
    else:
        res = glm.fit(scale=dispersion)
        beta = np.asarray(res.params, dtype=float)
        cov = np.asarray(res.cov_params())

    def dfs_for(c: np.ndarray) -> np.ndarray:
        """Degrees of freedom for each row of contrasts ``c`` (inf: normal reference)."""
        c2 = np.atleast_2d(c)
        if ar is None:
            return np.full(len(c2), np.inf if t_df is None else t_df)
        if not ar.dcov:
            return np.full(len(c2), float(ar.df_resid))
        g = np.column_stack([np.einsum("ij,jk,ik->i", c2, d, c2) for d in ar.dcov])
        # Kenward-Roger df: the plug-in variance in the numerator (pbkrtest's convention).
        v = np.einsum("ij,jk,ik->i", c2, ar.cov_unadjusted, c2)
        denom = np.einsum("ij,jk,ik->i", g, ar.w, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where((denom > 0) & (v > 0), 2.0 * v * v / denom, float(ar.df_resid))
        return np.minimum(out, float(ar.df_resid))

    def qs_for(c: np.ndarray) -> np.ndarray:
        return np.asarray(stats.t.ppf(1 - alpha / 2, dfs_for(c)), dtype=float)

    def q_for(c: np.ndarray) -> float:
        return float(qs_for(c)[0])

    params = pd.Series(beta, index=design.columns)
    bse = np.sqrt(np.diag(cov))
    se = pd.Series(bse, index=design.columns)
    use_exp = value_type in ("count", "proportion")
    cols = list(design.columns)

    def coef(name: str) -> Estimate:
        c = np.zeros(len(cols))
        c[cols.index(name)] = 1.0
        d = float(dfs_for(c)[0])
        return _estimate(params[name], se[name], q_for(c), use_exp, None if math.isinf(d) else d)

    step = coef("post")
    slope = coef("slope") if slope_change else None
    pre_slope = coef("time")
    step_c = np.zeros(len(cols))
    step_c[cols.index("post")] = 1.0
    step_df = float(dfs_for(step_c)[0])

    # Counterfactual: same model with the intervention terms switched off; delta-method band on
    # the link scale, then through the inverse link so it stays inside the valid range.
    xcf = design.copy()
    xcf["post"] = 0.0
    if slope_change:
        xcf["slope"] = 0.0
    xcf_arr = xcf.to_numpy()
    off = np.zeros(len(design)) if log_offset is None else log_offset
    beta = params.to_numpy()
    eta_fit = x_arr @ beta + off
    eta_cf = xcf_arr @ beta + off
    se_cf = np.sqrt(np.einsum("ij,jk,ik->i", xcf_arr, cov, xcf_arr))
    q_cf = qs_for(xcf_arr)

    def inv_link(eta: np.ndarray) -> np.ndarray:
        if value_type == "count":
            return np.exp(eta)
        if value_type == "proportion":
            return 1.0 / (1.0 + np.exp(-eta))
        return eta

    latent_var = None if ar is None else ar.sigma2
    pred_low, pred_high = prediction_band(
        value_type, eta_cf, se_cf, q_cf, latent_var=latent_var, dispersion=dispersion,
        trials=df["denominator"].to_numpy(dtype=float) if value_type == "proportion" else None,
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "period": df["period"].to_numpy(),
            "observed": df["value"].to_numpy(dtype=float),
            "fitted": inv_link(eta_fit),
            "counterfactual": inv_link(eta_cf),
            "cf_low": inv_link(eta_cf - q_cf * se_cf),
            "cf_high": inv_link(eta_cf + q_cf * se_cf),
            "cf_pred_low": pred_low,
            "cf_pred_high": pred_high,
            "post": design["post"].to_numpy() == 1.0,
        }
    )
    switch = (cols.index("post"),) + ((cols.index("slope"),) if slope_change else ())
    model_state = ITSModel(
        value_type=value_type, go_live=go_live, last_month=df["period"].iloc[-1],
        observed_months=frozenset(pd.Timestamp(p) for p in df["period"]), beta=beta.copy(), cov=np.asarray(cov),
        switch=switch,
        row_at=lambda h: _horizon_row(h, df, design, off, go_live, covid, harmonics, slope_change),
        dfs_for=dfs_for, latent_var=latent_var, dispersion=dispersion,
    )  # fmt: skip

    resid = np.asarray(mle.resid_pearson, dtype=float)
    # Residuals left once the fitted error model is allowed for: for "ar1_kr" the working residuals
    # whitened by the fitted covariance; the other options model no correlation, so the Pearson ones.
    normalized = resid if ar is None else ar.normalized_residuals
    return ITSResult(
        value_type=value_type,
        model=model_name,
        scale=scale_name,
        step=step,
        slope=slope,
        pre_slope=pre_slope,
        dispersion=dispersion,
        cov_type=cov_type,
        hac_maxlags=maxlags,
        autocorrelation=rho,
        n_pre=n_pre,
        n_post=n_post,
        frame=frame,
        params={k: float(v) for k, v in params.items()},
        effects=_effects(value_type, df, design, beta, cov, off, q_for, go_live, covid, harmonics, slope_change),
        overdispersion_test=_overdispersion_test(value_type, mle, cov_type),
        autocorrelation_test=_autocorrelation_test(resid, rho, cov_type),
        residuals=pd.DataFrame(
            {
                "period": df["period"].to_numpy(),
                "residual": resid,
                "normalized": normalized,
                "post": frame["post"].to_numpy(),
            }
        ),
        error_model=None if ar is None else {
            "rho": ar.rho,
            "latent_sd": math.sqrt(ar.sigma2),
            "step_df": step_df,
            "iterations": ar.iterations,
        },
        model_state=model_state,
        alpha=alpha,
    )


def _usable_with_offset(
    series: pd.DataFrame, offset: pd.Series | np.ndarray | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The series with month-start periods and the offset as an array in its row order, so that rows
    can be selected from both together."""
    df = series.copy()
    df["period"] = _month_start(df["period"]).to_numpy()
    arr = None if offset is None else _align_offset(offset, series)
    return df, arr


def placebo_its(
    series: pd.DataFrame,
    *,
    intervention: str | pd.Timestamp,
    value_type: str,
    offsets: tuple[int, ...] = (-24, -18, -12),
    **kwargs: Any,
) -> pd.DataFrame:
    """In-time placebo tests: refit the model on the pre-intervention months with fake go-live dates.

    Only the months before the real go-live are used, so the real effect cannot leak in; each fake
    date is ``offset`` months before the real one (offsets must be negative). A placebo date is
    skipped when fewer than 12 months of that pre-period fall before it or fewer than 6 from it on.
    Nothing happened at these dates, so an interval that excludes the null (1 for ratios, 0 for
    differences) more often than about 1 time in 20 suggests the model is picking up something other
    than the intervention (a mis-specified trend or seasonality, or understated uncertainty).

    ``kwargs`` are passed to :func:`fit_its` (``covid``, ``harmonics``, ``slope_change``,
    ``cov_type``, ``offset``, ``alpha``, ...); an ``offset`` is aligned to ``series`` first and then
    cut down with it.

    Returns
    -------
    pandas.DataFrame
        One row per placebo date fitted, in the order of ``offsets``: ``offset_months``,
        ``placebo_date``, ``n_pre``, ``n_post``, ``scale``, ``estimate``, ``ci_low``, ``ci_high``,
        ``p_value`` (the placebo step on the fit's natural scale) and ``excludes_null`` (bool). A
        date whose model cannot be fitted (e.g. a design that is not of full rank) keeps its row with
        missing estimates and the reason in ``note``; ``note`` is empty otherwise.
    """
    if value_type not in _FAMILIES:
        raise ValueError(f"unknown value_type {value_type!r}; expected one of {', '.join(_FAMILIES)}")
    bad = [o for o in offsets if int(o) >= 0]
    if bad:
        raise ValueError(f"placebo offsets must be negative (months before go-live), got {bad}")
    facts = analysis_facts().its
    go_live = pd.Timestamp(intervention).to_period("M").to_timestamp()
    df, exposure = _usable_with_offset(series, kwargs.pop("offset", None))
    keep = (df["period"] < go_live).to_numpy()
    pre = df.loc[keep]
    pre_exposure = None if exposure is None else exposure[keep]
    usable = pre["value"].notna().to_numpy()
    if value_type == "proportion":
        # Not &=: under pandas copy-on-write, to_numpy() returns a read-only view.
        usable = usable & pre["numerator"].notna().to_numpy() & pre["denominator"].notna().to_numpy()
    usable_periods = pre.loc[usable, "period"]
    scale = _FAMILIES[value_type][1]
    null = 0.0 if scale == "difference" else 1.0
    columns = [
        "offset_months", "placebo_date", "n_pre", "n_post", "scale", "estimate", "ci_low", "ci_high",
        "p_value", "excludes_null", "note",
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    for off_months in offsets:
        fake = go_live + pd.DateOffset(months=int(off_months))
        n_pre = int((usable_periods < fake).sum())
        n_post = int((usable_periods >= fake).sum())
        if n_pre < facts.placebo_min_pre_months or n_post < facts.placebo_min_post_months:
            continue
        row: dict[str, Any] = {
            "offset_months": int(off_months), "placebo_date": fake, "n_pre": n_pre, "n_post": n_post,
            "scale": scale, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
            "excludes_null": False, "note": "",
        }  # fmt: skip
        try:
            res = fit_its(pre, intervention=fake, value_type=value_type, offset=pre_exposure, **kwargs)
        except ValueError as exc:
            row["note"] = str(exc)
        else:
            est = res.step
            row.update(
                estimate=est.estimate, ci_low=est.ci_low, ci_high=est.ci_high, p_value=est.p_value,
                excludes_null=bool(est.ci_low > null or est.ci_high < null),
            )  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def covid_sensitivity(
    series: pd.DataFrame,
    *,
    intervention: str | pd.Timestamp,
    value_type: str,
    window: tuple[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The main model against the same model fitted with the COVID-19 months left out.

    The main model is :func:`fit_its` with ``kwargs`` as given (by default a COVID-19 indicator term
    for ``window``). The sensitivity model drops every month in ``window`` (inclusive) from the data
    and fits without a COVID term: the time term keeps calendar spacing across the hole, so the trend
    is estimated from the months either side. If the two steps disagree materially, the headline
    depends on how the pandemic months are handled and should be reported with that caveat.

    Returns a JSON-safe dict: ``window`` (start, end), ``main`` and ``covid_excluded``, each with
    ``description``, ``n_months``, ``scale``, ``step`` and ``slope`` (:meth:`Estimate.to_dict`, slope
    None without a slope term) and ``primary`` (:meth:`PrimaryEstimand.to_dict`); ``covid_excluded`` also
    has ``n_excluded``. If the reduced series cannot be fitted (e.g. too few months remain before go-live),
    ``covid_excluded`` is None and ``note`` gives the reason.
    """
    window = analysis_facts().covid.months if window is None else window
    start, end = (pd.Timestamp(d).to_period("M").to_timestamp() for d in window)
    if end < start:
        raise ValueError(f"COVID window ends ({end:%Y-%m-%d}) before it starts ({start:%Y-%m-%d})")
    df, exposure = _usable_with_offset(series, kwargs.pop("offset", None))
    main = fit_its(df, intervention=intervention, value_type=value_type, offset=exposure, **kwargs)

    def summary(res: ITSResult, description: str) -> dict[str, Any]:
        return {
            "description": description,
            "n_months": int(res.n_pre + res.n_post),
            "scale": res.scale,
            "step": res.step.to_dict(),
            "slope": None if res.slope is None else res.slope.to_dict(),
            "primary": res.primary_estimand().to_dict(),
        }

    covid_term = "covid" in main.params
    out: dict[str, Any] = {
        "window": [f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"],
        "main": summary(
            main,
            "all months, COVID-19 months modelled by an indicator term"
            if covid_term
            else "all months, no COVID-19 term",
        ),
        "covid_excluded": None,
        "note": "",
    }
    drop = ((df["period"] >= start) & (df["period"] <= end)).to_numpy()
    reduced_kwargs = {**kwargs, "covid": None}
    try:
        reduced = fit_its(
            df.loc[~drop],
            intervention=intervention,
            value_type=value_type,
            offset=None if exposure is None else exposure[~drop],
            **reduced_kwargs,
        )
    except ValueError as exc:
        out["note"] = f"the model without the COVID-19 months could not be fitted: {exc}"
    else:
        excluded = summary(reduced, "COVID-19 months left out of the fit (not modelled)")
        excluded["n_excluded"] = int(main.n_pre + main.n_post - reduced.n_pre - reduced.n_post)
        out["covid_excluded"] = excluded
        if excluded["n_excluded"] == 0:
            out["note"] = "no month of the series falls in the COVID-19 window, so the two models are the same"
    return json_safe(out)
