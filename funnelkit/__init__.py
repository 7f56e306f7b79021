"""funnelkit: prospects, leads and clients as explicit, editable funnel definitions.

The computation lives in small modules (``events``, ``definitions``, ``stages``,
``conversion``, ``stats``); the most used functions are re-exported here.
``funnelkit.explore`` (the notebook explorer) and the figures are imported on
first use, so ``import funnelkit`` stays light for scripts.

Examples
--------
>>> import funnelkit as fk
>>> fk.list_presets()
('inbound', 'sales')
"""

from __future__ import annotations

from typing import Any

import funnelkit.engines  # noqa: F401  (registers the DuckDB and Spark implementations)
from funnelkit.conversion import (
    cohorts,
    compare_periods,
    conversion_over_time,
    funnel,
    week_over_week,
)
from funnelkit.definitions import Funnel, Stage, list_presets, load_funnel, save_funnel
from funnelkit.drivers import drivers
from funnelkit.errors import FunnelkitError
from funnelkit.events import (
    ContactTable,
    EventLog,
    SetAsideSummary,
    as_lazy,
    read_contacts,
    read_events,
)
from funnelkit.paths import drop_off_paths
from funnelkit.stages import classify, compare, explain, flows, snapshot
from funnelkit.stats import two_proportion_test, wilson_interval

__all__ = [
    "ContactTable",
    "EventLog",
    "Funnel",
    "FunnelkitError",
    "SetAsideSummary",
    "Stage",
    "as_lazy",
    "classify",
    "cohorts",
    "compare",
    "compare_periods",
    "conversion_over_time",
    "drivers",
    "drop_off_paths",
    "explain",
    "explore",
    "flows",
    "funnel",
    "list_presets",
    "load_funnel",
    "read_contacts",
    "read_events",
    "save_funnel",
    "snapshot",
    "two_proportion_test",
    "week_over_week",
    "wilson_interval",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import the notebook explorer on first use (it loads ipywidgets and plotly)."""
    if name == "explore":
        from funnelkit.explorer import explore

        return explore
    msg = f"module 'funnelkit' has no attribute {name!r}"
    raise AttributeError(msg)
