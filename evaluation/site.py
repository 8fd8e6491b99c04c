"""Assemble the Sphinx sources: executed notebooks, site pages, the overview and the data dictionary.

Everything is generated into ``docs/_generated`` (git-ignored) from the registry, the results files and
the run status, so the site never depends on a notebook's internals and the data dictionary is rendered
from ``data_dictionary/`` rather than copied.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from evaluation.disclosure import rules_fragment
from evaluation.registry import Registry, default_registry
from evaluation.report import read_results

PACKAGES = ("pandas", "numpy", "statsmodels", "matplotlib", "papermill", "myst-nb", "sphinx")


def _esc(text: object) -> str:
    """Make text safe inside a MyST pipe table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


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


def overview_fragment(registry: Registry, results: list[dict], status: dict, cross_site: bool = False) -> str:
    """The overview: one row per site x domain with the headline finding, then the site toctree."""
    by_key = {(r["site"], r["domain"]): r for r in results}
    failed = {(o["site"], o["domain"]): o for o in status.get("outcomes", []) if not o["ok"]}
    lines = [
        "| Site | Domain | Headline measure | Step change (95% CI) | Reading | Finding |",
        "|---|---|---|---|---|---|",
    ]
    for site in registry.sites:
        for domain in registry.domains:
            key = (site.id, domain.id)
            link = f"{{doc}}`{_esc(domain.name)} <_generated/sites/{site.id}/{domain.id}>`"
            if key in failed:
                lines.append(f"| {_esc(site.name)} | {_esc(domain.name)} | - | - | failed | "
                             f"The analysis did not run: {_esc(failed[key]['error'])} |")
                continue
            res = by_key.get(key)
            if res is None:
                continue
            head = next(m for m in res["measures"] if m["headline"])
            its = head.get("its")
            if its:
                s = its["step"]
                scale = its["scale"].replace("_", " ")
                estimate = f"{scale} {s['estimate']:.2f} ({s['ci_low']:.2f} to {s['ci_high']:.2f})"
            else:
                estimate = "not estimated"
            lines.append(f"| {_esc(site.name)} | {link} | {_esc(head['name'])} | {estimate} | "
                         f"{_esc(head['direction'])} | {_esc(head['summary'])} |")
    toctree = ["", "```{toctree}", ":maxdepth: 2", ":caption: Sites", ""]
    toctree += [f"_generated/sites/{s.id}/index" for s in registry.sites
                if any((s.id, d) in failed or (s.id, d) in by_key for d in registry.domain_ids)]
    if cross_site:
        toctree += ["```", "", "```{toctree}", ":maxdepth: 1", ":caption: Across the sites", "",
                    "_generated/cross_site"]
    toctree += ["```", ""]
    return "\n".join(lines) + "\n" + "\n".join(toctree)


def site_page(registry: Registry, site_id: str, results: list[dict], status: dict, notebooks: list[str]) -> str:
    """A site's page: the programme in brief, its milestones, headline findings and the domain pages."""
    site = registry.site(site_id)
    out = [f"# {site.name}", ""]
    out += [
        f"**Provider:** {site.provider_name} (ODS code {site.ods_code})  ",
        f"**Programme:** {site.programme}  ",
        f"**Go-live used by this evaluation:** {site.intervention_label}, {site.intervention_date:%B %Y}"
        + (" (an assumption)" if site.intervention_is_assumption else " (stated in the programme documents)"),
        "",
        f"Why this date: {site.intervention_reasoning}",
        "",
        "## Timeline",
        "",
        "| When | What the documents say | Source |",
        "|---|---|---|",
    ]
    fmt = {"day": "%d %B %Y", "month": "%B %Y", "quarter": "%B %Y (approximate)", "year": "%Y"}
    for ms in sorted(site.milestones, key=lambda m: m.date):
        out.append(f"| {ms.date.strftime(fmt[ms.precision])} | {_esc(ms.event)} | {_esc(ms.source)} |")
    if site.notes:
        out += ["", "Notes from the documents:", ""] + [f"- {n}" for n in site.notes]
    out += ["", "## Findings", ""]
    by_domain = {r["domain"]: r for r in results if r["site"] == site_id}
    failed = {o["domain"]: o for o in status.get("outcomes", []) if o["site"] == site_id and not o["ok"]}
    for domain in registry.domains:
        if domain.id in failed:
            o = failed[domain.id]
            out += [
                f"- **{domain.name}**: the analysis failed ({_esc(o['error'])}). To reproduce: "
                f"`evaluation run --site {site_id} --domain {domain.id}`.",
            ]
        elif domain.id in by_domain:
            head = next(m for m in by_domain[domain.id]["measures"] if m["headline"])
            out.append(f"- **{domain.name}**: {head['summary']} "
                       f"({{doc}}`{domain.name.lower()}: details <{domain.id}>`)")
    out += ["", "What the input files hold for this site, and what was done with every row: "
            "{doc}`data quality <data_quality>`."]
    out += ["", "```{toctree}", ":maxdepth: 1", ":hidden:", ""] + notebooks + ["```", ""]
    return "\n".join(out)


def _months_text(months: list[str], limit: int = 12) -> str:
    if not months:
        return "none"
    shown = ", ".join(months[:limit])
    return shown + (f" and {len(months) - limit} more" if len(months) > limit else "")


def data_quality_page(registry: Registry, site_id: str, results: list[dict]) -> str:
    """A site's data quality: months present and missing, suppression, outliers, period types, row accounting."""
    site = registry.site(site_id)
    out = [f"# Data quality: {site.name}", "",
           f"What the input files hold for {site.provider_name} ({site.ods_code}), measure by measure, and what "
           "the readers did with every row. Months flagged as out of line with their neighbours (a likely "
           "incomplete submission) stay on the charts but are left out of the models unless the run keeps them.",
           "", "## Measures", "",
           "| Measure | Period types (rows) | First | Last | Months | Missing months | Suppressed | Outlier months "
           "| Provisional months |",
           "|---|---|---|---|---|---|---|---|---|"]
    files: dict[str, dict] = {}
    for r in sorted((r for r in results if r["site"] == site_id), key=lambda r: r["domain"]):
        for m in r["measures"]:
            q = m.get("data_quality")
            if not q or not q.get("months_present"):
                out.append(f"| {_esc(m['name'])} | - | - | - | 0 | - | - | - | - |")
                continue
            types = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(q.get("period_types", {}).items()))
            out.append(
                f"| {_esc(m['name'])} | {_esc(types)} | {q['first_month']} | {q['last_month']} "
                f"| {q['months_present']} | {_esc(_months_text(q['missing_months']))} "
                f"| {q['share_suppressed']:.0%} | {_esc(_months_text(q['outlier_months']))} "
                f"| {_esc(_months_text(q['provisional_months']))} |")
        for f in r.get("input_files", []):
            files[f["path"]] = f
    out += ["", "## Row accounting", "",
            "Every input file: rows read = rows kept + rows set aside, with the reasons.", "",
            "| File | Layout | Read | Kept | Set aside | Reasons |", "|---|---|---|---|---|---|"]
    for path in sorted(files):
        f = files[path]
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted(f["rejected"].items())) or "-"
        out.append(f"| `{_esc(path)}` | {f['layout']} | {f['rows_read']} | {f['rows_kept']} | {f['rows_rejected']} "
                   f"| {_esc(reasons)} |")
    return "\n".join(out) + "\n"


def data_dictionary_fragment(registry: Registry) -> str:
    """The data dictionary rendered from ``data_dictionary/``."""
    out = []
    for domain in registry.domains:
        out += [f"## {domain.name}", "", domain.question, ""]
        for m in registry.measures_for(domain.id):
            head = " (headline measure)" if m.headline else ""
            out += [
                f"### {m.name}{head}",
                "",
                m.definition,
                "",
                "| Field | Value |",
                "|---|---|",
                f"| Id | `{m.id}` |",
                f"| Numerator | {_esc(m.numerator)} |",
                f"| Denominator | {_esc(m.denominator or '-')} |",
                f"| Unit | {_esc(m.unit)} |",
                f"| Value type | {m.value_type} |",
                f"| Direction of improvement | {m.direction} |",
                f"| Period | {m.period_type.replace('_', ' ')} |",
                f"| Analysis | {'SPC and interrupted time series' if m.analysis == 'its' else 'SPC and description'} |",
                f"| Source | {_esc(m.source_publication)} |",
                f"| Source measure id | {_esc(m.source_measure_id)} |",
                f"| Input layout | `{m.layout}` |",
                "",
            ]
    out += ["## Sites", "", "| Site | Provider | ODS code | Programme | Go-live used | Assumption? |",
            "|---|---|---|---|---|---|"]
    for s in registry.sites:
        out.append(f"| {_esc(s.name)} | {_esc(s.provider_name)} | {s.ods_code} | {_esc(s.programme)} | "
                   f"{s.intervention_date:%B %Y} | {'yes' if s.intervention_is_assumption else 'no'} |")
    out += ["", "## Input layouts", ""]
    for lay in registry.layouts:
        out += [f"### {lay.name} (`{lay.id}`)", "", f"Publisher: {lay.publisher}.", "", lay.description, "",
                "| Column | Type | Required | Meaning |", "|---|---|---|---|"]
        for c in lay.columns:
            out.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | {_esc(c.description)} |")
        out.append("")
    return "\n".join(out)


def assumptions_fragment(registry: Registry) -> str:
    """The per-site go-live assumptions, from the registry."""
    out = ["| Site | Go-live used | Stated or assumed | Reasoning |", "|---|---|---|---|"]
    for s in registry.sites:
        out.append(f"| {_esc(s.name)} | {s.intervention_date:%B %Y} | "
                   f"{'assumed' if s.intervention_is_assumption else 'stated'} | {_esc(s.intervention_reasoning)} |")
    return "\n".join(out) + "\n"


def assemble(build_dir: str | Path = "build", docs_dir: str | Path = "docs", registry: Registry | None = None) -> dict:
    """Write ``docs/_generated`` from the build folder; return a summary."""
    registry = registry or default_registry()
    build = Path(build_dir)
    generated = Path(docs_dir) / "_generated"
    if generated.exists():
        shutil.rmtree(generated)
    (generated / "fragments").mkdir(parents=True)
    status_path = build / "run_status.json"
    status = json.loads(status_path.read_text(encoding="utf-8")) if status_path.is_file() else {"outcomes": []}
    results = read_results(build / "results")
    ok = {(o["site"], o["domain"]) for o in status.get("outcomes", []) if o["ok"]}
    n_notebooks = 0
    sites_with_pages = []
    for site in registry.sites:
        notebooks = []
        for domain in registry.domains:
            src = build / "notebooks" / site.id / f"{domain.id}.ipynb"
            if (site.id, domain.id) in ok and src.is_file():
                dst = generated / "sites" / site.id / f"{domain.id}.ipynb"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                notebooks.append(domain.id)
                n_notebooks += 1
        touched = any(o["site"] == site.id for o in status.get("outcomes", []))
        if touched:
            page = generated / "sites" / site.id / "index.md"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(site_page(registry, site.id, results, status, [*notebooks, "data_quality"]),
                            encoding="utf-8")
            (page.parent / "data_quality.md").write_text(data_quality_page(registry, site.id, results),
                                                         encoding="utf-8")
            sites_with_pages.append(site.id)
    sources = sorted({r["data_source"] for r in results}) or [status.get("data_source", "synthetic")]
    info = {
        "data_source": "synthetic" if "synthetic" in sources else sources[0],
        "data_dir": Path(status.get("data_dir", "")).name,
        "commit": _commit(),
        "built_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "packages": _versions(),
        "sites": sites_with_pages,
        "failed": [f"{o['site']}/{o['domain']}" for o in status.get("outcomes", []) if not o["ok"]],
    }
    (generated / "build_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    cross = build / "notebooks" / "all" / "cross_site.ipynb"
    has_cross = ("all", "cross_site") in ok and cross.is_file()
    if has_cross:
        shutil.copyfile(cross, generated / "cross_site.ipynb")
        n_notebooks += 1
    frag = generated / "fragments"
    (frag / "overview.md").write_text(overview_fragment(registry, results, status, has_cross), encoding="utf-8")
    (frag / "data_dictionary.md").write_text(data_dictionary_fragment(registry), encoding="utf-8")
    (frag / "assumptions_sites.md").write_text(assumptions_fragment(registry), encoding="utf-8")
    (frag / "disclosure_rules.md").write_text(rules_fragment(), encoding="utf-8")
    return {"generated": str(generated), "n_notebooks": n_notebooks, **info}
