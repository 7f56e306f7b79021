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
``by_window``
    The window back to 14 days, the breakdown still shown.
``lang``
    French labels (the funnel result of these settings is kept: no computation).
``back``
    No breakdown again (``sales`` over 14 days: computed, its classification kept).
``weeks``
    The last eight weeks only.

The target is a new figure under 1 s after a change (``open`` aside).  On a shared machine,
CPU time is the steadier figure.

Time between changes
--------------------
After each update the explorer computes, in a background thread, what the next change
may need (the other preset's classification, the breakdown columns at entry), one group
of contacts at a time: an update meets at most the end of one group, and a change that
needs the work under way waits for what is left of it.  By default the changes follow
each other at once, so a change of definition or breakdown computes what the background
has not had the time to start, as without it.  ``--pause SECONDS`` leaves that long
between changes, as a user looking at the figure does (``--pause 1`` meets the
background midway); ``--pause settle`` waits until the background is done
(``Explorer.wait``).  The CPU time of an update is the process's, background included;
the last line gives the process's peak memory (resident set).

Before and after
----------------
``--against DIR`` runs the same updates with the package found in ``DIR`` (e.g. an
older version exported with ``git archive main funnelkit | tar -x -C DIR``) and with
this one, each in its own process, taking turns ``--repeat`` times, then prints the
median of each figure per update and the CPU ratio (before / after).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
STEPS = ("open", "window", "definition", "breakdown", "by_window", "lang", "back", "weeks")
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
        "by_window": lambda: setattr(app.window, "value", "14d"),
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
    parser.add_argument("--against", type=Path, help="compare with the package in this folder")
    parser.add_argument("--repeat", type=int, default=1, help="turns of each side (--against)")
    parser.add_argument(
        "--pause", default="0", help="seconds between changes, or 'settle' (default 0)"
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.against is not None:
        return _compare(args)

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
    figures = {"open": (app.last_figure_seconds, opened, time.process_time() - cpu)}
    print(
        f"  {'open':<12} {app.last_figure_seconds:>8.2f} {app.last_update_seconds:>8.2f} "
        f"{opened:>7.2f} "
        f"{time.process_time() - cpu:>6.2f}",
        flush=True,
    )
    waits = {"cpu": 0.0}

    def settle() -> None:
        """Wait for the background (an older explorer has none), counting its CPU time."""
        cpu = time.process_time()
        getattr(app, "wait", lambda: True)()
        waits["cpu"] += time.process_time() - cpu

    for name, change in _changes(app).items():
        if args.pause == "settle":
            settle()
        elif float(args.pause) > 0:
            time.sleep(float(args.pause))
        profiler = cProfile.Profile() if name == args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        change()
        if profiler is not None:
            profiler.disable()
        took = time.perf_counter() - wall
        figures[name] = (app.last_figure_seconds, took, time.process_time() - cpu)
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
    settle()
    print(f"  CPU s of the background while nothing else ran: {waits['cpu']:.2f}")
    figures["background"] = (0.0, 0.0, waits["cpu"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(f"  peak resident memory {peak:.2f} GiB (the log held, the explorer and its work)")
    if args.json:
        figures["peak_gib"] = (peak, peak, peak)
        print(json.dumps(figures))
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Run the updates with the package of ``--against`` and with this one, taking turns."""
    sides = {"before": str(args.against.resolve()), "after": str(HERE.parent)}
    _log_path(args.data_dir, _count(args.events))  # drawn once, before either side runs
    runs: dict[str, list[dict[str, list[float]]]] = {side: [] for side in sides}
    for turn in range(args.repeat):
        for side, root in sides.items():
            command = [sys.executable, __file__, "--events", args.events, "--json"]
            command += ["--pause", args.pause]
            command += ["--data-dir", str(args.data_dir)]
            env = {**os.environ, "PYTHONPATH": root}
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"turn {turn + 1}, {side}: done", file=sys.stderr, flush=True)
    print(
        f"{args.events} events; {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}; "
        f"median of {args.repeat} run(s) per side, the sides taking turns; pause {args.pause}"
    )
    head = "figure s", "wall s", "CPU s"
    print(f"  {'update':<12}" + "".join(f" {h + ' ' + s:>17}" for s in sides for h in head))
    for step in (*STEPS, "background", "peak_gib"):
        medians = {
            side: [statistics.median(run[step][i] for run in runs[side]) for i in range(3)]
            for side in sides
        }
        cells = "".join(f" {v:>17.2f}" for side in sides for v in medians[side])
        ratio = medians["before"][2] / max(medians["after"][2], 1e-9)
        print(f"  {step:<12}{cells}   CPU {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
