"""Readers for the local extract templates (layouts ``local_referrals`` and ``local_workforce``).

No national publication carries referral acceptance, and the workforce counts come from the provider's own
records, so these layouts are blank templates (``data_dictionary/templates/``) that a provider fills in.
Each measure is a proportion, numerator / denominator (0 to 1), status final, period type month; the
period is the first day of the month of PERIOD_START.

Which measure comes from which columns is read from the data dictionary: a measure with the layout, and
``source_measure_id`` of the form ``NUMERATOR_COLUMN / DENOMINATOR_COLUMN``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.panel.frame import ReadReport, ReadResult, coerce_panel, sort_panel
from evaluation.sources.common import (
    DATE_EXPECTED,
    ODS_EXPECTED,
    CellError,
    CsvSource,
    LoadedCsv,
    RowFilter,
    SourceError,
    add_flag,
    clean,
    future_periods,
    load_csv,
    malformed_org_codes,
    month_start,
    parse_dates,
    parse_numbers,
)

REFERRALS = "local_referrals"
WORKFORCE = "local_workforce"


@dataclass(frozen=True)
class _Ratio:
    measure_id: str
    numerator: str
    denominator: str


def _ratios(registry: Registry, layout: str) -> list[_Ratio]:
    columns = {c.name for c in registry.layout(layout).columns}
    out = []
    for m in registry.measures:
        if m.layout != layout:
            continue
        num, sep, den = m.source_measure_id.partition("/")
        if not sep:
            raise SourceError(
                "data_dictionary/measures.yaml",
                f"measure {m.id}: source_measure_id must be 'NUMERATOR_COLUMN / DENOMINATOR_COLUMN'",
                found=m.source_measure_id,
            )
        ratio = _Ratio(m.id, num.strip(), den.strip())
        if not {ratio.numerator, ratio.denominator} <= columns:
            raise SourceError(
                "data_dictionary/measures.yaml",
                f"measure {m.id}: source_measure_id names a column that layout {layout} does not have",
                found=m.source_measure_id,
            )
        out.append(ratio)
    if not out:
        raise SourceError("data_dictionary/measures.yaml", f"no measure has layout {layout}")
    return out


def read_local_referrals(source: CsvSource | Path | str, registry: Registry | None = None) -> ReadResult:
    """Read a referral acceptance extract: REF_ACCEPT = REFERRALS_ACCEPTED / REFERRALS_RECEIVED.

    Where REFERRALS_REJECTED and REFERRALS_SIGNPOSTED are both given and accepted + rejected + signposted
    is not the number received, the row is kept and flagged "components do not sum to received" (flagged,
    not corrected).
    """
    return _read_local(source, REFERRALS, registry or default_registry())


def read_local_workforce(source: CsvSource | Path | str, registry: Registry | None = None) -> ReadResult:
    """Read a workforce extract: LEAVER_RATE = LEAVERS / STAFF_IN_POST and
    STABILITY_12M = STABLE_STAFF_12M / STAFF_IN_POST_12M_AGO.

    Each data row gives one value per measure, so the report counts measure values: rows read = data rows
    x 2, and a row can be kept for one measure and rejected for the other.
    """
    return _read_local(source, WORKFORCE, registry or default_registry())


def _read_local(source: CsvSource | Path | str, layout_id: str, registry: Registry) -> ReadResult:
    layout = registry.layout(layout_id)
    ratios = _ratios(registry, layout_id)
    optional = [c.name for c in layout.columns if not c.required]
    loaded = load_csv(source, layout.required_columns, optional)
    report = loaded.new_report(layout_id, per_row=len(ratios))
    if len(ratios) > 1:
        report.findings.append(
            f"Counts are measure values: each data row gives one value for each of "
            f"{', '.join(r.measure_id for r in ratios)}."
        )
    panels = [_ratio_panel(loaded, report, r, layout_id) for r in ratios]
    panel = pd.concat(panels, ignore_index=True) if panels else pd.DataFrame()
    return ReadResult(sort_panel(coerce_panel(panel)), report)


def _ratio_panel(loaded: LoadedCsv, report: ReadReport, ratio: _Ratio, layout_id: str) -> pd.DataFrame:
    df = loaded.frame
    rf = RowFilter(report, loaded.lines)
    org = clean(df["ORG_CODE"]).str.upper()
    rf.reject(org.eq("").to_numpy(), "missing organisation code")
    rf.reject(
        malformed_org_codes(org).to_numpy(),
        "not an organisation code",
        error=CellError("ORG_CODE", ODS_EXPECTED, df["ORG_CODE"]),
    )
    period = parse_dates(df["PERIOD_START"])
    rf.reject(
        period.isna().to_numpy(),
        "invalid date in PERIOD_START",
        error=CellError("PERIOD_START", DATE_EXPECTED, df["PERIOD_START"]),
    )
    # The template is monthly and PERIOD_START is the first day of the month: another day may be a week or a
    # different period pasted in, so it is not silently moved to its month.
    rf.reject(
        (period.dt.day != 1).to_numpy(),
        "period not a calendar month",
        error=CellError("PERIOD_START", "the first day of a month (the template is monthly)", df["PERIOD_START"]),
    )
    rf.reject(
        future_periods(period).to_numpy(),
        "period in the future",
        error=CellError("PERIOD_START", "a month that has already started", df["PERIOD_START"]),
    )
    num, num_empty, num_bad = parse_numbers(df[ratio.numerator])
    den, den_empty, den_bad = parse_numbers(df[ratio.denominator])
    rf.reject((num_empty | den_empty).to_numpy(), "missing value")
    # Each check names the column at fault, so numerator and denominator are checked one after the other
    # (a row still counts once, under the first reason that applies).
    columns = ((ratio.numerator, num, num_bad), (ratio.denominator, den, den_bad))
    for col, _, bad in columns:
        rf.reject(bad.to_numpy(), "non-numeric value", error=CellError(col, "a whole number of zero or more", df[col]))
    for col, values, _ in columns:
        rf.reject((values < 0).to_numpy(), "negative value", error=CellError(col, "zero or more", df[col]))
    for col, values, _ in columns:
        whole = CellError(col, "a whole number", df[col])
        rf.reject((values % 1 != 0).to_numpy(), "count is not a whole number", error=whole)
    rf.reject(den.eq(0).to_numpy(), "zero denominator")
    rf.reject(
        (num > den).to_numpy(),
        "numerator larger than denominator",
        error=CellError(
            ratio.numerator,
            f"at most {ratio.denominator}",
            df[ratio.numerator].str.strip() + " > " + df[ratio.denominator].str.strip(),
        ),
    )

    flags = pd.Series("", index=df.index, dtype=object)
    if layout_id == REFERRALS and {"REFERRALS_REJECTED", "REFERRALS_SIGNPOSTED"} <= set(df.columns):
        rej, _, _ = parse_numbers(df["REFERRALS_REJECTED"])
        sign, _, _ = parse_numbers(df["REFERRALS_SIGNPOSTED"])
        accepted, _, _ = parse_numbers(df["REFERRALS_ACCEPTED"])
        total = accepted + rej + sign
        mismatch = total.notna() & (total != den) & pd.Series(rf.alive, index=df.index)
        flags = add_flag(flags, mismatch, "components do not sum to received")
        if mismatch.any():
            report.findings.append(
                f"{ratio.measure_id}: {int(mismatch.sum())} row(s) where accepted + rejected + signposted "
                f"is not the number received (first at line {int(loaded.lines[mismatch.to_numpy()][0])}); "
                "flagged, not corrected."
            )

    parts = pd.DataFrame({"org_code": org, "period": period, "num": num, "den": den, "flags": flags})
    (parts,) = rf.compact(parts)
    parts["period"] = month_start(parts["period"])
    key = ["org_code", "period"]
    rf.reject(parts.duplicated([*key, "num", "den"]).to_numpy(), "duplicate row")
    live = parts[rf.alive]
    conflict = live.duplicated(key)
    if conflict.any():
        first = live[conflict].iloc[0]
        report.findings.append(
            f"{ratio.measure_id}: {int(conflict.sum())} row(s) repeat an organisation and month with "
            f"different counts; the first in the file was kept "
            f"(e.g. {first['org_code']} {first['period']:%Y-%m})."
        )
        # Two different figures for one month: nobody can tell which is right, so it is a data error.
        first = live.groupby(key, sort=False)[["num", "den"]].transform("first").reindex(parts.index)
        quoted = (
            parts["num"].map("{:g}".format) + " of " + parts["den"].map("{:g}".format)
            + ", where an earlier line has " + first["num"].map("{:g}".format) + " of "
            + first["den"].map("{:g}".format)
        )
        rf.reject(
            parts.index.isin(live.index[conflict.to_numpy()]),
            "conflicting duplicate",
            error=CellError(ratio.numerator, "one row per organisation and month", quoted),
        )
    (parts,) = rf.compact(parts)
    panel = pd.DataFrame(
        {
            "org_code": parts["org_code"],
            "period": parts["period"],
            "measure_id": ratio.measure_id,
            "period_type": "month",
            "numerator": parts["num"],
            "denominator": parts["den"],
            "value": parts["num"] / parts["den"],
            "status": "final",
            "suppressed": False,
            "quality_flags": parts["flags"],
            "source_file": loaded.source.name,
        }
    )
    rf.finish(len(panel), what=ratio.measure_id if report.layout == WORKFORCE else "")
    return panel.astype({"numerator": np.float64})
