"""The Jinja2 environment that writes every page and page fragment (``evaluation/publish/templates/``).

Safe by default: every ``{{ value }}`` is escaped on output, whatever the template's file type. In HTML and SVG
fragments that is HTML escaping, with control characters and line breaks folded to spaces (:func:`html_escape`).
In MyST pages (``*.md.j2``) it is :func:`myst_escape`: HTML's special characters *and* Markdown/MyST
punctuation as character references, control characters folded to spaces, line-start markers neutralised, so
a data-derived string is plain text both in raw HTML and in MyST: it can never become a role, a directive, a
code span, a substitution, a heading, a list or an element. Character references are decoded by MyST in text
and by the browser in HTML, so readers see the string exactly as it was.

Two contexts take no character references, so they have their own filters: the title of a MyST role
(``|role_text`` removes what could end the role or change its target) and a link or toctree target
(``|target`` accepts only a plain relative path and raises otherwise); a Markdown code span takes only an
identifier from the data dictionary (``|identifier``, which raises otherwise). A value that is already markup made by
a template (a macro's result, or :class:`markupsafe.Markup` returned by a render here) is output unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from evaluation.text import without_controls

__all__ = ["Markup", "environment", "html_escape", "identifier", "month", "myst_escape", "render", "render_macro",
           "role_text", "target", "thousands"]

_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
# Markdown/MyST punctuation that can start markup anywhere in a line: code spans and roles (`), directives and
# roles ({ }), emphasis (* _ ~), links and images ([ ] !), tables (|), escapes (\), math ($), colon fences and
# definition lists (:), headings (#), setext underlines and attributes (= ^), autolinks (@), plus signs (+).
_ACTIVE = frozenset("`{}*_~[]!|\\$:#=^@+")
# At the start of a line a bullet, an ordered-list number or indentation is markup too.
_LINE_START = re.compile(r"^(?:[ -]|\d{1,9}[.)])")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.-]+")
_TARGET = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")


def myst_escape(value: object) -> Markup:
    """``value`` as inert text for MyST and HTML alike (see the module docstring)."""
    text = without_controls("" if value is None else value, " ")
    out = "".join(_NAMED.get(c) or (f"&#{ord(c)};" if c in _ACTIVE else c) for c in text)
    start = _LINE_START.match(out)
    if start:
        mark = start.group(0)
        out = mark[:-1] + f"&#{ord(mark[-1])};" + out[len(mark):]
    return Markup(out)  # noqa: S704 - every character that could be markup is a reference now


def html_escape(value: object) -> Markup:
    """``value`` as inert text for HTML that is never parsed as Markdown: control characters (line breaks
    included, so no blank line can end a raw HTML block inside MyST) become spaces, then HTML escaping."""
    return escape(without_controls("" if value is None else value, " "))


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Applied to every ``{{ expression }}``: template-made markup passes; everything else is escaped for the
    template's own language (MyST pages: :func:`myst_escape`; HTML and SVG fragments: :func:`html_escape`)."""
    if hasattr(value, "__html__"):
        return value
    return myst_escape(value) if (context.name or "").endswith(".md.j2") else html_escape(value)


def role_text(value: object) -> Markup:
    """Text for the title of a MyST role (``{doc}`title <target>```), where character references are not
    decoded: control characters, backticks and angle brackets are removed, nothing else changes."""
    return Markup(re.sub(r"[`<>]", "", without_controls(value, " ")))  # noqa: S704 - cannot leave the role


def target(value: object) -> Markup:
    """A relative document or file path for a role or toctree entry; anything else is refused (ValueError)."""
    text = str(value)
    if not _TARGET.fullmatch(text.lstrip("/")) or ".." in text:
        raise ValueError(f"not a plain relative path for a link target: {text!r}")
    return Markup(text)  # noqa: S704 - checked against _TARGET above


def identifier(value: object) -> Markup:
    """An identifier from the data dictionary (letters, digits, ``_ . -``) for a Markdown code span, where
    nothing is escaped; anything else is refused (ValueError)."""
    text = str(value)
    if not _IDENTIFIER.fullmatch(text):
        raise ValueError(f"not an identifier: {text!r}")
    return Markup(text)  # noqa: S704 - checked against _IDENTIFIER above


def month(value: dt.date | str, fmt: str = "%B %Y") -> str:
    """A date (or ISO date string) as its month, e.g. "August 2021"."""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return day.strftime(fmt)


def thousands(value: int) -> str:
    """An integer with thousands separators ("12,345")."""
    return f"{value:,}"


@cache
def environment() -> Environment:
    """The one template environment: autoescaping on, every output escaped by :func:`myst_escape`."""
    env = Environment(
        loader=PackageLoader("evaluation.publish", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2", "md.j2", "svg.j2"), default=True),
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(myst=myst_escape, html=html_escape, role_text=role_text, target=target,
                       identifier=identifier, month=month, thousands=thousands)
    return env


def render(name: str, **values: Any) -> Markup:
    """Render the template ``name`` with ``values``; the result is markup (output unchanged by templates)."""
    return Markup(environment().get_template(name).render(**values))  # noqa: S704 - values escaped on output


def render_macro(name: str, macro: str, *args: Any, **kwargs: Any) -> Markup:
    """Call the macro ``macro`` of template ``name``: how Python code reuses one piece of a template."""
    return getattr(environment().get_template(name).module, macro)(*args, **kwargs)
