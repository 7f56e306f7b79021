"""Benchmark: the path users take (CLI, notebook, report), beside ClickHouse (chdb) and DuckDB.

Usage::

    python benchmarks/bench_user_path.py                         # 1M events, every shape
    python benchmarks/bench_user_path.py --events 1e6,1e7 --json user_path.json
    python benchmarks/bench_user_path.py --shapes few --ids int --cases cli,chdb --repeat 1

Data shapes
-----------
Drawn once with :func:`funnelkit.sample.write_large_log` into
``benchmarks/data/`` (git-ignored; ``--data-dir`` elsewhere), then derived:

``many``
    The drawn log as written: many contacts with few events (about 4 each),
    rows sorted by time within chunks of contacts.
``few``
    The same events given to few contacts: the drawn contacts are merged into
    ``events / 150`` contacts with log-normal weights, so a contact holds 150
    events on average (median about 75) and a few hold thousands (heavy-tailed).
``unsorted``
    The drawn log with its rows shuffled: a file not sorted by time.

Each shape is written with string ids (``c0000123``) and with integer ids
(``123``), ``--ids`` choosing.

Cases
-----
Every run is a fresh process, started ``--repeat`` times, the cases taking
turns; the table shows the median wall time, the median CPU time of the
process and its children (user + system, all threads: the steadier figure on a
busy machine) and the largest resident set seen by a watchdog polling the
process and its children every 0.1 s.

``cli``
    ``funnelkit funnel FILE --steps page_view,like,ebook_download,purchase
    --window 14d --format json``, the whole process, the first reading of the
    file (an empty cache folder: it validates).
``cli_again``
    The same command run a second time on the unchanged file, with the cache
    folder the first run left (its receipt: the file is not validated again);
    only the second process is measured.
``chdb`` / ``duckdb``
    The same ordered funnel in a fresh Python process: ClickHouse's
    ``windowFunnel`` through chdb, DuckDB's ASOF JOIN query (both from
    ``bench_funnel.py``) on the same Parquet file.  Their counts must equal
    the CLI's; a difference is printed loudly and the exit code is 1.
``notebook``
    One process: ``read_events`` + a first ``funnel`` (14 days), a second
    ``funnel`` on the same log (7 days), then ``log.summary()`` twice; each
    step timed inside the process (the whole process too).
``report``
    ``funnelkit report --events FILE --funnel sales`` of the last complete
    week, the whole process (its Jupyter kernel included).
``classify`` / ``classify_duckdb``
    ``classify(read_events(FILE), sales, entry_times=False)`` collected with
    the streaming engine, and DuckDB computing the same columns (the SQL of
    ``bench_classify.py``), each a whole process; the contacts per stage must
    agree.

Ratios are funnelkit / chdb, both whole processes, as the targets state them
(classify: funnelkit / DuckDB).  Run ``pip install -e '.[bench]'`` first.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_funnel import STEPS, WINDOW_DAYS
from watched import run_watched, status_gib

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SHAPES = ("many", "few", "unsorted")
IDS = ("string", "int")
CASES = (
    "cli",
    "cli_again",
    "chdb",
    "duckdb",
    "notebook",
    "report",
    "classify",
    "classify_duckdb",
)
OURS = ("cli", "cli_again", "notebook", "report", "classify")  # the cases that run funnelkit
FUNNEL = "sales"  # a preset whose events the drawn log holds, all plain SQL rules
EVENTS_PER_FEW_CONTACT = 150
# (label, case, phase or None for the whole process, reference case, target ratio)
ROWS: tuple[tuple[str, str, str | None, str, float | None], ...] = (
    ("cli funnel, whole process", "cli", None, "chdb", 1.0),
    ("cli funnel again, same file", "cli_again", None, "chdb", 1.0),
    ("chdb windowFunnel, whole process", "chdb", None, "chdb", None),
    ("duckdb funnel, whole process", "duckdb", None, "chdb", None),
    ("notebook: read_events + funnel", "notebook", "read_and_funnel", "chdb", None),
    ("notebook: second funnel", "notebook", "second_funnel", "chdb", 0.75),
    ("notebook: summary()", "notebook", "summary", "chdb", None),
    ("notebook: summary() again", "notebook", "summary_again", "chdb", None),
    ("notebook, whole process", "notebook", None, "chdb", None),
    ("report of one week, whole process", "report", None, "chdb", 10.0),
    ("classify, whole process", "classify", None, "classify_duckdb", 1.0),
    ("duckdb classify columns, whole", "classify_duckdb", None, "classify_duckdb", None),
)


def _count(text: str) -> int:
    """``1e6``, ``1M``, ``500k``, ``2000000`` -> an event count."""
    text = text.strip().upper()
    scale = {"K": 10**3, "M": 10**6}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


# --- the data shapes ------------------------------------------------------------------------------
def _derive(base: Path, out: Path, shape: str, ids: str, seed: int = 11) -> None:
    """Write ``shape`` of ``base`` with ``ids`` ids to ``out`` (run in a child process)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    frame = pl.read_parquet(base)
    number = pl.col("contact_id").str.strip_prefix("c").cast(pl.Int64)
    if shape == "few":
        drawn = frame.select(number.max()).item()
        contacts = max(frame.height // EVENTS_PER_FEW_CONTACT, 1)
        weights = rng.lognormal(0.0, 1.2, contacts)
        owner = rng.choice(contacts, size=drawn + 1, p=weights / weights.sum()) + 1
        merged = owner[frame.select(number).to_series().to_numpy()]
        width = len(str(contacts))
        frame = frame.with_columns(
            contact_id=pl.lit("c") + pl.Series(merged).cast(pl.String).str.zfill(width)
        )
    elif shape == "unsorted":
        frame = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    if ids == "int":
        frame = frame.with_columns(number)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    frame.write_parquet(tmp, compression="zstd")
    tmp.replace(out)
    per = (
        frame.group_by("contact_id")
        .len()
        .select(median=pl.col("len").median(), max=pl.col("len").max(), contacts=pl.len())
    )
    facts = {
        "events": frame.height,
        "contacts": per["contacts"].item(),
        "events_per_contact_median": per["median"].item(),
        "events_per_contact_max": per["max"].item(),
        "sorted_by_time": frame["occurred_at"].is_sorted(),
    }
    out.with_suffix(".json").write_text(json.dumps(facts))


def ensure_shape(data: Path, n: int, shape: str, ids: str) -> tuple[Path, dict[str, Any]]:
    """Return the Parquet file of ``shape`` and its facts, drawing and writing what is missing."""
    base = data / f"events_{n}.parquet"  # the name bench_funnel.py and bench_classify.py use
    if not base.exists():
        print(f"drawing {n:,} events into {base} ...", file=sys.stderr, flush=True)
        code = "import sys; from funnelkit.sample import write_large_log as w; "
        code += "w(sys.argv[1], int(sys.argv[2]))"
        subprocess.run([sys.executable, "-c", code, str(base), str(n)], check=True)
    out = data / f"user_path_{n}_{shape}_{ids}.parquet"
    if not out.exists() or out.stat().st_mtime < base.stat().st_mtime:
        print(f"writing {out} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, "--derive", str(base), str(out), shape, ids]
        subprocess.run(cmd, check=True)
    return out, dict(json.loads(out.with_suffix(".json").read_text()))


# --- the cases run inside a child process ---------------------------------------------------------
def _stage_counts(frame: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame.iter_rows()}


def _child(case: str, path: Path) -> dict[str, Any]:
    phases: dict[str, dict[str, float]] = {}
    out: dict[str, Any] = {"phases": phases}

    def timed(name: str, start: float, cpu: float) -> None:
        phases[name] = {
            "seconds": time.perf_counter() - start,
            "cpu": time.process_time() - cpu,
        }

    if case == "chdb":
        from bench_funnel import run_clickhouse

        out["counts"] = run_clickhouse(path)
    elif case == "duckdb":
        from bench_funnel import run_duckdb

        out["counts"] = run_duckdb(path)
    elif case == "notebook":
        from funnelkit import read_events
        from funnelkit.conversion import funnel

        start, cpu = time.perf_counter(), time.process_time()
        log = read_events(path)
        first = funnel(log, list(STEPS), window=f"{WINDOW_DAYS}d")
        timed("read_and_funnel", start, cpu)
        out["counts"] = [int(c) for c in first.table["count"]]
        start, cpu = time.perf_counter(), time.process_time()
        funnel(log, list(STEPS), window="7d")
        timed("second_funnel", start, cpu)
        for name in ("summary", "summary_again"):
            start, cpu = time.perf_counter(), time.process_time()
            log.summary()
            timed(name, start, cpu)
    elif case == "classify":
        import polars as pl

        from funnelkit import read_events
        from funnelkit.definitions import load_funnel
        from funnelkit.stages import classify

        lf = classify(read_events(path), load_funnel(FUNNEL), entry_times=False)
        table = lf.collect(engine="streaming")
        counts = table.group_by(pl.col("stage").cast(pl.String)).len().sort("stage")
        out["stages"] = _stage_counts(counts)
    elif case == "classify_duckdb":
        import duckdb
        from bench_classify import _sql_columns

        sql = _sql_columns(FUNNEL, f"read_parquet('{path}')")
        query = f"SELECT stage, count(*) FROM ({sql}) GROUP BY stage ORDER BY stage"
        out["stages"] = {str(k): int(v) for k, v in duckdb.connect().execute(query).fetchall()}
    else:
        msg = f"unknown child case {case!r}"
        raise SystemExit(msg)
    out["peak_gib"] = status_gib("self", "VmHWM")
    return out


# --- the parent: one fresh process per run --------------------------------------------------------
def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _command(case: str, path: Path, out_dir: Path) -> list[str]:
    cli = shutil.which("funnelkit", path=str(Path(sys.executable).parent)) or "funnelkit"
    if case in ("cli", "cli_again"):
        steps, window = ",".join(STEPS), f"{WINDOW_DAYS}d"
        return [cli, "funnel", str(path), "--steps", steps, "--window", window, "--format", "json"]
    if case == "report":
        out = str(out_dir / "reports")
        return [cli, "report", "--events", str(path), "--funnel", FUNNEL, "--out", out]
    return [sys.executable, __file__, "--child", case, "--path", str(path)]


def run_case(
    case: str, path: Path, *, max_rss: float, timeout: float, baseline: Path | None = None
) -> dict[str, Any]:
    """Run one case once in a fresh process; its figures, or why it failed.

    With ``baseline``, the funnelkit package (and its notebooks) found in that
    folder is imported instead of the installed one.  Every run gets a cache
    folder of its own (``FUNNELKIT_CACHE_DIR``): no run reads another's
    validated copy (``cli_again`` reads the one its unmeasured first run left).
    """
    env = dict(os.environ)
    # Bytecode is cached as on a user's machine (pip writes it when installing; an
    # environment that forbids it would compile every module in every run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    first = [str(baseline)] if baseline is not None else []
    env["PYTHONPATH"] = os.pathsep.join([*first, str(HERE), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="bench-user-path-") as tmp:
        env["FUNNELKIT_CACHE_DIR"] = str(Path(tmp) / "cache")
        if case == "cli_again":  # the first reading, not measured, leaves its receipt
            subprocess.run(
                _command(case, path, Path(tmp)), env=env, check=True, capture_output=True
            )
        cpu = _children_cpu()
        run = run_watched(
            _command(case, path, Path(tmp)),
            max_rss_gib=max_rss,
            timeout=timeout,
            env=env,
            tree=True,
        )
        cpu = _children_cpu() - cpu
    got: dict[str, Any] = {"seconds": run.wall, "cpu": cpu, "peak_gib": run.peak_gib}
    if run.stopped or run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        got["failed"] = run.stopped or f"exit {run.returncode}: {tail}"
        return got
    if case in ("cli", "cli_again"):
        got["counts"] = [int(step["count"]) for step in json.loads(run.stdout)["steps"]]
    elif case != "report":
        inner = json.loads(run.stdout.strip().splitlines()[-1])
        got["peak_gib"] = max(got["peak_gib"], inner.pop("peak_gib"))
        got.update(inner)
    return got


def _median(runs: Sequence[dict[str, Any]], key: str, phase: str | None) -> float | None:
    done = [r for r in runs if "failed" not in r]
    if not done:
        return None
    if phase is None:
        return statistics.median(float(r[key]) for r in done)
    return statistics.median(float(r["phases"][phase][key]) for r in done)


def _check(runs: dict[str, list[dict[str, Any]]], label: str) -> list[str]:
    """The disagreements between engines' counts and the failed runs, one line each."""
    problems = []
    counted = ("cli", "cli_again", "chdb", "duckdb", "notebook")
    for key, cases in (("counts", counted), ("stages", ("classify", "classify_duckdb"))):
        seen = {
            case: tuple(sorted(r[key].items()) if isinstance(r[key], dict) else r[key])
            for case in [*cases, *(f"{c}@base" for c in cases)]
            for r in runs.get(case, [])
            if "failed" not in r
        }
        if len(set(seen.values())) > 1:
            lines = "; ".join(f"{case} {list(value)}" for case, value in seen.items())
            problems.append(f"!!! {label}: {key} DIFFER: {lines}")
    for case, got in runs.items():
        failed = [r["failed"] for r in got if "failed" in r]
        if failed:
            problems.append(f"!!! {label}: {case} FAILED {len(failed)} time(s): {failed[0]}")
    return problems


def _table(runs: dict[str, list[dict[str, Any]]], facts: dict[str, Any], title: str) -> list[str]:
    """One shape's figures; ratios to the reference case in wall time and in CPU time."""
    lines = [
        f"{title}: {facts['events']:,} events, {facts['contacts']:,} contacts "
        f"(events per contact: median {facts['events_per_contact_median']:g}, "
        f"max {facts['events_per_contact_max']:,}), "
        f"{'sorted' if facts['sorted_by_time'] else 'not sorted'} by time",
        f"  {'case':<36} {'wall s':>7} {'CPU s':>7} {'peak GiB':>8} {'wall x':>7} {'CPU x':>6}"
        "  target (wall)",
    ]
    rows = []
    for label, case, phase, ref, target in ROWS:
        rows.append((label, case, phase, ref, target))
        if f"{case}@base" in runs:  # the same case with the baseline package
            rows.append((f"  before: {label}"[:36], f"{case}@base", phase, ref, None))
    for label, case, phase, ref, target in rows:
        if case not in runs:
            continue
        failed = [r["failed"] for r in runs[case] if "failed" in r]
        if len(failed) == len(runs[case]):
            lines.append(f"  {label:<36} FAILED: {failed[0]}")
            continue
        wall, cpu = _median(runs[case], "seconds", phase), _median(runs[case], "cpu", phase)
        assert wall is not None and cpu is not None
        peak = max(float(r["peak_gib"]) for r in runs[case]) if phase is None else None
        ref_wall = _median(runs.get(ref, []), "seconds", None)
        ref_cpu = _median(runs.get(ref, []), "cpu", None)
        ratio = wall / ref_wall if ref_wall else None
        ratio_text = f"{ratio:6.2f}x" if ratio is not None else f"{'':>7}"
        cpu_text = f"{cpu / ref_cpu:5.2f}x" if ref_cpu else f"{'':>6}"
        goal = ""
        if target is not None and ratio is not None:
            goal = f"<= {target:g}x {ref}: {'met' if ratio <= target else 'MISSED'}"
        peak_text = f"{peak:8.2f}" if peak is not None else f"{'':>8}"
        lines.append(
            f"  {label:<36} {wall:7.2f} {cpu:7.2f} {peak_text} {ratio_text} {cpu_text}  {goal}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", default="1e6", help="event counts, e.g. 1e6,1e7 (1e6)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="many, few, unsorted")
    parser.add_argument("--ids", default=",".join(IDS), help="string, int")
    parser.add_argument("--cases", default=",".join(CASES), help=", ".join(CASES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="where the logs are cached")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--max-rss", type=float, default=8.0, help="GiB; stop a run above it")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--derive", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--show", metavar="FILE", help="print the tables of a --json file again")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also run every funnelkit case with the package in DIR (e.g. the export of an "
        "older commit: git archive main funnelkit notebooks | tar -x -C DIR), as CASE@base",
    )
    args = parser.parse_args(argv)
    if args.show:
        for shown in json.loads(Path(args.show).read_text()):
            title = f"{shown['shape']}, {shown['ids']} ids"
            print("\n".join(_table(shown["runs"], shown["facts"], title)))
            for line in _check(shown["runs"], f"{shown['events']:,} {title}"):
                print(line)
        return 0
    if args.child:
        print(json.dumps(_child(args.child, args.path)))
        return 0
    if args.derive:
        base, out, shape, ids = args.derive
        _derive(Path(base), Path(out), shape, ids)
        return 0

    def pick(text: str, allowed: Sequence[str], what: str) -> list[str]:
        chosen = [c.strip() for c in text.split(",") if c.strip()]
        unknown = sorted(set(chosen) - set(allowed))
        if unknown:
            parser.error(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")
        return chosen

    shapes, ids = pick(args.shapes, SHAPES, "shape"), pick(args.ids, IDS, "ids")
    cases = pick(args.cases, CASES, "case")
    if importlib.util.find_spec("psutil") is None:
        parser.error("the memory watchdog needs psutil: pip install -e '.[bench]'")
    for module, needs in (("chdb", ("chdb",)), ("duckdb", ("duckdb", "classify_duckdb"))):
        if importlib.util.find_spec(module) is None:
            print(f"{module} is not installed (pip install -e '.[bench]'): no {', '.join(needs)}")
            cases = [c for c in cases if c not in needs]
    print(
        f"{len(STEPS)}-step ordered funnel {','.join(STEPS)}, window {WINDOW_DAYS}d; "
        f"report and classify under {FUNNEL!r}; median of {args.repeat} fresh process(es) "
        f"per case, cases taking turns; {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.1f} at start",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    for n in (_count(e) for e in args.events.split(",")):
        for shape in shapes:
            for kind in ids:
                path, facts = ensure_shape(args.data_dir, n, shape, kind)
                runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
                ours = [c for c in cases if c in OURS] if args.baseline else []
                runs.update({f"{c}@base": [] for c in ours})
                for _ in range(args.repeat):
                    for case in [*cases, *(f"{c}@base" for c in ours)]:
                        name, _at, base = case.partition("@")
                        got = run_case(
                            name,
                            path,
                            max_rss=args.max_rss,
                            timeout=args.timeout,
                            baseline=args.baseline if base else None,
                        )
                        runs[case].append(got)
                        note = got.get("failed", f"{got['seconds']:.2f} s")
                        print(f"    {shape}/{kind} {case}: {note}", file=sys.stderr, flush=True)
                print("\n".join(_table(runs, facts, f"{shape}, {kind} ids")), flush=True)
                found = _check(runs, f"{n:,} {shape}/{kind}")
                for line in found:
                    print(line, flush=True)
                    print(line, file=sys.stderr, flush=True)
                problems += found
                results.append(
                    {"events": n, "shape": shape, "ids": kind, "facts": facts, "runs": runs}
                )
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
