"""The weekly report's contacts table (pseudonymised) and the local follow-up file.

See the concept page: docs/concepts/privacy.md
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from funnelkit.errors import ReportError
from funnelkit.markup import Markup, format_html
from funnelkit.privacy import withhold_personal_columns
from funnelkit.report_display import NOTES, check_lang, html_table, lazy_module
from funnelkit.spreadsheets import spreadsheet_safe

__all__ = ["FOLLOW_UP_DIR", "FOLLOW_UP_MARK", "contacts_table", "write_follow_up"]

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
    follow_up: str | os.PathLike[str] | None = None,
) -> Any:
    """Return a contact-level table as HTML, ids pseudonymised unless told otherwise.

    Columns that would print personal data are dropped whatever
    ``pseudonymize`` says (:func:`funnelkit.privacy.personal_values`: by their
    name, or by any one of their values); a note under the table names them
    and tells how the ids are shown.

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
    follow_up
        The follow-up file holding the real ids (:func:`write_follow_up`),
        named in the note under the table by its folder and name only
        (``follow-up/2026-W47.csv``), never by its full local path.

    Returns
    -------
    IPython.display.HTML

    Raises
    ------
    ParameterError
        When ``lang`` is neither ``"en"`` nor ``"fr"``.

    Examples
    --------
    >>> key = b"an example key, not a secret"
    >>> frame = pl.DataFrame({"contact_id": ["c1"], "email": ["ann@example.org"]})
    >>> html = contacts_table(frame, key=key).data
    >>> "ann@example.org" in html, "p_" in html
    (False, True)

    See the concept page: docs/concepts/privacy.md
    """
    from funnelkit.privacy import pseudonymize_columns

    check_lang(lang)
    shown, withheld = withhold_personal_columns(frame, id_columns=id_columns, lang=lang)
    ids = [c for c in id_columns if c in shown.columns]
    if pseudonymize and ids:
        shown = pseudonymize_columns(shown, ids, key=key)
    if funnel is not None and "stage" in shown.columns:
        labels = {s.id: s.label(lang) for s in funnel.stages}
        shown = shown.with_columns(pl.col("stage").replace_strict(labels, default=pl.col("stage")))
    note = NOTES[lang]["pseudonymized" if pseudonymize else "real_ids"]
    note = f"{withheld} {note}" if withheld else note
    if follow_up:
        named = f"{Path(follow_up).parent.name}/{Path(follow_up).name}"
        note = f"{note} {NOTES[lang]['follow_up'].format(path=named)}"
    if shown.is_empty():
        return lazy_module("IPython.display").HTML(
            format_html("<p>{}</p>", NOTES[lang]["none_stalled"])
        )
    # html_table built the table with format_html: its HTML is safe as it is
    table = Markup(html_table(shown, lang=lang, headers=_CONTACT_HEADERS[lang]).data)
    return lazy_module("IPython.display").HTML(
        format_html("{}<p><small>{}</small></p>", table, note)
    )


#: The first line of a follow-up file: the kit only ever replaces a file that starts so.
FOLLOW_UP_MARK = "# funnelkit follow-up list: real contact ids, keep local, do not share"
#: The follow-up files' folder, beside the weeks' folders in the report's ``--out``.
FOLLOW_UP_DIR = "follow-up"


def write_follow_up(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the contacts to follow up, with their real ids, to a file only its owner reads.

    The shared report shows pseudonyms (:func:`contacts_table`); this CSV is
    the team's way to act on them.  Its folder is made ``0700`` and the file
    ``0600``, written whole then moved into place; a text cell a spreadsheet
    would run as a formula is prefixed with ``'``.  A file at ``path`` that
    the kit did not write (its first line is not :data:`FOLLOW_UP_MARK`) is
    never replaced.

    Parameters
    ----------
    frame
        The contacts to follow up.
    path
        The CSV file to write.

    Returns
    -------
    Path

    Raises
    ------
    ReportError
        ``path`` holds a file the kit did not write, or cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib, stat
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "follow-up" / "2026-W47.csv"
    >>> out = write_follow_up(pl.DataFrame({"contact_id": ["c1"]}), path)
    >>> oct(stat.S_IMODE(out.stat().st_mode))
    '0o600'

    See the guide: docs/guides/follow-up-list.md
    """
    target = Path(path)
    if target.exists():
        with target.open("rb") as existing:
            first = existing.readline().decode("utf-8", "replace").rstrip("\r\n")
        if first != FOLLOW_UP_MARK:
            msg = (
                f"{target}: this file was not written by funnelkit, so the follow-up list is "
                "not written over it. Hint: move the file away, or render into another --out."
            )
            raise ReportError(msg)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            out.write(FOLLOW_UP_MARK + "\n")
            # Real ids come from the source as they are: "=HYPERLINK(...)" stays text.
            out.write(spreadsheet_safe(frame).write_csv())
        os.chmod(tmp, 0o600)  # whatever the umask or a file left there before
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        msg = f"{target}: the follow-up list cannot be written ({exc.strerror or exc})."
        raise ReportError(msg) from exc
    return target
