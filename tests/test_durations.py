from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelkit.durations import MAX_DURATION, format_duration, parse_duration
from funnelkit.errors import ParameterError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("14d", timedelta(days=14)),
        ("45s", timedelta(seconds=45)),
        ("0d", timedelta(0)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 3D ", timedelta(days=3)),
        ("1w 2d", timedelta(days=9)),
    ],
)
def test_parse_duration_reads_the_documented_syntax(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_passes_a_timedelta_through() -> None:
    assert parse_duration(timedelta(hours=5)) == timedelta(hours=5)


@pytest.mark.parametrize("text", ["", "14", "d", "1.5d", "-3d", "3 days", "2mo", "1y", "3d-"])
def test_parse_duration_rejects_malformed_text_with_a_hint(text: str) -> None:
    with pytest.raises(ParameterError, match=r"window: cannot read .* write a whole number"):
        parse_duration(text, name="window")


def test_parse_duration_rejects_negative_timedelta() -> None:
    with pytest.raises(ParameterError, match="window must not be negative"):
        parse_duration(timedelta(days=-1), name="window")


def test_parse_duration_rejects_other_types() -> None:
    with pytest.raises(ParameterError, match="must be text such as '14d'"):
        parse_duration(14)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=14), "2w"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(0), "0s"),
        (timedelta(days=3), "3d"),
        (timedelta(days=30), "30d"),
        (timedelta(days=9, hours=1), "9d1h"),
    ],
)
def test_format_duration_writes_the_shortest_form(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_format_duration_rejects_negative() -> None:
    with pytest.raises(ParameterError, match="cannot write a negative duration"):
        format_duration(timedelta(seconds=-1))


def test_docstring_examples_run() -> None:
    import doctest

    import funnelkit.durations

    assert doctest.testmod(funnelkit.durations).failed == 0


@pytest.mark.parametrize(
    "value",
    [
        "99999999999999d",
        "9" * 90 + "d",
        "36526d",
        "5218w",
        "36525d1s",
        timedelta(days=36526),
        timedelta.max,
    ],
)
def test_parse_duration_refuses_more_than_100_years_in_one_line(value: str | timedelta) -> None:
    with pytest.raises(
        ParameterError, match=r"^window: .* is longer than 100 years \(36525d\)"
    ) as info:
        parse_duration(value, name="window")
    assert "\n" not in str(info.value)


def test_parse_duration_reads_100_years_and_leading_zeros() -> None:
    assert parse_duration("36525d") == MAX_DURATION == parse_duration(MAX_DURATION)
    assert parse_duration("0" * 40 + "3d") == timedelta(days=3)


def test_parse_duration_refuses_overlong_text_without_reading_it() -> None:
    with pytest.raises(
        ParameterError, match=r"window: cannot read .* 200 characters, more than 100"
    ):
        parse_duration("1d" * 100, name="window")


_PARTS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10**20), st.sampled_from("wdhms ")),
    max_size=8,
).map(lambda parts: "".join(f"{number}{unit}" for number, unit in parts))


@settings(max_examples=200, deadline=None)
@given(_PARTS | st.text(alphabet="0123456789wdhms ", max_size=120))
def test_parse_duration_gives_a_bounded_duration_or_one_error(text: str) -> None:
    try:
        value = parse_duration(text, name="window")
    except ParameterError as exc:
        assert "\n" not in str(exc)
    else:
        assert timedelta(0) <= value <= MAX_DURATION


def test_cli_window_beyond_100_years_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from funnelkit.cli import main

    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "events.csv"
    argv = ["funnel", str(sample), "--steps", "page_view,purchase", "--window", "99999999999999d"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "funnelkit funnel: error: --window: '99999999999999d' is longer than 100 years "
        "(36525d), the longest duration funnelkit accepts\n"
    )
