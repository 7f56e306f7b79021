"""Conversion drivers: planted causes are found, after-the-fact events never, on every engine."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnelkit
from funnelkit.conversion import funnel_chains
from funnelkit.drivers import (
    COLUMNS,
    LEAK_BASE,
    DriversResult,
    biggest_leak,
    drivers,
    hold_chains,
)
from funnelkit.errors import EmptyInputError, ParameterError, UnknownEventWarning
from funnelkit.events import read_events
from funnelkit.paths import biggest_leak_step
from funnelkit.sample import generate
from tests.conftest import events_frame
from tests.engines import Engine, on_spark
from tests.planted import AFTER_THE_FACT, HELPS, HURTS, NOISE, STEPS, WINDOW, planted_log

Key = tuple[str, str, str | None]


def _keys(table: pl.DataFrame, verdicts: Iterable[str]) -> set[Key]:
    rows = table.filter(pl.col("verdict").is_in(list(verdicts)))
    return {(r["kind"], r["name"], r["value"]) for r in rows.iter_rows(named=True)}


@pytest.fixture(scope="module")
def planted() -> tuple[pl.DataFrame, pl.DataFrame]:
    return planted_log()


# --- the planted causes, on every engine -------------------------------------------------
def test_the_planted_causes_are_found_and_nothing_else(
    engine: Engine, planted: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, contacts = planted
    result = drivers(engine(events), STEPS, window=WINDOW, contacts=engine(contacts))
    table = result.table
    assert result.step == 3  # signup -> purchase is the biggest leak
    assert _keys(table, ["helps"]) == HELPS
    assert _keys(table, ["hurts"]) == HURTS
    assert set(table.filter(pl.col("q_value") < 0.05)["name"]) == {
        "webinar",
        "complaint",
        "channel",
    }
    # noise is tested and found within noise
    noise = table.filter(pl.col("name").is_in(sorted(NOISE)))
    assert noise.height == 3
    assert set(noise["verdict"]) == {"within noise"}
    # what happens after conversion, or after the window closed, is never read
    assert not set(table["name"]) & AFTER_THE_FACT
    # personal columns are never candidates, however telling
    assert "email" not in set(table["name"])
    assert {"segment"} <= set(table.filter(pl.col("source") == "contacts")["name"])
    # a handful of contacts: counted, not tested
    rare = table.filter(pl.col("name") == "rare_event").row(0, named=True)
    assert (rare["verdict"], rare["suppressed"], rare["p_value"]) == ("too few", True, None)


@on_spark
def test_the_engines_give_the_same_table(
    engine: Engine, planted: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, contacts = planted
    on_polars = drivers(events, STEPS, window=WINDOW, contacts=contacts)
    on_engine = drivers(engine(events), STEPS, window=WINDOW, contacts=engine(contacts))
    from polars.testing import assert_frame_equal

    assert_frame_equal(on_polars.table, on_engine.table)
    assert (on_polars.converted, on_polars.dropped) == (on_engine.converted, on_engine.dropped)


# --- chains computed once, read again ----------------------------------------------------
@on_spark
def test_held_chains_give_the_same_drivers(
    engine: Engine, planted: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, contacts = planted
    ev, people = engine(events), engine(contacts)
    held = hold_chains(ev, STEPS, window=WINDOW, contacts=people)
    alone = drivers(ev, STEPS, window=WINDOW, contacts=people)
    read = drivers(ev, STEPS, window=WINDOW, contacts=people, chains=held)
    from polars.testing import assert_frame_equal

    assert_frame_equal(alone.table, read.table)
    assert (alone.step, alone.converted, alone.dropped, alone.open_windows) == (
        read.step,
        read.converted,
        read.dropped,
        read.open_windows,
    )


@pytest.mark.parametrize("held_since", [None, datetime(2026, 9, 14, tzinfo=UTC)])
def test_chains_from_an_earlier_since_serve_stages_read_by_entry(
    engine: Engine, held_since: datetime | None
) -> None:
    # a contact enters each stage once: the chains whose step 1 is at or after
    # ``since`` are the chains computed from ``since``
    events, contacts = generate(400, seed=7)
    ev, people = engine(events), engine(contacts)
    inbound = funnelkit.load_funnel("inbound")
    since, until = datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
    options: dict[str, Any] = {"window": "28d", "until": until, "contacts": people}
    held = hold_chains(ev, inbound, since=held_since, by="channel", **options)
    alone = drivers(ev, inbound, since=since, min_size=5, **options)
    read = drivers(ev, inbound, since=since, min_size=5, chains=held, **options)
    from polars.testing import assert_frame_equal

    assert alone.converted + alone.dropped > 50
    assert_frame_equal(alone.table, read.table)
    assert (alone.step, alone.converted, alone.dropped, alone.open_windows) == (
        read.step,
        read.converted,
        read.dropped,
        read.open_windows,
    )


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"window": "3d"}, "window 3d, not 2w"),
        ({"order": "strict_increase"}, "order 'strict_increase', not 'ordered'"),
        (
            {"steps": ["visit", "purchase", "signup"]},
            r"another step 2 \('purchase', not 'signup'\)",
        ),
        ({"steps": ["visit", "signup"]}, "2 steps, not 3"),
        ({"until": datetime(2026, 6, 1, tzinfo=UTC)}, "until 2026-06-01"),
        ({"since": datetime(2026, 1, 1, tzinfo=UTC)}, "since 2026-01-01 00:00:00"),
        ({"events": "other"}, "other events"),
        ({"contacts": "other"}, "other contacts"),
    ],
)
def test_chains_computed_otherwise_are_refused(
    planted: tuple[pl.DataFrame, pl.DataFrame], change: dict[str, Any], what: str
) -> None:
    events, contacts = planted
    options: dict[str, Any] = {
        "steps": list(STEPS),
        "window": WINDOW,
        "order": "ordered",
        "since": None,
        "until": None,
        "events": events,
        "contacts": contacts,
    }
    held_options = options | change
    for name in ("events", "contacts"):
        if isinstance(held_options[name], str):
            held_options[name] = options[name].clone()
    held = hold_chains(held_options.pop("events"), held_options.pop("steps"), **held_options)
    with pytest.raises(
        ParameterError, match=f"chains: they were computed with {what}.*hold_chains"
    ):
        drivers(options.pop("events"), options.pop("steps"), chains=held, **options)


def test_counts_behind_a_row_add_up_to_the_contacts_compared(
    planted: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, contacts = planted
    result = drivers(events, STEPS, window=WINDOW, contacts=contacts)
    for row in result.table.iter_rows(named=True):
        assert row["converted"] + row["converted_without"] == result.converted
        assert row["dropped"] + row["dropped_without"] == result.dropped
    funnel = funnelkit.funnel(events, STEPS, window=WINDOW)
    assert result.converted == funnel.table["count"][2]
    assert result.converted + result.dropped == funnel.table["count"][1]


def test_rows_are_sorted_significant_first_then_by_strength(
    planted: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    table = drivers(*planted[:1], STEPS, window=WINDOW).table
    groups = table["verdict"].replace_strict(
        {"helps": 0, "hurts": 0, "within noise": 1, "too few": 2}, return_dtype=pl.Int8
    )
    assert groups.to_list() == sorted(groups.to_list())
    strong = table.filter(pl.col("verdict").is_in(["helps", "hurts"]))
    strength = strong["odds_ratio"].log().abs().to_list()
    assert strength == sorted(strength, reverse=True)
    assert table.columns == list(COLUMNS)


def test_the_sentence_says_the_rates_and_the_odds_ratio(
    planted: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    table = drivers(planted[0], STEPS, window=WINDOW).table
    webinar = table.filter(pl.col("name") == "webinar").row(0, named=True)
    assert webinar["sentence"].startswith("contacts who did webinar: 5")
    assert "× the odds, 95% CI " in webinar["sentence"]
    noise = table.filter(pl.col("name") == "faq_view").row(0, named=True)
    assert "within noise (q = " in noise["sentence"]


# --- the rules, on hand-made timelines ----------------------------------------------------
def _timeline(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return events_frame(*rows)


def _two_steps(engine: Engine, frame: pl.DataFrame, **options: Any) -> DriversResult:
    options.setdefault("min_size", 1)
    return drivers(engine(frame), ["visit", "signup"], window="2d", **options)


def _counts(result: DriversResult, name: str) -> tuple[int, int] | None:
    rows = result.table.filter(pl.col("name") == name)
    return None if rows.is_empty() else (rows["converted"].item(), rows["dropped"].item())


def test_an_event_counts_from_step_k_minus_1_until_conversion_or_the_window_close(
    engine: Engine,
) -> None:
    frame = _timeline(
        # a converts at 12:00: the event before counts, the one at conversion and after not
        ("a", "2026-09-01 00:00", "visit"),
        ("a", "2026-09-01 06:00", "chat"),
        ("a", "2026-09-01 12:00", "signup"),
        ("a", "2026-09-01 12:00", "at_conversion"),
        ("a", "2026-09-01 13:00", "after"),
        # b never converts: its window closes at 09-03 00:00, included
        ("b", "2026-09-01 00:00", "visit"),
        ("b", "2026-08-31 23:00", "before"),
        ("b", "2026-09-01 00:00", "at_entry"),
        ("b", "2026-09-03 00:00", "at_close"),
        ("b", "2026-09-03 00:00:01", "after_close"),
        ("z", "2026-09-10 00:00", "visit"),  # the data runs past both windows
    )
    result = _two_steps(engine, frame)
    assert (result.converted, result.dropped) == (1, 1)
    assert _counts(result, "chat") == (1, 0)
    assert _counts(result, "at_entry") == (0, 1)
    assert _counts(result, "at_close") == (0, 1)
    for never in ("at_conversion", "after", "before", "after_close"):
        assert _counts(result, never) is None, never


def test_a_contact_whose_window_is_still_open_is_left_out(engine: Engine) -> None:
    frame = _timeline(
        ("a", "2026-09-01 00:00", "visit"),
        ("a", "2026-09-01 06:00", "chat"),
        ("b", "2026-09-05 00:00", "visit"),  # window closes 09-07, after the last event
        ("b", "2026-09-05 06:00", "chat"),
        ("c", "2026-09-06 00:00", "visit"),
    )
    result = _two_steps(engine, frame)
    assert (result.converted, result.dropped, result.open_windows) == (0, 1, 2)
    assert _counts(result, "chat") == (0, 1)
    # until= closes the data: the windows that end before it are read
    later = _two_steps(engine, frame, until="2026-09-30")
    assert (later.dropped, later.open_windows) == (3, 0)


def test_properties_come_from_the_step_k_minus_1_event_only(engine: Engine) -> None:
    rows = []
    for i in range(6):
        c = f"c{i}"
        rows.append((c, "2026-09-01 00:00", "visit", None, "ads"))  # step 1: not read at step 2
        rows.append((c, "2026-09-01 01:00", "signup", None, "partner" if i < 3 else "organic"))
        if i < 3:
            rows.append((c, "2026-09-01 02:00", "purchase", None, "shop"))
    rows.append(("z", "2026-09-20 00:00", "visit"))
    result = drivers(
        engine(events_frame(*rows)),
        ["visit", "signup", "purchase"],
        window="2d",
        step=3,
        min_size=1,
    )
    channel = result.table.filter(pl.col("name") == "channel")
    assert dict(
        zip(
            channel["value"],
            zip(channel["converted"], channel["dropped"], strict=True),
            strict=True,
        )
    ) == {
        "partner": (3, 0),
        "organic": (0, 3),
    }
    assert set(channel["source"]) == {"events"}


def test_a_zero_cell_gets_the_haldane_anscombe_correction(engine: Engine) -> None:
    rows = []
    for i in range(40):
        c = f"c{i}"
        rows.append((c, "2026-09-01 00:00", "visit"))
        if i < 20:
            rows.append((c, "2026-09-01 01:00", "webinar"))
            rows.append((c, "2026-09-01 02:00", "signup"))
        elif i < 25:
            rows.append((c, "2026-09-01 02:00", "signup"))
    rows.append(("z", "2026-09-20 00:00", "visit"))
    result = _two_steps(engine, events_frame(*rows))
    row = result.table.filter(pl.col("name") == "webinar").row(0, named=True)
    assert (row["converted"], row["dropped"], row["converted_without"], row["dropped_without"]) == (
        20,
        0,
        5,
        15,
    )
    assert row["corrected"] is True
    assert row["odds_ratio"] == pytest.approx((20.5 * 15.5) / (0.5 * 5.5))
    assert row["test"] == "chi2"
    assert "+0.5 added to each cell" in row["sentence"]


def test_small_signals_keep_their_counts_but_are_not_tested(
    planted: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = planted
    strict = drivers(events, STEPS, window=WINDOW, min_size=500)
    webinar = strict.table.filter(pl.col("name") == "webinar").row(0, named=True)
    assert webinar["suppressed"] and webinar["verdict"] == "too few"
    assert webinar["converted"] > 0 and webinar["odds_ratio"] is None
    assert strict.table.filter(~pl.col("suppressed"))["q_value"].null_count() == 0


def test_a_property_with_many_values_is_no_candidate_unless_the_bound_allows(
    engine: Engine,
) -> None:
    rows = []
    for i in range(30):
        rows.append((f"c{i}", "2026-09-01 00:00", "visit", None, f"v{i}"))
    rows.append(("z", "2026-09-20 00:00", "visit"))
    frame = events_frame(*rows)
    assert "channel" not in set(_two_steps(engine, frame).table["name"])
    wide = _two_steps(engine, frame, step=2, max_values=40)
    assert "channel" in set(wide.table["name"])


def test_the_default_step_is_the_biggest_leak(engine: Engine) -> None:
    rows = []
    for i in range(100):
        c = f"c{i}"
        rows.append((c, "2026-09-01 00:00", "a"))
        if i < 90:
            rows.append((c, "2026-09-01 01:00", "b"))
        if i < 30:
            rows.append((c, "2026-09-01 02:00", "c"))
        if i < 25:
            rows.append((c, "2026-09-01 03:00", "d"))
    rows.append(("z", "2026-09-20 00:00", "a"))
    result = drivers(engine(events_frame(*rows)), ["a", "b", "c", "d"], window="1d")
    assert (result.step, result.from_name, result.to_name) == (3, "b", "c")
    assert (result.converted, result.dropped) == (30, 60)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), min_size=2, max_size=6))
def test_biggest_leak_names_the_step_the_funnel_figure_names(counts: list[int]) -> None:
    from funnelkit.figure_funnels import funnel_table
    from funnelkit.figure_style import LEAK_BASE as FIGURE_LEAK_BASE

    assert LEAK_BASE == FIGURE_LEAK_BASE
    counts = sorted(counts, reverse=True)
    names = [f"s{i}" for i in range(len(counts))]
    table = funnel_table(pl.DataFrame({"name": names, "count": counts}))
    flagged = table.filter(pl.col("biggest_leak"))["rank"].to_list()
    assert biggest_leak(counts) == (flagged[0] if flagged else None)
    # drop-off paths look after the step before it (step 1 when nothing leaks)
    assert biggest_leak_step(counts) == (flagged[0] - 1 if flagged else 1)


# --- bad input -----------------------------------------------------------------------------
def test_a_bad_step_is_refused_with_the_range() -> None:
    frame = events_frame(("a", "2026-09-01", "visit"))
    with pytest.raises(ParameterError, match=r"step: expected a step number from 2 to 2"):
        drivers(frame, ["visit", "signup"], window="1d", step=3)
    with pytest.raises(ParameterError, match=r"step: expected a step number from 2 to 2"):
        drivers(frame, ["visit", "signup"], window="1d", step=1)
    with pytest.raises(ParameterError, match=r"from 2 to 2 .* or its name, got 'visit'"):
        drivers(frame, ["visit", "signup"], window="1d", step="visit")  # no step before it
    with pytest.raises(ParameterError, match=r"'sigup' is not a step .* Did you mean 'signup'"):
        drivers(frame, ["visit", "signup"], window="1d", step="sigup")


def test_the_step_is_named_by_its_number_its_name_or_its_stage_id() -> None:
    from funnelkit.definitions import load_funnel

    log = read_events(generate(400, seed=7)[0])
    inbound = load_funnel("inbound")
    by_number = drivers(log, inbound, window="28d", step=3)
    assert by_number.to_name == "Warm lead"
    for step in ("warm_lead", "Warm lead"):
        named = drivers(log, inbound, window="28d", step=step)
        assert named.step == 3 and named.table.equals(by_number.table)


def test_order_any_and_bad_options_are_refused() -> None:
    frame = events_frame(("a", "2026-09-01", "visit"))
    with pytest.raises(ParameterError, match=r"order: drivers compare step k−1 with step k"):
        drivers(frame, ["visit", "signup"], window="1d", order="any")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"alpha: must be between 0 and 1"):
        drivers(frame, ["visit", "signup"], window="1d", alpha=2.0)
    with pytest.raises(ParameterError, match=r"max_values: expected a whole number >= 1"):
        drivers(frame, ["visit", "signup"], window="1d", max_values=0)


def test_a_funnel_nobody_entered_has_no_leak_to_explain() -> None:
    frame = events_frame(("a", "2026-09-01", "visit"), ("b", "2026-09-30", "chat"))
    with pytest.raises(EmptyInputError, match=r"no contact reached step 1 \(visit\) with a window"):
        drivers(frame, ["visit", "signup"], window="60d")
    assert drivers(frame, ["visit", "signup"], window="60d", step=2).table.is_empty()


# --- the result object ------------------------------------------------------------------
def test_the_result_converts_to_json_and_escapes_its_html(engine: Engine) -> None:
    rows = []
    for i in range(40):
        c = f"c{i}"
        rows.append((c, "2026-09-01 00:00", "visit"))
        if i % 2:
            rows.append((c, "2026-09-01 01:00", "<script>alert(1)</script>"))
        if i % 4 == 1:
            rows.append((c, "2026-09-01 02:00", "signup"))
    rows.append(("z", "2026-09-20 00:00", "visit"))
    result = _two_steps(engine, events_frame(*rows))
    out = json.loads(json.dumps(result.to_dict()))
    assert out["step"] == 2 and out["from_step"] == "visit" and out["to_step"] == "signup"
    assert {"kind", "name", "value", "converted", "dropped", "odds_ratio", "ci_low"} <= set(
        out["drivers"][0]
    )
    assert out["drivers"][0]["value"] is None and out["drivers"][0]["kind"] == "event"
    html = result._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Why contacts drop at step 2" in str(result)


# --- the counts against a slow reference ---------------------------------------------------
def _reference(
    events: pl.DataFrame,
    contacts: pl.DataFrame,
    steps: list[str],
    window: timedelta,
    k: int,
) -> set[tuple[str, str, str, str | None, int, int]]:
    """Per contact and per event, in Python: which signals each contact compared had.

    The counted chain is :func:`funnelkit.conversion.funnel_chains`' (tested on its own); the
    rest (who is compared, which events fall in the interval, the step event's
    properties, the contact attributes) is counted one contact at a time.
    """
    end = events["occurred_at"].max()
    chains = funnel_chains(events, steps, window=window).collect()
    by_contact: dict[str, list[dict[str, Any]]] = {}
    for row in events.iter_rows(named=True):
        by_contact.setdefault(row["contact_id"], []).append(row)
    segment = dict(zip(contacts["contact_id"], contacts["segment"], strict=True))
    tallies: dict[tuple[str, str, str, str | None], list[int]] = {}

    def tally(key: tuple[str, str, str, str | None], converted: bool) -> None:
        pair = tallies.setdefault(key, [0, 0])
        pair[0 if converted else 1] += 1

    for chain in chains.iter_rows(named=True):
        first = chain["step_1_at"]
        if chain["level"] < k - 1 or first + window > end:
            continue
        converted = chain["level"] >= k
        start = chain[f"step_{k - 1}_at"]
        own = by_contact[chain["contact_id"]]
        did = set()
        for row in own:
            t = row["occurred_at"]
            inside = t < chain[f"step_{k}_at"] if converted else t <= first + window
            if row["event"] not in steps and start <= t and inside:
                did.add(row["event"])
        for name in did:
            tally(("event", "events", name, None), converted)
        values = {
            r["channel"]
            for r in own
            if r["occurred_at"] == start and r["event"] == steps[k - 2] and r["channel"] is not None
        }
        for value in values:  # every value its step k−1 events carry at that instant
            tally(("property", "events", "channel", value), converted)
        if segment.get(chain["contact_id"]) is not None:
            tally(("property", "contacts", "segment", segment[chain["contact_id"]]), converted)
    return {(*key, pair[0], pair[1]) for key, pair in tallies.items()}


_T0 = datetime(2026, 9, 1, tzinfo=UTC)
event_rows = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "c4", "c5", "c6"]),
        st.integers(min_value=0, max_value=120),
        st.sampled_from(["a", "b", "c", "x", "y", "z"]),
        st.sampled_from(["p", "q", None]),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=event_rows,
    k=st.sampled_from([2, 3]),
    segments=st.lists(st.sampled_from(["s1", "s2", None]), min_size=6, max_size=6),
)
def test_the_counts_behind_each_odds_ratio_match_a_slow_reference(
    engine: Engine, rows: list[tuple[str, int, str, str | None]], k: int, segments: list[Any]
) -> None:
    events = pl.DataFrame(
        {
            "contact_id": [r[0] for r in rows],
            "occurred_at": [_T0 + timedelta(hours=r[1]) for r in rows],
            "event": [r[2] for r in rows],
            "channel": [r[3] for r in rows],
        },
        schema={
            "contact_id": pl.String,
            "occurred_at": pl.Datetime("us", "UTC"),
            "event": pl.String,
            "channel": pl.String,
        },
    )
    contacts = pl.DataFrame(
        {"contact_id": [f"c{i}" for i in range(1, 7)], "segment": segments},
        schema={"contact_id": pl.String, "segment": pl.String},
    )
    steps = ["a", "b", "c"]
    window = timedelta(hours=24)
    expected = _reference(events, contacts, steps, window, k)
    try:
        result = drivers(
            engine(events), steps, window=window, step=k, contacts=engine(contacts), min_size=1
        )
    except EmptyInputError:
        assert not expected
        return
    got = {
        (r["kind"], r["source"], r["name"], r["value"], r["converted"], r["dropped"])
        for r in result.table.iter_rows(named=True)
    }
    assert got == expected
    for r in result.table.iter_rows(named=True):
        assert r["converted"] + r["converted_without"] == result.converted
        assert r["dropped"] + r["dropped_without"] == result.dropped


def test_a_misspelt_step_is_warned_about() -> None:
    log = read_events(
        pl.DataFrame(
            {
                "contact_id": ["a", "a", "b"],
                "occurred_at": ["2026-11-02 09:00", "2026-11-03 09:00", "2026-11-02 09:00"],
                "event": ["page_view", "purchase", "page_view"],
            }
        )
    )
    with pytest.warns(UnknownEventWarning, match=r"step 2 reads the event 'purchse'.*'purchase'"):
        # warned before the error the misspelling leads to, so the cause is on screen
        with pytest.raises(EmptyInputError):
            funnelkit.drivers(log, ["page_view", "purchse"], window="7d", min_size=1)


def test_when_none_or_all_went_on_the_text_says_so_not_every_signal() -> None:
    frame = _timeline(
        ("a", "2026-09-01 00:00", "visit"),
        ("a", "2026-09-01 06:00", "chat"),
        ("b", "2026-09-01 00:00", "visit"),
        ("b", "2026-09-02 06:00", "chat"),
    )
    nobody = _two_steps(lambda f: f, frame, until="2026-09-30")  # "signup": nobody
    assert (nobody.converted, nobody.dropped) == (0, 2) and nobody.table.height
    text = nobody.to_text()
    assert "none of the 2 contacts at visit went on to signup" in text
    assert "0% went on" not in text and "no one to compare" in nobody._repr_html_()
    everybody = drivers(
        frame, ["visit", "chat"], window="7d", step=2, until="2026-09-30", min_size=1
    )
    assert "all of the 2 contacts at visit went on to chat" in everybody.to_text()
    assert "no one to compare" in everybody._repr_html_()
    one = drivers(frame.head(2), ["visit", "signup"], window="7d", until="2026-09-30", min_size=1)
    assert "the one contact at visit did not go on to signup" in one.to_text()
    open_only = drivers(frame, ["visit", "chat"], window="7d", step=2, min_size=1)
    assert (open_only.converted, open_only.dropped) == (0, 0)  # every window still open
    assert "no contact reached visit with its window closed" in open_only.to_text()
