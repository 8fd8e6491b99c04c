"""The site check itself, on a four-page site made here: after a colour-scheme switch that changes only colours
it runs axe's colour rules alone, and after one that changes anything else (what is visible, or an attribute)
it runs every rule, so a problem that exists only in the dark scheme is found either way.

    AXE_JS=build/browser/node_modules/axe-core/axe.min.js pytest tests/browser/test_site_check.py

Run by ``nox -s browser`` before it checks the site (skipped without AXE_JS, as in ``nox -s tests``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import site_check  # loaded from this folder by conftest.py

pytestmark = pytest.mark.browser

PAGE = """<!DOCTYPE html>
<html lang="en" data-mode="light"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body {{ color: #111; background: #fff; font: 16px sans-serif; }}
  .dark-only {{ display: none; }}
  {extra}
</style></head>
<body><main><h1>{title}</h1><p>Referrals accepted in the first year after go-live.</p>{body}</main></body></html>
"""

PAGES = {
    # Only colours change with the scheme, and they keep their contrast.
    "same.html": ("Same in both schemes", "html[data-mode=dark] body { color: #eee; background: #111; }", ""),
    # The dark scheme shows a picture with no alternative text: not a colour rule, found only because the
    # switch changed what is visible.
    "picture.html": ("A picture in the dark scheme",
                     "html[data-mode=dark] body { color: #eee; background: #111; } "
                     "html[data-mode=dark] .dark-only { display: inline; }",
                     '<img class="dark-only" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="40" '
                     'height="20">'),
    # A script takes the picture's alternative text away in the dark scheme: nothing moves, but an attribute
    # changed, so every rule runs again.
    "attribute.html": ("A script in the dark scheme",
                       "html[data-mode=dark] body { color: #eee; background: #111; }",
                       '<img id="chart" alt="Referrals by month" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
                       'width="40" height="20"><script>new MutationObserver(() => {'
                       'const chart = document.getElementById("chart");'
                       'if (document.documentElement.dataset.mode === "dark") chart.removeAttribute("alt");'
                       'else chart.setAttribute("alt", "Referrals by month");'
                       '}).observe(document.documentElement, {attributes: true});</script>'),
    # The dark scheme's text is unreadable: a colour rule, found by the colour rules alone.
    "contrast.html": ("Low contrast in the dark scheme",
                      "html[data-mode=dark] body { color: #333; background: #111; }", ""),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    axe = os.environ.get("AXE_JS", "")
    if not axe:
        pytest.skip("AXE_JS is not set: nox -s browser runs these with the axe-core it installs")
    site = tmp_path_factory.mktemp("tiny_site")
    for name, (title, extra, body) in PAGES.items():
        (site / name).write_text(PAGE.format(title=title, extra=extra, body=body), encoding="utf-8")
    checked = site_check.check_site(site, Path(axe), drivers=1)
    return {r.page: r for r in checked}


def _failing(result, rule: str) -> list[str]:
    return [c for v in result.axe_failing if v.rule == rule for c in v.contexts]


def test_a_colour_only_switch_runs_the_colour_rules_again(results):
    same = results["same.html"]
    assert same.passed, same.problems()
    assert same.axe_runs == ["light 1280px: every rule", "dark 1280px: colour rules",
                             "light 390px: every rule", "dark 390px: colour rules"]


def test_a_dark_only_picture_without_alt_text_is_found(results):
    picture = results["picture.html"]
    assert [r for r in picture.axe_runs if r.startswith("dark")] == ["dark 1280px: every rule",
                                                                      "dark 390px: every rule"]
    assert _failing(picture, "image-alt") == ["dark 1280px", "dark 390px"]


def test_an_attribute_changed_in_the_dark_scheme_runs_every_rule(results):
    changed = results["attribute.html"]
    assert [r for r in changed.axe_runs if r.startswith("dark")] == ["dark 1280px: every rule",
                                                                      "dark 390px: every rule"]
    assert _failing(changed, "image-alt") == ["dark 1280px", "dark 390px"]


def test_a_dark_only_contrast_problem_is_found_by_the_colour_rules(results):
    contrast = results["contrast.html"]
    assert "dark 1280px: colour rules" in contrast.axe_runs
    assert _failing(contrast, "color-contrast") == ["dark 1280px", "dark 390px"]
