"""Durations written the way analysts say them: ``90m``, ``12h``, ``3d``, ``2w``.

Conversion windows, cohort horizons and CLI options all take a duration.  One
parser keeps the syntax the same everywhere: a whole number followed by a unit
(``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks), optionally
several such parts written together (``1d12h``).  Months and years are not
accepted on purpose: their length varies, and a conversion window must not.
No duration is longer than :data:`MAX_DURATION` (100 years): a longer one is
a typo, and would overflow date arithmetic.
"""

from __future__ import annotations

import re
from datetime import timedelta

from funnelkit.errors import ParameterError

__all__ = ["MAX_DURATION", "format_duration", "parse_duration"]

MAX_DURATION = timedelta(days=36525)
"""The longest duration funnelkit accepts: 100 years (``36525d``)."""

_UNITS: dict[str, timedelta] = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_PART = re.compile(r"(\d+)\s*([wdhms])")
_WHOLE = re.compile(r"(?:\d+\s*[wdhms]\s*)+")
_HINT = "write a whole number and a unit: '90m', '12h', '3d', '2w' (or '1d12h')"
# A number with more digits than MAX_DURATION has seconds (3,155,760,000) is
# refused before it is converted or multiplied; so is text longer than _MAX_TEXT.
_MAX_DIGITS = 12
_MAX_TEXT = 100


def _too_long(name: str, shown: str) -> ParameterError:
    msg = (
        f"{name}: {shown} is longer than 100 years ({MAX_DURATION.days}d), "
        "the longest duration funnelkit accepts"
    )
    return ParameterError(msg)


def parse_duration(value: str | timedelta, *, name: str = "duration") -> timedelta:
    """Return the :class:`~datetime.timedelta` written in ``value``.

    Windows, lapses and time limits are all written this way, in the API, the
    command line and the definition files alike.

    Parameters
    ----------
    value
        Text such as ``"14d"``, ``"90m"``, ``"12h"``, ``"2w"`` or ``"1d12h"``
        (case-insensitive, spaces allowed), or a ``timedelta`` (returned as it
        is if it is not negative).
    name
        What the duration is for, used in the error message (``"window"``,
        ``"--window"``...).

    Returns
    -------
    timedelta

    Raises
    ------
    ParameterError
        When ``value`` is empty, has an unknown unit, a fraction, a sign, is
        a negative ``timedelta``, or is longer than :data:`MAX_DURATION`.

    Examples
    --------
    >>> parse_duration("14d")
    datetime.timedelta(days=14)
    >>> parse_duration("90m")
    datetime.timedelta(seconds=5400)
    >>> parse_duration("1d12h")
    datetime.timedelta(days=1, seconds=43200)

    See the concept page: docs/concepts/chain-rule.md
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            msg = f"{name} must not be negative, got {value!r}"
            raise ParameterError(msg)
        if value > MAX_DURATION:
            raise _too_long(name, f"{value.days:,} days")
        return value
    if not isinstance(value, str):
        msg = f"{name} must be text such as '14d' or a timedelta, got {type(value).__name__}"
        raise ParameterError(msg)
    text = value.strip().lower()
    if len(text) > _MAX_TEXT:
        msg = (
            f"{name}: cannot read {value[:20]!r}... as a duration: {len(value):,} "
            f"characters, more than {_MAX_TEXT}; {_HINT}"
        )
        raise ParameterError(msg)
    if not _WHOLE.fullmatch(text):
        msg = f"{name}: cannot read {value!r} as a duration; {_HINT}"
        raise ParameterError(msg)
    seconds = 0
    for number, unit in _PART.findall(text):
        if len(number.lstrip("0")) > _MAX_DIGITS:
            raise _too_long(name, repr(value))
        seconds += int(number) * int(_UNITS[unit].total_seconds())
    if seconds > MAX_DURATION.total_seconds():
        raise _too_long(name, repr(value))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Return the text :func:`parse_duration` reads back as ``value``.

    Whole weeks are written in weeks, anything else in days, hours, minutes
    and seconds (``30d``, not ``4w2d``).  Sub-second parts are rounded down
    to the second.

    Parameters
    ----------
    value
        A duration that is not negative.

    Returns
    -------
    str
        Text such as ``"2w"`` or ``"1d12h"``.

    Raises
    ------
    ParameterError
        When ``value`` is negative.

    Examples
    --------
    >>> format_duration(parse_duration("14d"))
    '2w'
    >>> format_duration(parse_duration("36h"))
    '1d12h'
    >>> format_duration(parse_duration("30d"))
    '30d'
    >>> format_duration(parse_duration("0s"))
    '0s'

    See the concept page: docs/concepts/chain-rule.md
    """
    seconds = int(value.total_seconds())
    if seconds < 0:
        msg = f"cannot write a negative duration ({value!r})"
        raise ParameterError(msg)
    week = int(_UNITS["w"].total_seconds())
    if seconds and seconds % week == 0:
        return f"{seconds // week}w"
    parts: list[str] = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue
        step = int(size.total_seconds())
        count, seconds = divmod(seconds, step)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
