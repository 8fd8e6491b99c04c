"""Tests for the diagnostics chart (evaluation.publish.charts.diagnostics_chart)."""

from __future__ import annotations

from xml.etree import ElementTree

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from evaluation.methods.its import fit_its
from evaluation.publish import charts


def _fit(phi: float = 0.6):
    rng = np.random.default_rng(3)
    n, n_pre = 84, 60
    periods = pd.date_range("2015-01-01", periods=n, freq="MS")
    t = np.arange(1, n + 1, dtype=float)
    e = np.zeros(n)
    for i in range(n):
        e[i] = (phi * e[i - 1] if i else 0.0) + rng.normal()
    y = 20 + 0.05 * t + 1.5 * (t > n_pre) + e
    series = pd.DataFrame({"period": periods, "numerator": np.nan, "denominator": np.nan, "value": y})
    return fit_its(series, intervention=periods[n_pre], value_type="rate")


def test_diagnostics_chart_draws_residuals_acf_with_band_and_qq() -> None:
    diag = _fit().diagnostics()
    fig = charts.diagnostics_chart(diag, title="Sickness absence: Site A (model diagnostics)")
    ax_t, ax_acf, ax_qq = fig.axes
    # Residual panel: one point per month, split before / from go-live.
    n_points = sum(len(c.get_offsets()) for c in ax_t.collections)
    assert n_points == len(diag["residuals"]) == diag["acf"]["n"]
    # ACF panel: the white-noise band is +/- 1.96 / sqrt(n); one bar and one diamond per lag.
    band = diag["acf"]["band"]
    patch = ax_acf.patches[0]
    box = ax_acf.transData.inverted().transform_bbox(patch.get_window_extent(fig.canvas.get_renderer()))
    assert (box.y0, box.y1) == pytest.approx((-band, band), rel=1e-6)
    bars = [c for c in ax_acf.collections if c.get_label() == "Residuals (no AR term)"][0]
    assert len(bars.get_segments()) == len(diag["acf"]["lags"])
    tops = [seg[1][1] for seg in bars.get_segments()]
    assert tops == pytest.approx(diag["acf"]["values"])
    diamonds = [c for c in ax_acf.collections if c.get_label() == "Left after the AR(1) model"][0]
    assert np.allclose(diamonds.get_offsets()[:, 1], diag["acf"]["normalized"])
    labels = [t.get_text() for t in ax_acf.get_legend().get_texts()]
    assert labels == ["95% band for white noise", "Residuals (no AR term)", "Left after the AR(1) model"]
    # Q-Q panel: the sorted standardised residuals against normal quantiles.
    qq = ax_qq.collections[0].get_offsets()
    assert np.allclose(qq[:, 0], diag["qq"]["theoretical"]) and np.allclose(qq[:, 1], diag["qq"]["sample"])
    # NHS palette.
    assert mcolors.to_hex(bars.get_colors()[0]).upper() == charts.NHS["blue"]
    assert fig._suptitle.get_text() == "Sickness absence: Site A (model diagnostics)"


def test_diagnostics_chart_files_are_reproducible(tmp_path) -> None:
    diag = _fit().diagnostics()
    first = charts.save_figure(charts.diagnostics_chart(diag, title="t"), tmp_path / "a" / "diag")
    second = charts.save_figure(charts.diagnostics_chart(diag, title="t"), tmp_path / "b" / "diag")
    assert [p.suffix for p in first] == [".png", ".svg"]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_a_saved_svg_is_well_formed_xml_with_its_declaration_intact(tmp_path) -> None:
    """Rounding the coordinates must not touch the XML declaration: version "1.0" rounded to "1" is not XML,
    and a browser shows an error page instead of the chart."""
    files = charts.save_figure(charts.diagnostics_chart(_fit().diagnostics(), title="t"), tmp_path / "diag")
    text = files[1].read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="utf-8"')
    root = ElementTree.fromstring(text.encode("utf-8"))  # noqa: S314 - a file this test just wrote
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_the_svg_reuses_the_layout_worked_out_for_the_png(tmp_path) -> None:
    """One layout pass per chart: after the PNG the figure has no layout engine, so saving the SVG draws it once
    at the same positions instead of laying it out again (which was about a quarter of a chart's cost)."""
    fig = charts.diagnostics_chart(_fit().diagnostics(), title="t")
    assert fig.get_layout_engine() is not None
    png = charts.render_png(fig)
    assert fig.get_layout_engine() is None
    laid_out = [ax.get_position().bounds for ax in fig.axes]
    charts.save_figure(fig, tmp_path / "diag", png_bytes=png)
    assert [ax.get_position().bounds for ax in fig.axes] == laid_out
    assert laid_out[0] != pytest.approx(charts.diagnostics_chart(_fit().diagnostics(), title="t").axes[0]
                                        .get_position().bounds)  # the layout did move the axes


def test_coarsen_svg_rounds_the_drawing_and_leaves_the_prolog():
    text = '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg version="1.1"><path d="M 10.123456 -0.0001 L 3.5 2"/></svg>'
    assert charts.coarsen_svg(text) == ('<?xml version="1.0"?>\n<!DOCTYPE svg>\n'
                                        '<svg version="1.1"><path d="M 10.12 0 L 3.5 2"/></svg>')


def test_diagnostics_chart_leaves_off_hidden_residuals() -> None:
    # The workbook blanks the residuals of months a table would suppress; those points must not be drawn.
    diag = _fit().diagnostics()
    for row in diag["residuals"][:5]:
        row["residual"] = float("nan")
    fig = charts.diagnostics_chart(diag, title="t")
    drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert np.isfinite(np.asarray(drawn, dtype=float)).all(axis=1).sum() == len(diag["residuals"]) - 5


# ---------------------------------------------------------------------------- charts readable at the size shown

def _its_frame(n: int = 48, go: int = 30) -> pd.DataFrame:
    per = pd.date_range("2019-01-01", periods=n, freq="MS")
    line = np.linspace(100, 120, n)
    return pd.DataFrame({"period": per, "post": np.arange(n) >= go, "observed": np.round(line / 5) * 5,
                         "fitted": line, "counterfactual": line + 3, "cf_low": line - 4, "cf_high": line + 9})


META = {"scale": "rate_ratio", "pooled": {"estimate": 0.87, "ci_low": 0.76, "ci_high": 1.01},
        "prediction_interval": {"low": 0.65, "high": 1.15},
        "sites": [{"label": "Dorset", "estimate": 0.84, "ci_low": 0.75, "ci_high": 0.94, "weight": 0.5},
                  {"label": "Lancashire and South Cumbria", "estimate": 0.95, "ci_low": 0.8, "ci_high": 1.1,
                   "weight": 0.5}]}


def _charts():
    frame = _its_frame()
    yield charts.its_chart(frame, title="Referrals: Site A (interrupted time series)", ylabel="referrals per month",
                           intervention=frame["period"][30])
    yield charts.forest_plot(META, title="Referrals: change at go-live by site")
    yield charts.diagnostics_chart(_fit().diagnostics(), title="Sickness absence: Site A (model diagnostics)")
    # A share over nine years: the layout that once ran the legend's last letters past the right edge.
    share = pd.DataFrame({"period": pd.date_range("2016-04-01", periods=108, freq="MS"),
                          "post": np.arange(108) >= 64, "observed": 0.70, "fitted": 0.70, "counterfactual": 0.70,
                          "cf_low": 0.68, "cf_high": 0.72})
    yield charts.its_chart(share, title="Share of referrals accepted: Dorset (interrupted time series)",
                           ylabel="proportion of referrals", intervention=share["period"][64])


@pytest.mark.parametrize("index", range(4))
def test_every_chart_fits_the_column_with_text_of_at_least_10_pt_and_the_legend_off_the_data(index):
    made = list(_charts())
    fig = made[index]
    for other in made:  # only the one under test stays open
        if other is not fig:
            plt.close(other)
    width_px = fig.get_size_inches()[0] * fig.dpi
    assert width_px <= 700  # the content column at 1280 px: not scaled down, so 10 pt stays about 13 px
    assert charts.min_font_pt(fig) >= charts.MIN_FONT_PT
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    # Axes legends (the diagnostics panels) must stay off their own axes; a figure legend (every other chart,
    # placed below by constrained layout) off every axes. Both must lie inside the figure (none clipped).
    legends = [(ax.get_legend(), [ax]) for ax in fig.axes if ax.get_legend() is not None]
    legends += [(legend, fig.axes) for legend in fig.legends]
    assert legends or index == 1, "a chart lost its legend"  # the forest plot's caption explains its marks
    for legend, axes in legends:
        box = legend.get_window_extent(renderer)
        for ax in axes:
            assert not box.overlaps(ax.get_window_extent(renderer)) or index == 2 and ax is fig.axes[0], ax
        assert fig_box.x0 - 1 <= box.x0 and box.x1 <= fig_box.x1 + 1 and box.y0 >= fig_box.y0 - 1  # not clipped


def test_forest_plot_is_on_a_linear_percent_lower_higher_axis():
    fig = charts.forest_plot(META, title="Referrals: change at go-live by site")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "no change" in labels and any(t.endswith("% lower") for t in labels), labels
    assert "×" not in "".join(labels) and "10^" not in "".join(labels)
    assert charts.change_label(-20, "rate_ratio") == "20% lower" and charts.change_label(1.5, "difference") == (
        "1.5 points higher")


def test_figure_html_carries_the_smallest_font_for_the_browser_check():
    frame = _its_frame()
    fig = charts.its_chart(frame, title="t", ylabel="y", intervention=frame["period"][30])
    out = charts.figure_html(fig, 'alt with "quotes"', "Caption")
    assert 'data-min-font-pt="10"' in out and "&#34;quotes&#34;" in out or "&quot;quotes&quot;" in out
    assert "<figcaption>Caption</figcaption>" in out


def test_each_chart_writes_the_data_it_draws_as_csv(tmp_path):
    frame = _its_frame()
    fig = charts.its_chart(frame, title="t", ylabel="y", intervention=frame["period"][30])
    files = charts.save_figure(fig, tmp_path / "x_its")
    assert [p.suffix for p in files] == [".png", ".svg", ".csv"]
    table = pd.read_csv(files[2])
    assert list(table.columns) == ["period", "post", "observed", "fitted", "counterfactual", "cf_low", "cf_high"]
    assert table["observed"].tolist() == frame["observed"].tolist() and table["period"][0] == "2019-01-01"
