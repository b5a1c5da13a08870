"""The lean HTTP/1.1 transport, against real loopback servers that answer with chosen bytes."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest

from engine.backends import OpenAIBackend
from engine.backends.openai.transport import LeanTransport, ReadDeadline, lean_transport_applies
from engine.dialogue.prompt import Prompt, Section
from engine.testing.openai_server import refused_base_url

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and body (Content-Length bodies only, as the client sends)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


class RawServer:
    """A loopback server whose handler writes whatever bytes a test wants; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


def _run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


async def _get(url: str, transport: LeanTransport, **kwargs: Any) -> tuple[int, bytes, Any]:
    async with httpx2.AsyncClient(transport=transport, **kwargs) as client:
        response = await client.post(url, content=b'{"q": 1}')
        return response.status_code, response.content, response.headers


CHUNKED_BODY = (
    b"".join(
        b"%x\r\n%s\r\n" % (len(part), part)
        for part in (b"data: one\n\n", b"data: tw\xc3\xa9\n\n", b"x" * 300)
    )
    + b"0\r\n\r\n"
)
EXPECTED = b"data: one\n\ndata: tw\xc3\xa9\n\n" + b"x" * 300


@pytest.mark.parametrize("size", [1, 2, 5, 17, len(CHUNKED_BODY)])
def test_a_chunked_body_is_the_same_however_the_bytes_arrive(size: int) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: r1\r\n\r\n")
        for i in range(0, len(CHUNKED_BODY), size):
            writer.write(CHUNKED_BODY[i : i + size])
            await writer.drain()
            await asyncio.sleep(0)

    async def go() -> tuple[int, bytes, Any]:
        async with RawServer(handler) as url:
            return await _get(url + "/v1/x", LeanTransport())

    status, body, headers = _run(go())
    assert (status, body, headers["x-request-id"]) == (200, EXPECTED, "r1")


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"hello"),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"until the end"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n", b"ok"),
    ],
    ids=["content-length", "read-to-close", "interim-response"],
)
def test_bodies_by_length_by_close_and_after_an_interim_response(head: bytes, body: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(head + body)
        await writer.drain()

    async def go() -> tuple[int, bytes, Any]:
        async with RawServer(handler) as url:
            return await _get(url, LeanTransport())

    status, got, _ = _run(go())
    assert got == body
    assert status in (200, 201)


def test_requests_one_after_another_reuse_one_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
            )
            await writer.drain()

    async def go() -> tuple[list[bytes], int]:
        server = RawServer(handler)
        async with server as url, httpx2.AsyncClient(transport=LeanTransport()) as client:
            bodies = [(await client.post(url, content=b"{}")).content for _ in range(3)]
            return bodies, server.connections

    bodies, connections = _run(go())
    assert bodies == [b"hi"] * 3
    assert connections == 1


def test_a_kept_alive_connection_the_server_closed_is_replaced_and_the_request_sent_again() -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await _read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes")
        await writer.drain()
        # Closes without "Connection: close": the client learns only when it reuses it.

    async def go() -> list[bytes]:
        async with RawServer(handler) as url:
            async with httpx2.AsyncClient(transport=LeanTransport()) as client:
                first = (await client.post(url, content=b"{}")).content
                await asyncio.sleep(0.05)
                second = (await client.post(url, content=b"{}")).content
                return [first, second]

    assert _run(go()) == [b"yes", b"yes"]
    assert served == 2


def test_a_server_that_stops_sending_raises_a_read_timeout_in_time() -> None:
    server_done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await asyncio.sleep(5)
        server_done.set()

    async def go() -> tuple[bytes, bool]:
        received = b""
        async with RawServer(handler) as url:
            async with httpx2.AsyncClient(
                transport=LeanTransport(), timeout=httpx2.Timeout(5.0, read=0.3)
            ) as client:
                async with client.stream("POST", url, content=b"{}") as response:
                    with pytest.raises(httpx2.ReadTimeout):
                        async for piece in response.aiter_raw():
                            received += piece
                return received, server_done.is_set()

    received, server_finished = _run(go())
    # What was sent arrived, then the silence was cut by the read limit, not by the server.
    assert received == b"abc" and not server_finished


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"SPDY/9 200 OK\r\n\r\n", httpx2.RemoteProtocolError),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            httpx2.RemoteProtocolError,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            httpx2.RemoteProtocolError,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", httpx2.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nbroken header line\r\n\r\n", httpx2.RemoteProtocolError),
        (b"", httpx2.RemoteProtocolError),
    ],
    ids=["status-line", "cut-chunk", "chunk-size", "short-length", "header", "nothing"],
)
def test_malformed_or_cut_responses_raise_protocol_errors(reply: bytes, error: type) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(reply)
        await writer.drain()

    async def go() -> None:
        async with RawServer(handler) as url:
            await _get(url, LeanTransport())

    with pytest.raises(error):
        _run(go())


def test_nobody_listening_is_a_connect_error() -> None:
    with pytest.raises(httpx2.ConnectError):
        _run(_get(refused_base_url(), LeanTransport()))


def test_the_request_goes_out_as_the_client_built_it() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async def go() -> tuple[int, bytes, Any]:
        async with RawServer(handler) as url:
            return await _get(url + "/v1/chat/completions?x=1", LeanTransport())

    status, body, _ = _run(go())
    request = seen[0]
    assert (status, body) == (204, b"")
    assert request.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in request.lower()
    assert request.endswith(b'\r\n\r\n{"q": 1}')


@pytest.mark.parametrize(
    ("env", "direct"),
    [
        ({}, True),
        ({"HTTPS_PROXY": "http://proxy.local:3128"}, False),
        ({"ALL_PROXY": "http://proxy.local:3128"}, False),
        ({"HTTPS_PROXY": "http://proxy.local:3128", "NO_PROXY": "api.example.com"}, True),
        ({"HTTP_PROXY": "http://proxy.local:3128"}, True),  # only for http:// URLs
    ],
)
def test_a_proxy_in_the_environment_keeps_httpx_transport(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], direct: bool
) -> None:
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(key, raising=False)
        monkeypatch.delenv(key.lower(), raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert lean_transport_applies("https://api.example.com/v1") is direct
    backend = OpenAIBackend(base_url="https://api.example.com/v1", model="m", api_key="k")
    assert backend.transport == ("lean" if direct else "httpx")


def test_a_read_deadline_cancels_only_a_read_that_outlasts_it() -> None:
    async def go() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        watch = ReadDeadline(loop.time() + 0.05)
        # Working between reads past the limit is not interrupted...
        await asyncio.sleep(0.08)
        late = watch.begin(loop.time() + 0.05)
        # ...and a read that runs past it is.
        try:
            await asyncio.sleep(1)
            timed_out = False
        except asyncio.CancelledError as exc:
            timed_out = watch.expired_by(exc)
        finally:
            watch.end()
            watch.close()
        return late, timed_out

    assert _run(go()) == (True, True)


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_read_timeout() -> None:
    async def reader(watch_box: list[ReadDeadline]) -> None:
        loop = asyncio.get_running_loop()
        watch = ReadDeadline(loop.time() + 10)
        watch_box.append(watch)
        watch.begin(loop.time() + 10)
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError as exc:
            assert not watch.expired_by(exc)
            raise
        finally:
            watch.end()
            watch.close()

    async def go() -> None:
        box: list[ReadDeadline] = []
        task = asyncio.create_task(reader(box))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    _run(go())


def test_a_reused_connection_closed_before_any_reply_byte_is_retried_on_a_new_one() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % connections)
        await writer.drain()
        if connections == 1:
            # The next request on this connection is read, then the socket closed unanswered
            # (a server's idle timeout racing the client's reuse).
            await _read_request(reader)

    async def go() -> list[bytes]:
        async with (
            RawServer(handler) as url,
            httpx2.AsyncClient(transport=LeanTransport()) as client,
        ):
            return [(await client.post(url, content=b"{}")).content for _ in range(2)]

    assert _run(go()) == [b"1", b"2"]
    assert connections == 2


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``localhost`` (made with the openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("trusted", [True, False])
def test_https_with_a_verified_certificate_and_a_refused_one(
    certificate: tuple[str, str], trusted: bool
) -> None:
    cert, key = certificate

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        await writer.drain()

    async def go() -> bytes:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        client_tls = ssl.create_default_context(cafile=cert if trusted else None)
        try:
            async with httpx2.AsyncClient(transport=LeanTransport(ssl_context=client_tls)) as c:
                return (await c.post(f"https://localhost:{port}/v1", content=b"{}")).content
        finally:
            server.close()

    if trusted:
        assert _run(go()) == b"secret"
    else:
        with pytest.raises(httpx2.ConnectError, match="certificate"):
            _run(go())


def test_events_that_arrive_in_one_read_reach_the_caller_as_one_chunk() -> None:
    words = ["Hello ", "there, ", "traveller. ", "Welcome ", "to ", "the ", "plaza."]
    events = [
        {"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words
    ] + [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    sse = b"".join(b"data: %s\n\n" % json.dumps(e).encode() for e in events) + b"data: [DONE]\n\n"
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(sse), sse)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n" + body)  # all in one write
        await writer.drain()

    async def go() -> list[str]:
        async with RawServer(handler) as url:
            backend = OpenAIBackend(base_url=url + "/v1", model="m", api_key="k")
            try:
                prompt = Prompt(
                    sections=(Section.system("persona", "You are Mira."),),
                    character="Mira",
                    player="Ada",
                )
                return [c.text async for c in backend.stream(prompt) if c.text]
            finally:
                await backend.aclose()

    texts = _run(go())
    assert texts == ["".join(words)]


def _answer_every_request(body: bytes = b"hi") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                % (len(body), body)
            )
            await writer.drain()

    return handler


def test_a_connection_opened_ahead_carries_the_request_that_follows() -> None:
    async def go() -> tuple[list[bytes], int, list[bool]]:
        server = RawServer(_answer_every_request())
        transport = LeanTransport()
        async with server as url, httpx2.AsyncClient(transport=transport) as client:
            opening = transport.connect_ahead(httpx2.URL(url), 5.0)
            assert opening is not None
            await opening  # opened before any request
            bodies = [(await client.post(url, content=b"{}")).content]
            # The connection is idle again: asking ahead for the next request opens nothing.
            again = transport.connect_ahead(httpx2.URL(url), 5.0)
            bodies.append((await client.post(url, content=b"{}")).content)
            return bodies, server.connections, [again is None]

    bodies, connections, nothing_opened = _run(go())
    assert bodies == [b"hi", b"hi"]
    assert connections == 1 and nothing_opened == [True]


def test_a_request_waits_for_the_connection_being_opened_ahead_instead_of_opening_another() -> None:
    async def go() -> tuple[list[bytes], int]:
        server = RawServer(_answer_every_request())
        transport = LeanTransport()
        async with server as url, httpx2.AsyncClient(transport=transport) as client:
            for _ in range(3):
                transport.connect_ahead(httpx2.URL(url), 5.0)
            # Sent at once, while the three connections are still being opened.
            responses = await asyncio.gather(*(client.post(url, content=b"{}") for _ in range(3)))
            return [r.content for r in responses], server.connections

    bodies, connections = _run(go())
    assert bodies == [b"hi"] * 3
    assert connections == 3


def test_connecting_ahead_to_nobody_is_silent_and_the_request_reports_the_refusal() -> None:
    async def go() -> None:
        transport = LeanTransport()
        url = refused_base_url()
        opening = transport.connect_ahead(httpx2.URL(url), 5.0)
        assert opening is not None
        await asyncio.wait([opening])
        async with httpx2.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx2.ConnectError):
                await client.post(url, content=b"{}")

    _run(go())


def test_closing_the_transport_stops_connections_being_opened_ahead() -> None:
    async def go() -> bool:
        server = RawServer(_answer_every_request())
        transport = LeanTransport()
        async with server as url:
            opening = transport.connect_ahead(httpx2.URL(url), 5.0)
            await transport.aclose()
            await asyncio.wait([opening])  # type: ignore[list-item]
            # Cancelled, or opened and closed at once: nothing is left in the pool.
            return not any(transport._idle.values())

    assert _run(go())


def test_a_turn_over_the_lean_transport_opens_its_connection_ahead_and_later_turns_reuse_it(
    tmp_path: Any,
) -> None:
    from engine.persona import load_characters
    from engine.runtime import Runtime, TurnDone
    from engine.testing.openai_server import OpenAIServer

    cast = load_characters("characters")
    with OpenAIServer(reply="Welcome to the square! The tea house is up the east steps.") as srv:
        backend = OpenAIBackend(base_url=srv.base_url, model="test-model", api_key="k")
        opened: list[object] = []
        connect_ahead = backend.connect_ahead

        def spy() -> Any:
            opening = connect_ahead()
            opened.append(opening)
            return opening

        backend.connect_ahead = spy  # type: ignore[method-assign]
        rt = Runtime(tmp_path / "w.db", backend=backend, characters=cast)
        try:
            texts = []
            for line in ("Hello!", "Where is the tea house?"):
                handle = rt.say("mira", "p1", line)
                deadline = time.monotonic() + 30
                done = None
                while done is None:
                    for event in rt.poll():
                        if isinstance(event, TurnDone) and event.handle_id == handle.id:
                            done = event
                    assert time.monotonic() < deadline
                    time.sleep(0.005)
                texts.append(done.result.text)
                assert rt.wait_idle(30)
        finally:
            rt.close()
    assert texts == ["Welcome to the square! The tea house is up the east steps."] * 2
    # The first turn opened a connection ahead; the second found it idle in the pool.
    assert opened[0] is not None and opened[1] is None
