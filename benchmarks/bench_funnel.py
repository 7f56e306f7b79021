"""Benchmark: a 4-step ordered funnel with a 14-day window, funnelkit vs DuckDB vs ClickHouse.

Generates (or reuses) synthetic Parquet event logs of 1M, 10M and 50M rows in
``benchmarks/data/`` (``funnelkit.sample.write_large_log``, the log
``bench_classify.py`` reads too) and times, for each, the whole query from the
Parquet file, ``--repeat`` times in a fresh process per engine, the engines
taking turns ``--rounds`` times.  It prints the median wall time, the median
CPU time (all threads; steadier than wall time on a busy machine) and the peak
resident memory of the process:

- ``funnelkit``: ``funnel(pl.scan_parquet(path), steps, window="14d")``, the
  public function (counts, rates, intervals and time to convert);
- ``duckdb``: the same rule in SQL, one ASOF JOIN per step (optional);
- ``clickhouse``: ``windowFunnel(14 days)`` through chdb (optional).

Counts must agree across engines; the script says so, or fails.  DuckDB and
chdb are benchmark dependencies (``pip install -e '.[bench]'``), not runtime
ones: an engine that is not installed is skipped.

Usage::

    python benchmarks/bench_funnel.py                 # 1M, 10M and 50M events
    python benchmarks/bench_funnel.py --sizes 1M,10M --repeat 3 --rounds 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
STEPS = ("page_view", "like", "ebook_download", "purchase")
WINDOW_DAYS = 14
ENGINES = ("funnelkit", "duckdb", "clickhouse")
MODULES = {"funnelkit": "polars", "duckdb": "duckdb", "clickhouse": "chdb"}


def _size(text: str) -> int:
    text = text.strip().upper()
    factor = {"K": 10**3, "M": 10**6}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * factor)


def _label(n: int) -> str:
    return f"{n // 10**6}M" if n % 10**6 == 0 else f"{n:,}"


def ensure_log(n: int) -> Path:
    """Return the Parquet log of ``n`` events, writing it first if needed."""
    path = DATA / f"events_{n}.parquet"  # the name bench_classify.py uses too
    if path.exists():
        return path
    print(f"writing {path} ...", file=sys.stderr, flush=True)
    # in a child process, so that this one stays small (its size would show in
    # the peak memory of the engines it starts)
    code = (
        "import sys; from pathlib import Path\n"
        "try:\n"
        "    from funnelkit.sample import write_large_log\n"
        "except ImportError:\n"
        "    sys.path.insert(0, sys.argv[3]); from bench_funnel import _write_random_log\n"
        "    _write_random_log(Path(sys.argv[1]), int(sys.argv[2]))\n"
        "else:\n"
        "    write_large_log(sys.argv[1], int(sys.argv[2]))\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(path), str(n), str(Path(__file__).parent)], check=True
    )
    return path


def _write_random_log(path: Path, n: int, seed: int = 7) -> Path:
    """Fallback log: uniform contacts, exponential delays, the sample's vocabulary."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    events = ["page_view", "like", "ebook_download", "purchase", "newsletter_signup", "call"]
    weights = np.array([45, 15, 8, 4, 8, 20], dtype=float)
    contacts = max(n // 4, 1)
    contact = rng.integers(0, contacts, n)
    start = np.datetime64("2025-11-24T00:00:00", "s").astype(np.int64)
    first = start + rng.integers(0, 364 * 86400, contacts)
    ts = first[contact] + rng.exponential(10 * 86400, n).astype(np.int64)
    frame = pl.DataFrame(
        {
            "contact_id": pl.Series(contact).cast(pl.String).str.zfill(8),
            "occurred_at": pl.Series(ts * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "event": pl.Series(
                rng.choice(len(events), n, p=weights / weights.sum())
            ).replace_strict(list(range(len(events))), events, return_dtype=pl.String),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


# --- one engine, in its own process --------------------------------------------------
def run_funnelkit(path: Path) -> list[int]:
    import polars as pl

    from funnelkit.conversion import funnel

    result = funnel(pl.scan_parquet(path), list(STEPS), window=f"{WINDOW_DAYS}d")
    return [int(c) for c in result.table["count"]]


def run_duckdb(path: Path) -> list[int]:
    import duckdb

    names = ", ".join(f"'{s}'" for s in STEPS)
    parts = [
        f"e AS (SELECT contact_id, occurred_at AS ts, event FROM read_parquet('{path}') "
        f"WHERE event IN ({names}))",
        f"s1 AS (SELECT DISTINCT contact_id, ts, ts AS start FROM e WHERE event = '{STEPS[0]}')",
    ]
    for k, step in enumerate(STEPS[1:], start=2):
        parts.append(
            f"s{k} AS (SELECT b.contact_id, b.ts, p.start FROM "
            f"(SELECT DISTINCT contact_id, ts FROM e WHERE event = '{step}') b "
            f"ASOF JOIN s{k - 1} p ON b.contact_id = p.contact_id AND b.ts >= p.ts "
            f"WHERE b.ts <= p.start + INTERVAL {WINDOW_DAYS} DAY)"
        )
    counts = ", ".join(
        f"(SELECT count(DISTINCT contact_id) FROM s{k})" for k in range(1, len(STEPS) + 1)
    )
    query = "WITH " + ",\n".join(parts) + f"\nSELECT {counts}"
    con = duckdb.connect()
    row = con.execute(query).fetchone()
    assert row is not None
    return [int(c) for c in row]


def run_clickhouse(path: Path) -> list[int]:
    import chdb

    conditions = ", ".join(f"event = '{s}'" for s in STEPS)
    query = (
        "SELECT level, count() AS n FROM ("
        f"SELECT contact_id, windowFunnel({WINDOW_DAYS * 86400})(toDateTime(occurred_at), "
        f"{conditions}) AS level FROM file('{path}', Parquet) GROUP BY contact_id) "
        "GROUP BY level ORDER BY level"
    )
    text = str(chdb.query(query, "CSV"))
    per_level = {int(a): int(b) for a, b in (line.split(",") for line in text.split())}
    return [sum(v for level, v in per_level.items() if level >= k) for k in range(1, 5)]


RUNNERS: dict[str, Callable[[Path], list[int]]] = {
    "funnelkit": run_funnelkit,
    "duckdb": run_duckdb,
    "clickhouse": run_clickhouse,
}


def _rss_mb() -> float:
    """Peak resident memory of this process, in MB.

    Linux's ``VmHWM`` belongs to this process image only; ``ru_maxrss``, the
    fallback elsewhere, also counts the parent's size at fork time.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(engine: str, path: Path, repeat: int) -> dict[str, Any]:
    """Time ``repeat`` runs of one engine (called in a fresh process)."""
    runner = RUNNERS[engine]
    __import__(MODULES[engine])
    if engine == "funnelkit":
        import funnelkit.conversion  # noqa: F401
    base = _rss_mb()
    times: list[float] = []
    cpu: list[float] = []
    counts: list[int] = []
    for _ in range(repeat):
        used = _cpu_seconds()
        start = time.perf_counter()
        counts = runner(path)
        times.append(time.perf_counter() - start)
        cpu.append(_cpu_seconds() - used)
    return {
        "engine": engine,
        "seconds": statistics.median(times),
        "all_seconds": times,
        "cpu_seconds": statistics.median(cpu),
        "counts": counts,
        "peak_mb": _rss_mb(),
        "base_mb": base,
    }


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(engine: str, path: Path, repeat: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", engine, str(path), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [x for r in runs for x in r["all_seconds"]]
    return {
        "seconds": statistics.median(seconds),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "counts": runs[-1]["counts"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M,50M", help="event counts (1M,10M,50M)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per process (median shown)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="processes per engine, engines taking turns (1)"
    )
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        engine, path = args.worker
        print(json.dumps(worker(engine, Path(path), args.repeat)))
        return 0
    engines = []
    for engine in args.engines.split(","):
        if importlib.util.find_spec(MODULES[engine]) is None:
            print(f"{engine}: {MODULES[engine]} is not installed, skipped")
        else:
            engines.append(engine)
    print(
        f"{len(STEPS)}-step ordered funnel {' -> '.join(STEPS)}, window {WINDOW_DAYS} days; "
        f"whole query from Parquet, median of {args.rounds} x {args.repeat} runs "
        f"({args.rounds} process(es) per engine, taking turns); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = (
        f"{'events':>7}  {'engine':<10}  {'seconds':>8}  {'CPU s':>6}  {'peak MB':>8}  "
        "vs clickhouse: time, memory"
    )
    print(header)
    ok = True
    for size in (_size(s) for s in args.sizes.split(",")):
        path = ensure_log(size)
        runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
        for _ in range(args.rounds):  # engines take turns: a busy machine hurts all alike
            for e in engines:
                runs[e].append(measure(e, path, args.repeat))
        results = {e: _merge(r) for e, r in runs.items()}
        reference = results.get("clickhouse")
        for engine, r in results.items():
            ratio = ""
            if reference is not None:
                ratio = (
                    f"{r['seconds'] / reference['seconds']:.2f}x, "
                    f"{r['peak_mb'] / reference['peak_mb']:.2f}x"
                )
            print(
                f"{_label(size):>7}  {engine:<10}  {r['seconds']:8.2f}  {r['cpu_seconds']:6.2f}  "
                f"{r['peak_mb']:8.0f}  {ratio}"
            )
        counts = {e: tuple(r["counts"]) for e, r in results.items()}
        same = len(set(counts.values())) == 1
        ok &= same
        print(
            f"{'':>7}  counts {list(next(iter(counts.values())))}: "
            + ("identical across engines" if same else f"DIFFER: {counts}")
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
