"""Benchmark: the engine-neutral (narwhals) plans run on polars, beside the polars plans.

Usage::

    python benchmarks/bench_core.py                       # 1M and 10M events, 3 runs each
    python benchmarks/bench_core.py --sizes 1M --repeat 1
    python benchmarks/bench_core.py --data /tmp/bench-data --cases classify_polars,classify_generic
    python benchmarks/bench_core.py --cases classify_polars,funnel_polars --baseline /tmp/main-src
    python benchmarks/bench_core.py --cases classify_polars --preset inbound --baseline /tmp/old

The question it answers: can the code :mod:`funnelkit.engines` runs on DuckDB
and Spark (narwhals lazy expressions) replace the polars code of
:mod:`funnelkit.stages` and :mod:`funnelkit.conversion` when the events are a
polars ``LazyFrame``, and at what cost?  Each case reads the same Parquet log
(drawn once with :func:`funnelkit.sample.write_large_log`) and runs the whole
query from the file, in a fresh Python process per run; the table shows the
median wall time, the median CPU time (user + system, all threads) and the
ratio of the generic plan to the polars plan.

Cases
-----
``classify_polars``
    ``stages.classify(pl.scan_parquet(path), funnel)``, every ``<stage>_at``
    column, collected with the streaming engine (since classification runs
    the core on polars, compare it with ``--baseline`` to an older package).
``classify_generic``
    The engines' classification plan on the same polars ``LazyFrame``
    (through ``narwhals.from_native``), collected with the streaming engine.

The classify cases use the ``sales`` preset, or ``--preset inbound`` (points
and inactivity rules: the score path).
``funnel_polars``
    ``conversion.funnel(pl.scan_parquet(path), STEPS, window="14d")``: the
    sort-key kernel, counts and time to convert.
``funnel_generic``
    The core's chain plan (:mod:`funnelkit.core.chains`, per-instant window
    functions, what DuckDB and Spark run) on the same polars ``LazyFrame``:
    counts and time to convert, one query.

``funnel_repeated``, ``funnel_repeated_clickhouse``
    ``conversion.funnel`` over ``REPEATED`` (a repeated step): one event
    fills one step (the default rules: the core's plan on polars) beside
    ``rules="clickhouse"`` (the sort-key kernel); their counts differ.

``classify_duckdb``, ``funnel_duckdb``
    The public ``classify`` and ``funnel`` given a DuckDB relation over the
    same file (the engine path).

``weekly_polars``, ``weekly_duckdb``
    ``weekly.weekly_metrics`` of the ``inbound`` preset for the log's last
    complete week (12 weeks of history): on the :class:`~funnelkit.events.EventLog`
    of ``read_events(path)``, and on a DuckDB relation over the same file.

Both plans of one analysis must give the same numbers; the script checks the
step counts of the funnels and the stage counts of the classifications.

``--baseline DIR`` also runs every case on the package found in ``DIR`` (for
instance ``git archive main funnelkit | tar -x -C DIR``), the two versions
taking turns, and prints the ratio of this tree's time to the baseline's: the
before/after figures of a change, on one machine in one run.
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
from typing import Any

HERE = Path(__file__).resolve().parent
STEPS = ("page_view", "like", "ebook_download", "purchase")
WINDOW = "14d"
REPEATED = ("page_view", "page_view", "purchase")
CASES = (
    "classify_polars",
    "classify_generic",
    "funnel_polars",
    "funnel_generic",
    "funnel_repeated",
    "funnel_repeated_clickhouse",
    "classify_duckdb",
    "funnel_duckdb",
    "weekly_polars",
    "weekly_duckdb",
)
PRESET = os.environ.get("FUNNELKIT_BENCH_PRESET", "sales")  # the classify cases' definition
PAIRS = (("classify_generic", "classify_polars"), ("funnel_generic", "funnel_polars"))


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _log_path(data: Path, n: int) -> Path:
    path = data / f"events_{n}.parquet"  # the name bench_classify.py uses too
    if not path.exists():
        print(f"drawing {n:,} events into {path} ...", file=sys.stderr, flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        code = "import sys; from funnelkit.sample import write_large_log as w; "
        code += "w(sys.argv[1], int(sys.argv[2]))"
        subprocess.run([sys.executable, "-c", code, str(path), str(n)], check=True)
    return path


def _generic_frame(path: Path) -> Any:
    """The engines' view of a polars scan: ``contact_id``, ``_ts`` (µs), ``event``..."""
    import narwhals as nw
    import polars as pl

    from funnelkit.engine_frames import EngineFrame

    lf = pl.scan_parquet(path).with_columns(
        pl.col("contact_id").cast(pl.String),
        pl.col("event").cast(pl.String),
        _ts=pl.col("occurred_at").dt.epoch("us"),
    )
    schema = pl.Schema({k: v for k, v in lf.collect_schema().items() if k != "_ts"})
    return EngineFrame(nw.from_native(lf.drop("occurred_at")), "duckdb", schema)


def _child(case: str, path: Path) -> dict[str, Any]:
    import resource

    import narwhals as nw
    import polars as pl

    # The analyses are imported before the clock starts: the figures time the
    # query, not which modules an older package happened to import already.
    import funnelkit.conversion
    import funnelkit.stages  # noqa: F401
    from funnelkit.definitions import load_funnel

    if case.endswith("generic"):
        import funnelkit.core.chains
        import funnelkit.engine_classify  # noqa: F401
    if case.endswith("duckdb"):
        import duckdb  # noqa: F401
    week = None
    if case.startswith("weekly"):
        from funnelkit.weekly import last_complete_week

        week = last_complete_week(pl.scan_parquet(path))

    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    check: list[int]
    if case == "classify_polars":
        from funnelkit.stages import classify

        out = classify(pl.scan_parquet(path), load_funnel(PRESET))
        df = out.collect(engine="streaming")
        check = df["stage_rank"].value_counts().sort("stage_rank")["count"].to_list()
    elif case == "classify_generic":
        from funnelkit.engine_classify import classify_frame

        funnel = load_funnel(PRESET)
        plan = classify_frame(
            _generic_frame(path), funnel, cut=None, contacts=None, entry_times=True
        )
        df = nw.to_native(plan).collect(engine="streaming")
        check = df["stage_rank"].value_counts().sort("stage_rank")["count"].to_list()
    elif case == "funnel_polars":
        from funnelkit.conversion import funnel

        result = funnel(pl.scan_parquet(path), list(STEPS), window=WINDOW)
        check = [int(c) for c in result.table["count"]]
    elif case in ("funnel_repeated", "funnel_repeated_clickhouse"):
        from funnelkit.conversion import funnel

        rules = "clickhouse" if case.endswith("clickhouse") else "funnelkit"
        result = funnel(pl.scan_parquet(path), list(REPEATED), window=WINDOW, rules=rules)
        check = [int(c) for c in result.table["count"]]
    elif case == "funnel_generic":
        from funnelkit.core.chains import counted_chains, durations_query, nw_spec

        ns = nw_spec(list(STEPS), WINDOW, "ordered", False, ())
        chains = counted_chains(_generic_frame(path), ns, since=None, until=None)
        query, _, _, _ = durations_query(chains, ns.spec, counts=True)
        row = nw.to_native(query).collect(engine="streaming").row(0, named=True)
        check = [int(row[f"c{k}"]) for k in range(1, len(STEPS) + 1)]
    elif case in ("classify_duckdb", "funnel_duckdb"):
        import duckdb

        rel = duckdb.connect().sql(f"SELECT * FROM read_parquet('{path}')")
        if case == "classify_duckdb":
            from funnelkit.stages import classify

            df = classify(rel, load_funnel(PRESET)).collect()  # type: ignore[arg-type]
            check = df["stage_rank"].value_counts().sort("stage_rank")["count"].to_list()
        else:
            from funnelkit.conversion import funnel

            result = funnel(rel, list(STEPS), window=WINDOW)  # type: ignore[arg-type]
            check = [int(c) for c in result.table["count"]]
    elif case in ("weekly_polars", "weekly_duckdb"):
        from funnelkit.weekly import weekly_metrics

        if case == "weekly_polars":
            from funnelkit.events import read_events

            events: Any = read_events(path)
        else:
            import duckdb

            events = duckdb.connect().sql(f"SELECT * FROM read_parquet('{path}')")
        metrics = weekly_metrics(events, "inbound", week=week)  # type: ignore[arg-type]
        check = [int(k.value) for k in metrics.headline if k.kind == "count"]
        check += [int(k.successes or 0) for k in metrics.headline if k.kind == "rate"]
        check += [int(c) for c in metrics.conversion.table["count"]]
    else:
        msg = f"unknown case {case!r}"
        raise SystemExit(msg)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"seconds": seconds, "cpu": cpu, "check": check}


def _run(case: str, path: Path, src: str | None = None) -> dict[str, Any]:
    """Run one case in a fresh process, on the package in ``src`` if given."""
    cmd = [sys.executable, __file__, "--child", case, "--path", str(path)]
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        msg = f"{case} failed:\n{done.stderr}"
        raise SystemExit(msg)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="1M,10M", help="event counts, e.g. 1M,10M")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--data", default=str(HERE / "data"), help="folder of the Parquet logs")
    parser.add_argument("--baseline", help="folder holding another funnelkit to compare with")
    parser.add_argument("--preset", default="sales", help="definition of the classify cases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, Path(args.path))))
        return 0
    os.environ["FUNNELKIT_BENCH_PRESET"] = args.preset  # the children read it
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    print(
        f"preset {args.preset!r}; {args.repeat} run(s) per case, cases taking turns; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)"
    )
    print(f"{'events':>12}  {'case':<22}  {'median s':>8}  {'cpu s':>6}  runs s")
    ok = True
    for n in (_size(s) for s in args.sizes.split(",")):
        path = _log_path(Path(args.data), n)
        labels = [
            c for case in cases for c in ([case, f"{case}@base"] if args.baseline else [case])
        ]
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in labels}
        for _ in range(args.repeat):  # cases take turns: a busy machine hurts all alike
            for label in labels:
                case, _, base = label.partition("@")
                runs[label].append(_run(case, path, args.baseline if base else None))
        wall = {c: statistics.median(r["seconds"] for r in rs) for c, rs in runs.items()}
        cpu = {c: statistics.median(r["cpu"] for r in rs) for c, rs in runs.items()}
        for case, rs in runs.items():
            text = " ".join(f"{r['seconds']:.2f}" for r in rs)
            print(f"{n:>12,}  {case:<22}  {wall[case]:>8.2f}  {cpu[case]:>6.2f}  {text}")
        for case in cases if args.baseline else ():
            same = runs[case][0]["check"] == runs[f"{case}@base"][0]["check"]
            ok &= same
            print(
                f"{n:>12,}  {case} / baseline: {wall[case] / wall[f'{case}@base']:.2f}x wall, "
                f"{cpu[case] / cpu[f'{case}@base']:.2f}x CPU; counts "
                + ("identical" if same else "DIFFER"),
                flush=True,
            )
        for generic, polars in PAIRS:
            if generic in runs and polars in runs:
                same = runs[generic][0]["check"] == runs[polars][0]["check"]
                ok &= same
                print(
                    f"{n:>12,}  {generic} / {polars}: {wall[generic] / wall[polars]:.2f}x wall, "
                    f"{cpu[generic] / cpu[polars]:.2f}x CPU; counts "
                    + ("identical" if same else "DIFFER")
                    + f" {runs[polars][0]['check']}",
                    flush=True,
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
