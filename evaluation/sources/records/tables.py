"""Finding a folder's MHSDS tables and checking their columns against the layout ``mhsds_records``.

A table is one file named after it (``MHS101Referral.csv``, ``.csv.gz`` or ``.parquet``, any case) or a
folder ``MHS101Referral.parquet/`` of Parquet parts (as Spark writes them). The columns each table needs
come from ``data_dictionary/layouts.yaml`` (columns named ``Table.Column``).
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.sources.common import SourceError

#: The layout id of a folder of record-level tables.
RECORDS_LAYOUT = "mhsds_records"
#: The table whose presence makes a folder a record-level extract.
ANCHOR_TABLE = "MHS101Referral"
#: Tables that may be absent: the person table is needed only for ages (see :func:`table_specs`).
OPTIONAL_TABLES = frozenset({"MHS001MPI"})
_SUFFIXES = (".csv", ".csv.gz", ".parquet")


@dataclass(frozen=True)
class TableSpec:
    """One table of the layout: its required and optional columns (names as in the specification)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


@dataclass(frozen=True)
class TableFile:
    """A table found in the folder: its spec, the path, its format and how each column is spelt there."""

    spec: TableSpec
    path: Path
    fmt: str  # "csv" or "parquet"
    columns: dict[str, str]  # canonical name -> name in the file (absent optional columns are left out)

    @property
    def label(self) -> str:
        return f"{self.path} (table {self.spec.name})"


def table_specs(registry: Registry | None = None) -> dict[str, TableSpec]:
    """The tables of the ``mhsds_records`` layout, in the order the layout lists them."""
    layout = (registry or default_registry()).layout(RECORDS_LAYOUT)
    req: dict[str, list[str]] = {}
    opt: dict[str, list[str]] = {}
    for col in layout.columns:
        table, _, name = col.name.partition(".")
        req.setdefault(table, [])
        opt.setdefault(table, [])
        (req if col.required else opt)[table].append(name)
    return {t: TableSpec(t, tuple(req[t]), tuple(opt[t])) for t in req}


def _table_name(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def table_paths(folder: Path, registry: Registry | None = None) -> dict[str, Path]:
    """The files (or Parquet folders) of the layout's tables directly inside ``folder``, by table name.

    Raises :class:`SourceError` when one table is given twice (say as CSV and as Parquet): which one is
    meant cannot be told.
    """
    specs = {name.lower(): name for name in table_specs(registry)}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        stem = _table_name(path)
        if stem not in specs or path.name.startswith("."):
            continue
        table = specs[stem]
        if table in found:
            raise SourceError(folder, f"table {table} is given twice ({found[table].name} and {path.name})",
                              expected="one file per table")
        found[table] = path
    return found


def is_records_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an ``MHS101Referral`` table (the mark of a record-level extract)."""
    return folder.is_dir() and any(_table_name(p) == ANCHOR_TABLE.lower() for p in folder.iterdir())


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            first = fh.readline()
    except (OSError, EOFError) as exc:
        raise SourceError(path, f"cannot be read: {exc}") from None
    if not first.strip():
        raise SourceError(path, "empty file", expected="a header row naming the table's columns")
    text = first.decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(text)))


def _parquet_header(path: Path) -> list[str]:
    import duckdb  # the parquet schema only; no rows are read

    pattern = str(path / "*.parquet") if path.is_dir() else str(path)
    try:
        with duckdb.connect() as con:
            rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [pattern]).fetchall()
    except duckdb.Error as exc:
        raise SourceError(path, f"not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    return [r[0] for r in rows]


def open_tables(folder: Path | str, registry: Registry | None = None) -> list[TableFile]:
    """The folder's tables with their columns matched to the layout, in layout order.

    Raises :class:`SourceError` -- one line naming the file, the table and the column -- for a missing
    table or a missing required column.
    """
    folder = Path(folder)
    specs = table_specs(registry)
    paths = table_paths(folder, registry)
    out: list[TableFile] = []
    for name, spec in specs.items():
        path = paths.get(name)
        if path is None:
            if name in OPTIONAL_TABLES:
                continue
            raise SourceError(folder, f"table {name} is missing from the record-level extract",
                              expected=f"a file {name}.csv, {name}.csv.gz or {name}.parquet beside {ANCHOR_TABLE}")
        fmt = "parquet" if path.name.lower().endswith(".parquet") else "csv"
        header = _parquet_header(path) if fmt == "parquet" else _csv_header(path)
        have = {h.strip().lower(): h for h in header}
        missing = [c for c in spec.required if c.lower() not in have]
        if missing:
            raise SourceError(
                path,
                f"table {name}: missing required column(s) {', '.join(missing)}",
                column=missing[0],
                expected=", ".join(spec.required),
                found=", ".join(h.strip() for h in header) or "(no columns)",
            )
        columns = {c: have[c.lower()] for c in spec.columns if c.lower() in have}
        out.append(TableFile(spec, path, fmt, columns))
    return out
