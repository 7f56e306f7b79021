"""Random bytes and random CSV shapes: reading gives a log or one clear error, quickly."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelkit.errors import FunnelkitError
from funnelkit.events import EventLog, read_events

pytestmark = pytest.mark.slow

SECONDS = 20.0  # per file of at most a few hundred kilobytes, on a busy machine
PEAK_GIB = 2.0


def outcome(path: Path, **options: object) -> str:
    """Read ``path`` as the CLI does; return ``"log"`` or the error's class name.

    Anything but a usable log or a one-line :class:`FunnelkitError` fails.
    """
    start = time.perf_counter()
    try:
        log = read_events(path, **options)  # type: ignore[arg-type]
        summary = log.summary()
        log.collect()
        log.set_aside.collect()
        str(summary)
    except FunnelkitError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return type(exc).__name__
    finally:
        assert time.perf_counter() - start < SECONDS
    assert isinstance(log, EventLog)
    assert summary.rows_kept + summary.rows_set_aside == summary.rows_read
    return "log"


# --------------------------------------------------------------------------- shapes
_CELL = st.one_of(
    st.sampled_from(
        [
            "c1",
            "00042",
            "2026-11-02T09:00:00Z",
            "1762070400",
            "19970101",
            "page_view",
            "12,5",
            "3.5",
            "",
            " ",
            "Sébastien",
            "NaN",
            '"quoted, with a separator"',
            '"line\nbreak"',
            '"open',
            'a"b',
            "\x00",
            "x" * 100_000,
        ]
    ),
    st.text(max_size=12),
)
_HEADERS = st.sampled_from(
    [
        ["contact_id", "occurred_at", "event"],
        ["contact_id", "occurred_at", "event", "amount"],
        ["user", "ts", "event"],
        ["contact_id"],
        ["contact_id", "contact_id", "event"],
        ["", "occurred_at", "event"],
    ]
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """Draw a CSV file: a header, rows of any length, any separator, line end and encoding."""
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    header = draw(_HEADERS)
    width = len(header)
    rows = draw(
        st.lists(
            st.lists(_CELL, min_size=max(0, width - 2), max_size=width + 2),
            max_size=8,
        )
    )
    lines = [sep.join(header), *(sep.join(row) for row in rows)]
    blank = draw(st.integers(0, 2))
    text = end.join(lines) + end * blank
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "utf-16-le"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):  # a stray byte somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data


_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


@settings(max_examples=150, deadline=None, suppress_health_check=_HEALTH)
@given(data=st.binary(max_size=400))
def test_random_bytes_give_a_log_or_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "events.csv"
    path.write_bytes(data)
    outcome(path)


@settings(max_examples=200, deadline=None, suppress_health_check=_HEALTH)
@given(data=csv_files(), strict=st.booleans(), fmt=st.sampled_from([None, "%Y%m%d"]))
def test_random_csv_shapes_give_a_log_or_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, strict: bool, fmt: str | None
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "events.csv"
    path.write_bytes(data)
    outcome(path, strict=strict, timestamp_format=fmt)
    outcome(path, columns={"user": "contact_id", "ts": "occurred_at"})


@settings(max_examples=12, deadline=None, suppress_health_check=_HEALTH)
@given(data=st.one_of(csv_files(), st.binary(max_size=200)))
def test_the_cli_validates_random_files_without_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "events.csv"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode == 2:
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and errors[0].startswith("funnelkit validate: error: ")
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    assert peak_gib < PEAK_GIB


def test_a_utf16_file_without_bom_and_nul_bytes_is_a_clear_outcome(tmp_path: Path) -> None:
    text = "contact_id,occurred_at,event\nc1,2026-11-02,like\n"
    for name, data in (
        ("utf16.csv", text.encode("utf-16-le")),
        ("nul.csv", text.replace("c1", "c\x001").encode()),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        assert outcome(path) in ("log", "DataError", "MissingColumnError")
    frame = pl.DataFrame({"contact_id": ["c1"], "occurred_at": ["2026-11-02"], "event": ["x"]})
    assert read_events(frame).summary().rows_kept == 1
