"""Which engine holds the events.

:func:`engine_of` tells a DuckDB relation or a Spark DataFrame from a polars
frame.  The analyses are written once for every engine and read their events
through :func:`funnelkit.engine_frames.core_events` (the one dispatch); the
engine-specific fast paths are registered in :mod:`funnelkit.core.accelerators`.

See the concept page: docs/concepts/engines.md
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Engine", "engine_of", "is_engine_frame"]

Engine = Literal["duckdb", "spark"]


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
