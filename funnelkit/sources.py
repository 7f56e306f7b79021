"""Sources as they are: files and frames read, a CSV file's text decoded and checked.

:func:`scan` opens what :func:`funnelkit.events.read_events` reads (CSV,
Parquet, NDJSON, folders and globs of Parquet, polars and pandas frames)
without typing or validating anything; for a CSV file it decodes the text,
finds the separator, and marks in a :data:`PROBLEM` column the rows that
hold bytes that are not UTF-8 or the wrong number of fields.
:func:`type_text_columns` then types a CSV file's numbers, once the user's
column mapping is applied.
"""

from __future__ import annotations

import csv
import glob
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from funnelkit.errors import DataError, EmptyInputError, ParameterError

if TYPE_CHECKING:  # numpy is imported where a CSV file is counted: a Parquet read never needs it
    import numpy as np

__all__ = ["PROBLEM", "Scanned", "Source", "scan", "source_stamp", "type_text_columns"]

PROBLEM = "__problem"  # a CSV row's own problem (bad_encoding, wrong_field_count), else null
Source = str | Path | pl.DataFrame | pl.LazyFrame | Any


def _source_name(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return "<frame>"


# The noncharacters U+FDD0..U+FDEF never stand for text; one absent from a file
# marks where its bytes were not UTF-8 (see _sniff_text).
_MARKS = tuple(chr(c) for c in range(0xFDD0, 0xFDF0))
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_BAD_BYTES = re.compile("[\udc80-\udcff]+")


def _sniff_text(raw: bytes, name: str) -> tuple[bytes, str, str | None]:
    r"""Return UTF-8 bytes without BOM, the encoding read, and the mark of bytes that were not.

    A file that is valid UTF-8 is read as UTF-8.  A file holding valid
    multi-byte UTF-8 sequences beside invalid bytes (one Latin-1 ``é`` in a
    UTF-8 export) is read as UTF-8 too: each run of invalid bytes becomes the
    returned mark followed by the bytes escaped (``\xe9``), so the rows holding
    one can be set aside as ``bad_encoding`` with their bytes shown.  A file
    with high bytes but no multi-byte UTF-8 sequence at all is Windows-1252
    (or Latin-1) throughout, and read as such.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16").encode("utf-8"), "utf-16", None
        except UnicodeDecodeError as exc:
            msg = f"{name}: starts as UTF-16 but cannot be decoded as UTF-16 ({exc})."
            raise DataError(msg) from exc
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        mark = next((m for m in _MARKS if m.encode() not in raw), None)
        if mark is not None and _UTF8_MULTIBYTE.search(raw):
            text = _BAD_BYTES.sub(
                lambda bad: mark + "".join(f"\\x{ord(c) - 0xDC00:02x}" for c in bad.group()),
                raw.decode("utf-8", errors="surrogateescape"),
            )
            return text.encode("utf-8"), "utf-8", mark
        try:
            return raw.decode("cp1252").encode("utf-8"), "cp1252", None
        except UnicodeDecodeError:
            return raw.decode("latin-1").encode("utf-8"), "latin-1", None
    return raw, "utf-8", None


def _sniff_separator(raw: bytes) -> str:
    header = raw.split(b"\n", 1)[0]
    counts = {sep: header.count(sep.encode()) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


@dataclass(frozen=True)
class Scanned:
    """A source as read: its frame, a name for messages and, for CSV, how it was read.

    ``decimal_comma`` is ``None`` for typed sources; for a CSV file (every
    column text) it tells how :func:`type_text_columns` reads its numbers,
    which is done after the user's renaming so that the columns read as ids
    and timestamps are never typed.
    """

    frame: pl.LazyFrame
    name: str
    encoding: str | None = None
    decimal_comma: bool | None = None


def _named_twice(raw: bytes, sep: str) -> str | None:
    """Return a column name the header of a CSV text holds twice, or ``None``.

    Polars would keep both under made-up names (``x_duplicated_0``) and every
    reader would silently use the first.
    """
    lines = raw.split(b"\n", 1)[0].decode("utf-8", "replace").splitlines()
    try:
        names = next(csv.reader(lines[:1], delimiter=sep), [])
    except csv.Error:  # a header the reader refuses is reported by the reading itself
        return None
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _read_csv(path: Path, separator: str | None, encoding: str | None) -> Scanned:
    """Read a CSV file, every column as text, its rows' own problems in ``__problem``."""
    raw = path.read_bytes()
    if not raw.strip():
        msg = f"{path}: the file is empty (no header, no rows)."
        raise EmptyInputError(msg)
    mark = None
    if encoding is not None:
        try:
            raw = raw.decode(encoding).encode("utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            msg = f"{path}: cannot be decoded as {encoding!r}: {exc}."
            raise DataError(msg) from exc
        raw = raw.removeprefix(b"\xef\xbb\xbf")
        used = encoding
    else:
        raw, used, mark = _sniff_text(raw, str(path))
    if b"\r" in raw and b"\n" not in raw:  # classic Mac line ends (Excel's "CSV (Macintosh)")
        raw = raw.replace(b"\r", b"\n")
    sep = separator or _sniff_separator(raw)
    try:
        ragged, records = _ragged_rows(raw, sep)
        df = pl.read_csv(
            io.BytesIO(raw), separator=sep, infer_schema=False, truncate_ragged_lines=True
        )
        if ragged and records != df.height:
            # rows not told apart as polars tells them (a lone carriage return):
            # read strictly, as if no row were ragged, a longer one an error
            ragged = []
            df = pl.read_csv(io.BytesIO(raw), separator=sep, infer_schema=False)
    except (pl.exceptions.PolarsError, ValueError, csv.Error) as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        problem = _csv_problem(raw, sep) or first
        end = "" if problem.endswith(("?", ".")) else "."
        msg = f"{path}: not a readable CSV file: {problem}{end}"
        raise DataError(msg) from exc
    twice = _named_twice(raw, sep)
    if twice is not None:
        msg = (
            f"{path}: the header names the column {twice!r} twice, and funnelkit cannot tell "
            "which one you mean; rename or remove one of them in the file."
        )
        raise DataError(msg)
    problems = []
    if mark is not None:
        marked = pl.any_horizontal(pl.col(c).str.contains(mark, literal=True) for c in df.columns)
        problems.append(pl.when(marked).then(pl.lit("bad_encoding")))
    if ragged:
        index = pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
        problems.append(pl.when(index.is_in(ragged)).then(pl.lit("wrong_field_count")))
    if problems:
        df = df.with_columns(pl.coalesce(problems).alias(PROBLEM))
    if mark is not None:
        texts = [c for c in df.columns if c != PROBLEM]
        df = df.with_columns(pl.col(texts).str.replace_all(mark, "", literal=True))
        names = [c.replace(mark, "") for c in df.columns]
        if len(set(names)) == len(names):
            df = df.rename(dict(zip(df.columns, names, strict=True)))
    return Scanned(df.lazy(), str(path), used, decimal_comma=sep == ";")


def _ragged_rows(raw: bytes, sep: str) -> tuple[list[int], int]:
    """Return the data rows (from 1) of a CSV text whose field count is not the header's.

    The second number is how many data rows were counted, to check that polars
    read as many.  A blank line is not one of them (it is a row of nulls, set
    aside for its missing id).  Without quotes, fields are counted by the
    separators of each line; with quotes, a field may hold separators and line
    breaks, and the records are counted by :func:`_ragged_quoted` (numpy, the
    quotes' parity), or by :mod:`csv` where a quote stands inside an unquoted
    field (see there).

    Raises
    ------
    csv.Error, ValueError
        A quoted field runs to the end of the file (a closing quote missing).
    """
    import numpy as np

    if len(sep) != 1:
        msg = f"the separator must be one character, got {sep!r}"
        raise ValueError(msg)
    if b'"' in raw:
        counted = _ragged_quoted(raw, sep)
        return _ragged_records(raw.decode("utf-8"), sep) if counted is None else counted
    # Without quotes a line's fields are its separators plus one: find both
    # kinds of bytes once, and count the separators before each line's end.
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    if not raw.endswith(b"\n"):
        ends = np.append(ends, len(raw))
    seps = np.flatnonzero(data == ord(sep)) if sep.isascii() else None
    if seps is None:  # a separator of several bytes: count it line by line
        counts = np.array([line.count(sep.encode()) for line in raw.split(b"\n")[: len(ends)]])
    else:
        counts = np.diff(np.searchsorted(seps, ends), prepend=0)
    starts = np.concatenate(([0], ends[:-1] + 1))
    odd = np.flatnonzero(counts != counts[0])  # the header is line 0: line i is data row i
    bad = [int(i) for i in odd if raw[starts[i] : ends[i]].strip()]  # a blank line is no row
    return bad, len(ends) - 1


_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")
_ASCII_SPACES = tuple(c for c in range(128) if chr(c).isspace())
# The characters above ASCII that str.strip() removes (all of two or three UTF-8 bytes).
_WIDE_SPACES = (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)


def _ragged_quoted(raw: bytes, sep: str) -> tuple[list[int], int] | None:
    r"""Do what :func:`_ragged_rows` does for a quoted CSV text, with numpy; ``None`` if unsure.

    A byte is inside quotes when an odd number of ``"`` come before it (an
    escaped ``""`` counts twice, so changes nothing); records end at the
    line feeds outside quotes, and a record's fields are its separators
    outside quotes plus one.  This parity rule is RFC 4180's and agrees with
    :mod:`csv` (and polars) as long as every quote opens a field, closes one
    (followed by a separator, a line end, another quote or the end) or is
    escaped.  A file where one does not (``ab"c``, ``"ab"c``), or with a
    carriage return that is not part of ``\r\n`` outside quotes, or whose
    separator is not one plain ASCII character, returns ``None``: the caller
    counts it with :mod:`csv` (:func:`_ragged_records`), the reference.

    Raises
    ------
    ValueError
        A quoted field runs to the end of the file (an odd number of quotes).
    """
    import numpy as np

    if not sep.isascii() or sep in '"\r\n':
        return None
    data = np.frombuffer(raw, dtype=np.uint8)
    size, sep_byte = len(data), ord(sep)
    quotes = np.flatnonzero(data == _QUOTE)

    def outside(positions: np.ndarray) -> np.ndarray:  # an even number of quotes before
        return np.asarray(np.searchsorted(quotes, positions) % 2 == 0)

    # a quote that opens (even rank) follows a field start or a closing quote;
    # one that closes (odd rank) comes before a separator, a line end or a quote
    opening, closing = quotes[0::2], quotes[1::2]
    before = data[np.maximum(opening - 1, 0)]
    after = data[np.minimum(closing + 1, size - 1)]
    opens = (opening == 0) | (before == sep_byte) | (before == _LF) | (before == _QUOTE)
    closes = (closing == size - 1) | np.isin(after, (sep_byte, _LF, _CR, _QUOTE))
    returns = np.flatnonzero(data == _CR)
    returns = returns[outside(returns)]
    lone = data[np.minimum(returns + 1, size - 1)] != _LF
    if not (opens.all() and closes.all()) or (returns == size - 1).any() or lone.any():
        return None
    if len(quotes) % 2:
        msg = "a quoted field runs to the end of the file"
        raise ValueError(msg)
    ends = np.flatnonzero(data == _LF)
    ends = ends[outside(ends)]
    if not raw.endswith(b"\n"):
        ends = np.append(ends, size)
    seps = np.flatnonzero(data == sep_byte)
    seps = seps[outside(seps)]
    counts = np.diff(np.searchsorted(seps, ends), prepend=0) + 1
    starts = np.concatenate(([0], ends[:-1] + 1))
    # a record with nothing before its line end (nor "\r") is no fields at all
    crlf = (ends > starts) & (data[np.maximum(ends - 1, 0)] == _CR)
    empty = ends - starts - crlf == 0
    counts[empty] = 0
    odd = np.flatnonzero((counts != counts[0]) & ~empty)
    odd = odd[odd > 0]  # the header is record 0: record i is data row i
    blank = _blank_records(data, quotes, sep_byte, starts[odd], ends[odd])
    return [int(i) for i in odd[~blank]], len(ends) - 1


def _blank_records(
    data: np.ndarray, quotes: np.ndarray, sep: int, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """Tell which records ``data[starts[i]:ends[i]]`` hold only blank fields, as :mod:`csv` reads.

    A field is blank when ``str.strip`` leaves nothing: what is not white
    space is an ASCII byte other than a quote or a separator outside quotes,
    an escaped quote (a closing quote followed by another), or a character
    above ASCII (read from its UTF-8 lead byte) that is not a space.
    """
    import numpy as np

    lengths = ends - starts
    owner = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    pos = np.arange(int(lengths.sum())) + offsets
    size = len(data)
    byte = data[pos].astype(np.int32)
    nxt = data[np.minimum(pos + 1, size - 1)].astype(np.int32)
    third = data[np.minimum(pos + 2, size - 1)].astype(np.int32)
    rank = np.searchsorted(quotes, pos)  # quotes before; a quote's own rank
    inside = rank % 2 == 1
    text = (byte < 128) & ~np.isin(byte, np.array(_ASCII_SPACES, dtype=np.int32)) & (byte != _QUOTE)
    text &= ~((byte == sep) & ~inside)
    escaped = (byte == _QUOTE) & inside & (pos + 1 < size) & (nxt == _QUOTE)
    two = (byte & 0xE0) == 0xC0
    three = (byte & 0xF0) == 0xE0
    code = np.where(
        two,
        ((byte & 0x1F) << 6) | (nxt & 0x3F),
        ((byte & 0x0F) << 12) | ((nxt & 0x3F) << 6) | (third & 0x3F),
    )
    wide = (byte >= 0xC0) & ~((two | three) & np.isin(code, np.array(_WIDE_SPACES, dtype=np.int32)))
    filled = np.bincount(owner, weights=text | escaped | wide, minlength=len(starts))
    return np.asarray(filled == 0)


def _ragged_records(text: str, sep: str) -> tuple[list[int], int]:
    """Do what :func:`_ragged_rows` does, record by record with :mod:`csv`.

    The reference for :func:`_ragged_quoted`, and its fallback for the quoted
    files it cannot count by the quotes' parity.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=False)
    header = next(reader, [])
    bad = []
    number = 0
    for number, record in enumerate(reader, start=1):
        if record and len(record) != len(header) and any(f.strip() for f in record):
            bad.append(number)
    if _open_quote_at_end(text, sep):
        msg = "a quoted field runs to the end of the file"
        raise ValueError(msg)
    return bad, number


def _csv_problem(raw: bytes, sep: str) -> str:
    """Return where a CSV file polars refused goes wrong (line numbers of the file), or ``""``.

    Only called on a file that failed to parse, to name the first row whose
    field count differs from the header's or a quote left open.  A quoted
    field may hold line breaks: it is blamed only when its record has the
    wrong field count, or runs to the end of the file still in quotes.
    """
    import csv

    text = raw.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text), delimiter=sep)

    def runs_on(first: int, last: int) -> str:
        return (
            f"a quoted field opened on line {first} runs to line {last}; "
            "is a closing quote missing?"
        )

    spanned: tuple[int, int] | None = None  # the lines of the last record, if several
    try:
        header = next(reader, [])
        start = reader.line_num + 1
        for record in reader:
            spans = reader.line_num > start and any("\n" in field for field in record)
            if record and len(record) != len(header):
                if spans:
                    return runs_on(start, reader.line_num)
                return (
                    f"line {start} has {len(record)} fields where the header has "
                    f"{len(header)} (a stray {sep!r} or a value to put in quotes?)"
                )
            spanned = (start, reader.line_num) if spans else None
            start = reader.line_num + 1
    except csv.Error as exc:
        return f"line {reader.line_num}: {exc}"
    if spanned is not None and _open_quote_at_end(text, sep):
        return runs_on(*spanned)
    return ""


def _open_quote_at_end(text: str, sep: str) -> bool:
    """Tell whether ``text`` ends inside a quoted field (a quote never closed)."""
    import csv

    try:
        for _ in csv.reader(io.StringIO(text), delimiter=sep, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


# A number whose text is the number's own: no sign but '-', no leading zero, no
# exponent, and few enough digits to be held exactly (18 for Int64, 15 for Float64).
_INTEGER_TEXT = r"^-?(0|[1-9][0-9]{0,17})$"
_DECIMAL_TEXT = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"
_NAN_TEXT = r"^(?i:nan)$"
_TYPING_HEAD = 1_000


def type_text_columns(
    df: pl.DataFrame, *, decimal_comma: bool, keep: Iterable[str] = ()
) -> pl.DataFrame:
    """Give CSV property columns a numeric type when every value is a plain number.

    The ``keep`` columns stay text (ids, timestamps, event names).  So does
    any column where one value would not read back as written: ``007`` or
    ``+33612345678`` (a code or a phone number), ``1e5``, or more digits than the
    type holds exactly.  ``NaN`` is an unknown number (null), and a cell of
    spaces as empty as an empty one: both become null in a numeric column.

    Examples
    --------
    >>> df = pl.DataFrame({"amount": ["12,5", ""], "zip": ["07000", "75001"]})
    >>> type_text_columns(df, decimal_comma=True).dtypes
    [Float64, String]
    """
    kept = {PROBLEM, *keep}
    names = [n for n in df.columns if n not in kept and df.schema[n] == pl.String]
    if not names or df.is_empty():
        return df
    if df.height > _TYPING_HEAD:  # a column whose first rows are not numbers is text
        head = type_text_columns(df.head(_TYPING_HEAD), decimal_comma=decimal_comma, keep=keep)
        names = [
            n for n in names if head.schema[n] != pl.String or head[n].null_count() == head.height
        ]
        if not names:
            return df

    def number(name: str) -> pl.Expr:
        text = pl.col(name).str.strip_chars()
        return text.str.replace(",", ".", literal=True) if decimal_comma else text

    def empty(name: str) -> pl.Expr:
        text = pl.col(name).str.strip_chars()
        return text.is_null() | (text.str.len_bytes() == 0)

    def blank(name: str) -> pl.Expr:  # a NaN makes a column Float64 (where it is null)
        return empty(name) | pl.col(name).str.strip_chars().str.contains(_NAN_TEXT)

    digits = [
        number(n).str.count_matches(r"[0-9]").max().alias(f"d{i}") for i, n in enumerate(names)
    ]
    checks = df.select(
        *(
            (number(n).str.contains(_INTEGER_TEXT) | empty(n)).all().alias(f"i{i}")
            for i, n in enumerate(names)
        ),
        *(
            (number(n).str.contains(_DECIMAL_TEXT) | blank(n)).all().alias(f"f{i}")
            for i, n in enumerate(names)
        ),
        *((~blank(n)).any().alias(f"v{i}") for i, n in enumerate(names)),
        *digits,
    ).row(0, named=True)
    casts = []
    for i, name in enumerate(names):
        if not checks[f"v{i}"]:
            continue
        valid = pl.when(~blank(name)).then(number(name))
        if checks[f"i{i}"]:
            casts.append(valid.cast(pl.Int64).alias(name))
        elif checks[f"f{i}"] and (checks[f"d{i}"] or 0) <= 15:
            casts.append(valid.cast(pl.Float64).alias(name))
    return df.with_columns(casts) if casts else df


def scan(source: Source, *, separator: str | None, encoding: str | None) -> Scanned:
    """Return ``source`` as it is (a CSV file's columns as text), named for messages.

    Parameters
    ----------
    source
        A path (CSV, Parquet, NDJSON, a folder or glob of Parquet files), a
        polars DataFrame or LazyFrame, or a pandas DataFrame.
    separator, encoding
        Force a CSV file's separator or text encoding instead of detecting them.

    Returns
    -------
    Scanned
        The lazy frame; for a CSV file also the encoding read, a ``__problem``
        column when some rows hold bytes that are not UTF-8 or the wrong number
        of fields, and how to read its numbers (:func:`type_text_columns`).

    Raises
    ------
    DataError, EmptyInputError, ParameterError
        The source is missing, empty, unreadable or of an unknown kind.

    Examples
    --------
    >>> scan(pl.DataFrame({"contact_id": ["007"]}), separator=None, encoding=None).name
    '<frame>'
    """
    name = _source_name(source)
    if isinstance(source, pl.LazyFrame):
        return Scanned(source, name)
    if isinstance(source, pl.DataFrame):
        return Scanned(source.lazy(), name)
    if type(source).__module__.startswith("pandas"):
        return Scanned(pl.from_pandas(source).lazy(), name)
    if not isinstance(source, str | Path):
        msg = (
            f"cannot read events from a {type(source).__name__}; pass a path (CSV, Parquet, "
            "NDJSON, a folder or glob of Parquet files), a polars or a pandas DataFrame."
        )
        raise ParameterError(msg)
    text = str(source)
    path = Path(source)
    if any(ch in text for ch in "*?[") and not path.exists():  # a file named so is itself
        if not glob.glob(text, recursive=True):
            msg = f"{text}: no file matches this pattern."
            raise DataError(msg)
        matched = sorted(f for f in glob.glob(text, recursive=True) if Path(f).is_file())
        _one_schema(matched, text)
        return Scanned(_guard(lambda: pl.scan_parquet(text), text), name)
    if not path.exists():
        msg = f"{path}: no such file or folder."
        raise DataError(msg)
    if path.is_dir():
        if not any(path.rglob("*.parquet")):
            msg = f"{path}: the folder holds no .parquet file."
            raise EmptyInputError(msg)
        # only the Parquet files: engines leave _SUCCESS markers and manifests beside them
        parts = str(path / "**" / "*.parquet")
        _one_schema(sorted(path.rglob("*.parquet")), text)
        return Scanned(_guard(lambda: pl.scan_parquet(parts, hive_partitioning=True), text), name)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        if path.stat().st_size == 0:
            msg = f"{path}: the file is empty."
            raise EmptyInputError(msg)
        return Scanned(_guard(lambda: pl.scan_parquet(path, glob=False), text), name)
    if suffix in (".ndjson", ".jsonl", ".json"):
        data = path.read_bytes()
        if not data.strip():
            msg = f"{path}: the file is empty."
            raise EmptyInputError(msg)
        # from its bytes: polars would read a name holding * ? [ as a pattern
        scan = _guard(lambda: pl.scan_ndjson(data, infer_schema_length=None), text)
        return Scanned(scan, name)
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path, separator, encoding)
    msg = (
        f"{path}: unknown file type {path.suffix!r}; funnelkit reads .csv, .tsv, .parquet, "
        ".ndjson/.jsonl, or a folder of Parquet files."
    )
    raise DataError(msg)


def _one_schema(files: Sequence[str | Path], name: str) -> None:
    """Raise naming a file of a folder or pattern whose columns differ from the first one's.

    polars takes the first file's schema and fails deep in a query on another
    file's; the footers read here are a few bytes each.
    """
    first: tuple[str | Path, dict[str, pl.DataType]] | None = None
    for file in files:
        try:
            schema = dict(pl.read_parquet_schema(file))
        except (pl.exceptions.PolarsError, OSError) as exc:
            msg = f"{file}: cannot be read ({type(exc).__name__}: {exc})."
            raise DataError(msg) from exc
        if first is None:
            first = (file, schema)
            continue
        ref_file, ref = first
        extra = [c for c in schema if c not in ref]
        missing = [c for c in ref if c not in schema]
        # an all-null column (type Null) in one file is read as the others' type
        changed = [
            c
            for c in ref
            if c in schema and schema[c] != ref[c] and pl.Null() not in (schema[c], ref[c])
        ]
        if not (extra or missing or changed):
            continue
        parts = []
        retyped = [f"has {c!r} as {schema[c]}, not {ref[c]}" for c in changed]
        if extra:
            parts.append("has the column(s) " + ", ".join(map(repr, extra)))
        if missing:
            parts.append("lacks " + ", ".join(map(repr, missing)))
        parts.extend(retyped)
        msg = (
            f"{name}: the Parquet files do not share one schema: {file} "
            + "; ".join(parts)
            + f", unlike {ref_file}. Write them with the same columns and types, or read "
            "them one by one."
        )
        raise DataError(msg)


def _guard(opener: Any, name: str) -> pl.LazyFrame:
    try:
        lf: pl.LazyFrame = opener()
        lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        msg = f"{name}: cannot be read ({type(exc).__name__}: {exc})."
        raise DataError(msg) from exc
    return lf


def source_stamp(source: Source) -> tuple[int, int, int] | None:
    """Return what tells a source file apart from a changed one: size, mtime, file count.

    For a file, its size in bytes, its modification time (nanoseconds) and 1;
    for a folder or a pattern, the total size of its Parquet files, the
    latest modification time among them and how many there are.  ``None``
    for a frame, or a path that is no longer there.

    Examples
    --------
    >>> source_stamp(pl.DataFrame()) is None
    True
    """
    if not isinstance(source, str | Path):
        return None
    text = str(source)
    path = Path(source)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.rglob("*.parquet"))
    elif any(ch in text for ch in "*?["):
        files = [Path(f) for f in sorted(glob.glob(text, recursive=True))]
    else:
        return None
    size = mtime = 0
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            return None
        size += stat.st_size
        mtime = max(mtime, stat.st_mtime_ns)
    return size, mtime, len(files)
