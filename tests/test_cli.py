"""The command line: shared reading options and the validate command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from funnelkit.cli import main

CSV = """user,ts,event
c1,2026-11-02T09:00:00Z,page_view
c1,2026-11-02T09:00:00Z,page_view
,2026-11-02T10:00:00Z,like
c2,someday,like
"""


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    return path


def test_validate_reports_set_aside_rows_on_stderr(
    messy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["validate", str(messy), "--columns", "user=contact_id,ts=occurred_at"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "read 4 rows, kept 1, set aside 3" in err
    assert "duplicate" in err and "bad_timestamp" in err and "null_contact_id" in err
    assert "3 row(s) set aside" in out


def test_validate_clean_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.csv"
    path.write_text("contact_id,occurred_at,event\nc1,2026-11-02,like\n")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "none set aside" in err and "all rows usable" in out


def test_validate_writes_set_aside_rows(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "aside.parquet"
    main(["validate", str(messy), "--columns", "user=contact_id,ts=occurred_at", "--out", str(out)])
    df = pl.read_parquet(out)
    assert sorted(df["reason"].to_list()) == ["bad_timestamp", "duplicate", "null_contact_id"]


def test_errors_are_one_line_on_stderr_with_exit_2(
    messy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(messy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("funnelkit validate: error: ")
    assert "'contact_id'" in err and "--columns" in err
    assert "Traceback" not in err


def test_strict_mode_fails_naming_rows(messy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(messy), "--columns", "user=contact_id,ts=occurred_at", "--strict"])
    assert code == 2
    assert "row 4 ('someday')" in capsys.readouterr().err


def test_bad_mapping_option(messy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(messy), "--columns", "user"]) == 2
    assert "--columns: 'user'" in capsys.readouterr().err


def test_console_script_runs_as_a_real_process(messy: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "validate", str(messy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
