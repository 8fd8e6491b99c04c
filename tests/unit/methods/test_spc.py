"""Tests for evaluation.methods.spc (XmR charts, Making Data Count rules).

Expected limits are computed here with plain arithmetic, independently of the code under test.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from evaluation.methods.spc import XmRResult, xmr

TOL = 1e-6


def hand_limits(values: list[float], screen: bool = True) -> tuple[float, float, float]:
    """Mean, LPL, UPL by plain arithmetic (missing values left out, one screening pass)."""
    xs = [v for v in values if not math.isnan(v)]
    mean = sum(xs) / len(xs)
    mrs = [abs(b - a) for a, b in zip(xs, xs[1:], strict=False)]
    mmr = sum(mrs) / len(mrs)
    if screen:
        kept = [m for m in mrs if m < 3.267 * mmr]
        mmr = sum(kept) / len(kept)
    return mean, mean - 2.66 * mmr, mean + 2.66 * mmr


def types(res: XmRResult) -> list[str]:
    return list(res.points["point_type"])


def flagged(res: XmRResult) -> list[int]:
    return [i for i, t in enumerate(types(res)) if t not in ("common_cause", "missing")]


# --------------------------------------------------------------------------------------------------
# limits


def test_worked_example_limits() -> None:
    values = [5.0, 7, 6, 8, 6, 7, 5, 6, 7, 6]
    # mean = 63 / 10; moving ranges 2,1,2,2,1,2,1,1,1 -> mean MR 13 / 9; none >= 3.267 * 13 / 9.
    mean = 63 / 10
    mmr = 13 / 9
    res = xmr(values)
    pts = res.points
    assert pts["mean"].iloc[0] == pytest.approx(mean, abs=TOL)
    assert pts["lpl"].iloc[0] == pytest.approx(mean - 2.66 * mmr, abs=TOL)
    assert pts["upl"].iloc[0] == pytest.approx(mean + 2.66 * mmr, abs=TOL)
    assert pts["lpl"].nunique() == 1 and pts["upl"].nunique() == 1
    assert math.isnan(pts["moving_range"].iloc[0])
    assert list(pts["moving_range"].iloc[1:]) == [2, 1, 2, 2, 1, 2, 1, 1, 1]
    assert res.summary["mean"] == pytest.approx(mean, abs=TOL)
    assert res.summary["lpl"] == pytest.approx(mean - 2.66 * mmr, abs=TOL)
    assert res.summary["upl"] == pytest.approx(mean + 2.66 * mmr, abs=TOL)
    assert res.summary["n"] == 10
    assert set(types(res)) == {"common_cause"}
    assert res.summary["variation_icon"] == "common_cause"
    assert list(pts.columns[:9]) == [
        "period",
        "value",
        "phase",
        "mean",
        "lpl",
        "upl",
        "moving_range",
        "trial",
        "point_type",
    ]


def test_screening_drops_large_moving_ranges() -> None:
    values = [10.0, 11, 10, 12, 11, 10, 40, 11, 10, 11, 12, 10, 11]
    # mean 169 / 13 = 13; MRs 1,1,2,1,1,30,29,1,1,1,2,1 (sum 71, mean 71/12, cut-off 19.3):
    # 30 and 29 are dropped, leaving sum 12 over 10 moving ranges.
    screened = xmr(values)
    assert screened.summary["mean"] == pytest.approx(13.0, abs=TOL)
    assert screened.summary["lpl"] == pytest.approx(13 - 2.66 * 1.2, abs=TOL)
    assert screened.summary["upl"] == pytest.approx(13 + 2.66 * 1.2, abs=TOL)
    raw = xmr(values, screen_outliers=False)
    assert raw.summary["lpl"] == pytest.approx(13 - 2.66 * 71 / 12, abs=TOL)
    assert raw.summary["upl"] == pytest.approx(13 + 2.66 * 71 / 12, abs=TOL)
    # The outlier is special cause only once its own moving ranges no longer inflate the limits.
    assert screened.points["point_type"].iloc[6] == "special_cause_neutral_high"
    assert raw.points["point_type"].iloc[6] == "special_cause_neutral_high"
    assert screened.summary["upl"] < raw.summary["upl"]


def test_screening_is_a_single_pass() -> None:
    values = [10.0, 11, 10, 11, 10, 11, 40, 11, 10, 11, 19, 11, 10, 11]
    # MRs: 1,1,1,1,1,29,29,1,1,8,8,1,1 (mean 83/13, cut-off 20.9) -> the 29s go, mean 25/11.
    # A second pass would also drop the 8s (>= 3.267 * 25/11 = 7.4); it must not happen.
    assert 8 >= 3.267 * 25 / 11
    mean = sum(values) / len(values)
    res = xmr(values)
    assert res.summary["upl"] == pytest.approx(mean + 2.66 * 25 / 11, abs=TOL)
    assert res.summary["lpl"] == pytest.approx(mean - 2.66 * 25 / 11, abs=TOL)


def test_screening_drops_a_moving_range_exactly_at_the_cut_off() -> None:
    # Eight moving ranges of 1 and one of B, with B chosen so that B == 3.267 * mean MR exactly in
    # floating point: "at or above" the cut-off means it is dropped, leaving a mean MR of 1.
    big = 4.558869701726845
    values = [0.0, 1, 0, 1, 0, 1, 0, 1, 0, big]
    mrs = [abs(b - a) for a, b in zip(values, values[1:], strict=False)]
    assert mrs[-1] == big == 3.267 * (sum(mrs) / len(mrs))  # design check
    mean = sum(values) / len(values)
    res = xmr(values)
    assert res.summary["lpl"] == pytest.approx(mean - 2.66 * 1.0, abs=TOL)
    assert res.summary["upl"] == pytest.approx(mean + 2.66 * 1.0, abs=TOL)


def test_trial_limits_below_13_points() -> None:
    base = [5.0, 7, 6, 8, 6, 7, 5, 6, 7, 6, 5, 7, 6]
    short = xmr(base[:12])
    assert short.points["trial"].all()
    assert short.summary["trial"] is True
    full = xmr(base)
    assert not full.points["trial"].any()
    assert full.summary["trial"] is False


# --------------------------------------------------------------------------------------------------
# rules, one at a time

SPIKES = [10.0, 12, 10, 12, 30, 10, 12, 10, 12, 10, -8, 12, 10, 12, 10, 12]  # mean exactly 11


def test_rule_outside_limits() -> None:
    mean, lpl, upl = hand_limits(SPIKES)
    assert mean == 11 and SPIKES[4] > upl and SPIKES[10] < lpl  # design check
    res = xmr(SPIKES)
    assert res.points["lpl"].iloc[0] == pytest.approx(lpl, abs=TOL)
    assert res.points["upl"].iloc[0] == pytest.approx(upl, abs=TOL)
    assert flagged(res) == [4, 10]
    assert res.points["point_type"].iloc[4] == "special_cause_neutral_high"
    assert res.points["point_type"].iloc[10] == "special_cause_neutral_low"
    assert res.points["rule"].iloc[4] == "outside_limits"


def test_point_exactly_on_the_limit_is_not_outside() -> None:
    # The last value was chosen so that it equals the UPL computed with it included (a fixed
    # point, found numerically once); "outside" is strictly beyond the limit.
    on_limit = 3.9836065573770494
    values = [0.0, 1] * 6 + [0.0, on_limit]
    _, _, upl = hand_limits(values)
    assert on_limit == upl  # design check
    res = xmr(values)
    assert res.points["upl"].iloc[-1] == upl
    assert res.points["point_type"].iloc[-1] == "common_cause"
    beyond = [*values[:-1], on_limit + 0.01]
    assert beyond[-1] > hand_limits(beyond)[2]
    assert xmr(beyond).points["point_type"].iloc[-1] == "special_cause_neutral_high"


TREND_BASE_BEFORE = [10.0, 14, 10, 14, 10, 14]
TREND_BASE_AFTER = [10.0, 14, 10, 14]


def test_rule_trend_of_seven_increasing_flags_all_seven() -> None:
    values = TREND_BASE_BEFORE + [9, 10, 11, 12, 13, 14, 15] + TREND_BASE_AFTER
    mean, lpl, upl = hand_limits(values)
    assert mean == 12 and lpl < 9 and mean + 2 / 3 * (upl - mean) > 15  # no other rule applies
    res = xmr(values)
    assert flagged(res) == list(range(6, 13))
    # NHSRplotthedots: a flagged point's type follows its side of the mean (a point on the mean counts
    # as low), not the direction of the trend.
    assert types(res)[6:13] == ["special_cause_neutral_low"] * 4 + ["special_cause_neutral_high"] * 3
    assert set(res.points["rule"].iloc[6:13]) == {"trend"}


def test_rule_trend_decreasing_is_typed_by_side_of_mean() -> None:
    values = TREND_BASE_BEFORE + [15, 14, 13, 12, 11, 10, 9] + [14, 10, 14, 10]
    res = xmr(values)
    assert flagged(res) == list(range(6, 13))
    assert types(res)[6:13] == ["special_cause_neutral_high"] * 3 + ["special_cause_neutral_low"] * 4


def test_six_point_trend_is_not_flagged() -> None:
    values = TREND_BASE_BEFORE + [9, 10, 11, 12, 13, 14] + [10, 14, 10, 14, 10]
    assert flagged(xmr(values)) == []


def test_tie_breaks_a_trend() -> None:
    values = TREND_BASE_BEFORE + [9, 10, 11, 12, 12, 13, 14] + TREND_BASE_AFTER
    assert flagged(xmr(values)) == []


def test_rule_two_of_three_flags_only_the_close_points() -> None:
    values = [10.0, 11] * 4 + [14, 11, 14] + [10, 11] * 3 + [7, 10, 7] + [11, 10] * 3 + [11]
    mean, lpl, upl = hand_limits(values)
    hi_zone = mean + 2 / 3 * (upl - mean)
    lo_zone = mean - 2 / 3 * (mean - lpl)
    assert hi_zone < 14 < upl and lpl < 7 < lo_zone and 10 < mean < 11  # design check
    res = xmr(values)
    assert flagged(res) == [8, 10, 17, 19]
    assert types(res)[8] == types(res)[10] == "special_cause_neutral_high"
    assert types(res)[17] == types(res)[19] == "special_cause_neutral_low"
    assert set(res.points["rule"].iloc[[8, 10, 17, 19]]) == {"two_of_three"}
    assert types(res)[9] == "common_cause"


def test_rule_two_of_three_needs_all_three_on_the_same_side() -> None:
    # Same close points, but the middle point of each triple is on the other side of the mean.
    values = [10.0, 11] * 4 + [14, 10, 14] + [10, 11] * 3 + [7, 11, 7] + [11, 10] * 3 + [11]
    mean, lpl, upl = hand_limits(values)
    assert mean + 2 / 3 * (upl - mean) < 14 < upl and lpl < 7 < mean - 2 / 3 * (mean - lpl)
    assert 10 < mean < 11
    assert flagged(xmr(values)) == []


def test_rule_two_of_three_ignores_a_single_close_point() -> None:
    values = [10.0, 11] * 4 + [14, 11] + [10, 11] * 3 + [10, 7, 10] + [11, 10] * 3 + [11]
    mean, lpl, upl = hand_limits(values)
    assert mean + 2 / 3 * (upl - mean) < 14 < upl and lpl < 7 < mean - 2 / 3 * (mean - lpl)
    assert 10 < mean < 11  # so (11, 14, 11) and (10, 7, 10) are each on one side of the mean
    assert flagged(xmr(values)) == []


def _run_series(x: float, y: float) -> list[float]:
    # Mean is exactly 0 whenever x + y == 0.
    return [2.0, -2, 2, -2, 1, 1, 1, x, 1, 1, 1, -2, 2, -2, 2, -1, -1, -1, y, -1, -1, -1, 2, -2, 2, -2]


def test_rule_run_of_seven_on_one_side() -> None:
    res = xmr(_run_series(1, -1))
    assert res.points["mean"].iloc[0] == 0.0
    assert flagged(res) == list(range(4, 11)) + list(range(15, 22))
    assert set(types(res)[4:11]) == {"special_cause_neutral_high"}
    assert set(types(res)[15:22]) == {"special_cause_neutral_low"}
    assert set(res.points["rule"].iloc[4:11]) == {"run"}


def test_point_on_the_mean_breaks_a_run() -> None:
    res = xmr(_run_series(0, 0))
    assert res.points["mean"].iloc[0] == 0.0
    assert flagged(res) == []


def test_run_that_crosses_the_mean_is_not_flagged() -> None:
    res = xmr(_run_series(-1, 1))
    assert res.points["mean"].iloc[0] == 0.0
    assert flagged(res) == []


# --------------------------------------------------------------------------------------------------
# precedence


def test_outside_limits_is_recorded_first_and_types_follow_the_side_of_the_mean() -> None:
    # The first point of a rising trend is below the lower limit (rule 1 recorded); the rest of the trend
    # is flagged by rule 2 and, as in NHSRplotthedots, typed by its side of the mean.
    values = [8.0, 12] * 6 + [-4, 7, 8, 9, 10, 11, 12]
    mean, lpl, upl = hand_limits(values)
    assert -4 < lpl < 7 and 9 < mean < 10  # design check
    res = xmr(values, improvement="increase")
    assert types(res)[12] == "special_cause_concern"
    assert res.points["rule"].iloc[12] == "outside_limits"
    assert types(res)[13:19] == ["special_cause_concern"] * 3 + ["special_cause_improvement"] * 3
    assert set(res.points["rule"].iloc[13:19]) == {"trend"}


def test_a_falling_trend_above_the_mean_is_high_side() -> None:
    # A falling trend entirely above the mean: NHSRplotthedots types every flagged point by its side of
    # the mean, so these are "high" (improvement when higher is better) whichever rule flagged them.
    trend = [14.5, 14, 13.5, 13, 12.5, 12, 11.5]
    values = [8.0, 12] * 6 + trend + [8, 12, 8, 12]
    mean, lpl, upl = hand_limits(values)
    assert min(trend) > mean and max(trend) < upl  # a run of 7 above the mean, inside the limits
    res = xmr(values, improvement="increase")
    assert set(types(res)[12:19]) == {"special_cause_improvement"}
    assert set(res.points["rule"].iloc[12:19]) == {"trend"}
    # Without the falling order the same values are a run above the mean: improvement.
    rising_free = [8.0, 12] * 6 + [14.5, 12, 14, 11.5, 13.5, 12.5, 13] + [8, 12, 8, 12]
    res2 = xmr(rising_free, improvement="increase")
    assert set(types(res2)[12:19]) == {"special_cause_improvement"}


# --------------------------------------------------------------------------------------------------
# improvement direction and icons

ENDS_HIGH = [10.0, 12, 10, 12, 10, 12, 10, -8, 12, 10, 12, 10, 12, 10, 12, 30]
ENDS_LOW = [10.0, 12, 10, 12, 10, 12, 10, 30, 12, 10, 12, 10, 12, 10, 12, -8]


@pytest.mark.parametrize(
    ("improvement", "high_type", "low_type", "icon_high", "icon_low"),
    [
        ("increase", "special_cause_improvement", "special_cause_concern", "improvement_high", "concern_low"),
        ("decrease", "special_cause_concern", "special_cause_improvement", "concern_high", "improvement_low"),
        ("neutral", "special_cause_neutral_high", "special_cause_neutral_low", "neutral_high", "neutral_low"),
    ],
)
def test_improvement_direction_mapping(
    improvement: str, high_type: str, low_type: str, icon_high: str, icon_low: str
) -> None:
    for values in (ENDS_HIGH, ENDS_LOW):
        mean, lpl, upl = hand_limits(values)
        assert mean == 11 and max(values) > upl and min(values) < lpl  # design check
    hi = xmr(ENDS_HIGH, improvement=improvement)
    assert flagged(hi) == [7, 15]
    assert types(hi)[15] == high_type
    assert types(hi)[7] == low_type
    assert hi.summary["variation_icon"] == icon_high
    lo = xmr(ENDS_LOW, improvement=improvement)
    assert types(lo)[7] == high_type
    assert types(lo)[15] == low_type
    assert lo.summary["variation_icon"] == icon_low


def test_variation_icon_common_cause_when_last_point_is_common() -> None:
    res = xmr(SPIKES, improvement="increase")
    assert types(res)[4] == "special_cause_improvement"
    assert types(res)[10] == "special_cause_concern"
    assert types(res)[-1] == "common_cause"
    assert res.summary["variation_icon"] == "common_cause"


ASSURE = [5.0, 7, 6, 8, 6, 7, 5, 6, 7, 6]  # mean 6.3, limits 6.3 -/+ 2.66 * 13/9 (2.458, 10.142)


@pytest.mark.parametrize(
    ("improvement", "target", "expected"),
    [
        ("increase", 2.0, "consistent_pass"),
        ("increase", 11.0, "consistent_fail"),
        ("increase", 6.0, "inconsistent"),
        ("decrease", 11.0, "consistent_pass"),
        ("decrease", 2.0, "consistent_fail"),
        ("decrease", 6.0, "inconsistent"),
        ("neutral", 2.0, None),
        ("neutral", 11.0, None),
        ("increase", None, None),
        ("decrease", None, None),
    ],
)
def test_assurance_icon(improvement: str, target: float | None, expected: str | None) -> None:
    lpl = 6.3 - 2.66 * 13 / 9
    upl = 6.3 + 2.66 * 13 / 9
    assert upl < 11 and lpl > 2 and lpl < 6 < upl  # the targets sit where the cases need them
    res = xmr(ASSURE, improvement=improvement, target=target)
    assert res.summary["assurance_icon"] == expected


# --------------------------------------------------------------------------------------------------
# rebasing

PHASE1 = [10.0, 14, 10, 14, 10, 14, 10, 14, 10, 14, 11, 12, 13]  # 13 points, mean exactly 12
PHASE2 = [20.0, 21, 22, 23, 18, 24, 18, 24, 18, 24, 18, 24]  # 12 points


def test_rebase_gives_separate_limits_per_phase() -> None:
    values = PHASE1 + PHASE2
    res = xmr(values, rebase_at=13, improvement="increase", target=8.0)
    pts = res.points
    m1, l1, u1 = hand_limits(PHASE1)
    m2, l2, u2 = hand_limits(PHASE2)
    assert list(pts["phase"]) == [1] * 13 + [2] * 12
    assert np.allclose(pts["mean"].iloc[:13], m1, atol=TOL)
    assert np.allclose(pts["upl"].iloc[:13], u1, atol=TOL)
    assert np.allclose(pts["lpl"].iloc[13:], l2, atol=TOL)
    assert np.allclose(pts["upl"].iloc[13:], u2, atol=TOL)
    assert res.summary["mean"] == pytest.approx(m2, abs=TOL)
    assert res.summary["lpl"] == pytest.approx(l2, abs=TOL)
    assert res.summary["upl"] == pytest.approx(u2, abs=TOL)
    # The moving range does not span the rebase point.
    assert math.isnan(pts["moving_range"].iloc[13])
    # Trial: phase 1 has 13 points, phase 2 only 12.
    assert not pts["trial"].iloc[:13].any() and pts["trial"].iloc[13:].all()
    assert res.summary["trial"] is True and res.summary["n"] == 12 and res.summary["phases"] == 2
    # Assurance uses the last phase: its lower limit is above the target of 8 (phase 1's is not).
    assert l2 > 8 > l1 and res.summary["assurance_icon"] == "consistent_pass"
    # The same call with a list gives the same answer.
    assert xmr(values, rebase_at=[13], improvement="increase", target=8.0).points.equals(pts)


def test_trend_does_not_cross_a_rebase_point() -> None:
    # 11, 12, 13 | 20, 21, 22, 23 is a 7-point rise, but only across the phase boundary.
    values = PHASE1 + PHASE2
    single = xmr(values)
    assert set(single.points["rule"].iloc[10:17]) >= {"trend"}  # control: one phase sees the trend
    rebased = xmr(values, rebase_at=13)
    assert "trend" not in set(rebased.points["rule"].dropna())
    assert flagged(rebased) == []


def test_run_does_not_cross_a_rebase_point() -> None:
    phase1 = [10.0, 14] * 5 + [10, 13, 13, 13, 13]  # ends with 4 points above its mean (182/15)
    phase2 = [25.0, 25, 25, 20, 24, 20, 24, 20, 24, 20, 24, 20]  # starts with 3 above its mean
    m1, _, _ = hand_limits(phase1)
    m2, _, _ = hand_limits(phase2)
    assert 10 < m1 < 13 and 20 < m2 < 24  # design check
    res = xmr(phase1 + phase2, rebase_at=len(phase1))
    assert flagged(res) == []


def test_rebase_validation() -> None:
    with pytest.raises(ValueError, match=r"rebase_at position 30 is outside"):
        xmr(PHASE1, rebase_at=30)
    with pytest.raises(ValueError, match=r"rebase_at position -1 is outside"):
        xmr(PHASE1, rebase_at=[-1])


# --------------------------------------------------------------------------------------------------
# missing values, labels, serialisation, validation


def test_nan_points_are_missing_and_skipped() -> None:
    values = [5.0, 7, float("nan"), 6, 8, 6, 7, 5, 6, 7, 6]
    res = xmr(values)
    pts = res.points
    mean, lpl, upl = hand_limits(values)
    assert mean == pytest.approx(63 / 10, abs=TOL)
    assert pts["lpl"].iloc[0] == pytest.approx(lpl, abs=TOL)
    assert pts["upl"].iloc[0] == pytest.approx(upl, abs=TOL)
    assert pts["point_type"].iloc[2] == "missing"
    assert pts["rule"].iloc[2] is None
    assert math.isnan(pts["moving_range"].iloc[2])
    assert pts["moving_range"].iloc[3] == 1.0  # |6 - 7|: measured from the last non-missing value
    assert res.summary["n"] == 10 and res.summary["n_total"] == 10
    assert len(pts) == 11


def test_nan_last_point_uses_most_recent_observed_point_for_icon() -> None:
    res = xmr([*ENDS_HIGH, float("nan")], improvement="increase")
    assert types(res)[-1] == "missing"
    assert res.summary["variation_icon"] == "improvement_high"


def test_trend_continues_across_a_missing_point() -> None:
    values = TREND_BASE_BEFORE + [9, 10, 11, float("nan"), 12, 13, 14, 15] + TREND_BASE_AFTER
    res = xmr(values)
    assert flagged(res) == [6, 7, 8, 10, 11, 12, 13]


def test_all_missing() -> None:
    res = xmr([float("nan")] * 3, improvement="increase", target=1.0)
    assert types(res) == ["missing"] * 3
    assert res.summary["variation_icon"] is None
    assert res.summary["assurance_icon"] is None
    assert json.loads(json.dumps(res.to_dict()))["summary"]["mean"] is None


def test_periods_are_kept_and_series_index_is_default() -> None:
    periods = pd.date_range("2023-04-01", periods=10, freq="MS")
    res = xmr(ASSURE, periods=periods)
    assert list(res.points["period"]) == list(periods)
    s = pd.Series(ASSURE, index=periods)
    assert list(xmr(s).points["period"]) == list(periods)
    assert list(xmr(ASSURE).points["period"]) == list(range(10))


def test_to_dict_is_json_safe() -> None:
    periods = pd.date_range("2023-04-01", periods=11, freq="MS")
    values = [5.0, 7, float("nan"), 6, 8, 6, 7, 5, 6, 7, 6]
    res = xmr(values, periods=periods, improvement="increase", target=2.0)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["summary"]["assurance_icon"] == "consistent_pass"
    assert d["summary"]["mean"] == pytest.approx(6.3)
    assert len(d["points"]) == 11
    assert d["points"][2]["value"] is None and d["points"][2]["point_type"] == "missing"
    assert d["points"][0]["period"] == "2023-04-01T00:00:00"
    assert d["points"][0]["trial"] is True


def test_input_validation() -> None:
    with pytest.raises(ValueError, match=r"unknown improvement 'up'"):
        xmr(ASSURE, improvement="up")
    with pytest.raises(ValueError, match=r"periods has 3 labels but values has 10"):
        xmr(ASSURE, periods=[1, 2, 3])
    with pytest.raises(ValueError, match=r"values is empty"):
        xmr([])


# --------------------------------------------------------------------------------------------------
# NHSRplotthedots semantics: close-to-limit excludes outside points; baseline limits carried forward

BASELINE = [10.0, 11] * 12  # mean 10.5, mean moving range 1: limits 7.84 to 13.16, close beyond 12.27 / 8.73


def test_a_point_outside_the_limits_is_not_close_to_a_limit() -> None:
    # (13, 11, 20): 13 is close, 20 is outside. NHSRplotthedots counts only 13 as close, so two-of-three
    # does not fire; the old rule (outside counted as close) flagged 13.
    res = xmr(BASELINE + [13, 11, 20, 10, 11, 10], baseline_end=24)
    assert res.points["close_to_limits"].iloc[24] and not res.points["close_to_limits"].iloc[26]
    assert res.points["rule"].iloc[26] == "outside_limits"
    assert types(res)[24] == "common_cause"


def test_baseline_limits_are_carried_forward_when_nothing_changes() -> None:
    res = xmr(BASELINE + [10, 11, 10, 11, 10], baseline_end=24, periods=list(range(29)))
    assert res.summary["phases"] == 1 and res.summary["recalculated_at"] == []
    assert res.points["upl"].nunique() == 1 and res.summary["upl"] == pytest.approx(10.5 + 2.66)
    assert "carried forward" in res.summary["limits_basis"] and "recalculated" not in res.summary["limits_basis"]


def test_a_short_step_after_go_live_shows_against_the_baseline_limits() -> None:
    res = xmr(BASELINE + [14.5, 14, 15, 14.5], baseline_end=24, improvement="increase")
    assert res.summary["phases"] == 1  # fewer than 7 points: not yet a sustained shift
    assert res.summary["variation_icon"] == "improvement_high"


def test_limits_are_recalculated_only_after_a_sustained_shift_and_it_is_said() -> None:
    months = list(pd.date_range("2019-01-01", periods=36, freq="MS"))
    values = BASELINE[:20] + [10.0, 11, 10, 11] + [14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15]
    res = xmr(values, baseline_end=24, periods=months)
    assert res.summary["recalculated_at"] == [months[24]] and res.summary["phases"] == 2
    assert res.points["phase"].iloc[23] == 1 and res.points["phase"].iloc[24] == 2
    assert res.summary["mean"] == pytest.approx(14.5)
    assert "recalculated after a sustained shift from January 2021" in res.summary["limits_basis"]
    off = xmr(values, baseline_end=24, periods=months, recalculate_on_shift=False)
    assert off.summary["phases"] == 1 and off.summary["variation_icon"] == "neutral_high"


def test_with_no_change_few_latest_points_are_special_cause() -> None:
    """Independent normal noise, 48 baseline and 12 later months, no change: the latest point is special
    cause in under 3% of 300 series (recalculating at go-live gave 88-100% in the issue's simulation)."""
    rng = np.random.default_rng(11)
    flagged_last = sum(
        xmr(rng.normal(0, 1, 60), baseline_end=48).points["point_type"].iloc[-1] != "common_cause" for _ in range(300)
    )
    assert flagged_last / 300 < 0.03


def test_baseline_validation() -> None:
    with pytest.raises(ValueError, match="not both"):
        xmr(BASELINE, baseline_end=10, rebase_at=[5])
    with pytest.raises(ValueError, match="baseline_end"):
        xmr(BASELINE, baseline_end=24)
