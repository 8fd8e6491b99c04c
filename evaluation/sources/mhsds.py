"""Reader for layout ``mhsds_long``: the Mental Health Services Monthly Statistics long CSV.

Keeps provider-level rows (BREAKDOWN "Provider", any case, trimmed) for the measures in the data dictionary
whose layout is ``mhsds_long``, matched by MEASURE_ID (measure names change wording between releases).

Period conventions:

* the period type comes from the length of REPORTING_PERIOD_START..REPORTING_PERIOD_END: one calendar
  month is ``month``, three is ``quarter``, twelve is ``rolling_12_months``; anything else is rejected;
* ``period`` is REPORTING_PERIOD_START for months and quarters, but for rolling 12 months it is the first
  day of the **end** month, so a rolling series is indexed by the month its 12 months end in (the way the
  publication describes it, e.g. "the 12 months to November 2022").

Status: "Final" is final; "Performance", "Provisional" and "Primary" are provisional. Values ``*``, ``.`` (the
``already_suppressed_marks`` of ``data_dictionary/disclosure.yaml``) or empty are suppressed (value NaN, never
zero). A value with a fraction for a measure whose ``value_type`` is ``count`` is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.panel.frame import PANEL_KEY, ReadResult, coerce_panel, sort_panel
from evaluation.sources.common import (
    DATE_EXPECTED,
    ODS_EXPECTED,
    SUPPRESSION_MARKERS,
    CellError,
    CsvSource,
    RowFilter,
    clean,
    future_periods,
    load_csv,
    malformed_org_codes,
    month_start,
    months_between,
    parse_dates,
    parse_numbers,
)

LAYOUT = "mhsds_long"
_STATUS = {
    "final": "final",
    "performance": "provisional",
    "provisional": "provisional",
    "primary": "provisional",
}
_PERIOD_TYPES = {1: "month", 3: "quarter", 12: "rolling_12_months"}


def mhsds_measures(registry: Registry | None = None) -> dict[str, str]:
    """Publisher MEASURE_ID -> data dictionary measure id, for every measure with layout ``mhsds_long``."""
    registry = registry or default_registry()
    return {m.source_measure_id: m.id for m in registry.measures if m.layout == LAYOUT}


def read_mhsds(source: CsvSource | Path | str, registry: Registry | None = None) -> ReadResult:
    """Read one MHSDS long CSV into panel rows and a :class:`~evaluation.panel.frame.ReadReport`.

    Every data row is either kept or counted under one rejection reason. Within the file a Final row beats a
    Performance row for the same organisation, period and measure; exact duplicates are dropped; conflicting
    rows of the same status keep the first and are reported.
    """
    registry = registry or default_registry()
    layout = registry.layout(LAYOUT)
    loaded = load_csv(source, layout.required_columns)
    df = loaded.frame
    report = loaded.new_report(LAYOUT)
    rf = RowFilter(report, loaded.lines)
    measure_map = mhsds_measures(registry)
    value_types = {m.id: m.value_type for m in registry.measures}

    # Cheap scope filters first, so the expensive parsing runs on a few thousand rows, not half a million.
    # Labels repeat over hundreds of thousands of rows: normalise each distinct label once, then match.
    provider = [b for b in pd.unique(df["BREAKDOWN"]) if b.strip().casefold() == "provider"]
    rf.reject(~df["BREAKDOWN"].isin(provider).to_numpy(), "not a provider breakdown", scope=True)
    ours = [m for m in pd.unique(df["MEASURE_ID"]) if m.strip() in measure_map]
    rf.reject(~df["MEASURE_ID"].isin(ours).to_numpy(), "measure not in the data dictionary", scope=True)
    (df,) = rf.compact(df)

    secondary = clean(df["SECONDARY_LEVEL"]).str.upper()
    rf.reject(
        ~secondary.isin(["NONE", ""]).to_numpy(), "not a provider total (secondary breakdown)", scope=True
    )
    org = clean(df["PRIMARY_LEVEL"]).str.upper()
    rf.reject(org.eq("").to_numpy(), "missing organisation code")
    rf.reject(
        malformed_org_codes(org).to_numpy(),
        "not an organisation code",
        error=CellError("PRIMARY_LEVEL", ODS_EXPECTED, df["PRIMARY_LEVEL"]),
    )
    start = parse_dates(df["REPORTING_PERIOD_START"])
    end = parse_dates(df["REPORTING_PERIOD_END"])
    for col, parsed in (("REPORTING_PERIOD_START", start), ("REPORTING_PERIOD_END", end)):
        rf.reject(parsed.isna().to_numpy(), f"invalid date in {col}", error=CellError(col, DATE_EXPECTED, df[col]))
    n_months = months_between(start, end)
    # A whole-month period starts on the 1st and ends on the last day of its final month.
    whole = start.dt.day.eq(1) & (end + pd.Timedelta(days=1)).dt.day.eq(1)
    span = df["REPORTING_PERIOD_START"].str.strip() + " to " + df["REPORTING_PERIOD_END"].str.strip()
    rf.reject(
        (~(whole & n_months.isin(list(_PERIOD_TYPES)))).to_numpy(),
        "period length not 1, 3 or 12 months",
        error=CellError(
            "REPORTING_PERIOD_END",
            "a whole calendar month, quarter or 12 months (the 1st of a month to the last day of a month)",
            span,
        ),
    )
    rf.reject(
        future_periods(start).to_numpy(),
        "period in the future",
        error=CellError("REPORTING_PERIOD_START", "a period that has already started", df["REPORTING_PERIOD_START"]),
    )
    status = clean(df["STATUS"]).str.casefold().map(_STATUS)
    rf.reject(status.isna().to_numpy(), "unknown status")
    raw_value = clean(df["MEASURE_VALUE"])
    suppressed = raw_value.isin(list(SUPPRESSION_MARKERS)) | raw_value.eq("")
    value, _, non_numeric = parse_numbers(raw_value.where(~suppressed, ""))
    marks = " or ".join(f"'{m}'" for m in sorted(SUPPRESSION_MARKERS))
    rf.reject(
        non_numeric.to_numpy(),
        "non-numeric value",
        error=CellError("MEASURE_VALUE", f"a number, or {marks} where suppressed", df["MEASURE_VALUE"]),
    )
    rf.reject(
        (value < 0).to_numpy(),
        "negative value",
        error=CellError("MEASURE_VALUE", "zero or more", df["MEASURE_VALUE"]),
    )
    # A count of referrals, contacts or people is whole; a fraction is a typing or export error.
    counts = {m.source_measure_id for m in registry.measures if m.layout == LAYOUT and m.value_type == "count"}
    rf.reject(
        (clean(df["MEASURE_ID"]).isin(counts) & (value % 1 != 0) & value.notna()).to_numpy(),
        "count is not a whole number",
        error=CellError("MEASURE_VALUE", "a whole number (the measure is a count)", df["MEASURE_VALUE"]),
    )

    parts = pd.DataFrame(
        {
            "org_code": org,
            "start": start,
            "end": end,
            "n_months": n_months,
            "source_id": clean(df["MEASURE_ID"]),
            "status": status,
            "value": value,
            "suppressed": suppressed,
            "org_name": clean(df["PRIMARY_LEVEL_DESCRIPTION"]),
            "measure_name": clean(df["MEASURE_NAME"]),
        }
    )
    (parts,) = rf.compact(parts)
    parts["measure_id"] = parts["source_id"].map(measure_map)
    parts["period_type"] = parts["n_months"].map(_PERIOD_TYPES)
    rolling = parts["period_type"].eq("rolling_12_months")
    parts["period"] = month_start(parts["start"].where(~rolling, parts["end"]))

    _reject_duplicates(parts, rf, report)
    (parts,) = rf.compact(parts)

    is_count = parts["measure_id"].map(value_types).eq("count")
    panel = pd.DataFrame(
        {
            "org_code": parts["org_code"],
            "period": parts["period"],
            "measure_id": parts["measure_id"],
            "period_type": parts["period_type"],
            "numerator": parts["value"].where(is_count, np.nan),
            "denominator": np.nan,
            "value": parts["value"],
            "status": parts["status"],
            "suppressed": parts["suppressed"],
            "quality_flags": "",
            "source_file": loaded.source.name,
        }
    )
    rf.finish(len(panel))
    report.findings.extend(_name_changes(parts))
    report.findings.extend(_measure_wording(parts))
    return ReadResult(sort_panel(coerce_panel(panel)), report)


def _reject_duplicates(parts: pd.DataFrame, rf: RowFilter, report) -> None:
    """Within one file: exact duplicates, provisional rows a final row supersedes, then conflicts."""
    key = list(PANEL_KEY)
    rf.reject(parts.duplicated([*key, "status", "value", "suppressed"]).to_numpy(), "duplicate row")
    alive = pd.Series(rf.alive, index=parts.index)
    has_final = (parts["status"].eq("final") & alive).groupby([parts[k] for k in key]).transform("any")
    rf.reject((parts["status"].eq("provisional") & has_final).to_numpy(), "superseded by a final row")
    alive = pd.Series(rf.alive, index=parts.index)
    live = parts[alive]
    conflict = live.duplicated(key)
    if conflict.any():
        examples = live[live.duplicated(key, keep=False)].head(6)
        shown = "; ".join(
            f"{r.org_code} {r.source_id} {r.period:%Y-%m} {r.status} = {_shown(r.value, r.suppressed)}"
            for r in examples.itertuples()
        )
        report.findings.append(
            f"{int(conflict.sum())} row(s) repeat an organisation, period and measure with a different value "
            f"and the same status; the first in the file was kept (e.g. {shown})."
        )
        mask = pd.Series(False, index=parts.index)
        mask[live.index[conflict.to_numpy()]] = True
        # A file that gives two different figures for one month cannot be used until someone says which is
        # right: a data error, quoting the value the file gave first.
        cells = pd.Series(
            [_shown(v, sup) for v, sup in zip(parts["value"], parts["suppressed"], strict=True)], index=parts.index
        )
        first = cells[alive].groupby([live[k] for k in key], sort=False).transform("first").reindex(parts.index)
        quoted = cells + ", where an earlier line has " + first.fillna("")
        rf.reject(
            mask.to_numpy(),
            "conflicting duplicate",
            error=CellError(
                "MEASURE_VALUE",
                "one value per organisation, period, measure and status",
                quoted,
            ),
        )


def _shown(value: float, suppressed: bool) -> str:
    return "*" if suppressed else f"{value:g}"


def _name_changes(parts: pd.DataFrame) -> list[str]:
    """One sentence per organisation code published under more than one name."""
    if parts.empty:
        return []
    # "NONE" is the publisher's placeholder before a new organisation's name reaches the reference data.
    named = parts[~parts["org_name"].str.upper().isin(["", "NONE"])]
    names = named.groupby(["org_code", "org_name"], sort=False)["period"].agg(["min", "max"]).reset_index()
    counts = names.groupby("org_code")["org_name"].transform("size")
    out = []
    for code, grp in names[counts > 1].groupby("org_code", sort=True):
        grp = grp.sort_values("min")
        spans = ", then ".join(f"'{r.org_name}' ({r.min:%b %Y} to {r.max:%b %Y})" for r in grp.itertuples())
        out.append(f"Organisation {code} was published under {len(grp)} names with the same code: {spans}.")
    return out


def _measure_wording(parts: pd.DataFrame) -> list[str]:
    """One sentence per measure whose published name changed wording (matched by id regardless)."""
    out = []
    for mid, grp in parts.groupby("source_id", sort=True):
        names = list(dict.fromkeys(grp.sort_values("start", kind="mergesort")["measure_name"]))
        if len(names) > 1:
            shown = "; ".join(f"'{n}'" for n in names)
            out.append(f"Measure {mid} appears under {len(names)} names (matched by MEASURE_ID): {shown}.")
    return out
