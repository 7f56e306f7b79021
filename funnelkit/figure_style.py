"""The look every funnelkit figure shares, and its words.

The ``"funnelkit"`` plotly template (:data:`TEMPLATE`, registered when this
module is imported), one colour per stage rank (:func:`stage_colour`), the
figures' wording in English and French (:func:`text`, with numbers written
:func:`format_pct`, :func:`format_int` and :func:`format_num`: a decimal comma
in French), the escaping of texts from data before plotly draws them
(:func:`shown`), the layout every figure ends with (:func:`base_layout`) and
plain-text tables (:func:`format_table`).  The figures are in
:mod:`funnelkit.figures`.
"""

from __future__ import annotations

import html
import math
import re
from datetime import date, datetime, timedelta
from typing import Literal

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from funnelkit.errors import ParameterError, did_you_mean
from funnelkit.markup import PLOT_ESCAPES
from funnelkit.stats import LEAK_BASE as LEAK_BASE

__all__ = [
    "INK",
    "LANE_FONT",
    "LANGS",
    "LEAK_BASE",
    "LEAK_COLOUR",
    "NEUTRAL",
    "SEQUENTIAL",
    "STAGE_COLOURS",
    "TEMPLATE",
    "Lang",
    "base_layout",
    "check_lang",
    "colon",
    "colour_of",
    "format_date",
    "format_int",
    "format_num",
    "format_pct",
    "format_table",
    "period_label",
    "register_template",
    "rgba",
    "sankey_hovers",
    "shown",
    "stage_colour",
    "text",
    "text_width",
    "week_label",
]

Lang = Literal["en", "fr"]
LANGS: tuple[Lang, ...] = ("en", "fr")
TEMPLATE = "funnelkit"

#: One colour per stage rank (1 = first stage), colour-blind safe (Okabe-Ito
#: hues ordered from cool, early stages, to warm, late stages).
STAGE_COLOURS: tuple[str, ...] = (
    "#56B4E9",  # 1 sky blue
    "#0072B2",  # 2 blue
    "#009E73",  # 3 green
    "#E69F00",  # 4 orange
    "#D55E00",  # 5 vermillion
    "#CC79A7",  # 6 pink
    "#8C6D31",  # 7 brown
    "#6B6B6B",  # 8 grey
)
#: Outline and text colour of the biggest leak.
LEAK_COLOUR = "#B2182B"
NEUTRAL = "#9E9E9E"
INK = "#2B2B2B"
_FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
SEQUENTIAL = [[0.0, "#F3F7FB"], [0.35, "#9ECAE1"], [0.7, "#3A89C9"], [1.0, "#08306B"]]

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "contacts": "Contacts",
        "of_previous": "of previous step",
        "of_first": "of step 1",
        "funnel": "Funnel",
        "biggest_leak": "Biggest leak",
        "leak": "{before} → {after}: only {rate} make the step",
        "conversion": "Conversion",
        "conversion_from_first": "Conversion from {stage}",
        "entry_period": "Entry period",
        "incomplete": "incomplete",
        "incomplete_note": "dashed: window still open, rate not final",
        "interval": "95% interval",
        "time_to_convert": "Time to convert",
        "days": "days",
        "hours": "hours",
        "median": "median",
        "p90": "p90",
        "cohort": "Acquisition cohort",
        "days_since": "Days since acquisition",
        "share_reached": "Share that reached {stage}",
        "target": "the target",
        "stage_flows": "Stage flows",
        "at_start": "at start",
        "at_end": "at end",
        "new": "New contacts",
        "same_contacts": "Same contacts, two definitions",
        "paths_title": "After {step}: what contacts did next",
        "paths_went_on": "went on to {step}",
        "paths_stopped": "stopped (window closed)",
        "paths_open": "not yet (window still open)",
        "paths_no_event": "(no further event)",
        "contact": "Contact {id}",
        "event": "Event",
        "reached": "reached {stage}",
        "too_small": "Too few contacts to show: {n} (at least {min} needed)",
        "no_data": "No data to show",
        "other": "Other",
        "not_set": "(not set)",
        "not_set_note": "(not set): no {by} value when they entered {stage}.",
        "without_events": (
            "Step 1 counts {n} contacts with no events: contacts of the contacts table, "
            "in {stage} from the day they were created."
        ),
    },
    "fr": {
        "contacts": "Contacts",
        "of_previous": "de l'étape précédente",
        "of_first": "de l'étape 1",
        "funnel": "Entonnoir",
        "biggest_leak": "Plus grosse fuite",
        "leak": "{before} → {after} : seuls {rate} franchissent l'étape",
        "conversion": "Conversion",
        "conversion_from_first": "Conversion depuis {stage}",
        "entry_period": "Période d'entrée",
        "incomplete": "incomplète",
        "incomplete_note": "pointillés : fenêtre encore ouverte, taux provisoire",
        "interval": "intervalle à 95\u202f%",
        "time_to_convert": "Délai de conversion",
        "days": "jours",
        "hours": "heures",
        "median": "médiane",
        "p90": "p90",
        "cohort": "Cohorte d'acquisition",
        "days_since": "Jours depuis l'acquisition",
        "share_reached": "Part ayant atteint {stage}",
        "target": "l'objectif",
        "stage_flows": "Flux entre stades",
        "at_start": "au début",
        "at_end": "à la fin",
        "new": "Nouveaux contacts",
        "same_contacts": "Mêmes contacts, deux définitions",
        "paths_title": "Après {step} : ce que les contacts ont fait ensuite",
        "paths_went_on": "passés à {step}",
        "paths_stopped": "arrêtés (fenêtre close)",
        "paths_open": "pas encore (fenêtre ouverte)",
        "paths_no_event": "(plus aucun événement)",
        "contact": "Contact {id}",
        "event": "Événement",
        "reached": "atteint {stage}",
        "too_small": "Trop peu de contacts pour afficher : {n} (au moins {min} requis)",
        "no_data": "Aucune donnée à afficher",
        "other": "Autre",
        "not_set": "(non renseigné)",
        "not_set_note": "(non renseigné) : pas de valeur de {by} à leur entrée en {stage}.",
        "without_events": (
            "L'étape 1 compte {n} contacts sans événement : ceux de la table des contacts, "
            "en {stage} depuis le jour de leur création."
        ),
    },
}


# --------------------------------------------------------------------------- look
def register_template() -> str:
    """Register the ``"funnelkit"`` plotly template and return its name.

    Done once when this module (or :mod:`funnelkit.figures`) is imported; call it
    again after something replaced ``plotly.io.templates["funnelkit"]``.  The
    template is not made the global default: figures name it themselves.

    Returns
    -------
    str
        ``"funnelkit"``.

    Examples
    --------
    >>> import plotly.io as pio
    >>> register_template() in pio.templates
    True

    See the guide: docs/guides/explorer.md
    """
    axis = {
        "showgrid": True,
        "gridcolor": "#ECECEC",
        "zeroline": False,
        "linecolor": "#BDBDBD",
        "ticks": "outside",
        "tickcolor": "#BDBDBD",
        "title": {"standoff": 8},
        "automargin": True,
    }
    pio.templates[TEMPLATE] = go.layout.Template(
        layout={
            "font": {"family": _FONT, "size": 13, "color": INK},
            "title": {"x": 0.0, "xanchor": "left", "font": {"size": 17}},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "colorway": list(STAGE_COLOURS),
            "colorscale": {"sequential": SEQUENTIAL},
            "xaxis": axis,
            "yaxis": axis,
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0.0},
            "margin": {"l": 70, "r": 30, "t": 90, "b": 60},
            "hoverlabel": {"font": {"family": _FONT}},
            "hovermode": "closest",
        }
    )
    return TEMPLATE


register_template()


def stage_colour(rank: int) -> str:
    """Return the colour of the stage at ``rank`` (1 = first stage).

    The same rank has the same colour in every funnelkit figure; ranks past the
    palette wrap around.

    Parameters
    ----------
    rank
        The stage's rank, from 1.

    Returns
    -------
    str
        A ``#RRGGBB`` colour of a palette readable by colour-blind readers.

    Examples
    --------
    >>> stage_colour(1), stage_colour(4)
    ('#56B4E9', '#E69F00')

    See the concept page: docs/concepts/stages.md
    """
    if rank < 1:
        return NEUTRAL
    return STAGE_COLOURS[(rank - 1) % len(STAGE_COLOURS)]


def colour_of(column: str) -> pl.Expr:
    """Return the stage colour of the ranks in ``column`` (null stays null)."""
    palette = {rank: stage_colour(rank) for rank in range(1, len(STAGE_COLOURS) + 1)}
    wrapped = (pl.col(column) - 1) % len(STAGE_COLOURS) + 1
    return (
        pl.when(pl.col(column) >= 1)
        .then(wrapped.replace_strict(palette, return_dtype=pl.String))
        .when(pl.col(column).is_not_null())
        .then(pl.lit(NEUTRAL))
    )


def text(key: str, lang: Lang = "en", **values: object) -> str:
    """Return the figure wording ``key`` in ``lang``, formatted with ``values``.

    Every word a figure shows comes from one table, in English and French.

    Parameters
    ----------
    key
        The wording's key.
    lang
        ``"en"`` or ``"fr"``.
    **values
        The values its ``{}`` fields take.

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.
    KeyError
        When ``key`` is unknown.

    Examples
    --------
    >>> text("days_since", "fr")
    "Jours depuis l'acquisition"

    See the concept page: docs/concepts/stages.fr.md
    """
    words = _TEXT[check_lang(lang)]
    return words[key].format(**values) if values else words[key]


def colon(lang: Lang) -> str:
    """Return the colon of ``lang``: ``": "`` in English, ``" : "`` (a space before) in French."""
    return ": " if lang == "en" else "\u00a0: "


def check_lang(lang: str) -> Lang:
    """Return ``lang`` when it is ``"en"`` or ``"fr"``, else raise :class:`ParameterError`."""
    if lang not in LANGS:
        msg = f"lang must be 'en' or 'fr', got {lang!r}.{did_you_mean(str(lang), LANGS)}"
        raise ParameterError(msg)
    return "fr" if lang == "fr" else "en"


def format_pct(value: float | None, lang: Lang, digits: int = 1) -> str:
    """Return the share ``value`` as a percentage in ``lang`` (``–`` for none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    number = f"{100 * value:.{digits}f}"
    return f"{number}%" if lang == "en" else number.replace(".", ",") + "\u202f%"


def format_int(value: int | float | None, lang: Lang) -> str:
    """Return ``value`` as a whole number with thousands separators in ``lang``."""
    if value is None:
        return "–"
    number = f"{int(value):,}"
    return number if lang == "en" else number.replace(",", "\u202f")


def format_num(value: float, lang: Lang, digits: int = 1) -> str:
    """Return ``value`` with ``digits`` decimals, a decimal comma in French."""
    number = f"{value:.{digits}f}"
    return number if lang == "en" else number.replace(".", ",")


_MONTHS_FR = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def format_date(value: date | datetime | None, lang: Lang, *, time: bool = False) -> str:
    """Return the day of ``value`` as a person of ``lang`` reads it (``–`` for none).

    English keeps ISO 8601 (``2026-11-02``); French writes the day, the short
    month and the year (``2 nov. 2026``).  With ``time``, the hour and minute
    follow (``2026-11-02 09:30``, ``2 nov. 2026, 09:30``).

    Examples
    --------
    >>> format_date(date(2026, 11, 2), "en"), format_date(date(2026, 11, 2), "fr")
    ('2026-11-02', '2 nov. 2026')
    >>> format_date(datetime(2026, 2, 1, 9, 30), "fr", time=True)
    '1 févr. 2026, 09:30'
    """
    if value is None:
        return "–"
    if lang == "fr":
        day = f"{value.day} {_MONTHS_FR[value.month - 1]} {value.year}"
        clock = f", {value:%H:%M}" if time and isinstance(value, datetime) else ""
    else:
        day = f"{value:%Y-%m-%d}"
        clock = f" {value:%H:%M}" if time and isinstance(value, datetime) else ""
    return day + clock


_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def week_label(week: object, lang: Lang) -> str:
    """Return the ISO week ``week`` (``"2026-W47"``, an ``IsoWeek`` or a day in it) for a reader.

    English keeps the ISO label; French writes ``S47 2026`` (*semaine* 47).
    Files, folders and ``metrics.json`` keep the ISO label: this is for what a
    person reads.

    Examples
    --------
    >>> week_label("2026-W47", "fr"), week_label(date(2026, 11, 18), "fr")
    ('S47 2026', 'S47 2026')
    >>> week_label("2026-W47", "en")
    '2026-W47'
    """
    if isinstance(week, date):
        year, number, _ = week.isocalendar()
    else:
        match = _ISO_WEEK.match(str(week))
        if match is None:
            return str(week)
        year, number = int(match[1]), int(match[2])
    return f"{year}-W{number:02d}" if lang == "en" else f"S{number:02d} {year}"


def period_label(value: object, lang: Lang) -> str:
    """Return the name of a period (a day, an ISO week) as a reader of ``lang`` writes it.

    Days as :func:`format_date` writes them, ISO weeks as :func:`week_label`
    does; other texts are returned as they are.

    Examples
    --------
    >>> period_label("2026-11-02", "fr"), period_label("2026-W45", "fr"), period_label("w1", "fr")
    ('2 nov. 2026', 'S45 2026', 'w1')
    """
    if isinstance(value, date):
        return format_date(value, lang)
    if _ISO_DAY.match(str(value)):
        return format_date(date.fromisoformat(str(value)), lang)
    return week_label(value, lang)


def sankey_hovers(
    sources: list[int], targets: list[int], values: list[int], nodes: int, lang: Lang
) -> tuple[dict[str, object], dict[str, object]]:
    """Return the hover settings of a Sankey's nodes and links, numbers written in ``lang``.

    Plotly's own Sankey hover says "incoming flow count" in English; these
    name the node (or both ends of a link) and its contacts, counted as
    plotly sizes a node: the larger of what flows in and what flows out.

    Examples
    --------
    >>> node, link = sankey_hovers([0, 0], [1, 2], [1200, 3], 3, "fr")
    >>> node["customdata"], link["customdata"]
    (['1\u202f203', '1\u202f200', '3'], ['1\u202f200', '3'])
    """
    inflow, outflow = [0] * nodes, [0] * nodes
    for source, target, value in zip(sources, targets, values, strict=True):
        outflow[source] += value
        inflow[target] += value
    people = text("contacts", lang).lower()
    node: dict[str, object] = {
        "customdata": [format_int(max(i, o), lang) for i, o in zip(inflow, outflow, strict=True)],
        "hovertemplate": f"%{{label}}<br>%{{customdata}} {people}<extra></extra>",
    }
    link: dict[str, object] = {
        "customdata": [format_int(v, lang) for v in values],
        "hovertemplate": (
            f"%{{source.label}} → %{{target.label}}<br>%{{customdata}} {people}<extra></extra>"
        ),
    }
    return node, link


def rgba(colour: str, alpha: float) -> str:
    """Return the ``#RRGGBB`` ``colour`` with opacity ``alpha`` as ``rgba(...)``."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def shown(table: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Return ``table`` with its texts escaped for plotly (every text column, or ``columns``).

    Stage labels, segment values, event names and every other text from data or
    a definition are drawn through this (or :func:`funnelkit.markup.plot_text`
    for a single text), so that plotly shows them as written and never reads
    a tag, a link or a style in them.  The ``*_table`` functions keep the raw
    texts; only what is drawn is escaped.
    """

    def escaped(expr: pl.Expr) -> pl.Expr:
        for character, entity in PLOT_ESCAPES:
            expr = expr.str.replace_all(character, entity, literal=True)
        return expr

    names = columns or tuple(table.columns)
    exprs = []
    for name in names:
        dtype = table.schema[name]
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            exprs.append(escaped(pl.col(name).cast(pl.String)))
        elif dtype == pl.List(pl.String):
            exprs.append(pl.col(name).list.eval(escaped(pl.element())))
    return table.with_columns(exprs) if exprs else table


def base_layout(fig: go.Figure, lang: Lang, title: str) -> go.Figure:
    """Give ``fig`` the funnelkit template, ``title``, the separators of ``lang``, no fixed size."""
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title},
        # French: a decimal comma and a narrow no-break space between thousands, as
        # format_int writes them, for every number plotly writes itself (Sankey values).
        separators=".," if lang == "en" else ",\u202f",
        # The width of the page or cell holding it, redrawn when it changes: never a
        # fixed 700 px that cuts what is drawn beside the plot.
        autosize=True,
    )
    if lang == "fr":
        _french_percent_ticks(fig)
        _french_date_ticks(fig)
    return fig


def _french_date_ticks(fig: go.Figure) -> None:
    """Write the days of a date x axis with numbers (``02/11/2026``): no English month name.

    Plotly names months in English unless a locale is loaded in the page; a
    numeric day reads the same in every language.
    """
    for trace in fig.data:
        xs = getattr(trace, "x", None)
        if xs is None or not len(xs) or not isinstance(xs[0], date):
            continue
        fig.update_xaxes(tickformat="%d/%m/%Y")
        return


_PERCENT_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25)


def _french_percent_ticks(fig: go.Figure) -> None:
    """Write a percent y axis's ticks the French way (``20 %``): d3 formats cannot.

    Plotly's ``tickformat=".0%"`` glues the sign to the number; the ticks are
    given as values and texts instead, from 0 to the highest value drawn.
    """
    for axis in fig.select_yaxes():
        if axis.tickformat != ".0%":
            continue
        top = 0.0
        for trace in fig.data:
            values = [*(getattr(trace, "y", None) or ())]
            error = getattr(trace, "error_y", None)
            if error is not None and error.array is not None:
                values += [v + e for v, e in zip(values, error.array, strict=False) if v and e]
            top = max([top, *(v for v in values if isinstance(v, int | float) and v == v)])
        step = next((s for s in _PERCENT_STEPS if top / s <= 8), 0.25)
        ticks = [round(i * step, 4) for i in range(math.floor(top / step) + 2)]
        axis.update(
            tickformat=None,
            tickmode="array",
            tickvals=ticks,
            ticktext=[format_pct(v, "fr", digits=0) for v in ticks],
        )


#: Width of one character of the figures' font, in pixels per pixel of font size: a
#: generous estimate (digits and lower case are narrower), so that a lane is never
#: narrower than its text.
_CHAR_WIDTH = 0.62
#: Font size of the texts written beside a plot (rates, markers).
LANE_FONT = 12


def text_width(value: str, size: int = LANE_FONT) -> int:
    """Return a generous estimate of the width of ``value`` drawn at ``size`` px, in pixels.

    Used to size margins so that no label is cut; tags (``<b>``, ``<br>``)
    are left out and the widest line counts.

    Parameters
    ----------
    value
        The text, possibly with plotly tags.
    size
        The font size, in pixels.

    Returns
    -------
    int

    Examples
    --------
    >>> text_width("Biggest leak") < text_width("Plus grosse fuite")
    True

    See the guide: docs/guides/explorer.md
    """
    lines = re.sub(r"<(?!br)[^>]*>", "", value).split("<br>")
    widest = max(len(html.unescape(line)) for line in lines)
    return math.ceil(widest * size * _CHAR_WIDTH)


# --------------------------------------------------------------------------- text
def format_table(frame: pl.DataFrame, *, digits: int = 3) -> str:
    """Return ``frame`` as fixed plain text, the same on every machine.

    Meant for outputs compared across runs (notebook checks, logs): no shape
    line, no type row, every row and column shown, floats with ``digits``
    decimals.

    Parameters
    ----------
    frame
        A small table.
    digits
        Decimals of the float columns.

    Returns
    -------
    str

    Examples
    --------
    >>> print(format_table(pl.DataFrame({"stage": ["a", "b"], "rate": [1.0, 0.25]})))
    stage   rate
    a      1.000
    b      0.250

    See the concept page: docs/concepts/sample-data.md
    """
    columns = frame.columns
    cells: list[list[str]] = [list(columns)]
    cells.extend([_cell(v, digits) for v in row] for row in frame.iter_rows())
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    numeric = [frame.schema[c].is_numeric() for c in columns]
    lines = []
    for line in cells:
        parts = [
            v.rjust(w) if is_number else v.ljust(w)
            for v, w, is_number in zip(line, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: object, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)
