"""What only the engines (DuckDB, Spark) have: detection, the events contract, sources, the sample.

The rules themselves are tested once, on every engine, by the rule tests of
``tests/test_conversion.py``, ``tests/test_stages.py`` and ``tests/test_weekly.py``
(the ``engine`` fixture of ``tests/conftest.py``); ``tests/test_every_engine.py``
compares every public function on polars and DuckDB for random logs.  Here:
how an engine frame is recognised and read (time zones of the session, text
timestamps, contacts on another engine), what stays in the engine, the
``duckdb:`` and ``spark:`` sources, and every public piece on the sample.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from funnelkit import (
    conversion,
    engine_classify,
    engine_frames,
    engine_sources,
    engines,
    frames,
    stages,
    weekly,
)
from funnelkit.conversion import Exclusion
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.errors import DataError, MissingColumnError, ParameterError, TimestampError
from funnelkit.events import read_contacts, read_events
from tests.conftest import events_frame
from tests.engines import same_classification, same_funnel, spark_only
from tests.lapses import chained, day, grows_linearly

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample() -> tuple[pl.DataFrame, pl.DataFrame]:
    events = read_events(SAMPLE / "events.csv").frame.collect()
    contacts = read_contacts(SAMPLE / "contacts.csv").frame.collect()
    return events, contacts


@pytest.fixture
def con(duckdb_con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The run's DuckDB connection (session time zone Asia/Tokyo: results must not depend on it)."""
    return duckdb_con


def rel(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> duckdb.DuckDBPyRelation:
    return con.from_arrow(frame.to_arrow())


# --- detection and the events contract ------------------------------------------------------------
def test_polars_frames_are_not_native(con: duckdb.DuckDBPyConnection) -> None:
    frame = events_frame(("a", "2024-01-01", "like"))
    assert not frames.is_engine_frame(frame)
    assert not frames.is_engine_frame(frame.lazy())
    assert engines.engine_of(rel(con, frame)) == "duckdb"


def test_naive_timestamps_are_utc_whatever_the_session_zone(
    con: duckdb.DuckDBPyConnection,
) -> None:
    naive = con.sql(
        "SELECT 'a' AS contact_id, TIMESTAMP '2024-01-01 23:30' AS occurred_at, 'like' AS event"
    )
    zoned = con.sql(
        "SELECT 'a' AS contact_id, TIMESTAMPTZ '2024-01-01 23:30:00+00' AS occurred_at,"
        " 'like' AS event"
    )
    expected = datetime(2024, 1, 1, 23, 30, tzinfo=UTC)
    assert engines.event_span(naive) == (expected, expected)
    assert engines.event_span(zoned) == (expected, expected)
    out = stages.classify(naive.project("*, NULL::DOUBLE AS amount"), SALES).collect()
    assert out.schema["raw_contact_at"] == pl.Datetime("us", "UTC")
    assert out["raw_contact_at"].item() == expected


def test_missing_column_names_the_columns_present(con: duckdb.DuckDBPyConnection) -> None:
    bad = con.sql("SELECT 'a' AS contact, TIMESTAMP '2024-01-01' AS occurred_at, 'x' AS event")
    with pytest.raises(
        MissingColumnError, match="no 'contact_id' column.*Columns present: contact"
    ):
        stages.classify(bad, SALES)


def test_text_timestamps_are_refused_with_a_hint(con: duckdb.DuckDBPyConnection) -> None:
    bad = con.sql("SELECT 'a' AS contact_id, '2024-01-01' AS occurred_at, 'x' AS event")
    with pytest.raises(TimestampError, match="'occurred_at' column is String.*CAST"):
        conversion.funnel(bad, ["x"], window="1d")


def test_contacts_on_another_engine_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    events = rel(con, events_frame(("a", "2024-01-01", "like")))
    with pytest.raises(ParameterError, match="contacts: the events are on duckdb"):
        stages.classify(events, SALES, contacts=pl.DataFrame({"contact_id": ["a"]}))


def test_a_polars_only_stage_cannot_run_on_an_engine(con: duckdb.DuckDBPyConnection) -> None:
    class Custom:
        def evidence(self) -> pl.Expr:
            return pl.col("event") == "like"

    events = rel(con, events_frame(("a", "2024-01-01", "like")))
    with pytest.raises(ParameterError, match="step 2: Custom has only a polars evidence"):
        conversion.funnel(events, ["like", Custom()], window="1d")


def test_chained_lapses_keep_the_query_linear(con: duckdb.DuckDBPyConnection) -> None:
    native = rel(con, events_frame(("a", "2024-01-01", "e1")))
    sizes = {
        n: len(engines.classify_query(native, chained(n), as_of="2024-01-02").sql_query())
        for n in (4, 8, 16)
    }
    assert grows_linearly(sizes), sizes
    lo, hi = int(day(1).timestamp()) * 10**6, int(day(2).timestamp()) * 10**6
    flow_sizes = {
        n: len(
            nw.to_native(
                engine_classify.flow_ranks(
                    engine_frames.engine_events(native), chained(n), lo, hi, None
                )
            ).sql_query()
        )
        for n in (4, 8, 16)
    }
    assert grows_linearly(flow_sizes), flow_sizes


def test_classification_can_stay_in_the_engine(con: duckdb.DuckDBPyConnection) -> None:
    log = events_frame(("a", "2024-01-01", "form_fill"), ("b", "2024-01-02", "meeting"))
    query = engines.classify_query(rel(con, log), SALES, entry_times=False)
    assert isinstance(query, duckdb.DuckDBPyRelation)
    rows = sorted(row[:3] for row in query.fetchall())
    assert rows == [("a", "lead", 2), ("b", "qualified_prospect", 4)]


# --- the sample, every public piece ---------------------------------------------------------------
@pytest.mark.parametrize("funnel", [INBOUND, SALES], ids=["inbound", "sales"])
def test_sample_classification(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame], funnel: Funnel
) -> None:
    events, contacts = sample
    native, people = rel(con, events), rel(con, contacts)
    for as_of in (None, "2026-09-30"):
        same_classification(
            stages.classify(events, funnel, as_of=as_of, contacts=contacts),
            stages.classify(native, funnel, as_of=as_of, contacts=people),
        )
    assert_frame_equal(
        stages.snapshot(stages.classify(events, funnel), funnel).table,
        stages.snapshot(stages.classify(native, funnel), funnel).table,
    )
    expected = stages.flows(events, funnel, start="2026-09-01", end="2026-09-08", contacts=contacts)
    got = stages.flows(native, funnel, start="2026-09-01", end="2026-09-08", contacts=people)
    assert_frame_equal(expected.table, got.table)


@pytest.mark.parametrize("order", ["ordered", "strict_increase", "any"])
def test_sample_funnels(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame], order: str
) -> None:
    events, contacts = sample
    native, people = rel(con, events), rel(con, contacts)
    for first_entry in (False, True):
        same_funnel(
            conversion.funnel(events, INBOUND, window="14d", order=order, first_entry=first_entry),  # type: ignore[arg-type]
            conversion.funnel(native, INBOUND, window="14d", order=order, first_entry=first_entry),
        )
    same_funnel(
        conversion.funnel(
            events, SALES, window="28d", order=order, by="segment", contacts=contacts
        ),  # type: ignore[arg-type]
        conversion.funnel(native, SALES, window="28d", order=order, by="segment", contacts=people),
    )


def test_sample_funnel_with_exclusions_and_breakdown(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, _ = sample
    steps = {
        "visit": "page_view",
        "signed up": ["form_fill", "newsletter_signup"],
        "paid": "purchase",
    }
    rules = [Exclusion("outreach_sent", 1, 2), Exclusion("call", 2, 3)]
    options: dict[str, Any] = {
        "window": "21d",
        "exclusions": rules,
        "by": "channel",
        "top": 3,
        "min_size": 40,
        "since": "2026-08-01",
        "until": "2026-11-01",
    }
    expected = conversion.funnel(events, steps, **options)
    assert expected.excluded > 0
    same_funnel(expected, conversion.funnel(rel(con, events), steps, **options))


def test_sample_trend_cohorts_and_stalled(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, contacts = sample
    native = rel(con, events)
    for period in ("day", "week"):
        assert_frame_equal(
            conversion.conversion_over_time(events, SALES, window="14d", period=period).table,  # type: ignore[arg-type]
            conversion.conversion_over_time(native, SALES, window="14d", period=period).table,
        )
    current = "2026-10-05"
    assert_frame_equal(
        conversion.compare_periods(events, SALES, window="14d", current=current).table,
        conversion.compare_periods(native, SALES, window="14d", current=current).table,
    )
    target = INBOUND.stage("client")
    assert_frame_equal(
        conversion.cohorts(events, target, period="week", horizon="8w", definition=INBOUND).table,
        conversion.cohorts(native, target, period="week", horizon="8w", definition=INBOUND).table,
    )
    as_of = datetime(2026, 10, 5, tzinfo=UTC)
    assert_frame_equal(
        weekly.stalled_contacts(events, INBOUND, as_of=as_of, contacts=contacts),
        weekly.stalled_contacts(native, INBOUND, as_of=as_of, contacts=rel(con, contacts)),
    )
    assert weekly.last_complete_week(native) == weekly.last_complete_week(events)


@pytest.mark.parametrize(
    ("funnel", "breakdown"), [(INBOUND, "channel"), (SALES, "segment")], ids=["inbound", "sales"]
)
def test_sample_weekly_metrics(
    con: duckdb.DuckDBPyConnection,
    sample: tuple[pl.DataFrame, pl.DataFrame],
    funnel: Funnel,
    breakdown: str,
) -> None:
    events, contacts = sample
    expected = weekly.weekly_metrics(
        events, funnel, week="2026-W40", contacts=contacts, breakdown=breakdown
    )
    got = weekly.weekly_metrics(
        rel(con, events), funnel, week="2026-W40", contacts=rel(con, contacts), breakdown=breakdown
    )
    assert got.to_json() == expected.to_json()


# --- sources --------------------------------------------------------------------------------------
@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(
            "CREATE TABLE events AS SELECT * FROM (VALUES"
            " ('a', TIMESTAMPTZ '2026-11-02 09:00:00+00', 'form_fill'),"
            " ('b', TIMESTAMPTZ '2026-11-03 09:00:00+00', 'meeting'))"
            " AS t(contact_id, occurred_at, event)"
        )
        db.execute("ALTER TABLE events ADD COLUMN amount DOUBLE")
        db.execute("CREATE TABLE contacts AS SELECT 'c' AS contact_id")
    return path


def test_duckdb_source_opens_a_table(warehouse: Path) -> None:
    events = engines.open_source(f"duckdb://{warehouse}?table=events")
    contacts = engines.open_source(f"duckdb://{warehouse}?table=contacts")
    assert engines.engine_of(events) == "duckdb"
    out = stages.classify(events, SALES, contacts=contacts, entry_times=False).collect()
    assert dict(out.select("contact_id", "stage").iter_rows()) == {
        "a": "lead",
        "b": "qualified_prospect",
        "c": "raw_contact",
    }


def test_duckdb_source_relative_path(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(warehouse.parent)
    events = engines.open_events("duckdb:warehouse.duckdb?table=events")
    assert engines.event_span(events)[0] == datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("duckdb://{db}?table=event", DataError, "no table 'event' in .*Did you mean 'events'"),
        ("duckdb://{db}", ParameterError, "name the table to read, e.g. duckdb:///"),
        ("duckdb://{db}?table=events&mode=rw", ParameterError, "unknown option 'mode'"),
        ("duckdb://{db}.missing?table=events", DataError, "no such DuckDB database file"),
        ("spark:", ParameterError, "name the table to read, e.g. spark:analytics.events"),
    ],
)
def test_bad_sources_are_explained(
    warehouse: Path, text: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        engines.open_source(text.format(db=warehouse))


def test_paths_are_not_sources() -> None:
    assert engines.open_source(SAMPLE / "events.csv") is None
    assert engines.open_source("C:/data/events.csv") is None
    log = engines.open_events(SAMPLE / "events.csv")
    assert log.summary().rows_kept > 0


def test_spark_conf_file(tmp_path: Path) -> None:
    conf = tmp_path / "spark-defaults.conf"
    conf.write_text(
        "# the cluster\nspark.master  yarn\nspark.sql.shuffle.partitions=64\n\n",
        encoding="utf-8",
    )
    assert engine_sources.spark_conf(str(conf)) == {
        "spark.master": "yarn",
        "spark.sql.shuffle.partitions": "64",
    }
    conf.write_text("spark.master\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="line 1: expected 'key value'"):
        engine_sources.spark_conf(str(conf))
    with pytest.raises(ParameterError, match="FUNNELKIT_SPARK_CONF=.*no such file"):
        engine_sources.spark_conf(str(tmp_path / "missing.conf"))


# --- Spark, local mode (the one session of the run, tests/engines.py) ---------------------------
def sdf(spark: Any, frame: pl.DataFrame) -> Any:
    return spark.createDataFrame(frame.to_arrow())


@spark_only
def test_spark_table_source(spark: Any) -> None:
    log = events_frame(("a", "2024-01-01", "form_fill"), ("b", "2024-01-02", "meeting"))
    sdf(spark, log).createOrReplaceTempView("funnelkit_test_events")
    native = engines.open_source("spark:funnelkit_test_events")
    assert engines.engine_of(native) == "spark"
    classified = stages.classify(native, SALES)  # type: ignore[arg-type]
    assert stages.snapshot(classified, SALES).table["current"].to_list() == [0, 1, 0, 1, 0]
    with pytest.raises(DataError, match="Spark has no table 'funnelkit_test_nothing'"):
        engines.open_source("spark:funnelkit_test_nothing")
