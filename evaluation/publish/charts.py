"""Charts in the NHS palette: SPC (XmR), interrupted time series with its counterfactual band and residual diagnostics.

Figures are returned as matplotlib objects and published with :func:`figure_html`, which embeds the PNG
with alt text that states the finding (myst-nb renders the HTML output as it is). Series are told apart by
line style and marker as well as colour. Files are written with fixed metadata so rebuilds are
byte-identical.

Sized for the page they are read on: every figure is :data:`FIG_WIDTH` inches at :data:`DPI` (no wider than the
site's content column at 1280 px, so the browser does not scale it down) and no text is smaller than
:data:`MIN_FONT_PT`, so chart text is at least about 12 px on a laptop; legends sit below the data, never on it.
:func:`figure_html` records the smallest font on the ``<img>`` (``data-min-font-pt``) for the browser check, and
:func:`save_figure` writes the data each chart draws (already disclosure-controlled by
:mod:`evaluation.publish.chart_data`) as a CSV beside the PNG and SVG.
"""

from __future__ import annotations

import base64
import io
import re
import textwrap
import weakref
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are rendered to files; no display is needed in a kernel or CI

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text as mtext  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import pandas as pd  # noqa: E402

from evaluation.publish.templates import render_macro  # noqa: E402

#: Figure width in inches and resolution: 7 in at 100 dpi is 700 px, no wider than the content column at 1280 px.
FIG_WIDTH, DPI = 7.0, 100
#: The smallest text in any chart (points): 10 pt at 700 px shown at 700 px is 13 px (the page's small print
#: is 12 px).
MIN_FONT_PT = 10.0
BASE_FONT_PT, TITLE_FONT_PT = 11.0, 12.0
#: The data each figure draws, written beside it by :func:`save_figure` (kept only while the figure lives).
_CHART_DATA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

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
        "font.size": BASE_FONT_PT,
        "axes.titlesize": TITLE_FONT_PT,
        "axes.labelsize": BASE_FONT_PT,
        "xtick.labelsize": MIN_FONT_PT,
        "ytick.labelsize": MIN_FONT_PT,
        "legend.fontsize": MIN_FONT_PT,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
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


def _observed_column(data: pd.DataFrame, column: str) -> pd.DataFrame:
    """The chart data with its monthly figures named ``observed`` when they are whole numbers (counts), so the
    disclosure checker reads that CSV column as counts; a share or a rate is named ``observed_share_or_rate``."""
    values = pd.to_numeric(data[column], errors="coerce").dropna()
    whole = bool(len(values)) and bool((values == values.round()).all())
    return data.rename(columns={column: "observed" if whole else "observed_share_or_rate"})


def _figure(height: float, data: pd.DataFrame | None = None, **kwargs) -> tuple[plt.Figure, plt.Axes]:
    """A chart-sized figure with constrained layout (titles and outside legends are never clipped)."""
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, height), dpi=DPI, layout="constrained", **kwargs)
    if data is not None:
        _CHART_DATA[fig] = data.reset_index(drop=True)
    return fig, ax


#: Characters per line of a chart title at :data:`TITLE_FONT_PT` across :data:`FIG_WIDTH`.
TITLE_CHARS = 70


def _title(fig: plt.Figure, title: str) -> None:
    """The chart's title at the figure's left edge, wrapped to fit its width (never clipped)."""
    fig.suptitle(textwrap.fill(title, TITLE_CHARS), x=0.01, ha="left", fontsize=TITLE_FONT_PT, color=NHS["text"])


def _finish(fig: plt.Figure, ax: plt.Axes, title: str, ylabel: str, *, ncol: int = 2) -> plt.Figure:
    """The layout every chart shares: left-aligned title, y label, the legend below the axes (outside the data)."""
    _title(fig, title)
    ax.set_ylabel(ylabel)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # A figure legend placed "outside" is laid out by constrained layout within the figure's width; an axes
        # legend anchored below the axes could run past the right edge and lose its last letters.
        fig.legend(handles, labels, loc="outside lower left", ncol=ncol, frameon=False, handlelength=2.2)
    return fig


def chart_data(fig: plt.Figure) -> pd.DataFrame | None:
    """The data a chart draws (what :func:`save_figure` writes as CSV), or None for a figure made elsewhere."""
    return _CHART_DATA.get(fig)


def spc_chart(points: pd.DataFrame, *, title: str, ylabel: str, intervention=None) -> plt.Figure:
    """An XmR chart: the series, mean and process limits per phase, points coloured by Making Data Count rule."""
    cols = [c for c in ("period", "phase", "value", "mean", "lpl", "upl", "point_type") if c in points]
    fig, ax = _figure(4.6, _observed_column(points[cols], "value"))
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
    cols = [c for c in ("period", "post", "observed", "fitted", "counterfactual", "cf_low", "cf_high") if c in frame]
    fig, ax = _figure(4.6, _observed_column(frame[cols], "observed"))
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
    cols = [c for c in ("time", "actual", "synthetic") if c in path]
    fig, ax = _figure(4.2, path[cols])
    x = pd.to_datetime(path["time"])
    ax.plot(x, path["actual"], color=NHS["blue"], linewidth=1.8, marker="o", markersize=2.5, label="Site")
    ax.plot(x, path["synthetic"], color=NHS["text"], linewidth=1.8, linestyle="--",
            label="Blend of other providers (synthetic control)")
    ax.axvline(pd.Timestamp(intervention), color=NHS["grey"], linestyle=":", linewidth=1.5, label="Go-live")
    return _finish(fig, ax, title, ylabel)


def _as_change(x: float, scale: str) -> float:
    """A step on the model's scale as a change: percent for ratios ((x - 1) x 100), points for differences."""
    return x if scale == "difference" else (x - 1.0) * 100.0


def change_label(x: float, scale: str) -> str:
    """An axis tick in words: "20% lower", "no change", "10% higher" (points for a difference scale)."""
    unit = " points" if scale == "difference" else "%"
    if abs(x) < 1e-9:
        return "no change"
    number = f"{abs(x):.0f}" if scale != "difference" else f"{abs(x):.3g}"
    return f"{number}{unit} {'lower' if x < 0 else 'higher'}"


def forest_plot(meta: dict, *, title: str) -> plt.Figure:
    """Forest plot on a linear "% lower / % higher" axis: each site's step change with its 95% CI (square sized
    by weight), the pooled diamond and, dotted, the 95% prediction interval for a new site."""
    sites = meta["sites"]
    scale = meta["scale"]
    n = len(sites)

    def c(x: float) -> float:
        return _as_change(x, scale)

    rows = [{"label": s["label"], "change": c(s["estimate"]), "ci_low": c(s["ci_low"]), "ci_high": c(s["ci_high"]),
             "weight": s["weight"]} for s in sites]
    p = meta["pooled"]
    rows.append({"label": "Pooled (random effects)", "change": c(p["estimate"]), "ci_low": c(p["ci_low"]),
                 "ci_high": c(p["ci_high"]), "weight": None})
    fig, ax = _figure(1.6 + 0.6 * (n + 2), pd.DataFrame(rows))
    ys = list(range(n + 1, 1, -1))
    for y, s in zip(ys, rows, strict=False):
        ax.plot([s["ci_low"], s["ci_high"]], [y, y], color=NHS["text"], linewidth=1.5)
        ax.scatter([s["change"]], [y], marker="s", s=40 + 260 * s["weight"], color=NHS["blue"], zorder=3)
    pooled = rows[-1]
    ax.fill([pooled["ci_low"], pooled["change"], pooled["ci_high"], pooled["change"]], [0.8, 1.1, 0.8, 0.5],
            color=NHS["dark_blue"], zorder=3)
    pi = meta.get("prediction_interval")
    if pi:
        ax.plot([c(pi["low"]), c(pi["high"])], [0.8, 0.8], color=NHS["dark_blue"], linewidth=1, linestyle=":")
    ax.axvline(0.0, color=NHS["grey"], linestyle="--", linewidth=1)
    ax.set_yticks([*ys, 0.8], [s["label"] for s in sites] + ["Pooled (random effects)"])
    ax.xaxis.set_major_locator(mticker.MaxNLocator(nbins=5, symmetric=True))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda x, _pos: change_label(x, scale)))
    ax.set_xlabel("Change at go-live against the expected trend"
                  + (" (percentage points)" if scale == "difference" else ""))
    _title(fig, title)
    ax.set_ylim(0.2, n + 1.8)
    return fig


def diagnostics_chart(diag: dict, *, title: str) -> plt.Figure:
    """Residual diagnostics of an ITS fit in three panels, from :func:`evaluation.methods.its.diagnostics`.

    Left: Pearson residuals over time (circles before go-live, triangles after), so drift, outliers
    or a missed break show. Middle: the autocorrelation function of those residuals (bars) and of the
    residuals left once the AR(1) error model is allowed for (diamonds), with the ±1.96/sqrt(n)
    white-noise band. Right: normal Q-Q plot of the latter.
    """
    fig = plt.figure(figsize=(FIG_WIDTH, 7.4), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1.0, 1.25])
    ax_t = fig.add_subplot(grid[0, :])
    ax_acf = fig.add_subplot(grid[1, 0])
    ax_qq = fig.add_subplot(grid[1, 1])
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
    ax_t.set_title("Residuals over time", loc="left")
    ax_t.set_ylabel(diag.get("residual_label", "Pearson residual"))
    ax_t.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)

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
    ax_qq.set_title("Normal Q-Q (after AR(1))", loc="left")
    ax_qq.set_xlabel("Normal quantile")
    ax_qq.set_ylabel("Standardised residual")
    _title(fig, title)
    # The ACF panel carries the legend that explains the band and the two sets of markers, below it.
    ax_acf.set_title("Autocorrelation", loc="left", color=NHS["text"])
    ax_acf.set_ylabel("ACF")
    ax_acf.legend(loc="upper left", bbox_to_anchor=(0.0, -0.22), ncol=1, frameon=False, borderaxespad=0.0)
    return fig


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

    # The prolog (``<?xml version="1.0" ...?>`` and the DOCTYPE) is not drawing: version "1.0" rounded to "1"
    # is not XML, and a browser then shows an error instead of the chart.
    start = text.find("<svg")
    prolog, body = (text[:start], text[start:]) if start >= 0 else ("", text)
    return prolog + _SVG_FLOAT.sub(short, body)


def render_png(fig: plt.Figure) -> bytes:
    """The figure as PNG with fixed metadata, so identical charts give identical bytes. Rendering is most of a
    chart's cost: a chart is rendered to PNG once and those bytes serve the download, the notebook output and
    the page (:class:`evaluation.publish.chart_output.Chart`). The figure keeps this layout for later saves
    (:func:`freeze_layout`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    freeze_layout(fig)
    return buf.getvalue()


def freeze_layout(fig: plt.Figure) -> None:
    """Keep the positions the last draw laid out and stop laying the figure out again.

    With a layout engine, every save draws the figure twice (once to lay it out, once to render it); a figure
    already rendered, saved again as SVG, needs only the second. The PNG and the SVG then share one layout.
    An evaluator who changes a chart in a notebook lays it out again with ``fig.set_layout_engine("constrained")``.
    """
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # None under these settings: no engine, so savefig does no layout pass


def save_figure(fig: plt.Figure, stem: Path | str, png_bytes: bytes | None = None) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg with fixed metadata (no dates or versions), for downloads, and
    ``stem``.csv with the data the chart draws when it was drawn here (:func:`chart_data`): the values
    :mod:`evaluation.publish.chart_data` made safe to publish, so the CSV is as disclosure-controlled as the chart.

    ``png_bytes``: the figure already rendered by :func:`render_png` (it is rendered here when not given).
    SVG coordinates are rounded to :data:`SVG_DECIMALS` places (see :func:`coarsen_svg`).
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    png.write_bytes(render_png(fig) if png_bytes is None else png_bytes)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg.write_text(coarsen_svg(buf.getvalue()), encoding="utf-8")
    out = [png, svg]
    data = chart_data(fig)
    if data is not None:
        csv = stem.with_suffix(".csv")
        table = data.copy()
        for col in table.columns:
            if pd.api.types.is_datetime64_any_dtype(table[col]):
                table[col] = table[col].dt.strftime("%Y-%m-%d")
        table.to_csv(csv, index=False, float_format="%.6g", lineterminator="\n")
        out.append(csv)
    return out


def min_font_pt(fig: plt.Figure, drawn: bool = False) -> float:
    """The smallest font size (points) of any visible text in the figure, after drawing it (``drawn``: it has
    been rendered already, so its tick labels exist, and is not drawn again)."""
    if not drawn:
        fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(mtext.Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=MIN_FONT_PT)


def figure_html(fig: plt.Figure, alt: str, caption: str = "", technical: str = "",
                png_bytes: bytes | None = None) -> str:
    """An accessible ``<figure>`` with the chart embedded as PNG, alt text that states the finding and, on the
    ``<img>``, the smallest font in points (``data-min-font-pt``) so the browser check can measure it as shown.
    A ``technical`` chart (its summary line given) is collapsed in a "Technical detail" section.
    ``png_bytes``: the figure already rendered by :func:`render_png` (it is rendered here when not given)."""
    png = render_png(fig) if png_bytes is None else png_bytes
    smallest = min_font_pt(fig, drawn=True)
    plt.close(fig)
    data = base64.b64encode(png).decode("ascii")
    return str(render_macro("figure.html.j2", "figure", data, alt, caption, f"{smallest:g}", technical))
