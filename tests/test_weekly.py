"""The weekly report's numbers: ISO weeks and :func:`funnelkit.weekly.weekly_metrics`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import conversion
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.durations import parse_duration
from funnelkit.errors import EmptyInputError, ParameterError
from funnelkit.events import read_events
from funnelkit.stages import classify, snapshot
from funnelkit.weekly import (
    FEW_STAGE_ENTRIES_IN_WEEK,
    METRICS_DECIMALS,
    MIN_SEGMENT,
    NO_EVENTS_IN_WEEK,
    NO_PREVIOUS_WEEK,
    DataWarning,
    IsoWeek,
    WeeklyMetrics,
    _count_test,
    last_closed_week,
    last_complete_week,
    parse_week,
    stalled_contacts,
    stalled_stage,
    week_bounds,
    week_range,
    weekly_metrics,
)
from tests.conftest import events_frame
from tests.engines import Engine, on_spark
from tests.strategies import Draws, definitions

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

UTC = dt.UTC


def events(*rows: tuple[str, dt.datetime, str]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "contact_id": pl.String,
            "occurred_at": pl.Datetime("us", "UTC"),
            "event": pl.String,
        },
        orient="row",
    )


# --- ISO weeks ----------------------------------------------------------------
def test_week_runs_from_monday_midnight_utc_to_the_next_monday() -> None:
    start, end = week_bounds("2026-W46")
    assert start == dt.datetime(2026, 11, 9, tzinfo=UTC)
    assert end == dt.datetime(2026, 11, 16, tzinfo=UTC)
    assert start.isoweekday() == 1 and end - start == dt.timedelta(days=7)


@pytest.mark.parametrize("text", ["2026-W46", "2026W46", "2026-w46", " 2026-W46 "])
def test_week_formats_read(text: str) -> None:
    assert parse_week(text) == IsoWeek(2026, 46)


@pytest.mark.parametrize("text", ["2026-46", "W46", "2026-11-09", "last week", "2026-W"])
def test_bad_week_format_names_the_parameter(text: str) -> None:
    with pytest.raises(ParameterError, match=r"week: .* is not an ISO week; .* e\.g\. '2026-W46'"):
        parse_week(text)


def test_week_number_must_exist_in_its_year() -> None:
    assert str(parse_week("2026-W53")) == "2026-W53"  # 2026 has 53 ISO weeks
    with pytest.raises(ParameterError, match=r"week: 2027 has 52 ISO weeks, there is no week 53"):
        parse_week("2027-W53")
    with pytest.raises(ParameterError, match=r"there is no week 0"):
        parse_week("2026-W00")


def test_week_of_a_moment_uses_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    # Monday 00:30 in Paris is still Sunday in UTC: the previous week
    assert IsoWeek.of(dt.datetime(2026, 11, 16, 0, 30, tzinfo=paris)) == IsoWeek(2026, 46)
    assert IsoWeek.of(dt.date(2026, 11, 16)) == IsoWeek(2026, 47)


def test_iso_year_differs_from_calendar_year_at_the_edges() -> None:
    assert IsoWeek.of(dt.date(2027, 1, 1)) == IsoWeek(2026, 53)
    assert IsoWeek.of(dt.date(2025, 12, 29)) == IsoWeek(2026, 1)


def test_week_range_is_inclusive_and_crosses_years() -> None:
    assert [str(w) for w in week_range("2026-W52", "2027-W01")] == [
        "2026-W52",
        "2026-W53",
        "2027-W01",
    ]
    assert week_range("2026-W46", "2026-W46") == [IsoWeek(2026, 46)]


def test_week_range_backwards_names_the_option() -> None:
    with pytest.raises(ParameterError, match=r"--to: 2026-W40 comes before --from 2026-W46"):
        week_range("2026-W46", "2026-W40")


@settings(max_examples=80, deadline=None)
@given(day=st.dates(min_value=dt.date(2000, 1, 3), max_value=dt.date(2090, 12, 31)))
def test_week_contains_its_days_and_round_trips(day: dt.date) -> None:
    week = IsoWeek.of(day)
    moment = dt.datetime.combine(day, dt.time(12), tzinfo=UTC)
    assert week.start <= moment < week.end
    assert parse_week(str(week)) == week
    assert week.shift(1).start == week.end
    assert week.shift(-1).end == week.start


# --- last complete week -------------------------------------------------------
@on_spark
def test_data_ending_on_a_sunday_makes_that_week_complete(engine: Engine) -> None:
    df = events(
        ("a", dt.datetime(2026, 11, 2, 9, tzinfo=UTC), "page_view"),
        ("a", dt.datetime(2026, 11, 22, 23, 59, tzinfo=UTC), "like"),
    )
    assert last_complete_week(engine(df)) == IsoWeek(2026, 47)


def test_data_ending_mid_week_reports_the_week_before(engine: Engine) -> None:
    df = events(("a", dt.datetime(2026, 11, 25, 10, tzinfo=UTC), "like"))
    assert last_complete_week(engine(df)) == IsoWeek(2026, 47)


def test_data_ending_early_monday_reports_the_week_before(engine: Engine) -> None:
    df = events(("a", dt.datetime(2026, 11, 23, 0, 0, tzinfo=UTC), "like"))
    assert last_complete_week(engine(df)) == IsoWeek(2026, 47)


def test_last_complete_week_of_no_event_is_an_error(engine: Engine) -> None:
    with pytest.raises(EmptyInputError, match=r"week: the events hold no row"):
        last_complete_week(engine(events()))


@settings(max_examples=60, deadline=None)
@given(
    last=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    )
)
def test_last_complete_week_matches_a_day_by_day_reference(last: dt.datetime) -> None:
    # reference: walk back from the last event's day to the latest Sunday on or before it
    day = last.date()
    while day.isoweekday() != 7:
        day -= dt.timedelta(days=1)
    expected = IsoWeek.of(day)
    df = events(("a", last - dt.timedelta(days=3), "like"), ("a", last, "like"))
    assert last_complete_week(df) == expected
    assert expected.end <= last + dt.timedelta(days=1)


# --- weekly_metrics on a hand-made timeline ----------------------------------
TINY = Funnel.from_toml(
    """
name = "tiny"
[[stages]]
id = "contact"
labels = { en = "Contact", fr = "Contact" }
[[stages]]
id = "lead"
labels = { en = "Lead", fr = "Lead" }
events = ["form_fill"]
[[stages]]
id = "client"
labels = { en = "Client", fr = "Client" }
events = ["purchase"]
"""
)
W46 = "2026-W46"  # Monday 2026-11-09 to Monday 2026-11-16 (excluded)


def timeline() -> pl.DataFrame:
    return events_frame(
        ("a", "2026-11-02 10:00", "page_view"),  # W45: a new contact
        ("a", "2026-11-10 10:00", "form_fill"),  # W46: a becomes a lead...
        ("a", "2026-11-12 10:00", "purchase"),  # ... and a client
        ("b", "2026-11-10 12:00", "page_view"),  # W46: new contact
        ("c", "2026-11-04 09:00", "purchase"),  # W45: walk-in buyer, skips to client
        ("d", "2026-11-16 00:00", "form_fill"),  # W47's first instant: ignored for W46
        ("e", "2026-11-15 23:59:59", "page_view"),  # W46's last second
        ("f", "2026-11-09 00:00", "page_view"),  # W46's first instant
    )


@pytest.fixture(scope="module")
def tiny_metrics() -> WeeklyMetrics:
    return weekly_metrics(timeline(), TINY, week=W46, window="7d", weeks_of_history=2)


@pytest.fixture
def metrics_on(engine: Engine) -> WeeklyMetrics:
    """The metrics of :func:`tiny_metrics`, computed on every engine."""
    return weekly_metrics(engine(timeline()), TINY, week=W46, window="7d", weeks_of_history=2)


@on_spark
def test_counts_are_contacts_first_reaching_each_stage_in_the_week(
    metrics_on: WeeklyMetrics, tiny_metrics: WeeklyMetrics
) -> None:
    got = {k.name: (k.value, k.previous) for k in metrics_on.headline if k.kind == "count"}
    assert got == {
        "new_contacts": (3, 2),  # b, e, f this week; a, c the week before
        "reached_lead": (1, 1),  # a this week; c (by skipping) the week before
        "reached_client": (1, 1),
    }
    assert metrics_on.to_json() == tiny_metrics.to_json()


def test_the_week_includes_its_first_instant_and_excludes_its_end(
    metrics_on: WeeklyMetrics,
) -> None:
    q = metrics_on.quality
    assert (q.events_before_week, q.events_in_week, q.events_after_week) == (2, 5, 1)
    assert q.rows_read == q.rows_kept == 8


def test_snapshot_is_as_of_the_end_of_the_week(metrics_on: WeeklyMetrics) -> None:
    table = metrics_on.snapshot.table
    assert table["at_or_past"].to_list() == [5, 2, 2]  # d is not known yet
    expected = snapshot(classify(timeline(), TINY, as_of="2026-11-15T23:59:59.999999Z"), TINY)
    assert table.equals(expected.table)


def test_flows_go_from_the_start_of_the_week_to_its_end(metrics_on: WeeklyMetrics) -> None:
    rows = metrics_on.flows.table.select("from_stage", "to_stage", "contacts").rows()
    assert sorted(rows, key=str) == sorted(
        [(None, "contact", 3), ("contact", "client", 1), ("client", "client", 1)], key=str
    )


def test_entries_cover_the_history_weeks(metrics_on: WeeklyMetrics) -> None:
    assert metrics_on.entries["week"].unique().sort().to_list() == ["2026-W45", W46]
    assert metrics_on.entries.height == 2 * 3  # every stage, zeros included


def test_metrics_json_is_strict_json_and_deterministic(tiny_metrics: WeeklyMetrics) -> None:
    text = tiny_metrics.to_json()
    data = json.loads(text)
    json.dumps(data, allow_nan=False)
    assert data["week"] == W46
    assert data["week_start"] == "2026-11-09T00:00:00+00:00"
    assert data["as_of"] == data["week_end"] == "2026-11-16T00:00:00+00:00"
    assert data["funnel"]["name"] == "tiny"
    assert [s["id"] for s in data["funnel"]["stages"]] == ["contact", "lead", "client"]
    assert data["funnel"]["stages"][1]["rule"] == "form_fill"
    assert data["rows"]["events_after_week_ignored"] == 1
    assert data["parameters"]["window_days"] == 7
    again = weekly_metrics(timeline(), TINY, week=W46, window="7d", weeks_of_history=2)
    assert again.to_json() == text


def _floats(value: object, key: str = "") -> list[tuple[str, float]]:
    """Return every ``(key, float)`` of a JSON document."""
    if isinstance(value, float):
        return [(key, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _floats(v, k)]
    if isinstance(value, list):
        return [pair for v in value for pair in _floats(v, key)]
    return []


def test_metrics_json_rounds_shares_and_rates_to_six_decimals() -> None:
    # W46: three new contacts, one of whom becomes a lead and a client on day 0;
    # W45: three more, one a lead, so that W46 has a previous week to compare with
    df = events_frame(
        ("h", "2026-11-03 10:00", "form_fill"),
        ("i", "2026-11-03 11:00", "page_view"),
        ("j", "2026-11-04 11:00", "page_view"),
        ("a", "2026-11-10 10:00", "form_fill"),
        ("a", "2026-11-10 12:00", "purchase"),
        ("b", "2026-11-10 11:00", "page_view"),
        ("g", "2026-11-11 09:00", "page_view"),
    )
    m = weekly_metrics(df, TINY, week=W46, window="7d", weeks_of_history=1)
    data = json.loads(m.to_json())
    share = m.cohorts.table.filter(pl.col("day") == 0)["share"].item()
    assert share != 1 / 3  # 1 - (1 - 1/3): the Kaplan-Meier product's float noise
    (cohort,) = data["cohorts"]
    assert cohort["share_day_0"] == round(share, METRICS_DECIMALS) == 0.333333
    (lead,) = [row for row in data["snapshot"] if row["stage"] == "lead"]
    assert lead["overall_conversion"] == 0.333333
    assert data["conversion"]["steps"][1]["conversion_from_first"] == 0.333333
    floats = _floats(data)
    assert all(v == round(v, METRICS_DECIMALS) for k, v in floats if k != "p_value")
    # p-values keep full precision: a small one would read 0
    p_values = [k.p_value for k in m.headline]
    assert [k["p_value"] for k in data["headline"]] == p_values
    assert any(p is not None and p != round(p, METRICS_DECIMALS) for p in p_values)


def test_write_json_writes_the_same_text(tiny_metrics: WeeklyMetrics, tmp_path: Path) -> None:
    path = tiny_metrics.write_json(tmp_path / "metrics.json")
    assert path.read_text(encoding="utf-8") == tiny_metrics.to_json()


def test_set_aside_rows_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "contact_id,occurred_at,event\n"
        "a,2026-11-10T10:00:00Z,form_fill\n"
        "a,2026-11-10T10:00:00Z,form_fill\n"
        ",2026-11-10T11:00:00Z,page_view\n"
        "b,someday,page_view\n"
    )
    log = read_events(path)
    m = weekly_metrics(log, TINY, week=W46, window="7d", weeks_of_history=1)
    assert m.quality.rows_read == 4 and m.quality.rows_kept == 1
    assert m.quality.duplicates == 1
    assert m.quality.set_aside_by_reason == {
        "null_contact_id": 1,
        "bad_timestamp": 1,
        "duplicate": 1,
    }
    assert m.to_dict()["rows"]["source"] == str(path)


def test_contacts_without_events_count_as_new_contacts(engine: Engine) -> None:
    people = pl.DataFrame(
        {"contact_id": ["z"], "created_at": [dt.datetime(2026, 11, 11, tzinfo=UTC)]}
    )
    m = weekly_metrics(engine(timeline()), TINY, week=W46, contacts=engine(people), window="7d")
    assert m.kpi("new_contacts").value == 4
    assert m.quality.contacts_read == 1


def test_a_funnel_can_be_named_by_preset() -> None:
    df = timeline().with_columns(amount=pl.lit(10.0))
    m = weekly_metrics(df, "sales", week=W46, window="7d", weeks_of_history=1)
    assert m.funnel.name == "sales"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": "0d"}, r"window: the conversion window must be positive"),
        ({"window": "a week"}, r"window: cannot read 'a week' as a duration"),
        ({"weeks_of_history": 0}, r"weeks_of_history: expected at least 1"),
        ({"week": "2026-46"}, r"week: '2026-46' is not an ISO week"),
    ],
)
def test_bad_options_name_the_parameter(options: dict[str, object], message: str) -> None:
    kwargs: dict[str, object] = {"week": W46, **options}
    with pytest.raises(ParameterError, match=message):
        weekly_metrics(timeline(), TINY, **kwargs)  # type: ignore[arg-type]


def test_unknown_headline_number_suggests_a_name(tiny_metrics: WeeklyMetrics) -> None:
    with pytest.raises(ParameterError, match=r"no headline number 'new_contact'.*'new_contacts'"):
        tiny_metrics.kpi("new_contact")


def test_labels_follow_the_language(tiny_metrics: WeeklyMetrics) -> None:
    en = tiny_metrics.headline_table("en")["label"].to_list()
    fr = tiny_metrics.headline_table("fr")["label"].to_list()
    assert en[:2] == ["New contacts", "Reached: Lead"]
    assert fr[:2] == ["Nouveaux contacts", "Nouveaux : Lead"]


# --- the change test for counts ----------------------------------------------
def test_count_change_inside_the_noise() -> None:
    p_value, verdict = _count_test(100, 110)
    # z = (110 - 100) / sqrt(210) = 0.690, two-sided normal p-value
    assert verdict == "within noise" and p_value == pytest.approx(0.4902, abs=1e-4)


def test_count_change_outside_the_noise() -> None:
    p_value, verdict = _count_test(100, 160)
    assert verdict == "increase" and p_value < 0.001
    assert _count_test(160, 100)[1] == "decrease"


def test_small_counts_get_no_verdict() -> None:
    assert _count_test(1, 4)[1] == "too few"
    assert _count_test(0, 0) == (1.0, "too few")
    assert _count_test(3, 0)[1] == "too few"
    assert _count_test(5, 4)[1] == "too few"  # 9 in all: 4.5 expected per week


def test_a_count_falling_to_zero_from_a_large_number_is_a_decrease() -> None:
    # "too few" is about the count expected per week if nothing changed, (a + b) / 2,
    # not about either week's own count: 195 then 0 is no accident
    p_value, verdict = _count_test(195, 0)
    assert verdict == "decrease" and p_value < 1e-40
    assert _count_test(0, 195)[1] == "increase"
    # ten in all is enough: P(0 of 10 | p = 1/2) is about 0.001
    assert _count_test(10, 0)[1] == "decrease"
    assert _count_test(6, 4)[1] == "within noise"


def _exact_p_value(before: int, after: int) -> float:
    """Two-sided exact binomial test of "same expected count": ``after`` ~ B(n, 1/2)."""
    n, k = before + after, min(before, after)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


@settings(max_examples=200, deadline=None)
@given(before=st.integers(0, 300), after=st.integers(0, 300))
def test_count_verdict_agrees_with_the_exact_binomial_test(before: int, after: int) -> None:
    p_value, verdict = _count_test(before, after)
    assert _count_test(after, before)[0] == pytest.approx(p_value)
    if before + after < 10:
        assert verdict == "too few"
        return
    exact = _exact_p_value(before, after)
    if exact < 0.01:
        assert verdict == ("increase" if after > before else "decrease")
    elif exact > 0.1:
        assert verdict == "within noise"


# --- incomplete data: warnings, and weeks before the data -------------------
def test_a_normal_week_has_no_warning(metrics_on: WeeklyMetrics) -> None:
    assert metrics_on.warnings == ()
    assert metrics_on.to_dict()["warnings"] == []


def test_a_week_without_events_is_flagged_and_its_fall_judged(engine: Engine) -> None:
    df = engine(
        events_frame(
            *((f"a{i}", "2026-11-03 10:00", "form_fill") for i in range(30)),  # W45: 30 leads
            ("z", "2026-11-17 10:00", "page_view"),  # W47: the export goes on after W46
        )
    )
    m = weekly_metrics(df, TINY, week=W46, window="7d", weeks_of_history=2)
    assert m.quality.events_in_week == 0
    assert m.warnings == (DataWarning(NO_EVENTS_IN_WEEK, 0),)
    lead = m.kpi("reached_lead")
    assert (lead.value, lead.previous, lead.verdict) == (0, 30, "decrease")
    assert lead.p_value is not None and lead.p_value < 1e-6
    assert json.loads(m.to_json())["warnings"] == [
        {
            "code": "no_events_in_week",
            "value": 0,
            "median_previous_weeks": None,
            "previous_weeks": None,
        }
    ]


def test_the_first_week_of_the_data_has_no_previous_week(engine: Engine) -> None:
    df = engine(
        events_frame(
            ("a", "2026-11-10 10:00", "form_fill"),  # the first event: W46's Tuesday
            ("b", "2026-11-11 10:00", "page_view"),
        )
    )
    m = weekly_metrics(df, TINY, week=W46, window="7d", weeks_of_history=2)
    counts = [k for k in m.headline if k.kind == "count"]
    assert [(k.name, k.value, k.previous, k.p_value, k.verdict) for k in counts] == [
        ("new_contacts", 2, None, None, NO_PREVIOUS_WEEK),
        ("reached_lead", 1, None, None, NO_PREVIOUS_WEEK),
        ("reached_client", 0, None, None, NO_PREVIOUS_WEEK),
    ]
    assert all(k.noise and k.change is None for k in counts)
    data = json.loads(m.to_json())
    assert [(k["previous"], k["change"]) for k in data["headline"]] == [(None, None)] * 3
    assert m.headline_table()["previous"].to_list() == [None] * 3
    # a week later, W46 is in the data: its zeros are zeros
    later = weekly_metrics(df, TINY, week="2026-W47", window="7d", weeks_of_history=2)
    client = later.kpi("reached_client")
    assert (client.previous, client.verdict) == (0, "too few")


def test_a_previous_week_partly_in_the_data_is_compared(engine: Engine) -> None:
    df = engine(
        events_frame(
            ("x", "2026-11-08 23:00", "page_view"),  # W45's Sunday: the data starts there
            ("a", "2026-11-10 10:00", "form_fill"),
        )
    )
    m = weekly_metrics(df, TINY, week=W46, window="7d", weeks_of_history=2)
    assert [k.previous for k in m.headline if k.kind == "count"] == [1, 0, 0]


@on_spark
def test_contacts_created_before_the_first_event_keep_their_count(engine: Engine) -> None:
    df = engine(events_frame(("a", "2026-11-10 10:00", "form_fill")))
    people = engine(
        pl.DataFrame({"contact_id": ["y"], "created_at": [dt.datetime(2026, 11, 4, tzinfo=UTC)]})
    )
    m = weekly_metrics(df, TINY, week=W46, contacts=people, window="7d", weeks_of_history=2)
    assert m.kpi("new_contacts").previous == 1  # the contacts table covers W45
    assert m.kpi("reached_lead").previous is None


def leads_by_week(counts: list[int], last: str = W46) -> pl.DataFrame:
    """Leads (form fills) per week up to ``last``, and one page view in each of those weeks."""
    rows: list[tuple[str, str, str]] = []
    for back, n in enumerate(reversed(counts)):
        week = parse_week(last).shift(-back)
        day = week.monday + dt.timedelta(days=1)
        rows += [(f"{week}-{i}", f"{day} 10:00", "form_fill") for i in range(n)]
        rows.append((f"{week}-v", f"{day} 11:00", "page_view"))
    return events_frame(*rows)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([20, 20, 20, 1], (DataWarning(FEW_STAGE_ENTRIES_IN_WEEK, 1, 20.0, 3),)),
        ([20, 30, 25, 0], (DataWarning(FEW_STAGE_ENTRIES_IN_WEEK, 0, 25.0, 3),)),
        ([20, 20, 20, 2], ()),  # a tenth of the median is not "under" it
        ([20, 20, 1], ()),  # two previous weeks: too few for a median
        ([9, 9, 9, 0], ()),  # a median under 10: a tenth of it is not one entry
    ],
)
def test_a_week_with_far_fewer_stage_entries_than_usual_is_flagged(
    counts: list[int], expected: tuple[DataWarning, ...], engine: Engine
) -> None:
    # six weeks of history, the first ones before the data: they are left out
    events = engine(leads_by_week(counts))
    m = weekly_metrics(events, TINY, week=W46, window="7d", weeks_of_history=6)
    assert m.quality.events_in_week > 0
    assert m.warnings == expected


# --- rates: the latest week whose window has closed --------------------------
@pytest.mark.parametrize(
    ("window", "expected"), [("28d", "2026-W43"), ("7d", "2026-W46"), ("8d", "2026-W45")]
)
def test_last_closed_week(window: str, expected: str) -> None:
    closed = last_closed_week("2026-W47", window)
    assert str(closed) == expected
    assert closed.end + parse_duration(window) <= IsoWeek(2026, 47).end
    assert closed.shift(1).end + parse_duration(window) > IsoWeek(2026, 47).end


@pytest.fixture(scope="module")
def sample_metrics() -> WeeklyMetrics:
    log = read_events(SAMPLE / "events.csv")
    return weekly_metrics(
        log, "inbound", week="2026-W47", window="28d", breakdown="channel", weeks_of_history=6
    )


@pytest.mark.slow
def test_rate_kpis_are_the_week_over_week_of_the_latest_closed_week(
    sample_metrics: WeeklyMetrics,
) -> None:
    rates = [k for k in sample_metrics.headline if k.kind == "rate"]
    assert rates and {k.period for k in rates} == {"2026-W43"}
    assert not any(k.incomplete for k in rates)
    direct = conversion.week_over_week(
        read_events(SAMPLE / "events.csv"),
        load_funnel("inbound"),
        window="28d",
        current="2026-10-19",
        as_of="2026-11-23T00:00:00Z",
        since="2026-10-12",
        until="2026-11-23T00:00:00Z",
    )
    row = direct.table.filter(pl.col("rate") == "from_previous").row(1, named=True)
    kpi = sample_metrics.kpi("conversion_cold_lead_to_warm_lead")
    assert (kpi.value, kpi.previous, kpi.verdict) == (
        row["current_rate"],
        row["previous_rate"],
        row["verdict"],
    )
    assert kpi.low is not None and kpi.high is not None and kpi.low <= kpi.value <= kpi.high
    assert kpi.noise == (kpi.verdict in ("within noise", "too few"))


@pytest.mark.slow
def test_trend_marks_the_weeks_whose_window_is_open(sample_metrics: WeeklyMetrics) -> None:
    table = sample_metrics.trend_table()
    weeks = table.select("period_start", "complete").unique().sort("period_start")
    assert weeks.height == 6
    # 28-day window: the last four weeks of entry are still open at W47's end
    assert weeks["complete"].to_list() == [True, True, False, False, False, False]


@pytest.mark.slow
def test_breakdown_suppresses_small_segments(sample_metrics: WeeklyMetrics) -> None:
    breakdown = sample_metrics.conversion.breakdown
    assert breakdown is not None
    entrants = breakdown.filter(pl.col("step") == 1)
    small = entrants.filter(pl.col("count") < MIN_SEGMENT)
    assert small["suppressed"].to_list() == [True] * small.height
    data = sample_metrics.to_dict()
    assert data["conversion"]["by"] == "channel"
    assert data["parameters"]["min_segment_size"] == MIN_SEGMENT


@pytest.mark.slow
def test_every_section_reads_stages_by_entry(sample_metrics: WeeklyMetrics) -> None:
    """One meaning of a stage: the sections count the entries the classification makes."""
    data = sample_metrics.to_dict()
    sections = {"headline", "snapshot", "flows", "conversion", "trend", "week_over_week"}
    assert set(data["stage_steps"]) == sections | {"cohorts"}
    assert set(data["stage_steps"].values()) == {"entry"}
    assert data["conversion"]["stage_steps"] == data["week_over_week"]["stage_steps"] == "entry"
    # the funnel of the history weeks counts, at each stage, the contacts whose entry
    # into the first stage lies in those weeks and who entered that stage within the window
    entries = sample_metrics.entries
    first = sample_metrics.funnel.stage_ids[0]
    new = entries.filter(pl.col("stage") == first)["contacts"].sum()
    assert sample_metrics.conversion.table["count"][0] == new
    # the trend counts the same entrants week by week, contacts without events included
    trend = sample_metrics.trend_table().filter(pl.col("step") == 1)
    by_week = dict(zip(trend["period_start"].dt.strftime("%G-W%V"), trend["count"], strict=True))
    firsts = entries.filter(pl.col("stage") == first)
    assert by_week == dict(zip(firsts["week"], firsts["contacts"], strict=True))
    assert sample_metrics.kpi("new_contacts").value == by_week[str(sample_metrics.week)]


@pytest.mark.slow
def test_cohorts_cover_the_history_weeks(sample_metrics: WeeklyMetrics) -> None:
    summary = sample_metrics.cohort_summary()
    assert summary["cohort"].to_list() == [f"2026-W{n}" for n in range(42, 48)]
    assert summary.columns[:3] == ["cohort", "cohort_size", "share_day_0"]


# --- contacts to follow up ---------------------------------------------------
@on_spark
def test_stalled_contacts_are_the_longest_idle_at_the_stage_before_the_target(
    engine: Engine,
) -> None:
    df = engine(
        events_frame(
            ("a", "2026-11-10 10:00", "form_fill"),
            ("b", "2026-11-01 10:00", "form_fill"),
            ("c", "2026-11-05 10:00", "form_fill"),
            ("c", "2026-11-06 10:00", "page_view"),  # not named by the funnel: not activity
            ("d", "2026-11-02 10:00", "form_fill"),
            ("d", "2026-11-03 10:00", "purchase"),  # a client, not stalled
        )
    )
    as_of = IsoWeek(2026, 46).end
    table = stalled_contacts(df, TINY, as_of=as_of)
    assert table["contact_id"].to_list() == ["b", "c", "a"]
    assert table["idle_days"].to_list() == [14, 10, 5]
    assert table.schema["stage"] == TINY.stage_dtype  # as classify gives it, on every engine
    assert table["stage"].to_list() == ["lead"] * 3
    assert stalled_contacts(df, TINY, as_of=as_of, limit=1)["contact_id"].to_list() == ["b"]
    assert stalled_contacts(df, TINY, as_of=as_of, stage="client")["contact_id"].to_list() == ["d"]


@pytest.mark.slow
@pytest.mark.parametrize("with_contacts", [False, True])
def test_stalled_contacts_read_from_the_weeks_classification_are_those_classified_again(
    with_contacts: bool,
) -> None:
    from funnelkit.events import read_contacts

    log = read_events(SAMPLE / "events.csv")
    people = read_contacts(SAMPLE / "contacts.csv") if with_contacts else None
    for funnel in ("inbound", "sales"):
        metrics = weekly_metrics(
            log, funnel, week="2026-W46", contacts=people, window="28d", weeks_of_history=3
        )
        assert metrics.classified is not None
        for stage in (None, metrics.funnel.stages[1].id):
            again = stalled_contacts(
                log, funnel, as_of=metrics.as_of, contacts=people, stage=stage, limit=25
            )
            read = stalled_contacts(
                log,
                funnel,
                as_of=metrics.as_of,
                contacts=people,
                stage=stage,
                limit=25,
                classified=metrics.classified,
            )
            assert again.height > 0
            assert_frame_equal(read, again)
    without_times = metrics.classified.select("contact_id", "stage")
    with pytest.raises(ParameterError, match="classified: .* no '.*_at' column"):
        stalled_contacts(log, "sales", as_of=metrics.as_of, classified=without_times)


def test_stalled_stage_of_the_presets() -> None:
    assert stalled_stage(load_funnel("inbound")) == "warm_lead"
    assert stalled_stage(load_funnel("sales")) == "qualified_prospect"
    assert stalled_stage(TINY) == "lead"


# --- properties against a per-contact reference ------------------------------
EVENT_NAMES = ("page_view", "form_fill", "purchase")
RANK = {"page_view": 1, "form_fill": 2, "purchase": 3}


@st.composite
def small_logs(draw: st.DrawFn) -> list[tuple[str, dt.datetime, str]]:
    start = dt.datetime(2026, 10, 26, tzinfo=UTC)  # three weeks around W46 and after
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c", "d", "e"]),
                st.integers(min_value=0, max_value=4 * 7 * 24).map(
                    lambda h: start + dt.timedelta(hours=h)
                ),
                st.sampled_from(EVENT_NAMES),
            ),
            min_size=1,
            max_size=25,
        )
    )
    return rows


def _reference_counts(rows: list[tuple[str, dt.datetime, str]], week: IsoWeek) -> dict[str, int]:
    """Per contact: first time at or past each stage, from events before the week's end."""
    first: dict[tuple[str, int], dt.datetime] = {}
    for contact, when, event in rows:
        if when >= week.end:
            continue
        for rank in range(1, RANK[event] + 1):  # a later stage implies the earlier ones
            key = (contact, rank)
            first[key] = min(first.get(key, when), when)
    names = {1: "new_contacts", 2: "reached_lead", 3: "reached_client"}
    counts = dict.fromkeys(names.values(), 0)
    for (_, rank), when in first.items():
        if week.start <= when < week.end:
            counts[names[rank]] += 1
    return counts


@settings(max_examples=40, deadline=None)
@given(rows=small_logs())
def test_count_kpis_match_a_per_contact_reference(
    rows: list[tuple[str, dt.datetime, str]],
) -> None:
    df = events(*rows)
    week = IsoWeek(2026, 46)
    m = weekly_metrics(df, TINY, week=week, window="7d", weeks_of_history=1)
    got = {k.name: int(k.value) for k in m.headline if k.kind == "count"}
    assert got == _reference_counts(rows, week)
    previous = {k.name: int(k.previous or 0) for k in m.headline if k.kind == "count"}
    assert previous == _reference_counts(rows, week.shift(-1))
    q = m.quality
    assert q.events_before_week == sum(1 for _, t, _ in rows if t < week.start)
    assert q.events_in_week == sum(1 for _, t, _ in rows if week.start <= t < week.end)
    assert q.events_after_week == sum(1 for _, t, _ in rows if t >= week.end)


def test_streaming_mode_gives_the_same_metrics(tiny_metrics: WeeklyMetrics) -> None:
    lazy = weekly_metrics(
        timeline().lazy(), TINY, week=W46, window="7d", weeks_of_history=2, in_memory=False
    )
    assert lazy.to_dict() == tiny_metrics.to_dict()


def test_text_compared_with_numbers_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import funnelkit.definitions as definitions_module
    import funnelkit.engine_frames as engine_frames_module

    checked: list[str] = []
    original = definitions_module.read_numbers

    def counting(events: pl.LazyFrame, filters: object, owner: str) -> pl.LazyFrame:
        out = original(events, filters, owner)  # type: ignore[arg-type]
        if out is not events:  # a text column was checked value by value
            checked.append(owner)
        return out

    monkeypatch.setattr(definitions_module, "read_numbers", counting)
    monkeypatch.setattr(engine_frames_module, "read_numbers", counting)
    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    events = pl.DataFrame(
        {
            "contact_id": ["a", "a", "b"],
            "occurred_at": [start, start + dt.timedelta(days=8), start + dt.timedelta(days=9)],
            "event": ["page_view", "purchase", "page_view"],
            "amount": [None, "20", None],
        }
    )
    for in_memory in (True, False):
        checked.clear()
        metrics = weekly_metrics(
            events, "inbound", week="2026-W46", weeks_of_history=2, in_memory=in_memory
        )
        assert metrics.kpi("reached_client").value == 1
        assert checked == ["funnel 'inbound'"]


# --- the report's sections are the public analyses, computed once ------------------
SECTION_DRAWS = Draws(start=dt.datetime(2026, 10, 5, tzinfo=UTC), days=56, log_size=40)


def assert_same_result(got: object, expected: object, where: str = "result") -> None:
    """Field by field: tables equal (values and types), other fields equal."""
    if isinstance(expected, pl.DataFrame):
        assert isinstance(got, pl.DataFrame), where
        assert_frame_equal(got, expected, check_exact=True, check_row_order=True)
        return
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        assert type(got) is type(expected), where
        for field in dataclasses.fields(expected):
            name = field.name
            assert_same_result(getattr(got, name), getattr(expected, name), f"{where}.{name}")
        return
    assert got == expected, where


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    definition=definitions(4, [dt.timedelta(days=3), dt.timedelta(days=10)]),
    log=SECTION_DRAWS.logs(("e1", "e2", "e3", "e4", "other")),
    people=SECTION_DRAWS.contacts_tables,
    week=st.integers(41, 49).map(lambda n: IsoWeek(2026, n)),
    weeks_of_history=st.integers(1, 4),
    window=st.sampled_from(["2d", "7d", "10d", "28d"]),
    breakdown=st.sampled_from([None, "channel"]),
)
def test_the_sections_are_the_public_analyses_of_the_same_history(
    definition: Funnel,
    log: pl.DataFrame,
    people: pl.DataFrame | None,
    week: IsoWeek,
    weeks_of_history: int,
    window: str,
    breakdown: str | None,
) -> None:
    """One classification and one set of chains give what each analysis gives on its own."""
    m = weekly_metrics(
        log,
        definition,
        week=week,
        contacts=people,
        window=window,
        breakdown=breakdown,
        weeks_of_history=weeks_of_history,
    )
    span = parse_duration(window)
    history = [week.shift(-i) for i in reversed(range(weeks_of_history))]
    rates_week = last_closed_week(week, span)
    since = min(history[0], rates_week.shift(-1)).start
    common = {"window": span, "since": since, "until": week.end, "contacts": people}
    trend = conversion.conversion_over_time(log, definition, as_of=week.end, **common)
    assert_same_result(m.trend, trend, "trend")
    try:
        comparison = conversion.week_over_week(
            log, definition, current=rates_week.start, as_of=week.end, **common
        )
    except ParameterError:
        comparison = None
    assert_same_result(m.comparison, comparison, "comparison")
    ordered = conversion.funnel(
        log,
        definition,
        window=span,
        by=breakdown,
        min_size=MIN_SEGMENT,
        contacts=people,
        since=history[0].start,
        until=week.end,
    )
    assert_same_result(m.conversion, ordered, "conversion")
    goal = definition.stage_ids[-1]
    curves = conversion.cohorts(
        log,
        definition.stage(goal),
        period="week",
        horizon=dt.timedelta(weeks=weeks_of_history),
        as_of=week.end - dt.timedelta(microseconds=1),
        until=week.end,
        definition=definition,
    )
    expected = curves.table.filter(pl.col("cohort_start") >= history[0].start)
    assert_same_result(m.cohorts, dataclasses.replace(curves, table=expected), "cohorts")


def test_the_report_classifies_once_and_builds_the_chains_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import funnelkit.chains as chains_module
    import funnelkit.trends as trends_module
    import funnelkit.weekly as weekly_module

    drivers_module = importlib.import_module("funnelkit.drivers")  # not the function
    calls: list[str] = []

    def counting(module: object, name: str) -> None:
        original = getattr(module, name, None)
        if original is None:
            return

        def wrapper(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for module in (weekly_module, chains_module):
        counting(module, "classify")
    for module in (weekly_module, conversion, trends_module, drivers_module):
        counting(module, "chains_of")
    people = pl.DataFrame(
        {"contact_id": ["y"], "created_at": [dt.datetime(2026, 11, 4, tzinfo=UTC)]}
    )
    metrics = weekly_metrics(
        timeline(), TINY, week=W46, contacts=people, window="7d", weeks_of_history=2
    )
    assert metrics.cohorts.table.height > 0
    assert sorted(calls) == ["chains_of", "classify"]


def test_the_drivers_read_the_chains_the_report_computed_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain builders run once per report, and the drivers read those chains, held."""
    import narwhals as nw

    import funnelkit.weekly as weekly_module
    from funnelkit.sample import generate

    # every module that chooses and builds the chains (the accelerator or the core)
    built: list[str] = []
    for name in ("weekly", "drivers", "conversion", "trends", "paths", "stages"):
        module = importlib.import_module(f"funnelkit.{name}")
        original = getattr(module, "chains_of", None)
        if original is None:
            continue

        def counting(*args: Any, _name: str = name, _f: Any = original, **kwargs: Any) -> Any:
            built.append(_name)
            return _f(*args, **kwargs)

        monkeypatch.setattr(module, "chains_of", counting)
    given: list[Any] = []
    drivers = weekly_module.drivers

    def reading(*args: Any, **kwargs: Any) -> Any:
        given.append(kwargs.get("chains"))
        return drivers(*args, **kwargs)

    monkeypatch.setattr(weekly_module, "drivers", reading)
    events, contacts = generate(300, seed=5)
    metrics = weekly_metrics(engine(events), "inbound", week="2026-W47", contacts=engine(contacts))
    assert metrics.drivers is not None
    assert metrics.drivers.converted + metrics.drivers.dropped > 0
    assert len(built) == 1, built
    (held,) = given
    assert held is not None
    plan = nw.to_native(held.chains.frame()).explain()
    # held rows, not a plan that computes the chains again
    assert plan.startswith("DF ") or "Column Data Scan" in plan, plan
