"""Shared end-to-end fixtures: the synthetic default built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.pipeline.runner import run


@pytest.fixture(scope="session")
def built_results(tmp_path_factory) -> Path:
    """A build folder holding the synthetic default run (all sites, all domains), made once per session."""
    build = tmp_path_factory.mktemp("session_build")
    summary = run(build_dir=build, progress=False)
    failures = [f"{o.site}/{o.domain}: {o.error}" for o in summary.failed]
    assert not failures, failures
    return build
