"""The weekly report's section on what the contacts who went on did differently.

See the guide: docs/guides/drivers.md
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from funnelkit.markup import format_html
from funnelkit.report_display import check_lang, html_table, lazy_module, section

__all__ = ["drivers_html", "drivers_section"]

_DRIVERS_WORDS = {
    "en": {
        "signal": "Signal",
        "verdict": "Verdict",
        "with": "Went on / not, with it",
        "rate_with": "Went on, with it",
        "rate_without": "Went on, without it",
        "odds_ratio": "Odds ratio (95% CI)",
        "q_value": "q",
        "none": "No signal stands out from the noise ({tested} tested).",
        "missing": "No contact's window has closed yet: nothing to compare.",
    },
    "fr": {
        "signal": "Signal",
        "verdict": "Verdict",
        "with": "Ont poursuivi / non, avec",
        "rate_with": "Ont poursuivi, avec",
        "rate_without": "Ont poursuivi, sans",
        "odds_ratio": "Rapport des cotes (IC 95 %)",
        "q_value": "q",
        "none": "Aucun signal ne se détache du bruit ({tested} testés).",
        "missing": "Aucune fenêtre de contact n'est encore close : rien à comparer.",
    },
}


def drivers_section(metrics: Any, lang: str = "en") -> None:
    """Display the heading of the drivers section of a :class:`~funnelkit.weekly.WeeklyMetrics`.

    It names the step explained (the biggest leak) by the definition's labels
    in ``lang``.

    Parameters
    ----------
    metrics
        The week's metrics (:func:`funnelkit.weekly.weekly_metrics`).
    lang
        ``"en"`` or ``"fr"``.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> from funnelkit.sample import generate
    >>> from funnelkit.weekly import weekly_metrics
    >>> events, contacts = generate(200, seed=1)
    >>> metrics = weekly_metrics(events, "inbound", week="2026-W47", contacts=contacts)
    >>> drivers_section(metrics)
    <IPython.core.display.HTML object>

    See the guide: docs/guides/drivers.md
    """
    why = metrics.drivers
    stages = metrics.funnel.stages
    before = after = "–"
    if why is not None and len(stages) >= why.step:
        before, after = stages[why.step - 2].label(lang), stages[why.step - 1].label(lang)
    section(
        "drivers",
        lang,
        weeks=metrics.weeks_of_history,
        window=f"{metrics.window / dt.timedelta(days=1):g}",
        before=before,
        after=after,
    )


def drivers_html(drivers: Any, lang: str = "en", *, top: int = 10) -> Any:
    """Return the signals that help or hurt, strongest first, as an HTML table (or a note).

    Signals within noise are left to the figure; with none that stands out,
    a sentence says how many were tested.

    Parameters
    ----------
    drivers
        A :class:`~funnelkit.drivers.DriversResult` (``None``: no window has
        closed yet).
    lang
        ``"en"`` or ``"fr"``.
    top
        The most signals listed.

    Returns
    -------
    IPython.display.HTML

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> drivers_html(None).data[:3]
    '<p>'

    See the guide: docs/guides/drivers.md
    """
    from funnelkit.drivers import format_ratio
    from funnelkit.figure_drivers import signal_label

    words = _DRIVERS_WORDS[check_lang(lang)]
    display = lazy_module("IPython.display")
    if drivers is None:
        return display.HTML(format_html("<p>{}</p>", words["missing"]))
    strong = drivers.significant().head(top)
    if strong.is_empty():
        tested = drivers.table.filter(~pl.col("suppressed")).height
        return display.HTML(format_html("<p>{}</p>", words["none"].format(tested=tested)))
    verdicts = {"helps": ("helps", "aide"), "hurts": ("hurts", "freine")}

    def ratio(value: float) -> str:
        text = format_ratio(value)
        return text if lang == "en" else text.replace(",", "\u202f").replace(".", ",")

    table = pl.DataFrame(
        [
            {
                "signal": signal_label(r, "fr" if lang == "fr" else "en"),
                "verdict": verdicts[r["verdict"]][lang == "fr"],
                "with": f"{r['converted']:,} / {r['dropped']:,}",
                "rate_with": r["rate_with"],
                "rate_without": r["rate_without"],
                "odds_ratio": f"{ratio(r['odds_ratio'])} ({ratio(r['ci_low'])}–"
                f"{ratio(r['ci_high'])})",
                "q_value": f"{r['q_value']:.2g}",
            }
            for r in strong.iter_rows(named=True)
        ]
    )
    return html_table(
        table, percent=("rate_with", "rate_without"), digits=0, lang=lang, headers=words
    )
