"""Rendering prompts for chat and base models, and the stable key used by record/replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backends import Backend, GenerationParams, create_backend
from engine.backends.render import chat_messages, prompt_key, render_transcript, transcript_stops
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import BadRequestError


def sample(user: str = "Hi!") -> Prompt:
    return Prompt(
        sections=(
            Section.system("persona", "You are Mira."),
            Section.system("format", 'Reply briefly. <meta>{"emotion": "happy"}</meta>'),
            Section.of(
                "history",
                [
                    Message(role="user", content="Hello", name="Bo"),
                    Message(role="assistant", content="Hi Bo! <meta>{}</meta>"),
                ],
            ),
            Section.of("input", [Message(role="user", content=user)]),
        ),
        character="Mira",
        player="Ada",
        stop=("###",),
    )


def test_chat_messages_merge_adjacent_system_text_and_omit_names_by_default() -> None:
    messages = chat_messages(sample())
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "You are Mira." in messages[0]["content"] and "Reply briefly" in messages[0]["content"]
    assert all("name" not in m for m in messages)


def test_chat_message_names_are_made_safe_for_providers_that_take_them() -> None:
    prompt = Prompt(
        sections=(
            Section.of(
                "input",
                [
                    Message(role="user", content="hi", name="林 晓雨"),
                    Message(role="user", content="yo", name="Bo Li"),
                ],
            ),
        ),
        character="M",
    )
    assert [m["name"] for m in chat_messages(prompt, names=True)] == ["speaker", "Bo_Li"]


def test_transcript_prefixes_speakers_and_ends_with_the_character() -> None:
    text = render_transcript(sample())
    assert text.endswith("Bo: Hello\nMira: Hi Bo! <meta>{}</meta>\nAda: Hi!\nMira:")
    assert text.startswith("You are Mira.")


def test_transcript_can_drop_instruction_sections_and_meta_blocks() -> None:
    text = render_transcript(sample(), drop_sections={"format"}, strip_meta=True)
    assert "Reply briefly" not in text and "<meta>" not in text
    assert "Mira: Hi Bo!\n" in text


def test_transcript_stops_cover_every_speaker_and_extra_stops() -> None:
    stops = transcript_stops(sample(), GenerationParams(stop=("END",)))
    assert {"\nAda:", "\nAda：", "\nBo:", "\nMira:", "###", "END"} <= set(stops)
    assert len(stops) == len(set(stops))


def test_prompt_key_is_stable_and_sensitive_to_text_and_params() -> None:
    key = prompt_key(sample(), None)
    assert key == prompt_key(sample(), GenerationParams())
    assert key != prompt_key(sample("Hi?"), None)
    assert key != prompt_key(sample(), GenerationParams(temperature=0.5))
    assert key != prompt_key(sample(), None, kind="json")


@pytest.mark.parametrize("spec", ["nonsense", "openai-compatible"])
def test_create_backend_rejects_unknown_or_incomplete_specs(spec: str) -> None:
    with pytest.raises(BadRequestError):
        create_backend(spec)


def test_create_backend_builds_a_preset_backend_with_overrides() -> None:
    backend = create_backend("ollama", model="llama3.2", base_url="http://127.0.0.1:1/v1")
    assert backend.name == "ollama:llama3.2"


def test_every_backend_satisfies_the_protocol(tmp_path: Path) -> None:
    recording = tmp_path / "run.jsonl"
    recorder = create_backend("scripted", record=recording)
    recording.write_text(
        '{"key": "k", "kind": "stream", "backend": "scripted"}\n', encoding="utf-8"
    )
    backends = [
        recorder,
        create_backend(f"replay:{recording}"),
        create_backend("local"),
        create_backend("vllm"),
        create_backend("scripted"),
    ]
    for backend in backends:
        assert isinstance(backend, Backend), type(backend).__name__
        assert backend.name and backend.capabilities.context_size > 0
