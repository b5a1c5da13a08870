"""Schemathesis against the served OpenAPI document: generated requests to every route, with a
server key, never get a 5xx (a short run here; ``bench/server_fuzz.py`` runs longer)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
from fixtures_server import ROOT, Live

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402


@pytest.fixture(scope="module")
def fuzzed(serve_world: Callable[..., Live], tmp_path_factory: pytest.TempPathFactory) -> Live:
    folder = tmp_path_factory.mktemp("fuzz") / "characters"
    shutil.copytree(ROOT / "characters", folder)
    from engine.server import LimitSettings

    unlimited = LimitSettings(key_requests_per_minute=1_000_000, player_requests_per_minute=1_000_000,
                              player_concurrent_turns=64)  # fmt: skip
    return serve_world(characters=str(folder), limits=unlimited)


def test_no_route_answers_with_a_server_error(fuzzed: Live) -> None:
    # Each operation's requests are drawn by Hypothesis from the served document itself.
    api = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {fuzzed.key}"}, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

        call()
