"""Work done in a background thread for the explorer, between two updates.

:class:`Background` runs planned tasks one at a time in a thread of its own,
once the updates have paused, and keeps each result until an update takes
it (waiting for it when it is under way, computing it itself when it has not
started).  What the explorer plans, and what the user sees meanwhile, is in
the guide ``docs/guides/explorer.md``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from funnelkit.errors import FunnelkitError

__all__ = ["QUIET_SECONDS", "Background", "Task"]

#: A task: its key, and the function computing its result.
Task = tuple[tuple[Any, ...], Callable[[], Any]]
#: Seconds without an update before the background starts a task.
QUIET_SECONDS = 0.5


class Background:
    """One thread computing planned tasks in turn, while the notebook stays free.

    Each task is a key and a function; its :class:`~concurrent.futures.Future`
    is kept until :meth:`take` asks for it.  The thread starts when there is
    work and ends when there is none: no thread is left behind an idle explorer.
    A task starts only when no update has run for :data:`QUIET_SECONDS` (the
    two share the cores: an update that comes at once has them to itself).

    Examples
    --------
    >>> background = Background(quiet=0)
    >>> background.plan([(("answer",), lambda: 42)])
    >>> background.wait(10), background.take(("answer",))
    (True, 42)

    See the guide: docs/guides/explorer.md
    """

    def __init__(self, quiet: float = QUIET_SECONDS) -> None:
        self._quiet = quiet
        self._free = threading.Event()  # set while no update runs
        self._free.set()
        self._last = 0.0  # when the last update ended (time.monotonic)
        self._lock = threading.Lock()
        self._futures: dict[tuple[Any, ...], Future[Any]] = {}
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def plan(self, tasks: list[Task]) -> None:
        """Make ``tasks`` the work to do: results no longer planned are dropped."""
        wanted = {key for key, _ in tasks}
        with self._lock:
            for key in [k for k in self._futures if k not in wanted]:
                # not started: never will; done: its memory goes; running: it finishes
                # and its result goes with its future
                self._futures.pop(key).cancel()
            for key, work in tasks:
                if key not in self._futures:
                    future: Future[Any] = Future()
                    self._futures[key] = future
                    self._queue.append((future, work))
            if self._queue and self._thread is None:
                self._idle.clear()
                self._thread = threading.Thread(
                    target=self._work, name="funnelkit-explorer", daemon=True
                )
                self._thread.start()

    @contextmanager
    def update(self) -> Iterator[None]:
        """Hold the tasks not started yet while an update runs, and a moment after it."""
        self._free.clear()
        try:
            yield
        finally:
            self._last = time.monotonic()
            self._free.set()

    def _calm(self) -> None:
        """Return when no update runs and none has for :data:`QUIET_SECONDS`."""
        while True:
            self._free.wait()
            rest = self._last + self._quiet - time.monotonic()
            if rest <= 0 and self._free.is_set():
                return
            time.sleep(max(rest, 0.01))

    def _work(self) -> None:
        while True:
            self._calm()
            with self._lock:
                if not self._queue:
                    self._thread = None
                    self._idle.set()
                    return
                future, work = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # taken or dropped before it started
            try:
                future.set_result(work())
            except Exception as exc:  # kept for the update that asks: never raised here
                future.set_exception(exc)

    def running(self, key: tuple[Any, ...]) -> bool:
        """Tell whether the task of ``key`` is under way (taking it will wait)."""
        with self._lock:
            future = self._futures.get(key)
        return future is not None and future.running()

    def take(self, key: tuple[Any, ...]) -> Any:
        """Return the result of ``key`` and forget it; ``None`` to compute it in the caller.

        A task not started is cancelled (the caller computes it at once); one
        under way is waited for.  A funnelkit error it raised is raised here,
        when its result is asked for; any other failure is left to the caller to
        meet again, computing it.
        """
        with self._lock:
            future = self._futures.pop(key, None)
        if future is None or future.cancel():
            return None
        try:
            return future.result()
        except FunnelkitError:
            raise
        except Exception:
            return None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no task is left to run; return whether none is."""
        return self._idle.wait(timeout)
