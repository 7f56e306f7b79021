"""Open events and contacts where they live: ``duckdb:`` and ``spark:`` sources.

:func:`open_source` reads text such as
``duckdb:///data/warehouse.duckdb?table=events`` or ``spark:analytics.events``
into a DuckDB relation or a Spark DataFrame; :func:`open_events` and
:func:`open_contacts` fall back to the file readers of
:mod:`funnelkit.events` for paths.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funnelkit.engine_frames import NativeFrame
from funnelkit.errors import (
    DataError,
    ParameterError,
    did_you_mean,
)

if TYPE_CHECKING:
    from funnelkit.events import ContactTable, EventLog

__all__ = [
    "SPARK_CONF_ENV",
    "open_contacts",
    "open_events",
    "open_source",
    "spark_conf",
]


SPARK_CONF_ENV = "FUNNELKIT_SPARK_CONF"
"""Environment variable naming a ``spark-defaults.conf``-style file for ``spark:`` sources."""


_LOCK = threading.Lock()


_DUCKDB: dict[str, Any] = {}


def _duckdb_connection(path: str) -> Any:
    """One read-only connection per database file, kept open for the relations it serves."""
    import duckdb

    key = str(Path(path).expanduser().resolve())
    with _LOCK:
        con = _DUCKDB.get(key)
        if con is None:
            try:
                con = duckdb.connect(key, read_only=True)
            except duckdb.Error as exc:
                msg = f"{path}: cannot open the DuckDB database ({exc})."
                raise DataError(msg) from exc
            _DUCKDB[key] = con
        return con


def _open_duckdb(text: str, parts: urllib.parse.SplitResult) -> Any:
    import duckdb

    path = urllib.parse.unquote((parts.netloc + parts.path) if parts.netloc else parts.path)
    query = urllib.parse.parse_qs(parts.query)
    tables = query.get("table", [])
    if not path:
        msg = f"{text}: no database file; write duckdb:///path/to/file.duckdb?table=events."
        raise ParameterError(msg)
    if len(tables) != 1 or not tables[0].strip():
        msg = (
            f"{text}: name the table to read, e.g. "
            f"duckdb://{path if path.startswith('/') else '/' + path}?table=events."
        )
        raise ParameterError(msg)
    unknown = sorted(set(query) - {"table"})
    if unknown:
        msg = f"{text}: unknown option {unknown[0]!r}; the only option is table=."
        raise ParameterError(msg)
    if not Path(path).expanduser().is_file():
        msg = f"{path}: no such DuckDB database file (from {text})."
        raise DataError(msg)
    con = _duckdb_connection(path)
    table = tables[0].strip()
    try:
        return con.table(table)
    except duckdb.Error as exc:
        names = [
            row[0] for row in con.sql("SELECT table_name FROM information_schema.tables").fetchall()
        ]
        msg = (
            f"{text}: no table {table!r} in {path}.{did_you_mean(table, names)} "
            f"Tables: {', '.join(sorted(names)) or '(none)'}."
        )
        raise DataError(msg) from exc


def spark_conf(path: str) -> dict[str, str]:
    """Read ``key value`` lines (``spark-defaults.conf``); ``#`` starts a comment."""
    file = Path(path).expanduser()
    if not file.is_file():
        msg = f"{SPARK_CONF_ENV}={path}: no such file (a spark-defaults.conf: 'key value' lines)."
        raise ParameterError(msg)
    conf = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        head = text.split(None, 1)
        if "=" in head[0]:
            key, _, value = text.partition("=")
        else:
            key, value = head[0], head[1] if len(head) > 1 else ""
        if not key.strip() or not value.strip():
            msg = f"{path}, line {number}: expected 'key value', got {line.strip()!r}."
            raise ParameterError(msg)
        conf[key.strip()] = value.strip()
    return conf


def _spark_session() -> Any:
    """Return the active Spark session, else one built from :data:`SPARK_CONF_ENV`'s file."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("funnelkit")
    path = os.environ.get(SPARK_CONF_ENV)
    if path:
        for key, value in spark_conf(path).items():
            builder = builder.config(key, value)
    return builder.getOrCreate()


def _open_spark(text: str, name: str) -> Any:
    name = name.strip()
    if not name:
        msg = f"{text}: name the table to read, e.g. spark:analytics.events."
        raise ParameterError(msg)
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        msg = f"{text}: PySpark is not installed; pip install pyspark (or funnelkit[spark])."
        raise ParameterError(msg) from exc
    from pyspark.errors import AnalysisException

    spark = _spark_session()
    try:
        return spark.table(name)
    except AnalysisException as exc:
        msg = f"{text}: Spark has no table {name!r} ({str(exc).splitlines()[0]})."
        raise DataError(msg) from exc


def open_source(text: str | os.PathLike[str]) -> NativeFrame | None:
    """Open an engine source named by text; ``None`` when ``text`` is a plain path.

    ``duckdb:///path/file.duckdb?table=events`` opens a table of a DuckDB file
    read-only; ``spark:analytics.events`` a table of the Spark catalog, in the
    active session or one built from ``$FUNNELKIT_SPARK_CONF``.  The forms
    and settings are listed on the engines page.

    Parameters
    ----------
    text
        The source; anything else (a file path) gives ``None``.

    Returns
    -------
    DuckDB relation, Spark DataFrame or None

    Raises
    ------
    ParameterError
        The source text is malformed (no table named, unknown option).
    DataError
        The database file or the table does not exist.

    Examples
    --------
    >>> open_source("events.csv") is None
    True

    See the concept page: docs/concepts/engines.md
    """
    value = os.fspath(text)
    scheme, sep, rest = value.partition(":")
    if not sep or scheme.lower() not in ("duckdb", "spark"):
        return None
    if scheme.lower() == "duckdb":
        return _open_duckdb(value, urllib.parse.urlsplit(value))
    return _open_spark(value, rest)


def open_events(source: str | os.PathLike[str], **read_options: Any) -> EventLog | NativeFrame:
    """Return :func:`open_source` of ``source``, or :func:`~funnelkit.events.read_events` of it.

    What a notebook or a report calls with the user's ``--events``: an
    engine source stays in its engine, a file is read and validated.

    Parameters
    ----------
    source
        ``duckdb:...``, ``spark:...`` or a file path.
    **read_options
        Passed to :func:`~funnelkit.events.read_events` for a file.

    Returns
    -------
    EventLog or DuckDB relation or Spark DataFrame

    Raises
    ------
    ParameterError
        When the source text is malformed.
    DataError
        When the file, database or table cannot be read (see
        :func:`~funnelkit.events.read_events` for its finer errors).

    Examples
    --------
    >>> open_events("data/sample/events.csv").source  # doctest: +SKIP
    'data/sample/events.csv'

    See the concept page: docs/concepts/engines.md
    """
    from funnelkit.events import read_events

    native = open_source(source)
    return native if native is not None else read_events(source, **read_options)


def open_contacts(
    source: str | os.PathLike[str], **read_options: Any
) -> ContactTable | NativeFrame:
    """Return :func:`open_source` of ``source``, or :func:`~funnelkit.events.read_contacts` of it.

    The contacts' twin of :func:`open_events`: an engine source stays in its
    engine, a file is read and validated.

    Parameters
    ----------
    source
        ``duckdb:...``, ``spark:...`` or a file path.
    **read_options
        Passed to :func:`~funnelkit.events.read_contacts` for a file.

    Returns
    -------
    ContactTable or DuckDB relation or Spark DataFrame

    Raises
    ------
    ParameterError
        When the source text is malformed.
    DataError
        When the file, database or table cannot be read.

    Examples
    --------
    >>> open_contacts("data/sample/contacts.csv").source  # doctest: +SKIP
    'data/sample/contacts.csv'

    See the concept page: docs/concepts/engines.md
    """
    from funnelkit.events import read_contacts

    native = open_source(source)
    return native if native is not None else read_contacts(source, **read_options)
