"""Making data-derived text inert: no control characters, no terminal escape sequences.

A low layer (it imports nothing from the package), so the folder check, the command line and the page templates
share one definition of what a stray character is.
"""

from __future__ import annotations

import re

# ANSI/VT escape sequences: CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), and two-byte ESC forms.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
# C0 and C1 control characters, DEL, and the Unicode bidirectional overrides/isolates that reorder what a
# reader sees ("Trojan Source").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def without_controls(text: object, replacement: str = " ") -> str:
    """``text`` as a string with escape sequences removed and every other control character (newlines and tabs
    included) replaced by ``replacement``."""
    return _CONTROL.sub(replacement, _ESCAPE_SEQUENCE.sub("", str(text)))


def inert_terminal(text: object) -> str:
    """One line that is safe to print to a terminal: escape sequences and control characters cannot move the
    cursor, recolour, retitle the window or hide text; line breaks become spaces."""
    return without_controls(text, " ")
