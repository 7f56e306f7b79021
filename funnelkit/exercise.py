"""The trainer's exercise: place a contact's events and see the stage each definition gives.

:func:`exercise` shows a text box (an event, then Enter), the contact's events
as numbered chips and, for each definition, the ladder of its stages with the
one the contact is in; :func:`place_journey` is the computation behind it.
Unknown events are refused with the closest known names.  Every word follows
``lang`` (``"en"`` or ``"fr"``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ipywidgets as widgets
import polars as pl
import traitlets

from funnelkit.definitions import Funnel, load_funnel
from funnelkit.errors import FunnelkitError, message_in
from funnelkit.events import (
    CONTACT_ID,
    EVENT,
    OCCURRED_AT,
)
from funnelkit.figures import (
    Lang,
    stage_colour,
)
from funnelkit.markup import Markup, format_html, join_html
from funnelkit.stages import classify, explain

__all__ = ["Exercise", "JourneyEvents", "exercise", "place_journey"]

_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_AMOUNT = 100.0
#: Width of one character of a widget's label, in em: generous, so that no label is cut.
_LABEL_EM = 0.62
#: Width of the exercise slider's track and number beside its label, in em.
_TRACK_EM = 20
#: At most this many close names are suggested for an event the definitions do not know.
_SUGGESTIONS = 3

_EXERCISE_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "journey": "Events, in order",
        "every": "Days between two events",
        "type": "an event, then Enter",
        "add": "Add",
        "remove": "Remove the last",
        "clear": "Clear",
        "placed": "The contact's events",
        "unknown": "'{name}' is not an event the definitions know.",
        "close": "Closest known names: {names}.",
        "none_close": "Known events: {names}.",
        "no_events": "no event yet: not a contact of ours",
    },
    "fr": {
        "journey": "Événements, dans l'ordre",
        "every": "Jours entre deux événements",
        "type": "un événement, puis Entrée",
        "add": "Ajouter",
        "remove": "Retirer le dernier",
        "clear": "Tout effacer",
        "placed": "Les événements du contact",
        "unknown": "« {name} » n'est pas un événement que les définitions connaissent.",
        "close": "Noms connus les plus proches : {names}.",
        "none_close": "Événements connus : {names}.",
        "no_events": "aucun événement : pas encore un contact",
    },
}


def _exercise_word(key: str, lang: Lang) -> str:
    return _EXERCISE_WORDS[lang][key]


def _journey_events(journey: Sequence[str], every: timedelta) -> pl.DataFrame:
    """Return one contact's events, one every ``every``, purchases worth 100."""
    return pl.DataFrame(
        {
            CONTACT_ID: ["you"] * len(journey),
            OCCURRED_AT: [_START + i * every for i in range(len(journey))],
            EVENT: list(journey),
            "amount": [_AMOUNT if e in ("purchase", "repeat_purchase") else None for e in journey],
        },
        schema={
            CONTACT_ID: pl.String,
            OCCURRED_AT: pl.Datetime("us", "UTC"),
            EVENT: pl.String,
            "amount": pl.Float64,
        },
    )


def place_journey(
    journey: Sequence[str],
    funnels: Sequence[Funnel | str] = ("inbound", "sales"),
    *,
    every: timedelta = timedelta(days=1),
    lang: Lang = "en",
) -> pl.DataFrame:
    """Return where each definition places a contact whose events are ``journey``.

    The events happen in the given order, one every ``every`` from Monday
    2026-01-05 09:00 UTC; purchases are worth 100.

    Parameters
    ----------
    journey
        The events, in order.
    funnels
        The definitions (presets by name, or loaded definitions).
    every
        The time between two events.
    lang
        The language of the ``label`` column.

    Returns
    -------
    pl.DataFrame
        One row per definition: ``funnel``, ``stage`` (id, null for an empty
        journey), ``stage_rank``, ``stages`` (how many the definition has),
        ``label`` (in ``lang``).

    Raises
    ------
    DefinitionError
        When a name in ``funnels`` is neither a preset nor a definition file.

    Examples
    --------
    >>> place_journey(["badge_scan", "meeting"]).select("funnel", "stage").rows()
    [('inbound', 'warm_lead'), ('sales', 'qualified_prospect')]

    See the concept page: docs/concepts/stages.md
    """
    events = _journey_events(journey, every)
    rows = []
    for item in funnels:
        definition = item if isinstance(item, Funnel) else load_funnel(item)
        placed = classify(events, definition, entry_times=False).collect()
        stage = placed["stage"][0] if placed.height else None
        rank = int(placed["stage_rank"][0]) if placed.height else None
        label = definition.stage(stage).label(lang) if stage is not None else None
        rows.append((definition.name, stage, rank, len(definition.stages), label))
    return pl.DataFrame(
        rows,
        schema={
            "funnel": pl.String,
            "stage": pl.String,
            "stage_rank": pl.Int64,
            "stages": pl.Int64,
            "label": pl.String,
        },
        orient="row",
    )


class JourneyEvents(traitlets.HasTraits):
    """The contact's events typed in the exercise, in order (``value``, a list of names)."""

    value = traitlets.List(traitlets.Unicode())


@dataclass
class Exercise:
    """The trainer's exercise made by :func:`exercise`; display it in a notebook.

    Type an event in ``entry`` and press Enter (or click ``add``): a known
    event is appended to ``journey`` and the answer updates; an unknown one is
    refused in ``message``, with the closest known names, and its text stays in
    the box to be corrected.

    Attributes
    ----------
    journey
        The contact's events, in order (set ``.value`` to a list of names).
    every
        Days between two events.
    lang
        ``"en"`` or ``"fr"``: every word of the exercise follows it.
    answer
        HTML: each definition's stage as a ladder of stages, and the
        explanation of each.
    entry
        The text box: an event name, sent on Enter (``continuous_update=False``).
    add, remove, clear
        Buttons: add the typed event, remove the last event, remove them all.
    message
        Why the last typed event was refused (empty when it was not).
    events
        The journey as numbered chips.
    vocabulary
        The event names the definitions know (and those of the starting journey).
    placed
        The last :func:`place_journey` table.
    """

    journey: JourneyEvents
    every: widgets.IntSlider
    lang: widgets.ToggleButtons
    answer: widgets.HTML
    funnels: tuple[Funnel, ...]
    entry: widgets.Combobox
    add: widgets.Button
    remove: widgets.Button
    clear: widgets.Button
    message: widgets.HTML
    events: widgets.HTML
    title: widgets.HTML
    vocabulary: tuple[str, ...]
    placed: pl.DataFrame | None = None
    refused: str | None = None

    def __post_init__(self) -> None:
        for control in (self.journey, self.every, self.lang):
            control.observe(self._changed, names="value")
        self.entry.observe(self._typed, names="value")
        self.add.on_click(lambda _: self.add_event(self.entry.value))
        self.remove.on_click(lambda _: self._set_journey(list(self.journey.value)[:-1]))
        self.clear.on_click(lambda _: self._set_journey([]))
        self.update()

    def _changed(self, change: dict[str, Any]) -> None:
        self.update()

    def _typed(self, change: dict[str, Any]) -> None:
        if str(change["new"]).strip():
            self.add_event(str(change["new"]))

    def _set_journey(self, journey: list[str]) -> None:
        self.refused = None
        self.journey.value = journey

    def add_event(self, name: str) -> bool:
        """Append ``name`` to the journey when the definitions know it; return whether it was.

        An unknown name is refused: :attr:`message` names the closest known
        events and the text stays in :attr:`entry` for correction.
        """
        name = name.strip()
        if not name:
            return False
        if name not in self.vocabulary:
            self.refused = name
            self._show_message()
            return False
        self.refused = None
        self.entry.value = ""
        self.journey.value = [*self.journey.value, name]
        return True

    def _language(self) -> Lang:
        return "fr" if self.lang.value == "fr" else "en"

    def _show_message(self) -> None:
        lang = self._language()
        if self.refused is None:
            self.message.value = ""
            return
        close = difflib.get_close_matches(self.refused, self.vocabulary, n=_SUGGESTIONS)
        hint = (
            _exercise_word("close", lang).format(names=", ".join(close))
            if close
            else _exercise_word("none_close", lang).format(names=", ".join(self.vocabulary))
        )
        self.message.value = format_html(
            "<span class='funnelkit-refused' style='color:#b71c1c'>{} {}</span>",
            _exercise_word("unknown", lang).format(name=self.refused),
            hint,
        )

    def _show_words(self, lang: Lang) -> None:
        self.title.value = format_html("<b>{}</b>", _exercise_word("journey", lang))
        self.entry.placeholder = _exercise_word("type", lang)
        self.add.description = _exercise_word("add", lang)
        self.remove.description = _exercise_word("remove", lang)
        self.clear.description = _exercise_word("clear", lang)
        self.every.description = label = _exercise_word("every", lang)
        # The whole label in either language, and a track beside it: with its width
        # "auto", the slider was only as wide as its label and number, its track gone.
        em = math.ceil(len(label) * _LABEL_EM) + 1
        self.every.style.description_width = f"{em}em"
        self.every.layout.width = self.every.layout.min_width = f"{em + _TRACK_EM}em"

    def update(self) -> None:
        """Place the journey under each definition and show the answer."""
        lang = self._language()
        self._show_words(lang)
        self._show_message()
        every = timedelta(days=self.every.value)
        journey = list(self.journey.value)
        self.events.value = _chips(journey, lang)
        self.remove.disabled = self.clear.disabled = not journey
        try:
            self.placed = place_journey(journey, self.funnels, every=every, lang=lang)
            if not journey:
                self.answer.value = format_html(
                    "<p><i>{}</i></p>", _exercise_word("no_events", lang)
                )
                return
            self.answer.value = self._answer(self.placed, journey, every, lang)
        except FunnelkitError as exc:
            # A definition the journey cannot be placed under (a rule on a column the
            # exercise's events lack): said in the exercise, in its language.
            self.placed = None
            self.answer.value = format_html(
                "<p class='funnelkit-error' style='color:#b71c1c'>{}</p>", message_in(exc, lang)
            )

    def _answer(
        self, placed: pl.DataFrame, journey: list[str], every: timedelta, lang: Lang
    ) -> Markup:
        """Return each definition's stage as a ladder, with its explanation."""
        events = _journey_events(journey, every)
        parts = []
        for definition, row in zip(self.funnels, placed.iter_rows(named=True), strict=True):
            why = explain(events, definition, "you", lang=lang)
            parts.append(
                format_html(
                    "<h4 style='margin:8px 0 4px'>{}: {}</h4>{}"
                    "<pre style='font-size:11px;white-space:pre-wrap'>{}</pre>",
                    definition.name,
                    str(row["label"]),
                    _ladder(definition, row["stage_rank"] or 0, lang),
                    why.text,
                )
            )
        return join_html(parts)

    @property
    def widget(self) -> widgets.Widget:
        """The whole exercise (a ``VBox``)."""
        return widgets.VBox(
            [
                self.title,
                widgets.HBox([self.entry, self.add]),
                self.message,
                widgets.HBox([self.events, self.remove, self.clear]),
                # in a narrow cell the language goes under the slider, which keeps its width
                widgets.HBox([self.every, self.lang], layout=widgets.Layout(flex_flow="row wrap")),
                self.answer,
            ]
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _chips(journey: Sequence[str], lang: Lang) -> str:
    """Return the journey as numbered chips, or a dash when it is empty."""
    if not journey:
        return format_html(
            "<span style='color:#9E9E9E'>{}: —</span>", _exercise_word("placed", lang)
        )
    chips = [
        format_html(
            "<span style='border:1px solid #BDBDBD;border-radius:10px;padding:1px 8px;"
            "font-size:12px'>{}. {}</span>",
            i,
            name,
        )
        for i, name in enumerate(journey, start=1)
    ]
    return format_html("{}: {}", _exercise_word("placed", lang), join_html(chips, " → "))


def _ladder(definition: Funnel, rank: int, lang: Lang) -> Markup:
    """Return the stages as coloured chips, filled up to ``rank``."""
    chips = []
    for i, stage in enumerate(definition.stages, start=1):
        colour = stage_colour(i)
        filled = i <= rank
        style = (
            f"background:{colour};color:white;border:1px solid {colour}"
            if filled
            else f"background:white;color:#9E9E9E;border:1px dashed {colour}"
        )
        chips.append(
            format_html(
                "<span style='{};border-radius:10px;padding:2px 8px;margin-right:4px;"
                "font-size:12px'>{}</span>",
                style,
                stage.label(lang),
            )
        )
    return format_html("<div>{}</div>", join_html(chips, "→ "))


def exercise(
    journey: Sequence[str] = ("page_view", "like", "ebook_download"),
    funnels: Sequence[Funnel | str] = ("inbound", "sales"),
    *,
    lang: Lang = "en",
) -> Exercise:
    """Open the exercise: type a contact's events and see each definition's verdict.

    The trainer's widget: each event typed (Enter or "Add") moves the
    contact, and every definition says where it now stands; an unknown event
    is refused with the closest known names.

    Parameters
    ----------
    journey
        The events to start with, in order.
    funnels
        The definitions to compare (presets by name, or loaded definitions).
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    Exercise
        The widget (a notebook displays it) with ``add_event`` and ``placed``.

    Raises
    ------
    DefinitionError
        When a name in ``funnels`` is neither a preset nor a definition file.

    Examples
    --------
    >>> ex = exercise(["form_fill"])
    >>> ex.add_event("meeting")  # what typing "meeting" and Enter does
    True
    >>> ex.placed["stage"].to_list()
    ['warm_lead', 'qualified_prospect']
    >>> ex.add_event("meetign")  # refused, with the closest names
    False
    >>> "Closest known names: meeting" in ex.message.value
    True

    See the concept page: docs/concepts/stages.md
    """
    definitions = tuple(f if isinstance(f, Funnel) else load_funnel(f) for f in funnels)
    vocabulary = tuple(sorted(set().union(*(d.event_names for d in definitions)) | set(journey)))
    return Exercise(
        journey=JourneyEvents(value=list(journey)),
        every=widgets.IntSlider(
            value=1,
            min=0,
            max=60,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="auto"),
        ),
        lang=widgets.ToggleButtons(
            options=[("en", "en"), ("fr", "fr")], value=lang, style={"button_width": "3em"}
        ),
        answer=widgets.HTML(),
        funnels=definitions,
        entry=widgets.Combobox(
            options=list(vocabulary), ensure_option=False, continuous_update=False
        ),
        add=widgets.Button(button_style="primary", layout=widgets.Layout(width="auto")),
        remove=widgets.Button(layout=widgets.Layout(width="auto")),
        clear=widgets.Button(layout=widgets.Layout(width="auto")),
        message=widgets.HTML(),
        events=widgets.HTML(),
        title=widgets.HTML(),
        vocabulary=vocabulary,
    )
