"""Provenance helpers: the one SHA-256 of a file or of bytes, and the one way a recorded path is made relative.

Results files, the data log, the notebook cache and the disclosure report all name files and their digests;
they use these functions so a digest or a path means the same thing wherever it is printed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Bytes read at a time when hashing a file.
BLOCK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def relative_path(path: Path | str, root: Path | str | None, default: str | None = None) -> str:
    """``path`` relative to ``root`` as a POSIX string, as written: links are not followed (a file linked into a
    combined data folder keeps its place there), so it equals the panel's ``source_file`` for a file read from
    ``root``; ``default`` (or else the base name) when there is no root or ``path`` lies outside it, so no
    absolute path of the reader's machine leaks into a record."""
    if root is not None:
        try:
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            pass
    return default if default is not None else Path(path).name
