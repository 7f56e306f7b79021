"""Benchmark: the cost of ``read_events``' validation, duplicate detection above all.

Usage::

    python benchmarks/bench_read_events.py                     # 10M events, every case
    python benchmarks/bench_read_events.py --cases count,count+dedupe --repeat 3
    python benchmarks/bench_read_events.py --against /tmp/funnelkit-before
    python benchmarks/bench_read_events.py --source benchmarks/data/ooc_web_90886735 \\
        --cases count+dedupe --repeat 1 --max-rss 10 --timeout 600

Each run is a fresh Python process that reads the log with
:func:`funnelkit.read_events` and collects with polars' streaming engine.  It
measures, inside that process, the wall time, the CPU time (user + system, all
threads; the steadier figure on a shared machine) and the peak resident memory
(``VmHWM``, imports included).  The table shows the median times and the largest
peak over ``--repeat`` runs.  A watchdog polls the child's resident memory and
stops it above ``--max-rss`` GiB (``stopped`` in the table: that case does not
stream); ``--timeout`` bounds each run.

Cases
-----
``count``
    ``read_events(...).frame.select(pl.len())``: every row validated and counted.
``classify``
    ``classify(log, load_funnel("sales"), entry_times=False)``, its rows (one
    per contact) counted: a realistic downstream query, the current stage of
    every contact.
``scan``
    The floor: ``pl.scan_parquet`` counted, or classified with ``scan+classify``,
    with no validation at all.

A case name takes a variant after ``+``: ``count+dedupe`` and
``classify+dedupe`` read with the default duplicate detection, ``count`` and
``classify`` with ``dedupe=False``.  ``count+aside`` counts the set-aside rows and
``count+summary`` runs ``log.summary()`` (what ``strict=True`` runs), both with
the default duplicate detection.

``--against DIR`` imports ``funnelkit`` from ``DIR`` instead (for instance an
export of the previous commit: ``git archive HEAD funnelkit | tar -x -C DIR``),
to measure before and after on the same machine, the runs taking turns.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from watched import run_watched, status_gib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_SOURCE = HERE / "data" / "events_10000000.parquet"
DEFAULT_CASES = (
    "scan",
    "count",
    "count+dedupe",
    "scan+classify",
    "classify",
    "classify+dedupe",
)


# --- one case, in a child process ---------------------------------------------------------------
def _child(case: str, source: Path) -> dict[str, object]:
    import polars as pl

    from funnelkit import read_events
    from funnelkit.definitions import load_funnel
    from funnelkit.stages import classify

    kind, _, variant = case.partition("+")
    start, cpu = time.perf_counter(), time.process_time()
    if kind == "scan":
        lf = (
            pl.scan_parquet(source / "**" / "*.parquet", hive_partitioning=True)
            if source.is_dir()
            else pl.scan_parquet(source)
        )
        query = (
            classify(lf, load_funnel("sales"), entry_times=False).select(pl.len())
            if variant == "classify"
            else lf.select(pl.len())
        )
    else:
        log = read_events(source, dedupe=variant in ("dedupe", "aside", "summary"))
        if kind == "count" and variant == "summary":
            query = pl.LazyFrame({"rows": [log.summary().rows_read]})
        elif kind == "count" and variant == "aside":
            query = log.set_aside.select(pl.len())
        elif kind == "count":
            query = log.frame.select(pl.len())
        elif kind == "classify":
            query = classify(log, load_funnel("sales"), entry_times=False).select(pl.len())
        else:
            msg = f"unknown case {case!r}"
            raise SystemExit(msg)
    rows = int(query.collect(engine="streaming").item())
    return {
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
        "peak_gib": status_gib("self", "VmHWM"),
        "rows": rows,
    }


# --- the parent: fresh processes, a memory watchdog ---------------------------------------------
def _run(
    case: str, source: Path, against: Path | None, max_rss: float, timeout: float
) -> dict[str, object]:
    env = dict(os.environ)
    path = [str(against)] if against else []
    env["PYTHONPATH"] = os.pathsep.join([*path, str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, __file__, "--child", case, "--source", str(source)]
    run = run_watched(cmd, max_rss_gib=max_rss, timeout=timeout, env=env)
    if run.stopped:
        return {"stopped": run.stopped, "peak_gib": run.peak_gib}
    if run.returncode != 0:
        msg = f"{case} failed (exit {run.returncode}):\n{run.stderr}"
        raise SystemExit(msg)
    out = run.stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="what read_events reads (a file or a folder; the scan cases need Parquet)",
    )
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", type=Path, help="import funnelkit from this folder too")
    parser.add_argument("--max-rss", type=float, default=10.0, help="GiB; stop a run above it")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    source = args.source
    if args.child:
        print(json.dumps(_child(args.child, source)))
        return 0

    builds: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.against:
        builds.insert(0, (str(args.against), args.against.resolve()))
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    print(f"source: {source}  ({os.cpu_count()} cores, {args.repeat} run(s) per case)")
    runs: dict[tuple[str, str], list[dict[str, object]]] = {}
    for _ in range(args.repeat):
        for case in cases:
            for label, path in builds:
                if case.startswith("scan") and path is not None:
                    continue  # the floor does not depend on funnelkit
                got = _run(case, source, path, args.max_rss, args.timeout)
                runs.setdefault((case, label), []).append(got)
                print(f"  {case:<18} {label:<24} {got}", file=sys.stderr)

    head = ("case", "funnelkit", "seconds", "CPU s", "peak GiB", "rows")
    print("{:<18} {:<24} {:>8} {:>8} {:>9} {:>12}".format(*head))
    for (case, label), got in runs.items():
        peak = max(float(str(r["peak_gib"])) for r in got)
        done = [r for r in got if "stopped" not in r]
        if not done:
            print(f"{case:<18} {label:<24} {got[0]['stopped']:>30} (> {peak:.2f} GiB)")
            continue
        secs = statistics.median(float(str(r["seconds"])) for r in done)
        cpu = statistics.median(float(str(r["cpu"])) for r in done)
        rows = done[0]["rows"]
        print(f"{case:<18} {label:<24} {secs:8.2f} {cpu:8.2f} {peak:9.2f} {rows:>12,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
