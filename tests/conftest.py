"""Shared fixtures: small, hand-written event logs whose answers can be checked by eye."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

EventRow = tuple[Any, ...]
MakeEvents = Callable[..., pl.DataFrame]


def at(text: str) -> datetime:
    """Return the UTC instant written ``'2024-01-05'`` or ``'2024-01-05 10:30'``."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        schema={
            "contact_id": pl.String,
            "occurred_at": pl.Datetime("us", "UTC"),
            "event": pl.String,
            "amount": pl.Float64,
            "channel": pl.String,
        },
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
