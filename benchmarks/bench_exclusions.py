"""Benchmark: ``funnel`` with exclusions, on polars and DuckDB, against a baseline package.

Usage::

    python benchmarks/bench_exclusions.py --data /work/bench-data --baseline /tmp/old
    python benchmarks/bench_exclusions.py --sizes 1M --repeat 3 --rules funnelkit,clickhouse

Each case reads the Parquet log of :mod:`bench_core` (drawn once with
:func:`funnelkit.sample.write_large_log`) and runs ``conversion.funnel`` with
``Exclusion("outreach_sent", 1, 2)`` (a frequent event, so many contacts have a
spoiled counted chain and several attempts), in a fresh Python process per
run.  With ``--baseline DIR`` the package in ``DIR`` (for instance ``git
archive main funnelkit | tar -x -C DIR``) runs the same cases, the two taking
turns, and the table gives the ratio of this tree's CPU and wall time to the
baseline's, with each side's counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FUNNELS = {
    "distinct": ("page_view", "like", "ebook_download", "purchase"),
    "repeated": ("page_view", "page_view", "purchase"),
}

CHILD = """
import json, resource, sys, time
import duckdb, polars as pl
from funnelkit.conversion import Exclusion, funnel
path, engine, steps, rules = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
if engine == "duckdb":
    events = duckdb.connect().read_parquet(path)
else:
    events = pl.scan_parquet(path)
result = funnel(events, steps, window="14d", rules=rules,
                exclusions=[Exclusion("outreach_sent", 1, 2)])
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"seconds": seconds, "cpu": cpu,
                  "counts": result.table["count"].to_list(), "excluded": result.excluded}))
"""


def _run(path: Path, engine: str, steps: tuple[str, ...], rules: str, src: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": src}
    cmd = [sys.executable, "-c", CHILD, str(path), engine, ",".join(steps), rules]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd="/")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    """Run the cases and print one line per case: medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-data"))
    parser.add_argument("--sizes", default="1M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="polars,duckdb")
    parser.add_argument("--funnels", default="distinct,repeated")
    parser.add_argument("--rules", default="funnelkit")
    parser.add_argument("--baseline", default=None)
    args = parser.parse_args()
    tree = str(HERE.parent)
    sides = {"after": tree} | ({"before": args.baseline} if args.baseline else {})
    for size in args.sizes.split(","):
        n = int(float(size.rstrip("M")) * 1_000_000)
        path = args.data / f"events_{n}.parquet"
        for name in args.funnels.split(","):
            for rules in args.rules.split(","):
                for engine in args.engines.split(","):
                    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
                    for _ in range(args.repeat):
                        for side, src in sides.items():
                            runs[side].append(_run(path, engine, FUNNELS[name], rules, src))
                    line = [f"{size} {name:9} {rules:10} {engine:7}"]
                    for side, done in runs.items():
                        cpu = statistics.median(r["cpu"] for r in done)
                        wall = statistics.median(r["seconds"] for r in done)
                        line.append(
                            f"{side}: cpu {cpu:6.2f} s wall {wall:6.2f} s "
                            f"counts {done[0]['counts']} excluded {done[0]['excluded']}"
                        )
                    if "before" in runs:
                        ratio_cpu = statistics.median(r["cpu"] for r in runs["after"]) / (
                            statistics.median(r["cpu"] for r in runs["before"])
                        )
                        ratio_wall = statistics.median(r["seconds"] for r in runs["after"]) / (
                            statistics.median(r["seconds"] for r in runs["before"])
                        )
                        line.append(f"after/before: cpu {ratio_cpu:.2f}x wall {ratio_wall:.2f}x")
                    print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
