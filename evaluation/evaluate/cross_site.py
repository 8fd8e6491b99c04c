"""Cross-site synthesis: do the four sites agree?

For every measure analysed by interrupted time series, the sites' step changes (read from the results
files, never from a notebook) are pooled by random-effects meta-analysis; for each domain's headline
measure, the staggered-adoption difference-in-differences (Callaway & Sant'Anna) uses the panel, the sites'
go-live months and the comparator pool. Results go to ``<build>/synthesis/cross_site.json``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.methods.plain import json_safe
from evaluation.paths import build_folder
from evaluation.results import sentences
from evaluation.results.files import read_result, read_results, write_json
from evaluation.results.schema import DomainResult, Interval


def meta_by_measure(registry: Registry, results: list[DomainResult]) -> dict[str, dict]:
    """Random-effects meta-analysis of the sites' ITS step changes, per measure (enough sites: analysis.yaml)."""
    from evaluation.methods.synthesis import random_effects_meta

    out: dict[str, dict] = {}
    for measure in registry.measures:
        rows = [(r.site_name, m.its) for r in results for m in r.measures
                if m.measure_id == measure.id and m.its is not None]
        if len(rows) < registry.analysis.comparators.min_sites_for_pooling:
            continue
        rows.sort(key=lambda x: x[0])
        scale = rows[0][1].scale
        res = random_effects_meta(
            [its.step.estimate for _, its in rows],
            [its.step.ci_low for _, its in rows],
            [its.step.ci_high for _, its in rows],
            labels=[label for label, _ in rows],
            scale=scale,
            ses=[its.step.se_link for _, its in rows],
        )
        out[measure.id] = {"measure_id": measure.id, "name": measure.name, "domain": measure.domain,
                           **res.to_dict()}
    return out


def staggered_by_headline(registry: Registry, panel: pd.DataFrame, *, keep_outliers: bool = False,
                          min_coverage: float = 0.8) -> dict:
    """Staggered DiD across the sites for each domain's designated headline measure (where the data allow)."""
    from evaluation.evaluate.comparators import comparator_pool
    from evaluation.methods.comparative import staggered_from_panel
    from evaluation.panel.quality import OUTLIER_FLAG, has_flag

    data = panel if keep_outliers else panel[~has_flag(panel["quality_flags"], OUTLIER_FLAG)]
    out: dict[str, dict] = {}
    for domain in registry.domains:
        measure = registry.headline(domain.id)
        sites = {s.ods_code: s.intervention_date for s in registry.sites
                 if ((data["org_code"] == s.ods_code) & (data["measure_id"] == measure.id)).any()}
        if len(sites) < 2:
            out[measure.id] = {"status": "skipped", "reason": "fewer than two sites have this measure"}
            continue
        pool = sorted(set.intersection(*[set(comparator_pool(data, registry, measure.id, code,
                                                             min_coverage=min_coverage))
                                          for code in sites]))
        if len(pool) < registry.analysis.comparators.min_comparators:
            out[measure.id] = {"status": "skipped", "reason": f"only {len(pool)} comparators with enough data"}
            continue
        try:
            res = staggered_from_panel(data, measure_id=measure.id, sites=sites, comparator_orgs=pool,
                                       value_type=measure.value_type)
        except ValueError as exc:
            out[measure.id] = {"status": "skipped", "reason": str(exc).splitlines()[0]}
            continue
        res.pop("att_gt", None)  # the group-time table is long; the aggregations carry the findings
        event = res.get("event_time", {})
        if "by_event_time" in event:
            event["by_event_time"] = [e for e in event["by_event_time"] if -24 <= e["event_time"] <= 24]
        out[measure.id] = {"status": "ok", "measure_id": measure.id, "name": measure.name,
                           "n_comparators": len(pool), **_rounded(json_safe(res))}
    return out


def meta_sentence(meta: dict) -> str:
    """The sentence for one measure's meta-analysis (wording in :mod:`evaluation.results.sentences`)."""
    p = meta["pooled"]
    pi = meta.get("prediction_interval")
    return sentences.meta_sentence(meta["name"], meta["k"], meta["scale"],
                                   Interval(estimate=p["estimate"], ci_low=p["ci_low"], ci_high=p["ci_high"]),
                                   meta["heterogeneity"]["i2"], (pi["low"], pi["high"]) if pi else None)


def _rounded(obj):
    """Every float in a nested structure to 6 significant figures (stable JSON), non-finite to None."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


@dataclass
class CrossSiteRun:
    """The cross-site synthesis with what the notebook shows."""

    meta: dict[str, dict]
    staggered: dict[str, dict]
    data_source: str
    path: Path
    figures_dir: Path
    notes: list[str] = field(default_factory=list)

    def measure_html(self, measure_id: str) -> str:
        """Heading, sentence and forest plot for one measure."""
        from evaluation.publish import charts

        meta = self.meta[measure_id]
        sentence = meta_sentence(meta)
        fig = charts.forest_plot(meta, title=f"{meta['name']}: step change at go-live by site")
        charts.save_figure(fig, self.figures_dir / f"{measure_id}_forest")
        sites = ", ".join(s["label"] for s in meta.get("sites", []))  # alt text names the sites shown
        alt = (f"Forest plot of the step change in {meta['name'].lower()} at go-live for each site ({sites}) with "
               f"its 95% confidence interval, and the pooled random-effects estimate. {sentence}")
        return (f'<h3 id="meta-{measure_id.lower()}">{html.escape(meta["name"])}</h3><p>{html.escape(sentence)}</p>'
                + charts.figure_html(fig, alt, "Each site's step change (square, sized by weight) with its 95% "
                                              "interval; diamond: pooled estimate."))

    def staggered_html(self) -> str:
        """A table of the staggered difference-in-differences results per headline measure."""
        rows = []
        for mid, s in sorted(self.staggered.items()):
            if s.get("status") != "ok":
                rows.append(f"<tr><th scope='row'>{html.escape(mid)}</th><td colspan='3'>"
                            f"{html.escape(s.get('reason', ''))}</td></tr>")
                continue
            simple = s.get("simple", {})
            nat = simple.get("natural") or simple
            pre = s.get("pretrend", {})
            est = f"{nat['estimate']:.2f} ({nat['ci_low']:.2f} to {nat['ci_high']:.2f})"
            rows.append(f"<tr><th scope='row'>{html.escape(s['name'])}</th><td>{est}</td>"
                        f"<td>{s['n_comparators']}</td><td>{pre.get('p_value', float('nan')):.2f}</td></tr>")
        return ("<table class='table eval-table'><caption>Staggered difference-in-differences (Callaway and "
                "Sant'Anna): average effect after go-live across the sites, against never-treated comparator "
                "providers</caption><thead><tr><th scope='col'>Measure</th><th scope='col'>Average effect "
                "(95% CI), natural scale</th><th scope='col'>Comparators</th><th scope='col'>Pre-trend test "
                "p-value</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def run_cross_site(*, data_dir: str | Path | None = "", build_dir: str | Path = "build",
                   keep_outliers: bool = False, comparator_min_coverage: float = 0.8,
                   registry: Registry | None = None, results_files: list[str] | None = None) -> CrossSiteRun:
    """Pool the sites' results and run the staggered design; write ``<build>/synthesis/cross_site.json``.

    ``results_files`` are the results files to pool: the runner passes this run's successful ones (from its
    manifest), so a failed or older run's file is never pooled; without them (a notebook opened by hand) every
    results file under ``<build>/results`` is pooled."""
    from evaluation.evaluate.run import resolve_data_dir
    from evaluation.pipeline.cache import cached_panel
    from evaluation.sources import usable_rows

    registry = registry or default_registry()
    build = build_folder(build_dir)
    results = ([read_result(f) for f in sorted(results_files)] if results_files
               else read_results(build / "results"))
    folder, source = resolve_data_dir(data_dir, build)
    if any(r.data_source == "local" for r in results):  # a pooled site read a local extract (as the manifest says)
        source = "local"
    panel, reports = cached_panel(folder, build)
    panel = usable_rows(panel, reports)  # sites whose data were unusable have no results to pool anyway
    meta = meta_by_measure(registry, results)
    staggered = staggered_by_headline(registry, panel, keep_outliers=keep_outliers,
                                      min_coverage=comparator_min_coverage)
    data = {"data_source": source, "sites": sorted({r.site for r in results}),
            "meta_analysis": _rounded(meta), "staggered_did": staggered}
    path = write_json(data, build / "synthesis" / "cross_site.json")
    return CrossSiteRun(meta, staggered, source, path, build / "figures" / "cross_site")
