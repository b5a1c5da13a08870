"""OpenAIModerator against the real local test server's ``/moderations`` route."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from engine.backends.openai import OpenAIModerator, RetryPolicy
from engine.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    BadRequestError,
    RateLimitError,
    ServerError,
)
from engine.safety import Moderation, Moderator, Policy, apply_moderation, check_input
from engine.testing.openai_server import OpenAIServer, refused_base_url

WORDS = {"harassment": ["idiot", "moron"], "violence": ["stab"]}
QUICK_RETRY = RetryPolicy(max_retries=2, base_delay=0.02, max_delay=0.1)


@pytest.fixture
def server() -> Any:
    with OpenAIServer(moderation_words=WORDS) as srv:
        yield srv


def moderator_for(srv: OpenAIServer | None = None, **options: Any) -> OpenAIModerator:
    options.setdefault("retry", QUICK_RETRY)
    options.setdefault("timeout", 2.0)
    options.setdefault("rng", random.Random(3))
    base_url = srv.base_url if srv is not None else options.pop("base_url")
    return OpenAIModerator(base_url=base_url, model="test-moderation", api_key="test", **options)


def moderate(moderator: OpenAIModerator, text: str) -> Moderation:
    async def go() -> Moderation:
        try:
            return await asyncio.wait_for(moderator.moderate(text), timeout=8)
        finally:
            await moderator.aclose()

    return asyncio.run(go())


def test_moderator_satisfies_the_safety_protocol() -> None:
    assert isinstance(OpenAIModerator(base_url="http://127.0.0.1:9/v1"), Moderator)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You are an IDIOT.", ("harassment",)),
        ("I will stab you, moron", ("harassment", "violence")),
        ("Where is the tea house?", ()),
    ],
)
def test_flagged_categories_come_from_the_endpoint(
    server: OpenAIServer, text: str, expected: tuple[str, ...]
) -> None:
    result = moderate(moderator_for(server), text)
    assert result.flagged is bool(expected)
    assert set(result.categories) == set(expected)


def test_categories_are_ordered_by_score(server: OpenAIServer) -> None:
    # two harassment words score higher than one violence word
    result = moderate(moderator_for(server), "stab the idiot moron")
    assert result.categories == ("harassment", "violence")


def test_request_carries_the_model_and_the_text(server: OpenAIServer) -> None:
    moderate(moderator_for(server), "hello there")
    assert server.requests == [{"model": "test-moderation", "input": "hello there"}]


def test_empty_text_is_not_sent(server: OpenAIServer) -> None:
    assert moderate(moderator_for(server), "   ") == Moderation()
    assert server.requests == []


def test_categories_filter_ignores_other_categories(server: OpenAIServer) -> None:
    result = moderate(moderator_for(server, categories=["violence"]), "you idiot")
    assert result == Moderation()


def test_threshold_flags_by_score(server: OpenAIServer) -> None:
    strict = moderate(moderator_for(server, threshold=0.92), "you idiot")  # score 0.9
    assert not strict.flagged
    assert moderate(moderator_for(server, threshold=0.92), "idiot moron").flagged  # score 0.95


def test_flagged_text_blocks_the_verdict(server: OpenAIServer) -> None:
    text = "You are an idiot"
    policy = Policy()
    verdict = apply_moderation(
        check_input(text, policy), moderate(moderator_for(server), text), policy
    )
    assert verdict.allowed is False
    assert verdict.rule == "moderation:harassment"


def test_transient_status_is_retried_then_succeeds(server: OpenAIServer) -> None:
    server.inject("503", times=1, endpoint="moderations")
    assert moderate(moderator_for(server), "idiot").flagged
    assert len(server.requests) == 2


def decisions(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The retry decisions the moderator logged, in order."""
    return [
        r.getMessage() for r in caplog.records if " moderation failed on attempt " in r.getMessage()
    ]


def test_retry_after_is_honoured(server: OpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    server.inject("429", retry_after=0.3, times=1, endpoint="moderations")
    with caplog.at_level(logging.INFO):
        assert not moderate(moderator_for(server), "hello").flagged
    (decision,) = decisions(caplog)
    assert decision.endswith("retrying in 0.30s")  # the server's hint, not the backoff


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", ServerError),
        ("429", RateLimitError),
        ("401", AuthenticationError),
        ("400", BadRequestError),
    ],
)
def test_failures_raise_engine_errors_with_context(
    server: OpenAIServer, fault: Any, error: type[BackendError]
) -> None:
    server.inject(fault, times=5, endpoint="moderations")
    with pytest.raises(error) as info:
        moderate(moderator_for(server), "hello")
    assert info.value.provider == "openai"
    assert info.value.model == "test-moderation"
    assert info.value.status_code == int(fault)
    assert info.value.request_id is not None


def test_client_errors_are_not_retried(server: OpenAIServer) -> None:
    server.inject("400", times=5, endpoint="moderations")
    with pytest.raises(BadRequestError):
        moderate(moderator_for(server), "hello")
    assert len(server.requests) == 1


def test_slow_endpoint_raises_timeout_within_the_limit(
    server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject("slow", delay_s=3.0, times=5, endpoint="moderations")
    with caplog.at_level(logging.INFO), pytest.raises(BackendTimeoutError):
        moderate(moderator_for(server, timeout=0.5), "hello")
    # The whole budget went to the first attempt: no time was left to try again.
    (decision,) = decisions(caplog)
    assert "giving up" in decision and len(server.requests) == 1


def test_connection_refused_raises_unavailable() -> None:
    with pytest.raises(BackendUnavailableError):
        moderate(moderator_for(base_url=refused_base_url()), "hello")
