"""How a finding is shown on the site: the interval in words and the Making Data Count icons.

Works from the results files only (``build/results/<site>/<domain>.json``), so the overview, the site pages and
the printable summaries all say the same thing. Each icon is an inline SVG in NHS colours that carries a letter
or shape as well as its colour, and always sits next to a visible text label: the label is what a screen reader
reads (the SVG is ``aria-hidden``), so nothing depends on colour alone.
"""

from __future__ import annotations

from evaluation.publish.templates import Markup, render_macro

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
SCALE_NAMES = {"rate_ratio": "rate ratio", "odds_ratio": "odds ratio", "difference": "difference"}


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


def pct(ratio: float) -> str:
    """A ratio as a percentage change, unsigned ("12%"; below 1% with one decimal)."""
    x = abs(ratio - 1.0) * 100.0
    return f"{x:.0f}%" if x >= 1 else f"{x:.1f}%"


def headline(result: dict) -> dict:
    """The headline measure of a results file."""
    return next(m for m in result["measures"] if m["headline"])


def interval_words(measure: dict) -> str:
    """The 95% confidence interval in words, saying plainly when it includes no change.

    Ratios (rate and odds ratios) become percentages lower or higher than expected; differences stay in
    percentage points. A measure without a model says why.
    """
    its = measure.get("its")
    if measure.get("status") != "ok" or not its:
        return "No interval: this measure has no model estimate."
    lo, hi = its["step"]["ci_low"], its["step"]["ci_high"]
    if its["scale"] == "difference":
        def side(x: float) -> str:
            return f"{abs(x):.2f} percentage points {'higher' if x > 0 else 'lower'}"
        if lo > 0 or hi < 0:
            word = "higher" if lo > 0 else "lower"
            a, b = sorted([abs(lo), abs(hi)])
            return (f"How sure we are: the data fit a change anywhere between {a:.2f} and {b:.2f} percentage points "
                    f"{word} than expected (95% confidence interval), a range that does not include no change.")
        return (f"How sure we are: the data fit anything from {side(lo)} to {side(hi)} than expected (95% "
                "confidence interval). That includes no change, so we cannot tell yet.")
    if lo > 1 or hi < 1:
        word = "higher" if lo > 1 else "lower"
        a, b = sorted([pct(lo), pct(hi)], key=lambda s: float(s.rstrip("%")))
        return (f"How sure we are: the data fit a change anywhere between {a} and {b} {word} than expected "
                "(95% confidence interval), a range that does not include no change.")
    return (f"How sure we are: the data fit anything from {pct(lo)} lower to {pct(hi)} higher than expected "
            "(95% confidence interval). That includes no change, so we cannot tell yet.")


def estimate_text(measure: dict) -> str:
    """The step change on the model's own scale with its interval, e.g. "rate ratio 0.83 (0.76 to 0.92)"."""
    its = measure.get("its")
    if measure.get("status") != "ok" or not its:
        return "not estimated"
    s = its["step"]
    return (f"{SCALE_NAMES.get(its['scale'], its['scale'])} {s['estimate']:.2f} "
            f"({s['ci_low']:.2f} to {s['ci_high']:.2f})")


def finding_html(result: dict) -> Markup:
    """The finding for a site x domain as raw HTML: headline sentence, interval in words, the two icons.

    The sentence paragraph carries ``data-site``/``data-domain``/``data-measure`` so tests (and anyone reusing
    the page) can find it without parsing prose.
    """
    m = headline(result)
    spc = m.get("spc") or {}
    return render_macro(CARDS, "finding", result["site"], result["domain"], m["measure_id"], m["summary"],
                        interval_words(m), variation_html(spc.get("variation_icon")),
                        assurance_html(spc.get("assurance_icon")))


def failed_html(site_id: str, domain_id: str, error: str) -> Markup:
    """A failed site x domain, marked so nobody mistakes it for a finding (the error's first line only)."""
    return render_macro(CARDS, "failed", site_id, domain_id, first_line(error))


def first_line(error: str | None) -> str:
    """The first line of an error message, or "unknown error"."""
    text = (error or "").strip()
    return text.splitlines()[0] if text else "unknown error"
