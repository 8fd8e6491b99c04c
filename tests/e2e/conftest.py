"""Shared end-to-end fixtures: the synthetic default built once per test session, and its website built once.

``built_results`` runs every site x domain notebook and the cross-site synthesis; ``built_site`` assembles
those results into a copy of ``docs/`` (``evaluation assemble``) and builds it with ``sphinx-build -W``. Every
e2e test that needs a build or a site uses these, so the notebooks and Sphinx run once per session.

``EVALUATION_TEST_BUILD`` names a build folder to use instead of a temporary one (``nox -s tests`` sets it to the
repository's ``build/``, so a ``nox -s browser`` in the same invocation finds every notebook in the cache and
executes none). Reusing a folder is still a real build of the code under test: the run's cache key covers the
notebook templates, the package source, the data dictionary, the locked dependencies and the data rows, so a
notebook whose inputs changed is executed again, and the run manifest is rewritten by this run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.pipeline.runner import run

ROOT = Path(__file__).resolve().parents[2]
#: The environment variable naming the session build folder (empty or unset: a temporary folder).
BUILD_ENV = "EVALUATION_TEST_BUILD"


def session_build_dir(tmp_path_factory) -> Path:
    """Where the session build goes: ``$EVALUATION_TEST_BUILD`` when set, else a fresh temporary folder."""
    chosen = os.environ.get(BUILD_ENV, "").strip()
    return Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("session_build")


@pytest.fixture(scope="session")
def built_results(tmp_path_factory) -> Path:
    """A build folder holding the synthetic default run (all sites, all domains), made once per session.
    Tests read it or copy it; none may change it."""
    build = session_build_dir(tmp_path_factory)
    summary = run(build_dir=build, progress=False)
    failures = [f"{o.site}/{o.domain}: {o.error}" for o in summary.failed]
    assert not failures, failures
    assert summary.data_source == "synthetic"
    return build


@pytest.fixture(scope="session")
def built_site(built_results: Path, tmp_path_factory) -> Path:
    """The HTML of ``built_results`` assembled into a copy of docs/ and built by Sphinx with warnings as errors."""
    tmp = tmp_path_factory.mktemp("session_site")
    docs = tmp / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    assemble = subprocess.run([sys.executable, "-m", "evaluation", "assemble", "--build-dir", str(built_results),
                               "--docs-dir", str(docs)], capture_output=True, text=True)
    assert assemble.returncode == 0, assemble.stderr[-3000:]
    out = tmp / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(docs),
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture
def demo_data(tmp_path: Path) -> Path:
    """A fresh copy of the synthetic demonstration data (what a default run generates), for tests that change
    the data or run on it without needing the session build: they can then run on any test worker."""
    from evaluation.demo.generator import generate

    folder = tmp_path / "demo_data"
    generate(folder)
    return folder
