"""Which organisations a site is compared with.

The rule (documented on the methods page, and a parameter of every notebook):

1. never the site itself, nor one of the four evaluation sites (they all changed);
2. an NHS trust (ODS code of three characters starting R or T), or a made-up comparator of the synthetic
   data (``ZC`` + two digits);
3. a provider of secondary mental health services at scale: a median of at least ``min_referrals``
   (default 1,000) referrals starting a month (MHSDS MHS32). Acute, children's and community trusts also
   submit MHSDS for their smaller mental health services; in the published file they fall below about 950
   a month, while every mental health trust is above 1,000;
4. enough data for the measure: values in at least ``min_coverage`` (default 80%) of the months in which
   the site itself has values for it.

With real data this gives "every other NHS mental health provider in the files"; with the synthetic data,
the made-up comparator pool.
"""

from __future__ import annotations

import re

import pandas as pd

from evaluation.dictionary.registry import Registry

NHS_TRUST = re.compile(r"^[RT][A-Z0-9]{2}$")
SYNTHETIC = re.compile(r"^ZC\d{2}$")
MIN_COVERAGE = 0.8
MIN_REFERRALS = 1000
SCALE_MEASURE = "MHS32"


def mental_health_providers(panel: pd.DataFrame, min_referrals: float = MIN_REFERRALS) -> set[str]:
    """Organisations whose median monthly MHS32 referrals reach ``min_referrals``."""
    rows = panel[(panel["measure_id"] == SCALE_MEASURE) & (panel["period_type"] == "month")]
    medians = rows.groupby("org_code")["value"].median()
    return set(medians[medians >= min_referrals].index)


def comparator_pool(
    panel: pd.DataFrame,
    registry: Registry,
    measure_id: str,
    site_code: str,
    *,
    min_coverage: float = MIN_COVERAGE,
    min_referrals: float = MIN_REFERRALS,
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
    providers = mental_health_providers(panel, min_referrals)
    pool = []
    for org, group in rows.groupby("org_code", sort=True):
        if org == site_code or org in sites or not (NHS_TRUST.match(org) or SYNTHETIC.match(org)):
            continue
        if org not in providers:
            continue
        coverage = len(site_months & set(group["period"])) / len(site_months)
        if coverage >= min_coverage:
            pool.append(str(org))
    return pool
