"""Every public function gives the same tables on polars and on DuckDB, for random logs.

One property test per public function, every option drawn: the answer on a
DuckDB relation must be the polars answer, table for table (or the same error,
word for word).  A few random logs also go through Spark (marked ``spark``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import conversion, stages, weekly
from funnelkit.conversion import Exclusion, funnel_chains
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.errors import FunnelkitError
from funnelkit.weekly import IsoWeek
from tests.engines import (
    Engine,
    duckdb_engine,
    same_classification,
    same_funnel,
    spark_engine,
    spark_only,
)
from tests.strategies import VOCAB, Draws
from tests.strategies import definitions as random_definitions

INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")
PRESET_VOCAB = (*sorted(INBOUND.event_names | SALES.event_names), "list_import", "other")
START = datetime.fromisoformat("2026-07-06T00:00:00+00:00")  # a Monday
DRAWS = Draws(START, 90)
hours, as_ofs, logs = DRAWS.hours, DRAWS.as_ofs, DRAWS.logs
SEGMENTS = {"a": "b2b", "b": "b2c", "c": None, "d": "b2b", "x": "b2c"}

T = TypeVar("T")
# No shrinking: shrinking a failure costs minutes; a failure is shown as drawn (small logs).
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    report_multiple_bugs=False,
)
FEW = settings(SETTINGS, max_examples=12)


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def as_read(contacts: pl.DataFrame | None) -> pl.DataFrame | None:
    """Contacts as read_contacts gives them: one row per contact, and a ``segment`` attribute.

    (Where one id has two rows, polars reads the first and the engines the
    smallest value: a difference the engines document, not tested here.)
    """
    if contacts is None:
        return None
    return contacts.unique("contact_id", keep="first", maintain_order=True).with_columns(
        segment=pl.col("contact_id").replace_strict(SEGMENTS, return_dtype=pl.String)
    )


contacts_tables = DRAWS.contacts_tables.map(as_read)


def definitions() -> st.SearchStrategy[Funnel]:
    return random_definitions(4, (timedelta(days=1), timedelta(days=10)))


def same_outcome(
    on_polars: Callable[[], T], on_engine: Callable[[], T], same: Callable[[T, T], None]
) -> None:
    """Run both; the same result, or the same error with the same message.

    An engine error unlike the polars one is raised as it is (so that an
    ``xfail(raises=...)`` case sees it).
    """
    try:
        expected = on_polars()
    except FunnelkitError as error:
        try:
            on_engine()
        except FunnelkitError as engine_error:
            if type(engine_error) is not type(error) or str(engine_error) != str(error):
                raise
            return
        pytest.fail(f"polars raised {error!r}; the engine returned a result")
    same(expected, on_engine())


def same_tables(a: Any, b: Any) -> None:
    assert_frame_equal(a.table, b.table)
    assert a.to_dict() == b.to_dict()


# --- strategies ----------------------------------------------------------------------------------
step_specs = st.one_of(
    st.sampled_from(VOCAB), st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2, unique=True)
)
times = st.one_of(st.none(), hours.map(lambda h: day(h / 24)))


@st.composite
def chain_options(draw: st.DrawFn, steps: str) -> dict[str, Any]:
    """Steps and the options of the chain rule: ``steps`` is "events", "entry" or "evidence".

    "entry" gives a definition as the steps, read by entry (the default);
    "evidence" the same with ``stage_steps="evidence"``.
    """
    if steps == "events":
        chosen: Any = draw(st.lists(step_specs, min_size=1, max_size=4))
        n, vocab = len(chosen), VOCAB
        options: dict[str, Any] = {"steps": chosen}
    else:
        definition = draw(st.sampled_from([INBOUND, SALES]))
        n, vocab = len(definition.stages), PRESET_VOCAB
        options = {"steps": definition}
        if steps == "evidence":
            options["stage_steps"] = "evidence"
    order = draw(st.sampled_from(["ordered", "strict_increase", "any"]))
    options |= {
        "window": draw(st.sampled_from(["1d", "3d", "10d", "30d"])),
        "order": order,
        "first_entry": draw(st.booleans()),
        "rules": draw(st.sampled_from(["funnelkit", "clickhouse"])),
    }
    if order != "any" and n >= 2 and draw(st.booleans()):
        a = draw(st.integers(1, n - 1))
        b = draw(st.integers(a + 1, n))
        options["exclusions"] = [Exclusion(draw(st.sampled_from(vocab)), a, b)]
    since, until = draw(times), draw(times)
    if since is not None and until is not None and since >= until:
        since, until = until, since + timedelta(hours=1)
    options |= {"since": since, "until": until}
    return options


def log_for(steps: str) -> st.SearchStrategy[pl.DataFrame]:
    return logs((*VOCAB, "other")) if steps == "events" else logs(PRESET_VOCAB)


STEPS = ["events", "entry", "evidence"]
PERIODS = ["day", "week", "month"]


# --- stages: classify, snapshot, flows -----------------------------------------------------------
@pytest.mark.slow
@SETTINGS
@given(
    log=logs(PRESET_VOCAB),
    contacts=contacts_tables,
    as_of=as_ofs,
    funnel=st.sampled_from([INBOUND, SALES]),
    entry_times=st.booleans(),
)
def test_classify_and_snapshot(
    duckdb_con: Any,
    log: pl.DataFrame,
    contacts: pl.DataFrame | None,
    as_of: datetime | None,
    funnel: Funnel,
    entry_times: bool,
) -> None:
    on = duckdb_engine(duckdb_con)
    options: dict[str, Any] = {"as_of": as_of, "entry_times": entry_times}
    expected = stages.classify(log, funnel, contacts=contacts, **options)
    got = stages.classify(on(log), funnel, contacts=on(contacts), **options)
    same_classification(expected, got)
    assert_frame_equal(stages.snapshot(expected, funnel).table, stages.snapshot(got, funnel).table)


@pytest.mark.slow
@SETTINGS
@given(log=logs((*VOCAB, "other")), funnel=definitions(), as_of=as_ofs)
def test_classify_under_random_definitions(
    duckdb_con: Any, log: pl.DataFrame, funnel: Funnel, as_of: datetime | None
) -> None:
    on = duckdb_engine(duckdb_con)
    same_classification(
        stages.classify(log, funnel, as_of=as_of), stages.classify(on(log), funnel, as_of=as_of)
    )


@pytest.mark.slow
@SETTINGS
@given(
    log=logs((*VOCAB, "other")),
    funnel=st.one_of(definitions(), st.sampled_from([INBOUND, SALES])),
    contacts=contacts_tables,
    start=hours,
    length=st.integers(1, 60 * 24),
)
def test_flows(
    duckdb_con: Any,
    log: pl.DataFrame,
    funnel: Funnel,
    contacts: pl.DataFrame | None,
    start: int,
    length: int,
) -> None:
    """The engine classifies twice, polars once over both instants: the same flows."""
    on = duckdb_engine(duckdb_con)
    lo, hi = day(start / 24), day((start + length) / 24)
    same_outcome(
        lambda: stages.flows(log, funnel, start=lo, end=hi, contacts=contacts),
        lambda: stages.flows(on(log), funnel, start=lo, end=hi, contacts=on(contacts)),
        lambda a, b: assert_frame_equal(a.table, b.table),
    )


# --- funnels -------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("steps", STEPS)
@SETTINGS
@given(data=st.data())
def test_funnel(duckdb_con: Any, steps: str, data: st.DataObject) -> None:
    on = duckdb_engine(duckdb_con)
    log = data.draw(log_for(steps), label="log")
    contacts = data.draw(contacts_tables, label="contacts")
    options = data.draw(chain_options(steps), label="options")
    options |= {
        "by": data.draw(st.sampled_from([None, "channel", "segment"]), label="by"),
        "top": data.draw(st.sampled_from([None, 1, 10]), label="top"),
        "min_size": data.draw(st.sampled_from([0, 2, 30]), label="min_size"),
    }
    if options["by"] == "segment" and contacts is None:
        options["by"] = None
    same_outcome(
        lambda: conversion.funnel(log, contacts=contacts, **options),
        lambda: conversion.funnel(on(log), contacts=on(contacts), **options),
        same_funnel,
    )


@pytest.mark.slow
@FEW
@given(log=logs((*VOCAB, "other")), options=chain_options("events"))
def test_funnel_chains(duckdb_con: Any, log: pl.DataFrame, options: dict[str, Any]) -> None:
    on = duckdb_engine(duckdb_con)
    same_outcome(
        lambda: funnel_chains(log, **options).collect(),
        lambda: funnel_chains(on(log), **options).collect(),
        assert_frame_equal,
    )


# --- trends and comparisons ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("steps", STEPS)
@FEW
@given(data=st.data())
def test_conversion_over_time(
    duckdb_con: Any, steps: str, period: str, data: st.DataObject
) -> None:
    on = duckdb_engine(duckdb_con)
    log = data.draw(log_for(steps), label="log")
    options = data.draw(chain_options(steps), label="options")
    options |= {"period": period, "as_of": data.draw(times, label="as_of")}
    same_outcome(
        lambda: conversion.conversion_over_time(log, **options),
        lambda: conversion.conversion_over_time(on(log), **options),
        same_tables,
    )


@pytest.mark.slow
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("steps", STEPS)
@FEW
@given(data=st.data())
def test_compare_periods(duckdb_con: Any, steps: str, period: str, data: st.DataObject) -> None:
    on = duckdb_engine(duckdb_con)
    log = data.draw(log_for(steps), label="log")
    options = data.draw(chain_options(steps), label="options")
    options |= {
        "period": period,
        "current": data.draw(times, label="current"),
        "as_of": data.draw(times, label="as_of"),
        "alpha": data.draw(st.sampled_from([0.05, 0.2]), label="alpha"),
    }
    same_outcome(
        lambda: conversion.compare_periods(log, **options),
        lambda: conversion.compare_periods(on(log), **options),
        same_tables,
    )


@pytest.mark.slow
@pytest.mark.parametrize("steps", STEPS)
@FEW
@given(data=st.data())
def test_week_over_week(duckdb_con: Any, steps: str, data: st.DataObject) -> None:
    on = duckdb_engine(duckdb_con)
    log = data.draw(log_for(steps), label="log")
    options = data.draw(chain_options(steps), label="options")
    options |= {"current": data.draw(times, label="current"), "as_of": data.draw(times)}
    same_outcome(
        lambda: conversion.week_over_week(log, **options),
        lambda: conversion.week_over_week(on(log), **options),
        same_tables,
    )


# --- cohorts -------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("acquisition", ["first_event", "created_at"])
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("target", STEPS)
@FEW
@given(data=st.data())
def test_cohorts(
    duckdb_con: Any, target: str, period: str, acquisition: str, data: st.DataObject
) -> None:
    on = duckdb_engine(duckdb_con)
    log = data.draw(log_for(target), label="log")
    contacts = data.draw(contacts_tables, label="contacts")
    options: dict[str, Any] = {
        "period": period,
        "acquisition": acquisition,
        "horizon": data.draw(st.sampled_from(["3d", "14d", "8w"]), label="horizon"),
        "as_of": data.draw(times, label="as_of"),
    }
    since, until = data.draw(times, label="since"), data.draw(times, label="until")
    if since is None or until is None or since < until:
        options |= {"since": since, "until": until}
    if target == "events":
        options["target"] = data.draw(step_specs, label="target")
    else:
        definition = data.draw(st.sampled_from([INBOUND, SALES]), label="definition")
        stage = data.draw(st.sampled_from(definition.stages[1:]), label="stage")
        options["target"] = stage
        if target == "entry":
            options |= {"stage_steps": "entry", "definition": definition}
    if acquisition == "created_at" and contacts is None:
        contacts = pl.DataFrame(
            {"contact_id": ["a"], "created_at": [START]},
            schema={"contact_id": pl.String, "created_at": pl.Datetime("us", "UTC")},
        )
    if acquisition == "created_at":
        options["contacts"] = contacts
        engine_options = options | {"contacts": on(contacts)}
    else:
        engine_options = options
    same_outcome(
        lambda: conversion.cohorts(log, **options),
        lambda: conversion.cohorts(on(log), **engine_options),
        same_tables,
    )


# --- the weekly report's numbers -----------------------------------------------------------------
def same_metrics(a: weekly.WeeklyMetrics, b: weekly.WeeklyMetrics) -> None:
    """Every number and table of two weekly reports: KPIs, sections, trend, drivers, quality."""
    assert a.to_json() == b.to_json()
    assert repr(a.headline) == repr(b.headline)  # repr: a rate without trials is NaN
    assert_frame_equal(a.snapshot.table, b.snapshot.table)
    assert_frame_equal(a.flows.table, b.flows.table)
    assert_frame_equal(a.entries, b.entries)
    same_funnel(a.conversion, b.conversion)
    assert_frame_equal(a.trend.table, b.trend.table)
    assert_frame_equal(a.cohorts.table, b.cohorts.table)
    assert (a.comparison is None) == (b.comparison is None)
    if a.comparison is not None and b.comparison is not None:
        assert_frame_equal(a.comparison.table, b.comparison.table)
    assert (a.drivers is None) == (b.drivers is None)
    if a.drivers is not None and b.drivers is not None:
        assert_frame_equal(a.drivers.table, b.drivers.table)
    assert a.quality == b.quality


@pytest.mark.slow
@SETTINGS
@given(
    log=logs(PRESET_VOCAB, max_size=40),
    contacts=contacts_tables,
    as_of=hours.map(lambda h: day(h / 24)),
    funnel=st.sampled_from([INBOUND, SALES]),
    limit=st.sampled_from([1, 10]),
    stage=st.sampled_from([None, "client"]),
)
def test_stalled_contacts_and_last_complete_week(
    duckdb_con: Any,
    log: pl.DataFrame,
    contacts: pl.DataFrame | None,
    as_of: datetime,
    funnel: Funnel,
    limit: int,
    stage: str | None,
) -> None:
    on = duckdb_engine(duckdb_con)
    options: dict[str, Any] = {"as_of": as_of, "limit": limit, "stage": stage}
    same_outcome(
        lambda: weekly.stalled_contacts(log, funnel, contacts=contacts, **options),
        lambda: weekly.stalled_contacts(on(log), funnel, contacts=on(contacts), **options),
        assert_frame_equal,
    )
    same_outcome(
        lambda: weekly.last_complete_week(log),
        lambda: weekly.last_complete_week(on(log)),
        lambda a, b: None if a == b else pytest.fail(f"{a} != {b}"),
    )


@pytest.mark.slow
@FEW
@given(
    log=logs(PRESET_VOCAB, max_size=40),
    contacts=contacts_tables,
    week=st.integers(2, 12),
    funnel=st.sampled_from([INBOUND, SALES]),
    window=st.sampled_from(["7d", "14d"]),
    weeks_of_history=st.sampled_from([1, 4]),
    breakdown=st.sampled_from([None, "channel", "segment"]),
)
def test_weekly_metrics(
    duckdb_con: Any,
    log: pl.DataFrame,
    contacts: pl.DataFrame | None,
    week: int,
    funnel: Funnel,
    window: str,
    weeks_of_history: int,
    breakdown: str | None,
) -> None:
    on = duckdb_engine(duckdb_con)
    if breakdown == "segment" and contacts is None:
        breakdown = None
    options: dict[str, Any] = {
        "week": IsoWeek.of(day(7 * week)),
        "window": window,
        "weeks_of_history": weeks_of_history,
        "breakdown": breakdown,
    }
    same_outcome(
        lambda: weekly.weekly_metrics(log, funnel, contacts=contacts, **options),
        lambda: weekly.weekly_metrics(on(log), funnel, contacts=on(contacts), **options),
        same_metrics,
    )


# --- Spark: a few random logs --------------------------------------------------------------------
@spark_only
def test_spark_random_logs(spark: Any) -> None:
    on: Engine = spark_engine(spark)

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        log=logs((*VOCAB, *PRESET_VOCAB[:6]), max_size=25),
        contacts=contacts_tables,
        as_of=as_ofs,
        options=chain_options("events"),
        by=st.sampled_from([None, "channel"]),
    )
    def check(
        log: pl.DataFrame,
        contacts: pl.DataFrame | None,
        as_of: datetime | None,
        options: dict[str, Any],
        by: str | None,
    ) -> None:
        same_classification(
            stages.classify(log, INBOUND, as_of=as_of, contacts=contacts),
            stages.classify(on(log), INBOUND, as_of=as_of, contacts=on(contacts)),
        )
        same_outcome(
            lambda: conversion.funnel(log, min_size=2, by=by, **options),
            lambda: conversion.funnel(on(log), min_size=2, by=by, **options),
            same_funnel,
        )

    check()
