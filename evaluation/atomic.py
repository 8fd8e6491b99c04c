"""Writes that never leave a half-written file: write a temporary file beside the target, then rename.

A rename within one folder is atomic on POSIX and Windows, so a reader (or a crash, or a SIGKILL) sees the old
file or the new one, never a truncated one. Every file the build writes for later steps to read (results,
cache entries, the run manifest, executed notebooks) goes through here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path | str, text: str) -> Path:
    """:func:`write_bytes_atomic` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def replace_file(tmp: Path | str, path: Path | str) -> Path:
    """Move a finished temporary file (written by a library that takes a path) over ``path``."""
    os.replace(tmp, path)
    return Path(path)
