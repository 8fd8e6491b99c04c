"""Results downloads: one CSV per site and one for all sites, written deterministically.

One row per site x domain x measure with the model estimates only (step and slope changes with their 95%
intervals, effects 12 and 24 months after go-live, the reading, the Making Data Count icons and the months
before and after). No observed monthly figures are included, so the file needs no disclosure control. Column
names avoid the words the disclosure checker reads as counts (value, count, numerator, denominator, observed).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path

ESTIMATE_KEYS = ("estimate", "ci_low", "ci_high")
COLUMNS = (
    "site", "site_name", "ods_code", "domain", "domain_name", "measure_id", "measure_name", "headline", "status",
    "data_source", "intervention_date", "n_months_before", "n_months_after", "scale", "model",
    *(f"step_{k}" for k in ESTIMATE_KEYS),
    *(f"slope_{k}" for k in ESTIMATE_KEYS),
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


def result_rows(results: Iterable[dict]) -> list[dict[str, str]]:
    """The CSV rows for these results files, sorted by site, domain and measure."""
    rows = []
    for r in results:
        for m in r["measures"]:
            its = m.get("its") or {}
            spc = m.get("spc") or {}
            row: dict[str, object] = {
                "site": r["site"], "site_name": r.get("site_name"), "ods_code": r.get("ods_code"),
                "domain": r["domain"], "domain_name": r.get("domain_name"),
                "measure_id": m["measure_id"], "measure_name": m.get("name"), "headline": bool(m.get("headline")),
                "status": m.get("status"), "data_source": r.get("data_source"),
                "intervention_date": r.get("intervention_date"),
                "n_months_before": m.get("n_pre"), "n_months_after": m.get("n_post"),
                "scale": its.get("scale"), "model": its.get("model"),
                "direction": m.get("direction"), "direction_of_improvement": m.get("direction_of_improvement"),
                "spc_variation_icon": spc.get("variation_icon"), "spc_assurance_icon": spc.get("assurance_icon"),
                "summary": m.get("summary"),
            }
            for part in ("step", "slope"):
                for k in ESTIMATE_KEYS:
                    row[f"{part}_{k}"] = (its.get(part) or {}).get(k)
            effects = its.get("effects") or {}
            for h in ("12", "24"):
                for kind in ("relative", "absolute"):
                    for k in ESTIMATE_KEYS:
                        row[f"effect_{h}m_{kind}_{k}"] = ((effects.get(h) or {}).get(kind) or {}).get(k)
            rows.append({c: _cell(row.get(c)) for c in COLUMNS})
    return sorted(rows, key=lambda d: (d["site"], d["domain"], d["measure_id"]))


def results_csv(results: Iterable[dict]) -> str:
    """The CSV text (header plus one row per measure; "\\n" line ends so bytes do not depend on the OS)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result_rows(results))
    return buf.getvalue()


def write_results_csvs(results: list[dict], out_dir: Path | str) -> dict[str, Path]:
    """Write ``results_<site>.csv`` for each site and ``results_all_sites.csv``; return them by site ("all")."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for site in sorted({r["site"] for r in results}):
        path = out / f"results_{site}.csv"
        path.write_bytes(results_csv([r for r in results if r["site"] == site]).encode("utf-8"))
        written[site] = path
    path = out / "results_all_sites.csv"
    path.write_bytes(results_csv(results).encode("utf-8"))
    written["all"] = path
    return written
