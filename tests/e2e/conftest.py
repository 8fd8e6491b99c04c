"""Shared end-to-end fixtures: the synthetic default built once per test session, and its website built once.

``built_results`` runs every site x domain notebook and the cross-site synthesis; ``built_site`` assembles
those results into a copy of ``docs/`` (``evaluation assemble``) and builds it with ``sphinx-build -W``. Every
e2e test that needs a build or a site uses these, so the notebooks and Sphinx run once per session.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.pipeline.runner import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_results(tmp_path_factory) -> Path:
    """A build folder holding the synthetic default run (all sites, all domains), made once per session."""
    build = tmp_path_factory.mktemp("session_build")
    summary = run(build_dir=build, progress=False)
    failures = [f"{o.site}/{o.domain}: {o.error}" for o in summary.failed]
    assert not failures, failures
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
