"""The polars sort-key kernel of the chain rule (its rules are tested in test_conversion)."""

from __future__ import annotations

import doctest

from funnelkit import chains, conversion
from funnelkit.core.accelerators import ACCELERATORS, accelerator


def test_doctests() -> None:
    failures, tried = doctest.testmod(chains)
    assert tried > 0
    assert failures == 0


def test_the_polars_chains_are_the_registered_accelerator() -> None:
    assert ACCELERATORS[("chains", "polars")][-1] == "funnelkit.chains:sort_key_chains"
    assert accelerator("chains", "polars") is not None
    assert "funnel_chains" in conversion.__all__
