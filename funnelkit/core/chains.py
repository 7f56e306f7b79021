"""The chain rule, written once: per-contact chains on every engine, and the funnel's counts.

The functions take the core's frames (:class:`funnelkit.engine_frames.EngineFrame`:
``contact_id``, ``event``, the properties and ``_ts``, ``occurred_at`` as
epoch microseconds) of polars, DuckDB or Spark alike; the rules themselves
(every order mode, ``first_entry``, exclusions, the counted chain, the two
readings of a stage) are described in :mod:`funnelkit.conversion`.
:func:`chains_of` is where an analysis gets its chains: it turns an
:class:`~funnelkit.events.EventLog`, a polars frame, a DuckDB relation or a
Spark DataFrame into the core's frame, or hands the events to the
accelerator registered for their engine (:mod:`funnelkit.core.accelerators`:
the polars sort-key kernel of :mod:`funnelkit.chains`).  What follows the
chains (counts per step, the breakdown, the time to convert) is written
once too (:func:`funnelkit.core.counts.funnel_counts`), run on the frame's engine: only small
tables come back, as polars.

Funnels are computed per *instant* (contact and timestamp): the rows of one
instant are first merged (their step flags OR-ed), which makes the order of
a contact's instants total and lets cumulative window functions
(``cum_max``, ``cum_min`` in reverse, ``shift``) express ClickHouse's
``windowFunnel`` rule without relying on the order of tied rows.  Along one
contact, the chain start and step times inherited by later steps never
decrease, so "the value at the latest instant where it is set" is a running
maximum, and "the first instant reaching the contact's level" is a minimum.
Stages read by entry (``stage_steps="entry"``) become rows at the
``<stage>_at`` of the engine's classification (:func:`_entry_rows`), as
:func:`funnelkit.chains.read_steps` does on polars.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cached_property
from typing import Any, Protocol

import narwhals as nw
import polars as pl

from funnelkit.core.accelerators import accelerator
from funnelkit.core.checks import check_columns, definition_filters, segment_source
from funnelkit.core.classify import classify_frame
from funnelkit.definitions import Funnel, Stage
from funnelkit.engine_frames import (
    TS,
    CoreEngine,
    EngineFrame,
    collect_polars,
    core_contacts,
    core_events,
    horizontal,
    names_expr,
    restrict,
    span_us,
    stage_expr,
    with_numbers,
)
from funnelkit.errors import (
    ParameterError,
)
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.events import EVENT
from funnelkit.steps import (
    CORE_ORDERS,
    STAGE,
    Exclusion,
    Spec,
    StageLike,
    event_names_of,
    resolve_spec,
)
from funnelkit.timeutil import TimeLike

__all__ = [
    "Chains",
    "CoreChains",
    "NwSpec",
    "chains_of",
    "counted_chains",
    "entry_contacts",
    "nw_spec",
    "per_attempt",
    "rows_chains",
    "shared_sets",
    "stage_entries",
    "step_expr",
]


_BY = "_by_entry"  # the breakdown value on the rows of a stage entry reading


_LO = -(2**62)  # "no value yet" in running maxima (any time minus it is beyond a window)


_HI = 2**62  # "no value later" in reverse running minima


@dataclass(frozen=True)
class NwSpec:
    """A funnel spec and the steps as given, whose narwhals flags the core reads.

    The flags are built when first read: an accelerator reads only ``spec``,
    so a step it can run and the core cannot (a custom stage object with a
    polars ``evidence()``) is refused only where the core runs.
    """

    spec: Spec
    items: tuple[object, ...]
    exclusion_items: tuple[Exclusion, ...]

    @property
    def n(self) -> int:
        """The number of steps."""
        return len(self.spec.steps)

    @cached_property
    def steps(self) -> tuple[Any, ...]:
        """The narwhals flag of each step."""
        return tuple(
            _flag(item, step.stage, f"step {i}")
            for i, (item, step) in enumerate(zip(self.items, self.spec.steps, strict=True), 1)
        )

    @cached_property
    def exclusions(self) -> tuple[tuple[Any, int, int], ...]:
        """The narwhals flag of each exclusion, with its steps."""
        pairs = zip(self.exclusion_items, self.spec.exclusions, strict=True)
        return tuple(
            (_flag(item.event, resolved.stage, f"exclusion {i}"), item.from_step, item.to_step)
            for i, (item, resolved) in enumerate(pairs, 1)
        )


def step_expr(spec: object, where: str) -> Any:
    """Return the flag of a step read by its evidence (event names or a funnelkit stage)."""
    if isinstance(spec, Stage):
        return stage_expr(spec).fill_null(False)
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
    return names_expr(names).fill_null(False)


def nw_spec(
    steps: object,
    window: str | timedelta,
    order: object,
    first_entry: bool,
    exclusions: Iterable[object],
    *,
    stage_steps: object = "entry",
    definition: object = None,
    rules: object = "funnelkit",
) -> NwSpec:
    """Validate like :func:`funnelkit.conversion.funnel`; the core's flags follow when read.

    A stage read by entry is flagged on the ``_stage`` column of the entry
    rows (:func:`_entry_rows`); the other steps by their events.
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
        rules=rules,
    )
    items: Sequence[object]
    if hasattr(steps, "stages") and not isinstance(steps, StageLike):
        items = list(steps.stages)
    elif isinstance(steps, Mapping):
        items = list(steps.values())
    else:
        assert isinstance(steps, Sequence)
        items = list(steps)
    excl = []
    for item in exclusions:
        if not isinstance(item, Exclusion):
            assert isinstance(item, tuple)
            item = Exclusion(item[0], item[1], item[2])
        excl.append(item)
    return NwSpec(spec, tuple(items), tuple(excl))


def _flag(item: object, stage: str | None, where: str) -> Any:
    """Return the flag of a step: a stage read by entry on ``_stage``, else its events.

    A narwhals expression given as the item is the flag itself (rows whose
    flags were computed already, :func:`rows_chains`).
    """
    if isinstance(item, nw.Expr):
        return item
    if stage is not None:
        return (nw.col(STAGE) == stage).fill_null(False)
    return step_expr(item, where)


def _f(i: int) -> str:
    return f"_f{i}"


def shared_sets(spec: Spec) -> tuple[tuple[int, ...], ...]:
    """Return the sets of two or more steps one event may match together (connected).

    Steps are 1-based; "may match together" is
    :meth:`funnelkit.steps.Spec.may_share`.  Under one event per step, a run of steps at one instant
    can be filled by distinct rows if and only if every such set within it
    has at least as many rows matching one of its steps as it has steps
    (Hall's condition; sets of steps no row can share split into parts).
    Empty unless :attr:`funnelkit.steps.Spec.one_event_rule`.
    """
    if not spec.one_event_rule:
        return ()
    found: list[tuple[int, ...]] = []
    for mask in range(1, 1 << spec.n):
        members = tuple(i + 1 for i in range(spec.n) if mask >> i & 1)
        if len(members) < 2:
            continue
        reached = {members[0]}
        grow = True
        while grow:
            more = {j for j in members if any(spec.may_share(i, j) for i in reached)}
            grow = not more <= reached
            reached |= more
        if len(reached) == len(members):
            found.append(members)
    if len(found) > _MAX_SHARED:
        msg = (
            f"steps: {len(found)} sets of steps may share an event, more than {_MAX_SHARED} "
            "the rule 'one event fills at most one step' can check; name the steps by "
            "distinct events, or pass rules='clickhouse'"
        )
        raise ParameterError(msg)
    return tuple(found)


_MAX_SHARED = 256


def _instants(lf: Any, ns: NwSpec, *, by: str | None, ever: Any = None) -> Any:
    """One row per contact and instant holding a step or excluded event.

    Columns: ``contact_id``, ``_ts``, ``_f1.._fn`` (step flags), ``_x1..``
    (exclusion flags), ``_first1`` (the contact's first step-1 instant, or
    its first ever when ``ever`` holds ``_ever1`` per contact), ``_u0..``
    (the rows matching one of each of :func:`shared_sets`) and, with ``by``,
    ``_by1`` (smallest ``by`` value of the step-1 rows there).
    """
    flags = {_f(i): e for i, e in enumerate(ns.steps, 1)}
    flags |= {f"_x{j}": e for j, (e, _, _) in enumerate(ns.exclusions, 1)}
    anyflag: Any = None
    for expr in flags.values():
        anyflag = expr if anyflag is None else anyflag | expr
    extra: dict[str, Any] = {}
    if by is not None:
        extra["_by"] = nw.when(flags[_f(1)]).then(nw.col(by).cast(nw.String()))
    for u, members in enumerate(shared_sets(ns.spec)):
        union: Any = None
        for i in members:
            union = flags[_f(i)] if union is None else union | flags[_f(i)]
        extra[f"_u{u}"] = nw.when(union).then(nw.lit(1)).otherwise(nw.lit(0))
    rows = lf.filter(anyflag).select(CID, TS, **flags, **extra)
    aggs = [nw.col(name).any() for name in flags]
    aggs += [nw.col(name).sum() for name in extra if name.startswith("_u")]
    if by is not None:
        aggs.append(nw.col("_by").min().alias("_by1"))
    inst = rows.group_by(CID, TS).agg(aggs)
    first = nw.when(nw.col(_f(1))).then(nw.col(TS)).min().over(CID)
    inst = inst.with_columns(_first1=first)
    if ever is None:
        return inst
    earliest = nw.when(nw.col("_ever1").is_null()).then(nw.col("_first1"))
    return (
        inst.join(ever, on=CID, how="left")
        .with_columns(_first1=earliest.otherwise(nw.col("_ever1")))
        .drop("_ever1")
    )


def _latest(expr: Any) -> Any:
    """Return the running maximum of ``expr`` along a contact's instants (``_LO`` first).

    Cumulative functions keep nulls in place (as polars does), so nulls are
    first replaced by ``_LO``, which every later value exceeds.
    """
    return expr.fill_null(_LO).cum_max().over(CID, order_by=TS)


def _ordered_chains(inst: Any, ns: NwSpec) -> Any:
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
    return _chain_table(rows, n)


def _chain_table(rows: Any, n: int) -> Any:
    """Per contact: the level and the counted chain, from each instant's ``_s{k}``, ``_c{k}_{j}``.

    Along a contact, these never decrease, so the first instant reaching the
    level holds the smallest, which are the counted chain's.
    """
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


def _one_event_chains(inst: Any, ns: NwSpec) -> Any:
    """``order="ordered"`` when one event fills at most one step (``rules="funnelkit"``).

    At an instant, a chain takes a run of steps ``a..k``: step ``a`` follows
    a chain that reached step ``a - 1`` at an earlier instant (its start
    ``_in{a}``, its step times ``_inq{a}_{j}``; DuckDB names are case-blind, so
    lower case like the others), or starts there (``a = 1``),
    and the rows of the instant fill ``a..k`` one each (:func:`shared_sets`).
    The smallest such ``a`` gives the latest start and the latest step times.
    """
    spec = ns.spec
    n = ns.n
    sets = shared_sets(spec)
    start = nw.col(_f(1))
    if spec.first_entry:
        start = start & (nw.col(TS) == nw.col("_first1"))
    rows = inst.with_columns(
        _s1=nw.when(start).then(nw.col(TS)), _in1=nw.when(start).then(nw.col(TS))
    )

    def fills(a: int, k: int) -> Any:
        cond: Any = nw.lit(True)
        for i in range(a, k + 1):
            cond = cond & nw.col(_f(i))
        for u, members in enumerate(sets):
            if a <= members[0] and members[-1] <= k:
                cond = cond & (nw.col(f"_u{u}") >= len(members))
        return cond

    for k in range(2, n + 1):
        entered = {f"_in{k}": nw.col(f"_s{k - 1}")}
        if k >= 3:
            entered[f"_inq{k}_{k - 1}"] = nw.when(~nw.col(f"_s{k - 1}").is_null()).then(nw.col(TS))
            for j in range(2, k - 1):
                entered[f"_inq{k}_{j}"] = nw.col(f"_c{k - 1}_{j}")
        # the latest value over the contact's earlier instants (null when none)
        rows = rows.with_columns(_latest(e).alias(name) for name, e in entered.items())
        rows = rows.with_columns(
            nw.col(name).shift(1).over(CID, order_by=TS).alias(name) for name in entered
        )
        rows = rows.with_columns(
            nw.when(nw.col(name) != _LO).then(nw.col(name)).alias(name) for name in entered
        )
        start_k: Any = None
        middle: dict[int, Any] = {}
        for a in range(1, k + 1):
            e = nw.col(f"_in{a}")
            ok = fills(a, k) & ~e.is_null() & ((nw.col(TS) - e) <= spec.window_us).fill_null(False)
            start_k = (nw.when(ok) if start_k is None else start_k.when(ok)).then(e)
            for j in range(2, k):
                value = nw.col(f"_inq{a}_{j}") if j < a else nw.col(TS)
                middle[j] = (nw.when(ok) if j not in middle else middle[j].when(ok)).then(value)
        made = {f"_s{k}": start_k}
        made |= {f"_c{k}_{j}": middle[j] for j in range(2, k)}
        rows = rows.with_columns(**made)
    return _chain_table(rows, n)


def _core_order_chains(inst: Any, ns: NwSpec, every: Any) -> Any:
    """Return the chains of the orders only the core computes (``steps.CORE_ORDERS``).

    ``every``: the events read, of every name (``contact_id``, ``_ts``), whose
    instants tell ``order="consecutive"`` what lies between two steps.
    """
    if ns.spec.order == "consecutive":
        return _consecutive_chains(inst, ns, every)
    return _unordered_chains(inst, ns)


def _run_fills(a: int, k: int, sets: tuple[tuple[int, ...], ...]) -> Any:
    """Whether the rows of an instant fill steps ``a..k`` (one row each under one event a step)."""
    cond: Any = nw.lit(True)
    for i in range(a, k + 1):
        cond = cond & nw.col(_f(i))
    for u, members in enumerate(sets):
        if a <= members[0] and members[-1] <= k:
            cond = cond & (nw.col(f"_u{u}") >= len(members))
    return cond


def _consecutive_chains(inst: Any, ns: NwSpec, every: Any) -> Any:
    """``order="consecutive"``: step k+1 at the instant of step k or at the contact's next one.

    An instant is a contact and a timestamp holding any event (``every`` and
    the step rows): a chain may not skip one.  At an instant, a chain takes a
    run of steps ``a..k`` (filled by distinct rows under one event per step,
    :func:`_run_fills`) after a chain that reached step ``a - 1`` at the
    contact's previous instant (``_in{a}``, its start; ``_inq{a}_{j}``, its
    step times), or starts there (``a = 1``).  ``_s{k}`` keeps the latest
    start of a chain reaching step ``k`` here (the window is measured from
    it), and ``_c{k}_{j}`` the step times of the one taking the smallest ``a``
    among those with that start (each earlier step as late as possible).
    """
    spec = ns.spec
    n = ns.n
    sets = shared_sets(spec)
    window = spec.window_us
    moments = nw.concat([every.select(CID, TS), inst.select(CID, TS)]).unique()
    moments = moments.with_columns(_before=nw.col(TS).shift(1).over(CID, order_by=TS))
    rows = inst.join(moments, on=[CID, TS], how="left")
    rows = rows.with_columns(_prevts=nw.col(TS).shift(1).over(CID, order_by=TS))
    rows = rows.with_columns(_adj=(nw.col("_prevts") == nw.col("_before")).fill_null(False))
    start = nw.col(_f(1))
    if spec.first_entry:
        start = start & (nw.col(TS) == nw.col("_first1"))
    for k in range(1, n + 1):
        if k >= 2:
            entered = {f"_in{k}": nw.col(f"_s{k - 1}")}
            if k >= 3:
                reached = ~nw.col(f"_s{k - 1}").is_null()
                entered[f"_inq{k}_{k - 1}"] = nw.when(reached).then(nw.col(TS))
                for j in range(2, k - 1):
                    entered[f"_inq{k}_{j}"] = nw.col(f"_c{k - 1}_{j}")
            rows = rows.with_columns(
                e.shift(1).over(CID, order_by=TS).alias(name) for name, e in entered.items()
            )
            rows = rows.with_columns(
                nw.when(nw.col("_adj")).then(nw.col(name)).alias(name) for name in entered
            )
        options = []
        for a in range(1, k + 1):
            e = nw.when(start).then(nw.col(TS)) if a == 1 else nw.col(f"_in{a}")
            near = ((nw.col(TS) - e) <= window).fill_null(False)
            options.append((a, _run_fills(a, k, sets) & ~e.is_null() & near, e))
        rows = rows.with_columns(
            horizontal("max", [nw.when(ok).then(e) for _, ok, e in options]).alias(f"_s{k}")
        )
        made: dict[str, Any] = {}
        for j in range(2, k):
            value: Any = None
            for a, ok, e in options:
                chosen = ok & (e == nw.col(f"_s{k}"))
                then = nw.col(f"_inq{a}_{j}") if j < a else nw.col(TS)
                value = (nw.when(chosen) if value is None else value.when(chosen)).then(then)
            made[f"_c{k}_{j}"] = value
        if made:
            rows = rows.with_columns(**made)
    return _first_reaching(rows, n)


def _first_reaching(rows: Any, n: int) -> Any:
    """Per contact: the level and the chain of the first instant reaching it (``_s``, ``_c``)."""
    lvl: Any = nw.lit(0, dtype=nw.Int8())
    for k in range(1, n + 1):
        lvl = nw.when(~nw.col(f"_s{k}").is_null()).then(nw.lit(k, dtype=nw.Int8())).otherwise(lvl)
    rows = rows.with_columns(_lvl=lvl).with_columns(_L=nw.col("_lvl").max().over(CID))
    rows = rows.filter((nw.col("_lvl") == nw.col("_L")) & (nw.col("_L") > 0))
    rows = rows.with_columns(_end=nw.col(TS).min().over(CID)).filter(nw.col(TS) == nw.col("_end"))
    chain = []
    for j in range(1, n + 1):
        value: Any = nw.when(nw.col("_lvl") == j).then(nw.col(TS))
        for top in range(j + 1, n + 1):
            src = f"_s{top}" if j == 1 else f"_c{top}_{j}"
            value = value.when(nw.col("_lvl") == top).then(nw.col(src))
        chain.append(value.alias(f"_t{j}"))
    return rows.select(CID, nw.col("_lvl").cast(nw.Int64()), *chain)


def _unordered_chains(inst: Any, ns: NwSpec) -> Any:
    """``order="unordered"``: each instant holding a step anchors the window ``[t, t + window]``.

    The level there is the number of steps with an event in the window;
    ``_t{k}`` is when the k-th of them was first done (the times sorted).
    The counted window reaches the contact's level, completes it first, and
    among those starts last.  With ``first_entry`` only the windows holding
    the contact's first step-1 instant (``_first1``) count.
    """
    spec = ns.spec
    n = ns.n
    flags = [nw.col(_f(i)) for i in range(1, n + 1)]
    anchor: Any = nw.col(_f(1))
    for flag in flags[1:]:
        anchor = anchor | flag
    if spec.first_entry:
        first = nw.col("_first1")
        anchor = anchor & (nw.col(TS) <= first) & ((first - nw.col(TS)) <= spec.window_us)
    nxt = {
        f"_n{i}": nw.when(flag)
        .then(nw.col(TS))
        .fill_null(_HI)
        .cum_min(reverse=True)
        .over(CID, order_by=TS)
        for i, flag in enumerate(flags, 1)
    }
    rows = inst.with_columns(**nxt).filter(anchor)
    rows = rows.with_columns(
        (nw.col(f"_n{i}") - nw.col(TS) <= spec.window_us).alias(f"_ok{i}") for i in range(1, n + 1)
    )

    def counted(cond: Any) -> Any:
        return nw.when(cond).then(nw.lit(1)).otherwise(nw.lit(0))

    ranks = {}
    for i in range(1, n + 1):
        rank: Any = nw.lit(0)
        for j in range(1, n + 1):
            if j != i:
                before = nw.col(f"_n{j}") < nw.col(f"_n{i}")
                if j < i:
                    before = before | (nw.col(f"_n{j}") == nw.col(f"_n{i}"))
                rank = rank + counted(nw.col(f"_ok{j}") & before)
        ranks[f"_r{i}"] = rank
    level: Any = nw.lit(0)
    for i in range(1, n + 1):
        level = level + counted(nw.col(f"_ok{i}"))
    rows = rows.with_columns(_lvl=level, **ranks)
    times = []
    for k in range(1, n + 1):
        value: Any = None
        for i in range(1, n + 1):
            hit = nw.col(f"_ok{i}") & (nw.col(f"_r{i}") == k - 1)
            value = (nw.when(hit) if value is None else value.when(hit)).then(nw.col(f"_n{i}"))
        times.append(value.alias(f"_t{k}"))
    rows = rows.with_columns(times).with_columns(_L=nw.col("_lvl").max().over(CID))
    rows = rows.filter((nw.col("_lvl") == nw.col("_L")) & (nw.col("_L") > 0))
    last: Any = None
    for k in range(1, n + 1):
        at = nw.col(f"_t{k}")
        last = (
            nw.when(nw.col("_lvl") == k).then(at)
            if last is None
            else last.when(nw.col("_lvl") == k).then(at)
        )
    rows = rows.with_columns(_done=last).with_columns(_end=nw.col("_done").min().over(CID))
    rows = rows.filter(nw.col("_done") == nw.col("_end"))
    rows = rows.with_columns(_top=nw.col(TS).max().over(CID)).filter(nw.col(TS) == nw.col("_top"))
    return rows.select(
        CID,
        nw.col("_lvl").cast(nw.Int64()),
        *(nw.col(f"_t{k}") for k in range(1, n + 1)),
    )


def _any_chains(inst: Any, ns: NwSpec) -> Any:
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


def _spoiled(chains: Any, inst: Any, ns: NwSpec) -> Any:
    """Return the ``contact_id`` of the chains holding an excluded event (unique).

    An exclusion ``(a, b)`` spoils a chain that reached step ``a`` when one
    of its events is strictly after the chain's step ``a`` and strictly
    before its step ``b``, or, when the chain stopped before ``b``, at most
    ``window`` after its start.
    """
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
            chains.filter(nw.col("_lvl") >= a)
            .select(CID, "_lvl", *sorted({"_t1", f"_t{a}", f"_t{b}"}))
            .join(events, on=CID, how="inner")
            .filter((nw.col("_xts") > nw.col(f"_t{a}")) & inside.fill_null(False))
            .select(CID)
        )
        hits.append(hit)
    return nw.concat(hits).unique()


def per_attempt(spec: Spec) -> bool:
    """Whether the exclusions of ``spec`` apply per attempt (else to the counted chain).

    Under ``rules="funnelkit"``, for the orders ``"ordered"`` and
    ``"strict_increase"``.  With ``first_entry`` a contact has one attempt,
    whose chain is the counted chain: nothing to do.
    """
    return (
        bool(spec.exclusions)
        and spec.rules == "funnelkit"
        and spec.order in ("ordered", "strict_increase")
        and not spec.first_entry
    )


def _excluded(counted: Any, inst: Any, ns: NwSpec) -> Any:
    """Add ``_excluded`` to the counted chains; per attempt (:func:`per_attempt`) where due.

    Per attempt, a contact counts by its best clean attempt
    (:func:`_clean_attempts`) and is excluded only when every attempt is
    spoiled; otherwise a contact is excluded when its counted chain is.
    """
    if not ns.exclusions:
        return counted.with_columns(_excluded=nw.lit(False))
    excluded = _spoiled(counted, inst, ns).with_columns(_hit=nw.lit(True))
    marked = (
        counted.join(excluded, on=CID, how="left")
        .with_columns(_excluded=nw.col("_hit").fill_null(False))
        .drop("_hit")
    )
    if not per_attempt(ns.spec):
        return marked
    best = _clean_attempts(inst, ns)
    has = ~nw.col("_wlvl").is_null()
    times = {
        f"_t{j}": nw.when(has).then(nw.col(f"_wt{j}")).otherwise(nw.col(f"_t{j}"))
        for j in range(1, ns.n + 1)
    }
    columns = marked.collect_schema().names()
    return (
        marked.join(best, on=CID, how="left")
        .with_columns(
            _lvl=nw.when(has).then(nw.col("_wlvl")).otherwise(nw.col("_lvl")),
            _excluded=nw.col("_excluded") & ~has,
            **times,
        )
        .select(columns)
    )


def _clean_attempts(inst: Any, ns: NwSpec) -> Any:
    """Per contact that may gain by it: the best chain over its clean attempts.

    An attempt is an instant holding a step-1 event; its chain is the counted
    chain of the chains starting there (the instants up to ``window`` later,
    the attempt read as the contact's only start).  An attempt is spoiled as a
    counted chain is (:func:`_spoiled`).  The best clean attempt reaches the
    deepest level, then completes it first, then takes each earlier step as
    late as possible: the counted-chain rule over the clean attempts' chains,
    so where the counted chain is clean it is the one found.  Only contacts
    with an excluded event and two step-1 instants or more are read (with one
    attempt, its chain is the counted chain).  Columns: ``contact_id``,
    ``_wlvl``, ``_wt1.._wtn``.

    DuckDB computes a frame again for each reference to it, so ``inst`` is
    read three times only: window counts instead of a join, the contact
    written in the attempt's key (after its start, fixed width) instead of a
    table of owners, and one join for every exclusion's events.
    """
    spec = ns.spec
    n = ns.n
    window = spec.window_us
    xs = [f"_x{j}" for j in range(1, len(ns.exclusions) + 1)]
    anyx: Any = nw.col(xs[0])
    for x in xs[1:]:
        anyx = anyx | nw.col(x)
    count = {
        "_na": nw.col(_f(1)).cast(nw.Int64()).sum().over(CID),
        "_nx": anyx.cast(nw.Int64()).sum().over(CID),
    }
    mine = (
        inst.with_columns(**count)
        .filter((nw.col("_na") >= 2) & (nw.col("_nx") >= 1))
        .drop("_first1", "_na", "_nx")
    )
    start = (nw.col("_a") - _LO).cast(nw.String()).str.zfill(_KEY_DIGITS)
    key = nw.concat_str([start, nw.col(CID).cast(nw.String())])
    starts = mine.filter(nw.col(_f(1))).select(CID, nw.col(TS).alias("_a"))
    tried = (
        starts.join(mine, on=CID, how="inner")
        .filter((nw.col(TS) >= nw.col("_a")) & ((nw.col(TS) - nw.col("_a")) <= window))
        .with_columns(_first1=nw.col("_a"), **{CID: key})
    )
    alone = NwSpec(replace(spec, first_entry=True), ns.items, ns.exclusion_items)
    chains = (
        _one_event_chains(tried, alone) if spec.one_event_rule else _ordered_chains(tried, alone)
    )
    owner = nw.col(CID).str.slice(_KEY_DIGITS)
    dtype = inst.collect_schema()[CID]
    chains = chains.with_columns(_cid=owner if dtype == nw.String() else owner.cast(dtype))
    events = mine.filter(anyx).select(nw.col(CID).alias("_cid"), nw.col(TS).alias("_xts"), *xs)
    spoils: Any = nw.lit(False)
    for x, (_, a, b) in zip(xs, ns.exclusions, strict=True):
        inside = (
            nw.when(nw.col("_lvl") >= b)
            .then(nw.col("_xts") < nw.col(f"_t{b}"))
            .otherwise(nw.col("_xts") <= nw.col("_t1") + window)
        )
        hit = nw.col(x) & (nw.col("_lvl") >= a) & (nw.col("_xts") > nw.col(f"_t{a}")) & inside
        spoils = spoils | hit.fill_null(False)
    times = [f"_t{j}" for j in range(1, n + 1)]
    clean = (
        chains.join(events, on="_cid", how="left")
        .with_columns(_spoilt=spoils.cast(nw.Int64()))
        .group_by(CID)
        .agg(
            nw.col("_spoilt").max(),
            nw.col("_cid").min(),
            nw.col("_lvl").min(),
            *(nw.col(t).min() for t in times),
        )
        .filter(nw.col("_spoilt") == 0)
    )
    end: Any = nw.when(nw.col("_lvl") == 1).then(nw.col("_t1"))
    for k in range(2, n + 1):
        end = end.when(nw.col("_lvl") == k).then(nw.col(f"_t{k}"))
    best = clean.with_columns(_top=nw.col("_lvl").max().over("_cid")).filter(
        nw.col("_lvl") == nw.col("_top")
    )
    best = best.with_columns(_end=end).with_columns(_top=nw.col("_end").min().over("_cid"))
    best = best.filter(nw.col("_end") == nw.col("_top"))
    for j in range(n, 0, -1):
        t = nw.col(f"_t{j}").fill_null(_LO)
        best = best.with_columns(_top=t.max().over("_cid")).filter(t == nw.col("_top"))
    return best.select(
        nw.col("_cid").alias(CID),
        nw.col("_lvl").alias("_wlvl"),
        *(nw.col(f"_t{j}").alias(f"_wt{j}") for j in range(1, n + 1)),
    )


_KEY_DIGITS = 19  # an attempt's start minus _LO, in decimal digits: under 2**63


def counted_chains(
    ev: EngineFrame,
    ns: NwSpec,
    *,
    since: int | None,
    until: int | None,
    by: str | None = None,
    contacts: EngineFrame | None = None,
    first_ever: bool = False,
) -> Any:
    """Return one row per contact reaching step 1: ``_lvl``, ``_t1..``, ``_excluded``...

    ``first_ever``: with ``first_entry`` under ``rules="funnelkit"``, the
    contact's first step-1 event is looked for before ``since`` too (as
    :func:`funnelkit.conversion.funnel` does); a contact whose first one is
    before ``since`` starts no chain.
    """
    source = segment_source(ev, by, contacts)
    lf = restrict(ev.lf, since, until)
    by_column = by if source == "events" else None
    rows_before = None
    if ns.spec.reading.entry and ns.spec.stage_ids:
        # the whole history before ``until`` tells when a contact entered a stage
        history = replace(ev, lf=restrict(ev.lf, None, until))
        rows = _entry_rows(history, ns.spec, entry_contacts(contacts, None, until), by=by_column)
        rows_before = rows
        lf = restrict(rows, since, None)
        by_column = _BY if by_column is not None else None
    ever = None
    spec = ns.spec
    if first_ever and spec.first_entry and spec.rules == "funnelkit" and since is not None:
        # the contact's first step-1 event ever (before ``until``) is the one that may start
        history = restrict(ev.lf, None, until) if rows_before is None else rows_before
        ever = (
            history.with_columns(_e1=ns.steps[0])
            .filter(nw.col("_e1"))
            .group_by(CID)
            .agg(nw.col(TS).min().alias("_ever1"))
        )
    inst = _instants(lf, ns, by=by_column, ever=ever)
    if spec.order in CORE_ORDERS:
        counted = _core_order_chains(inst, ns, restrict(ev.lf, since, until))
    elif spec.order == "any":
        counted = _any_chains(inst, ns)
    elif spec.one_event_rule:
        counted = _one_event_chains(inst, ns)
    else:
        counted = _ordered_chains(inst, ns)
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


def rows_chains(lf: Any, spec: Spec, *, by: str | None) -> Any:
    """Return the counted chains of ``spec`` over rows holding its flags already.

    ``lf``: a narwhals lazy frame of ``contact_id``, ``_ts`` (µs), ``_pf1..``
    (the step flags) and ``_px1..`` (the exclusion flags), with ``by`` (an
    events column) when given.  Columns out as :func:`counted_chains`'s
    (``_seg_value`` with ``by``).  What :func:`funnelkit.chains.contact_chains`
    runs when its sort key cannot (one event per step, some event matching
    two steps).
    """
    items = tuple(nw.col(f"_pf{i}") for i in range(1, spec.n + 1))
    excl = tuple(
        Exclusion(nw.col(f"_px{j}"), e.from_step, e.to_step)  # type: ignore[arg-type]
        for j, e in enumerate(spec.exclusions, 1)
    )
    ns = NwSpec(spec, items, excl)
    inst = _instants(lf, ns, by=by)
    if spec.order in CORE_ORDERS:
        counted = _core_order_chains(inst, ns, lf)
    elif spec.order == "any":
        counted = _any_chains(inst, ns)
    elif spec.one_event_rule:
        counted = _one_event_chains(inst, ns)
    else:
        counted = _ordered_chains(inst, ns)
    counted = _excluded(counted, inst, ns)
    if by is None:
        return counted
    first = (
        inst.filter(nw.col(_f(1)) & (nw.col(TS) == nw.col("_first1")))
        .group_by(CID)
        .agg(nw.col("_by1").min().alias("_seg_value"))
    )
    return counted.join(first, on=CID, how="left")


def entry_contacts(
    contacts: EngineFrame | None, since: int | None, until: int | None
) -> EngineFrame | None:
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


def stage_entries(
    ev: EngineFrame, funnel: Funnel, stage_ids: Sequence[str], contacts: EngineFrame | None
) -> Any:
    """Return one row per contact and stage of ``stage_ids`` it entered.

    Columns ``contact_id``, ``_ts`` and ``_stage``.

    The instants are the ``<stage>_at`` of the classification of ``ev``
    (as :func:`funnelkit.chains.stage_entries`).
    """
    funnel.check_columns(ev.schema)
    people = None if contacts is None else contacts.lf
    classified = classify_frame(ev.lf, funnel, cut=None, contacts=people, entry_times=True)
    parts = [
        classified.select(
            CID,
            nw.col(f"{stage_id}_at").cast(nw.Int64()).alias(TS),
            nw.lit(stage_id, dtype=nw.String()).alias(STAGE),
        ).filter(~nw.col(TS).is_null())
        for stage_id in stage_ids
    ]
    return parts[0] if len(parts) == 1 else nw.concat(parts)


def _entry_rows(ev: EngineFrame, spec: Any, contacts: EngineFrame | None, *, by: str | None) -> Any:
    """Return the rows the steps read when stages are read by entry (``chains._step_rows``).

    The stage entries (``event`` null) and the raw events the other steps
    name (``_stage`` null); with ``by`` (an events column), ``_BY`` holds on
    an entry the smallest value among the contact's events at that instant.
    """
    funnel = spec.reading.definition
    assert funnel is not None  # resolve_spec refuses a stage read by entry without it
    rows = stage_entries(ev, funnel, spec.stage_ids, contacts).with_columns(
        nw.lit(None, dtype=nw.String()).alias(EVENT)
    )
    columns = [CID, TS, EVENT, STAGE]
    raw = ev.lf.filter(names_expr(spec.raw_names).fill_null(False)) if spec.raw_names else None
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


# --- which implementation gives the chains ----------------------------------------------
class Chains(Protocol):
    """The counted chains of one spec over one set of events, from the core or an accelerator.

    Per contact reaching step 1: ``contact_id`` (in :meth:`frame`), ``_lvl``
    (the last step reached), ``_t1.._tn`` (the counted chain's step times,
    epoch µs, null beyond ``_lvl``), ``_excluded`` and, with ``by``,
    ``_seg_value`` (the breakdown value as text).
    """

    @property
    def shared(self) -> bool:
        """Whether the queries of one :meth:`collect` compute the chains once."""
        ...

    def frame(self) -> Any:
        """Return the chains as a narwhals lazy frame with ``contact_id``."""
        ...

    def collect(self, queries: Callable[[Any], list[Any]]) -> list[pl.DataFrame]:
        """Run ``queries(chains)`` (narwhals lazy frames) on the engine; return polars tables."""
        ...


@dataclass(frozen=True)
class CoreChains:
    """The chains of the core (:func:`counted_chains`) on the frame's engine."""

    lf: Any  # nw.LazyFrame
    engine: CoreEngine

    @property
    def shared(self) -> bool:
        """Polars collects the queries together (the chains once); the engines do not."""
        return self.engine == "polars"

    def frame(self) -> Any:
        """Return the chains as a narwhals lazy frame with ``contact_id``."""
        return self.lf

    def collect(self, queries: Callable[[Any], list[Any]]) -> list[pl.DataFrame]:
        """Run ``queries(chains)`` on the engine; return polars tables.

        On polars the queries are collected together, so the chains are
        computed once; DuckDB and Spark run each query on its own.
        """
        done = queries(self.lf)
        if self.engine == "polars":
            return pl.collect_all([nw.to_native(q) for q in done], engine="auto")
        return [collect_polars(q) for q in done]


def chains_of(
    events: Any,
    ns: NwSpec,
    *,
    since: TimeLike | None,
    until: TimeLike | None,
    by: str | None = None,
    contacts: Any = None,
    classified: pl.LazyFrame | pl.DataFrame | None = None,
) -> Chains:
    """Return the counted chains of ``ns`` over ``events``, from the accelerator or the core.

    The one place the chains' implementation is chosen: the accelerator
    registered for the events' engine (:func:`funnelkit.core.accelerators.accelerator`)
    when it takes the spec, else the core (:func:`counted_chains`) on the
    events turned into the core's frame (:func:`funnelkit.engine_frames.core_events`,
    the text columns the definition compares with numbers read as numbers).
    The columns the steps and the breakdown read are checked first, once for
    every engine (:func:`check_columns`).  The analyses never know which ran:
    both give the same columns.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog`, a polars frame, a DuckDB
        relation or a Spark DataFrame.
    ns
        The spec (:func:`nw_spec`).
    since, until
        The span read, as in :func:`funnelkit.conversion.funnel`.
    by
        An events or contacts column to break down by (``_seg_value``).
    contacts
        Contacts on the events' engine, for ``by`` on a contact attribute and
        for stages read by entry.
    classified
        A classification of the events with entry times, when already at
        hand (read by the polars accelerator; the core classifies).

    Returns
    -------
    Chains

    Raises
    ------
    MissingColumnError, DefinitionError
        As :func:`check_columns`.
    DataError
        The definition compares a text column with numbers and some of its
        values are not numbers.
    """
    ev = core_events(events)
    people = core_contacts(contacts, ev.engine)
    check_columns(ev, ns.spec, by=by, contacts=people)
    fast = accelerator("chains", ev.engine) if ns.spec.order not in CORE_ORDERS else None
    if fast is not None:
        found: Chains | None = fast(
            events,
            ns.spec,
            since=since,
            until=until,
            by=by,
            contacts=contacts,
            classified=classified,
        )
        if found is not None:
            return found
    if ns.spec.definition is not None:
        ev = with_numbers(ev, definition_filters(ns.spec), ns.spec.definition.title)
    lo, hi = span_us(since, until)
    lf = counted_chains(ev, ns, since=lo, until=hi, by=by, contacts=people, first_ever=True)
    return CoreChains(lf, ev.engine)
