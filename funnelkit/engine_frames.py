"""Events and contacts on an engine: the frame every engine module works on.

A DuckDB relation or a Spark DataFrame becomes an :class:`EngineFrame`:
``contact_id`` and ``event`` as text, ``occurred_at`` (and ``created_at``) as
epoch microseconds (UTC) in ``_ts``, the one step written in each engine's
SQL (:func:`engine_events`).  Every later step is a narwhals lazy
expression over integers, so the engine session's time zone never changes
a result.  It is the core's frame (:mod:`funnelkit.core`): polars frames
get the same ``_ts`` in :mod:`funnelkit.stages`.  This module also holds the
small helpers the core and the engine modules share: instants as
microseconds, running the query into polars, the expressions of event names
and definition rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import narwhals as nw
import polars as pl

from funnelkit.definitions import (
    CORE_TIME,
    Condition,
    EventRule,
    Filter,
    Funnel,
    Stage,
    number_columns,
    read_numbers,
)
from funnelkit.errors import (
    MissingColumnError,
    ParameterError,
    TimestampError,
    did_you_mean,
)
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.events import EVENT, as_lazy, optional_contacts
from funnelkit.events import OCCURRED_AT as T
from funnelkit.frames import Engine, engine_of
from funnelkit.timeutil import parse_as_of, time_bounds

if TYPE_CHECKING:
    pass

__all__ = [
    "DAY_US",
    "CoreEngine",
    "EngineFrame",
    "MONDAY_US",
    "NativeFrame",
    "TS",
    "WEEK_US",
    "as_of_us",
    "as_polars",
    "by_contact_groups",
    "collect_polars",
    "columns",
    "condition_expr",
    "core_contacts",
    "core_events",
    "definition_events",
    "engine_contacts",
    "engine_events",
    "event_span",
    "floor_to",
    "from_us",
    "horizontal",
    "lit_us",
    "max_ts",
    "names_expr",
    "read_for",
    "restrict",
    "rows_known_without_reading",
    "span_us",
    "stage_expr",
    "to_us",
    "with_numbers",
]


NativeFrame = Any
"""A DuckDB relation or a PySpark DataFrame."""


CoreEngine = Engine | Literal["polars"]
"""The engine running the core's plan: polars, DuckDB or Spark."""


TS = CORE_TIME  # epoch microseconds of occurred_at


DAY_US = 86_400_000_000


WEEK_US = 7 * DAY_US


MONDAY_US = 4 * DAY_US  # 1970-01-05 00:00 UTC, a Monday: ISO weeks start there


def columns(frame: NativeFrame) -> list[str]:
    """Return the column names of a DuckDB relation or a Spark DataFrame.

    Only the schema is read: no query runs.

    Parameters
    ----------
    frame
        A DuckDB relation or a Spark DataFrame.

    Returns
    -------
    list of str

    Raises
    ------
    ParameterError
        When ``frame`` is of neither engine.

    Examples
    --------
    >>> import duckdb
    >>> columns(duckdb.sql("SELECT 1 AS contact_id, 2 AS channel"))
    ['contact_id', 'channel']

    See the concept page: docs/concepts/engines.md
    """
    if engine_of(frame) is None:
        msg = f"expected a DuckDB relation or a Spark DataFrame, got {type(frame).__name__}"
        raise ParameterError(msg)
    names: list[str] = nw.from_native(frame).collect_schema().names()
    return names


@dataclass(frozen=True)
class EngineFrame:
    """Events (or contacts) on an engine: ``contact_id``, ``_ts`` (µs) and the rest.

    ``schema``: the columns other than the times, as polars types; ``given``:
    the column names as the caller gave them (``occurred_at`` included), for
    messages that list them.
    """

    lf: Any  # nw.LazyFrame
    engine: CoreEngine
    schema: pl.Schema
    given: tuple[str, ...] = ()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _backquote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _with_epoch(native: NativeFrame, engine: Engine, column: str, dtype: Any, out: str) -> Any:
    """Add ``out``: ``column`` (a date or date-time) as epoch microseconds, in native SQL.

    Naive date-times are read as UTC, like :func:`funnelkit.events.as_lazy`
    does; zoned ones are converted, whatever the session's time zone.
    """
    zoned = isinstance(dtype, nw.Datetime) and dtype.time_zone is not None
    if engine == "duckdb":
        col = _quote(column)
        value = f"epoch_us({col})" if zoned else f"epoch_us(CAST({col} AS TIMESTAMP))"
        return native.project(f"*, {value} AS {_quote(out)}")
    from pyspark.sql import functions as F  # noqa: N812

    name = _backquote(column)
    if zoned:
        spark_value = F.expr(f"unix_micros({name})")
    else:
        spark_value = F.expr(
            f"timestampdiff(MICROSECOND, TIMESTAMP_NTZ'1970-01-01 00:00:00', "
            f"CAST({name} AS TIMESTAMP_NTZ))"
        )
    return native.withColumn(out, spark_value)


def _frame(native: NativeFrame, *, what: str, time_column: str | None) -> EngineFrame:
    engine = engine_of(native)
    if engine is None:
        msg = (
            f"{what}: expected a DuckDB relation or a Spark DataFrame, got "
            f"{type(native).__name__}; polars frames go to the polars functions directly."
        )
        raise ParameterError(msg)
    lf = nw.from_native(native)
    schema = lf.collect_schema()
    names = schema.names()
    required = [CID] if time_column is None else [CID, time_column, EVENT]
    for col in required:
        if col not in names:
            hint = did_you_mean(col, names) or (
                f" Rename it in the engine first, e.g. SELECT your_name AS {col} ..."
            )
            msg = (
                f"{what}: the {what} have no {col!r} column.{hint} "
                f"Columns present: {', '.join(names) or '(none)'}."
            )
            raise MissingColumnError(msg)
    times = [c for c in ([time_column] if time_column else [CREATED]) if c in names]
    for col in times:
        dtype = schema[col]
        if not isinstance(dtype, nw.Datetime | nw.Date):
            msg = (
                f"{what}: the {col!r} column is {dtype}, not a date-time; cast it in the "
                f"engine (e.g. CAST({col} AS TIMESTAMP WITH TIME ZONE) in DuckDB, "
                f"to_timestamp({col}) in Spark), or read the file with funnelkit.read_events, "
                "which parses timestamps and sets unusable rows aside."
            )
            raise TimestampError(msg)
        native = _with_epoch(nw.to_native(lf), engine, col, dtype, f"_{col}_us")
        lf = nw.from_native(native)
    casts = [nw.col(CID).cast(nw.String())]
    if time_column is not None:
        casts.append(nw.col(EVENT).cast(nw.String()))
    lf = lf.with_columns(casts)
    if time_column is not None:
        lf = lf.drop(time_column).rename({f"_{time_column}_us": TS})
    elif CREATED in names:
        lf = lf.drop(CREATED).rename({f"_{CREATED}_us": CREATED})
    try:
        pl_schema = pl.Schema(
            {k: v for k, v in lf.collect_schema().to_polars().items() if k not in (TS, CREATED)}
        )
    except (NotImplementedError, ValueError, TypeError):  # pragma: no cover - exotic types
        pl_schema = pl.Schema({CID: pl.String, EVENT: pl.String})
    return EngineFrame(lf, engine, pl_schema, tuple(names))


def engine_events(native: NativeFrame) -> EngineFrame:
    """Return the events of a DuckDB relation or a Spark DataFrame as an :class:`EngineFrame`."""
    return _frame(native, what="events", time_column=T)


def engine_contacts(contacts: NativeFrame | None, engine: CoreEngine) -> EngineFrame | None:
    """Return the contacts as an :class:`EngineFrame` of the events' engine (or ``None``)."""
    if contacts is None:
        return None
    other = engine_of(contacts)
    if other != engine:
        got = other or type(contacts).__name__
        msg = (
            f"contacts: the events are on {engine}, the contacts on {got}; give both as "
            f"frames of the same engine (e.g. two tables of one "
            f"{'DuckDB connection' if engine == 'duckdb' else 'Spark session'})."
        )
        raise ParameterError(msg)
    return _frame(contacts, what="contacts", time_column=None)


def core_events(events: Any, *, numbers: Sequence[Filter] = (), where: str = "") -> EngineFrame:
    """Return events as the core reads them, whatever holds them: the one dispatch.

    A DuckDB relation or a Spark DataFrame goes through :func:`engine_events`;
    an :class:`~funnelkit.events.EventLog` or a polars frame is read as
    :func:`funnelkit.events.as_lazy` reads it, ``occurred_at`` becoming
    ``_ts`` (epoch µs).  On every engine, the text columns the filters
    ``numbers`` compare with numbers are then read as numbers
    (:func:`funnelkit.definitions.read_numbers`; ``where`` names the rule
    in its error).

    Examples
    --------
    >>> import datetime as dt
    >>> log = pl.DataFrame({"contact_id": ["a"], "occurred_at": [dt.datetime(1970, 1, 2)],
    ...                     "event": ["like"]})
    >>> frame = core_events(log)
    >>> frame.engine, frame.lf.collect()[TS].to_list()
    ('polars', [86400000000])
    """
    if engine_of(events) is not None:
        ev = engine_events(events)
    else:
        lf = as_lazy(events)
        schema = lf.collect_schema()
        rest = pl.Schema({k: v for k, v in schema.items() if k != T})
        ev = EngineFrame(
            nw.from_native(lf.with_columns(pl.col(T).dt.epoch("us").alias(TS)).drop(T)),
            "polars",
            rest,
            tuple(schema.names()),
        )
    return with_numbers(ev, numbers, where)


def with_numbers(ev: EngineFrame, filters: Iterable[Filter], where: str) -> EngineFrame:
    """Return ``ev`` with the text columns ``filters`` compare with numbers read as numbers.

    :func:`funnelkit.definitions.read_numbers`, the same rule on every
    engine; ``where`` names the rule in its error.  ``ev`` itself when no
    column is to be read.

    Raises
    ------
    DataError
        When such a column holds text that is not a number.
    """
    filters = list(filters)
    read = number_columns(ev.schema, filters)
    if not read:
        return ev
    schema = pl.Schema({k: pl.Float64 if k in read else v for k, v in ev.schema.items()})
    return replace(ev, lf=read_numbers(ev.lf, filters, where), schema=schema)


def definition_events(events: Any, funnel: Funnel) -> EngineFrame:
    """Return the events the way ``funnel``'s rules read them, checked: the one dispatch.

    :func:`core_events` with the text columns the definition's filters
    compare with numbers read as numbers, then the definition's column check
    (:meth:`funnelkit.definitions.Funnel.check_columns`), once, on every
    engine: the messages are the same whatever holds the events.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog`, a polars frame, a DuckDB
        relation or a Spark DataFrame.
    funnel
        The definition about to read them.

    Returns
    -------
    EngineFrame

    Raises
    ------
    MissingColumnError
        A required column is missing, or a filter reads a column the events lack.
    DefinitionError
        A filter compares a column with a value of another kind.
    DataError
        A filter compares a text column with numbers and some of its values
        are not numbers.

    Examples
    --------
    >>> import duckdb
    >>> from funnelkit.definitions import load_funnel
    >>> rel = duckdb.sql("SELECT 'c1' AS contact_id, TIMESTAMP '2024-01-01' AS occurred_at,"
    ...                  " 'purchase' AS event, ' 12.5' AS amount")
    >>> definition_events(rel, load_funnel("sales")).schema["amount"]
    Float64

    See the concept page: docs/concepts/engines.md
    """
    return read_for(core_events(events), funnel)


def read_for(ev: EngineFrame, funnel: Funnel) -> EngineFrame:
    """Return the core's events ``ev`` read for ``funnel``: numbers read, columns checked.

    The second half of :func:`definition_events`, for events already turned
    into the core's frame.

    Raises
    ------
    MissingColumnError, DefinitionError, DataError
        As :func:`definition_events`.
    """
    filters = [f for stage in funnel.stages for cond in stage.conditions for f in cond.where]
    ev = with_numbers(ev, filters, funnel.title)
    funnel.check_columns(ev.schema)
    return ev


def as_polars(lf: Any) -> pl.LazyFrame:
    """Return a narwhals lazy frame of the core as a polars lazy frame.

    A polars plan stays lazy (the caller collects it, streaming if it
    likes); a DuckDB or Spark query runs on its engine and only its result
    comes back.  Times stay as the core gives them (epoch µs).
    """
    native = nw.to_native(lf)
    if isinstance(native, pl.LazyFrame):
        return native
    out: pl.LazyFrame = collect_polars(lf).lazy()
    return out


def rows_known_without_reading(lf: Any) -> int | None:
    """Count the events of ``lf`` if that reads no row (polars only); else return None.

    A Parquet scan (its metadata), a frame in memory or a CSV file (a line
    count) qualifies; a plan that filters, joins or validates rows does not,
    nor does a DuckDB or Spark query (the engine plans its own memory).
    """
    native = nw.to_native(lf)
    if not isinstance(native, pl.LazyFrame):
        return None
    counted = native.select(pl.len())
    lines = [line.strip() for line in counted.explain().splitlines() if line.strip()]
    simple = all(
        line.startswith(_CHEAP_COUNT) or (" SCAN [" in f" {line}" and "SELECTION" not in line)
        for line in lines
    )
    if not simple or len(lines) > 5:
        return None
    rows: int = counted.collect().item()
    return rows


# The plan nodes of a row count polars answers without reading the rows (file
# metadata, a frame in memory, a CSV line count).
_CHEAP_COUNT = ("SELECT [len()]", "FAST COUNT", "DF ", "PROJECT", "ESTIMATED ROWS")


def by_contact_groups(
    events: Any,
    contacts: Any | None,
    groups: int,
    each: Callable[[Any, Any | None], Any],
) -> Any:
    """Return ``each(events, contacts)`` over hash groups of contacts, one after the other.

    On polars, the contacts are split into ``groups`` by a hash of their id
    and ``each`` runs per group (events and contacts of that group), the
    results concatenated without running the groups in parallel: the same
    rows with less peak memory.  DuckDB and Spark plan their own memory:
    ``each`` runs once on everything.
    """
    native = nw.to_native(events)
    if groups == 1 or not isinstance(native, pl.LazyFrame):
        return each(events, contacts)
    part = pl.col(CID).hash(seed=0x5EED) % groups
    people = None if contacts is None else nw.to_native(contacts)
    pieces = [
        nw.to_native(
            each(
                nw.from_native(native.filter(part == i)),
                None if people is None else nw.from_native(people.filter(part == i)),
            )
        )
        for i in range(groups)
    ]
    return nw.from_native(pl.concat(pieces, parallel=False))


def core_contacts(contacts: Any, engine: CoreEngine) -> EngineFrame | None:
    """Return the contacts as the core reads them on ``engine`` (``created_at`` in epoch µs).

    A contacts table or polars frame for polars events (see
    :func:`funnelkit.events.optional_contacts`), a frame of the same engine
    otherwise (:func:`engine_contacts`).
    """
    if engine != "polars" or contacts is None:
        return engine_contacts(contacts, engine)
    other = engine_of(contacts)
    if other is not None:
        msg = (
            f"contacts: the events are polars frames, the contacts on {other}; give both "
            "as polars frames (e.g. relation.pl() in DuckDB), or both on the engine."
        )
        raise ParameterError(msg)
    lf = optional_contacts(contacts)
    assert lf is not None
    schema = lf.collect_schema()
    if CREATED in schema.names():
        lf = lf.with_columns(pl.col(CREATED).dt.epoch("us"))
    rest = pl.Schema({k: v for k, v in schema.items() if k != CREATED})
    return EngineFrame(nw.from_native(lf), "polars", rest, tuple(schema.names()))


def to_us(value: datetime | None) -> int | None:
    """Return ``value`` as epoch microseconds (naive values are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


def from_us(value: int | None) -> datetime | None:
    """Return epoch microseconds as a UTC date-time."""
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


def collect_polars(lf: Any, times: Iterable[str] = ()) -> pl.DataFrame:
    """Run the query on its engine; return polars, ``times`` columns as UTC date-times."""
    df: pl.DataFrame = lf.collect(backend="polars").to_native()
    return df.with_columns(
        pl.col(c).cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        for c in times
        if c in df.columns
    )


def lit_us(value: int | None) -> Any:
    """Return a literal of epoch microseconds (Int64, possibly null)."""
    return nw.lit(value, dtype=nw.Int64())


def horizontal(kind: Literal["min", "max"], exprs: Sequence[Any]) -> Any:
    """``min_horizontal`` / ``max_horizontal`` that also take one expression (Spark's don't)."""
    if len(exprs) == 1:
        return exprs[0]
    return nw.min_horizontal(*exprs) if kind == "min" else nw.max_horizontal(*exprs)


def floor_to(us: Any, size: int, origin: int) -> Any:
    """Truncate epoch microseconds to a multiple of ``size`` from ``origin`` (floor)."""
    return ((us - origin) // size) * size + origin


def names_expr(names: Iterable[str]) -> Any:
    """Return whether ``event`` is one of ``names``."""
    ordered = sorted(set(names))
    if len(ordered) == 1:
        return nw.col(EVENT) == ordered[0]
    return nw.col(EVENT).is_in(ordered)


def condition_expr(cond: Condition) -> Any:
    """Return the events that count as evidence for ``cond`` (its ``evidence()``)."""
    names = cond.events if isinstance(cond, EventRule) else tuple(cond.points)
    out = names_expr(names)
    for flt in cond.where:
        out = out & flt.expr(nw)
    return out.fill_null(False)


def stage_expr(stage: Stage) -> Any:
    """Return the twin of :meth:`Stage.evidence`: every event for the entry stage."""
    if not stage.conditions:
        return nw.lit(True)
    out: Any = None
    for cond in stage.conditions:
        expr = condition_expr(cond)
        out = expr if out is None else out | expr
    return out


def restrict(lf: Any, since: int | None, until: int | None) -> Any:
    """Keep the events from ``since`` (included) to ``until`` (excluded), in µs."""
    if since is not None:
        lf = lf.filter(nw.col(TS) >= since)
    if until is not None:
        lf = lf.filter(nw.col(TS) < until)
    return lf


def span_us(since: Any, until: Any) -> tuple[int | None, int | None]:
    """``since`` and ``until`` as the polars path reads them (a reversed span is refused)."""
    lo, hi = time_bounds(since, until)
    return to_us(lo), to_us(hi)


def as_of_us(value: Any) -> int | None:
    """``as_of`` as the polars path reads it: a bare date means the end of that day."""
    return to_us(parse_as_of(value))


def max_ts(lf: Any) -> int | None:
    """Return the latest ``_ts`` of ``lf`` (``None`` when empty)."""
    value = collect_polars(lf.select(nw.col(TS).max().alias("_m"))).item()
    return None if value is None else int(value)


def event_span(events: NativeFrame) -> tuple[datetime | None, datetime | None]:
    """Return the first and last ``occurred_at`` of the events (``None`` when empty).

    One small query in the engine; the instants come back as aware UTC
    datetimes.

    Parameters
    ----------
    events
        A DuckDB relation or a Spark DataFrame with ``occurred_at``.

    Returns
    -------
    tuple
        ``(first, last)``, each a datetime or ``None``.

    Raises
    ------
    ParameterError
        When ``events`` is of neither engine.

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql("SELECT 'a' AS contact_id, TIMESTAMP '2026-11-02' AS occurred_at,"
    ...                  " 'like' AS event")
    >>> event_span(rel)[1].isoformat()
    '2026-11-02T00:00:00+00:00'

    See the concept page: docs/concepts/engines.md
    """
    ev = engine_events(events)
    row = collect_polars(
        ev.lf.select(nw.col(TS).min().alias("_lo"), nw.col(TS).max().alias("_hi"))
    ).row(0)
    return from_us(row[0]), from_us(row[1])
