"""funnelkit: prospects, leads and clients as explicit, editable funnel definitions."""

from __future__ import annotations

from funnelkit.errors import FunnelkitError
from funnelkit.events import EventLog, as_lazy

__all__ = ["EventLog", "FunnelkitError", "as_lazy"]
__version__ = "0.1.0"
