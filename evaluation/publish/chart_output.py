"""A chart as a notebook output: the matplotlib figure, shown as a picture in JupyterLab and as an accessible
``<figure>`` (alt text that states the finding, and a caption) on the site.

``display(chart)`` or ``myst_nb.glue(name, chart)`` give one output holding both ``image/png`` and ``text/html``
(myst-nb renders the HTML, which carries the alt text; a bare figure's ``<img>`` would have none). The bundle
is made here, not by IPython's figure formatter, so it does not depend on the kernel's matplotlib backend
(a forced Agg backend registers no formatter, and ``glue(fig)`` would then store text only).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure


@dataclass
class Chart:
    """One chart: the figure an evaluator can change, the alt text that states its finding, a caption, and the
    name it is glued and saved under (``<name>.png`` / ``.svg`` beside the page, for downloads)."""

    name: str
    figure: Figure
    alt: str
    caption: str = ""
    files: list[Path] = field(default_factory=list)
    #: For statistics readers only (model diagnostics): the site shows it collapsed under this summary line.
    technical: str = ""

    #: The figure rendered to PNG (:func:`evaluation.publish.charts.render_png`), made once: the notebook output,
    #: the page's ``<img>`` and the download are the same bytes, and rendering is most of a chart's cost.
    png_bytes: bytes | None = field(default=None, repr=False)

    def png(self) -> bytes:
        """The figure as PNG, with fixed metadata so identical charts give identical bytes."""
        from evaluation.publish.charts import render_png

        if self.png_bytes is None:
            self.png_bytes = render_png(self.figure)
        return self.png_bytes

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        from evaluation.publish.charts import figure_html

        png = self.png()
        html = figure_html(self.figure, self.alt, self.caption, self.technical, png_bytes=png)
        return {"image/png": base64.b64encode(png).decode("ascii"), "text/html": html, "text/plain": self.alt}
