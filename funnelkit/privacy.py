"""Pseudonymisation: contact ids that leave the machine are keyed hashes.

Reports show aggregates.  Where a table lists contacts (the warm leads that
stalled, say), their ids are replaced by a *pseudonym*: the HMAC-SHA256 of the
id under a secret key, written as ``p_`` and 16 hexadecimal digits.  The same
id under the same key always gives the same pseudonym, so a reader can follow a
contact from one weekly report to the next, and whoever holds the key (and the
data) can find the contact again; without the key the pseudonym reveals
nothing usable about the id.

The key comes, in this order, from

1. the environment variable ``FUNNELKIT_PSEUDONYM_KEY`` (at least 16
   characters), which is what a scheduler or a shared server should set;
2. a key file: ``key_file=`` when given, else ``FUNNELKIT_PSEUDONYM_KEY_FILE``,
   else ``$XDG_CONFIG_HOME/funnelkit/pseudonym.key`` (``~/.config/...`` when
   ``XDG_CONFIG_HOME`` is unset).  A missing file is created once, with a
   random 256-bit key, readable by its owner only (mode 0600).

The key itself is never written into a report, a notebook or ``metrics.json``:
only the pseudonyms are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import polars as pl

from funnelkit.errors import ParameterError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "default_key_file",
    "load_key",
    "pseudonym",
    "pseudonymize",
    "pseudonymize_columns",
]

KEY_ENV = "FUNNELKIT_PSEUDONYM_KEY"
KEY_FILE_ENV = "FUNNELKIT_PSEUDONYM_KEY_FILE"
PREFIX = "p_"
DIGITS = 16
_MIN_KEY_CHARS = 16

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def default_key_file() -> Path:
    """Return where the local pseudonymisation key is kept.

    ``FUNNELKIT_PSEUDONYM_KEY_FILE`` when set, else
    ``$XDG_CONFIG_HOME/funnelkit/pseudonym.key``, else
    ``~/.config/funnelkit/pseudonym.key``.

    Examples
    --------
    >>> default_key_file().name
    'pseudonym.key'
    """
    override = os.environ.get(KEY_FILE_ENV)
    if override:
        return Path(override).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "funnelkit" / "pseudonym.key"


def load_key(*, key_file: str | Path | None = None, create: bool = True) -> bytes:
    """Return the pseudonymisation key (see the module docstring for where it comes from).

    Parameters
    ----------
    key_file
        The key file to read (or create); default :func:`default_key_file`.
        Ignored when ``FUNNELKIT_PSEUDONYM_KEY`` is set.
    create
        Create a missing key file with a fresh random key (mode 0600).  With
        ``create=False`` a missing file is an error.

    Raises
    ------
    ParameterError
        The environment key is too short, the key file is empty or missing
        (``create=False``), or it cannot be read or created.

    Examples
    --------
    >>> import os
    >>> os.environ[KEY_ENV] = "an example key, not a secret"
    >>> load_key()
    b'an example key, not a secret'
    >>> del os.environ[KEY_ENV]
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env is not None:
        if len(from_env.strip()) < _MIN_KEY_CHARS:
            msg = (
                f"{KEY_ENV} holds {len(from_env.strip())} character(s); a pseudonymisation key "
                f"needs at least {_MIN_KEY_CHARS}. Set it to a long random value, e.g. the "
                "output of: python -c 'import secrets; print(secrets.token_hex(32))'."
            )
            raise ParameterError(msg)
        return from_env.strip().encode("utf-8")
    path = Path(key_file).expanduser() if key_file is not None else default_key_file()
    if not path.exists():
        if not create:
            msg = (
                f"key_file: {path} does not exist. Set {KEY_ENV}, or let funnelkit create the "
                "file (create=True)."
            )
            raise ParameterError(msg)
        _create_key_file(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"key_file: cannot read {path} ({exc.strerror}). Check its permissions."
        raise ParameterError(msg) from exc
    if len(text) < _MIN_KEY_CHARS:
        msg = (
            f"key_file: {path} holds a key of {len(text)} character(s); at least "
            f"{_MIN_KEY_CHARS} are needed. Delete the file to have a new key created."
        )
        raise ParameterError(msg)
    return text.encode("utf-8")


def _create_key_file(path: Path) -> None:
    """Write a random key to ``path`` with mode 0600, unless another process just did."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # created concurrently: read the winner's key
    except OSError as exc:
        msg = (
            f"key_file: cannot create {path} ({exc.strerror}). Set {KEY_ENV} or pass "
            "another key_file."
        )
        raise ParameterError(msg) from exc
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_hex(32) + "\n")


def pseudonym(value: str, *, key: bytes) -> str:
    """Return the pseudonym of one id: ``p_`` and 16 hex digits of HMAC-SHA256(key, id).

    Examples
    --------
    >>> pseudonym("c000123", key=b"an example key, not a secret")
    'p_cb2d8cded29bde66'
    """
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


def _pseudonymize_series(series: pl.Series, key: bytes) -> pl.Series:
    # HMAC is not a polars expression: hash each distinct id once, then map.
    distinct = series.drop_nulls().unique()
    names = [pseudonym(str(v), key=key) for v in distinct.to_list()]
    return series.cast(pl.String).replace_strict(
        distinct.cast(pl.String), pl.Series(names, dtype=pl.String), default=None
    )


def pseudonymize(column: str | pl.Expr, *, key: bytes | None = None) -> pl.Expr:
    """Return an expression giving the pseudonyms of a column of ids.

    Nulls stay null.  Each distinct id is hashed once per batch, so the cost
    grows with the number of distinct ids (about a microsecond each).

    Parameters
    ----------
    column
        A column name or an expression of ids (cast to text).
    key
        The key; default :func:`load_key` (read once, when this is called).

    Examples
    --------
    >>> key = b"an example key, not a secret"
    >>> df = pl.DataFrame({"contact_id": ["c000123", None]})
    >>> df.select(pseudonymize("contact_id", key=key))["contact_id"].to_list()
    ['p_cb2d8cded29bde66', None]
    """
    secret = load_key() if key is None else key
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.map_batches(
        lambda s: _pseudonymize_series(s, secret), return_dtype=pl.String, is_elementwise=True
    )


def pseudonymize_columns(
    frame: FrameT, columns: Iterable[str] = ("contact_id",), *, key: bytes | None = None
) -> FrameT:
    """Return ``frame`` with each of ``columns`` replaced by its pseudonyms.

    Parameters
    ----------
    frame
        A polars DataFrame or LazyFrame.
    columns
        The id columns to pseudonymise (default ``contact_id``).
    key
        The key; default :func:`load_key`.

    Raises
    ------
    ParameterError
        A column is not in the frame.

    Examples
    --------
    >>> key = b"an example key, not a secret"
    >>> df = pl.DataFrame({"contact_id": ["c000123"], "stage": ["warm lead"]})
    >>> pseudonymize_columns(df, key=key).row(0)
    ('p_cb2d8cded29bde66', 'warm lead')
    """
    names = list(columns)
    present = frame.collect_schema().names()
    for name in names:
        if name not in present:
            msg = f"columns: {name!r} is not in the table (columns: {', '.join(present)})."
            raise ParameterError(msg)
    secret = load_key() if key is None else key
    return frame.with_columns(pseudonymize(name, key=secret).alias(name) for name in names)
