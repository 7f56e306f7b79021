"""The weekly report's result objects: :class:`WeeklyMetrics` and its parts.

:class:`Kpi` (a headline number against the week before), :class:`DataQuality`
(rows read, set aside and ignored), :class:`DataWarning` (a sign of incomplete
data, with the warning codes and thresholds), and :class:`WeeklyMetrics`, which
holds every number of one week's report and gives ``metrics.json``
(:meth:`WeeklyMetrics.to_dict`, rounded to :data:`METRICS_DECIMALS` places);
with them :func:`target_stage` and :func:`stalled_stage`, the stages a report
is about.  :func:`funnelkit.weekly.weekly_metrics` computes the numbers, and
the documentation of :mod:`funnelkit.weekly` says what they mean; that module
re-exports these names.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from funnelkit import __version__
from funnelkit.definitions import Funnel
from funnelkit.durations import format_duration
from funnelkit.errors import ParameterError, did_you_mean
from funnelkit.reprs import brief_repr
from funnelkit.results import CohortTable, ConversionTrend, FunnelResult, PeriodComparison
from funnelkit.stages import Flows, Snapshot
from funnelkit.weeks import IsoWeek

if TYPE_CHECKING:
    from funnelkit.drivers import DriversResult

__all__ = [
    "FEW_STAGE_ENTRIES_IN_WEEK",
    "LOW_VOLUME_MIN_MEDIAN",
    "LOW_VOLUME_MIN_WEEKS",
    "LOW_VOLUME_SHARE",
    "METRICS_DECIMALS",
    "MIN_SEGMENT",
    "NO_EVENTS_IN_WEEK",
    "NO_PREVIOUS_WEEK",
    "DataQuality",
    "DataWarning",
    "Kpi",
    "WeeklyMetrics",
    "stalled_stage",
    "target_stage",
]


#: Breakdown segments with fewer entrants show counts but no rates.
MIN_SEGMENT = 30
#: Decimal places of the fractional numbers of ``metrics.json`` (shares, rates,
#: their intervals and changes); p-values keep full precision.
METRICS_DECIMALS = 6
_FULL_PRECISION = frozenset({"p_value", "q_value"})

#: Warning code: the data holds no event in the report week.
NO_EVENTS_IN_WEEK = "no_events_in_week"
#: Warning code: far fewer stage entries past the first than in the previous weeks.
FEW_STAGE_ENTRIES_IN_WEEK = "few_stage_entries_in_week"
#: A week with fewer stage entries than this share of the previous weeks' median is flagged.
LOW_VOLUME_SHARE = 0.1
#: Previous weeks (within the data) the median needs before the low-volume check runs.
LOW_VOLUME_MIN_WEEKS = 3
#: Smallest median of stage entries the low-volume check judges (a tenth of it is one entry).
LOW_VOLUME_MIN_MEDIAN = 10
#: The verdict of a count whose previous week lies before the data.
NO_PREVIOUS_WEEK = "no previous week"

_ISO_WEEK = "%G-W%V"  # strftime of an ISO week, e.g. 2026-W46


# --------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class DataQuality:
    """What the week's report read, set aside and ignored.

    Attributes
    ----------
    source
        The events' source (a path, or ``"<frame>"``).
    rows_read, rows_kept, rows_set_aside
        Event rows read from the source, kept, and set aside.
    set_aside_by_reason
        ``{reason: rows}`` (see :mod:`funnelkit.events`); ``duplicate`` counts
        exact duplicate rows.
    events_before_week, events_in_week, events_after_week
        Kept events before the week's start, in the week, and at or after its
        end: the last ones are ignored by every figure of the report.
    contacts_read, contacts_kept
        Rows of the contacts table read and kept (``None`` without one).
    """

    source: str
    rows_read: int
    rows_kept: int
    set_aside_by_reason: Mapping[str, int]
    events_before_week: int
    events_in_week: int
    events_after_week: int
    contacts_read: int | None = None
    contacts_kept: int | None = None

    @property
    def rows_set_aside(self) -> int:
        """Rows not kept."""
        return self.rows_read - self.rows_kept

    @property
    def duplicates(self) -> int:
        """Exact duplicate rows set aside."""
        return int(self.set_aside_by_reason.get("duplicate", 0))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_set_aside": self.rows_set_aside,
            "set_aside_by_reason": dict(self.set_aside_by_reason),
            "duplicates": self.duplicates,
            "events_before_week": self.events_before_week,
            "events_in_week": self.events_in_week,
            "events_after_week_ignored": self.events_after_week,
            "contacts_read": self.contacts_read,
            "contacts_kept": self.contacts_kept,
        }

    def to_polars(self) -> pl.DataFrame:
        """Return one row per measure: ``measure``, ``rows``."""
        rows = [
            ("rows read", self.rows_read),
            ("rows kept", self.rows_kept),
            *((f"set aside: {k}", v) for k, v in self.set_aside_by_reason.items()),
            ("events before the week", self.events_before_week),
            ("events in the week", self.events_in_week),
            ("events after the week's end (ignored)", self.events_after_week),
        ]
        if self.contacts_read is not None:
            rows += [
                ("contacts read", self.contacts_read),
                ("contacts kept", self.contacts_kept or 0),
            ]
        return pl.DataFrame(rows, schema={"measure": pl.String, "rows": pl.Int64}, orient="row")


@dataclass(frozen=True)
class DataWarning:
    """A sign that the week's data is incomplete, shown at the top of the report.

    Attributes
    ----------
    code
        Stable code: :data:`NO_EVENTS_IN_WEEK` (``"no_events_in_week"``) or
        :data:`FEW_STAGE_ENTRIES_IN_WEEK` (``"few_stage_entries_in_week"``).
    value
        The week's figure: its events, or its stage entries past the first stage.
    median
        For a low-volume warning: the median of the same figure over the
        previous weeks of the history (``None`` otherwise).
    weeks
        How many previous weeks that median is of.

    Examples
    --------
    >>> DataWarning(NO_EVENTS_IN_WEEK, 0).to_dict()
    {'code': 'no_events_in_week', 'value': 0, 'median_previous_weeks': None, 'previous_weeks': None}
    """

    code: str
    value: int
    median: float | None = None
    weeks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (an entry of ``warnings`` in ``metrics.json``)."""
        return {
            "code": self.code,
            "value": self.value,
            "median_previous_weeks": self.median,
            "previous_weeks": self.weeks,
        }


@dataclass(frozen=True)
class Kpi:
    """One headline number, this week against the week before.

    Attributes
    ----------
    name
        Stable key, e.g. ``"reached_client"`` or ``"conversion_warm_lead_to_client"``.
    kind
        ``"count"`` (contacts) or ``"rate"`` (a share, 0 to 1).
    stage, to_stage
        The stage the number is about (and, for a rate, the stage converted to).
    value, previous
        This week's and the previous week's value; ``previous`` is ``None``
        when there is nothing to compare with (a count whose previous week
        lies before the first event of the data).
    successes, trials, previous_successes, previous_trials
        The counts behind a rate (``None`` for counts).
    low, high
        95 % Wilson interval of this week's rate (``None`` for counts).
    p_value
        Two-sided p-value of the change: a pooled two-proportion test for a
        rate; for a count, the test that both weeks have the same expected
        count (``z = (a - b) / sqrt(a + b)``, normal approximation).
    verdict
        ``"increase"``, ``"decrease"``, ``"within noise"`` (p >= 0.05),
        ``"too few"`` (not enough contacts for a verdict) or ``"no previous
        week"`` (a count whose previous week lies before the data).  These
        are codes: the report shows them as "up", "down"... in its language.
    incomplete
        The rate's conversion window has not closed yet at the week's end:
        it may still rise.
    period
        For a rate: the ISO week of entry it is about (the latest whose window
        has closed); counts are about the report week itself.
    """

    name: str
    kind: str
    stage: str
    value: float
    previous: float | None
    p_value: float | None
    verdict: str
    to_stage: str | None = None
    successes: int | None = None
    trials: int | None = None
    previous_successes: int | None = None
    previous_trials: int | None = None
    low: float | None = None
    high: float | None = None
    incomplete: bool = False
    period: str | None = None

    @property
    def change(self) -> float | None:
        """``value - previous`` (``None`` without a previous value)."""
        return None if self.previous is None else self.value - self.previous

    @property
    def noise(self) -> bool:
        """Whether there is no change to read: inside the noise, too few, or no previous week."""
        return self.verdict in ("within noise", "too few", NO_PREVIOUS_WEEK)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        out: dict[str, Any] = _json_ready(
            {
                "name": self.name,
                "kind": self.kind,
                "stage": self.stage,
                "to_stage": self.to_stage,
                "value": self.value,
                "previous": self.previous,
                "change": self.change,
                "successes": self.successes,
                "trials": self.trials,
                "previous_successes": self.previous_successes,
                "previous_trials": self.previous_trials,
                "low": self.low,
                "high": self.high,
                "p_value": self.p_value,
                "verdict": self.verdict,
                "noise": self.noise,
                "incomplete": self.incomplete,
                "period": self.period,
            }
        )
        return out


def _without_previous_week(kpi: Kpi) -> Kpi:
    """Return ``kpi`` uncompared when it is a count with no contact in the previous week.

    Called only when that week lies before the data, where 0 means "no data".
    """
    if kpi.kind != "count" or kpi.previous:
        return kpi
    return replace(kpi, previous=None, p_value=None, verdict=NO_PREVIOUS_WEEK)


def _json_ready(value: Any) -> Any:
    """Return ``value`` with NaN as ``None``, times as ISO text and tuples as lists."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def _records(frame: pl.DataFrame) -> list[Any]:
    return [_json_ready(row) for row in frame.iter_rows(named=True)]


def _rounded(value: Any, key: str = "") -> Any:
    """Return JSON-ready ``value`` with its floats rounded to :data:`METRICS_DECIMALS` places.

    Floats under a key of ``_FULL_PRECISION`` are left as they are (a small
    p-value would round to 0); ``-0.0`` becomes ``0.0``.
    """
    if isinstance(value, float):
        return value if key in _FULL_PRECISION else round(value, METRICS_DECIMALS) + 0.0
    if isinstance(value, Mapping):
        return {k: _rounded(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, key) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class WeeklyMetrics:
    """Every number of one week's report, computed once.

    Build it with :func:`~funnelkit.weekly.weekly_metrics`.  The report's
    tables and figures are drawn from these results, and :meth:`to_dict`
    (``metrics.json``) holds the same numbers, so what a reader sees and what a
    machine reads agree.

    Attributes
    ----------
    week
        The ISO week; stages are classified as of its end.
    funnel
        The definition used.
    window
        The conversion window.
    breakdown
        The breakdown column, or ``None``.
    weeks_of_history
        How many weeks the trends and cohorts cover (the report week included).
    headline
        The headline numbers (:class:`Kpi`), counts first, then rates.
    snapshot
        Contacts at or past each stage as of the week's end.
    flows
        Contacts by stage at the week's start and at its end.
    entries
        Contacts that first reached each stage, per week of history:
        ``week``, ``rank``, ``stage``, ``contacts``.
    quality
        Rows read, set aside, and ignored.
    conversion
        The ordered funnel (:func:`funnelkit.conversion.funnel`) of the events
        of the history weeks, up to the week's end, within ``window``: overall,
        by ``breakdown`` (small segments suppressed) and its time to convert.
    trend
        Conversion per week of entry (:func:`funnelkit.conversion.conversion_over_time`)
        as of the week's end; weeks whose window is still open are not ``complete``.
    comparison
        Each rate of the latest entry week whose window has closed
        (:func:`~funnelkit.weekly.last_closed_week`) against the week before;
        ``None`` when there is no week before it in the data.
    cohorts
        Share of each acquisition week (of the history) that reached the
        target stage, by days since acquisition (Kaplan-Meier, as of the week's end).
    drivers
        What the contacts of the history weeks who went on from the biggest
        leak's stage did differently (:func:`funnelkit.drivers.drivers`);
        ``None`` when no contact's window has closed yet.
    classified
        On polars, the classification of every contact as of the week's end
        (:func:`funnelkit.stages.classify`, entry times included) the sections
        were read from, for :func:`~funnelkit.weekly.stalled_contacts`
        (``classified=``); ``None`` on DuckDB and Spark.  Not part of
        :meth:`to_dict` nor of equality.

    When ``quality`` counts no event before the week, its previous week lies
    before the data: the headline counts that are 0 that week are given no
    previous value (``previous=None``, verdict ``"no previous week"``), on
    whichever engine they were computed.
    """

    __repr__ = brief_repr  # one line: the tables by their shape

    week: IsoWeek
    funnel: Funnel
    window: timedelta
    breakdown: str | None
    weeks_of_history: int
    headline: tuple[Kpi, ...]
    snapshot: Snapshot
    flows: Flows
    entries: pl.DataFrame
    quality: DataQuality
    conversion: FunnelResult
    trend: ConversionTrend
    comparison: PeriodComparison | None
    cohorts: CohortTable
    drivers: DriversResult | None = None
    classified: pl.DataFrame | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.quality.events_before_week == 0:
            # A frozen dataclass sets a field it derives with object.__setattr__.
            object.__setattr__(
                self, "headline", tuple(_without_previous_week(k) for k in self.headline)
            )

    @property
    def warnings(self) -> tuple[DataWarning, ...]:
        """Signs that the week's data is incomplete (see :mod:`funnelkit.weekly`).

        ``no_events_in_week`` when the data holds no event in the week;
        otherwise ``few_stage_entries_in_week`` when contacts reached a stage
        past the first fewer than :data:`LOW_VOLUME_SHARE` times as often as
        in the median previous week of the history.
        """
        if self.quality.events_in_week == 0:
            return (DataWarning(NO_EVENTS_IN_WEEK, 0),)
        per_week = (
            self.entries.group_by("week")
            .agg(
                pl.col("contacts").filter(pl.col("rank") > 1).sum().alias("past_first"),
                pl.col("contacts").sum().alias("all"),
            )
            .sort("week")
        )
        this = str(self.week)
        current = sum(int(n) for week, n, _ in per_week.iter_rows() if week == this)
        earlier = [(int(n), int(total)) for week, n, total in per_week.iter_rows() if week < this]
        # the leading weeks without any stage entry lie before the data: leave them out
        previous = [n for n, _ in itertools.dropwhile(lambda row: row[1] == 0, earlier)]
        if len(previous) < LOW_VOLUME_MIN_WEEKS:
            return ()
        median = float(statistics.median(previous))
        if median >= LOW_VOLUME_MIN_MEDIAN and current < LOW_VOLUME_SHARE * median:
            return (DataWarning(FEW_STAGE_ENTRIES_IN_WEEK, current, median, len(previous)),)
        return ()

    @property
    def stalled_stage(self) -> str:
        """The stage whose idle contacts the report lists (see ``weekly.stalled_contacts``)."""
        return stalled_stage(self.funnel)

    @property
    def as_of(self) -> datetime:
        """The week's end (next Monday 00:00 UTC): events before it are counted."""
        return self.week.end

    def kpi(self, name: str) -> Kpi:
        """Return the headline number ``name``."""
        for item in self.headline:
            if item.name == name:
                return item
        names = [k.name for k in self.headline]
        msg = f"no headline number {name!r}.{did_you_mean(name, names)}"
        raise ParameterError(msg)

    def to_polars(self) -> pl.DataFrame:
        """Return the headline numbers as a table (see :meth:`headline_table`)."""
        return self.headline_table()

    def headline_table(self, lang: str = "en") -> pl.DataFrame:
        """Return the headline as a table: one row per number, labels in ``lang``."""
        rows = []
        for k in self.headline:
            rows.append(
                {
                    "name": k.name,
                    "label": self.kpi_label(k, lang),
                    "kind": k.kind,
                    "value": float(k.value),
                    "previous": None if k.previous is None else float(k.previous),
                    "change": k.change,
                    "low": k.low,
                    "high": k.high,
                    "verdict": k.verdict,
                    "incomplete": k.incomplete,
                }
            )
        return pl.DataFrame(rows, schema=_HEADLINE_SCHEMA)

    def kpi_label(self, kpi: Kpi, lang: str = "en") -> str:
        """Return the wording of a headline number in ``lang`` (``en`` or ``fr``)."""
        stage = self.funnel.stage(kpi.stage).label(lang)
        if kpi.kind == "count":
            first = kpi.stage == self.funnel.stage_ids[0]
            if lang == "fr":
                return "Nouveaux contacts" if first else f"Nouveaux : {stage}"
            return "New contacts" if first else f"Reached: {stage}"
        target = self.funnel.stage(kpi.to_stage or kpi.stage).label(lang)
        if kpi.period is None:
            return f"{stage} → {target}"
        entered = "entrés en" if lang == "fr" else "entered"
        return f"{stage} → {target} ({entered} {kpi.period})"

    def to_dict(self) -> dict[str, Any]:
        """Return every number as a JSON-ready dictionary (the content of ``metrics.json``).

        Numbers that are not whole (shares, rates, their intervals and
        changes, durations in seconds) are rounded to :data:`METRICS_DECIMALS`
        (6) decimal places, so a share of 6 contacts in 201 reads ``0.029851``
        whichever way it was computed (a Kaplan-Meier product gives
        ``0.02985074626865669``).  P-values (``p_value``) keep full precision:
        a small one would read 0.
        """
        funnel = self.funnel
        snap = self.snapshot.table.select(
            "rank",
            "stage",
            "at_or_past",
            "drop_off",
            "step_conversion",
            "overall_conversion",
            "current",
        )
        out: dict[str, Any] = {
            "funnelkit_version": __version__,
            "week": str(self.week),
            "week_start": self.week.start.isoformat(),
            "week_end": self.week.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "parameters": {
                "window": format_duration(self.window),
                "window_days": self.window / timedelta(days=1),
                "breakdown": self.breakdown,
                "weeks_of_history": self.weeks_of_history,
                "min_segment_size": MIN_SEGMENT,
            },
            "funnel": {
                "name": funnel.name,
                "description": funnel.description,
                "stages": [
                    {
                        "rank": rank,
                        "id": s.id,
                        "labels": dict(s.labels),
                        "rule": s.describe(),
                    }
                    for rank, s in enumerate(funnel.stages, start=1)
                ],
                "toml": funnel.to_toml(),
            },
            "rows": self.quality.to_dict(),
            "headline": [k.to_dict() for k in self.headline],
            "snapshot": _records(snap),
            "flows": _records(
                self.flows.table.select(
                    "from_rank", "from_stage", "to_rank", "to_stage", "contacts"
                )
            ),
            "entries": _records(self.entries),
            "warnings": [w.to_dict() for w in self.warnings],
            "stage_steps": self.stage_steps(),
        }
        out["conversion"] = _json_ready(self.conversion.to_dict())
        out["trend"] = _records(
            self.trend_table().select(
                pl.col("period_start").dt.strftime(_ISO_WEEK).alias("week"),
                "step",
                "name",
                "count",
                "conversion_from_first",
                "ci_low",
                "ci_high",
                "complete",
            )
        )
        out["week_over_week"] = (
            None if self.comparison is None else _json_ready(self.comparison.to_dict())
        )
        out["cohorts"] = _records(self.cohort_summary())
        out["drivers"] = self.drivers_records()
        rounded: dict[str, Any] = _rounded(out)
        return rounded

    def drivers_records(self) -> list[dict[str, Any]]:
        """Return the drivers section for ``metrics.json``: one aggregate row per signal.

        Each row: ``kind``, ``source``, ``name``, ``value``, the four counts,
        the rates, ``odds_ratio``, ``ci_low``, ``ci_high``, ``p_value``,
        ``q_value``, ``verdict`` and the step it explains (``step``,
        ``from_stage``, ``to_stage``); an empty list without the section.
        No contact is named: the counts are of contacts, personal columns
        are never candidates.
        """
        if self.drivers is None:
            return []
        result = self.drivers
        stages = self.funnel.stage_ids
        where = {
            "step": result.step,
            "from_stage": stages[result.step - 2] if len(stages) >= result.step else None,
            "to_stage": stages[result.step - 1] if len(stages) >= result.step else None,
        }
        keep = [c for c in result.table.columns if c != "sentence"]
        return [{**where, **row} for row in _records(result.table.select(keep))]

    def stage_steps(self) -> dict[str, str]:
        """Return how each section read a stage: ``"entry"`` everywhere.

        The headline counts, the snapshot and the flows come from the
        classification, which reads stages by entry by definition; the other
        sections say what they read (``stage_steps`` of their result).
        """
        readings = {"headline": "entry", "snapshot": "entry", "flows": "entry"}
        readings["conversion"] = self.conversion.stage_steps
        readings["trend"] = self.trend.stage_steps
        if self.comparison is not None:
            readings["week_over_week"] = self.comparison.stage_steps
        readings["cohorts"] = self.cohorts.stage_steps
        return readings

    def trend_table(self) -> pl.DataFrame:
        """Return :attr:`trend`'s table over the history weeks, by week then step.

        :func:`funnelkit.figures.conversion_over_time_figure` draws it as it is
        (a week not ``complete`` is drawn dashed).
        """
        first = self.week.shift(1 - self.weeks_of_history).start
        return self.trend.table.filter(pl.col("period_start") >= first).sort("period_start", "step")

    def cohort_summary(self, days: tuple[int, ...] = (0, 7, 14, 28, 56, 84)) -> pl.DataFrame:
        """Return per cohort its size and the share that reached the target by a few days."""
        table = self.cohorts.table
        marks = [d for d in days if d <= self.cohorts.horizon.days]
        sizes = table.group_by("cohort_start").agg(pl.col("cohort_size").first())
        shares = table.filter(pl.col("day").is_in(marks)).pivot(
            on="day", index="cohort_start", values="share", sort_columns=True
        )
        renamed = shares.rename(
            {str(d): f"share_day_{d}" for d in marks if str(d) in shares.columns}
        )
        missing = [f"share_day_{d}" for d in marks if str(d) not in shares.columns]
        renamed = renamed.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in missing)
        return (
            sizes.join(renamed, on="cohort_start", how="left")
            .with_columns(pl.col("cohort_start").dt.strftime(_ISO_WEEK).alias("cohort"))
            .select("cohort", "cohort_size", *(f"share_day_{d}" for d in marks))
            .sort("cohort")
        )

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text: sorted keys, two-space indent, final newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` and return the path."""
        target = Path(path)
        target.write_text(self.to_json(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        from funnelkit.markup import Markup, format_html

        table = self.headline_table()
        return format_html(
            "<div><strong>Week {}</strong> under funnel definition {}{}</div>",
            str(self.week),
            repr(self.funnel.name),
            Markup(table._repr_html_()),  # polars escapes the cells and column names
        )


_HEADLINE_SCHEMA = {
    "name": pl.String,
    "label": pl.String,
    "kind": pl.String,
    "value": pl.Float64,
    "previous": pl.Float64,
    "change": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "verdict": pl.String,
    "incomplete": pl.Boolean,
}


def target_stage(funnel: Funnel) -> str:
    """Return the stage a funnel converts to: ``client`` when it has one, else its last stage.

    The weekly report's headline conversion and cohorts read it.

    Parameters
    ----------
    funnel
        A funnel definition.

    Returns
    -------
    str
        A stage id.

    Examples
    --------
    >>> from funnelkit.definitions import load_funnel
    >>> target_stage(load_funnel("inbound")), target_stage(load_funnel("sales"))
    ('client', 'client')

    See the concept page: docs/concepts/weekly-report.md
    """
    return "client" if "client" in funnel.stage_ids else funnel.stage_ids[-1]


def stalled_stage(funnel: Funnel) -> str:
    """Return the stage just before :func:`target_stage`, whose idle contacts need a follow-up.

    The weekly report lists the contacts idle at that stage, for the team to
    act on.

    Parameters
    ----------
    funnel
        A funnel definition.

    Returns
    -------
    str
        A stage id.

    Examples
    --------
    >>> from funnelkit.definitions import load_funnel
    >>> stalled_stage(load_funnel("inbound")), stalled_stage(load_funnel("sales"))
    ('warm_lead', 'qualified_prospect')

    See the concept page: docs/concepts/weekly-report.md
    """
    return funnel.stage_ids[max(funnel.rank(target_stage(funnel)) - 2, 0)]
