"""The explorer and the exercise, driven from Python as a user would drive their widgets."""

from __future__ import annotations

import html
import statistics
import time
from pathlib import Path

import ipywidgets as widgets
import polars as pl
import pytest

from funnelkit import read_contacts, read_events
from funnelkit.definitions import load_funnel, save_funnel
from funnelkit.errors import ParameterError
from funnelkit.explorer import FILE, MIN_CONTACTS, Explorer, exercise, explore, place_journey
from funnelkit.figures import LEAK_COLOUR, stage_colour
from tests.conftest import events_frame

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    return read_events(SAMPLE / "events.csv").collect()


@pytest.fixture(scope="module")
def contacts() -> pl.DataFrame:
    return read_contacts(SAMPLE / "contacts.csv").collect()


@pytest.fixture
def app(log: pl.DataFrame, contacts: pl.DataFrame) -> Explorer:
    return explore(log, contacts)


def _counts(app: Explorer) -> list[int]:
    return list(app.figure.data[0].x)


def test_the_explorer_opens_on_the_inbound_funnel(app: Explorer) -> None:
    trace = app.figure.data[0]
    assert trace.type == "funnel"
    assert list(trace.y) == ["Prospect", "Cold lead", "Warm lead", "Client", "Ambassador"]
    assert list(trace.marker.color) == [stage_colour(r) for r in range(1, 6)]
    assert _counts(app) == app.result.table["count"].to_list()  # type: ignore[union-attr]
    assert "Biggest leak" in app.summary.value and "Week over week" in app.summary.value
    assert "<table>" in app.table.value


def test_a_shorter_window_converts_fewer_contacts(app: Explorer) -> None:
    wide = _counts(app)
    app.window.value = "1d"
    narrow = _counts(app)
    assert narrow[0] == wide[0]
    assert sum(narrow[2:]) < sum(wide[2:])


def test_the_order_rule_changes_the_counts(app: Explorer) -> None:
    app.window.value = "7d"
    ordered = _counts(app)
    # by entry, a skipped stage is entered at the instant of the next: one instant
    # serves consecutive steps in order, not in strictly increasing times
    app.order.value = "strict_increase"
    assert _counts(app) != ordered
    assert app.result is not None and app.result.order == "strict_increase"


def test_reading_stages_by_entry_gives_the_counts_of_classify(app: Explorer) -> None:
    from funnelkit.conversion import funnel

    entry = _counts(app)  # the default reading
    assert app.result is not None and app.result.stage_steps == "entry"
    since, until = app._bounds()
    expected = funnel(
        app._events,
        load_funnel("inbound"),
        window=app.window.value,
        stage_steps="entry",
        contacts=app._contacts,
        since=since,
        until=until,
    )
    assert entry == expected.table["count"].to_list()
    app.reading.value = "evidence"
    evidence = _counts(app)
    assert app.result is not None and app.result.stage_steps == "evidence"
    assert entry[1] < evidence[1]  # one page view is no cold lead
    app.reading.value = "entry"
    app.lang.value = "fr"
    assert app.reading.description == "Stades par" and _counts(app) == entry


def test_by_entry_the_counts_do_not_depend_on_the_breakdown(app: Explorer) -> None:
    # Read by entry (the default), the classification reads the contacts table whatever
    # the breakdown: a contact created in the weeks shown enters the first stage.
    assert app.result is not None
    alone = app.result.table["count"].to_list()
    for by in ("segment", "channel"):
        app.breakdown.value = by
        assert app.result is not None and app.result.table["count"].to_list() == alone, by


def test_fewer_weeks_means_fewer_entrants(app: Explorer) -> None:
    everything = _counts(app)[0]
    last = len(app.weeks.options) - 1
    app.weeks.index = (last - 3, last)
    assert 0 < _counts(app)[0] < everything


def test_a_breakdown_turns_the_funnel_into_bars_per_stage(app: Explorer) -> None:
    app.breakdown.value = "channel"
    assert {t.type for t in app.figure.data} == {"bar"}
    assert [t.name for t in app.figure.data] == ["Cold lead", "Warm lead", "Client", "Ambassador"]
    # contacts created without any event enter the first stage with no channel
    assert set(app.figure.data[0].x) == {
        "(none)",
        "organic_search",
        "social",
        "paid_ads",
        "trade_show",
        "referral",
        "newsletter",
    }
    assert "<th>channel</th>" in app.table.value
    app.breakdown.value = None
    assert app.figure.data[0].type == "funnel"


def test_a_contact_attribute_is_a_breakdown_too(app: Explorer) -> None:
    options = [value for _, value in app.breakdown.options]
    assert "segment" in options and "email" not in options and "name" not in options
    app.breakdown.value = "segment"
    assert set(app.figure.data[0].x) == {"b2b", "b2c"}


def test_french_relabels_the_figure_and_the_controls(app: Explorer) -> None:
    app.lang.value = "fr"
    assert list(app.figure.data[0].y)[1:3] == ["Lead froid", "Lead chaud"]
    assert app.window.description == "Fenêtre"
    assert "Plus grosse fuite" in app.summary.value


def test_another_preset_redraws_its_own_stages(app: Explorer) -> None:
    app.definition.value = "sales"
    assert list(app.figure.data[0].y) == [
        "Raw contact",
        "Lead",
        "Prospect",
        "Qualified prospect",
        "Client",
    ]


def test_a_definition_file_can_be_explored(app: Explorer, tmp_path: Path) -> None:
    path = save_funnel(load_funnel("sales"), tmp_path / "ours.toml")
    app.definition.value = FILE
    assert app.path.layout.display is None  # the path box shows up
    app.path.value = str(path)
    assert app.figure.data[0].y[0] == "Raw contact"
    assert app.result is not None


def test_a_missing_file_is_said_in_the_title_and_the_summary(app: Explorer) -> None:
    app.definition.value = FILE
    app.path.value = "no/such/funnel.toml"
    assert app.result is None
    assert len(app.figure.data) == 0
    assert "no such funnel definition file" in app.figure.layout.title.text
    assert LEAK_COLOUR in app.summary.value


def test_a_too_small_selection_says_so_in_the_title() -> None:
    rows = [(f"c{i}", "2026-11-02 10:00", "like") for i in range(MIN_CONTACTS - 1)]
    app = explore(events_frame(*rows))
    assert app.figure.layout.title.text.startswith("Too few contacts to show: 29")
    assert len(app.figure.data) == 0
    app.lang.value = "fr"
    assert app.figure.layout.title.text.startswith("Trop peu de contacts")


def test_the_figure_is_updated_in_place(app: Explorer) -> None:
    figure = app.figure
    app.window.value = "3d"
    app.breakdown.value = "channel"
    assert app.figure is figure
    if isinstance(app._figure_view, widgets.Output):  # without anywidget: one drawing, replaced
        assert len(app._figure_view.outputs) == 1
        assert "application/vnd.plotly.v1+json" in app._figure_view.outputs[0]["data"]


def test_the_explorer_displays_as_a_widget(app: Explorer) -> None:
    bundle = app._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_empty_events_are_refused() -> None:
    empty = events_frame(("a", "2026-11-02 10:00", "like")).head(0)
    with pytest.raises(ParameterError, match="the events are empty"):
        Explorer(empty)


def test_an_update_on_the_sample_is_well_under_a_second(app: Explorer) -> None:
    timings = []
    for window in ("3d", "7d", "14d", "30d", "7d"):
        started = time.perf_counter()
        app.window.value = window
        timings.append(time.perf_counter() - started)
    app.breakdown.value = "channel"
    timings.append(app.last_update_seconds)
    median = statistics.median(timings)
    slowest = max(timings)
    print(
        f"explorer update on the sample: median {median * 1e3:.0f} ms, max {slowest * 1e3:.0f} ms"
    )
    assert median < 1.0


# --------------------------------------------------------------------------- exercise
def test_place_journey_puts_a_badge_scan_and_a_meeting_in_both_orders() -> None:
    placed = place_journey(["badge_scan", "meeting"])
    assert placed.select("funnel", "stage", "stage_rank", "stages").rows() == [
        ("inbound", "warm_lead", 3, 5),
        ("sales", "qualified_prospect", 4, 5),
    ]


def test_a_walk_in_buyer_is_a_client_in_both_orders() -> None:
    placed = place_journey(["purchase"], lang="fr")
    assert placed["stage"].to_list() == ["client", "client"]
    assert placed["label"].to_list() == ["Client", "Client"]


def test_an_empty_journey_is_no_contact_yet() -> None:
    placed = place_journey([])
    assert placed["stage"].to_list() == [None, None]


def test_a_lone_page_view_is_a_prospect_inbound_and_a_raw_contact_in_sales() -> None:
    assert place_journey(["page_view"])["stage"].to_list() == ["prospect", "raw_contact"]


def test_the_exercise_answers_as_the_journey_is_typed() -> None:
    ex = exercise(["page_view"])
    assert ex.placed is not None and ex.placed["stage"].to_list() == ["prospect", "raw_contact"]
    ex.journey.value = ["page_view", "page_view", "ebook_download"]
    assert ex.placed["stage"].to_list() == ["warm_lead", "lead"]
    assert "inbound: Warm lead" in ex.answer.value and "sales: Lead" in ex.answer.value
    ex.lang.value = "fr"
    assert "inbound: Lead chaud" in ex.answer.value
    ex.journey.value = []
    assert "pas encore un contact" in ex.answer.value


def test_the_exercise_spacing_matters_for_scores_that_fade() -> None:
    ex = exercise(["page_view", "page_view"])
    assert ex.placed is not None and ex.placed["stage"][0] == "cold_lead"  # two views in a day
    ex.every.value = 60  # two views 60 days apart: the first has faded
    assert ex.placed["stage"][0] == "prospect"


def test_the_exercise_offers_the_definitions_events() -> None:
    ex = exercise()
    assert {"purchase", "badge_scan", "like"} <= set(ex.entry.options)
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()


def _widgets_in(widget: widgets.Widget) -> list[widgets.Widget]:
    children = getattr(widget, "children", ())
    return [widget, *(w for child in children for w in _widgets_in(child))]


def test_the_exercise_has_a_visible_text_box_sent_on_enter_and_no_tags_input() -> None:
    ex = exercise()
    shown = _widgets_in(ex.widget)
    assert not any(isinstance(w, widgets.TagsInput) for w in shown)
    assert ex.entry in shown and ex.add in shown
    assert ex.entry.continuous_update is False  # the browser sends the text on Enter
    assert ex.every.style.description_width == "initial"  # "Jours entre deux…" is not cut


def test_typing_an_event_and_enter_adds_it_and_empties_the_box() -> None:
    ex = exercise(["badge_scan"])
    ex.entry.value = "meeting"  # what Enter sends
    assert ex.journey.value == ["badge_scan", "meeting"]
    assert ex.entry.value == ""
    assert ex.placed is not None and ex.placed["stage"].to_list() == [
        "warm_lead",
        "qualified_prospect",
    ]
    assert "2. meeting" in ex.events.value
    ex.entry.value = "meeting"  # the same event twice is two events
    assert ex.journey.value == ["badge_scan", "meeting", "meeting"]


def test_the_add_button_adds_the_typed_event() -> None:
    ex = exercise([])
    ex.entry.value = " purchase "
    assert ex.journey.value == ["purchase"]
    ex.entry.value = ""
    ex.add.click()  # an empty box adds nothing
    assert ex.journey.value == ["purchase"]
    ex.remove.click()
    assert ex.journey.value == [] and ex.remove.disabled and ex.clear.disabled


def test_an_unknown_event_is_refused_with_the_closest_names_and_stays_in_the_box() -> None:
    ex = exercise(["page_view"])
    ex.entry.value = "meetign"
    assert ex.journey.value == ["page_view"]
    assert ex.entry.value == "meetign"  # left there to be corrected
    assert "'meetign' is not an event the definitions know" in html.unescape(ex.message.value)
    assert "Closest known names: meeting" in ex.message.value
    ex.lang.value = "fr"
    assert "« meetign » n'est pas un événement" in html.unescape(ex.message.value)
    assert "Noms connus les plus proches : meeting" in ex.message.value
    ex.entry.value = "meeting"  # corrected
    assert ex.journey.value == ["page_view", "meeting"] and ex.message.value == ""


def test_an_event_far_from_every_name_is_refused_with_the_known_names() -> None:
    ex = exercise(["page_view"])
    assert not ex.add_event("zzzz")
    assert "Known events: " in ex.message.value and "purchase" in ex.message.value


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_word_of_the_exercise_follows_its_language(lang: str) -> None:
    ex = exercise(["page_view"], lang="fr" if lang == "fr" else "en")
    ex.add_event("pageview")
    shown = " ".join(
        [
            ex.title.value,
            ex.entry.placeholder,
            ex.add.description,
            ex.remove.description,
            ex.clear.description,
            ex.every.description,
            ex.message.value,
            ex.events.value,
            ex.answer.value,
        ]
    )
    english = ("Events, in order", "Add", "Remove", "Clear", "Days", "Closest", "known", "then")
    french = ("Événements", "Ajouter", "Retirer", "Tout effacer", "Jours", "proches", "Entrée")
    assert all(word in shown for word in (french if lang == "fr" else english))
    assert not any(word in shown for word in (english if lang == "fr" else french))


def test_explore_is_exported_at_the_top_level_after_submodule_imports() -> None:
    import funnelkit
    import funnelkit.explorer

    assert funnelkit.explore is funnelkit.explorer.explore
    assert callable(funnelkit.explore)


def test_a_column_whose_big_segment_is_a_shared_inbox_is_not_offered(
    log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    # The inbox holds 3% of the contacts, at the end: under the sampled share, yet a segment.
    inbox = pl.int_range(pl.len()) >= pl.len() * 97 // 100
    people = contacts.with_columns(
        desk=pl.when(inbox).then(pl.lit("accueil@mairie.fr")).otherwise(pl.col("segment"))
    )
    options = [value for _, value in explore(log, people).breakdown.options]
    assert "segment" in options and "desk" not in options
