"""Record and replay: the same chunks back, misses explained, failures replayed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from engine.backends import (
    Chunk,
    GenerationParams,
    OpenAIBackend,
    RecordingBackend,
    ReplayBackend,
    RetryPolicy,
    ScriptedBackend,
    Timeouts,
    create_backend,
)
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import BackendUnavailableError, ReplayMissError, ServerError
from engine.persona import Persona
from engine.testing.openai_server import OpenAIServer

PERSONA = Persona.model_validate(
    {"name": "Mira", "examples": [{"player": "Where is tea?", "character": "At the tea house!"}]}
)


class Mood(BaseModel):
    emotion: str


def prompt_for(user: str, memories: str = "Ada likes tea.") -> Prompt:
    return Prompt(
        sections=(
            Section.system("persona", "You are Mira."),
            Section.system("memories", memories),
            Section.of("input", [Message(role="user", content=user)]),
        ),
        character="Mira",
        player="Ada",
        persona=PERSONA,
    )


async def chunks_of(
    backend: object, prompt: Prompt, params: GenerationParams | None = None
) -> list[Chunk]:
    return [c async for c in backend.stream(prompt, params)]  # type: ignore[attr-defined]


def test_replay_returns_the_recorded_chunks_exactly(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    openai_server.tokens_per_s = 50  # pieces 20 ms apart: several chunks to record
    inner = OpenAIBackend(base_url=openai_server.base_url, model="m", timeouts=Timeouts(total=5))

    async def go() -> tuple[list[Chunk], list[Chunk]]:
        recorder = RecordingBackend(inner, path)
        recorded = await chunks_of(recorder, prompt_for("Where is tea?"))
        await recorder.aclose()
        replayed = await chunks_of(ReplayBackend(path), prompt_for("Where is tea?"))
        return recorded, replayed

    recorded, replayed = asyncio.run(go())
    assert replayed == recorded
    assert len(replayed) > 3 and replayed[-1].usage is not None


def test_replay_backend_is_labelled_and_keeps_capabilities(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(chunks_of(RecordingBackend(ScriptedBackend(), path), prompt_for("hi")))
    replay = create_backend(f"replay:{path}")
    assert replay.name == "replay:scripted" and replay.capabilities.kind == "replay"


def test_the_same_request_twice_replays_in_recorded_order(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    server = OpenAIServer()
    with server:
        server.queue_reply("First answer.", "Second answer.")
        inner = OpenAIBackend(base_url=server.base_url, model="m")

        async def record() -> None:
            recorder = RecordingBackend(inner, path)
            await chunks_of(recorder, prompt_for("again"))
            await chunks_of(recorder, prompt_for("again"))
            await recorder.aclose()

        asyncio.run(record())

    async def replay() -> list[str]:
        backend = ReplayBackend(path)
        return [
            "".join(c.text for c in await chunks_of(backend, prompt_for("again"))) for _ in range(3)
        ]

    assert asyncio.run(replay()) == ["First answer.", "Second answer.", "Second answer."]


def test_miss_names_the_hash_and_first_differing_section(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(chunks_of(RecordingBackend(ScriptedBackend(), path), prompt_for("Where is tea?")))
    with pytest.raises(ReplayMissError) as info:
        asyncio.run(
            chunks_of(ReplayBackend(path), prompt_for("Where is tea?", memories="Ada hates tea."))
        )
    assert info.value.differing_section == "memories"
    assert info.value.key and info.value.key in str(info.value)
    assert "Ada hates tea." in str(info.value)


def test_miss_on_params_only_names_params(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(chunks_of(RecordingBackend(ScriptedBackend(), path), prompt_for("x")))
    with pytest.raises(ReplayMissError) as info:
        asyncio.run(
            chunks_of(ReplayBackend(path), prompt_for("x"), GenerationParams(temperature=0.1))
        )
    assert info.value.differing_section == "params"


def test_complete_json_is_recorded_and_replayed(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    inner = ScriptedBackend(json_responses={"Mood": {"emotion": "happy"}})
    recorded = asyncio.run(RecordingBackend(inner, path).complete_json(prompt_for("x"), Mood))
    replayed = asyncio.run(ReplayBackend(path).complete_json(prompt_for("x"), Mood))
    assert replayed == recorded == Mood(emotion="happy")


def test_a_recorded_failure_is_raised_again(openai_server: OpenAIServer, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    openai_server.inject("500", times=5)
    inner = OpenAIBackend(
        base_url=openai_server.base_url, model="m", retry=RetryPolicy(max_retries=0)
    )
    with pytest.raises(ServerError):
        asyncio.run(chunks_of(RecordingBackend(inner, path), prompt_for("x")))
    with pytest.raises(ServerError) as info:
        asyncio.run(chunks_of(ReplayBackend(path), prompt_for("x")))
    assert info.value.status_code == 500


def test_recording_file_is_one_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    backend = create_backend("scripted", record=path)
    asyncio.run(chunks_of(backend, prompt_for("a")))
    asyncio.run(chunks_of(backend, prompt_for("b")))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    entry = json.loads(lines[0])
    assert (
        entry["kind"] == "stream"
        and len(entry["key"]) == 64
        and entry["sections"][0][0] == "persona"
    )


def test_missing_or_corrupt_recording_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="no recording"):
        ReplayBackend(tmp_path / "absent.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(BackendUnavailableError, match="bad.jsonl:2"):
        ReplayBackend(bad)


def test_a_cancelled_stream_is_recorded_with_what_the_caller_saw(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = RecordingBackend(ScriptedBackend(), path)

    async def first_two() -> list[str]:
        seen: list[str] = []
        stream = recorder.stream(prompt_for("Where is tea?"))
        async for chunk in stream:
            seen.append(chunk.text)
            if len(seen) == 2:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return seen

    seen = asyncio.run(first_two())
    entry = json.loads(path.read_text(encoding="utf-8"))
    assert entry["cancelled"] is True and [c["text"] for c in entry["chunks"]] == seen
    replayed = asyncio.run(chunks_of(ReplayBackend(path), prompt_for("Where is tea?")))
    assert [c.text for c in replayed] == seen
