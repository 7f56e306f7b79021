"""Conversion per period and period comparisons stay reachable from funnelkit.conversion.

:mod:`funnelkit.trends` builds on the chains and the result objects, below
:mod:`funnelkit.conversion`, which re-exports its functions; the engines'
code is not imported (DuckDB and Spark frames go through :mod:`funnelkit.frames`).
"""

from __future__ import annotations

import pytest

import funnelkit.conversion as conversion
import funnelkit.trends as trends
from tests.test_results import imported


@pytest.mark.parametrize("name", trends.__all__)
def test_every_trend_function_is_the_same_object_in_conversion(name: str) -> None:
    assert name in conversion.__all__
    assert getattr(conversion, name) is getattr(trends, name)


def test_trends_sit_below_conversion_and_import_no_engine_code() -> None:
    assert "funnelkit.trends" in imported("conversion")
    assert imported("trends") & {"funnelkit.conversion", "funnelkit.engines"} == set()
