"""Which organisations a site is compared with.

The rule (documented on the methods page, and a parameter of every notebook):

1. never the site itself, nor one of the four evaluation sites (they all changed);
2. a mental health trust by the publisher's own classification: the trusts NHS England's sickness absence
   files put in cluster group "Mental Health", listed with their source in ``data_dictionary/trust_types.yaml``
   (acute, community, ambulance and other trusts are never comparators, however much mental health activity
   they report), or a made-up comparator of the synthetic data (``ZC`` + two digits);
3. enough data for the measure: values in at least ``min_coverage`` (``analysis.yaml``) of the months in
   which the site itself has values for it.

Every English mental health trust received Community Mental Health Framework funding from 2021/22, so the
comparators are less-treated, not untreated: a comparison estimates the difference the site's own programme
made over and above the national roll-out.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Registry, RegistryError, read_yaml
from evaluation.paths import DICTIONARY_DIR

NHS_TRUST = re.compile(r"^[RT][A-Z0-9]{2}$")
SYNTHETIC = re.compile(r"^ZC\d{2}$")
TRUST_TYPES = DICTIONARY_DIR / "trust_types.yaml"
#: One sentence for the methods page and beside every comparative result.
CMHF_CAVEAT = (
    "Every English mental health trust received Community Mental Health Framework funding from 2021/22, so "
    "the comparator trusts are less-treated, not untreated: a comparison estimates what the site's own "
    "programme added to the national roll-out, and is biased towards no difference."
)


@lru_cache(maxsize=4)
def mental_health_trusts(path: Path = TRUST_TYPES) -> dict[str, str]:
    """ODS code -> name of every mental health trust in the publisher's classification (trust_types.yaml)."""
    doc = read_yaml(path)
    items = doc.get("mental_health_trusts")
    if not isinstance(items, list) or not items:
        raise RegistryError(f"{path.name}: mental_health_trusts: expected a non-empty list")
    out = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
            raise RegistryError(f"{path.name}: mental_health_trusts.{i}: expected code and name")
        out[str(item["code"])] = str(item["name"])
    return out


def mental_health_providers(panel: pd.DataFrame) -> set[str]:
    """Organisations in the panel that are mental health trusts (or synthetic comparators)."""
    trusts = mental_health_trusts()
    return {str(o) for o in panel["org_code"].unique() if o in trusts or SYNTHETIC.match(str(o))}


def comparator_pool(
    panel: pd.DataFrame,
    registry: Registry,
    measure_id: str,
    site_code: str,
    *,
    min_coverage: float | None = None,
    period_type: str = "month",
) -> list[str]:
    """The comparator organisations for one site and measure under the documented rule, sorted."""
    if min_coverage is None:
        min_coverage = registry.analysis.comparators.min_coverage
    if not 0 <= min_coverage <= 1:
        raise ValueError(f"min_coverage must be between 0 and 1, got {min_coverage}")
    rows = panel[(panel["measure_id"] == measure_id) & (panel["period_type"] == period_type)
                 & panel["value"].notna()]
    site_months = set(rows.loc[rows["org_code"] == site_code, "period"])
    if not site_months:
        return []
    sites = {s.ods_code for s in registry.sites}
    trusts = mental_health_trusts()
    pool = []
    for org, group in rows.groupby("org_code", sort=True):
        if org == site_code or org in sites or not (org in trusts or SYNTHETIC.match(org)):
            continue
        coverage = len(site_months & set(group["period"])) / len(site_months)
        if coverage >= min_coverage:
            pool.append(str(org))
    return pool


def describe_pool(codes: list[str]) -> list[dict[str, str]]:
    """The pool as published on a site page: code and name (synthetic comparators named as such)."""
    trusts = mental_health_trusts()
    return [{"code": c, "name": trusts.get(c, "made-up comparator (synthetic data)" if SYNTHETIC.match(c) else c)}
            for c in codes]
