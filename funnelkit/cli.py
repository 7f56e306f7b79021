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
    return None


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
    return None


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
