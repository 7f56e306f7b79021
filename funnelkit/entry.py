"""The funnel by entry: the classification a funnel reads, and its chains read from it alone.

A stage step read by entry is the instant the contact entered the stage
(:func:`funnelkit.stages.classify` with entry times).  :func:`entry_classification`
computes that classification once so that several funnels reuse it,
:func:`with_entry_values` carries the events columns a breakdown reads at the
first stage's entry, and :func:`entry_chains`, the first polars accelerator of
:func:`funnelkit.core.chains.chains_of`, reads a funnel's chains straight from
the classification's rows.  :mod:`funnelkit.conversion` re-exports these names.

See the concept page: docs/concepts/entry.md
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import polars as pl

from funnelkit import chains as polars_chains
from funnelkit.chains import Events, restrict_span
from funnelkit.definitions import Funnel
from funnelkit.engine_frames import span_us
from funnelkit.errors import MissingColumnError, did_you_mean
from funnelkit.events import (
    CONTACT_ID,
    OCCURRED_AT,
    ContactTable,
    as_lazy,
    optional_contacts,
)
from funnelkit.stages import classify
from funnelkit.steps import Spec
from funnelkit.timeutil import TimeLike, time_bounds

__all__ = [
    "ENTRY_ORDERS",
    "EntryChains",
    "entry_chains",
    "entry_classification",
    "entry_value_column",
    "with_entry_values",
]


def entry_classification(
    events: Events,
    definition: Funnel,
    *,
    until: TimeLike | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Return the classification a funnel reads its stage entries from, to reuse it.

    Read by entry, a stage step is the instant the contact entered the stage,
    as :func:`funnelkit.stages.classify` of its history before ``until`` (and
    of the ``contacts`` created before it) says.  That classification depends
    on the events, the definition, ``until`` and the contacts only: not on the
    window, the order, ``since`` or a breakdown.  Computed once here, it can be
    given as ``classified=`` to :func:`~funnelkit.conversion.funnel` and
    :func:`~funnelkit.trends.week_over_week` for every such setting, with the
    same numbers as when each classifies on its own.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog` or a canonical polars frame.
    definition
        The funnel definition whose stages are read by entry.
    until
        The ``until`` of the funnels that will read it (events before it are
        classified); ``None``: every event.
    contacts
        The contacts table the funnels will be given, if any.

    Returns
    -------
    polars.DataFrame
        One row per contact, as :func:`funnelkit.stages.classify` with entry times.

    Raises
    ------
    MissingColumnError, DefinitionError, DataError
        As :func:`funnelkit.stages.classify`: a filter of the definition
        cannot be read on these events.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.definitions import load_funnel
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "b"],
    ...     "occurred_at": [day, day + dt.timedelta(days=2), day],
    ...     "event": ["page_view", "newsletter_signup", "page_view"],
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> from funnelkit.conversion import funnel
    >>> inbound = load_funnel("inbound")
    >>> known = entry_classification(log, inbound)
    >>> funnel(log, inbound, window="7d", classified=known).table["count"].to_list()
    [2, 1, 1, 0, 0]
    >>> funnel(log, inbound, window="7d").table["count"].to_list()  # the same, classifying
    [2, 1, 1, 0, 0]

    See the concept page: docs/concepts/entry.md
    """
    _, hi = time_bounds(None, until)
    history = definition.read_numbers(restrict_span(as_lazy(events), None, hi))
    people = polars_chains.entry_contacts(optional_contacts(contacts), None, hi)
    return classify(history, definition, contacts=people, entry_times=True).collect()


# --- the funnel by entry, straight from the classification ----------------------------
#: The orders :func:`entry_chains` computes; the others are left to the kernel or the core.
ENTRY_ORDERS = ("ordered", "strict_increase")


def entry_value_column(stage: str, column: str) -> str:
    """Return the name of the classification's column holding ``column`` at ``stage``'s entry.

    :func:`with_entry_values` writes it; :func:`~funnelkit.conversion.funnel` reads it for
    ``by=column`` when its first step is ``stage`` read by entry.

    Parameters
    ----------
    stage
        A stage id of the definition classified.
    column
        An events column.

    Returns
    -------
    str
        ``"<stage>_at[<column>]"``.

    Examples
    --------
    >>> entry_value_column("cold_lead", "channel")
    'cold_lead_at[channel]'

    See the concept page: docs/concepts/entry.md
    """
    return f"{stage}_at[{column}]"


def with_entry_values(
    classified: pl.DataFrame,
    events: Events,
    definition: Funnel,
    columns: Sequence[str],
    *,
    stage: str | None = None,
    until: TimeLike | None = None,
) -> pl.DataFrame:
    """Return ``classified`` carrying each events column's value at the entry of one stage.

    A funnel broken down by an events column reads, for each contact, the
    smallest value (as text) of that column among its events at the instant
    it entered the first stage (none there: no value).  That value depends on
    the classification only, so it can be read once and carried by it, in
    the column :func:`entry_value_column` names: :func:`~funnelkit.conversion.funnel` with
    ``classified=`` and ``by=`` then reads it instead of the events, with the
    same numbers.  The cost is one join of the events before ``until`` with
    one row per contact.

    Parameters
    ----------
    classified
        :func:`entry_classification` of ``events``, ``definition`` and ``until``.
    events
        The same events (an :class:`~funnelkit.events.EventLog` or a
        canonical polars frame).
    definition
        The definition classified.
    columns
        Events columns to carry.
    stage
        The stage whose entry is read; by default the definition's first.
    until
        The ``until`` of the classification.

    Returns
    -------
    polars.DataFrame
        ``classified`` with one more text column per column.

    Raises
    ------
    MissingColumnError
        A column is not one of the events'.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.definitions import load_funnel
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "b"],
    ...     "occurred_at": [day, day + dt.timedelta(days=2), day],
    ...     "event": ["page_view", "newsletter_signup", "page_view"],
    ...     "channel": ["ads", "social", "social"],
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> from funnelkit.conversion import funnel
    >>> inbound = load_funnel("inbound")
    >>> known = with_entry_values(entry_classification(log, inbound), log, inbound, ["channel"])
    >>> known.sort("contact_id")["prospect_at[channel]"].to_list()
    ['ads', 'social']
    >>> result = funnel(log, inbound, window="7d", by="channel", classified=known, min_size=0)
    >>> entrants = result.breakdown.filter(pl.col("step") == 1).sort("segment")
    >>> entrants.select("segment", "count").rows()
    [('ads', 1), ('social', 1)]

    See the concept page: docs/concepts/entry.md
    """
    stage_id = definition.stage_ids[0] if stage is None else definition.stage(stage).id
    _, hi = time_bounds(None, until)
    history = definition.read_numbers(restrict_span(as_lazy(events), None, hi))
    names = history.collect_schema().names()
    for column in columns:
        if column not in names:
            hint = did_you_mean(column, names)
            msg = f"columns: no column {column!r} in the events.{hint}"
            raise MissingColumnError(msg)
    schema = history.collect_schema()
    # the rows of the classification by number: no join back on the contact (2x the cost)
    entered = classified.lazy().select(
        pl.col(CONTACT_ID).cast(schema[CONTACT_ID]),
        pl.col(f"{stage_id}_at").cast(schema[OCCURRED_AT]).alias(OCCURRED_AT),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
    )
    found = (
        entered.join(
            history.select(CONTACT_ID, OCCURRED_AT, *columns), on=[CONTACT_ID, OCCURRED_AT]
        )
        .group_by("_row")
        .agg(pl.col(c).cast(pl.String).min() for c in columns)
        .collect()
    )
    rows = found["_row"]
    values = pl.DataFrame(
        [
            pl.repeat(None, classified.height, dtype=pl.String, eager=True)
            .alias(entry_value_column(stage_id, c))
            .scatter(rows, found[c])
            for c in columns
        ]
    )
    return classified.hstack(values)


def entry_chains_apply(spec: Spec) -> bool:
    """Whether :func:`entry_chains` computes ``spec``: its conditions, checked.

    Every step is a stage read by entry, no stage twice, no exclusion, and
    the order is ``"ordered"`` or ``"strict_increase"`` (any ``rules``,
    ``first_entry``, ``since``, ``until`` and breakdown).  Why these are
    exactly the conditions is on the concept page (``docs/concepts/entry.md``).
    """
    stages = [step.stage for step in spec.steps]
    return (
        spec.reading.entry
        and spec.reading.definition is not None
        and spec.order in ENTRY_ORDERS
        and not spec.exclusions
        and all(step.stage is not None and step.events is None for step in spec.steps)
        and len(set(stages)) == len(stages)
    )


@dataclass(frozen=True)
class EntryChains:
    """The counted chains of :func:`entry_chains`: one polars row per contact reaching step 1."""

    chains: pl.LazyFrame
    shared: bool = True  # the queries of one collect read the chains computed once

    def frame(self) -> Any:
        """Return the chains as a narwhals lazy frame with ``contact_id``."""
        return nw.from_native(self.chains)

    def collect(self, queries: Callable[[Any], list[Any]]) -> list[pl.DataFrame]:
        """Run ``queries(chains)`` over the chains computed once; return polars tables."""
        done = queries(nw.from_native(self.chains.cache()))
        return pl.collect_all([nw.to_native(q) for q in done])


def entry_chains(
    events: Events,
    spec: Spec,
    *,
    since: TimeLike | None,
    until: TimeLike | None,
    by: str | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> EntryChains | None:
    """Return the chains of a funnel over stages read by entry, from the classification alone.

    The first polars accelerator of :func:`funnelkit.core.chains.chains_of`:
    same inputs, same chains (``contact_id``, ``_lvl``, ``_t1.._tn`` in epoch
    µs, ``_excluded``, ``_seg_value``) for the specs
    ``entry_chains_apply`` accepts; it declines (``None``) every other.
    Each step has one candidate per contact, its ``<stage>_at``: the chain is
    read along one row, without a sort or a synthetic event.  An events
    ``by`` is read where :func:`with_entry_values` carried it, else by one
    join of the events with one row per contact.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog` or a canonical polars frame.
    spec
        The funnel's checked specification (:func:`funnelkit.steps.resolve_spec`).
    since, until, by, contacts
        As in :func:`~funnelkit.conversion.funnel`.
    classified
        :func:`entry_classification` of the same events, definition,
        ``until`` and contacts (with :func:`with_entry_values` columns or
        not); ``None``: classified here.

    Returns
    -------
    EntryChains or None
        The chains (``frame()``, ``collect(queries)``), or ``None`` when the
        spec is not one it computes, or ``by`` names no column it can read
        (the next implementation then runs, and names the column).

    Raises
    ------
    MissingColumnError, DefinitionError, DataError
        Only when it classifies: as :func:`funnelkit.stages.classify`.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.definitions import load_funnel
    >>> from funnelkit.steps import resolve_spec
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "b"],
    ...     "occurred_at": [day, day + dt.timedelta(days=2), day],
    ...     "event": ["page_view", "newsletter_signup", "page_view"],
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> inbound = load_funnel("inbound")
    >>> spec = resolve_spec(inbound, "7d", "ordered", False, ())
    >>> found = entry_chains(log, spec, since=None, until=None)
    >>> found.frame().select("contact_id", "_lvl").collect().sort("contact_id").rows()
    [('a', 3), ('b', 1)]
    >>> entry_chains(log, resolve_spec(inbound, "7d", "any", False, ()), since=None, until=None)

    See the concept page: docs/concepts/entry.md
    """
    if not entry_chains_apply(spec):
        return None
    definition = spec.reading.definition
    assert definition is not None  # entry_chains_apply
    lf = as_lazy(events)
    schema = lf.collect_schema()
    people = optional_contacts(contacts)
    source = None
    if by is not None:
        if by in schema.names():
            source = "events"
        elif people is not None and by in people.collect_schema().names():
            source = "contacts"
        else:
            return None  # the kernel names the missing column
    if classified is None:
        classified = entry_classification(lf, definition, until=until, contacts=people)
    elif isinstance(classified, pl.LazyFrame):
        classified = classified.collect()
    ats = [f"{step.stage}_at" for step in spec.steps]
    if not set(ats) <= set(classified.columns):
        return None  # not the classification of these stages: the kernel reads it
    first_stage = str(spec.steps[0].stage)
    if source == "events" and entry_value_column(first_stage, str(by)) not in classified.columns:
        assert by is not None
        classified = with_entry_values(
            classified, lf, definition, [by], stage=first_stage, until=until
        )
    known = classified.lazy()
    lo, _ = span_us(since, until)
    entries = [
        pl.col(at).cast(pl.Datetime("us", "UTC")).dt.epoch("us").alias(f"_e{j}")
        for j, at in enumerate(ats, 1)
    ]
    # an events column is read on the classification's own rows: no join
    along = [pl.col(entry_value_column(first_stage, str(by))).alias("_seg_value")]
    along = along if source == "events" else []
    rows = known.select(pl.col(CONTACT_ID).cast(schema[CONTACT_ID]), *entries, *along)
    first = pl.col("_e1")
    reached = first.is_not_null() if lo is None else (first >= lo).fill_null(False)
    rows = rows.filter(reached)
    for k in range(2, spec.n + 1):  # one column after the other: step k reads step k-1's
        e, before, ok = pl.col(f"_e{k}"), pl.col(f"_e{k - 1}"), pl.col(f"_ok{k - 1}")
        after = e > before if spec.order == "strict_increase" else e >= before
        within = (e - first) <= spec.window_us
        if k == 2:
            ok = pl.lit(True)
        rows = rows.with_columns((ok & (after & within).fill_null(False)).alias(f"_ok{k}"))
    oks = [pl.lit(True), *(pl.col(f"_ok{k}") for k in range(2, spec.n + 1))]
    chains = rows.select(
        CONTACT_ID,
        pl.sum_horizontal(oks).cast(pl.Int64).alias("_lvl"),
        *(pl.when(ok).then(pl.col(f"_e{k}")).alias(f"_t{k}") for k, ok in enumerate(oks, 1)),
        pl.lit(False).alias("_excluded"),
        *(["_seg_value"] if along else []),
    )
    if source == "contacts":
        assert by is not None and people is not None
        attrs = people.group_by(CONTACT_ID).agg(
            pl.col(by).cast(pl.String).min().alias("_seg_value")
        )
        chains = chains.join(
            attrs.with_columns(pl.col(CONTACT_ID).cast(schema[CONTACT_ID])),
            on=CONTACT_ID,
            how="left",
        )
    return EntryChains(chains)
