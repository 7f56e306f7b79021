"""The notebooks in a real JupyterLab, driven in Debian's Chromium through Playwright.

A JupyterLab server (the venv's, token-less, on a free port) serves a
temporary copy of ``notebooks/`` and ``data/sample/``; each notebook is
opened, run with "Run > Run All Cells", and read back from the page as a
person sees it.  Every notebook runs once per test process (the pages are
kept for the later checks), and the time each took is written to
``test-artifacts/notebooks-browser.json`` with a screenshot of each.

Needs ``/usr/bin/chromium`` (``python -m tests.setup_browser``); skipped
locally without it, failed in CI.  Requests outside the local server are
blocked: a notebook must not need the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from funnelkit.privacy import KEY_ENV
from tests.setup_browser import CHROMIUM, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOKS = (
    "01_prospect_lead_client.ipynb",
    "01_prospect_lead_client.fr.ipynb",
    "02_explore_funnel.ipynb",
    "weekly_report.ipynb",
)
TRAINER = {"en": "01_prospect_lead_client.ipynb", "fr": "01_prospect_lead_client.fr.ipynb"}
ANALYST = "02_explore_funnel.ipynb"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
START_SECONDS = 120
RUN_MS = 180_000
#: English words the notebooks' widgets, figures, tables and explanations use; none may
#: show in the French notebook (words that are the same in French, "Client", are not here).
ENGLISH_UI = (
    "Add",
    "Clear",
    "Remove the last",
    "Events, in order",
    "Days between",
    "Closest known names",
    "then Enter",
    "The contact's events",
    "Biggest leak",
    "of previous",
    "of first",
    "only",
    "make the step",
    "Same contacts",
    "Warm lead",
    "Cold lead",
    "Raw contact",
    "Qualified prospect",
    "Event",
    "reached",
    "not reached",
    "under funnel definition",
    "all events",
    "last activity",
    "skipped",
    "rank",
    "at_or_past",
    "step_conversion",
    "Week over week",
    "within the noise",
    "updated in",
    "incoming flow count",
    "outgoing flow count",
    "Cannot compute",
)
#: Outputs a failing cell or widget leaves in the page.
ERROR_OUTPUTS = (
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
)
WIDGET_ERRORS = ("Error displaying widget", "Failed to load model class", "Traceback")


@dataclass
class Ran:
    """One notebook run in the page: its console errors and how long it took."""

    page: Any
    seconds: float
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab stopped (exit {server.returncode}):\n{log.read_text()}")
        try:
            # The kernel specs too: a page opened before the server found them asks
            # "Select Kernel" instead of starting the notebook's own.
            with urllib.request.urlopen(f"{url}/api/kernelspecs", timeout=10) as answer:
                if "python3" in json.loads(answer.read())["kernelspecs"]:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {START_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve a copy of the notebooks and the sample data; yield the server's URL."""
    if chromium_path() is None:
        reason = f"{CHROMIUM} is missing; install it with: python -m tests.setup_browser"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("jupyterlab")
    served = home / "served"
    shutil.copytree(ROOT / "notebooks", served / "notebooks")
    shutil.copytree(ROOT / "data" / "sample", served / "data" / "sample")
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    # No "news" prompt: it would ask the internet and cover the page.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Every cell in the DOM, so the page can be read whole.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # The notebook's own kernel, without a "Select Kernel" dialog.
    documents = home / "settings" / "@jupyterlab" / "docmanager-extension"
    documents.mkdir(parents=True)
    (documents / "plugin.jupyterlab-settings").write_text(
        json.dumps({"autoStartDefaultKernel": True})
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        KEY_ENV: "notebook browser test key, long enough to be accepted",
    }
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={served}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.disable_check_xsrf=True",  # the test starts kernels through the API
    ]
    log = home / "jupyterlab.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(url, server, log)
        yield url
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log, ARTIFACTS / "jupyterlab.log")
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser(lab: str) -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _prompts_done() -> str:
    return (
        "() => { const p = [...document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]"
        ".map(e => e.textContent.trim());"
        " return p.length > 0 && p.every((t, i) => t === `[${i + 1}]:`); }"
    )


def _idle(page: Any) -> None:
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=START_SECONDS * 1000
    )


def _start_kernel(lab: str, name: str) -> None:
    """Start the notebook's kernel through the server, as the page would.

    JupyterLab connects the page to this session; left to itself, the first page of
    a busy server may ask "Select Kernel" and run nothing.
    """
    body = {
        "path": f"notebooks/{name}",
        "name": name,
        "type": "notebook",
        "kernel": {"name": "python3"},
    }
    request = urllib.request.Request(
        f"{lab}/api/sessions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 201, answer.read()


def _kernel_idle(lab: str, name: str, page: Any) -> None:
    """Wait until the notebook's kernel runs and is idle (the page may say idle before).

    Waits with the page's own timer: the page's requests go through this
    process (``page.route``), so a plain ``time.sleep`` would stall them.
    """
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{lab}/api/sessions", timeout=10) as answer:
            sessions = json.loads(answer.read())
        states = [
            (s.get("kernel") or {}).get("execution_state")
            for s in sessions
            if s.get("path") == f"notebooks/{name}"
        ]
        if "idle" in states:
            return
        page.wait_for_timeout(500)
    pytest.fail(f"no kernel started for {name} within {START_SECONDS} s")


def _open_and_run(browser: Any, lab: str, name: str) -> Ran:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    ran = Ran(page=page, seconds=0.0)
    page.on("pageerror", lambda exc: ran.errors.append(str(exc)))
    page.on("console", lambda msg: ran.errors.append(msg.text) if msg.type == "error" else None)

    def block(route: Any) -> None:
        if route.request.url.startswith(lab):
            route.continue_()
        else:
            ran.outside.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    started = time.monotonic()
    _start_kernel(lab, name)
    page.goto(f"{lab}/lab/tree/notebooks/{name}?reset")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
    _idle(page)
    try:
        _kernel_idle(lab, name, page)
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{name}.png"), full_page=True)
        raise
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    page.wait_for_timeout(1000)
    if dialog.count():  # "Select Kernel" despite the session: keep the notebook's kernel
        dialog.click()
        _idle(page)
    page.click("li.lm-MenuBar-item >> text=Run")
    page.click(".lm-Menu-item[data-command='runmenu:run-all']")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        # A fresh kernel numbers the cells 1, 2, 3... as it runs them (committed
        # outputs keep stale numbers, so "every cell has a number" is not enough).
        page.wait_for_function(_prompts_done(), timeout=RUN_MS)
    finally:
        page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{name}.png"), full_page=True)
    _idle(page)
    ran.seconds = time.monotonic() - started
    page.wait_for_timeout(500)  # the last widgets draw
    page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{name}.png"), full_page=True)
    times = ARTIFACTS / "notebooks-browser.json"
    known = json.loads(times.read_text()) if times.is_file() else {}
    times.write_text(json.dumps({**known, name: round(ran.seconds, 1)}, indent=1))
    return ran


@pytest.fixture(scope="module")
def run(browser: Any, lab: str) -> Iterator[Callable[[str], Ran]]:
    """Return a function that opens and runs a notebook once, then gives its page again."""
    pages: dict[str, Ran] = {}

    def opened(name: str) -> Ran:
        if name not in pages:
            pages[name] = _open_and_run(browser, lab, name)
        return pages[name]

    yield opened
    for ran in pages.values():
        ran.page.close()


def _notebook(page: Any) -> Any:
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")


def _outputs_text(page: Any) -> str:
    return str(
        page.evaluate(
            "[...document.querySelectorAll("
            "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]"
            ".map(e => e.innerText).join('\\n')"
        )
    )


# --------------------------------------------------------------------------- every notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_notebook_runs_in_jupyterlab_without_an_error(
    run: Callable[[str], Ran], name: str
) -> None:
    ran = run(name)
    page = ran.page
    failed = page.locator(ERROR_OUTPUTS)
    assert failed.count() == 0, failed.all_inner_texts()
    shown = _outputs_text(page)
    assert not [e for e in WIDGET_ERRORS if e in shown]
    cells = _notebook(page).locator(".jp-CodeCell").count()
    assert cells > 0
    assert ran.errors == []
    assert ran.outside == []
    assert ran.seconds < RUN_MS / 1000


# --------------------------------------------------------------------------- the explorer
def _explorer(page: Any) -> Any:
    boxes = (
        _notebook(page)
        .locator(".widget-vbox")
        .filter(has=page.locator("label.widget-label", has_text="Window"))
    )
    return boxes.filter(has=page.locator(".js-plotly-plot")).first


def _table_rows(explorer: Any) -> list[list[str]]:
    rows = explorer.locator(".widget-html-content table").first.evaluate(
        "t => [...t.querySelectorAll('tr')].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    return [list(r) for r in rows]


def _counts(rows: list[list[str]]) -> list[int]:
    return [int(re.sub(r"\D", "", r[1])) for r in rows[1:]]


def _bar_texts(explorer: Any) -> list[str]:
    return [str(t) for t in explorer.locator(".js-plotly-plot text.bartext").all_inner_texts()]


def _drawn_counts(explorer: Any) -> list[int]:
    """Return the bar lengths plotly drew (the graph div's ``data``, as the page holds it)."""
    lengths = explorer.locator(".js-plotly-plot").first.evaluate(
        "d => (d.data && d.data.length) ? Array.from(d.data[0].x || []) : []"
    )
    return [int(n) for n in lengths]


def _choose(explorer: Any, label: str, option: str) -> None:
    box = explorer.locator(".widget-dropdown").filter(
        has=explorer.page.locator("label.widget-label", has_text=label)
    )
    box.locator("select").select_option(label=option)


def _wait_changed(page: Any, read: Callable[[], object], before: object) -> object:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = read()
        if now != before:
            return now
        page.wait_for_timeout(200)
    pytest.fail(f"the explorer did not redraw: still {before!r}")


def test_the_explorer_redraws_when_the_window_or_the_definition_changes(
    run: Callable[[str], Ran],
) -> None:
    ran = run(ANALYST)
    page = ran.page
    explorer = _explorer(page)
    explorer.scroll_into_view_if_needed()
    before_rows, before_bars = _table_rows(explorer), _bar_texts(explorer)
    assert [h.lower() for h in before_rows[0][:2]] == ["stage", "contacts"]
    assert len(before_bars) == 5

    _choose(explorer, "Window", "1d")
    rows = _wait_changed(page, lambda: _table_rows(explorer), before_rows)
    assert isinstance(rows, list)
    counts, before = _counts(rows), _counts(before_rows)
    assert counts[0] == before[0] and counts[-1] <= before[-1] and counts != before
    # The figure redraws to the table's new numbers.
    deadline = time.monotonic() + 30
    while _drawn_counts(explorer) != counts and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert _drawn_counts(explorer) == counts, _bar_texts(explorer)

    _choose(explorer, "Funnel", "sales")
    rows = _wait_changed(page, lambda: _table_rows(explorer), rows)
    assert isinstance(rows, list)
    assert [r[0] for r in rows[1:]] == [
        "Raw contact",
        "Lead",
        "Prospect",
        "Qualified prospect",
        "Client",
    ]
    page.wait_for_timeout(500)
    assert ran.errors == []


def test_the_explorer_counts_equal_the_notebook_funnel_for_the_same_settings(
    run: Callable[[str], Ran],
) -> None:
    page = run(ANALYST).page
    printed = _notebook(page).locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']",
        has_text="conversion_from_previous",
    )
    lines = printed.first.inner_text().strip().splitlines()
    notebook = [next(int(t) for t in line.split()[1:] if t.isdigit()) for line in lines[1:]]
    explorer = _explorer(page)
    if _table_rows(explorer)[1][0] != "Prospect":  # another test changed it: back to inbound, 14d
        _choose(explorer, "Funnel", "inbound")
        _choose(explorer, "Window", "14d")
        page.wait_for_timeout(3000)
    assert _counts(_table_rows(explorer)) == notebook


# --------------------------------------------------------------------------- the exercise
@pytest.mark.parametrize(
    ("lang", "placeholder", "answer", "refusal"),
    [
        ("en", "an event, then Enter", "sales: Qualified prospect", "Closest known names: meeting"),
        (
            "fr",
            "un événement, puis Entrée",
            "sales: Prospect qualifié",
            "Noms connus les plus proches : meeting",
        ),
    ],
)
def test_typing_an_event_and_enter_in_the_exercise_updates_the_answer(
    run: Callable[[str], Ran], lang: str, placeholder: str, answer: str, refusal: str
) -> None:
    ran = run(TRAINER[lang])
    page = ran.page
    box = _notebook(page).locator(f"input[placeholder='{placeholder}']")
    assert box.is_visible()
    exercise = (
        _notebook(page)
        .locator(".widget-vbox")
        .filter(has=page.locator(f"input[placeholder='{placeholder}']"))
        .first
    )
    assert answer not in exercise.inner_text()
    box.click()
    box.fill("meeting")
    box.press("Enter")
    page.wait_for_function(
        "([el, text]) => el.innerText.includes(text)", arg=[exercise.element_handle(), answer]
    )
    assert "4. meeting" in exercise.inner_text()
    assert box.input_value() == ""
    box.fill("meetign")
    box.press("Enter")
    page.wait_for_function(
        "([el, text]) => el.innerText.includes(text)", arg=[exercise.element_handle(), refusal]
    )
    assert box.input_value() == "meetign"
    assert "5. meetign" not in exercise.inner_text()
    assert ran.errors == []


@pytest.mark.parametrize(
    ("lang", "label"), [("en", "Days between two events"), ("fr", "Jours entre deux événements")]
)
def test_the_exercise_slider_label_is_shown_whole(
    run: Callable[[str], Ran], lang: str, label: str
) -> None:
    page = run(TRAINER[lang]).page
    shown = _notebook(page).locator(".widget-slider label.widget-label", has_text=label).first
    assert shown.is_visible()
    wide = page.viewport_size
    try:
        for width in (1400, 1000, 760):  # a narrow window squeezes the row first
            page.set_viewport_size({"width": width, "height": wide["height"]})
            page.wait_for_timeout(300)
            # the label's text fits its box: no ellipsis ("Jours entre deux…"), and the
            # track beside it is there to drag (it was squeezed to nothing)
            widths = shown.evaluate(
                "e => [e.scrollWidth, e.clientWidth,"
                " e.parentElement.querySelector('.slider-container').clientWidth]"
            )
            assert widths[0] <= widths[1] and widths[2] >= 120, (width, widths)
    finally:
        page.set_viewport_size(wide)


# --------------------------------------------------------------------------- French
def test_the_french_notebook_shows_no_english_ui_string(run: Callable[[str], Ran]) -> None:
    shown = _outputs_text(run(TRAINER["fr"]).page)
    english = [w for w in ENGLISH_UI if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", shown)]
    assert english == []
