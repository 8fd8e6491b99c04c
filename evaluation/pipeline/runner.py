"""Execute the domain notebooks for each site with papermill, in parallel, isolating failures.

Each site x domain runs ``notebooks/<domain>.ipynb`` into ``<build>/notebooks/<site>/<domain>.ipynb``; the
notebook writes ``<build>/results/<site>/<domain>.json``. A failing notebook is reported with its site,
domain and the failing cell's error; the others still run; the run's exit status is then non-zero.

Speed (see docs/reproduce.md): notebooks run in parallel (one worker per core), each worker keeps one warm
kernel that is reset between notebooks (so imports are paid once per worker, not per notebook), the data are
read once per build (:func:`evaluation.pipeline.cache.cached_panel`), and a content-addressed cache
(:mod:`evaluation.pipeline.cache`) skips every notebook whose template, parameters, code, locked dependencies and
data rows are unchanged. ``shard=(k, n)`` runs a deterministic 1/n of the site x domain notebooks, for
spreading a national build over machines; :func:`merge_shards` gathers them again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evaluation.atomic import replace_file, write_text_atomic
from evaluation.dictionary.registry import Registry, default_registry, organisation_site_id
from evaluation.paths import BUILD_DIR, NOTEBOOK_DIR
from evaluation.pipeline import cache, manifest
from evaluation.pipeline.lifetime import BuildLock, kernel_preexec, kill_children, stop_on_sigterm, worker_initializer
from evaluation.provenance import sha256_bytes, sha256_file

#: Kernels started side by side can race for ZeroMQ ports (papermill#511); a start-up failure is retried.
KERNEL_RETRIES = 2


@dataclass(frozen=True)
class Job:
    """One notebook execution."""

    site: str
    domain: str

    @property
    def label(self) -> str:
        return f"{self.site} / {self.domain}"


@dataclass
class Outcome:
    """What happened to one job."""

    site: str
    domain: str
    ok: bool
    seconds: float
    notebook: str
    error: str = ""
    attempts: int = 1
    cached: bool = False
    key: str = ""
    executed_seconds: float = 0.0


#: The cross-site synthesis notebook: run once, after the site notebooks, from their results files.
CROSS_SITE_JOB = Job("all", "cross_site")


def national_site_ids(registry: Registry, panel) -> list[str]:
    """Every provider in the data as a site: the registry's sites, then each other organisation the
    comparator rule counts as a mental health provider
    (:func:`evaluation.evaluate.comparators.mental_health_providers`), as ``org_<code>``."""
    from evaluation.evaluate.comparators import NHS_TRUST, SYNTHETIC, mental_health_providers

    known = {s.ods_code for s in registry.sites}
    others = sorted(c for c in mental_health_providers(panel)
                    if c not in known and (NHS_TRUST.match(c) or SYNTHETIC.match(c)))
    return [*registry.site_ids, *(organisation_site_id(c) for c in others)]


def shard_jobs(jobs: list[Job], shard: tuple[int, int] | None) -> list[Job]:
    """The ``k``-th of ``n`` deterministic slices of the jobs (sorted by site then domain, every n-th)."""
    if not shard:
        return jobs
    k, n = shard
    if not (n >= 1 and 1 <= k <= n):
        raise ValueError(f"shard must be K/N with 1 <= K <= N, got {k}/{n}")
    ordered = sorted(jobs, key=lambda j: (j.site, j.domain))
    return [j for i, j in enumerate(ordered) if i % n == k - 1]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> ``(2, 4)``; None or empty -> None."""
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r} is not K/N (for example 2/4)") from None
    if not (n >= 1 and 1 <= k <= n):
        raise ValueError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def plan(registry: Registry, sites: list[str] | None, domains: list[str] | None) -> list[Job]:
    """The jobs for the chosen sites and domains (all when none are given), checked against the registry."""
    site_ids = sites or registry.site_ids
    domain_ids = domains or registry.domain_ids
    for s in site_ids:
        registry.site(s)
    for d in domain_ids:
        registry.domain(d)
    return [Job(s, d) for s in site_ids for d in domain_ids]


def _describe_failure(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename:  # papermill.exceptions.PapermillExecutionError
        count = getattr(exc, "exec_count", None)
        where = f"cell {count}" if count is not None else f"cell #{getattr(exc, 'cell_index', '?')}"
        evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
        return f"{where} raised {ename}: {evalue[0] if evalue else ''}"
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


#: Run in a warm kernel before each notebook: a fresh namespace, figures closed, plotting defaults as the
#: kernel started, and execution counts from 1 again, so a notebook's outputs do not depend on what ran before.
_RESET_KERNEL = """
import matplotlib as _mpl, matplotlib.pyplot as _plt
_ip = get_ipython()
if not hasattr(_mpl, "_evaluation_rc0"):
    _mpl._evaluation_rc0 = _mpl.rcParams.copy()
_plt.close("all")
_mpl.rcParams.update(_mpl._evaluation_rc0)
_ip.run_line_magic("reset", "-f")
get_ipython().execution_count = 1
"""
#: Imported once when a worker's kernel starts, so notebooks find them loaded.
_WARM_IMPORTS = "import evaluation.evaluate.run, evaluation.evaluate.cross_site, evaluation.publish.charts, myst_nb"

_kernel = None  # this worker process's warm kernel manager


def _warm_kernel():
    """This worker's kernel, started (with retries: kernels started side by side can race for ports)."""
    global _kernel
    if _kernel is not None and _kernel.is_alive():
        return _kernel
    from multiprocessing import util

    from jupyter_client.manager import KernelManager

    for attempt in range(KERNEL_RETRIES + 1):
        km = KernelManager(kernel_name="python3")
        try:
            _start_kernel(km)
            _execute_silently(km, _WARM_IMPORTS)
            break
        except Exception:
            _shutdown(km)
            if attempt == KERNEL_RETRIES:
                raise
            time.sleep(0.5 * (attempt + 1))
    # Worker processes exit through multiprocessing, which runs these finalizers (atexit would not).
    util.Finalize(km, _shutdown, args=(km,), exitpriority=100)
    _kernel = km
    return km


def _start_kernel(km) -> None:
    """Start a kernel that dies with this process (parent-death signal, :mod:`evaluation.pipeline.lifetime`).

    The kernel's own stderr carries only start-up chatter (a transport warning); errors in cells come back
    through the messaging protocol, and a command's refusal must stay one line on stderr.
    """
    km.start_kernel(stderr=subprocess.DEVNULL, preexec_fn=kernel_preexec)


def _shutdown(km) -> None:
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:  # noqa: S110 - best effort on the way out; a dead kernel needs no shutdown
        pass


def _discard_kernel() -> None:
    global _kernel
    if _kernel is not None:
        _shutdown(_kernel)
    _kernel = None


def _execute_silently(km, code: str, timeout: float = 120) -> None:
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
        reply = kc.execute_interactive(code, silent=True, store_history=False, timeout=timeout)
        if reply["content"].get("status") != "ok":
            content = reply["content"]
            raise RuntimeError(f"kernel set-up failed: {content.get('ename')}: {content.get('evalue')}")
    finally:
        kc.stop_channels()


def execute_job(job: Job, parameters: dict, build_dir: str, notebook_dir: str | None = None,
                warm: bool = False) -> Outcome:
    """Run one notebook with papermill (in a worker process); never raises.

    With ``warm`` the worker's kernel is reused (reset first) instead of starting one per notebook; a kernel
    that failed is discarded so the next notebook gets a fresh one.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out = Path(build_dir) / "notebooks" / job.site / f"{job.domain}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Charts from an earlier run (another data source may have had measures these data lack) must not
    # survive to be published beside this run's results.
    figures = Path(build_dir) / "figures" / (job.site if job != CROSS_SITE_JOB else "cross_site")
    shutil.rmtree(figures / job.domain if job != CROSS_SITE_JOB else figures, ignore_errors=True)
    template = Path(notebook_dir or NOTEBOOK_DIR) / f"{job.domain}.ipynb"
    # papermill writes the executed copy to a temporary file, renamed over the old copy only when complete.
    partial = out.with_name(f".{out.stem}.{os.getpid()}.partial.ipynb")
    start = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        fresh = None
        try:
            if warm:
                km = _warm_kernel()
                _execute_silently(km, _RESET_KERNEL)
            else:
                from jupyter_client.manager import KernelManager

                km = fresh = KernelManager(kernel_name="python3")
                _start_kernel(km)
            pm.execute_notebook(
                str(template),
                str(partial),
                parameters={"site": job.site, **parameters},
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(build_dir),
                # Written once at the end instead of after every cell: the outputs hold the charts.
                request_save_on_cell_execute=False,
                km=km,
            )
            _hide_injected_parameters(partial)
            replace_file(partial, out)
            return Outcome(job.site, job.domain, True, time.perf_counter() - start, str(out), attempts=attempts)
        except PapermillExecutionError as exc:
            if warm:
                _discard_kernel()
            if partial.is_file():  # the failing copy, with the error, for the analyst to open
                replace_file(partial, out)
            return Outcome(job.site, job.domain, False, time.perf_counter() - start, str(out),
                           _describe_failure(exc), attempts)
        except Exception as exc:  # kernel start-up and transport errors: retry, then report
            if warm:
                _discard_kernel()
            partial.unlink(missing_ok=True)
            if attempts <= KERNEL_RETRIES:
                time.sleep(0.5 * attempts)
                continue
            return Outcome(job.site, job.domain, False, time.perf_counter() - start, str(out),
                           _describe_failure(exc), attempts)
        finally:
            if fresh is not None:
                _shutdown(fresh)


def _hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell`` so the site never shows it (papermill does
    not copy the template's tags to the cell it injects)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    text = nbformat.writes(nb)
    write_text_atomic(path, text if text.endswith("\n") else text + "\n")


@dataclass
class RunSummary:
    """All outcomes of a run, sorted by site then domain."""

    outcomes: list[Outcome]
    data_dir: str
    data_source: str
    parameters: dict = field(default_factory=dict)
    shard: str = ""
    data_fingerprint: str = ""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def executed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.cached]

    def to_dict(self) -> dict:
        return {
            "data_dir": self.data_dir,
            "data_source": self.data_source,
            "data_fingerprint": self.data_fingerprint,
            "parameters": self.parameters,
            "shard": self.shard,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


def _job_outputs(build: Path, job: Job) -> list[Path]:
    """The files a notebook writes (its executed copy, results file and figures)."""
    if job == CROSS_SITE_JOB:
        files = [build / "notebooks" / "all" / "cross_site.ipynb", build / "synthesis" / "cross_site.json"]
        figures = build / "figures" / "cross_site"
    else:
        files = [build / "notebooks" / job.site / f"{job.domain}.ipynb",
                 build / "results" / job.site / f"{job.domain}.json"]
        figures = build / "figures" / job.site / job.domain
    if figures.is_dir():
        files += sorted(p for p in figures.rglob("*") if p.is_file())
    return files


def _file_accounting(reports: list, folder: Path) -> list[dict]:
    """Each input file's name, layout and row accounting (shown on every site's data quality page)."""
    prefix = f"{folder}{os.sep}"
    out = []
    for r in reports:
        d = r.to_dict()
        d.pop("sha256", None)
        out.append(json.loads(json.dumps(d, sort_keys=True, default=str).replace(prefix, "")))
    return sorted(out, key=lambda d: json.dumps(d, sort_keys=True))


def write_data_log(reports: list, folder: Path, build: Path, panel=None, registry: Registry | None = None) -> Path:
    """``<build>/data_log.json``: every input file with its publisher, the months its kept rows cover, its
    SHA-256, layout and row accounting."""
    registry = registry or default_registry()
    publishers = {lay.id: lay.publisher for lay in registry.layouts}
    spans: dict[str, tuple[str, str]] = {}
    if panel is not None and len(panel):
        names = panel["source_file"].map(lambda p: Path(str(p)).name)
        for name, periods in panel["period"].groupby(names):
            spans[str(name)] = (f"{periods.min():%Y-%m}", f"{periods.max():%Y-%m}")
    files = []
    for r in sorted(reports, key=lambda r: str(r.path)):
        try:
            rel = Path(r.path).resolve().relative_to(folder).as_posix()
        except ValueError:
            rel = Path(r.path).name
        first, last = spans.get(Path(r.path).name, ("", ""))
        files.append({"path": rel, "sha256": r.sha256, "layout": r.layout, "rows_read": r.rows_read,
                      "publisher": publishers.get(r.layout, "not known"), "first_month": first, "last_month": last,
                      "rows_kept": r.rows_kept, "rows_rejected": r.rows_rejected,
                      "rejected": dict(sorted(r.rejected.items()))})
    return write_text_atomic(build / "data_log.json", json.dumps({"files": files}, indent=2, sort_keys=True) + "\n")


def _cache_parameters(job: Job, params: dict, source: str) -> dict:
    """The parameters that enter a key: where the data and the build live does not change the results."""
    keep = {k: v for k, v in params.items() if k not in ("data_dir", "build_dir", "results_files")}
    return {"site": job.site, "domain": job.domain, "data_source": source, **keep}


def run(
    *,
    sites: list[str] | None = None,
    domains: list[str] | None = None,
    data_dir: str | list[str] | None = None,
    intervention_date: str = "",
    build_dir: str | Path | None = None,
    jobs: int | None = None,
    registry: Registry | None = None,
    progress: bool = True,
    notebook_dir: str | Path | None = None,
    keep_outliers: bool = False,
    cross_site: bool = True,
    comparator_min_coverage: float = 0.8,
    force: bool = False,
    shard: tuple[int, int] | None = None,
    warm_kernels: bool = True,
) -> RunSummary:
    """Execute every chosen site x domain notebook whose cache entry is missing or stale, then the
    cross-site synthesis (when two or more sites succeeded, ``cross_site`` is true and the run is not one
    shard of several); write ``<build>/run_status.json``, ``<build>/data_log.json`` and, last of all,
    ``<build>/run_manifest.json`` (:mod:`evaluation.pipeline.manifest`).

    Before any worker or kernel starts: the build folder is checked and locked (one run per folder), the
    parameters are checked against the registry, the data are read and the parameters checked against them
    (:mod:`evaluation.pipeline.parameters`); any problem raises a one-line error.
    ``sites=["all"]`` evaluates every mental health provider in the data (:func:`national_site_ids`).
    ``force`` re-executes everything; ``shard=(k, n)`` runs only the k-th of n slices of the notebooks.
    ``build_dir`` defaults to the repository's ``build/`` wherever the command is run from.
    """
    from evaluation.pipeline.parameters import check_build_dir, check_data_folder, check_request, normalise_site_ids

    registry = registry or default_registry()
    sites = normalise_site_ids(sites)
    check_request(registry, sites=sites, domains=domains, intervention_date=intervention_date)
    check_data_folder(data_dir)
    build = check_build_dir(build_dir, BUILD_DIR)
    with BuildLock(build), stop_on_sigterm():
        prepared = _prepare(registry, build, sites=sites, domains=domains, data_dir=data_dir,
                            intervention_date=intervention_date, notebook_dir=notebook_dir,
                            keep_outliers=keep_outliers, comparator_min_coverage=comparator_min_coverage,
                            force=force, shard=shard)
        # From here until the manifest is written at the end, the build folder holds no complete run.
        manifest.clear_manifest(build)
        workers = max(1, min(jobs or os.cpu_count() or 1, max(1, len(prepared.misses))))
        pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_initializer, initargs=(os.getpid(),))
        try:
            if warm_kernels and prepared.misses:
                for _ in range(workers):
                    pool.submit(_prewarm)
            summary = _execute(prepared, build, pool, workers, progress=progress, cross_site=cross_site,
                               force=force, warm_kernels=warm_kernels)
        except BaseException:
            kill_children()  # workers (and so their kernels) stop now, not after the notebook in hand
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        write_text_atomic(build / "run_status.json", json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n")
        manifest.write_manifest(build, build_manifest(summary, prepared, build))
        return summary


def _prewarm() -> int:
    """Start this worker's kernel (submitted once per worker at the start of a cold build)."""
    _warm_kernel()
    return os.getpid()


@dataclass
class Prepared:
    """A run checked and planned, before any worker starts."""

    todo: list[Job]
    misses: list[Job]
    hits: list[Outcome]
    keys: dict
    params: dict
    source: str
    folder: Path
    snapshot: Path
    sharded: bool
    shard: str
    notebook_dir: Path
    site_inputs: dict = field(default_factory=dict)
    site_sources: dict = field(default_factory=dict)


def _prepare(registry: Registry, build: Path, *, sites, domains, data_dir, intervention_date, notebook_dir,
             keep_outliers, comparator_min_coverage, force, shard) -> Prepared:
    """Read the data, check the parameters against them, work out every cache key: all before any worker."""
    from evaluation.evaluate.run import resolve_data_dir
    from evaluation.pipeline.parameters import check_run_parameters

    # Resolve (and, for the default, generate) the data once, before any notebook starts.
    folder, source = resolve_data_dir(data_dir, build)
    # Read the data once: for the checks, the cache keys, the data log, and a snapshot every notebook loads.
    snapshot = cache.panel_snapshot_path(folder, build)
    panel, reports = cache.cached_panel(folder, build, snapshot)
    if sites and "all" in sites:
        sites = national_site_ids(registry, panel)
    check_run_parameters(registry, sites=sites, domains=domains, data_dir=folder, intervention_date=intervention_date,
                         loaded=(panel, reports))
    todo = shard_jobs(plan(registry, sites, domains), shard)
    params = {"data_dir": str(folder), "intervention_date": intervention_date or "", "build_dir": str(build),
              "keep_outliers": bool(keep_outliers), "comparator_min_coverage": float(comparator_min_coverage)}
    write_data_log(reports, folder, build, panel, registry)
    accounting = _file_accounting(reports, folder)
    excluded = {s.ods_code for s in registry.sites}
    nb_dir = Path(notebook_dir) if notebook_dir else NOTEBOOK_DIR
    keys: dict[Job, str] = {}
    others: dict[tuple, str] = {}  # comparator rows' digest, shared by every site with the same exclusions
    site_inputs: dict[Job, list] = {}
    for job in todo:
        site = registry.site(job.site)
        measures = [m.id for m in registry.measures_for(job.domain)]
        memo = (job.domain, frozenset(excluded | {site.ods_code}))
        if memo not in others:
            others[memo] = cache.comparator_digest(panel, measures, set(memo[1]))
        data = cache.data_digest(panel, accounting, site.ods_code, measures, excluded, others[memo])
        keys[job] = cache.job_key(template=nb_dir / f"{job.domain}.ipynb",
                                  parameters=_cache_parameters(job, params, source), data=data)
        site_inputs[job] = input_files_of(cache.site_rows(panel, site.ods_code, measures), reports, folder)
    layouts = {lay.id: lay.source_kind for lay in registry.layouts}
    site_sources = {job.site: source_kind(source, [f[2] for j, fs in site_inputs.items() if j.site == job.site
                                                   for f in fs], layouts) for job in todo}
    hits: list[Outcome] = []
    misses: list[Job] = []
    for job in todo:
        entry = None if force else cache.lookup(build, job.site, job.domain, keys[job])
        if entry is None:
            misses.append(job)
        else:
            hits.append(Outcome(job.site, job.domain, True, 0.0, str(build / "notebooks" / job.site /
                                f"{job.domain}.ipynb"), cached=True, key=keys[job], executed_seconds=entry.seconds))
    return Prepared(todo, misses, hits, keys, params, source, folder, snapshot, bool(shard and shard[1] > 1),
                    f"{shard[0]}/{shard[1]}" if shard else "", nb_dir, site_inputs, site_sources)


def input_files_of(rows, reports: list, folder: Path) -> list[tuple[str, str, str]]:
    """``(path relative to the data folder, SHA-256, layout)`` of each input file that holds ``rows``."""
    names = {Path(str(p)).name for p in rows["source_file"].unique()} if len(rows) else set()
    out = set()
    for r in reports:
        if Path(r.path).name in names:
            try:
                rel = Path(r.path).resolve().relative_to(folder).as_posix()
            except ValueError:
                rel = Path(r.path).name
            out.add((rel, r.sha256, r.layout))
    return sorted(out)


def source_kind(run_source: str, layouts_read: list[str], kinds: dict[str, str]) -> str:
    """A site's data source kind: ``synthetic`` for the demonstration data; ``local`` when any file holding its
    rows is in a local template layout (``source_kind: local`` in data_dictionary/layouts.yaml); else
    ``published``."""
    if run_source == "synthetic":
        return "synthetic"
    return "local" if any(kinds.get(lay) == "local" for lay in layouts_read) else "published"


def _execute(prep: Prepared, build: Path, pool: ProcessPoolExecutor, workers: int, *, progress: bool,
             cross_site: bool, force: bool, warm_kernels: bool) -> RunSummary:
    """Run the cache misses, at most one per worker at a time (so "started" is when a notebook starts), then
    the cross-site synthesis."""
    outcomes: list[Outcome] = list(prep.hits)
    will_cross = cross_site and not prep.sharded and len({j.site for j in prep.todo}) >= 2
    with _Progress(progress, len(prep.todo) + int(will_cross)) as report:
        for o in prep.hits:
            report.finished(o)
        queue = list(prep.misses)
        running: dict[Future, Job] = {}
        while queue or running:
            while queue and len(running) < workers:
                job = queue.pop(0)
                report.started(job)
                running[pool.submit(execute_job, job, prep.params, str(build), str(prep.notebook_dir),
                                    warm_kernels)] = job
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: (running[f].site, running[f].domain)):
                job = running.pop(fut)
                outcome = fut.result()
                _record(build, job, prep.keys[job], outcome)
                outcomes.append(outcome)
                report.finished(outcome)
        if will_cross:
            pooled = [build / "results" / o.site / f"{o.domain}.json" for o in outcomes if o.ok]
            outcome = run_cross_site_job(build, prep.params, prep.source, outcomes, prep.notebook_dir, force=force,
                                         pool=pool if warm_kernels else None, fingerprint=prep.snapshot.stem,
                                         results_files=pooled, on_start=report.started)
            if outcome is None:
                report.skipped(CROSS_SITE_JOB, "fewer than two sites succeeded")
            else:
                outcomes.append(outcome)
                report.finished(outcome)
    outcomes.sort(key=lambda o: (o.site, o.domain))
    # A local extract read for any site makes the run's data "local" (the pages say so); else the folder's kind.
    source = "local" if "local" in prep.site_sources.values() else prep.source
    return RunSummary(outcomes, str(prep.folder), source, prep.params, prep.shard, prep.snapshot.stem)


def build_manifest(summary: RunSummary, prep: Prepared, build: Path) -> manifest.RunManifest:
    """The run manifest: one entry per site x domain asked for (and the cross-site synthesis when it ran)."""
    entries = []
    for o in summary.outcomes:
        job = Job(o.site, o.domain)
        cross = job == CROSS_SITE_JOB
        results = build / "synthesis" / "cross_site.json" if cross else build / "results" / o.site / f"{o.domain}.json"
        notebook = Path(o.notebook)
        ok = o.ok and results.is_file() and notebook.is_file()
        reason = o.error if not o.ok else ("" if ok else "the notebook wrote no results file")
        inputs = prep.site_inputs.get(job, [])
        entries.append(manifest.Analysis(
            site=o.site, domain=o.domain, status="ok" if ok else "failed", reason=reason,
            data_source=prep.source if cross else prep.site_sources.get(o.site, prep.source),
            inputs=manifest.input_files_for((p, h) for p, h, _ in inputs),
            results_file=_relative_to(results, build) if ok else "",
            results_sha256=sha256_file(results) if ok else "",
            notebook=_relative_to(notebook, build) if notebook.is_file() else "",
            notebook_sha256=sha256_file(notebook) if notebook.is_file() else "",
            cached=o.cached, seconds=round(o.seconds, 3)))
    params = {k: v for k, v in summary.parameters.items() if k != "build_dir"}
    return manifest.RunManifest(data_dir=summary.data_dir, data_source=summary.data_source,
                                parameters={**params, "shard": summary.shard}, analyses=entries)


def _relative_to(path: Path, build: Path) -> str:
    try:
        return path.resolve().relative_to(build).as_posix()
    except ValueError:
        return str(path)


def _record(build: Path, job: Job, key: str, outcome: Outcome) -> None:
    """Store a success in the cache (with the files it wrote); forget a failure."""
    outcome.key = key
    outcome.executed_seconds = outcome.seconds
    if outcome.ok:
        outputs = cache.outputs_of(build, _job_outputs(build, job))
        cache.store(build, job.site, job.domain, cache.CacheEntry(key, outcome.seconds, outputs))
    else:
        cache.forget(build, job.site, job.domain)


def run_cross_site_job(build: Path, params: dict, source: str, outcomes: list[Outcome],
                       notebook_dir: Path = NOTEBOOK_DIR, *, force: bool = False,
                       pool: ProcessPoolExecutor | None = None, fingerprint: str | None = None,
                       results_files: list[Path] | None = None, on_start=None) -> Outcome | None:
    """The cross-site notebook, from this run's successful site results files (``results_files``; by default
    those of the ``ok`` outcomes), when two or more sites succeeded (cached on those results, the panel
    snapshot, its template and the code). A results file of another run or of a failed analysis is never
    pooled."""
    if len({o.site for o in outcomes if o.ok and o.site != CROSS_SITE_JOB.site}) < 2:
        return None
    job = CROSS_SITE_JOB
    if results_files is None:
        results_files = [build / "results" / o.site / f"{o.domain}.json" for o in outcomes
                         if o.ok and o.site != CROSS_SITE_JOB.site]
    results = sorted(Path(p) for p in results_files if Path(p).is_file())
    params = {**params, "results_files": [str(p) for p in results]}
    snapshot = fingerprint or cache.panel_snapshot_path(Path(params["data_dir"]), build).stem
    data = sha256_bytes(f"{cache.tree_digest(results, build)}:{snapshot}".encode())
    key = cache.job_key(template=notebook_dir / f"{job.domain}.ipynb",
                        parameters=_cache_parameters(job, params, source), data=data)
    entry = None if force else cache.lookup(build, job.site, job.domain, key)
    if entry is not None:
        return Outcome(job.site, job.domain, True, 0.0, str(build / "notebooks" / "all" / "cross_site.ipynb"),
                       cached=True, key=key, executed_seconds=entry.seconds)
    if on_start is not None:
        on_start(job)
    if pool is not None:  # in a worker's warm kernel
        outcome = pool.submit(execute_job, job, params, str(build), str(notebook_dir), True).result()
    else:
        outcome = execute_job(job, params, str(build), str(notebook_dir))
    _record(build, job, key, outcome)
    return outcome


def merge_shards(shard_dirs: list[Path | str], build_dir: Path | str, *, progress: bool = False) -> RunSummary:
    """Gather the build folders of several shards into ``build_dir`` and run the cross-site notebook.

    The shards must have read the same data (the same panel fingerprint) with the same parameters; each
    site x domain may come from only one shard. Results, executed notebooks, figures, cache entries and the
    data log are copied; the outcomes are merged into one ``run_status.json``.
    """
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    statuses = []
    for d in shard_dirs:
        path = Path(d) / "run_status.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no run_status.json; expected the build folder of an 'evaluation run "
                                    "--shard K/N'")
        statuses.append((Path(d).resolve(), json.loads(path.read_text(encoding="utf-8"))))
    first = statuses[0][1]
    for d, st in statuses[1:]:
        for field_name in ("data_fingerprint", "data_source"):
            if st.get(field_name) != first.get(field_name):
                raise ValueError(f"{d / 'run_status.json'}: {field_name} {st.get(field_name)!r} differs from "
                                 f"{statuses[0][0] / 'run_status.json'} ({first.get(field_name)!r}); "
                                 "expected every shard to read the same data")
        mine = {k: v for k, v in st.get("parameters", {}).items() if k != "build_dir"}
        theirs = {k: v for k, v in first.get("parameters", {}).items() if k != "build_dir"}
        if mine != theirs:
            raise ValueError(f"{d / 'run_status.json'}: parameters differ from the first shard's; expected the "
                             "same parameters in every shard")
    outcomes: dict[tuple[str, str], Outcome] = {}
    for d, st in statuses:
        for sub in ("results", "notebooks", "figures", "cache"):
            if (d / sub).is_dir() and d != build:
                shutil.copytree(d / sub, build / sub, dirs_exist_ok=True)
        if d != build and (d / "data_log.json").is_file():
            shutil.copyfile(d / "data_log.json", build / "data_log.json")
        for raw in st.get("outcomes", []):
            o = Outcome(**raw)
            if (o.site, o.domain) == (CROSS_SITE_JOB.site, CROSS_SITE_JOB.domain):
                continue
            if (o.site, o.domain) in outcomes:
                raise ValueError(f"{d / 'run_status.json'}: {o.site} / {o.domain} is also in another shard; "
                                 "expected each notebook in exactly one shard")
            o.notebook = str(build / "notebooks" / o.site / f"{o.domain}.ipynb")
            outcomes[(o.site, o.domain)] = o
    params = {**first.get("parameters", {}), "build_dir": str(build)}
    merged = sorted(outcomes.values(), key=lambda o: (o.site, o.domain))
    panel_src = Path(params["data_dir"])
    if panel_src.is_dir():
        cache.cached_panel(panel_src, build)  # the cross-site notebook reads the snapshot
    shard_entries = _shard_analyses(statuses, build)
    with _Progress(progress, 1) as report:
        cross = run_cross_site_job(build, params, first["data_source"], merged, on_start=report.started)
        if cross is not None:
            merged.append(cross)
            report.finished(cross)
    merged.sort(key=lambda o: (o.site, o.domain))
    summary = RunSummary(merged, first["data_dir"], first["data_source"], params, "merged",
                         first.get("data_fingerprint", ""))
    write_text_atomic(build / "run_status.json", json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n")
    if cross is not None:
        results = build / "synthesis" / "cross_site.json"
        nb = Path(cross.notebook)
        ok = cross.ok and results.is_file() and nb.is_file()
        shard_entries.append(manifest.Analysis(
            site=cross.site, domain=cross.domain, status="ok" if ok else "failed", reason=cross.error,
            data_source=first["data_source"], results_file=_relative_to(results, build) if ok else "",
            results_sha256=sha256_file(results) if ok else "",
            notebook=_relative_to(nb, build) if nb.is_file() else "",
            notebook_sha256=sha256_file(nb) if nb.is_file() else "", cached=cross.cached))
    shard_entries.sort(key=lambda a: (a.site, a.domain))
    manifest.write_manifest(build, manifest.RunManifest(
        data_dir=first["data_dir"], data_source=first["data_source"],
        parameters={**{k: v for k, v in params.items() if k != "build_dir"}, "shard": "merged"},
        analyses=shard_entries))
    return summary


def _shard_analyses(statuses: list[tuple[Path, dict]], build: Path) -> list[manifest.Analysis]:
    """Every site x domain entry of the shards' manifests (each shard must have finished: it has one)."""
    entries = []
    for d, _ in statuses:
        for a in manifest.read_manifest(d).analyses:
            if (a.site, a.domain) != manifest.CROSS_SITE:
                entries.append(a)
    return entries


class _Progress:
    """One line when each notebook starts and when it ends (with its time), and a rich progress bar whose
    total counts only the notebooks this run will execute or take from the cache (plain lines when not a
    terminal)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total

    def __enter__(self) -> _Progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bar = Progress(TextColumn("notebooks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=self.console, disable=not self.enabled)
        self.task = self.bar.add_task("run", total=self.total)
        self.bar.__enter__()
        if self.enabled:
            self._line(f"{self.total} notebook(s) to run or take from the cache")
        return self

    def _line(self, text: str) -> None:
        if self.enabled:
            self.console.print(f"{time.strftime('%H:%M:%S')} {text}", markup=False, highlight=False)

    def started(self, job: Job) -> None:
        self._line(f"start  {job.site} / {job.domain}")

    def skipped(self, job: Job, why: str) -> None:
        self._line(f"skip   {job.site} / {job.domain}: {why}")
        self.total -= 1
        self.bar.update(self.task, total=self.total)

    def finished(self, o: Outcome) -> None:
        key = f" [key {o.key[:12]}]" if o.key else ""
        if o.cached:
            line = f"cached {o.site} / {o.domain}: unchanged, not re-executed{key}"
        else:
            mark = "done  " if o.ok else "FAILED"
            line = f"{mark} {o.site} / {o.domain} in {o.seconds:.1f}s{key}"
        if not o.ok:
            line += f": {o.error}"
        self._line(line)
        self.bar.advance(self.task)

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)
