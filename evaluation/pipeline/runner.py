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

import contextlib
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evaluation.dictionary.registry import Registry, default_registry, organisation_site_id
from evaluation.paths import NOTEBOOK_DIR
from evaluation.pipeline import cache
from evaluation.provenance import sha256_bytes

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
            # The kernel's own stderr carries only start-up chatter (a transport warning); errors in cells come
            # back through the messaging protocol, and a command's refusal must stay one line on stderr.
            km.start_kernel(stderr=subprocess.DEVNULL)
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
    start = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        try:
            extra = {}
            if warm:
                km = _warm_kernel()
                _execute_silently(km, _RESET_KERNEL)
                extra["km"] = km
            pm.execute_notebook(
                str(template),
                str(out),
                parameters={"site": job.site, **parameters},
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(build_dir),
                # Written once at the end instead of after every cell: the outputs hold the charts.
                request_save_on_cell_execute=False,
                **extra,
            )
            _hide_injected_parameters(out)
            return Outcome(job.site, job.domain, True, time.perf_counter() - start, str(out), attempts=attempts)
        except PapermillExecutionError as exc:
            if warm:
                _discard_kernel()
            return Outcome(job.site, job.domain, False, time.perf_counter() - start, str(out),
                           _describe_failure(exc), attempts)
        except Exception as exc:  # kernel start-up and transport errors: retry, then report
            if warm:
                _discard_kernel()
            if attempts <= KERNEL_RETRIES:
                time.sleep(0.5 * attempts)
                continue
            return Outcome(job.site, job.domain, False, time.perf_counter() - start, str(out),
                           _describe_failure(exc), attempts)


def _hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell`` so the site never shows it (papermill does
    not copy the template's tags to the cell it injects)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, path)


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
    path = build / "data_log.json"
    path.write_text(json.dumps({"files": files}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _cache_parameters(job: Job, params: dict, source: str) -> dict:
    """The parameters that enter a key: where the data and the build live does not change the results."""
    keep = {k: v for k, v in params.items() if k not in ("data_dir", "build_dir")}
    return {"site": job.site, "domain": job.domain, "data_source": source, **keep}


def run(
    *,
    sites: list[str] | None = None,
    domains: list[str] | None = None,
    data_dir: str | None = None,
    intervention_date: str = "",
    build_dir: str | Path = "build",
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
    shard of several); write ``<build>/run_status.json`` and ``<build>/data_log.json``.

    The parameters are checked against the registry and the data before any notebook starts
    (:func:`evaluation.pipeline.parameters.check_run_parameters`).
    ``sites=["all"]`` evaluates every mental health provider in the data (:func:`national_site_ids`).
    ``force`` re-executes everything; ``shard=(k, n)`` runs only the k-th of n slices of the notebooks.
    """
    registry = registry or default_registry()
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        workers = max(1, jobs or os.cpu_count() or 1)
        pool = ProcessPoolExecutor(max_workers=workers)
        stack.enter_context(pool)
        # On a cold build, start the workers' kernels now, while this process reads the data and works out the
        # cache keys; on a warm one most notebooks are hits and the kernels would only cost start-up time.
        if warm_kernels and (force or not any((build / "cache").glob("*/*.json"))):
            for _ in range(workers):
                pool.submit(_prewarm)
        return _run(registry, build, pool, sites=sites, domains=domains, data_dir=data_dir,
                    intervention_date=intervention_date, progress=progress, notebook_dir=notebook_dir,
                    keep_outliers=keep_outliers, cross_site=cross_site,
                    comparator_min_coverage=comparator_min_coverage, force=force, shard=shard,
                    warm_kernels=warm_kernels)


def _prewarm() -> int:
    """Start this worker's kernel (submitted once per worker at the start of a cold build)."""
    _warm_kernel()
    return os.getpid()


def _run(registry: Registry, build: Path, pool: ProcessPoolExecutor, *, sites, domains, data_dir, intervention_date,
         progress, notebook_dir, keep_outliers, cross_site, comparator_min_coverage, force, shard,
         warm_kernels) -> RunSummary:
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
    sharded = bool(shard and shard[1] > 1)
    params = {"data_dir": str(folder), "intervention_date": intervention_date or "", "build_dir": str(build),
              "keep_outliers": bool(keep_outliers), "comparator_min_coverage": float(comparator_min_coverage)}
    write_data_log(reports, folder, build, panel, registry)
    accounting = _file_accounting(reports, folder)
    excluded = {s.ods_code for s in registry.sites}
    nb_dir = Path(notebook_dir) if notebook_dir else NOTEBOOK_DIR
    keys: dict[Job, str] = {}
    others: dict[tuple, str] = {}  # comparator rows' digest, shared by every site with the same exclusions
    for job in todo:
        site = registry.site(job.site)
        measures = [m.id for m in registry.measures_for(job.domain)]
        memo = (job.domain, frozenset(excluded | {site.ods_code}))
        if memo not in others:
            others[memo] = cache.comparator_digest(panel, measures, set(memo[1]))
        data = cache.data_digest(panel, accounting, site.ods_code, measures, excluded, others[memo])
        keys[job] = cache.job_key(template=nb_dir / f"{job.domain}.ipynb",
                                  parameters=_cache_parameters(job, params, source), data=data)
    outcomes: list[Outcome] = []
    misses: list[Job] = []
    for job in todo:
        entry = None if force else cache.lookup(build, job.site, job.domain, keys[job])
        if entry is None:
            misses.append(job)
        else:
            outcomes.append(Outcome(job.site, job.domain, True, 0.0, str(build / "notebooks" / job.site /
                                    f"{job.domain}.ipynb"), cached=True, key=keys[job],
                                    executed_seconds=entry.seconds))
    with _Progress(progress, len(todo) + int(cross_site and not sharded)) as advance:
        for o in outcomes:
            advance(o)
        futures = {pool.submit(execute_job, job, params, str(build), str(nb_dir), warm_kernels): job
                   for job in misses}
        for fut in as_completed(futures):
            job = futures[fut]
            outcome = fut.result()
            _record(build, job, keys[job], outcome)
            outcomes.append(outcome)
            advance(outcome)
        if cross_site and not sharded:
            outcome = run_cross_site_job(build, params, source, outcomes, nb_dir, force=force,
                                         pool=pool if warm_kernels else None, fingerprint=snapshot.stem)
            if outcome is not None:
                outcomes.append(outcome)
                advance(outcome)
    outcomes.sort(key=lambda o: (o.site, o.domain))
    summary = RunSummary(outcomes, str(folder), source, params,
                         f"{shard[0]}/{shard[1]}" if shard else "", snapshot.stem)
    (build / "run_status.json").write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n")
    return summary


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
                       pool: ProcessPoolExecutor | None = None, fingerprint: str | None = None) -> Outcome | None:
    """The cross-site notebook, from the site results files, when two or more sites succeeded (cached on
    those results, the panel snapshot, its template and the code)."""
    if len({o.site for o in outcomes if o.ok and o.site != CROSS_SITE_JOB.site}) < 2:
        return None
    job = CROSS_SITE_JOB
    results = sorted((build / "results").rglob("*.json"))
    snapshot = fingerprint or cache.panel_snapshot_path(Path(params["data_dir"]), build).stem
    data = sha256_bytes(f"{cache.tree_digest(results, build)}:{snapshot}".encode())
    key = cache.job_key(template=notebook_dir / f"{job.domain}.ipynb",
                        parameters=_cache_parameters(job, params, source), data=data)
    entry = None if force else cache.lookup(build, job.site, job.domain, key)
    if entry is not None:
        return Outcome(job.site, job.domain, True, 0.0, str(build / "notebooks" / "all" / "cross_site.ipynb"),
                       cached=True, key=key, executed_seconds=entry.seconds)
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
    with _Progress(progress, 1) as advance:
        cross = run_cross_site_job(build, params, first["data_source"], merged)
        if cross is not None:
            merged.append(cross)
            advance(cross)
    merged.sort(key=lambda o: (o.site, o.domain))
    summary = RunSummary(merged, first["data_dir"], first["data_source"], params, "merged",
                         first.get("data_fingerprint", ""))
    (build / "run_status.json").write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n")
    return summary


class _Progress:
    """A rich progress bar with one log line per finished notebook (plain lines when not a terminal)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bar = Progress(TextColumn("notebooks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=self.console, disable=not self.enabled)
        self.task = self.bar.add_task("run", total=self.total)
        self.bar.__enter__()

        def advance(o: Outcome) -> None:
            key = f" [key {o.key[:12]}]" if o.key else ""
            if o.cached:
                line = f"cached {o.site} / {o.domain}: cache hit, not re-executed{key}"
            else:
                mark = "ok    " if o.ok else "FAILED"
                line = f"{mark} {o.site} / {o.domain} in {o.seconds:.1f}s (cache miss){key}"
            if not o.ok:
                line += f": {o.error}"
            if self.enabled:
                self.console.print(line, markup=False, highlight=False)
            self.bar.advance(self.task)

        return advance

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)
