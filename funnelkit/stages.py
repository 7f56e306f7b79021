"""Classify contacts into funnel stages, and what follows from a classification.

:func:`classify` puts every contact in one stage of a funnel definition (see
:mod:`funnelkit.definitions`) as of an instant.  :func:`snapshot` counts a
classification, :func:`flows` shows who moved between two instants,
:func:`compare` crosses two definitions on the same contacts and
:func:`explain` tells, for one contact, which event put it in each stage.

The rules of classification
---------------------------
*As of.*  Only events at or before ``as_of`` count (an event exactly at
``as_of`` counts); contacts first known after it are left out.  A date
without a time means the end of that day.  Without ``as_of``, every event
counts and the inactivity clock stops at the latest event of the data.

*Known contacts and the entry stage.*  Every contact with at least one event
(of any name, even one the definition does not mention) or a row in the
``contacts`` table is in the first stage at least.  It entered it at its
first event or at its ``created_at`` in the contacts table, whichever is
earlier; a contact with no event and no ``created_at`` has a null entry time.

*Reaching a stage.*  A stage is reached at the first instant one of its
conditions holds: an events condition at its ``min_count``-th evidence event
(an event named by the condition whose property filters hold; a null
property never satisfies a filter), a points condition at the first event
where the contact's score is at least the threshold.  Events at the same
instant count together, whatever their order in the data.  The score at an
instant sums the points of the scoring events up to it, each multiplied by
``0.5 ** (age / half_life)``; it is compared with a relative tolerance of
1e-9 (``score >= threshold * (1 - 1e-9)``) so that rounding in the decay never
hides an exact hit.  Contributions older than 64 half-lives (a factor below
5e-20) may be left out, which keeps the sums finite for any history length.

*Forward only, stage skipping.*  The current stage is the highest stage
reached; a stage never un-reaches (a decayed score does not bring a contact
back).  A stage skipped on the way counts as reached when a later stage was,
so ``<stage>_at`` never decreases down the funnel and a contact counted at a
stage has passed every stage before it.

*Unknown events.*  An event named by no rule of the definition makes its
contact known (entry stage) but moves it nowhere and is not *activity*.

*Activity and lapsing.*  ``last_activity_at`` is the time of the contact's
latest event named by the definition.  A stage with ``lapse_after`` /
``lapse_to``: a contact whose current stage it is, with no activity for at
least ``lapse_after`` before ``as_of`` (or the latest event of the data), is
reported at ``lapse_to`` instead, and in turn at that stage's own ``lapse_to``
if the same idle time lapses it too.  Lapsing changes ``stage`` and
``stage_rank`` only; the ``<stage>_at`` columns keep the first time each
stage was reached.  Any new evidence event is also activity, so a lapsed
contact is back at its stage as soon as it is active again.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC as _UTC
from datetime import datetime, timedelta

import polars as pl

from funnelkit import frames
from funnelkit.definitions import (
    Condition,
    EventRule,
    Funnel,
    PointsRule,
    duration_text,
    lapse_chains,
)
from funnelkit.errors import MissingColumnError, ParameterError
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import CREATED_AT as CREATED
from funnelkit.events import EVENT, ContactTable, EventLog, as_lazy, as_lazy_contacts
from funnelkit.events import OCCURRED_AT as T
from funnelkit.events import TIMESTAMP as UTC
from funnelkit.timeutil import Instant, fmt_time, instant

__all__ = [
    "Comparison",
    "Explanation",
    "Flows",
    "Snapshot",
    "classify",
    "compare",
    "explain",
    "flows",
    "snapshot",
]

EventsLike = EventLog | pl.DataFrame | pl.LazyFrame
FrameLike = pl.DataFrame | pl.LazyFrame
ContactsLike = ContactTable | pl.DataFrame | pl.LazyFrame


# The score of points rules, alike on every engine (see ``_scores``): the relative
# tolerance of a threshold, half-lives per block and carried into the next block,
# and the origin of the time in half-lives (2000-01-01 UTC, epoch µs).
SCORE_TOLERANCE = 1e-9
SCORE_BLOCK = 512.0
SCORE_REACH = 64.0
SCORE_ANCHOR_US = int(datetime(2000, 1, 1, tzinfo=_UTC).timestamp()) * 1_000_000


# --- small helpers -------------------------------------------------------------------
def _collect(lf: pl.LazyFrame) -> pl.DataFrame:
    return lf.collect(engine="streaming")


def _lit_time(value: datetime | None) -> pl.Expr:
    return pl.lit(value, dtype=UTC)


def _contacts_frame(contacts: ContactsLike | None, cut: datetime | None) -> pl.LazyFrame | None:
    """Return ``contact_id`` and ``_created`` (one row per contact) known by ``cut``."""
    if contacts is None:
        return None
    lf = as_lazy_contacts(contacts)
    names = lf.collect_schema().names()
    created = pl.col(CREATED) if CREATED in names else pl.lit(None, dtype=UTC)
    lf = lf.select(pl.col(CID), created.cast(UTC).alias("_created")).filter(
        pl.col(CID).is_not_null()
    )
    if cut is not None:
        lf = lf.filter(pl.col("_created").is_null() | (pl.col("_created") <= _lit_time(cut)))
    return lf.group_by(CID).agg(pl.col("_created").min())


# --- the plan of a funnel ------------------------------------------------------------
def plan_conditions(
    funnel: Funnel,
) -> tuple[tuple[tuple[int, EventRule], ...], tuple[tuple[int, Condition], ...]]:
    """Split the conditions of ``funnel`` as :class:`_Plan` does, for every engine.

    Returns the simple conditions and the rest, each with its stage rank.

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
class _Plan:
    """How to compute a funnel: simple conditions as a per-event rank, the rest apart.

    A points condition is split in two: its events worth the threshold on
    their own are a simple condition (any one of them reaches the stage), and
    only the others need a running score.  The stage is reached at the
    earlier of the two: before the first big event the score is made of small
    events only, and at the first big event the stage is reached anyway.
    """

    funnel: Funnel
    simple: tuple[tuple[int, EventRule], ...]
    complex: tuple[tuple[int, Condition], ...]

    @classmethod
    def of(cls, funnel: Funnel) -> _Plan:
        return cls(funnel, *plan_conditions(funnel))

    @property
    def size(self) -> int:
        return len(self.funnel.stages)

    def rank_expr(self) -> pl.Expr:
        """Per event: the highest stage it is simple evidence for (1 if none)."""
        out = pl.lit(1, dtype=pl.Int16)
        for rank in range(2, self.size + 1):
            conds = [c for r, c in self.simple if r == rank]
            if not conds:
                continue
            plain = [e for c in conds if not c.where for e in c.events]
            parts = [c.evidence() for c in conds if c.where]
            if plain:
                parts.append(pl.col(EVENT).is_in(sorted(set(plain))))
            hit = parts[0] if len(parts) == 1 else pl.any_horizontal(parts)
            out = pl.when(hit).then(pl.lit(rank, dtype=pl.Int16)).otherwise(out)
        return out

    def simple_from(self, rank: int) -> bool:
        """Whether a simple condition exists at ``rank`` or later."""
        return any(r >= rank for r, _ in self.simple)

    def named_expr(self) -> pl.Expr:
        return pl.col(EVENT).is_in(sorted(self.funnel.event_names))

    @property
    def lapses(self) -> bool:
        return any(stage.lapse is not None for stage in self.funnel.stages)


# --- per-condition reach times ---------------------------------------------------------
def _points_frame(lf: pl.LazyFrame, rule: PointsRule) -> pl.LazyFrame:
    """Return the scoring events of ``rule``: ``contact_id``, ``occurred_at``, ``_p``."""
    points = pl.lit(0.0, dtype=pl.Float64)
    by_value: dict[float, list[str]] = {}
    for name, value in rule.points.items():
        by_value.setdefault(value, []).append(name)
    for value, names in by_value.items():
        points = pl.when(pl.col(EVENT).is_in(names)).then(pl.lit(value)).otherwise(points)
    return lf.filter(rule.evidence()).select(CID, T, points.alias("_p"))


def _scores(rows: pl.LazyFrame, rule: PointsRule) -> pl.LazyFrame:
    """Add ``_score``: the contact's score just after each scoring event.

    Without a half-life the score is a running sum in time order.  With one,
    ``score_i = sum_j p_j 2**(u_j - u_i)`` with ``u`` the time in half-lives
    since 2000-01-01.  To keep ``2**u`` finite, time is cut in blocks of 512
    half-lives and each weight is taken relative to its block's start (at
    most ``2**512``).  An event's score sums its block's weights so far and,
    when it falls in the first 64 half-lives of its block, the weights of the
    previous block's last 64 half-lives.  What is left out is older than 64
    half-lives, so it weighs less than ``2**-64`` (5e-20) of its points.
    Events at the same instant get partial sums in some order; the last one
    of them holds the full score, so the first instant where the score
    reaches a threshold is exact.
    """
    if rule.half_life is None:
        return rows.with_columns(_score=pl.col("_p").cum_sum().over(CID, order_by=T))
    half_life_us = rule.half_life / timedelta(microseconds=1)
    u = (pl.col(T).dt.epoch("us") - SCORE_ANCHOR_US).cast(pl.Float64) / half_life_us
    rows = (
        rows.with_columns(_u=u)
        .with_columns(_b=(pl.col("_u") / SCORE_BLOCK).floor())
        .with_columns(_off=pl.col("_u") - SCORE_BLOCK * pl.col("_b"))
        .with_columns(_w=pl.col("_p") * 2.0 ** pl.col("_off"))
        .with_columns(_run=pl.col("_w").cum_sum().over(CID, "_b", order_by=T))
    )
    tail = (
        rows.filter(pl.col("_off") >= SCORE_BLOCK - SCORE_REACH)
        .group_by(CID, "_b")
        .agg(_carry=pl.col("_w").sum() * 2.0**-SCORE_BLOCK)
        .with_columns(pl.col("_b") + 1.0)
    )
    head = rows.filter(pl.col("_off") < SCORE_REACH).join(tail, on=[CID, "_b"], how="left")
    rest = rows.filter(pl.col("_off") >= SCORE_REACH).with_columns(_carry=pl.lit(0.0))
    total = pl.col("_run") + pl.col("_carry").fill_null(0.0)
    return (
        pl.concat([head, rest], how="vertical_relaxed")
        .with_columns(_score=2.0 ** -pl.col("_off") * total)
        .drop("_u", "_b", "_off", "_w", "_run", "_carry")
    )


def _reached(score: pl.Expr, rule: PointsRule) -> pl.Expr:
    return score >= rule.threshold * (1.0 - SCORE_TOLERANCE)


def _condition_times(lf: pl.LazyFrame, cond: Condition, name: str) -> pl.LazyFrame:
    """Per contact, the instant ``cond`` first holds: ``contact_id`` and ``name``."""
    if isinstance(cond, PointsRule):
        scored = _scores(_points_frame(lf, cond), cond)
        return (
            scored.filter(_reached(pl.col("_score"), cond))
            .group_by(CID)
            .agg(pl.col(T).min().alias(name))
        )
    rows = lf.filter(cond.evidence()).select(CID, T)
    if cond.min_count == 1:
        return rows.group_by(CID).agg(pl.col(T).min().alias(name))
    n = cond.min_count
    return (
        rows.group_by(CID)
        .agg(pl.len().alias("_n"), pl.col(T).bottom_k(n).max().alias(name))
        .filter(pl.col("_n") >= n)
        .drop("_n")
    )


# --- classification ---------------------------------------------------------------------
def classify(
    events: EventsLike,
    funnel: Funnel,
    *,
    as_of: Instant | None = None,
    contacts: ContactsLike | None = None,
    entry_times: bool = True,
    partitions: int = 1,
) -> pl.LazyFrame:
    """Put every known contact in one stage of ``funnel``, as of an instant.

    The rules (as-of cut, entry stage, reaching a stage, stage skipping,
    unknown events, lapsing) are described in :mod:`funnelkit.stages`.

    Parameters
    ----------
    events
        The events (an :class:`~funnelkit.events.EventLog` or a polars frame
        with ``contact_id``, ``occurred_at``, ``event`` and the property
        columns the definition's filters read).
    funnel
        The definition, e.g. ``load_funnel("inbound")``.
    as_of
        Use only events up to this instant (inclusive); a date means the
        end of that day, a date-time without zone is UTC.  ``None``: all
        events.
    contacts
        Optional contacts table (``contact_id``, optional ``created_at``):
        contacts with no events are classified too, in the first stage.
    entry_times
        Include the ``<stage id>_at`` columns.  ``False`` computes the
        current stage only, which is cheaper on large logs.
    partitions
        Split the contacts into this many groups (by a hash of their id)
        aggregated one after the other.  The result is the same; on logs with
        millions of contacts peak memory falls (12.8 million contacts from a
        50-million-event Parquet file: from about 3.1 GB to 1.1 GB with
        ``partitions=4``, for about 1.3 times the time), at the price of
        reading the events once per group.

    Returns
    -------
    polars.LazyFrame
        One row per contact, in no particular order: ``contact_id``,
        ``stage`` (the stage id), ``stage_rank`` (1 = first stage), one
        ``<stage id>_at`` column per stage (first time reached, null if not
        reached; only with ``entry_times``) and ``last_activity_at``.
        Collect it with ``engine="streaming"`` on large inputs.

    Raises
    ------
    MissingColumnError, DefinitionError
        A property filter of the definition reads a column the events lack,
        or one of a type it cannot compare.
    DataError
        A filter compares a text column with numbers and some of its values
        are not numbers.  Such a column is checked, and read as numbers, when
        ``classify`` is called (one pass over that column), not when the
        result is collected; see :meth:`funnelkit.definitions.Funnel.read_numbers`.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c1", "c2"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 5), datetime(2024, 1, 2)],
    ...     "event": ["page_view", "meeting", "page_view"],
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> out = classify(events, load_funnel("sales")).sort("contact_id").collect()
    >>> out.select("contact_id", "stage", "stage_rank").rows()
    [('c1', 'qualified_prospect', 4), ('c2', 'raw_contact', 1)]
    """
    if frames.is_engine_frame(events):
        return frames.on_engine("classify", pl.LazyFrame)(
            events, funnel, as_of=as_of, contacts=contacts, entry_times=entry_times
        )
    lf = as_lazy(events)
    cut = instant(as_of, "as_of")
    return _classify(
        lf,
        funnel,
        cut=cut,
        ref=None,
        contacts=contacts,
        entry_times=entry_times,
        partitions=partitions,
    )


def _per_contact(
    lf: pl.LazyFrame,
    plan: _Plan,
    known: pl.LazyFrame | None,
    *,
    entry_times: bool,
    seen: bool,
) -> pl.LazyFrame:
    """One row per contact: the aggregates :func:`_classify` finishes from."""
    size = plan.size
    # One pass over the events: per-event rank, then plain aggregations.
    rank = plan.rank_expr()
    columns: dict[str, pl.Expr] = {
        "_r": rank,
        "_act": pl.when(plan.named_expr()).then(pl.col(T)),
    }
    timed = [k for k in range(2, size + 1) if plan.simple_from(k)] if entry_times else []
    for k in timed:
        columns[f"_t{k}"] = pl.when(rank >= k).then(pl.col(T))
    aggs = [pl.col("_r").max(), pl.col("_act").max()]
    aggs += [pl.col(f"_t{k}").min() for k in timed]
    if entry_times:
        aggs.append(pl.col(T).min().alias("_first"))
    if seen:
        aggs.append(pl.col(T).max().alias("_seen"))
    per_contact = lf.select(CID, T, **columns).group_by(CID).agg(aggs)

    # Conditions that need more than one event (min_count, points), apart.
    for index, (_, cond) in enumerate(plan.complex):
        name = f"_c{index}"
        per_contact = per_contact.join(_condition_times(lf, cond, name), on=CID, how="left")

    if known is not None:
        return per_contact.join(known, on=CID, how="full", coalesce=True)
    return per_contact


def _classify(
    lf: pl.LazyFrame,
    funnel: Funnel,
    *,
    cut: datetime | None,
    ref: datetime | None,
    contacts: ContactsLike | None,
    entry_times: bool,
    partitions: int = 1,
) -> pl.LazyFrame:
    """:func:`classify` on a canonical frame; ``ref`` overrides the inactivity clock."""
    lf = funnel.read_numbers(lf)
    funnel.check_columns(lf.collect_schema())
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        msg = f"partitions={partitions!r}: give a whole number, 1 or more"
        raise ParameterError(msg)
    if partitions > 1024:  # one plan per partition: more only costs time, never memory
        msg = f"partitions={partitions!r}: give at most 1,024 (4 to 16 bound the memory)"
        raise ParameterError(msg)
    plan = _Plan.of(funnel)
    if cut is not None:
        lf = lf.filter(pl.col(T) <= _lit_time(cut))
    known = _contacts_frame(contacts, cut)
    # Without as_of, the inactivity clock is the latest event of all contacts.
    seen = plan.lapses and cut is None and ref is None
    clock = cut if cut is not None else ref

    def one(events: pl.LazyFrame, people: pl.LazyFrame | None, *, finish: bool) -> pl.LazyFrame:
        out = _per_contact(events, plan, people, entry_times=entry_times, seen=seen)
        return _finish(out, plan, clock, people, entry_times=entry_times) if finish else out

    if partitions == 1:
        return one(lf, known, finish=True)
    part = pl.col(CID).hash(seed=0x5EED) % partitions
    pieces = [
        one(
            lf.filter(part == i),
            None if known is None else known.filter(part == i),
            finish=not seen,
        )
        for i in range(partitions)
    ]
    out = pl.concat(pieces, parallel=False)
    return _finish(out, plan, clock, known, entry_times=entry_times) if seen else out


def _current_rank(
    plan: _Plan,
    now: pl.Expr,
    *,
    rank: pl.Expr,
    act: pl.Expr,
    complex_reached: Sequence[pl.Expr],
) -> pl.Expr:
    """Return the current stage rank from per-contact aggregates, at the instant ``now``.

    ``rank`` is the highest rank of the contact's simple evidence (null: none),
    ``act`` its latest activity, ``complex_reached`` one boolean per entry of
    ``plan.complex`` (whether that condition holds).  The highest stage
    reached, then lapsed by inactivity (see the module docstring).

    A lapsed contact walks down its chain of ``lapse_to`` and stops at the
    first stage whose ``lapse_after`` its idle time does not reach; ranks
    fall along the chain, so that is the highest stage of the chain where it
    would stop.  One term per stage of a chain keeps the expression linear in
    the number of lapses (nesting one rule in the next doubled it per lapse).
    """
    reached = [rank.fill_null(1)]
    reached += [
        pl.when(hit).then(pl.lit(r, dtype=pl.Int16))
        for hit, (r, _) in zip(complex_reached, plan.complex, strict=True)
    ]
    current = pl.max_horizontal(reached)
    if not plan.lapses:
        return current
    idle = now - act
    stops: list[pl.Expr] = []
    for k, through in lapse_chains(plan.funnel).items():
        lapse = plan.funnel.stages[k - 1].lapse
        stop = current.is_in(through)
        if lapse is not None:  # a null idle time (no activity) never lapses
            stop &= ~(idle >= pl.lit(lapse.after)).fill_null(False)
        stops.append(pl.when(stop).then(pl.lit(k, dtype=pl.Int16)))
    return pl.max_horizontal(stops).fill_null(current)


def _finish(
    per_contact: pl.LazyFrame,
    plan: _Plan,
    clock: datetime | None,
    known: pl.LazyFrame | None,
    *,
    entry_times: bool,
) -> pl.LazyFrame:
    """Turn :func:`_per_contact` aggregates into the columns of :func:`classify`."""
    funnel, size = plan.funnel, plan.size
    timed = [k for k in range(2, size + 1) if plan.simple_from(k)] if entry_times else []
    current = _current_rank(
        plan,
        _lit_time(clock) if clock is not None else pl.col("_seen").max(),
        rank=pl.col("_r"),
        act=pl.col("_act"),
        complex_reached=[pl.col(f"_c{i}").is_not_null() for i in range(len(plan.complex))],
    )
    out = per_contact.with_columns(_cur=current)

    ids = list(funnel.stage_ids)
    select: list[pl.Expr] = [
        pl.col(CID),
        pl.col("_cur")
        .replace_strict(list(range(1, size + 1)), ids, return_dtype=pl.String)
        .alias("stage"),
        pl.col("_cur").cast(pl.Int32).alias("stage_rank"),
    ]
    if entry_times:
        entry = pl.col("_first") if known is None else pl.min_horizontal("_first", "_created")
        select.append(entry.alias(f"{ids[0]}_at"))
        for k in range(2, size + 1):
            parts = [f"_t{k}"] if k in timed else []
            parts += [f"_c{i}" for i, (r, _) in enumerate(plan.complex) if r >= k]
            at = pl.min_horizontal(parts) if parts else pl.lit(None, dtype=UTC)
            select.append(at.cast(UTC).alias(f"{ids[k - 1]}_at"))
    select.append(pl.col("_act").cast(UTC).alias("last_activity_at"))
    return out.select(select)


# --- counts ------------------------------------------------------------------------------
def _title(kind: str, funnel: str, detail: str = "") -> str:
    text = f"{kind} under funnel definition {funnel!r}"
    return f"{text} ({detail})" if detail else text


def _html(title: str, frame: pl.DataFrame) -> str:
    return f"<div><p><strong>{html.escape(title)}</strong></p>{frame._repr_html_()}</div>"


@dataclass(frozen=True)
class Snapshot:
    """Contacts per stage of one classification, with conversion rates.

    ``table`` has one row per stage: ``funnel``, ``rank``, ``stage``,
    ``label``; ``at_or_past`` (contacts at this stage or a later one: the
    snapshot view, non-increasing down the funnel), ``drop_off`` (contacts at
    or past the previous stage but not this one), ``step_conversion``
    (``at_or_past`` over the previous stage's), ``overall_conversion``
    (over the first stage's); ``current`` (contacts whose current stage it
    is), ``current_step_conversion`` and ``current_overall_conversion``
    (the same ratios on ``current``).  Ratios are null for the first stage's
    step and when the denominator is zero.
    """

    funnel: str
    table: pl.DataFrame

    def to_polars(self) -> pl.DataFrame:
        """Return the table."""
        return self.table

    def _repr_html_(self) -> str:
        return _html(_title("Contacts per stage", self.funnel), self.table)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def snapshot(classified: FrameLike, funnel: Funnel, *, lang: str = "en") -> Snapshot:
    """Count a classification per stage: at or past each stage, and at it now.

    Parameters
    ----------
    classified
        The output of :func:`classify` under ``funnel`` (lazy or collected).
    funnel
        The definition it was classified under.
    lang
        Language of the ``label`` column.

    Examples
    --------
    >>> import polars as pl
    >>> from funnelkit.definitions import load_funnel
    >>> done = pl.DataFrame({"contact_id": ["a", "b"], "stage": ["lead", "client"],
    ...                      "stage_rank": [2, 5]})
    >>> snapshot(done, load_funnel("sales")).table["at_or_past"].to_list()
    [2, 2, 1, 1, 1]
    """
    lf = classified.lazy()
    names = lf.collect_schema().names()
    for col in ("stage", "stage_rank"):
        if col not in names:
            msg = f"the classification has no column {col!r}; pass the output of classify()"
            raise MissingColumnError(msg)
    seen = _collect(lf.group_by("stage_rank", "stage").agg(pl.len().alias("n")))
    ids = funnel.stage_ids
    counts = [0] * len(ids)
    for rank, stage, n in seen.iter_rows():
        if rank is None or not 1 <= rank <= len(ids) or ids[rank - 1] != stage:
            msg = (
                f"the classification has stage {stage!r} at rank {rank}, which funnel "
                f"{funnel.name!r} does not have; was it classified under another definition?"
            )
            raise ParameterError(msg)
        counts[rank - 1] += n
    return snapshot_from_counts(funnel, counts, lang)


def snapshot_from_counts(funnel: Funnel, counts: Sequence[int], lang: str) -> Snapshot:
    """Return the :class:`Snapshot` of ``counts[k]`` contacts currently at rank ``k + 1``."""
    ids = funnel.stage_ids
    past = [sum(counts[k:]) for k in range(len(ids))]
    table = pl.DataFrame(
        {
            "funnel": [funnel.name] * len(ids),
            "rank": list(range(1, len(ids) + 1)),
            "stage": list(ids),
            "label": [s.label(lang) for s in funnel.stages],
            "at_or_past": past,
            "current": list(counts),
        },
        schema_overrides={"rank": pl.Int32, "at_or_past": pl.Int64, "current": pl.Int64},
    )
    first, prev = pl.col("at_or_past").first(), pl.col("at_or_past").shift(1)
    cfirst, cprev = pl.col("current").first(), pl.col("current").shift(1)
    table = table.with_columns(
        drop_off=prev - pl.col("at_or_past"),
        step_conversion=_ratio(pl.col("at_or_past"), prev),
        overall_conversion=_ratio(pl.col("at_or_past"), first),
        current_step_conversion=_ratio(pl.col("current"), cprev),
        current_overall_conversion=_ratio(pl.col("current"), cfirst),
    ).select(
        "funnel",
        "rank",
        "stage",
        "label",
        "at_or_past",
        "drop_off",
        "step_conversion",
        "overall_conversion",
        "current",
        "current_step_conversion",
        "current_overall_conversion",
    )
    return Snapshot(funnel.name, table)


# --- flows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flows:
    """Contacts by (stage at ``start``, stage at ``end``) for one definition.

    ``table``: ``funnel``, ``from_rank`` (0 for contacts new in the
    period), ``from_stage`` (null for new contacts), ``to_rank``,
    ``to_stage``, ``contacts``; one row per pair that occurs, sorted.
    """

    funnel: str
    start: datetime
    end: datetime
    table: pl.DataFrame

    def to_polars(self) -> pl.DataFrame:
        """Return the table."""
        return self.table

    @property
    def moved(self) -> pl.DataFrame:
        """The rows of contacts whose stage changed (new contacts included)."""
        return self.table.filter(pl.col("from_rank") != pl.col("to_rank"))

    def _repr_html_(self) -> str:
        detail = f"{fmt_time(self.start)} → {fmt_time(self.end)}"
        return _html(_title("Stage flows", self.funnel, detail), self.table)


def flows(
    events: EventsLike,
    funnel: Funnel,
    *,
    start: Instant,
    end: Instant,
    contacts: ContactsLike | None = None,
) -> Flows:
    """Count contacts by their stage at ``start`` and at ``end``.

    Contacts first known after ``start`` (and by ``end``) are *new*:
    ``from_rank`` 0 and a null ``from_stage``.  Under a definition with an
    inactivity rule, a contact can flow backwards.  This is the data behind a
    Sankey diagram and behind "what moved this week".

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c1", "c2"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 9), datetime(2024, 1, 8)],
    ...     "event": ["form_fill", "meeting", "form_fill"],
    ...     "amount": [None, None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> out = flows(events, load_funnel("sales"), start="2024-01-07", end="2024-01-14")
    >>> out.table.select("from_stage", "to_stage", "contacts").rows()
    [(None, 'lead', 1), ('lead', 'qualified_prospect', 1)]
    """
    if frames.is_engine_frame(events):
        return frames.on_engine("flows", Flows)(
            events, funnel, start=start, end=end, contacts=contacts
        )
    lf = as_lazy(events)
    lo, hi = instant(start, "start"), instant(end, "end")
    assert lo is not None and hi is not None
    if lo >= hi:
        msg = f"start ({fmt_time(lo)}) must be before end ({fmt_time(hi)})"
        raise ParameterError(msg)
    pairs = (
        _ranks_at_two_instants(lf, funnel, lo, hi, contacts)
        .group_by("from_rank", "to_rank")
        .agg(pl.len().cast(pl.Int64).alias("contacts"))
    )
    table = flows_table(_collect(pairs), funnel)
    return Flows(funnel.name, lo, hi, table)


def _ranks_at_two_instants(
    lf: pl.LazyFrame,
    funnel: Funnel,
    lo: datetime,
    hi: datetime,
    contacts: ContactsLike | None,
) -> pl.LazyFrame:
    """Return ``from_rank`` (at ``lo``, null if unknown) and ``to_rank`` per contact at ``hi``.

    One pass over the events, equal to classifying as of ``lo`` and as of
    ``hi``: every aggregate classification needs is a maximum or a first
    time, so the one at ``lo`` is the same aggregate over the events up to
    ``lo``, and a condition of several events (``min_count``, points) holds
    at ``lo`` exactly when the first instant it holds is at or before ``lo``.
    """
    lf = funnel.read_numbers(lf)
    funnel.check_columns(lf.collect_schema())
    plan = _Plan.of(funnel)
    early = pl.col(T) <= _lit_time(lo)
    rank = plan.rank_expr()
    act = pl.when(plan.named_expr()).then(pl.col(T))
    lf = lf.filter(pl.col(T) <= _lit_time(hi))
    per_contact = (
        lf.select(CID, T, _r=rank, _act=act, _r0=pl.when(early).then(rank))
        .with_columns(_act0=pl.when(early).then(pl.col("_act")))
        .group_by(CID)
        .agg(
            pl.col("_r").max(),
            pl.col("_act").max(),
            pl.col("_r0").max(),
            pl.col("_act0").max(),
            pl.col(T).min().alias("_first"),
        )
    )
    for index, (_, cond) in enumerate(plan.complex):
        per_contact = per_contact.join(_condition_times(lf, cond, f"_c{index}"), on=CID, how="left")
    known_then = pl.col("_first") <= _lit_time(lo)
    listed, listed_then = _contacts_frame(contacts, hi), _contacts_frame(contacts, lo)
    if listed is not None and listed_then is not None:
        listed = listed.join(listed_then.select(CID, _listed=pl.lit(True)), on=CID, how="left")
        per_contact = per_contact.join(listed, on=CID, how="full", coalesce=True)
        known_then = known_then.fill_null(False) | pl.col("_listed").fill_null(False)
    complex_ = range(len(plan.complex))
    before = _current_rank(
        plan,
        _lit_time(lo),
        rank=pl.col("_r0"),
        act=pl.col("_act0"),
        complex_reached=[(pl.col(f"_c{i}") <= _lit_time(lo)).fill_null(False) for i in complex_],
    )
    after = _current_rank(
        plan,
        _lit_time(hi),
        rank=pl.col("_r"),
        act=pl.col("_act"),
        complex_reached=[pl.col(f"_c{i}").is_not_null() for i in complex_],
    )
    return per_contact.select(
        CID,
        pl.when(known_then).then(before).cast(pl.Int32).alias("from_rank"),
        after.cast(pl.Int32).alias("to_rank"),
    )


def flows_table(pairs: pl.DataFrame, funnel: Funnel) -> pl.DataFrame:
    """Name the ranks of ``from_rank, to_rank, contacts`` (0 / null: new contact)."""
    ids = pl.Series(funnel.stage_ids)
    return (
        pairs.with_columns(pl.col("from_rank").fill_null(0))
        .with_columns(
            pl.lit(funnel.name).alias("funnel"),
            pl.when(pl.col("from_rank") > 0)
            .then(
                pl.col("from_rank").replace_strict(
                    list(range(1, len(ids) + 1)), ids, default=None, return_dtype=pl.String
                )
            )
            .alias("from_stage"),
            pl.col("to_rank")
            .replace_strict(list(range(1, len(ids) + 1)), ids, return_dtype=pl.String)
            .alias("to_stage"),
        )
        .select("funnel", "from_rank", "from_stage", "to_rank", "to_stage", "contacts")
        .sort("from_rank", "to_rank")
    )


# --- comparing definitions -------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """The same contacts classified under two definitions.

    ``table`` (long form): ``left_rank``, ``left_stage``, ``right_rank``,
    ``right_stage``, ``contacts`` for every pair of stages (zeros included).
    :meth:`to_polars` returns the cross-table: one row per ``left`` stage,
    one column per ``right`` stage.
    """

    left: str
    right: str
    table: pl.DataFrame
    as_of: datetime | None = None

    def to_polars(self) -> pl.DataFrame:
        """Return the cross-table; its first column is named after both definitions."""
        corner = f"{self.left} \\ {self.right}"
        wide = self.table.pivot(
            on="right_stage", index="left_stage", values="contacts", sort_columns=False
        )
        return wide.rename({"left_stage": corner})

    def _repr_html_(self) -> str:
        detail = f"rows: {self.left}, columns: {self.right}"
        if self.as_of is not None:
            detail += f", as of {fmt_time(self.as_of)}"
        title = f"Contacts under funnel definitions {self.left!r} and {self.right!r} ({detail})"
        return _html(title, self.to_polars())


def compare(
    events: EventsLike,
    left: Funnel,
    right: Funnel,
    *,
    as_of: Instant | None = None,
    contacts: ContactsLike | None = None,
) -> Comparison:
    r"""Cross the stages of two definitions on the same contacts.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c2"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
    ...     "event": ["ebook_download", "meeting"],
    ...     "amount": [None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> out = compare(events, load_funnel("inbound"), load_funnel("sales"))
    >>> out.to_polars().filter(pl.col("inbound \\ sales") == "warm_lead").row(0)
    ('warm_lead', 0, 1, 0, 1, 0)
    """
    lf = as_lazy(events)
    cut = instant(as_of, "as_of")
    a = _classify(lf, left, cut=cut, ref=None, contacts=contacts, entry_times=False)
    b = _classify(lf, right, cut=cut, ref=None, contacts=contacts, entry_times=False)
    pairs = _collect(
        a.select(CID, pl.col("stage_rank").alias("left_rank"))
        .join(b.select(CID, pl.col("stage_rank").alias("right_rank")), on=CID, how="inner")
        .group_by("left_rank", "right_rank")
        .agg(pl.len().cast(pl.Int64).alias("contacts"))
    )
    grid = pl.DataFrame(
        {
            "left_rank": [i for i in range(1, len(left.stages) + 1) for _ in right.stages],
            "left_stage": [s for s in left.stage_ids for _ in right.stages],
            "right_rank": [j for _ in left.stages for j in range(1, len(right.stages) + 1)],
            "right_stage": [s for _ in left.stages for s in right.stage_ids],
        },
        schema_overrides={"left_rank": pl.Int32, "right_rank": pl.Int32},
    )
    table = (
        grid.join(pairs, on=["left_rank", "right_rank"], how="left")
        .with_columns(pl.col("contacts").fill_null(0))
        .sort("left_rank", "right_rank")
    )
    return Comparison(left.name, right.name, table, cut)


# --- explain one contact -------------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    """Why one contact is where it is under one definition.

    ``timeline``: the contact's events up to ``as_of`` in time order, with
    ``evidence_for`` (the stages each event is evidence for) and, per
    points stage, ``score_<stage id>`` (the score after that instant).
    ``stages``: one row per stage with ``reached_at`` and ``how`` (the event
    that put the contact there, or why it is not there yet).  ``text``: the
    same in words (also what ``str()`` returns).
    """

    funnel: str
    contact_id: str
    as_of: datetime | None
    stage: str
    stage_rank: int
    timeline: pl.DataFrame
    stages: pl.DataFrame
    text: str

    def __str__(self) -> str:
        return self.text

    def to_polars(self) -> pl.DataFrame:
        """Return the per-stage table."""
        return self.stages

    def _repr_html_(self) -> str:
        return (
            f"<div><pre>{html.escape(self.text)}</pre>"
            f"{self.stages._repr_html_()}{self.timeline._repr_html_()}</div>"
        )


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def explain(
    events: EventsLike,
    funnel: Funnel,
    contact_id: str,
    *,
    as_of: Instant | None = None,
    contacts: ContactsLike | None = None,
    lang: str = "en",
) -> Explanation:
    """Explain the stage of one contact: its timeline and, per stage, what put it there.

    The stage and times are those of :func:`classify` with the same
    arguments.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> from funnelkit.definitions import load_funnel
    >>> events = pl.DataFrame({
    ...     "contact_id": ["c1", "c1"],
    ...     "occurred_at": [datetime(2024, 1, 1), datetime(2024, 1, 5)],
    ...     "event": ["list_import", "form_fill"],
    ...     "amount": [None, None],
    ... }, schema_overrides={"amount": pl.Float64})
    >>> print(explain(events, load_funnel("sales"), "c1").text.splitlines()[0])
    Contact 'c1' under funnel definition 'sales' (all events): lead (Lead), rank 2 of 5.
    """
    if not isinstance(contact_id, str):
        msg = (
            f"contact_id={contact_id!r}: give the id as text, as the events hold it "
            f"(contact ids are read as text: {str(contact_id)!r})"
        )
        raise ParameterError(msg)
    lf = as_lazy(events)
    cut = instant(as_of, "as_of")
    ref = cut
    plan = _Plan.of(funnel)
    if cut is None and plan.lapses:
        ref = _collect(lf.select(pl.col(T).max())).item()
    mine = lf.filter(pl.col(CID) == contact_id)
    frame = _collect(mine).sort(T, EVENT)
    later = 0
    if cut is not None:
        later = frame.filter(pl.col(T) > cut).height
        frame = frame.filter(pl.col(T) <= cut)
    known = _contacts_frame(contacts, cut)
    created: datetime | None = None
    in_contacts = False
    if known is not None:
        row = _collect(known.filter(pl.col(CID) == contact_id))
        if row.height:
            in_contacts = True
            created = row["_created"][0]
    if frame.height == 0 and not in_contacts:
        where = "" if cut is None else f" up to {fmt_time(cut)}"
        msg = f"contact {contact_id!r} has no events{where} and is not in the contacts table"
        raise ParameterError(msg)
    own = pl.DataFrame(
        {CID: [contact_id], CREATED: [created]}, schema={CID: pl.String, CREATED: UTC}
    )
    result = _collect(
        _classify(
            frame.lazy(),
            funnel,
            cut=cut,
            ref=ref,
            contacts=own if in_contacts else None,
            entry_times=True,
        )
    ).row(0, named=True)

    # The timeline: evidence per event and running scores.
    evidence = [pl.when(stage.evidence()).then(pl.lit(stage.id)) for stage in funnel.stages[1:]]
    timeline = frame.with_columns(pl.concat_list(evidence).list.drop_nulls().alias("evidence_for"))
    for stage in funnel.stages:
        for cond in stage.conditions:
            if isinstance(cond, PointsRule):
                scored = _collect(
                    _scores(_points_frame(frame.lazy(), cond), cond)
                    .group_by(T)
                    .agg(pl.col("_score").max())
                ).rename({"_score": f"score_{stage.id}"})
                scoring = frame.lazy().select(T, cond.evidence().alias("_hit"))
                timeline = timeline.with_columns(
                    _collect(scoring.join(scored.lazy(), on=T, how="left", maintain_order="left"))
                    .select(pl.when("_hit").then(pl.col(f"score_{stage.id}")))
                    .to_series()
                    .alias(f"score_{stage.id}")
                )
                break
    timeline = timeline.drop(CID)

    # Per stage: the time reached and how.
    own_times: list[datetime | None] = []
    hows: list[str] = []
    for rank, stage in enumerate(funnel.stages, start=1):
        at: datetime | None = result[f"{stage.id}_at"]
        if rank == 1:
            own_times.append(at)
            continue
        times = []
        for cond in stage.conditions:
            got = _collect(_condition_times(frame.lazy(), cond, "_at"))
            times.append(got["_at"][0] if got.height else None)
        own_times.append(min((t for t in times if t is not None), default=None))
    for rank, stage in enumerate(funnel.stages, start=1):
        at = result[f"{stage.id}_at"]
        hows.append(_how(frame, funnel, rank, at, own_times))

    stages = pl.DataFrame(
        {
            "rank": list(range(1, len(funnel.stages) + 1)),
            "stage": list(funnel.stage_ids),
            "label": [s.label(lang) for s in funnel.stages],
            "reached_at": [result[f"{s}_at"] for s in funnel.stage_ids],
            "how": hows,
        },
        schema_overrides={"rank": pl.Int32, "reached_at": UTC},
    )
    stage_id, stage_rank = result["stage"], result["stage_rank"]
    current = funnel.stages[stage_rank - 1]
    moment = "all events" if cut is None else f"as of {fmt_time(cut)}"
    lines = [
        f"Contact {contact_id!r} under funnel definition {funnel.name!r} ({moment}): "
        f"{stage_id} ({current.label(lang)}), rank {stage_rank} of {len(funnel.stages)}.",
    ]
    counted = f"{frame.height} event{'s' if frame.height != 1 else ''}"
    if later:
        counted += f" ({later} later event{'s' if later != 1 else ''} ignored)"
    last = result["last_activity_at"]
    counted += f"; last activity {fmt_time(last)}." if last else "; no activity."
    lines.append(counted)
    width = max(len(s) for s in funnel.stage_ids)
    for rank, stage in enumerate(funnel.stages, start=1):
        lines.append(f"  {rank}. {stage.id:<{width}}  {hows[rank - 1]}")
    forward = max(
        (r for r, s in enumerate(funnel.stage_ids, start=1) if result[f"{s}_at"] is not None),
        default=1,
    )
    if forward != stage_rank:
        top = funnel.stages[forward - 1]
        assert last is not None and ref is not None
        lines.append(
            f"It reached {top.id} but has had no activity since {fmt_time(last)} "
            f"({_days(ref - last)} before {'as of' if cut is not None else 'the latest event'}), "
            f"so it lapsed to {stage_id} (inactivity rules: "
            + ", ".join(
                f"{s.id} → {s.lapse.to} after {duration_text(s.lapse.after)}"
                for s in funnel.stages
                if s.lapse is not None
            )
            + ")."
        )
    return Explanation(
        funnel.name,
        contact_id,
        cut,
        stage_id,
        stage_rank,
        timeline,
        stages,
        "\n".join(lines),
    )


def _days(delta: timedelta) -> str:
    days = delta / timedelta(days=1)
    return f"{days:.0f} days" if days >= 2 else f"{delta.total_seconds() / 3600:.0f} hours"


def _how(
    frame: pl.DataFrame,
    funnel: Funnel,
    rank: int,
    at: datetime | None,
    own_times: Sequence[datetime | None],
) -> str:
    """One stage's line of an explanation."""
    stage = funnel.stages[rank - 1]
    if rank == 1:
        if at is None:
            return "known from the contacts table (no creation time, no events)"
        first = frame.filter(pl.col(T) == at)[EVENT]
        if first.len():
            return f"reached {fmt_time(at)}: first event ({first[0]})"
        return f"reached {fmt_time(at)}: created then (contacts table)"
    if at is None:
        reasons = [_why_not(frame, cond) for cond in stage.conditions]
        return "not reached: " + "; ".join(reasons)
    if own_times[rank - 1] != at:
        later = next(
            funnel.stages[j]
            for j in range(rank, len(funnel.stages))
            if own_times[j] is not None and own_times[j] == at
        )
        return f"reached {fmt_time(at)}: skipped, counts as reached when {later.id} was"
    for cond in stage.conditions:
        hits = frame.filter(cond.evidence())
        if isinstance(cond, PointsRule):
            scored = _collect(_scores(_points_frame(frame.lazy(), cond), cond))
            at_t = scored.filter(pl.col(T) == at)["_score"]
            peak = at_t.max() if at_t.len() else None
            if isinstance(peak, float) and peak >= cond.threshold * (1.0 - SCORE_TOLERANCE):
                names = sorted(set(hits.filter(pl.col(T) == at)[EVENT]))
                return (
                    f"reached {fmt_time(at)}: {', '.join(names)} brought the score to "
                    f"{peak:.3g} (threshold {cond.threshold:g})"
                )
        else:
            n = cond.min_count
            if hits.height >= n and hits[T][n - 1] == at:
                event = hits[EVENT][n - 1]
                nth = f", the {_nth(n)} of {', '.join(cond.events)}" if n > 1 else ""
                where = " (" + " and ".join(str(f) for f in cond.where) + ")" if cond.where else ""
                return f"reached {fmt_time(at)}: {event}{where}{nth}"
    return f"reached {fmt_time(at)}"  # pragma: no cover - every reach has a cause above


def _why_not(frame: pl.DataFrame, cond: Condition) -> str:
    hits = frame.filter(cond.evidence())
    if isinstance(cond, PointsRule):
        if hits.height == 0:
            return f"no scoring event ({', '.join(cond.points)})"
        scored = _collect(_scores(_points_frame(frame.lazy(), cond), cond))
        peak = scored["_score"].max()
        assert isinstance(peak, float)
        return f"score peaked at {peak:.3g} of {cond.threshold:g} ({cond.describe()})"
    if hits.height == 0:
        return f"no {cond.describe()}"
    return f"{hits.height} of {cond.min_count} × {_describe_events(cond)}"


def _describe_events(cond: EventRule) -> str:
    text = ", ".join(cond.events)
    if cond.where:
        text += " where " + " and ".join(str(f) for f in cond.where)
    return text
