"""The polars accelerator of the chain rule: per-contact chains from one sort of the events.

The counted chains every funnel-like analysis of :mod:`funnelkit.conversion`
is built on are written once, in :mod:`funnelkit.core.chains` (the rules are
documented in :mod:`funnelkit.conversion`).  On polars, :func:`sort_key_chains`
gives the same chains faster (registered in :mod:`funnelkit.core.accelerators`,
tested equal to the core on random logs): a sort key packs each contact's
events into one integer column (``packed``, ``wide`` or ``exact`` keys,
chosen by :func:`sort_key_modes`), then window expressions run over the
sorted rows, without a Python loop over contacts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, TypeAlias

import narwhals as nw
import polars as pl

from funnelkit.definitions import Funnel
from funnelkit.errors import DataError
from funnelkit.events import (
    CONTACT_ID,
    CREATED_AT,
    EVENT,
    OCCURRED_AT,
    ContactTable,
    EventLog,
    as_lazy,
    optional_contacts,
)
from funnelkit.stages import classify
from funnelkit.steps import (
    CORE_ORDERS,
    STAGE,
    Spec,
)
from funnelkit.timeutil import TimeLike, time_bounds

__all__ = [
    "Events",
    "Mode",
    "SortKeyChains",
    "collect_sound",
    "contact_chains",
    "entry_contacts",
    "read_steps",
    "restrict_span",
    "sort_key_chains",
    "sort_key_modes",
    "stage_entries",
    "step_time",
]

Events: TypeAlias = EventLog | pl.LazyFrame | pl.DataFrame

_BY = "_by_entry"  # the breakdown value on the rows of a stage entry reading
_HI = 2**62  # "no such event later": this minus any timestamp is beyond every window
_TWO64 = 2**64


def restrict_span(lf: pl.LazyFrame, since: datetime | None, until: datetime | None) -> pl.LazyFrame:
    """Keep the events from ``since`` (included) to ``until`` (excluded)."""
    if since is not None:
        lf = lf.filter(pl.col(OCCURRED_AT) >= since)
    if until is not None:
        lf = lf.filter(pl.col(OCCURRED_AT) < until)
    return lf


def entry_contacts(
    contacts: pl.LazyFrame | None, since: datetime | None, until: datetime | None
) -> pl.LazyFrame | None:
    """Keep the contacts the classification reads: none created outside ``[since, until)``."""
    if contacts is None or CREATED_AT not in contacts.collect_schema().names():
        return contacts
    created = pl.col(CREATED_AT).cast(pl.Datetime("us", "UTC"))
    keep = pl.lit(True)
    if since is not None:
        keep = keep & (created >= since)
    if until is not None:
        keep = keep & (created < until)
    return contacts.filter(created.is_null() | keep)


def stage_entries(
    lf: pl.LazyFrame,
    funnel: Funnel,
    stage_ids: Sequence[str],
    contacts: pl.LazyFrame | None,
    *,
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """Return one row per contact and stage of ``stage_ids`` it entered.

    Columns ``contact_id``, ``occurred_at`` (the ``<stage>_at`` of
    :func:`funnelkit.stages.classify`), ``event`` (null) and ``_stage``.
    ``classified`` is that classification of ``lf`` with ``contacts`` (entry
    times included) when the caller already has it: it is read instead of
    classifying again.  Entry times do not depend on ``as_of`` (lapsing
    changes the stage only), so a classification as of any instant at or
    after the last event of ``lf`` serves.
    """
    schema = lf.collect_schema()
    ats = [f"{stage_id}_at" for stage_id in stage_ids]
    if classified is None:
        classified = classify(lf, funnel, contacts=contacts, entry_times=True)
    return (
        classified.lazy()
        .select(CONTACT_ID, *(pl.col(c).cast(schema[OCCURRED_AT]) for c in ats))
        .unpivot(on=ats, index=CONTACT_ID, variable_name=STAGE, value_name=OCCURRED_AT)
        .filter(pl.col(OCCURRED_AT).is_not_null())
        .select(
            pl.col(CONTACT_ID).cast(schema[CONTACT_ID]),
            OCCURRED_AT,
            pl.lit(None).cast(schema[EVENT]).alias(EVENT),
            pl.col(STAGE).str.strip_suffix("_at"),
        )
    )


def read_steps(
    events: Events,
    spec: Spec,
    since: TimeLike | None,
    until: TimeLike | None,
    *,
    by: str | None = None,
    contacts: pl.LazyFrame | None = None,
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> tuple[pl.LazyFrame, pl.LazyFrame, str | None]:
    """Return the events read in ``[since, until)``, the rows the steps read, the ``by`` column.

    What :func:`funnel`, :func:`funnel_chains` and :func:`conversion_over_time`
    all start with (see :func:`_step_rows`).  With stages read by entry, the
    classification reads each contact's whole history before ``until`` (and
    the ``contacts`` created before it), and only the rows from ``since`` on
    are kept: a contact who entered a stage before ``since`` entered it then,
    not at its first event of the span.  ``classified``: that classification
    (with entry times), when the caller already has it (see
    :func:`stage_entries`); it is read instead of classifying again.
    """
    lo, hi = time_bounds(since, until)
    lf = as_lazy(events)
    read = restrict_span(lf, lo, hi)
    if not (spec.reading.entry and spec.stage_ids):
        rows, by_column = _step_rows(read, spec, by=by)
        return read, rows, by_column
    history = restrict_span(lf, None, hi)
    people = entry_contacts(contacts, None, hi)
    rows, by_column = _step_rows(history, spec, by=by, contacts=people, classified=classified)
    return read, restrict_span(rows, lo, None), by_column


def _step_rows(
    lf: pl.LazyFrame,
    spec: Spec,
    *,
    by: str | None = None,
    contacts: pl.LazyFrame | None = None,
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> tuple[pl.LazyFrame, str | None]:
    """Return the rows the steps read, and the name of the ``by`` column on them.

    Reading stages by their evidence, the events themselves.  Reading them by
    entry, the stage entries of the classification of ``lf`` (with
    ``contacts``) and the raw events the other steps name (every event for
    ``order="consecutive"``); an events ``by``
    column becomes ``_BY``, read on an entry from the contact's events at that
    instant.  Text columns the definition's numeric filters read become
    numbers first (:meth:`funnelkit.definitions.Funnel.read_numbers`).
    """
    if spec.definition is not None:
        lf = spec.definition.read_numbers(lf)
    if not (spec.reading.entry and spec.stage_ids):
        return lf, by
    source = _segment_source(lf, by, contacts)
    funnel = spec.reading.definition
    assert funnel is not None  # resolve_spec refuses a stage read by entry without its definition
    rows = stage_entries(lf, funnel, spec.stage_ids, contacts, classified=classified)
    # "consecutive" reads every event: one between two stage entries breaks a chain
    every = spec.order == "consecutive"
    raw = lf if every else lf.filter(pl.col(EVENT).is_in(sorted(spec.raw_names)))
    columns = [CONTACT_ID, OCCURRED_AT, EVENT, pl.lit(None, pl.String).alias(STAGE)]
    if source == "events" and by is not None:
        value = pl.col(by).cast(pl.String)
        at_instant = lf.group_by(CONTACT_ID, OCCURRED_AT).agg(value.min().alias(_BY))
        rows = rows.join(at_instant, on=[CONTACT_ID, OCCURRED_AT], how="left")
        columns.append(value.alias(_BY))
        by = _BY
    if spec.raw_names or every:
        rows = pl.concat([rows, raw.select(columns)])
    return rows, by


def _mask_dtype(bits: int) -> pl.DataType:
    for dtype, size in ((pl.UInt8(), 8), (pl.UInt16(), 16), (pl.UInt32(), 32)):
        if bits <= size:
            return dtype
    return pl.UInt64()


def _flag(i: int) -> pl.Expr:
    return (pl.col("_m") & (1 << i)) != 0


def step_time(j: int) -> str:
    """Return the name of the column holding the chain's time at step ``j``."""
    return f"_t{j}"


def _contact_hash(contact_id: pl.Expr) -> pl.Expr:
    """64-bit contact key of the fast paths (a function so tests can force collisions)."""
    return contact_id.hash()


def _contact_check(contact_id: pl.Expr) -> pl.Expr:
    """Second, independent hash: equal keys with different checks are a collision."""
    return contact_id.hash(0x5EED)


# The sort key.  Sorting by (contact_id, time) on strings is slow; the fast
# paths sort one 128-bit integer instead: a 64-bit hash of contact_id on top,
# the time below.  "packed" also puts the step flags and a few bits of a
# second hash into the low half ([time: 53 bits][check][flags]), so that
# nothing but the key moves during the sort; it needs the times within
# 1970..2255 and at most 7 flags (leaving at least 4 check bits), else "wide"
# keeps the flags and the whole second hash as separate columns.  A collision
# of the 64-bit hash shows as equal keys with different checks (``_collide``)
# and the caller then redoes the work in "exact" mode, which sorts on
# contact_id itself.  A collision goes unseen only if the check bits collide
# too: odds of about 2e-8 for a 4-step funnel over 10 million contacts.  In
# every mode the rows of one contact and instant are sorted by their (single)
# step flag.
Mode = Literal["packed", "wide", "exact"]
_TS_BITS = 53
_LOW_BITS = 64 - _TS_BITS
_MIN_CHECK_BITS = 4


def sort_key_modes(spec: Spec) -> tuple[Mode, ...]:
    """Return the sort keys to try, the most compact first, for ``spec``'s number of flags."""
    if spec.n + len(spec.exclusions) <= _LOW_BITS - _MIN_CHECK_BITS:
        return ("packed", "wide", "exact")
    return ("wide", "exact")


def _check_mask(spec: Spec, mode: Mode) -> int:
    if mode == "packed":
        return (1 << (_LOW_BITS - spec.n - len(spec.exclusions))) - 1
    return (1 << 64) - 1


def _sorted_rows(
    lf: pl.LazyFrame, spec: Spec, *, mode: Mode, payload: Sequence[str]
) -> pl.LazyFrame:
    """Step rows sorted by contact then time.

    Columns: ``_k`` (contact key), ``_k2`` (check, hash modes), ``_ts``
    (µs), ``_m`` (one bit per step, then per exclusion), the ``payload``
    columns, and the flags ``_collide`` (a hash collision was seen) and
    ``_fits`` (the packed key held every time), constant over the frame.
    """
    flags = [s.expr for s in spec.steps] + [e.expr for e in spec.exclusions]
    n_flags = len(flags)
    mask_dtype = _mask_dtype(n_flags)
    mask = pl.sum_horizontal([f.cast(mask_dtype) * (1 << i) for i, f in enumerate(flags)])
    ts = pl.col(OCCURRED_AT).dt.epoch("us")
    names = spec.event_names
    # a plain `event IN (...)` filter goes down into the Parquet reader
    keep = pl.col(EVENT).is_in(sorted(names)) if names is not None else pl.any_horizontal(flags)
    lf = lf.filter(keep).with_columns(_m=mask.cast(mask_dtype))
    if not spec.disjoint:
        # one row per flag, as windowFunnel does for an event matching several
        # conditions: the sort below then puts the rows of one instant in step order
        bits = [
            pl.when((pl.col("_m") & (1 << i)) != 0).then(pl.lit(1 << i, mask_dtype))
            for i in range(n_flags)
        ]
        lf = lf.with_columns(_m=pl.concat_list(bits).list.drop_nulls()).explode("_m")
    extra = [pl.col(c) for c in payload]
    if mode == "exact":
        return (
            lf.select(*extra, _k=pl.col(CONTACT_ID), _ts=ts, _m="_m")
            .sort("_k", "_ts", "_m")
            .with_columns(_collide=pl.lit(False), _fits=pl.lit(True))
        )
    two64 = pl.lit(_TWO64, pl.UInt128)
    high = _contact_hash(pl.col(CONTACT_ID)).cast(pl.UInt128) * two64
    k = (pl.col("_key") // two64).cast(pl.UInt64)
    same = pl.col("_k") == pl.col("_k").shift(1)
    collide = (same & (pl.col("_k2") != pl.col("_k2").shift(1))).any()
    if mode == "wide":
        key = high + (ts + _HI).cast(pl.UInt128)
        rows = lf.select(*extra, _key=key, _k2=_contact_check(pl.col(CONTACT_ID)), _m="_m")
        return (
            rows.sort("_key", "_m")
            .with_columns(
                _k=k, _ts=pl.col("_key").cast(pl.UInt64, wrap_numerical=True).cast(pl.Int64) - _HI
            )
            .select(*extra, "_k", "_k2", "_ts", "_m", _collide=collide, _fits=pl.lit(True))
        )
    check = _contact_check(pl.col(CONTACT_ID)) & _check_mask(spec, mode)
    top = (1 << _TS_BITS) - 1
    low = (
        ts.clip(0, top).cast(pl.UInt64) * (1 << _LOW_BITS)
        + check * (1 << n_flags)
        + pl.col("_m").cast(pl.UInt64)
    )
    rows = lf.select(*extra, _key=high + low.cast(pl.UInt128)).sort("_key")
    low_part = pl.col("_key").cast(pl.UInt64, wrap_numerical=True)
    rows = rows.with_columns(
        _k=k,
        _k2=(low_part // (1 << n_flags)) & _check_mask(spec, mode),
        _ts=(low_part // (1 << _LOW_BITS)).cast(pl.Int64),
        _m=(low_part & ((1 << n_flags) - 1)).cast(mask_dtype),
    )
    fits = ((pl.col("_ts") > 0) & (pl.col("_ts") < top)).all()
    return rows.select(*extra, "_k", "_k2", "_ts", "_m", _collide=collide, _fits=fits)


def _sort_key_of(spec: Spec) -> tuple[Any, ...]:
    """Return what the sorted step rows of ``spec`` depend on (:func:`_sorted_rows`)."""
    flags = [s.expr for s in spec.steps] + [e.expr for e in spec.exclusions]
    names = None if spec.event_names is None else tuple(sorted(spec.event_names))
    rules = tuple(f.meta.serialize(format="json") for f in flags)
    return (names, spec.disjoint, spec.n, len(spec.exclusions), rules)


def _remembered(ordered: pl.LazyFrame, memo: dict[Any, pl.DataFrame], key: Any) -> pl.LazyFrame:
    """Return ``ordered`` collected once and kept in ``memo`` under ``key`` (one frame kept)."""
    if key not in memo:
        found = ordered.collect()
        memo.clear()  # the rows of other steps: their memory goes back
        memo[key] = found
    return memo[key].lazy()


def _boundaries(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Mark contacts and instants in rows sorted by contact and time.

    ``_newc`` / ``_newt``: a contact's / an instant's first row; ``_endc``: a
    contact's last row; ``_seg``: the contact's number.
    """
    newc = (pl.col("_k") != pl.col("_k").shift(1)).fill_null(True)
    newt = newc | (pl.col("_ts") != pl.col("_ts").shift(1)).fill_null(True)
    rows = rows.with_columns(_newc=newc, _newt=newt)
    return rows.with_columns(
        _endc=pl.col("_newc").shift(-1, fill_value=True),
        _seg=pl.col("_newc").cum_sum(),
    )


def _first_step1(f1: pl.Expr) -> pl.Expr:
    """Rows of the contact's first step-1 instant (all its step-1 rows at that time)."""
    previous = pl.when(f1).then(pl.col("_seg")).forward_fill().shift(1)
    first = f1 & (previous.is_null() | (previous != pl.col("_seg")))
    first_ts = pl.when(first).then(pl.col("_ts")).forward_fill()
    return f1 & (pl.col("_ts") == first_ts)


def _any_times(spec: Spec) -> list[pl.Expr]:
    """``_t1.._tn`` of ``order="any"``: the first time of each step in the row's window."""
    return [
        pl.when(pl.col("_lvl") >= i).then(pl.col(f"_n{i}")).alias(step_time(i))
        for i in range(1, spec.n + 1)
    ]


def _any_levels(rows: pl.LazyFrame, spec: Spec) -> pl.LazyFrame:
    """``order="any"``: each row anchors a window ``[t, t + window]``."""
    f1 = _flag(0)
    flags = [_first_step1(f1) if spec.first_entry else f1] + [_flag(i) for i in range(1, spec.n)]
    nxt = []
    for i, f in enumerate(flags, 1):
        x = pl.when(f).then(pl.col("_ts"))
        filled = (
            pl.when(pl.col("_endc") & x.is_null()).then(pl.lit(_HI)).otherwise(x).backward_fill()
        )
        nxt.append(pl.when(pl.col("_newt")).then(filled).forward_fill().alias(f"_n{i}"))
    rows = rows.with_columns(nxt)
    lvl: pl.Expr = pl.lit(0, pl.Int8)
    all_ok: pl.Expr = pl.lit(True)
    for i in range(1, spec.n + 1):
        all_ok = all_ok & (pl.col(f"_n{i}") - pl.col("_ts") <= spec.window_us)
        lvl = lvl + all_ok.cast(pl.Int8)
    return rows.with_columns(_lvl=lvl)


def _running_level(spec: Spec) -> pl.Expr:
    """Highest ``_lvl`` of the contact so far, offset by ``_seg * (n + 1)`` (rows in order)."""
    return (pl.col("_seg").cast(pl.Int64) * (spec.n + 1) + pl.col("_lvl")).cum_max()


def _counted(rows: pl.LazyFrame, spec: Spec) -> pl.LazyFrame:
    """Keep one row per contact, the first reaching the contact's level, with its chain.

    ``order="any"``: ``rows`` carry ``_lvl`` and the ``_n`` times of
    :func:`_any_levels`.
    """
    running = _running_level(spec)
    rising = (pl.col("_lvl") > 0) & (running != running.shift(1)).fill_null(True)
    rows = rows.filter(rising)
    last = rows.filter((pl.col("_seg") != pl.col("_seg").shift(-1)).fill_null(True))
    return last.with_columns(_any_times(spec))


_BOUNDARIES = ("_ts", "_m", "_newc", "_newt", "_endc")


def _ordered_counted(rows: pl.LazyFrame, spec: Spec) -> pl.LazyFrame:
    """Return the counted row of each contact for ``"ordered"`` and ``"strict_increase"``.

    ``rows`` are the step rows of :func:`_boundaries`, one step flag each,
    sorted by contact, time and step.  The chain rule, step by step: a
    step-1 row starts a chain at its time (only the contact's first step-1
    instant with ``first_entry``); a step-k row continues the chain of the
    contact's latest row reaching step k - 1 before it (an earlier instant
    under ``strict_increase``; at one instant the earlier steps come first
    otherwise) when it is within ``window`` of that chain's start.  The
    latest such row holds the latest start, the one most likely to fit the
    window (starts only grow along a contact's rows).

    Each step is one as-of join of the step-k rows with the rows reaching
    step k - 1, on the row number: no pass over every row per step, and the
    chain's earlier times ride along on the few rows that reach each step.
    The counted row of a contact is its first row at its deepest step, with
    the chain's times ``_t1.._tn`` (null beyond ``_lvl``) and every column of
    ``rows`` but the boundaries.
    """
    strict = spec.order == "strict_increase"
    rows = rows.with_row_index("_r")
    if strict:  # the number of the instant's first row: only rows before it precede
        rows = rows.with_columns(_r0=pl.when(pl.col("_newt")).then(pl.col("_r")).forward_fill())
    rows = rows.cache()
    names = rows.collect_schema().names()
    carried = [c for c in names if c not in _BOUNDARIES and c != "_r0"]
    on = "_r0" if strict else "_r"
    first = (pl.col("_seg") != pl.col("_seg").shift(1)).fill_null(True)
    reached = rows.filter(_flag(0)).select(*carried, "_ts", _s=pl.col("_ts"))
    if spec.first_entry:  # the contact's first step-1 instant only
        earliest = pl.when(first).then(pl.col("_ts")).forward_fill()
        reached = reached.filter(pl.col("_ts") == earliest)
    levels = [reached]
    times: list[str] = []  # the chain's middle times carried: _c2 .. _c{k-1}
    for k in range(2, spec.n + 1):
        middle = [pl.col("_ts").alias(f"_c{k - 1}")] if k >= 3 else []
        earlier = reached.select(
            pl.col("_r").alias("_rp"), pl.col("_seg").alias("_sp"), "_s", *times, *middle
        )
        if k >= 3:
            times = [*times, f"_c{k - 1}"]
        step = rows.filter(_flag(k - 1)).select(*carried, "_ts", *([on] if strict else []))
        reached = (
            step.join_asof(
                earlier,
                left_on=on,
                right_on="_rp",
                strategy="backward",
                allow_exact_matches=not strict,
            )
            .filter(
                (pl.col("_sp") == pl.col("_seg")) & (pl.col("_ts") - pl.col("_s") <= spec.window_us)
            )
            .select(*carried, "_ts", "_s", *times)
        )
        levels.append(reached)
    # a contact reaching step k reached every step before: its deepest step is the
    # last whose first rows hold it
    firsts = [level.filter(first) for level in levels]
    counted = []
    for k, level in enumerate(firsts, 1):
        if k < spec.n:
            level = level.join(firsts[k].select("_seg"), on="_seg", how="anti")
        chain = [pl.col("_s").alias(step_time(1))]
        chain += [pl.col(f"_c{j}").alias(step_time(j)) for j in range(2, k)]
        if k > 1:
            chain.append(pl.col("_ts").alias(step_time(k)))
        chain += [pl.lit(None, pl.Int64).alias(step_time(j)) for j in range(k + 1, spec.n + 1)]
        counted.append(level.select(*carried, *chain, _lvl=pl.lit(k, pl.Int8)))
    return pl.concat(counted).drop("_r")


def _levels_and_counted(rows: pl.LazyFrame, spec: Spec) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Return the rows (cached) and the counted row of each contact.

    ``rows`` come from :func:`_boundaries`; the counted rows hold ``_lvl``
    and the chain's times ``_t1.._tn`` (see :func:`_ordered_counted`).
    """
    if spec.order == "any":
        levels = _any_levels(rows, spec).cache()
        return levels, _counted(levels, spec)
    rows = rows.cache()
    return rows, _ordered_counted(rows, spec)


def _spoiled(chains: pl.LazyFrame, rows: pl.LazyFrame, spec: Spec) -> pl.LazyFrame:
    """Return the ``_k`` of the chains holding an excluded event (unique)."""
    hits = []
    for i, ex in enumerate(spec.exclusions):
        bit = spec.n + i
        events = rows.filter((pl.col("_m") & (1 << bit)) != 0).select("_k", _xts="_ts")
        a, b = ex.from_step, ex.to_step
        bound_reached = pl.col("_xts") < pl.col(step_time(b))
        bound_open = pl.col("_xts") <= pl.col(step_time(1)) + spec.window_us
        hit = (
            chains.filter(pl.col("_lvl") >= a)
            .select("_k", "_lvl", *sorted({step_time(1), step_time(a), step_time(b)}))
            .join(events, on="_k", how="inner")
            .filter(
                (pl.col("_xts") > pl.col(step_time(a)))
                & pl.when(pl.col("_lvl") >= b).then(bound_reached).otherwise(bound_open)
            )
            .select("_k")
        )
        hits.append(hit)
    return pl.concat(hits).unique()


def _excluded(counted: pl.LazyFrame, rows: pl.LazyFrame, spec: Spec) -> pl.LazyFrame:
    """Add ``_excluded`` to the counted rows; per attempt where the core does so.

    :func:`funnelkit.core.chains.per_attempt` says when: then a contact
    whose counted chain is spoiled counts by its best clean attempt
    (:func:`_clean_attempts`), and is excluded only when it has none.
    """
    from funnelkit.core.chains import per_attempt  # the core sits below this module

    if not spec.exclusions:
        return counted.with_columns(_excluded=pl.lit(False))
    spoiled = _spoiled(counted, rows, spec)
    marked = counted.join(
        spoiled.with_columns(_excluded=pl.lit(True)), on="_k", how="left"
    ).with_columns(pl.col("_excluded").fill_null(False))
    if not per_attempt(spec):
        return marked
    best = _clean_attempts(spoiled, rows, spec)
    has = pl.col("_wlvl").is_not_null()
    times = [
        pl.when(has).then(pl.col(f"_w{step_time(j)}")).otherwise(pl.col(step_time(j)))
        for j in range(1, spec.n + 1)
    ]
    return (
        marked.join(best, on="_k", how="left")
        .with_columns(
            *(t.alias(step_time(j)) for j, t in enumerate(times, 1)),
            _lvl=pl.when(has).then(pl.col("_wlvl")).otherwise(pl.col("_lvl")),
            _excluded=pl.col("_excluded") & ~has,
        )
        .select(marked.collect_schema().names())
    )


def _clean_attempts(spoiled: pl.LazyFrame, rows: pl.LazyFrame, spec: Spec) -> pl.LazyFrame:
    """Per spoiled contact with a clean attempt: the best clean attempt's chain.

    Each step-1 instant of the contact is an attempt, numbered (``_k`` of
    its rows: those up to ``window`` after it) and read as the contact's only
    start; the attempts' counted chains are spoiled as the contacts' are.
    Among the clean ones: the deepest, then the first to complete its level,
    then each earlier step as late as possible (the counted-chain rule).
    Columns: ``_k``, ``_wlvl``, ``_w_t1.._w_tn``.
    """
    mine = rows.join(spoiled, on="_k", how="semi").select("_k", "_ts", "_m")
    # numbered in a fixed order, and the owner carried along: one numbering throughout
    starts = (
        mine.filter(_flag(0))
        .select("_k", _a="_ts")
        .unique()
        .sort("_k", "_a")
        .with_row_index("_aid")
    )
    tried = (
        mine.join(starts, on="_k", how="inner")
        .filter((pl.col("_ts") >= pl.col("_a")) & (pl.col("_ts") - pl.col("_a") <= spec.window_us))
        .select(pl.col("_aid").alias("_k"), "_ts", "_m", _kc="_k")
        .sort("_k", "_ts", "_m")
    )
    alone = replace(spec, first_entry=True)
    levels, chains = _levels_and_counted(_boundaries(tried), alone)
    times = [step_time(j) for j in range(1, spec.n + 1)]
    end: Any = pl.when(pl.col("_lvl") == 1).then(pl.col(step_time(1)))
    for k in range(2, spec.n + 1):
        end = end.when(pl.col("_lvl") == k).then(pl.col(step_time(k)))
    clean = (
        chains.select("_k", "_kc", "_lvl", *times)
        .join(_spoiled(chains, levels, alone), on="_k", how="anti")
        .with_columns(_end=end)
    )
    order = ["_lvl", "_end", *reversed(times)]
    best = clean.sort(
        ["_kc", *order], descending=[False, True, False, *(True for _ in times)], nulls_last=True
    ).unique("_kc", keep="first", maintain_order=True)
    return best.select(
        pl.col("_kc").alias("_k"),
        pl.col("_lvl").alias("_wlvl"),
        *(pl.col(t).alias(f"_w{t}") for t in times),
    )


def _segment_source(
    lf: pl.LazyFrame, by: str | None, contacts: pl.LazyFrame | None
) -> Literal["events", "contacts"] | None:
    """Return where ``by`` is read; a missing column was named by the core's checks before."""
    if by is None:
        return None
    return "events" if by in lf.collect_schema().names() else "contacts"


def _contact_key(lf: pl.LazyFrame, spec: Spec, mode: Mode) -> pl.LazyFrame:
    """Add the contact key columns of ``mode`` to a frame with ``contact_id``."""
    if mode == "exact":
        return lf.with_columns(_k=pl.col(CONTACT_ID))
    return lf.with_columns(
        _k=_contact_hash(pl.col(CONTACT_ID)),
        _k2=_contact_check(pl.col(CONTACT_ID)) & _check_mask(spec, mode),
    )


def _check_rules(lf: pl.LazyFrame, spec: Spec) -> None:
    """Name the step whose rule cannot be evaluated on these events (before polars fails).

    Each rule is evaluated on an empty frame of the events' schema: no data is
    read, yet a comparison of text with a number shows.  A missing column was
    named before (:func:`funnelkit.core.checks.check_columns`).
    """
    schema = lf.collect_schema()
    empty = pl.DataFrame(schema=schema).lazy()
    parts = [(f"step {i} ({s.name!r})", s.expr) for i, s in enumerate(spec.steps, 1)]
    parts += [(f"exclusion {i}", e.expr) for i, e in enumerate(spec.exclusions, 1)]
    for where, expr in parts:
        try:
            empty.select(expr).collect()
        except pl.exceptions.PolarsError as exc:
            types = ", ".join(f"{k}: {v}" for k, v in schema.items())
            msg = (
                f"{where} cannot be evaluated on these events: {str(exc).splitlines()[0]} "
                f"(column types: {types}); check the rule's columns and values"
            )
            raise DataError(msg) from None


def contact_chains(
    lf: pl.LazyFrame,
    spec: Spec,
    *,
    mode: Mode,
    by: str | None = None,
    contacts: pl.LazyFrame | None = None,
    keep_id: bool = False,
    memo: dict[Any, pl.DataFrame] | None = None,
) -> pl.LazyFrame:
    """Return one row per contact reaching step 1 (its counted chain).

    Columns: ``_k`` (and ``_k2``), ``_lvl``, ``_t1.._tn`` (µs), ``_excluded``,
    ``_collide``, ``_fits``, and ``_seg_value`` with ``by``, ``contact_id``
    with ``keep_id``.  Trust the result only where ``_collide`` is false and
    ``_fits`` true (see :func:`_collect_sound`).  With ``memo`` (the
    ``derived`` frames of a log held in memory, ``lf`` being all its rows),
    the sorted step rows are kept there and read again by a later funnel
    on the same steps: the sort is most of a funnel's cost.
    """
    exact = mode == "exact"
    _check_rules(lf, spec)
    source = _segment_source(lf, by, contacts)
    if spec.one_event_rule or spec.order in CORE_ORDERS:
        return _core_contact_chains(
            lf, spec, mode=mode, by=by if source == "events" else None, keep_id=keep_id
        ).pipe(_contact_attribute, spec, mode, by if source == "contacts" else None, contacts)
    payload = [CONTACT_ID] if keep_id and not exact else []
    if source == "events" and by is not None:
        lf = lf.with_columns(pl.col(by).cast(pl.String).alias("_by"))
        payload.append("_by")
    ordered = _sorted_rows(lf, spec, mode=mode, payload=payload)
    if memo is not None:
        ordered = _remembered(ordered, memo, (mode, tuple(payload), *_sort_key_of(spec)))
    rows, counted = _levels_and_counted(_boundaries(ordered), spec)
    keep = [
        "_k",
        *([] if exact else ["_k2"]),
        "_lvl",
        *(step_time(j) for j in range(1, spec.n + 1)),
    ]
    keep += ["_collide", "_fits"]
    if keep_id and not exact:
        keep.append(CONTACT_ID)
    counted = counted.select(keep)
    counted = _excluded(counted, rows, spec)
    if source == "events":
        first = (
            rows.filter(_first_step1(_flag(0)))
            .group_by("_k")
            .agg(pl.col("_by").min().alias("_seg_value"))
        )
        counted = counted.join(first, on="_k", how="left")
    elif source == "contacts":
        counted = _contact_attribute(counted, spec, mode, by, contacts)
    if keep_id and exact:
        counted = counted.with_columns(pl.col("_k").alias(CONTACT_ID))
    return counted


def _contact_attribute(
    counted: pl.LazyFrame,
    spec: Spec,
    mode: Mode,
    by: str | None,
    contacts: pl.LazyFrame | None,
) -> pl.LazyFrame:
    """Add ``_seg_value`` from the contacts' column ``by`` (nothing without it)."""
    if by is None or contacts is None:
        return counted
    on = ["_k"] if mode == "exact" else ["_k", "_k2"]
    attrs = (
        _contact_key(contacts, spec, mode)
        .select(*on, pl.col(by).cast(pl.String).alias("_seg_value"))
        .unique(on, keep="first", maintain_order=True)
    )
    return counted.join(attrs, on=on, how="left")


def _core_contact_chains(
    lf: pl.LazyFrame, spec: Spec, *, mode: Mode, by: str | None, keep_id: bool
) -> pl.LazyFrame:
    """Return the chains of :func:`contact_chains` from the core, where the sort key cannot run.

    One event per step with some event matching two steps
    (:attr:`funnelkit.steps.Spec.one_event_rule`): the flags are computed
    here (polars rules included), the chains by
    :func:`funnelkit.core.chains.rows_chains`, then keyed as ``mode`` keys
    them (a contact is never mixed with another: the key is added after).
    """
    from funnelkit.core.chains import rows_chains  # the core sits below this module

    flags = {f"_pf{i}": s.expr.fill_null(False) for i, s in enumerate(spec.steps, 1)}
    flags |= {f"_px{j}": e.expr.fill_null(False) for j, e in enumerate(spec.exclusions, 1)}
    extra = [pl.col(by).cast(pl.String).alias("_by")] if by is not None else []
    rows = lf.select(CONTACT_ID, *extra, _ts=pl.col(OCCURRED_AT).dt.epoch("us"), **flags)
    found = rows_chains(nw.from_native(rows), spec, by=None if by is None else "_by")
    chains = _contact_key(nw.to_native(found), spec, mode).with_columns(
        _collide=pl.lit(False), _fits=pl.lit(True)
    )
    return chains if keep_id else chains.drop(CONTACT_ID)


# --- the accelerator ------------------------------------------------------------------
def collect_sound(
    spec: Spec,
    chains_of: Callable[[Mode], pl.LazyFrame],
    outputs: Callable[[pl.LazyFrame], list[pl.LazyFrame]],
) -> list[pl.DataFrame]:
    """Collect ``outputs(chains)`` in the fastest mode whose sort key is sound here.

    The chains are computed once (cached) for all outputs.  The packed key
    may not hold the data's times, and a hash may collide: both show in the
    flags computed along, and the work is then redone in the next mode.
    """
    for mode in sort_key_modes(spec):
        chains = chains_of(mode).cache()
        flags = chains.select(pl.col("_collide").any(), pl.col("_fits").all())
        # "auto" is polars' streaming engine unless the user chose otherwise; on
        # large logs it is the faster and leaner one here (sort and fills included)
        collected = pl.collect_all([flags, *outputs(chains)], engine="auto")
        collide, fits = collected[0].row(0)
        if mode == "exact" or (not collide and fits is not False):
            return collected[1:]
    msg = "unreachable: the exact mode is always sound"  # pragma: no cover
    raise AssertionError(msg)  # pragma: no cover


@dataclass(frozen=True)
class SortKeyChains:
    """The chains of the sort-key kernel over polars rows (:func:`sort_key_chains`)."""

    spec: Spec
    rows: pl.LazyFrame
    by: str | None
    contacts: pl.LazyFrame | None
    shared: bool = True  # the queries of one collect read the chains computed once
    memo: dict[Any, pl.DataFrame] | None = None  # see contact_chains

    def _chains(self, mode: Mode, *, keep_id: bool = False) -> pl.LazyFrame:
        return contact_chains(
            self.rows,
            self.spec,
            mode=mode,
            by=self.by,
            contacts=self.contacts,
            keep_id=keep_id,
            memo=self.memo,
        )

    def frame(self) -> Any:
        """Return the chains as a narwhals lazy frame with ``contact_id`` (exact key)."""
        return nw.from_native(self._chains("exact", keep_id=True))

    def collect(self, queries: Callable[[Any], list[Any]]) -> list[pl.DataFrame]:
        """Run ``queries(chains)`` in the fastest sound key mode (:func:`collect_sound`)."""
        return collect_sound(
            self.spec,
            self._chains,
            lambda chains: [nw.to_native(q) for q in queries(nw.from_native(chains))],
        )


def sort_key_chains(
    events: Events,
    spec: Spec,
    *,
    since: TimeLike | None,
    until: TimeLike | None,
    by: str | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None = None,
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> SortKeyChains | None:
    """Return the chains of the sort-key kernel: the polars accelerator of the core's chains.

    Same inputs as :func:`funnelkit.core.chains.chains_of`, same chains
    (``contact_id``, ``_lvl``, ``_t1.._tn``, ``_excluded``, ``_seg_value``) as
    the core's :func:`funnelkit.core.chains.counted_chains` on polars events;
    ``classified`` (a classification with entry times) is read instead of
    classifying again.  With ``first_entry`` and ``since`` under
    ``rules="funnelkit"``, the contacts whose first step-1 event ever is
    before ``since`` are left out (they start no chain).  Where one event
    fills one step and some event may match two steps
    (:attr:`funnelkit.steps.Spec.one_event_rule`), :func:`contact_chains`
    computes the flags in polars and the chains with the core's window
    functions (:func:`funnelkit.core.chains.rows_chains`).  It runs what the
    core cannot on polars: a custom stage object whose ``evidence()`` is a
    polars expression, and numbers stored as text read by a definition's
    filters.  Returning ``None`` would decline a spec (the core
    would run).

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.steps import resolve_spec
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "b"],
    ...                     "occurred_at": [day, day + dt.timedelta(days=2), day],
    ...                     "event": ["page_view", "purchase", "page_view"]})
    >>> spec = resolve_spec(["page_view", "purchase"], "7d", "ordered", False, ())
    >>> found = sort_key_chains(log, spec, since=None, until=None)
    >>> found.frame().select("contact_id", "_lvl").collect().sort("contact_id").rows()
    [('a', 2), ('b', 1)]
    """
    people = optional_contacts(contacts)
    _, rows, by_column = read_steps(
        events, spec, since, until, by=by, contacts=people, classified=classified
    )
    if spec.first_entry and spec.rules == "funnelkit" and since is not None:
        # a contact whose first step-1 event ever is before ``since`` starts no chain
        _, history, _ = read_steps(
            events, spec, None, until, contacts=people, classified=classified
        )
        lo, _ = time_bounds(since, until)
        early = history.filter(spec.steps[0].expr.fill_null(False) & (pl.col(OCCURRED_AT) < lo))
        rows = rows.join(early.select(CONTACT_ID).unique(), on=CONTACT_ID, how="anti")
    whole = (
        isinstance(events, EventLog)
        and events.held == "memory"
        and since is None
        and until is None
        and by is None
        and contacts is None
        and spec.definition is None
        and not (spec.reading.entry and spec.stage_ids)
    )
    # every row of a log held in memory: its sorted step rows serve the next funnel too
    memo = events.derived if whole and isinstance(events, EventLog) else None
    return SortKeyChains(spec, rows, by_column, people, memo=memo)
