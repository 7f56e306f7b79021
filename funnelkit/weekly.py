"""The weekly report's numbers, computed once, from the package's own functions.

A report week is an ISO week (``2026-W46``) in UTC: from Monday 00:00 to the
next Monday 00:00, end excluded.  Everything about a week is read *as of its
end*: stages are classified with the events before that instant, and events at
or after it are ignored (and counted, so the data-quality section can say so).
The default week of a report is :func:`last_complete_week` of the data.

The numbers of :func:`weekly_metrics`
-------------------------------------
*Headline counts* (``new_contacts``, ``reached_<stage>``): contacts that first
reached each stage during the week, from the classification as of the week's
end (a skipped stage counts as reached with the later one), against the same
count for the week before.  Their change is judged by the test that both weeks
share one expected count (``z = (a - b) / sqrt(a + b)``, two-sided).  Given
the two weeks' total ``n = a + b``, an unchanged rate makes this week's count
binomial with ``n`` trials and probability 1/2, and the normal approximation
holds once each week's expected count ``n / 2`` is at least
:data:`~funnelkit.stats.MIN_PER_OUTCOME` (5): below that (``a + b < 10``) the
verdict is ``"too few"``.  The rule is on the expected count, not on each
week's own count, so a fall from 195 to 0 is a ``"decrease"`` (p < 1e-40), not
too few to tell, while 3 against 0 still is.  When the data holds no event
before the report week, the previous week lies before the data: a count with
no contact that week has no previous value (``None``, ``null`` in
``metrics.json``) and the verdict ``"no previous week"``, rather than a
comparison with 0.

*Headline rates* (``conversion_<stage>_to_<stage>``): each step conversion of
the ordered funnel (and first stage to the target stage), for the contacts who
entered in the latest week whose conversion window has closed by the report's
end (:func:`last_closed_week`), against the week before, with the pooled
two-proportion test and Wilson intervals of :mod:`funnelkit.stats`.  A rate of
the report week itself would still be rising, so it is not a headline.

*Sections*: the snapshot as of the week's end, the flows between its start and
end, conversion per week of entry over the history (incomplete weeks flagged),
the funnel of the history weeks by the breakdown column (segments under
:data:`MIN_SEGMENT` entrants suppressed) with its time to convert, weekly
acquisition cohorts, data quality, and the definition used.

Every section reads a stage the one way :func:`funnelkit.stages.classify`
does: a contact reaches a stage at the instant it *entered* it (thresholds,
points, skipping and lapses applied), from its whole history before the
week's end.  The headline counts, the snapshot, the rates, the trend, the
breakdown, the time to convert and the cohorts therefore count the same
contacts (``stage_steps`` in ``metrics.json`` says so for each section; see
"Stages as steps" in :mod:`funnelkit.conversion`).

*Warnings* (:attr:`WeeklyMetrics.warnings`, ``warnings`` in ``metrics.json``):
signs that the week's data is incomplete, each with a stable code.
``"no_events_in_week"``: the data holds no event in the week, which usually
means a broken export.  ``"few_stage_entries_in_week"``: the week has events,
but contacts reached a stage past the first fewer than a tenth as often as in
the median previous week of the history (weeks before the data left out; at
least :data:`LOW_VOLUME_MIN_WEEKS` of them, with a median of at least
:data:`LOW_VOLUME_MIN_MEDIAN`).  Stage entries past the first come from events
only (a contacts table adds contacts to the first stage alone), and the
polars and engine paths both have them.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from funnelkit import __version__, conversion, frames
from funnelkit.conversion import CohortTable, ConversionTrend, FunnelResult, PeriodComparison
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.durations import format_duration, parse_duration
from funnelkit.errors import EmptyInputError, ParameterError, did_you_mean
from funnelkit.events import (
    CONTACT_ID,
    OCCURRED_AT,
    ContactTable,
    EventLog,
    SetAsideSummary,
    as_lazy,
    as_lazy_contacts,
)
from funnelkit.privacy import check_breakdown
from funnelkit.stages import Flows, Snapshot, classify, flows, snapshot
from funnelkit.stats import MIN_PER_OUTCOME, wilson_interval
from funnelkit.timeutil import instant_before

__all__ = [
    "FEW_STAGE_ENTRIES_IN_WEEK",
    "LOW_VOLUME_MIN_MEDIAN",
    "LOW_VOLUME_MIN_WEEKS",
    "LOW_VOLUME_SHARE",
    "METRICS_DECIMALS",
    "MIN_SEGMENT",
    "NO_EVENTS_IN_WEEK",
    "NO_PREVIOUS_WEEK",
    "DataQuality",
    "DataWarning",
    "IsoWeek",
    "Kpi",
    "WeeklyMetrics",
    "complete_week_before",
    "last_closed_week",
    "last_complete_week",
    "parse_week",
    "stalled_contacts",
    "stalled_stage",
    "target_stage",
    "week_bounds",
    "week_range",
    "weekly_metrics",
]

#: Breakdown segments with fewer entrants show counts but no rates.
MIN_SEGMENT = 30
#: Decimal places of the fractional numbers of ``metrics.json`` (shares, rates,
#: their intervals and changes); p-values keep full precision.
METRICS_DECIMALS = 6
_FULL_PRECISION = frozenset({"p_value"})

#: Warning code: the data holds no event in the report week.
NO_EVENTS_IN_WEEK = "no_events_in_week"
#: Warning code: far fewer stage entries past the first than in the previous weeks.
FEW_STAGE_ENTRIES_IN_WEEK = "few_stage_entries_in_week"
#: A week with fewer stage entries than this share of the previous weeks' median is flagged.
LOW_VOLUME_SHARE = 0.1
#: Previous weeks (within the data) the median needs before the low-volume check runs.
LOW_VOLUME_MIN_WEEKS = 3
#: Smallest median of stage entries the low-volume check judges (a tenth of it is one entry).
LOW_VOLUME_MIN_MEDIAN = 10
#: The verdict of a count whose previous week lies before the data.
NO_PREVIOUS_WEEK = "no previous week"

_ISO_WEEK = "%G-W%V"  # strftime of an ISO week, e.g. 2026-W46
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

    Raises
    ------
    ParameterError
        The text is not an ISO week, or the year has no such week.

    Examples
    --------
    >>> parse_week("2026-W46")
    IsoWeek(year=2026, week=46)
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

    Examples
    --------
    >>> start, end = week_bounds("2026-W47")
    >>> start.isoformat(), end.isoformat()
    ('2026-11-16T00:00:00+00:00', '2026-11-23T00:00:00+00:00')
    """
    parsed = parse_week(week)
    return parsed.start, parsed.end


def week_range(first: str | IsoWeek, last: str | IsoWeek) -> list[IsoWeek]:
    """Return every week from ``first`` to ``last``, both included.

    Raises
    ------
    ParameterError
        ``last`` comes before ``first``.

    Examples
    --------
    >>> [str(w) for w in week_range("2026-W52", "2027-W02")]
    ['2026-W52', '2026-W53', '2027-W01', '2027-W02']
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
    """
    if frames.is_engine_frame(events):
        return frames.on_engine("last_complete_week", IsoWeek)(events)
    latest = as_lazy(events).select(pl.col(OCCURRED_AT).max()).collect().item()
    return complete_week_before(latest)


def complete_week_before(latest: datetime | None) -> IsoWeek:
    """Return the last ISO week that data running up to ``latest`` covers to its end.

    See :func:`last_complete_week`; ``latest`` is the time of the last event.

    Raises
    ------
    EmptyInputError
        ``latest`` is ``None`` (no event).

    Examples
    --------
    >>> str(complete_week_before(datetime(2026, 11, 25, 10, tzinfo=UTC)))
    '2026-W47'
    """
    if latest is None:
        msg = "week: the events hold no row, so there is no complete week to report on."
        raise EmptyInputError(msg)
    week = IsoWeek.of(latest)
    sunday = latest.astimezone(UTC).isoweekday() == 7
    return week if sunday else week.shift(-1)


# --------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class DataQuality:
    """What the week's report read, set aside and ignored.

    Attributes
    ----------
    source
        The events' source (a path, or ``"<frame>"``).
    rows_read, rows_kept, rows_set_aside
        Event rows read from the source, kept, and set aside.
    set_aside_by_reason
        ``{reason: rows}`` (see :mod:`funnelkit.events`); ``duplicate`` counts
        exact duplicate rows.
    events_before_week, events_in_week, events_after_week
        Kept events before the week's start, in the week, and at or after its
        end: the last ones are ignored by every figure of the report.
    contacts_read, contacts_kept
        Rows of the contacts table read and kept (``None`` without one).
    """

    source: str
    rows_read: int
    rows_kept: int
    set_aside_by_reason: Mapping[str, int]
    events_before_week: int
    events_in_week: int
    events_after_week: int
    contacts_read: int | None = None
    contacts_kept: int | None = None

    @property
    def rows_set_aside(self) -> int:
        """Rows not kept."""
        return self.rows_read - self.rows_kept

    @property
    def duplicates(self) -> int:
        """Exact duplicate rows set aside."""
        return int(self.set_aside_by_reason.get("duplicate", 0))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_set_aside": self.rows_set_aside,
            "set_aside_by_reason": dict(self.set_aside_by_reason),
            "duplicates": self.duplicates,
            "events_before_week": self.events_before_week,
            "events_in_week": self.events_in_week,
            "events_after_week_ignored": self.events_after_week,
            "contacts_read": self.contacts_read,
            "contacts_kept": self.contacts_kept,
        }

    def to_polars(self) -> pl.DataFrame:
        """Return one row per measure: ``measure``, ``rows``."""
        rows = [
            ("rows read", self.rows_read),
            ("rows kept", self.rows_kept),
            *((f"set aside: {k}", v) for k, v in self.set_aside_by_reason.items()),
            ("events before the week", self.events_before_week),
            ("events in the week", self.events_in_week),
            ("events after the week's end (ignored)", self.events_after_week),
        ]
        if self.contacts_read is not None:
            rows += [
                ("contacts read", self.contacts_read),
                ("contacts kept", self.contacts_kept or 0),
            ]
        return pl.DataFrame(rows, schema={"measure": pl.String, "rows": pl.Int64}, orient="row")


@dataclass(frozen=True)
class DataWarning:
    """A sign that the week's data is incomplete, shown at the top of the report.

    Attributes
    ----------
    code
        Stable code: :data:`NO_EVENTS_IN_WEEK` (``"no_events_in_week"``) or
        :data:`FEW_STAGE_ENTRIES_IN_WEEK` (``"few_stage_entries_in_week"``).
    value
        The week's figure: its events, or its stage entries past the first stage.
    median
        For a low-volume warning: the median of the same figure over the
        previous weeks of the history (``None`` otherwise).
    weeks
        How many previous weeks that median is of.

    Examples
    --------
    >>> DataWarning(NO_EVENTS_IN_WEEK, 0).to_dict()
    {'code': 'no_events_in_week', 'value': 0, 'median_previous_weeks': None, 'previous_weeks': None}
    """

    code: str
    value: int
    median: float | None = None
    weeks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (an entry of ``warnings`` in ``metrics.json``)."""
        return {
            "code": self.code,
            "value": self.value,
            "median_previous_weeks": self.median,
            "previous_weeks": self.weeks,
        }


@dataclass(frozen=True)
class Kpi:
    """One headline number, this week against the week before.

    Attributes
    ----------
    name
        Stable key, e.g. ``"reached_client"`` or ``"conversion_warm_lead_to_client"``.
    kind
        ``"count"`` (contacts) or ``"rate"`` (a share, 0 to 1).
    stage, to_stage
        The stage the number is about (and, for a rate, the stage converted to).
    value, previous
        This week's and the previous week's value; ``previous`` is ``None``
        when there is nothing to compare with (a count whose previous week
        lies before the first event of the data).
    successes, trials, previous_successes, previous_trials
        The counts behind a rate (``None`` for counts).
    low, high
        95 % Wilson interval of this week's rate (``None`` for counts).
    p_value
        Two-sided p-value of the change: a pooled two-proportion test for a
        rate; for a count, the test that both weeks have the same expected
        count (``z = (a - b) / sqrt(a + b)``, normal approximation).
    verdict
        ``"increase"``, ``"decrease"``, ``"within noise"`` (p >= 0.05),
        ``"too few"`` (not enough contacts for a verdict) or ``"no previous
        week"`` (a count whose previous week lies before the data).  These
        are codes: the report shows them as "up", "down"... in its language.
    incomplete
        The rate's conversion window has not closed yet at the week's end:
        it may still rise.
    period
        For a rate: the ISO week of entry it is about (the latest whose window
        has closed); counts are about the report week itself.
    """

    name: str
    kind: str
    stage: str
    value: float
    previous: float | None
    p_value: float | None
    verdict: str
    to_stage: str | None = None
    successes: int | None = None
    trials: int | None = None
    previous_successes: int | None = None
    previous_trials: int | None = None
    low: float | None = None
    high: float | None = None
    incomplete: bool = False
    period: str | None = None

    @property
    def change(self) -> float | None:
        """``value - previous`` (``None`` without a previous value)."""
        return None if self.previous is None else self.value - self.previous

    @property
    def noise(self) -> bool:
        """Whether there is no change to read: inside the noise, too few, or no previous week."""
        return self.verdict in ("within noise", "too few", NO_PREVIOUS_WEEK)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        out: dict[str, Any] = _json_ready(
            {
                "name": self.name,
                "kind": self.kind,
                "stage": self.stage,
                "to_stage": self.to_stage,
                "value": self.value,
                "previous": self.previous,
                "change": self.change,
                "successes": self.successes,
                "trials": self.trials,
                "previous_successes": self.previous_successes,
                "previous_trials": self.previous_trials,
                "low": self.low,
                "high": self.high,
                "p_value": self.p_value,
                "verdict": self.verdict,
                "noise": self.noise,
                "incomplete": self.incomplete,
                "period": self.period,
            }
        )
        return out


def _count_test(before: int, after: int, *, alpha: float = 0.05) -> tuple[float, str]:
    """Return the p-value and verdict of "same expected count in both weeks".

    Given the total ``n = before + after``, an unchanged count makes ``after``
    binomial with ``n`` trials and probability 1/2; ``z = (after - before) /
    sqrt(n)`` is its normal approximation, good once the expected count of
    each week, ``n / 2``, is at least :data:`~funnelkit.stats.MIN_PER_OUTCOME`.
    Below that the verdict is ``"too few"``.  A week's own count may be 0: a
    fall from 195 to 0 is a clear decrease.
    """
    total = before + after
    z = abs(after - before) / math.sqrt(total) if total else 0.0
    p_value = math.erfc(z / math.sqrt(2))
    if total < 2 * MIN_PER_OUTCOME:
        return p_value, "too few"
    if p_value < alpha:
        return p_value, "increase" if after > before else "decrease"
    return p_value, "within noise"


def _without_previous_week(kpi: Kpi) -> Kpi:
    """Return ``kpi`` uncompared when it is a count with no contact in the previous week.

    Called only when that week lies before the data, where 0 means "no data".
    """
    if kpi.kind != "count" or kpi.previous:
        return kpi
    return replace(kpi, previous=None, p_value=None, verdict=NO_PREVIOUS_WEEK)


def _json_ready(value: Any) -> Any:
    """Return ``value`` with NaN as ``None``, times as ISO text and tuples as lists."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def _records(frame: pl.DataFrame) -> list[Any]:
    return [_json_ready(row) for row in frame.iter_rows(named=True)]


def _rounded(value: Any, key: str = "") -> Any:
    """Return JSON-ready ``value`` with its floats rounded to :data:`METRICS_DECIMALS` places.

    Floats under a key of ``_FULL_PRECISION`` are left as they are (a small
    p-value would round to 0); ``-0.0`` becomes ``0.0``.
    """
    if isinstance(value, float):
        return value if key in _FULL_PRECISION else round(value, METRICS_DECIMALS) + 0.0
    if isinstance(value, Mapping):
        return {k: _rounded(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, key) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class WeeklyMetrics:
    """Every number of one week's report, computed once.

    Build it with :func:`weekly_metrics`.  The report's tables and figures are
    drawn from these results, and :meth:`to_dict` (``metrics.json``) holds the
    same numbers, so what a reader sees and what a machine reads agree.

    Attributes
    ----------
    week
        The ISO week; stages are classified as of its end.
    funnel
        The definition used.
    window
        The conversion window.
    breakdown
        The breakdown column, or ``None``.
    weeks_of_history
        How many weeks the trends and cohorts cover (the report week included).
    headline
        The headline numbers (:class:`Kpi`), counts first, then rates.
    snapshot
        Contacts at or past each stage as of the week's end.
    flows
        Contacts by stage at the week's start and at its end.
    entries
        Contacts that first reached each stage, per week of history:
        ``week``, ``rank``, ``stage``, ``contacts``.
    quality
        Rows read, set aside, and ignored.
    conversion
        The ordered funnel (:func:`funnelkit.conversion.funnel`) of the events
        of the history weeks, up to the week's end, within ``window``: overall,
        by ``breakdown`` (small segments suppressed) and its time to convert.
    trend
        Conversion per week of entry (:func:`funnelkit.conversion.conversion_over_time`)
        as of the week's end; weeks whose window is still open are not ``complete``.
    comparison
        Each rate of the latest entry week whose window has closed
        (:func:`last_closed_week`) against the week before; ``None`` when there
        is no week before it in the data.
    cohorts
        Share of each acquisition week (of the history) that reached the
        target stage, by days since acquisition (Kaplan-Meier, as of the week's end).

    When ``quality`` counts no event before the week, its previous week lies
    before the data: the headline counts that are 0 that week are given no
    previous value (``previous=None``, verdict ``"no previous week"``), on
    whichever engine they were computed.
    """

    week: IsoWeek
    funnel: Funnel
    window: timedelta
    breakdown: str | None
    weeks_of_history: int
    headline: tuple[Kpi, ...]
    snapshot: Snapshot
    flows: Flows
    entries: pl.DataFrame
    quality: DataQuality
    conversion: FunnelResult
    trend: ConversionTrend
    comparison: PeriodComparison | None
    cohorts: CohortTable

    def __post_init__(self) -> None:
        if self.quality.events_before_week == 0:
            # A frozen dataclass sets a field it derives with object.__setattr__.
            object.__setattr__(
                self, "headline", tuple(_without_previous_week(k) for k in self.headline)
            )

    @property
    def warnings(self) -> tuple[DataWarning, ...]:
        """Signs that the week's data is incomplete (see the module documentation).

        ``no_events_in_week`` when the data holds no event in the week;
        otherwise ``few_stage_entries_in_week`` when contacts reached a stage
        past the first fewer than :data:`LOW_VOLUME_SHARE` times as often as
        in the median previous week of the history.
        """
        if self.quality.events_in_week == 0:
            return (DataWarning(NO_EVENTS_IN_WEEK, 0),)
        per_week = (
            self.entries.group_by("week")
            .agg(
                pl.col("contacts").filter(pl.col("rank") > 1).sum().alias("past_first"),
                pl.col("contacts").sum().alias("all"),
            )
            .sort("week")
        )
        this = str(self.week)
        current = sum(int(n) for week, n, _ in per_week.iter_rows() if week == this)
        earlier = [(int(n), int(total)) for week, n, total in per_week.iter_rows() if week < this]
        # the leading weeks without any stage entry lie before the data: leave them out
        previous = [n for n, _ in itertools.dropwhile(lambda row: row[1] == 0, earlier)]
        if len(previous) < LOW_VOLUME_MIN_WEEKS:
            return ()
        median = float(statistics.median(previous))
        if median >= LOW_VOLUME_MIN_MEDIAN and current < LOW_VOLUME_SHARE * median:
            return (DataWarning(FEW_STAGE_ENTRIES_IN_WEEK, current, median, len(previous)),)
        return ()

    @property
    def stalled_stage(self) -> str:
        """The stage whose idle contacts the report lists (see :func:`stalled_contacts`)."""
        return stalled_stage(self.funnel)

    @property
    def as_of(self) -> datetime:
        """The week's end (next Monday 00:00 UTC): events before it are counted."""
        return self.week.end

    def kpi(self, name: str) -> Kpi:
        """Return the headline number ``name``."""
        for item in self.headline:
            if item.name == name:
                return item
        names = [k.name for k in self.headline]
        msg = f"no headline number {name!r}.{did_you_mean(name, names)}"
        raise ParameterError(msg)

    def to_polars(self) -> pl.DataFrame:
        """Return the headline numbers as a table (see :meth:`headline_table`)."""
        return self.headline_table()

    def headline_table(self, lang: str = "en") -> pl.DataFrame:
        """Return the headline as a table: one row per number, labels in ``lang``."""
        rows = []
        for k in self.headline:
            rows.append(
                {
                    "name": k.name,
                    "label": self.kpi_label(k, lang),
                    "kind": k.kind,
                    "value": float(k.value),
                    "previous": None if k.previous is None else float(k.previous),
                    "change": k.change,
                    "low": k.low,
                    "high": k.high,
                    "verdict": k.verdict,
                    "incomplete": k.incomplete,
                }
            )
        return pl.DataFrame(rows, schema=_HEADLINE_SCHEMA)

    def kpi_label(self, kpi: Kpi, lang: str = "en") -> str:
        """Return the wording of a headline number in ``lang`` (``en`` or ``fr``)."""
        stage = self.funnel.stage(kpi.stage).label(lang)
        if kpi.kind == "count":
            first = kpi.stage == self.funnel.stage_ids[0]
            if lang == "fr":
                return "Nouveaux contacts" if first else f"Nouveaux : {stage}"
            return "New contacts" if first else f"Reached: {stage}"
        target = self.funnel.stage(kpi.to_stage or kpi.stage).label(lang)
        if kpi.period is None:
            return f"{stage} → {target}"
        entered = "entrés en" if lang == "fr" else "entered"
        return f"{stage} → {target} ({entered} {kpi.period})"

    def to_dict(self) -> dict[str, Any]:
        """Return every number as a JSON-ready dictionary (the content of ``metrics.json``).

        Numbers that are not whole (shares, rates, their intervals and
        changes, durations in seconds) are rounded to :data:`METRICS_DECIMALS`
        (6) decimal places, so a share of 6 contacts in 201 reads ``0.029851``
        whichever way it was computed (a Kaplan-Meier product gives
        ``0.02985074626865669``).  P-values (``p_value``) keep full precision:
        a small one would read 0.
        """
        funnel = self.funnel
        snap = self.snapshot.table.select(
            "rank",
            "stage",
            "at_or_past",
            "drop_off",
            "step_conversion",
            "overall_conversion",
            "current",
        )
        out: dict[str, Any] = {
            "funnelkit_version": __version__,
            "week": str(self.week),
            "week_start": self.week.start.isoformat(),
            "week_end": self.week.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "parameters": {
                "window": format_duration(self.window),
                "window_days": self.window / timedelta(days=1),
                "breakdown": self.breakdown,
                "weeks_of_history": self.weeks_of_history,
                "min_segment_size": MIN_SEGMENT,
            },
            "funnel": {
                "name": funnel.name,
                "description": funnel.description,
                "stages": [
                    {
                        "rank": rank,
                        "id": s.id,
                        "labels": dict(s.labels),
                        "rule": s.describe(),
                    }
                    for rank, s in enumerate(funnel.stages, start=1)
                ],
                "toml": funnel.to_toml(),
            },
            "rows": self.quality.to_dict(),
            "headline": [k.to_dict() for k in self.headline],
            "snapshot": _records(snap),
            "flows": _records(
                self.flows.table.select(
                    "from_rank", "from_stage", "to_rank", "to_stage", "contacts"
                )
            ),
            "entries": _records(self.entries),
            "warnings": [w.to_dict() for w in self.warnings],
            "stage_steps": self.stage_steps(),
        }
        out["conversion"] = _json_ready(self.conversion.to_dict())
        out["trend"] = _records(
            self.trend_table().select(
                pl.col("period_start").dt.strftime(_ISO_WEEK).alias("week"),
                "step",
                "name",
                "count",
                "conversion_from_first",
                "ci_low",
                "ci_high",
                "complete",
            )
        )
        out["week_over_week"] = (
            None if self.comparison is None else _json_ready(self.comparison.to_dict())
        )
        out["cohorts"] = _records(self.cohort_summary())
        rounded: dict[str, Any] = _rounded(out)
        return rounded

    def stage_steps(self) -> dict[str, str]:
        """Return how each section read a stage: ``"entry"`` everywhere.

        The headline counts, the snapshot and the flows come from the
        classification, which reads stages by entry by definition; the other
        sections say what they read (``stage_steps`` of their result).
        """
        readings = {"headline": "entry", "snapshot": "entry", "flows": "entry"}
        readings["conversion"] = self.conversion.stage_steps
        readings["trend"] = self.trend.stage_steps
        if self.comparison is not None:
            readings["week_over_week"] = self.comparison.stage_steps
        readings["cohorts"] = self.cohorts.stage_steps
        return readings

    def trend_table(self) -> pl.DataFrame:
        """Return :attr:`trend`'s table over the history weeks, by week then step.

        :func:`funnelkit.figures.conversion_over_time_figure` draws it as it is
        (a week not ``complete`` is drawn dashed).
        """
        first = self.week.shift(1 - self.weeks_of_history).start
        return self.trend.table.filter(pl.col("period_start") >= first).sort("period_start", "step")

    def cohort_summary(self, days: tuple[int, ...] = (0, 7, 14, 28, 56, 84)) -> pl.DataFrame:
        """Return per cohort its size and the share that reached the target by a few days."""
        table = self.cohorts.table
        marks = [d for d in days if d <= self.cohorts.horizon.days]
        sizes = table.group_by("cohort_start").agg(pl.col("cohort_size").first())
        shares = table.filter(pl.col("day").is_in(marks)).pivot(
            on="day", index="cohort_start", values="share", sort_columns=True
        )
        renamed = shares.rename(
            {str(d): f"share_day_{d}" for d in marks if str(d) in shares.columns}
        )
        missing = [f"share_day_{d}" for d in marks if str(d) not in shares.columns]
        renamed = renamed.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in missing)
        return (
            sizes.join(renamed, on="cohort_start", how="left")
            .with_columns(pl.col("cohort_start").dt.strftime(_ISO_WEEK).alias("cohort"))
            .select("cohort", "cohort_size", *(f"share_day_{d}" for d in marks))
            .sort("cohort")
        )

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text: sorted keys, two-space indent, final newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` and return the path."""
        target = Path(path)
        target.write_text(self.to_json(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        from funnelkit.markup import Markup, format_html

        table = self.headline_table()
        return format_html(
            "<div><strong>Week {}</strong> under funnel definition {}{}</div>",
            str(self.week),
            repr(self.funnel.name),
            Markup(table._repr_html_()),  # polars escapes the cells and column names
        )


_HEADLINE_SCHEMA = {
    "name": pl.String,
    "label": pl.String,
    "kind": pl.String,
    "value": pl.Float64,
    "previous": pl.Float64,
    "change": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "verdict": pl.String,
    "incomplete": pl.Boolean,
}


def as_funnel(funnel: Funnel | str) -> Funnel:
    """Return ``funnel``, loading it first when it is a preset name or a TOML path."""
    return funnel if isinstance(funnel, Funnel) else load_funnel(funnel)


def _contacts_lazy(
    contacts: ContactTable | pl.DataFrame | pl.LazyFrame | None,
) -> pl.LazyFrame | None:
    return None if contacts is None else as_lazy_contacts(contacts)


def _quality(
    lf: pl.LazyFrame,
    week: IsoWeek,
    summary: SetAsideSummary | None,
    contacts: ContactTable | pl.DataFrame | pl.LazyFrame | None,
) -> DataQuality:
    t = pl.col(OCCURRED_AT)
    start, end = pl.lit(week.start), pl.lit(week.end)
    counts = lf.select(
        pl.len().alias("kept"),
        (t < start).sum().alias("before"),
        ((t >= start) & (t < end)).sum().alias("in_week"),
        (t >= end).sum().alias("after"),
    ).collect()
    kept, before, in_week, after = (int(v) for v in counts.row(0))
    contacts_read = contacts_kept = None
    if isinstance(contacts, ContactTable):
        table = contacts.summary()
        contacts_read, contacts_kept = table.rows_read, table.rows_kept
    elif contacts is not None:
        contacts_read = contacts_kept = int(contacts.lazy().select(pl.len()).collect().item())
    if summary is None:
        source, read, by_reason = "<frame>", kept, {}
    else:
        source, read = summary.source, summary.rows_read
        by_reason = {k: c for k, (c, _) in summary.by_reason.items()}
    return DataQuality(
        source=source,
        rows_read=read,
        rows_kept=kept,
        set_aside_by_reason=by_reason,
        events_before_week=before,
        events_in_week=in_week,
        events_after_week=after,
        contacts_read=contacts_read,
        contacts_kept=contacts_kept,
    )


def _entries(classified: pl.DataFrame, funnel: Funnel, weeks: list[IsoWeek]) -> pl.DataFrame:
    """Contacts that first reached each stage, per week (zeros included)."""
    starts = [w.start for w in weeks]
    grid = pl.DataFrame(
        [(str(w), w.start, rank, s.id) for w in weeks for rank, s in enumerate(funnel.stages, 1)],
        schema={
            "week": pl.String,
            "week_start": pl.Datetime("us", "UTC"),
            "rank": pl.Int32,
            "stage": pl.String,
        },
        orient="row",
    )
    long = (
        classified.select(
            pl.concat_list(
                pl.struct(
                    pl.lit(s.id).alias("stage"),
                    pl.col(f"{s.id}_at").dt.truncate("1w").alias("week_start"),
                )
                for s in funnel.stages
            ).alias("reached")
        )
        .explode("reached")
        .unnest("reached")
    )
    counts = (
        long.filter(pl.col("week_start").is_in(starts))
        .group_by("stage", "week_start")
        .agg(pl.len().cast(pl.Int64).alias("contacts"))
    )
    return (
        grid.join(counts, on=["stage", "week_start"], how="left")
        .with_columns(pl.col("contacts").fill_null(0))
        .select("week", "rank", "stage", "contacts")
        .sort("week", "rank")
    )


def count_kpis(entries: pl.DataFrame, funnel: Funnel, week: IsoWeek) -> list[Kpi]:
    """Return the stage-entry count KPIs of ``week`` from the weekly ``entries`` table."""
    this, before = str(week), str(week.shift(-1))
    counts = {(w, s): int(n) for w, s, n in entries.select("week", "stage", "contacts").iter_rows()}
    out = []
    for stage in funnel.stage_ids:
        now, prev = counts.get((this, stage), 0), counts.get((before, stage))
        p_value, verdict = _count_test(prev or 0, now)
        out.append(
            Kpi(
                name="new_contacts" if stage == funnel.stage_ids[0] else f"reached_{stage}",
                kind="count",
                stage=stage,
                value=now,
                previous=prev,
                p_value=p_value if prev is not None else None,
                verdict=verdict if prev is not None else NO_PREVIOUS_WEEK,
            )
        )
    return out


def target_stage(funnel: Funnel) -> str:
    """Return the stage a funnel converts to: ``client`` when it has one, else its last stage.

    Examples
    --------
    >>> target_stage(load_funnel("inbound")), target_stage(load_funnel("sales"))
    ('client', 'client')
    """
    return "client" if "client" in funnel.stage_ids else funnel.stage_ids[-1]


def stalled_stage(funnel: Funnel) -> str:
    """Return the stage just before :func:`target_stage`, whose idle contacts need a follow-up.

    Examples
    --------
    >>> stalled_stage(load_funnel("inbound")), stalled_stage(load_funnel("sales"))
    ('warm_lead', 'qualified_prospect')
    """
    return funnel.stage_ids[max(funnel.rank(target_stage(funnel)) - 2, 0)]


def stalled_contacts(
    events: EventLog | pl.LazyFrame | pl.DataFrame,
    funnel: Funnel | str,
    *,
    as_of: datetime,
    contacts: ContactTable | pl.DataFrame | pl.LazyFrame | None = None,
    stage: str | None = None,
    limit: int = 10,
) -> pl.DataFrame:
    """Return the contacts at ``stage`` with no activity for the longest time.

    These are the ones to follow up first.  The table holds real contact ids:
    pseudonymise them (:func:`funnelkit.privacy.pseudonymize_columns`) before
    the table leaves the machine.

    Parameters
    ----------
    events, funnel, contacts
        As in :func:`weekly_metrics`.
    as_of
        Classify with the events before this instant (a week's ``end``).
    stage
        Default: the stage before :func:`target_stage` (``warm_lead`` in
        ``inbound``, ``qualified_prospect`` in ``sales``).
    limit
        How many contacts to return.

    Returns
    -------
    pl.DataFrame
        ``contact_id``, ``stage``, ``reached_at`` (first time at the stage),
        ``last_activity_at``, ``idle_days`` (whole days from the last activity
        to ``as_of``); longest idle first, ties by id.

    Examples
    --------
    >>> import datetime as dt
    >>> df = pl.DataFrame({"contact_id": ["a", "a", "b"], "event": ["page_view",
    ...     "ebook_download", "ebook_download"], "occurred_at": [dt.datetime(2026, 11, 2),
    ...     dt.datetime(2026, 11, 3), dt.datetime(2026, 11, 12)], "amount": [None, None, 1.0]})
    >>> as_of = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    >>> stalled_contacts(df, "inbound", as_of=as_of)["contact_id"].to_list()
    ['a', 'b']
    """
    if frames.is_engine_frame(events):
        return frames.on_engine("stalled_contacts", pl.DataFrame)(
            events, funnel, as_of=as_of, contacts=contacts, stage=stage, limit=limit
        )
    definition = as_funnel(funnel)
    chosen = definition.stage(stage).id if stage else stalled_stage(definition)
    cut = instant_before(as_of)
    classified = classify(events, definition, as_of=cut, contacts=_contacts_lazy(contacts))
    return (
        classified.filter(pl.col("stage") == chosen)
        .select(
            CONTACT_ID,
            "stage",
            pl.col(f"{chosen}_at").alias("reached_at"),
            "last_activity_at",
            ((pl.lit(as_of) - pl.col("last_activity_at")).dt.total_days()).alias("idle_days"),
        )
        .sort("last_activity_at", CONTACT_ID, nulls_last=False)
        .head(limit)
        .collect()
    )


def weekly_metrics(
    events: EventLog | pl.LazyFrame | pl.DataFrame,
    funnel: Funnel | str,
    *,
    week: IsoWeek | str,
    contacts: ContactTable | pl.DataFrame | pl.LazyFrame | None = None,
    window: timedelta | str = "28d",
    breakdown: str | None = None,
    weeks_of_history: int = 12,
    set_aside: SetAsideSummary | None = None,
    in_memory: bool = True,
    allow_personal: bool = False,
) -> WeeklyMetrics:
    """Compute every number of the weekly report for ``week``.

    Parameters
    ----------
    events
        The events (an :class:`~funnelkit.events.EventLog` or a canonical frame).
        Events at or after the week's end are ignored (and counted).
    funnel
        A definition, or a preset name / TOML path for
        :func:`~funnelkit.definitions.load_funnel`.
    week
        The ISO week, e.g. ``"2026-W46"``.
    contacts
        Optional contacts table: contacts with no events count in the first
        stage, and its columns can be the breakdown.
    window
        Conversion window (``"28d"``, ``"4w"`` or a timedelta).
    breakdown
        A column of the events or contacts to break conversion down by.
    weeks_of_history
        Weeks covered by the trend, the entries and the cohorts (the report
        week included).
    set_aside
        What reading the events set aside; default: ``events.summary()`` for an
        :class:`~funnelkit.events.EventLog`.
    in_memory
        Read the events into memory once and reuse them for every figure (the
        fastest on logs that fit in memory, the default).  Pass ``False`` for a
        log larger than memory: each query then streams through the files.
    allow_personal
        Accept a ``breakdown`` column holding personal data, its values
        replaced by keyed pseudonyms (see :func:`funnelkit.conversion.funnel`);
        off, such a column is refused
        (:class:`~funnelkit.errors.PersonalDataError`).

    Returns
    -------
    WeeklyMetrics

    Examples
    --------
    >>> import datetime as dt
    >>> df = pl.DataFrame({"contact_id": ["a", "a", "b"], "event": ["page_view", "purchase",
    ...     "page_view"], "amount": [None, 20.0, None], "occurred_at": [dt.datetime(2026, 11, 2),
    ...     dt.datetime(2026, 11, 10), dt.datetime(2026, 11, 11)]})
    >>> m = weekly_metrics(df, "inbound", week="2026-W46", weeks_of_history=2)
    >>> m.kpi("new_contacts").value, m.kpi("reached_client").value
    (1, 1)
    """
    check_breakdown(
        breakdown, [events, contacts], allow_personal=allow_personal, option="breakdown"
    )
    if frames.is_engine_frame(events):
        return frames.on_engine("weekly_metrics", WeeklyMetrics)(
            events,
            funnel,
            week=week,
            contacts=contacts,
            window=window,
            breakdown=breakdown,
            weeks_of_history=weeks_of_history,
        )
    target = parse_week(week)
    definition = as_funnel(funnel)
    span = parse_duration(window, name="window")
    if span <= timedelta(0):
        msg = f"window: the conversion window must be positive, got {format_duration(span)}."
        raise ParameterError(msg)
    if weeks_of_history < 1:
        msg = f"weeks_of_history: expected at least 1, got {weeks_of_history}."
        raise ParameterError(msg)
    summary = set_aside
    if summary is None and isinstance(events, EventLog):
        summary = events.summary()
    everything = as_lazy(events)
    if in_memory:
        # Read (and validate) the events once; everything below reuses them.
        everything = everything.collect(engine="streaming").lazy()
    quality = _quality(everything, target, summary, contacts)
    lf = everything.filter(pl.col(OCCURRED_AT) < target.end)
    # Text columns the definition compares with numbers: checked (one pass) and read
    # as numbers here once, rather than again by each figure below.
    lf = definition.read_numbers(lf)
    people = _contacts_lazy(contacts)
    cut = instant_before(target.end)

    classified = classify(lf, definition, as_of=cut, contacts=people).collect()
    snap = snapshot(classified, definition)
    week_flows = flows(lf, definition, start=instant_before(target.start), end=cut, contacts=people)
    history = [target.shift(-i) for i in reversed(range(weeks_of_history))]
    entries = _entries(classified, definition, sorted({*history, target.shift(-1)}))
    headline = count_kpis(entries, definition, target)
    entries = entries.filter(pl.col("week").is_in([str(w) for w in history]))
    rates_week = last_closed_week(target, span)
    since = min(history[0], rates_week.shift(-1)).start
    trend = conversion.conversion_over_time(
        lf, definition, window=span, period="week", as_of=target.end, since=since, until=target.end
    )
    comparison = _compare(lf, definition, span, rates_week, target, since)
    if comparison is not None:
        headline += rate_kpis(comparison, definition)
    curves = conversion.cohorts(
        lf,
        definition.stage(target_stage(definition)),
        period="week",
        horizon=timedelta(weeks=weeks_of_history),
        as_of=cut,
        until=target.end,
        definition=definition,
    )
    ordered = conversion.funnel(
        lf,
        definition,
        window=span,
        by=breakdown,
        min_size=MIN_SEGMENT,
        contacts=contacts,
        since=history[0].start,
        until=target.end,
        allow_personal=allow_personal,
    )
    return WeeklyMetrics(
        week=target,
        funnel=definition,
        window=span,
        breakdown=breakdown,
        weeks_of_history=weeks_of_history,
        headline=tuple(headline),
        snapshot=snap,
        flows=week_flows,
        entries=entries,
        quality=quality,
        conversion=ordered,
        trend=trend,
        comparison=comparison,
        cohorts=recent_cohorts(curves, history[0]),
    )


def last_closed_week(week: IsoWeek | str, window: timedelta | str) -> IsoWeek:
    """Return the latest entry week whose conversion window has closed by ``week``'s end.

    Its rates are final: every contact who entered that week has had the whole
    window to convert by the report's "as of".

    Examples
    --------
    >>> str(last_closed_week("2026-W47", "28d")), str(last_closed_week("2026-W47", "3d"))
    ('2026-W43', '2026-W46')
    """
    target = parse_week(week)
    span = parse_duration(window, name="window")
    candidate = IsoWeek.of(target.end - span)
    return candidate if candidate.end + span <= target.end else candidate.shift(-1)


def _compare(
    lf: pl.LazyFrame,
    definition: Funnel,
    span: timedelta,
    rates_week: IsoWeek,
    target: IsoWeek,
    since: datetime,
) -> PeriodComparison | None:
    """Week over week of the latest closed entry week; ``None`` without a week before it."""
    try:
        return conversion.week_over_week(
            lf,
            definition,
            window=span,
            current=rates_week.start,
            as_of=target.end,
            since=since,
            until=target.end,
        )
    except ParameterError:
        return None


def rate_kpis(comparison: PeriodComparison, definition: Funnel) -> list[Kpi]:
    """Return the conversion-rate KPIs of a week-over-week ``comparison``."""
    ids = definition.stage_ids
    goal = definition.rank(target_stage(definition))
    wanted = comparison.table.filter(
        (pl.col("rate") == "from_previous")
        | ((pl.col("rate") == "from_first") & (pl.col("step") == goal) & (pl.lit(goal) > 2))
    )
    out = []
    for row in wanted.iter_rows(named=True):
        step = int(row["step"])
        start = ids[0] if row["rate"] == "from_first" else ids[step - 2]
        successes, trials = int(row["current_successes"]), int(row["current_trials"] or 0)
        low, high = wilson_interval(successes, trials) if trials else (None, None)
        out.append(
            Kpi(
                name=f"conversion_{start}_to_{ids[step - 1]}",
                kind="rate",
                stage=start,
                to_stage=ids[step - 1],
                value=math.nan if row["current_rate"] is None else row["current_rate"],
                previous=row["previous_rate"],
                p_value=row["p_value"],
                verdict=str(row["verdict"]),
                successes=successes,
                trials=trials,
                previous_successes=int(row["previous_successes"]),
                previous_trials=int(row["previous_trials"] or 0),
                low=low,
                high=high,
                incomplete=not comparison.current_complete,
                period=f"{IsoWeek.of(comparison.current_start)}",
            )
        )
    return out


def recent_cohorts(curves: CohortTable, first: IsoWeek) -> CohortTable:
    """Keep the cohorts of ``curves`` from week ``first`` on."""
    return replace(curves, table=curves.table.filter(pl.col("cohort_start") >= first.start))
