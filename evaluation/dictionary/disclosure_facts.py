"""The two numbers of the disclosure rule that stages below publishing need (``disclosure.yaml``).

Sentences state model estimates of counts (for example the change in referrals a month). A model estimate may be
published, but a free-text number beside a count word reads as a count, so the sentences round such amounts the
way a published count is rounded. The full rules are validated by :mod:`evaluation.publish.disclosure`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from evaluation.dictionary.registry import RegistryError, read_yaml
from evaluation.paths import DICTIONARY_DIR


@lru_cache(maxsize=4)
def count_rounding(directory: Path = DICTIONARY_DIR) -> tuple[int, int]:
    """``(threshold, rounding_base)``: counts below the threshold are withheld, others rounded to the base."""
    path = directory / "disclosure.yaml"
    doc = read_yaml(path)
    out = []
    for key in ("threshold", "rounding_base"):
        value = doc.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RegistryError(f"{path.name}: {key}: expected a whole number, 1 or more")
        out.append(value)
    return out[0], out[1]
