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

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from funnelkit.explorer import explore
    from funnelkit.paths import drop_off_paths
    from funnelkit.stages import classify, compare, explain, flows, snapshot
    from funnelkit.stats import two_proportion_test, wilson_interval

#: Where each name of the package is defined; it is imported on first use, so that
#: ``import funnelkit`` (and the command line's ``--help``) loads no engine, plotly
#: or ipywidgets.
_HOMES = {
    "cohorts": "conversion",
    "compare_periods": "conversion",
    "conversion_over_time": "conversion",
    "funnel": "conversion",
    "week_over_week": "conversion",
    "Funnel": "definitions",
    "Stage": "definitions",
    "list_presets": "definitions",
    "load_funnel": "definitions",
    "save_funnel": "definitions",
    "drivers": "drivers",
    "FunnelkitError": "errors",
    "ContactTable": "events",
    "EventLog": "events",
    "SetAsideSummary": "events",
    "as_lazy": "events",
    "read_contacts": "events",
    "read_events": "events",
    "explore": "explorer",
    "drop_off_paths": "paths",
    "classify": "stages",
    "compare": "stages",
    "explain": "stages",
    "flows": "stages",
    "snapshot": "stages",
    "two_proportion_test": "stats",
    "wilson_interval": "stats",
}

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
    """Import a name of the package, or a submodule (``fk.engines``), on first use."""
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(f"funnelkit.{home}"), name)
        globals()[name] = value  # found here directly from now on
        return value
    if name.startswith("__"):  # asked by tools (``__wrapped__``...): no such submodule
        msg = f"module 'funnelkit' has no attribute {name!r}"
        raise AttributeError(msg)
    try:
        return importlib.import_module(f"funnelkit.{name}")  # sets itself here
    except ModuleNotFoundError as exc:
        if exc.name != f"funnelkit.{name}":
            raise  # the submodule exists but needs a package that is missing
    msg = f"module 'funnelkit' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    """List the package's names, those not imported yet included."""
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package's module: ``funnelkit.drivers`` stays the function, as it always was.

    Importing a submodule sets it as an attribute of the package; the one
    submodule named like a function exported here (``drivers``) must not hide
    that function when some other module imports it first.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
