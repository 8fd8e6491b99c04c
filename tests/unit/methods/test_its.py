"""Tests for evaluation.methods.its (segmented regression ITS)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from evaluation.methods.its import Estimate, ITSResult, covid_sensitivity, fit_its, placebo_its
from tests.unit.methods.known_answers import known_answer

# --------------------------------------------------------------------------------------------------
# helpers


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def _months(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def _count_frame(periods: pd.DatetimeIndex, counts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": periods,
            "numerator": counts.astype(float),
            "denominator": np.nan,
            "value": counts.astype(float),
        }
    )


pytestmark_realdata = pytest.mark.realdata


@pytest.fixture(scope="module")
def sicily() -> tuple[pd.DataFrame, pd.Series]:
    raw = pd.read_csv(known_answer("its_sicily", "sicily.csv"))
    series = pd.DataFrame(
        {
            "period": pd.to_datetime({"year": raw["year"], "month": raw["month"], "day": 1}),
            "numerator": raw["aces"].astype(float),
            "denominator": np.nan,
            "value": raw["aces"].astype(float),
        }
    )
    return series, raw["stdpop"]


# --------------------------------------------------------------------------------------------------
# published known answers (KNOWN_ANSWERS.md in the shared its_sicily folder)


@pytestmark_realdata
def test_sicily_seasonal_step_model(sicily: tuple[pd.DataFrame, pd.Series]) -> None:
    series, stdpop = sicily
    res = fit_its(
        series,
        intervention="2005-01-01",
        value_type="count",
        covid=None,
        harmonics=2,
        slope_change=False,
        cov_type="nonrobust",
        offset=stdpop,
    )
    assert res.model == "quasi-poisson"
    assert res.scale == "rate_ratio"
    assert res.slope is None
    assert _rel(res.step.estimate, 0.885072) < 1e-5
    assert _rel(res.step.ci_low, 0.839401) < 1e-5
    assert _rel(res.step.ci_high, 0.933227) < 1e-5
    assert abs(res.params["post"] - (-0.12208679)) < 1e-6
    assert abs(res.step.se - 0.02703110) < 1e-6
    assert abs(res.params["time"] - 0.00538922) < 1e-6
    assert abs(res.dispersion - 2.2621826) < 1e-6
    assert _rel(math.exp(12 * res.params["time"]), 1.066808) < 1e-5
    assert res.n_pre == 36
    assert res.n_post == 23
    assert "covid" not in res.params


@pytestmark_realdata
def test_sicily_slope_change_model(sicily: tuple[pd.DataFrame, pd.Series]) -> None:
    series, stdpop = sicily
    res = fit_its(
        series,
        intervention="2005-01-01",
        value_type="count",
        covid=None,
        harmonics=2,
        slope_change=True,
        cov_type="nonrobust",
        offset=stdpop,
    )
    assert res.slope is not None
    assert _rel(res.step.estimate, 0.876464) < 1e-5
    assert _rel(res.step.ci_low, 0.826753) < 1e-5
    assert _rel(res.step.ci_high, 0.929165) < 1e-5
    assert _rel(res.slope.estimate, 1.001483) < 1e-5
    assert _rel(res.slope.ci_low, 0.997850) < 1e-5
    assert _rel(res.slope.ci_high, 1.005130) < 1e-5


@pytestmark_realdata
def test_sicily_without_seasonality(sicily: tuple[pd.DataFrame, pd.Series]) -> None:
    series, stdpop = sicily
    res = fit_its(
        series,
        intervention="2005-01-01",
        value_type="count",
        covid=None,
        harmonics=0,
        slope_change=False,
        cov_type="nonrobust",
        offset=stdpop,
    )
    assert _rel(res.step.estimate, 0.894377) < 1e-5
    assert _rel(res.step.ci_low, 0.839189) < 1e-5
    assert _rel(res.step.ci_high, 0.953193) < 1e-5
    assert abs(res.dispersion - 3.5591868) < 1e-6


@pytestmark_realdata
def test_sicily_row_order_and_covid_window_do_not_matter(sicily: tuple[pd.DataFrame, pd.Series]) -> None:
    series, stdpop = sicily
    kwargs = {"intervention": "2005-01-01", "value_type": "count", "slope_change": False}
    base = fit_its(series, covid=None, offset=stdpop, **kwargs)
    shuffled = series.sample(frac=1.0, random_state=1)
    # Offset given as a Series is aligned by label, so it follows the shuffled rows.
    again = fit_its(shuffled, offset=stdpop, **kwargs)  # default covid window lies outside 2002-2006
    assert "covid" not in again.params
    assert again.params == pytest.approx(base.params, abs=1e-12)
    assert list(again.frame["period"]) == sorted(series["period"])


# --------------------------------------------------------------------------------------------------
# simulated recovery


def _sim_counts(seed: int = 20240501) -> tuple[pd.DataFrame, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n, n_pre = 72, 48
    periods = _months("2010-01-01", n)
    t = np.arange(1, n + 1)
    post = (t > n_pre).astype(float)
    month = periods.month.to_numpy()
    pop = np.linspace(50_000, 56_000, n)
    log_rate = (
        math.log(300 / 50_000) + 0.002 * t + math.log(0.8) * post + 0.1 * np.sin(2 * np.pi * month / 12)
    )
    counts = rng.poisson(pop * np.exp(log_rate))
    return _count_frame(periods, counts), pop, n_pre


def test_poisson_step_recovered_with_zero_slope_change() -> None:
    series, pop, n_pre = _sim_counts()
    intervention = series["period"].iloc[n_pre]
    # Coverage is checked with model-based SEs, which are correct for independent Poisson data.
    # Newey-West SEs are known to under-cover in series this short, so HAC is checked for the
    # plumbing only: same coefficients, its own SE feeding the interval.
    res = fit_its(series, intervention=intervention, value_type="count", offset=pop, cov_type="nonrobust")
    assert res.step.ci_low < 0.8 < res.step.ci_high
    assert res.slope is not None
    assert res.slope.ci_low < 1.0 < res.slope.ci_high
    assert res.pre_slope.ci_low < math.exp(0.002) < res.pre_slope.ci_high
    assert abs(res.step.estimate - 0.8) < 0.05
    assert abs(res.dispersion - 1.0) < 0.5  # data are Poisson, so no real overdispersion
    assert res.n_pre == n_pre and res.n_post == 72 - n_pre
    assert "covid" not in res.params  # 2010-2015 is outside the default COVID window

    hac = fit_its(series, intervention=intervention, value_type="count", offset=pop, cov_type="HAC")
    assert hac.params == pytest.approx(res.params, rel=1e-10)
    assert hac.dispersion == pytest.approx(res.dispersion, rel=1e-10)
    for r in (res, hac):
        # Normal-based interval on the link scale.
        z = 1.959963984540054
        b = math.log(r.step.estimate)
        assert r.step.ci_low == pytest.approx(math.exp(b - z * r.step.se), rel=1e-12)
        assert r.step.ci_high == pytest.approx(math.exp(b + z * r.step.se), rel=1e-12)
    assert hac.step.se != pytest.approx(res.step.se, rel=1e-3)


def test_alpha_sets_interval_width() -> None:
    series, pop, n_pre = _sim_counts()
    kw = {"intervention": series["period"].iloc[n_pre], "value_type": "count", "offset": pop, "cov_type": "HAC"}
    r95 = fit_its(series, **kw)
    r90 = fit_its(series, alpha=0.10, **kw)
    b, se = math.log(r95.step.estimate), r95.step.se
    assert r90.step.ci_low == pytest.approx(math.exp(b - 1.6448536269514722 * se), rel=1e-12)
    assert r90.step.ci_high == pytest.approx(math.exp(b + 1.6448536269514722 * se), rel=1e-12)
    assert r95.step.ci_low < r90.step.ci_low


def test_poisson_detects_a_real_slope_change() -> None:
    rng = np.random.default_rng(7)
    n, n_pre = 60, 36
    periods = _months("2017-01-01", n)
    t = np.arange(1, n + 1)
    post = (t > n_pre).astype(float)
    slope = (t - n_pre) * post
    counts = rng.poisson(np.exp(math.log(400) + 0.03 * slope))
    res = fit_its(_count_frame(periods, counts), intervention=periods[n_pre], value_type="count", covid=None)
    assert res.slope is not None
    assert res.slope.ci_low > 1.0
    assert res.slope.ci_low < math.exp(0.03) < res.slope.ci_high
    # Detected at the 5% level. This Poisson series' restricted likelihood is highest with a slowly varying
    # latent process (rho at its bound; 0.2 above the no-process maximum, see test_its_reml_search.py), which
    # the REML estimate now takes: the slope's Kenward-Roger interval is wider than with the lower maximum the
    # single-start search used to stop at (p then < 0.001).
    assert res.slope.p_value < 0.05
    assert res.error_model["rho"] == pytest.approx(0.95)


def test_binomial_odds_ratio_recovered() -> None:
    rng = np.random.default_rng(12345)
    n, n_pre = 60, 36
    periods = _months("2018-01-01", n)
    t = np.arange(1, n + 1)
    post = (t > n_pre).astype(float)
    denom = rng.integers(400, 600, size=n)
    logit = -1.0 + 0.005 * t + math.log(1.5) * post
    p = 1 / (1 + np.exp(-logit))
    num = rng.binomial(denom, p)
    series = pd.DataFrame({"period": periods, "numerator": num, "denominator": denom, "value": num / denom})
    res = fit_its(
        series, intervention=periods[n_pre], value_type="proportion", slope_change=False, cov_type="nonrobust"
    )
    assert res.model == "quasi-binomial"
    assert res.scale == "odds_ratio"
    assert res.step.ci_low < 1.5 < res.step.ci_high
    assert "covid" in res.params  # 2018-2022 spans the default COVID window
    for col in ("fitted", "counterfactual", "cf_low", "cf_high"):
        assert ((res.frame[col] > 0) & (res.frame[col] < 1)).all(), col
    # Observed stays on the display scale (proportion), comparable with fitted.
    assert np.allclose(res.frame["observed"], num / denom)
    assert abs(res.frame["observed"] - res.frame["fitted"]).max() < 0.1


def test_quasi_binomial_standard_errors_match_hand_computation() -> None:
    # Quasi-binomial model-based covariance is phi * (xmat' W xmat)^-1 with W = n p (1 - p) and phi the
    # Pearson chi2 / df, all computed here from the fitted probabilities without statsmodels.
    rng = np.random.default_rng(2024)
    n, n_pre = 48, 30
    periods = _months("2010-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    denom = rng.integers(200, 300, size=n).astype(float)
    p_true = 1 / (1 + np.exp(-(-0.5 + 0.01 * t - 0.4 * post)))
    num = rng.binomial(denom.astype(int), p_true).astype(float)
    series = pd.DataFrame({"period": periods, "numerator": num, "denominator": denom, "value": num / denom})
    res = fit_its(
        series,
        intervention=periods[n_pre],
        value_type="proportion",
        covid=None,
        harmonics=0,
        cov_type="nonrobust",
    )
    p = res.frame["fitted"].to_numpy()
    xmat = np.column_stack([np.ones(n), t, post, (t - n_pre) * post])
    w = denom * p * (1 - p)
    phi = float(np.sum((num - denom * p) ** 2 / w) / (n - 4))
    assert res.dispersion == pytest.approx(phi, rel=1e-8)
    se = np.sqrt(np.diag(phi * np.linalg.inv(xmat.T @ (xmat * w[:, None]))))
    assert res.pre_slope.se == pytest.approx(se[1], rel=1e-6)
    assert res.step.se == pytest.approx(se[2], rel=1e-6)
    assert res.slope is not None and res.slope.se == pytest.approx(se[3], rel=1e-6)
    assert res.step.ci_low < math.exp(-0.4) < res.step.ci_high


def test_gaussian_difference_recovered() -> None:
    rng = np.random.default_rng(99)
    n, n_pre = 48, 30
    periods = _months("2021-06-01", n)
    t = np.arange(1, n + 1)
    post = (t > n_pre).astype(float)
    value = 50 + 0.1 * t + 5 * post + rng.normal(0, 1, n)
    series = pd.DataFrame({"period": periods, "numerator": np.nan, "denominator": np.nan, "value": value})
    res = fit_its(series, intervention=periods[n_pre], value_type="rate", cov_type="nonrobust")
    assert res.model == "gaussian"
    assert res.scale == "difference"
    assert res.step.ci_low < 5 < res.step.ci_high
    assert res.step.estimate == pytest.approx(res.params["post"], abs=0)
    assert res.slope is not None and res.slope.ci_low < 0 < res.slope.ci_high
    # For the identity link the dispersion is the residual variance.
    resid = res.frame["observed"] - res.frame["fitted"]
    assert res.dispersion == pytest.approx(float((resid**2).sum()) / (n - len(res.params)), rel=1e-9)


@pytest.mark.filterwarnings("ignore:Perfect separation")  # exact data: statsmodels flags the perfect fit
def test_noiseless_design_checks_time_spacing_slope_centring_and_covid_window() -> None:
    # Exact data let the coefficients be checked exactly: an off-by-one in the slope centring, the
    # COVID window end or row-number time (instead of months elapsed) would all show up.
    periods = _months("2019-01-01", 40)  # 2019-01 .. 2022-04, go-live 2021-09 (time 33)
    t = np.arange(1, 41)
    post = (periods >= "2021-09-01").astype(float)
    slope = (t - 32) * post
    covid = ((periods >= "2020-03-01") & (periods <= "2021-03-01")).astype(float)
    value = 10 + 0.5 * t + 3.0 * post + 0.2 * slope - 4.0 * covid
    series = pd.DataFrame({"period": periods, "numerator": np.nan, "denominator": np.nan, "value": value})
    # Drop some months, including the last pre-intervention month, and blank one more value.
    series = series.drop(index=[5, 6, 31]).reset_index(drop=True)
    series.loc[10, "value"] = np.nan
    res = fit_its(series, intervention="2021-09-15", value_type="rate", harmonics=0, cov_type="nonrobust")
    assert res.params["time"] == pytest.approx(0.5, abs=1e-8)
    assert res.params["post"] == pytest.approx(3.0, abs=1e-8)
    assert res.params["slope"] == pytest.approx(0.2, abs=1e-8)
    assert res.params["covid"] == pytest.approx(-4.0, abs=1e-8)
    assert len(res.frame) == 40 - 4
    assert res.n_pre + res.n_post == 36
    assert res.frame["post"].dtype == bool
    assert res.frame.loc[res.frame["post"], "period"].min() == pd.Timestamp("2021-09-01")


# --------------------------------------------------------------------------------------------------
# counterfactual and covariance


def test_counterfactual_matches_fitted_before_intervention_and_band_contains_it() -> None:
    series, pop, n_pre = _sim_counts()
    res = fit_its(series, intervention=series["period"].iloc[n_pre], value_type="count", offset=pop)
    fr = res.frame
    pre = ~fr["post"]
    assert pre.sum() == n_pre
    assert np.allclose(fr.loc[pre, "counterfactual"], fr.loc[pre, "fitted"], rtol=1e-12)
    # After go-live the counterfactual lacks the step (RR about 0.8), so it sits above the fit.
    assert (fr.loc[~pre, "counterfactual"] > fr.loc[~pre, "fitted"]).all()
    assert (fr["cf_low"] < fr["counterfactual"]).all()
    assert (fr["counterfactual"] < fr["cf_high"]).all()
    # Expected counts include the offset: same order as the observed counts.
    assert abs(np.log(fr.loc[pre, "fitted"] / fr.loc[pre, "observed"])).mean() < 0.1


def test_counterfactual_band_is_delta_method_on_link_scale() -> None:
    series, pop, n_pre = _sim_counts()
    res = fit_its(series, intervention=series["period"].iloc[n_pre], value_type="count", offset=pop)
    fr = res.frame
    # Band is symmetric on the log scale around the counterfactual, and widens after go-live as the
    # counterfactual is extrapolated further from the data it was estimated on.
    lo = np.log(fr["counterfactual"] / fr["cf_low"])
    hi = np.log(fr["cf_high"] / fr["counterfactual"])
    assert np.allclose(lo, hi, rtol=1e-9)
    width = (lo / 1.959963984540054).to_numpy()
    assert width[-1] > width[n_pre - 1]


def _newey_west_cov(xmat: np.ndarray, resid: np.ndarray, lags: int) -> np.ndarray:
    xe = xmat * resid[:, None]
    s = xe.T @ xe
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        g = xe[lag:].T @ xe[:-lag]
        s += w * (g + g.T)
    bread = np.linalg.inv(xmat.T @ xmat)
    return bread @ s @ bread


def test_gaussian_standard_errors_match_hand_computation() -> None:
    rng = np.random.default_rng(3)
    n, n_pre = 40, 24
    periods = _months("2010-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    slope = (t - n_pre) * post
    e = np.zeros(n)
    for i in range(n):  # AR(1) errors so HAC and model-based SEs differ
        e[i] = (0.6 * e[i - 1] if i else 0.0) + rng.normal()
    value = 20 + 0.2 * t - 2 * post + e
    series = pd.DataFrame({"period": periods, "numerator": np.nan, "denominator": np.nan, "value": value})
    xmat = np.column_stack([np.ones(n), t, post, slope])
    beta, *_ = np.linalg.lstsq(xmat, value, rcond=None)
    resid = value - xmat @ beta

    nonrobust = fit_its(
        series, intervention=periods[n_pre], value_type="rate", covid=None, harmonics=0, cov_type="nonrobust"
    )
    s2 = resid @ resid / (n - 4)
    se_model = np.sqrt(np.diag(s2 * np.linalg.inv(xmat.T @ xmat)))
    assert nonrobust.step.se == pytest.approx(se_model[2], rel=1e-8)
    assert nonrobust.pre_slope.se == pytest.approx(se_model[1], rel=1e-8)
    assert nonrobust.hac_maxlags is None

    hac = fit_its(
        series, intervention=periods[n_pre], value_type="rate", covid=None, harmonics=0, hac_maxlags=3,
        cov_type="HAC",
    )
    se_hac = np.sqrt(np.diag(_newey_west_cov(xmat, resid, 3)))
    assert hac.step.se == pytest.approx(se_hac[2], rel=1e-8)
    assert hac.slope is not None and hac.slope.se == pytest.approx(se_hac[3], rel=1e-8)
    assert hac.step.estimate == pytest.approx(beta[2], abs=1e-9)
    assert hac.cov_type == "HAC" and hac.hac_maxlags == 3
    assert hac.step.se != pytest.approx(nonrobust.step.se, rel=1e-3)


@pytest.mark.parametrize("value_type", ["count", "proportion"])
def test_glm_hac_standard_errors_match_hand_sandwich(value_type: str) -> None:
    # Newey-West sandwich for a canonical-link GLM: bread (xmat' W xmat)^-1, meat from the score
    # contributions x_t (y_t - mu_t) with Bartlett weights 1 - l / (L + 1); no small-sample factor.
    rng = np.random.default_rng(2024)
    n, n_pre, lags = 48, 30, 2
    periods = _months("2010-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    denom = rng.integers(200, 300, size=n).astype(float)
    num = rng.binomial(denom.astype(int), 1 / (1 + np.exp(-(-0.5 + 0.01 * t - 0.4 * post)))).astype(float)
    if value_type == "proportion":
        series = pd.DataFrame(
            {"period": periods, "numerator": num, "denominator": denom, "value": num / denom}
        )
    else:
        series = _count_frame(periods, num)
    res = fit_its(
        series, intervention=periods[n_pre], value_type=value_type, covid=None, harmonics=0, hac_maxlags=lags,
        cov_type="HAC",
    )
    mu = res.frame["fitted"].to_numpy()
    xmat = np.column_stack([np.ones(n), t, post, (t - n_pre) * post])
    if value_type == "proportion":
        w, score = denom * mu * (1 - mu), xmat * (num - denom * mu)[:, None]
    else:
        w, score = mu, xmat * (num - mu)[:, None]
    meat = score.T @ score
    for lag in range(1, lags + 1):
        g = score[lag:].T @ score[:-lag]
        meat += (1 - lag / (lags + 1)) * (g + g.T)
    bread = np.linalg.inv(xmat.T @ (xmat * w[:, None]))
    se = np.sqrt(np.diag(bread @ meat @ bread))
    assert res.pre_slope.se == pytest.approx(se[1], rel=1e-6)
    assert res.step.se == pytest.approx(se[2], rel=1e-6)
    assert res.slope is not None and res.slope.se == pytest.approx(se[3], rel=1e-6)


@pytest.mark.parametrize("n", [40, 72, 200])
def test_hac_default_lag_is_newey_west_rule_of_thumb(n: int) -> None:
    rng = np.random.default_rng(n)
    periods = _months("2005-01-01", n)
    counts = rng.poisson(200, size=n)
    res = fit_its(_count_frame(periods, counts), intervention=periods[n // 2], value_type="count", cov_type="HAC")
    assert res.cov_type == "HAC"
    assert res.hac_maxlags == math.floor(4 * (n / 100) ** (2 / 9))
    explicit = fit_its(
        _count_frame(periods, counts), intervention=periods[n // 2], value_type="count", hac_maxlags=6,
        cov_type="HAC",
    )
    assert explicit.hac_maxlags == 6


def test_to_dict_is_json_safe() -> None:
    series, pop, n_pre = _sim_counts()
    res = fit_its(series, intervention=series["period"].iloc[n_pre], value_type="count", offset=pop)
    assert isinstance(res, ITSResult)
    assert isinstance(res.step, Estimate)
    d = json.loads(json.dumps(res.to_dict()))
    for key in ("scale", "model", "cov_type", "hac_maxlags", "dispersion", "step", "slope", "pre_slope"):
        assert key in d
    assert d["step"]["estimate"] == pytest.approx(res.step.estimate)
    assert set(d["step"]) == {"estimate", "ci_low", "ci_high", "se", "p_value"}
    assert d["hac_maxlags"] == res.hac_maxlags
    assert set(res.frame.columns) == {
        "period",
        "observed",
        "fitted",
        "counterfactual",
        "cf_low",
        "cf_high",
        "cf_pred_low",
        "cf_pred_high",
        "post",
    }
    # The prediction band (a month's value had nothing changed) contains the mean's confidence band.
    assert (res.frame["cf_pred_low"] <= res.frame["cf_low"]).all()
    assert (res.frame["cf_pred_high"] >= res.frame["cf_high"]).all()


# --------------------------------------------------------------------------------------------------
# input validation


def _short_counts(start: str, n: int) -> pd.DataFrame:
    return _count_frame(_months(start, n), np.full(n, 100.0))


def test_too_few_pre_months() -> None:
    series = _short_counts("2020-12-01", 20)
    with pytest.raises(
        ValueError, match=r"series has 8 months before the intervention 2021-08-01; at least 12"
    ):
        fit_its(series, intervention="2021-08-01", value_type="count")


def test_too_few_post_months() -> None:
    series = _short_counts("2019-01-01", 14)
    with pytest.raises(ValueError, match=r"2 months from the intervention 2020-01-01 on; at least 3"):
        fit_its(series, intervention="2020-01-01", value_type="count", covid=None)


def test_missing_values_count_towards_minimum_only_when_present() -> None:
    series = _short_counts("2019-01-01", 20)  # 14 pre months for a 2020-03 go-live
    series.loc[[0, 1, 2], "value"] = np.nan
    with pytest.raises(ValueError, match=r"series has 11 months before"):
        fit_its(series, intervention="2020-03-01", value_type="count", covid=None)


def test_unknown_value_type() -> None:
    with pytest.raises(ValueError, match=r"unknown value_type 'ratio'"):
        fit_its(_short_counts("2019-01-01", 24), intervention="2020-01-01", value_type="ratio")


def test_negative_counts() -> None:
    series = _short_counts("2019-01-01", 24)
    series.loc[4, "value"] = -1
    with pytest.raises(ValueError, match=r"negative"):
        fit_its(series, intervention="2020-01-01", value_type="count", covid=None)


def _proportions(n: int = 24) -> pd.DataFrame:
    periods = _months("2019-01-01", n)
    num = np.full(n, 40.0)
    den = np.full(n, 100.0)
    return pd.DataFrame({"period": periods, "numerator": num, "denominator": den, "value": num / den})


def test_proportion_denominator_must_be_positive() -> None:
    series = _proportions()
    series.loc[3, "denominator"] = 0
    with pytest.raises(ValueError, match=r"denominator <= 0"):
        fit_its(series, intervention="2020-01-01", value_type="proportion", covid=None)


def test_proportion_numerator_cannot_exceed_denominator() -> None:
    series = _proportions()
    series.loc[3, "numerator"] = 101
    with pytest.raises(ValueError, match=r"numerator > denominator"):
        fit_its(series, intervention="2020-01-01", value_type="proportion", covid=None)


def test_offset_only_for_counts_and_must_be_positive() -> None:
    series = _proportions()
    with pytest.raises(ValueError, match=r"offset is only used for counts"):
        fit_its(series, intervention="2020-01-01", value_type="proportion", offset=np.ones(24))
    counts = _short_counts("2019-01-01", 24)
    with pytest.raises(ValueError, match=r"offset"):
        fit_its(counts, intervention="2020-01-01", value_type="count", offset=np.zeros(24))


def test_covid_window_identical_to_post_period_is_rejected() -> None:
    series = _short_counts("2019-03-01", 25)  # 2019-03 .. 2021-03
    rng = np.random.default_rng(0)
    series["value"] = rng.poisson(100, size=25).astype(float)
    with pytest.raises(ValueError, match=r"not of full rank"):
        fit_its(series, intervention="2020-03-01", value_type="count")


def test_ar1_covariance_matches_hand_gls_sandwich_for_gaussian() -> None:
    # Gaussian identity link: cov = s2 (X'X)^-1 X' R X (X'X)^-1, R[i, j] = rho^|i - j|, with rho the
    # residuals' lag-1 autocorrelation plus the small-sample correction (1 + 3 rho) / n + k / n.
    rng = np.random.default_rng(7)
    n, n_pre = 60, 36
    periods = _months("2012-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.5 * e[i - 1] + rng.normal(0, 1)
    y = 10 + 0.05 * t + 2 * post + e
    series = pd.DataFrame({"period": periods, "numerator": y, "denominator": np.nan, "value": y})
    res = fit_its(series, intervention=periods[n_pre], value_type="rate", covid=None, harmonics=0, cov_type="ar1")
    assert res.cov_type == "ar1"
    x = np.column_stack([np.ones(n), t, post, (t - n_pre) * post])
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    r = y - x @ beta
    k = x.shape[1]
    s2 = r @ r / (n - k)
    rho_hat = (r[1:] @ r[:-1]) / (r @ r)
    assert res.autocorrelation == pytest.approx(rho_hat, rel=1e-8)
    rho = min(max(rho_hat + (1 + 3 * rho_hat) / n + k / n, 0.0), 0.95)
    big_r = np.array([[rho ** abs(i - j) for j in range(n)] for i in range(n)])
    xtx_inv = np.linalg.inv(x.T @ x)
    cov = s2 * xtx_inv @ x.T @ big_r @ x @ xtx_inv
    assert res.step.se == pytest.approx(math.sqrt(cov[2, 2]), rel=1e-8)
    assert res.slope is not None and res.slope.se == pytest.approx(math.sqrt(cov[3, 3]), rel=1e-8)
    # t-based interval on the residual degrees of freedom.
    from scipy import stats

    tq = stats.t.ppf(0.975, n - k)
    assert res.step.ci_low == pytest.approx(res.step.estimate - tq * res.step.se, rel=1e-10)


def test_ar1_default_covers_better_than_newey_west_under_autocorrelation() -> None:
    # 200 Poisson series with AR(1) noise (phi 0.5) on the log scale and a true step of RR 0.85:
    # the default (AR(1) working correlation) should cover close to 95%; Newey-West under-covers.
    rng = np.random.default_rng(11)
    n, n_pre, reps = 96, 60, 200
    periods = _months("2015-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    hits = {"ar1": 0, "HAC": 0}
    for _ in range(reps):
        u = np.zeros(n)
        for i in range(1, n):
            u[i] = 0.5 * u[i - 1] + rng.normal(0, 0.06)
        counts = rng.poisson(np.exp(5 + 0.002 * t + np.log(0.85) * post + u))
        frame = _count_frame(periods, counts)
        for cov in hits:
            r = fit_its(frame, intervention=periods[n_pre], value_type="count", covid=None, harmonics=0,
                        cov_type=cov)
            hits[cov] += r.step.ci_low <= 0.85 <= r.step.ci_high
    assert hits["ar1"] / reps >= 0.91
    assert hits["ar1"] > hits["HAC"]


# --------------------------------------------------------------------------------------------------
# effects at 12 and 24 months, family and autocorrelation checks, diagnostics


Z975 = 1.959963984540054


def _rate_series(seed: int, n: int, n_pre: int, step: float = 2.0, slope: float = 0.1, phi: float = 0.0):
    rng = np.random.default_rng(seed)
    periods = _months("2010-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    e = np.zeros(n)
    for i in range(n):
        e[i] = (phi * e[i - 1] if i else 0.0) + rng.normal()
    y = 50 + 0.1 * t + step * post + slope * (t - n_pre) * post + e
    series = pd.DataFrame({"period": periods, "numerator": np.nan, "denominator": np.nan, "value": y})
    return series, periods, t, post, y


def test_rate_effects_match_hand_delta_method() -> None:
    n, n_pre = 56, 36  # 20 post months: the 24-month effect cannot be given
    series, periods, t, post, y = _rate_series(5, n, n_pre)
    res = fit_its(series, intervention=periods[n_pre], value_type="rate", covid=None, harmonics=0,
                  cov_type="nonrobust")
    x = np.column_stack([np.ones(n), t, post, (t - n_pre) * post])
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    r = y - x @ beta
    cov = (r @ r / (n - 4)) * np.linalg.inv(x.T @ x)
    assert res.effects is not None and res.effects["24"] is None
    e12 = res.effects["12"]
    assert e12 is not None
    assert e12["period"] == periods[n_pre + 11].strftime("%Y-%m-%d")  # the 12th month from go-live
    x_f = np.array([1.0, n_pre + 12, 1.0, 12.0])
    x_c = np.array([1.0, n_pre + 12, 0.0, 0.0])
    f, c = x_f @ beta, x_c @ beta
    se_abs = math.sqrt((x_f - x_c) @ cov @ (x_f - x_c))
    assert e12["absolute"]["estimate"] == pytest.approx(beta[2] + 12 * beta[3], rel=1e-8)
    assert e12["absolute"]["ci_low"] == pytest.approx(f - c - Z975 * se_abs, rel=1e-8)
    assert e12["absolute"]["ci_high"] == pytest.approx(f - c + Z975 * se_abs, rel=1e-8)
    g = x_f / c - f * x_c / c**2
    se_rel = math.sqrt(g @ cov @ g)
    assert e12["relative"]["estimate"] == pytest.approx(f / c - 1, rel=1e-8)
    assert e12["relative"]["ci_low"] == pytest.approx(f / c - 1 - Z975 * se_rel, rel=1e-8)
    assert e12["relative"]["ci_high"] == pytest.approx(f / c - 1 + Z975 * se_rel, rel=1e-8)
    assert e12["fitted"] == pytest.approx(f, rel=1e-10) and e12["counterfactual"] == pytest.approx(c, rel=1e-10)


def test_count_relative_effect_is_exact_on_the_log_scale() -> None:
    series, pop, n_pre = _sim_counts()  # 24 post months
    kw = {"intervention": series["period"].iloc[n_pre], "value_type": "count", "offset": pop}
    res = fit_its(series, slope_change=False, **kw)
    assert res.effects is not None
    for h in ("12", "24"):
        eff = res.effects[h]
        assert eff is not None
        # Without a slope term the relative effect at any horizon is the step's rate ratio minus 1.
        assert eff["relative"]["estimate"] == pytest.approx(res.step.estimate - 1, rel=1e-10)
        assert eff["relative"]["ci_low"] == pytest.approx(res.step.ci_low - 1, rel=1e-10)
        assert eff["relative"]["ci_high"] == pytest.approx(res.step.ci_high - 1, rel=1e-10)
        row = res.frame.loc[res.frame["period"] == pd.Timestamp(eff["period"])].iloc[0]
        assert eff["absolute"]["estimate"] == pytest.approx(row["fitted"] - row["counterfactual"], rel=1e-10)
        assert eff["absolute"]["ci_low"] < eff["absolute"]["estimate"] < eff["absolute"]["ci_high"]
    with_slope = fit_its(series, **kw)
    assert with_slope.effects is not None and with_slope.effects["24"] is not None
    expected = math.exp(with_slope.params["post"] + 24 * with_slope.params["slope"]) - 1
    assert with_slope.effects["24"]["relative"]["estimate"] == pytest.approx(expected, rel=1e-10)


def test_proportion_effects_match_numerical_delta_method() -> None:
    # The gradient is checked by finite differences of the effect as a function of the coefficients,
    # with the model-based quasi-binomial covariance computed by hand.
    rng = np.random.default_rng(2025)
    n, n_pre = 48, 30
    periods = _months("2010-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    denom = rng.integers(200, 300, size=n).astype(float)
    num = rng.binomial(denom.astype(int), 1 / (1 + np.exp(-(-0.5 + 0.01 * t + 0.4 * post)))).astype(float)
    series = pd.DataFrame({"period": periods, "numerator": num, "denominator": denom, "value": num / denom})
    res = fit_its(series, intervention=periods[n_pre], value_type="proportion", covid=None, harmonics=0,
                  cov_type="nonrobust")
    beta = np.array([res.params[k] for k in ("const", "time", "post", "slope")])
    x = np.column_stack([np.ones(n), t, post, (t - n_pre) * post])
    p = 1 / (1 + np.exp(-(x @ beta)))
    w = denom * p * (1 - p)
    cov = res.dispersion * np.linalg.inv(x.T @ (x * w[:, None]))
    x_f = np.array([1.0, n_pre + 12, 1.0, 12.0])
    x_c = np.array([1.0, n_pre + 12, 0.0, 0.0])

    def expit(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    def grad(fun) -> np.ndarray:  # central differences
        h = 1e-6
        return np.array([(fun(beta + h * e) - fun(beta - h * e)) / (2 * h) for e in np.eye(4)])

    def absolute(b: np.ndarray) -> float:
        return expit(x_f @ b) - expit(x_c @ b)

    def log_ratio(b: np.ndarray) -> float:
        return math.log(expit(x_f @ b)) - math.log(expit(x_c @ b))

    e12 = res.effects["12"] if res.effects else None
    assert e12 is not None
    se_abs = math.sqrt(grad(absolute) @ cov @ grad(absolute))
    assert e12["absolute"]["estimate"] == pytest.approx(absolute(beta), rel=1e-8)
    assert e12["absolute"]["ci_low"] == pytest.approx(absolute(beta) - Z975 * se_abs, rel=1e-5)
    se_lr = math.sqrt(grad(log_ratio) @ cov @ grad(log_ratio))
    assert e12["relative"]["estimate"] == pytest.approx(math.expm1(log_ratio(beta)), rel=1e-8)
    assert e12["relative"]["ci_high"] == pytest.approx(math.expm1(log_ratio(beta) + Z975 * se_lr), rel=1e-5)
    assert res.effects is not None and res.effects["24"] is None  # only 18 post months


@pytest.mark.filterwarnings("ignore:Perfect separation")
def test_effect_is_given_for_a_month_missing_from_the_series() -> None:
    periods = _months("2019-01-01", 48)  # go-live 2021-09 (time 33): 16 post months
    t = np.arange(1, 49)
    post = (periods >= "2021-09-01").astype(float)
    value = 10 + 0.5 * t + 3.0 * post + 0.2 * (t - 32) * post
    series = pd.DataFrame({"period": periods, "numerator": np.nan, "denominator": np.nan, "value": value})
    gap = series.drop(index=32 + 11).reset_index(drop=True)  # the 12th month from go-live (2022-08)
    res = fit_its(gap, intervention="2021-09-01", value_type="rate", harmonics=0, cov_type="nonrobust")
    e12 = res.effects["12"] if res.effects else None
    assert e12 is not None and e12["period"] == "2022-08-01"
    assert e12["absolute"]["estimate"] == pytest.approx(3.0 + 12 * 0.2, abs=1e-8)
    assert e12["counterfactual"] == pytest.approx(10 + 0.5 * 44, abs=1e-8)


def test_overdispersion_test_matches_pearson_chi2_by_hand() -> None:
    series, pop, n_pre = _sim_counts()
    # The test is of the Poisson GLM's fit; with "nonrobust" the frame's fitted values are that fit's.
    res = fit_its(series, intervention=series["period"].iloc[n_pre], value_type="count", offset=pop,
                  cov_type="nonrobust")
    od = res.overdispersion_test
    assert od is not None
    mu, y = res.frame["fitted"].to_numpy(), res.frame["observed"].to_numpy()
    chi2 = float(np.sum((y - mu) ** 2 / mu))
    df_resid = len(y) - len(res.params)
    from scipy import stats

    assert od["pearson_chi2"] == pytest.approx(chi2, rel=1e-6)
    assert od["df_resid"] == df_resid
    assert od["p_value"] == pytest.approx(stats.chi2.sf(chi2, df_resid), rel=1e-6)
    assert od["family_check"].startswith("consistent with the Poisson variance")  # the data are Poisson

    rng = np.random.default_rng(8)
    periods = _months("2012-01-01", 72)
    over = rng.negative_binomial(5, 5 / (5 + 300), size=72).astype(float)  # mean 300, variance 18,300
    nb = fit_its(_count_frame(periods, over), intervention=periods[48], value_type="count", cov_type="nonrobust")
    assert nb.overdispersion_test is not None
    assert nb.overdispersion_test["p_value"] < 0.001
    assert nb.overdispersion_test["family_check"].startswith(
        f"overdispersed (Pearson χ²/df = {nb.dispersion:.2f}, p < 0.001): quasi-likelihood scale used"
    )
    default = fit_its(_count_frame(periods, over), intervention=periods[48], value_type="count")
    assert default.overdispersion_test is not None
    assert default.overdispersion_test["dispersion"] == pytest.approx(nb.dispersion, rel=1e-12)
    assert default.overdispersion_test["family_check"].endswith("the latent AR(1) process's variance allows for it")
    hac = fit_its(_count_frame(periods, over), intervention=periods[48], value_type="count", cov_type="HAC")
    assert hac.overdispersion_test is not None and "Newey-West" in hac.overdispersion_test["family_check"]
    rate, periods_r, *_ = _rate_series(1, 48, 30)
    assert fit_its(rate, intervention=periods_r[30], value_type="rate").overdispersion_test is None


def _ljung_box_by_hand(r: np.ndarray, lags: int) -> float:
    d = r - r.mean()
    n = len(d)
    acfs = [float(d[k:] @ d[:-k] / (d @ d)) for k in range(1, lags + 1)]
    return n * (n + 2) * sum(a * a / (n - k) for k, a in enumerate(acfs, start=1))


def test_autocorrelation_test_matches_ljung_box_and_durbin_watson_by_hand() -> None:
    from scipy import stats

    n, n_pre = 96, 60
    for phi, autocorrelated in ((0.7, True), (0.0, False)):
        series, periods, *_ = _rate_series(21, n, n_pre, phi=phi)
        # "nonrobust": its fitted values are the GLM's, from which the Pearson residuals are taken.
        res = fit_its(series, intervention=periods[n_pre], value_type="rate", covid=None, cov_type="nonrobust")
        test = res.autocorrelation_test
        assert test is not None and res.residuals is not None
        r = res.residuals["residual"].to_numpy()
        # Gaussian Pearson residuals are the raw residuals.
        assert np.allclose(r, res.frame["observed"] - res.frame["fitted"], atol=1e-9)
        q = _ljung_box_by_hand(r, 12)
        assert test["ljung_box"]["lags"] == 12
        assert test["ljung_box"]["statistic"] == pytest.approx(q, rel=1e-8)
        assert test["ljung_box"]["p_value"] == pytest.approx(stats.chi2.sf(q, 12), rel=1e-6)
        assert test["durbin_watson"] == pytest.approx(float(np.sum(np.diff(r) ** 2) / np.sum(r**2)), rel=1e-10)
        assert test["lag1_autocorrelation"] == res.autocorrelation
        assert (test["ljung_box"]["p_value"] < 0.05) is autocorrelated
        assert test["interpretation"].startswith("residual autocorrelation" if autocorrelated else "no clear")


def test_diagnostics_gives_residuals_and_gap_aware_acf() -> None:
    series, periods, *_ = _rate_series(3, 72, 48, phi=0.5)
    gap = series.drop(index=[10, 11, 40]).reset_index(drop=True)
    res = fit_its(gap, intervention=periods[48], value_type="rate")
    d = json.loads(json.dumps(res.diagnostics()))
    n = 72 - 3
    assert len(d["residuals"]) == n
    assert d["residuals"][0] == {
        "period": "2010-01-01", "residual": pytest.approx(float(res.residuals["residual"].iloc[0])),
        "normalized": pytest.approx(float(res.residuals["normalized"].iloc[0])), "post": False,
    }
    assert sum(r["post"] for r in d["residuals"]) == 24
    assert d["acf"]["lags"] == list(range(1, 25))
    assert d["acf"]["band"] == pytest.approx(Z975 / math.sqrt(n), rel=1e-12)
    # Over calendar months: a missing month breaks the pairs either side of it instead of joining them.
    full = np.full(72, np.nan)
    months = (res.residuals["period"].dt.year * 12 + res.residuals["period"].dt.month).to_numpy()
    full[months - months[0]] = res.residuals["residual"].to_numpy()
    dev = full - np.nanmean(full)
    for k in (1, 2, 12):
        expected = np.nansum(dev[k:] * dev[:-k]) / np.nansum(dev * dev)
        assert d["acf"]["values"][k - 1] == pytest.approx(expected, rel=1e-10)
    assert d["autocorrelation_test"] == json.loads(json.dumps(res.autocorrelation_test))
    assert d["overdispersion_test"] is None


def test_to_dict_carries_effects_and_checks() -> None:
    series, pop, n_pre = _sim_counts()
    d = json.loads(json.dumps(fit_its(series, intervention=series["period"].iloc[n_pre], value_type="count",
                                      offset=pop).to_dict()))
    assert set(d["effects"]) == {"12", "24"}
    assert set(d["effects"]["12"]["absolute"]) == {"estimate", "ci_low", "ci_high"}
    assert d["overdispersion_test"]["family_check"]
    assert d["autocorrelation_test"]["ljung_box"]["lags"] == 12


# --------------------------------------------------------------------------------------------------
# placebo dates and COVID-19 sensitivity


def _counts_with_steps(steps: dict[int, float], n: int = 84, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    periods = _months("2014-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    eta = math.log(500) + 0.002 * t
    for at, rr in steps.items():
        eta = eta + math.log(rr) * (t > at)
    return _count_frame(periods, rng.poisson(np.exp(eta)))


def test_placebo_uses_only_pre_period_and_matches_direct_fits() -> None:
    series = _counts_with_steps({60: 0.7})  # a real step at go-live 2019-01 (row 60), none before
    go_live = series["period"].iloc[60]
    out = placebo_its(series, intervention=go_live, value_type="count", covid=None)
    assert list(out["offset_months"]) == [-24, -18, -12]
    assert list(out["n_post"]) == [24, 18, 12] and list(out["n_pre"]) == [36, 42, 48]
    pre = series.iloc[:60]
    for row in out.itertuples():
        direct = fit_its(pre, intervention=row.placebo_date, value_type="count", covid=None)
        assert row.estimate == pytest.approx(direct.step.estimate, rel=1e-12)
        assert row.ci_low == pytest.approx(direct.step.ci_low, rel=1e-12)
        assert row.excludes_null == (row.ci_low > 1 or row.ci_high < 1)
        assert row.note == ""
    # Nothing after go-live can change a placebo result.
    changed = series.copy()
    changed.loc[60:, "value"] = changed.loc[60:, "value"] * 3
    pd.testing.assert_frame_equal(placebo_its(changed, intervention=go_live, value_type="count", covid=None), out)


def test_placebo_flags_an_earlier_change_and_skips_short_segments() -> None:
    series = _counts_with_steps({48: 0.8, 60: 0.7})  # an earlier change 12 months before go-live
    out = placebo_its(series, intervention=series["period"].iloc[60], value_type="count", covid=None,
                      offsets=(-54, -12, -3), slope_change=False)
    # -54 leaves 6 months before it, -3 leaves 3 after it: both skipped.
    assert list(out["offset_months"]) == [-12]
    assert bool(out["excludes_null"].iloc[0])
    assert out["ci_low"].iloc[0] < 0.8 < out["ci_high"].iloc[0] < 1
    with pytest.raises(ValueError, match="must be negative"):
        placebo_its(series, intervention=series["period"].iloc[60], value_type="count", offsets=(6,))


def test_placebo_cuts_the_offset_down_with_the_series() -> None:
    series, pop, n_pre = _sim_counts()
    go_live = series["period"].iloc[n_pre]
    out = placebo_its(series, intervention=go_live, value_type="count", offset=pd.Series(pop), offsets=(-18,))
    direct = fit_its(series.iloc[:n_pre], intervention=series["period"].iloc[n_pre - 18], value_type="count",
                     offset=pop[:n_pre])
    assert out["estimate"].iloc[0] == pytest.approx(direct.step.estimate, rel=1e-12)


def test_covid_sensitivity_compares_term_with_exclusion() -> None:
    rng = np.random.default_rng(9)
    periods = _months("2016-04-01", 108)
    t = np.arange(1, 109, dtype=float)
    covid = ((periods >= "2020-03-01") & (periods <= "2021-03-01")).astype(float)
    post = (periods >= "2022-04-01").astype(float)
    counts = rng.poisson(np.exp(math.log(800) + 0.002 * t - 0.3 * covid + math.log(0.9) * post))
    series = _count_frame(periods, counts)
    out = covid_sensitivity(series, intervention="2022-04-01", value_type="count")
    json.dumps(out)
    main = fit_its(series, intervention="2022-04-01", value_type="count")
    kept = series[~((series["period"] >= "2020-03-01") & (series["period"] <= "2021-03-01"))]
    excl = fit_its(kept, intervention="2022-04-01", value_type="count", covid=None)
    assert out["window"] == ["2020-03-01", "2021-03-01"]
    assert out["main"]["step"]["estimate"] == pytest.approx(main.step.estimate, rel=1e-12)
    assert out["covid_excluded"]["step"]["ci_high"] == pytest.approx(excl.step.ci_high, rel=1e-12)
    assert out["covid_excluded"]["n_excluded"] == 13 and out["covid_excluded"]["n_months"] == 95
    assert out["note"] == ""
    # Both handle the dip, so they agree closely here; a model that ignored it would not.
    assert out["covid_excluded"]["step"]["estimate"] == pytest.approx(out["main"]["step"]["estimate"], rel=0.03)
    # Shown with the GLM fit: the default's AR(1) error model absorbs part of an unmodelled dip (its rho
    # goes to the 0.95 bound), which is itself a sign of a missing term, but blurs the contrast.
    ignored = fit_its(series, intervention="2022-04-01", value_type="count", covid=None, cov_type="nonrobust")
    glm = fit_its(series, intervention="2022-04-01", value_type="count", cov_type="nonrobust")
    assert abs(math.log(ignored.step.estimate / glm.step.estimate)) > 0.03

    early, *_ = _sim_counts()  # 2010-2015: nothing to leave out
    same = covid_sensitivity(early, intervention=early["period"].iloc[48], value_type="count")
    assert same["covid_excluded"]["n_excluded"] == 0 and "same" in same["note"]


# --------------------------------------------------------------------------------------------------
# default inference: AR(1) error model by restricted (pseudo-)likelihood with Kenward-Roger


def _reml_by_prais_winsten(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Independent REML for y = X b + e, e AR(1): profile over rho with the Prais-Winsten transform."""
    from scipy import optimize

    n, p = x.shape

    def whiten(m: np.ndarray, rho: float) -> np.ndarray:
        out = np.array(m, dtype=float, copy=True)
        out[1:] = (m[1:] - rho * m[:-1]) / math.sqrt(1 - rho * rho)
        return out

    def neg_reml(rho: float) -> float:
        a, b = whiten(x, rho), whiten(y, rho)
        beta = np.linalg.lstsq(a, b, rcond=None)[0]
        rss = float(np.sum((b - a @ beta) ** 2))
        # log|R| = (n - 1) log(1 - rho^2) for a stationary AR(1) correlation matrix.
        return 0.5 * ((n - p) * math.log(rss / (n - p)) + (n - 1) * math.log(1 - rho * rho)
                      + np.linalg.slogdet(a.T @ a)[1])

    rho = float(optimize.minimize_scalar(neg_reml, bounds=(0.0, 0.95), method="bounded",
                                         options={"xatol": 1e-10}).x)
    a, b = whiten(x, rho), whiten(y, rho)
    beta = np.linalg.lstsq(a, b, rcond=None)[0]
    s2 = float(np.sum((b - a @ beta) ** 2)) / (n - p)
    return rho, beta, s2


def test_default_rate_fit_is_reml_gls_with_ar1_errors() -> None:
    n, n_pre = 96, 60
    series, periods, t, post, y = _rate_series(31, n, n_pre, phi=0.6)
    res = fit_its(series, intervention=periods[n_pre], value_type="rate", covid=None, harmonics=0)
    assert res.cov_type == "ar1_kr" and res.error_model is not None
    x = np.column_stack([np.ones(n), t, post, (t - n_pre) * post])
    rho, beta, s2 = _reml_by_prais_winsten(x, y)
    assert res.error_model["rho"] == pytest.approx(rho, abs=1e-4)
    assert res.error_model["latent_sd"] == pytest.approx(math.sqrt(s2), rel=1e-3)
    assert res.step.estimate == pytest.approx(beta[2], abs=1e-4)
    assert res.params["slope"] == pytest.approx(beta[3], abs=1e-5)
    # Plug-in GLS covariance s2 (X' R^-1 X)^-1; Kenward-Roger only ever widens it for the step here.
    big_r = rho ** np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    plug_in = s2 * np.linalg.inv(x.T @ np.linalg.solve(big_r, x))
    assert res.step.se >= math.sqrt(plug_in[2, 2]) * (1 - 1e-3)
    assert res.step.se < 1.2 * math.sqrt(plug_in[2, 2])
    # Satterthwaite df are below the residual df (the correlation is estimated) but not absurdly so.
    assert 5 < res.error_model["step_df"] < n - 4
    from scipy import stats

    q = stats.t.ppf(0.975, res.error_model["step_df"])
    assert res.step.ci_high == pytest.approx(res.step.estimate + q * res.step.se, rel=1e-9)


def test_default_normalized_residuals_lose_the_autocorrelation() -> None:
    series, periods, *_ = _rate_series(41, 120, 72, phi=0.7)
    res = fit_its(series, intervention=periods[72], value_type="rate", covid=None)
    assert res.residuals is not None
    raw = res.residuals["residual"].to_numpy()
    left = res.residuals["normalized"].to_numpy()
    r1 = lambda r: float(np.sum((r[1:] - r.mean()) * (r[:-1] - r.mean())) / np.sum((r - r.mean()) ** 2))  # noqa: E731
    assert r1(raw) > 0.5
    assert abs(r1(left)) < 0.2
    d = res.diagnostics()
    assert d["acf"]["values"][0] > d["acf"]["band"] > abs(d["acf"]["normalized"][0])
    assert "after the AR(1) error model" in d["summary"]
    assert d["summary"].startswith("Before allowing for autocorrelation the residuals' lag-1 autocorrelation is 0.")
    # Q-Q data: sorted, standardised, one point per month.
    assert len(d["qq"]["sample"]) == len(d["qq"]["theoretical"]) == 120
    assert d["qq"]["sample"] == sorted(d["qq"]["sample"])
    nonrobust = fit_its(series, intervention=periods[72], value_type="rate", covid=None, cov_type="nonrobust")
    assert nonrobust.error_model is None
    assert "models no autocorrelation" in nonrobust.diagnostics()["summary"]


def test_default_allows_for_a_latent_ar1_process_in_counts() -> None:
    # Poisson counts around 4,000 with an AR(1) latent process (phi 0.5, SD 0.1 on the log scale):
    # the extra-Poisson variation is multiplicative, which the default models. Its intervals should
    # cover close to 95%; the quasi-Poisson AR(1) sandwich ("ar1") covers less.
    rng = np.random.default_rng(2024)
    n, n_pre, reps, phi, sd = 96, 60, 150, 0.5, 0.1
    periods = _months("2015-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    step = math.log(0.9)
    hits = {"ar1_kr": 0, "ar1": 0}
    for _ in range(reps):
        u = np.zeros(n)
        u[0] = rng.normal(0, sd)
        for i in range(1, n):
            u[i] = phi * u[i - 1] + rng.normal(0, sd * math.sqrt(1 - phi * phi))
        counts = rng.poisson(np.exp(math.log(4000) + 0.002 * t + step * post + u))
        frame = _count_frame(periods, counts)
        for cov in hits:
            r = fit_its(frame, intervention=periods[n_pre], value_type="count", covid=None, harmonics=0,
                        cov_type=cov)
            hits[cov] += r.step.ci_low <= 0.9 <= r.step.ci_high
    assert hits["ar1_kr"] / reps >= 0.93
    assert hits["ar1_kr"] > hits["ar1"]


def test_default_handles_pure_poisson_counts_and_gaps() -> None:
    # No latent variation at all: the latent variance goes to (nearly) zero, rho is then barely
    # identified, and the degrees of freedom must stay sensible (capped variance of rho), not collapse.
    rng = np.random.default_rng(5)
    n, n_pre = 96, 60
    periods = _months("2015-01-01", n)
    t = np.arange(1, n + 1, dtype=float)
    post = (t > n_pre).astype(float)
    dfs = []
    for _ in range(20):
        counts = rng.poisson(np.exp(math.log(4000) + 0.002 * t + math.log(1.05) * post))
        frame = _count_frame(periods, counts).drop(index=[5, 6, 70]).reset_index(drop=True)
        r = fit_its(frame, intervention=periods[n_pre], value_type="count")
        assert r.error_model is not None and r.error_model["latent_sd"] < 0.02
        assert np.isfinite(r.step.ci_low) and np.isfinite(r.step.ci_high)
        assert r.effects is not None and all(np.isfinite(e["relative"]["ci_high"]) for e in r.effects.values() if e)
        dfs.append(r.error_model["step_df"])
    assert min(dfs) > 10


def test_placebo_dates_run_for_proportions() -> None:
    """Regression: under pandas copy-on-write an in-place '&=' on a to_numpy() view raised 'output array is
    read-only', so proportions silently lost their placebo test."""
    rng = np.random.default_rng(7)
    periods = _months("2016-04-01", 72)
    denom = rng.integers(400, 600, size=72)
    num = rng.binomial(denom, 0.6)
    df = pd.DataFrame({"period": periods, "numerator": num.astype(float), "denominator": denom.astype(float),
                       "value": num / denom})
    out = placebo_its(df, intervention=periods[48], value_type="proportion")
    assert len(out) == 3
    assert (pd.to_datetime(out["placebo_date"]) < periods[48]).all()
    assert out["p_value"].between(0, 1).all()
