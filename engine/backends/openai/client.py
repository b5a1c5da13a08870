"""The ``openai`` clients of a backend: a request of a plain JSON call built from a cached
template, and a pool of such clients per event loop.

For every request, the ``openai`` client merges its headers afresh, parses the URL three times
and builds two header objects: about two thirds of its time per request, spent in the event
loop that also streams every other reply. For the engine's own calls (a JSON body; no custom
headers, query, files or extra body) all of that but the body comes out the same each time.
:class:`TemplatedClient` builds the first request of each kind with ``openai``'s own code,
keeps it as a template, and then only serialises the body (as ``openai`` does) for the next
ones. Anything else goes through ``openai``'s builder unchanged. A test compares both builders'
requests for the calls the engine makes, so an ``openai`` release that builds them differently
fails the test rather than going unnoticed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

import httpx2
import openai
from openai._models import FinalRequestOptions
from openai._utils._json import openapi_dumps

from engine.backends.openai.transport import LeanTransport

__all__ = ["MAX_ERROR_BODY", "SHARD_SIZE", "ClientPool", "Lease", "TemplatedClient", "client_pool"]


_Template = tuple[str, httpx2.URL, list[tuple[bytes, bytes]], dict[str, Any]]
"""A request's method, URL, headers (without Content-Length) and extensions."""


class TemplatedClient(openai.AsyncOpenAI):
    """:class:`openai.AsyncOpenAI` building repeated JSON requests from a cached template.

    With ``direct`` (the engine's own transport, which the client's HTTP client also uses),
    :meth:`post_streamed` sends a streamed request's second and later copies straight to it.
    """

    _TEMPLATES = 32  # kinds of request kept (path x retry count x timeout): a handful in use

    def __init__(self, *args: Any, direct: LeanTransport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._templates: dict[tuple[Any, ...], _Template] = {}
        self._direct = direct
        self._streamed: dict[str, _Template] = {}

    @property
    def user_agent(self) -> str:
        # openai names the client class in it; this is the same client to a server.
        return f"AsyncOpenAI/Python {self._version}"

    def _build_request(
        self, options: FinalRequestOptions, *, retries_taken: int = 0
    ) -> httpx2.Request:
        key = self._template_key(options, retries_taken)
        if key is None:
            return super()._build_request(options, retries_taken=retries_taken)
        template = self._templates.get(key)
        if template is None:
            request = super()._build_request(options, retries_taken=retries_taken)
            if len(self._templates) < self._TEMPLATES:
                self._templates[key] = _template_of(request)
            return request
        method, url, headers, extensions = template
        return httpx2.Request(
            method,
            url,
            headers=headers,
            content=openapi_dumps(options.json_data),
            extensions=dict(extensions),
        )

    async def post_streamed(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        """``post(path, cast_to=httpx2.Response, body=body, stream=True)``: the response once
        its headers arrived, its body unread; a status of 400 or more raises openai's error.

        The first request to ``path`` goes through ``openai`` and becomes the template. Over the
        engine's own transport the later ones go to it straight: the same bytes on the wire
        (the body serialised as ``openai`` does), without the ``openai`` and ``httpx`` client
        layers (options, hooks, auth and redirect handling), which cost a burst of two hundred
        requests about a tenth of a second on the event loop that streams every reply. Errors
        are ``openai``'s as its client raises them, except that an error's body is read only
        up to :data:`MAX_ERROR_BODY` bytes.
        """
        template = self._streamed.get(path) if self._direct is not None else None
        if template is None:
            response: httpx2.Response = await self.post(
                path, cast_to=httpx2.Response, body=body, stream=True
            )
            if self._direct is not None:
                options = FinalRequestOptions.construct(method="post", url=path, json_data=body)
                if self._template_key(options, 0) is not None:
                    self._streamed[path] = _template_of(response.request)
            return response
        method, url, headers, extensions = template
        request = httpx2.Request(
            method, url, headers=headers, content=openapi_dumps(body), extensions=dict(extensions)
        )
        try:
            response = await self._direct.handle_async_request(request)  # type: ignore[union-attr]
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except (httpx2.RequestError, OSError) as exc:
            raise openai.APIConnectionError(request=request) from exc
        response.request = request
        if response.status_code >= 400:
            raise self._make_status_error_from_response(await _read_error(response))
        return response

    def _template_key(
        self, options: FinalRequestOptions, retries_taken: int
    ) -> tuple[Any, ...] | None:
        """What the request's headers and URL depend on, or None when it is not a plain JSON
        call (then openai builds it)."""
        if (
            not isinstance(options.json_data, dict)
            or options.headers
            or options.params
            or options.files is not None
            or options.content is not None
            or options.extra_json is not None
            or (options.idempotency_key is not None and self._idempotency_header)
            or self.default_query
            or getattr(self, "_api_key_provider", None) is not None  # a key that changes
            or getattr(self, "_workload_identity_auth", None) is not None
        ):
            return None
        return (
            options.method,
            options.url,
            retries_taken,
            repr(options.timeout),
            repr(options.security),
            self.api_key,
            str(self.base_url),
        )


def _template_of(request: httpx2.Request) -> _Template:
    headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
    return (request.method, request.url, headers, dict(request.extensions))


MAX_ERROR_BODY = 1024 * 1024
"""Most bytes of an error response's body read for its message; the rest is dropped."""


async def _read_error(response: httpx2.Response) -> httpx2.Response:
    """An error response read (at most :data:`MAX_ERROR_BODY` bytes of its body) and closed."""
    body = bytearray()
    try:
        async for piece in response.aiter_bytes():
            body += piece
            if len(body) >= MAX_ERROR_BODY:
                del body[MAX_ERROR_BODY:]
                break
    finally:
        await response.aclose()
    return httpx2.Response(
        response.status_code,
        headers=response.headers,
        content=bytes(body),
        request=response.request,
        extensions=response.extensions,
    )


SHARD_SIZE = 32
"""Most requests one HTTP client (one connection pool) carries at once; more open another.

httpx looks through every connection of a pool on each request and each release, so one pool
of hundreds of connections spends quadratic time on a burst; small pools keep that flat."""


class Lease:
    """One request's claim on a client of a :class:`ClientPool`."""

    __slots__ = ("_load", "_index", "client", "_released")

    def __init__(self, load: list[int], index: int, client: TemplatedClient) -> None:
        self._load = load
        self._index = index
        self.client = client
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._load[self._index] -= 1


class ClientPool:
    """Clients of one event loop; each request goes to the least busy one.

    A lone conversation always uses the first client (and its kept-alive connection); a burst
    opens another client for every :data:`SHARD_SIZE` requests in flight.
    """

    def __init__(
        self,
        factory: Callable[[], TemplatedClient],
        *,
        shard_size: int | None = SHARD_SIZE,
        owned: bool = True,
    ) -> None:
        self._factory = factory
        self._owned = owned
        self._shard = shard_size if shard_size is not None else 2**62
        self._clients: list[TemplatedClient] = []
        self._load: list[int] = []

    def lease(self) -> Lease:
        load = self._load
        best = -1
        for index, busy in enumerate(load):
            if busy < self._shard and (best < 0 or busy < load[best]):
                best = index
                if busy == 0:
                    break
        if best < 0:
            self._clients.append(self._factory())
            load.append(0)
            best = len(load) - 1
        load[best] += 1
        return Lease(load, best, self._clients[best])

    def connect_ahead(self, timeout: float | None) -> asyncio.Future[Any] | None:
        """Start opening a connection for a request about to be made, when the requests go
        over the engine's own transport (:meth:`LeanTransport.connect_ahead`: the opening, or
        None when none is needed); else None."""
        if not self._clients:
            self._clients.append(self._factory())
            self._load.append(0)
        client = self._clients[0]
        if client._direct is None:
            return None
        return client._direct.connect_ahead(client.base_url, timeout)

    async def aclose(self) -> None:
        """Close the clients (and their HTTP clients) unless the HTTP client was the caller's."""
        clients, self._clients, self._load = self._clients, [], []
        if not self._owned:
            return
        for client in clients:
            await client.close()


def client_pool(
    *,
    api_key: str,
    base_url: str,
    timeout: openai.Timeout,
    transport: Literal["lean", "httpx"],
    http_client: httpx2.AsyncClient | None = None,
) -> ClientPool:
    """The clients of one event loop for a backend.

    ``http_client`` (the caller's, e.g. over an ``httpx2.MockTransport``) carries every request
    and is never closed here; otherwise ``"lean"`` shares one client over the engine's own
    transport (no per-connection cost on each request), and ``"httpx"`` opens a client per
    :data:`SHARD_SIZE` requests in flight.
    """

    def templated(http: httpx2.AsyncClient, direct: LeanTransport | None = None) -> TemplatedClient:
        return TemplatedClient(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=http,
            direct=direct,
        )

    if http_client is not None:
        given = http_client
        return ClientPool(lambda: templated(given), shard_size=None, owned=False)
    # Loading the trust store takes tens of milliseconds: once per loop, not per client.
    tls = httpx2.create_ssl_context()
    if transport == "lean":
        lean = LeanTransport(ssl_context=tls, keepalive_expiry=5.0)
        shared = openai.DefaultAsyncHttpxClient(timeout=timeout, transport=lean)
        return ClientPool(lambda: templated(shared, lean), shard_size=None)
    limits = httpx2.Limits(
        max_connections=None, max_keepalive_connections=SHARD_SIZE, keepalive_expiry=5.0
    )
    return ClientPool(
        lambda: templated(
            openai.DefaultAsyncHttpxClient(timeout=timeout, verify=tls, limits=limits)
        )
    )
