"""The weekly report's HTML in a real headless browser (Debian's Chromium via Playwright).

Needs ``/usr/bin/chromium`` (``python -m tests.setup_browser`` installs it with
apt-get when run as root).  Without it the test is skipped locally and fails
when ``CI`` is set.  The page is opened with the network blocked: a report must
not need it.  A screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.setup_browser as setup
from funnelkit.privacy import KEY_ENV
from funnelkit.report import render_report
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
