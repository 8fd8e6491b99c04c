"""What ``run`` will be able to estimate, per site x domain x measure, told before it runs.

``validate`` prints this report and ``run`` checks its parameters against it, so the two agree: a measure is
"estimable" only when the interrupted time series will be fitted (at least ``its.min_pre_months`` usable
months before go-live and ``its.min_post_months`` after, outlier months left out as the model leaves them
out), "described" when it has data but is described only (a rolling or short series, or too few months
either side, or a degenerate series), and "not in data" when the files hold nothing for it. A site whose
go-live falls outside its data is reported, never a reason to refuse the whole folder. With
``baseline_after_shift`` the months before a series' latest level shift before go-live are left out, as ``run``
leaves them out with ``--baseline-after-shift``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from evaluation.dictionary.registry import NO_GO_LIVE, Registry, Site
from evaluation.panel.frame import monthly_series
from evaluation.panel.quality import LevelShift, baseline_shifts, exclude_outliers

ESTIMABLE = "estimable"
DESCRIBED = "described"
NOT_IN_DATA = "not in data"


@dataclass(frozen=True)
class Estimability:
    """One site x domain x measure: whether ``run`` will estimate it, and why not."""

    site_id: str
    ods_code: str
    domain_id: str
    measure_id: str
    go_live: dt.date
    n_pre: int
    n_post: int
    first: str | None
    last: str | None
    status: str
    reason: str

    def line(self) -> str:
        span = f"{self.first} to {self.last}" if self.first else "no rows"
        why = f" ({self.reason})" if self.reason else ""
        return (f"{self.site_id} {self.domain_id} {self.measure_id}: {self.status}; go-live {self.go_live:%Y-%m}, "
                f"{self.n_pre} month(s) before, {self.n_post} after; data {span}{why}")


def _go_live(site: Site, override: dt.date | None) -> dt.date | None:
    if override is not None:
        return override
    return None if site.intervention_date == NO_GO_LIVE else site.intervention_date


def measure_estimability(registry: Registry, panel: pd.DataFrame, site: Site, measure_id: str,
                         go_live: dt.date, *, keep_outliers: bool = False,
                         shift: LevelShift | None = None) -> Estimability:
    """Estimability of one measure at one site (the rule of :func:`evaluation.evaluate.domain.evaluate_measure`);
    ``shift``: the level shift the baseline starts after, if the run is asked to."""
    from evaluation.evaluate.domain import degenerate_series_reason

    m = registry.measure(measure_id)
    facts = registry.analysis.its
    series = monthly_series(panel, site.ods_code, m.id, m.period_type)
    if shift is not None and len(series):
        series = series[series["period"] >= shift.month]
    usable = series[series["value"].notna()] if len(series) else series
    if not keep_outliers and len(usable):
        usable, _ = exclude_outliers(usable)
    when = pd.Timestamp(go_live)
    n_pre = int((usable["period"] < when).sum()) if len(usable) else 0
    n_post = int((usable["period"] >= when).sum()) if len(usable) else 0
    first = f"{series['period'].min():%Y-%m}" if len(series) else None
    last = f"{series['period'].max():%Y-%m}" if len(series) else None
    base = dict(site_id=site.id, ods_code=site.ods_code, domain_id=m.domain, measure_id=m.id, go_live=go_live,
                n_pre=n_pre, n_post=n_post, first=first, last=last)
    if usable.empty:
        why = "not in these files" if series.empty else "every value suppressed or missing"
        if m.availability and series.empty:
            why += f"; {m.availability.strip()}"
        return Estimability(**base, status=NOT_IN_DATA, reason=why)
    if m.analysis != "its":
        return Estimability(**base, status=DESCRIBED, reason="described only (SPC), by design of the measure")
    if n_pre < facts.min_pre_months or n_post < facts.min_post_months:
        where = "go-live after the data ends" if n_post == 0 else (
            "go-live before the data starts" if n_pre == 0 else "too few months")
        return Estimability(**base, status=DESCRIBED, reason=(
            f"{where}: the time series model needs at least {facts.min_pre_months} before and "
            f"{facts.min_post_months} after"))
    degenerate = degenerate_series_reason(usable, when)
    if degenerate:
        return Estimability(**base, status=DESCRIBED, reason=degenerate)
    return Estimability(**base, status=ESTIMABLE, reason="")


def estimability(registry: Registry, panel: pd.DataFrame, *, sites: list[str] | None = None,
                 domains: list[str] | None = None, intervention: dt.date | None = None,
                 keep_outliers: bool = False, baseline_after_shift: bool = False) -> list[Estimability]:
    """Every site x domain x measure of the run, in registry order."""
    out = []
    for site_id in sites or registry.site_ids:
        site = registry.site(site_id)
        when = _go_live(site, intervention)
        if when is None:
            continue
        # The site's rows once, not the whole panel filtered again for each measure (the real folder's panel
        # holds every provider in England).
        site_panel = panel[panel["org_code"] == site.ods_code]
        for domain_id in domains or registry.domain_ids:
            ids = [m.id for m in registry.measures_for(domain_id)]
            # Every provider's rows: a level shift is judged against the national movement.
            shifts = (baseline_shifts(panel[panel["measure_id"].isin(ids)], site.ods_code, ids, pd.Timestamp(when),
                                      registry=registry) if baseline_after_shift else {})
            for m in registry.measures_for(domain_id):
                shift = shifts.get(m.id) if m.period_type == "month" else None
                out.append(measure_estimability(registry, site_panel, site, m.id, when, keep_outliers=keep_outliers,
                                                shift=shift))
    return out


def summary_lines(rows: list[Estimability]) -> list[str]:
    """Per site x domain: the measures ``run`` will estimate, or that none will be and why; then the domains
    empty at every site."""
    lines = []
    pairs: dict[tuple[str, str], list[Estimability]] = {}
    for r in rows:
        pairs.setdefault((r.site_id, r.domain_id), []).append(r)
    for (site_id, domain_id), items in pairs.items():
        est = [r for r in items if r.status == ESTIMABLE]
        if est:
            shown = ", ".join(f"{r.measure_id} ({r.n_pre} before / {r.n_post} after)" for r in est)
            lines.append(f"{site_id} / {domain_id}: estimable -- {shown}")
        else:
            described = [r.measure_id for r in items if r.status == DESCRIBED]
            extra = f"; described only: {', '.join(described)}" if described else ""
            lines.append(f"{site_id} / {domain_id}: NOT ESTIMABLE (go-live {items[0].go_live:%Y-%m}){extra}")
    for domain_id in dict.fromkeys(r.domain_id for r in rows):
        if all(r.status == NOT_IN_DATA for r in rows if r.domain_id == domain_id):
            lines.append(f"{domain_id}: no data at any site in these files")
    return lines
