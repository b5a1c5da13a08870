"""Runtime benchmarks against the local OpenAI-compatible test server (300 ms latency, 30 tokens/s).

Metrics:

- ``makespan_ratio@200``: wall time for 200 conversations started at once (each one turn, all
  different players) divided by the time for one. Target <= 1.5. The server runs in its own
  process, as a model server would. Both times are medians of three runs (new players each
  time): two processes sharing two cores make a single burst vary by +-0.1.
- ``overhead_p99_ms``: from ``say()`` to the request's first byte at the server (the moment
  its request line is read, before the server parses headers and body), with 10k memories
  stored for the player (p99 over sequential turns, background work settled between turns).
  Target <= 10.
- ``poll_p99_ms@50``: the game thread's cost of ``poll()`` per frame (about 60 frames a second)
  while 50 replies stream. Target <= 0.1.
- ``say_mean_ms@50``: the game thread's cost of one ``say()`` in a burst of 50. Target <= 0.1.

Run: ``python bench/runtime.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import ROOT, SHARED_DATA, parser, table, write

from engine.backends import OpenAIBackend, RetryPolicy, Timeouts
from engine.memory import MemoryStore
from engine.persona import load_characters
from engine.runtime import Runtime, TurnDone, TurnFailed
from engine.testing.openai_server import OpenAIServer

LATENCY_S = 0.3
RUNS = 3  # bursts of the makespan benchmark; the median counts
TOKENS_PER_S = 30.0
REPLY = (
    'Welcome to the square! The tea house is up the east steps. <meta>{"emotion": "happy"}</meta>'
)
LONG_REPLY = (
    "Welcome to the square, friend. The tea house is up the east steps, past the lanterns. "
    "Bram's stall is by the west arch, and the stage lights come on at eight. "
    "If you like riddles, Lin runs a hunt on Friday nights. "
    '<meta>{"emotion": "happy", "strength": 0.7}</meta>'
)
ANALYSIS = {"importance": 5, "facts": [], "player_name": None, "affinity": 0, "trust": 0}

_SERVER_CODE = """
import json, sys
sys.path.insert(0, {root!r})
from engine.testing.openai_server import OpenAIServer
srv = OpenAIServer(latency_s={latency}, tokens_per_s={tps}, reply={reply!r}, json_reply={json_reply!r})
srv.start()
print(srv.base_url, flush=True)
sys.stdin.read()
srv.stop()
"""

_WORDS = (
    "lantern fountain tea boat sister market riddle stage music coin wish rain bread river hill bees "
    "garden letter friend winter summer mountain harbour key map candle festival song dragon kite"
).split()


def _backend(base_url: str) -> OpenAIBackend:
    return OpenAIBackend(
        base_url=base_url,
        model="test-model",
        api_key="bench",
        timeouts=Timeouts(connect=10, first_token=60, idle=60, total=120),
        retry=RetryPolicy(max_retries=0),
    )


def _run(rt: Runtime, handles: list[Any], timeout: float = 120.0) -> float:
    """Poll like a game until every handle is done; the seconds it took from now."""
    start = time.perf_counter()
    pending = {h.id for h in handles}
    deadline = time.monotonic() + timeout
    failures = 0
    while pending:
        for event in rt.poll():
            if isinstance(event, TurnDone | TurnFailed):
                pending.discard(event.handle_id)
                failures += isinstance(event, TurnFailed)
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark turns did not finish within {timeout} s")
        time.sleep(0.001)
    if failures:
        print(f"warning: {failures} turn(s) failed")
    return time.perf_counter() - start


def makespan(n: int, cast: dict[str, Any], workdir: Path) -> dict[str, float]:
    """Time for 1 turn, then for n turns at once; against a server in its own process."""
    code = _SERVER_CODE.format(
        root=str(ROOT),
        latency=LATENCY_S,
        tps=TOKENS_PER_S,
        reply=REPLY,
        json_reply=json.dumps(ANALYSIS),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        rt = Runtime(
            workdir / "makespan.db",
            backend=_backend(base_url),
            characters=cast,
            max_concurrency=n + 8,
            freeze_gc=True,
        )
        try:
            _run(rt, [rt.say("mira", "warmup", "Hello!")])
            rt.wait_idle(60)
            singles = []
            for i in range(3):
                singles.append(_run(rt, [rt.say("mira", f"solo{i}", "Where is the tea house?")]))
                rt.wait_idle(60)
            one = statistics.median(singles)
            bursts = []
            for b in range(RUNS):
                handles = [rt.say("mira", f"b{b}p{i}", "Where is the tea house?") for i in range(n)]
                bursts.append(_run(rt, handles))
                rt.wait_idle(120)
            many = statistics.median(bursts)
        finally:
            rt.close()
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
    return {
        "one_s": one,
        "many_s": many,
        "ratio": many / one,
        "ratios": [round(b / one, 3) for b in bursts],
    }


def _corpus() -> tuple[list[str], list[str]]:
    """Conversation lines and questions: LoCoMo's when present, else generated ones."""
    locomo = SHARED_DATA / "locomo" / "locomo_dev.json"
    if locomo.exists():
        data = json.loads(locomo.read_text(encoding="utf-8"))
        lines = [
            turn["text"]
            for sample in data
            for key, session in sample["conversation"].items()
            if key.startswith("session_") and isinstance(session, list)
            for turn in session
            if turn.get("text")
        ]
        questions = [
            qa["question"] for sample in data for qa in sample.get("qa", []) if qa.get("question")
        ]
        return lines, questions
    rng = random.Random(11)
    syllables = [
        "ka",
        "lo",
        "mi",
        "ren",
        "to",
        "sa",
        "vi",
        "nor",
        "el",
        "da",
        "pu",
        "rin",
        "go",
        "sha",
    ]
    vocab = sorted(
        {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))) for _ in range(900)}
    )
    lines = [f"I {rng.choice(_WORDS)} the {rng.choice(vocab)} near the {rng.choice(vocab)} with my "
             f"{rng.choice(vocab)} {rng.choice(_WORDS)}." for _ in range(3000)]  # fmt: skip
    questions = [f"Do you remember the {rng.choice(vocab)}?" for _ in range(200)]
    return lines, questions


def _fill(path: Path, memories: int, lines: list[str]) -> None:
    """``memories`` stored lines between mira and p1 (the corpus repeated as needed)."""
    with MemoryStore(path) as store:
        rows = []
        for i in range(memories):
            rows.append({"character": "mira", "player": "p1", "speaker": "p1" if i % 2 == 0 else "mira",
                         "text": lines[i % len(lines)], "time": 1_700_000_000.0 + 60 * i})  # fmt: skip
            if len(rows) == 1000:
                store.add_turns(rows)
                rows = []
        if rows:
            store.add_turns(rows)
        store.set_player_name("p1", "Ada")


_MARKER_SERVER_CODE = """
import json, re, sys, time
sys.path.insert(0, {root!r})
from engine.testing.openai_server import OpenAIServer
MARK = re.compile(r"marker\\d+")

def responder(body):
    if body.get("response_format"):
        return {json_reply!r}
    found = MARK.findall(json.dumps(body.get("messages", "")))
    if found:
        # When the request's first line arrived (time.perf_counter, CLOCK_MONOTONIC: the same
        # clock as the client's process).
        arrived = next(c.received for c in reversed(srv.calls) if c.body is body)
        print(json.dumps({{"key": found[-1], "t": arrived}}), flush=True)
    return "I remember, of course."

srv = OpenAIServer(latency_s={latency}, tokens_per_s={tps}, responder=responder)
srv.start()
print(srv.base_url, flush=True)
sys.stdin.read()
srv.stop()
"""


def overhead(memories: int, turns: int, cast: dict[str, Any], workdir: Path) -> dict[str, float]:
    """say() to the server receiving the request, with ``memories`` stored for the player.

    The server runs in its own process and reports when each request's first line arrived
    (both processes read the same monotonic clock).
    """
    path = workdir / "overhead.db"
    lines, questions = _corpus()
    _fill(path, memories, lines)
    # For attribution: the store's recall alone, on the same file.
    recall_ms: list[float] = []
    with MemoryStore(path) as store:
        for question in questions[:turns]:
            start = time.perf_counter()
            store.recall("mira", "p1", question, k=6, touch=False)
            recall_ms.append((time.perf_counter() - start) * 1000)
    code = _MARKER_SERVER_CODE.format(
        root=str(ROOT), latency=LATENCY_S, tps=TOKENS_PER_S, json_reply=json.dumps(ANALYSIS)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    arrivals: dict[str, float] = {}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            item = json.loads(line)
            arrivals.setdefault(item["key"], item["t"])

    samples: list[float] = []
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        rt = Runtime(path, backend=_backend(base_url), characters=cast, freeze_gc=True)
        try:
            _run(rt, [rt.say("mira", "p1", "Do you remember the lantern festival?")])  # warm-up
            rt.wait_idle(60)
            starts: dict[str, float] = {}
            for i in range(turns):
                key = f"marker{i:04d}"
                starts[key] = time.perf_counter()
                handle = rt.say("mira", "p1", f"{questions[i % len(questions)]} ({key})")
                _run(rt, [handle])
                rt.wait_idle(60)
            time.sleep(0.2)
            samples = [(arrivals[k] - t) * 1000 for k, t in starts.items() if k in arrivals]
        finally:
            rt.close()
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
    if len(samples) < turns:
        print(f"warning: {turns - len(samples)} request(s) not seen by the server")
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))],
        "max_ms": samples[-1],
        "n": float(len(samples)),
        "recall_p50_ms": statistics.median(recall_ms),
    }


def poll_cost(streams: int, cast: dict[str, Any], workdir: Path) -> dict[str, float]:
    """Per-frame cost of poll() while ``streams`` replies stream."""
    costs: list[float] = []
    events = 0
    with OpenAIServer(
        latency_s=LATENCY_S, tokens_per_s=TOKENS_PER_S, reply=LONG_REPLY, json_reply=ANALYSIS
    ) as srv:
        rt = Runtime(
            workdir / "poll.db",
            backend=_backend(srv.base_url),
            characters=cast,
            max_concurrency=streams,
            freeze_gc=True,
        )
        try:
            started = time.perf_counter()
            handles = [rt.say("mira", f"p{i}", "What is there to do here?") for i in range(streams)]
            say_ms = (time.perf_counter() - started) * 1000 / streams
            pending = {h.id for h in handles}
            deadline = time.monotonic() + 120
            while pending and time.monotonic() < deadline:
                start = time.perf_counter()
                batch = rt.poll()
                costs.append((time.perf_counter() - start) * 1000)
                events += len(batch)
                for event in batch:
                    if isinstance(event, TurnDone | TurnFailed):
                        pending.discard(event.handle_id)
                time.sleep(1 / 60)
            rt.wait_idle(60)
        finally:
            rt.close()
    costs.sort()
    return {
        "p50_ms": statistics.median(costs),
        "p99_ms": costs[min(len(costs) - 1, int(round(0.99 * (len(costs) - 1))))],
        "max_ms": costs[-1],
        "frames": float(len(costs)),
        "events": float(events),
        "say_mean_ms": say_ms,
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n_many = 20 if args.quick else 200
    memories = 500 if args.quick else 10_000
    turns = 10 if args.quick else 60
    streams = 10 if args.quick else 50
    cast = load_characters(ROOT / "characters")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ms = makespan(n_many, cast, workdir)
        oh = overhead(memories, turns, cast, workdir)
        pc = poll_cost(streams, cast, workdir)
    table(
        f"Runtime against the test server ({LATENCY_S * 1000:.0f} ms latency, {TOKENS_PER_S:.0f} tokens/s)",
        ["metric", "value", "target", "detail"],
        [
            [f"makespan_ratio@{n_many}", ms["ratio"], "<= 1.5", f"one {ms['one_s']:.2f} s, {n_many} {ms['many_s']:.2f} s (runs {', '.join(f'{r:.2f}' for r in ms['ratios'])})"],
            ["overhead_p99_ms", oh["p99_ms"], "<= 10", f"p50 {oh['p50_ms']:.2f} ms, {memories} memories, {int(oh['n'])} turns"],
            ["  of which recall_p50_ms", oh["recall_p50_ms"], "", "MemoryStore.recall alone, same file"],
            [f"poll_p99_ms@{streams}", pc["p99_ms"], "<= 0.1", f"p50 {pc['p50_ms']:.4f} ms, {int(pc['events'])} events in {int(pc['frames'])} frames"],
            [f"say_mean_ms@{streams}", pc["say_mean_ms"], "<= 0.1", f"a burst of {streams} say() calls on the game thread"],
        ],
    )  # fmt: skip
    metrics = {
        f"makespan_ratio@{n_many}": ms["ratio"],
        f"makespan_ratio@{n_many}_worst": max(ms["ratios"]),
        "overhead_p99_ms": oh["p99_ms"],
        "overhead_p50_ms": oh["p50_ms"],
        "recall_p50_ms": oh["recall_p50_ms"],
        f"poll_p99_ms@{streams}": pc["p99_ms"],
        "poll_max_ms": pc["max_ms"],
        f"say_mean_ms@{streams}": pc["say_mean_ms"],
    }
    write(
        args.json,
        metrics,
        data={
            "memories": memories,
            "conversations": n_many,
            "streams": streams,
            "corpus": "locomo" if (SHARED_DATA / "locomo").exists() else "generated",
        },
        latency_s=LATENCY_S,
        tokens_per_s=TOKENS_PER_S,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
