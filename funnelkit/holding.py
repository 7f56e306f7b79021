"""Where a validated log is held: in memory, in a validated Parquet cache, or lazily.

:func:`funnelkit.events.read_events` validates a source once and keeps the
result, so that every later analysis reads clean, typed columns.  This module
holds the rule that chooses where (:func:`choose_hold`), the estimate it rests
on (:func:`estimated_bytes`, :func:`available_memory`) and the cache folder
funnelkit owns (:func:`cache_folder`, :func:`find_entry`, :func:`write_entry`).

An entry is a *copy* (the validated rows, for a log held on disk) or a
*receipt* (:data:`RECEIPT`: the set-aside rows and the summary of a Parquet
file read into memory, and a fingerprint of the file, from which a later
reading of the unchanged file takes its kept rows without validating again).
The cache's layout, its key and what funnelkit will and will not remove are in
"A source is validated once" on the concept page
``docs/concepts/data-contract.md`` of the documentation (``make docs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from funnelkit.errors import DataError, ParameterError
from funnelkit.logs import Held, SetAsideSummary

__all__ = [
    "HOLDS",
    "MARK",
    "MEMORY_SHARE",
    "RECEIPT",
    "Hold",
    "available_memory",
    "cache_folder",
    "check_hold",
    "choose_hold",
    "estimated_bytes",
    "entry_facts",
    "find_entry",
    "keeps_receipt",
    "parquet_fingerprint",
    "summary_from_json",
    "summary_to_json",
    "write_entry",
]

Hold = Literal["auto", "memory", "disk", "lazy"]
HOLDS: tuple[Hold, ...] = ("auto", "memory", "disk", "lazy")
#: A log is held in memory when its estimated size is at most this share of
#: the memory available: validating it takes about twice its size for a
#: moment, and the analyses run on it need room too.
MEMORY_SHARE = 0.25
#: The file whose presence (and matching key) says funnelkit wrote an entry.
MARK = "funnelkit-validated.json"
EVENTS_FILE = "events.parquet"
SET_ASIDE_FILE = "set_aside.parquet"
SUMMARY_FILE = "summary.json"
#: The kind of entry that holds no rows kept: see :func:`write_entry`.
RECEIPT = "receipt"
#: How much of a Parquet file's end :func:`parquet_fingerprint` reads (its footer).
_FOOTER_BYTES = 64 * 2**10
#: The cache's Parquet compression.  At 10M events (six columns) lz4 writes in
#: 1.6 CPU s and reads in 0.43 against zstd's 2.1 and 0.71, for a file 1.4x the
#: size (143 MB against 99): the copy is read back on this machine, often at once
#: (a report's kernel), where its size matters less than the time.
CACHE_COMPRESSION: Literal["lz4"] = "lz4"
_WRITTEN_HERE: set[Path] = set()  # entries this process wrote or read
_FORMAT = 1  # bumped when what an entry holds changes: older entries are not read
# Bytes per value of a column, as polars holds it (a text is a 16-byte view
# plus its characters when longer than 12).
_STRING_BYTES = 24


def check_hold(hold: str) -> Hold:
    """Return ``hold`` when it is one of :data:`HOLDS`; raise naming them otherwise."""
    if hold not in HOLDS:
        from funnelkit.errors import did_you_mean

        msg = (
            f"hold={hold!r}: choose one of {', '.join(map(repr, HOLDS))}."
            f"{did_you_mean(hold, HOLDS)}"
        )
        raise ParameterError(msg)
    return hold


def available_memory(root: str | Path = "/") -> int | None:
    """Return the bytes of memory this process may still use, or ``None`` when unknown.

    The machine's available memory (Linux ``MemAvailable``), lowered to what
    the process's memory control group (a container's limit, cgroup v2 or v1)
    leaves: its limit minus its current usage.  A container sees the host's
    ``MemAvailable``, so without the group's limit a log could be held in
    memory that the container cannot give.

    Parameters
    ----------
    root
        The file system root to read ``proc/meminfo``, ``proc/self/cgroup`` and
        ``sys/fs/cgroup`` from (``"/"``; another root for a test tree).

    Returns
    -------
    int or None
        Bytes; ``None`` when neither the machine nor a group says.

    Examples
    --------
    >>> free = available_memory()
    >>> free is None or free > 0
    True

    See the concept page: docs/concepts/data-contract.md
    """
    base = Path(root)
    machine: int | None = None
    try:
        with open(base / "proc" / "meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    machine = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if machine is None and base == Path("/"):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            machine = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    group = _group_headroom(base)
    if group is None:
        return machine
    return group if machine is None else min(machine, group)


# A group limit at or above this is "no limit" (cgroup v1 writes 2**63 rounded to pages).
_NO_LIMIT = 2**60


def _group_headroom(root: Path) -> int | None:
    """Return the process's memory group limit minus its usage (bytes), ``None`` without limit.

    cgroup v2: ``memory.max`` and ``memory.current`` of the group named by the
    ``0::`` line of ``/proc/self/cgroup``; cgroup v1: ``memory.limit_in_bytes``
    and ``memory.usage_in_bytes`` of the ``memory`` controller's group.  The
    group's own folder is read when it is mounted, else the mount's root (a
    container's usual view of its own group).
    """
    try:
        lines = (root / "proc" / "self" / "cgroup").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    fs = root / "sys" / "fs" / "cgroup"
    candidates: list[tuple[Path, str, str]] = []
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        relative = path.strip().lstrip("/")
        if controllers == "":
            candidates += [(fs / relative, "memory.max", "memory.current")]
            candidates += [(fs, "memory.max", "memory.current")]
        elif "memory" in controllers.split(","):
            mount = fs / "memory"
            pair = ("memory.limit_in_bytes", "memory.usage_in_bytes")
            candidates += [(mount / relative, *pair), (mount, *pair)]
    for folder, limit_name, usage_name in candidates:
        try:
            limit_text = (folder / limit_name).read_text(encoding="ascii").strip()
            usage = int((folder / usage_name).read_text(encoding="ascii").strip())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if limit_text == "max":
            return None
        try:
            limit = int(limit_text)
        except ValueError:
            return None
        return None if limit >= _NO_LIMIT else max(limit - usage, 0)
    return None


def estimated_bytes(schema: pl.Schema, rows: int) -> int:
    """Return about how many bytes ``rows`` rows of ``schema`` take in memory, typed.

    A text column counts :data:`_STRING_BYTES` per value, a number its
    width, anything else 16; plus 4 per row for the row numbers kept with the
    rows.  An estimate, not a measure: long texts take more.

    Examples
    --------
    >>> estimated_bytes(pl.Schema({"a": pl.String, "b": pl.Int64}), 1000)
    36000
    """
    width = 4
    for dtype in schema.values():
        if dtype == pl.String:
            width += _STRING_BYTES
        elif dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Boolean:
            width += 8 if dtype != pl.Boolean else 1
        else:
            width += 16
    return rows * width


def choose_hold(hold: Hold, *, estimate: int | None, lazy_plan: bool) -> Held:
    """Return where ``read_events`` holds a validated log (the rule of ``hold="auto"``).

    Parameters
    ----------
    hold
        What the caller asked: ``"memory"``, ``"disk"`` and ``"lazy"`` are
        taken as they are; ``"auto"`` chooses.
    estimate
        The log's estimated size in memory (:func:`estimated_bytes`), or
        ``None`` when the source is in memory already (a CSV or NDJSON file,
        a frame).
    lazy_plan
        The source is a polars LazyFrame given by the caller: funnelkit cannot
        size it without running it.

    Returns
    -------
    str
        With ``"auto"``: ``"lazy"`` for a LazyFrame; ``"memory"`` for a source
        in memory already, or whose estimate is at most :data:`MEMORY_SHARE`
        of :func:`available_memory`; ``"disk"`` otherwise.

    Examples
    --------
    >>> choose_hold("auto", estimate=None, lazy_plan=False)
    'memory'
    >>> choose_hold("auto", estimate=10**15, lazy_plan=False)
    'disk'
    """
    if hold != "auto":
        return hold
    if lazy_plan:
        return "lazy"
    if estimate is None:
        return "memory"
    free = available_memory()
    return "memory" if free is None or estimate <= free * MEMORY_SHARE else "disk"


def cache_folder(given: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder of validated caches: ``given``, else ``$FUNNELKIT_CACHE_DIR``.

    Else ``$XDG_CACHE_HOME/funnelkit/validated``, else
    ``~/.cache/funnelkit/validated``.

    Examples
    --------
    >>> cache_folder("/tmp/x")
    PosixPath('/tmp/x')
    """
    if given is not None:
        return Path(given)
    if os.environ.get("FUNNELKIT_CACHE_DIR"):
        return Path(os.environ["FUNNELKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "funnelkit" / "validated"


def _entry_name(
    source: str, stamp: tuple[int, int, int], options: Mapping[str, Any], kind: str
) -> str:
    path = os.path.abspath(source)
    named: dict[str, Any] = {"format": _FORMAT, "source": path, "stamp": list(stamp)}
    named["options"] = dict(options)
    if kind == RECEIPT:
        named["kind"] = kind
    text = json.dumps(named, sort_keys=True, default=str)
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).name)[:40] or "source"
    return f"{stem}-{key}"


def _mark_of(entry: Path) -> dict[str, Any] | None:
    """Return the mark of an entry funnelkit wrote whole, or ``None``."""
    mark = entry / MARK
    try:
        if entry.is_symlink() or not entry.is_dir() or mark.is_symlink() or not mark.is_file():
            return None
        data = json.loads(mark.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # another account's entry (0700) raises PermissionError
        return None
    if not isinstance(data, dict) or data.get("name") != entry.name:
        return None
    for file, size in dict(data.get("files", {})).items():
        one = entry / str(file)
        if one.is_symlink() or not one.is_file() or one.stat().st_size != size:
            return None
    return data


def find_entry(
    folder: Path,
    source: str,
    stamp: tuple[int, int, int],
    options: Mapping[str, Any],
    *,
    kind: str = "copy",
) -> Path | None:
    """Return the cache entry of ``source`` as it is now, read with ``options``, or ``None``.

    ``kind``: ``"copy"`` (the validated rows) or :data:`RECEIPT`.

    Raises
    ------
    DataError
        Something funnelkit did not write stands at the entry's path.
    """
    entry = folder / _entry_name(source, stamp, options, kind)
    if not entry.exists() and not entry.is_symlink():
        return None
    if _mark_of(entry) is None:
        if entry.is_dir() and not os.access(entry, os.R_OK | os.X_OK):
            msg = (
                f"{entry}: another account's validated copy of {source}, readable by that "
                "account only; give a cache folder of your own (cache_dir=, or "
                "FUNNELKIT_CACHE_DIR)."
            )
            raise DataError(msg)
        msg = (
            f"{entry}: funnelkit would keep its validated copy of {source} here, but this "
            "was not written by funnelkit (or was changed since); it is left alone. Move it, "
            "or give another cache folder (cache_dir=, or FUNNELKIT_CACHE_DIR)."
        )
        raise DataError(msg)
    _private(entry)  # one written before entries were private
    _WRITTEN_HERE.add(entry.resolve())
    return entry


def _private(entry: Path) -> None:
    """Make funnelkit's own cache entry readable by this account only (its rows hold raw ids)."""
    with contextlib.suppress(OSError):
        if entry.stat().st_mode & 0o077:
            entry.chmod(0o700)


def write_entry(
    folder: Path,
    source: str,
    stamp: tuple[int, int, int],
    options: Mapping[str, Any],
    kept: pl.DataFrame | pl.LazyFrame | None,
    set_aside: pl.DataFrame | pl.LazyFrame,
    count: Any,
    *,
    facts: Mapping[str, Any] | None = None,
) -> tuple[Path, SetAsideSummary]:
    """Write a validated log as a cache entry; return its folder and its summary.

    ``kept`` and ``set_aside`` are written (a LazyFrame streamed to its file),
    then ``count(events_path, set_aside_path)`` computes the summary from the
    written files, and the mark goes in last, with ``facts`` (see
    :func:`entry_facts`); the folder is then renamed into place.  Without
    ``kept`` the entry is a :data:`RECEIPT` (``count`` is then called with
    ``None`` for the events).  Older entries of the same source (those holding
    funnelkit's mark) are removed.  The entry's folder (and the cache folder,
    when funnelkit makes it) is readable by this account only (mode ``0700``):
    it holds the source's contact ids as they are.

    Raises
    ------
    DataError
        The cache folder cannot be written (the message names it), or
        something funnelkit did not write stands at the entry's path.
    """
    kind = "copy" if kept is not None else RECEIPT
    name = _entry_name(source, stamp, options, kind)
    entry = folder / name
    tmp = folder / f".tmp-{name}-{os.getpid()}"
    try:
        # the rows hold raw contact ids: a folder the kit makes is this account's alone
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(mode=0o700)
        tmp.chmod(0o700)  # whatever the umask
        frames = [(set_aside, SET_ASIDE_FILE)]
        if kept is not None:
            frames.insert(0, (kept, EVENTS_FILE))
        for frame, file in frames:
            if isinstance(frame, pl.LazyFrame):
                frame.sink_parquet(tmp / file, compression=CACHE_COMPRESSION)
            else:
                frame.write_parquet(tmp / file, compression=CACHE_COMPRESSION)
        summary: SetAsideSummary = count(
            tmp / EVENTS_FILE if kept is not None else None, tmp / SET_ASIDE_FILE
        )
        (tmp / SUMMARY_FILE).write_text(summary_to_json(summary), encoding="utf-8")
        written = [file for _, file in frames] + [SUMMARY_FILE]
        files = {f: (tmp / f).stat().st_size for f in written}
        mark: dict[str, Any] = {"name": name, "source": os.path.abspath(source)}
        mark.update(files=files, kind=kind, facts=dict(facts or {}))
        (tmp / MARK).write_text(json.dumps(mark), encoding="utf-8")
        if entry.exists() or entry.is_symlink():
            # written meanwhile, or not ours (which raises)
            found = find_entry(folder, source, stamp, options, kind=kind)
            assert found is not None
            if kind == RECEIPT and entry_facts(found) != mark["facts"]:
                # the receipt of a file rewritten since, its size and modification time alike
                shutil.rmtree(found)
            else:
                shutil.rmtree(tmp)
                return found, summary
        try:
            tmp.rename(entry)
        except OSError:
            if _mark_of(entry) is None:  # not another process writing the same entry
                raise
            shutil.rmtree(tmp)
            return entry, summary
    except OSError as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        reason = exc.strerror or str(exc)
        msg = (
            f"{folder}: cannot keep the validated copy of {source} there ({reason}); give "
            "another cache folder (cache_dir=, or FUNNELKIT_CACHE_DIR), or hold='memory'."
        )
        raise DataError(msg) from exc
    _prune(folder, entry)
    return entry, summary


def entry_facts(entry: Path) -> dict[str, Any]:
    """Return the ``facts`` :func:`write_entry` recorded in an entry's mark (``{}`` if none)."""
    mark = _mark_of(entry)
    return dict(mark.get("facts") or {}) if mark is not None else {}


def keeps_receipt(source: object) -> bool:
    """Tell whether reading ``source`` into memory leaves a :data:`RECEIPT`: one Parquet file.

    Not a folder or a pattern (a receipt's fingerprint is one footer), nor a
    CSV or NDJSON file (read whole anyway, their parsing is most of the cost).

    Examples
    --------
    >>> keeps_receipt("no/such/file.parquet"), keeps_receipt(pl.DataFrame())
    (False, False)
    """
    if not isinstance(source, str | os.PathLike):
        return False
    path = Path(source)
    return path.suffix.lower() in (".parquet", ".pq") and path.is_file()


def parquet_fingerprint(path: str | os.PathLike[str]) -> str:
    """Return a hash of a Parquet file's size and last 64 KiB (its footer, at least in part).

    The footer holds the file's row groups, their sizes and their columns'
    statistics: a file rewritten with other rows changes it, even when its
    size and modification time (the cache key's stamp, to the clock's
    resolution) do not.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "x.parquet"
    ...     pl.DataFrame({"a": [1]}).write_parquet(path)
    ...     one = parquet_fingerprint(path)
    ...     pl.DataFrame({"a": [2]}).write_parquet(path)
    ...     one != parquet_fingerprint(path)
    True
    """
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - _FOOTER_BYTES))
        tail = file.read()
    return hashlib.sha256(size.to_bytes(8, "little") + tail).hexdigest()


def _prune(folder: Path, kept: Path) -> None:
    """Remove the other entries of ``kept``'s source that funnelkit wrote.

    They are stale (their key names a source as it no longer is); those this
    process wrote stay, as a log read earlier in it may still hold them.  A
    receipt removes only receipts: a copy may be what a log of another
    process reads its rows from.
    """
    _WRITTEN_HERE.add(kept.resolve())
    mark = _mark_of(kept)
    if mark is None:
        return
    for other in folder.iterdir():
        if other == kept or other.name.startswith(".") or other.resolve() in _WRITTEN_HERE:
            continue
        theirs = _mark_of(other)
        if theirs is None or theirs.get("source") != mark["source"]:
            continue
        if mark.get("kind") != RECEIPT or theirs.get("kind") == RECEIPT:
            with contextlib.suppress(OSError):
                shutil.rmtree(other)


def summary_to_json(summary: SetAsideSummary) -> str:
    """Return ``summary`` as JSON text, every field kept (:func:`summary_from_json` reads it)."""

    def moment(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return json.dumps(
        {
            "source": summary.source,
            "rows_read": summary.rows_read,
            "rows_kept": summary.rows_kept,
            "by_reason": {k: [c, list(rows)] for k, (c, rows) in summary.by_reason.items()},
            "first_at": moment(summary.first_at),
            "last_at": moment(summary.last_at),
            "encoding": summary.encoding,
            "bulk_first_at": moment(summary.bulk_first_at),
            "bulk_last_at": moment(summary.bulk_last_at),
            "warnings": list(summary.warnings),
            "event_names": None if summary.event_names is None else list(summary.event_names),
        }
    )


def summary_from_json(text: str, source: str) -> SetAsideSummary:
    """Return the summary :func:`summary_to_json` wrote, named after ``source``."""
    data = json.loads(text)

    def moment(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    names = data["event_names"]
    return SetAsideSummary(
        source,
        int(data["rows_read"]),
        int(data["rows_kept"]),
        {k: (int(c), tuple(int(r) for r in rows)) for k, (c, rows) in data["by_reason"].items()},
        moment(data["first_at"]),
        moment(data["last_at"]),
        encoding=data["encoding"],
        bulk_first_at=moment(data["bulk_first_at"]),
        bulk_last_at=moment(data["bulk_last_at"]),
        warnings=tuple(data["warnings"]),
        event_names=None if names is None else tuple(names),
    )
