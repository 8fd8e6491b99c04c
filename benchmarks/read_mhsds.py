"""Benchmark: time and peak memory of reading the published MHSDS time-series file into the panel.

Run in a fresh process so the peak resident memory is the reader's (plus the interpreter and pandas).
Targets (issue 4): under 3 s and under 600 MB on the 2-core build machine. Prints a table and writes
build/bench_read_mhsds.json.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "real" / "mhsds_timeseries"


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    files = sorted(folder.glob("*.csv.gz")) + sorted(folder.glob("*.csv"))
    if not files:
        print(f"no MHSDS file found in {folder}; nothing to measure")
        return 0
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    from evaluation.sources.mhsds import read_mhsds

    t_import = time.perf_counter() - t0
    rows = []
    for path in files:
        t1 = time.perf_counter()
        result = read_mhsds(path)
        seconds = time.perf_counter() - t1
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rep = result.report
        rows.append({"file": path.name, "rows_read": rep.rows_read, "rows_kept": rep.rows_kept,
                     "seconds": round(seconds, 3), "peak_rss_mb": round(peak_mb, 1)})
    print(f"{'file':60} {'rows read':>10} {'kept':>8} {'seconds':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['file'][:60]:60} {r['rows_read']:>10} {r['rows_kept']:>8} {r['seconds']:>8} {r['peak_rss_mb']:>8}")
    print(f"(import of the reader and pandas: {t_import:.2f} s; resident memory before: {start_rss / 1024:.0f} MB)")
    out = ROOT / "build" / "bench_read_mhsds.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"import_seconds": round(t_import, 3), "files": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
