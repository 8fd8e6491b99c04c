"""What a domain notebook shows: the synthetic-data notice, the site and go-live, the headline, the summary
table, each measure's charts and sentences, and the row accounting.

Presentation only: :mod:`evaluation.evaluate.run` loads, evaluates and records; this module reads the evaluation
objects (for charts) and the typed results (for every number and sentence), and never writes a results file.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation
from evaluation.evaluate.run import DomainRun
from evaluation.panel.frame import ReadReport
from evaluation.publish.disclosure import default_rules, suppress_count
from evaluation.results.schema import DomainResult
from evaluation.results.sentences import model_estimate_text

SYNTHETIC_NOTICE = (
    "These results are built from synthetic demonstration data: the numbers are made up (with known effects "
    "built in to test the methods) and say nothing about real services."
)


class NotebookView:
    """How a domain notebook shows one evaluated site x domain (the evaluation objects draw the charts; every
    number and sentence comes from the typed result)."""

    def __init__(self, evaluation: DomainEvaluation, result: DomainResult, reports: list[ReadReport],
                 figures_dir: Path) -> None:
        self.evaluation = evaluation
        self.result = result
        self.reports = reports
        self.figures_dir = Path(figures_dir)

    @classmethod
    def of(cls, run: DomainRun) -> NotebookView:
        """The view of a :func:`evaluation.evaluate.run.run_domain` result."""
        return cls(run.evaluation, run.result, run.reports, run.figures_dir)

    def measure_result(self, m: MeasureEvaluation):
        """The typed result of one evaluated measure."""
        return next(x for x in self.result.measures if x.measure_id == m.measure.id)

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
        text = self.result.headline.findings.headline
        if not m.measure.headline:
            designated = next(x for x in ev.measures if x.measure.headline)
            text += (f" (The designated headline measure, {designated.measure.name.lower()}, is "
                     f"{designated.reason or 'not available'}; the first measure that could be evaluated is shown.)")
        return _md_escape(text)

    def headline_estimate_markdown(self) -> str:
        """The headline step change and its 95% CI on the model's scale, or why there is none."""
        return model_estimate_text(self.result.headline)

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
        for entry in self.result.measures:
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

    def measure_html(self, m: MeasureEvaluation) -> str:
        """A measure's section: heading, finding, SPC chart, ITS chart and caveats (figures saved too)."""
        from evaluation.publish import chart_data, charts

        ev = self.evaluation
        found = self.measure_result(m).findings
        name = m.measure.name
        site = ev.site.name
        out = [f'<h3 id="measure-{m.measure.id.lower()}">{html.escape(name)}</h3>',
               f"<p>{html.escape(found.headline)}</p>"]
        stem = self.figures_dir / m.measure.id
        # Charts draw what the tables publish (evaluation.publish.chart_data); the models use every value.
        vt, series = m.measure.value_type, m.series
        if m.xmr is not None and series is not None:
            points = chart_data.spc_points_for_publication(m.xmr.points, series, vt, m.measure.direction)
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
                   f"the expected values without the change with a 95% band. {found.headline}")
            fig = charts.its_chart(chart_data.its_frame_for_publication(m.its.frame, series, vt),
                                  title=f"{name}: {site} (interrupted time series)",
                                  ylabel=m.measure.unit, intervention=ev.intervention_date)
            charts.save_figure(fig, stem.with_name(stem.name + "_its"))
            out.append(charts.figure_html(fig, alt, "Segmented regression with seasonality and a COVID-19 term; "
                                                   "dashed line: expected without the change."))
        robust = found.robustness
        if robust:
            out.append(f"<h4>How robust is this?</h4><p>{html.escape(robust)}</p>")
            if m.its.autocorrelation_test:
                tests = [m.its.autocorrelation_test.get("interpretation", "")]
                if m.its.overdispersion_test:
                    tests.append(m.its.overdispersion_test.get("family_check", ""))
                out.append(f"<p>Model checks: {html.escape('; '.join(t for t in tests if t))}.</p>")
            if m.its.residuals is not None:
                # Collapsed: the panel is for readers who want to check the model, not the headline.
                # A month's residual and the fitted line on the ITS chart give its value back: the panel is
                # recomputed from the published values.
                diag = chart_data.diagnostics_for_publication(
                    m.its.diagnostics(), m.its.frame, series, vt, rho=(m.its.error_model or {}).get("rho") or 0.0)
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
        comp_text = found.comparative
        if comp_text:
            out.append(f"<h4>Compared with other providers</h4><p>{html.escape(comp_text)}</p>")
            sc = (m.comparative or {}).get("synthetic_control")
            if sc and sc.get("path"):
                path = chart_data.synthetic_control_for_publication(pd.DataFrame(sc["path"]), series, vt,
                                                                    ev.intervention_date)
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


def _md_escape(text: str) -> str:
    """Escape characters MyST would read as markup in a generated sentence."""
    for ch in ("\\", "*", "_", "`", "[", "]", "<", ">", "{", "}"):
        text = text.replace(ch, "\\" + ch)
    return text


