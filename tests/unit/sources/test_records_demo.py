"""The record-level demonstration data, aggregated by the SQL, give the demonstration panel back exactly."""

from __future__ import annotations

import pytest

from evaluation.demo.generator import generate
from evaluation.demo.records import RECORD_MEASURES_REPRODUCED, generate_records
from evaluation.sources import load_panel

KEY = ["org_code", "period", "measure_id"]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    args = {"seed": 7, "organisations": 5, "start": "2021-01-01", "end": "2022-12-01"}
    root = tmp_path_factory.mktemp("demo")
    truth = generate_records(root / "records", **args)
    generate(root / "aggregate", **args)
    records, reports = load_panel(root / "records")
    aggregate, _ = load_panel(root / "aggregate")
    return truth, records, reports, aggregate, root


def test_records_reproduce_the_demonstration_panel_exactly(both):
    _, records, _, aggregate, _ = both
    agg = aggregate[(aggregate["period_type"] == "month") & aggregate["measure_id"].isin(RECORD_MEASURES_REPRODUCED)]
    published = agg[~agg["suppressed"]]
    merged = published.merge(records, on=KEY, how="left", suffixes=("_agg", "_rec"), validate="one_to_one")
    assert len(published) > 4 * 24 * 5 * 0.9
    assert merged["numerator_rec"].notna().all(), "a published month is missing from the records"
    assert (merged["numerator_rec"] == merged["numerator_agg"]).all()
    has_den = merged["denominator_agg"].notna()
    assert (merged.loc[has_den, "denominator_rec"] == merged.loc[has_den, "denominator_agg"]).all()
    # Suppressed cells come back as counts under 5.
    hidden = agg[agg["suppressed"]].merge(records, on=KEY, suffixes=("_agg", "_rec"))
    assert (hidden["numerator_rec"] < 5).all()


def test_derived_measures_and_truth(both):
    truth, records, reports, _, _ = both
    ids = set(records["measure_id"])
    assert {"CCR72", "CCR73", "CMH_4WW"} <= ids
    wide = records.pivot_table(index=["org_code", "period"], columns="measure_id", values="numerator")
    assert (wide["CCR72"] <= wide["CCR70"]).all() and (wide["CCR72"] > 0).any()
    wait = records[records["measure_id"] == "CMH_4WW"]
    assert wait["value"].between(0.3, 0.9).all()
    # The last month has not had its four weeks by the end of the extract, so it is left out.
    assert wait["period"].max() < records["period"].max()
    assert truth["effects"]["dorset"]["CCR72"] == truth["effects"]["dorset"]["CCR70"]
    assert all(r.balanced and not r.rejected for r in reports)


def test_validate_reports_the_record_tables(both, capsys):
    from evaluation.sources.folder_check import validate

    assert validate(both[4] / "records") == 0
    out = capsys.readouterr().out
    assert "Input files: 4" in out
    assert "mhsds_records" in out and "MHS201CareContact" in out
