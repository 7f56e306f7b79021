"""Accelerators: where one engine runs a core computation faster, registered in one place.

The core (:mod:`funnelkit.core`) is the specification and runs on every
engine.  An accelerator computes the same thing on one engine, faster: it has
the core function's contract (same inputs, same columns out), is tested equal
to the core on random logs, and has a benchmark case saying why it exists.
It may decline a spec by returning ``None``; the core then runs.

:data:`ACCELERATORS` is the whole list, ``(computation, engine) ->
"module:function"``; the module is imported when first asked for, so the
core imports no accelerator (they sit above it).

- ``("chains", "polars")``: :func:`funnelkit.chains.sort_key_chains`, the
  sort-key kernel of the chain rule (5-9x faster than the core's per-instant
  window functions on polars; ``benchmarks/bench_core.py``, cases
  ``funnel_polars`` and ``funnel_generic``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["ACCELERATORS", "accelerator"]

ACCELERATORS: dict[tuple[str, str], str] = {
    ("chains", "polars"): "funnelkit.chains:sort_key_chains",
}


def accelerator(computation: str, engine: str) -> Callable[..., Any] | None:
    """Return the accelerator of ``computation`` on ``engine``, or ``None`` (the core runs).

    Examples
    --------
    >>> accelerator("chains", "polars").__name__
    'sort_key_chains'
    >>> accelerator("chains", "duckdb") is None
    True
    """
    target = ACCELERATORS.get((computation, engine))
    if target is None:
        return None
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function
