"""Build HTML from text safely: the one way funnelkit makes HTML.

Every text that comes from data or a definition (a funnel's name, a stage's
label, a column name, an event, a property value, a folder name) is *text*,
never HTML.  This module makes that the default:

* :class:`Markup` is a ``str`` holding HTML that is safe to insert as it is
  (a fragment built here, or a constant written in the package);
* :func:`escape` turns any value into :class:`Markup`, escaping ``& < > " '``
  unless it already is markup;
* :func:`format_html` fills a trusted template with escaped arguments, so an
  unescaped value cannot be written by forgetting a call;
* :func:`plot_text` escapes a text for plotly, whose titles, labels, legends,
  annotations and hover texts understand a subset of HTML (``<a href>``,
  ``<b>``, ``<span style>``...) and decode ``&lt;``, ``&gt;`` and ``&amp;``
  back to the characters they stand for.

It imports nothing of funnelkit, so every module can use it.

Examples
--------
>>> format_html("<p title='{}'>{}</p>", "it's", "<script>alert(1)</script>")
"<p title='it&#x27;s'>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
>>> format_html("<div>{}</div>", format_html("<b>{}</b>", "bold"))
'<div><b>bold</b></div>'
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any, SupportsIndex

__all__ = ["PLOT_ESCAPES", "Markup", "escape", "format_html", "join_html", "plot_text"]

#: What :func:`plot_text` replaces, in this order (``&`` first), for code that
#: escapes whole columns at once.
PLOT_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


class Markup(str):
    """A string of HTML that is safe to insert as it is.

    Build one with :func:`format_html` or :func:`escape`; call ``Markup(...)``
    directly only on a constant written in the package.  Adding or joining a
    plain string to markup escapes that string first.
    """

    __slots__ = ()

    def __html__(self) -> Markup:
        """Return itself (the protocol markupsafe and Jinja read)."""
        return self

    def __add__(self, other: str) -> Markup:
        """Return ``self`` followed by ``other``, escaped unless it is markup."""
        return Markup(str.__add__(self, escape(other)))

    def __radd__(self, other: str) -> Markup:
        """Return ``other``, escaped unless it is markup, followed by ``self``."""
        return Markup(str.__add__(escape(other), self))

    def __mul__(self, count: SupportsIndex) -> Markup:
        """Return ``self`` repeated ``count`` times."""
        return Markup(str.__mul__(self, count))

    def join(self, parts: Iterable[str]) -> Markup:
        """Join ``parts`` with ``self`` between them, escaping each part unless it is markup."""
        return Markup(str.join(self, (escape(p) for p in parts)))

    def format(self, *args: Any, **kwargs: Any) -> Markup:
        """Fill ``self`` as a template with escaped arguments (see :func:`format_html`)."""
        return format_html(self, *args, **kwargs)

    def __mod__(self, values: Any) -> Markup:
        """Refuse ``%`` formatting, which would bypass escaping: use :func:`format_html`."""
        msg = "Markup does not support % formatting; use funnelkit.markup.format_html"
        raise TypeError(msg)


def escape(value: object) -> Markup:
    """Return ``value`` as markup: escaped text, or itself when it already is markup.

    Anything with an ``__html__`` method (a :class:`Markup`, a markupsafe or
    Jinja ``Markup``) is trusted; anything else is converted with ``str`` and
    its ``& < > " '`` escaped, so the result is safe in an element and in a
    quoted attribute value.

    Parameters
    ----------
    value
        Any value.

    Returns
    -------
    Markup

    Examples
    --------
    >>> escape('<a href="javascript:alert(1)">x</a>')
    '&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;'

    See the concept page: docs/concepts/untrusted-input.md
    """
    if isinstance(value, Markup):
        return value
    dunder = getattr(value, "__html__", None)
    if callable(dunder):
        return Markup(dunder())
    return Markup(html.escape(str(value), quote=True))


def _argument(value: object) -> object:
    # Numbers cannot hold markup; keeping them lets a template say "{:,}" or "{:.1%}".
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return escape(value)


def format_html(template: str, /, *args: object, **kwargs: object) -> Markup:
    """Return ``template.format(...)`` with every argument escaped unless it is markup.

    The one way funnelkit builds HTML: the template is trusted code, the
    values are data.

    Parameters
    ----------
    template
        HTML written in the package (trusted); never a text from data.  Quote
        every attribute value: ``<a href='{}'>``.
    *args, **kwargs
        The values: text is escaped, :class:`Markup` is inserted as it is,
        numbers keep their format specifications.

    Returns
    -------
    Markup

    Examples
    --------
    >>> format_html("<td class='num'>{:,}</td><td>{}</td>", 12345, "<svg onload=alert(1)>")
    "<td class='num'>12,345</td><td>&lt;svg onload=alert(1)&gt;</td>"

    See the concept page: docs/concepts/untrusted-input.md
    """
    filled = str.format(  # str's own format: a Markup template would call back here
        template, *(_argument(a) for a in args), **{k: _argument(v) for k, v in kwargs.items()}
    )
    return Markup(filled)


def join_html(parts: Iterable[object], separator: str = "") -> Markup:
    """Join ``parts`` (each escaped unless it is markup) with a trusted ``separator``.

    The list counterpart of :func:`format_html`.

    Parameters
    ----------
    parts
        Texts or markup.
    separator
        HTML written in the package, put between the parts.

    Returns
    -------
    Markup

    Examples
    --------
    >>> join_html([Markup("<br>"), "<b>"], " ")
    '<br> &lt;b&gt;'

    See the concept page: docs/concepts/untrusted-input.md
    """
    return Markup(separator).join(escape(p) for p in parts)


def plot_text(value: object) -> str:
    """Return a text from data ready for a plotly title, label, name or hover text.

    Plotly reads a few tags (``<br>``, ``<b>``, ``<a href=...>``...) in those
    texts and turns ``&lt;``, ``&gt;`` and ``&amp;`` back into ``<``, ``>``
    and ``&``; escaping those three shows the text exactly as written, with no
    tag, link nor style taken from it.  Quotes are left alone: plotly would
    show ``&quot;`` as it is.

    Parameters
    ----------
    value
        Any value (converted with ``str``).

    Returns
    -------
    str

    Examples
    --------
    >>> plot_text("<a href='https://example.com'>Lead & co</a>")
    "&lt;a href='https://example.com'&gt;Lead &amp; co&lt;/a&gt;"

    See the concept page: docs/concepts/untrusted-input.md
    """
    text = str(value)
    for character, entity in PLOT_ESCAPES:
        text = text.replace(character, entity)
    return text
