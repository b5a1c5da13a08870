"""TemplatedClient builds exactly the request openai's own client builds, for the calls the
engine makes; anything unusual goes through openai's builder; a streamed post sent straight to
the engine's transport goes out and fails as openai's client would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest

from engine.backends.openai.client import MAX_ERROR_BODY, TemplatedClient
from engine.backends.openai.transport import LeanTransport

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


class _Recorder(LeanTransport):
    """The engine's transport with the network replaced by a list of canned answers."""

    def __init__(self, answers: list[Any]) -> None:
        super().__init__()
        self.seen: list[Any] = []
        self._answers = answers

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(
            (request.method, str(request.url), list(request.headers.raw), await request.aread(),
             request.extensions.get("timeout"))
        )  # fmt: skip
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class _Counted(TemplatedClient):
    """Counts the calls that went through openai's client."""

    through_openai = 0

    async def post(self, *args: Any, **kwargs: Any) -> Any:
        _Counted.through_openai += 1
        return await super().post(*args, **kwargs)


def _streamed(direct: bool, answers: list[Any]) -> tuple[list[Any], list[Any]]:
    """(what each of the calls returned or raised, the requests sent) for three streamed posts
    of BODIES[0], BODIES[1], BODIES[0], by TemplatedClient.post_streamed or by openai's own
    client; the first post makes the template, so the second and third go direct."""
    recorder = _Recorder(answers)
    outcomes: list[Any] = []
    _Counted.through_openai = 0

    async def run() -> None:
        http = httpx2.AsyncClient(transport=recorder)
        timeout = openai.Timeout(timeout=30, connect=5, read=20, pool=5)
        if direct:
            client: openai.AsyncOpenAI = _Counted(
                api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0,
                timeout=timeout, http_client=http, direct=recorder,
            )  # fmt: skip
        else:
            client = openai.AsyncOpenAI(
                api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0,
                timeout=timeout, http_client=http,
            )  # fmt: skip
        for body in (BODIES[0], BODIES[1], BODIES[0]):
            try:
                if direct:
                    assert isinstance(client, TemplatedClient)
                    response = await client.post_streamed("/chat/completions", body)
                else:
                    response = await client.post(
                        "/chat/completions", cast_to=httpx2.Response, body=body, stream=True
                    )
                outcomes.append((response.status_code, await response.aread()))
            except Exception as exc:  # noqa: BLE001 (the outcome is what is compared)
                outcomes.append(exc)
        await client.close()

    asyncio.run(run())
    if direct:
        assert _Counted.through_openai == 1
    return outcomes, recorder.seen


def _ok() -> httpx2.Response:
    return httpx2.Response(200, content=b'data: {"choices": []}\n\ndata: [DONE]\n\n')


def _described(outcome: Any) -> Any:
    if isinstance(outcome, openai.APIStatusError):
        return (type(outcome), outcome.status_code, outcome.message, outcome.body,
                outcome.response.headers.get("retry-after"))  # fmt: skip
    if isinstance(outcome, Exception):
        return (type(outcome), type(outcome.__cause__))
    return outcome


def test_streamed_posts_past_the_first_go_to_the_transport_as_openai_would_send_them() -> None:
    outcomes, direct = _streamed(True, [_ok(), _ok(), _ok()])
    stock_outcomes, stock = _streamed(False, [_ok(), _ok(), _ok()])
    assert direct == stock and outcomes == stock_outcomes
    assert direct[1][3] != direct[0][3] and direct[2][3] == direct[0][3]


@pytest.mark.parametrize(
    "failure",
    [
        httpx2.Response(
            429,
            headers={"Retry-After": "3", "x-request-id": "req_1"},
            json={"error": {"message": "slow down", "type": "rate_limit_error"}},
        ),
        httpx2.Response(500, content=b"upstream exploded"),
        httpx2.Response(400, json={"error": {"message": "bad stop"}}),
        httpx2.ReadTimeout("no answer"),
        httpx2.ConnectError("refused"),
    ],
    ids=["429", "500", "400", "timeout", "connect"],
)
def test_a_direct_post_fails_as_openais_client_fails(failure: Any) -> None:
    outcomes, _ = _streamed(True, [_ok(), failure, _ok()])
    stock_outcomes, _ = _streamed(False, [_ok(), failure, _ok()])
    assert isinstance(outcomes[1], openai.OpenAIError)
    assert [_described(o) for o in outcomes] == [_described(o) for o in stock_outcomes]


def test_an_error_body_is_read_only_up_to_a_limit() -> None:
    served: list[int] = []

    async def endless() -> Any:
        for _ in range(MAX_ERROR_BODY // 65536 * 4):
            served.append(1)
            yield b"x" * 65536

    huge = httpx2.Response(503, content=endless())
    outcomes, _ = _streamed(True, [_ok(), huge, _ok()])
    error = outcomes[1]
    assert isinstance(error, openai.InternalServerError) and error.status_code == 503
    assert len(error.response.content) == MAX_ERROR_BODY
    assert len(served) <= MAX_ERROR_BODY // 65536 + 1  # the rest was never read
    assert outcomes[2][0] == 200
