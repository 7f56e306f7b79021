"""The report's output folder: what the kit may replace, atomic weeks, clean-up, odd input.

One real report is rendered for the module, into a folder prepared as an
earlier funnelkit and killed runs would have left it; the folder tests copy
that render around.  Parameters are refused before any kernel starts, so
those tests stop ``_execute`` from ever running.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import funnelkit.report as report_module
import funnelkit.report_folder as report_folder
from funnelkit.cli import main
from funnelkit.errors import ReportError
from funnelkit.privacy import KEY_ENV
from funnelkit.report import (
    FAILED_DIR,
    KEEP_FAILED,
    ROOT_MANIFEST,
    WEEK_FILES,
    WEEK_MANIFEST,
    WORK_MARKER,
    tidy_out_dir,
)
from tests.conftest import digest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "data" / "sample" / "events.csv"
CONTACTS = ROOT / "data" / "sample" / "contacts.csv"
WEEK = "2026-W47"  # the sample's last complete week
KEY = "report tests: a pseudonymisation key that never leaves the machine"
OLD_INDEX = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
    "<title>funnelkit weekly reports</title></head><body>an earlier index</body></html>\n"
)

FAILED_STAMPS = [f"202611{day:02d}T120000.000000Z" for day in range(1, 8)]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def _cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``funnelkit report`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "report", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, KEY_ENV: KEY, **(env or {})},
        cwd=ROOT,
        timeout=600,
        check=False,
    )


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("funnelkit report: error:")]


def _dead_pid() -> int:
    """Return the id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _work_folder(folder: Path, marker: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "report.ipynb").write_text("{}")
    if marker:
        (folder / WORK_MARKER).write_text("{}")
    return folder


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Render the sample's last week once, over what an earlier funnelkit and dead runs left."""
    out = tmp_path_factory.mktemp("reports")
    old_week = out / WEEK
    old_week.mkdir()
    for name in WEEK_FILES:
        (old_week / name).write_text(f"written by an earlier funnelkit: {name}")
    (out / "index.html").write_text(OLD_INDEX)
    dead = _dead_pid()
    _work_folder(out / f".tmp-2026-W46-{dead}-abcd1234")  # a killed run's render
    _work_folder(out / f".tmp-2026-W46-{dead}-mine", marker=False)  # not the kit's
    for stamp in FAILED_STAMPS:
        _work_folder(out / FAILED_DIR / f"2026-W46-{stamp}")
    _work_folder(out / FAILED_DIR / "2026-W01-20200101T000000.000000Z", marker=False)
    done = _cli("--events", EVENTS, "--contacts", CONTACTS, "--out", out, "--no-progress")
    return out, done


@pytest.fixture
def copied(rendered: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> Path:
    """A copy of the rendered folder (its week and index, with their manifests)."""
    out = tmp_path / "reports"
    out.mkdir()
    shutil.copytree(rendered[0] / WEEK, out / WEEK)
    for name in ("index.html", ROOT_MANIFEST):
        shutil.copy(rendered[0] / name, out / name)
    return out


def _no_kernel(*args: object) -> None:
    msg = "a kernel was started"
    raise AssertionError(msg)


# --- what the kit writes and adopts -------------------------------------------
@pytest.mark.slow
def test_a_week_and_index_of_an_earlier_funnelkit_are_adopted_and_replaced(
    rendered: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, done = rendered
    assert done.returncode == 0, done.stderr
    assert json.loads((out / WEEK / "metrics.json").read_text())["week"] == WEEK
    assert "an earlier index" not in (out / "index.html").read_text()
    assert f"{WEEK}/report.html" in (out / "index.html").read_text()


@pytest.mark.slow
def test_the_kit_records_every_file_it_wrote(
    rendered: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = rendered
    manifest = json.loads((out / WEEK / WEEK_MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(WEEK_FILES)
    for name, recorded in manifest["files"].items():
        data = (out / WEEK / name).read_bytes()
        assert recorded == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    root = json.loads((out / ROOT_MANIFEST).read_text())
    assert root["weeks"] == [WEEK]
    assert root["index"]["sha256"] == hashlib.sha256((out / "index.html").read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_next_run_clears_dead_runs_and_old_failures_but_only_the_kits(
    rendered: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = rendered
    leftovers = sorted(p.name for p in out.glob(".tmp-*"))
    assert len(leftovers) == 1 and leftovers[0].endswith("-mine")  # no marker: not touched
    failed = sorted(p.name for p in (out / FAILED_DIR).iterdir())
    kept = [f"2026-W46-{stamp}" for stamp in FAILED_STAMPS[-KEEP_FAILED:]]
    assert failed == sorted(["2026-W01-20200101T000000.000000Z", *kept])


def test_a_live_runs_folder_is_left_alone(tmp_path: Path) -> None:
    live = _work_folder(tmp_path / f".tmp-{WEEK}-{os.getpid()}-abcd1234")
    tidy_out_dir(tmp_path)
    assert live.is_dir()


# --- refusing to replace what the kit did not write --------------------------
def _add_notes(out: Path) -> Path:
    (out / WEEK / "notes.txt").write_text("my notes")
    return out / WEEK / "notes.txt"


def _edit_report(out: Path) -> Path:
    (out / WEEK / "report.html").write_text("my own edit")
    return out / WEEK / "report.html"


def _own_index(out: Path) -> Path:
    (out / "index.html").write_text("<html><title>My team's home page</title></html>")
    return out / "index.html"


def _own_index_no_manifest(out: Path) -> Path:
    (out / ROOT_MANIFEST).unlink()
    return _own_index(out)


def _own_folder(out: Path) -> Path:
    shutil.rmtree(out / WEEK)
    (out / WEEK).mkdir()
    (out / WEEK / "report.html").write_text("a page of mine")
    (out / WEEK / "photo.png").write_bytes(b"\x89PNG")
    return out / WEEK / "photo.png"


def _week_is_a_file(out: Path) -> Path:
    shutil.rmtree(out / WEEK)
    (out / WEEK).write_text("a file named like a week")
    return out / WEEK


def _week_is_a_link(out: Path) -> Path:
    elsewhere = out.parent / "kept_elsewhere"
    (out / WEEK).rename(elsewhere)
    (out / WEEK).symlink_to(elsewhere, target_is_directory=True)
    return out / WEEK


def _report_is_a_link(out: Path) -> Path:
    (out / WEEK / WEEK_MANIFEST).unlink()  # as an earlier funnelkit left it, to be adopted
    mine = out.parent / "my_page.html"
    mine.write_text("a page of mine")
    (out / WEEK / "report.html").unlink()
    (out / WEEK / "report.html").symlink_to(mine)
    return out / WEEK / "report.html"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_add_notes, r"notes\.txt was not written by funnelkit"),
        (_edit_report, r"report\.html was changed since funnelkit wrote it"),
        (_own_index, r"index\.html was changed since funnelkit wrote it"),
        (_own_index_no_manifest, r"index\.html was not written by funnelkit"),
        (_own_folder, r"photo\.png was not written by funnelkit"),
        (_week_is_a_file, r"is a file, not a week folder funnelkit wrote"),
        (_week_is_a_link, r"is a symbolic link, not a week folder funnelkit wrote"),
        (_report_is_a_link, r"report\.html was not written by funnelkit"),
    ],
)
def test_files_the_kit_did_not_write_are_never_replaced(
    copied: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[Path], Path],
    message: str,
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    path = change(copied)
    before = digest(copied)
    code = main(["report", "--events", str(EVENTS), "--week", WEEK, "--out", str(copied)])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = _errors(err)
    assert str(path) in line
    assert re.search(message, line), line
    assert "move" in line and "choose another --out" in line
    assert digest(copied) == before


@pytest.mark.slow
def test_the_command_refuses_the_users_index_in_one_line(copied: Path) -> None:
    _own_index(copied)
    done = _cli("--events", EVENTS, "--week", WEEK, "--out", copied)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = _errors(done.stderr)
    assert f"{copied / 'index.html'} was changed since funnelkit wrote it" in line
    assert "My team's home page" in (copied / "index.html").read_text()


# --- replacing a week atomically ---------------------------------------------
KILLED = """
import os, signal, sys, tempfile
from pathlib import Path
import funnelkit.report_folder as report

out, step, exchange = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "yes"
report._use_exchange = exchange

def kill(done):
    if done == step:
        os.kill(os.getpid(), signal.SIGKILL)

report._after_step = kill
tmp = Path(tempfile.mkdtemp(prefix=f".tmp-2026-W47-{os.getpid()}-", dir=out))
for name in ("report.ipynb", "report.html", "metrics.json"):
    (tmp / name).write_text("new " + name)
report.write_week_manifest(tmp, "2026-W47")
report.move_into_place(tmp, out / "2026-W47")
"""


@pytest.mark.parametrize(
    ("step", "exchange"),
    [
        pytest.param("exchanged", "yes", id="renameat2 exchange, killed before removing the old"),
        pytest.param("set aside", "no", id="two renames, killed between them"),
    ],
)
def test_a_run_killed_while_replacing_a_week_never_loses_it(
    tmp_path: Path, step: str, exchange: str
) -> None:
    if exchange == "yes" and not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux only")
    week = tmp_path / WEEK
    week.mkdir()
    for name in WEEK_FILES:
        (week / name).write_text(f"old {name}")
    report_folder.write_week_manifest(week, WEEK)
    before = digest(week)

    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path), step, exchange],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if exchange == "yes":  # one step: the new week is in place, the old one at .tmp-*
        assert (week / "report.html").read_text() == "new report.html"
        (left,) = tmp_path.glob(".tmp-*")
    else:  # between the renames: the week is missing, set aside as .old-*
        assert not week.exists()
        (left,) = tmp_path.glob(".old-*")
    assert digest(left) == before

    lines: list[str] = []
    tidy_out_dir(tmp_path, lines.append)  # what the next run does first
    assert sorted(p.name for p in tmp_path.iterdir()) == [WEEK]
    if exchange == "yes":
        assert (week / "report.html").read_text() == "new report.html"
        assert lines == []
    else:
        assert digest(week) == before
        assert lines == [f"{WEEK}: put back the report a killed run had set aside ({left.name})"]


# --- odd input: one line, exit 2, before any kernel --------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "0000-W01"], r"--week: year 0000 is out of range; .* 0002 to 9998"),
        (["--week", "9999-W52"], r"--week: year 9999 is out of range"),
        (["--week", "2026-W60"], r"--week: 2026 has 53 ISO weeks, there is no week 60"),
        (
            ["--week", "0002-W02", "-p", "weeks_of_history", "260"],
            r"--week: 0002-W02 with 260 weeks of history .* runs outside the dates",
        ),
        (
            ["--from", "9998-W50", "--to", "9998-W52", "-p", "window_days", "3650"],
            r"--from/--to: 9998-W50 with 12 weeks of history and a 3650-day window runs outside",
        ),
        (["-p", "window_days", "1000000"], r"-p window_days: 1,000,000 days is more than ten"),
    ],
)
def test_odd_parameters_fail_in_one_line_before_any_kernel(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    out = tmp_path / "reports"
    assert main(["report", "--events", str(EVENTS), "--out", str(out), *args]) == 2
    (line,) = _errors(capsys.readouterr().err)
    assert re.search(message, line), line
    assert not out.exists()


def test_a_short_key_is_refused_before_the_events_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    monkeypatch.setenv(KEY_ENV, "short")
    assert main(["report", "--events", str(EVENTS), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == _errors(err)  # nothing read: the error is the only line
    assert f"{KEY_ENV} holds 5 character(s)" in err


def test_out_naming_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reports.html"
    path.write_text("not a folder")
    done = _cli("--events", EVENTS, "--out", path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert _errors(done.stderr) == [
        f"funnelkit report: error: --out: {path} is a file, not a folder; give the folder to "
        "write the reports in."
    ]
    assert path.read_text() == "not a folder"


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount small tmpfs file systems (root only); unmounted at the end."""
    points: list[Path] = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        point = tmp_path / f"mount{len(points)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", str(point)], check=False)


def test_out_on_a_read_only_file_system_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mounted: Callable[[str], Path],
) -> None:
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    point = mounted("ro,size=64k")
    assert main(["report", "--events", str(EVENTS), "--out", str(point / "reports")]) == 2
    (line,) = _errors(capsys.readouterr().err)
    assert line.endswith(f"--out: {point} is on a read-only file system; choose another --out.")


def test_out_in_a_folder_without_write_permission_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes whatever the permission bits say (see the read-only mount test)")
    monkeypatch.setattr(report_module, "_execute", _no_kernel)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        assert main(["report", "--events", str(EVENTS), "--out", str(locked / "r")]) == 2
    finally:
        locked.chmod(0o755)
    (line,) = _errors(capsys.readouterr().err)
    assert line.endswith(f"--out: {locked} is not writable by you; choose another --out.")


@pytest.mark.slow
def test_a_full_disk_is_reported_as_such_and_keeps_the_previous_week(
    mounted: Callable[[str], Path],
) -> None:
    out = mounted("size=64k") / "reports"
    (out / WEEK).mkdir(parents=True)
    for name in WEEK_FILES:
        (out / WEEK / name).write_text(f"last week's {name}")
    before = digest(out / WEEK)
    done = _cli("--events", EVENTS, "--week", WEEK, "--out", out)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = _errors(done.stderr)
    assert f"week {WEEK}: --out: cannot write {out}: No space left on device (ENOSPC)" in line
    assert "index.html" not in line  # the index error does not hide the real one
    assert "previous report there is unchanged" in line
    assert digest(out / WEEK) == before


_WRITE_INDEX_LOOP = """
import sys
from funnelkit.report_folder import write_index
failures = []
for _ in range(int(sys.argv[2])):
    try:
        write_index(sys.argv[1])
    except Exception as exc:
        failures.append(repr(exc))
print(len(failures), failures[:1])
"""


def test_runs_sharing_a_folder_write_the_index_in_turn(tmp_path: Path) -> None:
    # Two runs writing the index at once used to read each other's half-written index
    # as "changed since funnelkit wrote it" (most of 300 writes failed in each).
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITE_INDEX_LOOP, str(tmp_path), "150"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0].strip() for run in runs]
    assert outputs == ["0 []", "0 []"]
    assert (tmp_path / report_folder.LOCK_FILE).is_file()
    report_folder.check_index(tmp_path)  # the index and its manifest agree


def test_a_run_waits_for_the_folders_lock_and_then_says_who_holds_it(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from funnelkit.report_folder import folder_lock\n"
            "with folder_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(30)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(ReportError, match=r"another funnelkit report run has held .* over 0 s"),
            report_folder.folder_lock(tmp_path, wait=0.2),
        ):
            pass
    finally:
        holder.kill()
        holder.communicate()
    with report_folder.folder_lock(tmp_path, wait=5):  # released when its holder died
        pass


def test_the_lock_file_is_never_a_link_to_a_users_file(tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text("notes", encoding="utf-8")
    (tmp_path / report_folder.LOCK_FILE).symlink_to(mine)
    with pytest.raises(ReportError, match=re.escape(report_folder.LOCK_FILE)):
        report_folder.write_index(tmp_path)
    assert mine.read_text(encoding="utf-8") == "notes"
    assert not (tmp_path / report_folder.INDEX_FILE).exists()
