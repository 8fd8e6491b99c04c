"""Benchmark of whole builds: ours (parallel, warm kernels, cached, incremental) against the naive way.

Measured in one run on this machine, printed as a table and written to ``build/bench.json``:

1. cold four-site build (every domain, the cross-site page and the docs) from an empty build folder;
2. a no-change rebuild (runner + docs), with the number of notebooks re-executed;
3. a rebuild after one site's data changed (one Dorset crisis row), with which notebooks re-executed;
4. the same cold build done the naive way: papermill runs every notebook in turn in a fresh kernel, each
   notebook reads the data itself, and Sphinx rebuilds everything; and the ratio of (1) to (4);
5. cold builds of 4, 12, 25 and 50 sites (``--sites`` from every provider in a 50-organisation synthetic
   data set, at one go-live month), with time and the peak memory of the whole process tree (runner,
   workers and kernels, sampled every 0.2 s).

The docs are built from a copy of ``docs/`` per configuration so the benchmark never touches the project's
own ``docs/_generated``. Usage: ``python benchmarks/build.py [--sizes 4,12,25,50] [--skip-naive]``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GO_LIVE = "2022-04"
DOMAINS = ("crisis_demand", "referral_acceptance", "staff_retention")


class PeakMemory:
    """Peak summed resident memory of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def sh(args: list[str], env: dict | None = None) -> tuple[float, int]:
    """Run a command; return (seconds, peak bytes of its process tree). Fails loudly on error."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    with PeakMemory(proc.pid) as mem:
        out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(out[-4000:])
        raise SystemExit(f"benchmark step failed ({proc.returncode}): {' '.join(args)}")
    return seconds, mem.peak


def evaluation(*args: str, env: dict | None = None) -> tuple[float, int]:
    return sh([sys.executable, "-m", "evaluation", *args], env)


def docs_copy(work: Path, label: str) -> Path:
    dst = work / f"docs_{label}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(ROOT / "docs", dst, ignore=shutil.ignore_patterns("_build", "_generated"))
    return dst


def build_docs(build: Path, docs: Path, *, naive: bool = False) -> tuple[float, int]:
    """assemble + sphinx-build: ours is incremental; the naive one rebuilds everything."""
    t1, m1 = evaluation("assemble", "--build-dir", str(build), "--docs-dir", str(docs))
    sphinx = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(docs),
              str(docs / "_build" / "html")]
    if naive:
        sphinx[3:3] = ["-E", "-a"]  # a fresh environment and every page written: no incremental build
    t2, m2 = sh(sphinx)
    return t1 + t2, max(m1, m2)


def ours(build: Path, docs: Path, data: Path, *extra: str) -> dict:
    t_run, m_run = evaluation("run", "--build-dir", str(build), "--data-dir", str(data), "--quiet", *extra)
    t_docs, m_docs = build_docs(build, docs)
    status = json.loads((build / "run_status.json").read_text())
    executed = sorted(f"{o['site']}/{o['domain']}" for o in status["outcomes"] if not o.get("cached"))
    return {"seconds": round(t_run + t_docs, 1), "runner_seconds": round(t_run, 1), "docs_seconds": round(t_docs, 1),
            "peak_mb": round(max(m_run, m_docs) / 2**20), "executed": executed, "n_executed": len(executed),
            "n_notebooks": len(status["outcomes"])}


NAIVE_SCRIPT = """
import sys, papermill as pm
from pathlib import Path
build, data = Path(sys.argv[1]), sys.argv[2]
jobs = [(s, d) for s in sys.argv[3].split(",") for d in sys.argv[4].split(",")] + [("all", "cross_site")]
for site, domain in jobs:
    out = build / "notebooks" / site / f"{domain}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(f"notebooks/{domain}.ipynb", str(out), kernel_name="python3", progress_bar=False,
                        parameters={"site": site, "data_dir": data, "intervention_date": "",
                                    "build_dir": str(build), "keep_outliers": False,
                                    "comparator_min_coverage": 0.8})
import json
json.dump({"data_dir": data, "data_source": "synthetic", "outcomes": [
    {"site": s, "domain": d, "ok": True, "seconds": 0.0, "notebook": str(build / "notebooks" / s / f"{d}.ipynb"),
     "error": ""} for s, d in jobs]}, open(build / "run_status.json", "w"))
from evaluation.pipeline import manifest
from evaluation.provenance import sha256_file as sha256_path
def entry(s, d):
    res = build / ("synthesis/cross_site.json" if s == "all" else f"results/{s}/{d}.json")
    nb = build / "notebooks" / s / f"{d}.ipynb"
    return manifest.Analysis(site=s, domain=d, status="ok", data_source="synthetic",
                             results_file=res.relative_to(build).as_posix(), results_sha256=sha256_path(res),
                             notebook=nb.relative_to(build).as_posix(), notebook_sha256=sha256_path(nb))
manifest.write_manifest(build, manifest.RunManifest(data_dir=data, data_source="synthetic", parameters={},
                                                    analyses=[entry(s, d) for s, d in jobs]))
"""


def naive(build: Path, docs: Path, data: Path, sites: list[str]) -> dict:
    # The naive way reads the data in every notebook: no shared snapshot.
    t_run, m_run = sh([sys.executable, "-c", NAIVE_SCRIPT, str(build), str(data), ",".join(sites), ",".join(DOMAINS)],
                      env={"EVALUATION_PANEL_SNAPSHOT": "0"})
    t_docs, m_docs = build_docs(build, docs, naive=True)
    return {"seconds": round(t_run + t_docs, 1), "runner_seconds": round(t_run, 1), "docs_seconds": round(t_docs, 1),
            "peak_mb": round(max(m_run, m_docs) / 2**20)}


def change_one_site(data: Path, org: str = "RDY", measure: str = "CCR70") -> None:
    path = data / "mhsds_timeseries.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    col = {name: i for i, name in enumerate(rows[0])}
    for row in rows[1:]:
        target = row[col["PRIMARY_LEVEL"]] == org and row[col["MEASURE_ID"]] == measure
        if target and row[col["MEASURE_VALUE"]].isdigit():
            row[col["MEASURE_VALUE"]] = str(int(row[col["MEASURE_VALUE"]]) + 7)
            break
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def national_sites(data: Path, n: int) -> list[str]:
    from evaluation.dictionary.registry import default_registry
    from evaluation.pipeline.cache import cached_panel
    from evaluation.pipeline.runner import national_site_ids

    panel, _ = cached_panel(data, data.parent / "probe")
    ids = national_site_ids(default_registry(), panel)
    if len(ids) < n:
        raise SystemExit(f"only {len(ids)} providers in {data}; cannot benchmark {n} sites")
    return ids[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4,12,25,50", help="site counts for the scaling runs ('' for none)")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--work", default=str(ROOT / "build" / "bench"))
    args = ap.parse_args()
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    report: dict = {"machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}}

    data4 = work / "data4"
    evaluation("synth", "--out", str(data4))
    sites4 = ["bradford", "cheshire_wirral", "dorset", "lancashire"]
    build = work / "ours"
    docs = docs_copy(work, "ours")
    report["cold"] = ours(build, docs, data4)
    print(f"cold four-site build: {report['cold']['seconds']} s", flush=True)
    report["no_change"] = ours(build, docs, data4)
    print(f"no-change rebuild: {report['no_change']['seconds']} s", flush=True)
    change_one_site(data4)
    report["one_site_changed"] = ours(build, docs, data4)
    print(f"one site changed: {report['one_site_changed']['seconds']} s, re-executed "
          f"{report['one_site_changed']['executed']}", flush=True)
    if not args.skip_naive:
        evaluation("synth", "--out", str(data4))  # the original data again, so both cold builds match
        report["naive"] = naive(work / "naive", docs_copy(work, "naive"), data4, sites4)
        report["ratio_cold_to_naive"] = round(report["cold"]["seconds"] / report["naive"]["seconds"], 3)
        print(f"naive four-site build: {report['naive']['seconds']} s (ratio {report['ratio_cold_to_naive']})",
              flush=True)

    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]  # --sizes "": no scaling runs
    report["scaling"] = []
    data50 = work / "data50"
    if sizes:
        evaluation("synth", "--out", str(data50), "--organisations", "50")
    for n in sizes:
        sites = national_sites(data50, n)
        res = ours(work / f"scale{n}", docs_copy(work, f"scale{n}"), data50, "--sites", ",".join(sites),
                   "--intervention-date", GO_LIVE)
        res["sites"] = n
        report["scaling"].append(res)
        print(f"{n} sites: {res['seconds']} s, peak {res['peak_mb']} MB", flush=True)
        shutil.rmtree(work / f"scale{n}" / "notebooks", ignore_errors=True)

    out = ROOT / "build" / "bench.json"
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print_table(report)
    print(f"\nwritten to {out}")
    return 0


def print_table(r: dict) -> None:
    rows = [("cold four-site build (runner + docs)", r["cold"]),
            ("no-change rebuild", r["no_change"]),
            ("one site's data changed", r["one_site_changed"])]
    if "naive" in r:
        rows.append(("naive four-site build (sequential papermill, full Sphinx)", r["naive"]))
    rows += [(f"{s['sites']} sites x 3 domains, cold", s) for s in r["scaling"]]
    print(f"\n{'build':60} {'seconds':>8} {'runner':>8} {'docs':>8} {'executed':>9} {'peak MB':>8}")
    for label, x in rows:
        print(f"{label:60} {x['seconds']:8.1f} {x['runner_seconds']:8.1f} {x['docs_seconds']:8.1f} "
              f"{x.get('n_executed', '-')!s:>9} {x['peak_mb']:8d}")
    if "ratio_cold_to_naive" in r:
        print(f"\ncold / naive = {r['ratio_cold_to_naive']:.2f} (target at most 0.5)")
    print(f"one site changed re-executed: {', '.join(r['one_site_changed']['executed'])}")
    if len(r["scaling"]) >= 2:
        a, b = r["scaling"][0], r["scaling"][-1]
        print(f"seconds per site: {a['seconds'] / a['sites']:.1f} at {a['sites']} sites, "
              f"{b['seconds'] / b['sites']:.1f} at {b['sites']} sites")


if __name__ == "__main__":
    sys.exit(main())
