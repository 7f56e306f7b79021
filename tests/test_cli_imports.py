"""What the command line loads: each sub-command imports what it runs, nothing more.

Checked in a fresh interpreter each time (a subprocess): in this one, other
tests have imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Heavy packages only some sub-commands or the notebooks need.
HEAVY = ("plotly", "duckdb", "pyspark", "ipywidgets", "papermill", "narwhals", "polars")


def _loaded(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return which of ``HEAVY`` it imported."""
    report = f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    probe = f"{code}\nimport json, sys\n{report}"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_command_line_loads_no_engine_figure_or_widget() -> None:
    loaded = _loaded("import funnelkit.cli")
    assert not {"plotly", "duckdb", "pyspark", "ipywidgets"} & set(loaded), loaded


@pytest.mark.parametrize("argv", [["--version"], ["funnel", "--help"], ["report", "--help"]])
def test_version_and_help_load_no_data_library(argv: list[str]) -> None:
    code = (
        "from funnelkit.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
    )
    assert _loaded(code) == []


def test_the_version_is_printed_by_the_real_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout.strip() == "funnelkit 0.1.0"


def test_importing_funnelkit_loads_no_data_library_until_a_name_is_used() -> None:
    assert _loaded("import funnelkit") == []
    loaded = _loaded("import funnelkit\nfunnelkit.funnel")
    assert "polars" in loaded and "plotly" not in loaded and "duckdb" not in loaded


def test_the_top_level_drivers_stays_the_function_after_its_module_is_imported() -> None:
    code = (
        "import funnelkit\n"
        "import funnelkit.weekly\n"  # imports the funnelkit.drivers module first
        "assert callable(funnelkit.drivers), funnelkit.drivers\n"
        "from funnelkit import drivers\n"
        "assert callable(drivers)\n"
    )
    _loaded(code)


def test_an_engine_frame_finds_its_implementation_without_importing_the_engines_first() -> None:
    pytest.importorskip("duckdb")
    code = (
        "import duckdb, datetime as dt\n"
        "import polars as pl\n"
        "from funnelkit.stages import classify\n"
        "from funnelkit.definitions import load_funnel\n"
        "day = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)\n"
        "log = pl.DataFrame({'contact_id': ['a', 'a'], 'occurred_at': [day, day],\n"
        "    'event': ['page_view', 'meeting'], 'amount': [None, None]},\n"
        "    schema_overrides={'amount': pl.Float64})\n"
        "rel = duckdb.connect().from_arrow(log.to_arrow())\n"
        "out = classify(rel, load_funnel('sales')).collect()\n"
        "assert out['stage'].cast(pl.String).to_list() == ['qualified_prospect'], out\n"
    )
    assert "duckdb" in _loaded(code)


def test_the_submodules_stay_reachable_from_the_package_as_before() -> None:
    code = (
        "import funnelkit as fk\n"
        "assert callable(fk.engines.open_source) and callable(fk.stages.classify)\n"
        "assert not hasattr(fk, 'no_such_name')\n"
    )
    assert "duckdb" not in _loaded(code)


def test_the_funnel_command_on_a_parquet_file_loads_no_numpy(tmp_path: Path) -> None:
    import datetime as dt

    import polars as pl

    day = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {"contact_id": ["a", "a"], "occurred_at": [day, day], "event": ["page_view", "like"]}
    ).write_parquet(path)
    code = (
        "import sys\n"
        "from funnelkit.cli import main\n"
        f"assert main(['funnel', {str(path)!r}, '--steps', 'page_view,like',"
        " '--window', '7d', '--format', 'json']) == 0\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "FUNNELKIT_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert done.stdout.strip().splitlines()[-1] == "False"
