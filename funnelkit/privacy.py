"""Pseudonymisation: contact ids that leave the machine are keyed hashes.

Where a table lists contacts, their ids are replaced by a *pseudonym*: the
HMAC-SHA256 of the id under a secret key (``FUNNELKIT_PSEUDONYM_KEY``, else a
key file created once), written as ``p_`` and 16 hexadecimal digits.
:func:`judge_column` tells whether a column holds personal data;
:func:`check_breakdown` refuses a personal breakdown column
(:class:`~funnelkit.errors.PersonalDataError`) unless ``allow_personal=True``,
which shows pseudonyms instead (:func:`pseudonymize_breakdown`);
:func:`personal_values` and :func:`withhold_personal_columns` judge a table
that lists contacts strictly.

Where the key comes from, and the rules for personal columns, are on the
concept page ``docs/concepts/privacy.md`` of the documentation (``make docs``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import re
import secrets
import unicodedata
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import narwhals as nw
import polars as pl

from funnelkit.columns import CONTACT_ID
from funnelkit.errors import ParameterError, PersonalDataError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "ColumnJudgement",
    "check_breakdown",
    "default_key_file",
    "judge_breakdown",
    "judge_column",
    "keep_judgements",
    "load_key",
    "mask",
    "name_tokens",
    "personal_values",
    "pseudonym",
    "pseudonymize",
    "pseudonymize_breakdown",
    "pseudonymize_columns",
    "withhold_personal_columns",
]

KEY_ENV = "FUNNELKIT_PSEUDONYM_KEY"
KEY_FILE_ENV = "FUNNELKIT_PSEUDONYM_KEY_FILE"
PREFIX = "p_"
DIGITS = 16
_MIN_KEY_CHARS = 16

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def default_key_file() -> Path:
    """Return where the local pseudonymisation key is kept.

    ``FUNNELKIT_PSEUDONYM_KEY_FILE`` when set, else
    ``$XDG_CONFIG_HOME/funnelkit/pseudonym.key``, else
    ``~/.config/funnelkit/pseudonym.key``.

    Returns
    -------
    Path

    Examples
    --------
    >>> default_key_file().name
    'pseudonym.key'

    See the concept page: docs/concepts/privacy.md
    """
    override = os.environ.get(KEY_FILE_ENV)
    if override:
        return Path(override).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "funnelkit" / "pseudonym.key"


def load_key(*, key_file: str | Path | None = None, create: bool = True) -> bytes:
    """Return the pseudonymisation key.

    ``FUNNELKIT_PSEUDONYM_KEY`` when set, else the key file, created once with
    a random key when missing; the order is on the privacy page.

    Parameters
    ----------
    key_file
        The key file to read (or create); default :func:`default_key_file`.
        Ignored when ``FUNNELKIT_PSEUDONYM_KEY`` is set.
    create
        Create a missing key file with a fresh random key (mode 0600).  With
        ``create=False`` a missing file is an error.

    Returns
    -------
    bytes

    Raises
    ------
    ParameterError
        The environment key is too short, the key file is empty or missing
        (``create=False``), or it cannot be read or created.

    Examples
    --------
    >>> import os
    >>> os.environ[KEY_ENV] = "an example key, not a secret"
    >>> load_key()
    b'an example key, not a secret'
    >>> del os.environ[KEY_ENV]

    See the concept page: docs/concepts/privacy.md
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env is not None:
        if len(from_env.strip()) < _MIN_KEY_CHARS:
            msg = (
                f"{KEY_ENV} holds {len(from_env.strip())} character(s); a pseudonymisation key "
                f"needs at least {_MIN_KEY_CHARS}. Set it to a long random value, e.g. the "
                "output of: python -c 'import secrets; print(secrets.token_hex(32))'."
            )
            raise ParameterError(msg)
        return from_env.strip().encode("utf-8")
    path = Path(key_file).expanduser() if key_file is not None else default_key_file()
    if not path.exists():
        if not create:
            msg = (
                f"key_file: {path} does not exist. Set {KEY_ENV}, or let funnelkit create the "
                "file (create=True)."
            )
            raise ParameterError(msg)
        _create_key_file(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"key_file: cannot read {path} ({exc.strerror}). Check its permissions."
        raise ParameterError(msg) from exc
    if len(text) < _MIN_KEY_CHARS:
        msg = (
            f"key_file: {path} holds a key of {len(text)} character(s); at least "
            f"{_MIN_KEY_CHARS} are needed. Delete the file to have a new key created."
        )
        raise ParameterError(msg)
    return text.encode("utf-8")


def _create_key_file(path: Path) -> None:
    """Write a random key to ``path`` with mode 0600, unless another process just did."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # created concurrently: read the winner's key
    except OSError as exc:
        msg = (
            f"key_file: cannot create {path} ({exc.strerror}). Set {KEY_ENV} or pass "
            "another key_file."
        )
        raise ParameterError(msg) from exc
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_hex(32) + "\n")


def pseudonym(value: str, *, key: bytes) -> str:
    """Return the pseudonym of one id: ``p_`` and 16 hex digits of HMAC-SHA256(key, id).

    The same id under the same key always gives the same pseudonym, so
    reports of different weeks can be compared without showing the ids.

    Parameters
    ----------
    value
        The id, as text.
    key
        The key (:func:`load_key`).

    Returns
    -------
    str

    Examples
    --------
    >>> pseudonym("c000123", key=b"an example key, not a secret")
    'p_cb2d8cded29bde66'

    See the concept page: docs/concepts/privacy.md
    """
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


def _pseudonymize_series(series: pl.Series, key: bytes) -> pl.Series:
    # HMAC is not a polars expression: hash each distinct id once, then map.
    distinct = series.drop_nulls().unique()
    names = [pseudonym(str(v), key=key) for v in distinct.to_list()]
    return series.cast(pl.String).replace_strict(
        distinct.cast(pl.String), pl.Series(names, dtype=pl.String), default=None
    )


def pseudonymize(column: str | pl.Expr, *, key: bytes | None = None) -> pl.Expr:
    """Return an expression giving the pseudonyms of a column of ids.

    Nulls stay null.  Each distinct id is hashed once per batch, so the cost
    grows with the number of distinct ids (about a microsecond each).

    Parameters
    ----------
    column
        A column name or an expression of ids (cast to text).
    key
        The key; default :func:`load_key` (read once, when this is called).

    Returns
    -------
    polars.Expr

    Raises
    ------
    ParameterError
        Without ``key``, when :func:`load_key` cannot read or create one.

    Examples
    --------
    >>> key = b"an example key, not a secret"
    >>> df = pl.DataFrame({"contact_id": ["c000123", None]})
    >>> df.select(pseudonymize("contact_id", key=key))["contact_id"].to_list()
    ['p_cb2d8cded29bde66', None]

    See the concept page: docs/concepts/privacy.md
    """
    secret = load_key() if key is None else key
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.map_batches(
        lambda s: _pseudonymize_series(s, secret), return_dtype=pl.String, is_elementwise=True
    )


def pseudonymize_columns(
    frame: FrameT, columns: Iterable[str] = ("contact_id",), *, key: bytes | None = None
) -> FrameT:
    """Return ``frame`` with each of ``columns`` replaced by its pseudonyms.

    What the report's tables of contacts show in place of their ids.

    Parameters
    ----------
    frame
        A polars DataFrame or LazyFrame.
    columns
        The id columns to pseudonymise (default ``contact_id``).
    key
        The key; default :func:`load_key`.

    Returns
    -------
    DataFrame or LazyFrame
        Of the same kind as ``frame``.

    Raises
    ------
    ParameterError
        A column is not in the frame.

    Examples
    --------
    >>> key = b"an example key, not a secret"
    >>> df = pl.DataFrame({"contact_id": ["c000123"], "stage": ["warm lead"]})
    >>> pseudonymize_columns(df, key=key).row(0)
    ('p_cb2d8cded29bde66', 'warm lead')

    See the concept page: docs/concepts/privacy.md
    """
    names = list(columns)
    present = frame.collect_schema().names()
    for name in names:
        if name not in present:
            msg = f"columns: {name!r} is not in the table (columns: {', '.join(present)})."
            raise ParameterError(msg)
    secret = load_key() if key is None else key
    return frame.with_columns(pseudonymize(name, key=secret).alias(name) for name in names)


# --- personal columns ---------------------------------------------------------
#: Words that make a column personal wherever they appear in its name, once
#: normalised (accents stripped, case folded, separators removed): e-mail,
#: telephone, address, birth and national-id words of en, fr, es, de, it, pt, nl.
_PERSONAL_STEMS = (
    "email", "courriel", "correo", "mailadres", "telephone", "telefon", "phone",
    "cellulare", "celular", "movil", "mobiel", "portable", "address", "adresse",
    "direccion", "domicilio", "indirizzo", "endereco", "anschrift", "strasse", "straat",
    "street", "birth", "naissance", "nacimiento", "geburt", "nascita", "nascimento",
    "geboorte", "telefoon", "iban", "passport", "passeport", "firstname", "lastname", "fullname",
    "surname", "forename", "givenname", "familyname", "username", "prenom", "vorname",
    "nachname", "cognome", "apellido", "sobrenome", "voornaam", "achternaam",
    "codicefiscale", "securitesociale", "socialsecurity", "kundenname", "benutzername",
    "nutzername", "gebruikersnaam", "klantnaam", "handynummer", "mobilnummer", "rufnummer",
)  # fmt: skip
#: Words that make a column personal only as a whole token (too short, or part
#: of common words: ``tel`` in ``hotel``, ``rue`` in ``true``, ``ip`` in ``tip``).
_PERSONAL_TOKENS = frozenset(
    {
        "mail", "mel", "tel", "tlf", "fon", "handy", "gsm", "cell", "mobile", "fax",
        "rue", "calle", "adres", "dob", "ssn", "nir", "secu", "dni", "nif", "nie", "cpf",
        "bsn", "ip", "phone", "uid", "userid", "customerid", "contactid", "clientid",
    }
)  # fmt: skip
#: Words for "name": personal alone (``Name``, ``Nom``) or beside a person word
#: (``nom_client``, ``contact_name``), not beside a thing (``plan_name``).
_NAME_TOKENS = frozenset({"name", "nom", "nombre", "nome", "naam", "noms", "names"})
#: Words for "identifier": personal beside a person word (``user_id``, ``id_client``).
_ID_TOKENS = frozenset({"id", "ids", "identifier", "identifiant", "uuid", "guid", "key", "ref"})
_PERSON_TOKENS = frozenset(
    {
        "contact", "customer", "user", "client", "person", "people", "lead", "prospect",
        "visitor", "member", "subscriber", "patient", "employee", "device", "cookie",
        "anonymous", "first", "last", "full", "given", "family", "middle", "maiden", "nick",
        "display", "sur", "famille", "jeune", "usage", "personne", "utilisateur", "abonne",
        "cliente", "contacto", "usuario", "completo", "kunde", "familie", "benutzer",
        "utente", "klant", "gebruiker", "contato", "mae", "pere", "padre", "madre",
        "complet", "kunden", "vollstandiger", "vollstandige", "volledige",
    }
)  # fmt: skip
#: Tokens naming a property of the channel rather than the person: ``email_campaign``,
#: ``email_domain``, ``is_mobile``, ``phone_type`` are ordinary breakdowns.
_THING_TOKENS = frozenset(
    {
        "campaign", "campagne", "campana", "kampagne", "campagna", "campanha", "domain",
        "domaine", "dominio", "provider", "type", "kind", "category", "status", "list",
        "liste", "template", "sequence", "optin", "opt", "consent", "verified", "valid",
        "is", "has", "os", "app", "browser", "platform", "traffic", "share", "flag",
        "open", "opens", "opened", "click", "clicks", "clicked", "sent", "bounce",
        "bounced", "count", "country", "pays", "city", "ville", "region", "zone",
    }
)  # fmt: skip
_STOP_TOKENS = frozenset({"de", "du", "des", "d", "la", "le", "of", "the", "del", "der", "van"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^0-9a-z]+")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:']+@[^@\s<>()\[\],;:']+\.[A-Za-z]{2,}$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-/()]")
_PHONE = re.compile(r"^(?:(?:\+|00)[1-9]\d{7,14}|0\d{8,10})$")
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_PSEUDONYM = re.compile(rf"^{PREFIX}[0-9a-f]{{{DIGITS}}}$")

#: Rows read from the start of a frame to judge a column's values, and values kept.
SAMPLE_ROWS = 10_000
SAMPLE_VALUES = 500
#: Share of the sampled values that makes a column personal, per kind of value.
EMAIL_SHARE = 0.05
PHONE_SHARE = 0.3
ID_SHARE = 0.2

#: The most frequent values of a breakdown column, each judged on its own: those
#: are the values a breakdown prints, whatever share of the rows they hold.
FREQUENT_VALUES = 100

Rule = Literal["name", "email", "phone", "contact_id"]
_E = TypeVar("_E")
_C = TypeVar("_C")


@dataclass(frozen=True)
class ColumnJudgement:
    """Whether a column holds personal data, and why.

    Attributes
    ----------
    column
        The column judged.
    personal
        True when a rule matched.
    rule
        The rule that matched: ``"name"`` (the column's name), ``"email"``,
        ``"phone"`` or ``"contact_id"`` (its sampled values); ``None``.
    reason
        One sentence saying why, for an error message ("" when not personal).
    example
        A masked example value (``a***@d***.fr``), when values decided.
    """

    column: str
    personal: bool
    rule: Rule | None = None
    reason: str = ""
    example: str | None = None

    def __bool__(self) -> bool:
        """Return :attr:`personal`."""
        return self.personal


def name_tokens(name: str) -> tuple[str, ...]:
    """Return the words of a column name, normalised to compare them across languages.

    Accents are stripped (NFKD), camelCase is split, the case is folded and the
    name is cut at every character that is not a letter or a digit
    (``_ - . /`` and spaces).

    Parameters
    ----------
    name
        A column name.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> name_tokens("Téléphone_Mobile")
    ('telephone', 'mobile')
    >>> name_tokens("eMail-Pro")
    ('e', 'mail', 'pro')
    >>> name_tokens("Straße")
    ('strasse',)

    See the concept page: docs/concepts/privacy.md
    """
    split = _CAMEL.sub(" ", name)
    decomposed = unicodedata.normalize("NFKD", split.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return tuple(t for t in _SPLIT.split(plain) if t)


def _name_reason(name: str) -> str | None:
    """Return why ``name`` reads as a personal column, or ``None`` (rules: :func:`judge_column`)."""
    tokens = [t for t in name_tokens(name) if t not in _STOP_TOKENS]
    if not tokens:
        return None
    things = [t for t in tokens if t in _THING_TOKENS]
    joined = "".join(tokens)
    word = next((s for s in _PERSONAL_STEMS if s in joined), None)
    word = word or next((t for t in tokens if t in _PERSONAL_TOKENS), None)
    if word is not None and not things:
        return f"its name contains {word!r}, a word for personal data"
    named = [t for t in tokens if t in _NAME_TOKENS]
    persons = [t for t in tokens if t in _PERSON_TOKENS]
    if named and (len(tokens) == len(named) or persons):
        return f"its name reads as a person's name ({'_'.join(tokens)!r})"
    if any(t in _ID_TOKENS for t in tokens) and persons:
        return f"its name reads as a person's identifier ({'_'.join(tokens)!r})"
    return None


def mask(value: object) -> str:
    """Return ``value`` with most of its characters hidden, to quote it in a message.

    Enough is kept to recognise the kind of value (an address, a phone
    number, an id), never the value itself.

    Parameters
    ----------
    value
        Any value (converted with ``str``).

    Returns
    -------
    str

    Examples
    --------
    >>> mask("accueil@domaine.fr")
    'a***@d***.fr'
    >>> mask("+33 6 12 34 56 78")
    '+3***78'
    >>> mask("c000123")
    'c***'

    See the concept page: docs/concepts/privacy.md
    """
    text = str(value)
    if "@" in text:
        local, _, domain = text.rpartition("@")
        host, dot, tld = domain.rpartition(".")
        return f"{local[:1]}***@{host[:1]}***{dot}{tld}" if dot else f"{local[:1]}***@***"
    digits = _PHONE_SEPARATORS.sub("", text)
    if len(digits) >= 8 and digits.lstrip("+").isdigit():
        return f"{digits[:2]}***{digits[-2:]}"
    return f"{text[:1]}***"


def _polars_frame(frame: object) -> pl.LazyFrame | pl.DataFrame | None:
    """Return the polars frame of ``frame`` (an EventLog or ContactTable has one in ``.frame``)."""
    inner = getattr(frame, "frame", frame)
    return inner if isinstance(inner, pl.LazyFrame | pl.DataFrame) else None


def _columns(frame: object) -> list[str]:
    polars = _polars_frame(frame)
    if polars is not None:
        return polars.collect_schema().names()
    native: Any = frame
    return list(nw.from_native(native).collect_schema().names())


def _sample(frame: object, column: str, size: int) -> pl.DataFrame:
    """Return up to ``size`` non-null values of ``column`` (and the rows' ``contact_id``).

    Bounded whatever the frame's length: the first :data:`SAMPLE_ROWS` rows of a
    lazy frame or an engine table (a slice the reader stops at), plus, in an
    in-memory frame, ``size`` rows drawn at random (a seeded gather, no pass).
    """
    keep = [column] + ([CONTACT_ID] if column != CONTACT_ID else [])
    polars = _polars_frame(frame)
    if polars is None:
        native: Any = frame
        lf = nw.from_native(native)
        keep = [c for c in keep if c in lf.collect_schema().names()]
        head = lf.select(keep).head(SAMPLE_ROWS)
        if isinstance(head, nw.LazyFrame):
            first: pl.DataFrame = head.collect(backend="polars").to_native()
        else:
            first = head.to_polars()
    else:
        keep = [c for c in keep if c in polars.collect_schema().names()]
        first = polars.lazy().select(keep).head(SAMPLE_ROWS).collect()
        if isinstance(polars, pl.DataFrame) and polars.height > SAMPLE_ROWS:
            rows = random.Random(0).sample(range(polars.height), min(size, polars.height))
            drawn = polars.select(keep)[rows]  # a gather: no pass over the frame
            first = pl.concat([first, drawn], how="vertical_relaxed")
    values = first.filter(pl.col(column).is_not_null())
    return values


def _value_judgement(column: str, sample: pl.DataFrame) -> ColumnJudgement | None:
    """Judge the sampled values with polars' own regular expressions (no Python loop)."""
    if sample.is_empty():
        return None
    texts = sample[column].cast(pl.String).str.strip_chars()
    total = len(texts)
    if texts.str.contains(_PSEUDONYM.pattern).all():
        return None  # already pseudonymised
    digits = texts.str.replace_all(_PHONE_SEPARATORS.pattern, "")
    phones = digits.str.contains(_PHONE.pattern) & ~texts.str.contains(_DATE_LIKE.pattern)
    if sample.schema[column] != pl.String:
        phones = phones & False  # numbers are counts or codes: a phone is written as text
    checks: list[tuple[Rule, pl.Series, float, str]] = [
        ("email", texts.str.contains(_EMAIL.pattern), EMAIL_SHARE, "look like e-mail addresses"),
        ("phone", phones, PHONE_SHARE, "look like phone numbers"),
    ]
    if CONTACT_ID in sample.columns and column != CONTACT_ID:
        ids = sample[CONTACT_ID].cast(pl.String)
        same = texts.is_in(ids.implode(), nulls_equal=False) | (texts == ids)
        checks.append(("contact_id", same, ID_SHARE, "are contact ids"))
    for rule, hits, share, what in checks:
        found = hits.fill_null(False)
        count = int(found.sum())
        if count and count / total >= share:
            return ColumnJudgement(
                column,
                True,
                rule,
                f"{count} of {total} sampled values {what}",
                mask(texts.filter(found)[0]),
            )
    return None


def _frequent_values(frame: object, column: str) -> pl.Series:
    """Return the :data:`FREQUENT_VALUES` most frequent non-null values of ``column``, as text.

    One aggregation of one column over the whole frame (the breakdown that
    follows reads it all anyway), run by the frame's own engine.
    """
    polars = _polars_frame(frame)
    if polars is not None:
        # Counted by value as stored, then by value as text once per distinct value:
        # the same counts as stripping all the rows first, for half the cost.
        top = (
            polars.lazy()
            .select(column)
            .drop_nulls()
            .group_by(column)
            .len()
            .select(pl.col(column).cast(pl.String).str.strip_chars(), "len")
            .group_by(column)
            .agg(pl.col("len").sum())
            .sort("len", descending=True)
            .head(FREQUENT_VALUES)
            .collect(engine="streaming")
        )
    else:
        native: Any = frame
        lf = nw.from_native(native)
        counted = (
            lf.filter(~nw.col(column).is_null())
            .group_by(column)
            .agg(nw.len().alias("len"))
            .sort("len", descending=True)
            .head(FREQUENT_VALUES)
        )
        collected = counted.collect() if isinstance(counted, nw.LazyFrame) else counted
        top = collected.to_polars()
    return top[column].cast(pl.String).str.strip_chars()


def _frequent_value_judgement(frame: object, column: str) -> ColumnJudgement | None:
    """Judge the values a breakdown by ``column`` would print: any e-mail address among them."""
    values = _frequent_values(frame, column)
    emails = values.filter(values.str.contains(_EMAIL.pattern))
    if emails.is_empty():
        return None
    reason = (
        f"{len(emails)} of its {FREQUENT_VALUES} most frequent values, which a breakdown "
        "prints, look like e-mail addresses"
    )
    return ColumnJudgement(column, True, "email", reason, mask(emails[0]))


def judge_column(
    column: str, frame: object = None, *, sample_size: int = SAMPLE_VALUES
) -> ColumnJudgement:
    """Tell whether a column holds personal data: by its name, then by its values.

    By name, in seven languages (e-mail, phone, address, birth, national id,
    a person's name, a contact id; not ``plan_name`` nor ``email_campaign``);
    by values, on a bounded sample (a share of e-mail addresses, phone
    numbers or contact ids).  The rules are listed on the privacy page.

    Parameters
    ----------
    column
        The column's name.
    frame
        A polars DataFrame or LazyFrame, an EventLog or ContactTable, or a
        DuckDB or Spark table, holding ``column``; ``None`` judges the name only.
    sample_size
        How many values the random part of the sample draws.

    Returns
    -------
    ColumnJudgement
        Truthy when personal, with the rule, the reason and a masked example.

    Examples
    --------
    >>> judge_column("Courriel").reason
    "its name contains 'courriel', a word for personal data"
    >>> bool(judge_column("plan_name"))
    False
    >>> segments = pl.DataFrame({"segment": ["accueil@domaine.fr"] * 3})
    >>> judge_column("segment", segments).example
    'a***@d***.fr'

    See the concept page: docs/concepts/privacy.md
    """
    reason = _name_reason(column)
    if reason is not None:
        return ColumnJudgement(column, True, "name", reason)
    if frame is not None and column in _columns(frame):
        found = _value_judgement(column, _sample(frame, column, sample_size))
        if found is not None:
            return found
    return ColumnJudgement(column, False)


def judge_breakdown(column: str, frame: object = None) -> ColumnJudgement:
    """Tell whether a breakdown by ``column`` would print personal data.

    :func:`judge_column`, then, when it passes and ``frame`` is given, the
    column's :data:`FREQUENT_VALUES` most frequent values (those a breakdown
    prints): one that looks like an e-mail address makes the column personal,
    however few of the rows it holds (a shared inbox is a big segment).  On
    a frame whose rows cannot change (:func:`keep_judgements`) a column is
    judged once; the verdict is served again.

    Parameters
    ----------
    column
        The column's name.
    frame
        The frame holding it, or ``None`` (judges the name only).

    Returns
    -------
    ColumnJudgement
        Truthy when personal, with the rule, the reason and a masked example.

    Examples
    --------
    >>> desks = pl.DataFrame({"desk": ["b2b"] * 99 + ["accueil@mairie.fr"]})
    >>> bool(judge_column("desk", desks)), judge_breakdown("desk", desks).example
    (False, 'a***@m***.fr')

    See the concept page: docs/concepts/privacy.md
    """
    kept = _kept_verdicts(frame)
    if kept is not None and column in kept:
        return kept[column]
    judged = judge_column(column, frame)
    if not judged and frame is not None and column in _columns(frame):
        judged = _frequent_value_judgement(frame, column) or judged
    if kept is not None:
        kept[column] = judged
    return judged


#: :func:`judge_breakdown`'s verdicts on frames whose rows cannot change, by the frame's
#: ``id``; an entry goes when its frame is freed, before that ``id`` can name another.
_VERDICTS: dict[int, dict[str, ColumnJudgement]] = {}
_FIXED: dict[int, weakref.ref[Any]] = {}


def keep_judgements(frame: object) -> None:
    """Remember :func:`judge_breakdown`'s verdicts on ``frame``'s columns from now on.

    The verdict on a column reads its most frequent values over every row,
    which costs a pass over the frame at each breakdown.  Once ``frame`` is
    kept, each column is judged once and its verdict served again while the
    frame lives; it is forgotten when the frame is freed.  Call it only on a
    frame nobody changes in place (a frame a funnelkit object holds for
    itself): the verdicts are not checked again.  A log or contacts table
    read by :func:`~funnelkit.events.read_events` and held in memory is
    kept without this call, its rows being fixed.

    Parameters
    ----------
    frame
        A polars frame, an EventLog or ContactTable, whose rows will not change.

    Raises
    ------
    ParameterError
        When ``frame`` is none of those (another engine's frame is judged
        again at each breakdown).

    Examples
    --------
    >>> desks = pl.DataFrame({"desk": ["b2b"] * 99 + ["accueil@mairie.fr"]})
    >>> keep_judgements(desks)
    >>> bool(judge_breakdown("desk", desks)), bool(judge_breakdown("desk", desks))
    (True, True)

    See the concept page: docs/concepts/privacy.md
    """
    if _polars_frame(frame) is None:
        msg = (
            "keep_judgements takes a polars frame, an EventLog or a ContactTable, "
            f"not {type(frame).__name__}"
        )
        raise ParameterError(msg)
    key = id(frame)
    if key in _FIXED and _FIXED[key]() is frame:
        return

    def forget(_: object, key: int = key) -> None:
        _FIXED.pop(key, None)
        _VERDICTS.pop(key, None)

    _FIXED[key] = weakref.ref(frame, forget)
    _VERDICTS[key] = {}


def _kept_verdicts(frame: object) -> dict[str, ColumnJudgement] | None:
    """Return the verdicts kept for ``frame``, or ``None`` when its rows may change."""
    if frame is None:
        return None
    key = id(frame)
    if key not in _FIXED or _FIXED[key]() is not frame:
        # A validated table held in memory (frozen, over collected rows) cannot change.
        if getattr(frame, "held", None) != "memory" or _polars_frame(frame) is None:
            return None
        keep_judgements(frame)
    return _VERDICTS[key]


#: The kinds of personal value, as the note under a contact-level table names them.
_WITHHELD_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "note": "Columns withheld as personal data: {columns}.",
        "name": "by its name",
        "email": "an e-mail address",
        "phone": "a phone number",
        "contact_id": "a contact id",
    },
    "fr": {
        "note": "Colonnes masquées (données personnelles) : {columns}.",
        "name": "par son nom",
        "email": "une adresse e-mail",
        "phone": "un numéro de téléphone",
        "contact_id": "un identifiant de contact",
    },
}
#: A number shorter than this is a count or a score, not read as a contact id even
#: when the ids are numbers too (``idle_days`` 12 beside a contact ``12``).
_SHORT_NUMBER = 5


def _leaves(values: pl.Series) -> list[pl.Series]:
    """Return the scalar series inside ``values``: list items and struct fields, flattened."""
    if isinstance(values.dtype, pl.List | pl.Array):
        return _leaves(values.explode())
    if isinstance(values.dtype, pl.Struct):
        fields = values.struct.fields
        return [leaf for name in fields for leaf in _leaves(values.struct.field(name))]
    return [values]


def _as_text(values: pl.Series) -> pl.Series:
    """Return scalar values as text; bytes are decoded (invalid UTF-8 replaced), not refused."""
    if values.dtype == pl.Binary:  # polars refuses a whole column for one invalid byte
        decoded = [None if v is None else v.decode("utf-8", "replace") for v in values.to_list()]
        return pl.Series(values.name, decoded, dtype=pl.String)
    try:
        return values.cast(pl.String, strict=False)
    except pl.exceptions.PolarsError:  # durations, objects: not text an address is written in
        return pl.Series(values.name, [None] * len(values), dtype=pl.String)


def personal_values(
    frame: pl.DataFrame | pl.LazyFrame,
    column: str,
    *,
    id_columns: Sequence[str] = (CONTACT_ID,),
) -> ColumnJudgement:
    """Tell whether a column of a table of individual contacts holds personal data.

    The strict rule for tables listing contacts one per row: personal when
    the name is, or when **any one** value looks like an e-mail address or a
    phone number or equals a contact id of the table (a value of one of
    ``id_columns``; numbers of fewer than 5 characters are not read as ids).
    Every row is read, not a sample.

    Parameters
    ----------
    frame
        The table as it is to be shown.
    column
        The column to judge.
    id_columns
        The columns holding contact ids (not judged here: they are shown as
        pseudonyms, :func:`pseudonymize_columns`).

    Returns
    -------
    ColumnJudgement
        Truthy when personal, with the rule, the reason and a masked example.

    Raises
    ------
    ParameterError
        ``column`` is not in ``frame``.

    Examples
    --------
    >>> stalled = pl.DataFrame({"contact_id": [f"c{i}" for i in range(10)],
    ...     "note": ["call back"] * 9 + ["+33 6 12 34 56 78"]})
    >>> judged = personal_values(stalled, "note")
    >>> judged.rule, judged.example
    ('phone', '+3***78')
    >>> bool(judge_column("note", stalled))
    False

    See the concept page: docs/concepts/privacy.md
    """
    names = frame.collect_schema().names()
    if column not in names:
        msg = f"column: {column!r} is not in the table (columns: {', '.join(names)})."
        raise ParameterError(msg)
    reason = _name_reason(column)
    if reason is not None:
        return ColumnJudgement(column, True, "name", reason)
    ids = [c for c in id_columns if c in names and c != column]
    table = frame.lazy().select(column, *ids).collect()
    known = pl.concat([table[c].cast(pl.String).str.strip_chars() for c in ids or [column]])
    known = known.drop_nulls() if ids else known.clear()
    texts: list[pl.Series] = []
    hits: dict[Rule, list[pl.Series]] = {"email": [], "phone": [], "contact_id": []}
    for leaf in _leaves(table[column]):  # one pass per list or struct field, not per row
        text = _as_text(leaf).str.strip_chars()
        is_text = leaf.dtype == pl.String or isinstance(leaf.dtype, pl.Categorical | pl.Enum)
        digits = text.str.replace_all(_PHONE_SEPARATORS.pattern, "")
        phone = digits.str.contains(_PHONE.pattern) & ~text.str.contains(_DATE_LIKE.pattern)
        same = text.is_in(known.implode())
        if not is_text:
            same = same & (text.str.len_chars() >= _SHORT_NUMBER)
        texts.append(text)
        hits["email"].append(text.str.contains(_EMAIL.pattern))
        hits["phone"].append(phone & is_text)
        hits["contact_id"].append(same)
    if not texts:
        return ColumnJudgement(column, False)
    every = pl.concat(texts)
    total = int(every.is_not_null().sum())
    whats: dict[Rule, str] = {
        "email": "look like e-mail addresses",
        "phone": "look like phone numbers",
        "contact_id": "are contact ids",
    }
    for rule, what in whats.items():
        found = pl.concat(hits[rule]).fill_null(False)
        count = int(found.sum())
        if count:
            example = mask(every.filter(found)[0])
            return ColumnJudgement(column, True, rule, f"{count} of {total} values {what}", example)
    return ColumnJudgement(column, False)


def withhold_personal_columns(
    frame: pl.DataFrame,
    *,
    id_columns: Sequence[str] = (CONTACT_ID,),
    lang: str = "en",
) -> tuple[pl.DataFrame, str]:
    """Drop from a table of individual contacts every column :func:`personal_values` flags.

    The report's follow-up table goes through it: a personal column is
    dropped and named in a note, never shown.

    Parameters
    ----------
    frame
        The table as it is to be shown (e.g. :func:`funnelkit.weekly.stalled_contacts`).
    id_columns
        The columns holding contact ids: kept, to be pseudonymised by the caller.
    lang
        ``"en"`` or ``"fr"``: the language of the note.

    Returns
    -------
    tuple of pl.DataFrame and str
        The table without the personal columns, and a one-sentence note naming
        them and why, to print under the table (``""`` when none was dropped).
        The note never quotes a value.

    Raises
    ------
    ParameterError
        ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> stalled = pl.DataFrame({"contact_id": ["c1", "c2"], "Nom": ["Ann", "Bob"],
    ...     "desk": ["b2b", "ann@example.org"], "idle_days": [3, 4]})
    >>> shown, note = withhold_personal_columns(stalled)
    >>> shown.columns
    ['contact_id', 'idle_days']
    >>> note
    'Columns withheld as personal data: Nom (by its name), desk (an e-mail address).'

    See the concept page: docs/concepts/privacy.md
    """
    words = _WITHHELD_WORDS.get(lang)
    if words is None:
        msg = f"lang: expected 'en' or 'fr', got {lang!r}."
        raise ParameterError(msg)
    judged = [
        personal_values(frame, c, id_columns=id_columns)
        for c in frame.columns
        if c not in id_columns
    ]
    withheld = [j for j in judged if j and j.rule is not None]
    if not withheld:
        return frame, ""
    columns = ", ".join(f"{j.column} ({words[str(j.rule)]})" for j in withheld)
    return frame.drop(j.column for j in withheld), words["note"].format(columns=columns)


def check_breakdown(
    column: str | None,
    frames: Sequence[object] = (),
    *,
    allow_personal: bool = False,
    option: str = "by",
) -> ColumnJudgement | None:
    """Refuse a breakdown by a personal column unless ``allow_personal`` is set.

    A breakdown prints one row per value, so a personal column
    (:func:`judge_breakdown`, on the first of ``frames`` holding it) is refused
    with a message naming the column, the reason and the way out.  Accepted
    with ``allow_personal=True``, its values are to be replaced by keyed
    pseudonyms (:func:`pseudonymize_breakdown`); only polars frames can be, so
    a personal column of a DuckDB or Spark table is refused even then.

    Parameters
    ----------
    column
        The breakdown column, or ``None`` (nothing to check).
    frames
        The frames the column may come from (events, then contacts).
    allow_personal
        Accept a personal column, to be pseudonymised.
    option
        The parameter named in the message (``by``, ``--by``, ``--breakdown``).

    Returns
    -------
    ColumnJudgement or None
        The judgement, or ``None`` without a column.

    Raises
    ------
    PersonalDataError
        The column is personal and ``allow_personal`` is off, or it is on but
        the column is in an engine table.

    Examples
    --------
    >>> check_breakdown("Courriel")
    Traceback (most recent call last):
    ...
    funnelkit.errors.PersonalDataError: by: the column 'Courriel' holds personal data ...

    See the concept page: docs/concepts/privacy.md
    """
    if column is None:
        return None
    if not isinstance(column, str):
        msg = f"{option}: give one column name as text (e.g. 'channel'), got {column!r}"
        raise ParameterError(msg)
    holder = next((f for f in frames if f is not None and column in _columns(f)), None)
    judged = judge_breakdown(column, holder)
    if not judged:
        return judged
    why = judged.reason + (f", e.g. {judged.example}" if judged.example else "")
    flag = "--allow-personal" if option.startswith("-") else "allow_personal=True"
    if not allow_personal:
        msg = (
            f"{option}: the column {column!r} holds personal data ({why}); a breakdown by it "
            "would print people's data. Break down by another column (a channel, campaign or "
            f"source), or pass {flag} to break down by it with its values replaced by keyed "
            "pseudonyms."
        )
        raise PersonalDataError(msg)
    if holder is not None and _polars_frame(holder) is None:
        msg = (
            f"{option}: the column {column!r} holds personal data ({why}) and its values can "
            "only be pseudonymised in polars; read the data from files, or break down by a "
            "pseudonymised column computed in the engine."
        )
        raise PersonalDataError(msg)
    return judged


def pseudonymize_breakdown(
    events: _E,
    contacts: _C,
    column: str | None,
    *,
    allow_personal: bool = False,
    option: str = "by",
    key: bytes | None = None,
) -> tuple[_E | pl.LazyFrame, _C | pl.LazyFrame]:
    """Check a breakdown column (:func:`check_breakdown`); pseudonymise it when personal.

    A column that is not personal (or ``None``) leaves the frames unchanged.
    A personal column accepted with ``allow_personal=True`` is replaced, in
    the frame holding it, by its keyed pseudonyms: the breakdown counts the
    same people under ``p_...`` labels and never prints a value.

    Parameters
    ----------
    events, contacts
        The frames the column may come from (``contacts`` may be ``None``).
    column
        The breakdown column, or ``None``.
    allow_personal, option
        As in :func:`check_breakdown`.
    key
        The key; default :func:`load_key`.

    Returns
    -------
    tuple
        ``(events, contacts)``; the frame holding a pseudonymised column
        comes back lazy.

    Raises
    ------
    PersonalDataError
        As :func:`check_breakdown`.

    Examples
    --------
    >>> key = b"an example key, not a secret"
    >>> events = pl.DataFrame({"contact_id": ["c1"], "Courriel": ["ana@ex.fr"]})
    >>> out, _ = pseudonymize_breakdown(events, None, "Courriel", allow_personal=True, key=key)
    >>> out.collect()["Courriel"].to_list()
    ['p_c4f28fcded505dbf']

    See the concept page: docs/concepts/privacy.md
    """
    judged = check_breakdown(
        column, [events, contacts], allow_personal=allow_personal, option=option
    )
    if column is None or judged is None or not judged:
        return events, contacts
    secret = load_key() if key is None else key
    frames: list[_E | _C | pl.LazyFrame] = [events, contacts]
    for i, frame in enumerate(frames):
        polars = _polars_frame(frame) if frame is not None else None
        if polars is not None and column in polars.collect_schema().names():
            frames[i] = polars.lazy().with_columns(pseudonymize(column, key=secret).alias(column))
            break
    return frames[0], frames[1]  # type: ignore[return-value]
