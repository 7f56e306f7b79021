"""``order="consecutive"`` (PostHog's strict) and ``order="unordered"`` (PostHog's unordered).

Hand-made timelines from the rules of ``docs/concepts/orders.md`` and
PostHog's documentation, run on every engine; a slow per-contact reference
with hypothesis logs (ties, repeated events, other events in between, the
window boundary); and the core on polars against the core on DuckDB over
random logs, definitions and options.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from funnelkit.conversion import Exclusion, funnel, funnel_chains
from funnelkit.core import chains as core
from funnelkit.core.chains import nw_spec
from funnelkit.definitions import Funnel
from funnelkit.errors import ParameterError
from funnelkit.steps import CORE_ORDERS
from tests.engines import Engine, on_spark, same_funnel, spark_engine, spark_only
from tests.strategies import VOCAB as DRAWN_VOCAB
from tests.strategies import Draws
from tests.strategies import definitions as random_definitions
from tests.test_conversion import T0, H, chain, counts, log

ORDERS = ("consecutive", "unordered")


# --- consecutive: no other event in between -------------------------------------------------
def test_another_event_in_between_breaks_a_consecutive_chain(engine: Engine) -> None:
    # PostHog's strict order: step B must come directly after step A.  A contact doing
    # A, B, D, C converts A -> B only; another doing A, B, C converts fully.
    events = engine(
        log(
            [
                ("s", 0, "A"),
                ("s", 1, "B"),
                ("s", 2, "D"),
                ("s", 3, "C"),
                ("t", 0, "A"),
                ("t", 1, "B"),
                ("t", 2, "C"),
            ]
        )
    )
    assert counts(events, ["A", "B", "C"], window="1d", order="consecutive") == [2, 2, 1]
    assert counts(events, ["A", "B", "C"], window="1d", order="ordered") == [2, 2, 2]


def test_any_event_counts_in_between_even_a_repeated_step(engine: Engine) -> None:
    # A, A, B: the first A is not directly followed by B, the second is.
    events = engine(log([("c", 0, "A"), ("c", 1, "A"), ("c", 2, "B"), ("c", 2, "other")]))
    assert chain(events, ["A", "B"], "c", window="1d", order="consecutive") == (2, [1.0, 2.0])
    assert counts(events, ["A", "B", "A"], window="1d", order="consecutive") == [1, 1, 0]


def test_events_at_the_step_instant_are_not_in_between(engine: Engine) -> None:
    # ties are not ordered: an event at the same timestamp as A or B does not break A -> B
    events = engine(
        log([("c", 0, "A"), ("c", 0, "other"), ("c", 1, "noise"), ("c", 1, "B"), ("d", 0, "A")])
    )
    assert counts(events, ["A", "B"], window="1d", order="consecutive") == [2, 1]
    # steps at one instant: A and B logged together fill both steps
    together = engine(log([("c", 0, "A"), ("c", 0, "B"), ("c", 0, "x")]))
    assert counts(together, ["A", "B"], window="1d", order="consecutive") == [1, 1]


def test_the_consecutive_window_boundary_is_inside(engine: Engine) -> None:
    events = engine(log([("c", 0, "A"), ("c", 24, "B"), ("d", 0, "A"), ("d", 25, "B")]))
    assert counts(events, ["A", "B"], window="1d", order="consecutive") == [2, 1]


def test_one_event_fills_one_consecutive_step_unless_clickhouse(engine: Engine) -> None:
    events = engine(log([("c", 0, "buy"), ("c", 1, "x"), ("d", 0, "buy"), ("d", 1, "buy")]))
    assert counts(events, ["buy", "buy"], window="1d", order="consecutive") == [2, 1]
    assert counts(events, ["buy", "buy"], window="1d", order="consecutive", rules="clickhouse") == [
        2,
        2,
    ]


def test_the_counted_consecutive_chain_completes_first_and_starts_last(engine: Engine) -> None:
    # A 0h, then A and B at 1h, B 2h: A0 B1 and A1 B1 both complete at 1h; A1 B1 starts last
    events = engine(log([("c", 0, "A"), ("c", 1, "B"), ("c", 1, "A"), ("c", 2, "B")]))
    assert chain(events, ["A", "B"], "c", window="1d", order="consecutive") == (2, [1.0, 1.0])
    # a -> a|b -> b over a 0h, a 1h, b 2h, b 3h: a0 a1 b2 completes first (at 2h); under
    # "clickhouse" one b fills two steps: a1 b2 b2 completes at 2h too and starts later
    more = engine(log([("c", 0, "a"), ("c", 1, "a"), ("c", 2, "b"), ("c", 3, "b")]))
    steps = ["a", ["a", "b"], "b"]
    got = chain(more, steps, "c", window="1d", order="consecutive")
    assert got == (3, [0.0, 1.0, 2.0])
    got = chain(more, steps, "c", window="1d", order="consecutive", rules="clickhouse")
    assert got == (3, [1.0, 2.0, 2.0])


@on_spark
def test_consecutive_with_first_entry_exclusions_and_since(engine: Engine) -> None:
    rows = [
        ("a", 0, "A"),
        ("a", 1, "B"),
        ("a", 5, "A"),
        ("a", 6, "B"),
        ("b", 3, "A"),
        ("b", 4, "B"),
        ("c", 3, "A"),
        ("c", 3, "stop"),
        ("c", 4, "B"),
    ]
    events = engine(log(rows))
    options: dict[str, Any] = {"window": "1d", "order": "consecutive"}
    assert counts(events, ["A", "B"], **options) == [3, 3]
    # the first step-1 event ever: contact a started before ``since``
    since = T0 + 2 * H
    assert counts(events, ["A", "B"], first_entry=True, since=since, **options) == [2, 2]
    assert counts(events, ["A", "B"], since=since, **options) == [3, 3]
    # ``stop`` at the instant of A is not strictly after it: nothing is excluded
    result = funnel(events, ["A", "B"], exclusions=[Exclusion("stop", 1, 2)], **options)
    assert result.table["count"].to_list() == [3, 3]


# --- unordered: any k distinct steps -------------------------------------------------------
def test_unordered_counts_any_k_distinct_steps(engine: Engine) -> None:
    # PostHog's unordered funnel: steps in any order within the window.  A contact doing
    # C, A counts at step 2 (two distinct steps); B, B counts at step 1 only.
    events = engine(
        log(
            [
                ("p", 0, "C"),
                ("p", 1, "A"),
                ("q", 0, "B"),
                ("q", 1, "B"),
                ("r", 0, "B"),
                ("r", 2, "C"),
                ("r", 3, "A"),
                ("s", 0, "x"),
            ]
        )
    )
    assert counts(events, ["A", "B", "C"], window="1d", order="unordered") == [3, 2, 1]
    # "any" needs steps 1..k: only p (A) and r (A, B, C) reach step 1
    assert counts(events, ["A", "B", "C"], window="1d", order="any") == [2, 1, 1]


def test_unordered_reports_the_times_the_distinct_steps_were_reached(engine: Engine) -> None:
    # C 0h, C 1h, A 2h, B 5h: step k is reached when the k-th distinct step is first done
    # in the window; the windows from 0h and 1h complete at 5h, the one from 1h starts last
    events = engine(log([("c", 0, "C"), ("c", 1, "C"), ("c", 2, "A"), ("c", 5, "B")]))
    got = chain(events, ["A", "B", "C"], "c", window="1d", order="unordered")
    assert got == (3, [1.0, 2.0, 5.0])
    result = funnel(events, ["A", "B", "C"], window="1d", order="unordered")
    summary = result.time_to_convert.summary
    medians = {(r["from_step"], r["to_step"]): r["median"] for r in summary.iter_rows(named=True)}
    assert medians == {(1, 2): 1 * H, (2, 3): 3 * H, (1, 3): 4 * H}


def test_the_unordered_window_boundary_is_inside(engine: Engine) -> None:
    events = engine(
        log([("c", 0, "B"), ("c", 24, "A"), ("c", 49, "C"), ("d", 0, "A"), ("d", 25, "B")])
    )
    assert counts(events, ["A", "B", "C"], window="1d", order="unordered") == [2, 1, 0]


def test_the_counted_unordered_window_completes_first_and_starts_last(engine: Engine) -> None:
    # windows from A 0h and A 3h both reach the level; from 3h it completes first (B at 4h)
    events = engine(log([("c", 0, "A"), ("c", 3, "A"), ("c", 4, "B"), ("c", 30, "B")]))
    got = chain(events, ["A", "B"], "c", window="1d", order="unordered")
    assert got == (2, [3.0, 4.0])


@on_spark
def test_unordered_with_first_entry_exclusions_and_since(engine: Engine) -> None:
    rows = [
        ("a", 0, "B"),
        ("a", 1, "A"),
        ("a", 30, "A"),
        ("a", 31, "B"),
        ("b", 3, "B"),
        ("b", 4, "stop"),
        ("b", 5, "A"),
    ]
    events = engine(log(rows))
    options: dict[str, Any] = {"window": "1d", "order": "unordered"}
    assert counts(events, ["A", "B"], **options) == [2, 2]
    # with first_entry only windows holding the contact's first step-1 event (ever) count
    assert counts(events, ["A", "B"], first_entry=True, **options) == [2, 2]
    assert chain(events, ["A", "B"], "a", first_entry=True, **options) == (2, [0.0, 1.0])
    late = engine(log([("c", 0, "A"), ("c", 30, "A"), ("c", 31, "B")]))
    assert counts(late, ["A", "B"], first_entry=True, **options) == [1, 0]
    assert counts(late, ["A", "B"], **options) == [1, 1]
    since = T0 + 10 * H
    assert counts(events, ["A", "B"], first_entry=True, since=since, **options) == [0, 0]
    assert counts(events, ["A", "B"], since=since, **options) == [1, 1]
    # an exclusion between the first and the second distinct step reached
    result = funnel(events, ["A", "B"], exclusions=[Exclusion("stop", 1, 2)], **options)
    assert result.table["count"].to_list() == [1, 1]
    assert result.excluded == 1


def test_unordered_with_a_shared_event_asks_for_clickhouse_rules() -> None:
    events = log([("c", 0, "buy")])
    with pytest.raises(ParameterError, match=r"order='unordered'.*rules='clickhouse'"):
        funnel(events, ["buy", ["buy", "view"]], window="1d", order="unordered")
    both = funnel(
        events, ["buy", ["buy", "view"]], window="1d", order="unordered", rules="clickhouse"
    )
    assert both.table["count"].to_list() == [1, 1]


# --- the options, the errors and the command line ------------------------------------------
@pytest.mark.parametrize("order", ORDERS)
def test_the_new_orders_read_stages_by_entry_and_break_down(engine: Engine, order: str) -> None:
    from funnelkit.definitions import load_funnel

    inbound = load_funnel("inbound")
    rows = [("a", 0, "page_view", "ads"), ("a", 1, "like"), ("a", 2, "form_fill"), ("b", 0, "x")]
    events = engine(log(rows).with_columns(amount=pl.lit(0.0)))
    result = funnel(events, inbound, window="7d", order=order, by="channel", min_size=0, top=None)
    assert result.table["count"].to_list() == [2, 1, 1, 0, 0]
    assert result.breakdown is not None
    assert result.breakdown.filter(step=3)["count"].sum() == 1


def test_an_unknown_order_still_names_the_orders() -> None:
    with pytest.raises(ParameterError, match=r"order: 'strict' is not one of .*'consecutive'"):
        funnel(log([("c", 0, "A")]), ["A"], window="1d", order="strict")
    with pytest.raises(ParameterError, match="Did you mean 'unordered'"):
        funnel(log([("c", 0, "A")]), ["A"], window="1d", order="unorderd")


def test_the_new_orders_go_to_the_core_on_polars() -> None:
    events = log([("c", 0, "A"), ("c", 1, "B")])
    for order in ORDERS:
        ns = nw_spec(["A", "B"], "1d", order, False, ())
        assert isinstance(core.chains_of(events, ns, since=None, until=None), core.CoreChains)
    assert set(ORDERS) == CORE_ORDERS


@pytest.mark.parametrize("order", ORDERS)
def test_the_command_line_takes_the_new_orders(tmp_path: Path, order: str) -> None:
    path = tmp_path / "events.csv"
    log([("c", 0, "A"), ("c", 1, "x"), ("c", 2, "B"), ("d", 0, "B"), ("d", 1, "A")]).write_csv(path)
    command = [str(Path(sys.executable).with_name("funnelkit")), "funnel", str(path)]
    done = subprocess.run(
        [*command, "--steps", "A,B", "--window", "1d", "--order", order],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert order in done.stdout


# --- properties against a slow per-contact reference ---------------------------------------
def reference(
    events: Sequence[tuple[int, str, str | None]],
    steps: Sequence[set[str]],
    window: int,
    order: str,
    first_entry: bool,
    exclusions: Sequence[tuple[set[str], int, int]],
    rules: str,
    since: int | None,
) -> tuple[int, list[int], bool, str | None] | None:
    """Level, counted chain, excluded and breakdown value of one contact, from the docs.

    ``"consecutive"``: every chain of rows (distinct under ``rules="funnelkit"``)
    whose steps follow at the same time or at the contact's next event time,
    the last at most ``window`` after the first; the longest; the counted one
    completes first, then starts last, then takes each earlier step as late
    as possible.  ``"unordered"``: a window from every step event (with
    ``first_entry``, those holding the first step-1 event ever); its level is the number
    of steps done in it, its chain the first time each was done, sorted; the
    counted window reaches the level, completes it first and starts last.
    """
    everything = list(events)
    events = [e for e in events if since is None or e[0] >= since]
    rows = [[i for i, (_, e, _) in enumerate(events) if e in names] for names in steps]
    step1 = [(t, v) for t, e, v in events if e in steps[0]]
    value = None
    if step1:
        first_time = min(t for t, _ in step1)
        values = [v for t, v in step1 if t == first_time]
        value = min((v for v in values if v is not None), default=None)
    ever = [t for t, e, _ in everything if e in steps[0]] if rules == "funnelkit" else []
    first_ever = min([t for t, _ in step1] + ever, default=None)
    n = len(steps)
    counted: list[int] = []
    if order == "consecutive":
        if first_entry:
            rows[0] = [i for i in rows[0] if events[i][0] == first_ever]
        moments = sorted({t for t, _, _ in events})
        place = {t: i for i, t in enumerate(moments)}
        level = 0
        for size in range(n, 0, -1):
            found = [
                [events[i][0] for i in c]
                for c in itertools.product(*rows[:size])
                if rules != "funnelkit" or len(set(c)) == len(c)
            ]
            found = [
                c
                for c in found
                if c[-1] - c[0] <= window
                and all(place[b] - place[a] in (0, 1) for a, b in itertools.pairwise(c))
            ]
            if found:
                level = size
                counted = min(found, key=lambda c: (c[-1], -c[0], *(-x for x in reversed(c))))
                break
    else:
        times = [sorted({events[i][0] for i in r}) for r in rows]
        anchors = sorted({t for ts in times for t in ts})
        if first_entry:  # windows holding the first step-1 event (ever, if read)
            held = first_ever is not None and first_ever in times[0]
            anchors = [t for t in anchors if held and t <= first_ever <= t + window]
        best: tuple[int, int, int] | None = None
        for a in anchors:
            done = sorted(min(t for t in ts if t >= a) for ts in times if _some(ts, a, window))
            key = (len(done), -done[-1], a)
            if best is None or key > best:
                best, counted = key, done
        level = 0 if best is None else best[0]
    if level == 0:
        return None
    excluded = False
    for names, a, b in exclusions:
        if level < a:
            continue
        for t, e, _ in events:
            end_ok = t < counted[b - 1] if level >= b else t <= counted[0] + window
            if e in names and t > counted[a - 1] and end_ok:
                excluded = True
    return level, counted, excluded, value


def _some(times: Sequence[int], anchor: int, window: int) -> bool:
    return any(anchor <= t <= anchor + window for t in times)


VOCAB = ("a", "b", "c", "d", "x")


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    contacts = draw(st.integers(1, 6))
    row = st.tuples(st.integers(0, 8), st.sampled_from(VOCAB), st.sampled_from(["p", "q", None]))
    events = {f"c{i}": draw(st.lists(row, max_size=7)) for i in range(contacts)}
    n = draw(st.integers(1, 4))
    order = draw(st.sampled_from(ORDERS))
    rules = draw(st.sampled_from(["funnelkit", "clickhouse"]))
    if order == "unordered" and rules == "funnelkit":
        # one event per step with a shared event is refused: distinct events here
        names = draw(st.permutations("abcd"))
        cuts = sorted(draw(st.lists(st.integers(1, 3), min_size=n - 1, max_size=n - 1)))
        steps = [{names[i]} for i in range(n)]
        if cuts and draw(st.booleans()):
            steps[0] = {names[0], names[-1]} if n < 4 else steps[0]
    else:
        steps = [draw(st.sets(st.sampled_from("abcd"), min_size=1, max_size=2)) for _ in range(n)]
    exclusions = []
    if n >= 2 and draw(st.booleans()):
        a = draw(st.integers(1, n - 1))
        b = draw(st.integers(a + 1, n))
        exclusions.append(({draw(st.sampled_from(VOCAB))}, a, b))
    return {
        "events": events,
        "steps": steps,
        "window": draw(st.integers(0, 5)),
        "order": order,
        "first_entry": draw(st.booleans()),
        "exclusions": exclusions,
        "rules": rules,
        "since": draw(st.one_of(st.none(), st.integers(1, 5))),
        "seed": draw(st.integers(0, 1000)),
    }


def _frame(s: dict[str, Any]) -> pl.DataFrame:
    rows = [(c, t, e, v) for c, evs in s["events"].items() for t, e, v in evs]
    return log(sorted(rows, key=lambda r: hash((s["seed"], r))))


def _options(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "window": dt.timedelta(hours=s["window"]),
        "order": s["order"],
        "first_entry": s["first_entry"],
        "exclusions": [Exclusion(sorted(e), a, b) for e, a, b in s["exclusions"]],
        "rules": s["rules"],
        "since": None if s["since"] is None else T0 + s["since"] * H,
    }


def _expected(s: dict[str, Any]) -> dict[str, tuple[int, list[int], bool, str | None]]:
    out = {}
    for contact, evs in s["events"].items():
        got = reference(
            evs,
            s["steps"],
            s["window"],
            s["order"],
            s["first_entry"],
            s["exclusions"],
            s["rules"],
            s["since"],
        )
        if got is not None:
            out[contact] = got
    return out


PROPERTY = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.slow
@PROPERTY
@given(scenarios())
def test_the_new_orders_equal_the_reference(engine: Engine, s: dict[str, Any]) -> None:
    events = engine(_frame(s))
    steps = [sorted(x) for x in s["steps"]]
    expected = _expected(s)
    result = funnel(events, steps, **_options(s))
    assert result.table["count"].to_list() == [
        sum(1 for level, _, x, _ in expected.values() if level >= k and not x)
        for k in range(1, len(steps) + 1)
    ]
    assert result.excluded == sum(1 for _, _, x, _ in expected.values() if x)
    found = funnel_chains(events, steps, **_options(s)).collect()
    got = {
        r["contact_id"]: (
            r["level"],
            [int((r[f"step_{j}_at"] - T0) / H) for j in range(1, r["level"] + 1)],
            r["excluded"],
        )
        for r in found.iter_rows(named=True)
    }
    assert got == {c: v[:3] for c, v in expected.items()}


@pytest.mark.slow
@settings(PROPERTY, max_examples=100)
@given(scenarios())
def test_breakdown_and_time_to_convert_equal_the_reference(s: dict[str, Any]) -> None:
    steps = [sorted(x) for x in s["steps"]]
    expected = _expected(s)
    result = funnel(_frame(s), steps, by="channel", top=None, min_size=0, **_options(s))
    assert result.breakdown is not None
    got = {(r["segment"], r["step"]): r["count"] for r in result.breakdown.iter_rows(named=True)}
    values = {v if v is not None else "(none)" for _, _, _, v in expected.values()}
    want = {
        (seg, k): sum(
            1
            for level, _, x, v in expected.values()
            if (v if v is not None else "(none)") == seg and level >= k and not x
        )
        for seg in values
        for k in range(1, len(steps) + 1)
    }
    assert got == want
    for row in result.time_to_convert.summary.iter_rows(named=True):
        a, b = row["from_step"], row["to_step"]
        durations = [
            c[b - 1] - c[a - 1] for level, c, x, _ in expected.values() if level >= b and not x
        ]
        assert row["contacts"] == len(durations)
        if durations:
            assert row["median"] == statistics.median(durations) * H


# --- the core on polars and on DuckDB ------------------------------------------------------
START = dt.datetime.fromisoformat("2026-07-06T00:00:00+00:00")
DRAWS = Draws(START, 20)


@st.composite
def engine_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A random log (other events among the steps' ones), steps or a definition, options."""
    definition: Funnel | None = None
    steps: Any
    if draw(st.booleans()):
        steps = draw(st.lists(st.sampled_from(DRAWN_VOCAB), min_size=1, max_size=4))
    else:
        definition = draw(random_definitions(4, (dt.timedelta(days=1), dt.timedelta(days=10))))
        steps = definition
    order = draw(st.sampled_from(ORDERS))
    rules = draw(st.sampled_from(["funnelkit", "clickhouse"]))
    n = len(definition.stages) if definition is not None else len(steps)
    reading = draw(st.sampled_from(["entry", "evidence"]))
    if order == "unordered":  # under one event per step, steps may not share an event
        shared = len(set(steps)) < len(steps) if definition is None else reading == "evidence"
        rules = "clickhouse" if shared else rules
    exclusions = []
    if n >= 2 and draw(st.booleans()):
        a = draw(st.integers(1, n - 1))
        exclusions.append(Exclusion(draw(st.sampled_from(DRAWN_VOCAB)), a, a + 1))
    since = draw(st.one_of(st.none(), st.integers(0, 10 * 24)))
    until = draw(st.one_of(st.none(), st.integers(10 * 24 + 1, 20 * 24)))
    return {
        "log": draw(DRAWS.logs((*DRAWN_VOCAB, "other"), max_size=40)),
        "steps": steps,
        "options": {
            "window": draw(st.sampled_from(["6h", "1d", "3d"])),
            "order": order,
            "first_entry": draw(st.booleans()),
            "exclusions": exclusions,
            "rules": rules,
            "stage_steps": reading,
            "since": None if since is None else START + dt.timedelta(hours=since),
            "until": None if until is None else START + dt.timedelta(hours=until),
            "by": draw(st.sampled_from([None, "channel"])),
            "min_size": 0,
            "top": None,
        },
    }


@pytest.mark.slow
@settings(PROPERTY, max_examples=25)
@given(case=engine_cases())
def test_the_core_gives_the_same_funnel_on_polars_and_duckdb(
    duckdb_con: Any, case: dict[str, Any]
) -> None:
    here = funnel(case["log"], case["steps"], **case["options"])
    there = funnel(duckdb_con.from_arrow(case["log"].to_arrow()), case["steps"], **case["options"])
    same_funnel(here, there)
    options = {k: v for k, v in case["options"].items() if k not in ("by", "min_size", "top")}
    a = funnel_chains(case["log"], case["steps"], **options).collect()
    b = funnel_chains(duckdb_con.from_arrow(case["log"].to_arrow()), case["steps"], **options)
    b = b.collect()
    assert a.sort("contact_id").equals(b.sort("contact_id"))


@spark_only
def test_spark_gives_the_new_orders_of_polars(spark: Any) -> None:
    on = spark_engine(spark)

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=engine_cases())
    def check(case: dict[str, Any]) -> None:
        here = funnel(case["log"], case["steps"], **case["options"])
        same_funnel(here, funnel(on(case["log"]), case["steps"], **case["options"]))

    check()


def test_a_trend_over_stages_sees_the_events_between_them() -> None:
    from funnelkit.conversion import conversion_over_time
    from funnelkit.definitions import load_funnel

    inbound = load_funnel("inbound")
    # a enters cold_lead at 1h and warm_lead at 3h, with a page_view at 2h in between
    rows = [("a", 0, "page_view"), ("a", 1, "like"), ("a", 2, "page_view"), ("a", 3, "form_fill")]
    rows += [("b", 0, "page_view"), ("b", 1, "like"), ("b", 2, "form_fill")]
    events = log(rows).with_columns(amount=pl.lit(0.0))
    steps = [inbound.stage("cold_lead"), inbound.stage("warm_lead")]
    options: dict[str, Any] = {"window": "7d", "order": "consecutive", "definition": inbound}
    assert counts(events, steps, **options) == [2, 1]
    trend = conversion_over_time(events, steps, period="day", **options)
    summed = trend.table.group_by("step").agg(pl.col("count").sum()).sort("step")
    assert summed["count"].to_list() == [2, 1]


@pytest.mark.slow
@settings(PROPERTY, max_examples=40)
@given(scenarios(), st.sampled_from(["day", "week"]))
def test_trend_periods_add_up_to_the_funnel(s: dict[str, Any], period: str) -> None:
    from funnelkit.conversion import conversion_over_time

    assume(s["rules"] == "funnelkit")  # the trend takes the default rules
    events = _frame(s)
    steps = [sorted(x) for x in s["steps"]]
    options = {k: v for k, v in _options(s).items() if k not in ("rules", "since")}
    total = funnel(events, steps, **options)
    trend = conversion_over_time(events, steps, period=period, **options)
    summed = trend.table.group_by("step").agg(pl.col("count").sum()).sort("step")
    if total.table["count"][0]:
        assert summed["count"].to_list() == total.table["count"].to_list()
