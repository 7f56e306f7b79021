"""Figures of stages: flows, two definitions compared, one contact's timeline.

:func:`flows_table` and :func:`flows_figure` (a Sankey of stage at start to
stage at end), :func:`compare_table` and :func:`compare_figure` (the
cross-table of two definitions), :func:`timeline_table` and
:func:`timeline_figure` (one contact's events and stage entries).
Re-exported by :mod:`funnelkit.figures`.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

from funnelkit.figure_input import (
    as_frame,
    find_column,
    funnel_name,
    ids_in,
    label_map,
    name_of,
    rank_map,
    resolve_funnel,
    result_funnel,
    stage_labels,
    stage_ranks,
)
from funnelkit.figure_style import (
    NEUTRAL,
    SEQUENTIAL,
    Lang,
    base_layout,
    check_lang,
    colon,
    colour_of,
    format_date,
    format_int,
    format_pct,
    period_label,
    rgba,
    sankey_hovers,
    shown,
    stage_colour,
    text,
)
from funnelkit.markup import plot_text

__all__ = [
    "compare_figure",
    "compare_table",
    "flows_figure",
    "flows_table",
    "timeline_figure",
    "timeline_table",
]


# --------------------------------------------------------------------------- flows
def flows_table(
    result: Any,
    *,
    lang: Lang = "en",
    funnel: Any = None,
) -> pl.DataFrame:
    """Return what :func:`flows_figure` draws: one row per (stage at start, stage at end).

    New contacts come from rank 0; rows with no contact are dropped.

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
        ``to_rank``, ``from_label``, ``to_label``, ``contacts``.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not
        flows nor a table.
    MissingColumnError
        When the table lacks a stage or count column.

    Examples
    --------
    >>> table = pl.DataFrame({"from_stage": [None, "a", "a"], "to_stage": ["a", "a", "b"],
    ...                       "contacts": [5, 10, 3]})
    >>> flows_table(table).select("from_rank", "to_stage", "contacts").rows()
    [(0, 'a', 5), (1, 'a', 10), (1, 'b', 3)]

    See the concept page: docs/concepts/snapshot-and-flow.md
    """
    lang = check_lang(lang)
    frame = as_frame(result, "flows")
    src = find_column(frame, ("from_stage", "stage_at_start", "start_stage", "from"), "flows")
    dst = find_column(frame, ("to_stage", "stage_at_end", "end_stage", "to"), "flows")
    definition = result_funnel(result, funnel, [*ids_in(frame, src), *ids_in(frame, dst)])
    count = find_column(frame, ("contacts", "count", "n"), "flows")
    labels = label_map(definition, lang)
    ranks = rank_map(definition)
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

    Returns
    -------
    plotly.graph_objects.Figure
        One ``sankey`` trace.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not
        flows nor a table.
    MissingColumnError
        When the table lacks a stage or count column.

    Examples
    --------
    >>> table = pl.DataFrame({"from_stage": [None, "a", "a"], "to_stage": ["a", "a", "b"],
    ...                       "contacts": [5, 10, 3]})
    >>> flows_figure(table).data[0].link.value
    (5, 10, 3)

    See the concept page: docs/concepts/snapshot-and-flow.md
    """
    lang = check_lang(lang)
    table = shown(flows_table(result, lang=lang, funnel=funnel))
    left = table.select("from_rank", "from_label").unique().sort("from_rank").rows()
    right = table.select("to_rank", "to_label").unique().sort("to_rank").rows()
    left_index = {rank: i for i, (rank, _) in enumerate(left)}
    right_index = {rank: len(left) + i for i, (rank, _) in enumerate(right)}
    labels = [f"{lab} ({text('at_start', lang)})" if r else lab for r, lab in left] + [
        f"{lab} ({text('at_end', lang)})" for _, lab in right
    ]
    colours = [stage_colour(r) if r else NEUTRAL for r, _ in left] + [
        stage_colour(r) for r, _ in right
    ]
    ys = _spread(len(left)) + _spread(len(right))
    sources = [left_index[r] for r in table["from_rank"].to_list()]
    targets = [right_index[r] for r in table["to_rank"].to_list()]
    values = table["contacts"].to_list()
    node_hover, link_hover = sankey_hovers(sources, targets, values, len(labels), lang)
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
                **node_hover,
            },
            link={
                "source": sources,
                "target": targets,
                "value": values,
                "color": [rgba(stage_colour(r), 0.35) for r in table["to_rank"].to_list()],
                **link_hover,
            },
        )
    )
    name = name_of(result, funnel)
    default = (
        text("stage_flows", lang)
        + (f" {plot_text(period_label(period, lang))}" if period else "")
        + (f" ({name})" if name else "")
    )
    return base_layout(fig, lang, title or default)


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

    Every pair of stages has a row, zeros included, in funnel order on both
    sides.

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
        ``left_label``, ``right_label``, ``contacts``, ``share_of_left``
        (share of the left stage's contacts).

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        comparison nor a table.
    MissingColumnError
        When the table lacks a stage or count column.

    Examples
    --------
    >>> table = pl.DataFrame({"left_stage": ["a", "a", "b"], "right_stage": ["x", "y", "y"],
    ...                       "contacts": [3, 1, 2]})
    >>> compare_table(table).select("left_stage", "right_stage", "contacts").rows()
    [('a', 'x', 3), ('a', 'y', 1), ('b', 'x', 0), ('b', 'y', 2)]

    See the concept page: docs/concepts/stages.md
    """
    lang = check_lang(lang)
    carried = getattr(result, "table", None)
    frame = carried if isinstance(carried, pl.DataFrame) else as_frame(result, "comparison")
    long = _compare_long(frame)
    left = resolve_funnel(
        left if left is not None else getattr(result, "left", None), ids_in(long, "left_stage")
    )
    right = resolve_funnel(
        right if right is not None else getattr(result, "right", None), ids_in(long, "right_stage")
    )
    left_ranks, right_ranks = stage_ranks(left), stage_ranks(right)
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
    lcol = find_column(frame, ("left_stage", "left", "stage_left"), "comparison", required=False)
    rcol = find_column(frame, ("right_stage", "right", "stage_right"), "comparison", required=False)
    ccol = find_column(frame, ("contacts", "count", "n"), "comparison", required=False)
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

    Returns
    -------
    plotly.graph_objects.Figure
        One ``heatmap`` trace.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``result`` is not a
        comparison nor a table.
    MissingColumnError
        When the table lacks a stage or count column.

    Examples
    --------
    >>> table = pl.DataFrame({"left_stage": ["a", "a", "b"], "right_stage": ["x", "y", "y"],
    ...                       "contacts": [3, 1, 2]})
    >>> compare_figure(table).data[0].z
    ([3, 1], [0, 2])

    See the concept page: docs/concepts/stages.md
    """
    lang = check_lang(lang)
    left = left if left is not None else getattr(result, "left", None)
    right = right if right is not None else getattr(result, "right", None)
    table = shown(compare_table(result, lang=lang, left=left, right=right))
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
            (
                f"{format_int(n, lang)}<br>{format_pct(s, lang, 0)}"
                if normalise
                else format_int(n, lang)
            )
            if n
            else ""
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
            colorscale=SEQUENTIAL,
            zmin=0,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "%" if normalise else text("contacts", lang)}},
            customdata=[[format_int(n, lang) for n in row] for row in counts],
            hovertemplate=(
                f"%{{y}} → %{{x}}{colon(lang)}%{{customdata}} {text('contacts', lang).lower()}"
                "<extra></extra>"
            ),
        )
    )
    left_name, right_name = funnel_name(left) or "left", funnel_name(right) or "right"
    fig.update_yaxes(autorange="reversed", showgrid=False, title={"text": left_name})
    fig.update_xaxes(side="top", showgrid=False, title={"text": right_name})
    default = f"{text('same_contacts', lang)}{colon(lang)}{left_name} × {right_name}"
    fig.update_layout(margin={"t": 130})
    return base_layout(fig, lang, title or default)


# --------------------------------------------------------------------------- timeline
_CREATED = "(created)"


def timeline_table(explanation: Any, *, lang: Lang = "en", funnel: Any = None) -> pl.DataFrame:
    """Return what :func:`timeline_figure` draws: one row per event of the contact.

    Each stage's entry goes to the first event at its ``reached_at`` that is
    evidence for it (else the first event then); a contact created from the
    contacts table before any event gets a ``(created)`` row.

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
        order.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``explanation`` is
        not an explanation nor a table.
    MissingColumnError
        When the table lacks ``occurred_at``, ``event`` or ``stage``.

    Examples
    --------
    >>> import datetime as dt
    >>> table = pl.DataFrame({"occurred_at": [dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 5)],
    ...                       "event": ["page_view", "purchase"], "stage": [None, "client"]})
    >>> timeline_table(table).select("event", "entered").rows()
    [('page_view', []), ('purchase', ['client'])]

    See the concept page: docs/concepts/stages.md
    """
    lang = check_lang(lang)
    timeline, stages = getattr(explanation, "timeline", None), getattr(explanation, "stages", None)
    if isinstance(timeline, pl.DataFrame) and isinstance(stages, pl.DataFrame):
        definition = result_funnel(explanation, funnel, ids_in(stages, "stage"))
        table = _entries(timeline, stages)
    else:
        frame = as_frame(explanation, "timeline")
        when = find_column(frame, ("occurred_at", "at", "time"), "timeline")
        event = find_column(frame, ("event",), "timeline")
        stage = find_column(frame, ("stage", "entered_stage"), "timeline", required=False)
        definition = result_funnel(explanation, funnel, ids_in(frame, stage) if stage else ())
        entered = pl.col(stage).cast(pl.String) if stage else pl.lit(None, dtype=pl.String)
        table = frame.select(
            pl.col(when).alias("occurred_at"),
            pl.col(event).cast(pl.String).alias("event"),
            pl.when(entered.is_not_null())
            .then(pl.concat_list(entered))
            .otherwise(pl.lit([], dtype=pl.List(pl.String)))
            .alias("entered"),
        )
    ranks = stage_ranks(definition)
    if not ranks:
        seen = table["entered"].explode().drop_nulls().unique(maintain_order=True).to_list()
        ranks = {str(s): i for i, s in enumerate(seen, start=1)}
    labels = label_map(definition, lang)
    top = pl.col("entered").list.eval(
        pl.element().replace_strict(ranks, default=0, return_dtype=pl.Int64)
    )
    named = pl.col("entered").list.eval(pl.element().replace_strict(labels, default=pl.element()))
    return (
        table.with_columns(
            pl.when(pl.col("entered").list.len() > 0).then(top.list.max()).alias("rank"),
            named.list.join(" · ").alias("label"),
        )
        .with_columns(colour_of("rank").alias("colour"))
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

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``, or ``explanation`` is
        not an explanation nor a table.
    MissingColumnError
        When the table lacks ``occurred_at``, ``event`` or ``stage``.

    Examples
    --------
    >>> import datetime as dt
    >>> table = pl.DataFrame({"occurred_at": [dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 5)],
    ...                       "event": ["page_view", "purchase"], "stage": [None, "client"]})
    >>> [t.name for t in timeline_figure(table).data]
    ['Event', 'client']

    See the concept page: docs/concepts/stages.md
    """
    lang = check_lang(lang)
    table = timeline_table(explanation, lang=lang, funnel=funnel)
    definition = result_funnel(explanation, funnel, table["entered"].explode().drop_nulls())
    table = shown(table, "event", "label")  # "entered" keeps the stage ids it is searched by
    labels = label_map(definition, lang)
    ranks = rank_map(definition)
    fig = go.Figure(
        go.Scatter(
            name=text("event", lang),
            x=table["occurred_at"].to_list(),
            y=table["event"].to_list(),
            mode="markers",
            marker={"color": "#BDBDBD", "size": 9, "line": {"color": "#757575", "width": 1}},
            customdata=[format_date(t, lang, time=True) for t in table["occurred_at"].to_list()],
            hovertemplate="%{customdata} · %{y}<extra></extra>",
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
                customdata=[format_date(t, lang, time=True) for t in rows["occurred_at"].to_list()],
                mode="markers",
                marker={
                    "color": stage_colour(ranks.get(stage, fallback[stage])),
                    "size": 16,
                    "symbol": "diamond",
                    "line": {"color": "white", "width": 1},
                },
                hovertemplate="%{customdata} · %{y}<br>%{meta}<extra></extra>",
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
    name = name_of(explanation, funnel)
    default = (text("contact", lang, id=who) if who else text("event", lang)) + (
        f" ({name})" if name else ""
    )
    return base_layout(fig, lang, title or default)
