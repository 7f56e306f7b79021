"""Classification into stages, snapshots, flows, comparisons and explanations."""

from __future__ import annotations

import doctest
import re
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnelkit.stages as stages
from funnelkit.core.accelerators import ACCELERATORS
from funnelkit.core.classify import flow_ranks
from funnelkit.definitions import (
    Condition,
    EventRule,
    Filter,
    Funnel,
    Lapse,
    PointsRule,
    Stage,
    load_funnel,
)
from funnelkit.engine_frames import core_events, to_us
from funnelkit.errors import (
    DataError,
    DefinitionError,
    MissingColumnError,
    ParameterError,
    UnknownEventWarning,
)
from funnelkit.events import ContactTable, EventLog, read_events
from funnelkit.sample import generate
from funnelkit.stages import classify, compare, explain, flows, snapshot
from tests.conftest import at, events_frame
from tests.engines import Engine, on_spark
from tests.lapses import (
    THREE_LAPSES,
    THREE_LAPSES_FLOWS,
    THREE_LAPSES_LOG,
    THREE_LAPSES_STAGES,
    chained,
    grows_linearly,
)
from tests.strategies import VOCAB, Draws, definitions

TINY = Funnel.from_toml(
    """
name = "tiny"
[[stages]]
id = "known"
[[stages]]
id = "engaged"
events = ["like"]
[[stages]]
id = "lead"
events = ["form_fill"]
lapse_after = "10d"
lapse_to = "engaged"
[[stages]]
id = "client"
events = ["purchase"]
where = "amount > 0"
""",
    source="tiny.toml",
)
INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")


def run(events: Any, funnel: Funnel = TINY, **options: Any) -> dict[str, dict[str, Any]]:
    """Classify and return ``{contact_id: row}``."""
    out = classify(events, funnel, **options).collect()
    assert out["contact_id"].is_unique().all()
    return {row["contact_id"]: row for row in out.iter_rows(named=True)}


def day(n: float, base: str = "2024-01-01") -> datetime:
    return at(base) + timedelta(days=n)


def d(n: float) -> str:
    return day(n).isoformat()


# --- the slow, obviously correct reference ---------------------------------------------------
def _holds(flt: Filter, row: dict[str, Any]) -> bool:
    value = row.get(flt.column)
    if value is None:
        return False
    target = flt.value
    if flt.op == "in":
        return value in target  # type: ignore[operator]
    if flt.op == "not in":
        return value not in target  # type: ignore[operator]
    return {
        "==": value == target,
        "!=": value != target,
        ">": value > target,
        ">=": value >= target,
        "<": value < target,
        "<=": value <= target,
    }[flt.op]


def _condition_time(evs: list[dict[str, Any]], cond: Condition) -> datetime | None:
    hits = [
        r for r in evs if r["event"] in cond.event_names and all(_holds(f, r) for f in cond.where)
    ]
    if isinstance(cond, EventRule):
        return hits[cond.min_count - 1]["occurred_at"] if len(hits) >= cond.min_count else None
    for row in hits:
        now = row["occurred_at"]
        score = 0.0
        for old in hits:
            if old["occurred_at"] <= now:
                weight = 1.0
                if cond.half_life is not None:
                    weight = 0.5 ** ((now - old["occurred_at"]) / cond.half_life)
                score += cond.points[old["event"]] * weight
        if score >= cond.threshold * (1 - 1e-9):
            return now
    return None


def reference(
    df: pl.DataFrame,
    funnel: Funnel,
    *,
    as_of: datetime | None = None,
    contacts: pl.DataFrame | None = None,
) -> dict[str, dict[str, Any]]:
    """Classify contact by contact, following the rules in funnelkit.stages word for word."""
    rows = [r for r in df.to_dicts() if as_of is None or r["occurred_at"] <= as_of]
    clock = as_of if as_of is not None else max((r["occurred_at"] for r in rows), default=None)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by[row["contact_id"]].append(row)
    created: dict[str, datetime | None] = {}
    for c in contacts.to_dicts() if contacts is not None else []:
        when = c.get("created_at")
        if as_of is not None and when is not None and when > as_of:
            continue
        old = created.get(c["contact_id"])
        created[c["contact_id"]] = min((t for t in (old, when) if t is not None), default=None)
    size = len(funnel.stages)
    out = {}
    for cid in set(by) | set(created):
        evs = sorted(by.get(cid, []), key=lambda r: r["occurred_at"])
        own: dict[int, datetime | None] = {}
        for k in range(2, size + 1):
            times = [_condition_time(evs, c) for c in funnel.stages[k - 1].conditions]
            own[k] = min((t for t in times if t is not None), default=None)
        reached: dict[int, datetime | None] = {}
        starts = [evs[0]["occurred_at"]] if evs else []
        if created.get(cid) is not None:
            starts.append(created[cid])  # type: ignore[arg-type]
        reached[1] = min(starts, default=None)
        for k in range(2, size + 1):
            later = [own[j] for j in range(k, size + 1) if own[j] is not None]
            reached[k] = min(later, default=None)  # type: ignore[type-var]
        forward = max((k for k in range(2, size + 1) if reached[k] is not None), default=1)
        last = max(
            (r["occurred_at"] for r in evs if r["event"] in funnel.event_names), default=None
        )
        current = forward
        while True:
            lapse = funnel.stages[current - 1].lapse
            if lapse is None or last is None or clock is None or clock - last < lapse.after:
                break
            current = funnel.rank(lapse.to)
        row = {"contact_id": cid, "stage": funnel.stage_ids[current - 1], "stage_rank": current}
        row |= {f"{s}_at": reached[k] for k, s in enumerate(funnel.stage_ids, start=1)}
        row["last_activity_at"] = last
        out[cid] = row
    return out


# --- hand-made timelines: one test per rule ---------------------------------------------------
def test_any_event_makes_a_contact_known(engine: Engine) -> None:
    got = run(engine(events_frame(("a", d(0), "mystery_event"))))
    assert got["a"] == {
        "contact_id": "a",
        "stage": "known",
        "stage_rank": 1,
        "known_at": day(0),
        "engaged_at": None,
        "lead_at": None,
        "client_at": None,
        "last_activity_at": None,
    }


def test_stage_skipping_counts_earlier_stages_as_reached(engine: Engine) -> None:
    got = run(engine(events_frame(("a", d(3), "purchase", 10.0))))["a"]
    assert got["stage"] == "client" and got["stage_rank"] == 4
    assert got["known_at"] == got["engaged_at"] == got["lead_at"] == got["client_at"] == day(3)


def test_skipped_stage_takes_the_earliest_later_time(engine: Engine) -> None:
    got = run(engine(events_frame(("a", d(1), "form_fill"), ("a", d(2), "like"))))["a"]
    assert got["engaged_at"] == day(1) and got["lead_at"] == day(1)
    assert got["stage"] == "lead"


def test_stages_move_forward_only(engine: Engine) -> None:
    got = run(
        engine(
            events_frame(("a", d(1), "purchase", 5.0), ("a", d(2), "like"), ("a", d(3), "like"))
        ),
        as_of=d(3),
    )["a"]
    assert got["stage"] == "client" and got["last_activity_at"] == day(3)


def test_as_of_ignores_later_events(engine: Engine) -> None:
    log = engine(
        events_frame(("a", d(1), "like"), ("a", d(2), "form_fill"), ("a", d(3), "purchase", 1.0))
    )
    got = run(log, as_of=day(2) - timedelta(microseconds=1))["a"]
    assert got["stage"] == "engaged" and got["lead_at"] is None
    assert got["last_activity_at"] == day(1)


def test_event_exactly_at_as_of_counts(engine: Engine) -> None:
    log = engine(events_frame(("a", d(1), "like"), ("a", d(2), "form_fill")))
    assert run(log, as_of=day(2))["a"]["stage"] == "lead"


@on_spark
def test_as_of_forms(engine: Engine) -> None:
    log = engine(
        events_frame(
            ("a", "2024-01-05 22:00", "form_fill"), ("a", "2024-01-06 00:00", "purchase", 1.0)
        )
    )
    assert run(log, as_of=date(2024, 1, 5))["a"]["stage"] == "lead"  # a date is its end
    assert run(log, as_of="2024-01-05")["a"]["stage"] == "lead"
    assert run(log, as_of="2024-01-06")["a"]["stage"] == "client"
    assert run(log, as_of="2024-01-06T01:00:00+02:00")["a"]["stage"] == "lead"
    assert run(log, as_of=datetime(2024, 1, 6))["a"]["stage"] == "client"  # naive is UTC
    with pytest.raises(ParameterError, match="as_of='last week' is not a date"):
        classify(log, TINY, as_of="last week")


def test_contact_first_seen_after_as_of_is_left_out(engine: Engine) -> None:
    log = engine(events_frame(("a", d(1), "like"), ("b", d(5), "like")))
    assert set(run(log, as_of=day(2))) == {"a"}


def test_lapse_after_inactivity(engine: Engine) -> None:
    log = engine(events_frame(("a", d(0), "form_fill")))
    assert run(log, as_of=day(10) - timedelta(seconds=1))["a"]["stage"] == "lead"
    lapsed = run(log, as_of=day(10))["a"]  # exactly lapse_after idle: lapsed
    assert lapsed["stage"] == "engaged" and lapsed["stage_rank"] == 2
    assert lapsed["lead_at"] == day(0)  # entry times keep the first reach


def test_new_activity_resets_the_lapse_clock(engine: Engine) -> None:
    log = engine(
        events_frame(("a", d(0), "form_fill"), ("a", d(5), "like"), ("a", d(30), "form_fill"))
    )
    assert run(log, as_of=day(14))["a"]["stage"] == "lead"
    assert run(log, as_of=day(15))["a"]["stage"] == "engaged"
    back = run(log, as_of=day(30))["a"]
    assert back["stage"] == "lead" and back["lead_at"] == day(0)


def test_lapse_without_as_of_uses_the_latest_event_of_the_data(engine: Engine) -> None:
    log = events_frame(("a", d(0), "form_fill"), ("b", d(20), "mystery_event"))
    assert run(engine(log))["a"]["stage"] == "engaged"
    assert run(engine(log.filter(pl.col("contact_id") == "a")))["a"]["stage"] == "lead"


def test_lapse_chains(engine: Engine) -> None:
    funnel = Funnel(
        "chain",
        (
            Stage("s1"),
            Stage("s2", conditions=(EventRule(("like",)),), lapse=Lapse(timedelta(days=20), "s1")),
            Stage(
                "s3", conditions=(EventRule(("form_fill",)),), lapse=Lapse(timedelta(days=10), "s2")
            ),
        ),
    )
    log = engine(events_frame(("a", d(0), "form_fill")))
    assert run(log, funnel, as_of=day(5))["a"]["stage"] == "s3"
    assert run(log, funnel, as_of=day(15))["a"]["stage"] == "s2"
    assert run(log, funnel, as_of=day(25))["a"]["stage"] == "s1"


@pytest.mark.parametrize(("as_of", "expected"), THREE_LAPSES_STAGES.items())
def test_three_chained_lapses(as_of: int, expected: tuple[str, ...], engine: Engine) -> None:
    got = run(engine(THREE_LAPSES_LOG), THREE_LAPSES, as_of=day(as_of))
    assert tuple(got[c]["stage"] for c in "abce") == expected
    assert got["a"]["s3_at"] == got["a"]["s1_at"] == day(0)  # lapsing keeps entry times


@on_spark
def test_flows_through_three_chained_lapses(engine: Engine) -> None:
    out = flows(engine(THREE_LAPSES_LOG), THREE_LAPSES, start=day(4), end=day(30)).to_polars()
    assert out.select("from_stage", "to_stage", "contacts").rows() == THREE_LAPSES_FLOWS


def test_chained_lapses_keep_the_plan_linear() -> None:
    log = events_frame(("a", d(0), "e1"))
    sizes = {n: len(classify(log, chained(n), as_of=day(1)).explain()) for n in (4, 8, 16)}
    assert grows_linearly(sizes), sizes
    lo, hi = to_us(day(1)), to_us(day(2))
    assert lo is not None and hi is not None
    two_instants = {  # the plan of flows
        n: len(nw.to_native(flow_ranks(core_events(log).lf, chained(n), lo, hi, None)).explain())
        for n in (4, 8, 16)
    }
    assert grows_linearly(two_instants), two_instants


def test_unknown_events_are_ignored(engine: Engine) -> None:
    log = engine(
        events_frame(
            ("a", d(0), "form_fill"), ("a", d(8), "webinar_attended"), ("a", d(9), "outreach_sent")
        )
    )
    got = run(log, as_of=day(10))["a"]
    assert got["stage"] == "engaged"  # lapsed: unknown events are not activity
    assert got["last_activity_at"] == day(0)
    assert run(engine(events_frame(("b", d(0), "webinar_attended"))))["b"]["stage"] == "known"


@on_spark
def test_ties_at_one_timestamp(engine: Engine) -> None:
    rows = [("a", d(2), "purchase", 3.0), ("a", d(2), "like"), ("a", d(2), "form_fill")]
    got = run(engine(events_frame(*rows)))["a"]
    assert got["stage"] == "client"
    assert {got[f"{s}_at"] for s in TINY.stage_ids} == {day(2)}
    assert run(engine(events_frame(*reversed(rows)))) == run(engine(events_frame(*rows)))


def test_ties_count_together_for_min_count_and_points(engine: Engine) -> None:
    funnel = Funnel(
        "ties",
        (
            Stage("s1"),
            Stage("s2", conditions=(EventRule(("like",), min_count=2),)),
            Stage("s3", conditions=(PointsRule({"comment": 1}, 2, timedelta(hours=1)),)),
        ),
    )
    log = events_frame(
        ("a", d(1), "like"), ("a", d(1), "like"), ("b", d(1), "comment"), ("b", d(1), "comment")
    )
    got = run(engine(log), funnel)
    assert got["a"]["stage"] == "s2" and got["a"]["s2_at"] == day(1)
    assert got["b"]["stage"] == "s3" and got["b"]["s3_at"] == day(1)


@on_spark
def test_contacts_without_events_are_in_the_first_stage(engine: Engine) -> None:
    log = engine(events_frame(("a", d(5), "like")))
    contacts = pl.DataFrame(
        {"contact_id": ["a", "z", "n", "late"], "created_at": [day(1), day(3), None, day(50)]}
    )
    got = run(log, contacts=engine(contacts), as_of=day(10))
    assert set(got) == {"a", "z", "n"}
    assert got["a"]["known_at"] == day(1) and got["a"]["engaged_at"] == day(5)
    assert got["z"]["stage"] == "known" and got["z"]["known_at"] == day(3)
    assert got["z"]["last_activity_at"] is None
    assert got["n"]["stage"] == "known" and got["n"]["known_at"] is None
    no_created = run(log, contacts=engine(pl.DataFrame({"contact_id": ["z"]})))
    assert no_created["z"]["stage"] == "known" and no_created["z"]["known_at"] is None


def test_repeated_events_count_at_the_first(engine: Engine) -> None:
    log = engine(events_frame(("a", d(1), "like"), ("a", d(2), "like"), ("a", d(3), "like")))
    got = run(log)["a"]
    assert got["engaged_at"] == day(1) and got["last_activity_at"] == day(3)


def test_min_count_is_reached_on_the_nth_event(engine: Engine) -> None:
    funnel = Funnel(
        "n", (Stage("s1"), Stage("s2", conditions=(EventRule(("call",), min_count=3),)))
    )
    log = engine(
        events_frame(
            ("a", d(1), "call"), ("a", d(2), "call"), ("a", d(4), "call"), ("a", d(9), "call")
        )
    )
    assert run(log, funnel, as_of=day(3))["a"]["stage"] == "s1"
    assert run(log, funnel)["a"]["s2_at"] == day(4)


@on_spark
def test_points_with_half_life(engine: Engine) -> None:
    # inbound: page_view 2 points, halved every 30 days, threshold 3.
    log = events_frame(
        ("a", d(0), "page_view"),
        ("a", d(30), "page_view"),  # 2 * 0.5 + 2 = 3: reached
        ("b", d(0), "page_view"),
        ("b", d(31), "page_view"),  # just below 3
        ("c", d(4), "like"),  # 3 points at once
    )
    got = run(engine(log), INBOUND, as_of=day(40))
    assert got["a"]["stage"] == "cold_lead" and got["a"]["cold_lead_at"] == day(30)
    assert got["b"]["stage"] == "prospect" and got["b"]["cold_lead_at"] is None
    assert got["c"]["cold_lead_at"] == day(4)


def test_points_without_half_life_add_up(engine: Engine) -> None:
    funnel = Funnel(
        "p", (Stage("s1"), Stage("s2", conditions=(PointsRule({"like": 1, "comment": 1.5}, 3),)))
    )
    log = engine(events_frame(("a", d(0), "like"), ("a", d(100), "comment"), ("a", d(200), "like")))
    assert run(log, funnel, as_of=day(150))["a"]["stage"] == "s1"
    assert run(log, funnel)["a"]["s2_at"] == day(200)


def test_points_over_many_half_lives_stay_finite(engine: Engine) -> None:
    funnel = Funnel(
        "fast",
        (Stage("s1"), Stage("s2", conditions=(PointsRule({"like": 1}, 1.9, timedelta(hours=1)),))),
    )
    rows = [("a", (day(0) + timedelta(hours=5 * i)).isoformat(), "like") for i in range(3000)]
    rows += [("a", (day(700) + timedelta(minutes=m)).isoformat(), "like") for m in (0, 1)]
    log = events_frame(*rows)
    got = run(engine(log), funnel)["a"]
    assert got["s2_at"] == day(700) + timedelta(minutes=1)
    assert got == reference(log, funnel)["a"]


def test_points_carry_across_a_block_boundary(engine: Engine) -> None:
    # Scores are summed in blocks of 512 half-lives from 2000-01-01; what a block
    # accumulated must carry into the next one.
    funnel = Funnel(
        "fast",
        (Stage("s1"), Stage("s2", conditions=(PointsRule({"like": 1}, 1.5, timedelta(hours=1)),))),
    )
    boundary = at("2000-01-01") + timedelta(hours=512) * 450
    log = events_frame(
        ("a", (boundary - timedelta(minutes=1)).isoformat(), "like"),
        ("a", (boundary + timedelta(minutes=1)).isoformat(), "like"),
    )
    assert run(engine(log), funnel)["a"]["s2_at"] == boundary + timedelta(minutes=1)


def test_property_filters_never_match_null(engine: Engine) -> None:
    log = engine(
        events_frame(
            ("a", d(1), "purchase", None),
            ("b", d(1), "purchase", 0.0),
            ("c", d(1), "purchase", 0.5),
        )
    )
    got = run(log)
    assert [got[c]["stage"] for c in "abc"] == ["known", "known", "client"]
    assert got["a"]["last_activity_at"] == day(1)  # a named event, so activity


def test_filter_on_a_missing_column_names_the_stage(engine: Engine) -> None:
    log = engine(events_frame(("a", d(1), "purchase", 1.0)).drop("amount"))
    with pytest.raises(
        MissingColumnError,
        match=r"funnel 'tiny' \(tiny.toml\), stage 'client': key 'where' \(amount > 0\).*no col",
    ):
        classify(log, TINY)


def test_filter_of_the_wrong_type_names_the_stage(engine: Engine) -> None:
    log = engine(events_frame(("a", d(1), "purchase", 1.0)).with_columns(pl.col("amount") > 0))
    with pytest.raises(DefinitionError, match=r"stage 'client'.*column 'amount' holds Boolean"):
        classify(log, TINY)


@on_spark
def test_numbers_written_as_text_are_read_as_numbers(engine: Engine) -> None:
    log = events_frame(("a", d(1), "purchase", 9.0), ("b", d(1), "purchase", 0.0))
    text = log.with_columns(pl.col("amount").cast(pl.String))
    assert run(engine(text)) == run(engine(log))
    # spaces around a number, an exponent, blanks and NaN (an unknown amount: never > 0)
    amounts = [" 12.5 ", "1e3", "", "  ", "NaN", None, "-inf", ".5"]
    many = events_frame(*((f"c{i}", d(1), "purchase") for i in range(len(amounts))))
    written = many.with_columns(pl.Series("amount", amounts, dtype=pl.String))
    numbers = many.with_columns(
        pl.Series("amount", [12.5, 1e3, None, None, None, None, float("-inf"), 0.5])
    )
    assert run(engine(written)) == run(engine(numbers))
    start, end = day(0), day(2)
    got = flows(engine(written), TINY, start=start, end=end).table
    assert got.equals(flows(engine(numbers), TINY, start=start, end=end).table)


@on_spark
def test_text_that_is_not_a_number_is_named_with_its_rows(engine: Engine) -> None:
    """The same message on every engine: the column, how many, the first rows by time."""
    log = events_frame(
        ("a", d(3), "purchase"), ("b", d(2.5), "purchase"), ("c", d(1), "purchase")
    ).with_columns(pl.Series("amount", ["n/a", "9", "1 200,50"]))
    message = (
        r"^funnel 'tiny' \(tiny.toml\) compares column 'amount' with numbers, but 2 of its "
        r"values are not numbers: '1 200,50' \(contact c, 2024-01-02 00:00\); 'n/a' "
        r"\(contact a, 2024-01-04 00:00\)\. Clean them in the export"
    )
    with pytest.raises(DataError, match=message):
        classify(engine(log), TINY)
    with pytest.raises(DataError, match=message):
        flows(engine(log), TINY, start=day(0), end=day(5))


@on_spark
def test_output_columns_and_types(engine: Engine) -> None:
    out = classify(engine(events_frame(("a", d(1), "like"))), TINY).collect()
    assert out.schema == pl.Schema(
        {
            "contact_id": pl.String,
            "stage": pl.Enum(["known", "engaged", "lead", "client"]),
            "stage_rank": pl.Int32,
            "known_at": pl.Datetime("us", "UTC"),
            "engaged_at": pl.Datetime("us", "UTC"),
            "lead_at": pl.Datetime("us", "UTC"),
            "client_at": pl.Datetime("us", "UTC"),
            "last_activity_at": pl.Datetime("us", "UTC"),
        }
    )
    quick = classify(engine(events_frame(("a", d(1), "like"))), TINY, entry_times=False).collect()
    assert quick.columns == ["contact_id", "stage", "stage_rank", "last_activity_at"]
    assert quick.schema["stage"] == TINY.stage_dtype


def test_stage_sorts_in_funnel_order_and_an_unknown_id_matches_nothing(engine: Engine) -> None:
    """``stage`` is an Enum of the ids in funnel order, whatever their alphabetical order."""
    log = engine(
        events_frame(
            ("a", d(1), "purchase", 5.0),  # client
            ("b", d(1), "like"),  # engaged
            ("c", d(1), "page_view"),  # known
            ("e", d(1), "form_fill"),  # lead
        )
    )
    out = classify(log, TINY, as_of=d(2)).collect()
    assert out.sort("stage")["stage"].to_list() == ["known", "engaged", "lead", "client"]
    assert out.filter(pl.col("stage") == "lead")["contact_id"].to_list() == ["e"]
    assert out.filter(pl.col("stage") == "leed").is_empty()  # no error: no row
    assert out.filter(pl.col("stage") != "leed").height == 4
    assert out.filter(pl.col("stage") > "engaged").sort("stage")["contact_id"].to_list() == [
        "e",
        "a",
    ]
    assert out["stage"].cast(pl.String).dtype == pl.String


def test_every_path_gives_the_same_columns_and_types(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Contacts, partitions (lapses without as_of: one clock for all groups), as_of."""
    events, contacts = sample
    plain = classify(events, INBOUND).collect()
    assert plain.schema[f"{INBOUND.stage_ids[0]}_at"] == pl.Datetime("us", "UTC")
    assert plain.schema["stage_rank"] == pl.Int32
    for options in (
        {"contacts": contacts},
        {"partitions": 3},
        {"contacts": contacts, "partitions": 3, "as_of": "2024-03-01"},
        {"entry_times": False, "partitions": 2},
    ):
        out = classify(events, INBOUND, **options).collect()  # type: ignore[arg-type]
        expected = plain.select(c for c in plain.columns if c in out.columns)
        assert out.schema == expected.schema, options


def test_partitions_give_the_same_result(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, contacts = sample
    for funnel in (INBOUND, SALES):
        whole = run(events, funnel, contacts=contacts)
        assert run(events, funnel, contacts=contacts, partitions=4) == whole
    with pytest.raises(ParameterError, match="partitions=0: give a whole number, 1 or more"):
        classify(events, SALES, partitions=0)
    started = time.perf_counter()
    with pytest.raises(ParameterError, match=r"partitions=100000000: give at most 1,024"):
        classify(events, SALES, partitions=100_000_000)
    assert time.perf_counter() - started < 5


def test_partitions_auto_split_large_inputs_whose_rows_are_counted_without_reading(
    sample: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One group per ``ROWS_PER_PARTITION`` events of a file or a frame; a plan stays whole."""
    events, contacts = sample
    path = tmp_path / "events.parquet"
    events.write_parquet(path)
    monkeypatch.setattr(stages, "ROWS_PER_PARTITION_WITH_TIMES", events.height // 3 + 1)

    def groups(source: Any) -> int:
        return auto_groups(source, contacts=contacts)

    log = EventLog(frame=pl.scan_parquet(path), set_aside=events.clear().lazy())
    for funnel in (INBOUND, SALES):
        whole = classify(events, funnel, contacts=contacts, partitions=1).collect()
        for source in (pl.scan_parquet(path), events, log):
            got = classify(source, funnel, contacts=contacts).collect()  # partitions="auto"
            assert_same_rows(got, whole)
    # polars' own groups: a Parquet file read whole otherwise goes to DuckDB
    # (test_a_parquet_file_is_classified_by_duckdb_alike).
    monkeypatch.setitem(ACCELERATORS, ("classify", "polars"), ())
    assert groups(pl.scan_parquet(path)) == groups(events) == groups(log) == 3
    assert groups(pl.scan_parquet(path).filter(pl.col("event") != "x")) == 1  # a count reads
    monkeypatch.setattr(stages, "ROWS_PER_PARTITION_WITH_TIMES", 10**9)
    assert groups(pl.scan_parquet(path)) == groups(events) == 1


def test_partitions_auto_take_smaller_groups_with_entry_times(
    sample: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the ``<stage>_at`` columns a group holds ``ROWS_PER_PARTITION_WITH_TIMES`` events.

    Each event then carries five times more into the aggregation and the
    result is three times wider: 50 million events in the two groups of the
    current stage alone peaked at 2.1-2.3 GB.
    """
    events, contacts = sample
    path = tmp_path / "events.parquet"
    events.write_parquet(path)
    monkeypatch.setattr(stages, "ROWS_PER_PARTITION", events.height // 2 + 1)
    monkeypatch.setattr(stages, "ROWS_PER_PARTITION_WITH_TIMES", events.height // 4 + 1)
    monkeypatch.setitem(ACCELERATORS, ("classify", "polars"), ())  # polars' own groups
    for source in (pl.scan_parquet(path), events):
        assert auto_groups(source, contacts=contacts, entry_times=False) == 2
        assert auto_groups(source, contacts=contacts) == 4
        assert auto_groups(source, contacts=contacts, entry_times=True) == 4


def auto_groups(source: Any, **options: Any) -> int:
    """The ``partitions`` whose plan ``partitions="auto"``'s is (cache ids aside); 0: none."""

    def plan(**more: Any) -> str:
        text = classify(source, SALES, **options, **more).explain()
        return re.sub(r"CACHE\[id: [^\]]*\]", "CACHE", text)

    default = plan()
    return next((n for n in range(1, 7) if plan(partitions=n) == default), 0)


def assert_same_rows(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.schema == expected.schema
    assert got.sort("contact_id").rows() == expected.sort("contact_id").rows()


def test_every_kind_of_events_input() -> None:
    df = events_frame(("a", d(1), "like"), ("b", d(2), "form_fill"))
    log = EventLog(frame=df.lazy(), set_aside=df.clear().lazy())
    expected = run(df)
    assert run(df.lazy()) == expected == run(log)
    contacts = ContactTable(
        frame=pl.LazyFrame({"contact_id": ["z"], "created_at": [day(0)]}), set_aside=pl.LazyFrame()
    )
    assert run(df, contacts=contacts)["z"]["known_at"] == day(0)


def test_empty_events(engine: Engine) -> None:
    empty = engine(events_frame(("a", d(1), "like")).clear())
    assert classify(empty, INBOUND).collect().height == 0
    assert snapshot(classify(empty, INBOUND), INBOUND).table["at_or_past"].to_list() == [0] * 5


# --- the sample --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate(1500, seed=11)


@pytest.mark.parametrize("funnel", [INBOUND, SALES], ids=["inbound", "sales"])
def test_presets_classify_the_sample_and_the_funnel_narrows(
    sample: tuple[pl.DataFrame, pl.DataFrame], funnel: Funnel
) -> None:
    events, contacts = sample
    out = classify(events, funnel, contacts=contacts).collect()
    assert out.height == contacts.height
    counts = snapshot(out, funnel).table
    past = counts["at_or_past"].to_list()
    assert past[0] == contacts.height
    assert all(a > b > 0 for a, b in zip(past, past[1:], strict=False))
    assert counts["current"].sum() == contacts.height
    quick = classify(events, funnel, contacts=contacts, entry_times=False).collect()
    assert quick.sort("contact_id")["stage"].equals(out.sort("contact_id")["stage"])


def test_sample_matches_the_reference(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, contacts = sample
    some = contacts["contact_id"].head(300)
    events = events.filter(pl.col("contact_id").is_in(some.implode()))
    contacts = contacts.filter(pl.col("contact_id").is_in(some.implode()))
    as_of = events["occurred_at"].max() - timedelta(days=20)  # type: ignore[operator]
    for funnel in (INBOUND, SALES):
        assert run(events, funnel, contacts=contacts, as_of=as_of) == reference(
            events, funnel, contacts=contacts, as_of=as_of
        )


# --- property tests against the reference ---------------------------------------------------------
PRESET_VOCAB = tuple(sorted(INBOUND.event_names | SALES.event_names)) + ("list_import", "other")
DRAWS = Draws(at("2024-01-01"), 200, amounts=(None, 0.0, 5.0, -1.0), extra_contacts=("x", "y"),
              log_size=25)  # fmt: skip
hours, contacts_tables, as_ofs = DRAWS.hours, DRAWS.contacts_tables, DRAWS.as_ofs
logs = DRAWS.logs


def funnels() -> st.SearchStrategy[Funnel]:
    return definitions(5, (timedelta(days=1), timedelta(days=10), timedelta(days=60)))


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs(PRESET_VOCAB),
    contacts=contacts_tables,
    as_of=as_ofs,
    preset=st.sampled_from([INBOUND, SALES]),
)
def test_presets_match_the_reference(
    log: pl.DataFrame, contacts: pl.DataFrame | None, as_of: datetime | None, preset: Funnel
) -> None:
    expected = reference(log, preset, as_of=as_of, contacts=contacts)
    got = run(log, preset, as_of=as_of, contacts=contacts)
    assert got == expected
    assert run(log, preset, as_of=as_of, contacts=contacts, partitions=3) == expected
    quick = run(log, preset, as_of=as_of, contacts=contacts, entry_times=False)
    assert {c: r["stage"] for c, r in quick.items()} == {c: r["stage"] for c, r in expected.items()}
    counts = snapshot(classify(log, preset, as_of=as_of, contacts=contacts), preset).table
    ranks = [r["stage_rank"] for r in expected.values()]
    assert counts["at_or_past"].to_list() == [sum(r >= k for r in ranks) for k in range(1, 6)]


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs((*VOCAB, "other")), contacts=contacts_tables, as_of=as_ofs, funnel=funnels())
def test_random_definitions_match_the_reference(
    log: pl.DataFrame, contacts: pl.DataFrame | None, as_of: datetime | None, funnel: Funnel
) -> None:
    assert run(log, funnel, as_of=as_of, contacts=contacts) == reference(
        log, funnel, as_of=as_of, contacts=contacts
    )


def _reference_flows(
    log: pl.DataFrame,
    funnel: Funnel,
    lo: datetime,
    hi: datetime,
    contacts: pl.DataFrame | None,
) -> dict[tuple[int, int], int]:
    """Flows as two reference classifications joined per contact."""
    before = reference(log, funnel, as_of=lo, contacts=contacts)
    after = reference(log, funnel, as_of=hi, contacts=contacts)
    expected: dict[tuple[int, int], int] = defaultdict(int)
    for cid, row in after.items():
        expected[(before[cid]["stage_rank"] if cid in before else 0, row["stage_rank"])] += 1
    return dict(expected)


def _flow_counts(table: pl.DataFrame) -> dict[tuple[int, int], int]:
    return {(r["from_rank"], r["to_rank"]): r["contacts"] for r in table.iter_rows(named=True)}


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs(PRESET_VOCAB),
    contacts=contacts_tables,
    start=hours,
    length=st.integers(1, 60 * 24),
    preset=st.sampled_from([INBOUND, SALES]),
)
def test_flows_match_two_reference_classifications(
    log: pl.DataFrame, contacts: pl.DataFrame | None, start: int, length: int, preset: Funnel
) -> None:
    lo, hi = day(start / 24), day((start + length) / 24)
    table = flows(log, preset, start=lo, end=hi, contacts=contacts).table
    assert _flow_counts(table) == _reference_flows(log, preset, lo, hi, contacts)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs((*VOCAB, "other")),
    contacts=contacts_tables,
    start=hours,
    length=st.integers(1, 60 * 24),
    funnel=funnels(),
)
def test_flows_under_random_definitions_match_the_reference(
    log: pl.DataFrame, contacts: pl.DataFrame | None, start: int, length: int, funnel: Funnel
) -> None:
    """Points with half-lives, min_count and lapsing, read at two instants in one pass."""
    lo, hi = day(start / 24), day((start + length) / 24)
    table = flows(log, funnel, start=lo, end=hi, contacts=contacts).table
    assert _flow_counts(table) == _reference_flows(log, funnel, lo, hi, contacts)


# --- snapshot -------------------------------------------------------------------------------------
def test_snapshot_counts_and_conversions(engine: Engine) -> None:
    log = engine(
        events_frame(
            ("a", d(1), "mystery"),
            ("b", d(1), "like"),
            ("c", d(1), "like"),
            ("d", d(1), "purchase", 9.0),
        )
    )
    snap = snapshot(classify(log, TINY), TINY)
    table = snap.to_polars()
    assert table["stage"].to_list() == ["known", "engaged", "lead", "client"]
    assert table["at_or_past"].to_list() == [4, 3, 1, 1]
    assert table["current"].to_list() == [1, 2, 0, 1]
    assert table["drop_off"].to_list() == [None, 1, 2, 0]
    assert table["step_conversion"].to_list() == [None, 0.75, 1 / 3, 1.0]
    assert table["overall_conversion"].to_list() == [1.0, 0.75, 0.25, 0.25]
    assert table["current_ratio_to_previous"].to_list() == [None, 2.0, 0.0, None]
    assert table["current_ratio_to_first"].to_list() == [1.0, 2.0, 0.0, 1.0]
    # only shares of the same contacts are called conversions: they never exceed 1
    rates = table.select(pl.col("^.*conversion$"))
    assert rates.columns == ["step_conversion", "overall_conversion"]
    assert all((rates[c].drop_nulls() <= 1).all() for c in rates.columns)
    assert set(table["funnel"]) == {"tiny"}
    assert "funnel definition &#x27;tiny&#x27;" in snap._repr_html_()
    assert repr(snap) == (
        "Snapshot(funnel='tiny', contacts=4, "
        "at_or_past={'known': 4, 'engaged': 3, 'lead': 1, 'client': 1})"
    )
    assert snapshot(classify(log, TINY), TINY, lang="fr").table["label"][1] == "Engaged"


def test_snapshot_refuses_another_definition() -> None:
    done = classify(events_frame(("a", d(1), "like")), TINY)
    with pytest.raises(
        ParameterError, match="stage 'engaged' at rank 2, which funnel 'inbound' does not have"
    ):
        snapshot(done, INBOUND)
    with pytest.raises(
        MissingColumnError, match="no column 'stage_rank'; pass the output of classify"
    ):
        snapshot(pl.DataFrame({"stage": ["x"]}), TINY)


# --- flows ----------------------------------------------------------------------------------------
def test_flows_between_two_instants(engine: Engine) -> None:
    log = engine(
        events_frame(
            ("a", d(0), "like"),
            ("a", d(8), "form_fill"),  # engaged -> lead
            ("b", d(0), "like"),  # stays engaged
            ("c", d(9), "purchase", 3.0),  # new, straight to client
            ("e", d(0), "form_fill"),  # lead, lapses by day 10 + ...
        )
    )
    out = flows(log, TINY, start=day(7), end=day(14))
    assert out.table.schema["from_stage"] == out.table.schema["to_stage"] == TINY.stage_dtype
    rows = out.to_polars().select("from_stage", "to_stage", "contacts").rows()
    assert rows == [
        (None, "client", 1),
        ("engaged", "engaged", 1),
        ("engaged", "lead", 1),
        ("lead", "engaged", 1),
    ]
    assert out.moved.height == 3
    assert out.start == day(7) and "Stage flows" in out._repr_html_()
    with pytest.raises(ParameterError, match="start .* must be before end"):
        flows(log, TINY, start=day(7), end=day(7))


# --- comparing definitions ------------------------------------------------------------------------
def test_compare_two_definitions() -> None:
    log = events_frame(
        ("a", d(1), "ebook_download"),  # inbound warm lead, sales lead
        ("b", d(1), "meeting"),  # inbound warm lead, sales qualified prospect
        ("c", d(1), "like"),  # inbound cold lead, sales raw contact
        ("e", d(1), "purchase", 20.0),  # client in both
    )
    out = compare(log, INBOUND, SALES)
    wide = out.to_polars()
    assert wide.columns == ["inbound \\ sales", *SALES.stage_ids]
    assert wide["inbound \\ sales"].to_list() == list(INBOUND.stage_ids)
    warm = wide.filter(pl.col("inbound \\ sales") == "warm_lead").row(0)
    assert warm == ("warm_lead", 0, 1, 0, 1, 0)
    assert out.table["contacts"].sum() == 4 and out.table.height == 25
    assert "rows: inbound, columns: sales" in out._repr_html_()


# --- explain -------------------------------------------------------------------------------------
def test_explain_says_what_put_the_contact_where() -> None:
    log = events_frame(
        ("a", d(0), "list_import"),
        ("a", d(1), "page_view"),
        ("a", d(2), "page_view"),
        ("a", d(3), "ebook_download"),
        ("a", d(50), "purchase", 0.0),
        ("a", d(400), "review"),
        ("b", d(200), "like"),
    )
    out = explain(log, INBOUND, "a", as_of=day(200))
    text = str(out)
    assert text.splitlines()[0] == (
        "Contact 'a' under funnel definition 'inbound' (as of 2024-07-19 00:00:00 UTC): "
        "cold_lead (Cold lead), rank 2 of 5."
    )
    assert "5 events (1 later event ignored); last activity 2024-02-20 00:00:00 UTC." in text
    assert "1. prospect    reached 2024-01-01 00:00:00 UTC: first event (list_import)" in text
    assert (
        "2. cold_lead   reached 2024-01-03 00:00:00 UTC: page_view brought the score to 3.95"
        in text
    )
    assert "3. warm_lead   reached 2024-01-04 00:00:00 UTC: ebook_download" in text
    assert "4. client      not reached: no purchase where amount > 0; no subscription" in text
    assert "It reached warm_lead but has had no activity since 2024-02-20 00:00:00 UTC" in text
    assert "so it lapsed to cold_lead" in text
    assert out.stage == "cold_lead" and out.stage_rank == 2
    assert out.to_polars()["reached_at"].to_list()[:3] == [day(0), day(2), day(3)]
    timeline = out.timeline
    assert timeline["event"].to_list() == [
        "list_import",
        "page_view",
        "page_view",
        "ebook_download",
        "purchase",
    ]
    assert timeline["evidence_for"].to_list() == [
        [],
        ["cold_lead"],
        ["cold_lead"],
        ["warm_lead"],
        [],
    ]
    assert timeline["score_cold_lead"].to_list()[:3] == [
        None,
        2.0,
        pytest.approx(2 + 2 * 0.5 ** (1 / 30)),
    ]
    assert "<pre>" in out._repr_html_()


def test_explain_skipped_and_partial_stages() -> None:
    funnel = Funnel(
        "n",
        (
            Stage("s1"),
            Stage("s2", conditions=(EventRule(("call",), min_count=3),)),
            Stage("s3", conditions=(PointsRule({"like": 1}, 5),)),
            Stage("s4", conditions=(EventRule(("meeting",)),)),
        ),
    )
    log = events_frame(("a", d(1), "call"), ("a", d(2), "like"), ("a", d(3), "meeting"))
    text = explain(log, funnel, "a").text
    assert "2. s2  reached 2024-01-04 00:00:00 UTC: skipped, counts as reached when s4 was" in text
    assert "3. s3  reached 2024-01-04 00:00:00 UTC: skipped" in text
    text = explain(log.head(2), funnel, "a").text
    assert "2. s2  not reached: 1 of 3 × call" in text
    assert "3. s3  not reached: score peaked at 1 of 5" in text
    assert "4. s4  not reached: no meeting" in text


def test_explain_a_contact_without_events() -> None:
    log = events_frame(("a", d(1), "like"))
    contacts = pl.DataFrame({"contact_id": ["z"], "created_at": [day(0)]})
    out = explain(log, TINY, "z", contacts=contacts)
    assert out.stage == "known"
    assert "1. known    reached 2024-01-01 00:00:00 UTC: created then (contacts table)" in out.text
    with pytest.raises(
        ParameterError, match="contact 'q' has no events and is not in the contacts table"
    ):
        explain(log, TINY, "q")
    with pytest.raises(ParameterError, match="contact 'a' has no events up to"):
        explain(log, TINY, "a", as_of=day(0))


def test_explain_agrees_with_classify(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, contacts = sample
    done = classify(events, INBOUND, contacts=contacts).collect()
    for stage in INBOUND.stage_ids:
        row = done.filter(pl.col("stage") == stage).row(0, named=True)
        out = explain(events, INBOUND, row["contact_id"], contacts=contacts)
        assert out.stage == stage
        assert out.stages["reached_at"].to_list() == [row[f"{s}_at"] for s in INBOUND.stage_ids]


def test_docstring_examples() -> None:
    result = doctest.testmod(stages, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 5


def test_explain_asks_for_the_id_as_text() -> None:
    with pytest.raises(ParameterError, match=r"contact_id=63: give the id as text.*'63'"):
        explain(events_frame(("a", d(1), "like")), TINY, 63)  # type: ignore[arg-type]


def test_an_explanation_in_french_has_french_words_numbers_and_dates() -> None:
    events = pl.DataFrame(
        {
            "contact_id": ["c1", "c1", "c1"],
            "occurred_at": [
                datetime(2026, 11, 2, 12, 48),
                datetime(2026, 11, 10, 21, 31),
                datetime(2026, 11, 17, 17, 11),
            ],
            "event": ["page_view", "social_follow", "ebook_download"],
            "amount": [None, None, None],
        },
        schema_overrides={"amount": pl.Float64},
    )
    why = explain(events, load_funnel("inbound"), "c1", lang="fr")
    assert why.text.splitlines()[:3] == [
        "Contact 'c1' selon la définition 'inbound' (tous les événements) : "
        "warm_lead (Lead chaud), rang 3 sur 5.",
        "3 événements ; dernière activité le 17/11/2026 17:11:00 UTC.",
        "  1. prospect    atteint le 02/11/2026 12:48:00 UTC : premier événement (page_view)",
    ]
    assert "a porté le score à 4,65 (seuil 3)" in why.text
    assert "non atteint : aucun purchase où amount > 0 ; aucun subscription" in why.text
    english = ("reached", "rank", "of 5", "events", "last activity", "brought", " or ", "where")
    assert not [w for w in english if w in why.text]
    assert why.stages["how"][2] == "atteint le 17/11/2026 17:11:00 UTC : ebook_download"
    assert "reached 2026-11-17" in explain(events, load_funnel("inbound"), "c1").text


@pytest.mark.parametrize("given", ["sales", None])
def test_a_definition_not_read_yet_is_refused_with_the_call_to_make(given: object) -> None:
    events = events_frame(("a", "2024-01-01", "form_fill"))
    with pytest.raises(
        ParameterError, match=r"expected a funnel definition.*load_funnel\('sales'\)"
    ):
        stages.classify(events, given)  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["sales", None])
def test_snapshot_and_flows_refuse_a_definition_not_read_yet(given: object) -> None:
    events = events_frame(("a", "2024-01-01", "form_fill"))
    classified = classify(events, load_funnel("sales"))
    call = r"expected a funnel definition.*load_funnel\('sales'\)"
    with pytest.raises(ParameterError, match=call):
        snapshot(classified, given)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=call):
        stages.flows(events, given, start="2024-01-01", end="2024-01-02")  # type: ignore[arg-type]


def test_a_near_miss_of_a_definitions_event_is_warned_about_by_classify() -> None:
    sales = load_funnel("sales")
    typo = read_events(events_frame(("a", "2024-01-01", "form_fil"), ("a", "2024-01-02", "call")))
    with pytest.warns(UnknownEventWarning) as caught:
        classify(typo, sales)
    assert [str(w.message) for w in caught] == [
        "funnel 'sales' reads the event 'form_fill', which <frame> never holds; it counts "
        "nothing. Did you mean 'form_fil'?"
    ]
    assert caught[0].filename == __file__
    # names the log lacks with no close name it holds are alternatives, not typos: no warning
    classify(read_events(events_frame(("a", "2024-01-01", "page_view"))), sales)


@pytest.mark.parametrize("given", ["sales", None])
def test_compare_and_explain_refuse_a_definition_not_read_yet(given: object) -> None:
    events = events_frame(("a", "2024-01-01", "form_fill"))
    sales = load_funnel("sales")
    call = r"expected a funnel definition.*load_funnel\('sales'\)"
    with pytest.raises(ParameterError, match=r"right.*" + call):
        stages.compare(events, sales, given)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"left.*" + call):
        stages.compare(events, given, sales)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=call):
        stages.explain(events, given, "a")  # type: ignore[arg-type]
