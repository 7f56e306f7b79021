"""The ``funnelkit funnel`` command: parse, call funnel(), print table / csv / json."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from funnelkit.cli import main

EVENTS = """contact_id,occurred_at,event,channel
a,2026-09-01T09:00:00Z,page_view,social
a,2026-09-02T09:00:00Z,newsletter_signup,social
a,2026-09-03T09:00:00Z,purchase,social
b,2026-09-01T10:00:00Z,page_view,paid_ads
b,2026-09-20T10:00:00Z,ebook_download,paid_ads
c,2026-09-05T10:00:00Z,page_view,social
c,2026-09-06T10:00:00Z,ebook_download,social
"""
STEPS = "page_view,newsletter_signup|ebook_download,purchase"


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["funnel", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_funnel_prints_a_table(events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(events), "--steps", STEPS)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "Funnel page_view → newsletter_signup or ebook_download → purchase (window 2w, ordered)"
    )
    assert any(line.split()[:3] == ["2", "newsletter_signup", "or"] for line in lines)
    assert "Time to convert:" in out
    assert "read 7 rows, none set aside" in err


def test_funnel_json_has_the_documented_shape(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(events), "--steps", STEPS, "--window", "3d", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [s["count"] for s in data["steps"]] == [3, 2, 1]
    step = data["steps"][1]
    assert {"name", "count", "conversion_from_previous", "conversion_from_first", "ci_low",
            "ci_high"} <= set(step)  # fmt: skip
    assert step["name"] == "newsletter_signup or ebook_download"
    assert data["window"] == "3d" and data["order"] == "ordered"


def test_funnel_by_gives_one_list_per_value(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(events), "--steps", STEPS, "--by", "channel", "--min-size", "0", "--format", "json"]
    code, out, _ = run(capsys, *args)
    assert code == 0
    data = json.loads(out)
    assert data["by"] == "channel"
    segments = {s["value"]: [step["count"] for step in s["steps"]] for s in data["segments"]}
    assert segments == {"social": [2, 2, 1], "paid_ads": [1, 0, 0]}


def test_funnel_csv_with_window_order_and_dates(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(events), "--steps", "page_view,ebook_download", "--window", "30d"]
    args += ["--order", "strict_increase", "--since", "2026-09-01", "--until", "2026-09-10"]
    args += ["--format", "csv"]
    code, out, _ = run(capsys, *args)
    assert code == 0
    table = pl.read_csv(io.StringIO(out))
    assert table["count"].to_list() == [3, 1]
    assert table.columns[:3] == ["step", "name", "count"]


def test_funnel_from_a_preset_definition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "contact_id,occurred_at,event,amount\n"
        "a,2026-09-01T09:00:00Z,list_import,\n"
        "a,2026-09-02T09:00:00Z,badge_scan,\n"
        "a,2026-09-03T09:00:00Z,call,\n"
        "b,2026-09-03T09:00:00Z,list_import,\n"
        "b,2026-09-04T09:00:00Z,purchase,19.5\n"
    )
    code, out, _ = run(capsys, str(path), "--funnel", "sales", "--window", "1w", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [s["name"] for s in data["steps"]][:3] == ["Raw contact", "Lead", "Prospect"]
    # by entry (the default), b's purchase makes it a client: it skipped lead and prospect
    assert [s["count"] for s in data["steps"]][:3] == [2, 2, 2]
    assert data["stage_steps"] == "entry"
    args = (str(path), "--funnel", "sales", "--window", "1w", "--format", "json")
    code, out, _ = run(capsys, *args, "--stage-steps", "evidence")
    assert code == 0
    assert [s["count"] for s in json.loads(out)["steps"]][:3] == [2, 1, 1]


def test_set_aside_rows_go_to_stderr_and_keep_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "messy.csv"
    path.write_text(EVENTS + "d,someday,page_view,social\n,2026-09-01T09:00:00Z,page_view,x\n")
    code, out, err = run(capsys, str(path), "--steps", STEPS)
    assert code == 0
    assert "set aside 2" in err and "bad_timestamp" in err and "null_contact_id" in err
    assert out.startswith("Funnel ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "page_view", "--window", "2 weeks"], "--window: cannot read '2 weeks'"),
        (["--steps", "page_view,,purchase"], "--steps 'page_view,,purchase': step 2 is empty"),
        (["--steps", "page_view", "--by", "chanel"], "Did you mean 'channel'"),
        (["--funnel", "inboud"], "no funnel preset 'inboud'"),
    ],
)
def test_errors_are_one_line_with_exit_2(
    events: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, str(events), *args)
    assert code == 2
    assert err.splitlines()[-1].startswith("funnelkit funnel: error: ")
    assert message in err


def test_steps_or_funnel_is_required(events: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["funnel", str(events)])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_the_installed_command_runs(events: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "funnelkit.cli",
            "funnel",
            str(events),
            "--steps",
            STEPS,
            "--format",
            "json",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["steps"][0]["count"] == 3


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "events.csv"


def test_funnel_reads_stages_by_entry_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    from funnelkit.conversion import funnel
    from funnelkit.definitions import load_funnel
    from funnelkit.events import read_events

    args = [str(SAMPLE), "--funnel", "inbound", "--window", "30d", "--format", "json"]
    code, out, _ = run(capsys, *args)
    assert code == 0
    entry = [s["count"] for s in json.loads(out)["steps"]]
    inbound = load_funnel("inbound")
    expected = funnel(read_events(SAMPLE), inbound, window="30d", stage_steps="entry")
    assert entry == expected.to_polars()["count"].to_list()
    code, out, _ = run(capsys, *args, "--stage-steps", "evidence", "--rules", "clickhouse")
    evidence = [s["count"] for s in json.loads(out)["steps"]]
    assert evidence[0] == entry[0] and evidence[1] > entry[1]  # one page view is not a cold lead
    # one event fills one step: the page view that made a prospect is not also a cold lead's
    code, out, _ = run(capsys, *args, "--stage-steps", "evidence")
    own = [s["count"] for s in json.loads(out)["steps"]]
    assert own[0] == entry[0] and own[1] < evidence[1]
    code, out, _ = run(capsys, *args, "--rules", "clickhouse")
    assert [s["count"] for s in json.loads(out)["steps"]] == entry  # entries: nothing changes


@pytest.mark.parametrize("preset", ["inbound", "sales"])
def test_a_funnel_over_a_definition_counts_what_classify_writes(
    preset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stage means one thing: the funnel's counts are the non-empty ``<stage>_at`` values."""
    out_file = tmp_path / "classified.csv"
    options = ("--funnel", preset)
    assert main(["classify", str(SAMPLE), *options, "--out", str(out_file)]) == 0
    capsys.readouterr()
    classified = pl.read_csv(out_file)
    from funnelkit.definitions import load_funnel

    ats = [f"{stage_id}_at" for stage_id in load_funnel(preset).stage_ids]
    code, out, _ = run(capsys, str(SAMPLE), *options, "--window", "3650d", "--format", "json")
    assert code == 0
    got = [s["count"] for s in json.loads(out)["steps"]]
    assert got == [classified[c].is_not_null().sum() for c in ats]


def test_the_reading_changes_nothing_for_event_steps(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, by_entry, err = run(capsys, str(events), "--steps", STEPS, "--stage-steps", "entry")
    assert code == 0 and "Traceback" not in err
    code, by_evidence, _ = run(capsys, str(events), "--steps", STEPS, "--stage-steps", "evidence")
    assert code == 0
    assert by_entry.splitlines()[1:] == by_evidence.splitlines()[1:]


def test_the_contacts_columns_are_mapped_apart_from_the_events(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--contact-columns maps the contacts table; --columns describes the events alone."""
    people = tmp_path / "people.csv"
    people.write_text("uid,plan\na,pro\nb,free\nc,pro\n")
    args = [str(events), "--steps", STEPS, "--contacts", str(people), "--by", "plan"]
    args += ["--min-size", "0"]
    code, out, err = run(capsys, *args, "--contact-columns", "uid=contact_id", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    counts = {s["value"]: [step["count"] for step in s["steps"]] for s in data["segments"]}
    assert counts == {"pro": [2, 2, 1], "free": [1, 0, 0]}
    code, _, err = run(capsys, *args)  # unmapped: the table has no contact_id
    assert code == 2
    assert "contact_id" in err and "people.csv" in err
    assert "--contact-columns your_name=contact_id" in err  # the contacts' own option
    code, _, err = run(capsys, *args, "--contact-columns", "uid")
    assert code == 2
    assert err.strip().endswith("--contact-columns: 'uid' is not of the form their_name=our_name.")
