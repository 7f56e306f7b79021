"""Classification and flows on DuckDB and Spark, as narwhals lazy frames.

:func:`classify_frame` is :func:`funnelkit.stages.classify` for an
:class:`~funnelkit.engine_frames.EngineFrame`, with the polars plan
(:func:`funnelkit.stages.plan_conditions`, the same score blocks);
:func:`classify_query` keeps its result in the engine, and the
implementations of ``classify`` and ``flows`` are registered here
(:func:`funnelkit.frames.register`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import narwhals as nw
import polars as pl

from funnelkit.definitions import Condition, EventRule, Funnel, lapse_chains
from funnelkit.engine_frames import (
    TS,
    EngineFrame,
    NativeFrame,
    collect_polars,
    condition_expr,
    engine_contacts,
    engine_events,
    horizontal,
    lit_us,
    names_expr,
    to_us,
)
from funnelkit.errors import (
    ParameterError,
)
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.events import EVENT
from funnelkit.frames import register
from funnelkit.stages import (
    SCORE_ANCHOR_US,
    SCORE_BLOCK,
    SCORE_REACH,
    SCORE_TOLERANCE,
    plan_conditions,
)
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


def _condition_times(lf: Any, cond: Condition, name: str) -> Any:
    """Per contact, the instant (µs) ``cond`` first holds: ``contact_id`` and ``name``.

    As :func:`funnelkit.stages._condition_times`; the decaying score uses the
    same blocks (:data:`funnelkit.stages.SCORE_BLOCK` half-lives, the last
    :data:`funnelkit.stages.SCORE_REACH` of a block carried into the next).
    """
    if isinstance(cond, EventRule):
        rows = lf.filter(condition_expr(cond)).select(CID, TS)
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
    rows = lf.filter(condition_expr(cond)).select(CID, TS, _p=points)
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
                expr = condition_expr(cond)
                hit = expr if hit is None else hit | expr
            if hit is not None:
                out = nw.when(hit).then(nw.lit(rank, dtype=nw.Int16())).otherwise(out)
        return out

    def named_expr(self) -> Any:
        names = self.funnel.event_names
        return names_expr(names) if names else nw.lit(False)

    def current(self, clock: Any, *, rank: Any, act: Any, complex_reached: Sequence[Any]) -> Any:
        """Return the current stage rank: the highest reached, lapsed at ``clock`` (µs)."""
        reached = [rank.fill_null(1)]
        reached += [
            nw.when(hit).then(nw.lit(r, dtype=nw.Int16()))
            for hit, (r, _) in zip(complex_reached, self.complex_, strict=True)
        ]
        current: Any = horizontal("max", reached)
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
        return nw.coalesce(horizontal("max", stops), current)


def _known_contacts(contacts: EngineFrame, cut: int | None) -> Any:
    """``contact_id`` and ``_created`` (one row per contact) of the contacts known by ``cut``."""
    names = contacts.lf.collect_schema().names()
    created = nw.col(CREATED) if CREATED in names else lit_us(None)
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


def classify_frame(
    ev: EngineFrame,
    funnel: Funnel,
    *,
    cut: int | None,
    contacts: EngineFrame | None,
    entry_times: bool,
) -> Any:
    """Return :func:`funnelkit.stages.classify` as a lazy frame of the engine; times in µs."""
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
        per_contact = per_contact.with_columns(_created=lit_us(None))

    out = per_contact
    clock: Any = lit_us(cut)
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
            at = horizontal("min", [nw.col(p) for p in parts]) if parts else lit_us(None)
            select.append(at.cast(nw.Int64()).alias(f"{ids[k - 1]}_at"))
    select.append(nw.col("_act").cast(nw.Int64()).alias("last_activity_at"))
    return out.select(select)


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

    Examples
    --------
    >>> import duckdb
    >>> from funnelkit.definitions import load_funnel
    >>> rel = duckdb.sql("SELECT 'c1' AS contact_id, TIMESTAMP '2024-01-01' AS occurred_at,"
    ...                  " 'form_fill' AS event, NULL::DOUBLE AS amount")
    >>> classify_query(rel, load_funnel("sales")).fetchall()[0][:3]
    ('c1', 'lead', 2)
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
    ev = engine_events(events)
    out = classify_frame(
        ev,
        funnel,
        cut=_cut(as_of),
        contacts=engine_contacts(contacts, ev.engine),
        entry_times=entry_times,
    )
    return collect_polars(out, _time_columns(funnel, entry_times)).lazy()


def snapshot_of_counts(funnel: Funnel, counts: Sequence[int], lang: str) -> Snapshot:
    """Return the :class:`~funnelkit.stages.Snapshot` of ``counts``, as ``snapshot()`` does."""
    from funnelkit.stages import snapshot_from_counts as finish

    return finish(funnel, counts, lang)


def flow_ranks(
    ev: EngineFrame, funnel: Funnel, lo: int, hi: int, contacts: EngineFrame | None
) -> Any:
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
        lit_us(lo),
        rank=nw.col("_r0"),
        act=nw.col("_act0"),
        complex_reached=[(nw.col(f"_c{i}") <= lo).fill_null(False) for i in complex_],
    )
    after = plan.current(
        lit_us(hi),
        rank=nw.col("_r"),
        act=nw.col("_act"),
        complex_reached=[~nw.col(f"_c{i}").is_null() for i in complex_],
    )
    return per_contact.select(
        CID,
        nw.when(known_then).then(before).cast(nw.Int32()).alias("from_rank"),
        after.cast(nw.Int32()).alias("to_rank"),
    )


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
