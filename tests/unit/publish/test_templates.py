"""The template environment: every data-derived string is inert text wherever a template puts it."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io

import pytest
from markdown_it import MarkdownIt

from evaluation.publish.downloads import results_csv
from evaluation.publish.templates import environment, myst_escape, role_text, target
from evaluation.results.schema import DomainResult, Findings, MeasureResult, SPCSummary
from evaluation.text import inert_terminal

HOSTILE = [
    "file`<img src=x onerror=alert(1)>`.csv",
    "<img src=x onerror=alert(1)>",
    "{{ 7 * 7 }} {% if true %}x{% endif %}",
    "{doc}`x` and {download}`y <z.csv>`",
    "\x1b[31mred\x1b[0m \x1b]0;title\x07 end",
    "line one\n\nline two\r\n:::{warning}\nboom\n:::",
    "- not a list",
    "1. not a list",
    "    not code",
    "# not a heading",
    "| not | a | table |",
    "[link](javascript:alert(1)) ![img](x.png) *em* _em_ $x$",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_myst_escape_gives_text_that_markdown_reads_back_as_the_same_text(text: str):
    out = myst_escape(text)
    rendered = MarkdownIt("commonmark").enable("table").render(f"{out}\n")
    # One paragraph, no element made from the text, and the reader sees the text (controls folded to spaces).
    assert rendered.startswith("<p>") and rendered.count("<") == 2, rendered
    shown = html.unescape(rendered[3:-5])
    assert shown == inert_terminal(text), shown
    for mark in ("`", "{", "}", "<", ">", "\n", "\x1b", "|", ":"):
        assert mark not in out


def test_every_template_value_is_escaped_for_its_context():
    env = environment()
    page = env.from_string("{{ x }} {{ x|role_text }}")
    page.name = "page.md.j2"
    fragment = env.from_string('<p title="{{ x }}">{{ x }}</p>')
    fragment.name = "fragment.html.j2"
    x = 'a`b` <i>"q"</i>\n\n{{ y }}'
    assert "<i>" not in page.render(x=x) and "`" not in page.render(x=x)
    out = fragment.render(x=x)
    assert "<i>" not in out and "\n" not in out and '"q"' not in out and "{{ y }}" in out


def test_role_text_and_target_cannot_leave_a_role():
    assert role_text("a`b <c>") == "ab c"
    assert target("_generated/sites/dorset/index") == "_generated/sites/dorset/index"
    for bad in ("../x", "a b", "x`y", "x>", "a\nb", ""):
        with pytest.raises(ValueError):
            target(bad)


def test_inert_terminal_strips_escape_sequences_and_controls():
    assert inert_terminal("\x1b[2J\x1b[31mRed Trust\x1b[0m\x07\u202e") == "Red Trust  "
    assert inert_terminal("a\nb\tc") == "a b c"


def test_results_csv_cells_cannot_start_a_formula():
    m = MeasureResult(measure_id="M", name="=HYPERLINK(\"http://x\")", unit="-1+1", value_type="count",
                      direction_of_improvement="decrease", headline=True, designated_headline=True, status="ok",
                      n_pre=60, n_post=40, direction="no clear change", spc=SPCSummary(variation_icon="\tcmd"),
                      findings=Findings(headline="+1 -2 @SUM(A1)", interval="-"))
    r = DomainResult(site="s", site_name="@evil", ods_code="=X", domain="d", domain_name="-lower",
                     data_source="synthetic", intervention_date=dt.date(2022, 4, 1), intervention_label="\rgo",
                     intervention_is_assumption=False, headline_measure="M", measures=[m])
    row = next(csv.DictReader(io.StringIO(results_csv([r]))))
    assert row["measure_name"] == "'=HYPERLINK(\"http://x\")" and row["summary"] == "'+1 -2 @SUM(A1)"
    assert row["site_name"] == "'@evil" and row["domain_name"] == "'-lower" and row["ods_code"] == "'=X"
    assert row["spc_variation_icon"] == "'\tcmd"
    assert row["n_months_before"] == "60" and row["intervention_date"] == "2022-04-01"  # numbers and dates as is
