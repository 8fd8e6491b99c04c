"""Processes that die with the run, and one run per build folder.

* Workers and kernels ask Linux to kill them when their parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``):
  the runner's workers when the runner dies, each kernel when its worker dies. So a SIGKILL of the runner
  takes its workers, and with them their kernels, within moments; nothing is left writing into the build
  folder. SIGTERM is turned into the same clean stop as Ctrl-C (:func:`stop_on_sigterm`), which kills the
  workers (:func:`kill_children`). Elsewhere than Linux, ipykernel's own parent poller (``JPY_PARENT_PID``)
  is what remains.
* :class:`BuildLock` holds an exclusive ``flock`` on ``<build>/.lock`` for a run or an assemble; a second one
  on the same folder is refused in one line. The kernel drops the lock when the holder dies, however it dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1
LOCK_NAME = ".lock"


class BuildFolderBusyError(RuntimeError):
    """Another run or assemble holds the build folder; ``str()`` is one line."""


def set_parent_death_signal(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only); exit at once if the
    parent ``parent`` is already gone. Returns whether the request was made."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        ok = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if ok and parent is not None and os.getppid() != parent:  # the parent died before the request
        os._exit(1)
    return ok


def worker_initializer(parent: int) -> None:
    """ProcessPoolExecutor initializer: this worker dies with the runner ``parent``."""
    set_parent_death_signal(signal.SIGKILL, parent)


def kernel_preexec() -> None:
    """Popen ``preexec_fn`` for a kernel: it dies with the worker that started it."""
    set_parent_death_signal(signal.SIGKILL)


def kill_children() -> int:
    """SIGKILL every live child process this process started through multiprocessing (the workers; their
    kernels follow by their parent-death signal). Returns how many were signalled."""
    import multiprocessing

    n = 0
    for child in multiprocessing.active_children():
        with contextlib.suppress(ProcessLookupError, AttributeError, ValueError):
            child.kill()
            n += 1
    return n


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (the clean stop of Ctrl-C); restored afterwards.
    Only the main thread can install handlers: elsewhere this does nothing."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):  # noqa: ARG001 - the signal handler signature
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class BuildLock:
    """An exclusive, non-blocking lock on a build folder, held for a run or an assemble."""

    def __init__(self, build: Path) -> None:
        self.path = Path(build) / LOCK_NAME
        self._fh = None

    def __enter__(self) -> BuildLock:
        import fcntl

        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise BuildFolderBusyError(f"build folder {self.path.parent} is in use by {holder}; wait for it to finish "
                                  "or use another --build-dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the last descriptor releases the flock
            self._fh = None
