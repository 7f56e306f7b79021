"""The chain rule written once (funnelkit.core.chains) and its polars accelerator agree.

Random logs go through the core on polars (the per-instant window functions
every engine runs) and through the sort-key kernel of :mod:`funnelkit.chains`
(in each of its key modes): the same counted chain for every contact, for
every order mode, ``first_entry``, exclusions (per attempt or on the counted
chain, by ``rules``), breakdowns on events and on
contacts, ``since``/``until`` and stages read by entry under random
definitions with lapses.
"""

from __future__ import annotations

import doctest
from datetime import datetime, timedelta
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import conversion
from funnelkit.chains import contact_chains, read_steps, sort_key_modes
from funnelkit.core import accelerators
from funnelkit.core import chains as core
from funnelkit.core.chains import NwSpec, counted_chains, nw_spec
from funnelkit.definitions import Funnel
from funnelkit.engine_frames import core_contacts, core_events, span_us
from funnelkit.events import optional_contacts
from funnelkit.steps import Exclusion
from tests.engines import same_funnel
from tests.strategies import VOCAB, Draws
from tests.strategies import definitions as random_definitions

START = datetime.fromisoformat("2026-07-06T00:00:00+00:00")
DRAWS = Draws(START, 60)
SEGMENTS = {"a": "b2b", "b": "b2c", "c": None, "d": "b2b", "x": "b2c"}
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    report_multiple_bugs=False,
)


def test_doctests() -> None:
    for module in (core, accelerators):
        failures, _ = doctest.testmod(module)
        assert failures == 0


def as_read(contacts: pl.DataFrame | None) -> pl.DataFrame | None:
    """One row per contact (as read_contacts gives them), with a ``segment`` attribute."""
    if contacts is None:
        return None
    return contacts.unique("contact_id", keep="first", maintain_order=True).with_columns(
        segment=pl.col("contact_id").replace_strict(SEGMENTS, return_dtype=pl.String)
    )


def at(hours: int | None) -> datetime | None:
    return None if hours is None else START + timedelta(hours=hours)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """A log, contacts and the options of one funnel, events or stages read by entry."""
    log = draw(DRAWS.logs((*VOCAB, "other")))
    contacts = as_read(draw(DRAWS.contacts_tables))
    steps: Any
    definition: Funnel | None = None
    if draw(st.booleans()):
        steps = draw(
            st.lists(
                st.one_of(
                    st.sampled_from(VOCAB),
                    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2, unique=True),
                ),
                min_size=1,
                max_size=4,
            )
        )
    else:
        definition = draw(random_definitions(4, (timedelta(days=1), timedelta(days=10))))
        stages = list(definition.stages)
        if draw(st.booleans()):
            steps = definition
        else:  # some stages, maybe with an event step among them
            chosen = draw(st.lists(st.sampled_from(stages), min_size=1, max_size=3))
            steps = [*chosen, *draw(st.lists(st.sampled_from(VOCAB), max_size=1))]
    n = len(definition.stages) if steps is definition else len(steps)
    order = draw(st.sampled_from(["ordered", "strict_increase", "any"]))
    exclusions = []
    # none, one or two: per attempt under rules="funnelkit" without first_entry
    for _ in range(draw(st.integers(0, 2)) if order != "any" and n >= 2 else 0):
        a = draw(st.integers(1, n - 1))
        b = draw(st.integers(a + 1, n))
        excluded: Any = draw(st.sampled_from(VOCAB))
        if definition is not None and draw(st.booleans()):
            excluded = draw(st.sampled_from(list(definition.stages)))
        exclusions.append(Exclusion(excluded, a, b))
    since, until = (
        at(draw(st.one_of(st.none(), DRAWS.hours))),
        at(draw(st.one_of(st.none(), DRAWS.hours))),
    )
    if since is not None and until is not None and since >= until:
        since, until = until, since + timedelta(hours=1)
    by = draw(st.sampled_from([None, "channel", "segment"]))
    if by == "segment" and contacts is None:
        by = None
    ns = nw_spec(
        steps,
        draw(st.sampled_from(["1d", "3d", "10d", "30d"])),
        order,
        draw(st.booleans()),
        exclusions,
        definition=definition,
        rules=draw(st.sampled_from(["funnelkit", "clickhouse"])),
    )
    return {
        "log": log,
        "contacts": contacts,
        "ns": ns,
        "since": since,
        "until": until,
        "by": by,
        "steps": steps,
        "definition": definition,
    }


def chain_columns(ns: NwSpec, by: str | None) -> list[str]:
    times = [f"_t{j}" for j in range(1, ns.n + 1)]
    return ["contact_id", "_lvl", *times, "_excluded", *(["_seg_value"] if by else [])]


def on_the_core(case: dict[str, Any]) -> pl.DataFrame:
    """The core's chains on polars: what DuckDB and Spark run, on a polars frame."""
    ev = core_events(case["log"])
    people = core_contacts(case["contacts"], "polars")
    lo, hi = span_us(case["since"], case["until"])
    lf = counted_chains(ev, case["ns"], since=lo, until=hi, by=case["by"], contacts=people)
    out: pl.DataFrame = nw.to_native(lf).collect()
    return out.select(chain_columns(case["ns"], case["by"]))


def accelerated(case: dict[str, Any], mode: Any) -> pl.DataFrame:
    """The sort-key kernel's chains in one key mode (with the contact ids kept)."""
    spec = case["ns"].spec
    people = optional_contacts(case["contacts"])
    _, rows, by_column = read_steps(
        case["log"], spec, case["since"], case["until"], by=case["by"], contacts=people
    )
    chains = contact_chains(rows, spec, mode=mode, by=by_column, contacts=people, keep_id=True)
    out = chains.collect()
    assert not out["_collide"].any()
    assert out["_fits"].all()
    return out.select(chain_columns(case["ns"], case["by"]))


def normal(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("_lvl").cast(pl.Int64)).sort("contact_id")


@pytest.mark.slow
@SETTINGS
@given(case=cases())
def test_the_accelerator_gives_the_chains_of_the_core(case: dict[str, Any]) -> None:
    expected = normal(on_the_core(case))
    for mode in sort_key_modes(case["ns"].spec):
        assert_frame_equal(normal(accelerated(case, mode)), expected)


@pytest.mark.slow
@settings(SETTINGS, max_examples=25)
@given(case=cases())
def test_a_funnel_is_the_same_without_its_accelerator(case: dict[str, Any]) -> None:
    """The public funnel, through the accelerator and through the core on polars."""

    def run() -> conversion.FunnelResult:
        options = {
            "window": timedelta(microseconds=case["ns"].spec.window_us),
            "order": case["ns"].spec.order,
            "first_entry": case["ns"].spec.first_entry,
            "exclusions": case["ns"].exclusion_items,
            "since": case["since"],
            "until": case["until"],
            "by": case["by"],
            "min_size": 0,
            "definition": case["definition"],
            "rules": case["ns"].spec.rules,
        }
        return conversion.funnel(case["log"], case["steps"], contacts=case["contacts"], **options)

    fast = run()
    with pytest.MonkeyPatch.context() as patch:
        patch.delitem(accelerators.ACCELERATORS, ("chains", "polars"))
        assert accelerators.accelerator("chains", "polars") is None
        slow = run()
    same_funnel(fast, slow)


def decline(*args: object, **kwargs: object) -> None:
    """An accelerator that takes no spec."""


def test_an_accelerator_that_declines_leaves_the_spec_to_the_core() -> None:
    log = pl.DataFrame(
        {
            "contact_id": ["a", "a", "b"],
            "occurred_at": [START, START + timedelta(days=1), START],
            "event": ["e1", "e2", "e1"],
        }
    )
    ns = nw_spec(["e1", "e2"], "7d", "ordered", False, ())
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(
            accelerators.ACCELERATORS, ("chains", "polars"), "tests.test_core_chains:decline"
        )
        found = core.chains_of(log, ns, since=None, until=None)
    assert isinstance(found, core.CoreChains)
    rows = nw.to_native(found.frame()).collect().sort("contact_id")
    assert rows.select("contact_id", "_lvl").rows() == [("a", 2), ("b", 1)]
