"""Counts per step, rates with intervals and segments, from per-contact chains.

The aggregation every funnel-like analysis of :mod:`funnelkit.conversion`
shares, on polars: the contacts at or past each step (``step_counts``), one
row per step with its conversion rates, Wilson intervals and drop-off
(``long_steps``) and the breakdown's ``Other`` and small-segment
rules (``merge_segments``, ``suppress_small_segments``).
"""

from __future__ import annotations

import polars as pl

from funnelkit.chains import (
    collect_sound,
)
from funnelkit.columns import NO_VALUE, OTHERS
from funnelkit.errors import ParameterError
from funnelkit.stats import (
    wilson_high,
    wilson_low,
)
from funnelkit.steps import (
    Spec,
)

__all__ = [
    "RATE_COLUMNS",
    "STEP_COLUMNS",
    "check_count_option",
    "collect_sound",
    "long_steps",
    "merge_segments",
    "step_counts",
    "suppress_small_segments",
]


def step_counts(chains: pl.LazyFrame, spec: Spec, group: str | None) -> pl.LazyFrame:
    """Wide counts per group: ``_excl`` and ``c1..cn`` (contacts at or past each step)."""
    kept = ~pl.col("_excluded")
    aggs = [pl.col("_excluded").sum().cast(pl.Int64).alias("_excl")] + [
        (kept & (pl.col("_lvl") >= k)).sum().cast(pl.Int64).alias(f"c{k}")
        for k in range(1, spec.n + 1)
    ]
    if group is None:
        return chains.select(aggs)
    return chains.group_by(group).agg(aggs)


def _rate_columns(by: list[str]) -> list[pl.Expr]:
    count = pl.col("count")
    first = count.first().over(by) if by else count.first()
    prev = count.shift(1).over(by) if by else count.shift(1)
    is_first = pl.col("step") == 1
    safe_prev = pl.when(is_first | (prev == 0)).then(None).otherwise(prev)
    safe_first = pl.when(first == 0).then(None).otherwise(first)
    return [
        (count / safe_prev).alias("conversion_from_previous"),
        (count / safe_first).alias("conversion_from_first"),
        pl.when(is_first).then(None).otherwise(prev - count).alias("drop_off"),
        (1.0 - count / safe_prev).alias("drop_off_rate"),
        pl.when(is_first).then(None).otherwise(wilson_low(count, first)).alias("ci_low"),
        pl.when(is_first).then(None).otherwise(wilson_high(count, first)).alias("ci_high"),
        pl.when(is_first).then(None).otherwise(wilson_low(count, prev)).alias("previous_ci_low"),
        pl.when(is_first).then(None).otherwise(wilson_high(count, prev)).alias("previous_ci_high"),
    ]


RATE_COLUMNS = (
    "conversion_from_previous",
    "conversion_from_first",
    "ci_low",
    "ci_high",
    "previous_ci_low",
    "previous_ci_high",
    "drop_off",
    "drop_off_rate",
)
STEP_COLUMNS = ("step", "name", "count", *RATE_COLUMNS)


def long_steps(wide: pl.DataFrame, spec: Spec, by: list[str]) -> pl.DataFrame:
    """Turn wide ``c1..cn`` counts into one row per (group, step) with rates and intervals."""
    names = pl.DataFrame(
        {"step": list(range(1, spec.n + 1)), "name": [s.name for s in spec.steps]},
        schema={"step": pl.Int64, "name": pl.String},
    )
    long = (
        wide.unpivot(
            index=by,
            on=[f"c{k}" for k in range(1, spec.n + 1)],
            variable_name="_c",
            value_name="count",
        )
        .with_columns(
            step=pl.col("_c").str.slice(1).cast(pl.Int64), count=pl.col("count").cast(pl.Int64)
        )
        .join(names, on="step", how="left")
        .sort([*by, "step"])
    )
    return long.with_columns(_rate_columns(by)).select(*by, *STEP_COLUMNS)


def check_count_option(value: object, name: str, *, allow_none: bool) -> None:
    """Refuse a ``top`` / ``min_size`` that is not a whole number >= 0 (``None`` if allowed)."""
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        msg = (
            f"{name}: expected a whole number >= 0{' or None' if allow_none else ''}, got {value!r}"
        )
        raise ParameterError(msg)


def merge_segments(wide: pl.DataFrame, spec: Spec, top: int | None, min_size: int) -> pl.DataFrame:
    """Group small tails into ``Other`` and flag segments under ``min_size`` entrants."""
    counts = [f"c{k}" for k in range(1, spec.n + 1)]
    wide = wide.with_columns(segment=pl.col("_seg_value").fill_null(NO_VALUE)).drop("_seg_value")
    wide = wide.group_by("segment").agg(pl.col(["_excl", *counts]).sum())
    ranked = wide.sort(["c1", "segment"], descending=[True, False]).with_row_index("_rank")
    if top is not None and ranked.height > top:
        ranked = ranked.with_columns(
            segment=pl.when(pl.col("_rank") < top).then(pl.col("segment")).otherwise(pl.lit(OTHERS))
        )
        ranked = ranked.group_by("segment", maintain_order=True).agg(
            pl.col("_rank").min(), pl.col(["_excl", *counts]).sum()
        )
    return ranked.sort("_rank").drop("_rank").with_columns(suppressed=pl.col("c1") < min_size)


def suppress_small_segments(long: pl.DataFrame) -> pl.DataFrame:
    """Blank the rates of the segments flagged ``suppressed`` (too few entrants)."""
    return long.with_columns(
        pl.when(pl.col("suppressed")).then(None).otherwise(pl.col(c)).alias(c)
        for c in RATE_COLUMNS
        if c != "drop_off"
    )
