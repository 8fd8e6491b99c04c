"""Statistical disclosure control for everything published below England level, and its checker.

The rules live in ``data_dictionary/disclosure.yaml``: counts from 1 to 4 are shown as ``*``, other counts are
rounded to the nearest 5, and a proportion or rate is suppressed when its numerator or denominator is under 5.
Values a publisher had already suppressed stay as published. Model estimates and England-level figures are
exempt.

The checker (``evaluation check-disclosure``) scans built HTML pages and CSV downloads for published counts
that break the rule: cells in table columns whose header names a count, elements marked
``data-sdc="count"``, and the configured count columns of CSV files. Elements marked ``data-sdc="exempt"``
(a table, a row or a cell) are skipped.
"""

from __future__ import annotations

import csv
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evaluation.dictionary.registry import DICTIONARY_DIR, RegistryError, read_yaml
from evaluation.provenance import relative_path

RULES_FILE = "disclosure.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exemptions(_Strict):
    model_estimates: bool
    england_codes: list[str] = Field(min_length=1)
    org_columns: list[str] = Field(min_length=1)


class DisclosureRules(_Strict):
    """The disclosure control rules from ``data_dictionary/disclosure.yaml``."""

    threshold: int = Field(ge=1)
    rounding_base: int = Field(ge=1)
    suppression_mark: str = Field(min_length=1)
    show_zero: bool
    missing_mark: str = Field(min_length=1)
    published_decimals: dict[str, int]
    already_suppressed_marks: list[str] = Field(min_length=1)
    count_columns: list[str] = Field(min_length=1)
    count_header_words: list[str] = Field(min_length=1)
    exempt_header_words: list[str]
    count_text_words: list[str] = Field(min_length=1)
    count_text_adjectives: list[str]
    count_text_estimate_words: list[str]
    exemptions: Exemptions

    @field_validator("suppression_mark", "missing_mark")
    @classmethod
    def _not_a_number(cls, value: str) -> str:
        if any(ch.isdigit() for ch in value):
            raise ValueError("must not contain a digit (it would read as a count)")
        return value

    @field_validator("published_decimals")
    @classmethod
    def _decimals(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != {"proportion", "rate"}:
            raise ValueError("must give the decimals for exactly: proportion, rate")
        if any(d < 0 or d > 6 for d in value.values()):
            raise ValueError("decimals must be from 0 to 6")
        return value

    @field_validator("count_header_words", "exempt_header_words", "count_text_words", "count_text_adjectives",
                     "count_text_estimate_words")
    @classmethod
    def _lower_case(cls, value: list[str]) -> list[str]:
        for word in value:
            if not word.strip() or word != word.lower():
                raise ValueError(f"{word!r}: header words are matched in lower case; write them in lower case")
        return value

    @model_validator(mode="after")
    def _no_count_rounds_to_zero(self) -> DisclosureRules:
        # A count at the threshold must round to at least one rounding base, or a real count would show as 0.
        if 2 * self.threshold < self.rounding_base:
            raise ValueError(f"threshold {self.threshold} is under half the rounding base {self.rounding_base}: "
                             "a count at the threshold would be published as 0")
        if self.suppression_mark not in self.already_suppressed_marks:
            raise ValueError(f"already_suppressed_marks must include the suppression mark {self.suppression_mark!r}")
        return self

    @property
    def allowed_marks(self) -> set[str]:
        """Non-numeric text a count cell may hold."""
        return {self.suppression_mark, self.missing_mark, *self.already_suppressed_marks, "", "\u2013", "\u2014"}


def load_rules(directory: Path | str | None = None) -> DisclosureRules:
    """Load and validate ``disclosure.yaml`` from a data dictionary folder.

    Raises :class:`evaluation.dictionary.registry.RegistryError` with a one-line message naming the file and field.
    """
    path = Path(directory or DICTIONARY_DIR) / RULES_FILE
    doc = read_yaml(path)
    try:
        return DisclosureRules.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RegistryError(f"{path.name}: {where}: {err['msg'].removeprefix('Value error, ')}") from None


@lru_cache(maxsize=1)
def default_rules() -> DisclosureRules:
    """The rules from the package's own ``data_dictionary/`` (cached)."""
    return load_rules(DICTIONARY_DIR)


# --- applying the rule -------------------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _as_count(value: object) -> int:
    """A whole, non-negative number as int; anything else is an error (a count cannot be 2.5 or -1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"a count must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"a count must be finite, got {value!r}")
    if number < 0:
        raise ValueError(f"a count cannot be negative, got {value!r}")
    if number != int(number):
        raise ValueError(f"a count must be a whole number, got {value!r}")
    return int(number)


def _parse_input(value: object, rules: DisclosureRules) -> int | str | None:
    """A count, an already-suppressed mark (returned as published), or None for missing."""
    if isinstance(value, str):
        text = value.strip()
        if text in rules.already_suppressed_marks:
            return text
        if text == "" or text == rules.missing_mark:
            return None
        try:
            return _as_count(float(text.replace(",", "")))
        except ValueError:
            raise ValueError(f"{value!r} is neither a count nor a suppression mark") from None
    if _is_missing(value):
        return None
    return _as_count(value)


def round_count(n: object, rules: DisclosureRules | None = None) -> int:
    """``n`` rounded to the nearest multiple of the rounding base (halves round up); no suppression."""
    rules = rules or default_rules()
    count = _as_count(n)
    base = rules.rounding_base
    return base * math.floor(count / base + 0.5)


def suppress_count(n: object, rules: DisclosureRules | None = None, *, thousands: bool = True) -> str:
    """A count as it may be published: ``*`` for 1-4 (and 0 unless zeros are shown), else rounded to 5.

    Missing values (None, NaN) give the missing mark; a value already suppressed by its publisher (``*`` or
    ``.``) is returned as published. Negative, fractional or infinite values raise ``ValueError``.
    """
    rules = rules or default_rules()
    parsed = _parse_input(n, rules)
    if parsed is None:
        return rules.missing_mark
    if isinstance(parsed, str):
        return parsed
    if parsed == 0:
        return "0" if rules.show_zero else rules.suppression_mark
    if parsed < rules.threshold:
        return rules.suppression_mark
    shown = round_count(parsed, rules)
    return f"{shown:,}" if thousands else str(shown)


def suppress_proportion(
    numerator: object,
    denominator: object,
    rules: DisclosureRules | None = None,
    *,
    scale: float = 100.0,
    digits: int = 1,
    suffix: str = "%",
) -> str:
    """``numerator / denominator * scale`` formatted, or ``*`` when either count is under the threshold.

    The value is computed from the unrounded counts (a rate from non-suppressed data may be shown). A zero
    numerator over a large enough denominator is shown as 0 when zeros are shown. A zero denominator or a
    missing count gives the missing mark; an already-suppressed count gives the suppression mark.
    """
    rules = rules or default_rules()
    num, den = _parse_input(numerator, rules), _parse_input(denominator, rules)
    if isinstance(num, str) or isinstance(den, str):
        return rules.suppression_mark
    if num is None or den is None or den == 0:
        return rules.missing_mark
    if den < rules.threshold or 0 < num < rules.threshold or (num == 0 and not rules.show_zero):
        return rules.suppression_mark
    return f"{num / den * scale:.{digits}f}{suffix}"


def apply_to_frame(
    df: pd.DataFrame,
    count_columns: Sequence[str] = (),
    proportion_pairs: Mapping[str, tuple[str, str]] | None = None,
    rules: DisclosureRules | None = None,
    *,
    org_column: str | None = None,
    thousands: bool = True,
    scale: float = 100.0,
    digits: int = 1,
    suffix: str = "%",
) -> pd.DataFrame:
    """A copy of ``df`` safe to publish: count columns suppressed and rounded, proportions suppressed.

    ``proportion_pairs`` maps an output column to its (numerator, denominator) columns; proportions are
    computed from the unrounded counts before those are rounded. Rows whose ``org_column`` holds an England
    code are left unrounded (England-level figures are exempt). Output columns are text.
    """
    rules = rules or default_rules()
    proportion_pairs = dict(proportion_pairs or {})
    missing = [c for c in [*count_columns, *(c for pair in proportion_pairs.values() for c in pair)]
               if c not in df.columns]
    if missing:
        raise KeyError(f"columns not in the table: {', '.join(sorted(set(missing)))}")
    out = df.copy()
    england = (df[org_column].astype(str).isin(rules.exemptions.england_codes) if org_column
               else pd.Series(False, index=df.index))
    for name, (num_col, den_col) in proportion_pairs.items():
        out[name] = [
            _exempt_proportion(n, d, scale, digits, suffix, rules) if eng
            else suppress_proportion(n, d, rules, scale=scale, digits=digits, suffix=suffix)
            for n, d, eng in zip(df[num_col], df[den_col], england, strict=True)
        ]
    for col in count_columns:
        out[col] = [
            _exempt_count(v, rules, thousands) if eng else suppress_count(v, rules, thousands=thousands)
            for v, eng in zip(df[col], england, strict=True)
        ]
    return out


def _exempt_count(value: object, rules: DisclosureRules, thousands: bool) -> str:
    parsed = _parse_input(value, rules)
    if parsed is None:
        return rules.missing_mark
    if isinstance(parsed, str):
        return parsed
    return f"{parsed:,}" if thousands else str(parsed)


def _exempt_proportion(num: object, den: object, scale: float, digits: int, suffix: str,
                       rules: DisclosureRules) -> str:
    n, d = _parse_input(num, rules), _parse_input(den, rules)
    if isinstance(n, str) or isinstance(d, str):
        return rules.suppression_mark
    if n is None or d is None or d == 0:
        return rules.missing_mark
    return f"{n / d * scale:.{digits}f}{suffix}"


def hide_small_points(series: pd.DataFrame, value_type: str, rules: DisclosureRules | None = None) -> set:
    """Periods whose observed point must not be drawn on a chart: the ones a table would suppress.

    For counts, a value from 1 to threshold - 1; for proportions and rates, a numerator or denominator under
    the threshold (zero numerators follow the zero rule). ``series`` has ``period``, ``value`` and, for
    proportions and rates, ``numerator`` and ``denominator``.
    """
    rules = rules or default_rules()
    hidden: set = set()
    for row in series.itertuples(index=False):
        if value_type == "count":
            v = row.value
            if not _is_missing(v) and (0 < v < rules.threshold or (v == 0 and not rules.show_zero)):
                hidden.add(pd.Timestamp(row.period))
        else:
            num, den = getattr(row, "numerator", None), getattr(row, "denominator", None)
            if _is_missing(num) or _is_missing(den):
                continue
            if den < rules.threshold or 0 < num < rules.threshold or (num == 0 and not rules.show_zero):
                hidden.add(pd.Timestamp(row.period))
    return hidden


# --- the checker -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A published count that breaks the rule, and where it is."""

    page: str
    where: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"{self.page}: {self.where}: {self.value!r} {self.problem}"


@dataclass
class DisclosureReport:
    """What the checker scanned and what it found."""

    pages: int = 0
    downloads: int = 0
    violations: list[Violation] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was checked and whether any published count breaks the rule."""
        checked = f"checked {self.pages} pages and {self.downloads} downloads"
        if not self.violations:
            return f"{checked}: no published count breaks the rule"
        n = len(self.violations)
        return f"{checked}: {n} published count{'s' if n != 1 else ''} break{'s' if n == 1 else ''} the rule"


_NUMBER = re.compile(r"^([-\u2212]?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]+)?(?=$|\s|\()")


def _header_regex(words: Iterable[str]) -> re.Pattern[str]:
    # Words match on a left boundary and may take a plural "s", so "referral" finds "Referrals accepted".
    # Symbols such as "%" need no boundary ("95%" is a percentage column).
    parts = [rf"(?<![a-z0-9]){re.escape(w)}s?(?![a-z0-9])" if w[0].isalnum() and w[-1].isalnum() else re.escape(w)
             for w in sorted(words, key=len, reverse=True)]
    return re.compile("|".join(parts))


def is_count_header(header: str, rules: DisclosureRules | None = None) -> bool:
    """Whether a table column with this header holds counts (a count word and no exempt word)."""
    rules = rules or default_rules()
    text = " ".join(header.lower().split())
    if text in ("n", "no", "no."):
        return True  # a column headed just "n" holds a sample size
    if rules.exempt_header_words and _header_regex(rules.exempt_header_words).search(text):
        return False
    return bool(_header_regex(rules.count_header_words).search(text))


def check_value(text: str, rules: DisclosureRules | None = None, *, marked: bool = False) -> str | None:
    """Why a published count breaks the rule, or None when it may be published.

    Text that is not a number (an estimate with its interval, a mark) is not a count, unless the element was
    marked as a count (``marked``), when only the suppression and missing marks may stand in for a number.
    """
    rules = rules or default_rules()
    value = " ".join(text.replace("\xa0", " ").split())
    if value in rules.allowed_marks:
        return None
    m = _NUMBER.match(value)
    if m is None:
        return "is marked as a count but is not a number" if marked else None
    sign, digits, fraction = m.groups()
    if fraction and float(fraction) != 0:
        return "is a count that is not a whole number"
    if sign:
        return "is a negative count"
    n = int(digits.replace(",", ""))
    if n == 0:
        return None if rules.show_zero else f"is 0: zeros must be shown as {rules.suppression_mark}"
    if n < rules.threshold:
        return f"is a count under {rules.threshold}: it must be shown as {rules.suppression_mark}"
    if n % rules.rounding_base:
        return f"is not rounded to a multiple of {rules.rounding_base}"
    return None


@dataclass
class _Cell:
    header: bool
    colspan: int
    exempt: bool
    text: list[str] = field(default_factory=list)


@dataclass
class _Row:
    in_head: bool
    exempt: bool
    cells: list[_Cell] = field(default_factory=list)


@dataclass
class _Table:
    number: int
    exempt: bool
    in_head: bool = False
    rows: list[_Row] = field(default_factory=list)
    row: _Row | None = None
    cell: _Cell | None = None


@dataclass
class _Capture:
    tag: str
    depth: int = 1
    text: list[str] = field(default_factory=list)


#: Attributes whose text a reader sees or hears (alt text, tooltips, labels); checked as free text.
TEXT_ATTRIBUTES = ("alt", "title", "aria-label", "aria-description", "placeholder", "summary", "content")
_BLOCK = {"p", "div", "li", "td", "th", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "br", "section",
          "figcaption", "caption", "dt", "dd", "pre", "blockquote", "option", "span", "a", "code"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _PageScanner(HTMLParser):
    """Collects the tables of a page, the text of every element marked ``data-sdc="count"``, the page's free
    text (outside scripts, styles and elements marked ``data-sdc="exempt"``) and its text attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[_Table] = []
        self.finished: list[_Table] = []
        self.captures: list[_Capture] = []
        self.marked: list[str] = []
        self.n_tables = 0
        self.skips: list[_Capture] = []
        self.text: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        sdc = (a.get("data-sdc") or "").strip().lower()
        if tag in _BLOCK:
            self.text.append("\n|\n")
        if tag not in _VOID:
            for cap in self.captures + self.skips:
                if cap.tag == tag:
                    cap.depth += 1
            if sdc == "count":
                self.captures.append(_Capture(tag))
            if sdc == "exempt" or tag in ("script", "style", "template", "code", "pre", "kbd", "samp"):
                self.skips.append(_Capture(tag))
        if not self.skips and sdc != "exempt":
            self.attributes += [(tag, k, v) for k, v in attrs if k in TEXT_ATTRIBUTES and v]
        table = self.tables[-1] if self.tables else None
        if tag == "table":
            self.n_tables += 1
            self.tables.append(_Table(self.n_tables, exempt=sdc == "exempt" or bool(table and table.exempt)))
        elif table is None:
            return
        elif tag == "thead":
            table.in_head = True
        elif tag in ("tbody", "tfoot"):
            table.in_head = False
        elif tag == "tr":
            self._close_row(table)
            table.row = _Row(table.in_head, exempt=sdc == "exempt")
        elif tag in ("td", "th"):
            self._close_cell(table)
            if table.row is None:
                table.row = _Row(table.in_head, exempt=False)
            try:
                span = max(1, int(a.get("colspan") or 1))
            except ValueError:
                span = 1
            table.cell = _Cell(header=tag == "th", colspan=span, exempt=sdc == "exempt")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self.text.append("\n|\n")
        for cap in list(self.skips):
            if cap.tag == tag:
                cap.depth -= 1
                if cap.depth == 0:
                    self.skips.remove(cap)
        for cap in list(self.captures):
            if cap.tag == tag:
                cap.depth -= 1
                if cap.depth == 0:
                    self.captures.remove(cap)
                    self.marked.append("".join(cap.text))
        if not self.tables:
            return
        table = self.tables[-1]
        if tag in ("td", "th"):
            self._close_cell(table)
        elif tag == "tr":
            self._close_row(table)
        elif tag == "thead":
            table.in_head = False
        elif tag == "table":
            self._close_row(table)
            self.finished.append(self.tables.pop())

    def handle_data(self, data: str) -> None:
        if not self.skips:
            self.text.append(data)
        for cap in self.captures:
            cap.text.append(data)
        if self.tables and self.tables[-1].cell is not None:
            self.tables[-1].cell.text.append(data)

    @staticmethod
    def _close_cell(table: _Table) -> None:
        if table.cell is not None and table.row is not None:
            table.row.cells.append(table.cell)
        table.cell = None

    def _close_row(self, table: _Table) -> None:
        self._close_cell(table)
        if table.row is not None and table.row.cells:
            table.rows.append(table.row)
        table.row = None


def _expand(row: _Row) -> list[_Cell]:
    out: list[_Cell] = []
    for cell in row.cells:
        out += [cell] * cell.colspan
    return out


def _cell_text(cell: _Cell) -> str:
    return " ".join("".join(cell.text).replace("\xa0", " ").split())


def check_html(path: Path | str, root: Path | str | None = None, rules: DisclosureRules | None = None
               ) -> list[Violation]:
    """Published counts in one HTML page that break the rule (page named relative to ``root``)."""
    rules = rules or default_rules()
    path = Path(path)
    page = relative_path(path, root, default=path.as_posix() if root is not None else None)
    scanner = _PageScanner()
    scanner.feed(path.read_text(encoding="utf-8", errors="replace"))
    scanner.close()
    found: list[Violation] = []
    for table in sorted(scanner.finished, key=lambda t: t.number):
        head_rows = [r for r in table.rows if r.in_head]
        body_rows = [r for r in table.rows if not r.in_head]
        if not head_rows and body_rows and all(c.header for c in body_rows[0].cells):
            head_rows, body_rows = [body_rows[0]], body_rows[1:]
        if table.exempt:
            continue
        if not head_rows:
            found += _check_row_labels(table, body_rows, page, rules)
            continue
        headers = [_cell_text(c) for c in _expand(head_rows[-1])]
        counted = {i: h for i, h in enumerate(headers) if is_count_header(h, rules)}
        if not counted:
            continue
        for r_index, row in enumerate(body_rows, start=1):
            if row.exempt:
                continue
            for i, cell in enumerate(_expand(row)):
                if i not in counted or cell.exempt or cell.colspan > 1:
                    continue
                text = _cell_text(cell)
                problem = check_value(text, rules)
                if problem:
                    where = f"table {table.number}, column {counted[i]!r}, row {r_index}"
                    found.append(Violation(page, where, text, problem))
    for text in scanner.marked:
        problem = check_value(text, rules, marked=True)
        if problem:
            found.append(Violation(page, 'element marked data-sdc="count"', " ".join(text.split()), problem))
    from evaluation.publish.disclosure_text import check_text

    found += check_text("".join(scanner.text), page, "text", rules)
    for tag, name, value in scanner.attributes:
        found += check_text(value, page, f"<{tag} {name}>", rules)
    return found


def _check_row_labels(table: _Table, rows: list[_Row], page: str, rules: DisclosureRules) -> list[Violation]:
    """A table without a header row: a row whose first cell names a count holds counts in its other cells."""
    found: list[Violation] = []
    for r_index, row in enumerate(rows, start=1):
        cells = _expand(row)
        if row.exempt or len(cells) < 2 or not is_count_header(_cell_text(cells[0]), rules):
            continue
        for cell in cells[1:]:
            text = _cell_text(cell)
            problem = None if cell.exempt else check_value(text, rules)
            if problem:
                where = f"table {table.number} (no header row), row {r_index} {_cell_text(cells[0])!r}"
                found.append(Violation(page, where, text, problem))
    return found


def check_csv(path: Path | str, root: Path | str | None = None, rules: DisclosureRules | None = None
              ) -> list[Violation]:
    """Published counts in one CSV download that break the rule (England-level rows are exempt)."""
    rules = rules or default_rules()
    path = Path(path)
    page = relative_path(path, root, default=path.as_posix() if root is not None else None)
    wanted = {c.lower() for c in rules.count_columns}
    org_names = {c.lower() for c in rules.exemptions.org_columns}
    england = {c.lower() for c in rules.exemptions.england_codes}
    found: list[Violation] = []
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            return found
        names = [h.strip() for h in header]
        counted = [i for i, h in enumerate(names) if h.lower() in wanted]
        orgs = [i for i, h in enumerate(names) if h.lower() in org_names]
        if not counted:
            return found
        for line, row in enumerate(reader, start=2):
            if any(i < len(row) and row[i].strip().lower() in england for i in orgs):
                continue
            for i in counted:
                if i >= len(row):
                    continue
                problem = check_value(row[i], rules)
                if problem:
                    found.append(Violation(page, f"row {line}, column {names[i]!r}", row[i].strip(), problem))
    return found


#: The file types the checker reads, by suffix: pages, downloads (tables and data), and chart files.
PAGE_SUFFIXES = (".html", ".htm")
DOWNLOAD_SUFFIXES = (".csv", ".tsv", ".json", ".ipynb", ".svg")

def scan_tree(paths: Iterable[Path | str], rules: DisclosureRules | None = None) -> DisclosureReport:
    """Check every published page and download under each path (a folder or a single file).

    HTML pages (tables, marked counts, free text and text attributes such as alt text), CSV and TSV downloads
    (count columns and free text in the other cells), JSON files and notebooks (count keys and free text in
    every string) and SVG charts (free text in their text; what they draw is prepared by ``chart_data``).
    """
    from evaluation.publish.disclosure_text import check_delimited, check_json, check_svg

    rules = rules or default_rules()
    report = DisclosureReport()
    for given in paths:
        base = Path(given)
        if not base.exists():
            raise FileNotFoundError(f"{base}: no such file or folder to check")
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        root = base.parent if base.is_file() else base
        for f in files:
            suffix = f.suffix.lower()
            if suffix in PAGE_SUFFIXES:
                report.pages += 1
                report.violations += check_html(f, root, rules)
            elif suffix in DOWNLOAD_SUFFIXES:
                report.downloads += 1
                page = relative_path(f, root, f.as_posix())
                if suffix in (".csv", ".tsv"):
                    report.violations += check_delimited(f, page, rules)
                elif suffix == ".svg":
                    report.violations += check_svg(f, page, rules)
                else:
                    report.violations += check_json(f, page, rules)
    return report


def check_tree(paths: Iterable[Path | str], rules: DisclosureRules | None = None) -> list[Violation]:
    """Every published count under ``paths`` that breaks the rule (see :func:`scan_tree`)."""
    return scan_tree(paths, rules).violations


# --- documentation -----------------------------------------------------------------------------------------


def rules_fragment(rules: DisclosureRules | None = None) -> str:
    """The rules as MyST for the site, rendered from ``disclosure.yaml`` (never copied by hand)."""
    from evaluation.publish.templates import render

    r = rules or default_rules()
    return str(render("disclosure_rules.md.j2", r=r, seven=round_count(7, r), thirteen=round_count(13, r)))


