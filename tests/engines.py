"""The same events on every engine: the ``engine`` fixture of the rule tests (not a test module).

A rule test builds its events as a polars frame (``events_frame``, ``log``),
passes them through ``engine`` and calls the public function on what comes
back: the polars frame itself, a DuckDB relation, or a Spark DataFrame::

    def test_window_boundary_is_inclusive(engine: Engine) -> None:
        events = engine(log([("c", 0, "visit"), ("c", 24, "signup")]))
        assert counts(events, ["visit", "signup"], window="1d") == [1, 1]

Results are small polars tables on every engine, so the assertions do not
change.  The DuckDB connection and the Spark session are started once per
test process, with a session time zone that is not UTC on purpose (results
must not depend on it).  Spark is slow to start (about 20 s) and to run a
query, so only the tests marked ``@on_spark`` get the Spark case; it is marked
``spark`` and ``slow``.  Under ``--dist loadgroup`` (``make test``) every Spark
test (a ``spark`` case, or a test named ``test_spark_*``) goes to one worker
(:func:`spark_together`), so that one session serves the whole run.

A rule test whose DuckDB and Spark cases need a mark of their own (a known
difference, pinned as ``xfail(strict=True)``) takes ``@engine_marks(...)``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from funnelkit.conversion import FunnelResult

EngineName = Literal["polars", "duckdb", "spark"]

# ``spark`` is declared in pyproject.toml; reading it here without the unknown-mark
# warning keeps this module importable where it is not (yet).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    SPARK_MARKS = (pytest.mark.spark, pytest.mark.slow)

on_spark = pytest.mark.on_spark
"""Give this test the Spark case of ``engine`` too (polars and DuckDB run every rule test)."""

T = TypeVar("T")


def spark_only(test: T) -> T:
    """Mark a test that uses the ``spark`` session directly (name it ``test_spark_*``)."""
    for mark in SPARK_MARKS:
        test = mark(test)
    return test


# --- marks for the DuckDB and Spark cases only ---------------------------------------------------
engine_marks = pytest.mark.engine_marks
"""``@engine_marks(mark, ...)``: marks for a rule test's DuckDB and Spark cases only."""

SPARK_TIME_ZONE = "America/New_York"
DUCKDB_TIME_ZONE = "Asia/Tokyo"


@dataclass(frozen=True)
class Engine:
    """Turn a polars frame (events or contacts) into the same data on one engine.

    ``engine(frame)`` returns the frame on that engine; ``engine(None)`` is
    ``None`` (no contacts).  ``name`` is ``"polars"``, ``"duckdb"`` or ``"spark"``.
    """

    name: EngineName
    convert: Callable[[pl.DataFrame], Any]

    def __call__(self, frame: pl.DataFrame | None) -> Any:
        return None if frame is None else self.convert(frame)

    def __repr__(self) -> str:
        return self.name


def same_classification(a: pl.LazyFrame, b: pl.LazyFrame) -> None:
    assert_frame_equal(a.collect().sort("contact_id"), b.collect().sort("contact_id"))


def same_funnel(a: FunnelResult, b: FunnelResult) -> None:
    """The same tables: steps, breakdown, time to convert; the excluded count and reading."""
    assert_frame_equal(a.table, b.table)
    assert (a.excluded, a.stage_steps) == (b.excluded, b.stage_steps)
    if a.breakdown is None:
        assert b.breakdown is None
    else:
        assert b.breakdown is not None
        assert_frame_equal(a.breakdown, b.breakdown)
    assert_frame_equal(a.time_to_convert.summary, b.time_to_convert.summary)
    assert_frame_equal(a.time_to_convert.histogram, b.time_to_convert.histogram)


def polars_engine() -> Engine:
    return Engine("polars", lambda frame: frame)


def duckdb_engine(connection: Any) -> Engine:
    return Engine("duckdb", lambda frame: connection.from_arrow(frame.to_arrow()))


def spark_engine(session: Any) -> Engine:
    return Engine("spark", lambda frame: session.createDataFrame(frame.to_arrow()))


def engine_params(*, spark: bool, marks: tuple[Any, ...] = ()) -> list[Any]:
    """The parameters of the ``engine`` fixture: polars, DuckDB, and Spark when asked.

    ``marks`` go on the DuckDB and Spark cases (e.g. :data:`NOT_ON_ENGINES_YET`).
    """
    params: list[Any] = ["polars", pytest.param("duckdb", marks=marks)]
    if spark:
        params.append(pytest.param("spark", marks=(*SPARK_MARKS, *marks)))
    return params


def is_spark_test(nodeid: str) -> bool:
    """Whether a test id is a Spark test: a ``spark`` engine case or a ``test_spark_*`` test."""
    name = nodeid.rsplit("::", 1)[-1]
    return name.startswith("test_spark_") or re.search(r"[\[-]spark[\]-]", name) is not None


def spark_together(config: pytest.Config, log: Any) -> Any:
    """The ``loadgroup`` scheduler of pytest-xdist, with every Spark test in one group.

    (pytest-xdist's own ``xdist_group`` marks do not group tests under pytest 9,
    which no longer lets a plugin rename a test.)
    """
    from xdist.scheduler import LoadGroupScheduling

    class SparkTogether(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "spark" if is_spark_test(nodeid) else str(super()._split_scope(nodeid))

    return SparkTogether(config, log)


def duckdb_connection() -> Iterator[Any]:
    duckdb = pytest.importorskip("duckdb")
    connection = duckdb.connect()
    connection.execute(f"SET TimeZone = '{DUCKDB_TIME_ZONE}'")  # results must not depend on it
    yield connection
    connection.close()


def spark_session() -> Iterator[Any]:
    """Spark in local mode, tuned for tiny queries; skipped without Java 17+ (failed in CI)."""
    pytest.importorskip("pyspark", reason="PySpark is a dev dependency (pip install pyspark)")
    from pyspark.sql import SparkSession

    from tests.setup_java import INSTALL_HINT, java_ok

    if not java_ok():
        why = f"Spark needs Java 17 or later: {INSTALL_HINT} (make test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)

    session = (
        SparkSession.builder.master("local[2]")
        .appName("funnelkit-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", SPARK_TIME_ZONE)  # must not change results
        .config("spark.driver.memory", "1g")
        # Tiny test queries: compiling generated code costs more than it saves.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
