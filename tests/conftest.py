"""Shared fixtures: small, hand-written event logs whose answers can be checked by eye."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests import engines

EventRow = tuple[Any, ...]
MakeEvents = Callable[..., pl.DataFrame]


def at(text: str) -> datetime:
    """Return the UTC instant written ``'2024-01-05'`` or ``'2024-01-05 10:30'``."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: The columns of a canonical test log: the required three, an amount and a channel.
CANONICAL_SCHEMA = {
    "contact_id": pl.String,
    "occurred_at": pl.Datetime("us", "UTC"),
    "event": pl.String,
    "amount": pl.Float64,
    "channel": pl.String,
}


def events_frame(*rows: EventRow) -> pl.DataFrame:
    """Build a canonical events frame from ``(contact, time, event[, amount[, channel]])`` rows.

    ``time`` is text for :func:`at`; ``amount`` and ``channel`` default to null.
    """
    full = [(*row, None, None)[:5] for row in rows]
    return pl.DataFrame(
        {
            "contact_id": [r[0] for r in full],
            "occurred_at": [at(r[1]) for r in full],
            "event": [r[2] for r in full],
            "amount": [r[3] for r in full],
            "channel": [r[4] for r in full],
        },
        schema=CANONICAL_SCHEMA,
    )


@pytest.fixture
def make_events() -> MakeEvents:
    """Return :func:`events_frame`: rows ``(contact, time, event[, amount[, channel]])``."""
    return events_frame


def digest(folder: Path) -> dict[str, str]:
    """Return every file under ``folder`` with the hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(autouse=True, scope="session")
def _validated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the validated copies the tests' reads write out of the user's cache folder."""
    import os

    os.environ["FUNNELKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("validated-cache"))


# --- the same events on every engine (see tests/engines.py) ------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "on_spark: run this test's `engine` cases on Spark too (slow to start)"
    )
    config.addinivalue_line(
        "markers", "engine_marks(*marks): marks for this test's DuckDB and Spark cases only"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give every test asking for ``engine`` the polars and DuckDB cases (and Spark if marked)."""
    if "engine" in metafunc.fixturenames:
        marks = metafunc.definition.get_closest_marker("engine_marks")
        params = engines.engine_params(
            spark=metafunc.definition.get_closest_marker("on_spark") is not None,
            marks=() if marks is None else marks.args,
        )
        metafunc.parametrize("engine", params, indirect=True)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadgroup``, send every Spark test to one worker: one session per run."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return engines.spark_together(config, log)


@pytest.fixture(scope="session")
def duckdb_con() -> Iterator[Any]:
    """One in-memory DuckDB connection for the run, in a session time zone that is not UTC."""
    yield from engines.duckdb_connection()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the run (about 20 s to start); skipped without Java."""
    yield from engines.spark_session()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> engines.Engine:
    """Turn a polars frame of events (or contacts) into the same data on one engine.

    Parametrized over polars and DuckDB for every test that asks for it, and
    Spark for the tests marked ``on_spark`` (:mod:`tests.engines`).
    """
    name = request.param
    if name == "duckdb":
        return engines.duckdb_engine(request.getfixturevalue("duckdb_con"))
    if name == "spark":
        return engines.spark_engine(request.getfixturevalue("spark"))
    return engines.polars_engine()
