"""Figures over time: conversion per entry period, time to convert, cohorts.

:func:`conversion_over_time_table` and :func:`conversion_over_time_figure`
(Wilson bands, incomplete periods dashed), :func:`time_to_convert_table` (a
:class:`Histogram`) and :func:`time_to_convert_figure`, :func:`cohort_table`
and :func:`cohort_figure` (heat map or curves).  Re-exported by
:mod:`funnelkit.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import plotly.graph_objects as go
import polars as pl

from funnelkit.errors import MissingColumnError, ParameterError
from funnelkit.figure_input import (
    NAME_COLUMNS,
    STEP_COLUMNS,
    as_frame,
    find_column,
    ids_in,
    label_map,
    name_of,
    rank_map,
    resolve_funnel,
    result_funnel,
)
from funnelkit.figure_style import (
    INK,
    NEUTRAL,
    SEQUENTIAL,
    Lang,
    base_layout,
    check_lang,
    colon,
    colour_of,
    format_date,
    format_int,
    format_num,
    format_pct,
    period_label,
    rgba,
    shown,
    stage_colour,
    text,
)
from funnelkit.markup import plot_text

__all__ = [
    "Histogram",
    "Unit",
    "cohort_figure",
    "cohort_table",
    "conversion_over_time_figure",
    "conversion_over_time_table",
    "time_to_convert_figure",
    "time_to_convert_table",
]


# --------------------------------------------------------------------------- trends
def conversion_over_time_table(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
) -> pl.DataFrame:
    """Return what :func:`conversion_over_time_figure` draws.

    Step 1 rows are dropped (their rate is 1 by definition); ``entered``
    defaults to the step-1 ``count`` of the period.

    Parameters
    ----------
    result
        Conversion per entry period (:func:`funnelkit.conversion.conversion_over_time`)
        or its table: ``period`` (or ``period_start``), a step name (``name``),
        ``rate`` (or ``conversion_from_first``), ``ci_low``, ``ci_high`` and
        ``incomplete`` (or ``complete``: whether every entrant's window has
        closed).
    lang, funnel
        As in :func:`funnel_table`.

    Returns
    -------
    pl.DataFrame
        ``period``, ``rank``, ``stage``, ``label``, ``entered``, ``converted``,
        ``rate``, ``ci_low``, ``ci_high``, ``incomplete``, ``colour``; sorted by
        rank then period.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        trend nor a table.
    MissingColumnError
        When the table lacks a period, step or rate column.

    Examples
    --------
    >>> import datetime as dt
    >>> table = pl.DataFrame({"period": [dt.date(2026, 11, 2), dt.date(2026, 11, 9)],
    ...     "name": ["b", "b"], "step": [2, 2], "rate": [0.3, 0.1],
    ...     "ci_low": [0.2, 0.05], "ci_high": [0.4, 0.2], "incomplete": [False, True]})
    >>> conversion_over_time_table(table).select("period", "rate", "incomplete").rows()
    [(datetime.date(2026, 11, 2), 0.3, False), (datetime.date(2026, 11, 9), 0.1, True)]

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    lang = check_lang(lang)
    frame = as_frame(result, "conversion over time")
    period = find_column(
        frame, ("period", "period_start", "entry_period", "week"), "conversion over time"
    )
    name = find_column(frame, NAME_COLUMNS, "conversion over time")
    definition = result_funnel(result, funnel, ids_in(frame, name))
    rate = find_column(
        frame, ("rate", "conversion", "conversion_from_first"), "conversion over time"
    )
    step = find_column(frame, STEP_COLUMNS, "conversion over time", required=False)
    entered = find_column(
        frame, ("entered", "entrants", "cohort_size"), "conversion over time", required=False
    )
    converted = find_column(
        frame, ("converted", "reached", "count"), "conversion over time", required=False
    )
    flag = find_column(
        frame, ("incomplete", "is_incomplete"), "conversion over time", required=False
    )
    low = find_column(
        frame, ("ci_low", "ci_low_from_first"), "conversion over time", required=False
    )
    high = find_column(
        frame, ("ci_high", "ci_high_from_first"), "conversion over time", required=False
    )
    ranks = rank_map(definition)
    labels = label_map(definition, lang)
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
            colour_of("rank").alias("colour"),
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

    Each stage gets, in its stage colour, a translucent 95% band, a solid line
    over complete periods, and a dashed, faded line with hollow markers over
    incomplete ones, joined to the last complete point.  A note under the
    title says what the dashes mean.

    Parameters
    ----------
    result
        Conversion per entry period, or its table (see
        :func:`conversion_over_time_table`).
    lang, funnel, title
        As in :func:`funnel_figure`.
    stages
        Stage names to draw (default: every later step).

    Returns
    -------
    plotly.graph_objects.Figure
        Per stage, traces named ``"<label> · 95% interval"``, ``"<label>"``
        and ``"<label> · incomplete"``.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        trend nor a table.
    MissingColumnError
        When the table lacks a period, step or rate column.

    Examples
    --------
    >>> import datetime as dt
    >>> table = pl.DataFrame({"period": [dt.date(2026, 11, 2), dt.date(2026, 11, 9)],
    ...     "name": ["b", "b"], "step": [2, 2], "rate": [0.3, 0.1],
    ...     "ci_low": [0.2, 0.05], "ci_high": [0.4, 0.2], "incomplete": [False, True]})
    >>> [t.name for t in conversion_over_time_figure(table).data]
    ['b · 95% interval', 'b', 'b · incomplete']

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    lang = check_lang(lang)
    table = conversion_over_time_table(result, lang=lang, funnel=funnel)
    if stages:
        table = table.filter(pl.col("stage").is_in(list(stages)))
    table = shown(table)
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
                    fillcolor=rgba(colour, 0.18),
                    line={"width": 0, "color": colour},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=label,
                )
            )
        complete = [not flag for flag in part["incomplete"].to_list()]
        # the label goes in as ``meta``: written into the template, "%{...}" in it would be read
        # every number and day written here, in lang: a d3 format in the template would
        # glue "%" to the number and name the month in English
        hover = (
            f"%{{customdata[3]}}{colon(lang)}%{{customdata[2]}}<br>"
            "%{customdata[0]} / %{customdata[1]}<extra>%{meta}</extra>"
        )
        custom = [
            [format_int(c, lang), format_int(e, lang), format_pct(r, lang), format_date(p, lang)]
            for c, e, r, p in zip(
                part["converted"], part["entered"], part["rate"], periods, strict=True
            )
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
                    line={"color": rgba(colour, 0.55), "width": 2, "dash": "dash"},
                    marker={
                        "color": "white",
                        "size": 7,
                        "line": {"color": rgba(colour, 0.7), "width": 1.5},
                    },
                    opacity=0.8,
                    hovertemplate=hover.replace("<extra>", f" ({text('incomplete', lang)})<extra>"),
                    meta=label,
                    legendgroup=label,
                    showlegend=False,
                )
            )
    _shade_incomplete(fig, table, lang)
    name = name_of(result, funnel)
    default = f"{text('conversion', lang)}" + (f" ({name})" if name else "")
    if table["incomplete"].any():
        default += f"<br><sup>{text('incomplete_note', lang)}</sup>"
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title={"text": text("conversion", lang)})
    fig.update_xaxes(title={"text": text("entry_period", lang)})
    return base_layout(fig, lang, title or default)


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
        fillcolor=NEUTRAL,
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

    A funnel's own histogram is used as it is; per-contact durations are
    binned here (in days, or hours when every duration is under two days).

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
        The bins, with the median and the 90th percentile (linear
        interpolation for per-contact durations).

    Raises
    ------
    ParameterError
        When ``bins`` is below 1, ``steps`` is not a measured transition, or
        ``durations`` is of no known kind.
    MissingColumnError
        When a table has no ``duration`` column.

    Examples
    --------
    >>> from datetime import timedelta
    >>> h = time_to_convert_table([timedelta(days=d) for d in (1, 2, 3, 4, 10)], bins=5)
    >>> h.median, h.unit, h.bins["contacts"].to_list()
    (3.0, 'days', [1, 2, 1, 0, 1])

    See the concept page: docs/concepts/time-to-convert.md
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
        seconds = _seconds(as_frame(durations, "time to convert"))
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

    The bars are in the colour of the stage converted to; the median and the
    90th percentile are vertical lines with their values written.

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

    Raises
    ------
    ParameterError
        As :func:`time_to_convert_table`, or when ``lang`` is unknown.
    MissingColumnError
        As :func:`time_to_convert_table`.

    Examples
    --------
    >>> from datetime import timedelta
    >>> fig = time_to_convert_figure([timedelta(days=d) for d in (1, 2, 3, 4, 10)])
    >>> [s.name for s in fig.layout.shapes]
    ['median', 'p90']

    See the concept page: docs/concepts/time-to-convert.md
    """
    lang = check_lang(lang)
    hist = (
        durations
        if isinstance(durations, Histogram)
        else time_to_convert_table(durations, bins=bins, steps=steps)
    )
    unit = text(hist.unit, lang)
    rank = colour_rank or hist.to_rank
    colour = stage_colour(rank) if rank else NEUTRAL
    table = hist.bins
    fig = go.Figure(
        go.Bar(
            name=text("contacts", lang),
            x=((table["start"] + table["end"]) / 2).to_list(),
            y=table["contacts"].to_list(),
            width=(table["end"] - table["start"]).to_list(),
            marker={"color": colour, "line": {"color": "white", "width": 1}},
            customdata=[
                [format_num(a, lang), format_num(b, lang), format_int(n, lang)]
                for a, b, n in table.select("start", "end", "contacts").iter_rows()
            ],
            hovertemplate=(
                f"%{{customdata[0]}}–%{{customdata[1]}} {unit}{colon(lang)}%{{customdata[2]}}"
                "<extra></extra>"
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
            line={"color": INK, "width": 2, "dash": dash},
        )
        fig.add_annotation(
            x=value,
            y=1 if key == "median" else 0.9,
            yref="paper",
            text=f"{text(key, lang)} {format_num(value, lang)} {unit}",
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
    default = f"{text('time_to_convert', lang)} (n = {format_int(hist.n, lang)})"
    if hist.steps is not None:
        labels = label_map(resolve_funnel(funnel), lang)
        first, last = (plot_text(labels.get(s, s)) for s in hist.steps)
        default = (
            f"{text('time_to_convert', lang)}: {first} → {last} (n = {format_int(hist.n, lang)})"
        )
    return base_layout(fig, lang, title or default)


# --------------------------------------------------------------------------- cohorts
def cohort_table(result: Any) -> pl.DataFrame:
    """Return what :func:`cohort_figure` draws, one row per cohort and day.

    Sorted by cohort then day; the cohort's start is written as text so that
    every figure and table names it the same way.

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
        ``cohort`` (as text, e.g. ``2026-11-02``), ``days``, ``share``, ``size``.

    Raises
    ------
    ParameterError
        When ``result`` is not a cohort result nor a table.
    MissingColumnError
        When the table lacks ``cohort``, ``days`` or ``share``.

    Examples
    --------
    >>> table = pl.DataFrame({"cohort": ["w1", "w1", "w2"], "days": [0, 7, 0],
    ...                       "share": [0.1, 0.3, 0.2]})
    >>> cohort_table(table).rows()
    [('w1', 0, 0.1, None), ('w1', 7, 0.3, None), ('w2', 0, 0.2, None)]

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    frame = as_frame(result, "cohort")
    cohort = find_column(
        frame, ("cohort", "cohort_start", "acquisition_period", "period"), "cohort"
    )
    days = find_column(frame, ("days", "days_since", "day", "days_since_acquisition"), "cohort")
    share = find_column(frame, ("share", "cumulative_share", "rate", "conversion"), "cohort")
    size = find_column(
        frame, ("size", "cohort_size", "contacts", "entered"), "cohort", required=False
    )
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


def _share(value: float | None, lang: Lang) -> str:
    """Return a cohort's share as the hover writes it: nothing for a day not observed yet."""
    return "" if value is None else format_pct(value, lang)


#: The curves chart draws this many latest cohorts in colour, the others as a grey history.
RECENT_COHORTS = 3
HISTORY_COLOUR = "#BDBDBD"
_RECENT_DASHES = ("solid", "dash", "dot")
_HISTORY = {"en": "earlier cohorts ({n})", "fr": "cohortes précédentes ({n})"}


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

    A heat map by default; as curves, the latest cohorts are in the stage's
    colour and the older ones a muted grey history.

    Parameters
    ----------
    result
        A cohort result or its table (see :func:`cohort_table`).
    kind
        ``"heatmap"`` (one ``heatmap`` trace: rows are cohorts, columns days,
        colour the cumulative share; days not observed yet are blank) or
        ``"curves"`` (one line per cohort: the :data:`RECENT_COHORTS` latest
        in the stage's colour, each its own dash and legend entry, the others
        a muted grey history under one legend entry).
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

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        When ``kind`` or ``lang`` is unknown, or ``result`` is not a cohort
        result nor a table.
    MissingColumnError
        When the table lacks ``cohort``, ``days`` or ``share``.

    Examples
    --------
    >>> table = pl.DataFrame({"cohort": ["w1", "w1", "w2"], "days": [0, 7, 0],
    ...                       "share": [0.1, 0.3, 0.2]})
    >>> cohort_figure(table).data[0].z
    ([0.1, 0.3], [0.2, None])

    See the concept page: docs/concepts/cohorts-and-incomplete-periods.md
    """
    lang = check_lang(lang)
    table = shown(cohort_table(result))
    target = target or getattr(result, "target", None)
    definition = resolve_funnel(funnel)
    target_text = plot_text(
        label_map(definition, lang).get(target, target) if target else text("target", lang)
    )
    colour_rank = colour_rank or (rank_map(definition).get(target) if target else None)
    share_title = text("share_reached", lang, stage=target_text)
    cohorts = table["cohort"].unique(maintain_order=True).to_list()
    # the days and weeks named as a reader of lang writes them (the table keeps ISO)
    names = {c: period_label(c, lang) for c in cohorts}
    days = sorted(table["days"].unique().to_list())
    fig = go.Figure()
    if kind == "heatmap":
        lookup = {(c, d): s for c, d, s in table.select("cohort", "days", "share").iter_rows()}
        sizes = dict(table.group_by("cohort").agg(pl.col("size").max()).iter_rows())
        fig.add_trace(
            go.Heatmap(
                x=days,
                y=[names[c] for c in cohorts],
                z=[[lookup.get((c, d)) for d in days] for c in cohorts],
                text=[[_share(lookup.get((c, d)), lang) for d in days] for c in cohorts],
                customdata=[[format_int(sizes.get(c), lang) for _ in days] for c in cohorts],
                colorscale=SEQUENTIAL,
                zmin=0,
                colorbar={"title": {"text": share_title, "side": "right"}, "tickformat": ".0%"},
                hovertemplate=(
                    f"%{{y}} · %{{x}} {text('days', lang)}{colon(lang)}%{{text}}"
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
        recent = min(RECENT_COHORTS, len(cohorts))
        history = len(cohorts) - recent
        for index, (cohort, part) in enumerate(table.group_by("cohort", maintain_order=True)):
            extra: dict[str, Any] = {}
            if index < history:  # the history: one muted grey, one legend entry for all
                line: dict[str, Any] = {"color": HISTORY_COLOUR, "width": 1}
                name = _HISTORY[lang].format(n=history)
                extra = {"legendgroup": "history", "showlegend": index == 0, "opacity": 0.7}
            else:  # the latest cohorts: the stage colour, darker and bolder the newer
                k = index - history + 1
                line = {
                    "color": rgba(colour, round(0.4 + 0.6 * k / recent, 3)),
                    "width": 1.5 + 1.5 * k / recent,
                    "dash": _RECENT_DASHES[recent - k],
                }
                name = names[str(cohort[0])]
            fig.add_trace(
                go.Scatter(
                    name=name,
                    x=part["days"].to_list(),
                    y=part["share"].to_list(),
                    customdata=[[_share(v, lang)] for v in part["share"].to_list()],
                    mode="lines",
                    line=line,
                    hovertemplate=(
                        f"{plot_text(names[str(cohort[0])])} · %{{x}} {text('days', lang)}"
                        f"{colon(lang)}%{{customdata[0]}}<extra></extra>"
                    ),
                    **extra,
                )
            )
        fig.update_yaxes(tickformat=".0%", rangemode="tozero", title={"text": share_title})
        fig.update_layout(
            legend={
                "orientation": "v",
                "y": 1,
                "x": 1.02,
                "yanchor": "top",
                "traceorder": "reversed",  # the newest cohort first
            }
        )
    else:
        msg = f"kind must be 'heatmap' or 'curves', got {kind!r}."
        raise ParameterError(msg)
    fig.update_xaxes(title={"text": text("days_since", lang)})
    default = f"{text('cohort', lang)} · {share_title}"
    return base_layout(fig, lang, title or default)
