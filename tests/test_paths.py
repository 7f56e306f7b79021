"""Drop-off paths: the rules on hand-made timelines, every engine, and a slow reference."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import funnelkit
from funnelkit.conversion import funnel_chains
from funnelkit.definitions import load_funnel
from funnelkit.errors import ParameterError, UnknownEventWarning
from funnelkit.events import read_contacts, read_events
from funnelkit.paths import (
    NO_EVENT,
    OTHER,
    DropOffPaths,
    biggest_leak_step,
    drop_off_paths,
)
from tests.conftest import at, events_frame
from tests.engines import Engine, duckdb_engine, on_spark
from tests.payloads import PAYLOADS, assert_inert

STEPS = ["visit", "signup", "purchase"]
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
UNTIL = "2026-03-01"


def paths_of(result: DropOffPaths, group: str, length: int = 1) -> dict[str, int]:
    rows = result.table.filter((pl.col("group") == group) & (pl.col("length") == length))
    return dict(zip(rows["path"].to_list(), rows["contacts"].to_list(), strict=True))


def sizes(result: DropOffPaths) -> dict[str, int]:
    return dict(
        zip(result.groups["group"].to_list(), result.groups["contacts"].to_list(), strict=True)
    )


def run(events: Any, **options: Any) -> DropOffPaths:
    options = {"window": "7d", "step": 2, "min_size": 0, "until": UNTIL, **options}
    return drop_off_paths(events, options.pop("steps", STEPS), **options)


# --- the rules, on every engine -------------------------------------------------------------------
def test_next_events_are_strictly_after_step_k(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-02 09:00", "signup"),
            ("c", "2026-01-02 09:00", "like"),  # the instant of step k: part of reaching it
            ("c", "2026-01-02 10:00", "pricing"),
        )
    )
    result = run(events, depth=2)
    assert paths_of(result, "dropped") == {"pricing": 1}
    assert paths_of(result, "dropped", 2) == {}


@on_spark
def test_events_at_one_instant_are_taken_in_name_order(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-01 10:00", "signup"),
            ("c", "2026-01-01 11:00", "zoom_call"),
            ("c", "2026-01-01 11:00", "ad_click"),
            ("c", "2026-01-01 11:00", "mail_open"),
        )
    )
    result = run(events)
    assert paths_of(result, "dropped", 3) == {"ad_click → mail_open → zoom_call": 1}


@on_spark
def test_consecutive_repeats_are_collapsed_and_later_ones_kept(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-01 10:00", "signup"),
            ("c", "2026-01-01 11:00", "page_view"),
            ("c", "2026-01-01 11:00", "page_view"),  # the same event twice at one instant
            ("c", "2026-01-01 12:00", "page_view"),
            ("c", "2026-01-01 13:00", "like"),
            ("c", "2026-01-01 14:00", "page_view"),
        )
    )
    result = run(events)
    assert paths_of(result, "dropped", 3) == {"page_view → like → page_view": 1}


def test_the_funnels_own_step_events_count_as_next_events(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-01 10:00", "signup"),
            ("c", "2026-01-01 11:00", "visit"),
            ("c", "2026-01-01 12:00", "signup"),
        )
    )
    assert paths_of(run(events), "dropped", 2) == {"visit → signup": 1}


def test_converters_are_cut_before_their_next_step(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-02 09:00", "signup"),
            ("c", "2026-01-03 09:00", "pricing"),
            ("c", "2026-01-04 09:00", "cart"),
            ("c", "2026-01-05 09:00", "purchase"),
            ("c", "2026-01-05 09:00", "coupon"),  # at the instant of step k+1: not before it
            ("c", "2026-01-06 09:00", "review"),  # after step k+1
        )
    )
    result = run(events)
    assert sizes(result) == {"converted": 1, "dropped": 0, "open": 0}
    assert paths_of(result, "converted", 2) == {"pricing → cart": 1}
    assert paths_of(result, "converted", 3) == {}
    wait = result.groups.filter(pl.col("group") == "converted")["median"].item()
    assert wait == timedelta(days=3)


def test_a_converter_at_the_instant_of_step_k_did_nothing_in_between(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-02 09:00", "signup"),
            ("c", "2026-01-02 09:00", "purchase"),
            ("c", "2026-01-02 09:30", "review"),
        )
    )
    assert paths_of(run(events), "converted") == {NO_EVENT: 1}


def test_droppers_are_cut_at_the_end_of_their_window_included(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-02 09:00", "signup"),
            ("c", "2026-01-08 09:00", "pricing"),  # step 1 + 7 days: the boundary is inside
            ("c", "2026-01-08 09:01", "support"),  # after the window
        )
    )
    result = run(events)
    assert paths_of(result, "dropped", 2) == {}
    assert paths_of(result, "dropped") == {"pricing": 1}


@on_spark
def test_an_open_window_is_not_a_loss(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("old", "2026-01-01 09:00", "visit"),
            ("old", "2026-01-02 09:00", "signup"),
            ("new", "2026-02-25 09:00", "visit"),
            ("new", "2026-02-26 09:00", "signup"),
            ("new", "2026-02-27 09:00", "pricing"),
        )
    )
    result = run(events)  # data read up to 2026-03-01: new's window ends 2026-03-04
    assert sizes(result) == {"converted": 0, "dropped": 1, "open": 1}
    assert paths_of(result, "open") == {"pricing": 1}
    assert paths_of(result, "dropped") == {NO_EVENT: 1}
    waits = dict(zip(result.groups["group"], result.groups["median"], strict=True))
    assert waits["open"] == timedelta(days=2, hours=15)  # 2026-02-26 09:00 to 2026-03-01
    # Without until, the data ends at the last event read (its instant).
    alone = run(events, until=None)
    assert alone.as_of == at("2026-02-27 09:00")
    assert sizes(alone)["open"] == 1


def test_the_window_closes_when_it_ends_before_the_data_does(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("c", "2026-01-01 09:00", "visit"),
            ("c", "2026-01-02 09:00", "signup"),
        )
    )
    # the window ends at 2026-01-08 09:00; data read up to just before until
    assert sizes(run(events, until="2026-01-08 09:00"))["open"] == 1
    assert sizes(run(events, until="2026-01-08 09:00:00.000001"))["dropped"] == 1
    assert sizes(run(events, until=None, as_of="2026-01-08"))["dropped"] == 1
    assert sizes(run(events, until=None, as_of="2026-01-07"))["open"] == 1


def test_a_contact_with_no_next_event_has_the_no_event_path(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("a", "2026-01-01 09:00", "visit"),
            ("a", "2026-01-01 10:00", "signup"),
            ("b", "2026-01-01 09:00", "visit"),
            ("b", "2026-01-01 10:00", "signup"),
            ("b", "2026-01-01 11:00", "like"),
            ("z", "2026-01-01 11:00", "visit"),  # never reached step 2: not in any group
        )
    )
    result = run(events)
    assert paths_of(result, "dropped") == {NO_EVENT: 1, "like": 1}
    shares = result.table.filter(pl.col("group") == "dropped")["share"].to_list()
    assert shares == [0.5, 0.5]
    assert result.groups["share"].to_list() == [0.0, 1.0, 0.0]


def test_excluded_contacts_are_left_out(engine: Engine) -> None:
    events = engine(
        events_frame(
            ("a", "2026-01-01 09:00", "visit"),
            ("a", "2026-01-01 10:00", "signup"),
            ("b", "2026-01-01 09:00", "visit"),
            ("b", "2026-01-01 09:30", "unsubscribe"),
            ("b", "2026-01-01 10:00", "signup"),
        )
    )
    result = run(events, exclusions=[("unsubscribe", 1, 2)])
    assert sizes(result)["dropped"] == 1


def test_small_paths_are_counted_as_other_and_small_groups_show_no_times(engine: Engine) -> None:
    rows = []
    for i in range(5):
        rows += [(f"a{i}", "2026-01-01 09:00", "visit"), (f"a{i}", "2026-01-01 10:00", "signup")]
        rows.append((f"a{i}", "2026-01-01 11:00", "like"))
    rows += [("b", "2026-01-01 09:00", "visit"), ("b", "2026-01-01 10:00", "signup")]
    rows.append(("b", "2026-01-01 11:00", "rare_event"))
    result = run(engine(events_frame(*rows)), min_size=3)
    assert paths_of(result, "dropped") == {"like": 5, OTHER: 1}
    assert "rare_event" not in result.table["path"].to_list()
    assert "rare_event" not in result.links["target"].to_list()
    groups = result.groups.filter(pl.col("group") == "converted")
    assert groups["suppressed"].item() is True
    assert groups["median"].item() is None


def test_top_keeps_the_most_frequent_paths(engine: Engine) -> None:
    rows = []
    for i, (event, n) in enumerate((("like", 3), ("share", 2), ("comment", 1))):
        for j in range(n):
            cid = f"{i}-{j}"
            rows += [(cid, "2026-01-01 09:00", "visit"), (cid, "2026-01-01 10:00", "signup")]
            rows.append((cid, "2026-01-01 11:00", event))
    result = run(engine(events_frame(*rows)), top=2)
    assert result.table.filter(pl.col("length") == 1)["path"].to_list() == [
        "like",
        "share",
        OTHER,
    ]
    targets = result.links.filter(pl.col("position") == 1)["target"].to_list()
    assert targets == ["like", "share", OTHER]


def test_the_default_step_is_the_biggest_leak(engine: Engine) -> None:
    rows = []
    for i in range(40):
        rows.append((f"c{i}", "2026-01-01 09:00", "visit"))
        if i < 36:
            rows.append((f"c{i}", "2026-01-01 10:00", "signup"))
        if i < 10:
            rows.append((f"c{i}", "2026-01-01 11:00", "purchase"))
    result = run(engine(events_frame(*rows)), step=None)
    assert (result.step, result.from_name, result.to_name) == (2, "signup", "purchase")
    assert sizes(result) == {"converted": 10, "dropped": 26, "open": 0}


def test_a_step_may_be_named(engine: Engine) -> None:
    events = engine(events_frame(("c", "2026-01-01 09:00", "visit")))
    assert run(events, step="visit").step == 1


@on_spark
def test_stages_read_by_entry_give_the_same_paths_on_every_engine(engine: Engine) -> None:
    inbound = load_funnel("inbound")
    frame = events_frame(
        ("a", "2026-01-01 09:00", "page_view"),
        ("a", "2026-01-01 10:00", "page_view"),
        ("a", "2026-01-01 11:00", "like"),
        ("a", "2026-01-02 11:00", "newsletter_signup"),
        ("a", "2026-01-03 11:00", "page_view"),
        ("b", "2026-01-01 09:00", "page_view"),
        ("b", "2026-01-01 10:00", "like"),
        ("b", "2026-01-01 10:00", "comment"),
        ("b", "2026-01-02 10:00", "webinar"),
    )
    result = drop_off_paths(engine(frame), inbound, window="14d", step=2, min_size=0)
    expected = drop_off_paths(frame, inbound, window="14d", step=2, min_size=0)
    assert_frame_equal(result.table, expected.table)
    assert_frame_equal(result.groups, expected.groups)
    assert_frame_equal(result.links, expected.links)


# --- options and errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"order": "any"}, "'any' has no 'after step k'"),
        ({"step": 3}, "step: 3 has no next step; give a step from 1 to 2"),
        ({"step": "purchase"}, "'purchase' has no next step"),
        ({"step": "signpu"}, "Did you mean 'signup'"),
        ({"step": 0}, "give a step from 1 to 2"),
        ({"depth": 0}, "depth: expected a whole number from 1 to 5"),
        ({"top": -1}, "top: expected a whole number"),
        ({"min_size": 1.5}, "min_size: expected a whole number"),
        ({"steps": ["visit"]}, "at least two steps"),
        ({"as_of": "2025-12-01", "since": "2026-01-01"}, "as_of .* is before since"),
    ],
)
def test_unusable_options_are_refused(options: dict[str, Any], message: str) -> None:
    events = events_frame(("c", "2026-01-01 09:00", "visit"))
    with pytest.raises(ParameterError, match=message):
        run(events, **options)


def test_biggest_leak_step_prefers_steps_with_enough_contacts() -> None:
    assert biggest_leak_step([1000, 900, 2, 0]) == 2
    assert biggest_leak_step([10, 9, 1]) == 2
    assert biggest_leak_step([0, 0, 0]) == 1


def test_the_leak_base_is_the_figures() -> None:
    from funnelkit.figure_style import LEAK_BASE
    from funnelkit.paths import LEAK_BASE as PATHS_LEAK_BASE

    assert PATHS_LEAK_BASE == LEAK_BASE


def test_no_events_give_empty_tables() -> None:
    empty = events_frame(("c", "2026-01-01 09:00", "visit")).clear()
    result = run(empty, until=None)
    assert result.table.is_empty() and result.links.is_empty()
    assert sizes(result) == {"converted": 0, "dropped": 0, "open": 0}
    assert result.as_of is None
    json.dumps(result.to_dict())


def test_it_is_exported_at_the_top_level() -> None:
    assert funnelkit.drop_off_paths is drop_off_paths
    assert "drop_off_paths" in funnelkit.__all__


# --- display ----------------------------------------------------------------------------------
def test_event_names_are_escaped_in_the_html() -> None:
    events = events_frame(
        ("c", "2026-01-01 09:00", "visit"),
        ("c", "2026-01-01 10:00", "<b>signup</b>"),
        ("c", "2026-01-01 11:00", "<img src=x onerror=alert(1)>"),
    )
    result = run(events, steps=["visit", "<b>signup</b>", "purchase"])
    page = result._repr_html_()
    assert "<img" not in page and "<b>signup" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;signup&lt;/b&gt;" in page


def test_to_dict_is_json_ready_and_text_prints() -> None:
    events = events_frame(
        ("c", "2026-01-01 09:00", "visit"),
        ("c", "2026-01-01 10:00", "signup"),
        ("c", "2026-01-01 11:00", "like"),
    )
    result = run(events)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["from_step"] == "signup" and data["to_step"] == "purchase"
    assert data["paths"][0]["path"] == "like"
    assert [g["group"] for g in data["groups"]] == ["converted", "dropped", "open"]
    assert "stopped (window closed): 1" in str(result)


def test_the_sample_gives_the_same_paths_on_duckdb(duckdb_con: Any) -> None:
    log = read_events(SAMPLE / "events.csv")
    people = read_contacts(SAMPLE / "contacts.csv")
    inbound = load_funnel("inbound")
    options: dict[str, Any] = {"window": "14d", "step": 2, "min_size": 5, "top": 6}
    on_polars = drop_off_paths(log, inbound, contacts=people, **options)
    duck = duckdb_engine(duckdb_con)
    on_duckdb = drop_off_paths(
        duck(log.frame.collect()), inbound, contacts=duck(people.frame.collect()), **options
    )
    assert_frame_equal(on_polars.table, on_duckdb.table)
    assert_frame_equal(on_polars.groups, on_duckdb.groups)
    assert_frame_equal(on_polars.links, on_duckdb.links)
    assert on_polars.table.height > 5


# --- a slow, obviously correct reference on random logs ---------------------------------------
START = datetime(2026, 1, 5, tzinfo=UTC)
VOCAB = ("a", "b", "c", "d")


def reference(
    log: pl.DataFrame, steps: list[str], k: int, window: timedelta, until: datetime | None
) -> tuple[dict[tuple[str, int, str], int], dict[str, tuple[int, float | None]]]:
    """Per contact, in Python: the group, the path after step k, the wait; then counts."""
    chains = funnel_chains(log, steps, window=window, until=until).collect()
    events = log if until is None else log.filter(pl.col("occurred_at") < until)
    last = events["occurred_at"].max()
    end = until if until is not None else last + timedelta(microseconds=1)
    now = until if until is not None else last
    by_contact: dict[str, list[tuple[datetime, str]]] = {}
    for cid, moment, event in events.select("contact_id", "occurred_at", "event").iter_rows():
        by_contact.setdefault(cid, []).append((moment, event))
    counts: Counter[tuple[str, int, str]] = Counter()
    waits: dict[str, list[float]] = {"converted": [], "dropped": [], "open": []}
    for row in chains.iter_rows(named=True):
        if row["level"] < k or row["excluded"]:
            continue
        t1, tk = row["step_1_at"], row[f"step_{k}_at"]
        if row["level"] > k:
            group, cut_ok = "converted", (lambda t, nxt=row[f"step_{k + 1}_at"]: t < nxt)
            waits[group].append((row[f"step_{k + 1}_at"] - tk).total_seconds())
        else:
            group = "dropped" if t1 + window < end else "open"
            cut_ok = lambda t, t1=t1: t <= t1 + window and t < end  # noqa: E731
            waits[group].append((now - tk).total_seconds())
        after = sorted({(t, e) for t, e in by_contact[row["contact_id"]] if t > tk and cut_ok(t)})
        path: list[str] = []
        for _, event in after:
            if not path or path[-1] != event:
                path.append(event)
        path = path[:3] or [NO_EVENT]
        for length in range(1, len(path) + 1):
            counts[(group, length, " → ".join(path[:length]))] += 1
    summary = {g: (len(w), _median(w)) for g, w in waits.items()}
    return dict(counts), summary


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = (len(ordered) - 1) / 2
    low, high = ordered[math.floor(middle)], ordered[math.ceil(middle)]
    return low + (high - low) * (middle - math.floor(middle))


random_logs = st.lists(
    st.tuples(
        st.sampled_from(("p", "q", "r", "s", "t")),
        st.integers(0, 20 * 24).map(lambda h: START + timedelta(hours=h)),
        st.sampled_from(VOCAB),
    ),
    min_size=1,
    max_size=40,
).map(
    lambda rows: pl.DataFrame(
        rows,
        schema={
            "contact_id": pl.String,
            "occurred_at": pl.Datetime("us", "UTC"),
            "event": pl.String,
        },
        orient="row",
    )
)

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)


@PROPERTY
@given(
    log=random_logs,
    steps=st.lists(st.sampled_from(VOCAB), min_size=2, max_size=3),
    k=st.integers(1, 2),
    days=st.integers(1, 6),
    until=st.none() | st.integers(2, 22).map(lambda d: START + timedelta(days=d)),
)
def test_paths_match_a_slow_reference_and_duckdb(
    duckdb_con: Any,
    log: pl.DataFrame,
    steps: list[str],
    k: int,
    days: int,
    until: datetime | None,
) -> None:
    k = min(k, len(steps) - 1)
    window = timedelta(days=days)
    result = drop_off_paths(log, steps, window=window, step=k, min_size=0, top=1000, until=until)
    counts, summary = reference(log, steps, k, window, until)
    got = {
        (r["group"], r["length"], r["path"]): r["contacts"]
        for r in result.table.iter_rows(named=True)
    }
    assert got == counts
    for row in result.groups.iter_rows(named=True):
        n, median = summary[row["group"]]
        assert row["contacts"] == n
        shown = None if row["median"] is None else row["median"].total_seconds()
        assert shown == (None if median is None else pytest.approx(median, abs=1e-6))
    on_duckdb = drop_off_paths(
        duckdb_engine(duckdb_con)(log),
        steps,
        window=window,
        step=k,
        min_size=0,
        top=1000,
        until=until,
    )
    assert_frame_equal(on_duckdb.table, result.table)
    assert_frame_equal(on_duckdb.groups, result.groups)
    assert_frame_equal(on_duckdb.links, result.links)


@pytest.mark.parametrize("stage_steps", ["entry", "evidence"])
def test_a_stage_step_may_be_named_by_its_id(stage_steps: str) -> None:
    events = events_frame(("c", "2026-01-01 09:00", "page_view"))
    inbound = load_funnel("inbound")
    result = drop_off_paths(events, inbound, window="7d", step="warm_lead", stage_steps=stage_steps)
    assert (result.step, result.from_name) == (3, "Warm lead")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_payload_stays_text_in_the_html_and_the_figure(payload: str) -> None:
    from funnelkit.figure_paths import paths_figure

    events = events_frame(
        ("c", "2026-01-01 09:00", "visit"),
        ("c", "2026-01-01 10:00", payload),
        ("c", "2026-01-01 11:00", payload + "!"),
        ("c", "2026-01-01 12:00", "purchase"),
        ("d", "2026-01-01 09:00", "visit"),
        ("d", "2026-01-01 10:00", payload),
        ("d", "2026-01-01 11:00", payload),
    )
    result = run(events, steps=["visit", payload, "purchase"])
    assert_inert(result._repr_html_())
    sankey = paths_figure(result).data[0]
    for label in (*sankey.node.label, paths_figure(result).layout.title.text):
        assert "<" not in label, label


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
        funnelkit.drop_off_paths(log, ["page_view", "purchse"], window="7d")
