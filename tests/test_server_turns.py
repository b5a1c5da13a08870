"""Turns over a real socket and over ``POST /v1/turns`` (JSON and Server-Sent Events)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from fixtures_server import Live, receive, turn_messages

from engine.backends.scripted import ScriptedBackend
from engine.runtime import Runtime
from engine.runtime.events import TurnDone, TurnFailed


def test_socket_opens_with_hello_naming_player_and_characters(live: Live) -> None:
    with live.socket(player="hello-p") as ws:
        hello = receive(ws)
    assert hello["type"] == "hello"
    assert hello["player"] == "hello-p"
    assert "mira" in hello["characters"]
    assert hello["limits"]["max_line_chars"] > 0


def test_say_streams_started_sentences_and_done_with_emotion_actions_relationship(
    live: Live,
) -> None:
    with live.socket(player="p-say") as ws:
        receive(ws)
        ws.send(
            json.dumps(
                {
                    "type": "say",
                    "character": "mira",
                    "text": "Hello! What is this place?",
                    "ref": "r1",
                }
            )
        )
        messages = turn_messages(ws)
    assert messages[0]["type"] == "started" and messages[0]["ref"] == "r1"
    turn = messages[0]["turn"]
    assert all(m["turn"] == turn for m in messages)
    sentences = [m["text"] for m in messages if m["type"] == "sentence"]
    done = messages[-1]
    assert done["type"] == "done"
    assert sentences and " ".join(sentences) == done["text"]
    assert done["emotion"]
    assert isinstance(done["actions"], list)
    assert done["relationship"]["player"] == "p-say"
    assert done["sections"]


def _poll_types(world: str, character: str, player: str, text: str) -> list[str]:
    names = {"TurnStarted": "started", "TextDelta": "delta", "Sentence": "sentence",
             "TurnWarning": "warning", "TurnDone": "done", "TurnFailed": "failed"}  # fmt: skip
    with Runtime(world, backend=ScriptedBackend(), characters="characters") as rt:
        rt.say(character, player, text)
        events: list[Any] = []
        deadline = time.monotonic() + 20
        while (
            not any(isinstance(e, TurnDone | TurnFailed) for e in events)
            and time.monotonic() < deadline
        ):
            events.extend(rt.poll())
            time.sleep(0.005)
    return [names[type(e).__name__] for e in events]


def test_socket_carries_the_same_events_as_poll(live: Live, tmp_path: Any) -> None:
    line = "Where can I find tea?"
    with live.socket(player="p-same") as ws:
        receive(ws)
        ws.send(json.dumps({"type": "say", "character": "chen", "text": line}))
        socket_types = [m["type"] for m in turn_messages(ws)]
    assert socket_types == _poll_types(str(tmp_path / "w.db"), "chen", "p-same", line)


def test_greet_over_the_socket(live: Live) -> None:
    with live.socket(player="p-greet") as ws:
        receive(ws)
        ws.send(json.dumps({"type": "greet", "character": "bram", "player_name": "Ada"}))
        messages = turn_messages(ws)
    assert messages[0]["type"] == "started" and messages[0]["kind"] == "greet"
    assert messages[-1]["type"] == "done" and messages[-1]["text"]


def test_chinese_line_round_trips_as_utf8(live: Live) -> None:
    with live.socket(player="p-zh") as ws:
        receive(ws)
        ws.send(
            json.dumps(
                {"type": "say", "character": "lin", "text": "你好！这里是哪里？"},
                ensure_ascii=False,
            )
        )
        done = turn_messages(ws)[-1]
    assert done["type"] == "done" and done["text"]


def test_bad_message_gets_an_error_and_the_socket_stays_usable(live: Live) -> None:
    with live.socket(player="p-bad") as ws:
        receive(ws)
        ws.send("{not json")
        assert receive(ws)["code"] == "bad_message"
        ws.send(json.dumps({"type": "say", "character": "mira"}))
        assert receive(ws)["code"] == "bad_message"
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws)["type"] == "pong"


def test_unknown_character_and_unknown_turn_get_codes(live: Live) -> None:
    with live.socket(player="p-unknown") as ws:
        receive(ws)
        ws.send(json.dumps({"type": "say", "character": "nobody", "text": "hi", "ref": "x"}))
        error = receive(ws)
        assert (error["code"], error["ref"]) == ("unknown_character", "x")
        ws.send(json.dumps({"type": "cancel", "turn": 999999}))
        assert receive(ws)["code"] == "unknown_turn"


def test_oversized_message_and_line_are_refused_with_codes(live: Live) -> None:
    limits = live.service.limiter.settings
    with live.socket(player="p-big") as ws:
        receive(ws)
        ws.send(
            json.dumps(
                {"type": "say", "character": "mira", "text": "a" * (limits.max_message_bytes + 10)}
            )
        )
        assert receive(ws)["code"] == "message_too_large"
        ws.send(
            json.dumps(
                {"type": "say", "character": "mira", "text": "b" * (limits.max_line_chars + 1)}
            )
        )
        assert receive(ws)["code"] == "line_too_long"
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws)["type"] == "pong"


def test_post_turn_without_streaming_returns_the_outcome(live: Live) -> None:
    status, body = live.http(
        "POST", "/v1/turns", {"character": "mira", "player": "p-http", "text": "Hi!"}
    )
    assert status == 200
    assert body["done"]["text"] == " ".join(body["sentences"])
    assert body["failed"] is None


def test_post_turn_streams_server_sent_events_in_order(live: Live) -> None:
    request = urllib.request.Request(
        live.url + "/v1/turns",
        data=json.dumps(
            {"character": "mira", "player": "p-sse", "text": "Hi!", "stream": True}
        ).encode(),
        headers={"Authorization": "Bearer " + live.key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [block for block in raw.split("\n\n") if block.strip()]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    payloads = [json.loads(block.split("\n")[1].removeprefix("data: ")) for block in events]
    assert kinds[0] == "started" and kinds[-1] == "done"
    assert [p["type"] for p in payloads] == kinds


def test_memories_facts_relationship_after_a_turn(live: Live) -> None:
    live.http(
        "POST",
        "/v1/turns",
        {"character": "mira", "player": "p-mem", "text": "My name is Ada and I love tea."},
    )
    assert live.service.runtime.wait_idle(20)
    status, body = live.http("GET", "/v1/players/p-mem/characters/mira/memories")
    assert status == 200 and body["memories"]
    status, body = live.http("GET", "/v1/players/p-mem/characters/mira/relationship")
    assert status == 200 and body["turns"] >= 1
    status, body = live.http("GET", "/v1/players/p-mem/characters/mira/facts")
    assert status == 200 and isinstance(body["facts"], list)
