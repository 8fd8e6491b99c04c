"""Test-session wiring shared by every folder.

``nox -s tests`` runs pytest-xdist on every core with ``--dist loadgroup``. A test is put in a group here only
when it shares a fixture with other tests: every test that uses the session build or site of
``tests/e2e/conftest.py`` in one group (one worker makes that build once and runs them all); a test using a
module- or class-scoped fixture in its module's group (so a real-data read or a small build is made once);
every other test goes wherever a worker is free. Without xdist the marks do nothing.
"""

from __future__ import annotations

import os

# The package sets these when it is imported first; test modules import numpy before it. One BLAS thread per
# process: the workers and the notebook kernels they start already fill the cores, and OpenBLAS threads that
# spin on a busy machine only slow every process down.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

#: Fixtures made once per session; the tests using them must share one worker.
SESSION_BUILD_FIXTURES = frozenset({"built_results", "built_site"})
#: Fixture scopes whose value other tests of the module reuse.
SHARED_SCOPES = frozenset({"module", "class", "package", "session"})


def xdist_group_of(item: pytest.Item) -> str | None:
    """The xdist group of a test: the session build's; else its module's when it uses a fixture shared within
    the module; else none."""
    names = set(getattr(item, "fixturenames", ()))
    if SESSION_BUILD_FIXTURES & names:
        return "session-build"
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        # Only fixtures of the test suite (a conftest's or a module's, whose baseid is a path): those of pytest
        # and its plugins (tmp_path_factory, ...) have an empty baseid and are cheap to make in each worker.
        if any(d.scope in SHARED_SCOPES and d.baseid for d in defs):
            return item.nodeid.split("::", 1)[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = xdist_group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
