"""Reader for layout ``ons_population``: ONS mid-year population estimates (sheet MYE4), and each site's
population by year from the local authorities of its catchment (``catchment`` in ``data_dictionary/sites.yaml``).

Population is a denominator, not a measure: it is read into its own small table (``code``, ``name``,
``year``, ``population``, ``source_file``), never into the measure panel. Several releases overlap: for the
same area and year the latest release wins (the mid-2021 and mid-2022 releases are rebased on Census 2021,
the mid-2020 release is not, so there is a small level break between mid-2020 and mid-2021, reported).

The April 2023 reorganisation: the mid-2022 release is on 2023 boundaries, where Craven is inside North
Yorkshire and Barrow-in-Furness and South Lakeland inside Westmorland and Furness. An area the catchment marks
``abolished`` has its last published figure carried forward to later years, and the result says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Site
from evaluation.sources.common import SourceError

LAYOUT = "ons_population"
SHEET = "MYE4"
_YEAR = re.compile(r"^mid-(\d{4})$", re.IGNORECASE)


def _sheet_rows(path: Path) -> list[list]:
    name = path.name.lower()
    if name.endswith(".xls"):
        import xlrd

        book = xlrd.open_workbook(str(path), on_demand=True)
        if SHEET not in book.sheet_names():
            raise SourceError(path, f"no sheet '{SHEET}'", expected="the ONS mid-year estimates summary sheet MYE4")
        sh = book.sheet_by_name(SHEET)
        return [sh.row_values(i) for i in range(sh.nrows)]
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if SHEET not in wb.sheetnames:
            raise SourceError(path, f"no sheet '{SHEET}'", expected="the ONS mid-year estimates summary sheet MYE4")
        return [list(r) for r in wb[SHEET].iter_rows(values_only=True)]
    finally:
        wb.close()


def is_population_workbook(path: Path | str) -> bool:
    """Whether an Excel file is an ONS mid-year estimates workbook (has a sheet MYE4)."""
    try:
        names = _sheet_names(Path(path))
    except Exception:  # noqa: BLE001 -- a workbook that cannot be opened is not this layout
        return False
    return SHEET in names


def _sheet_names(path: Path) -> list[str]:
    if path.name.lower().endswith(".xls"):
        import xlrd

        return list(xlrd.open_workbook(str(path), on_demand=True).sheet_names())
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def read_population(path: Path | str) -> pd.DataFrame:
    """One ONS workbook's MYE4 sheet as rows of (code, name, year, population, source_file)."""
    path = Path(path)
    rows = _sheet_rows(path)
    head = next((i for i, r in enumerate(rows[:30]) if r and str(r[0]).strip() == "Code"), None)
    if head is None:
        raise SourceError(path, f"sheet '{SHEET}': no header row starting 'Code' in its first 30 rows")
    years = {j: int(m.group(1)) for j, c in enumerate(rows[head]) if (m := _YEAR.match(str(c or "").strip()))}
    if not years:
        raise SourceError(path, f"sheet '{SHEET}': no 'Mid-YYYY' columns", row=head + 1)
    out = []
    for i, r in enumerate(rows[head + 1:], start=head + 2):
        code = str(r[0] or "").strip()
        if not code:
            continue
        for j, year in years.items():
            cell = r[j] if j < len(r) else None
            if cell in (None, ""):
                continue
            if not isinstance(cell, int | float):
                raise SourceError(path, f"sheet '{SHEET}': population {cell!r} is not a number", row=i,
                                  column=str(rows[head][j]), expected="a count of people")
            out.append((code, str(r[1]).strip(), year, float(cell), path.name))
    return pd.DataFrame(out, columns=["code", "name", "year", "population", "source_file"])


def read_population_folder(folder: Path | str) -> pd.DataFrame:
    """Every ONS workbook under ``folder`` (names ending .xls or .xlsx with a sheet MYE4); for an area and
    year in several releases, the latest year of release (the file's latest Mid-YYYY column) wins."""
    frames = []
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.name.lower().endswith((".xls", ".xlsx")) and not p.name.startswith(("~$", ".")):
            try:
                df = read_population(p)
            except SourceError:
                continue  # not an ONS population workbook
            frames.append(df.assign(release=df["year"].max()))
    if not frames:
        return pd.DataFrame(columns=["code", "name", "year", "population", "source_file"])
    allp = pd.concat(frames, ignore_index=True).sort_values(["code", "year", "release"], kind="mergesort")
    return allp.drop_duplicates(["code", "year"], keep="last").drop(columns="release").reset_index(drop=True)


@dataclass
class SitePopulation:
    """A site's catchment population by mid-year, and what was carried forward or missing."""

    site_id: str
    by_year: dict[int, float]
    notes: list[str] = field(default_factory=list)


def site_population(site: Site, table: pd.DataFrame) -> SitePopulation:
    """Sum the site's catchment areas by year; an abolished area's last figure is carried forward."""
    notes: list[str] = []
    if not site.catchment:
        return SitePopulation(site.id, {}, [f"{site.id}: no catchment areas in sites.yaml"])
    years = sorted(table["year"].unique())
    by_year: dict[int, float] = {}
    for year in years:
        total, complete = 0.0, True
        for area in site.catchment:
            rows = table[(table["code"] == area.code) & (table["year"] <= year)]
            exact = rows[rows["year"] == year]
            if len(exact):
                total += float(exact["population"].iloc[0])
            elif area.abolished is not None and len(rows) and year >= area.abolished.year - 1:
                last = rows.sort_values("year").iloc[-1]
                total += float(last["population"])
                notes.append(f"{area.name} ({area.code}) mid-{year}: not published on the new boundaries; "
                             f"its mid-{int(last['year'])} figure is carried forward.")
            else:
                complete = False
        if complete:
            by_year[int(year)] = total
    if 2020 in by_year and 2021 in by_year:
        notes.append("Mid-2020 is from the release before the Census 2021 rebasing and mid-2021 on from the "
                     "rebased releases: a small level break between the two years is not a real change.")
    return SitePopulation(site.id, by_year, notes)


def per_100k(value: float, population: float) -> float:
    """A count per 100,000 population."""
    return value / population * 100_000.0
