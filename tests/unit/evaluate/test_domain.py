"""evaluate_domain wires the primary estimand, go-live sensitivity and Holm adjustment into each measure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.domain import evaluate_domain
from evaluation.panel.frame import combine_panels


def _rows(org: str, measure: str, values: np.ndarray, start: str = "2017-04-01") -> pd.DataFrame:
    periods = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame({
        "org_code": org, "period": periods, "measure_id": measure, "period_type": "month",
        "numerator": values, "denominator": float("nan"), "value": values, "status": "final",
        "suppressed": False, "quality_flags": "", "source_file": "x.csv"})


def test_headline_is_primary_with_sensitivity_and_secondary_is_holm_adjusted() -> None:
    rng = np.random.default_rng(7)
    n = 66  # 2017-04 .. 2022-09: 52 months before Dorset's go-live (2021-08), 14 after
    t = np.arange(n)
    post = t >= 52
    ccr70 = rng.poisson(np.exp(math.log(150) + math.log(0.8) * post + rng.normal(0, 0.03, n))).astype(float)
    ccr71 = rng.poisson(np.full(n, 90.0)).astype(float)
    panel = combine_panels([_rows("RDY", "CCR70", ccr70), _rows("RDY", "CCR71", ccr71)])
    ev = evaluate_domain(default_registry(), panel, "dorset", "crisis_demand", comparative=False)
    # The domain's other measures (not in this panel) are not in the data; CCR71 is the one secondary with a model.
    head, other = ev.measures[0], next(m for m in ev.measures if m.measure.id == "CCR71")
    assert head.measure.id == "CCR70" and head.role == "primary" and head.p_holm is None
    assert head.primary is not None and head.primary.months == 12 and head.primary.relative_scale == "percent"
    assert head.golive_sensitivity is not None and len(head.golive_sensitivity.rows) == 6
    assert other.role == "secondary" and other.golive_sensitivity is None
    assert other.p_holm is not None and other.p_holm >= other.primary.absolute.p_value
