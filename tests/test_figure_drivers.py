"""The drivers figure: drawn from its table, helps green, hurts red, log axis, escaped texts."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from funnelkit.drivers import DriversResult, drivers
from funnelkit.errors import ParameterError
from funnelkit.figure_drivers import HELPS_COLOUR, HURTS_COLOUR, drivers_figure, drivers_table
from funnelkit.figure_style import NEUTRAL
from tests.planted import STEPS, WINDOW, planted_log


@pytest.fixture(scope="module")
def result() -> DriversResult:
    events, contacts = planted_log()
    return drivers(events, STEPS, window=WINDOW, contacts=contacts)


def test_the_table_keeps_the_tested_signals_in_order_with_their_colours(
    result: DriversResult,
) -> None:
    table = drivers_table(result, top=5)
    assert table.height == 5
    assert table["label"].to_list()[:3] == [
        "did complaint",
        "did webinar",
        "channel = partner (step event)",
    ]
    assert table["colour"].to_list()[:4] == [HURTS_COLOUR, HELPS_COLOUR, HELPS_COLOUR, NEUTRAL]
    assert "rare_event" not in set(drivers_table(result, top=100)["name"])  # too few: not drawn


def test_the_figure_draws_odds_ratios_and_intervals_on_a_log_axis(result: DriversResult) -> None:
    table = drivers_table(result, top=4)
    fig = drivers_figure(result, top=4)
    trace = fig.data[0]
    assert fig.layout.xaxis.type == "log"
    assert list(trace.y) == table["label"].reverse().to_list()  # strongest on top
    assert list(trace.x) == table["odds_ratio"].reverse().to_list()
    upper = (table["ci_high"] - table["odds_ratio"]).reverse().to_list()
    assert list(trace.error_x.array) == pytest.approx(upper)
    assert any(a.text == "helps →" for a in fig.layout.annotations)
    assert "signup → purchase" in fig.layout.title.text


def test_french_words(result: DriversResult) -> None:
    table = drivers_table(result, lang="fr", top=3)
    assert table["label"].to_list()[0] == "a fait complaint"
    assert table["verdict"].to_list()[:2] == ["freine", "aide"]
    fig = drivers_figure(result, lang="fr")
    assert fig.layout.title.text.startswith("Pourquoi les contacts s'arrêtent à signup")
    assert "Rapport des cotes" in fig.layout.xaxis.title.text


def test_names_from_the_data_are_escaped_when_drawn() -> None:
    day = dt.datetime(2026, 9, 1)
    rows = [(f"c{i}", day, "visit") for i in range(80)]
    rows += [(f"c{i}", day + dt.timedelta(hours=1), "<b>bold</b>") for i in range(0, 80, 2)]
    rows += [(f"c{i}", day + dt.timedelta(hours=2), "signup") for i in range(0, 80, 2)]
    log = pl.DataFrame(rows, schema=["contact_id", "occurred_at", "event"], orient="row")
    result = drivers(log, ["visit", "signup"], window="1d", until="2026-10-01")
    assert drivers_table(result)["label"].item() == "did <b>bold</b>"  # the table keeps raw text
    fig = drivers_figure(result)
    assert list(fig.data[0].y) == ["did &lt;b&gt;bold&lt;/b&gt;"]
    hover = fig.data[0].hovertext[0]
    assert "<b>" not in hover and hover.startswith("did &lt;b&gt;bold&lt;/b&gt;<br>")


def test_no_signal_tested_draws_a_note(result: DriversResult) -> None:
    empty = drivers(planted_log()[0], STEPS, window=WINDOW, min_size=100_000)
    fig = drivers_figure(empty)
    assert not fig.data
    assert fig.layout.annotations[0].text == "No signal tested (too few contacts)"
    with pytest.raises(ParameterError, match=r"top: expected a whole number >= 1"):
        drivers_table(result, top=0)
