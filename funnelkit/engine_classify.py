"""Classification and flows on DuckDB and Spark: the core's plan on their frames.

:func:`classify_frame` is :func:`funnelkit.stages.classify` for an
:class:`~funnelkit.engine_frames.EngineFrame`: the one plan of
:mod:`funnelkit.core.classify`, which polars runs too;
:func:`classify_query` keeps its result in the engine, and the
implementations of ``classify`` and ``flows`` are registered here
(:func:`funnelkit.frames.register`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

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
    to_us,
)
from funnelkit.errors import (
    ParameterError,
)
from funnelkit.frames import register
from funnelkit.timeutil import fmt_time, instant

if TYPE_CHECKING:
    from funnelkit.stages import Flows, Snapshot

__all__ = [
    "classify_frame",
    "classify_query",
    "flow_ranks",
    "flows_table_on_engine",
    "snapshot_of_counts",
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

    The plan is the core's (:func:`funnelkit.core.classify.classify_frame`).
    """
    funnel.check_columns(ev.schema)
    people = None if contacts is None else contacts.lf
    return core.classify_frame(ev.lf, funnel, cut=cut, contacts=people, entry_times=entry_times)


def _time_columns(funnel: Funnel, entry_times: bool) -> list[str]:
    ats = [f"{s}_at" for s in funnel.stage_ids] if entry_times else []
    return [*ats, "last_activity_at"]


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
        When ``events`` lacks a required column.
    ParameterError
        When ``as_of`` cannot be read as a time.

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


@register("classify")
def _classify_on_engine(
    events: NativeFrame,
    funnel: Funnel,
    *,
    as_of: datetime | date | str | None = None,
    contacts: NativeFrame | None = None,
    entry_times: bool = True,
) -> pl.LazyFrame:
    """:func:`funnelkit.stages.classify` run on the events' engine.

    The classification is computed by DuckDB or Spark and only its result
    (one row per contact) comes back, as the same lazy polars frame the
    polars path returns.  To keep it in the engine, see :func:`classify_query`.

    Parameters
    ----------
    events, funnel, as_of, contacts, entry_times
        As in :func:`classify_query`.

    Returns
    -------
    polars.LazyFrame
        ``contact_id``, ``stage`` (the funnel's ``stage_dtype``, a
        ``polars.Enum``), ``stage_rank``, ``<stage id>_at`` and
        ``last_activity_at``, in no particular order.

    Examples
    --------
    >>> import duckdb
    >>> from funnelkit.definitions import load_funnel
    >>> rel = duckdb.sql("SELECT 'c1' AS contact_id, TIMESTAMP '2024-01-01' AS occurred_at,"
    ...                  " 'form_fill' AS event, NULL::DOUBLE AS amount")
    >>> from funnelkit.stages import classify
    >>> classify(rel, load_funnel("sales")).select("stage").collect().item()
    'lead'
    """
    ev = engine_events(events)
    out = classify_frame(
        ev,
        funnel,
        cut=_cut(as_of),
        contacts=engine_contacts(contacts, ev.engine),
        entry_times=entry_times,
    )
    table = collect_polars(out, _time_columns(funnel, entry_times))
    return table.with_columns(pl.col("stage").cast(funnel.stage_dtype)).lazy()


def snapshot_of_counts(funnel: Funnel, counts: Sequence[int], lang: str) -> Snapshot:
    """Return the :class:`~funnelkit.stages.Snapshot` of ``counts``, as ``snapshot()`` does."""
    from funnelkit.stages import snapshot_from_counts as finish

    return finish(funnel, counts, lang)


def flow_ranks(
    ev: EngineFrame, funnel: Funnel, lo: int, hi: int, contacts: EngineFrame | None
) -> Any:
    """``from_rank`` (at ``lo``, null if unknown) and ``to_rank`` per contact known at ``hi``.

    The core's :func:`funnelkit.core.classify.flow_ranks` on the engine's frames.
    """
    funnel.check_columns(ev.schema)
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


@register("flows")
def _flows_on_engine(
    events: NativeFrame,
    funnel: Funnel,
    *,
    start: datetime | date | str,
    end: datetime | date | str,
    contacts: NativeFrame | None = None,
) -> Flows:
    """:func:`funnelkit.stages.flows` run on the events' engine.

    Returns
    -------
    funnelkit.stages.Flows

    Examples
    --------
    >>> import duckdb
    >>> from funnelkit.definitions import load_funnel
    >>> rel = duckdb.sql("SELECT 'c1' AS contact_id, TIMESTAMP '2024-01-08' AS occurred_at,"
    ...                  " 'form_fill' AS event, NULL::DOUBLE AS amount")
    >>> from funnelkit.stages import flows
    >>> out = flows(rel, load_funnel("sales"), start="2024-01-07", end="2024-01-14")
    >>> out.table.select("from_stage", "to_stage", "contacts").rows()
    [(None, 'lead', 1)]
    """
    from funnelkit.stages import Flows

    lo, hi = instant(start, "start"), instant(end, "end")
    assert lo is not None and hi is not None
    if lo >= hi:
        msg = f"start ({fmt_time(lo)}) must be before end ({fmt_time(hi)})"
        raise ParameterError(msg)
    ev = engine_events(events)
    lo_us, hi_us = to_us(lo), to_us(hi)
    assert lo_us is not None and hi_us is not None
    table = flows_table_on_engine(ev, funnel, lo_us, hi_us, engine_contacts(contacts, ev.engine))
    return Flows(funnel.name, lo, hi, table)
