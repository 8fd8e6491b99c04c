"""Input readers: published NHS files and local extracts in, the measure panel out.

One module per layout (see ``data_dictionary/layouts.yaml``):

* :mod:`~evaluation.sources.mhsds` -- ``mhsds_long``, the MHSDS Monthly Statistics long CSV;
* :mod:`~evaluation.sources.sickness` -- ``sickness_benchmarking``, the NHS Sickness Absence Rates monthly
  CSVs, and ``sickness_absence_table``, the organisation-by-month sheet of the Excel tables;
* :mod:`~evaluation.sources.local` -- ``local_referrals`` and ``local_workforce``, the local templates;
* :mod:`~evaluation.sources.records` -- ``mhsds_records``, a folder of record-level MHSDS tables;
* :mod:`~evaluation.sources.common` -- opening files, header matching, dates and numbers, row accounting;
* :mod:`~evaluation.sources.organisations` -- the organisation succession table.

Entry points: :func:`detect_layout` (which layout a file is, from its header), :func:`read_file` (one file
to a list of :class:`~evaluation.panel.frame.ReadResult`, one per CSV: a zip may hold several) and
:func:`load_panel` (a whole folder to one validated panel and a report per input).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Layout, Registry, default_registry
from evaluation.panel.frame import PANEL_COLUMNS, PANEL_KEY, ReadReport, ReadResult, combine_panels, sha256_file
from evaluation.panel.quality import flag_outliers
from evaluation.sources.common import (
    CsvSource,
    SourceError,
    csv_sources,
    match_columns,
    norm_name,
    read_header,
)
from evaluation.sources.local import read_local_referrals, read_local_workforce
from evaluation.sources.mhsds import read_mhsds
from evaluation.sources.organisations import Organisations, apply_successions, load_organisations
from evaluation.sources.records import is_records_folder, read_records, table_paths
from evaluation.sources.sickness import TABLE_LAYOUT, is_sickness_table, read_sickness, read_sickness_table

__all__ = [
    "SourceError",
    "TABLE_LAYOUT",
    "csv_layouts",
    "detect_layout",
    "usable_rows",
    "load_panel",
    "read_file",
    "read_local_referrals",
    "read_local_workforce",
    "read_mhsds",
    "read_sickness",
    "read_sickness_table",
]

READERS: dict[str, Callable[..., ReadResult]] = {
    "mhsds_long": read_mhsds,
    "sickness_benchmarking": read_sickness,
    "local_referrals": read_local_referrals,
    "local_workforce": read_local_workforce,
}
#: File name endings :func:`load_panel` reads; everything else in the folder (README, JSON, Markdown, ...)
#: is left alone.
INPUT_SUFFIXES = (".csv", ".csv.gz", ".zip", ".xlsx")


def _is_excel(path: Path) -> bool:
    return path.name.lower().endswith(".xlsx")


def csv_layouts(registry: Registry | None = None) -> list[Layout]:
    """The layouts recognised from a CSV header (those whose ``file_types`` include ``csv``); the Excel
    table layout is recognised from its sheet instead."""
    registry = registry or default_registry()
    return [lay for lay in registry.layouts if "csv" in lay.file_types]


def _closest_layout(header: list[str], layouts: list[Layout]) -> Layout | None:
    """The layout a header nearly matches: more than half of its required columns present, and more of
    them than of any other layout's. A file missing a column or two is then reported as exactly that,
    rather than as an unknown layout."""
    have = {norm_name(h) for h in header}
    shares = sorted(
        (
            (sum(norm_name(c) in have for c in lay.required_columns) / len(lay.required_columns), lay.id, lay)
            for lay in layouts
            if lay.required_columns
        ),
        key=lambda t: (-t[0], t[1]),
    )
    if not shares or shares[0][0] <= 0.5 or (len(shares) > 1 and shares[1][0] == shares[0][0]):
        return None
    return shares[0][2]


#: Separators spreadsheets write instead of commas (a European "CSV", a tab-delimited text export).
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _refuse_other_delimiter(label: str, header: list[str], layouts: list[Layout]) -> None:
    """Say so when a header is one layout's columns joined by another separator, rather than "unknown layout"."""
    joined = ",".join(header)
    for sep, name in _OTHER_DELIMITERS.items():
        cells = [c.strip() for c in joined.split(sep)]
        if len(cells) > 1 and _closest_layout(cells, layouts) is not None:
            raise SourceError(
                label,
                f"the fields are separated by {name}, not commas",
                row=1,
                expected="comma-separated values (save or export the file as CSV with commas)",
            )


def layout_from_header(label: str, header: list[str], registry: Registry | None = None) -> str:
    """The layout whose required columns are all in ``header`` (the most specific one if several are).

    Raises :class:`SourceError`: "missing required column(s) ..." (with the expected and found columns)
    when the header nearly matches one layout, otherwise "unknown layout" listing every CSV layout and
    the columns it needs.
    """
    layouts = csv_layouts(registry)
    have = {norm_name(h) for h in header}
    matches = [lay for lay in layouts if {norm_name(c) for c in lay.required_columns} <= have]
    if not matches:
        _refuse_other_delimiter(label, header, layouts)
        near = _closest_layout(header, layouts)
        if near is not None:
            try:
                match_columns(label, header, near.required_columns)
            except SourceError as exc:
                raise SourceError(
                    label,
                    f"{exc.problem} (the header is closest to layout {near.id})",
                    column=exc.column,
                    expected=exc.expected,
                    found=exc.found,
                ) from None
        needs = "; ".join(f"{lay.id} (needs {', '.join(lay.required_columns)})" for lay in layouts)
        raise SourceError(
            label,
            f"unknown layout; header {', '.join(h for h in header if h) or '(empty)'} "
            f"does not match any of: {needs}",
        )
    matches.sort(key=lambda lay: -len(lay.required_columns))
    if len(matches) > 1 and len(matches[0].required_columns) == len(matches[1].required_columns):
        raise SourceError(label, "ambiguous layout; header matches " + ", ".join(m.id for m in matches))
    # Re-check through the same matcher the readers use, so detection and reading cannot disagree.
    match_columns(label, header, matches[0].required_columns)
    return matches[0].id


def detect_layout(path: Path | str | CsvSource, registry: Registry | None = None) -> str:
    """The layout id of an input, from its header (for a zip, from its first CSV).

    ``.xlsx`` files are recognised as :data:`TABLE_LAYOUT` when they have the sickness absence "Table 4".
    Raises :class:`SourceError` ("<file>: unknown layout; header ... does not match any of: ...") otherwise.
    """
    if isinstance(path, CsvSource):
        return layout_from_header(path.label, read_header(path), registry)
    path = Path(path)
    if _is_excel(path):
        if not path.is_file():
            raise SourceError(path, "file not found")
        if is_sickness_table(path):
            return TABLE_LAYOUT
        raise SourceError(
            path,
            "unknown layout; the workbook has no sheet 'Table 4' with an 'Org code' column "
            "and month columns (the only Excel layout read)",
        )
    first = csv_sources(path)[0]
    return layout_from_header(first.label, read_header(first), registry)


def read_file(path: Path | str, registry: Registry | None = None) -> list[ReadResult]:
    """Read one input into a list of :class:`ReadResult`, one per CSV it holds (a zip may hold several;
    every other input gives a list of one). The layout of each CSV is detected from its own header."""
    registry = registry or default_registry()
    path = Path(path)
    if _is_excel(path):
        # The table reader's own errors say what is missing (sheet, header row), so no separate detection.
        return [read_sickness_table(path, registry=registry)]
    results = []
    for src in csv_sources(path):
        layout = layout_from_header(src.label, read_header(src), registry)
        if layout not in READERS:
            raise SourceError(src.label, f"layout {layout} is in the data dictionary but has no reader")
        results.append(READERS[layout](src, registry))
    return results


def _record_folders(data_dir: Path) -> list[Path]:
    """Folders (``data_dir`` included) holding record-level MHSDS tables, in sorted path order."""
    dirs = [data_dir, *(p for p in data_dir.rglob("*") if p.is_dir())]
    return sorted((d for d in dirs if is_records_folder(d)), key=lambda p: p.relative_to(data_dir).as_posix())


def _inputs(data_dir: Path, record_folders: list[Path] | None = None) -> list[Path]:
    # The tables of a record-level extract are read together by the records reader, not one by one.
    tables = {t.resolve() for d in record_folders or [] for t in table_paths(d).values()}
    files = []
    for p in data_dir.rglob("*"):
        name = p.name.lower()
        if not p.is_file() or name.startswith((".", "~$", "readme")):
            continue  # hidden files, Excel lock files and read-me files are not data
        if p.resolve() in tables or any(parent.resolve() in tables for parent in p.parents):
            continue
        if name.endswith(INPUT_SUFFIXES):
            files.append(p)
    return sorted(files, key=lambda p: p.relative_to(data_dir).as_posix())


def load_panel(
    data_dir: Path | str,
    *,
    registry: Registry | None = None,
    organisations: Organisations | Path | str | None = None,
    strict: bool = True,
) -> tuple[pd.DataFrame, list[ReadReport]]:
    """Read every input under ``data_dir`` (recursively, in sorted path order) into one panel.

    Files ending ``.csv``, ``.csv.gz``, ``.zip`` and ``.xlsx`` are read; README, JSON, Markdown and other
    files are skipped. A folder holding an ``MHS101Referral`` table is a record-level MHSDS extract: its
    tables are read together by :func:`evaluation.sources.records.read_records` (one report per table).
    Where several inputs give the same organisation x period x measure x period type, one
    row is kept: a final row before a provisional one, then a row from a CSV before a rate-only row from the
    Excel table ("superseded by monthly CSV"), then the first file in path order. Each dropped row is
    counted against its own file's report, so every report stays balanced. Old organisation codes are then
    mapped to their successors from the succession table (``data_dictionary/organisations.yaml`` unless
    ``organisations`` is given).

    With ``strict`` (the default) an input that cannot be read, or that its reader marks as not usable (a
    compressed file cut short), raises its :class:`SourceError`; otherwise the problem is recorded in a
    report's ``blocking`` list and the other inputs are still read (a cut-short file's complete rows are
    then kept, so the report can say what it held).

    Finally months far out of line with their neighbours get the quality flag "outlier"
    (:func:`evaluation.panel.quality.flag_outliers`); they stay in the panel.

    Returns the validated, sorted panel and one report per CSV or workbook read.
    """
    registry = registry or default_registry()
    if not isinstance(organisations, Organisations):
        organisations = load_organisations(organisations)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise SourceError(data_dir, "data folder not found")
    results: list[ReadResult] = []
    failed: list[ReadReport] = []
    record_folders = _record_folders(data_dir)
    for path in [*record_folders, *_inputs(data_dir, record_folders)]:
        try:
            read = read_records(path, registry) if path.is_dir() else read_file(path, registry)
            if strict:
                # A reader can keep what it could read of a damaged file (a cut-short download) and
                # still mark the file as not usable; strict loading refuses it like an unreadable one.
                for r in read:
                    if r.report.blocking:
                        raise SourceError(r.report.path, r.report.blocking[0].removeprefix(f"{r.report.path}: "))
            results.extend(read)
        except SourceError as exc:
            if strict:
                raise
            try:
                digest = sha256_file(path)
            except OSError:  # the file that could not be read cannot be hashed either
                digest = ""
            failed.append(ReadReport(path=str(path), layout="unknown", sha256=digest, blocking=[str(exc)]))

    frames = [r.panel.assign(_src=i) for i, r in enumerate(results) if len(r.panel)]
    if frames:
        combined = pd.concat(frames, ignore_index=True)
        mapped, dropped = apply_successions(combined, organisations)
        _count_dropped(results, combined.loc[dropped, "_src"], "duplicate after organisation code mapping")
        combined = mapped
        combined = _resolve_across_files(combined, results)
        panel = flag_outliers(combine_panels([combined[PANEL_COLUMNS]]), registry=registry)
    else:
        panel = combine_panels([])
    _note_documented_name_changes(results, organisations)
    return panel, [r.report for r in results] + failed


def _count_dropped(results: list[ReadResult], sources: pd.Series, reason: str) -> None:
    """Count dropped rows (given by the index of the result each came from) against their own reports."""
    for src, n in sources.value_counts().items():
        rep = results[int(src)].report
        rep.reject(reason, int(n))
        rep.rows_kept -= int(n)
        rep.findings.append(f"{int(n)} row(s) not used: {reason} (the successor's own rows were kept).")


def _resolve_across_files(combined: pd.DataFrame, results: list[ReadResult]) -> pd.DataFrame:
    """Keep one row per panel key across files; count the others against their own files."""
    rank = combined["status"].map({"final": 0, "provisional": 1}).fillna(2)
    table = pd.Series(
        [results[int(s)].report.layout == TABLE_LAYOUT for s in combined["_src"]], index=combined.index
    )
    ordered = combined.assign(_rank=rank, _table=table.astype(int)).sort_values(
        [*PANEL_KEY, "_rank", "_table", "_src"], kind="mergesort"
    )
    lose = ordered.duplicated(PANEL_KEY, keep="first")
    if not lose.any():
        return combined
    grouped = ordered.groupby(PANEL_KEY, sort=False)
    win_rank = grouped["_rank"].transform("first")
    win_table = grouped["_table"].transform("first")
    win_src = grouped["_src"].transform("first")
    losers = ordered[lose]
    reason = pd.Series("duplicate of a row in another file", index=losers.index)
    reason[losers["_rank"] > win_rank[lose]] = "superseded by a final row in another file"
    reason[(losers["_table"] > win_table[lose]) & (losers["_rank"] == win_rank[lose])] = (
        "superseded by monthly CSV"
    )
    for (src, why), n in reason.groupby([losers["_src"], reason]).size().items():
        rep = results[int(src)].report
        rep.reject(why, int(n))
        rep.rows_kept -= int(n)
        winners = sorted(
            {Path(results[int(w)].report.path).name for w in win_src[lose][losers["_src"] == src]}
        )
        shown = ", ".join(winners[:3]) + (f" and {len(winners) - 3} more" if len(winners) > 3 else "")
        rep.findings.append(f"{int(n)} row(s) {why} (kept from {shown}).")
    return ordered[~lose].drop(columns=["_rank", "_table"])


def _note_documented_name_changes(results: list[ReadResult], organisations: Organisations) -> None:
    for change in organisations.name_changes:
        for r in results:
            for i, text in enumerate(r.report.findings):
                if text.startswith(f"Organisation {change.code} was published under"):
                    r.report.findings[i] = (
                        f"{text} This is a documented name change ({change.old_name} -> {change.new_name}, "
                        f"from {change.from_date:%B %Y}; organisations.yaml), not a different organisation."
                    )


def usable_rows(panel: pd.DataFrame, reports: list[ReadReport], org_code: str | None = None,
                measure_ids: list[str] | None = None) -> pd.DataFrame:
    """The panel without the rows of any input marked not usable (a report with ``blocking`` problems).

    When ``org_code`` is given, an unusable input that holds rows of that organisation (for ``measure_ids``,
    when given), or whose organisations cannot be told because none of its rows could be kept, raises its
    :class:`SourceError`: that site's analysis must stop and say why. Any other site's analysis goes on
    without the unusable file, so one site's broken extract never stops the others.
    """
    blocked = [r for r in reports if r.blocking]
    if not blocked:
        return panel
    names = panel["source_file"].map(lambda p: Path(str(p)).name)
    drop = pd.Series(False, index=panel.index)
    for r in blocked:
        mine = names == Path(r.path).name
        drop |= mine
        if org_code is None:
            continue
        rows = panel[mine]
        if rows.empty:
            hits = True  # nothing kept, so nothing says whose data it was
        else:
            hits = rows["org_code"].eq(org_code)
            if measure_ids is not None:
                hits &= rows["measure_id"].isin(measure_ids)
            hits = bool(hits.any())
        if hits:
            raise SourceError(r.path, r.blocking[0].removeprefix(f"{r.path}: "))
    return panel[~drop]
