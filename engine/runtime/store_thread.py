"""The store thread: one thread owning the world's MemoryStore, running its work in order of
priority (a turn's own reads and writes before background work), with small writes queued
next to each other sharing one commit. The runtime reaches the store only through it, so
nothing on the game thread or the event loop waits for the database.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from engine.memory.embeddings import Embedder
from engine.memory.store import MemoryStore
from engine.metering import Meter
from engine.runtime.env import FOREGROUND

__all__ = ["GROUP_LIMIT", "MeterSource", "StoreThread", "WorkQueue"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A meter, or a function building one from the world file's database on the store thread.
MeterSource = Meter | Callable[[Database], Meter]

_STOP = 1 << 30  # priority of the store thread's stop sentinel: after everything queued
#: At most this many queued writes share one commit (see StoreThread).
GROUP_LIMIT = 64
# The store thread's work: (priority, sequence, fn(store) or None to stop, future, groupable).
_Item = tuple[int, int, Callable[[MemoryStore], Any] | None, Future[Any] | None, bool]


class WorkQueue:
    """The store thread's work in priority order (FIFO within a priority), from which the
    thread can also take at once the run of groupable writes at the head."""

    def __init__(self) -> None:
        self._heap: list[_Item] = []
        self._seq = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self.unfinished = 0

    def put(
        self,
        priority: int,
        fn: Callable[[MemoryStore], Any] | None,
        future: Future[Any] | None,
        group: bool = False,
    ) -> None:
        with self._cond:
            heapq.heappush(self._heap, (priority, next(self._seq), fn, future, group))
            self.unfinished += 1
            self._cond.notify()

    def get(self) -> _Item:
        with self._cond:
            while not self._heap:
                self._cond.wait()
            return heapq.heappop(self._heap)

    def take_group(self, limit: int) -> list[_Item]:
        """The groupable writes at the head of the queue, up to ``limit`` (none waits)."""
        taken: list[_Item] = []
        with self._cond:
            while self._heap and len(taken) < limit and self._heap[0][4]:
                taken.append(heapq.heappop(self._heap))
        return taken

    def done(self, count: int = 1) -> None:
        with self._cond:
            self.unfinished -= count


class StoreThread:
    """One thread owning the MemoryStore; work runs in priority order, FIFO within a priority.

    Writes submitted with ``group=True`` (ones that touch nothing but the store, so they can
    share a transaction) and queued one after another go out together, up to
    :data:`GROUP_LIMIT`, in one transaction: one commit instead of one each, which is most of
    what a small write costs. Under load (a crowd of replies finishing at once) the queue
    empties several times faster; a write waits for nothing that was not already queued, and
    its future is resolved only after the commit.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        embedder: Embedder | None,
        clock: Callable[[], float],
        meter: MeterSource | None,
    ) -> None:
        self._queue = WorkQueue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._path = path
        self._embedder = embedder
        self._clock = clock
        self._meter_source = meter
        self.meter: Meter | None = None
        self.store: MemoryStore | None = None
        self._thread = threading.Thread(target=self._main, name="npc-store", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join(timeout=1)
            raise self._error

    def _main(self) -> None:
        try:
            self.store = MemoryStore(self._path, embedder=self._embedder, clock=self._clock)
            source = self._meter_source
            if isinstance(source, Meter) or source is None:
                self.meter = source
            else:
                # A factory: build the meter on this thread, sharing the world file's connection.
                self.meter = source(self.store.db)
        except BaseException as exc:  # reported to the constructor
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        store = self.store
        work = self._queue
        while True:
            item = work.get()
            _priority, _seq, fn, future, group = item
            if fn is None:
                work.done()
                break
            if group:
                items = [item, *work.take_group(GROUP_LIMIT - 1)]
                try:
                    self._run_group(store, items)
                finally:
                    work.done(len(items))
                continue
            try:
                assert future is not None
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(store))
                except BaseException as exc:
                    future.set_exception(exc)
            finally:
                work.done()
        try:
            store.close()
        except Exception:
            log.exception("closing the memory store failed")

    @staticmethod
    def _run_group(
        store: MemoryStore,
        items: list[_Item],
    ) -> None:
        live = [
            (fn, future)
            for _p, _s, fn, future, _g in items
            if fn is not None and future is not None and future.set_running_or_notify_cancel()
        ]
        if not live:
            return
        try:
            outcomes = store.grouped([functools.partial(fn, store) for fn, _future in live])
        except BaseException:
            # The commit failed and nothing was written: each write on its own, as usual.
            log.warning("a group of %d writes could not commit; writing them one by one", len(live))
            for fn, future in live:
                try:
                    future.set_result(fn(store))
                except BaseException as exc:
                    future.set_exception(exc)
            return
        for (_fn, future), (ok, value) in zip(live, outcomes, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def submit(
        self, fn: Callable[[MemoryStore], T], *, priority: int = FOREGROUND, group: bool = False
    ) -> Future[T]:
        """Queue ``fn(store)``; returns a concurrent Future. ``group=True``: ``fn`` only writes
        through the store (no other connection, nothing outside), so it may share a
        transaction with other such writes queued next to it."""
        future: Future[T] = Future()
        self._queue.put(priority, fn, future, group)
        return future

    async def run(self, fn: Callable[[MemoryStore], T], *, priority: int = FOREGROUND) -> T:
        """Await ``fn(store)`` from the event loop."""
        return await asyncio.wrap_future(self.submit(fn, priority=priority))

    @property
    def busy(self) -> bool:
        """Whether work is queued or running."""
        return self._queue.unfinished > 0

    def close(self, timeout: float) -> None:
        """Finish everything queued, close the store, stop the thread."""
        self._queue.put(_STOP, None, None)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("the store thread did not finish within %.1f s", timeout)
