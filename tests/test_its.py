"""Tests for evaluation.methods.its (segmented regression ITS)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.methods.its import Estimate, ITSResult, fit_its

SICILY_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "known-answers" / "its_sicily"
SICILY_CSV = SICILY_DIR / "sicily.csv"


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
    if not SICILY_CSV.exists():
        pytest.skip(f"Sicily known-answer data not found at {SICILY_CSV} (shared data checkout missing)")
    raw = pd.read_csv(SICILY_CSV)
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
    assert res.slope.p_value < 0.001


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
        "post",
    }


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
    res = fit_its(series, intervention=periods[n_pre], value_type="rate", covid=None, harmonics=0)
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
