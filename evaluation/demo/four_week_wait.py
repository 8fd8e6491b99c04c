"""Demonstration MHSDS community 4-week-wait files ("MHSDS Data_4WW_<Mon>Perf_<YYYY>.csv").

NHS England publishes the community mental health 4-week-wait measures (MRS01, MRS01a, MRS01b, MRS04) monthly
from 2024 in supplementary files with the same 11-column long layout as the MHSDS time series: one file per
performance month, provider, ICB and England rows, the month itself ("snapshot") and the rolling 3 months to
it side by side. This module writes such files for the demonstration organisations, so the reader, the
validate command and the notebooks are exercised on them. There is no known effect in these series: they
start after every site's go-live, so they are described, not modelled.
"""

from __future__ import annotations

import csv
import datetime as dt
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evaluation.dictionary.registry import Registry

#: Measures written, by publisher id: counts first; MRS01b is derived from MRS01a / MRS01.
FOUR_WEEK_MEASURES = ("MRS04", "MRS01", "MRS01a", "MRS01b")
FOLDER = "mhsds_4ww"
_NAMES = {
    "MRS04": "Referral spells starting in the RP (community mental health 4-week wait)",
    "MRS01": "Referral spells with a full clock stop in the RP",
    "MRS01a": "Referral spells with a full clock stop in the RP in under 4 weeks",
    "MRS01b": "Proportion of referral spells with a full clock stop in the RP in under 4 weeks",
}


def _month_end(day: dt.date) -> dt.date:
    nxt = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _add_months(day: dt.date, k: int) -> dt.date:
    m = day.year * 12 + day.month - 1 + k
    return dt.date(m // 12, m % 12 + 1, 1)


def four_week_months(first: dt.date, last: dt.date, registry: Registry) -> list[dt.date]:
    """The months the demonstration 4-week-wait files cover: from the measures' first published month
    (``first_period`` in the data dictionary) or ``first``, whichever is later, to ``last``."""
    starts = [m.first_period for m in registry.measures if m.source_measure_id in FOUR_WEEK_MEASURES and m.first_period]
    begin = max([first, *starts])
    months = []
    while begin <= last:
        months.append(begin)
        begin = _add_months(begin, 1)
    return months


def write_four_week_wait(out_dir: Path, registry: Registry, orgs: Sequence[tuple[str, str, float]],
                         months: Sequence[dt.date], seed: int) -> list[Path]:
    """Write one 4-week-wait file per month in ``months`` under ``out_dir / FOLDER``.

    ``orgs`` are (code, name, size) with size the organisation's relative scale (1 = a typical trust).
    Returns the files written (none when ``months`` is empty or the dictionary has no 4-week measure).
    """
    if not months or not any(m.source_measure_id in FOUR_WEEK_MEASURES for m in registry.measures):
        return []
    folder = out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    n = len(months)
    counts: dict[str, dict[str, np.ndarray]] = {}
    for code, _name, size in orgs:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(code.encode()), 4]))
        starts = rng.poisson(900.0 * size, n)
        stops = rng.binomial(starts, 0.85)
        share = np.clip(rng.uniform(0.35, 0.7) + 0.01 * np.arange(n) + rng.normal(0, 0.02, n), 0.05, 0.95)
        within = rng.binomial(stops, share)
        counts[code] = {"MRS04": starts, "MRS01": stops, "MRS01a": within}
    header = [c.name for c in registry.layout("mhsds_long").columns]
    written = []
    for i, month in enumerate(months):
        rows = []
        for span in (1, 3):
            if i + 1 < span:
                continue
            lo = i + 1 - span
            start, end = months[lo], _month_end(month)
            totals = {k: 0 for k in ("MRS04", "MRS01", "MRS01a")}
            for code, name, _size in orgs:
                vals = {k: int(v[lo:i + 1].sum()) for k, v in counts[code].items()}
                for k in totals:
                    totals[k] += vals[k]
                rows += _rows(start, end, "Provider", code, name.upper(), vals)
            rows += _rows(start, end, "England", "England", "England", totals)
        path = folder / f"MHSDS Data_4WW_{month:%b}Perf_{month:%Y}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
        written.append(path)
    return written


def _rows(start: dt.date, end: dt.date, breakdown: str, code: str, name: str, vals: dict[str, int]) -> list[list]:
    share = "*" if vals["MRS01"] < 5 else f"{100.0 * vals['MRS01a'] / vals['MRS01']:.1f}"
    shown = {k: ("*" if v < 5 else str(v)) for k, v in vals.items()}
    shown["MRS01b"] = share
    return [[f"{start:%d/%m/%Y}", f"{end:%d/%m/%Y}", "Performance", breakdown, code, name, "NONE", "NONE", mid,
             _NAMES[mid], shown[mid]] for mid in FOUR_WEEK_MEASURES]
