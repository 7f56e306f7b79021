"""The weekly report: parameters, papermill run, HTML export, atomic write.

``funnelkit report`` (and :func:`render_report`) executes the template
notebook ``notebooks/weekly_report.ipynb`` with papermill, once per ISO week,
and writes for each week::

    OUT/<week>/report.ipynb    the executed notebook
    OUT/<week>/report.html     the same without code cells; plotly embedded once
    OUT/<week>/metrics.json    every headline number, the definition, row counts

plus ``OUT/index.html``, a page linking every week present in ``OUT``.

``metrics.json``
----------------
The machine-readable twin of the HTML: :meth:`funnelkit.weekly.WeeklyMetrics.to_json`,
one JSON object with sorted keys.  Shares and rates are rounded to 6 decimal
places (:data:`funnelkit.weekly.METRICS_DECIMALS`), p-values are not; a
missing number is ``null``, never ``NaN``.  Its keys:

* ``week``, ``week_start``, ``week_end``, ``as_of`` (ISO text, UTC),
  ``funnelkit_version``, ``parameters`` (``window``, ``window_days``,
  ``breakdown``, ``weeks_of_history``, ``min_segment_size``) and ``funnel``
  (``name``, ``description``, ``stages``, ``toml``: the definition used).
* ``warnings``: signs that the week's data is incomplete, ``[]`` when none;
  each is ``{"code", "value", "median_previous_weeks", "previous_weeks"}``
  with ``code`` one of ``"no_events_in_week"`` (no event in the week: usually
  a broken export) and ``"few_stage_entries_in_week"`` (entries into stages
  past the first under 10 % of the median previous week).  The report shows
  them at its top, and ``funnelkit report`` prints them on stderr; the exit
  code stays 0.
* ``headline``: one object per headline number with ``name``
  (``new_contacts``, ``reached_<stage>``, ``conversion_<stage>_to_<stage>``),
  ``kind`` (``"count"`` or ``"rate"``), ``stage``, ``to_stage``, ``value``,
  ``previous`` (``null`` when there is nothing to compare with: a count whose
  previous week lies before the first event of the data), ``change``, the
  counts behind a rate (``successes``, ``trials``, ``previous_successes``,
  ``previous_trials``), its 95 % Wilson interval (``low``, ``high``),
  ``p_value``, ``verdict``, ``noise``, ``incomplete`` and ``period`` (the
  entry week of a rate).
* ``rows`` (the data-quality counts), ``snapshot``, ``flows``, ``entries``,
  ``conversion``, ``trend``, ``week_over_week`` and ``cohorts``: the tables
  behind the report's sections.

``verdict`` is a code, the same whatever the report's language:
``"increase"``, ``"decrease"``, ``"within noise"``, ``"too few"`` or
``"no previous week"``.  The HTML shows it as a label of its language ("up",
"down", "within noise", "too few to tell", "no previous week"; "en hausse",
"en baisse"...): read verdicts from ``metrics.json``, not from the HTML.

Safe to schedule
----------------
* Parameters are checked before any kernel starts (:func:`prepare_report`):
  week format, files, funnel, breakdown column, notebook parameters.  A bad
  one raises :class:`~funnelkit.errors.ParameterError` naming it.
* A week is rendered into a temporary folder beside its target
  (``OUT/.tmp-<week>-<pid>-*``) and swapped with ``OUT/<week>`` in one step
  (``renameat2(RENAME_EXCHANGE)`` on Linux) only once the notebook ran,
  ``metrics.json`` was written and the HTML exported.
* Only what the kit wrote is replaced: each week's files are recorded in
  ``OUT/<week>/.funnelkit-week.json`` and the index in
  ``OUT/.funnelkit-reports.json``; a week folder holding other or changed
  files, or an ``index.html`` of the user's, is refused before any kernel
  starts.  Folders of an earlier funnelkit holding only the week's three files
  are adopted.  The next run removes dead runs' ``.tmp-*`` folders, puts back
  a week a killed run had set aside, and keeps the newest entries of
  ``.failed/`` (:func:`tidy_out_dir`).
* When a week fails, ``OUT/<week>`` is left as it was, the executed notebook is
  kept in ``OUT/.failed/<week>-<UTC time>/`` for debugging, and a
  :class:`~funnelkit.errors.ReportError` names the failing cell and its error
  in one line.  A range stops at the first failing week; the weeks rendered
  before it stay in place.
* The notebook runs on the Python interpreter running funnelkit (the
  ``python3`` kernel of this environment, whatever other kernel specs say).

The module also holds the few helpers the template calls for display
(:func:`setup_notebook`, :func:`section`, :func:`html_table`,
:func:`warnings_html`): headings in English or French, plotly figures
rendered with the library embedded once (no CDN), tables as plain HTML.
All the report's texts are here, in both languages.  Every HTML fragment is
built with :mod:`funnelkit.markup`, so a name, label or value from the data
or the definition is always shown as text, never run as HTML or script.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import datetime as dt
import errno
import glob
import hashlib
import importlib
import itertools
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from funnelkit import engines
from funnelkit.definitions import load_funnel
from funnelkit.errors import DataError, FunnelkitError, ParameterError, ReportError, did_you_mean
from funnelkit.events import (
    REQUIRED,
    read_contacts,
    read_events,
    require_usable,
    timestamp_hint,
)
from funnelkit.markup import Markup, escape, format_html, join_html
from funnelkit.privacy import check_breakdown, judge_column
from funnelkit.weekly import (
    FEW_STAGE_ENTRIES_IN_WEEK,
    LOW_VOLUME_SHARE,
    MAX_YEAR,
    MIN_YEAR,
    NO_EVENTS_IN_WEEK,
    NO_PREVIOUS_WEEK,
    DataWarning,
    IsoWeek,
    complete_week_before,
    last_complete_week,
    parse_week,
    week_range,
)

__all__ = [
    "LANGS",
    "RenderedWeek",
    "ReportRun",
    "ReportSettings",
    "check_out_dir",
    "contact_options",
    "contacts_table",
    "default_notebook",
    "definition_table",
    "headline_html",
    "html_table",
    "prepare_report",
    "quality_table",
    "render_report",
    "render_week",
    "section",
    "section_html",
    "section_text",
    "setup_notebook",
    "tidy_out_dir",
    "time_to_convert_histogram",
    "time_to_convert_html",
    "title",
    "warning_text",
    "warnings_html",
    "write_index",
]

LANGS = ("en", "fr")
KERNEL_NAME = "python3"
FAILED_DIR = ".failed"
NOTEBOOK_FILE = "report.ipynb"
HTML_FILE = "report.html"
METRICS_FILE = "metrics.json"
INDEX_FILE = "index.html"
#: The kit's record of what it wrote in the output folder: the weeks and index.html.
ROOT_MANIFEST = ".funnelkit-reports.json"
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
#: Longest conversion window a report takes, in days (ten years).
MAX_WINDOW_DAYS = 3650
_INDEX_TITLE = "<title>funnelkit weekly reports</title>"
_WORK_NAME = re.compile(r"^\.(tmp|old)-(\d{4}-W\d{2})-(\d+)-\w+$")
_FAILED_NAME = re.compile(r"^\d{4}-W\d{2}-(\d{8}T\d{6}\.\d{6}Z)$")

#: Notebook parameters set by their own option rather than ``-p NAME VALUE``.
_DEDICATED = {
    "week": "--week (or --from/--to)",
    "events": "--events",
    "contacts": "--contacts",
    "funnel": "--funnel",
    "breakdown": "--breakdown",
    "read_options": "--columns, --timezone, --timestamp-format and --strict",
    "metrics_path": "--out",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

Log = Callable[[str], None]


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ReportSettings:
    """Checked parameters of a report run, ready to render.

    Build it with :func:`prepare_report`; every path is absolute.

    Attributes
    ----------
    notebook
        The template notebook.
    out_dir
        Where ``<week>/`` folders and ``index.html`` go.
    weeks
        The weeks to render, in order.
    parameters
        The notebook parameters shared by every week (``week`` is added per
        week), typed: paths as absolute strings, numbers as numbers.
    """

    notebook: Path
    out_dir: Path
    weeks: tuple[IsoWeek, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def notebook_parameters(self, week: IsoWeek) -> dict[str, Any]:
        """Return the papermill parameters for ``week``."""
        return {**self.parameters, "week": str(week), "metrics_path": METRICS_FILE}


@dataclass(frozen=True)
class RenderedWeek:
    """The files of one rendered week."""

    week: str
    folder: Path

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """The ``warnings`` of the week's ``metrics.json`` (``[]`` when it holds none)."""
        found = _read_metrics(self.folder).get("warnings")
        return [w for w in found if isinstance(w, dict)] if isinstance(found, list) else []

    @property
    def notebook(self) -> Path:
        """The executed notebook."""
        return self.folder / NOTEBOOK_FILE

    @property
    def html(self) -> Path:
        """The HTML report."""
        return self.folder / HTML_FILE

    @property
    def metrics(self) -> Path:
        """The ``metrics.json`` file."""
        return self.folder / METRICS_FILE


@dataclass(frozen=True)
class ReportRun:
    """What :func:`render_report` wrote: one :class:`RenderedWeek` per week, and the index."""

    weeks: tuple[RenderedWeek, ...]
    index: Path

    def __str__(self) -> str:
        lines = [f"{w.week}: {w.html}" for w in self.weeks]
        return "\n".join([*lines, f"index: {self.index}"])


# --------------------------------------------------------------------------- parameters
def default_notebook() -> Path:
    """Return the bundled template ``weekly_report.ipynb``.

    It is looked for next to the package (``funnelkit/notebooks/``, where a
    wheel would carry it) and then in the repository layout (``notebooks/``
    beside ``funnelkit/``).

    Raises
    ------
    ReportError
        Neither exists (pass ``notebook=`` / ``--notebook``).
    """
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "notebooks" / "weekly_report.ipynb",
        here.parent / "notebooks" / "weekly_report.ipynb",
    ):
        if candidate.is_file():
            return candidate
    msg = (
        "--notebook: the template weekly_report.ipynb is not installed next to funnelkit "
        f"({here}); pass the path of a template with --notebook."
    )
    raise ReportError(msg)


def _notebook_defaults(path: Path) -> dict[str, Any]:
    """Return the template's parameters and their default values, checking the template."""
    nbformat = _module("nbformat")
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises many unrelated types
        msg = f"--notebook: {path} is not a readable notebook ({type(exc).__name__}: {exc})."
        raise ParameterError(msg) from exc
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        msg = (
            f"--notebook: {path} has {len(tagged)} cells tagged 'parameters'; a report template "
            "needs exactly one (papermill injects the values after it)."
        )
        raise ParameterError(msg)
    defaults: dict[str, Any] = {}
    try:
        tree = ast.parse(tagged[0].source)
    except SyntaxError as exc:
        msg = f"--notebook: the parameters cell of {path} is not valid Python ({exc.msg})."
        raise ParameterError(msg) from exc
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                defaults[target.id] = ast.literal_eval(value)
            except ValueError:
                defaults[target.id] = None
    return defaults


def _module(name: str) -> Any:
    """Import an untyped optional dependency lazily (kept out of the notebook's import time)."""
    return importlib.import_module(name)


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Return ``value`` (text from the command line, or a Python value) typed like ``default``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("none", "null") and not isinstance(default, bool | int | float):
        return None
    try:
        if isinstance(default, bool):
            truth = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
            return truth[text.lower()]
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except (KeyError, ValueError):
        kind = "true or false" if isinstance(default, bool) else type(default).__name__
        msg = f"-p {name}: {value!r} is not a valid value; expected {kind}."
        raise ParameterError(msg) from None
    if isinstance(default, list | dict):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            msg = f"-p {name}: {value!r} is not a Python literal like {default!r}."
            raise ParameterError(msg) from None
    return text


def _check_known(name: str, value: Any) -> None:
    """Check the values of the parameters the bundled template knows."""
    if name in ("window_days", "weeks_of_history"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            msg = f"-p {name}: expected a whole number of at least 1, got {value!r}."
            raise ParameterError(msg)
        if name == "window_days" and value > MAX_WINDOW_DAYS:
            msg = (
                f"-p {name}: {value:,} days is more than ten years; give at most "
                f"{MAX_WINDOW_DAYS:,}."
            )
            raise ParameterError(msg)
        if name == "weeks_of_history" and value > 260:
            msg = f"-p {name}: {value} weeks is more than five years; give at most 260."
            raise ParameterError(msg)
    elif name == "lang" and value not in LANGS:
        msg = f"-p lang: expected 'en' or 'fr', got {value!r}.{did_you_mean(str(value), LANGS)}"
        raise ParameterError(msg)
    elif name in ("pseudonymize", "in_memory", "allow_personal") and not isinstance(value, bool):
        msg = f"-p {name}: expected true or false, got {value!r}."
        raise ParameterError(msg)


def _existing_file(value: str | os.PathLike[str], option: str) -> Path:
    """Return ``value`` as an absolute path, checking that it exists (a glob must match)."""
    path = Path(value).expanduser()
    if path.exists():
        return path.resolve()
    if any(ch in str(path) for ch in "*?[") and glob.glob(str(path)):
        return Path(os.path.abspath(path))
    msg = f"{option}: {value} does not exist."
    if path.parent.is_dir():
        msg += did_you_mean(path.name, [p.name for p in path.parent.iterdir()])
    raise ParameterError(msg)


def _check_funnel(
    funnel: str,
    event_columns: Sequence[str],
    schema: pl.Schema | None = None,
    frame: pl.LazyFrame | None = None,
) -> str:
    """Return the funnel as the notebook should receive it (preset name or absolute path).

    The definition must load, and the columns its property filters read must be
    in the events (``amount > 0`` needs an ``amount`` column) and, when the
    events' ``schema`` is known, of a type the filter can compare.  With the
    events' ``frame``, a text column compared with numbers is checked value by
    value, as the classification will read it
    (:meth:`funnelkit.definitions.Funnel.read_numbers`): an empty column passes,
    ``n/a`` fails here, naming the value, before any kernel starts.
    """
    looks_like_path = funnel.endswith(".toml") or os.sep in funnel or "/" in funnel
    value = str(_existing_file(funnel, "--funnel")) if looks_like_path else funnel
    try:
        definition = load_funnel(value)
    except FunnelkitError as exc:
        msg = f"--funnel: {exc}"
        raise ParameterError(msg) from exc
    for stage in definition.stages:
        for condition in stage.conditions:
            for flt in condition.where:
                if flt.column not in event_columns:
                    msg = (
                        f"--funnel: stage {stage.id!r} of {definition.name!r} filters on "
                        f"{flt}, but the events have no {flt.column!r} column."
                        f"{did_you_mean(flt.column, event_columns)} Map a column of yours "
                        f"to it with --columns, or use a definition without that filter."
                    )
                    raise ParameterError(msg)
    if schema is not None:
        try:
            if frame is not None:
                schema = definition.read_numbers(frame).collect_schema()
        except DataError as exc:  # the data is at fault, not the definition
            msg = f"--events: {exc}".rstrip(".") + "."
            raise DataError(msg) from exc
        try:
            definition.check_columns(schema)
        except FunnelkitError as exc:
            msg = f"--funnel: {exc}".rstrip(".") + "."
            raise ParameterError(msg) from exc
    return value


def _check_breakdown(
    breakdown: str | None,
    columns: Sequence[str],
    *,
    explicit: bool,
    frames: Sequence[object] = (),
    allow_personal: bool = False,
) -> str | None:
    """Return the breakdown column, refusing one that is absent or personal.

    A personal column (:func:`funnelkit.privacy.judge_column`, by name and by a
    sample of its values in ``frames``) is refused unless ``allow_personal``;
    the notebook then pseudonymises its values.
    """
    if breakdown is None or breakdown.lower() in ("none", ""):
        return None
    usable = [c for c in columns if c not in (*REQUIRED, "created_at") and not judge_column(c)]
    if breakdown not in columns:
        if not explicit:
            return None  # the template's default column is not in this data: no breakdown
        msg = (
            f"--breakdown: there is no column {breakdown!r} in the events or contacts."
            f"{did_you_mean(breakdown, usable)} Columns you can break down by: "
            f"{', '.join(usable) or '(none)'}; or pass --breakdown none."
        )
        raise ParameterError(msg)
    check_breakdown(breakdown, frames, allow_personal=allow_personal, option="--breakdown")
    return breakdown


def _weeks(
    week: str | IsoWeek | None,
    first: str | IsoWeek | None,
    last: str | IsoWeek | None,
) -> list[IsoWeek] | None:
    """Return the requested weeks, or ``None`` for "the last complete week of the data"."""
    if week is not None and (first is not None or last is not None):
        msg = "--week: give either --week or --from/--to, not both."
        raise ParameterError(msg)
    if week is not None:
        return [_parse_option(week, "--week")]
    if (first is None) != (last is None):
        missing = "--to" if last is None else "--from"
        msg = f"{missing}: a range needs both --from and --to (e.g. --from 2026-W40 --to 2026-W47)."
        raise ParameterError(msg)
    if first is not None and last is not None:
        return week_range(_parse_option(first, "--from"), _parse_option(last, "--to"))
    return None


def _parse_option(value: str | IsoWeek, option: str) -> IsoWeek:
    try:
        return parse_week(value)
    except ParameterError as exc:
        msg = str(exc).replace("week:", f"{option}:", 1)
        raise ParameterError(msg) from exc


def _check_week_span(weeks: Sequence[IsoWeek], parameters: Mapping[str, Any]) -> None:
    """Check that each week, with its history and conversion window, stays within dates.

    The report reads ``weeks_of_history`` weeks and a ``window_days`` window before
    the week, and a window after it: all of them must be dates Python can hold.
    """
    history, window = parameters.get("weeks_of_history"), parameters.get("window_days")
    history = history if isinstance(history, int) and not isinstance(history, bool) else 0
    window = window if isinstance(window, int) and not isinstance(window, bool) else 0
    for week in weeks:
        try:
            week.start - dt.timedelta(weeks=history + 1, days=window)
            week.end + dt.timedelta(weeks=1, days=window)
        except OverflowError:
            option = "--week" if len(weeks) == 1 else "--from/--to"
            msg = (
                f"{option}: {week} with {history} weeks of history and a {window}-day window "
                f"runs outside the dates funnelkit handles (years {MIN_YEAR:04d} to {MAX_YEAR}); "
                "give a week nearer your data."
            )
            raise ParameterError(msg) from None


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Return ``out_dir`` as an absolute path, checking that reports can be written there.

    The folder need not exist; then its nearest existing parent must be a
    folder the kit can write in.  Nothing is created.

    Raises
    ------
    ParameterError
        ``out_dir`` is a file, or it (or its nearest existing parent) is on a
        read-only file system or not writable.
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


def prepare_report(
    *,
    events: str | os.PathLike[str],
    contacts: str | os.PathLike[str] | None = None,
    week: str | IsoWeek | None = None,
    first: str | IsoWeek | None = None,
    last: str | IsoWeek | None = None,
    out_dir: str | os.PathLike[str] = "reports",
    funnel: str | None = None,
    breakdown: str | None = None,
    parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    notebook: str | os.PathLike[str] | None = None,
    read_options: Mapping[str, Any] | None = None,
    log: Log | None = None,
) -> ReportSettings:
    """Check every parameter of a report run without starting a kernel.

    Parameters
    ----------
    events, contacts
        Paths of the event log and the optional contacts table, or tables of
        an engine (:func:`funnelkit.engines.open_source`:
        ``duckdb:///path/file.duckdb?table=events``, ``spark:analytics.events``),
        which the notebook then queries there; both on the same engine.
    week
        One ISO week (``"2026-W46"``); default: the last complete week of the data.
    first, last
        A range of weeks instead (both included).
    out_dir
        The output folder.
    funnel
        A preset name (``inbound``, ``sales``) or a TOML file; default: the
        template's.
    breakdown
        A column of the events or contacts, or ``"none"``; default: the
        template's, when the data has that column.
    parameters
        Other notebook parameters, ``{name: value}`` or ``[(name, value)]``;
        text values are typed like the template's defaults.
    notebook
        Another template (default :func:`default_notebook`).
    read_options
        Options for :func:`~funnelkit.events.read_events` (``columns``,
        ``timezone``, ``timestamp_format``, ``strict``).
    log
        Called with the lines saying what was read and set aside.

    Returns
    -------
    ReportSettings

    Raises
    ------
    ParameterError
        A parameter is unusable; the message names it.
    DataError
        The events or contacts cannot be read.

    Examples
    --------
    >>> settings = prepare_report(events="data/sample/events.csv", week="2026-W46")
    ... # doctest: +SKIP
    """
    weeks = _weeks(week, first, last)
    template = (
        _existing_file(notebook, "--notebook") if notebook is not None else default_notebook()
    )
    defaults = _notebook_defaults(template)
    given = dict(parameters.items() if isinstance(parameters, Mapping) else parameters or [])
    typed: dict[str, Any] = {}
    for name, value in given.items():
        if name in _DEDICATED:
            msg = f"-p {name}: set it with {_DEDICATED[name]} instead."
            raise ParameterError(msg)
        if name not in defaults:
            known = [n for n in defaults if n not in _DEDICATED]
            msg = (
                f"-p {name}: the notebook {template.name} has no parameter {name!r}."
                f"{did_you_mean(name, known)} Its parameters: {', '.join(known)}."
            )
            raise ParameterError(msg)
        typed[name] = _coerce(name, value, defaults[name])
    for name in defaults:
        if name not in _DEDICATED:
            typed.setdefault(name, defaults[name])
        if name in typed:
            _check_known(name, typed[name])
    if weeks is not None:
        _check_week_span(weeks, typed)
    if typed.get("pseudonymize") is True:
        from funnelkit.privacy import load_key

        load_key()  # a key too short fails here, not in the kernel after reading the events
    out_path = check_out_dir(out_dir)

    options = dict(read_options or {})
    log_ = log or (lambda line: None)
    requested = weeks
    source = _open_engine_source(events, "--events")
    people_frame: pl.LazyFrame | None = None
    if source is not None:
        events_value, contacts_value, event_columns, columns = _check_engine_sources(
            source, events, contacts, options
        )
        log_(f"events: {events_value} ({', '.join(event_columns)}), read by the engine")
        event_schema: pl.Schema | None = None  # the engine layer checks types where it runs
        frame: pl.LazyFrame | None = None
        first_at, last_at = engines.event_span(source)
        if weeks is None:
            weeks = [last_complete_week(source)]
    else:
        if contacts is not None and _open_engine_source(contacts, "--contacts") is not None:
            msg = (
                f"--contacts: {contacts} is an engine source but --events is a file; give "
                "both as files or both as tables of one engine."
            )
            raise ParameterError(msg)
        events_path = _existing_file(events, "--events")
        contacts_path = _existing_file(contacts, "--contacts") if contacts is not None else None
        log_events = read_events(events_path, **options)
        summary = log_events.summary()
        log_(str(summary))
        hint = timestamp_hint(log_events, summary)
        require_usable(summary, hint)  # the error then carries the hint
        if hint:
            log_(f"  hint: {hint}")
        schema = log_events.frame.collect_schema()
        event_schema = schema
        frame = log_events.frame
        event_columns = list(schema.names())
        columns = list(event_columns)
        if contacts_path is not None:
            table = read_contacts(contacts_path, **contact_options(options))
            log_(str(table.summary()))
            people_frame = table.frame
            columns += [c for c in table.frame.collect_schema().names() if c not in columns]
        first_at, last_at = summary.first_at, summary.last_at  # counted with the rows
        events_value = str(events_path)
        contacts_value = str(contacts_path) if contacts_path is not None else None
        if weeks is None:  # from the bulk of the events, not from a typo decades away
            weeks = [complete_week_before(summary.bulk_last_at or last_at)]
    if requested is not None:
        _check_weeks_in_data(requested, first_at, last_at)
    else:
        _check_week_span(weeks, typed)

    funnel_value = _check_funnel(
        funnel or str(defaults.get("funnel") or "inbound"), event_columns, event_schema, frame
    )
    explicit = breakdown is not None
    breakdown_value = _check_breakdown(
        breakdown if explicit else defaults.get("breakdown"),
        columns,
        explicit=explicit,
        frames=[source if source is not None else frame, people_frame],
        allow_personal=typed.get("allow_personal") is True,
    )
    shared = {
        **typed,
        "events": events_value,
        "contacts": contacts_value,
        "funnel": funnel_value,
        "breakdown": breakdown_value,
        "read_options": options,
    }
    passed = {k: v for k, v in shared.items() if k in defaults}
    for one in weeks:
        _check_week_folder(out_path / str(one))
    _check_index(out_path)
    return ReportSettings(
        notebook=template,
        out_dir=out_path,
        weeks=tuple(weeks),
        parameters=passed,
    )


def _open_engine_source(value: str | os.PathLike[str], option: str) -> Any:
    """Return :func:`funnelkit.engines.open_source` of ``value``, naming ``option`` on failure."""
    try:
        return engines.open_source(value)
    except FunnelkitError as exc:
        msg = f"{option}: {exc}"
        raise ParameterError(msg) from exc


def _absolute_source(value: str | os.PathLike[str]) -> str:
    """Return an engine source text that still works from the notebook's own folder.

    ``duckdb:relative/file.duckdb?table=t`` becomes ``duckdb:///abs/file.duckdb?table=t``;
    every other source is returned as given.
    """
    text = os.fspath(value)
    parts = urllib.parse.urlsplit(text)
    raw = urllib.parse.unquote(parts.netloc + parts.path)
    if parts.scheme.lower() != "duckdb" or not raw or raw.startswith("/"):
        return text
    path = Path(raw).expanduser().resolve()
    return f"duckdb://{urllib.parse.quote(str(path))}?{parts.query}"


def _check_engine_sources(
    source: Any,
    events: str | os.PathLike[str],
    contacts: str | os.PathLike[str] | None,
    options: Mapping[str, Any],
) -> tuple[str, str | None, list[str], list[str]]:
    """Check events (and contacts) read by an engine; return their texts and columns."""
    if options:
        msg = (
            f"--events: {', '.join('--' + o.replace('_', '-') for o in sorted(options))} only "
            "apply to files; an engine table "
            "must already have the columns contact_id, occurred_at (a timestamp) and event."
        )
        raise ParameterError(msg)
    event_columns = engines.columns(source)
    missing = [c for c in REQUIRED if c not in event_columns]
    if missing:
        msg = (
            f"--events: {events} has no column {missing[0]!r}."
            f"{did_you_mean(missing[0], event_columns)} Its columns: {', '.join(event_columns)}."
        )
        raise ParameterError(msg)
    columns = list(event_columns)
    contacts_value = None
    if contacts is not None:
        people = _open_engine_source(contacts, "--contacts")
        if people is None or engines.engine_of(people) != engines.engine_of(source):
            msg = (
                f"--contacts: {contacts} is not on the engine of --events ({events}); give "
                "the contacts as a table of the same engine."
            )
            raise ParameterError(msg)
        columns += [c for c in engines.columns(people) if c not in columns]
        contacts_value = _absolute_source(contacts)
    return _absolute_source(events), contacts_value, event_columns, columns


def _check_weeks_in_data(
    weeks: Sequence[IsoWeek], first_at: dt.datetime | None, last_at: dt.datetime | None
) -> None:
    if first_at is None or last_at is None:
        return
    for week in weeks:
        if week.start > last_at or week.end <= first_at:
            option = "--week" if len(weeks) == 1 else "--from/--to"
            sunday = week.end - dt.timedelta(days=1)
            msg = (
                f"{option}: {week} ({week.start:%Y-%m-%d} to {sunday:%Y-%m-%d}) is outside the "
                f"data, which runs from {first_at:%Y-%m-%d} to {last_at:%Y-%m-%d}; the last "
                f"complete week is {complete_week_before(last_at)}."
            )
            raise ParameterError(msg)


# --------------------------------------------------------------------------- running
def _kernel_manager_class() -> type[Any]:
    """Return a kernel manager that runs ``ipykernel`` on this very interpreter.

    The ``python3`` kernel spec found on the Jupyter path could belong to
    another environment (a user-wide one shadowing this one); the report must
    run with the funnelkit that validated its parameters.  The kernel's
    sockets are encrypted (CurveZMQ) when pyzmq supports it.
    """
    manager: Any = _module("jupyter_client.manager").AsyncKernelManager
    kernel_spec: Any = _module("jupyter_client.kernelspec").KernelSpec
    spec = _module("ipykernel.kernelspec").get_kernel_dict(
        python_arguments=["-Xfrozen_modules=off"]
    )

    curve = bool(_module("zmq").has("curve"))

    class ThisPythonKernelManager(manager):  # type: ignore[misc]
        """Start the notebook's kernel with ``sys.executable`` (encrypted when zmq can)."""

        def __init__(self, **kwargs: Any) -> None:
            if curve:
                kwargs.setdefault("transport_encryption", "auto")
            super().__init__(**kwargs)

        @property
        def kernel_spec(self) -> Any:
            return kernel_spec(**spec)

    return ThisPythonKernelManager


def _one_line(text: str, limit: int = 400) -> str:
    """Return ``text`` on one line, without terminal colours, cut at ``limit`` characters."""
    line = " ".join(_ANSI.sub("", text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _execute(settings: ReportSettings, week: IsoWeek, folder: Path) -> None:
    """Run the template for ``week`` into ``folder``; raise ReportError on a failing cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(
            str(settings.notebook),
            str(folder / NOTEBOOK_FILE),
            parameters=settings.notebook_parameters(week),
            kernel_name=KERNEL_NAME,
            progress_bar=False,
            log_output=False,
            cwd=str(folder),
            kernel_manager_class=_kernel_manager_class(),
        )
    except PapermillExecutionError as exc:
        first = next((ln for ln in str(exc.source).splitlines() if ln.strip()), "")
        msg = (
            f"week {week}: the notebook failed in cell [{exc.exec_count}] ({_one_line(first)}): "
            f"{exc.ename}: {_one_line(str(exc.evalue))}"
        )
        raise ReportError(msg) from None
    except Exception as exc:  # kernel death, timeouts, unreadable template...
        reason = f"{type(exc).__name__}: {_one_line(str(exc))}"
        msg = f"week {week}: the notebook could not run ({reason})"
        raise ReportError(msg) from exc


def _export_html(folder: Path) -> None:
    """Write ``report.html`` from the executed notebook: outputs only, no CDN script."""
    try:
        body = _html_of(folder)
    except Exception as exc:  # nbconvert and jinja raise many unrelated types
        msg = f"the HTML export failed ({type(exc).__name__}: {_one_line(str(exc))})"
        raise ReportError(msg) from exc
    (folder / HTML_FILE).write_text(body, encoding="utf-8")


def _html_of(folder: Path) -> str:
    import jinja2

    nb = _module("nbformat").read(str(folder / NOTEBOOK_FILE), as_version=4)
    nb.cells = [c for c in nb.cells if "remove-from-report" not in c.metadata.get("tags", [])]
    nb.metadata["title"] = _report_title(folder)
    lang = nb.metadata.get("papermill", {}).get("parameters", {}).get("lang", "en")
    exporter = _module("nbconvert").HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"funnelkit_report.html.j2": _TEMPLATE})],
        template_file="funnelkit_report.html.j2",
        language_code=lang if lang in LANGS else "en",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


# Blank the lab template's blocks that load require.js, MathJax and mermaid from a CDN:
# the report must open offline, and plotly.js is embedded by the first figure cell.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
  body.jp-Notebook { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem; }
  .jp-Cell { padding: 0.1rem 0; }
  table.funnelkit { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
  table.funnelkit th, table.funnelkit td {
    padding: 0.3rem 0.7rem; border-bottom: 1px solid #e0e0e0;
  }
  .jp-RenderedHTMLCommon table.funnelkit th,
  .jp-RenderedHTMLCommon table.funnelkit td { text-align: left; background: none; }
  .jp-RenderedHTMLCommon table.funnelkit th { background: #f5f5f5; }
  .jp-RenderedHTMLCommon table.funnelkit td.num { text-align: right; }
  table.funnelkit td.num { font-variant-numeric: tabular-nums; }
  table.headline tr.increase td:last-child { color: #1a7f37; font-weight: 600; }
  table.headline tr.decrease td:last-child { color: #b2182b; font-weight: 600; }
  table.headline tr.noise td:last-child { color: #6b6b6b; }
  .funnelkit-warning {
    margin: 0.5rem 0 1rem; padding: 0.6rem 0.9rem; border-left: 4px solid #b2182b;
    background: #fdecea; color: #5c0a14;
  }
</style>
{%- endblock extra_css -%}
"""


def _read_metrics(folder: Path) -> dict[str, Any]:
    """Return the ``metrics.json`` of a week's folder, ``{}`` when missing or unreadable."""
    try:
        data = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _report_title(folder: Path) -> str:
    metrics = _read_metrics(folder)
    try:
        return f"funnelkit weekly report {metrics['week']} ({metrics['funnel']['name']})"
    except (KeyError, TypeError):
        return "funnelkit weekly report"


def _check_metrics(folder: Path, week: IsoWeek) -> None:
    path = folder / METRICS_FILE
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        msg = (
            f"week {week}: the notebook ran but wrote no {METRICS_FILE}; a template must write "
            "it to the path in its metrics_path parameter."
        )
        raise ReportError(msg) from None
    except ValueError as exc:
        msg = f"week {week}: {METRICS_FILE} is not valid JSON ({exc})."
        raise ReportError(msg) from exc


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- the output folder
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


def _write_week_manifest(folder: Path, week: IsoWeek | str) -> None:
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


def _check_week_folder(folder: Path) -> None:
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


def _check_index(root: Path) -> None:
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
_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _write_error(where: Path, exc: OSError) -> str:
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

    * ``.old-<week>-*``: a week set aside by a run killed before it moved the
      new one in; it is put back when ``<week>`` is missing, removed otherwise.
    * ``.tmp-<week>-*``: a render in progress of a run that is no longer alive
      (or older than :data:`STALE_AFTER`); removed.
    * ``.failed/``: only the newest :data:`KEEP_FAILED` entries are kept.

    Only folders the kit made (holding its marker) are touched.
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


def _set_aside_failed(tmp: Path, out_dir: Path, week: IsoWeek) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = out_dir / FAILED_DIR / f"{week}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


#: Called with the name of each step of :func:`_move_into_place` once it is done
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


def _move_into_place(tmp: Path, target: Path) -> None:
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


def render_week(settings: ReportSettings, week: IsoWeek) -> RenderedWeek:
    """Render one week into ``settings.out_dir / <week>``, atomically.

    The week is rendered into ``.tmp-<week>-<pid>-*`` beside its target, its
    files recorded in a manifest (:data:`WEEK_MANIFEST`), and the folder then
    swapped with ``<week>`` (:func:`_move_into_place`).

    Raises
    ------
    ParameterError
        ``<week>`` holds files funnelkit did not write (nothing is rendered).
    ReportError
        The notebook failed (the message names the cell and its error), wrote no
        ``metrics.json``, the HTML could not be exported, or the output folder
        cannot be written (disk full...).  The previous ``<week>`` folder is
        untouched and the executed notebook is kept under ``.failed/``.
    """
    out = settings.out_dir
    target = out / str(week)
    _check_week_folder(target)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{week}-{os.getpid()}-", dir=out))
    except OSError as exc:
        raise ReportError(_write_error(out, exc)) from exc
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the report folder is not
        (tmp / WORK_MARKER).write_text(
            json.dumps({"pid": os.getpid(), "week": str(week)}) + "\n", encoding="utf-8"
        )
        _execute(settings, week, tmp)
        _check_metrics(tmp, week)
        _export_html(tmp)
    except (ReportError, OSError) as exc:
        cause = exc.__cause__ if isinstance(exc, ReportError) else exc
        error = exc
        if isinstance(cause, OSError) and cause.errno in _WRITE_ERRORS:  # say so, plainly
            error = ReportError(f"week {week}: {_write_error(out, cause)}")
        elif not isinstance(exc, ReportError):
            error = ReportError(f"week {week}: {_write_error(tmp, exc)}")
        previous = " (the previous report there is unchanged)" if target.exists() else ""
        try:
            kept = _set_aside_failed(tmp, out, week)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            where = "nothing could be kept for debugging"
        else:
            where = (
                f"the executed notebook is kept in {kept / NOTEBOOK_FILE}"
                if (kept / NOTEBOOK_FILE).exists()
                else f"what it wrote is kept in {kept}"
            )
        msg = f"{str(error).rstrip('.')}. Nothing was written to {target}{previous}; {where}."
        raise ReportError(msg) from (error.__cause__ if error is exc else exc)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _write_week_manifest(tmp, week)
        (tmp / WORK_MARKER).unlink()
        _check_week_folder(target)  # again: the user may have added a file meanwhile
        if target.exists() and not (target / WEEK_MANIFEST).exists():
            _write_week_manifest(target, week)  # adopt it, so the swapped-out copy is marked
        _move_into_place(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        msg = f"{_write_error(target, exc)}; the previous report there is unchanged."
        raise ReportError(msg) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RenderedWeek(str(week), target)


def write_index(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/index.html``, linking every week rendered there (newest first).

    Each row gives the week, its dates, the funnel definition and the headline
    counts read from that week's ``metrics.json``.  The index and the weeks the
    kit wrote are recorded in ``out_dir/.funnelkit-reports.json``.

    Raises
    ------
    ParameterError
        ``index.html`` there was not written by funnelkit, or was changed since.
    ReportError
        The folder cannot be written (the message says why: disk full...).
    """
    root = Path(out_dir)
    rows = []
    for folder in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        if not _is_week_report(folder):
            continue
        rows.append(_index_row(folder.name, _read_metrics(folder)))
    body = join_html(rows, "\n") or Markup("<tr><td colspan='4'>No report yet.</td></tr>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>funnelkit weekly reports</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 900px; margin: 2rem auto; color: #2b2b2b; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ padding: 0.4rem 0.8rem; border-bottom: 1px solid #e0e0e0; text-align: left; }}
th {{ background: #f5f5f5; }}
</style></head>
<body>
<h1>funnelkit weekly reports</h1>
<table><thead><tr><th>week</th><th>dates</th><th>funnel</th><th>headline</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
    _check_index(root)
    target = root / INDEX_FILE
    tmp = root / f".{INDEX_FILE}.tmp"
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
        raise ReportError(_write_error(target, exc)) from exc
    return target


def _funnel_of(folder: Path) -> str | None:
    """Return the funnel name of the report in ``folder`` (``None``: no readable report)."""
    funnel = _read_metrics(folder).get("funnel")
    name = funnel.get("name") if isinstance(funnel, Mapping) else None
    return name if isinstance(name, str) else None


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
        "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
        f"{urllib.parse.quote(name)}/{HTML_FILE}",
        name,
        dates,
        str(funnel_name),
        flag,
        "; ".join(parts),
    )


def render_report(
    *,
    events: str | os.PathLike[str],
    contacts: str | os.PathLike[str] | None = None,
    week: str | IsoWeek | None = None,
    first: str | IsoWeek | None = None,
    last: str | IsoWeek | None = None,
    out_dir: str | os.PathLike[str] = "reports",
    funnel: str | None = None,
    breakdown: str | None = None,
    parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    notebook: str | os.PathLike[str] | None = None,
    read_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> ReportRun:
    """Render the weekly report for one week or a range of weeks.

    Checks every parameter first (:func:`prepare_report`, same parameters),
    then renders each week with :func:`render_week` (a progress bar on stderr
    for a range when ``progress``), then refreshes ``index.html``.  The
    warnings of the weeks rendered (a week without events...) go to ``log``,
    one line each, in English; they do not make the run fail.

    Returns
    -------
    ReportRun
        The folders written and the index.

    Raises
    ------
    ParameterError
        A parameter is unusable (nothing was rendered).
    ReportError
        A week failed; earlier weeks of a range stay rendered, the index is
        refreshed, and the message says which week and cell failed.

    Examples
    --------
    >>> run = render_report(events="data/sample/events.csv", week="2026-W46")
    ... # doctest: +SKIP
    """
    settings = prepare_report(
        events=events,
        contacts=contacts,
        week=week,
        first=first,
        last=last,
        out_dir=out_dir,
        funnel=funnel,
        breakdown=breakdown,
        parameters=parameters,
        notebook=notebook,
        read_options=read_options,
        log=log,
    )
    from tqdm.auto import tqdm

    rendered: list[RenderedWeek] = []
    bar = tqdm(
        settings.weeks,
        desc="weekly report",
        unit="week",
        file=sys.stderr,
        disable=not progress or len(settings.weeks) < 2,
    )
    replaced: list[str] = []
    tidy_out_dir(settings.out_dir, log)
    failure: BaseException | None = None
    index_error: FunnelkitError | None = None
    try:
        for one in bar:
            bar.set_postfix_str(str(one))
            before = _funnel_of(settings.out_dir / str(one))
            done = render_week(settings, one)
            rendered.append(done)
            after = _funnel_of(done.folder)
            if before is not None and after is not None and before != after:
                replaced.append(
                    f"warning: {one}: replaced the report of funnel {before!r} with one of "
                    f"funnel {after!r} (one folder per week: give each funnel its own --out "
                    "to keep both)"
                )
    except BaseException as exc:
        failure = exc
        raise
    finally:
        bar.close()
        try:
            write_index(settings.out_dir)
        except FunnelkitError as exc:  # never hides the error of a failed week
            index_error = exc
        if log is not None:  # after the progress bar, which shares stderr
            for line in replaced:
                log(line)
            for done in rendered:
                for warning in done.warnings:
                    log(f"warning: {done.week}: {warning_text(warning)}")
        if index_error is not None and failure is None:
            raise index_error
    return ReportRun(tuple(rendered), settings.out_dir / INDEX_FILE)


# --------------------------------------------------------------------------- notebook side
_SECTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "title": ("Weekly funnel report: {week}", "{start} to {end}, as of {as_of} (UTC)."),
        "headline": (
            "Headline",
            "This week against the week before. A change that chance alone could explain "
            "(p \u2265 0.05) is flagged \u201cwithin noise\u201d; too few contacts, no verdict.",
        ),
        "funnel": (
            "The funnel as of the end of the week",
            "Contacts at or past each stage when the week ended: each stage holds fewer "
            "contacts than the one before it.",
        ),
        "flows": (
            "Stage flows of the week",
            "Where contacts were when the week started and where they were when it ended.",
        ),
        "stalled": (
            "Contacts to follow up",
            "Contacts at stage \u201c{stage}\u201d with no activity for the longest time: the "
            "next step is theirs to take, and they are the first to lose.",
        ),
        "trend": (
            "Conversion over the last {weeks} weeks",
            "Conversion from the first stage by week of entry, within the {window}-day window. "
            "A week whose window is still open at the end of the report week is incomplete "
            "(dashed): its rates will still rise, they are not a drop.",
        ),
        "breakdown": (
            "Breakdown by {column}",
            "Conversion from the first stage for the contacts of the last {weeks} weeks, by "
            "{column}. Segments with fewer than {min_contacts} contacts show no rate (too small "
            "to read); beyond the ten largest, segments are grouped as \u201cOther\u201d.",
        ),
        "time_to_convert": (
            "Time to convert",
            "Days from one stage to the next, for the contacts of the last {weeks} weeks who "
            "made the step within the window; the chart shows the step into \u201c{stage}\u201d.",
        ),
        "cohorts": (
            "Cohorts",
            "Share of each week's new contacts that reached \u201c{stage}\u201d, by days since "
            "their first event. Recent weeks are observed for fewer days: their curves are "
            "shorter, not lower.",
        ),
        "quality": (
            "Data quality",
            "What was read, what was set aside and why, and what the report ignored.",
        ),
        "definition": (
            "The funnel definition used: {name}",
            "Which events put a contact in which stage: what \u201clead\u201d means in this "
            "report.",
        ),
    },
    "fr": {
        "title": (
            "Rapport hebdomadaire de l'entonnoir : {week}",
            "Du {start} au {end}, état au {as_of} (UTC).",
        ),
        "headline": (
            "L'essentiel",
            "Cette semaine face à la précédente. Un écart que le hasard seul pourrait "
            "expliquer (p \u2265 0,05) est signalé « dans le bruit » ; trop peu de contacts, "
            "pas de verdict.",
        ),
        "funnel": (
            "L'entonnoir en fin de semaine",
            "Contacts ayant atteint ou dépassé chaque stade à la fin de la semaine : chaque "
            "stade compte moins de contacts que le précédent.",
        ),
        "flows": (
            "Flux entre stades de la semaine",
            "Où en étaient les contacts au début de la semaine, et où ils en sont à la fin.",
        ),
        "stalled": (
            "Contacts à relancer",
            "Contacts au stade « {stage} » sans activité depuis le plus longtemps : ce sont "
            "eux qu'on risque de perdre en premier.",
        ),
        "trend": (
            "La conversion des {weeks} dernières semaines",
            "Conversion depuis le premier stade par semaine d'entrée, dans la fenêtre de "
            "{window} jours. Une semaine dont la fenêtre est encore ouverte à la fin de la "
            "semaine du rapport est incomplète (pointillés) : ses taux vont encore monter, ce "
            "n'est pas une baisse.",
        ),
        "breakdown": (
            "Répartition par {column}",
            "Conversion depuis le premier stade des contacts des {weeks} dernières semaines, "
            "par {column}. Les segments de moins de {min_contacts} contacts n'affichent pas de "
            "taux (trop petits pour être lus) ; au-delà des dix plus grands, ils sont regroupés "
            "en « Other ».",
        ),
        "time_to_convert": (
            "Délai de conversion",
            "Jours d'un stade au suivant, pour les contacts des {weeks} dernières semaines qui "
            "ont franchi l'étape dans la fenêtre ; le graphique montre l'étape vers « {stage} ».",
        ),
        "cohorts": (
            "Cohortes",
            "Part des nouveaux contacts de chaque semaine ayant atteint « {stage} », selon les "
            "jours écoulés depuis leur premier événement. Les semaines récentes sont observées "
            "moins longtemps : leurs courbes sont plus courtes, pas plus basses.",
        ),
        "quality": (
            "Qualité des données",
            "Ce qui a été lu, ce qui a été écarté et pourquoi, et ce que le rapport a ignoré.",
        ),
        "definition": (
            "La définition de l'entonnoir utilisée : {name}",
            "Quels événements placent un contact à quel stade : ce que « lead » veut dire dans "
            "ce rapport.",
        ),
    },
}


#: Sections drawn from :mod:`funnelkit.conversion` (``stage_steps="evidence"``), not from
#: the classification: their introduction ends with :data:`_EVIDENCE`.
_EVIDENCE_SECTIONS = frozenset({"trend", "breakdown", "time_to_convert", "cohorts"})
_EVIDENCE = {
    "en": "Here a stage counts as reached at any one of the events its rules name, without the "
    "definition's thresholds (minimum count, points), so these figures can differ from the "
    "funnel at the end of the week.",
    "fr": "Ici, un stade compte comme atteint dès l'un des événements que ses règles nomment, "
    "sans les seuils de la définition (nombre minimal, points) : ces chiffres peuvent donc "
    "différer de l'entonnoir en fin de semaine.",
}


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        msg = f"lang: expected 'en' or 'fr', got {lang!r}.{did_you_mean(str(lang), LANGS)}"
        raise ParameterError(msg)
    return lang


def section_text(key: str, lang: str = "en", **values: object) -> tuple[str, str]:
    """Return the heading and the one-paragraph introduction of a report section.

    The sections computed from :mod:`funnelkit.conversion` (trend, breakdown,
    time to convert, cohorts) end their introduction by saying how they read
    a stage, which differs from the snapshot's.

    Examples
    --------
    >>> section_text("quality", "fr")[0]
    'Qualité des données'
    """
    texts = _SECTIONS[_check_lang(lang)]
    if key not in texts:
        msg = f"section: no section {key!r}.{did_you_mean(key, texts)}"
        raise ParameterError(msg)
    heading, intro = texts[key]
    if key in _EVIDENCE_SECTIONS:
        intro = f"{intro} {_EVIDENCE[lang]}"
    return heading.format(**values), intro.format(**values)


def title(metrics: Any, lang: str = "en") -> None:
    """Display the report's title: the week, its dates and the definition used."""
    last_day = metrics.week.end - dt.timedelta(days=1)
    section(
        "title",
        lang,
        level=1,
        week=f"{metrics.week} ({metrics.funnel.name})",
        start=f"{metrics.week.start:%Y-%m-%d}",
        end=f"{last_day:%Y-%m-%d}",
        as_of=f"{metrics.as_of:%Y-%m-%d %H:%M}",
    )


def section_html(key: str, lang: str = "en", *, level: int = 2, **values: object) -> Markup:
    """Return a section heading and its introduction as HTML (``<h2>`` and ``<p>``).

    The ``values`` (a definition's name, a stage's label, a column name...)
    are shown as text: HTML and Markdown in them are escaped, never rendered.

    Examples
    --------
    >>> section_html("breakdown", column="<b>", weeks=12, min_contacts=30)[:40]
    "<h2 id='breakdown'>Breakdown by &lt;b&gt;<a"
    """
    if level not in range(1, 7):
        msg = f"section: level must be 1 to 6 (a heading <h1> to <h6>), got {level!r}."
        raise ParameterError(msg)
    heading, intro = section_text(key, lang, **values)
    # the id is the section's key (a constant), so links to a section never depend on data
    return format_html(
        "<h{0} id='{1}'>{2}<a class='anchor-link' href='#{1}'>\u00b6</a></h{0}><p>{3}</p>",
        level,
        key,
        heading,
        intro,
    )


def section(key: str, lang: str = "en", *, level: int = 2, **values: object) -> None:
    """Display a section heading and its introduction in the notebook (HTML output).

    See :func:`section_html`; user texts in ``values`` are escaped.
    """
    ipd = _module("IPython.display")
    ipd.display(ipd.HTML(section_html(key, lang, level=level, **values)))


class _OfflineFigureRenderer:
    """Render plotly figures as HTML that expects ``Plotly`` already loaded on the page."""

    def __init__(self) -> None:
        # plotly renders with a shallow copy of the renderer: share one counter
        self.counter = itertools.count(1)

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        import plotly.io as pio

        number = next(self.counter)
        config = {"displaylogo": False, "responsive": True}
        div = pio.to_html(
            fig_dict,
            config=config,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=480,
            validate=False,
            div_id=f"funnelkit-figure-{number}",
        )
        spec = json.loads(pio.to_json({**fig_dict, "config": config}, validate=False))
        return {"text/html": div, "application/vnd.plotly.v1+json": spec}


def setup_notebook() -> None:
    """Embed plotly.js once and make plotly figures display through it.

    Call it once, in the first cell of a report notebook: its output holds the
    plotly library itself (a few MB, no network needed to open the report),
    and every figure displayed afterwards is a small ``<div>`` drawn by it.
    """
    import plotly.io as pio
    from plotly.io.base_renderers import MimetypeRenderer
    from plotly.offline import get_plotlyjs

    ipd = _module("IPython.display")

    class FunnelkitOffline(_OfflineFigureRenderer, MimetypeRenderer):  # type: ignore[misc]
        """``pio.renderers['funnelkit_offline']``."""

    pio.renderers["funnelkit_offline"] = FunnelkitOffline()
    pio.renderers.default = "funnelkit_offline"
    ipd.display(
        ipd.HTML(
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
            f"<script>{get_plotlyjs()}</script>"
        )
    )


def html_table(
    frame: pl.DataFrame,
    *,
    percent: Sequence[str] = (),
    digits: int = 1,
    lang: str = "en",
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Return ``frame`` as a plain HTML table for a report (an ``IPython`` HTML object).

    Parameters
    ----------
    frame
        A small table; every row is shown.
    percent
        Columns holding shares (0 to 1), shown as percentages.
    digits
        Decimals of floats and percentages.
    lang
        ``"fr"`` writes decimal commas and thin spaces between thousands.
    headers
        Column titles to show instead of the column names.
    """
    _check_lang(lang)
    titles = headers or {}

    def cell(value: Any, column: str) -> tuple[str, bool]:
        if value is None:
            return "–", False
        if isinstance(value, bool):
            words = ("yes", "no") if lang == "en" else ("oui", "non")
            return words[0] if value else words[1], False
        if isinstance(value, int | float):
            if column in percent:
                return _number(float(value), lang, percent=True), True
            text = f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"
            if lang == "fr":
                text = text.replace(",", "\u202f").replace(".", ",")
            return text, True
        if isinstance(value, dt.datetime):
            return f"{value:%Y-%m-%d %H:%M}", False
        if isinstance(value, dt.date):
            return value.isoformat(), False
        return str(value), False

    head = join_html(format_html("<th>{}</th>", titles.get(c, c)) for c in frame.columns)
    rows = []
    for row in frame.iter_rows():
        cells = []
        for value, column in zip(row, frame.columns, strict=True):
            text, numeric = cell(value, column)
            template = "<td class='num'>{}</td>" if numeric else "<td>{}</td>"
            cells.append(format_html(template, text))
        rows.append(format_html("<tr>{}</tr>", join_html(cells)))
    return _module("IPython.display").HTML(
        format_html(
            "<table class='funnelkit'><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
            head,
            join_html(rows),
        )
    )


_QUALITY = {
    "en": {
        "measure": "Measure",
        "rows": "Rows",
        "rows_read": "Event rows read",
        "rows_kept": "Event rows kept",
        "set_aside": "Set aside: {reason}",
        "duplicates": "of which exact duplicates",
        "before": "Events before the week",
        "in_week": "Events in the week",
        "after": "Events after the week's end (ignored)",
        "contacts_read": "Contact rows read",
        "contacts_kept": "Contact rows kept",
    },
    "fr": {
        "measure": "Mesure",
        "rows": "Lignes",
        "rows_read": "Lignes d'événements lues",
        "rows_kept": "Lignes d'événements gardées",
        "set_aside": "Écartées : {reason}",
        "duplicates": "dont doublons exacts",
        "before": "Événements avant la semaine",
        "in_week": "Événements de la semaine",
        "after": "Événements après la fin de la semaine (ignorés)",
        "contacts_read": "Lignes de contacts lues",
        "contacts_kept": "Lignes de contacts gardées",
    },
}


def quality_table(metrics: Any, lang: str = "en") -> Any:
    """Return the data-quality figures of a :class:`~funnelkit.weekly.WeeklyMetrics` as HTML."""
    words = _QUALITY[_check_lang(lang)]
    q = metrics.quality
    rows: list[tuple[str, int | None]] = [
        (words["rows_read"], q.rows_read),
        (words["rows_kept"], q.rows_kept),
        *((words["set_aside"].format(reason=k), v) for k, v in q.set_aside_by_reason.items()),
        (words["before"], q.events_before_week),
        (words["in_week"], q.events_in_week),
        (words["after"], q.events_after_week),
    ]
    if q.contacts_read is not None:
        rows += [
            (words["contacts_read"], q.contacts_read),
            (words["contacts_kept"], q.contacts_kept),
        ]
    frame = pl.DataFrame(rows, schema={"measure": pl.String, "rows": pl.Int64}, orient="row")
    return html_table(
        frame, lang=lang, headers={"measure": words["measure"], "rows": words["rows"]}
    )


def contact_options(read_options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the reading options that apply to the contacts too (``timezone``, ``strict``)."""
    return {k: v for k, v in read_options.items() if k in ("timezone", "strict")}


_VERDICTS = {
    "en": {
        "increase": "up",
        "decrease": "down",
        "within noise": "within noise",
        "too few": "too few to tell",
        NO_PREVIOUS_WEEK: "no previous week",
    },
    "fr": {
        "increase": "en hausse",
        "decrease": "en baisse",
        "within noise": "dans le bruit",
        "too few": "trop peu pour conclure",
        NO_PREVIOUS_WEEK: "pas de semaine précédente",
    },
}
_COLUMNS = {
    "en": ("Measure", "This week", "Previous week", "Change", "Verdict"),
    "fr": ("Mesure", "Cette semaine", "Semaine précédente", "Écart", "Verdict"),
}
_NOTES = {
    "en": {
        "incomplete": "* window still open at the week's end: the rate may still rise.",
        "rates": "Counts are the report week's. Rates are those of the contacts who entered "
        "in {period}, the latest week whose {window}-day window has closed, against the week "
        "before; in brackets, the 95% Wilson interval.",
        "evidence": "Rates count a stage as reached at any one of the events its rules name, "
        "without the definition's thresholds (minimum count, points): they can differ from the "
        "counts above and from the funnel at the end of the week.",
        "no_previous": "No previous week to compare with: the data holds no event before this "
        "week.",
        "none": "none",
        "pseudonymized": "Contact ids are pseudonymised (keyed hash); the key is not in "
        "this report.",
        "real_ids": "Contact ids are shown as they are (pseudonymize is off).",
        "none_stalled": "No contact at this stage.",
    },
    "fr": {
        "incomplete": "* fenêtre encore ouverte en fin de semaine : le taux peut encore monter.",
        "rates": "Les effectifs sont ceux de la semaine du rapport. Les taux sont ceux des "
        "contacts entrés en {period}, dernière semaine dont la fenêtre de {window} jours est "
        "close, face à la semaine précédente ; entre parenthèses, l'intervalle de Wilson à 95 %.",
        "evidence": "Les taux comptent un stade comme atteint dès l'un des événements que ses "
        "règles nomment, sans les seuils de la définition (nombre minimal, points) : ils peuvent "
        "différer des effectifs ci-dessus et de l'entonnoir en fin de semaine.",
        "no_previous": "Pas de semaine précédente à comparer : les données ne contiennent aucun "
        "événement avant cette semaine.",
        "none": "aucune",
        "pseudonymized": "Les identifiants sont pseudonymisés (hachage à clé) ; la clé ne "
        "figure pas dans ce rapport.",
        "real_ids": "Les identifiants sont affichés tels quels (pseudonymize désactivé).",
        "none_stalled": "Aucun contact à ce stade.",
    },
}


def _number(value: float | None, lang: str, *, percent: bool = False, sign: bool = False) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    if percent:
        text = f"{100 * value:+.1f}" if sign else f"{100 * value:.1f}"
        text += " pt" if sign else "%"
    elif float(value).is_integer():
        text = f"{int(value):+,}" if sign else f"{int(value):,}"
    else:
        text = f"{value:+,.1f}" if sign else f"{value:,.1f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",").replace("%", "\u202f%")
    return text


def headline_html(metrics: Any, lang: str = "en") -> Any:
    """Return the headline numbers of a :class:`~funnelkit.weekly.WeeklyMetrics` as HTML.

    One row per number: this week, the previous week, the change and the
    verdict of the test (a change inside the noise says so).  Rates show
    their 95 % Wilson interval; a rate whose window is still open is starred.
    A count whose previous week lies before the data reads "none" there, and
    a note says there is no previous week.
    """
    _check_lang(lang)
    head = join_html(format_html("<th>{}</th>", c) for c in _COLUMNS[lang])
    rows = []
    starred = False
    for kpi in metrics.headline:
        rate = kpi.kind == "rate"
        value = escape(_number(kpi.value, lang, percent=rate))
        if rate and kpi.low is not None and kpi.high is not None:
            low, high = _number(kpi.low, lang, percent=True), _number(kpi.high, lang, percent=True)
            value += format_html(" <small>({} – {})</small>", low, high)
        if kpi.incomplete:
            value += " *"
            starred = True
        verdict = _VERDICTS[lang].get(kpi.verdict, kpi.verdict)
        klass = "noise" if kpi.noise else kpi.verdict
        previous = (
            _NOTES[lang]["none"]
            if kpi.verdict == NO_PREVIOUS_WEEK
            else _number(kpi.previous, lang, percent=rate)
        )
        rows.append(
            format_html(
                "<tr class='{}'><td>{}</td><td class='num'>{}</td><td class='num'>{}</td>"
                "<td class='num'>{}</td><td>{}</td></tr>",
                klass,
                metrics.kpi_label(kpi, lang),
                value,
                previous,
                _number(kpi.change, lang, percent=rate, sign=True),
                verdict,
            )
        )
    notes = [_NOTES[lang]["incomplete"]] if starred else []
    if any(k.verdict == NO_PREVIOUS_WEEK for k in metrics.headline):
        notes.append(_NOTES[lang]["no_previous"])
    period = next((k.period for k in metrics.headline if k.kind == "rate" and k.period), None)
    if period is not None:
        notes.append(_NOTES[lang]["rates"].format(period=period, window=metrics.window.days))
        notes.append(_NOTES[lang]["evidence"])
    note = join_html(format_html("<p><small>{}</small></p>", n) for n in notes)
    return _module("IPython.display").HTML(
        format_html(
            "<table class='funnelkit headline'><thead><tr>{}</tr></thead>"
            "<tbody>{}</tbody></table>{}",
            head,
            join_html(rows),
            note,
        )
    )


_WARNINGS = {
    "en": {
        "label": "Warning",
        NO_EVENTS_IN_WEEK: "the data holds no event in this week. A week without any event "
        "usually means a broken or incomplete export: check the data before reading the report.",
        FEW_STAGE_ENTRIES_IN_WEEK: "entries into stages past the first: {value} this week, under "
        "{share} of the median of the previous {weeks} weeks ({median}). So sharp a fall usually "
        "means an incomplete export: check the data before reading the report.",
        "other": "{code}.",
    },
    "fr": {
        "label": "Attention",
        NO_EVENTS_IN_WEEK: "les données ne contiennent aucun événement cette semaine. Une semaine "
        "sans aucun événement signale le plus souvent un export cassé ou incomplet : vérifiez "
        "les données avant de lire le rapport.",
        FEW_STAGE_ENTRIES_IN_WEEK: "entrées dans les stades au-delà du premier : {value} cette "
        "semaine, moins de {share} de la médiane des {weeks} semaines précédentes ({median}). "
        "Une chute aussi forte signale le plus souvent un export incomplet : vérifiez les données "
        "avant de lire le rapport.",
        "other": "{code}.",
    },
}


def warning_text(warning: DataWarning | Mapping[str, Any], lang: str = "en") -> str:
    """Return the sentence of a data warning in ``lang`` (without its "Warning:" label).

    ``warning`` is a :class:`~funnelkit.weekly.DataWarning` or its dictionary
    (an entry of ``warnings`` in ``metrics.json``); an unknown code is shown as is.

    Examples
    --------
    >>> warning_text({"code": "no_events_in_week", "value": 0})[:39]
    'the data holds no event in this week. A'
    """
    words = _WARNINGS[_check_lang(lang)]
    data = warning.to_dict() if isinstance(warning, DataWarning) else dict(warning)
    code = str(data.get("code", ""))
    share = f"{100 * LOW_VOLUME_SHARE:g}" + ("\u202f%" if lang == "fr" else "%")
    return words.get(code, words["other"]).format(
        code=code,
        value=_number(data.get("value"), lang),
        median=_number(data.get("median_previous_weeks"), lang),
        weeks=data.get("previous_weeks"),
        share=share,
    )


def warnings_html(metrics: Any, lang: str = "en") -> Any:
    """Return the data warnings of a :class:`~funnelkit.weekly.WeeklyMetrics` as HTML.

    One highlighted line per warning, for the top of the report (``None``
    when there is none, so a notebook cell ending with it shows nothing).
    """
    label = _WARNINGS[_check_lang(lang)]["label"]
    separator = " : " if lang == "fr" else ": "
    lines = [
        format_html(
            "<p class='funnelkit-warning' role='alert'><strong>{}{}</strong>{}</p>",
            label,
            separator,
            warning_text(w, lang),
        )
        for w in metrics.warnings
    ]
    if not lines:
        return None
    return _module("IPython.display").HTML(join_html(lines))


_CONTACT_HEADERS = {
    "en": {
        "contact_id": "Contact",
        "stage": "Stage",
        "reached_at": "At this stage since",
        "last_activity_at": "Last activity",
        "idle_days": "Days without activity",
    },
    "fr": {
        "contact_id": "Contact",
        "stage": "Stade",
        "reached_at": "À ce stade depuis",
        "last_activity_at": "Dernière activité",
        "idle_days": "Jours sans activité",
    },
}


def contacts_table(
    frame: pl.DataFrame,
    *,
    pseudonymize: bool = True,
    lang: str = "en",
    funnel: Any = None,
    id_columns: Sequence[str] = ("contact_id",),
    key: bytes | None = None,
) -> Any:
    """Return a contact-level table as HTML, ids pseudonymised unless told otherwise.

    Columns that would print personal data are dropped whatever
    ``pseudonymize`` says: those :func:`funnelkit.privacy.judge_column` judges
    personal by their name (``email``, ``Courriel``, ``Nom``...) or by their
    values (e-mail addresses, phone numbers, contact ids); a note under the
    table tells how the ids are shown.

    Parameters
    ----------
    frame
        The table, e.g. :func:`funnelkit.weekly.stalled_contacts`.
    pseudonymize
        Replace the ``id_columns`` by keyed pseudonyms
        (:func:`funnelkit.privacy.pseudonymize_columns`).
    lang
        Language of the headers and the note.
    funnel
        The definition, to show stage labels instead of ids in ``stage``.
    id_columns
        The columns holding contact ids.
    key
        The pseudonymisation key (default :func:`funnelkit.privacy.load_key`).
    """
    from funnelkit.privacy import pseudonymize_columns

    _check_lang(lang)
    personal = [c for c in frame.columns if c not in id_columns and judge_column(c, frame)]
    shown = frame.drop(personal)
    ids = [c for c in id_columns if c in shown.columns]
    if pseudonymize and ids:
        shown = pseudonymize_columns(shown, ids, key=key)
    if funnel is not None and "stage" in shown.columns:
        labels = {s.id: s.label(lang) for s in funnel.stages}
        shown = shown.with_columns(pl.col("stage").replace_strict(labels, default=pl.col("stage")))
    note = _NOTES[lang]["pseudonymized" if pseudonymize else "real_ids"]
    if shown.is_empty():
        return _module("IPython.display").HTML(
            format_html("<p>{}</p>", _NOTES[lang]["none_stalled"])
        )
    # html_table built the table with format_html: its HTML is safe as it is
    table = Markup(html_table(shown, lang=lang, headers=_CONTACT_HEADERS[lang]).data)
    return _module("IPython.display").HTML(format_html("{}<p><small>{}</small></p>", table, note))


def definition_table(funnel: Any, lang: str = "en") -> pl.DataFrame:
    """Return a funnel definition as a table: ``rank``, ``stage``, ``id``, ``rule``, ``meaning``."""
    _check_lang(lang)
    headers = (
        ("rank", "stage", "id", "rule", "meaning")
        if lang == "en"
        else ("rang", "stade", "id", "règle", "sens")
    )
    rows = [
        (rank, stage.label(lang), stage.id, stage.describe(), stage.description)
        for rank, stage in enumerate(funnel.stages, start=1)
    ]
    return pl.DataFrame(rows, schema=list(headers), orient="row")


_TTC_HEADERS = {
    "en": {
        "step": "Step",
        "contacts": "Contacts",
        "median_days": "Median (days)",
        "p90_days": "90th percentile (days)",
    },
    "fr": {
        "step": "Étape",
        "contacts": "Contacts",
        "median_days": "Médiane (jours)",
        "p90_days": "90e centile (jours)",
    },
}


def time_to_convert_html(ttc: Any, lang: str = "en", *, funnel: Any = None) -> Any:
    """Return the time-to-convert summary (consecutive steps) as an HTML table in days.

    ``ttc`` is the :class:`~funnelkit.conversion.TimeToConvert` of a funnel
    result; step names are shown with the definition's labels in ``lang``.
    """
    _check_lang(lang)
    labels = [s.label(lang) for s in funnel.stages] if funnel is not None else None
    summary = ttc.summary.filter(pl.col("to_step") == pl.col("from_step") + 1)
    day = 86_400.0

    def name(step: int, fallback: str) -> str:
        return labels[step - 1] if labels and 0 < step <= len(labels) else fallback

    table = pl.DataFrame(
        [
            (
                f"{name(r['from_step'], r['from_name'])} → {name(r['to_step'], r['to_name'])}",
                r["contacts"],
                None if r["median"] is None else r["median"].total_seconds() / day,
                None if r["p90"] is None else r["p90"].total_seconds() / day,
            )
            for r in summary.iter_rows(named=True)
        ],
        schema={
            "step": pl.String,
            "contacts": pl.Int64,
            "median_days": pl.Float64,
            "p90_days": pl.Float64,
        },
        orient="row",
    )
    return html_table(table, lang=lang, headers=_TTC_HEADERS[lang])


def time_to_convert_histogram(ttc: Any, *, step: int) -> Any:
    """Return the :class:`funnelkit.figures.Histogram` of the step into ``step``.

    The same as ``funnelkit.figures.time_to_convert_table(ttc, steps=(step - 1, step))``:
    :func:`funnelkit.figures.time_to_convert_figure` draws a
    :class:`~funnelkit.conversion.TimeToConvert` itself, which is what the
    bundled template does.  Kept for templates that call it.
    """
    from funnelkit.figures import time_to_convert_table

    return time_to_convert_table(ttc, steps=(step - 1, step))
