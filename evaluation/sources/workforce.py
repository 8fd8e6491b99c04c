"""Reader for layout ``workforce_staff_in_post``: NHS Workforce Statistics "England and Organisation" Excel.

Tables 4 (headcount) and 5 (full-time equivalent) of the monthly workbook hold HCHS staff in post for every
trust and core organisation, one row per organisation and one column per month-end date (Excel dates, from
September 2009). Each organisation x month cell becomes one panel row of ``STAFF_HC`` or ``STAFF_FTE`` (the
period is the first day of the month the date ends). Rows without an organisation code (England and regional
totals, notes), empty cells and zeros (an organisation before it existed) are counted as
rejected; a cell that is neither a number nor empty is rejected
with its sheet, row and column named. Every value is published final.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.panel.frame import ReadReport, ReadResult, coerce_panel, sort_panel
from evaluation.provenance import sha256_file
from evaluation.sources.common import SourceError

LAYOUT = "workforce_staff_in_post"
#: Sheet-name prefix -> measure id (matched by prefix: the publisher's sheet names carry the table number).
SHEETS = {"4. All Staff": "STAFF_HC", "5. All Staff": "STAFF_FTE"}
_CODE = "organisation code"
_HEADER_SEARCH_ROWS = 15


def _sheets(path: Path) -> dict[str, str]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return {name: mid for name in wb.sheetnames for prefix, mid in SHEETS.items() if name.startswith(prefix)}
    finally:
        wb.close()


def is_workforce_workbook(path: Path | str) -> bool:
    """Whether an .xlsx file has the Workforce Statistics staff in post Tables 4 and 5."""
    try:
        return len(set(_sheets(Path(path)).values())) == len(SHEETS)
    except Exception:  # noqa: BLE001 -- any workbook that openpyxl cannot open is simply not this layout
        return False


def _month(cell: object) -> pd.Timestamp | None:
    if isinstance(cell, dt.datetime | dt.date):
        return pd.Timestamp(cell.year, cell.month, 1)
    return None


def read_workforce(path: Path | str, registry: Registry | None = None) -> ReadResult:
    """Read Tables 4 and 5 of one Workforce Statistics workbook into STAFF_HC and STAFF_FTE panel rows."""
    import openpyxl

    registry = registry or default_registry()
    path = Path(path)
    sheets = _sheets(path)
    missing = sorted(set(SHEETS.values()) - set(sheets.values()))
    if missing:
        raise SourceError(path, f"no sheet for {', '.join(missing)}",
                          expected="sheets '4. All Staff, NHSE & Org - HC' and '5. All Staff, NHSE & Org - FTE'")
    wanted = {m.id for m in registry.measures if m.layout == LAYOUT}
    report = ReadReport(path=str(path), layout=LAYOUT, sha256=sha256_file(path))
    frames = []
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet, measure_id in sorted(sheets.items()):
            if measure_id not in wanted:
                continue
            rows = list(wb[sheet].iter_rows(values_only=True))
            frames.append(_read_sheet(path, sheet, rows, measure_id, report))
    finally:
        wb.close()
    panel = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    report.rows_kept = len(panel)
    return ReadResult(sort_panel(coerce_panel(panel)), report)


def _read_sheet(path: Path, sheet: str, rows: list[tuple], measure_id: str, report: ReadReport) -> pd.DataFrame:
    head = next((i for i, r in enumerate(rows[:_HEADER_SEARCH_ROWS])
                 if any(str(c).strip().casefold() == _CODE for c in r if c is not None)), None)
    if head is None:
        raise SourceError(path, f"sheet '{sheet}': no header row with an 'Organisation code' column in its first "
                          f"{_HEADER_SEARCH_ROWS} rows")
    header = rows[head]
    code_col = next(j for j, c in enumerate(header) if c is not None and str(c).strip().casefold() == _CODE)
    months = [(j, _month(c)) for j, c in enumerate(header) if _month(c) is not None]
    if not months:
        raise SourceError(path, f"sheet '{sheet}': no month-end date columns in the header row", row=head + 1)
    out = []
    for i, row in enumerate(rows[head + 1:], start=head + 2):
        if not any(c is not None for c in row):
            continue
        code = str(row[code_col]).strip().upper() if code_col < len(row) and row[code_col] is not None else ""
        cells = [(p, row[j] if j < len(row) else None) for j, p in months]
        report.rows_read += len(cells)
        if not code or not code.isalnum():
            report.reject("not an organisation row (total or note)", len(cells))
            continue
        for period, cell in cells:
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                report.reject("empty cell")
            elif isinstance(cell, int | float) and not isinstance(cell, bool) and cell == 0:
                report.reject("zero staff in post (organisation not reporting that month)")
            elif isinstance(cell, int | float) and not isinstance(cell, bool) and cell > 0:
                out.append((code, period, float(cell)))
            else:
                report.reject("non-numeric value")
                report.findings.append(f"{path.name}: sheet '{sheet}', row {i}: value {cell!r} is not a number "
                                       "(expected staff in post, zero or more)")
    df = pd.DataFrame(out, columns=["org_code", "period", "value"])
    return pd.DataFrame({
        "org_code": df["org_code"], "period": df["period"], "measure_id": measure_id, "period_type": "month",
        "numerator": df["value"], "denominator": np.nan, "value": df["value"], "status": "final",
        "suppressed": False, "quality_flags": "", "source_file": path.name,
    })
