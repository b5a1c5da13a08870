"""A replayed playthrough takes the same paths its recording took, background analysis included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures_runtime import drain

from engine.backends import OpenAIBackend, RecordingBackend, ReplayBackend, RetryPolicy, Timeouts
from engine.backends.scripted import ScriptedBackend
from engine.persona import Persona
from engine.runtime import TurnSettings
from engine.runtime.env import TurnEnv
from engine.runtime.events import TurnDone
from engine.testing.openai_server import OpenAIServer

LINES = ["Guess what, I just bought myself a boat, painted red.", "Will you come sailing with me?"]


def _play(make_runtime: Any, backend: Any, world: Path, persona: Persona) -> list[Any]:
    rt = make_runtime(backend, world=world, characters={"tess": persona})
    done = [drain(rt, rt.say("tess", "p1", line))[-1] for line in LINES]
    facts = [(f.subject, f.predicate, f.object) for f in rt.facts("tess", "p1").result(5)]
    rt.close(timeout=2.0)
    assert all(isinstance(e, TurnDone) and not e.result.fallback for e in done), done
    return [[e.result.text for e in done], facts]


def test_replay_of_a_model_recording_asks_for_analysis_like_the_recording(
    make_runtime: Any, test_persona: Persona, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.reply = "Lovely."
    openai_server.json_reply = {
        "importance": 8,
        "facts": [{"predicate": "owns", "object": "a red boat", "confidence": 0.9}],
        "player_name": "Ada",
        "affinity": 1,
        "trust": 1,
    }
    model = OpenAIBackend(
        base_url=openai_server.base_url, model="test-model", api_key="test",
        timeouts=Timeouts(first_token=5, idle=5, total=10), retry=RetryPolicy(max_retries=0),
    )  # fmt: skip
    recording = tmp_path / "run.jsonl"
    recorded = _play(
        make_runtime, RecordingBackend(model, recording), tmp_path / "a.db", test_persona
    )
    assert ("Ada", "owns", "a red boat") in recorded[1]  # only the model's analysis finds this

    replay = ReplayBackend(recording)
    assert replay.capabilities.kind == "replay"
    assert _play(make_runtime, replay, tmp_path / "b.db", test_persona) == recorded


def test_replay_of_a_scripted_recording_keeps_to_heuristics(
    make_runtime: Any, test_persona: Persona, tmp_path: Path
) -> None:
    recording = tmp_path / "run.jsonl"
    recorded = _play(
        make_runtime,
        RecordingBackend(ScriptedBackend(), recording),
        tmp_path / "a.db",
        test_persona,
    )
    replay = ReplayBackend(recording)
    env = TurnEnv(backend=replay, store=None, semaphore=None, personas={})  # type: ignore[arg-type]
    assert not env.capable  # the scripted run never asked for analysis
    assert _play(make_runtime, replay, tmp_path / "b.db", test_persona) == recorded


def test_analysis_setting_still_overrides_a_replay(tmp_path: Path) -> None:
    recording = tmp_path / "run.jsonl"
    recording.write_text(
        '{"key": "k", "kind": "json", "capabilities": {"kind": "model", "structured": "json_schema"}}\n'
    )
    replay = ReplayBackend(recording)
    auto = TurnEnv(backend=replay, store=None, semaphore=None, personas={})  # type: ignore[arg-type]
    off = TurnEnv(
        backend=replay, store=None, semaphore=None, personas={},  # type: ignore[arg-type]
        settings=TurnSettings(analysis="heuristic"),
    )  # fmt: skip
    assert auto.capable and not off.capable
