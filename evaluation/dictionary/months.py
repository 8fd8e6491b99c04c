"""Months as the evaluation reads them: a go-live given as ``YYYY-MM`` or ``YYYY-MM-DD`` is its month's first day.

The one parser of a go-live month, used by the run-parameter check (before any kernel starts) and by the
evaluation itself, so both accept and refuse the same text.
"""

from __future__ import annotations

import datetime as dt
import re

_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def parse_month(value: str | dt.date) -> dt.date:
    """The first day of the month ``value`` falls in; :class:`ValueError` (one line) if it is not a date."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.replace(day=1)
    text = str(value).strip()
    m = _MONTH.match(text)
    try:
        if m is None:
            raise ValueError
        day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
    except ValueError:
        raise ValueError(f"intervention date {value!r} is not a date; expected YYYY-MM or YYYY-MM-DD "
                         "(e.g. 2021-08)") from None
    return day.replace(day=1)
