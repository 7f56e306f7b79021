"""A Parquet file read whole is classified by DuckDB, alike (the classify accelerator).

:func:`funnelkit.classify_files.classify_parquet` runs the core's plan on DuckDB over
the file and brings the rows back in batches; the result equals the polars path's
(the same frame given in memory, which the accelerator declines) on random logs,
definitions of "any of these events" rules with filters and lapses, contacts tables
and ``as_of``: the rows, the stage Enum, the column order and the types.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import funnelkit.classify_files as classify_files
from funnelkit.classify_files import parquet_file
from funnelkit.definitions import EventRule, Funnel, Stage, load_funnel
from funnelkit.errors import DataError
from funnelkit.events import read_events
from funnelkit.stages import classify
from tests.conftest import events_frame
from tests.strategies import VOCAB, Draws, definitions, filters

DRAWS = Draws(datetime(2026, 7, 6, tzinfo=UTC), 90)
SALES = load_funnel("sales")
ROUTED = "classify on DuckDB"

simple_rules = st.builds(
    EventRule,
    events=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3, unique=True).map(tuple),
    where=filters,
)


#: Definitions of 2 to 5 stages of "any of these events" rules, filters and lapses.
simple_definitions = definitions(5, [timedelta(hours=1), timedelta(days=5)], rules=simple_rules)


@pytest.fixture(autouse=True)
def any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of any size go to DuckDB here (by default, more than ``MIN_ROWS`` events)."""
    monkeypatch.setattr(classify_files, "MIN_ROWS", -1)


@pytest.fixture
def spill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The folder DuckDB's temporary folders are made in; empty again after each query."""
    folder = tmp_path / "spill"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert not os.listdir(folder)


def written(frame: pl.DataFrame, folder: Path) -> Path:
    path = folder / "events.parquet"
    frame.write_parquet(path)
    return path


def test_a_parquet_file_is_classified_by_duckdb_alike(tmp_path: Path, spill: Path) -> None:
    """A scan of the file and a log held on disk go to DuckDB; the result is the polars one."""
    log = events_frame(
        ("a", "2024-01-01", "form_fill"),
        ("a", "2024-01-03", "meeting"),
        ("b", "2024-01-02", "page_view"),
        ("c", "2024-01-04", "purchase", 12.5),
        ("c", "2024-01-05", "purchase", 0.0),
    )
    path = written(log, tmp_path)
    on_disk = read_events(path, hold="disk", cache_dir=tmp_path / "cache")
    assert on_disk.held == "disk"
    for entry_times in (True, False):
        expected = classify(log, SALES, entry_times=entry_times)
        assert ROUTED not in expected.explain()
        for source in (pl.scan_parquet(path), on_disk):
            got = classify(source, SALES, entry_times=entry_times)
            assert ROUTED in got.explain()
            assert got.collect_schema() == expected.collect_schema()
            assert_frame_equal(
                got.collect().sort("contact_id"), expected.collect().sort("contact_id")
            )


def test_the_result_stays_lazy_and_takes_polars_steps(tmp_path: Path, spill: Path) -> None:
    """Nothing runs before collecting; a selection, a filter and a head apply to the batches."""
    log = events_frame(*[(f"c{i:03d}", "2024-01-01", "form_fill") for i in range(300)])
    path = written(log, tmp_path)
    got = classify(pl.scan_parquet(path), SALES)
    log.head(20).write_parquet(path)  # the rows are read when the result is collected
    assert got.collect().height == 20
    top = got.filter(pl.col("contact_id") < "c010").select("contact_id", "stage").collect()
    assert top.sort("contact_id").rows() == [(f"c{i:03d}", "lead") for i in range(10)]
    assert got.head(7).collect().height == 7


def test_other_inputs_and_definitions_stay_on_polars(
    tmp_path: Path, spill: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filtered or sliced scan, a frame, text amounts, points rules, partitions, a small file."""
    log = events_frame(("a", "2024-01-01", "form_fill"), ("b", "2024-01-02", "purchase", 3.0))
    path = written(log, tmp_path)
    texts = tmp_path / "texts.parquet"
    log.with_columns(pl.col("amount").cast(pl.String)).write_parquet(texts)
    scan = pl.scan_parquet(path)
    assert parquet_file(scan) == str(path)
    assert parquet_file(scan.select("contact_id", "occurred_at", "event", "amount")) == str(path)
    for declined in (
        scan.filter(pl.col("event") != "x"),
        scan.head(1),
        pl.scan_parquet(path, n_rows=1),
        scan.with_row_index(),
        pl.scan_parquet(tmp_path / "*.parquet"),
        pl.scan_parquet([path, path]),
        log.lazy(),
    ):
        assert parquet_file(declined) is None
    cases = [
        (log, SALES, {}),
        (pl.scan_parquet(texts), SALES, {}),
        (scan, load_funnel("inbound"), {}),
        (scan, SALES, {"partitions": 2}),
        (scan, SALES, {"partitions": 1}),
    ]
    for events, funnel, options in cases:
        assert ROUTED not in classify(events, funnel, **options).explain()  # type: ignore[arg-type]
    assert ROUTED in classify(scan, SALES).explain()
    monkeypatch.setattr(classify_files, "MIN_ROWS", log.height)  # more rows than that only
    assert ROUTED not in classify(scan, SALES).explain()
    assert classify(pl.scan_parquet(texts), SALES).collect().height == 2


def test_a_small_memory_limit_spills_and_gives_the_same_rows(
    tmp_path: Path, spill: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB spills into a folder of its own, removed after the query (the ``spill`` check)."""
    monkeypatch.setattr(classify_files, "MEMORY_LIMIT", 32 * 2**20)
    monkeypatch.setattr(classify_files, "BATCH_ROWS", 1000)
    rows = [
        (f"c{i % 20_000:05d}", f"2024-01-{1 + i % 28:02d}", VOCAB[i % 4]) for i in range(60_000)
    ]
    log = events_frame(*rows)
    path = written(log, tmp_path)
    funnel = Funnel(
        "spill",
        (
            Stage("s1"),
            Stage("s2", conditions=(EventRule(("e2", "e3")),)),
            Stage("s3", conditions=(EventRule(("e4",)),)),
        ),
    )
    got = classify(pl.scan_parquet(path), funnel).collect()
    assert got.n_chunks() > 1
    assert_frame_equal(got.sort("contact_id"), classify(log, funnel).collect().sort("contact_id"))


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    log=DRAWS.logs((*VOCAB, "other")),
    funnel=simple_definitions,
    contacts=DRAWS.contacts_tables,
    as_of=DRAWS.as_ofs,
    entry_times=st.booleans(),
)
def test_duckdb_classification_of_a_file_equals_polars(
    tmp_path: Path,
    spill: Path,
    log: pl.DataFrame,
    funnel: Funnel,
    contacts: pl.DataFrame | None,
    as_of: datetime | None,
    entry_times: bool,
) -> None:
    path = written(log, tmp_path)
    options = {"as_of": as_of, "entry_times": entry_times, "contacts": contacts}
    got = classify(pl.scan_parquet(path), funnel, **options)  # type: ignore[arg-type]
    expected = classify(log, funnel, **options)  # type: ignore[arg-type]
    assert ROUTED in got.explain()
    assert_frame_equal(got.collect().sort("contact_id"), expected.collect().sort("contact_id"))


def test_a_file_duckdb_cannot_read_is_named_with_a_way_out(tmp_path: Path, spill: Path) -> None:
    log = events_frame(("a", "2024-01-01", "form_fill"))
    path = written(log, tmp_path)
    got = classify(pl.scan_parquet(path), SALES)
    path.write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match=r"events.parquet: DuckDB could not classify .*partitions="):
        got.collect()
