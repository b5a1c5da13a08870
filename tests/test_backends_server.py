"""The OpenAI-compatible test server itself: routes, pacing, stops, replies, faults, shutdown."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from engine.testing.openai_server import OpenAIServer, refused_base_url


def client(server: OpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=5)


def post(server: OpenAIServer, path: str, payload: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.base_url + path, data=payload, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_models_lists_the_served_model(openai_server: OpenAIServer) -> None:
    assert [m.id for m in client(openai_server).models.list()] == ["test-model"]


def test_unknown_route_and_non_json_body_are_openai_shaped_errors(
    openai_server: OpenAIServer,
) -> None:
    status, body = post(openai_server, "/nowhere", b"{}")
    assert status == 404 and "no route" in body["error"]["message"]
    status, body = post(openai_server, "/chat/completions", b"not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


def test_missing_model_is_a_400(openai_server: OpenAIServer) -> None:
    status, body = post(openai_server, "/chat/completions", json.dumps({"messages": []}).encode())
    assert status == 400 and "model" in body["error"]["message"]


def test_plain_chat_completion_has_usage_and_request_id(openai_server: OpenAIServer) -> None:
    reply = client(openai_server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == openai_server.reply
    assert reply.usage is not None and reply.usage.completion_tokens == 7
    assert reply._request_id == "req_000001"


def test_stop_sequences_truncate_and_max_tokens_reports_length(openai_server: OpenAIServer) -> None:
    c = client(openai_server)
    stopped = c.completions.create(model="m", prompt="x", stop=[", traveller"])
    assert stopped.choices[0].text == "Hello there" and stopped.choices[0].finish_reason == "stop"
    cut = c.completions.create(model="m", prompt="x", max_tokens=2)
    assert cut.choices[0].text == "Hello there, " and cut.choices[0].finish_reason == "length"


def test_queued_replies_come_first_then_the_default(openai_server: OpenAIServer) -> None:
    openai_server.queue_reply("one", "two")
    c = client(openai_server)
    texts = [
        c.chat.completions.create(model="m", messages=[]).choices[0].message.content
        for _ in range(3)
    ]
    assert texts == ["one", "two", openai_server.reply]


def test_tokens_per_second_paces_the_stream() -> None:
    with OpenAIServer(tokens_per_s=20, reply="a b c d e f") as server:
        started = time.perf_counter()
        stream = client(server).chat.completions.create(model="m", messages=[], stream=True)
        text = "".join(e.choices[0].delta.content or "" for e in stream if e.choices)
        elapsed = time.perf_counter() - started
    assert text == "a b c d e f"
    # At least five gaps of 50 ms (a floor the pacer keeps; a loaded machine only adds to it).
    assert elapsed >= 0.2


def test_faults_apply_only_to_their_endpoint_and_count(openai_server: OpenAIServer) -> None:
    openai_server.inject("503", endpoint="embeddings", times=2)
    c = client(openai_server)
    assert c.chat.completions.create(model="m", messages=[]).choices
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            c.embeddings.create(model="e", input="x")
    assert len(c.embeddings.create(model="e", input="x").data) == 1
    assert [call.fault for call in openai_server.calls] == [None, "503", "503", None]


def test_embeddings_in_float_format_are_unit_vectors(openai_server: OpenAIServer) -> None:
    status, body = post(
        openai_server,
        "/embeddings",
        json.dumps({"model": "e", "input": ["a", "b"], "encoding_format": "float"}).encode(),
    )
    assert status == 200 and len(body["data"]) == 2
    vector = body["data"][0]["embedding"]
    assert len(vector) == 32 and abs(sum(v * v for v in vector) - 1) < 1e-6


def test_clear_forgets_faults_replies_and_requests(openai_server: OpenAIServer) -> None:
    openai_server.inject("500")
    openai_server.queue_reply("queued")
    openai_server.clear()
    reply = client(openai_server).chat.completions.create(model="m", messages=[])
    assert reply.choices[0].message.content == openai_server.reply
    assert len(openai_server.requests) == 1


def test_stop_does_not_wait_for_a_slow_response_in_flight() -> None:
    server = OpenAIServer().start()
    server.inject("slow", delay_s=120)
    c = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="m", messages=[])
    stopping = threading.Thread(target=server.stop, daemon=True)
    stopping.start()
    stopping.join(60)
    assert not stopping.is_alive()  # stopped long before the response would have been sent


def test_refused_base_url_refuses() -> None:
    c = openai.OpenAI(base_url=refused_base_url(), api_key="x", max_retries=0, timeout=2)
    with pytest.raises(openai.APIConnectionError):
        c.models.list()


def _raw_stream(server: OpenAIServer, body: dict[str, Any]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    payload = json.dumps(body).encode()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n0\r\n\r\n"):
        more = sock.recv(65536)
        if not more:
            break
        data += more
    return data


def test_many_paced_streams_each_arrive_whole_and_in_order() -> None:
    reply = "one two three four five six seven eight"
    with OpenAIServer(latency_s=0.05, tokens_per_s=200, reply=reply) as server:
        socks = [
            _raw_stream(server, {"model": "m", "messages": [], "stream": True}) for _ in range(40)
        ]
        bodies = [_read_all(s) for s in socks]
        for s in socks:
            s.close()
    for body in bodies:
        events = [
            json.loads(line[6:])
            for line in body.decode().splitlines()
            if line.startswith("data: {")
        ]
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
        assert text == reply
        assert events[-1]["choices"][0]["finish_reason"] == "stop"
        assert body.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")


def test_stop_drops_paced_streams_promptly_and_a_client_leaving_is_counted() -> None:
    server = OpenAIServer(latency_s=0.0, tokens_per_s=2, reply="a b c d e f g h").start()
    leaving = _raw_stream(server, {"model": "m", "messages": [], "stream": True})
    assert b"200 OK" in leaving.recv(65536)
    leaving.close()  # walks away: the next piece finds the connection gone
    deadline = time.monotonic() + 5
    while server.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.disconnects == 1
    staying = _raw_stream(server, {"model": "m", "messages": [], "stream": True})
    assert b"200 OK" in staying.recv(65536)
    server.stop()
    assert not _read_all(staying).endswith(b"0\r\n\r\n")  # cut, not finished
    staying.close()
