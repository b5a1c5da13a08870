"""docs/server.md agrees with the protocol: its transcript validates against the committed
socket schema, and the Godot and Unity examples read only fields the messages have."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from fixtures_server import ROOT

from engine.server.protocol import socket_schema

DOC = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
SCHEMA = socket_schema()


def _transcript() -> list[tuple[str, dict[str, Any]]]:
    block = DOC.split("## The socket protocol", 1)[1].split("```", 2)[1]
    messages: list[tuple[str, str]] = []
    for line in block.splitlines():
        match = re.match(r"^(server|client)\s+(\{.*)$", line)
        if match:
            messages.append((match.group(1), match.group(2)))
        elif messages and line.strip():
            side, text = messages[-1]
            messages[-1] = (side, text + line.strip())
    return [(side, json.loads(text)) for side, text in messages]


def _fields() -> set[str]:
    names: set[str] = set()
    for definition in SCHEMA["$defs"].values():
        names.update(definition.get("properties", {}))
    return names


def test_transcript_messages_validate_against_the_schema() -> None:
    transcript = _transcript()
    assert len(transcript) >= 6
    for side, message in transcript:
        ref = "#/$defs/ServerMessage" if side == "server" else "#/$defs/ClientMessage"
        jsonschema.Draft202012Validator({**SCHEMA, "oneOf": [{"$ref": ref}]}).validate(message)


@pytest.mark.parametrize("language", ["gdscript", "csharp"])
def test_client_examples_read_only_real_fields_and_types(language: str) -> None:
    code = DOC.split(f"```{language}", 1)[1].split("```", 1)[0]
    if language == "gdscript":
        read = set(re.findall(r'message\["(\w+)"\]', code))
        types = set(re.findall(r'^\t\t"(\w+)":', code, flags=re.MULTILINE)) | set(
            re.findall(r'"type": "(\w+)"', code)
        )
    else:
        read = set(re.findall(r"public (?:string|int|float|ActionMsg\[\]) ([\w, ]+);", code))
        read = {name.strip() for group in read for name in group.split(",")}
        types = set(re.findall(r'case "(\w+)":', code)) | set(re.findall(r'type = "(\w+)"', code))
    assert read and read <= _fields() | {"type"}, read - _fields()
    known = {
        d["properties"]["type"].get("const")
        for d in SCHEMA["$defs"].values()
        if "type" in d.get("properties", {})
    }
    assert types and types <= known, types - known
