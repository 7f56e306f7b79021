"""MkDocs hooks of the funnelkit site (named in ``mkdocs.yml``; not part of the package).

- The tutorials are the notebooks of ``notebooks/``, executed here at build time
  (in ``notebooks/``, on the bundled sample) and rendered with their outputs by
  mkdocs-jupyter. An executed copy is kept in ``build/docs-notebooks/`` under a
  key of the notebook, the package's code and the sample data, so an unchanged
  tree does not run them twice.
- ``<!-- funnelkit:cli -->`` in a page is replaced by the reference of the
  command line, generated from ``funnelkit.cli.build_parser()``: it cannot drift.
- The docstrings' Sphinx roles are turned into links by the Griffe extension
  ``docs/hooks/griffe_roles.py`` (named in ``mkdocs.yml``); a role still in a
  page after that is a warning, so the strict build fails.
- A page added under ``docs/guides/``, ``docs/concepts/`` or ``docs/adr/`` and not
  yet listed in ``nav`` is appended to its section, so it is never lost; list it
  in ``mkdocs.yml`` to choose its place. A page anywhere else must be listed.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
LOG = logging.getLogger("mkdocs.hooks.funnelkit_docs")  # under "mkdocs": --strict counts it
NOTEBOOKS = ROOT / "notebooks"
CACHE = ROOT / "build" / "docs-notebooks"

# page of the site -> notebook of notebooks/
TUTORIALS = {
    "tutorials/prospect-lead-client.ipynb": "01_prospect_lead_client.ipynb",
    "tutorials/prospect-lead-client.fr.ipynb": "01_prospect_lead_client.fr.ipynb",
    "tutorials/first-funnel.ipynb": "02_explore_funnel.ipynb",
}

# nav section title -> folder whose pages it gathers
OPEN_SECTIONS = {"How-to guides": "guides/", "Concepts": "concepts/", "Decisions": "adr/"}

WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    "<p><em>An interactive widget is shown here when the notebook runs in "
    "JupyterLab (<code>make lab</code>).</em></p>"
)
CLI_MARK = "<!-- funnelkit:cli -->"
# a Sphinx role left in a page (docs/hooks/griffe_roles.py turns those of the
# docstrings into links): ":func:`funnel`" renders as ":func:<code>funnel</code>"
ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):<code>")
# a script loaded from another host (mkdocs-jupyter adds MathJax from a CDN)
REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)


def _key(notebook: Path) -> str:
    """Hash what a notebook's outputs depend on: itself, the package and the sample."""
    digest = hashlib.sha256(notebook.read_bytes())
    for folder, pattern in ((ROOT / "funnelkit", "**/*"), (ROOT / "data" / "sample", "*")):
        for path in sorted(folder.glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def _without_widgets(nb: nbformat.NotebookNode) -> None:
    """Replace widget views (they need a live kernel) by a sentence."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET in data:
                output["data"] = {"text/html": WIDGET_NOTE, "text/plain": "(widget)"}


def execute(uri: str, name: str) -> Path:
    """Return the folder holding ``uri``: ``notebooks/<name>`` executed, run if needed."""
    source = NOTEBOOKS / name
    folder = CACHE / _key(source)
    target = folder / uri
    if target.exists():
        return folder
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    # plotly.js goes into the page itself (no CDN): the site reads offline.
    previous = os.environ.get("PLOTLY_RENDERER")
    os.environ["PLOTLY_RENDERER"] = "notebook"
    try:
        NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
    finally:
        if previous is None:
            os.environ.pop("PLOTLY_RENDERER", None)
        else:
            os.environ["PLOTLY_RENDERER"] = previous
    _without_widgets(nb)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    for other in CACHE.iterdir():  # older executions of the same notebook
        if other != folder and (other / uri).exists():
            shutil.rmtree(other)
    return folder


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files: Files, config: Any) -> Files:
    """Add the executed tutorials, and open the guides, concepts and decisions sections."""
    for uri, name in TUTORIALS.items():
        folder = execute(uri, name)
        files.append(File(uri, str(folder), config["site_dir"], config["use_directory_urls"]))
    _open_sections(files, config)
    return files


def _open_sections(files: Files, config: Any) -> None:
    listed = set(_listed(config["nav"]))
    for section in _sections(config["nav"]):
        title, entries = next(iter(section.items()))
        folder = OPEN_SECTIONS.get(title)
        if folder is None:
            continue
        for file in sorted(files.documentation_pages(), key=lambda f: f.src_uri):
            if file.src_uri.startswith(folder) and file.src_uri not in listed:
                entries.append(file.src_uri)


def _listed(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [uri for value in nav.values() for uri in _listed(value)]
    if isinstance(nav, list):
        return [uri for item in nav for uri in _listed(item)]
    return []


def _sections(nav: Any) -> list[dict[str, list[Any]]]:
    found: list[dict[str, list[Any]]] = []
    if isinstance(nav, list):
        for item in nav:
            found.extend(_sections(item))
    elif isinstance(nav, dict):
        for value in nav.values():
            if isinstance(value, list):
                found.append(nav)
                found.extend(_sections(value))
    return found


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Fill ``<!-- funnelkit:cli -->`` with the command line's reference."""
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    return markdown


def cli_reference() -> str:
    """Markdown for every sub-command of ``funnelkit``, read from its parser."""
    from funnelkit.cli import build_parser

    parser = build_parser()
    parts = ["```text", _help(parser), "```", ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parts += [f"## `funnelkit {name}`", "", sub.description or "", ""]
                parts += _options_table(sub) + ["", "```text", _help(sub), "```", ""]
    return "\n".join(parts)


def _help(parser: argparse.ArgumentParser) -> str:
    parser = copy.copy(parser)
    parser.formatter_class = _wide
    return parser.format_help().rstrip()


def _wide(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=100, max_help_position=32)


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        positional = action.metavar if isinstance(action.metavar, str) else action.dest
        names = ", ".join(f"`{n}`" for n in action.option_strings) or f"`{positional}`"
        if action.metavar and action.option_strings:
            names += f" `{action.metavar}`"
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) else f"`{default}`"
        meaning = _cell((action.help or "") % {"default": default, "prog": parser.prog})
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            meaning += " (one of " + ", ".join(f"`{c}`" for c in action.choices) + ")"
        rows.append(f"| {names} | {shown} | {meaning} |")
    return rows


def _cell(text: str | None) -> str:
    text = (text or "").replace("|", "\\|")
    return " ".join(text.split())


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Drop scripts loaded from other hosts (the site reads offline); flag Sphinx roles left."""
    for match in ROLE.finditer(output):
        end = output.find("</code>", match.end())
        LOG.warning(
            "%s: a Sphinx role was not turned into a link: %s",
            page.file.src_uri,
            output[match.start() : end + len("</code>")],
        )
    return REMOTE_SCRIPT.sub("", output)
