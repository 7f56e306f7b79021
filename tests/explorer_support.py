"""What the explorer's tests share: the sample, random logs, the numbers to match.

The test modules import the ``log`` and ``contacts`` fixtures (the sample's
events and contacts, read once per module); ruff is told about
them (F401 on the import, F811 on each test parameter that names them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from funnelkit import read_contacts, read_events
from funnelkit.definitions import load_funnel
from funnelkit.errors import ParameterError
from funnelkit.explorer import Explorer
from tests.conftest import CANONICAL_SCHEMA

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    """The sample's events, validated."""
    return read_events(SAMPLE / "events.csv").collect()


@pytest.fixture(scope="module")
def contacts() -> pl.DataFrame:
    """The sample's contacts, validated."""
    return read_contacts(SAMPLE / "contacts.csv").collect()


def direct(app: Explorer, events: pl.DataFrame, contacts: pl.DataFrame | None) -> tuple[Any, Any]:
    """Return the funnel and week-over-week of the explorer's settings, computed directly."""
    from datetime import UTC, datetime

    from funnelkit.conversion import funnel, week_over_week

    since, until = app._bounds()
    latest = app.weeks.value[1]
    settings: dict[str, Any] = {
        "window": app.window.value,
        "order": app.order.value,
        "stage_steps": app.reading.value,
        "contacts": contacts,
        "until": until,
    }
    definition = load_funnel(app.definition.value)
    result = funnel(
        events,
        definition,
        by=app.breakdown.value or None,
        since=since,
        min_size=app.min_contacts,
        **settings,
    )
    try:
        current = datetime(latest.year, latest.month, latest.day, tzinfo=UTC)
        comparison = week_over_week(events, definition, current=current, **settings)
    except ParameterError:
        comparison = None
    return result, comparison


def same_numbers(app: Explorer, events: pl.DataFrame, contacts: pl.DataFrame | None) -> None:
    result, comparison = direct(app, events, contacts)
    assert app.result is not None
    assert app.result.table.equals(result.table)
    assert app.result.time_to_convert.summary.equals(result.time_to_convert.summary)
    if result.breakdown is None:
        assert app.result.breakdown is None
    else:
        assert app.result.breakdown is not None and app.result.breakdown.equals(result.breakdown)
    key = (app._definition_key, *app._reading, app.weeks.value[1], app._bounds()[1])
    kept = app._comparisons[key]
    if comparison is None:
        assert kept is None
    else:
        assert kept is not None and kept.table.equals(comparison.table)


def random_log(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Draw a small log with ties, both presets' events and a breakdown with gaps."""
    import random
    from datetime import UTC, datetime, timedelta

    rng = random.Random(seed)
    names = sorted(load_funnel("inbound").event_names | load_funnel("sales").event_names)
    names += ["page_view"] * 6  # the commonest event, as in real logs
    start = datetime(2026, 8, 3, tzinfo=UTC)  # a Monday
    ids = [f"c{i:03d}" for i in range(160)]
    rows = []
    for contact in ids[:150]:  # the last ten have no event
        first = rng.randrange(0, 10 * 24)
        for _ in range(rng.randint(1, 12)):
            hours = first + rng.choice((0, 0, 1, rng.randrange(0, 24 * 20)))
            rows.append(
                (
                    contact,
                    start + timedelta(hours=hours),
                    rng.choice(names),
                    rng.choice((None, 10.0, 250.0)),
                    rng.choice(("ads", "search", "partner", None)),
                )
            )
    events = pl.DataFrame(rows, schema=CANONICAL_SCHEMA, orient="row")
    people = pl.DataFrame(
        {
            "contact_id": ids,
            "created_at": [start + timedelta(days=rng.randrange(0, 70)) for _ in ids],
            "tier": [rng.choice(("gold", "silver")) for _ in ids],
        },
        schema_overrides={"created_at": pl.Datetime("us", "UTC")},
    )
    return events, people
