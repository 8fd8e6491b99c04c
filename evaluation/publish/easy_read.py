"""Easy-read pages: what changed at a site and how sure we are, in short sentences without jargon.

Generated from the results files, like every other page, so the words follow the numbers. The one rule that
matters most: never claim more than the 95% confidence interval supports. When the interval includes "no
change", the page says "we cannot tell yet" and gives no direction at all, not even the point estimate's.
"""

from __future__ import annotations

from evaluation.dictionary.registry import Registry
from evaluation.publish.templates import render
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
    """The easy-read page for a site (MyST from ``templates/easy_read.md.j2``), headline measure per outcome
    area."""
    by_domain = {r.domain: r for r in results if r.site == site_id}
    sections = []
    for domain in registry.domains:
        res = by_domain.get(domain.id)
        sentences = None
        if domain.id not in failed and res is not None:
            sentences = measure_sentences(res.headline)
        sections.append({"title": domain.plain_name, "failed": domain.id in failed, "sentences": sentences})
    return str(render("easy_read.md.j2", site=registry.site(site_id), sections=sections, synthetic=synthetic))
