"""Backend overhead: the engine's backends against calling their libraries directly, same run.

local.*   LocalBackend (Gemma 3 270M, in its model process) vs llama-cpp-python's own streaming
          in this process on the same prompts (in a plain worker thread), greedy, same
          max_tokens and buffer choice. Runs alternate A/B so machine drift hits both alike;
          overhead is the median of per-pair time ratios. ipc_first_token_ms: the first
          token's trip from the model process to the consumer (p99). tokens_per_s_repack_*:
          weight repacking on and off (off is the fix for llama.cpp's AMX crash).
openai.*  OpenAIBackend.stream vs the raw AsyncOpenAI streaming client against the local test
          server (no latency, instant tokens), alternating; the difference is what the
          backend's timeouts, retries bookkeeping and chunk mapping add per call.

    python bench/backends.py            # a few minutes
    python bench/backends.py --quick    # seconds
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, parser, table, write  # noqa: E402

from engine.backends import GenerationParams, LocalBackend, OpenAIBackend  # noqa: E402
from engine.dialogue.prompt import Message, Prompt, Section  # noqa: E402
from engine.testing.openai_server import OpenAIServer  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between ranks."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- local -----------------------------------------------------------------------------------


def short_prompts() -> list[Prompt]:
    def make(persona: str, user: str, character: str, language: str) -> Prompt:
        return Prompt(
            sections=(
                Section.system("persona", persona),
                Section.of("input", [Message(role="user", content=user)]),
            ),
            character=character,
            player="Ada",
            language=language,
        )

    return [
        make(
            "Mira is the cheerful host of Lantern Square.",
            "Hello! What is this place?",
            "Mira",
            "en",
        ),
        make("陈掌柜是听雨茶馆的老板，说话慢条斯理。", "您好，今天有什么好茶？", "陈掌柜", "zh"),
    ]


def persona_prompts() -> list[Prompt]:
    from engine.dialogue.prompt import assemble
    from engine.persona import load_persona

    cases = [
        ("mira", "Hi! What's good to eat around here?"),
        ("bram", "How much for that lantern?"),
        ("chen", "您好，今天有什么好茶？"),
        ("lin", "你好！今晚有什么活动？"),
    ]
    return [
        assemble(
            load_persona(ROOT / "characters" / f"{cid}.yaml"),
            text,
            player_name="Ada",
            budget_tokens=1500,
        )
        for cid, text in cases
    ]


async def _timed_stream(
    backend: LocalBackend, prompt: Prompt, params: GenerationParams
) -> tuple[float, float, int]:
    """One streamed reply: total seconds, seconds to the first text, completion tokens."""
    started = time.perf_counter()
    ttft: float | None = None
    tokens = 0
    async for chunk in backend.stream(prompt, params):
        if chunk.text and ttft is None:
            ttft = time.perf_counter() - started
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return time.perf_counter() - started, ttft or 0.0, tokens


def bench_local(prompts: list[Prompt], max_tokens: int, rounds: int) -> dict[str, float]:
    from engine.backends.llama_worker import load_model

    backend = LocalBackend()
    backend.load()
    status = backend.status
    # The baseline: llama-cpp-python loaded in this process with the same buffer choice.
    llama, _info = load_model(
        str(backend.model_path),
        n_ctx=backend.n_ctx,
        n_threads=backend.n_threads,
        extra_buffers=status.extra_buffers,
    )
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=1)
    kwargs = backend._kwargs(params)

    async def run_backend(prompt: Prompt) -> tuple[float, float, int]:
        return await _timed_stream(backend, prompt, params)

    def run_raw(prompt: Prompt) -> tuple[float, float, int]:
        # Generation from a worker thread, as a game must (and as the model process does): on
        # this machine llama.cpp called from the main thread ran ~2x slower than from any other
        # thread, which would flatter the backend.
        result: list[tuple[float, float, int]] = []
        worker = threading.Thread(target=lambda: result.append(raw_generation(prompt)))
        worker.start()
        worker.join()
        return result[0]

    def raw_generation(prompt: Prompt) -> tuple[float, float, int]:
        # What a developer would write by hand: tokenise the same transcript, stream, collect.
        # Neither side resets its KV cache: both reuse a shared prefix the same way.
        started = time.perf_counter()
        text = backend._transcript(prompt)
        stops = backend_stops(backend, prompt, params)
        ids = llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        ttft: float | None = None
        pieces: list[str] = []
        for event in llama.create_completion(prompt=ids, stream=True, stop=stops, **kwargs):
            piece = event["choices"][0]["text"]
            if piece and ttft is None:
                ttft = time.perf_counter() - started
            pieces.append(piece)
        count = len(llama.tokenize("".join(pieces).encode("utf-8"), add_bos=False, special=False))
        return time.perf_counter() - started, ttft or 0.0, count

    rows: dict[str, list[tuple[float, float, int]]] = {"backend": [], "raw": []}
    for prompt in prompts:  # warm-up: first-touch page faults, allocations
        run_raw(prompt)
        asyncio.run(run_backend(prompt))
    for r in range(rounds):
        for prompt in prompts:
            order = ("raw", "backend") if r % 2 == 0 else ("backend", "raw")
            for which in order:
                rows[which].append(
                    asyncio.run(run_backend(prompt)) if which == "backend" else run_raw(prompt)
                )
    llama.close()

    b_total, b_ttft, b_tps = summary(rows["backend"])
    r_total, r_ttft, r_tps = summary(rows["raw"])
    # Per-pair ratio, then median: robust against a neighbour process stealing a core mid-run.
    ratios = [b[0] / r[0] for b, r in zip(rows["backend"], rows["raw"], strict=True) if r[0] > 0]
    overhead = (statistics.median(ratios) - 1) * 100 if ratios else 0.0
    table(
        "local: LocalBackend (model process) vs raw llama-cpp-python in this process (medians)",
        ["", "total ms", "ttft ms", "tokens/s"],
        [
            ["LocalBackend", b_total * 1000, b_ttft * 1000, b_tps],
            ["raw llama-cpp", r_total * 1000, r_ttft * 1000, r_tps],
        ],
    )
    asyncio.run(backend.aclose())
    return {
        "local.ttft_ms": b_ttft * 1000,
        "local.tokens_per_s": b_tps,
        "local.overhead_pct": overhead,
        "local.raw_ttft_ms": r_ttft * 1000,
        "local.raw_tokens_per_s": r_tps,
        "local.extra_buffers": float(bool(status.extra_buffers)),
        "local.amx": float(bool(status.amx)),
    }


def summary(runs: list[tuple[float, float, int]]) -> tuple[float, float, float]:
    """Median total and first-token seconds, and decode tokens/s over all runs."""
    total = statistics.median(t for t, _, _ in runs)
    ttft = statistics.median(f for _, f, _ in runs)
    tokens = sum(n for _, _, n in runs)
    decode = sum(t - f for t, f, _ in runs)
    return total, ttft, (tokens / decode if decode > 0 else 0.0)


def bench_ipc(samples: int) -> dict[str, float]:
    """How long the first token takes to cross from the model process into this one.

    The worker stamps each token with CLOCK_MONOTONIC (system-wide on Linux) as it sends it;
    the reader thread stamps its arrival (ipc_first_token), and the stream compares again just
    before handing the chunk to its consumer on the event loop (first_token_handoff).
    """
    backend = LocalBackend()
    prompt = short_prompts()[0]
    params = GenerationParams(max_tokens=2, temperature=0.0, seed=1, stop=("@@@",))

    async def run() -> tuple[list[float], list[float]]:
        crossing: list[float] = []
        handoff: list[float] = []
        for _ in range(samples):
            async for _chunk in backend.stream(prompt, params):
                pass
            if (
                backend.first_token_ipc_ms is not None
                and backend.first_token_handoff_ms is not None
            ):
                crossing.append(backend.first_token_ipc_ms)
                handoff.append(backend.first_token_handoff_ms)
        await backend.aclose()
        return crossing, handoff

    backend.load()
    crossing, handoff = asyncio.run(run())
    rows = [[q, percentile(crossing, q), percentile(handoff, q)] for q in (50, 90, 99)]
    table(
        f"local: the first token from the model process ({len(crossing)} streams)",
        ["pct", "into this process ms", "to the consumer ms"],
        rows,
    )
    return {
        "local.ipc_first_token_ms": percentile(crossing, 99),
        "local.ipc_first_token_p50_ms": percentile(crossing, 50),
        "local.first_token_handoff_p99_ms": percentile(handoff, 99),
        "local.first_token_handoff_p50_ms": percentile(handoff, 50),
    }


def bench_buffers(prompts: list[Prompt], max_tokens: int, rounds: int) -> dict[str, float]:
    """Tokens/s with llama.cpp's weight repacking (extra buffer types) on and off.

    Off is the AMX fix (ggml-org/llama.cpp#20824); on is llama.cpp's default elsewhere.
    Same prompts, alternating, each in its own model process.
    """
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=1, stop=("@@@",))
    backends = {on: LocalBackend(extra_buffers=on) for on in (True, False)}
    runs: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}

    async def once(backend: LocalBackend, prompt: Prompt) -> tuple[float, float, int]:
        return await _timed_stream(backend, prompt, params)

    for backend in backends.values():
        backend.load()
        asyncio.run(once(backend, prompts[0]))  # warm-up
    for r in range(rounds):
        for prompt in prompts:
            for on in (True, False) if r % 2 == 0 else (False, True):
                runs[on].append(asyncio.run(once(backends[on], prompt)))
    for backend in backends.values():
        asyncio.run(backend.aclose())
    results = {on: summary(runs[on]) for on in (True, False)}
    table(
        "local: weight repacking (extra buffer types) on vs off (the AMX fix), medians",
        ["repacking", "ttft ms", "decode tokens/s"],
        [["on" if on else "off", results[on][1] * 1000, results[on][2]] for on in (True, False)],
    )
    return {
        "local.tokens_per_s_repack_on": results[True][2],
        "local.tokens_per_s_repack_off": results[False][2],
        "local.ttft_ms_repack_on": results[True][1] * 1000,
        "local.ttft_ms_repack_off": results[False][1] * 1000,
    }


def backend_stops(backend: LocalBackend, prompt: Prompt, params: GenerationParams) -> list[str]:
    from engine.backends.render import transcript_stops

    stops = transcript_stops(prompt, params)
    if backend.sampling.one_line:
        stops.append("\n")
    return stops


# -- openai ----------------------------------------------------------------------------------


def bench_openai(requests: int) -> dict[str, float]:
    import openai

    prompt = short_prompts()[0]
    reply = "Welcome to Lantern Square! The fountain is the heart of it."

    async def scenario(server: OpenAIServer) -> tuple[list[float], list[float]]:
        backend = OpenAIBackend(base_url=server.base_url, model="bench")
        raw_client = openai.AsyncOpenAI(base_url=server.base_url, api_key="bench", max_retries=0)
        messages: list[Any] = [{"role": m.role, "content": m.content} for m in prompt.messages()]

        async def raw_once() -> float:
            started = time.perf_counter()
            stream = await raw_client.chat.completions.create(
                model="bench",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            text = []
            async for event in stream:
                if event.choices and event.choices[0].delta.content:
                    text.append(event.choices[0].delta.content)
            return time.perf_counter() - started

        async def backend_once() -> float:
            started = time.perf_counter()
            text = [c.text async for c in backend.stream(prompt)]
            assert "".join(text) == reply
            return time.perf_counter() - started

        for _ in range(10):  # warm both connection pools
            await raw_once()
            await backend_once()
        raw_times: list[float] = []
        backend_times: list[float] = []
        for i in range(requests):
            if i % 2:
                raw_times.append(await raw_once())
                backend_times.append(await backend_once())
            else:
                backend_times.append(await backend_once())
                raw_times.append(await raw_once())
        await backend.aclose()
        await raw_client.close()
        return raw_times, backend_times

    with OpenAIServer(reply=reply) as server:
        raw_times, backend_times = asyncio.run(scenario(server))
    raw_ms = [t * 1000 for t in raw_times]
    backend_ms = [t * 1000 for t in backend_times]
    rows = [
        ["raw AsyncOpenAI", percentile(raw_ms, 50), percentile(raw_ms, 99)],
        ["OpenAIBackend", percentile(backend_ms, 50), percentile(backend_ms, 99)],
    ]
    table(
        f"openai: {requests} streamed requests to the local server", ["", "p50 ms", "p99 ms"], rows
    )
    return {
        "openai.added_p50_ms": percentile(backend_ms, 50) - percentile(raw_ms, 50),
        "openai.added_p99_ms": percentile(backend_ms, 99) - percentile(raw_ms, 99),
        "openai.raw_p50_ms": percentile(raw_ms, 50),
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    metrics: dict[str, float] = {}
    metrics.update(bench_openai(40 if args.quick else 400))
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("skipped local: llama-cpp-python is not installed (the local extra)")
    else:
        if args.quick:
            metrics.update(bench_local(short_prompts(), max_tokens=8, rounds=1))
            metrics.update(bench_ipc(10))
            metrics.update(bench_buffers(short_prompts(), max_tokens=8, rounds=1))
        else:
            metrics.update(bench_local(persona_prompts(), max_tokens=32, rounds=5))
            metrics.update(bench_ipc(100))
            metrics.update(bench_buffers(persona_prompts(), max_tokens=32, rounds=3))
    table("metrics", ["name", "value"], sorted(metrics.items()))
    write(
        args.json,
        metrics,
        data="short EN/ZH prompts" if args.quick else "persona prompts (mira, bram, chen, lin)",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
