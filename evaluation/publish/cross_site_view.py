"""What the cross-site notebook shows: each measure's pooled step change in words with its forest plot, and the
staggered difference-in-differences table, all read from the typed :class:`CrossSiteResult`."""

from __future__ import annotations

from pathlib import Path

from evaluation.dictionary.registry import default_registry
from evaluation.publish.chart_output import Chart
from evaluation.publish.notebook_view import SYNTHETIC_NOTICE
from evaluation.publish.notebook_view import TEMPLATE as NOTEBOOK
from evaluation.publish.templates import render_macro
from evaluation.results.schema import CrossSiteResult, MetaAnalysis
from evaluation.results.sentences import cross_site_guide, meta_technical

TEMPLATE = "cross_site.html.j2"


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
        return str(render_macro(NOTEBOOK, "notice", SYNTHETIC_NOTICE)) if self.synthetic else ""

    def measure_ids(self) -> list[str]:
        """The measures pooled, in a stable order."""
        return sorted(self.result.meta_analysis)

    def measure_html(self, measure_id: str) -> str:
        """A measure's heading and its pooled finding in one sentence."""
        meta = self.result.meta_analysis[measure_id]
        pi = meta.prediction_interval
        technical = meta_technical(meta.scale, meta.heterogeneity.i2, (pi.low, pi.high) if pi is not None else None)
        return str(render_macro(TEMPLATE, "measure", measure_id, meta.name, meta.sentence,
                                [s.label for s in meta.sites], technical))

    def explainer_html(self) -> str:
        """What pooling means, which sites each figure includes, and why the all-sites table can differ from the
        pooled figure (:func:`evaluation.results.sentences.cross_site_guide`)."""
        registry = default_registry()
        names = [registry.site(s).name for s in self.result.sites]
        codes = sorted({code for d in self.result.staggered_did.values() for code in d.sites})
        did = [site.name if (site := registry.site_by_code(code)) else code for code in codes]
        return str(render_macro(TEMPLATE, "explainer", cross_site_guide(names, did or None)))

    def forest_chart(self, measure_id: str) -> Chart:
        """The forest plot of one measure: each site's step change with its interval, and the pooled diamond."""
        import matplotlib.pyplot as plt

        from evaluation.publish import charts

        meta = self.result.meta_analysis[measure_id]
        fig = charts.forest_plot(_forest_data(meta), title=f"{meta.name}: step change at go-live by site")
        name = f"{measure_id}_forest"
        png = charts.render_png(fig)
        files = charts.save_figure(fig, self.figures_dir / name, png_bytes=png)
        plt.close(fig)
        sites = ", ".join(s.label for s in meta.sites)  # the alt text names the sites shown
        alt = (f"Forest plot of the step change in {meta.name.lower()} at go-live for each site ({sites}) with "
               f"its 95% confidence interval, and the pooled random-effects estimate. {meta.sentence}")
        return Chart(name, fig, alt, "Each site's step change (square, sized by weight) with its 95% interval; "
                     "diamond: pooled estimate.", files, png_bytes=png)

    def staggered_html(self) -> str:
        """A table of the staggered difference-in-differences results per headline measure (the method and its
        pre-trend tests under technical detail)."""
        rows = []
        for mid, s in sorted(self.result.staggered_did.items()):
            if s.status != "ok":
                rows.append({"name": s.name or mid, "reason": s.reason})
                continue
            main = s.overall or s.simple  # the group aggregation is the pre-specified overall summary
            nat = main.natural or main
            pre = s.pretrend.p_value if s.pretrend is not None and s.pretrend.p_value is not None else None
            sens = s.not_yet_treated_sensitivity
            alt = (sens.overall.natural or sens.overall) if sens is not None and sens.overall is not None else None
            rows.append({"name": s.name or mid, "reason": "", "n_comparators": s.n_comparators,
                         "sites": ", ".join(sorted(s.sites)),
                         "estimate": f"{nat.estimate:.2f} ({nat.ci_low:.2f} to {nat.ci_high:.2f})",
                         "pretrend": "not available" if pre is None else f"{pre:.2f}",
                         "sensitivity": "" if alt is None else f"{alt.estimate:.2f} ({alt.ci_low:.2f} to "
                                                               f"{alt.ci_high:.2f})"})
        return str(render_macro(TEMPLATE, "staggered", rows))


def _forest_data(meta: MetaAnalysis) -> dict:
    """The fields :func:`evaluation.publish.charts.forest_plot` draws."""
    pi = meta.prediction_interval
    return {"scale": meta.scale, "pooled": meta.pooled.model_dump(),
            "prediction_interval": pi.model_dump() if pi is not None else None,
            "sites": [s.model_dump() for s in meta.sites]}
