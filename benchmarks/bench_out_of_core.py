"""Benchmark: an event log larger than memory, on one machine, with polars' streaming engine.

Usage::

    python benchmarks/bench_out_of_core.py                  # a log that does not fit in RAM
    python benchmarks/bench_out_of_core.py --events 20M     # a small run while developing
    python benchmarks/bench_out_of_core.py --cases scan,weekly --max-rss 8

What it does
------------
1. **Sizes the log.**  It draws 200,000 events with
   :func:`funnelkit.sample.write_large_log`, adds the property columns of a
   web-analytics export (``--columns web``, the default: session id, page and
   referrer URLs with UTM parameters, user agent, IP address, device, country;
   ``--columns sample`` keeps the six drawn columns), materialises them and
   reads ``DataFrame.estimated_size()`` per event.  The log then gets enough
   events that its fully materialised frame would exceed the machine's memory
   (``MemTotal``) by 10 % (``--events`` overrides this).  The figures also say
   how large the six drawn columns alone (what the funnels read) would be.
2. **Writes a partitioned Parquet folder** ``benchmarks/data/ooc_<columns>_<n>/part=<k>/``
   (git-ignored, reused by later runs): part ``k`` holds up to ``--part-size``
   events drawn with seed ``k``.  Contact ids restart in every part, so a
   contact of part 0 comes back in the later parts: a log of returning
   contacts (about ``--part-size / 4.5`` contacts, each with events in every
   part), as a large company's is, rather than one of ever new contacts.
3. **Runs each case in a fresh process** (``--child``), reading the folder with
   :func:`funnelkit.read_events` (``hold="lazy"``; ``dedupe=False`` unless the case ends in
   ``+dedupe``) and collecting with polars' streaming engine, and prints the
   wall time and the peak resident memory of that process (its ``VmHWM``,
   imports included).  A watchdog polls the child's resident memory and stops
   it above ``--max-rss`` GiB (default: half of ``MemTotal``), printing
   ``stopped at ...``: that case does not stream, and the machine (shared with
   others) is kept safe.  ``--timeout`` bounds each case.

Cases
-----
``scan`` / ``scan+dedupe``
    ``read_events(folder)``: rows and latest event through the validated
    frame (the floor: every case reads this much); ``+dedupe`` with
    ``read_events``' default duplicate detection.
``classify``
    ``snapshot(classify(log, inbound, entry_times=False), inbound)``: the
    current stage of every contact, counted per stage.
``classify_full``
    ``classify(log, inbound)`` with every ``<stage>_at`` column, collected.
``funnel``
    ``funnel(log, inbound, window="28d")``: the ordered funnel of all events.
``weekly``
    ``weekly_metrics(log, inbound, week=<last complete week>)``: every
    number of the weekly report (``weekly+dedupe``: with duplicate detection;
    ``weekly+stream``: ``in_memory=False``, every query streaming from the files).
``duckdb_weekly``
    The same weekly metrics computed by DuckDB through :mod:`funnelkit.engines`
    on ``read_parquet(folder)``, with DuckDB's ``memory_limit`` at 60 % of
    ``--max-rss`` (DuckDB spills to ``benchmarks/data/duckdb_tmp``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from watched import run_watched

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CASES = ("scan", "classify", "classify_full", "funnel", "weekly", "duckdb_weekly")
DEFAULT_CASES = (
    "scan",
    "scan+dedupe",
    "classify",
    "classify_full",
    "funnel",
    "weekly",
    "duckdb_weekly",
)
SAMPLE_EVENTS = 200_000
GIB = 1024**3


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * scale)


def _mem_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    msg = "cannot read MemTotal from /proc/meminfo"
    raise SystemExit(msg)


_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
)


def _widen(lf: object, columns: str) -> object:
    """Add the property columns of a web-analytics export (``columns="web"``).

    Derived deterministically from the drawn columns: a session id (30-minute
    buckets), the page and referrer URLs with their UTM parameters, the
    browser's user agent, an IP address, the device and the country.  The
    funnels never read them; they make each row as wide as in a real export.
    """
    import polars as pl

    assert isinstance(lf, pl.LazyFrame)
    if columns == "sample":
        return lf
    h = pl.col("contact_id").hash(7)
    campaign = pl.col("campaign").fill_null("none")
    return lf.with_columns(
        session_id=pl.concat_str(
            pl.col("contact_id"),
            pl.lit("-"),
            (pl.col("occurred_at").dt.epoch("s") // 1800).cast(pl.String),
        ),
        page_url=pl.concat_str(
            pl.lit("https://www.example.com/"),
            pl.col("event").str.replace_all("_", "-"),
            pl.lit("?utm_source="),
            pl.col("channel"),
            pl.lit("&utm_campaign="),
            campaign,
        ),
        referrer_url=pl.concat_str(
            pl.lit("https://"), pl.col("channel"), pl.lit(".example.net/r/"), campaign
        ),
        user_agent=(h % len(_AGENTS)).replace_strict(
            list(range(len(_AGENTS))), list(_AGENTS), return_dtype=pl.String
        ),
        ip_address=pl.concat_str(
            pl.lit("198.51."),
            ((h // 7) % 256).cast(pl.String),
            pl.lit("."),
            ((h // 1792) % 256).cast(pl.String),
        ),
        device=(h % 3).replace_strict([0, 1, 2], ["desktop", "mobile", "tablet"]),
        country=(h % 5).replace_strict(list(range(5)), ["FR", "DE", "US", "CA", "GB"]),
    )


def _bytes_per_event(columns: str) -> tuple[float, float]:
    """Materialised bytes per event (``estimated_size()``) of a small drawn log.

    Returns the bytes of a whole row and of the six drawn columns alone (those
    the funnels read).
    """
    import tempfile

    import polars as pl

    from funnelkit.sample import write_large_log

    with tempfile.TemporaryDirectory() as tmp:
        path = write_large_log(Path(tmp) / "sample.parquet", SAMPLE_EVENTS)
        narrow = pl.read_parquet(path)
        wide = _widen(narrow.lazy(), columns).collect()  # type: ignore[attr-defined]
        return wide.estimated_size() / wide.height, narrow.estimated_size() / narrow.height


def _folder(n_events: int, part_size: int, columns: str) -> Path:
    """Write (or reuse) the partitioned log of ``n_events`` events."""
    import polars as pl

    from funnelkit.sample import write_large_log

    folder = DATA / f"ooc_{columns}_{n_events}"
    manifest = DATA / f"ooc_{columns}_{n_events}.json"  # beside the folder: it holds only Parquet
    parts = math.ceil(n_events / part_size)
    wanted = {"events": n_events, "part_size": part_size, "parts": parts, "columns": columns}
    if manifest.exists() and json.loads(manifest.read_text()) == wanted:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for k in range(parts):
        size = min(part_size, n_events - k * part_size)
        path = folder / f"part={k:03d}" / "events.parquet"
        if path.exists() and path.stat().st_size > 0 and _rows(path) == size:
            continue
        print(f"  drawing part {k + 1}/{parts} ({size:,} events) ...", file=sys.stderr, flush=True)
        drawn = write_large_log(DATA / f".ooc_draw_{k}.parquet", size, seed=k)
        path.parent.mkdir(parents=True, exist_ok=True)
        _widen(pl.scan_parquet(drawn), columns).sink_parquet(  # type: ignore[attr-defined]
            path, compression="zstd"
        )
        drawn.unlink()
    manifest.write_text(json.dumps(wanted))
    print(f"  log written in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return folder


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


# --- one case, in a child process ---------------------------------------------------------------
def _child(case: str, folder: Path, max_rss_gib: float) -> dict[str, object]:
    import polars as pl

    from funnelkit import read_events
    from funnelkit.definitions import load_funnel

    funnel = load_funnel("inbound")
    start = time.perf_counter()
    result: object
    if case == "duckdb_weekly":
        import duckdb

        from funnelkit.weekly import last_complete_week, weekly_metrics

        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{max(1.0, max_rss_gib * 0.6):.1f}GiB'")
        con.execute(f"SET temp_directory = '{DATA / 'duckdb_tmp'}'")
        rel = con.sql(f"SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning=1)")
        week = last_complete_week(rel)
        metrics = weekly_metrics(rel, funnel, week=week)
        result = {"week": str(week), "new_contacts": metrics.kpi("new_contacts").value}
    else:
        case, _, variant = case.partition("+")
        # lazily: every query streams through the files, as these figures always
        # measured (hold="auto" would first write a validated copy of a log this size)
        log = read_events(folder, dedupe=variant == "dedupe", hold="lazy")
        if case == "scan":
            row = log.frame.select(pl.len(), pl.col("occurred_at").max()).collect(
                engine="streaming"
            )
            result = {"rows": row.item(0, 0), "latest": str(row.item(0, 1))}
        elif case == "classify":
            from funnelkit.stages import classify, snapshot

            counts = snapshot(classify(log, funnel, entry_times=False), funnel)
            result = {"contacts": int(counts.table["at_or_past"][0])}
        elif case == "classify_full":
            from funnelkit.stages import classify

            frame = classify(log, funnel).collect(engine="streaming")
            result = {"contacts": frame.height, "result_gb": frame.estimated_size() / GIB}
        elif case == "funnel":
            from funnelkit.conversion import funnel as run_funnel

            out = run_funnel(log, funnel, window="28d")
            result = {"counts": out.table["count"].to_list()}
        elif case == "weekly":
            from funnelkit.weekly import last_complete_week, weekly_metrics

            week = last_complete_week(log)
            metrics = weekly_metrics(log, funnel, week=week, in_memory=variant != "stream")
            result = {"week": str(week), "new_contacts": metrics.kpi("new_contacts").value}
        else:
            msg = f"unknown case {case!r}"
            raise SystemExit(msg)
        if variant and variant not in ("dedupe", "stream"):
            msg = f"unknown variant {variant!r}"
            raise SystemExit(msg)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_gib": _peak_gib(), "result": result}


def _peak_gib() -> float:
    """Peak resident memory of this process (``VmHWM``).

    ``ru_maxrss`` of a child process starts at its parent's resident size at
    fork time, so the parent would leak into every figure; ``VmHWM`` is this
    process's own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    return 0.0


def _run(case: str, folder: Path, max_rss: float, timeout: float) -> dict[str, object]:
    """Run one case in a fresh process, under a memory watchdog and a time limit."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        case,
        "--path",
        str(folder),
        "--max-rss",
        str(max_rss),
    ]
    run = run_watched(cmd, max_rss_gib=max_rss, timeout=timeout)
    wall, peak = run.wall, run.peak_gib
    if run.stopped:
        return {"case": case, "ok": False, "why": run.stopped, "wall": wall, "peak_gib": peak}
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["?"])[-1]
        return {"case": case, "ok": False, "why": f"failed: {last}", "wall": wall, "peak_gib": peak}
    out = run.stdout
    answer = json.loads(out.strip().splitlines()[-1])
    return {"case": case, "ok": True, "wall": wall, **answer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", help="event count (e.g. 20M); default: more than fits in RAM")
    parser.add_argument("--part-size", default="25M", help="events per Parquet part")
    parser.add_argument(
        "--columns",
        choices=("web", "sample"),
        default="web",
        help="web: add the property columns of a web-analytics export (default); "
        "sample: only the six columns of funnelkit.sample",
    )
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help="comma-separated cases")
    parser.add_argument("--max-rss", type=float, help="GiB a case may hold (default: RAM / 2)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    total = _mem_total()
    max_rss = args.max_rss if args.max_rss else total / 2 / GIB
    if args.child:
        print(json.dumps(_child(args.child, Path(args.path), max_rss)))
        return 0

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted({c.partition("+")[0] for c in cases} - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    per_event, per_drawn = _bytes_per_event(args.columns)
    if args.events:
        n_events = _size(args.events)
    else:
        n_events = math.ceil(total * 1.1 / per_event)
    folder = _folder(n_events, _size(args.part_size), args.columns)
    materialised = n_events * per_event
    print(
        f"machine: {total / GIB:.1f} GiB RAM, {os.cpu_count()} CPU(s); case memory cap "
        f"{max_rss:.1f} GiB\n"
        f"log: {n_events:,} events ({args.columns} columns) in "
        f"{folder.relative_to(HERE.parent)}, {_disk_bytes(folder) / GIB:.2f} GiB of Parquet\n"
        f"materialised: {per_event:.1f} bytes per event, {materialised / GIB:.1f} GiB as one "
        f"frame ({materialised / total:.0%} of RAM); the six drawn columns the funnels read "
        f"alone: {n_events * per_drawn / GIB:.1f} GiB",
        flush=True,
    )
    print(f"{'case':<15} {'seconds':>8} {'peak GiB':>9}  result", flush=True)
    results = []
    for case in cases:
        run = _run(case, folder, max_rss, args.timeout)
        results.append(run)
        shown = run.get("result") if run["ok"] else run["why"]
        print(f"{case:<15} {run['wall']:>8.1f} {run['peak_gib']:>9.2f}  {shown}", flush=True)
    if args.json:
        summary = {
            "events": n_events,
            "columns": args.columns,
            "bytes_per_event": per_event,
            "bytes_per_event_drawn_columns": per_drawn,
            "materialised_gib": materialised / GIB,
            "ram_gib": total / GIB,
            "results": results,
        }
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
