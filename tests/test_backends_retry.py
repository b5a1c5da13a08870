"""The retry decision of the OpenAI-compatible clients (RetryPolicy.delay), on its own."""

from __future__ import annotations

import math
import random

import pytest

from engine.backends.openai.retry import Failure, RetryPolicy
from engine.errors import RateLimitError, ServerError

POLICY = RetryPolicy(max_retries=2, base_delay=0.5, max_delay=8.0, jitter=0.0, max_retry_after=30.0)


def _failure(*, retryable: bool = True, retry_after: float | None = None) -> Failure:
    return Failure(ServerError("boom"), retryable=retryable, retry_after=retry_after)


@pytest.mark.parametrize(("attempt", "delay"), [(1, 0.5), (2, 1.0)])
def test_backoff_doubles_from_the_base_delay(attempt: int, delay: float) -> None:
    assert POLICY.delay(attempt, _failure(), random.Random(0)) == delay


def test_retries_stop_when_spent_or_final() -> None:
    assert POLICY.delay(3, _failure(), random.Random(0)) is None  # 2 retries after the first
    assert POLICY.delay(1, _failure(retryable=False), random.Random(0)) is None


def test_backoff_never_passes_max_delay() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=1.0, max_delay=3.0, jitter=0.0)
    assert policy.delay(6, _failure(), random.Random(0)) == 3.0


def test_jitter_varies_the_backoff_within_its_fraction() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=0.25)
    delays = {policy.delay(1, _failure(), random.Random(seed)) for seed in range(50)}
    assert len(delays) > 1 and all(d is not None and 0.75 <= d <= 1.25 for d in delays)


def test_a_servers_retry_after_is_followed_plus_the_settle_time() -> None:
    failure = Failure(RateLimitError("slow down"), retryable=True, retry_after=2.0)
    assert POLICY.delay(1, failure, random.Random(0)) == 2.0
    settled = POLICY.delay(1, failure, random.Random(0), settle=0.05)
    assert settled is not None and 2.0 <= settled <= 2.05


def test_a_retry_after_longer_than_allowed_gives_up_at_once() -> None:
    assert POLICY.delay(1, _failure(retry_after=31.0), random.Random(0)) is None


def test_a_wait_that_leaves_no_time_for_the_next_attempt_gives_up() -> None:
    assert POLICY.delay(1, _failure(), random.Random(0), remaining=0.5) is None
    assert POLICY.delay(1, _failure(), random.Random(0), remaining=math.inf) == 0.5
