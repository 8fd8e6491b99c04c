"""Record-level MHSDS extracts of 1, 10 and 50 million referrals -> monthly measures: time and peak memory.

For each size an extract is written (CSV, as a trust exports it; 50 providers x 36 months; per 100 referrals
20 accepted and 8 rejected community referrals, 2 emergency and 1 urgent crisis referrals, 69 others;
contacts in proportion) by :func:`evaluation.demo.records.write_tables`. Then, per engine, a fresh Python
process runs :func:`evaluation.sources.records.read_records` and the peak resident memory of that process and
everything it starts (Spark's JVM included) is sampled from /proc. Prints one line per run and writes
``build/bench_records.json``.

    python benchmarks/records.py --sizes 1,10 --engines duckdb,spark
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SHARES = {"A": 20, "R": 8, "E": 2, "U": 1, "O": 69}  # per 100 referrals
ORGS, MONTHS = 50, 36


def write_extract(folder: Path, millions: float) -> None:
    """A CSV extract of ``millions`` million referrals (skipped when already written)."""
    from evaluation.demo.records import write_tables

    if (folder / "MHS201CareContact.csv").is_file():
        return
    per_cell = millions * 1_000_000 / (ORGS * MONTHS) / 100
    periods = pd.date_range("2021-01-01", periods=MONTHS, freq="MS").date
    rows = [{"org": f"ZB{o:02d}", "period": p, **{c: round(per_cell * s) for c, s in SHARES.items()}}
            for o in range(ORGS) for p in periods]
    write_tables(pd.DataFrame(rows), folder, end=str(periods[-1]), fmt="csv")


def _tree_rss_kb(pid: int) -> int:
    """Resident memory (kB) of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run(folder: Path, engine: str) -> dict:
    code = ("import sys; from evaluation.sources.records import read_records; "
            "r = read_records(sys.argv[1], engine=sys.argv[2]); "
            "print(sum(len(x.panel) for x in r), r[1].report.rows_read)")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), engine], cwd=ROOT,  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{engine} on {folder} failed: {err.strip().splitlines()[-1] if err.strip() else ''}")
    rows, referrals = out.split()
    return {"engine": engine, "seconds": round(seconds, 1), "peak_rss_mb": round(peak / 1024),
            "panel_rows": int(rows), "referrals_read": int(referrals)}


def main(argv: list[str] | None = None) -> int:
    """Write the extracts, run the engines, print and save the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,50", help="millions of referrals, comma-separated")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--work", default=str(ROOT / "build" / "bench_records"), help="where the extracts go")
    args = ap.parse_args(argv)
    results = []
    for size in [float(s) for s in args.sizes.split(",")]:
        folder = Path(args.work) / f"{size:g}M"
        t = time.perf_counter()
        write_extract(folder, size)
        mb = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"{size:g}M referrals: extract {mb:,.0f} MB CSV (written in {time.perf_counter() - t:.0f} s)")
        for engine in args.engines.split(","):
            r = {"millions": size, "extract_mb": round(mb), **run(folder, engine)}
            print(f"  {engine:7s} {r['seconds']:8.1f} s  peak RSS {r['peak_rss_mb']:6,} MB  "
                  f"({r['referrals_read']:,} referrals, {r['panel_rows']:,} panel rows)")
            results.append(r)
    out = ROOT / "build" / "bench_records.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
