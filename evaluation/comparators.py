"""Which organisations a site is compared with.

The rule (documented on the methods page, and a parameter of every notebook):

1. never one of the four evaluation sites (they all changed);
2. an NHS trust (ODS code of three characters starting R or T), or a made-up comparator of the synthetic
   data (``ZC`` + two digits);
3. a provider of mental health services: it has rows in the panel for at least one MHSDS measure
   (only mental health service providers submit MHSDS);
4. enough data for the measure: values in at least ``min_coverage`` (default 80%) of the months in which
   the site itself has values for it.

With real data this gives "every other NHS mental health provider in the files"; with the synthetic data,
the made-up comparator pool.
"""

from __future__ import annotations

import re

import pandas as pd

from evaluation.registry import Registry

NHS_TRUST = re.compile(r"^[RT][A-Z0-9]{2}$")
SYNTHETIC = re.compile(r"^ZC\d{2}$")
MIN_COVERAGE = 0.8


def mental_health_providers(panel: pd.DataFrame, registry: Registry) -> set[str]:
    """Organisations with rows for any MHSDS measure (only mental health service providers submit MHSDS)."""
    mhsds = [m.id for m in registry.measures if m.layout == "mhsds_long"]
    return set(panel.loc[panel["measure_id"].isin(mhsds), "org_code"].unique())


def comparator_pool(
    panel: pd.DataFrame,
    registry: Registry,
    measure_id: str,
    site_code: str,
    *,
    min_coverage: float = MIN_COVERAGE,
    period_type: str = "month",
) -> list[str]:
    """The comparator organisations for one site and measure under the documented rule, sorted."""
    if not 0 <= min_coverage <= 1:
        raise ValueError(f"min_coverage must be between 0 and 1, got {min_coverage}")
    rows = panel[(panel["measure_id"] == measure_id) & (panel["period_type"] == period_type)
                 & panel["value"].notna()]
    site_months = set(rows.loc[rows["org_code"] == site_code, "period"])
    if not site_months:
        return []
    sites = {s.ods_code for s in registry.sites}
    providers = mental_health_providers(panel, registry)
    pool = []
    for org, group in rows.groupby("org_code", sort=True):
        if org in sites or not (NHS_TRUST.match(org) or SYNTHETIC.match(org)):
            continue
        if providers and org not in providers:
            continue
        coverage = len(site_months & set(group["period"])) / len(site_months)
        if coverage >= min_coverage:
            pool.append(str(org))
    return pool
