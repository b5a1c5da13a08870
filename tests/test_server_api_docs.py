"""The committed API documents (docs/api/) match what the code generates, and the messages a
real socket carries validate against the committed socket schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from fixtures_server import ROOT, Live, receive, turn_messages

from engine.server.apidocs import documents, render

API = ROOT / "docs" / "api"


@pytest.mark.parametrize("name", ["openapi.json", "socket.schema.json"])
def test_committed_document_matches_the_code(name: str) -> None:
    committed = (API / name).read_text(encoding="utf-8")
    assert committed == render(documents()[name]), (
        f"docs/api/{name} is out of date: run `python -m engine.server.apidocs`"
    )


def _validator(definition: str) -> Any:
    schema = json.loads((API / "socket.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator({**schema, "oneOf": [{"$ref": f"#/$defs/{definition}"}]})


def test_socket_messages_validate_against_the_committed_schema(live: Live) -> None:
    server_side = _validator("ServerMessage")
    client_side = _validator("ClientMessage")
    sent = [
        {"type": "greet", "character": "mira"},
        {"type": "say", "character": "mira", "text": "What is there to do here?", "ref": "q"},
        {"type": "say", "character": "nobody", "text": "hi"},
    ]
    received = []
    with live.socket(player="schema-p") as ws:
        received.append(receive(ws))
        for message in sent:
            client_side.validate(message)
            ws.send(json.dumps(message))
            received.extend(
                turn_messages(ws) if message["character"] != "nobody" else [receive(ws)]
            )
    assert {m["type"] for m in received} >= {
        "hello",
        "started",
        "sentence",
        "delta",
        "done",
        "error",
    }
    for message in received:
        server_side.validate(message)


def test_served_openapi_lists_every_route(live: Live) -> None:
    status, served = live.http("GET", "/openapi.json", auth=None)
    assert status == 200
    assert served["paths"].keys() == documents()["openapi.json"]["paths"].keys()
    assert "/v1/turns" in served["paths"] and "/v1/players/{player}" in served["paths"]


def test_client_schema_refuses_an_unknown_message_type() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validator("ClientMessage").validate({"type": "shout", "text": "hi"})
