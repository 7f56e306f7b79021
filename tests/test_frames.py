"""Engine detection and the one registry the analyses hand engine frames to."""

from __future__ import annotations

import doctest

import duckdb
import polars as pl
import pytest

from funnelkit import frames
from funnelkit.errors import ParameterError
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


@pytest.mark.parametrize("analysis", ["funnel", "classify", "flows", "weekly_metrics"])
def test_the_analyses_written_once_have_no_engine_implementation_of_their_own(
    analysis: str,
) -> None:
    with pytest.raises(ParameterError, match=f"{analysis} does not run on DuckDB"):
        frames.on_engine(analysis, object)


def test_an_analysis_without_an_engine_implementation_says_what_to_do() -> None:
    with pytest.raises(ParameterError, match=r"explain does not run on DuckDB.*relation\.pl\(\)"):
        frames.on_engine("explain", object)
