"""Tests for evaluation.panel.quality: the "month far out of line with its neighbours" rule and the quality summary.

Constructed series plant their own anomalies, so every expectation is a fact of the input; the synthetic data
set's truth file says where its incomplete submission is; the real MHSDS file is checked for the property the
rule promises (few flags, each far from its neighbours), skipped when the file is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.demo.generator import generate
from evaluation.dictionary.registry import default_registry
from evaluation.panel.frame import PANEL_COLUMNS, ReadReport, coerce_panel, monthly_series
from evaluation.panel.quality import (
    OUTLIER_FLAG,
    exclude_outliers,
    flag_outliers,
    has_flag,
    outlier_scores,
    quality_summary,
)
from evaluation.sources import load_panel

REG = default_registry()
SITES = sorted(s.ods_code for s in REG.sites)
REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real"
MHSDS_DIR = REAL / "mhsds_timeseries"
START = pd.Timestamp("2016-04-01")


def _months(n: int, start: pd.Timestamp = START) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def make_panel(
    values,
    *,
    measure: str = "MHS32",
    org: str = "ORG1",
    start: pd.Timestamp = START,
    periods=None,
    denominator=None,
    suppressed=None,
    flags=None,
    status=None,
    period_type: str = "month",
) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    n = len(values)
    sup = np.zeros(n, dtype=bool) if suppressed is None else np.asarray(suppressed, dtype=bool)
    frame = pd.DataFrame(
        {
            "org_code": org,
            "period": _months(n, start) if periods is None else pd.DatetimeIndex(periods),
            "measure_id": measure,
            "period_type": period_type,
            "numerator": np.where(sup, np.nan, values),
            "denominator": np.nan if denominator is None else denominator,
            "value": np.where(sup, np.nan, values),
            "status": "final" if status is None else status,
            "suppressed": sup,
            "quality_flags": "" if flags is None else flags,
            "source_file": "test.csv",
        }
    )
    return coerce_panel(frame[PANEL_COLUMNS])


def flagged_positions(panel: pd.DataFrame) -> list[int]:
    return list(np.flatnonzero(has_flag(panel["quality_flags"], OUTLIER_FLAG).to_numpy()))


def noisy_counts(n: int, level: float, seed: int) -> np.ndarray:
    """Monthly counts with seasonality, AR(1) noise on the log scale and Poisson noise, like the real files."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.4 * ar[i - 1] + rng.normal(0.0, 0.04)
    eta = np.log(level) + 0.05 * np.sin(2 * np.pi * t / 12) + 0.03 * np.cos(2 * np.pi * t / 12) + ar
    return rng.poisson(np.exp(eta)).astype(float)


# --------------------------------------------------------------------------------------------------
# Constructed series


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_planted_dip_and_spike_are_flagged_and_nothing_else(seed):
    values = noisy_counts(96, 1500.0, seed)
    values[30] *= 0.4  # an incomplete submission
    values[70] *= 2.0  # a month counted twice
    out = flag_outliers(make_panel(values))
    assert flagged_positions(out) == [30, 70]


def test_planted_dip_in_a_rate_is_flagged():
    rng = np.random.default_rng(11)
    values = 5.0 + 0.3 * np.sin(2 * np.pi * np.arange(60) / 12) + rng.normal(0, 0.15, 60)
    values[25] = 1.5  # a rate computed from part of the staff
    assert flagged_positions(flag_outliers(make_panel(values, measure="SICKNESS_RATE"))) == [25]


def test_run_of_three_bad_months_is_flagged_whole():
    # Three bad months in a row are each other's neighbours; later passes leave found ones out.
    values = noisy_counts(72, 1500.0, 7)
    values[40:43] *= 0.45
    assert flagged_positions(flag_outliers(make_panel(values))) == [40, 41, 42]


@pytest.mark.parametrize("measure", ["MHS32", "SICKNESS_RATE", "LEAVER_RATE"])
def test_flat_series_has_no_flags(measure):
    level = {"MHS32": 500.0, "SICKNESS_RATE": 5.0, "LEAVER_RATE": 0.01}[measure]
    flat = np.full(60, level)
    assert flagged_positions(flag_outliers(make_panel(flat, measure=measure))) == []
    # Rounding-sized wobble on a flat stretch: within the 2% floor, so still nothing.
    wobble = flat * (1 + 0.01 * np.tile([1, -1, 0, 0.5], 15))
    assert flagged_positions(flag_outliers(make_panel(wobble, measure=measure))) == []
    # One month 4% off an otherwise perfectly flat series: the neighbours' spread is zero, so only the
    # floor (2% of the median) keeps it from being an "outlier" ...
    bump = flat.copy()
    bump[30] *= 1.04
    assert flagged_positions(flag_outliers(make_panel(bump, measure=measure))) == []
    # ... while a month 40% off is flagged.
    bump[30] = level * 0.6
    assert flagged_positions(flag_outliers(make_panel(bump, measure=measure))) == [30]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
def test_step_change_at_go_live_is_not_an_outlier(seed):
    # A genuine 20% rise at go-live lasting 24 months, then back: a change in service, not a data error.
    values = noisy_counts(96, 1500.0, seed)
    values[48:72] *= 1.2
    flagged = flagged_positions(flag_outliers(make_panel(values)))
    # Observed: no month is flagged for any of these seeds. The allowance is one month at either edge.
    near_edges = [i for i in flagged if i in (47, 48, 71, 72)]
    assert flagged == near_edges and len(near_edges) <= 1


def test_step_change_without_noise_is_not_an_outlier():
    # Without noise the only scale is the floor; the months at the step sit halfway to the median.
    values = np.r_[np.full(48, 1000.0), np.full(24, 1200.0), np.full(24, 1000.0)]
    assert flagged_positions(flag_outliers(make_panel(values))) == []
    rate = np.r_[np.full(48, 4.0), np.full(24, 4.8)]
    assert flagged_positions(flag_outliers(make_panel(rate, measure="SICKNESS_RATE"))) == []


def test_months_across_a_gap_are_not_neighbours():
    # A year with no rows, and the level 30% higher afterwards: the gap must not make the months either
    # side of it look out of line.
    values = np.r_[noisy_counts(36, 1000.0, 3), noisy_counts(36, 1300.0, 4)]
    periods = np.r_[_months(36), _months(36, START + pd.DateOffset(months=48))]
    out = flag_outliers(make_panel(values, periods=periods))
    assert flagged_positions(out) == []
    scores = outlier_scores(make_panel(values, periods=periods))
    # The last month before the gap has only its three earlier neighbours.
    assert scores["neighbours"].iloc[35] == 3


def test_suppressed_and_other_period_types_are_left_alone():
    values = noisy_counts(48, 800.0, 5)
    values[20] = 5.0
    sup = np.zeros(48, dtype=bool)
    sup[20] = True  # suppressed, so its (hidden) value is not judged and is no one's neighbour
    out = flag_outliers(make_panel(values, suppressed=sup))
    assert flagged_positions(out) == []
    spike = values.copy()
    spike[10] *= 3
    rolling = flag_outliers(make_panel(spike, period_type="rolling_12_months"))
    assert flagged_positions(rolling) == []


def test_flags_are_appended_once_and_other_flags_kept():
    values = noisy_counts(48, 1500.0, 9)
    values[24] *= 0.3
    flags = [""] * 48
    flags[24] = "rate only"
    flags[5] = "no figures"
    once = flag_outliers(make_panel(values, flags=flags))
    twice = flag_outliers(once)
    assert once["quality_flags"].iloc[24] == "rate only;outlier"
    assert once["quality_flags"].iloc[5] == "no figures"
    pd.testing.assert_frame_equal(once, twice)
    # The input is not modified.
    assert make_panel(values, flags=flags)["quality_flags"].iloc[24] == "rate only"


def test_exclude_outliers_splits_by_the_flag():
    values = noisy_counts(48, 1500.0, 9)
    values[24] *= 0.3
    panel = flag_outliers(make_panel(values, flags=["outliers checked"] + [""] * 47))
    kept, excluded = exclude_outliers(panel)
    assert list(excluded.index) == [24]
    assert len(kept) == 47 and 24 not in kept.index
    # Only the whole flag counts, not a flag that merely starts with the word.
    assert 0 in kept.index


def test_parameters_are_checked():
    panel = make_panel(np.full(24, 10.0))
    for window in (2, 6, 1):
        with pytest.raises(ValueError, match="window"):
            flag_outliers(panel, window=window)
    with pytest.raises(ValueError, match="threshold"):
        flag_outliers(panel, threshold=0)


def test_threshold_and_window_change_what_is_flagged():
    values = noisy_counts(72, 1500.0, 2)
    values[30] *= 0.75  # a quarter short: out of line, but within five scales
    scores = outlier_scores(make_panel(values))
    score = scores["score"].iloc[30]
    assert flagged_positions(flag_outliers(make_panel(values), threshold=score + 0.1)) == []
    assert 30 in flagged_positions(flag_outliers(make_panel(values), threshold=score - 0.1))
    wide = outlier_scores(make_panel(values), window=13)
    assert wide["neighbours"].iloc[30] == 12


# --------------------------------------------------------------------------------------------------
# Synthetic data: the planted incomplete submission, and clean sites


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict]:
    path = tmp_path_factory.mktemp("synthetic_quality")
    generate(path)
    panel, _ = load_panel(path)
    truth = json.loads((path / "truth.json").read_text(encoding="utf-8"))
    return panel, truth


def _incomplete(truth: dict) -> dict:
    (quirk,) = [q for q in truth["quirks"] if q["id"] == "incomplete_submission"]
    return quirk


def test_synthetic_incomplete_submission_is_flagged(synthetic):
    panel, truth = synthetic
    quirk = _incomplete(truth)
    month = pd.Timestamp(quirk["month"])
    # load_panel flags; flag_outliers on the unflagged panel must agree.
    unflagged = panel.assign(quality_flags=panel["quality_flags"].str.replace(OUTLIER_FLAG, "", regex=False))
    unflagged["quality_flags"] = unflagged["quality_flags"].str.strip(";")
    for p in (panel, flag_outliers(unflagged)):
        for measure in quirk["measure_ids"]:
            s = monthly_series(p, quirk["org_code"], measure)
            hit = s[s["period"] == month]
            assert len(hit) == 1
            assert has_flag(hit["quality_flags"], OUTLIER_FLAG).all(), (measure, hit.iloc[0].to_dict())
            # Only the planted month of that series.
            assert list(s.loc[has_flag(s["quality_flags"], OUTLIER_FLAG), "period"]) == [month]


def test_synthetic_sites_have_no_outliers_in_analysed_measures(synthetic):
    panel, truth = synthetic
    analysed = [m.id for m in REG.measures if m.analysis == "its"]
    assert _incomplete(truth)["org_code"] not in SITES
    at_sites = panel[panel["org_code"].isin(SITES) & panel["measure_id"].isin(analysed)]
    assert at_sites["period"].nunique() > 100 and set(at_sites["org_code"]) == set(SITES)
    flagged = at_sites[has_flag(at_sites["quality_flags"], OUTLIER_FLAG)]
    assert flagged.empty, flagged[["org_code", "measure_id", "period"]].to_string()


# --------------------------------------------------------------------------------------------------
# Real MHSDS file


@pytest.fixture(scope="module")
def real_mhsds_scores(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    files = sorted(MHSDS_DIR.glob("*.csv.gz")) if MHSDS_DIR.is_dir() else []
    if not files:
        pytest.skip(f"real MHSDS file not available in {MHSDS_DIR}")
    panel, _ = load_panel(MHSDS_DIR)
    return outlier_scores(panel)


def test_real_mhsds_site_outliers_are_few_and_far_out_of_line(real_mhsds_scores):
    s = real_mhsds_scores
    site = s[s["org_code"].isin(SITES) & s["measure_id"].eq("MHS32")]
    months = site["period"].nunique()
    flagged = site[site["outlier"]]
    assert months >= 60
    assert len(flagged) <= 0.05 * len(site), flagged.to_string()
    # Every flagged month is at least 40% away from its neighbours' median (on the ratio scale).
    ratio = flagged["value"] / flagged["neighbour_median"]
    assert ((ratio < 0.6) | (ratio > 1.0 / 0.6)).all(), flagged.to_string()


# --------------------------------------------------------------------------------------------------
# Quality summary


def _summary_panel() -> pd.DataFrame:
    periods = [p for p in _months(12, pd.Timestamp("2020-01-01")) if p.month not in (5, 6)]
    n = len(periods)
    values = np.full(n, 100.0)
    suppressed = np.zeros(n, dtype=bool)
    suppressed[2] = True  # 2020-03
    flags = [""] * n
    flags[3] = "outlier"  # 2020-04
    status = ["final"] * (n - 1) + ["provisional"]  # 2020-12
    main = make_panel(values, periods=periods, suppressed=suppressed, flags=flags, status=status)
    quarter = make_panel([300.0], periods=[pd.Timestamp("2020-10-01")], period_type="quarter")
    other_org = make_panel([5.0], org="OTHER", periods=[pd.Timestamp("2019-01-01")])
    rolling = make_panel([1200.0, 1210.0], measure="MHS108", periods=_months(2, pd.Timestamp("2020-11-01")),
                         period_type="rolling_12_months")
    return pd.concat([main, quarter, other_org, rolling], ignore_index=True)


def _reports() -> list[ReadReport]:
    b = ReadReport(path="/d/b.csv", layout="mhsds_long", rows_read=10, rows_kept=7, rejected={"x": 2, "a": 1})
    a = ReadReport(path="/d/a.csv", layout="unknown", blocking=["/d/a.csv: empty file (no header row)"])
    return [b, a]


def test_quality_summary_describes_the_series_and_files():
    panel = _summary_panel()
    summary = quality_summary(panel, _reports(), "ORG1", ["MHS32", "MHS108", "CCR70"])
    assert list(summary["measures"]) == ["CCR70", "MHS108", "MHS32"]
    m = summary["measures"]["MHS32"]
    assert m["period_type"] == "month"
    assert (m["first_month"], m["last_month"]) == ("2020-01", "2020-12")
    assert m["months_present"] == 10
    assert m["missing_months"] == ["2020-05", "2020-06"]
    assert m["share_suppressed"] == round(1 / 10, 4)
    assert m["outlier_months"] == ["2020-04"]
    assert m["provisional_months"] == ["2020-12"]
    assert m["period_types"] == {"month": 10, "quarter": 1}
    rolling = summary["measures"]["MHS108"]
    assert rolling["period_type"] == "rolling_12_months"
    assert (rolling["months_present"], rolling["missing_months"]) == (2, [])
    absent = summary["measures"]["CCR70"]
    assert absent["months_present"] == 0 and absent["first_month"] is None and absent["share_suppressed"] is None
    files = summary["files"]
    assert [f["path"] for f in files] == ["/d/a.csv", "/d/b.csv"]
    assert files[1]["rejected"] == {"a": 1, "x": 2} and files[1]["rows_rejected"] == 3
    assert files[1]["balanced"] is True
    assert files[0]["blocking"] == ["/d/a.csv: empty file (no header row)"]


def test_quality_summary_is_json_safe_and_deterministic():
    panel = _summary_panel()
    first = quality_summary(panel, _reports(), "ORG1", ["MHS32", "MHS108"])
    shuffled = panel.sample(frac=1.0, random_state=3)
    second = quality_summary(shuffled, list(reversed(_reports())), "ORG1", ["MHS108", "MHS32", "MHS32"])
    text = json.dumps(first, sort_keys=False)
    assert text == json.dumps(second, sort_keys=False)
    assert json.loads(text) == first


def test_a_month_when_most_trusts_move_together_is_not_an_outlier():
    """The national COVID-19 peaks move most trusts at once: judged against the national movement, the
    peak month is not an outlier of any trust, while one trust's lone spike still is."""
    periods = pd.date_range("2021-06-01", periods=13, freq="MS")
    rows = []
    for k in range(12):
        org = f"RX{k}" if k < 10 else f"RY{k}"
        for i, p in enumerate(periods):
            value = 4.5 + 0.02 * ((i * 7 + k) % 5)
            if p == pd.Timestamp("2022-01-01"):
                value += 2.0  # the Omicron wave: every trust at once
            if org == "RX3" and p == pd.Timestamp("2021-09-01"):
                value += 2.0  # one trust alone
            rows.append({"org_code": org, "period": p, "measure_id": "SICKNESS_RATE", "period_type": "month",
                         "numerator": float("nan"), "denominator": float("nan"), "value": value,
                         "status": "final", "suppressed": False, "quality_flags": "", "source_file": "x.csv"})
    flagged = flag_outliers(pd.DataFrame(rows))
    out = flagged[has_flag(flagged["quality_flags"], OUTLIER_FLAG)]
    assert list(zip(out["org_code"], out["period"], strict=True)) == [("RX3", pd.Timestamp("2021-09-01"))]
