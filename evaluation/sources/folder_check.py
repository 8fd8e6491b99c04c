"""``evaluation validate --data-dir DIR``: can this folder of input files be used, and what does it hold?

Standard output gets the full account, in a fixed order so two runs on the same files print the same text:

1. per file under the folder (sorted by path within the folder; zip members as ``archive.zip!member``):
   either "skipped" with the reason (read-me, hidden or lock file, unknown extension, dangling link, link to
   a folder, nested archive or other non-CSV zip member, unreadable folder), or the layout recognised, the
   period covered, the number of organisations and the measures found, rows read / kept / rejected with a
   count per reason, and every finding of the reader;
2. the four sites' coverage: per site (by ODS code) and measure (by id), the first and last month, the
   months present, how many months are missing in between, and the months flagged as outliers;
3. the data-quality outliers (months far out of line with their neighbours, see
   :func:`evaluation.panel.quality.flag_outliers`), with the value and the neighbours' median.

The exit status is 0 when the folder is usable. Otherwise it is 2, and standard error has exactly one line
per blocking problem: a file that cannot be read (``<file>: missing required column(s) ...``,
``<file>: unknown layout; ...``, ``<file>: empty file ...``, ``<file>: truncated ...``), a value that
conflicts with another file's (both files named), a folder that cannot be listed, a dangling link named
like an input, a folder with no input files or no rows for any organisation, or a data directory that does not
exist. A folder without rows for the four sites is usable when it holds rows for other organisations: the check
says which, what for, and how to run them (``--site org_<ODS code>``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from evaluation.dictionary.registry import Registry, RegistryError, default_registry
from evaluation.panel.frame import ReadReport
from evaluation.panel.quality import OUTLIER_FLAG, has_flag, outlier_scores
from evaluation.sources import INPUT_SUFFIXES, SourceError, is_skipped, load_panel
from evaluation.sources.common import one_line
from evaluation.text import inert_terminal

Emit = Callable[..., None]

EXIT_OK = 0
EXIT_NOT_USABLE = 2
# Outliers of organisations other than the four sites are listed one by one up to this many; beyond it they
# are summarised per measure, so a national file does not bury the sites' own lines.
_LIST_OTHERS_UP_TO = 30
# Organisations outside the four sites listed with what they can be evaluated for, when the sites are present.
_LIST_ORGANISATIONS_UP_TO = 5


def validate(
    data_dir: Path | str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    registry: Registry | None = None,
) -> int:
    """Check a data folder and print what it holds; return the exit status (0 usable, 2 not usable).

    ``out`` and ``err`` default to the *current* ``sys.stdout`` / ``sys.stderr`` (looked up at call time,
    so redirection and test capture work). Blocking problems are printed one per line on ``err``; nothing
    raises for a problem with the data.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        registry = registry or default_registry()
    except RegistryError as exc:
        print(inert_terminal(_one_line(str(exc))), file=err)
        return EXIT_NOT_USABLE
    folder = Path(data_dir)
    if not folder.exists():
        print(inert_terminal(f"data directory {folder} does not exist"), file=err)
        return EXIT_NOT_USABLE
    if not folder.is_dir():
        print(inert_terminal(f"data directory {folder} is not a directory"), file=err)
        return EXIT_NOT_USABLE
    try:
        panel, reports = load_panel(folder, registry=registry, strict=False)
    except (SourceError, OSError) as exc:  # e.g. the organisation succession table cannot be read
        print(inert_terminal(_one_line(str(exc))), file=err)
        return EXIT_NOT_USABLE

    def emit(line: str = "") -> None:
        # File names, organisation codes and reader findings come from the data: no escape sequence or
        # control character in them reaches the terminal.
        print(inert_terminal(line), file=out)

    reports = sorted(reports, key=lambda r: _relative(r.path, folder))
    site_codes = sorted(s.ods_code for s in registry.sites)
    n_skipped = sum(is_skipped(r) for r in reports)
    emit(f"Data folder: {folder}")
    emit(f"Input files: {len(reports) - n_skipped}; skipped: {n_skipped}; panel rows: {len(panel)}")
    for i, report in enumerate(reports, start=1):
        emit()
        _print_file(emit, i, len(reports), report, panel, folder, registry)
    emit()
    _print_coverage(emit, panel, registry)
    emit()
    _print_outliers(emit, panel, site_codes, registry)
    emit()
    _print_shifts_and_peaks(emit, panel, site_codes, registry)
    emit()
    _print_estimability(emit, panel, registry)

    others = _other_organisations(panel, registry)
    if others:
        emit()
        _print_other_organisations(emit, others, folder, not panel["org_code"].isin(site_codes).any(), registry)

    blocking = sorted({_one_line(b) for r in reports for b in r.blocking})
    if all(is_skipped(r) for r in reports):
        blocking.append(f"{folder}: no input files (names ending {', '.join(INPUT_SUFFIXES)})")
    elif panel.empty and any(not r.blocking and not is_skipped(r) for r in reports):
        # Only said when some file was read: if every file failed, those failures are the problems. A folder
        # is usable when it can be evaluated for some organisation, one of the four sites or not.
        blocking.append(f"no rows for any organisation in {folder} (the four sites are {', '.join(site_codes)})")
    emit()
    if blocking:
        emit(f"Result: NOT USABLE -- {len(blocking)} blocking problem(s), one per line on standard error.")
        for line in blocking:
            print(inert_terminal(line), file=err)
        return EXIT_NOT_USABLE
    emit("Result: usable.")
    return EXIT_OK


def _print_shifts_and_peaks(emit: Emit, panel: pd.DataFrame, site_codes: list[str], registry: Registry) -> None:
    """Level shifts at the four sites (data-quality findings) and the national peak months (not data problems)."""
    from evaluation.panel.quality import level_shifts, national_peaks

    shifts = level_shifts(panel, registry=registry, org_codes=site_codes)
    emit(f"Level shifts at the four sites (a lasting change in level, e.g. recording or a service transfer; "
         f"run --baseline-after-shift starts the baseline after the latest before go-live): {len(shifts)}")
    for x in shifts:
        emit(f"    {x.org_code} {x.measure_id}: {x.describe()}")
    peaks = national_peaks(panel, registry=registry)
    emit("National peaks and troughs (most trusts moved together, such as a COVID-19 or winter wave; not data "
         f"problems): {'none' if not peaks else ''}")
    for mid, months in peaks.items():
        emit(f"    {mid}: {', '.join(months)}")


def _print_estimability(emit: Emit, panel: pd.DataFrame, registry: Registry) -> None:
    """What run will estimate per site x domain (evaluation.evaluate.estimability), so validate and run agree;
    a site with no rows at all gets one line."""
    from evaluation.evaluate.estimability import estimability, summary_lines

    emit("What run will estimate (per site x domain, at each site's go-live in the registry):")
    present = set(panel["org_code"])
    sites = [s.id for s in registry.sites if s.ods_code in present]
    for s in registry.sites:
        if s.ods_code not in present:
            emit(f"  {s.id}: no rows in these files")
    if not sites:
        return
    rows = estimability(registry, panel, sites=sites)
    for line in summary_lines(rows):
        emit(f"  {line}")
    for r in rows:
        emit(f"    {r.line()}")


@dataclass(frozen=True)
class _Other:
    """An organisation outside the four sites, what it has rows for, and the go-lives its data support."""

    code: str
    domains: dict[str, list[str]]
    go_live: tuple[str, str] | None


def _other_organisations(panel: pd.DataFrame, registry: Registry) -> list[_Other]:
    """Organisations other than the four sites with rows of a measure: per domain the measures and their
    months, and the range of go-live months for which the headline-capable (``its``) measure with the most
    months has the minimum months before and after (``data_dictionary/analysis.yaml``)."""
    facts = registry.analysis.its
    site_codes = {s.ods_code for s in registry.sites}
    others = panel[~panel["org_code"].isin(site_codes)]
    # One pass over the panel (grouping), not one filter per organisation x measure: the national file holds
    # hundreds of organisations, and filtering it per pair took most of validate's time.
    groups = {key: rows for key, rows in others.groupby(["org_code", "measure_id", "period_type"], sort=False)}
    out = []
    for code in sorted(set(others["org_code"])):
        domains: dict[str, list[str]] = {}
        best: list[pd.Timestamp] = []
        for domain_id in registry.domain_ids:
            for m in registry.measures_for(domain_id):
                rows = groups.get((code, m.id, m.period_type))
                if rows is None or rows.empty:
                    continue
                domains.setdefault(domain_id, []).append(f"{m.id} {_span(rows['period'])}")
                months = sorted(rows.loc[rows["value"].notna(), "period"].unique())
                if m.analysis == "its" and len(months) > len(best):
                    best = months
        n = len(best)
        window = None
        if n >= facts.min_pre_months + facts.min_post_months:
            window = (_ym(pd.Timestamp(best[facts.min_pre_months])), _ym(pd.Timestamp(best[n - facts.min_post_months])))
        if domains:
            out.append(_Other(code, domains, window))
    return out


def _print_other_organisations(emit: Emit, others: list[_Other], folder: Path, only_others: bool,
                               registry: Registry) -> None:
    """Organisations outside the four sites that ``run --site org_<code>`` can evaluate (all of them listed
    when no registry site is in the folder, else the first few: national files hold every provider)."""
    facts = (registry.analysis.its.min_pre_months, registry.analysis.its.min_post_months)
    head = ("The four sites have no rows here; the folder can be evaluated for these organisations"
            if only_others else "Organisations outside the four sites that can also be evaluated")
    emit(f"{head} ({len(others)}), each with --site org_<ODS code> and --intervention-date YYYY-MM:")
    shown = others if only_others else others[:_LIST_ORGANISATIONS_UP_TO]
    for o in shown:
        emit(f"  {o.code}:")
        for domain_id, measures in o.domains.items():
            emit(f"    {domain_id}: {'; '.join(measures)}")
        if o.go_live:
            emit(f"    go-live months with at least {facts[0]} months before and {facts[1]} after: "
                 f"{o.go_live[0]} to {o.go_live[1]}")
        else:
            emit("    too few months for the time series model at any go-live (described only)")
    if len(shown) < len(others):
        emit(f"  and {len(others) - len(shown)} more (--site all evaluates every mental health provider)")
    emit(f"  e.g. evaluation run --site org_{shown[0].code.lower()} --intervention-date YYYY-MM --data-dir {folder}"
         "  (YYYY-MM: the month the change went live there)")


# --------------------------------------------------------------------------------------------------
# Per file


def _one_line(text: str) -> str:
    return one_line(text)


def _relative(label: str, folder: Path) -> str:
    """A report's path relative to the data folder (zip members keep their ``!member`` suffix)."""
    try:
        return Path(label).relative_to(folder).as_posix()
    except ValueError:
        return label


def _ym(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m}"


def _span(periods: pd.Series) -> str:
    return f"{_ym(periods.min())} to {_ym(periods.max())}"


def _print_file(
    emit: Emit, i: int, n: int, report: ReadReport, panel: pd.DataFrame, folder: Path, registry: Registry
) -> None:
    emit(f"File {i} of {n}: {_relative(report.path, folder)}")
    if is_skipped(report):
        emit(f"  {report.layout}")
        for text in report.blocking:
            emit(f"  BLOCKING: {_one_line(text)}")
        return
    try:
        layout_name = registry.layout(report.layout).name
        emit(f"  layout: {report.layout} ({layout_name})")
    except KeyError:
        emit(f"  layout: {report.layout} (not recognised)")
    if report.sha256:
        emit(f"  sha256: {report.sha256}")
    # The panel's source_file is the path relative to the data folder (archive.zip!member for a zip member).
    rows = panel[panel["source_file"] == _relative(report.path, folder)]
    if len(rows):
        types = ", ".join(
            f"{ptype} {_span(grp['period'])}" for ptype, grp in sorted(rows.groupby("period_type"), key=lambda t: t[0])
        )
        emit(f"  period: {_span(rows['period'])} ({types})")
        provisional = rows.loc[rows["status"].eq("provisional"), "period"]
        if len(provisional):
            emit(f"  provisional months: {', '.join(sorted({_ym(p) for p in provisional}))}")
        emit(f"  organisations: {rows['org_code'].nunique()}")
        others = sorted(set(rows["org_code"]) - {s.ods_code for s in registry.sites})
        if others:
            # Comparators are expected; listing them lets a typed or unknown code be spotted.
            shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
            emit(f"  organisations other than the four sites: {len(others)} ({shown})")
        flags = rows["quality_flags"].str.split(";").explode()
        flags = flags[flags.ne("") & flags.notna()]
        if len(flags):
            counts = ", ".join(f"{name} ({n} rows)" for name, n in sorted(flags.value_counts().items()))
            emit(f"  quality flags: {counts}")
        measures = []
        for mid, grp in sorted(rows.groupby("measure_id"), key=lambda t: t[0]):
            per_type = ", ".join(f"{k} {v}" for k, v in sorted(grp["period_type"].value_counts().items()))
            measures.append(f"{mid} ({per_type} rows)")
        emit(f"  measures: {'; '.join(measures)}")
    else:
        emit("  period: none (no rows kept from this file)")
        emit("  organisations: 0")
        emit("  measures: none")
    emit(f"  rows: read {report.rows_read}, kept {report.rows_kept}, rejected {report.rows_rejected}")
    for reason, count in sorted(report.rejected.items()):
        emit(f"    rejected {count}: {reason}")
    if report.findings:
        emit("  findings:")
        for text in report.findings:
            emit(f"    - {_one_line(text)}")
    for text in report.blocking:
        emit(f"  BLOCKING: {_one_line(text)}")


# --------------------------------------------------------------------------------------------------
# Coverage and outliers


def _missing_count(periods: pd.Series) -> int:
    if periods.empty:
        return 0
    span = (periods.max().year - periods.min().year) * 12 + periods.max().month - periods.min().month + 1
    return int(span - periods.nunique())


def _gap_months(periods: pd.Series, limit: int = 6) -> list[str]:
    """The months missing between the first and last (the first ``limit`` of them, then a count)."""
    every = pd.period_range(periods.min(), periods.max(), freq="M").to_timestamp()
    gaps = [_ym(m) for m in every.difference(pd.DatetimeIndex(periods.unique()))]
    return gaps[:limit] + ([f"and {len(gaps) - limit} more"] if len(gaps) > limit else [])


def _print_coverage(emit: Emit, panel: pd.DataFrame, registry: Registry) -> None:
    emit("Coverage of the four sites (rolling 12-month measures by the month each period ends):")
    width = max(len(m.id) for m in registry.measures)
    for site in sorted(registry.sites, key=lambda s: s.ods_code):
        emit(f"  {site.ods_code} {site.provider_name} ({site.id})")
        org = panel[panel["org_code"] == site.ods_code]
        if org.empty:
            emit("    no rows in these files")
            continue
        for measure in sorted(registry.measures, key=lambda m: m.id):
            rows = org[(org["measure_id"] == measure.id) & (org["period_type"] == measure.period_type)]
            label = f"    {measure.id:<{width}}"
            if rows.empty:
                emit(f"{label}  no rows")
                continue
            periods = rows["period"]
            flagged = sorted({_ym(p) for p in rows.loc[has_flag(rows["quality_flags"], OUTLIER_FLAG), "period"]})
            missing = _missing_count(periods)
            # Gaps are listed, never filled: a method must see that a month is absent, not an invented value.
            gaps = f"  gaps: {', '.join(_gap_months(periods))}" if missing else ""
            emit(
                f"{label}  {_span(periods)}  {periods.nunique():>3} months  {missing:>3} missing  "
                f"outliers: {', '.join(flagged) if flagged else 'none'}{gaps}"
            )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _outlier_lines(table: pd.DataFrame) -> Iterable[str]:
    for r in table.itertuples():
        yield (
            f"    {r.org_code} {r.measure_id} {_ym(r.period)}: {_fmt(r.value)} "
            f"(neighbours' median {_fmt(r.neighbour_median)}, {r.score:.1f} x the scale)"
        )


def _print_outliers(emit: Emit, panel: pd.DataFrame, site_codes: list[str], registry: Registry) -> None:
    flagged = panel[has_flag(panel["quality_flags"], OUTLIER_FLAG)]
    emit(
        f"Data-quality outliers (quality flag '{OUTLIER_FLAG}': a month far out of line with the months around it "
        "and with the national pattern, for example an incomplete submission or a local one-off): "
        f"{len(flagged)} month(s) in {flagged['org_code'].nunique()} organisation(s)"
    )
    if flagged.empty:
        return
    scores = outlier_scores(panel, registry=registry)
    table = scores.loc[scores.index.intersection(flagged.index)]
    table = table.sort_values(["org_code", "measure_id", "period"], kind="mergesort")
    at_sites = table[table["org_code"].isin(site_codes)]
    others = table[~table["org_code"].isin(site_codes)]
    emit(f"  the four sites: {len(at_sites)} month(s)")
    for line in _outlier_lines(at_sites):
        emit(line)
    emit(f"  other organisations: {len(others)} month(s) in {others['org_code'].nunique()} organisation(s)")
    if len(others) <= _LIST_OTHERS_UP_TO:
        for line in _outlier_lines(others):
            emit(line)
    else:
        for mid, grp in sorted(others.groupby("measure_id"), key=lambda t: t[0]):
            emit(f"    {mid}: {len(grp)} month(s) in {grp['org_code'].nunique()} organisation(s)")
