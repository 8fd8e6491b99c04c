"""nox sessions: the only entry points CI and a new user need.

    nox -s site        build the whole site from the synthetic default (notebooks + docs); options after --
                       go to `evaluation run`, e.g. -- --site dorset --domain crisis_demand
    nox -s run         any `evaluation` command in the project's environment, e.g. -- sites, -- run --site dorset
    nox -s lab         JupyterLab on notebooks/ with the project's kernel (-- --no-browser on a remote machine)
    nox -s tests       unit tests, the notebooks end to end (built into build/tests), and (where ../shared/data
                       exists) the real files; prints the slowest tests
    nox -s lint        ruff
    nox -s notebooks   execute the notebooks (pass runner options after --, e.g. -- --data-dir DIR)
    nox -s docs        assemble and build the Sphinx site from the executed notebooks
    nox -s realdata    the four sites on the published NHS files in ../shared/data/real and real-extra
    nox -s browser     build the site and check every page in headless Chromium (console, images, links, axe);
                       reuses build/tests, so after `nox -s tests` no notebook runs again
    nox -s validate    validation of the methods by simulation (refreshes docs/method_validation_results.md)
    nox -s bench       benchmarks that print their figures
    nox -s spark       record-level measures: DuckDB and Spark give identical results (installs pyspark and Java)
    nox -s lock        regenerate requirements.lock and requirements-lab.lock from pyproject.toml

Every session installs the locked dependencies itself (uv when available, else pip), so a fresh clone needs
only Python 3.11+ and ``pip install nox``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
#: What every session but ``lab`` installs: the package's dependencies and the development tools.
LOCK = "requirements.lock"
#: The same pins plus JupyterLab and nbconvert (the ``lab`` extra), for ``nox -s lab``. Kept out of the other
#: sessions: JupyterLab brings jsonschema's format checkers, whose grammar library (rfc3987-syntax, lark) took
#: about 2 s at start-up in every process that imports nbformat: each notebook kernel, each runner worker and
#: each Sphinx build.
LAB_LOCK = "requirements-lab.lock"
REAL_DATA = ROOT.parent / "shared" / "data" / "real"
#: Supplementary published files (workforce, population, 4-week waits) read together with REAL_DATA.
REAL_EXTRA = REAL_DATA.parent / "real-extra"
#: The synthetic default build the tests session makes (tests/e2e/conftest.py reads EVALUATION_TEST_BUILD) and
#: the browser session reuses: in `nox -s lint tests browser` the browser's run is all cache hits.
TEST_BUILD = "build/tests"
#: Every core: pytest-xdist, with the tests that share the session build kept on one worker (tests/conftest.py
#: groups them), the others spread.
PARALLEL = ["-n", "auto", "--dist", "loadgroup"]
#: Slowest tests printed at the end of `nox -s tests`.
DURATIONS = "--durations=25"

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = False


def _install(session: nox.Session, lock: str = LOCK) -> None:
    # Bytecode is written when a module is first imported, not compiled for every file at install time: the
    # environment holds about 10,000 modules (pandas' and scipy's own test suites among them) and the build,
    # its kernels, Sphinx and the tests import under 3,000, so compiling every one cost 25-35 s of both cores
    # per environment. Python writes each .pyc atomically, so test workers and kernels that import a module
    # at the same moment are safe. CI machines often set PYTHONDONTWRITEBYTECODE; an empty value turns it off
    # for the session, so every process after the first reads bytecode instead of compiling again.
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    no_compile = [] if session.venv_backend == "uv" else ["--no-compile"]  # uv never compiles unless asked
    session.install(*no_compile, "-r", lock)
    session.install(*no_compile, "--no-deps", "-e", ".")


def _run_notebooks(session: nox.Session, args: list[str], build_dir: str = "build") -> None:
    session.run("evaluation", "run", "--build-dir", build_dir, *args)


def sphinx_command(source: str, out: str) -> list[str]:
    """The Sphinx build: warnings are errors, and the first one stops it (no --keep-going, so a failed build
    leaves nothing half-written that could be mistaken for a site)."""
    return ["sphinx-build", "-W", "-q", "-b", "html", source, out]


def _build_docs(session: nox.Session, build_dir: str = "build") -> None:
    """assemble, then Sphinx into a temporary folder that replaces docs/_build/html only when the build and the
    disclosure check succeed; an incremental build (only changed pages are read again) when the last site came
    from the same build folder."""
    out = ROOT / "docs" / "_build"
    html = out / "html"
    stamp = out / "built_from.txt"
    source = str((ROOT / build_dir).resolve())
    if out.exists() and (not stamp.is_file() or stamp.read_text(encoding="utf-8") != source):
        shutil.rmtree(out)  # a page built from another build folder (another data source) must never survive
    session.run("evaluation", "assemble", "--build-dir", build_dir, "--docs-dir", "docs")
    out.mkdir(parents=True, exist_ok=True)
    staging = out / "html.new"
    shutil.rmtree(staging, ignore_errors=True)
    if html.is_dir():  # start from the last site so Sphinx's incremental build still applies
        shutil.copytree(html, staging, symlinks=True)
    # One process: on 2 cores, -j auto was no faster (50 sites: 116 s against 109 s) and its forked readers
    # doubled peak memory (2.1 GB against 0.94 GB), measured by benchmarks/build.py.
    try:
        session.run(*sphinx_command("docs", str(staging)))
        # Pages and downloads: no published count may break the rule.
        session.run("evaluation", "check-disclosure", str(staging))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish_folder(staging, html)
    stamp.write_text(source, encoding="utf-8")
    session.log(f"site built: {html / 'index.html'}")


def publish_folder(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging``: two renames, so the published folder is the old site or the new one."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def lab_command(args: list[str]) -> list[str]:
    """JupyterLab on notebooks/ with this environment's Python as the kernel (it has the package installed)."""
    return ["jupyter", "lab", f"--notebook-dir={ROOT / 'notebooks'}", *args]


@nox.session
def site(session: nox.Session) -> None:
    """Execute every notebook and build the site into docs/_build/html."""
    _install(session)
    _run_notebooks(session, list(session.posargs))
    _build_docs(session)


@nox.session
def run(session: nox.Session) -> None:
    """Any `evaluation` command in the project's environment: nox -s run -- run --site dorset (default: --help)."""
    _install(session)
    session.run("evaluation", *(session.posargs or ["--help"]))


@nox.session
def lab(session: nox.Session) -> None:
    """JupyterLab on notebooks/ with the project's kernel; notebooks write to the repository's build/."""
    _install(session, LAB_LOCK)  # the build's pins plus jupyterlab (the lab extra)
    # The kernel the notebooks name ("python3") is this environment's own Python.
    session.run("python", "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3",
                "--display-name", "Python 3 (evaluation)")
    session.run(*lab_command(list(session.posargs)))


@nox.session
def notebooks(session: nox.Session) -> None:
    """Execute the domain notebooks for every site (options after --)."""
    _install(session)
    _run_notebooks(session, list(session.posargs))


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx site from the notebooks already executed into build/."""
    _install(session)
    _build_docs(session)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests, the notebooks end to end on the synthetic default, and the real files where present."""
    _install(session)
    session.run("pytest", *tests_command(session.posargs)[1:], env={"EVALUATION_TEST_BUILD": str(ROOT / TEST_BUILD)})


def tests_command(posargs: list[str]) -> list[str]:
    """The tests session's pytest command: every core, and the slowest tests listed at the end. No coverage:
    on Python 3.11 its line tracing made the in-process tests 70% slower (methods: 140 s against 82 s), so it
    has its own session."""
    return ["pytest", *PARALLEL, DURATIONS, *posargs]


@nox.session
def coverage(session: nox.Session) -> None:
    """The tests session's suite with line coverage of the package (a report of the lines no test runs)."""
    _install(session)
    session.run("pytest", *PARALLEL, "--cov=evaluation", "--cov-report=term-missing:skip-covered", DURATIONS,
                *session.posargs, env={"EVALUATION_TEST_BUILD": str(ROOT / TEST_BUILD)})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (style, bugs and security rules)."""
    session.install("ruff")
    session.run("ruff", "check", "evaluation", "tests", "benchmarks", "noxfile.py", "docs/conf.py")


@nox.session
def realdata(session: nox.Session) -> None:
    """Evaluate the four sites on the published NHS files and build that site into build/real."""
    if not REAL_DATA.is_dir():
        session.skip(f"no published files at {REAL_DATA}")
    _install(session)
    extra = ["--data-dir", str(REAL_EXTRA)] if REAL_EXTRA.is_dir() else []
    _run_notebooks(session, ["--data-dir", str(REAL_DATA), *extra, *session.posargs], build_dir="build/real")
    _build_docs(session, build_dir="build/real")


@nox.session(venv_backend="uv|virtualenv")
def lock(session: nox.Session) -> None:
    """Regenerate the lock files (universal, Python 3.11+) from pyproject.toml: the lab lock first, then the
    build's lock constrained by it, so a package both hold has one version in both."""
    session.install("uv")
    common = ["--universal", "--python-version", "3.11"]
    session.run("uv", "pip", "compile", "pyproject.toml", "--extra", "dev", "--extra", "lab", *common,
                "-o", LAB_LOCK)
    session.run("uv", "pip", "compile", "pyproject.toml", "--extra", "dev", *common, "-c", LAB_LOCK, "-o", LOCK)


@nox.session
def browser(session: nox.Session) -> None:
    """Build the site, then check every page in headless Chromium: console, images, links, axe-core.

    Uses Debian's chromium and chromium-driver (installed with apt-get when missing and run as root) and
    axe-core from the npm registry; nothing else is downloaded. Screenshots go to build/browser/screenshots.
    """
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "chromium", "chromium-driver", external=True,
                    env={"DEBIAN_FRONTEND": "noninteractive"})
    _install(session)
    if "--no-build" not in session.posargs:  # other options go to the runner, e.g. -- --data-dir DIR
        runner_args = [a for a in session.posargs if a != "--no-build"]
        build_dir = browser_build_dir(runner_args)
        _run_notebooks(session, runner_args, build_dir=build_dir)
        _build_docs(session, build_dir=build_dir)
    axe = session.run("bash", "tests/browser/install_axe.sh", "build/browser", external=True, silent=True)
    axe_path = (axe or "").strip().splitlines()[-1]
    # The check checked first: on a four-page site of its own, which axe rules run after a scheme switch.
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/browser/test_site_check.py",
                env={"AXE_JS": axe_path})
    session.run("python", "tests/browser/site_check.py", "--site", "docs/_build/html", "--axe", axe_path,
                "--screenshots", "build/browser/screenshots")


def browser_build_dir(runner_args: list[str]) -> str:
    """The synthetic default is checked from the tests session's build folder (after `nox -s tests` every
    notebook is a cache hit; alone, the browser session builds it there); a run with options gets build/."""
    return "build" if runner_args else TEST_BUILD


@nox.session
def validate(session: nox.Session) -> None:
    """Validation by simulation: 500 replicates per scenario; refreshes the site's Method validation table."""
    _install(session)
    session.run("evaluation", "simulate", "--replicates", "500", "--out", "build/validation",
                "--docs-fragment", "docs/method_validation_results.md", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks that print their figures: reading the 86 MB MHSDS file, then whole builds (cold, no-change,
    one site changed, the naive way, and 4 to 50 sites) into build/bench.json. Options after -- go to
    benchmarks/build.py (e.g. -- --sizes 4,12 --skip-naive)."""
    _install(session)
    session.run("python", "benchmarks/read_mhsds.py")
    session.run("python", "benchmarks/build.py", *session.posargs)


@nox.session
def spark(session: nox.Session) -> None:
    """The record-level SQL on Apache Spark: installs pyspark (the ``spark`` extra) and, where ``java`` is
    missing, Debian's headless JRE, then runs the tests marked ``spark`` (DuckDB and Spark identical)."""
    if shutil.which("java") is None:
        # Spark 4 needs Java 17 or later; Debian's headless runtime is the smallest that works.
        session.run("apt-get", "update", external=True)
        session.run("apt-get", "install", "-y", "--no-install-recommends", "openjdk-17-jre-headless", external=True)
    _install(session)
    # duckdb and sqlglot are runtime dependencies; named here too until requirements.lock carries them.
    session.install("pyspark>=3.5", "duckdb>=1.1", "sqlglot>=25.0")
    session.run("pytest", "-m", "spark", "tests/unit/sources", *session.posargs, env={"EVALUATION_SPARK_TESTS": "1"})
