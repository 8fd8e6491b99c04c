"""Facts about input files that the readers use and other stages state too, loaded once from the data dictionary.

* :func:`already_suppressed_marks`: the values a publisher writes instead of a withheld figure
  (``disclosure.yaml`` ``already_suppressed_marks``, also read by the disclosure checker);
* :func:`max_decompressed_bytes`: the decompression cap for ``.gz`` files and zip members
  (``layouts.yaml`` ``limits.max_decompressed_mb``; the environment variable
  ``EVALUATION_MAX_DECOMPRESSED_MB`` overrides it for one run).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from evaluation.dictionary.registry import RegistryError, read_yaml
from evaluation.paths import DICTIONARY_DIR

#: Environment variable that overrides ``limits.max_decompressed_mb`` (a whole number of megabytes).
MAX_DECOMPRESSED_ENV = "EVALUATION_MAX_DECOMPRESSED_MB"


@lru_cache(maxsize=4)
def already_suppressed_marks(directory: Path = DICTIONARY_DIR) -> frozenset[str]:
    """The suppression marks a source file may hold in place of a number (e.g. ``*`` and ``.``)."""
    path = directory / "disclosure.yaml"
    marks = read_yaml(path).get("already_suppressed_marks")
    if not isinstance(marks, list) or not marks or not all(isinstance(m, str) and m.strip() for m in marks):
        raise RegistryError(f"{path.name}: already_suppressed_marks: expected a non-empty list of marks")
    return frozenset(m.strip() for m in marks)


@lru_cache(maxsize=4)
def _dictionary_cap_mb(directory: Path) -> int:
    path = directory / "layouts.yaml"
    limits = read_yaml(path).get("limits")
    value = limits.get("max_decompressed_mb") if isinstance(limits, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RegistryError(f"{path.name}: limits.max_decompressed_mb: expected a whole number of megabytes, 1 or more")
    return value


def max_decompressed_bytes(directory: Path = DICTIONARY_DIR) -> int:
    """How many bytes one compressed input (a ``.gz`` file or a zip member) may decompress to.

    ``EVALUATION_MAX_DECOMPRESSED_MB`` (read at call time) overrides the data dictionary's default.
    """
    override = os.environ.get(MAX_DECOMPRESSED_ENV, "").strip()
    if override:
        if not override.isdigit() or int(override) < 1:
            raise RegistryError(
                f"{MAX_DECOMPRESSED_ENV}={override!r}: expected a whole number of megabytes, 1 or more"
            )
        return int(override) * 1024 * 1024
    return _dictionary_cap_mb(directory) * 1024 * 1024
