"""Hypothesis strategies shared by the property tests: random logs, contacts, definitions.

Each test module fixes its own time span and value sets (``Draws``), so the
stages tests and the engine tests draw what they did, from one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from hypothesis import strategies as st

from funnelkit.definitions import EventRule, Filter, Funnel, Lapse, PointsRule, Stage
from tests.conftest import events_frame

VOCAB = ("e1", "e2", "e3", "e4")
CONTACT_IDS = ("a", "b", "c", "d")

filters = st.sampled_from(
    [
        (),
        (Filter("amount", ">", 0),),
        (Filter("channel", "in", ("social",)),),
        (Filter("channel", "!=", "ads"),),
        (Filter("amount", "<=", 0), Filter("channel", "not in", ("social",))),
    ]
)
event_rules = st.builds(
    EventRule,
    events=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3, unique=True).map(tuple),
    min_count=st.integers(1, 3),
    where=filters,
)
points_rules = st.builds(
    PointsRule,
    points=st.dictionaries(
        st.sampled_from(VOCAB), st.sampled_from([0.5, 1, 2, 3]), min_size=1, max_size=3
    ),
    threshold=st.sampled_from([1, 2.5, 3, 5]),
    half_life=st.sampled_from([None, timedelta(hours=1), timedelta(days=1), timedelta(days=30)]),
    where=filters,
)


@dataclass(frozen=True)
class Draws:
    """Strategies over ``days`` days from ``start`` (hours, whole days more often)."""

    start: datetime
    days: int
    amounts: Sequence[float | None] = (None, 0.0, 5.0)
    extra_contacts: Sequence[str] = ("x",)
    log_size: int = 30

    def day(self, n: float) -> datetime:
        return self.start + timedelta(days=n)

    @property
    def hours(self) -> st.SearchStrategy[int]:
        return st.one_of(
            st.integers(0, self.days * 24), st.integers(0, self.days).map(lambda n: n * 24)
        )

    def logs(
        self, vocab: tuple[str, ...], max_size: int | None = None
    ) -> st.SearchStrategy[pl.DataFrame]:
        row = st.tuples(
            st.sampled_from(CONTACT_IDS),
            self.hours,
            st.sampled_from(vocab),
            st.sampled_from(list(self.amounts)),
            st.sampled_from([None, "social", "ads"]),
        )
        return st.lists(row, max_size=self.log_size if max_size is None else max_size).map(
            lambda rows: events_frame(
                *[(c, self.day(h / 24).isoformat(), e, a, ch) for c, h, e, a, ch in rows]
            )
        )

    @property
    def contacts_tables(self) -> st.SearchStrategy[pl.DataFrame | None]:
        ids = st.sampled_from((*CONTACT_IDS, *self.extra_contacts))
        return st.one_of(
            st.none(),
            st.lists(st.tuples(ids, st.one_of(st.none(), self.hours)), max_size=5).map(
                lambda rows: pl.DataFrame(
                    {
                        "contact_id": [c for c, _ in rows],
                        "created_at": [None if h is None else self.day(h / 24) for _, h in rows],
                    },
                    schema={"contact_id": pl.String, "created_at": pl.Datetime("us", "UTC")},
                )
            ),
        )

    @property
    def as_ofs(self) -> st.SearchStrategy[datetime | None]:
        return st.one_of(st.none(), self.hours.map(lambda h: self.day(h / 24)))


def definitions(
    max_stages: int,
    lapses: Sequence[timedelta],
    rules: st.SearchStrategy[EventRule | PointsRule] | None = None,
) -> st.SearchStrategy[Funnel]:
    """Random definitions of 2 to ``max_stages`` stages (events, points, filters, lapsing).

    Each stage after the first holds one or two ``rules`` (by default events or
    points rules) and may lapse, after one of ``lapses``, to an earlier stage.
    """
    drawn_rules = st.one_of(event_rules, points_rules) if rules is None else rules

    @st.composite
    def draw_one(draw: st.DrawFn) -> Funnel:
        n = draw(st.integers(2, max_stages))
        built = [Stage("s1")]
        for k in range(2, n + 1):
            conditions = draw(st.lists(drawn_rules, min_size=1, max_size=2))
            lapse = None
            if draw(st.booleans()):
                after = draw(st.sampled_from(list(lapses)))
                lapse = Lapse(after, f"s{draw(st.integers(1, k - 1))}")
            built.append(Stage(f"s{k}", conditions=tuple(conditions), lapse=lapse))
        return Funnel("random", tuple(built))

    return draw_one()
