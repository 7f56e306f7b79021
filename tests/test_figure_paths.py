"""The Sankey of drop-off paths: tested on its table and trace data, not pixels."""

from __future__ import annotations

import polars as pl
import pytest

from funnelkit.definitions import load_funnel
from funnelkit.figure_paths import paths_figure, paths_table
from funnelkit.figure_style import LEAK_COLOUR, NEUTRAL, Lang, stage_colour
from funnelkit.paths import DropOffPaths, drop_off_paths
from tests.conftest import events_frame

STEPS = ["visit", "<b>signup</b>", "purchase"]


def result() -> DropOffPaths:
    rows = [
        ("a", "2026-01-01 09:00", "visit"),
        ("a", "2026-01-01 10:00", "<b>signup</b>"),
        ("a", "2026-01-01 11:00", "<img src=x onerror=alert(1)>"),
        ("a", "2026-01-01 12:00", "like"),
        ("b", "2026-01-01 09:00", "visit"),
        ("b", "2026-01-01 10:00", "<b>signup</b>"),
        ("b", "2026-01-01 10:30", "pricing"),
        ("b", "2026-01-01 11:00", "purchase"),
        ("c", "2026-02-27 09:00", "visit"),
        ("c", "2026-02-27 10:00", "<b>signup</b>"),
    ]
    return drop_off_paths(
        events_frame(*rows), STEPS, window="7d", step=2, min_size=0, until="2026-03-01"
    )


def test_the_table_goes_from_step_k_to_outcomes_then_events() -> None:
    table = paths_table(result())
    first = table.filter(pl.col("position") == 0)
    assert first["target_label"].to_list() == [
        "went on to purchase",
        "stopped (window closed)",
        "not yet (window still open)",
    ]
    assert set(first["source_label"]) == {"<b>signup</b>"}  # raw here; the figure escapes
    dropped = table.filter(pl.col("group") == "dropped")
    assert dropped.select("position", "target_label", "contacts").rows() == [
        (0, "stopped (window closed)", 1),
        (1, "<img src=x onerror=alert(1)>", 1),
        (2, "like", 1),
    ]
    colours = dict(zip(table["group"], table["colour"], strict=False))
    assert colours == {"converted": stage_colour(3), "dropped": LEAK_COLOUR, "open": NEUTRAL}


def test_every_label_of_the_figure_is_escaped() -> None:
    figure = paths_figure(result(), title="<a href='x'>mine</a>")
    labels = figure.data[0].node.label
    assert "&lt;img src=x onerror=alert(1)&gt;" in labels
    assert "&lt;b&gt;signup&lt;/b&gt;" in labels
    assert not any("<" in label for label in labels)
    assert figure.layout.title.text == "&lt;a href='x'&gt;mine&lt;/a&gt;"
    default = paths_figure(result()).layout.title.text
    assert default == "After &lt;b&gt;signup&lt;/b&gt;: what contacts did next"


def test_links_join_the_nodes_of_one_outcome() -> None:
    figure = paths_figure(result())
    sankey = figure.data[0]
    labels = sankey.node.label
    pairs = {
        (labels[s], labels[t], v)
        for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value, strict=True)
    }
    assert ("stopped (window closed)", "&lt;img src=x onerror=alert(1)&gt;", 1) in pairs
    assert ("went on to purchase", "pricing", 1) in pairs
    assert ("not yet (window still open)", "(no further event)", 1) in pairs


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Warm lead", "stopped (window closed)"]),
        ("fr", ["Lead chaud", "arrêtés (fenêtre close)"]),
    ],
)
def test_stage_labels_and_words_follow_the_language(lang: Lang, words: list[str]) -> None:
    inbound = load_funnel("inbound")
    events = events_frame(
        ("a", "2026-01-01 09:00", "page_view"),
        ("a", "2026-01-01 09:30", "like"),
        ("a", "2026-01-01 10:00", "ebook_download"),
        ("a", "2026-01-02 10:00", "page_view"),
    )
    paths = drop_off_paths(
        events, inbound, window="7d", step="warm_lead", min_size=0, until="2026-03-01"
    )
    labels = paths_figure(paths, funnel=inbound, lang=lang).data[0].node.label
    assert all(word in labels for word in words)
