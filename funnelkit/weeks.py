"""ISO weeks in UTC and their arithmetic: the weekly report's unit of time.

:class:`IsoWeek` (``2026-W46``: from Monday 00:00 UTC to the next Monday
00:00, end excluded), :func:`parse_week`, :func:`week_bounds`,
:func:`week_range`, and the last week the data covers to its end
(:func:`last_complete_week`, :func:`complete_week_before`).  Re-exported by
:mod:`funnelkit.weekly`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from funnelkit.engine_frames import core_events, from_us, max_ts
from funnelkit.errors import EmptyInputError, ParameterError
from funnelkit.events import EventLog

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "IsoWeek",
    "complete_week_before",
    "last_complete_week",
    "parse_week",
    "week_bounds",
    "week_range",
]


#: The years an :class:`IsoWeek` may fall in: one week either side stays a valid date.
MIN_YEAR, MAX_YEAR = 2, 9998
_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- ISO weeks
@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO-8601 week: ``IsoWeek(2026, 46)`` is ``2026-W46``.

    Attributes
    ----------
    year
        The ISO year (the year of the week's Thursday).
    week
        The week number, 1 to 52 or 53.

    Examples
    --------
    >>> w = IsoWeek(2026, 46)
    >>> str(w), w.start.isoformat(), w.end.isoformat()
    ('2026-W46', '2026-11-09T00:00:00+00:00', '2026-11-16T00:00:00+00:00')
    >>> str(w.shift(-46))
    '2025-W52'
    """

    year: int
    week: int

    def __post_init__(self) -> None:
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            msg = (
                f"week: year {self.year:04d} is out of range; funnelkit reads ISO weeks of "
                f"the years {MIN_YEAR:04d} to {MAX_YEAR}, e.g. '2026-W46'."
            )
            raise ParameterError(msg)
        if not 1 <= self.week <= _weeks_in(self.year):
            last = _weeks_in(self.year)
            msg = (
                f"week: {self.year} has {last} ISO weeks, there is no week {self.week} "
                f"(write '{self.year}-W01' to '{self.year}-W{last}')."
            )
            raise ParameterError(msg)

    @classmethod
    def of(cls, moment: date | datetime) -> IsoWeek:
        """Return the week holding ``moment`` (a datetime is first converted to UTC)."""
        if isinstance(moment, datetime):
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
            moment = moment.date()
        year, week, _ = moment.isocalendar()
        return cls(year, week)

    @property
    def monday(self) -> date:
        """The first day of the week."""
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def start(self) -> datetime:
        """Monday 00:00 UTC, the first instant of the week."""
        return datetime.combine(self.monday, datetime.min.time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 UTC: the week's "as of" instant (excluded from the week)."""
        return self.start + timedelta(days=7)

    def shift(self, weeks: int) -> IsoWeek:
        """Return the week ``weeks`` weeks later (earlier when negative)."""
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    def __str__(self) -> str:
        return f"{self.year:04d}-W{self.week:02d}"


def _weeks_in(year: int) -> int:
    return date(year, 12, 28).isocalendar()[1]


def parse_week(value: str | IsoWeek) -> IsoWeek:
    """Return the :class:`IsoWeek` written ``2026-W46`` (``2026W46`` and ``w`` also read).

    Weeks are ISO weeks: from Monday 00:00 UTC, week 1 holding the year's
    first Thursday (some years have a week 53).

    Parameters
    ----------
    value
        The text, or an :class:`IsoWeek` (returned as it is).

    Returns
    -------
    IsoWeek

    Raises
    ------
    ParameterError
        The text is not an ISO week, or the year has no such week.

    Examples
    --------
    >>> parse_week("2026-W46")
    IsoWeek(year=2026, week=46)

    See the concept page: docs/concepts/weekly-report.md
    """
    if isinstance(value, IsoWeek):
        return value
    match = _WEEK_RE.match(str(value))
    if match is None:
        msg = (
            f"week: {value!r} is not an ISO week; write the year, '-W' and the week number, "
            "e.g. '2026-W46'."
        )
        raise ParameterError(msg)
    return IsoWeek(int(match.group(1)), int(match.group(2)))


def week_bounds(week: str | IsoWeek) -> tuple[datetime, datetime]:
    """Return the first instant of ``week`` and the first instant after it (UTC).

    A half-open span, as ``since`` and ``until`` read it: Monday 00:00 to the
    next Monday 00:00.

    Parameters
    ----------
    week
        An :class:`IsoWeek` or its text.

    Returns
    -------
    tuple of datetime

    Raises
    ------
    ParameterError
        When ``week`` is text that is not an ISO week.

    Examples
    --------
    >>> start, end = week_bounds("2026-W47")
    >>> start.isoformat(), end.isoformat()
    ('2026-11-16T00:00:00+00:00', '2026-11-23T00:00:00+00:00')

    See the concept page: docs/concepts/weekly-report.md
    """
    parsed = parse_week(week)
    return parsed.start, parsed.end


def week_range(first: str | IsoWeek, last: str | IsoWeek) -> list[IsoWeek]:
    """Return every week from ``first`` to ``last``, both included.

    Years with a week 53 are followed through it.

    Parameters
    ----------
    first, last
        :class:`IsoWeek` objects or their text.

    Returns
    -------
    list of IsoWeek

    Raises
    ------
    ParameterError
        ``last`` comes before ``first``, or a text is not an ISO week.

    Examples
    --------
    >>> [str(w) for w in week_range("2026-W52", "2027-W02")]
    ['2026-W52', '2026-W53', '2027-W01', '2027-W02']

    See the concept page: docs/concepts/weekly-report.md
    """
    start, stop = parse_week(first), parse_week(last)
    if stop < start:
        msg = f"--to: {stop} comes before --from {start}; give the earlier week first."
        raise ParameterError(msg)
    n = (stop.monday - start.monday).days // 7
    return [start.shift(i) for i in range(n + 1)]


def last_complete_week(events: EventLog | pl.LazyFrame | pl.DataFrame) -> IsoWeek:
    """Return the last ISO week the data covers to its end.

    The week of the latest event counts as complete when that event falls on
    the week's Sunday (UTC): an export made on a Monday morning ends with the
    previous week, an export cut on a Wednesday ends with the week before.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog` or a polars frame of events.

    Returns
    -------
    IsoWeek

    Raises
    ------
    EmptyInputError
        There is no event.

    Examples
    --------
    >>> import datetime as dt
    >>> df = pl.DataFrame({"contact_id": ["a", "a"], "event": ["like"] * 2,
    ...     "occurred_at": [dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 22, 23)]})
    >>> str(last_complete_week(df))
    '2026-W47'

    See the concept page: docs/concepts/weekly-report.md
    """
    return complete_week_before(from_us(max_ts(core_events(events).lf)))


def complete_week_before(latest: datetime | None) -> IsoWeek:
    """Return the last ISO week that data running up to ``latest`` covers to its end.

    The rule of :func:`last_complete_week`, given the time of the last event:
    its week counts when that event falls on the week's Sunday (UTC).

    Parameters
    ----------
    latest
        The time of the last event, or ``None`` when there is none.

    Returns
    -------
    IsoWeek

    Raises
    ------
    EmptyInputError
        ``latest`` is ``None`` (no event).

    Examples
    --------
    >>> str(complete_week_before(datetime(2026, 11, 25, 10, tzinfo=UTC)))
    '2026-W47'

    See the concept page: docs/concepts/weekly-report.md
    """
    if latest is None:
        msg = "week: the events hold no row, so there is no complete week to report on."
        raise EmptyInputError(msg)
    week = IsoWeek.of(latest)
    sunday = latest.astimezone(UTC).isoweekday() == 7
    return week if sunday else week.shift(-1)
