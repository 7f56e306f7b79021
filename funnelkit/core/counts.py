"""The funnel's counts and time-to-convert queries over counted chains, on every engine.

The chains come from :func:`funnelkit.core.chains.chains_of`; these queries turn them
into the per-step counts (with or without a breakdown) and the transition
durations, where the events are, and finish the small tables in polars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals as nw
import polars as pl

from funnelkit.engine_frames import (
    horizontal,
)
from funnelkit.steps import (
    Spec,
    bin_width,
    transitions,
)

__all__ = ["durations_query", "finish_durations", "funnel_counts", "wide_counts", "wide_frame"]


def _how_many(condition: Any) -> Any:
    """Count the rows where ``condition`` holds (``COUNT(CASE WHEN ...)``: fast on every engine)."""
    return nw.when(condition).then(nw.lit(1)).count()


def _step_counts(n: int) -> list[Any]:
    kept = ~nw.col("_excluded")
    return [_how_many(nw.col("_excluded")).alias("_excl")] + [
        _how_many(kept & (nw.col("_lvl") >= k)).alias(f"c{k}") for k in range(1, n + 1)
    ]


def wide_counts(chains: Any, n: int, group: str | None) -> Any:
    """``_excl`` and ``c1..cn`` (contacts at or past each step), per ``group``."""
    if group is None:
        return chains.select(_step_counts(n))
    return chains.group_by(group).agg(_step_counts(n))


def durations_query(
    chains: Any, spec: Spec, *, counts: bool, extra: Sequence[Any] = ()
) -> tuple[Any, list[tuple[int, int]], int, int]:
    """One row: per transition its count, median, p90, mean and histogram bins.

    With ``counts``, the same row also holds the step counts of
    :func:`wide_counts`, so that one query over the chains gives everything;
    ``extra`` aggregations of the chains join that row too.
    """
    width = bin_width(spec.window_us)
    n_bins = max(1, math.ceil(spec.window_us / width))
    pairs = transitions(spec)
    kept = ~nw.col("_excluded")
    columns = {}
    for a, b in pairs:
        if spec.order == "any":
            times = [nw.col(f"_t{j}") for j in range(1, spec.n + 1)]
            d = horizontal("max", times) - horizontal("min", times)
        else:
            d = nw.col(f"_t{b}") - nw.col(f"_t{a}")
        columns[f"_d{a}_{b}"] = nw.when(kept & (nw.col("_lvl") >= b)).then(d)
    rows = chains
    if columns:
        rows = rows.with_columns(**columns).with_columns(
            ((nw.col(name) // width).clip(0, n_bins - 1)).alias(f"_bin{name}") for name in columns
        )
    aggs = _step_counts(spec.n) if counts else []
    for name in columns:
        aggs += [
            nw.col(name).count().alias(f"{name}_n"),
            nw.col(name).quantile(0.5, interpolation="linear").alias(f"{name}_median"),
            nw.col(name).quantile(0.9, interpolation="linear").alias(f"{name}_p90"),
            nw.col(name).mean().alias(f"{name}_mean"),
        ]
        aggs += [_how_many(nw.col(f"_bin{name}") == i).alias(f"{name}_b{i}") for i in range(n_bins)]
    aggs += list(extra)
    if not aggs:
        aggs = [nw.len().alias("_none")]
    return rows.select(aggs), pairs, width, n_bins


def finish_durations(
    row: Mapping[str, Any], pairs: list[tuple[int, int]], n_bins: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the time to convert's summary and histogram from a :func:`durations_query` row."""
    summary = pl.DataFrame(
        {
            "from_step": [a for a, _ in pairs],
            "to_step": [b for _, b in pairs],
            "contacts": [int(row[f"_d{a}_{b}_n"] or 0) for a, b in pairs],
            "median": [row[f"_d{a}_{b}_median"] for a, b in pairs],
            "p90": [row[f"_d{a}_{b}_p90"] for a, b in pairs],
            "mean": [row[f"_d{a}_{b}_mean"] for a, b in pairs],
        },
        schema={
            "from_step": pl.Int64,
            "to_step": pl.Int64,
            "contacts": pl.Int64,
            "median": pl.Float64,
            "p90": pl.Float64,
            "mean": pl.Float64,
        },
    )
    histogram = pl.DataFrame(
        {
            "from_step": [a for a, _ in pairs for _ in range(n_bins)],
            "to_step": [b for _, b in pairs for _ in range(n_bins)],
            "bin": [i for _ in pairs for i in range(n_bins)],
            "contacts": [int(row[f"_d{a}_{b}_b{i}"] or 0) for a, b in pairs for i in range(n_bins)],
        },
        schema={"from_step": pl.Int64, "to_step": pl.Int64, "bin": pl.Int64, "contacts": pl.Int64},
    )
    return summary, histogram


def wide_frame(df: pl.DataFrame, n: int) -> pl.DataFrame:
    """Return the collected counts ``_excl, c1..cn`` with nulls as 0, as Int64."""
    counts = ["_excl", *(f"c{k}" for k in range(1, n + 1))]
    return df.with_columns(pl.col(counts).fill_null(0).cast(pl.Int64))


def funnel_counts(chains: Any, spec: Spec, *, by: str | None, shared: bool = True) -> list[Any]:
    """Return the queries a funnel collects over counted chains, written once for every engine.

    The time to convert's row (:func:`durations_query`) and the counts per
    step (:func:`wide_counts`, per ``_seg_value`` with ``by``);
    :func:`funnelkit.conversion.finish_funnel` reads the collected tables.

    Parameters
    ----------
    chains
        Counted chains: a narwhals lazy frame (the queries are too) or a
        polars one (the queries are polars lazy frames).
    spec
        The funnel's checked specification (``nw_spec(...).spec``).
    by
        The breakdown column, or ``None``.
    shared
        The engine computes the chains once for all the queries (polars
        collects them together over cached chains), so the durations read
        only the contacts past step 1; otherwise (DuckDB, Spark: each query
        computes the chains again) one query holds the durations and, without
        ``by``, the counts.

    Returns
    -------
    list
        The queries, the durations' first.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> from funnelkit.core.chains import chains_of, nw_spec
    >>> day = dt.datetime(2026, 9, 7)
    >>> times = [day + dt.timedelta(days=n) for n in (0, 2, 8)]
    >>> log = pl.DataFrame({"contact_id": ["a", "a", "b"], "occurred_at": times,
    ...     "event": ["page_view", "purchase", "page_view"]})
    >>> ns = nw_spec(["page_view", "purchase"], "7d", "ordered", False, ())
    >>> chains = chains_of(log, ns, since=None, until=None)
    >>> tables = chains.collect(lambda lf: funnel_counts(lf, ns.spec, by=None))
    >>> tables[1].select("c1", "c2").row(0)
    (2, 1)

    See the concept page: docs/concepts/chain-rule.md
    """
    native = not isinstance(chains, nw.LazyFrame)
    lf = nw.from_native(chains) if native else chains
    group = None if by is None else "_seg_value"
    if shared:
        past = lf.filter(~nw.col("_excluded") & (nw.col("_lvl") >= 2))
        queries = [durations_query(past, spec, counts=False)[0], wide_counts(lf, spec.n, group)]
    elif by is None:
        queries = [durations_query(lf, spec, counts=True)[0]]
    else:
        queries = [durations_query(lf, spec, counts=False)[0], wide_counts(lf, spec.n, group)]
    return [nw.to_native(q) for q in queries] if native else queries
