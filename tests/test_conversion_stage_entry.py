"""Stages read by entry (``stage_steps="entry"``): timelines, the snapshot, a reference.

A stage step read by entry is reached at the instant ``classify`` says the
contact entered the stage (``<stage>_at``), one synthetic event per contact
and stage; the chain rule then applies unchanged.  The timelines below are
written so that this reading (the default) and the evidence reading differ.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from funnelkit.conversion import (
    Exclusion,
    cohorts,
    compare_periods,
    conversion_over_time,
    funnel,
    funnel_chains,
    week_over_week,
)
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.errors import MissingColumnError, ParameterError
from funnelkit.events import read_contacts, read_events
from funnelkit.stages import classify, snapshot
from tests.conftest import at, events_frame
from tests.test_conversion import reference as chain_reference
from tests.test_stages import VOCAB as STAGE_VOCAB
from tests.test_stages import contacts_tables, funnels, logs
from tests.test_stages import reference as classify_reference

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")
ENTRY: dict[str, Any] = {"stage_steps": "entry"}
EVIDENCE: dict[str, Any] = {"stage_steps": "evidence"}
DAY = dt.timedelta(days=1)
H = dt.timedelta(hours=1)

# known (any event) -> engaged (2 likes) -> scored (3 points, half-life 1 day) -> client
PROBE = Funnel.from_toml(
    """
name = "probe"
[[stages]]
id = "known"
[[stages]]
id = "engaged"
events = ["like"]
min_count = 2
[[stages]]
id = "scored"
points = { page_view = 1, ebook = 2 }
threshold = 3
half_life = "1d"
[[stages]]
id = "client"
events = ["purchase"]
where = "amount > 0"
""",
    source="probe.toml",
)


def d(n: float) -> str:
    """The instant ``n`` days after 2024-01-01, as text for :func:`events_frame`."""
    return (at("2024-01-01") + n * DAY).isoformat()


def counts(events: Any, steps: Any, **kw: Any) -> list[int]:
    return funnel(events, steps, **kw).table["count"].to_list()


def days(events: Any, steps: Any, contact: str, **kw: Any) -> tuple[int, list[float]]:
    """Level and step times (days after 2024-01-01) of one contact's counted chain."""
    chains = funnel_chains(events, steps, **kw).collect()
    row = chains.filter(pl.col("contact_id") == contact).row(0, named=True)
    base = at("2024-01-01")
    return row["level"], [(row[f"step_{j}_at"] - base) / DAY for j in range(1, row["level"] + 1)]


def without_lapses(definition: Funnel) -> Funnel:
    stages = tuple(dataclasses.replace(s, lapse=None) for s in definition.stages)
    return dataclasses.replace(definition, stages=stages)


# --- where the two readings differ --------------------------------------------------------------
def test_min_count_entry_is_the_nth_evidence_event() -> None:
    events = events_frame(("a", d(0), "like"), ("a", d(2), "like"), ("b", d(0), "like"))
    steps = [PROBE.stage("known"), PROBE.stage("engaged")]
    assert counts(events, steps, window="7d", rules="clickhouse", **EVIDENCE) == [2, 2]
    assert counts(events, steps, window="7d", **EVIDENCE) == [2, 1]  # one like fills one step
    assert counts(events, steps, window="7d", definition=PROBE, **ENTRY) == [2, 1]
    assert days(events, steps, "a", window="7d", rules="clickhouse", **EVIDENCE) == (2, [0.0, 0.0])
    assert days(events, steps, "a", window="7d", **EVIDENCE) == (2, [0.0, 2.0])
    assert days(events, steps, "a", window="7d", definition=PROBE, **ENTRY) == (2, [0.0, 2.0])
    # the second like is 2 days after entering "known": outside a 1-day window
    assert counts(events, steps, window="1d", definition=PROBE, **ENTRY) == [2, 0]


def test_points_threshold_and_half_life_decide_the_entry() -> None:
    # inbound cold_lead: a page view scores 2 of the 3 points, halved every 30 days
    events = events_frame(
        ("a", d(0), "page_view"),
        ("a", d(10), "page_view"),  # 2 + 2 * 0.5 ** (10 / 30) = 3.59: a cold lead on day 10
        ("b", d(0), "page_view"),
        ("b", d(40), "page_view"),  # 2 + 2 * 0.5 ** (40 / 30) = 2.79: not yet
        ("c", d(0), "page_view"),
    )
    assert counts(events, INBOUND, window="30d", rules="clickhouse", **EVIDENCE) == [3, 3, 0, 0, 0]
    assert counts(events, INBOUND, window="30d", **ENTRY) == [3, 1, 0, 0, 0]
    assert days(events, INBOUND, "a", window="30d", **ENTRY) == (2, [0.0, 10.0])


def test_skipped_stages_are_entered_with_the_later_stage() -> None:
    events = events_frame(
        ("walk_in", d(0), "purchase", 50.0),
        ("free", d(0), "purchase", 0.0),  # a zero-amount purchase makes no client
    )
    assert counts(events, INBOUND, window="7d", **EVIDENCE) == [2, 0, 0, 0, 0]
    assert counts(events, INBOUND, window="7d", **ENTRY) == [2, 1, 1, 1, 0]
    assert days(events, INBOUND, "walk_in", window="7d", **ENTRY) == (4, [0.0] * 4)
    # one instant serves one step only with strict_increase: the buyer stops at the first stage
    strict = counts(events, INBOUND, window="7d", order="strict_increase", **ENTRY)
    assert strict == [2, 0, 0, 0, 0]
    ttc = funnel(events, INBOUND, window="7d", **ENTRY).time_to_convert.summary
    assert ttc.filter(pl.col("to_step") == 4)["median"].to_list() == [dt.timedelta(0)]


def test_an_ordered_funnel_over_entries_keeps_the_window_from_the_first_entry() -> None:
    events = events_frame(
        ("a", d(0), "like"),  # prospect and cold lead (a like scores 3)
        ("a", d(10), "ebook_download"),  # warm lead
        ("a", d(20), "purchase", 30.0),  # client
    )
    assert counts(events, INBOUND, window="7d", **ENTRY) == [1, 1, 0, 0, 0]
    assert counts(events, INBOUND, window="14d", **ENTRY) == [1, 1, 1, 0, 0]
    assert counts(events, INBOUND, window="20d", **ENTRY) == [1, 1, 1, 1, 0]
    summary = funnel(events, INBOUND, window="20d", **ENTRY).time_to_convert.summary
    pairs = {(r["from_step"], r["to_step"]): r["median"] for r in summary.iter_rows(named=True)}
    assert pairs[(2, 3)] == 10 * DAY and pairs[(3, 4)] == 10 * DAY and pairs[(1, 5)] is None


def test_entry_ignores_lapsing_which_the_snapshot_applies() -> None:
    events = events_frame(
        ("lapsed", d(0), "ebook_download"),  # a warm lead, idle for 120 days by the end
        ("other", d(120), "page_view"),
    )
    past = snapshot(classify(events, INBOUND), INBOUND).table["at_or_past"].to_list()
    assert past == [2, 1, 0, 0, 0]  # lapsed back to cold lead
    assert counts(events, INBOUND, window="3650d", **ENTRY) == [2, 1, 1, 0, 0]


# --- stages given one by one, mixed steps -------------------------------------------------------
def test_stages_given_one_by_one_need_their_definition() -> None:
    events = events_frame(("a", d(0), "like"), ("a", d(1), "like"), ("a", d(3), "purchase", 5.0))
    named = {"Engaged": PROBE.stage("engaged"), "Client": PROBE.stage("client")}
    result = funnel(events, named, window="7d", definition=PROBE, **ENTRY)
    assert result.step_names == ("Engaged", "Client")
    assert result.table["count"].to_list() == [1, 1]
    assert days(events, named, "a", window="7d", definition=PROBE, **ENTRY) == (2, [1.0, 3.0])


def test_mixed_steps_read_event_names_on_the_raw_events() -> None:
    events = events_frame(
        ("p", d(0), "ebook_download"),  # warm lead on day 0
        ("p", d(2), "purchase", 0.0),  # a purchase event, but no client
        ("q", d(0), "purchase", 0.0),  # the purchase comes before the warm lead entry
        ("q", d(1), "ebook_download"),
    )
    warm = INBOUND.stage("warm_lead")
    mixed = [warm, "purchase"]
    assert counts(events, mixed, window="7d", definition=INBOUND, **ENTRY) == [2, 1]
    as_stages = [warm, INBOUND.stage("client")]
    assert counts(events, as_stages, window="7d", definition=INBOUND, **ENTRY) == [2, 0]
    assert days(events, mixed, "p", window="7d", definition=INBOUND, **ENTRY) == (2, [0.0, 2.0])


def test_a_stage_as_exclusion_is_read_by_entry_too() -> None:
    events = events_frame(
        ("e", d(0), "like"),
        ("e", d(1), "like"),  # enters "engaged" on day 1, between known and client
        ("e", d(2), "purchase", 9.0),
        ("f", d(0), "like"),
        ("f", d(2), "purchase", 9.0),  # enters "engaged" by skipping, with client
    )
    steps = [PROBE.stage("known"), PROBE.stage("client")]
    rule = [Exclusion(PROBE.stage("engaged"), 1, 2)]
    result = funnel(events, steps, window="7d", exclusions=rule, definition=PROBE, **ENTRY)
    assert result.table["count"].to_list() == [1, 1]
    assert result.excluded == 1
    chains = funnel_chains(events, steps, window="7d", exclusions=rule, definition=PROBE, **ENTRY)
    excluded = chains.collect().select("contact_id", "excluded").rows()
    assert excluded == [("e", True), ("f", False)]


# --- what the classification reads --------------------------------------------------------------
def test_the_classification_reads_the_history_before_since() -> None:
    # a is known on day 0 and engaged on day 3 (its second like)
    events = events_frame(("a", d(0), "like"), ("a", d(3), "like"))
    assert counts(events, PROBE, window="7d", **ENTRY) == [1, 1, 0, 0]
    # from day 1: a entered "known" before, so it is no new entrant; its entry into
    # "engaged" on day 3 is one, and counts from that step on
    assert counts(events, PROBE, window="7d", since=d(1), **ENTRY) == [0, 0, 0, 0]
    engaged = [PROBE.stage("engaged"), PROBE.stage("scored")]
    assert counts(events, engaged, window="7d", since=d(1), definition=PROBE) == [1, 0]
    # until still ends the history: the second like on day 3 is not read before it
    assert counts(events, engaged, window="7d", until=d(2), definition=PROBE) == [0, 0]
    # the evidence reading reads the events of the span only, as before
    assert counts(events, engaged, window="7d", since=d(1), **EVIDENCE) == [1, 0]


def test_contacts_enter_the_first_stage_at_created_at() -> None:
    events = events_frame(("a", d(10), "like"))
    people = pl.DataFrame(
        {
            "contact_id": ["a", "silent", "later"],
            "created_at": [at(d(0)), at(d(1)), at(d(50))],
        }
    )
    # without contacts: known on day 10 with the like, a cold lead at once
    assert counts(events, INBOUND, window="7d", **ENTRY) == [1, 1, 0, 0, 0]
    # with them: a is known from day 0, the like on day 10 is outside the window; the
    # contact without events counts at the first stage, the one created after until does not
    got = counts(events, INBOUND, window="7d", contacts=people, until=d(20), **ENTRY)
    assert got == [2, 0, 0, 0, 0]
    # contacts created before since are not new entrants after it
    got = counts(events, INBOUND, window="7d", contacts=people, since=d(5), until=d(20))
    assert got == [0, 0, 0, 0, 0]
    # contacts read only for a breakdown do not change the evidence reading
    got = counts(events, INBOUND, window="7d", contacts=people, rules="clickhouse", **EVIDENCE)
    assert got == [1, 1, 0, 0, 0]


def test_breakdown_is_read_at_the_entry_instant_of_step_one() -> None:
    events = events_frame(
        ("a", d(0), "page_view", None, "search"),
        ("a", d(1), "like", None, "social"),  # cold lead here (a like scores 3)
        ("a", d(1), "comment", None, "ads"),  # same instant: the smallest value wins
    )
    steps = [INBOUND.stage("cold_lead"), INBOUND.stage("warm_lead")]
    options: dict[str, Any] = {"window": "7d", "by": "channel", "min_size": 0}
    entry = funnel(events, steps, definition=INBOUND, **options, **ENTRY).breakdown
    evidence = funnel(events, steps, **options, **EVIDENCE).breakdown
    assert entry is not None and evidence is not None
    assert entry["segment"].unique().to_list() == ["ads"]
    assert evidence["segment"].unique().to_list() == ["search"]  # the first page view
    with pytest.raises(MissingColumnError, match="by: no column 'chanel'.*Did you mean 'channel'"):
        funnel(events, INBOUND, window="7d", by="chanel", **ENTRY)


def test_a_missing_filter_column_names_the_stage() -> None:
    events = events_frame(("a", d(0), "like")).drop("amount")
    with pytest.raises(MissingColumnError, match="stage 'client'.*no column 'amount'"):
        funnel(events, INBOUND, window="7d", **ENTRY)


# --- the other functions that take steps ----------------------------------------------------------
def test_trend_periods_are_those_of_the_step_one_entry_and_add_up() -> None:
    events = events_frame(
        ("a", d(0), "page_view"),
        ("a", d(9), "page_view"),  # cold lead on day 9: the week of 2024-01-08
        ("b", d(1), "like"),  # cold lead on day 1: the week of 2024-01-01
        ("c", d(2), "page_view"),
    )
    steps = [INBOUND.stage("cold_lead"), INBOUND.stage("warm_lead")]
    trend = conversion_over_time(events, steps, window="7d", definition=INBOUND, **ENTRY)
    entrants = trend.table.filter(pl.col("step") == 1).select("period_start", "count").rows()
    assert entrants == [(at("2024-01-01"), 1), (at("2024-01-08"), 1)]
    total = funnel(events, steps, window="7d", definition=INBOUND, **ENTRY)
    summed = trend.table.group_by("step").agg(pl.col("count").sum()).sort("step")
    assert summed["count"].to_list() == total.table["count"].to_list()
    assert trend.stage_steps == "entry" and trend.to_dict()["stage_steps"] == "entry"
    assert "stages by evidence" not in trend._repr_html_()
    by_evidence = conversion_over_time(events, steps, window="7d", **EVIDENCE)
    assert "stages by evidence" in by_evidence._repr_html_()


def test_trends_read_the_contacts_table_as_the_funnel_does() -> None:
    events = events_frame(("a", d(0), "like"), ("b", d(8), "page_view"))
    people = pl.DataFrame(
        {"contact_id": ["a", "silent", "late"], "created_at": [at(d(0)), at(d(9)), at(d(15))]}
    )
    options: dict[str, Any] = {"window": "7d", "contacts": people, "until": d(14)}
    trend = conversion_over_time(events, INBOUND, **options)
    entrants = trend.table.filter(pl.col("step") == 1).select("period_start", "count").rows()
    # a in the first week; b and the contact created without events in the second; late
    # was created after until
    assert entrants == [(at("2024-01-01"), 1), (at("2024-01-08"), 2)]
    summed = trend.table.group_by("step").agg(pl.col("count").sum()).sort("step")
    assert summed["count"].to_list() == counts(events, INBOUND, **options)
    weekly = week_over_week(events, INBOUND, window="1d", current=d(8), contacts=people)
    first = weekly.table.row(0, named=True)
    assert (first["previous_trials"], first["current_trials"]) == (1, 2)
    evidence = conversion_over_time(events, INBOUND, **options, **EVIDENCE)
    assert evidence.table.filter(pl.col("step") == 1)["count"].to_list() == [1, 1]


def test_period_comparisons_pass_the_reading_on() -> None:
    rows = []
    for week, likes in ((0, 12), (7, 30)):
        for i in range(40):  # 40 entrants a week, `likes` of them become cold leads
            rows.append((f"w{week}-{i}", d(week), "page_view"))
            if i < likes:
                rows.append((f"w{week}-{i}", d(week + 1), "like"))
    rows.append(("late", d(60), "page_view"))
    events = events_frame(*rows)
    steps = [INBOUND.stage("prospect"), INBOUND.stage("cold_lead")]
    options: dict[str, Any] = {"window": "3d", "current": d(7), "definition": INBOUND}
    result = compare_periods(events, steps, **options, **ENTRY)
    row = result.table.filter(pl.col("rate") == "from_previous").row(0, named=True)
    assert (row["previous_rate"], row["current_rate"]) == (0.3, 0.75)
    assert row["verdict"] == "increase"
    assert result.stage_steps == "entry" and "by evidence" not in result._repr_html_()
    json.dumps(result.to_dict())
    weekly = week_over_week(events, steps, **options, **ENTRY)
    assert weekly.table.equals(result.table)
    # by evidence, every page view is a sign of interest, one view per step: 75% both weeks
    plain = compare_periods(events, steps, window="3d", current=d(7), **EVIDENCE)
    assert plain.table["current_rate"].to_list() == [0.75, 0.75]
    assert "stages by evidence" in plain._repr_html_()


def test_cohorts_convert_at_the_stage_entry() -> None:
    events = events_frame(
        ("a", d(0), "like"), ("a", d(3), "like"), ("b", d(0), "like"), ("z", d(9), "x")
    )
    target = PROBE.stage("engaged")
    evidence = cohorts(events, target, horizon="5d", **EVIDENCE).table
    entry = cohorts(events, target, horizon="5d", definition=PROBE, **ENTRY).table
    converted = pl.col("converted") > 0
    assert evidence.filter(converted).select("day", "converted").rows() == [(0, 2)]
    assert entry.filter(converted).select("day", "converted").rows() == [(3, 1)]
    result = cohorts(events, target, horizon="5d", definition=PROBE, **ENTRY)
    assert result.to_dict()["stage_steps"] == "entry"
    assert "by evidence" not in result._repr_html_()
    with pytest.raises(ParameterError, match="needs the definition it belongs to"):
        cohorts(events, target, **ENTRY)


# --- results say which reading they used ----------------------------------------------------------
def test_results_name_the_reading() -> None:
    events = events_frame(("a", d(0), "like"))
    entry = funnel(events, INBOUND, window="3d", **ENTRY)
    assert entry.stage_steps == "entry" and entry.to_dict()["stage_steps"] == "entry"
    assert entry.to_text().splitlines()[0] == (
        "Funnel Prospect → Cold lead → Warm lead → Client → Ambassador (window 3d, ordered)"
    )
    assert "by evidence" not in entry._repr_html_()
    json.dumps(entry.to_dict())
    assert funnel(events, INBOUND, window="3d").stage_steps == "entry"  # the default
    plain = funnel(events, INBOUND, window="3d", **EVIDENCE)
    assert plain.stage_steps == "evidence" and plain.to_dict()["stage_steps"] == "evidence"
    assert plain.to_text().splitlines()[0].endswith("(window 3d, ordered, stages by evidence)")
    assert "stages by evidence" in plain._repr_html_()


# --- bad input ------------------------------------------------------------------------------------
class _Custom:
    name = "custom"

    def evidence(self) -> pl.Expr:
        return pl.col("event") == "like"


@pytest.mark.parametrize(
    ("steps", "options", "message"),
    [
        (INBOUND, {"stage_steps": "entries"}, r"stage_steps: 'entries' is not .*'entry'\?"),
        (
            [PROBE.stage("engaged")],
            ENTRY,
            r"step 1: stage 'engaged' is read by entry \(the default\), which needs the def",
        ),
        (
            [PROBE.stage("engaged")],
            {"definition": PROBE, **EVIDENCE},
            "definition: read only with stage_st",
        ),
        (
            [INBOUND.stage("client")],
            {"definition": PROBE, **ENTRY},
            r"stage 'client' differs from the stage of that id in funnel 'probe'",
        ),
        (
            [INBOUND.stage("warm_lead")],
            {"definition": PROBE, **ENTRY},
            r"stage 'warm_lead' is not a stage of funnel 'probe' \(stages: known, engaged",
        ),
        (INBOUND, {"definition": SALES, **ENTRY}, "steps are funnel 'inbound' but definition="),
        (["like"], {"definition": "inbound", **ENTRY}, "definition: expected a funnel definition"),
        (
            ["like", "engaged"],
            {"definition": PROBE, **ENTRY},
            r"'engaged' is a stage id of funnel 'probe' but text.*\.stage\('engaged'\)",
        ),
        (
            ["like"],
            {"exclusions": [(INBOUND.stage("client"), 1, 2)], **ENTRY},
            "exclusion 1: stage 'client' is read by entry \\(the default\\), which needs the def",
        ),
    ],
)
def test_bad_entry_options_are_explained(steps: Any, options: dict[str, Any], message: str) -> None:
    events = events_frame(("a", d(0), "like"))
    if "exclusions" in options:
        steps = ["like", "purchase"]
    with pytest.raises(ParameterError, match=message):
        funnel(events, steps, window="7d", **options)


def test_an_object_with_only_evidence_is_read_by_its_events() -> None:
    """Not a stage of a definition, it has no entry: both readings count its events."""
    events = events_frame(("a", d(0), "like"), ("b", d(1), "like"))
    for options in ({}, {"definition": PROBE}, EVIDENCE):
        result = funnel(events, [_Custom(), "purchase"], window="7d", **options)
        assert result.table["count"].to_list() == [2, 0]
        assert result.step_names == ("custom", "purchase")


# --- the snapshot ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample() -> tuple[pl.DataFrame, pl.DataFrame]:
    events = read_events(SAMPLE / "events.csv").frame.collect()
    contacts = read_contacts(SAMPLE / "contacts.csv").frame.collect()
    return events, contacts


@pytest.mark.slow
@pytest.mark.parametrize("preset", [INBOUND, SALES], ids=["inbound", "sales"])
def test_sample_entry_counts_are_the_snapshot(
    sample: tuple[pl.DataFrame, pl.DataFrame], preset: Funnel
) -> None:
    events, contacts = sample
    for people in (None, contacts):
        classified = classify(events, preset, contacts=people).collect()
        reached = [classified[f"{s}_at"].is_not_null().sum() for s in preset.stage_ids]
        # a contact lapsed from stage k is at or past k - 1 only in the snapshot
        lapsed = [0] * len(reached)
        for rank, stage in enumerate(preset.stages, start=1):
            if stage.lapse is not None:
                gone = classified.filter(
                    pl.col(f"{stage.id}_at").is_not_null() & (pl.col("stage_rank") < rank)
                )
                lapsed[rank - 1] = gone.height
        past = snapshot(classified, preset).table["at_or_past"].to_list()
        assert [r - x for r, x in zip(reached, lapsed, strict=True)] == past
        for order in ("ordered", "any"):
            got = counts(events, preset, window="3650d", order=order, contacts=people, **ENTRY)
            assert got == reached
    if preset is INBOUND:
        old = {"rules": "clickhouse", **EVIDENCE}
        rates = funnel(events, preset, window="30d", **old).table["conversion_from_previous"]
        entry = funnel(events, preset, window="30d", **ENTRY).table["conversion_from_previous"]
        past = snapshot(classify(events, preset), preset).table["at_or_past"]
        assert rates[1] == pytest.approx(0.869, abs=5e-4)  # the gap this reading closes
        assert entry[1] == past[1] / past[0] == pytest.approx(0.5896, abs=1e-4)


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs((*STAGE_VOCAB, "other")),
    definition=funnels(),
    contacts=contacts_tables,
    order=st.sampled_from(["ordered", "any"]),
)
def test_entry_counts_equal_the_snapshot_without_lapses(
    log: pl.DataFrame, definition: Funnel, contacts: pl.DataFrame | None, order: str
) -> None:
    plain = without_lapses(definition)
    classified = classify(log, plain, contacts=contacts).collect()
    past = snapshot(classified, plain).table["at_or_past"].to_list()
    # a listed contact with no event and no created_at is in the first stage, but never entered it
    past[0] -= classified[f"{plain.stage_ids[0]}_at"].null_count()
    got = counts(log, definition, window="3650d", order=order, contacts=contacts, **ENTRY)
    assert got == past


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs((*STAGE_VOCAB, "other")),
    definition=funnels(),
    contacts=contacts_tables,
    order=st.sampled_from(["ordered", "any"]),
    cut=st.one_of(st.none(), st.integers(0, 220)),
    end=st.one_of(st.none(), st.integers(0, 220)),
)
def test_a_funnel_over_the_stages_counts_the_entries_classify_writes(
    log: pl.DataFrame,
    definition: Funnel,
    contacts: pl.DataFrame | None,
    order: str,
    cut: int | None,
    end: int | None,
) -> None:
    """One meaning of a stage: lapses included, by default, from any ``since`` to any ``until``.

    The classification of the history before ``until`` says who entered each
    stage; a funnel over the definition's stages from ``since`` counts at step
    k the contacts that entered the first stage from ``since`` on and entered
    stage k (entries never decrease down a definition, and the window is
    longer than the data).
    """
    since = None if cut is None else BASE + cut * H
    until = None if end is None else BASE + end * H
    assume(since is None or until is None or since < until)
    history = log if until is None else log.filter(pl.col("occurred_at") < until)
    people = contacts
    if people is not None and until is not None:
        people = people.filter(pl.col("created_at").is_null() | (pl.col("created_at") < until))
    classified = classify(history, definition, contacts=people).collect()
    first = pl.col(f"{definition.stage_ids[0]}_at")
    if since is not None:
        classified = classified.filter(first >= since)
    entered = [classified[f"{i}_at"].is_not_null().sum() for i in definition.stage_ids]
    options: dict[str, Any] = {"order": order, "contacts": contacts}
    got = counts(log, definition, window="3650d", since=since, until=until, **options)
    assert got == entered


# --- against a slow reference: classify's reference, then the chain reference ---------------------
BASE = at("2024-01-01")
RAW = (*STAGE_VOCAB, "other")


def _us(moment: dt.datetime) -> int:
    return (moment - BASE) // dt.timedelta(microseconds=1)


@st.composite
def entry_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    definition = draw(funnels())
    ids = definition.stage_ids
    stage = st.sampled_from(ids).map(lambda i: ("stage", i))
    names = st.sets(st.sampled_from(RAW), min_size=1, max_size=2).map(lambda s: ("event", s))
    steps = draw(st.lists(st.one_of(stage, stage, names), min_size=1, max_size=4))
    if all(kind == "event" for kind, _ in steps):
        steps[draw(st.integers(0, len(steps) - 1))] = draw(stage)
    order = draw(st.sampled_from(["ordered", "strict_increase", "any"]))
    exclusions = []
    if order != "any" and len(steps) >= 2 and draw(st.booleans()):
        a = draw(st.integers(1, len(steps) - 1))
        exclusions.append((draw(st.one_of(stage, names)), a, draw(st.integers(a + 1, len(steps)))))
    hours = st.one_of(st.sampled_from([0, 1, 24, 24 * 7, 24 * 400]), st.integers(0, 24 * 60))
    return {
        "definition": definition,
        "log": draw(logs(RAW)),
        "steps": steps,
        "order": order,
        "window": draw(hours),
        "first_entry": draw(st.booleans()),
        "exclusions": exclusions,
    }


def _public(item: tuple[str, Any], definition: Funnel) -> Any:
    kind, value = item
    return definition.stage(value) if kind == "stage" else sorted(value)


def _keys(item: tuple[str, Any]) -> set[str]:
    kind, value = item
    return {f"stage:{value}"} if kind == "stage" else {f"event:{n}" for n in value}


def _reference(s: dict[str, Any]) -> dict[str, tuple[int, list[int], bool]]:
    """Per contact: classify's reference gives the entries, the chain reference the rest."""
    definition: Funnel = s["definition"]
    entered = classify_reference(s["log"], definition)
    raw: dict[str, list[tuple[int, str, None]]] = {c: [] for c in entered}
    for row in s["log"].iter_rows(named=True):
        raw[row["contact_id"]].append((_us(row["occurred_at"]), f"event:{row['event']}", None))
    window = s["window"] * 3_600_000_000
    steps = [_keys(item) for item in s["steps"]]
    exclusions = [(_keys(item), a, b) for item, a, b in s["exclusions"]]
    out = {}
    for contact, row in entered.items():
        events = raw[contact] + [
            (_us(row[f"{i}_at"]), f"stage:{i}", None)
            for i in definition.stage_ids
            if row[f"{i}_at"] is not None
        ]
        got = chain_reference(events, steps, window, s["order"], s["first_entry"], exclusions)
        if got is not None:
            out[contact] = got[:3]
    return out


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry_scenarios())
def test_entry_funnel_equals_the_reference(s: dict[str, Any]) -> None:
    definition: Funnel = s["definition"]
    steps = [_public(item, definition) for item in s["steps"]]
    options: dict[str, Any] = {
        "window": dt.timedelta(hours=s["window"]),
        "order": s["order"],
        "first_entry": s["first_entry"],
        "exclusions": [Exclusion(_public(e, definition), a, b) for e, a, b in s["exclusions"]],
        "definition": definition,
        "rules": "clickhouse",  # the reference's; one event per step: test_conversion's
        **ENTRY,
    }
    expected = _reference(s)
    result = funnel(s["log"], steps, **options)
    assert result.table["count"].to_list() == [
        sum(1 for level, _, x in expected.values() if level >= k and not x)
        for k in range(1, len(steps) + 1)
    ]
    assert result.excluded == sum(1 for _, _, x in expected.values() if x)
    chains = funnel_chains(s["log"], steps, **options).collect()
    got = {
        r["contact_id"]: (
            r["level"],
            [_us(r[f"step_{j}_at"]) for j in range(1, r["level"] + 1)],
            r["excluded"],
        )
        for r in chains.iter_rows(named=True)
    }
    assert got == expected
