"""Funnel definitions as data: stages, their rules, TOML files and the presets.

A funnel definition says, in a file a user can read and edit, which stages a
contact goes through and which events put it in each stage.  Two presets ship
with funnelkit (``inbound`` and ``sales``, see :func:`list_presets`); a user's
own file works the same way (:func:`load_funnel` takes a preset name or a path).
Loading validates everything and explains what is wrong, naming the file, the
stage and the key; :func:`save_funnel` writes a file that loads back equal.
A file beyond the limits (:data:`MAX_FILE_BYTES`, :data:`MAX_STAGES` and the
other ``MAX_*`` constants) is refused before it is parsed.

The file format, every key with its type and its limits, is in
``docs/reference/definition-file.md`` of the documentation (``make docs``);
what stages mean, in ``docs/concepts/stages.md``.

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
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from funnelkit.definition_files import (
    MAX_FILE_BYTES,
    MAX_NESTING,
    check_nesting,
    inline_table,
    read_definition,
    toml_number,
    toml_scalar,
    toml_string,
)
from funnelkit.definition_rules import (
    CORE_TIME,
    MAX_CONDITIONS,
    MAX_EVENTS,
    MAX_FILTERS,
    MAX_LAPSES,
    MAX_MIN_COUNT,
    MAX_NAME_LENGTH,
    MAX_NUMBER,
    MAX_STAGES,
    MAX_TEXT_LENGTH,
    MAX_TOTAL_CONDITIONS,
    MAX_VALUES,
    OPS,
    Condition,
    EventRule,
    Filter,
    Lapse,
    PointsRule,
    Stage,
    check_count,
    check_duration,
    check_events,
    check_length,
    duration_text,
    number_columns,
    read_numbers,
    read_numbers_of,
    shown,
)
from funnelkit.durations import parse_duration
from funnelkit.errors import DefinitionError, MissingColumnError, ParameterError, did_you_mean

__all__ = [
    "CORE_TIME",
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
    "number_columns",
    "read_numbers",
    "read_numbers_of",
    "require_funnel",
    "save_funnel",
]

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

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

    The stages a contact goes through, first (entry) stage first; built by
    :func:`load_funnel` from a preset or a TOML file, or by hand.  Checked
    when built: every mistake is a :class:`DefinitionError`.

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

    Raises
    ------
    DefinitionError
        When the name is malformed, there is no stage or too many, two stages
        share an id, or the first stage has conditions (or another has none).

    Examples
    --------
    >>> funnel = Funnel(
    ...     "tiny",
    ...     (Stage("contact"), Stage("client", conditions=(EventRule(("purchase",)),))),
    ... )
    >>> funnel.rank("client")
    2

    See the concept page: docs/concepts/stages.md
    """

    name: str
    stages: tuple[Stage, ...]
    description: str = ""
    source: str = field(default="<funnel>", compare=False)

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.name, str) or not self.name.strip():
            msg = f"{where}: key 'name': expected a non-empty name, got {shown(self.name)}"
            raise DefinitionError(msg)
        if not isinstance(self.description, str):
            msg = f"{where}: key 'description': expected text, got {shown(self.description)}"
            raise DefinitionError(msg)
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if len(stages) < 2:
            msg = f"{where}: key 'stages': a funnel needs at least two stages, got {len(stages)}"
            raise DefinitionError(msg)
        try:
            check_length(self.name, MAX_NAME_LENGTH, "name")
            check_length(self.description, MAX_TEXT_LENGTH, "description")
            check_count(stages, MAX_STAGES, "stages", "stages", "a definition")
            conditions = [c for s in stages if isinstance(s, Stage) for c in s.conditions]
            what, owner = "conditions in all", "a definition"
            check_count(conditions, MAX_TOTAL_CONDITIONS, "when", what, owner)
            lapsing = [s for s in stages if isinstance(s, Stage) and s.lapse is not None]
            check_count(lapsing, MAX_LAPSES, "lapse_after", "stages lapse", owner)
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
    def stage_dtype(self) -> pl.Enum:
        """The type of a column of stage ids: a ``polars.Enum`` of them, in funnel order.

        Such a column sorts in funnel order and holds one small integer per
        row.  A comparison with a text that is not one of the ids is false on
        every row (no error): check a typed id with :meth:`stage` first.
        """
        return pl.Enum(self.stage_ids)

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
                        msg = (
                            f"{at}: the events have no column {flt.column!r}.{hint} Map a "
                            f"column of yours to it (columns={{'yours': {flt.column!r}}}; "
                            f"--columns yours={flt.column}), or use a definition without "
                            "that filter."
                        )
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
        check_nesting(text, source)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            msg = f"{source}: not valid TOML: {exc}"
            raise DefinitionError(msg) from None
        except ValueError:  # Python reads whole numbers of at most 4,300 digits
            msg = f"{source}: not valid TOML: a number has more than 4,300 digits"
            raise DefinitionError(msg) from None
        except (RecursionError, MemoryError):  # a last resort: check_nesting bounds both
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
def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], what: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            msg = (
                f"{where}: key {shown(key)} is not a {what} key.{hint} "
                f"({what} keys: {', '.join(allowed)})"
            )
            raise DefinitionError(msg)


def _duration(value: object, key: str) -> timedelta:
    if isinstance(value, str):
        try:
            return check_duration(parse_duration(value, name=f"key {key!r}"), key)
        except ParameterError as exc:
            raise DefinitionError(str(exc)) from None
    msg = (
        f"key {key!r}: {shown(value)} is not a duration; write a whole number and a unit "
        f"in a string: '90m', '12h', '3d', '2w'"
    )
    raise DefinitionError(msg)


def _parse_filters(value: object) -> tuple[Filter, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        msg = "key 'where': the filter list is empty; remove 'where' or add a filter"
        raise DefinitionError(msg)
    check_count(items, MAX_FILTERS, "where", "filters", "a condition")
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
                msg = f"{shown(item)} is not a filter; write e.g. 'amount > 0'"
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
            msg = f"key 'points': expected a table such as {{ like = 2 }}, got {shown(points)}"
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
    return EventRule(check_events(table["events"]), table.get("min_count", 1), where)


def _parse_stage(table: object, rank: int, source: str) -> Stage:
    if not isinstance(table, dict):
        msg = f"{source}: stage #{rank}: expected a [[stages]] table, got {shown(table)}"
        raise DefinitionError(msg)
    sid = table.get("id")
    at = (
        f"{source}: stage {shown(sid)} (#{rank})"
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
            check_count(items, MAX_CONDITIONS, "when", "conditions", "a stage")
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
        check_count(stages, MAX_STAGES, "stages", "stages", "a definition")
        lapsing = [t for t in stages if isinstance(t, dict) and "lapse_after" in t]
        check_count(lapsing, MAX_LAPSES, "lapse_after", "stages lapse", "a definition")
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
def _dump_where(where: tuple[Filter, ...]) -> str:
    parts = []
    for flt in where:
        if _COLUMN.match(flt.column):
            parts.append(toml_string(str(flt)))
        else:
            value = (
                "[" + ", ".join(toml_scalar(v) for v in flt.value) + "]"
                if isinstance(flt.value, tuple)
                else toml_scalar(flt.value)
            )
            column, op = toml_scalar(flt.column), toml_scalar(flt.op)
            parts.append(f"{{ column = {column}, op = {op}, value = {value} }}")
    return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"


def _dump_condition(cond: Condition) -> list[str]:
    lines = []
    if isinstance(cond, EventRule):
        lines.append("events = [" + ", ".join(toml_scalar(e) for e in cond.events) + "]")
        if cond.min_count != 1:
            lines.append(f"min_count = {cond.min_count}")
    else:
        lines.append(f"points = {inline_table(cond.points.items())}")
        lines.append(f"threshold = {toml_number(cond.threshold)}")
        if cond.half_life is not None:
            lines.append(f"half_life = {toml_scalar(duration_text(cond.half_life))}")
    if cond.where:
        lines.append(f"where = {_dump_where(cond.where)}")
    return lines


def _dump(funnel: Funnel) -> str:
    lines = [
        f"name = {toml_scalar(funnel.name)}",
        f"description = {toml_scalar(funnel.description)}",
    ]
    for stage in funnel.stages:
        lines += ["", "[[stages]]", f"id = {toml_scalar(stage.id)}"]
        if stage.labels:
            lines.append(f"labels = {inline_table(stage.labels.items())}")
        if stage.description:
            lines.append(f"description = {toml_scalar(stage.description)}")
        if stage.lapse is not None:
            lines.append(f"lapse_after = {toml_scalar(duration_text(stage.lapse.after))}")
            lines.append(f"lapse_to = {toml_scalar(stage.lapse.to)}")
        if len(stage.conditions) == 1:
            lines += _dump_condition(stage.conditions[0])
        else:
            for cond in stage.conditions:
                lines += ["[[stages.when]]", *_dump_condition(cond)]
    return "\n".join(lines) + "\n"


# --- files and presets -------------------------------------------------------------
def list_presets() -> tuple[str, ...]:
    """Return the names of the funnel definitions shipped with funnelkit.

    Each loads with :func:`load_funnel`; ``funnelkit stages --funnel NAME``
    takes them too.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> list_presets()
    ('inbound', 'sales')

    See the concept page: docs/concepts/stages.md
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

    A file is read with the limits of the definition file reference (size,
    stages, conditions), so a file from elsewhere cannot exhaust memory.

    Parameters
    ----------
    name_or_path
        A preset name such as ``"inbound"``, or the path of a ``.toml`` file.

    Returns
    -------
    Funnel

    Raises
    ------
    DefinitionError
        The name is neither a preset nor a file, the path is not a regular
        file, or the file is malformed or beyond a limit such as
        :data:`MAX_FILE_BYTES` or :data:`MAX_STAGES` (the message names the
        file, the stage, the key and the limit).

    Examples
    --------
    >>> load_funnel("sales").stage_ids
    ('raw_contact', 'lead', 'prospect', 'qualified_prospect', 'client')

    See the guide: docs/guides/write-a-definition.md
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
    return Funnel.from_toml(read_definition(path), source=str(path))


def require_funnel(funnel: object, parameter: str = "funnel") -> Funnel:
    """Return ``funnel`` if it is a definition; refuse anything else with the call to make.

    The analyses that take a definition call this first, so a preset name
    given where a loaded definition is expected (``"sales"`` rather than
    ``load_funnel("sales")``) is told so, not met with an ``AttributeError``
    deep in the computation.

    Parameters
    ----------
    funnel
        What the caller passed as the definition.
    parameter
        The name of the caller's parameter, for the message.

    Returns
    -------
    Funnel
        ``funnel`` itself.

    Raises
    ------
    ParameterError
        When ``funnel`` is not a :class:`Funnel`; for a text, the message
        names ``load_funnel`` of that text.

    Examples
    --------
    >>> require_funnel(load_funnel("sales")).name
    'sales'
    >>> require_funnel("sales")
    Traceback (most recent call last):
    ...
    funnelkit.errors.ParameterError: funnel: expected ... load_funnel('sales'); got str

    See the guide: docs/guides/write-a-definition.md
    """
    if isinstance(funnel, Funnel):
        return funnel
    hint = f"load_funnel({funnel!r})" if isinstance(funnel, str) else "load_funnel('sales')"
    msg = (
        f"{parameter}: expected a funnel definition, read by funnelkit.load_funnel (a preset "
        f"name or a TOML file): {hint}; got {type(funnel).__name__}"
    )
    raise ParameterError(msg)


def save_funnel(funnel: Funnel, path: str | os.PathLike[str]) -> Path:
    """Write ``funnel`` as a TOML definition file (atomically) and return its path.

    The file is written to a temporary name and moved into place, so a reader
    never sees half a file; :func:`load_funnel` reads it back equal.

    Parameters
    ----------
    funnel
        The definition.
    path
        The file to write (replaced if it exists).

    Returns
    -------
    Path

    Raises
    ------
    OSError
        When the folder does not exist or cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "mine.toml"
    >>> load_funnel(save_funnel(load_funnel("inbound"), out)) == load_funnel("inbound")
    True

    See the guide: docs/guides/write-a-definition.md
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
