"""Classification is alike on DuckDB and polars: the core's split of rules, the same score.

:func:`funnelkit.core.classify.plan_conditions` splits a definition's conditions for
every engine, and the decaying score is cut in the blocks of
:data:`funnelkit.core.classify.SCORE_BLOCK` half-lives on DuckDB as on polars.  Random
definitions with points rules of tiny and huge half-lives, points worth the
threshold on their own, filters and lapses classify alike on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import stages
from funnelkit.conversion import funnel
from funnelkit.core.classify import (
    SCORE_BLOCK,
    SCORE_REACH,
    Plan,
    contact_aggregates,
    finish,
    plan_conditions,
)
from funnelkit.definitions import EventRule, Funnel, PointsRule, Stage, load_funnel
from funnelkit.engine_classify import classify_query
from funnelkit.engine_frames import engine_events
from funnelkit.errors import DataError
from tests.conftest import events_frame
from tests.strategies import VOCAB, Draws, definitions, event_rules, filters

DRAWS = Draws(datetime(2026, 7, 6, tzinfo=UTC), 90)
HALF_LIVES = (
    None,
    timedelta(seconds=1),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=30),
    timedelta(days=36_525),  # the longest duration a definition accepts
)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'Asia/Tokyo'")
    yield connection
    connection.close()


def rel(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> duckdb.DuckDBPyRelation:
    return con.from_arrow(frame.to_arrow())


def same_classification(a: pl.LazyFrame, b: pl.LazyFrame) -> None:
    assert_frame_equal(a.collect().sort("contact_id"), b.collect().sort("contact_id"))


points_rules = st.builds(
    PointsRule,
    points=st.dictionaries(
        st.sampled_from(VOCAB), st.sampled_from([0.5, 1, 2, 3, 5, 1e9]), min_size=1, max_size=3
    ),
    threshold=st.sampled_from([1, 2.5, 3, 5]),
    half_life=st.sampled_from(HALF_LIVES),
    where=filters,
)


#: Definitions of 2 to 4 stages, points rules more often than events rules.
random_definitions = definitions(
    4,
    [timedelta(hours=1), timedelta(days=5)],
    rules=st.one_of(points_rules, points_rules, event_rules),
)


def test_points_worth_the_threshold_alone_are_simple_evidence() -> None:
    funnel = Funnel(
        "split",
        (
            Stage("s1"),
            Stage("s2", conditions=(PointsRule({"e1": 5, "e2": 1}, 3, timedelta(hours=1)),)),
        ),
    )
    simple, rest = plan_conditions(funnel)
    assert simple == ((2, EventRule(("e1",))),)
    assert rest == ((2, PointsRule({"e2": 1}, 3, timedelta(hours=1))),)
    assert SCORE_BLOCK == 512.0
    assert SCORE_REACH == 64.0


def test_scores_carry_across_a_block_boundary(con: duckdb.DuckDBPyConnection) -> None:
    """Two points a second apart, the second one in the next block of half-lives."""
    half_life = timedelta(seconds=1)
    funnel = Funnel(
        "carry", (Stage("s1"), Stage("s2", conditions=(PointsRule({"e1": 1}, 1.9, half_life),)))
    )
    anchor = datetime(2000, 1, 1, tzinfo=UTC)
    boundary = anchor + timedelta(seconds=SCORE_BLOCK * 10_000_000)
    log = events_frame(
        ("a", (boundary - timedelta(milliseconds=1)).isoformat(), "e1"),
        ("a", (boundary + timedelta(milliseconds=1)).isoformat(), "e1"),
        ("b", (boundary - timedelta(seconds=2)).isoformat(), "e1"),
        ("b", (boundary + timedelta(seconds=2)).isoformat(), "e1"),
    )
    expected = stages.classify(log, funnel)
    assert expected.collect().sort("contact_id")["stage"].to_list() == ["s2", "s1"]
    same_classification(expected, stages.classify(rel(con, log), funnel))


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=DRAWS.logs((*VOCAB, "other")),
    funnel=random_definitions,
    contacts=DRAWS.contacts_tables,
    as_of=DRAWS.as_ofs,
    entry_times=st.booleans(),
)
def test_duckdb_classification_of_points_rules_equals_polars(
    con: duckdb.DuckDBPyConnection,
    log: pl.DataFrame,
    funnel: Funnel,
    contacts: pl.DataFrame | None,
    as_of: datetime | None,
    entry_times: bool,
) -> None:
    people = None if contacts is None else rel(con, contacts)
    options = {"as_of": as_of, "entry_times": entry_times}
    same_classification(
        stages.classify(log, funnel, contacts=contacts, **options),
        stages.classify(rel(con, log), funnel, contacts=people, **options),
    )


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=DRAWS.logs((*VOCAB, "other")),
    funnel=random_definitions,
    start=DRAWS.hours,
    length=st.integers(1, 60 * 24),
)
def test_duckdb_flows_of_points_rules_equal_polars(
    con: duckdb.DuckDBPyConnection, log: pl.DataFrame, funnel: Funnel, start: int, length: int
) -> None:
    lo, hi = DRAWS.day(start / 24), DRAWS.day((start + length) / 24)
    expected = stages.flows(log, funnel, start=lo, end=hi)
    got = stages.flows(rel(con, log), funnel, start=lo, end=hi)
    assert_frame_equal(expected.table, got.table)


def test_a_preset_still_classifies_alike(con: duckdb.DuckDBPyConnection) -> None:
    inbound = load_funnel("inbound")
    log = events_frame(
        ("a", "2026-03-02", "page_view"),
        ("a", "2026-03-02 10:00", "page_view"),
        ("b", "2026-03-02", "ebook_download"),
    )
    same_classification(stages.classify(log, inbound), stages.classify(rel(con, log), inbound))


# Text a CSV export may hold where numbers are expected: numbers every engine reads, blanks
# and 'NaN' (unknown amounts), and text that is no number (refused, named with its rows).
NUMBER_TEXTS = ("5", " 12.5 ", "-3", "0", "1e3", "+.5", "5.", "inf", "-Infinity", "", "  ", "NaN")
NOT_NUMBERS = ("n/a", "1 200,50", "1_000", "0x10", "12 EUR", "e3", ".", "١٢")


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=DRAWS.logs(("purchase", "like", "form_fill")),
    drawn=st.lists(st.one_of(st.none(), st.sampled_from(NUMBER_TEXTS))),
    bad=st.lists(st.tuples(st.integers(0, 99), st.sampled_from(NOT_NUMBERS)), max_size=3),
    order=st.sampled_from(["ordered", "consecutive"]),
)
def test_text_numbers_are_read_alike_on_duckdb_and_polars(
    con: duckdb.DuckDBPyConnection,
    log: pl.DataFrame,
    drawn: list[str | None],
    bad: list[tuple[int, str]],
    order: str,
) -> None:
    """Classify, flows and the funnel: the same numbers, or the same message, on both."""
    sales = load_funnel("sales")
    amounts = (drawn + [None] * log.height)[: log.height]
    for row, text in bad:
        if log.height:
            amounts[row % log.height] = text
    log = log.with_columns(pl.Series("amount", amounts, dtype=pl.String))
    numbers = log.with_columns(
        pl.col("amount").str.strip_chars().cast(pl.Float64, strict=False).fill_nan(None)
    )
    lo, hi = DRAWS.day(10), DRAWS.day(40)
    runs = {
        "classify": lambda events: stages.classify(events, sales).collect().sort("contact_id"),
        "flows": lambda events: stages.flows(events, sales, start=lo, end=hi).table,
        "funnel": lambda events: funnel(events, sales, window="30d", order=order).table,
    }
    refused = any(text in NOT_NUMBERS for text in amounts)
    for name, run in runs.items():
        if refused:
            with pytest.raises(DataError, match="compares column 'amount' with numbers") as info:
                run(log)
            with pytest.raises(DataError) as on_duckdb:
                run(rel(con, log))
            assert str(on_duckdb.value) == str(info.value), name
        else:
            expected = run(numbers)
            assert_frame_equal(run(log), expected)
            assert_frame_equal(run(rel(con, log)), expected)


def test_duckdb_builds_no_stage_text_nor_a_second_rank_for_classify(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """The Enum comes from the rank, the rank from the entry times: the query carries neither.

    With entry times the aggregation holds no per-contact maximum of the rank
    (the deepest stage whose entry time is set is that maximum), and
    ``classify`` asks the core for no stage text; the rows stay those of
    ``classify_query``, which keeps its text column.
    """
    sales = load_funnel("sales")
    frame = events_frame(
        ("a", "2024-01-01", "form_fill"),
        ("a", "2024-01-03", "meeting"),
        ("b", "2024-01-02", "page_view"),
    )
    ev = engine_events(rel(con, frame))
    plan = Plan.of(sales)
    for entry_times in (True, False):
        per_contact = contact_aggregates(ev.lf, plan, None, entry_times=entry_times, seen=False)
        assert ("_r" in per_contact.collect_schema().names()) is not entry_times
        out = finish(per_contact, plan, None, entry_times=entry_times, stage_text=False)
        sql = nw.to_native(out).sql_query()
        assert "stage" not in out.collect_schema().names()
        assert "'qualified_prospect'" not in sql
        kept = stages.classify(frame, sales, entry_times=entry_times).collect()
        query = classify_query(rel(con, frame), sales, entry_times=entry_times).pl()
        assert_frame_equal(
            kept.with_columns(pl.col("stage").cast(pl.String)).sort("contact_id"),
            query.with_columns(
                pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                for c in query.columns
                if c.endswith("_at")
            ).sort("contact_id"),
        )
