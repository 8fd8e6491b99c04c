"""A chart as a notebook output: the matplotlib figure, shown as a picture in JupyterLab and as an accessible
``<figure>`` (alt text that states the finding, and a caption) on the site.

``display(chart)`` or ``myst_nb.glue(name, chart)`` give one output holding both ``image/png`` and ``text/html``
(myst-nb renders the HTML, which carries the alt text; a bare figure's ``<img>`` would have none). The bundle
is made here, not by IPython's figure formatter, so it does not depend on the kernel's matplotlib backend
(a forced Agg backend registers no formatter, and ``glue(fig)`` would then store text only).
"""

from __future__ import annotations

import base64
import io
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

    def png(self) -> bytes:
        """The figure as PNG, with fixed metadata so identical charts give identical bytes."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", metadata={"Software": None})
        return buf.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        from evaluation.publish.charts import figure_html

        png = base64.b64encode(self.png()).decode("ascii")
        return {"image/png": png, "text/html": figure_html(self.figure, self.alt, self.caption),
                "text/plain": self.alt}
