"""Importing the package, its command line, registry, runner and cache stays cheap (#8): every kernel and
every command pays it, so the heavy libraries are imported where they are used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "statsmodels", "matplotlib", "scipy", "papermill", "seaborn", "sphinx")


def test_light_modules_do_not_import_heavy_libraries():
    code = ("import sys, evaluation, evaluation.cli, evaluation.dictionary.registry, evaluation.pipeline.runner, "
            "evaluation.pipeline.cache; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


def test_help_runs_without_heavy_imports():
    code = ("import sys\nfrom evaluation.cli import build_parser\nbuild_parser().format_help()\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
