"""The event data contract: reading, typing, validating, setting rows aside.

funnelkit works on one table of **events** (``contact_id``, ``occurred_at``,
``event`` and property columns) and, optionally, one table of **contacts**.
:func:`read_events` reads a file, a folder or a frame, validates it once and
holds the result; a row that cannot be used is *set aside* with a reason and
its row number, never dropped silently, and ``strict=True`` raises a
:class:`~funnelkit.errors.RowError` instead.  :func:`read_contacts` reads the
contacts.

The columns and their accepted forms, the reasons a row is set aside, how
timestamps and ids are read, and where a validated log is held are on the
concept page ``docs/concepts/data-contract.md`` of the documentation
(``make docs``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

from funnelkit import duplicates as duplicates_module
from funnelkit.columns import CONTACT_ID, CREATED_AT, EVENT, OCCURRED_AT, REQUIRED
from funnelkit.duplicates import HASH, duplicate_rows, repeated_hashes
from funnelkit.errors import (
    DataError,
    EmptyInputError,
    MissingColumnError,
    ParameterError,
    RowError,
    TimestampError,
    did_you_mean,
)
from funnelkit.holding import (
    EVENTS_FILE,
    RECEIPT,
    SET_ASIDE_FILE,
    SUMMARY_FILE,
    Hold,
    cache_folder,
    check_hold,
    choose_hold,
    entry_facts,
    estimated_bytes,
    find_entry,
    keeps_receipt,
    parquet_fingerprint,
    summary_from_json,
    write_entry,
)
from funnelkit.logs import (
    MAX_EVENT_NAMES,
    REASON_TEXT,
    REASONS,
    ROW,
    ContactTable,
    EventLog,
    Held,
    SetAsideSummary,
    ValidatedTable,
    count_text,
    require_usable,
    timestamp_hint,
    unknown_events,
)
from funnelkit.sources import PROBLEM, Source, scan, source_stamp, type_text_columns
from funnelkit.timestamps import TIMESTAMP, check_timezone, parse_timestamp, timestamp_shape

__all__ = [
    "CONTACT_ID",
    "CREATED_AT",
    "EVENT",
    "OCCURRED_AT",
    "REASONS",
    "REQUIRED",
    "TIMESTAMP",
    "ContactTable",
    "EventLog",
    "SetAsideSummary",
    "as_lazy",
    "parse_timestamp",
    "read_contacts",
    "read_events",
    "require_usable",
    "timestamp_hint",
    "unknown_events",
    "timestamp_shape",
]

_ROW = ROW
_REASON = "__reason"
_DUPLICATE = "__duplicate"
_RAW_TS = "__raw_ts"
_TS_BLANK = "__ts_blank"
_ID_BYTES = "__id_bytes"  # the ids' bytes before stripping, summed: did any need it?
_REASON_ENUM = pl.Enum(REASONS)


def _reason(code: str) -> pl.Expr:
    """Return the reason ``code`` (one of :data:`REASONS`) as a literal of the reasons' enum."""
    return pl.lit(code, _REASON_ENUM)


# --------------------------------------------------------------------------- reading
def _scan_and_rename(
    source: Source, columns: Mapping[str, str] | None, separator: str | None, encoding: str | None
) -> tuple[pl.LazyFrame, str, str | None, dict[str, str]]:
    """Read ``source``, apply the user's renaming, then type a CSV file's numbers.

    Returns the frame, its name for messages, the encoding read (CSV only) and
    canonical -> original column names.  The renaming comes first so that
    typing never touches the columns read as ``contact_id``, ``occurred_at``,
    ``event`` or ``created_at``, whatever their name in the file.
    """
    scanned = scan(source, separator=separator, encoding=encoding)
    lf, origin = _rename(scanned.frame, columns, scanned.name)
    if scanned.decimal_comma is not None:
        # a CSV file's frame is in memory already: collecting it costs nothing
        typed = type_text_columns(
            lf.collect(), decimal_comma=scanned.decimal_comma, keep=(*REQUIRED, CREATED_AT)
        )
        lf = typed.lazy()
    return lf, scanned.name, scanned.encoding, origin


def _listed(names: Iterable[str]) -> str:
    """Return column names for a one-line message: a name with a line break or tab quoted."""
    return ", ".join(name if name.isprintable() else repr(name) for name in names)


def _names(schema: pl.Schema) -> list[str]:
    """Return the column names of ``schema`` a user knows (not the reader's own)."""
    return [c for c in schema.names() if c != PROBLEM]


def _id_text(col: str, dtype: pl.DataType) -> pl.Expr:
    """Return an id column as text: its characters for text, decimal text for numbers.

    A float that is a whole number (``1.0``, what pandas makes of an integer
    column with a missing value) is written as the integer (``"1"``), so that
    it names the same contact as the integer ``1`` or the text ``"1"`` of
    another source; any other float keeps polars' shortest text (``"1.5"``).
    """
    expr = pl.col(col)
    if dtype.is_float():
        whole = (expr == expr.round(0)) & (expr.abs() < 2.0**63)
        return (
            pl.when(whole)
            .then(expr.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(expr.cast(pl.String))
        )
    return expr.cast(pl.String)


def _stripped_id(col: str, dtype: pl.DataType) -> pl.Expr:
    """Return an id column as text (:func:`_id_text`), blanks stripped.

    The decimal text of a number has no blank to strip, so numbers are not
    stripped (a pass over ten million strings saved on integer ids).
    """
    text = _id_text(col, dtype)
    return text if dtype.is_numeric() else text.str.strip_chars()


def _rename(
    lf: pl.LazyFrame, columns: Mapping[str, str] | None, name: str
) -> tuple[pl.LazyFrame, dict[str, str]]:
    """Apply the user's column mapping; return the frame and canonical → original names."""
    present = _names(lf.collect_schema())
    origin = {c: c for c in present}
    if not columns:
        return lf, origin
    for theirs in columns:
        if theirs not in present:
            msg = (
                f"{name}: the column mapping names {theirs!r}, which is not in the data."
                f"{did_you_mean(theirs, present)} Columns present: {_listed(present)}."
            )
            raise MissingColumnError(msg)
    targets = list(columns.values())
    clash = [c for c in present if c in targets and c not in columns]
    lf = lf.drop(clash).rename(dict(columns))
    origin = {columns.get(c, c): c for c in present if c not in clash}
    return lf, origin


def _require(
    names: Sequence[str],
    required: Iterable[str],
    name: str,
    kind: str,
    renamed: Mapping[str, str] | None = None,
) -> None:
    """Raise naming the first ``required`` column missing from ``names``.

    ``renamed`` (canonical name → the source's name) tells a typo in the
    user's own ``columns=`` mapping from a column the source lacks.
    """
    for col in required:
        if col not in names:
            hint = did_you_mean(col, names)
            mapped = {ours: theirs for ours, theirs in (renamed or {}).items() if ours != theirs}
            typos = [ours for ours in mapped if ours not in required and did_you_mean(col, [ours])]
            if typos and renamed is not None:
                typo = typos[0]
                hint = (
                    f" The mapping renames {renamed[typo]!r} to {typo!r}: did you mean "
                    f"{renamed[typo]}={col} (columns={{{renamed[typo]!r}: {col!r}}})?"
                )
            if not hint:
                option = "--contact-columns" if kind == "contacts" else "--columns"
                hint = (
                    f" If it has another name, map it: columns={{'your_name': {col!r}}}"
                    f" (on the command line: {option} your_name={col})."
                )
            msg = (
                f"{name}: the {kind} have no {col!r} column.{hint} "
                f"Columns present: {_listed(names) or '(none)'}."
            )
            raise MissingColumnError(msg)


def _require_flat(
    schema: pl.Schema, columns: Iterable[str], name: str, origin: Mapping[str, str]
) -> None:
    """Raise naming the first of ``columns`` that holds lists or structs, not one value a row."""
    for col in columns:
        dtype = schema.get(col)
        if dtype is None or not dtype.is_nested():
            continue
        theirs = origin.get(col, col)
        read_as = f" (read as {col!r})" if theirs != col else ""
        msg = (
            f"{name}: the column {theirs!r}{read_as} holds {dtype} values, where funnelkit "
            "reads one text, number or time per row; flatten it in the export, or map "
            f"another column to {col!r}."
        )
        raise DataError(msg)


def _text(col: str) -> pl.Expr:
    """Return a string column with blanks stripped and empty strings as null."""
    text = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)


def _stripped(col: str) -> pl.Expr:
    """Return a string column with blanks stripped (empty strings stay empty)."""
    return pl.col(col).cast(pl.String).str.strip_chars().alias(col)


def _blank(col: str) -> pl.Expr:
    """Return whether a stripped string column is null or empty."""
    return pl.col(col).str.len_bytes().fill_null(0) == 0


def _null_if_blank(col: str) -> pl.Expr:
    """Return a stripped string column with empty strings as null, as :func:`_text` does."""
    return pl.when(~_blank(col)).then(pl.col(col)).alias(col)


def read_events(
    source: Source,
    *,
    columns: Mapping[str, str] | None = None,
    strict: bool = False,
    timezone: str = "UTC",
    timestamp_format: str | None = None,
    known_events: Iterable[str] | None = None,
    dedupe: bool = True,
    separator: str | None = None,
    encoding: str | None = None,
    hold: Hold = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    keep: Iterable[str] | None = None,
) -> EventLog:
    """Read, type and validate an event log, once.

    Unusable rows are set aside with a reason, never dropped silently; every
    later analysis reads the clean, typed rows kept in memory, on disk or
    read again (``hold``).

    Parameters
    ----------
    source
        A path to a CSV (``,`` ``;`` or tab separated, UTF-8 with or without BOM,
        or Windows-1252/Latin-1, detected), Parquet or NDJSON file; a folder or a
        glob of Parquet files (read lazily, hive partitions kept as columns); a
        polars DataFrame or LazyFrame; or a pandas DataFrame.
    columns
        Your column names mapped to funnelkit's, e.g.
        ``{"user_id": "contact_id", "ts": "occurred_at"}``; applied before
        anything is typed, so the columns mapped to ids stay text as written.
    strict
        Raise :class:`~funnelkit.errors.RowError` (or its subclass
        :class:`~funnelkit.errors.TimestampError`) on the first kind of unusable
        row instead of setting rows aside.
    timezone
        Time zone of timestamps written without an offset.
    timestamp_format
        A ``strftime`` format for timestamps that are neither ISO-8601 nor epochs
        (e.g. ``"%d/%m/%Y %H:%M"`` for a French spreadsheet).
    known_events
        When given, rows whose event is not in this set are set aside as
        ``unknown_event``.
    dedupe
        Set exact duplicate rows aside (every column compared), keeping the
        first copy in source order.  ``False`` skips the detection: the fastest
        read when the source is known to be clean.
    separator, encoding
        Force the CSV separator or text encoding instead of detecting them.
    hold
        Where the validated rows are kept: ``"memory"``, ``"disk"`` (a
        validated Parquet copy in ``cache_dir``), ``"lazy"`` (validated again
        by every query) or ``"auto"`` (default; chosen from the source's kind
        and size).  An unchanged file already validated with the same options
        is read from the cache.
    cache_dir
        The cache folder (default ``$FUNNELKIT_CACHE_DIR``, else
        ``~/.cache/funnelkit/validated``).
    keep
        The columns the log holds beside ``contact_id``, ``occurred_at`` and
        ``event`` (default: every column), for an analysis that reads a few
        columns of a wide log, as the command line's funnel does.  Every
        column is validated all the same: rows are duplicates only when equal
        in every column.  Held in memory, the other columns are not held: they
        are read again for the rows whose id, time and event repeat another
        row's, and for them alone.

    Returns
    -------
    EventLog
        ``.frame`` (lazy, canonical, validated rows), ``.set_aside`` (lazy,
        unusable rows with ``row`` and ``reason``), ``.summary()`` and
        ``.held`` (``"memory"``, ``"disk"`` or ``"lazy"``).

    Raises
    ------
    MissingColumnError
        A required column is absent (the message lists the columns present).
    EmptyInputError
        The source holds no row: an empty file, a CSV header alone, a table
        without rows, a Parquet file or folder of columns and no row.
    DataError
        The file cannot be read at all.
    RowError, TimestampError
        ``strict=True`` and some rows are unusable.
    ParameterError
        ``hold`` is unknown, or ``"disk"`` for a frame (only files are cached).

    Examples
    --------
    >>> log = read_events(pl.DataFrame({
    ...     "user": ["a", "a", None], "ts": ["2026-11-02T09:00:00Z"] * 3,
    ...     "event": ["page_view", "page_view", "like"]}),
    ...     columns={"user": "contact_id", "ts": "occurred_at"})
    >>> log.summary().rows_kept, dict(log.summary().to_dict()["set_aside_by_reason"])
    (1, {'null_contact_id': 1, 'duplicate': 1})

    See the concept page: docs/concepts/data-contract.md
    """
    check_timezone(timezone)
    hold = check_hold(hold)
    known = None if known_events is None else sorted(set(known_events))
    if isinstance(keep, str):
        msg = f"keep: expected a list of column names, e.g. keep=[{keep!r}], got the text {keep!r}"
        raise ParameterError(msg)
    held_columns = None if keep is None else list(dict.fromkeys(keep))
    stamp = source_stamp(source)
    options = {
        "columns": dict(columns or {}),
        "timezone": timezone,
        "timestamp_format": timestamp_format,
        "known_events": known,
        "dedupe": dedupe,
        "separator": separator,
        "encoding": encoding,
    }
    if stamp is not None and hold != "lazy":
        # validated before (by this process or another, e.g. a report's check)
        entry = find_entry(cache_folder(cache_dir), str(source), stamp, options)
        if entry is not None:
            log = _from_entry(entry, str(source), hold, stamp, keep=held_columns)
            if not log.summary().rows_read:  # a copy older versions kept of a file without rows
                msg = f"{log.source}: the events have column names but no rows."
                raise EmptyInputError(msg)
            if strict:
                _raise_if_rows_set_aside(
                    log, {v: k for k, v in (columns or {}).items()}, timestamp_format
                )
            return _narrowed(log, held_columns)
    lf, name, encoding_read, origin = _scan_and_rename(source, columns, separator, encoding)
    schema = lf.collect_schema()
    _require(_names(schema), REQUIRED, name, "events", origin)
    _require_flat(schema, REQUIRED, name, origin)
    materialised = not isinstance(source, pl.LazyFrame | str | Path) or _is_csv(source)
    # A table in memory or a CSV file counts its rows at once, Parquet files in
    # their footers (no row read): a source of events without rows is an error
    # now, whatever its kind.  A lazy plan is not run for it; an NDJSON file
    # without rows is an empty file.
    counted = None
    if not isinstance(source, pl.LazyFrame) and not _is_ndjson(source):
        counted = lf.select(pl.len()).collect().item()
        if counted == 0:
            msg = f"{name}: the events have column names but no rows."
            raise EmptyInputError(msg)
    materialised = materialised or _is_ndjson(source)  # its bytes are in memory already
    props = [c for c in schema.names() if c not in (*REQUIRED, PROBLEM)]
    if held_columns is not None:
        wanted = [c for c in held_columns if c not in REQUIRED]
        _require(props, wanted, name, "events", origin)

    raw_ts = schema[OCCURRED_AT]
    # Text timestamps all of one ISO shape (the usual export) are parsed with that
    # one format: the same instants, a third of the cost (one pass to tell).
    shape: Literal["any", "aware", "naive"] = "any"
    if raw_ts == pl.String and timestamp_format is None:
        shape = timestamp_shape(lf, OCCURRED_AT)
    # Ids and event names are only stripped here; a blank one (null or empty) is
    # told by _blank in the reasons and shown as null among the set-aside rows.
    # Stripping once (not again to test for emptiness) saves a third of the typing.
    typed_id = _stripped_id(CONTACT_ID, schema[CONTACT_ID]).alias(CONTACT_ID)
    typed_ts = parse_timestamp(
        pl.col(OCCURRED_AT),
        raw_ts,
        timezone=timezone,
        timestamp_format=timestamp_format,
        shape=shape,
    ).alias(OCCURRED_AT)
    ts_blank = (
        (_text(OCCURRED_AT) if raw_ts == pl.String else pl.col(OCCURRED_AT))
        .is_null()
        .alias(_TS_BLANK)
    )
    typed_key = [typed_id, typed_ts, _stripped(EVENT)]
    typing = [*typed_key, ts_blank]
    # A reason is one byte a row (an enum of REASONS), text only on the rows set aside.
    reason: Any = (
        pl.when(pl.col(PROBLEM).is_not_null())
        .then(pl.col(PROBLEM).cast(_REASON_ENUM))
        .when(_blank(CONTACT_ID))
        if PROBLEM in schema
        else pl.when(_blank(CONTACT_ID))
    )
    reason = (
        reason.then(_reason("null_contact_id"))
        .when(_blank(EVENT))
        .then(_reason("null_event"))
        .when(pl.col(_TS_BLANK))
        .then(_reason("null_timestamp"))
        .when(pl.col(OCCURRED_AT).is_null())
        .then(_reason("bad_timestamp"))
    )
    if known is not None:
        reason = reason.when(~pl.col(EVENT).is_in(known)).then(_reason("unknown_event"))
    reason = reason.otherwise(None).alias(_REASON)
    key = [CONTACT_ID, OCCURRED_AT, EVENT, *props]

    def checking(rows: pl.LazyFrame, event: pl.Expr, *more: pl.Expr) -> pl.LazyFrame:
        """Every row of ``rows``, numbered, typed (``event`` typing the event) and its reason."""
        return (
            rows.with_row_index(_ROW, offset=1)
            .with_columns(
                pl.col(OCCURRED_AT).alias(_RAW_TS), typed_id, typed_ts, event, ts_blank, *more
            )
            .with_columns(reason)
        )

    checked = checking(lf, _stripped(EVENT))
    aside_columns = [
        pl.col(_ROW).cast(pl.Int64).alias("row"),
        pl.col(_REASON).cast(pl.String).alias("reason"),
        _null_if_blank(CONTACT_ID),
        pl.col(_RAW_TS).cast(pl.String).alias(OCCURRED_AT),
        _null_if_blank(EVENT),
        # a row with a bad encoding or a wrong field count shows every field it has
        *(
            [
                pl.when(pl.col(PROBLEM).is_not_null())
                .then(pl.concat_str(pl.col(*props).cast(pl.String).fill_null(""), separator=" | "))
                .alias("other_fields")
            ]
            if PROBLEM in schema and props
            else []
        ),
    ]
    estimate = None
    if hold in ("auto", "disk") and not materialised and counted is not None:
        estimate = estimated_bytes(schema, counted)
    held = choose_hold(hold, estimate=estimate, lazy_plan=isinstance(source, pl.LazyFrame))
    fits = held == "memory" or choose_hold("auto", estimate=estimate, lazy_plan=False) == "memory"
    if held != "lazy" and fits:
        # Validated once, in memory: the rows typed and checked in one pass over
        # the source, duplicates found among them, the summary counted from them.
        # Event names are few: text names are typed as they are, then listed once
        # (see _plain_names); only when one has blanks to strip (rare) is the
        # column stripped and the reasons given again.  The names serve the summary.
        text = schema[EVENT] == pl.String
        # held in memory, columns not kept are not read, but for the rows that may repeat
        dropped = [c for c in props if held_columns is not None and c not in held_columns]
        dropped = dropped if held == "memory" and PROBLEM not in schema else []
        read = lf.drop(dropped) if dropped else lf
        # one Parquet file held in memory: validated before, or leaves a receipt now
        receipts = held == "memory" and PROBLEM not in schema and keeps_receipt(source)
        receipt = None
        if receipts and stamp is not None:
            receipt = _find_receipt(source, stamp, cache_dir, options)
        if receipt is not None and stamp is not None and counted is not None:
            # validated before, by this process or another: the kept rows are the file's
            # rows but those set aside, typed alike (see _read_by_receipt)
            typed = [typed_id, typed_ts]
            again = _read_by_receipt(
                receipt, str(source), read, counted, typed, name, encoding_read, stamp
            )
            if again is not None:
                if strict:
                    _raise_if_rows_set_aside(again, origin, timestamp_format)
                return _narrowed(again, held_columns)
        # text ids: their bytes before stripping, one sum (a scalar, not a column)
        text_ids = schema[CONTACT_ID] == pl.String
        raw_bytes = [pl.col(CONTACT_ID).str.len_bytes().sum().alias(_ID_BYTES)] if text_ids else []
        rows = checking(read, pl.col(EVENT) if text else _stripped(EVENT), *raw_bytes).collect()
        plain_ids = text_ids and (
            rows.is_empty()
            or rows.get_column(_ID_BYTES)[0] == rows.get_column(CONTACT_ID).str.len_bytes().sum()
        )
        rows = rows.drop(_ID_BYTES, strict=False)
        names = _plain_names(rows, EVENT) if text else None
        if text and names is None:
            rows = rows.with_columns(_stripped(EVENT)).with_columns(reason)
        others = None
        if dropped:

            def others(numbers: pl.Series) -> pl.DataFrame:
                wanted = pl.col(_ROW).is_in(numbers.implode())
                return lf.select(dropped).with_row_index(_ROW, offset=1).filter(wanted).collect()

        held_key = [c for c in key if c not in dropped]
        kept, aside, all_usable = _validate_in_memory(
            rows, held_key, aside_columns, dedupe=dedupe, others=others
        )
        listed = None
        if names is not None and all_usable and names.len() <= MAX_EVENT_NAMES:
            listed = tuple(sorted(names.to_list()))  # no row set aside: the kept rows' names
        log = _held_log(kept.lazy(), aside.lazy(), name, encoding_read, "memory", stamp)
        log = replace(log, summarized=log.count(event_names=listed))
        if held == "disk":
            log = _write_cache(log, kept, aside, cache_dir, source, stamp, options)
        elif receipts and stamp is not None:
            plain = {"plain_ids": plain_ids, "plain_event_names": names is not None}
            _leave_receipt(log, cache_dir, source, stamp, options, plain)
        if strict:
            _raise_if_rows_set_aside(log, origin, timestamp_format)
        return _narrowed(log, held_columns)
    # The kept rows need neither the raw timestamp text nor, without dedupe, row
    # numbers: leaving them out keeps the main path as cheap as a plain scan plus
    # the checks.  Duplicate detection (see funnelkit.duplicates) takes three passes
    # over the rows: hashes counted, candidate rows compared, rows kept.
    if not dedupe:
        usable = lf.with_columns(typing).with_columns(reason).filter(pl.col(_REASON).is_null())
    elif isinstance(raw_ts, pl.Datetime | pl.Date) or raw_ts.is_numeric():
        # Typing is cheap, so each pass reads and types the source again.  Each has
        # a plan of its own (row numbers taken before or after typing are the same
        # numbers) so that polars does not share one subplan between them, which
        # the streaming engine would hold in memory whole between the passes:
        # this way a log larger than memory streams.
        duplicates = duplicate_rows(
            lf.with_columns(typing)
            .with_row_index(_ROW, offset=1)
            .with_columns(reason)
            .filter(pl.col(_REASON).is_null()),
            key,
            counted=lf.select(*typed_key, *props),
            # held on disk, the log is validated now, once: its hashes are sorted
            # (8 bytes a row) rather than counted in a streaming group-by (a few
            # dozen bytes a distinct row, and five times the CPU)
            repeated=repeated_hashes(lf.select(*typed_key), key) if held == "disk" else None,
        )
        usable = (
            lf.with_row_index(_ROW, offset=1)
            .with_columns(typing)
            .with_columns(reason)
            .filter(pl.col(_REASON).is_null())
        )
    else:
        # Parsing text timestamps costs more than holding the typed rows: they
        # are typed once and kept in memory for the three passes.
        checked = checked.cache()
        usable = checked.filter(pl.col(_REASON).is_null())
        duplicates = duplicate_rows(usable, key)
    if dedupe:
        usable = usable.join(
            duplicates, on=_ROW, how="anti", maintain_order="left", build_side="force_right"
        )
        checked = checked.join(
            duplicates.with_columns(_reason("duplicate").alias(_DUPLICATE)),
            on=_ROW,
            how="left",
            maintain_order="left",
            build_side="force_right",
        ).with_columns(pl.coalesce(_REASON, _DUPLICATE).alias(_REASON))
    frame = usable.select(*REQUIRED, *props)
    set_aside = checked.filter(pl.col(_REASON).is_not_null()).select(*aside_columns)
    # the kept rows with their numbers, read only to name the rows of a warning
    numbered = (
        lf.with_row_index(_ROW, offset=1)
        .with_columns(typing)
        .with_columns(reason)
        .filter(pl.col(_REASON).is_null())
        .select(_ROW, *REQUIRED, *props)
    )
    if held == "disk":  # larger than memory: every pass streams into the cache
        kept_rows = usable.select(_ROW, *REQUIRED, *props) if dedupe else numbered
        log = _write_cache(None, kept_rows, set_aside, cache_dir, source, stamp, options)
    else:
        log = EventLog(frame, set_aside, name, encoding_read, numbered, stamp=stamp)
    if strict:
        _raise_if_rows_set_aside(log, origin, timestamp_format)
    return _narrowed(log, held_columns)


def _find_receipt(
    source: Source,
    stamp: tuple[int, int, int],
    cache_dir: str | os.PathLike[str] | None,
    options: Mapping[str, Any],
) -> Path | None:
    """Return the receipt of ``source`` as it is now, read with ``options``, or ``None``.

    A folder at its place that funnelkit did not write is left alone: the
    source is then validated.
    """
    try:
        return find_entry(cache_folder(cache_dir), str(source), stamp, options, kind=RECEIPT)
    except DataError:
        return None


def _leave_receipt(
    log: EventLog,
    cache_dir: str | os.PathLike[str] | None,
    source: Source,
    stamp: tuple[int, int, int],
    options: Mapping[str, Any],
    plain: Mapping[str, bool],
) -> None:
    """Keep what validating a Parquet file found, for the next reading of it unchanged.

    The receipt (:data:`funnelkit.holding.RECEIPT`) holds the set-aside rows,
    the summary and the file's fingerprint and row count, and whether its ids
    and event names needed stripping (``plain``: ``{"plain_ids": True}`` when
    no text id did).  A cache folder that cannot be written leaves no receipt,
    and nothing else changes.
    """
    facts: dict[str, Any] = dict(plain)
    facts.update(fingerprint=parquet_fingerprint(str(source)), rows=log.summary().rows_read)
    with contextlib.suppress(DataError, OSError):
        write_entry(
            cache_folder(cache_dir),
            str(source),
            stamp,
            options,
            None,
            log.set_aside,
            lambda events, set_aside: log.summary(),
            facts=facts,
        )


def _read_by_receipt(
    receipt: Path,
    path: str,
    read: pl.LazyFrame,
    row_count: int,
    typed: Sequence[pl.Expr],
    name: str,
    encoding: str | None,
    stamp: tuple[int, int, int],
) -> EventLog | None:
    """Return the log a receipt of the unchanged file gives, without validating; else ``None``.

    ``read``: the file's rows as read (renamed, the columns not held
    dropped), ``row_count`` their number (counted from the footer once, by
    the reading); ``typed``: the id's and the time's typing, as validating types
    them.  The kept rows are the rows not set aside, in their order, numbered
    as before, typed as before (text ids and event names stripped only if
    some needed it): the same frames as validating again.  ``None``
    (validate) when the file's fingerprint or row count differs from the
    receipt's, or when the receipt cannot be read (it is then removed, and
    the validation leaves a new one).
    """
    facts = entry_facts(receipt)
    if facts.get("fingerprint") != parquet_fingerprint(path):
        return None
    if row_count != facts.get("rows"):
        return None
    try:
        summary = summary_from_json((receipt / SUMMARY_FILE).read_text(encoding="utf-8"), name)
        aside = pl.read_parquet(receipt / SET_ASIDE_FILE)
    except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError):
        shutil.rmtree(receipt, ignore_errors=True)  # funnelkit's own entry (its mark was checked)
        return None
    rows = read.with_row_index(_ROW, offset=1)
    if aside.height:
        numbers = aside.get_column("row").cast(rows.collect_schema()[_ROW])
        rows = rows.filter(~pl.col(_ROW).is_in(numbers.implode()))
    event = pl.col(EVENT) if facts.get("plain_event_names") else _stripped(EVENT)
    typing = [*typed, event]
    if facts.get("plain_ids"):  # text ids, none with a blank to strip
        typing = typing[1:]
    props = [c for c in read.collect_schema().names() if c not in REQUIRED]
    kept = rows.with_columns(*typing).select(_ROW, *REQUIRED, *props).collect()
    return _held_log(kept.lazy(), aside.lazy(), name, encoding, "memory", stamp, summary)


def _plain_names(raw: pl.DataFrame, column: str) -> pl.Series | None:
    """Return the distinct non-null values of a text ``column`` when none has blanks to strip.

    Stripping is then the identity: the column typed as it is types it as
    :func:`_stripped` would.  ``None`` when some value needs stripping or the
    column is not text (the general typing runs).  Listing a column of few
    distinct values (event names) costs half of stripping every value.
    """
    if raw.schema[column] != pl.String:
        return None
    names = raw.get_column(column).unique().drop_nulls()
    return names if (names.str.strip_chars() == names).all() else None


def _validate_in_memory(
    rows: pl.DataFrame,
    key: Sequence[str],
    aside_columns: Sequence[pl.Expr],
    *,
    dedupe: bool,
    others: Callable[[pl.Series], pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
    """Return the kept rows (with their numbers), the set-aside rows, and whether all were usable.

    ``rows`` are every row of the source, numbered, typed and with its
    reason (or null); the duplicates are looked for among its usable rows
    (what :func:`funnelkit.duplicates.duplicate_rows` answers).  The flag tells
    that no row had a reason before duplicates were looked for.  ``others``
    reads the source's columns not in ``rows`` for the given row numbers:
    rows are then compared on those columns too.
    """
    all_usable = rows.get_column(_REASON).null_count() == rows.height
    if dedupe:
        repeats = _repeated_rows(rows, key, others)
        if repeats.len():
            rows = rows.with_columns(
                pl.when(pl.col(_ROW).is_in(repeats.implode()))
                .then(_reason("duplicate"))
                .otherwise(pl.col(_REASON))
                .alias(_REASON)
            )
    good = pl.col(_REASON).is_null()
    props = [c for c in rows.columns if c not in (*REQUIRED, _ROW, _REASON, _RAW_TS, _TS_BLANK)]
    props = [c for c in props if c != PROBLEM]
    kept, aside = pl.collect_all(
        [
            rows.lazy().filter(good).select(_ROW, *REQUIRED, *props),
            rows.lazy().filter(~good).select(*aside_columns),
        ]
    )
    return kept, aside, all_usable


def _repeated_rows(
    rows: pl.DataFrame,
    key: Sequence[str],
    others: Callable[[pl.Series], pl.DataFrame] | None = None,
) -> pl.Series:
    """Return the numbers of the usable ``rows`` that repeat an earlier one, in memory.

    What :func:`funnelkit.duplicates.duplicate_rows` answers, found by sorting the rows' hashes
    (in memory, sorting finds the hashes seen twice at a fraction of the cost
    of a group-by) and comparing value by value only the rows whose hash
    repeats (on the columns ``others`` reads for them too, when given).
    """
    usable = pl.col(_REASON).is_null()
    hashed = rows.select(
        _ROW, pl.when(usable).then(duplicates_module.row_hash(key)).alias(HASH), *key
    )
    # one thread: the parallel sort costs twice the CPU for about the same wall time on 2 cores
    ordered = hashed.get_column(HASH).drop_nulls().sort(multithreaded=False)
    twice = ordered.filter(ordered == ordered.shift(1)).unique()
    if twice.is_empty():
        return pl.Series(_ROW, [], dtype=rows.schema[_ROW])
    candidates = hashed.filter(pl.col(HASH).is_in(twice.implode()))
    compared = list(key)
    if others is not None:
        more = others(candidates.get_column(_ROW))
        candidates = candidates.join(more, on=_ROW, how="left")
        compared += [c for c in more.columns if c != _ROW]
    return (
        candidates.lazy()
        .sort(_ROW)
        .filter(~pl.struct(compared).is_first_distinct())
        .select(_ROW)
        .collect()
        .get_column(_ROW)
    )


def _held_names(names: Sequence[str], keep: Sequence[str]) -> list[str]:
    """Return the ``names`` a log keeping ``keep`` holds: the required ones and those kept."""
    return [c for c in names if c in REQUIRED or c in keep]


def _narrowed(log: EventLog, keep: Sequence[str] | None) -> EventLog:
    """Return ``log`` holding only the required columns and ``keep`` (all without ``keep``)."""
    if keep is None:
        return log
    present = log.frame.collect_schema().names()
    names = _held_names(present, keep)
    if names == present:
        return log
    numbered = None if log.numbered is None else log.numbered.select(_ROW, *names)
    return replace(log, frame=log.frame.select(names), numbered=numbered)


def _held_log(
    kept: pl.LazyFrame,
    aside: pl.LazyFrame,
    name: str,
    encoding: str | None,
    held: Held,
    stamp: tuple[int, int, int] | None,
    summary: SetAsideSummary | None = None,
) -> EventLog:
    """Return the log of validated rows held in memory or in a cache (``kept`` numbered)."""
    frame = kept.drop(_ROW)
    return EventLog(frame, aside, name, encoding, kept, held=held, stamp=stamp, summarized=summary)


def _write_cache(
    log: EventLog | None,
    kept: pl.DataFrame | pl.LazyFrame,
    aside: pl.DataFrame | pl.LazyFrame,
    cache_dir: str | os.PathLike[str] | None,
    source: Source,
    stamp: tuple[int, int, int] | None,
    options: Mapping[str, Any],
) -> EventLog:
    """Write the validated rows to the cache; return the log reading them from there."""
    if stamp is None:
        msg = (
            "hold='disk' keeps a validated copy of a file, folder or pattern; a frame is held "
            "in memory (hold='memory') or read lazily (hold='lazy')."
        )
        raise ParameterError(msg)
    name = str(source)
    encoding = None if log is None else log.encoding

    def count(events: Path, set_aside: Path) -> SetAsideSummary:
        written = _held_log(_scan(events), _scan(set_aside), name, encoding, "disk", stamp)
        return log.summary() if log is not None else written.count()

    folder = cache_folder(cache_dir)
    entry, summary = write_entry(folder, name, stamp, options, kept, aside, count)
    return _from_entry(entry, name, "disk", stamp, summary)


def _scan(path: Path) -> pl.LazyFrame:
    return pl.scan_parquet(path, glob=False)


def _from_entry(
    entry: Path,
    name: str,
    hold: Hold,
    stamp: tuple[int, int, int],
    summary: SetAsideSummary | None = None,
    *,
    keep: Sequence[str] | None = None,
) -> EventLog:
    """Return the log a cache entry holds: read into memory when it fits, else scanned.

    ``keep``: the only columns read beside the row numbers and the required
    ones (every column without it), as :func:`read_events` takes it.
    """
    if summary is None:
        text = (entry / SUMMARY_FILE).read_text(encoding="utf-8")
        summary = summary_from_json(text, name)
    kept, aside = _scan(entry / EVENTS_FILE), _scan(entry / SET_ASIDE_FILE)
    if keep is not None:
        kept = kept.select(_held_names(kept.collect_schema().names(), [_ROW, *keep]))
    estimate = estimated_bytes(kept.collect_schema(), summary.rows_kept)
    held = choose_hold(hold, estimate=estimate, lazy_plan=False)
    if held == "memory":
        kept_df, aside_df = pl.collect_all([kept, aside])
        kept, aside = kept_df.lazy(), aside_df.lazy()
    else:
        held = "disk"
    return _held_log(kept, aside, name, summary.encoding, held, stamp, summary)


def _is_ndjson(source: Source) -> bool:
    return isinstance(source, str | Path) and Path(source).suffix.lower() in (
        ".ndjson",
        ".jsonl",
        ".json",
    )


def _is_csv(source: Source) -> bool:
    return isinstance(source, str | Path) and Path(source).suffix.lower() in (
        ".csv",
        ".tsv",
        ".txt",
    )


def _raise_if_rows_set_aside(
    log: ValidatedTable, origin: Mapping[str, str], timestamp_format: str | None = None
) -> None:
    summary = log.summary()
    if not summary.by_reason:
        return
    columns = {
        "null_contact_id": CONTACT_ID,
        "duplicate_contact": CONTACT_ID,
        "null_event": EVENT,
        "unknown_event": EVENT,
        "null_timestamp": OCCURRED_AT,
        "bad_timestamp": OCCURRED_AT,
        "bad_created_at": CREATED_AT,
    }
    examples = log.set_aside.filter(
        pl.col("row").is_in([r for _, rows in summary.by_reason.values() for r in rows])
    ).collect()
    parts = []
    for reason, (count, rows) in summary.by_reason.items():
        column = columns.get(reason)
        where = ""
        if column is not None:
            theirs = origin.get(column, column)
            where = f" in column {theirs!r}" + (
                f" (read as {column!r})" if theirs != column else ""
            )
        values = (
            dict(examples.select("row", column).iter_rows()) if column in examples.columns else {}
        )
        shown = ", ".join(
            f"row {r}" + (f" ({values[r]!r})" if values.get(r) is not None else "") for r in rows
        )
        more = ", ..." if count > len(rows) else ""
        parts.append(f"{count:,} with {REASON_TEXT.get(reason, reason)}{where}: {shown}{more}")
    unusable = count_text(summary.rows_set_aside, "unusable row")
    msg = f"{log.source}: {unusable}: " + "; ".join(parts) + "."
    if "bad_timestamp" in summary.by_reason or "bad_created_at" in summary.by_reason:
        # The command line's --timestamp-format reads the events, not the contacts.
        option = "--timestamp-format" if "bad_timestamp" in summary.by_reason else ""
        if timestamp_format is None:
            msg += (
                " Timestamps must be ISO-8601 (2026-11-02T09:30:00+01:00), or epoch seconds or"
                " milliseconds; pass timestamp_format='%d/%m/%Y %H:%M' (for example"
                + (f"; {option} on the command line" if option else "")
                + ") for another layout."
            )
        else:
            msg += (
                f" Timestamps must match timestamp_format={timestamp_format!r}"
                + (f" ({option})" if option else "")
                + ": check the format, and that each date exists."
            )
        raise TimestampError(msg)
    msg += (
        " Fix these rows, or read without strict=True (--strict) to set them aside and count them."
    )
    raise RowError(msg)


def read_contacts(
    source: Source,
    *,
    columns: Mapping[str, str] | None = None,
    strict: bool = False,
    timezone: str = "UTC",
    timestamp_format: str | None = None,
    separator: str | None = None,
    encoding: str | None = None,
    hold: Literal["auto", "memory", "lazy"] = "auto",
) -> ContactTable:
    """Read and validate a contacts table (one row per contact), once.

    Only ``contact_id`` is required; ``created_at``, when present, is parsed like
    ``occurred_at`` in :func:`read_events`.  Rows set aside: ``null_contact_id``,
    ``bad_created_at`` (a non-empty value that does not parse) and
    ``duplicate_contact`` (a ``contact_id`` already seen on an earlier row; the
    first row is kept).

    Parameters
    ----------
    source, columns, strict, timezone, timestamp_format, separator, encoding
        As in :func:`read_events`.
    hold
        ``"memory"`` (the rows, the rows set aside and the summary computed
        once and held), ``"lazy"`` (every query validates again) or
        ``"auto"`` (default: ``"lazy"`` for a LazyFrame, ``"memory"``
        otherwise).

    Returns
    -------
    ContactTable
        ``.frame``, ``.set_aside`` and ``.summary()``.

    Raises
    ------
    MissingColumnError
        When ``contact_id`` is absent.
    EmptyInputError, DataError
        When the file is empty or cannot be read.
    RowError, TimestampError
        ``strict=True`` and some rows are unusable.
    ParameterError
        When ``hold`` is unknown.

    Examples
    --------
    >>> table = read_contacts(pl.DataFrame({"contact_id": ["a", "b", "a"]}))
    >>> table.summary().rows_kept
    2

    See the concept page: docs/concepts/data-contract.md
    """
    check_timezone(timezone)
    lf, name, encoding_read, origin = _scan_and_rename(source, columns, separator, encoding)
    schema = lf.collect_schema()
    _require(_names(schema), (CONTACT_ID,), name, "contacts", origin)
    _require_flat(schema, (CONTACT_ID, CREATED_AT), name, origin)
    others = [c for c in schema.names() if c not in (CONTACT_ID, CREATED_AT, PROBLEM)]
    contact_id = _stripped_id(CONTACT_ID, schema[CONTACT_ID])
    _null_id = pl.col(CONTACT_ID).is_null()
    typed = lf.with_row_index(_ROW, offset=1).with_columns(
        pl.when(contact_id.str.len_chars() > 0).then(contact_id).alias(CONTACT_ID)
    )
    reason: Any = (
        pl.when(pl.col(PROBLEM).is_not_null()).then(pl.col(PROBLEM)).when(_null_id)
        if PROBLEM in schema
        else pl.when(_null_id)
    ).then(pl.lit("null_contact_id"))
    keep = [CONTACT_ID]
    raw_created: pl.Expr = pl.lit(None, dtype=pl.String)
    if CREATED_AT in schema:
        typed = typed.with_columns(
            pl.col(CREATED_AT).cast(pl.String).alias(_RAW_TS),
            parse_timestamp(
                pl.col(CREATED_AT),
                schema[CREATED_AT],
                timezone=timezone,
                timestamp_format=timestamp_format,
            ).alias(CREATED_AT),
        )
        reason = reason.when(_text(_RAW_TS).is_not_null() & pl.col(CREATED_AT).is_null()).then(
            pl.lit("bad_created_at")
        )
        keep.append(CREATED_AT)
        raw_created = pl.col(_RAW_TS)
    reason = reason.when(~pl.col(CONTACT_ID).is_first_distinct()).then(pl.lit("duplicate_contact"))
    typed = typed.with_columns(reason.otherwise(None).alias(_REASON))
    frame = typed.filter(pl.col(_REASON).is_null()).select(*keep, *others)
    set_aside = typed.filter(pl.col(_REASON).is_not_null()).select(
        pl.col(_ROW).cast(pl.Int64).alias("row"),
        pl.col(_REASON).alias("reason"),
        pl.col(CONTACT_ID),
        raw_created.alias(CREATED_AT),
    )
    stamp = source_stamp(source)
    if hold not in ("auto", "memory", "lazy"):
        msg = f"hold={hold!r}: choose one of 'auto', 'memory', 'lazy' for contacts."
        raise ParameterError(msg)
    if hold == "memory" or (hold == "auto" and not isinstance(source, pl.LazyFrame)):
        kept, aside = pl.collect_all([frame, set_aside])
        table = ContactTable(
            kept.lazy(), aside.lazy(), name, encoding_read, held="memory", stamp=stamp
        )
        table.summary()  # counted now, once
    else:
        table = ContactTable(frame, set_aside, name, encoding_read, stamp=stamp)
    if strict:
        _raise_if_rows_set_aside(table, origin, timestamp_format)
    return table


# --------------------------------------------------------------------------- frames
def as_lazy(events: EventLog | pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Return the canonical lazy events frame of ``events``.

    An :class:`EventLog` gives its validated frame.  A polars frame must already
    hold the three required columns with ``occurred_at`` as a datetime (naive
    datetimes are taken as UTC); anything that needs parsing goes through
    :func:`read_events`, which sets unusable rows aside instead of losing them.

    Parameters
    ----------
    events
        An :class:`EventLog`, or a polars DataFrame or LazyFrame.

    Returns
    -------
    polars.LazyFrame
        ``occurred_at`` as ``Datetime("us", "UTC")``.

    Raises
    ------
    MissingColumnError
        When a required column is absent.
    TimestampError
        When ``occurred_at`` is not a datetime (read the frame with
        :func:`read_events` instead).
    ParameterError
        When ``events`` is of another type.

    Examples
    --------
    >>> import datetime as dt
    >>> df = pl.DataFrame({"contact_id": ["a"], "event": ["like"],
    ...                    "occurred_at": [dt.datetime(2026, 11, 2)]})
    >>> as_lazy(df).collect_schema()["occurred_at"]
    Datetime(time_unit='us', time_zone='UTC')

    See the concept page: docs/concepts/data-contract.md
    """
    if isinstance(events, ValidatedTable):
        return events.frame
    if not isinstance(events, pl.DataFrame | pl.LazyFrame):
        msg = (
            f"expected events as an EventLog or a polars frame, got {_type_name(events)}; "
            "read files and pandas frames with funnelkit.read_events(...)."
        )
        raise ParameterError(msg)
    lf = events.lazy()
    schema = lf.collect_schema()
    _require(schema.names(), REQUIRED, "<frame>", "events")
    ts = schema[OCCURRED_AT]
    if not isinstance(ts, pl.Datetime):
        msg = (
            f"the events' {OCCURRED_AT!r} column is {ts}, not a datetime; read the data with "
            "funnelkit.read_events(...), which parses timestamps and sets unusable rows aside."
        )
        raise TimestampError(msg)
    casts = []
    if schema[CONTACT_ID] != pl.String:
        casts.append(_id_text(CONTACT_ID, schema[CONTACT_ID]).alias(CONTACT_ID))
    if schema[EVENT] != pl.String:
        casts.append(pl.col(EVENT).cast(pl.String))
    if ts != TIMESTAMP:
        casts.append(parse_timestamp(pl.col(OCCURRED_AT), ts).alias(OCCURRED_AT))
    return lf.with_columns(casts) if casts else lf


def _type_name(value: object) -> str:
    """Return ``pandas.DataFrame`` for a pandas frame: a bare class name is ambiguous here."""
    kind = type(value)
    package = kind.__module__.split(".")[0]
    return kind.__name__ if package == "builtins" else f"{package}.{kind.__name__}"


def optional_contacts(
    contacts: ContactTable | pl.LazyFrame | pl.DataFrame | None,
) -> pl.LazyFrame | None:
    """Return :func:`as_lazy_contacts` of ``contacts``, or ``None`` when none are given."""
    return None if contacts is None else as_lazy_contacts(contacts)


def as_lazy_contacts(contacts: ContactTable | pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Return the canonical lazy contacts frame (``contact_id`` String, ``created_at`` UTC)."""
    if isinstance(contacts, ValidatedTable):
        return contacts.frame
    if not isinstance(contacts, pl.DataFrame | pl.LazyFrame):
        msg = (
            f"contacts: expected a ContactTable or a polars frame, got "
            f"{_type_name(contacts)}; read files and pandas frames with "
            "funnelkit.read_contacts(...)."
        )
        raise ParameterError(msg)
    lf = contacts.lazy()
    schema = lf.collect_schema()
    _require(schema.names(), (CONTACT_ID,), "<frame>", "contacts")
    casts = [_id_text(CONTACT_ID, schema[CONTACT_ID]).alias(CONTACT_ID)]
    if CREATED_AT in schema:
        created = schema[CREATED_AT]
        if not isinstance(created, pl.Datetime | pl.Date):
            msg = (
                f"the contacts' {CREATED_AT!r} column is {created}, not a datetime; read them "
                "with funnelkit.read_contacts(...)."
            )
            raise TimestampError(msg)
        casts.append(parse_timestamp(pl.col(CREATED_AT), created).alias(CREATED_AT))
    return lf.with_columns(casts)
