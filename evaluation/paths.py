"""Where the package, the repository and the data dictionary live (one place, so moving a module never
breaks a path)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DICTIONARY_DIR = REPO_ROOT / "data_dictionary"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
LOCK_FILE = REPO_ROOT / "requirements.lock"
#: Where runs write (results, executed notebooks, figures, cache) unless told otherwise: the repository's
#: ``build/``, whichever folder a command or a notebook is started from.
BUILD_DIR = REPO_ROOT / "build"


def build_folder(value: str | Path | None = None) -> Path:
    """A build folder as an absolute path: ``None``, ``""`` or the default ``"build"`` mean :data:`BUILD_DIR`;
    any other relative path is taken from the current folder, as on a command line."""
    if value is None or str(value) in ("", "build"):
        return BUILD_DIR
    return Path(value).expanduser().resolve()
