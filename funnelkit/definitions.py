"""Funnel definitions as data: stages, their rules, TOML files and the presets.

A funnel definition says, in a file a user can read and edit, which stages a
contact goes through and which events put it in each stage.  Two presets ship
with funnelkit (``inbound`` and ``sales``, see :func:`list_presets`); a user's
own file works the same way (:func:`load_funnel` takes a preset name or a path).

The file format
---------------
A definition is a TOML file with a ``name``, a ``description`` and an ordered
array of ``[[stages]]``, the first stage first::

    name = "my_funnel"
    description = "What this funnel is for."

    [[stages]]                 # the first stage is the entry stage: every
    id = "contact"             # known contact is there from its first event
    labels = { en = "Contact", fr = "Contact" }

    [[stages]]
    id = "lead"
    labels = { en = "Lead", fr = "Lead" }
    events = ["form_fill", "badge_scan"]     # any one of these events

    [[stages]]
    id = "client"
    labels = { en = "Client", fr = "Client" }
    lapse_after = "180d"       # optional: with no activity for 180 days ...
    lapse_to = "lead"          # ... the contact counts as a lead again
    [[stages.when]]            # several conditions: any one of them is enough
    events = ["purchase"]
    where = "amount > 0"
    [[stages.when]]
    events = ["subscription"]
    min_count = 2

Stage keys: ``id`` (lower case letters, digits and ``_``; it names the
``<id>_at`` column of a classification), ``labels`` (a table of language code
to label; ``en`` is used when a language is missing), ``description``, the
rule keys of one condition (below) or ``when`` (an array of conditions, any
of which is enough), and the optional inactivity rule ``lapse_after`` (a
duration) with ``lapse_to`` (the id of an earlier stage).

A condition is either an *events* condition or a *points* condition:

``events``
    Event names; an event counts as evidence when its name is in the list.
``min_count``
    Optional, default 1: the stage is reached at the ``min_count``-th
    evidence event.
``where``
    Optional property filter on the evidence events: a string
    ``"column op value"``, a table ``{ column = "amount", op = ">", value = 0 }``,
    or an array of those, all of which must hold.  ``op`` is one of ``==``,
    ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``, ``not in``; ``value`` is
    written as in TOML: ``amount > 0``, ``channel == 'social'``,
    ``channel in ['social', 'paid_ads']``.  A null property never satisfies a
    filter (not even ``!=`` or ``not in``).
``points``
    A table of event name to points (positive numbers), with ``threshold``
    (positive) and an optional ``half_life`` (a duration): the contact's score
    at an instant is the sum of the points of its events up to that instant,
    each halved every ``half_life`` since it happened; the stage is reached
    at the first event where the score reaches the threshold.  ``where`` may
    restrict which events score.

Durations are written as everywhere in funnelkit (:mod:`funnelkit.durations`):
a whole number and a unit, ``90m``, ``12h``, ``3d``, ``2w``, or ``1d12h``.

The first stage has no rule: any event (even one named in no rule) makes a
contact known, and the contacts table can add contacts with no events.

Loading validates everything and explains what is wrong: the error names the
file, the stage and the key, and suggests the key or stage id that was
probably meant.  :func:`save_funnel` writes a file that loads back equal.

Limits
------
A definition is small; a file beyond these limits is refused, with one error
naming the file, the stage, the key, the count and the limit, before it can
cost minutes or gigabytes: at most :data:`MAX_FILE_BYTES` (256 KiB),
:data:`MAX_NESTING` levels of dotted keys, tables and arrays,
:data:`MAX_STAGES` stages, :data:`MAX_CONDITIONS` conditions per stage and
:data:`MAX_TOTAL_CONDITIONS` in all, :data:`MAX_EVENTS` events (or points
entries) per condition, :data:`MAX_FILTERS` filters per condition,
:data:`MAX_VALUES` values per ``in`` filter, :data:`MAX_LAPSES` lapsing
stages, names (ids, events, labels, columns) of :data:`MAX_NAME_LENGTH`
characters, texts (descriptions, filters) of :data:`MAX_TEXT_LENGTH`,
``min_count`` up to :data:`MAX_MIN_COUNT`, points and thresholds up to
:data:`MAX_NUMBER` and durations up to 100 years.

Examples
--------
>>> funnel = load_funnel("inbound")
>>> [stage.id for stage in funnel.stages]
['prospect', 'cold_lead', 'warm_lead', 'client', 'ambassador']
>>> funnel.stage("warm_lead").label("fr")
'Lead chaud'
"""

from __future__ import annotations

import functools
import math
import operator
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import polars as pl

from funnelkit.columns import EVENT
from funnelkit.durations import MAX_DURATION, parse_duration
from funnelkit.errors import (
    DataError,
    DefinitionError,
    MissingColumnError,
    ParameterError,
    did_you_mean,
)

__all__ = [
    "MAX_CONDITIONS",
    "MAX_EVENTS",
    "MAX_FILE_BYTES",
    "MAX_FILTERS",
    "MAX_LAPSES",
    "MAX_MIN_COUNT",
    "MAX_NAME_LENGTH",
    "MAX_NESTING",
    "MAX_NUMBER",
    "MAX_STAGES",
    "MAX_TEXT_LENGTH",
    "MAX_TOTAL_CONDITIONS",
    "MAX_VALUES",
    "OPS",
    "Condition",
    "EventRule",
    "Filter",
    "Funnel",
    "Lapse",
    "PointsRule",
    "Stage",
    "duration_text",
    "list_presets",
    "load_funnel",
    "read_numbers",
    "save_funnel",
]

Scalar: TypeAlias = str | int | float | bool | datetime | date
FilterValue: TypeAlias = Scalar | tuple[Scalar, ...]
Op: TypeAlias = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not in"]

OPS: tuple[str, ...] = ("==", "!=", ">", ">=", "<", "<=", "in", "not in")
"""The comparison operators a property filter accepts."""

# Limits of a definition: far above what a real one needs (5-12 stages, a few
# events and filters per condition), low enough that reading, checking and
# classifying with a definition at every limit at once stays within seconds.
MAX_FILE_BYTES = 256 * 1024
"""Size of a definition file, in bytes (the presets are a few KB)."""
MAX_NESTING = 32
"""Depth of dotted keys, ``[table.headers]``, inline tables and arrays together."""
MAX_STAGES = 50
"""Stages of a definition."""
MAX_CONDITIONS = 8
"""Conditions (``[[stages.when]]``) of a stage."""
MAX_TOTAL_CONDITIONS = 64
"""Conditions of a definition, all stages together."""
MAX_EVENTS = 100
"""Event names of a condition (``events``, or the entries of ``points``); labels of a stage."""
MAX_FILTERS = 4
"""Property filters (``where``) of a condition."""
MAX_VALUES = 100
"""Values of an ``in`` / ``not in`` filter."""
MAX_LAPSES = MAX_STAGES - 1
"""Stages with an inactivity rule (``lapse_after``) in a definition: any but the entry stage."""
MAX_NAME_LENGTH = 200
"""Characters of a name: funnel name, stage id, label, event name, column."""
MAX_TEXT_LENGTH = 1000
"""Characters of a text: description, filter string, filter text value."""
MAX_MIN_COUNT = 1_000_000
"""Largest ``min_count``."""
MAX_NUMBER = 1e9
"""Largest ``points`` value and ``threshold``."""
_INT64 = 2**63

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_LANG = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WHERE = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?P<op>not\s+in\b|in\b|==|!=|>=|<=|>|<|=)\s*(?P<value>.*?)\s*$"
)
_RESERVED_IDS = {"last_activity": "it would clash with the 'last_activity_at' column"}

_FUNNEL_KEYS = ("name", "description", "stages")
_STAGE_KEYS = (
    "id",
    "labels",
    "description",
    "events",
    "min_count",
    "where",
    "points",
    "threshold",
    "half_life",
    "when",
    "lapse_after",
    "lapse_to",
)
_EVENTS_KEYS = ("events", "min_count", "where")
_POINTS_KEYS = ("points", "threshold", "half_life", "where")
_RULE_KEYS = ("events", "min_count", "where", "points", "threshold", "half_life")
_FILTER_KEYS = ("column", "op", "value")
_PRESETS = "presets"


# --- limits --------------------------------------------------------------------------
def _shown(value: object, width: int = 60) -> str:
    """Return ``repr(value)``, cut to ``width`` characters (one short line)."""
    try:
        text = repr(value)
    except ValueError:  # a whole number of more than 4,300 digits
        return "a whole number too long to show"
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_count(items: Any, limit: int, key: str, what: str, owner: str) -> None:
    """Refuse more than ``limit`` ``items``, naming the key, the count and the limit."""
    if len(items) > limit:
        msg = f"key {key!r}: {len(items):,} {what}, more than the {limit:,} {owner} may have"
        raise DefinitionError(msg)


def _check_length(text: str, limit: int, key: str) -> None:
    """Refuse a string longer than ``limit`` characters, naming the key and the limit."""
    if len(text) > limit:
        msg = (
            f"key {key!r}: {_shown(text, 30)} has {len(text):,} characters, "
            f"more than the {limit:,} allowed"
        )
        raise DefinitionError(msg)


# --- durations -----------------------------------------------------------------
def duration_text(value: timedelta) -> str:
    """Return a duration as a definition file writes it: one unit, days when exact.

    Examples
    --------
    >>> duration_text(timedelta(days=90))
    '90d'
    >>> duration_text(timedelta(hours=36))
    '36h'
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, rest = divmod(int(value.total_seconds()), size)
        if not rest:
            return f"{count}{unit}"
    return f"{int(value.total_seconds())}s"


def _check_duration(value: object, key: str) -> timedelta:
    if not isinstance(value, timedelta):
        msg = f"key {key!r}: expected a duration, got {value!r}"
        raise DefinitionError(msg)
    if value <= timedelta(0) or value % timedelta(seconds=1):
        msg = f"key {key!r}: a duration must be a positive whole number of seconds, got {value}"
        raise DefinitionError(msg)
    if value > MAX_DURATION:
        msg = (
            f"key {key!r}: {value.days:,} days is longer than 100 years "
            f"({MAX_DURATION.days}d), the longest duration funnelkit accepts"
        )
        raise DefinitionError(msg)
    return value


# --- property filters ------------------------------------------------------------
def _render_value(value: FilterValue) -> str:
    """Write a filter value as a TOML value (strings single-quoted when possible)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(_render_value(item) for item in value) + "]"
    if isinstance(value, str):
        if "'" not in value and value.isprintable():
            return f"'{value}'"
        return _toml_string(value)
    return _toml_scalar(value)


def _check_scalar(value: object, key: str) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"key {key!r}: {value!r} is not a usable value"
        raise DefinitionError(msg)
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        msg = (
            f"key {key!r}: {_shown(value, 30)} is beyond the 64-bit whole numbers "
            f"(±9.2e18) events hold; write it as a decimal number"
        )
        raise DefinitionError(msg)
    if isinstance(value, str):
        _check_length(value, MAX_TEXT_LENGTH, key)
    if isinstance(value, str | int | float | bool | datetime | date):
        return value
    msg = f"key {key!r}: {_shown(value)} is not a string, number, boolean or date"
    raise DefinitionError(msg)


@dataclass(frozen=True)
class Filter:
    """A property filter on events: ``column op value``.

    Parameters
    ----------
    column
        A property column of the events frame, e.g. ``"amount"``.
    op
        One of :data:`OPS`.
    value
        A string, number, boolean or date; a tuple of them for ``in`` and
        ``not in``.

    Examples
    --------
    >>> str(Filter("channel", "in", ("social", "paid_ads")))
    "channel in ['social', 'paid_ads']"
    """

    column: str
    op: Op
    value: FilterValue

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            msg = f"key 'column': expected a column name, got {_shown(self.column)}"
            raise DefinitionError(msg)
        _check_length(self.column, MAX_NAME_LENGTH, "column")
        op: str = self.op
        if op not in OPS:
            hint = " Use '==' to test equality." if op == "=" else did_you_mean(op, OPS)
            msg = f"key 'op': {self.op!r} is not an operator (one of {', '.join(OPS)}).{hint}"
            raise DefinitionError(msg)
        value: object = self.value
        if self.op in ("in", "not in"):
            if isinstance(value, list):
                value = tuple(value)
            if not isinstance(value, tuple) or not value:
                msg = (
                    f"key 'value': {self.op!r} needs a non-empty list, e.g. ['social', 'paid_ads']"
                )
                raise DefinitionError(msg)
            _check_count(value, MAX_VALUES, "value", "values", f"an {self.op!r} filter")
            object.__setattr__(self, "value", tuple(_check_scalar(v, "value") for v in value))
            return
        if isinstance(value, tuple | list):
            msg = f"key 'value': {self.op!r} compares with one value; use 'in' for a list"
            raise DefinitionError(msg)
        _check_scalar(value, "value")
        if self.op not in ("==", "!=") and isinstance(value, bool):
            msg = f"key 'value': {self.op!r} cannot compare with a boolean"
            raise DefinitionError(msg)

    def __str__(self) -> str:
        return f"{self.column} {self.op} {_render_value(self.value)}"

    @classmethod
    def parse(cls, text: str) -> Filter:
        """Read the string form ``"column op value"`` of a filter.

        Examples
        --------
        >>> Filter.parse("amount > 0")
        Filter(column='amount', op='>', value=0)
        """
        _check_length(text, MAX_TEXT_LENGTH, "where")
        match = _WHERE.match(text)
        if match is None:
            msg = (
                f"{text!r} is not a filter; write 'column op value', e.g. 'amount > 0' "
                f"or \"channel in ['social', 'paid_ads']\""
            )
            raise DefinitionError(msg)
        op = " ".join(match["op"].split())
        if op == "=":
            msg = f"{text!r}: '=' is not an operator; use '==' to test equality"
            raise DefinitionError(msg)
        try:
            value = tomllib.loads(f"v = {match['value']}")["v"]
        except (ValueError, RecursionError):  # TOMLDecodeError, too many digits, too deep
            msg = (
                f"{text!r}: cannot read the value {match['value']!r}; quote strings "
                f"(channel == 'social') and write lists in brackets (['a', 'b'])"
            )
            raise DefinitionError(msg) from None
        return cls(match["column"], op, value)  # type: ignore[arg-type]

    def expr(self, ns: Any = pl) -> Any:
        """Return the boolean expression of the filter (null counts as false).

        ``ns`` is the expression namespace: polars by default, or any module
        with polars' ``col`` and ``lit`` (narwhals, for the DuckDB and Spark
        paths), so both read a filter by this one rule.
        """
        col = ns.col(self.column)
        value = self.value
        if isinstance(value, tuple):
            # Equalities rather than ``is_in``: literals then follow the column's type.
            hit = functools.reduce(operator.or_, [col == ns.lit(_utc(v)) for v in value])
            out = hit if self.op == "in" else ~hit
        else:
            lit = ns.lit(_utc(value))
            out = {
                "==": col == lit,
                "!=": col != lit,
                ">": col > lit,
                ">=": col >= lit,
                "<": col < lit,
                "<=": col <= lit,
            }[self.op]
        return out.fill_null(False)


def _utc(value: Scalar) -> Scalar:
    """Read a date-time without a zone as UTC, like the events themselves."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


# --- conditions --------------------------------------------------------------------
def _check_events(events: object, key: str = "events") -> tuple[str, ...]:
    if isinstance(events, str):
        events = (events,)
    if not isinstance(events, list | tuple) or not events:
        msg = f"key {key!r}: the rule is empty; list at least one event name, e.g. ['purchase']"
        raise DefinitionError(msg)
    _check_count(events, MAX_EVENTS, key, "event names", "a condition")
    seen: set[str] = set()
    for name in events:
        if not isinstance(name, str) or not name.strip():
            msg = f"key {key!r}: {_shown(name)} is not an event name"
            raise DefinitionError(msg)
        _check_length(name, MAX_NAME_LENGTH, key)
        if name in seen:
            msg = f"key {key!r}: event {name!r} is listed twice"
            raise DefinitionError(msg)
        seen.add(name)
    return tuple(events)


def _check_where(where: object) -> tuple[Filter, ...]:
    if isinstance(where, Filter):
        return (where,)
    if not isinstance(where, tuple | list) or not all(isinstance(f, Filter) for f in where):
        msg = f"key 'where': expected filters, got {_shown(where)}"
        raise DefinitionError(msg)
    _check_count(where, MAX_FILTERS, "where", "filters", "a condition")
    return tuple(where)


def _check_number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"key {key!r}: expected a number, got {_shown(value)}"
        raise DefinitionError(msg)
    # Compared as they are: a whole number of 400 digits cannot become a float.
    if (isinstance(value, float) and not math.isfinite(value)) or value <= 0:
        msg = f"key {key!r}: must be a number greater than zero, got {_shown(value, 30)}"
        raise DefinitionError(msg)
    if value > MAX_NUMBER:
        msg = f"key {key!r}: {_shown(value, 30)} is more than the {MAX_NUMBER:,.0f} allowed"
        raise DefinitionError(msg)
    return float(value)


def _join_or(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _number(value: float) -> str:
    # A whole float beyond 2**53 keeps its exponent: written as a whole number it
    # would read back as an integer that can overflow 64 bits.
    whole = float(value).is_integer() and abs(value) < 2**53
    return str(int(value)) if whole else repr(float(value))


@dataclass(frozen=True)
class EventRule:
    """Evidence by events: any of ``events``, at least ``min_count`` times.

    Parameters
    ----------
    events
        Event names; an event with one of these names counts as evidence.
    min_count
        The stage is reached at the ``min_count``-th evidence event.
    where
        Property filters the evidence events must all satisfy.

    Examples
    --------
    >>> EventRule(("purchase",), where=(Filter("amount", ">", 0),)).describe()
    'purchase where amount > 0'
    """

    events: tuple[str, ...]
    min_count: int = 1
    where: tuple[Filter, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", _check_events(self.events))
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int):
            msg = f"key 'min_count': expected a whole number, got {self.min_count!r}"
            raise DefinitionError(msg)
        if self.min_count < 1:
            msg = f"key 'min_count': must be 1 or more, got {_shown(self.min_count, 30)}"
            raise DefinitionError(msg)
        if self.min_count > MAX_MIN_COUNT:
            msg = (
                f"key 'min_count': {_shown(self.min_count, 30)} is more than "
                f"the {MAX_MIN_COUNT:,} allowed"
            )
            raise DefinitionError(msg)
        object.__setattr__(self, "where", _check_where(self.where))

    @property
    def event_names(self) -> frozenset[str]:
        """The event names this condition reads."""
        return frozenset(self.events)

    def evidence(self) -> pl.Expr:
        """Return the expression true for events that count as evidence."""
        out = pl.col(EVENT).is_in(list(self.events))
        for flt in self.where:
            out = out & flt.expr()
        return out.fill_null(False)

    def describe(self) -> str:
        """Return the condition in words."""
        text = _join_or(self.events)
        if self.min_count > 1:
            text = f"{self.min_count} × {text}"
        if self.where:
            text += " where " + " and ".join(str(f) for f in self.where)
        return text


@dataclass(frozen=True)
class PointsRule:
    """Evidence by score: event points add up (optionally decaying) to a threshold.

    The score at an instant is the sum of ``points[event]`` over the
    contact's scoring events up to that instant, each multiplied by
    ``0.5 ** (age / half_life)`` when ``half_life`` is set.  The stage is
    reached at the first event where the score is at least ``threshold``.

    Parameters
    ----------
    points
        Event name to points (positive numbers).
    threshold
        The score that reaches the stage (positive).
    half_life
        Optional: the time after which an event's points count half.
    where
        Property filters the scoring events must all satisfy.

    Examples
    --------
    >>> rule = PointsRule({"page_view": 1, "like": 2}, threshold=3)
    >>> rule.describe()
    'score ≥ 3 (page_view 1, like 2)'
    """

    points: Mapping[str, float]
    threshold: float
    half_life: timedelta | None = None
    where: tuple[Filter, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.points, Mapping) or not self.points:
            msg = "key 'points': the rule is empty; give points per event, e.g. { like = 2 }"
            raise DefinitionError(msg)
        _check_count(self.points, MAX_EVENTS, "points", "events", "a condition")
        points: dict[str, float] = {}
        for name, value in self.points.items():
            if not isinstance(name, str) or not name.strip():
                msg = f"key 'points': {_shown(name)} is not an event name"
                raise DefinitionError(msg)
            _check_length(name, MAX_NAME_LENGTH, "points")
            points[name] = _check_number(value, f"points.{name}")
        object.__setattr__(self, "points", _frozen_map(points))
        object.__setattr__(self, "threshold", _check_number(self.threshold, "threshold"))
        if self.half_life is not None:
            _check_duration(self.half_life, "half_life")
        object.__setattr__(self, "where", _check_where(self.where))

    def __hash__(self) -> int:
        return hash((tuple(self.points.items()), self.threshold, self.half_life, self.where))

    def __reduce__(self) -> tuple[type[PointsRule], tuple[Any, ...]]:
        return (PointsRule, (dict(self.points), self.threshold, self.half_life, self.where))

    @property
    def event_names(self) -> frozenset[str]:
        """The event names this condition reads."""
        return frozenset(self.points)

    def evidence(self) -> pl.Expr:
        """Return the expression true for events that score points."""
        out = pl.col(EVENT).is_in(list(self.points))
        for flt in self.where:
            out = out & flt.expr()
        return out.fill_null(False)

    def describe(self) -> str:
        """Return the condition in words."""
        pts = ", ".join(f"{name} {_number(value)}" for name, value in self.points.items())
        if self.half_life is not None:
            pts += f"; half-life {duration_text(self.half_life)}"
        text = f"score ≥ {_number(self.threshold)} ({pts})"
        if self.where:
            text += " where " + " and ".join(str(f) for f in self.where)
        return text


Condition: TypeAlias = EventRule | PointsRule


@dataclass(frozen=True)
class Lapse:
    """An inactivity rule: after ``after`` without activity, the stage becomes ``to``."""

    after: timedelta
    to: str

    def __post_init__(self) -> None:
        _check_duration(self.after, "lapse_after")
        if not isinstance(self.to, str) or not self.to:
            msg = f"key 'lapse_to': expected a stage id, got {self.to!r}"
            raise DefinitionError(msg)


# --- stages and funnels ----------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One stage of a funnel.

    Parameters
    ----------
    id
        Lower case letters, digits and ``_``; it names the ``<id>_at`` column.
    labels
        Language code to label, e.g. ``{"en": "Warm lead", "fr": "Lead chaud"}``.
    conditions
        Alternative conditions (any one is enough).  Empty for the entry
        (first) stage, and only there.
    lapse
        Optional inactivity rule.
    description
        Free text.

    Examples
    --------
    >>> stage = Stage("lead", {"en": "Lead"}, (EventRule(("form_fill",)),))
    >>> stage.describe()
    'form_fill'
    """

    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()
    lapse: Lapse | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.id, str):
            _check_length(self.id, MAX_NAME_LENGTH, "id")
        if not isinstance(self.id, str) or not _ID.match(self.id):
            msg = (
                f"key 'id': {_shown(self.id)} is not a stage id; use lower case letters, "
                f"digits and '_', starting with a letter (e.g. 'warm_lead')"
            )
            raise DefinitionError(msg)
        if self.id in _RESERVED_IDS:
            msg = f"key 'id': {self.id!r} cannot be a stage id: {_RESERVED_IDS[self.id]}"
            raise DefinitionError(msg)
        if not isinstance(self.labels, Mapping):
            msg = (
                f"key 'labels': expected a table such as {{ en = 'Lead' }}, "
                f"got {_shown(self.labels)}"
            )
            raise DefinitionError(msg)
        _check_count(self.labels, MAX_EVENTS, "labels", "labels", "a stage")
        for lang, label in self.labels.items():
            if not isinstance(lang, str) or not _LANG.match(lang):
                msg = f"key 'labels': {_shown(lang)} is not a language code such as 'en' or 'fr'"
                raise DefinitionError(msg)
            if not isinstance(label, str) or not label.strip():
                msg = f"key 'labels.{lang}': expected a non-empty label, got {_shown(label)}"
                raise DefinitionError(msg)
            _check_length(label, MAX_NAME_LENGTH, f"labels.{lang}")
        object.__setattr__(self, "labels", _frozen_map(self.labels))
        conditions: object = self.conditions
        if isinstance(conditions, EventRule | PointsRule):
            conditions = (conditions,)
        if not isinstance(conditions, tuple | list) or not all(
            isinstance(c, EventRule | PointsRule) for c in conditions
        ):
            msg = (
                f"key 'when': expected EventRule or PointsRule conditions, got {_shown(conditions)}"
            )
            raise DefinitionError(msg)
        _check_count(conditions, MAX_CONDITIONS, "when", "conditions", "a stage")
        object.__setattr__(self, "conditions", tuple(conditions))
        if self.lapse is not None and not isinstance(self.lapse, Lapse):
            msg = f"key 'lapse_after': expected a Lapse, got {self.lapse!r}"
            raise DefinitionError(msg)
        if not isinstance(self.description, str):
            msg = f"key 'description': expected text, got {_shown(self.description)}"
            raise DefinitionError(msg)
        _check_length(self.description, MAX_TEXT_LENGTH, "description")

    def __hash__(self) -> int:
        labels = tuple(self.labels.items())
        return hash((self.id, labels, self.conditions, self.lapse, self.description))

    def __reduce__(self) -> tuple[type[Stage], tuple[Any, ...]]:
        args = (self.id, dict(self.labels), self.conditions, self.lapse, self.description)
        return (Stage, args)

    @property
    def is_entry(self) -> bool:
        """Whether this is an entry stage (no rule: any event puts a contact there)."""
        return not self.conditions

    @property
    def event_names(self) -> frozenset[str]:
        """The event names the stage's rule reads."""
        return frozenset().union(*(c.event_names for c in self.conditions))

    def label(self, lang: str = "en") -> str:
        """Return the label in ``lang``, else the English one, else a label made from the id."""
        for key in (lang, "en"):
            if key in self.labels:
                return self.labels[key]
        return self.id.replace("_", " ").capitalize()

    def evidence(self) -> pl.Expr:
        """Return the boolean expression true for events that count as evidence.

        It reads the canonical events frame: an event is evidence when one of
        the stage's conditions lists its name and its property filters hold
        (``min_count`` and thresholds are not part of it).  For the entry
        stage, every event is evidence.

        Examples
        --------
        >>> import polars as pl
        >>> events = pl.DataFrame({"event": ["purchase", "purchase"], "amount": [0.0, 9.5]})
        >>> stage = load_funnel("sales").stage("client")
        >>> events.select(stage.evidence())["evidence"].to_list()
        [False, True]
        """
        if not self.conditions:
            return pl.lit(True).alias("evidence")
        return pl.any_horizontal([c.evidence() for c in self.conditions]).alias("evidence")

    def describe(self) -> str:
        """Return the stage's rule in words."""
        if not self.conditions:
            text = "any event (entry stage)"
        else:
            text = "; or ".join(c.describe() for c in self.conditions)
        if self.lapse is not None:
            text += f"; back to {self.lapse.to} after {duration_text(self.lapse.after)} inactive"
        return text


def _not_numbers(count: int) -> str:
    return (
        "1 of its values is not a number"
        if count == 1
        else (f"{count:,} of its values are not numbers")
    )


def read_numbers(events: pl.LazyFrame, filters: Iterable[Filter], owner: str) -> pl.LazyFrame:
    """Turn the text columns that ``filters`` compare with numbers into numbers.

    See :meth:`Funnel.read_numbers`; ``owner`` names who reads them in the
    error (``"funnel 'inbound'"``, ``"stage 'client'"``).
    """
    schema = events.collect_schema()
    filters = list(filters)
    # A column another filter compares with text stays text: check_columns then
    # names the numeric filter and the column's real type.
    as_text = {flt.column for flt in filters if not _numbers_only(flt.value)}
    columns = sorted(
        {
            flt.column
            for flt in filters
            if schema.get(flt.column) == pl.String and flt.column not in as_text
        }
    )
    if not columns:
        return events
    number = {c: pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in columns}
    for column in columns:
        bad = (pl.col(column).str.strip_chars().str.len_chars() > 0) & number[column].is_null()
        shown = (
            events.filter(bad)
            .select("contact_id", "occurred_at", pl.col(column))
            .head(3)
            .collect(engine="streaming")
        )
        if shown.is_empty():
            continue
        count = events.filter(bad).select(pl.len()).collect(engine="streaming").item()
        examples = "; ".join(
            f"{value!r} (contact {cid}, {moment:%Y-%m-%d %H:%M})"
            for cid, moment, value in shown.iter_rows()
        )
        msg = (
            f"{owner} compares column {column!r} with numbers, but {_not_numbers(count)}: "
            f"{examples}. Clean them in the export (decimals with a point, "
            "no thousands separator, unknown amounts left empty) and read the events again."
        )
        raise DataError(msg)
    # 'NaN' is how some exports write an unknown amount: read it as one (null), since
    # a NaN would pass 'amount > 0'.
    return events.with_columns(number[c].fill_nan(None).alias(c) for c in columns)


def _numbers_only(value: FilterValue) -> bool:
    """Tell whether a filter ``value`` is a number or a list of numbers (not booleans)."""
    values = value if isinstance(value, tuple) else (value,)
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _compatible(dtype: pl.DataType, value: object) -> bool:
    """Tell whether a column of ``dtype`` can be compared with a filter ``value``."""
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if dtype.is_numeric() and (isinstance(item, str) or not isinstance(item, int | float)):
            return False
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            if not isinstance(item, str):
                return False
        if dtype == pl.Boolean and not isinstance(item, bool):
            return False
        if dtype.is_temporal() and not isinstance(item, date):
            return False
    return True


@dataclass(frozen=True)
class Funnel:
    """An ordered funnel definition.

    Parameters
    ----------
    name
        The definition's name (shown on every table that uses it).
    stages
        The stages, first (entry) stage first.
    description
        Free text; for presets, which school of thought it follows.
    source
        Where the definition was read from (used in error messages; not
        part of equality).

    Examples
    --------
    >>> funnel = Funnel(
    ...     "tiny",
    ...     (Stage("contact"), Stage("client", conditions=(EventRule(("purchase",)),))),
    ... )
    >>> funnel.rank("client")
    2
    """

    name: str
    stages: tuple[Stage, ...]
    description: str = ""
    source: str = field(default="<funnel>", compare=False)

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.name, str) or not self.name.strip():
            msg = f"{where}: key 'name': expected a non-empty name, got {_shown(self.name)}"
            raise DefinitionError(msg)
        if not isinstance(self.description, str):
            msg = f"{where}: key 'description': expected text, got {_shown(self.description)}"
            raise DefinitionError(msg)
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if len(stages) < 2:
            msg = f"{where}: key 'stages': a funnel needs at least two stages, got {len(stages)}"
            raise DefinitionError(msg)
        try:
            _check_length(self.name, MAX_NAME_LENGTH, "name")
            _check_length(self.description, MAX_TEXT_LENGTH, "description")
            _check_count(stages, MAX_STAGES, "stages", "stages", "a definition")
            conditions = [c for s in stages if isinstance(s, Stage) for c in s.conditions]
            what, owner = "conditions in all", "a definition"
            _check_count(conditions, MAX_TOTAL_CONDITIONS, "when", what, owner)
            lapsing = [s for s in stages if isinstance(s, Stage) and s.lapse is not None]
            _check_count(lapsing, MAX_LAPSES, "lapse_after", "stages lapse", owner)
        except DefinitionError as exc:
            msg = f"{where}: {exc}"
            raise DefinitionError(msg) from None
        seen: dict[str, int] = {}
        for rank, stage in enumerate(stages, start=1):
            if not isinstance(stage, Stage):
                msg = f"{where}: stage #{rank}: expected a Stage, got {stage!r}"
                raise DefinitionError(msg)
            at = f"{where}: stage {stage.id!r} (#{rank})"
            if stage.id in seen:
                msg = f"{at}: key 'id': duplicate stage id (stage #{seen[stage.id]} has it too)"
                raise DefinitionError(msg)
            seen[stage.id] = rank
            if rank == 1 and stage.conditions:
                msg = (
                    f"{at}: key 'events': the first stage is the entry stage and takes no "
                    f"rule (every known contact is there); remove the rule, or add an "
                    f"entry stage before this one"
                )
                raise DefinitionError(msg)
            if rank == 1 and stage.lapse is not None:
                msg = f"{at}: key 'lapse_after': the entry stage cannot lapse"
                raise DefinitionError(msg)
            if rank > 1 and not stage.conditions:
                msg = (
                    f"{at}: key 'events': the rule is empty; give 'events', 'points' or 'when' "
                    f"(only the first stage has no rule)"
                )
                raise DefinitionError(msg)
            if stage.lapse is not None and (
                stage.lapse.to == stage.id or stage.lapse.to not in seen
            ):
                earlier = [s.id for s in stages[: rank - 1]]
                hint = did_you_mean(stage.lapse.to, earlier)
                msg = (
                    f"{at}: key 'lapse_to': {stage.lapse.to!r} is not an earlier stage "
                    f"(one of {', '.join(earlier)}).{hint}"
                )
                raise DefinitionError(msg)

    @property
    def stage_ids(self) -> tuple[str, ...]:
        """The stage ids, first stage first."""
        return tuple(stage.id for stage in self.stages)

    @property
    def event_names(self) -> frozenset[str]:
        """Every event name the definition's rules read (its known events)."""
        return frozenset().union(*(s.event_names for s in self.stages))

    def stage(self, stage_id: str) -> Stage:
        """Return the stage ``stage_id``."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        hint = did_you_mean(stage_id, self.stage_ids)
        msg = f"funnel {self.name!r} has no stage {stage_id!r}.{hint}"
        raise DefinitionError(msg)

    def rank(self, stage_id: str) -> int:
        """Return the rank of ``stage_id`` (1 = first stage)."""
        return self.stage_ids.index(self.stage(stage_id).id) + 1

    @property
    def title(self) -> str:
        """``funnel 'name'``, with the file it was read from unless it is a preset.

        A copy of a preset edited by hand keeps the preset's ``name``; naming
        the file tells which one an error is about.

        Examples
        --------
        >>> load_funnel("inbound").title
        "funnel 'inbound'"
        """
        text = f"funnel {self.name!r}"
        if self.source in ("<funnel>", "<string>"):
            return text
        # A file 'inbound.toml' of the working directory has the preset's source text:
        # it is the preset only if it says the same.
        if (
            self.source == f"{self.name}.toml"
            and self.name in list_presets()
            and self == _preset(self.name)
        ):
            return text
        return f"{text} ({self.source})"

    def check_columns(self, schema: Mapping[str, pl.DataType]) -> None:
        """Fail early, naming the stage, when a filter reads a missing or mistyped column.

        Parameters
        ----------
        schema
            Column names and types of the events the definition will read.

        Raises
        ------
        MissingColumnError
            A property filter reads a column the events do not have.
        DefinitionError
            A filter compares a column with a value of another kind (text with a
            number...).
        """
        for stage in self.stages:
            for cond in stage.conditions:
                for flt in cond.where:
                    at = f"{self.title}, stage {stage.id!r}: key 'where' ({flt})"
                    if flt.column not in schema:
                        hint = did_you_mean(flt.column, list(schema))
                        msg = f"{at}: the events have no column {flt.column!r}.{hint}"
                        raise MissingColumnError(msg)
                    dtype = schema[flt.column]
                    if not _compatible(dtype, flt.value):
                        msg = (
                            f"{at}: column {flt.column!r} holds {dtype}, "
                            f"which cannot compare with {flt.value!r}"
                        )
                        raise DefinitionError(msg)

    def read_numbers(self, events: pl.LazyFrame) -> pl.LazyFrame:
        """Return ``events`` with the text columns its numeric filters read as numbers.

        A CSV column that is empty, or written with quotes, is read as text;
        ``amount > 0`` could not compare it.  Each such column is turned into
        ``Float64`` (blanks and ``NaN`` become null, which never satisfies a
        filter; a filter on booleans does not make a column numbers), after
        one pass that checks every non-blank value is a number: if some are
        not (``n/a``, a thousands separator), nothing is computed and the
        error names the column, how many values and the first ones with their
        contact and time.  Columns that are not text are left alone, so
        :meth:`check_columns` still refuses, say, a date compared with 0.

        Raises
        ------
        DataError
            Some values of such a column are not numbers.
        """
        filters = [f for stage in self.stages for c in stage.conditions for f in c.where]
        return read_numbers(events, filters, self.title)

    def to_toml(self) -> str:
        """Return the definition as TOML text that :meth:`from_toml` reads back equal."""
        return _dump(self)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> Funnel:
        """Read a definition from TOML text; ``source`` names it in error messages.

        Examples
        --------
        >>> text = '''
        ... name = "tiny"
        ... [[stages]]
        ... id = "contact"
        ... [[stages]]
        ... id = "client"
        ... events = ["purchase"]
        ... '''
        >>> Funnel.from_toml(text).stage_ids
        ('contact', 'client')
        """
        if len(text) > MAX_FILE_BYTES:
            msg = (
                f"{source}: {len(text):,} characters, more than the {MAX_FILE_BYTES:,} "
                f"({MAX_FILE_BYTES // 1024} KiB) a funnel definition may have"
            )
            raise DefinitionError(msg)
        _check_nesting(text, source)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            msg = f"{source}: not valid TOML: {exc}"
            raise DefinitionError(msg) from None
        except ValueError:  # Python reads whole numbers of at most 4,300 digits
            msg = f"{source}: not valid TOML: a number has more than 4,300 digits"
            raise DefinitionError(msg) from None
        except (RecursionError, MemoryError):  # a last resort: _check_nesting bounds both
            msg = f"{source}: not a funnel definition: too deeply nested or too large to read"
            raise DefinitionError(msg) from None
        return _parse(data, source)

    def _repr_html_(self) -> str:
        from funnelkit.markup import format_html, join_html

        rows = join_html(
            format_html(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                rank,
                s.id,
                s.label("en"),
                s.label("fr"),
                s.describe(),
            )
            for rank, s in enumerate(self.stages, start=1)
        )
        return format_html(
            "<div><p><strong>Funnel {}</strong>: {}</p><table><thead><tr><th>rank</th>"
            "<th>id</th><th>en</th><th>fr</th><th>rule</th></tr></thead><tbody>{}</tbody>"
            "</table></div>",
            self.name,
            self.description,
            rows,
        )


def lapse_chains(funnel: Funnel) -> dict[int, tuple[int, ...]]:
    """Return, per stage a lapsing contact may stop at, the ranks that pass through it.

    A contact whose current stage lapses goes to its ``lapse_to``, and on
    down the chain while its idle time reaches each ``lapse_after``.  The
    keys are the ranks of the stages that lapse or are lapsed to; each value
    holds the ranks whose chain goes through that stage, the stage included.

    Examples
    --------
    >>> lapse_chains(load_funnel("inbound"))
    {3: (3,), 2: (3,)}
    """
    chains: dict[int, list[int]] = {}
    for start, stage in enumerate(funnel.stages, start=1):
        rank, lapse = start, stage.lapse
        if lapse is None:
            continue
        while lapse is not None:
            chains.setdefault(rank, []).append(start)
            rank = funnel.rank(lapse.to)
            lapse = funnel.stages[rank - 1].lapse
        chains.setdefault(rank, []).append(start)
    return {rank: tuple(starts) for rank, starts in chains.items()}


# --- parsing -----------------------------------------------------------------------
# The nesting pre-scan reads the TOML structure only: strings and comments are
# skipped whole, then each of . = , { } [ ] and newline is one step.  Each
# character is read a bounded number of times, so it is linear in the text.
_TOKEN = re.compile(r"\"\"\"|'''|[\"'#.=,{}\[\]\n]")
_STRING_REST = {
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""(?:""?)?', re.DOTALL),
    "'''": re.compile(r"(?:[^']|'(?!''))*'''(?:''?)?"),
}


def _check_nesting(text: str, source: str) -> None:
    """Refuse TOML nested deeper than :data:`MAX_NESTING`, before it is parsed.

    A key ``a.b.c`` is three levels, a header ``[a.b]`` two, each inline
    table or array one more; they add up.  The scan stops where ``tomllib``
    would stop with an error anyway (an unclosed string, a line break inside
    a header or an inline table).
    """
    # One frame per open container: its kind, its depth, the dots of the key
    # being read and whether a key (not a value) is being read.
    kinds, depths, dots, in_key = ["document"], [0], [0], [True]
    pos = 0
    while (match := _TOKEN.search(text, pos)) is not None:
        token, pos = match.group(), match.end()
        if token in _STRING_REST:
            end = _STRING_REST[token].match(text, pos)
            if end is None:
                return
            pos = end.end()
            continue
        if token == "#":
            pos = text.find("\n", pos)
            if pos < 0:
                return
            continue
        kind = kinds[-1]
        depth = 0
        if token == "." and in_key[-1]:
            dots[-1] += 1
            depth = depths[-1] + dots[-1]
        elif token == "=" and kind in ("document", "table"):
            in_key[-1] = False
        elif token == "," and kind == "table":
            in_key[-1], dots[-1] = True, 0
        elif token == "\n":
            if kind in ("header", "table"):
                return
            if kind == "document":
                in_key[-1], dots[-1] = True, 0
        elif token == "[" and kind == "document" and in_key[-1]:
            kinds.append("header")
            depths.append(0)
            dots.append(0)
            in_key.append(True)
        elif token == "[" and kind == "header":
            continue
        elif token in "[{":
            depth = depths[-1] + 1 if kind == "array" else depths[-1] + dots[-1] + 1
            kinds.append("array" if token == "[" else "table")
            depths.append(depth)
            dots.append(0)
            in_key.append(token == "{")
        elif token == "]" and kind == "header":
            header = dots[-1] + 1
            del kinds[-1], depths[-1], dots[-1], in_key[-1]
            depths[-1], dots[-1], in_key[-1] = header, 0, True
        elif (token == "]" and kind == "array") or (token == "}" and kind == "table"):
            del kinds[-1], depths[-1], dots[-1], in_key[-1]
        if depth > MAX_NESTING:
            line = text.count("\n", 0, match.start()) + 1
            msg = (
                f"{source}: line {line}: nested more than {MAX_NESTING} levels deep "
                f"(dotted keys, [table.headers], inline tables and arrays together); "
                f"a funnel definition needs 5 at most"
            )
            raise DefinitionError(msg)


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], what: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            msg = (
                f"{where}: key {_shown(key)} is not a {what} key.{hint} "
                f"({what} keys: {', '.join(allowed)})"
            )
            raise DefinitionError(msg)


def _duration(value: object, key: str) -> timedelta:
    if isinstance(value, str):
        try:
            return _check_duration(parse_duration(value, name=f"key {key!r}"), key)
        except ParameterError as exc:
            raise DefinitionError(str(exc)) from None
    msg = (
        f"key {key!r}: {_shown(value)} is not a duration; write a whole number and a unit "
        f"in a string: '90m', '12h', '3d', '2w'"
    )
    raise DefinitionError(msg)


def _parse_filters(value: object) -> tuple[Filter, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        msg = "key 'where': the filter list is empty; remove 'where' or add a filter"
        raise DefinitionError(msg)
    _check_count(items, MAX_FILTERS, "where", "filters", "a condition")
    out: list[Filter] = []
    for item in items:
        try:
            if isinstance(item, str):
                out.append(Filter.parse(item))
            elif isinstance(item, dict):
                _check_keys(item, _FILTER_KEYS, "filter", "key 'where'")
                missing = [k for k in _FILTER_KEYS if k not in item]
                if missing:
                    msg = f"the filter table has no {', '.join(missing)}"
                    raise DefinitionError(msg)
                out.append(Filter(item["column"], item["op"], item["value"]))
            else:
                msg = f"{_shown(item)} is not a filter; write e.g. 'amount > 0'"
                raise DefinitionError(msg)
        except DefinitionError as exc:
            text = str(exc)
            msg = text if text.startswith("key 'where'") else f"key 'where': {text}"
            raise DefinitionError(msg) from None
    return tuple(out)


def _parse_condition(table: Mapping[str, Any]) -> Condition:
    has_events = "events" in table
    has_points = "points" in table
    if has_events and has_points:
        msg = (
            "key 'points': a condition has either 'events' or 'points', not both; "
            "use 'when' for alternatives"
        )
        raise DefinitionError(msg)
    where = _parse_filters(table["where"]) if "where" in table else ()
    if has_points:
        for key in ("min_count",):
            if key in table:
                msg = f"key {key!r}: not allowed with 'points' (use it with 'events')"
                raise DefinitionError(msg)
        if "threshold" not in table:
            msg = (
                "key 'threshold': missing; a points condition needs a threshold, e.g. threshold = 3"
            )
            raise DefinitionError(msg)
        half_life = table.get("half_life")
        points = table["points"]
        if not isinstance(points, dict):
            msg = f"key 'points': expected a table such as {{ like = 2 }}, got {_shown(points)}"
            raise DefinitionError(msg)
        return PointsRule(
            points,
            table["threshold"],
            None if half_life is None else _duration(half_life, "half_life"),
            where,
        )
    for key in ("threshold", "half_life"):
        if key in table:
            msg = f"key {key!r}: only a points condition has it; add 'points' or remove it"
            raise DefinitionError(msg)
    if not has_events:
        msg = "key 'events': the rule is empty; give 'events' (or 'points' with a 'threshold')"
        raise DefinitionError(msg)
    return EventRule(_check_events(table["events"]), table.get("min_count", 1), where)


def _parse_stage(table: object, rank: int, source: str) -> Stage:
    if not isinstance(table, dict):
        msg = f"{source}: stage #{rank}: expected a [[stages]] table, got {_shown(table)}"
        raise DefinitionError(msg)
    sid = table.get("id")
    at = (
        f"{source}: stage {_shown(sid)} (#{rank})"
        if isinstance(sid, str)
        else f"{source}: stage #{rank}"
    )
    _check_keys(table, _STAGE_KEYS, "stage", at)
    if "id" not in table:
        msg = f"{at}: key 'id': missing; every stage needs an id such as 'warm_lead'"
        raise DefinitionError(msg)
    try:
        inline = {k: table[k] for k in _RULE_KEYS if k in table}
        conditions: list[Condition] = []
        if "when" in table:
            if inline:
                key = next(iter(inline))
                msg = f"key {key!r}: a stage with 'when' keeps its rules inside 'when'"
                raise DefinitionError(msg)
            items = table["when"]
            if not isinstance(items, list) or not items:
                msg = "key 'when': the rule is empty; add [[stages.when]] conditions"
                raise DefinitionError(msg)
            _check_count(items, MAX_CONDITIONS, "when", "conditions", "a stage")
            for index, item in enumerate(items, start=1):
                if not isinstance(item, dict):
                    msg = f"key 'when': condition {index} is not a table"
                    raise DefinitionError(msg)
                try:
                    _check_keys(item, _RULE_KEYS, "condition", f"when[{index}]")
                    conditions.append(_parse_condition(item))
                except DefinitionError as exc:
                    text = str(exc)
                    msg = text if text.startswith("when[") else f"when[{index}]: {text}"
                    raise DefinitionError(msg) from None
        elif inline:
            conditions.append(_parse_condition(inline))
        lapse = None
        if "lapse_after" in table or "lapse_to" in table:
            if "lapse_to" not in table:
                msg = "key 'lapse_to': missing; 'lapse_after' needs the stage to lapse to"
                raise DefinitionError(msg)
            if "lapse_after" not in table:
                msg = "key 'lapse_after': missing; 'lapse_to' needs a duration such as '90d'"
                raise DefinitionError(msg)
            lapse = Lapse(_duration(table["lapse_after"], "lapse_after"), table["lapse_to"])
        return Stage(
            table["id"],
            table.get("labels", {}),
            tuple(conditions),
            lapse,
            table.get("description", ""),
        )
    except DefinitionError as exc:
        msg = f"{at}: {exc}"
        raise DefinitionError(msg) from None


def _parse(data: Mapping[str, Any], source: str) -> Funnel:
    _check_keys(data, _FUNNEL_KEYS, "funnel", source)
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        msg = f"{source}: key 'stages': missing; add [[stages]] tables, first stage first"
        raise DefinitionError(msg)
    try:
        _check_count(stages, MAX_STAGES, "stages", "stages", "a definition")
        lapsing = [t for t in stages if isinstance(t, dict) and "lapse_after" in t]
        _check_count(lapsing, MAX_LAPSES, "lapse_after", "stages lapse", "a definition")
    except DefinitionError as exc:
        msg = f"{source}: {exc}"
        raise DefinitionError(msg) from None
    name = data.get("name", Path(source).stem if source.endswith(".toml") else None)
    return Funnel(
        name,
        tuple(_parse_stage(table, rank, source) for rank, table in enumerate(stages, start=1)),
        data.get("description", ""),
        source,
    )


# --- writing -----------------------------------------------------------------------
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    """Write ``text`` as a TOML basic string, escaping what TOML does not allow raw."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else _toml_string(key)


def _toml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str):
        return _toml_string(value)
    msg = f"cannot write {value!r} as TOML"
    raise DefinitionError(msg)


def _inline_table(items: Iterable[tuple[str, object]]) -> str:
    return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_scalar(v)}" for k, v in items) + " }"


def _dump_where(where: tuple[Filter, ...]) -> str:
    parts = []
    for flt in where:
        if _COLUMN.match(flt.column):
            parts.append(_toml_string(str(flt)))
        else:
            value = (
                "[" + ", ".join(_toml_scalar(v) for v in flt.value) + "]"
                if isinstance(flt.value, tuple)
                else _toml_scalar(flt.value)
            )
            column, op = _toml_scalar(flt.column), _toml_scalar(flt.op)
            parts.append(f"{{ column = {column}, op = {op}, value = {value} }}")
    return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"


def _dump_condition(cond: Condition) -> list[str]:
    lines = []
    if isinstance(cond, EventRule):
        lines.append("events = [" + ", ".join(_toml_scalar(e) for e in cond.events) + "]")
        if cond.min_count != 1:
            lines.append(f"min_count = {cond.min_count}")
    else:
        lines.append(f"points = {_inline_table(cond.points.items())}")
        lines.append(f"threshold = {_number(cond.threshold)}")
        if cond.half_life is not None:
            lines.append(f"half_life = {_toml_scalar(duration_text(cond.half_life))}")
    if cond.where:
        lines.append(f"where = {_dump_where(cond.where)}")
    return lines


def _dump(funnel: Funnel) -> str:
    lines = [
        f"name = {_toml_scalar(funnel.name)}",
        f"description = {_toml_scalar(funnel.description)}",
    ]
    for stage in funnel.stages:
        lines += ["", "[[stages]]", f"id = {_toml_scalar(stage.id)}"]
        if stage.labels:
            lines.append(f"labels = {_inline_table(stage.labels.items())}")
        if stage.description:
            lines.append(f"description = {_toml_scalar(stage.description)}")
        if stage.lapse is not None:
            lines.append(f"lapse_after = {_toml_scalar(duration_text(stage.lapse.after))}")
            lines.append(f"lapse_to = {_toml_scalar(stage.lapse.to)}")
        if len(stage.conditions) == 1:
            lines += _dump_condition(stage.conditions[0])
        else:
            for cond in stage.conditions:
                lines += ["[[stages.when]]", *_dump_condition(cond)]
    return "\n".join(lines) + "\n"


# --- files and presets -------------------------------------------------------------
def list_presets() -> tuple[str, ...]:
    """Return the names of the funnel definitions shipped with funnelkit.

    Examples
    --------
    >>> list_presets()
    ('inbound', 'sales')
    """
    folder = resources.files("funnelkit").joinpath(_PRESETS)
    return tuple(
        sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))
    )


@functools.cache
def _preset(name: str) -> Funnel:
    """Return the preset ``name`` as shipped (read once)."""
    text = resources.files("funnelkit").joinpath(_PRESETS, f"{name}.toml").read_text("utf-8")
    return Funnel.from_toml(text, source=f"{name}.toml")


def _looks_like_path(name: str) -> bool:
    return name.endswith(".toml") or os.sep in name or "/" in name


def load_funnel(name_or_path: str | os.PathLike[str]) -> Funnel:
    """Load a preset by name (see :func:`list_presets`) or a definition file by path.

    Raises
    ------
    DefinitionError
        The name is neither a preset nor a file, the path is not a regular
        file, or the file is malformed or beyond a limit such as
        :data:`MAX_FILE_BYTES` or :data:`MAX_STAGES` (see "Limits" in
        :mod:`funnelkit.definitions`; the message names the file, the
        stage, the key and the limit).

    Examples
    --------
    >>> load_funnel("sales").stage_ids
    ('raw_contact', 'lead', 'prospect', 'qualified_prospect', 'client')
    """
    if isinstance(name_or_path, str) and not _looks_like_path(name_or_path):
        presets = list_presets()
        if name_or_path in presets:
            preset = resources.files("funnelkit").joinpath(_PRESETS, f"{name_or_path}.toml")
            return Funnel.from_toml(
                preset.read_text(encoding="utf-8"), source=f"{name_or_path}.toml"
            )
        if not Path(name_or_path).is_file():
            hint = did_you_mean(name_or_path, presets)
            msg = (
                f"no funnel preset {name_or_path!r} (presets: {', '.join(presets)}).{hint} "
                f"To use your own definition, give the path of its .toml file."
            )
            raise DefinitionError(msg)
    path = Path(name_or_path)
    return Funnel.from_toml(_read_definition(path), source=str(path))


def _read_definition(path: Path) -> str:
    """Return the text of the definition file ``path``, reading at most the size limit.

    Only a regular file is read: a device (``/dev/zero``), a pipe or a folder
    is refused without reading, so reading always ends, and soon.
    """
    # O_NONBLOCK: opening a pipe with no writer returns at once instead of waiting.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        msg = f"{path}: no such funnel definition file"
        raise DefinitionError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read the funnel definition: {exc.strerror}"
        raise DefinitionError(msg) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            msg = (
                f"{path}: not a regular file ({kind}); a funnel definition is a "
                f".toml file of at most {MAX_FILE_BYTES // 1024} KiB"
            )
            raise DefinitionError(msg)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"{path}: cannot read the funnel definition: {exc.strerror}"
        raise DefinitionError(msg) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        msg = (
            f"{path}: more than the {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 1024} KiB) "
            f"a funnel definition may have; the presets have a few KB: is it the right file?"
        )
        raise DefinitionError(msg)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        msg = f"{path}: the funnel definition is in UTF-16; TOML is UTF-8: save it as UTF-8"
        raise DefinitionError(msg)
    try:
        # a UTF-8 byte order mark (Windows editors write one) is no TOML statement
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        msg = f"{path}: cannot read the funnel definition: {exc}"
        raise DefinitionError(msg) from None


def save_funnel(funnel: Funnel, path: str | os.PathLike[str]) -> Path:
    """Write ``funnel`` as a TOML definition file (atomically) and return its path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "mine.toml"
    >>> load_funnel(save_funnel(load_funnel("inbound"), out)) == load_funnel("inbound")
    True
    """
    target = Path(path)
    text = "# funnelkit funnel definition; see funnelkit.definitions for the format.\n"
    text += funnel.to_toml()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
