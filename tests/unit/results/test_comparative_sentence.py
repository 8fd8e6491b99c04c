"""The plain-words comparison with other providers states the synthetic control's interval on the same scale as
its estimate: the relative change, not the gap in the outcome's units printed as a percent."""

from __future__ import annotations

import re

from evaluation.results.schema import Comparative, MeasureResult
from evaluation.results.sentences import comparative_sentence


def _measure(effect: dict) -> MeasureResult:
    comp = Comparative.model_validate({
        "status": "ok", "comparators": [{"code": "A", "name": "A"}, {"code": "B", "name": "B"}], "caveat": "",
        "synthetic_control": {"design": "synthetic control", "n_donors": 20, "effect": effect},
    })
    # The sentence reads only the comparison: the rest of a measure's result is not needed here.
    return MeasureResult.model_construct(comparative=comp)


def test_the_interval_is_on_the_estimates_scale_and_holds_it():
    # Bradford's leaver rate in the demonstration build: the gap's interval (-0.0032 to -0.0006, in the rate's
    # own units) read as percent was "0.3% below to 0.1% below" beside an estimate of 15% below.
    effect = {"mean_gap": -0.0017, "ci_low": -0.0032, "ci_high": -0.0006, "mean_actual_post": 0.0098,
              "mean_synthetic_post": 0.0115, "relative_change": -0.1472,
              "relative_ci_low": -0.0032 / 0.0115, "relative_ci_high": -0.0006 / 0.0115}
    text = comparative_sentence(_measure(effect))
    assert "15% below the blend after go-live (95% interval 28% below to 5% below)" in text, text
    numbers = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)% below", text)]
    estimate, low, high = numbers
    assert high <= estimate <= low  # 'below' counts down: the estimate lies inside its interval


def test_no_relative_interval_means_no_interval_in_words():
    effect = {"mean_gap": 0.02, "ci_low": 0.01, "ci_high": 0.03, "mean_synthetic_post": 0.7, "relative_change": 0.03}
    text = comparative_sentence(_measure(effect))
    assert "3% above the blend after go-live." in text and "interval" not in text
