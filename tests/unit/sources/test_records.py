"""Record-level MHSDS tables -> monthly measures, on a small hand-made extract with hand-counted answers.

Every expected number below was counted by hand from the rows written here (the comments say why each
row counts or not); nothing is generated.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from evaluation.sources import SourceError, load_panel
from evaluation.sources.records import read_records
from evaluation.sources.records.engine import to_spark

ORG = "RAA"

MPI = """\
Person_ID,OrgIDProv,PersonBirthDate,AgeRepPeriodEnd
P1,RAA,2000-01-15,
P2,RAA,,16
P5,RAA,2003-09-02,
P15,RAA,,70
P1,RAA,2000-01-15,
P20,RAA,1990-13-40,
"""
# P5 is born 2003-09-02: on 2021-09-01 (R06) one day short of 18, so R06 is not an adult referral.
# The repeated P1 row is an identical duplicate; P20's birth date is impossible.

REFERRALS = """\
UniqServReqID,Person_ID,OrgIDProv,ReferralRequestReceivedDate,ReferRejectionDate,ReferRejectReason,ClinRespPriorityType,AgeServReferRecDate
R01,P1,RAA,2021-09-03,,,1,
R02,P2,RAA,2021-09-10,,,2,
R03,P3,RAA,2021-10-05,,,4,44
R04,P3,RAA,2021-10-06,,,1,44
R05,P4,RAA,2021-09-20,,,4,30
R06,P5,RAA,2021-09-01,,,3,
R07,P6,RAA,2021-09-02,2021-09-05,02,3,30
R08,P7,RAA,2021-09-03,2021-11-30,02,3,50
R09,P8,RAA,2021-09-04,,,3,17
R10,P9,RAA,2021-10-01,,,3,45
R11,P10,RAA,2021-10-15,,,3,60
R12,P11,RAA,2021-09-08,2021-09-01,,3,33
R06,P5,RAA,2021-09-01,,,3,
R14,P12,RAA,2021-09-09,,,2,25
R14,P12,RAA,2021-09-10,,,2,25
R15,P13,RAA,not-a-date,,,3,25
R16,P14,RAA,2021-10-20,,,9,35
R17,P15,RAA,2021-09-15,,,3,
"""
# R01 crisis emergency (1), September.     R02 crisis team A03 (allowed to September 2021), urgent, aged 16.
# R03 priority 4 = emergency from October 2021 (UniqMonthID 1459).   R04 team A03 in October: not crisis.
# R05 priority 4 in September: not yet emergency, and an unknown code then.   R06-R09, R17 community.
# R07 rejected after 3 days; R08 rejected after 88 days (outside the 28-day window: accepted).
# R09 aged 17: not in the adult measures.  R10 rejected by the team (MHS102) after 1 day.
# R11 team A01 (not core community).  R12 rejected before it was received: set aside.
# R06 appears twice identically (one duplicate row); R14 twice with different dates (both set aside).
# R15 has no valid date.  R16 crisis with priority 9: unknown, neither emergency nor urgent.

SERVICE_TYPES = """\
UniqServReqID,ServTeamTypeRefToMH,ReferRejectionDate
R01,A02,
R02,A03,
R03,A02,
R04,A03,
R05,A02,
R06,A06,
R07,A06,
R08,A06,
R09,A06,
R10,C10,2021-10-02
R11,A01,
R11,Z1,
R12,A06,
R16,A02,
R17,A05,
R99,A02,
"""
# R12 (set aside) and R99 (never referred) are referrals not in MHS101Referral; Z1 is not a team type code.

CONTACTS = """\
UniqCareContID,UniqServReqID,CareContDate,AttendOrDNACode,ConsMechanismMH
C01,R01,2021-09-03,5,01
C02,R02,2021-09-11,6,01
C03,R03,2021-10-05,5,02
C04,R03,2021-10-07,7,01
C05,R06,2021-09-10,5,01
C06,R06,2021-09-25,5,02
C07,R08,2021-09-10,5,01
C08,R08,2021-10-15,5,01
C09,R99,2021-09-10,5,01
C10,R06,2021-08-01,5,01
C11,R10,2021-10-03,X,01
C12,R11,2021-12-31,5,01
C13,R17,2021-09-16,5,01
C14,R17,2021-10-13,5,11
"""
# C01, C02: attended face to face in the month of referral (CCR72, CCR73). R03 had a telephone contact and a
# missed one (C04, code 7): not CCR72. R08's second contact is 42 days after referral (not within 4 weeks);
# R17's is 28 days after, by video (code 11, valid from October 2021): within. C09 is for an unknown
# referral, C10 is before R06 was received (both set aside); C11 has an unknown attendance code. C12 makes
# the extract run to 31 December 2021, so September and October have had their full four weeks.

EXPECTED = {
    # (month, measure): (numerator, denominator or None)
    ("2021-09", "MHS32"): (8, None),  # R01 R02 R05 R06 R07 R08 R09 R17
    ("2021-09", "CCR70"): (1, None),  # R01
    ("2021-09", "CCR71"): (1, None),  # R02
    ("2021-09", "CCR72"): (1, None),  # R01 (C01)
    ("2021-09", "CCR73"): (1, None),  # R02 (C02)
    ("2021-09", "REF_ACCEPT"): (2, 3),  # R08 R17 of R07 R08 R17
    ("2021-09", "CMH_4WW"): (1, 2),  # R17 of R08 R17
    ("2021-10", "MHS32"): (5, None),  # R03 R04 R10 R11 R16
    ("2021-10", "CCR70"): (1, None),  # R03
    ("2021-10", "CCR71"): (0, None),
    ("2021-10", "CCR72"): (0, None),
    ("2021-10", "CCR73"): (0, None),
    ("2021-10", "REF_ACCEPT"): (0, 1),  # R10 rejected
}


def write_extract(folder: Path, **overrides: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"MHS001MPI": MPI, "MHS101Referral": REFERRALS, "MHS102ServiceTypeReferredTo": SERVICE_TYPES,
              "MHS201CareContact": CONTACTS, **overrides}
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def measures(results) -> dict[tuple[str, str], tuple[float, float | None]]:
    panel = pd.concat([r.panel for r in results])
    out = {}
    for row in panel.itertuples(index=False):
        den = None if pd.isna(row.denominator) else row.denominator
        out[(f"{row.period:%Y-%m}", row.measure_id)] = (row.numerator, den)
    return out


def test_hand_counted_measures(tmp_path):
    results = read_records(write_extract(tmp_path / "extract"), engine="duckdb")
    got = measures(results)
    assert got == {k: (float(n), None if d is None else float(d)) for k, (n, d) in EXPECTED.items()}
    panel = results[[Path(r.report.path).name for r in results].index("MHS101Referral.csv")].panel
    assert set(panel["org_code"]) == {ORG}
    ref = panel[(panel["measure_id"] == "REF_ACCEPT") & (panel["period"] == "2021-09-01")].iloc[0]
    assert ref["value"] == pytest.approx(2 / 3)


def test_row_accounting_and_findings(tmp_path):
    reports = {Path(r.report.path).stem: r.report for r in read_records(write_extract(tmp_path / "x"))}
    for rep in reports.values():
        assert rep.balanced, rep.to_dict()
    ref = reports["MHS101Referral"]
    assert ref.rows_read == 18
    assert ref.rejected == {
        "duplicate row": 1,
        "rejection before receipt": 1,
        "conflicting duplicate UniqServReqID": 2,
        "invalid date in ReferralRequestReceivedDate": 1,
    }
    assert any("2 row(s) used with unknown ClinRespPriorityType" in f for f in ref.findings)
    st = reports["MHS102ServiceTypeReferredTo"]
    assert st.rejected == {"referral not in MHS101Referral": 2}
    assert any("unknown ServTeamTypeRefToMH" in f for f in st.findings)
    cc = reports["MHS201CareContact"]
    assert cc.rejected == {"referral not in MHS101Referral": 1, "contact before referral received": 1}
    assert any("1 row(s) used with unknown AttendOrDNACode" in f for f in cc.findings)
    mpi = reports["MHS001MPI"]
    assert mpi.rejected == {"duplicate row": 1, "invalid date in PersonBirthDate": 1}


def test_missing_column_is_one_line_naming_table_and_column(tmp_path):
    bad = REFERRALS.replace("ReferralRequestReceivedDate", "ReceivedDate")
    with pytest.raises(SourceError) as err:
        read_records(write_extract(tmp_path / "x", MHS101Referral=bad))
    msg = str(err.value)
    assert "\n" not in msg
    assert "MHS101Referral" in msg and "ReferralRequestReceivedDate" in msg


def test_missing_table_is_reported(tmp_path):
    folder = write_extract(tmp_path / "x")
    (folder / "MHS201CareContact.csv").unlink()
    with pytest.raises(SourceError, match="table MHS201CareContact is missing"):
        read_records(folder)


def test_attendance_column_required(tmp_path):
    bad = CONTACTS.replace("AttendOrDNACode", "Attended")
    with pytest.raises(SourceError, match="AttendOrDNACode"):
        read_records(write_extract(tmp_path / "x", MHS201CareContact=bad))


def test_attend_status_is_accepted_for_older_submissions(tmp_path):
    old = CONTACTS.replace("AttendOrDNACode", "AttendStatus")
    got = measures(read_records(write_extract(tmp_path / "x", MHS201CareContact=old)))
    assert got[("2021-09", "CCR72")] == (1.0, None)


def test_parquet_tables_give_the_same_measures(tmp_path):
    import duckdb

    csv_dir = write_extract(tmp_path / "csv")
    pq_dir = tmp_path / "parquet"
    pq_dir.mkdir()
    with duckdb.connect() as con:
        for f in csv_dir.glob("*.csv"):
            con.execute(f"COPY (SELECT * FROM read_csv('{f}', all_varchar = true)) "
                        f"TO '{pq_dir / (f.stem + '.parquet')}' (FORMAT parquet)")
    assert measures(read_records(pq_dir)) == measures(read_records(csv_dir))


def test_load_panel_dispatches_a_records_folder(tmp_path):
    write_extract(tmp_path / "data" / "records")
    panel, reports = load_panel(tmp_path / "data")
    assert {r.layout for r in reports} == {"mhsds_records"}
    assert len(reports) == 4
    assert set(panel["measure_id"]) == {m for _, m in EXPECTED}


def test_sql_transpiles_to_spark():
    from evaluation.sources.records import default_definitions

    defs = default_definitions()
    for text in defs.sql_text.values():
        spark = to_spark(text)
        assert "DATE_DIFF" not in spark.upper().replace("DATEDIFF", "")  # a Spark function name throughout
