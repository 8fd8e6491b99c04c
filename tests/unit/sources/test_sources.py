"""Tests for evaluation.sources: the readers that turn published NHS files and local extracts into the panel.

Real-file tests read ../shared/data (skipped with a reason when it is absent); the rest write small inputs
into tmp_path, so every quirk the readers handle has a test that fails when the handling breaks.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.panel.frame import PANEL_COLUMNS, validate_panel
from evaluation.sources import (
    TABLE_LAYOUT,
    SourceError,
    csv_layouts,
    detect_layout,
    is_skipped,
    load_panel,
    read_file,
    read_local_referrals,
    read_local_workforce,
    read_mhsds,
    read_sickness,
    read_sickness_table,
)
from evaluation.sources.mhsds import mhsds_measures
from evaluation.sources.organisations import ORGANISATIONS_FILE, load_organisations

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
REAL = DATA / "real"
MHSDS_FILE = REAL / "mhsds_timeseries" / "MHSDS Time_Series_data_Apr_2016_NovPrf_2022.csv.gz"
SICKNESS_DIR = REAL / "sickness_absence_benchmarking"
TABLE_FILE = REAL / "sickness_absence_tables" / "NHS Sickness Absence rates, January 2023.xlsx"
TEMPLATES = Path(__file__).resolve().parents[3] / "data_dictionary" / "templates"
SITES = ["RDY", "TAD", "RW5", "RXA"]

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real NHS files not available: {DATA} is absent (CI always has it)"
)

MHSDS_HEADER = (
    "REPORTING_PERIOD_START,REPORTING_PERIOD_END,STATUS,BREAKDOWN,PRIMARY_LEVEL,PRIMARY_LEVEL_DESCRIPTION,"
    "SECONDARY_LEVEL,SECONDARY_LEVEL_DESCRIPTION,MEASURE_ID,MEASURE_NAME,MEASURE_VALUE"
)
SICKNESS_HEADER = (
    "DATE,ORG_CODE,ORG_NAME,STAFF_GROUP,FTE_DAYS_LOST,FTE_DAYS_AVAILABLE,SICKNESS_ABSENCE_RATE_PERCENT"
)


# --------------------------------------------------------------------------------------------------
# helpers


def mhsds_row(
    start: str,
    end: str,
    status: str,
    org: str,
    measure: str,
    value: str,
    *,
    breakdown: str = "Provider",
    name: str = "TEST TRUST",
) -> str:
    return f"{start},{end},{status},{breakdown},{org},{name},NONE,NONE,{measure},Some name,{value}"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def assert_balanced(report) -> None:
    assert report.rows_read == report.rows_kept + report.rows_rejected, report.to_dict()
    assert report.balanced


def _period_months(start: pd.Series, end: pd.Series) -> pd.Series:
    return (end.dt.year - start.dt.year) * 12 + end.dt.month - start.dt.month + 1


# --------------------------------------------------------------------------------------------------
# Real MHSDS file


@pytest.fixture(scope="module")
def mhsds_result():
    if not MHSDS_FILE.is_file():
        pytest.skip(f"real MHSDS file not available: {MHSDS_FILE}")
    return read_mhsds(MHSDS_FILE)


@pytest.fixture(scope="module")
def mhsds_plain() -> pd.DataFrame:
    """An independent plain-pandas read of the provider rows, with the period length computed."""
    if not MHSDS_FILE.is_file():
        pytest.skip(f"real MHSDS file not available: {MHSDS_FILE}")
    df = pd.read_csv(MHSDS_FILE, dtype=str, keep_default_na=False)
    df = df[df["BREAKDOWN"].str.strip().str.lower() == "provider"].copy()
    df["start"] = pd.to_datetime(df["REPORTING_PERIOD_START"], format="%d/%m/%Y")
    df["end"] = pd.to_datetime(df["REPORTING_PERIOD_END"], format="%d/%m/%Y")
    df["months"] = _period_months(df["start"], df["end"])
    df["num"] = pd.to_numeric(df["MEASURE_VALUE"].replace("*", np.nan))
    return df


def _expected_series(plain: pd.DataFrame, org: str, measure: str, months: int) -> pd.Series:
    sel = plain[
        (plain["PRIMARY_LEVEL"] == org) & (plain["MEASURE_ID"] == measure) & (plain["months"] == months)
    ]
    period = sel["start"] if months != 12 else sel["end"].dt.to_period("M").dt.to_timestamp()
    sel = sel.assign(period=period, final=sel["STATUS"].ne("Final"))
    sel = sel.sort_values(["period", "final"]).drop_duplicates("period")  # Final preferred
    return sel.set_index("period")["num"].sort_index()


@pytest.mark.realdata
@needs_data
def test_mhsds_rows_read_equal_kept_plus_rejected(mhsds_result):
    rep = mhsds_result.report
    assert rep.rows_read == 465_927
    assert_balanced(rep)
    assert rep.rejected["not a provider breakdown"] > 0
    assert rep.rejected["measure not in the data dictionary"] > 0
    assert rep.sha256 == "c3948e76adaecf94eb749d99cb97e0203b1f3bd9b41b03403967637a8689da48"
    validate_panel(mhsds_result.panel)
    assert list(mhsds_result.panel.columns) == PANEL_COLUMNS


@pytest.mark.realdata
@needs_data
@pytest.mark.parametrize("org", SITES)
@pytest.mark.parametrize(
    ("measure", "period_type", "months"), [("MHS32", "month", 1), ("MHS108", "rolling_12_months", 12)]
)
def test_mhsds_site_values_equal_the_file(mhsds_result, mhsds_plain, org, measure, period_type, months):
    expected = _expected_series(mhsds_plain, org, measure, months)
    panel = mhsds_result.panel
    got = panel[
        (panel["org_code"] == org) & (panel["measure_id"] == measure) & (panel["period_type"] == period_type)
    ]
    got = got.set_index("period")["value"].sort_index()
    assert len(expected) > 0
    assert list(got.index) == list(expected.index)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


@pytest.mark.realdata
@needs_data
def test_mhsds_monthly_series_hold_only_one_month_periods(mhsds_result, mhsds_plain):
    panel = mhsds_result.panel
    monthly = panel[panel["period_type"] == "month"]
    one_month = mhsds_plain[mhsds_plain["months"] == 1]
    allowed = set(zip(one_month["PRIMARY_LEVEL"], one_month["start"], one_month["MEASURE_ID"], strict=True))
    got = set(zip(monthly["org_code"], monthly["period"], monthly["measure_id"], strict=True))
    assert got <= allowed
    assert (panel["period"].dt.day == 1).all()
    for org in SITES:
        s = monthly[(monthly["org_code"] == org) & (monthly["measure_id"] == "MHS32")]["period"]
        assert s.is_unique and s.is_monotonic_increasing


@pytest.mark.realdata
@needs_data
def test_mhsds_quarterly_mhs32_rows_are_quarters(mhsds_result, mhsds_plain):
    panel = mhsds_result.panel
    quarterly = mhsds_plain[(mhsds_plain["MEASURE_ID"] == "MHS32") & (mhsds_plain["months"] == 3)]
    assert len(quarterly) > 0
    got = panel[(panel["measure_id"] == "MHS32") & (panel["period_type"] == "quarter")]
    assert len(got) == len(quarterly)
    assert set(zip(got["org_code"], got["period"], strict=True)) == set(
        zip(quarterly["PRIMARY_LEVEL"], quarterly["start"], strict=True)
    )
    # A quarter never leaks into the monthly series of the same measure.
    monthly = panel[(panel["measure_id"] == "MHS32") & (panel["period_type"] == "month")]
    assert not monthly["period"].isin(quarterly["start"]).all()


@pytest.mark.realdata
@needs_data
def test_mhsds_star_is_suppressed_nan_never_zero(mhsds_result, mhsds_plain):
    panel = mhsds_result.panel
    stars = mhsds_plain[
        (mhsds_plain["MEASURE_VALUE"] == "*") & mhsds_plain["MEASURE_ID"].isin(["MHS32", "MHS108"])
    ]
    assert len(stars) > 0
    assert panel["suppressed"].sum() == len(stars)
    sup = panel[panel["suppressed"]]
    assert sup["value"].isna().all() and sup["numerator"].isna().all()
    row = stars[(stars["MEASURE_ID"] == "MHS32") & (stars["months"] == 1)].iloc[0]
    hit = panel[
        (panel["org_code"] == row["PRIMARY_LEVEL"])
        & (panel["period"] == row["start"])
        & (panel["measure_id"] == "MHS32")
        & (panel["period_type"] == "month")
    ]
    assert len(hit) == 1 and bool(hit["suppressed"].iloc[0]) and np.isnan(hit["value"].iloc[0])


@pytest.mark.realdata
@needs_data
def test_mhsds_upper_case_provider_rows_are_kept(mhsds_result, mhsds_plain):
    upper = mhsds_plain[(mhsds_plain["BREAKDOWN"] == "PROVIDER") & (mhsds_plain["MEASURE_VALUE"] != "*")]
    assert len(upper) > 0, "the real file has BREAKDOWN 'PROVIDER' rows"
    row = upper.iloc[0]
    panel = mhsds_result.panel
    hit = panel[
        (panel["org_code"] == row["PRIMARY_LEVEL"])
        & (panel["period"] == row["start"])
        & (panel["measure_id"] == row["MEASURE_ID"])
        & (panel["period_type"] == "month")
    ]
    assert len(hit) == 1
    assert hit["value"].iloc[0] == float(row["MEASURE_VALUE"])
    assert hit["status"].iloc[0] == "final"


@pytest.mark.realdata
@needs_data
def test_mhsds_performance_rows_are_provisional_and_final_rows_final(mhsds_result, mhsds_plain):
    panel = mhsds_result.panel
    ours = mhsds_plain[mhsds_plain["MEASURE_ID"].isin(["MHS32", "MHS108"])]
    perf = ours[ours["STATUS"] == "Performance"].iloc[0]
    final = ours[ours["STATUS"] == "Final"].iloc[0]
    for row, status in ((perf, "provisional"), (final, "final")):
        period = row["start"] if row["months"] != 12 else row["end"].to_period("M").to_timestamp()
        hit = panel[
            (panel["org_code"] == row["PRIMARY_LEVEL"])
            & (panel["period"] == period)
            & (panel["measure_id"] == row["MEASURE_ID"])
        ]
        assert hit["status"].tolist() == [status]
    assert set(panel["status"]) == {"final", "provisional"}
    # The real file has no key published as both; the synthetic test below covers supersession.
    assert "superseded by a final row" not in mhsds_result.report.rejected


@pytest.mark.realdata
@needs_data
def test_mhsds_reports_rw5_name_change(mhsds_result):
    text = [f for f in mhsds_result.report.findings if f.startswith("Organisation RW5 ")]
    assert len(text) == 1
    assert "LANCASHIRE CARE NHS FOUNDATION TRUST" in text[0]
    assert "LANCASHIRE & SOUTH CUMBRIA NHS FOUNDATION TRUST" in text[0]


@pytest.mark.realdata
@needs_data
def test_detect_layout_of_real_files():
    assert detect_layout(MHSDS_FILE) == "mhsds_long"
    assert detect_layout(next(SICKNESS_DIR.glob("*.csv"))) == "sickness_benchmarking"
    assert detect_layout(TABLE_FILE) == TABLE_LAYOUT


# --------------------------------------------------------------------------------------------------
# Real sickness absence CSVs and Excel table


@pytest.fixture(scope="module")
def sickness_results():
    files = sorted(SICKNESS_DIR.glob("*.csv")) if SICKNESS_DIR.is_dir() else []
    if len(files) != 36:
        pytest.skip(f"real sickness absence CSVs not available in {SICKNESS_DIR}")
    return {f: read_file(f) for f in files}


@pytest.mark.realdata
@needs_data
def test_sickness_csvs_give_every_site_every_month(sickness_results):
    panel = pd.concat([r.panel for rs in sickness_results.values() for r in rs], ignore_index=True)
    months = pd.date_range("2023-01-01", "2025-12-01", freq="MS")
    for org in SITES:
        got = panel[(panel["org_code"] == org) & (panel["measure_id"] == "SICKNESS_RATE")]
        assert list(got.sort_values("period")["period"]) == list(months), org
        assert got["value"].notna().all()
    for rs in sickness_results.values():
        assert len(rs) == 1
        assert_balanced(rs[0].report)
        assert rs[0].report.rejected.get("staff group not all staff", 0) > 0


@pytest.mark.realdata
@needs_data
def test_sickness_rate_is_recomputed_and_matches_published(sickness_results):
    for path, (result,) in sickness_results.items():
        plain = pd.read_csv(path, dtype=str, keep_default_na=False)
        plain = plain[plain["STAFF_GROUP"].str.lower() == "all staff groups"].set_index("ORG_CODE")
        got = result.panel.set_index("org_code")
        assert set(got.index) == set(plain.index)
        lost = plain.loc[got.index, "FTE_DAYS_LOST"].astype(float).to_numpy()
        avail = plain.loc[got.index, "FTE_DAYS_AVAILABLE"].astype(float).to_numpy()
        published = plain.loc[got.index, "SICKNESS_ABSENCE_RATE_PERCENT"].astype(float).to_numpy()
        np.testing.assert_allclose(got["value"].to_numpy(), 100 * lost / avail, rtol=1e-12)
        np.testing.assert_array_equal(got["numerator"].to_numpy(), lost)
        np.testing.assert_array_equal(got["denominator"].to_numpy(), avail)
        assert np.all(np.abs(got["value"].to_numpy() - published) <= 0.01), path.name
        assert (got["status"] == "final").all() and (got["period_type"] == "month").all()


@pytest.fixture(scope="module")
def table_result():
    if not TABLE_FILE.is_file():
        pytest.skip(f"real sickness absence Excel tables not available: {TABLE_FILE}")
    return read_sickness_table(TABLE_FILE)


@pytest.fixture(scope="module")
def table_cells() -> dict[tuple[str, str], object]:
    """Table 4 read independently: (org code, header text with whitespace collapsed) -> cell."""
    import openpyxl

    wb = openpyxl.load_workbook(TABLE_FILE, read_only=True, data_only=True)
    rows = list(wb["Table 4"].iter_rows(values_only=True))
    wb.close()
    header = [" ".join(str(c).split()) if c is not None else "" for c in rows[2]]
    org_col = header.index("Org code")
    cells = {}
    for row in rows[3:]:
        code = row[org_col] if org_col < len(row) else None
        if code and not str(row[4]).startswith("All organisations"):
            for j, h in enumerate(header[org_col + 1 :], start=org_col + 1):
                cells.setdefault((code, h), row[j])
    return cells


@pytest.mark.realdata
@needs_data
@pytest.mark.parametrize("org", SITES)
def test_sickness_table_values_equal_the_cells(table_result, table_cells, org):
    panel = table_result.panel
    for header, period in (
        ("April 2013", "2013-04-01"),
        ("March 2020", "2020-03-01"),
        ("December 2022", "2022-12-01"),
        ("January 2023", "2023-01-01"),
    ):
        cell = table_cells[(org, header)]
        hit = panel[(panel["org_code"] == org) & (panel["period"] == pd.Timestamp(period))]
        assert len(hit) == 1
        assert isinstance(cell, int | float)
        assert hit["value"].iloc[0] == pytest.approx(float(cell), abs=0)
        assert np.isnan(hit["numerator"].iloc[0]) and np.isnan(hit["denominator"].iloc[0])
        assert "rate only" in hit["quality_flags"].iloc[0]


@pytest.mark.realdata
@needs_data
def test_sickness_table_dot_is_suppressed_and_starts_april_2013(table_result, table_cells):
    panel = table_result.panel
    assert panel["period"].min() == pd.Timestamp("2013-04-01")
    assert panel["period"].max() == pd.Timestamp("2023-01-01")
    (code, header) = next(k for k, v in table_cells.items() if v == ".")
    period = pd.Timestamp(pd.to_datetime(header, format="%B %Y"))
    hit = panel[(panel["org_code"] == code) & (panel["period"] == period)]
    assert len(hit) == 1 and bool(hit["suppressed"].iloc[0]) and np.isnan(hit["value"].iloc[0])
    assert_balanced(table_result.report)
    assert table_result.report.rejected["aggregate row (all organisations)"] > 0
    validate_panel(panel)


@pytest.mark.realdata
@needs_data
def test_load_panel_on_real_folder_prefers_csv_over_table():
    panel, reports = load_panel(REAL)
    for rep in reports:
        assert_balanced(rep)
        assert not rep.blocking
    table = next(r for r in reports if r.layout == TABLE_LAYOUT)
    assert table.rejected["superseded by monthly CSV"] > 0
    jan = panel[
        (panel["measure_id"] == "SICKNESS_RATE")
        & (panel["period"] == pd.Timestamp("2023-01-01"))
        & panel["org_code"].isin(SITES)
    ]
    assert len(jan) == 4 and jan["denominator"].notna().all()
    dec = panel[
        (panel["measure_id"] == "SICKNESS_RATE")
        & (panel["period"] == pd.Timestamp("2022-12-01"))
        & panel["org_code"].isin(SITES)
    ]
    assert len(dec) == 4 and (dec["quality_flags"] == "rate only").all()
    rw5 = next(f for r in reports for f in r.findings if f.startswith("Organisation RW5 "))
    assert "documented name change" in rw5
    validate_panel(panel)


# --------------------------------------------------------------------------------------------------
# Small inputs: file formats and encodings


def _mhsds_text(rows: list[str]) -> str:
    return "\n".join([MHSDS_HEADER, *rows]) + "\n"


BASIC_ROWS = [
    mhsds_row("01/04/2021", "30/04/2021", "Final", "RDY", "MHS32", "100"),
    mhsds_row("01/05/2021", "31/05/2021", "Final", "RDY", "MHS32", "*"),
    mhsds_row("01/05/2021", "31/05/2021", "Final", "ENG", "MHS32", "999", breakdown="England"),
    mhsds_row("01/05/2021", "31/05/2021", "Final", "RDY", "MHS01", "5"),
]


def test_gz_and_zip_inputs_read_like_plain_csv(tmp_path):
    text = _mhsds_text(BASIC_ROWS)
    plain = write(tmp_path / "m.csv", text)
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    zp = tmp_path / "m.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.writestr("inner/m.csv", text)
    results = [read_file(p) for p in (plain, gz, zp)]
    for (r,) in results:
        assert r.report.rows_read == 4 and r.report.rows_kept == 2
        assert_balanced(r.report)
        pd.testing.assert_frame_equal(
            r.panel.drop(columns="source_file"), results[0][0].panel.drop(columns="source_file")
        )
    assert results[2][0].report.path.endswith("m.zip!inner/m.csv")
    assert results[2][0].panel["source_file"].iloc[0] == "m.zip!inner/m.csv"


def test_zip_with_several_csvs_reads_each(tmp_path):
    zp = tmp_path / "bundle.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.writestr("a_mhsds.csv", _mhsds_text(BASIC_ROWS))
        zf.writestr(
            "b_sickness.csv", f"{SICKNESS_HEADER}\n31/01/2023,RDY,Dorset,All staff groups,50,1000,5.00\n"
        )
        zf.writestr("notes.txt", "not data")
    results = read_file(zp)
    assert [r.report.layout for r in results] == ["mhsds_long", "sickness_benchmarking"]
    with pytest.raises(SourceError, match="holds 2 CSV files"):
        read_mhsds(zp)


def test_zip_without_csv_names_the_file(tmp_path):
    zp = tmp_path / "nothing.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.writestr("readme.txt", "no data here")
    with pytest.raises(SourceError) as err:
        read_file(zp)
    assert "nothing.zip" in str(err.value) and "no CSV" in str(err.value)
    assert err.value.path == str(zp)


def test_utf8_bom_header_is_matched(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(
        b"\xef\xbb\xbf" + f"{SICKNESS_HEADER}\n31/01/2023,RDY,Dorset,All staff groups,50,1000,5.00\n".encode()
    )
    assert detect_layout(p) == "sickness_benchmarking"
    (r,) = read_file(p)
    assert r.panel["value"].tolist() == [5.0]
    assert not any("Windows-1252" in f for f in r.report.findings)


def test_windows_1252_is_read_with_a_finding(tmp_path):
    rows = [
        mhsds_row("01/04/2021", "30/04/2021", "Final", "RXX", "MHS32", "10", name="CAFÉ TRUST"),
        mhsds_row("01/05/2021", "31/05/2021", "Final", "RXX", "MHS32", "12", name="ST JOHN’S CAFÉ TRUST"),
    ]
    p = write(tmp_path / "cp.csv", _mhsds_text(rows), encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("utf-8")
    (r,) = read_file(p)
    assert r.report.rows_kept == 2
    assert any("Windows-1252" in f for f in r.report.findings)
    name = next(f for f in r.report.findings if f.startswith("Organisation RXX"))
    assert "ST JOHN’S CAFÉ TRUST" in name and "'CAFÉ TRUST'" in name


def test_header_matching_ignores_case_spaces_order_and_extra_columns(tmp_path):
    text = "Extra, fte_days_available ,Org_Code,date,FTE_DAYS_LOST\nx,1000,rdy,15/02/2023,25\n"
    (r,) = read_file(write(tmp_path / "s.csv", text))
    row = r.panel.iloc[0]
    assert row["org_code"] == "RDY"
    assert row["period"] == pd.Timestamp("2023-02-01")  # any day in the month -> first of the month
    assert row["value"] == pytest.approx(2.5)
    assert r.report.layout == "sickness_benchmarking"


# --------------------------------------------------------------------------------------------------
# Errors: one line, naming file, row, column and what was expected


def test_missing_column_message_names_file_expected_and_found(tmp_path):
    p = write(tmp_path / "short.csv", "DATE,ORG_CODE,FTE_DAYS_LOST\n31/01/2023,RDY,5\n")
    with pytest.raises(SourceError) as err:
        read_sickness(p)
    msg = str(err.value)
    assert msg == (
        f"{p}: missing required column(s) FTE_DAYS_AVAILABLE; expected DATE, ORG_CODE, FTE_DAYS_LOST, "
        "FTE_DAYS_AVAILABLE; found DATE, ORG_CODE, FTE_DAYS_LOST"
    )
    assert err.value.column == "FTE_DAYS_AVAILABLE"
    assert "FTE_DAYS_AVAILABLE" in err.value.expected
    assert "\n" not in msg


def test_unknown_layout_lists_every_csv_layout(tmp_path):
    p = write(tmp_path / "odd.csv", "A,B,C\n1,2,3\n")
    with pytest.raises(SourceError) as err:
        detect_layout(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: unknown layout; header A, B, C does not match any of: ")
    csv_ids = [lay.id for lay in csv_layouts()]
    assert len(csv_ids) >= 4
    for lay in default_registry().layouts:
        listed = f"{lay.id} (needs {', '.join(lay.required_columns)})" in msg
        # The Excel table is found from its sheet, so a CSV header is never compared with it.
        assert listed == (lay.id in csv_ids), lay.id
    with pytest.raises(SourceError, match="unknown layout"):
        read_file(p)


def test_excel_table_layout_is_in_the_dictionary_but_never_matched_by_a_csv_header(tmp_path):
    lay = default_registry().layout(TABLE_LAYOUT)
    assert lay.file_types == ["xlsx"]
    assert "Org code" in lay.required_columns
    # A CSV carrying exactly the table's header names is not "the table layout without a reader".
    p = write(tmp_path / "table.csv", "Org code,<Month YYYY>\nRDY,4.5\n")
    with pytest.raises(SourceError, match="unknown layout"):
        read_file(p)


def test_header_missing_a_column_of_one_layout_names_the_missing_column(tmp_path):
    header = MHSDS_HEADER.replace(",MEASURE_VALUE", "")
    p = write(tmp_path / "nearly.csv", header + "\n" + ",".join(["x"] * 10) + "\n")
    with pytest.raises(SourceError) as err:
        detect_layout(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: missing required column(s) MEASURE_VALUE (the header is closest to layout mhsds_long)")
    assert "; expected REPORTING_PERIOD_START," in msg and "MEASURE_VALUE" in msg.split("; expected ")[1]
    assert msg.endswith("; found " + header.replace(",", ", "))
    # Sharing only half a layout's columns is not close enough to guess the layout.
    q = write(tmp_path / "half.csv", "DATE,ORG_CODE,X,Y\n1,2,3,4\n")
    with pytest.raises(SourceError, match="unknown layout"):
        detect_layout(q)


@pytest.mark.parametrize(
    ("content", "expect"),
    [(b"", "empty file"), (b"\r\n  \n", "empty file"), (MHSDS_HEADER.encode() + b"\r\n", "header row only")],
)
def test_empty_and_header_only_files(tmp_path, content, expect):
    p = tmp_path / "e.csv"
    p.write_bytes(content)
    with pytest.raises(SourceError) as err:
        read_mhsds(p)
    assert expect in str(err.value) and str(p) in str(err.value)
    assert "\n" not in str(err.value)


def test_rows_with_too_many_fields_are_rejected_with_their_lines(tmp_path):
    # An unquoted comma in a name shifts every later field; such a row must not be read as data.
    shifted = mhsds_row("01/06/2021", "30/06/2021", "Final", "RDY", "MHS32", "5", name="DORSET, POOLE")
    rows = [
        BASIC_ROWS[0],
        shifted,
        "",
        BASIC_ROWS[1],
        BASIC_ROWS[0].replace("01/04", "01/07").replace("30/04", "31/07"),
    ]
    r = read_mhsds(write(tmp_path / "wide.csv", _mhsds_text(rows)))
    assert r.report.rows_read == 4
    assert r.report.rejected == {"more fields than the header": 1}
    assert r.report.rows_kept == 3
    assert any("line(s) 3" in f for f in r.report.findings)
    assert_balanced(r.report)


def test_line_numbers_skip_blank_and_bad_lines(tmp_path):
    rows = [
        BASIC_ROWS[0],
        BASIC_ROWS[0] + ",x",
        "",
        mhsds_row("01/05/2021", "31/05/2021", "Final", "RDY", "MHS32", "n/a"),
    ]
    r = read_mhsds(write(tmp_path / "lines.csv", _mhsds_text(rows)))
    assert "non-numeric value (line 5)" in " ".join(r.report.findings)


@pytest.mark.parametrize(
    "last", ["01/06/2021,30/06/2021,Final,Provider,RDY", '01/06/2021,30/06/2021,Final,Provider,RDY,"TRUNC']
)
def test_truncated_last_line_is_rejected_not_a_crash(tmp_path, last):
    text = "\n".join([MHSDS_HEADER, *BASIC_ROWS, last])  # no final newline, as when a download stops
    r = read_mhsds(write(tmp_path / "cut.csv", text))
    assert r.report.rows_read == 5
    assert r.report.rejected["truncated row"] == 1
    assert r.report.rows_kept == 2
    assert_balanced(r.report)
    assert any("line 6" in f for f in r.report.findings)


def test_cut_short_gzip_keeps_complete_rows(tmp_path):
    text = _mhsds_text(BASIC_ROWS * 50).encode()
    packed = gzip.compress(text)
    p = tmp_path / "cut.csv.gz"
    p.write_bytes(packed[: len(packed) * 2 // 3])
    r = read_mhsds(p)
    assert 0 < r.report.rows_read < 200
    assert r.report.rejected.get("truncated row", 0) <= 1
    assert any("ends early" in f for f in r.report.findings)
    assert_balanced(r.report)
    # The rows after the cut are lost, not rejected, so the file is marked unusable ...
    assert r.report.blocking == [f"{p}: truncated: the compressed file ends early (an interrupted download?); "
                                 "download it again"]
    # ... which strict loading refuses, while lenient loading still reports what the file held.
    with pytest.raises(SourceError, match="truncated"):
        load_panel(tmp_path)
    panel, reports = load_panel(tmp_path, strict=False)
    assert len(panel) > 0 and reports[0].blocking == r.report.blocking
    p.write_bytes(b"not gzip at all")
    with pytest.raises(SourceError, match="not a valid gzip file"):
        read_mhsds(p)


def test_trailing_empty_header_cells_do_not_make_the_last_row_truncated(tmp_path):
    text = "DATE,ORG_CODE,FTE_DAYS_LOST,FTE_DAYS_AVAILABLE,,\n31/01/2023,RDY,5,100\n31/01/2023,TAD,6,100\n"
    r = read_sickness(write(tmp_path / "trail.csv", text))
    assert r.report.rows_kept == 2 and not r.report.rejected


def test_infinite_and_nan_text_are_not_numbers(tmp_path):
    rows = [
        mhsds_row("01/04/2021", "30/04/2021", "Final", "RDY", "MHS32", "inf"),
        mhsds_row("01/05/2021", "31/05/2021", "Final", "RDY", "MHS32", "NaN"),
        mhsds_row("01/06/2021", "30/06/2021", "Final", "RDY", "MHS32", "1e2"),
    ]
    r = read_mhsds(write(tmp_path / "inf.csv", _mhsds_text(rows)))
    assert r.report.rejected == {"non-numeric value": 2}
    assert r.panel["value"].tolist() == [100.0]


def test_invalid_dates_are_rejected_with_the_column(tmp_path):
    rows = [
        mhsds_row("31/02/2021", "31/03/2021", "Final", "RDY", "MHS32", "1"),
        mhsds_row("2021-04-01", "2021-04-30", "Final", "RDY", "MHS32", "2"),  # ISO dates are accepted
        mhsds_row("01/05/2021", "sometime", "Final", "RDY", "MHS32", "3"),
    ]
    r = read_mhsds(write(tmp_path / "d.csv", _mhsds_text(rows)))
    assert r.report.rejected == {
        "invalid date in REPORTING_PERIOD_START": 1,
        "invalid date in REPORTING_PERIOD_END": 1,
    }
    assert r.panel["period"].tolist() == [pd.Timestamp("2021-04-01")]
    assert any("line 2" in f for f in r.report.findings)


def test_source_error_carries_its_parts():
    err = SourceError(
        "x.csv", "not a number", row=7, column="MEASURE_VALUE", expected="a number", found="abc"
    )
    assert str(err) == "x.csv: line 7: column MEASURE_VALUE: not a number; expected a number; found abc"
    assert (err.path, err.row, err.column, err.expected) == ("x.csv", 7, "MEASURE_VALUE", "a number")


# --------------------------------------------------------------------------------------------------
# MHSDS rules on small inputs


def test_mhsds_rules(tmp_path):
    rows = [
        mhsds_row("01/04/2021", "30/04/2021", "Performance", "RDY", "MHS32", "90"),
        mhsds_row("01/04/2021", "30/04/2021", "Final", "RDY", "MHS32", "100"),  # beats the Performance row
        mhsds_row("01/04/2021", "30/04/2021", "Final", "RDY", "MHS32", "100"),  # exact duplicate
        mhsds_row("01/05/2021", "31/05/2021", "Provisional", "TAD", "MHS32", "7"),
        mhsds_row("01/05/2021", "31/05/2021", "Provisional", "TAD", "MHS32", "8"),  # conflicting duplicate
        mhsds_row("01/05/2021", "30/06/2021", "Final", "TAD", "MHS32", "8"),  # two months
        mhsds_row("01/04/2021", "30/06/2021", "Final", "TAD", "MHS32", "30"),  # quarter
        mhsds_row("01/12/2020", "30/11/2021", "Primary", "TAD", "MHS108", "400"),  # rolling 12 months
        mhsds_row("01/06/2021", "30/06/2021", "Final", "TAD", "MHS32", "."),
        mhsds_row("01/07/2021", "31/07/2021", "Final", "TAD", "MHS32", ""),
        mhsds_row("01/08/2021", "31/08/2021", "Final", "TAD", "MHS32", "n/a"),
        mhsds_row("01/09/2021", "30/09/2021", "Final", "TAD", "MHS32", "-4"),
        mhsds_row("01/09/2021", "30/09/2021", "Final", "TAD", "MHS32", "4", breakdown="  provider "),
        mhsds_row("01/09/2021", "30/09/2021", "Final", "Q1", "MHS32", "4", breakdown="Provider; Ethnicity"),
        mhsds_row("01/09/2021", "30/09/2021", "Final", "TAD", "MHS99", "4"),
        mhsds_row("01/09/2021", "30/09/2021", "Draft", "RXA", "MHS32", "4"),
    ]
    r = read_mhsds(write(tmp_path / "rules.csv", _mhsds_text(rows)))
    rep = r.report
    assert rep.rows_read == len(rows)
    assert rep.rejected == {
        "superseded by a final row": 1,
        "duplicate row": 1,
        "conflicting duplicate": 1,
        "period length not 1, 3 or 12 months": 1,
        "non-numeric value": 1,
        "negative value": 1,
        "not a provider breakdown": 1,
        "measure not in the data dictionary": 1,
        "unknown status": 1,
    }
    assert_balanced(rep)
    assert any("different value and the same status" in f for f in rep.findings)
    p = r.panel.set_index(["org_code", "measure_id", "period_type", "period"])
    assert p.loc[("RDY", "MHS32", "month", pd.Timestamp("2021-04-01")), "value"] == 100
    assert p.loc[("RDY", "MHS32", "month", pd.Timestamp("2021-04-01")), "status"] == "final"
    assert p.loc[("TAD", "MHS32", "month", pd.Timestamp("2021-05-01")), "value"] == 7
    assert p.loc[("TAD", "MHS32", "quarter", pd.Timestamp("2021-04-01")), "value"] == 30
    rolling = p.loc[
        ("TAD", "MHS108", "rolling_12_months", pd.Timestamp("2021-11-01"))
    ]  # indexed by end month
    assert rolling["value"] == 400 and rolling["status"] == "provisional"
    for month in ("2021-06-01", "2021-07-01"):
        row = p.loc[("TAD", "MHS32", "month", pd.Timestamp(month))]
        assert bool(row["suppressed"]) and np.isnan(row["value"])
    assert p.loc[("TAD", "MHS32", "month", pd.Timestamp("2021-09-01")), "value"] == 4
    assert r.panel["denominator"].isna().all()
    assert (r.panel["numerator"].fillna(-1) == r.panel["value"].fillna(-1)).all()


def test_mhsds_measures_come_from_the_registry():
    expected = {m.source_measure_id: m.id for m in default_registry().measures if m.layout == "mhsds_long"}
    assert mhsds_measures() == expected
    assert {"MHS32", "MHS108"} <= set(expected)


# --------------------------------------------------------------------------------------------------
# Sickness rules on small inputs


def test_sickness_rules(tmp_path):
    text = (
        "\n".join(
            [
                SICKNESS_HEADER,
                "31/01/2023,RDY,Dorset,All staff groups,50,1000,5.00",
                "31/01/2023,RDY,Dorset,Nurses & health visitors,20,300,6.67",
                "31/01/2023,TAD,Bradford,ALL STAFF GROUPS,,,",
                "31/01/2023,RXA,Cheshire,All staff groups,10,1000,3.00",
                "31/01/2023,RW5,Lancs,All staff groups,10,0,",
                "31/01/2023,RW6,Other,All staff groups,abc,100,",
                "31/13/2023,RW7,Other,All staff groups,1,100,1.00",
            ]
        )
        + "\n"
    )
    r = read_sickness(write(tmp_path / "s.csv", text))
    assert r.report.rejected == {
        "staff group not all staff": 1,
        "zero denominator": 1,
        "non-numeric value": 1,
        "invalid date in DATE": 1,
    }
    assert_balanced(r.report)
    p = r.panel.set_index("org_code")
    assert p.loc["RDY", "value"] == pytest.approx(5.0)
    assert (p.loc["RDY", "numerator"], p.loc["RDY", "denominator"]) == (50, 1000)
    assert np.isnan(p.loc["TAD", "value"]) and not p.loc["TAD", "suppressed"]
    assert p.loc["TAD", "quality_flags"] == "no figures"
    assert p.loc["RXA", "quality_flags"] == "published rate differs"
    assert any("differ from the published" in f for f in r.report.findings)
    assert (r.panel["period"] == pd.Timestamp("2023-01-01")).all()


def test_sickness_without_staff_group_treats_rows_as_all_staff(tmp_path):
    text = "ORG_CODE,DATE,FTE_DAYS_LOST,FTE_DAYS_AVAILABLE\nRDY,2023-03-31,30,600\nTAD,31/03/2023,12,400\n"
    r = read_sickness(write(tmp_path / "s.csv", text))
    assert r.report.rows_kept == 2 and not r.report.rejected
    assert r.panel["value"].round(6).tolist() == [5.0, 3.0]


def _write_table(path: Path, rows: list[list[object]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Title sheet"
    ws = wb.create_sheet("Table 4")
    ws.append(["Table 4: Monthly Sickness Absence rates by Organisation (%)"])
    ws.append([])
    ws.append(
        [
            "NHSE \ncode",
            "NHSE Region name",
            "ICS \ncode",
            "ICS name",
            "Organisation name",
            "Org \ncode",
            "December\n2022",
            "January\n2023",
        ]
    )
    for row in rows:
        ws.append(row)
    ws.append([])
    ws.append(['"." denotes not applicable.'])
    wb.save(path)
    return path


def test_sickness_table_small_workbook(tmp_path):
    p = _write_table(
        tmp_path / "t.xlsx",
        [
            ["Y58", "South West", "Y58", "All ICS areas", "All organisations", "Y58", 4.1, 4.2],
            ["Y58", "South West", "QVV", "Dorset", "Dorset Healthcare", "RDY", 5.43, 6.1],
            ["Y58", "South West", "QVV", "Dorset", "Small Org", "NSM", ".", None],
            ["Y58", "South West", "QVV", "Dorset", "Odd Org", "NOD", "n/a", -1],
        ],
    )
    assert detect_layout(p) == TABLE_LAYOUT
    r = read_sickness_table(p)
    assert r.report.rows_read == 8
    assert r.report.rejected == {
        "aggregate row (all organisations)": 2,
        "non-numeric value": 1,
        "negative value": 1,
    }
    assert_balanced(r.report)
    panel = r.panel.set_index(["org_code", "period"])
    assert panel.loc[("RDY", pd.Timestamp("2022-12-01")), "value"] == 5.43
    small = panel.loc[("NSM", pd.Timestamp("2022-12-01"))]
    assert bool(small["suppressed"]) and np.isnan(small["value"])
    empty = panel.loc[("NSM", pd.Timestamp("2023-01-01"))]
    assert not empty["suppressed"] and empty["quality_flags"] == "rate only;no figures"


# --------------------------------------------------------------------------------------------------
# Local templates


def test_templates_match_the_layouts():
    reg = default_registry()
    for layout in ("local_referrals", "local_workforce"):
        path = TEMPLATES / f"{layout}.csv"
        raw = path.read_bytes()
        assert b"\r" not in raw and raw.count(b"\n") == 1
        assert raw.decode().strip().split(",") == [c.name for c in reg.layout(layout).columns]
        assert detect_layout(path) == layout
        with pytest.raises(SourceError, match="header row only"):
            read_file(path)


def test_local_referrals_rules(tmp_path):
    header = (TEMPLATES / "local_referrals.csv").read_text().strip()
    text = (
        "\n".join(
            [
                header,
                "RDY,01/04/2023,100,60,30,10",
                "RDY,01/05/2023,0,0,0,0",
                "RDY,01/06/2023,50,60,0,0",
                "RDY,01/07/2023,50,-1,0,0",
                "RDY,01/08/2023,80,40,10,10",  # components do not add up: flagged, kept
                "RDY,32/09/2023,80,40,30,10",
                "RDY,01/10/2023,80,,30,10",
            ]
        )
        + "\n"
    )
    r = read_local_referrals(write(tmp_path / "ref.csv", text))
    assert r.report.rejected == {
        "zero denominator": 1,
        "numerator larger than denominator": 1,
        "negative value": 1,
        "invalid date in PERIOD_START": 1,
        "missing value": 1,
    }
    assert_balanced(r.report)
    p = r.panel.set_index("period")
    assert p.loc[pd.Timestamp("2023-04-01"), "value"] == pytest.approx(0.6)
    assert p.loc[pd.Timestamp("2023-04-01"), "quality_flags"] == ""
    assert p.loc[pd.Timestamp("2023-08-01"), "quality_flags"] == "components do not sum to received"
    assert set(r.panel["measure_id"]) == {"REF_ACCEPT"}
    assert any("zero denominator" in f for f in r.report.findings)


def test_local_workforce_gives_two_measures_per_row(tmp_path):
    header = (TEMPLATES / "local_workforce.csv").read_text().strip()
    text = (
        "\n".join(
            [
                header,
                "TAD,01/04/2023,1000,15,980,850",
                "TAD,01/05/2023,0,0,990,860",
                "TAD,01/06/2023,1000,12,900,901",
            ]
        )
        + "\n"
    )
    r = read_local_workforce(write(tmp_path / "wf.csv", text))
    rep = r.report
    assert rep.rows_read == 6
    assert rep.rows_kept == 4
    assert rep.rejected == {"zero denominator": 1, "numerator larger than denominator": 1}
    assert_balanced(rep)
    p = r.panel.set_index(["measure_id", "period"])["value"]
    assert p[("LEAVER_RATE", pd.Timestamp("2023-04-01"))] == pytest.approx(0.015)
    assert p[("STABILITY_12M", pd.Timestamp("2023-04-01"))] == pytest.approx(850 / 980)
    assert ("STABILITY_12M", pd.Timestamp("2023-05-01")) in p.index
    assert ("LEAVER_RATE", pd.Timestamp("2023-06-01")) in p.index


# --------------------------------------------------------------------------------------------------
# The dispatcher


def test_organisations_file_records_rw5_name_change():
    orgs = load_organisations(ORGANISATIONS_FILE)
    change = next(c for c in orgs.name_changes if c.code == "RW5")
    assert change.old_name == "Lancashire Care NHS Foundation Trust"
    assert change.new_name == "Lancashire & South Cumbria NHS Foundation Trust"
    assert change.from_date.year == 2019
    assert orgs.code_map == {}


def test_load_panel_walks_folder_resolves_duplicates_and_maps_codes(tmp_path):
    data = tmp_path / "data"
    (data / "mhsds" / "older").mkdir(parents=True)
    (data / "README.md").write_text("# notes")
    (data / "truth.json").write_text("{}")
    write(
        data / "mhsds" / "a_final.csv",
        _mhsds_text(
            [
                mhsds_row("01/04/2021", "30/04/2021", "Final", "OLD1", "MHS32", "10"),
                mhsds_row("01/05/2021", "31/05/2021", "Final", "NEW1", "MHS32", "11"),
                mhsds_row("01/06/2021", "30/06/2021", "Final", "RDY", "MHS32", "20"),
            ]
        ),
    )
    write(
        data / "mhsds" / "older" / "b_perf.csv",
        _mhsds_text(
            [
                mhsds_row("01/06/2021", "30/06/2021", "Performance", "RDY", "MHS32", "19"),
                mhsds_row("01/05/2021", "31/05/2021", "Final", "OLD1", "MHS32", "99"),
                mhsds_row("01/07/2021", "31/07/2021", "Performance", "RDY", "MHS32", "21"),
            ]
        ),
    )
    write(data / "sick.csv", f"{SICKNESS_HEADER}\n31/12/2022,RDY,Dorset,All staff groups,50,1000,5.00\n")
    _write_table(
        data / "table.xlsx", [["Y58", "South West", "QVV", "Dorset", "Dorset Healthcare", "RDY", 5.43, 6.1]]
    )
    orgs = tmp_path / "orgs.yaml"
    orgs.write_text(
        "successions:\n  - {old_code: OLD1, new_code: NEW1, from_date: 2021-05-01, note: merged test}\n"
        "name_changes: []\n"
    )
    panel, reports = load_panel(data, organisations=orgs)
    skipped = {Path(r.path).name: r.layout for r in reports if is_skipped(r)}
    assert skipped == {"README.md": "skipped (read-me file (not data))",
                       "truth.json": "skipped (unknown extension (.json; inputs end .csv, .csv.gz, .zip, .xlsx))"}
    reports = [r for r in reports if not is_skipped(r)]
    assert [Path(r.path).name for r in reports] == ["a_final.csv", "b_perf.csv", "sick.csv", "table.xlsx"]
    # source_file is the path within the data folder, so files of one name in two folders stay apart.
    assert sorted(set(panel["source_file"])) == ["mhsds/a_final.csv", "mhsds/older/b_perf.csv", "sick.csv",
                                                 "table.xlsx"]
    for rep in reports:
        assert_balanced(rep)
    by_name = {Path(r.path).name: r for r in reports}
    assert by_name["b_perf.csv"].rejected == {
        "superseded by a final row in another file": 1,
        "duplicate after organisation code mapping": 1,
    }
    assert by_name["table.xlsx"].rejected == {"superseded by monthly CSV": 1}
    p = panel.set_index(["org_code", "measure_id", "period"])
    assert p.loc[("NEW1", "MHS32", pd.Timestamp("2021-04-01")), "quality_flags"] == "code mapped from OLD1"
    assert p.loc[("NEW1", "MHS32", pd.Timestamp("2021-05-01")), "value"] == 11
    assert p.loc[("RDY", "MHS32", pd.Timestamp("2021-06-01")), "value"] == 20
    assert p.loc[("RDY", "MHS32", pd.Timestamp("2021-07-01")), "status"] == "provisional"
    sick = p.loc[("RDY", "SICKNESS_RATE")]
    assert sick.loc[pd.Timestamp("2022-12-01"), "denominator"] == 1000
    assert sick.loc[pd.Timestamp("2023-01-01"), "value"] == 6.1
    assert "OLD1" not in set(panel["org_code"])
    validate_panel(panel)
    assert panel.equals(
        panel.sort_values(["org_code", "period", "measure_id", "period_type"]).reset_index(drop=True)
    )


def test_organisations_file_errors(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        load_organisations(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "successions:\n  - {old_code: abc, new_code: XYZ, from_date: 2021-01-01, note: lower case}\n"
    )
    with pytest.raises(SourceError, match="successions.0.old_code"):
        load_organisations(bad)
    chain = tmp_path / "chain.yaml"
    chain.write_text(
        "successions:\n"
        "  - {old_code: AAA, new_code: BBB, from_date: 2019-01-01, note: first merger}\n"
        "  - {old_code: BBB, new_code: CCC, from_date: 2021-01-01, note: second merger}\n"
    )
    assert load_organisations(chain).code_map == {"AAA": "CCC", "BBB": "CCC"}


def test_load_panel_strict_and_lenient(tmp_path):
    write(tmp_path / "good.csv", _mhsds_text(BASIC_ROWS))
    write(tmp_path / "bad.csv", "A,B\n1,2\n")
    with pytest.raises(SourceError, match="unknown layout"):
        load_panel(tmp_path)
    panel, reports = load_panel(tmp_path, strict=False)
    bad = next(r for r in reports if r.path.endswith("bad.csv"))
    assert bad.blocking and "unknown layout" in bad.blocking[0]
    assert len(panel) == 2


def test_load_panel_on_empty_folder_gives_empty_panel(tmp_path):
    panel, reports = load_panel(tmp_path)
    assert panel.empty and reports == []
    assert list(panel.columns) == PANEL_COLUMNS
    with pytest.raises(SourceError, match="data folder not found"):
        load_panel(tmp_path / "missing")
