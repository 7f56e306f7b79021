"""The weekly report's HTML in a real headless browser (Debian's Chromium via Playwright).

Needs ``/usr/bin/chromium`` (``python -m tests.setup_browser`` installs it with
apt-get when run as root).  Without it the test is skipped locally and fails
when ``CI`` is set.  The page is opened with the network blocked: a report must
not need it.  A screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.setup_browser as setup
from funnelkit.markup import plot_text
from funnelkit.privacy import KEY_ENV
from funnelkit.report import render_report
from tests.payloads import (
    COLUMN,
    IMG,
    LINK,
    MARKUP_PAYLOADS,
    SCRIPT,
    SVG,
    write_definition,
    write_events,
)
from tests.setup_browser import CHROMIUM, chromium_path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
WEEK = "2026-W47"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if chromium_path() is None:
        reason = f"{CHROMIUM} is missing; install it with: python -m tests.setup_browser"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, "browser test key, long enough to be accepted")
        run = render_report(
            events=ROOT / "data" / "sample" / "events.csv",
            contacts=ROOT / "data" / "sample" / "contacts.csv",
            week=WEEK,
            out_dir=out,
            progress=False,
        )
    return run.weeks[0].html


@pytest.mark.browser
@pytest.mark.slow
def test_report_opens_offline_with_rendered_charts_and_no_js_error(
    browser: Any, report_html: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    def block(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    page.goto(report_html.as_uri(), wait_until="load")
    expected = page.locator(".plotly-graph-div").count()
    assert expected >= 2
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}",
        timeout=30_000,
    )
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('.plotly-graph-div'))"
        ".filter(d => d.classList.contains('js-plotly-plot') && d.querySelector('.main-svg'))"
        ".length"
    )
    assert drawn == expected
    assert page.evaluate("typeof window.Plotly") == "object"
    assert page.locator("h1").first.inner_text().startswith(f"Weekly funnel report: {WEEK}")
    assert page.locator(".jp-InputArea").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"weekly-report-{WEEK}.png"), full_page=True)
    page.close()
    assert errors == []
    assert outside == []


# --- a report made of hostile texts ------------------------------------------
@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render, through the real CLI, a week whose definition and data are full of payloads."""
    folder = tmp_path_factory.mktemp("hostile-report")
    out = folder / "reports"
    stray = out / "javascript:alert(1)"  # a folder the kit did not write
    stray.mkdir(parents=True)
    (stray / "report.html").write_text("<p>not a report</p>", encoding="utf-8")
    command = [
        str(Path(sys.executable).with_name("funnelkit")),
        "report",
        "--events",
        str(write_events(folder / "events.csv")),
        "--funnel",
        str(write_definition(folder / "definition.toml")),
        "--breakdown",
        COLUMN,
        "--week",
        WEEK,
        "--out",
        str(out),
        "--no-progress",
    ]
    env = {**os.environ, KEY_ENV: "browser test key, long enough to be accepted"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return out


def _open(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """Open ``path`` offline; return the page, the dialogs it opened and its errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    errors: list[str] = []

    def dialog(d: Any) -> None:
        dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith("file://") else route.abort()
        ),
    )
    page.goto(path.as_uri(), wait_until="load")
    return page, dialogs, errors


_HANDLERS_AND_LINKS = """(payloads) => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const value = attr.value.trim().toLowerCase();
      if (attr.name.startsWith('on') || value.startsWith('javascript:')) {
        found.push(`${el.tagName} ${attr.name}=${attr.value}`);
      }
    }
    if (['IMG', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) found.push(el.tagName);
    if (el.tagName === 'SCRIPT' && payloads.some(p => el.textContent.includes(p))) {
      found.push('SCRIPT with a payload');
    }
  }
  for (const a of document.querySelectorAll('.js-plotly-plot svg a')) found.push('svg link');
  return found;
}"""


def _click_every_link(browser: Any, path: Path) -> list[str]:
    """Click each link of ``path`` in a fresh page; return the dialogs that opened."""
    page, dialogs, _ = _open(browser, path)
    count = page.locator("a[href]").count()
    page.close()
    for number in range(count):
        page, opened, _ = _open(browser, path)
        # a click event, as a user's click sends it (heading anchors show only on hover)
        page.locator("a[href]").nth(number).dispatch_event("click")
        page.wait_for_timeout(150)
        dialogs += opened
        page.close()
    return dialogs


@pytest.mark.browser
@pytest.mark.slow
def test_payloads_in_the_definition_and_data_never_run_in_the_report(
    browser: Any, hostile_reports: Path
) -> None:
    report_html, index_html = hostile_reports / WEEK / "report.html", hostile_reports / "index.html"
    for path in (report_html, index_html):
        text = path.read_text(encoding="utf-8")
        assert [p for p in MARKUP_PAYLOADS if p in text] == [], path.name
    index = index_html.read_text(encoding="utf-8")
    assert "javascript:" not in index.replace("[x](javascript:alert(1))", "")
    assert f"href='{WEEK}/report.html'" in index

    page, dialogs, errors = _open(browser, report_html)
    expected = page.locator(".plotly-graph-div").count()
    assert expected >= 5
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}",
        timeout=60_000,
    )
    for plot in page.locator(".js-plotly-plot").all():  # draw the hover labels too
        box = plot.bounding_box()
        assert box is not None
        for fx, fy in ((0.3, 0.4), (0.5, 0.5), (0.7, 0.6)):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.wait_for_timeout(30)
    assert page.evaluate(_HANDLERS_AND_LINKS, list(MARKUP_PAYLOADS)) == []
    body = page.locator("body").inner_text()
    assert SCRIPT in body and SVG in body  # shown as text, exactly as written
    specs = page.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(d => JSON.stringify({data: d.data, layout: d.layout}))"
    )
    for spec in specs:
        texts = json.dumps(json.loads(spec), ensure_ascii=False)
        assert [p for p in MARKUP_PAYLOADS if json.dumps(p)[1:-1] in texts] == []
    assert any(json.dumps(plot_text(IMG))[1:-1] in s for s in specs)  # drawn, escaped
    drawn = " ".join(page.locator(".js-plotly-plot").all_text_contents())
    assert LINK in drawn or IMG in drawn  # plotly shows the escaped label as its text
    page.close()

    page, more_dialogs, more_errors = _open(browser, index_html)
    assert page.evaluate(_HANDLERS_AND_LINKS, list(MARKUP_PAYLOADS)) == []
    page.close()
    dialogs += more_dialogs + _click_every_link(browser, report_html)
    dialogs += _click_every_link(browser, index_html)
    assert dialogs == []
    assert errors + more_errors == []


# --- python -m tests.setup_browser ------------------------------------------
@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(setup, "chromium_path", lambda: None)
    monkeypatch.setattr(setup, "_apt_get", lambda *args: calls.append(args) or 0)
    monkeypatch.delenv("CI", raising=False)
    return calls


def test_setup_installs_chromium_with_apt_get_as_root(
    no_chromium: list[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setup.os, "geteuid", lambda: 0)
    monkeypatch.setattr(setup.shutil, "which", lambda name: f"/usr/bin/{name}")
    setup.main()
    assert no_chromium == [("update",), ("install", "-y", "chromium")]


def test_setup_only_explains_when_not_root(
    no_chromium: list[tuple[str, ...]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(setup.os, "geteuid", lambda: 1000)
    assert setup.main() == 0
    assert no_chromium == []
    assert "apt-get install -y chromium" in capsys.readouterr().err
    monkeypatch.setenv("CI", "true")
    assert setup.main() == 1  # in CI a missing browser is a failure


def test_setup_does_nothing_when_chromium_is_there(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(setup, "chromium_path", lambda: CHROMIUM)
    monkeypatch.setattr(setup, "_apt_get", lambda *args: calls.append(args) or 0)
    assert setup.main() == 0 and calls == []
    assert "is installed" in capsys.readouterr().out
