"""The polars sort-key kernel of the chain rule (its rules are tested in test_conversion)."""

from __future__ import annotations

import datetime as dt
import doctest
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from funnelkit import chains, conversion
from funnelkit.core.accelerators import ACCELERATORS, accelerator
from funnelkit.steps import resolve_spec


def test_doctests() -> None:
    failures, tried = doctest.testmod(chains)
    assert tried > 0
    assert failures == 0


def test_the_polars_chains_are_the_registered_accelerator() -> None:
    assert ACCELERATORS[("chains", "polars")][-1] == "funnelkit.chains:sort_key_chains"
    assert accelerator("chains", "polars") is not None
    assert "funnel_chains" in conversion.__all__


def _random_log(
    seed: int, contacts: int, events: int, unit: dt.timedelta = dt.timedelta(hours=1)
) -> pl.DataFrame:
    """A log of ``events`` events of few names over ``contacts`` contacts (ties included).

    Times are whole ``unit``s over 400 hours: in days, many gaps are exactly a window.
    """
    rng = random.Random(seed)
    span = int(dt.timedelta(hours=400) / unit)
    names = ["a", "b", "c", "d", "e", "f", "other"]
    start = dt.datetime(2026, 1, 1)
    return pl.DataFrame(
        {
            "contact_id": [f"c{rng.randrange(contacts)}" for _ in range(events)],
            "occurred_at": [start + unit * rng.randrange(span) for _ in range(events)],
            "event": [rng.choice(names) for _ in range(events)],
        }
    )


@pytest.mark.parametrize("order", ["ordered", "strict_increase"])
@pytest.mark.parametrize("first_entry", [False, True])
@pytest.mark.parametrize("n", [2, 3, 5, 6])
@pytest.mark.parametrize("shape", [(150, 1500), (4, 600)])  # many contacts; few, long histories
def test_the_step_by_step_joins_give_the_cores_chains(
    order: str, first_entry: bool, n: int, shape: tuple[int, int]
) -> None:
    steps = ["a", "b", "c", "d", "e", "f"][:n]
    spec = resolve_spec(steps, "10d", order, first_entry, ())
    columns = ["contact_id", "_lvl", *(chains.step_time(j) for j in range(1, n + 1))]
    for seed in range(4):
        unit = dt.timedelta(days=1) if seed % 2 else dt.timedelta(hours=1)
        lf = _random_log(seed, *shape, unit=unit).lazy()
        got = chains.contact_chains(lf, spec, mode="packed", keep_id=True).collect()
        core = chains._core_contact_chains(lf, spec, mode="exact", by=None, keep_id=True)
        want = core.collect()
        assert got["_lvl"].max() == n or seed > 0 or first_entry  # deep chains are exercised
        assert_frame_equal(
            got.select(columns).sort("contact_id"),
            want.select(columns).sort("contact_id"),
            check_dtypes=False,
        )


def _counts(result: conversion.FunnelResult) -> list[int]:
    return [int(c) for c in result.table["count"]]


@pytest.mark.parametrize("shape", [(150, 1500), (4, 600)])
def test_a_later_funnel_on_a_log_in_memory_reads_the_sorted_rows_kept_by_the_first(
    shape: tuple[int, int],
) -> None:
    from funnelkit.events import read_events

    frame = _random_log(7, *shape)
    log = read_events(frame, hold="memory")
    cases = [
        (["a", "b", "c"], "10d", "ordered"),
        (["a", "b", "c"], "2d", "strict_increase"),  # the same sorted rows, another window
        (["a", "b", "c"], "5d", "consecutive"),
        (["b", "d", ["e", "f"]], "3d", "ordered"),  # other steps: sorted again, kept instead
        (["a", "b", "c"], "1d", "ordered"),
    ]
    for steps, window, order in cases:
        kept = dict(log.derived)
        got = conversion.funnel(log, steps, window=window, order=order)
        fresh = conversion.funnel(
            read_events(frame, hold="lazy"), steps, window=window, order=order
        )
        assert _counts(got) == _counts(fresh), (steps, window, order)
        assert got.table.equals(fresh.table)
        if order in ("ordered", "strict_increase"):  # the sort-key kernel ran: one frame kept
            assert len(log.derived) == 1
            if kept and list(kept) == list(log.derived):
                assert next(iter(kept.values())) is next(iter(log.derived.values()))  # read again
    since = conversion.funnel(log, ["a", "b"], window="3d", since="2026-01-05")
    fresh = read_events(frame, hold="lazy")
    assert since.table.equals(
        conversion.funnel(fresh, ["a", "b"], window="3d", since="2026-01-05").table
    )
    assert not fresh.derived  # a log read lazily keeps nothing
