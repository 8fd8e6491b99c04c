"""Easy-read pages: what changed at a site and how sure we are, in short sentences without jargon.

Generated from the results files, like every other page, so the words follow the numbers. The one rule that
matters most: never claim more than the 95% confidence interval supports. When the interval includes "no
change", the page says "we cannot tell yet" and gives no direction at all, not even the point estimate's.
"""

from __future__ import annotations

from evaluation.dictionary.registry import Registry
from evaluation.results.schema import DomainResult, MeasureResult
from evaluation.results.sentences import easy_read_sentences

# Words an easy-read page must not use: statistics jargon a reader should not need. Checked by the tests.
JARGON = ("confidence interval", "statistic", "significant", "counterfactual", "odds", "percentage point",
          "trend", "regression", "variation", "p-value", "ratio", "spc", "its ", "95%")


def measure_sentences(measure: MeasureResult) -> list[str]:
    """Easy-read sentences for one measure (made by :func:`evaluation.results.sentences.easy_read_sentences`)."""
    return list(measure.findings.easy_read) if measure.findings else easy_read_sentences(measure)


def easy_read_page(registry: Registry, site_id: str, results: list[DomainResult], failed: dict[str, str],
                   synthetic: bool) -> str:
    """The easy-read page for a site (MyST), headline measure per outcome area."""
    site = registry.site(site_id)
    by_domain = {r.domain: r for r in results if r.site == site_id}
    start = f"{site.intervention_date:%B %Y}"
    # No container around the page (MyST drops headings nested in a directive): the first paragraph's class
    # lets the stylesheet enlarge the whole page (.bd-article:has(.easy-read-intro)).
    out = [f"# {site.name}: what changed, in easy words", "",
           f'<p class="easy-read-intro">This page is about a change to mental health services in {site.name}.</p>',
           "", "## About this page", "",
           f"The change is called {site.programme}.", ""]
    if site.intervention_is_assumption:
        out += [f"We think the change started in {start}.", "", "The papers do not give an exact date.", ""]
    else:
        out += [f"The change started in {start}.", ""]
    out += ["We looked at numbers from before and after the change.", "",
            "We worked out what the numbers would have been without the change.", "",
            "Then we compared them with what really happened.", ""]
    if synthetic:
        out += ["**The numbers on this page are made up.** They show how the checks work. They are not real.", ""]
    for domain in registry.domains:
        out += [f"## {domain.plain_name}", ""]
        if domain.id in failed:
            out += ["We could not check this.", "", "The computer checks did not finish.", ""]
            continue
        res = by_domain.get(domain.id)
        if res is None:
            out += ["We have not checked this yet.", ""]
            continue
        for sentence in measure_sentences(res.headline):
            out += [sentence, ""]
    out += ["## What we cannot say", "",
            "These numbers cannot prove the change caused what we saw.", "",
            "Other things happened at the same time, like COVID-19.", "",
            "We will check again when there are more numbers.", "",
            "The full findings, with charts and the numbers behind them, are on the "
            f"{{doc}}`{site.name} page <index>`.", ""]
    return "\n".join(out)
