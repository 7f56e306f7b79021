"""CSV files a spreadsheet opens safely: text cells never read as formulas.

:func:`spreadsheet_safe` is applied to every CSV funnelkit writes for people
(the command line's tables, the weekly report's follow-up list), so that an
event name, a label or a contact id starting with ``=`` is shown as text by
Excel, LibreOffice and Google Sheets instead of being run.

It imports nothing of funnelkit, so every module can use it.
"""

from __future__ import annotations

import re

import polars as pl

__all__ = ["spreadsheet_safe"]

#: What a spreadsheet reads as the start of a formula in a cell (OWASP "CSV injection").
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
#: Cells that start so but are plain numbers (``-3``, ``+33.5``), which stay as they are.
_PLAIN_NUMBER = re.compile(r"^[+-]?[0-9]+(?:[.,][0-9]+)?$")


def spreadsheet_safe(df: pl.DataFrame) -> pl.DataFrame:
    """Return ``df`` with text cells a spreadsheet would run as a formula made inert.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return (but not a plain number such as ``-3``) gets a leading ``'``, so
    Excel, LibreOffice and Google Sheets show it as text instead of running
    ``=HYPERLINK(...)`` or ``=cmd|...`` from an event name, a label or an id.
    Enum and categorical columns are written as plain text first.  Parquet and
    JSON outputs keep values as read: only CSV goes through this.

    Parameters
    ----------
    df
        The table about to be written as CSV.

    Returns
    -------
    pl.DataFrame
        The same rows and columns; risky text cells start with ``'``.

    Examples
    --------
    >>> spreadsheet_safe(pl.DataFrame({"e": ["=1+1", "-3", "ok"]}))["e"].to_list()
    ["'=1+1", '-3', 'ok']

    See the concept page: docs/concepts/untrusted-input.md
    """
    df = df.with_columns(pl.col(pl.Enum, pl.Categorical).cast(pl.String))
    text = [name for name, dtype in df.schema.items() if dtype == pl.String]
    if not text:
        return df
    risky = pl.col(text).str.contains(_FORMULA_START.pattern)
    plain = pl.col(text).str.contains(_PLAIN_NUMBER.pattern)
    return df.with_columns(
        pl.when(risky & ~plain).then(pl.lit("'") + pl.col(text)).otherwise(pl.col(text)).name.keep()
    )
