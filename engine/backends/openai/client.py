"""The ``openai`` client, with the request of a plain JSON call built from a cached template.

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

from typing import Any

import httpx2
import openai
from openai._models import FinalRequestOptions
from openai._utils._json import openapi_dumps

__all__ = ["TemplatedClient"]


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
