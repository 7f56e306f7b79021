"""The weekly report's HTML: the executed notebook's outputs, offline, no code cells.

See the concept page: docs/concepts/weekly-report.md
"""

from __future__ import annotations

import re
from pathlib import Path

from funnelkit.errors import ReportError
from funnelkit.report_display import LANGS, lazy_module
from funnelkit.report_folder import HTML_FILE, NOTEBOOK_FILE, read_metrics

__all__ = ["export_html", "one_line"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(text: str, limit: int = 400) -> str:
    """Return ``text`` on one line, without terminal colours, cut at ``limit`` characters."""
    line = " ".join(_ANSI.sub("", text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def export_html(folder: Path) -> None:
    """Write ``report.html`` from the executed notebook: outputs only, no CDN script."""
    try:
        body = _html_of(folder)
    except Exception as exc:  # nbconvert and jinja raise many unrelated types
        msg = f"the HTML export failed ({type(exc).__name__}: {one_line(str(exc))})"
        raise ReportError(msg) from exc
    (folder / HTML_FILE).write_text(body, encoding="utf-8")


def _html_of(folder: Path) -> str:
    import jinja2

    nb = lazy_module("nbformat").read(str(folder / NOTEBOOK_FILE), as_version=4)
    nb.cells = [c for c in nb.cells if "remove-from-report" not in c.metadata.get("tags", [])]
    nb.metadata["title"] = _report_title(folder)
    lang = nb.metadata.get("papermill", {}).get("parameters", {}).get("lang", "en")
    exporter = lazy_module("nbconvert").HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"funnelkit_report.html.j2": _TEMPLATE})],
        template_file="funnelkit_report.html.j2",
        language_code=lang if lang in LANGS else "en",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


# Blank the lab template's blocks that load require.js, MathJax and mermaid from a CDN:
# the report must open offline, and plotly.js is embedded by the first figure cell.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
  body.jp-Notebook { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem; }
  .jp-Cell { padding: 0.1rem 0; }
  table.funnelkit { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
  table.funnelkit th, table.funnelkit td {
    padding: 0.3rem 0.7rem; border-bottom: 1px solid #e0e0e0;
  }
  .jp-RenderedHTMLCommon table.funnelkit th,
  .jp-RenderedHTMLCommon table.funnelkit td { text-align: left; background: none; }
  .jp-RenderedHTMLCommon table.funnelkit th { background: #f5f5f5; }
  .jp-RenderedHTMLCommon table.funnelkit td.num { text-align: right; }
  table.funnelkit td.num { font-variant-numeric: tabular-nums; }
  table.headline tr.increase td:last-child { color: #1a7f37; font-weight: 600; }
  table.headline tr.decrease td:last-child { color: #b2182b; font-weight: 600; }
  table.headline tr.noise td:last-child { color: #6b6b6b; }
  .funnelkit-warning {
    margin: 0.5rem 0 1rem; padding: 0.6rem 0.9rem; border-left: 4px solid #b2182b;
    background: #fdecea; color: #5c0a14;
  }
</style>
{%- endblock extra_css -%}
"""


def _report_title(folder: Path) -> str:
    metrics = read_metrics(folder)
    try:
        return f"funnelkit weekly report {metrics['week']} ({metrics['funnel']['name']})"
    except (KeyError, TypeError):
        return "funnelkit weekly report"
