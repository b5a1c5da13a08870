"""A real local HTTP server speaking the OpenAI API, with latency, pacing and injected faults.

It serves ``POST /v1/chat/completions`` (SSE streaming and plain, with the usage chunk when
``stream_options.include_usage`` is set), ``POST /v1/completions`` (the same for base models),
``POST /v1/embeddings`` (deterministic vectors, float or base64), ``POST /v1/moderations``
(flags the words configured per category in ``moderation_words``) and ``GET /v1/models``, on
loopback, on an ephemeral port, a thread per connection. The pieces of fault-free streams are
written by one pacer thread when due, so hundreds of streams at once keep their schedule (a
thread per stream waking 30 times a second queues for the interpreter lock and falls behind).
Tests and benchmarks drive real clients against it instead of mocking them.

Example::

    with OpenAIServer(latency_s=0.3, tokens_per_s=30, reply="Hello, traveller.") as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test")
        srv.inject("429", retry_after=1, times=1)   # the next request gets a 429
        ...
        srv.requests        # every JSON body received, in order

Faults (``inject(kind, ...)``), each consumed by the next matching request(s):

- ``"429"`` (with ``retry_after`` seconds in a Retry-After header), ``"400"``, ``"401"``,
  ``"403"``, ``"404"``, ``"422"``, ``"500"``, ``"502"``, ``"503"``: that status and an
  OpenAI-shaped error body;
- ``"slow"``: wait ``delay_s`` before sending anything (a first byte later than a timeout);
- ``"stall"``: send ``after_chunks`` chunks, then go silent for ``delay_s``;
- ``"cut"``: send ``after_chunks`` chunks, then drop the connection (a stream cut mid-way);
- ``"malformed"``: send ``after_chunks`` chunks, then an SSE data line that is not JSON;
- ``"error_event"``: send ``after_chunks`` chunks, then an ``{"error": ...}`` event (as
  providers do when overloaded mid-stream);
- ``"invalid_json"``: answer with text that is not JSON (for structured calls);
- ``"drop"``: close the connection without answering.

Connection refused needs no server: :func:`refused_base_url` gives a loopback URL nobody
listens on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from engine.backends.scripted import stream_pieces
from engine.testing.pacer import Pacer
from engine.text.tokens import estimate_tokens

__all__ = ["Fault", "OpenAIServer", "RecordedRequest", "refused_base_url"]

log = logging.getLogger(__name__)

FaultKind = Literal[
    "400", "401", "403", "404", "422", "429", "500", "502", "503",
    "slow", "stall", "cut", "malformed", "error_event", "invalid_json", "drop",
]  # fmt: skip
Endpoint = Literal["chat", "completions", "embeddings", "moderations", "any"]

_MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}


@dataclass
class Fault:
    """One injected fault and how many more requests it applies to."""

    kind: FaultKind
    times: int = 1
    retry_after: float | None = None
    delay_s: float = 1.0
    after_chunks: int = 2
    endpoint: Endpoint = "any"


@dataclass
class RecordedRequest:
    """A request the server received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    fault: str | None = None
    received: float = 0.0
    """``time.perf_counter()`` when the request's first line arrived (before the headers and
    body were parsed): the moment its first bytes reached the server."""


@dataclass
class _Answer:
    text: str
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)


def refused_base_url() -> str:
    """A loopback ``/v1`` URL on a port nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _embedding(text: str, dim: int) -> list[float]:
    # Hashed character trigrams: similar texts get similar vectors, deterministically.
    vec = [0.0] * dim
    padded = f"  {text.lower()}  "
    for i in range(len(padded) - 2):
        digest = hashlib.blake2b(padded[i : i + 3].encode("utf-8"), digest_size=8).digest()
        bucket, sign = struct.unpack("<II", digest)
        vec[bucket % dim] += 1.0 if sign % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked HTTP body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Server(ThreadingHTTPServer):
    # A model server listens with a deep backlog: a burst of hundreds of connects (a crowd of
    # conversations starting at once) must queue, not be refused as with the stdlib's 5.
    request_queue_size = 1024
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a kept-alive connection between requests is normal, not an error.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class OpenAIServer:
    """A threaded OpenAI-compatible HTTP server on ``127.0.0.1`` and an ephemeral port.

    ``latency_s`` is the time to first token (after the response headers, like prefill);
    ``tokens_per_s`` paces the streamed pieces on a fixed schedule, piece i at i / rate after
    the first (None sends them at once); ``reply`` is the
    default answer, ``json_reply`` the answer to requests with a ``response_format``;
    ``responder(body)`` may compute the answer instead. Quirks of real providers:
    ``structured="json_object"`` rejects ``json_schema`` response formats with a 400 (as
    DeepSeek does); ``api_key`` makes a wrong bearer token a 401; ``stream_usage=False``
    ignores ``stream_options``; ``moderation_words`` maps a moderation category (e.g.
    ``"harassment"``) to the words that flag it (case-insensitive substrings; a text's score
    for a category grows with the number of its words found).
    """

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        tokens_per_s: float | None = None,
        reply: str = "Hello there, traveller. Welcome to the plaza.",
        json_reply: str | dict[str, Any] | None = None,
        responder: Callable[[dict[str, Any]], str] | None = None,
        model: str = "test-model",
        structured: Literal["json_schema", "json_object", "none"] = "json_schema",
        api_key: str | None = None,
        stream_usage: bool = True,
        embedding_dim: int = 32,
        moderation_words: dict[str, Sequence[str]] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.latency_s = latency_s
        self.tokens_per_s = tokens_per_s
        self.reply = reply
        self.json_reply = json_reply
        self.responder = responder
        self.model = model
        self.structured = structured
        self.api_key = api_key
        self.stream_usage = stream_usage
        self.embedding_dim = embedding_dim
        self.moderation_words: dict[str, list[str]] = {
            category: [w.lower() for w in words]
            for category, words in (moderation_words or {}).items()
        }
        self.host = host
        self.calls: list[RecordedRequest] = []
        self.disconnects = 0
        self._faults: list[Fault] = []
        self._queued: list[str] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._pacer = Pacer(self._closing)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        """Bind and serve in a background thread. Returns self."""
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, 0), _Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        httpd.owner = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._closing.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-test-server",
            daemon=True,
        )
        self._thread.start()
        log.debug("test server on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving; in-flight slow responses are abandoned at their next pause."""
        self._closing.set()
        self._pacer.stop()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, what an OpenAI client takes as ``base_url``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- configuration ---------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        retry_after: float | None = None,
        delay_s: float = 1.0,
        after_chunks: int = 2,
        endpoint: Endpoint = "any",
    ) -> None:
        """Make the next ``times`` matching requests fail with ``kind`` (see the module docs)."""
        with self._lock:
            self._faults.append(Fault(kind, times, retry_after, delay_s, after_chunks, endpoint))

    def queue_reply(self, *texts: str) -> None:
        """Answer the next requests with these texts, in order, before falling back to ``reply``."""
        with self._lock:
            self._queued.extend(texts)

    def clear(self) -> None:
        """Forget faults, queued replies and recorded requests."""
        with self._lock:
            self._faults.clear()
            self._queued.clear()
            self.calls.clear()
            self.disconnects = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order."""
        with self._lock:
            return [c.body for c in self.calls]

    # -- used by the handler ---------------------------------------------------------------

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint in ("any", endpoint):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, request: RecordedRequest) -> str:
        with self._lock:
            self.calls.append(request)
            self._counter += 1
            return f"req_{self._counter:06d}"

    def _answer(self, body: dict[str, Any], fault: Fault | None) -> _Answer:
        if fault is not None and fault.kind == "invalid_json":
            return _Answer('{"reply": "this is not closed JSON", ')
        with self._lock:
            queued = self._queued.pop(0) if self._queued else None
        if queued is not None:
            text = queued
        elif self.responder is not None:
            text = self.responder(body)
        elif body.get("response_format") and self.json_reply is not None:
            text = (
                self.json_reply
                if isinstance(self.json_reply, str)
                else json.dumps(self.json_reply, ensure_ascii=False)
            )
        else:
            text = self.reply
        stops = body.get("stop") or []
        if isinstance(stops, str):
            stops = [stops]
        cut = min((text.find(s) for s in stops if s and s in text), default=-1)
        if cut >= 0:
            return _Answer(text[:cut], "stop")
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        pieces = stream_pieces(text)
        if isinstance(max_tokens, int) and 0 < max_tokens < len(pieces):
            return _Answer("".join(pieces[:max_tokens]), "length")
        return _Answer(text)

    def _pause(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True if it should go on."""
        if seconds <= 0:
            return not self._closing.is_set()
        return not self._closing.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openai-test-server/1.0"

    @property
    def owner(self) -> OpenAIServer:
        return self.server.owner  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        # Stream chunks are small writes; without this, Nagle's algorithm and the client's
        # delayed ACK add ~40 ms stalls that depend on timing, not on the code under test.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self) -> bool:
        # Called as soon as the request line has been read.
        self.received = time.perf_counter()
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s " + format, self.address_string(), *args)

    # -- plumbing --------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        error = {
            "message": message,
            "type": _STATUS_TYPES.get(status, "error"),
            "param": None,
            "code": None,
        }
        self._send_json(status, {"error": error}, headers)

    def _start_stream(self, request_id: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", request_id)
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(_chunk(data))
        self.wfile.flush()

    def _write_event(self, payload: Any) -> None:
        self.wfile.write(self._event_bytes(payload))
        self.wfile.flush()

    @staticmethod
    def _event_template(payload: dict[str, Any]) -> tuple[str, str]:
        """The text of an SSE event before and after its one string ``"\\x00"`` (the piece's
        text goes there, JSON-encoded), so each piece costs one short ``json.dumps``."""
        data = f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
        head, _, rest = data.partition(json.dumps("\x00"))
        return head, rest

    @staticmethod
    def _event_bytes(payload: Any) -> bytes:
        """One SSE event as one chunk of the chunked body."""
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        return _chunk(f"data: {text}\n\n".encode())

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routes ----------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "test"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_error(404, f"no route for GET {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0].rstrip("/")
        endpoint = (
            "chat" if path.endswith("/chat/completions")
            else "completions" if path.endswith("/completions")
            else "embeddings" if path.endswith("/embeddings")
            else "moderations" if path.endswith("/moderations")
            else None
        )  # fmt: skip
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_error(400, "request body is not JSON")
            return
        fault = owner._take_fault(endpoint or "any")
        headers = {k.lower(): v for k, v in self.headers.items()}
        request_id = owner._record(
            RecordedRequest(path, body, headers, fault.kind if fault else None, self.received)
        )
        try:
            self._serve(endpoint, body, fault, request_id)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            with owner._lock:
                owner.disconnects += 1
            self.close_connection = True
            log.debug("client went away during %s", request_id)

    def _serve(
        self, endpoint: str | None, body: dict[str, Any], fault: Fault | None, request_id: str
    ) -> None:
        owner = self.owner
        if endpoint is None:
            self._send_error(404, f"no route for POST {self.path}")
            return
        if fault is not None and fault.kind == "drop":
            self._drop()
            return
        if fault is not None and fault.kind == "slow" and not owner._pause(fault.delay_s):
            self._drop()
            return
        if fault is not None and fault.kind.isdigit():
            status = int(fault.kind)
            extra = {"x-request-id": request_id}
            if fault.retry_after is not None:
                extra["Retry-After"] = f"{fault.retry_after:g}"
            self._send_error(status, f"injected {status}", extra)
            return
        if (
            owner.api_key is not None
            and self.headers.get("Authorization") != f"Bearer {owner.api_key}"
        ):
            self._send_error(401, "Incorrect API key provided.", {"x-request-id": request_id})
            return
        if endpoint == "embeddings":
            self._embeddings(body, request_id)
            return
        if endpoint == "moderations":
            self._moderations(body, request_id)
            return
        problem = self._validate(endpoint, body)
        if problem:
            self._send_error(400, problem, {"x-request-id": request_id})
            return
        answer = owner._answer(body, fault)
        if body.get("stream"):
            self._stream(endpoint, body, answer, fault, request_id)
        else:
            if not owner._pause(owner.latency_s):
                self._drop()
                return
            self._send_json(
                200,
                self._completion(endpoint, body, answer, request_id),
                {"x-request-id": request_id},
            )

    def _validate(self, endpoint: str, body: dict[str, Any]) -> str | None:
        if not body.get("model"):
            return "you must provide a model parameter"
        if endpoint == "chat" and not isinstance(body.get("messages"), list):
            return "'messages' must be a list"
        if endpoint == "completions" and "prompt" not in body:
            return "'prompt' is required"
        response_format = body.get("response_format") or {}
        kind = response_format.get("type")
        if kind == "json_schema" and self.owner.structured != "json_schema":
            return "This response_format type is unavailable now"
        if kind == "json_object" and self.owner.structured == "none":
            return "response_format is not supported by this model"
        return None

    def _usage(self, body: dict[str, Any], answer: _Answer) -> dict[str, int]:
        if "messages" in body:
            prompt_text = " ".join(str(m.get("content", "")) for m in body["messages"])
        else:
            prompt_text = str(body.get("prompt", ""))
        prompt_tokens = estimate_tokens(prompt_text)
        completion_tokens = len(stream_pieces(answer.text))
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def _completion(
        self, endpoint: str, body: dict[str, Any], answer: _Answer, request_id: str
    ) -> dict[str, Any]:
        common = {
            "id": f"cmpl-{request_id}",
            "created": int(time.time()),
            "model": body.get("model"),
        }
        if endpoint == "chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": answer.finish_reason,
                "logprobs": None,
            }
            return {
                **common,
                "object": "chat.completion",
                "choices": [choice],
                "usage": self._usage(body, answer),
            }
        choice = {
            "index": 0,
            "text": answer.text,
            "finish_reason": answer.finish_reason,
            "logprobs": None,
        }
        return {
            **common,
            "object": "text_completion",
            "choices": [choice],
            "usage": self._usage(body, answer),
        }

    def _stream(
        self,
        endpoint: str,
        body: dict[str, Any],
        answer: _Answer,
        fault: Fault | None,
        request_id: str,
    ) -> None:
        owner = self.owner
        chat = endpoint == "chat"
        common = {
            "id": f"cmpl-{request_id}",
            "created": int(time.time()),
            "model": body.get("model"),
            "object": "chat.completion.chunk" if chat else "text_completion",
        }

        def piece(text: str | None, finish: str | None = None) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {} if text is None else {"content": text}
                if text == "":
                    delta["role"] = "assistant"
                return {
                    **common,
                    "choices": [
                        {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                    ],
                }
            return {
                **common,
                "choices": [
                    {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
                ],
            }

        self._start_stream(request_id)
        if chat:
            self._write_event(piece(""))
        interval = 1.0 / owner.tokens_per_s if owner.tokens_per_s else 0.0

        def tail() -> list[Any]:
            """The events after the last piece (counted only when needed: a prompt's tokens
            take a while to estimate)."""
            events: list[Any] = [piece(None, answer.finish_reason)]
            options = body.get("stream_options") or {}
            if owner.stream_usage and options.get("include_usage"):
                events.append({**common, "choices": [], "usage": self._usage(body, answer)})
            return [*events, "[DONE]"]

        if fault is None:
            # Piece i at first + i * interval; the end with the last piece. The pacer writes
            # them; this thread waits for the end.
            first = time.monotonic() + owner.latency_s
            texts = stream_pieces(answer.text)
            head, rest = self._event_template(piece("\x00"))

            def render(index: int) -> bytes:
                out = b""
                if index < len(texts):
                    text = json.dumps(texts[index], ensure_ascii=False)
                    out = _chunk((head + text + rest).encode())
                if index >= len(texts) - 1:
                    out += b"".join(self._event_bytes(p) for p in tail()) + b"0\r\n\r\n"
                return out

            due = [first + i * interval for i in range(max(1, len(texts)))]
            stream = owner._pacer.send(self.connection, due, render)
            stream.done.wait()
            if stream.error is not None:
                raise stream.error
            return
        if not owner._pause(owner.latency_s):
            self._drop()
            return
        # Piece i is due at first + i * interval, as a model decoding at a steady rate makes
        # it: a late write (many streams sharing this process) does not push the rest later.
        first = time.monotonic()
        for index, text in enumerate(stream_pieces(answer.text)):
            if fault is not None and index == fault.after_chunks:
                if fault.kind == "cut":
                    self._drop()
                    return
                if fault.kind == "malformed":
                    self._write_chunk(b'data: {"choices": [{"delta": {"content": "broken\n\n')
                    self._end_stream()
                    return
                if fault.kind == "error_event":
                    self._write_event(
                        {"error": {"message": "overloaded", "type": "server_error", "code": None}}
                    )
                    self._end_stream()
                    return
                if fault.kind == "stall":
                    if not owner._pause(fault.delay_s):
                        self._drop()
                        return
                    first += fault.delay_s
            if index and not owner._pause(first + index * interval - time.monotonic()):
                self._drop()
                return
            self._write_event(piece(text))
        for payload in tail():
            self._write_event(payload)
        self._end_stream()

    def _embeddings(self, body: dict[str, Any], request_id: str) -> None:
        owner = self.owner
        inputs = body.get("input")
        texts: Sequence[Any] = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not texts or not all(isinstance(t, str) for t in texts):
            self._send_error(
                400, "'input' must be a string or a list of strings", {"x-request-id": request_id}
            )
            return
        dim = int(body.get("dimensions") or owner.embedding_dim)
        data = []
        for index, text in enumerate(texts):
            vector = _embedding(text, dim)
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{dim}f", *vector)
                embedding: Any = base64.b64encode(packed).decode("ascii")
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(estimate_tokens(t) for t in texts)
        payload = {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        if not owner._pause(owner.latency_s):
            self._drop()
            return
        self._send_json(200, payload, {"x-request-id": request_id})

    def _moderations(self, body: dict[str, Any], request_id: str) -> None:
        owner = self.owner
        inputs = body.get("input")
        texts: Sequence[Any] = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not texts or not all(isinstance(t, str) for t in texts):
            self._send_error(
                400, "'input' must be a string or a list of strings", {"x-request-id": request_id}
            )
            return
        categories = list(dict.fromkeys([*_MODERATION_CATEGORIES, *owner.moderation_words]))
        results = []
        for text in texts:
            lowered = text.lower()
            scores = {category: 0.0 for category in categories}
            for category, words in owner.moderation_words.items():
                found = sum(1 for word in words if word and word in lowered)
                if found:
                    scores[category] = round(1.0 - 0.5**found * 0.2, 4)  # 0.9, 0.95, ...
            flags = {category: score >= 0.5 for category, score in scores.items()}
            results.append(
                {"flagged": any(flags.values()), "categories": flags, "category_scores": scores}
            )
        payload = {"id": f"modr-{request_id}", "model": body.get("model"), "results": results}
        if not owner._pause(owner.latency_s):
            self._drop()
            return
        self._send_json(200, payload, {"x-request-id": request_id})
