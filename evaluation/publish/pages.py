"""Assemble the Sphinx sources: executed notebooks, site pages, the overview and the data dictionary.

Everything is generated into ``docs/_generated`` (git-ignored) from the registry, the results files and
the run status, so the site never depends on a notebook's internals and the data dictionary is rendered
from ``data_dictionary/`` rather than copied.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

from evaluation.dictionary.registry import Registry, default_registry, organisation_code
from evaluation.publish.cards import (
    assurance_html,
    estimate_text,
    failed_html,
    finding_html,
    first_line,
    headline,
    variation_html,
)
from evaluation.publish.disclosure import rules_fragment
from evaluation.publish.downloads import write_results_csvs
from evaluation.publish.easy_read import easy_read_page
from evaluation.publish.templates import render
from evaluation.results.files import read_result

PACKAGES = ("pandas", "numpy", "statsmodels", "matplotlib", "papermill", "myst-nb", "sphinx")


# What the page templates call to show a finding (evaluation/publish/cards.py): passed in with every page's values.
CARD_HELPERS = {"headline": headline, "estimate_text": estimate_text, "finding_html": finding_html,
                "failed_html": failed_html, "first_line": first_line, "variation_html": variation_html,
                "assurance_html": assurance_html}


def _page(template: str, **values: object) -> str:
    """Render a page template (``evaluation/publish/templates/``) with the card helpers."""
    return str(render(template, **CARD_HELPERS, **values))


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def evaluated_sites(registry: Registry, status: dict, results: list[dict]) -> list:
    """The registry's sites, then any other organisation evaluated in this build (``org_<code>``, from
    ``--sites all``), in id order."""
    ids = {o["site"] for o in status.get("outcomes", [])} | {r.site for r in results}
    extra = sorted(i for i in ids if i not in registry.site_ids and organisation_code(i))
    return [*registry.sites, *(registry.site(i) for i in extra)]


def _failed(status: dict) -> dict[tuple[str, str], dict]:
    """Failed site x domain outcomes from run_status.json, by (site, domain)."""
    return {(o["site"], o["domain"]): o for o in status.get("outcomes", []) if not o["ok"]}


def overview_fragment(registry: Registry, results: list[dict], status: dict, cross_site: bool = False) -> str:
    """The overview, finding first: per site a heading and per domain its headline sentence, interval in words,
    Making Data Count icons and a link to the detail; then a compact summary table and the site toctree."""
    by_key = {(r.site, r.domain): r for r in results}
    failed = _failed(status)
    shown = [s for s in evaluated_sites(registry, status, results)
             if any((s.id, d) in failed or (s.id, d) in by_key for d in registry.domain_ids)]
    rows = [{"site": s, "domain": d, "failure": failed.get((s.id, d.id)), "result": by_key.get((s.id, d.id))}
            for s in shown for d in registry.domains if (s.id, d.id) in failed or (s.id, d.id) in by_key]
    return _page("overview.md.j2", sites=shown, domains=registry.domains, by_key=by_key, failed=failed, rows=rows,
                 cross_site=cross_site)


FIGURE_KINDS = {"spc": "SPC (XmR) chart", "its": "Interrupted time series chart",
                "synthetic_control": "Synthetic control chart"}


def _charts(stems: list[str], names: dict[str, str]) -> list[dict[str, str]]:
    """Each saved figure's file stem with its label ("<measure name>: <kind of chart>")."""
    charts = []
    for stem in stems:
        kind = next((k for k in sorted(FIGURE_KINDS, key=len, reverse=True) if stem.endswith("_" + k)), "")
        mid = stem[: -len(kind) - 1] if kind else stem
        charts.append({"stem": stem, "label": f"{names.get(mid, mid)}: {FIGURE_KINDS.get(kind, 'chart')}"})
    return charts


def site_page(registry: Registry, site_id: str, results: list[dict], status: dict, notebooks: list[str],
              figures: dict[str, list[str]] | None = None) -> str:
    """A site's page: programme, milestones, findings first in words, other versions and downloads.

    ``figures`` maps a domain to the figure stems copied beside the page (``figures/<domain>/<stem>.png|svg``).
    """
    by_domain = {r.domain: r for r in results if r.site == site_id}
    failed = {d: o for (s, d), o in _failed(status).items() if s == site_id}
    names = {m.measure_id: m.name for r in by_domain.values() for m in r.measures}
    charts = {d: _charts(stems, names) for d, stems in (figures or {}).items() if stems}
    return _page("site.md.j2", site=registry.site(site_id), domains=registry.domains, by_domain=by_domain,
                 failed=failed, notebooks=notebooks, figures=charts)


def _caveats(site_id: str, results: list[dict]) -> list[str]:
    """Each headline measure's own caveats for a site's summary, once each (the template adds the design's and
    the go-live date's)."""
    out: list[str] = []
    seen: set[str] = set()
    for r in sorted((r for r in results if r.site == site_id), key=lambda r: r.domain):
        m = headline(r)
        for c in m.caveats:
            text = f"{m.name}: {c}"
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def summary_page(registry: Registry, site_id: str, results: list[dict], status: dict, info: dict,
                 file_hashes: dict[str, str] | None = None) -> str:
    """A one-page printable summary for committee packs: findings, intervals, icons, caveats, provenance."""
    by_domain = {r.domain: r for r in results if r.site == site_id}
    failed = {d: o for (s, d), o in _failed(status).items() if s == site_id}
    inputs: dict[str, str] = {}
    params: set[str] = set()
    for r in by_domain.values():
        # Whole-file SHA-256 from the build's data log (results record the digest of the site's own rows).
        inputs.update({i.path: (file_hashes or {}).get(i.path) or i.rows_sha256 for i in r.inputs})
        params.add(f"go-live {r.intervention_date:%Y-%m}; outliers "
                   f"{'kept' if r.parameters.keep_outliers else 'left out of models'}; comparator coverage "
                   f"{r.parameters.comparator_min_coverage}")
    return _page("summary.md.j2", site=registry.site(site_id), domains=registry.domains, by_domain=by_domain,
                 failed=failed, caveats=_caveats(site_id, results), inputs=sorted(inputs.items()),
                 parameters=sorted(params), info=info)


def data_quality_page(registry: Registry, site_id: str, results: list[dict]) -> str:
    """A site's data quality: months present and missing, suppression, outliers, period types, row accounting."""
    files: dict[str, dict] = {}
    measures = []
    for r in sorted((r for r in results if r.site == site_id), key=lambda r: r.domain):
        measures += r.measures
        files.update({f.path: f for f in r.input_files})
    return _page("data_quality.md.j2", site=registry.site(site_id), measures=measures,
                 files=[files[p] for p in sorted(files)])


def data_dictionary_fragment(registry: Registry) -> str:
    """The data dictionary rendered from ``data_dictionary/``."""
    return _page("data_dictionary.md.j2", domains=registry.domains, measures_for=registry.measures_for,
                 sites=registry.sites, layouts=registry.layouts)


def assumptions_fragment(registry: Registry) -> str:
    """The per-site go-live assumptions, from the registry."""
    return _page("assumptions.md.j2", sites=registry.sites)


def assemble(build_dir: str | Path = "build", docs_dir: str | Path = "docs", registry: Registry | None = None,
             run: dict | None = None) -> dict:
    """Write ``docs/_generated`` from the build folder and one run; return a summary.

    ``run`` is the run manifest in page form (``evaluation.pipeline.manifest.published_run``): its outcomes,
    data source and the results files of its successful analyses. Only those files are read, never every file
    under ``results/``, so a site shows exactly one run; a failed or missing analysis is shown as failed.
    """
    if run is None:
        raise ValueError("assemble needs a run (the build folder's run manifest); use `evaluation assemble`")
    registry = registry or default_registry()
    build = Path(build_dir)
    target = Path(docs_dir) / "_generated"
    build.mkdir(parents=True, exist_ok=True)
    # Written to a staging folder, then only changed files are copied over, so Sphinx's incremental build
    # re-reads only the pages whose sources changed.
    generated = Path(tempfile.mkdtemp(prefix="site-staging-", dir=build))
    try:
        info = _assemble_into(generated, build, registry, run)
        changed = sync_tree(generated, target)
    finally:
        shutil.rmtree(generated, ignore_errors=True)
    return {"generated": str(target), "changed_files": changed, **info}


def sync_tree(src: Path, dst: Path) -> int:
    """Make ``dst`` hold exactly the files of ``src``, writing only files whose bytes differ (so their
    modification times stay put otherwise); return how many files were written or removed."""
    changed = 0
    wanted = {p.relative_to(src) for p in src.rglob("*") if p.is_file()}
    if dst.exists():
        for p in sorted(dst.rglob("*"), reverse=True):
            rel = p.relative_to(dst)
            if p.is_file() and rel not in wanted:
                p.unlink()
                changed += 1
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    for rel in sorted(wanted):
        a, b = src / rel, dst / rel
        data = a.read_bytes()
        if b.is_file() and b.read_bytes() == data:
            continue
        b.parent.mkdir(parents=True, exist_ok=True)
        b.write_bytes(data)
        changed += 1
    return changed


def _results_time(build: Path) -> str:
    """When the newest results file was written: the provenance stamp moves only when results do (a
    no-change rebuild keeps it, so Sphinx need not rewrite every page). SOURCE_DATE_EPOCH wins if set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        when = dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    else:
        stamps = [p.stat().st_mtime for p in (build / "results").rglob("*.json")]
        when = dt.datetime.fromtimestamp(max(stamps), dt.UTC) if stamps else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def data_log_fragment(build: Path) -> str:
    """Every input file of the build with its layout, SHA-256 and row accounting (``<build>/data_log.json``)."""
    path = build / "data_log.json"
    files = json.loads(path.read_text(encoding="utf-8")).get("files", []) if path.is_file() else None
    return _page("data_log.md.j2", files=files)


def _assemble_into(generated: Path, build: Path, registry: Registry, status: dict) -> dict:
    """Write every generated source into ``generated`` (an empty folder) from one run's ``status``."""
    (generated / "fragments").mkdir(parents=True)
    results = [read_result(build / f) for f in status["results_files"]]
    ok = {(o["site"], o["domain"]) for o in status.get("outcomes", []) if o["ok"]}
    failed = _failed(status)
    info = {
        "data_source": status["data_source"],
        "data_dir": Path(status.get("data_dir", "")).name,
        "commit": _commit(),
        "built_at": _results_time(build),
        "packages": _versions(),
        "sites": [],
        "failed": [f"{o['site']}/{o['domain']}" for o in status.get("outcomes", []) if not o["ok"]],
    }
    log = build / "data_log.json"
    file_hashes = ({f["path"]: f["sha256"] for f in json.loads(log.read_text(encoding="utf-8"))["files"]}
                   if log.is_file() else {})
    # Downloads carry only the results of analyses that ran: a failed site x domain's old file is left out.
    published = [r for r in results if (r.site, r.domain) not in failed]
    write_results_csvs(published, generated / "downloads")
    n_notebooks = 0
    for site in evaluated_sites(registry, status, results):
        notebooks = []
        figures: dict[str, list[str]] = {}
        for domain in registry.domains:
            src = build / "notebooks" / site.id / f"{domain.id}.ipynb"
            if (site.id, domain.id) in ok and src.is_file():
                dst = generated / "sites" / site.id / f"{domain.id}.ipynb"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                notebooks.append(domain.id)
                n_notebooks += 1
                fig_src = build / "figures" / site.id / domain.id
                if fig_src.is_dir():
                    shutil.copytree(fig_src, dst.parent / "figures" / domain.id)
                    # a chart is offered only when both of its formats were saved
                    figures[domain.id] = sorted({p.stem for p in fig_src.glob("*.png")
                                                 if p.with_suffix(".svg").is_file()})
        touched = any(o["site"] == site.id for o in status.get("outcomes", []))
        if touched:
            page = generated / "sites" / site.id / "index.md"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(site_page(registry, site.id, published, status,
                                      [*notebooks, "easy_read", "summary", "data_quality"], figures),
                            encoding="utf-8")
            (page.parent / "data_quality.md").write_text(data_quality_page(registry, site.id, published),
                                                         encoding="utf-8")
            failed_here = {d: o.get("error", "") for (s, d), o in failed.items() if s == site.id}
            (page.parent / "easy_read.md").write_text(
                easy_read_page(registry, site.id, published, failed_here, info["data_source"] == "synthetic"),
                encoding="utf-8")
            (page.parent / "summary.md").write_text(summary_page(registry, site.id, published, status, info,
                                                                file_hashes),
                                                encoding="utf-8")
            info["sites"].append(site.id)
    (generated / "build_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    cross = build / "notebooks" / "all" / "cross_site.ipynb"
    has_cross = ("all", "cross_site") in ok and cross.is_file()
    if has_cross:
        shutil.copyfile(cross, generated / "cross_site.ipynb")
        n_notebooks += 1
    frag = generated / "fragments"
    (frag / "overview.md").write_text(overview_fragment(registry, published, status, has_cross), encoding="utf-8")
    (frag / "data_dictionary.md").write_text(data_dictionary_fragment(registry), encoding="utf-8")
    (frag / "assumptions_sites.md").write_text(assumptions_fragment(registry), encoding="utf-8")
    (frag / "disclosure_rules.md").write_text(rules_fragment(), encoding="utf-8")
    (frag / "data_log.md").write_text(data_log_fragment(build), encoding="utf-8")
    return {"n_notebooks": n_notebooks, **info}
