"""The report's output folder: what the kit owns there, and replacing a week atomically.

:func:`funnelkit.report.render_week` renders a week into ``OUT/.tmp-<week>-*``
and this module puts it in place:

* Each week's files are recorded in ``OUT/<week>/.funnelkit-week.json``
  (:data:`WEEK_MANIFEST`) and the index in ``OUT/.funnelkit-reports.json``
  (:data:`ROOT_MANIFEST`); :func:`check_week_folder` and :func:`check_index`
  refuse a folder or ``index.html`` holding the user's files.
* :func:`move_into_place` swaps the new week with the old in one step
  (``renameat2(RENAME_EXCHANGE)`` on Linux).
* :func:`tidy_out_dir` clears what killed runs left (``.tmp-*``, ``.old-*``)
  and trims ``.failed/`` (:func:`set_aside_failed`).
* :func:`write_index` writes ``OUT/index.html``, one row per week.
* :func:`folder_lock` lets one run at a time put a week in place or write the
  index (``OUT/.funnelkit-lock``), so runs sharing a folder do not take each
  other's index for the user's.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from funnelkit.errors import FunnelkitError, ParameterError, ReportError
from funnelkit.markup import Markup, format_html, join_html
from funnelkit.weekly import IsoWeek, parse_week

__all__ = [
    "check_index",
    "check_out_dir",
    "check_week_folder",
    "folder_lock",
    "move_into_place",
    "read_metrics",
    "set_aside_failed",
    "tidy_out_dir",
    "write_error",
    "write_index",
    "write_week_manifest",
]

FAILED_DIR = ".failed"
NOTEBOOK_FILE = "report.ipynb"
HTML_FILE = "report.html"
METRICS_FILE = "metrics.json"
INDEX_FILE = "index.html"
#: The kit's record of what it wrote in the output folder: the weeks and index.html.
ROOT_MANIFEST = ".funnelkit-reports.json"
#: The lock runs sharing a report folder take in turn (:func:`folder_lock`).
LOCK_FILE = ".funnelkit-lock"
#: Seconds a run waits for another run's lock before giving up.
LOCK_WAIT = 600.0
#: The kit's record of the files of one week's folder, with their sizes and hashes.
WEEK_MANIFEST = ".funnelkit-week.json"
#: Marks a folder the kit is rendering into (``.tmp-*``), kept in ``.failed/`` entries.
WORK_MARKER = ".funnelkit-work.json"
#: The files a week's folder holds (besides its manifest).
WEEK_FILES = (NOTEBOOK_FILE, HTML_FILE, METRICS_FILE)
#: Entries of ``.failed/`` kept; older ones are removed by the next run.
KEEP_FAILED = 5
#: A ``.tmp-*`` or ``.old-*`` folder this old is a dead run's, whatever its process id says.
STALE_AFTER = dt.timedelta(hours=24)
_INDEX_TITLE = "<title>funnelkit weekly reports</title>"
_WORK_NAME = re.compile(r"^\.(tmp|old)-(\d{4}-W\d{2})-(\d+)-\w+$")
_FAILED_NAME = re.compile(r"^\d{4}-W\d{2}-(\d{8}T\d{6}\.\d{6}Z)$")

Log = Callable[[str], None]


def read_metrics(folder: Path) -> dict[str, Any]:
    """Return the ``metrics.json`` of a week's folder, ``{}`` when missing or unreadable."""
    try:
        data = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _file_digest(path: Path) -> dict[str, Any]:
    """Return ``{"size", "sha256"}`` of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def _read_json(path: Path) -> dict[str, Any] | None:
    """Return the JSON object in ``path``, ``None`` when missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f"{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_week_manifest(folder: Path, week: IsoWeek | str) -> None:
    """Record the files of a week's folder (sizes and hashes) in its manifest."""
    files = {
        p.name: _file_digest(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name not in (WEEK_MANIFEST, WORK_MARKER)
    }
    _write_json(
        folder / WEEK_MANIFEST,
        {"written_by": "funnelkit report", "week": str(week), "files": files},
    )


def _foreign_in_week(folder: Path) -> str | None:
    """Say why ``folder`` is not a week folder the kit may replace, ``None`` when it is.

    A folder is the kit's when its manifest lists exactly the files it holds,
    unchanged.  A folder without a manifest (written before funnelkit kept one)
    is adopted when it holds nothing but the files a week has.  A symbolic
    link, as the week or in it, is never the kit's: replacing it would drop the
    user's link (and its target's files would pass for the kit's).
    """
    if folder.is_symlink():
        return f"{folder} is a symbolic link, not a week folder funnelkit wrote"
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{folder} is a file, not a week folder funnelkit wrote"
    entries = sorted(folder.iterdir())
    manifest = _read_json(folder / WEEK_MANIFEST)
    if manifest is None:
        if (folder / WEEK_MANIFEST).exists():
            return f"{folder / WEEK_MANIFEST} is not a manifest funnelkit wrote"
        kit = (*WEEK_FILES, f"{WEEK_MANIFEST}.tmp")
        other = [p for p in entries if p.name not in kit or not p.is_file() or p.is_symlink()]
        return f"{other[0]} was not written by funnelkit" if other else None
    files = manifest.get("files")
    listed = files if isinstance(files, dict) else {}
    for entry in entries:
        if entry.name in (WEEK_MANIFEST, f"{WEEK_MANIFEST}.tmp"):  # its own, or a killed write
            continue
        if entry.name not in listed or not entry.is_file() or entry.is_symlink():
            return f"{entry} was not written by funnelkit"
        if _file_digest(entry) != listed[entry.name]:
            return f"{entry} was changed since funnelkit wrote it"
    return None


def check_week_folder(folder: Path) -> None:
    """Raise :class:`ParameterError` unless the kit may replace the week ``folder``."""
    problem = _foreign_in_week(folder)
    if problem is not None:
        msg = (
            f"--out: {problem}, and the report would replace {folder}; move your files out of "
            "it, or choose another --out."
        )
        raise ParameterError(msg)


def _root_manifest(root: Path) -> dict[str, Any]:
    """Return the output folder's manifest, ``{}`` when there is none yet."""
    return _read_json(root / ROOT_MANIFEST) or {}


def check_index(root: Path) -> None:
    """Raise :class:`ParameterError` unless ``root/index.html`` is missing or the kit's own.

    An index listed in the folder's manifest must be unchanged; without a
    manifest, an index written by an earlier funnelkit (its title tells) is adopted.
    """
    index = root / INDEX_FILE
    if not index.exists() and not index.is_symlink():
        return
    problem = None
    if not index.is_file() or index.is_symlink():
        problem = f"{index} is not a file funnelkit wrote"
    else:
        recorded = _root_manifest(root).get("index")
        if isinstance(recorded, dict):
            if _file_digest(index) != recorded:
                problem = f"{index} was changed since funnelkit wrote it"
        else:
            with index.open("rb") as handle:
                head = handle.read(4096).decode("utf-8", "replace")
            if _INDEX_TITLE not in head:
                problem = f"{index} was not written by funnelkit"
    if problem is not None:
        msg = (
            f"--out: {problem}, and the report rewrites it; move it out of {root}, "
            "or choose another --out."
        )
        raise ParameterError(msg)


#: The errors of a folder that cannot be written: full, over quota, read-only, forbidden.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def write_error(where: Path, exc: OSError) -> str:
    """Return one line saying that writing ``where`` failed, and why (disk full...)."""
    reason = exc.strerror or type(exc).__name__
    code = errno.errorcode.get(exc.errno or 0)
    return f"--out: cannot write {where}: {reason}" + (f" ({code})" if code else "")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _kit_work_folder(folder: Path) -> bool:
    """Whether ``folder`` was made by the kit (it holds the kit's marker or a week manifest)."""
    return (folder / WORK_MARKER).is_file() or (folder / WEEK_MANIFEST).is_file()


def _abandoned(folder: Path, pid: int) -> bool:
    """Whether the run that made ``folder`` is over (its process is gone, or it is stale)."""
    try:
        age = dt.datetime.now(dt.UTC).timestamp() - folder.stat().st_mtime
    except OSError:
        return False
    return not _pid_alive(pid) or age > STALE_AFTER.total_seconds()


def tidy_out_dir(out_dir: str | os.PathLike[str], log: Log | None = None) -> None:
    """Finish or clear what killed runs left in ``out_dir``, and trim ``.failed/``.

    A week set aside by a killed run is put back (or removed when a newer one
    is in place), renders of dead runs are removed, and only the newest
    failed notebooks are kept.  Only folders the kit made (holding its
    marker) are touched.

    Parameters
    ----------
    out_dir
        The report folder (nothing happens when it does not exist).
    log
        Called with a line for each thing put back or removed.

    Examples
    --------
    >>> import tempfile
    >>> tidy_out_dir(tempfile.mkdtemp())

    See the guide: docs/guides/schedule-the-weekly-report.md
    """
    root = Path(out_dir)
    say = log or (lambda line: None)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        match = _WORK_NAME.match(folder.name)
        if match is None or not folder.is_dir() or not _kit_work_folder(folder):
            continue
        kind, week, pid = match.group(1), match.group(2), int(match.group(3))
        if not _abandoned(folder, pid):
            continue
        target = root / week
        if kind == "old" and not target.exists():
            try:
                os.rename(folder, target)
            except OSError:
                continue  # tried again by the next run
            say(f"{week}: put back the report a killed run had set aside ({folder.name})")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    failed = root / FAILED_DIR
    if failed.is_dir():
        entries = []
        for entry in failed.iterdir():
            match = _FAILED_NAME.match(entry.name)
            if match is not None and entry.is_dir() and _kit_work_folder(entry):
                entries.append((match.group(1), entry))
        for _, entry in sorted(entries, reverse=True)[KEEP_FAILED:]:
            shutil.rmtree(entry, ignore_errors=True)


def set_aside_failed(tmp: Path, out_dir: Path, week: IsoWeek) -> Path:
    """Move the failed render ``tmp`` to ``out_dir/.failed/<week>-<UTC time>``; return it."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = out_dir / FAILED_DIR / f"{week}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


#: Called with the name of each step of :func:`move_into_place` once it is done
#: ("exchanged", "set aside"): lets a test kill the process at a precise point.
_after_step: Callable[[str], None] = lambda step: None  # noqa: E731
#: Exchange a week's folders in one step with ``renameat2`` (Linux) when it works.
_use_exchange = True
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); ``False`` when unsupported."""
    if not _use_exchange or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # no libc, or a glibc older than 2.28
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    paths = (os.fsencode(first), os.fsencode(second))
    if renameat2(_AT_FDCWD, paths[0], _AT_FDCWD, paths[1], _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # the file system or kernel cannot exchange: rename twice instead
    raise OSError(code, os.strerror(code), str(first), None, str(second))


@contextlib.contextmanager
def folder_lock(out_dir: Path, *, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the report folder's lock while the caller changes what it shares.

    Runs rendering into one folder (a scheduler's retry beside the next week,
    two funnels sharing ``--out``) render in parallel, each in its own
    ``.tmp-*`` folder; putting a week in place and writing ``index.html`` and
    its manifest take this lock in turn, so no run reads another's
    half-written index as a file the user changed.  The lock is an advisory
    ``flock`` on ``OUT/.funnelkit-lock`` (created once, never truncated,
    never a symbolic link), released when the run ends, even killed.  Where
    ``fcntl`` is missing (Windows) nothing is locked.

    Parameters
    ----------
    out_dir
        The report folder (it must exist).
    wait
        Seconds to wait for another run's lock.

    Returns
    -------
    Iterator[None]
        A context manager: the lock is held inside the ``with`` block.

    Raises
    ------
    ReportError
        The lock file cannot be opened (the message says why), or another run
        held the lock for more than ``wait`` seconds.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with folder_lock(folder):
    ...     (folder / LOCK_FILE).is_file()
    True

    See the guide: docs/guides/schedule-the-weekly-report.md
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux nor macOS
        yield
        return
    path = out_dir / LOCK_FILE
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise ReportError(write_error(path, exc)) from exc
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    msg = (
                        f"--out: another funnelkit report run has held {out_dir} for over "
                        f"{wait:.0f} s; wait for it to end, or give this run another --out."
                    )
                    raise ReportError(msg) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def move_into_place(tmp: Path, target: Path) -> None:
    """Replace the folder ``target`` by ``tmp``, with no moment where ``target`` is missing.

    On Linux the two folders are exchanged in one ``renameat2(RENAME_EXCHANGE)``
    and the old one (now at ``tmp``) removed.  Elsewhere ``target`` is first
    renamed ``.old-<week>-<pid>-*``; a run killed before the second rename leaves
    it there, and the next run puts it back (:func:`tidy_out_dir`).
    """
    if not target.exists():
        os.rename(tmp, target)
        return
    if _exchange(tmp, target):
        _after_step("exchanged")
        shutil.rmtree(tmp, ignore_errors=True)  # the previous week, now at tmp
        return
    old = target.parent / f".old-{target.name}-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(target, old)
    _after_step("set aside")
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_index(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/index.html``, linking every week rendered there (newest first).

    Each row gives the week, its dates, the funnel definition and the headline
    counts read from that week's ``metrics.json``.  The index and the weeks the
    kit wrote are recorded in ``out_dir/.funnelkit-reports.json``.

    Parameters
    ----------
    out_dir
        The report folder, which must exist.

    Returns
    -------
    Path
        The index written.

    Raises
    ------
    ParameterError
        ``index.html`` there was not written by funnelkit, or was changed since.
    ReportError
        The folder cannot be written (the message says why: disk full...).

    Examples
    --------
    >>> import tempfile
    >>> write_index(tempfile.mkdtemp()).name
    'index.html'

    See the guide: docs/guides/schedule-the-weekly-report.md
    """
    root = Path(out_dir)
    rows = []
    for folder in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        if not _is_week_report(folder):
            continue
        rows.append(_index_row(folder.name, read_metrics(folder)))
    body = join_html(rows, "\n") or Markup("<tr><td colspan='4'>No report yet.</td></tr>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>funnelkit weekly reports</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 900px; margin: 2rem auto; color: #2b2b2b; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ padding: 0.4rem 0.8rem; border-bottom: 1px solid #e0e0e0; text-align: left; }}
th {{ background: #f5f5f5; }}
td.week, td.dates {{ white-space: nowrap; }}
</style></head>
<body>
<h1>funnelkit weekly reports</h1>
<table><thead><tr><th>week</th><th>dates</th><th>funnel</th><th>headline</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
    target = root / INDEX_FILE
    tmp = root / f".{INDEX_FILE}.tmp"
    with folder_lock(root):
        check_index(root)
        try:
            tmp.write_text(page, encoding="utf-8")
            os.replace(tmp, target)
            weeks = sorted(p.name for p in root.iterdir() if (p / WEEK_MANIFEST).is_file())
            _write_json(
                root / ROOT_MANIFEST,
                {"written_by": "funnelkit report", "index": _file_digest(target), "weeks": weeks},
            )
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise ReportError(write_error(target, exc)) from exc
    return target


def _is_week_report(folder: Path) -> bool:
    """Return true when ``folder`` is a week's report the kit wrote (``2026-W46/report.html``).

    The index links only to such folders: any other name (``javascript:...``,
    a name with quotes or tags) is never written into a link.
    """
    try:
        week = parse_week(folder.name)
    except FunnelkitError:
        return False
    return str(week) == folder.name and (folder / HTML_FILE).is_file()


def _index_row(name: str, metrics: Mapping[str, Any]) -> Markup:
    dates = ""
    start, end = metrics.get("week_start"), metrics.get("week_end")
    if isinstance(start, str) and isinstance(end, str):
        last_day = dt.datetime.fromisoformat(end) - dt.timedelta(days=1)
        dates = f"{start[:10]} to {last_day:%Y-%m-%d}"
    funnel = metrics.get("funnel", {})
    funnel_name = funnel.get("name", "") if isinstance(funnel, Mapping) else ""
    headline = metrics.get("headline", [])
    parts = [
        f"{str(k.get('name', '')).replace('_', ' ')}: {k.get('value')}"
        for k in headline[:3]
        if isinstance(k, Mapping)
    ]
    warnings = metrics.get("warnings") or []
    flag = Markup()
    if isinstance(warnings, list) and warnings:
        codes = ", ".join(str(w.get("code", "")) for w in warnings if isinstance(w, Mapping))
        flag = format_html(
            "<strong class='warning' style='color:#b71c1c'>\u26a0 {} warning{} ({})</strong> ",
            len(warnings),
            "s" if len(warnings) > 1 else "",
            codes,
        )
    return format_html(
        "<tr><td class='week'><a href='{}'>{}</a></td><td class='dates'>{}</td><td>{}</td>"
        "<td>{}{}</td></tr>",
        f"{urllib.parse.quote(name)}/{HTML_FILE}",
        name,
        dates,
        str(funnel_name),
        flag,
        "; ".join(parts),
    )


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Return ``out_dir`` as an absolute path, checking that reports can be written there.

    The folder need not exist; then its nearest existing parent must be a
    folder the kit can write in.  Nothing is created.

    Parameters
    ----------
    out_dir
        The output folder.

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        ``out_dir`` is a file, or it (or its nearest existing parent) is on a
        read-only file system or not writable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_out_dir(folder / "reports") == folder / "reports"
    True

    See the guide: docs/guides/schedule-the-weekly-report.md
    """
    path = Path(out_dir).expanduser().resolve()
    if path.exists() and not path.is_dir():
        msg = f"--out: {path} is a file, not a folder; give the folder to write the reports in."
        raise ParameterError(msg)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        msg = f"--out: {existing} is a file, so {path} cannot be a folder; choose another --out."
        raise ParameterError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
        reason = "is on a read-only file system" if read_only else "is not writable by you"
        msg = f"--out: {existing} {reason}; choose another --out."
        raise ParameterError(msg)
    return path
