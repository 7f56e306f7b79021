"""Accelerators: where one engine runs a core computation faster, registered in one place.

The core (:mod:`funnelkit.core`) is the specification and runs on every
engine.  An accelerator computes the same thing on one engine, faster: it has
the core function's contract (same inputs, same columns out), is tested equal
to the core on random logs, and has a benchmark case saying why it exists.
It may decline a spec by returning ``None``; the core then runs.

:data:`ACCELERATORS` is the whole list, ``(computation, engine) ->
"module:function"`` (or a tuple of them); the module is imported when first asked for, so the
core imports no accelerator (they sit above it).

A computation may have several accelerators on one engine, tried in turn:
the first that takes the spec (does not return ``None``) runs.

- ``("chains", "polars")``:

  1. :func:`funnelkit.entry.entry_chains`, the funnel whose steps are
     stages read by entry, straight from the classification's ``<stage>_at``
     columns: one row per contact, no sort, no synthetic event (it declines
     anything else; ``docs/concepts/entry.md``, "Straight from the
     classification"; ``benchmarks/bench_explorer.py``);
  2. :func:`funnelkit.chains.sort_key_chains`, the sort-key kernel of the
     chain rule (5-9x faster than the core's per-instant window functions on
     polars; ``benchmarks/bench_core.py``, cases ``funnel_polars`` and
     ``funnel_generic``).

- ``("classify", "polars")``: :func:`funnelkit.classify_files.classify_parquet`,
  the core's own plan run by DuckDB over a Parquet file read whole, under a
  memory limit, its rows brought back in batches (at 50 million events 1.1x the
  CPU time of DuckDB's hand-written query at 1.3 GB, against 1.5x in polars'
  seven hash groups; ``benchmarks/bench_classify.py``, cases ``classify_full``,
  ``classify_full_polars`` and ``duckdb_full``; ADR 8).  It declines smaller
  files, other inputs and definitions with ``min_count`` or points rules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["ACCELERATORS", "accelerator"]

ACCELERATORS: dict[tuple[str, str], str | tuple[str, ...]] = {
    ("chains", "polars"): (
        "funnelkit.entry:entry_chains",
        "funnelkit.chains:sort_key_chains",
    ),
    ("classify", "polars"): "funnelkit.classify_files:classify_parquet",
}


def accelerator(computation: str, engine: str) -> Callable[..., Any] | None:
    """Return the accelerator of ``computation`` on ``engine``, or ``None`` (the core runs).

    With several registered, the function returned tries them in turn and
    returns the first answer that is not ``None`` (``None`` when all decline).

    Examples
    --------
    >>> accelerator("chains", "polars").__name__
    'entry_chains_or_sort_key_chains'
    >>> accelerator("chains", "duckdb") is None
    True
    """
    targets = ACCELERATORS.get((computation, engine))
    if not targets:
        return None
    if isinstance(targets, str):
        targets = (targets,)
    functions = [_load(target) for target in targets]
    if len(functions) == 1:
        return functions[0]

    def first_taker(*args: Any, **kwargs: Any) -> Any:
        for function in functions:
            found = function(*args, **kwargs)
            if found is not None:
                return found
        return None

    first_taker.__name__ = "_or_".join(f.__name__ for f in functions)
    return first_taker


def _load(target: str) -> Callable[..., Any]:
    """Import the function ``"module:function"`` names."""
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function
