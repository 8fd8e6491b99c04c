"""The comparator pool rule: other mental health trusts (publisher's classification) with enough data, never
the sites, never acute or community trusts."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.comparators import comparator_pool, describe_pool, mental_health_trusts
from evaluation.panel.frame import combine_panels

SHARED = Path(os.environ.get("EVALUATION_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
REAL = SHARED / "real"
# Acute and community trusts that report MHSDS for small mental health services (not comparators).
NOT_MENTAL_HEALTH = {"RQ3", "RH5", "RNN", "R1A", "R1C", "RXL"}


def _rows(org: str, measure: str, months: int, start: str = "2019-04-01", value: float = 2000.0) -> pd.DataFrame:
    periods = pd.date_range(start, periods=months, freq="MS")
    return pd.DataFrame({
        "org_code": org, "period": periods, "measure_id": measure, "period_type": "month",
        "numerator": value, "denominator": float("nan"), "value": value, "status": "final",
        "suppressed": False, "quality_flags": "", "source_file": "x.csv"})


def test_pool_is_mental_health_trusts_with_enough_data_never_sites():
    reg = default_registry()
    panel = combine_panels([
        _rows("RDY", "MHS32", 36), _rows("TAD", "MHS32", 36),   # sites: never comparators
        _rows("RV5", "MHS32", 36),                               # mental health trust, full coverage: in
        _rows("RW4", "MHS32", 20),                               # mental health trust, 56% coverage: out
        _rows("NQL", "MHS32", 36),                               # independent provider: out
        _rows("ZC01", "MHS32", 36),                              # synthetic comparator: in
        _rows("RQ3", "MHS32", 36, value=5000.0),                 # acute trust, however large: out
        _rows("R1A", "MHS32", 36),                               # community trust: out
        _rows("RX4", "SICKNESS_RATE", 36),                       # mental health trust with sickness only
        _rows("RV5", "SICKNESS_RATE", 36), _rows("RDY", "SICKNESS_RATE", 36),
    ])
    assert comparator_pool(panel, reg, "MHS32", "RDY") == ["RV5", "ZC01"]
    assert comparator_pool(panel, reg, "MHS32", "RDY", min_coverage=0.5) == ["RV5", "RW4", "ZC01"]
    # Sickness alone gives a pool: mental health trusts are known from the classification, not from MHS32.
    assert comparator_pool(panel, reg, "SICKNESS_RATE", "RDY") == ["RV5", "RX4"]
    assert comparator_pool(panel, reg, "CCR70", "RDY") == []
    with pytest.raises(ValueError, match="min_coverage"):
        comparator_pool(panel, reg, "MHS32", "RDY", min_coverage=2)


def test_pool_is_published_with_names_and_the_list_has_no_acute_or_community_trust():
    trusts = mental_health_trusts()
    assert not NOT_MENTAL_HEALTH & set(trusts)
    assert {"RV5", "RW4", "RX4", "RV3", "RPG", "RXT", "RWK", "RWX"} <= set(trusts)  # the largest MH trusts
    assert describe_pool(["RV5", "ZC01"]) == [
        {"code": "RV5", "name": "South London and Maudsley NHS Foundation Trust"},
        {"code": "ZC01", "name": "made-up comparator (synthetic data)"}]


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason=f"published NHS files not found at {REAL}")
def test_real_pool_is_other_nhs_mental_health_trusts():
    from evaluation.sources import load_panel

    reg = default_registry()
    panel, _ = load_panel(REAL)
    pool = comparator_pool(panel, reg, "MHS32", "RDY")
    assert 35 <= len(pool) <= 50
    assert not NOT_MENTAL_HEALTH & set(pool)
    assert not {"RDY", "TAD", "RW5", "RXA"} & set(pool)
    assert all(code[0] in "RT" and len(code) == 3 for code in pool)
    sickness_pool = comparator_pool(panel, reg, "SICKNESS_RATE", "RDY")
    assert set(sickness_pool) <= {o for o in panel["org_code"].unique()}
    assert len(sickness_pool) >= 30
