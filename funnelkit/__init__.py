"""funnelkit: prospects, leads and clients as explicit, editable funnel definitions."""

from __future__ import annotations

from funnelkit.errors import FunnelkitError
from funnelkit.events import (
    ContactTable,
    EventLog,
    SetAsideSummary,
    as_lazy,
    read_contacts,
    read_events,
)

__all__ = [
    "ContactTable",
    "EventLog",
    "FunnelkitError",
    "SetAsideSummary",
    "as_lazy",
    "read_contacts",
    "read_events",
]
__version__ = "0.1.0"
