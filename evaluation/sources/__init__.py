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

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Layout, Registry, default_registry
from evaluation.panel.frame import PANEL_COLUMNS, PANEL_KEY, ReadReport, ReadResult, combine_panels
from evaluation.panel.quality import flag_outliers
from evaluation.provenance import sha256_file
from evaluation.sources.common import (
    CsvSource,
    SourceError,
    csv_sources,
    match_columns,
    norm_name,
    read_header,
    zip_skipped_members,
)
from evaluation.sources.local import read_local_referrals, read_local_workforce
from evaluation.sources.mhsds import read_mhsds
from evaluation.sources.organisations import Organisations, apply_successions, load_organisations
from evaluation.sources.population import LAYOUT as POPULATION_LAYOUT
from evaluation.sources.population import is_population_workbook
from evaluation.sources.records import is_records_folder, read_records, table_paths
from evaluation.sources.sickness import TABLE_LAYOUT, is_sickness_table, read_sickness, read_sickness_table
from evaluation.sources.workforce import LAYOUT as WORKFORCE_LAYOUT
from evaluation.sources.workforce import is_workforce_workbook, read_workforce

__all__ = [
    "SKIPPED",
    "SourceError",
    "TABLE_LAYOUT",
    "csv_layouts",
    "detect_layout",
    "is_skipped",
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
#: File name endings :func:`load_panel` reads; every other file in the folder (README, JSON, Markdown, ...)
#: is listed as skipped with the reason, never read.
INPUT_SUFFIXES = (".csv", ".csv.gz", ".zip", ".xlsx")
#: The layout of a report that stands for a file (or zip member) that was not read: ``"skipped (<reason>)"``.
SKIPPED = "skipped"


def is_skipped(report: ReadReport) -> bool:
    """Whether ``report`` stands for a file that was listed but not read (see :func:`load_panel`)."""
    return report.layout.startswith(SKIPPED)


def _skipped_report(label: str, reason: str, blocking: str | None = None) -> ReadReport:
    report = ReadReport(path=label, layout=f"{SKIPPED} ({reason})")
    report.findings.append(f"Not read: {reason}.")
    if blocking:
        report.blocking.append(str(SourceError(label, blocking)))
    return report


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
        if is_workforce_workbook(path):
            return WORKFORCE_LAYOUT
        if is_population_workbook(path):
            return POPULATION_LAYOUT
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
        if is_workforce_workbook(path):
            return [read_workforce(path, registry)]
        if is_population_workbook(path):
            # Population is a denominator, read by evaluation.sources.population, never panel rows.
            report = ReadReport(path=str(path), layout=POPULATION_LAYOUT, sha256=sha256_file(path),
                                findings=["ONS population workbook: read for denominators, not measure rows."])
            return [ReadResult(combine_panels([]), report)]
        # The table reader's own errors say what is missing (sheet, header row), so no separate detection.
        return [read_sickness_table(path, registry=registry)]
    results = []
    for src in csv_sources(path):
        layout = layout_from_header(src.label, read_header(src), registry)
        if layout not in READERS:
            raise SourceError(src.label, f"layout {layout} is in the data dictionary but has no reader")
        results.append(READERS[layout](src, registry))
    return results


def _skip_reason(path: Path) -> tuple[str, str | None] | None:
    """Why a file under the data folder is not read (and the blocking problem, when it may hold data that is
    then missing), or ``None`` for an input to read."""
    name = path.name.lower()
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        if name.endswith(INPUT_SUFFIXES):
            problem = f"dangling link: it points to {target}, which does not exist; expected a readable input file"
            return "dangling link", problem
        return f"dangling link (to {target}, which does not exist)", None
    if path.is_symlink() and path.is_dir():
        return "link to a folder (links to folders are not followed)", None
    if name.startswith("~$"):
        return "Excel lock file (not data)", None
    if name.startswith("."):
        return "hidden file", None
    if name.startswith("readme"):
        return "read-me file (not data)", None
    if not name.endswith(INPUT_SUFFIXES):
        suffix = "".join(path.suffixes[-2:]) or "none"
        return f"unknown extension ({suffix}; inputs end {', '.join(INPUT_SUFFIXES)})", None
    return None


def _record_folders(data_dir: Path) -> list[Path]:
    """Folders (``data_dir`` included) holding record-level MHSDS tables, in sorted path order."""
    dirs = [data_dir, *(p for p in data_dir.rglob("*") if p.is_dir())]
    return sorted((d for d in dirs if is_records_folder(d)), key=lambda p: p.relative_to(data_dir).as_posix())


def _inputs(data_dir: Path, record_folders: list[Path] | None = None) -> tuple[list[Path], list[ReadReport]]:
    """The input files under ``data_dir`` (sorted by relative path), and a report for every other file and
    every folder that could not be listed, saying why it is not read. The tables of a record-level extract
    (in ``record_folders``) are neither: the records reader reads them together, with a report per table."""
    files: list[Path] = []
    skipped: list[ReadReport] = []
    tables = {t.resolve() for d in record_folders or [] for t in table_paths(d).values()}

    def is_table(path: Path) -> bool:
        resolved = path.resolve()
        return resolved in tables or any(parent in tables for parent in resolved.parents)

    def unreadable(exc: OSError) -> None:
        label = exc.filename or str(data_dir)
        skipped.append(
            _skipped_report(
                label,
                "unreadable folder",
                f"the folder cannot be listed ({exc.strerror or exc}), so the inputs in it cannot be read; "
                "expected a folder the user running the evaluation may read",
            )
        )

    for root, dirs, names in os.walk(data_dir, onerror=unreadable):
        folder = Path(root)
        for d in sorted(dirs):
            if (folder / d).is_symlink():
                names.append(d)  # os.walk does not descend into linked folders: list them as skipped
        for n in names:
            path = folder / n
            if is_table(path):
                continue
            why = _skip_reason(path)
            if why is None:
                files.append(path)
            else:
                skipped.append(_skipped_report(str(path), *why))
    for path in files:
        for member, why in zip_skipped_members(path):
            skipped.append(_skipped_report(f"{path}!{member}", why))
    def key(label: Path | str) -> str:
        try:
            return Path(label).relative_to(data_dir).as_posix()
        except ValueError:
            return str(label)

    return sorted(files, key=key), sorted(skipped, key=lambda r: key(r.path))


def load_panel(
    data_dir: Path | str,
    *,
    registry: Registry | None = None,
    organisations: Organisations | Path | str | None = None,
    strict: bool = True,
) -> tuple[pd.DataFrame, list[ReadReport]]:
    """Read every input under ``data_dir`` (recursively, in sorted path order) into one panel.

    Files ending ``.csv``, ``.csv.gz``, ``.zip`` and ``.xlsx`` are read. Every other file is accounted for by a
    report whose layout is ``"skipped (<reason>)"`` (:func:`is_skipped`): read-me, hidden and lock files,
    unknown extensions, dangling links, links to folders, zip members that are not CSV (a nested archive
    among them). A folder holding an ``MHS101Referral`` table is a record-level MHSDS extract: its tables are
    read together by :func:`evaluation.sources.records.read_records` (one report per table). A folder that
    cannot be listed, and a dangling link named like an input, are also blocking problems: they may hide data.
    The panel's ``source_file`` is the path relative to ``data_dir``
    (``sub/archive.zip!member.csv`` for a zip member).

    Where several inputs give the same organisation x period x measure x period type, one row is kept: a
    final row before a provisional one, then a row from a CSV before a rate-only row from the Excel table
    ("superseded by monthly CSV"), then the first file in path order for identical values. Two different
    values of the same status and kind are a conflict (assumption A15): both files get a blocking problem
    naming both files and both values. Each dropped row is counted against its own file's report, so every
    report stays balanced. Old organisation codes are then
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
    paths, skipped = _inputs(data_dir, record_folders)
    if strict:
        for r in skipped:
            if r.blocking:
                raise blocking_error(r)
    for path in [*record_folders, *paths]:
        try:
            read = read_records(path, registry) if path.is_dir() else read_file(path, registry)
            folder = (path if path.is_dir() else path.parent).relative_to(data_dir).as_posix()
            for r in read:
                if folder != "." and len(r.panel):
                    r.panel["source_file"] = folder + "/" + r.panel["source_file"].astype(str)
            if strict:
                # A reader can keep what it could read of a damaged file (a cut-short download) and
                # still mark the file as not usable; strict loading refuses it like an unreadable one.
                for r in read:
                    if r.report.blocking:
                        raise blocking_error(r.report)
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
    if strict:
        for r in results:
            if r.report.blocking:  # a conflict with another file (A15)
                raise blocking_error(r.report)
    return panel, [r.report for r in results] + failed + skipped


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
    win_value = grouped["value"].transform("first")
    win_suppressed = grouped["suppressed"].transform("first")
    losers = ordered[lose]
    reason = pd.Series("duplicate of a row in another file", index=losers.index)
    reason[losers["_rank"] > win_rank[lose]] = "superseded by a final row in another file"
    reason[(losers["_table"] > win_table[lose]) & (losers["_rank"] == win_rank[lose])] = (
        "superseded by monthly CSV"
    )
    same_kind = (losers["_rank"] == win_rank[lose]) & (losers["_table"] == win_table[lose])
    differs = ~_same_values(losers["value"], win_value[lose]) | (losers["suppressed"] != win_suppressed[lose])
    conflict = same_kind & differs
    reason[conflict] = CONFLICT_ACROSS_FILES
    if conflict.any():
        _block_conflicts(losers[conflict], win_src[lose][conflict], win_value[lose][conflict],
                         win_suppressed[lose][conflict], results)
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


#: Rejection reason of a row whose organisation, period and measure another file gives a different value (A15).
CONFLICT_ACROSS_FILES = "conflicting value in another file"


def _same_values(a: pd.Series, b: pd.Series) -> pd.Series:
    """Equal values (to rounding error), two missing values counting as equal."""
    both_missing = a.isna() & b.isna()
    close = (a - b).abs() <= 1e-9 * b.abs().clip(lower=1.0)
    return both_missing | close.fillna(False)


def _shown(value: float, suppressed: bool) -> str:
    return "suppressed" if suppressed else ("empty" if pd.isna(value) else f"{value:g}")


def _block_conflicts(losers: pd.DataFrame, win_src: pd.Series, win_value: pd.Series, win_suppressed: pd.Series,
                     results: list[ReadResult]) -> None:
    """The same blocking line on both files of every conflicting pair, naming both files and both values (so
    ``validate`` prints it once, and either file stops the sites whose rows it holds)."""
    pairs = pd.DataFrame({"src": losers["_src"].astype(int), "win": win_src.astype(int)})
    for (src, win), idx in pairs.groupby(["src", "win"]).groups.items():
        first = idx[0]
        row = losers.loc[first]
        loser, winner = results[src].report, results[win].report
        more = "" if len(idx) == 1 else f" ({len(idx)} organisation x period x measure rows; the first shown)"
        what = f"{row['org_code']} {row['measure_id']} {row['period']:%Y-%m} ({row['period_type']}, {row['status']})"
        mine = _shown(row["value"], bool(row["suppressed"]))
        theirs = _shown(win_value[first], bool(win_suppressed[first]))
        message = str(
            SourceError(
                winner.path,
                f"conflicting value for {what}: {theirs} here but {mine} in {loser.path}{more}",
                expected="one value per organisation, period and measure across files (correct or remove "
                "one of the two files)",
            )
        )
        for report in (winner, loser):
            if message not in report.blocking:
                report.blocking.append(message)


def _note_documented_name_changes(results: list[ReadResult], organisations: Organisations) -> None:
    for change in organisations.name_changes:
        for r in results:
            for i, text in enumerate(r.report.findings):
                if text.startswith(f"Organisation {change.code} was published under"):
                    r.report.findings[i] = (
                        f"{text} This is a documented name change ({change.old_name} -> {change.new_name}, "
                        f"from {change.from_date:%B %Y}; organisations.yaml), not a different organisation."
                    )


def _report_of_rows(panel: pd.DataFrame, reports: list[ReadReport]) -> pd.Series:
    """The report path each panel row came from, matched by path (``source_file`` is the path relative to
    the data folder): of the reports whose path ends with ``/<source_file>``, the shortest, which is the
    one directly under the data folder (every report path starts with that folder)."""
    paths = sorted((Path(r.path).as_posix() for r in reports), key=len)
    owner: dict[str, str] = {}
    for source in pd.unique(panel["source_file"]):
        text = str(source)
        owner[text] = next((p for p in paths if p == text or p.endswith("/" + text)), "")
    return panel["source_file"].astype(str).map(owner)


def blocking_error(report: ReadReport) -> SourceError:
    """The first blocking problem of ``report`` as a :class:`SourceError` whose message is exactly that line
    (a conflict between two files is worded from the first file, whichever report carries it)."""
    line = report.blocking[0]
    path = report.path if line.startswith(f"{report.path}: ") else line.split(": ", 1)[0]
    return SourceError(path, line.removeprefix(f"{path}: "))


def usable_rows(panel: pd.DataFrame, reports: list[ReadReport], org_code: str | None = None,
                measure_ids: list[str] | None = None) -> pd.DataFrame:
    """The panel without the rows of any input marked not usable (a report with ``blocking`` problems).

    When ``org_code`` is given, an unusable input that holds rows of that organisation (for ``measure_ids``,
    when given), or whose organisations cannot be told because none of its rows could be kept, raises its
    :class:`SourceError`: that site's analysis must stop and say why. Any other site's analysis goes on
    without the unusable file, so one site's broken extract never stops the others. Rows are matched to
    their file by path, so two files of the same name in different folders are told apart.
    """
    blocked = [r for r in reports if r.blocking]
    if not blocked:
        return panel
    owners = _report_of_rows(panel, reports)
    drop = pd.Series(False, index=panel.index)
    for r in blocked:
        mine = owners == Path(r.path).as_posix()
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
            raise blocking_error(r)
    return panel[~drop]
