"""Classification, written once: the plan :func:`funnelkit.stages.classify` runs on every engine.

The functions take narwhals lazy frames of events with ``contact_id``,
``event``, the property columns and ``_ts`` (``occurred_at`` as epoch
microseconds, UTC), and return narwhals lazy frames with every time in
epoch microseconds.  Polars (:func:`funnelkit.stages.classify`), DuckDB and
Spark (:mod:`funnelkit.engine_classify`) convert their frames to that form
and the result back; the rules themselves are described in
:mod:`funnelkit.stages`.  The callers check the columns the definition's
filters read (:meth:`funnelkit.definitions.Funnel.check_columns`).

The plan of a funnel (:class:`Plan`): conditions of the "any of these
events" kind become one per-event rank, aggregated per contact in one pass;
the others (``min_count`` above 1, points) each get the first instant they
hold (:func:`condition_times`), joined per contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import narwhals as nw

from funnelkit.definitions import Condition, EventRule, Funnel, PointsRule, lapse_chains
from funnelkit.engine_frames import (
    TS,
    by_contact_groups,
    condition_expr,
    horizontal,
    lit_us,
    names_expr,
)
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.events import EVENT

__all__ = [
    "SCORE_ANCHOR_US",
    "SCORE_BLOCK",
    "SCORE_REACH",
    "SCORE_TOLERANCE",
    "Plan",
    "classify_frame",
    "condition_times",
    "contact_aggregates",
    "finish",
    "flow_ranks",
    "known_contacts",
    "plan_conditions",
    "scored_events",
]

# The score of points rules (see ``scored_events``): the relative tolerance of a
# threshold, half-lives per block and carried into the next block, and the origin
# of the time in half-lives (2000-01-01 UTC, epoch µs).
SCORE_TOLERANCE = 1e-9
SCORE_BLOCK = 512.0
SCORE_REACH = 64.0
SCORE_ANCHOR_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000


# --- the plan of a funnel ------------------------------------------------------------
def plan_conditions(
    funnel: Funnel,
) -> tuple[tuple[tuple[int, EventRule], ...], tuple[tuple[int, Condition], ...]]:
    """Split the conditions of ``funnel`` into simple ones and the rest, with stage ranks.

    A points condition is split in two: its events worth the threshold on
    their own are a simple condition (any one of them reaches the stage), and
    only the others need a running score.  The stage is reached at the
    earlier of the two: before the first big event the score is made of
    small events only, and at the first big event the stage is reached anyway.

    Examples
    --------
    >>> from funnelkit.definitions import load_funnel
    >>> simple, rest = plan_conditions(load_funnel("inbound"))
    >>> [rank for rank, _ in rest]
    [2]
    """
    simple: list[tuple[int, EventRule]] = []
    complex_: list[tuple[int, Condition]] = []
    for rank, stage in enumerate(funnel.stages, start=1):
        for cond in stage.conditions:
            if isinstance(cond, EventRule) and cond.min_count == 1:
                simple.append((rank, cond))
            elif isinstance(cond, PointsRule):
                bar = cond.threshold * (1.0 - SCORE_TOLERANCE)
                big = tuple(e for e, p in cond.points.items() if p >= bar)
                small = {e: p for e, p in cond.points.items() if p < bar}
                if big:
                    simple.append((rank, EventRule(big, where=cond.where)))
                if small:
                    rest = PointsRule(small, cond.threshold, cond.half_life, cond.where)
                    complex_.append((rank, rest))
            else:
                complex_.append((rank, cond))
    return tuple(simple), tuple(complex_)


@dataclass(frozen=True)
class Plan:
    """How to classify under a funnel: simple conditions as a per-event rank, the rest apart.

    ``simple``: "any of these events" conditions; ``complex_``: the others
    (``min_count``, points), each a first-hold time; split by
    :func:`plan_conditions`.
    """

    funnel: Funnel
    simple: tuple[tuple[int, EventRule], ...]
    complex_: tuple[tuple[int, Condition], ...]

    @classmethod
    def of(cls, funnel: Funnel) -> Plan:
        """Return the plan of ``funnel``."""
        return cls(funnel, *plan_conditions(funnel))

    @property
    def size(self) -> int:
        """The number of stages."""
        return len(self.funnel.stages)

    @property
    def lapses(self) -> bool:
        """Whether a stage has an inactivity rule."""
        return any(stage.lapse is not None for stage in self.funnel.stages)

    def timed(self, entry_times: bool) -> list[int]:
        """Return the ranks whose entry time reads the per-event rank (simple ones at or after)."""
        if not entry_times:
            return []
        return [k for k in range(2, self.size + 1) if any(r >= k for r, _ in self.simple)]

    def rank_of_times(self, timed: Sequence[int]) -> Any:
        """Per contact: the highest rank of its simple evidence, read from its entry times.

        With entry times, ``_t<k>`` (the first event of rank ``k`` or more) is
        set exactly when the contact has such an event, and ``timed`` runs
        from 2 to the highest simple rank: the highest ``k`` whose ``_t<k>``
        is set is the maximum of the per-event rank (1 when none is set), so
        the aggregation need not carry that maximum too.
        """
        out: Any = nw.lit(1, dtype=nw.Int16())
        for k in sorted(timed):
            out = (
                nw.when(~nw.col(f"_t{k}").is_null())
                .then(nw.lit(k, dtype=nw.Int16()))
                .otherwise(out)
            )
        return out

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
        """Per event: whether the definition names it (activity)."""
        names = self.funnel.event_names
        return names_expr(names) if names else nw.lit(False)

    def current(self, clock: Any, *, rank: Any, act: Any, complex_reached: Sequence[Any]) -> Any:
        """Return the current stage rank: the highest reached, lapsed at ``clock`` (µs).

        ``rank`` is the highest rank of the contact's simple evidence (null:
        none), ``act`` its latest activity, ``complex_reached`` one boolean
        per entry of ``complex_``.  A lapsed contact walks down its chain of
        ``lapse_to`` and stops at the first stage whose ``lapse_after`` its
        idle time does not reach; ranks fall along the chain, so that is the
        highest stage of the chain where it would stop.  One term per stage
        of a chain keeps the expression linear in the number of lapses.
        """
        reached = [rank.fill_null(1)]
        reached += [
            nw.when(hit).then(nw.lit(r, dtype=nw.Int16()))
            for hit, (r, _) in zip(complex_reached, self.complex_, strict=True)
        ]
        current: Any = horizontal("max", reached)
        if not self.lapses:
            return current
        idle = clock - act
        stops: list[Any] = []
        for k, through in lapse_chains(self.funnel).items():
            lapse = self.funnel.stages[k - 1].lapse
            stop = current.is_in(through)
            if lapse is not None:  # a null idle time (no activity) never lapses
                stop = stop & ~(idle >= lapse.after // timedelta(microseconds=1)).fill_null(False)
            stops.append(nw.when(stop).then(nw.lit(k, dtype=nw.Int16())))
        return nw.coalesce(horizontal("max", stops), current)


# --- per-condition reach times ---------------------------------------------------------
def scored_events(lf: Any, rule: PointsRule) -> Any:
    """Return the scoring events of ``rule``: ``contact_id``, ``_ts``, ``_p`` and ``_score``.

    ``_score`` is the contact's score just after the event.  Without a
    half-life it is a running sum in time order.  With one,
    ``score_i = sum_j p_j 2**(u_j - u_i)`` with ``u`` the time in half-lives
    since 2000-01-01.  To keep ``2**u`` finite, time is cut in blocks of
    :data:`SCORE_BLOCK` half-lives and each weight is taken relative to its
    block's start.  An event's score sums its block's weights so far and,
    when it falls in the first :data:`SCORE_REACH` half-lives of its block,
    the weights of the previous block's last ones.  What is left out is
    older than 64 half-lives, so it weighs less than ``2**-64`` (5e-20) of its
    points.  Events at the same instant get partial sums in some order; the
    last one of them holds the full score, so the first instant where the
    score reaches a threshold is exact.
    """
    by_value: dict[float, list[str]] = {}
    for event, value in rule.points.items():
        by_value.setdefault(value, []).append(event)
    points: Any = nw.lit(0.0)
    for value, events in by_value.items():
        points = nw.when(nw.col(EVENT).is_in(events)).then(nw.lit(value)).otherwise(points)
    rows = lf.filter(condition_expr(rule)).select(CID, TS, _p=points)
    if rule.half_life is None:
        return rows.with_columns(_score=nw.col("_p").cum_sum().over(CID, order_by=TS))
    half_life_us = rule.half_life / timedelta(microseconds=1)
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
    return (
        nw.concat([head, rest.select(head.collect_schema().names())])
        .with_columns(_score=nw.lit(2.0) ** -nw.col("_off") * total)
        .select(CID, TS, "_p", "_score")
    )


def reached(score: Any, rule: PointsRule) -> Any:
    """Whether ``score`` reaches the threshold of ``rule`` (relative tolerance 1e-9)."""
    return score >= rule.threshold * (1.0 - SCORE_TOLERANCE)


def condition_times(lf: Any, cond: Condition, name: str) -> Any:
    """Per contact, the instant (µs) ``cond`` first holds: ``contact_id`` and ``name``."""
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
    return (
        scored_events(lf, cond)
        .filter(reached(nw.col("_score"), cond))
        .group_by(CID)
        .agg(nw.col(TS).min().alias(name))
    )


# --- classification ---------------------------------------------------------------------
def known_contacts(contacts: Any, cut: int | None) -> Any:
    """``contact_id`` and ``_created`` (one row per contact) of the contacts known by ``cut``.

    ``contacts`` holds ``contact_id`` and, optionally, ``created_at`` in µs.
    """
    names = contacts.collect_schema().names()
    created = nw.col(CREATED) if CREATED in names else lit_us(None)
    known = contacts.select(CID, created.alias("_created")).filter(~nw.col(CID).is_null())
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


def contact_aggregates(
    lf: Any, plan: Plan, known: Any | None, *, entry_times: bool, seen: bool
) -> Any:
    """One row per contact: the aggregates :func:`finish` turns into a classification.

    ``lf``: the events already cut at ``as_of``; ``known``: the output of
    :func:`known_contacts` (or ``None``); ``seen`` adds ``_seen``, the
    contact's latest event (the inactivity clock without ``as_of``).
    """
    timed = plan.timed(entry_times)
    rows = lf.select(CID, TS, _r=plan.rank_expr(), _act=nw.when(plan.named_expr()).then(nw.col(TS)))
    if timed:
        rows = rows.with_columns(
            nw.when(nw.col("_r") >= k).then(nw.col(TS)).alias(f"_t{k}") for k in timed
        )
    # With entry times the highest rank is read from them (Plan.rank_of_times):
    # one aggregate less per contact, the widest state of the query.
    aggs = [nw.col("_act").max()] if entry_times else [nw.col("_r").max(), nw.col("_act").max()]
    aggs += [nw.col(f"_t{k}").min() for k in timed]
    if entry_times:
        aggs.append(nw.col(TS).min().alias("_first"))
    if seen:
        aggs.append(nw.col(TS).max().alias("_seen"))
    per_contact = rows.group_by(CID).agg(aggs)
    for index, (_, cond) in enumerate(plan.complex_):
        per_contact = per_contact.join(condition_times(lf, cond, f"_c{index}"), on=CID, how="left")
    if known is not None:
        return _full_join(per_contact, known)
    return per_contact.with_columns(_created=lit_us(None))


def finish(
    per_contact: Any, plan: Plan, clock: int | None, *, entry_times: bool, stage_text: bool = True
) -> Any:
    """Turn :func:`contact_aggregates` into the classification (times in µs).

    ``clock`` is the inactivity clock; ``None`` reads the latest ``_seen``.
    Without ``stage_text`` the ``stage`` column is left out, for a caller that
    takes it from ``stage_rank`` (DuckDB and Spark then neither build nor
    send a text per contact).
    """
    funnel, size, complex_ = plan.funnel, plan.size, plan.complex_
    timed = plan.timed(entry_times)
    out = per_contact
    now: Any = lit_us(clock)
    if plan.lapses and clock is None:
        out = out.with_columns(_clock=nw.col("_seen").max())
        now = nw.col("_clock")
    if entry_times:
        # A column, not an expression: the lapse rules read the rank once per
        # lapse, and an engine's SQL would repeat the expression each time.
        out = out.with_columns(_r=plan.rank_of_times(timed))
    current = plan.current(
        now,
        rank=nw.col("_r"),
        act=nw.col("_act"),
        complex_reached=[~nw.col(f"_c{i}").is_null() for i in range(len(complex_))],
    )
    out = out.with_columns(_cur=current)

    ids = list(funnel.stage_ids)
    stage_id: Any = nw.when(nw.col("_cur") == 1).then(nw.lit(ids[0]))
    for rank in range(2, size + 1):
        stage_id = stage_id.when(nw.col("_cur") == rank).then(nw.lit(ids[rank - 1]))
    select: list[Any] = [nw.col(CID), stage_id.alias("stage")] if stage_text else [nw.col(CID)]
    select.append(nw.col("_cur").cast(nw.Int32()).alias("stage_rank"))
    if entry_times:
        select.append(nw.min_horizontal("_first", "_created").alias(f"{ids[0]}_at"))
        for k in range(2, size + 1):
            parts = [f"_t{k}"] if k in timed else []
            parts += [f"_c{i}" for i, (r, _) in enumerate(complex_) if r >= k]
            at = horizontal("min", [nw.col(p) for p in parts]) if parts else lit_us(None)
            select.append(at.cast(nw.Int64()).alias(f"{ids[k - 1]}_at"))
    select.append(nw.col("_act").cast(nw.Int64()).alias("last_activity_at"))
    return out.select(select)


def classify_frame(
    lf: Any,
    funnel: Funnel,
    *,
    cut: int | None,
    contacts: Any | None,
    entry_times: bool,
    clock: int | None = None,
    stage_text: bool = True,
    partitions: int = 1,
) -> Any:
    """Return the classification of :func:`funnelkit.stages.classify`; times in µs.

    Parameters
    ----------
    lf
        The events, a narwhals lazy frame (see the module docstring).
    funnel
        The definition.
    cut
        ``as_of`` in µs (``None``: every event).
    contacts
        ``contact_id`` and optional ``created_at`` (µs), a narwhals lazy frame.
    entry_times
        Include the ``<stage id>_at`` columns.
    clock
        The inactivity clock (µs) when it is neither ``cut`` nor the latest event.
    stage_text
        Include the ``stage`` text column (see :func:`finish`).
    partitions
        Aggregate the contacts in this many hash groups of their id, one after
        the other (:func:`funnelkit.engine_frames.by_contact_groups`: polars
        only; DuckDB and Spark aggregate once).
    """
    if cut is not None:
        lf = lf.filter(nw.col(TS) <= cut)
    plan = Plan.of(funnel)
    clock = cut if cut is not None else clock
    # Without a clock, the inactivity clock is the latest event of all contacts.
    seen = plan.lapses and clock is None

    def one(events: Any, listed: Any | None, *, done: bool) -> Any:
        known = None if listed is None else known_contacts(listed, cut)
        out = contact_aggregates(events, plan, known, entry_times=entry_times, seen=seen)
        if not done:
            return out
        return finish(out, plan, clock, entry_times=entry_times, stage_text=stage_text)

    if partitions == 1:
        return one(lf, contacts, done=True)
    out = by_contact_groups(lf, contacts, partitions, lambda e, c: one(e, c, done=not seen))
    if seen:
        out = finish(out, plan, clock, entry_times=entry_times, stage_text=stage_text)
    return out


def flow_ranks(lf: Any, funnel: Funnel, lo: int, hi: int, contacts: Any | None) -> Any:
    """``from_rank`` (at ``lo``, null if unknown) and ``to_rank`` per contact known at ``hi``.

    One pass over the events, equal to classifying as of ``lo`` and as of
    ``hi``: every aggregate classification needs is a maximum or a first
    time, so the one at ``lo`` is the same aggregate over the events up to
    ``lo``, and a condition of several events (``min_count``, points) holds
    at ``lo`` exactly when the first instant it holds is at or before ``lo``.
    ``contacts`` as in :func:`classify_frame`.
    """
    plan = Plan.of(funnel)
    lf = lf.filter(nw.col(TS) <= hi)
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
        per_contact = per_contact.join(condition_times(lf, cond, f"_c{index}"), on=CID, how="left")
    known_then: Any = nw.col("_first") <= lo
    if contacts is not None:
        listed_then = known_contacts(contacts, lo).select(CID, _listed=nw.lit(True))
        listed = known_contacts(contacts, hi).join(listed_then, on=CID, how="left")
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
