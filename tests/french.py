"""What a French reader sees: hover texts filled in, and the numbers that are not French.

Shared by the tests that walk every string a person reads in French (figures,
explorer, exercise).
"""

from __future__ import annotations

import html
import re
from typing import Any

#: Definition files a user may type the path of, each with a mistake the explorer shows.
BAD_DEFINITIONS = {
    "syntax": 'name = "x"\n[[stages]\nid = "a"\n',
    "no stages": 'name = "x"\n',
    "typo": 'name = "x"\n[[stages]]\nid = "a"\n[[stages]]\nid = "b"\nevnts = ["like"]\n',
    "no rule": 'name = "x"\n[[stages]]\nid = "a"\n[[stages]]\nid = "b"\n',
    "duplicate": 'name = "x"\n[[stages]]\nid = "a"\n[[stages]]\nid = "a"\nevents = ["like"]\n',
    "half life": (
        'name = "x"\n[[stages]]\nid = "a"\n[[stages]]\nid = "b"\nevents = ["like"]\n'
        'half_life = "30d"\n'
    ),
    "duration": (
        'name = "x"\n[[stages]]\nid = "a"\n[[stages]]\nid = "b"\n'
        'points = { like = 1 }\nthreshold = 1\nhalf_life = "a month"\n'
    ),
}


#: A field of a plotly template, e.g. ``%{customdata[1]}``, ``%{y:.1%}``, ``%{x|%Y-%m-%d}``.
_FIELD = re.compile(r"%\{([^}:|]*)([:|][^}]*)?\}")

#: Numbers and labels written the English or ISO way, each with what is wrong with it.
_NOT_FRENCH = (
    (re.compile(r"\d\.\d"), "a decimal point"),
    (re.compile(r"(?<![\d,])[1-9]\d{0,2}(?:,\d{3})+(?![\d,])"), "a thousands comma"),
    (re.compile(r"\d%"), "a percent sign glued to its number"),
    (re.compile(r"\d[ \u00a0]%"), "a percent sign after a space other than U+202F"),
    (re.compile(r"(?<![\d,])\d{1,3}[ \u00a0]\d{3}(?![\d,])"), "thousands split by a wide space"),
    (re.compile(r"\b\d{4}-W\d{2}\b"), "an ISO week label"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "an ISO date"),
)


def not_french(shown: str) -> list[str]:
    """Return what in ``shown`` is written the English or ISO way (empty when all is French)."""
    return [
        f"{why}: {found.group(0)!r}" for rule, why in _NOT_FRENCH for found in rule.finditer(shown)
    ]


def _point(values: Any, index: tuple[int, ...]) -> Any:
    """Return the item of ``values`` at ``index`` (a point, or a row and column of a heat map)."""
    for i in index:
        if values is None or isinstance(values, str):
            return values
        values = values[i]
    return values


def _fill(template: str, fields: dict[str, Any]) -> str:
    def one(found: re.Match[str]) -> str:
        name, spec = found.group(1), found.group(2)
        if spec:  # a d3 format: plotly writes that number, not funnelkit
            return f"<d3 format {found.group(0)}>"
        base, _, rest = name.partition("[")
        value = fields.get(base)
        if rest:
            value = _point(value, tuple(int(k) for k in re.findall(r"(\d+)\]", "[" + rest)))
        return "" if value is None else str(value)

    # each line and tag apart: "5<br>100,0 %" is no "5 100"
    return html.unescape(re.sub(r"<[^>]*>", " | ", _FIELD.sub(one, template)))


def hovers(figure: Any) -> list[str]:
    """Return every hover text of ``figure`` as the browser writes it, point by point.

    Each template is filled with its point's ``customdata``, ``text``, ``x``,
    ``y``, ``meta`` and trace name (Sankey nodes and links with their labels);
    a field plotly would format itself (``%{y:.1%}``) is written
    ``<d3 format ...>``, so that a test sees it.
    """
    shown: list[str] = []
    for trace in figure.data:
        if trace.type == "sankey":
            labels = list(trace.node.label or ())
            for i, label in enumerate(labels):
                custom = _point(trace.node.customdata, (i,))
                fields = {"label": label, "customdata": custom, "value": "<plotly value>"}
                shown.append(_fill(trace.node.hovertemplate or "<plotly default>", fields))
            for i, (source, target) in enumerate(
                zip(trace.link.source, trace.link.target, strict=True)
            ):
                fields = {
                    "source.label": labels[source],
                    "target.label": labels[target],
                    "customdata": _point(trace.link.customdata, (i,)),
                    "value": "<plotly value>",
                }
                template = trace.link.hovertemplate or "<plotly default>"
                shown.append(_fill(template, fields))
            continue
        if getattr(trace, "hoverinfo", None) == "skip":
            continue
        texts = getattr(trace, "hovertext", None)
        if texts is not None and not trace.hovertemplate:
            shown += [_fill(str(t), {}) for t in texts]
            continue
        template = trace.hovertemplate or ""
        if trace.type == "heatmap":
            points: list[tuple[int, ...]] = [
                (r, c) for r in range(len(trace.y or ())) for c in range(len(trace.x or ()))
            ]
        else:
            points = [(i,) for i in range(len(trace.x if trace.x is not None else trace.y or ()))]
        for point in points:
            fields = {
                "customdata": _point(trace.customdata, point),
                "text": _point(trace.text, point)
                if not isinstance(trace.text, str)
                else trace.text,
                "x": trace.x[point[-1]] if trace.x is not None else None,
                "y": trace.y[point[0]] if trace.y is not None else None,
                "z": "<z>",
                "meta": trace.meta,
                "fullData.name": trace.name,
            }
            shown.append(_fill(template, fields))
    return shown
