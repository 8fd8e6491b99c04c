"""ONS mid-year estimates into each site's catchment population by year (2023 boundary changes handled)."""

from __future__ import annotations

import os
from pathlib import Path

import openpyxl
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
