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

from collections.abc import Callable
from typing import Any, Literal

import httpx2
import openai
from openai._models import FinalRequestOptions
from openai._utils._json import openapi_dumps

from engine.backends.openai.transport import LeanTransport

__all__ = ["SHARD_SIZE", "ClientPool", "Lease", "TemplatedClient", "client_pool"]


class TemplatedClient(openai.AsyncOpenAI):
    """:class:`openai.AsyncOpenAI` building repeated JSON requests from a cached template."""

    _TEMPLATES = 32  # kinds of request kept (path x retry count x timeout): a handful in use

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._templates: dict[
            tuple[Any, ...], tuple[str, httpx2.URL, list[tuple[bytes, bytes]], dict[str, Any]]
        ] = {}

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
                headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
                self._templates[key] = (request.method, request.url, headers, request.extensions)
            return request
        method, url, headers, extensions = template
        return httpx2.Request(
            method,
            url,
            headers=headers,
            content=openapi_dumps(options.json_data),
            extensions=dict(extensions),
        )

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


SHARD_SIZE = 32
"""Most requests one HTTP client (one connection pool) carries at once; more open another.

httpx looks through every connection of a pool on each request and each release, so one pool
of hundreds of connections spends quadratic time on a burst; small pools keep that flat."""


class Lease:
    """One request's claim on a client of a :class:`ClientPool`."""

    __slots__ = ("_load", "_index", "client", "_released")

    def __init__(self, load: list[int], index: int, client: openai.AsyncOpenAI) -> None:
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
        factory: Callable[[], openai.AsyncOpenAI],
        *,
        shard_size: int | None = SHARD_SIZE,
        owned: bool = True,
    ) -> None:
        self._factory = factory
        self._owned = owned
        self._shard = shard_size if shard_size is not None else 2**62
        self._clients: list[openai.AsyncOpenAI] = []
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

    def templated(http: httpx2.AsyncClient) -> TemplatedClient:
        return TemplatedClient(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout, http_client=http
        )

    if http_client is not None:
        given = http_client
        return ClientPool(lambda: templated(given), shard_size=None, owned=False)
    # Loading the trust store takes tens of milliseconds: once per loop, not per client.
    tls = httpx2.create_ssl_context()
    if transport == "lean":
        shared = openai.DefaultAsyncHttpxClient(
            timeout=timeout, transport=LeanTransport(ssl_context=tls, keepalive_expiry=5.0)
        )
        return ClientPool(lambda: templated(shared), shard_size=None)
    limits = httpx2.Limits(
        max_connections=None, max_keepalive_connections=SHARD_SIZE, keepalive_expiry=5.0
    )
    return ClientPool(
        lambda: templated(
            openai.DefaultAsyncHttpxClient(timeout=timeout, verify=tls, limits=limits)
        )
    )
