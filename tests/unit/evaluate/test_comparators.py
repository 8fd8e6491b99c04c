"""The comparator pool rule: other NHS mental health providers with enough data, never the sites."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.comparators import comparator_pool
from evaluation.panel.frame import combine_panels

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real"


def _rows(org: str, measure: str, months: int, start: str = "2019-04-01", value: float = 2000.0) -> pd.DataFrame:
    periods = pd.date_range(start, periods=months, freq="MS")
    return pd.DataFrame({
        "org_code": org, "period": periods, "measure_id": measure, "period_type": "month",
        "numerator": value, "denominator": float("nan"), "value": value, "status": "final",
        "suppressed": False, "quality_flags": "", "source_file": "x.csv"})


def test_pool_excludes_sites_non_trusts_non_providers_and_sparse_series():
    reg = default_registry()
    panel = combine_panels([
        _rows("RDY", "MHS32", 36), _rows("TAD", "MHS32", 36),   # sites: never comparators
        _rows("RX1", "MHS32", 36),                               # NHS trust, full coverage: in
        _rows("RX2", "MHS32", 20),                               # NHS trust, 56% coverage: out
        _rows("NQL", "MHS32", 36),                               # independent provider code: out
        _rows("ZC01", "MHS32", 36),                              # synthetic comparator: in
        _rows("RX3", "SICKNESS_RATE", 36),                       # no MHSDS rows: not an MH provider
        _rows("RX4", "MHS32", 36, value=300.0),                  # acute trust with a small MH service: out
        _rows("RX1", "SICKNESS_RATE", 36), _rows("RDY", "SICKNESS_RATE", 36),
    ])
    assert comparator_pool(panel, reg, "MHS32", "RDY") == ["RX1", "ZC01"]
    assert comparator_pool(panel, reg, "MHS32", "RDY", min_coverage=0.5) == ["RX1", "RX2", "ZC01"]
    assert comparator_pool(panel, reg, "MHS32", "RDY", min_referrals=200) == ["RX1", "RX4", "ZC01"]
    assert comparator_pool(panel, reg, "SICKNESS_RATE", "RDY") == ["RX1"]
    assert comparator_pool(panel, reg, "CCR70", "RDY") == []
    with pytest.raises(ValueError, match="min_coverage"):
        comparator_pool(panel, reg, "MHS32", "RDY", min_coverage=2)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason=f"published NHS files not found at {REAL}")
def test_real_pool_is_other_nhs_mental_health_trusts():
    from evaluation.sources import load_panel

    reg = default_registry()
    panel, _ = load_panel(REAL)
    pool = comparator_pool(panel, reg, "MHS32", "RDY")
    assert 40 <= len(pool) <= 60
    assert "RXL" not in pool  # an acute trust (Blackpool) with a small mental health service
    assert not {"RDY", "TAD", "RW5", "RXA"} & set(pool)
    assert all(code[0] in "RT" and len(code) == 3 for code in pool)
    sickness_pool = comparator_pool(panel, reg, "SICKNESS_RATE", "RDY")
    assert set(sickness_pool) <= {o for o in panel["org_code"].unique()}
    assert len(sickness_pool) >= 30
