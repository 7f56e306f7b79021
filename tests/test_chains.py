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


def _random_log(seed: int, contacts: int, events: int) -> pl.DataFrame:
    """A log of ``events`` events of few names over ``contacts`` contacts (ties included)."""
    rng = random.Random(seed)
    names = ["a", "b", "c", "d", "e", "f", "other"]
    start = dt.datetime(2026, 1, 1)
    return pl.DataFrame(
        {
            "contact_id": [f"c{rng.randrange(contacts)}" for _ in range(events)],
            "occurred_at": [start + dt.timedelta(hours=rng.randrange(400)) for _ in range(events)],
            "event": [rng.choice(names) for _ in range(events)],
        }
    )


@pytest.mark.parametrize("order", ["ordered", "strict_increase"])
@pytest.mark.parametrize("n", [3, 4, 5, 6])
@pytest.mark.parametrize("shape", [(150, 1500), (4, 600)])  # many contacts; few, long histories
def test_one_pass_and_two_pass_levels_give_the_same_chains(
    order: str, n: int, shape: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = ["a", "b", "c", "d", "e", "f"][:n]
    spec = resolve_spec(steps, "10d", order, False, ())
    for seed in range(3):
        lf = _random_log(seed, *shape).lazy()
        found = []
        for one_pass in (n, n - 1):  # the chain times along with the levels, or after
            monkeypatch.setattr(chains, "_ONE_PASS_STEPS", one_pass)
            got = chains.contact_chains(lf, spec, mode="exact", keep_id=True).collect()
            found.append(got.drop("_k").sort("contact_id"))
        assert found[0].height > 0
        assert found[1]["_lvl"].max() >= 3  # the second pass ran on some contacts
        assert_frame_equal(found[0], found[1])
