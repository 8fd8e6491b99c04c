"""Execute the domain notebooks for each site with papermill, in parallel, isolating failures.

Each site x domain runs ``notebooks/<domain>.ipynb`` into ``<build>/notebooks/<site>/<domain>.ipynb``; the
notebook writes ``<build>/results/<site>/<domain>.json``. A failing notebook is reported with its site,
domain and the failing cell's error; the others still run; the run's exit status is then non-zero.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluation.registry import Registry, default_registry

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
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


#: The cross-site synthesis notebook: run once, after the site notebooks, from their results files.
CROSS_SITE_JOB = Job("all", "cross_site")


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


def execute_job(job: Job, parameters: dict, build_dir: str, notebook_dir: str | None = None) -> Outcome:
    """Run one notebook with papermill (in a worker process); never raises."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out = Path(build_dir) / "notebooks" / job.site / f"{job.domain}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    template = Path(notebook_dir or NOTEBOOK_DIR) / f"{job.domain}.ipynb"
    start = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        try:
            pm.execute_notebook(
                str(template),
                str(out),
                parameters={"site": job.site, **parameters},
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(build_dir),
            )
            _hide_injected_parameters(out)
            return Outcome(job.site, job.domain, True, time.perf_counter() - start, str(out), attempts=attempts)
        except PapermillExecutionError as exc:
            return Outcome(job.site, job.domain, False, time.perf_counter() - start, str(out),
                           _describe_failure(exc), attempts)
        except Exception as exc:  # kernel start-up and transport errors: retry, then report
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

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def to_dict(self) -> dict:
        return {
            "data_dir": self.data_dir,
            "data_source": self.data_source,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


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
) -> RunSummary:
    """Execute every chosen site x domain notebook, then the cross-site synthesis (when two or more sites
    succeeded and ``cross_site`` is true); write ``<build>/run_status.json``."""
    from evaluation.parameters import check_run_parameters
    from evaluation.workbook import resolve_data_dir

    registry = registry or default_registry()
    todo = plan(registry, sites, domains)
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    # Resolve (and, for the default, generate) the data once, before any kernel starts.
    folder, source = resolve_data_dir(data_dir, build)
    check_run_parameters(registry, sites=sites, domains=domains, data_dir=folder, intervention_date=intervention_date)
    params = {"data_dir": str(folder), "intervention_date": intervention_date or "", "build_dir": str(build),
              "keep_outliers": bool(keep_outliers), "comparator_min_coverage": float(comparator_min_coverage)}
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    outcomes: list[Outcome] = []
    nb_dir = str(notebook_dir) if notebook_dir else None
    with _Progress(progress, len(todo) + int(cross_site)) as advance:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(execute_job, job, params, str(build), nb_dir): job for job in todo}
            for fut in as_completed(futures):
                outcome = fut.result()
                outcomes.append(outcome)
                advance(outcome)
        if cross_site and len({o.site for o in outcomes if o.ok}) >= 2:
            outcome = execute_job(CROSS_SITE_JOB, params, str(build), nb_dir)
            outcomes.append(outcome)
            advance(outcome)
    outcomes.sort(key=lambda o: (o.site, o.domain))
    summary = RunSummary(outcomes, str(folder), source)
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
            mark = "ok    " if o.ok else "FAILED"
            line = f"{mark} {o.site} / {o.domain} in {o.seconds:.1f}s"
            if not o.ok:
                line += f": {o.error}"
            if self.enabled:
                self.console.print(line, markup=False, highlight=False)
            self.bar.advance(self.task)

        return advance

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)
