"""Work done in a background thread for the explorer, between two updates.

:class:`Background` runs planned tasks one at a time in a thread of its own,
once the updates have paused, and keeps each result until an update takes
it (waiting for it when it is under way, computing it itself when it has not
started).  A task done in pieces (:class:`Pieces`: a group of contacts at a
time) calls :meth:`Background.checkpoint` between two pieces: there it leaves
the cores to the updates until they pause, then goes on where it was; it runs
on when an update waits for it, and stops when it is no longer planned.  What
the explorer plans, and what the user sees meanwhile, is in the guide
``docs/guides/explorer.md``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import polars as pl

from funnelkit.columns import CONTACT_ID
from funnelkit.errors import FunnelkitError

__all__ = ["PIECE_EVENTS", "QUIET_SECONDS", "Background", "Pieces", "Task"]

#: A task: its key, and the function computing its result.
Task = tuple[tuple[Any, ...], Callable[[], Any]]
#: Seconds without an update before the background starts a task, or goes on with one:
#: none, since a task in pieces gives way to the next update after its piece under way
#: (measured at 10M events: with half a second, a change made a second after another
#: waited longer for what the background had not had the time to prepare).
QUIET_SECONDS = 0.0
#: Events per piece of a task done in pieces (:class:`Pieces`).
PIECE_EVENTS = 1_000_000
_PIECE = "__funnelkit_piece"  # each row's group, for a moment


class _Dropped(Exception):
    """Raised at a checkpoint of a task no longer planned: the worker goes on to the next."""


class Background:
    """One thread computing planned tasks in turn, while the notebook stays free.

    Each task is a key and a function; its :class:`~concurrent.futures.Future`
    is kept until :meth:`take` asks for it.  The thread starts when there is
    work and ends when there is none: no thread is left behind an idle explorer.
    A task starts only while no update runs (nor has for ``quiet`` seconds),
    and a task in pieces waits for that again at each :meth:`checkpoint`: an
    update shares the cores with the piece under way at most.

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
        self._changed = threading.Condition()  # guards what follows; told of every change
        self._updates = 0  # updates running
        self._last = 0.0  # when the last update ended (time.monotonic)
        self._futures: dict[tuple[Any, ...], Future[Any]] = {}
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._running: Future[Any] | None = None  # the task under way
        self._wanted = False  # an update waits for the task under way: it runs on
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def plan(self, tasks: list[Task]) -> None:
        """Make ``tasks`` the work to do: results no longer planned are dropped."""
        wanted = {key for key, _ in tasks}
        with self._changed:
            for key in [k for k in self._futures if k not in wanted]:
                # not started: never will; done: its memory goes; under way: it stops at its
                # next checkpoint (or finishes, without one) and its result goes
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
            self._changed.notify_all()

    @contextmanager
    def update(self) -> Iterator[None]:
        """Hold the background's work while an update runs (and ``quiet`` seconds after).

        A task not started waits; one in pieces stops at its next checkpoint
        (the piece under way ends first), unless the update waits for it.
        """
        with self._changed:
            self._updates += 1
        try:
            yield
        finally:
            with self._changed:
                self._updates -= 1
                self._last = time.monotonic()
                self._changed.notify_all()

    def _hold(self) -> None:
        """Wait, the lock held, until no update runs nor has for ``quiet`` seconds.

        The task under way goes on at once when an update waits for it, and
        stops (:class:`_Dropped`) when it is no longer planned.
        """
        while True:
            if self._running is not None:
                if self._wanted:
                    return
                if all(f is not self._running for f in self._futures.values()):
                    raise _Dropped
            rest = None if self._updates else self._last + self._quiet - time.monotonic()
            if rest is not None and rest <= 0:
                return
            self._changed.wait(rest)

    def checkpoint(self) -> None:
        """Let updates have the cores: called by a task between two of its pieces.

        In the background's thread, returns once no update runs (nor has for
        ``quiet`` seconds), or at once when an update waits for this task;
        a task no longer planned stops here.  Elsewhere it returns at once.
        """
        if threading.current_thread() is self._thread:
            with self._changed:
                self._hold()

    def _work(self) -> None:
        while True:
            with self._changed:
                self._running = None
                self._hold()
                if not self._queue:
                    self._thread = None
                    self._idle.set()
                    return
                future, work = self._queue.popleft()
                if not future.set_running_or_notify_cancel():
                    continue  # taken or dropped before it started
                self._running, self._wanted = future, False
            try:
                future.set_result(work())
            except Exception as exc:  # kept for the update that asks: never raised here
                future.set_exception(exc)  # _Dropped too: no one asks for it

    def running(self, key: tuple[Any, ...]) -> bool:
        """Tell whether the task of ``key`` is under way (taking it will wait)."""
        with self._changed:
            future = self._futures.get(key)
        return future is not None and future.running()

    def take(self, key: tuple[Any, ...]) -> Any:
        """Return the result of ``key`` and forget it; ``None`` to compute it in the caller.

        A task not started is cancelled (the caller computes it at once); one
        under way is waited for, and no longer stops for updates: what is left
        of it costs less than computing it again.  A funnelkit error it raised
        is raised here, when its result is asked for; any other failure is left
        to the caller to meet again, computing it.
        """
        with self._changed:
            future = self._futures.pop(key, None)
            if future is None or future.cancel():
                return None
            if future is self._running:
                self._wanted = True
                self._changed.notify_all()
        try:
            return future.result()
        except FunnelkitError:
            raise
        except Exception:
            return None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no task is left to run; return whether none is."""
        return self._idle.wait(timeout)


class Pieces:
    """The explorer's frames split into groups of contacts, to work on one group at a time.

    Work that reads each contact's rows alone (a classification, the values
    at a stage's entry) gives the same rows, in another order, group after
    group: :meth:`run` calls ``checkpoint`` (:meth:`Background.checkpoint`)
    before each group, so that the work can give way to an update between
    two groups.  About ``size`` events per group (:data:`PIECE_EVENTS` by
    default), 64 groups at most; each event's group is computed once.

    Examples
    --------
    >>> events = pl.DataFrame({"contact_id": ["a", "b", "a", "c"], "n": [1, 2, 3, 4]})
    >>> pieces = Pieces(events, None, checkpoint=lambda: None, size=1)
    >>> def sums(part: pl.LazyFrame) -> pl.DataFrame:
    ...     return part.group_by("contact_id").agg(pl.sum("n")).collect()
    >>> total = pieces.run(sums, events)
    >>> total.sort("contact_id").rows()
    [('a', 4), ('b', 2), ('c', 4)]

    See the guide: docs/guides/explorer.md
    """

    def __init__(
        self,
        events: pl.DataFrame,
        contacts: pl.DataFrame | None,
        *,
        checkpoint: Callable[[], None],
        size: int | None = None,
    ) -> None:
        self._id = events.schema[CONTACT_ID]
        # a contact's events and its row in the contacts must fall in one group
        same = contacts is None or contacts.schema[CONTACT_ID] == self._id
        per = PIECE_EVENTS if size is None else max(size, 1)
        self._count = min(max(events.height // per, 1), 64) if same else 1
        self._kept = {id(f): f for f in (events, contacts) if f is not None}
        self._groups: dict[int, pl.Series] = {}
        self._checkpoint = checkpoint

    def _group(self, frame: pl.DataFrame) -> pl.Series:
        """Return the group of each row of ``frame`` (kept for the explorer's own frames)."""
        found = self._groups.get(id(frame))
        if found is None:
            key = pl.col(CONTACT_ID).cast(self._id).hash(seed=0x5EED) % self._count
            found = frame.select(key.cast(pl.UInt8)).to_series()
            if self._kept.get(id(frame)) is frame:
                self._groups[id(frame)] = found
        return found

    def _piece(
        self, frame: pl.DataFrame | None, groups: pl.Series | None, i: int
    ) -> pl.DataFrame | pl.LazyFrame | None:
        """Return the rows of ``frame`` in group ``i``: lazily for the explorer's own frames.

        Lazy, only the columns the work reads are taken: the events are not copied
        whole for each group.
        """
        if frame is None or groups is None:
            return None
        if self._kept.get(id(frame)) is not frame:
            return frame.filter(groups == i)
        marked = frame.with_columns(groups.alias(_PIECE))  # a column: no copy of the others
        return marked.lazy().filter(pl.col(_PIECE) == i).drop(_PIECE)

    def run(self, each: Callable[..., pl.DataFrame], *frames: pl.DataFrame | None) -> pl.DataFrame:
        """Return ``each(*frames)`` computed one group of contacts at a time, concatenated.

        Each frame has a ``contact_id`` column (or is ``None``); ``each`` is given
        the events and contacts the pieces were made with as lazy frames, any
        other frame as a data frame.  A funnelkit
        error is raised as ``each`` of the whole frames raises it (a row
        number said in it is the whole frame's).
        """
        if self._count == 1:
            self._checkpoint()
            return each(*frames)
        groups = [None if f is None else self._group(f) for f in frames]
        pieces = []
        try:
            for i in range(self._count):
                self._checkpoint()
                parts = [self._piece(f, g, i) for f, g in zip(frames, groups, strict=True)]
                pieces.append(each(*parts))
        except FunnelkitError:
            return each(*frames)
        return pl.concat(pieces)
