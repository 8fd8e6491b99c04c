"""The nox sessions' commands (#18 item 2, #14 item 3), checked without starting JupyterLab or Sphinx: the
noxfile is loaded with a stand-in for nox, so no environment is created."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def noxfile(tmp_path_factory):
    stub = types.ModuleType("nox")
    stub.options = types.SimpleNamespace()
    stub.Session = object
    stub.session = lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f))
    saved = sys.modules.get("nox")
    sys.modules["nox"] = stub
    try:
        spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("nox", None)
        else:
            sys.modules["nox"] = saved
    return module


def test_lab_opens_the_notebooks_folder_and_passes_options(noxfile):
    cmd = noxfile.lab_command(["--no-browser"])
    assert cmd[:2] == ["jupyter", "lab"]
    assert f"--notebook-dir={ROOT / 'notebooks'}" in cmd and cmd[-1] == "--no-browser"


def test_sphinx_treats_warnings_as_errors_and_stops_at_the_first(noxfile):
    cmd = noxfile.sphinx_command("docs", "out")
    assert "-W" in cmd and "--keep-going" not in cmd and cmd[-2:] == ["docs", "out"]


def test_published_folder_is_replaced_whole(noxfile, tmp_path):
    target, staging = tmp_path / "html", tmp_path / "html.new"
    target.mkdir()
    (target / "old.html").write_text("old")
    staging.mkdir()
    (staging / "index.html").write_text("new")
    noxfile.publish_folder(staging, target)
    assert sorted(p.name for p in target.iterdir()) == ["index.html"]
    assert not staging.exists() and not (tmp_path / "html.old").exists()


def test_a_failed_sphinx_build_leaves_the_published_site_untouched(noxfile, tmp_path, monkeypatch):
    """Fault test: Sphinx fails (a warning) -> docs/_build/html is still the last good site, no leftovers."""
    monkeypatch.setattr(noxfile, "ROOT", tmp_path)
    html = tmp_path / "docs" / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("last good site")
    (tmp_path / "docs" / "_build" / "built_from.txt").write_text(str((tmp_path / "build").resolve()))

    class Session:
        def run(self, *args, **kwargs):
            if args[0] == "sphinx-build":
                (Path(args[-1]) / "half.html").write_text("half-written")
                raise RuntimeError("Sphinx warning treated as error")

        def log(self, *args):
            pass

    with pytest.raises(RuntimeError):
        noxfile._build_docs(Session())  # noqa: SLF001 - the session helper under test
    assert sorted(p.name for p in html.iterdir()) == ["index.html"]
    assert (html / "index.html").read_text() == "last good site"
    assert not (html.parent / "html.new").exists()


def test_run_session_passes_arguments_to_the_command_line(noxfile):
    calls = []
    session = types.SimpleNamespace(posargs=["sites"], run=lambda *a, **k: calls.append(a),
                                    install=lambda *a, **k: None, venv_backend="uv", env={})
    noxfile.run(session)
    assert calls[-1] == ("evaluation", "sites")


def _recording_session(posargs):
    calls = []

    def run(*args, **kwargs):
        calls.append((args, kwargs))
        return "/tmp/axe.min.js\n"

    return calls, types.SimpleNamespace(posargs=posargs, run=run, install=lambda *a, **k: None, venv_backend="uv",
                                        log=lambda *a: None, env={})


def test_tests_session_builds_into_the_shared_folder_and_prints_the_slowest_tests(noxfile):
    calls, session = _recording_session(["-x"])
    noxfile.tests(session)
    ((args, kwargs),) = [c for c in calls if c[0][0] == "pytest"]
    assert "--durations=25" in args and args[-1] == "-x"
    assert kwargs["env"] == {"EVALUATION_TEST_BUILD": str(noxfile.ROOT / "build" / "tests")}


@pytest.mark.parametrize(("posargs", "build"), [([], "build/tests"), (["--data-dir", "x"], "build")])
def test_browser_session_reuses_the_tests_build_for_the_default(noxfile, monkeypatch, posargs, build):
    """In `nox -s lint tests browser` the browser's run finds every notebook of build/tests in the cache."""
    docs = []
    monkeypatch.setattr(noxfile.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(noxfile, "_build_docs", lambda session, build_dir="build": docs.append(build_dir))
    calls, session = _recording_session(posargs)
    noxfile.browser(session)
    (run,) = [a for a, _ in calls if a[:2] == ("evaluation", "run")]
    assert run == ("evaluation", "run", "--build-dir", build, *posargs)
    assert docs == [build]
    assert noxfile.TEST_BUILD == "build/tests"
    # The check is checked first (which axe rules run after a scheme switch), with the axe-core just installed.
    selftest, check = [(a, k) for a, k in calls if "tests/browser/test_site_check.py" in a or
                       a[:2] == ("python", "tests/browser/site_check.py")]
    assert selftest[0][0] == "pytest" and selftest[1]["env"] == {"AXE_JS": "/tmp/axe.min.js"}
    assert check[0][1] == "tests/browser/site_check.py" and "/tmp/axe.min.js" in check[0]


@pytest.mark.parametrize(("backend", "flags"), [("uv", []), ("virtualenv", ["--no-compile"])])
def test_sessions_write_bytecode_on_first_import_not_at_install(noxfile, backend, flags):
    """Bytecode for the modules a session imports, written when first imported (PYTHONDONTWRITEBYTECODE, which
    CI machines set, turned off for the session), instead of compiling all 10,000 installed modules."""
    installs = []
    session = types.SimpleNamespace(install=lambda *a, **k: installs.append(a), venv_backend=backend, env={})
    noxfile._install(session)  # noqa: SLF001 - the session helper under test
    assert session.env["PYTHONDONTWRITEBYTECODE"] == ""
    assert installs == [(*flags, "-r", noxfile.LOCK), (*flags, "--no-deps", "-e", ".")]
    assert not any("--compile-bytecode" in a for a in installs)
