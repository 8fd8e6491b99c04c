"""Tests for evaluation.methods.its_estimand: the primary estimand, its MDE and the prediction band."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.methods.its import fit_its


def _months(n: int, start: str = "2017-04-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def _count_series(n: int, go_live_index: int, step: float, slope: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    post = t > go_live_index
    eta = math.log(200) + 0.002 * t + post * (math.log(step) + math.log(slope) * (t - go_live_index))
    y = rng.poisson(np.exp(eta + rng.normal(0, 0.04, n))).astype(float)
    return pd.DataFrame({"period": _months(n), "value": y, "numerator": y, "denominator": np.nan})


def _ar1(n: int, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    e = np.empty(n)
    e[0] = rng.normal(0, sd)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + rng.normal(0, sd * math.sqrt(1 - rho**2))
    return e


def test_count_primary_estimand_is_the_average_of_fitted_minus_counterfactual() -> None:
    """Absolute = mean over the first 12 months of (fitted - counterfactual); relative = % change of the
    totals; both computed by hand from the frame."""
    s = _count_series(72, 48, 0.85, 1.01, seed=1)
    res = fit_its(s, intervention=s["period"].iloc[48], value_type="count", covid=None)
    pe = res.primary_estimand()
    first12 = res.frame[res.frame["post"]].iloc[:12]
    assert pe.months == 12 and pe.complete and pe.n_post_used == 12
    assert pe.absolute.estimate == pytest.approx((first12["fitted"] - first12["counterfactual"]).mean(), rel=1e-9)
    assert pe.relative.estimate == pytest.approx(100 * (first12["fitted"].sum() / first12["counterfactual"].sum() - 1),
                                                 rel=1e-9)
    assert pe.relative_scale == "percent" and pe.absolute_units == "count per month"
    assert pe.absolute.ci_low < pe.absolute.estimate < pe.absolute.ci_high
    assert pe.relative.ci_low > -100
    assert pe.first_month == f"{s['period'].iloc[48]:%Y-%m-%d}" and pe.last_month == f"{s['period'].iloc[59]:%Y-%m-%d}"


def test_fewer_months_than_the_horizon_are_averaged_and_said() -> None:
    s = _count_series(56, 48, 0.85, 1.0, seed=2)
    res = fit_its(s, intervention=s["period"].iloc[48], value_type="count", covid=None)
    pe = res.primary_estimand()
    assert pe.months == 8 and not pe.complete and pe.horizon_months == 12
    assert "8 months" in pe.note and "first 12" in pe.note


def test_a_gap_after_go_live_counts_as_a_month_but_not_as_observed() -> None:
    s = _count_series(72, 48, 0.85, 1.0, seed=3).drop(index=[50, 51])
    res = fit_its(s, intervention=s["period"].iloc[48], value_type="count", covid=None)
    pe = res.primary_estimand()
    assert pe.months == 12 and pe.n_post_used == 10


def test_proportion_relative_is_percentage_points_and_never_an_odds_ratio() -> None:
    rng = np.random.default_rng(4)
    n, g = 60, 44
    t = np.arange(n)
    den = np.full(n, 800.0)
    p = 1 / (1 + np.exp(-(0.8 + 0.3 * (t >= g) + rng.normal(0, 0.05, n))))
    num = rng.binomial(den.astype(int), p).astype(float)
    s = pd.DataFrame({"period": _months(n), "numerator": num, "denominator": den, "value": num / den})
    res = fit_its(s, intervention=s["period"].iloc[g], value_type="proportion", covid=None)
    pe = res.primary_estimand()
    assert pe.relative_scale == "percentage_points"
    assert pe.relative.estimate == pytest.approx(100 * pe.absolute.estimate, rel=1e-12)
    assert pe.relative.ci_low == pytest.approx(100 * pe.absolute.ci_low, rel=1e-12)
    first = res.frame[res.frame["post"]].iloc[:12]
    assert pe.absolute.estimate == pytest.approx((first["fitted"] - first["counterfactual"]).mean(), rel=1e-9)
    # the truth: logit step 0.3 at p ~ expit(0.8) is about +6 points
    assert 2 < pe.relative.estimate < 10


def test_mde_is_t_quantiles_times_the_standard_error() -> None:
    s = _count_series(72, 48, 1.0, 1.0, seed=5)
    pe = fit_its(s, intervention=s["period"].iloc[48], value_type="count", covid=None).primary_estimand()
    k = stats.t.ppf(0.975, pe.absolute.df) + stats.t.ppf(0.8, pe.absolute.df)
    assert pe.mde.absolute == pytest.approx(k * pe.absolute.se, rel=1e-9)
    k_rel = stats.t.ppf(0.975, pe.relative.df) + stats.t.ppf(0.8, pe.relative.df)
    assert pe.mde.relative_increase == pytest.approx(100 * math.expm1(k_rel * pe.relative.se), rel=1e-9)
    assert pe.mde.relative_decrease == pytest.approx(100 * math.expm1(-k_rel * pe.relative.se), rel=1e-9)
    assert pe.mde.power == 0.8 and pe.mde.alpha == 0.05


def test_rate_primary_estimand_covers_the_truth_and_prediction_band_holds_new_months() -> None:
    """Gaussian AR(1) series (rho 0.5) with a step -0.5 and slope -0.05 a month: the true primary estimand is
    -0.5 - 0.05 x 6.5 = -0.825. Across 100 series the 95% interval covers it in 88-99.5% (binomial SD 2%).
    Had nothing changed, at most 10% of post-go-live months fall outside the 95% prediction band (fewer than
    5%: those months are in the fit, so the band is conservative for them), while the mean's confidence
    band leaves far more than 15% outside."""
    rng = np.random.default_rng(20260101)
    n, g, reps = 60, 44, 100
    truth = -0.5 - 0.05 * np.mean(np.arange(1, 13))
    t = np.arange(1, n + 1)
    covered, outside_pi, outside_ci, post_months = 0, 0, 0, 0
    for _ in range(reps):
        e = _ar1(n, 0.5, 0.3, rng)
        base = 5 + 0.01 * t + 0.3 * np.sin(2 * np.pi * t / 12)
        y = base + (t > g) * (-0.5 - 0.05 * (t - g)) + e
        res = fit_its(pd.DataFrame({"period": _months(n), "value": y}), intervention=_months(n)[g],
                      value_type="rate", covid=None)
        pe = res.primary_estimand()
        covered += pe.absolute.ci_low <= truth <= pe.absolute.ci_high
        y0 = base + e  # the same series had nothing changed
        f = res.frame[res.frame["post"]]
        y0_post = y0[g:]
        outside_pi += int(np.sum((y0_post < f["cf_pred_low"]) | (y0_post > f["cf_pred_high"])))
        outside_ci += int(np.sum((y0_post < f["cf_low"]) | (y0_post > f["cf_high"])))
        post_months += len(f)
    assert 0.88 <= covered / reps <= 0.995
    assert 0.001 <= outside_pi / post_months <= 0.10
    assert outside_ci / post_months > 0.15


def test_covid_sensitivity_reports_the_primary_estimand_of_both_models() -> None:
    from evaluation.methods.its import covid_sensitivity

    s = _count_series(72, 48, 0.85, 1.0, seed=6)
    out = covid_sensitivity(s, intervention=s["period"].iloc[48], value_type="count")
    main = fit_its(s, intervention=s["period"].iloc[48], value_type="count").primary_estimand()
    assert out["main"]["primary"]["relative"]["estimate"] == pytest.approx(main.relative.estimate)
    assert out["covid_excluded"]["primary"]["months"] == 12
