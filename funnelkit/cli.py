"""The ``funnelkit`` command line: argument parsing only.

Each sub-command has a ``_add_<name>`` function that declares its arguments
and a ``_cmd_<name>`` function that calls the library and prints.  Errors of
the :class:`~funnelkit.errors.FunnelkitError` family become one readable
line on stderr and exit code 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from funnelkit.errors import FunnelkitError, ParameterError
from funnelkit.events import (
    ContactTable,
    EventLog,
    SetAsideSummary,
    read_contacts,
    read_events,
)

Handler = Callable[[argparse.Namespace], int]


# --- shared reading options -------------------------------------------------
def add_read_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every command that reads EVENTS understands."""
    group = parser.add_argument_group("reading events")
    group.add_argument(
        "--columns",
        metavar="THEIRS=OURS,...",
        help="map your column names, e.g. user_id=contact_id,ts=occurred_at",
    )
    group.add_argument(
        "--timezone", default="UTC", help="zone of timestamps written without offset (UTC)"
    )
    group.add_argument(
        "--timestamp-format", help="strftime format for non-ISO timestamps, e.g. %%d/%%m/%%Y"
    )
    group.add_argument(
        "--strict", action="store_true", help="fail on unusable rows instead of setting them aside"
    )


def _parse_mapping(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    mapping = {}
    for part in text.split(","):
        theirs, sep, ours = part.partition("=")
        if not sep or not theirs.strip() or not ours.strip():
            msg = f"--columns: {part!r} is not of the form their_name=our_name."
            raise ParameterError(msg)
        mapping[theirs.strip()] = ours.strip()
    return mapping


def load_events(path: str, args: argparse.Namespace) -> EventLog:
    """Read EVENTS as the options say and report set-aside rows on stderr."""
    log = read_events(
        path,
        columns=_parse_mapping(getattr(args, "columns", None)),
        timezone=getattr(args, "timezone", "UTC"),
        timestamp_format=getattr(args, "timestamp_format", None),
        strict=getattr(args, "strict", False),
    )
    _report_set_aside(log.summary())
    return log


def load_contacts(path: str | None, args: argparse.Namespace) -> ContactTable | None:
    """Read the optional contacts table and report set-aside rows on stderr."""
    if path is None:
        return None
    table = read_contacts(
        path, timezone=getattr(args, "timezone", "UTC"), strict=getattr(args, "strict", False)
    )
    _report_set_aside(table.summary())
    return table


_load_events = load_events


def _report_set_aside(summary: SetAsideSummary) -> None:
    if summary.rows_set_aside:
        print(str(summary), file=sys.stderr)
    else:
        print(f"{summary.source}: read {summary.rows_read:,} rows, none set aside", file=sys.stderr)


# --- sample ------------------------------------------------------------------
def _add_sample(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    from funnelkit import sample

    p = sub.add_parser(
        "sample",
        help="write the synthetic sample data (events, contacts, README)",
        description="Write a synthetic, deterministic sample: the same arguments give the "
        "same bytes. The defaults regenerate the bundled data/sample/.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    p.add_argument("--contacts", type=int, default=sample.DEFAULT_CONTACTS, metavar="N")
    p.add_argument("--seed", type=int, default=sample.DEFAULT_SEED, metavar="S")
    p.add_argument(
        "--end",
        default=sample.DEFAULT_END.isoformat(),
        metavar="YYYY-MM-DD",
        help="last day of the period, a Sunday (default %(default)s)",
    )
    p.add_argument("--weeks", type=int, default=sample.DEFAULT_WEEKS, metavar="W")
    p.add_argument("--format", choices=sample.FORMATS, default="csv", dest="fmt")
    return _sample


def _sample(args: argparse.Namespace) -> int:
    from datetime import date

    from funnelkit.sample import write_sample

    try:
        end = date.fromisoformat(args.end)
    except ValueError:
        msg = f"--end: {args.end!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-22"
        raise ParameterError(msg) from None
    files = write_sample(
        args.out, n_contacts=args.contacts, seed=args.seed, end=end, weeks=args.weeks, fmt=args.fmt
    )
    print(files)
    return 0


# --- funnels / classify ------------------------------------------------------
def _add_funnels(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    return None


def _add_classify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    return None


# --- funnel ------------------------------------------------------------------
def _add_funnel(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    return None


# --- report ------------------------------------------------------------------
def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    p = sub.add_parser(
        "report",
        help="render the weekly funnel report (notebook, HTML, metrics.json)",
        description="Execute the weekly report notebook with papermill for one ISO week (default: "
        "the last complete week of the data) or a range, and write DIR/<week>/report.ipynb, "
        "report.html and metrics.json, plus DIR/index.html. A week is moved into place only "
        "once it rendered completely; on failure the previous report stays and the exit code "
        "is 2.",
    )
    p.add_argument("--week", metavar="W", help="ISO week, e.g. 2026-W46 (default: last complete)")
    p.add_argument("--from", dest="first", metavar="W1", help="first week of a range")
    p.add_argument("--to", dest="last", metavar="W2", help="last week of a range (included)")
    p.add_argument("--events", required=True, metavar="PATH", help="the event log")
    p.add_argument("--contacts", metavar="PATH", help="optional contacts table")
    p.add_argument("--funnel", metavar="NAME_OR_PATH", help="preset (inbound, sales) or TOML file")
    p.add_argument("--breakdown", metavar="COL", help="column to break down by, or 'none'")
    p.add_argument("--out", default="reports", metavar="DIR", help="output folder (reports)")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="another notebook parameter: window_days, weeks_of_history, lang, pseudonymize",
    )
    p.add_argument("--notebook", metavar="PATH", help="another template notebook")
    p.add_argument("--no-progress", action="store_true", help="no progress bar for a range")
    add_read_options(p)
    return _report


def _report(args: argparse.Namespace) -> int:
    from funnelkit.report import render_report

    read_options = {
        "columns": _parse_mapping(args.columns),
        "timezone": args.timezone,
        "timestamp_format": args.timestamp_format,
        "strict": args.strict,
    }
    run = render_report(
        events=args.events,
        contacts=args.contacts,
        week=args.week,
        first=args.first,
        last=args.last,
        out_dir=args.out,
        funnel=args.funnel,
        breakdown=args.breakdown,
        parameters=[tuple(pair) for pair in args.parameter],
        notebook=args.notebook,
        read_options={k: v for k, v in read_options.items() if v not in (None, False, "UTC")},
        progress=not args.no_progress,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(run)
    return 0


# --- validate ----------------------------------------------------------------
def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    parser = sub.add_parser(
        "validate",
        help="read an event log, say what was set aside and why",
        description="Read EVENTS (and CONTACTS) like every other command does and print "
        "the rows kept and set aside, by reason. Exit 1 when rows were set aside.",
    )
    parser.add_argument("events", metavar="EVENTS", help="CSV, Parquet, NDJSON, folder or glob")
    parser.add_argument("--contacts", metavar="PATH", help="optional contacts table")
    parser.add_argument("--out", metavar="FILE", help="write the set-aside rows (CSV or Parquet)")
    add_read_options(parser)
    return _validate


def _validate(args: argparse.Namespace) -> int:
    log = load_events(args.events, args)
    table = load_contacts(args.contacts, args)
    if args.out:
        write_table(log.set_aside.collect(), args.out)
    aside = log.summary().rows_set_aside + (table.summary().rows_set_aside if table else 0)
    print(f"{aside:,} row(s) set aside" if aside else "all rows usable")
    return 1 if aside else 0


def write_table(df: pl.DataFrame, path: str) -> None:
    """Write ``df`` to CSV or Parquet, chosen by the extension of ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix.lower()
    if suffix in (".parquet", ".pq"):
        df.write_parquet(target)
    elif suffix == ".csv":
        df.write_csv(target)
    else:
        msg = f"--out {path}: write .csv or .parquet (got {target.suffix or 'no extension'!r})."
        raise ParameterError(msg)


_ADDERS = (_add_validate, _add_sample, _add_funnels, _add_classify, _add_funnel, _add_report)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``funnelkit`` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="funnelkit",
        description="Prospects, leads and clients: classify contacts and measure funnels.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _ADDERS:
        handler = add(sub)
        if handler is not None:
            sub.choices[list(sub.choices)[-1]].set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``funnelkit`` command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except FunnelkitError as exc:
        print(f"funnelkit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
