"""Tests for evaluation.demo.generator: layouts of the real files, quirks, truth, determinism, recoverability."""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.demo.generator import MEASURE_MODELS, generate, known_effects
from evaluation.dictionary.registry import default_registry

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
REAL_MHSDS_DIR = SHARED_DATA / "real" / "mhsds_timeseries"
REAL_SICKNESS_DIR = SHARED_DATA / "real" / "sickness_absence_benchmarking"
SCALES = {"count": "rate_ratio", "proportion": "odds_ratio", "rate": "difference"}
DMY = "%d/%m/%Y"

REG = default_registry()


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synthetic")
    generate(path)
    return path


@pytest.fixture(scope="module")
def truth(out: Path) -> dict:
    return json.loads((out / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def mhsds(out: Path) -> pd.DataFrame:
    df = pd.read_csv(out / "mhsds_timeseries.csv", dtype=str, keep_default_na=False)
    df["start"] = pd.to_datetime(df["REPORTING_PERIOD_START"], format=DMY)
    df["end"] = pd.to_datetime(df["REPORTING_PERIOD_END"], format=DMY)
    df["span"] = (
        (df["end"].dt.year - df["start"].dt.year) * 12 + df["end"].dt.month - df["start"].dt.month + 1
    )
    return df


def _provider_monthly(mhsds: pd.DataFrame) -> pd.DataFrame:
    return mhsds[(mhsds["BREAKDOWN"].str.casefold() == "provider") & (mhsds["span"] == 1)]


def _quirk(truth: dict, quirk_id: str) -> dict:
    found = [q for q in truth["quirks"] if q["id"] == quirk_id]
    assert len(found) == 1, f"truth.json should record quirk {quirk_id!r} once"
    return found[0]


# --------------------------------------------------------------------------------------------------
# determinism


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=7)
    generate(tmp_path / "b", seed=7)
    # Every file, subfolders included (the 4-week-wait files are in their own folder).
    names_a = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file())
    names_b = sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert names_a == names_b
    assert {"mhsds_timeseries.csv", "sickness_absence.csv", "local_referrals.csv", "local_workforce.csv",
            "truth.json", "README.md"} <= set(names_a)  # fmt: skip
    for name in names_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_different_seed_changes_mhsds(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=1)
    generate(tmp_path / "b", seed=2)
    assert (tmp_path / "a" / "mhsds_timeseries.csv").read_bytes() != (
        tmp_path / "b" / "mhsds_timeseries.csv"
    ).read_bytes()


def test_adding_organisations_keeps_existing_series(tmp_path: Path) -> None:
    generate(tmp_path / "small", organisations=24)
    generate(tmp_path / "big", organisations=30)
    small = pd.read_csv(tmp_path / "small" / "local_workforce.csv", dtype=str)
    big = pd.read_csv(tmp_path / "big" / "local_workforce.csv", dtype=str)
    big = big[big["ORG_CODE"].isin(set(small["ORG_CODE"]))].reset_index(drop=True)
    pd.testing.assert_frame_equal(small, big)


# --------------------------------------------------------------------------------------------------
# layouts match the real published files


def test_files_are_lf_without_bom(out: Path) -> None:
    for path in out.glob("*.csv"):
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), path.name
        assert b"\r" not in raw, path.name
        assert raw.endswith(b"\n"), path.name


def test_mhsds_header_matches_real_file(out: Path) -> None:
    real = sorted(REAL_MHSDS_DIR.glob("*.csv.gz")) if SHARED_DATA.is_dir() else []
    if not real:
        pytest.skip(f"real MHSDS time-series file not found under {REAL_MHSDS_DIR} (shared data absent)")
    with gzip.open(real[0], "rt", encoding="utf-8-sig", newline="") as fh:
        real_header = fh.readline().rstrip("\r\n")
    ours = (out / "mhsds_timeseries.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert ours == real_header
    assert ours.split(",") == [c.name for c in REG.layout("mhsds_long").columns]


def test_sickness_header_matches_real_file(out: Path) -> None:
    real = sorted(REAL_SICKNESS_DIR.glob("*.csv")) if SHARED_DATA.is_dir() else []
    if not real:
        pytest.skip(
            f"real sickness benchmarking CSVs not found under {REAL_SICKNESS_DIR} (shared data absent)"
        )
    with real[0].open(encoding="utf-8-sig", newline="") as fh:
        real_header = fh.readline().rstrip("\r\n")
    ours = (out / "sickness_absence.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert ours == real_header


def test_local_headers_follow_registry_layouts(out: Path) -> None:
    for layout_id, name in (
        ("local_referrals", "local_referrals.csv"),
        ("local_workforce", "local_workforce.csv"),
    ):
        header = (out / name).read_text(encoding="utf-8").split("\n", 1)[0].split(",")
        assert header == [c.name for c in REG.layout(layout_id).columns]


def test_mhsds_conventions(mhsds: pd.DataFrame) -> None:
    assert set(mhsds["STATUS"]) == {"Final", "Performance"}
    assert set(mhsds["SECONDARY_LEVEL"]) == {"NONE"}
    assert set(mhsds["SECONDARY_LEVEL_DESCRIPTION"]) == {"NONE"}
    providers = mhsds[mhsds["BREAKDOWN"].str.casefold() == "provider"]
    assert (
        providers["PRIMARY_LEVEL_DESCRIPTION"] == providers["PRIMARY_LEVEL_DESCRIPTION"].str.upper()
    ).all()
    values = mhsds["MEASURE_VALUE"]
    assert values.str.fullmatch(r"\*|\d+").all(), "values must be integers or '*'"
    # The publisher's measure ids; the 4-week-wait measures are written to their own monthly files (below).
    wanted = {m.source_measure_id for m in REG.measures if m.layout == "mhsds_long"}
    four_week = {m.source_measure_id for m in REG.measures
                 if m.layout == "mhsds_long" and "Data_4WW" in (m.availability or "")}
    assert set(mhsds["MEASURE_ID"]) == wanted - four_week


def test_rolling_measures_span_twelve_months(mhsds: pd.DataFrame) -> None:
    rolling = {
        m.id for m in REG.measures if m.layout == "mhsds_long" and m.period_type == "rolling_12_months"
    }
    assert rolling
    rows = mhsds[mhsds["MEASURE_ID"].isin(rolling)]
    assert (rows["span"] == 12).all()
    assert (rows["start"].dt.day == 1).all()
    assert ((rows["end"] + pd.Timedelta(days=1)).dt.day == 1).all()


# --------------------------------------------------------------------------------------------------
# dates, coverage, organisations


def test_dates_parse_and_months_cover_the_period(out: Path, mhsds: pd.DataFrame) -> None:
    expected = set(pd.date_range("2016-04-01", "2025-03-01", freq="MS"))
    monthly = _provider_monthly(mhsds)
    assert set(monthly["start"]) == expected
    sick = pd.read_csv(out / "sickness_absence.csv", dtype=str)
    dates = pd.to_datetime(sick["DATE"], format=DMY)
    assert ((dates + pd.Timedelta(days=1)).dt.day == 1).all(), "DATE must be the last day of the month"
    assert set(dates.dt.to_period("M").dt.to_timestamp()) == expected
    for name in ("local_referrals.csv", "local_workforce.csv"):
        local = pd.read_csv(out / name, dtype=str)
        assert set(pd.to_datetime(local["PERIOD_START"], format=DMY)) == expected, name


def test_organisations(out: Path, truth: dict, mhsds: pd.DataFrame) -> None:
    orgs = truth["organisations"]
    assert len(orgs) == 24
    comps = [o for o in orgs if o["role"] == "comparator"]
    assert len(comps) >= 20
    site_codes = {s.ods_code for s in REG.sites}
    assert {o["org_code"] for o in orgs if o["role"] == "site"} == site_codes
    assert {o["site_id"] for o in orgs if o["role"] == "site"} == set(REG.site_ids)
    real_names = {s.provider_name.casefold() for s in REG.sites}
    for o in comps:
        assert re.fullmatch(r"ZC\d{2}", o["org_code"]), o["org_code"]
        assert o["org_code"] not in site_codes
        assert o["name"].casefold() not in real_names
        assert o["site_id"] is None
    assert len({o["name"] for o in orgs}) == len(orgs)
    # Every file carries every organisation, sites included.
    all_codes = {o["org_code"] for o in orgs}
    assert set(_provider_monthly(mhsds)["PRIMARY_LEVEL"]) == all_codes
    for name in ("sickness_absence.csv", "local_referrals.csv", "local_workforce.csv"):
        assert set(pd.read_csv(out / name, dtype=str)["ORG_CODE"]) == all_codes, name
    # Real names appear only for the sites; comparators' names in the files are the made-up ones.
    described = set(mhsds.loc[mhsds["PRIMARY_LEVEL"].isin(site_codes), "PRIMARY_LEVEL_DESCRIPTION"])
    assert described == {s.provider_name.upper() for s in REG.sites}


def test_fifty_four_organisations_gives_fifty_comparators(tmp_path: Path) -> None:
    truth = generate(tmp_path, organisations=54)
    assert sum(o["role"] == "comparator" for o in truth["organisations"]) == 50
    assert sum(o["role"] == "site" for o in truth["organisations"]) == len(REG.sites)


@pytest.mark.parametrize("organisations", [0, 4, 104])
def test_bad_organisation_count_is_rejected(tmp_path: Path, organisations: int) -> None:
    with pytest.raises(ValueError, match="organisations"):
        generate(tmp_path, organisations=organisations)


def test_five_organisations_is_enough(tmp_path: Path) -> None:
    truth = generate(tmp_path, organisations=5)
    assert [o["org_code"] for o in truth["organisations"] if o["role"] == "comparator"] == ["ZC01"]


def test_readme_says_synthetic(out: Path) -> None:
    text = (out / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in text.lower()
    assert "made up" in text.lower()
    assert "truth.json" in text


# --------------------------------------------------------------------------------------------------
# quirks of the real files


def test_provisional_and_final_rows(mhsds: pd.DataFrame, truth: dict) -> None:
    monthly = _provider_monthly(mhsds)
    last = monthly["start"].max()
    months = sorted(monthly["start"].unique())
    provisional, both = months[-2:], months[-3]
    assert set(monthly.loc[monthly["start"].isin(provisional), "STATUS"]) == {"Performance"}
    assert set(monthly.loc[monthly["start"] < both, "STATUS"]) == {"Final"}
    pair = monthly[monthly["start"] == both]
    assert set(pair["STATUS"]) == {"Final", "Performance"}
    assert last == pd.Timestamp("2025-03-01")
    # Both rows exist for every organisation and measure, and the values differ at every site.
    wide = pair.pivot_table(index=["PRIMARY_LEVEL", "MEASURE_ID"], columns="STATUS",
                            values="MEASURE_VALUE", aggfunc="first")  # fmt: skip
    assert wide.notna().all().all()
    site_rows = wide[wide.index.get_level_values(0).isin({s.ods_code for s in REG.sites})]
    assert (site_rows["Final"] != site_rows["Performance"]).all()
    assert _quirk(truth, "final_and_performance_rows")["month"] == both.strftime("%Y-%m-%d")
    assert _quirk(truth, "provisional_months")["months"] == [m.strftime("%Y-%m-%d") for m in provisional]


def test_quarterly_mhs32_rows(mhsds: pd.DataFrame, truth: dict) -> None:
    quirk = _quirk(truth, "quarterly_rows")
    measure_id = quirk["measure_id"]
    quarterly = mhsds[(mhsds["MEASURE_ID"] == measure_id) & (mhsds["span"] == 3)]
    assert not quarterly.empty
    assert set(quarterly["MEASURE_NAME"]) == {quirk["measure_name"]}
    assert len(quirk["periods"]) == 4
    assert set(quarterly["start"].dt.strftime("%Y-%m-%d")) == {p[0] for p in quirk["periods"]}
    # A quarter's value is the sum of its three final monthly values.
    monthly = _provider_monthly(mhsds)
    monthly = monthly[monthly["MEASURE_ID"] == measure_id].sort_values("STATUS")  # Final before Performance
    monthly = monthly.drop_duplicates(["PRIMARY_LEVEL", "start"], keep="first")
    site = REG.sites[0].ods_code
    for _, row in quarterly[quarterly["PRIMARY_LEVEL"] == site].iterrows():
        inside = monthly[
            (monthly["PRIMARY_LEVEL"] == site) & monthly["start"].between(row["start"], row["end"])
        ]
        assert len(inside) == 3
        assert int(row["MEASURE_VALUE"]) == inside["MEASURE_VALUE"].astype(int).sum()


def test_measure_name_wording_changes(mhsds: pd.DataFrame, truth: dict) -> None:
    # Every provider row but the quarterly ones, whose name is fixed ("New referrals").
    providers = mhsds[(mhsds["BREAKDOWN"].str.casefold() == "provider") & (mhsds["span"] != 3)]
    changes = _quirk(truth, "measure_name_wording")["changes"]
    assert {"MHS32", "CCR70", "CCR71"} <= set(changes)
    for measure_id, change in changes.items():
        rows = providers[providers["MEASURE_ID"] == measure_id]
        assert not rows.empty, measure_id
        before = rows[rows["end"] < pd.Timestamp(change["from_month"])]
        after = rows[rows["end"] >= pd.Timestamp(change["from_month"])]
        assert set(before["MEASURE_NAME"]) == {change["before"]}
        assert set(after["MEASURE_NAME"]) == {change["after"]}
    mhs32 = changes["MHS32"]
    assert (mhs32["from_month"], mhs32["before"]) == ("2019-04-01", "Referrals starting in RP")


def test_suppressed_values_only_in_a_comparator(mhsds: pd.DataFrame, truth: dict) -> None:
    quirk = _quirk(truth, "suppressed_counts")
    stars = mhsds[mhsds["MEASURE_VALUE"] == "*"]
    assert len(stars) > 0
    assert not set(stars["PRIMARY_LEVEL"]) & {s.ods_code for s in REG.sites}
    assert "CCR71" in set(stars["MEASURE_ID"])
    assert {c["org_code"] for c in quirk["cells"]} == set(stars["PRIMARY_LEVEL"])


def test_upper_case_provider_label_and_england_rows(mhsds: pd.DataFrame, truth: dict) -> None:
    upper = mhsds[mhsds["BREAKDOWN"] == "PROVIDER"]
    assert set(upper["PRIMARY_LEVEL"]) == {_quirk(truth, "breakdown_upper_case")["org_code"]}
    england = mhsds[mhsds["BREAKDOWN"] == "England"]
    assert set(england["PRIMARY_LEVEL"]) == {"England"}
    assert set(england["MEASURE_ID"]) == {_quirk(truth, "england_rows")["measure_id"]}
    assert len(england) >= 108


def test_incomplete_submission_is_a_comparator_dip(mhsds: pd.DataFrame, truth: dict) -> None:
    quirk = _quirk(truth, "incomplete_submission")
    assert quirk["org_code"] not in {s.ods_code for s in REG.sites}
    month = pd.Timestamp(quirk["month"])
    monthly = _provider_monthly(mhsds)
    rows = monthly[(monthly["PRIMARY_LEVEL"] == quirk["org_code"]) & (monthly["MEASURE_ID"] == "MHS32")]
    rows = rows.set_index("start")["MEASURE_VALUE"].astype(int)
    neighbours = (rows[month - pd.DateOffset(months=1)] + rows[month + pd.DateOffset(months=1)]) / 2
    assert 0.25 < rows[month] / neighbours < 0.55


def test_sickness_staff_groups_and_rates(out: Path) -> None:
    sick = pd.read_csv(out / "sickness_absence.csv", dtype={"ORG_CODE": str})
    assert set(sick["CLUSTER_GROUP"]) == {"Mental Health"}
    assert sick["STAFF_GROUP"].nunique() == 2 and "All staff groups" in set(sick["STAFF_GROUP"])
    assert (sick.groupby(["DATE", "ORG_CODE"]).size() == 2).all()
    rate = 100 * sick["FTE_DAYS_LOST"] / sick["FTE_DAYS_AVAILABLE"]
    assert np.allclose(rate, sick["SICKNESS_ABSENCE_RATE_PERCENT"], atol=0.006)
    allstaff = sick[sick["STAFF_GROUP"] == "All staff groups"]
    assert allstaff["SICKNESS_ABSENCE_RATE_PERCENT"].between(2, 10).all()
    text = (out / "sickness_absence.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
    assert re.fullmatch(r"\d+\.\d{5}", text[10]) and re.fullmatch(r"\d+\.\d{2}", text[12])


def test_local_extracts_are_consistent(out: Path) -> None:
    ref = pd.read_csv(out / "local_referrals.csv", dtype={"ORG_CODE": str})
    parts = ref["REFERRALS_ACCEPTED"] + ref["REFERRALS_REJECTED"] + ref["REFERRALS_SIGNPOSTED"]
    assert (parts == ref["REFERRALS_RECEIVED"]).all()
    assert ref["REFERRALS_RECEIVED"].between(100, 5000).all()
    wf = pd.read_csv(out / "local_workforce.csv", dtype={"ORG_CODE": str})
    wf["period"] = pd.to_datetime(wf["PERIOD_START"], format=DMY)
    assert (wf["LEAVERS"] <= wf["STAFF_IN_POST"]).all()
    assert (wf["STABLE_STAFF_12M"] <= wf["STAFF_IN_POST_12M_AGO"]).all()
    site = wf[wf["ORG_CODE"] == REG.sites[0].ods_code].sort_values("period").reset_index(drop=True)
    # STAFF_IN_POST_12M_AGO is the staff in post of twelve rows earlier.
    assert (
        site["STAFF_IN_POST_12M_AGO"].iloc[12:].to_numpy() == site["STAFF_IN_POST"].iloc[:-12].to_numpy()
    ).all()
    sites = wf[wf["ORG_CODE"].isin({s.ods_code for s in REG.sites})]
    assert sites["STAFF_IN_POST"].between(2000, 6500).all()
    assert (sites["LEAVERS"] / sites["STAFF_IN_POST"]).between(0.002, 0.03).all()
    assert (sites["STABLE_STAFF_12M"] / sites["STAFF_IN_POST_12M_AGO"]).between(0.7, 0.95).all()


def test_site_levels_are_sensible(mhsds: pd.DataFrame) -> None:
    monthly = _provider_monthly(mhsds)
    monthly = monthly[monthly["PRIMARY_LEVEL"].isin({s.ods_code for s in REG.sites})]
    ranges = {"CCR70": (40, 320), "CCR71": (20, 220), "MHS32": (1500, 14000)}
    for measure_id, (lo, hi) in ranges.items():
        values = monthly.loc[monthly["MEASURE_ID"] == measure_id, "MEASURE_VALUE"].astype(int)
        assert values.between(lo, hi).all(), measure_id


# --------------------------------------------------------------------------------------------------
# truth


def test_truth_has_effects_for_every_site_and_its_measure(truth: dict) -> None:
    assert truth["covid"] == {"start": "2020-03-01", "end": "2021-03-01"}
    assert (truth["seed"], truth["start"], truth["end"]) == (20240401, "2016-04-01", "2025-03-01")
    for site in REG.sites:
        for m in REG.measures:
            if m.analysis != "its":
                continue
            effect = truth["effects"][site.id][m.id]
            assert effect["scale"] == SCALES[m.value_type]
            assert effect["intervention_date"] == site.intervention_date.isoformat()
            null = 0.0 if m.value_type == "rate" else 1.0
            step, slope = known_effects().get(site.id, {}).get(m.id, (null, null))
            assert (effect["step"], effect["slope"]) == (step, slope)


def test_truth_carries_the_primary_estimand(truth: dict) -> None:
    """Counts with no slope change: the relative primary estimand is exactly the step's percent; a
    proportion's is 100 x its absolute change (percentage points); a null effect is zero."""
    # The measures of the monthly series models (the 4-week-wait files have their own generator, no effect).
    for site in REG.sites:
        for m in REG.measures:
            if m.id not in MEASURE_MODELS:
                continue
            effect = truth["effects"][site.id][m.id]
            pe = effect["primary_estimand"]
            assert pe["months"] == 12
            if m.value_type == "count" and effect["slope"] == 1.0:
                assert pe["relative_scale"] == "percent"
                assert pe["relative"] == pytest.approx(100 * (effect["step"] - 1), abs=1e-9)
            elif m.value_type == "proportion":
                assert pe["relative_scale"] == "percentage_points"
                assert pe["relative"] == pytest.approx(100 * pe["absolute"], rel=1e-12)
            null = 0.0 if m.value_type == "rate" else 1.0
            if (effect["step"], effect["slope"]) == (null, null):
                assert pe["absolute"] == 0.0 and pe["relative"] == pytest.approx(0.0, abs=1e-12)
    # A slope change enters the estimand: Cheshire and Wirral's CCR70 (step 0.92, slope 0.998 a month).
    cw = truth["effects"]["cheshire_wirral"]["CCR70"]["primary_estimand"]
    assert cw["relative"] < 100 * (0.92 - 1)


def test_bradford_has_no_crisis_effect(truth: dict) -> None:
    crisis = [m.id for m in REG.measures_for("crisis_demand")]
    assert crisis
    for measure_id in crisis:
        effect = truth["effects"]["bradford"][measure_id]
        assert (effect["step"], effect["slope"]) == (1.0, 1.0)


def test_effects_include_some_non_null_and_some_null(truth: dict) -> None:
    steps = [
        e["step"] for site in truth["effects"].values() for e in site.values() if e["scale"] != "difference"
    ]
    assert any(s == 1.0 for s in steps) and any(s != 1.0 for s in steps)


def test_truth_json_is_sorted_and_indented(out: Path, truth: dict) -> None:
    text = (out / "truth.json").read_text(encoding="utf-8")
    assert text == json.dumps(truth, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------------
# the generator's parametrisation: a plain Poisson GLM with the analysis design recovers the step


def test_dorset_ccr70_step_is_recovered(mhsds: pd.DataFrame, truth: dict) -> None:
    sm = pytest.importorskip("statsmodels.api")
    site = REG.site("dorset")
    monthly = _provider_monthly(mhsds)
    series = monthly[(monthly["PRIMARY_LEVEL"] == site.ods_code) & (monthly["MEASURE_ID"] == "CCR70")]
    series = series.sort_values("STATUS").drop_duplicates("start", keep="first").sort_values("start")
    y = series["MEASURE_VALUE"].astype(float).to_numpy()
    period = series["start"].reset_index(drop=True)
    first, go_live = period.iloc[0], pd.Timestamp(site.intervention_date)
    time = ((period.dt.year - first.year) * 12 + period.dt.month - first.month + 1).to_numpy(float)
    t_last_pre = (go_live.year - first.year) * 12 + go_live.month - first.month
    post = (period >= go_live).to_numpy(float)
    month = period.dt.month.to_numpy(float)
    covid = period.between(pd.Timestamp(truth["covid"]["start"]), pd.Timestamp(truth["covid"]["end"]))
    X = np.column_stack(
        [np.ones_like(time), time, post, (time - t_last_pre) * post, covid.to_numpy(float)]
        + [f(2 * math.pi * k * month / 12) for k in (1, 2) for f in (np.sin, np.cos)]
    )
    fit = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    effect = truth["effects"]["dorset"]["CCR70"]
    assert len(y) == 108
    assert abs(math.exp(fit.params[2]) - effect["step"]) < 0.1
    assert abs(math.exp(fit.params[3]) - effect["slope"]) < 0.01


def test_stability_index_is_a_rolling_twelve_month_product(out: Path, truth: dict) -> None:
    """The 12-month stability index is the product of 12 monthly retention probabilities, so each value
    overlaps the previous 11 and an effect at go-live reaches it over a year: its true average over the
    first 12 months is well under the full effect. It is described, not modelled."""
    wf = pd.read_csv(out / "local_workforce.csv")
    site = wf[wf["ORG_CODE"] == "RDY"]
    p = (site["STABLE_STAFF_12M"] / site["STAFF_IN_POST_12M_AGO"]).to_numpy()
    assert 0.78 < p.mean() < 0.92
    assert REG.measure("STABILITY_12M").analysis == "descriptive"
    pe = truth["effects"]["dorset"]["STABILITY_12M"]["primary_estimand"]
    monthly_odds = truth["effects"]["dorset"]["STABILITY_12M"]["step"]
    # Full effect once all 12 months are post: retention r -> odds x step, index r ** 12.
    r = 0.9865
    r1 = monthly_odds * r / (1 - r) / (1 + monthly_odds * r / (1 - r))
    full = 100 * (r1**12 - r**12)
    assert 0 < pe["relative"] < 0.75 * full
