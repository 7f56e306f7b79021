"""Exclusions per attempt (``rules="funnelkit"``) and on the counted chain (``"clickhouse"``).

Times in the timelines are hours after T0.  An attempt is a step-1 instant;
each has its own counted chain within the window; a contact counts by its
deepest clean attempt and is excluded only when every attempt is spoiled.
The hand-made timelines run on every engine; the property tests compare the
public chains with the slow reference of :mod:`tests.test_conversion`, and
the polars kernel with the core.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit.chains import contact_chains, read_steps, sort_key_modes
from funnelkit.conversion import Exclusion, funnel, funnel_chains
from funnelkit.core.chains import counted_chains, nw_spec
from funnelkit.engine_frames import core_events
from tests.engines import Engine, on_spark
from tests.test_conversion import T0, H, log, reference

UNSUB = [Exclusion("unsub", 1, 2)]


def chains(events: Any, steps: Any, **kw: Any) -> dict[str, tuple[int, list[float], bool]]:
    """Per contact: level, step times (hours after T0) and excluded, from ``funnel_chains``."""
    rows = funnel_chains(events, steps, **kw).collect()
    return {
        r["contact_id"]: (
            r["level"],
            [(r[f"step_{j}_at"] - T0) / H for j in range(1, r["level"] + 1)],
            r["excluded"],
        )
        for r in rows.iter_rows(named=True)
    }


# --- the rule on hand-made timelines, every engine ---------------------------------------
@on_spark
def test_a_spoiled_first_attempt_leaves_a_clean_later_one_to_count(engine: Engine) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit"),
                ("a", 1, "unsub"),
                ("a", 2, "buy"),
                ("a", 10, "visit"),
                ("a", 13, "buy"),
            ]
        )
    )
    got = chains(events, ["visit", "buy"], window="5h", exclusions=UNSUB)
    assert got == {"a": (2, [10.0, 13.0], False)}
    result = funnel(events, ["visit", "buy"], window="5h", exclusions=UNSUB)
    assert result.table["count"].to_list() == [1, 1]
    assert result.excluded == 0
    assert result.time_to_convert.summary["median"].to_list() == [dt.timedelta(hours=3)]
    old = chains(events, ["visit", "buy"], window="5h", exclusions=UNSUB, rules="clickhouse")
    assert old == {"a": (2, [0.0, 2.0], True)}


@on_spark
def test_a_contact_is_excluded_only_when_every_attempt_is_spoiled(engine: Engine) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit"),
                ("a", 1, "unsub"),
                ("a", 2, "visit"),
                ("a", 3, "unsub"),
                ("a", 4, "buy"),
            ]
        )
    )
    got = chains(events, ["visit", "buy"], window="5h", exclusions=UNSUB)
    assert got == {"a": (2, [2.0, 4.0], True)}  # the counted chain is kept, marked
    result = funnel(events, ["visit", "buy"], window="5h", exclusions=UNSUB)
    assert result.table["count"].to_list() == [0, 0]
    assert result.excluded == 1


def test_a_clean_attempt_that_reaches_less_far_counts_at_its_level(engine: Engine) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit"),
                ("a", 1, "unsub"),
                ("a", 2, "trial"),
                ("a", 3, "buy"),
                ("a", 20, "visit"),
                ("a", 21, "trial"),
            ]
        )
    )
    steps = ["visit", "trial", "buy"]
    got = chains(events, steps, window="5h", exclusions=UNSUB)
    assert got == {"a": (2, [20.0, 21.0], False)}
    assert funnel(events, steps, window="5h", exclusions=UNSUB).table["count"].to_list() == [
        1,
        1,
        0,
    ]


def test_an_exclusion_at_the_instant_of_a_step_is_not_between_the_steps(engine: Engine) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit"),
                ("a", 0, "unsub"),  # at the step-1 instant
                ("a", 2, "buy"),
                ("a", 2, "unsub"),  # at the step-2 instant
                ("b", 0, "visit"),
                ("b", 1, "unsub"),
                ("b", 1, "visit"),  # a second attempt at the exclusion's instant
                ("b", 2, "buy"),
            ]
        )
    )
    got = chains(events, ["visit", "buy"], window="5h", exclusions=UNSUB)
    # b's counted chain starts at 1 already (the latest start): clean under both rules
    assert got == {"a": (2, [0.0, 2.0], False), "b": (2, [1.0, 2.0], False)}


def test_an_open_attempt_is_spoiled_up_to_the_end_of_its_window(engine: Engine) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit"),
                ("a", 5, "unsub"),  # at the window's end: inside
                ("b", 0, "visit"),
                ("b", 6, "unsub"),  # after it
                ("c", 0, "visit"),
                ("c", 5, "unsub"),
                ("c", 6, "visit"),  # a second attempt, open and clean
            ]
        )
    )
    got = chains(events, ["visit", "buy"], window="5h", exclusions=UNSUB)
    assert got == {
        "a": (1, [0.0], True),
        "b": (1, [0.0], False),
        "c": (1, [6.0], False),
    }


def test_clean_attempts_that_tie_count_the_first_to_complete_then_the_latest_start(
    engine: Engine,
) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit"),
                ("a", 1, "unsub"),
                ("a", 2, "trial"),
                ("a", 3, "buy"),  # attempt 0: level 3, spoiled
                ("a", 10, "visit"),
                ("a", 11, "visit"),
                ("a", 12, "trial"),  # attempts 10 and 11: level 2 at 12, both clean
                ("a", 20, "visit"),
                ("a", 22, "trial"),  # attempt 20: level 2 at 22, clean
            ]
        )
    )
    got = chains(events, ["visit", "trial", "buy"], window="5h", exclusions=UNSUB)
    assert got == {"a": (2, [11.0, 12.0], False)}


def test_an_exclusion_between_later_steps_spoils_only_attempts_reaching_its_from_step(
    engine: Engine,
) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit"),
                ("a", 1, "trial"),
                ("a", 2, "unsub"),
                ("a", 3, "buy"),  # spoiled between trial and buy
                ("a", 10, "visit"),  # reaches step 1 only: clean
            ]
        )
    )
    steps = ["visit", "trial", "buy"]
    excl = [Exclusion("unsub", 2, 3)]
    assert chains(events, steps, window="5h", exclusions=excl) == {"a": (1, [10.0], False)}


def test_a_repeated_step_takes_its_attempts_one_event_per_step(engine: Engine) -> None:
    events = engine(
        log(
            [
                ("a", 0, "page_view"),
                ("a", 1, "unsub"),
                ("a", 2, "page_view"),
                ("a", 3, "page_view"),
            ]
        )
    )
    steps = ["page_view", "page_view"]
    got = chains(events, steps, window="5h", exclusions=UNSUB)
    # attempt 0 is spoiled; attempt 2 is clean, with step 2 at 3 (one event per step)
    assert got == {"a": (2, [2.0, 3.0], False)}
    old = chains(events, steps, window="5h", exclusions=UNSUB, rules="clickhouse")
    assert old == {"a": (2, [0.0, 0.0], False)}  # one event fills both steps


def test_the_first_entry_has_one_attempt(engine: Engine) -> None:
    events = engine(
        log([("a", 0, "visit"), ("a", 1, "unsub"), ("a", 10, "visit"), ("a", 11, "buy")])
    )
    got = chains(events, ["visit", "buy"], window="5h", exclusions=UNSUB, first_entry=True)
    assert got == {"a": (1, [0.0], True)}


def test_the_breakdown_value_stays_the_first_step1_events(engine: Engine) -> None:
    events = engine(
        log(
            [
                ("a", 0, "visit", "ads"),
                ("a", 1, "unsub"),
                ("a", 2, "buy"),
                ("a", 10, "visit", "social"),
                ("a", 11, "buy"),
            ]
        )
    )
    result = funnel(events, ["visit", "buy"], window="5h", exclusions=UNSUB, by="channel")
    assert result.breakdown is not None
    rows = result.breakdown.select("segment", "step", "count").rows()
    assert ("ads", 2, 1) in rows


# --- properties: the public chains against the reference, the kernel against the core -----
@st.composite
def attempt_logs(draw: st.DrawFn, *, shape: str = "any") -> dict[str, Any]:
    """Logs of contacts with repeated step-1 events and excluded events near the steps.

    ``shape``: ``"repeated"`` (every contact has two step-1 events or more),
    ``"same_instant"`` (each excluded event at the instant of a step event),
    ``"spoiled_then_clean"`` (a spoiled attempt reaching the last step, then
    a clean one later), ``"shorter_clean"`` (a spoiled attempt reaching the
    last step, then a clean one stopping earlier), ``"any"``.
    """
    n = draw(st.integers(2, 3))
    repeated = draw(st.booleans())
    steps = [{"a"}, {"a"} if repeated else {"b"}, {"c"}][:n]
    names = sorted(set().union(*steps))
    a = draw(st.integers(1, n - 1))
    b = draw(st.integers(a + 1, n))
    exclusions = [({"x"}, a, b)]
    if draw(st.booleans()):
        exclusions.append(({"y"}, 1, n))
    window = draw(st.integers(1, 6))
    point = st.tuples(st.integers(0, 16), st.sampled_from([*names, "x", "y", "z"]))
    events: dict[str, list[tuple[int, str, str | None]]] = {}
    for c in range(draw(st.integers(1, 4))):
        evs = [(t, e, None) for t, e in draw(st.lists(point, max_size=8))]
        if shape == "repeated":
            evs += [(t, "a", None) for t in draw(st.lists(st.integers(0, 16), min_size=2))]
        if shape == "same_instant" and evs:
            hits = draw(st.lists(st.sampled_from([t for t, _, _ in evs]), min_size=1, max_size=3))
            evs += [(t, draw(st.sampled_from(["x", "y"])), None) for t in hits]
        if shape in ("spoiled_then_clean", "shorter_clean"):
            # steps two hours apart from ``start``, an excluded event just after step a;
            # a second attempt 30 hours on, clean, to the last step or short of it
            start = draw(st.integers(0, 4))
            full = [(start + 2 * i, sorted(s)[0], None) for i, s in enumerate(steps)]
            reach = n if shape == "spoiled_then_clean" else draw(st.integers(1, n - 1))
            clean = [(start + 30 + 2 * i, e, v) for i, (_, e, v) in enumerate(full[:reach])]
            evs = [*full, (start + 2 * (a - 1) + 1, "x", None), *clean]
        events[f"c{c}"] = evs
    return {
        "events": events,
        "steps": steps,
        "window": window + (2 * n if shape in ("spoiled_then_clean", "shorter_clean") else 0),
        "order": draw(st.sampled_from(["ordered", "strict_increase"])),
        "first_entry": False,
        "exclusions": exclusions,
        "seed": draw(st.integers(0, 1000)),
        "rules": "funnelkit",
        "since": None,
    }


PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _public(engine: Engine, s: dict[str, Any]) -> dict[str, tuple[int, list[int], bool]]:
    rows = [(c, t, e, v) for c, evs in s["events"].items() for t, e, v in evs]
    random.Random(s["seed"]).shuffle(rows)
    events = engine(log(rows))
    options = {
        "window": dt.timedelta(hours=s["window"]),
        "order": s["order"],
        "exclusions": [Exclusion(sorted(e), a, b) for e, a, b in s["exclusions"]],
    }
    got = chains(events, [sorted(x) for x in s["steps"]], **options)
    return {c: (level, [int(t) for t in times], x) for c, (level, times, x) in got.items()}


def _reference(s: dict[str, Any]) -> dict[str, tuple[int, list[int], bool]]:
    out = {}
    for contact, evs in s["events"].items():
        found = reference(
            evs, s["steps"], s["window"], s["order"], False, s["exclusions"], "funnelkit"
        )
        if found is not None:
            out[contact] = found[:3]
    return out


@pytest.mark.slow
@PROPERTY
@given(s=attempt_logs(shape="repeated"))
def test_repeated_step1_events_equal_the_reference(engine: Engine, s: dict[str, Any]) -> None:
    assert _public(engine, s) == _reference(s)


@pytest.mark.slow
@PROPERTY
@given(s=attempt_logs(shape="same_instant"))
def test_exclusions_at_the_instant_of_a_step_equal_the_reference(
    engine: Engine, s: dict[str, Any]
) -> None:
    assert _public(engine, s) == _reference(s)


@pytest.mark.slow
@PROPERTY
@given(s=attempt_logs(shape="spoiled_then_clean"))
def test_a_spoiled_attempt_then_a_clean_one_equals_the_reference(
    engine: Engine, s: dict[str, Any]
) -> None:
    got = _public(engine, s)
    assert got == _reference(s)
    n = len(s["steps"])
    assert all(level == n and not x for level, _, x in got.values())


@pytest.mark.slow
@PROPERTY
@given(s=attempt_logs(shape="shorter_clean"))
def test_a_clean_attempt_shorter_than_a_spoiled_one_equals_the_reference(
    engine: Engine, s: dict[str, Any]
) -> None:
    got = _public(engine, s)
    assert got == _reference(s)
    n = len(s["steps"])
    assert all(level < n and not x for level, _, x in got.values())


# three attempts completing level 2 at one instant; the latest is spoiled (its open
# window reaches the excluded event), the other two clean: the later start counts
TIED = {
    "events": {
        "c0": [(0, "a", None), (1, "a", None), (2, "a", None), (4, "b", None), (7, "x", None)]
    },
    "steps": [{"a"}, {"b"}, {"c"}],
    "window": 5,
    "order": "ordered",
    "first_entry": False,
    "exclusions": [({"x"}, 1, 3)],
    "seed": 0,
    "rules": "funnelkit",
    "since": None,
}


@pytest.mark.slow
@PROPERTY
@given(s=attempt_logs())
@example(s=TIED)
def test_attempts_equal_the_reference(engine: Engine, s: dict[str, Any]) -> None:
    assert _public(engine, s) == _reference(s)


@pytest.mark.slow
@settings(PROPERTY, max_examples=40)
@given(s=attempt_logs(), rules=st.sampled_from(["funnelkit", "clickhouse"]))
@example(s=TIED, rules="funnelkit")
def test_the_kernel_gives_the_attempts_of_the_core(s: dict[str, Any], rules: str) -> None:
    rows = [(c, t, e, v) for c, evs in s["events"].items() for t, e, v in evs]
    events = log(rows)
    ns = nw_spec(
        [sorted(x) for x in s["steps"]],
        dt.timedelta(hours=s["window"]),
        s["order"],
        False,
        [Exclusion(sorted(e), a, b) for e, a, b in s["exclusions"]],
        rules=rules,
    )
    columns = ["contact_id", "_lvl", *(f"_t{j}" for j in range(1, ns.n + 1)), "_excluded"]
    core = nw.to_native(counted_chains(core_events(events), ns, since=None, until=None))
    expected = core.collect().select(columns).with_columns(pl.col("_lvl").cast(pl.Int64))
    _, read, _ = read_steps(events, ns.spec, None, None)
    for mode in sort_key_modes(ns.spec):
        kernel = contact_chains(read, ns.spec, mode=mode, keep_id=True).collect()
        got = kernel.select(columns).with_columns(pl.col("_lvl").cast(pl.Int64))
        assert_frame_equal(got.sort("contact_id"), expected.sort("contact_id"))
