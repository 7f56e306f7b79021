"""The ``funnelkit drivers`` command, run as a real process: table, CSV, JSON and bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.planted import HELPS, HURTS, STEPS, planted_log


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("drivers")
    events, contacts = planted_log()
    events.write_csv(folder / "events.csv")
    contacts.write_csv(folder / "contacts.csv")
    return folder / "events.csv", folder / "contacts.csv"


def drivers_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "drivers", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_json_lists_the_planted_drivers(files: tuple[Path, Path]) -> None:
    events, contacts = files
    done = drivers_cli(
        str(events), "--steps", ",".join(STEPS), "--window", "14d",
        "--contacts", str(contacts), "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["step"], data["from_step"], data["to_step"]) == (3, "signup", "purchase")
    rows = data["drivers"]
    assert {"kind", "name", "value", "converted", "dropped", "odds_ratio", "ci_low", "ci_high",
            "p_value", "q_value"} <= set(rows[0])  # fmt: skip
    found = {(r["kind"], r["name"], r["value"]) for r in rows if r["q_value"] is not None
             and r["q_value"] < 0.05}  # fmt: skip
    assert found == HELPS | HURTS
    assert {r["kind"] for r in rows} == {"event", "property"}
    assert all(r["value"] is None for r in rows if r["kind"] == "event")
    assert "email" not in {r["name"] for r in rows}
    assert "read 2" in done.stderr  # the log is read, and said so, once
    assert done.stderr.count("events.csv: read") == 1


def test_table_prints_one_sentence_per_signal(files: tuple[Path, Path]) -> None:
    events, _ = files
    done = drivers_cli(str(events), "--steps", ",".join(STEPS), "--window", "14d", "--step", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Why contacts drop at step 3: signup → purchase (")
    assert any(line.split()[:4] == ["helps", "contacts", "who", "did"] for line in lines)
    assert any("contacts who did complaint" in line and "hurts" in line for line in lines)


def test_the_step_may_be_named(files: tuple[Path, Path]) -> None:
    events, _ = files
    named = drivers_cli(
        str(events), "--steps", ",".join(STEPS), "--window", "14d", "--step", "purchase"
    )
    assert named.returncode == 0, named.stderr
    assert named.stdout.startswith("Why contacts drop at step 3: signup → purchase (")
    typo = drivers_cli(str(events), "--steps", ",".join(STEPS), "--step", "purchse")
    assert typo.returncode == 2 and "Did you mean 'purchase'?" in typo.stderr


def test_csv_has_one_row_per_signal(files: tuple[Path, Path]) -> None:
    events, contacts = files
    done = drivers_cli(
        str(events), "--steps", ",".join(STEPS), "--contacts", str(contacts), "--format", "csv",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pl.read_csv(io.StringIO(done.stdout))
    assert table.columns[:5] == ["kind", "source", "name", "value", "converted"]
    webinar = table.filter(pl.col("name") == "webinar").row(0, named=True)
    assert webinar["verdict"] == "helps" and webinar["odds_ratio"] > 2


def test_a_bad_step_is_one_readable_message(files: tuple[Path, Path]) -> None:
    events, _ = files
    done = drivers_cli(str(events), "--steps", ",".join(STEPS), "--step", "7")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "funnelkit drivers: error: --step 7: give a step from 2 to 3 (the step to reach)"
    ]
    assert done.stdout == ""


def test_a_missing_file_is_one_readable_message(tmp_path: Path) -> None:
    done = drivers_cli(str(tmp_path / "nowhere.csv"), "--steps", "visit,signup")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("funnelkit drivers: error: ")
    assert "nowhere.csv" in lines[0]
    assert "Traceback" not in done.stderr


def test_steps_are_required_and_a_bad_window_is_refused(files: tuple[Path, Path]) -> None:
    events, _ = files
    missing = drivers_cli(str(events))
    assert missing.returncode == 2 and "one of the arguments --steps --funnel" in missing.stderr
    window = drivers_cli(str(events), "--steps", ",".join(STEPS), "--window", "soon")
    assert window.returncode == 2
    assert window.stderr.strip().splitlines()[-1].startswith("funnelkit drivers: error: --window")
