"""Result objects print on one line: settings, and tables by their shape (funnelkit.reprs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import funnelkit as fk
from funnelkit.reprs import MAX_VALUE_CHARS, brief_repr


@dataclass(frozen=True)
class Result:
    table: pl.DataFrame
    window: timedelta
    when: datetime | None
    names: tuple[str, ...]
    text: str
    plan: pl.LazyFrame
    hidden: pl.DataFrame | None = field(default=None, repr=False)

    __repr__ = brief_repr


def test_each_kind_of_field_is_written_short() -> None:
    one = pl.DataFrame({"step": ["a"], "contacts": [10]})
    result = Result(
        table=one,
        window=timedelta(days=14),
        when=datetime(2026, 11, 22, 8, tzinfo=UTC),
        names=tuple(f"stage number {i}" for i in range(10)),
        text="x" * 200,
        plan=one.lazy(),
        hidden=one,
    )
    shown = repr(result)
    assert shown.startswith("Result(table=<1 row x 2 columns>, window=2w, ")
    assert "when=2026-11-22 08:00:00 UTC" in shown
    assert "names=('stage number 0', 'stage number 1', 'stage number 2', … 10 in all)" in shown
    assert f"text='{'x' * (MAX_VALUE_CHARS - 2)}…" in shown
    assert "plan=<lazy frame>" in shown
    assert "hidden" not in shown  # repr=False stays out


def test_a_single_item_too_long_is_counted_not_cut() -> None:
    result = Result(pl.DataFrame(), timedelta(0), None, ("y" * 100,), "", pl.LazyFrame())
    assert "names=(… 1 in all)" in repr(result)
    assert "table=<0 rows x 0 columns>" in repr(result)


@pytest.fixture(scope="module")
def log() -> fk.EventLog:
    return fk.read_events("data/sample/events.csv")


def test_every_result_of_the_sample_prints_on_one_line(log: fk.EventLog) -> None:
    inbound, sales = fk.load_funnel("inbound"), fk.load_funnel("sales")
    contact = fk.classify(log, inbound).collect().get_column("contact_id")[0]
    results = [
        fk.funnel(log, ["page_view", "ebook_download", "purchase"], window="14d"),
        fk.drivers(log, inbound, window="30d"),
        fk.drop_off_paths(log, inbound, window="30d"),
        fk.flows(log, inbound, start="2026-09-01", end="2026-11-01"),
        fk.compare(log, inbound, sales),
        fk.explain(log, inbound, contact),
        fk.conversion_over_time(log, ["page_view", "purchase"], window="14d", period="month"),
    ]
    for result in results:
        shown = repr(result)
        assert "\n" not in shown
        assert shown.startswith(type(result).__name__ + "(")
        assert " x " in shown and "shape:" not in shown  # tables by their shape, not dumped
        assert len(shown) < 600
