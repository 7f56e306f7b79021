"""Stage entry, monthly periods and ``created_at`` cohorts on DuckDB and Spark equal polars.

The analyses of :mod:`funnelkit.conversion` given a DuckDB relation or a
Spark DataFrame read stages by entry (``stage_steps="entry"``), cut trends
and cohorts by calendar month and acquire cohorts at the contacts'
``created_at``, with the tables of the polars path: names, types, values.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import conversion
from funnelkit.conversion import Exclusion
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.errors import DefinitionError, MissingColumnError
from funnelkit.events import read_contacts, read_events
from tests.conftest import events_frame
from tests.engines import same_funnel, spark_only
from tests.strategies import Draws

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")
PRESETS = pytest.mark.parametrize("preset", [INBOUND, SALES], ids=["inbound", "sales"])
ENTRY: dict[str, Any] = {"stage_steps": "entry"}
EVIDENCE: dict[str, Any] = {"stage_steps": "evidence"}


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


def same_result(a: Any, b: Any) -> None:
    """Two trends, comparisons or cohort tables: the same table and the same options."""
    assert_frame_equal(a.table, b.table)
    assert a.to_dict() == b.to_dict()


def both(
    con: duckdb.DuckDBPyConnection,
    call: Any,
    events: pl.DataFrame,
    *args: Any,
    contacts: pl.DataFrame | None = None,
    **options: Any,
) -> tuple[Any, Any]:
    """Run ``call`` on the polars frames, then on DuckDB relations of the same rows."""
    extra = {} if contacts is None else {"contacts": contacts}
    expected = call(events, *args, **extra, **options)
    extra = {} if contacts is None else {"contacts": rel(con, contacts)}
    return expected, call(rel(con, events), *args, **extra, **options)


# --- the sample -----------------------------------------------------------------------------------
@PRESETS
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"order": "strict_increase"},
        {"order": "any"},
        {"first_entry": True, "by": "channel"},
        {"by": "segment", "contacts": True},
        {"since": "2026-08-01", "until": "2026-10-01", "contacts": True, "by": "channel"},
        {"exclusions": [Exclusion("unsubscribe", 1, 3)]},
    ],
    ids=["ordered", "strict", "any", "first-entry-by-event", "by-contact", "span", "exclusion"],
)
def test_sample_entry_funnels(
    con: duckdb.DuckDBPyConnection,
    sample: tuple[pl.DataFrame, pl.DataFrame],
    preset: Funnel,
    options: dict[str, Any],
) -> None:
    events, contacts = sample
    options = dict(options)
    people = contacts if options.pop("contacts", False) else None
    expected, got = both(
        con, conversion.funnel, events, preset, contacts=people, window="30d", **ENTRY, **options
    )
    assert expected.stage_steps == "entry"
    same_funnel(expected, got)


@PRESETS
def test_sample_entry_mixed_with_events_and_stage_exclusions(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame], preset: Funnel
) -> None:
    events, contacts = sample
    second, last = preset.stages[1], preset.stages[-1]
    steps = {"entered": second, "bought": "purchase", "won": last}
    options: dict[str, Any] = {"definition": preset, "window": "60d", "by": "channel", **ENTRY}
    same_funnel(*both(con, conversion.funnel, events, steps, contacts=contacts, **options))
    stage_exclusion = [Exclusion(preset.stages[2], 1, 2)]
    same_funnel(
        *both(
            con,
            conversion.funnel,
            events,
            ["page_view", last],
            exclusions=stage_exclusion,
            **options,
        )
    )


@PRESETS
def test_sample_entry_trends_and_comparisons(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame], preset: Funnel
) -> None:
    events, people = sample
    for period in ("day", "week", "month"):
        same_result(
            *both(
                con,
                conversion.conversion_over_time,
                events,
                preset,
                window="14d",
                period=period,
                **ENTRY,
            )
        )
    # contacts created without events enter the first stage at created_at there too
    options: dict[str, Any] = {"window": "14d", "since": "2026-08-01", "until": "2026-10-01"}
    with_people = both(
        con, conversion.conversion_over_time, events, preset, contacts=people, **options
    )
    same_result(*with_people)
    alone = conversion.conversion_over_time(events, preset, **options)
    first = pl.col("step") == 1
    assert (
        with_people[0].table.filter(first)["count"].sum() > alone.table.filter(first)["count"].sum()
    )
    same_result(
        *both(
            con,
            conversion.compare_periods,
            events,
            preset,
            window="14d",
            current="2026-10-05",
            **ENTRY,
        )
    )
    same_result(*both(con, conversion.week_over_week, events, preset, window="14d", **ENTRY))
    same_result(
        *both(con, conversion.week_over_week, events, preset, window="14d", contacts=people)
    )


@PRESETS
def test_sample_monthly_periods(
    con: duckdb.DuckDBPyConnection, sample: tuple[pl.DataFrame, pl.DataFrame], preset: Funnel
) -> None:
    events, _ = sample
    trend, got = both(
        con, conversion.conversion_over_time, events, preset, window="14d", period="month"
    )
    assert trend.table["period_start"].dt.day().unique().to_list() == [1]
    same_result(trend, got)
    same_result(
        *both(
            con,
            conversion.compare_periods,
            events,
            ["page_view", "purchase"],
            window="7d",
            period="month",
        )
    )
    cohorts, got = both(
        con, conversion.cohorts, events, preset.stages[-1], period="month", definition=preset
    )
    assert cohorts.table.height > 0
    same_result(cohorts, got)


@PRESETS
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_sample_cohorts_by_created_at(
    con: duckdb.DuckDBPyConnection,
    sample: tuple[pl.DataFrame, pl.DataFrame],
    preset: Funnel,
    period: str,
) -> None:
    events, contacts = sample
    target = preset.stages[-1]
    options: dict[str, Any] = {"period": period, "acquisition": "created_at", "horizon": "60d"}
    expected, got = both(
        con, conversion.cohorts, events, target, contacts=contacts, **options, **EVIDENCE
    )
    assert expected.acquisition == "created_at"
    same_result(expected, got)
    same_result(
        *both(
            con,
            conversion.cohorts,
            events,
            target,
            contacts=contacts,
            definition=preset,
            since="2026-08-01",
            **ENTRY,
            **options,
        )
    )
    same_result(
        *both(
            con,
            conversion.cohorts,
            events,
            target,
            contacts=contacts,
            definition=preset,
            period=period,
            **ENTRY,
        )
    )


# --- named rules ----------------------------------------------------------------------------------
def test_months_are_calendar_months_in_utc(con: duckdb.DuckDBPyConnection) -> None:
    """The last microsecond of January and the first of February: two months, in any zone."""
    log = events_frame(
        ("a", "2026-01-31T23:59:59.999999+00:00", "page_view"),
        ("b", "2026-02-01T00:00:00+00:00", "page_view"),
        ("b", "2026-02-28T23:00:00+00:00", "purchase"),
        ("c", "2024-02-29T12:00:00+00:00", "page_view"),
    )
    expected, got = both(
        con,
        conversion.conversion_over_time,
        log,
        ["page_view", "purchase"],
        window="30d",
        period="month",
    )
    same_result(expected, got)
    firsts = got.table.filter(pl.col("step") == 1)
    starts = firsts.filter(pl.col("count") > 0)["period_start"].to_list()
    assert starts == [
        datetime(2024, 2, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    ]
    same_result(*both(con, conversion.cohorts, log, "purchase", period="month", horizon="40d"))


def test_a_created_at_entry_has_no_event_breakdown(con: duckdb.DuckDBPyConnection) -> None:
    """A contact entering the first stage at its ``created_at`` has no events value: ``(none)``."""
    log = events_frame(
        ("a", "2026-03-02", "page_view", None, "ads"),
        ("b", "2026-03-03", "form_fill", None, "social"),
    )
    people = pl.DataFrame(
        {"contact_id": ["b", "z"], "created_at": [datetime(2026, 3, 1), datetime(2026, 3, 1)]},
        schema={"contact_id": pl.String, "created_at": pl.Datetime("us", "UTC")},
    )
    expected, got = both(
        con,
        conversion.funnel,
        log,
        INBOUND,
        contacts=people,
        window="30d",
        by="channel",
        min_size=1,
        **ENTRY,
    )
    assert expected.breakdown is not None
    assert "(none)" in expected.breakdown["segment"].to_list()
    same_funnel(expected, got)


def test_created_at_cohorts_of_the_entry_stage(con: duckdb.DuckDBPyConnection) -> None:
    """The first stage has no rule: every event is evidence for it."""
    log = events_frame(("a", "2026-03-02", "badge_scan"), ("b", "2026-03-04", "page_view"))
    people = pl.DataFrame(
        {"contact_id": ["a", "b"], "created_at": [datetime(2026, 3, 1), None]},
        schema={"contact_id": pl.String, "created_at": pl.Datetime("us", "UTC")},
    )
    expected, got = both(
        con,
        conversion.cohorts,
        log,
        INBOUND.stages[0],
        contacts=people,
        acquisition="created_at",
        period="day",
        horizon="3d",
        **EVIDENCE,
    )
    assert expected.table["cumulative_converted"].max() == 1
    same_result(expected, got)


def test_created_at_cohorts_need_a_created_at_column(con: duckdb.DuckDBPyConnection) -> None:
    log = events_frame(("a", "2026-03-02", "purchase"))
    people = pl.DataFrame({"contact_id": ["a"]})
    message = "acquisition='created_at' needs contacts= with a 'created_at' column"
    for events, contacts in ((log, people), (rel(con, log), rel(con, people))):
        with pytest.raises(MissingColumnError, match=message):
            conversion.cohorts(events, "purchase", acquisition="created_at", contacts=contacts)
        with pytest.raises(MissingColumnError, match=message):
            conversion.cohorts(events, "purchase", acquisition="created_at")


@pytest.mark.parametrize("stage_steps", ["entry", "evidence"])
def test_a_filter_of_the_wrong_type_is_refused_on_every_engine_and_reading(
    con: duckdb.DuckDBPyConnection, stage_steps: str
) -> None:
    """'amount > 0' on a Boolean column: the same refusal by entry and by evidence events."""
    log = events_frame(("a", "2026-03-02", "purchase", 1.0)).with_columns(pl.col("amount") > 0)
    message = r"stage 'client': key 'where' \(amount > 0\): column 'amount' holds Boolean"
    for events in (log, rel(con, log)):
        with pytest.raises(DefinitionError, match=message):
            conversion.funnel(events, SALES, window="30d", stage_steps=stage_steps)


# --- property tests: random logs ------------------------------------------------------------------
PRESET_VOCAB = (*sorted(INBOUND.event_names | SALES.event_names), "other")
DRAWS = Draws(datetime(2026, 7, 6, tzinfo=UTC), 90)
# one row per contact, as read_contacts gives them (where one id has two rows, polars
# reads the first and the engines the smallest value, a documented difference)
contacts_tables = DRAWS.contacts_tables.map(
    lambda c: None if c is None else c.unique("contact_id", keep="first", maintain_order=True)
)


@st.composite
def entry_steps(draw: st.DrawFn, preset: Funnel) -> tuple[Any, dict[str, Any]]:
    """Steps mixing the stages of ``preset`` (read by entry) and event names, and options."""
    stage = st.sampled_from(preset.stages)
    event = st.sampled_from(PRESET_VOCAB)
    steps = draw(
        st.one_of(
            st.just(preset),
            st.lists(st.one_of(stage, stage, event), min_size=1, max_size=4).filter(
                lambda items: any(not isinstance(i, str) for i in items)
            ),
        )
    )
    n = len(preset.stages) if isinstance(steps, Funnel) else len(steps)
    order = draw(st.sampled_from(["ordered", "strict_increase", "any"]))
    options: dict[str, Any] = {
        "window": draw(st.sampled_from(["1d", "10d", "60d"])),
        "order": order,
        "first_entry": draw(st.booleans()),
        "definition": preset,
        **ENTRY,
    }
    if order != "any" and n >= 2 and draw(st.booleans()):
        a = draw(st.integers(1, n - 1))
        b = draw(st.integers(a + 1, n))
        options["exclusions"] = [Exclusion(draw(st.one_of(stage, event)), a, b)]
    if draw(st.booleans()):
        start = draw(DRAWS.hours)
        options["since"] = DRAWS.day(start / 24)
        options["until"] = DRAWS.day((start + draw(st.integers(24, 60 * 24))) / 24)
    return steps, options


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), log=DRAWS.logs(PRESET_VOCAB), contacts=contacts_tables)
def test_duckdb_entry_funnels_equal_polars(
    con: duckdb.DuckDBPyConnection,
    data: st.DataObject,
    log: pl.DataFrame,
    contacts: pl.DataFrame | None,
) -> None:
    preset = data.draw(st.sampled_from([INBOUND, SALES]))
    steps, options = data.draw(entry_steps(preset))
    by = data.draw(st.sampled_from([None, "channel"]))
    same_funnel(
        *both(con, conversion.funnel, log, steps, contacts=contacts, by=by, min_size=1, **options)
    )


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    log=DRAWS.logs(PRESET_VOCAB),
    period=st.sampled_from(["day", "week", "month"]),
    as_of=DRAWS.as_ofs,
)
def test_duckdb_entry_and_monthly_trends_equal_polars(
    con: duckdb.DuckDBPyConnection,
    data: st.DataObject,
    log: pl.DataFrame,
    period: str,
    as_of: datetime | None,
) -> None:
    preset = data.draw(st.sampled_from([INBOUND, SALES]))
    if data.draw(st.booleans()):
        steps, options = data.draw(entry_steps(preset))
    else:
        steps, options = ["page_view", "purchase"], {"window": "10d"}
    same_result(
        *both(
            con,
            conversion.conversion_over_time,
            log,
            steps,
            period=period,
            as_of=as_of,
            **options,
        )
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    log=DRAWS.logs(PRESET_VOCAB),
    contacts=contacts_tables,
    period=st.sampled_from(["day", "week", "month"]),
    acquisition=st.sampled_from(["first_event", "created_at"]),
    as_of=DRAWS.as_ofs,
)
def test_duckdb_cohorts_equal_polars(
    con: duckdb.DuckDBPyConnection,
    data: st.DataObject,
    log: pl.DataFrame,
    contacts: pl.DataFrame | None,
    period: str,
    acquisition: str,
    as_of: datetime | None,
) -> None:
    preset = data.draw(st.sampled_from([INBOUND, SALES]))
    target = data.draw(st.one_of(st.sampled_from(preset.stages), st.sampled_from(PRESET_VOCAB)))
    options: dict[str, Any] = {"period": period, "acquisition": acquisition, "as_of": as_of}
    if not isinstance(target, str):
        options |= {"definition": preset} if data.draw(st.booleans()) else EVIDENCE
    if data.draw(st.booleans()):
        options["since"] = DRAWS.day(data.draw(DRAWS.hours) / 24)
    if acquisition == "created_at" and contacts is None:
        return
    options["horizon"] = data.draw(st.sampled_from(["3d", "30d"]))
    same_result(*both(con, conversion.cohorts, log, target, contacts=contacts, **options))


@spark_only
def test_spark_entry_months_and_created_at_equal_polars(
    spark: Any, sample: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    """On the run's one Spark session (``spark`` in ``tests/conftest.py``)."""
    events, contacts = sample
    native, people = (spark.createDataFrame(f.to_arrow()) for f in (events, contacts))
    steps = {"entered": INBOUND.stages[1], "bought": "purchase", "won": INBOUND.stages[-1]}
    options: dict[str, Any] = {"definition": INBOUND, "window": "60d", "by": "channel", **ENTRY}
    same_funnel(
        conversion.funnel(events, steps, contacts=contacts, **options),
        conversion.funnel(native, steps, contacts=people, **options),
    )
    for call, kwargs in (
        (conversion.conversion_over_time, {"period": "month", **ENTRY}),
        (conversion.compare_periods, {"current": "2026-10-05", **ENTRY}),
    ):
        same_result(
            call(events, SALES, window="14d", **kwargs),
            call(native, SALES, window="14d", **kwargs),
        )
    target = SALES.stages[-1]
    for kwargs in (
        {"acquisition": "created_at", "period": "month", **EVIDENCE},
        {"acquisition": "created_at", "definition": SALES, **ENTRY},
        {"acquisition": "first_event", "period": "month", "definition": SALES, **ENTRY},
    ):
        same_result(
            conversion.cohorts(events, target, contacts=contacts, horizon="30d", **kwargs),
            conversion.cohorts(native, target, contacts=people, horizon="30d", **kwargs),
        )
