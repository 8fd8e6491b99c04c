"""ONS mid-year estimates into each site's catchment population by year (2023 boundary changes handled)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.sources.population import per_100k, read_population, read_population_folder, site_population

SHARED = Path(os.environ.get("EVALUATION_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
ONS = SHARED / "real-extra" / "ons_population"


def _book(path: Path, header: list, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "MYE4"
    ws.append(["Population estimates"])
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_latest_release_wins_and_an_abolished_area_is_carried_forward(tmp_path):
    _book(tmp_path / "a.xlsx", ["Code", "Name", "Geography", "Mid-2021", "Mid-2020"],
          [["E08000032", "Bradford", "MD", 546976, 542128], ["E07000163", "Craven", "NMD", 57142, 57000]])
    _book(tmp_path / "b.xlsx", ["Code", "Name", "Geography", "Mid-2022", "Mid-2021"],
          [["E08000032", "Bradford", "MD", 552644, 547000]])
    table = read_population_folder(tmp_path)
    assert table.set_index(["code", "year"]).loc[("E08000032", 2021), "population"] == 547000  # later release
    sp = site_population(default_registry().site("bradford"), table)
    assert sp.by_year == {2020: 542128 + 57000, 2021: 547000 + 57142, 2022: 552644 + 57142}
    assert any("Craven" in n and "carried forward" in n for n in sp.notes)
    assert per_100k(50, 500_000) == 10


@pytest.mark.realdata
@pytest.mark.skipif(not ONS.is_dir(), reason=f"ONS workbooks not found at {ONS}")
def test_real_files_give_each_site_a_population_by_year():
    table = read_population_folder(ONS)
    mye4 = read_population(ONS / "mye22final.xlsx").set_index(["code", "year"])
    assert mye4.loc[("E06000059", 2022), "population"] == 383274  # Dorset mid-2022 (PROVENANCE.md)
    reg = default_registry()
    dorset = site_population(reg.site("dorset"), table).by_year
    assert 760_000 < dorset[2016] < dorset[2022] < 800_000  # "just under 800,000"
    for site in reg.sites:
        assert {2016, 2021, 2022} <= set(site_population(site, table).by_year)


def _site_pop(by_year: dict[int, float]):
    from evaluation.sources.population import SitePopulation

    return SitePopulation("x", by_year)


def test_monthly_population_interpolates_between_mid_years_and_holds_the_ends():
    from evaluation.sources.population import monthly_population

    periods = pd.Series(pd.to_datetime(["2019-01-01", "2020-07-01", "2021-01-01", "2021-07-01", "2024-03-01"]))
    got = monthly_population(_site_pop({2020: 100_000.0, 2021: 112_000.0}), periods)
    assert list(got.index) == list(periods.index)
    assert got.iloc[0] == 100_000 and got.iloc[1] == 100_000 and got.iloc[3] == 112_000 and got.iloc[4] == 112_000
    assert 105_900 < got.iloc[2] < 106_100  # half-way between mid-2020 and mid-2021: the rebasing break spread
    assert monthly_population(_site_pop({}), periods).empty


def test_rates_per_100k_by_year_use_that_years_estimate_or_the_latest():
    from evaluation.sources.population import rates_per_100k

    series = pd.DataFrame({"period": pd.date_range("2021-01-01", periods=36, freq="MS"), "value": 50.0,
                           "suppressed": False})
    series.loc[0, ["value", "suppressed"]] = [np.nan, True]
    rows = rates_per_100k(series, _site_pop({2021: 500_000.0, 2022: 250_000.0}))
    assert [(r["year"], r["months"], r["population_year"], r["per_100k"]) for r in rows] == [
        (2021, 11, 2021, 10.0), (2022, 12, 2022, 20.0), (2023, 12, 2022, 20.0)]


def test_no_site_carries_a_constant_population_any_more():
    """The ONS figures by year replace the constant (Dorset's rounded 800,000): a constant offset is never a rate."""
    assert all(s.population is None for s in default_registry().sites)
    assert all(s.catchment for s in default_registry().sites)
