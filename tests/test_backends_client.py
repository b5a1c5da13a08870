"""TemplatedClient builds exactly the request openai's own client builds, for the calls the
engine makes; anything unusual goes through openai's builder."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest

from engine.backends.openai.client import TemplatedClient

BODIES: list[dict[str, Any]] = [
    {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "You are Mira, the host of Lantern Square."},
            {"role": "user", "content": "你好，米拉！Where is the tea house?", "name": "p1"},
        ],
        "max_tokens": 200,
        "temperature": 0.7,
    },
    {"model": "m", "prompt": "Mira: Welcome!\nAda:", "stop": ["\n"], "stream": True},
    {
        "model": "m",
        "messages": [{"role": "user", "content": "Answer in JSON."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    },
]


def _requests(client_class: type[openai.AsyncOpenAI], calls: list[dict[str, Any]]) -> list[Any]:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={})

    async def run() -> None:
        client = client_class(
            api_key="sk-test",
            base_url="http://127.0.0.1:9/v1",
            max_retries=0,
            timeout=openai.Timeout(timeout=30, connect=5, read=20, pool=5),
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
        )
        for call in calls:
            await client.post(cast_to=httpx2.Response, **call)
        await client.close()

    asyncio.run(run())
    return [
        (r.method, str(r.url), list(r.headers.raw), r.read(), r.extensions.get("timeout"))
        for r in seen
    ]


@pytest.mark.parametrize("path", ["/chat/completions", "/completions"])
def test_templated_requests_are_the_ones_openai_builds(path: str) -> None:
    # Each body twice: the first builds the template, the second comes from it.
    calls = [{"path": path, "body": b, "stream": bool(b.get("stream"))} for b in BODIES * 2]
    calls.append({"path": path, "body": BODIES[0], "options": {"timeout": 3.0}})
    stock = _requests(openai.AsyncOpenAI, calls)
    templated = _requests(TemplatedClient, calls)
    assert templated == stock
    assert {h for h in stock[0][2] if h[0] == b"user-agent"} == {
        (b"user-agent", f"AsyncOpenAI/Python {openai.__version__}".encode())
    }


def test_the_template_is_used_and_unusual_calls_go_to_openais_builder() -> None:
    unusual: list[dict[str, Any]] = [
        {"path": "/chat/completions", "body": BODIES[0], "options": {"headers": {"X-Trace": "1"}}},
        {"path": "/chat/completions", "body": BODIES[0], "options": {"params": {"q": "1"}}},
        {"path": "/chat/completions", "body": BODIES[0], "options": {"extra_json": {"seed": 1}}},
        {"path": "/embeddings", "content": b'{"model": "m", "input": "x"}'},
    ]
    assert _requests(TemplatedClient, unusual) == _requests(openai.AsyncOpenAI, unusual)

    client = TemplatedClient(api_key="k", base_url="http://127.0.0.1:9/v1")
    options = openai._models.FinalRequestOptions.construct(
        method="post", url="/chat/completions", json_data=BODIES[0]
    )
    first = client._build_request(options)
    assert len(client._templates) == 1
    second = client._build_request(options)
    assert second is not first and second.read() == first.read()
    custom = openai._models.FinalRequestOptions.construct(
        method="post", url="/chat/completions", json_data=BODIES[0], headers={"X-Trace": "1"}
    )
    client._build_request(custom)
    assert len(client._templates) == 1
