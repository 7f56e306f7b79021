"""What an analysis counts: its steps, exclusions, window and order, checked once.

A step is an event name (``"purchase"``), a list of event names (any of
them), or a stage of a funnel definition (anything with an
``evidence() -> pl.Expr`` method, such as
:class:`funnelkit.definitions.Stage`).  :func:`resolve_spec` reads the steps,
the window, the order mode and the exclusions an analysis is given into one
:class:`Spec`, refusing what cannot be counted with a message that says what
to write instead.  Every analysis of :mod:`funnelkit.conversion` and every
engine reads its options through this module, so that they all accept and
refuse the same things.  The two ways of reading a stage
(``stage_steps="entry"`` or ``"evidence"``) are on the concept page
``docs/concepts/entry.md`` of the documentation (``make docs``).
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import polars as pl

from funnelkit.definitions import Funnel, Stage, list_presets, require_funnel
from funnelkit.durations import parse_duration
from funnelkit.errors import ParameterError, SpanWarning, UnknownEventWarning, did_you_mean
from funnelkit.events import EVENT, EventLog, unknown_events
from funnelkit.timeutil import Instant, TimeLike, span_warnings

__all__ = [
    "CORE_ORDERS",
    "ONE_US",
    "PERIODS",
    "STAGE",
    "Exclusion",
    "FunnelLike",
    "Order",
    "Rules",
    "Period",
    "Spec",
    "StageLike",
    "StageSteps",
    "StepSpec",
    "StepsSpec",
    "bin_width",
    "check_period",
    "check_some_stage",
    "event_names_of",
    "resolve_spec",
    "resolve_step",
    "stage_reading",
    "step_ids",
    "step_number",
    "transitions",
    "warn_outside_events",
    "warn_unknown_events",
]

Order = Literal["ordered", "strict_increase", "any", "consecutive", "unordered"]
Period = Literal["day", "week", "month"]
StageSteps = Literal["evidence", "entry"]
Rules = Literal["funnelkit", "clickhouse"]

_ORDERS: tuple[Order, ...] = ("ordered", "strict_increase", "any", "consecutive", "unordered")
CORE_ORDERS: frozenset[Order] = frozenset({"consecutive", "unordered"})
"""The orders only the core computes (no accelerator takes them)."""
_RULES: tuple[Rules, ...] = ("funnelkit", "clickhouse")
_STAGE_STEPS: tuple[StageSteps, ...] = ("evidence", "entry")
STAGE = "_stage"  # the stage a synthetic entry event enters (null on raw events)
PERIODS: dict[str, str] = {"day": "1d", "week": "1w", "month": "1mo"}
ONE_US = timedelta(microseconds=1)
_MAX_FLAGS = 64


@runtime_checkable
class StageLike(Protocol):
    """A funnel stage: anything with ``evidence()`` (e.g. :class:`funnelkit.definitions.Stage`)."""

    def evidence(self) -> pl.Expr:
        """Return a boolean expression over the events frame."""
        ...


class FunnelLike(Protocol):
    """A funnel definition: anything with ``.stages`` (e.g. ``definitions.Funnel``)."""

    @property
    def stages(self) -> Sequence[StageLike]:
        """The stages, first stage first."""
        ...


StepSpec: TypeAlias = str | Sequence[str] | StageLike
StepsSpec: TypeAlias = Sequence[StepSpec] | Mapping[str, StepSpec] | FunnelLike


@dataclass(frozen=True)
class Exclusion:
    """Leave out the attempts whose chain holds ``event`` between two steps.

    Per attempt under ``rules="funnelkit"`` (a contact is excluded when every
    attempt is); on the contact's counted chain under ``"clickhouse"``.

    Parameters
    ----------
    event
        An event name, a list of names, or a stage.
    from_step, to_step
        1-based step numbers, ``from_step < to_step``.  The excluded event
        counts when it happens strictly after the chain's ``from_step``
        event and strictly before its ``to_step`` event (or, when the chain
        stopped earlier, at most ``window`` after the chain's start).

    Examples
    --------
    >>> Exclusion("unsubscribe", from_step=1, to_step=3).to_step
    3

    See the concept page: docs/concepts/exclusions.md
    """

    event: StepSpec
    from_step: int = 1
    to_step: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.event, list | set | frozenset):
            object.__setattr__(self, "event", tuple(sorted(self.event)))


# --- steps -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Step:
    name: str
    expr: pl.Expr
    events: frozenset[str] | None = None  # the event names, for a step made of names
    stage: str | None = None  # the stage id, for a stage read by entry


@dataclass(frozen=True, eq=False)
class _Reading:
    """How stages are read as steps: by their evidence events, or by entry (see module doc)."""

    mode: StageSteps = "evidence"
    definition: Funnel | None = None

    @property
    def entry(self) -> bool:
        return self.mode == "entry"

    def stage_id(self, stage: Stage, where: str) -> str:
        """Return the id of ``stage`` in the definition, or say why it has no entry time."""
        funnel = self.definition
        if funnel is None:
            msg = (
                f"{where}: stage {stage.id!r} is read by entry (the default), which needs the "
                "definition it belongs to (a stage's entry depends on the later stages too); "
                "give the definition as the steps (funnel(events, inbound, ...)) or as "
                "definition=, or pass stage_steps='evidence' to count its evidence events"
            )
            raise ParameterError(msg)
        if stage in funnel.stages:
            return stage.id
        if stage.id in funnel.stage_ids:
            msg = (
                f"{where}: stage {stage.id!r} differs from the stage of that id in funnel "
                f"{funnel.name!r}; give the definition's own stage, "
                f"definition.stage({stage.id!r})"
            )
        else:
            hint = did_you_mean(stage.id, funnel.stage_ids)
            msg = (
                f"{where}: stage {stage.id!r} is not a stage of funnel {funnel.name!r} "
                f"(stages: {', '.join(funnel.stage_ids)}).{hint}"
            )
        raise ParameterError(msg)


_EVIDENCE = _Reading()


def stage_reading(steps: object, stage_steps: object, definition: object) -> _Reading:
    """Check ``stage_steps`` and ``definition``; a definition given as steps is the one read.

    Stages as steps are read by entry (the instant :func:`classify` says the
    stage was reached, which needs the definition) or by evidence.

    Parameters
    ----------
    steps
        The steps as given (a definition reads all its stages).
    stage_steps
        ``"entry"`` or ``"evidence"``.
    definition
        The definition the stages belong to, or ``None``.

    Returns
    -------
    Reading
        The mode and the definition.

    Raises
    ------
    ParameterError
        When ``stage_steps`` is unknown, ``definition`` is not a definition,
        is given with ``"evidence"``, or differs from the steps' definition.

    Examples
    --------
    >>> stage_reading(["a"], "entry", None).mode
    'entry'

    See the concept page: docs/concepts/entry.md
    """
    if stage_steps not in _STAGE_STEPS:
        hint = did_you_mean(str(stage_steps), _STAGE_STEPS)
        msg = (
            f"stage_steps: {stage_steps!r} is not 'evidence' (each evidence event of a stage "
            f"counts) or 'entry' (the instant classify() says the stage was reached).{hint}"
        )
        raise ParameterError(msg)
    if definition is not None:
        definition = require_funnel(definition, "definition")
    if stage_steps == "evidence":
        if definition is not None:
            msg = (
                "definition: read only with stage_steps='entry' (stages read by their "
                "evidence events need no definition); add stage_steps='entry' or drop it"
            )
            raise ParameterError(msg)
        return _EVIDENCE
    if isinstance(steps, Funnel):
        if definition is not None and definition != steps:
            msg = (
                f"definition: the steps are funnel {steps.name!r} but definition= is "
                f"{definition.name!r}; give one of them"
            )
            raise ParameterError(msg)
        definition = steps
    return _Reading("entry", definition)


def _stage_name(stage: object) -> str:
    label = getattr(stage, "label", None)
    if callable(label):
        text = label()
        if isinstance(text, str) and text:
            return text
    for attr in ("name", "id"):
        value = getattr(stage, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(stage).__name__


def event_names_of(spec: object) -> tuple[str, ...] | None:
    """Return the event names a step made of names reads (``None`` for a stage).

    A step is an event name or a list of names (any one of them); anything
    else is not made of names.

    Parameters
    ----------
    spec
        A step as given.

    Returns
    -------
    tuple of str or None

    Examples
    --------
    >>> event_names_of("purchase"), event_names_of(["a", "b"])
    (('purchase',), ('a', 'b'))

    See the concept page: docs/concepts/chain-rule.md
    """
    if isinstance(spec, str):
        return (spec,)
    if isinstance(spec, Sequence | set | frozenset) and not isinstance(spec, bytes):
        names = tuple(spec)
        if names and all(isinstance(n, str) and n for n in names):
            return names
    return None


def resolve_step(
    spec: object, where: str, name: str | None = None, reading: _Reading = _EVIDENCE
) -> _Step:
    """Read one step (a name, a list of names or a stage) into a :class:`Spec` step.

    A list of names is one step reached by any of them; a stage is read by
    its evidence events or by entry, as ``reading`` says.

    Parameters
    ----------
    spec
        The step as given.
    where
        What it is, for the error message (``"steps"``, ``"exclusions"``).
    name
        Its display name; by default built from the names or the stage.
    reading
        How stages are read, from :func:`stage_reading`.

    Returns
    -------
    Step
        The name, the events read and the stage, if any.

    Raises
    ------
    ParameterError
        When the step is empty, not text, or a stage of another definition.

    Examples
    --------
    >>> resolve_step(["a", "b"], "steps").name
    'a or b'

    See the concept page: docs/concepts/chain-rule.md
    """
    if isinstance(spec, StageLike) and not isinstance(spec, str):
        # an object with only evidence() names events: it has no entry to read
        if reading.entry and isinstance(spec, Stage):
            stage_id = reading.stage_id(spec, where)
            expr = (pl.col(STAGE) == stage_id).fill_null(False)
            return _Step(name or _stage_name(spec), expr, stage=stage_id)
        expr = spec.evidence()
        if not isinstance(expr, pl.Expr):
            msg = (
                f"{where}: evidence() of {_stage_name(spec)!r} returned "
                f"{type(expr).__name__}, not a polars expression"
            )
            raise ParameterError(msg)
        return _Step(name or _stage_name(spec), expr.fill_null(False))
    names = event_names_of(spec)
    if names is None:
        msg = (
            f"{where}: {spec!r} is not a step; give an event name ('purchase'), a list of "
            "event names (['ebook_download', 'newsletter_signup']) or a stage of a funnel"
        )
        raise ParameterError(msg)
    expr = pl.col(EVENT) == names[0] if len(names) == 1 else pl.col(EVENT).is_in(names)
    return _Step(name or " or ".join(names), expr.fill_null(False), frozenset(names))


def _resolve_steps(steps: object, reading: _Reading = _EVIDENCE) -> tuple[_Step, ...]:
    if isinstance(steps, str):
        if steps in list_presets():
            meant = f"the funnel definition load_funnel({steps!r})"
        elif "," in steps:
            meant = repr([s.strip() for s in steps.split(",")])
        else:
            meant = f"[{steps!r}]"
        msg = f"steps: give a list of steps, not one text; did you mean {meant}?"
        raise ParameterError(msg)
    items: list[tuple[str | None, object]]
    if hasattr(steps, "stages") and not isinstance(steps, StageLike):
        items = [(None, s) for s in steps.stages]
    elif isinstance(steps, Mapping):
        items = [(str(k), v) for k, v in steps.items()]
    elif isinstance(steps, Sequence):
        items = [(None, s) for s in steps]
    else:
        msg = (
            f"steps: expected a list of steps, a mapping name -> step or a funnel definition, "
            f"got {type(steps).__name__}"
        )
        raise ParameterError(msg)
    if not items:
        msg = "steps: a funnel needs at least one step, e.g. ['page_view', 'purchase']"
        raise ParameterError(msg)
    return tuple(resolve_step(s, f"step {i}", n, reading) for i, (n, s) in enumerate(items, 1))


@dataclass(frozen=True, eq=False)
class _Excl:
    expr: pl.Expr
    from_step: int
    to_step: int
    events: frozenset[str] | None = None
    stage: str | None = None


def _resolve_exclusions(
    exclusions: Iterable[object], n_steps: int, order: Order, reading: _Reading = _EVIDENCE
) -> tuple[_Excl, ...]:
    out = []
    for i, item in enumerate(exclusions, 1):
        if isinstance(item, tuple) and len(item) == 3 and not isinstance(item, Exclusion):
            item = Exclusion(item[0], item[1], item[2])
        if not isinstance(item, Exclusion):
            msg = (
                f"exclusion {i}: expected Exclusion(event, from_step, to_step) or a tuple "
                f"(event, from_step, to_step), got {item!r}"
            )
            raise ParameterError(msg)
        if not (
            isinstance(item.from_step, int)
            and isinstance(item.to_step, int)
            and 1 <= item.from_step < item.to_step <= n_steps
        ):
            msg = (
                f"exclusion {i}: from_step={item.from_step!r}, to_step={item.to_step!r} must be "
                f"step numbers with 1 <= from_step < to_step <= {n_steps}"
            )
            raise ParameterError(msg)
        step = resolve_step(item.event, f"exclusion {i}", reading=reading)
        out.append(_Excl(step.expr, item.from_step, item.to_step, step.events, step.stage))
    if out and order == "any":
        msg = "exclusions need an ordered funnel; use order='ordered' or 'strict_increase'"
        raise ParameterError(msg)
    return tuple(out)


def _check_order(order: object) -> Order:
    if order not in _ORDERS:
        hint = did_you_mean(str(order), _ORDERS)
        msg = f"order: {order!r} is not one of {', '.join(map(repr, _ORDERS))}.{hint}"
        raise ParameterError(msg)
    return order


def _check_rules(rules: object) -> Rules:
    if rules not in _RULES:
        hint = did_you_mean(str(rules), _RULES)
        msg = f"rules: {rules!r} is not one of {', '.join(map(repr, _RULES))}.{hint}"
        raise ParameterError(msg)
    return rules


def check_period(period: object) -> str:
    """Return ``period`` if it is ``"day"``, ``"week"`` or ``"month"``; else say which.

    Every analysis by period calls it, so the message is the same everywhere.

    Parameters
    ----------
    period
        The value given.

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        When ``period`` is anything else (the message suggests the closest).

    Examples
    --------
    >>> check_period("week")
    'week'

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    if period not in PERIODS:
        hint = did_you_mean(str(period), PERIODS)
        msg = f"period: {period!r} is not one of 'day', 'week' (ISO, from Monday), 'month'.{hint}"
        raise ParameterError(msg)
    return str(period)


# --- the spec of one analysis ----------------------------------------------------
@dataclass(frozen=True, eq=False)
class Spec:
    """The steps, window (µs), order mode and exclusions of one analysis, checked."""

    steps: tuple[_Step, ...]
    window_us: int
    order: Order
    first_entry: bool
    exclusions: tuple[_Excl, ...]
    reading: _Reading = _EVIDENCE
    definition: Funnel | None = None  # the definition the steps come from, if any
    rules: Rules = "funnelkit"  # one event per step, first entry ever; "clickhouse": windowFunnel

    @property
    def n(self) -> int:
        """The number of steps."""
        return len(self.steps)

    @property
    def stage_steps(self) -> StageSteps:
        """How stages are read as steps: ``"evidence"`` or ``"entry"``."""
        return self.reading.mode

    @property
    def stage_ids(self) -> tuple[str, ...]:
        """The stages read by entry, in the definition's order."""
        wanted = {s.stage for s in self.steps} | {e.stage for e in self.exclusions}
        funnel = self.reading.definition
        return tuple(i for i in funnel.stage_ids if i in wanted) if funnel is not None else ()

    @property
    def raw_names(self) -> frozenset[str]:
        """The event names read on the raw events, beside the stages read by entry."""
        sets = [s.events for s in self.steps] + [e.events for e in self.exclusions]
        return frozenset().union(*(names for names in sets if names is not None))

    @property
    def event_names(self) -> frozenset[str] | None:
        """Every event name the steps and exclusions read, when they are all made of names."""
        sets = [s.events for s in self.steps] + [e.events for e in self.exclusions]
        if any(names is None for names in sets):
            return None
        return frozenset().union(*(names for names in sets if names is not None))

    def may_share(self, i: int, j: int) -> bool:
        """Whether one event (row) may match steps ``i`` and ``j`` (1-based) both."""
        a, b = self.steps[i - 1], self.steps[j - 1]
        if a.stage is not None and b.stage is not None:
            return a.stage == b.stage
        if a.stage is not None or b.stage is not None:
            other = b if a.stage is not None else a
            return other.events is None  # a rule of its own may hold on an entry row
        if a.events is None or b.events is None:
            return True
        return bool(a.events & b.events)

    @property
    def one_event_rule(self) -> bool:
        """Whether the rule "one event fills at most one step" changes an ordered funnel here.

        Under ``rules="funnelkit"`` with ``order="ordered"``, ``"consecutive"``
        or ``"unordered"``, when some event may match two steps (``purchase ->
        purchase``); otherwise the rule is that of ``windowFunnel`` (a row then
        serves one step anyway, and ``"strict_increase"`` puts one instant on
        each step).
        """
        if self.rules != "funnelkit" or self.order not in ("ordered", "consecutive", "unordered"):
            return False
        pairs = ((i, j) for i in range(1, self.n + 1) for j in range(i + 1, self.n + 1))
        return any(self.may_share(i, j) for i, j in pairs)

    @property
    def disjoint(self) -> bool:
        """Whether no event can match two steps (or a step and an exclusion)."""
        items = [(s.events, s.stage) for s in self.steps]
        items += [(e.events, e.stage) for e in self.exclusions]
        seen: set[tuple[str, str]] = set()
        for names, stage in items:
            if stage is not None:
                keys = {("stage", stage)}
            elif names is not None:
                keys = {("event", name) for name in names}
            else:
                return False
            if seen & keys:
                return False
            seen |= keys
        return True


def resolve_spec(
    steps: object,
    window: str | timedelta,
    order: object,
    first_entry: bool,
    exclusions: Iterable[object],
    *,
    stage_steps: object = "entry",
    definition: object = None,
    rules: object = "funnelkit",
) -> Spec:
    """Read the options of a funnel-like analysis into one :class:`Spec`.

    Funnels, trends, drivers and drop-off paths all read their options here,
    once, so they accept and refuse the same values with the same messages.

    Parameters
    ----------
    steps, window, order, first_entry, exclusions, stage_steps, definition, rules
        As in :func:`funnelkit.conversion.funnel`.

    Returns
    -------
    Spec
        The steps, window (µs), order, exclusions and reading, checked.

    Raises
    ------
    ParameterError
        When an option cannot be read; the message says what to write.

    Examples
    --------
    >>> resolve_spec(["page_view", "purchase"], "7d", "ordered", False, ()).n
    2

    See the concept page: docs/concepts/chain-rule.md
    """
    reading = stage_reading(steps, stage_steps, definition)
    resolved = _resolve_steps(steps, reading)
    checked = _check_order(order)
    checked_rules = _check_rules(rules)
    span = parse_duration(window, name="window")
    excl = _resolve_exclusions(exclusions, len(resolved), checked, reading)
    if len(resolved) + len(excl) > _MAX_FLAGS:
        total = len(resolved) + len(excl)
        msg = f"steps: at most {_MAX_FLAGS} steps and exclusions together, got {total}"
        raise ParameterError(msg)
    if reading.entry:
        check_some_stage([*resolved, *excl], reading)
    source = steps if isinstance(steps, Funnel) else reading.definition
    spec = Spec(
        resolved, span // ONE_US, checked, bool(first_entry), excl, reading, source, checked_rules
    )
    if checked == "unordered" and spec.one_event_rule:
        msg = (
            "order='unordered': some event may match two steps, and counting such an event once "
            "(rules='funnelkit') is not built for unordered funnels yet; name the steps by "
            "distinct events, or pass rules='clickhouse' (an event then counts for every step "
            "it matches)"
        )
        raise ParameterError(msg)
    return spec


def check_some_stage(items: Sequence[_Step | _Excl], reading: _Reading) -> None:
    """Refuse a stage id given as text where the entry reading reads stages.

    With no stage among the steps, every step is a set of event names; but
    text that is a stage id of the definition given is a mistake worth
    naming (it is read as an event name, which no event has).

    Parameters
    ----------
    items
        The steps (and exclusions) read.
    reading
        How stages are read, from :func:`stage_reading`.

    Raises
    ------
    ParameterError
        When a step's text is a stage id of the definition given.

    Examples
    --------
    >>> from funnelkit.definitions import load_funnel
    >>> sales = load_funnel("sales")
    >>> reading = stage_reading(["lead"], "entry", sales)
    >>> check_some_stage([resolve_step("lead", "steps")], reading)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funnelkit.errors.ParameterError: steps: 'lead' is a stage id of funnel 'sales' ...

    See the concept page: docs/concepts/entry.md
    """
    if any(item.stage is not None for item in items) or reading.definition is None:
        return
    ids = reading.definition.stage_ids
    texts = sorted({n for item in items for n in (item.events or ()) if n in ids})
    if not texts:
        return
    msg = (
        f"steps: {texts[0]!r} is a stage id of funnel {reading.definition.name!r} but text "
        f"is read as an event name: give definition.stage({texts[0]!r}), or the definition "
        "itself as the steps"
    )
    raise ParameterError(msg)


def step_ids(spec: Spec) -> list[str | None]:
    """Return the stage id of each step, when the steps are a definition's stages.

    ``None`` for a step that is no stage (an event name or a rule): such a
    step is named by its name or number only.

    Parameters
    ----------
    spec
        The funnel's checked steps.

    Returns
    -------
    list of str or None

    Examples
    --------
    >>> step_ids(resolve_spec(["visit", "signup"], "7d", "ordered", False, ()))
    [None, None]

    See the concept page: docs/concepts/orders.md
    """
    ids: list[str | None] = [s.stage for s in spec.steps]
    definition = spec.definition
    if definition is not None and [s.name for s in spec.steps] == [
        stage.label("en") for stage in definition.stages
    ]:
        ids = list(definition.stage_ids)
    return ids


def step_number(step: object, spec: Spec) -> int:
    """Return the 1-based number of ``step``: given as a number, a step's name or a stage id.

    The range a caller accepts is its own to check (a step to reach, a step
    to leave); a name that is no step of ``spec`` is refused with the steps
    and the closest one.

    Parameters
    ----------
    step
        A whole number, a step's name or a stage id (:func:`step_ids`).
    spec
        The funnel's checked steps.

    Returns
    -------
    int

    Raises
    ------
    ParameterError
        A name that names no step, or a value that is neither a whole number
        nor text.

    Examples
    --------
    >>> spec = resolve_spec(["visit", "signup"], "7d", "ordered", False, ())
    >>> step_number("signup", spec), step_number(2, spec)
    (2, 2)

    See the concept page: docs/concepts/orders.md
    """
    names = [s.name for s in spec.steps]
    if isinstance(step, str):
        ids = step_ids(spec)
        if step in names:
            return names.index(step) + 1
        if step in ids:
            return ids.index(step) + 1
        known = [*names, *(i for i in ids if i is not None and i not in names)]
        hint = did_you_mean(step, known)
        msg = f"step: {step!r} is not a step of this funnel ({', '.join(names)}).{hint}"
        raise ParameterError(msg)
    if isinstance(step, int) and not isinstance(step, bool):
        return step
    msg = f"step: expected a step number or a step's name, got {step!r}"
    raise ParameterError(msg)


def transitions(spec: Spec) -> list[tuple[int, int]]:
    """Return the ``(from_step, to_step)`` pairs whose time to convert is measured.

    Each step from the one before, and the whole funnel (1 to n) when it has
    three steps or more; in any order, only 1 to n.

    Parameters
    ----------
    spec
        The funnel's options.

    Returns
    -------
    list of tuple

    Examples
    --------
    >>> transitions(resolve_spec(["a", "b", "c"], "7d", "ordered", False, ()))
    [(1, 2), (2, 3), (1, 3)]

    See the concept page: docs/concepts/time-to-convert.md
    """
    if spec.order == "any":
        return [(1, spec.n)] if spec.n >= 2 else []
    pairs = [(k - 1, k) for k in range(2, spec.n + 1)]
    if spec.n >= 3:
        pairs.append((1, spec.n))
    return pairs


_NICE = tuple(
    parse_duration(t)
    for t in (
        "1s",
        "10s",
        "1m",
        "5m",
        "15m",
        "30m",
        "1h",
        "3h",
        "6h",
        "12h",
        "1d",
        "2d",
        "1w",
        "2w",
        "4w",
    )
)


def bin_width(window_us: int, bins: int = 20) -> int:
    """Return a round histogram bin width (µs) giving about ``bins`` bins over the window.

    Widths are round durations (minutes, hours, days), so the time to convert
    histogram reads well whatever the window.

    Parameters
    ----------
    window_us
        The window, in microseconds.
    bins
        About how many bins.

    Returns
    -------
    int
        The width, in microseconds.

    Examples
    --------
    >>> bin_width(7 * 86_400 * 10**6) // 3_600_000_000  # hours, for a 7-day window
    12

    See the concept page: docs/concepts/time-to-convert.md
    """
    for width in _NICE:
        size = width // ONE_US
        if window_us <= bins * size:
            return size
    return max(1, math.ceil(window_us / bins))


def warn_unknown_events(log: object, spec: Spec | Funnel) -> None:
    """Warn (:class:`~funnelkit.errors.UnknownEventWarning`) of each step name ``log`` never holds.

    The names a step or an exclusion reads, checked against the event names
    ``log``'s reading counted (:func:`funnelkit.logs.unknown_events`); a
    definition's rules are checked for near misses only, since they list
    alternatives a log need not all hold.  Nothing is read: a log whose names
    are not counted yet is not checked.  The warning points at the first
    caller outside funnelkit, however deep the analysis calls this.

    Parameters
    ----------
    log
        The events read by :func:`~funnelkit.events.read_events`; any other
        input is not checked.
    spec
        The checked steps of the analysis, or a definition alone (what
        :func:`funnelkit.stages.classify` reads): its names, near misses only.

    Examples
    --------
    >>> import warnings
    >>> from funnelkit.events import read_events
    >>> log = read_events(pl.DataFrame({"contact_id": ["a"], "occurred_at": ["2026-11-02"],
    ...                                 "event": ["purchase"]}))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_unknown_events(log, resolve_spec(["purchse"], "1d", "ordered", False, ()))
    >>> caught[0].category.__name__, str(caught[0].message).split(";")[0]
    ('UnknownEventWarning', "step 1 reads the event 'purchse', which <frame> never holds")

    See the concept page: docs/concepts/data-contract.md
    """
    if not isinstance(log, EventLog):
        return
    reads: list[tuple[str, Iterable[str]]] = []
    definition = spec if isinstance(spec, Funnel) else spec.definition
    if isinstance(spec, Spec):
        for k, step in enumerate(spec.steps, start=1):
            if step.stage is None and step.events is not None:
                reads.append((f"step {k}", step.events))
        for k, excluded in enumerate(spec.exclusions, start=1):
            if excluded.stage is None and excluded.events is not None:
                reads.append((f"exclusion {k}", excluded.events))
    lines = unknown_events(log, reads, read=False)
    if definition is not None:
        what = f"funnel {definition.name!r}"
        lines += unknown_events(log, [(what, definition.event_names)], typos_only=True, read=False)
    for line in lines:
        warnings.warn(line, UnknownEventWarning, stacklevel=_outside_funnelkit())


def warn_outside_events(
    log: object,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    as_of: Instant | None = None,
) -> None:
    """Warn (:class:`~funnelkit.errors.SpanWarning`) when the times asked miss ``log``'s events.

    :func:`funnelkit.timeutil.span_warnings` of the first and last events
    ``log``'s reading counted; nothing is read, and a log not read by
    :func:`~funnelkit.events.read_events`, or whose summary is not counted
    yet, is not checked.

    Parameters
    ----------
    log
        The events of the analysis; only an :class:`~funnelkit.events.EventLog` is checked.
    since, until
        The span the analysis reads.
    as_of
        The instant the analysis classifies at.

    Raises
    ------
    ParameterError
        A time that cannot be read (as the analysis would say).

    Examples
    --------
    >>> import warnings
    >>> from funnelkit.events import read_events
    >>> log = read_events(pl.DataFrame({"contact_id": ["a"], "occurred_at": ["2026-11-02"],
    ...                                 "event": ["purchase"]}))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_outside_events(log, since="2027-01-01")
    >>> caught[0].category.__name__, str(caught[0].message).split(":")[0]
    ('SpanWarning', 'since=2027-01-01 is after the last event (2026-11-02 00')

    See the concept page: docs/concepts/data-contract.md
    """
    if not isinstance(log, EventLog) or log.summarized is None:
        return
    summary = log.summarized
    lines = span_warnings(summary.first_at, summary.last_at, since=since, until=until, as_of=as_of)
    for line in lines:
        warnings.warn(line, SpanWarning, stacklevel=_outside_funnelkit())


def _outside_funnelkit() -> int:
    """Return the ``stacklevel`` of the first caller outside the package, for ``warnings.warn``.

    An analysis may reach the warning through others (``week_over_week`` through
    ``compare_periods`` and ``conversion_over_time``): a fixed level would point
    inside funnelkit.  Level 1 is the function calling ``warnings.warn``.
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = inspect.currentframe(), 0
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return max(level, 1)
