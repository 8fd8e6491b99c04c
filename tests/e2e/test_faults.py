"""Fault tests (#14 item 3): a killed run, stale and deleted results files never reach a published site; the
site's inputs (manifest -> assemble output) are always exactly one run. One real notebook run is shared."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.provenance import sha256_file as sha256_path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    """Dorset's staff retention (the notebook with the fewest charts) on the synthetic default: one finished
    run with its manifest."""
    build = tmp_path_factory.mktemp("faults") / "build"
    assert main(["run", "--site", "dorset", "--domain", "staff_retention", "--build-dir", str(build), "--quiet"]) == 0
    assert (build / "run_manifest.json").is_file()
    return build


def _copy(build: Path, tmp_path: Path) -> tuple[Path, Path]:
    b = tmp_path / "build"
    shutil.copytree(build, b, ignore=shutil.ignore_patterns(".lock"))
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    return b, docs


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = (task / "children")
            if children.is_file():
                for c in children.read_text().split():
                    if int(c) not in out:
                        out.add(int(c))
                        todo.append(int(c))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_assemble_publishes_only_the_manifest_run_never_stale_files(one_run, tmp_path):
    """Fault test: stale results — another site's results file from an older run sits in results/."""
    build, docs = _copy(one_run, tmp_path)
    stale = build / "results" / "bradford" / "staff_retention.json"
    stale.parent.mkdir(parents=True)
    shutil.copyfile(build / "results" / "dorset" / "staff_retention.json", stale)
    assert main(["assemble", "--build-dir", str(build), "--docs-dir", str(docs)]) == 0
    generated = docs / "_generated"
    assert sorted(p.name for p in (generated / "sites").iterdir()) == ["dorset"]
    overview = (generated / "fragments" / "overview.md").read_text(encoding="utf-8")
    assert "Bradford" not in overview and "Dorset" in overview
    csv = (generated / "downloads" / "results_all_sites.csv").read_text(encoding="utf-8")
    assert "bradford" not in csv


def test_deleted_results_file_shows_as_failed_with_its_reason(one_run, tmp_path, capsys):
    """Fault test: a results file deleted after the run."""
    build, docs = _copy(one_run, tmp_path)
    (build / "results" / "dorset" / "staff_retention.json").unlink()
    assert main(["assemble", "--build-dir", str(build), "--docs-dir", str(docs)]) == 0
    assert "was deleted after the run" in capsys.readouterr().err
    generated = docs / "_generated"
    assert not (generated / "sites" / "dorset" / "staff_retention.ipynb").exists()
    overview = (generated / "fragments" / "overview.md").read_text(encoding="utf-8")
    assert "Analysis failed" in overview and "was deleted after the run" in overview


def _interruptible() -> None:
    """The runner as a command typed at a terminal: Ctrl-C (SIGINT) interrupts it. A test suite started in the
    background of a script inherits SIGINT ignored, and Python then leaves it ignored (as a command should:
    Ctrl-C at the terminal is not meant for background jobs), so the SIGINT case would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process tree read from /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_run_leaves_no_process_and_nothing_to_publish(one_run, tmp_path, sig):
    """Fault test: the runner killed mid-run (SIGKILL, SIGTERM, SIGINT). Its workers and kernels die with it; the
    executed notebook it was rewriting is untouched (temp file + rename); no manifest, so assemble refuses in
    one line."""
    build, docs = _copy(one_run, tmp_path)
    notebook = build / "notebooks" / "dorset" / "staff_retention.ipynb"
    before = sha256_path(notebook)
    proc = subprocess.Popen([sys.executable, "-m", "evaluation", "run", "--site", "dorset", "--domain",
                             "staff_retention", "--build-dir", str(build), "--force"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV, cwd=ROOT,
                            preexec_fn=_interruptible)
    for line in proc.stderr:
        if "start  dorset / staff_retention" in line:
            break
    deadline = time.monotonic() + 60
    children: set[int] = set()
    while time.monotonic() < deadline and len(children) < 2:  # the worker and its kernel
        time.sleep(0.5)
        children = _descendants(proc.pid)
    assert len(children) >= 2, children
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=20) != 0
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in children if _alive(p)], "a worker or kernel outlived the killed runner"
    assert sha256_path(notebook) == before
    assert not (build / "run_manifest.json").exists()
    out = subprocess.run([sys.executable, "-m", "evaluation", "assemble", "--build-dir", str(build), "--docs-dir",
                          str(docs)], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "no run manifest" in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert not (docs / "_generated").exists()
