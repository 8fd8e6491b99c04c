"""Read a folder of record-level MHSDS tables into the measure panel.

Steps, all in the engine (the extract's rows never come into Python):

1. each table file becomes a relation ``<table>_src``; ``<table>_raw`` renames its columns to the
   specification's spelling (absent optional columns are NULL, every value text);
2. each checked table (``record_measures/measures.yaml`` ``tables``) types the columns, collapses identical
   rows and gives every row a reason when it is set aside; ``<name>`` is then the rows used;
3. shared views, then each measure's SQL, give ``org_code, period, measure_id, numerator, denominator``.

The report of each table says rows read = rows used + rows set aside (with a count per reason), and
lists rows used despite a problem (an unknown code) as findings.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.panel.frame import ReadReport, ReadResult, coerce_panel, empty_panel, sort_panel
from evaluation.provenance import sha256_file
from evaluation.sources.common import SourceError
from evaluation.sources.records.definitions import RecordDefinitions, default_definitions
from evaluation.sources.records.engine import Engine, make_engine
from evaluation.sources.records.tables import RECORDS_LAYOUT, TableFile, open_tables

_RESULT_COLUMNS = ["org_code", "period", "measure_id", "numerator", "denominator"]


def _raw_sql(table: TableFile, source: str) -> str:
    cols = []
    for canon in table.spec.columns:
        actual = table.columns.get(canon)
        if actual is None:
            cols.append(f"CAST(NULL AS VARCHAR) AS {canon}")
        else:
            quoted = actual.replace('"', '""')
            cols.append(f'CAST(src."{quoted}" AS VARCHAR) AS {canon}')
    # Column names from the file's header are quoted identifiers, never SQL text.
    return f"SELECT {', '.join(cols)} FROM {source} AS src"  # noqa: S608


def _code_frame(defs: RecordDefinitions) -> pd.DataFrame:
    return pd.DataFrame(
        [(c.field, c.list, c.value, c.first_month, c.last_month) for c in defs.codes],
        columns=["field", "list", "value", "first_month", "last_month"],
    ).astype({"first_month": np.int64, "last_month": np.int64})


def _facts_frame(defs: RecordDefinitions) -> pd.DataFrame:
    return pd.DataFrame([defs.facts.model_dump()]).astype(np.int64)


def _check_structure(tables: dict[str, TableFile]) -> None:
    contacts = tables["MHS201CareContact"]
    if not {"AttendOrDNACode", "AttendStatus"} & set(contacts.columns):
        raise SourceError(contacts.path, "table MHS201CareContact: missing required column AttendOrDNACode",
                          column="AttendOrDNACode", expected="AttendOrDNACode (or AttendStatus)",
                          found=", ".join(contacts.columns) or "(no columns)")
    referrals = tables["MHS101Referral"]
    persons = tables.get("MHS001MPI")
    if "AgeServReferRecDate" not in referrals.columns and persons is None:
        raise SourceError(referrals.path, "table MHS101Referral: no AgeServReferRecDate and no MHS001MPI table",
                          column="AgeServReferRecDate",
                          expected="AgeServReferRecDate, or an MHS001MPI table with PersonBirthDate or AgeRepPeriodEnd")


def _account(engine: Engine, table: TableFile, checked: str) -> ReadReport:
    """The report of one table from its checked relation (a few rows: one per reason and finding)."""
    select = "SELECT _reason AS reason, _finding AS finding, SUM(_copies) AS n_rows, COUNT(*) AS n_distinct, "
    sql = select + f"MIN(_example) AS example FROM {checked} GROUP BY _reason, _finding"  # noqa: S608
    rows = engine.fetch(sql)
    path = table.path
    digest = sha256_file(path) if path.is_file() else ""
    report = ReadReport(path=str(path), layout=RECORDS_LAYOUT, sha256=digest)
    key = table.spec.required[0]
    for r in rows.itertuples(index=False):
        n_rows, n_distinct = int(r.n_rows), int(r.n_distinct)
        report.rows_read += n_rows
        if pd.isna(r.reason):
            report.rows_kept += n_distinct
            report.reject("duplicate row", n_rows - n_distinct)
            if not pd.isna(r.finding):
                report.findings.append(f"{n_distinct} row(s) used with {r.finding} (first: {key} {r.example}).")
        else:
            report.reject(str(r.reason), n_rows)
    for reason, n in sorted(report.rejected.items()):
        if reason != "duplicate row":
            example = rows.loc[rows["reason"] == reason, "example"].min()
            report.findings.append(f"{n} row(s) set aside: {reason} (first: {key} {example}).")
    report.findings.sort()
    if report.rows_read == 0:
        report.findings.append(f"Table {table.spec.name} has no rows.")
    return report


def _panel(results: pd.DataFrame, registry: Registry, source_name: str) -> pd.DataFrame:
    if results.empty:
        return empty_panel()
    df = results[_RESULT_COLUMNS].copy()
    df["period"] = pd.to_datetime(df["period"])
    df["numerator"] = pd.to_numeric(df["numerator"]).astype("float64")
    df["denominator"] = pd.to_numeric(df["denominator"]).astype("float64")
    # A count is zero, not missing, in a month the provider submitted referrals but had none of the kind.
    grid = df.loc[df["measure_id"] == "MHS32", ["org_code", "period"]].drop_duplicates()
    if grid.empty:
        grid = df[["org_code", "period"]].drop_duplicates()
    counts = [m.id for m in registry.measures if m.value_type == "count" and m.id in set(df["measure_id"])]
    filled = [df]
    for mid in counts:
        have = df.loc[df["measure_id"] == mid, ["org_code", "period"]]
        gap = grid.merge(have, how="left", indicator=True)
        gap = gap[gap["_merge"] == "left_only"].drop(columns="_merge")
        if len(gap):
            filled.append(gap.assign(measure_id=mid, numerator=0.0, denominator=np.nan))
    df = pd.concat(filled, ignore_index=True)
    value = np.where(df["denominator"].notna(), df["numerator"] / df["denominator"], df["numerator"])
    panel = df.assign(
        period_type="month", value=value, status="final", suppressed=False, quality_flags="",
        source_file=source_name,
    )
    panel = panel[panel["denominator"].isna() | (panel["denominator"] > 0)]
    return sort_panel(coerce_panel(panel))


def read_records(
    folder: Path | str,
    registry: Registry | None = None,
    *,
    engine: Engine | str | None = None,
    definitions: RecordDefinitions | None = None,
) -> list[ReadResult]:
    """Read a folder of MHSDS tables into monthly measures, one :class:`ReadResult` per table.

    The panel rows (every measure of ``record_measures/measures.yaml``, period type month, status final)
    are on the ``MHS101Referral`` result, whose file name is their ``source_file``; the other results carry
    their table's report only. ``engine`` is ``"duckdb"`` (default), ``"spark"`` or an open
    :class:`Engine` (left open for the caller). Raises :class:`SourceError` -- one line naming the file,
    table and column -- when a table is missing or lacks a required column.
    """
    registry = registry or default_registry()
    defs = definitions or default_definitions()
    folder = Path(folder)
    tables = {t.spec.name: t for t in open_tables(folder, registry)}
    _check_structure(tables)
    own = not hasattr(engine, "fetch")
    size = sum(_bytes_on_disk(t.path) for t in tables.values())
    eng: Engine = make_engine(engine, extract_bytes=size) if own else engine  # type: ignore[arg-type]
    try:
        eng.register_frame("validcodes", _code_frame(defs))
        eng.register_frame("facts", _facts_frame(defs))
        for spec_name in ("MHS001MPI", *[n for n in tables if n != "MHS001MPI"]):
            table = tables.get(spec_name)
            raw = f"{spec_name.lower()}_raw"
            if table is None:  # no person table: an empty one, so the SQL is the same
                eng.view(raw, "SELECT " + ", ".join(
                    f"CAST(NULL AS VARCHAR) AS {c}" for c in _persons_columns(registry)) + " WHERE 1 = 0")
                continue
            eng.register_file(f"{spec_name.lower()}_src", table.path, table.fmt)
            eng.view(raw, _raw_sql(table, f"{spec_name.lower()}_src"))
        reports: dict[str, ReadReport] = {}
        for checked in defs.tables:
            for step in checked.steps:
                eng.materialize(step.name, defs.sql(step.sql))
            eng.materialize(f"{checked.name}_checked", defs.sql(checked.sql))
            eng.view(checked.name, f"SELECT * FROM {checked.name}_checked WHERE _reason IS NULL")  # noqa: S608
            if checked.table in tables:
                reports[checked.table] = _account(eng, tables[checked.table], f"{checked.name}_checked")
        for view in defs.views:
            eng.materialize(view.name, defs.sql(view.sql))
        frames = [eng.fetch(defs.sql(m.sql)) for m in defs.measures]
    finally:
        if own:
            eng.close()
    frames = [f for f in frames if len(f)]
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_RESULT_COLUMNS)
    anchor = tables["MHS101Referral"]
    panel = _panel(results, registry, anchor.path.name)
    out = []
    for name in tables:
        report = reports[name]
        if name == "MHS101Referral":
            report.findings.append(
                f"Measures computed from records: {', '.join(sorted(set(panel['measure_id'])) or ['none'])} "
                f"({len(panel)} organisation-months), by the SQL in data_dictionary/record_measures/."
            )
            out.append(ReadResult(panel, report))
        else:
            out.append(ReadResult(empty_panel(), report))
    return out


def _bytes_on_disk(path: Path) -> int:
    """A table's size: its file, or the files of its Parquet folder."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _persons_columns(registry: Registry) -> list[str]:
    from evaluation.sources.records.tables import table_specs

    return list(table_specs(registry)["MHS001MPI"].columns)


def month_id(day: dt.date) -> int:
    """NHS England's UniqMonthID of the month of ``day`` (April 2019 = 1429)."""
    return (day.year - 1900) * 12 + day.month - 3
