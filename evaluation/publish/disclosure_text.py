"""The disclosure checker's reading of free text and of the file types beyond HTML tables and CSV columns.

A count can be published outside a table: in a sentence ("3 people", "n=3", "~3"), in alt text or a tooltip,
in a JSON value, in the text of an SVG chart. This module finds such counts with documented heuristics
(``docs/disclosure.md``) and checks them with :func:`evaluation.publish.disclosure.check_value`:

* ``n = 3``, ``n: 3``, ``N=3`` (a sample size);
* a whole number followed by a count word from ``count_text_words`` (``3 people``, ``12 referrals``), with at
  most one adjective from ``count_text_adjectives`` between (``3 new referrals``);
* a whole number after ``~`` or ``≈`` (``~3``) unless a unit follows (``~3%``, ``~3 months``);

and leaves alone what is not a count: numbers with a decimal part (estimates), percentages, years and dates,
numbers of months, weeks and days, page numbers, and numbers shortly after an estimate word
(``count_text_estimate_words``: "expected 12 referrals", "an average of 7 people").
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from evaluation.publish.disclosure import DisclosureRules, Violation, check_value, default_rules, is_count_header

_NUM = r"(?<![\w.,\u2212-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w%]|[.,]\d)"
_UNITS = r"(?:%|per\b|percent|month|week|day|year|hour|minute|time|page|lag|site|provider|organisation)"


@lru_cache(maxsize=8)
def _patterns(words: tuple[str, ...], adjectives: tuple[str, ...], estimates: tuple[str, ...]
              ) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    word = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    adjective = "|".join(re.escape(a) for a in sorted(adjectives, key=len, reverse=True))
    estimate = "|".join(re.escape(e) for e in sorted(estimates, key=len, reverse=True))
    sample = re.compile(rf"(?<![\w.])n\s*[=:]\s*{_NUM}", re.IGNORECASE)
    counted = re.compile(rf"{_NUM}\s+(?:(?:{adjective})\s+)?(?:{word})(?:s|es)?(?![a-z])", re.IGNORECASE)
    approx = re.compile(rf"[~\u2248]\s*{_NUM}(?!\s*{_UNITS})", re.IGNORECASE)
    before = re.compile(rf"(?:{estimate})\W+(?:\w+\W+){{0,3}}$", re.IGNORECASE)
    return sample, counted, approx, before


#: What every count pattern needs somewhere in the text: a digit then white space (a counted noun), or one of
#: ``= : ~ ≈`` (a sample size, an approximate count). Most strings a build publishes (flags, codes, dates) have
#: neither, and skipping them is most of the checker's time; it never skips a text a pattern would match.
_MAY_HOLD_A_COUNT = re.compile(r"\d\s|[=:~\u2248]")


def text_counts(text: str, rules: DisclosureRules | None = None) -> Iterator[tuple[str, str]]:
    """Each count in free text that breaks the rule, as (the words around it, the problem)."""
    if not _MAY_HOLD_A_COUNT.search(text):
        return
    rules = rules or default_rules()
    sample, counted, approx, before = _patterns(tuple(rules.count_text_words), tuple(rules.count_text_adjectives),
                                                tuple(rules.count_text_estimate_words))
    flat = " ".join(text.replace("\xa0", " ").split())
    seen: set[int] = set()
    for pattern in (sample, counted, approx):
        for m in pattern.finditer(flat):
            start = m.start(1)
            if start in seen or _is_year(m.group(1)) or before.search(flat[max(0, m.start() - 60):m.start()]):
                continue
            seen.add(start)
            problem = check_value(m.group(1), rules)
            if problem:
                yield flat[max(0, m.start() - 20):m.end() + 20].strip(), problem


def _is_year(number: str) -> bool:
    """A four-digit number from 1990 to 2039 written without a comma reads as a year, not a count."""
    return len(number) == 4 and 1990 <= int(number) <= 2039


def check_text(text: str, page: str, where: str, rules: DisclosureRules | None = None) -> list[Violation]:
    """Violations for the free-text counts in ``text`` (see :func:`text_counts`)."""
    return [Violation(page, where, context, problem) for context, problem in text_counts(text, rules)]


#: A picture embedded as base64 in a string (``<img src="data:image/png;base64,...">``): letters and digits with no
#: spaces, which hold no sentence; reading them as text was most of a build's disclosure check (38 MB a build).
#: Only a run that ends as a URI ends (at a quote or bracket), with ``=`` only as its closing padding, is taken
#: out, so no count pattern could have matched inside it: text a data-derived string might carry, such as
#: ``data:a;base64,n=3`` or ``base64,AA+3 people``, is still read.
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/]{16,}={0,2}(?=[\"')])")


def _is_picture_output(key: str) -> bool:
    """A notebook output's MIME type whose value is a base64-encoded picture (PNG, JPEG, GIF, PDF), not text.
    SVG is text and is read."""
    kind = key.lower()
    return (kind.startswith("image/") and kind != "image/svg+xml") or kind == "application/pdf"


def _without_pictures(text: str) -> str:
    return _DATA_URI.sub(" ", text) if "base64," in text else text


def check_json(path: Path, page: str, rules: DisclosureRules | None = None) -> list[Violation]:
    """Counts in a JSON file (or a notebook): values of count keys, and free-text counts in every string.

    Pictures are not text and are not read: a notebook output's base64 PNG (or JPEG, GIF, PDF), and the
    ``data:`` URI of an image inside an HTML string. What a chart draws is checked where it is drawn
    (:mod:`evaluation.publish.chart_data`, and the chart recovery test)."""
    rules = rules or default_rules()
    try:
        doc = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        return [Violation(page, f"line {exc.lineno}", "", "is not valid JSON, so it could not be checked")]
    keys = {c.lower() for c in rules.count_columns}
    orgs = {c.lower() for c in rules.exemptions.org_columns}
    england = {c.lower() for c in rules.exemptions.england_codes}
    found: list[Violation] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            exempt = any(str(k).lower() in orgs and str(v).lower() in england for k, v in node.items())
            for k, v in node.items():
                here = f"{where}.{k}" if where else str(k)
                if not exempt and str(k).lower() in keys and isinstance(v, int | float | str) \
                        and not isinstance(v, bool):
                    problem = check_value(str(v), rules)
                    if problem:
                        found.append(Violation(page, here, str(v), problem))
                elif not _is_picture_output(str(k)):
                    walk(v, here)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, str):
            found.extend(check_text(_without_pictures(node), page, where or "(top level)", rules))

    walk(doc, "")
    return found


def check_svg(path: Path, page: str, rules: DisclosureRules | None = None) -> list[Violation]:
    """Free-text counts in an SVG's text: text elements, titles, descriptions and matplotlib's text comments.

    Read with regular expressions rather than an XML parser: a published file may be malformed or hostile.

    The drawn coordinates are not read here: charts draw published values only (``chart_data``), which the
    chart recovery test checks.
    """
    rules = rules or default_rules()
    raw = path.read_text(encoding="utf-8", errors="replace")
    texts = [m.group(1) for m in re.finditer(r"<!--(.*?)-->", raw, re.S)]
    texts += [re.sub(r"<[^>]*>", " ", m.group(2))
              for m in re.finditer(r"<(text|tspan|title|desc)\b[^>]*>(.*?)</\1\s*>", raw, re.S | re.I)]
    texts += [m.group(2) for m in re.finditer(r"\b(aria-label|title)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", raw, re.I)
              if m.group(2)]
    texts = [html.unescape(t) for t in texts]
    found: list[Violation] = []
    for text in texts:
        found.extend(check_text(text, page, "SVG text", rules))
    return found


def check_delimited(path: Path, page: str, rules: DisclosureRules | None = None) -> list[Violation]:
    """A CSV or TSV download: count columns (by name, or by a header that names a count) and free text."""
    rules = rules or default_rules()
    wanted = {c.lower() for c in rules.count_columns}
    org_names = {c.lower() for c in rules.exemptions.org_columns}
    england = {c.lower() for c in rules.exemptions.england_codes}
    found: list[Violation] = []
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        header = next(reader, None)
        if not header:
            return found
        names = [h.strip() for h in header]
        counted = {i for i, h in enumerate(names)
                   if h.lower() in wanted or is_count_header(h.replace("_", " "), rules)}
        orgs = [i for i, h in enumerate(names) if h.lower() in org_names]
        for line, row in enumerate(reader, start=2):
            if any(i < len(row) and row[i].strip().lower() in england for i in orgs):
                continue
            for i, cell in enumerate(row):
                where = f"row {line}, column {names[i] if i < len(names) else i + 1!r}"
                problem = check_value(cell, rules) if i in counted else None
                if problem:
                    found.append(Violation(page, where, cell.strip(), problem))
                elif i not in counted:
                    found.extend(check_text(cell, page, where, rules))
    return found
