"""The names of the columns funnelkit reads, and the segments it writes, defined once.

Every module spells a required column through these constants, so a rename
is one edit; the user's own names are mapped onto them when data is read
(``read_events(..., columns={"user_id": "contact_id"})``).
"""

from __future__ import annotations

__all__ = ["CONTACT_ID", "CREATED_AT", "EVENT", "NO_VALUE", "OCCURRED_AT", "OTHERS", "REQUIRED"]

CONTACT_ID = "contact_id"
OCCURRED_AT = "occurred_at"
EVENT = "event"
CREATED_AT = "created_at"
#: The columns every event log must have.
REQUIRED = (CONTACT_ID, OCCURRED_AT, EVENT)
#: The segment of a breakdown's contacts with no value (shown "(not set)" in figures).
NO_VALUE = "(none)"
#: The segment of a breakdown's values beyond ``top`` (shown "Other" in figures).
OTHERS = "Other"
