"""A lean HTTP/1.1 transport for the ``openai`` client: asyncio streams and kept-alive sockets.

The ``openai`` package builds every request, checks statuses and raises its errors as usual;
only the bytes travel differently. httpx's default transport (httpcore over anyio) spends about
a millisecond of event-loop time per request and tens of microseconds per streamed chunk, in
cancellation scopes, pool bookkeeping and a selector re-registration per read. A game that
starts two hundred conversations at once pays that two hundred times on the thread that also
streams every reply. This transport writes the request in one call, parses the status line and
headers itself, and decodes the chunked body straight from an :class:`asyncio.StreamReader`.

What it does: HTTP/1.1 over TCP or TLS (the client's SSL context, SNI), ``Content-Length``,
chunked and read-to-close bodies, ``1xx`` responses skipped, kept-alive connections per
(scheme, host, port) reused until ``keepalive_expiry``, a request retried once on a fresh
connection when a reused one turns out closed before any response byte. Timeouts come from the
request's ``timeout`` extension (connect, read, write, pool) as with httpx; the read timeout is
checked by one timer per connection that is re-armed only when it fires, so a streamed chunk
costs no timer work. Errors are httpx's (``ConnectError``, ``ReadTimeout``, ...), which the
``openai`` client maps into its own.

:meth:`LeanTransport.connect_ahead` opens a connection before the request that will use it is
built (a turn asks for one as it begins, while its context is read and its prompt assembled):
the connection is then waiting in the pool, instead of taking several event-loop passes after
the prompt is ready. In a burst of turns those passes come only once the loop has worked through
every other turn's prompt, so without it every request waited for the last prompt.

What it does not do: proxies and HTTP/2. :func:`lean_transport_applies` says whether a proxy
is configured in the environment for a URL; the backend then keeps httpx's own transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import httpx2

__all__ = ["MAX_CHUNK", "LeanTransport", "lean_transport_applies"]

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
"""Longest status line plus headers accepted."""
MAX_CHUNK = 16 * 1024 * 1024
"""Largest chunk of a chunked body accepted (a chunk is buffered whole before it is passed on)."""
_READ_SIZE = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


def lean_transport_applies(url: str) -> bool:
    """Whether requests to ``url`` go direct: no proxy for it in the environment.

    httpx reads ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` and ``NO_PROXY``; with any of them
    applying to ``url``, requests must go through httpx's own transport, which speaks to proxies.
    """
    parsed = httpx2.URL(url)
    proxies = urllib.request.getproxies_environment()
    if not any(proxies.get(key) for key in (parsed.scheme, "all")):
        return True
    host = parsed.host + (f":{parsed.port}" if parsed.port else "")
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 (not in typeshed)
    return bool(bypass(host, proxies))


class _Connection:
    """One socket: its streams, when it went idle, and a lazily re-armed read timer."""

    __slots__ = ("reader", "writer", "idle_since", "uses", "_timer", "_deadline", "timed_out")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.uses = 0
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self.timed_out = False

    def open(self) -> bool:
        """Open, and nothing unread (a server's close shows up as EOF, and stray bytes would
        be taken for the next response)."""
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and not getattr(self.reader, "_buffer", b"")  # StreamReader has no public peek
        )

    def watch(self, timeout: float | None) -> None:
        """(Re)start the read deadline: ``timeout`` seconds from now (None: no deadline)."""
        if timeout is None:
            self.unwatch()
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._check, loop)

    def unwatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        # Fires at the first deadline; reads since then moved the deadline on, so re-arm.
        now = loop.time()
        if now < self._deadline:
            self._timer = loop.call_at(self._deadline, self._check, loop)
            return
        self._timer = None
        self.timed_out = True
        self.writer.transport.abort()

    def close(self) -> None:
        self.unwatch()
        self.writer.transport.abort()


class _Body(httpx2.AsyncByteStream):
    """A response body read from a connection; the connection goes back to the pool at its end."""

    def __init__(
        self,
        transport: LeanTransport,
        key: tuple[str, str, int],
        conn: _Connection,
        *,
        length: int | None,
        chunked: bool,
        keep_alive: bool,
        read_timeout: float | None,
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: _Connection | None = conn
        self._length = length
        self._chunked = chunked
        self._keep_alive = keep_alive
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            if self._chunked:
                async for part in self._read_chunked(conn):
                    yield part
            elif self._length is not None:
                left = self._length
                while left > 0:
                    data = await self._read(conn, min(left, _READ_SIZE))
                    if not data:
                        raise httpx2.RemoteProtocolError(
                            f"connection closed with {left} bytes of the body unread"
                        )
                    left -= len(data)
                    yield data
            else:
                self._keep_alive = False
                while data := await self._read(conn, _READ_SIZE):
                    yield data
        except BaseException:
            self._discard()
            raise
        self._finish()

    async def _read(self, conn: _Connection, size: int) -> bytes:
        conn.watch(self._read_timeout)
        try:
            data = await conn.reader.read(size)
        except (ConnectionError, OSError) as exc:
            if conn.timed_out:
                raise httpx2.ReadTimeout("timed out reading the response") from exc
            raise httpx2.ReadError(f"connection lost while reading the response: {exc}") from exc
        if not data and conn.timed_out:
            raise httpx2.ReadTimeout("timed out reading the response")
        return data

    async def _read_chunked(self, conn: _Connection) -> AsyncIterator[bytes]:
        # A bytearray grows in place: appending each read costs its own size, however long a
        # chunk is (concatenating bytes copied the whole buffer on every read).
        buffer = bytearray()
        while True:
            # Every complete chunk in what has arrived is yielded as one piece.
            out: list[bytes] = []
            pos = 0
            while True:
                line_end = buffer.find(b"\r\n", pos)
                if line_end < 0:
                    break
                size_text = buffer[pos:line_end].split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise httpx2.RemoteProtocolError(
                        f"malformed chunk size {size_text[:20]!r}"
                    ) from None
                if size > MAX_CHUNK:
                    raise httpx2.RemoteProtocolError(
                        f"chunk of {size} bytes is over the limit of {MAX_CHUNK} bytes"
                    )
                if size == 0:
                    # The last chunk; trailers (rare) end with an empty line.
                    if buffer.find(b"\r\n\r\n", line_end) >= 0:
                        if out:
                            yield b"".join(out)
                        return
                    break
                end = line_end + 2 + size
                if len(buffer) < end + 2:
                    break
                if buffer[end : end + 2] != b"\r\n":
                    raise httpx2.RemoteProtocolError("chunk not followed by CRLF")
                out.append(bytes(buffer[line_end + 2 : end]))
                pos = end + 2
            if pos:
                del buffer[:pos]
            if out:
                yield b"".join(out)
            if len(buffer) > _MAX_HEAD + _READ_SIZE and b"\r\n" not in buffer[:_MAX_HEAD]:
                raise httpx2.RemoteProtocolError("chunk size line too long")
            data = await self._read(conn, _READ_SIZE)
            if not data:
                raise httpx2.RemoteProtocolError("connection closed before the last chunk")
            buffer += data

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.unwatch()
        if self._keep_alive:
            self._transport._release(self._key, conn)
        else:
            conn.close()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def aclose(self) -> None:
        # Closed before its end: the rest of the body is still on the wire; drop the socket.
        self._discard()


class LeanTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 for one event loop, with up to ``max_idle`` kept-alive sockets per origin."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 256,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._closed = False
        # Connections asked for ahead and not yet claimed by a request, and those being opened.
        self._ahead: dict[tuple[str, str, int], int] = {}
        self._opening: dict[tuple[str, str, int], list[asyncio.Task[_Connection]]] = {}

    def connect_ahead(
        self, url: httpx2.URL, timeout: float | None
    ) -> asyncio.Future[_Connection] | None:
        """Start opening a connection to ``url``'s origin for a request about to be made.

        Called on the loop the requests run on; returns at once and never raises: the opening
        (a future done when the connection is in the pool, or failed), or None when the idle
        and opening connections already cover every request announced this way and not yet
        made. A failed connection is only logged: the request then connects itself, and
        reports the failure.
        """
        key = _origin(url)
        if self._closed or key is None:
            return None
        wanted = min(self._ahead.get(key, 0) + 1, self._max_idle)
        self._ahead[key] = wanted
        opening = self._opening.setdefault(key, [])
        if self._usable(key) + len(opening) >= wanted:
            return None
        task = asyncio.get_running_loop().create_task(self._connect(key, timeout))
        opening.append(task)
        task.add_done_callback(functools.partial(self._opened, key))
        return task

    def _usable(self, key: tuple[str, str, int]) -> int:
        """How many idle connections to ``key`` can still be used (the others are closed)."""
        idle = self._idle.get(key)
        if not idle:
            return 0
        now = time.monotonic()
        while idle and not (now - idle[0].idle_since < self._expiry and idle[0].open()):
            idle.pop(0).close()  # the oldest first: the first to expire
        return len(idle)

    def _opened(self, key: tuple[str, str, int], task: asyncio.Task[_Connection]) -> None:
        """A connection opened ahead is ready (or failed): into the pool with it."""
        opening = self._opening.get(key, [])
        if task in opening:
            opening.remove(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.debug("connecting ahead to %s:%s failed: %s", key[1], key[2], error)
            return
        self._release(key, task.result())

    async def _take_or_wait(self, key: tuple[str, str, int]) -> _Connection | None:
        """An idle connection, or the next one being opened ahead when none is idle."""
        conn = self._take(key)
        while conn is None and self._opening.get(key):
            # Not cancelled with the request: the connection then waits for the next one.
            await asyncio.wait([self._opening[key][0]])
            conn = self._take(key)
        return conn

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        key = _origin(url)
        if key is None:
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        head = self._head(request)
        body = await self._body(request)
        ahead = self._ahead.get(key, 0)
        if ahead:
            self._ahead[key] = ahead - 1
        conn = await self._take_or_wait(key)
        if conn is not None:
            try:
                return await self._exchange(request, key, conn, head, body, timeouts)
            except _StaleConnection:
                log.debug("kept-alive connection to %s:%s was closed; reconnecting", *key[1:])
        conn = await self._connect(key, timeouts.get("connect"))
        try:
            return await self._exchange(request, key, conn, head, body, timeouts)
        except _StaleConnection as exc:
            raise httpx2.RemoteProtocolError(
                "server closed the connection without a response"
            ) from exc

    @staticmethod
    def _head(request: httpx2.Request) -> bytes:
        target = request.url.raw_path or b"/"
        lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            lines += (name, b": ", value, b"\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

    @staticmethod
    async def _body(request: httpx2.Request) -> bytes:
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        parts = [part async for part in request.stream]  # type: ignore[union-attr]
        if not chunked:
            return b"".join(parts)
        encoded = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p]
        return b"".join(encoded) + b"0\r\n\r\n"

    def _take(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have timed out
            if now - conn.idle_since < self._expiry and conn.open():
                return conn
            conn.close()
        return None

    def _release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        if self._closed or not conn.open():
            conn.close()
            return
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self._max_idle:
            idle.pop(0).close()
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def _connect(self, key: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = key
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            tls = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                    limit=_MAX_HEAD,
                )
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx2.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    async def _exchange(
        self,
        request: httpx2.Request,
        key: tuple[str, str, int],
        conn: _Connection,
        head: bytes,
        body: bytes,
        timeouts: dict[str, Any],
    ) -> httpx2.Response:
        # A connection opened ahead and not used yet fails as a new one does (not retried).
        reused = conn.uses > 0
        conn.uses += 1
        read_timeout = timeouts.get("read")
        try:
            conn.writer.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                conn.writer.write(body)
            if conn.writer.transport.get_write_buffer_size():
                try:
                    async with asyncio.timeout(timeouts.get("write")):
                        await conn.writer.drain()
                except TimeoutError as exc:
                    raise httpx2.WriteTimeout("timed out sending the request") from exc
            status, reason, headers = await self._read_head(conn, read_timeout, reused=reused)
        except BaseException:
            conn.close()
            raise
        method = request.method
        values = {name.lower(): value for name, value in headers}
        connection = values.get(b"connection", b"").lower()
        keep_alive = b"close" not in connection
        chunked = b"chunked" in values.get(b"transfer-encoding", b"").lower()
        length: int | None = None
        if method == "HEAD" or status in _NO_BODY_STATUS:
            length = 0
        elif not chunked and b"content-length" in values:
            try:
                length = int(values[b"content-length"])
            except ValueError:
                conn.close()
                raise httpx2.RemoteProtocolError("malformed Content-Length") from None
        stream = _Body(
            self,
            key,
            conn,
            length=length,
            chunked=chunked and length is None,
            keep_alive=keep_alive,
            read_timeout=read_timeout,
        )
        return httpx2.Response(
            status,
            headers=headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def _read_head(
        self, conn: _Connection, read_timeout: float | None, *, reused: bool
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        while True:
            conn.watch(read_timeout)
            try:
                raw = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if conn.timed_out:
                    raise httpx2.ReadTimeout("timed out waiting for the response") from exc
                if reused and not exc.partial:
                    raise _StaleConnection from exc
                raise httpx2.RemoteProtocolError(
                    "server closed the connection without a complete response"
                ) from exc
            except asyncio.LimitOverrunError as exc:
                raise httpx2.RemoteProtocolError("response headers too long") from exc
            except (ConnectionError, OSError) as exc:
                if reused and not conn.timed_out:
                    raise _StaleConnection from exc
                if conn.timed_out:
                    raise httpx2.ReadTimeout("timed out waiting for the response") from exc
                raise httpx2.ReadError(f"connection lost waiting for the response: {exc}") from exc
            finally:
                conn.unwatch()
            lines = raw[:-4].split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise httpx2.RemoteProtocolError(f"malformed status line {lines[0][:80]!r}")
            status = int(parts[1])
            headers: list[tuple[bytes, bytes]] = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not name or name != name.strip():
                    raise httpx2.RemoteProtocolError(f"malformed header line {line[:80]!r}")
                headers.append((name, value.strip()))
            if 100 <= status < 200 and status != 101:
                continue  # an interim response (100 Continue, 103 Early Hints)
            return status, parts[2] if len(parts) > 2 else b"", headers

    async def aclose(self) -> None:
        self._closed = True
        opening, self._opening = self._opening, {}
        for tasks in opening.values():
            for task in tasks:
                task.cancel()  # one that connects all the same is closed by _release
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _origin(url: httpx2.URL) -> tuple[str, str, int] | None:
    """(scheme, host, port) of ``url``, the key of its connections; None for a scheme not spoken."""
    scheme = url.scheme
    if scheme not in ("http", "https"):
        return None
    return (scheme, url.host, url.port or (443 if scheme == "https" else 80))


class _StaleConnection(Exception):
    """A kept-alive connection was found closed before any byte of the response."""


class ReadDeadline:
    """A deadline for the reads of one stream, with one timer re-armed only when it fires.

    ``asyncio.timeout_at`` around every read schedules and cancels a timer per streamed chunk.
    Here a read sets :attr:`limit` and marks itself :attr:`reading`; the timer, when it fires,
    re-arms itself at the current limit if that moved, and cancels the task only while a read is
    under way (so a consumer working between chunks is never interrupted: the next read checks
    the limit first). :meth:`expired_by` tells a cancellation of its own from anyone else's.
    """

    __slots__ = ("_loop", "_task", "_timer", "limit", "reading", "fired")

    def __init__(self, limit: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always called from a coroutine
            raise RuntimeError("ReadDeadline needs a running task")
        self._task = task
        self._timer: asyncio.TimerHandle | None = None
        self.limit = limit
        self.reading = False
        self.fired = False

    def begin(self, limit: float) -> bool:
        """Start a read that must end by ``limit``; False if that moment has already passed."""
        self.limit = limit
        if self._loop.time() >= limit:
            return False
        if self._timer is None:
            self._timer = self._loop.call_at(limit, self._check)
        self.reading = True
        return True

    def end(self) -> None:
        self.reading = False

    def _check(self) -> None:
        self._timer = None
        if not self.reading:
            return  # between reads: the next read checks its limit and re-arms
        if self._loop.time() < self.limit:
            self._timer = self._loop.call_at(self.limit, self._check)
            return
        self.fired = True
        self._task.cancel()

    def expired_by(self, exc: BaseException) -> bool:
        """Whether ``exc`` (a CancelledError) is this deadline's own doing and nobody else's.

        If so, the task's cancellation is withdrawn and the caller raises its timeout instead.
        """
        if not self.fired:
            return False
        self.fired = False
        return self._task.uncancel() == 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
