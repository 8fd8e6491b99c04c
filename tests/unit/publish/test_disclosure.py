"""Statistical disclosure control: the rules, the YAML, the checker and the command line (the built site is
checked in tests/e2e/test_disclosure_site.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.cli import main
from evaluation.dictionary.registry import DICTIONARY_DIR, RegistryError
from evaluation.publish.disclosure import (
    apply_to_frame,
    check_csv,
    check_html,
    check_tree,
    check_value,
    default_rules,
    hide_small_points,
    is_count_header,
    load_rules,
    round_count,
    rules_fragment,
    scan_tree,
    suppress_count,
    suppress_proportion,
)

# --- counts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0"), (1, "*"), (4, "*"), (5, "5"), (6, "5"), (7, "5"), (8, "10"), (12, "10"), (13, "15"),
     (1234, "1,235"), (7.0, "5"), (np.int64(13), "15")],
)
def test_suppress_count_boundaries(n, shown):
    assert suppress_count(n) == shown


def test_round_count_rounds_to_the_nearest_five_without_suppressing():
    assert [round_count(n) for n in (0, 2, 3, 7, 8, 12, 13)] == [0, 0, 5, 5, 10, 10, 15]


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA, "", "-"])
def test_missing_values_are_shown_as_missing_never_as_a_number(missing):
    assert suppress_count(missing) == "-"


@pytest.mark.parametrize("mark", ["*", "."])
def test_values_already_suppressed_by_the_publisher_stay_as_published(mark):
    assert suppress_count(mark) == mark
    assert suppress_proportion(mark, 200) == "*"


@pytest.mark.parametrize("bad", [-1, -0.5, 2.5, float("inf"), "abc"])
def test_a_negative_fractional_infinite_or_non_numeric_count_is_an_error(bad):
    with pytest.raises(ValueError):
        suppress_count(bad)


def test_zero_follows_the_configured_rule():
    rules = default_rules().model_copy(update={"show_zero": False})
    assert suppress_count(0, rules) == "*"
    assert suppress_proportion(0, 100, rules) == "*"
    assert suppress_count(0) == "0"


def test_counts_from_csv_text_and_without_thousands_separators():
    assert suppress_count("1,234") == "1,235"
    assert suppress_count(1234, thousands=False) == "1235"


# --- proportions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num", "den", "shown"),
    [(3, 100, "*"), (1, 5, "*"), (5, 4, "*"), (4, 4, "*"), (10, 100, "10.0%"), (5, 5, "100.0%"), (0, 100, "0.0%"),
     (5, 0, "-"), (None, 100, "-"), (np.nan, 100, "-"), (10, None, "-")],
)
def test_suppress_proportion_small_numerator_or_denominator(num, den, shown):
    assert suppress_proportion(num, den) == shown


def test_suppress_proportion_uses_the_unrounded_counts_and_a_chosen_scale():
    assert suppress_proportion(7, 13) == "53.8%"  # 7/13, not 5/15
    assert suppress_proportion(12, 48_000, scale=100_000, digits=0, suffix=" per 100,000") == "25 per 100,000"


# --- frames ------------------------------------------------------------------------------------------------


def test_apply_to_frame_suppresses_rounds_and_computes_proportions_before_rounding():
    df = pd.DataFrame({"org_code": ["RDY", "RDY", "ENG", "TAD"], "accepted": [3, 13, 1233, np.nan],
                       "received": [40, 17, 4321, 2]})
    out = apply_to_frame(df, ["accepted", "received"], {"share": ("accepted", "received")}, org_column="org_code")
    assert out["accepted"].tolist() == ["*", "15", "1,233", "-"]
    assert out["received"].tolist() == ["40", "15", "4,321", "*"]
    assert out["share"].tolist() == ["*", "76.5%", "28.5%", "-"]
    assert df["accepted"].iloc[0] == 3  # the input frame is not changed


def test_apply_to_frame_names_missing_columns():
    with pytest.raises(KeyError, match="leavers"):
        apply_to_frame(pd.DataFrame({"a": [1]}), ["leavers"])


def test_hide_small_points_for_counts_and_proportions():
    periods = pd.date_range("2023-01-01", periods=4, freq="MS")
    counts = pd.DataFrame({"period": periods, "value": [0.0, 3.0, 5.0, np.nan]})
    assert hide_small_points(counts, "count") == {periods[1]}
    props = pd.DataFrame({"period": periods, "value": [0.1, 0.5, 0.02, 0.5], "numerator": [10, 2, 2, 40],
                          "denominator": [100, 4, 100, 80]})
    assert hide_small_points(props, "proportion") == {periods[1], periods[2]}


# --- property: suppression never emits a count under 5 -----------------------------------------------------

_counts = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**6).map(float),
    st.sampled_from(["*", ".", None, float("nan")]),
)


def _shown_numbers(text: str) -> int | None:
    digits = text.replace(",", "")
    return int(digits) if digits.isdigit() else None


@settings(max_examples=300, deadline=None)
@given(_counts)
def test_suppress_count_never_publishes_one_to_four_and_rounds_to_five(n):
    shown = _shown_numbers(suppress_count(n))
    if shown is not None:
        assert not 1 <= shown <= 4
        assert shown % 5 == 0
        assert check_value(suppress_count(n)) is None  # the checker agrees with the rule it enforces


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 60)), min_size=1, max_size=30))
def test_apply_to_frame_never_publishes_one_to_four(rows):
    df = pd.DataFrame(rows, columns=["numerator", "denominator"])
    out = apply_to_frame(df, ["numerator", "denominator"], {"share": ("numerator", "denominator")})
    for col in ("numerator", "denominator"):
        for text in out[col]:
            shown = _shown_numbers(text)
            assert shown is not None or text == "*"
            if shown is not None:
                assert shown == 0 or (shown >= 5 and shown % 5 == 0)
    for (num, den), share in zip(rows, out["share"], strict=True):
        if 0 < num < 5 or den < 5:
            assert share in ("*", "-")


# --- the YAML ----------------------------------------------------------------------------------------------


def test_the_package_rules_load():
    rules = load_rules()
    assert (rules.threshold, rules.rounding_base, rules.suppression_mark) == (5, 5, "*")
    assert rules.exemptions.model_estimates


def _write_rules(tmp_path: Path, **changes) -> Path:
    doc = yaml.safe_load((DICTIONARY_DIR / "disclosure.yaml").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    (tmp_path / "disclosure.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": 0}, r"disclosure\.yaml: threshold: .*greater than or equal to 1"),
        ({"threshold": "five"}, r"disclosure\.yaml: threshold: "),
        ({"suppression_mark": "5"}, r"disclosure\.yaml: suppression_mark: must not contain a digit"),
        ({"rounding_base": None}, r"disclosure\.yaml: rounding_base: Field required"),
        ({"count_header_words": ["Referral"]}, r"disclosure\.yaml: count_header_words: .*lower case"),
        ({"colour": "blue"}, r"disclosure\.yaml: colour: Extra inputs"),
        ({"threshold": 2, "rounding_base": 10}, r"disclosure\.yaml: \(top level\): threshold 2 is under half"),
        ({"exemptions": {"model_estimates": True, "england_codes": []}}, r"exemptions\.england_codes"),
    ],
)
def test_bad_rules_name_file_and_field(tmp_path, changes, message):
    with pytest.raises(RegistryError, match=message):
        load_rules(_write_rules(tmp_path, **changes))


def test_rules_file_missing_or_not_yaml(tmp_path):
    with pytest.raises(RegistryError, match="disclosure.yaml: file not found"):
        load_rules(tmp_path)
    (tmp_path / "disclosure.yaml").write_text("threshold: [5\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_rules(tmp_path)


def test_rules_page_is_rendered_from_the_yaml(tmp_path):
    rules = load_rules(_write_rules(tmp_path, threshold=10, rounding_base=10))
    text = rules_fragment(rules)
    # The mark is a character reference inside the code element (inert in MyST); a browser shows "*".
    assert re.search(r"\| Counts from 1 to 9 \| shown as <code[^>]*>&#42;</code> \|", text), text
    assert "rounded to the nearest 10 (7 is shown as 10, 13 as 10)" in text


# --- the checker -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "counted"),
    [("Referrals", True), ("Staff in post", True), ("Observed count, latest month", True), ("Leavers", True),
     ("Step change", False), ("95% CI", False), ("Referrals per 100,000", False), ("Staff leaver rate", False),
     ("Rows read", False), ("Months before / after", False), ("Comparators", False), ("Period", False)],
)
def test_count_headers(header, counted):
    assert is_count_header(header) is counted


SITE_TABLE = """<html><body><h1>Dorset</h1>
<table class="table"><thead><tr><th>Month</th><th>Referrals</th><th>Rate ratio</th><th>Rows read</th></tr></thead>
<tbody>
<tr><td>Jan 2023</td><td>1,235</td><td>0.88</td><td>123</td></tr>
<tr><td>Feb 2023</td><td>{value}</td><td>0.91</td><td>7</td></tr>
<tr><td>Mar 2023</td><td>*</td><td>1.02</td><td>2</td></tr>
</tbody></table>
<p>In March, <span data-sdc="count">{marked}</span> people were referred.</p>
<table data-sdc="exempt"><tr><th>Area</th><th>Referrals</th></tr><tr><td>England</td><td>123,457</td></tr></table>
</body></html>"""


def _page(tmp_path: Path, value: str = "40", marked: str = "10", name: str = "sites/dorset/index.html") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SITE_TABLE.format(value=value, marked=marked), encoding="utf-8")
    return path


def test_checker_passes_a_clean_page(tmp_path):
    assert check_html(_page(tmp_path), tmp_path) == []


def test_checker_fails_a_count_of_three_in_a_site_table_naming_page_and_value(tmp_path):
    found = check_html(_page(tmp_path, value="3"), tmp_path)
    assert len(found) == 1
    v = found[0]
    assert (v.page, v.value) == ("sites/dorset/index.html", "3")
    assert "table 1, column 'Referrals', row 2" in v.where
    assert "under 5" in str(v) and "sites/dorset/index.html" in str(v)


@pytest.mark.parametrize(("value", "problem"), [("12", "not rounded"), ("12.5", "not a whole number"),
                                                ("-5", "negative"), ("1,233 (Mar 2024)", "not rounded")])
def test_checker_other_breaches_in_a_count_column(tmp_path, value, problem):
    found = check_html(_page(tmp_path, value=value), tmp_path)
    assert [v.value for v in found] == [value] and problem in found[0].problem


def test_checker_reads_elements_marked_as_counts(tmp_path):
    found = check_html(_page(tmp_path, marked="4"), tmp_path)
    assert [(v.where, v.value) for v in found] == [('element marked data-sdc="count"', "4")]
    found = check_html(_page(tmp_path, marked="a few"), tmp_path)
    assert "not a number" in found[0].problem


def test_checker_reads_tables_without_thead_and_with_row_headers(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<table><tr><th>Site</th><th>Leavers</th></tr><tr><th scope='row'>Bradford</th><td>3</td></tr>"
                    "<tr><td colspan='2'>not estimated</td></tr></table>", encoding="utf-8")
    assert [(v.where, v.value) for v in check_html(page, tmp_path)] == [("table 1, column 'Leavers', row 1", "3")]


def test_checker_on_csv_downloads(tmp_path):
    good = tmp_path / "downloads" / "dorset.csv"
    good.parent.mkdir()
    good.write_text("org_code,period,numerator,denominator,rate_ratio,rows_read\n"
                    "RDY,2023-01,*,1235,0.88,7\nRDY,2023-02,0,40,0.91,3\nENG,2023-02,3,123457,,\n",
                    encoding="utf-8")
    assert check_csv(good, tmp_path) == []
    bad = tmp_path / "downloads" / "bradford.csv"
    bad.write_text("\ufefforg_code,LEAVERS\nTAD,3\nTAD,11\n", encoding="utf-8")
    found = check_csv(bad, tmp_path)
    assert [(v.page, v.where, v.value) for v in found] == [
        ("downloads/bradford.csv", "row 2, column 'LEAVERS'", "3"),
        ("downloads/bradford.csv", "row 3, column 'LEAVERS'", "11"),
    ]


def test_check_tree_counts_pages_and_downloads(tmp_path):
    _page(tmp_path)
    _page(tmp_path, value="2", name="sites/bradford/index.html")
    (tmp_path / "data.csv").write_text("observed\n15\n", encoding="utf-8")
    (tmp_path / "style.css").write_text("td { color: red }", encoding="utf-8")
    report = scan_tree([tmp_path])
    assert (report.pages, report.downloads) == (2, 1)
    assert [(v.page, v.value) for v in report.violations] == [("sites/bradford/index.html", "2")]
    assert check_tree([tmp_path / "sites" / "dorset"]) == []


# --- the command line --------------------------------------------------------------------------------------


def test_cli_exit_zero_with_a_one_line_summary(tmp_path, capsys):
    _page(tmp_path)
    assert main(["check-disclosure", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["checked 1 pages and 0 downloads: no published count breaks the rule"]


def test_cli_exit_one_listing_each_violation(tmp_path, capsys):
    _page(tmp_path, value="3", marked="7")
    (tmp_path / "d.csv").write_text("referrals\n4\n", encoding="utf-8")
    assert main(["check-disclosure", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("d.csv: row 2, column 'referrals': '4'")
    assert any(re.match(r"sites/dorset/index\.html: table 1, column 'Referrals', row 2: '3'", ln) for ln in lines)
    assert any("data-sdc" in ln and "'7'" in ln for ln in lines)
    assert lines[-1] == "checked 1 pages and 1 downloads: 3 published counts break the rule"


def test_cli_missing_path_is_a_one_line_error(tmp_path, capsys):
    assert main(["check-disclosure", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]
