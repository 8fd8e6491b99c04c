"""Readers for NHS Sickness Absence Rates: the monthly CSVs (layout ``sickness_benchmarking``) and the
Excel tables' organisation-by-month sheet (``Table 4``, layout id :data:`TABLE_LAYOUT`).

Both give the one measure whose layout is ``sickness_benchmarking`` in the data dictionary
(``SICKNESS_RATE``: percent of FTE days available lost to sickness), status final,
period = first day of the month. The CSVs carry the FTE days, so numerator and denominator are filled and
the value is recomputed from them; the Excel table carries only the published rate (numerator and
denominator NaN, quality flag "rate only"). Where both give the same organisation and month, the dispatcher
(:func:`evaluation.sources.load_panel`) keeps the CSV row.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.panel.frame import ReadReport, ReadResult, coerce_panel, sort_panel
from evaluation.provenance import sha256_file
from evaluation.sources.common import (
    DATE_EXPECTED,
    ODS_EXPECTED,
    CellError,
    CsvSource,
    RowFilter,
    SourceError,
    add_flag,
    clean,
    future_periods,
    load_csv,
    malformed_org_codes,
    month_start,
    norm_name,
    parse_dates,
    parse_numbers,
)

LAYOUT = "sickness_benchmarking"
#: Layout id of the Excel tables' organisation-by-month sheet (its entry in data_dictionary/layouts.yaml has
#: file type xlsx, so CSV header detection never considers it: the sheet is found by :func:`is_sickness_table`).
TABLE_LAYOUT = "sickness_absence_table"
ALL_STAFF = "all staff groups"
# The published rate is rounded to 2 decimal places, so a recomputed rate can differ by up to 0.005.
RATE_TOLERANCE = 0.01


def _measure_id(registry: Registry) -> str:
    # The measure is found through the dictionary, so renaming it there cannot silently break this reader.
    ids = [m.id for m in registry.measures if m.layout == LAYOUT]
    if len(ids) != 1:
        raise SourceError(
            "data_dictionary/measures.yaml",
            f"expected exactly one measure with layout {LAYOUT}",
            found=", ".join(ids) or "none",
        )
    return ids[0]


def read_sickness(source: CsvSource | Path | str, registry: Registry | None = None) -> ReadResult:
    """Read one monthly sickness absence CSV into sickness absence rate (``SICKNESS_RATE``) panel rows.

    Keeps "All staff groups" rows (all rows when there is no STAFF_GROUP column); value = 100 x FTE days
    lost / FTE days available. Empty FTE cells mean the publisher has no figures: the row is kept with value
    NaN, suppressed False and quality flag "no figures". A published SICKNESS_ABSENCE_RATE_PERCENT that
    differs from the recomputed rate by more than 0.01 is flagged "published rate differs".
    """
    registry = registry or default_registry()
    measure_id = _measure_id(registry)
    layout = registry.layout(LAYOUT)
    loaded = load_csv(source, layout.required_columns, ["STAFF_GROUP", "SICKNESS_ABSENCE_RATE_PERCENT"])
    df = loaded.frame
    report = loaded.new_report(LAYOUT)
    rf = RowFilter(report, loaded.lines)

    if "STAFF_GROUP" in df.columns:
        staff = clean(df["STAFF_GROUP"]).str.casefold()
        rf.reject(staff.ne(ALL_STAFF).to_numpy(), "staff group not all staff", scope=True)
    (df,) = rf.compact(df)

    org = clean(df["ORG_CODE"]).str.upper()
    rf.reject(org.eq("").to_numpy(), "missing organisation code")
    rf.reject(
        malformed_org_codes(org).to_numpy(),
        "not an organisation code",
        error=CellError("ORG_CODE", ODS_EXPECTED, df["ORG_CODE"]),
    )
    date = parse_dates(df["DATE"])
    rf.reject(date.isna().to_numpy(), "invalid date in DATE", error=CellError("DATE", DATE_EXPECTED, df["DATE"]))
    rf.reject(
        future_periods(month_start(date)).to_numpy(),
        "period in the future",
        error=CellError("DATE", "a month that has already started", df["DATE"]),
    )
    lost, lost_empty, lost_bad = parse_numbers(df["FTE_DAYS_LOST"])
    avail, avail_empty, avail_bad = parse_numbers(df["FTE_DAYS_AVAILABLE"])
    for col, bad in (("FTE_DAYS_LOST", lost_bad), ("FTE_DAYS_AVAILABLE", avail_bad)):
        rf.reject(bad.to_numpy(), "non-numeric value", error=CellError(col, "a number of zero or more", df[col]))
    rf.reject((lost_empty ^ avail_empty).to_numpy(), "only one of FTE days lost / available given")
    for col, values in (("FTE_DAYS_LOST", lost), ("FTE_DAYS_AVAILABLE", avail)):
        rf.reject((values < 0).to_numpy(), "negative value", error=CellError(col, "zero or more", df[col]))
    rf.reject((avail.eq(0) & lost.notna()).to_numpy(), "zero denominator")
    rf.reject(
        (lost > avail).to_numpy(),
        "numerator larger than denominator",
        error=CellError(
            "FTE_DAYS_LOST",
            "at most FTE_DAYS_AVAILABLE",
            df["FTE_DAYS_LOST"].str.strip() + " > " + df["FTE_DAYS_AVAILABLE"].str.strip(),
        ),
    )
    if "SICKNESS_ABSENCE_RATE_PERCENT" in df.columns:
        published, _, _ = parse_numbers(df["SICKNESS_ABSENCE_RATE_PERCENT"])
    else:
        published = pd.Series(np.nan, index=df.index)

    parts = pd.DataFrame(
        {
            "org_code": org,
            "period": date,
            "lost": lost,
            "avail": avail,
            "published": published,
            "no_figures": lost_empty & avail_empty,
        }
    )
    (parts,) = rf.compact(parts)
    parts["period"] = month_start(parts["period"])
    parts["value"] = 100.0 * parts["lost"] / parts["avail"]

    key = ["org_code", "period"]
    rf.reject(parts.duplicated([*key, "lost", "avail"]).to_numpy(), "duplicate row")
    live = parts[rf.alive]
    conflict = live.duplicated(key)
    if conflict.any():
        mask = parts.index.isin(live.index[conflict.to_numpy()])
        report.findings.append(
            f"{int(conflict.sum())} row(s) repeat an organisation and month with different FTE days; the "
            f"first in the file was kept (e.g. {live[conflict].iloc[0]['org_code']} "
            f"{live[conflict].iloc[0]['period']:%Y-%m})."
        )
        first = live.groupby(key, sort=False)[["lost", "avail"]].transform("first").reindex(parts.index)
        quoted = (
            parts["lost"].map("{:g}".format) + " of " + parts["avail"].map("{:g}".format)
            + " FTE days, where an earlier line has " + first["lost"].map("{:g}".format) + " of "
            + first["avail"].map("{:g}".format)
        )
        rf.reject(
            mask,
            "conflicting duplicate",
            error=CellError("FTE_DAYS_LOST", "one row per organisation and month", quoted),
        )
    (parts,) = rf.compact(parts)

    flags = pd.Series("", index=parts.index, dtype=object)
    flags = add_flag(flags, parts["no_figures"], "no figures")
    differs = (parts["value"] - parts["published"]).abs() > RATE_TOLERANCE
    flags = add_flag(flags, differs, "published rate differs")
    if differs.any():
        r = parts[differs].iloc[0]
        report.findings.append(
            f"{int(differs.sum())} recomputed rate(s) differ from the published "
            f"SICKNESS_ABSENCE_RATE_PERCENT by more than {RATE_TOLERANCE} (e.g. {r['org_code']} "
            f"{r['period']:%Y-%m}: {r['value']:.3f} vs {r['published']:.2f}); the recomputed rate is used."
        )
    panel = pd.DataFrame(
        {
            "org_code": parts["org_code"],
            "period": parts["period"],
            "measure_id": measure_id,
            "period_type": "month",
            "numerator": parts["lost"],
            "denominator": parts["avail"],
            "value": parts["value"],
            "status": "final",
            "suppressed": False,
            "quality_flags": flags,
            "source_file": loaded.source.name,
        }
    )
    rf.finish(len(panel))
    return ReadResult(sort_panel(coerce_panel(panel)), report)


# --------------------------------------------------------------------------------------------------
# Excel tables: "Table 4", monthly rate by organisation

_HEADER_SEARCH_ROWS = 30
_MONTH_HEADER = re.compile(r"^([a-z]+) (\d{4})$")
_MONTH_NAMES = "january february march april may june july august september october november december"
_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES.split(), start=1)}


def _month_of(cell: object) -> pd.Timestamp | None:
    """A month header cell ('April\\n2013', 'Apr 2013', or a date) as the first day of that month."""
    if isinstance(cell, dt.datetime | dt.date):
        return pd.Timestamp(cell.year, cell.month, 1)
    m = _MONTH_HEADER.match(norm_name(cell)) if cell is not None else None
    if not m:
        return None
    name, year = m.groups()
    month = _MONTHS.get(name) or next(
        (v for k, v in _MONTHS.items() if len(name) >= 3 and k.startswith(name)), None
    )
    return pd.Timestamp(int(year), month, 1) if month else None


def is_sickness_table(path: Path | str, sheet: str = "Table 4") -> bool:
    """Whether an ``.xlsx`` file has the organisation-by-month sickness table this module reads."""
    try:
        _open_table(Path(path), sheet)
    except SourceError:
        return False
    return True


def _open_table(path: Path, sheet: str):
    import openpyxl  # imported here so that importing the package stays cheap

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for files it cannot open
        raise SourceError(
            path, f"cannot be opened as an Excel workbook ({type(exc).__name__}: {exc})"
        ) from None
    if sheet not in wb.sheetnames:
        wb.close()
        raise SourceError(path, f"no sheet named {sheet!r}", expected=sheet, found=", ".join(wb.sheetnames))
    ws = wb[sheet]
    head = list(ws.iter_rows(max_row=_HEADER_SEARCH_ROWS, values_only=True))
    for i, row in enumerate(head):
        names = [norm_name(c) if c is not None else "" for c in row]
        if "org code" in names:
            months = {j: _month_of(c) for j, c in enumerate(row)}
            months = {j: m for j, m in months.items() if m is not None}
            if not months:
                break
            return wb, ws, i, names, months
    wb.close()
    raise SourceError(
        path,
        f"sheet {sheet!r} has no header row with an 'Org code' column and month columns in its first "
        f"{_HEADER_SEARCH_ROWS} rows",
        column="Org code",
        expected="'Org code' and month columns such as 'April 2013'",
    )


def read_sickness_table(
    path: Path | str, sheet: str = "Table 4", registry: Registry | None = None
) -> ReadResult:
    """Read the Excel tables' organisation-by-month sickness absence rates into ``SICKNESS_RATE`` rows.

    The sheet has a title row, a blank row, then a header row (cells with line breaks) with the org code
    column and one column per month. Counts in the report are organisation x month cells (the unit of the
    panel), so rows read = cells under the month headers in rows with an organisation code. Value is the
    published rate (flag "rate only"); ``.`` is suppressed (value NaN: rates are hidden where fewer than
    330 FTE days were available); an empty cell has no figures. Regional and ICS "All organisations"
    aggregate rows are counted and rejected, because their codes would otherwise collide with ICB codes.
    """
    registry = registry or default_registry()
    measure_id = _measure_id(registry)
    path = Path(path)
    if not path.is_file():
        raise SourceError(path, "file not found")
    wb, ws, header_row, names, months = _open_table(path, sheet)
    try:
        org_col = names.index("org code")
        name_col = names.index("organisation name") if "organisation name" in names else None
        rows = list(ws.iter_rows(min_row=header_row + 2, values_only=True))
    finally:
        wb.close()

    report = ReadReport(path=str(path), layout=TABLE_LAYOUT, sha256=sha256_file(path))
    month_cols = sorted(months)
    _refuse_bad_month_headers(path, sheet, header_row, months, rows)
    records: list[tuple] = []
    note_lines = 0
    for offset, row in enumerate(rows):
        line = header_row + 2 + offset  # 1-based sheet row
        code = "" if org_col >= len(row) or row[org_col] is None else str(row[org_col]).strip().upper()
        cells = [row[j] if j < len(row) else None for j in month_cols]
        if not code:
            if any(isinstance(c, int | float) for c in cells):
                for j, c in zip(month_cols, cells, strict=True):
                    records.append(("", months[j], c, line, "", "missing organisation code", j))
            elif any(c is not None for c in row):
                note_lines += 1
            continue
        org_name = "" if name_col is None or row[name_col] is None else str(row[name_col]).strip()
        aggregate = org_name.casefold().startswith("all organisations")
        for j, c in zip(month_cols, cells, strict=True):
            records.append(
                (code, months[j], c, line, org_name, "aggregate row (all organisations)" if aggregate else "", j)
            )

    frame = pd.DataFrame(records, columns=["org_code", "period", "cell", "line", "org_name", "pre", "col"])
    report.rows_read = len(frame)
    places = [f"sheet {sheet!r} cell {_cell_ref(j, line)}" for j, line in zip(frame["col"], frame["line"], strict=True)]
    rf = RowFilter(report, frame["line"].to_numpy(), places)
    for reason in ("aggregate row (all organisations)", "missing organisation code"):
        rf.reject(frame["pre"].eq(reason).to_numpy(), reason, scope=reason.startswith("aggregate"))
    (frame,) = rf.compact(frame)

    cell = frame["cell"]
    text = cell.map(lambda c: c.strip() if isinstance(c, str) else None)
    suppressed = text.eq(".")
    no_figures = cell.isna() | text.eq("")
    value = pd.to_numeric(
        cell.where(~(suppressed | no_figures), None).map(
            lambda c: c if not isinstance(c, str) else c.strip()
        ),
        errors="coerce",
    ).astype("float64")
    # As strict as the CSV readers: a cell that cannot be a rate is an error naming the cell, never dropped.
    shown = cell.map(lambda c: "" if c is None else f"{c:g}" if isinstance(c, float) else str(c))
    # Org codes are not checked against the ODS pattern here: the published table itself carries codes such
    # as 'RYK-X' (an organisation that has since closed), which the CSV layouts never do.
    rf.reject(
        (value.isna() & ~suppressed & ~no_figures).to_numpy(),
        "non-numeric value",
        error=CellError("rate", "a rate in % from 0 to 100, or '.' where the rate is hidden", shown),
    )
    rf.reject((value < 0).to_numpy(), "negative value", error=CellError("rate", "zero or more", shown))
    rf.reject((value > 100).to_numpy(), "rate above 100%", error=CellError("rate", "at most 100 (a percentage)", shown))
    parts = frame.assign(value=value, suppressed=suppressed, no_figures=no_figures)
    (parts,) = rf.compact(parts)
    _reject_table_duplicates(parts, rf, report)
    (parts,) = rf.compact(parts)

    flags = add_flag(
        pd.Series("rate only", index=parts.index, dtype=object), parts["no_figures"], "no figures"
    )
    panel = pd.DataFrame(
        {
            "org_code": parts["org_code"],
            "period": parts["period"],
            "measure_id": measure_id,
            "period_type": "month",
            "numerator": np.nan,
            "denominator": np.nan,
            "value": parts["value"],
            "status": "final",
            "suppressed": parts["suppressed"],
            "quality_flags": flags,
            "source_file": path.name,
        }
    )
    rf.finish(len(panel))
    first, last = min(months.values()), max(months.values())
    report.findings.append(
        f"Sheet {sheet!r}: {len(month_cols)} month columns, {first:%B %Y} to {last:%B %Y}; counts are "
        "organisation x month cells."
    )
    if note_lines:
        report.findings.append(f"{note_lines} note line(s) below or between the table rows were ignored.")
    return ReadResult(sort_panel(coerce_panel(panel)), report)


def _cell_ref(col: int, row: int) -> str:
    """A spreadsheet cell reference such as ``D12`` from a 0-based column and a 1-based row."""
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(int(col) + 1)}{int(row)}"


def _refuse_bad_month_headers(
    path: Path, sheet: str, header_row: int, months: dict[int, pd.Timestamp], rows: list[tuple]
) -> None:
    """Refuse a month header in the future (a typed year) and a column of figures with no month header (a
    merged or empty header cell), whose figures would otherwise be dropped without a word."""
    line = header_row + 1  # 1-based sheet row of the header
    now = pd.Timestamp.today().to_period("M").to_timestamp()
    for j, month in sorted(months.items()):
        if month > now:
            raise SourceError(
                path,
                "month header in the future",
                place=f"sheet {sheet!r} cell {_cell_ref(j, line)}",
                expected="a month that has already started",
                found=f"{month:%B %Y}",
            )
    first = min(months)
    unlabelled = sorted(
        {
            j
            for row in rows
            for j, c in enumerate(row)
            if j > first and j not in months and isinstance(c, int | float) and not isinstance(c, bool)
        }
    )
    if unlabelled:
        cells = ", ".join(_cell_ref(j, line) for j in unlabelled[:5]) + (" ..." if len(unlabelled) > 5 else "")
        raise SourceError(
            path,
            f"{len(unlabelled)} column(s) of figures have no month header (a merged or empty header cell?), so "
            "their figures cannot be placed in a month",
            place=f"sheet {sheet!r} cell {_cell_ref(unlabelled[0], line)}",
            expected="a month header such as 'April 2013' above every column of figures",
            found=f"header cell(s) {cells}",
        )


def _reject_table_duplicates(parts: pd.DataFrame, rf: RowFilter, report: ReadReport) -> None:
    """An organisation listed twice (e.g. moved between ICS areas, with '.' in the months it was not there):
    per month keep a published rate over '.', '.' over an empty cell, otherwise the first row."""
    key = ["org_code", "period"]
    rank = np.where(parts["value"].notna(), 0, np.where(parts["suppressed"], 1, 2))
    ordered = parts.assign(_rank=rank).sort_values([*key, "_rank"], kind="mergesort")
    dup = ordered.duplicated(key)
    if not dup.any():
        return
    first = ordered.groupby(key, sort=False)
    win_rank = first["_rank"].transform("first")
    win_value = first["value"].transform("first")
    same = (ordered["_rank"] == win_rank) & (
        (ordered["value"] == win_value) | (ordered["value"].isna() & win_value.isna())
    )
    exact = (dup & same).reindex(parts.index).to_numpy()
    weaker = (dup & ~same & (ordered["_rank"] > win_rank)).reindex(parts.index).to_numpy()
    conflict = (dup & ~same & (ordered["_rank"] == win_rank)).reindex(parts.index).to_numpy()
    rf.reject(exact, "duplicate row", scope=True)
    rf.reject(weaker, "duplicate row without a rate (another row for the organisation has one)", scope=True)
    if conflict.any():
        eg = parts[conflict].iloc[0]
        report.findings.append(
            f"{int(conflict.sum())} cell(s) repeat an organisation and month with a different rate; the "
            f"first row was kept (e.g. {eg['org_code']} {eg['period']:%Y-%m}, sheet row {eg['line']})."
        )
        # As in the CSV readers (A15): two different rates for one organisation and month is an error.
        first = parts.assign(_rank=rank).groupby(key)["value"].transform("first")
        quoted = parts["value"].map(lambda v: f"{v:g}") + ", where an earlier row has " + first.map(
            lambda v: f"{v:g}"
        )
        rf.reject(
            conflict,
            "conflicting duplicate",
            error=CellError("rate", "one rate per organisation and month", quoted),
        )
    listed = sorted(parts.loc[exact | weaker | conflict, "org_code"].unique())
    report.findings.append(
        f"Organisation(s) listed in more than one row: {', '.join(listed)}; one value per month was kept "
        "(a published rate before '.', before an empty cell)."
    )
