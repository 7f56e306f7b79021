"""The documentation site: a strict build, offline pages, and references that match the code.

The site is built once for the module (``mkdocs build --strict``, as ``make docs``
does): any warning fails it, so a broken link or anchor, a page missing from the
navigation, a cross-reference to a name that does not exist or a docstring that
does not render fails :func:`test_the_site_builds_in_strict_mode`.
"""

from __future__ import annotations

import ast
import fcntl
import functools
import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import funnelkit
import funnelkit.definition_rules as rules
import funnelkit.definitions as definitions
import tests.setup_browser as setup
from funnelkit.cli import build_parser, main
from funnelkit.events import read_events
from funnelkit.privacy import KEY_ENV
from funnelkit.weekly import weekly_metrics

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCHEMA = DOCS / "reference" / "metrics.schema.json"
EVENTS = ROOT / "data" / "sample" / "events.csv"
CONTACTS = ROOT / "data" / "sample" / "contacts.csv"
WEEK = "2026-W47"  # the sample ends on Sunday 2026-11-22
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
BROWSER_ARGS += ["--disable-background-networking", "--disable-component-update"]

# a script, stylesheet, font, image or frame loaded from another host
REMOTE = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*[\"'](?:https?:)?//", re.I
)
REMOTE_CSS = re.compile(r"@import\s+url\([\"']?(?:https?:)?//|fonts\.googleapis", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once per run, strict, into a temporary folder.

    Under pytest-xdist the workers share one build: the first to take the lock
    builds, the others wait for it and read its outcome.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, shared by its workers
    out, outcome = base / "docs-site", base / "docs-site.json"
    with (base / "docs-site.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outcome.exists():
            done = subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                cwd=ROOT,
                env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            outcome.write_text(json.dumps([done.returncode, done.stderr]), encoding="utf-8")
        code, stderr = json.loads(outcome.read_text(encoding="utf-8"))
    problems = [line for line in stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert code == 0, "\n".join(problems) or stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(site: Path) -> None:
    pages = {p.relative_to(site).as_posix() for p in site.rglob("index.html")}
    for page in (
        "index.html",
        "tutorials/prospect-lead-client/index.html",
        "tutorials/prospect-lead-client.fr/index.html",
        "tutorials/first-funnel/index.html",
        "concepts/stages/index.html",
        "concepts/stages.fr/index.html",
        "concepts/semantics-comparison/index.html",
        "reference/cli/index.html",
        "reference/definition-file/index.html",
        "reference/metrics-json/index.html",
        "reference/api/conversion/index.html",
        "project/performance/index.html",
        "project/layout/index.html",
    ):
        assert page in pages
    assert (site / "reference" / "metrics.schema.json").is_file()


@pytest.mark.slow
def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    remote = {}
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        found = REMOTE.findall(text) + REMOTE_CSS.findall(text)
        if found:
            remote[page.relative_to(site).as_posix()] = found[:3]
    for sheet in site.rglob("*.css"):
        if REMOTE_CSS.search(sheet.read_text(encoding="utf-8")):
            remote[sheet.relative_to(site).as_posix()] = ["@import of a remote stylesheet"]
    assert remote == {}


@pytest.mark.slow
def test_the_tutorials_show_their_outputs(site: Path) -> None:
    english = (site / "tutorials" / "prospect-lead-client" / "index.html").read_text("utf-8")
    french = (site / "tutorials" / "prospect-lead-client.fr" / "index.html").read_text("utf-8")
    analyst = (site / "tutorials" / "first-funnel" / "index.html").read_text("utf-8")
    # the checked cell: classify's entries equal the funnel by entry, on the sample
    assert "[5000, 2804, 1929, 431, 119]" in english
    assert "[5000, 2804, 1929, 431, 119]" in french
    assert "Lead froid" in french
    assert "plotly" in analyst.lower()
    assert "Traceback" not in english + french + analyst


@pytest.mark.slow
def test_the_cli_page_is_generated_from_the_parser(site: Path) -> None:
    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert commands
    for name, sub in commands.items():
        assert f"funnelkit {name}" in page
        for action in sub._actions:
            for option in action.option_strings:
                assert option in page, f"{name} {option}"


def _check(metrics: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(metrics)]
    assert errors == []


@pytest.mark.slow
def test_a_real_report_metrics_json_follows_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "docs tests: a pseudonymisation key that stays here")
    out = tmp_path / "reports"
    code = main(
        [
            "report",
            "--events",
            str(EVENTS),
            "--contacts",
            str(CONTACTS),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    _check(json.loads((out / WEEK / "metrics.json").read_text(encoding="utf-8")))


def test_metrics_of_a_week_without_events_and_breakdown_follow_the_schema() -> None:
    # the week after the data: a warning, null previous values, no breakdown
    metrics = weekly_metrics(read_events(EVENTS), "inbound", week="2026-W48", breakdown=None)
    payload = json.loads(metrics.to_json())
    assert [w["code"] for w in payload["warnings"]] == ["no_events_in_week"]
    _check(payload)


def test_the_schema_rejects_a_key_it_does_not_know() -> None:
    metrics = json.loads(
        weekly_metrics(read_events(EVENTS), "inbound", week="2026-W48", breakdown=None).to_json()
    )
    metrics["surprise"] = 1
    with pytest.raises(AssertionError, match="surprise"):
        _check(metrics)


def test_the_definition_file_page_names_every_key_and_limit() -> None:
    page = (DOCS / "reference" / "definition-file.md").read_text(encoding="utf-8")
    keys = {
        *definitions._FUNNEL_KEYS,
        *definitions._STAGE_KEYS,
        *definitions._RULE_KEYS,
        *definitions._FILTER_KEYS,
    }
    assert [key for key in sorted(keys) if f"`{key}`" not in page] == []
    assert [op for op in rules.OPS if f"`{op}`" not in page] == []
    limits = [name for name in dir(definitions) if name.startswith("MAX_")]
    assert len(limits) >= 13
    assert [name for name in limits if f"`{name}`" not in page] == []
    table = dict(re.findall(r"\| `(MAX_[A-Z_]+)` \| ([^|]+) \|", page))
    assert table["MAX_STAGES"].strip() == str(definitions.MAX_STAGES)
    assert table["MAX_CONDITIONS"].strip() == str(definitions.MAX_CONDITIONS)
    assert table["MAX_FILE_BYTES"].strip() == f"{definitions.MAX_FILE_BYTES // 1024} KiB"


def test_every_documentation_page_a_docstring_names_exists() -> None:
    named = {}
    package = Path(funnelkit.__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        for page in re.findall(r"``(docs/[\w./-]+\.md)``", doc):
            named.setdefault(page, []).append(path.name)
    assert named, "the module docstrings link to no concept page"
    assert {page: who for page, who in named.items() if not (ROOT / page).is_file()} == {}


def test_long_specifications_left_the_module_docstrings() -> None:
    package = Path(funnelkit.__file__).resolve().parent
    long = {}
    for path in sorted(package.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        prose = doc.split("\nExamples\n--------\n")[0]
        if len(prose.splitlines()) > 40:
            long[path.name] = len(prose.splitlines())
    assert long == {}


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location(
        "funnelkit_docs", DOCS / "hooks" / "funnelkit_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_page_added_to_guides_or_concepts_joins_its_section(tmp_path: Path) -> None:
    from mkdocs.structure.files import File, Files

    hooks = _hooks()
    nav: list[Any] = [
        {"Home": "index.md"},
        {"How-to guides": ["guides/index.md"]},
        {"Concepts": ["concepts/index.md", "concepts/stages.md"]},
        {"Project": [{"Decisions": ["adr/0001-one-core.md"]}]},
    ]
    uris = [
        "index.md",
        "guides/index.md",
        "guides/drivers.md",
        "concepts/index.md",
        "concepts/stages.md",
        "concepts/drop-off-paths.md",
        "adr/0001-one-core.md",
        "adr/0010-drivers.md",
        "elsewhere/orphan.md",
    ]
    files = Files([File(uri, str(tmp_path), str(tmp_path / "site"), True) for uri in uris])
    hooks._open_sections(files, {"nav": nav})
    assert nav[1] == {"How-to guides": ["guides/index.md", "guides/drivers.md"]}
    assert nav[2]["Concepts"][-1] == "concepts/drop-off-paths.md"
    assert nav[3]["Project"][0]["Decisions"] == ["adr/0001-one-core.md", "adr/0010-drivers.md"]
    # a page elsewhere is not added: the strict build reports it as missing from the nav
    assert "elsewhere/orphan.md" not in hooks._listed(nav)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """Serve the built site on a local port, as ``mkdocs serve`` or any web server would."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    "page_path",
    ["tutorials/prospect-lead-client/", "tutorials/first-funnel/", "concepts/stages.fr/"],
)
def test_pages_open_offline_with_their_charts_and_no_js_error(served: str, page_path: str) -> None:
    if setup.chromium_path() is None:
        reason = f"{setup.CHROMIUM} is missing; install it with: python -m tests.setup_browser"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    playwright_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    outside: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(setup.CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

        def block(route: Any) -> None:
            if route.request.url.startswith(served):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", block)
        page.goto(f"{served}/{page_path}", wait_until="load")
        charts = page.locator(".plotly-graph-div").count()
        if page_path.startswith("tutorials/"):
            assert charts >= 2
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
                timeout=60_000,
            )
        assert page.locator("h1").count() >= 1
        browser.close()
    assert errors == []
    assert outside == []


GOOD_MODULE = '''"""A module of the small site."""


def double(x: int) -> int:
    """Return twice ``x``.

    Parameters
    ----------
    x
        A number.

    Returns
    -------
    int
        ``2 * x``.
    """
    return 2 * x
'''

DEFECTS = {
    "a broken link": ("index.md", "See [the guide](guide.md).\n", "guide.md"),
    "a broken anchor": ("index.md", "See [there](api.md#nowhere).\n", "#nowhere"),
    "a page missing from the navigation": ("orphan.md", "# Orphan\n", "orphan.md"),
    "a cross-reference to no name": ("index.md", "[double][small.triple]\n", "small.triple"),
    "a docstring that does not render": (
        "small.py",
        GOOD_MODULE.replace("    x\n        A number.", "    y\n        Not a parameter."),
        "'y' does not appear in the function signature",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("defect", [None, *DEFECTS])
def test_the_site_settings_fail_the_build_on_each_defect(
    tmp_path: Path, defect: str | None
) -> None:
    """The site's own `validation` and mkdocstrings settings, on a small site, with one defect."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp_path / "docs"
    docs.mkdir()
    files = {
        "index.md": "# Home\n\nSee [the API](api.md#small.double).\n",
        "api.md": "# API\n\n::: small\n",
        "small.py": GOOD_MODULE,
    }
    if defect is not None:
        name, text, _ = DEFECTS[defect]
        files[name] = files.get(name, "") + text
    for name, text in files.items():
        (tmp_path if name.endswith(".py") else docs).joinpath(name).write_text(text, "utf-8")
    mkdocstrings = next(p for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    mkdocstrings["mkdocstrings"]["handlers"]["python"]["paths"] = [str(tmp_path)]
    options = mkdocstrings["mkdocstrings"]["handlers"]["python"]["options"]
    options["extensions"] = [str(ROOT / name) for name in options.get("extensions", [])]
    small = {
        "site_name": "small",
        "docs_dir": str(docs),
        "site_dir": str(tmp_path / "site"),
        "validation": config["validation"],
        "markdown_extensions": config["markdown_extensions"],
        "plugins": ["search", mkdocstrings],
        "nav": ["index.md", "api.md"],
    }
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(small), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if defect is None:
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        assert done.returncode != 0
        assert DEFECTS[defect][2] in done.stderr
