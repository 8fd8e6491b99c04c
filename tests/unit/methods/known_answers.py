"""Where the external known answers live (``shared/data/known-answers``, outside the repository).

The folder sits next to the repository checkout (``../shared`` from the repository root) or next to a
folder holding worktrees of it; ``EVALUATION_KNOWN_ANSWERS`` overrides the search. Tests that need a
known answer skip, naming the path searched, when the shared data are not checked out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def known_answers_dir() -> Path | None:
    """The known-answers folder, or None when the shared data are not checked out."""
    env = os.environ.get("EVALUATION_KNOWN_ANSWERS")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "known-answers"
        if candidate.is_dir():
            return candidate
    return None


def known_answer(name: str, filename: str) -> Path:
    """Path of one known-answer file; skips the test when it is missing."""
    root = known_answers_dir()
    path = None if root is None else root / name / filename
    if path is None or not path.is_file():
        pytest.skip(f"known answer {name}/{filename} not found (shared data checkout missing)")
    return path
