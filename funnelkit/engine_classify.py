"""Classification and flows kept on the events' engine: the core's plan on its frames.

:func:`funnelkit.stages.classify` and :func:`funnelkit.stages.flows` are one
function each for every engine and bring their results back as polars.
:func:`classify_query` keeps a classification in the engine;
:func:`classify_frame` and :func:`flows_table_on_engine` are the same plans
on an :class:`~funnelkit.engine_frames.EngineFrame`, for analyses that go on
with the result in the engine.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import narwhals as nw
import polars as pl

from funnelkit.core import classify as core
from funnelkit.definitions import Funnel
from funnelkit.engine_frames import (
    EngineFrame,
    NativeFrame,
    collect_polars,
    engine_contacts,
    engine_events,
    read_for,
    to_us,
)
from funnelkit.timeutil import instant

__all__ = [
    "classify_frame",
    "classify_query",
    "flow_ranks",
    "flows_table_on_engine",
]


def classify_frame(
    ev: EngineFrame,
    funnel: Funnel,
    *,
    cut: int | None,
    contacts: EngineFrame | None,
    entry_times: bool,
) -> Any:
    """Return :func:`funnelkit.stages.classify` as a lazy frame of the engine; times in µs.

    The plan is the core's (:func:`funnelkit.core.classify.classify_frame`), on
    ``ev`` read for ``funnel`` (:func:`funnelkit.engine_frames.read_for`: text
    numbers read, columns checked).
    """
    ev = read_for(ev, funnel)
    people = None if contacts is None else contacts.lf
    return core.classify_frame(ev.lf, funnel, cut=cut, contacts=people, entry_times=entry_times)


def _cut(as_of: Any) -> int | None:
    return to_us(instant(as_of, "as_of"))


def classify_query(
    events: NativeFrame,
    funnel: Funnel,
    *,
    as_of: datetime | date | str | None = None,
    contacts: NativeFrame | None = None,
    entry_times: bool = True,
) -> NativeFrame:
    """Return the classification as a lazy frame **of the events' engine**.

    The rows and columns of :func:`funnelkit.stages.classify`, except that
    the time columns (``<stage id>_at``, ``last_activity_at``) hold epoch
    microseconds (UTC).  Use it to keep a large classification in the
    engine (write it to a table, join it to other tables); use
    :func:`funnelkit.stages.classify` to get it in polars.

    Parameters
    ----------
    events
        A DuckDB relation or a Spark DataFrame with ``contact_id``,
        ``occurred_at`` (a timestamp; naive ones are read as UTC), ``event``
        and the property columns the definition's filters read.
    funnel, as_of, entry_times
        As in :func:`funnelkit.stages.classify`.
    contacts
        Optional contacts (``contact_id``, optional ``created_at``) on the same
        engine.

    Returns
    -------
    DuckDB relation or Spark DataFrame
        One row per contact, not yet run.

    Raises
    ------
    MissingColumnError
        When ``events`` lacks a required column, or one a filter reads.
    DefinitionError
        When a filter compares a column with a value of another kind.
    DataError
        When a filter compares a text column with numbers and some of its
        values are not numbers (checked by a query when called).
    ParameterError
        When ``as_of`` cannot be read as a time, or ``events`` is a polars frame.

    Examples
    --------
    >>> import duckdb
    >>> from funnelkit.definitions import load_funnel
    >>> rel = duckdb.sql("SELECT 'c1' AS contact_id, TIMESTAMP '2024-01-01' AS occurred_at,"
    ...                  " 'form_fill' AS event, NULL::DOUBLE AS amount")
    >>> classify_query(rel, load_funnel("sales")).fetchall()[0][:3]
    ('c1', 'lead', 2)

    See the concept page: docs/concepts/engines.md
    """
    ev = engine_events(events)
    out = classify_frame(
        ev,
        funnel,
        cut=_cut(as_of),
        contacts=engine_contacts(contacts, ev.engine),
        entry_times=entry_times,
    )
    return nw.to_native(out)


def flow_ranks(
    ev: EngineFrame, funnel: Funnel, lo: int, hi: int, contacts: EngineFrame | None
) -> Any:
    """``from_rank`` (at ``lo``, null if unknown) and ``to_rank`` per contact known at ``hi``.

    The core's :func:`funnelkit.core.classify.flow_ranks` on the engine's frames,
    read for ``funnel`` (:func:`funnelkit.engine_frames.read_for`).
    """
    ev = read_for(ev, funnel)
    people = None if contacts is None else contacts.lf
    return core.flow_ranks(ev.lf, funnel, lo, hi, people)


def flows_table_on_engine(
    ev: EngineFrame, funnel: Funnel, lo: int, hi: int, contacts: EngineFrame | None
) -> pl.DataFrame:
    """Return :func:`funnelkit.stages.flows_table` of the flows between ``lo`` and ``hi`` (µs)."""
    pairs = (
        flow_ranks(ev, funnel, lo, hi, contacts)
        .group_by("from_rank", "to_rank")
        .agg(nw.len().cast(nw.Int64()).alias("contacts"))
    )
    from funnelkit.stages import flows_table

    table = collect_polars(pairs).with_columns(pl.col("from_rank", "to_rank").cast(pl.Int32))
    return flows_table(table, funnel)
