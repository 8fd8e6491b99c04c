"""Results files: write and read ``build/results/<site>/<domain>.json`` as :class:`DomainResult` models.

The file is ``DomainResult.model_dump(mode="json")`` with sorted keys, so identical inputs give identical bytes;
reading validates it against the models, so every consumer gets typed values (see
:mod:`evaluation.results.schema`).
"""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.atomic import write_text_atomic
from evaluation.results.schema import CrossSiteResult, DomainResult


def write_json(data: dict | list, path: Path | str) -> Path:
    """Write JSON deterministically (sorted keys, fixed indent, trailing newline)."""
    path = Path(path)
    # Temp file + rename: a crash never leaves a truncated results file for a later build to publish.
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def write_result(result: DomainResult, path: Path | str) -> Path:
    """Write one results file."""
    return write_json(result.model_dump(mode="json"), path)


def read_result(path: Path | str) -> DomainResult:
    """One results file, validated."""
    return DomainResult.model_validate_json(Path(path).read_text(encoding="utf-8"))


def read_results(results_dir: Path | str) -> list[DomainResult]:
    """Every results file under ``results_dir``, sorted by site then domain."""
    return [read_result(f) for f in sorted(Path(results_dir).glob("*/*.json"))]


def write_cross_site(result: CrossSiteResult, path: Path | str) -> Path:
    """Write ``cross_site.json``."""
    return write_json(result.model_dump(mode="json"), path)


def read_cross_site(path: Path | str) -> CrossSiteResult:
    """``cross_site.json``, validated."""
    return CrossSiteResult.model_validate_json(Path(path).read_text(encoding="utf-8"))
