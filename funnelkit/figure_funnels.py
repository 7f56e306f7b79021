"""Funnel figures: the narrowing funnel and the funnel by segment.

:func:`funnel_table` and :func:`funnel_figure` (counts, step and overall
conversion, the biggest leak), :func:`breakdown_table` and
:func:`breakdown_figure` (conversion from the first stage per segment, with
Wilson intervals).  Re-exported by :mod:`funnelkit.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from funnelkit.columns import NO_VALUE, OTHERS
from funnelkit.errors import MissingColumnError, did_you_mean
from funnelkit.figure_input import (
    NAME_COLUMNS,
    STEP_COLUMNS,
    as_frame,
    find_column,
    ids_in,
    label_map,
    name_of,
    result_funnel,
)
from funnelkit.figure_style import (
    LANE_FONT,
    LEAK_BASE,
    LEAK_COLOUR,
    Lang,
    base_layout,
    check_lang,
    colon,
    colour_of,
    format_int,
    format_pct,
    shown,
    stage_colour,
    text,
    text_width,
)
from funnelkit.markup import plot_text

__all__ = [
    "breakdown_figure",
    "breakdown_table",
    "funnel_figure",
    "funnel_table",
]

# --------------------------------------------------------------------------- funnel
_COUNT_COLUMNS = ("count", "at_or_past", "contacts", "n")
#: Pixels between the plot and a lane beside it, and between two lanes.
_LANE_GAP = 14
_SEGMENT_KEY = "segment"


def _steps_frame(result: Any) -> pl.DataFrame:
    """Return the one-row-per-step table of a funnel result.

    A :class:`~funnelkit.conversion.FunnelResult` computed with ``by=`` gives
    its per-segment breakdown from ``to_polars()``; its ``table`` holds the
    funnel of all contacts, which is what a funnel is drawn from.
    """
    table = getattr(result, "table", None)
    return table if isinstance(table, pl.DataFrame) else as_frame(result, "funnel")


def funnel_table(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
    segment: str | None = None,
    leak_base: int = LEAK_BASE,
) -> pl.DataFrame:
    """Return what :func:`funnel_figure` draws: one row per step (and segment).

    The rates, the drop-off and the biggest leak, computed once here so that
    the figure, the report and the explorer show the same numbers.

    Parameters
    ----------
    result
        A funnel result (:func:`funnelkit.conversion.funnel`, a snapshot of
        :mod:`funnelkit.stages`) or its ``to_polars()`` table: one row per step
        with a step name (``name`` or ``stage``), a ``count`` (``at_or_past``
        in a snapshot), optionally the step's rank (``step`` or ``rank``) and
        a ``label``; rows in funnel order.  A funnel computed ``by=`` a
        column is drawn for all its contacts unless ``segment`` is given.
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
        count - count), ``biggest_leak`` (the first step with the lowest step
        conversion; never step 1), ``colour``.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        funnel result nor a table.
    MissingColumnError
        When the table has no step name or count column.

    Examples
    --------
    >>> table = funnel_table(pl.DataFrame({"name": ["a", "b", "c"], "count": [100, 40, 30]}))
    >>> table.select("rank", "step_conversion", "biggest_leak").rows()
    [(1, None, False), (2, 0.4, True), (3, 0.75, False)]

    See the concept page: docs/concepts/chain-rule.md
    """
    lang = check_lang(lang)
    frame = as_frame(result, "funnel") if segment else _steps_frame(result)
    name_col = find_column(frame, NAME_COLUMNS, "funnel")
    definition = result_funnel(result, funnel, ids_in(frame, name_col))
    count_col = find_column(frame, _COUNT_COLUMNS, "funnel")
    keys = [segment] if segment else []
    if segment and segment not in frame.columns:
        hint = did_you_mean(segment, frame.columns)
        msg = f"the funnel table has no segment column {segment!r}.{hint}"
        raise MissingColumnError(msg)
    step_col = find_column(frame, STEP_COLUMNS, "funnel", required=False)
    rank = pl.int_range(1, pl.len() + 1)
    if step_col:
        rank = pl.col(step_col).cast(pl.Int64)
    elif keys:
        rank = rank.over(keys)
    labels = label_map(definition, lang)
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
        colour_of("rank").alias("colour"),
    )


def _given_label(frame: pl.DataFrame) -> pl.Expr:
    """Return the table's own ``label`` column, else the step name, as ``label``."""
    name = find_column(frame, NAME_COLUMNS, "funnel")
    given = pl.col("label").cast(pl.String) if "label" in frame.columns else pl.lit(None)
    return pl.coalesce(given, pl.col(name).cast(pl.String)).alias("label")


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
    """Return the funnel trace: each bar says its count (and, side by side, its step rate).

    A single funnel's rates are written in the lanes beside the plot
    (:func:`_add_rate_lanes`), never on the bars: a short bar's text goes
    outside it, and a long one would be cut at the plot's edge.
    """
    rows = table.to_dicts()
    texts = []
    for row in rows:
        parts = [f"<b>{format_int(row['count'], lang)}</b>"]
        if row["rank"] > 1 and short:
            parts.append(format_pct(row["step_conversion"], lang))
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
        cliponaxis=False,
        marker={
            "color": [r["colour"] for r in rows],
            "line": {
                "color": [LEAK_COLOUR if is_leak else "white" for is_leak in leak],
                "width": [3 if is_leak else 1 for is_leak in leak],
            },
        },
        connector={"fillcolor": "#F2F2F2", "line": {"width": 0}},
        customdata=[
            [
                format_int(r["count"], lang),
                format_pct(r["step_conversion"], lang),
                format_pct(r["overall_conversion"], lang),
            ]
            for r in rows
        ],
        hovertemplate=(
            f"%{{y}}<br>{text('contacts', lang)}{colon(lang)}%{{customdata[0]}}<br>"
            f"%{{customdata[1]}} {text('of_previous', lang)}<br>"
            f"%{{customdata[2]}} {text('of_first', lang)}<extra>%{{fullData.name}}</extra>"
        ),
        showlegend=False,
    )


def _wrapped(words: str, width: int = 12) -> str:
    """Break ``words`` into lines of about ``width`` characters (``<br>`` between them)."""
    lines: list[str] = []
    for word in words.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "<br>".join(lines)


def _add_rate_lanes(fig: go.Figure, table: pl.DataFrame, lang: Lang) -> None:
    """Write the rates and the biggest leak in their own lanes, right of the plot.

    Two columns (share of the previous step, share of step 1) under their
    headings, then the biggest-leak marker on its row: nothing is drawn over a
    bar or its count.  The right margin is the lanes' width, measured on the
    longest text in ``lang``, so nothing is cut whatever the figure's width.
    """
    rows = table.to_dicts()
    columns = [
        (text("of_previous", lang), [format_pct(r["step_conversion"], lang) for r in rows]),
        (text("of_first", lang), [format_pct(r["overall_conversion"], lang) for r in rows]),
    ]
    offset = _LANE_GAP
    for heading, values in columns:
        heading = _wrapped(heading)
        width = max(text_width(heading, 11), *(text_width(v, LANE_FONT) for v in values))
        fig.add_annotation(
            x=1,
            y=1,
            xref="x domain",
            yref="y domain",
            xanchor="right",
            yanchor="bottom",
            xshift=offset + width,
            text=heading,
            showarrow=False,
            align="right",
            font={"size": 11, "color": "#616161"},
            name="lane_heading",
        )
        for row, value in zip(rows, values, strict=True):
            fig.add_annotation(
                x=1,
                y=row["label"],
                xref="x domain",
                yref="y",
                xanchor="right",
                xshift=offset + width,
                text=value if row["rank"] > 1 or value != "–" else "",
                showarrow=False,
                font={"size": LANE_FONT},
                name="rate",
            )
        offset += width + _LANE_GAP
    marker = _wrapped(f"◀ {text('biggest_leak', lang)}", 14)
    for row in rows:
        if row["biggest_leak"]:
            fig.add_annotation(
                x=1,
                y=row["label"],
                xref="x domain",
                yref="y",
                xanchor="left",
                xshift=offset,
                text=marker,
                showarrow=False,
                font={"color": LEAK_COLOUR, "size": LANE_FONT},
                align="left",
                name="biggest_leak",
            )
    right = offset + text_width(marker, LANE_FONT) + _LANE_GAP
    fig.update_layout(margin={"r": right, "t": 130})


def _leak_sentence(table: pl.DataFrame, lang: Lang) -> str | None:
    leak = table.filter(pl.col("biggest_leak"))
    if leak.is_empty():
        return None
    row = leak.row(0, named=True)
    before = table.filter(pl.col("rank") == row["rank"] - 1)["label"].item()
    return text(
        "leak",
        lang,
        rate=format_pct(row["step_conversion"], lang),
        before=before,
        after=row["label"],
    )


def funnel_figure(
    result: Any,
    *,
    compare: Any = None,
    names: Sequence[str] = (),
    lang: Lang = "en",
    funnel: Any = None,
    title: str | None = None,
    without_events: int = 0,
) -> go.Figure:
    """Draw the narrowing funnel: counts, step and overall conversion, biggest leak.

    Each bar is in its stage colour; the biggest leak has a thick outline and
    a note, and the rates sit in lanes of their own, sized for the language.

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
    without_events
        How many contacts step 1 counts that have no event (contacts of the
        contacts table, entering the first stage when created:
        :func:`~funnelkit.figure_input.contacts_without_events`); said under
        the funnel when there are any.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``funnel`` trace per funnel; the biggest leak has a thick
        :data:`LEAK_COLOUR` outline and an annotation.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        funnel result nor a table.
    MissingColumnError
        When the table has no step name or count column.

    Examples
    --------
    >>> fig = funnel_figure(pl.DataFrame({"name": ["a", "b"], "count": [10, 4]}))
    >>> fig.data[0].x
    (10, 4)

    See the concept page: docs/concepts/chain-rule.md
    """
    lang = check_lang(lang)
    tables = [shown(funnel_table(result, lang=lang, funnel=funnel))]
    if compare is not None:
        tables.append(shown(funnel_table(compare, lang=lang, funnel=funnel)))
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
        name = name_of(result, funnel)
        title = text("funnel", lang) + (f" ({name})" if name else "")
        if leak and compare is None:
            title += f"<br><sup>{text('biggest_leak', lang)}{colon(lang)}{leak}</sup>"
    if compare is None:
        _add_rate_lanes(fig, tables[0], lang)
    for index, table in enumerate(tables if compare is not None else ()):
        # Side by side, each funnel's biggest leak is said under it, in its own lane.
        sentence = _leak_sentence(table, lang)
        if sentence is None:
            continue
        axis = "" if index == 0 else str(index + 1)
        fig.add_annotation(
            x=0.5,
            y=0,
            xref=f"x{axis} domain",
            yref="paper",
            yanchor="top",
            yshift=-8,
            text=f"{text('biggest_leak', lang)}{colon(lang)}<br>{sentence}",
            showarrow=False,
            font={"color": LEAK_COLOUR, "size": 11},
            name="biggest_leak",
        )
    if compare is not None:
        fig.update_layout(margin={"b": 90})
    # The stages are categories, said so: a redraw from a chart with a numeric axis
    # must not read the stage names (where the lanes are placed) as numbers.
    fig.update_yaxes(
        type="category",
        showgrid=False,
        categoryorder="array",
        categoryarray=tables[0]["label"].to_list(),
    )
    if compare is None:
        # Long stage names on two lines: the plot keeps its width in a narrow cell.
        labels = tables[0]["label"].to_list()
        fig.update_yaxes(
            tickmode="array",
            tickvals=labels,
            ticktext=[_wrapped(v, 16) for v in labels],
        )
    fig.update_xaxes(showgrid=False, showticklabels=False)
    if without_events:
        first = tables[0]["label"][0] if tables[0].height else ""
        n = format_int(without_events, lang)
        note = _wrapped(text("without_events", lang, n=n, stage=first), 64)
        # Under the funnel, whose x axis has no labels, in a margin as tall as the note.
        fig.add_annotation(
            x=0,
            y=0,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="top",
            yshift=-6,
            align="left",
            text=note,
            showarrow=False,
            font={"size": 11, "color": "#616161"},
            name="note",
        )
        fig.update_layout(margin={"b": 24 + 16 * (note.count("<br>") + 1)})
    return base_layout(fig, lang, title)


def _add_note(fig: go.Figure, note: str) -> None:
    """Write ``note`` under the x axis's title, wrapped: below the tick labels at any angle."""
    axis = fig.layout.xaxis.title.text
    lines = _wrapped(note, 64)
    styled = f"<span style='font-size:11px;color:#616161'>{lines}</span>"
    fig.update_xaxes(title={"text": f"{axis}<br>{styled}" if axis else styled})


# --------------------------------------------------------------------------- breakdown
def breakdown_table(
    result: Any,
    *,
    by: str | None = None,
    lang: Lang = "en",
    funnel: Any = None,
) -> pl.DataFrame:
    """Return what :func:`breakdown_figure` draws: conversion per segment and stage.

    One funnel per segment, in the order they come; suppressed segments keep
    their rows with null rates.

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
        the result has none) and ``suppressed``.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        funnel result nor a table.
    MissingColumnError
        When the table lacks the segment, step or count column.

    Examples
    --------
    >>> table = pl.DataFrame({"channel": ["a", "a", "b", "b"], "name": ["x", "y"] * 2,
    ...                       "count": [10, 5, 20, 2]})
    >>> breakdown_table(table, by="channel").select("segment", "stage", "overall_conversion").rows()
    [('a', 'x', 1.0), ('b', 'x', 1.0), ('a', 'y', 0.5), ('b', 'y', 0.1)]

    See the concept page: docs/concepts/uncertainty.md
    """
    lang = check_lang(lang)
    frame = as_frame(result, "breakdown")
    by = _segment_column(frame, by or getattr(result, "by", None))
    definition = result_funnel(
        result, funnel, ids_in(frame, find_column(frame, NAME_COLUMNS, "breakdown"))
    )
    # No value of ``by`` at the entry is "(not set)"; the tail past ``top`` is "Other".
    frame = frame.with_columns(
        pl.col(by)
        .cast(pl.String)
        .replace({NO_VALUE: text("not_set", lang), OTHERS: text("other", lang)})
        .alias(by)
    )
    table = funnel_table(frame, lang=lang, funnel=definition, segment=by)
    low = find_column(
        frame, ("ci_low_from_first", "ci_low_first", "ci_low"), "breakdown", required=False
    )
    high = find_column(
        frame, ("ci_high_from_first", "ci_high_first", "ci_high"), "breakdown", required=False
    )
    hidden = find_column(frame, ("suppressed",), "breakdown", required=False)
    extra = pl.DataFrame(
        {
            "ci_low": frame[low].cast(pl.Float64) if low else [None] * frame.height,
            "ci_high": frame[high].cast(pl.Float64) if high else [None] * frame.height,
            "suppressed": frame[hidden].cast(pl.Boolean) if hidden else [False] * frame.height,
        },
        schema={"ci_low": pl.Float64, "ci_high": pl.Float64, "suppressed": pl.Boolean},
    )
    step_col = find_column(frame, STEP_COLUMNS, "breakdown", required=False)
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
    without_events: int = 0,
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
    lang, funnel, title, without_events
        As in :func:`funnel_figure`.  Contacts with no value of ``by`` at their
        entry (``"(none)"`` in the result) are the segment "(not set)", counted
        under its name and explained under the chart.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``bar`` trace per later stage.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        funnel result nor a table.
    MissingColumnError
        When the table lacks the segment, step or count column.

    Examples
    --------
    >>> table = pl.DataFrame({"channel": ["a", "a", "b", "b"], "name": ["x", "y"] * 2,
    ...                       "count": [10, 5, 20, 2]})
    >>> [t.name for t in breakdown_figure(table, by="channel").data]
    ['y']

    See the concept page: docs/concepts/uncertainty.md
    """
    lang = check_lang(lang)
    table = shown(breakdown_table(result, by=by, lang=lang, funnel=funnel))
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
                customdata=[
                    [format_int(c, lang), format_pct(r, lang)]
                    for c, r in zip(part["count"], part["overall_conversion"], strict=True)
                ],
                hovertemplate=(
                    f"%{{x}}{colon(lang)}%{{customdata[1]}} (%{{customdata[0]}} "
                    f"{text('contacts', lang).lower()})<extra>%{{fullData.name}}</extra>"
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
    entrants = dict(table.filter(pl.col("rank") == 1).select(_SEGMENT_KEY, "count").iter_rows())
    fig.update_xaxes(
        title={"text": axis},
        type="category",
        categoryorder="array",
        categoryarray=sizes,
        tickmode="array",
        tickvals=sizes,
        ticktext=[f"{s}<br>n = {format_int(entrants[s], lang)}" for s in sizes],
    )
    notes = []
    if text("not_set", lang) in entrants:
        notes.append(text("not_set_note", lang, by=axis, stage=first_label))
    if without_events:
        n = format_int(without_events, lang)
        notes.append(text("without_events", lang, n=n, stage=first_label))
    if notes:
        _add_note(fig, " ".join(notes))
    name = name_of(result, funnel)
    default = f"{text('conversion', lang)} · {axis}" + (f" ({name})" if name else "")
    return base_layout(fig, lang, title or default)
