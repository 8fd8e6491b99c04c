"""Results downloads: one CSV per site and one for all sites, written deterministically.

One row per site x domain x measure with the model estimates only (step and slope changes with their 95%
intervals, the first-year change (the primary estimand),
effects 12 and 24 months after go-live, the reading, the Making Data Count icons and the months
before and after). No observed monthly figures are included, so the file needs no disclosure control. Column
names avoid the words the disclosure checker reads as counts (value, count, numerator, denominator, observed).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path

from evaluation.results.schema import DomainResult

ESTIMATE_KEYS = ("estimate", "ci_low", "ci_high")
COLUMNS = (
    "site", "site_name", "ods_code", "domain", "domain_name", "measure_id", "measure_name", "headline", "status",
    "data_source", "intervention_date", "n_months_before", "n_months_after", "scale", "model",
    *(f"step_{k}" for k in ESTIMATE_KEYS),
    *(f"slope_{k}" for k in ESTIMATE_KEYS),
    *(f"first_year_{kind}_{k}" for kind in ("absolute", "relative") for k in ESTIMATE_KEYS),
    "first_year_relative_unit",
    *(f"effect_{h}m_{kind}_{k}" for h in ("12", "24") for kind in ("relative", "absolute") for k in ESTIMATE_KEYS),
    "direction", "direction_of_improvement", "spc_variation_icon", "spc_assurance_icon", "summary",
)
FORBIDDEN_WORDS = ("value", "count", "numerator", "denominator", "observed")


# A text cell starting with one of these is read as a formula by spreadsheet programs (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(x: object) -> str:
    """One fixed text form per value: floats as 6 significant figures, missing as empty, booleans as words;
    text that a spreadsheet would run as a formula gets a leading apostrophe (numbers are never text here)."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return "" if not math.isfinite(x) else format(x, ".6g")
    if isinstance(x, int):
        return str(x)
    text = str(x)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def result_rows(results: Iterable[DomainResult]) -> list[dict[str, str]]:
    """The CSV rows for these results, sorted by site, domain and measure."""
    rows = []
    for r in results:
        for m in r.measures:
            its, spc = m.its, m.spc
            row: dict[str, object] = {
                "site": r.site, "site_name": r.site_name, "ods_code": r.ods_code,
                "domain": r.domain, "domain_name": r.domain_name,
                "measure_id": m.measure_id, "measure_name": m.name, "headline": m.headline,
                "status": m.status, "data_source": r.data_source,
                "intervention_date": r.intervention_date.isoformat(),
                "n_months_before": m.n_pre, "n_months_after": m.n_post,
                "scale": its.scale if its else None, "model": its.model if its else None,
                "direction": m.direction, "direction_of_improvement": m.direction_of_improvement,
                "spc_variation_icon": spc.variation_icon if spc else None,
                "spc_assurance_icon": spc.assurance_icon if spc else None,
                "summary": m.findings.headline if m.findings else None,
            }
            for part in ("step", "slope"):
                est = getattr(its, part) if its else None
                for k in ESTIMATE_KEYS:
                    row[f"{part}_{k}"] = getattr(est, k) if est else None
            p = m.primary
            for k in ESTIMATE_KEYS:
                row[f"first_year_absolute_{k}"] = getattr(p.absolute, k) if p else None
                row[f"first_year_relative_{k}"] = getattr(p.relative, k) if p else None
            row["first_year_relative_unit"] = p.relative_unit if p else None
            effects = its.effects if its else {}
            for h in ("12", "24"):
                effect = effects.get(h)
                for kind in ("relative", "absolute"):
                    part = getattr(effect, kind) if effect else None
                    for k in ESTIMATE_KEYS:
                        row[f"effect_{h}m_{kind}_{k}"] = getattr(part, k) if part else None
            rows.append({c: _cell(row.get(c)) for c in COLUMNS})
    return sorted(rows, key=lambda d: (d["site"], d["domain"], d["measure_id"]))


def results_csv(results: Iterable[DomainResult]) -> str:
    """The CSV text (header plus one row per measure; "\\n" line ends so bytes do not depend on the OS)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result_rows(results))
    return buf.getvalue()


def write_results_csvs(results: list[DomainResult], out_dir: Path | str) -> dict[str, Path]:
    """Write ``results_<site>.csv`` for each site and ``results_all_sites.csv``; return them by site ("all")."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for site in sorted({r.site for r in results}):
        path = out / f"results_{site}.csv"
        path.write_bytes(results_csv([r for r in results if r.site == site]).encode("utf-8"))
        written[site] = path
    path = out / "results_all_sites.csv"
    path.write_bytes(results_csv(results).encode("utf-8"))
    written["all"] = path
    return written
