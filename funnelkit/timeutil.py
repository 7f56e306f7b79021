"""Reading the times the analyses take: ``as_of``, ``since``/``until``, ``start``/``end``.

Every analysis reads times the same way, whichever engine runs it:

- :func:`instant` reads an ``as_of``-style moment; a bare date means the
  *end* of that day (known as of 2026-11-22 takes in that day's events);
- :func:`parse_time` reads a bound of a half-open span; a bare date is its
  midnight;
- :func:`time_bounds` reads ``since`` and ``until`` together and refuses an
  empty or reversed span;
- :func:`span_warnings` says when they leave out every event of a log, or an
  ``as_of`` lies outside its events.

Naive values are read as UTC; aware ones are converted to UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeAlias

from funnelkit.errors import ParameterError

__all__ = [
    "Instant",
    "TimeLike",
    "fmt_time",
    "instant",
    "instant_before",
    "parse_as_of",
    "parse_time",
    "span_warnings",
    "time_bounds",
]

Instant: TypeAlias = datetime | date | str
TimeLike: TypeAlias = str | date | datetime

_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def instant(value: Instant | None, name: str) -> datetime | None:
    """Return ``value`` as an aware UTC datetime; a bare date means the end of that day.

    Used for "as of" instants: "known as of 2026-11-22" takes in the events of
    that whole day.

    Parameters
    ----------
    value
        A datetime, a date or ISO text; ``None`` passes through.
    name
        The option's name, for the error message.

    Returns
    -------
    datetime or None

    Raises
    ------
    ParameterError
        When ``value`` is not a date or a date-time.

    Examples
    --------
    >>> instant("2026-11-22", "as_of").isoformat()
    '2026-11-22T23:59:59.999999+00:00'

    See the concept page: docs/concepts/snapshot-and-flow.md
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if _DATE.match(text):
                value = date.fromisoformat(text)
            else:
                value = datetime.fromisoformat(text)
        except ValueError:
            msg = (
                f"{name}={text!r} is not a date or date-time; "
                f"write e.g. '2024-03-31' or '2024-03-31T18:00:00Z'"
            )
            raise ParameterError(msg) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        end = datetime.combine(value + timedelta(days=1), time(), tzinfo=UTC)
        return end - timedelta(microseconds=1)
    msg = f"{name}={value!r} is not a date or date-time"
    raise ParameterError(msg)


def instant_before(moment: datetime) -> datetime:
    """Return the last instant before ``moment``.

    Stage functions include their as-of instant, so a half-open bound
    ``until`` becomes the microsecond before it.

    Parameters
    ----------
    moment
        An aware datetime.

    Returns
    -------
    datetime

    Examples
    --------
    >>> instant_before(datetime(2026, 11, 23, tzinfo=UTC)).isoformat()
    '2026-11-22T23:59:59.999999+00:00'

    See the concept page: docs/concepts/snapshot-and-flow.md
    """
    return moment - timedelta(microseconds=1)


def fmt_time(value: datetime | None) -> str:
    """Return ``value`` as ``YYYY-MM-DD HH:MM:SS UTC`` (``unknown time`` for ``None``).

    The one way funnelkit writes an instant in messages and reports.

    Parameters
    ----------
    value
        An aware datetime, or ``None``.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt_time(datetime(2026, 11, 22, 8, tzinfo=UTC))
    '2026-11-22 08:00:00 UTC'
    >>> fmt_time(None)
    'unknown time'

    See the concept page: docs/concepts/data-contract.md
    """
    if value is None:
        return "unknown time"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_time(value: TimeLike | None, name: str) -> datetime | None:
    """Return a span bound as a UTC instant; a bare date is its midnight.

    ``since`` is included and ``until`` excluded, so ``since="2026-09-01",
    until="2026-10-01"`` is the whole of September.

    Parameters
    ----------
    value
        A datetime, a date or ISO text (``Z`` allowed); ``None`` passes through.
    name
        The option's name, for the error message.

    Returns
    -------
    datetime or None

    Raises
    ------
    ParameterError
        When ``value`` cannot be read as a time.

    Examples
    --------
    >>> parse_time("2026-09-01", "since").isoformat()
    '2026-09-01T00:00:00+00:00'

    See the concept page: docs/concepts/data-contract.md
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            msg = (
                f"{name}: cannot read {value!r} as a time; "
                "write e.g. 2026-09-01 or 2026-09-01T08:00"
            )
            raise ParameterError(msg) from None
    else:
        msg = f"{name}: expected a date, a datetime or ISO text, got {type(value).__name__}"
        raise ParameterError(msg)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_as_of(value: TimeLike | None) -> datetime | None:
    """Read ``as_of`` as :func:`funnelkit.stages.classify` does: a bare date means its end.

    ``since`` and ``until`` bound a half-open span, so a date there is its
    midnight; "known as of 2026-11-22" takes in the events of that day.

    Parameters
    ----------
    value
        A datetime, a date, ISO text or ``None`` (passes through).

    Returns
    -------
    datetime or None

    Raises
    ------
    ParameterError
        When ``value`` cannot be read as a time.

    Examples
    --------
    >>> parse_as_of("2026-11-22").isoformat()
    '2026-11-22T23:59:59.999999+00:00'

    See the concept page: docs/concepts/snapshot-and-flow.md
    """
    moment = parse_time(value, "as_of")  # the span's messages for bad values
    if moment is None or isinstance(value, datetime):
        return moment
    return instant(value, "as_of")  # a bare date: the end of that day, as classify reads it


def time_bounds(
    since: TimeLike | None, until: TimeLike | None
) -> tuple[datetime | None, datetime | None]:
    """Return ``since`` and ``until`` as UTC instants; refuse an empty or reversed span.

    Each bound is read by :func:`parse_time`; either may be ``None`` (open).

    Parameters
    ----------
    since
        Start of the span, included.
    until
        End of the span, excluded.

    Returns
    -------
    tuple
        ``(since, until)`` as aware datetimes or ``None``.

    Raises
    ------
    ParameterError
        When a bound cannot be read, or ``since`` is not before ``until``.

    Examples
    --------
    >>> time_bounds("2026-09-01", None)[0].isoformat()
    '2026-09-01T00:00:00+00:00'

    See the concept page: docs/concepts/data-contract.md
    """
    lo, hi = parse_time(since, "since"), parse_time(until, "until")
    if lo is not None and hi is not None and lo >= hi:
        fix = "swap them?" if lo > hi else "give an until after since (a day: until the next)."
        msg = (
            f"since ({lo:%Y-%m-%d %H:%M}) must be before until ({hi:%Y-%m-%d %H:%M}): "
            f"events are read from since (included) to until (excluded); {fix}"
        )
        raise ParameterError(msg)
    return lo, hi


def span_warnings(
    first: datetime | None,
    last: datetime | None,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    as_of: Instant | None = None,
    named: str = "{name}={value}",
) -> list[str]:
    """Return what to warn of when the times asked leave the events ``first`` to ``last`` out.

    ``since`` after the last event, or ``until`` at or before the first, reads
    no event: every count is zero.  ``as_of`` before the first event knows no
    contact yet; a week or more after the last, that idle time lapses the
    stages that lapse (a few days' lag is a normal export).  Written once for
    the Python warnings (:class:`~funnelkit.errors.SpanWarning`) and the
    command line's ``warning:`` lines, which differ by ``named``: how a
    bound and its value are written (``"{name}={value}"``, or
    ``"--{option} {value}"`` with ``option`` the name in dashes).

    Parameters
    ----------
    first, last
        The first and last events of the log (``None``: nothing to compare).
    since, until
        The span asked.
    as_of
        The instant asked.
    named
        How a bound is written in the messages.

    Returns
    -------
    list of str
        One line per warning, in the order since, until, as_of.

    Raises
    ------
    ParameterError
        A time that cannot be read.

    Examples
    --------
    >>> first, last = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    >>> (text,) = span_warnings(first, last, since="2030-01-01")
    >>> text.startswith("since=2030-01-01 is after the last event (2026-11-02 00:00 UTC)")
    True

    See the concept page: docs/concepts/data-contract.md
    """
    if first is None or last is None:
        return []

    def name(key: str, value: object) -> str:
        return named.format(name=key, option=key.replace("_", "-"), value=value)

    out = []
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None and start > last:
        out.append(
            f"{name('since', since)} is after the last event ({last:%Y-%m-%d %H:%M} UTC): "
            "no event is read, every count is zero."
        )
    if end is not None and end <= first:
        out.append(
            f"{name('until', until)} is not after the first event ({first:%Y-%m-%d %H:%M} UTC): "
            "no event is read, every count is zero."
        )
    moment = instant(as_of, "as_of")
    if moment is not None and moment < first:
        out.append(
            f"{name('as_of', as_of)} is before the first event ({first:%Y-%m-%d %H:%M} UTC): "
            "no contact is known yet."
        )
    elif moment is not None and moment - last >= timedelta(days=7):
        out.append(
            f"{name('as_of', as_of)} is {(moment - last).days:,} days after the last event "
            f"({last:%Y-%m-%d %H:%M} UTC): that time counts as inactivity, so stages that "
            "lapse empty out."
        )
    return out
