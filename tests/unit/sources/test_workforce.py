"""NHS Workforce Statistics staff in post (Tables 4 and 5) into STAFF_HC / STAFF_FTE panel rows."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import openpyxl
import pytest

from evaluation.sources import detect_layout, read_file
from evaluation.sources.workforce import LAYOUT, read_workforce

SHARED = Path(os.environ.get("EVALUATION_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
WORKBOOK = (SHARED / "real-extra" / "nhs_workforce_statistics"
            / "NHS Workforce Statistics, May 2023 England and Organisation.xlsx")
HEADER = ["NHS England region code", "NHS England region name", "ICS code", "ICS name", "Organisation name",
          "Organisation code"]


def _workbook(path: Path, bad: object = 10.0) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    months = [dt.datetime(2022, 1, 31), dt.datetime(2022, 2, 28)]
    for name, scale in (("4. All Staff, NHSE & Org - HC", 1.0), ("5. All Staff, NHSE & Org - FTE", 0.9)):
        ws = wb.create_sheet(name)
        ws.append(["Title"])
        ws.append([])
        ws.append([*HEADER, *months])
        ws.append(["", "", "", "", "England", "", 100.0, 110.0])                 # total row: not used
        ws.append(["Y1", "R", "Q1", "I", "Trust A", "RX1", 50 * scale, 52 * scale])
        ws.append(["Y1", "R", "Q1", "I", "Trust B", "RX2", 0, bad])               # zero: not yet reporting
    wb.save(path)
    return path


def test_reads_both_tables_and_accounts_for_every_cell(tmp_path):
    path = _workbook(tmp_path / "wf.xlsx")
    assert detect_layout(path) == LAYOUT
    (result,) = read_file(path)
    panel, report = result.panel, result.report
    assert report.balanced and report.rows_read == 12
    assert report.rejected == {"not an organisation row (total or note)": 4,
                               "zero staff in post (organisation not reporting that month)": 2}
    rx1 = panel[panel["org_code"] == "RX1"].set_index(["measure_id", "period"])["value"]
    assert rx1[("STAFF_HC", dt.datetime(2022, 2, 1))] == 52
    assert rx1[("STAFF_FTE", dt.datetime(2022, 1, 1))] == pytest.approx(45)
    assert set(panel["status"]) == {"final"}


def test_a_non_numeric_cell_is_named_by_sheet_and_row(tmp_path):
    result = read_workforce(_workbook(tmp_path / "wf.xlsx", bad="n/a"))
    assert result.report.rejected["non-numeric value"] == 2
    assert any("row 6" in f and "'n/a'" in f for f in result.report.findings)


@pytest.mark.realdata
@pytest.mark.skipif(not WORKBOOK.is_file(), reason=f"published workbook not found at {WORKBOOK}")
def test_real_workbook_matches_the_published_site_figures():
    panel = read_workforce(WORKBOOK).panel
    got = panel.set_index(["org_code", "measure_id", "period"])["value"]
    # PROVENANCE.md, read from the workbook: headcount and FTE, September 2009 and May 2023.
    assert got[("RDY", "STAFF_HC", dt.datetime(2009, 9, 1))] == 1670
    assert got[("RW5", "STAFF_HC", dt.datetime(2023, 5, 1))] == 7452
    assert got[("TAD", "STAFF_FTE", dt.datetime(2023, 5, 1))] == pytest.approx(2884.3, abs=0.1)
    assert got[("RXA", "STAFF_FTE", dt.datetime(2009, 9, 1))] == pytest.approx(2402.8, abs=0.1)
