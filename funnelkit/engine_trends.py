"""Trends, comparisons, cohorts and the weekly metrics on DuckDB and Spark.

Counts per period (day, ISO week, calendar month in UTC), per cohort and day
and per week come back from the engine; the result objects are drawn from
them by the functions the polars path uses (:func:`funnelkit.conversion.finish_trend`,
:func:`funnelkit.conversion.km_curve`...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import narwhals as nw
import polars as pl

from funnelkit.core.chains import (
    NwSpec,
    counted_chains,
    entry_contacts,
    nw_spec,
    stage_entries,
    step_expr,
    wide_counts,
    wide_frame,
)
from funnelkit.definitions import Funnel
from funnelkit.engine_classify import (
    classify_frame,
    flows_table_on_engine,
    snapshot_of_counts,
)
from funnelkit.engine_frames import (
    DAY_US,
    MONDAY_US,
    TS,
    WEEK_US,
    NativeFrame,
    as_of_us,
    collect_polars,
    engine_contacts,
    engine_events,
    event_span,
    floor_to,
    from_us,
    max_ts,
    restrict,
    span_us,
    to_us,
)
from funnelkit.errors import (
    MissingColumnError,
    ParameterError,
    did_you_mean,
)
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.frames import register
from funnelkit.stats import check_alpha
from funnelkit.steps import (
    PERIODS,
    check_period,
    check_some_stage,
    resolve_step,
    stage_reading,
)
from funnelkit.timeutil import instant_before

if TYPE_CHECKING:
    from funnelkit.conversion import (
        CohortTable,
        ConversionTrend,
        PeriodComparison,
    )
    from funnelkit.weekly import IsoWeek, WeeklyMetrics

__all__ = [
    "cohorts_on_engine",
]


_PERIOD_US = {"day": (DAY_US, 0), "week": (WEEK_US, MONDAY_US)}


def _with_period_start(lf: Any, column: str, period: str, out: str) -> Any:
    """Add ``out``: the start (µs) of the ``period`` (UTC) holding ``column`` (µs).

    Days and ISO weeks are fixed lengths from an origin.  For calendar
    months the engine keeps the day: the counts come back per day, and
    :func:`_by_period` adds the days of a month up in polars.
    """
    size, origin = _PERIOD_US.get(period, (DAY_US, 0))
    return lf.with_columns(floor_to(nw.col(column), size, origin).alias(out))


def _by_period(counts: pl.DataFrame, column: str, period: str, keys: Sequence[str]) -> pl.DataFrame:
    """Add counts per day up to counts per calendar month (UTC) for ``period="month"``.

    ``column`` holds the period starts (UTC date-times); the other columns
    but ``keys`` are counts, summed.
    """
    if period in _PERIOD_US:
        return counts
    group = [column, *keys]
    sums = [c for c in counts.columns if c not in group]
    return (
        counts.with_columns(pl.col(column).dt.truncate(PERIODS[period]))
        .group_by(group, maintain_order=True)
        .agg(pl.col(sums).sum())
    )


@register("conversion_over_time")
def _conversion_over_time_on_engine(
    events: NativeFrame,
    steps: Any,
    *,
    window: str | timedelta,
    period: str = "week",
    as_of: Any = None,
    order: str = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Any] = (),
    since: Any = None,
    until: Any = None,
    stage_steps: str = "entry",
    definition: Funnel | None = None,
    contacts: NativeFrame | None = None,
) -> ConversionTrend:
    """:func:`funnelkit.conversion.conversion_over_time` run on the events' engine.

    ``period`` is ``"day"`` or ``"week"`` (ISO weeks) on an engine.

    Returns
    -------
    funnelkit.conversion.ConversionTrend

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-09-07', 'page_view'),"
    ...     " ('a', TIMESTAMP '2026-09-09', 'purchase')) AS t(contact_id, occurred_at, event)")
    >>> from funnelkit.conversion import conversion_over_time
    >>> trend = conversion_over_time(rel, ["page_view", "purchase"], window="7d")
    >>> trend.table.select("step", "count").rows()
    [(1, 1), (2, 1)]
    """
    ns = nw_spec(
        steps,
        window,
        order,
        first_entry,
        exclusions,
        stage_steps=stage_steps,
        definition=definition,
    )
    checked = check_period(period)
    ev = engine_events(events)
    lo, hi = span_us(since, until)
    known = as_of_us(as_of)
    if known is None:
        known = max_ts(restrict(ev.lf, lo, hi))
    people = engine_contacts(contacts, ev.engine)
    chains = _with_period_start(
        counted_chains(ev, ns, since=lo, until=hi, contacts=people), "_t1", checked, "_seg_value"
    )
    counts = collect_polars(wide_counts(chains, ns.n, "_seg_value"), ["_seg_value"])
    wide = wide_frame(_by_period(counts, "_seg_value", checked, []), ns.n)
    return _finish_trend(wide.rename({"_seg_value": "period_start"}), ns, checked, known)


def _finish_trend(
    wide: pl.DataFrame, ns: NwSpec, period: str, known_us: int | None
) -> ConversionTrend:
    """As the end of :func:`funnelkit.conversion.conversion_over_time`."""
    from funnelkit.conversion import finish_trend as finish

    return finish(wide, ns.spec, period, from_us(known_us))


def _compare_trend(
    trend: ConversionTrend, period: str, current: Any, alpha: float
) -> PeriodComparison:
    """As the end of :func:`funnelkit.conversion.compare_periods`, from its trend."""
    from funnelkit.conversion import compare_trend

    return compare_trend(trend, current=current, alpha=alpha)


@register("compare_periods")
def _compare_periods_on_engine(
    events: NativeFrame,
    steps: Any,
    *,
    window: str | timedelta,
    period: str = "week",
    current: Any = None,
    as_of: Any = None,
    alpha: float = 0.05,
    order: str = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Any] = (),
    since: Any = None,
    until: Any = None,
    stage_steps: str = "entry",
    definition: Funnel | None = None,
    contacts: NativeFrame | None = None,
) -> PeriodComparison:
    """:func:`funnelkit.conversion.compare_periods` run on the events' engine.

    The trend per period comes from the engine
    (:func:`_conversion_over_time_on_engine`); the comparison of two of its
    periods is drawn from it exactly as the polars path does.

    Returns
    -------
    funnelkit.conversion.PeriodComparison

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-09-07', 'page_view'),"
    ...     " ('b', TIMESTAMP '2026-09-14', 'page_view'),"
    ...     " ('z', TIMESTAMP '2026-10-30', 'page_view'))"
    ...     " AS t(contact_id, occurred_at, event)")
    >>> from funnelkit.conversion import compare_periods
    >>> out = compare_periods(rel, ["page_view", "purchase"], window="1d")
    >>> out.table["verdict"].to_list()
    ['too few', 'too few']
    """
    check_alpha(alpha)
    trend = _conversion_over_time_on_engine(
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
    )
    return _compare_trend(trend, str(period), current, alpha)


@register("cohorts")
def cohorts_on_engine(
    events: NativeFrame,
    target: Any,
    *,
    period: str = "month",
    acquisition: str = "first_event",
    contacts: NativeFrame | None = None,
    horizon: str | timedelta = "90d",
    as_of: Any = None,
    since: Any = None,
    until: Any = None,
    stage_steps: str = "entry",
    definition: Funnel | None = None,
) -> CohortTable:
    """:func:`funnelkit.conversion.cohorts` run on the events' engine.

    The per-contact acquisition and conversion days are computed by the
    engine, which returns counts per (cohort, day); the Kaplan-Meier curve is
    then drawn from those counts exactly as the polars path does.

    Parameters
    ----------
    events
        A DuckDB relation or a Spark DataFrame (see :func:`classify_query`).
    target, period, acquisition, horizon, as_of, since, until, stage_steps, definition
        As in :func:`funnelkit.conversion.cohorts`.
    contacts
        Contacts on the same engine: their ``created_at`` for
        ``acquisition="created_at"``, read by the classification with
        ``stage_steps="entry"``.

    Returns
    -------
    funnelkit.conversion.CohortTable

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-09-01', 'page_view'),"
    ...     " ('a', TIMESTAMP '2026-09-03', 'purchase'),"
    ...     " ('b', TIMESTAMP '2026-09-01', 'page_view'),"
    ...     " ('c', TIMESTAMP '2026-09-11', 'page_view')) AS t(contact_id, occurred_at, event)")
    >>> import polars as pl
    >>> from funnelkit.conversion import cohorts
    >>> table = cohorts(rel, "purchase", period="week", horizon="3d").table
    >>> table.filter(pl.col("day") == 2).select("cohort_size", "converted", "share").row(0)
    (2, 1, 0.5)
    """
    from funnelkit.conversion import COHORT_SCHEMA, CohortTable
    from funnelkit.durations import parse_duration

    reading = stage_reading(target, stage_steps, definition)
    step = resolve_step(target, "target", reading=reading)
    if reading.entry:
        check_some_stage([step], reading)
    checked = check_period(period)
    if acquisition not in ("first_event", "created_at"):
        hint = did_you_mean(str(acquisition), ("first_event", "created_at"))
        msg = f"acquisition: {acquisition!r} is not 'first_event' or 'created_at'.{hint}"
        raise ParameterError(msg)
    by_entry = step.stage is not None and reading.definition is not None
    flag = None if by_entry else step_expr(target, "target")
    span = parse_duration(horizon, name="horizon")
    horizon_days = span // timedelta(days=1)
    ev = engine_events(events)
    people = engine_contacts(contacts, ev.engine)
    lo, hi = span_us(since, until)
    lf = restrict(ev.lf, lo, hi)
    known = as_of_us(as_of)
    if known is None:
        known = max_ts(lf)
    if known is None:
        empty = pl.DataFrame(schema=COHORT_SCHEMA)
        return CohortTable(empty, step.name, checked, str(acquisition), span, None, reading.mode)
    lf = lf.filter(nw.col(TS) <= known)
    if flag is not None and acquisition == "first_event":  # one pass over the events
        per_contact = (
            lf.with_columns(_h=nw.when(flag).then(nw.col(TS)))
            .group_by(CID)
            .agg(nw.col(TS).min().alias("_acq"), nw.col("_h").min().alias("_hit"))
        )
    else:
        if flag is None:
            assert step.stage is not None and reading.definition is not None
            # the whole history before ``until`` and ``as_of`` tells when a contact entered
            known_people = entry_contacts(people, None, hi)
            if known_people is not None and CREATED in known_people.lf.collect_schema().names():
                created = nw.col(CREATED)
                kept = known_people.lf.filter(created.is_null() | (created <= known))
                known_people = replace(known_people, lf=kept)
            history = restrict(ev.lf, None, hi).filter(nw.col(TS) <= known)
            read = replace(ev, lf=history)
            hits = stage_entries(read, reading.definition, [step.stage], known_people)
        else:  # a when() rather than a filter: the flag may be a literal (an entry stage)
            hits = lf.select(CID, nw.when(flag).then(nw.col(TS)).alias(TS))
        reached = hits.group_by(CID).agg(nw.col(TS).min().alias("_hit"))
        if acquisition == "first_event":
            acquired = lf.group_by(CID).agg(nw.col(TS).min().alias("_acq"))
        else:
            if people is None or CREATED not in people.lf.collect_schema().names():
                msg = "acquisition='created_at' needs contacts= with a 'created_at' column"
                raise MissingColumnError(msg)
            acquired = (
                people.lf.select(CID, nw.col(CREATED).alias("_acq"))
                .filter(~nw.col("_acq").is_null() & (nw.col("_acq") <= known))
                .group_by(CID)
                .agg(nw.col("_acq").min())
            )
        per_contact = acquired.join(reached, on=CID, how="left")
    per_contact = _with_period_start(per_contact, "_acq", checked, "cohort_start").select(
        "cohort_start",
        ((known - nw.col("_acq")) // DAY_US).alias("_obs"),
        nw.when(~nw.col("_hit").is_null())
        .then(nw.max_horizontal((nw.col("_hit") - nw.col("_acq")) // DAY_US, nw.lit(0)))
        .alias("_day"),
    )
    grouped = (
        per_contact.with_columns(
            _conv=~nw.col("_day").is_null(),
            day=nw.when(~nw.col("_day").is_null()).then(nw.col("_day")).otherwise(nw.col("_obs")),
        )
        .group_by("cohort_start", "_conv", "day")
        .agg(nw.len().cast(nw.Int64()).alias("_n"))
    )
    counts = collect_polars(grouped, ["cohort_start"]).with_columns(pl.col("day").cast(pl.Int64))
    counts = _by_period(counts, "cohort_start", checked, ["_conv", "day"])
    curve = _cohort_curve(counts, horizon_days)
    return CohortTable(
        table=curve,
        target=step.name,
        period=checked,
        acquisition=str(acquisition),
        horizon=span,
        as_of=from_us(known),
        stage_steps=reading.mode,
    )


def _cohort_curve(counts: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """Draw the Kaplan-Meier table of :func:`funnelkit.conversion.cohorts` from counts."""
    from funnelkit.conversion import km_curve

    lazy = counts.lazy()
    sizes = lazy.group_by("cohort_start").agg(cohort_size=pl.col("_n").sum().cast(pl.Int64))
    converted = lazy.filter(pl.col("_conv")).select("cohort_start", "day", converted=pl.col("_n"))
    censored = lazy.filter(~pl.col("_conv")).select("cohort_start", "day", _censored=pl.col("_n"))
    return km_curve(sizes, converted, censored, horizon_days).collect()


@register("last_complete_week")
def _last_complete_week_on_engine(events: NativeFrame) -> IsoWeek:
    """:func:`funnelkit.weekly.last_complete_week` of events on an engine.

    Returns
    -------
    funnelkit.weekly.IsoWeek

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql("SELECT 'a' AS contact_id, TIMESTAMP '2026-11-22 23:00' AS occurred_at,"
    ...                  " 'like' AS event")
    >>> from funnelkit.weekly import last_complete_week
    >>> str(last_complete_week(rel))
    '2026-W47'
    """
    from funnelkit.errors import EmptyInputError
    from funnelkit.weekly import IsoWeek

    _, latest = event_span(events)
    if latest is None:
        msg = "week: the events hold no row, so there is no complete week to report on."
        raise EmptyInputError(msg)
    week = IsoWeek.of(latest)
    return week if latest.isoweekday() == 7 else week.shift(-1)


@register("stalled_contacts")
def _stalled_contacts_on_engine(
    events: NativeFrame,
    funnel: Funnel | str,
    *,
    as_of: datetime,
    contacts: NativeFrame | None = None,
    stage: str | None = None,
    limit: int = 10,
) -> pl.DataFrame:
    """:func:`funnelkit.weekly.stalled_contacts` run on the events' engine.

    Only the ``limit`` rows shown come back from the engine.

    Examples
    --------
    >>> import duckdb, datetime as dt
    >>> rel = duckdb.sql("SELECT 'a' AS contact_id, TIMESTAMP '2026-11-03' AS occurred_at,"
    ...                  " 'ebook_download' AS event, NULL::DOUBLE AS amount")
    >>> as_of = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    >>> from funnelkit.weekly import stalled_contacts
    >>> stalled_contacts(rel, "inbound", as_of=as_of)["idle_days"].to_list()
    [13]
    """
    from funnelkit.weekly import as_funnel, stalled_stage

    definition = as_funnel(funnel)
    chosen = definition.stage(stage).id if stage else stalled_stage(definition)
    ev = engine_events(events)
    classified = classify_frame(
        ev,
        definition,
        cut=to_us(instant_before(as_of)),
        contacts=engine_contacts(contacts, ev.engine),
        entry_times=True,
    )
    top = (
        classified.filter(nw.col("stage") == chosen)
        .select(CID, "stage", nw.col(f"{chosen}_at").alias("reached_at"), "last_activity_at")
        .sort("last_activity_at", CID, nulls_last=False)
        .head(limit)
    )
    rows = collect_polars(top, ["reached_at", "last_activity_at"])
    return (
        rows.with_columns(
            ((pl.lit(as_of) - pl.col("last_activity_at")).dt.total_days()).alias("idle_days")
        )
        .sort("last_activity_at", CID, nulls_last=False)
        .head(limit)
    )


def _entries_table(counts: Mapping[str, Any], funnel: Funnel, weeks: Sequence[Any]) -> pl.DataFrame:
    rows = [
        (str(w), rank, s.id, int(counts.get(f"_w{i}_{rank}") or 0))
        for i, w in enumerate(weeks)
        for rank, s in enumerate(funnel.stages, 1)
    ]
    return pl.DataFrame(
        rows,
        schema={"week": pl.String, "rank": pl.Int32, "stage": pl.String, "contacts": pl.Int64},
        orient="row",
    ).sort("week", "rank")


@register("weekly_metrics")
def _weekly_metrics_on_engine(
    events: NativeFrame,
    funnel: Funnel | str,
    *,
    week: Any,
    contacts: NativeFrame | None = None,
    window: timedelta | str = "28d",
    breakdown: str | None = None,
    weeks_of_history: int = 12,
    source: str | None = None,
) -> WeeklyMetrics:
    """:func:`funnelkit.weekly.weekly_metrics` run on the events' engine.

    Each part runs as a query of the engine (classification as of the week's
    end and its snapshot and entries in one pass, the flows, the ordered
    funnel with its breakdown and time to convert, the weekly trend and
    week-over-week comparison, the cohorts, the data-quality counts) and
    returns small tables; the result is the same :class:`WeeklyMetrics`
    the polars path builds.

    Parameters
    ----------
    events
        A DuckDB relation or a Spark DataFrame.
    funnel, week, window, breakdown, weeks_of_history
        As in :func:`funnelkit.weekly.weekly_metrics`.
    contacts
        Contacts on the same engine (optional).
    source
        How the data quality section names the events (e.g. the source URL);
        nothing is set aside on an engine: every row is read as is.

    Returns
    -------
    funnelkit.weekly.WeeklyMetrics

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-11-02', 'page_view', NULL),"
    ...     " ('a', TIMESTAMP '2026-11-10', 'purchase', 20.0),"
    ...     " ('b', TIMESTAMP '2026-11-11', 'page_view', NULL))"
    ...     " AS t(contact_id, occurred_at, event, amount)")
    >>> from funnelkit.weekly import weekly_metrics
    >>> m = weekly_metrics(rel, "inbound", week="2026-W46", weeks_of_history=2)
    >>> m.kpi("new_contacts").value, m.kpi("reached_client").value
    (1, 1)
    """
    from funnelkit.conversion import funnel as run_funnel
    from funnelkit.durations import format_duration, parse_duration
    from funnelkit.stages import Flows
    from funnelkit.weekly import (
        MIN_SEGMENT,
        DataQuality,
        WeeklyMetrics,
        as_funnel,
        count_kpis,
        last_closed_week,
        parse_week,
        rate_kpis,
        recent_cohorts,
        target_stage,
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
    ev = engine_events(events)
    people = engine_contacts(contacts, ev.engine)
    cut_dt = instant_before(target.end)
    cut = to_us(cut_dt)
    start_cut = to_us(instant_before(target.start))
    assert cut is not None and start_cut is not None

    # Classification as of the week's end: snapshot and entries in one pass.
    history = [target.shift(-i) for i in reversed(range(weeks_of_history))]
    weeks = sorted({*history, target.shift(-1)})
    classified = classify_frame(ev, definition, cut=cut, contacts=people, entry_times=True)
    aggs = [
        (nw.col("stage_rank") == k).cast(nw.Int64()).sum().alias(f"_n{k}")
        for k in range(1, len(definition.stages) + 1)
    ]
    for i, w in enumerate(weeks):
        lo = int(to_us(w.start) or 0)
        for rank, stage in enumerate(definition.stages, 1):
            at = nw.col(f"{stage.id}_at")
            aggs.append(
                ((at >= lo) & (at < lo + WEEK_US))
                .fill_null(False)
                .cast(nw.Int64())
                .sum()
                .alias(f"_w{i}_{rank}")
            )
    counts = collect_polars(classified.select(aggs)).row(0, named=True)
    snap = snapshot_of_counts(
        definition, [int(counts[f"_n{k}"] or 0) for k in range(1, len(definition.stages) + 1)], "en"
    )
    table = flows_table_on_engine(ev, definition, start_cut, cut, people)
    week_flows = Flows(definition.name, instant_before(target.start), cut_dt, table)
    entries = _entries_table(counts, definition, weeks)
    headline = count_kpis(entries, definition, target)
    entries = entries.filter(pl.col("week").is_in([str(w) for w in history]))

    # Conversion: the weekly trend, the comparison drawn from it, the funnel.
    rates_week = last_closed_week(target, span)
    since = min(history[0], rates_week.shift(-1)).start
    ns = nw_spec(definition, span, "ordered", False, ())
    size, origin = _PERIOD_US["week"]
    chains = counted_chains(
        ev, ns, since=to_us(since), until=to_us(target.end), contacts=people
    ).with_columns(_seg_value=floor_to(nw.col("_t1"), size, origin))
    wide = wide_frame(collect_polars(wide_counts(chains, ns.n, "_seg_value"), ["_seg_value"]), ns.n)
    trend = _finish_trend(
        wide.rename({"_seg_value": "period_start"}), ns, "week", to_us(target.end)
    )
    try:
        comparison = _compare_trend(trend, "week", rates_week.start, 0.05)
    except ParameterError:
        comparison = None
    if comparison is not None:
        headline += rate_kpis(comparison, definition)
    curves = cohorts_on_engine(
        events,
        definition.stage(target_stage(definition)),
        period="week",
        horizon=timedelta(weeks=weeks_of_history),
        as_of=cut_dt,
        until=target.end,
        definition=definition,
    )
    ordered = run_funnel(
        events,
        definition,
        window=span,
        by=breakdown,
        min_size=MIN_SEGMENT,
        contacts=contacts,
        since=history[0].start,
        until=target.end,
    )
    start_us, end_us = to_us(target.start), to_us(target.end)
    t = nw.col(TS)
    quality_row = collect_polars(
        ev.lf.select(
            nw.len().cast(nw.Int64()).alias("kept"),
            (t < start_us).cast(nw.Int64()).sum().alias("before"),
            ((t >= start_us) & (t < end_us)).cast(nw.Int64()).sum().alias("in_week"),
            (t >= end_us).cast(nw.Int64()).sum().alias("after"),
        )
    ).row(0)
    kept, before, in_week, after = (int(v or 0) for v in quality_row)
    contacts_read = contacts_kept = None
    if people is not None:
        contacts_read = contacts_kept = int(
            collect_polars(people.lf.select(nw.len().alias("n"))).item()
        )
    quality = DataQuality(
        source=source or "<frame>",
        rows_read=kept,
        rows_kept=kept,
        set_aside_by_reason={},
        events_before_week=before,
        events_in_week=in_week,
        events_after_week=after,
        contacts_read=contacts_read,
        contacts_kept=contacts_kept,
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
