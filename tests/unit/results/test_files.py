"""Plain-English findings say exactly what the interval supports, and results files are deterministic."""

from __future__ import annotations

import datetime as dt
import json
import re
from types import SimpleNamespace

import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation
from evaluation.results.files import direction_word, finding_sentence, results_dict, write_json


def _est(e, lo, hi):
    return SimpleNamespace(estimate=e, ci_low=lo, ci_high=hi, se=0.01, p_value=0.5)


def _evaluation(measure_id: str, scale: str, step, site="lancashire"):
    reg = default_registry()
    m = reg.measure(measure_id)
    its = SimpleNamespace(scale=scale, model="x", cov_type="HAC", hac_maxlags=4, dispersion=1.2, step=step,
                          slope=_est(1.0, 0.99, 1.01), pre_slope=_est(1.0, 0.99, 1.01), autocorrelation=0.1,
                          effects=None, overdispersion_test=None, autocorrelation_test=None)
    me = MeasureEvaluation(m, "ok", its=its, n_pre=60, n_post=30)
    ev = DomainEvaluation(reg.site(site), m.domain, reg.domain(m.domain).name, dt.date(2022, 4, 1), "synthetic", [me])
    return ev, me


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%", text.replace("95% CI", ""))]


def test_clear_reduction_sentence_states_estimate_and_interval():
    ev, m = _evaluation("CCR70", "rate_ratio", _est(0.88, 0.82, 0.95))
    s = finding_sentence(ev, m)
    assert s.startswith("After the Initial Response Service (April 2022), new emergency referrals")
    assert "12% lower than expected" in s
    assert _numbers(s) == [12.0, 5.0, 18.0]
    assert "(95% CI 5% to 18% lower)" in s
    assert direction_word(m) == "improvement"  # fewer crisis referrals is the hoped-for direction


def test_interval_spanning_no_change_never_claims_a_change():
    ev, m = _evaluation("CCR70", "rate_ratio", _est(0.95, 0.85, 1.06))
    s = finding_sentence(ev, m)
    assert "no clear change" in s
    assert "than expected (" not in s
    assert "from 15% lower to 6% higher" in s
    assert direction_word(m) == "no clear change"


def test_increase_in_proportion_reported_as_odds():
    ev, m = _evaluation("REF_ACCEPT", "odds_ratio", _est(1.25, 1.10, 1.42))
    s = finding_sentence(ev, m)
    assert "the odds of a referral being accepted were 25% higher" in s
    assert "(95% CI 10% to 42% higher)" in s
    assert direction_word(m) == "improvement"


def test_rate_difference_in_percentage_points():
    ev, m = _evaluation("SICKNESS_RATE", "difference", _est(0.30, 0.10, 0.50))
    s = finding_sentence(ev, m)
    assert "0.30 percentage points higher" in s and "(95% CI 0.10 to 0.50 percentage points higher)" in s
    assert direction_word(m) == "deterioration"  # more sickness absence is worse


def test_neutral_measure_reads_higher_or_lower_not_improvement():
    ev, m = _evaluation("MHS32", "rate_ratio", _est(1.1, 1.05, 1.16))
    assert direction_word(m) == "higher"


@pytest.mark.parametrize("status,reason,expect", [
    ("not_in_data", "not in these files", "not in these files"),
    ("not_estimable", "5 month(s) before", "could not be evaluated"),
])
def test_sentences_for_measures_without_estimates(status, reason, expect):
    ev, m = _evaluation("CCR70", "rate_ratio", _est(1, 1, 1))
    m.status, m.reason, m.its = status, reason, None
    assert expect in finding_sentence(ev, m)
    assert direction_word(m) == "not assessed"


def test_results_file_follows_design_schema_and_is_byte_stable(tmp_path):
    ev, m = _evaluation("CCR70", "rate_ratio", _est(0.88, 0.82, 0.95))
    data = results_dict(ev, [{"path": "b.csv", "sha256": "2"}, {"path": "a.csv", "sha256": "1"}])
    for key in ("site", "domain", "data_source", "inputs", "intervention_date", "measures"):
        assert key in data
    entry = data["measures"][0]
    for key in ("measure_id", "headline", "n_pre", "n_post", "its", "summary"):
        assert key in entry
    assert entry["its"]["step"]["estimate"] == 0.88
    assert [i["path"] for i in data["inputs"]] == ["a.csv", "b.csv"]
    a = write_json(data, tmp_path / "a.json").read_bytes()
    b = write_json(results_dict(ev, data["inputs"]), tmp_path / "b.json").read_bytes()
    assert a == b
    assert json.loads(a)["measures"][0]["headline"] is True
