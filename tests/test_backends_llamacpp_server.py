"""A real server no one here wrote: llama-cpp-python's own OpenAI-compatible server.

Started by the fixture on a free loopback port with the embedded Gemma 3 270M GGUF and reached
through the ``llamacpp`` preset. It formats chat messages with its own template (the model is a
base model, so it tends to continue the template: other speakers' lines, ``[INST]``), and it
refuses ``response_format`` ``json_schema`` with an HTTP 500. Kept short: few tokens.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures_runtime import drain
from pydantic import BaseModel

from engine.backends.openai.chat import OpenAIBackend
from engine.backends.openai.retry import RetryPolicy, Timeouts
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import StructuredOutputError
from engine.runtime.env import TurnSettings
from engine.runtime.events import Sentence, TextDelta, TurnDone

pytest.importorskip("llama_cpp.server", reason="needs the server extra: llama-cpp-python[server]")

pytestmark = pytest.mark.slow

FORBIDDEN = ("<", ">", "[INST", "[/INST", "Player:", "玩家", "Ada:", "Mira:", "米拉：", "小明：")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llamacpp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from engine.backends.local import default_model_path

    model = default_model_path()
    port = _free_port()
    log = Path(tmp_path_factory.mktemp("llamacpp")) / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
             "--n_threads", "2", "--verbose", "False"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/models", timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"llama_cpp.server did not start: {log.read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.5)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


def _backend(url: str) -> OpenAIBackend:
    return OpenAIBackend(
        preset="llamacpp",
        base_url=url,
        timeouts=Timeouts(connect=5, first_token=150, idle=60, total=240),
        retry=RetryPolicy(max_retries=0),
    )


def test_replies_carry_no_other_speaker_and_no_template_tokens(
    make_runtime: Any, llamacpp_url: str
) -> None:
    settings = TurnSettings(reply_tokens=24, analysis="heuristic", first_token_timeout=150,
                            stall_timeout=60, total_timeout=240)  # fmt: skip
    rt = make_runtime(_backend(llamacpp_url), settings=settings)
    for character, line, name in (
        ("mira", "What happened tonight?", "Ada"),
        ("chen", "今晚发生了什么？", "小明"),
    ):
        events = drain(rt, rt.say(character, "p1", line, player_name=name), timeout=300)
        done = events[-1]
        if not isinstance(done, TurnDone):
            continue  # nothing usable came back: a fallback line, which is authored text
        shown = [e.text for e in events if isinstance(e, Sentence | TextDelta)]
        for text in (*shown, done.result.text):
            for bad in FORBIDDEN:
                assert bad not in text, (character, text)


class Note(BaseModel):
    mood: str = "calm"


def test_a_refused_json_schema_is_learned_and_json_object_used(llamacpp_url: str) -> None:
    prompt = Prompt(
        sections=(
            Section.system("persona", "You are Mira, host of Lantern Square."),
            Section.of("input", [Message(role="user", content="How do you feel?", name="Ada")]),
        ),
        character="Mira",
        player="Ada",
    )
    backend = _backend(llamacpp_url)
    assert backend.capabilities.structured == "json_schema"

    async def go() -> None:
        try:
            for _ in range(2):
                try:
                    await backend.complete_json(prompt, Note)
                except StructuredOutputError:
                    pass  # a 270M model may write JSON of another shape; the form is the point
        finally:
            await backend.aclose()

    asyncio.run(asyncio.wait_for(go(), 240))
    assert backend.capabilities.structured == "json_object"
