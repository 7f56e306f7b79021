"""Periods and cohorts, written once: counts per day, ISO week or month on every engine.

The queries take the core's frames (epoch microseconds, UTC) of polars,
DuckDB or Spark alike.  Days and ISO weeks are fixed lengths from an origin,
so the engine counts per period; for calendar months it counts per day and
:func:`roll_up` adds the days of a month up in polars, on the small table
that comes back.  :func:`cohort_counts` is the per-(cohort, day) table of
:func:`funnelkit.conversion.cohorts`, whose Kaplan-Meier curve is drawn from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import polars as pl

from funnelkit.engine_frames import DAY_US, MONDAY_US, WEEK_US, floor_to
from funnelkit.steps import PERIODS, check_period

__all__ = ["PERIOD_US", "cohort_counts", "period_start", "roll_up"]

PERIOD_US = {"day": (DAY_US, 0), "week": (WEEK_US, MONDAY_US)}
"""The periods the engines count in directly: ``period -> (length, origin)`` in µs."""


def period_start(us: Any, period: str) -> Any:
    """Return the start (µs) of the UTC ``period`` holding ``us``; a month's day for months.

    Examples
    --------
    >>> import narwhals as nw, polars as pl
    >>> frame = nw.from_native(pl.DataFrame({"t": [9 * 86_400_000_000 + 5]}))
    >>> frame.select(period_start(nw.col("t"), "week")).item() // 86_400_000_000
    4
    """
    size, origin = PERIOD_US.get(check_period(period), (DAY_US, 0))
    return floor_to(us, size, origin)


def roll_up(counts: pl.DataFrame, column: str, period: str, keys: Sequence[str]) -> pl.DataFrame:
    """Return ``counts`` per ``period``: ``column`` (µs) as UTC starts, the other columns summed.

    ``column`` holds what :func:`period_start` gave (a day for months);
    rows of one period and ``keys`` are added up, so the days of a month
    become one row.  Columns other than ``column`` and ``keys`` are counts.
    """
    every = PERIODS[check_period(period)]
    start = pl.col(column)
    if counts.schema[column].is_integer():
        start = start.cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    counts = counts.with_columns(start.dt.truncate(every))
    if period in PERIOD_US:
        return counts
    group = [column, *keys]
    sums = [c for c in counts.columns if c not in group]
    return counts.group_by(group, maintain_order=True).agg(pl.col(sums).sum())


def cohort_counts(per_contact: Any, known: int, period: str) -> Any:
    """Return the contacts per cohort, outcome and day: the query the cohort curve is drawn from.

    ``per_contact``: one row per contact acquired, ``_acq`` (µs) and
    ``_hit`` (its first target time, µs, or null).  A contact converts on
    day ``max(floor((_hit - _acq) / 1 day), 0)``, or is last observed on day
    ``floor((known - _acq) / 1 day)``.  Columns ``cohort_start`` (µs, a day
    for months: see :func:`roll_up`), ``_conv``, ``day`` and ``_n``.
    """
    days = per_contact.select(
        period_start(nw.col("_acq"), period).alias("cohort_start"),
        ((known - nw.col("_acq")) // DAY_US).alias("_obs"),
        nw.when(~nw.col("_hit").is_null())
        .then(nw.max_horizontal((nw.col("_hit") - nw.col("_acq")) // DAY_US, nw.lit(0)))
        .alias("_day"),
    )
    return (
        days.with_columns(
            _conv=~nw.col("_day").is_null(),
            day=nw.when(~nw.col("_day").is_null()).then(nw.col("_day")).otherwise(nw.col("_obs")),
        )
        .group_by("cohort_start", "_conv", "day")
        .agg(nw.len().cast(nw.Int64()).alias("_n"))
    )
