"""The cross-site sentence: counts in percent, rates in percentage points, proportions in words (never odds)."""

from __future__ import annotations

import pytest

from evaluation.results.schema import MetaAnalysis
from evaluation.results.sentences import meta_sentence


def _meta(scale: str, value_type: str, est: float, lo: float, hi: float, pi=None, i2: float = 0.1) -> MetaAnalysis:
    return MetaAnalysis(
        measure_id="X", name="Referrals accepted", domain="d", value_type=value_type, scale=scale, link="log",
        method="paule_mandel", ci_method="hksj", k=4, pooled={"estimate": est, "ci_low": lo, "ci_high": hi},
        prediction_interval=None if pi is None else {"low": pi[0], "high": pi[1]},
        heterogeneity={"tau2": 0.0, "tau": 0.0, "i2": i2, "q": 1.0, "df": 3, "p_value": 0.5},
        sites=[{"label": "A", "estimate": est, "ci_low": lo, "ci_high": hi}])


@pytest.mark.parametrize("est, lo, hi, pi", [(1.3, 1.1, 1.5, (0.9, 1.8)), (0.8, 0.7, 0.9, (0.6, 0.95)),
                                             (1.0, 0.8, 1.2, None)])
def test_a_proportion_is_pooled_in_words_never_as_odds(est, lo, hi, pi):
    text = meta_sentence(_meta("odds_ratio", "proportion", est, lo, hi, pi))
    assert "odds" not in text.lower()
    assert "%" not in text and "I\u00b2" not in text  # no size (an odds ratio is not a percentage change), no statistic
    if lo > 1:
        assert "was higher after go-live" in text
    elif hi < 1:
        assert "was lower after go-live" in text
    else:
        assert "no clear change" in text and "consistent with no change" in text


def test_a_count_is_pooled_in_percent_and_a_rate_in_percentage_points():
    count = meta_sentence(_meta("rate_ratio", "count", 0.874, 0.757, 1.009, (0.61, 1.25), i2=0.64))
    assert "The combined estimate is 13% lower, but the data fit anything from 24% lower to 0.9% higher." in count
    assert "The sites differ a lot from each other." in count and "I\u00b2" not in count  # statistics: technical
    rate = meta_sentence(_meta("difference", "rate", -0.5, -0.9, -0.1))
    assert ("was 0.5 percentage points lower at go-live than the earlier trend predicted, on average. The data fit a "
            "change from 0.9 percentage points lower to 0.1 percentage points lower.") in rate
