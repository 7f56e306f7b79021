"""How a figure reads what it draws: result tables and funnel definitions.

A figure takes a computed result, its ``to_polars()`` table, or a frame of its
own: :func:`as_frame` makes a polars frame of any of them and
:func:`find_column` picks a column among the names results use.  Steps and
stages are named by id or by label; :func:`stage_labels`, :func:`label_map`
and :func:`rank_map` give a stage's label in a language and its rank (which
chooses its colour), from the definition given, the one the result carries,
or a preset the result names (:func:`result_funnel`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from funnelkit.definitions import list_presets, load_funnel
from funnelkit.errors import MissingColumnError, ParameterError, did_you_mean
from funnelkit.events import (
    CONTACT_ID,
    CREATED_AT,
    OCCURRED_AT,
    as_lazy,
    as_lazy_contacts,
)
from funnelkit.figure_style import Lang, check_lang
from funnelkit.markup import plot_text
from funnelkit.timeutil import TimeLike, parse_time

__all__ = [
    "NAME_COLUMNS",
    "STEP_COLUMNS",
    "as_frame",
    "contacts_without_events",
    "find_column",
    "funnel_name",
    "ids_in",
    "label_map",
    "name_of",
    "rank_map",
    "resolve_funnel",
    "result_funnel",
    "stage_labels",
    "stage_ranks",
]

STEP_COLUMNS = ("step", "rank", "stage_rank", "step_rank")
NAME_COLUMNS = ("name", "stage", "step_name", "stage_id")


# --------------------------------------------------------------------------- stages
def _stages_of(funnel: Any) -> list[Any]:
    stages = getattr(funnel, "stages", None)
    return list(stages) if stages is not None else []


def _stage_id(stage: Any) -> str:
    return str(getattr(stage, "id", stage))


def _stage_label(stage: Any, lang: Lang) -> str:
    labels = getattr(stage, "labels", None)
    if isinstance(labels, Mapping) and labels.get(lang):
        return str(labels[lang])
    label = getattr(stage, "label", None)
    if callable(label):
        return str(label(lang))
    if isinstance(label, str) and label:
        return label
    return _stage_id(stage).replace("_", " ")


def funnel_name(funnel: Any) -> str | None:
    """Return a definition's name escaped for plotly (for titles and axes)."""
    if isinstance(funnel, str):
        return plot_text(funnel) if funnel else None
    name = getattr(funnel, "name", None)
    return plot_text(name) if name else None


def name_of(result: Any, funnel: Any) -> str | None:
    """Return the name of the definition behind ``result``, escaped for plotly (for titles)."""
    if funnel is not None:
        return funnel_name(funnel)
    for attr in ("funnel", "definition"):
        name = funnel_name(getattr(result, attr, None))
        if name:
            return name
    if isinstance(result, pl.DataFrame) and "funnel" in result.columns and result.height:
        value = result["funnel"][0]
        return plot_text(value) if value is not None else None
    return None


def stage_labels(funnel: Any, lang: Lang = "en") -> dict[str, str]:
    """Return ``{stage id: label in lang}`` for a funnel definition.

    A stage without a label in ``lang`` is shown by its ``label``, else by
    its id with spaces, so a figure always has words to show.

    Parameters
    ----------
    funnel
        A :class:`~funnelkit.definitions.Funnel` (anything with ``.stages``
        whose items have an ``id`` and ``labels``), or ``None``.
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    dict of str to str
        Empty for ``None``.

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> from funnelkit.definitions import load_funnel
    >>> stage_labels(load_funnel("inbound"), "fr")["warm_lead"]
    'Lead chaud'

    See the concept page: docs/concepts/stages.md
    """
    lang = check_lang(lang)
    return {_stage_id(s): _stage_label(s, lang) for s in _stages_of(funnel)}


def _names(stage: Any) -> list[str]:
    """Return every name a table may use for ``stage``: its id and its labels."""
    labels = getattr(stage, "labels", None)
    given = [str(v) for v in labels.values()] if isinstance(labels, Mapping) else []
    return [_stage_id(stage), *given]


def rank_map(funnel: Any) -> dict[str, int]:
    """Return ``{id or label: rank}`` (results name steps by id or by label)."""
    return {
        name: rank
        for rank, stage in enumerate(_stages_of(funnel), start=1)
        for name in reversed(_names(stage))
    }


def label_map(funnel: Any, lang: Lang) -> dict[str, str]:
    """Return ``{id or label: label in lang}``."""
    return {
        name: _stage_label(stage, lang)
        for stage in _stages_of(funnel)
        for name in reversed(_names(stage))
    }


def stage_ranks(funnel: Any) -> dict[str, int]:
    """Return ``{stage id: rank}`` of a definition (1 = first stage; empty without one)."""
    return {_stage_id(s): i for i, s in enumerate(_stages_of(funnel), start=1)}


def resolve_funnel(candidate: Any, ids: Iterable[str] = ()) -> Any:
    """Return a definition from a definition or a preset's name (when its stages fit)."""
    if candidate is None or hasattr(candidate, "stages"):
        return candidate
    if isinstance(candidate, str) and candidate in list_presets():
        preset = load_funnel(candidate)
        if set(ids) <= set(rank_map(preset)):
            return preset
    return None


def result_funnel(result: Any, funnel: Any, ids: Iterable[str] = ()) -> Any:
    """Return the definition behind ``result``: given, carried, or a preset by name.

    Results that carry only their definition's name get the preset of that
    name, provided it has every stage id of the table (``ids``).
    """
    if funnel is not None:
        return resolve_funnel(funnel)
    for attr in ("funnel", "definition"):
        found = resolve_funnel(getattr(result, attr, None), ids)
        if found is not None:
            return found
    if isinstance(result, pl.DataFrame) and "funnel" in result.columns and result.height:
        return resolve_funnel(result["funnel"][0], ids)
    return None


def as_frame(result: Any, what: str) -> pl.DataFrame:
    """Return the polars frame of ``result`` (a frame, or a result with ``to_polars()``)."""
    if isinstance(result, pl.LazyFrame):
        return result.collect()
    if isinstance(result, pl.DataFrame):
        return result
    to_polars = getattr(result, "to_polars", None)
    if callable(to_polars):
        frame = to_polars()
        return frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    msg = (
        f"cannot draw {what} from a {type(result).__name__}; pass the result funnelkit "
        "computed or its .to_polars() table."
    )
    raise ParameterError(msg)


def find_column(
    frame: pl.DataFrame, names: Sequence[str], what: str, *, required: bool = True
) -> str:
    """Return the first of ``names`` that ``frame`` has."""
    for name in names:
        if name in frame.columns:
            return name
    if not required:
        return ""
    hint = did_you_mean(names[0], frame.columns)
    msg = (
        f"the {what} table has no {names[0]!r} column (columns: {', '.join(frame.columns)}).{hint}"
    )
    raise MissingColumnError(msg)


def ids_in(frame: pl.DataFrame, column: str) -> list[str]:
    """Return the distinct values of ``column`` as text, in order of appearance, nulls left out."""
    return [str(v) for v in frame[column].drop_nulls().unique(maintain_order=True).to_list()]


# --------------------------------------------------------------------------- contacts
def contacts_without_events(
    events: Any,
    contacts: Any,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    stage_steps: str = "entry",
) -> int:
    """Return how many contacts a funnel counts at step 1 although they have no event.

    Read by entry (:func:`funnelkit.conversion.funnel` with ``contacts=``), a
    contact created in ``[since, until)`` with no event before ``until``
    enters the first stage at its ``created_at``; the funnel figures say so
    under the chart.  By evidence, or without contacts, there are none.

    Parameters
    ----------
    events
        The events the funnel read.
    contacts
        The contacts table it read (``None``: none).
    since, until
        The funnel's span.
    stage_steps
        ``"entry"`` or ``"evidence"``, as the funnel read its stages.

    Returns
    -------
    int

    Raises
    ------
    ParameterError
        When ``since`` or ``until`` cannot be read.

    Examples
    --------
    >>> import datetime as dt
    >>> day = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    >>> log = pl.DataFrame({"contact_id": ["a"], "occurred_at": [day], "event": ["like"]})
    >>> people = pl.DataFrame({"contact_id": ["a", "b"], "created_at": [day, day]})
    >>> contacts_without_events(log, people)
    1

    See the concept page: docs/concepts/entry.md
    """
    if contacts is None or stage_steps != "entry":
        return 0
    people = as_lazy_contacts(contacts)
    if CREATED_AT not in people.collect_schema().names():
        return 0
    lo, hi = parse_time(since, "since"), parse_time(until, "until")
    created = pl.col(CREATED_AT)
    if lo is not None:
        people = people.filter(created >= lo)
    if hi is not None:
        people = people.filter(created < hi)
    seen = as_lazy(events)
    if hi is not None:
        seen = seen.filter(pl.col(OCCURRED_AT) < hi)
    silent = people.filter(created.is_not_null()).join(
        seen.select(CONTACT_ID).unique(), on=CONTACT_ID, how="anti"
    )
    return int(silent.select(pl.col(CONTACT_ID).n_unique()).collect().item())
