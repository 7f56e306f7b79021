"""The explorer's background work in pieces: it gives way to updates, and changes nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import polars as pl
import pytest

import funnelkit.background as background_module
import funnelkit.explorer as explorer_module
from funnelkit.background import Background
from funnelkit.explorer import Explorer, explore
from tests.explorer_support import contacts, log, random_log, same_numbers  # noqa: F401 (fixtures)

WORKER = "funnelkit-explorer"  # the background thread's name


def _until(condition: Any, seconds: float = 30) -> None:
    ends = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < ends, "timed out"
        time.sleep(0.01)


class _Gated:
    """``entry_classification`` that, in the background's thread, waits for a gate first."""

    def __init__(self) -> None:
        # the explorers of other tests have finished their background work: every call
        # in a background thread is of the explorer under test
        _until(lambda: all(t.name != WORKER for t in threading.enumerate()))
        self.real = explorer_module.entry_classification
        self.gate = threading.Event()
        self.calls: list[int] = []  # events of each piece classified in the background

    def __call__(self, events: Any, *args: Any, **kwargs: Any) -> pl.DataFrame:
        if threading.current_thread().name == WORKER:
            self.calls.append(events.lazy().select(pl.len()).collect().item())
            assert self.gate.wait(30)
        return self.real(events, *args, **kwargs)


def _gated_explorer(
    monkeypatch: pytest.MonkeyPatch, log: pl.DataFrame, contacts: pl.DataFrame
) -> tuple[Explorer, _Gated]:
    """An explorer whose background classifies the sample in four gated pieces."""
    monkeypatch.setattr(background_module, "PIECE_EVENTS", log.height // 4, raising=False)
    gated = _Gated()
    monkeypatch.setattr(explorer_module, "entry_classification", gated)
    return explore(log, contacts), gated


def test_a_classification_in_the_background_gives_way_to_an_update_and_goes_on_where_it_was(
    monkeypatch: pytest.MonkeyPatch, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    app, gated = _gated_explorer(monkeypatch, log, contacts)
    assert app._background is not None
    _until(lambda: len(gated.calls) == 1)  # the first piece of sales is under way
    with app._background.update():  # what every update does around its work
        gated.gate.set()  # the piece under way ends...
        time.sleep(0.5)
        assert len(gated.calls) == 1  # ...and the next one waits: the update has the cores
    assert app.wait(30)
    assert len(gated.calls) == 4 and sum(gated.calls) == log.height  # each contact once
    app.definition.value = "sales"  # classified in the background, in four pieces
    assert len(gated.calls) == 4
    same_numbers(app, log, contacts)


def test_a_change_that_needs_the_paused_classification_lets_it_go_on_at_once(
    monkeypatch: pytest.MonkeyPatch, log: pl.DataFrame, contacts: pl.DataFrame
) -> None:
    app, gated = _gated_explorer(monkeypatch, log, contacts)
    assert app._background is not None
    _until(lambda: len(gated.calls) == 1)
    app._background._quiet = 60  # paused after this piece, it would wait a minute
    gated.gate.set()
    said: list[str] = []
    app.status.observe(lambda change: said.append(change["new"]), names="value")
    started = time.monotonic()
    app.definition.value = "sales"  # waits for the rest of the pieces, not for a pause
    assert time.monotonic() - started < 30
    assert len(gated.calls) == 4
    assert any("classifying sales (begun in the background)" in s for s in said)
    same_numbers(app, log, contacts)


def test_a_task_no_longer_planned_stops_at_its_next_checkpoint() -> None:
    background = Background(quiet=0)
    started, gate, done = threading.Event(), threading.Event(), []

    def work() -> str:
        for piece in range(3):
            background.checkpoint()
            started.set()
            assert gate.wait(30)
            done.append(piece)
        return "finished"

    background.plan([(("work",), work)])
    assert started.wait(30)
    background.plan([])  # a change made it useless
    gate.set()
    assert background.wait(30)
    assert done == [0]  # the piece under way ended; no other began
    assert background.take(("work",)) is None


def test_a_checkpoint_outside_the_background_thread_returns_at_once() -> None:
    background = Background(quiet=60)
    with background.update():
        background.checkpoint()  # the caller computes: nothing to give way to


@pytest.mark.parametrize("seed", [5, 6])
def test_changes_at_once_midway_or_settled_give_the_same_figures_and_tables(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    events, people = random_log(seed)
    # many small pieces, and the background going on between changes made at once
    monkeypatch.setattr(background_module, "PIECE_EVENTS", 60, raising=False)
    at_once, midway, settled = apps = [explore(events, people) for _ in range(3)]
    assert midway._background is not None
    midway._background._quiet = 0
    last = len(at_once.weeks.options) - 1
    changes = (
        ("window", "value", "3d"),
        ("definition", "value", "sales"),
        ("breakdown", "value", "channel"),
        ("weeks", "index", (1, last - 2)),
        ("definition", "value", "inbound"),
        ("breakdown", "value", "tier"),
        ("order", "value", "strict_increase"),
        ("definition", "value", "sales"),
        ("weeks", "index", (0, last)),
    )
    for app in apps:
        app.min_contacts = 1
    for number, (control, name, value) in enumerate(changes):
        assert settled.wait(30)
        if number % 2:
            time.sleep(0.05)  # the midway background in the middle of its pieces
        for app in apps:
            setattr(getattr(app, control), name, value)
        same_numbers(settled, events, people)
        for app in (at_once, midway):
            assert _drawn(app) == _drawn(settled), (number, control)
    for app in apps:
        assert app.wait(30)


def _drawn(app: Explorer) -> tuple[Any, ...]:
    """What the user sees: the figure's traces and titles, the table and the summary."""
    figure = app.figure.to_dict()
    traces = [{k: v for k, v in trace.items() if k != "uid"} for trace in figure["data"]]
    return (traces, figure["layout"].get("title"), app.table.value, app.summary.value)
