"""Cross-site synthesis: do the four sites agree?

For every measure analysed by interrupted time series, the sites' step changes (read from the results
files, never from a notebook) are pooled by random-effects meta-analysis; for each domain's headline
measure, the staggered-adoption difference-in-differences (Callaway & Sant'Anna) uses the panel, the sites'
go-live months and the comparator pool. Results go to ``<build>/synthesis/cross_site.json`` as a
:class:`~evaluation.results.schema.CrossSiteResult`; :mod:`evaluation.publish.cross_site_view` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.methods.plain import json_safe
from evaluation.paths import build_folder
from evaluation.results import sentences
from evaluation.results.files import read_result, read_results, write_cross_site
from evaluation.results.schema import CrossSiteResult, DomainResult, MetaAnalysis, StaggeredDiD


def meta_by_measure(registry: Registry, results: list[DomainResult]) -> dict[str, MetaAnalysis]:
    """Random-effects meta-analysis of the sites' ITS step changes, per measure (enough sites: analysis.yaml)."""
    from evaluation.methods.synthesis import random_effects_meta

    out: dict[str, MetaAnalysis] = {}
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
        meta = MetaAnalysis.model_validate({"measure_id": measure.id, "name": measure.name, "domain": measure.domain,
                                            "value_type": measure.value_type, **res.to_dict()})
        out[measure.id] = meta.model_copy(update={"sentence": sentences.meta_sentence(meta)})
    return out


def staggered_by_headline(registry: Registry, panel: pd.DataFrame, *, keep_outliers: bool = False,
                          min_coverage: float = 0.8) -> dict[str, StaggeredDiD]:
    """Staggered DiD across the sites for each domain's designated headline measure (where the data allow)."""
    from evaluation.evaluate.comparators import comparator_pool
    from evaluation.methods.comparative import staggered_from_panel
    from evaluation.panel.quality import OUTLIER_FLAG, has_flag

    data = panel if keep_outliers else panel[~has_flag(panel["quality_flags"], OUTLIER_FLAG)]
    out: dict[str, StaggeredDiD] = {}
    for domain in registry.domains:
        measure = registry.headline(domain.id)
        sites = {s.ods_code: s.intervention_date for s in registry.sites
                 if ((data["org_code"] == s.ods_code) & (data["measure_id"] == measure.id)).any()}
        if len(sites) < 2:
            out[measure.id] = StaggeredDiD(status="skipped", reason="fewer than two sites have this measure")
            continue
        pool = sorted(set.intersection(*[set(comparator_pool(data, registry, measure.id, code,
                                                             min_coverage=min_coverage))
                                          for code in sites]))
        if len(pool) < registry.analysis.comparators.min_comparators:
            out[measure.id] = StaggeredDiD(status="skipped", reason=f"only {len(pool)} comparators with enough data")
            continue
        try:
            res = staggered_from_panel(data, measure_id=measure.id, sites=sites, comparator_orgs=pool,
                                       value_type=measure.value_type)
        except ValueError as exc:
            out[measure.id] = StaggeredDiD(status="skipped", reason=str(exc).splitlines()[0])
            continue
        res.pop("att_gt", None)  # the group-time table is long; the aggregations carry the findings
        event = res.get("event_time", {})
        if "by_event_time" in event:
            event["by_event_time"] = [e for e in event["by_event_time"] if -24 <= e["event_time"] <= 24]
        out[measure.id] = StaggeredDiD.model_validate({**json_safe(res), "status": "ok", "measure_id": measure.id,
                                                       "name": measure.name, "n_comparators": len(pool)})
    return out


@dataclass
class CrossSiteRun:
    """The cross-site synthesis as written to ``cross_site.json``, with where its charts go."""

    result: CrossSiteResult
    path: Path
    figures_dir: Path


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
    panel, reports = cached_panel(folder, build)
    panel = usable_rows(panel, reports)  # sites whose data were unusable have no results to pool anyway
    meta = meta_by_measure(registry, results)
    staggered = staggered_by_headline(registry, panel, keep_outliers=keep_outliers,
                                      min_coverage=comparator_min_coverage)
    result = CrossSiteResult(data_source=source, sites=sorted({r.site for r in results}), meta_analysis=meta,
                             staggered_did=staggered)
    path = write_cross_site(result, build / "synthesis" / "cross_site.json")
    return CrossSiteRun(result, path, build / "figures" / "cross_site")
