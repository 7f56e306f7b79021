"""The ``funnelkit`` command line: argument parsing only.

Each sub-command has a ``_add_<name>`` function that declares its arguments
and a ``_cmd_<name>`` function that calls the library and prints.  Errors of
the :class:`~funnelkit.errors.FunnelkitError` family become one readable
line on stderr and exit code 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funnelkit import __version__
from funnelkit.errors import FunnelkitError, ParameterError, SpanWarning, UnknownEventWarning

if TYPE_CHECKING:  # each sub-command imports what it runs: --help and --version load no data code
    import polars as pl

    from funnelkit.events import ContactTable, EventLog, SetAsideSummary

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
        "--contact-columns",
        metavar="THEIRS=OURS,...",
        help="map the contacts table's column names, e.g. user_id=contact_id,signup=created_at",
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
    group.add_argument(
        "--hold",
        choices=("auto", "memory", "disk", "lazy"),
        default="auto",
        help="where the validated events are kept: in memory, in funnelkit's cache folder "
        "(FUNNELKIT_CACHE_DIR), or read again by every query; auto: in memory when they take "
        "at most a quarter of the memory available, else on disk (auto)",
    )


def _parse_mapping(text: str | None, option: str = "--columns") -> dict[str, str] | None:
    if not text:
        return None
    mapping = {}
    for part in text.split(","):
        theirs, sep, ours = part.partition("=")
        if not sep or not theirs.strip() or not ours.strip():
            msg = f"{option}: {part!r} is not of the form their_name=our_name."
            raise ParameterError(msg)
        mapping[theirs.strip()] = ours.strip()
    return mapping


def load_events(
    path: str,
    args: argparse.Namespace,
    *,
    require_rows: bool = True,
    keep: Sequence[str] | None = None,
) -> EventLog:
    """Read EVENTS as the options say and report set-aside rows on stderr.

    Unparseable timestamps get a hint naming ``--timestamp-format``, with an
    example value.  With ``require_rows``, a source none of whose rows is
    usable is an error (exit 2) rather than an empty result.  ``keep``: the
    only columns the command reads beside the required ones (see
    :func:`~funnelkit.events.read_events`; every column is validated).
    """
    from funnelkit.events import read_events, require_usable, timestamp_hint

    log = read_events(
        path,
        columns=_parse_mapping(getattr(args, "columns", None)),
        timezone=getattr(args, "timezone", "UTC"),
        timestamp_format=getattr(args, "timestamp_format", None),
        strict=getattr(args, "strict", False),
        hold=getattr(args, "hold", "auto"),
        keep=keep,
    )
    summary = log.summary()
    _report_set_aside(summary)
    hint = timestamp_hint(log, summary, timestamp_format=getattr(args, "timestamp_format", None))
    if require_rows:
        require_usable(summary, hint)  # the error then carries the hint
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    return log


def load_contacts(path: str | None, args: argparse.Namespace) -> ContactTable | None:
    """Read the optional contacts table and report set-aside rows on stderr."""
    if path is None:
        return None
    from funnelkit.events import read_contacts

    table = read_contacts(
        path,
        columns=_parse_mapping(getattr(args, "contact_columns", None), "--contact-columns"),
        timezone=getattr(args, "timezone", "UTC"),
        strict=getattr(args, "strict", False),
    )
    _report_set_aside(table.summary())
    return table


_load_events = load_events


def _report_set_aside(summary: SetAsideSummary) -> None:
    from funnelkit.logs import count_text

    if summary.rows_set_aside:
        print(str(summary), file=sys.stderr)
    else:
        read = count_text(summary.rows_read, "row")
        print(f"{summary.source}: read {read}, none set aside", file=sys.stderr)
        for note in summary.notes():  # the encoding read, outliers among the times
            print(f"  {note}", file=sys.stderr)


def _warn_about_the_data(
    log: EventLog,
    reads: Sequence[tuple[str, Iterable[str]]],
    args: argparse.Namespace,
    *,
    typos_only: bool = False,
) -> None:
    """Warn on stderr about the event names EVENTS never holds and times outside its events.

    ``reads`` pairs what reads the names (``"step 2"``, ``"funnel 'inbound'"``)
    with them.  A misspelt name counts nothing, silently; the warning names it
    and the closest event of the data.  With ``typos_only`` (a definition, whose
    rules list alternatives a log need not all hold), only names with a close
    event of the data are warned about.  The command's ``--since``, ``--until``
    and ``--as-of`` are compared with the first and last events
    (:func:`_warn_about_times`).  The names and times are those the reading
    counted in its summary; only a log with more distinct names than a summary
    lists is read again for them.
    """
    from funnelkit.logs import unknown_events

    summary = log.summary()
    for line in unknown_events(log, reads, typos_only=typos_only):
        print(f"warning: {line}", file=sys.stderr)
    _warn_about_times(args, summary.first_at, summary.last_at)


def _warn_about_times(
    args: argparse.Namespace, first: datetime | None, last: datetime | None
) -> None:
    """Warn on stderr when ``--since``/``--until`` leave out every event, or of a far ``--as-of``.

    The lines of :func:`funnelkit.timeutil.span_warnings`, naming the options
    (the library's :class:`~funnelkit.errors.SpanWarning` is not shown again).
    """
    from funnelkit.timeutil import span_warnings

    lines = span_warnings(
        first,
        last,
        since=getattr(args, "since", None),
        until=getattr(args, "until", None),
        as_of=getattr(args, "as_of", None),
        named="--{option} {value}",
    )
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def _check_options(args: argparse.Namespace) -> None:
    """Refuse an unreadable time or a bad number among the options before EVENTS is read.

    ``--since``, ``--until``, ``--as-of``, ``--top``, ``--min-size``,
    ``--max-values`` and ``--alpha`` are checked as the command's function
    checks them, before a large file is read for nothing; a message naming
    a parameter (``min_size``) is written with its option (``--min-size``)
    by :func:`main`.
    """
    from funnelkit.aggregate import check_count_option
    from funnelkit.stats import check_alpha
    from funnelkit.timeutil import instant, parse_time

    parse_time(getattr(args, "since", None), "--since")
    parse_time(getattr(args, "until", None), "--until")
    instant(getattr(args, "as_of", None), "--as-of")
    if getattr(args, "top", None) is not None:
        check_count_option(args.top, "top", allow_none=False)
    if getattr(args, "max_values", None) is not None:  # drivers: sizes of 1 or more
        from funnelkit.drivers import check_sizes

        check_sizes(max_values=args.max_values, min_size=args.min_size)
    elif getattr(args, "min_size", None) is not None:
        check_count_option(args.min_size, "min_size", allow_none=False)
    if getattr(args, "alpha", None) is not None:
        check_alpha(args.alpha)


# --- sample ------------------------------------------------------------------
def _add_sample(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    # No default is read from funnelkit.sample here: it loads numpy and polars, which
    # every other sub-command's --help would then pay for.  _sample fills them in.
    p = sub.add_parser(
        "sample",
        help="write the synthetic sample data (events, contacts, README)",
        description="Write a synthetic, deterministic sample: the same arguments give the "
        "same bytes. The defaults regenerate the bundled data/sample/.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    p.add_argument("--contacts", type=int, metavar="N", help="contacts (the bundled sample's)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (the bundled sample's)")
    p.add_argument(
        "--end",
        metavar="YYYY-MM-DD",
        help="last day of the period, a Sunday (the bundled sample's)",
    )
    p.add_argument("--weeks", type=int, metavar="W", help="weeks of events (the bundled sample's)")
    p.add_argument("--format", default="csv", dest="fmt", help="csv or parquet (csv)")
    return _sample


def _sample(args: argparse.Namespace) -> int:
    from datetime import date

    from funnelkit import sample

    try:
        end = sample.DEFAULT_END if args.end is None else date.fromisoformat(args.end)
    except ValueError:
        msg = f"--end: {args.end!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-22"
        raise ParameterError(msg) from None
    files = sample.write_sample(
        args.out,
        n_contacts=sample.DEFAULT_CONTACTS if args.contacts is None else args.contacts,
        seed=sample.DEFAULT_SEED if args.seed is None else args.seed,
        end=end,
        weeks=sample.DEFAULT_WEEKS if args.weeks is None else args.weeks,
        fmt=args.fmt,
    )
    print(files)
    return 0


# --- funnels / classify ------------------------------------------------------
def _add_funnels(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    p = sub.add_parser(
        "funnels",
        help="list the funnel presets (or given definition files) with their stages",
        description="Print each funnel definition: its description and, per stage, the rank, "
        "the id, the label and the rule. Without arguments, the presets; with a path, "
        "the file is also checked (a malformed file is an error naming the stage and key).",
    )
    p.add_argument(
        "funnels", nargs="*", metavar="NAME_OR_PATH", help="presets or TOML files (all presets)"
    )
    p.add_argument(
        "--lang", default="en", choices=("en", "fr"), help="language of the labels and rules"
    )
    return _funnels


def _funnels(args: argparse.Namespace) -> int:
    from funnelkit.definitions import list_presets, load_funnel
    from funnelkit.stages import in_french

    names = args.funnels or list(list_presets())
    blocks = []
    for name in names:
        funnel = load_funnel(name)
        width = max(len(s.id) for s in funnel.stages)
        label_width = max(len(s.label(args.lang)) for s in funnel.stages)
        lines = [f"{funnel.name}: {funnel.description}".rstrip(": ")]
        for rank, stage in enumerate(funnel.stages, start=1):
            label = stage.label(args.lang)
            rule = in_french(stage.describe()) if args.lang == "fr" else stage.describe()
            lines.append(f"  {rank}  {stage.id:<{width}}  {label:<{label_width}}  {rule}")
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    return 0


def _add_classify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    p = sub.add_parser(
        "classify",
        help="put every contact in a stage of a funnel definition",
        description="Classify the contacts of EVENTS under a funnel definition, as of an "
        "instant, print the contacts per stage and optionally write one row per contact: "
        "contact_id, stage, stage_rank, <stage>_at per stage, last_activity_at.",
    )
    p.add_argument("events", metavar="EVENTS", help="CSV, Parquet, NDJSON, folder or glob")
    p.add_argument(
        "--funnel", required=True, metavar="NAME_OR_PATH", help="preset (inbound, sales) or TOML"
    )
    p.add_argument(
        "--as-of",
        metavar="T",
        help="use events up to T only: a date (its end) or a date-time, e.g. 2026-11-15",
    )
    p.add_argument("--contacts", metavar="PATH", help="optional contacts table")
    p.add_argument("--out", metavar="FILE", help="write the classification (.csv or .parquet)")
    _add_pseudonymize(p)
    p.add_argument("--lang", default="en", choices=("en", "fr"), help="language of the labels")
    p.add_argument(
        "--partitions",
        type=_partitions,
        default="auto",
        metavar="N",
        help="aggregate the contacts in N groups, one after the other: less memory on logs "
        "with millions of contacts, one more read of EVENTS per group (auto: one group per "
        "8 million events; a log kept on disk of more than 16 million events is classified "
        "by DuckDB when installed, under a memory limit)",
    )
    add_read_options(p)
    return _classify


def _partitions(text: str) -> int | str:
    """``--partitions``: ``auto`` or a whole number (checked by ``classify``)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        msg = f"give auto or a whole number, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _classify(args: argparse.Namespace) -> int:
    from funnelkit.definitions import load_funnel
    from funnelkit.stages import classify, snapshot

    funnel = load_funnel(args.funnel)
    _check_options(args)
    if args.out:
        check_table_path(args.out)
    log = _load_events(args.events, args)
    contacts = load_contacts(args.contacts, args)
    lf = classify(log, funnel, as_of=args.as_of, contacts=contacts, partitions=args.partitions)
    _warn_about_the_data(
        log, [(f"funnel {funnel.name!r}", funnel.event_names)], args, typos_only=True
    )
    table = lf.collect(engine="streaming").sort("contact_id")
    counts = snapshot(table, funnel, lang=args.lang).table
    moment = f"as of {args.as_of}" if args.as_of else "all events"
    lines = [f"funnel {funnel.name} ({moment}): {table.height:,} contacts"]
    width = max(len(s) for s in funnel.stage_ids)
    lines.append(f"  {'':>2}  {'stage':<{width}}  {'current':>9}  {'at or past':>10}  {'step':>6}")
    for row in counts.iter_rows(named=True):
        step = row["step_conversion"]
        step_text = f"{step:6.1%}" if step is not None else f"{'':>6}"
        lines.append(
            f"  {row['rank']:>2}  {row['stage']:<{width}}  {row['current']:>9,}"
            f"  {row['at_or_past']:>10,}  {step_text}"
        )
    print("\n".join(lines))
    if args.out:
        _write_out(table, args)
    return 0


def _add_pseudonymize(parser: argparse.ArgumentParser) -> None:
    """Add ``--pseudonymize`` / ``--no-pseudonymize`` for the contact ids of ``--out``."""
    parser.add_argument(
        "--pseudonymize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write keyed pseudonyms instead of contact ids in --out (default: yes; "
        "--no-pseudonymize keeps the raw ids for a file that stays on this machine)",
    )


def _write_out(table: pl.DataFrame, args: argparse.Namespace) -> None:
    """Write ``table`` to ``--out``, its contact ids pseudonymised unless told otherwise."""
    from funnelkit.logs import count_text

    if args.pseudonymize:
        from funnelkit.privacy import pseudonymize

        # a set-aside row's other fields, as the file wrote them, may name the contact
        table = table.with_columns(pseudonymize("contact_id")).drop("other_fields", strict=False)
    write_table(table, args.out)
    print(f"wrote {count_text(table.height, 'row')} to {args.out}", file=sys.stderr)


# --- funnel ------------------------------------------------------------------
def _add_steps_options(p: argparse.ArgumentParser) -> None:
    """Add EVENTS, ``--steps`` or ``--funnel``, and ``--window`` (funnel, drivers, paths)."""
    p.add_argument("events", metavar="EVENTS", help="CSV, Parquet, NDJSON, folder or glob")
    steps = p.add_mutually_exclusive_group(required=True)
    steps.add_argument(
        "--steps",
        metavar="A,B|C,D",
        help="event names in order, comma separated; 'b|c' means b or c",
    )
    steps.add_argument(
        "--funnel", metavar="NAME_OR_PATH", help="all stages of a preset (inbound, sales) or TOML"
    )
    p.add_argument("--window", default="14d", help="conversion window: 90m, 12h, 3d, 2w (14d)")


def _add_span_and_format(p: argparse.ArgumentParser, *, rows: str) -> None:
    """Add ``--since``, ``--until`` and ``--format`` (``rows``: what a CSV row is)."""
    p.add_argument("--since", metavar="T", help="read events at or after T, e.g. 2026-09-01")
    p.add_argument("--until", metavar="T", help="read events before T")
    p.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        dest="fmt",
        help=f"text table (default), CSV of the {rows} rows, or JSON",
    )


def _add_funnel(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    p = sub.add_parser(
        "funnel",
        help="count the contacts reaching each step within a conversion window",
        description="Count, per step, the contacts of EVENTS whose events form a chain "
        "reaching it within the window (one event fills at most one step; --rules "
        "clickhouse for ClickHouse windowFunnel's reading), "
        "with step and overall conversion, Wilson 95% intervals, drop-off and time to "
        "convert; one funnel per value with --by.",
    )
    _add_steps_options(p)
    p.add_argument(
        "--order",
        choices=("ordered", "strict_increase", "any", "consecutive", "unordered"),
        default="ordered",
        help="ordered: steps in order, one instant may serve several (default); "
        "strict_increase: in strictly later times; any: steps 1..k in any order within the "
        "window; consecutive: each step the contact's next event; unordered: any k distinct "
        "steps within the window",
    )
    p.add_argument(
        "--first-entry",
        action="store_true",
        help="only a contact's first step-1 event ever counts (before --since too)",
    )
    p.add_argument(
        "--rules",
        choices=("funnelkit", "clickhouse"),
        default="funnelkit",
        help="funnelkit: one event fills at most one step, --first-entry looks before --since "
        "(default); clickhouse: windowFunnel's reading (one event may serve consecutive "
        "steps, --first-entry within the span)",
    )
    p.add_argument(
        "--stage-steps",
        choices=("evidence", "entry"),
        default="entry",
        help="with --funnel: a stage is reached when classify says it was entered, its "
        "thresholds, points and skipping applied (default), or at any one of its evidence "
        "events",
    )
    p.add_argument("--by", metavar="COL", help="break down by an events or contacts column")
    p.add_argument(
        "--allow-personal",
        action="store_true",
        help="accept a --by column holding personal data (e-mails, names, phones, contact "
        "ids); its values are printed as keyed pseudonyms",
    )
    p.add_argument("--top", type=int, default=10, metavar="N", help="breakdown values kept (10)")
    p.add_argument(
        "--min-size",
        type=int,
        default=30,
        metavar="N",
        help="breakdown values with fewer entrants show no rate (30)",
    )
    p.add_argument("--contacts", metavar="PATH", help="contacts table, for --by on its columns")
    _add_span_and_format(p, rows="step")
    add_read_options(p)
    return _funnel


def _funnel_steps(text: str) -> list[str | list[str]]:
    steps: list[str | list[str]] = []
    for part in text.split(","):
        names = [n.strip() for n in part.split("|") if n.strip()]
        if not names:
            msg = f"--steps {text!r}: step {len(steps) + 1} is empty; write e.g. page_view,purchase"
            raise ParameterError(msg)
        steps.append(names[0] if len(names) == 1 else names)
    return steps


def _steps_of(
    args: argparse.Namespace,
) -> tuple[Any, int, list[tuple[str, Iterable[str]]]]:
    """Return the steps of ``--funnel`` or ``--steps``, how many, and what each reads."""
    if args.funnel:
        from funnelkit.definitions import load_funnel

        definition = load_funnel(args.funnel)
        return (
            definition,
            len(definition.stages),
            [(f"funnel {definition.name!r}", definition.event_names)],
        )
    named = _funnel_steps(args.steps)
    reads: list[tuple[str, Iterable[str]]] = [
        (f"step {k}", [step] if isinstance(step, str) else step)
        for k, step in enumerate(named, start=1)
    ]
    return named, len(named), reads


def _steps_read(args: argparse.Namespace) -> list[str] | None:
    """Return the columns a funnel of ``--steps`` reads beside the required ones.

    Event names read no other column: the log then holds none (every column
    is validated all the same), unless ``--by`` names one.  ``None`` (every
    column) for a ``--funnel`` definition, whose rules may read any.
    """
    if args.funnel or getattr(args, "by", None):
        return None
    return []


def _funnel(args: argparse.Namespace) -> int:

    from funnelkit.conversion import funnel
    from funnelkit.durations import parse_duration
    from funnelkit.privacy import check_breakdown

    window = parse_duration(args.window, name="--window")
    _check_options(args)
    steps, count, reads = _steps_of(args)
    log = _load_events(args.events, args, keep=_steps_read(args))
    contacts = load_contacts(args.contacts, args)
    check_breakdown(args.by, [log, contacts], allow_personal=args.allow_personal, option="--by")
    _warn_about_the_data(log, reads, args, typos_only=bool(args.funnel))
    result = funnel(
        log,
        steps,
        window=window,
        order=args.order,
        first_entry=args.first_entry,
        stage_steps=args.stage_steps,
        rules=args.rules,
        by=args.by,
        allow_personal=args.allow_personal,
        top=args.top,
        min_size=args.min_size,
        contacts=contacts,
        since=args.since,
        until=args.until,
    )
    return _print_result(result, args.fmt)


def _print_result(result: Any, fmt: str) -> int:
    """Print a funnel, drivers or paths result as JSON, CSV (its rows) or text; return 0."""
    import json

    if fmt == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif fmt == "csv":
        from funnelkit.spreadsheets import spreadsheet_safe

        sys.stdout.write(spreadsheet_safe(result.to_polars()).write_csv())
    else:
        print("\n".join(one_line(line) for line in result.to_text().split("\n")))
    return 0


# --- drivers -----------------------------------------------------------------
def _add_drivers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    p = sub.add_parser(
        "drivers",
        help="why contacts drop at a step: what those who went on did differently",
        description="Compare the contacts of EVENTS who went on from step K-1 to step K within "
        "the window with those who did not: the events they did in between, the properties "
        "of their step K-1 event and the contacts' attributes; each with an odds ratio, its "
        "95% interval, a p-value and a Benjamini-Hochberg q-value. Association, not cause.",
    )
    _add_steps_options(p)
    p.add_argument(
        "--step",
        metavar="STEP",
        help="the step to explain, the step to reach: its number (2..n), name or stage id; "
        "contacts at the step before it who reached it or not (default: the biggest leak)",
    )
    p.add_argument(
        "--order",
        choices=("ordered", "strict_increase"),
        default="ordered",
        help="steps in order (one instant may serve several), or in strictly later times",
    )
    p.add_argument(
        "--stage-steps",
        choices=("evidence", "entry"),
        default="entry",
        help="with --funnel: a stage is reached when entered (default) or at any evidence event",
    )
    p.add_argument("--contacts", metavar="PATH", help="contacts table: its columns are candidates")
    p.add_argument(
        "--max-values",
        type=int,
        default=20,
        metavar="N",
        help="a property with more distinct values is no candidate (20)",
    )
    p.add_argument(
        "--min-size",
        type=int,
        default=30,
        metavar="N",
        help="a signal with fewer contacts with it, or without it, is not tested (30)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="q-value threshold (0.05)")
    _add_span_and_format(p, rows="signal")
    add_read_options(p)
    return _drivers


def _step_option(text: str | None) -> int | str | None:
    """Return ``--step`` as a number when it is one, else the name or stage id it gives."""
    if text is not None and text.strip().isascii() and text.strip().isdigit():
        return int(text)
    return text


def _drivers(args: argparse.Namespace) -> int:

    from funnelkit.drivers import drivers
    from funnelkit.durations import parse_duration

    window = parse_duration(args.window, name="--window")
    _check_options(args)
    steps, count, reads = _steps_of(args)
    step = _step_option(args.step)
    if isinstance(step, int) and not 2 <= step <= count:  # a name is checked with the steps
        msg = f"--step {args.step}: give a step from 2 to {count} (the step to reach)"
        raise ParameterError(msg)
    log = _load_events(args.events, args)
    contacts = load_contacts(args.contacts, args)
    _warn_about_the_data(log, reads, args, typos_only=bool(args.funnel))
    result = drivers(
        log,
        steps,
        window=window,
        step=step,
        contacts=contacts,
        order=args.order,
        since=args.since,
        until=args.until,
        stage_steps=args.stage_steps,
        max_values=args.max_values,
        min_size=args.min_size,
        alpha=args.alpha,
    )
    return _print_result(result, args.fmt)


# --- paths -------------------------------------------------------------------
def _add_paths(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    p = sub.add_parser(
        "paths",
        help="what contacts did after the step where they stopped, beside those who went on",
        description="For the contacts who reached step k of a funnel: those who went on to "
        "step k+1, those who stopped (window closed) and those whose window is still open; "
        "the events each group did next (paths of up to --depth events, consecutive repeats "
        "collapsed) and how long ago step k was. Step k is the biggest leak unless --step.",
    )
    _add_steps_options(p)
    p.add_argument(
        "--step",
        metavar="STEP",
        help="the step left: its number, name or stage id (the biggest leak)",
    )
    p.add_argument("--depth", type=int, default=3, metavar="N", help="events per path (3)")
    p.add_argument("--top", type=int, default=10, metavar="N", help="paths kept per group (10)")
    p.add_argument(
        "--min-size",
        type=int,
        default=30,
        metavar="N",
        help="paths shared by fewer contacts are counted as (other) (30)",
    )
    p.add_argument(
        "--order",
        choices=("ordered", "strict_increase"),
        default="ordered",
        help="the chain rule of the funnel (ordered)",
    )
    p.add_argument(
        "--stage-steps",
        choices=("evidence", "entry"),
        default="entry",
        help="with --funnel: a stage is reached when classify says it was entered (default), "
        "or at any one of its evidence events",
    )
    p.add_argument("--contacts", metavar="PATH", help="contacts table (read by the stages)")
    _add_span_and_format(p, rows="path")
    p.add_argument(
        "--as-of",
        metavar="T",
        help="what the data is known up to: events after T are not read, and a window still "
        "open at T is not a drop (default: --until, else the last event)",
    )
    add_read_options(p)
    return _paths


def _paths(args: argparse.Namespace) -> int:

    from funnelkit.durations import parse_duration
    from funnelkit.paths import drop_off_paths

    window = parse_duration(args.window, name="--window")
    _check_options(args)
    steps, count, reads = _steps_of(args)
    step = _step_option(args.step)
    log = _load_events(args.events, args, keep=_steps_read(args))
    contacts = load_contacts(args.contacts, args)
    _warn_about_the_data(log, reads, args, typos_only=bool(args.funnel))
    result = drop_off_paths(
        log,
        steps,
        window=window,
        step=step,
        depth=args.depth,
        top=args.top,
        min_size=args.min_size,
        order=args.order,
        stage_steps=args.stage_steps,
        contacts=contacts,
        since=args.since,
        until=args.until,
        as_of=args.as_of,
    )
    return _print_result(result, args.fmt)


# --- report ------------------------------------------------------------------
def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Handler | None:
    p = sub.add_parser(
        "report",
        help="render the weekly funnel report (notebook, HTML, metrics.json)",
        description="Execute the weekly report notebook with papermill for one ISO week (default: "
        "the last complete week of the data) or a range, and write DIR/<week>/report.ipynb, "
        "report.html and metrics.json, plus DIR/index.html and DIR/follow-up/<week>.csv (the "
        "contacts to follow up, with their real ids, readable by this account only). A week "
        "is moved into place only "
        "once it rendered completely; on failure the previous report stays and the exit code "
        "is 2. Only week folders and an index.html written by funnelkit are ever replaced.",
    )
    p.add_argument("--week", metavar="W", help="ISO week, e.g. 2026-W46 (default: last complete)")
    p.add_argument("--from", dest="first", metavar="W1", help="first week of a range")
    p.add_argument("--to", dest="last", metavar="W2", help="last week of a range (included)")
    p.add_argument("--events", required=True, metavar="PATH", help="the event log")
    p.add_argument("--contacts", metavar="PATH", help="optional contacts table")
    p.add_argument("--funnel", metavar="NAME_OR_PATH", help="preset (inbound, sales) or TOML file")
    p.add_argument("--breakdown", "--by", metavar="COL", help="column to break down by, or 'none'")
    p.add_argument(
        "--allow-personal",
        action="store_true",
        help="accept a breakdown column holding personal data; the report shows its values "
        "as keyed pseudonyms (-p allow_personal true)",
    )
    p.add_argument("--out", default="reports", metavar="DIR", help="output folder (reports)")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="another notebook parameter: window_days, weeks_of_history, lang, pseudonymize, "
        "in_memory (false for a log larger than memory)",
    )
    p.add_argument("--notebook", metavar="PATH", help="another template notebook")
    p.add_argument("--no-progress", action="store_true", help="no progress bar for a range")
    add_read_options(p)
    return _report


def _report(args: argparse.Namespace) -> int:
    from funnelkit.report import render_report

    read_options = {
        "columns": _parse_mapping(args.columns),
        "contact_columns": _parse_mapping(args.contact_columns, "--contact-columns"),
        "timezone": args.timezone,
        "timestamp_format": args.timestamp_format,
        "strict": args.strict,
        "hold": args.hold,
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
        parameters=[tuple(pair) for pair in args.parameter]
        + ([("allow_personal", "true")] if args.allow_personal else []),
        notebook=args.notebook,
        read_options={
            k: v for k, v in read_options.items() if v not in (None, False, "UTC", "auto")
        },
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
    _add_pseudonymize(parser)
    add_read_options(parser)
    return _validate


def _validate(args: argparse.Namespace) -> int:
    from funnelkit.logs import count_text

    if args.out:
        check_table_path(args.out)
    log = load_events(args.events, args, require_rows=False)
    table = load_contacts(args.contacts, args)
    if args.out:
        _write_out(log.set_aside.collect(), args)
    aside = log.summary().rows_set_aside + (table.summary().rows_set_aside if table else 0)
    print(f"{count_text(aside, 'row')} set aside" if aside else "all rows usable")
    return 1 if aside else 0


def check_table_path(path: str) -> None:
    """Refuse an ``--out`` path that :func:`write_table` cannot write, before any work."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        msg = f"--out {path}: write .csv or .parquet (got {suffix or 'no extension'!r})."
        raise ParameterError(msg)


def write_table(df: pl.DataFrame, path: str) -> None:
    """Write ``df`` to CSV (formulas made inert) or Parquet, chosen by the extension of ``path``.

    Enum and categorical columns (``stage``) are written as plain text.

    Raises
    ------
    ParameterError
        When the extension is neither, or the file cannot be written (its
        folder is a file, read-only or full), in one line naming ``path``.
    """
    import polars as pl

    from funnelkit.spreadsheets import spreadsheet_safe

    check_table_path(path)
    target = Path(path)
    # Stage columns are Enums in memory; the file holds plain text any reader takes.
    df = df.with_columns(pl.col(pl.Enum, pl.Categorical).cast(pl.String))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() == ".csv":
            # ISO 8601 in UTC, as short as exact: 2026-11-02T09:00:00Z, 2026-11-02T09:00:01.500Z
            spreadsheet_safe(df).write_csv(target, datetime_format="%Y-%m-%dT%H:%M:%S%.fZ")
        else:
            df.write_parquet(target)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        msg = f"--out {path}: cannot write it ({reason}); choose another path."
        raise ParameterError(msg) from exc


_ADDERS = (
    _add_validate,
    _add_sample,
    _add_funnels,
    _add_classify,
    _add_funnel,
    _add_drivers,
    _add_paths,
    _add_report,
)


#: Control characters (line breaks, terminal escapes) a message may carry from a file name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    r"""Return ``text`` with its control characters written as escapes, on one line.

    A file or column name, or a value of the data, may hold a line break or
    a terminal escape; printed as it is, it would split an error over lines
    or restyle the terminal.

    Examples
    --------
    >>> one_line("a\nb\x1b[31m")
    'a\\nb\\x1b[31m'
    """
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return _CONTROL.sub(lambda m: named.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


#: A message's leading parameter name, as the library writes it: ``min_size: ...``,
#: ``partitions=0: ...``.
_LEADING_NAME = re.compile(r"^([a-z][a-z_]*)(?=[:=])")


def name_the_option(message: str, parser: argparse.ArgumentParser, command: str) -> str:
    """Return ``message`` with a leading parameter name written as the option that sets it.

    The library names its parameters (``step: 'purchse' is not a step``); on
    the command line the user typed ``--step``, so the message says that.
    A name no option of ``command`` sets is left as it is.

    Examples
    --------
    >>> parser = build_parser()
    >>> name_the_option("min_size: expected a whole number >= 0", parser, "paths")
    '--min-size: expected a whole number >= 0'
    >>> name_the_option("partitions=0: give a whole number", parser, "classify")
    '--partitions=0: give a whole number'
    >>> name_the_option("events.csv: the file is empty", parser, "paths")
    'events.csv: the file is empty'
    """
    found = _LEADING_NAME.match(message)
    if found is None:
        return message
    for action in parser._actions:  # the sub-commands' parsers, by name
        if isinstance(action.choices, dict) and command in action.choices:
            sub: argparse.ArgumentParser = action.choices[command]
            for option in sub._actions:
                if option.dest == found.group(1) and option.option_strings:
                    flag: str = max(option.option_strings, key=len)
                    return flag + message[found.end() :]
    return message


def __getattr__(name: str) -> Any:
    """Keep ``funnelkit.cli.spreadsheet_safe`` importable without loading polars at start."""
    if name == "spreadsheet_safe":
        from funnelkit.spreadsheets import spreadsheet_safe

        return spreadsheet_safe
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``funnelkit`` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="funnelkit",
        description="Prospects, leads and clients: classify contacts and measure funnels.",
    )
    parser.add_argument("--version", action="version", version=f"funnelkit {__version__}")
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
    # The command line prints the unknown event names and the times outside the events
    # itself, as "warning:" lines naming its options (funnelkit.logs.unknown_events,
    # funnelkit.timeutil.span_warnings); the library's warnings of them would repeat them.
    warnings.filterwarnings("ignore", category=UnknownEventWarning)
    warnings.filterwarnings("ignore", category=SpanWarning)
    try:
        return handler(args)
    except FunnelkitError as exc:
        text = name_the_option(one_line(str(exc)), parser, args.command)
        print(f"funnelkit {args.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
