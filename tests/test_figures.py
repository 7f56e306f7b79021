"""Figures are tested on what they draw: trace data, labels, colours per stage, wording.

Each ``*_table`` function is checked on a hand-made table whose answer can be
read by eye; each figure on its traces; the real results of
:mod:`funnelkit.stages` and :mod:`funnelkit.conversion` on a tiny timeline go
through every figure, in English and in French; and the results computed on the
bundled sample are drawn as they come, with no table in between.
"""

from __future__ import annotations

import ast
import html
import importlib
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest

from funnelkit import figure_style
from funnelkit import figures as F
from funnelkit.conversion import cohorts, conversion_over_time, funnel
from funnelkit.definitions import load_funnel
from funnelkit.errors import MissingColumnError, ParameterError
from funnelkit.events import EventLog, read_contacts, read_events
from funnelkit.figure_time import HISTORY_COLOUR, RECENT_COHORTS
from funnelkit.stages import classify, compare, explain, flows, snapshot
from tests.conftest import events_frame
from tests.french import hovers, not_french

INBOUND = load_funnel("inbound")
SALES = load_funnel("sales")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
DAY = 86_400.0


@pytest.fixture(scope="module")
def timeline() -> pl.DataFrame:
    """Five contacts with answers checkable by eye under ``inbound``.

    a: like then ebook then purchase (client); b: walk-in purchase (skips to
    client); c: page views only (prospect... then cold lead: two views within
    30 days score 4 >= 3); d: a like (cold lead); e: a form fill (warm lead).
    """
    return events_frame(
        ("a", "2026-11-02 09:00", "like", None, "social"),
        ("a", "2026-11-03 09:00", "ebook_download", None, "social"),
        ("a", "2026-11-05 09:00", "purchase", 50.0, "social"),
        ("b", "2026-11-04 10:00", "purchase", 80.0, "referral"),
        ("c", "2026-11-02 11:00", "page_view", None, "organic_search"),
        ("c", "2026-11-09 11:00", "page_view", None, "organic_search"),
        ("d", "2026-11-10 12:00", "like", None, "social"),
        ("e", "2026-11-10 13:00", "form_fill", None, "trade_show"),
    )


def _template(fig: go.Figure) -> bool:
    return fig.layout.template == pio.templates[F.TEMPLATE]


# --------------------------------------------------------------------------- look
def test_the_template_is_registered_and_not_forced_as_default() -> None:
    assert F.register_template() == "funnelkit"
    assert "funnelkit" in pio.templates
    assert pio.templates.default != "funnelkit"
    assert list(pio.templates["funnelkit"].layout.colorway) == list(F.STAGE_COLOURS)


def test_stage_colours_follow_the_rank_and_wrap() -> None:
    assert F.stage_colour(1) == F.STAGE_COLOURS[0]
    assert F.stage_colour(4) == F.STAGE_COLOURS[3]
    assert F.stage_colour(len(F.STAGE_COLOURS) + 1) == F.STAGE_COLOURS[0]
    assert len(set(F.STAGE_COLOURS)) == len(F.STAGE_COLOURS)


def test_wording_exists_in_both_languages() -> None:
    assert set(figure_style._TEXT["en"]) == set(figure_style._TEXT["fr"])
    assert F.text("days_since", "fr") == "Jours depuis l'acquisition"


def test_an_unknown_language_is_refused_with_a_hint() -> None:
    with pytest.raises(ParameterError, match=r"lang must be 'en' or 'fr'.*Did you mean 'fr'"):
        F.funnel_figure(pl.DataFrame({"name": ["a"], "count": [1]}), lang="fra")  # type: ignore[arg-type]


def test_stage_labels_come_from_the_definition() -> None:
    assert F.stage_labels(INBOUND, "fr")["cold_lead"] == "Lead froid"
    assert F.stage_labels(SALES, "en")["qualified_prospect"] == "Qualified prospect"


# --------------------------------------------------------------------------- funnel
def test_funnel_table_computes_step_and_overall_conversion() -> None:
    table = F.funnel_table(pl.DataFrame({"name": ["a", "b", "c"], "count": [200, 80, 60]}))
    assert table["step_conversion"].to_list() == [None, 0.4, 0.75]
    assert table["overall_conversion"].to_list() == [1.0, 0.4, 0.3]
    assert table["drop_off"].to_list() == [None, 120, 20]
    assert table["colour"].to_list() == [F.stage_colour(r) for r in (1, 2, 3)]


def test_biggest_leak_is_the_lowest_step_conversion_first_on_ties() -> None:
    table = F.funnel_table(
        pl.DataFrame({"name": list("abcd"), "count": [1000, 500, 250, 200]})
    )  # 50%, 50%, 80%
    assert table["biggest_leak"].to_list() == [False, True, False, False]


def test_biggest_leak_ignores_steps_with_a_tiny_base() -> None:
    table = F.funnel_table(pl.DataFrame({"name": list("abcd"), "count": [1000, 500, 25, 0]}))
    # c keeps 5% of 500; d keeps 0% of only 25 contacts, a base below LEAK_BASE
    assert table.filter(pl.col("biggest_leak"))["stage"].to_list() == ["c"]
    small = F.funnel_table(pl.DataFrame({"name": list("abc"), "count": [10, 5, 1]}))
    assert small.filter(pl.col("biggest_leak"))["stage"].to_list() == ["c"]  # no base: all count


def test_a_funnel_with_no_loss_has_a_leak_only_where_the_rate_is_lowest() -> None:
    table = F.funnel_table(pl.DataFrame({"name": ["a", "b"], "count": [0, 0]}))
    assert table["biggest_leak"].to_list() == [False, False]


def test_funnel_figure_draws_counts_labels_and_stage_colours(timeline: pl.DataFrame) -> None:
    result = funnel(timeline, INBOUND, window="30d")
    fig = F.funnel_figure(result, funnel=INBOUND)
    trace = fig.data[0]
    assert trace.type == "funnel"
    assert list(trace.x) == result.table["count"].to_list()
    assert list(trace.y) == ["Prospect", "Cold lead", "Warm lead", "Client", "Ambassador"]
    assert list(trace.marker.color) == [F.stage_colour(r) for r in range(1, 6)]
    assert _template(fig)
    assert "inbound" in fig.layout.title.text


def test_funnel_figure_highlights_the_biggest_leak() -> None:
    fig = F.funnel_figure(pl.DataFrame({"name": ["a", "b", "c"], "count": [100, 90, 30]}))
    widths = list(fig.data[0].marker.line.width)
    colours = list(fig.data[0].marker.line.color)
    assert widths.index(max(widths)) == 2 and colours[2] == F.LEAK_COLOUR
    (note,) = [a for a in fig.layout.annotations if a.name == "biggest_leak"]
    assert note.y == "c" and note.text == "◀ Biggest leak" and note.xanchor == "left"
    assert "b → c: only 33.3% make the step" in fig.layout.title.text


def _lane(fig: go.Figure, name: str) -> dict[str, str]:
    return {a.y: a.text for a in fig.layout.annotations if a.name == name}


def test_funnel_figure_writes_counts_on_the_bars_and_rates_in_lanes_beside_them() -> None:
    fig = F.funnel_figure(pl.DataFrame({"name": ["a", "b"], "count": [1200, 300]}))
    assert list(fig.data[0].text) == ["<b>1,200</b>", "<b>300</b>"]
    rates = [a for a in fig.layout.annotations if a.name == "rate"]
    assert [(a.y, a.text) for a in rates] == [
        ("a", ""),
        ("b", "25.0%"),
        ("a", "100.0%"),
        ("b", "25.0%"),
    ]
    headings = [a.text for a in fig.layout.annotations if a.name == "lane_heading"]
    assert headings == ["of previous<br>step", "of step 1"]


def test_funnel_figure_in_french_uses_french_labels_and_decimal_commas(
    timeline: pl.DataFrame,
) -> None:
    result = funnel(timeline, INBOUND, window="30d")
    fig = F.funnel_figure(result, funnel=INBOUND, lang="fr")
    assert list(fig.data[0].y)[:3] == ["Prospect", "Lead froid", "Lead chaud"]
    headings = [a.text for a in fig.layout.annotations if a.name == "lane_heading"]
    assert headings == ["de l'étape<br>précédente", "de l'étape 1"]
    rates = [a.text for a in fig.layout.annotations if a.name == "rate" and a.text]
    assert rates and all(re.fullmatch(r"\d+,\d\u202f%", r) for r in rates)
    assert fig.layout.separators == ",\u202f"  # a thousands space as format_int writes it
    assert fig.layout.title.text.startswith("Entonnoir (inbound)")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_biggest_leak_marker_has_its_own_lane_right_of_the_rates(lang: F.Lang) -> None:
    table = pl.DataFrame({"name": ["a", "b", "c"], "count": [100_000, 90_000, 30]})
    fig = F.funnel_figure(table, lang=lang)
    notes = fig.layout.annotations
    (marker,) = [a for a in notes if a.name == "biggest_leak"]
    assert marker.xref == "x domain" and marker.x == 1 and marker.xanchor == "left"
    # every rate ends (right-anchored) before the marker starts
    ends = [a.xshift for a in notes if a.name in ("rate", "lane_heading")]
    assert all(a.xanchor == "right" for a in notes if a.name in ("rate", "lane_heading"))
    assert max(ends) < marker.xshift
    # and the right margin holds the marker in this language
    assert fig.layout.margin.r >= marker.xshift + F.text_width(marker.text)
    assert fig.layout.autosize is True and fig.layout.width is None


def test_funnel_figure_on_a_snapshot_counts_contacts_at_or_past(timeline: pl.DataFrame) -> None:
    snap = snapshot(classify(timeline, INBOUND), INBOUND)
    fig = F.funnel_figure(snap, lang="fr")  # the preset is found by the snapshot's name
    assert list(fig.data[0].x) == snap.table["at_or_past"].to_list() == [5, 5, 3, 2, 0]
    assert fig.data[0].y[1] == "Lead froid"


def test_funnel_figure_side_by_side_shares_the_stages() -> None:
    week = pl.DataFrame({"name": ["a", "b"], "count": [100, 40]})
    before = pl.DataFrame({"name": ["a", "b"], "count": [80, 20]})
    fig = F.funnel_figure(week, compare=before, names=("W46", "W45"))
    assert [list(t.x) for t in fig.data] == [[100, 40], [80, 20]]
    assert [t.xaxis for t in fig.data] == ["x", "x2"]
    assert [a.text for a in fig.layout.annotations if a.text in ("W46", "W45")] == ["W46", "W45"]


def test_contacts_without_events_are_those_a_funnel_adds_at_step_1(sample_log: EventLog) -> None:
    contacts = read_contacts(SAMPLE / "contacts.csv")
    for since, until in ((None, None), ("2026-10-05", "2026-10-26")):
        spans = {"since": since, "until": until}
        alone = funnel(sample_log, INBOUND, window="14d", **spans).table["count"][0]
        both = funnel(sample_log, INBOUND, window="14d", contacts=contacts, **spans)
        silent = F.contacts_without_events(sample_log, contacts, **spans)
        assert both.table["count"][0] - alone == silent > 0
    assert F.contacts_without_events(sample_log, None) == 0
    assert F.contacts_without_events(sample_log, contacts, stage_steps="evidence") == 0


def test_funnel_table_names_a_missing_column() -> None:
    with pytest.raises(MissingColumnError, match=r"no 'count' column.*columns: name, total"):
        F.funnel_table(pl.DataFrame({"name": ["a"], "total": [1]}))


def test_a_figure_refuses_what_it_cannot_draw() -> None:
    with pytest.raises(ParameterError, match="cannot draw funnel from a dict"):
        F.funnel_figure({"a": 1})


# --------------------------------------------------------------------------- breakdown
def test_breakdown_figure_has_one_bar_trace_per_later_stage_in_its_colour(
    timeline: pl.DataFrame,
) -> None:
    result = funnel(timeline, INBOUND, window="30d", by="channel", min_size=1)
    fig = F.breakdown_figure(result, funnel=INBOUND)
    assert [t.name for t in fig.data] == ["Cold lead", "Warm lead", "Client", "Ambassador"]
    assert [t.marker.color for t in fig.data] == [F.stage_colour(r) for r in (2, 3, 4, 5)]
    assert fig.layout.xaxis.title.text == "channel"
    social = list(fig.data[2].x).index("social")
    assert fig.data[2].y[social] == 0.5  # of a and d (social), a became a client
    assert fig.data[0].error_y.array is not None


def test_breakdown_orders_segments_by_size_and_blanks_suppressed_ones() -> None:
    table = pl.DataFrame(
        {
            "segment": ["small", "small", "big", "big"],
            "step": [1, 2, 1, 2],
            "name": ["a", "b", "a", "b"],
            "count": [3, 1, 50, 10],
            "suppressed": [True, True, False, False],
        }
    )
    fig = F.breakdown_figure(table, by="channel")
    assert list(fig.data[0].x) == ["big", "small"]
    assert list(fig.data[0].y) == [0.2, None]
    assert fig.data[0].error_y.array is None or fig.data[0].error_y.type is None


def test_breakdown_percentages_are_written_the_french_way_in_french(
    timeline: pl.DataFrame,
) -> None:
    result = funnel(timeline, INBOUND, window="30d", by="channel", min_size=1)
    english = F.breakdown_figure(result, funnel=INBOUND)
    assert english.layout.yaxis.tickformat == ".0%"
    french = F.breakdown_figure(result, funnel=INBOUND, lang="fr")
    axis = french.layout.yaxis
    assert axis.tickformat is None and axis.ticktext[0] == "0\u202f%"
    assert all(re.fullmatch(r"\d+\u202f%", t) for t in axis.ticktext)
    assert max(axis.tickvals) >= max(v for t in french.data for v in t.y if v is not None)
    assert french.data[0].customdata[0][1].endswith("\u202f%")
    assert ":.1%" not in french.data[0].hovertemplate


def test_breakdown_without_segments_says_how_to_get_them() -> None:
    with pytest.raises(MissingColumnError, match=r"no segment column 'channel'.*by=\.\.\."):
        F.breakdown_table(pl.DataFrame({"name": ["a"], "count": [1]}), by="channel")


# --------------------------------------------------------------------------- trends
def _trend_table() -> pl.DataFrame:
    weeks = [date(2026, 10, 19), date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]
    return pl.DataFrame(
        {
            "period": weeks * 2,
            "step": [2] * 4 + [3] * 4,
            "name": ["cold_lead"] * 4 + ["warm_lead"] * 4,
            "entered": [100, 120, 110, 90] * 2,
            "converted": [50, 60, 40, 20, 10, 12, 8, 2],
            "rate": [0.5, 0.5, 40 / 110, 20 / 90, 0.1, 0.1, 8 / 110, 2 / 90],
            "ci_low": [0.4, 0.41, 0.28, 0.15, 0.05, 0.06, 0.03, 0.005],
            "ci_high": [0.6, 0.59, 0.46, 0.32, 0.18, 0.17, 0.14, 0.08],
            "incomplete": [False, False, True, True] * 2,
        }
    )


def test_conversion_over_time_draws_band_line_and_dashed_incomplete_periods() -> None:
    fig = F.conversion_over_time_figure(_trend_table(), funnel=INBOUND)
    names = [t.name for t in fig.data]
    assert names == [
        "Cold lead · 95% interval",
        "Cold lead",
        "Cold lead · incomplete",
        "Warm lead · 95% interval",
        "Warm lead",
        "Warm lead · incomplete",
    ]
    band, solid, dashed = fig.data[:3]
    assert band.fill == "toself" and len(band.x) == 8
    assert list(solid.y) == [0.5, 0.5] and solid.line.dash is None
    assert dashed.line.dash == "dash" and len(dashed.x) == 3  # joined to the last complete week
    (shade,) = [s for s in fig.layout.shapes if s.name == "incomplete"]
    assert (shade.x0, shade.x1) == (date(2026, 10, 30), date(2026, 11, 12))  # half a week around
    assert [a.text for a in fig.layout.annotations] == ["incomplete"]
    assert solid.line.color == F.stage_colour(2) and fig.data[4].line.color == F.stage_colour(3)
    assert "window still open" in fig.layout.title.text


def test_conversion_over_time_with_every_period_complete_has_no_dashes() -> None:
    table = _trend_table().with_columns(pl.lit(False).alias("incomplete"))
    fig = F.conversion_over_time_figure(table, stages=["warm_lead"], lang="fr")
    assert [t.name for t in fig.data] == ["warm_lead · intervalle à 95\u202f%", "warm_lead"]
    assert "fenêtre" not in fig.layout.title.text and not fig.layout.shapes


def test_conversion_over_time_table_drops_the_first_step() -> None:
    table = pl.concat(
        [
            _trend_table()
            .head(1)
            .with_columns(
                step=pl.lit(1, dtype=pl.Int64), name=pl.lit("prospect"), rate=pl.lit(1.0)
            ),
            _trend_table(),
        ]
    )
    assert F.conversion_over_time_table(table)["rank"].unique().sort().to_list() == [2, 3]


# --------------------------------------------------------------------------- durations
def test_time_to_convert_marks_median_and_p90() -> None:
    days = [timedelta(days=d) for d in (1, 2, 3, 4, 10)]
    hist = F.time_to_convert_table(days, bins=5)
    assert (hist.median, hist.unit, hist.n) == (3.0, "days", 5)
    assert hist.p90 == pytest.approx(7.6)
    fig = F.time_to_convert_figure(hist, lang="fr")
    shapes = {s.name: s.x0 for s in fig.layout.shapes}
    assert shapes == {"median": 3.0, "p90": pytest.approx(7.6)}
    assert [a.text for a in fig.layout.annotations] == ["médiane 3,0 jours", "p90 7,6 jours"]
    assert sum(fig.data[0].y) == 5


def test_time_to_convert_uses_hours_for_short_durations() -> None:
    hist = F.time_to_convert_table(pl.DataFrame({"duration": [3600.0, 7200.0, 36000.0]}))
    assert hist.unit == "hours" and hist.median == 2.0


def test_time_to_convert_reads_a_funnel_result(timeline: pl.DataFrame) -> None:
    result = funnel(timeline, ["like", "ebook_download", "purchase"], window="30d")
    hist = F.time_to_convert_table(result)
    assert hist.steps == ("like", "purchase") and hist.n == 1
    assert hist.median == pytest.approx(3.0)  # a: like day 0, purchase day 3
    first = F.time_to_convert_table(result, steps=(1, 2))
    assert first.steps == ("like", "ebook_download") and first.median == pytest.approx(1.0)
    assert first.unit == "days"  # the bins cover the 30-day window
    fig = F.time_to_convert_figure(result)
    assert fig.data[0].marker.color == F.stage_colour(3)
    with pytest.raises(ParameterError, match=r"steps=\(2, 1\): no such transition"):
        F.time_to_convert_table(result, steps=(2, 1))


def test_time_to_convert_needs_a_duration_column() -> None:
    with pytest.raises(MissingColumnError, match="no 'duration' column"):
        F.time_to_convert_table(pl.DataFrame({"x": [1]}))


# --------------------------------------------------------------------------- cohorts
def _cohorts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cohort": [date(2026, 10, 26)] * 3 + [date(2026, 11, 2)] * 2,
            "days": [0, 7, 14, 0, 7],
            "share": [0.1, 0.2, 0.25, 0.05, 0.15],
            "size": [40] * 3 + [50] * 2,
        }
    )


def test_cohort_heatmap_rows_are_cohorts_and_unobserved_days_blank() -> None:
    fig = F.cohort_figure(_cohorts(), target="Client")
    heat = fig.data[0]
    assert heat.type == "heatmap"
    assert list(heat.y) == ["2026-10-26", "2026-11-02"] and list(heat.x) == [0, 7, 14]
    assert [list(r) for r in heat.z] == [[0.1, 0.2, 0.25], [0.05, 0.15, None]]
    assert "Client" in fig.layout.title.text


def test_cohort_curves_have_one_line_per_cohort_in_the_target_colour() -> None:
    fig = F.cohort_figure(_cohorts(), kind="curves", colour_rank=4, lang="fr")
    assert [t.name for t in fig.data] == ["26 oct. 2026", "2 nov. 2026"]  # a French day
    assert all("230,159,0" in t.line.color for t in fig.data)  # #E69F00, rank 4
    assert fig.layout.xaxis.title.text == "Jours depuis l'acquisition"


def test_cohort_curves_show_the_latest_cohorts_against_a_muted_history() -> None:
    weeks = [date(2026, 9, 7) + timedelta(weeks=i) for i in range(12)]
    table = pl.DataFrame(
        {
            "cohort": [w for w in weeks for _ in range(3)],
            "days": [0, 7, 14] * 12,
            "share": [0.1, 0.2, 0.3] * 12,
            "size": [40] * 36,
        }
    )
    fig = F.cohort_figure(table, kind="curves", colour_rank=4)
    history, recent = fig.data[: 12 - RECENT_COHORTS], fig.data[12 - RECENT_COHORTS :]
    assert all(t.line.color == HISTORY_COLOUR and t.legendgroup == "history" for t in history)
    assert [t.showlegend for t in history] == [True] + [False] * (len(history) - 1)
    assert history[0].name == "earlier cohorts (9)"
    assert [t.name for t in recent] == ["2026-11-09", "2026-11-16", "2026-11-23"]
    assert len({(t.line.color, t.line.dash) for t in recent}) == 3  # told apart
    assert recent[-1].line.dash == "solid" and recent[-1].line.width > recent[0].line.width
    assert fig.layout.legend.traceorder == "reversed"


def test_cohort_figure_refuses_an_unknown_kind() -> None:
    with pytest.raises(ParameterError, match="kind must be 'heatmap' or 'curves'"):
        F.cohort_figure(_cohorts(), kind="pie")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- flows
def test_flows_sankey_links_stage_at_start_to_stage_at_end(timeline: pl.DataFrame) -> None:
    moved = flows(timeline, INBOUND, start="2026-11-04", end="2026-11-11")
    fig = F.flows_figure(moved, lang="fr", period="W45")
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    table = F.flows_table(moved, lang="fr")
    assert sum(sankey.link.value) == table["contacts"].sum() == 5
    pairs = {
        (labels[s], labels[t]): v
        for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value, strict=True)
    }
    assert pairs[("Nouveaux contacts", "Lead froid (à la fin)")] == 1  # d
    assert pairs[("Lead chaud (au début)", "Client (à la fin)")] == 1  # a
    assert pairs[("Prospect (au début)", "Lead froid (à la fin)")] == 1  # c's second view
    colours = dict(zip(labels, sankey.node.color, strict=True))
    assert colours["Nouveaux contacts"] == figure_style.NEUTRAL
    assert colours["Client (à la fin)"] == F.stage_colour(4)
    assert "W45" in fig.layout.title.text


# --------------------------------------------------------------------------- compare
def test_compare_heatmap_crosses_the_two_definitions(timeline: pl.DataFrame) -> None:
    both = compare(timeline, INBOUND, SALES)
    fig = F.compare_figure(both, lang="fr")
    heat = fig.data[0]
    assert list(heat.y) == [INBOUND.stage(s).label("fr") for s in INBOUND.stage_ids]
    assert list(heat.x) == [SALES.stage(s).label("fr") for s in SALES.stage_ids]
    z = [list(r) for r in heat.z]
    assert sum(map(sum, z)) == 5
    assert z[3][4] == 2  # inbound clients are sales clients
    assert z[2][1] == 1  # e: warm lead (inbound) is a lead (sales)
    assert fig.layout.yaxis.title.text == "inbound" and fig.layout.xaxis.title.text == "sales"


def test_compare_table_reads_wide_cross_tables_and_normalises_rows() -> None:
    wide = pl.DataFrame({"left": ["a", "b"], "x": [3, 0], "y": [1, 2]})
    table = F.compare_table(wide)
    assert table.select("left_stage", "right_stage", "contacts").rows() == [
        ("a", "x", 3),
        ("a", "y", 1),
        ("b", "x", 0),
        ("b", "y", 2),
    ]
    assert table["share_of_left"].to_list() == [0.75, 0.25, 0.0, 1.0]
    fig = F.compare_figure(wide, normalise=True)
    assert [list(r) for r in fig.data[0].z] == [[0.75, 0.25], [0.0, 1.0]]


# --------------------------------------------------------------------------- timeline
def test_timeline_marks_each_stage_entry_on_the_event_that_caused_it(
    timeline: pl.DataFrame,
) -> None:
    why = explain(timeline, INBOUND, "a")
    table = F.timeline_table(why)
    assert table["entered"].to_list() == [["prospect", "cold_lead"], ["warm_lead"], ["client"]]
    fig = F.timeline_figure(why, lang="fr")
    assert [t.name for t in fig.data] == [
        "Événement",
        "Prospect",
        "Lead froid",
        "Lead chaud",
        "Client",
    ]
    assert [t.marker.color for t in fig.data[1:]] == [F.stage_colour(r) for r in (1, 2, 3, 4)]
    assert len(fig.layout.shapes) == 3  # one dotted line per entering event
    assert fig.layout.title.text == "Contact a (inbound)"


def test_timeline_of_a_skipper_puts_every_skipped_stage_on_its_purchase(
    timeline: pl.DataFrame,
) -> None:
    table = F.timeline_table(explain(timeline, SALES, "b"), lang="fr")
    assert table["entered"].to_list() == [
        ["raw_contact", "lead", "prospect", "qualified_prospect", "client"]
    ]
    assert table["rank"].to_list() == [5] and table["colour"].to_list() == [F.stage_colour(5)]


def test_timeline_shows_a_contact_created_before_any_event() -> None:
    from datetime import UTC, datetime

    events = events_frame(("z", "2026-11-05 10:00", "like"))
    contacts = pl.DataFrame(
        {"contact_id": ["z"], "created_at": [datetime(2026, 11, 1, tzinfo=UTC)]}
    )
    table = F.timeline_table(explain(events, INBOUND, "z", contacts=contacts))
    assert table["event"].to_list() == ["(created)", "like"]
    assert table["entered"].to_list() == [["prospect"], ["cold_lead"]]


# --------------------------------------------------------------------------- across figures
def test_a_stage_has_the_same_colour_in_every_figure(timeline: pl.DataFrame) -> None:
    client = F.stage_colour(INBOUND.rank("client"))
    result = funnel(timeline, INBOUND, window="30d", by="channel", min_size=1)
    drawn = F.funnel_figure(result, funnel=INBOUND).data[0]
    funnel_colours = dict(zip(drawn.y, drawn.marker.color, strict=True))
    bars = {t.name: t.marker.color for t in F.breakdown_figure(result, funnel=INBOUND).data}
    moved = flows(timeline, INBOUND, start="2026-11-01", end="2026-11-12")
    sankey = F.flows_figure(moved).data[0]
    nodes = dict(zip(sankey.node.label, sankey.node.color, strict=True))
    why = F.timeline_figure(explain(timeline, INBOUND, "a"))
    marks = {t.name: t.marker.color for t in why.data}
    assert funnel_colours["Client"] == bars["Client"] == nodes["Client (at end)"] == client
    assert marks["Client"] == client


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_figure_uses_the_template_in_both_languages(
    timeline: pl.DataFrame, lang: F.Lang
) -> None:
    result = funnel(timeline, INBOUND, window="30d")
    figures = [
        F.funnel_figure(result, funnel=INBOUND, lang=lang),
        F.time_to_convert_figure(result, lang=lang),
        F.conversion_over_time_figure(_trend_table(), lang=lang),
        F.cohort_figure(_cohorts(), lang=lang),
        F.flows_figure(flows(timeline, INBOUND, start="2026-11-04", end="2026-11-11"), lang=lang),
        F.compare_figure(compare(timeline, INBOUND, SALES), lang=lang),
        F.timeline_figure(explain(timeline, INBOUND, "a"), lang=lang),
    ]
    assert all(_template(fig) for fig in figures)
    assert all(fig.layout.title.text for fig in figures)


# --------------------------------------------------------------------------- sample results
@pytest.fixture(scope="module")
def sample_log() -> EventLog:
    return read_events(SAMPLE / "events.csv")


def _trace(fig: go.Figure, name: str) -> go.Scatter:
    (trace,) = [t for t in fig.data if t.name == name]
    return trace


def test_funnel_figure_draws_a_funnel_computed_by_a_column_for_all_its_contacts(
    sample_log: EventLog,
) -> None:
    result = funnel(sample_log, INBOUND, window="28d", by="channel")
    fig = F.funnel_figure(result, funnel=INBOUND)
    assert list(fig.data[0].x) == result.table["count"].to_list()
    assert list(fig.data[0].y) == [INBOUND.stage(s).label("en") for s in INBOUND.stage_ids]
    bars = F.breakdown_figure(result, funnel=INBOUND)
    assert [t.name for t in bars.data] == ["Cold lead", "Warm lead", "Client", "Ambassador"]
    assert result.breakdown is not None
    clients = result.breakdown.filter(pl.col("step") == INBOUND.rank("client"))
    drawn = _trace(bars, "Client")
    assert dict(zip(drawn.x, drawn.y, strict=True)) == dict(
        clients.select("segment", "conversion_from_first").rows()
    )
    snap = snapshot(classify(sample_log, INBOUND), INBOUND)
    assert list(F.funnel_figure(snap).data[0].x) == snap.table["at_or_past"].to_list()


def test_conversion_over_time_draws_a_conversion_trend(sample_log: EventLog) -> None:
    trend = conversion_over_time(sample_log, INBOUND, window="28d", period="week")
    fig = F.conversion_over_time_figure(trend, funnel=INBOUND)
    client = trend.table.filter(pl.col("step") == INBOUND.rank("client"))
    closed, still_open = client.filter(pl.col("complete")), client.filter(~pl.col("complete"))
    assert closed.height and still_open.height
    solid, dashed = _trace(fig, "Client"), _trace(fig, "Client · incomplete")
    assert list(solid.x) == closed["period_start"].to_list()
    assert list(solid.y) == closed["conversion_from_first"].to_list()
    entrants = trend.table.filter(pl.col("step") == 1, pl.col("complete"))["count"]
    assert [entered for _, entered, _, _ in solid.customdata] == [f"{n:,}" for n in entrants]
    rates = closed["conversion_from_first"].to_list()
    assert [rate for _, _, rate, _ in solid.customdata] == [f"{100 * r:.1f}%" for r in rates]
    days = [f"{p:%Y-%m-%d}" for p in closed["period_start"]]
    assert [day for *_, day in solid.customdata] == days
    assert "%{customdata[2]}" in solid.hovertemplate and ".1%" not in solid.hovertemplate
    french = F.conversion_over_time_figure(trend, funnel=INBOUND, lang="fr")
    assert _trace(french, "Client").customdata[0][2].endswith("\u202f%")  # "12,3 %"
    # the open weeks are dashed, joined to the last complete one
    assert list(dashed.x) == [closed["period_start"][-1], *still_open["period_start"]]
    assert solid.line.color == F.stage_colour(INBOUND.rank("client"))
    # an ``incomplete`` column added beside ``complete`` changes nothing
    flagged = trend.table.with_columns(incomplete=~pl.col("complete"))
    assert F.conversion_over_time_figure(flagged, funnel=INBOUND).to_dict() == fig.to_dict()


def test_time_to_convert_draws_a_funnels_time_to_convert(sample_log: EventLog) -> None:
    ttc = funnel(sample_log, INBOUND, window="28d").time_to_convert
    fig = F.time_to_convert_figure(ttc, steps=(3, 4), funnel=INBOUND, lang="fr")
    into = (pl.col("from_step") == 3) & (pl.col("to_step") == 4)
    bins = ttc.histogram.filter(into).sort("bin")
    row = ttc.summary.filter(into).row(0, named=True)
    assert list(fig.data[0].y) == bins["contacts"].to_list()
    assert sum(fig.data[0].y) == row["contacts"] > 0
    middle = (bins["bin_start"] + bins["bin_end"]).dt.total_microseconds() / 2e6 / DAY
    assert list(fig.data[0].x) == pytest.approx(middle.to_list())
    assert {s.name: s.x0 for s in fig.layout.shapes} == pytest.approx(
        {"median": row["median"].total_seconds() / DAY, "p90": row["p90"].total_seconds() / DAY}
    )
    assert fig.data[0].marker.color == F.stage_colour(4)
    assert fig.layout.xaxis.title.text == "Délai de conversion (jours)"
    assert f"Lead chaud → Client (n = {row['contacts']})" in fig.layout.title.text


def test_cohort_figure_draws_a_cohort_table(sample_log: EventLog) -> None:
    curves = cohorts(
        sample_log, INBOUND.stage("warm_lead"), period="week", horizon="84d", definition=INBOUND
    )
    heat = F.cohort_figure(curves, funnel=INBOUND, lang="fr")
    first = curves.table.filter(pl.col("cohort_start") == pl.col("cohort_start").min())
    assert heat.data[0].y[0] == figure_style.format_date(first["cohort_start"][0], "fr")
    assert list(heat.data[0].x) == first["day"].to_list() == list(range(85))
    assert list(heat.data[0].z[0]) == first["share"].to_list()
    assert "Part ayant atteint Lead chaud" in heat.layout.title.text  # the result's target
    lines = F.cohort_figure(curves, kind="curves", funnel=INBOUND)
    assert len(lines.data) == curves.table["cohort_start"].n_unique()
    recent = lines.data[-RECENT_COHORTS:]
    assert all("0,158,115" in t.line.color for t in recent)  # #009E73, warm lead's rank 3


def test_flows_and_compare_figures_draw_the_stage_results(sample_log: EventLog) -> None:
    moved = flows(sample_log, INBOUND, start="2026-11-09", end="2026-11-16")
    sankey = F.flows_figure(moved).data[0]
    labels = list(sankey.node.label)
    pairs = {
        (labels[s], labels[t]): v
        for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value, strict=True)
    }
    assert sum(pairs.values()) == moved.table["contacts"].sum()
    promoted = moved.table.filter(
        pl.col("from_stage") == "warm_lead", pl.col("to_stage") == "client"
    )
    assert pairs[("Warm lead (at start)", "Client (at end)")] == promoted["contacts"].item()
    both = compare(sample_log, INBOUND, SALES)
    heat = F.compare_figure(both).data[0]
    assert list(heat.y) == [INBOUND.stage(s).label("en") for s in INBOUND.stage_ids]
    assert list(heat.x) == [SALES.stage(s).label("en") for s in SALES.stage_ids]
    assert sum(map(sum, heat.z)) == both.table["contacts"].sum()
    clients = both.table.filter(pl.col("left_stage") == "client", pl.col("right_stage") == "client")
    assert (
        heat.z[INBOUND.rank("client") - 1][SALES.rank("client") - 1] == clients["contacts"].item()
    )


# --------------------------------------------------------------------------- text
def test_format_table_is_plain_fixed_text() -> None:
    frame = pl.DataFrame({"stage": ["prospect", "client"], "count": [1200, 7], "rate": [1.0, None]})
    assert F.format_table(frame, digits=2).splitlines() == [
        "stage     count  rate",
        "prospect   1200  1.00",
        "client        7     -",
    ]


# --------------------------------------------------------------------------- modules
FIGURE_MODULES = ("figure_style", "figure_input", "figure_funnels", "figure_time", "figure_stages")


def _figure_imports(module: str) -> set[str]:
    """Return the figure modules ``funnelkit/<module>.py`` imports."""
    tree = ast.parse((Path(F.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
    found = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    found |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return {m.removeprefix("funnelkit.") for m in found} & {*FIGURE_MODULES, "figures"}


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (m, n)
        for m in FIGURE_MODULES
        for n in importlib.import_module(f"funnelkit.{m}").__all__
        # every figure, and the look's public names figures had before the split
        if m not in ("figure_style", "figure_input") or n in F.__all__
    ],
)
def test_the_public_figure_names_are_the_same_objects_in_figures(module: str, name: str) -> None:
    assert name in F.__all__
    assert getattr(F, name) is getattr(importlib.import_module(f"funnelkit.{module}"), name)


def test_the_figure_modules_import_one_way() -> None:
    # figure_style <- figure_input <- figure_funnels, figure_time, figure_stages <- figures
    assert _figure_imports("figure_style") == set()
    assert _figure_imports("figure_input") == {"figure_style"}
    for module in ("figure_funnels", "figure_time", "figure_stages"):
        assert _figure_imports(module) == {"figure_style", "figure_input"}


# --------------------------------------------------------------------------- in a browser
_TEXT_BOXES = """() => {
  const svg = document.querySelector('svg.main-svg').getBoundingClientRect();
  const boxes = [];
  const selectors = {
    annotation: 'g.annotation-text-g text', bar: 'g.trace text', tick: 'g.ytick text',
    title: 'g.g-xtitle text, g.g-gtitle text',
  };
  for (const [kind, selector] of Object.entries(selectors)) {
    for (const node of document.querySelectorAll(selector)) {
      const r = node.getBoundingClientRect();
      if (r.width > 0) boxes.push({kind, text: node.textContent, l: r.left, r: r.right,
                                   t: r.top, b: r.bottom});
    }
  }
  return {svg: {l: svg.left, r: svg.right, t: svg.top, b: svg.bottom}, boxes};
}"""


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["l"] < b["r"] - 1 and b["l"] < a["r"] - 1 and a["t"] < b["b"] - 1 and b["t"] < a["b"] - 1
    )


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_funnel_labels_neither_collide_nor_get_cut_at_any_width(
    sample_log: EventLog, lang: F.Lang
) -> None:
    from tests.setup_browser import CHROMIUM, chromium_path
    from tests.test_report_browser import ARGS

    if chromium_path() is None:
        pytest.skip(f"{CHROMIUM} is missing; install it with: python -m tests.setup_browser")
    playwright_api = pytest.importorskip("playwright.sync_api")
    contacts = read_contacts(SAMPLE / "contacts.csv")
    result = funnel(sample_log, INBOUND, window="14d", contacts=contacts)
    silent = F.contacts_without_events(sample_log, contacts)
    fig = F.funnel_figure(result, funnel=INBOUND, lang=lang, without_events=silent)
    plotly_js = Path(pio.__file__).parent.parent / "package_data" / "plotly.min.js"
    errors: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on(
            "console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None
        )
        for width in (520, 760, 1200):
            div = fig.to_html(full_html=False, include_plotlyjs=False)
            page.set_content(
                f"<html><head><script>{plotly_js.read_text(encoding='utf-8')}</script></head>"
                f"<body style='margin:0'><div style='width:{width}px'>{div}</div></body></html>"
            )
            page.wait_for_selector("g.annotation-text-g", state="attached")
            drawn = page.evaluate(_TEXT_BOXES)
            svg, boxes = drawn["svg"], drawn["boxes"]
            assert svg["r"] - svg["l"] == pytest.approx(width, abs=1)  # sized to its container
            cut = [b["text"] for b in boxes if b["l"] < svg["l"] or b["r"] > svg["r"]]
            assert cut == [], (width, cut)
            crossed = [
                (a["text"], b["text"])
                for i, a in enumerate(boxes)
                for b in boxes[i + 1 :]
                if _overlap(a, b)
            ]
            assert crossed == [], (width, crossed)
        browser.close()
    assert errors == []


@pytest.mark.browser
def test_french_hovers_read_french_in_the_browser(sample_log: EventLog) -> None:
    """What plotly writes on hover: "20,0 %" (not "20,0%"), "4 000", no English Sankey words."""
    from tests.setup_browser import CHROMIUM, chromium_path
    from tests.test_report_browser import ARGS

    if chromium_path() is None:
        pytest.skip(f"{CHROMIUM} is missing; install it with: python -m tests.setup_browser")
    playwright_api = pytest.importorskip("playwright.sync_api")
    heat = F.cohort_figure(_cohorts().with_columns(size=pl.lit(4_000)), lang="fr")
    moved = F.flows_figure(
        flows(sample_log, INBOUND, start="2026-11-09", end="2026-11-16"), lang="fr"
    )
    plotly_js = (Path(pio.__file__).parent.parent / "package_data" / "plotly.min.js").read_text(
        encoding="utf-8"
    )
    read = "(document.querySelector('.hoverlayer') || {}).textContent || ''"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        shown = {}
        for name, fig in (("heat", heat), ("flows", moved)):
            div = fig.to_html(full_html=False, include_plotlyjs=False)
            page.set_content(f"<html><head><script>{plotly_js}</script></head>{div}</html>")
            page.wait_for_timeout(300)
            if name == "heat":  # the first cohort (top row), day 7 (middle column)
                box = page.locator(".nsewdrag").first.bounding_box()
                page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.25)
            else:
                page.locator(".sankey-node rect").first.hover(force=True)
            page.wait_for_timeout(300)
            shown[name] = str(page.evaluate(read))
            if name == "flows":
                page.locator(".sankey-link").first.hover(force=True)
                page.wait_for_timeout(300)
                shown["link"] = str(page.evaluate(read))
        browser.close()
    assert shown["heat"] == "26 oct. 2026 · 7 jours\u00a0: 20,0\u202f% (n = 4\u202f000)"
    for name in ("flows", "link"):
        assert shown[name].endswith(" contacts") and not_french(shown[name]) == [], shown
        assert "flow" not in shown[name] and "count" not in shown[name], shown


# --------------------------------------------------------------------------- every word
_SAME_IN_FRENCH = {
    "contacts",
    "contact",
    "conversion",
    "client",
    "prospect",
    "p90",
    "n",
    "table",
    "acquisition",
}


def _figure_texts(fig: go.Figure) -> list[str]:
    layout = fig.layout
    texts = [layout.title.text or ""]
    texts += [a.text or "" for a in layout.annotations]
    for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
        texts.append(axis.title.text or "")
        texts += [str(t) for t in axis.ticktext or ()]
    for trace in fig.data:
        texts.append(str(trace.name or ""))
        node = getattr(trace, "node", None)
        texts += [str(label) for label in (getattr(node, "label", None) or ())]
        if trace.type != "heatmap":  # a heat map's text is its cells' values, in hovers
            texts += [str(t) for t in (getattr(trace, "text", None) or ())]
        texts += [str(v) for v in (getattr(trace, "y", None) or ()) if isinstance(v, str)]
    # every hover as the browser writes it, point by point, its numbers filled in
    texts += hovers(fig)
    return [html.unescape(re.sub(r"<[^>]*>", " | ", t)) for t in texts]


def _french_figures(timeline: pl.DataFrame) -> dict[str, go.Figure]:
    from funnelkit.drivers import drivers
    from funnelkit.figure_drivers import drivers_figure
    from funnelkit.figure_paths import paths_figure
    from funnelkit.paths import drop_off_paths
    from tests.planted import STEPS, WINDOW, planted_log

    result = funnel(timeline, INBOUND, window="30d")
    planted, planted_contacts = planted_log()
    big = 2_000  # thousands, to be written with a narrow no-break space
    return {
        "funnel": F.funnel_figure(result, funnel=INBOUND, lang="fr", without_events=3),
        "compare": F.funnel_figure(result, compare=result, funnel=INBOUND, lang="fr"),
        "breakdown": F.breakdown_figure(
            funnel(timeline, INBOUND, window="30d", by="channel", min_size=1),
            funnel=INBOUND,
            lang="fr",
            without_events=3,
        ),
        "time": F.time_to_convert_figure(result, funnel=INBOUND, lang="fr"),
        "trend": F.conversion_over_time_figure(
            _trend_table().with_columns(pl.col("entered") * big), lang="fr"
        ),
        "cohorts": F.cohort_figure(_cohorts(), lang="fr"),
        "cohort curves": F.cohort_figure(_cohorts(), kind="curves", lang="fr"),
        "cohort weeks": F.cohort_figure(
            _cohorts().with_columns(pl.col("cohort").dt.strftime("%G-W%V")),
            lang="fr",
        ),
        "flows": F.flows_figure(
            flows(timeline, INBOUND, start="2026-11-04", end="2026-11-11"),
            lang="fr",
            period="2026-W45",
        ),
        "compare_definitions": F.compare_figure(compare(timeline, INBOUND, SALES), lang="fr"),
        "timeline": F.timeline_figure(explain(timeline, INBOUND, "a"), lang="fr"),
        "drivers": drivers_figure(
            drivers(planted, STEPS, window=WINDOW, contacts=planted_contacts), lang="fr"
        ),
        "paths": paths_figure(drop_off_paths(planted, STEPS, window=WINDOW, min_size=1), lang="fr"),
    }


def test_every_figure_speaks_french_in_french(timeline: pl.DataFrame) -> None:
    english = {
        w.lower()
        for t in figure_style._TEXT["en"].values()
        for w in re.findall(r"[A-Za-z]{2,}", re.sub(r"\{[^}]*\}", "", t))
    } - _SAME_IN_FRENCH
    # plotly's own hover words, had a Sankey no template of its own
    english |= {"incoming", "outgoing", "flow", "count", "plotly"}
    from tests.planted import planted_log

    # values of the planted data ("channel = events") are data, not words of ours
    data = {
        str(v).lower()
        for frame in planted_log()
        for column, dtype in frame.schema.items()
        if dtype == pl.String and column != "contact_id"
        for v in frame[column].unique().to_list()
    }
    checked = 0
    for name, fig in _french_figures(timeline).items():
        ours = english - data if name in ("drivers", "paths") else english
        for shown in _figure_texts(fig):
            # event names (page_view, ebook_download) are data, not words of ours
            words = set(re.findall(r"(?<![\w_])[A-Za-z]{2,}(?![\w_])", shown))
            assert {w for w in words if w.lower() in ours} == set(), (name, shown)
            assert "d3 format" not in shown, (name, shown)  # plotly would write "12,3%"
            assert not_french(shown) == [], (name, shown)
            checked += 1
    assert checked > 300


@pytest.mark.parametrize(
    ("shown", "wrong"),
    [
        ("Lead froid · 7 jours : 12,3%", "a percent sign glued to its number"),
        ("5,000 contacts", "a thousands comma"),
        ("5 000 contacts", "thousands split by a wide space"),
        ("2026-W47", "an ISO week label"),
        ("2026-11-02 : 3", "an ISO date"),
        ("0.5 jours", "a decimal point"),
    ],
)
def test_the_french_check_sees_an_english_number(shown: str, wrong: str) -> None:
    assert [w.split(":")[0] for w in not_french(shown)] == [wrong]
    assert not_french("5\u202f000 contacts, 12,3\u202f%, S47 2026, 2 nov. 2026") == []


def test_the_french_hovers_of_the_cohorts_are_written_by_funnelkit() -> None:
    """The heat map said "12,3%" (d3 glues the sign); the curves too."""
    for kind in ("heatmap", "curves"):
        fig = F.cohort_figure(_cohorts(), kind=kind, lang="fr")  # type: ignore[arg-type]
        shown = hovers(fig)
        assert shown and not any("d3 format" in h for h in shown), kind
        assert any(re.search(r"\d,\d\u202f%", h) for h in shown), kind
