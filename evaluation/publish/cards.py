"""How a finding is shown on the site: the interval in words and the Making Data Count icons.

Works from the results files only (``build/results/<site>/<domain>.json``), so the overview, the site pages and
the printable summaries all say the same thing. Each icon is an inline SVG in NHS colours that carries a letter
or shape as well as its colour, and always sits next to a visible text label: the label is what a screen reader
reads (the SVG is ``aria-hidden``), so nothing depends on colour alone.
"""

from __future__ import annotations

from evaluation.publish.templates import Markup, render_macro
from evaluation.results.schema import DomainResult, MeasureResult, SPCSummary
from evaluation.results.sentences import estimate_text as first_year_text
from evaluation.results.sentences import interval_sentence

# NHS frontend palette. Letters on the icons are white on blue, grey and purple, and NHS text colour on
# orange, so each letter keeps at least 4.5:1 contrast.
BLUE, GREY, PURPLE, ORANGE, TEXT, WHITE = "#005EB8", "#4C6272", "#330072", "#ED8B00", "#212B32", "#FFFFFF"

# Making Data Count variation icons: special cause improvement (blue), concern (orange), neither (purple),
# common cause (grey). The letter says whether the latest point is unusually high (H) or low (L).
VARIATION = {
    "common_cause": ("Common cause variation: no unusual change", GREY, WHITE, ""),
    "improvement_high": ("Special cause variation: improvement (unusually high)", BLUE, WHITE, "H"),
    "improvement_low": ("Special cause variation: improvement (unusually low)", BLUE, WHITE, "L"),
    "concern_high": ("Special cause variation: concern (unusually high)", ORANGE, TEXT, "H"),
    "concern_low": ("Special cause variation: concern (unusually low)", ORANGE, TEXT, "L"),
    "neutral_high": ("Special cause variation: unusually high (neither better nor worse)", PURPLE, WHITE, "H"),
    "neutral_low": ("Special cause variation: unusually low (neither better nor worse)", PURPLE, WHITE, "L"),
}
# Assurance icons: will the process meet its target? P = consistently passes, F = consistently fails,
# ? = hit and miss.
ASSURANCE = {
    "consistent_pass": ("Assurance: consistently meets the target", BLUE, WHITE, "P"),
    "consistent_fail": ("Assurance: consistently misses the target", ORANGE, TEXT, "F"),
    "inconsistent": ("Assurance: hit and miss against the target", GREY, WHITE, "?"),
}
NO_SPC = "No control chart for this measure"
NO_TARGET = "Assurance: no target set, so not assessed"

CARDS = "cards.html.j2"


def variation_label(icon: str | None) -> str:
    """The text label for a Making Data Count variation icon (``None``: no chart)."""
    if icon is None:
        return NO_SPC
    return VARIATION.get(icon, (f"Variation: {icon.replace('_', ' ')}",))[0]


def assurance_label(icon: str | None) -> str:
    """The text label for an assurance icon (``None``: no target, which is every measure without one)."""
    if icon is None:
        return NO_TARGET
    return ASSURANCE.get(icon, (f"Assurance: {icon.replace('_', ' ')}",))[0]


# Short labels for the summary table, where the column header already says "Variation" or "Assurance".
SHORT = {"common_cause": "Common cause", "improvement_high": "Improvement (high)",
         "improvement_low": "Improvement (low)", "concern_high": "Concern (high)", "concern_low": "Concern (low)",
         "neutral_high": "Unusually high (neutral)", "neutral_low": "Unusually low (neutral)",
         "consistent_pass": "Meets target", "consistent_fail": "Misses target", "inconsistent": "Hit and miss"}


def _icon_html(kind: str, table: dict, icon: str | None, label: str) -> Markup:
    """An icon from ``table`` beside its visible label (the SVG is hidden from screen readers: the label is
    read); just the label when there is no icon."""
    spec = None
    if icon in table:
        _, fill, ink, letter = table[icon]
        spec = {"fill": fill, "ink": ink, "letter": letter}
    return render_macro(CARDS, "icon", kind, spec, label, TEXT)


def variation_html(icon: str | None, short: bool = False) -> Markup:
    """Icon and visible label for the variation."""
    return _icon_html("variation", VARIATION, icon,
                      SHORT.get(icon or "", "No chart") if short else variation_label(icon))


def assurance_html(icon: str | None, short: bool = False) -> Markup:
    """Icon and visible label for assurance; without a target only the label (Making Data Count has no icon)."""
    return _icon_html("assurance", ASSURANCE, icon,
                      SHORT.get(icon or "", "No target set") if short else assurance_label(icon))


def headline(result: DomainResult) -> MeasureResult:
    """The headline measure of a results file."""
    return result.headline


def interval_words(measure: MeasureResult) -> str:
    """The 95% confidence interval of the first-year change in words (see :mod:`evaluation.results.sentences`)."""
    return measure.findings.interval if measure.findings else interval_sentence(measure)


def estimate_text(measure: MeasureResult) -> str:
    """The first-year change with its interval, e.g. "-15% (-26% to -4%)" or "+4.2 points (1.0 to 7.4)"."""
    return first_year_text(measure)


def finding_html(result: DomainResult) -> Markup:
    """The finding for a site x domain as raw HTML: headline sentence, interval in words, the two icons.

    The sentence paragraph carries ``data-site``/``data-domain``/``data-measure`` so tests (and anyone reusing
    the page) can find it without parsing prose.
    """
    m = result.headline
    spc = m.spc or SPCSummary()
    return render_macro(CARDS, "finding", result.site, result.domain, m.measure_id, m.findings.headline,
                        interval_words(m), variation_html(spc.variation_icon), assurance_html(spc.assurance_icon))


def failed_html(site_id: str, domain_id: str, error: str) -> Markup:
    """A failed site x domain, marked so nobody mistakes it for a finding (the error's first line only)."""
    return render_macro(CARDS, "failed", site_id, domain_id, first_line(error))


def first_line(error: str | None) -> str:
    """The first line of an error message, or "unknown error"."""
    text = (error or "").strip()
    return text.splitlines()[0] if text else "unknown error"
