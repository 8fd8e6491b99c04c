"""Run parameters checked against the registry and the data before any notebook starts.

A wrong site, domain, date or data folder found by a notebook half-way through a run costs a kernel per
site and buries the cause in a cell's traceback; :func:`check_run_parameters` finds it first and says, in one
line, what was wrong and what would be valid (the pattern of the Strategy Unit's ``nhp_model``: parameters
validated before anything runs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports this module before any check: keep it free of pandas
    import pandas as pd

from evaluation.dictionary.months import parse_month
from evaluation.dictionary.registry import (
    NO_GO_LIVE,
    ORG_SITE_PREFIX,
    Registry,
    organisation_code,
    organisation_site_id,
)

#: ``--site all`` means every site in the registry.
ALL_SITES = "all"


class ParameterError(ValueError):
    """A run parameter is not valid; ``str()`` is one line saying what was given and what is valid."""


def normalise_site_ids(sites: Sequence[str] | None) -> list[str] | None:
    """Site ids as the registry spells them: ``org_RX4`` and ``ORG_rx4`` are ``org_rx4``; others unchanged."""
    if sites is None:
        return None
    return [organisation_site_id(organisation_code(s)) if organisation_code(s) else s for s in sites]


def check_build_dir(value: str | Path | None, default: Path) -> Path:
    """The build folder as an absolute path, created if missing; :class:`ParameterError` in one line when it is
    the empty string, an existing file, inside a file, or not writable (checked before any work starts)."""
    if value is None:
        value = default
    if not str(value).strip():
        raise ParameterError("--build-dir is empty; expected a folder (default: the repository's build/)")
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ParameterError(f"build folder {path} is a file; expected a folder (or a path that does not exist yet)")
    parent = next((p for p in [path, *path.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ParameterError(f"build folder {path}: {parent} is a file; expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"build folder {path} cannot be created ({exc.strerror}); expected a writable folder") \
            from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ParameterError(f"build folder {path} is not writable; expected a folder this user can write to")
    return path


def check_request(registry: Registry, *, sites: Sequence[str] | None, domains: Sequence[str] | None,
                  intervention_date: str | None) -> None:
    """The checks that need no data (site and domain ids, the date's form, a go-live for every site): they run
    first, so a wrong id is refused in a fraction of a second."""
    site_ids = list(registry.site_ids)
    chosen = site_ids if not sites or list(sites) == [ALL_SITES] else list(sites)
    for s in chosen:
        if s not in site_ids and organisation_code(s) is None and s != ALL_SITES:
            raise ParameterError(f"unknown site {s!r}; valid sites: {', '.join(site_ids)}, {ALL_SITES} (every "
                                 f"provider in the data), or {ORG_SITE_PREFIX}<ODS code> (see `evaluation sites`)")
    for d in domains or []:
        if d not in registry.domain_ids:
            raise ParameterError(f"unknown domain {d!r}; valid domains: {', '.join(registry.domain_ids)}")
    if intervention_date:
        _check_date_form(intervention_date)
    else:
        for s in chosen:
            if s != ALL_SITES and registry.site(s).intervention_date == NO_GO_LIVE:
                raise ParameterError(f"site {s} has no go-live date in the registry; expected --intervention-date "
                                     "YYYY-MM for providers outside the registry")


def check_data_folder(data_dir: str | Path | list | tuple | None) -> None:
    """Each data folder given by the user (``--data-dir`` is repeatable) exists and is a folder (its files are
    checked when read)."""
    folders = data_dir if isinstance(data_dir, list | tuple) else [data_dir]
    for d in folders:
        if d is None or d == "":
            continue
        folder = Path(d)
        if not folder.is_dir():
            raise ParameterError(f"data directory {folder} does not exist or is not a folder")


def _check_date_form(text: str) -> None:
    """The date's form without pandas (a refusal must not pay for importing it)."""
    try:
        parse_month(text)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def parse_intervention_date(text: str) -> pd.Timestamp:
    """``YYYY-MM`` or ``YYYY-MM-DD`` as the first day of its month; :class:`ParameterError` otherwise."""
    import pandas as pd

    try:
        return pd.Timestamp(parse_month(text))
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def check_run_parameters(
    registry: Registry,
    *,
    sites: Sequence[str] | None,
    domains: Sequence[str] | None,
    data_dir: Path | str,
    intervention_date: str | None,
    loaded: tuple[pd.DataFrame, list] | None = None,
) -> None:
    """Check a run's parameters; raise :class:`ParameterError` with a one-line message at the first problem.

    * every site is a registry site id (or ``all``), every domain a registry domain id; a wrong one is
      named together with the valid ones;
    * ``data_dir`` exists and holds at least one input file a reader recognises;
    * the intervention date (the override, or else each chosen site's go-live from the registry) parses as
      ``YYYY-MM`` or ``YYYY-MM-DD``; a date given with ``--intervention-date`` must fall inside the months
      the data covers for each chosen site and leave at least ``analysis.its.min_pre_months`` months before it.
      The registry's own go-live is never a reason to refuse: where it falls outside a site's data the run
      evaluates what it can and reports the rest as not estimable
      (:mod:`evaluation.evaluate.estimability`, the report ``validate`` prints). A site with no rows at
      all is likewise left to the run.
    """

    check_request(registry, sites=sites, domains=domains, intervention_date=intervention_date)
    site_ids = list(registry.site_ids)
    chosen_sites = site_ids if not sites or list(sites) == [ALL_SITES] else list(sites)
    min_before = registry.analysis.its.min_pre_months
    override = parse_intervention_date(intervention_date) if intervention_date else None

    folder = Path(data_dir)
    if not folder.is_dir():
        raise ParameterError(f"data directory {folder} does not exist or is not a folder")
    months = _months_by_org(folder, registry, loaded)
    for site_id in chosen_sites:
        site = registry.site(site_id)
        if override is None and site.intervention_date == NO_GO_LIVE:
            raise ParameterError(f"site {site_id} has no go-live date in the registry; expected --intervention-date "
                                 "YYYY-MM for providers outside the registry")
        have = months.get(site.ods_code)
        if not have:
            continue
        if override is None:
            # The registry's own go-live outside a site's data is not a parameter error: run evaluates what
            # the data allow and reports the rest as not estimable (evaluation.evaluate.estimability), the
            # same account validate prints.
            continue
        when = override
        where = "--intervention-date"
        first, last = min(have), max(have)
        if not first < when <= last:
            raise ParameterError(
                f"intervention date {when:%Y-%m} ({where}) is outside the data for {site_id} "
                f"({site.ods_code}: {first:%Y-%m} to {last:%Y-%m}); expected a month after {first:%Y-%m} "
                f"and no later than {last:%Y-%m}"
            )
        before = sum(m < when for m in have)
        if before < min_before:
            raise ParameterError(
                f"intervention date {when:%Y-%m} ({where}) leaves {before} month(s) of data before it for "
                f"{site_id} ({site.ods_code}, data from {first:%Y-%m}); expected at least {min_before}"
            )


def _months_by_org(folder: Path, registry: Registry,
                   loaded: tuple[pd.DataFrame, list] | None = None) -> dict[str, set]:
    """The months each organisation has rows for, read through the readers (so detection cannot disagree);
    ``loaded`` is a panel and reports the caller has already read from ``folder``."""
    from evaluation.sources import is_skipped, load_panel

    panel, reports = loaded if loaded is not None else load_panel(folder, registry=registry, strict=False)
    if not any(r.layout != "unknown" and not is_skipped(r) for r in reports):
        problems = "; ".join(b for r in reports for b in r.blocking[:1])
        detail = f": {problems}" if problems else " (names ending .csv, .csv.gz, .zip or .xlsx)"
        raise ParameterError(f"data directory {folder} holds no input file a reader recognises{detail}")
    monthly = panel[panel["period_type"].eq("month")]
    # Each organisation's distinct months only: a national file gives tens of thousands of rows per month.
    return {str(org): set(grp["period"].unique()) for org, grp in monthly.groupby("org_code")}
