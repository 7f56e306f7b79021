"""The one exception hierarchy of funnelkit.

Every error a user can meet derives from :class:`FunnelkitError`, itself a
:class:`ValueError`, so ``except ValueError`` keeps working in scripts that
predate funnelkit.  Messages name the file, column, stage or parameter at
fault and, where it helps, end with a hint on how to fix it.
"""

from __future__ import annotations

import difflib
import re
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
    "SpanWarning",
    "UnknownEventWarning",
    "did_you_mean",
    "message_in",
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


class SpanWarning(UserWarning):
    """The times asked leave out every event of a log read, or ``as_of`` lies outside them.

    ``since`` after the last event or ``until`` before the first gives zeros;
    an ``as_of`` before the first event knows no contact, a week or more after
    the last lapses the stages that lapse.  Warned on a log read by
    :func:`~funnelkit.events.read_events` (its first and last events are
    known: nothing is read); the command line prints the same lines as
    ``warning:``, naming its options.
    """


class UnknownEventWarning(UserWarning):
    """A step names an event the log never holds: it counts nothing, silently otherwise.

    Warned by :func:`funnelkit.conversion.funnel` on a log read by
    :func:`~funnelkit.events.read_events`, with the closest event name of the
    data; the command line prints the same lines as ``warning:``.
    """


class PersonalDataError(ParameterError):
    """A breakdown or table would print personal data (e-mails, names, contact ids...)."""


# --------------------------------------------------------------------------- French
#: Where a message says the fault is, each followed by ": " and peeled off in turn.
_PLACES_FR: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"stage '(?P<id>[^']*)' \(#(?P<n>\d+)\): "), "stade '{id}' (n° {n})"),
    (re.compile(r"stage #(?P<n>\d+): "), "stade n° {n}"),
    (
        re.compile(r"funnel '(?P<name>[^']*)' \((?P<file>[^)]*)\), stage '(?P<id>[^']*)': "),
        "entonnoir '{name}' ({file}), stade '{id}'",
    ),
    (re.compile(r"funnel '(?P<name>[^']*)': "), "entonnoir '{name}'"),
    (re.compile(r"key '(?P<key>[^']*)' \((?P<rule>[^)]*)\): "), "clé '{key}' ({rule})"),
    (re.compile(r"key '(?P<key>[^']*)': "), "clé '{key}'"),
    (re.compile(r"when\[(?P<i>\d+)\]: "), "when[{i}]"),
    (re.compile(r"(?P<file>[^:]*\.toml): "), "{file}"),
)
#: What the kit's words name in a "not a ... key" message.
_WHAT_FR = {
    "funnel": "d'entonnoir",
    "stage": "de stade",
    "condition": "de condition",
    "filter": "de filtre",
}
#: The French rendering of each message a notebook widget can show, keyed by error kind:
#: the class, then the message (without the place it names) as a pattern.
_MESSAGES_FR: tuple[tuple[type[FunnelkitError], re.Pattern[str], str], ...] = tuple(
    (kind, re.compile(pattern, re.DOTALL), french)
    for kind, pattern, french in (
        (
            DefinitionError,
            r"no such funnel definition file",
            "aucun fichier de définition d'entonnoir à ce chemin",
        ),
        (
            DefinitionError,
            r"not valid TOML: .*\(at line (?P<line>\d+), column (?P<column>\d+)\)",
            "ce n'est pas du TOML valide (ligne {line}, colonne {column})",
        ),
        (DefinitionError, r"not valid TOML: .*", "ce n'est pas du TOML valide"),
        (
            DefinitionError,
            r"not a regular file \([^)]*\); a funnel definition is a \.toml file of at "
            r"most (?P<kib>\d+) KiB",
            "pas un fichier ordinaire ; une définition d'entonnoir est un fichier .toml "
            "d'au plus {kib} Kio",
        ),
        (
            DefinitionError,
            r"cannot read the funnel definition: .*",
            "la définition d'entonnoir ne peut pas être lue",
        ),
        (
            DefinitionError,
            r"the funnel definition is in UTF-16; TOML is UTF-8: save it as UTF-8",
            "la définition est en UTF-16 ; le TOML s'écrit en UTF-8 : enregistrez-la en UTF-8",
        ),
        (
            DefinitionError,
            r"missing; add \[\[stages\]\] tables, first stage first",
            "absente ; ajoutez des tables [[stages]], le premier stade d'abord",
        ),
        (
            DefinitionError,
            r"a funnel needs at least two stages, got (?P<n>\d+)",
            "un entonnoir a au moins deux stades, celui-ci en a {n}",
        ),
        (
            DefinitionError,
            r"duplicate stage id \(stage #(?P<n>\d+) has it too\)",
            "identifiant de stade en double (le stade n° {n} a le même)",
        ),
        (
            DefinitionError,
            r"the rule is empty; give 'events', 'points' or 'when' "
            r"\(only the first stage has no rule\)",
            "la règle est vide ; donnez 'events', 'points' ou 'when' "
            "(seul le premier stade n'a pas de règle)",
        ),
        (
            DefinitionError,
            r"key '(?P<key>[^']*)' is not an? (?P<what>funnel|stage|condition|filter) key\."
            r"(?: Did you mean '(?P<close>[^']*)'\?)? \(\w+ keys: (?P<keys>[^)]*)\)",
            "la clé '{key}' n'est pas une clé {what}.{close} (clés possibles : {keys})",
        ),
        (
            DefinitionError,
            r"only a points condition has it; add 'points' or remove it",
            "seule une condition à points en a une ; ajoutez 'points' ou retirez-la",
        ),
        (
            DefinitionError,
            r"(?P<value>.*) is not a duration; write a whole number and a unit in a string: "
            r"(?P<examples>.*)",
            "{value} n'est pas une durée ; écrivez un nombre entier et une unité entre "
            "guillemets : {examples}",
        ),
        (
            DefinitionError,
            r"cannot read '(?P<value>[^']*)' as a duration; write a whole number and a unit: "
            r"(?P<examples>[^(]*?)(?: \(or (?P<alt>'[^']*')\))?",
            "'{value}' n'est pas une durée ; écrivez un nombre entier et une unité : "
            "{examples}{alt}",
        ),
        (
            DefinitionError,
            r"missing; a points condition needs a threshold, e\.g\. threshold = 3",
            "absente ; une condition à points a besoin d'un seuil, par exemple threshold = 3",
        ),
        (
            MissingColumnError,
            r"the events have no column '(?P<column>[^']*)'\.(?: Did you mean "
            r"'(?P<close>[^']*)'\?)? Map a column of yours to it \(columns=\{'yours': "
            r"'[^']*'\}; --columns yours=[^)]*\), or use a definition without that filter\.",
            "les événements n'ont pas de colonne '{column}'.{close} Faites-lui correspondre une "
            "de vos colonnes (columns={{'la_vôtre': '{column}'}} ; --columns la_vôtre={column}), "
            "ou prenez une définition sans ce filtre.",
        ),
        (
            ParameterError,
            r"order: 'any' has no 'after step k' \(its steps may come in any order\); "
            r"use order='ordered' or 'strict_increase' for drop-off paths",
            "l'ordre « ordre libre » n'a pas d'« après l'étape k » (ses étapes peuvent venir "
            "dans n'importe quel ordre) ; choisissez « dans l'ordre » ou « strictement après » "
            "pour voir les parcours",
        ),
    )
)


def message_in(error: BaseException, lang: str = "en") -> str:
    """Return the message of ``error`` as a reader of ``lang`` should see it in a widget.

    English is the message itself (the one tests and the command line pin).
    French renders the place it names (the file, stage, key) and, for every
    message a notebook widget can show, the message itself in French, from one
    table keyed by error kind; any other message is kept, said to be in English.

    Parameters
    ----------
    error
        The error caught (a :class:`FunnelkitError`, or any exception).
    lang
        ``"en"`` or ``"fr"``.

    Returns
    -------
    str
        The message, as plain text (escape it before writing it as HTML).

    Examples
    --------
    >>> error = DefinitionError("my.toml: stage 'b' (#2): key 'evnts' is not a stage key. "
    ...     "Did you mean 'events'? (stage keys: id, events)")
    >>> print(message_in(error, "fr").replace("\u00a0", " "))  # doctest: +NORMALIZE_WHITESPACE
    my.toml : stade 'b' (n° 2) : la clé 'evnts' n'est pas une clé de stade. Vouliez-vous dire
    'events' ? (clés possibles : id, events)
    >>> message_in(error) == str(error)
    True

    See the guide: docs/guides/explorer.md
    """
    text = str(error)
    if lang != "fr":
        return text
    places = []
    peeled = True
    while peeled:
        peeled = False
        for pattern, french in _PLACES_FR:
            found = pattern.match(text)
            if found:
                places.append(french.format(**found.groupdict()))
                text = text[found.end() :]
                peeled = True
                break
    for kind, pattern, french in _MESSAGES_FR:
        found = pattern.fullmatch(text)
        if isinstance(error, kind) and found:
            values = {k: v or "" for k, v in found.groupdict().items()}
            if values.get("close"):
                values["close"] = f" Vouliez-vous dire '{values['close']}' ?"
            if values.get("alt"):
                values["alt"] = f" (ou {values['alt']})"
            if "what" in values:
                values["what"] = _WHAT_FR[values["what"]]
            text = french.format(**values)
            break
    else:
        text = f"message en anglais : « {text} »"
    # French typography: a no-break space before : ; ? ! and inside « »
    return _FRENCH_SPACE.sub("\u00a0", " : ".join([*places, text]))


_FRENCH_SPACE = re.compile(r" (?=[:;?!»])|(?<=«) ")
