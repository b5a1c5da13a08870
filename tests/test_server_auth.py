"""Who may do what: keys, player tokens (scope, expiry, tampering), codes, and no credential in logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import pytest
from fixtures_server import Live, receive, turn_messages
from websockets.exceptions import ConnectionClosed


def _close_code(live: Live, **options: str) -> tuple[int | None, dict[str, object]]:
    with live.socket(**options) as ws:
        error = receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    return closed.value.rcvd.code if closed.value.rcvd else None, error


@pytest.mark.parametrize(("auth", "code"), [(None, "missing_credentials"), ("npc_sk_wrong", "bad_credentials"),
                                            ("npt1.e30.bad", "bad_credentials")])  # fmt: skip
def test_missing_or_wrong_credentials_get_401_with_a_code(
    live: Live, auth: str | None, code: str
) -> None:
    status, body = live.http("GET", "/v1/characters", auth=auth)
    assert (status, body["code"]) == (401, code)


def test_tampered_token_is_refused(live: Live) -> None:
    token = live.token("p-tamper")
    prefix, payload, signature = token.split(".")
    forged = f"{prefix}.{payload[:-2]}AA.{signature}"
    assert live.http("GET", "/v1/characters", auth=forged)[0] == 401


def test_token_cannot_read_or_forget_another_players_data(live: Live) -> None:
    token = live.token("alice")
    for method, path in [
        ("GET", "/v1/players/bob/characters/mira/memories"),
        ("GET", "/v1/players/bob/characters/mira/facts"),
        ("GET", "/v1/players/bob/characters/mira/relationship"),
        ("GET", "/v1/players/bob/export"),
        ("DELETE", "/v1/players/bob"),
        ("DELETE", "/v1/players/bob/memories/1"),
    ]:
        status, body = live.http(method, path, auth=token)
        assert (status, body["code"]) == (403, "wrong_player"), path
    assert live.http("GET", "/v1/players/alice/characters/mira/memories", auth=token)[0] == 200


def test_token_cannot_forget_another_players_memory_by_id(live: Live) -> None:
    live.http("POST", "/v1/turns", {"character": "mira", "player": "bob", "text": "I keep bees."})
    assert live.service.runtime.wait_idle(20)
    status, body = live.http("GET", "/v1/players/bob/characters/mira/memories")
    bob_memory = body["memories"][0]["id"]
    token = live.token("alice")
    status, body = live.http("DELETE", f"/v1/players/alice/memories/{bob_memory}", auth=token)
    assert (status, body["code"]) == (404, "not_found")
    status, body = live.http("GET", "/v1/players/bob/characters/mira/memories")
    assert bob_memory in [m["id"] for m in body["memories"]]


def test_token_cannot_act_as_another_player(live: Live) -> None:
    token = live.token("alice")
    status, body = live.http(
        "POST", "/v1/turns", {"character": "mira", "player": "bob", "text": "hi"}, auth=token
    )
    assert (status, body["code"]) == (403, "wrong_player")
    code, error = _close_code(live, token=token, player="bob")
    assert (code, error["code"]) == (4403, "wrong_player")


def test_token_speaks_as_its_own_player(live: Live) -> None:
    token = live.token("carol")
    with live.socket(token=token) as ws:
        assert receive(ws)["player"] == "carol"
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "Hi!"}))
        done = turn_messages(ws)[-1]
    assert done["relationship"]["player"] == "carol"


def test_token_scoped_to_characters_cannot_talk_to_others(live: Live) -> None:
    token = live.token("dave", characters=["mira"])
    status, body = live.http("GET", "/v1/characters", auth=token)
    assert [c["id"] for c in body] == ["mira"]
    with live.socket(token=token) as ws:
        assert receive(ws)["characters"] == ["mira"]
        ws.send(json.dumps({"type": "say", "character": "bram", "text": "hi"}))
        assert receive(ws)["code"] == "character_not_allowed"
    status, body = live.http("POST", "/v1/turns", {"character": "bram", "text": "hi"}, auth=token)
    assert (status, body["code"]) == (403, "character_not_allowed")


def test_token_expires(live: Live) -> None:
    token = live.token("erin", ttl_s=1)
    assert live.http("GET", "/v1/characters", auth=token)[0] == 200
    time.sleep(1.2)
    status, body = live.http("GET", "/v1/characters", auth=token)
    assert (status, body["code"]) == (401, "token_expired")
    code, error = _close_code(live, token=token)
    assert (code, error["code"]) == (4401, "token_expired")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/tokens", {"player": "other"}),
    ("GET", "/v1/usage", None),
    ("GET", "/v1/audit", None),
    ("POST", "/v1/characters/validate", {"filename": "x.yaml", "content": "name: X"}),
])  # fmt: skip
def test_player_token_cannot_do_what_needs_a_key(
    live: Live, method: str, path: str, body: object
) -> None:
    token = live.token("frank")
    status, answer = live.http(method, path, body, auth=token)
    assert (status, answer["code"]) == (403, "key_required")


def test_socket_without_credentials_is_closed_4401(live: Live) -> None:
    from websockets.sync.client import connect

    with connect(live.thread.ws_url + "/v1/session?player=x", open_timeout=10) as ws:
        assert receive(ws)["code"] == "missing_credentials"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_player_forgets_themself_and_the_data_is_gone(live: Live) -> None:
    token = live.token("gina")
    live.http("POST", "/v1/turns", {"character": "mira", "text": "I grow roses."}, auth=token)
    assert live.service.runtime.wait_idle(20)
    status, exported = live.http("GET", "/v1/players/gina/export", auth=token)
    assert status == 200 and "roses" in json.dumps(exported)
    assert live.http("DELETE", "/v1/players/gina", auth=token)[0] == 200
    status, exported = live.http("GET", "/v1/players/gina/export", auth=token)
    assert "roses" not in json.dumps(exported)


def test_keys_and_tokens_never_reach_the_logs(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    token = live.token("hank")
    live.http("GET", "/v1/characters")
    live.http("GET", "/v1/characters", auth=token)
    live.http("GET", "/v1/characters", auth=live.key + "x")
    with live.socket(token=token) as ws:
        receive(ws)
    with live.socket(player="hank") as ws:
        receive(ws)
    time.sleep(0.2)
    # The test's own client logs its headers; everything else is the server's.
    server_records = [r for r in caplog.records if not r.name.startswith("websockets.client")]
    logged = "\n".join(record.getMessage() for record in server_records)
    assert "engine.server.access" in {r.name for r in server_records}
    assert "/v1/session?token=[redacted]" in logged  # uvicorn's own line for the socket
    assert live.key not in logged
    assert token not in logged and token.split(".")[2] not in logged


@pytest.mark.parametrize("log_text", [False, True])
def test_player_lines_reach_the_access_log_only_when_asked(
    serve_world: Callable[..., Live], caplog: pytest.LogCaptureFixture, log_text: bool
) -> None:
    live = serve_world(log_text=log_text)
    caplog.set_level(logging.INFO, logger="engine.server.access")
    live.http(
        "POST", "/v1/turns", {"character": "mira", "player": "quiet", "text": "my secret garden"}
    )
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "engine.server.access")
    assert ("my secret garden" in logged) is log_text


@pytest.mark.parametrize("memory_id", ["0", "-1", str(2**64), "abc"])
def test_out_of_range_memory_id_is_a_422_not_a_crash(live: Live, memory_id: str) -> None:
    status, body = live.http("DELETE", f"/v1/players/p/memories/{memory_id}")
    assert (status, body["code"]) == (422, "invalid")
