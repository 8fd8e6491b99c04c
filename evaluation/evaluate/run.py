"""The calls a domain notebook makes: load the data, evaluate, write the results file, show the findings.

Notebooks stay thin: a parameters cell, narrative, and calls into this module. Everything here is tested
without a kernel.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation, evaluate_domain
from evaluation.panel.frame import ReadReport
from evaluation.publish.disclosure import default_rules, hide_small_points, suppress_count
from evaluation.results.files import (
    comparative_sentence,
    finding_sentence,
    results_dict,
    robustness_sentence,
    write_json,
)

DEFAULT_SYNTHETIC_DIR = Path("build") / "data" / "synthetic"
SYNTHETIC_NOTICE = (
    "These results are built from synthetic demonstration data: the numbers are made up (with known effects "
    "built in to test the methods) and say nothing about real services."
)


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
    path = (Path(build_dir) / "data" / "synthetic").resolve()
    if not (path / "truth.json").is_file():
        from evaluation.demo.generator import generate

        generate(path)
    return path, "synthetic"


@dataclass
class DomainRun:
    """A domain evaluated at a site, with what the notebook needs to show it."""

    evaluation: DomainEvaluation
    results: dict
    reports: list[ReadReport]
    results_path: Path
    figures_dir: Path

    @property
    def synthetic(self) -> bool:
        return self.evaluation.data_source == "synthetic"

    def notice_html(self) -> str:
        """A banner for synthetic data (empty for published data)."""
        if not self.synthetic:
            return ""
        return f'<div class="admonition warning synthetic-notice"><p>{html.escape(SYNTHETIC_NOTICE)}</p></div>'

    def headline_markdown(self) -> str:
        """The headline finding in one sentence (with a note when the designated headline is missing)."""
        ev = self.evaluation
        m = ev.headline
        text = finding_sentence(ev, m)
        if not m.measure.headline:
            designated = next(x for x in ev.measures if x.measure.headline)
            text += (f" (The designated headline measure, {designated.measure.name.lower()}, is "
                     f"{designated.reason or 'not available'}; the first measure that could be evaluated is shown.)")
        return _md_escape(text)

    def headline_estimate_markdown(self) -> str:
        """The headline step change and its 95% CI on the model's scale, or why there is none."""
        m = self.evaluation.headline
        if m.its is None:
            return "not estimated"
        s = m.its.step
        return f"{m.its.scale.replace('_', ' ')} {s.estimate:.3f} (95% CI {s.ci_low:.3f} to {s.ci_high:.3f})"

    def context_html(self) -> str:
        """Which site, provider and go-live date these results use."""
        ev = self.evaluation
        assumption = ""
        if ev.site.intervention_is_assumption:
            assumption = " (an assumption: see the site page for the reasoning)"
        return (
            f"<p>Site: {html.escape(ev.site.name)} ({html.escape(ev.site.provider_name)}, {ev.site.ods_code}). "
            f"Go-live used: {html.escape(ev.site.intervention_label)}, {ev.intervention_date:%B %Y}{assumption}.</p>"
        )

    def latest_count(self, m: MeasureEvaluation) -> str:
        """The latest month's observed count after disclosure control, with the month ('-' if not a count).

        A month the publisher suppressed stays suppressed; months missing altogether are skipped.
        """
        if m.measure.value_type != "count" or m.series is None or m.series.empty:
            return "-"
        shown = m.series[m.series["value"].notna() | m.series["suppressed"].astype(bool)]
        if shown.empty:
            return "-"
        last = shown.sort_values("period").iloc[-1]
        value = default_rules().suppression_mark if bool(last["suppressed"]) else last["value"]
        return f"{suppress_count(value)} ({pd.Timestamp(last['period']):%b %Y})"

    def summary_table(self) -> pd.DataFrame:
        """One row per measure: the step change with its 95% CI, on the model's natural scale, and the latest
        observed count (counts only) after disclosure control."""
        by_id = {m.measure.id: m for m in self.evaluation.measures}
        rows = []
        for entry in self.results["measures"]:
            its = entry["its"]
            if its:
                step = its["step"]
                est = f"{step['estimate']:.3f}"
                ci = f"{step['ci_low']:.3f} to {step['ci_high']:.3f}"
                scale = its["scale"].replace("_", " ")
            else:
                est, ci, scale = "-", "-", "-"
            rows.append(
                {
                    "Measure": entry["name"],
                    "Step change": est,
                    "95% CI": ci,
                    "Scale": scale,
                    "Months before / after": f"{entry['n_pre']} / {entry['n_post']}",
                    "Reading": entry["direction"],
                    "Observed count, latest month": (self.latest_count(by_id[entry["measure_id"]])
                                                     if entry["measure_id"] in by_id else "-"),
                }
            )
        return pd.DataFrame(rows)

    def measure_html(self, m: MeasureEvaluation) -> str:
        """A measure's section: heading, finding, SPC chart, ITS chart and caveats (figures saved too)."""
        from evaluation.publish import charts

        ev = self.evaluation
        name = m.measure.name
        site = ev.site.name
        out = [f'<h3 id="measure-{m.measure.id.lower()}">{html.escape(name)}</h3>',
               f"<p>{html.escape(finding_sentence(ev, m))}</p>"]
        stem = self.figures_dir / m.measure.id
        # Points a table would suppress are not drawn; the model and the limits still use every value.
        hidden = hide_small_points(m.series, m.measure.value_type) if m.series is not None else set()
        if m.xmr is not None:
            points = _hide(m.xmr.points, "value", hidden)
            icon = m.xmr.summary.get("variation_icon", "common_cause")
            alt = (f"Statistical process control chart of {name.lower()} at {site}, "
                   f"{points['period'].min():%B %Y} to {points['period'].max():%B %Y}, with limits recalculated "
                   f"at go-live in {ev.intervention_date:%B %Y}. Latest point: {icon.replace('_', ' ')}.")
            fig = charts.spc_chart(points, title=f"{name}: {site} (SPC, XmR)", ylabel=m.measure.unit,
                                  intervention=ev.intervention_date)
            charts.save_figure(fig, stem.with_name(stem.name + "_spc"))
            out.append(charts.figure_html(fig, alt, "Making Data Count XmR chart: mean and process limits "
                                                   "before and after go-live."))
        if m.its is not None:
            alt = (f"Interrupted time series chart of {name.lower()} at {site}: observed values, the model and "
                   f"the expected values without the change with a 95% band. {finding_sentence(ev, m)}")
            fig = charts.its_chart(_hide(m.its.frame, "observed", hidden),
                                  title=f"{name}: {site} (interrupted time series)",
                                  ylabel=m.measure.unit, intervention=ev.intervention_date)
            charts.save_figure(fig, stem.with_name(stem.name + "_its"))
            out.append(charts.figure_html(fig, alt, "Segmented regression with seasonality and a COVID-19 term; "
                                                   "dashed line: expected without the change."))
        robust = robustness_sentence(m)
        if robust:
            out.append(f"<h4>How robust is this?</h4><p>{html.escape(robust)}</p>")
            if m.its.autocorrelation_test:
                tests = [m.its.autocorrelation_test.get("interpretation", "")]
                if m.its.overdispersion_test:
                    tests.append(m.its.overdispersion_test.get("family_check", ""))
                out.append(f"<p>Model checks: {html.escape('; '.join(t for t in tests if t))}.</p>")
            if m.its.residuals is not None:
                # Collapsed: the panel is for readers who want to check the model, not the headline.
                diag = m.its.diagnostics()
                # A month's residual and the fitted line on the ITS chart give its value back, so months
                # the charts leave off (A25) are left off the residual panel too; the ACF and Q-Q are pooled.
                for row in diag["residuals"]:
                    if pd.Timestamp(row["period"]) in hidden:
                        row["residual"] = float("nan")
                alt = (f"Residual diagnostics for the interrupted time series model of {name.lower()} at {site}: "
                       f"residuals over time, their autocorrelation with the 95% band for white noise, and a "
                       f"normal Q-Q plot. {diag['summary']}.")
                fig = charts.diagnostics_chart(diag, title=f"{name}: {site} (model diagnostics)")
                charts.save_figure(fig, stem.with_name(stem.name + "_diagnostics"))
                out.append("<details><summary>Model diagnostics: residuals and autocorrelation</summary>"
                           + charts.figure_html(fig, alt, "Bars: autocorrelation of the residuals of a model without "
                                                         "autocorrelation; diamonds: what is left after the AR(1) "
                                                         "error model. Grey band: 95% limits for white noise.")
                           + "</details>")
        comp_text = comparative_sentence(m)
        if comp_text:
            out.append(f"<h4>Compared with other providers</h4><p>{html.escape(comp_text)}</p>")
            sc = (m.comparative or {}).get("synthetic_control")
            if sc and sc.get("path"):
                path = pd.DataFrame(sc["path"])
                alt = (f"Chart of {name.lower()} at {site} against its synthetic control, a weighted mix of "
                       f"{sc.get('n_donors')} comparator providers, indexed to the site's own pre-go-live average. "
                       f"{comp_text}")
                fig = charts.synthetic_control_chart(path, title=f"{name}: {site} and its synthetic control",
                                                    ylabel="index (pre-go-live average = 1)",
                                                    intervention=ev.intervention_date)
                charts.save_figure(fig, stem.with_name(stem.name + "_synthetic_control"))
                out.append(charts.figure_html(fig, alt, "Synthetic control: the site and a weighted mix of "
                                                       "comparator providers matched on the years before go-live."))
        notes = list(m.caveats) + ([m.reason] if m.reason and m.status != "not_in_data" else [])
        if notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
            out.append(f"<p>Caveats for this measure:</p><ul>{items}</ul>")
        return "".join(out)

    def data_table(self) -> pd.DataFrame:
        """Row accounting for every input file: read = kept + rejected."""
        rows = []
        for r in self.reports:
            rows.append(
                {
                    "File": Path(r.path).name,
                    "Layout": r.layout,
                    "Rows read": r.rows_read,
                    "Rows kept": r.rows_kept,
                    "Rows set aside": r.rows_rejected,
                    "Reasons": "; ".join(f"{k}: {v}" for k, v in sorted(r.rejected.items())) or "-",
                }
            )
        return pd.DataFrame(rows)


def _hide(frame: pd.DataFrame, column: str, periods: set) -> pd.DataFrame:
    """A copy of a chart frame with ``column`` blanked in the given periods (the frame itself is kept)."""
    if not periods:
        return frame
    out = frame.copy()
    out.loc[pd.to_datetime(out["period"]).isin(periods), column] = float("nan")
    return out


def _md_escape(text: str) -> str:
    """Escape characters MyST would read as markup in a generated sentence."""
    for ch in ("\\", "*", "_", "`", "[", "]", "<", ">", "{", "}"):
        text = text.replace(ch, "\\" + ch)
    return text


def _relative(path: str, folder: Path) -> str:
    """A path relative to the data folder, so results files do not depend on where the data live."""
    try:
        return Path(path).resolve().relative_to(folder).as_posix()
    except ValueError:
        return Path(path).name


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
            inputs.append({"path": _relative(r.path, data_dir), "rows_sha256": frame_digest(rows[names == name]),
                           "layout": r.layout})
    return inputs


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
    """Load the data, evaluate one site x domain, and write ``<build>/results/<site>/<domain>.json``."""
    from evaluation.panel.quality import quality_summary
    from evaluation.pipeline.cache import cached_panel
    from evaluation.sources import usable_rows

    registry = registry or default_registry()
    registry.site(site)
    registry.domain(domain)
    folder, source = resolve_data_dir(data_dir, build_dir)
    panel, reports = cached_panel(folder, build_dir)
    # An unusable input file stops this site only if it holds this site's rows for this domain.
    panel = usable_rows(panel, reports, registry.site(site).ods_code,
                        [m.id for m in registry.measures_for(domain)])
    ev = evaluate_domain(registry, panel, site, domain, intervention_date=intervention_date, data_source=source,
                         keep_outliers=keep_outliers, min_coverage=comparator_min_coverage)
    measure_ids = [m.measure.id for m in ev.measures]
    inputs = _inputs_used(panel, reports, ev.site.ods_code, measure_ids, folder)
    results = results_dict(ev, inputs)
    results["keep_outliers"] = bool(keep_outliers)
    results["comparator_min_coverage"] = float(comparator_min_coverage)
    quality = quality_summary(panel, reports, ev.site.ods_code, measure_ids, registry=registry)
    for entry in results["measures"]:
        entry["data_quality"] = quality["measures"].get(entry["measure_id"])
    results["input_files"] = [
        {**f, "path": _relative(f["path"], folder)} for f in sorted(quality["files"], key=lambda f: f["path"])
    ]
    path = write_json(results, Path(build_dir) / "results" / site / f"{domain}.json")
    return DomainRun(ev, results, reports, path, Path(build_dir) / "figures" / site / domain)
