"""The text of a funnel definition file: bounded reading, the nesting pre-scan, TOML values.

This layer knows TOML, not stages: :mod:`funnelkit.definitions` reads and writes
whole definitions with it (see "Limits" there).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from datetime import date, datetime, time
from pathlib import Path

from funnelkit.errors import DefinitionError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "check_nesting",
    "inline_table",
    "read_definition",
    "toml_number",
    "toml_scalar",
    "toml_string",
]

# Limits of a definition: far above what a real one needs (5-12 stages, a few
# events and filters per condition), low enough that reading, checking and
# classifying with a definition at every limit at once stays within seconds.
MAX_FILE_BYTES = 256 * 1024
"""Size of a definition file, in bytes (the presets are a few KB)."""
MAX_NESTING = 32
"""Depth of dotted keys, ``[table.headers]``, inline tables and arrays together."""


# --- the nesting pre-scan ------------------------------------------------------------
# The nesting pre-scan reads the TOML structure only: strings and comments are
# skipped whole, then each of . = , { } [ ] and newline is one step.  Each
# character is read a bounded number of times, so it is linear in the text.
_TOKEN = re.compile(r"\"\"\"|'''|[\"'#.=,{}\[\]\n]")
_STRING_REST = {
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""(?:""?)?', re.DOTALL),
    "'''": re.compile(r"(?:[^']|'(?!''))*'''(?:''?)?"),
}


def check_nesting(text: str, source: str) -> None:
    """Refuse TOML nested deeper than :data:`MAX_NESTING`, before it is parsed.

    A key ``a.b.c`` is three levels, a header ``[a.b]`` two, each inline
    table or array one more; they add up.  The scan stops where ``tomllib``
    would stop with an error anyway (an unclosed string, a line break inside
    a header or an inline table).
    """
    # One frame per open container: its kind, its depth, the dots of the key
    # being read and whether a key (not a value) is being read.
    kinds, depths, dots, in_key = ["document"], [0], [0], [True]
    pos = 0
    while (match := _TOKEN.search(text, pos)) is not None:
        token, pos = match.group(), match.end()
        if token in _STRING_REST:
            end = _STRING_REST[token].match(text, pos)
            if end is None:
                return
            pos = end.end()
            continue
        if token == "#":
            pos = text.find("\n", pos)
            if pos < 0:
                return
            continue
        kind = kinds[-1]
        depth = 0
        if token == "." and in_key[-1]:
            dots[-1] += 1
            depth = depths[-1] + dots[-1]
        elif token == "=" and kind in ("document", "table"):
            in_key[-1] = False
        elif token == "," and kind == "table":
            in_key[-1], dots[-1] = True, 0
        elif token == "\n":
            if kind in ("header", "table"):
                return
            if kind == "document":
                in_key[-1], dots[-1] = True, 0
        elif token == "[" and kind == "document" and in_key[-1]:
            kinds.append("header")
            depths.append(0)
            dots.append(0)
            in_key.append(True)
        elif token == "[" and kind == "header":
            continue
        elif token in "[{":
            depth = depths[-1] + 1 if kind == "array" else depths[-1] + dots[-1] + 1
            kinds.append("array" if token == "[" else "table")
            depths.append(depth)
            dots.append(0)
            in_key.append(token == "{")
        elif token == "]" and kind == "header":
            header = dots[-1] + 1
            del kinds[-1], depths[-1], dots[-1], in_key[-1]
            depths[-1], dots[-1], in_key[-1] = header, 0, True
        elif (token == "]" and kind == "array") or (token == "}" and kind == "table"):
            del kinds[-1], depths[-1], dots[-1], in_key[-1]
        if depth > MAX_NESTING:
            line = text.count("\n", 0, match.start()) + 1
            msg = (
                f"{source}: line {line}: nested more than {MAX_NESTING} levels deep "
                f"(dotted keys, [table.headers], inline tables and arrays together); "
                f"a funnel definition needs 5 at most"
            )
            raise DefinitionError(msg)


# --- reading -----------------------------------------------------------------------
def read_definition(path: Path) -> str:
    """Return the text of the definition file ``path``, reading at most the size limit.

    Only a regular file is read: a device (``/dev/zero``), a pipe or a folder
    is refused without reading, so reading always ends, and soon.
    """
    # O_NONBLOCK: opening a pipe with no writer returns at once instead of waiting.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        msg = f"{path}: no such funnel definition file"
        raise DefinitionError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read the funnel definition: {exc.strerror}"
        raise DefinitionError(msg) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            msg = (
                f"{path}: not a regular file ({kind}); a funnel definition is a "
                f".toml file of at most {MAX_FILE_BYTES // 1024} KiB"
            )
            raise DefinitionError(msg)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"{path}: cannot read the funnel definition: {exc.strerror}"
        raise DefinitionError(msg) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        msg = (
            f"{path}: more than the {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 1024} KiB) "
            f"a funnel definition may have; the presets have a few KB: is it the right file?"
        )
        raise DefinitionError(msg)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        msg = f"{path}: the funnel definition is in UTF-16; TOML is UTF-8: save it as UTF-8"
        raise DefinitionError(msg)
    try:
        # a UTF-8 byte order mark (Windows editors write one) is no TOML statement
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        msg = f"{path}: cannot read the funnel definition: {exc}"
        raise DefinitionError(msg) from None


# --- writing -----------------------------------------------------------------------
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(text: str) -> str:
    """Write ``text`` as a TOML basic string, escaping what TOML does not allow raw."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else toml_string(key)


def toml_scalar(value: object) -> str:
    """Write a boolean, number, date, time or string as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return toml_number(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str):
        return toml_string(value)
    msg = f"cannot write {value!r} as TOML"
    raise DefinitionError(msg)


def inline_table(items: Iterable[tuple[str, object]]) -> str:
    """Write ``(key, value)`` pairs as a TOML inline table, ``{ key = value, ... }``."""
    return "{ " + ", ".join(f"{_toml_key(k)} = {toml_scalar(v)}" for k, v in items) + " }"


def toml_number(value: float) -> str:
    """Write a number as a definition writes it: a whole one without ``.0``."""
    # A whole float beyond 2**53 keeps its exponent: written as a whole number it
    # would read back as an integer that can overflow 64 bits.
    whole = float(value).is_integer() and abs(value) < 2**53
    return str(int(value)) if whole else repr(float(value))
