"""The display helpers the report's template calls, and all the report's texts.

:func:`setup_notebook`, :func:`section`, :func:`title`, :func:`html_table`,
:func:`headline_html`, :func:`warnings_html` and the other tables: headings in
English or French, plotly figures rendered with the library embedded once (no
CDN), tables as plain HTML.  All the report's texts are here, in both
languages.  Every HTML fragment is built with :mod:`funnelkit.markup`, so a
name, label or value from the data or the definition is always shown as text,
never run as HTML or script.  The template reaches them as
``funnelkit.report.section(...)`` and so on.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from funnelkit.errors import ParameterError, did_you_mean
from funnelkit.logs import REASON_TEXT
from funnelkit.markup import Markup, escape, format_html, join_html
from funnelkit.weekly import (
    FEW_STAGE_ENTRIES_IN_WEEK,
    LOW_VOLUME_SHARE,
    NO_EVENTS_IN_WEEK,
    NO_PREVIOUS_WEEK,
    DataWarning,
)

__all__ = [
    "LANGS",
    "NOTES",
    "check_lang",
    "definition_table",
    "headline_html",
    "html_table",
    "lazy_module",
    "quality_table",
    "section",
    "section_html",
    "section_text",
    "setup_notebook",
    "time_to_convert_histogram",
    "time_to_convert_html",
    "title",
    "warning_text",
    "warnings_html",
]

LANGS = ("en", "fr")


def lazy_module(name: str) -> Any:
    """Import an untyped optional dependency lazily (kept out of the notebook's import time)."""
    return importlib.import_module(name)


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
            "Share of the contacts whose first event fell in each week that reached "
            "\u201c{stage}\u201d, by days since that first event (a contact listed without "
            "any event yet counts among the week's new contacts above, not here). Recent "
            "weeks are observed for fewer days: their curves are shorter, not lower.",
        ),
        "drivers": (
            "What the contacts who went on did differently",
            "The biggest leak is from \u201c{before}\u201d to \u201c{after}\u201d. Among the "
            "contacts of the last {weeks} weeks who reached \u201c{before}\u201d and whose "
            "{window}-day window has closed, those who went on against those who did not: by "
            "what they did in between, where they came from and who they are. Odds ratios "
            "with 95% intervals; a signal whose "
            "q-value (corrected for testing many) is 0.05 or more is within noise. An "
            "association, not a cause: the contacts who did it may differ in other ways.",
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
            "Part des contacts dont le premier événement tombe dans chaque semaine ayant "
            "atteint « {stage} », selon les jours écoulés depuis ce premier événement (un "
            "contact listé sans événement compte parmi les nouveaux contacts ci-dessus, pas "
            "ici). Les semaines récentes sont observées moins longtemps : leurs courbes sont "
            "plus courtes, pas plus basses.",
        ),
        "drivers": (
            "Ce qu'ont fait autrement les contacts qui ont poursuivi",
            "La plus grosse fuite va de « {before} » à « {after} ». Parmi les contacts des "
            "{weeks} dernières semaines arrivés à « {before} » et dont la fenêtre de {window} "
            "jours est close, ceux qui ont poursuivi face aux autres : selon ce qu'ils ont "
            "fait entre-temps, d'où ils venaient et qui ils sont. Rapports des cotes avec "
            "intervalles à 95 % ; un signal "
            "dont la valeur q (corrigée des tests multiples) atteint 0,05 est dans le bruit. "
            "Une association, pas une cause : ces contacts peuvent différer sur d'autres points.",
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


def check_lang(lang: str) -> str:
    """Return ``lang`` when the report speaks it.

    Parameters
    ----------
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    str
        ``lang`` itself.

    Raises
    ------
    ParameterError
        When ``lang`` is another value, naming the two it takes.

    Examples
    --------
    >>> check_lang("fr")
    'fr'

    See the concept page: docs/concepts/weekly-report.md
    """
    if lang not in LANGS:
        msg = f"lang: expected 'en' or 'fr', got {lang!r}.{did_you_mean(str(lang), LANGS)}"
        raise ParameterError(msg)
    return lang


def section_text(key: str, lang: str = "en", **values: object) -> tuple[str, str]:
    """Return the heading and the one-paragraph introduction of a report section.

    Every section of the weekly report opens with one, in English or French.

    Parameters
    ----------
    key
        The section's key.
    lang
        ``"en"`` or ``"fr"``.
    **values
        The values the texts name.

    Returns
    -------
    tuple of str
        The heading and the introduction.

    Raises
    ------
    ParameterError
        When ``key`` or ``lang`` is unknown.

    Examples
    --------
    >>> section_text("quality", "fr")[0]
    'Qualité des données'

    See the concept page: docs/concepts/weekly-report.md
    """
    texts = _SECTIONS[check_lang(lang)]
    if key not in texts:
        msg = f"section: no section {key!r}.{did_you_mean(key, texts)}"
        raise ParameterError(msg)
    heading, intro = texts[key]
    return heading.format(**values), intro.format(**values)


def title(metrics: Any, lang: str = "en") -> None:
    """Display the report's title: the week, its dates and the definition used.

    The first output of the report notebook, with the instant the data is
    known up to.

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
    >>> title(weekly_metrics(events, "inbound", week="2026-W47", contacts=contacts))
    <IPython.core.display.HTML object>

    See the concept page: docs/concepts/weekly-report.md
    """
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

    Parameters
    ----------
    key
        The section's key.
    lang
        ``"en"`` or ``"fr"``.
    level
        The heading's level.
    **values
        The values the heading and introduction name.

    Returns
    -------
    Markup

    Raises
    ------
    ParameterError
        When ``key`` or ``lang`` is unknown.

    Examples
    --------
    >>> section_html("breakdown", column="<b>", weeks=12, min_contacts=30)[:43]
    "<h2 id='breakdown'>Breakdown by &lt;b&gt;<a"

    See the concept page: docs/concepts/untrusted-input.md
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

    What :func:`section_html` returns, displayed; user texts in ``values``
    are escaped.

    Parameters
    ----------
    key
        The section's key.
    lang
        ``"en"`` or ``"fr"``.
    level
        The heading's level.
    **values
        The values the heading and introduction name.

    Raises
    ------
    ParameterError
        When ``key`` or ``lang`` is unknown.

    Examples
    --------
    >>> section("quality")
    <IPython.core.display.HTML object>

    See the concept page: docs/concepts/weekly-report.md
    """
    ipd = lazy_module("IPython.display")
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

    Examples
    --------
    >>> import plotly.io as pio
    >>> before = pio.renderers.default
    >>> setup_notebook()
    <IPython.core.display.HTML object>
    >>> pio.renderers.default
    'funnelkit_offline'
    >>> pio.renderers.default = before

    See the concept page: docs/concepts/weekly-report.md
    """
    import plotly.io as pio
    from plotly.io.base_renderers import MimetypeRenderer
    from plotly.offline import get_plotlyjs

    ipd = lazy_module("IPython.display")

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

    Every value is escaped; numbers are right-aligned and written in the
    language's format.

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

    Returns
    -------
    IPython.display.HTML

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> html = html_table(pl.DataFrame({"stage": ["a"], "share": [0.25]}), percent=["share"]).data
    >>> "<td>a</td><td class='num'>25.0%</td>" in html
    True

    See the concept page: docs/concepts/untrusted-input.md
    """
    check_lang(lang)
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
    return lazy_module("IPython.display").HTML(
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


#: Why rows were set aside, in French (English: funnelkit.logs.REASON_TEXT).
_REASON_FR = {
    "bad_encoding": "octets qui ne sont pas de l'UTF-8",
    "wrong_field_count": "plus ou moins de champs que l'en-tête",
    "null_contact_id": "sans identifiant de contact",
    "null_event": "sans nom d'événement",
    "null_timestamp": "sans horodatage",
    "bad_timestamp": "horodatage illisible",
    "unknown_event": "événement hors de la liste connue",
    "duplicate": "doublon exact d'une ligne précédente",
    "duplicate_contact": "contact déjà vu sur une ligne précédente",
    "bad_created_at": "created_at illisible",
}


def _reason(code: str, lang: str) -> str:
    """Return why rows were set aside, in words, with the reason's code."""
    words = (_REASON_FR if lang == "fr" else REASON_TEXT).get(code)
    return f"{words} ({code})" if words else code


def quality_table(metrics: Any, lang: str = "en") -> Any:
    """Return the data-quality figures of a :class:`~funnelkit.weekly.WeeklyMetrics` as HTML.

    Rows read, kept and set aside (by reason), and the events before and in
    the week, so a reader knows what the numbers stand on.

    Parameters
    ----------
    metrics
        The week's metrics (:func:`funnelkit.weekly.weekly_metrics`).
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    IPython.display.HTML

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
    >>> "Event rows read" in quality_table(metrics).data
    True

    See the guide: docs/guides/read-set-aside-rows.md
    """
    words = _QUALITY[check_lang(lang)]
    q = metrics.quality
    rows: list[tuple[str, int | None]] = [
        (words["rows_read"], q.rows_read),
        (words["rows_kept"], q.rows_kept),
        *(
            (words["set_aside"].format(reason=_reason(k, lang)), v)
            for k, v in q.set_aside_by_reason.items()
        ),
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
#: The notes under the report's tables, per language.
NOTES = {
    "en": {
        "incomplete": "* window still open at the week's end: the rate may still rise.",
        "rates": "Counts are the report week's. Rates are those of the contacts who entered "
        "in {period}, the latest week whose {window}-day window has closed, against the week "
        "before; in brackets, the 95% Wilson interval.",
        "no_previous": "No previous week to compare with: the data holds no event before this "
        "week.",
        "none": "none",
        "pseudonymized": "Contact ids are pseudonymised (keyed hash); the key is not in "
        "this report.",
        "real_ids": "Contact ids are shown as they are (pseudonymize is off).",
        "none_stalled": "No contact at this stage.",
        "same_instant": "A median of 0.0 days ({steps}) is no rounding: half of these "
        "contacts or more entered both stages at the same instant, because one event met the "
        "rules of both, or the earlier stage was skipped and counts as entered with the later.",
        "follow_up": "To act on this list, the real contact ids are in {path}, beside this "
        "week's report folder: a local file only the account that ran the report can read. Do not "
        "share it with this report.",
    },
    "fr": {
        "incomplete": "* fenêtre encore ouverte en fin de semaine : le taux peut encore monter.",
        "rates": "Les effectifs sont ceux de la semaine du rapport. Les taux sont ceux des "
        "contacts entrés en {period}, dernière semaine dont la fenêtre de {window} jours est "
        "close, face à la semaine précédente ; entre parenthèses, l'intervalle de Wilson à 95 %.",
        "no_previous": "Pas de semaine précédente à comparer : les données ne contiennent aucun "
        "événement avant cette semaine.",
        "none": "aucune",
        "pseudonymized": "Les identifiants sont pseudonymisés (hachage à clé) ; la clé ne "
        "figure pas dans ce rapport.",
        "real_ids": "Les identifiants sont affichés tels quels (pseudonymize désactivé).",
        "none_stalled": "Aucun contact à ce stade.",
        "same_instant": "Une médiane de 0,0 jour ({steps}) n'est pas un arrondi : la moitié "
        "de ces contacts au moins sont entrés dans les deux stades au même instant, car un seul "
        "événement remplissait les règles des deux, ou le premier stade a été sauté et compte "
        "comme atteint avec le second.",
        "follow_up": "Pour agir sur cette liste, les vrais identifiants sont dans {path}, à côté "
        "du dossier du rapport de la semaine : un fichier local que seul le compte qui a produit "
        "le rapport peut lire. Ne le partagez pas avec ce rapport.",
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

    Parameters
    ----------
    metrics
        The week's metrics (:func:`funnelkit.weekly.weekly_metrics`).
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    IPython.display.HTML

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
    >>> headline_html(metrics).data[:34]
    "<table class='funnelkit headline'>"

    See the concept page: docs/concepts/uncertainty.md
    """
    check_lang(lang)
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
            NOTES[lang]["none"]
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
    notes = [NOTES[lang]["incomplete"]] if starred else []
    if any(k.verdict == NO_PREVIOUS_WEEK for k in metrics.headline):
        notes.append(NOTES[lang]["no_previous"])
    period = next((k.period for k in metrics.headline if k.kind == "rate" and k.period), None)
    if period is not None:
        notes.append(NOTES[lang]["rates"].format(period=period, window=metrics.window.days))
    note = join_html(format_html("<p><small>{}</small></p>", n) for n in notes)
    return lazy_module("IPython.display").HTML(
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

    An unknown code is shown as it is, so a newer ``metrics.json`` still
    reads.

    Parameters
    ----------
    warning
        A :class:`~funnelkit.weekly.DataWarning` or its dictionary (an entry
        of ``warnings`` in ``metrics.json``).
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> warning_text({"code": "no_events_in_week", "value": 0})[:39]
    'the data holds no event in this week. A'

    See the concept page: docs/concepts/weekly-report.md
    """
    words = _WARNINGS[check_lang(lang)]
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

    Parameters
    ----------
    metrics
        The week's metrics (:func:`funnelkit.weekly.weekly_metrics`).
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    IPython.display.HTML or None

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> from funnelkit.sample import generate
    >>> from funnelkit.weekly import weekly_metrics
    >>> events, contacts = generate(200, seed=1)
    >>> warnings_html(weekly_metrics(events, "inbound", week="2026-W47", contacts=contacts)) is None
    True

    See the concept page: docs/concepts/weekly-report.md
    """
    label = _WARNINGS[check_lang(lang)]["label"]
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
    return lazy_module("IPython.display").HTML(join_html(lines))


def definition_table(funnel: Any, lang: str = "en") -> pl.DataFrame:
    """Return a funnel definition as a table: ``rank``, ``stage``, ``id``, ``rule``, ``meaning``.

    In French the headers and the rule read in French; ``meaning`` is the
    definition's own text, as its author wrote it.

    Parameters
    ----------
    funnel
        A funnel definition.
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    pl.DataFrame
        One row per stage.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> from funnelkit.definitions import load_funnel
    >>> definition_table(load_funnel("inbound")).row(0)[:4]
    (1, 'Prospect', 'prospect', 'any event (entry stage)')

    See the concept page: docs/concepts/stages.md
    """
    check_lang(lang)
    headers = (
        ("rank", "stage", "id", "rule", "meaning")
        if lang == "en"
        else ("rang", "stade", "id", "règle", "sens")
    )
    from funnelkit.stages import in_french

    rows = [
        (
            rank,
            stage.label(lang),
            stage.id,
            in_french(stage.describe()) if lang == "fr" else stage.describe(),
            stage.description,
        )
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

    Step names are shown with the definition's labels in ``lang``.

    Parameters
    ----------
    ttc
        The :class:`~funnelkit.conversion.TimeToConvert` of a funnel result.
    lang
        ``"en"`` or ``"fr"``.
    funnel
        The definition, for the labels.

    Returns
    -------
    IPython.display.HTML

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.conversion import funnel
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a"], "event": ["visit", "buy"],
    ...                     "occurred_at": [day, day + dt.timedelta(days=2)]})
    >>> ttc = funnel(log, ["visit", "buy"], window="7d").time_to_convert
    >>> "<table" in time_to_convert_html(ttc).data
    True

    See the concept page: docs/concepts/time-to-convert.md
    """
    check_lang(lang)
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
    shown = html_table(table, lang=lang, headers=_TTC_HEADERS[lang])
    instant = [row[0] for row in table.rows() if row[2] == 0.0]
    if not instant:
        return shown
    # A median of zero is not a rounding: half the contacts or more entered both
    # stages at one instant (one event met both rules, or a skipped stage counts as
    # entered with the later one).
    note = NOTES[lang]["same_instant"].format(steps=", ".join(instant))
    return lazy_module("IPython.display").HTML(
        format_html("{}<p class='funnelkit-note'><small>{}</small></p>", Markup(shown.data), note)
    )


def time_to_convert_histogram(ttc: Any, *, step: int) -> Any:
    """Return the :class:`funnelkit.figures.Histogram` of the step into ``step``.

    The same as ``funnelkit.figures.time_to_convert_table(ttc, steps=(step - 1,
    step))``; the bundled template draws the result itself.  Kept for
    templates that call it.

    Parameters
    ----------
    ttc
        The :class:`~funnelkit.conversion.TimeToConvert` of a funnel result.
    step
        The step converted to (2..n).

    Returns
    -------
    Histogram

    Raises
    ------
    ParameterError
        When no contact converted, or ``step`` is not measured.

    Examples
    --------
    >>> import datetime as dt
    >>> from funnelkit.conversion import funnel
    >>> day = dt.datetime(2026, 9, 1)
    >>> log = pl.DataFrame({"contact_id": ["a", "a"], "event": ["visit", "buy"],
    ...                     "occurred_at": [day, day + dt.timedelta(days=2)]})
    >>> ttc = funnel(log, ["visit", "buy"], window="7d").time_to_convert
    >>> time_to_convert_histogram(ttc, step=2).median
    2.0

    See the concept page: docs/concepts/time-to-convert.md
    """
    from funnelkit.figures import time_to_convert_table

    return time_to_convert_table(ttc, steps=(step - 1, step))
