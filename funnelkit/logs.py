"""Validated tables: the event log and the contacts table, and what reading set aside.

:class:`EventLog` and :class:`ContactTable` hold the validated rows (lazy
frames), the rows set aside with their reasons, and the
:class:`SetAsideSummary` of the reading, computed once.  How a table was read
and validated is :mod:`funnelkit.events`; how it is held (memory, a validated
Parquet cache, or lazily) is :mod:`funnelkit.holding`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import polars as pl

from funnelkit.columns import CONTACT_ID, EVENT, OCCURRED_AT
from funnelkit.definitions import list_presets, load_funnel
from funnelkit.errors import DataError, did_you_mean

__all__ = [
    "REASONS",
    "REASON_TEXT",
    "ROW",
    "SHOWN_ROWS",
    "ContactTable",
    "EventLog",
    "Held",
    "MAX_EVENT_NAMES",
    "SetAsideSummary",
    "ValidatedTable",
    "count_text",
    "require_usable",
    "timestamp_hint",
    "unknown_events",
]

REASONS = (
    "bad_encoding",
    "wrong_field_count",
    "null_contact_id",
    "null_event",
    "null_timestamp",
    "bad_timestamp",
    "unknown_event",
    "duplicate",
)
REASON_TEXT = {
    "bad_encoding": "bytes that are not UTF-8, shown escaped; the rest read as UTF-8",
    "wrong_field_count": "more or fewer fields than the header",
    "null_contact_id": "no contact id",
    "null_event": "no event name",
    "null_timestamp": "no timestamp",
    "bad_timestamp": "unparseable timestamp",
    "unknown_event": "event not in the known events",
    "duplicate": "exact duplicate of an earlier row",
    "duplicate_contact": "contact id already seen on an earlier row",
    "bad_created_at": "unparseable created_at",
}


def count_text(count: int, noun: str) -> str:
    """Return ``count`` and ``noun``, plural unless the count is 1: ``1 row``, ``18,481 rows``.

    Parameters
    ----------
    count
        How many.
    noun
        The singular, made plural by an ``s`` (``"row"``, ``"unusable row"``).

    Returns
    -------
    str
        The count with thousands separators, then the noun.

    Examples
    --------
    >>> count_text(1, "row"), count_text(18481, "row"), count_text(0, "row")
    ('1 row', '18,481 rows', '0 rows')

    See the guide: docs/guides/read-set-aside-rows.md
    """
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


#: The column numbering a source's data rows from 1, while reading.
ROW = "__row"
#: How many row numbers a summary keeps per reason.
SHOWN_ROWS = 5
#: A summary lists the distinct event names of a log up to this many.
MAX_EVENT_NAMES = 10_000


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SetAsideSummary:
    """How many rows were read, kept and set aside, and why.

    Counted by the same query that validates the rows; ``to_dict()`` gives
    it as JSON-ready values and the report prints it.  ``str()`` gives the
    lines the command line prints, ``repr()`` the counts on one line.

    Attributes
    ----------
    source
        Where the rows came from (a path, or ``"<frame>"``).
    rows_read
        Every data row of the source.
    rows_kept
        Rows in the validated frame.
    by_reason
        ``{reason: (count, first row numbers)}`` for each reason met.
    first_at, last_at
        The earliest and latest ``occurred_at`` of the kept rows (events only;
        ``None`` for contacts or without rows), counted in the same query.
    encoding
        How a CSV file's text was decoded (``"utf-8"``, ``"cp1252"``...);
        ``None`` for other sources.
    bulk_first_at, bulk_last_at
        The earliest and latest ``occurred_at`` once the outliers named in
        ``warnings`` (events more than two years before the 1st or after the
        99th percentile of the times, typos such as 2062 for 2026) are left
        out; equal to ``first_at`` and ``last_at`` when there is none.
    warnings
        One line per thing in the kept rows worth a look: such outliers, or
        numbers read as epoch seconds that look like ``%Y%m%d`` dates.
    event_names
        The distinct event names of the kept rows, sorted (events only; ``None``
        for contacts, or past :data:`MAX_EVENT_NAMES` names), counted in the
        same query: what a misspelt step name is checked against.

    Examples
    --------
    >>> from funnelkit.events import read_events
    >>> log = read_events(pl.DataFrame({"contact_id": ["a", None],
    ...     "occurred_at": ["2026-11-02"] * 2, "event": ["like", "like"]}))
    >>> summary = log.summary()
    >>> summary.rows_read, summary.rows_kept, list(summary.by_reason)
    (2, 1, ['null_contact_id'])

    See the guide: docs/guides/read-set-aside-rows.md
    """

    source: str
    rows_read: int
    rows_kept: int
    by_reason: Mapping[str, tuple[int, tuple[int, ...]]]
    first_at: datetime | None = None
    last_at: datetime | None = None
    encoding: str | None = None
    bulk_first_at: datetime | None = None
    bulk_last_at: datetime | None = None
    warnings: tuple[str, ...] = ()
    event_names: tuple[str, ...] | None = None

    @property
    def rows_set_aside(self) -> int:
        """Rows that were not kept."""
        return self.rows_read - self.rows_kept

    def lines(self) -> list[str]:
        """Return a human-readable line per reason (empty when nothing was set aside)."""
        out = []
        for reason, (count, rows) in self.by_reason.items():
            shown = ", ".join(str(r) for r in rows)
            more = ", ..." if count > len(rows) else ""
            text = REASON_TEXT.get(reason, reason)
            which = "row" if count == 1 else "rows"
            out.append(f"{count:,} {reason} ({text}): {which} {shown}{more}")
        return out

    def notes(self) -> list[str]:
        """Return the encoding used (when not plain UTF-8) and the warnings, a line each."""
        out = []
        if self.encoding not in (None, "utf-8"):
            out.append(f"note: the text was decoded as {self.encoding}")
        return out + [f"warning: {w}" for w in self.warnings]

    def __str__(self) -> str:
        head = (
            f"{self.source}: read {count_text(self.rows_read, 'row')}, kept {self.rows_kept:,}, "
            f"set aside {self.rows_set_aside:,}"
        )
        return "\n".join([head, *("  " + line for line in [*self.lines(), *self.notes()])])

    def __repr__(self) -> str:
        """Return the counts on one line, not every row number and event name held."""
        aside = {reason: count for reason, (count, _) in self.by_reason.items()}
        more = f", warnings={len(self.warnings)}" if self.warnings else ""
        return (
            f"SetAsideSummary(source={self.source!r}, rows_read={self.rows_read}, "
            f"rows_kept={self.rows_kept}, set_aside={aside}{more})"
        )

    def to_polars(self) -> pl.DataFrame:
        """Return one row per reason: ``reason``, ``rows``, ``example_rows``."""
        return pl.DataFrame(
            {
                "reason": list(self.by_reason),
                "rows": [c for c, _ in self.by_reason.values()],
                "example_rows": [", ".join(map(str, r)) for _, r in self.by_reason.values()],
            },
            schema={"reason": pl.String, "rows": pl.Int64, "example_rows": pl.String},
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_set_aside": self.rows_set_aside,
            "set_aside_by_reason": {k: c for k, (c, _) in self.by_reason.items()},
            "encoding": self.encoding,
            "warnings": list(self.warnings),
        }

    def _repr_html_(self) -> str:
        from funnelkit.markup import Markup, format_html, join_html

        rows = join_html(
            format_html(
                "<tr><td>{}</td><td>{}</td><td style='text-align:right'>{:,}</td><td>{}</td></tr>",
                k,
                REASON_TEXT.get(k, k),
                c,
                ", ".join(map(str, r)),
            )
            for k, (c, r) in self.by_reason.items()
        )
        table = (
            format_html(
                "<table><thead><tr><th>reason</th><th>meaning</th><th>rows</th>"
                "<th>first rows</th></tr></thead><tbody>{}</tbody></table>",
                rows,
            )
            if rows
            else Markup("<p>No row was set aside.</p>")
        )
        notes = join_html(format_html("<p>{}</p>", note) for note in self.notes())
        return format_html(
            "<div><strong>{}</strong>: read {}, kept {:,}, set aside {:,}.{}{}</div>",
            self.source,
            count_text(self.rows_read, "row"),
            self.rows_kept,
            self.rows_set_aside,
            table,
            notes,
        )


_OUTLIER_GAP_YEARS = 2
_OUTLIER_GAP_US = int(_OUTLIER_GAP_YEARS * 365.25 * 86_400 * 10**6)
_OUTLIER_MINROWS = 10
_SAMPLED = 100_000
# Numbers such as 19970101 (a date written %Y%m%d) read as epoch seconds land here.
_YYYYMMDD_AS_EPOCH_US = (19_000_101 * 10**6, 21_001_231 * 10**6)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# No event of a marketing funnel is this old: a bulk of events before it was misread.
_EARLY = datetime(1980, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    """Return the epoch microseconds of an aware ``moment``."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _yyyymmdd_as_epoch(at: pl.Expr) -> pl.Expr:
    """Tell the times where numbers such as 19970101 land, read as epoch seconds (1970-08)."""
    lo, hi = _YYYYMMDD_AS_EPOCH_US
    return at.dt.epoch("us").is_between(lo, hi)


def _early(at: pl.Expr, *, but_dates: bool) -> pl.Expr:
    """Tell the times before :data:`_EARLY` (``but_dates``: not those of the ``%Y%m%d`` warning)."""
    if not but_dates:
        return at < _EARLY
    return (at < _EARLY) & ~_yyyymmdd_as_epoch(at)


def _day(micros: int) -> str:
    return f"{_EPOCH + timedelta(microseconds=micros):%Y-%m-%d}"


def _as_yyyymmdd(number: int) -> str:
    """Return ``number`` (``19970101``) as an ISO date (``1997-01-01``), or ``""``."""
    try:
        return f"{datetime.strptime(str(number), '%Y%m%d'):%Y-%m-%d}"
    except ValueError:
        return ""


def _name_rows(rows: pl.DataFrame) -> str:
    """Return ``row 3 (2062-01-05 09:00:00+00:00)``, ... for rows of an events frame.

    Without row numbers (a log built from a frame), the contact id names the row.
    """
    named = []
    for row in rows.iter_rows(named=True):
        where = f"row {row[ROW]}" if ROW in row else f"contact {row[CONTACT_ID]!r}"
        named.append(f"{where} ({row[OCCURRED_AT]:%Y-%m-%d %H:%M:%S})")
    return ", ".join(named)


Held = Literal["memory", "disk", "lazy"]
#: Columns a table's ``repr`` names before it says how many more there are.
_REPR_COLUMNS = 8


@dataclass(frozen=True)
class ValidatedTable:
    """A validated table, the rows set aside while reading it, and how it is held.

    The base of :class:`EventLog` and :class:`ContactTable`; see
    :class:`EventLog` for the attributes.
    """

    frame: pl.LazyFrame
    set_aside: pl.LazyFrame
    source: str = "<frame>"
    encoding: str | None = None
    numbered: pl.LazyFrame | None = None
    held: Held = "lazy"
    stamp: tuple[int, int, int] | None = field(default=None, compare=False)
    summarized: SetAsideSummary | None = field(default=None, repr=False, compare=False)
    derived: dict[Any, pl.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        """Return where the rows came from, how they are held, their columns and counts.

        Reads nothing: the columns are named when the rows are held (in memory
        or in funnelkit's cache, whose schema costs nothing), the counts once
        :meth:`summary` has counted them.
        """
        parts = [f"source={self.source!r}", f"held={self.held!r}"]
        if self.held != "lazy":  # a lazy log's schema may mean reading the source
            names = self.frame.collect_schema().names()
            shown = ", ".join(repr(name) for name in names[:_REPR_COLUMNS])
            more = f", ... {len(names) - _REPR_COLUMNS} more" if len(names) > _REPR_COLUMNS else ""
            parts.append(f"columns=[{shown}{more}]")
        if self.summarized is None:
            parts.append("summary not counted yet")
        else:
            counted = self.summarized
            parts += [
                f"rows_kept={counted.rows_kept}",
                f"rows_set_aside={counted.rows_set_aside}",
            ]
        return f"{type(self).__name__}({', '.join(parts)})"

    def summary(self) -> SetAsideSummary:
        """Return the counts of kept and set-aside rows, the span of the events and warnings.

        Computed once: :func:`~funnelkit.events.read_events` counts them in the
        pass that validates the rows when it holds the log in memory or on
        disk; a lazy log counts them at the first call.  Every later call
        returns the same object, without reading anything.
        """
        if self.summarized is None:
            object.__setattr__(self, "summarized", self.count())
        assert self.summarized is not None
        return self.summarized

    def source_changed(self) -> bool:
        """Tell whether the source file (or folder) differs from the one read.

        Compares the size and modification time of the file, or of the
        folder's or pattern's Parquet files, with those seen when reading;
        ``False`` for a frame.  A log held in memory or on disk keeps the
        rows it read whatever happens to the source since: read the source
        again to see a change (:func:`~funnelkit.events.read_events` notices
        it and validates the new file).
        """
        if self.stamp is None:
            return False
        from funnelkit.sources import source_stamp

        return source_stamp(self.source) != self.stamp

    def count(self, *, event_names: tuple[str, ...] | None = None) -> SetAsideSummary:
        """Count kept and set-aside rows, and the span of the events (runs the query once).

        ``event_names``: the distinct event names of the kept rows, sorted, when
        the reading listed them already (they are then not listed again).

        The same query takes the 1st and 99th percentiles of the times (of
        every time up to :data:`_SAMPLED` events, of that many evenly spaced in
        the log above: a percentile of all ten million costs more than the rest
        of the summary) and counts the times that epoch seconds written as
        ``%Y%m%d`` dates give; only when one of those calls for a warning is the
        log read again, to name the rows.
        """
        # events only: a contacts table may hold a column of that name, read as text
        timed = isinstance(self, EventLog)
        at = pl.col(OCCURRED_AT)
        n = pl.len().cast(pl.Int64)
        taken = pl.min_horizontal(n, pl.lit(_SAMPLED, pl.Int64))
        sample = at.gather(pl.int_range(0, taken, dtype=pl.Int64) * (n // taken)).dt.epoch("us")
        span = [
            at.min().alias("first"),
            at.max().alias("last"),
            sample.quantile(0.01, "higher").alias("low"),
            sample.quantile(0.99, "lower").alias("high"),
            _yyyymmdd_as_epoch(at).sum().alias("dates"),
            _early(at, but_dates=False).sum().alias("early"),
        ]
        queries = [
            self.frame.select(pl.len().alias("n"), *(span if timed else [])),
            self.set_aside.group_by("reason")
            .agg(pl.len().alias("n"), pl.col("row").sort().head(SHOWN_ROWS).alias("rows"))
            .sort("reason"),
        ]
        listed = event_names is not None
        if timed and not listed:  # the names the command line checks a step's spelling against
            queries.append(self.frame.select(pl.col(EVENT).unique().head(MAX_EVENT_NAMES + 1)))
        kept, aside, *names = pl.collect_all(queries)
        if names and names[0].height <= MAX_EVENT_NAMES:
            event_names = tuple(sorted(str(x) for x in names[0][EVENT] if x is not None))
        if not timed:
            event_names = None
        order = {r: i for i, r in enumerate((*REASONS, "duplicate_contact"))}
        by_reason = {
            str(r["reason"]): (int(r["n"]), tuple(int(x) for x in r["rows"]))
            for r in sorted(aside.iter_rows(named=True), key=lambda r: order.get(r["reason"], 99))
        }
        n_kept = int(kept["n"].item())
        n_aside = sum(c for c, _ in by_reason.values())
        first, last = (kept["first"].item(), kept["last"].item()) if timed else (None, None)
        bulk_first, bulk_last, warnings = first, last, tuple[str, ...]()
        if timed and n_kept:
            bulk_first, bulk_last, warnings = self._times_to_check(kept.row(0, named=True), n_kept)
        return SetAsideSummary(
            self.source,
            n_kept + n_aside,
            n_kept,
            by_reason,
            first,
            last,
            encoding=self.encoding,
            bulk_first_at=bulk_first,
            bulk_last_at=bulk_last,
            warnings=warnings,
            event_names=event_names,
        )

    def _times_to_check(
        self, span: Mapping[str, Any], n_kept: int
    ) -> tuple[datetime | None, datetime | None, tuple[str, ...]]:
        """Return the bulk's first and last times and the warnings about the times.

        ``span`` holds the summary's ``first``, ``last``, ``low`` and ``high``
        (1st and 99th percentiles, epoch microseconds) and ``dates`` counts.
        Outliers are looked for in logs of at least :data:`_OUTLIER_MINROWS`
        events only: in a handful, no time stands apart from a bulk.
        """
        first, last = span["first"], span["last"]
        warnings = []
        at = pl.col(OCCURRED_AT)
        rows = self.numbered if self.numbered is not None else self.frame
        order = ROW if self.numbered is not None else OCCURRED_AT
        if span["dates"]:
            example = rows.filter(_yyyymmdd_as_epoch(at)).head(SHOWN_ROWS).collect()
            named = _name_rows(example)
            seconds = int(example[OCCURRED_AT][0].timestamp()) if example.height else 0
            if _as_yyyymmdd(seconds):
                warnings.append(
                    f"{count_text(span['dates'], 'event')} read as epoch seconds "
                    f"{'falls' if span['dates'] == 1 else 'fall'} in August 1970, "
                    f"where numbers such as {seconds} land; if they are dates written "
                    f"%Y%m%d ({_as_yyyymmdd(seconds)}), read them with --timestamp-format "
                    f"%Y%m%d (in Python: timestamp_format='%Y%m%d'): {named}"
                )
        # the events before 1980 but those the warning above named
        dated = bool(warnings)
        n_early = span["early"] - (span["dates"] if dated else 0)
        if n_early and (span["low"] is None or span["low"] < _micros(_EARLY)):
            # 1% of the events or more before 1980 (fewer are outliers, below)
            early = rows.filter(_early(at, but_dates=dated)).sort(order).head(SHOWN_ROWS)
            more = ", ..." if n_early > SHOWN_ROWS else ""
            warnings.append(
                f"{count_text(n_early, 'event')} dated before {_EARLY.year} (from "
                f"{first:%Y-%m-%d %H:%M:%S} UTC), where small numbers read as epoch seconds "
                "land; if the column holds another unit, or no time at all, convert it before "
                f"reading: {_name_rows(early.collect())}{more}"
            )
        if n_kept < _OUTLIER_MINROWS or span["low"] is None:
            return first, last, tuple(warnings)
        micros = at.dt.epoch("us")
        low, high = span["low"] - _OUTLIER_GAP_US, span["high"] + _OUTLIER_GAP_US
        if _micros(first) >= low and _micros(last) <= high:
            return first, last, tuple(warnings)
        bulk, odd = pl.collect_all(
            [
                self.frame.filter(micros.is_between(low, high)).select(
                    at.min().alias("first"), at.max().alias("last"), pl.len().alias("n")
                ),
                rows.filter(~micros.is_between(low, high)).sort(order).head(SHOWN_ROWS),
            ]
        )
        n_odd = n_kept - int(bulk["n"].item())
        warnings.append(
            f"{count_text(n_odd, 'event')} dated more than {_OUTLIER_GAP_YEARS} years away "
            f"from the bulk of the events ({_day(span['low'])} to {_day(span['high'])}, "
            f"1st to 99th percentile), perhaps a typo in the year: {_name_rows(odd)}"
            + (", ..." if n_odd > odd.height else "")
        )
        return bulk["first"].item(), bulk["last"].item(), tuple(warnings)

    def collect(self) -> pl.DataFrame:
        """Return the validated rows as a DataFrame."""
        return self.frame.collect()

    def _repr_html_(self) -> str:
        from funnelkit.markup import Markup, format_html

        schema = self.frame.collect_schema()
        cols = ", ".join(f"{k}: {v}" for k, v in schema.items())
        summary = Markup(self.summary()._repr_html_())  # built with format_html above
        return format_html("<div>{} <code>{}</code>{}</div>", type(self).__name__, cols, summary)


@dataclass(frozen=True, repr=False)  # ValidatedTable's repr: the dataclass's dumps frames
class EventLog(ValidatedTable):
    r"""Validated events plus the rows set aside while reading them.

    Built by :func:`~funnelkit.events.read_events`, never by hand; every
    analysis accepts it in place of a frame and reads its clean rows.  It
    prints as one line (source, how held, columns, counts once counted) that
    reads nothing; a notebook shows its columns and summary as a table.

    Attributes
    ----------
    frame
        The canonical lazy events frame.
    set_aside
        Lazy frame of unusable rows: ``row`` (1-based row number in the source),
        ``reason``, and the raw ``contact_id``, ``occurred_at`` and ``event`` as text.
        When a CSV file has rows with bytes that are not UTF-8 or a wrong number
        of fields, ``other_fields`` shows those rows' property fields, joined by
        ``" | "`` (bytes that are not UTF-8 escaped, ``\xe9``).
    source
        The path read, or ``"<frame>"``.
    encoding
        How a CSV file's text was decoded, ``None`` for other sources.
    numbered
        The kept rows with their row numbers (``__row``), read only to name the
        rows a warning is about; ``None`` for a log built from a frame.
    held
        Where the validated rows are: ``"memory"`` (collected frames; the
        source is not read again), ``"disk"`` (a validated Parquet cache
        written by funnelkit, see :mod:`funnelkit.holding`) or ``"lazy"``
        (every query reads and validates the source again).
    stamp
        The source's size, modification time and file count when it was read
        (``None`` for a frame); see :meth:`source_changed`.
    summarized
        The :class:`SetAsideSummary`, once counted; :meth:`summary` returns it.
    derived
        Frames an analysis derived from the rows held in memory and may read
        again (the funnel kernel's sorted step rows, see
        :func:`funnelkit.chains.sort_key_chains`); at most one is kept.

    Examples
    --------
    >>> from funnelkit.events import read_events
    >>> log = read_events(pl.DataFrame({"contact_id": ["a"], "occurred_at": ["2026-11-02"],
    ...                                 "event": ["like"]}))
    >>> log.held, log.collect().height
    ('memory', 1)

    See the concept page: docs/concepts/data-contract.md
    """


@dataclass(frozen=True, repr=False)
class ContactTable(ValidatedTable):
    """Validated contacts (one row per ``contact_id``) plus the rows set aside.

    Built by :func:`~funnelkit.events.read_contacts`, never by hand; it has
    the attributes and methods of :class:`EventLog` (``frame``, ``set_aside``,
    ``summary()``, ``held``).

    Attributes
    ----------
    frame, set_aside, source, encoding, numbered, held, stamp, summarized, derived
        As in :class:`EventLog`, for contacts.

    Examples
    --------
    >>> from funnelkit.events import read_contacts
    >>> table = read_contacts(pl.DataFrame({"contact_id": ["a", None]}))
    >>> table.summary().rows_kept, table.held
    (1, 'memory')

    See the concept page: docs/concepts/data-contract.md
    """


def timestamp_hint(
    log: EventLog, summary: SetAsideSummary, *, timestamp_format: str | None = None
) -> str:
    """Return how to read the timestamps ``log`` could not parse, with an example, or ``""``.

    The hint names the command-line option (``--timestamp-format``, the
    ``timestamp_format=`` argument of :func:`read_events`) and, when the
    example looks like a common day-first date, a format that reads it.
    When the events were read with a format, it says the example does not
    match that format instead.

    Parameters
    ----------
    log
        The events read.
    summary
        Their summary (``log.summary()``).
    timestamp_format
        The format the events were read with, if any.

    Returns
    -------
    str

    Examples
    --------
    >>> from funnelkit.events import read_events
    >>> log = read_events(pl.DataFrame({"contact_id": ["a"], "occurred_at": ["06/07/2026 01:10"],
    ...                                 "event": ["x"]}))
    >>> timestamp_hint(log, log.summary())[:55]
    "timestamps such as '06/07/2026 01:10' (row 1) are not I"

    See the guide: docs/guides/read-set-aside-rows.md
    """
    if "bad_timestamp" not in summary.by_reason:
        return ""
    example = (
        log.set_aside.filter(pl.col("reason") == "bad_timestamp")
        .select("row", "occurred_at")
        .head(1)
        .collect()
    )
    if example.is_empty():
        return ""
    row, value = example.row(0)
    if timestamp_format is not None:
        return (
            f"timestamps such as {value!r} (row {row}) do not match --timestamp-format "
            f"{timestamp_format!r} (in Python: timestamp_format=); check the format, and that "
            "each date exists"
        )
    guess = _format_guess(str(value))
    given = f", e.g. --timestamp-format '{guess}'" if guess else ""
    return (
        f"timestamps such as {value!r} (row {row}) are not ISO-8601 or epoch seconds; "
        f"give their format with --timestamp-format (in Python: timestamp_format=){given}"
    )


def _format_guess(value: str) -> str:
    """Return a strftime format that reads ``value`` (day first when ambiguous), or ``""``."""
    text = value.strip()
    patterns = (
        (r"\d{1,2}/\d{1,2}/\d{4}", "%d/%m/%Y"),
        (r"\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"),
        (r"\d{1,2}-\d{1,2}-\d{4}", "%d-%m-%Y"),
        (r"\d{4}/\d{1,2}/\d{1,2}", "%Y/%m/%d"),
    )
    times = ((r" \d{1,2}:\d{2}:\d{2}", " %H:%M:%S"), (r" \d{1,2}:\d{2}", " %H:%M"), ("", ""))
    for date_re, date_fmt in patterns:
        for time_re, time_fmt in times:
            if re.fullmatch(date_re + time_re, text):
                return date_fmt + time_fmt
    return ""


def require_usable(summary: SetAsideSummary, hint: str = "") -> None:
    """Raise when a source was read but none of its rows is usable (nothing to compute).

    Called before an analysis, so that an all-bad file gives one readable
    line instead of empty results; ``hint`` (e.g. :func:`timestamp_hint`)
    ends the message.

    Parameters
    ----------
    summary
        The summary of the source read.
    hint
        A sentence to end the message with, or ``""``.

    Raises
    ------
    DataError
        Every row was set aside; the message names the main reason.

    Examples
    --------
    >>> from funnelkit.events import read_events
    >>> log = read_events(pl.DataFrame({"contact_id": [None], "occurred_at": ["2026-11-02"],
    ...                                 "event": ["like"]}))
    >>> require_usable(log.summary())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funnelkit.errors.DataError: ...

    See the guide: docs/guides/read-set-aside-rows.md
    """
    if not summary.rows_read or summary.rows_kept:
        return
    reason, (count, _) = max(summary.by_reason.items(), key=lambda item: item[1][0])
    none_usable = (
        "the only row is not usable"
        if summary.rows_read == 1
        else f"none of the {summary.rows_read:,} rows is usable"
    )
    msg = (
        f"{summary.source}: {none_usable} "
        f"({count:,} {reason}); nothing to compute. {hint[:1].upper()}{hint[1:]}"
    ).rstrip()
    raise DataError(msg)


@functools.cache
def _preset_stages() -> dict[str, str]:
    """Return each stage id of the presets with its preset's name (read once)."""
    return {i: p for p in reversed(list_presets()) for i in load_funnel(p).stage_ids}


def _stage_hint(name: str) -> str:
    """Say which preset holds a stage of id ``name``: a stage id read as an event counts nothing."""
    preset = _preset_stages().get(name)
    if preset is None:
        return ""
    return (
        f" {name!r} is a stage id of the preset {preset!r}: read stages from its definition "
        f"(--funnel {preset}; in Python load_funnel({preset!r}), or definition=)."
    )


def unknown_events(
    log: EventLog,
    reads: Sequence[tuple[str, Iterable[str]]],
    *,
    typos_only: bool = False,
    read: bool = True,
) -> list[str]:
    """Return one line per event name a step reads that ``log`` never holds.

    A misspelt name counts nothing, silently: each line names what reads it,
    the name, the source and the closest event of the data.  With
    ``typos_only`` (a definition, whose rules list alternatives a log need
    not all hold), only names with a close event are named.  The names are
    those the reading counted in its summary; without ``read``, a log whose
    names are not known yet (a lazy log, or more distinct names than a
    summary lists) is not read for them and nothing is returned.

    Parameters
    ----------
    log
        The events, as :func:`~funnelkit.events.read_events` gives them.
    reads
        Pairs of what reads the names (``"step 2"``, ``"funnel 'inbound'"``)
        and those names.
    typos_only
        Name only the names close to an event of the data.
    read
        Read the log for its names when the summary does not list them.

    Returns
    -------
    list of str
        The lines, in the order of ``reads``, then of the names.

    Examples
    --------
    >>> from funnelkit.events import read_events
    >>> log = read_events(pl.DataFrame({"contact_id": ["a"], "occurred_at": ["2026-11-02"],
    ...                                 "event": ["purchase"]}))
    >>> unknown_events(log, [("step 1", ["purchse"])])  # doctest: +NORMALIZE_WHITESPACE
    ["step 1 reads the event 'purchse', which <frame> never holds; it counts nothing.
      Did you mean 'purchase'?"]

    See the concept page: docs/concepts/data-contract.md
    """
    summary = log.summarized if not read else log.summary()
    if summary is None:
        return []
    if summary.event_names is not None:
        present = set(summary.event_names)
    elif read:
        seen = log.frame.select(pl.col(EVENT).unique()).collect(engine="streaming")
        present = {str(name) for name in seen[EVENT].to_list() if name is not None}
    else:
        return []
    if not present:  # no event at all: no name to tell apart from a typo
        return []
    lines = []
    for what, names in reads:
        named = set(names)
        for name in sorted(named - present):
            # A name the same reader also uses is an alternative, not what was meant:
            # 'repeat_purchase' beside 'purchase' in one definition is no typo of it.
            hint = did_you_mean(name, present - named)
            if typos_only and not hint:
                continue
            hint = hint or _stage_hint(name)
            lines.append(
                f"{what} reads the event {name!r}, which {log.source} never holds;"
                f" it counts nothing.{hint}"
            )
    return lines
