"""Which engine holds the events, and the registry of analyses written per engine.

:func:`engine_of` tells a DuckDB relation or a Spark DataFrame from a polars
frame.  The analyses are written once for every engine and read their events
through :func:`funnelkit.engine_frames.core_events` (the one dispatch); an
analysis not yet written once can still hand a DuckDB or Spark frame to the
implementation registered here under its name (:func:`on_engine`).
:mod:`funnelkit.engines` registers such implementations with
:func:`register`, keyed by analysis, not by engine; it is imported when an
implementation is first asked for.

How to register an implementation for another engine: "The registry" on the
concept page ``docs/concepts/engines.md`` of the documentation (``make docs``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from funnelkit.errors import ParameterError

__all__ = ["Engine", "engine_of", "is_engine_frame", "on_engine", "register"]

Engine = Literal["duckdb", "spark"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_ON_ENGINE: dict[str, Callable[..., Any]] = {}
#: The module whose import registers every engine implementation.
_ENGINES_MODULE = "funnelkit.engines"


def engine_of(obj: object) -> Engine | None:
    """Return ``"duckdb"`` or ``"spark"`` for a frame of that engine, else ``None``.

    Polars and pandas frames and :class:`~funnelkit.events.EventLog` give
    ``None``; the check imports neither DuckDB nor PySpark.

    Parameters
    ----------
    obj
        Any object.

    Returns
    -------
    str or None

    Examples
    --------
    >>> import polars as pl
    >>> engine_of(pl.DataFrame({"a": [1]})) is None
    True

    See the concept page: docs/concepts/engines.md
    """
    from narwhals.dependencies import (
        is_duckdb_relation,
        is_pyspark_connect_dataframe,
        is_pyspark_dataframe,
    )

    if is_duckdb_relation(obj):
        return "duckdb"
    if is_pyspark_dataframe(obj) or is_pyspark_connect_dataframe(obj):
        return "spark"
    return None


def is_engine_frame(obj: object) -> bool:
    """Whether ``obj`` is a DuckDB relation or a Spark DataFrame (the analysis runs there).

    Examples
    --------
    >>> import polars as pl
    >>> is_engine_frame(pl.LazyFrame({"a": [1]}))
    False
    """
    return engine_of(obj) is not None


def register(analysis: str) -> Callable[[F], F]:
    """Register ``function`` as the implementation of ``analysis`` on DuckDB and Spark.

    Parameters
    ----------
    analysis
        The public function's name (``"classify"``, ``"funnel"``...).

    Returns
    -------
    Callable
        A decorator that records the function and returns it unchanged.

    Examples
    --------
    >>> @register("example_count")
    ... def _count(events):
    ...     return 0
    >>> on_engine("example_count", int) is _count
    True
    """

    def record(function: F) -> F:
        _ON_ENGINE[analysis] = function
        return function

    return record


def on_engine(analysis: str, returns: type[T]) -> Callable[..., T]:
    """Return the implementation of ``analysis`` registered for DuckDB and Spark frames.

    Parameters
    ----------
    analysis
        The public function's name.
    returns
        The public function's result type, which the implementation returns
        too (for the type checker; the tests compare the results).

    Raises
    ------
    ParameterError
        When no engine implementation of ``analysis`` is registered.

    Examples
    --------
    >>> @register("example_total")
    ... def _total(events):
    ...     return 0
    >>> on_engine("example_total", int)(None)
    0
    """
    if analysis not in _ON_ENGINE:
        # Registered when the engine code is first needed, not by ``import funnelkit``
        # (as the accelerators are): a script or the command line on polars never loads it.
        importlib.import_module(_ENGINES_MODULE)
    try:
        function: Callable[..., T] = _ON_ENGINE[analysis]
    except KeyError:
        known = ", ".join(sorted(_ON_ENGINE)) or "none"
        msg = (
            f"{analysis} does not run on DuckDB or Spark frames (analyses that do: {known}); "
            "bring the events into polars first (e.g. relation.pl() in DuckDB)"
        )
        raise ParameterError(msg) from None
    return function
