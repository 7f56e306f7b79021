"""Classify contacts into funnel stages, and what follows from a classification.

:func:`classify` puts every contact in one stage of a funnel definition (see
:mod:`funnelkit.definitions`) as of an instant.  :func:`snapshot` counts a
classification, :func:`flows` shows who moved between two instants,
:func:`compare` crosses two definitions on the same contacts and
:func:`explain` tells, for one contact, which event put it in each stage.

The classification itself is written once, in :mod:`funnelkit.core.classify`
(narwhals), and runs unchanged on polars, DuckDB and Spark: each analysis
here is one function for every engine, reading its events through the one
dispatch (:func:`funnelkit.engine_frames.definition_events`) and bringing the
small result back as polars.

The rules of classification (as of, the entry stage, reaching a stage,
points and half-lives, stage skipping, activity and lapsing) are on the
concept page ``docs/concepts/stages.md`` of the documentation (``make docs``;
in French, ``docs/concepts/stages.fr.md``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import narwhals as nw
import polars as pl

from funnelkit.classify_files import polars_result
from funnelkit.core import classify as core
from funnelkit.core.accelerators import accelerator
from funnelkit.definitions import (
    Condition,
    EventRule,
    Funnel,
    PointsRule,
    duration_text,
    require_funnel,
)
from funnelkit.engine_frames import (
    TS,
    EngineFrame,
    as_polars,
    core_contacts,
    core_events,
    definition_events,
    from_us,
    rows_known_without_reading,
    to_us,
)
from funnelkit.errors import MissingColumnError, ParameterError
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.events import EVENT, ContactTable, EventLog, as_lazy
from funnelkit.events import OCCURRED_AT as T
from funnelkit.events import TIMESTAMP as UTC
from funnelkit.reprs import brief_repr
from funnelkit.steps import warn_outside_events, warn_unknown_events
from funnelkit.timeutil import Instant, fmt_time, instant

__all__ = [
    "ROWS_PER_PARTITION",
    "ROWS_PER_PARTITION_WITH_TIMES",
    "Comparison",
    "Explanation",
    "Flows",
    "Snapshot",
    "classify",
    "compare",
    "explain",
    "in_french",
    "flows",
    "snapshot",
]

EventsLike = EventLog | pl.DataFrame | pl.LazyFrame

#: ``classify(..., partitions="auto", entry_times=False)``: one hash group of
#: contacts per this many events (rounded up).  Measured with
#: ``benchmarks/bench_classify.py``: 50 million events (12.8 million contacts) in
#: one group peak at 1.8-2.8 GB; in two, 1.1-1.2 GB.  See
#: ``docs/adr/0008-classify-at-scale.md``.
ROWS_PER_PARTITION = 25_000_000
#: The same with the ``<stage>_at`` columns (the default): a group's aggregation
#: carries three times more per event and the result is three times wider; 50
#: million events peak at 3.6 GB in one group, 2.1-2.3 in two, 1.5 in four,
#: 1.4-1.65 in five, 1.4-1.45 in seven (the peak grows as the machine is idler).
ROWS_PER_PARTITION_WITH_TIMES = 8_000_000
FrameLike = pl.DataFrame | pl.LazyFrame
ContactsLike = ContactTable | pl.DataFrame | pl.LazyFrame


# --- small helpers -------------------------------------------------------------------
def _collect(lf: pl.LazyFrame) -> pl.DataFrame:
    return lf.collect(engine="streaming")


def _time(us: pl.Expr) -> pl.Expr:
    """Epoch microseconds as a UTC date-time."""
    return us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


# --- the core's frames and results ---------------------------------------------------------
def _check_partitions(partitions: object) -> int | Literal["auto"]:
    """Return ``partitions`` checked: ``"auto"`` or a whole number from 1 to 1,024."""
    if partitions == "auto":
        return "auto"
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        msg = f"partitions={partitions!r}: give a whole number, 1 or more"
        raise ParameterError(msg)
    if partitions > 1024:  # one plan per partition: more only costs time, never memory
        msg = f"partitions={partitions!r}: give at most 1,024 (4 to 16 bound the memory)"
        raise ParameterError(msg)
    return partitions


def _auto_partitions(ev: EngineFrame, *, entry_times: bool) -> int:
    """Return ``partitions="auto"`` for the events ``ev``: one per ``ROWS_PER_PARTITION``.

    ``ROWS_PER_PARTITION_WITH_TIMES`` with ``entry_times``.  The events are
    counted only when that reads no row (a file's metadata, a frame in
    memory); otherwise, and on DuckDB and Spark, one group.
    """
    rows = rows_known_without_reading(ev.lf)
    if rows is None:
        return 1
    per_group = ROWS_PER_PARTITION_WITH_TIMES if entry_times else ROWS_PER_PARTITION
    return max(1, -(-rows // per_group))


# --- classification ---------------------------------------------------------------------
def classify(
    events: EventsLike,
    funnel: Funnel,
    *,
    as_of: Instant | None = None,
    contacts: ContactsLike | None = None,
    entry_times: bool = True,
    partitions: int | Literal["auto"] = "auto",
) -> pl.LazyFrame:
    """Put every known contact in one stage of ``funnel``, as of an instant.

    A contact is at the deepest stage whose conditions its events meet (up
    to ``as_of``), unless an inactivity rule sent it back; the rules (as-of
    cut, entry stage, reaching, skipping, unknown events, lapsing) are on
    the stages page.

    Parameters
    ----------
    events
        The events (an :class:`~funnelkit.events.EventLog`, a polars frame, a
        DuckDB relation or a Spark DataFrame with ``contact_id``,
        ``occurred_at``, ``event`` and the property columns the definition's
        filters read).
    funnel
        The definition, e.g. ``load_funnel("inbound")``.
    as_of
        Use only events up to this instant (inclusive); a date means the
        end of that day, a date-time without zone is UTC.  ``None``: all
        events.
    contacts
        Optional contacts table (``contact_id``, optional ``created_at``):
        contacts with no events are classified too, in the first stage.
    entry_times
        Include the ``<stage id>_at`` columns.  ``False`` computes the
        current stage only, which is cheaper on large logs.
    partitions
        Split the contacts into this many groups (by a hash of their id),
        aggregated one after the other: the same result with less peak memory
        on logs of millions of contacts.  ``"auto"`` (the default): one group
        per 8 million events (25 million with ``entry_times=False``) when
        their number is known without reading them, else 1; a Parquet file
        of more than 16 million events read whole (a scan, or a log held on
        disk) is classified by DuckDB instead, when installed, under a
        memory limit (the stages page says which files).  Ignored on DuckDB
        and Spark.

    Returns
    -------
    polars.LazyFrame
        One row per contact, in no particular order: ``contact_id``,
        ``stage`` (a ``polars.Enum`` of the stage ids in funnel order),
        ``stage_rank`` (1 = first stage), one ``<stage id>_at`` column per
        stage (first time reached, null if not reached; only with
        ``entry_times``) and ``last_activity_at``.  Collect it with
        ``engine="streaming"`` on large inputs.

    Raises
    ------
    MissingColumnError, DefinitionError
        A property filter of the definition reads a column the events lack,
        or one of a type it cannot compare.
    DataError
        A filter compares a text column with numbers and some of its values
        are not numbers (checked when ``classify`` is called, not when the
        result is collected).
    ParameterError
        When ``funnel`` is not a definition, or ``as_of`` or ``partitions``
        cannot be read.

    Warns
    -----
    UnknownEventWarning
        An event name of the definition that a log read by
        :func:`~funnelkit.events.read_events` never holds, when it is close to
        a name the log holds (a likely typo: a definition's rules list
        alternatives a log need not all hold, so other absent names are not
        warned about).

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c1", "c2"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 5), datetime(2024, 1, 2)],
    ...     "event": ["page_view", "meeting", "page_view"],
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> out = classify(events, load_funnel("sales")).sort("contact_id").collect()
    >>> out.select("contact_id", "stage", "stage_rank").rows()
    [('c1', 'qualified_prospect', 4), ('c2', 'raw_contact', 1)]

    See the concept page: docs/concepts/stages.md
    """
    funnel = require_funnel(funnel)
    warn_unknown_events(events, funnel)
    warn_outside_events(events, as_of=as_of)
    cut = instant(as_of, "as_of")
    asked = _check_partitions(partitions)
    ev = definition_events(events, funnel)
    people = core_contacts(contacts, ev.engine)
    fast = accelerator("classify", ev.engine) if asked == "auto" else None
    if fast is not None:
        found: pl.LazyFrame | None = fast(
            events, funnel, cut=cut, contacts=people, entry_times=entry_times
        )
        if found is not None:
            return found
    return _classify(
        ev,
        funnel,
        cut=cut,
        ref=None,
        contacts=people,
        entry_times=entry_times,
        partitions=_auto_partitions(ev, entry_times=entry_times) if asked == "auto" else asked,
    )


def _classify(
    ev: EngineFrame,
    funnel: Funnel,
    *,
    cut: datetime | None,
    ref: datetime | None,
    contacts: EngineFrame | None,
    entry_times: bool,
    partitions: int = 1,
) -> pl.LazyFrame:
    """:func:`classify` of the core's frames; ``ref`` overrides the inactivity clock.

    ``ev`` as :func:`funnelkit.engine_frames.definition_events` gives it
    (numbers read, columns checked).  The plan is the core's
    (:func:`funnelkit.core.classify.classify_frame`, without the stage text),
    on the frames' engine; :func:`funnelkit.classify_files.polars_result`
    turns it into polars.
    """
    out = core.classify_frame(
        ev.lf,
        funnel,
        cut=to_us(cut),
        contacts=None if contacts is None else contacts.lf,
        entry_times=entry_times,
        clock=to_us(ref),
        stage_text=False,
        partitions=partitions,
    )
    return polars_result(as_polars(out), funnel, entry_times=entry_times)


# --- counts ------------------------------------------------------------------------------
def _title(kind: str, funnel: str, detail: str = "") -> str:
    text = f"{kind} under funnel definition {funnel!r}"
    return f"{text} ({detail})" if detail else text


def _html(title: str, frame: pl.DataFrame) -> str:
    return f"<div><p><strong>{html.escape(title)}</strong></p>{frame._repr_html_()}</div>"


@dataclass(frozen=True)
class Snapshot:
    """Contacts per stage of one classification, with conversion rates.

    ``table`` has one row per stage: ``funnel``, ``rank``, ``stage``,
    ``label``; ``at_or_past`` (contacts at this stage or a later one: the
    snapshot view, non-increasing down the funnel), ``drop_off`` (contacts at
    or past the previous stage but not this one), ``step_conversion``
    (``at_or_past`` over the previous stage's), ``overall_conversion``
    (over the first stage's); ``current`` (contacts whose current stage it
    is), ``current_ratio_to_previous`` and ``current_ratio_to_first``
    (``current`` over the previous stage's and over the first stage's).
    The last two compare the sizes of two groups of different contacts, not
    a conversion: they can exceed 1 (more contacts now at warm lead than at
    cold lead) and say nothing of how many moved on.  Ratios are null for the
    first stage's step and when the denominator is zero.
    """

    funnel: str
    table: pl.DataFrame

    def to_polars(self) -> pl.DataFrame:
        """Return the table."""
        return self.table

    def __repr__(self) -> str:
        """Return the contacts at or past each stage on one line, not the table's dump."""
        past = dict(zip(self.table["stage"], self.table["at_or_past"], strict=True))
        contacts = int(self.table["current"].sum())
        return f"Snapshot(funnel={self.funnel!r}, contacts={contacts}, at_or_past={past})"

    def _repr_html_(self) -> str:
        return _html(_title("Contacts per stage", self.funnel), self.table)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def snapshot(classified: FrameLike, funnel: Funnel, *, lang: str = "en") -> Snapshot:
    """Count a classification per stage: at or past each stage, and at it now.

    "At or past" is the funnel's reading (every client was once a lead);
    "at" is the pipeline's (where each contact stands today).

    Parameters
    ----------
    classified
        The output of :func:`classify` under ``funnel`` (lazy or collected).
    funnel
        The definition it was classified under.
    lang
        Language of the ``label`` column.

    Returns
    -------
    Snapshot
        ``.table``: per stage, ``at_or_past`` with its step and overall
        conversion and drop-off, and ``current`` with its ratios to the
        previous and first stages (counts compared, not conversions; see
        :class:`Snapshot`).

    Raises
    ------
    MissingColumnError
        When ``classified`` lacks ``stage`` or ``stage_rank``.
    ParameterError
        When ``funnel`` is not a definition (a preset name given for
        ``load_funnel(name)``), or the classification's stages are not those
        of ``funnel``.

    Examples
    --------
    >>> import polars as pl
    >>> from funnelkit.definitions import load_funnel
    >>> done = pl.DataFrame({"contact_id": ["a", "b"], "stage": ["lead", "client"],
    ...                      "stage_rank": [2, 5]})
    >>> snapshot(done, load_funnel("sales")).table["at_or_past"].to_list()
    [2, 2, 1, 1, 1]

    See the concept page: docs/concepts/snapshot-and-flow.md
    """
    funnel = require_funnel(funnel)
    lf = classified.lazy()
    names = lf.collect_schema().names()
    for col in ("stage", "stage_rank"):
        if col not in names:
            msg = f"the classification has no column {col!r}; pass the output of classify()"
            raise MissingColumnError(msg)
    seen = _collect(lf.group_by("stage_rank", "stage").agg(pl.len().alias("n")))
    ids = funnel.stage_ids
    counts = [0] * len(ids)
    for rank, stage, n in seen.iter_rows():
        if rank is None or not 1 <= rank <= len(ids) or ids[rank - 1] != stage:
            msg = (
                f"the classification has stage {stage!r} at rank {rank}, which funnel "
                f"{funnel.name!r} does not have; was it classified under another definition?"
            )
            raise ParameterError(msg)
        counts[rank - 1] += n
    return snapshot_from_counts(funnel, counts, lang)


def snapshot_from_counts(funnel: Funnel, counts: Sequence[int], lang: str) -> Snapshot:
    """Return the :class:`Snapshot` of ``counts[k]`` contacts currently at rank ``k + 1``."""
    ids = funnel.stage_ids
    past = [sum(counts[k:]) for k in range(len(ids))]
    table = pl.DataFrame(
        {
            "funnel": [funnel.name] * len(ids),
            "rank": list(range(1, len(ids) + 1)),
            "stage": list(ids),
            "label": [s.label(lang) for s in funnel.stages],
            "at_or_past": past,
            "current": list(counts),
        },
        schema_overrides={"rank": pl.Int32, "at_or_past": pl.Int64, "current": pl.Int64},
    )
    first, prev = pl.col("at_or_past").first(), pl.col("at_or_past").shift(1)
    cfirst, cprev = pl.col("current").first(), pl.col("current").shift(1)
    table = table.with_columns(
        drop_off=prev - pl.col("at_or_past"),
        step_conversion=_ratio(pl.col("at_or_past"), prev),
        overall_conversion=_ratio(pl.col("at_or_past"), first),
        current_ratio_to_previous=_ratio(pl.col("current"), cprev),
        current_ratio_to_first=_ratio(pl.col("current"), cfirst),
    ).select(
        "funnel",
        "rank",
        "stage",
        "label",
        "at_or_past",
        "drop_off",
        "step_conversion",
        "overall_conversion",
        "current",
        "current_ratio_to_previous",
        "current_ratio_to_first",
    )
    return Snapshot(funnel.name, table)


# --- flows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flows:
    """Contacts by (stage at ``start``, stage at ``end``) for one definition.

    ``table``: ``funnel``, ``from_rank`` (0 for contacts new in the
    period), ``from_stage`` (null for new contacts), ``to_rank``,
    ``to_stage``, ``contacts``; one row per pair that occurs, sorted.
    The stage columns are the definition's ``stage_dtype`` (a ``polars.Enum``).
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    funnel: str
    start: datetime
    end: datetime
    table: pl.DataFrame

    def to_polars(self) -> pl.DataFrame:
        """Return the table."""
        return self.table

    @property
    def moved(self) -> pl.DataFrame:
        """The rows of contacts whose stage changed (new contacts included)."""
        return self.table.filter(pl.col("from_rank") != pl.col("to_rank"))

    def _repr_html_(self) -> str:
        detail = f"{fmt_time(self.start)} → {fmt_time(self.end)}"
        return _html(_title("Stage flows", self.funnel, detail), self.table)


def flows(
    events: EventsLike,
    funnel: Funnel,
    *,
    start: Instant,
    end: Instant,
    contacts: ContactsLike | None = None,
) -> Flows:
    """Count contacts by their stage at ``start`` and at ``end``.

    Contacts first known after ``start`` (and by ``end``) are *new*:
    ``from_rank`` 0 and a null ``from_stage``.  Under a definition with an
    inactivity rule, a contact can flow backwards.  This is the data behind a
    Sankey diagram and behind "what moved this week".

    Parameters
    ----------
    events
        The events, as in :func:`classify`.
    funnel
        The definition.
    start, end
        The two instants (a date means the end of that day).
    contacts
        Optional contacts table, as in :func:`classify`.

    Returns
    -------
    Flows
        ``.table``: ``from_stage``, ``to_stage``, their ranks and ``contacts``.

    Raises
    ------
    MissingColumnError, DefinitionError, DataError
        As :func:`classify` raises them.
    ParameterError
        When ``funnel`` is not a definition (a preset name given for
        ``load_funnel(name)``), ``start`` or ``end`` cannot be read, or
        ``end`` is before ``start``.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c1", "c2"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 9), datetime(2024, 1, 8)],
    ...     "event": ["form_fill", "meeting", "form_fill"],
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> out = flows(events, load_funnel("sales"), start="2024-01-07", end="2024-01-14")
    >>> out.table.select("from_stage", "to_stage", "contacts").rows()
    [(None, 'lead', 1), ('lead', 'qualified_prospect', 1)]

    See the concept page: docs/concepts/snapshot-and-flow.md
    """
    funnel = require_funnel(funnel)
    lo, hi = instant(start, "start"), instant(end, "end")
    assert lo is not None and hi is not None
    if lo >= hi:
        msg = f"start ({fmt_time(lo)}) must be before end ({fmt_time(hi)})"
        raise ParameterError(msg)
    ev = definition_events(events, funnel)
    people = core_contacts(contacts, ev.engine)
    lo_us, hi_us = to_us(lo), to_us(hi)
    assert lo_us is not None and hi_us is not None
    pairs = (
        core.flow_ranks(ev.lf, funnel, lo_us, hi_us, None if people is None else people.lf)
        .group_by("from_rank", "to_rank")
        .agg(nw.len().cast(nw.Int64()).alias("contacts"))
    )
    ranks = pl.col("from_rank", "to_rank").cast(pl.Int32)
    table = flows_table(_collect(as_polars(pairs).with_columns(ranks)), funnel)
    return Flows(funnel.name, lo, hi, table)


def flows_table(pairs: pl.DataFrame, funnel: Funnel) -> pl.DataFrame:
    """Name the ranks of ``from_rank, to_rank, contacts`` (0 / null: new contact)."""
    ids, stage = pl.Series(funnel.stage_ids), funnel.stage_dtype
    return (
        pairs.with_columns(pl.col("from_rank").fill_null(0))
        .with_columns(
            pl.lit(funnel.name).alias("funnel"),
            pl.when(pl.col("from_rank") > 0)
            .then(
                pl.col("from_rank").replace_strict(
                    list(range(1, len(ids) + 1)), ids, default=None, return_dtype=stage
                )
            )
            .alias("from_stage"),
            pl.col("to_rank")
            .replace_strict(list(range(1, len(ids) + 1)), ids, return_dtype=stage)
            .alias("to_stage"),
        )
        .select("funnel", "from_rank", "from_stage", "to_rank", "to_stage", "contacts")
        .sort("from_rank", "to_rank")
    )


# --- comparing definitions -------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """The same contacts classified under two definitions.

    ``table`` (long form): ``left_rank``, ``left_stage``, ``right_rank``,
    ``right_stage``, ``contacts`` for every pair of stages (zeros included).
    :meth:`to_polars` returns the cross-table: one row per ``left`` stage,
    one column per ``right`` stage.
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    left: str
    right: str
    table: pl.DataFrame
    as_of: datetime | None = None

    def to_polars(self) -> pl.DataFrame:
        """Return the cross-table; its first column is named after both definitions."""
        corner = f"{self.left} \\ {self.right}"
        wide = self.table.pivot(
            on="right_stage", index="left_stage", values="contacts", sort_columns=False
        )
        return wide.rename({"left_stage": corner})

    def _repr_html_(self) -> str:
        detail = f"rows: {self.left}, columns: {self.right}"
        if self.as_of is not None:
            detail += f", as of {fmt_time(self.as_of)}"
        title = f"Contacts under funnel definitions {self.left!r} and {self.right!r} ({detail})"
        return _html(title, self.to_polars())


def compare(
    events: EventsLike,
    left: Funnel,
    right: Funnel,
    *,
    as_of: Instant | None = None,
    contacts: ContactsLike | None = None,
) -> Comparison:
    r"""Cross the stages of two definitions on the same contacts.

    Each contact is classified under both definitions as of the same
    instant; the table counts the contacts per pair of stages, so two schools
    of thought can be compared on the same data.

    Parameters
    ----------
    events
        The events, as in :func:`classify`.
    left, right
        The two definitions (rows and columns of the table).
    as_of
        As in :func:`classify`.
    contacts
        Optional contacts table, as in :func:`classify`.

    Returns
    -------
    Comparison
        ``to_polars()`` gives the crossed table; a notebook displays it.

    Raises
    ------
    MissingColumnError, DefinitionError, DataError
        As :func:`classify` raises them, for either definition.
    ParameterError
        When ``as_of`` cannot be read.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c2"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
    ...     "event": ["ebook_download", "meeting"],
    ...     "amount": [None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> out = compare(events, load_funnel("inbound"), load_funnel("sales"))
    >>> out.to_polars().filter(pl.col("inbound \\ sales") == "warm_lead").row(0)
    ('warm_lead', 0, 1, 0, 1, 0)

    See the concept page: docs/concepts/stages.md
    """
    left = require_funnel(left, "left")
    right = require_funnel(right, "right")
    lf = as_lazy(events)
    cut = instant(as_of, "as_of")
    people = core_contacts(contacts, "polars")
    a = _classify(
        definition_events(lf, left), left, cut=cut, ref=None, contacts=people, entry_times=False
    )
    b = _classify(
        definition_events(lf, right), right, cut=cut, ref=None, contacts=people, entry_times=False
    )
    pairs = _collect(
        a.select(CID, pl.col("stage_rank").alias("left_rank"))
        .join(b.select(CID, pl.col("stage_rank").alias("right_rank")), on=CID, how="inner")
        .group_by("left_rank", "right_rank")
        .agg(pl.len().cast(pl.Int64).alias("contacts"))
    )
    grid = pl.DataFrame(
        {
            "left_rank": [i for i in range(1, len(left.stages) + 1) for _ in right.stages],
            "left_stage": [s for s in left.stage_ids for _ in right.stages],
            "right_rank": [j for _ in left.stages for j in range(1, len(right.stages) + 1)],
            "right_stage": [s for _ in left.stages for s in right.stage_ids],
        },
        schema_overrides={"left_rank": pl.Int32, "right_rank": pl.Int32},
    )
    table = (
        grid.join(pairs, on=["left_rank", "right_rank"], how="left")
        .with_columns(pl.col("contacts").fill_null(0))
        .sort("left_rank", "right_rank")
    )
    return Comparison(left.name, right.name, table, cut)


# --- explain one contact -------------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    """Why one contact is where it is under one definition.

    ``timeline``: the contact's events up to ``as_of`` in time order, with
    ``evidence_for`` (the stages each event is evidence for) and, per
    points stage, ``score_<stage id>`` (the score after that instant).
    ``stages``: one row per stage with ``reached_at`` and ``how`` (the event
    that put the contact there, or why it is not there yet).  ``text``: the
    same in words (also what ``str()`` returns).
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    funnel: str
    contact_id: str
    as_of: datetime | None
    stage: str
    stage_rank: int
    timeline: pl.DataFrame
    stages: pl.DataFrame
    text: str

    def __str__(self) -> str:
        return self.text

    def to_polars(self) -> pl.DataFrame:
        """Return the per-stage table."""
        return self.stages

    def _repr_html_(self) -> str:
        return (
            f"<div><pre>{html.escape(self.text)}</pre>"
            f"{self.stages._repr_html_()}{self.timeline._repr_html_()}</div>"
        )


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def explain(
    events: EventsLike,
    funnel: Funnel,
    contact_id: str,
    *,
    as_of: Instant | None = None,
    contacts: ContactsLike | None = None,
    lang: str = "en",
) -> Explanation:
    """Explain the stage of one contact: its timeline and, per stage, what put it there.

    The stage and times are those of :func:`classify` with the same
    arguments; the text names the event (and its time) that met each stage's
    condition, and any lapse.

    Parameters
    ----------
    events
        The events, as in :func:`classify`.
    funnel
        The definition.
    contact_id
        The contact's id, as text.
    as_of, contacts
        As in :func:`classify`.
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    Explanation
        ``.text`` and ``.timeline``; a notebook displays both.

    Raises
    ------
    ParameterError
        When ``contact_id`` is not text, or the contact has no events (up to
        ``as_of``) and is not in ``contacts``.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c1"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 5)],
    ...     "event": ["list_import", "form_fill"],
    ...     "amount": [None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> print(explain(events, load_funnel("sales"), "c1").text.splitlines()[0])
    Contact 'c1' under funnel definition 'sales' (all events): lead (Lead), rank 2 of 5.

    See the concept page: docs/concepts/stages.md
    """
    funnel = require_funnel(funnel)
    if not isinstance(contact_id, str):
        msg = (
            f"contact_id={contact_id!r}: give the id as text, as the events hold it "
            f"(contact ids are read as text: {str(contact_id)!r})"
        )
        raise ParameterError(msg)
    lf = as_lazy(events)
    cut = instant(as_of, "as_of")
    ref = cut
    if cut is None and core.Plan.of(funnel).lapses:
        ref = _collect(lf.select(pl.col(T).max())).item()
    mine = lf.filter(pl.col(CID) == contact_id)
    frame = _collect(mine).sort(T, EVENT)
    later = 0
    if cut is not None:
        later = frame.filter(pl.col(T) > cut).height
        frame = frame.filter(pl.col(T) <= cut)
    people = core_contacts(contacts, "polars")
    created: datetime | None = None
    in_contacts = False
    if people is not None:
        known = core.known_contacts(people.lf, to_us(cut))
        row = _collect(nw.to_native(known).filter(pl.col(CID) == contact_id))
        if row.height:
            in_contacts = True
            created = from_us(row["_created"][0])
    if frame.height == 0 and not in_contacts:
        where = "" if cut is None else f" up to {fmt_time(cut)}"
        msg = f"contact {contact_id!r} has no events{where} and is not in the contacts table"
        raise ParameterError(msg)
    own = pl.DataFrame(
        {CID: [contact_id], CREATED: [created]}, schema={CID: pl.String, CREATED: UTC}
    )
    result = _collect(
        _classify(
            definition_events(frame.lazy(), funnel),
            funnel,
            cut=cut,
            ref=ref,
            contacts=core_contacts(own, "polars") if in_contacts else None,
            entry_times=True,
        )
    ).row(0, named=True)

    # The timeline: evidence per event and running scores.
    evidence = [pl.when(stage.evidence()).then(pl.lit(stage.id)) for stage in funnel.stages[1:]]
    timeline = frame.with_columns(pl.concat_list(evidence).list.drop_nulls().alias("evidence_for"))
    for stage in funnel.stages:
        for cond in stage.conditions:
            if isinstance(cond, PointsRule):
                scored = (
                    _scored(frame, cond)
                    .group_by(T)
                    .agg(pl.col("_score").max())
                    .rename({"_score": f"score_{stage.id}"})
                )
                scoring = frame.lazy().select(T, cond.evidence().alias("_hit"))
                timeline = timeline.with_columns(
                    _collect(scoring.join(scored.lazy(), on=T, how="left", maintain_order="left"))
                    .select(pl.when("_hit").then(pl.col(f"score_{stage.id}")))
                    .to_series()
                    .alias(f"score_{stage.id}")
                )
                break
    timeline = timeline.drop(CID)

    # Per stage: the time reached and how.
    own_times: list[datetime | None] = []
    hows: list[str] = []
    for rank, stage in enumerate(funnel.stages, start=1):
        at: datetime | None = result[f"{stage.id}_at"]
        if rank == 1:
            own_times.append(at)
            continue
        times = []
        for cond in stage.conditions:
            held = core.condition_times(core_events(frame.lazy()).lf, cond, "_at")
            got = _collect(nw.to_native(held))
            times.append(from_us(got["_at"][0]) if got.height else None)
        own_times.append(min((t for t in times if t is not None), default=None))
    for rank, stage in enumerate(funnel.stages, start=1):
        at = result[f"{stage.id}_at"]
        hows.append(_how(frame, funnel, rank, at, own_times))

    stages = pl.DataFrame(
        {
            "rank": list(range(1, len(funnel.stages) + 1)),
            "stage": list(funnel.stage_ids),
            "label": [s.label(lang) for s in funnel.stages],
            "reached_at": [result[f"{s}_at"] for s in funnel.stage_ids],
            "how": hows,
        },
        schema_overrides={"rank": pl.Int32, "reached_at": UTC},
    )
    stage_id, stage_rank = result["stage"], result["stage_rank"]
    current = funnel.stages[stage_rank - 1]
    moment = "all events" if cut is None else f"as of {fmt_time(cut)}"
    lines = [
        f"Contact {contact_id!r} under funnel definition {funnel.name!r} ({moment}): "
        f"{stage_id} ({current.label(lang)}), rank {stage_rank} of {len(funnel.stages)}.",
    ]
    counted = f"{frame.height} event{'s' if frame.height != 1 else ''}"
    if later:
        counted += f" ({later} later event{'s' if later != 1 else ''} ignored)"
    last = result["last_activity_at"]
    counted += f"; last activity {fmt_time(last)}." if last else "; no activity."
    lines.append(counted)
    width = max(len(s) for s in funnel.stage_ids)
    for rank, stage in enumerate(funnel.stages, start=1):
        lines.append(f"  {rank}. {stage.id:<{width}}  {hows[rank - 1]}")
    forward = max(
        (r for r, s in enumerate(funnel.stage_ids, start=1) if result[f"{s}_at"] is not None),
        default=1,
    )
    if forward != stage_rank:
        top = funnel.stages[forward - 1]
        assert last is not None and ref is not None
        lines.append(
            f"It reached {top.id} but has had no activity since {fmt_time(last)} "
            f"({_days(ref - last)} before {'as of' if cut is not None else 'the latest event'}), "
            f"so it lapsed to {stage_id} (inactivity rules: "
            + ", ".join(
                f"{s.id} → {s.lapse.to} after {duration_text(s.lapse.after)}"
                for s in funnel.stages
                if s.lapse is not None
            )
            + ")."
        )
    return Explanation(
        funnel.name,
        contact_id,
        cut,
        stage_id,
        stage_rank,
        timeline,
        stages.with_columns(pl.Series("how", [in_french(h) for h in hows]))
        if lang == "fr"
        else stages,
        in_french("\n".join(lines)) if lang == "fr" else "\n".join(lines),
    )


_DATE = r"(\d{4})-(\d{2})-(\d{2}) (\d{2}:\d{2}:\d{2}) UTC"
#: An explanation in French: its English phrases, in order, and their French.
_FRENCH = (
    (_DATE, r"\3/\2/\1 \4 UTC"),
    (
        r"under funnel definition (.+?) \(all events\): ",
        r"selon la définition \1 (tous les événements) : ",
    ),
    (r"under funnel definition (.+?) \(as of ", r"selon la définition \1 (au "),
    (r", rank (\d+) of (\d+)\.$", r", rang \1 sur \2."),
    (r"^1 event\b", r"1 événement"),
    (r"^(\d+) events\b", r"\1 événements"),
    (r"\(1 later event ignored\)", r"(1 événement ultérieur ignoré)"),
    (r"\((\d+) later events ignored\)", r"(\1 événements ultérieurs ignorés)"),
    (r"; last activity ", r" ; dernière activité le "),
    (r"; no activity\.", r" ; aucune activité."),
    (
        r"known from the contacts table \(no creation time, no events\)",
        r"connu par la table des contacts (sans date de création ni événement)",
    ),
    (r"not reached: ", r"non atteint : "),
    (r"reached (\S+ \S+ UTC)", r"atteint le \1"),
    (r": first event \(", r" : premier événement ("),
    (r": created then \(contacts table\)", r" : créé à cet instant (table des contacts)"),
    (r": skipped, counts as reached when (\S+) was", r" : sauté, compté comme atteint avec \1"),
    (
        r": (.+) brought the score to ([\d.]+) \(threshold ([\d.]+)\)",
        r" : \1 a porté le score à \2 (seuil \3)",
    ),
    (r"(UTC): ", r"\1 : "),
    (r", the (\d+)(?:st|nd|rd|th) of ", r", le \1e de "),
    (r"no scoring event \(", r"aucun événement qui rapporte des points ("),
    (r"score peaked at ([\d.]+) of ([\d.]+)", r"score au plus haut à \1 sur \2"),
    (r"\bno (\S)", r"aucun \1"),
    (r"(\d+) of (\d+) × ", r"\1 sur \2 × "),
    (r"; half-life ", r" ; demi-vie "),
    (r"any event \(entry stage\)", r"tout événement (stade d'entrée)"),
    (r"back to (\S+) after (\S+) inactive", r"retour à \1 après \2 d'inactivité"),
    (
        r"It reached (\S+) but has had no activity since ",
        r"Il a atteint \1 mais n'a plus eu d'activité depuis le ",
    ),
    (r"\((\d+) days before as of\)", r"(\1 jours avant la date d'arrêt)"),
    (r"\((\d+) hours before as of\)", r"(\1 heures avant la date d'arrêt)"),
    (r"\((\d+) days before the latest event\)", r"(\1 jours avant le dernier événement)"),
    (r"\((\d+) hours before the latest event\)", r"(\1 heures avant le dernier événement)"),
    (
        r", so it lapsed to (\S+) \(inactivity rules: ",
        r", il est donc retombé à \1 (règles d'inactivité : ",
    ),
    (r" after (\d+\w*)", r" après \1"),
    (r" where ", r" où "),
    (r" or ", r" ou "),
    (r" and ", r" et "),
    (r"; ", r" ; "),
    (r"  ; ", r" ; "),
    (r"(\d)\.(\d)", r"\1,\2"),
)


def in_french(text: str) -> str:
    """Return an explanation's or a rule's English text in French.

    Event names, stage ids and column names stay as they are; dates read
    ``17/11/2026 17:11:17 UTC`` and decimals take a comma.

    Parameters
    ----------
    text
        A text :func:`explain` or a stage's ``describe()`` wrote.

    Returns
    -------
    str

    Examples
    --------
    >>> in_french("purchase where amount > 0; or subscription")
    'purchase où amount > 0 ; ou subscription'

    See the concept page: docs/concepts/stages.fr.md
    """
    for pattern, french in _FRENCH:
        text = re.sub(pattern, french, text, flags=re.MULTILINE)
    return text


def _scored(frame: pl.DataFrame, cond: PointsRule) -> pl.DataFrame:
    """Return the core's scoring events of ``cond`` in ``frame``: ``occurred_at``, ``_score``."""
    out: pl.LazyFrame = nw.to_native(core.scored_events(core_events(frame.lazy()).lf, cond))
    return _collect(out.select(_time(pl.col(TS)).alias(T), "_score"))


def _days(delta: timedelta) -> str:
    days = delta / timedelta(days=1)
    return f"{days:.0f} days" if days >= 2 else f"{delta.total_seconds() / 3600:.0f} hours"


def _how(
    frame: pl.DataFrame,
    funnel: Funnel,
    rank: int,
    at: datetime | None,
    own_times: Sequence[datetime | None],
) -> str:
    """One stage's line of an explanation."""
    stage = funnel.stages[rank - 1]
    if rank == 1:
        if at is None:
            return "known from the contacts table (no creation time, no events)"
        first = frame.filter(pl.col(T) == at)[EVENT]
        if first.len():
            return f"reached {fmt_time(at)}: first event ({first[0]})"
        return f"reached {fmt_time(at)}: created then (contacts table)"
    if at is None:
        reasons = [_why_not(frame, cond) for cond in stage.conditions]
        return "not reached: " + "; ".join(reasons)
    if own_times[rank - 1] != at:
        later = next(
            funnel.stages[j]
            for j in range(rank, len(funnel.stages))
            if own_times[j] is not None and own_times[j] == at
        )
        return f"reached {fmt_time(at)}: skipped, counts as reached when {later.id} was"
    for cond in stage.conditions:
        hits = frame.filter(cond.evidence())
        if isinstance(cond, PointsRule):
            scored = _scored(frame, cond)
            at_t = scored.filter(pl.col(T) == at)["_score"]
            peak = at_t.max() if at_t.len() else None
            if isinstance(peak, float) and peak >= cond.threshold * (1.0 - core.SCORE_TOLERANCE):
                names = sorted(set(hits.filter(pl.col(T) == at)[EVENT]))
                return (
                    f"reached {fmt_time(at)}: {', '.join(names)} brought the score to "
                    f"{peak:.3g} (threshold {cond.threshold:g})"
                )
        else:
            n = cond.min_count
            if hits.height >= n and hits[T][n - 1] == at:
                event = hits[EVENT][n - 1]
                nth = f", the {_nth(n)} of {', '.join(cond.events)}" if n > 1 else ""
                where = " (" + " and ".join(str(f) for f in cond.where) + ")" if cond.where else ""
                return f"reached {fmt_time(at)}: {event}{where}{nth}"
    return f"reached {fmt_time(at)}"  # pragma: no cover - every reach has a cause above


def _why_not(frame: pl.DataFrame, cond: Condition) -> str:
    hits = frame.filter(cond.evidence())
    if isinstance(cond, PointsRule):
        if hits.height == 0:
            return f"no scoring event ({', '.join(cond.points)})"
        scored = _scored(frame, cond)
        peak = scored["_score"].max()
        assert isinstance(peak, float)
        return f"score peaked at {peak:.3g} of {cond.threshold:g} ({cond.describe()})"
    if hits.height == 0:
        return f"no {cond.describe()}"
    return f"{hits.height} of {cond.min_count} × {_describe_events(cond)}"


def _describe_events(cond: EventRule) -> str:
    text = ", ".join(cond.events)
    if cond.where:
        text += " where " + " and ".join(str(f) for f in cond.where)
    return text
