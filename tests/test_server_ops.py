"""Operations: health, readiness, Prometheus metrics, character reload, graceful shutdown."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fixtures_server import ROOT, Live, receive, start_server, turn_messages

from engine.backends import OpenAIBackend, RetryPolicy, Timeouts
from engine.memory.store import MemoryStore
from engine.testing.openai_server import OpenAIServer


def test_health_and_readiness(live: Live) -> None:
    assert live.http("GET", "/healthz", auth=None) == (
        200,
        {"status": "ok", "characters": 0, "active_turns": 0, "active_sessions": 0},
    )
    status, body = live.http("GET", "/readyz", auth=None)
    assert status == 200 and body["status"] == "ok" and body["characters"] == 4


def test_metrics_after_a_turn(live: Live) -> None:
    with live.socket(player="m-p") as ws:
        receive(ws)
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "Hi!"}))
        turn_messages(ws)
        status, text = live.http("GET", "/metrics", auth=None)
    assert status == 200
    assert 'npc_turns_total{kind="say",outcome="done"}' in text
    assert "npc_active_sessions 1" in text
    count = next(
        line for line in text.splitlines() if line.startswith("npc_first_sentence_seconds_count")
    )
    assert int(count.split()[1]) >= 1
    assert 'npc_tokens_total{direction="prompt"}' in text
    assert "# TYPE npc_first_sentence_seconds histogram" in text


def test_validate_reports_the_line_of_a_problem(live: Live) -> None:
    content = "name: Tess\nrole: courier\npersonality:\n  traits: [brave]\nemotions:\n  set: [neutral]\n  baseline: giddy\n"
    status, report = live.http(
        "POST", "/v1/characters/validate", {"filename": "tess.yaml", "content": content}
    )
    assert status == 200 and not report["ok"]
    assert report["problems"][0]["line"] == 7


def test_validate_refuses_a_path_as_file_name(live: Live) -> None:
    status, body = live.http(
        "POST", "/v1/characters/validate", {"filename": "../x.yaml", "content": "name: X"}
    )
    assert (status, body["code"]) == (422, "bad_filename")


def test_save_reloads_a_character(
    serve_world: Callable[..., Live], tmp_path: pytest.TempPathFactory
) -> None:
    import shutil

    folder = tmp_path / "characters"  # type: ignore[operator]
    shutil.copytree(ROOT / "characters", folder)
    live = serve_world(characters=str(folder))
    original = (folder / "bram.yaml").read_text(encoding="utf-8")
    changed = original.replace("name: Bram", "name: Bramwell", 1)
    assert changed != original
    status, report = live.http(
        "PUT", "/v1/characters", {"filename": "bram.yaml", "content": changed}
    )
    assert status == 200 and report["ok"] and report["reloaded"]
    status, body = live.http("GET", "/v1/characters")
    assert {c["id"]: c["name"] for c in body}["bram"] == "Bramwell"
    assert (folder / "bram.yaml").read_text(encoding="utf-8") == changed
    status, report = live.http(
        "PUT", "/v1/characters", {"filename": "bram.yaml", "content": "name: [oops"}
    )
    assert status == 200 and not report["ok"] and report["problems"][0]["line"] is not None
    assert (folder / "bram.yaml").read_text(encoding="utf-8") == changed


@pytest.fixture
def slow_model() -> Iterator[OpenAIServer]:
    with OpenAIServer(latency_s=1.0, reply="A slow and careful answer.") as server:
        yield server


def test_graceful_shutdown_lets_a_running_turn_finish_and_flushes_the_store(
    tmp_path: pytest.TempPathFactory, slow_model: OpenAIServer
) -> None:
    backend = OpenAIBackend(
        base_url=slow_model.base_url, model="test-model",
        timeouts=Timeouts(connect=1.0, first_token=5.0, idle=5.0, total=10.0),
        retry=RetryPolicy(max_retries=0, base_delay=0.01, max_delay=0.02),
    )  # fmt: skip
    live = start_server(tmp_path, backend=backend)  # type: ignore[arg-type]
    with live.socket(player="late") as ws:
        receive(ws)
        ws.send(
            json.dumps(
                {"type": "say", "character": "mira", "text": "One last thing before you close?"}
            )
        )
        assert receive(ws)["type"] == "started"
        stopper = threading.Thread(target=live.thread.stop)
        stopper.start()
        time.sleep(0.2)
        assert live.http("GET", "/readyz", auth=None)[0] == 503 or not stopper.is_alive()
        messages = turn_messages(ws)
        stopper.join(30)
    assert messages[-1]["type"] == "done"
    assert live.service.runtime.closed
    store = MemoryStore(live.world)
    try:
        lines = [t.text for t in store.recent_turns("mira", "late", 10)]
    finally:
        store.close()
    assert "One last thing before you close?" in lines
    assert "A slow and careful answer." in " ".join(lines)


def test_save_refuses_a_file_claiming_another_id(
    serve_world: Callable[..., Live], tmp_path: pytest.TempPathFactory
) -> None:
    import shutil

    folder = tmp_path / "characters"  # type: ignore[operator]
    shutil.copytree(ROOT / "characters", folder)
    live = serve_world(characters=str(folder))
    content = (folder / "mira.yaml").read_text(encoding="utf-8")
    status, body = live.http(
        "PUT", "/v1/characters", {"filename": "bram.yaml", "content": "id: mira\n" + content}
    )
    assert (status, body["code"]) == (422, "id_mismatch")
    assert "Bram" in (folder / "bram.yaml").read_text(encoding="utf-8")


def test_a_character_file_may_be_longer_than_a_message(live: Live) -> None:
    content = (ROOT / "characters" / "mira.yaml").read_text(encoding="utf-8")
    padded = content + "\n" + "# note\n" * 4000
    assert len(padded.encode()) > live.service.limiter.settings.max_message_bytes
    status, report = live.http(
        "POST", "/v1/characters/validate", {"filename": "mira.yaml", "content": padded}
    )
    assert status == 200 and report["ok"]


def test_overlong_player_id_is_refused(live: Live) -> None:
    status, body = live.http(
        "POST", "/v1/turns", {"character": "mira", "player": "p" * 500, "text": "hi"}
    )
    assert (status, body["code"]) == (422, "invalid")
