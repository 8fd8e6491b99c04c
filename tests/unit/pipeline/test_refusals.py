"""Refuse early (#12 item 7, #14 item 3): parameters, the data folder and the build folder are checked, and the
build folder locked, before any worker or kernel starts; each refusal is one line with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.pipeline.lifetime import BuildLock
from evaluation.pipeline.parameters import ParameterError, check_build_dir, check_request, normalise_site_ids

ROOT = Path(__file__).resolve().parents[3]


def _evaluation(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "evaluation", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)
    return proc, time.perf_counter() - start


def test_unknown_site_is_refused_in_under_three_seconds(tmp_path):
    proc, seconds = _evaluation("run", "--site", "narnia", "--build-dir", str(tmp_path / "b"))
    print(f"evaluation run --site narnia refused in {seconds:.2f}s")
    assert proc.returncode == 2
    assert seconds < 3.0, seconds
    assert proc.stderr.count("\n") == 1 and "unknown site 'narnia'" in proc.stderr
    assert not (tmp_path / "b").exists(), "nothing was created for a refused run"


@pytest.mark.parametrize(("args", "expected"), [
    (["--domain", "crisis"], "unknown domain 'crisis'"),
    (["--intervention-date", "2021-13"], "is not a date"),
    (["--site", "org_RX4"], "no go-live date"),
    (["--data-dir", "/no/such/folder"], "does not exist"),
    (["--build-dir", ""], "--build-dir is empty"),
])
def test_bad_parameters_are_refused_in_one_line_before_any_work(tmp_path, args, expected):
    if "--build-dir" not in args:
        args = [*args, "--build-dir", str(tmp_path / "b")]
    proc, seconds = _evaluation("run", *args)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert seconds < 3.0, seconds
    assert not (tmp_path / "b").exists()


def test_build_folder_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "build"
    f.write_text("not a folder")
    with pytest.raises(ParameterError, match="is a file"):
        check_build_dir(f, tmp_path)
    with pytest.raises(ParameterError, match="is a file"):
        check_build_dir(f / "inside", tmp_path)


def test_build_folder_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    # The tests run as root, for whom chmod does not stop writes: the permission check itself is exercised.
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(ParameterError, match="is not writable"):
        check_build_dir(tmp_path, tmp_path)
    with pytest.raises(ParameterError, match="cannot be created"):
        check_build_dir("/proc/evaluation-build", tmp_path)  # a read-only file system


def test_empty_build_dir_is_refused_and_none_means_the_default(tmp_path):
    with pytest.raises(ParameterError, match="empty"):
        check_build_dir("", tmp_path)
    assert check_build_dir(None, tmp_path / "default") == (tmp_path / "default").resolve()


def test_second_run_on_a_locked_build_folder_is_refused_in_one_line(tmp_path):
    """Fault test: two runs at once on one build folder."""
    build = tmp_path / "b"
    build.mkdir()
    with BuildLock(build):
        proc, seconds = _evaluation("run", "--site", "dorset", "--build-dir", str(build))
        again, _ = _evaluation("assemble", "--build-dir", str(build), "--docs-dir", str(tmp_path / "docs"))
    assert proc.returncode == 2 and "is in use by process" in proc.stderr and proc.stderr.count("\n") == 1
    assert again.returncode == 2 and "is in use" in again.stderr
    assert seconds < 3.0
    assert not (build / "run_manifest.json").exists() and not (build / "results").exists()


def test_organisation_site_ids_accept_any_case():
    assert normalise_site_ids(["org_RX4", "ORG_rx4", "dorset"]) == ["org_rx4", "org_rx4", "dorset"]
    check_request(default_registry(), sites=["org_RX4"], domains=None, intervention_date="2022-04")
