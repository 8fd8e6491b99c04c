"""Assemble the Sphinx sources: executed notebooks, site pages, the overview and the data dictionary.

Everything is generated into ``docs/_generated`` (git-ignored) from the registry, the results files and
the run status, so the site never depends on a notebook's internals and the data dictionary is rendered
from ``data_dictionary/`` rather than copied.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

from evaluation.dictionary.registry import Registry, default_registry, organisation_code
from evaluation.publish.cards import assurance_html, estimate_text, failed_html, finding_html, headline, variation_html
from evaluation.publish.disclosure import rules_fragment
from evaluation.publish.downloads import write_results_csvs
from evaluation.publish.easy_read import easy_read_page

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


def evaluated_sites(registry: Registry, status: dict, results: list[dict]) -> list:
    """The registry's sites, then any other organisation evaluated in this build (``org_<code>``, from
    ``--sites all``), in id order."""
    ids = {o["site"] for o in status.get("outcomes", [])} | {r["site"] for r in results}
    extra = sorted(i for i in ids if i not in registry.site_ids and organisation_code(i))
    return [*registry.sites, *(registry.site(i) for i in extra)]


def _failed(status: dict) -> dict[tuple[str, str], dict]:
    """Failed site x domain outcomes from run_status.json, by (site, domain)."""
    return {(o["site"], o["domain"]): o for o in status.get("outcomes", []) if not o["ok"]}


def _finding_block(res: dict | None, failure: dict | None, link: str | None) -> list[str]:
    """A finding card (MyST container around raw HTML): sentence, interval in words, icons, then the link.

    Raw HTML keeps the icons inline and gives tests stable hooks; the link stays a MyST ``{doc}`` role so
    Sphinx checks that it resolves.
    """
    if failure is not None:
        return [":::{container} finding-card finding-card-failed", "",
                failed_html(failure["site"], failure["domain"], failure.get("error", "")), "", ":::", ""]
    if res is None:
        return []
    out = [":::{container} finding-card", "", finding_html(res), ""]
    if link:
        out += [link, ""]
    return out + [":::", ""]


def _summary_table(registry: Registry, by_key: dict, failed: dict, sites: list | None = None) -> str:
    """A compact HTML table of every headline finding, with a caption and scoped header cells."""
    e = html.escape
    rows = []
    for site in sites or registry.sites:
        for domain in registry.domains:
            key = (site.id, domain.id)
            head = f'<th scope="row">{e(site.name)}</th><td>{e(domain.name)}</td>'
            if key in failed:
                err = (failed[key].get("error") or "unknown error").strip().splitlines()[0]
                rows.append(f'<tr class="finding-failed">{head}<td colspan="5"><strong>Analysis failed: no finding.'
                            f'</strong> {e(err)}</td></tr>')
            elif key in by_key:
                m = headline(by_key[key])
                spc = m.get("spc") or {}
                rows.append(f"<tr>{head}<td>{e(m['name'])}</td><td>{e(estimate_text(m))}</td>"
                            f"<td>{e(m['direction'])}</td><td>{variation_html(spc.get('variation_icon'), short=True)}"
                            f"</td><td>{assurance_html(spc.get('assurance_icon'), short=True)}</td></tr>")
    return "\n".join([
        '<div class="table-scroll" role="region" aria-label="Summary table of headline findings" tabindex="0">',
        '<table class="eval-table summary-table">',
        "<caption>Headline finding for each site and outcome area: the step change at go-live on the model's scale "
        "with its 95% confidence interval (a ratio below 1, or a difference below 0, means lower than expected), "
        "the reading of that interval, and the Making Data Count icons for the latest month.</caption>",
        '<thead><tr><th scope="col">Site</th><th scope="col">Outcome area</th><th scope="col">Headline measure</th>'
        '<th scope="col">Step change (95% CI)</th><th scope="col">Reading</th><th scope="col">Variation</th>'
        '<th scope="col">Assurance</th></tr></thead>',
        "<tbody>", *rows, "</tbody>", "</table>", "</div>", ""])


def overview_fragment(registry: Registry, results: list[dict], status: dict, cross_site: bool = False) -> str:
    """The overview, finding first: per site a heading and per domain its headline sentence, interval in words,
    Making Data Count icons and a link to the detail; then a compact summary table and the site toctree."""
    by_key = {(r["site"], r["domain"]): r for r in results}
    failed = _failed(status)
    shown = [s for s in evaluated_sites(registry, status, results)
             if any((s.id, d) in failed or (s.id, d) in by_key for d in registry.domain_ids)]
    lines: list[str] = []
    for site in shown:
        assumed = " (assumed date)" if site.intervention_is_assumption else ""
        lines += [f"## {site.name}", "",
                  f"{site.programme}, led by {site.provider_name}. Go-live used: {site.intervention_label}, "
                  f"{site.intervention_date:%B %Y}{assumed}.", "",
                  f"{{doc}}`Site page <_generated/sites/{site.id}/index>` · "
                  f"{{doc}}`Easy read <_generated/sites/{site.id}/easy_read>` · "
                  f"{{doc}}`One-page summary <_generated/sites/{site.id}/summary>`", ""]
        for domain in registry.domains:
            key = (site.id, domain.id)
            if key not in failed and key not in by_key:
                continue
            link = (f"{{doc}}`Charts and details: {domain.name.lower()} in {site.name} "
                    f"<_generated/sites/{site.id}/{domain.id}>`")
            lines += [f"### {domain.name}", "", *_finding_block(by_key.get(key), failed.get(key), link)]
    lines += ["## All headline findings in one table", "", _summary_table(registry, by_key, failed, shown),
              "Download every measure's estimates: {download}`results for all sites (CSV) "
              "</_generated/downloads/results_all_sites.csv>`.", ""]
    toctree = ["```{toctree}", ":maxdepth: 2", ":caption: Sites", ""]
    toctree += [f"_generated/sites/{s.id}/index" for s in shown]
    if cross_site:
        toctree += ["```", "", "```{toctree}", ":maxdepth: 1", ":caption: Across the sites", "",
                    "_generated/cross_site"]
    toctree += ["```", ""]
    return "\n".join(lines) + "\n" + "\n".join(toctree)


FIGURE_KINDS = {"spc": "SPC (XmR) chart", "its": "Interrupted time series chart",
                "synthetic_control": "Synthetic control chart"}


def _figure_rows(site_id: str, domain_id: str, stems: list[str], names: dict[str, str]) -> list[str]:
    """list-table rows offering each saved figure as PNG and SVG downloads."""
    rows = []
    for stem in stems:
        kind = next((k for k in sorted(FIGURE_KINDS, key=len, reverse=True) if stem.endswith("_" + k)), "")
        mid = stem[: -len(kind) - 1] if kind else stem
        label = f"{names.get(mid, mid)}: {FIGURE_KINDS.get(kind, 'chart')}"
        base = f"figures/{domain_id}/{stem}"
        rows += [f"* - {_esc(label)}",
                 f"  - {{download}}`PNG <{base}.png>`",
                 f"  - {{download}}`SVG <{base}.svg>`"]
    return rows


def site_page(registry: Registry, site_id: str, results: list[dict], status: dict, notebooks: list[str],
              figures: dict[str, list[str]] | None = None) -> str:
    """A site's page: programme, milestones, findings first in words, other versions and downloads.

    ``figures`` maps a domain to the figure stems copied beside the page (``figures/<domain>/<stem>.png|svg``).
    """
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
        "Also on this site: {doc}`easy read version <easy_read>` · {doc}`one-page printable summary <summary>` · "
        "{doc}`data quality <data_quality>`.",
        "",
        "## Findings",
        "",
    ]
    by_domain = {r["domain"]: r for r in results if r["site"] == site_id}
    failed = {d: o for (s, d), o in _failed(status).items() if s == site_id}
    for domain in registry.domains:
        if domain.id not in failed and domain.id not in by_domain:
            continue
        link = f"{{doc}}`Charts and details: {domain.name.lower()} <{domain.id}>`" if domain.id in notebooks else None
        out += [f"### {domain.name}", "", *_finding_block(by_domain.get(domain.id), failed.get(domain.id), link)]
        if domain.id in failed:
            out += [f"To reproduce: `evaluation run --site {site_id} --domain {domain.id}`.", ""]
    out += ["## Timeline", "", "| When | What the documents say | Source |", "|---|---|---|"]
    fmt = {"day": "%d %B %Y", "month": "%B %Y", "quarter": "%B %Y (approximate)", "year": "%Y"}
    for ms in sorted(site.milestones, key=lambda m: m.date):
        out.append(f"| {ms.date.strftime(fmt[ms.precision])} | {_esc(ms.event)} | {_esc(ms.source)} |")
    if site.notes:
        out += ["", "Notes from the documents:", ""] + [f"- {n}" for n in site.notes]
    out += ["", "What the input files hold for this site, and what was done with every row: "
            "{doc}`data quality <data_quality>`.", "", "## Downloads", "",
            f"- {{download}}`Results for {site.name} (CSV) </_generated/downloads/results_{site_id}.csv>`: one row "
            "per measure with the model estimates and 95% intervals, effects at 12 and 24 months, the reading and "
            "the Making Data Count icons (no monthly figures).",
            "- {download}`Results for all sites (CSV) </_generated/downloads/results_all_sites.csv>`.", ""]
    names = {m["measure_id"]: m["name"] for r in by_domain.values() for m in r["measures"]}
    for domain in registry.domains:
        stems = (figures or {}).get(domain.id)
        if not stems:
            continue
        out += [f"```{{list-table}} Charts for {domain.name.lower()} in {site.name}, as PNG and SVG files",
                ":header-rows: 1", ":widths: 60 20 20", "", "* - Chart", "  - PNG", "  - SVG",
                *_figure_rows(site_id, domain.id, stems, names), "```", ""]
    out += ["```{toctree}", ":maxdepth: 1", ":hidden:", ""] + notebooks + ["```", ""]
    return "\n".join(out)


def _caveats(registry: Registry, site_id: str, results: list[dict]) -> list[str]:
    """Key caveats for a site's summary: the design, the go-live date and each headline measure's own."""
    site = registry.site(site_id)
    out = ["Before-and-after comparisons at one organisation: they show what changed after go-live, not proof that "
           "the programme caused it. Other changes at the same time can produce or hide an effect."]
    if site.intervention_is_assumption:
        out.append(f"The go-live date ({site.intervention_date:%B %Y}) is an assumption; the documents give no "
                   "exact date. A different date can be tested with `--intervention-date`.")
    seen: set[str] = set()
    for r in sorted((r for r in results if r["site"] == site_id), key=lambda r: r["domain"]):
        m = headline(r)
        for c in m.get("caveats", []):
            text = f"{m['name']}: {c}"
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def summary_page(registry: Registry, site_id: str, results: list[dict], status: dict, info: dict,
                 file_hashes: dict[str, str] | None = None) -> str:
    """A one-page printable summary for committee packs: findings, intervals, icons, caveats, provenance."""
    site = registry.site(site_id)
    by_domain = {r["domain"]: r for r in results if r["site"] == site_id}
    failed = {d: o for (s, d), o in _failed(status).items() if s == site_id}
    # No container around the page: MyST drops headings nested in a directive. The first paragraph's class
    # lets the stylesheet find the page (.bd-article:has(.summary-intro)).
    out = [f"# {site.name}: one-page summary", ""]
    when = (f"{site.intervention_label}, {site.intervention_date:%B %Y}"
            + (" (assumed)" if site.intervention_is_assumption else " (stated in the programme documents)"))
    out += [f'<p class="summary-intro"><strong>{html.escape(site.programme)}</strong>, led by '
            f"{html.escape(site.provider_name)} ({site.ods_code}). Go-live used: {html.escape(when)}.</p>", ""]
    if info.get("data_source") == "synthetic":
        out += ['<p class="synthetic-notice"><strong>Synthetic demonstration data:</strong> every number on this '
                "page is made up. It shows how the evaluation works, not how the services performed.</p>", ""]
    out += [
            "## Findings", ""]
    for domain in registry.domains:
        if domain.id not in failed and domain.id not in by_domain:
            continue
        out += [f"### {domain.name}", ""]
        block = _finding_block(by_domain.get(domain.id), failed.get(domain.id), None)
        if domain.id in by_domain and domain.id not in failed:
            m = headline(by_domain[domain.id])
            block.insert(-2, f"<p class=\"finding-estimate\">{html.escape(m['name'])}: "
                             f"{html.escape(estimate_text(m))}.</p>")
            block.insert(-2, "")
        out += block
    out += ["## Key caveats", ""] + [f"- {c}" for c in _caveats(registry, site_id, results)] + [""]
    inputs: dict[str, str] = {}
    params: set[str] = set()
    for r in by_domain.values():
        # Whole-file SHA-256 from the build's data log (results record the digest of the site's own rows).
        inputs.update({i["path"]: (file_hashes or {}).get(i["path"]) or i.get("sha256") or i.get("rows_sha256", "")
                       for i in r.get("inputs", [])})
        params.add(f"go-live {r['intervention_date'][:7]}; outliers "
                   f"{'kept' if r.get('keep_outliers') else 'left out of models'}; comparator coverage "
                   f"{r.get('comparator_min_coverage', 'n/a')}")
    files = "; ".join(f"`{p}` (SHA-256 {h[:16]}…)" for p, h in sorted(inputs.items())) or "none"
    out += ["## Provenance", "",
            f"{info.get('data_source', 'unknown').capitalize()} data. Input files: {files}. "
            f"Parameters: {'; '.join(sorted(params)) or 'defaults'}. Code commit {info.get('commit', 'unknown')}, "
            f"results computed {info.get('built_at', '')}. Full SHA-256 hashes: the data log on the "
            "{doc}`data dictionary </data_dictionary>` page; package versions: the page footer and "
            "{doc}`how to reproduce </reproduce>`.", ""]
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
    if not path.is_file():
        return "No data log was written for this build.\n"
    files = json.loads(path.read_text(encoding="utf-8")).get("files", [])
    out = ["| File | Publisher | Months | Layout | Rows read | Rows kept | Rows set aside | SHA-256 |",
           "|---|---|---|---|---|---|---|---|"]
    for f in files:
        months = f"{f['first_month']} to {f['last_month']}" if f.get("first_month") else "-"
        out.append(f"| `{_esc(f['path'])}` | {_esc(f.get('publisher', ''))} | {months} | {_esc(f['layout'])} | "
                   f"{f['rows_read']:,} | {f['rows_kept']:,} | {f['rows_rejected']:,} | "
                   f"`{f['sha256'] or 'not readable'}` |")
    return "\n".join(out) + "\n"


def _assemble_into(generated: Path, build: Path, registry: Registry, status: dict) -> dict:
    """Write every generated source into ``generated`` (an empty folder) from one run's ``status``."""
    (generated / "fragments").mkdir(parents=True)
    results = [json.loads((build / f).read_text(encoding="utf-8")) for f in status["results_files"]]
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
    published = [r for r in results if (r["site"], r["domain"]) not in failed]
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
