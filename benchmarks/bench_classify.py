"""Benchmark: classify a large event log, beside the same query in DuckDB (and chdb).

Usage::

    python benchmarks/bench_classify.py                  # 10M and 50M events, 3 runs each
    python benchmarks/bench_classify.py --sizes 1M --repeat 1
    python benchmarks/bench_classify.py --cases classify_current,duckdb

The logs are drawn once with :func:`funnelkit.sample.write_large_log` into
``benchmarks/data/`` (git-ignored; ``--data-dir`` elsewhere) and read from
Parquet by every case, so each figure is a whole query from the file.  Each
run is a fresh Python process: its wall time, its CPU time (user + system, all
threads) and its peak memory (``VmHWM``: peak resident set, the imports
included) are measured inside it.
The table shows the median times and the largest peak over the runs.  On a
shared machine, CPU time is the steadier figure.

Cases
-----
``scan``
    Read ``contact_id``, ``occurred_at``, ``event`` and nothing else (the floor).
``polars_floor``
    ``group_by("contact_id").agg(pl.len())``, streaming: no stage logic at all,
    the least any polars classification of every contact can cost.
``polars_naive``
    Group by contact and event name, then map names to ranks (in-memory engine).
``classify_current``
    ``classify(..., entry_times=False)``, streaming: the current stage and the
    last activity of every contact (``partitions="auto"``, the default).
``classify_full``
    ``classify(...)`` with every ``<stage>_at`` column, streaming.  Given a
    Parquet file read whole, both run the core's plan on DuckDB under a memory
    limit (``funnelkit.classify_files``).
``classify_current_polars``, ``classify_full_polars``
    The same on polars alone (the DuckDB route declined): polars' own
    aggregation in ``partitions="auto"`` hash groups.
``classify_current@4``, ``classify_full@4``
    The same with ``partitions=4`` (contacts aggregated in 4 groups, one after
    the other: less memory, one more read of the file per group); ``@1``: one
    group whatever the size.
``duckdb`` / ``chdb``
    The same "highest stage per contact" query in SQL, built from the same
    definition (chdb is optional: ``pip install chdb``).
``duckdb_columns``
    DuckDB computing what ``classify_current`` returns: the stage id, its
    rank and the last activity (the latest event the definition names).
``duckdb_full``
    DuckDB computing what ``classify_full`` returns: ``duckdb_columns`` and
    the first time each stage was reached (the first event of that stage's
    rank or a deeper one; the first event at all for the entry stage).
``duckdb_columns_pl``, ``duckdb_full_pl``
    The same two queries, their result handed over as a polars frame (DuckDB's
    ``.pl()``), as ``classify`` hands its result over: the same columns in the
    same place.
``classify_on_duckdb``, ``classify_full_on_duckdb``
    ``classify(relation, ...)`` given a DuckDB relation over the file, the
    current stage only or every column: funnelkit's one core run by DuckDB,
    the rows collected to polars.

``--funnel`` chooses the definition (``sales`` by default: its rules are all
"any of these events", which SQL expresses directly; ``inbound`` adds a
decaying points score and an inactivity rule, which the SQL cases skip).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CASES = (
    "scan",
    "polars_floor",
    "polars_naive",
    "classify_current",
    "classify_full",
    "classify_current_polars",
    "classify_full_polars",
    "duckdb",
    "duckdb_columns",
    "duckdb_full",
    "duckdb_columns_pl",
    "duckdb_full_pl",
    "classify_on_duckdb",
    "classify_full_on_duckdb",
    "chdb",
)
DEFAULT_CASES = (*CASES, "classify_current@4", "classify_full@4")
SQL_CASES = (
    "duckdb",
    "duckdb_columns",
    "duckdb_full",
    "duckdb_columns_pl",
    "duckdb_full_pl",
    "chdb",
)


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _log_path(n: int, data: Path = DATA) -> Path:
    path = data / f"events_{n}.parquet"
    if not path.exists():
        print(f"drawing {n:,} events into {path} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        code = "import sys; from funnelkit.sample import write_large_log as w; "
        code += "w(sys.argv[1], int(sys.argv[2]))"
        subprocess.run([sys.executable, "-c", code, str(path), str(n)], check=True)
        print(f"  done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return path


# --- SQL built from the definition ---------------------------------------------------------
def _sql_rank(funnel_name: str) -> str:
    """A CASE expression giving each event's stage rank (simple rules only)."""
    from funnelkit.definitions import EventRule, load_funnel

    funnel = load_funnel(funnel_name)
    whens = []
    for rank in range(len(funnel.stages), 1, -1):
        stage = funnel.stages[rank - 1]
        if stage.lapse is not None:
            msg = f"stage {stage.id!r} lapses; this benchmark's SQL has no inactivity rule"
            raise SystemExit(msg)
        for cond in stage.conditions:
            if not isinstance(cond, EventRule) or cond.min_count != 1:
                msg = f"stage {stage.id!r}: {cond.describe()} is not a plain SQL CASE"
                raise SystemExit(msg)
            names = ", ".join(f"'{e}'" for e in cond.events)
            test = f"event IN ({names})"
            for flt in cond.where:
                if flt.op in ("in", "not in") or not isinstance(flt.value, int | float):
                    msg = f"this benchmark writes only numeric comparisons in SQL, not {flt}"
                    raise SystemExit(msg)
                op = "=" if flt.op == "==" else flt.op
                test += f" AND {flt.column} {op} {flt.value}"
            whens.append(f"WHEN {test} THEN {rank}")
    return "CASE " + " ".join(whens) + " ELSE 1 END"


def _sql_columns(funnel_name: str, source: str) -> str:
    """The columns of ``classify(..., entry_times=False)``: stage, rank, last activity."""
    from funnelkit.definitions import load_funnel

    funnel = load_funnel(funnel_name)
    names = ", ".join(f"'{e}'" for e in sorted(funnel.event_names))
    stage = " ".join(f"WHEN {k} THEN '{s}'" for k, s in enumerate(funnel.stage_ids, start=1))
    return (
        f"SELECT contact_id, CASE r {stage} END AS stage, r AS stage_rank, "
        f"act AS last_activity_at FROM (SELECT contact_id, max({_sql_rank(funnel_name)}) AS r, "
        f"max(CASE WHEN event IN ({names}) THEN occurred_at END) AS act "
        f"FROM {source} GROUP BY contact_id)"
    )


def _sql_full(funnel_name: str, source: str) -> str:
    """Every column of ``classify(...)``: ``_sql_columns`` and each ``<stage>_at``."""
    from funnelkit.definitions import load_funnel

    funnel = load_funnel(funnel_name)
    ids = funnel.stage_ids
    names = ", ".join(f"'{e}'" for e in sorted(funnel.event_names))
    stage = " ".join(f"WHEN {k} THEN '{s}'" for k, s in enumerate(ids, start=1))
    reached = ", ".join(
        f"min(CASE WHEN rk >= {k} THEN occurred_at END) AS t{k}" for k in range(2, len(ids) + 1)
    )
    times = ", ".join(f"t{k} AS {ids[k - 1]}_at" for k in range(2, len(ids) + 1))
    return (
        f"SELECT contact_id, CASE r {stage} END AS stage, r AS stage_rank, "
        f"first AS {ids[0]}_at, {times}, act AS last_activity_at FROM ("
        f"SELECT contact_id, max(rk) AS r, min(occurred_at) AS first, {reached}, "
        f"max(CASE WHEN event IN ({names}) THEN occurred_at END) AS act FROM ("
        f"SELECT contact_id, occurred_at, event, {_sql_rank(funnel_name)} AS rk FROM {source}) "
        "GROUP BY contact_id)"
    )


def _sql(funnel_name: str, source: str) -> str:
    return (
        f"SELECT contact_id, max({_sql_rank(funnel_name)}) AS stage_rank "
        f"FROM {source} GROUP BY contact_id"
    )


# --- one run, in a child process -------------------------------------------------------------
def _child(case: str, path: Path, funnel_name: str) -> dict[str, float]:
    import resource

    case, _, parts = case.partition("@")
    partitions: int | str = int(parts) if parts else "auto"
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    rows: int
    if case.endswith("_polars"):
        from funnelkit.core.accelerators import ACCELERATORS

        ACCELERATORS[("classify", "polars")] = ()  # polars' own groups
        case = case.removesuffix("_polars")
    if case in ("scan", "polars_floor", "polars_naive", "classify_current", "classify_full"):
        import polars as pl

        lf = pl.scan_parquet(path)
        if case == "scan":
            rows = (
                lf.select("contact_id", "occurred_at", "event").collect(engine="streaming").height
            )
        elif case == "polars_floor":
            rows = lf.group_by("contact_id").agg(pl.len()).collect(engine="streaming").height
        elif case == "polars_naive":
            from funnelkit.definitions import load_funnel

            funnel = load_funnel(funnel_name)
            ranks = {
                e: k
                for k, stage in enumerate(funnel.stages, start=1)
                for c in stage.conditions
                for e in c.event_names
            }
            pairs = lf.group_by("contact_id", "event").agg(pl.len()).collect()
            rows = (
                pairs.with_columns(
                    r=pl.col("event").replace_strict(ranks, default=1, return_dtype=pl.Int32)
                )
                .group_by("contact_id")
                .agg(pl.col("r").max())
                .height
            )
        else:
            from funnelkit.definitions import load_funnel
            from funnelkit.stages import classify

            out = classify(
                lf,
                load_funnel(funnel_name),
                entry_times=case == "classify_full",
                partitions=partitions,
            )
            rows = out.collect(engine="streaming").height
    elif case.removesuffix("_pl") in ("duckdb", "duckdb_columns", "duckdb_full"):
        import duckdb

        query, to_polars = case.removesuffix("_pl"), case.endswith("_pl")
        build = {"duckdb": _sql, "duckdb_columns": _sql_columns, "duckdb_full": _sql_full}[query]
        relation = duckdb.connect().sql(build(funnel_name, f"read_parquet('{path}')"))
        rows = relation.pl().height if to_polars else relation.to_arrow_table().num_rows
    elif case in ("classify_on_duckdb", "classify_full_on_duckdb"):
        import duckdb

        from funnelkit.definitions import load_funnel
        from funnelkit.stages import classify

        relation = duckdb.connect().sql(f"SELECT * FROM read_parquet('{path}')")
        found = classify(
            relation,  # type: ignore[arg-type]
            load_funnel(funnel_name),
            entry_times=case == "classify_full_on_duckdb",
        )
        rows = found.collect().height
    elif case == "chdb":
        import chdb  # type: ignore[import-not-found]

        result = chdb.query(_sql(funnel_name, f"file('{path}', Parquet)"), "ArrowTable")
        rows = result.num_rows
    else:
        msg = f"unknown case {case!r}"
        raise SystemExit(msg)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"seconds": seconds, "cpu": cpu, "rows": rows, "peak_gb": _peak_gb()}


def _peak_gb() -> float:
    """Peak resident memory of this process (Linux ``VmHWM``; else ``ru_maxrss``).

    ``ru_maxrss`` of a child starts at its parent's peak, so the parent would
    leak into every figure; ``VmHWM`` belongs to this process's own memory map.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _available(case: str) -> bool:
    if case != "chdb":
        return True
    try:
        import chdb  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def _run(case: str, path: Path, funnel_name: str) -> tuple[float, float, float, int]:
    """Run one case in a fresh process: (seconds, CPU seconds, peak GB, result rows)."""
    cmd = [sys.executable, __file__, "--child", case, "--path", str(path), "--funnel", funnel_name]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"{case} failed:\n{done.stderr}"
        raise SystemExit(msg)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["cpu"], result["peak_gb"], int(result["rows"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10M,50M", help="event counts, e.g. 1M,10M,50M")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median time)")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help="comma-separated cases")
    parser.add_argument("--funnel", default="sales", help="preset or TOML file to classify under")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="where the logs are cached")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, Path(args.path), args.funnel)))
        return 0

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted({c.partition("@")[0] for c in cases} - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    results = []
    print(f"funnel: {args.funnel}; {args.repeat} run(s) per case; {os.cpu_count()} CPU(s)")
    head = f"{'events':>12}  {'case':<20}  {'median s':>8}  {'cpu s':>6}  {'runs s':<20}"
    print(f"{head}  {'peak GB':>7}  rows")
    for n in (_size(s) for s in args.sizes.split(",")):
        path = _log_path(n, args.data_dir)
        for case in cases:
            if not _available(case.partition("@")[0]):
                print(f"{n:>12,}  {case:<20}  skipped: not installed")
                continue
            if case.partition("@")[0] in SQL_CASES:
                try:
                    _sql_rank(args.funnel)
                except SystemExit as exc:
                    print(f"{n:>12,}  {case:<20}  skipped: {exc}")
                    continue
            runs = [_run(case, path, args.funnel) for _ in range(args.repeat)]
            seconds = [r[0] for r in runs]
            cpu = statistics.median(r[1] for r in runs)
            peak = max(r[2] for r in runs)
            rows = runs[0][3]
            runs_text = " ".join(f"{s:.2f}" for s in seconds)
            print(
                f"{n:>12,}  {case:<20}  {statistics.median(seconds):>8.2f}  {cpu:>6.2f}  "
                f"{runs_text:<20}  {peak:>7.2f}  {rows:,}",
                flush=True,
            )
            results.append(
                {
                    "events": n,
                    "case": case,
                    "seconds": seconds,
                    "cpu_seconds": [r[1] for r in runs],
                    "peak_gb": peak,
                    "rows": rows,
                }
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
