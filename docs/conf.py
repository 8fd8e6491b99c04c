"""Sphinx configuration for the evaluation site.

Sphinx never executes notebooks: papermill does (``evaluation run``), and ``evaluation assemble`` copies
the executed notebooks and generated pages into ``docs/_generated``. myst-nb only renders them.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "_generated"
_info_path = GENERATED / "build_info.json"
BUILD_INFO = json.loads(_info_path.read_text(encoding="utf-8")) if _info_path.is_file() else {}

project = "Community mental health transformation: evaluation"
author = "Evaluation workbook team"
copyright = "Crown copyright and NHS data under the Open Government Licence v3.0; code MIT"  # noqa: A001
language = "en"

extensions = ["myst_nb"]  # myst_nb brings MyST; adding myst_parser too breaks the build
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = [
    "_build",
    "_generated/fragments",
    "method_validation_results.md",
    "**.ipynb_checkpoints",
    "Thumbs.db",
    ".DS_Store",
]

nb_execution_mode = "off"  # papermill executed these; myst-nb's cache never matches papermill's metadata
nb_output_stderr = "remove"  # library warnings belong in the run log, not in front of stakeholders
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "CMH transformation evaluation"
html_static_path = ["_static"]
html_css_files = ["nhs.css"]
# Accessibility repairs to the theme's markup that CSS cannot make (unnamed navigation toggles and scrollable
# regions, search buttons whose name differs from their visible label); checked by tests/browser.
html_js_files = [("a11y.js", {"defer": "defer"})]
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
# An explicit default colour mode stops pydata-sphinx-theme logging "invalid theme mode" on a first visit.
html_context = {"build_info": BUILD_INFO, "default_mode": "auto"}
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
}
if BUILD_INFO.get("data_source") == "synthetic":
    html_theme_options["announcement"] = (
        "Synthetic demonstration data: every number on this site is made up. "
        "It shows how the evaluation works, not how the services performed."
    )
elif BUILD_INFO.get("data_source") == "local":
    html_theme_options["announcement"] = (
        "Local data: these findings use an extract of the provider's own records, not national publications."
    )

if BUILD_INFO:
    _pkgs = ", ".join(f"{k} {v}" for k, v in sorted(BUILD_INFO.get("packages", {}).items()))
    html_theme_options["extra_footer"] = (
        f"<p>Built {BUILD_INFO.get('built_at', '')} from code commit {BUILD_INFO.get('commit', 'unknown')} "
        f"with {BUILD_INFO.get('data_source', 'unknown')} data. Packages: {_pkgs}.</p>"
    )
