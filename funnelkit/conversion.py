"""How contacts move: ordered funnels with a conversion window, and what follows from them.

:func:`funnel` counts, for each step of a funnel, the contacts whose events
form a chain reaching it within a conversion window; it gives the step and
overall conversion with Wilson intervals, the drop-off, the time to convert
and, with ``by=``, one funnel per breakdown value.  :func:`conversion_over_time`
cuts the same figures by entry period, :func:`compare_periods` (and
:func:`week_over_week`) says whether the latest change is outside the noise,
and :func:`cohorts` draws survival-style curves by acquisition period.
:func:`funnel_chains` is the per-contact table they are all built on.
The funnel and the cohorts are computed here, conversion per period and the
period comparisons in :mod:`funnelkit.trends`; their result objects are in
:mod:`funnelkit.results`.  Every one of these names is importable from here.

A step is an event name (``"purchase"``), a list of event names (any of
them, ``["ebook_download", "newsletter_signup"]``), or a stage of a funnel
definition (any object with an ``evidence() -> pl.Expr`` method, such as
:class:`funnelkit.definitions.Stage`).  A whole funnel definition (an object
with ``.stages``) stands for all of its stages, and a mapping
``{"Visited": "page_view", ...}`` names the steps.

Stages as steps: by entry (the default), or by evidence
--------------------------------------------------------
A stage taken as a step means what it means in
:func:`funnelkit.stages.classify` and :func:`funnelkit.stages.snapshot`: the
contact **entered** it.  This is the reading of every function that takes
steps (:func:`funnel`, :func:`funnel_chains`, :func:`conversion_over_time`,
:func:`compare_periods`, :func:`week_over_week`, :func:`cohorts`), of the
explorer, the command line and the weekly report, so a stage has one count
everywhere.  ``stage_steps="evidence"`` is the other reading, kept for those
who ask "did any evidence event happen".

``stage_steps="entry"`` (the default).  Each contact contributes one
synthetic event per stage it reached, at the instant
:func:`funnelkit.stages.classify` gives in its ``<stage>_at`` column, which
honours ``min_count``, points with their half-life, property filters and
stage skipping; the chain rule below then applies to those events unchanged.
An ordered funnel over the stages of a definition therefore reads "entered
stage 1; entered stage 2 at or after that, at most ``window`` after
entering stage 1; entered stage 3 at or after entering stage 2, still within
the window; ...".  The details:

- The stages must come from one definition: give the definition itself as
  the steps (``funnel(events, load_funnel("inbound"), ...)``), or its stages
  one by one (any of them, in any order, named by a mapping if you like)
  with ``definition=`` naming the definition.  Entry times depend on the
  whole definition (a later stage reached makes the skipped ones reached).
- **History.** The classification reads each contact's whole history up to
  the end of the period (``until``: events before it, and the ``contacts=``
  table's contacts created before it, as ``classify(..., contacts=)`` does),
  and ``since`` only says which entries count as step 1.  A contact who
  became a cold lead in September and a warm lead this week is a warm-lead
  entry this week, not a new prospect.  A listed contact with neither an
  event nor a ``created_at`` has no entry time, so no step counts it,
  although the snapshot puts it in the first stage.
- Entry is "first reached": lapsing does not move it (a warm lead gone cold
  entered ``warm_lead`` all the same).  The snapshot's ``at_or_past`` counts
  a lapsed contact at the stage it lapsed to, so it is smaller there.
- Entries never decrease down a definition, so with the definition's stages
  in order, ``order="ordered"`` (or ``"any"``) and a window longer than the
  data, step k counts exactly the contacts that entered stage k, lapses
  included: the number of non-empty ``<stage>_at`` values of ``classify``.
  A stage reached by skipping is entered at the same instant as the stage
  after it; ``"ordered"`` lets one instant serve consecutive steps,
  ``"strict_increase"`` does not (a walk-in buyer stops at the first stage
  there).
- Time to convert is the time between entries.  A contact enters a stage
  once, so ``first_entry`` changes nothing for a stage as step 1.
- Steps and exclusions given as event names still read the raw events of
  ``[since, until)``, so steps may mix: ``[inbound.stage("warm_lead"),
  "purchase"]`` with ``definition=inbound`` reads "entered warm lead, then a
  purchase event within the window".  A stage given as an exclusion is read
  by entry too.  An object with only ``evidence()`` (not a
  :class:`~funnelkit.definitions.Stage`) names events, not a stage: it is
  read by its evidence events under either reading.
- ``by`` on an events column is read at the entry instant of step 1: the
  smallest value among the contact's events at that instant (``"(none)"``
  for an entry at a ``created_at`` of the contacts table).
- DuckDB and Spark frames (:mod:`funnelkit.engines`) read stages both
  ways, with the same results.

``stage_steps="evidence"`` counts a stage's **evidence events** one by one:
a contact reaches the step at any single event the stage's rules name (with
their property filters), in ``[since, until)``.  A stage's ``min_count``,
points threshold and half-life are *not* applied, nor is stage skipping, so a
step can count more contacts than :func:`funnelkit.stages.classify` puts at
or past that stage (in the ``inbound`` preset one page view is evidence for
``cold_lead`` although its score of 2 stays under the threshold of 3), or
fewer (a walk-in buyer has no evidence for the lead stages it skipped).  On
the sample data (``data/sample``, ``inbound``), prospect to cold lead is
52.6% this way (86.9% under ``rules="clickhouse"``, where the page view that
made a prospect is also cold-lead evidence), 59.0% by entry as in the snapshot.
Results name the reading (``stage_steps``; "stages by evidence" in their titles).

The chain rule
--------------
``order="ordered"`` (the default) follows ClickHouse's
``windowFunnel(window)`` in its default mode, except that **one event fills
at most one step** (``rules="funnelkit"``, the default; ``rules="clickhouse"``
is ``windowFunnel`` exactly, see ``docs/concepts/orders.md``):

- a chain starts at any step-1 event;
- step k+1 joins a chain that has reached step k when it happens **at or
  after** the chain's step-k event and **at most** ``window`` after the
  chain's start (the boundary itself is inside);
- a contact's level is the longest chain over all starts; the contact is
  counted at steps 1 to level.

Events at one timestamp may serve consecutive steps when they are different
rows, so a chain may complete in a single instant; one row never serves two
steps (``purchase -> purchase`` needs two purchases), except under
``rules="clickhouse"``.  A stage read by entry is its own row per stage.
Input order does not matter; only timestamps do.

Worked timeline, steps ``visit -> signup -> purchase``, window 7 days::

    day 0   visit      a chain starts (start = day 0)
    day 3   visit      a second chain starts (start = day 3)
    day 8   signup     day 0 chain: 8 > 0 + 7, too late; day 3 chain: joins
    day 8   purchase   same instant as the signup: day 3 chain reaches step 3
    day 12  purchase   (would be too late for the day 3 chain: 12 > 10)

The contact reaches ``purchase``: the later start gives the longer chain.
Had the day 3 visit not happened, the contact would stop at ``visit``.

``order="strict_increase"`` is the same rule with **strictly** increasing
timestamps between consecutive steps (one instant serves one step), the
longest such chain counting.  (ClickHouse's ``'strict_increase'`` option
keeps only the latest chain at each step and can miss a longer one: for
visit 0h, signup 5h, signup 10h, purchase 10h it stops at signup, where
funnelkit counts visit 0h, signup 5h, purchase 10h.)

``order="any"`` drops the order: a contact counts at step k when events of
steps 1..k all occur within one window (the span from the earliest to the
latest of the k events is at most ``window``), in any order; the funnel
still narrows and step names keep their meaning.

``first_entry=True`` keeps only the contact's first step-1 event ever (the
"unique entry" reading; events before ``since`` are read for it, so a
contact whose first one is before ``since`` is not counted): no later
step-1 event starts a chain.  Under ``rules="clickhouse"``, the first one in
``[since, until)``.

The counted chain
-----------------
When several chains reach a contact's level, the one counted (for time to
convert, exclusions, breakdowns by period) is the one that completes the
level **first**, each earlier step taken as **late** as possible (so the
start is the latest step-1 event that still reaches the level).  In the
timeline above: visit day 3, signup day 8, purchase day 8.  With
``order="any"`` the counted set is the earliest window reaching the level,
each step taken at its first event in that window.

Exclusions
----------
``Exclusion("unsubscribe", from_step=1, to_step=2)`` removes from the funnel
every contact whose counted chain has an ``unsubscribe`` event strictly after
its step-1 event and strictly before its step-2 event (or, when the chain
never reached step 2, up to the end of its window).  Removed contacts are
counted in ``excluded``.  Exclusions need an ordered ``order``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

import narwhals as nw
import polars as pl

from funnelkit import frames
from funnelkit.aggregate import (
    check_count_option,
    long_steps,
    merge_segments,
    suppress_small_segments,
)
from funnelkit.chains import (
    Events,
    entry_contacts,
    restrict_span,
    stage_entries,
)
from funnelkit.core.chains import (
    chains_of,
    finish_durations,
    funnel_counts,
    nw_spec,
    wide_frame,
)
from funnelkit.definitions import Funnel, Stage, read_numbers
from funnelkit.durations import parse_duration
from funnelkit.engine_frames import collect_polars
from funnelkit.errors import MissingColumnError, ParameterError, did_you_mean
from funnelkit.events import (
    CONTACT_ID,
    CREATED_AT,
    OCCURRED_AT,
    ContactTable,
    as_lazy,
    optional_contacts,
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
    PERIODS,
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
)
from funnelkit.timeutil import TimeLike, parse_as_of, time_bounds
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
    "finish_funnel",
    "finish_trend",
    "funnel",
    "funnel_chains",
    "funnel_counts",
    "trend_counts",
    "week_over_week",
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
) -> FunnelResult:
    """Count the contacts reaching each step of a funnel within a conversion window.

    The chain rule (ClickHouse ``windowFunnel`` semantics for
    ``order="ordered"``), the counted chain and exclusions are described in
    the module documentation (:mod:`funnelkit.conversion`).

    **Stages as steps.**  A stage step is the instant the contact entered the
    stage (the ``<stage>_at`` of :func:`funnelkit.stages.classify`, read
    from the contact's history before ``until``): "entered stage 1, then
    stage 2 within the window, ...", so a funnel over a definition counts what
    :func:`funnelkit.stages.classify` says.  ``stage_steps="evidence"`` counts
    any one of the stage's evidence events instead.  See "Stages as steps" in
    the module documentation.

    One function for every engine: the chains come from the core
    (:mod:`funnelkit.core.chains`) or its polars accelerator, and the
    counts, breakdown and time to convert are computed where the events are;
    only the small tables come back, as polars.

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
        ``"ordered"``, ``"strict_increase"`` or ``"any"``.
    first_entry
        Only the contact's first step-1 event may start a chain.
    exclusions
        :class:`Exclusion` rules (or ``(event, from_step, to_step)`` tuples).
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
    """
    events, contacts = pseudonymize_breakdown(events, contacts, by, allow_personal=allow_personal)
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
    chains = chains_of(events, ns, since=since, until=until, by=by, contacts=contacts)
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

    ``by``, ``top`` and ``min_size`` are those of :func:`funnel`.
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

    A contact is acquired at its first event (``acquisition="first_event"``)
    or at its ``created_at`` in ``contacts`` (``"created_at"``; contacts
    without events count too).  It converts on day
    ``floor((first target event - acquisition) / 1 day)`` (0 when the target
    came first).  A stage as target converts at the instant the contact
    entered the stage (see the module documentation), as
    :func:`funnelkit.stages.classify` of its history up to ``as_of`` (and
    before ``until``) says; with ``stage_steps="evidence"``, at its first
    evidence event.
    A contact acquired ``d`` days before ``as_of`` is observed for days
    ``0..d`` only: the curve (Kaplan-Meier) uses it for those days and no
    further, so recent cohorts are not read as converting less.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog` or a canonical polars frame.
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
        history these cohorts read (events before ``until`` and at or before
        ``as_of``, with the ``contacts`` created by then), when already at
        hand; the target's entry times are read from it instead of
        classifying again.  Ignored for any other target.

    Returns
    -------
    CohortTable

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
    """
    reading = stage_reading(target, stage_steps, definition)
    if frames.is_engine_frame(events):
        return frames.on_engine("cohorts", CohortTable)(
            events,
            target,
            period=period,
            acquisition=acquisition,
            contacts=contacts,
            horizon=horizon,
            as_of=as_of,
            since=since,
            until=until,
            stage_steps=stage_steps,
            definition=definition,
        )
    step = resolve_step(target, "target", reading=reading)
    if reading.entry:
        check_some_stage([step], reading)
    every = PERIODS[check_period(period)]
    if acquisition not in ("first_event", "created_at"):
        hint = did_you_mean(str(acquisition), ("first_event", "created_at"))
        msg = f"acquisition: {acquisition!r} is not 'first_event' or 'created_at'.{hint}"
        raise ParameterError(msg)
    span = parse_duration(horizon, name="horizon")
    horizon_days = span // timedelta(days=1)
    lo, hi = time_bounds(since, until)
    lf = restrict_span(as_lazy(events), lo, hi)
    known = parse_as_of(as_of)
    if known is None:
        last = lf.select(pl.col(OCCURRED_AT).max()).collect().item()
        known = last if isinstance(last, datetime) else None
    if known is None:
        empty = pl.DataFrame(schema=COHORT_SCHEMA)
        return CohortTable(
            empty, step.name, str(period), str(acquisition), span, None, reading.mode
        )
    lf = lf.filter(pl.col(OCCURRED_AT) <= known)
    if step.stage is not None and reading.definition is not None:
        # the whole history before ``until`` and ``as_of`` tells when a contact entered
        people = entry_contacts(optional_contacts(contacts), None, hi)
        if people is not None and CREATED_AT in people.collect_schema().names():
            people = people.filter(pl.col(CREATED_AT).is_null() | (pl.col(CREATED_AT) <= known))
        history = restrict_span(as_lazy(events), None, hi).filter(pl.col(OCCURRED_AT) <= known)
        hits = stage_entries(
            history, reading.definition, [step.stage], people, classified=classified
        )
    else:
        if isinstance(target, Stage):
            filters = [f for cond in target.conditions for f in cond.where]
            lf = read_numbers(lf, filters, f"stage {target.id!r}")
        hits = lf.filter(step.expr)
    reached = hits.group_by(CONTACT_ID).agg(_hit=pl.col(OCCURRED_AT).min())
    if acquisition == "first_event":
        acquired = lf.group_by(CONTACT_ID).agg(_acq=pl.col(OCCURRED_AT).min())
    else:
        people = optional_contacts(contacts)
        if people is None or CREATED_AT not in people.collect_schema().names():
            msg = "acquisition='created_at' needs contacts= with a 'created_at' column"
            raise MissingColumnError(msg)
        acquired = (
            people.select(CONTACT_ID, _acq=pl.col(CREATED_AT))
            .filter(pl.col("_acq").is_not_null() & (pl.col("_acq") <= known))
            .unique(CONTACT_ID, keep="first", maintain_order=True)
        )
    per_contact = acquired.join(reached, on=CONTACT_ID, how="left").select(
        cohort_start=pl.col("_acq").dt.truncate(every),
        _obs=(pl.lit(known) - pl.col("_acq")).dt.total_microseconds() // _DAY_US,
        _day=pl.when(pl.col("_hit").is_not_null()).then(
            pl.max_horizontal(
                (pl.col("_hit") - pl.col("_acq")).dt.total_microseconds() // _DAY_US, pl.lit(0)
            )
        ),
    )
    sizes = per_contact.group_by("cohort_start").agg(cohort_size=pl.len().cast(pl.Int64))
    converted = (
        per_contact.filter(pl.col("_day").is_not_null())
        .group_by("cohort_start", pl.col("_day").alias("day"))
        .agg(converted=pl.len().cast(pl.Int64))
    )
    censored = (
        per_contact.filter(pl.col("_day").is_null())
        .group_by("cohort_start", pl.col("_obs").alias("day"))
        .agg(_censored=pl.len().cast(pl.Int64))
    )
    curve = km_curve(sizes, converted, censored, horizon_days)
    return CohortTable(
        table=curve.collect(),
        target=step.name,
        period=str(period),
        acquisition=str(acquisition),
        horizon=span,
        as_of=known,
        stage_steps=reading.mode,
    )


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
