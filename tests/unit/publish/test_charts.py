"""Tests for the diagnostics chart (evaluation.publish.charts.diagnostics_chart)."""

from __future__ import annotations

import matplotlib.colors as mcolors
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


def test_diagnostics_chart_leaves_off_hidden_residuals() -> None:
    # The workbook blanks the residuals of months a table would suppress; those points must not be drawn.
    diag = _fit().diagnostics()
    for row in diag["residuals"][:5]:
        row["residual"] = float("nan")
    fig = charts.diagnostics_chart(diag, title="t")
    drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert np.isfinite(np.asarray(drawn, dtype=float)).all(axis=1).sum() == len(diag["residuals"]) - 5
