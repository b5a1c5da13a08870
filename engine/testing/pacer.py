"""The test server's pacer: one thread writing every fault-free stream's pieces when due."""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time
from collections.abc import Callable

__all__ = ["Pacer"]


class _Paced:
    """One stream handed to the :class:`Pacer`: when each piece is due, and how to write it
    (encoded when due, so a burst of requests is not kept waiting for it)."""

    __slots__ = ("sock", "due", "render", "done", "error")

    def __init__(
        self, sock: socket.socket, due: list[float], render: Callable[[int], bytes]
    ) -> None:
        self.sock = sock
        self.due = due
        self.render = render
        self.done = threading.Event()
        self.error: BaseException | None = None


class Pacer:
    """One thread that writes the pieces of every fault-free stream when they are due.

    A thread per stream sleeping between its pieces needs the interpreter lock 30 times a
    second for each stream; with hundreds of streams they queue for it and pieces go out late,
    and a benchmark would charge that lateness to the client under test. One thread wakes once
    for all the pieces due together.
    """

    def __init__(self, closing: threading.Event) -> None:
        self._closing = closing
        self._heap: list[tuple[float, int, _Paced, int]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def send(self, sock: socket.socket, due: list[float], render: Callable[[int], bytes]) -> _Paced:
        """Write ``render(i)`` to ``sock`` at monotonic time ``due[i]``, in order."""
        stream = _Paced(sock, due, render)
        if not due:
            stream.done.set()
            return stream
        with self._cond:
            self._push(stream, 0)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="openai-test-pacer", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is stream:  # due before what the pacer sleeps until
                self._cond.notify()
        return stream

    def stop(self) -> None:
        with self._cond:
            self._cond.notify()

    def _push(self, stream: _Paced, index: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (stream.due[index], self._seq, stream, index))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closing.is_set():
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closing.is_set():
                    abandoned = {entry[2] for entry in self._heap}
                    self._heap.clear()
                    for stream in abandoned:
                        with contextlib.suppress(OSError):
                            stream.sock.shutdown(socket.SHUT_RDWR)
                        stream.error = ConnectionAbortedError("server stopping")
                        stream.done.set()
                    self._thread = None
                    return
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap))
            for _due, _seq, stream, index in due:
                try:
                    stream.sock.sendall(stream.render(index))
                except Exception as exc:  # noqa: BLE001 (the handler thread raises it)
                    if not isinstance(exc, OSError):
                        with contextlib.suppress(OSError):
                            stream.sock.shutdown(socket.SHUT_RDWR)
                    stream.error = exc
                    stream.done.set()
                    continue
                if index + 1 < len(stream.due):
                    with self._cond:
                        self._push(stream, index + 1)
                else:
                    stream.done.set()
