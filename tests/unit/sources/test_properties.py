"""Property-based tests (hypothesis) of the readers and the panel.

* any valid panel written in a local template layout reads back with the same organisations, periods and
  values;
* for arbitrary inputs (valid rows, suppression marks, garbage values, blank lines) rows read = rows kept +
  rows rejected, and the panel holds no row that was not in the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.sources import SourceError, read_local_referrals, read_local_workforce, read_mhsds

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ORGS = st.from_regex(r"[A-Z][A-Z0-9]{2,4}", fullmatch=True)
MONTHS = st.integers(min_value=0, max_value=119).map(lambda i: pd.Timestamp(2015 + i // 12, i % 12 + 1, 1))


@st.composite
def ratio_rows(draw: st.DrawFn, max_den: int = 100_000) -> list[tuple[str, pd.Timestamp, int, int]]:
    """Distinct organisation x month keys, each with a denominator and a numerator no larger than it."""
    keys = draw(st.lists(st.tuples(ORGS, MONTHS), min_size=1, max_size=25, unique=True))
    rows = []
    for org, month in keys:
        den = draw(st.integers(min_value=1, max_value=max_den))
        rows.append((org, month, draw(st.integers(min_value=0, max_value=den)), den))
    return rows


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


@SETTINGS
@given(rows=ratio_rows())
def test_referrals_round_trip(tmp_path_factory, rows) -> None:
    lines = ["ORG_CODE,PERIOD_START,REFERRALS_RECEIVED,REFERRALS_ACCEPTED"]
    lines += [f"{o},{p:%d/%m/%Y},{den},{num}" for o, p, num, den in rows]
    path = _write(tmp_path_factory.mktemp("ref"), "referrals.csv", "\n".join(lines) + "\n")
    result = read_local_referrals(path)
    got = result.panel.sort_values(["org_code", "period"]).reset_index(drop=True)
    want = pd.DataFrame(rows, columns=["org_code", "period", "numerator", "denominator"])
    want = want.sort_values(["org_code", "period"]).reset_index(drop=True)
    assert list(got["org_code"]) == list(want["org_code"])
    assert list(got["period"]) == list(want["period"])
    np.testing.assert_array_equal(got["numerator"], want["numerator"].astype(float))
    np.testing.assert_array_equal(got["denominator"], want["denominator"].astype(float))
    np.testing.assert_allclose(got["value"], want["numerator"] / want["denominator"])
    assert result.report.rows_read == result.report.rows_kept == len(rows)


@SETTINGS
@given(leavers=ratio_rows(max_den=20_000), stable=st.data())
def test_workforce_round_trip(tmp_path_factory, leavers, stable) -> None:
    lines = ["ORG_CODE,PERIOD_START,STAFF_IN_POST,LEAVERS,STAFF_IN_POST_12M_AGO,STABLE_STAFF_12M"]
    expected = []
    for org, month, n_leave, in_post in leavers:
        base = stable.draw(st.integers(min_value=1, max_value=20_000))
        kept = stable.draw(st.integers(min_value=0, max_value=base))
        lines.append(f"{org},{month:%d/%m/%Y},{in_post},{n_leave},{base},{kept}")
        expected += [(org, month, "LEAVER_RATE", n_leave, in_post), (org, month, "STABILITY_12M", kept, base)]
    path = _write(tmp_path_factory.mktemp("wf"), "workforce.csv", "\n".join(lines) + "\n")
    result = read_local_workforce(path)
    key = ["org_code", "period", "measure_id"]
    got = result.panel.sort_values(key).reset_index(drop=True)
    want = pd.DataFrame(expected, columns=[*key, "numerator", "denominator"]).sort_values(key).reset_index(drop=True)
    assert got[key].astype(str).values.tolist() == want[key].astype(str).values.tolist()
    np.testing.assert_array_equal(got["numerator"], want["numerator"].astype(float))
    np.testing.assert_array_equal(got["denominator"], want["denominator"].astype(float))
    assert result.report.balanced and result.report.rows_kept == 2 * len(leavers)


MHSDS_HEADER = (
    "REPORTING_PERIOD_START,REPORTING_PERIOD_END,STATUS,BREAKDOWN,PRIMARY_LEVEL,PRIMARY_LEVEL_DESCRIPTION,"
    "SECONDARY_LEVEL,SECONDARY_LEVEL_DESCRIPTION,MEASURE_ID,MEASURE_NAME,MEASURE_VALUE"
)
# Garbage never holds a comma, quote or line break: those change how many fields a line has, which the
# truncated-line and too-many-fields rules handle and other tests cover.
GARBAGE = st.text(alphabet="abcxyz-/+.e*0123456789 ", min_size=1, max_size=8)
VALUES = st.one_of(st.integers(min_value=0, max_value=10**6).map(str), st.sampled_from(["*", ".", ""]), GARBAGE)
DATES = st.one_of(MONTHS.map(lambda p: (f"{p:%d/%m/%Y}", f"{p + pd.offsets.MonthEnd(0):%d/%m/%Y}")),
                  st.tuples(GARBAGE, GARBAGE))
LINES = st.one_of(
    st.tuples(DATES, st.sampled_from(["RDY", "TAD", "ZC01", "bad code!"]), st.sampled_from(["MHS32", "MHS99"]),
              st.sampled_from(["Final", "Performance", "Draft"]), VALUES),
    st.just(""),  # a blank line
)


def _number(text: str) -> float | None:
    """``text`` as a number, or None (a suppression mark, an empty or non-numeric cell)."""
    try:
        return float(text)
    except ValueError:
        return None


@SETTINGS
@given(lines=st.lists(LINES, min_size=1, max_size=40))
def test_mhsds_accounting_holds_for_arbitrary_lines(tmp_path_factory, lines) -> None:
    text = [MHSDS_HEADER]
    written = set()
    for item in lines:
        if item == "":
            text.append("")
            continue
        (start, end), org, measure, status, value = item
        text.append(f"{start},{end},{status},Provider,{org},NAME,NONE,NONE,{measure},Measure name,{value}")
        written.add((start.strip(), org.strip(), measure, value.strip()))
    path = _write(tmp_path_factory.mktemp("mh"), "mhsds.csv", "\n".join(text) + "\n")
    try:
        result = read_mhsds(path)
    except SourceError as exc:
        # Only a file with no data row at all may be refused outright (and then with the line named).
        assert all(item == "" for item in lines), str(exc)
        assert "header row only" in str(exc)
        return
    report = result.report
    n_rows = sum(item != "" for item in lines)
    assert report.rows_read == n_rows  # blank lines are not rows
    assert report.rows_read == report.rows_kept + sum(report.rejected.values())
    assert report.rows_kept == len(result.panel)
    # Every panel row comes from a line of the input.
    for row in result.panel.itertuples():
        shown = "" if np.isnan(row.value) else f"{row.value:g}"
        assert any(
            s == f"{row.period:%d/%m/%Y}" and o == row.org_code and m == "MHS32"
            and (v == shown or (row.suppressed and v in {"*", ".", ""})
                 or (not row.suppressed and _number(v) == row.value))
            for s, o, m, v in written
        ), row
