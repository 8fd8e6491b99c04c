"""Where the package, the repository and the data dictionary live (one place, so moving a module never
breaks a path)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DICTIONARY_DIR = REPO_ROOT / "data_dictionary"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
LOCK_FILE = REPO_ROOT / "requirements.lock"
