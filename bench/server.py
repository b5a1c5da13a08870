"""``npc serve`` under load: many socket sessions on the scripted backend, and idle sessions held.

The server runs in its own process (``npc serve``, as in production); the clients run here.

Metrics:

- ``added_p99_ms@200``: 200 sessions connect, then all send one ``say`` at once; the latency
  the server adds over the in-process :class:`~engine.runtime.Runtime`, p99: per turn, from the
  message's arrival to handing the turn to the runtime, plus from the runtime's first
  ``Sentence`` event to that sentence written to the socket (the server's
  ``npc_server_overhead_seconds`` summary). Target <= 10.
- ``e2e_minus_runtime_p99_ms@200``: the client's view for comparison: send to first
  ``sentence`` received, p99, minus the p99 of the same burst on an in-process runtime
  (``say()`` to the first ``Sentence`` through ``poll()``) in this run. On two shared cores
  this also counts the clients' own CPU and the server's socket work slowing the runtime's
  thread (one interpreter lock), so it is larger and noisier than the added latency.
- ``errors@200``: turns that did not end in ``done``. Target 0.
- ``idle_session_kb``: the server's resident memory growth per idle connected session (the
  server's RSS before and after opening them, divided by their number). Target <= 50.
- ``idle_cpu_percent@1000``: the server's CPU use (user + system, one core = 100) while 1,000
  sessions stay connected and idle. Target < 5.

- ``paced_added_p99_ms@200``, ``paced_errors@200``: the same burst with the model behind the
  paced OpenAI-compatible test server (300 ms to the first token, 30 tokens/s), so the runtime
  waits on the network as with a real provider instead of keeping the processor busy.

Two cores shared with the clients and other work: timing figures are noisy; compare within a run.

Run: ``python bench/server.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, parser, table, write

from engine.backends import ScriptedBackend
from engine.runtime import Runtime, Sentence, TurnDone, TurnFailed

LINE = "Hello! What is this place?"


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def start_server(
    folder: Path, backend: str = 'backend = "scripted"'
) -> tuple[subprocess.Popen[str], str, str]:
    key = "npc_sk_" + secrets.token_urlsafe(24)
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    config = folder / "serve.toml"
    config.write_text(
        "\n".join([
            f"world = {json.dumps(str(folder / 'world.db'))}",
            f"characters = {json.dumps(str(ROOT / 'characters'))}",
            backend,
            "port = 0",
            "max_concurrency = 256",
            f"switch_interval_ms = {os.environ.get('BENCH_SWITCH_MS', '0.25')}",
            "[keys]",
            f'bench = "{digest}"',
            "[limits]",
            "key_concurrent_turns = 4096",
            "key_connections = 4096",
            "key_requests_per_minute = 1000000",
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        match = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
        if match:
            # Keep reading stderr so the server never blocks on a full pipe.
            import threading

            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
            return proc, match.group(1).replace("http", "ws"), key
    proc.kill()
    raise RuntimeError("the server did not start:\n" + seen)


def paced_burst(folder: Path, n: int) -> tuple[list[float], int, dict[float, float]]:
    """The same burst with the model behind the paced OpenAI-compatible test server (300 ms to
    the first token, 30 tokens/s): the runtime waits on the network instead of the processor."""
    from engine.testing.openai_server import OpenAIServer

    folder.mkdir()
    reply = ("Welcome to the square! The tea house is up the east steps. "
             '<meta>{"emotion": "happy"}</meta>')  # fmt: skip
    with OpenAIServer(latency_s=0.3, tokens_per_s=30.0, reply=reply) as model:
        spec = "\n".join([
            'backend = "openai-compatible"',
            f'base_url = "{model.base_url}"',
            'model = "test-model"',
        ])  # fmt: skip
        proc, url, key = start_server(folder, spec)
        try:
            asyncio.run(burst(url, key, 5))
            latencies, errors = asyncio.run(burst(url, key, n))
            return latencies, errors, server_overhead(url)
        finally:
            proc.terminate()
            proc.wait(30)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def open_sessions(url: str, key: str, n: int, prefix: str) -> list[Any]:
    from websockets.asyncio.client import connect

    sessions: list[Any] = []

    async def one(i: int) -> None:
        ws = await connect(f"{url}/v1/session?player={prefix}{i}", additional_headers={"Authorization": f"Bearer {key}"},
                           open_timeout=60, ping_interval=None, max_queue=64)  # fmt: skip
        json.loads(await ws.recv())  # hello
        sessions.append(ws)

    for start in range(0, n, 100):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + 100))))
    return sessions


async def burst(url: str, key: str, n: int) -> tuple[list[float], int]:
    sessions = await open_sessions(url, key, n, "burst-")
    latencies: list[float] = []
    errors = 0

    async def turn(ws: Any) -> None:
        nonlocal errors
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "say", "character": "mira", "text": LINE}))
        first: float | None = None
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "sentence" and first is None:
                first = time.perf_counter() - sent
            if message["type"] in ("done", "failed", "error"):
                if message["type"] != "done" or first is None:
                    errors += 1
                else:
                    latencies.append(first)
                return

    await asyncio.gather(*(turn(ws) for ws in sessions))
    await asyncio.gather(*(ws.close() for ws in sessions))
    return latencies, errors


def server_overhead(ws_url: str) -> dict[float, float]:
    """The server's own share of first-sentence latency, by quantile, from its /metrics."""
    import urllib.request

    with urllib.request.urlopen(
        ws_url.replace("ws", "http", 1) + "/metrics", timeout=30
    ) as response:
        text = response.read().decode()
    found = re.findall(r'npc_server_overhead_seconds\{quantile="([0-9.]+)"\} ([0-9.naninf]+)', text)
    return {float(q): float(v) * 1000 for q, v in found}


def in_process(n: int, folder: Path) -> list[float]:
    """The same burst on an in-process runtime: say() to the first Sentence."""
    with Runtime(str(folder / "inproc.db"), backend=ScriptedBackend(), characters=ROOT / "characters",
                 max_concurrency=256) as rt:  # fmt: skip
        for i in range(5):  # warm up, as the server is
            rt.say("mira", f"warm-{i}", LINE)
        rt.wait_idle(60)
        rt.poll()
        started = {}
        for i in range(n):
            handle = rt.say("mira", f"inproc-{i}", LINE)
            started[handle.id] = time.perf_counter()
        first: dict[int, float] = {}
        ended = 0
        deadline = time.monotonic() + 120
        while ended < n and time.monotonic() < deadline:
            for event in rt.poll():
                if isinstance(event, Sentence) and event.handle_id not in first:
                    first[event.handle_id] = time.perf_counter() - started[event.handle_id]
                elif isinstance(event, TurnDone | TurnFailed):
                    ended += 1
            time.sleep(0.0005)
        rt.wait_idle(60)
    return list(first.values())


async def idle(url: str, key: str, pid: int, n: int, window_s: float) -> tuple[float, float]:
    await asyncio.sleep(1.0)
    before = rss_kb(pid)
    sessions = await open_sessions(url, key, n, "idle-")
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(window_s)
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100
    await asyncio.gather(*(ws.close() for ws in sessions))
    return (after - before) / n, cpu


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n_turns = 20 if args.quick else 200
    n_idle = 50 if args.quick else 1000
    window = 1.0 if args.quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        baseline = in_process(n_turns, folder)
        proc, url, key = start_server(folder)
        try:
            asyncio.run(burst(url, key, 5))  # warm up: imports, first connections
            latencies, errors = asyncio.run(burst(url, key, n_turns))
            overhead = server_overhead(url)
            per_session_kb, cpu = asyncio.run(idle(url, key, proc.pid, n_idle, window))
        finally:
            proc.terminate()
            proc.wait(30)
        paced, paced_errors, paced_overhead = paced_burst(folder / "paced", n_turns)
    server_p99 = p99(latencies) * 1000 if latencies else float("nan")
    base_p99 = p99(baseline) * 1000
    added = overhead.get(0.99, float("nan"))
    metrics = {
        f"added_p99_ms@{n_turns}": added,
        f"added_p50_ms@{n_turns}": overhead.get(0.5, float("nan")),
        f"e2e_minus_runtime_p99_ms@{n_turns}": server_p99 - base_p99,
        f"errors@{n_turns}": float(errors),
        "idle_session_kb": per_session_kb,
        f"idle_cpu_percent@{n_idle}": cpu,
        f"server_first_sentence_p99_ms@{n_turns}": server_p99,
        f"server_first_sentence_p50_ms@{n_turns}": statistics.median(latencies) * 1000
        if latencies
        else float("nan"),
        f"runtime_first_sentence_p99_ms@{n_turns}": base_p99,
    }
    metrics[f"paced_added_p99_ms@{n_turns}"] = paced_overhead.get(0.99, float("nan"))
    metrics[f"paced_errors@{n_turns}"] = float(paced_errors)
    metrics[f"paced_first_sentence_p99_ms@{n_turns}"] = p99(paced) * 1000 if paced else float("nan")
    table(
        "npc serve (scripted backend; server in its own process)",
        ["metric", "value", "target"],
        [
            [f"added latency p99, {n_turns} sessions (ms)", f"{added:.2f}", "<= 10"],
            [
                f"added latency p50, {n_turns} sessions (ms)",
                f"{overhead.get(0.5, float('nan')):.2f}",
                "",
            ],
            [f"errors, {n_turns} sessions", errors, "0"],
            ["memory per idle session (KB)", f"{per_session_kb:.1f}", "<= 50"],
            [f"server CPU, {n_idle} idle sessions (%)", f"{cpu:.2f}", "< 5"],
            ["first sentence p99 over the socket (ms)", f"{server_p99:.1f}", ""],
            ["first sentence p99 in process (ms)", f"{base_p99:.1f}", ""],
            ["difference of the two p99s (ms)", f"{server_p99 - base_p99:.1f}", ""],
        ],
    )
    table(
        "npc serve, model behind the paced test server (300 ms to first token, 30 tokens/s)",
        ["metric", "value", "target"],
        [
            [
                f"added latency p99, {n_turns} sessions (ms)",
                f"{paced_overhead.get(0.99, float('nan')):.2f}",
                "<= 10",
            ],
            [
                f"added latency p50, {n_turns} sessions (ms)",
                f"{paced_overhead.get(0.5, float('nan')):.2f}",
                "",
            ],
            [f"errors, {n_turns} sessions", paced_errors, "0"],
            [
                "first sentence p99 over the socket (ms)",
                f"{metrics[f'paced_first_sentence_p99_ms@{n_turns}']:.1f}",
                "",
            ],
        ],
    )
    write(
        args.json,
        metrics,
        data="characters/ (scripted backend)",
        sessions=n_turns,
        idle_sessions=n_idle,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
