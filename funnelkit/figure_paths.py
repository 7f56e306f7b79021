"""The figure of drop-off paths: a Sankey from step *k* to the next events, by outcome.

:func:`paths_table` says what is drawn (one row per link, with its nodes'
labels and colours); :func:`paths_figure` draws it.  Both read a
:class:`funnelkit.paths.DropOffPaths`: step *k* on the left, then one node
per outcome (went on to step *k+1*, stopped, window still open), then the
first, second and third next events of each outcome's contacts (the
``top`` most frequent at each position, the rest as "Other").  Outcomes keep
their colour along their links, so droppers and converters stay apart.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

from funnelkit.figure_input import label_map
from funnelkit.figure_style import (
    LEAK_COLOUR,
    NEUTRAL,
    Lang,
    base_layout,
    check_lang,
    rgba,
    sankey_hovers,
    shown,
    stage_colour,
    text,
)
from funnelkit.markup import plot_text
from funnelkit.paths import GROUPS, NO_EVENT, OTHER, DropOffPaths

__all__ = ["paths_figure", "paths_table"]

_STEP_KEY = "step"


def _group_colour(group: str, step: int) -> str:
    if group == "converted":
        return stage_colour(step + 1)
    return LEAK_COLOUR if group == "dropped" else NEUTRAL


def _group_word(group: str, lang: Lang, next_step: str) -> str:
    key = {"converted": "paths_went_on", "dropped": "paths_stopped", "open": "paths_open"}[group]
    return text(key, lang, step=next_step)


def paths_table(result: DropOffPaths, *, lang: Lang = "en", funnel: Any = None) -> pl.DataFrame:
    """Return what :func:`paths_figure` draws: one row per link.

    Parameters
    ----------
    result
        Drop-off paths (:func:`funnelkit.paths.drop_off_paths`).
    lang
        ``"en"`` or ``"fr"``: the words of the outcomes, "(no further event)"
        and "Other", and the stage labels when ``funnel`` is given.
    funnel
        The funnel definition the steps are stages of, for their labels in ``lang``.

    Returns
    -------
    pl.DataFrame
        ``group``, ``position`` (0: step *k* to an outcome; 1 to ``depth``:
        to the next event at that position), ``source``, ``target`` (node
        keys, unique per node), ``source_label``, ``target_label`` (raw texts;
        :func:`paths_figure` escapes them), ``contacts`` and ``colour`` (the
        outcome's).  Groups without contacts have no row.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.paths import drop_off_paths
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "a"],
    ...     "occurred_at": [day, day + dt.timedelta(hours=1), day + dt.timedelta(hours=2)],
    ...     "event": ["visit", "signup", "like"]})
    >>> paths = drop_off_paths(log, ["visit", "signup", "buy"], window="1d", step=2,
    ...                        min_size=1, until=day + dt.timedelta(days=9))
    >>> paths_table(paths).select("position", "target_label", "contacts").rows()
    [(0, 'stopped (window closed)', 1), (1, 'like', 1)]
    """
    lang = check_lang(lang)
    labels = label_map(funnel, lang) if funnel is not None else {}
    here = labels.get(result.from_name, result.from_name)
    following = labels.get(result.to_name, result.to_name)
    words = {NO_EVENT: text("paths_no_event", lang), OTHER: text("other", lang)}
    groups = result.groups.filter(pl.col("contacts") > 0)
    rows: list[dict[str, Any]] = [
        {
            "group": g,
            "position": 0,
            "source": _STEP_KEY,
            "target": g,
            "source_label": here,
            "target_label": _group_word(g, lang, following),
            "contacts": int(n),
            "colour": _group_colour(g, result.step),
        }
        for g, n in groups.select("group", "contacts").iter_rows()
    ]
    for link in result.links.iter_rows(named=True):
        g, position = link["group"], link["position"]
        source = g if position == 1 else f"{g}|{position - 1}|{link['source']}"
        source_label = (
            _group_word(g, lang, following)
            if position == 1
            else words.get(link["source"], link["source"])
        )
        rows.append(
            {
                "group": g,
                "position": position,
                "source": source,
                "target": f"{g}|{position}|{link['target']}",
                "source_label": source_label,
                "target_label": words.get(link["target"], link["target"]),
                "contacts": int(link["contacts"]),
                "colour": _group_colour(g, result.step),
            }
        )
    schema = {
        "group": pl.String,
        "position": pl.Int64,
        "source": pl.String,
        "target": pl.String,
        "source_label": pl.String,
        "target_label": pl.String,
        "contacts": pl.Int64,
        "colour": pl.String,
    }
    order = {g: i for i, g in enumerate(GROUPS)}
    table = pl.DataFrame(rows, schema=schema)
    return table.sort(
        pl.col("group").replace_strict(order, return_dtype=pl.Int64),
        "position",
        pl.col("contacts"),
        descending=[False, False, True],
        maintain_order=True,
    )


def paths_figure(
    result: DropOffPaths,
    *,
    lang: Lang = "en",
    funnel: Any = None,
    title: str | None = None,
) -> go.Figure:
    """Draw drop-off paths as a Sankey: step *k* → outcome → first, second, third next event.

    Parameters
    ----------
    result
        Drop-off paths (:func:`funnelkit.paths.drop_off_paths`).
    lang, funnel
        As in :func:`paths_table`.
    title
        The figure title (text, escaped); by default it names step *k*.

    Returns
    -------
    go.Figure
        One ``Sankey`` trace; every label escaped for plotly.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.paths import drop_off_paths
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "a"],
    ...     "occurred_at": [day, day + dt.timedelta(hours=1), day + dt.timedelta(hours=2)],
    ...     "event": ["visit", "signup", "<b>like</b>"]})
    >>> paths = drop_off_paths(log, ["visit", "signup", "buy"], window="1d", step=2,
    ...                        min_size=1, until=day + dt.timedelta(days=9))
    >>> paths_figure(paths).data[0].node.label
    ('signup', 'stopped (window closed)', '&lt;b&gt;like&lt;/b&gt;')
    """
    lang = check_lang(lang)
    raw = paths_table(result, lang=lang, funnel=funnel)
    table = shown(raw, "source_label", "target_label")
    keys: dict[str, int] = {}
    labels: list[str] = []
    colours: list[str] = []
    for row in table.iter_rows(named=True):
        for key, label in (
            (row["source"], row["source_label"]),
            (row["target"], row["target_label"]),
        ):
            if key not in keys:
                keys[key] = len(labels)
                labels.append(label)
                colours.append(stage_colour(result.step) if key == _STEP_KEY else row["colour"])
    sources = [keys[k] for k in table["source"].to_list()]
    targets = [keys[k] for k in table["target"].to_list()]
    values = table["contacts"].to_list()
    node_hover, link_hover = sankey_hovers(sources, targets, values, len(labels), lang)
    # plotly places each node in the column of its depth: step k, outcomes, 1st, 2nd... event
    sankey = go.Sankey(
        arrangement="snap",
        valueformat=",d",
        node={
            "label": labels,
            "color": colours,
            "pad": 12,
            "thickness": 14,
            "line": {"color": "white", "width": 0.5},
            **node_hover,
        },
        link={
            "source": sources,
            "target": targets,
            "value": values,
            "color": [rgba(c, 0.35) for c in table["colour"].to_list()],
            **link_hover,
        },
    )
    labels_of = label_map(funnel, lang) if funnel is not None else {}
    here = plot_text(labels_of.get(result.from_name, result.from_name))
    default = text("paths_title", lang, step=here)
    return base_layout(go.Figure(sankey), lang, plot_text(title) if title else default)
