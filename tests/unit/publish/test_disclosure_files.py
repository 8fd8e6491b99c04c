"""check-disclosure reads every published file type and free-text counts (issue 14).

A seeded 3 in each file type fails the checker; the same files with the count published by the rule (or
with numbers that are not counts: estimates, percentages, years, months, page numbers) pass.
"""

from __future__ import annotations

import json

import pytest

from evaluation.cli import main
from evaluation.publish.disclosure import scan_tree
from evaluation.publish.disclosure_text import text_counts

SEEDED = {
    "page_text.html": "<html><body><p>In March 3 people were referred.</p></body></html>",
    "page_n.html": "<p>Referrals accepted (n=3) in the quarter.</p>",
    "page_tilde.html": "<p>A small team saw ~3 last month.</p>",
    "page_alt.html": '<figure><img src="a.png" alt="Chart: 3 referrals in May 2022"></figure>',
    "page_title.html": '<span title="3 new referrals">May</span>',
    "page_number_seen.html": "<table><thead><tr><th>Month</th><th>Number seen</th></tr></thead>"
                             "<tbody><tr><td>May 2022</td><td>3</td></tr></tbody></table>",
    "page_headerless.html": "<table><tr><td>People seen</td><td>3</td></tr><tr><td>Month</td><td>May</td></tr>"
                            "</table>",
    "download.csv": "site,summary\ndorset,In May 3 people were seen\n",
    "download_column.csv": "site,people_seen\ndorset,3\n",
    "download.tsv": "site\treferrals\ndorset\t3\n",
    "results.json": json.dumps({"site": "dorset", "latest_count": 3}),
    "text.json": json.dumps({"notes": ["the crisis team saw 3 patients"]}),
    "notebook.ipynb": json.dumps({"cells": [{"outputs": [{"data": {"text/html": "<p>n = 3</p>"}}]}]}),
    # A count beside a picture: the picture's base64 is not read as text, the sentence and the alt text are.
    "notebook_figure.ipynb": json.dumps({"cells": [{"outputs": [{"data": {
        "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "text/html": '<figure><img src="data:image/png;base64,iVBORw0KGgo=" alt="May 2022"><figcaption>In May 3 '
                     'people were referred</figcaption></figure>'}}]}]}),
    "notebook_alt.ipynb": json.dumps({"cells": [{"outputs": [{"data": {
        "text/html": '<img src="data:image/png;base64,iVBORw0KGgo=" alt="Chart: 3 referrals in May 2022">'}}]}]}),
    # Text dressed up as a picture's data URI (a hostile file name, say) is still read as text.
    "notebook_fake_uri.ipynb": json.dumps({"cells": [{"outputs": [{"data": {
        "text/html": '<p>data:a;base64,n=3"</p>'}}]}]}),
    "notebook_fake_uri_count.ipynb": json.dumps({"cells": [{"outputs": [{"data": {
        "text/html": '<p>data:image/png;base64,AAAAAAAAAAAAAAAAAAAA+3 people"</p>'}}]}]}),
    "chart.svg": '<svg xmlns="http://www.w3.org/2000/svg"><g><!-- 3 people --><path d="M 0 0"/></g></svg>',
    "chart_text.svg": '<svg xmlns="http://www.w3.org/2000/svg"><text x="1" y="2">n=3</text></svg>',
}

CLEAN = {
    "page.html": "<html><body><h1>Dorset: crisis demand</h1><p>Referrals were 12% lower than expected "
                 "(rate ratio 0.88, 95% CI 0.81 to 0.95), 64 months before and 43 after go-live in August 2021. "
                 "Expected 12.3 referrals a month; an average of 7 people a month; compared with 6 comparator "
                 "providers. Page 3 of 4. In 2019 referrals rose. Around 15 people and n=20.</p>"
                 '<img alt="Chart of referrals at Dorset, April 2016 to March 2025; 45 people in the latest month">'
                 '<table data-sdc="exempt"><tr><td>People seen</td><td>3</td></tr></table>'
                 "<table><thead><tr><th>Measure</th><th>Months before / after</th></tr></thead>"
                 "<tbody><tr><td>CCR70</td><td>64 / 43</td></tr></tbody></table>"
                 "<p>Write <code>n=3</code> as <code>n=*</code>.</p><script>var people = 3;</script></body></html>",
    "download.csv": "site,n_months_before,step_estimate,summary\ndorset,64,0.88,Referrals 12% lower in 2021\n",
    "download.tsv": "site\treferrals\ndorset\t*\nengland_row\t10\n",
    "results.json": json.dumps({"site": "dorset", "n_pre": 64, "latest_count": 15,
                                "rows": [{"org_code": "ENG", "count": 3}],
                                "summary": "rate ratio 0.88 (95% CI 0.81 to 0.95) over 43 months"}),
    "chart.svg": '<svg xmlns="http://www.w3.org/2000/svg"><!-- 2021 --><!-- 3 --><!-- 7.5 --><!-- referrals '
                 'per month --><text>2.5</text></svg>',
}


def _write(folder, files):
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_a_seeded_3_fails_the_checker_in_every_file_type(tmp_path, name):
    folder = _write(tmp_path / "site", {name: SEEDED[name]})
    report = scan_tree([folder])
    assert report.violations, f"{name}: the seeded 3 was not found"
    assert all(v.page == name for v in report.violations)
    assert any("3" in v.value for v in report.violations)


def test_the_same_files_with_the_count_published_by_the_rule_pass(tmp_path):
    fixed = {name: text.replace("=3", "=*").replace("= 3", "= *").replace("~3", "~5").replace(">3<", ">*<")
             .replace("\t3", "\t*").replace(",3\n", ",*\n").replace(": 3}", ": 5}").replace(" 3 ", " 5 ")
             .replace("3 people", "5 people").replace("3 patients", "5 patients").replace("3 referrals", "5 referrals")
             .replace("3 new", "5 new")
             for name, text in SEEDED.items()}
    report = scan_tree([_write(tmp_path / "site", fixed)])
    assert report.violations == []
    assert report.pages == 7 and report.downloads == 12


def test_numbers_that_are_not_counts_pass(tmp_path):
    report = scan_tree([_write(tmp_path / "site", CLEAN)])
    assert [str(v) for v in report.violations] == []


@pytest.mark.parametrize(
    ("text", "found"),
    [("3 people", ["3"]), ("N: 2 referrals", ["2"]), ("12 new referrals", ["12"]), ("1,234 contacts", ["1,234"]),
     ("~4 staff", ["4"]), ("3\u00a0people", ["3"]), ("n\t=\t3", ["3"]),
     ("3 months", []), ("3% of people", []), ("in 2023 people", []), ("page 3", []),
     ("expected 12 referrals", []), ("12.5 referrals", []), ("10 people", []), ("0 people", []),
     ("95% CI 2 to 4 referrals", [])],
)
def test_free_text_heuristics(text, found):
    got = [ctx for ctx, _ in text_counts(text)]
    assert len(got) == len(found), got
    for ctx, number in zip(got, found, strict=True):
        assert number in ctx


def test_pictures_in_a_notebook_are_not_read_as_text(tmp_path, monkeypatch):
    """A notebook output's base64 picture, and a data URI in its HTML, never reach the free-text reader (38 MB of
    them a build); the alt text beside them does (the seeded notebooks above show its counts are found)."""
    from evaluation.publish import disclosure_text

    read: list[str] = []
    real = disclosure_text.check_text
    monkeypatch.setattr(disclosure_text, "check_text", lambda text, *a, **k: read.append(text) or real(text, *a, **k))
    picture = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    notebook = {"cells": [{"outputs": [{"data": {"image/png": picture, "image/jpeg": picture,
                                                 "image/svg+xml": "<svg><text>2 people</text></svg>",
                                                 "text/html": f'<img src="data:image/png;base64,{picture}" '
                                                              'alt="Referrals, 12% lower">'}}]}]}
    report = scan_tree([_write(tmp_path / "site", {"pictures.ipynb": json.dumps(notebook)})])
    assert report.downloads == 1
    assert read and not any(picture[:20] in text for text in read)
    assert any("12% lower" in text for text in read) and any("2 people" in text for text in read)


def test_cli_fails_on_a_seeded_count_and_names_the_file(tmp_path, capsys):
    folder = _write(tmp_path / "site", {"a.svg": SEEDED["chart.svg"], "ok.json": CLEAN["results.json"]})
    assert main(["check-disclosure", str(folder)]) != 0
    assert "a.svg" in capsys.readouterr().out + capsys.readouterr().err
