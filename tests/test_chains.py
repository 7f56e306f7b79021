"""The polars sort-key kernel of the chain rule (its rules are tested in test_conversion)."""

from __future__ import annotations

import doctest

from funnelkit import chains, conversion


def test_doctests() -> None:
    failures, tried = doctest.testmod(chains)
    assert tried > 0
    assert failures == 0


def test_the_per_contact_chains_are_conversion_s() -> None:
    assert conversion.funnel_chains is chains.funnel_chains
    assert "funnel_chains" in conversion.__all__
