"""No module in the package builds HTML or MyST from strings: markup lives in evaluation/publish/templates/.

Every string literal in the package's Python (f-string parts included; docstrings left out) is searched for
the shapes of markup: an HTML tag, a MyST colon fence, a {doc}/{download} role or a directive fence.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "evaluation"
ELEMENTS = ("a|abbr|br|caption|circle|code|details|div|em|figcaption|figure|h[1-6]|img|li|line|ol|p|path|polyline|rect"
            "|script|section|span|strong|style|summary|svg|table|tbody|td|text|th|thead|tr|ul")
MARKUP = re.compile(rf"</?(?:{ELEMENTS})(?:\s[^<>]*)?/?>|:::|\{{(?:doc|download|ref|eval-rst)\}}`|```\{{")
# Modules another workstream is rewriting in parallel (issue 12): their markup moves into templates there.
# Remove an entry when its module lands; a new module can never be added here silently (the test names it).
PENDING = {
    "publish/charts.py": "the <figure> wrapper of embedded charts",
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def markup_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in ``path`` that looks like HTML or MyST markup."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [(node.lineno, node.value[:80]) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            and MARKUP.search(node.value)]


def test_the_detector_sees_markup_in_f_strings_and_literals(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docstring <p> is fine."""\nx = 1\na = f"<p>{x}</p>"\nb = ":::{container} card"\n'
                      'c = "{doc}`page <index>`"\nd = "```{toctree}"\ne = "a < b and c > d"\n')
    assert sorted(line for line, _ in markup_literals(sample)) == [3, 3, 4, 5, 6]


def test_no_module_builds_html_or_myst_from_strings():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel not in PENDING and (hits := markup_literals(path)):
            offenders[rel] = hits
    assert not offenders, f"markup built in Python (write a template in evaluation/publish/templates/): {offenders}"


def test_pending_modules_still_exist():
    """An entry for a module that has moved or been cleaned must be removed, so the list only shrinks."""
    stale = [rel for rel in PENDING if not (PACKAGE / rel).is_file() or not markup_literals(PACKAGE / rel)]
    assert not stale, f"remove from PENDING: {stale}"
