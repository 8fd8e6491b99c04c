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
                                    install=lambda *a, **k: None, venv_backend="uv")
    noxfile.run(session)
    assert calls[-1] == ("evaluation", "sites")
