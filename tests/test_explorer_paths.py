"""The explorer's drop-off paths view, driven from Python as a user would tick it."""

from __future__ import annotations

import html

import polars as pl
import pytest

from funnelkit.explorer import Explorer, explore
from funnelkit.paths import drop_off_paths
from tests.conftest import events_frame
from tests.explorer_support import contacts, log  # noqa: F401 (fixtures)


@pytest.fixture
def app(log: pl.DataFrame, contacts: pl.DataFrame) -> Explorer:
    return explore(log, contacts)


def test_the_paths_view_is_off_until_ticked(app: Explorer) -> None:
    assert app.paths.value is False
    assert app._paths_box.layout.display == "none"
    assert app.paths_table.value == ""
    assert app.paths in app.widget.children


def test_ticking_it_shows_the_paths_after_the_biggest_leak(app: Explorer) -> None:
    app.paths.value = True
    assert app._paths_box.layout.display is None
    assert "went on to Ambassador" in app.paths_table.value
    sankey = app.paths_figure.data[0]
    assert sankey.type == "sankey"
    expected = drop_off_paths(
        app._events,
        app._funnel(),
        window="14d",
        contacts=app._contacts,
        since=app._bounds()[0],
        until=app._bounds()[1],
        min_size=app.min_contacts,
    )
    from_step = [v for s, v in zip(sankey.link.source, sankey.link.value, strict=True) if s == 0]
    assert sum(from_step) == expected.groups["contacts"].sum() == 169


def test_the_paths_view_follows_the_controls_and_the_language(app: Explorer) -> None:
    app.paths.value = True
    app.lang.value = "fr"
    assert app.paths.description == "Parcours après l'arrêt"
    assert "passés à" in str(app.paths_figure.data[0].node.label)
    table = html.unescape(app.paths_table.value)
    assert "passés à" in table and "médiane" in table and "went on" not in table
    assert "(plus aucun événement)" in table or "(autre)" in table
    app.order.value = "any"
    said = html.unescape(app.paths_table.value).replace("\u00a0", " ")
    assert "l'ordre « ordre libre » n'a pas d'« après l'étape k »" in said
    app.lang.value = "en"
    assert "order: &#x27;any&#x27; has no &#x27;after step k&#x27;" in app.paths_table.value


def test_event_names_are_escaped_in_the_paths_view() -> None:
    rows = []
    for i in range(40):
        rows += [(f"c{i}", "2026-01-05 09:00", "page_view"), (f"c{i}", "2026-01-05 10:00", "like")]
        rows.append((f"c{i}", "2026-01-05 11:00", "<img src=x onerror=alert(1)>"))
    app = explore(events_frame(*rows))
    app.paths.value = True
    assert "<img" not in app.paths_table.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in app.paths_table.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in app.paths_figure.data[0].node.label
