"""The explorer and the exercise, driven from Python as a user would drive their widgets."""

from __future__ import annotations

import copy
import html
import math
import re
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import polars as pl
import pytest

from funnelkit.definitions import load_funnel, save_funnel
from funnelkit.errors import ParameterError
from funnelkit.explorer import (
    FILE,
    MIN_CONTACTS,
    NO_BREAKDOWN,
    Explorer,
    exercise,
    explore,
    place_journey,
)
from funnelkit.figures import LEAK_COLOUR, stage_colour
from tests.conftest import events_frame
from tests.explorer_support import contacts, log, random_log, same_numbers  # noqa: F401 (fixtures)
from tests.french import BAD_DEFINITIONS, hovers, not_french


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
    assert "<table" in app.table.value


def test_a_shorter_window_converts_fewer_contacts(app: Explorer) -> None:
    wide = _counts(app)
    app.window.value = "1d"
    narrow = _counts(app)
    assert narrow[0] == wide[0]
    assert sum(narrow[2:]) < sum(wide[2:])


def test_going_back_to_a_setting_or_changing_the_language_computes_nothing_again(
    app: Explorer,
) -> None:
    first, wide = app.result, _counts(app)
    summary = app.summary.value
    app.window.value = "1d"
    assert app.result is not first and _counts(app) != wide
    app.window.value = "14d"
    assert app.result is first and _counts(app) == wide and app.summary.value == summary
    app.lang.value = "fr"
    assert app.result is first and _counts(app) == wide
    assert list(app.figure.data[0].y)[1] == "Lead froid"
    assert "Plus grosse fuite" in app.summary.value and "tape 1)" in app.summary.value
    assert 0 < app.last_figure_seconds <= app.last_update_seconds


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
    by_evidence = funnel(
        app._events,
        load_funnel("inbound"),
        window=app.window.value,
        stage_steps="evidence",
        contacts=app._contacts,
        since=since,
        until=until,
    )
    assert evidence == by_evidence.table["count"].to_list() and evidence != entry
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
        "(not set)",
        "organic_search",
        "social",
        "paid_ads",
        "trade_show",
        "referral",
        "newsletter",
    }
    assert ">channel</th>" in app.table.value
    app.breakdown.value = NO_BREAKDOWN
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
    # "initial" let the row squeeze the label to "Jours entre deux…": a width of its own
    for lang in ("en", "fr"):
        ex.lang.value = lang
        width = float(ex.every.style.description_width.removesuffix("em"))
        assert width >= 0.6 * len(ex.every.description) + 1, lang
        assert float(ex.every.layout.width.removesuffix("em")) >= width + 15, lang  # a track


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


def test_an_error_in_the_exercise_is_said_in_its_language(tmp_path: Path) -> None:
    path = tmp_path / "where.toml"
    path.write_text(
        'name = "w"\n[[stages]]\nid = "a"\n[[stages]]\nid = "b"\nevents = ["like"]\n'
        "where = \"channel == 'ads'\"\n"
    )
    ex = exercise(["like"], funnels=["inbound", str(path)], lang="fr")
    said = html.unescape(ex.answer.value).replace("\u00a0", " ")
    assert "les événements n'ont pas de colonne 'channel'" in said and ex.placed is None
    ex.lang.value = "en"
    assert "the events have no column 'channel'" in html.unescape(ex.answer.value)


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


# --------------------------------------------------------------------------- clean redraws
class FrontEnd:
    """The layout a browser's plotly holds, rebuilt from the messages a FigureWidget sends.

    ``Plotly.relayout`` sets the keys it is given (dotted paths, ``annotations[0].y``) and
    removes those given as ``null``; a key it is not given stays as it was drawn.
    """

    def __init__(self, figure: Any) -> None:
        if not hasattr(figure, "_py2js_relayout"):
            pytest.skip("the figure is no FigureWidget here (anywidget is missing)")
        self.layout: dict[str, Any] = copy.deepcopy(figure.layout.to_plotly_json())
        figure.observe(self._relayout, names="_py2js_relayout")
        figure.observe(self._update, names="_py2js_update")

    def _relayout(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._apply(change["new"]["relayout_data"])

    def _update(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._apply(change["new"]["layout_data"])

    def _apply(self, edits: dict[str, Any]) -> None:
        for path, value in edits.items():
            keys: list[str | int] = []
            for part in path.split("."):
                name, *indexes = part.replace("]", "").split("[")
                keys += [name, *(int(i) for i in indexes)]
            where: Any = self.layout
            for key in keys[:-1]:
                if isinstance(where, dict):
                    where = where.setdefault(key, {})
                else:
                    where = where[key]
            if value is None:
                if isinstance(where, dict):
                    where.pop(keys[-1], None)
            else:
                where[keys[-1]] = copy.deepcopy(value)


def _coordinates_are_drawable(layout: dict[str, Any], figure: Any) -> list[str]:
    """Return what the browser could not place: NaN, None or a category no trace has."""
    categories = {
        axis: {str(v) for t in figure.data for v in (getattr(t, axis, None) or ())}
        for axis in ("x", "y")
    }
    wrong = []
    for kind, coordinates in (("annotations", ("x", "y")), ("shapes", ("x0", "x1", "y0", "y1"))):
        for index, item in enumerate(layout.get(kind, [])):
            for name in coordinates:
                value = item.get(name)
                ref = item.get(f"{name[0]}ref", name[0])
                if name not in item or ref in ("paper",) or str(ref).endswith("domain"):
                    if isinstance(value, float) and math.isnan(value):
                        wrong.append(f"{kind}[{index}].{name} = NaN")
                    continue
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    wrong.append(f"{kind}[{index}].{name} = {value}")
                elif isinstance(value, str) and value not in categories[name[0]]:
                    wrong.append(f"{kind}[{index}].{name} = {value!r}, not on the axis")
    return wrong


def _bad_definitions(folder: Path) -> list[Path]:
    paths = []
    for name, content in BAD_DEFINITIONS.items():
        path = folder / f"{name.replace(' ', '_')}.toml"
        path.write_text(content)
        paths.append(path)
    (folder / "a_folder.toml").mkdir(exist_ok=True)
    return [*paths, folder / "a_folder.toml"]


def _error_views(app: Explorer, lang: str, bad: list[Path]) -> Iterator[str]:
    """Show each error the explorer can meet: bad definition files, paths of "any order"."""
    app.definition.value = FILE
    for path in bad:
        app.path.value = str(path)
        yield f"{lang} {path.stem}"
    app.definition.value = "inbound"
    app.paths.value = True
    yield f"{lang} paths"
    app.order.value = "any"
    yield f"{lang} paths of any order"
    app.order.value = "ordered"
    app.paths.value = False


def _views(app: Explorer, bad: list[Path] | None = None) -> Iterator[str]:
    """Drive the explorer through every kind of view; yield a name after each redraw."""
    yield "opened"
    for lang in ("fr", "en"):
        app.lang.value = lang
        for by in [v for _, v in app.breakdown.options if v] + [NO_BREAKDOWN]:
            app.breakdown.value = by
            yield f"{lang} by {by}"
        for reading in ("evidence", "entry"):
            app.reading.value = reading
            yield f"{lang} {reading}"
        app.definition.value = "sales"
        yield f"{lang} sales"
        app.definition.value = FILE
        app.path.value = "no/such/funnel.toml"
        yield f"{lang} a missing file"
        app.definition.value = "inbound"
        yield f"{lang} inbound again"
        app.breakdown.value = "channel"
        app.weeks.index = (0, 0)
        yield f"{lang} too few by channel"
        app.breakdown.value = NO_BREAKDOWN
        yield f"{lang} too few"
        app.weeks.index = (0, len(app.weeks.options) - 1)
        yield f"{lang} all weeks"
        if bad is not None:
            yield from _error_views(app, lang, bad)


def test_every_redraw_starts_clean_in_the_browser(app: Explorer) -> None:
    browser = FrontEnd(app.figure)
    app.breakdown.value = "channel"
    # the biggest-leak marker of the funnel is gone from the bar chart
    assert browser.layout.get("annotations", []) == []
    for view in _views(app):
        drawn = app.figure.layout.to_plotly_json()
        assert browser.layout == drawn, view
        assert _coordinates_are_drawable(browser.layout, app.figure) == [], view


def test_an_error_empties_the_chart_and_shows_the_message(app: Explorer) -> None:
    browser = FrontEnd(app.figure)
    app.definition.value = FILE
    app.path.value = "no/such/funnel.toml"
    assert len(app.figure.data) == 0
    assert "no such funnel definition file" in browser.layout["title"]["text"]
    assert "annotations" not in browser.layout and "shapes" not in browser.layout
    assert browser.layout["yaxis"] == {"visible": False}


def test_the_figure_takes_the_width_of_its_cell(app: Explorer) -> None:
    for by in ("channel", NO_BREAKDOWN):
        app.breakdown.value = by
        assert app.figure.layout.autosize is True and app.figure.layout.width is None
    if hasattr(app.figure, "_config"):
        assert app.figure._config["responsive"] is True


# --------------------------------------------------------------------------- week over week
def test_week_over_week_compares_the_latest_selected_week_with_the_one_before(
    app: Explorer,
) -> None:
    from datetime import UTC, datetime

    from funnelkit.conversion import week_over_week

    last = len(app.weeks.options) - 1
    app.weeks.index = (last - 8, last - 6)  # three weeks, well before the data's end
    first, latest = app.weeks.value
    _, until = app._bounds()
    line = app.summary.value.split("Week over week</b>: ")[1]
    previous = latest.toordinal() - 7
    names = [
        f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}"
        for d in (date.fromordinal(previous), latest)
    ]
    assert line.startswith(f"{names[0]} → {names[1]}")  # oldest first, the latest selected
    expected = week_over_week(
        app._events,
        load_funnel("inbound"),
        window=app.window.value,
        contacts=app._contacts,
        current=datetime(latest.year, latest.month, latest.day, tzinfo=UTC),
        until=until,
    )
    usable = expected.table.filter(pl.col("rate") == "from_first", pl.col("verdict") != "too few")
    row = usable.row(usable.height - 1, named=True)
    rates = f"{100 * row['previous_rate']:.1f}% → {100 * row['current_rate']:.1f}%"
    assert rates in line  # the rates read oldest first too, as week_over_week gives them
    assert f"{row['name']} (of step 1)" in line


# --------------------------------------------------------------------- contacts without events
def test_the_explorer_counts_what_the_notebook_counts_and_says_who_has_no_events(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    from funnelkit.conversion import funnel

    # the notebook's section 2: the same log, definition, window and contacts
    notebook = funnel(log, load_funnel("inbound"), window="14d", contacts=contacts)
    assert _counts(app) == notebook.table["count"].to_list()
    without = funnel(log, load_funnel("inbound"), window="14d").table["count"][0]
    silent = _counts(app)[0] - without
    assert silent == 244
    (note,) = [a for a in app.figure.layout.annotations if a.name == "note"]
    assert "244 contacts with no events" in note.text and "Prospect" in note.text
    app.lang.value = "fr"
    (note,) = [a for a in app.figure.layout.annotations if a.name == "note"]
    assert "244 contacts sans événement" in note.text
    app.reading.value = "evidence"  # by evidence, contacts without events are not counted
    assert [a for a in app.figure.layout.annotations if a.name == "note"] == []


def test_a_contact_with_no_value_of_the_breakdown_is_not_set_counted_and_explained(
    app: Explorer,
) -> None:
    app.breakdown.value = "channel"
    axis = app.figure.layout.xaxis
    ticks = dict(zip(axis.tickvals, axis.ticktext, strict=True))
    assert ticks["(not set)"] == "(not set)<br>n = 244"
    assert "(not set): no channel value when they entered Prospect" in axis.title.text
    assert "244 contacts with no events" in axis.title.text
    app.lang.value = "fr"
    axis = app.figure.layout.xaxis
    assert "(non renseigné)" in app.figure.data[0].x
    assert "(non renseigné) : pas de valeur de channel" in axis.title.text


# --------------------------------------------------------------------------- controls
def test_no_breakdown_reads_as_a_dash_word_not_a_blank(app: Explorer) -> None:
    assert app.breakdown.value == NO_BREAKDOWN and app.breakdown.label == "— none —"
    app.lang.value = "fr"
    assert app.breakdown.label == "— aucune —" and app.breakdown.value == NO_BREAKDOWN
    app.breakdown.value = "channel"
    app.lang.value = "en"
    assert app.breakdown.value == "channel"  # relabelling keeps the choice


def test_the_table_headers_name_each_share(app: Explorer) -> None:
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", app.table.value)
    assert heads == ["Stage", "Contacts", "Share of previous step", "Share of step 1"]
    app.lang.value = "fr"
    heads = [html.unescape(h) for h in re.findall(r"<th[^>]*>([^<]*)</th>", app.table.value)]
    assert heads == ["Stade", "Contacts", "Part de l'étape précédente", "Part de l'étape 1"]
    assert "<td style='padding:3px 14px 3px 0;text-align:right;" in app.table.value
    assert ">5\u202f000</td>" in app.table.value  # a French thousands separator


def test_the_toggles_are_compact_with_their_label_inline(app: Explorer) -> None:
    for toggle in (app.order, app.reading, app.lang):
        assert toggle.style.button_width == "auto"
        assert toggle.style.description_width == "initial"


def test_any_order_read_by_entry_says_it_counts_as_in_order(app: Explorer) -> None:
    app.window.value = "7d"
    ordered = _counts(app)
    assert app.note.value == ""
    app.order.value = "any"
    assert _counts(app) == ordered  # the same counts, and the explorer says why
    assert "counts here as “in order”" in app.note.value
    app.lang.value = "fr"
    assert "compte ici comme « dans l'ordre »" in html.unescape(app.note.value)
    app.reading.value = "evidence"
    assert app.note.value == ""


# --------------------------------------------------------------------------- every word
#: Words written the same in both languages, or names rather than words.
_SAME_IN_FRENCH = {
    "contacts",
    "contact",
    "table",
    "classification",
    "note",
    "client",
    "prospect",
    "conversion",
    "inbound",
    "sales",
    "lead",
    "n",
    "pts",
    "ms",
    "p90",
    "English",
    "Français",
    "channel",
    "segment",
    "source",
    "toml",
    "W",
    "en",
    "fr",
    "d",
    "b2b",
    "b2c",
    "ambassador",
    "none",
}


def _english_words() -> set[str]:
    from funnelkit import explorer, figure_style

    texts = [*explorer._WORDS["en"].values(), *figure_style._TEXT["en"].values()]
    words = {w for t in texts for w in re.findall(r"[A-Za-z]{2,}", re.sub(r"\{[^}]*\}", "", t))}
    return {w.lower() for w in words} - {w.lower() for w in _SAME_IN_FRENCH}


def _shown(app: Explorer) -> list[str]:
    """Return every text a person sees in the explorer: controls, figure, table, lines."""
    texts = []
    for control in (
        app.definition,
        app.path,
        app.weeks,
        app.window,
        app.order,
        app.reading,
        app.breakdown,
        app.lang,
    ):
        texts.append(control.description)
        options = getattr(control, "options", ())
        texts += [str(o[0]) for o in options if isinstance(o, tuple)]
        texts += list(getattr(control, "tooltips", None) or ())
    layout = app.figure.layout
    texts += [layout.title.text or "", layout.xaxis.title.text or "", layout.yaxis.title.text or ""]
    texts += [a.text or "" for a in layout.annotations]
    texts += [str(t) for t in (layout.xaxis.ticktext or ()) + (layout.yaxis.ticktext or ())]
    for trace in app.figure.data:
        texts += [trace.name or "", re.sub(r"%\{[^}]*\}", "", trace.hovertemplate or "")]
        texts += [str(t) for t in (getattr(trace, "text", None) or ())]
        texts += [str(v) for v in (getattr(trace, "y", None) or ()) if isinstance(v, str)]
    for widget in (app.table, app.summary, app.status, app.note, app.paths_table):
        texts.append(html.unescape(re.sub(r"<[^>]*>", " | ", widget.value)))
    # every hover as the browser writes it, point by point, and the drop-off paths view
    texts += hovers(app.figure)
    if app.paths.value:
        texts += [app.paths.description, app.paths_figure.layout.title.text or ""]
        texts += [str(label) for t in app.paths_figure.data for label in t.node.label]
        texts += hovers(app.paths_figure)
    return texts


def test_every_string_of_the_explorer_and_its_figures_is_french_in_french(
    app: Explorer, tmp_path: Path
) -> None:
    from funnelkit import explorer, figure_style

    # no key is missing in either language, and none is left empty
    assert set(explorer._WORDS["en"]) == set(explorer._WORDS["fr"])
    assert set(figure_style._TEXT["en"]) == set(figure_style._TEXT["fr"])
    assert all(v.strip() for lang in ("en", "fr") for v in explorer._WORDS[lang].values())
    # values from the data (segments such as the country "IT") are not words of ours
    values = {
        str(v)
        for frame in (app._events, app._contacts)
        if frame is not None
        for column in app._segments
        if column in frame.columns
        for v in frame[column].unique().to_list()
    }
    english = _english_words() - {v.lower() for v in values}
    # the kit's error messages a widget can show, and plotly's own hover words
    english |= {"such", "file", "valid", "missing", "duplicate", "empty", "key", "order"}
    english |= {"regular", "folder", "incoming", "outgoing", "flow", "count", "plotly"}
    # the keys a definition may have are names in the file, not words ("events", "when")
    keys = {"id", "labels", "description", "events", "min_count", "where", "points"}
    keys |= {"threshold", "half_life", "when", "lapse_after", "lapse_to", "stages"}
    english -= keys
    bad = _bad_definitions(tmp_path)
    app.lang.value = "fr"
    app.order.value = "any"  # the note on "any order" read by entry shows too
    checked = 0
    for view in _views(app, bad):
        if not view.startswith("fr"):
            continue
        for drawn in _shown(app):
            shown = html.unescape(re.sub(r"<[^>]*>", " | ", drawn))
            # names from the data (events, columns, file paths) are not words of ours
            words = set(re.findall(r"(?<![\w/._-])[A-Za-z]{2,}(?![\w/._-])", shown))
            assert {w for w in words if w.lower() in english} == set(), (view, shown)
            assert "d3 format" not in shown, (view, shown)  # plotly would write "12,3%"
            assert not_french(shown.replace(str(tmp_path), "")) == [], (view, shown)
            checked += 1
    assert checked > 1500


# --------------------------------------------------------------------- kept classification
def test_every_update_after_the_first_reads_the_kept_classification_with_thesame_numbers(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    # the first update classified the history once, for the definition and the last week
    assert len(app._classified) == 1
    last = len(app.weeks.options) - 1
    for change in (
        lambda: setattr(app.window, "value", "7d"),
        lambda: setattr(app.breakdown, "value", "channel"),
        lambda: setattr(app.order, "value", "strict_increase"),
        lambda: setattr(app.breakdown, "value", "segment"),  # a contact attribute
        lambda: setattr(app.weeks, "index", (last - 5, last)),  # narrower, same last week
        lambda: setattr(app.window, "value", "30d"),
    ):
        change()
        same_numbers(app, log, contacts)
    assert len(app._classified) == 1  # nothing of the above classified again
    app.weeks.index = (last - 5, last - 2)  # another last week: its own history
    same_numbers(app, log, contacts)
    app.definition.value = "sales"
    same_numbers(app, log, contacts)
    assert len(app._classified) == 3
    app.reading.value = "evidence"  # by evidence nothing is classified
    same_numbers(app, log, contacts)
    assert len(app._classified) == 3


@pytest.mark.parametrize(("seed", "settle"), [(1, False), (2, True), (3, False), (4, True)])
def test_the_explorer_equals_funnel_and_week_over_week_on_arandom_log(
    seed: int, settle: bool
) -> None:
    from funnelkit.conversion import entry_value_column

    events, people = random_log(seed)
    app = explore(events, people)
    app.min_contacts = 1
    last = len(app.weeks.options) - 1
    same_numbers(app, events, people)
    for change in (
        lambda: setattr(app.window, "value", "3d"),
        lambda: setattr(app.breakdown, "value", "channel"),
        lambda: setattr(app.weeks, "index", (2, last)),
        lambda: setattr(app.order, "value", "strict_increase"),
        lambda: setattr(app.breakdown, "value", "tier"),
        lambda: setattr(app.weeks, "index", (1, last - 3)),
        lambda: setattr(app.definition, "value", "sales"),
        lambda: setattr(app.order, "value", "any"),
        lambda: setattr(app.window, "value", "30d"),
        lambda: setattr(app.breakdown, "value", "channel"),
        lambda: setattr(app.order, "value", "ordered"),
        lambda: setattr(app.weeks, "index", (0, last - 3)),
    ):
        if settle:  # each change reads what the background prepared
            assert app.wait(30)
        change()
        same_numbers(app, events, people)
    # the channel at entry was read once per definition and last week shown, and is carried
    # by the kept classification that funnel reads (the events keep their column)
    carried = [
        key[0]
        for key, known in app._classified.items()
        if entry_value_column(load_funnel(key[0]).stage_ids[0], "channel") in known.columns
    ]
    assert sorted(carried) == ["inbound", "sales"]
    assert not any(
        c.endswith("[tier]") for known in app._classified.values() for c in known.columns
    )


# ------------------------------------------------------------------------------ background
def _gated(
    tasks: list[tuple[tuple[Any, ...], Any]], gate: threading.Event
) -> tuple[list[tuple[tuple[Any, ...], Any]], dict[tuple[Any, ...], Any], threading.Event]:
    """Return ``tasks`` that start, then wait for ``gate``; their results; and "one started"."""
    started = threading.Event()
    results: dict[tuple[Any, ...], Any] = {}

    def hold(key: tuple[Any, ...], work: Any) -> Any:
        def run() -> Any:
            started.set()
            assert gate.wait(30)
            results[key] = work()
            return results[key]

        return run

    return [(key, hold(key, work)) for key, work in tasks], results, started


def _replan(app: Explorer, tasks: list[tuple[tuple[Any, ...], Any]]) -> None:
    """Let what the explorer planned finish, then give its background ``tasks`` instead."""
    assert app._background is not None
    app._background.plan([])
    assert app.wait(30)
    app._background.plan(tasks)


def test_the_background_classifies_the_other_preset_and_carries_the_offered_columns(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    until = app._bounds()[1]
    planned = [key for key, _ in app._tasks(app._funnel(), until)]
    assert planned == [("classify", "sales", until), ("carry", "inbound", until, app._carried)]
    assert app._carried == ("channel", "campaign")  # the contacts' columns are not carried
    assert app.wait(30)
    app.breakdown.value = "campaign"  # read from what the background carried
    same_numbers(app, log, contacts)
    app.definition.value = "sales"  # classified in the background
    same_numbers(app, log, contacts)
    assert app.wait(30)
    app.breakdown.value = "channel"
    same_numbers(app, log, contacts)
    assert sorted(key[0] for key in app._classified) == ["inbound", "sales"]


def test_a_definition_chosen_while_the_background_classifies_it_waits_for_that_result(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    gate = threading.Event()
    until = app._bounds()[1]
    tasks, results, started = _gated(app._tasks(app._funnel(), until), gate)
    _replan(app, tasks)
    assert started.wait(30)  # the classification of sales is under way
    said: list[str] = []
    app.status.observe(lambda change: said.append(change["new"]), names="value")
    threading.Timer(0.3, gate.set).start()
    app.definition.value = "sales"
    assert app._classified["sales", until] is results["classify", "sales", until]
    assert any("classifying sales (begun in the background)" in s for s in said)
    same_numbers(app, log, contacts)
    assert "updated in" in app.status.value


def test_a_change_that_needs_nothing_prepared_does_not_wait_for_the_background(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    gate = threading.Event()
    tasks, _, started = _gated(app._tasks(app._funnel(), app._bounds()[1]), gate)
    _replan(app, tasks)
    assert started.wait(30)  # held until the gate opens
    app.window.value = "7d"  # done while the background task is held
    app.order.value = "strict_increase"
    same_numbers(app, log, contacts)
    gate.set()
    assert app.wait(30)


def test_a_change_before_the_background_starts_its_work_computes_it_at_once(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    gate = threading.Event()
    until = app._bounds()[1]
    blocked, _, started = _gated([(("first",), lambda: None)], gate)
    tasks, results, _ = _gated(app._tasks(app._funnel(), until), threading.Event())
    _replan(app, blocked + tasks)
    assert started.wait(30)  # the worker is held: the planned tasks wait their turn
    app.breakdown.value = "channel"  # its values at entry: read now, not waited for
    same_numbers(app, log, contacts)
    app.definition.value = "sales"
    same_numbers(app, log, contacts)
    gate.set()
    assert app.wait(30)
    assert not results  # neither planned task ran: both were computed when asked


def test_an_error_in_the_background_shows_when_its_definition_is_chosen_not_before(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    from funnelkit.errors import DataError

    until = app._bounds()[1]
    summary = app.summary.value

    def fails() -> None:
        msg = "amount: 'n/a' is not a number (row 3); fix the file."
        raise DataError(msg)

    _replan(app, [(("classify", "sales", until), fails)])
    assert app.wait(30)  # it failed in the background: nothing is said, nothing raised
    assert app.summary.value == summary and app.result is not None
    app.definition.value = "sales"
    assert app.result is None and "is not a number (row 3)" in app.summary.value
    app.definition.value = "inbound"
    app.definition.value = "sales"  # asked again: computed, and right
    same_numbers(app, log, contacts)


def test_a_failure_of_another_kind_in_the_background_is_computed_again_when_asked(
    app: Explorer, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    until = app._bounds()[1]

    def breaks() -> None:
        msg = "out of memory"
        raise MemoryError(msg)

    _replan(app, [(("classify", "sales", until), breaks)])
    assert app.wait(30)
    app.definition.value = "sales"
    same_numbers(app, log, contacts)


def test_the_background_leaves_no_thread_and_none_without_it(
    log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    before = set(threading.enumerate())
    app = explore(log, contacts)
    for change in (
        lambda: setattr(app.window, "value", "7d"),
        lambda: setattr(app.definition, "value", "sales"),
        lambda: setattr(app.breakdown, "value", "channel"),
        lambda: setattr(app.reading, "value", "evidence"),  # nothing to prepare: plans dropped
        lambda: setattr(app.reading, "value", "entry"),
    ):
        change()
    assert app.wait(30)
    assert set(threading.enumerate()) <= before
    quiet = explore(log, contacts, background=False)
    quiet.definition.value = "sales"
    quiet.breakdown.value = "channel"
    assert quiet.wait(0) and set(threading.enumerate()) <= before


def test_the_background_starts_nothing_while_an_update_runs_nor_just_after() -> None:
    from funnelkit.background import Background

    background = Background(quiet=0.3)
    began: list[float] = []
    with background.update():
        background.plan([(("work",), lambda: began.append(time.monotonic()))])
        time.sleep(0.2)
        assert not began  # the update has the cores to itself
        ended = time.monotonic()
    assert background.wait(30)
    assert began and began[0] >= ended + 0.3
    assert background.take(("work",)) is None  # done, its result (None) taken


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"lang": "de"}, "lang: 'de' is not one of 'en', 'fr'."),
        ({"order": "strict"}, "order: 'strict' is not one of 'ordered', 'strict_increase', 'any'"),
        ({"stage_steps": "entries"}, "stage_steps: 'entries' is not one of"),
    ],
)
def test_a_bad_first_setting_is_one_readable_error(
    log: pl.DataFrame, option: dict[str, str], message: str
) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        explore(log, background=False, **option)
