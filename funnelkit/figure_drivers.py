"""The drivers figure: odds ratios with their intervals, on a log axis, helps against hurts.

:func:`drivers_table` prepares what is drawn from a
:class:`~funnelkit.drivers.DriversResult` (the tested signals, strongest
first, their labels, colours and hover texts in English or French);
:func:`drivers_figure` draws it: one row per signal, a dot at the odds ratio
and a bar over its 95% interval, on a log axis around 1 (no difference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl

from funnelkit.drivers import DriversResult, format_ratio
from funnelkit.errors import ParameterError
from funnelkit.figure_style import (
    INK,
    LEAK_COLOUR,
    NEUTRAL,
    STAGE_COLOURS,
    Lang,
    base_layout,
    check_lang,
    format_pct,
    shown,
)
from funnelkit.markup import plot_text

__all__ = [
    "HELPS_COLOUR",
    "HURTS_COLOUR",
    "drivers_figure",
    "drivers_table",
    "signal_label",
    "step_labels",
]

#: Signals that go with converting more (the green of the stage palette).
HELPS_COLOUR = STAGE_COLOURS[2]
#: Signals that go with converting less (the colour of the biggest leak).
HURTS_COLOUR = LEAK_COLOUR

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Why contacts drop at {before} → {after}",
        "subtitle": "odds of going on, with and without each signal (95% interval)",
        "axis": "Odds ratio (log scale; 1 = no difference)",
        "did": "did {name}",
        "came_with": "{name} = {value} (step event)",
        "had": "{name} = {value} (contact)",
        "helps": "helps",
        "hurts": "hurts",
        "within noise": "within noise",
        "hover": "{signal}\n{verdict}: {rate_with} went on, {rate_without} without\n"
        "odds ratio {ratio} (95% CI {low}–{high}), q = {q}",
        "none": "No signal tested (too few contacts)",
        "left": "← hurts",
        "right": "helps →",
    },
    "fr": {
        "title": "Pourquoi les contacts s'arrêtent à {before} → {after}",
        "subtitle": "chances de poursuivre, avec et sans chaque signal (intervalle à 95\u202f%)",
        "axis": "Rapport des cotes (échelle log ; 1 = aucune différence)",
        "did": "a fait {name}",
        "came_with": "{name} = {value} (événement de l'étape)",
        "had": "{name} = {value} (contact)",
        "helps": "aide",
        "hurts": "freine",
        "within noise": "dans le bruit",
        "hover": "{signal}\n{verdict} : {rate_with} ont poursuivi, {rate_without} sans\n"
        "rapport des cotes {ratio} (IC 95\u202f% {low}–{high}), q = {q}",
        "none": "Aucun signal testé (trop peu de contacts)",
        "left": "← freine",
        "right": "aide →",
    },
}


_TICKS = tuple(m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5))


def _word(key: str, lang: Lang, **values: object) -> str:
    words = _WORDS[lang]
    return words[key].format(**values) if values else words[key]


def signal_label(row: Mapping[str, Any], lang: Lang = "en") -> str:
    """Return a signal of a drivers table as the figure and the report name it, in ``lang``.

    Examples
    --------
    >>> signal_label({"kind": "event", "source": "events", "name": "webinar", "value": None}, "fr")
    'a fait webinar'
    >>> signal_label({"kind": "property", "source": "contacts", "name": "segment", "value": "b2b"})
    'segment = b2b (contact)'
    """
    lang = check_lang(lang)
    if row["kind"] == "event":
        return _word("did", lang, name=row["name"])
    key = "came_with" if row["source"] == "events" else "had"
    return _word(key, lang, name=row["name"], value=row["value"])


def _ratio(value: float, lang: Lang) -> str:
    text = format_ratio(value)
    return text if lang == "en" else text.replace(",", "\u202f").replace(".", ",")


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _q(value: float, lang: Lang) -> str:
    """Return a q-value with two significant digits; in French a decimal comma and ``×10⁻⁵``."""
    text = f"{value:.2g}"
    if lang == "en":
        return text
    mantissa, _, exponent = text.partition("e")
    mantissa = mantissa.replace(".", ",")
    if not exponent:
        return mantissa
    return f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPTS)}"


def drivers_table(result: DriversResult, *, lang: Lang = "en", top: int = 15) -> pl.DataFrame:
    """Return what :func:`drivers_figure` draws: the ``top`` tested signals, strongest first.

    Texts are raw (escaped only when drawn); untested signals (too few
    contacts) are never drawn.

    Parameters
    ----------
    result
        A :class:`~funnelkit.drivers.DriversResult`.
    lang
        ``"en"`` or ``"fr"``: the labels, verdicts and hover texts.
    top
        How many signals to keep, in the result's order (significant ones
        first, then by the size of the odds ratio).

    Returns
    -------
    pl.DataFrame
        ``label``, ``kind``, ``name``, ``value``, ``odds_ratio``, ``ci_low``,
        ``ci_high``, ``q_value``, ``verdict`` (in ``lang``), ``colour`` and
        ``hover`` (one line break between its lines).

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``top`` is below 1.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.drivers import drivers
    >>> day = dt.datetime(2026, 9, 1)
    >>> rows = [(f"c{i}", day, "visit") for i in range(80)]
    >>> rows += [(f"c{i}", day + dt.timedelta(hours=1), "webinar") for i in range(0, 80, 2)]
    >>> rows += [(f"c{i}", day + dt.timedelta(hours=2), "signup") for i in range(0, 80, 3)]
    >>> log = pl.DataFrame(rows, schema=["contact_id", "occurred_at", "event"], orient="row")
    >>> result = drivers(log, ["visit", "signup"], window="1d", until="2026-10-01")
    >>> drivers_table(result, lang="fr").select("label", "verdict").row(0)
    ('a fait webinar', 'dans le bruit')

    See the guide: docs/guides/drivers.md
    """
    lang = check_lang(lang)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        msg = f"top: expected a whole number >= 1, got {top!r}"
        raise ParameterError(msg)
    tested = result.table.filter(~pl.col("suppressed")).head(top)
    colours = {"helps": HELPS_COLOUR, "hurts": HURTS_COLOUR, "within noise": NEUTRAL}
    rows = []
    for row in tested.iter_rows(named=True):
        label = signal_label(row, lang)
        verdict = _word(row["verdict"], lang)
        rows.append(
            {
                "label": label,
                "kind": row["kind"],
                "name": row["name"],
                "value": row["value"],
                "odds_ratio": row["odds_ratio"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "q_value": row["q_value"],
                "verdict": verdict,
                "colour": colours[row["verdict"]],
                "hover": _word(
                    "hover",
                    lang,
                    signal=label,
                    verdict=verdict,
                    rate_with=format_pct(row["rate_with"], lang, 0),
                    rate_without=format_pct(row["rate_without"], lang, 0),
                    ratio=_ratio(row["odds_ratio"], lang),
                    low=_ratio(row["ci_low"], lang),
                    high=_ratio(row["ci_high"], lang),
                    q=_q(row["q_value"], lang),
                ),
            }
        )
    schema = {
        "label": pl.String,
        "kind": pl.String,
        "name": pl.String,
        "value": pl.String,
        "odds_ratio": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "q_value": pl.Float64,
        "verdict": pl.String,
        "colour": pl.String,
        "hover": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def step_labels(result: DriversResult, lang: Lang = "en", funnel: Any = None) -> tuple[str, str]:
    """Return the names of steps k−1 and k: the definition's labels in ``lang`` when given.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.definitions import load_funnel
    >>> names = ("a", "b", "c", "d", "e")
    >>> day = dt.timedelta(days=1)
    >>> result = DriversResult(pl.DataFrame(), 2, names, day, 0, 0, 0, 0.05, 20, 30)
    >>> step_labels(result), step_labels(result, "fr", load_funnel("inbound"))
    (('a', 'b'), ('Prospect', 'Lead froid'))
    """
    k = result.step
    stages = getattr(funnel, "stages", None)
    if stages is not None and len(stages) == len(result.step_names):
        return stages[k - 2].label(lang), stages[k - 1].label(lang)
    return result.from_name, result.to_name


def drivers_figure(
    result: DriversResult, *, lang: Lang = "en", top: int = 15, funnel: Any = None
) -> go.Figure:
    """Draw the odds ratios of :func:`drivers_table` with their 95% intervals on a log axis.

    Signals that help are green, those that hurt red, those within noise
    grey; the strongest is on top.  A dotted line marks 1 (no difference).

    Parameters
    ----------
    result
        A :class:`~funnelkit.drivers.DriversResult`.
    lang
        ``"en"`` or ``"fr"``.
    top
        As in :func:`drivers_table`.
    funnel
        The definition the steps come from: the title then names the steps
        by their labels in ``lang``.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``top`` is below 1.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.drivers import drivers
    >>> day = dt.datetime(2026, 9, 1)
    >>> rows = [(f"c{i}", day, "visit") for i in range(80)]
    >>> rows += [(f"c{i}", day + dt.timedelta(hours=1), "webinar") for i in range(0, 80, 2)]
    >>> rows += [(f"c{i}", day + dt.timedelta(hours=2), "signup") for i in range(0, 80, 2)]
    >>> log = pl.DataFrame(rows, schema=["contact_id", "occurred_at", "event"], orient="row")
    >>> fig = drivers_figure(drivers(log, ["visit", "signup"], window="1d", until="2026-10-01"))
    >>> fig.layout.xaxis.type, list(fig.data[0].y)
    ('log', ['did webinar'])

    See the guide: docs/guides/drivers.md
    """
    lang = check_lang(lang)
    table = drivers_table(result, lang=lang, top=top)
    drawn = (
        shown(table, "label", "hover")
        .with_columns(pl.col("hover").str.replace_all("\n", "<br>", literal=True))
        .reverse()  # plotly draws the first row at the bottom
    )
    fig = go.Figure()
    before, after = step_labels(result, lang, funnel)
    title = _word("title", lang, before=before, after=after)
    if table.is_empty():
        fig.add_annotation(
            text=_word("none", lang), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
    else:
        fig.add_trace(
            go.Scatter(
                x=drawn["odds_ratio"].to_list(),
                y=drawn["label"].to_list(),
                mode="markers",
                marker={"color": drawn["colour"].to_list(), "size": 10},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (drawn["ci_high"] - drawn["odds_ratio"]).to_list(),
                    "arrayminus": (drawn["odds_ratio"] - drawn["ci_low"]).to_list(),
                    "color": INK,
                    "thickness": 1.5,
                    "width": 4,
                },
                hovertext=drawn["hover"].to_list(),
                hoverinfo="text",
                showlegend=False,
            )
        )
        fig.add_vline(x=1.0, line={"color": NEUTRAL, "dash": "dot"})
        for side, anchor, colour in (
            ("left", "right", HURTS_COLOUR),
            ("right", "left", HELPS_COLOUR),
        ):
            # on a log axis an annotation's x is log10 of the value: 0 is an odds ratio of 1
            fig.add_annotation(
                text=_word(side, lang),
                x=0,
                xref="x",
                y=1.0,
                yref="paper",
                yanchor="bottom",
                xanchor=anchor,
                showarrow=False,
                font={"size": 11, "color": colour},
            )
        low = min(1.0, *table["ci_low"].to_list())
        high = max(1.0, *table["ci_high"].to_list())
        ticks = [v for v in _TICKS if low / 2 <= v <= high * 2]
        fig.update_xaxes(tickvals=ticks, ticktext=[_ratio(v, lang) for v in ticks])
    base_layout(fig, lang, plot_text(title))
    fig.update_layout(
        xaxis={"type": "log", "title": {"text": _word("axis", lang)}},
        yaxis={"automargin": True},
        height=max(320, 60 + 28 * max(table.height, 1)),
    )
    fig.add_annotation(
        text=_word("subtitle", lang),
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0,
        y=1.06,
        xanchor="left",
        font={"size": 11, "color": "#616161"},
    )
    return fig
