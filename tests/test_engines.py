"""The engine path (DuckDB, Spark) gives the polars path's results, table for table.

DuckDB runs in-process and is tested widely (named rules, property tests on
random logs and random definitions).  Spark runs in local mode in one session
for the whole module (``local[2]``, two shuffle partitions, no UI, a session
time zone that is not UTC on purpose); its tests are few and marked ``spark``.
"""

from __future__ import annotations

import doctest
import os
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import conversion, engines, frames, stages, weekly
from funnelkit.conversion import Exclusion
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.errors import DataError, MissingColumnError, ParameterError, TimestampError
from funnelkit.events import read_contacts, read_events
from tests.conftest import events_frame
from tests.lapses import (
    THREE_LAPSES,
    THREE_LAPSES_FLOWS,
    THREE_LAPSES_LOG,
    THREE_LAPSES_STAGES,
    chained,
    grows_linearly,
)
from tests.lapses import day as lapse_day
from tests.strategies import VOCAB, Draws
from tests.strategies import definitions as random_definitions

# The ``spark`` marker is declared in pyproject.toml; reading it here without the
# unknown-mark warning keeps this module importable where it is not (yet).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    spark_mark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")


def day(n: float) -> datetime:
    return datetime(2026, 7, 6, tzinfo=UTC) + timedelta(days=n)


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample() -> tuple[pl.DataFrame, pl.DataFrame]:
    events = read_events(SAMPLE / "events.csv").frame.collect()
    contacts = read_contacts(SAMPLE / "contacts.csv").frame.collect()
    return events, contacts


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'Asia/Tokyo'")  # results must not depend on it
    yield connection
    connection.close()


def rel(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> duckdb.DuckDBPyRelation:
    return con.from_arrow(frame.to_arrow())


def same_classification(a: pl.LazyFrame, b: pl.LazyFrame) -> None:
    assert_frame_equal(a.collect().sort("contact_id"), b.collect().sort("contact_id"))


def same_funnel(a: conversion.FunnelResult, b: conversion.FunnelResult) -> None:
    assert_frame_equal(a.table, b.table)
    assert a.excluded == b.excluded
    if a.breakdown is None:
        assert b.breakdown is None
    else:
        assert b.breakdown is not None
        assert_frame_equal(a.breakdown, b.breakdown)
    assert_frame_equal(a.time_to_convert.summary, b.time_to_convert.summary)
    assert_frame_equal(a.time_to_convert.histogram, b.time_to_convert.histogram)


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


def test_a_date_as_of_and_a_reversed_span_are_read_as_on_polars(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # A bare-date as_of is the end of that day; the purchase at 10:00 that day counts.
    log = events_frame(
        ("a", "2026-11-21 12:00", "visit"),
        ("a", "2026-11-22 10:00", "purchase"),
        ("b", "2026-11-22 12:00", "visit"),
    )
    native = rel(con, log)
    ours = conversion.cohorts(log, "purchase", horizon="7d", period="day", as_of="2026-11-22")
    theirs = conversion.cohorts(native, "purchase", horizon="7d", period="day", as_of="2026-11-22")
    assert (
        theirs.as_of == ours.as_of == datetime(2026, 11, 23, tzinfo=UTC) - timedelta(microseconds=1)
    )
    assert_frame_equal(theirs.table, ours.table)
    steps = ["visit", "purchase"]
    trend = conversion.conversion_over_time(native, steps, window="1d", as_of="2026-11-22")
    assert trend.as_of == ours.as_of
    for call in (conversion.funnel, conversion.conversion_over_time):
        with pytest.raises(ParameterError, match="must be before until"):
            call(native, steps, window="1d", since="2026-12-01", until="2026-11-01")
    with pytest.raises(ParameterError, match="must be before until"):
        conversion.cohorts(
            native, "purchase", period="week", since="2026-12-01", until="2026-11-01"
        )


def test_breakdown_column_typo_gets_a_hint(con: duckdb.DuckDBPyConnection) -> None:
    events = rel(con, events_frame(("a", "2024-01-01", "like", None, "social")))
    with pytest.raises(MissingColumnError, match="by: no column 'chanel'.*Did you mean 'channel'"):
        conversion.funnel(events, ["like"], window="1d", by="chanel")


def test_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(engines)
    assert tried > 10 and failures == 0


# --- named rules on hand-made timelines ----------------------------------------------------------
def test_tied_rows_serve_consecutive_steps(con: duckdb.DuckDBPyConnection) -> None:
    log = events_frame(
        ("a", "2026-09-01", "visit"),
        ("a", "2026-09-04", "visit"),
        ("a", "2026-09-09", "signup"),
        ("a", "2026-09-09", "purchase"),
    )
    steps = ["visit", "signup", "purchase"]
    got = conversion.funnel(rel(con, log), steps, window="7d")
    assert got.table["count"].to_list() == [1, 1, 1]
    strict = conversion.funnel(rel(con, log), steps, window="7d", order="strict_increase")
    assert strict.table["count"].to_list() == [1, 1, 0]
    same_funnel(conversion.funnel(log, steps, window="7d"), got)


def test_window_boundary_is_inside(con: duckdb.DuckDBPyConnection) -> None:
    log = events_frame(("a", "2026-09-01", "visit"), ("a", "2026-09-08", "purchase"))
    counts = conversion.funnel(rel(con, log), ["visit", "purchase"], window="7d").table
    assert counts["count"].to_list() == [1, 1]


def test_exclusion_between_steps_removes_the_contact(con: duckdb.DuckDBPyConnection) -> None:
    log = events_frame(
        ("a", "2026-09-01", "visit"),
        ("a", "2026-09-02", "unsubscribe"),
        ("a", "2026-09-03", "purchase"),
        ("b", "2026-09-01", "visit"),
        ("b", "2026-09-03", "purchase"),
    )
    rule = [Exclusion("unsubscribe", 1, 2)]
    got = conversion.funnel(rel(con, log), ["visit", "purchase"], window="7d", exclusions=rule)
    assert got.excluded == 1
    assert got.table["count"].to_list() == [1, 1]


def test_decaying_score_and_lapse_match_polars(con: duckdb.DuckDBPyConnection) -> None:
    # Two page views 20 days apart score 2 + 2 * 0.5 ** (20 / 30) = 3.26 >= 3: a cold lead;
    # a form fill makes it a warm lead, which lapses back after 90 idle days.
    log = events_frame(
        ("a", "2026-01-01", "page_view"),
        ("a", "2026-01-21", "page_view"),
        ("a", "2026-02-01", "form_fill"),
        ("b", "2026-01-01", "page_view"),
        ("b", "2026-03-01", "page_view"),
    )
    native = rel(con, log)
    for as_of in ("2026-02-15", "2026-06-01"):
        same_classification(
            stages.classify(log, INBOUND, as_of=as_of),
            stages.classify(native, INBOUND, as_of=as_of),
        )
    late = stages.classify(native, INBOUND, as_of="2026-06-01").collect()
    assert dict(late.select("contact_id", "stage").iter_rows()) == {
        "a": "cold_lead",
        "b": "prospect",
    }


@pytest.mark.parametrize(("as_of", "expected"), THREE_LAPSES_STAGES.items())
def test_three_chained_lapses(
    con: duckdb.DuckDBPyConnection, as_of: int, expected: tuple[str, ...]
) -> None:
    out = stages.classify(
        rel(con, THREE_LAPSES_LOG), THREE_LAPSES, as_of=lapse_day(as_of)
    ).collect()
    got = dict(out.select("contact_id", "stage").iter_rows())
    assert tuple(got[c] for c in "abce") == expected


def test_flows_through_three_chained_lapses(con: duckdb.DuckDBPyConnection) -> None:
    start, end = lapse_day(4), lapse_day(30)
    native = rel(con, THREE_LAPSES_LOG)
    got = stages.flows(native, THREE_LAPSES, start=start, end=end)
    expected = stages.flows(THREE_LAPSES_LOG, THREE_LAPSES, start=start, end=end)
    assert_frame_equal(got.table, expected.table)
    assert got.table.select("from_stage", "to_stage", "contacts").rows() == THREE_LAPSES_FLOWS


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
                engines._flow_ranks(engines._events(native), chained(n), lo, hi, None)
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
        conversion.cohorts(events, target, period="week", horizon="8w").table,
        conversion.cohorts(native, target, period="week", horizon="8w").table,
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


def test_public_functions_hand_native_frames_to_the_engine(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, _ = sample
    native = rel(con, events)
    try:
        got = stages.classify(native, SALES)  # type: ignore[arg-type]
    except ParameterError:
        pytest.skip("the polars functions do not dispatch to funnelkit.engines yet")
    same_classification(stages.classify(events, SALES), got)
    same_funnel(
        conversion.funnel(events, SALES, window="14d"),
        conversion.funnel(native, SALES, window="14d"),  # type: ignore[arg-type]
    )
    assert (
        weekly.weekly_metrics(native, SALES, week="2026-W40").to_json()  # type: ignore[arg-type]
        == weekly.weekly_metrics(events, SALES, week="2026-W40").to_json()
    )


# --- property tests: random logs, random definitions ----------------------------------------------
PRESET_VOCAB = (*sorted(INBOUND.event_names | SALES.event_names), "list_import", "other")
DRAWS = Draws(day(0), 90)
hours, contacts_tables, as_ofs, logs = DRAWS.hours, DRAWS.contacts_tables, DRAWS.as_ofs, DRAWS.logs


def definitions() -> st.SearchStrategy[Funnel]:
    return random_definitions(4, (timedelta(days=1), timedelta(days=10)))


step_specs = st.one_of(
    st.sampled_from(VOCAB), st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2, unique=True)
)


@st.composite
def funnel_options(draw: st.DrawFn) -> dict[str, Any]:
    steps = draw(st.lists(step_specs, min_size=1, max_size=4))
    order = draw(st.sampled_from(["ordered", "strict_increase", "any"]))
    options: dict[str, Any] = {
        "window": draw(st.sampled_from(["1d", "3d", "10d"])),
        "order": order,
        "first_entry": draw(st.booleans()),
        "by": draw(st.sampled_from([None, "channel"])),
    }
    if order != "any" and len(steps) >= 2 and draw(st.booleans()):
        a = draw(st.integers(1, len(steps) - 1))
        b = draw(st.integers(a + 1, len(steps)))
        options["exclusions"] = [Exclusion(draw(st.sampled_from(VOCAB)), a, b)]
    return {"steps": steps, **options}


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs(PRESET_VOCAB),
    contacts=contacts_tables,
    as_of=as_ofs,
    funnel=st.sampled_from([INBOUND, SALES]),
    entry_times=st.booleans(),
)
def test_duckdb_classification_equals_polars(
    con: duckdb.DuckDBPyConnection,
    log: pl.DataFrame,
    contacts: pl.DataFrame | None,
    as_of: datetime | None,
    funnel: Funnel,
    entry_times: bool,
) -> None:
    people = None if contacts is None else rel(con, contacts)
    options: dict[str, Any] = {"as_of": as_of, "entry_times": entry_times}
    same_classification(
        stages.classify(log, funnel, contacts=contacts, **options),
        stages.classify(rel(con, log), funnel, contacts=people, **options),
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs((*VOCAB, "other")), funnel=definitions(), as_of=as_ofs)
def test_duckdb_random_definitions_equal_polars(
    con: duckdb.DuckDBPyConnection, log: pl.DataFrame, funnel: Funnel, as_of: datetime | None
) -> None:
    same_classification(
        stages.classify(log, funnel, as_of=as_of),
        stages.classify(rel(con, log), funnel, as_of=as_of),
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs((*VOCAB, "other")),
    funnel=definitions(),
    contacts=contacts_tables,
    start=hours,
    length=st.integers(1, 60 * 24),
)
def test_duckdb_flows_equal_polars(
    con: duckdb.DuckDBPyConnection,
    log: pl.DataFrame,
    funnel: Funnel,
    contacts: pl.DataFrame | None,
    start: int,
    length: int,
) -> None:
    """The engine classifies twice, polars once over both instants: the same flows."""
    lo, hi = day(start / 24), day((start + length) / 24)
    people = None if contacts is None else rel(con, contacts)
    expected = stages.flows(log, funnel, start=lo, end=hi, contacts=contacts)
    got = stages.flows(rel(con, log), funnel, start=lo, end=hi, contacts=people)
    assert_frame_equal(expected.table, got.table)


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs((*VOCAB, "other")), options=funnel_options())
def test_duckdb_funnels_equal_polars(
    con: duckdb.DuckDBPyConnection, log: pl.DataFrame, options: dict[str, Any]
) -> None:
    steps = options.pop("steps")
    same_funnel(
        conversion.funnel(log, steps, min_size=2, **options),
        conversion.funnel(rel(con, log), steps, min_size=2, **options),
    )


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs(PRESET_VOCAB, max_size=40),
    week=st.integers(2, 12),
    funnel=st.sampled_from([INBOUND, SALES]),
)
def test_duckdb_weekly_metrics_equal_polars(
    con: duckdb.DuckDBPyConnection, log: pl.DataFrame, week: int, funnel: Funnel
) -> None:
    options: dict[str, Any] = {"week": f"2026-W{27 + week}", "window": "7d", "weeks_of_history": 4}
    expected = weekly.weekly_metrics(log, funnel, breakdown="channel", **options)
    got = weekly.weekly_metrics(rel(con, log), funnel, breakdown="channel", **options)
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
    assert engines._spark_conf(str(conf)) == {
        "spark.master": "yarn",
        "spark.sql.shuffle.partitions": "64",
    }
    conf.write_text("spark.master\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="line 1: expected 'key value'"):
        engines._spark_conf(str(conf))
    with pytest.raises(ParameterError, match="FUNNELKIT_SPARK_CONF=.*no such file"):
        engines._spark_conf(str(tmp_path / "missing.conf"))


# --- Spark, local mode ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
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
        .config("spark.sql.session.timeZone", "America/New_York")  # must not change results
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


def sdf(spark: Any, frame: pl.DataFrame) -> Any:
    return spark.createDataFrame(frame.to_arrow())


def check_spark_weekly_metrics(spark: Any, sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, contacts = sample
    native, people = sdf(spark, events), sdf(spark, contacts)
    assert engines.engine_of(native) == "spark"
    expected = weekly.weekly_metrics(
        events, INBOUND, week="2026-W40", contacts=contacts, breakdown="segment"
    )
    got = weekly.weekly_metrics(
        native, INBOUND, week="2026-W40", contacts=people, breakdown="segment"
    )
    assert got.to_json() == expected.to_json()


def check_spark_table_source(spark: Any) -> None:
    log = events_frame(("a", "2024-01-01", "form_fill"), ("b", "2024-01-02", "meeting"))
    sdf(spark, log).createOrReplaceTempView("funnelkit_test_events")
    native = engines.open_source("spark:funnelkit_test_events")
    assert engines.engine_of(native) == "spark"
    classified = stages.classify(native, SALES)  # type: ignore[arg-type]
    assert stages.snapshot(classified, SALES).table["current"].to_list() == [0, 1, 0, 1, 0]
    with pytest.raises(DataError, match="Spark has no table 'funnelkit_test_nothing'"):
        engines.open_source("spark:funnelkit_test_nothing")


def check_spark_chained_lapses(spark: Any) -> None:
    native = sdf(spark, THREE_LAPSES_LOG)
    for as_of in (10, 30):
        out = stages.classify(native, THREE_LAPSES, as_of=lapse_day(as_of)).collect()
        got = dict(out.select("contact_id", "stage").iter_rows())
        assert tuple(got[c] for c in "abce") == THREE_LAPSES_STAGES[as_of]
    flows = stages.flows(native, THREE_LAPSES, start=lapse_day(4), end=lapse_day(30))
    assert flows.table.select("from_stage", "to_stage", "contacts").rows() == THREE_LAPSES_FLOWS


def check_spark_random_logs(spark: Any) -> None:
    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        log=logs((*VOCAB, *PRESET_VOCAB[:6]), max_size=25),
        contacts=contacts_tables,
        as_of=as_ofs,
        options=funnel_options(),
    )
    def check(
        log: pl.DataFrame,
        contacts: pl.DataFrame | None,
        as_of: datetime | None,
        options: dict[str, Any],
    ) -> None:
        native = sdf(spark, log)
        people = None if contacts is None else sdf(spark, contacts)
        same_classification(
            stages.classify(log, INBOUND, as_of=as_of, contacts=contacts),
            stages.classify(native, INBOUND, as_of=as_of, contacts=people),
        )
        steps = options.pop("steps")
        same_funnel(
            conversion.funnel(log, steps, min_size=2, **options),
            conversion.funnel(native, steps, min_size=2, **options),
        )

    check()


@spark_mark
@pytest.mark.slow
def test_spark_equals_polars(spark: Any, sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """One test, so that one worker starts the one Spark session of this module."""
    check_spark_table_source(spark)
    check_spark_weekly_metrics(spark, sample)
    check_spark_chained_lapses(spark)
    check_spark_random_logs(spark)
