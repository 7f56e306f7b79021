"""The result objects of the conversion analyses, with their tables and displays.

:class:`FunnelResult` (with its :class:`TimeToConvert`) of
:func:`funnelkit.conversion.funnel`, :class:`ConversionTrend` of
:func:`funnelkit.conversion.conversion_over_time`, :class:`PeriodComparison`
of :func:`funnelkit.conversion.compare_periods` and :class:`CohortTable` of
:func:`funnelkit.conversion.cohorts`: frozen dataclasses holding small polars
tables, each with ``to_polars()``, a JSON-ready ``to_dict()`` and a notebook
display (``_repr_html_``); a funnel also prints as plain text (``to_text()``).
The analyses build them and :mod:`funnelkit.conversion` re-exports them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from funnelkit.aggregate import STEP_COLUMNS as _STEP_COLUMNS
from funnelkit.durations import format_duration
from funnelkit.reprs import brief_repr
from funnelkit.steps import Order, StageSteps

__all__ = [
    "CohortTable",
    "ConversionTrend",
    "FunnelResult",
    "PeriodComparison",
    "TimeToConvert",
]


def _pct(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.1%}"  # type: ignore[arg-type]


def _count(value: object) -> str:
    return "" if value is None else f"{int(value):,}"  # type: ignore[call-overload]


def _dur(value: object) -> str:
    if not isinstance(value, timedelta):
        return ""
    return _human(value)


def _human(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _html(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    cap = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return (
        f"<table class='funnelkit'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _text(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _share(rate: object, successes: object, trials: object) -> str:
    return f"{_pct(rate)} ({_count(successes)}/{_count(trials)})"


def _interval(low: object, high: object) -> str:
    if low is None or high is None:
        return ""
    return f"{_pct(low)}–{_pct(high)}"


def _json_value(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _records(df: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in row.items()} for row in df.iter_rows(named=True)]


_STEP_HEADERS = (
    "step",
    "name",
    "contacts",
    "from previous",
    "95% CI",
    "from first",
    "95% CI",
    "drop-off",
)


def _step_cells(row: Mapping[str, Any]) -> list[str]:
    return [
        str(row["step"]),
        str(row["name"]),
        _count(row["count"]),
        _pct(row["conversion_from_previous"]),
        _interval(row["previous_ci_low"], row["previous_ci_high"]),
        _pct(row["conversion_from_first"]),
        _interval(row["ci_low"], row["ci_high"]),
        _count(row["drop_off"]),
    ]


@dataclass(frozen=True)
class TimeToConvert:
    """How long the counted chains took, per transition between steps.

    Attributes
    ----------
    summary
        One row per transition: ``from_step``, ``to_step``, ``from_name``,
        ``to_name``, ``contacts`` (contacts that made it), ``median``, ``p90``
        and ``mean`` (durations; null without contacts).  Consecutive steps,
        then first to last when the funnel has three steps or more.  With
        ``order="any"`` only the first-to-last row is given: the span of the
        counted set.
    histogram
        ``from_step``, ``to_step``, ``bin``, ``bin_start``, ``bin_end``,
        ``contacts``: bins of ``bin_width`` covering the window (the last
        one closed).
    bin_width
        Width of the histogram bins, a round duration giving at most 20 bins.
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    summary: pl.DataFrame
    histogram: pl.DataFrame
    bin_width: timedelta

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`summary`."""
        return self.summary

    def to_dict(self) -> list[dict[str, Any]]:
        """Return the summary as JSON-ready rows (durations in seconds, plus the histogram)."""
        out = []
        for row in _records(self.summary):
            hist = self.histogram.filter(
                (pl.col("from_step") == row["from_step"]) & (pl.col("to_step") == row["to_step"])
            )
            row = {
                **{k: v for k, v in row.items() if k not in ("median", "p90", "mean")},
                "median_seconds": row["median"],
                "p90_seconds": row["p90"],
                "mean_seconds": row["mean"],
                "histogram": {
                    "bin_width_seconds": self.bin_width.total_seconds(),
                    "contacts": hist["contacts"].to_list(),
                },
            }
            out.append(row)
        return out

    def _rows(self) -> list[list[str]]:
        return [
            [
                f"{r['from_step']} → {r['to_step']}",
                f"{r['from_name']} → {r['to_name']}",
                _count(r["contacts"]),
                _dur(r["median"]),
                _dur(r["p90"]),
            ]
            for r in self.summary.iter_rows(named=True)
        ]

    def _repr_html_(self) -> str:
        return _html(
            ("steps", "names", "contacts", "median", "p90"), self._rows(), "Time to convert"
        )


@dataclass(frozen=True)
class FunnelResult:
    """Counts, rates and intervals of a funnel; see :func:`~funnelkit.conversion.funnel`.

    Attributes
    ----------
    table
        One row per step, all contacts: ``step``, ``name``, ``count``,
        ``conversion_from_previous``, ``conversion_from_first``, ``ci_low`` and
        ``ci_high`` (Wilson 95% interval of ``conversion_from_first``),
        ``previous_ci_low`` and ``previous_ci_high`` (of
        ``conversion_from_previous``), ``drop_off`` (contacts lost since the
        previous step) and ``drop_off_rate``.  Step 1 has no "previous" figures.
    step_names
        The step names, in order.
    window, order, first_entry
        The rules used.
    excluded
        Contacts removed by exclusions (not in the counts).
    time_to_convert
        Durations of the counted chains (all contacts, not per segment).
    by
        The breakdown column, if any.
    breakdown
        With ``by``: ``segment``, ``suppressed``, ``excluded`` and the columns
        of :attr:`table`, one row per segment and step; segments ordered by
        entrants, the tail beyond ``top`` grouped as ``"Other"``, a missing
        value shown as ``"(none)"``.  Suppressed segments (fewer entrants than
        ``min_size``) keep their counts but show no rate nor interval.
    stage_steps
        How stage steps were read: ``"evidence"`` or ``"entry"`` (shown in
        the title as "stages by evidence" when not by entry).
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    table: pl.DataFrame
    step_names: tuple[str, ...]
    window: timedelta
    order: Order
    first_entry: bool
    excluded: int
    time_to_convert: TimeToConvert
    by: str | None = None
    breakdown: pl.DataFrame | None = None
    stage_steps: StageSteps = "entry"

    def to_polars(self) -> pl.DataFrame:
        """Return the breakdown table with ``by``, else the step table."""
        return self.breakdown if self.breakdown is not None else self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary.

        ``{"steps": [{"step", "name", "count", "conversion_from_previous",
        "conversion_from_first", "ci_low", "ci_high", ...}], "window",
        "order", "first_entry", "stage_steps", "excluded", "time_to_convert"}``, plus, with
        ``by``, ``"by"`` and ``"segments": [{"value", "entrants", "excluded",
        "suppressed", "steps": [...]}]``.
        """
        out: dict[str, Any] = {
            "steps": _records(self.table),
            "window": format_duration(self.window),
            "window_seconds": self.window.total_seconds(),
            "order": self.order,
            "first_entry": self.first_entry,
            "stage_steps": self.stage_steps,
            "excluded": self.excluded,
            "time_to_convert": self.time_to_convert.to_dict(),
        }
        if self.breakdown is not None:
            segments = []
            for (value,), part in self.breakdown.group_by("segment", maintain_order=True):
                first = part.row(0, named=True)
                segments.append(
                    {
                        "value": value,
                        "entrants": first["count"],
                        "excluded": first["excluded"],
                        "suppressed": first["suppressed"],
                        "steps": _records(part.select(_STEP_COLUMNS)),
                    }
                )
            out["by"] = self.by
            out["segments"] = segments
        return out

    def _title(self) -> str:
        entry = ", first entry only" if self.first_entry else ""
        stages = ", stages by evidence" if self.stage_steps == "evidence" else ""
        excluded = f", {self.excluded:,} excluded" if self.excluded else ""
        return (
            f"Funnel {' → '.join(self.step_names)} (window {format_duration(self.window)}, "
            f"{self.order}{entry}{stages}{excluded})"
        )

    def to_text(self) -> str:
        """Return the funnel as a plain-text table (what the command line prints)."""
        right = (True, False, True, True, True, True, True, True)
        parts = [
            self._title(),
            "",
            _text(_STEP_HEADERS, [_step_cells(r) for r in self.table.iter_rows(named=True)], right),
        ]
        if self.breakdown is not None:
            rows = []
            for r in self.breakdown.iter_rows(named=True):
                flag = " (suppressed)" if r["suppressed"] and r["step"] == 1 else ""
                rows.append([f"{r['segment']}{flag}", *_step_cells(r)])
            parts += [
                "",
                f"By {self.by}:",
                _text((str(self.by), *_STEP_HEADERS), rows, (False, *right)),
            ]
        ttc = self.time_to_convert
        if ttc.summary.height:
            parts += [
                "",
                "Time to convert:",
                _text(
                    ("steps", "names", "contacts", "median", "p90"),
                    ttc._rows(),
                    (False, False, True, True, True),
                ),
            ]
        return "\n".join(parts)

    def __str__(self) -> str:
        """``print(result)`` shows the table of :meth:`to_text`, not every field."""
        return self.to_text()

    def _repr_html_(self) -> str:
        rows = [_step_cells(r) for r in self.table.iter_rows(named=True)]
        out = _html(_STEP_HEADERS, rows, self._title())
        if self.breakdown is not None:
            seg_rows = []
            for r in self.breakdown.iter_rows(named=True):
                flag = " (suppressed)" if r["suppressed"] and r["step"] == 1 else ""
                seg_rows.append([f"{r['segment']}{flag}", *_step_cells(r)])
            out += _html((str(self.by), *_STEP_HEADERS), seg_rows, f"By {self.by}")
        if self.time_to_convert.summary.height:
            out += self.time_to_convert._repr_html_()
        return f"<div>{out}</div>"


@dataclass(frozen=True)
class ConversionTrend:
    """Funnel rates per entry period; see :func:`~funnelkit.conversion.conversion_over_time`.

    Attributes
    ----------
    table
        One row per period and step: ``period_start``, ``period_end`` (UTC,
        end excluded), ``complete``, ``excluded`` and the columns of
        :attr:`FunnelResult.table`.  Every period between the first and the
        last entry is present (zero counts included).
    period
        ``"day"``, ``"week"`` (ISO, from Monday) or ``"month"``.
    window
        The conversion window.
    as_of
        The moment data is known up to; a period is ``complete`` when
        ``period_end + window <= as_of``.
    step_names
        The step names, in order.
    stage_steps
        How stage steps were read: ``"evidence"`` or ``"entry"``.
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    table: pl.DataFrame
    period: str
    window: timedelta
    as_of: datetime | None
    step_names: tuple[str, ...]
    stage_steps: StageSteps = "entry"

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary.

        ``{"period", "window", "as_of", "stage_steps", "rows": [...]}``.
        """
        return {
            "period": self.period,
            "window": format_duration(self.window),
            "as_of": _json_value(self.as_of),
            "stage_steps": self.stage_steps,
            "rows": _records(self.table),
        }

    def _repr_html_(self) -> str:
        n = len(self.step_names)
        headers = ["period", "entrants", *(f"→ {name}" for name in self.step_names[1:]), ""]
        rows = []
        for (start,), part in self.table.group_by("period_start", maintain_order=True):
            cells = part.sort("step")
            first = cells.row(0, named=True)
            rates = [_pct(cells["conversion_from_first"][k]) for k in range(1, n)]
            note = "" if first["complete"] else "incomplete: window still open"
            rows.append([f"{start:%Y-%m-%d}", _count(first["count"]), *rates, note])
        stages = ", stages by evidence" if self.stage_steps == "evidence" else ""
        caption = (
            f"Conversion from first step by {self.period} of entry "
            f"(window {format_duration(self.window)}{stages})"
        )
        return _html(headers, rows, caption)


@dataclass(frozen=True)
class PeriodComparison:
    """Each rate of the funnel, current period against the previous one.

    Attributes
    ----------
    table
        One row per step (from step 2) and rate (``"from_previous"``,
        ``"from_first"``): ``step``, ``name``, ``rate``,
        ``previous_successes``, ``previous_trials``, ``previous_rate``,
        ``current_successes``, ``current_trials``, ``current_rate``,
        ``change`` (absolute, in rate points), ``relative_change``,
        ``p_value`` (pooled two-proportion z-test, two-sided) and
        ``verdict``: ``"increase"``, ``"decrease"``, ``"within noise"`` or
        ``"too few"`` (no verdict: a side has fewer than 30 trials or fewer
        than 5 successes or failures).
    period
        ``"day"``, ``"week"`` or ``"month"``.
    previous_start, current_start
        Start of the two periods compared (UTC).
    current_complete
        Whether the current period's window had closed by ``as_of``.
    alpha
        Significance level of the verdicts.
    stage_steps
        How stage steps were read: ``"evidence"`` or ``"entry"``.
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    table: pl.DataFrame
    period: str
    previous_start: datetime
    current_start: datetime
    current_complete: bool
    alpha: float
    stage_steps: StageSteps = "entry"

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "period": self.period,
            "previous_start": _json_value(self.previous_start),
            "current_start": _json_value(self.current_start),
            "current_complete": self.current_complete,
            "alpha": self.alpha,
            "stage_steps": self.stage_steps,
            "rows": _records(self.table),
        }

    def _repr_html_(self) -> str:
        rows = [
            [
                f"{r['step']} {r['name']}",
                r["rate"].replace("_", " "),
                _share(r["previous_rate"], r["previous_successes"], r["previous_trials"]),
                _share(r["current_rate"], r["current_successes"], r["current_trials"]),
                "" if r["change"] is None else f"{100 * r['change']:+.1f} pts",
                "" if r["p_value"] is None else f"{r['p_value']:.3f}",
                str(r["verdict"]),
            ]
            for r in self.table.iter_rows(named=True)
        ]
        note = "" if self.current_complete else " (current period incomplete)"
        stages = " (stages by evidence)" if self.stage_steps == "evidence" else ""
        caption = (
            f"{self.period.capitalize()} of {self.current_start:%Y-%m-%d} vs "
            f"{self.previous_start:%Y-%m-%d}{stages}{note}"
        )
        headers = ("step", "rate", "previous", "current", "change", "p-value", "verdict")
        return _html(headers, rows, caption)


@dataclass(frozen=True)
class CohortTable:
    """Share of each acquisition cohort reaching a target, by days since acquisition.

    Attributes
    ----------
    table
        Tidy, one row per cohort and day (while anyone of the cohort is still
        observed): ``cohort_start``, ``cohort_size``, ``day``, ``at_risk``
        (contacts observed that long and not converted before that day),
        ``converted`` (converting that day), ``cumulative_converted``,
        ``observed_share`` (``cumulative_converted / cohort_size``, a lower
        bound) and ``share``, the Kaplan-Meier estimate of the share
        converted by the end of that day, which accounts for contacts not yet
        observed that long.
    target
        Name of the target step.
    period, acquisition, horizon, as_of, stage_steps
        The options used.
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    table: pl.DataFrame
    target: str
    period: str
    acquisition: str
    horizon: timedelta
    as_of: datetime | None
    stage_steps: StageSteps = "entry"

    def to_polars(self) -> pl.DataFrame:
        """Return :attr:`table`."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "target": self.target,
            "period": self.period,
            "acquisition": self.acquisition,
            "horizon_days": self.horizon.days,
            "as_of": _json_value(self.as_of),
            "stage_steps": self.stage_steps,
            "rows": _records(self.table),
        }

    def _repr_html_(self) -> str:
        marks = [d for d in (0, 7, 14, 30, 60, 90, 180, 365) if d <= self.horizon.days]
        rows = []
        for (start,), part in self.table.group_by("cohort_start", maintain_order=True):
            share = dict(zip(part["day"].to_list(), part["share"].to_list(), strict=True))
            size = part["cohort_size"][0]
            rows.append([f"{start:%Y-%m-%d}", _count(size), *(_pct(share.get(d)) for d in marks)])
        stages = ", stages by evidence" if self.stage_steps == "evidence" else ""
        caption = (
            f"Share reaching {self.target} by days since acquisition "
            f"({self.acquisition.replace('_', ' ')}, by {self.period}{stages})"
        )
        return _html(["cohort", "contacts", *(f"day {d}" for d in marks)], rows, caption)
