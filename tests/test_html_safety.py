"""Texts from data or a definition stay text in every HTML funnelkit makes.

Each function that writes HTML (report sections, tables, the index, every
``_repr_html_``, the widgets) or plotly text (titles, labels, legends, hover
texts) is fed the payloads of :mod:`tests.payloads`; none may come out as
markup.  ``tests/test_report_browser.py`` opens a whole report made of them in
Chromium.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest

from funnelkit import engines, explorer, figures, report, stages, weekly
from funnelkit.conversion import cohorts, compare_periods, conversion_over_time, funnel
from funnelkit.definitions import Funnel, load_funnel
from funnelkit.events import read_events
from funnelkit.markup import Markup, escape, format_html, join_html, plot_text
from tests.payloads import (
    COLUMN,
    IMG,
    LINK,
    MARKDOWN,
    MARKUP_PAYLOADS,
    PAYLOADS,
    QUOTES,
    SCRIPT,
    SVG,
    TEMPLATE,
    assert_inert,
    write_definition,
    write_events,
)

WEEK = "2026-W47"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("payloads")
    return SimpleNamespace(
        definition=write_definition(folder / "definition.toml"),
        events=write_events(folder / f"{SVG}.csv"),  # the file name is a payload too
    )


@pytest.fixture(scope="module")
def definition(files: SimpleNamespace) -> Funnel:
    return load_funnel(str(files.definition))


@pytest.fixture(scope="module")
def log(files: SimpleNamespace) -> Any:
    return engines.open_events(str(files.events))


@pytest.fixture(scope="module")
def metrics(log: Any, definition: Funnel) -> weekly.WeeklyMetrics:
    return weekly.weekly_metrics(
        log, definition, week=WEEK, window="28d", breakdown=COLUMN, weeks_of_history=8
    )


# --- funnelkit.markup -----------------------------------------------------------------
@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_leaves_no_markup_in_a_payload(payload: str) -> None:
    out = escape(payload)
    assert isinstance(out, Markup)
    assert_inert(format_html("<p title='{}'>{}</p>", payload, payload))
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out


def test_markup_is_inserted_as_it_is_and_text_is_escaped() -> None:
    bold = format_html("<b>{}</b>", SCRIPT)
    assert bold == "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>"
    assert format_html("<div>{}</div>", bold) == f"<div>{bold}</div>"  # not escaped twice
    assert escape(bold) is bold


def test_numbers_keep_their_format_specification() -> None:
    assert format_html("<td>{:,}</td><td>{:.1%}</td>", 12345, 0.25) == (
        "<td>12,345</td><td>25.0%</td>"
    )
    assert format_html("{}", True) == "True"


def test_adding_or_joining_text_to_markup_escapes_the_text() -> None:
    assert Markup("<br>") + IMG == "<br>" + str(escape(IMG))
    assert IMG + Markup("<br>") == str(escape(IMG)) + "<br>"
    assert "<br>" + escape(IMG) == "&lt;br&gt;" + str(escape(IMG))  # plain text is text
    assert join_html([Markup("<i>a</i>"), SVG], "<br>") == f"<i>a</i><br>{escape(SVG)}"
    assert Markup("<p>{}</p>").format(LINK) == f"<p>{escape(LINK)}</p>"


def test_percent_formatting_of_markup_is_refused() -> None:
    with pytest.raises(TypeError, match="format_html"):
        Markup("<p>%s</p>") % SCRIPT


def test_objects_with_an_html_method_are_trusted() -> None:
    class Fragment:
        def __html__(self) -> str:
            return "<hr>"

    assert format_html("<div>{}</div>", Fragment()) == "<div><hr></div>"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_plot_text_leaves_no_tag_for_plotly(payload: str) -> None:
    out = plot_text(payload)
    assert "<" not in out and ">" not in out
    assert plot_text("Lead & co") == "Lead &amp; co"
    assert plot_text("&lt;") == "&amp;lt;"  # shown as written, not as "<"


# --- funnelkit.report -----------------------------------------------------------------
@pytest.mark.parametrize("payload", PAYLOADS)
def test_section_headings_show_names_labels_and_columns_as_text(payload: str) -> None:
    for key, values in (
        ("definition", {"name": payload}),
        ("stalled", {"stage": payload}),
        ("breakdown", {"column": payload, "weeks": 8, "min_contacts": 30}),
        ("cohorts", {"stage": payload}),
    ):
        out = report.section_html(key, "en", **values)
        assert_inert(out)
        assert str(escape(payload)) in out
    assert "{{7*7}}" in report.section_html("definition", name=TEMPLATE)


def test_section_displays_html_not_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    report.section("definition", "en", name=MARKDOWN + SCRIPT)
    (output,) = shown
    bundle = output._repr_html_()
    assert type(output).__name__ == "HTML"
    assert bundle.startswith("<h2 id='definition'>")
    assert MARKDOWN in bundle  # as written: Markdown is not rendered
    assert_inert(bundle)


def test_section_refuses_a_level_that_is_not_a_heading() -> None:
    with pytest.raises(report.ParameterError, match="level must be 1 to 6"):
        report.section_html("headline", level=7)


def test_title_escapes_the_definition_name(
    metrics: weekly.WeeklyMetrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    report.title(metrics, "en")
    page = shown[0]._repr_html_()
    assert page.startswith(f"<h1 id='title'>Weekly funnel report: {WEEK} (&lt;script&gt;")
    assert_inert(page)


def test_html_table_escapes_column_names_headers_and_cells() -> None:
    frame = pl.DataFrame({p: [p, None] for p in PAYLOADS})
    assert_inert(report.html_table(frame))
    assert_inert(report.html_table(frame, headers={PAYLOADS[0]: SVG}))


def test_report_tables_of_a_payload_definition_are_inert(
    metrics: weekly.WeeklyMetrics, definition: Funnel, log: Any
) -> None:
    assert_inert(report.headline_html(metrics, "en"))
    assert_inert(report.headline_html(metrics, "fr"))
    assert_inert(report.quality_table(metrics, "en"))
    table = report.definition_table(definition, "en")
    assert set(table["stage"]) >= {SVG, LINK, IMG}
    assert_inert(report.html_table(table))
    ttc = report.time_to_convert_html(metrics.conversion.time_to_convert, "en", funnel=definition)
    assert escape(LINK) in ttc.data
    assert_inert(ttc)
    stalled = weekly.stalled_contacts(log, definition, as_of=metrics.as_of)
    assert_inert(report.contacts_table(stalled, pseudonymize=False, funnel=definition))


def test_contacts_table_escapes_ids_and_stage_labels(definition: Funnel) -> None:
    frame = pl.DataFrame({"contact_id": list(PAYLOADS), "stage": ["lead"] * len(PAYLOADS)})
    out = report.contacts_table(frame, pseudonymize=False, funnel=definition).data
    assert escape(LINK) in out and escape(SCRIPT) in out
    assert_inert(out)


def test_warnings_show_an_unknown_code_as_text() -> None:
    warnings = [{"code": p, "value": 0} for p in PAYLOADS]
    assert_inert(report.warnings_html(SimpleNamespace(warnings=warnings), "en"))


def _week_folder(root: Path, name: str, metrics: dict[str, Any]) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "report.html").write_text("<html></html>", encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")


def test_index_links_only_to_iso_weeks_and_escapes_what_it_reads(tmp_path: Path) -> None:
    hostile = {
        "week": WEEK,
        "week_start": "2026-11-16T00:00:00+00:00",
        "week_end": "2026-11-23T00:00:00+00:00",
        "funnel": {"name": SCRIPT},
        "headline": [{"name": IMG, "value": LINK}, {"name": QUOTES, "value": SVG}],
        "warnings": [{"code": SVG}, {"code": MARKDOWN}],
    }
    _week_folder(tmp_path, WEEK, hostile)
    for name in ("javascript:alert(1)", "\"'><svg onload=alert(1)>", "2026-W99", "2026-w46"):
        _week_folder(tmp_path, name, {"funnel": {"name": "inbound"}})
    index = report.write_index(tmp_path).read_text(encoding="utf-8")
    assert_inert(index)
    assert index.count("<a ") == 1 and f"href='{WEEK}/report.html'" in index
    for name in ("javascript:alert(1)/", "2026-W99", "2026-w46"):
        assert name not in index
    assert escape(SCRIPT) in index and escape(IMG) in index


# --- _repr_html_ --------------------------------------------------------------------------
def test_definition_repr_html_is_inert(definition: Funnel) -> None:
    out = definition._repr_html_()
    assert_inert(out)
    assert escape(SCRIPT) in out and escape(SVG) in out


def test_event_log_repr_html_is_inert(files: SimpleNamespace) -> None:
    log = read_events(files.events)
    out = log._repr_html_()
    assert_inert(out)
    assert escape(SVG) in out  # the column name and the file name
    bad = files.events.parent / f"{IMG}.csv"
    bad.write_text(f"contact_id,occurred_at,event\n{SCRIPT},not a time,{LINK}\n", "utf-8")
    assert_inert(read_events(bad)._repr_html_())


def test_weekly_metrics_repr_html_is_inert(metrics: weekly.WeeklyMetrics) -> None:
    out = metrics._repr_html_()
    assert_inert(out)
    assert f"under funnel definition {escape(repr(SCRIPT))}" in out


def test_stage_results_repr_html_are_inert(
    metrics: weekly.WeeklyMetrics, log: Any, definition: Funnel
) -> None:
    assert_inert(metrics.snapshot._repr_html_())
    assert_inert(metrics.flows._repr_html_())
    assert_inert(stages.compare(log, definition, load_funnel("inbound"))._repr_html_())
    assert_inert(stages.explain(log, definition, SVG)._repr_html_())


def test_conversion_results_repr_html_are_inert(log: Any, definition: Funnel) -> None:
    steps = [IMG, SCRIPT, "purchase"]
    result = funnel(log, steps, window="28d", by=COLUMN, min_size=1)
    out = result._repr_html_()
    assert escape(COLUMN) in out
    assert_inert(out)
    assert_inert(conversion_over_time(log, steps, window="28d")._repr_html_())
    assert_inert(compare_periods(log, steps, window="28d")._repr_html_())
    assert_inert(cohorts(log, target=SCRIPT, horizon="28d")._repr_html_())


# --- figures --------------------------------------------------------------------------
def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def assert_plot_inert(fig: go.Figure) -> list[str]:
    """Fail when a text of ``fig`` holds a payload plotly would read as markup."""
    texts = list(_strings(fig.to_plotly_json()))
    for text in texts:
        for payload in MARKUP_PAYLOADS:
            assert payload not in text, f"raw {payload!r} in figure text {text!r}"
        assert "<a" not in text and "<img" not in text and "<svg" not in text
    return texts


def test_report_figures_show_labels_values_and_names_as_text(
    metrics: weekly.WeeklyMetrics, definition: Funnel
) -> None:
    drawn = [
        figures.funnel_figure(metrics.snapshot, funnel=definition),
        figures.funnel_figure(
            metrics.snapshot, compare=metrics.snapshot, names=(SCRIPT, LINK), funnel=definition
        ),
        figures.flows_figure(metrics.flows, funnel=definition, period=IMG),
        figures.conversion_over_time_figure(metrics.trend_table(), funnel=definition),
        figures.breakdown_figure(metrics.conversion, funnel=definition),
        figures.time_to_convert_figure(
            metrics.conversion.time_to_convert, steps=(2, 3), funnel=definition
        ),
        figures.cohort_figure(metrics.cohorts, kind="curves", target=LINK),
        figures.cohort_figure(metrics.cohorts, kind="heatmap", target=LINK),
    ]
    texts = [t for fig in drawn for t in assert_plot_inert(fig)]
    for payload in (SCRIPT, SVG, LINK, IMG):
        assert any(plot_text(payload) in t for t in texts), payload  # drawn, escaped


def test_compare_and_timeline_figures_show_names_as_text(log: Any, definition: Funnel) -> None:
    assert_plot_inert(figures.compare_figure(stages.compare(log, definition, definition)))
    why = stages.explain(log, definition, SVG)
    assert_plot_inert(figures.timeline_figure(why, funnel=definition))


def test_the_hover_text_does_not_read_a_template_in_a_label(definition: Funnel) -> None:
    table = pl.DataFrame(
        {
            "period": [dt.date(2026, 11, 2), dt.date(2026, 11, 9)],
            "name": ["%{y}<b>x</b>"] * 2,
            "step": [2, 2],
            "rate": [0.3, 0.1],
            "incomplete": [False, True],
        }
    )
    fig = figures.conversion_over_time_figure(table)
    for trace in fig.data:
        assert "%{y}<b>" not in (trace.hovertemplate or "")
        assert trace.name.startswith("%{y}&lt;b&gt;x")


# --- explorer -------------------------------------------------------------------------
def test_explorer_widgets_show_payloads_as_text(files: SimpleNamespace) -> None:
    app = explorer.explore(read_events(files.events), funnel=str(files.definition))
    app.breakdown.value = COLUMN
    for widget in (app.table, app.summary, app.status):
        assert_inert(widget.value)
    assert escape(SVG) in app.table.value
    assert_plot_inert(app.figure)
    for control in app._controls:
        assert control.description_allow_html is False


def test_the_exercise_shows_definition_names_and_labels_as_text(definition: Funnel) -> None:
    ex = explorer.exercise(["page_view", IMG, SCRIPT, "purchase"], funnels=(definition,))
    assert escape(SCRIPT) in ex.answer.value
    assert_inert(ex.answer.value)
