"""Staggered DiD: which units are used, and why (no silent drops), the group overall summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.methods.staggered_did import staggered_did


def _panel(first: dict[str, int], n_t: int = 12) -> pd.DataFrame:
    rows = []
    for k, (unit, g) in enumerate(first.items()):
        for t in range(1, n_t + 1):
            y = 10.0 + 1.7 * k + 0.5 * t + 0.03 * t**2 + math.sin(t) - (5.0 if g and t >= g else 0.0)
            rows.append({"unit": unit, "t": t, "y": y, "g": g})
    return pd.DataFrame(rows)


NEVER = {f"N{i}": 0 for i in range(6)}


def test_a_site_going_live_after_the_data_end_is_excluded_not_a_control() -> None:
    df = _panel({"A": 6, "B": 8, "LATE": 15} | NEVER)
    res = staggered_did(df, unit="unit", time="t", outcome="y", first_treated="g", n_placebo=0)
    assert "LATE" in res.info["excluded_units"] and "after the data end" in res.info["excluded_units"]["LATE"]
    assert "LATE" not in res.info["control_units"] and "LATE" not in res.info["treated_units"]
    assert sorted(res.info["treated_units"]) == ["A", "B"] and len(res.info["control_units"]) == 6
    assert res.overall["estimate"] == pytest.approx(-5.0, abs=1e-8)


def test_a_missing_month_at_a_site_drops_the_month_not_the_site() -> None:
    df = _panel({"A": 6, "B": 8} | NEVER)
    df = df[~((df["unit"] == "A") & (df["t"] == 10))]
    res = staggered_did(df, unit="unit", time="t", outcome="y", first_treated="g", n_placebo=0)
    assert sorted(res.info["treated_units"]) == ["A", "B"]
    assert res.info["dropped_periods"] == [10] and res.info["excluded_units"] == {}
    assert res.overall["estimate"] == pytest.approx(-5.0, abs=1e-8)


def test_a_control_with_a_gap_is_excluded_with_its_reason() -> None:
    df = _panel({"A": 6, "B": 8} | NEVER)
    df = df[~((df["unit"] == "N0") & (df["t"] == 3))]
    res = staggered_did(df, unit="unit", time="t", outcome="y", first_treated="g", n_placebo=0)
    assert res.info["excluded_units"] == {"N0": "missing in 1 of 12 periods (a control must be complete)"}
    assert "N0" not in res.info["control_units"] and res.info["dropped_periods"] == []


def test_overall_is_the_group_aggregation() -> None:
    """With effects that differ by cohort and post-periods of different length, group != simple; the
    overall summary is group (each site's average, size-weighted), and to_dict says so."""
    rng = np.random.default_rng(3)
    df = _panel({"A": 4, "B": 10} | NEVER)
    df.loc[(df["unit"] == "A") & (df["t"] >= 4), "y"] -= 3.0  # A: -8 in total; B: -5
    df["y"] += rng.normal(0, 1e-6, len(df))
    res = staggered_did(df, unit="unit", time="t", outcome="y", first_treated="g", n_placebo=0)
    assert res.overall is res.group_overall
    assert res.overall["estimate"] == pytest.approx((-8 - 5) / 2, abs=1e-4)
    assert res.simple["estimate"] < res.overall["estimate"] - 0.5  # A has 9 post months, B 3
    d = res.to_dict()
    assert d["overall"]["aggregation"] == "group" and d["overall"]["estimate"] == pytest.approx(-6.5, abs=1e-4)


def test_from_panel_reports_group_overall_and_the_not_yet_treated_sensitivity() -> None:
    from evaluation.methods.comparative import staggered_from_panel

    months = pd.date_range("2020-01-01", periods=12, freq="MS")
    first = {"RA1": months[5], "RB1": months[7], "RLATE": pd.Timestamp("2021-06-01")} | {
        f"RC{i}": None for i in range(6)}
    rows = []
    rng = np.random.default_rng(5)
    for k, (org, go) in enumerate(first.items()):
        for t, m in enumerate(months):
            effect = 0.2 if go is not None and m >= go else 0.0
            v = 500.0 * (1 + 0.1 * k) * math.exp(0.01 * t + rng.normal(0, 0.01) - effect)
            rows.append({"org_code": org, "period": m, "measure_id": "X", "period_type": "month", "value": v,
                         "numerator": v, "denominator": np.nan, "status": "final", "suppressed": False,
                         "quality_flags": "", "source_file": "x"})
    panel = pd.DataFrame(rows)
    sites = {o: g for o, g in first.items() if g is not None}
    out = staggered_from_panel(panel, measure_id="X", sites=sites, comparator_orgs=[f"RC{i}" for i in range(6)],
                               value_type="count", n_placebo=0)
    assert out["overall"]["aggregation"] == "group"
    assert out["overall"]["natural"]["estimate"] == pytest.approx(math.exp(-0.2), rel=0.02)
    assert "RLATE" in out["info"]["excluded_units"]
    sens = out["not_yet_treated_sensitivity"]
    assert sens["status"] == "ok" and sens["overall"]["natural"]["estimate"] == pytest.approx(math.exp(-0.2), rel=0.02)
