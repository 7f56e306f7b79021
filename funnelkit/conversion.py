"""How contacts move: ordered funnels with a conversion window, and what follows from them.

:func:`funnel` counts, for each step of a funnel, the contacts whose events
form a chain reaching it within a conversion window; it gives the step and
overall conversion with Wilson intervals, the drop-off, the time to convert
and, with ``by=``, one funnel per breakdown value.  :func:`conversion_over_time`
cuts the same figures by entry period, :func:`compare_periods` (and
:func:`week_over_week`) says whether the latest change is outside the noise,
and :func:`cohorts` draws survival-style curves by acquisition period.
:func:`funnel_chains` is the per-contact table they are all built on.

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
- DuckDB and Spark frames (:mod:`funnelkit.engines`) read stages by
  evidence only for now: a stage step there needs ``stage_steps="evidence"``
  (a :class:`~funnelkit.errors.ParameterError` says so).

``stage_steps="evidence"`` counts a stage's **evidence events** one by one:
a contact reaches the step at any single event the stage's rules name (with
their property filters), in ``[since, until)``.  A stage's ``min_count``,
points threshold and half-life are *not* applied, nor is stage skipping, so a
step can count more contacts than :func:`funnelkit.stages.classify` puts at
or past that stage (in the ``inbound`` preset one page view is evidence for
``cold_lead`` although its score of 2 stays under the threshold of 3), or
fewer (a walk-in buyer has no evidence for the lead stages it skipped).  On
the sample data (``data/sample``, ``inbound``), prospect to cold lead is
86.9% this way, 59.0% by entry as in the snapshot.  Results name the reading
(``stage_steps``; "stages by evidence" in their titles).

The chain rule
--------------
``order="ordered"`` (the default) follows ClickHouse's
``windowFunnel(window)`` in its default mode exactly:

- a chain starts at any step-1 event;
- step k+1 joins a chain that has reached step k when it happens **at or
  after** the chain's step-k event and **at most** ``window`` after the
  chain's start (the boundary itself is inside);
- a contact's level is the longest chain over all starts; the contact is
  counted at steps 1 to level.

Events at one timestamp may serve consecutive steps (also one event that
matches two consecutive steps), so a chain may complete in a single
instant.  Input order does not matter; only timestamps do.

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

``first_entry=True`` keeps only the contact's first step-1 event (the
"unique entry" reading): no later step-1 event starts a chain.

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

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl

from funnelkit import frames
from funnelkit.aggregate import STEP_COLUMNS as _STEP_COLUMNS
from funnelkit.aggregate import (
    check_count_option,
    collect_sound,
    long_steps,
    merge_segments,
    step_counts,
    suppress_small_segments,
    time_to_convert_tables,
    transition_durations,
)
from funnelkit.chains import (
    Events,
    contact_chains,
    entry_contacts,
    funnel_chains,
    read_steps,
    restrict_span,
    stage_entries,
    step_time,
)
from funnelkit.definitions import Funnel, Stage, read_numbers
from funnelkit.durations import format_duration, parse_duration
from funnelkit.errors import MissingColumnError, ParameterError, did_you_mean
from funnelkit.events import (
    CONTACT_ID,
    CREATED_AT,
    OCCURRED_AT,
    ContactTable,
    as_lazy,
    as_lazy_contacts,
)
from funnelkit.privacy import pseudonymize_breakdown
from funnelkit.stats import (
    check_alpha,
    two_proportion_p_value,
    verdict_expr,
)
from funnelkit.steps import (
    PERIODS,
    Exclusion,
    FunnelLike,
    Order,
    Period,
    Spec,
    StageLike,
    StageSteps,
    StepSpec,
    StepsSpec,
    bin_width,
    check_period,
    check_some_stage,
    refuse_entry_reading,
    resolve_spec,
    resolve_step,
    stage_reading,
    transitions,
)
from funnelkit.timeutil import TimeLike, parse_as_of, parse_time, time_bounds

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
    "funnel",
    "funnel_chains",
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


# --- results -------------------------------------------------------------------
def _pct(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.1%}"  # type: ignore[arg-type]


def _count(value: object) -> str:
    return "" if value is None else f"{int(value):,}"  # type: ignore[call-overload]


def _dur(value: object) -> str:
    if not isinstance(value, timedelta):
        return ""
    return _human(value)


def _human(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _html(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    cap = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return (
        f"<table class='funnelkit'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _text(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _share(rate: object, successes: object, trials: object) -> str:
    return f"{_pct(rate)} ({_count(successes)}/{_count(trials)})"


def _interval(low: object, high: object) -> str:
    if low is None or high is None:
        return ""
    return f"{_pct(low)}–{_pct(high)}"


def _json_value(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _records(df: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in row.items()} for row in df.iter_rows(named=True)]


_STEP_HEADERS = (
    "step",
    "name",
    "contacts",
    "from previous",
    "95% CI",
    "from first",
    "95% CI",
    "drop-off",
)


def _step_cells(row: Mapping[str, Any]) -> list[str]:
    return [
        str(row["step"]),
        str(row["name"]),
        _count(row["count"]),
        _pct(row["conversion_from_previous"]),
        _interval(row["previous_ci_low"], row["previous_ci_high"]),
        _pct(row["conversion_from_first"]),
        _interval(row["ci_low"], row["ci_high"]),
        _count(row["drop_off"]),
    ]


@dataclass(frozen=True)
class TimeToConvert:
    """How long the counted chains took, per transition between steps.

    Attributes
    ----------
    summary
        One row per transition: ``from_step``, ``to_step``, ``from_name``,
        ``to_name``, ``contacts`` (contacts that made it), ``median``, ``p90``
        and ``mean`` (durations; null without contacts).  Consecutive steps,
        then first to last when the funnel has three steps or more.  With
        ``order="any"`` only the first-to-last row is given: the span of the
        counted set.
    histogram
        ``from_step``, ``to_step``, ``bin``, ``bin_start``, ``bin_end``,
        ``contacts``: bins of ``bin_width`` covering the window (the last
        one closed).
    bin_width
        Width of the histogram bins, a round duration giving at most 20 bins.
    """

    summary: pl.DataFrame
    histogram: pl.DataFrame
    bin_width: timedelta

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`summary`."""
        return self.summary

    def to_dict(self) -> list[dict[str, Any]]:
        """Return the summary as JSON-ready rows (durations in seconds, plus the histogram)."""
        out = []
        for row in _records(self.summary):
            hist = self.histogram.filter(
                (pl.col("from_step") == row["from_step"]) & (pl.col("to_step") == row["to_step"])
            )
            row = {
                **{k: v for k, v in row.items() if k not in ("median", "p90", "mean")},
                "median_seconds": row["median"],
                "p90_seconds": row["p90"],
                "mean_seconds": row["mean"],
                "histogram": {
                    "bin_width_seconds": self.bin_width.total_seconds(),
                    "contacts": hist["contacts"].to_list(),
                },
            }
            out.append(row)
        return out

    def _rows(self) -> list[list[str]]:
        return [
            [
                f"{r['from_step']} → {r['to_step']}",
                f"{r['from_name']} → {r['to_name']}",
                _count(r["contacts"]),
                _dur(r["median"]),
                _dur(r["p90"]),
            ]
            for r in self.summary.iter_rows(named=True)
        ]

    def _repr_html_(self) -> str:
        return _html(
            ("steps", "names", "contacts", "median", "p90"), self._rows(), "Time to convert"
        )


@dataclass(frozen=True)
class FunnelResult:
    """Counts, rates and intervals of a funnel; see :func:`funnel`.

    Attributes
    ----------
    table
        One row per step, all contacts: ``step``, ``name``, ``count``,
        ``conversion_from_previous``, ``conversion_from_first``, ``ci_low`` and
        ``ci_high`` (Wilson 95% interval of ``conversion_from_first``),
        ``previous_ci_low`` and ``previous_ci_high`` (of
        ``conversion_from_previous``), ``drop_off`` (contacts lost since the
        previous step) and ``drop_off_rate``.  Step 1 has no "previous" figures.
    step_names
        The step names, in order.
    window, order, first_entry
        The rules used.
    excluded
        Contacts removed by exclusions (not in the counts).
    time_to_convert
        Durations of the counted chains (all contacts, not per segment).
    by
        The breakdown column, if any.
    breakdown
        With ``by``: ``segment``, ``suppressed``, ``excluded`` and the columns
        of :attr:`table`, one row per segment and step; segments ordered by
        entrants, the tail beyond ``top`` grouped as ``"Other"``, a missing
        value shown as ``"(none)"``.  Suppressed segments (fewer entrants than
        ``min_size``) keep their counts but show no rate nor interval.
    stage_steps
        How stage steps were read: ``"evidence"`` or ``"entry"`` (shown in
        the title as "stages by evidence" when not by entry).
    """

    table: pl.DataFrame
    step_names: tuple[str, ...]
    window: timedelta
    order: Order
    first_entry: bool
    excluded: int
    time_to_convert: TimeToConvert
    by: str | None = None
    breakdown: pl.DataFrame | None = None
    stage_steps: StageSteps = "evidence"

    def to_polars(self) -> pl.DataFrame:
        """Return the breakdown table with ``by``, else the step table."""
        return self.breakdown if self.breakdown is not None else self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary.

        ``{"steps": [{"step", "name", "count", "conversion_from_previous",
        "conversion_from_first", "ci_low", "ci_high", ...}], "window",
        "order", "first_entry", "stage_steps", "excluded", "time_to_convert"}``, plus, with
        ``by``, ``"by"`` and ``"segments": [{"value", "entrants", "excluded",
        "suppressed", "steps": [...]}]``.
        """
        out: dict[str, Any] = {
            "steps": _records(self.table),
            "window": format_duration(self.window),
            "window_seconds": self.window.total_seconds(),
            "order": self.order,
            "first_entry": self.first_entry,
            "stage_steps": self.stage_steps,
            "excluded": self.excluded,
            "time_to_convert": self.time_to_convert.to_dict(),
        }
        if self.breakdown is not None:
            segments = []
            for (value,), part in self.breakdown.group_by("segment", maintain_order=True):
                first = part.row(0, named=True)
                segments.append(
                    {
                        "value": value,
                        "entrants": first["count"],
                        "excluded": first["excluded"],
                        "suppressed": first["suppressed"],
                        "steps": _records(part.select(_STEP_COLUMNS)),
                    }
                )
            out["by"] = self.by
            out["segments"] = segments
        return out

    def _title(self) -> str:
        entry = ", first entry only" if self.first_entry else ""
        stages = ", stages by evidence" if self.stage_steps == "evidence" else ""
        excluded = f", {self.excluded:,} excluded" if self.excluded else ""
        return (
            f"Funnel {' → '.join(self.step_names)} (window {format_duration(self.window)}, "
            f"{self.order}{entry}{stages}{excluded})"
        )

    def to_text(self) -> str:
        """Return the funnel as a plain-text table (what the command line prints)."""
        right = (True, False, True, True, True, True, True, True)
        parts = [
            self._title(),
            "",
            _text(_STEP_HEADERS, [_step_cells(r) for r in self.table.iter_rows(named=True)], right),
        ]
        if self.breakdown is not None:
            rows = []
            for r in self.breakdown.iter_rows(named=True):
                flag = " (suppressed)" if r["suppressed"] and r["step"] == 1 else ""
                rows.append([f"{r['segment']}{flag}", *_step_cells(r)])
            parts += [
                "",
                f"By {self.by}:",
                _text((str(self.by), *_STEP_HEADERS), rows, (False, *right)),
            ]
        ttc = self.time_to_convert
        if ttc.summary.height:
            parts += [
                "",
                "Time to convert:",
                _text(
                    ("steps", "names", "contacts", "median", "p90"),
                    ttc._rows(),
                    (False, False, True, True, True),
                ),
            ]
        return "\n".join(parts)

    def __str__(self) -> str:
        """``print(result)`` shows the table of :meth:`to_text`, not every field."""
        return self.to_text()

    def _repr_html_(self) -> str:
        rows = [_step_cells(r) for r in self.table.iter_rows(named=True)]
        out = _html(_STEP_HEADERS, rows, self._title())
        if self.breakdown is not None:
            seg_rows = []
            for r in self.breakdown.iter_rows(named=True):
                flag = " (suppressed)" if r["suppressed"] and r["step"] == 1 else ""
                seg_rows.append([f"{r['segment']}{flag}", *_step_cells(r)])
            out += _html((str(self.by), *_STEP_HEADERS), seg_rows, f"By {self.by}")
        if self.time_to_convert.summary.height:
            out += self.time_to_convert._repr_html_()
        return f"<div>{out}</div>"


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
) -> FunnelResult:
    """Count the contacts reaching each step of a funnel within a conversion window.

    The chain rule (ClickHouse ``windowFunnel`` semantics for
    ``order="ordered"``), the counted chain and exclusions are described in
    the module documentation (:mod:`funnelkit.conversion`).

    **Stages as steps.**  By default a stage step counts each of the stage's
    evidence events, without its ``min_count``, points threshold or
    skipping, so its counts differ from :func:`funnelkit.stages.snapshot`.
    Pass ``stage_steps="entry"`` to read a stage as the instant the contact
    entered it (the ``<stage>_at`` of :func:`funnelkit.stages.classify`):
    "entered stage 1, then stage 2 within the window, ...".  See "Stages as
    steps" in the module documentation.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog` or a canonical polars frame
        (``contact_id``, ``occurred_at``, ``event`` and properties).
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
        Contacts table (for ``by`` on a contact attribute).
    since, until
        Only events with ``since <= occurred_at < until`` are read (ISO text,
        dates or datetimes; naive values are UTC).  Chains near ``until`` are
        cut short: see :func:`conversion_over_time` for incomplete periods.
    stage_steps
        ``"evidence"`` (default): a stage step is reached at any of its
        evidence events.  ``"entry"``: at the instant the contact entered
        the stage, one synthetic event per contact and stage reached; the
        classification reads the events read here and ``contacts``.
    definition
        With ``stage_steps="entry"``, the definition the stage steps belong
        to, when ``steps`` is not that definition itself (e.g.
        ``[inbound.stage("cold_lead"), inbound.stage("client")]``).
    allow_personal
        Accept a ``by`` column holding personal data
        (:func:`funnelkit.privacy.judge_column`: ``email``, ``Courriel``,
        ``nom``, phone numbers, contact ids...); its values are then replaced
        by keyed pseudonyms, never shown.  Off, such a column is refused.

    Returns
    -------
    FunnelResult
        ``.table`` per step, ``.breakdown`` with ``by``, ``.time_to_convert``,
        ``.excluded``; ``to_polars()``, ``to_dict()`` and a notebook display.

    Raises
    ------
    ParameterError
        A step, window, order, exclusion or option is unusable; a stage read
        by entry without its definition, or on DuckDB or Spark frames.
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
    [2, 2, 0, 0, 0]
    """
    events, contacts = pseudonymize_breakdown(events, contacts, by, allow_personal=allow_personal)
    if frames.is_engine_frame(events):
        refuse_entry_reading(steps, stage_steps, definition)
        return frames.on_engine("funnel", FunnelResult)(
            events,
            steps,
            window=window,
            order=order,
            first_entry=first_entry,
            exclusions=exclusions,
            by=by,
            top=top,
            min_size=min_size,
            contacts=contacts,
            since=since,
            until=until,
        )
    spec = resolve_spec(
        steps,
        window,
        order,
        first_entry,
        exclusions,
        stage_steps=stage_steps,
        definition=definition,
    )
    check_count_option(top, "top", allow_none=True)
    check_count_option(min_size, "min_size", allow_none=False)
    contacts_lf = _contacts(contacts)
    _, lf, by_column = read_steps(events, spec, since, until, by=by, contacts=contacts_lf)
    group = "_seg_value" if by is not None else None
    width = bin_width(spec.window_us)

    def build(chains: pl.LazyFrame) -> list[pl.LazyFrame]:
        summary, histogram = time_to_convert_tables(transition_durations(chains, spec), spec, width)
        frames = [step_counts(chains, spec, None), summary, histogram]
        if group is not None:
            frames.append(step_counts(chains, spec, group))
        return frames

    collected = collect_sound(
        spec,
        lambda mode: contact_chains(lf, spec, mode=mode, by=by_column, contacts=contacts_lf),
        build,
    )
    total = collected[0]
    breakdown = None
    if group is not None:
        merged = merge_segments(collected[3], spec, top, min_size)
        long = long_steps(merged.drop("_excl", "suppressed"), spec, ["segment"])
        flags = merged.select("segment", "suppressed", excluded=pl.col("_excl"))
        long = flags.join(long, on="segment", how="left", maintain_order="left")
        breakdown = suppress_small_segments(long)
    return FunnelResult(
        table=long_steps(total.drop("_excl"), spec, []),
        step_names=tuple(s.name for s in spec.steps),
        window=timedelta(microseconds=spec.window_us),
        order=spec.order,
        first_entry=spec.first_entry,
        excluded=int(total["_excl"].item() or 0),
        time_to_convert=finish_time_to_convert(collected[1], collected[2], spec, width),
        by=by,
        breakdown=breakdown,
        stage_steps=spec.stage_steps,
    )


def _contacts(contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None) -> pl.LazyFrame | None:
    return None if contacts is None else as_lazy_contacts(contacts)


# --- conversion over time --------------------------------------------------------
def _periods_grid(starts: pl.Series, every: str) -> pl.DataFrame:
    first, last = starts.min(), starts.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return pl.DataFrame(schema={"period_start": pl.Datetime("us", "UTC")})
    grid = pl.datetime_range(first, last, interval=every, time_zone="UTC", eager=True)
    return pl.DataFrame({"period_start": grid}).with_columns(
        pl.col("period_start").cast(pl.Datetime("us", "UTC"))
    )


@dataclass(frozen=True)
class ConversionTrend:
    """Funnel rates per entry period; see :func:`conversion_over_time`.

    Attributes
    ----------
    table
        One row per period and step: ``period_start``, ``period_end`` (UTC,
        end excluded), ``complete``, ``excluded`` and the columns of
        :attr:`FunnelResult.table`.  Every period between the first and the
        last entry is present (zero counts included).
    period
        ``"day"``, ``"week"`` (ISO, from Monday) or ``"month"``.
    window
        The conversion window.
    as_of
        The moment data is known up to; a period is ``complete`` when
        ``period_end + window <= as_of``.
    step_names
        The step names, in order.
    stage_steps
        How stage steps were read: ``"evidence"`` or ``"entry"``.
    """

    table: pl.DataFrame
    period: str
    window: timedelta
    as_of: datetime | None
    step_names: tuple[str, ...]
    stage_steps: StageSteps = "evidence"

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary.

        ``{"period", "window", "as_of", "stage_steps", "rows": [...]}``.
        """
        return {
            "period": self.period,
            "window": format_duration(self.window),
            "as_of": _json_value(self.as_of),
            "stage_steps": self.stage_steps,
            "rows": _records(self.table),
        }

    def _repr_html_(self) -> str:
        n = len(self.step_names)
        headers = ["period", "entrants", *(f"→ {name}" for name in self.step_names[1:]), ""]
        rows = []
        for (start,), part in self.table.group_by("period_start", maintain_order=True):
            cells = part.sort("step")
            first = cells.row(0, named=True)
            rates = [_pct(cells["conversion_from_first"][k]) for k in range(1, n)]
            note = "" if first["complete"] else "incomplete: window still open"
            rows.append([f"{start:%Y-%m-%d}", _count(first["count"]), *rates, note])
        stages = ", stages by evidence" if self.stage_steps == "evidence" else ""
        caption = (
            f"Conversion from first step by {self.period} of entry "
            f"(window {format_duration(self.window)}{stages})"
        )
        return _html(headers, rows, caption)


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
) -> ConversionTrend:
    """Return funnel rates per period of entry, with unfinished periods flagged.

    Each contact is counted once, in the period of the start of its counted
    chain (with ``first_entry=True``: of its first step-1 event), with the
    steps that chain reached within the window; the periods therefore add up
    to :func:`funnel` on the same events.  A period is ``complete`` when the
    window of its last possible entrant has closed by ``as_of``; the rates of
    an incomplete period are still growing and must not be read as a drop.

    With ``stage_steps="entry"`` and a stage as step 1, a contact's period
    is that of its entry into that stage.

    Parameters
    ----------
    events, steps, window, order, first_entry, exclusions, since, until
        As in :func:`funnel`.
    period
        ``"day"``, ``"week"`` (ISO weeks, from Monday 00:00 UTC) or ``"month"``.
    as_of
        What the data is known up to (a date means the end of that day, as in
        :func:`funnelkit.stages.classify`); by default the last event's time.
    stage_steps, definition
        As in :func:`funnel`: ``"entry"`` reads a stage step as the instant
        the contact entered the stage (see the module documentation).

    Returns
    -------
    ConversionTrend

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
    """
    if frames.is_engine_frame(events):
        refuse_entry_reading(steps, stage_steps, definition)
        return frames.on_engine("conversion_over_time", ConversionTrend)(
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
        )
    spec = resolve_spec(
        steps,
        window,
        order,
        first_entry,
        exclusions,
        stage_steps=stage_steps,
        definition=definition,
    )
    every = PERIODS[check_period(period)]
    lf, rows, _ = read_steps(events, spec, since, until)
    known = parse_as_of(as_of)
    entry = pl.col(step_time(1)).cast(pl.Datetime("us", "UTC")).dt.truncate(every)
    collected = collect_sound(
        spec,
        lambda mode: contact_chains(rows, spec, mode=mode).with_columns(_seg_value=entry),
        lambda chains: [
            step_counts(chains, spec, "_seg_value"),
            lf.select(pl.col(OCCURRED_AT).max()),
        ],
    )
    wide = collected[0].rename({"_seg_value": "period_start"})
    if known is None:
        last = collected[1].item()
        known = last if isinstance(last, datetime) else None
    return finish_trend(wide, spec, str(period), known)


def finish_trend(
    wide: pl.DataFrame, spec: Spec, period: str, known: datetime | None
) -> ConversionTrend:
    """Return the trend of per-period counts ``wide`` (``period_start``, ``_excl``, ``c1..``).

    Periods with no entrant are filled with zeros; a period is complete when
    its end plus the window is at or before ``known``.
    """
    every = PERIODS[period]
    grid = _periods_grid(wide["period_start"], every)
    counts = [f"c{k}" for k in range(1, spec.n + 1)]
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
@dataclass(frozen=True)
class PeriodComparison:
    """Each rate of the funnel, current period against the previous one.

    Attributes
    ----------
    table
        One row per step (from step 2) and rate (``"from_previous"``,
        ``"from_first"``): ``step``, ``name``, ``rate``,
        ``previous_successes``, ``previous_trials``, ``previous_rate``,
        ``current_successes``, ``current_trials``, ``current_rate``,
        ``change`` (absolute, in rate points), ``relative_change``,
        ``p_value`` (pooled two-proportion z-test, two-sided) and
        ``verdict``: ``"increase"``, ``"decrease"``, ``"within noise"`` or
        ``"too few"`` (no verdict: a side has fewer than 30 trials or fewer
        than 5 successes or failures).
    period
        ``"day"``, ``"week"`` or ``"month"``.
    previous_start, current_start
        Start of the two periods compared (UTC).
    current_complete
        Whether the current period's window had closed by ``as_of``.
    alpha
        Significance level of the verdicts.
    stage_steps
        How stage steps were read: ``"evidence"`` or ``"entry"``.
    """

    table: pl.DataFrame
    period: str
    previous_start: datetime
    current_start: datetime
    current_complete: bool
    alpha: float
    stage_steps: StageSteps = "evidence"

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "period": self.period,
            "previous_start": _json_value(self.previous_start),
            "current_start": _json_value(self.current_start),
            "current_complete": self.current_complete,
            "alpha": self.alpha,
            "stage_steps": self.stage_steps,
            "rows": _records(self.table),
        }

    def _repr_html_(self) -> str:
        rows = [
            [
                f"{r['step']} {r['name']}",
                r["rate"].replace("_", " "),
                _share(r["previous_rate"], r["previous_successes"], r["previous_trials"]),
                _share(r["current_rate"], r["current_successes"], r["current_trials"]),
                "" if r["change"] is None else f"{100 * r['change']:+.1f} pts",
                "" if r["p_value"] is None else f"{r['p_value']:.3f}",
                str(r["verdict"]),
            ]
            for r in self.table.iter_rows(named=True)
        ]
        note = "" if self.current_complete else " (current period incomplete)"
        stages = " (stages by evidence)" if self.stage_steps == "evidence" else ""
        caption = (
            f"{self.period.capitalize()} of {self.current_start:%Y-%m-%d} vs "
            f"{self.previous_start:%Y-%m-%d}{stages}{note}"
        )
        headers = ("step", "rate", "previous", "current", "change", "p-value", "verdict")
        return _html(headers, rows, caption)


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
) -> PeriodComparison:
    """Compare each funnel rate of one entry period with the period before.

    Parameters
    ----------
    events, steps, window, order, first_entry, exclusions, since, until
        As in :func:`funnel`.
    stage_steps, definition
        As in :func:`funnel` (``"entry"``: stages read by entry, as the
        snapshot sees them).
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

    Raises
    ------
    ParameterError
        No complete period with a period before it, or ``current`` outside the data.

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
    """
    if frames.is_engine_frame(events):
        refuse_entry_reading(steps, stage_steps, definition)
        return frames.on_engine("compare_periods", PeriodComparison)(
            events,
            steps,
            window=window,
            period=period,
            current=current,
            as_of=as_of,
            alpha=alpha,
            order=order,
            first_entry=first_entry,
            exclusions=exclusions,
            since=since,
            until=until,
        )
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
) -> PeriodComparison:
    """Compare each rate of the last complete ISO week with the week before.

    :func:`compare_periods` with ``period="week"``; see there (and see
    ``stage_steps="entry"`` in :func:`funnel` for stages as the snapshot
    sees them).

    Examples
    --------
    >>> import datetime as dt
    >>> log = pl.DataFrame({"contact_id": ["a", "b", "z"], "event": ["page_view"] * 3,
    ...     "occurred_at": [dt.datetime(2026, 9, 7), dt.datetime(2026, 9, 14),
    ...                     dt.datetime(2026, 10, 30)]})
    >>> week_over_week(log, ["page_view", "purchase"], window="1d").table["verdict"].to_list()
    ['too few', 'too few']
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
    )


# --- cohorts -----------------------------------------------------------------------
Acquisition = Literal["first_event", "created_at"]
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class CohortTable:
    """Share of each acquisition cohort reaching a target, by days since acquisition.

    Attributes
    ----------
    table
        Tidy, one row per cohort and day (while anyone of the cohort is still
        observed): ``cohort_start``, ``cohort_size``, ``day``, ``at_risk``
        (contacts observed that long and not converted before that day),
        ``converted`` (converting that day), ``cumulative_converted``,
        ``observed_share`` (``cumulative_converted / cohort_size``, a lower
        bound) and ``share``, the Kaplan-Meier estimate of the share
        converted by the end of that day, which accounts for contacts not yet
        observed that long.
    target
        Name of the target step.
    period, acquisition, horizon, as_of, stage_steps
        The options used.
    """

    table: pl.DataFrame
    target: str
    period: str
    acquisition: str
    horizon: timedelta
    as_of: datetime | None
    stage_steps: StageSteps = "evidence"

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "target": self.target,
            "period": self.period,
            "acquisition": self.acquisition,
            "horizon_days": self.horizon.days,
            "as_of": _json_value(self.as_of),
            "stage_steps": self.stage_steps,
            "rows": _records(self.table),
        }

    def _repr_html_(self) -> str:
        marks = [d for d in (0, 7, 14, 30, 60, 90, 180, 365) if d <= self.horizon.days]
        rows = []
        for (start,), part in self.table.group_by("cohort_start", maintain_order=True):
            share = dict(zip(part["day"].to_list(), part["share"].to_list(), strict=True))
            size = part["cohort_size"][0]
            rows.append([f"{start:%Y-%m-%d}", _count(size), *(_pct(share.get(d)) for d in marks)])
        stages = ", stages by evidence" if self.stage_steps == "evidence" else ""
        caption = (
            f"Share reaching {self.target} by days since acquisition "
            f"({self.acquisition.replace('_', ' ')}, by {self.period}{stages})"
        )
        return _html(["cohort", "contacts", *(f"day {d}" for d in marks)], rows, caption)


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
) -> CohortTable:
    """Return survival-style conversion curves by acquisition cohort, as a tidy table.

    A contact is acquired at its first event (``acquisition="first_event"``)
    or at its ``created_at`` in ``contacts`` (``"created_at"``; contacts
    without events count too).  It converts on day
    ``floor((first target event - acquisition) / 1 day)`` (0 when the target
    came first).  A stage as target converts at its first evidence event by
    default; with ``stage_steps="entry"`` at the instant the contact entered
    the stage (see the module documentation), as
    :func:`funnelkit.stages.classify` of the events up to ``as_of`` says.
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
        ``"evidence"`` (default) or ``"entry"``, as in :func:`funnel`.
    definition
        With ``stage_steps="entry"``, the definition the target stage
        belongs to (required: a stage's entry depends on the whole definition).

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
    if frames.is_engine_frame(events) and acquisition == "first_event":
        refuse_entry_reading(target, stage_steps, definition)
        return frames.on_engine("cohorts", CohortTable)(
            events, target, period=period, horizon=horizon, as_of=as_of, since=since, until=until
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
        people = entry_contacts(_contacts(contacts), None, hi)
        if people is not None and CREATED_AT in people.collect_schema().names():
            people = people.filter(pl.col(CREATED_AT).is_null() | (pl.col(CREATED_AT) <= known))
        history = restrict_span(as_lazy(events), None, hi).filter(pl.col(OCCURRED_AT) <= known)
        hits = stage_entries(history, reading.definition, [step.stage], people)
    else:
        if isinstance(target, Stage):
            filters = [f for cond in target.conditions for f in cond.where]
            lf = read_numbers(lf, filters, f"stage {target.id!r}")
        hits = lf.filter(step.expr)
    reached = hits.group_by(CONTACT_ID).agg(_hit=pl.col(OCCURRED_AT).min())
    if acquisition == "first_event":
        acquired = lf.group_by(CONTACT_ID).agg(_acq=pl.col(OCCURRED_AT).min())
    else:
        people = _contacts(contacts)
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
