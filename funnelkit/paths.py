"""Drop-off paths: what contacts do after the step where they stop, beside those who go on.

:func:`drop_off_paths` takes a funnel and one of its steps, *k*, and sorts the
contacts who reached step *k* into three groups: those who reached step
*k + 1* (**converted**), those who did not and whose window has closed
(**dropped**), and those who did not yet but whose window was still open
when the data ends (**open**: not a loss yet).  For each group it counts
the events the contacts did next (the first, second and third next event,
as paths), and how long ago their step *k* was.  The rules are in the
function's documentation and in ``docs/guides/drop-off-paths.md``.

The computation is written once on narwhals lazy frames (:func:`path_frames`)
and runs where the events are (polars, DuckDB, Spark); the per-contact
chains come from the chain rule through one function, :func:`step_chains`.
Only small tables come back: counts per path, per pair of consecutive events
and per group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import narwhals as nw
import polars as pl

from funnelkit.aggregate import check_count_option
from funnelkit.chains import Events
from funnelkit.core.chains import chains_of, nw_spec
from funnelkit.definitions import Funnel
from funnelkit.durations import format_duration
from funnelkit.engine_frames import (
    TS,
    collect_polars,
    core_events,
    horizontal,
    restrict,
    span_us,
    to_us,
)
from funnelkit.errors import ParameterError
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import EVENT, ContactTable
from funnelkit.markup import Markup, format_html, join_html
from funnelkit.reprs import brief_repr
from funnelkit.stats import LEAK_BASE as LEAK_BASE
from funnelkit.stats import biggest_leak
from funnelkit.steps import (
    Exclusion,
    Order,
    Spec,
    StageSteps,
    StepSpec,
    StepsSpec,
    step_number,
    warn_outside_events,
    warn_unknown_events,
)
from funnelkit.timeutil import TimeLike, parse_as_of, time_bounds

__all__ = [
    "GROUPS",
    "LEAK_BASE",
    "NO_EVENT",
    "OTHER",
    "DropOffPaths",
    "Group",
    "biggest_leak_step",
    "drop_off_paths",
    "group_label",
    "path_frames",
    "step_chains",
]

Group = Literal["converted", "dropped", "open"]
#: The groups, in the order tables list them.
GROUPS: tuple[Group, ...] = ("converted", "dropped", "open")
#: The path of a contact who did nothing in its cut.
NO_EVENT = "(no further event)"
#: Paths beyond ``top``, or shared by fewer than ``min_size`` contacts, counted together.
OTHER = "(other)"
_ONE_US = 1
_AFTER = 2**62  # the time of the sentinel row of a contact's events outside its cut
_MAX_DEPTH = 5

_GROUP_WORDS: dict[str, dict[str, str]] = {
    "converted": {"en": "went on to {next}", "fr": "passés à {next}"},
    "dropped": {"en": "stopped (window closed)", "fr": "arrêtés (fenêtre close)"},
    "open": {"en": "not yet (window still open)", "fr": "pas encore (fenêtre ouverte)"},
}
_MEASURES: dict[str, str] = {
    "converted": "time from step k to step k+1",
    "dropped": "time from step k to the end of the data",
    "open": "time from step k to the end of the data",
}


def group_label(group: str, next_step: str, lang: str = "en") -> str:
    """Return the words for ``group`` in ``lang`` (``"en"`` or ``"fr"``).

    The figure's and the table's names of the three groups, with the next
    step's name.

    Parameters
    ----------
    group
        ``"converted"``, ``"dropped"`` or ``"open"``.
    next_step
        The name of step *k+1*.
    lang
        ``"en"`` or ``"fr"`` (any other language reads English).

    Returns
    -------
    str

    Raises
    ------
    KeyError
        When ``group`` is not one of the three.

    Examples
    --------
    >>> group_label("converted", "purchase")
    'went on to purchase'

    See the guide: docs/guides/drop-off-paths.md
    """
    words = _GROUP_WORDS[group]
    return words["fr" if lang == "fr" else "en"].format(next=next_step)


# --- the chains, through one function ---------------------------------------------------
def step_chains(
    events: Events | Any,
    steps: StepsSpec,
    *,
    window: str | timedelta,
    order: Order,
    first_entry: bool,
    exclusions: Iterable[Exclusion | tuple[StepSpec, int, int]],
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | Any | None,
    since: datetime | None,
    until: datetime | None,
    stage_steps: StageSteps,
    definition: Funnel | None,
) -> tuple[Any, Any, Spec]:
    """Return the counted chains, the events read, and the funnel's spec (the chain rule's rows).

    The one place this module asks for per-contact chains, from
    :func:`funnelkit.core.chains.chains_of` (the accelerator or the core,
    whatever holds the events).  The chains hold ``contact_id``, ``_lvl``,
    ``_excluded`` and ``_t1.._tn`` (epoch µs); the events of ``[since,
    until)`` hold ``contact_id``, ``event`` and ``_ts`` (epoch µs).

    Parameters
    ----------
    events
        The events, on any engine.
    steps, window, order, first_entry, exclusions, contacts, since, until, stage_steps, definition
        As in :func:`drop_off_paths` (``since`` and ``until`` already read).

    Returns
    -------
    tuple
        ``(chains, events, spec)``: two narwhals lazy frames and the
        :class:`~funnelkit.steps.Spec`.

    Raises
    ------
    ParameterError
        When an option cannot be read.

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a"], "occurred_at": [day], "event": ["visit"]})
    >>> chains, read, spec = step_chains(log, ["visit", "buy"], window="7d", order="ordered",
    ...     first_entry=False, exclusions=(), contacts=None, since=None, until=None,
    ...     stage_steps="entry", definition=None)
    >>> chains.collect()["_lvl"].to_list(), spec.n
    ([1], 2)

    See the guide: docs/guides/drop-off-paths.md
    """
    ns = nw_spec(
        steps,
        window,
        order,
        first_entry,
        exclusions,
        stage_steps=stage_steps,
        definition=definition,
    )
    chains = chains_of(events, ns, since=since, until=until, contacts=contacts).frame()
    lo, hi = span_us(since, until)
    read = restrict(core_events(events).lf, lo, hi).select(CID, EVENT, TS)
    times = [nw.col(f"_t{j}").cast(nw.Int64()) for j in range(1, ns.n + 1)]
    lvl = nw.col("_lvl").cast(nw.Int64())
    return chains.select(CID, lvl, nw.col("_excluded").cast(nw.Boolean()), *times), read, ns.spec


# --- the core: written once, narwhals ---------------------------------------------------
def _s(value: str) -> Any:
    return nw.lit(value, dtype=nw.String())


def _e(j: int) -> str:
    return f"_e{j}"


def path_frames(
    chains: Any,
    events: Any,
    *,
    step: int,
    window_us: int,
    end_us: int,
    now_us: int,
    depth: int,
) -> Any:
    """Return one small narwhals frame holding every count :func:`drop_off_paths` shows.

    One row per group (``_group``) and path ``_e1.._e{depth}`` (the first
    ``depth`` next events, null past the last; ``_e1`` is :data:`NO_EVENT`
    without any): ``contacts`` and the quartiles ``_q1``, ``_q2``, ``_q3`` of
    the group's waits (µs).  The prefixes, the links and the group sizes are
    sums over these rows; the plan reads the chains once.

    Parameters
    ----------
    chains, events
        Those of :func:`step_chains`.
    step
        *k* (1-based).
    window_us
        The window, in microseconds.
    end_us
        The first instant not read (epoch µs).
    now_us
        The instant the waits of the contacts who did not go on run to.
    depth
        How many next events a path holds.

    Returns
    -------
    narwhals.LazyFrame

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a"], "occurred_at": [day, day],
    ...                     "event": ["visit", "like"]})
    >>> chains, read, spec = step_chains(log, ["visit", "buy"], window="7d", order="ordered",
    ...     first_entry=False, exclusions=(), contacts=None, since=None, until=None,
    ...     stage_steps="entry", definition=None)
    >>> end = 2 * 10**15
    >>> out = path_frames(chains, read, step=1, window_us=spec.window_us, end_us=end,
    ...                   now_us=end, depth=1).collect()
    >>> out.select("_group", "_e1", "contacts").rows()
    [('dropped', '(no further event)', 1)]

    See the guide: docs/guides/drop-off-paths.md
    """
    k = step
    t = [nw.col(f"_t{j}") for j in range(step + 2)]  # t[j] is _tj (t[0] unused)
    went_on = nw.col("_lvl") > k
    window_end = t[1] + window_us
    closed = window_end < end_us
    group = (
        nw.when(went_on)
        .then(_s("converted"))
        .otherwise(nw.when(closed).then(_s("dropped")).otherwise(_s("open")))
    )
    cut = nw.when(went_on).then(t[k + 1]).otherwise(horizontal("min", [window_end + 1, end_us]))
    wait = nw.when(went_on).then(t[k + 1] - t[k]).otherwise(now_us - t[k])
    members = chains.filter(~nw.col("_excluded") & (nw.col("_lvl") >= k)).select(
        CID, _group=group, _from=t[k], _to=cut, _wait=wait
    )
    inside = ((nw.col(TS) > nw.col("_from")) & (nw.col(TS) < nw.col("_to"))).fill_null(False)
    rows = (
        members.join(events.select(CID, TS, EVENT), on=CID, how="left")
        .with_columns(_in=inside)
        .select(
            CID,
            "_group",
            "_wait",
            "_in",
            _at=nw.when(nw.col("_in")).then(nw.col(TS)).otherwise(nw.lit(_AFTER, nw.Int64())),
            _ev=nw.when(nw.col("_in")).then(nw.col(EVENT)).otherwise(_s("")),
        )
        .unique([CID, "_at", "_ev"])
    )
    order = ["_at", "_ev"]
    previous = nw.col("_ev").shift(1).over(CID, order_by=order)
    collapsed = rows.with_columns(_prev=previous).filter(
        nw.col("_prev").is_null() | (nw.col("_prev") != nw.col("_ev")) | ~nw.col("_in")
    )
    numbered = collapsed.with_columns(_pos=nw.col("_at").cum_count().over(CID, order_by=order))
    every = [_e(j) for j in range(1, depth + 1)]
    per = (
        numbered.with_columns(
            **{
                _e(j): nw.when(nw.col("_in") & (nw.col("_pos") == j)).then(nw.col("_ev"))
                for j in range(1, depth + 1)
            }
        )
        .group_by(CID)
        .agg(nw.col("_group").min(), nw.col("_wait").min(), *(nw.col(e).max() for e in every))
        .with_columns(nw.col(_e(1)).fill_null(_s(NO_EVENT)))
    )
    wait_us = nw.col("_wait")
    quartiles = {
        f"_q{i}": wait_us.quantile(q, interpolation="linear").over("_group").cast(nw.Float64())
        for i, q in ((1, 0.25), (2, 0.5), (3, 0.75))
    }
    return (
        per.with_columns(**quartiles)
        .group_by("_group", *every)
        .agg(
            nw.len().cast(nw.Int64()).alias("contacts"),
            *(nw.col(q).min() for q in quartiles),
        )
        .select("_group", *every, "contacts", *quartiles)
    )


# --- choosing the step --------------------------------------------------------------------
def biggest_leak_step(counts: Sequence[int], *, leak_base: int = LEAK_BASE) -> int:
    """Return *k*, the step after which the funnel loses the largest share (1-based).

    The step before :func:`funnelkit.stats.biggest_leak`, the one rule of the
    biggest leak: among the steps *k* with at
    least ``leak_base`` contacts (all steps when none has), the lowest
    ``counts[k] / counts[k-1]`` (1-based: step *k+1* over step *k*); the
    first on ties; 1 when no step has contacts.

    Parameters
    ----------
    counts
        Contacts at each step, step 1 first.
    leak_base
        The fewest contacts at step *k* for it to be a candidate.

    Returns
    -------
    int

    Examples
    --------
    >>> biggest_leak_step([100, 40, 30])
    1
    >>> biggest_leak_step([100, 90, 10, 9])
    2

    See the guide: docs/guides/drop-off-paths.md
    """
    leak = biggest_leak(counts, leak_base=leak_base)
    return 1 if leak is None else leak - 1


def _check_step(step: int | str | None, spec: Spec) -> int | None:
    """Return *k* for ``step`` (1-based, a number, step name or stage id), refusing the last."""
    if step is None:
        return None
    k = step_number(step, spec)
    names = [s.name for s in spec.steps]
    n = len(names)
    if not 1 <= k <= n - 1:
        msg = (
            f"step: {step!r} has no next step; give a step from 1 to {n - 1} "
            f"({', '.join(names[:-1])}): the paths are read between step k and step k+1."
        )
        raise ParameterError(msg)
    return k


# --- the public function -----------------------------------------------------------------
def drop_off_paths(
    events: Events | Any,
    steps: StepsSpec,
    *,
    window: str | timedelta,
    step: int | str | None = None,
    depth: int = 3,
    top: int = 10,
    min_size: int = 30,
    order: Order = "ordered",
    first_entry: bool = False,
    exclusions: Iterable[Exclusion | tuple[StepSpec, int, int]] = (),
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | Any | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    as_of: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
) -> DropOffPaths:
    """Return what contacts did after step *k* of a funnel: those who stopped, and the others.

    Every contact whose counted chain (the rule of
    :func:`funnelkit.conversion.funnel`) reached step *k* is ``"converted"``
    (it reached *k+1*), ``"dropped"`` (its window has closed) or ``"open"``
    (its window is still open: not a loss).  Its path is its first ``depth``
    events after step *k* (any name, ties alphabetical, consecutive repeats
    collapsed), cut at step *k+1* or at the end of its window.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog`, a canonical polars frame, a
        DuckDB relation or a Spark DataFrame.
    steps, window, order, first_entry, exclusions, contacts, stage_steps, definition
        As in :func:`funnelkit.conversion.funnel`.  ``order="any"`` has no
        "after step *k*" and is refused.
    step
        *k*: the step number (1 to n-1) or the step's name.  By default the
        biggest leak (:func:`biggest_leak_step`).
    depth
        How many next events a path holds (1 to 5).
    top
        Paths kept per group and length, the most frequent first; the others
        are counted as ``"(other)"`` (in the figure's links too).
    min_size
        Small counts are suppressed: a path shared by fewer contacts is
        counted as ``"(other)"``, a link with fewer contacts is not kept, and
        a group with fewer contacts shows no quartiles.
    since, until
        Only events with ``since <= occurred_at < until`` are read.
    as_of
        What the data is known up to (a bare date is the end of that day):
        events after it are not read.  The end of the data is the earlier
        of ``until`` and ``as_of``, else just after the last event read.

    Returns
    -------
    DropOffPaths
        ``.table`` (paths per group), ``.groups`` (sizes and waits),
        ``.links`` (for the Sankey figure), ``to_dict()`` and a notebook display.

    Raises
    ------
    ParameterError
        An unusable step, window, order, depth, top or min_size.

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({
    ...     "contact_id": ["a", "a", "a", "b", "b", "b"],
    ...     "occurred_at": [day, day + dt.timedelta(days=1), day + dt.timedelta(days=2),
    ...                     day, day + dt.timedelta(days=1), day + dt.timedelta(days=3)],
    ...     "event": ["visit", "pricing", "purchase", "visit", "pricing", "support"],
    ... })
    >>> paths = drop_off_paths(log, ["visit", "pricing", "purchase"], window="7d", step=2,
    ...                        min_size=1, until=day + dt.timedelta(days=30))
    >>> paths.table.select("group", "path", "contacts").rows()
    [('converted', '(no further event)', 1), ('dropped', 'support', 1)]

    See the guide: docs/guides/drop-off-paths.md
    """
    if order == "any":
        msg = (
            "order: 'any' has no 'after step k' (its steps may come in any order); "
            "use order='ordered' or 'strict_increase' for drop-off paths"
        )
        raise ParameterError(msg)
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= _MAX_DEPTH:
        msg = f"depth: expected a whole number from 1 to {_MAX_DEPTH}, got {depth!r}"
        raise ParameterError(msg)
    check_count_option(top, "top", allow_none=False)
    check_count_option(min_size, "min_size", allow_none=False)
    lo, hi = time_bounds(since, until)
    known = parse_as_of(as_of)
    if known is not None:
        after_known = known + timedelta(microseconds=_ONE_US)
        hi = after_known if hi is None else min(hi, after_known)
        if lo is not None and hi <= lo:
            msg = f"as_of ({known:%Y-%m-%d %H:%M}) is before since ({lo:%Y-%m-%d %H:%M})"
            raise ParameterError(msg)
    chains, read, spec = step_chains(
        events,
        steps,
        window=window,
        order=order,
        first_entry=first_entry,
        exclusions=exclusions,
        contacts=contacts,
        since=lo,
        until=hi,
        stage_steps=stage_steps,
        definition=definition,
    )
    warn_unknown_events(events, spec)
    warn_outside_events(events, since=since, until=until, as_of=as_of)
    names = [s.name for s in spec.steps]
    if spec.n < 2:
        msg = "steps: drop-off paths need a funnel of at least two steps"
        raise ParameterError(msg)
    k = _check_step(step, spec)
    if hi is not None:
        end_us = to_us(hi)
    else:
        last = collect_polars(read.select(nw.col(TS).max().alias("_m"))).item()
        end_us = None if last is None else int(last) + _ONE_US
    if k is None:
        kept = chains.filter(~nw.col("_excluded"))
        levels = collect_polars(kept.group_by("_lvl").agg(nw.len().alias("n")))
        reached = {int(lvl): int(n) for lvl, n in levels.iter_rows()}
        counts = [sum(v for lvl, v in reached.items() if lvl >= j) for j in range(1, spec.n + 1)]
        k = biggest_leak_step(counts)
    # the waits run to ``until``, or to ``as_of`` (the earlier), else to the last event read
    by_until = hi is not None and (known is None or hi < known + timedelta(microseconds=_ONE_US))
    now_us = end_us if by_until or end_us is None else end_us - _ONE_US
    if end_us is None or now_us is None:  # no event at all
        long = pl.DataFrame()
    else:
        long = collect_polars(
            path_frames(
                chains,
                read,
                step=k,
                window_us=spec.window_us,
                end_us=end_us,
                now_us=now_us,
                depth=depth,
            )
        )
    return _finish(
        long,
        step=k,
        names=names,
        window=timedelta(microseconds=spec.window_us),
        depth=depth,
        top=top,
        min_size=min_size,
        as_of=None if now_us is None else _moment(now_us),
        order=spec.order,
        stage_steps=spec.stage_steps,
    )


def _moment(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _duration(value: Any) -> pl.Expr:
    return pl.col(value).round(0).cast(pl.Int64).cast(pl.Duration("us"))


_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "group": pl.String(),
    "length": pl.Int64(),
    "path": pl.String(),
    "contacts": pl.Int64(),
    "share": pl.Float64(),
}
_GROUPS_SCHEMA: dict[str, pl.DataType] = {
    "group": pl.String(),
    "contacts": pl.Int64(),
    "share": pl.Float64(),
    "measure": pl.String(),
    "q1": pl.Duration("us"),
    "median": pl.Duration("us"),
    "q3": pl.Duration("us"),
    "suppressed": pl.Boolean(),
}
_LINKS_SCHEMA: dict[str, pl.DataType] = {
    "group": pl.String(),
    "position": pl.Int64(),
    "source": pl.String(),
    "target": pl.String(),
    "contacts": pl.Int64(),
}


def _finish(
    long: pl.DataFrame,
    *,
    step: int,
    names: Sequence[str],
    window: timedelta,
    depth: int,
    top: int,
    min_size: int,
    as_of: datetime | None,
    order: Order,
    stage_steps: StageSteps,
) -> DropOffPaths:
    """Turn the collected frame into the result: prefixes, links, top paths, suppression."""
    first = names[step - 1]
    event_cols = [f"event_{j}" for j in range(1, depth + 1)]
    table_schema = {**_TABLE_SCHEMA, **dict.fromkeys(event_cols, pl.String())}
    if long.is_empty():
        return DropOffPaths(
            table=pl.DataFrame(schema=table_schema).select(_table_columns(depth)),
            groups=_groups_frame(pl.DataFrame(schema=_GROUPS_SCHEMA), min_size),
            links=pl.DataFrame(schema=_LINKS_SCHEMA),
            step=step,
            step_names=tuple(names),
            window=window,
            depth=depth,
            top=top,
            min_size=min_size,
            as_of=as_of,
            order=order,
            stage_steps=stage_steps,
        )
    renamed = {f"_e{j}": f"event_{j}" for j in range(1, depth + 1)}
    long = long.rename({"_group": "group", **renamed})
    sizes = long.group_by("group").agg(
        pl.col("contacts").sum(), *(pl.col(q).first() for q in ("_q1", "_q2", "_q3"))
    )
    total = int(sizes["contacts"].sum())
    groups = sizes.select(
        "group",
        "contacts",
        share=pl.col("contacts") / total,
        measure=pl.col("group").replace_strict(_MEASURES, return_dtype=pl.String),
        q1=_duration("_q1"),
        median=_duration("_q2"),
        q3=_duration("_q3"),
        suppressed=pl.lit(False),
    )
    size_of = dict(zip(groups["group"].to_list(), groups["contacts"].to_list(), strict=True))
    full = long.select("group", *event_cols, "contacts")
    prefixes = []
    pairs = []
    for length in range(1, depth + 1):
        keys = event_cols[:length]
        reached = full.filter(pl.col(event_cols[length - 1]).is_not_null())
        prefixes.append(
            reached.group_by("group", *keys)
            .agg(pl.col("contacts").sum())
            .with_columns(
                length=pl.lit(length, pl.Int64),
                **{c: pl.lit(None, pl.String) for c in event_cols[length:]},
            )
            .select("group", "length", *event_cols, "contacts")
        )
        source = pl.lit(first) if length == 1 else pl.col(event_cols[length - 2])
        pairs.append(
            reached.group_by("group", source.alias("event_1"), pl.col(keys[-1]).alias("event_2"))
            .agg(pl.col("contacts").sum())
            .select(
                "group",
                length=pl.lit(length, pl.Int64),
                event_1="event_1",
                event_2="event_2",
                contacts="contacts",
            )
        )
    paths = pl.concat(prefixes).with_columns(
        path=pl.concat_str(
            [pl.col(c) for c in event_cols], separator=" → ", ignore_nulls=True
        ).cast(pl.String)
    )
    table = _top_paths(paths, event_cols, top, min_size, size_of)
    links = _top_links(pl.concat(pairs), top, min_size)
    return DropOffPaths(
        table=table.select(_table_columns(depth)),
        groups=_groups_frame(groups, min_size),
        links=links,
        step=step,
        step_names=tuple(names),
        window=window,
        depth=depth,
        top=top,
        min_size=min_size,
        as_of=as_of,
        order=order,
        stage_steps=stage_steps,
    )


def _table_columns(depth: int) -> list[str]:
    return [
        "group",
        "length",
        "path",
        *(f"event_{j}" for j in range(1, depth + 1)),
        "contacts",
        "share",
    ]


def _group_rank() -> pl.Expr:
    return pl.col("group").replace_strict(
        {g: i for i, g in enumerate(GROUPS)}, default=len(GROUPS), return_dtype=pl.Int64
    )


def _groups_frame(groups: pl.DataFrame, min_size: int) -> pl.DataFrame:
    """Every group, in :data:`GROUPS` order (absent ones with 0 contacts); small ones blanked."""
    every = pl.DataFrame({"group": list(GROUPS)}, schema={"group": pl.String})
    out = every.join(groups, on="group", how="left", maintain_order="left").with_columns(
        pl.col("contacts").fill_null(0),
        pl.col("share").fill_null(0.0),
        pl.col("group").replace_strict(_MEASURES, return_dtype=pl.String).alias("measure"),
    )
    small = pl.col("contacts") < max(min_size, 1)
    return out.with_columns(
        *(pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in ("q1", "median", "q3")),
        suppressed=small,
    ).select(list(_GROUPS_SCHEMA))


def _top_paths(
    paths: pl.DataFrame,
    event_cols: list[str],
    top: int,
    min_size: int,
    size_of: Mapping[str, int],
) -> pl.DataFrame:
    """Keep the ``top`` paths of each group and length with at least ``min_size`` contacts."""
    keys = ["group", "length"]
    ranked = paths.sort(
        [_group_rank(), "length", "contacts", "path"], descending=[False, False, True, False]
    ).with_columns(_rank=pl.int_range(pl.len()).over(keys))
    shown = ranked.filter((pl.col("_rank") < top) & (pl.col("contacts") >= max(min_size, 1)))
    rest = (
        ranked.join(shown.select(*keys, "path"), on=[*keys, "path"], how="anti")
        .group_by(keys)
        .agg(pl.col("contacts").sum())
        .filter(pl.col("contacts") > 0)
        .with_columns(path=pl.lit(OTHER), **{c: pl.lit(None, pl.String) for c in event_cols})
    )
    columns = [*keys, "path", *event_cols, "contacts"]
    out = pl.concat([shown.select(columns), rest.select(columns)], how="vertical_relaxed")
    out = out.sort(
        [_group_rank(), "length", pl.col("path") == OTHER, "contacts", "path"],
        descending=[False, False, False, True, False],
    )
    sizes = pl.col("group").replace_strict(dict(size_of), default=None, return_dtype=pl.Int64)
    return out.with_columns(share=pl.col("contacts") / sizes)


def _top_links(links: pl.DataFrame, top: int, min_size: int) -> pl.DataFrame:
    """Return the Sankey's links: the ``top`` events at each position, the rest ``(other)``.

    A link with fewer than ``min_size`` contacts is dropped (not drawn).
    """
    links = links.select(
        "group", position="length", source="event_1", target="event_2", contacts="contacts"
    )
    ranks = (
        links.group_by("position", "target")
        .agg(pl.col("contacts").sum())
        .sort(["position", "contacts", "target"], descending=[False, True, False])
        .with_columns(_rank=pl.int_range(pl.len()).over("position"))
    )
    keep = ranks.filter((pl.col("_rank") < top) | (pl.col("target") == NO_EVENT))
    kept = keep.select("position", "target", _keep=pl.lit(True))
    named = links.join(kept, on=["position", "target"], how="left").with_columns(
        target=pl.when(pl.col("_keep")).then(pl.col("target")).otherwise(pl.lit(OTHER))
    )
    # the source of position p is the target of position p-1, mapped the same way
    earlier = kept.select(
        position=pl.col("position") + 1, source=pl.col("target"), _src_keep=pl.lit(True)
    )
    named = named.join(earlier, on=["position", "source"], how="left").with_columns(
        source=pl.when((pl.col("position") == 1) | pl.col("_src_keep"))
        .then(pl.col("source"))
        .otherwise(pl.lit(OTHER))
    )
    out = (
        named.group_by("group", "position", "source", "target")
        .agg(pl.col("contacts").sum())
        .filter(pl.col("contacts") >= max(min_size, 1))
        .sort(
            [_group_rank(), "position", "contacts", "source", "target"],
            descending=[False, False, True, False, False],
        )
    )
    return out.select(list(_LINKS_SCHEMA)).cast(_LINKS_SCHEMA)  # type: ignore[arg-type]


# --- the result ------------------------------------------------------------------------------
def _pct(value: object) -> str:
    return "" if not isinstance(value, int | float) else f"{float(value):.1%}"


def _span(value: object) -> str:
    """Return a wait, short: ``45m``, ``5.5h``, ``12.3d``."""
    if not isinstance(value, timedelta):
        return ""
    seconds = value.total_seconds()
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


@dataclass(frozen=True)
class DropOffPaths:
    """What contacts did after step *k*; see :func:`drop_off_paths`.

    Attributes
    ----------
    table
        One row per group, path length and path: ``group`` (``"converted"``,
        ``"dropped"``, ``"open"``), ``length`` (1 to ``depth``), ``path``
        (the events joined by ``" → "``, or ``"(no further event)"``, or
        ``"(other)"``), ``event_1`` ... ``event_<depth>``, ``contacts``
        (contacts whose first ``length`` next events are these) and
        ``share`` (of the group's contacts).  Per group and length, the
        ``top`` paths with at least ``min_size`` contacts, most frequent
        first, then ``"(other)"`` for the rest.
    groups
        One row per group: ``group``, ``contacts``, ``share`` (of the contacts
        who reached step *k*), ``measure`` (what the wait is), ``q1``,
        ``median``, ``q3`` (durations; null when ``suppressed``: fewer than
        ``min_size`` contacts).
    links
        The figure's links: ``group``, ``position`` (1 = first next event),
        ``source`` (step *k*'s name at position 1, else the event before),
        ``target``, ``contacts``.
    step
        *k*, 1-based.
    step_names
        The funnel's step names.
    window, depth, top, min_size, order, stage_steps
        The options used.
    as_of
        The last instant of the data read (``None`` without events).
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    table: pl.DataFrame
    groups: pl.DataFrame
    links: pl.DataFrame
    step: int
    step_names: tuple[str, ...]
    window: timedelta
    depth: int
    top: int
    min_size: int
    as_of: datetime | None
    order: Order = "ordered"
    stage_steps: StageSteps = "entry"

    @property
    def from_name(self) -> str:
        """The name of step *k*."""
        return self.step_names[self.step - 1]

    @property
    def to_name(self) -> str:
        """The name of step *k+1*."""
        return self.step_names[self.step]

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary.

        ``{"step", "from_step", "to_step", "window", "window_seconds", "depth",
        "top", "min_size", "as_of", "order", "stage_steps", "groups": [...],
        "paths": [...], "links": [...]}``; durations in seconds.
        """
        groups = []
        for row in self.groups.iter_rows(named=True):
            groups.append(
                {
                    "group": row["group"],
                    "contacts": row["contacts"],
                    "share": row["share"],
                    "measure": row["measure"],
                    "suppressed": row["suppressed"],
                    **{
                        f"{c}_seconds": None if row[c] is None else row[c].total_seconds()
                        for c in ("q1", "median", "q3")
                    },
                }
            )
        return {
            "step": self.step,
            "from_step": self.from_name,
            "to_step": self.to_name,
            "window": format_duration(self.window),
            "window_seconds": self.window.total_seconds(),
            "depth": self.depth,
            "top": self.top,
            "min_size": self.min_size,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "order": self.order,
            "stage_steps": self.stage_steps,
            "groups": groups,
            "paths": self.table.to_dicts(),
            "links": self.links.to_dicts(),
        }

    def _title(self) -> str:
        return (
            f"After {self.from_name} (step {self.step}): who went on to {self.to_name}, "
            f"who stopped (window {format_duration(self.window)})"
        )

    def to_text(self) -> str:
        """Return the groups and the paths as plain text (what the command line prints)."""
        lines = [self._title(), ""]
        for row in self.groups.iter_rows(named=True):
            label = group_label(row["group"], self.to_name)
            wait = (
                f"{row['measure']}: median {_span(row['median'])}, "
                f"quartiles {_span(row['q1'])} to {_span(row['q3'])}"
                if not row["suppressed"]
                else "too few contacts to show times"
            )
            lines.append(f"{label}: {row['contacts']:,} ({_pct(row['share'])}); {wait}")
        if self.table.height:
            lines += ["", "Next events (consecutive repeats collapsed):"]
            lines.append(f"  {'group':<9}  {'events':>6}  {'contacts':>8}  {'share':>6}  path")
        for row in self.table.iter_rows(named=True):
            lines.append(
                f"  {row['group']:<9}  {row['length']:>6}  {row['contacts']:>8,}  "
                f"{_pct(row['share']):>6}  {row['path']}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        """``print(result)`` shows :meth:`to_text`."""
        return self.to_text()

    def _repr_html_(self) -> str:
        group_rows = join_html(
            format_html(
                "<tr><td>{}</td><td>{:,}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                group_label(r["group"], self.to_name),
                r["contacts"],
                _pct(r["share"]),
                _span(r["q1"]),
                _span(r["median"]),
                _span(r["q3"]),
            )
            for r in self.groups.iter_rows(named=True)
        )
        path_rows = join_html(
            format_html(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:,}</td><td>{}</td></tr>",
                group_label(r["group"], self.to_name),
                r["length"],
                r["path"],
                r["contacts"],
                _pct(r["share"]),
            )
            for r in self.table.iter_rows(named=True)
        )
        head = Markup("<thead><tr><th>{}</th></tr></thead>")
        groups_head = head.format(
            Markup("</th><th>").join(["group", "contacts", "share", "q1", "median", "q3"])
        )
        paths_head = head.format(
            Markup("</th><th>").join(["group", "events", "path", "contacts", "share of group"])
        )
        return format_html(
            "<div><table class='funnelkit'><caption style='text-align:left'>{}</caption>"
            "{}<tbody>{}</tbody></table>"
            "<table class='funnelkit'><caption style='text-align:left'>{}</caption>"
            "{}<tbody>{}</tbody></table></div>",
            self._title(),
            groups_head,
            group_rows,
            f"Next events after {self.from_name} (consecutive repeats collapsed)",
            paths_head,
            path_rows,
        )
