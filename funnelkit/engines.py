"""Run funnelkit where the data lives: DuckDB relations and Spark DataFrames.

The public functions of :mod:`funnelkit.stages`, :mod:`funnelkit.conversion`
and :mod:`funnelkit.weekly` take polars frames, DuckDB relations and Spark
DataFrames alike and run **inside the engine**: each is written once, on the
core (:mod:`funnelkit.core`).  Only the small result tables come back,
equal to the polars path's.  :func:`classify_query` keeps a
classification in the engine, :func:`engine_of` tells frames apart and
:func:`open_source` opens ``duckdb:`` and ``spark:`` sources.

How it is built, the modules it is split into, and what differs from polars
are on the concept page ``docs/concepts/engines.md`` of the documentation
(``make docs``); how to use it, in ``docs/guides/run-on-duckdb-and-spark.md``.

Examples
--------
>>> import duckdb
>>> from funnelkit.definitions import load_funnel
>>> con = duckdb.connect()
>>> events = con.sql(
...     "SELECT * FROM (VALUES ('c1', TIMESTAMPTZ '2024-01-01 00:00:00+00', 'page_view', NULL),"
...     " ('c1', TIMESTAMPTZ '2024-01-05 00:00:00+00', 'meeting', NULL))"
...     " AS t(contact_id, occurred_at, event, amount)"
... )
>>> from funnelkit.stages import classify
>>> classify(events, load_funnel("sales")).select("stage").collect().item()
'qualified_prospect'
"""

from __future__ import annotations

from funnelkit.engine_classify import classify_query
from funnelkit.engine_frames import columns, event_span
from funnelkit.engine_sources import (
    SPARK_CONF_ENV,
    open_contacts,
    open_events,
    open_source,
)
from funnelkit.frames import engine_of

__all__ = [
    "SPARK_CONF_ENV",
    "classify_query",
    "columns",
    "engine_of",
    "event_span",
    "open_contacts",
    "open_events",
    "open_source",
]
