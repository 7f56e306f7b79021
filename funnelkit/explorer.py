"""Small interactive apps for notebooks, built on ipywidgets.

:func:`explore` opens the funnel explorer: pick a funnel definition (a preset
or a file), the weeks to look at, the conversion window, the order rule and a
breakdown, and the figure, the table and a two-line summary (the biggest leak,
the week-over-week change) update in place.  The events are read into memory
once, when the explorer is made; every change recomputes from there.  After
each update, what the next change may need (the other presets' classification,
the breakdown columns' values at entry) is computed in a background thread.

:func:`exercise` is the trainer's exercise (in :mod:`funnelkit.exercise`,
importable from here too): type a contact's events in order and see where
each definition places it, and why.

Both return objects whose widgets are plain attributes, so a test (or a
curious user) can drive them from Python::

    app = explore(log)
    app.window.value = "7d"          # the figure updates
    app.figure.data[0].x             # the new counts

The figure is a plotly ``FigureWidget`` when the optional ``anywidget``
package is installed (updated in place, no new output); otherwise a plain
figure redrawn inside an ``Output`` widget.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from funnelkit.background import Background, Pieces, Task
from funnelkit.conversion import (
    FunnelResult,
    PeriodComparison,
    entry_classification,
    entry_value_column,
    funnel,
    week_over_week,
    with_entry_values,
)
from funnelkit.definitions import Funnel, list_presets, load_funnel
from funnelkit.errors import FunnelkitError, ParameterError, did_you_mean, message_in
from funnelkit.events import (
    CONTACT_ID,
    EVENT,
    OCCURRED_AT,
    ContactTable,
    EventLog,
    as_lazy,
    as_lazy_contacts,
)
from funnelkit.exercise import Exercise, JourneyEvents, exercise, place_journey
from funnelkit.figure_input import contacts_without_events
from funnelkit.figure_style import colon, format_int, format_num, format_pct, week_label
from funnelkit.figures import (
    LEAK_COLOUR,
    Lang,
    breakdown_figure,
    breakdown_table,
    funnel_figure,
    funnel_table,
    text,
)
from funnelkit.markup import Markup, format_html, join_html, plot_text
from funnelkit.privacy import judge_breakdown, keep_judgements

__all__ = [
    "MIN_CONTACTS",
    "NO_BREAKDOWN",
    "Exercise",
    "Explorer",
    "JourneyEvents",
    "exercise",
    "explore",
    "place_journey",
]

#: A selection whose first step has fewer contacts is "too small to show".
MIN_CONTACTS = 30
FILE = "__file__"
WINDOWS = ("1d", "3d", "7d", "14d", "30d", "60d", "90d")
ORDERS = (("ordered", "ordered"), ("strict", "strict_increase"), ("any order", "any"))
#: How a stage of the definition is read as a funnel step (``stage_steps`` of
#: :func:`funnelkit.conversion.funnel`): by entry (the default), or by its evidence events.
STAGE_STEPS = (("entry", "entry"), ("evidence", "evidence"))
#: The Breakdown dropdown's value for "no breakdown" (``None`` would show as a blank).
NO_BREAKDOWN = ""
#: Each language named in itself, as a language picker does.
LANGUAGES = (("English", "en"), ("Français", "fr"))
_COMPACT = {"button_width": "auto", "description_width": "initial"}
_TABLE = "border-collapse:collapse;margin-top:6px"
_CELL = "padding:3px 14px 3px 0;text-align:{};border-bottom:1px solid #E0E0E0"
_MAX_SEGMENTS = 50
_SKIP_COLUMNS = {CONTACT_ID, OCCURRED_AT, EVENT, "created_at", "email", "name"}

Events = EventLog | pl.LazyFrame | pl.DataFrame
Contacts = ContactTable | pl.LazyFrame | pl.DataFrame


def _figure_widget() -> tuple[go.Figure, widgets.Widget]:
    """Return ``(figure, widget to display)``: a FigureWidget when anywidget is there."""
    try:
        figure = go.FigureWidget(layout={"autosize": True})
    except ImportError:
        figure = go.Figure()
        return figure, widgets.Output()
    # Follow the cell's width as it changes (the figures have no fixed size).
    figure._config = {**figure._config, "responsive": True}
    return figure, figure


def _stale_paths(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Return the dotted paths set in ``old`` and absent from ``new`` (dicts walked, lists not)."""
    paths = []
    for key, value in old.items():
        path = f"{prefix}{key}"
        if key not in new:
            paths.append(path)
        elif isinstance(value, dict) and isinstance(new[key], dict):
            paths += _stale_paths(value, new[key], f"{path}.")
    return paths


def _replace(target: go.Figure, source: go.Figure) -> None:
    """Make ``target`` draw ``source``, starting clean: nothing of the last drawing is left.

    A ``FigureWidget`` tells the browser a new layout as a relayout, which only sets the
    keys it names: annotations, shapes or axis settings the new layout lacks would stay
    drawn (a "biggest leak" marker over a bar chart).  So those keys are removed first,
    by name, with every annotation and shape: placed at a stage's name, one would have
    no position (``NaN``) while the new traces are drawn on the old axes.  Then the
    traces, then the new layout.
    """
    old = target.layout.to_plotly_json()
    stale = _stale_paths(old, source.layout.to_plotly_json())
    same = len(target.data) == len(source.data) and all(
        a.type == b.type for a, b in zip(target.data, source.data, strict=True)
    )
    # Another kind of chart: its axes start anew too (the browser keeps an axis type
    # it guessed from the old traces, "linear" under bars, unless the axis is removed).
    cleared = ("annotations", "shapes", "images") if same else tuple(old)
    placed = [key for key in cleared if key in old and key != "template"]
    if stale or placed:
        target.plotly_relayout(dict.fromkeys(dict.fromkeys([*placed, *stale])))
    if not same:
        # Another kind of chart: its traces first, on the new axes, and only then what
        # is placed at a stage's name (a browser drawing it on the old axes has no
        # position for it: "NaN").
        bare = go.Layout(source.layout)
        bare.annotations, bare.shapes = (), ()
        target.layout = bare
    with target.batch_update():
        if same:
            for old_trace, new in zip(target.data, source.data, strict=True):
                drawn = new.to_plotly_json()
                for path in _stale_paths(old_trace.to_plotly_json(), drawn):
                    old_trace[path] = None
                old_trace.update(drawn, overwrite=True)
        else:
            target.data = ()
            target.add_traces(list(source.data))
    target.layout = source.layout


def _iso_weeks(first: date, last: date) -> list[tuple[str, date]]:
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        year, week, _ = monday.isocalendar()
        weeks.append((f"{year}-W{week:02d}", monday))
        monday += timedelta(weeks=1)
    return weeks


def _segment_columns(events: pl.DataFrame, contacts: pl.DataFrame | None) -> list[str]:
    """Return the text columns with few distinct values (the useful breakdowns), none personal."""
    frames = [events] + ([contacts] if contacts is not None else [])
    names: list[str] = []
    for frame in frames:
        candidates = [
            c
            for c, t in frame.schema.items()
            if c not in _SKIP_COLUMNS and c not in names and t in (pl.String, pl.Categorical)
        ]
        if not candidates:
            continue
        distinct = frame.select(pl.col(c).n_unique() for c in candidates).row(0)
        names += [c for c, n in zip(candidates, distinct, strict=True) if 1 < n <= _MAX_SEGMENTS]
    # Never offer a personal column (by its name or its values: a shared inbox is few values).
    return [c for c in names if not any(judge_breakdown(c, f) for f in frames if c in f.columns)]


_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "funnel": "Funnel",
        "file": "a file…",
        "path": "File",
        "weeks": "Weeks",
        "window": "Window",
        "order": "Order",
        "reading": "Stages by",
        "evidence": "a stage is reached at any one of its evidence events",
        "entry": "a stage is reached when classify says it was entered (thresholds applied)",
        "by": "Breakdown",
        "none": "none",
        "language": "Language",
        "stage": "Stage",
        "contacts": "Contacts",
        "of_first": "of step 1",
        "share_previous": "Share of previous step",
        "share_first": "Share of step 1",
        "leak": "Biggest leak",
        "wow": "Week over week",
        "no_leak": "no leak to show",
        "updated": "updated in {ms} ms",
        "waiting_classify": "classifying {what} (begun in the background)…",
        "waiting_carry": "reading {what} at entry (begun in the background)…",
        "error": "Cannot compute",
        "noise": "within the noise",
        "real": "outside the noise",
        "too_few": "too few contacts to tell",
        "no_week": "no entries this week or the week before: nothing to compare",
        "open_week": "{week} still open: its rates will grow",
        "journey": "Events, in order",
        "every": "Days between",
        "definition": "definition",
        "reached": "stage reached",
        "no_events": "no event yet: not a contact of ours",
        "order_ordered": "in order",
        "order_strict": "strictly later",
        "order_any": "any order",
        "tip_ordered": "each step at or after the one before, within the window",
        "tip_strict": "each step strictly after the one before, within the window",
        "tip_any": "the steps in any order, within the window",
        "reading_entry": "entry",
        "reading_evidence": "evidence",
        "no_breakdown": "— none —",
        "any_is_ordered": (
            "“any order” counts here as “in order”: read by entry, a definition's stages "
            "are entered in their order. Choose “evidence” to count the steps in any order."
        ),
        "no_path": "choose a preset, or type the path of a funnel definition file (.toml)",
        "no_file": "no such funnel definition file: {path}",
    },
    "fr": {
        "funnel": "Entonnoir",
        "file": "un fichier…",
        "path": "Fichier",
        "weeks": "Semaines",
        "window": "Fenêtre",
        "order": "Ordre",
        "reading": "Stades par",
        "evidence": "un stade est atteint à n'importe lequel de ses événements probants",
        "entry": (
            "un stade est atteint quand la classification y fait entrer le contact "
            "(seuils appliqués)"
        ),
        "by": "Ventilation",
        "none": "aucune",
        "language": "Langue",
        "stage": "Stade",
        "contacts": "Contacts",
        "of_first": "de l'étape 1",
        "share_previous": "Part de l'étape précédente",
        "share_first": "Part de l'étape 1",
        "leak": "Plus grosse fuite",
        "wow": "D'une semaine à l'autre",
        "no_leak": "aucune fuite à montrer",
        "updated": "mis à jour en {ms} ms",
        "waiting_classify": "classification de {what} (commencée en arrière-plan)…",
        "waiting_carry": "lecture de {what} à l'entrée (commencée en arrière-plan)…",
        "error": "Calcul impossible",
        "noise": "dans le bruit",
        "real": "hors du bruit",
        "too_few": "trop peu de contacts pour conclure",
        "no_week": "aucune entrée cette semaine ou la précédente : rien à comparer",
        "open_week": "{week} encore ouverte : ses taux vont augmenter",
        "journey": "Événements, dans l'ordre",
        "every": "Écart (j)",
        "definition": "définition",
        "reached": "stade atteint",
        "no_events": "aucun événement : pas encore un contact",
        "order_ordered": "dans l'ordre",
        "order_strict": "strictement après",
        "order_any": "ordre libre",
        "tip_ordered": "chaque étape au même instant que la précédente ou après, dans la fenêtre",
        "tip_strict": "chaque étape strictement après la précédente, dans la fenêtre",
        "tip_any": "les étapes dans n'importe quel ordre, dans la fenêtre",
        "reading_entry": "entrée",
        "reading_evidence": "preuves",
        "no_breakdown": "— aucune —",
        "any_is_ordered": (
            "« ordre libre » compte ici comme « dans l'ordre » : lus par entrée, les stades "
            "d'une définition sont atteints dans leur ordre. Choisissez « preuves » pour "
            "compter les étapes dans n'importe quel ordre."
        ),
        "no_path": (
            "choisissez un préréglage, ou tapez le chemin d'un fichier de définition (.toml)"
        ),
        "no_file": "aucun fichier de définition d'entonnoir à ce chemin : {path}",
    },
}


def _word(key: str, lang: Lang) -> str:
    return _WORDS[lang][key]


# --------------------------------------------------------------------------- explorer
class Explorer:
    """The funnel explorer made by :func:`explore`; display it in a notebook.

    The funnel results and the week-over-week comparisons of the last
    settings are kept (the events do not change), so going back to a
    setting, or changing only what they do not read (the language; the first
    week or the breakdown, for the week-over-week line), does not compute
    them again.  Read by entry, the classification of the history is kept per
    definition and last week shown, carrying each events column broken down by
    (its value at the first stage's entry, read once): a change of window,
    order, first week or breakdown classifies nothing again, and the funnel
    and trends are read straight from the classification's entry times.
    After each update, as soon as no update runs, a background thread
    prepares the other presets' classification and the offered events
    columns at entry (:meth:`wait` waits for it), a group of contacts at a
    time: a change stops it between two groups, and it goes on after; a
    change that needs one of them takes it, waiting for it if it is under way.

    Attributes
    ----------
    definition, path, weeks, window, order, reading, breakdown, lang
        The controls (ipywidgets); set their ``value`` to drive the app.
    figure
        The plotly figure, updated in place.
    table, summary, status
        HTML widgets: the funnel table, the biggest leak and week-over-week
        change, and how long the last update took.
    result
        The last :class:`~funnelkit.conversion.FunnelResult` (``None`` after
        an error).
    last_update_seconds
        Duration of the last update.
    last_figure_seconds
        Time from the start of the last update to its new figure (the table
        and the summary come after it).
    widget
        The whole app (a ``VBox``).
    """

    def __init__(
        self,
        events: Events,
        contacts: Contacts | None = None,
        *,
        funnel: str = "inbound",
        window: str = "14d",
        order: str = "ordered",
        stage_steps: str = "entry",
        lang: Lang = "en",
        min_contacts: int = MIN_CONTACTS,
        background: bool = True,
    ) -> None:
        for name, value, choices in (
            ("order", order, ORDERS),
            ("stage_steps", stage_steps, STAGE_STEPS),
            ("lang", lang, LANGUAGES),
        ):
            allowed = [v for _, v in choices]
            if value not in allowed:
                hint = did_you_mean(str(value), allowed)
                listed = ", ".join(map(repr, allowed))
                msg = f"{name}: {value!r} is not one of {listed}.{hint}".rstrip()
                raise ParameterError(msg)
        self._events = as_lazy(events).collect()
        if self._events.is_empty():
            msg = "explore(): the events are empty; there is nothing to explore."
            raise ParameterError(msg)
        self._contacts = None if contacts is None else as_lazy_contacts(contacts).collect()
        # The explorer's own frames never change: each column is judged once.
        for frame in (self._events, self._contacts):
            if frame is not None:
                keep_judgements(frame)
        self._background = Background() if background else None
        self._pieces: Pieces | None = None
        if self._background is not None:
            checkpoint = self._background.checkpoint
            self._pieces = Pieces(self._events, self._contacts, checkpoint=checkpoint)
        self._definitions: dict[str, Funnel] = {}
        self._results: dict[tuple[Any, ...], FunnelResult] = {}
        self._comparisons: dict[tuple[Any, ...], Any] = {}
        self._classified: dict[tuple[Any, ...], pl.DataFrame] = {}
        self._first: pl.DataFrame | None = None
        self.min_contacts = min_contacts
        self.result: FunnelResult | None = None
        self.last_update_seconds = 0.0
        self.last_figure_seconds = 0.0
        first, last = self._events.select(
            pl.col(OCCURRED_AT).min().dt.date().alias("first"),
            pl.col(OCCURRED_AT).max().dt.date().alias("last"),
        ).row(0)
        self._weeks = _iso_weeks(first, last)
        presets = list(list_presets())
        self.definition = widgets.Dropdown(
            options=[*((p, p) for p in presets), ("…", FILE)],
            value=funnel if funnel in presets else FILE,
            layout=widgets.Layout(width="220px"),
        )
        self.path = widgets.Text(
            value="" if funnel in presets else funnel,
            placeholder="my_funnel.toml",
            continuous_update=False,
            layout=widgets.Layout(width="260px"),
        )
        self.weeks = widgets.SelectionRangeSlider(
            options=[(label, monday) for label, monday in self._weeks],
            index=(0, len(self._weeks) - 1),
            continuous_update=False,
            layout=widgets.Layout(width="520px"),
        )
        self.window = widgets.Dropdown(
            options=list(WINDOWS) if window in WINDOWS else [*WINDOWS, window],
            value=window,
            layout=widgets.Layout(width="160px"),
        )
        self.order = widgets.ToggleButtons(options=list(ORDERS), value=order, style=_COMPACT)
        self.reading = widgets.ToggleButtons(
            options=list(STAGE_STEPS), value=stage_steps, style=_COMPACT
        )
        self._segments = _segment_columns(self._events, self._contacts)
        #: The events columns offered as breakdowns: carried by the classification together.
        self._carried = tuple(c for c in self._segments if c in self._events.columns)
        self.breakdown = widgets.Dropdown(
            options=[("—", NO_BREAKDOWN), *((c, c) for c in self._segments)],
            value=NO_BREAKDOWN,
            layout=widgets.Layout(width="260px"),
        )
        self.lang = widgets.ToggleButtons(options=list(LANGUAGES), value=lang, style=_COMPACT)
        self.note = widgets.HTML()
        self._relabelling = False
        self.figure, self._figure_view = _figure_widget()
        self.table = widgets.HTML()
        self.summary = widgets.HTML()
        self.status = widgets.HTML()
        self._controls = (
            self.definition,
            self.path,
            self.weeks,
            self.window,
            self.order,
            self.reading,
            self.breakdown,
            self.lang,
        )
        self._describe()
        for control in self._controls:
            control.observe(self._changed, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.definition, self.path, self.lang]),
                widgets.HBox([self.weeks, self.window]),
                widgets.HBox([self.order, self.breakdown]),
                self.reading,
                self.note,
                self.summary,
                self._figure_view,
                self.table,
                self.status,
            ]
        )
        # The drop-off paths view: off until ticked (see _update_paths).
        self.paths = widgets.Checkbox(value=False, description="Drop-off paths", indent=False)
        self.paths_figure, self._paths_view = _figure_widget()
        self.paths_table = widgets.HTML()
        self._paths_box = widgets.VBox([self._paths_view, self.paths_table])
        self.paths.observe(self._changed, names="value")
        self.widget.children = (*self.widget.children, self.paths, self._paths_box)
        self.update()

    # --- the app -------------------------------------------------------------
    def _describe(self) -> None:
        lang = self._lang
        for control, key in (
            (self.definition, "funnel"),
            (self.path, "path"),
            (self.weeks, "weeks"),
            (self.window, "window"),
            (self.order, "order"),
            (self.reading, "reading"),
            (self.breakdown, "by"),
            (self.lang, "language"),
        ):
            control.description = _word(key, lang)
        self.path.layout.display = None if self.definition.value == FILE else "none"
        presets = [(p, p) for p in list_presets()]
        self._relabel(self.definition, [*presets, (_word("file", lang), FILE)])
        self._relabel(self.weeks, [(week_label(monday, lang), monday) for _, monday in self._weeks])
        orders = ("ordered", "strict", "any")
        self._relabel(
            self.order,
            [(_word(f"order_{k}", lang), v) for k, (_, v) in zip(orders, ORDERS, strict=True)],
        )
        self.order.tooltips = [_word(f"tip_{k}", lang) for k in orders]
        self._relabel(self.reading, [(_word(f"reading_{v}", lang), v) for _, v in STAGE_STEPS])
        self.reading.tooltips = [_word(v, lang) for _, v in STAGE_STEPS]
        none = (_word("no_breakdown", lang), NO_BREAKDOWN)
        self._relabel(self.breakdown, [none, *((c, c) for c in self._segments)])
        # Read by entry, a definition's stages are entered in order: "any" is "ordered".
        same = self.order.value == "any" and self.reading.value == "entry"
        self.note.value = (
            format_html("<small style='color:#616161'>{}</small>", _word("any_is_ordered", lang))
            if same
            else ""
        )

    def _relabel(self, control: Any, options: list[tuple[str, Any]]) -> None:
        """Give ``control`` the labels ``options`` in the language shown, keeping its value."""
        if [tuple(o) for o in control.options] == options:
            return
        value = control.value
        self._relabelling = True
        try:
            control.options = options
            control.value = value
        finally:
            self._relabelling = False

    @property
    def _lang(self) -> Lang:
        return "fr" if self.lang.value == "fr" else "en"

    def _changed(self, change: dict[str, Any]) -> None:
        if self._relabelling:
            return
        self._describe()
        self.update()

    @property
    def _definition_key(self) -> str:
        return str(
            self.path.value.strip() if self.definition.value == FILE else self.definition.value
        )

    def _funnel(self) -> Funnel:
        key = self._definition_key
        if not key:
            msg = _word("no_path", self._lang)
            raise ParameterError(msg)
        if self.definition.value == FILE and not Path(key).is_file():
            hint = did_you_mean(key, list_presets())  # a preset's name typed as a file's
            msg = _word("no_file", self._lang).format(path=key) + hint
            raise ParameterError(msg)
        if key not in self._definitions:
            self._definitions[key] = load_funnel(key)
        return self._definitions[key]

    def _bounds(self) -> tuple[datetime, datetime]:
        start, last = self.weeks.value
        since = datetime(start.year, start.month, start.day, tzinfo=UTC)
        until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(weeks=1)
        return since, until

    def update(self) -> None:
        """Recompute from the controls and redraw the figure, table and summary."""
        with nullcontext() if self._background is None else self._background.update():
            self._update()

    def _update(self) -> None:
        started = time.perf_counter()
        lang = self._lang
        try:
            definition = self._funnel()
            since, until = self._bounds()
            by = self.breakdown.value or None
            key = (self._definition_key, *self._reading, by, since, until)
            if key not in self._results:
                _remember(
                    self._results,
                    key,
                    funnel(
                        self._events,
                        definition,
                        window=self.window.value,
                        order=self.order.value,
                        stage_steps=self.reading.value,
                        by=by,
                        # Read by entry, the classification reads the contacts (as the CLI
                        # and the weekly report do), whatever the breakdown; read by
                        # evidence, they only give a breakdown column.
                        contacts=self._contacts,
                        since=since,
                        until=until,
                        min_size=self.min_contacts,
                        classified=self._entries(definition, until, by),
                    ),
                )
            result = self._results[key]
            self.result = result
            entrants = int(result.table["count"][0]) if result.table.height else 0
            # Contacts without events are counted at step 1 (by entry): the figure says so.
            silent = contacts_without_events(
                self._events if self._contacts is None else self._first_events(),
                self._contacts,
                since=since,
                until=until,
                stage_steps=self.reading.value,
            )
            if by:
                figure = breakdown_figure(
                    result, by=by, lang=lang, funnel=definition, without_events=silent
                )
            else:
                figure = funnel_figure(result, lang=lang, funnel=definition, without_events=silent)
            if entrants < self.min_contacts:
                figure.data = ()
                figure.layout.annotations = ()
                figure.layout.title.text = text(
                    "too_small", lang, n=entrants, min=self.min_contacts
                )
            self._draw(figure)
            self.last_figure_seconds = time.perf_counter() - started
            self.table.value = self._table_html(result, definition, lang)
            self.summary.value = self._summary_html(result, definition, since, until, lang)
            self._update_paths(definition, since, until, lang)
            self._prepare(definition, until)
        except FunnelkitError as exc:
            self.result = None
            # An empty chart: no axes, no stage names, only the message.
            failed = go.Figure(
                layout={
                    "template": "funnelkit",
                    "xaxis": {"visible": False},
                    "yaxis": {"visible": False},
                }
            )
            said = message_in(exc, lang)
            failed.layout.title.text = f"{_word('error', lang)}{colon(lang)}{plot_text(said)}"
            self._draw(failed)
            self.last_figure_seconds = time.perf_counter() - started
            self.table.value = ""
            self.summary.value = format_html("<p style='color:{}'>{}</p>", LEAK_COLOUR, said)
        self.last_update_seconds = time.perf_counter() - started
        ms = round(self.last_update_seconds * 1000)
        self.status.value = format_html(
            "<small style='color:#757575'>{}</small>", _word("updated", lang).format(ms=ms)
        )

    def _update_paths(
        self, definition: Funnel, since: datetime, until: datetime, lang: Lang
    ) -> None:
        """Show what contacts did after the biggest leak (the "Drop-off paths" view), when ticked.

        :func:`funnelkit.paths.drop_off_paths` over the funnel shown (same
        weeks, window, order and reading): a Sankey in ``paths_figure`` and the
        groups and paths in ``paths_table``.  ``order="any"`` has no paths:
        the view says so.
        """
        from funnelkit.figure_paths import paths_figure
        from funnelkit.paths import drop_off_paths

        self.paths.description = "Drop-off paths" if lang == "en" else "Parcours après l'arrêt"
        self._paths_box.layout.display = None if self.paths.value else "none"
        if not self.paths.value:
            return
        try:
            paths = drop_off_paths(
                self._events,
                definition,
                window=self.window.value,
                order=self.order.value,
                stage_steps=self.reading.value,
                contacts=self._contacts,
                since=since,
                until=until,
                min_size=self.min_contacts,
            )
        except FunnelkitError as exc:
            _replace(self.paths_figure, go.Figure(layout={"template": "funnelkit"}))
            self.paths_table.value = format_html(
                "<p style='color:{}'>{}</p>", LEAK_COLOUR, message_in(exc, lang)
            )
            return
        _replace(self.paths_figure, paths_figure(paths, funnel=definition, lang=lang))
        if isinstance(self._paths_view, widgets.Output):
            bundle = pio.renderers["plotly_mimetype"].to_mimebundle(self.paths_figure.to_dict())
            self._paths_view.outputs = (
                {"output_type": "display_data", "data": bundle, "metadata": {}},
            )
        self.paths_table.value = (
            paths._repr_html_() if lang == "en" else _paths_html_fr(paths, definition)
        )

    def _draw(self, figure: go.Figure) -> None:
        _replace(self.figure, figure)
        if isinstance(self._figure_view, widgets.Output):
            # One message replaces the previous drawing: no flicker, no new cell output.
            bundle = pio.renderers["plotly_mimetype"].to_mimebundle(self.figure.to_dict())
            bundle["text/plain"] = str(self.figure.layout.title.text or "")
            self._figure_view.outputs = (
                {"output_type": "display_data", "data": bundle, "metadata": {}},
            )

    def _table_html(self, result: FunnelResult, definition: Funnel, lang: Lang) -> str:
        if result.by is not None:
            table = breakdown_table(result, by=result.by, lang=lang, funnel=definition)
            head = (
                result.by,
                _word("stage", lang),
                _word("contacts", lang),
                _word("share_first", lang),
            )
            rows = [
                (
                    r["segment"],
                    r["label"],
                    format_int(r["count"], lang),
                    format_pct(r["overall_conversion"], lang),
                )
                for r in table.filter(pl.col("rank") > 1).iter_rows(named=True)
            ]
        else:
            table = funnel_table(result, lang=lang, funnel=definition)
            head = (
                _word("stage", lang),
                _word("contacts", lang),
                _word("share_previous", lang),
                _word("share_first", lang),
            )
            rows = [
                (
                    r["label"],
                    format_int(r["count"], lang),
                    format_pct(r["step_conversion"], lang),
                    format_pct(r["overall_conversion"], lang),
                )
                for r in table.iter_rows(named=True)
            ]
        # Texts to the left, numbers to the right, each header over its column.
        texts = 1 if result.by is None else 2  # the stage (and the segment) columns
        align = ["left" if i < texts else "right" for i in range(len(head))]
        cells = join_html(
            format_html(
                "<tr>{}</tr>",
                join_html(
                    format_html("<td style='{}'>{}</td>", _CELL.format(a), c)
                    for a, c in zip(align, row, strict=True)
                ),
            )
            for row in rows
        )
        header = join_html(
            format_html("<th style='{}'>{}</th>", _CELL.format(a), h)
            for a, h in zip(align, head, strict=True)
        )
        return format_html(
            "<table style='{}'><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
            _TABLE,
            header,
            cells,
        )

    def _summary_html(
        self,
        result: FunnelResult,
        definition: Funnel,
        since: datetime,
        until: datetime,
        lang: Lang,
    ) -> str:
        table = funnel_table(result.table, lang=lang, funnel=definition)
        leak = table.filter(pl.col("biggest_leak"))
        if leak.is_empty():
            leak_text = _word("no_leak", lang)
        else:
            row = leak.row(0, named=True)
            before = table.filter(pl.col("rank") == row["rank"] - 1)["label"].item()
            leak_text = text(
                "leak",
                lang,
                rate=format_pct(row["step_conversion"], lang),
                before=before,
                after=row["label"],
            )
        lines = [format_html("<b>{}</b>{}{}", _word("leak", lang), colon(lang), leak_text)]
        change = self._week_over_week(definition, since, until, lang)
        if change:
            lines.append(format_html("<b>{}</b>{}{}", _word("wow", lang), colon(lang), change))
        return join_html(lines, "<br>")

    def _week_over_week(
        self, definition: Funnel, since: datetime, until: datetime, lang: Lang
    ) -> str:
        """Return one line on the latest selected week against the week before it.

        The same comparison as :func:`funnelkit.conversion.week_over_week` with
        ``current=`` the latest selected week, the explorer's settings and contacts,
        and the events before the selection's end (kept per setting).
        """
        latest = self.weeks.value[1]
        key = (self._definition_key, *self._reading, latest, until)
        if key not in self._comparisons:
            try:
                comparison: Any = week_over_week(
                    self._events,
                    definition,
                    window=self.window.value,
                    order=self.order.value,
                    stage_steps=self.reading.value,
                    contacts=self._contacts,
                    current=datetime(latest.year, latest.month, latest.day, tzinfo=UTC),
                    until=until,
                    classified=self._entries(definition, until),
                )
            except ParameterError:
                comparison = None
            _remember(self._comparisons, key, comparison)
        comparison = self._comparisons[key]
        if comparison is None:
            return f"{_iso(latest, lang)}{colon(lang)}{_word('no_week', lang)}"
        return _change_line(comparison, definition, lang)

    def _first_events(self) -> pl.DataFrame:
        """Return each contact's first event, kept: who has an event before an instant.

        :func:`~funnelkit.figure_input.contacts_without_events` asks only
        whether a contact has an event before ``until``, which its first event
        tells: the weeks and settings change without reading every event again.
        """
        if self._first is None:
            # a canonical events frame: one event (any) at each contact's first instant
            self._first = self._events.group_by(CONTACT_ID).agg(
                pl.col(OCCURRED_AT).min(), pl.col(EVENT).first()
            )
        return self._first

    def _entries(
        self, definition: Funnel, until: datetime, by: str | None = None
    ) -> pl.DataFrame | None:
        """Return the classification the stage entries are read from (by entry), kept.

        It depends on the definition and ``until`` only: every window, order,
        first week and breakdown, and the week-over-week line, read the one
        classification (:func:`funnelkit.entry.entry_classification`).
        With ``by`` an events column, the kept classification also carries
        that column's value at the first stage's entry
        (:func:`funnelkit.conversion.with_entry_values`, read once per column),
        which :func:`~funnelkit.conversion.funnel` reads for its breakdown
        instead of the events.
        """
        if self.reading.value != "entry":
            return None
        key = (self._definition_key, until)
        if key not in self._classified:
            found = self._prepared(("classify", *key), definition.name)
            if found is None:
                found = entry_classification(
                    self._events, definition, until=until, contacts=self._contacts
                )
            _remember(self._classified, key, found, keep=_KEPT_CLASSIFIED)
        classified = self._classified[key]
        first = definition.stage_ids[0]
        if (
            by is not None
            and by in self._events.columns
            and entry_value_column(first, by) not in classified.columns
        ):
            # Every events column offered, in the one join: the next breakdown is free.
            columns = self._carried if by in self._carried else (*self._carried, by)
            carried = self._prepared(("carry", *key, columns), by)
            if carried is None:
                carried = with_entry_values(
                    classified, self._events, definition, columns, stage=first, until=until
                )
            classified = self._classified[key] = carried
        return classified

    # --- the background --------------------------------------------------------
    def _prepared(self, key: tuple[Any, ...], what: str) -> Any:
        """Return the background's result for ``key``, waiting for it if it is under way.

        ``None`` when there is none (not planned, not started: the caller computes it).
        While it waits, the status line says what it waits for.
        """
        if self._background is None:
            return None
        if self._background.running(key):
            self.status.value = format_html(
                "<small style='color:#757575'>{}</small>",
                _word(f"waiting_{key[0]}", self._lang).format(what=what),
            )
        return self._background.take(key)

    def _tasks(self, definition: Funnel, until: datetime) -> list[Task]:
        """Return what the next change may need, most costly first, each computed alone.

        The classification of every other preset for the same last week (a
        change of definition), then the offered events columns' values at
        entry for the classification shown (a breakdown).  What is kept already
        is not planned.  Read by evidence nothing is classified: nothing is.
        """
        if self.reading.value != "entry" or self._pieces is None:
            return []
        # each task reads one group of contacts at a time (it gives way to updates between two)
        events, frames, pieces = self._events, (self._events, self._contacts), self._pieces
        tasks: list[Task] = []
        for name in list_presets():
            if name == self._definition_key or (name, until) in self._classified:
                continue
            try:
                other = self._definitions.get(name) or load_funnel(name)
            except FunnelkitError:
                continue  # said when it is chosen
            self._definitions[name] = other

            def classify(
                events: Events, contacts: Contacts | None, other: Funnel = other
            ) -> pl.DataFrame:
                return entry_classification(events, other, until=until, contacts=contacts)

            tasks.append((("classify", name, until), partial(pieces.run, classify, *frames)))
        key = (self._definition_key, until)
        kept = self._classified.get(key)
        first = definition.stage_ids[0]
        if self._carried and kept is not None:
            if entry_value_column(first, self._carried[0]) not in kept.columns:
                columns = self._carried

                def carry(kept: pl.DataFrame, events: Events) -> pl.DataFrame:
                    return with_entry_values(
                        kept, events, definition, columns, stage=first, until=until
                    )

                tasks.append((("carry", *key, columns), partial(pieces.run, carry, kept, events)))
        return tasks

    def _prepare(self, definition: Funnel, until: datetime) -> None:
        """Start computing, in the background, what the next change may need."""
        if self._background is not None:
            self._background.plan(self._tasks(definition, until))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the background computations are done; return whether they are.

        The explorer works without calling it: a change that needs a result still
        under way waits for it.  Scripts and benchmarks call it to time an update
        with everything prepared, or to be sure no thread is left.

        Parameters
        ----------
        timeout
            The longest wait in seconds, ``None`` for no limit.

        Returns
        -------
        bool
            ``True`` when nothing runs in the background any more.

        Examples
        --------
        >>> from funnelkit.sample import generate
        >>> events, contacts = generate(200)
        >>> explore(events, contacts).wait()
        True

        See the guide: docs/guides/explorer.md
        """
        return True if self._background is None else self._background.wait(timeout)

    @property
    def _reading(self) -> tuple[Any, Any, Any]:
        """The window, order and stage reading: what every computation reads."""
        return (self.window.value, self.order.value, self.reading.value)

    # --- display ---------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


#: Funnel results and comparisons kept per explorer (the last settings).
_KEPT = 16
#: Classifications kept per explorer (one row per contact each: far bigger than a result).
_KEPT_CLASSIFIED = 3


def _remember(
    kept: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any, *, keep: int = _KEPT
) -> None:
    """Keep ``value`` under ``key``, forgetting the oldest entries beyond ``keep``."""
    kept[key] = value
    while len(kept) > keep:
        del kept[next(iter(kept))]


def _wait_fr(value: object) -> str:
    """Return a wait in French, short: ``45 min``, ``5,5 h``, ``12,3 j``."""
    if not isinstance(value, timedelta):
        return ""
    seconds = value.total_seconds()
    if seconds < 3600:
        return f"{seconds / 60:.0f}\u00a0min"
    if seconds < 86400:
        return f"{format_num(seconds / 3600, 'fr')}\u00a0h"
    return f"{format_num(seconds / 86400, 'fr')}\u00a0j"


def _paths_html_fr(paths: Any, definition: Funnel) -> Markup:
    """Return the drop-off paths' groups and paths as two tables, every word in French."""
    from funnelkit.paths import NO_EVENT, OTHER, group_label

    names = {s.label("en"): s.label("fr") for s in definition.stages}
    names.update({s.id: s.label("fr") for s in definition.stages})
    before = names.get(paths.from_name, paths.from_name)
    after = names.get(paths.to_name, paths.to_name)
    words = {NO_EVENT: text("paths_no_event", "fr"), OTHER: f"({text('other', 'fr').lower()})"}
    caption = (
        f"Après {before} (étape {paths.step})\u00a0: qui est passé à {after}, qui s'est arrêté "
        f"(fenêtre de {_wait_fr(paths.window)})"
    )
    groups: list[tuple[str, ...]] = [
        (
            group_label(r["group"], after, "fr"),
            format_int(r["contacts"], "fr"),
            format_pct(r["share"], "fr"),
            _wait_fr(r["q1"]),
            _wait_fr(r["median"]),
            _wait_fr(r["q3"]),
        )
        for r in paths.groups.iter_rows(named=True)
    ]
    rows: list[tuple[str, ...]] = [
        (
            group_label(r["group"], after, "fr"),
            str(r["length"]),
            " → ".join(words.get(e, e) for e in str(r["path"]).split(" → ")),
            format_int(r["contacts"], "fr"),
            format_pct(r["share"], "fr"),
        )
        for r in paths.table.iter_rows(named=True)
    ]
    heads = (
        ("groupe", "contacts", "part", "q1", "médiane", "q3"),
        ("groupe", "événements", "parcours", "contacts", "part du groupe"),
    )
    captions = (caption, f"Événements suivants après {before} (répétitions consécutives réunies)")
    tables = [
        format_html(
            "<table class='funnelkit'><caption style='text-align:left'>{}</caption>"
            "<thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
            said,
            join_html(format_html("<th>{}</th>", h) for h in head),
            join_html(
                format_html("<tr>{}</tr>", join_html(format_html("<td>{}</td>", c) for c in row))
                for row in body
            ),
        )
        for said, head, body in zip(captions, heads, (groups, rows), strict=True)
    ]
    return format_html("<div>{}</div>", join_html(tables))


def _iso(moment: date, lang: Lang = "en") -> str:
    """Return the week of ``moment`` as ``lang`` names it: ``2026-W47``, ``S47 2026``."""
    return week_label(moment, lang)


def _change_line(comparison: PeriodComparison, definition: Funnel, lang: Lang) -> str:
    """Say how the deepest rate with enough contacts changed, and whether it is noise.

    The weeks and the rates read oldest first: ``2026-W42 → 2026-W43, Client (of
    step 1): 3.7% → 2.2%``; a week whose window is still open is said to be so.
    """
    current = _iso(comparison.current_start, lang)
    weeks = f"{_iso(comparison.previous_start, lang)} → {current}"
    if not comparison.current_complete:
        weeks += f" ({_word('open_week', lang).format(week=current)})"
    table = comparison.table.filter(pl.col("rate") == "from_first")
    usable = table.filter(pl.col("verdict") != "too few")
    if usable.is_empty():
        return f"{weeks}{colon(lang)}{_word('too_few', lang)}"
    row = usable.row(usable.height - 1, named=True)
    names = {s.label("en"): s.label(lang) for s in definition.stages}
    names.update({s.id: s.label(lang) for s in definition.stages})
    label = names.get(row["name"], row["name"])
    points = format_num(100 * row["change"], lang)
    points = ("+" if row["change"] > 0 else "") + points + " pts"
    verdict = _word("noise" if row["verdict"] == "within noise" else "real", lang)
    return (
        f"{weeks}, {label} ({_word('of_first', lang)}){colon(lang)}"
        f"{format_pct(row['previous_rate'], lang)} → "
        f"{format_pct(row['current_rate'], lang)} ({points}, {verdict})"
    )


def explore(
    events: Events,
    contacts: Contacts | None = None,
    *,
    funnel: str = "inbound",
    window: str = "14d",
    order: str = "ordered",
    stage_steps: str = "entry",
    lang: Lang = "en",
    background: bool = True,
) -> Explorer:
    """Open the funnel explorer on ``events`` (display the returned object).

    Widgets choose the definition, weeks, window, order, stage reading,
    breakdown and language; the figure and its table follow them.

    Parameters
    ----------
    events
        An :class:`~funnelkit.events.EventLog` or a canonical polars frame;
        read into memory once.
    contacts
        The contacts table, to break down by a contact attribute
        (``source``, ``segment``, ``country``).
    funnel
        The definition shown first: a preset name or a ``.toml`` path.
    window, order, lang
        The first conversion window, order rule and language.
    stage_steps
        How the definition's stages are read as steps at first: ``"entry"``
        (the default: the instant :func:`~funnelkit.stages.classify` says the
        stage was entered, so the counts are those of the snapshot) or
        ``"evidence"`` (any one evidence event reaches a stage); the
        ``reading`` toggle changes it.
    background
        After each update, compute in a background thread what the next
        change may need (the other presets' classification, the breakdown
        columns' values at entry); ``False`` computes everything when asked.

    Returns
    -------
    Explorer
        Its widgets are attributes (``definition``, ``path``, ``weeks``,
        ``window``, ``order``, ``reading``, ``breakdown``, ``lang``): set their ``value``
        to drive it; ``figure`` holds the current figure.

    Raises
    ------
    ParameterError
        The events are empty or not an event log nor a polars frame.

    Examples
    --------
    >>> from funnelkit.sample import generate
    >>> events, contacts = generate(200)
    >>> app = explore(events, contacts)
    >>> app.window.value = "7d"

    See the guide: docs/guides/explorer.md
    """
    return Explorer(
        events,
        contacts,
        funnel=funnel,
        window=window,
        order=order,
        stage_steps=stage_steps,
        lang=lang,
        background=background,
    )
