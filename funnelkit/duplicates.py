"""Exact duplicate rows, found by hashing first: what ``read_events`` sets aside as ``duplicate``.

A row is a duplicate when an earlier row holds the same values in every
column.  Each row is hashed to one integer; only rows whose hash repeats are
compared value by value, so a collision never makes a duplicate.  In memory,
:mod:`funnelkit.events` sorts the hashes; streaming, :func:`duplicate_rows`
counts them in a group-by, or reads those :func:`repeated_hashes` found.  The
rule is on the concept page ``docs/concepts/data-contract.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import polars as pl

from funnelkit.columns import REQUIRED
from funnelkit.logs import ROW

__all__ = ["COPIES", "HASH", "duplicate_rows", "repeated_hashes", "row_hash"]

#: The column of a row's hash, while reading.
HASH = "__hash"
#: The column counting the rows of one hash, while reading.
COPIES = "__copies"


def row_hash(key: Sequence[str]) -> pl.Expr:
    """Return one ``UInt64`` hash of the ``key`` columns of each row.

    Equal rows get equal hashes (a null hashes like a null, ``-0.0`` like
    ``0.0`` and every NaN like every other, as they compare in a group-by);
    different rows may collide.  Only the required columns among ``key``
    (id, time, event: text and times) are hashed when it holds any, each
    with a seed of its own, the hashes combined: equal rows are equal there
    too, at a fraction of the cost of hashing whole rows; rows that differ only
    in their properties share a hash and are told apart by the exact
    comparison that follows (see :func:`duplicate_rows`).

    Parameters
    ----------
    key
        The columns that make two rows equal.

    Returns
    -------
    polars.Expr

    Examples
    --------
    >>> rows = pl.DataFrame({"contact_id": ["a", "a"], "event": ["x", "x"], "n": [1, 2]})
    >>> rows.select(row_hash(["contact_id", "event", "n"]).n_unique()).item()
    1

    See the concept page: docs/concepts/data-contract.md
    """
    required = [c for c in key if c in REQUIRED]
    if not required:
        return pl.struct(key).hash()
    hashes = [pl.col(c).hash(seed) for seed, c in enumerate(required, 1)]
    return functools.reduce(lambda a, b: a ^ b, hashes)


def duplicate_rows(
    rows: pl.LazyFrame,
    key: Sequence[str],
    *,
    row: str = ROW,
    hashing: pl.Expr | None = None,
    counted: pl.LazyFrame | None = None,
    repeated: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Return the numbers of the rows that repeat an earlier row exactly.

    A row is a duplicate when a row with a smaller ``row`` number holds the same
    values in every ``key`` column, compared as
    :meth:`polars.Expr.is_first_distinct` compares them (a null equals a null);
    the first copy of each group of equal rows is not a duplicate.

    Comparing whole rows is what costs, so each row is first hashed to one
    ``UInt64``.  A group-by on that column alone (it streams; its memory grows
    with the number of distinct rows, a few dozen bytes each) finds the hashes
    carried by more than one row, and only the rows carrying one of those are
    compared value by value, in ``row`` order.  Equal rows always share a hash,
    so no duplicate is missed; rows that share a hash without being equal (a
    collision) are told apart by that exact comparison, so none is reported
    wrongly.

    Parameters
    ----------
    rows
        The rows to check, with a ``row`` column numbering them in source order.
    key
        The columns that make two rows equal.
    row
        The name of the numbering column.
    hashing
        The expression hashing a row to a ``UInt64``; ``None`` for
        :func:`row_hash`.  Any expression that gives equal rows equal values
        keeps the answer exact; one that collides more (a constant, in tests)
        only makes more rows go through the exact comparison.
    counted
        The frame to count the hashes in, ``rows`` when ``None``: the same rows
        without ``row``, with any others added (an added row can only make more
        rows candidates).  Giving it a plan of its own lets the streaming engine
        read the source again for the second pass, rather than keep every row of
        the first in memory until the counts are known.
    repeated
        The hashes (one column, ``__hash``) carried by more than one row, when
        already found (:func:`repeated_hashes`); ``counted`` is then not read.

    Returns
    -------
    pl.LazyFrame
        One column, ``row``: the numbers of the duplicate rows, in no given order.

    Examples
    --------
    >>> rows = pl.LazyFrame({"n": [1, 2, 3, 4], "a": ["x", "y", "x", "x"]})
    >>> sorted(duplicate_rows(rows, ["a"], row="n").collect()["n"])
    [3, 4]

    See the concept page: docs/concepts/data-contract.md
    """
    hashed = (row_hash(key) if hashing is None else hashing).alias(HASH)
    repeated = (
        repeated
        if repeated is not None
        else (
            (rows if counted is None else counted)
            .with_columns(hashed)
            .group_by(HASH)
            .agg(pl.len().alias(COPIES))
            .filter(pl.col(COPIES) > 1)
            .select(HASH)
        )
    )
    # The right side of these joins is small: forcing it as the build side lets
    # the large left side stream through instead of being sampled to choose one.
    return (
        rows.with_columns(hashed)
        .join(repeated, on=HASH, how="semi", build_side="force_right")
        .sort(row)
        .filter(~pl.struct(key).is_first_distinct())
        .select(row)
    )


def repeated_hashes(rows: pl.LazyFrame, key: Sequence[str]) -> pl.LazyFrame:
    """Return the row hashes of ``rows`` seen more than once (column ``__hash``), found now.

    What the group-by of :func:`duplicate_rows` finds, by sorting the hashes
    instead, as the reading in memory does: one streaming pass collects the
    hashes, 8 bytes a row, then one sort (on one thread: about half the CPU
    of the parallel sort).

    Parameters
    ----------
    rows
        The rows, holding the required columns among ``key`` (:func:`row_hash`
        hashes only those).
    key
        The columns that make two rows equal.

    Returns
    -------
    pl.LazyFrame
        The repeated hashes, in memory, for :func:`duplicate_rows`.

    Examples
    --------
    >>> rows = pl.LazyFrame({"contact_id": ["a", "b", "a"], "event": ["x", "x", "x"]})
    >>> repeated_hashes(rows, ["contact_id", "event"]).collect().height
    1

    See the concept page: docs/concepts/data-contract.md
    """
    hashed = rows.with_columns(row_hash(key).alias(HASH)).select(HASH)
    hashes = hashed.collect(engine="streaming")
    ordered = hashes.get_column(HASH).sort(multithreaded=False)
    twice = ordered.filter(ordered == ordered.shift(1)).unique()
    return twice.to_frame(HASH).lazy()
