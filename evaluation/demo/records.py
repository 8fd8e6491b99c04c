"""Record-level demonstration data: MHSDS tables whose SQL aggregation gives the demonstration panel back.

:func:`generate_records` first makes the aggregate demonstration data (:func:`evaluation.demo.generator.generate`,
same seed and period) and reads its panel; then, for every organisation and month, it writes one referral per
unit of the panel's monthly counts:

* ``REF_ACCEPT``: its denominator as adults' referrals to core community teams, its numerator of them
  accepted and the rest rejected (the rejection on MHS101 or on MHS102, within the 28-day window; some
  accepted referrals carry a rejection date 45 days on, outside the window);
* ``CCR70`` / ``CCR71``: emergency / urgent referrals to crisis teams (A02, and A03 up to September 2021;
  priority 1, or 4 from October 2021, for emergencies; 2 for urgent), of all ages;
* ``MHS32``: the rest of the month's referrals, to other teams, some of them under-18s referred to a
  community team (not in REF_ACCEPT);

with contacts: two for each accepted community referral (the second 3 to 47 days after receipt, so some
within four weeks), one on the day of each crisis referral (face to face for three in four). Computed by the
SQL in ``data_dictionary/record_measures/``, MHS32, REF_ACCEPT, CCR70 and CCR71 equal the demonstration
panel exactly wherever it publishes a value; where it suppressed a count (under 5) a count under 5 is made up.
CCR72/73 are a fixed share of CCR70/71, so they carry the same known effect; CMH_4WW has no effect put in.

The rows are made by DuckDB from the small table of monthly counts and written straight to Parquet (or
CSV), so the tens of millions of rows never pass through Python.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.demo.generator import generate

__all__ = ["RECORD_MEASURES_REPRODUCED", "generate_records", "write_tables"]

#: Measures whose series the records reproduce exactly (where the aggregate panel publishes a value).
RECORD_MEASURES_REPRODUCED = ("MHS32", "REF_ACCEPT", "CCR70", "CCR71")
_CATEGORIES = {"A": "accepted community", "R": "rejected community", "E": "emergency crisis",
               "U": "urgent crisis", "O": "other"}
_SUPPRESSED_UNDER = 5


def _counts(panel: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per organisation and month, how many referrals of each category to write."""
    monthly = panel[panel["period_type"] == "month"]
    wide = monthly.pivot_table(index=["org_code", "period"], columns="measure_id",
                               values=["numerator", "denominator"], aggfunc="first", dropna=False)
    idx = wide.index
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 16]))

    def count(measure: str) -> np.ndarray:
        values = wide[("numerator", measure)].to_numpy(dtype=float)
        # A suppressed count was under 5; any count under 5 is consistent with the published file.
        made_up = rng.integers(0, _SUPPRESSED_UNDER, size=len(values))
        return np.where(np.isnan(values), made_up, values).astype(np.int64)

    received = wide[("denominator", "REF_ACCEPT")].to_numpy(dtype=float)
    if np.isnan(received).any():
        raise ValueError("the demonstration panel lacks REF_ACCEPT in some months: cannot build records")
    received = received.astype(np.int64)
    accepted = count("REF_ACCEPT")
    emergency, urgent, total = count("CCR70"), count("CCR71"), count("MHS32")
    other = total - received - emergency - urgent
    if (other < 0).any():
        bad = idx[np.argmax(other < 0)]
        raise ValueError(f"MHS32 is smaller than community plus crisis referrals for {bad[0]} {bad[1]:%Y-%m}")
    return pd.DataFrame({
        "org": idx.get_level_values(0), "period": idx.get_level_values(1).date,
        "A": accepted, "R": received - accepted, "E": emergency, "U": urgent, "O": other,
    })


# One referral per row of `spec`; every attribute is arithmetic on its number i within the organisation,
# month and category, so the tables are the same on every run.
_REFERRALS = """
CREATE TABLE ref AS
SELECT
    org AS OrgIDProv,
    org || strftime(period, '%Y%m') || cat || CAST(i AS VARCHAR) AS UniqServReqID,
    'P' || org || strftime(period, '%Y%m') || cat || CAST(i AS VARCHAR) AS Person_ID,
    CAST(period + CAST((i * 7 + ascii(cat)) % 28 AS INTEGER) AS DATE) AS received,
    (year(period) - 1900) * 12 + month(period) - 3 AS month_id,
    cat, i
FROM spec
"""
_SPEC = """
CREATE TABLE spec AS
SELECT org, period, cat, UNNEST(range(n)) AS i
FROM (
    SELECT org, period, 'A' AS cat, A AS n FROM counts UNION ALL
    SELECT org, period, 'R', R FROM counts UNION ALL
    SELECT org, period, 'E', E FROM counts UNION ALL
    SELECT org, period, 'U', U FROM counts UNION ALL
    SELECT org, period, 'O', O FROM counts
)
WHERE n > 0
"""
_TABLES = {
    "MHS101Referral": """
SELECT
    UniqServReqID, Person_ID, OrgIDProv,
    received AS ReferralRequestReceivedDate,
    CASE WHEN cat = 'R' AND i % 2 = 0 THEN received + CAST(i % 14 AS INTEGER)
         WHEN cat = 'A' AND i % 17 = 0 THEN received + 45 END AS ReferRejectionDate,
    CASE WHEN cat = 'R' AND i % 2 = 0 THEN '02' END AS ReferRejectReason,
    CASE WHEN cat = 'E' AND month_id >= 1459 AND i % 3 = 0 THEN '4'
         WHEN cat = 'E' THEN '1' WHEN cat = 'U' THEN '2' ELSE '3' END AS ClinRespPriorityType,
    CASE WHEN cat IN ('E', 'U') AND i % 10 = 0 THEN 16
         WHEN cat IN ('E', 'U') THEN 18 + i % 60
         WHEN cat = 'O' AND i % 50 = 0 THEN 16 END AS AgeServReferRecDate
FROM ref ORDER BY UniqServReqID
""",
    "MHS102ServiceTypeReferredTo": """
SELECT
    UniqServReqID,
    CASE WHEN cat IN ('A', 'R') THEN ['A05','A06','A08','A09','A12','A13','A16','C03','C10'][1 + i % 9]
         WHEN cat IN ('E', 'U') AND month_id <= 1458 AND i % 4 = 0 THEN 'A03'
         WHEN cat IN ('E', 'U') THEN 'A02'
         WHEN i % 50 = 0 THEN 'A06'
         ELSE 'A01' END AS ServTeamTypeRefToMH,
    CASE WHEN cat = 'R' AND i % 2 = 1 THEN received + CAST(i % 14 AS INTEGER) END AS ReferRejectionDate,
    CAST(NULL AS DATE) AS ReferClosureDate
FROM ref ORDER BY UniqServReqID
""",
    "MHS001MPI": """
SELECT
    Person_ID, OrgIDProv,
    make_date(CAST(year(received) - 20 - i % 60 AS BIGINT), CAST(1 + i % 12 AS BIGINT), CAST(1 + i % 28 AS BIGINT))
        AS PersonBirthDate,
    CAST(NULL AS INTEGER) AS AgeRepPeriodEnd
FROM ref WHERE cat IN ('A', 'R') ORDER BY Person_ID
""",
    "MHS201CareContact": """
SELECT * FROM (
    SELECT UniqServReqID || '-1' AS UniqCareContID, UniqServReqID,
           received + CAST(i % 7 AS INTEGER) AS CareContDate, '5' AS AttendOrDNACode, '01' AS ConsMechanismMH
    FROM ref WHERE cat = 'A'
    UNION ALL
    SELECT UniqServReqID || '-2', UniqServReqID,
           received + CAST(8 + (i * 13) % 40 AS INTEGER),
           CASE WHEN i % 5 = 0 THEN '6' ELSE '5' END,
           ['01', '02', '04'][1 + i % 3]
    FROM ref WHERE cat = 'A'
    UNION ALL
    SELECT UniqServReqID || '-1', UniqServReqID, received, '5',
           CASE WHEN i % 4 = 0 THEN '02' ELSE '01' END
    FROM ref WHERE cat IN ('E', 'U')
)
WHERE CareContDate <= (SELECT last_day FROM extract_end)
ORDER BY UniqCareContID
""",
}


def write_tables(counts: pd.DataFrame, out_dir: Path | str, *, end: str, fmt: str = "parquet") -> None:
    """Write the four tables from a table of monthly counts (columns ``org``, ``period`` (date) and one
    count per category: ``A`` accepted and ``R`` rejected community referrals, ``E`` emergency and ``U``
    urgent crisis referrals, ``O`` other referrals). DuckDB makes the rows and writes them; contacts after
    the last day of the month ``end`` are left out."""
    import duckdb

    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last_day = (pd.Timestamp(end) + pd.offsets.MonthEnd(0)).date()
    options = "(FORMAT parquet, COMPRESSION zstd)" if fmt == "parquet" else "(HEADER, DELIMITER ',')"
    with tempfile.TemporaryDirectory(prefix="evaluation-demo-db-") as tmp, duckdb.connect() as con:
        con.execute("SET memory_limit = '1GB'")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET temp_directory = '{tmp}'")
        con.register("counts_frame", counts)
        con.execute("CREATE TABLE counts AS SELECT * FROM counts_frame")
        con.execute("CREATE TABLE extract_end AS SELECT CAST(? AS DATE) AS last_day", [last_day])
        con.execute(_SPEC)
        con.execute(_REFERRALS)
        for name, sql in _TABLES.items():
            con.execute(f"COPY ({sql}) TO '{out / f'{name}.{fmt}'}' {options}")
    for name in _TABLES:  # a table written in the other format by an earlier run would be read twice
        (out / f"{name}.{'csv' if fmt == 'parquet' else 'parquet'}").unlink(missing_ok=True)


def generate_records(
    out_dir: Path | str,
    *,
    seed: int = 20240401,
    organisations: int = 24,
    start: str = "2016-04-01",
    end: str = "2025-03-01",
    fmt: str = "parquet",
) -> dict:
    """Write the record-level demonstration tables (``MHS001MPI``, ``MHS101Referral``,
    ``MHS102ServiceTypeReferredTo``, ``MHS201CareContact``; Parquet, or CSV with ``fmt="csv"``) with
    ``truth.json`` and ``README.md`` to ``out_dir``, and return the truth.

    ``seed``, ``organisations``, ``start`` and ``end`` are those of the aggregate demonstration data whose
    panel the records reproduce. Contacts after the last day of ``end`` are not written (the extract ends
    there). Raises ValueError where the aggregate panel cannot be expressed as records.
    """
    from evaluation.sources import load_panel

    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evaluation-demo-") as tmp:
        truth = generate(tmp, seed=seed, organisations=organisations, start=start, end=end)
        panel, _ = load_panel(tmp)
    counts = _counts(panel, seed)
    write_tables(counts, out, end=end, fmt=fmt)
    last_day = (pd.Timestamp(end) + pd.offsets.MonthEnd(0)).date()
    effects = truth["effects"]
    for site in effects.values():
        # CCR72/73 are a fixed share (three in four) of CCR70/71, so they carry the same effect.
        for derived, base in (("CCR72", "CCR70"), ("CCR73", "CCR71")):
            if derived in site and base in site:
                site[derived] = dict(site[base])
    truth["records"] = {
        "format": fmt,
        "reproduces_exactly": list(RECORD_MEASURES_REPRODUCED),
        "referrals": {_CATEGORIES[c]: int(counts[c].sum()) for c in _CATEGORIES},
        "extract_end": last_day.isoformat(),
        "description": "Record-level tables whose SQL aggregation gives the aggregate demonstration panel's "
        "MHS32, REF_ACCEPT, CCR70 and CCR71 exactly where that panel publishes a value; suppressed counts "
        "(under 5) are made-up counts under 5.",
    }
    with (out / "truth.json").open("w", encoding="utf-8", newline="\n") as fh:
        json.dump(truth, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    (out / "README.md").write_text(_readme(truth, fmt), encoding="utf-8")
    return truth


def _readme(truth: dict, fmt: str) -> str:
    n = truth["records"]["referrals"]
    return f"""# Synthetic record-level demonstration data

**These data are synthetic. Every record in these tables is made up**; no person is real. They were written
by `evaluation.demo.records.generate_records` (seed {truth['seed']}, {truth['start']} to {truth['end']}) to
demonstrate the record-level input (MHSDS tables, layout `mhsds_records`).

Tables ({fmt}): MHS001MPI, MHS101Referral, MHS102ServiceTypeReferredTo, MHS201CareContact.
Referrals: {sum(n.values()):,} ({', '.join(f'{v:,} {k}' for k, v in n.items())}).

Aggregated by the SQL in `data_dictionary/record_measures/`, MHS32, REF_ACCEPT, CCR70 and CCR71 equal the
aggregate demonstration data (`evaluation synth`) with the same seed. `truth.json` holds the known effects.
"""
