"""The computation a domain notebook runs, one call per step: load the site's panel, SPC, fit, compare, record.

``load_site_panel`` -> ``spc`` -> ``fit`` -> ``compare`` -> ``record`` (or :func:`run_domain` for all of them).
Presentation (notices, tables, charts) is in :mod:`evaluation.publish.notebook_view`. Everything here is tested
without a kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.evaluate.domain import DomainEvaluation, compare_with_pool, describe_domain, fit_domain
from evaluation.evaluate.record import domain_result
from evaluation.panel.frame import ReadReport
from evaluation.paths import build_folder
from evaluation.provenance import relative_path
from evaluation.results.files import write_result
from evaluation.results.schema import DomainResult

DEFAULT_SYNTHETIC_DIR = Path("build") / "data" / "synthetic"


def resolve_data_dir(data_dir: str | Path | list | None, build_dir: str | Path = "build") -> tuple[Path, str]:
    """The data folder and its source kind: a folder given by the user is 'published' unless it holds the
    synthetic generator's ``truth.json``; no folder means the embedded synthetic default (generated once).
    Several folders are joined under ``<build>/data/combined`` (:mod:`evaluation.sources.folders`)."""
    if isinstance(data_dir, list | tuple):
        from evaluation.sources.folders import one_folder

        data_dir = one_folder(data_dir, Path(build_dir) / "data" / "combined")
    if data_dir:
        path = Path(data_dir).resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"data directory {path} does not exist")
        return path, ("synthetic" if (path / "truth.json").is_file() else "published")
    path = build_folder(build_dir) / "data" / "synthetic"
    if not (path / "truth.json").is_file():
        from evaluation.demo.generator import generate

        generate(path)
    return path, "synthetic"


def _inputs_used(panel: pd.DataFrame, reports: list[ReadReport], org_code: str, measure_ids: list[str],
                 data_dir: Path) -> list[dict]:
    """The input files the site's rows came from, each with the digest of those rows (not of the whole file:
    the published files are national, and a site's results depend only on its own rows and the comparators';
    the whole files' SHA-256 are in the build's data log)."""
    from evaluation.pipeline.cache import frame_digest, site_rows

    rows = site_rows(panel, org_code, measure_ids)
    names = rows["source_file"].map(lambda p: Path(str(p)).name)
    inputs = []
    for r in reports:
        name = Path(r.path).name
        if (names == name).any():
            inputs.append({"path": relative_path(r.path, data_dir), "rows_sha256": frame_digest(rows[names == name]),
                           "layout": r.layout})
    return inputs


@dataclass
class SitePanel:
    """The measure panel as one site x domain's evaluation reads it, with where it came from."""

    registry: Registry
    site: str
    domain: str
    panel: pd.DataFrame
    reports: list[ReadReport]
    folder: Path
    source: str
    build_dir: Path


def load_site_panel(site: str, domain: str, *, data_dir: str | Path | None = "", build_dir: str | Path = "build",
                    registry: Registry | None = None) -> SitePanel:
    """Read (or reuse the cached) measure panel for a site x domain: the synthetic default if no folder is given."""
    from evaluation.pipeline.cache import cached_panel
    from evaluation.sources import usable_rows

    registry = registry or default_registry()
    registry.site(site)
    registry.domain(domain)
    build_dir = build_folder(build_dir)  # "build" in a notebook opened from notebooks/ is the repository's
    folder, source = resolve_data_dir(data_dir, build_dir)
    panel, reports = cached_panel(folder, build_dir)
    # An unusable input file stops this site only if it holds this site's rows for this domain.
    panel = usable_rows(panel, reports, registry.site(site).ods_code, [m.id for m in registry.measures_for(domain)])
    return SitePanel(registry, site, domain, panel, reports, folder, source, Path(build_dir))


def spc(data: SitePanel, *, intervention_date: str = "") -> DomainEvaluation:
    """Every measure of the domain at the site as a Making Data Count XmR chart, limits recalculated at go-live
    (the go-live month: ``intervention_date`` if given, else the registry's)."""
    return describe_domain(data.registry, data.panel, data.site, data.domain, intervention_date=intervention_date,
                           data_source=data.source)


def fit(data: SitePanel, ev: DomainEvaluation, *, keep_outliers: bool = False) -> DomainEvaluation:
    """The interrupted time series of every measure analysed by ITS (with placebo dates and the COVID-19
    sensitivity); ``ev`` is updated and returned."""
    return fit_domain(data.registry, ev, keep_outliers=keep_outliers)


def compare(data: SitePanel, ev: DomainEvaluation, *, keep_outliers: bool = False,
            min_coverage: float = 0.8) -> DomainEvaluation:
    """Compare the headline measure with the comparator pool (comparative ITS and synthetic control)."""
    head = ev.headline
    if head.status == "ok":
        head.comparative = compare_with_pool(data.registry, data.panel, ev.site, head.measure, ev.intervention_date,
                                             keep_outliers=keep_outliers, min_coverage=min_coverage)
    return ev


def record(data: SitePanel, ev: DomainEvaluation, *, keep_outliers: bool = False,
           comparator_min_coverage: float = 0.8) -> tuple[DomainResult, Path]:
    """The typed results, with data quality and inputs, written to ``<build>/results/<site>/<domain>.json``."""
    from evaluation.panel.quality import quality_summary

    measure_ids = [m.measure.id for m in ev.measures]
    quality = quality_summary(data.panel, data.reports, ev.site.ods_code, measure_ids, registry=data.registry)
    result = domain_result(
        ev, inputs=_inputs_used(data.panel, data.reports, ev.site.ods_code, measure_ids, data.folder),
        input_files=[{**f, "path": relative_path(f["path"], data.folder)} for f in quality["files"]],
        quality=quality["measures"], keep_outliers=keep_outliers, comparator_min_coverage=comparator_min_coverage)
    path = write_result(result, data.build_dir / "results" / ev.site.id / f"{ev.domain_id}.json")
    return result, path


@dataclass
class DomainRun:
    """A domain evaluated at a site: the evaluation objects (for charts), the typed results and the inputs read."""

    evaluation: DomainEvaluation
    result: DomainResult
    reports: list[ReadReport]
    results_path: Path
    figures_dir: Path


def run_domain(
    site: str,
    domain: str,
    *,
    data_dir: str | Path | None = "",
    intervention_date: str = "",
    build_dir: str | Path = "build",
    keep_outliers: bool = False,
    comparator_min_coverage: float = 0.8,
    registry: Registry | None = None,
) -> DomainRun:
    """Every step for one site x domain; writes ``<build>/results/<site>/<domain>.json``."""
    build_dir = build_folder(build_dir)  # "build" in a notebook opened from notebooks/ is the repository's
    data = load_site_panel(site, domain, data_dir=data_dir, build_dir=build_dir, registry=registry)
    ev = fit(data, spc(data, intervention_date=intervention_date), keep_outliers=keep_outliers)
    compare(data, ev, keep_outliers=keep_outliers, min_coverage=comparator_min_coverage)
    result, path = record(data, ev, keep_outliers=keep_outliers, comparator_min_coverage=comparator_min_coverage)
    return DomainRun(ev, result, data.reports, path, Path(build_dir) / "figures" / site / domain)
