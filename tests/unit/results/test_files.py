"""Plain-English findings say exactly what the interval supports, and results files are deterministic."""

from __future__ import annotations

import datetime as dt
import json
import re
from types import SimpleNamespace

import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation
from evaluation.evaluate.record import domain_result
from evaluation.results.files import read_result, write_result


def _est(e, lo, hi):
    return SimpleNamespace(estimate=e, ci_low=lo, ci_high=hi, se=0.01, p_value=0.5)


def _effect(absolute, relative):
    return {"12": {"period": "2023-03-01", "months_after": 12, "fitted": 1.0, "counterfactual": 1.0,
                   "absolute": dict(zip(("estimate", "ci_low", "ci_high"), absolute, strict=True)),
                   "relative": dict(zip(("estimate", "ci_low", "ci_high"), relative, strict=True))}}


def _result(measure_id: str, scale: str, step, effects=None, site="lancashire", status="ok", reason=""):
    reg = default_registry()
    m = reg.measure(measure_id)
    its = SimpleNamespace(scale=scale, model="x", cov_type="HAC", hac_maxlags=4, dispersion=1.2, step=step,
                          slope=_est(1.0, 0.99, 1.01), pre_slope=_est(1.0, 0.99, 1.01), autocorrelation=0.1,
                          effects=effects, overdispersion_test=None, autocorrelation_test=None)
    me = MeasureEvaluation(m, status, reason=reason, its=its if status == "ok" else None, n_pre=60, n_post=30)
    ev = DomainEvaluation(reg.site(site), m.domain, reg.domain(m.domain).name, dt.date(2022, 4, 1), "synthetic", [me])
    return domain_result(ev, inputs=[{"path": "b.csv", "layout": "x", "rows_sha256": "2"},
                                     {"path": "a.csv", "layout": "x", "rows_sha256": "1"}])


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%", text.replace("95% CI", ""))]


def test_clear_reduction_reports_the_first_year_change_absolute_and_relative():
    r = _result("CCR70", "rate_ratio", _est(0.88, 0.82, 0.95), _effect((-25.2, -45.6, -4.9), (-0.154, -0.256, -0.039)))
    m = r.headline
    s = m.findings.headline
    assert s.startswith("After the Initial Response Service (April 2022), new emergency referrals")
    assert "25 referrals per month lower than expected" in s
    assert _numbers(s) == [15.0, 4.0, 26.0]
    assert "(15% lower; 95% CI 4% to 26% lower)" in s
    assert m.direction == "improvement"  # fewer crisis referrals is the hoped-for direction
    assert m.primary.relative_unit == "percent" and m.primary.relative.estimate == pytest.approx(-15.4)


def test_interval_spanning_no_change_never_claims_a_change_and_has_no_double_negative():
    r = _result("CCR70", "rate_ratio", _est(0.95, 0.85, 1.06), _effect((-5, -20, 8), (-0.05, -0.15, 0.06)))
    m = r.headline
    s = m.findings.headline
    assert "no clear change" in s and "consistent with no change" in s
    assert "cannot be ruled out" not in s
    assert "from 15% lower to 6% higher" in s
    assert m.direction == "no clear change"
    assert "includes no change" in m.findings.interval


def test_proportion_reported_in_percentage_points_never_as_odds():
    r = _result("REF_ACCEPT", "odds_ratio", _est(1.25, 1.10, 1.42), _effect((0.042, 0.010, 0.074), (0.06, 0.01, 0.1)))
    m = r.headline
    s = m.findings.headline
    assert "odds" not in s.lower()
    assert "the share of referrals accepted was 4.2 percentage points higher" in s
    assert "(95% CI 1.0 to 7.4 points higher)" in s
    assert m.direction == "improvement"


def test_rate_difference_in_percentage_points():
    r = _result("SICKNESS_RATE", "difference", _est(0.30, 0.10, 0.50), _effect((0.3, 0.1, 0.5), (0.05, 0.02, 0.08)))
    m = r.headline
    assert "0.3 percentage points higher" in m.findings.headline
    assert m.direction == "deterioration"  # more sickness absence is worse


def test_neutral_measure_reads_higher_or_lower_not_improvement():
    assert _result("MHS32", "rate_ratio", _est(1.1, 1.05, 1.16)).headline.direction == "higher"


def test_a_change_of_a_count_is_rounded_as_a_published_count_is():
    """A model estimate beside a count word reads as a count: below 5 it says "under 5", else the nearest 5."""
    small = _result("CCR70", "rate_ratio", _est(0.9, 0.8, 0.95), _effect((-1.02, -2, -0.5), (-0.1, -0.2, -0.05)))
    assert "under 5 referrals per month lower" in small.headline.findings.headline
    assert "1 referral" not in small.headline.findings.headline
    large = _result("CCR70", "rate_ratio", _est(0.9, 0.8, 0.95), _effect((-493.2, -700, -300), (-0.1, -0.2, -0.05)))
    assert "about 495 referrals per month lower" in large.headline.findings.headline


@pytest.mark.parametrize("status,reason,expect", [
    ("not_in_data", "not in these files", "not in these files"),
    ("not_estimable", "5 month(s) before", "could not be evaluated"),
])
def test_sentences_for_measures_without_estimates(status, reason, expect):
    m = _result("CCR70", "rate_ratio", _est(1, 1, 1), status=status, reason=reason).headline
    assert expect in m.findings.headline
    assert m.direction == "not assessed" and m.primary is None


def test_results_file_round_trips_and_is_byte_stable(tmp_path):
    effects = _effect((-25.2, -45.6, -4.9), (-0.154, -0.256, -0.039))
    r = _result("CCR70", "rate_ratio", _est(0.88, 0.82, 0.95), effects)
    assert [i.path for i in r.inputs] == ["a.csv", "b.csv"]
    a = write_result(r, tmp_path / "a.json").read_bytes()
    b = write_result(_result("CCR70", "rate_ratio", _est(0.88, 0.82, 0.95), effects), tmp_path / "b.json").read_bytes()
    assert a == b
    assert read_result(tmp_path / "a.json") == r
    data = json.loads(a)
    assert data["measures"][0]["its"]["step"]["estimate"] == 0.88 and data["schema_version"] == 2
