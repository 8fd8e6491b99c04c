"""Baseline level shifts and national peaks (evaluation.panel.quality): planted shifts in constructed series are
found where they were put, a shift every trust shares is not any one trust's, and the real files' known shifts
(TAD MHS32 in Q3 2018, the workforce service transfers) and COVID-19 peaks are found (skipped without the files)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.panel.quality import baseline_shifts, level_shifts, national_peaks, quality_summary

from .test_quality import make_panel

SHARED = Path(os.environ.get("EVALUATION_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
MHSDS = SHARED / "real" / "mhsds_timeseries"
WORKFORCE = SHARED / "real-extra" / "nhs_workforce_statistics"


def _counts(n: int, level: float, seed: int, shift_at: int | None = None, factor: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean = np.full(n, float(level))
    if shift_at is not None:
        mean[shift_at:] *= factor
    return rng.poisson(mean * np.exp(rng.normal(0, 0.03, n))).astype(float)


def test_a_planted_shift_is_found_at_its_month_with_its_levels():
    panel = make_panel(_counts(60, 2850, 1, shift_at=30, factor=2 / 3))
    [shift] = level_shifts(panel)
    assert shift.org_code == "ORG1" and shift.measure_id == "MHS32"
    assert abs((shift.month - pd.Timestamp("2016-04-01")).days // 30 - 30) <= 1
    assert 2700 < shift.level_before < 3000 and 1800 < shift.level_after < 2000
    assert "from about" in shift.describe() and f"{shift.month:%B %Y}" in shift.describe()


def test_a_steady_series_and_a_one_month_spike_are_not_shifts():
    steady = _counts(60, 2850, 2)
    spiked = steady.copy()
    spiked[25] *= 3
    assert level_shifts(make_panel(steady)) == []
    assert level_shifts(make_panel(spiked)) == []


def test_a_shift_every_trust_shares_is_the_national_pattern_not_a_trusts():
    frames = [make_panel(_counts(60, 1000 + 100 * i, i, shift_at=30, factor=0.6), org=f"ORG{i}") for i in range(12)]
    assert level_shifts(pd.concat(frames, ignore_index=True)) == []
    # ... but the same trusts without the national pattern (fewer than min_national_orgs) each show it
    assert len(level_shifts(pd.concat(frames[:3], ignore_index=True))) == 3


def test_baseline_shifts_keep_the_latest_before_go_live_only():
    values = _counts(72, 3000, 3, shift_at=20, factor=0.6)
    values[50:] *= 1.8
    panel = make_panel(values)
    assert [f"{s.month:%Y-%m}" for s in level_shifts(panel)] == ["2017-12", "2020-06"]
    found = baseline_shifts(panel, "ORG1", ["MHS32"], "2020-01-01")
    assert f"{found['MHS32'].month:%Y-%m}" == "2017-12"
    assert baseline_shifts(panel, "ORG1", ["MHS32"], "2017-06-01") == {}


def test_a_national_peak_month_is_named_and_reaches_the_quality_summary():
    frames = []
    for i in range(12):
        v = _counts(48, 500 + 50 * i, 10 + i)
        v[24] *= 1.6  # every trust at once: a pandemic wave
        frames.append(make_panel(v, org=f"ORG{i}"))
    panel = pd.concat(frames, ignore_index=True)
    assert national_peaks(panel) == {"MHS32": ["2018-04"]}
    summary = quality_summary(panel, [], "ORG3", ["MHS32"])
    assert summary["measures"]["MHS32"]["national_peak_months"] == ["2018-04"]
    assert summary["measures"]["MHS32"]["level_shifts"] == []


@pytest.fixture(scope="module")
def real_panel():
    if not MHSDS.is_dir() or not WORKFORCE.is_dir():
        pytest.skip("the real MHSDS and workforce files are not here")
    import tempfile

    from evaluation.sources import load_panel
    from evaluation.sources.folders import one_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = one_folder([SHARED / "real", SHARED / "real-extra"], Path(tmp) / "d")
        panel, _ = load_panel(folder)
    return panel


def test_the_real_files_known_shifts_and_peaks(real_panel):
    shifts = {(s.org_code, s.measure_id): s for s in level_shifts(real_panel, org_codes=["TAD", "RW5", "RDY"])
              if s.month.year >= 2017 or s.measure_id.startswith("STAFF")}
    tad = shifts[("TAD", "MHS32")]
    assert tad.month.year == 2018 and tad.month.month in (7, 8, 9, 10)  # Q3 2018
    assert 2500 < tad.level_before < 3100 and 1700 < tad.level_after < 2100
    assert shifts[("RW5", "MHS32")].level_after > shifts[("RW5", "MHS32")].level_before  # the 2020 rise
    assert shifts[("RDY", "STAFF_FTE")].level_after > 2 * shifts[("RDY", "STAFF_FTE")].level_before  # transfer
    peaks = national_peaks(real_panel)
    assert "2020-04" in peaks["MHS32"]  # the first lockdown
    assert {"2020-04", "2021-01", "2022-01"} <= set(peaks["SICKNESS_RATE"])  # the COVID-19 waves


def test_short_series_have_no_shifts_and_no_peaks():
    assert level_shifts(make_panel([5.0])) == []
    assert level_shifts(make_panel(_counts(11, 100, 4))) == []
    assert national_peaks(make_panel([5.0])) == {}
