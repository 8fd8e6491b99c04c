"""Workers and kernels die with the runner (#14 item 3): the parent-death signal chain runner -> worker ->
kernel, tested with the same initializer and preexec function the runner uses, on plain processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation.pipeline.lifetime import BuildFolderBusyError, BuildLock

ROOT = Path(__file__).resolve().parents[3]

RUNNER = """
import os, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from evaluation.pipeline.lifetime import kernel_preexec, worker_initializer

def job():
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=kernel_preexec,
                              start_new_session=True)
    print(os.getpid(), kernel.pid, flush=True)
    time.sleep(120)

if __name__ == "__main__":
    with ProcessPoolExecutor(1, initializer=worker_initializer, initargs=(os.getpid(),)) as pool:
        pool.submit(job).result()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_worker_and_kernel_die_with_the_runner(tmp_path, sig):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    worker, kernel = (int(x) for x in proc.stdout.readline().split())
    assert _alive(worker) and _alive(kernel)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while (_alive(worker) or _alive(kernel)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), "worker outlived the runner"
    assert not _alive(kernel), "kernel outlived its worker"


def test_lock_is_exclusive_and_released_when_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from evaluation.pipeline.lifetime import BuildLock; "
                               f"lock = BuildLock(Path({str(tmp_path)!r})).__enter__(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(BuildFolderBusyError, match=f"in use by process {holder.pid}"), BuildLock(tmp_path):
        pass
    holder.kill()
    holder.wait()
    with BuildLock(tmp_path):  # a killed holder leaves no stale lock
        pass
