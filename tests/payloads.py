"""Hostile texts and the checks that they stay text in funnelkit's HTML (not a test module).

A definition and an event log whose every free text (name, description, stage
labels, event names, property values, a column name) holds an HTML, script,
Markdown or template payload, and :func:`assert_inert`, which fails when a
piece of HTML would run or render any of them.
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVENTS = ROOT / "data" / "sample" / "events.csv"

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = '<a href="javascript:alert(1)">x</a>'
SVG = "<svg onload=alert(1)>"
QUOTES = "\"'><script>"
TEMPLATE = "{{7*7}}"
MARKDOWN = "[x](javascript:alert(1))"

#: Every payload, for the tests that run one function on each.
PAYLOADS = (SCRIPT, IMG, LINK, SVG, QUOTES, TEMPLATE, MARKDOWN)
#: The payloads that are markup: none may appear as it is in HTML output.
MARKUP_PAYLOADS = (SCRIPT, IMG, LINK, SVG, QUOTES)
#: The column the payload log breaks down by (it replaces the sample's ``channel``).
COLUMN = SVG

#: Tags funnelkit writes itself; any other tag in its output came from data.
_OWN_TAGS = frozenset(
    "a b body br caption code div h1 h2 h3 h4 h5 h6 head html i meta p pre small span strong "
    "style sup table tbody td th thead title tr".split()
)
_SAFE_HREF = ("http://", "https://", "mailto:", "#")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _OWN_TAGS:
            self.found.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"handler {name}= on <{tag}>")
            if name in ("href", "src", "xlink:href") and value is not None:
                has_scheme = ":" in value.split("/")[0]
                if has_scheme and not value.startswith(_SAFE_HREF):
                    self.found.append(f"{name}={value!r} on <{tag}>")


def assert_inert(fragment: object) -> None:
    """Fail when ``fragment`` (HTML) holds a payload as markup: a tag, handler or link of it."""
    text = str(getattr(fragment, "data", fragment))
    for payload in MARKUP_PAYLOADS:
        assert payload not in text, f"raw payload {payload!r} in {text[:300]!r}"
    parser = _Tags()
    parser.feed(text)
    parser.close()
    assert parser.found == [], f"{parser.found} in {text[:300]!r}"


def write_definition(path: Path) -> Path:
    """Write a four-stage definition whose texts are payloads; return ``path``."""

    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    toml = f"""name = {q(SCRIPT)}
description = {q(IMG + " " + MARKDOWN + " " + TEMPLATE)}

[[stages]]
id = "prospect"
labels = {{ en = {q(SVG)}, fr = {q(SVG + " fr")} }}
description = {q(LINK)}

[[stages]]
id = "lead"
labels = {{ en = {q(LINK)}, fr = {q(LINK + " fr")} }}
description = {q(QUOTES)}
events = ["page_view", "like", "comment", {q(IMG)}]

[[stages]]
id = "qualified"
labels = {{ en = {q(IMG)}, fr = {q(IMG + " fr")} }}
description = {q(MARKDOWN)}
events = ["ebook_download", "form_fill", "demo_request", "meeting", {q(SCRIPT)}]

[[stages]]
id = "client"
labels = {{ en = {q(QUOTES + TEMPLATE)}, fr = {q(TEMPLATE)} }}
description = {q(SCRIPT)}
events = ["purchase", "subscription"]
"""
    path.write_text(toml, encoding="utf-8")
    return path


def write_events(path: Path, *, since: str = "2026-09-01") -> Path:
    """Write the sample events from ``since`` with payloads in names, values and a column name.

    The ``channel`` column is renamed :data:`COLUMN`; some channels, event
    names, campaigns and contact ids are replaced by payloads.
    """
    values = {"social": IMG, "referral": LINK, "newsletter": SCRIPT, "events": QUOTES}
    events = {"like": IMG, "cta_click": SCRIPT, "comment": MARKDOWN}
    with SAMPLE_EVENTS.open(encoding="utf-8", newline="") as src:
        rows = [r for r in csv.DictReader(src) if r["occurred_at"] >= since]
    renamed = rows[0]["contact_id"]  # a contact with events in every analysis
    with path.open("w", encoding="utf-8", newline="") as dst:
        fields = ["contact_id", "occurred_at", "event", COLUMN, "campaign", "amount"]
        out = csv.DictWriter(dst, fieldnames=fields)
        out.writeheader()
        for number, row in enumerate(rows):
            channel = row.pop("channel")
            row[COLUMN] = values.get(channel, channel)
            row["event"] = events.get(row["event"], row["event"])
            if number % 7 == 0:
                row["campaign"] = TEMPLATE if number % 2 else MARKDOWN
            if row["contact_id"] == renamed:
                row["contact_id"] = SVG
            out.writerow(row)
    return path
