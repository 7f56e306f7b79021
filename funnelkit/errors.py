"""The one exception hierarchy of funnelkit.

Every error a user can meet derives from :class:`FunnelkitError`, itself a
:class:`ValueError`, so ``except ValueError`` keeps working in scripts that
predate funnelkit.  Messages name the file, column, stage or parameter at
fault and, where it helps, end with a hint on how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "DataError",
    "DefinitionError",
    "EmptyInputError",
    "FunnelkitError",
    "MissingColumnError",
    "ParameterError",
    "PersonalDataError",
    "ReportError",
    "RowError",
    "TimestampError",
    "did_you_mean",
]


class FunnelkitError(ValueError):
    """Root of every error funnelkit raises on purpose.

    A :class:`ValueError`, so ``except ValueError`` keeps working; the specific
    subclasses below say what went wrong (a column, a timestamp, a definition,
    a parameter, the report) and their messages name the culprit with a hint.

    Examples
    --------
    >>> from funnelkit.durations import parse_duration
    >>> try:
    ...     parse_duration("3 fortnights")
    ... except FunnelkitError as error:
    ...     print(type(error).__name__)
    ParameterError

    See the concept page: docs/concepts/untrusted-input.md
    """


class DataError(FunnelkitError):
    """Input data cannot be used as it is (file unreadable, wrong type...)."""


class EmptyInputError(DataError):
    """The input holds no rows (or no header)."""


class MissingColumnError(DataError):
    """A required column is absent from the input."""


class RowError(DataError):
    """Rows are unusable (null id, exact duplicate...) and strict mode is on."""


class TimestampError(RowError):
    """Timestamps cannot be parsed (strict mode) or a time value is malformed."""


class DefinitionError(FunnelkitError):
    """A funnel definition (TOML file or object) is malformed."""


class ParameterError(FunnelkitError):
    """A function or command-line parameter has an unusable value."""


class ReportError(FunnelkitError):
    """Rendering the weekly report failed."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a ``" Did you mean 'x'?"`` hint, or an empty string.

    Error messages end with it when a name (a column, an event, a stage) is
    close to one of the valid choices.

    Parameters
    ----------
    name
        The name that was not found.
    choices
        The valid names.

    Returns
    -------
    str
        The hint, starting with a space, or ``""`` when nothing is close.

    Examples
    --------
    >>> did_you_mean("contactid", ["contact_id", "event"])
    " Did you mean 'contact_id'?"
    >>> did_you_mean("zzz", ["contact_id"])
    ''

    See the concept page: docs/concepts/untrusted-input.md
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class PersonalDataError(ParameterError):
    """A breakdown or table would print personal data (e-mails, names, contact ids...)."""
