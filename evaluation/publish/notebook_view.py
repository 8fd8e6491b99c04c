"""What a domain notebook shows, step by step: the synthetic-data notice, the site and go-live, the SPC charts,
the model charts, the comparison, the headline, the summary table, each measure's sentences, and the row
accounting. Every chart is a :class:`~evaluation.publish.chart_output.Chart` (a matplotlib figure with alt text)
that the notebook displays and glues for the site.

Presentation only: :mod:`evaluation.evaluate.run` loads, evaluates and records; this module reads the evaluation
objects (for charts) and the typed results (for every number and sentence), and never writes a results file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation
from evaluation.evaluate.record import domain_result
from evaluation.evaluate.run import DomainRun, SitePanel
from evaluation.panel.frame import ReadReport
from evaluation.publish.chart_output import Chart
from evaluation.publish.disclosure import default_rules, suppress_count
from evaluation.publish.templates import myst_escape, render_macro
from evaluation.results.schema import DomainResult
from evaluation.results.sentences import chart_caption, estimate_text, model_estimate_text, tidy

TEMPLATE = "notebook.html.j2"
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
        return str(render_macro(TEMPLATE, "notice", SYNTHETIC_NOTICE)) if self.synthetic else ""

    def headline_markdown(self) -> str:
        """The headline finding in one sentence (with a note when the designated headline is missing)."""
        ev = self.evaluation
        m = ev.headline
        text = self._findings(ev).headline.findings.headline
        if not m.measure.headline:
            designated = next(x for x in ev.measures if x.measure.headline)
            text += (f" (The designated headline measure, {designated.measure.name.lower()}, is "
                     f"{designated.reason or 'not available'}; the first measure that could be evaluated is shown.)")
        return str(myst_escape(text))

    def headline_estimate_markdown(self) -> str:
        """The headline step change and its 95% CI on the model's scale, or why there is none."""
        return model_estimate_text(self._findings(self.evaluation).headline)

    def context_html(self, ev: DomainEvaluation | None = None) -> str:
        """Which site, provider and go-live date these results use (a go-live given for this run is labelled as
        the analyst's, never as the programme's milestone)."""
        ev = ev or self.evaluation
        site = ev.site
        own = ev.intervention_date == site.intervention_date
        label = site.intervention_label if own else "go-live set by the analyst"
        return str(render_macro(TEMPLATE, "context", site, ev.intervention_date, label,
                                own and site.intervention_is_assumption))

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

    def summary_rows(self) -> list[dict]:
        """One row per measure: the first-year change with its 95% CI (percent or percentage points), the
        reading, the months of data and the latest observed count (counts only) after disclosure control."""
        by_id = {m.measure.id: m for m in self.evaluation.measures}
        return [{"name": entry.name, "change": estimate_text(entry), "reading": entry.direction,
                 "n_pre": entry.n_pre, "n_post": entry.n_post,
                 "latest": self.latest_count(by_id[entry.measure_id]) if entry.measure_id in by_id else "-"}
                for entry in self._findings(self.evaluation).measures]

    def summary_html(self) -> str:
        """The table of every measure in this domain (see :meth:`summary_rows`)."""
        return str(render_macro(TEMPLATE, "summary_table", self.summary_rows()))

    def summary_table(self) -> pd.DataFrame:
        """:meth:`summary_rows` as a data frame (for an evaluator working in the notebook)."""
        return pd.DataFrame(self.summary_rows())

    # --- charts: one list per step, each chart saved for download and ready to display or glue ------------

    def _chart(self, name: str, fig, alt: str, caption: str) -> Chart:
        from evaluation.publish import charts

        png = charts.render_png(fig)
        files = charts.save_figure(fig, self.figures_dir / name, png_bytes=png)
        _close(fig)  # shown through its Chart, never again by an inline backend at the end of the cell
        return Chart(name, fig, alt, caption, files, png_bytes=png)

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
                                                           m.measure.direction,
                                                           baseline_end=m.xmr.summary.get("baseline_end"))
            icon = m.xmr.summary.get("variation_icon", "common_cause")
            basis = m.xmr.summary.get("limits_basis") or "limits per phase"
            alt = (f"Statistical process control chart of {name.lower()} at {site}, "
                   f"{points['period'].min():%B %Y} to {points['period'].max():%B %Y}; go-live "
                   f"{ev.intervention_date:%B %Y}; {basis}. Latest point: {icon.replace('_', ' ')}.")
            fig = charts.spc_chart(points, title=f"{name}: {site} (SPC, XmR)", ylabel=m.measure.unit,
                                   intervention=ev.intervention_date)
            out.append(self._chart(f"{m.measure.id}_spc", fig, alt, chart_caption(self.measure_result(m), "spc")))
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
            out.append(self._chart(f"{mid}_its", fig, alt, chart_caption(self.measure_result(m), "its")))
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
            chart = self._chart(f"{mid}_diagnostics", fig, alt, "Bars: autocorrelation of the residuals of a "
                                "model without autocorrelation; diamonds: what is left after the AR(1) error "
                                "model. Grey band: 95% limits for white noise.")
            chart.technical = f"model diagnostics for {name.lower()}"
            out.append(chart)
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
        return [self._chart(f"{m.measure.id}_synthetic_control", fig, alt,
                            chart_caption(self.measure_result(m), "synthetic_control"))]

    def comparison_markdown(self) -> str:
        """The comparison with other providers in words, for the headline measure."""
        found = self._findings(self.evaluation).headline.findings
        return str(myst_escape(found.comparative or "No comparison with other providers was made for this measure."))

    def measure_html(self, m: MeasureEvaluation) -> str:
        """A measure's section in words: heading, finding, the comparison and the caveats, then its technical
        detail (model-scale estimate, robustness, model checks) collapsed; its charts are shown by the steps
        above, and saved for download."""
        entry = self.measure_result(m)
        found = entry.findings
        checks = []
        if m.its is not None and m.its.autocorrelation_test:
            checks.append(m.its.autocorrelation_test.get("interpretation", ""))
            if m.its.overdispersion_test:
                checks.append(m.its.overdispersion_test.get("family_check", ""))
        notes = [tidy(n) for n in list(m.caveats) + ([m.reason] if m.reason and m.status != "not_in_data" else [])]
        technical = ([f"Step change at go-live on the model's scale: {model_estimate_text(entry)}."]
                     if entry.its is not None else [])
        technical += [found.robustness] if found.robustness else []
        technical += [f"Model checks: {'; '.join(c for c in checks if c)}."] if any(checks) else []
        technical += list(found.technical)
        plain = [s for s in (found.headline, found.verdict, found.interval, found.spc_note) if s]
        return str(render_macro(TEMPLATE, "measure", m.measure.id, m.measure.name, plain, found.comparative, notes,
                                technical))

    def data_rows(self) -> list[dict]:
        """Row accounting for every input file: read = kept + rejected."""
        return [{"file": Path(r.path).name, "layout": r.layout, "read": r.rows_read, "kept": r.rows_kept,
                 "rejected": r.rows_rejected, "reasons": sorted(r.rejected.items())} for r in self.reports]

    def data_html(self) -> str:
        """The row accounting as a table (see :meth:`data_rows`)."""
        return str(render_macro(TEMPLATE, "data_table", self.data_rows()))

    def data_table(self) -> pd.DataFrame:
        """:meth:`data_rows` as a data frame."""
        return pd.DataFrame(self.data_rows())


def _close(fig) -> None:
    """Close a figure in pyplot (the Figure object stays usable)."""
    import matplotlib.pyplot as plt

    plt.close(fig)
