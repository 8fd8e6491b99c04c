"""What a domain notebook shows, step by step: the synthetic-data notice, the site and go-live, the SPC charts,
the model charts, the comparison, the headline, the summary table, each measure's sentences, and the row
accounting. Every chart is a :class:`~evaluation.publish.chart_output.Chart` (a matplotlib figure with alt text)
that the notebook displays and glues for the site.

Presentation only: :mod:`evaluation.evaluate.run` loads, evaluates and records; this module reads the evaluation
objects (for charts) and the typed results (for every number and sentence), and never writes a results file.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation
from evaluation.evaluate.record import domain_result
from evaluation.evaluate.run import DomainRun, SitePanel
from evaluation.panel.frame import ReadReport
from evaluation.publish.chart_output import Chart
from evaluation.publish.disclosure import default_rules, suppress_count
from evaluation.results.schema import DomainResult
from evaluation.results.sentences import model_estimate_text

SYNTHETIC_NOTICE = (
    "These results are built from synthetic demonstration data: the numbers are made up (with known effects "
    "built in to test the methods) and say nothing about real services."
)


class NotebookView:
    """How a domain notebook shows one site x domain, step by step: the charts from the evaluation objects (with
    alt text and disclosure control), every number and sentence from the typed results."""

    def __init__(self, evaluation: DomainEvaluation | None = None, result: DomainResult | None = None,
                 reports: list[ReadReport] | None = None, figures_dir: Path | str = "figures",
                 data_source: str = "") -> None:
        self.evaluation = evaluation
        self.result = result
        self.reports = reports or []
        self.figures_dir = Path(figures_dir)
        self.data_source = evaluation.data_source if evaluation is not None else data_source

    @classmethod
    def of(cls, run: DomainRun) -> NotebookView:
        """The view of a :func:`evaluation.evaluate.run.run_domain` result."""
        return cls(run.evaluation, run.result, run.reports, run.figures_dir)

    @classmethod
    def for_panel(cls, data: SitePanel) -> NotebookView:
        """The view of a site's panel before any step has run (charts saved under the build's figures)."""
        return cls(None, None, data.reports, data.build_dir / "figures" / data.site / data.domain, data.source)

    def _findings(self, ev: DomainEvaluation):
        """The typed results of an evaluation so far (sentences for alt text; nothing is written)."""
        if self.result is not None and self.evaluation is ev:
            return self.result
        return domain_result(ev)

    def measure_result(self, m: MeasureEvaluation):
        """The typed result of one evaluated measure."""
        return next(x for x in self._findings(self.evaluation).measures if x.measure_id == m.measure.id)

    @property
    def synthetic(self) -> bool:
        return self.data_source == "synthetic"

    def notice_html(self) -> str:
        """A banner for synthetic data (empty for published data)."""
        if not self.synthetic:
            return ""
        return f'<div class="admonition warning synthetic-notice"><p>{html.escape(SYNTHETIC_NOTICE)}</p></div>'

    def headline_markdown(self) -> str:
        """The headline finding in one sentence (with a note when the designated headline is missing)."""
        ev = self.evaluation
        m = ev.headline
        text = self._findings(ev).headline.findings.headline
        if not m.measure.headline:
            designated = next(x for x in ev.measures if x.measure.headline)
            text += (f" (The designated headline measure, {designated.measure.name.lower()}, is "
                     f"{designated.reason or 'not available'}; the first measure that could be evaluated is shown.)")
        return _md_escape(text)

    def headline_estimate_markdown(self) -> str:
        """The headline step change and its 95% CI on the model's scale, or why there is none."""
        return model_estimate_text(self._findings(self.evaluation).headline)

    def context_html(self, ev: DomainEvaluation | None = None) -> str:
        """Which site, provider and go-live date these results use."""
        ev = ev or self.evaluation
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
        for entry in self._findings(self.evaluation).measures:
            its = entry.its
            if its is not None:
                step = its.step
                est = f"{step.estimate:.3f}"
                ci = f"{step.ci_low:.3f} to {step.ci_high:.3f}"
                scale = its.scale.replace("_", " ")
            else:
                est, ci, scale = "-", "-", "-"
            rows.append(
                {
                    "Measure": entry.name,
                    "Step change": est,
                    "95% CI": ci,
                    "Scale": scale,
                    "Months before / after": f"{entry.n_pre} / {entry.n_post}",
                    "Reading": entry.direction,
                    "Observed count, latest month": (self.latest_count(by_id[entry.measure_id])
                                                     if entry.measure_id in by_id else "-"),
                }
            )
        return pd.DataFrame(rows)

    # --- charts: one list per step, each chart saved for download and ready to display or glue ------------

    def _chart(self, name: str, fig, alt: str, caption: str) -> Chart:
        from evaluation.publish import charts

        files = charts.save_figure(fig, self.figures_dir / name)
        _close(fig)  # shown through its Chart, never again by an inline backend at the end of the cell
        return Chart(name, fig, alt, caption, files)

    def spc_charts(self, ev: DomainEvaluation) -> list[Chart]:
        """Each measure's Making Data Count XmR chart, limits recalculated at go-live."""
        from evaluation.publish import chart_data, charts

        self.evaluation = ev
        out = []
        for m in ev.measures:
            if m.xmr is None or m.series is None:
                continue
            name, site = m.measure.name, ev.site.name
            # Charts draw what the tables publish (evaluation.publish.chart_data); the models use every value.
            points = chart_data.spc_points_for_publication(m.xmr.points, m.series, m.measure.value_type,
                                                           m.measure.direction)
            icon = m.xmr.summary.get("variation_icon", "common_cause")
            alt = (f"Statistical process control chart of {name.lower()} at {site}, "
                   f"{points['period'].min():%B %Y} to {points['period'].max():%B %Y}, with limits recalculated "
                   f"at go-live in {ev.intervention_date:%B %Y}. Latest point: {icon.replace('_', ' ')}.")
            fig = charts.spc_chart(points, title=f"{name}: {site} (SPC, XmR)", ylabel=m.measure.unit,
                                   intervention=ev.intervention_date)
            out.append(self._chart(f"{m.measure.id}_spc", fig, alt, "Making Data Count XmR chart: mean and "
                                   "process limits before and after go-live."))
        return out

    def model_charts(self, ev: DomainEvaluation) -> list[Chart]:
        """Each fitted measure's interrupted time series chart and its residual diagnostics."""
        from evaluation.publish import chart_data, charts

        self.evaluation = ev
        found = {x.measure_id: x.findings for x in self._findings(ev).measures}
        out = []
        for m in ev.measures:
            if m.its is None:
                continue
            name, site, mid = m.measure.name, ev.site.name, m.measure.id
            vt = m.measure.value_type
            alt = (f"Interrupted time series chart of {name.lower()} at {site}: observed values, the model and "
                   f"the expected values without the change with a 95% band. {found[mid].headline}")
            frame = chart_data.its_frame_for_publication(m.its.frame, m.series, vt)
            fig = charts.its_chart(frame, title=f"{name}: {site} (interrupted time series)", ylabel=m.measure.unit,
                                   intervention=ev.intervention_date)
            out.append(self._chart(f"{mid}_its", fig, alt, "Segmented regression with seasonality and a COVID-19 "
                                   "term; dashed line: expected without the change."))
            if m.its.residuals is None:
                continue
            # A month's residual and the fitted line on the ITS chart give its value back: the panel is
            # recomputed from the published values.
            diag = chart_data.diagnostics_for_publication(
                m.its.diagnostics(), m.its.frame, m.series, vt, rho=(m.its.error_model or {}).get("rho") or 0.0)
            alt = (f"Residual diagnostics for the interrupted time series model of {name.lower()} at {site}: "
                   f"residuals over time, their autocorrelation with the 95% band for white noise, and a "
                   f"normal Q-Q plot. {diag['summary']}.")
            fig = charts.diagnostics_chart(diag, title=f"{name}: {site} (model diagnostics)")
            out.append(self._chart(f"{mid}_diagnostics", fig, alt, "Bars: autocorrelation of the residuals of a "
                                   "model without autocorrelation; diamonds: what is left after the AR(1) error "
                                   "model. Grey band: 95% limits for white noise."))
        return out

    def comparison_charts(self, ev: DomainEvaluation) -> list[Chart]:
        """The headline measure against its synthetic control (a weighted mix of comparator providers)."""
        from evaluation.publish import chart_data, charts

        self.evaluation = ev
        m = ev.headline
        sc = (m.comparative or {}).get("synthetic_control")
        if not sc or not sc.get("path"):
            return []
        name, site = m.measure.name, ev.site.name
        text = next(x for x in self._findings(ev).measures if x.measure_id == m.measure.id).findings.comparative
        alt = (f"Chart of {name.lower()} at {site} against its synthetic control, a weighted mix of "
               f"{sc.get('n_donors')} comparator providers, indexed to the site's own pre-go-live average. {text}")
        path = chart_data.synthetic_control_for_publication(pd.DataFrame(sc["path"]), m.series, m.measure.value_type,
                                                            ev.intervention_date)
        fig = charts.synthetic_control_chart(path, title=f"{name}: {site} and its synthetic "
                                             "control", ylabel="index (pre-go-live average = 1)",
                                             intervention=ev.intervention_date)
        return [self._chart(f"{m.measure.id}_synthetic_control", fig, alt, "Synthetic control: the site and a "
                            "weighted mix of comparator providers matched on the years before go-live.")]

    def comparison_markdown(self) -> str:
        """The comparison with other providers in words, for the headline measure."""
        found = self._findings(self.evaluation).headline.findings
        return _md_escape(found.comparative or "No comparison with other providers was made for this measure.")

    def measure_html(self, m: MeasureEvaluation) -> str:
        """A measure's section in words: heading, finding, how robust it is, the comparison and the caveats (its
        charts are shown by the steps above, and saved for download)."""
        found = self.measure_result(m).findings
        out = [f'<h3 id="measure-{m.measure.id.lower()}">{html.escape(m.measure.name)}</h3>',
               f"<p>{html.escape(found.headline)}</p>"]
        if found.robustness:
            out.append(f"<h4>How robust is this?</h4><p>{html.escape(found.robustness)}</p>")
            if m.its is not None and m.its.autocorrelation_test:
                tests = [m.its.autocorrelation_test.get("interpretation", "")]
                if m.its.overdispersion_test:
                    tests.append(m.its.overdispersion_test.get("family_check", ""))
                out.append(f"<p>Model checks: {html.escape('; '.join(t for t in tests if t))}.</p>")
        if found.comparative:
            out.append(f"<h4>Compared with other providers</h4><p>{html.escape(found.comparative)}</p>")
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


def _close(fig) -> None:
    """Close a figure in pyplot (the Figure object stays usable)."""
    import matplotlib.pyplot as plt

    plt.close(fig)


def _md_escape(text: str) -> str:
    """Escape characters MyST would read as markup in a generated sentence."""
    for ch in ("\\", "*", "_", "`", "[", "]", "<", ">", "{", "}"):
        text = text.replace(ch, "\\" + ch)
    return text


