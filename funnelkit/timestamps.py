"""Typing a source's timestamps: time zones, ISO-8601 text, epochs, a ``strftime`` format.

:func:`parse_timestamp` turns a column of text, numbers, dates or datetimes
into ``Datetime("us", "UTC")``, an unparseable value into null (the reader
tells it from a missing one and sets the row aside); :func:`timestamp_shape`
tells, in one pass, when every text value has one ISO shape, so that a single
format is tried; :func:`check_timezone` refuses an unknown zone before anything
is read.  :func:`funnelkit.events.read_events` is their user.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Literal

import polars as pl

from funnelkit.errors import ParameterError, did_you_mean

__all__ = ["TIMESTAMP", "check_timezone", "parse_timestamp", "timestamp_shape"]

#: The type of every typed timestamp: microseconds, UTC.
TIMESTAMP = pl.Datetime("us", "UTC")

_EPOCH_MS_FROM = 10**11
_EPOCH_US_RANGE = (-62_135_596_800 * 10**6, 253_402_300_799 * 10**6)  # 0001-01-01 to 9999
_ISO_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
_ISO_AWARE_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%z"


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(timezone: str) -> None:
    """Raise :class:`ParameterError` unless ``timezone`` names an IANA time zone.

    Checked before any file is read: polars would fail deep in the reading
    on a name it does not know, or ignore it when every timestamp has an offset.

    Examples
    --------
    >>> check_timezone("Europe/Pariss")
    Traceback (most recent call last):
    ...
    funnelkit.errors.ParameterError: timezone 'Europe/Pariss': not a time zone ... 'Europe/Paris'?
    """
    if timezone in ("UTC", "utc") or timezone in _zone_names() or not _zone_names():
        return  # (no database on this system: polars, which has its own, judges)
    msg = (
        f"timezone {timezone!r}: not a time zone of the IANA database; write e.g. "
        f"'Europe/Paris' or 'UTC'.{did_you_mean(timezone, sorted(_zone_names()))}"
    )
    raise ParameterError(msg)


def parse_timestamp(
    expr: pl.Expr,
    dtype: pl.DataType,
    *,
    timezone: str = "UTC",
    timestamp_format: str | None = None,
    shape: Literal["any", "aware", "naive"] = "any",
) -> pl.Expr:
    """Return ``expr`` (of type ``dtype``) parsed to ``Datetime("us", "UTC")``.

    Values that cannot be parsed become null; callers compare with the raw value
    to tell an unparseable timestamp from a missing one.

    Parameters
    ----------
    expr
        The column to parse.
    dtype
        Its polars type (string, integer, float, date or datetime).
    timezone
        Zone of timestamps that carry no offset.
    timestamp_format
        A ``strftime`` format to use instead of ISO-8601 / epoch detection, for
        text and numbers alike (``19970101`` with ``"%Y%m%d"`` is 1997-01-01;
        a number that is not whole matches no format).
    shape
        For text, what every non-null value is known to look like (see
        :func:`timestamp_shape`): ``"aware"`` or ``"naive"`` try only the
        format that reads that shape (same instants as ``"any"``, a third of
        the cost).

    Returns
    -------
    polars.Expr

    Raises
    ------
    ParameterError
        When ``timezone`` is not a known time zone.

    Examples
    --------
    >>> df = pl.DataFrame({"t": ["2026-11-02T09:00:00+01:00", "1762070400", "soon"]})
    >>> df.select(parse_timestamp(pl.col("t"), pl.String)).to_series().to_list()[0]
    datetime.datetime(2026, 11, 2, 8, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC'))

    See the concept page: docs/concepts/data-contract.md
    """
    check_timezone(timezone)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            expr = expr.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        return expr.dt.convert_time_zone("UTC").cast(TIMESTAMP)
    if isinstance(dtype, pl.Date):
        return expr.cast(pl.Datetime("us")).pipe(
            parse_timestamp, pl.Datetime("us"), timezone=timezone
        )
    if dtype.is_numeric():
        if timestamp_format is None:
            return _from_epoch(expr.cast(pl.Float64))
        # a given format wins over epochs: 19970101 with '%Y%m%d' is 1 January 1997
        if dtype.is_float():
            whole = expr == expr.round(0)
            expr = pl.when(whole).then(expr.cast(pl.Int64, strict=False)).otherwise(None)
        return _parse_format(expr.cast(pl.String), timestamp_format, timezone)
    if dtype != pl.String:
        expr = expr.cast(pl.String)
    text = expr.str.strip_chars()
    if timestamp_format is not None:
        return _parse_format(text, timestamp_format, timezone)
    iso = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T").str.replace(r"[Zz]$", "+00:00")
    if shape == "aware":
        return _parse_format(iso, _ISO_AWARE_FORMAT, timezone)
    if shape == "naive":
        return _parse_format(iso, _ISO_NAIVE_FORMATS[0], timezone)
    return (
        pl.when(text.str.contains(r"^-?\d+(\.\d+)?$"))
        .then(_from_epoch(text.cast(pl.Float64, strict=False)))
        .otherwise(
            pl.coalesce(
                _parse_format(iso, _ISO_AWARE_FORMAT, timezone),
                *(_parse_format(iso, f, timezone) for f in _ISO_NAIVE_FORMATS),
            )
        )
    )


def _parse_format(text: pl.Expr, fmt: str, timezone: str) -> pl.Expr:
    if "%z" in fmt or "%:z" in fmt or "%#z" in fmt:
        return text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
    naive = text.str.to_datetime(fmt, strict=False, time_unit="us")
    return naive.dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def _from_epoch(number: pl.Expr) -> pl.Expr:
    micros = (
        pl.when(number.abs() >= _EPOCH_MS_FROM).then(number * 1_000).otherwise(number * 1_000_000)
    )
    whole = micros.round(0).cast(pl.Int64, strict=False)
    # beyond years 1 to 9999 an epoch is no date (and no Python datetime): unparseable
    return (
        pl.when(whole.is_between(*_EPOCH_US_RANGE))
        .then(whole)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )


_AWARE_SHAPE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$"
_NAIVE_SHAPE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?$"


def timestamp_shape(lf: pl.LazyFrame, column: str) -> Literal["any", "aware", "naive"]:
    """Tell whether every non-blank value of a text ``column`` has one ISO shape.

    ``"aware"``: all are ISO date-times with seconds and ``Z`` or an offset;
    ``"naive"``: all are without offset; ``"any"``: mixed or other forms
    (epochs, dates, minutes only, garbage).  One pass over the column;
    :func:`parse_timestamp` then tries a single format instead of every one.
    One value of another shape is enough to answer ``"any"``.

    Parameters
    ----------
    lf
        The frame holding the column.
    column
        The name of a text column.

    Returns
    -------
    str
        ``"aware"``, ``"naive"`` or ``"any"``.

    Examples
    --------
    >>> lf = pl.LazyFrame({"t": ["2026-11-02T09:00:00Z", " 2026-11-02 10:00:00+01:00", None]})
    >>> timestamp_shape(lf, "t"), timestamp_shape(lf.with_columns(pl.lit("x").alias("t")), "t")
    ('aware', 'any')

    See the concept page: docs/concepts/data-contract.md
    """
    text = pl.col(column).cast(pl.String).str.strip_chars()
    filled = text.str.len_bytes() > 0
    row = lf.select(
        (text.str.contains(_AWARE_SHAPE) | ~filled).all().alias("aware"),
        (text.str.contains(_NAIVE_SHAPE) | ~filled).all().alias("naive"),
        filled.any().alias("filled"),
    ).collect(engine="streaming")
    aware, naive, filled_any = row.row(0)
    if not filled_any:
        return "any"
    if aware:
        return "aware"
    return "naive" if naive else "any"
