"""environment.yml (for conda users) names the same dependencies as pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ;\[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"]}
    # Conda users get the development and JupyterLab extras too (the Spark extra needs a Java runtime).
    for extra in ("dev", "lab"):
        wanted |= {_name(d) for d in project["optional-dependencies"][extra]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip_section = next((d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d), [])
    conda |= {_name(d) for d in pip_section if not d.startswith("-")}
    assert conda == wanted, f"only in environment.yml: {conda - wanted}; only in pyproject: {wanted - conda}"


def test_environment_yml_pins_match_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(d): d.split("==")[1] for d in project["dependencies"] if "==" in d}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    for dep in env["dependencies"]:
        if isinstance(dep, str) and _name(dep) in pins:
            assert dep.endswith("=" + pins[_name(dep)]), dep


def _pins(name: str) -> dict[str, set[str]]:
    """package -> every version a lock file pins it to (one per Python version or platform it distinguishes)."""
    lines = (ROOT / name).read_text().splitlines()
    pins: dict[str, set[str]] = {}
    for line in lines:
        if line and not line.startswith((" ", "#")):
            pins.setdefault(_name(line), set()).add(line.split("==")[1].split(" ")[0])
    return pins


def test_lock_files_pin_every_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    build, lab = _pins("requirements.lock"), _pins("requirements-lab.lock")
    for dep in project["dependencies"] + extras["dev"]:
        assert _name(dep) in build, dep
    for dep in project["dependencies"] + extras["dev"] + extras["lab"]:
        assert _name(dep) in lab, dep


def test_the_build_lock_leaves_out_jupyterlab_and_agrees_with_the_lab_lock():
    """Sessions other than ``nox -s lab`` install no JupyterLab (its jsonschema format checkers cost about 2 s
    in every process that imports nbformat), and a notebook opened in JupyterLab runs the build's versions."""
    build, lab = _pins("requirements.lock"), _pins("requirements-lab.lock")
    assert not {"jupyterlab", "jupyter-server", "nbconvert", "rfc3987-syntax", "lark"} & set(build)
    assert set(build) <= set(lab)
    assert {k: v for k, v in lab.items() if k in build} == build
