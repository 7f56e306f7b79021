"""Run funnelkit where the data lives: DuckDB relations and Spark DataFrames.

The public functions of :mod:`funnelkit.stages`, :mod:`funnelkit.conversion`
and :mod:`funnelkit.weekly` take polars frames, DuckDB relations and Spark
DataFrames alike.  Given a frame of another engine, they hand it to the
implementation this module registers under their name
(:func:`funnelkit.frames.register`), which runs the computation **inside that
engine**: the raw events never travel to Python, only the small result
tables do (counts per stage, per step, per week; one row per contact for
``classify``).  :func:`classify_query` keeps a classification in the engine.

Supported inputs: a DuckDB relation (``duckdb.DuckDBPyRelation``) and a
PySpark DataFrame (classic or Spark Connect).  :func:`engine_of` tells them
apart from polars frames, and :func:`open_source` opens one from text such as
``duckdb:///data/warehouse.duckdb?table=events`` or ``spark:analytics.events``.

The results equal the polars path's, column for column (names, types, values):
the semantics are those documented in :mod:`funnelkit.stages` (classification)
and :mod:`funnelkit.conversion` (the chain rule, the counted chain, exclusions,
breakdowns, time to convert, trends and cohorts).  Where the engines have no
notion of row order, a rule that reads "the first row" reads "the smallest
value" instead; this only shows on inputs that
:func:`~funnelkit.events.read_contacts` never produces (a contacts table that
holds one ``contact_id`` twice, with two values of a breakdown column or two
``created_at``).  Rows
are read as they are: nothing is set aside on an engine (validate the data
where it lives, or read it with :func:`~funnelkit.events.read_events`).

How it is built
---------------
The engine-neutral parts are `narwhals <https://narwhals-dev.github.io/narwhals/>`_
lazy expressions (filters, ``group_by``, joins, window functions with
``over(partition_by, order_by=...)``).  One step has no narwhals expression on
DuckDB or Spark: turning ``occurred_at`` into epoch microseconds; it is one
line of native SQL per engine (``epoch_us`` in DuckDB; ``unix_micros`` or
``timestampdiff`` in Spark).  Every later step works on integer microseconds,
so that time zones of the engine session never change a result.

The code is split by responsibility, each module importing only those
above it in this list:

- :mod:`funnelkit.engine_frames`: the engine frame (epoch microseconds),
  running a query into polars, the expressions of definition rules;
- :mod:`funnelkit.engine_classify`: classification and flows;
- :mod:`funnelkit.core.chains`: the chain rule (every order mode,
  exclusions, stages read by entry), written once for every engine;
- :mod:`funnelkit.engine_trends`: trends, comparisons, cohorts (by day, ISO
  week or calendar month) and the weekly metrics;
- :mod:`funnelkit.engine_sources`: ``duckdb:`` and ``spark:`` sources.

Importing this module (``import funnelkit`` does) registers every
implementation with :func:`funnelkit.frames.register`.

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

from funnelkit import engine_trends  # noqa: F401  (importing registers them)
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
