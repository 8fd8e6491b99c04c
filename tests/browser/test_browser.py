"""Real-browser checks of the built site, one test per page (tests/browser/README.md).

    SITE_HTML=docs/_build/html pytest tests/browser -m browser

Optional: AXE_JS (an axe.min.js; default: install the pinned axe-core into build/browser with npm),
BROWSER_SCREENSHOTS (folder for the two full-page screenshots), BROWSER_MODES (default ``light,dark``),
BROWSER_VIEWPORTS (default ``1280x900,390x844``). Skipped when SITE_HTML is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import site_check  # loaded from this folder by conftest.py

pytestmark = pytest.mark.browser
SITE = os.environ.get("SITE_HTML", "")
NO_SITE = "SITE_HTML is not set: point it at a built site, e.g. SITE_HTML=docs/_build/html"
PAGES = site_check.find_pages(Path(SITE)) if SITE and Path(SITE).is_dir() else []


@pytest.fixture(scope="session")
def site_results() -> dict:
    """Check the whole site once (links are resolved across pages); results by page path."""
    if not SITE:
        pytest.skip(NO_SITE)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed: pip install selenium (the browser checks drive Chromium with it)")
    for exe in (site_check.CHROMIUM, site_check.CHROMEDRIVER):
        if not Path(exe).is_file():
            pytest.fail(f"{exe} not found: install Debian's chromium and chromium-driver (or set CHROMIUM_BINARY / "
                        "CHROMEDRIVER); nothing is ever downloaded")
    axe = Path(os.environ["AXE_JS"]) if os.environ.get("AXE_JS") else site_check.ensure_axe()
    screenshots = os.environ.get("BROWSER_SCREENSHOTS")
    modes = site_check.parse_list(os.environ.get("BROWSER_MODES", ",".join(site_check.MODES)))
    viewports = site_check.parse_viewports(
        os.environ.get("BROWSER_VIEWPORTS", ",".join(f"{w}x{h}" for w, h in site_check.VIEWPORTS))
    )
    results = site_check.check_site(
        Path(SITE), axe, Path(screenshots) if screenshots else None, modes=modes, viewports=viewports
    )
    site_check.report(results)  # shown with -s, or with the first failure
    return {r.page: r for r in results}


def test_site_has_pages():
    if not SITE:
        pytest.skip(NO_SITE)
    assert Path(SITE).is_dir(), f"SITE_HTML={SITE} is not a folder"
    assert PAGES, f"no HTML pages under {SITE}"


@pytest.mark.parametrize(
    "page", PAGES or [pytest.param("", marks=pytest.mark.skip(reason=NO_SITE if not SITE else f"no pages in {SITE}"))]
)
def test_page(site_results: dict, page: str):
    result = site_results[page]
    assert result.passed, "\n".join([result.summary(), *result.problems()])
