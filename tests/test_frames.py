"""Engine detection: a DuckDB relation or a Spark DataFrame told from a polars frame."""

from __future__ import annotations

import doctest

import duckdb
import polars as pl

from funnelkit import frames
from funnelkit.events import read_events


def test_doctests() -> None:
    failures, tried = doctest.testmod(frames)
    assert tried > 0
    assert failures == 0


def test_engine_of_tells_the_frames_apart() -> None:
    frame = pl.DataFrame({"contact_id": ["a"]})
    assert frames.engine_of(frame) is None
    assert frames.engine_of(frame.lazy()) is None
    assert (
        frames.engine_of(
            read_events(frame.with_columns(occurred_at=pl.lit("2026-01-01"), event=pl.lit("x")))
        )
        is None
    )
    relation = duckdb.sql("SELECT 'a' AS contact_id")
    assert frames.engine_of(relation) == "duckdb"
    assert frames.is_engine_frame(relation)
    assert not frames.is_engine_frame(frame)


def test_no_registry_of_engine_implementations_is_left() -> None:
    """Every analysis is written once: nothing registers, nothing asks (no dead registry)."""
    assert frames.__all__ == ["Engine", "engine_of", "is_engine_frame"]
    assert not hasattr(frames, "register")
    assert not hasattr(frames, "on_engine")
