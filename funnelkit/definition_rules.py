"""The rules of a funnel stage: property filters, conditions, inactivity, the stage itself.

Each class checks its values against the limits below when it is built, and its
error names the key that is wrong; :mod:`funnelkit.definitions` puts stages
together into a ``Funnel`` and reads and writes them as TOML (the file format and
the limits are described there).
"""

from __future__ import annotations

import functools
import math
import operator
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, overload

import narwhals as nw
import polars as pl

from funnelkit.columns import CONTACT_ID as _CONTACT_ID
from funnelkit.columns import EVENT
from funnelkit.columns import OCCURRED_AT as _OCCURRED_AT
from funnelkit.definition_files import toml_number, toml_scalar, toml_string
from funnelkit.durations import MAX_DURATION
from funnelkit.errors import DataError, DefinitionError, did_you_mean

__all__ = [
    "CORE_TIME",
    "MAX_CONDITIONS",
    "MAX_EVENTS",
    "MAX_FILTERS",
    "MAX_LAPSES",
    "MAX_MIN_COUNT",
    "MAX_NAME_LENGTH",
    "MAX_NUMBER",
    "MAX_STAGES",
    "MAX_TEXT_LENGTH",
    "MAX_TOTAL_CONDITIONS",
    "MAX_VALUES",
    "OPS",
    "Condition",
    "EventRule",
    "Filter",
    "Lapse",
    "PointsRule",
    "Stage",
    "check_count",
    "check_duration",
    "check_events",
    "check_length",
    "duration_text",
    "number_columns",
    "read_numbers",
    "read_numbers_of",
    "shown",
]

CORE_TIME = "_ts"
"""The events' time in the core's frame: ``occurred_at`` as epoch microseconds (UTC)."""

Scalar: TypeAlias = str | int | float | bool | datetime | date
FilterValue: TypeAlias = Scalar | tuple[Scalar, ...]
Op: TypeAlias = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not in"]

OPS: tuple[str, ...] = ("==", "!=", ">", ">=", "<", "<=", "in", "not in")
"""The comparison operators a property filter accepts."""

# Limits of a definition: far above what a real one needs (5-12 stages, a few
# events and filters per condition), low enough that reading, checking and
# classifying with a definition at every limit at once stays within seconds.
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
_WHERE = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?P<op>not\s+in\b|in\b|==|!=|>=|<=|>|<|=)\s*(?P<value>.*?)\s*$"
)
_RESERVED_IDS = {"last_activity": "it would clash with the 'last_activity_at' column"}


# --- limits --------------------------------------------------------------------------
def shown(value: object, width: int = 60) -> str:
    """Return ``repr(value)``, cut to ``width`` characters (one short line)."""
    try:
        text = repr(value)
    except ValueError:  # a whole number of more than 4,300 digits
        return "a whole number too long to show"
    return text if len(text) <= width else text[: width - 3] + "..."


def check_count(items: Any, limit: int, key: str, what: str, owner: str) -> None:
    """Refuse more than ``limit`` ``items``, naming the key, the count and the limit."""
    if len(items) > limit:
        msg = f"key {key!r}: {len(items):,} {what}, more than the {limit:,} {owner} may have"
        raise DefinitionError(msg)


def check_length(text: str, limit: int, key: str) -> None:
    """Refuse a string longer than ``limit`` characters, naming the key and the limit."""
    if len(text) > limit:
        msg = (
            f"key {key!r}: {shown(text, 30)} has {len(text):,} characters, "
            f"more than the {limit:,} allowed"
        )
        raise DefinitionError(msg)


# --- durations -----------------------------------------------------------------
def duration_text(value: timedelta) -> str:
    """Return a duration as a definition file writes it: one unit, days when exact.

    :func:`funnelkit.durations.parse_duration` reads it back; a saved
    definition therefore loads to an equal one.

    Parameters
    ----------
    value
        A duration.

    Returns
    -------
    str

    Examples
    --------
    >>> duration_text(timedelta(days=90))
    '90d'
    >>> duration_text(timedelta(hours=36))
    '36h'

    See the guide: docs/guides/write-a-definition.md
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, rest = divmod(int(value.total_seconds()), size)
        if not rest:
            return f"{count}{unit}"
    return f"{int(value.total_seconds())}s"


def check_duration(value: object, key: str) -> timedelta:
    """Return ``value`` if it is a positive whole number of seconds, up to 100 years."""
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
        return toml_string(value)
    return toml_scalar(value)


def _check_scalar(value: object, key: str) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"key {key!r}: {value!r} is not a usable value"
        raise DefinitionError(msg)
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        msg = (
            f"key {key!r}: {shown(value, 30)} is beyond the 64-bit whole numbers "
            f"(±9.2e18) events hold; write it as a decimal number"
        )
        raise DefinitionError(msg)
    if isinstance(value, str):
        check_length(value, MAX_TEXT_LENGTH, key)
    if isinstance(value, str | int | float | bool | datetime | date):
        return value
    msg = f"key {key!r}: {shown(value)} is not a string, number, boolean or date"
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
            msg = f"key 'column': expected a column name, got {shown(self.column)}"
            raise DefinitionError(msg)
        check_length(self.column, MAX_NAME_LENGTH, "column")
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
            check_count(value, MAX_VALUES, "value", "values", f"an {self.op!r} filter")
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
        check_length(text, MAX_TEXT_LENGTH, "where")
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
def check_events(events: object, key: str = "events") -> tuple[str, ...]:
    """Return the event names of a condition: at least one, each once, within the limits."""
    if isinstance(events, str):
        events = (events,)
    if not isinstance(events, list | tuple) or not events:
        msg = f"key {key!r}: the rule is empty; list at least one event name, e.g. ['purchase']"
        raise DefinitionError(msg)
    check_count(events, MAX_EVENTS, key, "event names", "a condition")
    seen: set[str] = set()
    for name in events:
        if not isinstance(name, str) or not name.strip():
            msg = f"key {key!r}: {shown(name)} is not an event name"
            raise DefinitionError(msg)
        check_length(name, MAX_NAME_LENGTH, key)
        if name in seen:
            msg = f"key {key!r}: event {name!r} is listed twice"
            raise DefinitionError(msg)
        seen.add(name)
    return tuple(events)


def _check_where(where: object) -> tuple[Filter, ...]:
    if isinstance(where, Filter):
        return (where,)
    if not isinstance(where, tuple | list) or not all(isinstance(f, Filter) for f in where):
        msg = f"key 'where': expected filters, got {shown(where)}"
        raise DefinitionError(msg)
    check_count(where, MAX_FILTERS, "where", "filters", "a condition")
    return tuple(where)


def _check_number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"key {key!r}: expected a number, got {shown(value)}"
        raise DefinitionError(msg)
    # Compared as they are: a whole number of 400 digits cannot become a float.
    if (isinstance(value, float) and not math.isfinite(value)) or value <= 0:
        msg = f"key {key!r}: must be a number greater than zero, got {shown(value, 30)}"
        raise DefinitionError(msg)
    if value > MAX_NUMBER:
        msg = f"key {key!r}: {shown(value, 30)} is more than the {MAX_NUMBER:,.0f} allowed"
        raise DefinitionError(msg)
    return float(value)


def _join_or(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


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
        object.__setattr__(self, "events", check_events(self.events))
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int):
            msg = f"key 'min_count': expected a whole number, got {self.min_count!r}"
            raise DefinitionError(msg)
        if self.min_count < 1:
            msg = f"key 'min_count': must be 1 or more, got {shown(self.min_count, 30)}"
            raise DefinitionError(msg)
        if self.min_count > MAX_MIN_COUNT:
            msg = (
                f"key 'min_count': {shown(self.min_count, 30)} is more than "
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
        check_count(self.points, MAX_EVENTS, "points", "events", "a condition")
        points: dict[str, float] = {}
        for name, value in self.points.items():
            if not isinstance(name, str) or not name.strip():
                msg = f"key 'points': {shown(name)} is not an event name"
                raise DefinitionError(msg)
            check_length(name, MAX_NAME_LENGTH, "points")
            points[name] = _check_number(value, f"points.{name}")
        object.__setattr__(self, "points", _frozen_map(points))
        object.__setattr__(self, "threshold", _check_number(self.threshold, "threshold"))
        if self.half_life is not None:
            check_duration(self.half_life, "half_life")
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
        pts = ", ".join(f"{name} {toml_number(value)}" for name, value in self.points.items())
        if self.half_life is not None:
            pts += f"; half-life {duration_text(self.half_life)}"
        text = f"score ≥ {toml_number(self.threshold)} ({pts})"
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
        check_duration(self.after, "lapse_after")
        if not isinstance(self.to, str) or not self.to:
            msg = f"key 'lapse_to': expected a stage id, got {self.to!r}"
            raise DefinitionError(msg)


# --- stages and funnels ----------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One stage of a funnel.

    A contact is at the deepest stage whose conditions it meets (any one of
    them), until a lapse sends it back; the first stage has no condition.
    Checked when built: every mistake is a :class:`DefinitionError`.

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

    Raises
    ------
    DefinitionError
        When the id is malformed or too long, a label or the description is
        not text or too long, or a condition or the lapse is of the wrong type.

    Examples
    --------
    >>> stage = Stage("lead", {"en": "Lead"}, (EventRule(("form_fill",)),))
    >>> stage.describe()
    'form_fill'

    See the concept page: docs/concepts/stages.md
    """

    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()
    lapse: Lapse | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.id, str):
            check_length(self.id, MAX_NAME_LENGTH, "id")
        if not isinstance(self.id, str) or not _ID.match(self.id):
            msg = (
                f"key 'id': {shown(self.id)} is not a stage id; use lower case letters, "
                f"digits and '_', starting with a letter (e.g. 'warm_lead')"
            )
            raise DefinitionError(msg)
        if self.id in _RESERVED_IDS:
            msg = f"key 'id': {self.id!r} cannot be a stage id: {_RESERVED_IDS[self.id]}"
            raise DefinitionError(msg)
        if not isinstance(self.labels, Mapping):
            msg = (
                f"key 'labels': expected a table such as {{ en = 'Lead' }}, "
                f"got {shown(self.labels)}"
            )
            raise DefinitionError(msg)
        check_count(self.labels, MAX_EVENTS, "labels", "labels", "a stage")
        for lang, label in self.labels.items():
            if not isinstance(lang, str) or not _LANG.match(lang):
                msg = f"key 'labels': {shown(lang)} is not a language code such as 'en' or 'fr'"
                raise DefinitionError(msg)
            if not isinstance(label, str) or not label.strip():
                msg = f"key 'labels.{lang}': expected a non-empty label, got {shown(label)}"
                raise DefinitionError(msg)
            check_length(label, MAX_NAME_LENGTH, f"labels.{lang}")
        object.__setattr__(self, "labels", _frozen_map(self.labels))
        conditions: object = self.conditions
        if isinstance(conditions, EventRule | PointsRule):
            conditions = (conditions,)
        if not isinstance(conditions, tuple | list) or not all(
            isinstance(c, EventRule | PointsRule) for c in conditions
        ):
            msg = (
                f"key 'when': expected EventRule or PointsRule conditions, got {shown(conditions)}"
            )
            raise DefinitionError(msg)
        check_count(conditions, MAX_CONDITIONS, "when", "conditions", "a stage")
        object.__setattr__(self, "conditions", tuple(conditions))
        if self.lapse is not None and not isinstance(self.lapse, Lapse):
            msg = f"key 'lapse_after': expected a Lapse, got {self.lapse!r}"
            raise DefinitionError(msg)
        if not isinstance(self.description, str):
            msg = f"key 'description': expected text, got {shown(self.description)}"
            raise DefinitionError(msg)
        check_length(self.description, MAX_TEXT_LENGTH, "description")

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
        >>> from funnelkit.definitions import load_funnel
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


# What every engine's cast from text to a float reads, and nothing more: digits with an
# optional sign, point and exponent, or an infinity.  Written once as a pattern (polars,
# DuckDB and Spark read it alike), so that each engine casts only text it accepts and the
# text no engine reads is refused by one rule.
_NUMBER_TEXT = r"(?i)^[+-]?(([0-9]+[.]?[0-9]*|[.][0-9]+)(e[+-]?[0-9]+)?|inf|infinity)$"
# 'NaN' is how some exports write an unknown amount: read it as one (null), since a NaN
# would pass 'amount > 0'.
_NAN_TEXT = r"(?i)^[+-]?nan$"


def number_columns(schema: Mapping[str, Any], filters: Iterable[Filter]) -> list[str]:
    """Return the text columns of ``schema`` that ``filters`` compare with numbers only.

    These are the columns :func:`read_numbers` turns into numbers.  A column
    another filter compares with text stays text (the definition's column
    check then names the numeric filter and the column's real type), and so
    does a column a filter compares with booleans.

    Parameters
    ----------
    schema
        Column names and types (polars or narwhals types).
    filters
        The filters about to be applied.

    Returns
    -------
    list of str
        Sorted column names.

    Examples
    --------
    >>> number_columns({"amount": pl.String, "plan": pl.String},
    ...                [Filter("amount", ">", 0), Filter("plan", "==", "pro")])
    ['amount']

    See the concept page: docs/concepts/stages.md
    """
    filters = list(filters)
    as_text = {flt.column for flt in filters if not _numbers_only(flt.value)}
    return sorted(
        {
            flt.column
            for flt in filters
            if _is_text(schema.get(flt.column)) and flt.column not in as_text
        }
    )


def _is_text(dtype: object) -> bool:
    return bool(dtype == pl.String) or bool(dtype == nw.String)


def _moment(value: object) -> str:
    """Return an event's time for a message: a date-time, or epoch microseconds (UTC)."""
    if isinstance(value, int):
        value = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, datetime) else str(value)


def read_numbers_of(frame: Any, filters: Iterable[Filter], owner: str, *, at: str) -> Any:
    """Return the narwhals ``frame`` with the text columns ``filters`` compare with numbers read.

    The one implementation for polars, DuckDB and Spark, so the numbers and
    the messages are the same on every engine.  Each column of
    :func:`number_columns` becomes ``Float64``: spaces around a value are
    ignored, blanks and ``NaN`` become null, and one query per column first
    checks that every other value is a number; if some are not, the error
    names the column, how many values and the first three (earliest first).

    Parameters
    ----------
    frame
        A narwhals lazy frame of events on any engine, with ``contact_id``
        and the time column ``at``.
    filters, owner
        As in :func:`read_numbers`.
    at
        The events' time column: date-times, or epoch microseconds (UTC).

    Returns
    -------
    narwhals.LazyFrame
        ``frame`` itself when no column is to be read.

    Raises
    ------
    DataError
        When such a column holds text that is not a number.

    Examples
    --------
    >>> lf = nw.from_native(pl.LazyFrame({"contact_id": ["a"], "_ts": [0], "amount": [" 7"]}))
    >>> read_numbers_of(lf, [Filter("amount", ">", 0)], "stage 'client'", at="_ts").collect(
    ...     ).to_native()["amount"].to_list()
    [7.0]

    See the concept page: docs/concepts/stages.md
    """
    columns = number_columns(frame.collect_schema(), filters)
    if not columns:
        return frame
    # polars reads the rows it checks in streaming batches, as it runs the analysis
    options = {"engine": "streaming"} if frame.implementation.is_polars() else {}
    text = {c: nw.col(c).str.strip_chars() for c in columns}
    for column in columns:
        bad = (
            (text[column].str.len_chars() > 0)
            & ~text[column].str.contains(_NUMBER_TEXT)
            & ~text[column].str.contains(_NAN_TEXT)
        )
        rows = frame.filter(bad).select(_CONTACT_ID, at, column)
        shown = rows.sort(at, _CONTACT_ID, column).head(3).collect(backend="polars", **options)
        if shown.is_empty():
            continue
        count = rows.select(nw.len()).collect(backend="polars", **options).item()
        examples = "; ".join(
            f"{value!r} (contact {cid}, {_moment(at_)})" for cid, at_, value in shown.iter_rows()
        )
        msg = (
            f"{owner} compares column {column!r} with numbers, but {_not_numbers(count)}: "
            f"{examples}. Clean them in the export (decimals with a point, "
            "no thousands separator, unknown amounts left empty) and read the events again."
        )
        raise DataError(msg)
    return frame.with_columns(
        nw.when(text[c].str.contains(_NUMBER_TEXT)).then(text[c]).cast(nw.Float64()).alias(c)
        for c in columns
    )


@overload
def read_numbers(events: pl.LazyFrame, filters: Iterable[Filter], owner: str) -> pl.LazyFrame: ...
@overload
def read_numbers(
    events: nw.LazyFrame[Any], filters: Iterable[Filter], owner: str
) -> nw.LazyFrame[Any]: ...
def read_numbers(events: Any, filters: Iterable[Filter], owner: str) -> Any:
    """Turn the text columns that ``filters`` compare with numbers into numbers.

    A CSV column of amounts may be read as text; a filter such as
    ``amount >= 100`` needs numbers.  Text that is not a number stops the
    computation with a message naming the column and the value.  This is
    :func:`read_numbers_of` (the same rule on every engine) on a polars frame
    with ``occurred_at``, or on the core's narwhals frame of any engine (time
    in ``_ts``, epoch µs).

    Parameters
    ----------
    events
        The events: a polars lazy frame, or a narwhals lazy frame.
    filters
        The filters about to be applied.
    owner
        Who reads them, for the error (``"funnel 'inbound'"``,
        ``"stage 'client'"``).

    Returns
    -------
    polars.LazyFrame or narwhals.LazyFrame
        ``events`` with those columns cast to numbers (``events`` itself when
        none is to be read).

    Raises
    ------
    DataError
        When such a column holds text that is not a number.

    Examples
    --------
    >>> lf = pl.LazyFrame({"contact_id": ["a", "b"], "occurred_at": [None, None],
    ...                    "event": ["buy", "buy"], "amount": ["12.5", "300"]})
    >>> read = read_numbers(lf, [Filter("amount", ">=", 100)], "stage 'client'")
    >>> read.collect()["amount"].to_list()
    [12.5, 300.0]

    See the concept page: docs/concepts/stages.md
    """
    filters = list(filters)
    schema = events.collect_schema()
    if not number_columns(schema, filters):
        return events
    at = _OCCURRED_AT if _OCCURRED_AT in schema.names() else CORE_TIME
    if isinstance(events, pl.LazyFrame):
        return nw.to_native(read_numbers_of(nw.from_native(events), filters, owner, at=at))
    return read_numbers_of(events, filters, owner, at=at)


def _numbers_only(value: FilterValue) -> bool:
    """Tell whether a filter ``value`` is a number or a list of numbers (not booleans)."""
    values = value if isinstance(value, tuple) else (value,)
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
