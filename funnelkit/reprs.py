"""One-line reprs of result objects: their settings, and their tables by shape.

A result (a funnel, drivers, drop-off paths, flows, a comparison) is a frozen
dataclass holding tables.  The dataclass's own repr prints every table in
full, over dozens of lines, when a notebook cell or a console echoes the
object without HTML; :func:`brief_repr` prints one line instead: each field
the dataclass shows, a table as its shape, a duration as funnelkit writes
it (``10d``, ``2w``), an instant in UTC, a long text cut short.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from funnelkit.durations import format_duration
from funnelkit.timeutil import fmt_time

__all__ = ["MAX_VALUE_CHARS", "brief_repr"]

#: A field's value longer than this is cut, ending in "…" (a tuple or list: whole items).
MAX_VALUE_CHARS = 72


def brief_repr(result: Any) -> str:
    """Return ``Name(field=value, ...)`` of a result dataclass on one line.

    Parameters
    ----------
    result
        A dataclass instance; fields declared with ``repr=False`` are left out.

    Returns
    -------
    str

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from datetime import timedelta
    >>> @dataclass(frozen=True)
    ... class Result:
    ...     table: pl.DataFrame
    ...     window: timedelta
    ...     __repr__ = brief_repr
    >>> Result(pl.DataFrame({"step": ["a", "b"], "contacts": [10, 4]}), timedelta(days=10))
    Result(table=<2 rows x 2 columns>, window=10d)
    """
    shown = (f"{f.name}={_brief(getattr(result, f.name))}" for f in fields(result) if f.repr)
    return f"{type(result).__name__}({', '.join(shown)})"


def _brief(value: Any) -> str:
    if isinstance(value, pl.DataFrame):
        return f"<{value.height:,} row{'' if value.height == 1 else 's'} x {value.width} columns>"
    if isinstance(value, pl.LazyFrame):
        return "<lazy frame>"
    if isinstance(value, timedelta) and value >= timedelta(0):
        return format_duration(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return fmt_time(value)
    if is_dataclass(value) and not isinstance(value, type):
        return brief_repr(value)
    if isinstance(value, tuple | list) and len(repr(value)) > MAX_VALUE_CHARS:
        return _cut_items(value)
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _cut_items(items: tuple[Any, ...] | list[Any]) -> str:
    """Return the first items of ``items`` that fit, then how many there are in all."""
    open_, close = ("(", ")") if isinstance(items, tuple) else ("[", "]")
    tail = f", … {len(items)} in all{close}"
    shown = ""
    for item in items:
        more = f"{shown}, {item!r}" if shown else repr(item)
        if len(open_ + more + tail) > MAX_VALUE_CHARS:
            break
        shown = more
    return open_ + (shown or "…") + (tail if shown else f" {len(items)} in all{close}")
