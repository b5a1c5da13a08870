"""How long a player waits for the first line of a new conversation, greeted or not.

A base model keeps the prompt it evaluated last in its cache; the first reply to a player who
walks up to a character after someone else spoke evaluates the character's whole prompt (about
700 tokens for the shipped cast, seconds on a small CPU). ``Runtime.greet`` warms the cache
with the character's prompt while the player reads the greeting (``LocalBackend.warm``). This
benchmark measures the first line both ways through the public Runtime, on the embedded model:

- ``cold``: another character has just spoken; the player says their first line.
- ``greeted``: the same, but the character greets the player first (the bench waits for the
  greeting's background work, as a player reading it would give it time).

Each first line runs in a fresh world file, so nothing is remembered between rounds. Metrics:
``first_sentence_ms_cold_p50`` / ``_greeted_p50`` (from ``say()`` to the first ``Sentence``),
their p95, ``speedup_p50`` (cold / greeted), and ``cached_share_greeted`` (the share of the
first reply's prompt found in the cache, mean). ``--quick`` runs one character once.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from _common import ROOT, parser, table, write

sys.path.insert(0, str(ROOT))

from engine import Runtime, Sentence, TurnDone, TurnFailed  # noqa: E402
from engine.backends import LocalBackend  # noqa: E402
from engine.backends.base import Chunk, GenerationParams  # noqa: E402
from engine.dialogue.prompt import Prompt  # noqa: E402
from engine.persona import Persona, load_persona  # noqa: E402

#: Each character's first line, and who spoke just before (its prompt is in the cache).
FIRST_LINES = {
    "mira": ("bram", "Hi! I'm Ada, I just got here. What's on tonight?"),
    "chen": ("mira", "陈掌柜好！我叫小红，第一次来，有什么好茶？"),
    "bram": ("lin", "Hello there, what are you selling today?"),
    "lin": ("chen", "Hi Lin! What's the riddle hunt about?"),
}
BEFORE = {"mira": "Hello!", "chen": "您好！", "bram": "Hello!", "lin": "Hello!"}
TURN_TIMEOUT_S = 120.0


class _Watched(LocalBackend):
    """The embedded model, noting the cached share of each reply's first candidate."""

    def __init__(self) -> None:
        super().__init__()
        self.first_cached: list[float] = []
        self._watching = False

    def watch(self) -> None:
        self._watching = True

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        async for chunk in super().stream(prompt, params):
            if chunk.usage is not None and self._watching and chunk.usage.prompt_tokens:
                self._watching = False
                self.first_cached.append((self.prompt_cached or 0) / chunk.usage.prompt_tokens)
            yield chunk


def _first_sentence_ms(rt: Runtime, character: str, player: str, text: str) -> float:
    start = time.perf_counter()
    handle = rt.say(character, player, text)
    first: float | None = None
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while True:
        for event in rt.poll():
            if event.handle_id != handle.id:
                continue
            if isinstance(event, Sentence) and first is None:
                first = (time.perf_counter() - start) * 1000
            elif isinstance(event, TurnDone | TurnFailed):
                if first is None:
                    raise SystemExit(f"{character} said nothing to {text!r}")
                return first
        if time.monotonic() > deadline:
            raise SystemExit(f"a turn did not finish within {TURN_TIMEOUT_S:.0f} s: {text!r}")
        time.sleep(0.002)


def measure(
    backend: _Watched, cast: dict[str, Persona], characters: list[str], *, greet: bool
) -> list[float]:
    times: list[float] = []
    for character in characters:
        other, line = FIRST_LINES[character]
        with tempfile.TemporaryDirectory() as folder:
            world = Path(folder) / "world.db"
            with Runtime(world, backend=backend, characters=cast, close_backend=False) as rt:
                _first_sentence_ms(rt, other, "someone", BEFORE[other])
                rt.wait_idle(TURN_TIMEOUT_S)
                if greet:
                    rt.greet(character, "player")
                    rt.wait_idle(TURN_TIMEOUT_S)
                    backend.watch()
                times.append(_first_sentence_ms(rt, character, "player", line))
                rt.wait_idle(TURN_TIMEOUT_S)
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2, help="times each character is measured")
    args = p.parse_args()
    characters = ["mira"] if args.quick else list(FIRST_LINES)
    rounds = 1 if args.quick else max(1, args.rounds)
    needed = {c for c in characters} | {FIRST_LINES[c][0] for c in characters}
    cast = {c: load_persona(ROOT / "characters" / f"{c}.yaml") for c in sorted(needed)}
    backend = _Watched()
    backend.load()
    cold: list[float] = []
    greeted: list[float] = []
    try:
        for _ in range(rounds):
            cold += measure(backend, cast, characters, greet=False)
            greeted += measure(backend, cast, characters, greet=True)
    finally:
        import asyncio

        asyncio.run(backend.aclose())
    out = {
        "first_sentence_ms_cold_p50": statistics.median(cold),
        "first_sentence_ms_cold_p95": _p95(cold),
        "first_sentence_ms_greeted_p50": statistics.median(greeted),
        "first_sentence_ms_greeted_p95": _p95(greeted),
        "speedup_p50": statistics.median(cold) / statistics.median(greeted),
        "cached_share_greeted": statistics.mean(backend.first_cached or [0.0]),
    }
    table(
        f"First line of a conversation, embedded model ({len(cold)} each)",
        ["metric", "value"],
        [[k, round(v, 3) if isinstance(v, float) else v] for k, v in out.items()],
    )
    write(
        args.json,
        out,
        data={"characters": characters, "rounds": rounds},
        backend=backend.name,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
