"""The weekly report: parameters, papermill run, HTML export, atomic write.

``funnelkit report`` (and :func:`render_report`) executes the template
notebook ``notebooks/weekly_report.ipynb`` with papermill, once per ISO week,
and writes ``OUT/<week>/report.ipynb``, ``report.html`` (no code, plotly
embedded once) and ``metrics.json`` (:meth:`funnelkit.weekly.WeeklyMetrics.to_json`),
plus ``OUT/index.html``.  Parameters are checked before any kernel starts
(:func:`prepare_report`); a week is swapped into place whole, only what the
kit wrote is ever replaced, and a failed week leaves the previous report as it
was and raises :class:`~funnelkit.errors.ReportError` naming the failing cell.

The output folder's bookkeeping (manifests, the atomic swap, clean-up, the
index) is in :mod:`funnelkit.report_folder`; the helpers the template calls
for display (:func:`setup_notebook`, :func:`section`, :func:`html_table`,
:func:`warnings_html`...), and all the report's texts, in
:mod:`funnelkit.report_display`.  Both are importable from here too.

What the report guarantees ("Safe to schedule") is on the concept page
``docs/concepts/weekly-report.md`` of the documentation (``make docs``);
every key of ``metrics.json``, with its JSON Schema, in
``docs/reference/metrics-json.md``.
"""

from __future__ import annotations

import ast
import datetime as dt
import glob
import json
import os
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
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
from funnelkit.holding import keeps_receipt
from funnelkit.privacy import check_breakdown, judge_column
from funnelkit.report_contacts import FOLLOW_UP_DIR, FOLLOW_UP_MARK, contacts_table, write_follow_up
from funnelkit.report_display import (
    LANGS,
    definition_table,
    headline_html,
    html_table,
    lazy_module,
    quality_table,
    section,
    section_html,
    section_text,
    setup_notebook,
    time_to_convert_histogram,
    time_to_convert_html,
    title,
    warning_text,
    warnings_html,
)
from funnelkit.report_drivers import drivers_html, drivers_section
from funnelkit.report_folder import FAILED_DIR as FAILED_DIR
from funnelkit.report_folder import HTML_FILE as HTML_FILE
from funnelkit.report_folder import INDEX_FILE as INDEX_FILE
from funnelkit.report_folder import KEEP_FAILED as KEEP_FAILED
from funnelkit.report_folder import METRICS_FILE as METRICS_FILE
from funnelkit.report_folder import NOTEBOOK_FILE as NOTEBOOK_FILE
from funnelkit.report_folder import ROOT_MANIFEST as ROOT_MANIFEST
from funnelkit.report_folder import STALE_AFTER as STALE_AFTER
from funnelkit.report_folder import WEEK_FILES as WEEK_FILES
from funnelkit.report_folder import WEEK_MANIFEST as WEEK_MANIFEST
from funnelkit.report_folder import WORK_MARKER as WORK_MARKER
from funnelkit.report_folder import (
    WRITE_ERRORS,
    check_index,
    check_out_dir,
    check_week_folder,
    folder_lock,
    move_into_place,
    read_metrics,
    set_aside_failed,
    tidy_out_dir,
    write_error,
    write_index,
    write_week_manifest,
)
from funnelkit.report_folder import Log as Log
from funnelkit.report_html import export_html, one_line
from funnelkit.weekly import (
    MAX_YEAR,
    MIN_YEAR,
    IsoWeek,
    complete_week_before,
    last_complete_week,
    parse_week,
    week_range,
)

__all__ = [
    "FOLLOW_UP_DIR",
    "FOLLOW_UP_MARK",
    "LANGS",
    "RenderedWeek",
    "ReportRun",
    "ReportSettings",
    "check_out_dir",
    "contact_options",
    "event_options",
    "contacts_table",
    "default_notebook",
    "definition_table",
    "drivers_html",
    "drivers_section",
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
    "write_follow_up",
    "write_index",
]

KERNEL_NAME = "python3"
#: Longest conversion window a report takes, in days (ten years).
MAX_WINDOW_DAYS = 3650

#: Notebook parameters set by their own option rather than ``-p NAME VALUE``.
_DEDICATED = {
    "week": "--week (or --from/--to)",
    "events": "--events",
    "contacts": "--contacts",
    "funnel": "--funnel",
    "breakdown": "--breakdown",
    "read_options": (
        "--columns, --contact-columns, --timezone, --timestamp-format, --strict and --hold"
    ),
    "metrics_path": "--out",
    "follow_up_path": "--out",
}


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
        parameters = {**self.parameters, "week": str(week), "metrics_path": METRICS_FILE}
        if "follow_up_path" in _notebook_defaults(self.notebook):
            # Outside the week's folder, which is shared: OUT/follow-up/<week>.csv
            follow_up = self.out_dir / FOLLOW_UP_DIR / f"{week}.csv"
            parameters["follow_up_path"] = str(follow_up)
        return parameters


@dataclass(frozen=True)
class RenderedWeek:
    """The files of one rendered week."""

    week: str
    folder: Path

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """The ``warnings`` of the week's ``metrics.json`` (``[]`` when it holds none)."""
        found = read_metrics(self.folder).get("warnings")
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

    Returns
    -------
    Path

    Raises
    ------
    ReportError
        Neither exists (pass ``notebook=`` / ``--notebook``).

    Examples
    --------
    >>> default_notebook().name
    'weekly_report.ipynb'

    See the concept page: docs/concepts/weekly-report.md
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
    nbformat = lazy_module("nbformat")
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


#: How the pre-check holds the events for each ``hold`` read option: a fresh
#: validated cache on disk, which the kernel reads instead of validating again.
_PRECHECK_HOLD = {"auto": "disk", "memory": "disk"}


def _precheck_hold(path: Path, hold: str) -> str:
    """Return how the pre-check reads ``path``, so that the kernel does not validate it again.

    One Parquet file is read as the kernel will (``"auto"``: into memory when
    it fits), leaving a receipt the kernel's reading takes its rows by
    (:func:`funnelkit.events.read_events`): the validation without writing a
    copy (at 10M events, 1.6 CPU s to write and 0.4 to read back).  Other
    sources get a validated copy on disk (:data:`_PRECHECK_HOLD`); which
    sources leave a receipt is :func:`funnelkit.holding.keeps_receipt`.
    """
    if hold in ("auto", "memory") and keeps_receipt(path):
        return hold
    return _PRECHECK_HOLD.get(hold, hold)


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

    The events (and contacts) are read and validated once here, so a bad
    file or option fails in a second, not after a notebook started.

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
        ``timezone``, ``timestamp_format``, ``strict``), and
        ``contact_columns`` (the ``columns`` of the contacts table; see
        :func:`event_options` and :func:`contact_options`).
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
    >>> import tempfile, pathlib
    >>> from funnelkit.sample import write_sample
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> files = write_sample(folder / "data", n_contacts=200)
    >>> settings = prepare_report(events=files.events, out_dir=folder, log=lambda line: None)
    >>> [str(week) for week in settings.weeks]
    ['2026-W47']

    See the concept page: docs/concepts/weekly-report.md
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
        # Validated once, into funnelkit's cache (funnelkit.holding: a receipt of a
        # Parquet file, a copy of anything else), where the kernel's read_events of
        # the same file and options finds it.
        hold = options.get("hold", "auto")
        precheck = {**event_options(options), "hold": _precheck_hold(events_path, hold)}
        log_events = read_events(events_path, **precheck)
        summary = log_events.summary()
        log_(str(summary))
        hint = timestamp_hint(log_events, summary, timestamp_format=options.get("timestamp_format"))
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
        check_week_folder(out_path / str(one))
    check_index(out_path)
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
    manager: Any = lazy_module("jupyter_client.manager").AsyncKernelManager
    kernel_spec: Any = lazy_module("jupyter_client.kernelspec").KernelSpec
    spec = lazy_module("ipykernel.kernelspec").get_kernel_dict(
        python_arguments=["-Xfrozen_modules=off"]
    )

    curve = bool(lazy_module("zmq").has("curve"))

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
            f"week {week}: the notebook failed in cell [{exc.exec_count}] ({one_line(first)}): "
            f"{exc.ename}: {one_line(str(exc.evalue))}"
        )
        raise ReportError(msg) from None
    except Exception as exc:  # kernel death, timeouts, unreadable template...
        reason = f"{type(exc).__name__}: {one_line(str(exc))}"
        msg = f"week {week}: the notebook could not run ({reason})"
        raise ReportError(msg) from exc


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


def render_week(settings: ReportSettings, week: IsoWeek) -> RenderedWeek:
    """Render one week into ``settings.out_dir / <week>``, atomically.

    The week is rendered into ``.tmp-<week>-<pid>-*`` beside its target, its
    files recorded in a manifest (:data:`WEEK_MANIFEST`), and the folder then
    swapped with ``<week>`` (:func:`move_into_place`): a reader never sees
    half a week.

    Parameters
    ----------
    settings
        The checked settings (:func:`prepare_report`).
    week
        One of ``settings.weeks``.

    Returns
    -------
    RenderedWeek
        The folder, its notebook, HTML and ``metrics.json``, and the warnings.

    Raises
    ------
    ParameterError
        ``<week>`` holds files funnelkit did not write (nothing is rendered).
    ReportError
        The notebook failed (the message names the cell and its error), wrote no
        ``metrics.json``, the HTML could not be exported, or the output folder
        cannot be written (disk full...).  The previous ``<week>`` folder is
        untouched and the executed notebook is kept under ``.failed/``.

    Examples
    --------
    A folder holding files of someone else's is never replaced:

    >>> import tempfile, pathlib
    >>> from funnelkit.sample import write_sample
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> files = write_sample(folder / "data", n_contacts=200)
    >>> settings = prepare_report(events=files.events, out_dir=folder, log=lambda line: None)
    >>> (folder / "2026-W47").mkdir()
    >>> _ = (folder / "2026-W47" / "mine.txt").write_text("notes")
    >>> render_week(settings, settings.weeks[0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funnelkit.errors.ParameterError: --out: ... was not written by funnelkit, ...

    See the concept page: docs/concepts/weekly-report.md
    """
    out = settings.out_dir
    target = out / str(week)
    check_week_folder(target)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{week}-{os.getpid()}-", dir=out))
    except OSError as exc:
        raise ReportError(write_error(out, exc)) from exc
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the report folder is not
        (tmp / WORK_MARKER).write_text(
            json.dumps({"pid": os.getpid(), "week": str(week)}) + "\n", encoding="utf-8"
        )
        _execute(settings, week, tmp)
        _check_metrics(tmp, week)
        export_html(tmp)
    except (ReportError, OSError) as exc:
        cause = exc.__cause__ if isinstance(exc, ReportError) else exc
        error = exc
        if isinstance(cause, OSError) and cause.errno in WRITE_ERRORS:  # say so, plainly
            error = ReportError(f"week {week}: {write_error(out, cause)}")
        elif not isinstance(exc, ReportError):
            error = ReportError(f"week {week}: {write_error(tmp, exc)}")
        previous = " (the previous report there is unchanged)" if target.exists() else ""
        try:
            kept = set_aside_failed(tmp, out, week)
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
        write_week_manifest(tmp, week)
        (tmp / WORK_MARKER).unlink()
        with folder_lock(out):  # another run may be putting this week in place too
            check_week_folder(target)  # again: the user may have added a file meanwhile
            if target.exists() and not (target / WEEK_MANIFEST).exists():
                write_week_manifest(target, week)  # adopt it, so the swapped-out copy is marked
            move_into_place(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        msg = f"{write_error(target, exc)}; the previous report there is unchanged."
        raise ReportError(msg) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RenderedWeek(str(week), target)


def _funnel_of(folder: Path) -> str | None:
    """Return the funnel name of the report in ``folder`` (``None``: no readable report)."""
    funnel = read_metrics(folder).get("funnel")
    name = funnel.get("name") if isinstance(funnel, Mapping) else None
    return name if isinstance(name, str) else None


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

    Parameters
    ----------
    events, contacts, week, first, last, out_dir
        As in :func:`prepare_report`.
    funnel, breakdown, parameters, notebook, read_options
        As in :func:`prepare_report`.
    progress
        Show a progress bar for a range of weeks.
    log
        Called with the lines saying what was read, set aside and warned of.

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
    A bad parameter stops the run before any kernel starts:

    >>> render_report(events="events.csv", week="2026-W99")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funnelkit.errors.ParameterError: --week: 2026 has 53 ISO weeks, there is no week 99 ...

    See the guide: docs/guides/schedule-the-weekly-report.md
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


def event_options(read_options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the reading options of the events: all but ``contact_columns``.

    What the report's kernel and its check give
    :func:`~funnelkit.events.read_events`; the contacts table's options are
    :func:`contact_options`.

    Parameters
    ----------
    read_options
        The report's reading options.

    Returns
    -------
    dict

    Examples
    --------
    >>> event_options({"columns": {"ts": "occurred_at"}, "contact_columns": {"uid": "contact_id"}})
    {'columns': {'ts': 'occurred_at'}}

    See the concept page: docs/concepts/data-contract.md
    """
    return {k: v for k, v in read_options.items() if k != "contact_columns"}


def contact_options(read_options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the reading options of the contacts table: ``timezone``, ``strict`` and its columns.

    ``contact_columns`` becomes the contacts' ``columns``; the events' other
    options (``columns``, ``timestamp_format``...) describe the events file
    only.

    Parameters
    ----------
    read_options
        The options given for the events.

    Returns
    -------
    dict

    Examples
    --------
    >>> contact_options({"timezone": "Europe/Paris", "columns": {"ts": "occurred_at"}})
    {'timezone': 'Europe/Paris'}
    >>> contact_options({"contact_columns": {"uid": "contact_id"}})
    {'columns': {'uid': 'contact_id'}}

    See the concept page: docs/concepts/data-contract.md
    """
    options = {k: v for k, v in read_options.items() if k in ("timezone", "strict")}
    if read_options.get("contact_columns"):
        options["columns"] = read_options["contact_columns"]
    return options
