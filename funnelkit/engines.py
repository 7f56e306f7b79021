"""Run funnelkit where the data lives: DuckDB relations and Spark DataFrames.

The public functions of :mod:`funnelkit.stages`, :mod:`funnelkit.conversion`
and :mod:`funnelkit.weekly` take polars frames, DuckDB relations and Spark
DataFrames alike.  Given a frame of another engine, they hand it to the
implementation this module registers under their name
(:func:`funnelkit.frames.register`), which runs the computation **inside that
engine**: the raw events never travel to Python, only the small result
tables do (counts per stage, per step, per week; one row per contact for
``classify``).  :func:`classify_query` keeps a classification in the engine.

Supported inputs: a DuckDB relation (``duckdb.DuckDBPyRelation``) and a
PySpark DataFrame (classic or Spark Connect).  :func:`engine_of` tells them
apart from polars frames, and :func:`open_source` opens one from text such as
``duckdb:///data/warehouse.duckdb?table=events`` or ``spark:analytics.events``.

The results equal the polars path's, column for column (names, types, values):
the semantics are those documented in :mod:`funnelkit.stages` (classification)
and :mod:`funnelkit.conversion` (the chain rule, the counted chain, exclusions,
breakdowns, time to convert, trends and cohorts).  Where the engines have no
notion of row order, a rule that reads "the first row" reads "the smallest
value" instead; this only shows on inputs that
:func:`~funnelkit.events.read_contacts` never produces (a contacts table that
holds one ``contact_id`` twice, with two values of a breakdown column).  Rows
are read as they are: nothing is set aside on an engine (validate the data
where it lives, or read it with :func:`~funnelkit.events.read_events`).
``period="month"`` (trends, cohorts) is not available on an engine yet.

How it is built
---------------
The engine-neutral parts are `narwhals <https://narwhals-dev.github.io/narwhals/>`_
lazy expressions (filters, ``group_by``, joins, window functions with
``over(partition_by, order_by=...)``).  One step has no narwhals expression on
DuckDB or Spark: turning ``occurred_at`` into epoch microseconds; it is one
line of native SQL per engine (``epoch_us`` in DuckDB; ``unix_micros`` or
``timestampdiff`` in Spark).  Every later step works on integer microseconds,
so that time zones of the engine session never change a result.

Funnels are computed per *instant* (contact and timestamp): the rows of one
instant are first merged (their step flags OR-ed), which makes the order of a
contact's instants total and lets cumulative window functions (``cum_max``,
``cum_min`` in reverse, ``shift``) express ClickHouse's ``windowFunnel`` rule
without relying on the order of tied rows.  Along one contact, the chain start
and step times inherited by later steps never decrease, so "the value at the
latest instant where it is set" is a running maximum, and "the first instant
reaching the contact's level" is a minimum.

Examples
--------
>>> import duckdb
>>> from funnelkit.definitions import load_funnel
>>> con = duckdb.connect()
>>> events = con.sql(
...     "SELECT * FROM (VALUES ('c1', TIMESTAMPTZ '2024-01-01 00:00:00+00', 'page_view', NULL),"
...     " ('c1', TIMESTAMPTZ '2024-01-05 00:00:00+00', 'meeting', NULL))"
...     " AS t(contact_id, occurred_at, event, amount)"
... )
>>> from funnelkit.stages import classify
>>> classify(events, load_funnel("sales")).select("stage").collect().item()
'qualified_prospect'
"""

from __future__ import annotations

import math
import os
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import narwhals as nw
import polars as pl

from funnelkit.aggregate import (
    check_count_option,
    long_steps,
    merge_segments,
    suppress_small_segments,
)
from funnelkit.definitions import Condition, EventRule, Funnel, Stage, lapse_chains
from funnelkit.errors import (
    DataError,
    MissingColumnError,
    ParameterError,
    TimestampError,
    did_you_mean,
)
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.events import EVENT
from funnelkit.events import OCCURRED_AT as T
from funnelkit.frames import Engine, engine_of, register
from funnelkit.stages import (
    SCORE_ANCHOR_US,
    SCORE_BLOCK,
    SCORE_REACH,
    SCORE_TOLERANCE,
    plan_conditions,
)
from funnelkit.stats import check_alpha
from funnelkit.steps import (
    PERIODS,
    STAGE,
    Exclusion,
    StageLike,
    bin_width,
    check_period,
    check_some_stage,
    event_names_of,
    resolve_spec,
    resolve_step,
    stage_reading,
    transitions,
)
from funnelkit.timeutil import fmt_time, instant, instant_before, parse_as_of, time_bounds

if TYPE_CHECKING:  # the polars modules import this one to hand native frames over
    from funnelkit.conversion import (
        CohortTable,
        ConversionTrend,
        FunnelResult,
        PeriodComparison,
    )
    from funnelkit.events import ContactTable, EventLog
    from funnelkit.stages import Flows, Snapshot
    from funnelkit.weekly import IsoWeek, WeeklyMetrics

__all__ = [
    "SPARK_CONF_ENV",
    "classify_query",
    "columns",
    "engine_of",
    "event_span",
    "open_contacts",
    "open_events",
    "open_source",
]

NativeFrame = Any
"""A DuckDB relation or a PySpark DataFrame."""

SPARK_CONF_ENV = "FUNNELKIT_SPARK_CONF"
"""Environment variable naming a ``spark-defaults.conf``-style file for ``spark:`` sources."""

TS = "_ts"  # epoch microseconds of occurred_at
_BY = "_by_entry"  # the breakdown value on the rows of a stage entry reading

_DAY_US = 86_400_000_000
_WEEK_US = 7 * _DAY_US
_MONDAY_US = 4 * _DAY_US  # 1970-01-05 00:00 UTC, a Monday: ISO weeks start there
_LO = -(2**62)  # "no value yet" in running maxima (any time minus it is beyond a window)
_HI = 2**62  # "no value later" in reverse running minima


# --------------------------------------------------------------------------- detection
def columns(frame: NativeFrame) -> list[str]:
    """Return the column names of a DuckDB relation or a Spark DataFrame (no query runs).

    Examples
    --------
    >>> import duckdb
    >>> columns(duckdb.sql("SELECT 1 AS contact_id, 2 AS channel"))
    ['contact_id', 'channel']
    """
    if engine_of(frame) is None:
        msg = f"expected a DuckDB relation or a Spark DataFrame, got {type(frame).__name__}"
        raise ParameterError(msg)
    names: list[str] = nw.from_native(frame).collect_schema().names()
    return names


# --------------------------------------------------------------------------- frames
@dataclass(frozen=True)
class _Frame:
    """Events (or contacts) on an engine: ``contact_id``, ``_ts`` (µs) and the rest."""

    lf: Any  # nw.LazyFrame
    engine: Engine
    schema: pl.Schema


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


def _frame(native: NativeFrame, *, what: str, time_column: str | None) -> _Frame:
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
    return _Frame(lf, engine, pl_schema)


def _events(native: NativeFrame) -> _Frame:
    return _frame(native, what="events", time_column=T)


def _contacts(contacts: NativeFrame | None, engine: Engine) -> _Frame | None:
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


def _us(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


def _from_us(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


def _collect(lf: Any, times: Iterable[str] = ()) -> pl.DataFrame:
    """Run the query on its engine; return polars, ``times`` columns as UTC date-times."""
    df: pl.DataFrame = lf.collect(backend="polars").to_native()
    return df.with_columns(
        pl.col(c).cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        for c in times
        if c in df.columns
    )


def _lit_us(value: int | None) -> Any:
    return nw.lit(value, dtype=nw.Int64())


def _horizontal(kind: Literal["min", "max"], exprs: Sequence[Any]) -> Any:
    """``min_horizontal`` / ``max_horizontal`` that also take one expression (Spark's don't)."""
    if len(exprs) == 1:
        return exprs[0]
    return nw.min_horizontal(*exprs) if kind == "min" else nw.max_horizontal(*exprs)


def _floor_to(us: Any, size: int, origin: int) -> Any:
    """Truncate epoch microseconds to a multiple of ``size`` from ``origin`` (floor)."""
    return ((us - origin) // size) * size + origin


# --------------------------------------------------------------------------- rules
def _names_expr(names: Iterable[str]) -> Any:
    ordered = sorted(set(names))
    if len(ordered) == 1:
        return nw.col(EVENT) == ordered[0]
    return nw.col(EVENT).is_in(ordered)


def _condition_expr(cond: Condition) -> Any:
    """Return the events that count as evidence for ``cond`` (its ``evidence()``)."""
    names = cond.events if isinstance(cond, EventRule) else tuple(cond.points)
    out = _names_expr(names)
    for flt in cond.where:
        out = out & flt.expr(nw)
    return out.fill_null(False)


def _stage_expr(stage: Stage) -> Any:
    """Return the twin of :meth:`Stage.evidence`: every event for the entry stage."""
    if not stage.conditions:
        return nw.lit(True)
    out: Any = None
    for cond in stage.conditions:
        expr = _condition_expr(cond)
        out = expr if out is None else out | expr
    return out


# --------------------------------------------------------------------------- classify
def _condition_times(lf: Any, cond: Condition, name: str) -> Any:
    """Per contact, the instant (µs) ``cond`` first holds: ``contact_id`` and ``name``.

    As :func:`funnelkit.stages._condition_times`; the decaying score uses the
    same blocks (:data:`funnelkit.stages.SCORE_BLOCK` half-lives, the last
    :data:`funnelkit.stages.SCORE_REACH` of a block carried into the next).
    """
    if isinstance(cond, EventRule):
        rows = lf.filter(_condition_expr(cond)).select(CID, TS)
        if cond.min_count == 1:
            return rows.group_by(CID).agg(nw.col(TS).min().alias(name))
        nth = nw.col(TS).cum_count().over(CID, order_by=TS)
        return (
            rows.with_columns(_i=nth)
            .filter(nw.col("_i") == cond.min_count)
            .select(CID, nw.col(TS).alias(name))
        )
    by_value: dict[float, list[str]] = {}
    for event, value in cond.points.items():
        by_value.setdefault(value, []).append(event)
    points: Any = nw.lit(0.0)
    for value, events in by_value.items():
        points = nw.when(nw.col(EVENT).is_in(events)).then(nw.lit(value)).otherwise(points)
    rows = lf.filter(_condition_expr(cond)).select(CID, TS, _p=points)
    if cond.half_life is None:
        scored = rows.with_columns(_score=nw.col("_p").cum_sum().over(CID, order_by=TS))
    else:
        half_life_us = cond.half_life / timedelta(microseconds=1)
        u = (nw.col(TS) - SCORE_ANCHOR_US).cast(nw.Float64()) / half_life_us
        rows = (
            rows.with_columns(_u=u)
            .with_columns(_b=(nw.col("_u") / SCORE_BLOCK).floor())
            .with_columns(_off=nw.col("_u") - SCORE_BLOCK * nw.col("_b"))
            .with_columns(_w=nw.col("_p") * nw.lit(2.0) ** nw.col("_off"))
            .with_columns(_run=nw.col("_w").cum_sum().over(CID, "_b", order_by=TS))
        )
        tail = (
            rows.filter(nw.col("_off") >= SCORE_BLOCK - SCORE_REACH)
            .group_by(CID, "_b")
            .agg((nw.col("_w").sum() * 2.0**-SCORE_BLOCK).alias("_carry"))
            .with_columns(nw.col("_b") + 1.0)
        )
        head = rows.filter(nw.col("_off") < SCORE_REACH).join(tail, on=[CID, "_b"], how="left")
        rest = rows.filter(nw.col("_off") >= SCORE_REACH).with_columns(_carry=nw.lit(0.0))
        total = nw.col("_run") + nw.col("_carry").fill_null(0.0)
        scored = nw.concat([head, rest.select(head.collect_schema().names())]).with_columns(
            _score=nw.lit(2.0) ** -nw.col("_off") * total
        )
    return (
        scored.filter(nw.col("_score") >= cond.threshold * (1.0 - SCORE_TOLERANCE))
        .group_by(CID)
        .agg(nw.col(TS).min().alias(name))
    )


@dataclass(frozen=True)
class _NwPlan:
    """How to classify under a funnel on an engine (see ``stages._Plan``).

    ``simple``: "any of these events" conditions, read as a per-event rank;
    ``complex_``: the others (``min_count``, points), each a first-hold time;
    split by :func:`funnelkit.stages.plan_conditions`, as on polars.
    """

    funnel: Funnel
    simple: tuple[tuple[int, EventRule], ...]
    complex_: tuple[tuple[int, Condition], ...]

    @classmethod
    def of(cls, funnel: Funnel) -> _NwPlan:
        return cls(funnel, *plan_conditions(funnel))

    @property
    def size(self) -> int:
        return len(self.funnel.stages)

    @property
    def lapses(self) -> bool:
        return any(stage.lapse is not None for stage in self.funnel.stages)

    def rank_expr(self) -> Any:
        """Per event: the highest stage it is simple evidence for (1 if none)."""
        out: Any = nw.lit(1, dtype=nw.Int16())
        for rank in range(2, self.size + 1):
            hit: Any = None
            for cond in (c for r, c in self.simple if r == rank):
                expr = _condition_expr(cond)
                hit = expr if hit is None else hit | expr
            if hit is not None:
                out = nw.when(hit).then(nw.lit(rank, dtype=nw.Int16())).otherwise(out)
        return out

    def named_expr(self) -> Any:
        names = self.funnel.event_names
        return _names_expr(names) if names else nw.lit(False)

    def current(self, clock: Any, *, rank: Any, act: Any, complex_reached: Sequence[Any]) -> Any:
        """Return the current stage rank: the highest reached, lapsed at ``clock`` (µs)."""
        reached = [rank.fill_null(1)]
        reached += [
            nw.when(hit).then(nw.lit(r, dtype=nw.Int16()))
            for hit, (r, _) in zip(complex_reached, self.complex_, strict=True)
        ]
        current: Any = _horizontal("max", reached)
        if not self.lapses:
            return current
        # One term per stage of a lapse chain, as ``stages._current_rank``.
        idle = clock - act
        stops: list[Any] = []
        for k, through in lapse_chains(self.funnel).items():
            lapse = self.funnel.stages[k - 1].lapse
            stop = current.is_in(through)
            if lapse is not None:  # a null idle time (no activity) never lapses
                stop = stop & ~(idle >= lapse.after // timedelta(microseconds=1)).fill_null(False)
            stops.append(nw.when(stop).then(nw.lit(k, dtype=nw.Int16())))
        return nw.coalesce(_horizontal("max", stops), current)


def _known_contacts(contacts: _Frame, cut: int | None) -> Any:
    """``contact_id`` and ``_created`` (one row per contact) of the contacts known by ``cut``."""
    names = contacts.lf.collect_schema().names()
    created = nw.col(CREATED) if CREATED in names else _lit_us(None)
    known = contacts.lf.select(CID, created.alias("_created")).filter(~nw.col(CID).is_null())
    if cut is not None:
        known = known.filter(nw.col("_created").is_null() | (nw.col("_created") <= cut))
    return known.group_by(CID).agg(nw.col("_created").min())


def _full_join(left: Any, right: Any) -> Any:
    """Join on ``contact_id`` keeping the contacts of both sides, one id column."""
    return (
        left.join(right, on=CID, how="full", suffix="_k")
        .with_columns(nw.coalesce(CID, f"{CID}_k").alias(CID))
        .drop(f"{CID}_k")
    )


def _classify(
    ev: _Frame,
    funnel: Funnel,
    *,
    cut: int | None,
    contacts: _Frame | None,
    entry_times: bool,
) -> Any:
    """:func:`funnelkit.stages.classify` on an engine; times in µs (see the module doc)."""
    funnel.check_columns(ev.schema)
    lf = ev.lf
    if cut is not None:
        lf = lf.filter(nw.col(TS) <= cut)
    plan = _NwPlan.of(funnel)
    size, complex_ = plan.size, plan.complex_
    timed = [k for k in range(2, size + 1) if any(r >= k for r, _ in plan.simple)]
    timed = timed if entry_times else []

    rows = lf.select(CID, TS, _r=plan.rank_expr(), _act=nw.when(plan.named_expr()).then(nw.col(TS)))
    if timed:
        rows = rows.with_columns(
            nw.when(nw.col("_r") >= k).then(nw.col(TS)).alias(f"_t{k}") for k in timed
        )
    aggs = [nw.col("_r").max(), nw.col("_act").max()]
    aggs += [nw.col(f"_t{k}").min() for k in timed]
    if entry_times:
        aggs.append(nw.col(TS).min().alias("_first"))
    if plan.lapses and cut is None:
        aggs.append(nw.col(TS).max().alias("_seen"))
    per_contact = rows.group_by(CID).agg(aggs)
    for index, (_, cond) in enumerate(complex_):
        times = _condition_times(lf, cond, f"_c{index}")
        per_contact = per_contact.join(times, on=CID, how="left")

    if contacts is not None:
        per_contact = _full_join(per_contact, _known_contacts(contacts, cut))
    else:
        per_contact = per_contact.with_columns(_created=_lit_us(None))

    out = per_contact
    clock: Any = _lit_us(cut)
    if plan.lapses and cut is None:
        out = out.with_columns(_clock=nw.col("_seen").max())
        clock = nw.col("_clock")
    current = plan.current(
        clock,
        rank=nw.col("_r"),
        act=nw.col("_act"),
        complex_reached=[~nw.col(f"_c{i}").is_null() for i in range(len(complex_))],
    )
    out = out.with_columns(_cur=current)

    ids = list(funnel.stage_ids)
    stage_id: Any = nw.when(nw.col("_cur") == 1).then(nw.lit(ids[0]))
    for rank in range(2, size + 1):
        stage_id = stage_id.when(nw.col("_cur") == rank).then(nw.lit(ids[rank - 1]))
    select: list[Any] = [
        nw.col(CID),
        stage_id.alias("stage"),
        nw.col("_cur").cast(nw.Int32()).alias("stage_rank"),
    ]
    if entry_times:
        select.append(nw.min_horizontal("_first", "_created").alias(f"{ids[0]}_at"))
        for k in range(2, size + 1):
            parts = [f"_t{k}"] if k in timed else []
            parts += [f"_c{i}" for i, (r, _) in enumerate(complex_) if r >= k]
            at = _horizontal("min", [nw.col(p) for p in parts]) if parts else _lit_us(None)
            select.append(at.cast(nw.Int64()).alias(f"{ids[k - 1]}_at"))
    select.append(nw.col("_act").cast(nw.Int64()).alias("last_activity_at"))
    return out.select(select)


def _time_columns(funnel: Funnel, entry_times: bool) -> list[str]:
    ats = [f"{s}_at" for s in funnel.stage_ids] if entry_times else []
    return [*ats, "last_activity_at"]


def _cut(as_of: Any) -> int | None:
    return _us(instant(as_of, "as_of"))


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
    :func:`_classify_on_engine` to get it in polars.

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

    Examples
    --------
    >>> import duckdb
    >>> from funnelkit.definitions import load_funnel
    >>> rel = duckdb.sql("SELECT 'c1' AS contact_id, TIMESTAMP '2024-01-01' AS occurred_at,"
    ...                  " 'form_fill' AS event, NULL::DOUBLE AS amount")
    >>> classify_query(rel, load_funnel("sales")).fetchall()[0][:3]
    ('c1', 'lead', 2)
    """
    ev = _events(events)
    out = _classify(
        ev,
        funnel,
        cut=_cut(as_of),
        contacts=_contacts(contacts, ev.engine),
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
        ``contact_id``, ``stage``, ``stage_rank``, ``<stage id>_at`` and
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
    ev = _events(events)
    out = _classify(
        ev,
        funnel,
        cut=_cut(as_of),
        contacts=_contacts(contacts, ev.engine),
        entry_times=entry_times,
    )
    return _collect(out, _time_columns(funnel, entry_times)).lazy()


def _snapshot_from_counts(funnel: Funnel, counts: Sequence[int], lang: str) -> Snapshot:
    """Return the :class:`~funnelkit.stages.Snapshot` of ``counts``, as ``snapshot()`` does."""
    from funnelkit.stages import snapshot_from_counts as finish

    return finish(funnel, counts, lang)


def _flow_ranks(ev: _Frame, funnel: Funnel, lo: int, hi: int, contacts: _Frame | None) -> Any:
    """``from_rank`` (at ``lo``, null if unknown) and ``to_rank`` per contact known at ``hi``.

    One pass over the events, as ``stages._ranks_at_two_instants`` does: the
    aggregates at ``lo`` are the same ones masked to the events up to ``lo``,
    and a condition of several events holds at ``lo`` when it first held by then.
    """
    funnel.check_columns(ev.schema)
    plan = _NwPlan.of(funnel)
    lf = ev.lf.filter(nw.col(TS) <= hi)
    early = nw.col(TS) <= lo
    rank = plan.rank_expr()
    act = nw.when(plan.named_expr()).then(nw.col(TS))
    per_contact = (
        lf.select(CID, TS, _r=rank, _act=act, _r0=nw.when(early).then(rank))
        .with_columns(_act0=nw.when(early).then(nw.col("_act")))
        .group_by(CID)
        .agg(
            nw.col("_r").max(),
            nw.col("_act").max(),
            nw.col("_r0").max(),
            nw.col("_act0").max(),
            nw.col(TS).min().alias("_first"),
        )
    )
    for index, (_, cond) in enumerate(plan.complex_):
        per_contact = per_contact.join(_condition_times(lf, cond, f"_c{index}"), on=CID, how="left")
    known_then: Any = nw.col("_first") <= lo
    if contacts is not None:
        listed_then = _known_contacts(contacts, lo).select(CID, _listed=nw.lit(True))
        listed = _known_contacts(contacts, hi).join(listed_then, on=CID, how="left")
        per_contact = _full_join(per_contact, listed)
        known_then = known_then.fill_null(False) | nw.col("_listed").fill_null(False)
    complex_ = range(len(plan.complex_))
    before = plan.current(
        _lit_us(lo),
        rank=nw.col("_r0"),
        act=nw.col("_act0"),
        complex_reached=[(nw.col(f"_c{i}") <= lo).fill_null(False) for i in complex_],
    )
    after = plan.current(
        _lit_us(hi),
        rank=nw.col("_r"),
        act=nw.col("_act"),
        complex_reached=[~nw.col(f"_c{i}").is_null() for i in complex_],
    )
    return per_contact.select(
        CID,
        nw.when(known_then).then(before).cast(nw.Int32()).alias("from_rank"),
        after.cast(nw.Int32()).alias("to_rank"),
    )


def _flows_table(
    ev: _Frame, funnel: Funnel, lo: int, hi: int, contacts: _Frame | None
) -> pl.DataFrame:
    pairs = (
        _flow_ranks(ev, funnel, lo, hi, contacts)
        .group_by("from_rank", "to_rank")
        .agg(nw.len().cast(nw.Int64()).alias("contacts"))
    )
    from funnelkit.stages import flows_table

    table = _collect(pairs).with_columns(pl.col("from_rank", "to_rank").cast(pl.Int32))
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
    ev = _events(events)
    lo_us, hi_us = _us(lo), _us(hi)
    assert lo_us is not None and hi_us is not None
    table = _flows_table(ev, funnel, lo_us, hi_us, _contacts(contacts, ev.engine))
    return Flows(funnel.name, lo, hi, table)


# --------------------------------------------------------------------------- funnels
@dataclass(frozen=True)
class _NwSpec:
    """A funnel spec (:class:`funnelkit.conversion._Spec`) and its narwhals step flags."""

    spec: Any  # conversion._Spec
    steps: tuple[Any, ...]
    exclusions: tuple[tuple[Any, int, int], ...]

    @property
    def n(self) -> int:
        return len(self.steps)


def _step_expr(spec: object, where: str) -> Any:

    if isinstance(spec, Stage):
        return _stage_expr(spec).fill_null(False)
    if isinstance(spec, StageLike) and not isinstance(spec, str):
        msg = (
            f"{where}: {type(spec).__name__} has only a polars evidence() expression, which "
            "DuckDB and Spark cannot run; give event names or a funnelkit Stage "
            "(e.g. load_funnel('inbound').stage('client'))"
        )
        raise ParameterError(msg)
    names = event_names_of(spec)
    if names is None:  # pragma: no cover - conversion._spec has refused it already
        msg = f"{where}: {spec!r} is not a step"
        raise ParameterError(msg)
    return _names_expr(names).fill_null(False)


def _nw_spec(
    steps: object,
    window: str | timedelta,
    order: object,
    first_entry: bool,
    exclusions: Iterable[object],
    *,
    stage_steps: object = "evidence",
    definition: object = None,
) -> _NwSpec:
    """Validate like :func:`funnelkit.conversion.funnel`, then build the narwhals flags.

    Stages read by entry are flagged on the ``_stage`` column of the entry
    rows (:func:`_entry_rows`); the other steps on the event names.
    """
    exclusions = list(exclusions)
    spec = resolve_spec(
        steps,
        window,
        order,
        first_entry,
        exclusions,
        stage_steps=stage_steps,
        definition=definition,
    )
    if spec.reading.entry:
        flags = tuple(_resolved_flag(s.stage, s.events) for s in spec.steps)
        kept = tuple(
            (_resolved_flag(e.stage, e.events), e.from_step, e.to_step) for e in spec.exclusions
        )
        return _NwSpec(spec, flags, kept)
    items: Sequence[object]
    if hasattr(steps, "stages") and not isinstance(steps, StageLike):
        items = list(steps.stages)
    elif isinstance(steps, Mapping):
        items = list(steps.values())
    else:
        assert isinstance(steps, Sequence)
        items = list(steps)
    flags = tuple(_step_expr(s, f"step {i}") for i, s in enumerate(items, 1))
    excl = []
    for i, item in enumerate(exclusions, 1):
        if not isinstance(item, Exclusion):
            assert isinstance(item, tuple)
            item = Exclusion(item[0], item[1], item[2])
        excl.append((_step_expr(item.event, f"exclusion {i}"), item.from_step, item.to_step))
    return _NwSpec(spec, flags, tuple(excl))


def _resolved_flag(stage: str | None, events: frozenset[str] | None) -> Any:
    """Return the flag of a step read by entry: its stage's entry rows, or its names."""
    if stage is not None:
        return (nw.col(STAGE) == stage).fill_null(False)
    assert events is not None  # resolve_step refuses the rest in the entry reading
    return _names_expr(events).fill_null(False)


def _f(i: int) -> str:
    return f"_f{i}"


def _instants(lf: Any, ns: _NwSpec, *, by: str | None) -> Any:
    """One row per contact and instant holding a step or excluded event.

    Columns: ``contact_id``, ``_ts``, ``_f1.._fn`` (step flags), ``_x1..``
    (exclusion flags), ``_first1`` (the contact's first step-1 instant) and,
    with ``by``, ``_by1`` (smallest ``by`` value of the step-1 rows there).
    """
    flags = {_f(i): e for i, e in enumerate(ns.steps, 1)}
    flags |= {f"_x{j}": e for j, (e, _, _) in enumerate(ns.exclusions, 1)}
    anyflag: Any = None
    for expr in flags.values():
        anyflag = expr if anyflag is None else anyflag | expr
    extra = {}
    if by is not None:
        extra["_by"] = nw.when(flags[_f(1)]).then(nw.col(by).cast(nw.String()))
    rows = lf.filter(anyflag).select(CID, TS, **flags, **extra)
    aggs = [nw.col(name).any() for name in flags]
    if by is not None:
        aggs.append(nw.col("_by").min().alias("_by1"))
    inst = rows.group_by(CID, TS).agg(aggs)
    first = nw.when(nw.col(_f(1))).then(nw.col(TS)).min().over(CID)
    return inst.with_columns(_first1=first)


def _latest(expr: Any) -> Any:
    """Return the running maximum of ``expr`` along a contact's instants (``_LO`` first).

    Cumulative functions keep nulls in place (as polars does), so nulls are
    first replaced by ``_LO``, which every later value exceeds.
    """
    return expr.fill_null(_LO).cum_max().over(CID, order_by=TS)


def _ordered_chains(inst: Any, ns: _NwSpec) -> Any:
    """Per contact reaching step 1: ``_lvl`` and the counted chain ``_t1.._tn`` (µs)."""
    spec = ns.spec
    n = ns.n
    strict = spec.order == "strict_increase"
    window = spec.window_us
    start = nw.col(_f(1))
    if spec.first_entry:
        start = start & (nw.col(TS) == nw.col("_first1"))
    rows = inst.with_columns(_s1=nw.when(start).then(nw.col(TS)))
    for k in range(2, n + 1):
        prev = f"_s{k - 1}"
        sources = {"_P": nw.col(prev)}
        if k >= 3:
            sources[f"_Q{k - 1}"] = nw.when(~nw.col(prev).is_null()).then(nw.col(TS))
            for j in range(2, k - 1):
                sources[f"_Q{j}"] = nw.col(f"_c{k - 1}_{j}")
        rows = rows.with_columns(_latest(expr).alias(name) for name, expr in sources.items())
        if strict:
            rows = rows.with_columns(
                nw.col(name).shift(1).over(CID, order_by=TS).alias(name) for name in sources
            )
        rows = rows.with_columns(
            nw.when(nw.col(name) != _LO).then(nw.col(name)).alias(name) for name in sources
        )
        ok = nw.col(_f(k)) & ((nw.col(TS) - nw.col("_P")) <= window).fill_null(False)
        made = {f"_s{k}": nw.when(ok).then(nw.col("_P"))}
        for j in range(2, k):
            made[f"_c{k}_{j}"] = nw.when(ok).then(nw.col(f"_Q{j}"))
        rows = rows.with_columns(**made).drop(list(sources))
    lvl: Any = nw.lit(0, dtype=nw.Int8())
    for k in range(1, n + 1):
        lvl = nw.when(~nw.col(f"_s{k}").is_null()).then(nw.lit(k, dtype=nw.Int8())).otherwise(lvl)
    rows = rows.with_columns(
        _lvl=lvl,
        **{
            f"_e{k}": nw.when(~nw.col(f"_s{k}").is_null()).then(nw.col(TS)) for k in range(1, n + 1)
        },
    )
    aggs = [nw.col("_lvl").max()]
    for k in range(1, n + 1):
        aggs.append(nw.col(f"_e{k}").min())
        if k >= 2:
            aggs.append(nw.col(f"_s{k}").min())
        aggs += [nw.col(f"_c{k}_{j}").min() for j in range(2, k)]
    per = rows.group_by(CID).agg(aggs).filter(nw.col("_lvl") > 0)
    chain = []
    for j in range(1, n + 1):
        value: Any = nw.when(nw.col("_lvl") == j).then(nw.col(f"_e{j}"))
        for top in range(j + 1, n + 1):
            src = f"_s{top}" if j == 1 else f"_c{top}_{j}"
            value = value.when(nw.col("_lvl") == top).then(nw.col(src))
        chain.append(value.alias(f"_t{j}"))
    return per.select(CID, nw.col("_lvl").cast(nw.Int64()), *chain)


def _any_chains(inst: Any, ns: _NwSpec) -> Any:
    """``order="any"``: each instant anchors the window ``[t, t + window]``."""
    spec = ns.spec
    n = ns.n
    first = nw.col(_f(1))
    if spec.first_entry:
        first = first & (nw.col(TS) == nw.col("_first1"))
    flags = [first] + [nw.col(_f(i)) for i in range(2, n + 1)]
    nxt = {
        f"_n{i}": nw.when(f)
        .then(nw.col(TS))
        .fill_null(_HI)
        .cum_min(reverse=True)
        .over(CID, order_by=TS)
        for i, f in enumerate(flags, 1)
    }
    rows = inst.with_columns(**nxt)
    rows = rows.with_columns(
        nw.when(nw.col(name) != _HI).then(nw.col(name)).alias(name) for name in nxt
    )
    oks = [
        ((nw.col(f"_n{i}") - nw.col(TS)) <= spec.window_us).fill_null(False)
        for i in range(1, n + 1)
    ]
    lvl: Any = nw.lit(0, dtype=nw.Int8())
    both: Any = None
    steps = []
    for ok in oks:
        both = ok if both is None else both & ok
        steps.append(both)
    for i, cond in enumerate(steps, 1):
        lvl = nw.when(cond).then(nw.lit(i, dtype=nw.Int8())).otherwise(lvl)
    rows = rows.with_columns(_lvl=lvl).with_columns(_L=nw.col("_lvl").max().over(CID))
    top = nw.col("_lvl") == nw.col("_L")
    rows = rows.with_columns(
        **{
            f"_m{i}": nw.when(top & (nw.col("_L") >= i)).then(nw.col(f"_n{i}"))
            for i in range(1, n + 1)
        }
    )
    per = rows.group_by(CID).agg(
        nw.col("_lvl").max(), *(nw.col(f"_m{i}").min().alias(f"_t{i}") for i in range(1, n + 1))
    )
    return per.filter(nw.col("_lvl") > 0).with_columns(nw.col("_lvl").cast(nw.Int64()))


def _excluded(counted: Any, inst: Any, ns: _NwSpec) -> Any:
    if not ns.exclusions:
        return counted.with_columns(_excluded=nw.lit(False))
    window = ns.spec.window_us
    hits = []
    for j, (_, a, b) in enumerate(ns.exclusions, 1):
        events = inst.filter(nw.col(f"_x{j}")).select(CID, nw.col(TS).alias("_xts"))
        inside = (
            nw.when(nw.col("_lvl") >= b)
            .then(nw.col("_xts") < nw.col(f"_t{b}"))
            .otherwise(nw.col("_xts") <= nw.col("_t1") + window)
        )
        hit = (
            counted.filter(nw.col("_lvl") >= a)
            .select(CID, "_lvl", *sorted({"_t1", f"_t{a}", f"_t{b}"}))
            .join(events, on=CID, how="inner")
            .filter((nw.col("_xts") > nw.col(f"_t{a}")) & inside.fill_null(False))
            .select(CID)
        )
        hits.append(hit)
    excluded = nw.concat(hits).unique().with_columns(_hit=nw.lit(True))
    return (
        counted.join(excluded, on=CID, how="left")
        .with_columns(_excluded=nw.col("_hit").fill_null(False))
        .drop("_hit")
    )


def _segment_source(ev: _Frame, by: str | None, contacts: _Frame | None) -> str | None:
    if by is None:
        return None
    names = ev.lf.collect_schema().names()
    if by in names and by != TS:
        return "events"
    contact_names = contacts.lf.collect_schema().names() if contacts is not None else []
    if by in contact_names:
        return "contacts"
    shown = [c if c != TS else T for c in names]
    hint = did_you_mean(by, [*shown, *contact_names])
    where = (
        "events or contacts"
        if contacts is not None
        else "events (pass contacts= for contact attributes)"
    )
    msg = f"by: no column {by!r} in the {where}.{hint}"
    raise MissingColumnError(msg)


def _chains(
    ev: _Frame,
    ns: _NwSpec,
    *,
    since: int | None,
    until: int | None,
    by: str | None = None,
    contacts: _Frame | None = None,
) -> Any:
    """Return one row per contact reaching step 1: ``_lvl``, ``_t1..``, ``_excluded``..."""
    source = _segment_source(ev, by, contacts)
    lf = _restrict(ev.lf, since, until)
    by_column = by if source == "events" else None
    if ns.spec.reading.entry:
        read = replace(ev, lf=lf)
        lf = _entry_rows(read, ns.spec, _entry_contacts(contacts, since, until), by=by_column)
        by_column = _BY if by_column is not None else None
    inst = _instants(lf, ns, by=by_column)
    counted = _any_chains(inst, ns) if ns.spec.order == "any" else _ordered_chains(inst, ns)
    counted = _excluded(counted, inst, ns)
    if source == "events":
        first = (
            inst.filter(nw.col(_f(1)) & (nw.col(TS) == nw.col("_first1")))
            .group_by(CID)
            .agg(nw.col("_by1").min().alias("_seg_value"))
        )
        counted = counted.join(first, on=CID, how="left")
    elif source == "contacts" and contacts is not None and by is not None:
        attrs = contacts.lf.group_by(CID).agg(
            nw.col(by).cast(nw.String()).min().alias("_seg_value")
        )
        counted = counted.join(attrs, on=CID, how="left")
    return counted


def _entry_contacts(contacts: _Frame | None, since: int | None, until: int | None) -> _Frame | None:
    """Keep the contacts the classification reads: none created outside ``[since, until)``.

    As :func:`funnelkit.chains.entry_contacts`.
    """
    if contacts is None or CREATED not in contacts.lf.collect_schema().names():
        return contacts
    created = nw.col(CREATED)
    keep: Any = nw.lit(True)
    if since is not None:
        keep = keep & (created >= since)
    if until is not None:
        keep = keep & (created < until)
    return replace(contacts, lf=contacts.lf.filter(created.is_null() | keep))


def _stage_entries(
    ev: _Frame, funnel: Funnel, stage_ids: Sequence[str], contacts: _Frame | None
) -> Any:
    """Return one row per contact and stage of ``stage_ids`` it entered.

    Columns ``contact_id``, ``_ts`` and ``_stage``.

    The instants are the ``<stage>_at`` of the classification of ``ev``
    (as :func:`funnelkit.chains.stage_entries`).
    """
    classified = _classify(ev, funnel, cut=None, contacts=contacts, entry_times=True)
    parts = [
        classified.select(
            CID,
            nw.col(f"{stage_id}_at").cast(nw.Int64()).alias(TS),
            nw.lit(stage_id, dtype=nw.String()).alias(STAGE),
        ).filter(~nw.col(TS).is_null())
        for stage_id in stage_ids
    ]
    return parts[0] if len(parts) == 1 else nw.concat(parts)


def _entry_rows(ev: _Frame, spec: Any, contacts: _Frame | None, *, by: str | None) -> Any:
    """Return the rows the steps read when stages are read by entry (``chains._step_rows``).

    The stage entries (``event`` null) and the raw events the other steps
    name (``_stage`` null); with ``by`` (an events column), ``_BY`` holds on
    an entry the smallest value among the contact's events at that instant.
    """
    funnel = spec.reading.definition
    assert funnel is not None  # resolve_spec refuses a stage read by entry without it
    rows = _stage_entries(ev, funnel, spec.stage_ids, contacts).with_columns(
        nw.lit(None, dtype=nw.String()).alias(EVENT)
    )
    columns = [CID, TS, EVENT, STAGE]
    raw = ev.lf.filter(_names_expr(spec.raw_names).fill_null(False)) if spec.raw_names else None
    if by is not None:
        value = nw.col(by).cast(nw.String())
        at_instant = ev.lf.group_by(CID, TS).agg(value.min().alias(_BY))
        rows = rows.join(at_instant, on=[CID, TS], how="left")
        columns.append(_BY)
        if raw is not None:
            raw = raw.with_columns(value.alias(_BY))
    rows = rows.select(columns)
    if raw is None:
        return rows
    raw = raw.with_columns(nw.lit(None, dtype=nw.String()).alias(STAGE)).select(columns)
    return nw.concat([rows, raw])


def _restrict(lf: Any, since: int | None, until: int | None) -> Any:
    if since is not None:
        lf = lf.filter(nw.col(TS) >= since)
    if until is not None:
        lf = lf.filter(nw.col(TS) < until)
    return lf


def _wide_counts(chains: Any, n: int, group: str | None) -> Any:
    """``_excl`` and ``c1..cn`` (contacts at or past each step), per ``group``."""
    kept = ~nw.col("_excluded")
    aggs = [nw.col("_excluded").cast(nw.Int64()).sum().alias("_excl")] + [
        (kept & (nw.col("_lvl") >= k)).cast(nw.Int64()).sum().alias(f"c{k}")
        for k in range(1, n + 1)
    ]
    if group is None:
        return chains.select(aggs)
    return chains.group_by(group).agg(aggs)


def _durations_query(
    chains: Any, ns: _NwSpec, *, counts: bool
) -> tuple[Any, list[tuple[int, int]], int, int]:
    """One row: per transition its count, median, p90, mean and histogram bins.

    With ``counts``, the same row also holds the step counts of
    :func:`_wide_counts`, so that one query over the chains gives everything.
    """
    spec = ns.spec
    width = bin_width(spec.window_us)
    n_bins = max(1, math.ceil(spec.window_us / width))
    pairs = transitions(spec)
    kept = ~nw.col("_excluded")
    columns = {}
    for a, b in pairs:
        if spec.order == "any":
            times = [nw.col(f"_t{j}") for j in range(1, ns.n + 1)]
            d = _horizontal("max", times) - _horizontal("min", times)
        else:
            d = nw.col(f"_t{b}") - nw.col(f"_t{a}")
        columns[f"_d{a}_{b}"] = nw.when(kept & (nw.col("_lvl") >= b)).then(d)
    rows = chains
    if columns:
        rows = rows.with_columns(**columns).with_columns(
            ((nw.col(name) // width).clip(0, n_bins - 1)).alias(f"_bin{name}") for name in columns
        )
    kept_n = ~nw.col("_excluded")
    aggs = []
    if counts:
        aggs.append(nw.col("_excluded").cast(nw.Int64()).sum().alias("_excl"))
        aggs += [
            (kept_n & (nw.col("_lvl") >= k)).cast(nw.Int64()).sum().alias(f"c{k}")
            for k in range(1, ns.n + 1)
        ]
    for name in columns:
        aggs += [
            nw.col(name).count().alias(f"{name}_n"),
            nw.col(name).quantile(0.5, interpolation="linear").alias(f"{name}_median"),
            nw.col(name).quantile(0.9, interpolation="linear").alias(f"{name}_p90"),
            nw.col(name).mean().alias(f"{name}_mean"),
        ]
        aggs += [
            (nw.col(f"_bin{name}") == i).cast(nw.Int64()).sum().alias(f"{name}_b{i}")
            for i in range(n_bins)
        ]
    if not aggs:
        aggs = [nw.len().alias("_none")]
    return rows.select(aggs), pairs, width, n_bins


def _finish_durations(
    row: Mapping[str, Any], pairs: list[tuple[int, int]], n_bins: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    summary = pl.DataFrame(
        {
            "from_step": [a for a, _ in pairs],
            "to_step": [b for _, b in pairs],
            "contacts": [int(row[f"_d{a}_{b}_n"] or 0) for a, b in pairs],
            "median": [row[f"_d{a}_{b}_median"] for a, b in pairs],
            "p90": [row[f"_d{a}_{b}_p90"] for a, b in pairs],
            "mean": [row[f"_d{a}_{b}_mean"] for a, b in pairs],
        },
        schema={
            "from_step": pl.Int64,
            "to_step": pl.Int64,
            "contacts": pl.Int64,
            "median": pl.Float64,
            "p90": pl.Float64,
            "mean": pl.Float64,
        },
    )
    histogram = pl.DataFrame(
        {
            "from_step": [a for a, _ in pairs for _ in range(n_bins)],
            "to_step": [b for _, b in pairs for _ in range(n_bins)],
            "bin": [i for _ in pairs for i in range(n_bins)],
            "contacts": [int(row[f"_d{a}_{b}_b{i}"] or 0) for a, b in pairs for i in range(n_bins)],
        },
        schema={"from_step": pl.Int64, "to_step": pl.Int64, "bin": pl.Int64, "contacts": pl.Int64},
    )
    return summary, histogram


def _wide_frame(df: pl.DataFrame, n: int) -> pl.DataFrame:
    counts = ["_excl", *(f"c{k}" for k in range(1, n + 1))]
    return df.with_columns(pl.col(counts).fill_null(0).cast(pl.Int64))


def _span_args(since: Any, until: Any) -> tuple[int | None, int | None]:
    """``since`` and ``until`` as the polars path reads them (a reversed span is refused)."""
    lo, hi = time_bounds(since, until)
    return _us(lo), _us(hi)


def _as_of_arg(value: Any) -> int | None:
    """``as_of`` as the polars path reads it: a bare date means the end of that day."""
    return _us(parse_as_of(value))


@register("funnel")
def _funnel_on_engine(
    events: NativeFrame,
    steps: Any,
    *,
    window: str | timedelta,
    order: str = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Any] = (),
    by: str | None = None,
    top: int | None = 10,
    min_size: int = 30,
    contacts: NativeFrame | None = None,
    since: Any = None,
    until: Any = None,
    stage_steps: str = "evidence",
    definition: Funnel | None = None,
) -> FunnelResult:
    """:func:`funnelkit.conversion.funnel` run on the events' engine.

    Every order mode, ``first_entry``, exclusions, breakdowns and the time to
    convert are computed by the engine; only the counts per step (per
    segment), the duration quantiles and the histogram bins come back.

    Parameters
    ----------
    events
        A DuckDB relation or a Spark DataFrame (see :func:`classify_query`).
    steps
        As in :func:`funnelkit.conversion.funnel`: event names, lists of
        names, funnelkit :class:`~funnelkit.definitions.Stage` objects, a
        mapping ``name -> step`` or a funnel definition.  (A custom stage
        object whose ``evidence()`` is a polars expression cannot run on an
        engine.)
    window, order, first_entry, exclusions, by, top, min_size, since, until
        As in :func:`funnelkit.conversion.funnel`.
    contacts
        Contacts on the same engine, for ``by`` on a contact attribute (and,
        with ``stage_steps="entry"``, read by the classification).
    stage_steps, definition
        As in :func:`funnelkit.conversion.funnel`: ``"entry"`` reads a stage
        step at the ``<stage>_at`` of the engine's classification.

    Returns
    -------
    funnelkit.conversion.FunnelResult

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-09-01', 'page_view'),"
    ...     " ('a', TIMESTAMP '2026-09-03', 'purchase')) AS t(contact_id, occurred_at, event)")
    >>> from funnelkit.conversion import funnel
    >>> funnel(rel, ["page_view", "purchase"], window="7d").table["count"].to_list()
    [1, 1]
    """
    from funnelkit.conversion import FunnelResult, finish_time_to_convert

    ns = _nw_spec(
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
    ev = _events(events)
    people = _contacts(contacts, ev.engine)
    lo, hi = _span_args(since, until)
    chains = _chains(
        ev,
        ns,
        since=lo,
        until=hi,
        by=by,
        contacts=people,
    )
    spec = ns.spec
    counts = ["_excl", *(f"c{k}" for k in range(1, ns.n + 1))]
    durations, pairs, width, n_bins = _durations_query(chains, ns, counts=by is None)
    row = _collect(durations).row(0, named=True)
    if by is None:
        total = _wide_frame(pl.DataFrame({k: [row[k]] for k in counts}), ns.n)
        breakdown = None
    else:
        wide = _wide_frame(_collect(_wide_counts(chains, ns.n, "_seg_value")), ns.n)
        wide = wide.with_columns(pl.col("_seg_value").cast(pl.String))
        total = wide.select(pl.col(counts).sum())
        merged = merge_segments(wide, spec, top, min_size)
        long = long_steps(merged.drop("_excl", "suppressed"), spec, ["segment"])
        flags = merged.select("segment", "suppressed", excluded=pl.col("_excl"))
        long = flags.join(long, on="segment", how="left", maintain_order="left")
        breakdown = suppress_small_segments(long)
    summary, histogram = _finish_durations(row, pairs, n_bins)
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


_PERIOD_US = {"day": (_DAY_US, 0), "week": (_WEEK_US, _MONDAY_US)}


def _with_period_start(lf: Any, column: str, period: str, out: str) -> Any:
    """Add ``out``: the start (µs) of the ``period`` (UTC) holding ``column`` (µs).

    Days and ISO weeks are fixed lengths from an origin.  For calendar
    months the engine keeps the day: the counts come back per day, and
    :func:`_by_period` adds the days of a month up in polars.
    """
    size, origin = _PERIOD_US.get(period, (_DAY_US, 0))
    return lf.with_columns(_floor_to(nw.col(column), size, origin).alias(out))


def _by_period(counts: pl.DataFrame, column: str, period: str, keys: Sequence[str]) -> pl.DataFrame:
    """Add counts per day up to counts per calendar month (UTC) for ``period="month"``.

    ``column`` holds the period starts (UTC date-times); the other columns
    but ``keys`` are counts, summed.
    """
    if period in _PERIOD_US:
        return counts
    group = [column, *keys]
    sums = [c for c in counts.columns if c not in group]
    return (
        counts.with_columns(pl.col(column).dt.truncate(PERIODS[period]))
        .group_by(group, maintain_order=True)
        .agg(pl.col(sums).sum())
    )


def _max_ts(lf: Any) -> int | None:
    value = _collect(lf.select(nw.col(TS).max().alias("_m"))).item()
    return None if value is None else int(value)


@register("conversion_over_time")
def _conversion_over_time_on_engine(
    events: NativeFrame,
    steps: Any,
    *,
    window: str | timedelta,
    period: str = "week",
    as_of: Any = None,
    order: str = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Any] = (),
    since: Any = None,
    until: Any = None,
    stage_steps: str = "evidence",
    definition: Funnel | None = None,
) -> ConversionTrend:
    """:func:`funnelkit.conversion.conversion_over_time` run on the events' engine.

    ``period`` is ``"day"`` or ``"week"`` (ISO weeks) on an engine.

    Returns
    -------
    funnelkit.conversion.ConversionTrend

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-09-07', 'page_view'),"
    ...     " ('a', TIMESTAMP '2026-09-09', 'purchase')) AS t(contact_id, occurred_at, event)")
    >>> from funnelkit.conversion import conversion_over_time
    >>> trend = conversion_over_time(rel, ["page_view", "purchase"], window="7d")
    >>> trend.table.select("step", "count").rows()
    [(1, 1), (2, 1)]
    """
    ns = _nw_spec(
        steps,
        window,
        order,
        first_entry,
        exclusions,
        stage_steps=stage_steps,
        definition=definition,
    )
    checked = check_period(period)
    ev = _events(events)
    lo, hi = _span_args(since, until)
    known = _as_of_arg(as_of)
    if known is None:
        known = _max_ts(_restrict(ev.lf, lo, hi))
    chains = _with_period_start(_chains(ev, ns, since=lo, until=hi), "_t1", checked, "_seg_value")
    counts = _collect(_wide_counts(chains, ns.n, "_seg_value"), ["_seg_value"])
    wide = _wide_frame(_by_period(counts, "_seg_value", checked, []), ns.n)
    return _finish_trend(wide.rename({"_seg_value": "period_start"}), ns, checked, known)


def _finish_trend(
    wide: pl.DataFrame, ns: _NwSpec, period: str, known_us: int | None
) -> ConversionTrend:
    """As the end of :func:`funnelkit.conversion.conversion_over_time`."""
    from funnelkit.conversion import finish_trend as finish

    return finish(wide, ns.spec, period, _from_us(known_us))


def _compare_trend(
    trend: ConversionTrend, period: str, current: Any, alpha: float
) -> PeriodComparison:
    """As the end of :func:`funnelkit.conversion.compare_periods`, from its trend."""
    from funnelkit.conversion import compare_trend

    return compare_trend(trend, current=current, alpha=alpha)


@register("compare_periods")
def _compare_periods_on_engine(
    events: NativeFrame,
    steps: Any,
    *,
    window: str | timedelta,
    period: str = "week",
    current: Any = None,
    as_of: Any = None,
    alpha: float = 0.05,
    order: str = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Any] = (),
    since: Any = None,
    until: Any = None,
    stage_steps: str = "evidence",
    definition: Funnel | None = None,
) -> PeriodComparison:
    """:func:`funnelkit.conversion.compare_periods` run on the events' engine.

    The trend per period comes from the engine
    (:func:`_conversion_over_time_on_engine`); the comparison of two of its
    periods is drawn from it exactly as the polars path does.

    Returns
    -------
    funnelkit.conversion.PeriodComparison

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-09-07', 'page_view'),"
    ...     " ('b', TIMESTAMP '2026-09-14', 'page_view'),"
    ...     " ('z', TIMESTAMP '2026-10-30', 'page_view'))"
    ...     " AS t(contact_id, occurred_at, event)")
    >>> from funnelkit.conversion import compare_periods
    >>> out = compare_periods(rel, ["page_view", "purchase"], window="1d")
    >>> out.table["verdict"].to_list()
    ['too few', 'too few']
    """
    check_alpha(alpha)
    trend = _conversion_over_time_on_engine(
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
    return _compare_trend(trend, str(period), current, alpha)


@register("cohorts")
def _cohorts_on_engine(
    events: NativeFrame,
    target: Any,
    *,
    period: str = "month",
    acquisition: str = "first_event",
    contacts: NativeFrame | None = None,
    horizon: str | timedelta = "90d",
    as_of: Any = None,
    since: Any = None,
    until: Any = None,
    stage_steps: str = "evidence",
    definition: Funnel | None = None,
) -> CohortTable:
    """:func:`funnelkit.conversion.cohorts` run on the events' engine.

    The per-contact acquisition and conversion days are computed by the
    engine, which returns counts per (cohort, day); the Kaplan-Meier curve is
    then drawn from those counts exactly as the polars path does.

    Parameters
    ----------
    events
        A DuckDB relation or a Spark DataFrame (see :func:`classify_query`).
    target, period, acquisition, horizon, as_of, since, until, stage_steps, definition
        As in :func:`funnelkit.conversion.cohorts`.
    contacts
        Contacts on the same engine: their ``created_at`` for
        ``acquisition="created_at"``, read by the classification with
        ``stage_steps="entry"``.

    Returns
    -------
    funnelkit.conversion.CohortTable

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', TIMESTAMP '2026-09-01', 'page_view'),"
    ...     " ('a', TIMESTAMP '2026-09-03', 'purchase'),"
    ...     " ('b', TIMESTAMP '2026-09-01', 'page_view'),"
    ...     " ('c', TIMESTAMP '2026-09-11', 'page_view')) AS t(contact_id, occurred_at, event)")
    >>> from funnelkit.conversion import cohorts
    >>> table = cohorts(rel, "purchase", period="week", horizon="3d").table
    >>> table.filter(pl.col("day") == 2).select("cohort_size", "converted", "share").row(0)
    (2, 1, 0.5)
    """
    from funnelkit.conversion import COHORT_SCHEMA, CohortTable
    from funnelkit.durations import parse_duration

    reading = stage_reading(target, stage_steps, definition)
    step = resolve_step(target, "target", reading=reading)
    if reading.entry:
        check_some_stage([step], reading)
    checked = check_period(period)
    if acquisition not in ("first_event", "created_at"):
        hint = did_you_mean(str(acquisition), ("first_event", "created_at"))
        msg = f"acquisition: {acquisition!r} is not 'first_event' or 'created_at'.{hint}"
        raise ParameterError(msg)
    by_entry = step.stage is not None and reading.definition is not None
    flag = None if by_entry else _step_expr(target, "target")
    span = parse_duration(horizon, name="horizon")
    horizon_days = span // timedelta(days=1)
    ev = _events(events)
    people = _contacts(contacts, ev.engine)
    lo, hi = _span_args(since, until)
    lf = _restrict(ev.lf, lo, hi)
    known = _as_of_arg(as_of)
    if known is None:
        known = _max_ts(lf)
    if known is None:
        empty = pl.DataFrame(schema=COHORT_SCHEMA)
        return CohortTable(empty, step.name, checked, str(acquisition), span, None, reading.mode)
    lf = lf.filter(nw.col(TS) <= known)
    if flag is not None and acquisition == "first_event":  # one pass over the events
        per_contact = (
            lf.with_columns(_h=nw.when(flag).then(nw.col(TS)))
            .group_by(CID)
            .agg(nw.col(TS).min().alias("_acq"), nw.col("_h").min().alias("_hit"))
        )
    else:
        if flag is None:
            assert step.stage is not None and reading.definition is not None
            known_people = _entry_contacts(people, lo, hi)
            if known_people is not None and CREATED in known_people.lf.collect_schema().names():
                created = nw.col(CREATED)
                kept = known_people.lf.filter(created.is_null() | (created <= known))
                known_people = replace(known_people, lf=kept)
            read = replace(ev, lf=lf)
            hits = _stage_entries(read, reading.definition, [step.stage], known_people)
        else:
            hits = lf.filter(flag)
        reached = hits.group_by(CID).agg(nw.col(TS).min().alias("_hit"))
        if acquisition == "first_event":
            acquired = lf.group_by(CID).agg(nw.col(TS).min().alias("_acq"))
        else:
            if people is None or CREATED not in people.lf.collect_schema().names():
                msg = "acquisition='created_at' needs contacts= with a 'created_at' column"
                raise MissingColumnError(msg)
            acquired = (
                people.lf.select(CID, nw.col(CREATED).alias("_acq"))
                .filter(~nw.col("_acq").is_null() & (nw.col("_acq") <= known))
                .group_by(CID)
                .agg(nw.col("_acq").min())
            )
        per_contact = acquired.join(reached, on=CID, how="left")
    per_contact = _with_period_start(per_contact, "_acq", checked, "cohort_start").select(
        "cohort_start",
        ((known - nw.col("_acq")) // _DAY_US).alias("_obs"),
        nw.when(~nw.col("_hit").is_null())
        .then(nw.max_horizontal((nw.col("_hit") - nw.col("_acq")) // _DAY_US, nw.lit(0)))
        .alias("_day"),
    )
    grouped = (
        per_contact.with_columns(
            _conv=~nw.col("_day").is_null(),
            day=nw.when(~nw.col("_day").is_null()).then(nw.col("_day")).otherwise(nw.col("_obs")),
        )
        .group_by("cohort_start", "_conv", "day")
        .agg(nw.len().cast(nw.Int64()).alias("_n"))
    )
    counts = _collect(grouped, ["cohort_start"]).with_columns(pl.col("day").cast(pl.Int64))
    counts = _by_period(counts, "cohort_start", checked, ["_conv", "day"])
    curve = _cohort_curve(counts, horizon_days)
    return CohortTable(
        table=curve,
        target=step.name,
        period=checked,
        acquisition=str(acquisition),
        horizon=span,
        as_of=_from_us(known),
        stage_steps=reading.mode,
    )


def _cohort_curve(counts: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """Draw the Kaplan-Meier table of :func:`funnelkit.conversion.cohorts` from counts."""
    from funnelkit.conversion import km_curve

    lazy = counts.lazy()
    sizes = lazy.group_by("cohort_start").agg(cohort_size=pl.col("_n").sum().cast(pl.Int64))
    converted = lazy.filter(pl.col("_conv")).select("cohort_start", "day", converted=pl.col("_n"))
    censored = lazy.filter(~pl.col("_conv")).select("cohort_start", "day", _censored=pl.col("_n"))
    return km_curve(sizes, converted, censored, horizon_days).collect()


# --------------------------------------------------------------------------- weekly
def event_span(events: NativeFrame) -> tuple[datetime | None, datetime | None]:
    """Return the first and last ``occurred_at`` of the events (``None`` when empty).

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql("SELECT 'a' AS contact_id, TIMESTAMP '2026-11-02' AS occurred_at,"
    ...                  " 'like' AS event")
    >>> event_span(rel)[1].isoformat()
    '2026-11-02T00:00:00+00:00'
    """
    ev = _events(events)
    row = _collect(ev.lf.select(nw.col(TS).min().alias("_lo"), nw.col(TS).max().alias("_hi"))).row(
        0
    )
    return _from_us(row[0]), _from_us(row[1])


@register("last_complete_week")
def _last_complete_week_on_engine(events: NativeFrame) -> IsoWeek:
    """:func:`funnelkit.weekly.last_complete_week` of events on an engine.

    Returns
    -------
    funnelkit.weekly.IsoWeek

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql("SELECT 'a' AS contact_id, TIMESTAMP '2026-11-22 23:00' AS occurred_at,"
    ...                  " 'like' AS event")
    >>> from funnelkit.weekly import last_complete_week
    >>> str(last_complete_week(rel))
    '2026-W47'
    """
    from funnelkit.errors import EmptyInputError
    from funnelkit.weekly import IsoWeek

    _, latest = event_span(events)
    if latest is None:
        msg = "week: the events hold no row, so there is no complete week to report on."
        raise EmptyInputError(msg)
    week = IsoWeek.of(latest)
    return week if latest.isoweekday() == 7 else week.shift(-1)


@register("stalled_contacts")
def _stalled_contacts_on_engine(
    events: NativeFrame,
    funnel: Funnel | str,
    *,
    as_of: datetime,
    contacts: NativeFrame | None = None,
    stage: str | None = None,
    limit: int = 10,
) -> pl.DataFrame:
    """:func:`funnelkit.weekly.stalled_contacts` run on the events' engine.

    Only the ``limit`` rows shown come back from the engine.

    Examples
    --------
    >>> import duckdb, datetime as dt
    >>> rel = duckdb.sql("SELECT 'a' AS contact_id, TIMESTAMP '2026-11-03' AS occurred_at,"
    ...                  " 'ebook_download' AS event, NULL::DOUBLE AS amount")
    >>> as_of = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    >>> from funnelkit.weekly import stalled_contacts
    >>> stalled_contacts(rel, "inbound", as_of=as_of)["idle_days"].to_list()
    [13]
    """
    from funnelkit.weekly import as_funnel, stalled_stage

    definition = as_funnel(funnel)
    chosen = definition.stage(stage).id if stage else stalled_stage(definition)
    ev = _events(events)
    classified = _classify(
        ev,
        definition,
        cut=_us(instant_before(as_of)),
        contacts=_contacts(contacts, ev.engine),
        entry_times=True,
    )
    top = (
        classified.filter(nw.col("stage") == chosen)
        .select(CID, "stage", nw.col(f"{chosen}_at").alias("reached_at"), "last_activity_at")
        .sort("last_activity_at", CID, nulls_last=False)
        .head(limit)
    )
    rows = _collect(top, ["reached_at", "last_activity_at"])
    return (
        rows.with_columns(
            ((pl.lit(as_of) - pl.col("last_activity_at")).dt.total_days()).alias("idle_days")
        )
        .sort("last_activity_at", CID, nulls_last=False)
        .head(limit)
    )


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
    ev = _events(events)
    people = _contacts(contacts, ev.engine)
    cut_dt = instant_before(target.end)
    cut = _us(cut_dt)
    start_cut = _us(instant_before(target.start))
    assert cut is not None and start_cut is not None

    # Classification as of the week's end: snapshot and entries in one pass.
    history = [target.shift(-i) for i in reversed(range(weeks_of_history))]
    weeks = sorted({*history, target.shift(-1)})
    classified = _classify(ev, definition, cut=cut, contacts=people, entry_times=True)
    aggs = [
        (nw.col("stage_rank") == k).cast(nw.Int64()).sum().alias(f"_n{k}")
        for k in range(1, len(definition.stages) + 1)
    ]
    for i, w in enumerate(weeks):
        lo = int(_us(w.start) or 0)
        for rank, stage in enumerate(definition.stages, 1):
            at = nw.col(f"{stage.id}_at")
            aggs.append(
                ((at >= lo) & (at < lo + _WEEK_US))
                .fill_null(False)
                .cast(nw.Int64())
                .sum()
                .alias(f"_w{i}_{rank}")
            )
    counts = _collect(classified.select(aggs)).row(0, named=True)
    snap = _snapshot_from_counts(
        definition, [int(counts[f"_n{k}"] or 0) for k in range(1, len(definition.stages) + 1)], "en"
    )
    table = _flows_table(ev, definition, start_cut, cut, people)
    week_flows = Flows(definition.name, instant_before(target.start), cut_dt, table)
    entries = _entries_table(counts, definition, weeks)
    headline = count_kpis(entries, definition, target)
    entries = entries.filter(pl.col("week").is_in([str(w) for w in history]))

    # Conversion: the weekly trend, the comparison drawn from it, the funnel.
    rates_week = last_closed_week(target, span)
    since = min(history[0], rates_week.shift(-1)).start
    ns = _nw_spec(definition, span, "ordered", False, ())
    size, origin = _PERIOD_US["week"]
    chains = _chains(ev, ns, since=_us(since), until=_us(target.end)).with_columns(
        _seg_value=_floor_to(nw.col("_t1"), size, origin)
    )
    wide = _wide_frame(_collect(_wide_counts(chains, ns.n, "_seg_value"), ["_seg_value"]), ns.n)
    trend = _finish_trend(wide.rename({"_seg_value": "period_start"}), ns, "week", _us(target.end))
    try:
        comparison = _compare_trend(trend, "week", rates_week.start, 0.05)
    except ParameterError:
        comparison = None
    if comparison is not None:
        headline += rate_kpis(comparison, definition)
    curves = _cohorts_on_engine(
        events,
        definition.stage(target_stage(definition)),
        period="week",
        horizon=timedelta(weeks=weeks_of_history),
        as_of=cut_dt,
        until=target.end,
    )
    ordered = _funnel_on_engine(
        events,
        definition,
        window=span,
        by=breakdown,
        min_size=MIN_SEGMENT,
        contacts=contacts,
        since=history[0].start,
        until=target.end,
    )
    start_us, end_us = _us(target.start), _us(target.end)
    t = nw.col(TS)
    quality_row = _collect(
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
        contacts_read = contacts_kept = int(_collect(people.lf.select(nw.len().alias("n"))).item())
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


# --------------------------------------------------------------------------- sources
_LOCK = threading.Lock()
_DUCKDB: dict[str, Any] = {}


def _duckdb_connection(path: str) -> Any:
    """One read-only connection per database file, kept open for the relations it serves."""
    import duckdb

    key = str(Path(path).expanduser().resolve())
    with _LOCK:
        con = _DUCKDB.get(key)
        if con is None:
            try:
                con = duckdb.connect(key, read_only=True)
            except duckdb.Error as exc:
                msg = f"{path}: cannot open the DuckDB database ({exc})."
                raise DataError(msg) from exc
            _DUCKDB[key] = con
        return con


def _open_duckdb(text: str, parts: urllib.parse.SplitResult) -> Any:
    import duckdb

    path = urllib.parse.unquote((parts.netloc + parts.path) if parts.netloc else parts.path)
    query = urllib.parse.parse_qs(parts.query)
    tables = query.get("table", [])
    if not path:
        msg = f"{text}: no database file; write duckdb:///path/to/file.duckdb?table=events."
        raise ParameterError(msg)
    if len(tables) != 1 or not tables[0].strip():
        msg = (
            f"{text}: name the table to read, e.g. "
            f"duckdb://{path if path.startswith('/') else '/' + path}?table=events."
        )
        raise ParameterError(msg)
    unknown = sorted(set(query) - {"table"})
    if unknown:
        msg = f"{text}: unknown option {unknown[0]!r}; the only option is table=."
        raise ParameterError(msg)
    if not Path(path).expanduser().is_file():
        msg = f"{path}: no such DuckDB database file (from {text})."
        raise DataError(msg)
    con = _duckdb_connection(path)
    table = tables[0].strip()
    try:
        return con.table(table)
    except duckdb.Error as exc:
        names = [
            row[0] for row in con.sql("SELECT table_name FROM information_schema.tables").fetchall()
        ]
        msg = (
            f"{text}: no table {table!r} in {path}.{did_you_mean(table, names)} "
            f"Tables: {', '.join(sorted(names)) or '(none)'}."
        )
        raise DataError(msg) from exc


def _spark_conf(path: str) -> dict[str, str]:
    """Read ``key value`` lines (``spark-defaults.conf``); ``#`` starts a comment."""
    file = Path(path).expanduser()
    if not file.is_file():
        msg = f"{SPARK_CONF_ENV}={path}: no such file (a spark-defaults.conf: 'key value' lines)."
        raise ParameterError(msg)
    conf = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        head = text.split(None, 1)
        if "=" in head[0]:
            key, _, value = text.partition("=")
        else:
            key, value = head[0], head[1] if len(head) > 1 else ""
        if not key.strip() or not value.strip():
            msg = f"{path}, line {number}: expected 'key value', got {line.strip()!r}."
            raise ParameterError(msg)
        conf[key.strip()] = value.strip()
    return conf


def _spark_session() -> Any:
    """Return the active Spark session, else one built from :data:`SPARK_CONF_ENV`'s file."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("funnelkit")
    path = os.environ.get(SPARK_CONF_ENV)
    if path:
        for key, value in _spark_conf(path).items():
            builder = builder.config(key, value)
    return builder.getOrCreate()


def _open_spark(text: str, name: str) -> Any:
    name = name.strip()
    if not name:
        msg = f"{text}: name the table to read, e.g. spark:analytics.events."
        raise ParameterError(msg)
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        msg = f"{text}: PySpark is not installed; pip install pyspark (or funnelkit[spark])."
        raise ParameterError(msg) from exc
    from pyspark.errors import AnalysisException

    spark = _spark_session()
    try:
        return spark.table(name)
    except AnalysisException as exc:
        msg = f"{text}: Spark has no table {name!r} ({str(exc).splitlines()[0]})."
        raise DataError(msg) from exc


def open_source(text: str | os.PathLike[str]) -> NativeFrame | None:
    """Open an engine source named by text; ``None`` when ``text`` is a plain path.

    Two kinds of source:

    ``duckdb:///path/to/file.duckdb?table=events``
        A table (or view) of a DuckDB database file, opened read-only
        (``duckdb:relative/file.duckdb?table=events`` for a relative path;
        ``table=schema.name`` works too).  Tables of one file share one
        connection, so the events and the contacts can come from the same file.
    ``spark:TABLE``
        A table of the Spark catalog (``spark:events``,
        ``spark:analytics.events``).  It uses the active Spark session, or
        builds one with the settings of the ``spark-defaults.conf``-style file
        named by the environment variable ``FUNNELKIT_SPARK_CONF``
        (``spark.master``, ``spark.sql.catalogImplementation``... one
        ``key value`` per line), or Spark's own defaults (``SPARK_HOME``,
        ``spark-submit`` settings).

    Parameters
    ----------
    text
        The source; anything else (a file path) gives ``None``.

    Returns
    -------
    A DuckDB relation, a Spark DataFrame, or ``None``.

    Raises
    ------
    ParameterError
        The source text is malformed (no table named, unknown option).
    DataError
        The database file or the table does not exist.

    Examples
    --------
    >>> open_source("events.csv") is None
    True
    """
    value = os.fspath(text)
    scheme, sep, rest = value.partition(":")
    if not sep or scheme.lower() not in ("duckdb", "spark"):
        return None
    if scheme.lower() == "duckdb":
        return _open_duckdb(value, urllib.parse.urlsplit(value))
    return _open_spark(value, rest)


def open_events(source: str | os.PathLike[str], **read_options: Any) -> EventLog | NativeFrame:
    """Return :func:`open_source` of ``source``, or :func:`~funnelkit.events.read_events` of it.

    What a notebook or a report calls with the user's ``--events``: an
    engine source stays in its engine, a file is read and validated.

    Examples
    --------
    >>> open_events("data/sample/events.csv").source  # doctest: +SKIP
    'data/sample/events.csv'
    """
    from funnelkit.events import read_events

    native = open_source(source)
    return native if native is not None else read_events(source, **read_options)


def open_contacts(
    source: str | os.PathLike[str], **read_options: Any
) -> ContactTable | NativeFrame:
    """Return :func:`open_source` of ``source``, or :func:`~funnelkit.events.read_contacts` of it.

    Examples
    --------
    >>> open_contacts("data/sample/contacts.csv").source  # doctest: +SKIP
    'data/sample/contacts.csv'
    """
    from funnelkit.events import read_contacts

    native = open_source(source)
    return native if native is not None else read_contacts(source, **read_options)
