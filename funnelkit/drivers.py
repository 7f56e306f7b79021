"""Why contacts drop at a step: what the contacts who went on did differently.

:func:`drivers` takes the contacts who reached step k−1 of a funnel and
compares those who reached step k within the window with those who did not,
over candidate signals: the events they did in between, the properties of
their step k−1 event and the attributes of the contacts table.  Each signal
gets its 2×2 counts, an odds ratio with a 95% interval, a p-value and a
Benjamini–Hochberg q-value (:mod:`funnelkit.stats`).

The computation is written once over narwhals lazy frames and runs where the
events are (polars, DuckDB, Spark); only the per-signal counts come back.
How to read the result, and what it does not prove, is in
``docs/guides/drivers.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import narwhals as nw
import polars as pl

from funnelkit.columns import CONTACT_ID as CID
from funnelkit.core.chains import Chains, CoreChains, chains_of, nw_spec
from funnelkit.definitions import Funnel
from funnelkit.durations import format_duration
from funnelkit.engine_frames import (
    TS,
    collect_polars,
    core_events,
    engine_contacts,
    from_us,
    restrict,
    span_us,
)
from funnelkit.errors import EmptyInputError, ParameterError
from funnelkit.events import (
    CREATED_AT,
    EVENT,
    OCCURRED_AT,
    ContactTable,
    EventLog,
    as_lazy,
    as_lazy_contacts,
)
from funnelkit.frames import engine_of
from funnelkit.markup import format_html, join_html
from funnelkit.privacy import judge_column
from funnelkit.reprs import brief_repr
from funnelkit.stats import LEAK_BASE as LEAK_BASE
from funnelkit.stats import benjamini_hochberg, check_alpha, odds_ratio_test
from funnelkit.stats import biggest_leak as biggest_leak
from funnelkit.steps import (
    Spec,
    StageSteps,
    event_names_of,
    step_number,
    warn_outside_events,
    warn_unknown_events,
)
from funnelkit.timeutil import TimeLike

__all__ = [
    "COLUMNS",
    "LEAK_BASE",
    "MAX_VALUES",
    "DriversResult",
    "HeldChains",
    "biggest_leak",
    "check_sizes",
    "drivers",
    "hold_chains",
    "format_ratio",
    "signal_text",
]

#: A property with more distinct values than this (among the contacts compared) is no candidate.
MAX_VALUES = 20

Verdict = Literal["helps", "hurts", "within noise", "too few"]
Kind = Literal["event", "property"]

_CONV = "_conv"
_START = "_start"
_END = "_end"

#: Columns of :attr:`DriversResult.table`, in order.
COLUMNS = (
    "kind",
    "source",
    "name",
    "value",
    "converted",
    "dropped",
    "converted_without",
    "dropped_without",
    "rate_with",
    "rate_without",
    "odds_ratio",
    "ci_low",
    "ci_high",
    "corrected",
    "test",
    "p_value",
    "q_value",
    "suppressed",
    "verdict",
    "sentence",
)


# --- the chains -----------------------------------------------------------------------
@dataclass(frozen=True)
class HeldChains:
    """Counted chains computed once and held, with what they were computed from.

    Built by :func:`hold_chains`; :func:`drivers` reads them (``chains=``)
    instead of computing the chains again, after checking they are the
    chains it would compute.

    Attributes
    ----------
    chains
        The chains (``contact_id``, ``_lvl``, ``_t1.._tn``, ``_excluded``
        and, with ``by``, ``_seg_value``), held on the events' engine.
    spec
        The steps, window, order, rules and stage reading they follow.
    since, until
        The span read, epoch microseconds (``None``: unbounded).
    events, contacts
        The events and contacts they were computed from.
    by
        The breakdown column, if any (it adds ``_seg_value`` only).
    """

    chains: Chains
    spec: Spec
    since: int | None
    until: int | None
    events: Any
    contacts: Any
    by: str | None = None


def _held(chains: Chains) -> Chains:
    """Return ``chains`` computed now and held: collected (polars), materialized, cached."""
    frame = chains.frame()
    native = nw.to_native(frame)
    if isinstance(native, pl.LazyFrame):
        return CoreChains(nw.from_native(native.collect(engine="auto").lazy()), "polars")
    engine = engine_of(native)
    hold = getattr(native, "materialize" if engine == "duckdb" else "cache", None)
    if engine is None or hold is None:  # pragma: no cover - DuckDB before materialize()
        return chains
    return CoreChains(nw.from_native(hold()), engine)


def hold_chains(
    events: EventLog | pl.LazyFrame | pl.DataFrame | Any,
    steps: Any,
    *,
    window: str | timedelta,
    order: Literal["ordered", "strict_increase"] = "ordered",
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | Any | None = None,
    classified: pl.DataFrame | pl.LazyFrame | None = None,
    by: str | None = None,
) -> HeldChains:
    """Compute the counted chains of a funnel once and hold them, for several analyses.

    The chains of :func:`funnelkit.conversion.funnel` (the accelerator or
    the core, whichever holds the events), computed now and held on the
    events' engine: collected on polars, materialized on DuckDB, cached on
    Spark.  :func:`drivers` reads them with ``chains=``; the weekly report
    counts its trend, funnel and drivers from one such set.

    Parameters
    ----------
    events, steps, window, order, since, until, stage_steps, definition, contacts
        As in :func:`drivers`.
    classified
        Polars only: the classification of ``events`` with its entry times, as
        of ``until``, read instead of classifying again.
    by
        A column of the events or contacts to break down by (adds
        ``_seg_value``; the chains are the same).

    Returns
    -------
    HeldChains

    Raises
    ------
    ParameterError
        A bad ``steps``, ``window`` or ``order``.
    MissingColumnError
        A column the steps or ``by`` read is missing.

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "b"],
    ...                     "occurred_at": [day, day + dt.timedelta(days=1), day],
    ...                     "event": ["visit", "signup", "visit"]})
    >>> held = hold_chains(log, ["visit", "signup"], window="7d")
    >>> held.chains.frame().select("contact_id", "_lvl").collect().sort("contact_id").rows()
    [('a', 2), ('b', 1)]

    See the guide: docs/guides/drivers.md
    """
    ns = nw_spec(steps, window, order, False, (), stage_steps=stage_steps, definition=definition)
    found = chains_of(
        events, ns, since=since, until=until, by=by, contacts=contacts, classified=classified
    )
    lo, hi = span_us(since, until)
    return HeldChains(_held(found), ns.spec, lo, hi, events, contacts, by)


def _differs(a: Spec, b: Spec) -> str | None:
    """Name what differs between two specs' chains (steps, window, order, rules...), or ``None``."""
    if a.n != b.n:
        return f"{b.n} steps, not {a.n}"
    for i, (x, y) in enumerate(zip(a.steps, b.steps, strict=True), 1):
        if (x.stage, x.events) != (y.stage, y.events) or not x.expr.meta.eq(y.expr):
            return f"another step {i} ({y.name!r}, not {x.name!r})"
    window = (format_duration(timedelta(microseconds=us)) for us in (a.window_us, b.window_us))
    pairs = (
        ("window", *window),
        ("order", repr(a.order), repr(b.order)),
        ("first_entry", repr(a.first_entry), repr(b.first_entry)),
        ("rules", repr(a.rules), repr(b.rules)),
        ("stage_steps", repr(a.stage_steps), repr(b.stage_steps)),
    )
    for name, mine, theirs in pairs:
        if mine != theirs:
            return f"{name} {theirs}, not {mine}"
    if a.stage_ids and not _same_definition(a.reading.definition, b.reading.definition):
        return "another definition's stages"
    ex = [(e.from_step, e.to_step, e.stage, e.events) for e in a.exclusions]
    if ex != [(e.from_step, e.to_step, e.stage, e.events) for e in b.exclusions] or not all(
        x.expr.meta.eq(y.expr) for x, y in zip(a.exclusions, b.exclusions, strict=True)
    ):
        return "other exclusions"
    return None


def _same_definition(a: Funnel | None, b: Funnel | None) -> bool:
    """Whether two definitions are one (the same object, or equal)."""
    try:
        return a is b or bool(a == b)
    except Exception:  # noqa: BLE001 - a definition whose parts do not compare is another
        return False


def _check_held(
    held: HeldChains, spec: Spec, events: Any, contacts: Any, lo: int | None, hi: int | None
) -> bool:
    """Check ``held`` are the chains of ``spec`` over this span; return whether to cut at ``lo``.

    Chains read from an earlier ``since`` serve when every step is a stage
    read by entry: a contact enters each stage once, so its chain starts at
    that one entry and the chains whose step 1 is at or after ``lo`` are
    exactly those computed from ``lo``.
    """
    what = _differs(spec, held.spec)
    if what is None and held.events is not events:
        what = "other events"
    if what is None and held.contacts is not contacts:
        what = "other contacts"
    if what is None and held.until != hi:
        what = f"until {from_us(held.until)}, not {from_us(hi)}"
    cut = held.since != lo
    by_entry = spec.reading.entry and all(s.stage is not None for s in spec.steps)
    if (
        what is None
        and cut
        and not (by_entry and (held.since is None or (lo is not None and held.since <= lo)))
    ):
        what = f"since {from_us(held.since)}, not {from_us(lo)}"
    if what is not None:
        msg = (
            f"chains: they were computed with {what}; drivers needs the chains of its own "
            "events, contacts, steps, window, order, rules and span. Compute them with "
            "hold_chains(...) and the same options, or leave chains out."
        )
        raise ParameterError(msg)
    return cut


def _contact_chains(
    events: Any,
    steps: Any,
    *,
    window: str | timedelta,
    order: str,
    since: TimeLike | None,
    until: TimeLike | None,
    stage_steps: StageSteps,
    definition: Funnel | None,
    contacts: Any,
    classified: pl.DataFrame | pl.LazyFrame | None,
    held: HeldChains | None = None,
) -> Any:
    """Return the counted chain of every contact reaching step 1, as a narwhals lazy frame.

    Columns ``contact_id``, ``_lvl`` (Int64), ``_t1.._tn`` (epoch µs, null
    beyond the level) and ``_excluded``: the chain rule of
    :func:`funnelkit.conversion.funnel_chains`, from
    :func:`funnelkit.core.chains.chains_of` (the accelerator or the core,
    whatever holds the events; the contacts and an existing classification
    passed on), or read from ``held`` once checked (:func:`_check_held`).
    The one place this module reads the chain rule.
    """
    ns = nw_spec(steps, window, order, False, (), stage_steps=stage_steps, definition=definition)
    if held is None:
        chains = chains_of(
            events, ns, since=since, until=until, contacts=contacts, classified=classified
        ).frame()
    else:
        lo, hi = span_us(since, until)
        chains = held.chains.frame()
        if _check_held(held, ns.spec, events, contacts, lo, hi):
            chains = chains.filter(nw.col("_t1") >= lo)
    return chains.select(
        CID,
        nw.col("_lvl").cast(nw.Int64()),
        *(nw.col(f"_t{j}").cast(nw.Int64()) for j in range(1, ns.n + 1)),
        nw.col("_excluded"),
    )


def _events_frame(events: Any, since: TimeLike | None, until: TimeLike | None) -> Any:
    """Return the events as a narwhals lazy frame with ``_ts`` (µs) instead of ``occurred_at``."""
    lo, hi = span_us(since, until)
    return restrict(core_events(events).lf, lo, hi)


def _contacts_frame(contacts: Any, events: Any) -> Any:
    """Return the contacts as a narwhals lazy frame on the events' engine (or ``None``)."""
    if contacts is None:
        return None
    engine = engine_of(events)
    if engine is None:
        if engine_of(contacts) is not None:
            msg = (
                "contacts: the events are a polars frame or an EventLog, the contacts a "
                f"{engine_of(contacts)} frame; give both on the same engine."
            )
            raise ParameterError(msg)
        return nw.from_native(as_lazy_contacts(contacts))
    people = engine_contacts(contacts, engine)
    assert people is not None
    return people.lf


# --- which step -----------------------------------------------------------------------
# --- the candidates -------------------------------------------------------------------
def _step_items(steps: Any) -> list[Any]:
    if hasattr(steps, "stages") and not isinstance(steps, str):
        return list(steps.stages)
    if isinstance(steps, Mapping):
        return list(steps.values())
    return list(steps)


def _step_event_names(steps: Any, spec: Spec) -> set[str]:
    """Every event name a step reads (a funnel's own steps are no candidate)."""
    names: set[str] = set(spec.raw_names)
    for item in _step_items(steps):
        given = event_names_of(item)
        names.update(given or getattr(item, "event_names", ()) or ())
    return names


def _property_columns(names: Sequence[str], skip: set[str], frame: Any) -> list[str]:
    """Return the columns that may be candidates: no key, no internal, no personal column."""
    out = []
    for name in names:
        if name in skip or name.startswith("_"):
            continue
        if judge_column(name, frame):
            continue
        out.append(name)
    return out


# --- the result -----------------------------------------------------------------------
def format_ratio(value: float) -> str:
    """Return an odds ratio as the result's sentences write it: two significant digits.

    Large ratios keep their whole digits (``123``, not ``1.2e+02``).

    Parameters
    ----------
    value
        An odds ratio.

    Returns
    -------
    str

    Examples
    --------
    >>> format_ratio(3.4142), format_ratio(0.04457), format_ratio(123.4)
    ('3.4', '0.045', '123')

    See the guide: docs/guides/drivers.md
    """
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def signal_text(kind: str, source: str | None, name: str, value: str | None) -> str:
    """Return the signal as a sentence names it: ``did webinar``, ``had segment = b2b``.

    Events are "did", properties of the step event "came with", attributes of
    the contacts "had".

    Parameters
    ----------
    kind
        ``"event"`` or ``"property"``.
    source
        ``"events"`` or ``"contacts"`` (where a property was read).
    name
        The event or column name.
    value
        The property's value (``None`` for an event).

    Returns
    -------
    str

    Examples
    --------
    >>> signal_text("event", "events", "webinar", None)
    'did webinar'
    >>> signal_text("property", "events", "channel", "partner")
    'came with channel = partner'

    See the guide: docs/guides/drivers.md
    """
    if kind == "event":
        return f"did {name}"
    where = "came with" if source == "events" else "had"
    return f"{where} {name} = {value}"


def _sentence(row: Mapping[str, Any]) -> str:
    who = f"contacts who {signal_text(row['kind'], row['source'], row['name'], row['value'])}"
    if row["suppressed"]:
        return f"{who}: too few to say (fewer than the minimum with or without it)"
    rates = f"{row['rate_with']:.0%} went on, against {row['rate_without']:.0%} of the others"
    if row["verdict"] == "within noise":
        return f"{who}: {rates}; within noise (q = {row['q_value']:.2g})"
    ratio = (
        f"{format_ratio(row['odds_ratio'])}× the odds, 95% CI "
        f"{format_ratio(row['ci_low'])}–{format_ratio(row['ci_high'])}"
    )
    corrected = "; +0.5 added to each cell (a count was 0)" if row["corrected"] else ""
    return f"{who}: {rates} ({ratio}{corrected})"


@dataclass(frozen=True)
class DriversResult:
    """What the contacts who went on did differently; see :func:`drivers`.

    Attributes
    ----------
    table
        One row per signal, strongest first (see :func:`drivers`): ``kind``
        (``"event"`` or ``"property"``), ``source`` (``"events"`` for an
        event or a property of the step event, ``"contacts"`` for an
        attribute), ``name``, ``value`` (null for an event), ``converted`` /
        ``dropped`` (contacts with the signal who went on / did not),
        ``converted_without`` / ``dropped_without``, ``rate_with`` /
        ``rate_without``, ``odds_ratio``, ``ci_low``, ``ci_high`` (Woolf
        95%), ``corrected`` (Haldane–Anscombe +0.5 added: a cell was 0),
        ``test`` (``"fisher"`` or ``"chi2"``), ``p_value``, ``q_value``
        (Benjamini–Hochberg over the signals tested), ``suppressed``,
        ``verdict`` (``"helps"``, ``"hurts"``, ``"within noise"``, ``"too
        few"``) and ``sentence`` (plain language).
    step
        The step k compared (2-based: contacts at step k−1 against step k).
    step_names
        The funnel's step names.
    window
        The conversion window.
    converted, dropped
        Contacts at step k−1 who reached step k within the window, and who did not.
    open_windows
        Contacts at step k−1 left out because their window had not closed by
        the end of the data (they could still convert).
    alpha, max_values, min_size
        The rules used.
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    table: pl.DataFrame
    step: int
    step_names: tuple[str, ...]
    window: timedelta
    converted: int
    dropped: int
    open_windows: int
    alpha: float
    max_values: int
    min_size: int

    @property
    def from_name(self) -> str:
        """The name of step k−1."""
        return self.step_names[self.step - 2]

    @property
    def to_name(self) -> str:
        """The name of step k."""
        return self.step_names[self.step - 1]

    def significant(self) -> pl.DataFrame:
        """Return the rows whose verdict is ``"helps"`` or ``"hurts"``."""
        return self.table.filter(pl.col("verdict").is_in(["helps", "hurts"]))

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary: the rules, the totals and ``"drivers"``, one per row.

        Floats that are not finite become ``None``.
        """
        rows = []
        for row in self.table.iter_rows(named=True):
            rows.append(
                {
                    k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in row.items()
                }
            )
        return {
            "step": self.step,
            "from_step": self.from_name,
            "to_step": self.to_name,
            "window": format_duration(self.window),
            "window_seconds": self.window.total_seconds(),
            "converted": self.converted,
            "dropped": self.dropped,
            "open_windows": self.open_windows,
            "alpha": self.alpha,
            "max_values": self.max_values,
            "min_size": self.min_size,
            "drivers": rows,
        }

    def title(self) -> str:
        """Return the one-line title: the step compared and the totals."""
        return (
            f"Why contacts drop at step {self.step}: {self.from_name} → {self.to_name} "
            f"({self.converted:,} went on, {self.dropped:,} did not)"
        )

    def one_sided(self) -> str | None:
        """Say why no signal can tell anything when none or all of the contacts went on.

        The rows of :attr:`table` then all read "0% went on, against 0% of the
        others" (or 100% against 100%): the text and the notebook display show
        this sentence instead.  ``None`` when both groups hold contacts.
        """
        if self.converted and self.dropped:
            return None
        reached = self.converted + self.dropped
        if not reached:
            return (
                f"no contact reached {self.from_name} with its window closed by the end of the "
                "data: nothing to compare. Check the steps, the window and the span."
            )
        if reached == 1:
            went = "went on" if self.converted else "did not go on"
            who = f"the one contact at {self.from_name} {went}"
        else:
            went = "all" if self.converted else "none"
            who = f"{went} of the {reached:,} contacts at {self.from_name} went on"
        return (
            f"{who} to {self.to_name}: there is no one to compare with. Check the steps, "
            "the window and the span."
        )

    def to_text(self) -> str:
        """Return the result as plain text: the title, then one sentence per signal."""
        lines = [self.title(), ""]
        alone = self.one_sided()
        if alone is not None:
            lines.append(alone)
        elif self.table.is_empty():
            lines.append("no candidate signal")
        for row in self.table.iter_rows(named=True) if alone is None else ():
            lines.append(f"{row['verdict']:>12}  {row['sentence']}")
        if self.open_windows:
            some = f"{self.open_windows:,} contact{'' if self.open_windows == 1 else 's'}"
            lines += ["", f"{some} left out: the window is still open."]
        return "\n".join(lines)

    def __str__(self) -> str:
        """``print(result)`` shows :meth:`to_text`."""
        return self.to_text()

    def _repr_html_(self) -> str:
        alone = self.one_sided()
        if alone is not None:
            return str(format_html("<div><p>{}</p><p>{}</p></div>", self.title(), alone))
        headers = ("verdict", "signal", "with: went on / not", "without", "odds ratio (95% CI)")
        rows = []
        for r in self.table.iter_rows(named=True):
            signal = signal_text(r["kind"], r["source"], r["name"], r["value"])
            ratio = (
                ""
                if r["odds_ratio"] is None
                else f"{format_ratio(r['odds_ratio'])} ({format_ratio(r['ci_low'])}–"
                f"{format_ratio(r['ci_high'])})"
            )
            cells = (
                r["verdict"],
                signal,
                f"{r['converted']:,} / {r['dropped']:,}",
                f"{r['converted_without']:,} / {r['dropped_without']:,}",
                ratio,
            )
            rows.append(
                format_html(
                    "<tr title='{}'>{}</tr>",
                    r["sentence"],
                    join_html(format_html("<td>{}</td>", c) for c in cells),
                )
            )
        head = join_html(format_html("<th>{}</th>", h) for h in headers)
        table = format_html(
            "<table class='funnelkit'><caption style='text-align:left'>{}</caption>"
            "<thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
            self.title(),
            head,
            join_html(rows),
        )
        return str(format_html("<div>{}</div>", table))


# --- the analysis ---------------------------------------------------------------------
def _signal_rows(
    frame: Any, kind: str, source: str, name: Any, column: str | None, where: str
) -> Any:
    """Return ``contact_id``, ``_ts``, ``kind``, ``source``, ``name``, ``value``, ``_where``.

    One row per row of ``frame`` (a null ``column`` value dropped); ``_where``
    says which instants count (``during``, ``at_step`` or ``always``).
    """
    value = nw.lit(None, dtype=nw.String()) if column is None else nw.col(column)
    if column is not None:
        frame = frame.filter(~nw.col(column).is_null())
    return frame.select(
        nw.col(CID),
        nw.col(TS).cast(nw.Int64()),
        nw.lit(kind, dtype=nw.String()).alias("kind"),
        nw.lit(source, dtype=nw.String()).alias("source"),
        name.alias("name"),
        value.cast(nw.String()).alias("value"),
        nw.lit(where, dtype=nw.String()).alias("_where"),
    )


def _finish(
    counts: pl.DataFrame, converted: int, dropped: int, *, min_size: int, alpha: float
) -> pl.DataFrame:
    """Add the odds ratios, p- and q-values, verdicts and sentences; sort by strength."""
    rows: list[dict[str, Any]] = []
    for r in counts.iter_rows(named=True):
        a = int(r["converted"])
        b = int(r["total"]) - a
        c, d = converted - a, dropped - b
        row: dict[str, Any] = {
            "kind": r["kind"],
            "source": r["source"],
            "name": r["name"],
            "value": r["value"],
            "converted": a,
            "dropped": b,
            "converted_without": c,
            "dropped_without": d,
            "rate_with": a / (a + b) if a + b else None,
            "rate_without": c / (c + d) if c + d else None,
            "suppressed": (a + b) < min_size or (c + d) < min_size,
        }
        if not row["suppressed"]:
            test = odds_ratio_test(a, b, c, d)
            row |= {
                "odds_ratio": test.odds_ratio,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "corrected": test.corrected,
                "test": test.test,
                "p_value": test.p_value,
            }
        rows.append(row)
    tested = [row for row in rows if not row["suppressed"]]
    for row, q in zip(tested, benjamini_hochberg([row["p_value"] for row in tested]), strict=True):
        row["q_value"] = q
    for row in rows:
        if row["suppressed"]:
            row["verdict"] = "too few"
        elif row["q_value"] < alpha:
            row["verdict"] = "helps" if row["odds_ratio"] > 1 else "hurts"
        else:
            row["verdict"] = "within noise"
        row["sentence"] = _sentence(row)
    group = {"helps": 0, "hurts": 0, "within noise": 1, "too few": 2}
    rows.sort(
        key=lambda row: (
            group[row["verdict"]],
            -abs(math.log(row["odds_ratio"])) if row.get("odds_ratio") else 0.0,
            row["kind"],
            row["name"],
            row["value"] or "",
        )
    )
    schema = {
        "kind": pl.String,
        "source": pl.String,
        "name": pl.String,
        "value": pl.String,
        "converted": pl.Int64,
        "dropped": pl.Int64,
        "converted_without": pl.Int64,
        "dropped_without": pl.Int64,
        "rate_with": pl.Float64,
        "rate_without": pl.Float64,
        "odds_ratio": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "corrected": pl.Boolean,
        "test": pl.String,
        "p_value": pl.Float64,
        "q_value": pl.Float64,
        "suppressed": pl.Boolean,
        "verdict": pl.String,
        "sentence": pl.String,
    }
    return pl.DataFrame(
        [{k: row.get(k) for k in COLUMNS} for row in rows], schema=schema, orient="row"
    )


def check_sizes(*, max_values: object, min_size: object) -> None:
    """Refuse a ``max_values`` or ``min_size`` of :func:`drivers` that is not a whole number >= 1.

    :func:`drivers` checks them so, and the command line before it reads
    the events (a bad option costs no reading).

    Parameters
    ----------
    max_values
        The most distinct values a property may have to be a candidate.
    min_size
        The fewest contacts a signal needs on each side to be tested.

    Raises
    ------
    ParameterError
        Naming the parameter, with the value given.

    Examples
    --------
    >>> check_sizes(max_values=20, min_size=30)

    See the guide: docs/guides/drivers.md
    """
    for value, name in ((max_values, "max_values"), (min_size, "min_size")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            msg = f"{name}: expected a whole number >= 1, got {value!r}"
            raise ParameterError(msg)


def drivers(
    events: EventLog | pl.LazyFrame | pl.DataFrame | Any,
    steps: Any,
    *,
    window: str | timedelta,
    step: int | str | None = None,
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | Any | None = None,
    order: Literal["ordered", "strict_increase"] = "ordered",
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: StageSteps = "entry",
    definition: Funnel | None = None,
    max_values: int = MAX_VALUES,
    min_size: int = 30,
    alpha: float = 0.05,
    classified: pl.DataFrame | pl.LazyFrame | None = None,
    chains: HeldChains | None = None,
) -> DriversResult:
    """Compare the contacts who went on from step k−1 to step k with those who did not.

    The contacts are those whose counted chain (the rule of
    :func:`funnelkit.conversion.funnel`) reached step k−1 and whose window had
    closed by the end of the data.  Candidate signals are the events done
    before converting (or by the window's close), the properties of the step
    k−1 event and the contacts' attributes; personal columns are never read.
    Each gets an odds ratio, a p-value and a Benjamini–Hochberg q-value.
    Association, not cause.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog`, a polars frame, a DuckDB
        relation or a Spark DataFrame.
    steps, window, order, since, until, stage_steps, definition
        As in :func:`funnelkit.conversion.funnel` (``order="any"`` has no
        step k−1 before step k, and is refused).
    step
        The step k to explain, the step to reach: its number (2..n), its name
        or its stage id; default the biggest leak, as the funnel figure names
        it (:func:`funnelkit.stats.biggest_leak`).
    contacts
        Optional contacts table on the same engine; its attributes are
        candidates, and with stages read by entry the classification reads it
        (as :func:`funnelkit.conversion.funnel` does).
    max_values
        The most distinct values a property may have to be a candidate.
    min_size
        The fewest contacts with, and without, a signal for it to be tested
        (the breakdown rule of :func:`funnelkit.conversion.funnel`).
    alpha
        The q-value under which a signal helps or hurts; above, "within noise".
    classified
        Polars only: the classification of ``events`` with its entry times, as
        of ``until``, when the caller has it (stages read by entry read it
        instead of classifying again).
    chains
        The chains of these events and contacts under these steps, window,
        order and span, already computed (:func:`hold_chains`), read instead
        of computing them again.  Chains from an earlier ``since`` serve when
        every step is a stage read by entry (those whose step 1 is before
        ``since`` are left out); anything else that differs is refused.

    Returns
    -------
    DriversResult
        ``.table`` (one row per signal: counts, rates, odds ratio, interval,
        p- and q-value, verdict, sentence), ``to_dict()`` and a notebook display.

    Raises
    ------
    ParameterError
        A bad ``step``, ``order``, ``max_values``, ``min_size`` or ``alpha``;
        ``chains`` computed over other events, contacts, steps, window, order,
        rules or span.
    EmptyInputError
        Without ``step``: no contact at step 1 whose window has closed (no leak
        to explain).

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1)
    >>> rows = []
    >>> for i in range(80):
    ...     rows.append((f"c{i}", day, "visit"))
    ...     if i % 2:
    ...         rows.append((f"c{i}", day + dt.timedelta(hours=1), "webinar"))
    ...     if i % 2 or i % 10 == 0:
    ...         rows.append((f"c{i}", day + dt.timedelta(days=1), "signup"))
    >>> log = pl.DataFrame(rows, schema=["contact_id", "occurred_at", "event"], orient="row")
    >>> result = drivers(log, ["visit", "signup"], window="7d", until="2026-10-01")
    >>> result.table.select("name", "converted", "dropped", "verdict").row(0)
    ('webinar', 40, 0, 'helps')

    See the guide: docs/guides/drivers.md
    """
    if order not in ("ordered", "strict_increase"):
        msg = (
            f"order: drivers compare step k−1 with step k, which needs an order; got {order!r}. "
            "Use 'ordered' or 'strict_increase'."
        )
        raise ParameterError(msg)
    check_alpha(alpha)
    check_sizes(max_values=max_values, min_size=min_size)
    ns = nw_spec(steps, window, order, False, (), stage_steps=stage_steps, definition=definition)
    spec = ns.spec
    warn_unknown_events(events, spec)
    warn_outside_events(events, since=since, until=until)
    n = spec.n
    if step is not None:
        asked, step = step, step_number(step, spec)
        if not 2 <= step <= n:
            msg = (
                f"step: expected a step number from 2 to {n} (the step to reach) or its "
                f"name, got {asked!r}"
            )
            raise ParameterError(msg)
    window_us = spec.window_us
    counted = _contact_chains(
        events,
        steps,
        window=window,
        order=order,
        since=since,
        until=until,
        stage_steps=stage_steps,
        definition=definition,
        contacts=contacts,
        classified=classified,
        held=chains,
    )
    ev = _events_frame(events, since, until)
    _, hi = span_us(since, until)
    last = collect_polars(ev.select(nw.col(TS).max().alias("_m"))).item()
    end_of_data = hi if hi is not None else (None if last is None else int(last))
    kept = counted.filter(~nw.col("_excluded"))
    closed = (nw.col("_t1") + window_us <= end_of_data) if end_of_data is not None else nw.lit(True)
    levels = collect_polars(
        kept.select(
            *(
                ((nw.col("_lvl") >= j) & closed).cast(nw.Int64()).sum().alias(f"c{j}")
                for j in range(1, n + 1)
            ),
            *(
                ((nw.col("_lvl") >= j) & ~closed).cast(nw.Int64()).sum().alias(f"o{j}")
                for j in range(1, n + 1)
            ),
        )
    ).row(0, named=True)
    counts = [int(levels[f"c{j}"] or 0) for j in range(1, n + 1)]
    if step is None:
        step = biggest_leak(counts)
        if step is None:
            msg = (
                f"no contact reached step 1 ({spec.steps[0].name}) with a window closed by the "
                "end of the data: there is no leak to explain. Check the steps, the window "
                "and since/until."
            )
            raise EmptyInputError(msg)
    k = step
    converted_total, reached = counts[k - 1], counts[k - 2]
    population = kept.filter((nw.col("_lvl") >= k - 1) & closed).select(
        CID,
        (nw.col("_lvl") >= k).alias(_CONV),
        nw.col(f"_t{k - 1}").alias(_START),
        nw.when(nw.col("_lvl") >= k)
        .then(nw.col(f"_t{k}"))
        .otherwise(nw.col("_t1") + window_us + 1)  # the window's close is included
        .alias(_END),
    )
    # Every candidate as a row (contact, instant, signal), joined to the contacts compared
    # once, so that the engine builds the chains once for all the signals.
    skip = _step_event_names(steps, spec)
    names = ev.collect_schema().names()
    others = ev.filter(~nw.col(EVENT).is_in(sorted(skip))) if skip else ev
    # events: did X in [step k−1 time, conversion) or [step k−1 time, window close]
    parts = [_signal_rows(others, "event", "events", nw.col(EVENT), None, "during")]
    # properties of the step k−1 event: the events at the contact's step k−1 instant
    native = events if engine_of(events) is not None else as_lazy(events)
    props = _property_columns(names, {CID, TS, EVENT, OCCURRED_AT, CREATED_AT}, native)
    step_names = spec.steps[k - 2].events
    at_step = ev.filter(nw.col(EVENT).is_in(sorted(step_names))) if step_names else ev
    parts += [
        _signal_rows(at_step, "property", "events", nw.lit(c, dtype=nw.String()), c, "at_step")
        for c in props
    ]
    people = _contacts_frame(contacts, events)
    if people is not None:
        attrs = _property_columns(
            people.collect_schema().names(),
            {CID, CREATED_AT},
            contacts.frame if isinstance(contacts, ContactTable) else contacts,
        )
        parts += [
            _signal_rows(
                people.with_columns(nw.lit(None, dtype=nw.Int64()).alias(TS)),
                "property",
                "contacts",
                nw.lit(c, dtype=nw.String()),
                c,
                "always",
            )
            for c in attrs
        ]
    rows = nw.concat(parts) if len(parts) > 1 else parts[0]
    where = nw.col("_where")
    inside = (
        ((where == "during") & (nw.col(TS) >= nw.col(_START)) & (nw.col(TS) < nw.col(_END)))
        | ((where == "at_step") & (nw.col(TS) == nw.col(_START)))
        | (where == "always")
    )
    signals = (
        rows.join(population, on=CID, how="inner")
        .filter(inside.fill_null(False))
        .select(CID, "kind", "source", "name", "value", _CONV)
        .unique()
        .group_by("kind", "source", "name", "value")
        .agg(
            nw.col(_CONV).cast(nw.Int64()).sum().alias("converted"),
            nw.len().cast(nw.Int64()).alias("total"),
        )
    )
    # a property with more than max_values values is no candidate: dropped in the engine
    values = nw.len().over("kind", "source", "name")
    table = collect_polars(signals.filter((nw.col("kind") == "event") | (values <= max_values)))
    return DriversResult(
        table=_finish(
            table,
            converted_total,
            reached - converted_total,
            min_size=min_size,
            alpha=alpha,
        ),
        step=k,
        step_names=tuple(s.name for s in spec.steps),
        window=timedelta(microseconds=window_us),
        converted=converted_total,
        dropped=reached - converted_total,
        open_windows=int(levels[f"o{k - 1}"] or 0),
        alpha=alpha,
        max_values=max_values,
        min_size=min_size,
    )
