"""``funnelkit paths``: the real command line on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from funnelkit.cli import main

EVENTS = """contact_id,occurred_at,event
a,2026-09-01T09:00:00Z,page_view
a,2026-09-02T09:00:00Z,newsletter_signup
a,2026-09-02T10:00:00Z,=HYPERLINK("x")
a,2026-09-03T09:00:00Z,purchase
b,2026-09-01T09:00:00Z,page_view
b,2026-09-02T09:00:00Z,newsletter_signup
b,2026-09-04T09:00:00Z,webinar
c,2026-09-01T09:00:00Z,page_view
"""
STEPS = "page_view,newsletter_signup,purchase"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["paths", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_paths_prints_the_groups_and_the_paths(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, str(events), "--steps", STEPS, "--window", "7d", "--min-size", "0",
        "--until", "2026-10-01",
    )  # fmt: skip
    assert code == 0
    assert "After newsletter_signup (step 2)" in out  # the biggest leak
    assert "went on to purchase: 1 (50.0%)" in out
    assert "stopped (window closed): 1 (50.0%)" in out
    assert "webinar" in out


def test_csv_makes_formulas_inert_and_json_is_the_dict(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [str(events), "--steps", STEPS, "--step", "2", "--min-size", "0"]
    code, out, _ = run(capsys, *base, "--format", "csv")
    assert code == 0
    table = pl.read_csv(out.encode())
    assert '\'=HYPERLINK("x")' in table["path"].to_list()
    code, out, _ = run(capsys, *base, "--format", "json")
    data = json.loads(out)
    assert (data["step"], data["to_step"]) == (2, "purchase")
    assert {p["path"] for p in data["paths"]} == {'=HYPERLINK("x")', "webinar"}


def test_a_step_without_a_next_one_is_one_line_and_exit_2(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, str(events), "--steps", STEPS, "--step", "purchase")
    assert code == 2
    assert "funnelkit paths: error: --step: 'purchase' has no next step" in err


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--step", "purchse"], "--step: 'purchse' is not a step of this funnel"),
        (["--min-size", "-1"], "--min-size: expected a whole number >= 0, got -1"),
        (["--depth", "0"], "--depth: expected a whole number from 1 to 5, got 0"),
    ],
)
def test_an_error_names_the_option_the_user_typed(
    events: Path, capsys: pytest.CaptureFixture[str], option: list[str], expected: str
) -> None:
    code, _, err = run(capsys, str(events), "--steps", STEPS, *option)
    assert code == 2
    assert f"funnelkit paths: error: {expected}" in err


def test_a_funnel_and_its_stage_ids_work(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, str(SAMPLE / "events.csv"), "--funnel", "inbound", "--step", "warm_lead",
        "--contacts", str(SAMPLE / "contacts.csv"),
    )  # fmt: skip
    assert code == 0
    assert "After Warm lead (step 3): who went on to Client" in out
    assert "went on to Client: 169" in out


@pytest.mark.slow
def test_the_installed_command_runs(events: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "paths", str(events), "--steps", STEPS,
         "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["from_step"] == "newsletter_signup"
