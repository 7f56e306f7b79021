"""Reading as_of, since/until and start/end: one reading for every analysis."""

from __future__ import annotations

import doctest
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from funnelkit import timeutil
from funnelkit.errors import ParameterError
from funnelkit.timeutil import instant, parse_as_of, parse_time, time_bounds


def test_doctests() -> None:
    failures, tried = doctest.testmod(timeutil)
    assert tried > 0
    assert failures == 0


def test_a_bare_date_is_the_end_of_the_day_for_as_of_and_midnight_for_a_bound() -> None:
    end = datetime(2026, 11, 23, tzinfo=UTC) - timedelta(microseconds=1)
    assert instant(date(2026, 11, 22), "as_of") == end
    assert parse_as_of("2026-11-22") == end
    assert parse_time(date(2026, 11, 22), "since") == datetime(2026, 11, 22, tzinfo=UTC)


def test_zoned_values_are_converted_and_naive_ones_read_as_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert instant(datetime(2026, 1, 1, 1, tzinfo=paris), "as_of") == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    assert parse_time("2026-01-01T08:00Z", "until") == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert parse_as_of(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_unreadable_times_name_the_option() -> None:
    with pytest.raises(ParameterError, match=r"as_of='next week' is not a date"):
        instant("next week", "as_of")
    with pytest.raises(ParameterError, match="since: cannot read 'soon' as a time"):
        parse_time("soon", "since")


def test_a_reversed_span_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"since \(2026-02-01 00:00\) must be before until"):
        time_bounds("2026-02-01", "2026-01-01")
