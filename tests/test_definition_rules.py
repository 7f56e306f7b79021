"""The rules of a stage, in their own module: examples run, names reach funnelkit.definitions."""

from __future__ import annotations

import doctest

import funnelkit.definition_rules as definition_rules
import funnelkit.definitions as definitions
from funnelkit.definitions import load_funnel


def test_docstring_examples() -> None:
    # Stage.evidence's example reads a preset, which funnelkit.definitions loads.
    extra = {"load_funnel": load_funnel}
    result = doctest.testmod(definition_rules, optionflags=doctest.ELLIPSIS, extraglobs=extra)
    assert result.failed == 0 and result.attempted > 10


def test_every_public_rule_name_is_the_same_object_in_definitions() -> None:
    names = [name for name in definition_rules.__all__ if name in definitions.__all__]
    assert {"Filter", "EventRule", "PointsRule", "Lapse", "Stage", "MAX_STAGES"} <= set(names)
    assert [n for n in names if getattr(definitions, n) is not getattr(definition_rules, n)] == []
