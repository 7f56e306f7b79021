"""The column checks the core's funnel runs before it chooses an implementation.

:func:`check_columns` names the stage, step, exclusion or breakdown that reads
a column the events lack, with the same words on every engine and whichever
implementation then runs; :func:`segment_source` says where a breakdown column
lives (events or contacts).
"""

from __future__ import annotations

import polars as pl

from funnelkit.definitions import Filter, number_columns
from funnelkit.engine_frames import TS, EngineFrame
from funnelkit.errors import MissingColumnError, did_you_mean
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import EVENT
from funnelkit.events import OCCURRED_AT as T
from funnelkit.steps import Spec

__all__ = ["check_columns", "definition_filters", "segment_source"]


def segment_source(ev: EngineFrame, by: str | None, contacts: EngineFrame | None) -> str | None:
    """Return where the breakdown column ``by`` is: ``"events"``, ``"contacts"`` or ``None``.

    A missing column is named with the columns one can break down by, on
    every engine (the polars kernel's message, word for word).
    """
    if by is None:
        return None
    names = ev.lf.collect_schema().names()
    if by in names and by != TS:
        return "events"
    contact_names = _given(contacts) if contacts is not None else []
    if by in contact_names:
        return "contacts"
    # A breakdown reads a property: the three required columns are no suggestion.
    fixed = (CID, T, EVENT)
    there = [c for c in [*_given(ev), *contact_names] if c not in fixed]
    hint = did_you_mean(by, there)
    where = (
        "events or contacts"
        if contacts is not None
        else "events (a contact attribute needs the contacts table: contacts=, "
        "or --contacts on the command line)"
    )
    columns = ", ".join(there) or "none"
    msg = f"by: no column {by!r} in the {where}.{hint} Columns to break down by: {columns}."
    raise MissingColumnError(msg)


def _given(frame: EngineFrame) -> list[str]:
    """Return the columns of ``frame`` as the caller named them (``occurred_at``, not ``_ts``)."""
    if frame.given:
        return list(frame.given)
    return [T if c == TS else c for c in frame.lf.collect_schema().names()]


def definition_filters(spec: Spec) -> list[Filter]:
    """Return every filter of the stages of ``spec``'s definition (none without one)."""
    funnel = spec.definition
    if funnel is None:
        return []
    return [f for stage in funnel.stages for cond in stage.conditions for f in cond.where]


def check_columns(
    ev: EngineFrame, spec: Spec, *, by: str | None, contacts: EngineFrame | None
) -> None:
    """Name the stage, step or breakdown that reads a column the events lack.

    Run by :func:`chains_of` before it chooses the implementation, so the
    messages are the same on every engine and whichever implementation runs.
    Only the schema is read: a text column the definition compares with
    numbers counts as numbers (:func:`funnelkit.definitions.number_columns`).

    Parameters
    ----------
    ev
        The events as the core reads them (:func:`funnelkit.engine_frames.core_events`).
    spec
        The funnel spec.
    by
        The breakdown column, if any.
    contacts
        The contacts on the events' engine, if any.

    Raises
    ------
    MissingColumnError
        A stage read by entry, a step or exclusion read by its events, or the
        breakdown reads a column neither the events nor the contacts have.
    DefinitionError
        A stage, read by entry or by its evidence events, compares a column
        with a value of another kind (a Boolean column with ``0``).

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.core.chains import nw_spec
    >>> from funnelkit.definitions import load_funnel
    >>> from funnelkit.engine_frames import core_events
    >>> log = pl.DataFrame({"contact_id": ["a"], "occurred_at": [dt.datetime(2026, 1, 1)],
    ...                     "event": ["page_view"]})
    >>> ns = nw_spec(load_funnel("inbound"), "7d", "ordered", False, (), stage_steps="evidence")
    >>> try:
    ...     check_columns(core_events(log), ns.spec, by=None, contacts=None)
    ... except MissingColumnError as error:
    ...     print(str(error).split(",")[0])
    step 4 ('Client') reads the column 'amount'

    See the concept page: docs/concepts/engines.md
    """
    read = number_columns(ev.schema, definition_filters(spec))
    schema = pl.Schema({k: pl.Float64 if k in read else v for k, v in ev.schema.items()})
    if spec.reading.entry and spec.stage_ids:
        assert spec.reading.definition is not None  # resolve_spec refuses it otherwise
        spec.reading.definition.check_columns(schema)
    names = _given(ev)
    parts = [(f"step {i} ({s.name!r})", s.expr, s.stage) for i, s in enumerate(spec.steps, 1)]
    parts += [(f"exclusion {i}", e.expr, e.stage) for i, e in enumerate(spec.exclusions, 1)]
    for where, expr, stage in parts:
        if stage is not None:  # a stage read by entry: its definition was checked above
            continue
        missing = [c for c in expr.meta.root_names() if c not in names]
        if missing:
            hint = did_you_mean(missing[0], names)
            msg = (
                f"{where} reads the column {missing[0]!r}, which the events do not have "
                f"(columns: {', '.join(names)}).{hint}"
            )
            raise MissingColumnError(msg)
    if spec.definition is not None and not spec.reading.entry:
        # Stages read by their evidence events compare the same columns: the same types.
        spec.definition.check_columns(schema)
    segment_source(ev, by, contacts)
