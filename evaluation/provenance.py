"""Provenance helpers: the one SHA-256 of a file or of bytes, and the one way a recorded path is made relative.

Results files, the data log, the notebook cache and the disclosure report all name files and their digests;
they use these functions so a digest or a path means the same thing wherever it is printed.
"""

from __future__ import annotations

import hashlib
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
    """``path`` relative to ``root`` as a POSIX string (both resolved), so a record does not depend on where
    the files live; ``default`` (or else the file name) when there is no root or ``path`` lies outside it."""
    path = Path(path)
    if root is not None:
        try:
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return default if default is not None else path.name
