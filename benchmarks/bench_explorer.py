"""Benchmark: one update of the funnel explorer on a large log held in memory.

Usage::

    python benchmarks/bench_explorer.py                       # 10M events
    python benchmarks/bench_explorer.py --events 1M --profile window

The log is drawn once with :func:`funnelkit.sample.write_large_log` into
``benchmarks/data/`` (``--data-dir`` elsewhere), read with
``read_events(FILE, hold="memory")`` and given to
:func:`funnelkit.explorer.explore`.  Each update is timed from the widget's
value change to the new figure (``Explorer.last_figure_seconds``), to the end
of the update (table and summary too: ``last_update_seconds``) and the wall
time of the assignment around it, with the process's CPU time beside it.
``--profile STEP`` prints the functions where that one update spends its time
(cProfile, cumulative).

Updates, in this order
----------------------
``open``
    ``explore(log)``: the first figure (``inbound``, 14 days, by entry).
``window``
    The conversion window from 14 to 7 days.
``definition``
    The definition from ``inbound`` to ``sales``.
``breakdown``
    A breakdown by ``channel``.
``lang``
    French labels (the funnel result of these settings is kept: no computation).
``back``
    No breakdown again (the ``definition`` settings: kept).
``weeks``
    The last eight weeks only.

The target is a new figure under 1 s after a change (``open`` aside).  On a shared machine,
CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
STEPS = ("open", "window", "definition", "breakdown", "lang", "back", "weeks")
TARGET_SECONDS = 1.0


def _count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 10**3, "M": 10**6}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _log_path(data: Path, n: int) -> Path:
    path = data / f"events_{n}.parquet"  # the name of bench_classify.py and bench_funnel.py
    if not path.exists():
        print(f"drawing {n:,} events into {path} ...", file=sys.stderr, flush=True)
        code = "import sys; from funnelkit.sample import write_large_log as w; "
        code += "w(sys.argv[1], int(sys.argv[2]))"
        subprocess.run([sys.executable, "-c", code, str(path), str(n)], check=True)
    return path


def _changes(app: Any) -> dict[str, Callable[[], None]]:
    def weeks() -> None:
        options = app.weeks.options
        app.weeks.value = (options[-8][1], options[-1][1])

    return {
        "window": lambda: setattr(app.window, "value", "7d"),
        "definition": lambda: setattr(app.definition, "value", "sales"),
        "breakdown": lambda: setattr(app.breakdown, "value", "channel"),
        "lang": lambda: setattr(app.lang, "value", "fr"),
        "back": lambda: setattr(app.breakdown, "value", None),
        "weeks": weeks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", default="10M", help="event count, e.g. 1M, 10M (10M)")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="where the logs are cached")
    parser.add_argument("--profile", choices=STEPS[1:], help="profile this update")
    parser.add_argument("--top", type=int, default=25, help="profile lines to print")
    args = parser.parse_args(argv)

    import polars as pl

    from funnelkit import read_events
    from funnelkit.explorer import explore

    path = _log_path(args.data_dir, _count(args.events))
    started = time.perf_counter()
    log = read_events(path, hold="memory")
    read_s = time.perf_counter() - started
    rows = log.frame.select(pl.len()).collect().item()
    print(
        f"{rows:,} events held in memory (read in {read_s:.1f} s); {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    head = f"  {'update':<12} {'figure s':>8} {'update s':>8} {'wall s':>7} {'CPU s':>6}"
    print(f"{head}  target: figure < {TARGET_SECONDS} s")
    cpu, wall = time.process_time(), time.perf_counter()
    app = explore(log)
    opened = time.perf_counter() - wall
    print(
        f"  {'open':<12} {app.last_figure_seconds:>8.2f} {app.last_update_seconds:>8.2f} "
        f"{opened:>7.2f} "
        f"{time.process_time() - cpu:>6.2f}",
        flush=True,
    )
    for name, change in _changes(app).items():
        profiler = cProfile.Profile() if name == args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        change()
        if profiler is not None:
            profiler.disable()
        took = time.perf_counter() - wall
        if app.result is None:
            print(f"  {name}: the update failed: {app.summary.value}", file=sys.stderr)
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue(), file=sys.stderr)
        print(
            f"  {name:<12} {app.last_figure_seconds:>8.2f} {app.last_update_seconds:>8.2f} "
            f"{took:>7.2f} {time.process_time() - cpu:>6.2f}  "
            + ("met" if app.last_figure_seconds < TARGET_SECONDS else "MISSED"),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
