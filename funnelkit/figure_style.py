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

import math
from datetime import date, datetime, timedelta
from typing import Literal

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from funnelkit.errors import ParameterError, did_you_mean
from funnelkit.markup import PLOT_ESCAPES

__all__ = [
    "INK",
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
    "colour_of",
    "format_int",
    "format_num",
    "format_pct",
    "format_table",
    "register_template",
    "rgba",
    "shown",
    "stage_colour",
    "text",
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
#: Contacts needed before a step for its loss to count as the biggest leak.
LEAK_BASE = 30
#: Outline and text colour of the biggest leak.
LEAK_COLOUR = "#B2182B"
NEUTRAL = "#9E9E9E"
INK = "#2B2B2B"
_FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
SEQUENTIAL = [[0.0, "#F3F7FB"], [0.35, "#9ECAE1"], [0.7, "#3A89C9"], [1.0, "#08306B"]]

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "contacts": "Contacts",
        "of_previous": "of previous",
        "of_first": "of first",
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
    },
    "fr": {
        "contacts": "Contacts",
        "of_previous": "de l'étape précédente",
        "of_first": "du premier stade",
        "funnel": "Entonnoir",
        "biggest_leak": "Plus grosse fuite",
        "leak": "{before} → {after} : seuls {rate} franchissent l'étape",
        "conversion": "Conversion",
        "conversion_from_first": "Conversion depuis {stage}",
        "entry_period": "Période d'entrée",
        "incomplete": "incomplète",
        "incomplete_note": "pointillés : fenêtre encore ouverte, taux provisoire",
        "interval": "intervalle à 95 %",
        "time_to_convert": "Délai de conversion",
        "days": "jours",
        "hours": "heures",
        "median": "médiane",
        "p90": "p90",
        "cohort": "Cohorte d'acquisition",
        "days_since": "Jours depuis l'acquisition",
        "share_reached": "Part ayant atteint {stage}",
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
    },
}


# --------------------------------------------------------------------------- look
def register_template() -> str:
    """Register the ``"funnelkit"`` plotly template and return its name.

    Done once when this module (or :mod:`funnelkit.figures`) is imported; call it again after
    something replaced ``plotly.io.templates["funnelkit"]``.  The template is not
    made the global default: figures name it themselves.

    Examples
    --------
    >>> import plotly.io as pio
    >>> register_template() in pio.templates
    True
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

    Examples
    --------
    >>> stage_colour(1), stage_colour(4)
    ('#56B4E9', '#E69F00')
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

    Examples
    --------
    >>> text("days_since", "fr")
    "Jours depuis l'acquisition"
    """
    words = _TEXT[check_lang(lang)]
    return words[key].format(**values) if values else words[key]


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
    """Give ``fig`` the funnelkit template, ``title`` and the number separators of ``lang``."""
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title},
        separators=".," if lang == "en" else ", ",
    )
    return fig


# --------------------------------------------------------------------------- text
def format_table(frame: pl.DataFrame, *, digits: int = 3) -> str:
    """Return ``frame`` as fixed plain text, the same on every machine.

    Meant for outputs compared across runs (notebook checks, logs): no shape
    line, no type row, every row and column shown, floats with ``digits``
    decimals.

    Examples
    --------
    >>> print(format_table(pl.DataFrame({"stage": ["a", "b"], "rate": [1.0, 0.25]})))
    stage   rate
    a      1.000
    b      0.250
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
