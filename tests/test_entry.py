"""A funnel over stages read by entry, straight from the classification, equals the core.

:func:`funnelkit.entry.entry_chains` is the first polars accelerator of
the chains: it reads each contact's ``<stage>_at`` along one row.  These
tests hold it to the core (:func:`funnelkit.core.chains.counted_chains`, run
on polars with every accelerator removed) on random logs, random and preset
definitions, steps in any order of the stages, both orders it takes, both
rules, ``first_entry``, ``since``/``until``, contacts and breakdowns; and
check the specs it declines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import conversion, entry
from funnelkit.conversion import (
    Exclusion,
    conversion_over_time,
    funnel,
    funnel_chains,
    week_over_week,
)
from funnelkit.core import accelerators
from funnelkit.core.chains import chains_of, nw_spec
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.entry import (
    entry_chains,
    entry_chains_apply,
    entry_classification,
    with_entry_values,
)
from funnelkit.errors import ParameterError
from funnelkit.steps import resolve_spec
from tests.conftest import at, events_frame
from tests.engines import same_funnel
from tests.strategies import VOCAB, Draws, definitions

INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")
BASE = at("2024-01-01")
H = dt.timedelta(hours=1)
DRAWS = Draws(BASE, 60, amounts=(None, 0.0, 5.0), extra_contacts=("x", "y"), log_size=30)
PRESET_VOCAB = (*sorted(INBOUND.event_names | SALES.event_names), "other")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def on_the_core() -> Iterator[None]:
    """Remove the polars accelerators: the core computes the chains."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delitem(accelerators.ACCELERATORS, ("chains", "polars"))
        yield


def _tiers(contacts: pl.DataFrame | None) -> pl.DataFrame | None:
    """The contacts with a ``tier`` attribute to break down by (two rows of one id may differ)."""
    if contacts is None:
        return None
    tiers = pl.Series("tier", ["gold", "silver", None, "bronze", "gold"])
    return contacts.with_columns(tier=tiers.head(contacts.height).extend_constant(None, 0))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    preset = draw(st.booleans())
    definition: Funnel
    if preset:
        definition = draw(st.sampled_from([INBOUND, SALES]))
    else:
        definition = draw(definitions(5, (dt.timedelta(days=1), dt.timedelta(days=10))))
    log = draw(DRAWS.logs(PRESET_VOCAB if preset else (*VOCAB, "other")))
    ids = definition.stage_ids
    steps = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True))
    if draw(st.booleans()):  # the definition's order: entries mostly non-decreasing
        steps = [i for i in ids if i in steps]
    contacts = _tiers(draw(DRAWS.contacts_tables))
    bys = [None, "channel"] + (["tier"] if contacts is not None else [])
    hours = st.one_of(st.none(), st.integers(0, 60 * 24))
    since, until = draw(hours), draw(hours)
    assume(since is None or until is None or since < until)
    window = draw(st.one_of(st.sampled_from([0, 1, 24, 24 * 7, 24 * 400]), st.integers(0, 24 * 30)))
    return {
        "log": log,
        "definition": definition,
        "steps": [definition.stage(i) for i in steps],
        "contacts": contacts,
        "options": {
            "window": dt.timedelta(hours=window),
            "order": draw(st.sampled_from(["ordered", "strict_increase"])),
            "first_entry": draw(st.booleans()),
            "rules": draw(st.sampled_from(["funnelkit", "clickhouse"])),
            "definition": definition,
            "since": None if since is None else BASE + since * H,
            "until": None if until is None else BASE + until * H,
        },
        "by": draw(st.sampled_from(bys)),
    }


def _chains(found: Any) -> pl.DataFrame:
    frame: pl.DataFrame = found.frame().collect().to_native()
    return frame.with_columns(pl.col("_lvl").cast(pl.Int64)).sort("contact_id")


def _known(s: dict[str, Any]) -> pl.DataFrame:
    until = s["options"]["until"]
    return entry_classification(s["log"], s["definition"], until=until, contacts=s["contacts"])


@pytest.mark.slow
@SETTINGS
@given(s=scenarios())
def test_the_chains_are_those_of_the_core(s: dict[str, Any]) -> None:
    """Per contact: level, the counted chain's times, excluded, breakdown value."""
    o = s["options"]
    ns = nw_spec(s["steps"], o["window"], o["order"], o["first_entry"], (),
                 definition=s["definition"], rules=o["rules"])  # fmt: skip
    assert entry_chains_apply(ns.spec)
    span = {"since": o["since"], "until": o["until"], "by": s["by"], "contacts": s["contacts"]}
    with on_the_core():
        expected = _chains(chains_of(s["log"], ns, **span))
    known = _known(s)
    for classified in (None, known):
        found = entry_chains(s["log"], ns.spec, classified=classified, **span)
        assert found is not None
        assert_frame_equal(_chains(found), expected.select(_chains(found).columns))
    if s["by"] == "channel":
        carried = with_entry_values(known, s["log"], s["definition"], ["channel"],
                                    stage=s["steps"][0].id, until=o["until"])  # fmt: skip
        found = entry_chains(s["log"], ns.spec, classified=carried, **span)
        assert found is not None
        assert_frame_equal(_chains(found), expected.select(_chains(found).columns))


@pytest.mark.slow
@SETTINGS
@given(s=scenarios())
def test_funnels_and_trends_are_those_of_the_core(s: dict[str, Any]) -> None:
    """Counts, breakdown, time to convert, per-contact chains and trend periods."""
    o, by = s["options"], s["by"]
    common = {"contacts": s["contacts"], **o}
    with on_the_core():
        expected = funnel(s["log"], s["steps"], by=by, min_size=0, **common)
        chains = funnel_chains(s["log"], s["steps"], **o).collect()
        trend = conversion_over_time(s["log"], s["steps"], period="week", as_of=BASE, **common)
    known = _known(s)
    for classified in (None, known):
        got = funnel(s["log"], s["steps"], by=by, min_size=0, classified=classified, **common)
        same_funnel(got, expected)
        fast = conversion_over_time(s["log"], s["steps"], period="week", as_of=BASE,
                                    classified=classified, **common)  # fmt: skip
        assert_frame_equal(fast.table, trend.table)
    assert_frame_equal(funnel_chains(s["log"], s["steps"], **o).collect(), chains)
    if by == "channel":
        carried = with_entry_values(known, s["log"], s["definition"], ["channel"],
                                    stage=s["steps"][0].id, until=o["until"])  # fmt: skip
        got = funnel(s["log"], s["steps"], by=by, min_size=0, classified=carried, **common)
        same_funnel(got, expected)


@pytest.mark.slow
@settings(SETTINGS, max_examples=25)
@given(s=scenarios(), week=st.integers(0, 8))
def test_week_over_week_is_that_of_the_core(s: dict[str, Any], week: int) -> None:
    """The same comparison, or the same refusal (no such week, nothing before it)."""
    o = {k: v for k, v in s["options"].items() if k != "since"}
    common = {"contacts": s["contacts"], "current": BASE + dt.timedelta(weeks=week), **o}

    def compared(**more: Any) -> pl.DataFrame | str:
        try:
            return week_over_week(s["log"], s["definition"], **common, **more).table
        except ParameterError as exc:
            return str(exc)

    with on_the_core():
        expected = compared()
    for classified in (None, _known(s)):
        got = compared(classified=classified)
        if isinstance(expected, str):
            assert got == expected
        else:
            assert isinstance(got, pl.DataFrame)
            assert_frame_equal(got, expected)


# --- by hand: entries not monotone, equal instants, since ----------------------------------------
# known (any event) -> client (a purchase) -> fan (2 likes), and fan lapses to known after 2 days
LAPSING = Funnel.from_toml(
    """
name = "lapsing"
[[stages]]
id = "known"
[[stages]]
id = "client"
events = ["purchase"]
[[stages]]
id = "fan"
events = ["like"]
min_count = 2
lapse_after = "2d"
lapse_to = "known"
""",
    source="lapsing.toml",
)


def d(n: float) -> str:
    return (BASE + dt.timedelta(days=n)).isoformat()


def _levels(log: pl.DataFrame, steps: list[str], **options: Any) -> dict[str, int]:
    chosen = [LAPSING.stage(i) for i in steps]
    options = {"window": "30d", "definition": LAPSING, **options}
    spec = resolve_spec(chosen, **_spec_args(options))
    found = entry_chains(log, spec, since=options.get("since"), until=None)
    assert found is not None
    with on_the_core():
        core = funnel_chains(log, chosen, **options).collect()
    got = dict(_chains(found).select("contact_id", "_lvl").rows())
    assert got == dict(core.select("contact_id", "level").rows())
    return got


def _spec_args(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "window": options["window"],
        "order": options.get("order", "ordered"),
        "first_entry": False,
        "exclusions": (),
        "definition": options["definition"],
    }


def test_a_later_stage_entered_first_stops_the_chain() -> None:
    """Steps out of the definition's order: one whose entry is earlier than the step before it.

    Along the definition, classify's entries never decrease (a skipped stage
    is entered with the later one, and lapsing leaves ``<stage>_at`` alone):
    2 likes make "a" a fan and a client at once.  Taken out of that order, a
    step entered before the previous one stops the chain.
    """
    a = [("a", d(0), "like"), ("a", d(1), "like"), ("a", d(3), "purchase")]
    log = events_frame(*a, ("b", d(0), "purchase"), ("b", d(1), "like"), ("b", d(2), "like"))
    assert _levels(log, ["known", "client", "fan"]) == {"a": 3, "b": 3}
    assert _levels(log, ["known", "fan", "client"]) == {"a": 3, "b": 2}
    assert _levels(log, ["fan", "client"], order="strict_increase") == {"a": 1, "b": 1}
    assert _levels(log, ["client", "known"]) == {"a": 1, "b": 2}


def test_equal_instants_count_when_ordered_not_when_strictly_increasing() -> None:
    log = events_frame(("a", d(0), "purchase"), ("a", d(0), "like"), ("a", d(0), "like"))
    assert _levels(log, ["known", "client", "fan"]) == {"a": 3}
    assert _levels(log, ["known", "client", "fan"], order="strict_increase") == {"a": 1}


def test_an_entry_before_since_starts_no_chain() -> None:
    log = events_frame(("a", d(0), "page_view"), ("a", d(5), "purchase"), ("b", d(6), "other"))
    assert _levels(log, ["known", "client"], since=at(d(4))) == {"b": 1}
    assert _levels(log, ["client"], since=at(d(4))) == {"a": 1}


@pytest.mark.parametrize(
    ("steps", "options"),
    [
        (["known", "known"], {}),  # a stage twice
        (["known", "purchase"], {}),  # an event step
        (["known", "client"], {"order": "any"}),
        (["known", "client"], {"order": "consecutive"}),
        (["known", "client"], {"order": "unordered"}),
        (["known", "client"], {"exclusions": [Exclusion("other", 1, 2)]}),
        (["known", "client"], {"stage_steps": "evidence", "definition": None}),
    ],
)
def test_other_specs_are_declined(steps: list[str], options: dict[str, Any]) -> None:
    chosen = [LAPSING.stage(i) if i in LAPSING.stage_ids else i for i in steps]
    options = {"definition": LAPSING, **options}
    spec = resolve_spec(chosen, "7d", options.pop("order", "ordered"), False,
                        options.pop("exclusions", ()), **options)  # fmt: skip
    log = events_frame(("a", d(0), "purchase"))
    assert not entry_chains_apply(spec)
    assert entry_chains(log, spec, since=None, until=None) is None


def test_carried_values_are_read_instead_of_the_events() -> None:
    """The classification carries the value at entry: the events' column is not read again."""
    log = events_frame(("a", d(0), "page_view", None, "ads"), ("a", d(0), "purchase", None, "seo"),
                       ("b", d(1), "purchase", None, None))  # fmt: skip
    known = with_entry_values(entry_classification(log, LAPSING), log, LAPSING, ["channel"])
    assert known.sort("contact_id")["known_at[channel]"].to_list() == ["ads", None]
    options: dict[str, Any] = {"window": "7d", "by": "channel", "min_size": 0}
    expected = funnel(log, LAPSING, **options)
    same_funnel(funnel(log, LAPSING, classified=known, **options), expected)
    # a carried value is what the breakdown shows: changed on purpose, it shows
    edited = known.with_columns(pl.col("known_at[channel]").fill_null("edited"))
    shown = funnel(log, LAPSING, classified=edited, **options).breakdown
    assert shown is not None
    assert "edited" in shown["segment"].to_list()


def test_a_personal_breakdown_is_not_read_from_carried_values() -> None:
    log = events_frame(("a", d(0), "page_view"), ("b", d(1), "purchase")).with_columns(
        email=pl.Series(["ana@example.org", "bob@example.org"])
    )
    known = with_entry_values(entry_classification(log, LAPSING), log, LAPSING, ["email"])
    options: dict[str, Any] = {"window": "7d", "by": "email", "min_size": 0, "allow_personal": True}
    got = funnel(log, LAPSING, classified=known, **options).breakdown
    assert got is not None
    assert all(v.startswith("p_") for v in got["segment"].unique().to_list())
    same_funnel(funnel(log, LAPSING, classified=known, **options), funnel(log, LAPSING, **options))


def test_the_accelerators_are_tried_in_turn() -> None:
    assert accelerators.ACCELERATORS[("chains", "polars")] == (
        "funnelkit.entry:entry_chains",
        "funnelkit.chains:sort_key_chains",
    )
    assert entry.entry_chains.__name__ in accelerators.accelerator("chains", "polars").__name__


def test_conversion_still_gives_the_by_entry_names() -> None:
    """The by-entry functions live in funnelkit.entry; conversion still gives them."""
    for name in ("entry_chains", "entry_classification", "entry_value_column", "with_entry_values"):
        assert getattr(conversion, name) is getattr(entry, name)
        assert name in conversion.__all__
