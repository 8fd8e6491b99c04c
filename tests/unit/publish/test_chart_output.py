"""A Chart is a picture in JupyterLab and an accessible figure on the site, whatever the matplotlib backend."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")  # the backend that registers no IPython figure formatter

import matplotlib.pyplot as plt  # noqa: E402
from IPython.core.formatters import format_display_data  # noqa: E402

from evaluation.publish.chart_output import Chart  # noqa: E402


def _chart() -> Chart:
    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([1, 2, 3], [3, 1, 2])
    return Chart("X_spc", fig, 'Chart of "x" at <Site>', "a caption")


def test_the_bundle_holds_a_png_and_an_html_figure_with_escaped_alt_text():
    data, _ = format_display_data(_chart())  # what display() and myst_nb.glue() store
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
    html = data["text/html"]
    assert 'alt="Chart of &#34;x&#34; at &lt;Site&gt;"' in html and "<figcaption>a caption</figcaption>" in html
    assert data["text/plain"] == 'Chart of "x" at <Site>'


def test_identical_charts_give_identical_bytes():
    assert _chart().png() == _chart().png()
