"""The weekly report's numbers, computed once, from the package's own functions.

A report week is an ISO week (``2026-W46``) in UTC, read *as of its end*.
:func:`weekly_metrics` computes its headline counts and rates (with their
verdicts), the snapshot, flows, trend, breakdown, time to convert, cohorts,
data quality and warnings, every section reading a stage by entry as
:func:`funnelkit.stages.classify` does.  The default week of a report is
:func:`last_complete_week` of the data.

The ISO weeks are in :mod:`funnelkit.weeks` and the result objects
(:class:`WeeklyMetrics`, :class:`Kpi`, :class:`DataQuality`,
:class:`DataWarning`) in :mod:`funnelkit.weekly_results`; this module computes
the numbers and re-exports those names.

What each number means, the tests behind the verdicts and the warnings are on
the concept page ``docs/concepts/weekly-report.md`` of the documentation
(``make docs``); ``metrics.json`` is described in
``docs/reference/metrics-json.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import narwhals as nw
import polars as pl

from funnelkit import conversion
from funnelkit.conversion import (
    CohortTable,
    ConversionTrend,
    FunnelResult,
    PeriodComparison,
    finish_funnel,
    finish_trend,
    funnel_counts,
    trend_counts,
)
from funnelkit.core.classify import classify_frame
from funnelkit.core.counts import durations_query, wide_counts
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.drivers import DriversResult, HeldChains, drivers, hold_chains
from funnelkit.durations import format_duration, parse_duration
from funnelkit.engine_frames import (
    TS,
    CoreEngine,
    EngineFrame,
    collect_polars,
    core_contacts,
    core_events,
    to_us,
)
from funnelkit.errors import EmptyInputError, ParameterError
from funnelkit.events import (
    CONTACT_ID,
    OCCURRED_AT,
    ContactTable,
    EventLog,
    SetAsideSummary,
    as_lazy,
    optional_contacts,
)
from funnelkit.privacy import check_breakdown, pseudonymize_breakdown
from funnelkit.stages import classify, flows, snapshot_from_counts
from funnelkit.stats import MIN_PER_OUTCOME, wilson_interval
from funnelkit.steps import Spec
from funnelkit.timeutil import instant_before, parse_as_of
from funnelkit.weekly_results import (
    FEW_STAGE_ENTRIES_IN_WEEK,
    LOW_VOLUME_MIN_MEDIAN,
    LOW_VOLUME_MIN_WEEKS,
    LOW_VOLUME_SHARE,
    METRICS_DECIMALS,
    MIN_SEGMENT,
    NO_EVENTS_IN_WEEK,
    NO_PREVIOUS_WEEK,
    DataQuality,
    DataWarning,
    Kpi,
    WeeklyMetrics,
    stalled_stage,
    target_stage,
)
from funnelkit.weeks import (
    MAX_YEAR,
    MIN_YEAR,
    IsoWeek,
    complete_week_before,
    last_complete_week,
    parse_week,
    week_bounds,
    week_range,
)

__all__ = [
    "FEW_STAGE_ENTRIES_IN_WEEK",
    "LOW_VOLUME_MIN_MEDIAN",
    "LOW_VOLUME_MIN_WEEKS",
    "LOW_VOLUME_SHARE",
    "MAX_YEAR",
    "METRICS_DECIMALS",
    "MIN_SEGMENT",
    "MIN_YEAR",
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
    "why_contacts_drop",
]


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


def as_funnel(funnel: Funnel | str) -> Funnel:
    """Return ``funnel``, loading it first when it is a preset name or a TOML path."""
    return funnel if isinstance(funnel, Funnel) else load_funnel(funnel)


@dataclass(frozen=True)
class _Held:
    """What every section of a report reads, on the events' engine.

    ``events`` and ``contacts`` go to the analyses: on polars, the events
    before the week's end (read once with ``in_memory``, the definition's
    text numbers read as numbers) and the contacts as a lazy frame; on
    DuckDB and Spark, the frames as given, each analysis cutting at the
    week's end in the engine.  ``counted`` is every event as the core reads
    it, for the data quality counts.
    """

    events: Any
    contacts: Any
    counted: EngineFrame
    engine: CoreEngine


def _hold(
    events: Any,
    contacts: Any,
    definition: Funnel,
    week: IsoWeek,
    *,
    in_memory: bool,
) -> _Held:
    """Return the events and contacts the report's sections read (see :class:`_Held`)."""
    frame = core_events(events)
    if frame.engine != "polars":
        return _Held(events, contacts, frame, frame.engine)
    everything = as_lazy(events)
    if in_memory:
        # Read (and validate) the events once; every section reuses them.
        everything = everything.collect(engine="streaming").lazy()
    # Text columns the definition compares with numbers: checked (one pass) and read
    # as numbers here once, rather than again by each section.
    lf = definition.read_numbers(everything.filter(pl.col(OCCURRED_AT) < week.end))
    return _Held(lf, optional_contacts(contacts), core_events(everything), "polars")


def _quality(
    frame: EngineFrame,
    week: IsoWeek,
    summary: SetAsideSummary | None,
    contacts: Any,
    engine: CoreEngine,
) -> DataQuality:
    """Count the events before, in and after ``week`` (one query), and what was set aside."""
    t = nw.col(TS)
    start, end = to_us(week.start), to_us(week.end)
    counts = collect_polars(
        frame.lf.select(
            nw.len().cast(nw.Int64()).alias("kept"),
            (t < start).cast(nw.Int64()).sum().alias("before"),
            ((t >= start) & (t < end)).cast(nw.Int64()).sum().alias("in_week"),
            (t >= end).cast(nw.Int64()).sum().alias("after"),
        )
    )
    kept, before, in_week, after = (int(v or 0) for v in counts.row(0))
    contacts_read = contacts_kept = None
    if isinstance(contacts, ContactTable):
        table = contacts.summary()
        contacts_read, contacts_kept = table.rows_read, table.rows_kept
    else:
        people = core_contacts(contacts, engine)
        if people is not None:
            rows = collect_polars(people.lf.select(nw.len().alias("n"))).item()
            contacts_read = contacts_kept = int(rows)
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


def _classification(
    held: _Held, definition: Funnel, cut: datetime
) -> tuple[pl.DataFrame | None, Any]:
    """Classify as of ``cut`` once: ``(collected, lazy)``.

    On polars the classification is collected (``collected``): the trend,
    the funnel, the cohorts and the drivers read their stage entries from
    it.  On DuckDB and Spark it stays in the engine (``collected`` is
    ``None``; times in epoch µs): only its counts come back.  ``lazy`` is it
    as a narwhals lazy frame on both.
    """
    if held.engine == "polars":
        done = classify(held.events, definition, as_of=cut, contacts=held.contacts).collect()
        return done, nw.from_native(done.lazy())
    ev = core_events(held.events)
    definition.check_columns(ev.schema)
    people = core_contacts(held.contacts, ev.engine)
    plan = classify_frame(
        ev.lf,
        definition,
        cut=to_us(cut),
        contacts=None if people is None else people.lf,
        entry_times=True,
    )
    return None, plan


def _stage_counts(classified: Any, definition: Funnel, weeks: list[IsoWeek]) -> list[Any]:
    """Return the snapshot's and the weekly entries' counts of a classification, one select.

    ``_n<rank>``: contacts at each stage now; ``_w<i>_<rank>``: contacts who
    first reached the stage in ``weeks[i]``.  The ``<stage>_at`` columns are
    date-times (polars) or epoch µs (DuckDB, Spark): the bounds take their type.
    """
    schema = classified.collect_schema()
    aggs = [
        (nw.col("stage_rank") == k).cast(nw.Int64()).sum().alias(f"_n{k}")
        for k in range(1, len(definition.stages) + 1)
    ]
    for i, w in enumerate(weeks):
        for rank, stage in enumerate(definition.stages, 1):
            name = f"{stage.id}_at"
            times = isinstance(schema[name], nw.Datetime)
            lo, hi = (w.start, w.end) if times else (to_us(w.start), to_us(w.end))
            at = nw.col(name)
            aggs.append(
                ((at >= lo) & (at < hi))
                .fill_null(False)
                .cast(nw.Int64())
                .sum()
                .alias(f"_w{i}_{rank}")
            )
    return aggs


def _entries(counts: dict[str, Any], funnel: Funnel, weeks: list[IsoWeek]) -> pl.DataFrame:
    """Contacts that first reached each stage, per week (zeros included), from the counts row."""
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


def stalled_contacts(
    events: Any,
    funnel: Funnel | str,
    *,
    as_of: datetime,
    contacts: ContactTable | pl.DataFrame | pl.LazyFrame | None = None,
    stage: str | None = None,
    limit: int = 10,
    classified: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Return the contacts at ``stage`` with no activity for the longest time.

    These are the ones to follow up first.  The table holds real contact ids:
    pseudonymise them (:func:`funnelkit.privacy.pseudonymize_columns`) before
    the table leaves the machine.

    Parameters
    ----------
    events, funnel, contacts
        As in :func:`weekly_metrics`; the events may also be a DuckDB relation
        or a Spark DataFrame (``contacts`` on the same engine), where only the
        ``limit`` rows shown come back.
    as_of
        Classify with the events before this instant (a week's ``end``).
    stage
        Default: the stage before :func:`target_stage` (``warm_lead`` in
        ``inbound``, ``qualified_prospect`` in ``sales``).
    limit
        How many contacts to return.
    classified
        On polars, the classification of these events and ``contacts`` as of
        ``as_of`` with entry times, when at hand (``WeeklyMetrics.classified``
        of the same week): read instead of classifying again.

    Returns
    -------
    pl.DataFrame
        ``contact_id``, ``stage`` (the definition's ``stage_dtype``, as in
        :func:`funnelkit.stages.classify`), ``reached_at`` (first time at the stage),
        ``last_activity_at``, ``idle_days`` (whole days from the last activity
        to ``as_of``); longest idle first, ties by id.

    Raises
    ------
    DefinitionError
        ``funnel`` is neither a definition, a preset nor a readable TOML file,
        or ``stage`` names no stage of the definition.
    MissingColumnError
        The events lack a column the definition reads.

    Examples
    --------
    >>> import datetime as dt
    >>> df = pl.DataFrame({"contact_id": ["a", "a", "b"], "event": ["page_view",
    ...     "ebook_download", "ebook_download"], "occurred_at": [dt.datetime(2026, 11, 2),
    ...     dt.datetime(2026, 11, 3), dt.datetime(2026, 11, 12)], "amount": [None, None, 1.0]})
    >>> as_of = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    >>> stalled_contacts(df, "inbound", as_of=as_of)["contact_id"].to_list()
    ['a', 'b']

    See the concept page: docs/concepts/weekly-report.md
    """
    definition = as_funnel(funnel)
    chosen = definition.stage(stage).id if stage else stalled_stage(definition)

    def idle(frame: Any) -> Any:
        return (
            frame.filter(nw.col("stage") == chosen)
            .select(CONTACT_ID, nw.col(f"{chosen}_at").alias("reached_at"), "last_activity_at")
            .sort("last_activity_at", CONTACT_ID, nulls_last=False)
            .head(limit)
        )

    rows: pl.DataFrame
    if classified is not None:
        wanted = ["stage", f"{chosen}_at", "last_activity_at", CONTACT_ID]
        lacking = [c for c in wanted if c not in classified.columns]
        if lacking:
            msg = (
                f"classified: expected the classification of these events as of {as_of:%Y-%m-%d}"
                f" with entry times (WeeklyMetrics.classified); it has no {lacking[0]!r} column"
            )
            raise ParameterError(msg)
        rows = idle(nw.from_native(classified.lazy())).collect().to_native()
    else:
        numbers = [f for s in definition.stages for c in s.conditions for f in c.where]
        ev = core_events(events, numbers=numbers, where=definition.title)
        definition.check_columns(ev.schema)
        people = core_contacts(contacts, ev.engine)
        plan = classify_frame(
            ev.lf,
            definition,
            cut=to_us(instant_before(as_of)),
            contacts=None if people is None else people.lf,
            entry_times=True,
        )
        rows = collect_polars(idle(plan), ["reached_at", "last_activity_at"])
    return (
        rows.select(
            CONTACT_ID,
            pl.lit(chosen, dtype=definition.stage_dtype).alias("stage"),
            "reached_at",
            "last_activity_at",
            ((pl.lit(as_of) - pl.col("last_activity_at")).dt.total_days()).alias("idle_days"),
        )
        .sort("last_activity_at", CONTACT_ID, nulls_last=False)
        .head(limit)
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

    The KPIs, the funnel, the trend, the cohorts, the stalled contacts and the
    drivers of one ISO week, read from the events before its end.

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
        Every figure and table of the report.

    Raises
    ------
    ParameterError
        ``week`` or ``window`` is unreadable, the window is not positive, or
        ``weeks_of_history`` is below 1.
    DefinitionError
        ``funnel`` is neither a definition, a preset nor a readable TOML file.
    MissingColumnError
        ``breakdown`` names no column of the events nor of the contacts.
    PersonalDataError
        ``breakdown`` holds personal data and ``allow_personal`` is off.

    Examples
    --------
    >>> import datetime as dt
    >>> df = pl.DataFrame({"contact_id": ["a", "a", "b"], "event": ["page_view", "purchase",
    ...     "page_view"], "amount": [None, 20.0, None], "occurred_at": [dt.datetime(2026, 11, 2),
    ...     dt.datetime(2026, 11, 10), dt.datetime(2026, 11, 11)]})
    >>> m = weekly_metrics(df, "inbound", week="2026-W46", weeks_of_history=2)
    >>> m.kpi("new_contacts").value, m.kpi("reached_client").value
    (1, 1)

    See the concept page: docs/concepts/weekly-report.md
    """
    check_breakdown(
        breakdown, [events, contacts], allow_personal=allow_personal, option="breakdown"
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
    held = _hold(events, contacts, definition, target, in_memory=in_memory)
    quality = _quality(held.counted, target, summary, contacts, held.engine)
    cut = instant_before(target.end)
    history = [target.shift(-i) for i in reversed(range(weeks_of_history))]
    weeks = sorted({*history, target.shift(-1)})
    # One classification as of the week's end: collected on polars, where the sections
    # below reuse it; kept in the engine on DuckDB and Spark, where only its counts return.
    kept, classified = _classification(held, definition, cut)
    counts = collect_polars(classified.select(_stage_counts(classified, definition, weeks)))
    row = counts.row(0, named=True)
    ranks = range(1, len(definition.stages) + 1)
    snap = snapshot_from_counts(definition, [int(row[f"_n{k}"] or 0) for k in ranks], "en")
    week_flows = flows(
        held.events,
        definition,
        start=instant_before(target.start),
        end=cut,
        contacts=held.contacts,
    )
    entries = _entries(row, definition, weeks)
    headline = count_kpis(entries, definition, target)
    entries = entries.filter(pl.col("week").is_in([str(w) for w in history]))
    rates_week = last_closed_week(target, span)
    since = min(history[0], rates_week.shift(-1)).start
    sections = _Sections(held.events, definition, span, target.end, kept, held.contacts, contacts)
    trend, ordered, held_chains = sections.trend_and_funnel(
        since, history[0].start, breakdown, allow_personal=allow_personal
    )
    comparison = _compare(trend, rates_week)
    if comparison is not None:
        headline += rate_kpis(comparison, definition)
    goal = target_stage(definition)
    # The cohorts classify without the contacts table, which moves the first stage only.
    reuse = contacts is None or definition.rank(goal) > 1
    curves = conversion.cohorts(
        held.events,
        definition.stage(goal),
        period="week",
        horizon=timedelta(weeks=weeks_of_history),
        as_of=cut,
        until=target.end,
        definition=definition,
        classified=kept if reuse else None,
    )
    why = why_contacts_drop(
        held.events, definition, window=span, since=history[0].start, until=target.end,
        contacts=held.contacts, classified=kept, chains=held_chains,
    )  # fmt: skip
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
        drivers=why,
        classified=kept,
    )


def why_contacts_drop(
    events: Any,
    definition: Funnel,
    *,
    window: timedelta,
    since: datetime,
    until: datetime,
    contacts: Any = None,
    classified: pl.DataFrame | None = None,
    chains: HeldChains | None = None,
) -> DriversResult | None:
    """Return the report's drivers section: :func:`funnelkit.drivers.drivers` at the biggest leak.

    The contacts who entered the first stage from ``since`` (the history
    weeks) and whose window closed by ``until`` (the report's end), stages
    read by entry; ``None`` when there is no such contact (no leak to
    explain).

    Parameters
    ----------
    events, contacts
        As in :func:`weekly_metrics`; DuckDB and Spark frames too.
    definition
        The report's funnel definition.
    window
        The conversion window.
    since, until
        The first history week's start and the report's end.
    classified
        The report's classification, read instead of classifying again (polars).
    chains
        The report's chains (:func:`funnelkit.drivers.hold_chains`), read
        instead of computing them again (see :func:`funnelkit.drivers.drivers`).

    Returns
    -------
    DriversResult or None
        The drivers at the biggest leak; ``None`` with no contact to explain.

    Raises
    ------
    ParameterError
        An option of :func:`funnelkit.drivers.drivers` is unusable, or
        ``chains`` are not the chains of these events, steps and span.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.definitions import load_funnel
    >>> from funnelkit.sample import generate
    >>> events, contacts = generate(200)
    >>> since = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)  # after every sample event
    >>> until = since.replace(year=2032)
    >>> print(why_contacts_drop(events, load_funnel("inbound"), window=dt.timedelta(days=28),
    ...     since=since, until=until))
    None

    See the guide: docs/guides/drivers.md
    """
    try:
        return drivers(
            events, definition, window=window, since=since, until=until, contacts=contacts,
            classified=classified, chains=chains,
        )  # fmt: skip
    except EmptyInputError:
        return None


def last_closed_week(week: IsoWeek | str, window: timedelta | str) -> IsoWeek:
    """Return the latest entry week whose conversion window has closed by ``week``'s end.

    Its rates are final: every contact who entered that week has had the whole
    window to convert by the report's "as of".

    Parameters
    ----------
    week
        The report's ISO week, e.g. ``"2026-W47"``.
    window
        Conversion window (``"28d"``, ``"4w"`` or a timedelta).

    Returns
    -------
    IsoWeek
        The latest week whose entrants' windows have all closed.

    Raises
    ------
    ParameterError
        ``week`` or ``window`` is unreadable.

    Examples
    --------
    >>> str(last_closed_week("2026-W47", "28d")), str(last_closed_week("2026-W47", "3d"))
    ('2026-W43', '2026-W46')

    See the concept page: docs/concepts/weekly-report.md
    """
    target = parse_week(week)
    span = parse_duration(window, name="window")
    candidate = IsoWeek.of(target.end - span)
    return candidate if candidate.end + span <= target.end else candidate.shift(-1)


@dataclass(frozen=True)
class _Sections:
    """What the trend and the funnel of a report share: the events, definition and contacts.

    ``lf`` and ``people`` are the events and contacts the sections read
    (polars frames, or DuckDB/Spark frames); ``classified``, on polars, is
    the classification of ``lf`` as of the report's end (entry times
    included, with ``people``), from which the stage entries are read
    (``None`` on DuckDB and Spark, where the core classifies in the engine).
    Both sections count one set of chains on every engine.
    """

    lf: Any
    definition: Funnel
    span: timedelta
    until: datetime
    classified: pl.DataFrame | None
    people: Any
    contacts: Any

    def trend_and_funnel(
        self, since: datetime, funnel_since: datetime, by: str | None, *, allow_personal: bool
    ) -> tuple[ConversionTrend, FunnelResult, HeldChains | None]:
        """Return the weekly trend of entries from ``since``, the funnel from ``funnel_since``.

        The chains of the entries from ``since`` serve both: a contact's
        chain starts at its single entry into the first stage, and every
        later entry is at or after it, so the chains whose step 1 is at or
        after ``funnel_since`` (>= ``since``) are exactly the funnel's.
        They are computed once and held (:func:`funnelkit.drivers.hold_chains`),
        and returned for the drivers, which read them the same way; ``None``
        when a personal breakdown column made the sections read other events.
        """
        events, people = pseudonymize_breakdown(
            self.lf, self.contacts, by, allow_personal=allow_personal
        )
        if events is not self.lf or people is not self.contacts:
            # a personal column read as pseudonyms: the funnel reads other events
            trend = self._trend(since)
            return trend, self._funnel(funnel_since, by, allow_personal=allow_personal), None
        held = hold_chains(
            self.lf,
            self.definition,
            window=self.span,
            since=since,
            until=self.until,
            by=by,
            contacts=self.people,
            classified=self.classified,
        )
        chains, spec = held.chains, held.spec
        in_funnel = nw.col("_t1") >= to_us(funnel_since)
        if chains.shared:
            collected = chains.collect(
                lambda lf: [
                    trend_counts(lf, spec, "week"),
                    *funnel_counts(lf.filter(in_funnel), spec, by=by),
                ]
            )
            wide, tables = collected[0], collected[1:]
        else:
            # DuckDB and Spark run each query on its own: the weeks' counts join the
            # funnel's row, so that one pass over the held chains serves both.
            weeks = week_range(IsoWeek.of(since), IsoWeek.of(instant_before(self.until)))
            tables = chains.collect(lambda lf: _one_pass(lf, spec, by, in_funnel, weeks))
            wide = _weeks_wide(tables[0], spec.n, weeks)
        trend = finish_trend(wide, spec, "week", parse_as_of(self.until))
        ordered = finish_funnel(tables, spec, by=by, min_size=MIN_SEGMENT)
        return trend, ordered, held

    def _trend(self, since: datetime) -> ConversionTrend:
        return conversion.conversion_over_time(
            self.lf,
            self.definition,
            window=self.span,
            period="week",
            as_of=self.until,
            since=since,
            until=self.until,
            contacts=self.people,
        )

    def _funnel(self, since: datetime, by: str | None, *, allow_personal: bool) -> FunnelResult:
        return conversion.funnel(
            self.lf,
            self.definition,
            window=self.span,
            by=by,
            min_size=MIN_SEGMENT,
            contacts=self.contacts,
            since=since,
            until=self.until,
            allow_personal=allow_personal,
        )


def _count_if(condition: Any) -> Any:
    """Count the rows where ``condition`` holds."""
    return nw.when(condition).then(nw.lit(1)).count()


def _one_pass(
    chains: Any, spec: Spec, by: str | None, in_funnel: Any, weeks: list[IsoWeek]
) -> list[Any]:
    """Return the funnel's queries over the chains ``in_funnel``, the weeks' counts in the first.

    :func:`~funnelkit.core.counts.funnel_counts` for an engine that computes
    the chains once per query: the time to convert's row (with the step
    counts, without ``by``) also holds, per week ``i`` of ``weeks``, the
    ``_w<i>_excl`` and ``_w<i>_c<k>`` counts of :func:`trend_counts` over
    every chain.  Outside the funnel, a chain is read as level 0 and not
    excluded, so that the funnel's aggregations skip it.
    """
    lvl, excluded = nw.col("_lvl"), nw.col("_excluded")
    every_lvl, every_excluded = nw.col("_every_lvl"), nw.col("_every_excluded")
    extra = []
    for i, w in enumerate(weeks):
        t1 = nw.col("_t1")
        here = (t1 >= to_us(w.start)) & (t1 < to_us(w.end))
        extra.append(_count_if(here & every_excluded).alias(f"_w{i}_excl"))
        extra += [
            _count_if(here & ~every_excluded & (every_lvl >= k)).alias(f"_w{i}_c{k}")
            for k in range(1, spec.n + 1)
        ]
    masked = chains.with_columns(
        lvl.alias("_every_lvl"), excluded.alias("_every_excluded")
    ).with_columns(
        nw.when(in_funnel).then(lvl).otherwise(0).alias("_lvl"),
        (excluded & in_funnel).alias("_excluded"),
    )
    row = durations_query(masked, spec, counts=by is None, extra=extra)[0]
    if by is None:
        return [row]
    return [row, wide_counts(chains.filter(in_funnel), spec.n, "_seg_value")]


def _weeks_wide(row: pl.DataFrame, n: int, weeks: list[IsoWeek]) -> pl.DataFrame:
    """Return the :func:`trend_counts` table from the weeks' counts of :func:`_one_pass`.

    One row per week holding a chain, as the grouped query gives it.
    """
    values = row.row(0, named=True)
    names = ["_excl", *(f"c{k}" for k in range(1, n + 1))]
    rows = [
        (to_us(w.start), *(int(values[f"_w{i}_{name.lstrip('_')}"] or 0) for name in names))
        for i, w in enumerate(weeks)
    ]
    schema = {"period_start": pl.Int64, **dict.fromkeys(names, pl.Int64)}
    table = pl.DataFrame(rows, schema=schema, orient="row")
    return table.filter(pl.col("_excl") + pl.col("c1") > 0)


def _compare(trend: ConversionTrend, rates_week: IsoWeek) -> PeriodComparison | None:
    """Week over week of the latest closed entry week; ``None`` without a week before it.

    :func:`funnelkit.conversion.week_over_week` of the report's trend, without
    computing that trend again.
    """
    try:
        return conversion.compare_trend(trend, current=rates_week.start)
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
