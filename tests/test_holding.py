"""A source validated once: held in memory, in funnelkit's cache on disk, or lazily."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import cli, holding
from funnelkit import events as events_module
from funnelkit.conversion import funnel
from funnelkit.errors import DataError, ParameterError, RowError
from funnelkit.events import read_contacts, read_events
from funnelkit.holding import MARK, choose_hold, estimated_bytes
from funnelkit.logs import EventLog
from funnelkit.report import prepare_report
from tests.planted import EVENT_SCHEMA

MESSY = """user_id,ts,event,channel
c1,2026-11-02T09:00:00+01:00,page_view,social
c1,2026-11-02T10:30:00Z,like,social
c2,2026-11-02 11:00:00,form_fill,trade_show
,2026-11-02T12:00:00Z,like,social
c3,not a date,like,social
c2,2026-11-02 11:00:00,form_fill,trade_show
c4,,purchase,referral
c4,1762070400,purchase,referral
c5,2026-11-03T10:00:00Z,page_view,social
"""
COLUMNS = {"user_id": "contact_id", "ts": "occurred_at"}
STEPS = ["page_view", "like"]


def parquet_log(path: Path, contacts: int = 40) -> Path:
    """Write a small Parquet log with typed timestamps and one exact duplicate row."""
    rows = []
    for i in range(contacts):
        rows.append((f"c{i}", datetime(2026, 11, 2, 9, tzinfo=UTC), "page_view"))
        if i % 2:
            rows.append((f"c{i}", datetime(2026, 11, 3, 9, tzinfo=UTC), "like"))
    frame = pl.DataFrame(rows, schema=["contact_id", "occurred_at", "event"], orient="row")
    frame = frame.with_columns(amount=pl.lit(None, pl.Float64))
    pl.concat([frame, frame.head(1)]).write_parquet(path)
    return path


def entry_source(entry: Path) -> str | None:
    """The source a cache entry (a folder holding funnelkit's mark) was written for."""
    mark = entry / MARK
    return json.loads(mark.read_text())["source"] if mark.is_file() else None


def counts(log: EventLog) -> list[int]:
    return [int(c) for c in funnel(log, STEPS, window="7d").table["count"]]


def test_the_three_holds_give_the_same_rows_set_aside_rows_and_summary(tmp_path: Path) -> None:
    csv = tmp_path / "e.csv"
    csv.write_text(MESSY)
    logs = {
        hold: read_events(csv, columns=COLUMNS, hold=hold, cache_dir=tmp_path / "cache")
        for hold in ("memory", "disk", "lazy")
    }
    assert {hold: log.held for hold, log in logs.items()} == {
        "memory": "memory",
        "disk": "disk",
        "lazy": "lazy",
    }
    lazy = logs.pop("lazy")
    for log in logs.values():
        assert_frame_equal(log.collect(), lazy.collect())
        assert_frame_equal(log.set_aside.collect(), lazy.set_aside.collect())
        assert log.summary() == lazy.summary()
    summary = lazy.summary()
    assert summary.rows_read == 9 and summary.rows_kept == 5
    assert summary.event_names == ("form_fill", "like", "page_view", "purchase")


def test_a_log_in_memory_does_not_read_its_source_again(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    log = read_events(path)
    assert log.held == "memory" and not log.source_changed()
    before = counts(log)
    summary = log.summary()
    path.unlink()  # every later analysis reads the validated rows held in memory
    assert log.source_changed()
    assert counts(log) == before == [40, 20]
    assert log.summary() is summary and summary.rows_set_aside == 1
    assert log.set_aside.collect()["reason"].to_list() == ["duplicate"]


def test_the_summary_is_counted_once_in_the_validating_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = read_events(parquet_log(tmp_path / "e.parquet"))
    calls: list[str] = []
    monkeypatch.setattr(EventLog, "count", lambda self: calls.append("count"))
    first = log.summary()
    assert log.summary() is first and calls == []  # counted by read_events, kept since
    lazy = read_events(tmp_path / "e.parquet", hold="lazy")
    monkeypatch.undo()
    assert lazy.summary() is lazy.summary()  # a lazy log counts at the first call only
    assert lazy.summary() == first


def test_a_cached_log_is_read_from_the_cache_not_from_its_source(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    written = read_events(path, hold="disk", cache_dir=cache)
    assert written.held == "disk"
    # Same size and modification time, other bytes: only a read of the source would see it.
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = read_events(path, cache_dir=cache)
    assert again.held == "memory"  # small: read from the cache into memory
    assert_frame_equal(again.collect(), written.collect())
    assert again.summary() == written.summary()
    with pytest.raises(DataError, match="cannot be read"):
        read_events(path, hold="lazy")  # the lazy path does read the source


def test_a_changed_source_is_validated_again_and_its_old_copy_removed(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    first = read_events(path, hold="disk", cache_dir=cache)
    (entry,) = cache.iterdir()
    parquet_log(path, contacts=10)  # rewritten: another size
    assert first.source_changed()
    second = read_events(path, hold="disk", cache_dir=cache)
    assert second.summary().rows_read == 16 and first.summary().rows_read == 61
    assert not second.source_changed()
    (newer,) = (p for p in cache.iterdir() if p != entry)
    assert newer != entry and (newer / MARK).is_file()
    assert first.collect().height == 60  # a log this process holds keeps its copy meanwhile
    assert sorted(cache.iterdir()) == sorted([entry, newer])


def test_a_stale_copy_another_process_wrote_is_removed(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    code = "import sys; from funnelkit import read_events as r; r(sys.argv[1], hold='disk')"
    env = {**os.environ, "FUNNELKIT_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    (old,) = cache.iterdir()
    parquet_log(path, contacts=10)
    read_events(path, hold="disk", cache_dir=cache)
    (new,) = cache.iterdir()
    assert new != old and not old.exists()


def test_the_cache_never_replaces_what_funnelkit_did_not_write(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = cache / "notes.txt"
    mine.write_text("mine")
    read_events(path, hold="disk", cache_dir=cache)
    (entry,) = (p for p in cache.iterdir() if p != mine)
    assert mine.read_text() == "mine" and sorted(p.name for p in entry.iterdir()) == sorted(
        ["events.parquet", "set_aside.parquet", "summary.json", MARK]
    )
    # A folder at an entry's place without funnelkit's mark (or changed since) is refused.
    (entry / MARK).unlink()
    (entry / "events.parquet").write_text("someone else's")
    for hold in ("auto", "disk"):
        with pytest.raises(DataError, match="was not written by funnelkit.*left alone"):
            read_events(path, hold=hold, cache_dir=cache)  # type: ignore[arg-type]
    assert (entry / "events.parquet").read_text() == "someone else's"
    assert read_events(path, hold="lazy", cache_dir=cache).summary().rows_kept == 60


def test_only_the_cache_folder_is_written(tmp_path: Path) -> None:
    source = tmp_path / "data"
    source.mkdir()
    path = parquet_log(source / "e.parquet")
    read_events(path, hold="disk", cache_dir=tmp_path / "cache")
    assert [p.name for p in source.iterdir()] == ["e.parquet"]


def test_hold_is_checked_and_a_frame_has_no_disk_copy() -> None:
    frame = pl.DataFrame({"contact_id": ["a"], "occurred_at": ["2026-11-02"], "event": ["x"]})
    with pytest.raises(ParameterError, match="hold='disc'.*(?i:did you mean) 'disk'"):
        read_events(frame, hold="disc")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="hold='disk' keeps a validated copy of a file"):
        read_events(frame, hold="disk")
    assert read_events(frame).held == "memory"
    assert read_events(frame.lazy()).held == "lazy"  # a plan of the caller's, not sized
    assert read_events(frame.lazy(), hold="memory").held == "memory"


def test_the_rule_of_auto() -> None:
    schema = pl.Schema({"contact_id": pl.String, "occurred_at": pl.Datetime("us", "UTC")})
    assert estimated_bytes(schema, 10) == 10 * (4 + 24 + 8)
    assert choose_hold("auto", estimate=None, lazy_plan=False) == "memory"
    assert choose_hold("auto", estimate=1, lazy_plan=False) == "memory"
    free = holding.available_memory()
    assert free is not None
    too_big = int(free * holding.MEMORY_SHARE) + 10**9
    assert choose_hold("auto", estimate=too_big, lazy_plan=False) == "disk"
    assert choose_hold("memory", estimate=too_big, lazy_plan=False) == "memory"
    assert choose_hold("auto", estimate=1, lazy_plan=True) == "lazy"


def test_the_command_line_warns_about_step_names_without_reading_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    log = read_events(path)
    log.summary()
    path.unlink()  # a pass of its own over the events would fail now
    parser = cli.build_parser()
    args = parser.parse_args(["funnel", str(path), "--steps", "a,b", "--since", "2030-01-01"])
    cli._warn_about_the_data(log, [("step 2", ["lik"])], args)
    err = capsys.readouterr().err
    assert "reads the event 'lik'" in err and "--since 2030-01-01 is after the last event" in err


def test_the_report_validates_once_for_its_check_and_its_kernel(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    cache = Path(os.environ["FUNNELKIT_CACHE_DIR"])
    prepare_report(events=path, funnel="sales", week="2026-W45", out_dir=tmp_path / "reports")
    entries = [p for p in cache.iterdir() if entry_source(p) == str(path)]
    assert len(entries) == 1 and (entries[0] / MARK).is_file()
    assert not (entries[0] / "events.parquet").exists()  # a Parquet file: a receipt, no copy
    # What the kernel then does: read_events of the same file takes its rows by the receipt.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(events_module, "_validate_in_memory", _not_called)
        log = read_events(path)
    assert log.summary().rows_kept == 60 and log.collect().height == 60
    # A CSV file gets a validated copy, which the kernel reads instead of the file.
    csv = tmp_path / "e.csv"
    read_events(path).collect().write_csv(csv)
    prepare_report(events=csv, funnel="sales", week="2026-W45", out_dir=tmp_path / "csv")
    (copy,) = [p for p in cache.iterdir() if entry_source(p) == str(csv)]
    assert (copy / "events.parquet").is_file()
    stat = csv.stat()
    csv.write_bytes(b"\0" * stat.st_size)
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert read_events(csv).collect().height == 60


def test_the_command_line_holds_as_told(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    env = {**os.environ, "FUNNELKIT_CACHE_DIR": str(cache)}
    outputs = {}
    for hold in ("lazy", "disk", "auto"):
        argv = ["funnel", str(path), "--steps", ",".join(STEPS), "--format", "json"]
        done = subprocess.run(
            [sys.executable, "-m", "funnelkit.cli", *argv, "--hold", hold],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs[hold] = json.loads(done.stdout)["steps"]
        assert "set aside 1" in done.stderr
        assert [p.name.startswith("e.parquet-") for p in cache.glob("*")] == (
            [] if hold == "lazy" else [True]
        )
    assert outputs["lazy"] == outputs["disk"] == outputs["auto"]


def test_a_contacts_table_is_validated_once_and_held_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("contact_id,created_at,segment\nc1,2026-11-01,smb\nc1,2026-11-02,smb\n,x,y\n")
    table = read_contacts(path)
    summary = table.summary()
    path.unlink()
    assert table.held == "memory" and table.source_changed()
    assert table.frame.collect()["contact_id"].to_list() == ["c1"]
    assert table.summary() is summary
    assert dict(summary.to_dict()["set_aside_by_reason"]) == {
        "null_contact_id": 1,
        "duplicate_contact": 1,
    }
    lazy = read_contacts(pl.LazyFrame({"contact_id": ["a"]}))
    assert (
        lazy.held == "lazy" and read_contacts(pl.DataFrame({"contact_id": ["a"]})).held == "memory"
    )
    with pytest.raises(ParameterError, match="hold='disk'.*for contacts"):
        read_contacts(pl.DataFrame({"contact_id": ["a"]}), hold="disk")  # type: ignore[arg-type]


def _tree(root: Path, files: dict[str, str]) -> Path:
    """Write a file system tree (``proc``, ``sys/fs/cgroup``) under ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")
    return root


MEMINFO = "MemTotal: 25165824 kB\nMemAvailable: 20971520 kB\n"  # 20 GiB available


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({}, 20 * 2**30, id="no-group-files"),
        pytest.param(
            {
                "proc/self/cgroup": "0::/box\n",
                "sys/fs/cgroup/box/memory.max": str(4 * 2**30),
                "sys/fs/cgroup/box/memory.current": str(2**30),
            },
            3 * 2**30,
            id="v2-limit",
        ),
        pytest.param(
            {
                "proc/self/cgroup": "0::/box\n",
                "sys/fs/cgroup/box/memory.max": "max",
                "sys/fs/cgroup/box/memory.current": str(2**30),
            },
            20 * 2**30,
            id="v2-no-limit",
        ),
        pytest.param(
            {  # a container's own group, seen at the mount's root
                "proc/self/cgroup": "0::/\n",
                "sys/fs/cgroup/memory.max": str(2 * 2**30),
                "sys/fs/cgroup/memory.current": str(3 * 2**30),
            },
            0,
            id="v2-over-its-limit",
        ),
        pytest.param(
            {
                "proc/self/cgroup": "4:memory:/docker/abc\n1:cpu:/\n0::/\n",
                "sys/fs/cgroup/memory/memory.limit_in_bytes": str(6 * 2**30),
                "sys/fs/cgroup/memory/memory.usage_in_bytes": str(2**30),
            },
            5 * 2**30,
            id="v1-limit-at-the-mount",
        ),
        pytest.param(
            {
                "proc/self/cgroup": "4:memory:/box\n",
                "sys/fs/cgroup/memory/box/memory.limit_in_bytes": "9223372036854771712",
                "sys/fs/cgroup/memory/box/memory.usage_in_bytes": str(2**30),
            },
            20 * 2**30,
            id="v1-no-limit",
        ),
        pytest.param(
            {
                "proc/self/cgroup": "0::/box\n",
                "sys/fs/cgroup/box/memory.max": str(64 * 2**30),
                "sys/fs/cgroup/box/memory.current": "0",
            },
            20 * 2**30,
            id="machine-lower-than-group",
        ),
    ],
)
def test_available_memory_is_what_the_memory_group_leaves(
    tmp_path: Path, files: dict[str, str], expected: int
) -> None:
    root = _tree(tmp_path, {"proc/meminfo": MEMINFO, **files})
    assert holding.available_memory(root) == expected


def test_a_group_limit_alone_is_enough(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proc/self/cgroup": "0::/box\n",
            "sys/fs/cgroup/box/memory.max": str(2**30),
            "sys/fs/cgroup/box/memory.current": "0",
        },
    )
    assert holding.available_memory(root) == 2**30  # no meminfo in that tree
    assert holding.available_memory(tmp_path / "nothing") is None


# --- receipts: a Parquet file read into memory, read again unchanged ------------------
_IDS = st.sampled_from(["c1", "c2", " c2", "c3 ", "", None])
_WHEN = st.sampled_from(
    [datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC), None]
)
_NAMES = st.sampled_from(["page_view", "like", " like", "purchase", "", None])
_ROWS = st.lists(
    st.tuples(_IDS, _WHEN, _NAMES, st.sampled_from(["social", "ads", None])),
    min_size=1,
    max_size=30,
)


def messy_parquet(path: Path, rows: list[tuple[Any, ...]], shape: str) -> Path:
    """Write ``rows`` (id, time, event, channel) as Parquet, typed as ``shape`` says."""
    frame = pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")
    if shape == "text times":  # read as text, parsed when validated
        frame = frame.with_columns(pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    elif shape == "categorical names":
        frame = frame.with_columns(pl.col("event").cast(pl.Categorical))
    elif shape == "number ids":
        digits = pl.col("contact_id").str.strip_chars().str.strip_prefix("c")
        number = digits.cast(pl.Int64, strict=False)
        frame = frame.with_columns(number.alias("contact_id"))
    frame.write_parquet(path)
    return path


def same_log(one: EventLog, other: EventLog) -> None:
    assert one.held == other.held == "memory"
    assert_frame_equal(one.collect(), other.collect())
    assert_frame_equal(one.set_aside.collect(), other.set_aside.collect())
    assert one.numbered is not None and other.numbered is not None
    assert_frame_equal(one.numbered.collect(), other.numbered.collect())
    assert one.summary() == other.summary()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_ROWS,
    shape=st.sampled_from(["typed", "text times", "categorical names", "number ids"]),
    keep=st.sampled_from([None, [], ["channel"]]),
)
def test_a_receipt_gives_the_rows_validating_again_gives(
    rows: list[tuple[Any, ...]], shape: str, keep: list[str] | None
) -> None:
    """The second reading of an unchanged file takes its rows by the receipt, not validating."""
    with tempfile.TemporaryDirectory() as folder:
        path = messy_parquet(Path(folder) / "e.parquet", rows, shape)
        cache = Path(folder) / "cache"
        first = read_events(path, cache_dir=cache, keep=keep)
        (receipt,) = cache.iterdir()
        assert sorted(p.name for p in receipt.iterdir()) == sorted(
            ["set_aside.parquet", "summary.json", MARK]
        )
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(events_module, "_validate_in_memory", _not_called)
            again = read_events(path, cache_dir=cache, keep=keep)
        same_log(again, first)
        fresh = read_events(path, cache_dir=Path(folder) / "other", keep=keep)
        same_log(again, fresh)


def _not_called(*args: object, **kwargs: object) -> Any:
    msg = "validated again despite the receipt"
    raise AssertionError(msg)


def test_a_rewritten_file_of_the_same_stamp_is_validated_again(tmp_path: Path) -> None:
    """Same size and modification time, other rows: the footer's fingerprint tells them apart."""
    cache = tmp_path / "cache"
    one, two = datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC)
    path = messy_parquet(tmp_path / "e.parquet", [("c1", one, "like", "ads")] * 2, "typed")
    first = read_events(path, cache_dir=cache)
    assert first.summary().rows_kept == 1  # the second row repeats the first
    stat = path.stat()
    messy_parquet(path, [("c2", two, "like", "ads")] * 2, "typed")
    assert path.stat().st_size == stat.st_size  # the same stamp, other rows
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = read_events(path, cache_dir=cache)
    assert again.collect().get_column("contact_id").to_list() == ["c2"]
    assert again.summary().first_at == two  # counted from the file as it is now
    (receipt,) = cache.iterdir()  # replaced by the receipt of the file as it is now
    third = read_events(path, cache_dir=cache)
    assert third.collect().get_column("contact_id").to_list() == ["c2"]
    assert third.summary() == again.summary()


def test_receipts_are_for_one_parquet_file_held_in_memory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    csv = tmp_path / "e.csv"
    csv.write_text(MESSY)
    read_events(csv, columns=COLUMNS, cache_dir=cache)
    folder = tmp_path / "parts"
    folder.mkdir()
    parquet_log(folder / "a.parquet")
    read_events(folder, cache_dir=cache)
    named = tmp_path / "named.parquet"  # a folder named like a file (a dataset's folder)
    named.mkdir()
    parquet_log(named / "part-0.parquet")
    assert read_events(named, cache_dir=cache).summary().rows_kept == 60
    read_events(parquet_log(tmp_path / "e.parquet"), hold="lazy", cache_dir=cache)
    assert not cache.exists() or not list(cache.iterdir())


def test_a_receipt_never_stops_a_reading(tmp_path: Path) -> None:
    """A cache folder that cannot be written, or a stranger's folder at the receipt's place."""
    path = parquet_log(tmp_path / "e.parquet")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    assert read_events(path, cache_dir=blocked).summary().rows_kept == 60
    cache = tmp_path / "cache"
    read_events(path, cache_dir=cache)
    (receipt,) = cache.iterdir()
    (receipt / MARK).unlink()  # no longer funnelkit's: left alone, the file validated again
    (receipt / "notes.txt").write_text("mine")
    assert read_events(path, cache_dir=cache).summary().rows_kept == 60
    assert (receipt / "notes.txt").read_text() == "mine"


def test_strict_refuses_a_file_read_by_its_receipt_as_when_validated(tmp_path: Path) -> None:
    path = parquet_log(tmp_path / "e.parquet")  # one duplicate row
    cache = tmp_path / "cache"
    with pytest.raises(RowError) as first:
        read_events(path, cache_dir=cache, strict=True)
    assert len(list(cache.iterdir())) == 1
    with pytest.raises(RowError) as again:
        read_events(path, cache_dir=cache, strict=True)
    assert str(again.value) == str(first.value)


def test_a_receipt_never_removes_a_copy_another_log_may_read(tmp_path: Path) -> None:
    """Another process's copy (other options) stays; an older receipt of the file goes."""
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    code = (
        "import sys; from funnelkit import read_events as r; "
        "r(sys.argv[1], hold='disk', timezone='Europe/Paris')"
    )
    env = {**os.environ, "FUNNELKIT_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    (copy,) = cache.iterdir()
    code = "import sys; from funnelkit import read_events as r; r(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    receipt = next(p for p in cache.iterdir() if p != copy)
    assert copy.is_dir() and not (receipt / "events.parquet").exists()
    parquet_log(path, contacts=10)  # changed: the next reading's receipt replaces the older one
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    assert copy.is_dir() and not receipt.exists() and len(list(cache.iterdir())) == 2


def test_a_damaged_receipt_is_replaced_not_raised(tmp_path: Path) -> None:
    """A receipt whose files were damaged (their sizes kept) is validated again and rewritten."""
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    first = read_events(path, cache_dir=cache)
    (receipt,) = cache.iterdir()
    for name in ("summary.json", "set_aside.parquet"):
        size = (receipt / name).stat().st_size
        (receipt / name).write_bytes(b"x" * size)
    again = read_events(path, cache_dir=cache)
    assert again.summary() == first.summary()
    assert_frame_equal(again.set_aside.collect(), first.set_aside.collect())
    with pytest.MonkeyPatch.context() as mp:  # the new receipt is read
        mp.setattr(events_module, "_validate_in_memory", _not_called)
        assert read_events(path, cache_dir=cache).summary() == first.summary()


def test_cache_entries_hold_raw_ids_so_only_this_account_reads_them(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old = os.umask(0o022)  # the usual umask: files readable by everyone
    try:
        read_events(parquet_log(tmp_path / "e.parquet"), hold="disk", cache_dir=cache)
        read_events(parquet_log(tmp_path / "r.parquet"), cache_dir=cache)  # a receipt
    finally:
        os.umask(old)
    assert cache.stat().st_mode & 0o777 == 0o700  # funnelkit made it
    entries = sorted(cache.iterdir())
    assert len(entries) == 2 and all(e.stat().st_mode & 0o777 == 0o700 for e in entries)
    # an entry written before entries were private is made so when read again
    entries[0].chmod(0o755)
    read_events(tmp_path / "e.parquet", hold="disk", cache_dir=cache)
    assert entries[0].stat().st_mode & 0o777 == 0o700
    # a cache folder the user made keeps its mode
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    read_events(tmp_path / "e.parquet", hold="disk", cache_dir=mine)
    assert mine.stat().st_mode & 0o777 == 0o755
    assert all(e.stat().st_mode & 0o777 == 0o700 for e in mine.iterdir())


def test_a_copy_older_versions_kept_of_a_file_without_rows_is_refused_too(
    tmp_path: Path,
) -> None:
    from funnelkit.errors import EmptyInputError
    from funnelkit.logs import ROW
    from funnelkit.sources import source_stamp

    path = tmp_path / "e.parquet"
    pl.DataFrame(schema=EVENT_SCHEMA).write_parquet(path)
    cache = tmp_path / "cache"
    options = {
        "columns": {},
        "timezone": "UTC",
        "timestamp_format": None,
        "known_events": None,
        "dedupe": True,
        "separator": None,
        "encoding": None,
    }
    kept = pl.DataFrame(schema={ROW: pl.UInt32, **EVENT_SCHEMA})
    aside = pl.DataFrame(
        schema={"row": pl.Int64, "reason": pl.String, "contact_id": pl.String,
                "occurred_at": pl.String, "event": pl.String}
    )  # fmt: skip
    stamp = source_stamp(path)
    events_module._write_cache(None, kept, aside, cache, path, stamp, options)
    assert holding.find_entry(cache, str(path), stamp, options) is not None  # served before
    for hold in ("auto", "memory", "disk"):
        with pytest.raises(EmptyInputError, match="column names but no rows"):
            read_events(path, hold=hold, cache_dir=cache)


def test_another_accounts_entry_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = parquet_log(tmp_path / "e.parquet")
    cache = tmp_path / "cache"
    read_events(path, hold="disk", cache_dir=cache)
    (entry,) = cache.iterdir()
    # as another account sees a 0700 folder (root reads through any mode, so simulated)
    monkeypatch.setattr(holding, "_mark_of", lambda entry: None)
    monkeypatch.setattr(holding.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match="another account's validated copy"):
        read_events(path, hold="disk", cache_dir=cache)
