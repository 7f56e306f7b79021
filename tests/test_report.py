"""The weekly report end to end: the real ``funnelkit report`` command, real papermill.

Rendering costs seconds, so one report of the sample's last complete week is
rendered once for the module and shared; the range, the failure mid-range and
the custom template render their own.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import nbformat
import polars as pl
import pytest

import funnelkit.report as report_module
import funnelkit.report_display as report_display
import funnelkit.report_folder as report_folder
from funnelkit.cli import main
from funnelkit.definitions import load_funnel
from funnelkit.errors import ParameterError, ReportError
from funnelkit.events import read_contacts, read_events
from funnelkit.privacy import KEY_ENV, pseudonym
from funnelkit.report import RenderedWeek, ReportSettings, default_notebook
from funnelkit.weekly import METRICS_DECIMALS, IsoWeek, weekly_metrics
from tests.conftest import digest, events_frame

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "data" / "sample" / "events.csv"
CONTACTS = ROOT / "data" / "sample" / "contacts.csv"
WEEK = "2026-W47"  # the sample ends on Sunday 2026-11-22
KEY = "report tests: a pseudonymisation key that never leaves the machine"
ID = re.compile(r"\bc\d{6}\b")


@pytest.fixture(scope="module", autouse=True)
def _key() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, KEY)
        yield


def _report(out: Path, *args: str) -> list[str]:
    return [
        "report",
        "--events",
        str(EVENTS),
        "--contacts",
        str(CONTACTS),
        "--out",
        str(out),
        *args,
    ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Render the sample's last complete week once (no --week: the default week)."""
    out = tmp_path_factory.mktemp("reports")
    code = main(_report(out, "--no-progress"))
    assert code == 0
    return out, (out / WEEK / "report.html").read_text(encoding="utf-8"), WEEK


# --- the files ----------------------------------------------------------------
@pytest.mark.slow
def test_the_default_week_is_the_last_complete_week(rendered: tuple[Path, str, str]) -> None:
    out, _, week = rendered
    assert sorted(p.name for p in out.iterdir()) == [
        ".funnelkit-lock",
        ".funnelkit-reports.json",
        week,
        "follow-up",
        "index.html",
    ]


@pytest.mark.slow
def test_each_week_gets_notebook_html_and_metrics(rendered: tuple[Path, str, str]) -> None:
    out, _, week = rendered
    assert sorted(p.name for p in (out / week).iterdir()) == [
        ".funnelkit-week.json",
        "metrics.json",
        "report.html",
        "report.ipynb",
    ]
    executed = nbformat.read(out / week / "report.ipynb", as_version=4)
    assert executed.metadata["papermill"]["parameters"]["week"] == week
    assert not [c for c in executed.cells if c.get("outputs") and _has_error(c)]


def _has_error(cell: nbformat.NotebookNode) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


@pytest.mark.slow
def test_metrics_equal_the_package_computation(rendered: tuple[Path, str, str]) -> None:
    out, _, week = rendered
    written = json.loads((out / week / "metrics.json").read_text(encoding="utf-8"))
    log = read_events(str(EVENTS))
    expected = weekly_metrics(
        log,
        load_funnel("inbound"),
        week=week,
        contacts=read_contacts(str(CONTACTS)),
        window="28d",
        breakdown="channel",
        weeks_of_history=12,
    )
    assert written == json.loads(expected.to_json())
    # shares are the package's own, rounded to METRICS_DECIMALS places
    cohort = expected.cohort_summary().row(0, named=True)
    assert written["cohorts"][0]["share_day_7"] == round(cohort["share_day_7"], METRICS_DECIMALS)
    assert written["week"] == week
    assert written["funnel"]["name"] == "inbound"
    assert written["rows"]["rows_read"] == log.summary().rows_read
    assert {k["name"] for k in written["headline"]} >= {"new_contacts", "reached_client"}


@pytest.mark.slow
def test_html_has_the_figures_and_no_code(rendered: tuple[Path, str, str]) -> None:
    _, page, _ = rendered
    template = default_notebook().read_text(encoding="utf-8")
    figure_cells = template.count("figures.")
    ids = re.findall(r'<div class="plotly-graph-div" id="(funnelkit-figure-\d+)"', page)
    assert len(ids) >= 2 and len(ids) == len(set(ids)) == page.count("Plotly.newPlot(")
    assert len(ids) >= figure_cells - 1  # every figure cell draws (a breakdown may be skipped)
    assert page.count('<div class="jp-InputArea') == 0
    for source in ("weekly_metrics(", "read_events(", "report.section(", "import "):
        assert source not in _visible_text(page), source
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page
    assert "Traceback" not in page


def _visible_text(page: str) -> str:
    """Return the page without <script> and <style> blocks."""
    page = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
    return re.sub(r"<style\b.*?</style>", "", page, flags=re.S)


@pytest.mark.slow
def test_html_works_offline_with_plotly_embedded_once(rendered: tuple[Path, str, str]) -> None:
    _, page, _ = rendered
    assert re.findall(r"<script[^>]*\bsrc=", page) == []
    assert re.findall(r"<link[^>]*href=[\"']https?://", page) == []
    assert page.count("* plotly.js v") == 1
    assert "require.min.js" not in page and "MathJax.js" not in page


@pytest.mark.slow
def test_html_sections_come_in_the_issue_order(rendered: tuple[Path, str, str]) -> None:
    _, page, _ = rendered
    headings = re.findall(r"<h2[^>]*>(.*?)<a", page)
    order = [
        "Headline",
        "The funnel",
        "Stage flows",
        "Conversion over the last",
        "Breakdown by channel",
        "Time to convert",
        "Cohorts",
        "Data quality",
        "The funnel definition",
    ]
    positions = [next(i for i, h in enumerate(headings) if h.startswith(o)) for o in order]
    assert positions == sorted(positions), headings
    text = _visible_text(page)
    assert "Rates are those of the contacts who entered in 2026-W43" in text
    assert "within noise" in text
    # one reading of a stage in every section: no sentence explains a second one
    assert "any one of the events its rules name" not in text
    assert "funnelkit-warning" not in text and "No previous week" not in text


@pytest.mark.slow
def test_no_personal_data_and_no_key_in_any_output(rendered: tuple[Path, str, str]) -> None:
    out, _, week = rendered
    contacts = read_contacts(str(CONTACTS)).frame.collect()
    emails = contacts["email"].drop_nulls().to_list()[:200]
    names = contacts["name"].drop_nulls().to_list()[:200]
    for path in (out / week).iterdir():
        text = path.read_text(encoding="utf-8")
        assert KEY not in text, path.name
        assert not ID.findall(_visible_text(text)), f"{path.name}: raw contact ids"
        assert not [e for e in emails if e in text], f"{path.name}: e-mail addresses"
        assert not [n for n in names if f">{n}<" in text], f"{path.name}: names"


@pytest.mark.slow
def test_contact_level_table_shows_keyed_pseudonyms(rendered: tuple[Path, str, str]) -> None:
    _, page, _ = rendered
    shown = re.findall(r"\bp_[0-9a-f]{16}\b", _visible_text(page))
    assert shown, "the follow-up table lists contacts"
    ids = read_contacts(str(CONTACTS)).frame.collect()["contact_id"].to_list()
    known = {pseudonym(i, key=KEY.encode()) for i in ids}
    assert set(shown) <= known
    assert "withheld" not in page, "the follow-up table's own columns are not personal"


@pytest.mark.slow
def test_the_team_gets_a_local_follow_up_file_with_the_real_ids(
    rendered: tuple[Path, str, str],
) -> None:
    out, page, week = rendered
    follow_up = out / report_module.FOLLOW_UP_DIR / f"{week}.csv"
    assert follow_up.stat().st_mode & 0o777 == 0o600
    assert follow_up.parent.stat().st_mode & 0o777 == 0o700
    first, rest = follow_up.read_text(encoding="utf-8").split("\n", 1)
    assert first == report_module.FOLLOW_UP_MARK
    listed = pl.read_csv(rest.encode())
    assert listed.height > 0 and all(ID.fullmatch(c) for c in listed["contact_id"])
    # the shared HTML names the file, and holds none of the ids
    assert f"{report_module.FOLLOW_UP_DIR}/{week}.csv" in _visible_text(page)
    assert not any(c in page for c in listed["contact_id"])
    assert not (out / week / f"{week}.csv").exists()


def test_a_follow_up_file_the_kit_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    theirs = tmp_path / "follow-up" / "2026-W47.csv"
    theirs.parent.mkdir()
    theirs.write_text("my own notes\n")
    frame = pl.DataFrame({"contact_id": ["c000001"]})
    with pytest.raises(ReportError, match="not written by funnelkit"):
        report_module.write_follow_up(frame, theirs)
    assert theirs.read_text() == "my own notes\n"
    ours = report_module.write_follow_up(frame, tmp_path / "ours" / "2026-W47.csv")
    again = report_module.write_follow_up(frame.vstack(frame), ours)  # its own: replaced
    assert again.read_text().count("c000001") == 2 and again.stat().st_mode & 0o777 == 0o600


def test_a_follow_up_id_a_spreadsheet_would_run_is_written_as_text(tmp_path: Path) -> None:
    formula = '=HYPERLINK("http://x.example","call me")'
    frame = pl.DataFrame(
        {"contact_id": [formula, "c000001", "-3"], "stage": ["@SUM(1)", "warm_lead", "+33"]}
    )
    written = report_module.write_follow_up(frame, tmp_path / "follow-up" / "2026-W47.csv")
    first, rest = written.read_text().split("\n", 1)
    assert first == report_module.FOLLOW_UP_MARK
    listed = pl.read_csv(rest.encode())
    assert listed["contact_id"].to_list() == ["'" + formula, "c000001", "-3"]
    assert listed["stage"].to_list() == ["'@SUM(1)", "warm_lead", "+33"]
    assert written.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_a_median_of_zero_days_to_convert_is_explained(rendered: tuple[Path, str, str]) -> None:
    _, page, _ = rendered
    text = _visible_text(page)
    # On the sample, W47: cold lead → warm lead has a median of 0.0 days
    cells = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    assert "Cold lead → Warm lead 1,197 0.0 " in cells
    assert "A median of 0.0 days (Cold lead → Warm lead) is no rounding" in text
    assert "at the same instant" in text


@pytest.mark.slow
def test_index_links_every_week(rendered: tuple[Path, str, str]) -> None:
    out, _, week = rendered
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f"href='{week}/report.html'" in index
    assert "inbound" in index


# --- ranges and determinism --------------------------------------------------
@pytest.mark.slow
def test_range_renders_each_week_with_a_progress_bar_and_the_same_metrics(
    rendered: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _, week = rendered
    stale = tmp_path / week
    stale.mkdir()
    (stale / "report.html").write_text("last run's report")
    report_folder.write_week_manifest(stale, week)  # the kit's: replaced without a word
    code = main(_report(tmp_path, "--from", "2026-W46", "--to", week))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "weekly report" in captured.err and "2/2" in captured.err  # tqdm on stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        ".funnelkit-lock",
        ".funnelkit-reports.json",
        "2026-W46",
        week,
        "follow-up",
        "index.html",
    ]
    assert "last run's" not in (tmp_path / week / "report.html").read_text()  # replaced
    # determinism: another run, another folder, the same metrics.json byte for byte
    assert (tmp_path / week / "metrics.json").read_bytes() == (
        out / week / "metrics.json"
    ).read_bytes()
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert index.index(f"{week}/report.html") < index.index("2026-W46/report.html")
    assert json.loads((tmp_path / "2026-W46" / "metrics.json").read_text())["week"] == "2026-W46"


@pytest.mark.slow
def test_streaming_mode_renders_the_same_metrics(
    rendered: tuple[Path, str, str], tmp_path: Path
) -> None:
    out, _, week = rendered
    code = main(_report(tmp_path, "--week", week, "--no-progress", "-p", "in_memory", "false"))
    assert code == 0
    assert (tmp_path / week / "metrics.json").read_bytes() == (
        out / week / "metrics.json"
    ).read_bytes()


@pytest.fixture(scope="module")
def events_without_w40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample events with week 2026-W40 cut out, as a broken export would."""
    path = tmp_path_factory.mktemp("broken") / "events.csv"
    frame = read_events(str(EVENTS)).frame.collect()
    start, end = IsoWeek(2026, 40).start, IsoWeek(2026, 40).end
    kept = frame.filter((pl.col("occurred_at") < start) | (pl.col("occurred_at") >= end))
    kept.write_csv(path)
    return path


@pytest.mark.slow
def test_a_week_without_events_renders_with_a_loud_warning(
    events_without_w40: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["report", "--events", str(events_without_w40), "--contacts", str(CONTACTS)]
    code = main([*args, "--week", "2026-W40", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err  # a valid week: the report is written
    assert "warning: 2026-W40: the data holds no event in this week." in err
    metrics = json.loads((tmp_path / "2026-W40" / "metrics.json").read_text(encoding="utf-8"))
    assert [w["code"] for w in metrics["warnings"]] == ["no_events_in_week"]
    verdicts = {k["name"]: k["verdict"] for k in metrics["headline"] if k["kind"] == "count"}
    assert verdicts["reached_cold_lead"] == verdicts["reached_warm_lead"] == "decrease"
    text = _visible_text((tmp_path / "2026-W40" / "report.html").read_text(encoding="utf-8"))
    assert "class='funnelkit-warning'" in text or 'class="funnelkit-warning"' in text
    assert text.index("the data holds no event in this week") < text.index("Headline")


@pytest.mark.slow
def test_the_first_week_of_the_data_says_there_is_no_previous_week(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(_report(tmp_path, "--week", "2026-W28", "--no-progress", "-p", "lang", "fr"))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "warning:" not in err
    metrics = json.loads((tmp_path / "2026-W28" / "metrics.json").read_text(encoding="utf-8"))
    counts = [k for k in metrics["headline"] if k["kind"] == "count"]
    assert counts and {(k["previous"], k["verdict"]) for k in counts} == {
        (None, "no previous week")
    }
    text = _visible_text((tmp_path / "2026-W28" / "report.html").read_text(encoding="utf-8"))
    assert "Pas de semaine précédente à comparer" in text
    assert "pas de semaine précédente</td>" in text


def test_in_memory_takes_a_boolean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_report(tmp_path, "-p", "in_memory", "sometimes")) == 2
    assert "-p in_memory" in capsys.readouterr().err


@pytest.mark.slow
def test_a_file_corrupted_mid_range_keeps_the_previous_report(
    rendered: tuple[Path, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, _, week = rendered
    events = tmp_path / "events.csv"
    events.write_bytes(EVENTS.read_bytes())
    reports = tmp_path / "reports"
    previous = reports / week
    previous.mkdir(parents=True)
    for name in ("report.html", "metrics.json"):
        (previous / name).write_bytes((out / week / name).read_bytes())
    before = digest(previous)

    real_render_week = report_module.render_week

    def render_then_corrupt(settings: ReportSettings, one: IsoWeek) -> RenderedWeek:
        done = real_render_week(settings, one)
        events.write_bytes(
            b"\x00\x01 this export was cut off \xff\xfe\n"
        )  # the next week reads this
        return done

    monkeypatch.setattr(report_module, "render_week", render_then_corrupt)
    args = ["report", "--events", str(events), "--out", str(reports), "--no-progress"]
    code = main([*args, "--from", "2026-W46", "--to", week])
    err = capsys.readouterr().err
    assert code == 2
    message = [line for line in err.splitlines() if line.startswith("funnelkit report: error:")]
    assert len(message) == 1
    assert re.search(rf"week {week}: the notebook failed in cell \[\d+\] \(.+\): \w+Error: ", err)
    assert "events.csv" in message[0]
    assert "previous report there is unchanged" in message[0]
    assert digest(previous) == before
    assert (reports / "2026-W46" / "report.html").is_file()  # the week before it stays
    failed = list((reports / ".failed").glob(f"{week}-*/report.ipynb"))
    assert len(failed) == 1
    assert any(_has_error(c) for c in nbformat.read(failed[0], as_version=4).cells)
    assert not list(reports.glob(".tmp-*"))
    assert "2026-W46/report.html" in (reports / "index.html").read_text(encoding="utf-8")


# --- bad parameters: refused before any kernel starts ------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-46"], r"week: '2026-46' is not an ISO week; .* e\.g\. '2026-W46'"),
        (["--week", "2027-W53"], r"week: 2027 has 52 ISO weeks"),
        (["--week", "2030-W01"], r"--week: 2030-W01 .* is outside the data"),
        (["--from", "2026-W47"], r"--to: a range needs both --from and --to"),
        (["--from", "2026-W47", "--to", "2026-W40"], r"--to: 2026-W40 comes before --from"),
        (["--week", "2026-W47", "--from", "2026-W40"], r"--week: give either --week or --from"),
        (["--funnel", "inbond"], r"--funnel: no funnel preset 'inbond'.*Did you mean 'inbound'"),
        (["--funnel", "missing/funnel.toml"], r"--funnel: missing/funnel.toml does not exist"),
        (["--breakdown", "chanel"], r"--breakdown: there is no column 'chanel'.*'channel'"),
        (["--breakdown", "email"], r"--breakdown: the column 'email' holds personal data"),
        (["-p", "window_dayz", "7"], r"-p window_dayz: .* no parameter.*'window_days'"),
        (["-p", "window_days", "a week"], r"-p window_days: 'a week' is not a valid value"),
        (["-p", "window_days", "0"], r"-p window_days: expected a whole number of at least 1"),
        (["-p", "lang", "de"], r"-p lang: expected 'en' or 'fr', got 'de'"),
        (["-p", "pseudonymize", "maybe"], r"-p pseudonymize: 'maybe' is not a valid value"),
        (["-p", "events", "x.csv"], r"-p events: set it with --events instead"),
        (["--notebook", "nowhere.ipynb"], r"--notebook: nowhere.ipynb does not exist"),
    ],
)
def test_bad_parameters_fail_before_any_kernel_naming_the_parameter(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    (tmp_path / "reports" / WEEK).mkdir(parents=True)
    (tmp_path / "reports" / WEEK / "report.html").write_text("last week's report")
    assert main(_report(tmp_path / "reports", *args)) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert err.count("\n") <= 3  # what was read, then one line of error
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [WEEK]
    assert (tmp_path / "reports" / WEEK / "report.html").read_text() == "last week's report"


def _no_kernel(*args: object) -> None:
    msg = "a kernel was started for bad parameters"
    raise AssertionError(msg)


def test_missing_events_file_fails_before_any_kernel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    previous = tmp_path / "reports" / WEEK
    previous.mkdir(parents=True)
    (previous / "report.html").write_text("last week's report")
    code = main(["report", "--events", str(tmp_path / "evnts.csv"), "--out", str(previous.parent)])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(r"funnelkit report: error: --events: .*evnts.csv does not exist", err)
    assert (previous / "report.html").read_text() == "last week's report"


def test_missing_contacts_file_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    args = ["report", "--events", str(EVENTS), "--contacts", str(tmp_path / "c.csv")]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "--contacts: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "contact_id,occurred_at,event\nc1,2026-11-22T10:00:00Z,purchase\n",
            [
                "--funnel: stage 'client' of 'inbound' filters on amount > 0",
                "the events have no 'amount' column",
            ],
            id="a funnel filtering on a missing column",
        ),
        pytest.param(
            "contact_id,occurred_at,event,amount\nc1,2026-11-22T10:00:00Z,purchase,abc\n",
            [
                "--events: funnel 'inbound' compares column 'amount' with numbers",
                "1 of its values is not a number: 'abc' (contact c1, 2026-11-22 10:00)",
            ],
            id="a funnel filter on a mistyped column",
        ),
        pytest.param(
            "contact_id;occurred_at;event\nc1;22/11/2026 10:00;like\n",
            [
                "the only row is not usable (1 bad_timestamp)",
                "--timestamp-format '%d/%m/%Y %H:%M'",
            ],
            id="events none of which is usable, with a hint",
        ),
        pytest.param(
            "user,ts\nc1,2026-11-02\n",
            ["events.csv: the events have no 'contact_id' column"],
            id="unreadable events naming the file",
        ),
    ],
)
def test_bad_events_fail_before_any_kernel(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    expected: list[str],
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    path = tmp_path / "events.csv"
    path.write_text(text)
    assert main(["report", "--events", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    for line in expected:
        assert line in err
    assert not (tmp_path / "out").exists()


# --- the template and the kernel ---------------------------------------------
def test_the_template_is_package_data_inside_the_package() -> None:
    """A wheel carries the template: it is under the package, and package-data names it."""
    packaged = Path(report_module.__file__).resolve().parent / "notebooks" / "weekly_report.ipynb"
    assert default_notebook() == packaged  # found in the package, not beside it
    assert packaged.read_bytes() == (ROOT / "notebooks" / "weekly_report.ipynb").read_bytes()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["funnelkit"]
    assert any(fnmatch("notebooks/weekly_report.ipynb", pattern) for pattern in patterns)


def test_template_has_one_parameters_cell_with_the_issue_parameters() -> None:
    nb = nbformat.read(default_notebook(), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = set(re.findall(r"^(\w+) = ", tagged[0].source, flags=re.M))
    assert names >= {
        "week",
        "events",
        "contacts",
        "funnel",
        "window_days",
        "breakdown",
        "weeks_of_history",
        "lang",
        "pseudonymize",
    }


@pytest.mark.slow
def test_a_custom_template_runs_on_this_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = [
        nbformat.v4.new_markdown_cell("A minimal report template."),
        nbformat.v4.new_code_cell(
            'week = None\nevents = ""\nmetrics_path = None\nshout = False',
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell(
            "import json, sys\n"
            "json.dump({'week': week, 'python': sys.executable, 'shout': shout},"
            " open(metrics_path, 'w'))"
        ),
    ]
    template = tmp_path / "mini.ipynb"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, template)
    out = tmp_path / "out"
    code = main(
        [
            "report",
            "--events",
            str(EVENTS),
            "--week",
            "2026-W40",
            "--out",
            str(out),
            "--notebook",
            str(template),
            "-p",
            "shout",
            "yes",
        ]
    )
    assert code == 0, capsys.readouterr().err
    written = json.loads((out / "2026-W40" / "metrics.json").read_text())
    assert written == {"week": "2026-W40", "python": sys.executable, "shout": True}
    assert (out / "2026-W40" / "report.html").is_file()


# --- the pieces, without a kernel --------------------------------------------
def test_prepare_report_types_parameters_and_picks_the_last_complete_week(tmp_path: Path) -> None:
    lines: list[str] = []
    settings = report_module.prepare_report(
        events=EVENTS,
        out_dir=tmp_path / "out",
        parameters=[("window_days", "14"), ("pseudonymize", "false"), ("lang", "fr")],
        log=lines.append,
    )
    assert [str(w) for w in settings.weeks] == [WEEK]
    params = settings.notebook_parameters(settings.weeks[0])
    assert params["window_days"] == 14 and params["pseudonymize"] is False
    assert params["lang"] == "fr" and params["week"] == WEEK
    assert params["events"] == str(EVENTS) and params["contacts"] is None
    assert params["funnel"] == "inbound" and params["breakdown"] == "channel"
    assert params["metrics_path"] == "metrics.json"
    assert settings.out_dir.is_absolute()
    assert lines and re.search(r"events.csv: read [\d,]+ rows", lines[0])


def test_the_default_week_comes_from_the_bulk_not_from_a_typo_decades_away(
    tmp_path: Path,
) -> None:
    rows = [f"c{i},2026-11-{2 + i % 14:02d}T10:00:00Z,page_view,1" for i in range(40)]
    rows.append("c99,2062-11-05T10:00:00Z,page_view,1")  # 2026 typed as 2062
    path = tmp_path / "events.csv"
    path.write_text("contact_id,occurred_at,event,amount\n" + "\n".join(rows) + "\n")
    lines: list[str] = []
    settings = report_module.prepare_report(events=path, out_dir=tmp_path, log=lines.append)
    assert [str(w) for w in settings.weeks] == ["2026-W46"]  # not a week of 2062
    assert "row 41 (2062-11-05 10:00:00)" in "\n".join(lines)


def test_the_default_breakdown_is_dropped_when_the_data_lacks_it(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("contact_id,occurred_at,event,amount\nc1,2026-11-22T10:00:00Z,purchase,9\n")
    settings = report_module.prepare_report(events=path, out_dir=tmp_path)
    assert settings.parameters["breakdown"] is None


def test_a_breakdown_can_be_a_contact_attribute(tmp_path: Path) -> None:
    settings = report_module.prepare_report(
        events=EVENTS, contacts=CONTACTS, breakdown="segment", week=WEEK, out_dir=tmp_path
    )
    assert settings.parameters["breakdown"] == "segment"


def test_a_funnel_file_is_passed_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(load_funnel("sales").to_toml())
    settings = report_module.prepare_report(
        events=EVENTS, funnel="mine.toml", week=WEEK, out_dir="out"
    )
    assert settings.parameters["funnel"] == str(tmp_path / "mine.toml")


def test_a_template_needs_exactly_one_parameters_cell(tmp_path: Path) -> None:
    template = tmp_path / "t.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), template)
    with pytest.raises(ParameterError, match=r"--notebook: .*t.ipynb has 0 cells tagged"):
        report_module.prepare_report(events=EVENTS, notebook=template, out_dir=tmp_path)


def test_figures_render_with_plotly_loaded_once_and_distinct_ids() -> None:
    renderer = report_display._OfflineFigureRenderer()
    fig = {"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {}}
    first, second = renderer.to_mimebundle(fig), copy.copy(renderer).to_mimebundle(fig)
    assert 'id="funnelkit-figure-1"' in first["text/html"]
    assert 'id="funnelkit-figure-2"' in second["text/html"]  # plotly copies renderers
    assert "<script src" not in first["text/html"] and "plotly.js v" not in first["text/html"]
    assert first["application/vnd.plotly.v1+json"]["data"][0]["type"] == "bar"


def test_headline_html_flags_the_verdicts_in_both_languages() -> None:
    df = events_frame(
        *((f"a{i}", "2026-11-03 10:00", "page_view") for i in range(40)),
        *((f"b{i}", "2026-11-10 10:00", "page_view") for i in range(90)),
    )
    metrics = weekly_metrics(df, "inbound", week="2026-W46", window="7d", weeks_of_history=2)
    page = report_module.headline_html(metrics, "en").data
    assert "<td>New contacts</td>" in page and "<td class='num'>90</td>" in page
    assert "<tr class='increase'>" in page and "<td>up</td>" in page
    french = report_module.headline_html(metrics, "fr").data
    assert "<td>en hausse</td>" in french and "Nouveaux contacts" in french


def test_headline_html_says_when_there_is_no_previous_week() -> None:
    df = events_frame(*((f"b{i}", "2026-11-10 10:00", "page_view") for i in range(90)))
    metrics = weekly_metrics(df, "inbound", week="2026-W46", window="7d", weeks_of_history=2)
    page = report_module.headline_html(metrics, "en").data
    assert "<td class='num'>90</td><td class='num'>none</td>" in page
    assert page.count("<td class='num'>none</td>") == page.count("<td>no previous week</td>") == 5
    assert "No previous week to compare with: the data holds no event before this week." in page
    french = report_module.headline_html(metrics, "fr").data
    assert "<td class='num'>aucune</td>" in french
    assert "<td>pas de semaine précédente</td>" in french
    assert "Pas de semaine précédente à comparer" in french


def test_warnings_show_at_the_top_in_both_languages() -> None:
    df = events_frame(
        *((f"a{i}", "2026-11-03 10:00", "form_fill") for i in range(30)),
        ("z", "2026-11-17 10:00", "page_view"),
    )
    metrics = weekly_metrics(df, "inbound", week="2026-W46", window="7d", weeks_of_history=2)
    page = report_module.warnings_html(metrics, "en").data
    assert page.startswith("<p class='funnelkit-warning' role='alert'><strong>Warning: </strong>")
    assert "the data holds no event in this week" in page and "broken or incomplete export" in page
    french = report_module.warnings_html(metrics, "fr").data
    assert "<strong>Attention : </strong>les données ne contiennent aucun événement" in french
    quiet = events_frame(("a", "2026-11-03 10:00", "page_view"), ("a", "2026-11-10 10:00", "like"))
    calm = weekly_metrics(quiet, "inbound", week="2026-W46", window="7d", weeks_of_history=2)
    assert report_module.warnings_html(calm, "en") is None


def test_warning_texts_give_the_numbers_in_the_report_language() -> None:
    warning = {
        "code": "few_stage_entries_in_week",
        "value": 3,
        "median_previous_weeks": 1234.5,
        "previous_weeks": 11,
    }
    assert report_module.warning_text(warning) == (
        "entries into stages past the first: 3 this week, under 10% of the median of the "
        "previous 11 weeks (1,234.5). So sharp a fall usually means an incomplete export: check "
        "the data before reading the report."
    )
    french = report_module.warning_text(warning, "fr")
    assert french.startswith(
        "entrées dans les stades au-delà du premier : 3 cette semaine, moins de 10\u202f% de la "
        "médiane des 11 semaines précédentes (1\u202f234,5)."
    )
    assert report_module.warning_text({"code": "from_a_newer_template"}) == "from_a_newer_template."


def test_contacts_table_pseudonymises_ids_and_never_shows_personal_columns() -> None:
    frame = pl.DataFrame(
        {"contact_id": ["c000001"], "email": ["ann@example.org"], "name": ["Ann"], "days": [3]}
    )
    shown = report_module.contacts_table(frame, key=KEY.encode()).data
    assert pseudonym("c000001", key=KEY.encode()) in shown and "c000001" not in shown
    assert "ann@example.org" not in shown and ">Ann<" not in shown
    assert "pseudonymised" in shown
    plain = report_module.contacts_table(frame, pseudonymize=False).data
    assert "c000001" in plain and "ann@example.org" not in plain
    assert "pseudonymize is off" in plain


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_contacts_table_withholds_a_column_with_one_phone_or_e_mail_and_says_so(
    lang: str,
) -> None:
    ids = [f"c{i:06d}" for i in range(1, 31)]
    frame = pl.DataFrame(
        {
            "contact_id": ids,
            "note": ["call back"] * 9 + ["+33 6 12 34 56 78"] + ["call back"] * 20,
            "desk": ["b2b"] * 29 + ["ann@example.org"],
            "referrer": [None] * 29 + [ids[0]],
            "segment": ["b2b", "b2c"] * 15,
        }
    )
    for rows in (frame.head(10), frame):
        shown = report_module.contacts_table(rows, key=KEY.encode(), lang=lang).data
        text = _visible_text(shown)
        assert "12 34 56 78" not in text and "+33" not in text, rows.height
        assert "ann@example.org" not in text and ids[0] not in text, rows.height
        assert ">b2c<" in shown
    note = "Columns withheld as personal data" if lang == "en" else "Colonnes masquées"
    assert f"{note}" in shown and "desk" in shown and "referrer" in shown


def test_section_text_names_a_bad_language_or_section() -> None:
    assert report_module.section_text("quality", "fr")[0] == "Qualité des données"
    with pytest.raises(ParameterError, match=r"lang: expected 'en' or 'fr', got 'de'"):
        report_module.section_text("quality", "de")
    with pytest.raises(ParameterError, match=r"section: no section 'qualty'.*'quality'"):
        report_module.section_text("qualty")


def test_move_into_place_replaces_a_whole_folder(tmp_path: Path) -> None:
    target, new = tmp_path / WEEK, tmp_path / ".tmp-new"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new.mkdir()
    (new / "report.html").write_text("new")
    report_folder.move_into_place(new, target)
    assert sorted(p.name for p in target.iterdir()) == ["report.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [WEEK]


def test_index_lists_rendered_weeks_newest_first(tmp_path: Path) -> None:
    for week in ("2026-W45", "2026-W46"):
        (tmp_path / week).mkdir()
        (tmp_path / week / "report.html").write_text("<html></html>")
        metrics = {
            "week": week,
            "week_start": "2026-11-02T00:00:00+00:00",
            "week_end": "2026-11-09T00:00:00+00:00",
            "funnel": {"name": "inbound"},
            "headline": [{"name": "new_contacts", "value": 12}],
        }
        (tmp_path / week / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / ".failed").mkdir()
    index = report_module.write_index(tmp_path).read_text(encoding="utf-8")
    assert index.index("2026-W46/report.html") < index.index("2026-W45/report.html")
    assert "2026-11-02 to 2026-11-08" in index and "new contacts: 12" in index
    assert ".failed" not in index


def test_index_keeps_each_week_and_its_dates_on_one_line(tmp_path: Path) -> None:
    (tmp_path / WEEK).mkdir()
    (tmp_path / WEEK / "report.html").write_text("<html></html>")
    (tmp_path / WEEK / "metrics.json").write_text(json.dumps({"funnel": {"name": "inbound"}}))
    index = report_module.write_index(tmp_path).read_text(encoding="utf-8")
    assert "td.week, td.dates { white-space: nowrap; }" in index  # not "2026-/W47"
    assert f"<td class='week'><a href='{WEEK}/report.html'>{WEEK}</a></td>" in index


def test_index_flags_the_weeks_with_warnings(tmp_path: Path) -> None:
    (tmp_path / WEEK).mkdir()
    (tmp_path / WEEK / "report.html").write_text("<html></html>")
    metrics = {"funnel": {"name": "inbound"}, "warnings": [{"code": "no_events_in_week"}]}
    (tmp_path / WEEK / "metrics.json").write_text(json.dumps(metrics))
    index = report_module.write_index(tmp_path).read_text(encoding="utf-8")
    assert "\u26a0 1 warning (no_events_in_week)" in index


def test_rendering_another_funnel_over_a_week_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / WEEK).mkdir(parents=True)
    (out / WEEK / "metrics.json").write_text(json.dumps({"funnel": {"name": "inbound"}}))

    def render(settings: ReportSettings, week: IsoWeek) -> report_module.RenderedWeek:
        folder = settings.out_dir / str(week)
        (folder / "metrics.json").write_text(json.dumps({"funnel": {"name": "sales"}}))
        (folder / "report.html").write_text("<html></html>")
        return report_module.RenderedWeek(str(week), folder)

    monkeypatch.setattr(report_module, "render_week", render)
    args = ["--events", str(EVENTS), "--funnel", "sales", "--week", WEEK, "--out", str(out)]
    assert main(["report", *args]) == 0
    err = capsys.readouterr().err
    assert (
        f"warning: {WEEK}: replaced the report of funnel 'inbound' with one of funnel 'sales'"
        in err
    )
    assert main(["report", *args]) == 0  # the same funnel again: nothing to say
    assert "replaced" not in capsys.readouterr().err


def test_reading_options_reach_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, object]] = []

    def record(settings: ReportSettings, week: IsoWeek, folder: Path) -> None:
        seen.append(settings.notebook_parameters(week))
        msg = "stop here"
        raise report_module.ReportError(msg)

    monkeypatch.setattr(report_module, "_execute", record)
    path = tmp_path / "export.csv"
    path.write_text("user;ts;event;amount\nc1;22/11/2026 10:00;purchase;12,5\n")
    args = ["--columns", "user=contact_id,ts=occurred_at", "--timestamp-format", "%d/%m/%Y %H:%M"]
    code = main(["report", "--events", str(path), "--out", str(tmp_path / "out"), *args])
    assert code == 2 and "stop here" in capsys.readouterr().err
    assert seen[0]["read_options"] == {
        "columns": {"user": "contact_id", "ts": "occurred_at"},
        "timestamp_format": "%d/%m/%Y %H:%M",
    }
    assert seen[0]["week"] == WEEK and seen[0]["breakdown"] is None


# --- events and contacts read by an engine ---------------------------------------
@pytest.fixture(scope="module")
def duckdb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample events and contacts as the tables ``events`` and ``contacts`` of one file."""
    import duckdb

    path = tmp_path_factory.mktemp("warehouse") / "sample.duckdb"
    events = read_events(str(EVENTS)).frame.collect()
    contacts = read_contacts(str(CONTACTS)).frame.collect()
    with duckdb.connect(str(path)) as con:
        con.register("events_in", events)
        con.register("contacts_in", contacts)
        con.execute("CREATE TABLE events AS SELECT * FROM events_in")
        con.execute("CREATE TABLE contacts AS SELECT * FROM contacts_in")
    return path


def _numbers(metrics: dict[str, object]) -> dict[str, object]:
    """The headline KPIs of a metrics.json: name and every numeric field."""
    headline = metrics["headline"]
    assert isinstance(headline, list)
    return {
        kpi["name"]: {k: v for k, v in kpi.items() if isinstance(v, int | float | None)}
        for kpi in headline
    }


@pytest.mark.slow
def test_a_duckdb_source_renders_the_same_headline_as_the_files(
    rendered: tuple[Path, str, str], duckdb_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    code = main(
        [
            "report",
            *("--events", f"duckdb:///{duckdb_file}?table=events"),
            *("--contacts", f"duckdb:///{duckdb_file}?table=contacts"),
            *("--week", WEEK, "--out", str(out), "--no-progress"),
        ]
    )
    assert code == 0
    from_engine = json.loads((out / WEEK / "metrics.json").read_text(encoding="utf-8"))
    from_files = json.loads((rendered[0] / WEEK / "metrics.json").read_text(encoding="utf-8"))
    assert from_engine["week"] == from_files["week"] == WEEK
    assert _numbers(from_engine) == _numbers(from_files)
    assert len(from_engine["headline"]) == len(from_files["headline"])
    # only the data-quality counts may differ: an engine sets no row aside
    assert {k: v for k, v in from_engine.items() if k != "rows"} == {
        k: v for k, v in from_files.items() if k != "rows"
    }
    executed = nbformat.read(out / WEEK / "report.ipynb", as_version=4)
    assert executed.metadata["papermill"]["parameters"]["events"].startswith("duckdb:///")


def test_an_engine_source_is_checked_and_passed_through(
    duckdb_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(duckdb_file.parent)
    lines: list[str] = []
    settings = report_module.prepare_report(
        events=f"duckdb:///{duckdb_file}?table=events",
        contacts=f"duckdb://{duckdb_file.name}?table=contacts",
        breakdown="segment",
        out_dir=tmp_path / "out",
        log=lines.append,
    )
    assert [str(w) for w in settings.weeks] == [WEEK]
    params = settings.notebook_parameters(settings.weeks[0])
    assert params["events"] == f"duckdb:///{duckdb_file}?table=events"
    # the notebook runs in the week's folder: a relative database path is made absolute
    assert params["contacts"] == f"duckdb://{duckdb_file}?table=contacts"
    assert params["breakdown"] == "segment" and params["read_options"] == {}
    assert lines and "contact_id" in lines[0]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("duckdb:///{dir}/missing.duckdb?table=events", r"--events: .*no such DuckDB database"),
        ("duckdb:///{db}?table=evnts", r"--events: .*no table 'evnts'.*did you mean 'events'"),
        ("duckdb:///{db}", r"--events: .*name the table"),
        ("duckdb:///{db}?table=contacts", r"--events: .*no column 'occurred_at'"),
    ],
)
def test_a_bad_engine_source_fails_before_any_kernel_naming_events(
    duckdb_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    message: str,
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    events = source.format(dir=tmp_path, db=duckdb_file)
    assert main(["report", "--events", events, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err, re.IGNORECASE), err
    assert not (tmp_path / "out").exists()


def test_engine_events_need_contacts_and_options_of_that_engine(duckdb_file: Path) -> None:
    events = f"duckdb:///{duckdb_file}?table=events"
    with pytest.raises(ParameterError, match=r"--contacts: .*not on the engine of --events"):
        report_module.prepare_report(events=events, contacts=CONTACTS)
    with pytest.raises(ParameterError, match=r"--events: --timezone only apply to files"):
        report_module.prepare_report(events=events, read_options={"timezone": "Europe/Paris"})
    with pytest.raises(ParameterError, match=r"--contacts: .*engine source but --events is a file"):
        report_module.prepare_report(
            events=EVENTS, contacts=f"duckdb:///{duckdb_file}?table=contacts"
        )


@pytest.mark.slow
def test_the_drivers_section_and_its_metrics(rendered: tuple[Path, str, str]) -> None:
    out, page, week = rendered
    headings = re.findall(r"<h2[^>]*>(.*?)<a", page)
    order = ["Cohorts", "What the contacts who went on did differently", "Data quality"]
    positions = [next(i for i, h in enumerate(headings) if h.startswith(o)) for o in order]
    assert positions == sorted(positions), headings
    text = _visible_text(page)
    assert "The biggest leak is from “Client” to “Ambassador”" in text
    assert "An association, not a cause" in text
    assert "Why contacts drop at Client \\u2192 Ambassador" in page  # the figure title, in JSON
    written = json.loads((out / week / "metrics.json").read_text(encoding="utf-8"))
    rows = written["drivers"]
    assert rows, "metrics.json has a drivers list"
    assert {(r["step"], r["from_stage"], r["to_stage"]) for r in rows} == {
        (5, "client", "ambassador")
    }
    assert {r["kind"] for r in rows} <= {"event", "property"}
    for row in rows:
        assert (
            row["converted"] + row["converted_without"]
            == rows[0]["converted"] + rows[0]["converted_without"]
        )
    # aggregate and pseudonymous only: no contact id, no personal column, no sentence
    drivers_text = json.dumps(rows)
    assert not ID.search(drivers_text)
    assert not {r["name"] for r in rows} & {"email", "name", "contact_id"}
    assert "@" not in drivers_text
    assert all("sentence" not in r for r in rows)


@pytest.mark.slow
def test_renamed_columns_of_both_files_are_mapped_in_the_check_and_the_kernel(
    rendered: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--columns maps the events, --contact-columns the contacts: the same week's metrics."""
    out, _, week = rendered
    events = tmp_path / "events.csv"
    pl.read_csv(EVENTS).rename({"contact_id": "user_id", "occurred_at": "ts"}).write_csv(events)
    people = tmp_path / "people.csv"
    pl.read_csv(CONTACTS).rename({"contact_id": "uid", "created_at": "signup"}).write_csv(people)
    args = ["report", "--events", str(events), "--contacts", str(people), "--week", week]
    mapped = [
        *("--columns", "user_id=contact_id,ts=occurred_at"),
        *("--contact-columns", "uid=contact_id,signup=created_at"),
    ]
    code = main([*args, *mapped, "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    got = json.loads((tmp_path / "out" / week / "metrics.json").read_text(encoding="utf-8"))
    want = json.loads((out / week / "metrics.json").read_text(encoding="utf-8"))
    for part in ("headline", "snapshot", "funnel", "conversion", "warnings"):
        assert got[part] == want[part]
    # without the contacts' mapping, the contacts table is refused before any kernel starts
    code = main([*args, "--columns", mapped[1], "--out", str(tmp_path / "no"), "--no-progress"])
    assert code == 2
    assert "contact_id" in capsys.readouterr().err
    assert not (tmp_path / "no" / week).exists()
