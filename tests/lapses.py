"""Chained inactivity rules shared by the stages and engine tests (not a test module).

:data:`THREE_LAPSES` chains three lapses, with the stages of a small log worked
out by hand; :func:`chained` builds a chain of any length, and
:func:`grows_linearly` tells whether a plan grows by the same amount per lapse.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from funnelkit.definitions import EventRule, Funnel, Lapse, Stage
from tests.conftest import at, events_frame


def day(n: float) -> datetime:
    return at("2024-01-01") + timedelta(days=n)


# s0 <- s1 <- s2 <- s3: s3 lapses to s2 after 10 days, s2 (sooner) to s1 after 5, s1 after 30.
THREE_LAPSES = Funnel(
    "three_lapses",
    (
        Stage("s0"),
        Stage("s1", conditions=(EventRule(("like",)),), lapse=Lapse(timedelta(days=30), "s0")),
        Stage("s2", conditions=(EventRule(("form_fill",)),), lapse=Lapse(timedelta(days=5), "s1")),
        Stage("s3", conditions=(EventRule(("purchase",)),), lapse=Lapse(timedelta(days=10), "s2")),
    ),
)
THREE_LAPSES_LOG = events_frame(
    ("a", day(0).isoformat(), "purchase"),  # s3, idle from day 0
    ("b", day(0).isoformat(), "form_fill"),  # s2, idle from day 0
    ("c", day(0).isoformat(), "purchase"),  # s3, active again on day 8
    ("c", day(8).isoformat(), "like"),
    ("e", day(0).isoformat(), "mystery_event"),  # known, never active: never lapses
)
THREE_LAPSES_STAGES = {
    4: ("s3", "s2", "s3", "s0"),
    5: ("s3", "s1", "s3", "s0"),  # b: 5 idle days reach s2's 5, not s1's 30
    10: ("s1", "s1", "s3", "s0"),  # a: past s3's 10 and s2's 5, stops at s1 (30)
    30: ("s0", "s0", "s1", "s0"),  # c: 22 idle days pass s3 and s2, not s1
    38: ("s0", "s0", "s0", "s0"),
}
"""Stages of contacts a, b, c and e as of day 4, 5, 10, 30 and 38."""
THREE_LAPSES_FLOWS = [("s0", "s0", 1), ("s2", "s0", 1), ("s3", "s0", 1), ("s3", "s1", 1)]
"""``from_stage``, ``to_stage``, ``contacts`` from day 4 to day 30."""


def chained(lapses: int) -> Funnel:
    """``s0`` then ``lapses`` stages, each lapsing to the one before it after ``rank`` days."""
    stages = [Stage("s0")]
    for k in range(1, lapses + 1):
        lapse = Lapse(timedelta(days=k), f"s{k - 1}")
        stages.append(Stage(f"s{k}", conditions=(EventRule((f"e{k}",)),), lapse=lapse))
    return Funnel(f"chain_{lapses}", tuple(stages))


def grows_linearly(size: dict[int, int]) -> bool:
    """Whether sizes at 4, 8 and 16 lapses grow by about as much per lapse (not doubling)."""
    return size[16] - size[8] <= 3 * (size[8] - size[4])
