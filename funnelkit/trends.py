"""Conversion per period of entry, and one period compared with the one before.

:func:`conversion_over_time` cuts a funnel by the period in which contacts
entered it, flagging periods whose window is still open; :func:`compare_periods`
(and :func:`week_over_week`) says whether a period's rates differ from the
previous period's beyond the noise.  One function each for every engine: the
chains come from :func:`funnelkit.core.chains.chains_of` (the core, or the
polars accelerator), :func:`trend_counts` counts them per period where the
events are, and :func:`finish_trend` and :func:`compare_trend` turn that small
table into the results, in polars.  The chain rule, the counted chain and
``stage_steps`` are those of :mod:`funnelkit.conversion`, which re-exports
these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import narwhals as nw
import polars as pl

from funnelkit.aggregate import STEP_COLUMNS as _STEP_COLUMNS
from funnelkit.aggregate import long_steps
from funnelkit.chains import Events
from funnelkit.core.chains import chains_of, nw_spec
from funnelkit.core.counts import wide_counts, wide_frame
from funnelkit.core.periods import period_start, roll_up
from funnelkit.definitions import Funnel
from funnelkit.engine_frames import TS, core_events, from_us, restrict, span_us
from funnelkit.errors import ParameterError
from funnelkit.events import ContactTable
from funnelkit.results import ConversionTrend, PeriodComparison
from funnelkit.stats import check_alpha, two_proportion_p_value, verdict_expr
from funnelkit.steps import (
    PERIODS,
    Exclusion,
    Order,
    Period,
    Rules,
    Spec,
    StageSteps,
    StepSpec,
    StepsSpec,
    check_period,
    warn_outside_events,
    warn_unknown_events,
)
from funnelkit.timeutil import TimeLike, parse_as_of, parse_time

__all__ = [
    "compare_periods",
    "compare_trend",
    "conversion_over_time",
    "finish_trend",
    "trend_counts",
    "week_over_week",
]


# --- conversion over time --------------------------------------------------------
def _periods_grid(starts: pl.Series, every: str) -> pl.DataFrame:
    first, last = starts.min(), starts.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return pl.DataFrame(schema={"period_start": pl.Datetime("us", "UTC")})
    grid = pl.datetime_range(first, last, interval=every, time_zone="UTC", eager=True)
    return pl.DataFrame({"period_start": grid}).with_columns(
        pl.col("period_start").cast(pl.Datetime("us", "UTC"))
    )


def conversion_over_time(
    events: Events,
    steps: StepsSpec,
    *,
    window: str | timedelta,
    period: Period = "week",
    as_of: TimeLike | None = None,
    order: Order = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Exclusion | tuple[StepSpec, int, int]] = (),
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
    rules: Rules = "funnelkit",
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> ConversionTrend:
    """Return funnel rates per period of entry, with unfinished periods flagged.

    Each contact is counted once, in the period of the start of its counted
    chain (with ``first_entry=True``: of its first step-1 event), with the
    steps that chain reached within the window; the periods therefore add up
    to :func:`~funnelkit.conversion.funnel` on the same events.  A period is ``complete`` when the
    window of its last possible entrant has closed by ``as_of``; the rates of
    an incomplete period are still growing and must not be read as a drop.

    With a stage as step 1 (read by entry, the default), a contact's period
    is that of its entry into that stage.

    Parameters
    ----------
    events, steps, window, order, first_entry, exclusions, since, until, rules
        As in :func:`~funnelkit.conversion.funnel` (the events may be an
        :class:`~funnelkit.events.EventLog`, a polars frame, a DuckDB relation
        or a Spark DataFrame; ``contacts`` on the same engine).
    period
        ``"day"``, ``"week"`` (ISO weeks, from Monday 00:00 UTC) or ``"month"``.
    as_of
        What the data is known up to (a date means the end of that day, as in
        :func:`funnelkit.stages.classify`); by default the last event's time.
    stage_steps, definition
        As in :func:`~funnelkit.conversion.funnel`: ``"entry"`` (default) reads a stage step as
        the instant the contact entered the stage (see :mod:`funnelkit.conversion`).
    contacts
        Optional contacts table (``contact_id``, ``created_at``), read as in
        :func:`~funnelkit.conversion.funnel`: with stages read by entry, a
        contact created with no event enters the first stage at its
        ``created_at``, so the periods count the contacts ``classify`` counts.
    classified
        As in :func:`~funnelkit.conversion.funnel`: the stage entries' classification
        (:func:`~funnelkit.entry.entry_classification`), read instead of classifying again.

    Returns
    -------
    ConversionTrend
        ``.table`` per period and step, with ``complete``; a notebook display.

    Raises
    ------
    ParameterError
        A step, window, order, exclusion, period or option is unusable.

    Warns
    -----
    UnknownEventWarning
        As :func:`~funnelkit.conversion.funnel` warns: a step or exclusion
        names an event a log read by :func:`~funnelkit.events.read_events`
        never holds (near misses only for a definition's names).

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 7)  # a Monday
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "b", "c"],
    ...     "occurred_at": [day, day + dt.timedelta(days=2), day + dt.timedelta(days=8),
    ...                     day + dt.timedelta(days=30)],
    ...     "event": ["page_view", "purchase", "page_view", "page_view"],
    ... })
    >>> trend = conversion_over_time(log, ["page_view", "purchase"], window="7d")
    >>> trend.table.filter(pl.col("step") == 2).select("count", "complete").rows()[:2]
    [(1, True), (0, True)]

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    ns = nw_spec(
        steps,
        window,
        order,
        first_entry,
        exclusions,
        stage_steps=stage_steps,
        definition=definition,
        rules=rules,
    )
    checked = check_period(period)
    warn_unknown_events(events, ns.spec)
    warn_outside_events(events, since=since, until=until)
    chains = chains_of(
        events, ns, since=since, until=until, contacts=contacts, classified=classified
    )
    known = parse_as_of(as_of)
    last = None if known is not None else _last_event(events, since, until)
    collected = chains.collect(
        lambda lf: [trend_counts(lf, ns.spec, checked), *([] if last is None else [last])]
    )
    if known is None:
        known = from_us(collected[1].item())
    return finish_trend(collected[0], ns.spec, checked, known)


def _last_event(events: Events, since: TimeLike | None, until: TimeLike | None) -> Any:
    """Return the query of the latest ``occurred_at`` (µs) read in ``[since, until)``."""
    lo, hi = span_us(since, until)
    return restrict(core_events(events).lf, lo, hi).select(nw.col(TS).max().alias("_last"))


def trend_counts(chains: Any, spec: Spec, period: str) -> Any:
    """Return the per-period counts of ``chains`` that :func:`finish_trend` turns into a trend.

    Each chain is counted in the UTC ``period`` of its step-1 time.  Days and
    ISO weeks are counted by the engine; for calendar months it counts per
    day, and :func:`finish_trend` adds the days of a month up.

    Parameters
    ----------
    chains
        Counted chains (:func:`funnelkit.core.chains.chains_of`), a narwhals
        lazy frame on any engine.
    spec
        The funnel's checked specification (``nw_spec(...).spec``).
    period
        ``"day"``, ``"week"`` or ``"month"``, already checked.

    Returns
    -------
    narwhals.LazyFrame
        The query: ``period_start`` (epoch µs), ``_excl``, ``c1..cn``.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.core.chains import chains_of, nw_spec
    >>> day = dt.datetime(2026, 9, 7)  # a Monday
    >>> times = [day + dt.timedelta(days=n) for n in (0, 2, 8)]
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "b"], "occurred_at": times,
    ...     "event": ["page_view", "purchase", "page_view"]})
    >>> ns = nw_spec(["page_view", "purchase"], "7d", "ordered", False, ())
    >>> chains = chains_of(log, ns, since=None, until=None)
    >>> [wide] = chains.collect(lambda lf: [trend_counts(lf, ns.spec, "week")])
    >>> wide.sort("period_start")["c2"].to_list()
    [1, 0]

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    start = period_start(nw.col("_t1"), period).alias("period_start")
    return wide_counts(chains.with_columns(start), spec.n, "period_start")


def finish_trend(
    wide: pl.DataFrame, spec: Spec, period: str, known: datetime | None
) -> ConversionTrend:
    """Return the trend of the collected :func:`trend_counts` ``wide``.

    Days of a month are added up for ``period="month"``.  Periods with no
    entrant are filled with zeros; a period is complete when its end plus the
    window is at or before ``known``.

    Parameters
    ----------
    wide
        The collected counts: ``period_start`` (epoch µs or UTC date-times),
        then ``_excl`` and ``c1..cn``.
    spec
        The funnel's checked specification, as given to :func:`trend_counts`.
    period
        ``"day"``, ``"week"`` or ``"month"``, as given to :func:`trend_counts`.
    known
        What the data is known up to; ``None`` marks every period incomplete.

    Returns
    -------
    ConversionTrend
        As :func:`conversion_over_time` returns it.

    Raises
    ------
    KeyError
        ``period`` is not ``"day"``, ``"week"`` nor ``"month"``.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.core.chains import chains_of, nw_spec
    >>> day = dt.datetime(2026, 9, 7)  # a Monday
    >>> times = [day + dt.timedelta(days=n) for n in (0, 2, 8)]
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "b"], "occurred_at": times,
    ...     "event": ["page_view", "purchase", "page_view"]})
    >>> ns = nw_spec(["page_view", "purchase"], "7d", "ordered", False, ())
    >>> chains = chains_of(log, ns, since=None, until=None)
    >>> [wide] = chains.collect(lambda lf: [trend_counts(lf, ns.spec, "week")])
    >>> trend = finish_trend(wide, ns.spec, "week", dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    >>> trend.table.select("step", "count", "complete").rows()
    [(1, 1, True), (2, 1, True), (1, 1, True), (2, 0, True)]

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    every = PERIODS[period]
    counts = [f"c{k}" for k in range(1, spec.n + 1)]
    wide = roll_up(wide_frame(wide, spec.n), "period_start", period, [])
    grid = _periods_grid(wide["period_start"], every)
    wide = grid.join(wide, on="period_start", how="left").with_columns(
        pl.col(["_excl", *counts]).fill_null(0)
    )
    long = long_steps(wide.drop("_excl"), spec, ["period_start"])
    window_td = timedelta(microseconds=spec.window_us)
    end = pl.col("period_start").dt.offset_by(every)
    complete = (end + window_td <= known) if known is not None else pl.lit(False)
    table = (
        wide.select("period_start", excluded="_excl")
        .join(long, on="period_start", how="left", maintain_order="left")
        .with_columns(period_end=end, complete=complete)
        .select("period_start", "period_end", "complete", "excluded", *_STEP_COLUMNS)
    )
    return ConversionTrend(
        table=table,
        period=period,
        window=window_td,
        as_of=known,
        step_names=tuple(s.name for s in spec.steps),
        stage_steps=spec.stage_steps,
    )


# --- period over period ------------------------------------------------------------
def compare_periods(
    events: Events,
    steps: StepsSpec,
    *,
    window: str | timedelta,
    period: Period = "week",
    current: TimeLike | None = None,
    as_of: TimeLike | None = None,
    alpha: float = 0.05,
    order: Order = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Exclusion | tuple[StepSpec, int, int]] = (),
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
    rules: Rules = "funnelkit",
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> PeriodComparison:
    """Compare each funnel rate of one entry period with the period before.

    :func:`conversion_over_time`, then :func:`compare_trend`: each rate of the
    chosen period is tested against the previous period's with a
    two-proportion test, and an incomplete period is never compared silently.

    Parameters
    ----------
    events, steps, window, order, first_entry, exclusions, since, until, rules
        As in :func:`~funnelkit.conversion.funnel` (the events may be an
        :class:`~funnelkit.events.EventLog`, a polars frame, a DuckDB relation
        or a Spark DataFrame; ``contacts`` on the same engine).
    stage_steps, definition, contacts, classified
        As in :func:`~funnelkit.conversion.funnel` (``"entry"``, the default: stages read by
        entry, as the snapshot sees them) and :func:`conversion_over_time`.
    period
        ``"day"``, ``"week"`` or ``"month"`` (see :func:`conversion_over_time`).
    current
        Any moment of the period to compare; by default the last complete
        period (whose window has closed by ``as_of``).
    as_of
        What the data is known up to (a date means the end of that day, as in
        :func:`funnelkit.stages.classify`); by default the last event's time.
    alpha
        Significance level for the verdicts.

    Returns
    -------
    PeriodComparison
        ``.table``, one row per step and rate, with a verdict.

    Raises
    ------
    ParameterError
        No complete period with a period before it, or ``current`` outside the
        data; ``alpha`` or a funnel option is unusable.

    Examples
    --------
    >>> import datetime as dt
    >>> monday = dt.datetime(2026, 9, 7)
    >>> visits = [("a", 0)] * 100 + [("b", 7)] * 100  # 100 entrants in each of two weeks
    >>> buys = [("a", 1)] * 40 + [("b", 8)] * 70  # 40 then 70 of them buy
    >>> log = pl.DataFrame({
    ...     "contact_id": [f"{w}{i % 100}" for i, (w, _) in enumerate(visits + buys)],
    ...     "occurred_at": [monday + dt.timedelta(days=d) for _, d in visits + buys],
    ...     "event": ["page_view"] * 200 + ["purchase"] * 110,
    ... })
    >>> cmp = compare_periods(log, ["page_view", "purchase"], window="3d", as_of="2026-10-01")
    >>> row = cmp.table.filter(pl.col("rate") == "from_previous")
    >>> row.select("previous_rate", "current_rate", "verdict").row(0)
    (0.4, 0.7, 'increase')

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    check_alpha(alpha)
    trend = conversion_over_time(
        events,
        steps,
        window=window,
        period=period,
        as_of=as_of,
        order=order,
        first_entry=first_entry,
        exclusions=exclusions,
        since=since,
        until=until,
        stage_steps=stage_steps,
        definition=definition,
        contacts=contacts,
        rules=rules,
        classified=classified,
    )
    return compare_trend(trend, current=current, alpha=alpha)


def compare_trend(
    trend: ConversionTrend, *, current: TimeLike | None = None, alpha: float = 0.05
) -> PeriodComparison:
    """Compare one entry period of a computed trend with the period before it.

    This is the second half of :func:`compare_periods`, for a trend already at
    hand (computed by polars or by an engine of :mod:`funnelkit.engines`).

    Parameters
    ----------
    trend
        A :func:`conversion_over_time` result.
    current
        A moment in the period to compare; default: the latest complete one.
    alpha
        Significance level of the two-proportion test.

    Returns
    -------
    PeriodComparison
        ``.table``, one row per step and rate, with a verdict.

    Raises
    ------
    ParameterError
        ``alpha`` is not in (0, 1); no complete period to compare; ``current``
        holds no entries or is the first period.

    Examples
    --------
    >>> import datetime as dt
    >>> log = pl.DataFrame({"contact_id": ["a", "b", "z"], "event": ["page_view"] * 3,
    ...     "occurred_at": [dt.datetime(2026, 9, 7), dt.datetime(2026, 9, 14),
    ...                     dt.datetime(2026, 10, 30)]})
    >>> trend = conversion_over_time(log, ["page_view", "purchase"], window="1d")
    >>> compare_trend(trend, current="2026-09-14").table["verdict"].to_list()
    ['too few', 'too few']

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    check_alpha(alpha)
    period = trend.period
    every = PERIODS[trend.period]
    periods = trend.table.select("period_start", "complete").unique(maintain_order=True)
    starts: list[datetime] = periods["period_start"].to_list()
    if current is None:
        done = periods.filter(pl.col("complete"))["period_start"].to_list()
        if not done:
            msg = (
                f"no complete {period} to compare: every {period} of entry still has open "
                f"windows as of {trend.as_of}; pass current= to compare an incomplete one"
                if trend.as_of is not None
                else f"no {period} to compare: the events hold no row"
            )
            raise ParameterError(msg)
        chosen = done[-1]
    else:
        moment = parse_time(current, "current")
        chosen = pl.select(pl.lit(moment).dt.truncate(every)).item()
        if chosen not in starts:
            msg = f"current: no entries in the {period} starting {chosen:%Y-%m-%d}"
            raise ParameterError(msg)
    index = starts.index(chosen)
    if index == 0:
        msg = (
            f"current: the {period} starting {chosen:%Y-%m-%d} is the first one; "
            "nothing to compare with"
        )
        raise ParameterError(msg)
    previous = starts[index - 1]
    table = trend.table
    rows = []
    for rate, trials in (("from_previous", "_prev"), ("from_first", "_first")):
        part = table.with_columns(
            _prev=pl.col("count").shift(1).over("period_start"),
            _first=pl.col("count").first().over("period_start"),
        ).filter(pl.col("step") >= 2)
        sides = [
            part.filter(pl.col("period_start") == start).select(
                "step",
                "name",
                pl.col("count").alias(f"{side}_successes"),
                pl.col(trials).alias(f"{side}_trials"),
            )
            for side, start in (("previous", previous), ("current", chosen))
        ]
        rows.append(sides[0].join(sides[1].drop("name"), on="step").with_columns(rate=pl.lit(rate)))
    both = pl.concat(rows).sort("step", "rate", descending=[False, True])
    rate_prev = pl.col("previous_successes") / pl.when(pl.col("previous_trials") > 0).then(
        pl.col("previous_trials")
    )
    rate_cur = pl.col("current_successes") / pl.when(pl.col("current_trials") > 0).then(
        pl.col("current_trials")
    )
    out = both.with_columns(previous_rate=rate_prev, current_rate=rate_cur).with_columns(
        change=pl.col("current_rate") - pl.col("previous_rate"),
        relative_change=pl.when(pl.col("previous_rate") > 0).then(
            pl.col("current_rate") / pl.col("previous_rate") - 1.0
        ),
        p_value=two_proportion_p_value(
            "previous_successes", "previous_trials", "current_successes", "current_trials"
        ),
        verdict=verdict_expr(
            "previous_successes",
            "previous_trials",
            "current_successes",
            "current_trials",
            alpha=alpha,
        ),
    )
    complete = bool(periods.filter(pl.col("period_start") == chosen)["complete"].item())
    return PeriodComparison(
        table=out.select(
            "step",
            "name",
            "rate",
            "previous_successes",
            "previous_trials",
            "previous_rate",
            "current_successes",
            "current_trials",
            "current_rate",
            "change",
            "relative_change",
            "p_value",
            "verdict",
        ),
        period=trend.period,
        previous_start=previous,
        current_start=chosen,
        current_complete=complete,
        alpha=alpha,
        stage_steps=trend.stage_steps,
    )


def week_over_week(
    events: Events,
    steps: StepsSpec,
    *,
    window: str | timedelta,
    current: TimeLike | None = None,
    as_of: TimeLike | None = None,
    alpha: float = 0.05,
    order: Order = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Exclusion | tuple[StepSpec, int, int]] = (),
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
    rules: Rules = "funnelkit",
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> PeriodComparison:
    """Compare each rate of the last complete ISO week with the week before.

    :func:`compare_periods` with ``period="week"``; see there (and
    :func:`~funnelkit.conversion.funnel` for how a stage is read).

    Parameters
    ----------
    events, steps, window, order, first_entry, exclusions, since, until, rules
        As in :func:`~funnelkit.conversion.funnel`.
    stage_steps, definition, contacts, classified
        As in :func:`~funnelkit.conversion.funnel` and :func:`conversion_over_time`.
    current, as_of, alpha
        As in :func:`compare_periods`.

    Returns
    -------
    PeriodComparison
        ``.table``, one row per step and rate, with a verdict.

    Raises
    ------
    ParameterError
        As in :func:`compare_periods`.

    Examples
    --------
    >>> import datetime as dt
    >>> log = pl.DataFrame({"contact_id": ["a", "b", "z"], "event": ["page_view"] * 3,
    ...     "occurred_at": [dt.datetime(2026, 9, 7), dt.datetime(2026, 9, 14),
    ...                     dt.datetime(2026, 10, 30)]})
    >>> week_over_week(log, ["page_view", "purchase"], window="1d").table["verdict"].to_list()
    ['too few', 'too few']

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    return compare_periods(
        events,
        steps,
        window=window,
        period="week",
        current=current,
        as_of=as_of,
        alpha=alpha,
        order=order,
        first_entry=first_entry,
        exclusions=exclusions,
        since=since,
        until=until,
        stage_steps=stage_steps,
        definition=definition,
        contacts=contacts,
        rules=rules,
        classified=classified,
    )
