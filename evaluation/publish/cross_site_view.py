"""What the cross-site notebook shows: each measure's pooled step change in words with its forest plot, and the
staggered difference-in-differences table, all read from the typed :class:`CrossSiteResult`."""

from __future__ import annotations

import html
from pathlib import Path

from evaluation.publish.chart_output import Chart
from evaluation.publish.notebook_view import SYNTHETIC_NOTICE
from evaluation.results.schema import CrossSiteResult, MetaAnalysis


class CrossSiteView:
    """The cross-site synthesis as notebook outputs (forest plots saved under ``figures_dir`` for download)."""

    def __init__(self, result: CrossSiteResult, figures_dir: Path | str) -> None:
        self.result = result
        self.figures_dir = Path(figures_dir)

    @property
    def synthetic(self) -> bool:
        return self.result.data_source == "synthetic"

    def notice_html(self) -> str:
        """A banner for synthetic data (empty for published data)."""
        if not self.synthetic:
            return ""
        return f'<div class="admonition warning synthetic-notice"><p>{html.escape(SYNTHETIC_NOTICE)}</p></div>'

    def measure_ids(self) -> list[str]:
        """The measures pooled, in a stable order."""
        return sorted(self.result.meta_analysis)

    def measure_html(self, measure_id: str) -> str:
        """A measure's heading and its pooled finding in one sentence."""
        meta = self.result.meta_analysis[measure_id]
        return f'<h3 id="meta-{measure_id.lower()}">{html.escape(meta.name)}</h3><p>{html.escape(meta.sentence)}</p>'

    def forest_chart(self, measure_id: str) -> Chart:
        """The forest plot of one measure: each site's step change with its interval, and the pooled diamond."""
        import matplotlib.pyplot as plt

        from evaluation.publish import charts

        meta = self.result.meta_analysis[measure_id]
        fig = charts.forest_plot(_forest_data(meta), title=f"{meta.name}: step change at go-live by site")
        name = f"{measure_id}_forest"
        files = charts.save_figure(fig, self.figures_dir / name)
        plt.close(fig)
        sites = ", ".join(s.label for s in meta.sites)  # the alt text names the sites shown
        alt = (f"Forest plot of the step change in {meta.name.lower()} at go-live for each site ({sites}) with "
               f"its 95% confidence interval, and the pooled random-effects estimate. {meta.sentence}")
        return Chart(name, fig, alt, "Each site's step change (square, sized by weight) with its 95% interval; "
                     "diamond: pooled estimate.", files)

    def staggered_html(self) -> str:
        """A table of the staggered difference-in-differences results per headline measure."""
        rows = []
        for mid, s in sorted(self.result.staggered_did.items()):
            if s.status != "ok":
                rows.append(f"<tr><th scope='row'>{html.escape(mid)}</th><td colspan='3'>"
                            f"{html.escape(s.reason)}</td></tr>")
                continue
            nat = s.simple.natural or s.simple
            pre = s.pretrend.p_value if s.pretrend is not None and s.pretrend.p_value is not None else float("nan")
            est = f"{nat.estimate:.2f} ({nat.ci_low:.2f} to {nat.ci_high:.2f})"
            rows.append(f"<tr><th scope='row'>{html.escape(s.name or mid)}</th><td>{est}</td>"
                        f"<td>{s.n_comparators}</td><td>{pre:.2f}</td></tr>")
        return ("<table class='table eval-table'><caption>Staggered difference-in-differences (Callaway and "
                "Sant'Anna): average effect after go-live across the sites, against never-treated comparator "
                "providers</caption><thead><tr><th scope='col'>Measure</th><th scope='col'>Average effect "
                "(95% CI), natural scale</th><th scope='col'>Comparators</th><th scope='col'>Pre-trend test "
                "p-value</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _forest_data(meta: MetaAnalysis) -> dict:
    """The fields :func:`evaluation.publish.charts.forest_plot` draws."""
    pi = meta.prediction_interval
    return {"scale": meta.scale, "pooled": meta.pooled.model_dump(),
            "prediction_interval": pi.model_dump() if pi is not None else None,
            "sites": [s.model_dump() for s in meta.sites]}
