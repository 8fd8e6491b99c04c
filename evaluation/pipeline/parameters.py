"""Run parameters checked against the registry and the data before any notebook starts.

A wrong site, domain, date or data folder found by a notebook half-way through a run costs a kernel per
site and buries the cause in a cell's traceback; :func:`check_run_parameters` finds it first and says, in one
line, what was wrong and what would be valid (the pattern of the Strategy Unit's ``nhp_model``: parameters
validated before anything runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from evaluation.dictionary.months import parse_month
from evaluation.dictionary.registry import NO_GO_LIVE, ORG_SITE_PREFIX, Registry, organisation_code

#: Models need at least this many months before the intervention (seasonality and trend need a year).
MIN_MONTHS_BEFORE = 12
#: ``--site all`` means every site in the registry.
ALL_SITES = "all"


class ParameterError(ValueError):
    """A run parameter is not valid; ``str()`` is one line saying what was given and what is valid."""


def parse_intervention_date(text: str) -> pd.Timestamp:
    """``YYYY-MM`` or ``YYYY-MM-DD`` as the first day of its month; :class:`ParameterError` otherwise."""
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
      ``YYYY-MM`` or ``YYYY-MM-DD``, falls inside the months the data covers for that site, and has at least
      :data:`MIN_MONTHS_BEFORE` months of data before it. A site with no rows at all is left to the run,
      which reports it per site rather than stopping the others.
    """
    site_ids = list(registry.site_ids)
    chosen_sites = site_ids if not sites or list(sites) == [ALL_SITES] else list(sites)
    for s in chosen_sites:
        if s not in site_ids and organisation_code(s) is None:
            raise ParameterError(f"unknown site {s!r}; valid sites: {', '.join(site_ids)}, {ALL_SITES} (every "
                                 f"provider in the data), or {ORG_SITE_PREFIX}<ODS code>")
    for d in domains or []:
        if d not in registry.domain_ids:
            raise ParameterError(f"unknown domain {d!r}; valid domains: {', '.join(registry.domain_ids)}")
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
        when = override if override is not None else pd.Timestamp(site.intervention_date)
        where = "--intervention-date" if override is not None else f"the registry's date for {site_id}"
        first, last = min(have), max(have)
        if not first < when <= last:
            raise ParameterError(
                f"intervention date {when:%Y-%m} ({where}) is outside the data for {site_id} "
                f"({site.ods_code}: {first:%Y-%m} to {last:%Y-%m}); expected a month after {first:%Y-%m} "
                f"and no later than {last:%Y-%m}"
            )
        before = sum(m < when for m in have)
        if before < MIN_MONTHS_BEFORE:
            raise ParameterError(
                f"intervention date {when:%Y-%m} ({where}) leaves {before} month(s) of data before it for "
                f"{site_id} ({site.ods_code}, data from {first:%Y-%m}); expected at least {MIN_MONTHS_BEFORE}"
            )


def _months_by_org(folder: Path, registry: Registry,
                   loaded: tuple[pd.DataFrame, list] | None = None) -> dict[str, set[pd.Timestamp]]:
    """The months each organisation has rows for, read through the readers (so detection cannot disagree);
    ``loaded`` is a panel and reports the caller has already read from ``folder``."""
    from evaluation.sources import load_panel

    panel, reports = loaded if loaded is not None else load_panel(folder, registry=registry, strict=False)
    if not any(r.layout != "unknown" for r in reports):
        problems = "; ".join(b for r in reports for b in r.blocking[:1])
        detail = f": {problems}" if problems else " (names ending .csv, .csv.gz, .zip or .xlsx)"
        raise ParameterError(f"data directory {folder} holds no input file a reader recognises{detail}")
    monthly = panel[panel["period_type"].eq("month")]
    return {str(org): set(grp["period"]) for org, grp in monthly.groupby("org_code")}
