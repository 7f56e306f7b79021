"""The weekly report's numbers on DuckDB and Spark.

The trends, comparisons and cohorts are written once (:mod:`funnelkit.trends`,
:func:`funnelkit.conversion.cohorts`, :mod:`funnelkit.core.periods`) and run on
every engine; what is left here is :func:`funnelkit.weekly.weekly_metrics` on an
engine: the classification as of the week's end counted in one query (snapshot
and entries per week) rather than collected, its flows, and the data quality
counts; the trend, the comparison, the cohorts and the funnel are the generic ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import narwhals as nw
import polars as pl

from funnelkit.core.chains import chains_of, nw_spec
from funnelkit.definitions import Funnel
from funnelkit.engine_classify import (
    classify_frame,
    flows_table_on_engine,
    snapshot_of_counts,
)
from funnelkit.engine_frames import (
    TS,
    WEEK_US,
    NativeFrame,
    collect_polars,
    engine_contacts,
    engine_events,
    from_us,
    to_us,
)
from funnelkit.errors import (
    ParameterError,
)
from funnelkit.frames import register
from funnelkit.timeutil import instant_before

if TYPE_CHECKING:
    from funnelkit.weekly import WeeklyMetrics

__all__: list[str] = []


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
    from funnelkit.conversion import cohorts, compare_trend, finish_trend, trend_counts
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
    chains = chains_of(events, ns, since=since, until=target.end, contacts=contacts)
    wide = chains.collect(lambda lf: [trend_counts(lf, ns.spec, "week")])[0]
    trend = finish_trend(wide, ns.spec, "week", from_us(to_us(target.end)))
    try:
        comparison = compare_trend(trend, current=rates_week.start)
    except ParameterError:
        comparison = None
    if comparison is not None:
        headline += rate_kpis(comparison, definition)
    curves = cohorts(
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
