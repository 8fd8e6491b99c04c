"""Charts in the NHS palette: SPC (XmR), interrupted time series with its counterfactual band and residual diagnostics.

Figures are returned as matplotlib objects and published with :func:`figure_html`, which embeds the PNG
with alt text that states the finding (myst-nb renders the HTML output as it is). Series are told apart by
line style and marker as well as colour. Files are written with fixed metadata so rebuilds are
byte-identical.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are rendered to files; no display is needed in a kernel or CI

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

NHS = {
    "blue": "#005EB8",
    "dark_blue": "#003087",
    "text": "#212B32",
    "grey": "#4C6272",
    "mid_grey": "#768692",
    "pale_grey": "#E8EDEE",
    "green": "#007F3B",
    "red": "#D5281B",
    "purple": "#330072",
    "orange": "#ED8B00",
    "warm_yellow": "#FFB81C",
}
# Making Data Count point colours: improvement blue, concern orange, neutral purple, common cause grey.
MDC_POINT_COLOURS = {
    "common_cause": NHS["mid_grey"],
    "special_cause_improvement": NHS["blue"],
    "special_cause_concern": NHS["orange"],
    "special_cause_neutral_high": NHS["purple"],
    "special_cause_neutral_low": NHS["purple"],
    "missing": NHS["pale_grey"],
}
MDC_LABELS = {
    "common_cause": "Common cause variation",
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_concern": "Special cause: concern",
    "special_cause_neutral_high": "Special cause: higher (neutral)",
    "special_cause_neutral_low": "Special cause: lower (neutral)",
}
MDC_MARKERS = {
    "common_cause": "o",
    "special_cause_improvement": "^",
    "special_cause_concern": "v",
    "special_cause_neutral_high": "s",
    "special_cause_neutral_low": "D",
}

plt.rcParams.update(
    {
        "font.family": "DejaVu Sans",
        "font.size": 10,
        "axes.edgecolor": NHS["grey"],
        "axes.labelcolor": NHS["text"],
        "text.color": NHS["text"],
        "xtick.color": NHS["text"],
        "ytick.color": NHS["text"],
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "cmh-evaluation",  # stable SVG ids
        "svg.fonttype": "path",
    }
)


def _finish(fig: plt.Figure, ax: plt.Axes, title: str, ylabel: str, *, legend_outside: bool = True) -> plt.Figure:
    """The layout every chart shares: left-aligned title, y label, legend outside on the right (or, in a
    panel with neighbours, inside the axes)."""
    ax.set_title(title, loc="left", fontsize=11, color=NHS["text"])
    ax.set_ylabel(ylabel)
    if legend_outside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    else:
        ax.legend(loc="upper right", frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def spc_chart(points: pd.DataFrame, *, title: str, ylabel: str, intervention=None) -> plt.Figure:
    """An XmR chart: the series, mean and process limits per phase, points coloured by Making Data Count rule."""
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
    x = pd.to_datetime(points["period"])
    ax.plot(x, points["value"], color=NHS["mid_grey"], linewidth=1, zorder=1)
    for _, phase in points.groupby("phase", sort=True):
        px = pd.to_datetime(phase["period"])
        ax.plot(px, phase["mean"], color=NHS["text"], linewidth=1.2, label=None, zorder=2)
        ax.plot(px, phase["upl"], color=NHS["grey"], linewidth=1, linestyle="--", zorder=2)
        ax.plot(px, phase["lpl"], color=NHS["grey"], linewidth=1, linestyle="--", zorder=2)
    for kind, group in points.groupby("point_type", sort=True):
        if kind not in MDC_MARKERS:
            continue
        ax.scatter(pd.to_datetime(group["period"]), group["value"], s=22, zorder=3,
                   color=MDC_POINT_COLOURS[kind], marker=MDC_MARKERS[kind], label=MDC_LABELS[kind])
    ax.plot([], [], color=NHS["text"], linewidth=1.2, label="Mean")
    ax.plot([], [], color=NHS["grey"], linewidth=1, linestyle="--", label="Process limits")
    if intervention is not None:
        ax.axvline(pd.Timestamp(intervention), color=NHS["dark_blue"], linestyle=":", linewidth=1.5,
                   label="Go-live (limits recalculated)")
    return _finish(fig, ax, title, ylabel)


def its_chart(frame: pd.DataFrame, *, title: str, ylabel: str, intervention) -> plt.Figure:
    """Observed series, fitted model and the counterfactual (no-change) line with its 95% band."""
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
    x = pd.to_datetime(frame["period"])
    post = frame["post"].astype(bool)
    ax.fill_between(x[post], frame.loc[post, "cf_low"], frame.loc[post, "cf_high"], color=NHS["pale_grey"],
                    label="Expected without the change (95% interval)", zorder=1)
    ax.plot(x, frame["observed"], color=NHS["mid_grey"], marker="o", markersize=3, linewidth=0.8,
            label="Observed", zorder=2)
    ax.plot(x, frame["fitted"], color=NHS["blue"], linewidth=2, label="Model", zorder=3)
    ax.plot(x[post], frame.loc[post, "counterfactual"], color=NHS["dark_blue"], linewidth=2, linestyle="--",
            label="Expected without the change", zorder=3)
    ax.axvline(pd.Timestamp(intervention), color=NHS["text"], linestyle=":", linewidth=1.5, label="Go-live")
    return _finish(fig, ax, title, ylabel)


def synthetic_control_chart(path: pd.DataFrame, *, title: str, ylabel: str, intervention) -> plt.Figure:
    """The site's series against its synthetic control (a weighted mix of comparator providers)."""
    fig, ax = plt.subplots(figsize=(9, 3.8), dpi=100)
    x = pd.to_datetime(path["time"])
    ax.plot(x, path["actual"], color=NHS["blue"], linewidth=1.8, marker="o", markersize=2.5, label="Site")
    ax.plot(x, path["synthetic"], color=NHS["text"], linewidth=1.8, linestyle="--", label="Synthetic control")
    ax.axvline(pd.Timestamp(intervention), color=NHS["grey"], linestyle=":", linewidth=1.5, label="Go-live")
    return _finish(fig, ax, title, ylabel)


def forest_plot(meta: dict, *, title: str) -> plt.Figure:
    """Forest plot: each site's effect and 95% CI (square sized by weight) and the pooled diamond."""
    sites = meta["sites"]
    n = len(sites)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.55 * (n + 2)), dpi=100)
    ys = list(range(n + 1, 1, -1))
    for y, s in zip(ys, sites, strict=True):
        ax.plot([s["ci_low"], s["ci_high"]], [y, y], color=NHS["text"], linewidth=1.5)
        ax.scatter([s["estimate"]], [y], marker="s", s=40 + 260 * s["weight"], color=NHS["blue"], zorder=3)
    p = meta["pooled"]
    ax.fill([p["ci_low"], p["estimate"], p["ci_high"], p["estimate"]], [0.8, 1.1, 0.8, 0.5],
            color=NHS["dark_blue"], zorder=3)
    pi = meta.get("prediction_interval")
    if pi:
        ax.plot([pi["low"], pi["high"]], [0.8, 0.8], color=NHS["dark_blue"], linewidth=1, linestyle=":")
    null = 0.0 if meta["scale"] == "difference" else 1.0
    ax.axvline(null, color=NHS["grey"], linestyle="--", linewidth=1)
    if meta["scale"] != "difference":
        ax.set_xscale("log")
    ax.set_yticks([*ys, 0.8], [s["label"] for s in sites] + ["Pooled (random effects)"])
    ax.set_xlabel(meta["scale"].replace("_", " ") + " (step change at go-live)")
    ax.set_title(title, loc="left", fontsize=11, color=NHS["text"])
    ax.set_ylim(0.2, n + 1.8)
    fig.tight_layout()
    return fig


def diagnostics_chart(diag: dict, *, title: str) -> plt.Figure:
    """Residual diagnostics of an ITS fit in three panels, from :func:`evaluation.methods.its.diagnostics`.

    Left: Pearson residuals over time (circles before go-live, triangles after), so drift, outliers
    or a missed break show. Middle: the autocorrelation function of those residuals (bars) and of the
    residuals left once the AR(1) error model is allowed for (diamonds), with the ±1.96/sqrt(n)
    white-noise band. Right: normal Q-Q plot of the latter.
    """
    fig, (ax_t, ax_acf, ax_qq) = plt.subplots(1, 3, figsize=(11, 3.6), dpi=100,
                                              gridspec_kw={"width_ratios": [1.5, 1.2, 1.0]})
    res = pd.DataFrame(diag["residuals"])
    x = pd.to_datetime(res["period"])
    post = res["post"].astype(bool)
    ax_t.axhline(0, color=NHS["grey"], linewidth=0.8)
    ax_t.plot(x, res["residual"], color=NHS["mid_grey"], linewidth=0.7, zorder=1)
    ax_t.scatter(x[~post], res.loc[~post, "residual"], s=10, color=NHS["blue"], marker="o", zorder=2,
                 label="Before go-live")
    ax_t.scatter(x[post], res.loc[post, "residual"], s=12, color=NHS["dark_blue"], marker="^", zorder=2,
                 label="From go-live")
    # Every other year: a decade of monthly ticks does not fit a third of the figure's width.
    ax_t.xaxis.set_major_locator(mdates.YearLocator(base=2))
    ax_t.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax_t.set_title("Residuals over time", loc="left", fontsize=11)
    ax_t.set_ylabel(diag.get("residual_label", "Pearson residual"))
    ax_t.legend(loc="best", frameon=False, fontsize=7)

    a = diag["acf"]
    lags = a["lags"]
    band = a["band"]
    ax_acf.axhspan(-band, band, color=NHS["pale_grey"], zorder=0, label="95% band for white noise")
    ax_acf.axhline(0, color=NHS["grey"], linewidth=0.8)
    ax_acf.vlines(lags, 0, a["values"], color=NHS["blue"], linewidth=2.5, label="Residuals (no AR term)")
    ax_acf.scatter(lags, a["normalized"], marker="D", s=16, color=NHS["orange"], zorder=3,
                   label="Left after the AR(1) model")
    ax_acf.set_xlabel("Lag (months)")
    ax_acf.set_ylim(min(-0.5, min(a["values"] + a["normalized"], default=0.0) - 0.05), 1.0)

    q = diag["qq"]
    both = q["theoretical"] + q["sample"]
    lim = max(abs(min(both, default=0.0)), abs(max(both, default=0.0)), 1.0) + 0.2
    ax_qq.plot([-lim, lim], [-lim, lim], color=NHS["grey"], linestyle="--", linewidth=1)
    ax_qq.scatter(q["theoretical"], q["sample"], s=9, color=NHS["dark_blue"], marker="o")
    ax_qq.set_xlim(-lim, lim)
    ax_qq.set_ylim(-lim, lim)
    ax_qq.set_title("Normal Q-Q (after AR(1))", loc="left", fontsize=11)
    ax_qq.set_xlabel("Normal quantile")
    ax_qq.set_ylabel("Standardised residual")
    fig.suptitle(title, x=0.01, ha="left", fontsize=11, color=NHS["text"])
    # The ACF panel carries the legend that explains the band and the two sets of markers; inside the
    # axes, since the Q-Q panel sits to its right.
    return _finish(fig, ax_acf, "Autocorrelation", "ACF", legend_outside=False)


#: Decimal places kept in SVG coordinates (in points): a hundredth of a point is far below what a screen or
#: printer shows, and matplotlib's default of six decimals would carry each value almost exactly.
SVG_DECIMALS = 2
_SVG_FLOAT = re.compile(r"(?<![\w#.])(-?)(\d+)\.(\d+)")


def coarsen_svg(text: str, decimals: int = SVG_DECIMALS) -> str:
    """SVG text with every decimal number rounded to ``decimals`` places (trailing zeros dropped).

    Defence in depth: the charts draw published values only (:mod:`evaluation.publish.chart_data`), and the
    file should not carry more precision than a reader can see either.
    """
    def short(m: re.Match[str]) -> str:
        value = round(float(m.group(0)), decimals)
        out = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
        return "0" if out in ("-0", "") else out

    return _SVG_FLOAT.sub(short, text)


def save_figure(fig: plt.Figure, stem: Path | str) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg with fixed metadata (no dates or versions), for downloads.

    SVG coordinates are rounded to :data:`SVG_DECIMALS` places (see :func:`coarsen_svg`).
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, format="png", metadata={"Software": None})
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg.write_text(coarsen_svg(buf.getvalue()), encoding="utf-8")
    return [png, svg]


def figure_html(fig: plt.Figure, alt: str, caption: str = "") -> str:
    """An accessible ``<figure>`` with the chart embedded as PNG and alt text that states the finding."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure class="eval-figure"><img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}"'
        f' style="max-width:100%;height:auto" />{cap}</figure>'
    )
