"""Plotly figures drawn from funnelkit's computed tables.

Every figure comes from a function that takes a computed result (or the tidy
table its ``to_polars()`` returns) and gives back a
:class:`plotly.graph_objects.Figure`.  Computing and drawing are kept apart: the
``*_table`` functions prepare exactly what is drawn (labels, colours,
percentages, the biggest leak) as a small polars frame that tests and reports
can read, and the ``*_figure`` functions only draw it.

One look for the whole kit
--------------------------
* Figures use the ``"funnelkit"`` plotly template (:data:`TEMPLATE`), registered
  when this module is imported.
* Each stage has one colour, chosen by its rank in the funnel
  (:func:`stage_colour`), so "client" (rank 4 in ``inbound``) is drawn in the
  same colour in the funnel, the trends, the flows and a contact's timeline.
* ``lang="fr"`` writes titles, axes and stage names in French: stage names come
  from the funnel definition's ``fr`` labels, numbers use a decimal comma.

==================================  ===========================================
figure                              drawn from
==================================  ===========================================
:func:`funnel_figure`               a funnel result (counts per step)
:func:`breakdown_figure`            a funnel result computed ``by=`` a column
:func:`conversion_over_time_figure` conversion per entry period
:func:`time_to_convert_figure`      a funnel's time to convert, or durations
:func:`cohort_figure`               cohort table (cumulative share by day)
:func:`flows_figure`                flows between two instants
:func:`compare_figure`              cross-table of two definitions
:func:`timeline_figure`             one contact's explanation
==================================  ===========================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.subplots import make_subplots

from funnelkit.definitions import list_presets, load_funnel
from funnelkit.errors import MissingColumnError, ParameterError, did_you_mean
from funnelkit.markup import PLOT_ESCAPES, plot_text

__all__ = [
    "LEAK_BASE",
    "LEAK_COLOUR",
    "STAGE_COLOURS",
    "TEMPLATE",
    "Histogram",
    "breakdown_figure",
    "breakdown_table",
    "cohort_figure",
    "cohort_table",
    "compare_figure",
    "compare_table",
    "conversion_over_time_figure",
    "conversion_over_time_table",
    "flows_figure",
    "flows_table",
    "format_table",
    "funnel_figure",
    "funnel_table",
    "register_template",
    "stage_colour",
    "stage_labels",
    "text",
    "time_to_convert_figure",
    "time_to_convert_table",
    "timeline_figure",
    "timeline_table",
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
_NEUTRAL = "#9E9E9E"
_INK = "#2B2B2B"
_FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
_SEQUENTIAL = [[0.0, "#F3F7FB"], [0.35, "#9ECAE1"], [0.7, "#3A89C9"], [1.0, "#08306B"]]

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

    Done once when :mod:`funnelkit.figures` is imported; call it again after
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
            "font": {"family": _FONT, "size": 13, "color": _INK},
            "title": {"x": 0.0, "xanchor": "left", "font": {"size": 17}},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "colorway": list(STAGE_COLOURS),
            "colorscale": {"sequential": _SEQUENTIAL},
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
        return _NEUTRAL
    return STAGE_COLOURS[(rank - 1) % len(STAGE_COLOURS)]


def _colour_of(column: str) -> pl.Expr:
    """Return the stage colour of the ranks in ``column`` (null stays null)."""
    palette = {rank: stage_colour(rank) for rank in range(1, len(STAGE_COLOURS) + 1)}
    wrapped = (pl.col(column) - 1) % len(STAGE_COLOURS) + 1
    return (
        pl.when(pl.col(column) >= 1)
        .then(wrapped.replace_strict(palette, return_dtype=pl.String))
        .when(pl.col(column).is_not_null())
        .then(pl.lit(_NEUTRAL))
    )


def text(key: str, lang: Lang = "en", **values: object) -> str:
    """Return the figure wording ``key`` in ``lang``, formatted with ``values``.

    Examples
    --------
    >>> text("days_since", "fr")
    "Jours depuis l'acquisition"
    """
    words = _TEXT[_check_lang(lang)]
    return words[key].format(**values) if values else words[key]


def _check_lang(lang: str) -> Lang:
    if lang not in LANGS:
        msg = f"lang must be 'en' or 'fr', got {lang!r}.{did_you_mean(str(lang), LANGS)}"
        raise ParameterError(msg)
    return "fr" if lang == "fr" else "en"


def _pct(value: float | None, lang: Lang, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    number = f"{100 * value:.{digits}f}"
    return f"{number}%" if lang == "en" else number.replace(".", ",") + "\u202f%"


def _int(value: int | float | None, lang: Lang) -> str:
    if value is None:
        return "–"
    number = f"{int(value):,}"
    return number if lang == "en" else number.replace(",", "\u202f")


def _num(value: float, lang: Lang, digits: int = 1) -> str:
    number = f"{value:.{digits}f}"
    return number if lang == "en" else number.replace(".", ",")


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _shown(table: pl.DataFrame, *columns: str) -> pl.DataFrame:
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


def _base_layout(fig: go.Figure, lang: Lang, title: str) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title},
        separators=".," if lang == "en" else ", ",
    )
    return fig


# --------------------------------------------------------------------------- stages
def _stages_of(funnel: Any) -> list[Any]:
    stages = getattr(funnel, "stages", None)
    return list(stages) if stages is not None else []


def _stage_id(stage: Any) -> str:
    return str(getattr(stage, "id", stage))


def _stage_label(stage: Any, lang: Lang) -> str:
    labels = getattr(stage, "labels", None)
    if isinstance(labels, Mapping) and labels.get(lang):
        return str(labels[lang])
    label = getattr(stage, "label", None)
    if callable(label):
        return str(label(lang))
    if isinstance(label, str) and label:
        return label
    return _stage_id(stage).replace("_", " ")


def _funnel_name(funnel: Any) -> str | None:
    """Return a definition's name escaped for plotly (for titles and axes)."""
    if isinstance(funnel, str):
        return plot_text(funnel) if funnel else None
    name = getattr(funnel, "name", None)
    return plot_text(name) if name else None


def _name_of(result: Any, funnel: Any) -> str | None:
    """Return the name of the definition behind ``result``, escaped for plotly (for titles)."""
    if funnel is not None:
        return _funnel_name(funnel)
    for attr in ("funnel", "definition"):
        name = _funnel_name(getattr(result, attr, None))
        if name:
            return name
    if isinstance(result, pl.DataFrame) and "funnel" in result.columns and result.height:
        value = result["funnel"][0]
        return plot_text(value) if value is not None else None
    return None


def stage_labels(funnel: Any, lang: Lang = "en") -> dict[str, str]:
    """Return ``{stage id: label in lang}`` for a funnel definition.

    Parameters
    ----------
    funnel
        A :class:`~funnelkit.definitions.Funnel` (anything with ``.stages``
        whose items have an ``id`` and ``labels``), or ``None``.
    lang
        ``"en"`` or ``"fr"``.

    Examples
    --------
    >>> from funnelkit.definitions import load_funnel
    >>> stage_labels(load_funnel("inbound"), "fr")["warm_lead"]
    'Lead chaud'
    """
    lang = _check_lang(lang)
    return {_stage_id(s): _stage_label(s, lang) for s in _stages_of(funnel)}


def _names(stage: Any) -> list[str]:
    """Return every name a table may use for ``stage``: its id and its labels."""
    labels = getattr(stage, "labels", None)
    given = [str(v) for v in labels.values()] if isinstance(labels, Mapping) else []
    return [_stage_id(stage), *given]


def _rank_map(funnel: Any) -> dict[str, int]:
    """Return ``{id or label: rank}`` (results name steps by id or by label)."""
    return {
        name: rank
        for rank, stage in enumerate(_stages_of(funnel), start=1)
        for name in reversed(_names(stage))
    }


def _label_map(funnel: Any, lang: Lang) -> dict[str, str]:
    """Return ``{id or label: label in lang}``."""
    return {
        name: _stage_label(stage, lang)
        for stage in _stages_of(funnel)
        for name in reversed(_names(stage))
    }


def _ranks(funnel: Any) -> dict[str, int]:
    return {_stage_id(s): i for i, s in enumerate(_stages_of(funnel), start=1)}


def _resolve(candidate: Any, ids: Iterable[str] = ()) -> Any:
    """Return a definition from a definition or a preset's name (when its stages fit)."""
    if candidate is None or hasattr(candidate, "stages"):
        return candidate
    if isinstance(candidate, str) and candidate in list_presets():
        preset = load_funnel(candidate)
        if set(ids) <= set(_rank_map(preset)):
            return preset
    return None


def _result_funnel(result: Any, funnel: Any, ids: Iterable[str] = ()) -> Any:
    """Return the definition behind ``result``: given, carried, or a preset by name.

    Results that carry only their definition's name get the preset of that
    name, provided it has every stage id of the table (``ids``).
    """
    if funnel is not None:
        return _resolve(funnel)
    for attr in ("funnel", "definition"):
        found = _resolve(getattr(result, attr, None), ids)
        if found is not None:
            return found
    if isinstance(result, pl.DataFrame) and "funnel" in result.columns and result.height:
        return _resolve(result["funnel"][0], ids)
    return None


def _frame(result: Any, what: str) -> pl.DataFrame:
    if isinstance(result, pl.LazyFrame):
        return result.collect()
    if isinstance(result, pl.DataFrame):
        return result
    to_polars = getattr(result, "to_polars", None)
    if callable(to_polars):
        frame = to_polars()
        return frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    msg = (
        f"cannot draw {what} from a {type(result).__name__}; pass the result funnelkit "
        "computed or its .to_polars() table."
    )
    raise ParameterError(msg)


def _steps_frame(result: Any) -> pl.DataFrame:
    """Return the one-row-per-step table of a funnel result.

    A :class:`~funnelkit.conversion.FunnelResult` computed with ``by=`` gives
    its per-segment breakdown from ``to_polars()``; its ``table`` holds the
    funnel of all contacts, which is what a funnel is drawn from.
    """
    table = getattr(result, "table", None)
    return table if isinstance(table, pl.DataFrame) else _frame(result, "funnel")


def _column(frame: pl.DataFrame, names: Sequence[str], what: str, *, required: bool = True) -> str:
    """Return the first of ``names`` that ``frame`` has."""
    for name in names:
        if name in frame.columns:
            return name
    if not required:
        return ""
    hint = did_you_mean(names[0], frame.columns)
    msg = (
        f"the {what} table has no {names[0]!r} column (columns: {', '.join(frame.columns)}).{hint}"
    )
    raise MissingColumnError(msg)


# --------------------------------------------------------------------------- funnel
_STEP_COLUMNS = ("step", "rank", "stage_rank", "step_rank")
_NAME_COLUMNS = ("name", "stage", "step_name", "stage_id")
_COUNT_COLUMNS = ("count", "at_or_past", "contacts", "n")
_SEGMENT_KEY = "segment"


def funnel_table(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
    segment: str | None = None,
    leak_base: int = LEAK_BASE,
) -> pl.DataFrame:
    """Return what :func:`funnel_figure` draws: one row per step (and segment).

    Parameters
    ----------
    result
        A funnel result (:func:`funnelkit.conversion.funnel`, a snapshot of
        :mod:`funnelkit.stages`) or its ``to_polars()`` table: one row per step
        with a step name (``name`` or ``stage``), a ``count`` (``at_or_past``
        in a snapshot), optionally the step's rank (``step`` or ``rank``) and
        a ``label``; rows in funnel order.  A funnel computed ``by=`` a
        column is drawn for all its contacts (its ``table``) unless
        ``segment`` is given.
    lang
        Language of the stage labels.
    funnel
        The funnel definition, for stage labels in ``lang``.  Without one, the
        table's ``label`` column is used, else the step names as they are.
    segment
        Name of a column holding segments (a breakdown value); each segment is
        its own funnel, in the order they come.
    leak_base
        The biggest leak is looked for among steps whose previous step has at
        least this many contacts (among all steps when none has), so that 1
        client of 3 does not outshout 900 leads of 4,000.

    Returns
    -------
    pl.DataFrame
        ``segment`` (when given), ``rank`` (1 = first step), ``stage``,
        ``label``, ``count``, ``step_conversion`` (count / previous count),
        ``overall_conversion`` (count / first count), ``drop_off`` (previous
        count - count), ``biggest_leak`` (true on the step with the lowest step
        conversion, the first one on ties, see ``leak_base``; never on step 1),
        ``colour``.

    Examples
    --------
    >>> table = funnel_table(pl.DataFrame({"name": ["a", "b", "c"], "count": [100, 40, 30]}))
    >>> table.select("rank", "step_conversion", "biggest_leak").rows()
    [(1, None, False), (2, 0.4, True), (3, 0.75, False)]
    """
    lang = _check_lang(lang)
    frame = _frame(result, "funnel") if segment else _steps_frame(result)
    name_col = _column(frame, _NAME_COLUMNS, "funnel")
    definition = _result_funnel(result, funnel, _ids(frame, name_col))
    count_col = _column(frame, _COUNT_COLUMNS, "funnel")
    keys = [segment] if segment else []
    if segment and segment not in frame.columns:
        hint = did_you_mean(segment, frame.columns)
        msg = f"the funnel table has no segment column {segment!r}.{hint}"
        raise MissingColumnError(msg)
    step_col = _column(frame, _STEP_COLUMNS, "funnel", required=False)
    rank = pl.int_range(1, pl.len() + 1)
    if step_col:
        rank = pl.col(step_col).cast(pl.Int64)
    elif keys:
        rank = rank.over(keys)
    labels = _label_map(definition, lang)
    table = frame.select(
        *(
            pl.col(k).cast(pl.String).fill_null(text("other", lang)).alias(_SEGMENT_KEY)
            for k in keys
        ),
        rank.alias("rank"),
        pl.col(name_col).cast(pl.String).alias("stage"),
        pl.col(count_col).cast(pl.Int64).alias("count"),
        _given_label(frame),
    )
    seg = [_SEGMENT_KEY] if keys else []
    if seg:
        first_seen = pl.int_range(pl.len()).min().over(seg)
        table = table.sort(first_seen, "rank", maintain_order=True)
    else:
        table = table.sort("rank", maintain_order=True)
    base = _per(pl.col("count").shift(1), seg) >= leak_base
    candidate = (
        pl.when(_per(base.fill_null(False).any(), seg))
        .then(pl.when(base).then(pl.col("step_conversion")))
        .otherwise(pl.col("step_conversion"))
    )
    return table.with_columns(_funnel_rates(seg)).with_columns(
        pl.col("stage").replace_strict(labels, default=pl.col("label")).alias("label"),
        _first_minimum(candidate, seg).alias("biggest_leak"),
        _colour_of("rank").alias("colour"),
    )


def _given_label(frame: pl.DataFrame) -> pl.Expr:
    """Return the table's own ``label`` column, else the step name, as ``label``."""
    name = _column(frame, _NAME_COLUMNS, "funnel")
    given = pl.col("label").cast(pl.String) if "label" in frame.columns else pl.lit(None)
    return pl.coalesce(given, pl.col(name).cast(pl.String)).alias("label")


def _ids(frame: pl.DataFrame, column: str) -> list[str]:
    return [str(v) for v in frame[column].drop_nulls().unique(maintain_order=True).to_list()]


def _per(expr: pl.Expr, keys: list[str]) -> pl.Expr:
    return expr.over(keys) if keys else expr


def _funnel_rates(keys: list[str]) -> list[pl.Expr]:
    previous = _per(pl.col("count").shift(1), keys)
    first = _per(pl.col("count").first(), keys)
    return [
        pl.when(previous > 0).then(pl.col("count") / previous).alias("step_conversion"),
        pl.when(first > 0).then(pl.col("count") / first).alias("overall_conversion"),
        (previous - pl.col("count")).alias("drop_off"),
    ]


def _first_minimum(values: pl.Expr, keys: list[str]) -> pl.Expr:
    """Return true on the first row holding the minimum of ``values`` (nulls never)."""
    is_min = values.eq(_per(values.min(), keys)).fill_null(False)
    return is_min & _per(is_min.cum_sum(), keys).eq(1)


def _funnel_trace(
    table: pl.DataFrame, lang: Lang, name: str | None = None, *, short: bool = False
) -> go.Funnel:
    rows = table.to_dicts()
    texts = []
    for row in rows:
        parts = [f"<b>{_int(row['count'], lang)}</b>"]
        if row["rank"] > 1 and short:
            parts.append(_pct(row["step_conversion"], lang))
        elif row["rank"] > 1:
            parts.append(f"{_pct(row['step_conversion'], lang)} {text('of_previous', lang)}")
            parts.append(f"{_pct(row['overall_conversion'], lang)} {text('of_first', lang)}")
        texts.append(" · ".join(parts))
    leak = [bool(r["biggest_leak"]) for r in rows]
    return go.Funnel(
        name=name or text("contacts", lang),
        y=[r["label"] for r in rows],
        x=[r["count"] for r in rows],
        text=texts,
        textinfo="text",
        textposition="auto",
        constraintext="none",
        insidetextanchor="middle",
        marker={
            "color": [r["colour"] for r in rows],
            "line": {
                "color": [LEAK_COLOUR if is_leak else "white" for is_leak in leak],
                "width": [3 if is_leak else 1 for is_leak in leak],
            },
        },
        connector={"fillcolor": "#F2F2F2", "line": {"width": 0}},
        customdata=[
            [_pct(r["step_conversion"], lang), _pct(r["overall_conversion"], lang)] for r in rows
        ],
        hovertemplate=(
            f"%{{y}}<br>{text('contacts', lang)}: %{{x:,}}<br>"
            f"%{{customdata[0]}} {text('of_previous', lang)}<br>"
            f"%{{customdata[1]}} {text('of_first', lang)}<extra>%{{fullData.name}}</extra>"
        ),
        showlegend=False,
    )


def _leak_sentence(table: pl.DataFrame, lang: Lang) -> str | None:
    leak = table.filter(pl.col("biggest_leak"))
    if leak.is_empty():
        return None
    row = leak.row(0, named=True)
    before = table.filter(pl.col("rank") == row["rank"] - 1)["label"].item()
    return text(
        "leak", lang, rate=_pct(row["step_conversion"], lang), before=before, after=row["label"]
    )


def funnel_figure(
    result: Any,
    *,
    compare: Any = None,
    names: Sequence[str] = (),
    lang: Lang = "en",
    funnel: Any = None,
    title: str | None = None,
) -> go.Figure:
    """Draw the narrowing funnel: counts, step and overall conversion, biggest leak.

    Parameters
    ----------
    result
        A funnel result or its ``to_polars()`` table (see :func:`funnel_table`).
    compare
        A second result of the same funnel (another period or segment) drawn to
        the right, on the same stages.
    names
        Titles of the one or two funnels (e.g. ``("week 46", "week 45")``).
    lang
        ``"en"`` or ``"fr"``.
    funnel
        The funnel definition, for stage labels, when ``result`` does not carry it.
    title
        The figure title; by default names the definition and the biggest leak.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``funnel`` trace per funnel; each bar's colour is its stage colour,
        and the biggest leak has a thick :data:`LEAK_COLOUR` outline and an
        annotation.

    Examples
    --------
    >>> fig = funnel_figure(pl.DataFrame({"name": ["a", "b"], "count": [10, 4]}))
    >>> fig.data[0].x
    (10, 4)
    """
    lang = _check_lang(lang)
    tables = [_shown(funnel_table(result, lang=lang, funnel=funnel))]
    if compare is not None:
        tables.append(_shown(funnel_table(compare, lang=lang, funnel=funnel)))
    names = [plot_text(n) for n in names] or ([] if compare is None else ["", ""])
    if compare is None:
        fig = go.Figure()
        fig.add_trace(_funnel_trace(tables[0], lang, names[0] if names else None))
    else:
        fig = make_subplots(
            rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=names[:2]
        )
        for col, table in enumerate(tables, start=1):
            trace = _funnel_trace(table, lang, names[col - 1] or None, short=True)
            fig.add_trace(trace, row=1, col=col)
    leak = _leak_sentence(tables[0], lang)
    if title is None:
        name = _name_of(result, funnel)
        title = text("funnel", lang) + (f" ({name})" if name else "")
        if leak and compare is None:
            title += f"<br><sup>{text('biggest_leak', lang)}: {leak}</sup>"
    for index, table in enumerate(tables):
        leak_rows = table.filter(pl.col("biggest_leak"))
        if leak_rows.is_empty():
            continue
        row = leak_rows.row(0, named=True)
        axis = "" if index == 0 else str(index + 1)
        fig.add_annotation(
            x=1,
            y=row["label"],
            xref=f"x{axis} domain",
            yref=f"y{axis}",
            text=f"◀ {text('biggest_leak', lang)}",
            showarrow=False,
            xanchor="right",
            font={"color": LEAK_COLOUR, "size": 12},
            name="biggest_leak",
        )
    fig.update_yaxes(
        showgrid=False, categoryorder="array", categoryarray=tables[0]["label"].to_list()
    )
    fig.update_xaxes(showgrid=False, showticklabels=False)
    return _base_layout(fig, lang, title)


# --------------------------------------------------------------------------- breakdown
def breakdown_table(
    result: Any,
    *,
    by: str | None = None,
    lang: Lang = "en",
    funnel: Any = None,
) -> pl.DataFrame:
    """Return what :func:`breakdown_figure` draws: conversion per segment and stage.

    Parameters
    ----------
    result
        A funnel result computed with ``by=`` or its ``to_polars()`` table: the
        columns of :func:`funnel_table` plus the segment column ``by`` (and,
        optionally, ``ci_low`` / ``ci_high`` of the conversion from the first
        step, and a boolean ``suppressed``).
    by
        The segment column (default: the result's ``by``, read from its
        ``segment`` column).
    lang, funnel
        As in :func:`funnel_table`.

    Returns
    -------
    pl.DataFrame
        :func:`funnel_table`'s columns plus ``ci_low``, ``ci_high`` (null when
        the result has none) and ``suppressed``; suppressed segments keep
        their rows with null rates.
    """
    lang = _check_lang(lang)
    frame = _frame(result, "breakdown")
    by = _segment_column(frame, by or getattr(result, "by", None))
    definition = _result_funnel(
        result, funnel, _ids(frame, _column(frame, _NAME_COLUMNS, "breakdown"))
    )
    table = funnel_table(frame, lang=lang, funnel=definition, segment=by)
    low = _column(
        frame, ("ci_low_from_first", "ci_low_first", "ci_low"), "breakdown", required=False
    )
    high = _column(
        frame, ("ci_high_from_first", "ci_high_first", "ci_high"), "breakdown", required=False
    )
    hidden = _column(frame, ("suppressed",), "breakdown", required=False)
    extra = pl.DataFrame(
        {
            "ci_low": frame[low].cast(pl.Float64) if low else [None] * frame.height,
            "ci_high": frame[high].cast(pl.Float64) if high else [None] * frame.height,
            "suppressed": frame[hidden].cast(pl.Boolean) if hidden else [False] * frame.height,
        },
        schema={"ci_low": pl.Float64, "ci_high": pl.Float64, "suppressed": pl.Boolean},
    )
    step_col = _column(frame, _STEP_COLUMNS, "breakdown", required=False)
    order = frame.select(
        pl.col(by).cast(pl.String).fill_null(text("other", lang)).alias(_SEGMENT_KEY),
        (pl.col(step_col) if step_col else pl.int_range(1, pl.len() + 1).over(by))
        .cast(pl.Int64)
        .alias("rank"),
    ).hstack(extra)
    table = table.join(order, on=[_SEGMENT_KEY, "rank"], how="left")
    return table.with_columns(
        pl.when(~pl.col("suppressed")).then(pl.col(c)).alias(c)
        for c in ("step_conversion", "overall_conversion", "ci_low", "ci_high")
    )


def _segment_column(frame: pl.DataFrame, by: str | None) -> str:
    if by is not None and by in frame.columns:
        return by
    if _SEGMENT_KEY in frame.columns:
        return _SEGMENT_KEY
    hint = did_you_mean(by, frame.columns) if by else ""
    msg = (
        f"the breakdown table has no segment column {by or _SEGMENT_KEY!r} (columns: "
        f"{', '.join(frame.columns)}); compute the funnel with by=... first.{hint}"
    )
    raise MissingColumnError(msg)


def breakdown_figure(
    result: Any,
    *,
    by: str | None = None,
    lang: Lang = "en",
    funnel: Any = None,
    title: str | None = None,
) -> go.Figure:
    """Draw conversion from the first stage per segment, one bar colour per stage.

    Segments are on the x axis (biggest first); each later stage is a group of
    bars in its stage colour, with the 95% Wilson interval as an error bar when
    the result has one.  Suppressed (too small) segments show no bar.

    Parameters
    ----------
    result
        A funnel result computed with ``by=``, or its table (see
        :func:`breakdown_table`).
    by
        The breakdown's name, for the axis (default: the result's ``by``).
    lang, funnel, title
        As in :func:`funnel_figure`.

    Examples
    --------
    >>> table = pl.DataFrame({"channel": ["a", "a", "b", "b"], "name": ["x", "y"] * 2,
    ...                       "count": [10, 5, 20, 2]})
    >>> [t.name for t in breakdown_figure(table, by="channel").data]
    ['y']
    """
    lang = _check_lang(lang)
    table = _shown(breakdown_table(result, by=by, lang=lang, funnel=funnel))
    sizes = (
        table.filter(pl.col("rank") == 1)
        .sort(["count", _SEGMENT_KEY], descending=[True, False])[_SEGMENT_KEY]
        .to_list()
    )
    fig = go.Figure()
    for (rank,), part in table.filter(pl.col("rank") > 1).group_by(["rank"], maintain_order=True):
        part = part.sort(pl.col(_SEGMENT_KEY).replace_strict(sizes, list(range(len(sizes)))))
        has_ci = part["ci_high"].null_count() < part.height
        fig.add_trace(
            go.Bar(
                name=part["label"][0],
                x=part[_SEGMENT_KEY].to_list(),
                y=part["overall_conversion"].to_list(),
                marker={"color": stage_colour(int(rank))},
                error_y=(
                    {
                        "type": "data",
                        "symmetric": False,
                        "array": (part["ci_high"] - part["overall_conversion"]).to_list(),
                        "arrayminus": (part["overall_conversion"] - part["ci_low"]).to_list(),
                        "color": "#555555",
                        "thickness": 1,
                    }
                    if has_ci
                    else None
                ),
                customdata=[[_int(c, lang)] for c in part["count"].to_list()],
                hovertemplate=(
                    f"%{{x}}: %{{y:.1%}} (%{{customdata[0]}} {text('contacts', lang).lower()})"
                    "<extra>%{fullData.name}</extra>"
                ),
            )
        )
    first = table.filter(pl.col("rank") == 1)["label"]
    first_label = first[0] if first.len() else ""
    fig.update_layout(barmode="group")
    fig.update_yaxes(
        tickformat=".0%", title={"text": text("conversion_from_first", lang, stage=first_label)}
    )
    axis = plot_text(by or getattr(result, "by", None) or _SEGMENT_KEY)
    fig.update_xaxes(title={"text": axis}, categoryorder="array", categoryarray=sizes)
    name = _name_of(result, funnel)
    default = f"{text('conversion', lang)} · {axis}" + (f" ({name})" if name else "")
    return _base_layout(fig, lang, title or default)


# --------------------------------------------------------------------------- trends
def conversion_over_time_table(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
) -> pl.DataFrame:
    """Return what :func:`conversion_over_time_figure` draws.

    Parameters
    ----------
    result
        Conversion per entry period (:func:`funnelkit.conversion.conversion_over_time`)
        or its table: ``period`` (or ``period_start``: start of the entry
        period), a step name (``name``), ``rate`` (or
        ``conversion_from_first``: share of the period's entrants that reached
        the step), ``ci_low``, ``ci_high`` and ``incomplete`` (or ``complete``:
        whether every entrant's window has closed).  ``entered`` defaults to
        the step-1 ``count`` of the period.  Step 1 rows are dropped: their
        rate is 1 by definition.
    lang, funnel
        As in :func:`funnel_table`.

    Returns
    -------
    pl.DataFrame
        ``period``, ``rank``, ``stage``, ``label``, ``entered``, ``converted``,
        ``rate``, ``ci_low``, ``ci_high``, ``incomplete``, ``colour``; sorted by
        rank then period.
    """
    lang = _check_lang(lang)
    frame = _frame(result, "conversion over time")
    period = _column(
        frame, ("period", "period_start", "entry_period", "week"), "conversion over time"
    )
    name = _column(frame, _NAME_COLUMNS, "conversion over time")
    definition = _result_funnel(result, funnel, _ids(frame, name))
    rate = _column(frame, ("rate", "conversion", "conversion_from_first"), "conversion over time")
    step = _column(frame, _STEP_COLUMNS, "conversion over time", required=False)
    entered = _column(
        frame, ("entered", "entrants", "cohort_size"), "conversion over time", required=False
    )
    converted = _column(
        frame, ("converted", "reached", "count"), "conversion over time", required=False
    )
    flag = _column(frame, ("incomplete", "is_incomplete"), "conversion over time", required=False)
    low = _column(frame, ("ci_low", "ci_low_from_first"), "conversion over time", required=False)
    high = _column(frame, ("ci_high", "ci_high_from_first"), "conversion over time", required=False)
    ranks = _rank_map(definition)
    labels = _label_map(definition, lang)
    names_in_order = frame[name].cast(pl.String).unique(maintain_order=True).to_list()
    fallback = {n: i for i, n in enumerate(names_in_order, start=1)}

    def optional(column: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(column).cast(dtype) if column else pl.lit(None, dtype=dtype)

    table = frame.select(
        pl.col(period).alias("period"),
        (
            pl.col(step).cast(pl.Int64)
            if step
            else pl.col(name)
            .cast(pl.String)
            .replace_strict(ranks or fallback, default=None, return_dtype=pl.Int64)
        ).alias("rank"),
        pl.col(name).cast(pl.String).alias("stage"),
        (
            optional(entered, pl.Int64())
            if entered or not converted
            else pl.col(converted)
            .cast(pl.Int64)
            .sort_by(_step_order(step, name))
            .first()
            .over(period)
        ).alias("entered"),
        optional(converted, pl.Int64()).alias("converted"),
        pl.col(rate).cast(pl.Float64).alias("rate"),
        optional(low, pl.Float64()).alias("ci_low"),
        optional(high, pl.Float64()).alias("ci_high"),
        _incomplete(frame, flag).alias("incomplete"),
    )
    return (
        table.filter(pl.col("rank") > 1)
        .with_columns(
            pl.col("stage").replace_strict(labels, default=pl.col("stage")).alias("label"),
            _colour_of("rank").alias("colour"),
        )
        .sort("rank", "period")
        .select(
            "period",
            "rank",
            "stage",
            "label",
            "entered",
            "converted",
            "rate",
            "ci_low",
            "ci_high",
            "incomplete",
            "colour",
        )
    )


def _step_order(step: str, name: str) -> pl.Expr:
    return pl.col(step) if step else pl.int_range(pl.len())


def _incomplete(frame: pl.DataFrame, flag: str) -> pl.Expr:
    if flag:
        return pl.col(flag).cast(pl.Boolean).fill_null(False)
    if "complete" in frame.columns:
        return ~pl.col("complete").cast(pl.Boolean).fill_null(False)
    return pl.lit(False)


def conversion_over_time_figure(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
    stages: Sequence[str] = (),
    title: str | None = None,
) -> go.Figure:
    """Draw conversion per entry period with Wilson bands; incomplete periods dashed.

    Each stage gets, in its stage colour: a translucent band between ``ci_low``
    and ``ci_high`` (trace named ``"<label> · 95% interval"``), a solid line over
    complete periods, and a dashed, faded line with hollow markers over
    incomplete ones (trace named ``"<label> · incomplete"``), joined to the
    last complete point.  A note under the title says what the dashes mean.

    Parameters
    ----------
    result
        Conversion per entry period, or its table (see
        :func:`conversion_over_time_table`).
    lang, funnel, title
        As in :func:`funnel_figure`.
    stages
        Stage names to draw (default: every later step).

    Examples
    --------
    >>> import datetime as dt
    >>> table = pl.DataFrame({"period": [dt.date(2026, 11, 2), dt.date(2026, 11, 9)],
    ...     "name": ["b", "b"], "step": [2, 2], "rate": [0.3, 0.1],
    ...     "ci_low": [0.2, 0.05], "ci_high": [0.4, 0.2], "incomplete": [False, True]})
    >>> [t.name for t in conversion_over_time_figure(table).data]
    ['b · 95% interval', 'b', 'b · incomplete']
    """
    lang = _check_lang(lang)
    table = conversion_over_time_table(result, lang=lang, funnel=funnel)
    if stages:
        table = table.filter(pl.col("stage").is_in(list(stages)))
    table = _shown(table)
    fig = go.Figure()
    for (rank,), part in table.group_by(["rank"], maintain_order=True):
        colour = stage_colour(int(rank))
        label = part["label"][0]
        periods = part["period"].to_list()
        banded = part.filter(pl.col("ci_low").is_not_null() & pl.col("ci_high").is_not_null())
        if banded.height:
            fig.add_trace(
                go.Scatter(
                    name=f"{label} · {text('interval', lang)}",
                    x=banded["period"].to_list() + banded["period"].reverse().to_list(),
                    y=banded["ci_high"].to_list() + banded["ci_low"].reverse().to_list(),
                    fill="toself",
                    fillcolor=_rgba(colour, 0.18),
                    line={"width": 0, "color": colour},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=label,
                )
            )
        complete = [not flag for flag in part["incomplete"].to_list()]
        # the label goes in as ``meta``: written into the template, "%{...}" in it would be read
        hover = (
            "%{x|%Y-%m-%d}: %{y:.1%}<br>%{customdata[0]} / %{customdata[1]}<extra>%{meta}</extra>"
        )
        custom = [
            [_int(c, lang), _int(e, lang)]
            for c, e in zip(part["converted"].to_list(), part["entered"].to_list(), strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                name=label,
                x=[p for p, ok in zip(periods, complete, strict=True) if ok],
                y=[r for r, ok in zip(part["rate"].to_list(), complete, strict=True) if ok],
                customdata=[c for c, ok in zip(custom, complete, strict=True) if ok],
                mode="lines+markers",
                line={"color": colour, "width": 2.5},
                marker={"color": colour, "size": 7},
                hovertemplate=hover,
                meta=label,
                legendgroup=label,
            )
        )
        if not all(complete):
            start = max((i for i, ok in enumerate(complete) if ok), default=None)
            keep = [i for i, ok in enumerate(complete) if not ok or i == start]
            fig.add_trace(
                go.Scatter(
                    name=f"{label} · {text('incomplete', lang)}",
                    x=[periods[i] for i in keep],
                    y=[part["rate"][i] for i in keep],
                    customdata=[custom[i] for i in keep],
                    mode="lines+markers",
                    line={"color": _rgba(colour, 0.55), "width": 2, "dash": "dash"},
                    marker={
                        "color": "white",
                        "size": 7,
                        "line": {"color": _rgba(colour, 0.7), "width": 1.5},
                    },
                    opacity=0.8,
                    hovertemplate=hover.replace("<extra>", f" ({text('incomplete', lang)})<extra>"),
                    meta=label,
                    legendgroup=label,
                    showlegend=False,
                )
            )
    _shade_incomplete(fig, table, lang)
    name = _name_of(result, funnel)
    default = f"{text('conversion', lang)}" + (f" ({name})" if name else "")
    if table["incomplete"].any():
        default += f"<br><sup>{text('incomplete_note', lang)}</sup>"
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title={"text": text("conversion", lang)})
    fig.update_xaxes(title={"text": text("entry_period", lang)})
    return _base_layout(fig, lang, title or default)


def _shade_incomplete(fig: go.Figure, table: pl.DataFrame, lang: Lang) -> None:
    """Shade the incomplete periods (a shape named ``"incomplete"``) and label them once."""
    periods = table["period"].unique().sort().to_list()
    late = table.filter(pl.col("incomplete"))["period"].unique().sort().to_list()
    if not late:
        return
    step = periods[1] - periods[0] if len(periods) > 1 else timedelta(days=7)
    fig.add_vrect(
        x0=late[0] - step / 2,
        x1=periods[-1] + step / 2,
        fillcolor=_NEUTRAL,
        opacity=0.12,
        line_width=0,
        layer="below",
        name="incomplete",
        annotation={"text": text("incomplete", lang), "font": {"color": "#616161", "size": 11}},
        annotation_position="top left",
    )


# --------------------------------------------------------------------------- durations
Unit = Literal["days", "hours"]
_UNIT_SECONDS = {"days": 86_400.0, "hours": 3_600.0}


@dataclass(frozen=True)
class Histogram:
    """A histogram of durations, ready to draw.

    Attributes
    ----------
    bins
        ``start``, ``end`` (in ``unit``) and ``contacts`` per bin.
    median, p90
        In ``unit``; ``None`` when there is no duration.
    unit
        ``"days"`` or ``"hours"`` (hours when everything is under two days).
    n
        Number of durations (contacts).
    steps
        ``(from step name, to step name)`` when drawn from a funnel result.
    to_rank
        Rank of the step converted to, when known (for its colour).
    """

    bins: pl.DataFrame
    median: float | None
    p90: float | None
    unit: Unit
    n: int
    steps: tuple[str, str] | None = None
    to_rank: int | None = None

    def to_polars(self) -> pl.DataFrame:
        """Return the bins."""
        return self.bins


def _seconds(frame: pl.DataFrame) -> pl.Series:
    for name in ("duration", "seconds", "time_to_convert", "duration_seconds"):
        if name in frame.columns:
            column = frame[name]
            break
    else:
        durations = [c for c, t in frame.schema.items() if isinstance(t, pl.Duration)]
        if not durations:
            msg = (
                "the time-to-convert table has no 'duration' column (a polars Duration, or "
                f"seconds); columns: {', '.join(frame.columns)}."
            )
            raise MissingColumnError(msg)
        column = frame[durations[-1]]
    return _as_seconds(column)


def _as_seconds(column: pl.Series) -> pl.Series:
    if isinstance(column.dtype, pl.Duration):
        return column.dt.total_microseconds().cast(pl.Float64) / 1e6
    return column.cast(pl.Float64)


def _unit_for(longest_seconds: float) -> Unit:
    return "hours" if 0 < longest_seconds < 2 * 86_400 else "days"


def _scalar_seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


def _from_result(
    summary: pl.DataFrame, histogram: pl.DataFrame, steps: tuple[int, int] | None
) -> Histogram:
    """Read one transition of a :class:`~funnelkit.conversion.TimeToConvert`."""
    if summary.is_empty():
        msg = "the time-to-convert result is empty: no contact converted."
        raise ParameterError(msg)
    if steps is None:
        row = summary.row(summary.height - 1, named=True)
    else:
        chosen = summary.filter((pl.col("from_step") == steps[0]) & (pl.col("to_step") == steps[1]))
        if chosen.is_empty():
            have = ", ".join(f"{a}→{b}" for a, b in summary.select("from_step", "to_step").rows())
            msg = f"steps={steps!r}: no such transition in the result (there are {have})."
            raise ParameterError(msg)
        row = chosen.row(0, named=True)
    part = histogram.filter(
        (pl.col("from_step") == row["from_step"]) & (pl.col("to_step") == row["to_step"])
    ).sort("bin")
    start, end = _as_seconds(part["bin_start"]), _as_seconds(part["bin_end"])
    median, p90 = _scalar_seconds(row["median"]), _scalar_seconds(row["p90"])
    unit = _unit_for(max(float(end.max() or 0.0), p90 or 0.0))  # type: ignore[arg-type]
    size = _UNIT_SECONDS[unit]
    bins = pl.DataFrame(
        {"start": start / size, "end": end / size, "contacts": part["contacts"].cast(pl.Int64)}
    )
    return Histogram(
        bins,
        None if median is None else median / size,
        None if p90 is None else p90 / size,
        unit,
        int(row["contacts"] or 0),
        (str(row["from_name"]), str(row["to_name"])),
        int(row["to_step"]),
    )


def time_to_convert_table(
    durations: Any,
    *,
    bins: int = 30,
    steps: tuple[int, int] | None = None,
) -> Histogram:
    """Return what :func:`time_to_convert_figure` draws: a histogram, median and p90.

    Parameters
    ----------
    durations
        A funnel's :class:`~funnelkit.conversion.TimeToConvert` (or the
        :class:`~funnelkit.conversion.FunnelResult` holding it): its histogram,
        median and p90 are used as they are.  Or per-contact durations: a table
        with a ``duration`` column (a polars ``Duration``, or seconds), a
        ``pl.Series`` of durations or a sequence of ``timedelta``.
    bins
        For per-contact durations: the number of equal-width bins between 0
        and the longest duration.
    steps
        For a funnel result: the transition ``(from_step, to_step)``; default
        the last row of its summary (first to last step).

    Returns
    -------
    Histogram
        Bins in days (in hours when every duration is under two days), with
        the median and the 90th percentile (linear interpolation for
        per-contact durations).

    Examples
    --------
    >>> from datetime import timedelta
    >>> h = time_to_convert_table([timedelta(days=d) for d in (1, 2, 3, 4, 10)], bins=5)
    >>> h.median, h.unit, h.bins["contacts"].to_list()
    (3.0, 'days', [1, 2, 1, 0, 1])
    """
    if bins < 1:
        msg = f"bins must be a positive number, got {bins!r}."
        raise ParameterError(msg)
    durations = getattr(durations, "time_to_convert", durations)
    summary, histogram = getattr(durations, "summary", None), getattr(durations, "histogram", None)
    if isinstance(summary, pl.DataFrame) and isinstance(histogram, pl.DataFrame):
        return _from_result(summary, histogram, steps)
    if isinstance(durations, pl.Series):
        seconds = _seconds(durations.to_frame("duration"))
    elif isinstance(durations, pl.DataFrame | pl.LazyFrame):
        seconds = _seconds(
            durations.collect() if isinstance(durations, pl.LazyFrame) else durations
        )
    elif isinstance(durations, Sequence):
        seconds = pl.Series(
            "duration",
            [d.total_seconds() if isinstance(d, timedelta) else float(d) for d in durations],
            dtype=pl.Float64,
        )
    else:
        seconds = _seconds(_frame(durations, "time to convert"))
    seconds = seconds.drop_nulls()
    longest = float(seconds.max()) if seconds.len() else 0.0  # type: ignore[arg-type]
    unit = _unit_for(longest)
    values = seconds / _UNIT_SECONDS[unit]
    top = longest / _UNIT_SECONDS[unit]
    width = top / bins if top > 0 else 1.0
    index = (values / width).floor().cast(pl.Int64).clip(0, bins - 1)
    counts = index.value_counts().rename({index.name: "bin", "count": "contacts"})
    table = (
        pl.DataFrame({"bin": range(bins)}, schema={"bin": pl.Int64})
        .join(counts, on="bin", how="left")
        .select(
            (pl.col("bin") * width).alias("start"),
            ((pl.col("bin") + 1) * width).alias("end"),
            pl.col("contacts").fill_null(0).cast(pl.Int64),
        )
    )
    if values.len() == 0:
        return Histogram(table, None, None, unit, 0)
    median = values.quantile(0.5, interpolation="linear")
    p90 = values.quantile(0.9, interpolation="linear")
    return Histogram(
        table,
        None if median is None else float(median),
        None if p90 is None else float(p90),
        unit,
        values.len(),
    )


def time_to_convert_figure(
    durations: Any,
    *,
    bins: int = 30,
    steps: tuple[int, int] | None = None,
    lang: Lang = "en",
    funnel: Any = None,
    colour_rank: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Draw the histogram of time to convert with the median and p90 marked.

    Parameters
    ----------
    durations
        A funnel result or its :class:`~funnelkit.conversion.TimeToConvert`,
        per-contact durations, or a :class:`Histogram` (see
        :func:`time_to_convert_table`).
    bins, steps
        As in :func:`time_to_convert_table`.
    lang, funnel, title
        As in :func:`funnel_figure`.
    colour_rank
        Rank of the stage converted to, for the bar colour (default: the
        result's target step, else neutral grey).

    Returns
    -------
    plotly.graph_objects.Figure
        One ``bar`` trace (bins) and two vertical lines (layout shapes named
        ``"median"`` and ``"p90"``) with their values in annotations.

    Examples
    --------
    >>> from datetime import timedelta
    >>> fig = time_to_convert_figure([timedelta(days=d) for d in (1, 2, 3, 4, 10)])
    >>> [s.name for s in fig.layout.shapes]
    ['median', 'p90']
    """
    lang = _check_lang(lang)
    hist = (
        durations
        if isinstance(durations, Histogram)
        else time_to_convert_table(durations, bins=bins, steps=steps)
    )
    unit = text(hist.unit, lang)
    rank = colour_rank or hist.to_rank
    colour = stage_colour(rank) if rank else _NEUTRAL
    table = hist.bins
    fig = go.Figure(
        go.Bar(
            name=text("contacts", lang),
            x=((table["start"] + table["end"]) / 2).to_list(),
            y=table["contacts"].to_list(),
            width=(table["end"] - table["start"]).to_list(),
            marker={"color": colour, "line": {"color": "white", "width": 1}},
            customdata=table.select("start", "end").rows(),
            hovertemplate=(
                f"%{{customdata[0]:.1f}}–%{{customdata[1]:.1f}} {unit}: %{{y}}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    for key, value, dash in (("median", hist.median, "solid"), ("p90", hist.p90, "dash")):
        if value is None:
            continue
        fig.add_shape(
            type="line",
            name=key,
            x0=value,
            x1=value,
            y0=0,
            y1=1,
            yref="paper",
            line={"color": _INK, "width": 2, "dash": dash},
        )
        fig.add_annotation(
            x=value,
            y=1 if key == "median" else 0.9,
            yref="paper",
            text=f"{text(key, lang)} {_num(value, lang)} {unit}",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            xshift=4,
            name=key,
        )
    fig.update_xaxes(
        title={"text": f"{text('time_to_convert', lang)} ({unit})"}, rangemode="tozero"
    )
    fig.update_yaxes(title={"text": text("contacts", lang)})
    default = f"{text('time_to_convert', lang)} (n = {_int(hist.n, lang)})"
    if hist.steps is not None:
        labels = _label_map(_resolve(funnel), lang)
        first, last = (plot_text(labels.get(s, s)) for s in hist.steps)
        default = f"{text('time_to_convert', lang)}: {first} → {last} (n = {_int(hist.n, lang)})"
    return _base_layout(fig, lang, title or default)


# --------------------------------------------------------------------------- cohorts
def cohort_table(result: Any) -> pl.DataFrame:
    """Return what :func:`cohort_figure` draws, one row per cohort and day.

    Parameters
    ----------
    result
        A cohort result (:func:`funnelkit.conversion.cohorts`) or its table:
        ``cohort`` (start of the acquisition period), ``days`` (days since
        acquisition), ``share`` (cumulative share that reached the target), and
        optionally ``size`` (contacts in the cohort).

    Returns
    -------
    pl.DataFrame
        ``cohort`` (as text, e.g. ``2026-11-02``), ``days``, ``share``, ``size``;
        sorted by cohort then day.
    """
    frame = _frame(result, "cohort")
    cohort = _column(frame, ("cohort", "cohort_start", "acquisition_period", "period"), "cohort")
    days = _column(frame, ("days", "days_since", "day", "days_since_acquisition"), "cohort")
    share = _column(frame, ("share", "cumulative_share", "rate", "conversion"), "cohort")
    size = _column(frame, ("size", "cohort_size", "contacts", "entered"), "cohort", required=False)
    as_text = (
        pl.col(cohort).dt.strftime("%Y-%m-%d")
        if frame.schema[cohort].is_temporal()
        else pl.col(cohort).cast(pl.String)
    )
    return frame.select(
        as_text.alias("cohort"),
        pl.col(days).cast(pl.Int64).alias("days"),
        pl.col(share).cast(pl.Float64).alias("share"),
        (pl.col(size).cast(pl.Int64) if size else pl.lit(None, dtype=pl.Int64)).alias("size"),
    ).sort("cohort", "days")


def cohort_figure(
    result: Any,
    *,
    kind: Literal["heatmap", "curves"] = "heatmap",
    lang: Lang = "en",
    target: str | None = None,
    funnel: Any = None,
    colour_rank: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Draw cohorts: acquisition period × days since acquisition.

    Parameters
    ----------
    result
        A cohort result or its table (see :func:`cohort_table`).
    kind
        ``"heatmap"`` (one ``heatmap`` trace: rows are cohorts, columns days,
        colour the cumulative share; days not observed yet are blank) or
        ``"curves"`` (one line per cohort, later cohorts darker).
    lang, title
        As in :func:`funnel_figure`.
    target
        Name of the stage reached, for the axis and title (default: the
        result's ``target``), shown with its label in ``lang`` when
        ``funnel`` is given.
    funnel
        The funnel definition of the target stage.
    colour_rank
        Rank of the target stage, for the colour of the curves (default: the
        target's rank in ``funnel``).

    Examples
    --------
    >>> table = pl.DataFrame({"cohort": ["w1", "w1", "w2"], "days": [0, 7, 0],
    ...                       "share": [0.1, 0.3, 0.2]})
    >>> cohort_figure(table).data[0].z
    ([0.1, 0.3], [0.2, None])
    """
    lang = _check_lang(lang)
    table = _shown(cohort_table(result))
    target = target or getattr(result, "target", None)
    definition = _resolve(funnel)
    target_text = plot_text(
        _label_map(definition, lang).get(target, target) if target else "target"
    )
    colour_rank = colour_rank or (_rank_map(definition).get(target) if target else None)
    share_title = text("share_reached", lang, stage=target_text)
    cohorts = table["cohort"].unique(maintain_order=True).to_list()
    days = sorted(table["days"].unique().to_list())
    fig = go.Figure()
    if kind == "heatmap":
        lookup = {(c, d): s for c, d, s in table.select("cohort", "days", "share").iter_rows()}
        sizes = dict(table.group_by("cohort").agg(pl.col("size").max()).iter_rows())
        fig.add_trace(
            go.Heatmap(
                x=days,
                y=cohorts,
                z=[[lookup.get((c, d)) for d in days] for c in cohorts],
                customdata=[[_int(sizes.get(c), lang) for _ in days] for c in cohorts],
                colorscale=_SEQUENTIAL,
                zmin=0,
                colorbar={"title": {"text": share_title, "side": "right"}, "tickformat": ".0%"},
                hovertemplate=(
                    f"%{{y}} · %{{x}} {text('days', lang)}: %{{z:.1%}}"
                    f" (n = %{{customdata}})<extra></extra>"
                ),
                xgap=1,
                ygap=1,
            )
        )
        fig.update_yaxes(
            autorange="reversed", type="category", title={"text": text("cohort", lang)}
        )
    elif kind == "curves":
        colour = stage_colour(colour_rank) if colour_rank else stage_colour(4)
        for index, (cohort, part) in enumerate(table.group_by("cohort", maintain_order=True)):
            alpha = 0.25 + 0.75 * (index + 1) / len(cohorts)
            fig.add_trace(
                go.Scatter(
                    name=str(cohort[0]),
                    x=part["days"].to_list(),
                    y=part["share"].to_list(),
                    mode="lines",
                    line={"color": _rgba(colour, round(alpha, 3)), "width": 2},
                    hovertemplate=(
                        f"%{{fullData.name}} · %{{x}} {text('days', lang)}: "
                        "%{y:.1%}<extra></extra>"
                    ),
                )
            )
        fig.update_yaxes(tickformat=".0%", rangemode="tozero", title={"text": share_title})
        fig.update_layout(legend={"orientation": "v", "y": 1, "x": 1.02, "yanchor": "top"})
    else:
        msg = f"kind must be 'heatmap' or 'curves', got {kind!r}."
        raise ParameterError(msg)
    fig.update_xaxes(title={"text": text("days_since", lang)})
    default = f"{text('cohort', lang)} · {share_title}"
    return _base_layout(fig, lang, title or default)


# --------------------------------------------------------------------------- flows
def flows_table(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
) -> pl.DataFrame:
    """Return what :func:`flows_figure` draws: one row per (stage at start, stage at end).

    Parameters
    ----------
    result
        Flows between two instants (:func:`funnelkit.stages.flows`) or its
        table: ``from_stage`` (null for contacts new in the period),
        ``to_stage`` and ``contacts``.
    lang, funnel
        As in :func:`funnel_table`.

    Returns
    -------
    pl.DataFrame
        ``from_stage``, ``to_stage``, ``from_rank`` (0 for new contacts),
        ``to_rank``, ``from_label``, ``to_label``, ``contacts``; rows with no
        contact are dropped.
    """
    lang = _check_lang(lang)
    frame = _frame(result, "flows")
    src = _column(frame, ("from_stage", "stage_at_start", "start_stage", "from"), "flows")
    dst = _column(frame, ("to_stage", "stage_at_end", "end_stage", "to"), "flows")
    definition = _result_funnel(result, funnel, [*_ids(frame, src), *_ids(frame, dst)])
    count = _column(frame, ("contacts", "count", "n"), "flows")
    labels = _label_map(definition, lang)
    ranks = _rank_map(definition)
    if not ranks and {"from_rank", "to_rank"} <= set(frame.columns):
        pairs = [*frame.select(src, "from_rank").rows(), *frame.select(dst, "to_rank").rows()]
        ranks = {str(stage): int(rank) for stage, rank in pairs if stage is not None}
    if not ranks:
        seen = frame[dst].cast(pl.String).drop_nulls().unique(maintain_order=True).to_list()
        ranks = {stage: i for i, stage in enumerate(seen, start=1)}
    table = frame.select(
        pl.col(src).cast(pl.String).alias("from_stage"),
        pl.col(dst).cast(pl.String).alias("to_stage"),
        pl.col(count).cast(pl.Int64).alias("contacts"),
    ).filter(pl.col("contacts") > 0)
    return (
        table.with_columns(
            pl.col("from_stage")
            .replace_strict(ranks, default=0, return_dtype=pl.Int64)
            .alias("from_rank"),
            pl.col("to_stage")
            .replace_strict(ranks, default=0, return_dtype=pl.Int64)
            .alias("to_rank"),
            pl.col("from_stage")
            .replace_strict(labels, default=pl.col("from_stage"))
            .fill_null(text("new", lang))
            .alias("from_label"),
            pl.col("to_stage").replace_strict(labels, default=pl.col("to_stage")).alias("to_label"),
        )
        .sort("from_rank", "to_rank")
        .select(
            "from_stage", "to_stage", "from_rank", "to_rank", "from_label", "to_label", "contacts"
        )
    )


def flows_figure(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
    period: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Draw stage flows as a Sankey: stage at start (left) → stage at end (right).

    Nodes keep their stage colour; new contacts are a grey node on the left;
    links take the colour of the stage they lead to.

    Parameters
    ----------
    result
        Flows between two instants, or their table (see :func:`flows_table`).
    lang, funnel, title
        As in :func:`funnel_figure`.
    period
        Text naming the period (e.g. ``"2026-W46"``), added to the title.

    Examples
    --------
    >>> table = pl.DataFrame({"from_stage": [None, "a", "a"], "to_stage": ["a", "a", "b"],
    ...                       "contacts": [5, 10, 3]})
    >>> flows_figure(table).data[0].link.value
    (5, 10, 3)
    """
    lang = _check_lang(lang)
    table = _shown(flows_table(result, lang=lang, funnel=funnel))
    left = table.select("from_rank", "from_label").unique().sort("from_rank").rows()
    right = table.select("to_rank", "to_label").unique().sort("to_rank").rows()
    left_index = {rank: i for i, (rank, _) in enumerate(left)}
    right_index = {rank: len(left) + i for i, (rank, _) in enumerate(right)}
    labels = [f"{lab} ({text('at_start', lang)})" if r else lab for r, lab in left] + [
        f"{lab} ({text('at_end', lang)})" for _, lab in right
    ]
    colours = [stage_colour(r) if r else _NEUTRAL for r, _ in left] + [
        stage_colour(r) for r, _ in right
    ]
    ys = _spread(len(left)) + _spread(len(right))
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",
            valueformat=",d",
            node={
                "label": labels,
                "color": colours,
                "x": [0.001] * len(left) + [0.999] * len(right),
                "y": ys,
                "pad": 14,
                "thickness": 16,
                "line": {"color": "white", "width": 0.5},
            },
            link={
                "source": [left_index[r] for r in table["from_rank"].to_list()],
                "target": [right_index[r] for r in table["to_rank"].to_list()],
                "value": table["contacts"].to_list(),
                "color": [_rgba(stage_colour(r), 0.35) for r in table["to_rank"].to_list()],
            },
        )
    )
    name = _name_of(result, funnel)
    default = (
        text("stage_flows", lang)
        + (f" {plot_text(period)}" if period else "")
        + (f" ({name})" if name else "")
    )
    return _base_layout(fig, lang, title or default)


def _spread(n: int) -> list[float]:
    if n <= 1:
        return [0.5] * n
    return [round(0.02 + 0.96 * i / (n - 1), 4) for i in range(n)]


# --------------------------------------------------------------------------- compare
def compare_table(
    result: Any,
    *,
    lang: Lang = "en",
    left: Any = None,
    right: Any = None,
) -> pl.DataFrame:
    """Return what :func:`compare_figure` draws: the cross-table in long form.

    Parameters
    ----------
    result
        The comparison of two definitions (:func:`funnelkit.stages.compare`) or
        its table, long (``left_stage``, ``right_stage``, ``contacts``) or wide
        (a stage column, then one count column per stage of the other definition).
    lang
        As in :func:`funnel_table`.
    left, right
        The two definitions (or preset names), for labels and order; taken
        from ``result`` when it carries them (``left`` / ``right`` attributes).

    Returns
    -------
    pl.DataFrame
        ``left_stage``, ``right_stage``, ``left_rank``, ``right_rank``,
        ``left_label``, ``right_label``, ``contacts`` (every pair, zeros
        included), ``share_of_left`` (share of the left stage's contacts).
    """
    lang = _check_lang(lang)
    carried = getattr(result, "table", None)
    frame = carried if isinstance(carried, pl.DataFrame) else _frame(result, "comparison")
    long = _compare_long(frame)
    left = _resolve(
        left if left is not None else getattr(result, "left", None), _ids(long, "left_stage")
    )
    right = _resolve(
        right if right is not None else getattr(result, "right", None), _ids(long, "right_stage")
    )
    left_ranks, right_ranks = _ranks(left), _ranks(right)
    left_ids = list(left_ranks) or long["left_stage"].unique(maintain_order=True).to_list()
    right_ids = list(right_ranks) or long["right_stage"].unique(maintain_order=True).to_list()
    grid = pl.DataFrame(
        [(a, b) for a in left_ids for b in right_ids],
        schema={"left_stage": pl.String, "right_stage": pl.String},
        orient="row",
    )
    left_labels, right_labels = stage_labels(left, lang), stage_labels(right, lang)
    table = (
        grid.join(long, on=["left_stage", "right_stage"], how="left")
        .with_columns(pl.col("contacts").fill_null(0))
        .with_columns(
            pl.col("left_stage")
            .replace_strict({s: i for i, s in enumerate(left_ids, 1)}, return_dtype=pl.Int64)
            .alias("left_rank"),
            pl.col("right_stage")
            .replace_strict({s: i for i, s in enumerate(right_ids, 1)}, return_dtype=pl.Int64)
            .alias("right_rank"),
            pl.col("left_stage")
            .replace_strict(left_labels, default=pl.col("left_stage"))
            .alias("left_label"),
            pl.col("right_stage")
            .replace_strict(right_labels, default=pl.col("right_stage"))
            .alias("right_label"),
            (pl.col("contacts") / pl.col("contacts").sum().over("left_stage"))
            .fill_nan(None)
            .alias("share_of_left"),
        )
    )
    return table.select(
        "left_stage",
        "right_stage",
        "left_rank",
        "right_rank",
        "left_label",
        "right_label",
        "contacts",
        "share_of_left",
    ).sort("left_rank", "right_rank")


def _compare_long(frame: pl.DataFrame) -> pl.DataFrame:
    lcol = _column(frame, ("left_stage", "left", "stage_left"), "comparison", required=False)
    rcol = _column(frame, ("right_stage", "right", "stage_right"), "comparison", required=False)
    ccol = _column(frame, ("contacts", "count", "n"), "comparison", required=False)
    if lcol and rcol and ccol:
        return frame.select(
            pl.col(lcol).cast(pl.String).alias("left_stage"),
            pl.col(rcol).cast(pl.String).alias("right_stage"),
            pl.col(ccol).cast(pl.Int64).alias("contacts"),
        )
    key = frame.columns[0]
    counts = [c for c in frame.columns[1:] if frame.schema[c].is_integer()]
    return frame.unpivot(
        index=key, on=counts, variable_name="right_stage", value_name="contacts"
    ).select(
        pl.col(key).cast(pl.String).alias("left_stage"),
        "right_stage",
        pl.col("contacts").cast(pl.Int64),
    )


def compare_figure(
    result: Any,
    *,
    lang: Lang = "en",
    left: Any = None,
    right: Any = None,
    normalise: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Draw two definitions' cross-table as a heat map of contact counts.

    Rows are the left definition's stages (first stage at the top), columns the
    right one's; each cell shows its count (and the share of the row when
    ``normalise=True``, which also colours by that share).

    Parameters
    ----------
    result
        The comparison, or its table (see :func:`compare_table`).
    lang, title
        As in :func:`funnel_figure`.
    left, right
        The two definitions, when ``result`` does not carry them.
    normalise
        Colour by share of the row instead of counts.

    Examples
    --------
    >>> table = pl.DataFrame({"left_stage": ["a", "a", "b"], "right_stage": ["x", "y", "y"],
    ...                       "contacts": [3, 1, 2]})
    >>> compare_figure(table).data[0].z
    ([3, 1], [0, 2])
    """
    lang = _check_lang(lang)
    left = left if left is not None else getattr(result, "left", None)
    right = right if right is not None else getattr(result, "right", None)
    table = _shown(compare_table(result, lang=lang, left=left, right=right))
    rows = table.select("left_rank", "left_label").unique().sort("left_rank").rows()
    cols = table.select("right_rank", "right_label").unique().sort("right_rank").rows()
    cell = {
        (a, b): (n, s)
        for a, b, n, s in table.select(
            "left_rank", "right_rank", "contacts", "share_of_left"
        ).iter_rows()
    }
    counts = [[cell[(r, c)][0] for c, _ in cols] for r, _ in rows]
    shares = [[cell[(r, c)][1] for c, _ in cols] for r, _ in rows]
    labels = [
        [
            (f"{_int(n, lang)}<br>{_pct(s, lang, 0)}" if normalise else _int(n, lang)) if n else ""
            for n, s in zip(count_row, share_row, strict=True)
        ]
        for count_row, share_row in zip(counts, shares, strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            x=[label for _, label in cols],
            y=[label for _, label in rows],
            z=shares if normalise else counts,
            text=labels,
            texttemplate="%{text}",
            colorscale=_SEQUENTIAL,
            zmin=0,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "%" if normalise else text("contacts", lang)}},
            customdata=counts,
            hovertemplate=(
                f"%{{y}} → %{{x}}: %{{customdata:,}} {text('contacts', lang).lower()}"
                "<extra></extra>"
            ),
        )
    )
    left_name, right_name = _funnel_name(left) or "left", _funnel_name(right) or "right"
    fig.update_yaxes(autorange="reversed", showgrid=False, title={"text": left_name})
    fig.update_xaxes(side="top", showgrid=False, title={"text": right_name})
    default = f"{text('same_contacts', lang)}: {left_name} × {right_name}"
    fig.update_layout(margin={"t": 130})
    return _base_layout(fig, lang, title or default)


# --------------------------------------------------------------------------- timeline
_CREATED = "(created)"


def timeline_table(explanation: Any, *, lang: Lang = "en", funnel: Any = None) -> pl.DataFrame:
    """Return what :func:`timeline_figure` draws: one row per event of the contact.

    Parameters
    ----------
    explanation
        One contact's :class:`~funnelkit.stages.Explanation`, or a table with
        ``occurred_at``, ``event`` and ``stage`` (the stage that event put the
        contact in, null for events that moved it nowhere).
    lang, funnel
        As in :func:`funnel_table`.

    Returns
    -------
    pl.DataFrame
        ``occurred_at``, ``event``, ``entered`` (the stage ids entered at that
        event: several when stages were skipped), ``rank`` (the highest of them,
        null when none), ``label`` (their labels, joined), ``colour``; in time
        order.  Each stage's entry goes to the first event at its
        ``reached_at`` that is evidence for it (else the first event then); a
        contact created from the contacts table before any event gets a
        ``(created)`` row.
    """
    lang = _check_lang(lang)
    timeline, stages = getattr(explanation, "timeline", None), getattr(explanation, "stages", None)
    if isinstance(timeline, pl.DataFrame) and isinstance(stages, pl.DataFrame):
        definition = _result_funnel(explanation, funnel, _ids(stages, "stage"))
        table = _entries(timeline, stages)
    else:
        frame = _frame(explanation, "timeline")
        when = _column(frame, ("occurred_at", "at", "time"), "timeline")
        event = _column(frame, ("event",), "timeline")
        stage = _column(frame, ("stage", "entered_stage"), "timeline", required=False)
        definition = _result_funnel(explanation, funnel, _ids(frame, stage) if stage else ())
        entered = pl.col(stage).cast(pl.String) if stage else pl.lit(None, dtype=pl.String)
        table = frame.select(
            pl.col(when).alias("occurred_at"),
            pl.col(event).cast(pl.String).alias("event"),
            pl.when(entered.is_not_null())
            .then(pl.concat_list(entered))
            .otherwise(pl.lit([], dtype=pl.List(pl.String)))
            .alias("entered"),
        )
    ranks = _ranks(definition)
    if not ranks:
        seen = table["entered"].explode().drop_nulls().unique(maintain_order=True).to_list()
        ranks = {str(s): i for i, s in enumerate(seen, start=1)}
    labels = _label_map(definition, lang)
    top = pl.col("entered").list.eval(
        pl.element().replace_strict(ranks, default=0, return_dtype=pl.Int64)
    )
    named = pl.col("entered").list.eval(pl.element().replace_strict(labels, default=pl.element()))
    return (
        table.with_columns(
            pl.when(pl.col("entered").list.len() > 0).then(top.list.max()).alias("rank"),
            named.list.join(" · ").alias("label"),
        )
        .with_columns(_colour_of("rank").alias("colour"))
        .sort("occurred_at", maintain_order=True)
    )


def _entries(timeline: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """Attach each reached stage of an explanation to the event that put it there."""
    has_evidence = "evidence_for" in timeline.columns
    events = timeline.select(
        "occurred_at",
        "event",
        (
            pl.col("evidence_for")
            if has_evidence
            else pl.lit([], dtype=pl.List(pl.String)).alias("evidence_for")
        ),
    ).with_row_index("_row")
    entered: dict[int, list[str]] = {}
    extra: list[tuple[Any, list[str]]] = []
    for stage, at in stages.sort("rank").select("stage", "reached_at").iter_rows():
        if at is None:
            continue
        same_time = events.filter(pl.col("occurred_at") == at)
        if same_time.is_empty():
            extra.append((at, [stage]))
            continue
        own = same_time.filter(pl.col("evidence_for").list.contains(stage))
        busy = same_time.filter(pl.col("evidence_for").list.len() > 0)
        pick = own if own.height else busy if busy.height else same_time
        entered.setdefault(int(pick["_row"][0]), []).append(str(stage))
    attached = pl.DataFrame(
        {"_row": list(entered), "entered": list(entered.values())},
        schema={"_row": pl.UInt32, "entered": pl.List(pl.String)},
    )
    table = events.join(attached, on="_row", how="left", maintain_order="left").select(
        "occurred_at",
        "event",
        pl.col("entered").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    )
    if extra:
        created = pl.DataFrame(
            {
                "occurred_at": [at for at, _ in extra],
                "event": [_CREATED] * len(extra),
                "entered": [ids for _, ids in extra],
            },
            schema=table.schema,
        )
        table = pl.concat([created, table])
    return table


def timeline_figure(
    explanation: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
    contact_id: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Draw one contact's events on a time axis with stage entries marked.

    Events are grey dots, one row per event name.  An event that put the
    contact in a stage is also a diamond in that stage's colour (one trace per
    stage, named by its label, so the legend reads as the path taken), with a
    dotted vertical line and the stage label at the top.

    Parameters
    ----------
    explanation
        One contact's explanation or its table (see :func:`timeline_table`).
    lang, funnel, title
        As in :func:`funnel_figure`.
    contact_id
        Shown in the title (default: the explanation's ``contact_id``).

    Examples
    --------
    >>> import datetime as dt
    >>> table = pl.DataFrame({"occurred_at": [dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 5)],
    ...                       "event": ["page_view", "purchase"], "stage": [None, "client"]})
    >>> [t.name for t in timeline_figure(table).data]
    ['Event', 'client']
    """
    lang = _check_lang(lang)
    table = timeline_table(explanation, lang=lang, funnel=funnel)
    definition = _result_funnel(explanation, funnel, table["entered"].explode().drop_nulls())
    table = _shown(table, "event", "label")  # "entered" keeps the stage ids it is searched by
    labels = _label_map(definition, lang)
    ranks = _rank_map(definition)
    fig = go.Figure(
        go.Scatter(
            name=text("event", lang),
            x=table["occurred_at"].to_list(),
            y=table["event"].to_list(),
            mode="markers",
            marker={"color": "#BDBDBD", "size": 9, "line": {"color": "#757575", "width": 1}},
            hovertemplate="%{x|%Y-%m-%d %H:%M} · %{y}<extra></extra>",
            showlegend=False,
        )
    )
    entries = table.filter(pl.col("entered").list.len() > 0)
    order = sorted(
        {str(s) for ids in entries["entered"].to_list() for s in ids},
        key=lambda s: ranks.get(s, 0),
    )
    fallback = {s: i for i, s in enumerate(order, start=1)}
    for stage in order:
        rows = entries.filter(pl.col("entered").list.contains(stage))
        label = plot_text(labels.get(stage, stage))
        fig.add_trace(
            go.Scatter(
                name=label,
                x=rows["occurred_at"].to_list(),
                y=rows["event"].to_list(),
                mode="markers",
                marker={
                    "color": stage_colour(ranks.get(stage, fallback[stage])),
                    "size": 16,
                    "symbol": "diamond",
                    "line": {"color": "white", "width": 1},
                },
                hovertemplate="%{x|%Y-%m-%d %H:%M} · %{y}<br>%{meta}<extra></extra>",
                meta=text("reached", lang, stage=label),
            )
        )
    for row in entries.iter_rows(named=True):
        fig.add_vline(
            x=row["occurred_at"],
            line={"color": row["colour"], "width": 1.5, "dash": "dot"},
            annotation={"text": row["label"], "font": {"color": row["colour"], "size": 11}},
            annotation_position="top",
        )
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=table["event"].unique(maintain_order=True).to_list(),
        title={"text": text("event", lang)},
        showgrid=False,
    )
    fig.update_layout(legend={"orientation": "h", "y": -0.15, "yanchor": "top", "x": 0})
    who = plot_text(contact_id or getattr(explanation, "contact_id", None) or "") or None
    name = _name_of(explanation, funnel)
    default = (text("contact", lang, id=who) if who else text("event", lang)) + (
        f" ({name})" if name else ""
    )
    return _base_layout(fig, lang, title or default)


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
