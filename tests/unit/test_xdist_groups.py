"""tests/conftest.py keeps the tests that share the session build on one xdist worker, and a module whose tests
share a module-scoped fixture on one worker, so the fixture is made once. Run on a throwaway copy with two
workers: if a pytest or pytest-xdist upgrade stopped ``--dist loadgroup`` honouring the groups (pytest 9.2
did), this fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

SHARED = '''
import os, pytest

@pytest.fixture(scope="session")
def built_results():
    return 1

@pytest.mark.parametrize("k", range(6))
def test_uses_the_build(built_results, k):
    out = os.path.join(os.environ["GROUP_OUT"], "workers")
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, f"{os.environ['PYTEST_XDIST_WORKER']}-{k}"), "w").close()
'''
OTHER = '''
import os, pytest

@pytest.fixture(scope="module")
def module_data():
    return 1

@pytest.mark.parametrize("k", range(6))
def test_plain(module_data, k):
    out = os.path.join(os.environ["GROUP_OUT"], "plain")
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, f"{os.environ['PYTEST_XDIST_WORKER']}-{k}"), "w").close()
'''


def test_session_build_tests_and_each_module_stay_on_one_worker(tmp_path: Path):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_shared.py").write_text(SHARED)
    (tmp_path / "test_other.py").write_text(OTHER)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
         f"--basetemp={tmp_path / 'tmp'}", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env={**os.environ, "GROUP_OUT": str(out)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for folder in ("workers", "plain"):  # the session-build tests; a module sharing a module-scoped fixture
        runs = [p.name.split("-")[0] for p in (out / folder).iterdir()]
        assert len(runs) == 6
        assert len(set(runs)) == 1, f"{folder}: tests spread over workers {sorted(set(runs))}"
