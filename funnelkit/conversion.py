"""How contacts move: ordered funnels with a conversion window, and what follows from them.

:func:`funnel` counts, for each step of a funnel, the contacts whose events
form a chain reaching it within a conversion window, with Wilson intervals,
the drop-off, the time to convert and, with ``by=``, one funnel per breakdown
value; :func:`cohorts` draws survival-style curves by acquisition period, and
:func:`funnel_chains` is the per-contact table they are all built on.
Conversion per period and the period comparisons (:func:`conversion_over_time`,
:func:`compare_periods`, :func:`week_over_week`) are computed in
:mod:`funnelkit.trends`, the result objects are in :mod:`funnelkit.results`,
the funnel by entry read from the classification in :mod:`funnelkit.entry`;
every one of these names is importable from here.

A step is an event name, a list of event names, or a stage of a definition,
read by default at the instant the contact *entered* it, as
:func:`funnelkit.stages.classify` says (``stage_steps="entry"``).

The rules are on the concept pages of the documentation (``make docs``):
``docs/concepts/chain-rule.md`` (the chain rule, windows, orders, ties, the
counted chain), ``docs/concepts/entry.md`` (stages as steps, by entry or by
evidence), ``docs/concepts/exclusions.md``, ``docs/concepts/orders.md`` (the rules,
``rules="funnelkit"`` or ``"clickhouse"``) and
``docs/concepts/semantics-comparison.md`` (against ClickHouse, PostHog and
Mixpanel).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

import narwhals as nw
import polars as pl

from funnelkit import frames
from funnelkit.aggregate import (
    check_count_option,
    long_steps,
    merge_segments,
    suppress_small_segments,
)
from funnelkit.chains import Events
from funnelkit.core.chains import (
    chains_of,
    entry_contacts,
    nw_spec,
    stage_entries,
    step_expr,
)
from funnelkit.core.counts import finish_durations, funnel_counts, wide_frame
from funnelkit.core.periods import cohort_counts, roll_up
from funnelkit.definitions import Funnel, Stage
from funnelkit.durations import parse_duration
from funnelkit.engine_frames import (
    TS,
    EngineFrame,
    as_of_us,
    collect_polars,
    core_contacts,
    core_events,
    from_us,
    max_ts,
    restrict,
    span_us,
)
from funnelkit.entry import (
    entry_chains,
    entry_classification,
    entry_value_column,
    with_entry_values,
)
from funnelkit.errors import MissingColumnError, ParameterError, did_you_mean
from funnelkit.events import (
    CONTACT_ID,
    CREATED_AT,
    ContactTable,
)
from funnelkit.privacy import pseudonymize_breakdown
from funnelkit.results import (
    CohortTable,
    ConversionTrend,
    FunnelResult,
    PeriodComparison,
    TimeToConvert,
)
from funnelkit.steps import (
    Exclusion,
    FunnelLike,
    Order,
    Period,
    Rules,
    Spec,
    StageLike,
    StageSteps,
    StepSpec,
    StepsSpec,
    bin_width,
    check_period,
    check_some_stage,
    resolve_step,
    stage_reading,
    transitions,
    warn_outside_events,
    warn_unknown_events,
)
from funnelkit.timeutil import TimeLike
from funnelkit.trends import (
    compare_periods,
    compare_trend,
    conversion_over_time,
    finish_trend,
    trend_counts,
    week_over_week,
)

__all__ = [
    "CohortTable",
    "ConversionTrend",
    "Exclusion",
    "FunnelLike",
    "FunnelResult",
    "Order",
    "Period",
    "PeriodComparison",
    "StageLike",
    "StageSteps",
    "TimeToConvert",
    "cohorts",
    "compare_periods",
    "compare_trend",
    "conversion_over_time",
    "entry_chains",
    "entry_classification",
    "entry_value_column",
    "finish_funnel",
    "finish_trend",
    "funnel",
    "funnel_chains",
    "funnel_counts",
    "trend_counts",
    "week_over_week",
    "with_entry_values",
]


# --- time to convert ----------------------------------------------------------
def _as_duration(col: str) -> pl.Expr:
    return pl.col(col).round(0).cast(pl.Int64).cast(pl.Duration("us")).alias(col)


def finish_time_to_convert(
    summary: pl.DataFrame, histogram: pl.DataFrame, spec: Spec, width: int
) -> TimeToConvert:
    """Return the :class:`TimeToConvert` of per-transition ``summary`` and ``histogram`` counts."""
    pairs = transitions(spec)
    names = [s.name for s in spec.steps]
    grid = pl.DataFrame(
        {
            "from_step": [a for a, _ in pairs],
            "to_step": [b for _, b in pairs],
            "from_name": [names[a - 1] for a, _ in pairs],
            "to_name": [names[b - 1] for _, b in pairs],
        },
        schema={
            "from_step": pl.Int64,
            "to_step": pl.Int64,
            "from_name": pl.String,
            "to_name": pl.String,
        },
    )
    table = (
        grid.join(summary, on=["from_step", "to_step"], how="left")
        .with_columns(
            pl.col("contacts").fill_null(0), *(_as_duration(c) for c in ("median", "p90", "mean"))
        )
        .select("from_step", "to_step", "from_name", "to_name", "contacts", "median", "p90", "mean")
    )
    n_bins = max(1, math.ceil(spec.window_us / width))
    bins = pl.DataFrame({"bin": list(range(n_bins))}, schema={"bin": pl.Int64})
    hist = (
        grid.select("from_step", "to_step")
        .join(bins, how="cross")
        .join(histogram, on=["from_step", "to_step", "bin"], how="left")
        .with_columns(
            pl.col("contacts").fill_null(0),
            bin_start=(pl.col("bin") * width).cast(pl.Duration("us")),
            bin_end=pl.min_horizontal((pl.col("bin") + 1) * width, pl.lit(spec.window_us)).cast(
                pl.Duration("us")
            ),
        )
        .select("from_step", "to_step", "bin", "bin_start", "bin_end", "contacts")
    )
    return TimeToConvert(summary=table, histogram=hist, bin_width=timedelta(microseconds=width))


def funnel(
    events: Events,
    steps: StepsSpec,
    *,
    window: str | timedelta,
    order: Order = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Exclusion | tuple[StepSpec, int, int]] = (),
    by: str | None = None,
    top: int | None = 10,
    min_size: int = 30,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    allow_personal: bool = False,
    rules: Rules = "funnelkit",
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> FunnelResult:
    """Count the contacts reaching each step of a funnel within a conversion window.

    The chain rule (ClickHouse ``windowFunnel`` semantics for
    ``order="ordered"``), the counted chain and exclusions are on the concept
    pages.  A stage step is the instant the contact entered the stage (as
    :func:`funnelkit.stages.classify` says; ``stage_steps="evidence"`` counts
    any of its evidence events instead).  One function for every engine: the
    counts are computed where the events are and come back as polars.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog`, a canonical polars frame
        (``contact_id``, ``occurred_at``, ``event`` and properties), a DuckDB
        relation or a Spark DataFrame.
    steps
        Event names, lists of event names (any of them), stages, a mapping
        ``name -> step``, or a funnel definition (all its stages).
    window
        Conversion window: ``"14d"``, ``"90m"``, ``"12h"``, ``"2w"`` or a
        ``timedelta``; from the chain's step-1 event, boundary included.
    order
        ``"ordered"``, ``"strict_increase"``, ``"any"``, ``"consecutive"`` (no
        other event between steps) or ``"unordered"`` (any k distinct steps).
    first_entry
        Only the contact's first step-1 event may start a chain.
    exclusions
        :class:`Exclusion` rules (or ``(event, from_step, to_step)`` tuples).
        Under ``rules="funnelkit"`` they apply per attempt (each step-1
        event that may start a chain): a contact counts at the deepest level
        of its attempts holding no excluded event, and is counted in
        ``excluded`` only when every attempt holds one.  Under
        ``"clickhouse"`` a contact whose counted chain holds one is excluded.
        See ``docs/concepts/exclusions.md``.
    by
        A column to break the funnel down by: an events column, read at the
        contact's first step-1 event (ties at that instant: the smallest
        value), or a column of ``contacts``.
    top
        Keep the ``top`` segments with most entrants; the rest becomes
        ``"Other"``.  ``None`` keeps them all.
    min_size
        Segments with fewer entrants are flagged ``suppressed`` and show no rates.
    contacts
        Contacts table (for ``by`` on a contact attribute), on the events'
        engine.
    since, until
        Only events with ``since <= occurred_at < until`` are read (ISO text,
        dates or datetimes; naive values are UTC).  Chains near ``until`` are
        cut short: see :func:`conversion_over_time` for incomplete periods.
    stage_steps
        ``"entry"`` (default): a stage step is reached at the instant the
        contact entered the stage, one synthetic event per contact and stage
        reached; the classification reads the events before ``until`` and
        ``contacts``, and ``since`` keeps the entries from it on.
        ``"evidence"``: at any one of its evidence events of ``[since, until)``.
    definition
        With ``stage_steps="entry"``, the definition the stage steps belong
        to, when ``steps`` is not that definition itself (e.g.
        ``[inbound.stage("cold_lead"), inbound.stage("client")]``).
    allow_personal
        Accept a ``by`` column holding personal data
        (:func:`funnelkit.privacy.judge_column`: ``email``, ``Courriel``,
        ``nom``, phone numbers, contact ids...); its values are then replaced
        by keyed pseudonyms, never shown.  Off, such a column is refused.
    rules
        ``"funnelkit"`` (default): one event fills at most one step
        (``purchase -> purchase`` means two purchases) and ``first_entry``
        means the contact's first step-1 event ever (before ``since`` too).
        ``"clickhouse"``: ClickHouse ``windowFunnel``'s reading, where one
        event may serve consecutive steps and ``first_entry`` looks at
        ``[since, until)`` only.  See ``docs/concepts/orders.md``.
    classified
        With stages read by entry, on polars: the classification these stage
        entries are read from (:func:`~funnelkit.entry.entry_classification` of the same
        events, definition, ``until`` and ``contacts``), when already at
        hand; it is read instead of classifying the history again, so the
        funnels of one definition and ``until`` (any window, order, ``since``
        or breakdown) share one classification.  An events ``by`` is read
        from the value it carries (:func:`~funnelkit.entry.with_entry_values`), if any.
        Ignored otherwise.

    Returns
    -------
    FunnelResult
        ``.table`` per step, ``.breakdown`` with ``by``, ``.time_to_convert``,
        ``.excluded``; ``to_polars()``, ``to_dict()`` and a notebook display.

    Raises
    ------
    ParameterError
        A step, window, order, exclusion or option is unusable; a stage read
        by entry without its definition.
    MissingColumnError
        ``by`` names no column of the events nor of the contacts.
    PersonalDataError
        ``by`` holds personal data and ``allow_personal`` is off.

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "a", "b", "b"],
    ...     "occurred_at": [day, day + dt.timedelta(days=3), day + dt.timedelta(days=8),
    ...                     day, day + dt.timedelta(days=1)],
    ...     "event": ["page_view", "page_view", "purchase", "page_view", "purchase"],
    ... })
    >>> result = funnel(log, ["page_view", "purchase"], window="7d")
    >>> result.table.select("name", "count", "conversion_from_first").rows()
    [('page_view', 2, 1.0), ('purchase', 2, 1.0)]
    >>> first_only = funnel(log, ["page_view", "purchase"], window="7d", first_entry=True)
    >>> first_only.table["count"].to_list()
    [2, 1]

    In the ``inbound`` preset a page view scores 2 of the 3 points a cold
    lead needs: one view is evidence for ``cold_lead`` but does not make one.
    By evidence, one event fills one step: the view that made "a" a
    prospect is not also its cold-lead evidence, unless ``rules="clickhouse"``.

    >>> from funnelkit.definitions import load_funnel
    >>> inbound = load_funnel("inbound")
    >>> views = pl.DataFrame({
    ...     "contact_id": ["a", "b", "b"],
    ...     "occurred_at": [day, day, day + dt.timedelta(days=3)],
    ...     "event": ["page_view"] * 3,
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> funnel(views, inbound, window="7d").table["count"].to_list()
    [2, 1, 0, 0, 0]
    >>> funnel(views, inbound, window="7d", stage_steps="evidence").table["count"].to_list()
    [2, 1, 0, 0, 0]
    >>> by_evidence = {"stage_steps": "evidence", "rules": "clickhouse"}
    >>> funnel(views, inbound, window="7d", **by_evidence).table["count"].to_list()
    [2, 2, 0, 0, 0]

    See the concept page: docs/concepts/chain-rule.md
    """
    given = events
    events, contacts = pseudonymize_breakdown(events, contacts, by, allow_personal=allow_personal)
    if classified is not None and by is not None and events is not given:
        # values carried at entry (with_entry_values) are not pseudonymised: read the events
        carried = [c for c in classified.collect_schema().names() if c.endswith(f"_at[{by}]")]
        classified = classified.drop(carried)
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
    check_count_option(top, "top", allow_none=True)
    check_count_option(min_size, "min_size", allow_none=False)
    warn_unknown_events(given, ns.spec)
    warn_outside_events(given, since=since, until=until)
    chains = chains_of(
        events, ns, since=since, until=until, by=by, contacts=contacts, classified=classified
    )
    collected = chains.collect(lambda lf: funnel_counts(lf, ns.spec, by=by, shared=chains.shared))
    return finish_funnel(collected, ns.spec, by=by, top=top, min_size=min_size)


def finish_funnel(
    collected: Sequence[pl.DataFrame],
    spec: Spec,
    *,
    by: str | None,
    top: int | None = 10,
    min_size: int = 30,
) -> FunnelResult:
    """Return the :class:`FunnelResult` of the collected :func:`funnel_counts` tables.

    The last step of :func:`funnel` on every engine, and of the weekly
    report's funnel: the counts become the steps' table with their Wilson
    intervals, the breakdown (small segments merged) and the time to convert.

    Parameters
    ----------
    collected
        The tables :func:`funnelkit.core.counts.funnel_counts` returned,
        collected.
    spec
        The funnel's options, read by :func:`funnelkit.steps.resolve_spec`.
    by, top, min_size
        As in :func:`funnel`.

    Returns
    -------
    FunnelResult

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "b"], "occurred_at": [day] * 3,
    ...                     "event": ["visit", "buy", "visit"]})
    >>> funnel(log, ["visit", "buy"], window="7d").table["count"].to_list()
    [2, 1]

    See the concept page: docs/concepts/chain-rule.md
    """
    width = bin_width(spec.window_us)
    n_bins = max(1, math.ceil(spec.window_us / width))
    counts = ["_excl", *(f"c{k}" for k in range(1, spec.n + 1))]
    row = collected[0].row(0, named=True)
    if by is None:
        found = collected[1] if len(collected) > 1 else pl.DataFrame({k: [row[k]] for k in counts})
        total = wide_frame(found.select(counts), spec.n)
        breakdown = None
    else:
        wide = wide_frame(collected[1], spec.n).with_columns(pl.col("_seg_value").cast(pl.String))
        total = wide.select(pl.col(counts).sum())
        merged = merge_segments(wide, spec, top, min_size)
        long = long_steps(merged.drop("_excl", "suppressed"), spec, ["segment"])
        flags = merged.select("segment", "suppressed", excluded=pl.col("_excl"))
        long = flags.join(long, on="segment", how="left", maintain_order="left")
        breakdown = suppress_small_segments(long)
    summary, histogram = finish_durations(row, transitions(spec), n_bins)
    return FunnelResult(
        table=long_steps(total.drop("_excl"), spec, []),
        step_names=tuple(s.name for s in spec.steps),
        window=timedelta(microseconds=spec.window_us),
        order=spec.order,
        first_entry=spec.first_entry,
        excluded=int(total["_excl"].item() or 0),
        time_to_convert=finish_time_to_convert(summary, histogram, spec, width),
        by=by,
        breakdown=breakdown,
        stage_steps=spec.stage_steps,
    )


# --- per-contact chains ------------------------------------------------------------
def funnel_chains(
    events: Events,
    steps: StepsSpec,
    *,
    window: str | timedelta,
    order: Order = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Exclusion | tuple[StepSpec, int, int]] = (),
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    rules: Rules = "funnelkit",
) -> pl.LazyFrame:
    """Return the counted chain of every contact that reached step 1 (lazy).

    The rules are those of :func:`funnel` (see the module documentation).
    On DuckDB and Spark the chains are computed there and come back as
    polars (one row per contact).

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog`, a canonical polars frame, a
        DuckDB relation or a Spark DataFrame.
    steps, window, order, first_entry, exclusions, since, until
        As in :func:`funnel`.
    stage_steps, definition
        As in :func:`funnel`: with ``"entry"``, a stage step's time is the
        instant the contact entered the stage.
    rules
        As in :func:`funnel`.

    Returns
    -------
    pl.LazyFrame
        One row per contact: ``contact_id``, ``level`` (the last step reached,
        1-based), ``excluded``, and ``step_1_at`` ... ``step_n_at`` (UTC; null
        beyond the level), sorted by ``contact_id``.

    Raises
    ------
    ParameterError
        A step, window, order, exclusion or option is unusable; a stage read
        by entry without its definition.

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "a", "b"],
    ...     "occurred_at": [day, day + dt.timedelta(days=2), day + dt.timedelta(days=3), day],
    ...     "event": ["page_view", "newsletter_signup", "purchase", "page_view"],
    ... })
    >>> chains = funnel_chains(log, ["page_view", "newsletter_signup", "purchase"], window="7d")
    >>> chains.select("contact_id", "level").collect().rows()
    [('a', 3), ('b', 1)]

    See the concept page: docs/concepts/chain-rule.md
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
    times = [f"step_{j}_at" for j in range(1, ns.n + 1)]
    chains = chains_of(events, ns, since=since, until=until)
    query = chains.frame().select(
        nw.col(CONTACT_ID),
        nw.col("_lvl").cast(nw.Int8()).alias("level"),
        nw.col("_excluded").alias("excluded"),
        *(nw.col(f"_t{j}").alias(at) for j, at in enumerate(times, 1)),
    )
    if frames.is_engine_frame(events):
        return collect_polars(query, times).lazy().sort(CONTACT_ID)
    native: pl.LazyFrame = nw.to_native(query)
    return native.with_columns(pl.col(times).cast(pl.Datetime("us", "UTC"))).sort(CONTACT_ID)


# --- cohorts -----------------------------------------------------------------------
Acquisition = Literal["first_event", "created_at"]
_DAY_US = 86_400_000_000


def km_curve(
    sizes: pl.LazyFrame,
    converted: pl.LazyFrame,
    censored: pl.LazyFrame,
    horizon_days: int,
) -> pl.LazyFrame:
    """Return the Kaplan-Meier cohort table from per-(cohort, day) counts.

    ``sizes`` has ``cohort_start, cohort_size``; ``converted`` has
    ``cohort_start, day, converted`` (contacts converting on that day) and
    ``censored`` has ``cohort_start, day, _censored`` (contacts last observed
    on that day without converting).
    """
    days = pl.LazyFrame({"day": list(range(horizon_days + 1))}, schema={"day": pl.Int64})
    return (
        sizes.join(days, how="cross")
        .join(converted, on=["cohort_start", "day"], how="left")
        .join(censored, on=["cohort_start", "day"], how="left")
        .with_columns(pl.col("converted", "_censored").fill_null(0))
        .sort("cohort_start", "day")
        .with_columns(
            at_risk=pl.col("cohort_size")
            - (pl.col("converted") + pl.col("_censored"))
            .cum_sum()
            .shift(1, fill_value=0)
            .over("cohort_start"),
            cumulative_converted=pl.col("converted").cum_sum().over("cohort_start"),
        )
        .with_columns(
            _keep=1.0 - pl.col("converted") / pl.when(pl.col("at_risk") > 0).then(pl.col("at_risk"))
        )
        .with_columns(share=1.0 - pl.col("_keep").cum_prod().over("cohort_start"))
        .filter(pl.col("at_risk") > 0)
        .select(
            "cohort_start",
            "cohort_size",
            "day",
            "at_risk",
            "converted",
            "cumulative_converted",
            observed_share=pl.col("cumulative_converted") / pl.col("cohort_size"),
            share="share",
        )
    )


def cohorts(
    events: Events,
    target: StepSpec,
    *,
    period: Period = "month",
    acquisition: Acquisition = "first_event",
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
    horizon: str | timedelta = "90d",
    as_of: TimeLike | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> CohortTable:
    """Return survival-style conversion curves by acquisition cohort, as a tidy table.

    A contact is acquired at its first event or at its ``created_at``, and
    converts on the day (since acquisition) of its first target event, or of
    its entry into a target stage.  Recent cohorts are observed for the days
    they have lived only (Kaplan-Meier), so they are not read as converting
    less.

    One function for every engine: the per-(cohort, day) counts are a query
    of the core (:func:`funnelkit.core.periods.cohort_counts`) run where the
    events are; the curve is drawn in polars from that small table.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog`, a canonical polars frame, a
        DuckDB relation or a Spark DataFrame (``contacts`` on the same engine).
    target
        The step to reach: an event name, a list of names, or a stage.
    period
        Cohorts by ``"day"``, ``"week"`` or ``"month"`` of acquisition.
    acquisition
        ``"first_event"`` or ``"created_at"`` (needs ``contacts``).
    contacts
        Contacts table with ``created_at``.
    horizon
        Last day shown (``"90d"``, ``"12w"``...).
    as_of
        What the data is known up to (a date means the end of that day, as in
        :func:`funnelkit.stages.classify`); by default the last event's time.
        Events after it are ignored.
    since, until
        Only events with ``since <= occurred_at < until`` are read.
    stage_steps
        ``"entry"`` (default) or ``"evidence"``, as in :func:`funnel`.
    definition
        With ``stage_steps="entry"``, the definition the target stage
        belongs to (required: a stage's entry depends on the whole definition).
    classified
        With a stage target read by entry: the classification
        (:func:`funnelkit.stages.classify`, entry times included) of the
        history these cohorts read, when already at hand; the target's entry
        times are read from it instead of classifying again.  Ignored for any
        other target.

    Returns
    -------
    CohortTable
        ``.table``: per cohort and day, ``cohort_size``, ``at_risk``,
        ``converted`` and ``share``.

    Raises
    ------
    ParameterError
        When an option cannot be read (period, acquisition, horizon, a time,
        a stage without its definition).
    MissingColumnError
        When ``acquisition="created_at"`` and ``contacts`` has no
        ``created_at``.

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "b", "c"],
    ...     "occurred_at": [day, day + dt.timedelta(days=2), day, day + dt.timedelta(days=10)],
    ...     "event": ["page_view", "purchase", "page_view", "page_view"],
    ... })
    >>> table = cohorts(log, "purchase", horizon="3d").table
    >>> day2 = table.filter(pl.col("day") == 2)
    >>> day2.select("cohort_size", "at_risk", "converted", "share").row(0)
    (3, 2, 1, 0.5)

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    reading = stage_reading(target, stage_steps, definition)
    step = resolve_step(target, "target", reading=reading)
    if reading.entry:
        check_some_stage([step], reading)
    checked = check_period(period)
    if acquisition not in ("first_event", "created_at"):
        hint = did_you_mean(str(acquisition), ("first_event", "created_at"))
        msg = f"acquisition: {acquisition!r} is not 'first_event' or 'created_at'.{hint}"
        raise ParameterError(msg)
    span = parse_duration(horizon, name="horizon")
    by_entry = step.stage is not None and reading.definition is not None
    numbers = []
    if isinstance(target, Stage) and not by_entry:
        numbers = [f for cond in target.conditions for f in cond.where]
    where = f"stage {target.id!r}" if isinstance(target, Stage) else "target"
    ev = core_events(events, numbers=numbers, where=where)
    flag = None if by_entry else step_expr(target, "target")
    people = core_contacts(contacts, ev.engine)
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
            .group_by(CONTACT_ID)
            .agg(nw.col(TS).min().alias("_acq"), nw.col("_h").min().alias("_hit"))
        )
    else:
        if flag is None:
            assert step.stage is not None and reading.definition is not None
            hits = _entries_of(ev, step.stage, reading.definition, people, hi, known, classified)
        else:  # a when() rather than a filter: the flag may be a literal (an entry stage)
            hits = lf.select(CONTACT_ID, nw.when(flag).then(nw.col(TS)).alias(TS))
        reached = hits.group_by(CONTACT_ID).agg(nw.col(TS).min().alias("_hit"))
        if acquisition == "first_event":
            acquired = lf.group_by(CONTACT_ID).agg(nw.col(TS).min().alias("_acq"))
        else:
            if people is None or CREATED_AT not in people.lf.collect_schema().names():
                msg = "acquisition='created_at' needs contacts= with a 'created_at' column"
                raise MissingColumnError(msg)
            acquired = (
                people.lf.select(CONTACT_ID, nw.col(CREATED_AT).alias("_acq"))
                .filter(~nw.col("_acq").is_null() & (nw.col("_acq") <= known))
                .group_by(CONTACT_ID)
                .agg(nw.col("_acq").min())
            )
        per_contact = acquired.join(reached, on=CONTACT_ID, how="left")
    counts = collect_polars(cohort_counts(per_contact, known, checked))
    counts = roll_up(counts.with_columns(pl.col("day").cast(pl.Int64)), "cohort_start", checked,
                     ["_conv", "day"])  # fmt: skip
    return CohortTable(
        table=_cohort_curve(counts, span // timedelta(days=1)),
        target=step.name,
        period=checked,
        acquisition=str(acquisition),
        horizon=span,
        as_of=from_us(known),
        stage_steps=reading.mode,
    )


def _entries_of(
    ev: EngineFrame,
    stage: str,
    definition: Funnel,
    people: EngineFrame | None,
    until: int | None,
    known: int,
    classified: pl.LazyFrame | pl.DataFrame | None,
) -> Any:
    """Return when each contact entered the target stage (``contact_id``, ``_ts``).

    The whole history before ``until`` and at or before ``known`` tells when
    a contact entered; ``classified`` (polars) is read instead of classifying.
    """
    if classified is not None and ev.engine == "polars":
        at = pl.col(f"{stage}_at")
        return nw.from_native(
            classified.lazy()
            .select(CONTACT_ID, at.dt.epoch("us").alias(TS))
            .filter(pl.col(TS).is_not_null())
        )
    known_people = entry_contacts(people, None, until)
    if known_people is not None and CREATED_AT in known_people.lf.collect_schema().names():
        created = nw.col(CREATED_AT)
        kept = known_people.lf.filter(created.is_null() | (created <= known))
        known_people = replace(known_people, lf=kept)
    history = restrict(ev.lf, None, until).filter(nw.col(TS) <= known)
    return stage_entries(replace(ev, lf=history), definition, [stage], known_people)


def _cohort_curve(counts: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """Draw the Kaplan-Meier table of :func:`cohorts` from the per-(cohort, day) counts."""
    lazy = counts.lazy()
    sizes = lazy.group_by("cohort_start").agg(cohort_size=pl.col("_n").sum().cast(pl.Int64))
    converted = lazy.filter(pl.col("_conv")).select("cohort_start", "day", converted=pl.col("_n"))
    censored = lazy.filter(~pl.col("_conv")).select("cohort_start", "day", _censored=pl.col("_n"))
    return km_curve(sizes, converted, censored, horizon_days).collect()


COHORT_SCHEMA: dict[str, pl.DataType] = {
    "cohort_start": pl.Datetime("us", "UTC"),
    "cohort_size": pl.Int64(),
    "day": pl.Int64(),
    "at_risk": pl.Int64(),
    "converted": pl.Int64(),
    "cumulative_converted": pl.Int64(),
    "observed_share": pl.Float64(),
    "share": pl.Float64(),
}
