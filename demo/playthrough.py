"""Scripted, headless playthroughs: walk, talk, type (Chinese through simulated IME events),
wait for replies, quit, restart on the same world file, and come back.

A playthrough file is JSON::

    {"name": "en_meeting", "language": "en", "clock_start": 1780000000,
     "sessions": [
        {"player_name": "Alex", "steps": [{"walk_to": "mira"}, {"press": "e"}, {"wait_reply": true},
                                          {"type": "Hi, I'm Alex."}, {"wait_reply": true}, {"shot": "01"}]},
        {"advance_clock": 259200, "steps": [...]}]}

Steps: ``walk_to`` (a character id, a landmark, or [x, z]), ``click`` (a character id: a real
mouse click on them), ``press`` (a key name), ``type`` (text typed as TEXTINPUT events, then
Enter), ``ime`` (a list of [pinyin, hanzi] segments: TEXTEDITING compositions then a TEXTINPUT
commit, then Enter; ``shot_composing`` takes a screenshot mid-composition), ``wait_reply``,
``wait`` (seconds), ``shot`` (a PNG name), ``advance_clock`` (seconds).

Every input goes through pygame's event queue, the same path a player's keys take. The game
clock handed to the runtime only moves at steps, so prompts (and recorded replies) are the
same on every run; between lines the runner waits for ``runtime.idle()``.
"""

from __future__ import annotations

import gc
import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pygame

from demo.app import PLAYER_ID, App, TurnLog, warm_up
from demo.world import LANDMARKS, TALK_DISTANCE
from engine import Runtime

log = logging.getLogger(__name__)

DT = 1 / 60
LINE_GAP_S = 20.0  # game seconds between two player lines


class PlaythroughError(Exception):
    """A playthrough file is malformed or a step could not complete."""


class GameClock:
    """A clock that only moves when told: reproducible prompts and memory times."""

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def load(path: str | Path) -> dict[str, Any]:
    """Read and check a playthrough file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlaythroughError(f"{p}: cannot read playthrough: {exc}") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("sessions"), list)
        or not data["sessions"]
    ):
        raise PlaythroughError(f"{p}: expected an object with a non-empty 'sessions' list")
    known = {
        "walk_to",
        "click",
        "press",
        "type",
        "ime",
        "wait_reply",
        "wait",
        "shot",
        "advance_clock",
        "shot_composing",
        "timeout",
    }
    for s, session in enumerate(data["sessions"]):
        for i, step in enumerate(session.get("steps", [])):
            unknown = set(step) - known
            if unknown:
                raise PlaythroughError(
                    f"{p}: sessions[{s}].steps[{i}]: unknown keys {sorted(unknown)}"
                )
    return data


KEYS = {
    "e": pygame.K_e,
    "return": pygame.K_RETURN,
    "escape": pygame.K_ESCAPE,
    "f1": pygame.K_F1,
    "f2": pygame.K_F2,
    "f3": pygame.K_F3,
    "space": pygame.K_SPACE,
    "pageup": pygame.K_PAGEUP,
    "pagedown": pygame.K_PAGEDOWN,
}


class Runner:
    """Drives an :class:`App` from a playthrough, collecting screenshots, turns and frame times."""

    def __init__(
        self,
        screen: pygame.Surface,
        make_runtime: Callable[[Callable[[], float]], Runtime],
        out: Path,
        *,
        fps: float = 0.0,
        backend_name: str = "",
        reply_timeout: float = 180.0,
    ) -> None:
        self.screen = screen
        self.make_runtime = make_runtime
        self.out = out
        self.fps = fps
        self.backend_name = backend_name
        self.reply_timeout = reply_timeout
        self.app: App | None = None
        self.rt: Runtime | None = None
        self.turns: list[TurnLog] = []
        self.shots: list[dict[str, Any]] = []
        self.frame_ms: list[float] = []
        self.frame_cpu_ms: list[float] = []
        self.streaming: list[bool] = []
        self.clock = GameClock(0)
        self._last = time.perf_counter()

    # -- frames ----------------------------------------------------------------------------

    def frame(self) -> None:
        """Run one frame through the real event queue and time it."""
        assert self.app is not None
        start = time.perf_counter()
        cpu = time.thread_time()
        self.app.frame(pygame.event.get(), DT)
        pygame.display.flip()
        self.frame_ms.append((time.perf_counter() - start) * 1000)
        self.frame_cpu_ms.append((time.thread_time() - cpu) * 1000)
        self.streaming.append(bool(self.app.in_flight))
        if self.fps > 0:
            delay = 1 / self.fps - (time.perf_counter() - self._last)
            if delay > 0:
                time.sleep(delay)
        else:
            time.sleep(0.0005)  # let the runtime's threads run between unpaced frames
        self._last = time.perf_counter()

    def frames(self, seconds: float) -> None:
        for _ in range(max(1, int(seconds / DT))):
            self.frame()

    @staticmethod
    def post_key(key: int, text: str = "") -> None:
        pygame.event.post(
            pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=text, scancode=0)
        )
        pygame.event.post(
            pygame.event.Event(pygame.KEYUP, key=key, mod=0, unicode=text, scancode=0)
        )

    # -- steps -----------------------------------------------------------------------------

    def run(self, data: dict[str, Any]) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        self.clock = GameClock(float(data.get("clock_start", 1_780_000_000)))
        language = str(data.get("language", "en"))
        wall = time.perf_counter()
        for number, session in enumerate(data["sessions"], start=1):
            self.clock.advance(float(session.get("advance_clock", 0)))
            self.rt = self.make_runtime(self.clock)
            warm_up(self.rt)
            self.app = App(
                self.screen,
                self.rt,
                language=language,
                player_name=session.get("player_name"),
                session=number,
                backend_name=self.backend_name or self.rt_backend_name(),
            )
            gc.collect()
            gc.freeze()  # the scene's long-lived objects: out of the collector's way
            try:
                self.frames(0.5)
                for step in session.get("steps", []):
                    self.step(step)
                if data.get("settle", True):
                    self.wait_idle(self.reply_timeout)
            finally:
                self.turns.extend(self.app.finished)
                self.app.end_talk()
                self.rt.close()
        return self.result(data, time.perf_counter() - wall)

    def rt_backend_name(self) -> str:
        return ""

    def step(self, step: dict[str, Any]) -> None:
        app = self.app
        assert app is not None
        if "advance_clock" in step:
            self.clock.advance(float(step["advance_clock"]))
        if "walk_to" in step:
            self.walk_to(step["walk_to"], float(step.get("timeout", 20)))
        if "click" in step:
            self.click(str(step["click"]))
        if "press" in step:
            name = str(step["press"]).lower()
            if name in ("e", "return"):
                self.clock.advance(LINE_GAP_S)
            self.post_key(KEYS[name])
            self.frame()
        if ("type" in step or "ime" in step) and app.partner is None:
            raise PlaythroughError(
                f"{step}: typing, but no conversation is open (walk up and press e first)"
            )
        if "type" in step:
            self.clock.advance(LINE_GAP_S)
            for ch in str(step["type"]):
                pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text=ch))
                self.frame()
            self.post_key(pygame.K_RETURN)
            self.frame()
        if "ime" in step:
            self.clock.advance(LINE_GAP_S)
            self.ime(step["ime"], step.get("shot_composing"))
        if step.get("wait_reply"):
            turn_only = step["wait_reply"] == "turn"
            self.wait_reply(float(step.get("timeout", self.reply_timeout)), turn_only=turn_only)
        if "wait" in step:
            self.frames(float(step["wait"]))
        if "shot" in step:
            self.shot(str(step["shot"]))

    def ime(self, segments: list[list[str]], shot_name: str | None) -> None:
        """Type Chinese the way an IME delivers it: compositions, then the committed text."""
        last_composed = max((n for n, (pinyin, _) in enumerate(segments) if pinyin), default=-1)
        for n, (pinyin, hanzi) in enumerate(segments):
            for i in range(1, len(pinyin) + 1):
                pygame.event.post(
                    pygame.event.Event(pygame.TEXTEDITING, text=pinyin[:i], start=i, length=0)
                )
                self.frame()
            if pinyin:
                pygame.event.post(
                    pygame.event.Event(pygame.TEXTEDITING, text=hanzi, start=len(hanzi), length=0)
                )
                self.frame()
                if shot_name and n == last_composed:
                    self.frames(0.2)
                    self.shot(shot_name)
            pygame.event.post(pygame.event.Event(pygame.TEXTEDITING, text="", start=0, length=0))
            pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text=hanzi))
            self.frame()
        self.post_key(pygame.K_RETURN)
        self.frame()

    def walk_to(self, target: Any, timeout: float) -> None:
        app = self.app
        assert app is not None
        player = app.player
        if isinstance(target, str) and target in app.world.actors:
            npc = app.world.actors[target]
            goal = (npc.x - 1.6, npc.z - 0.8)
        elif isinstance(target, str) and target in LANDMARKS:
            goal = LANDMARKS[target].stand
        elif isinstance(target, list) and len(target) == 2:
            goal = (float(target[0]), float(target[1]))
        else:
            raise PlaythroughError(f"walk_to: unknown target {target!r}")
        player.walk_to(*goal)
        waited = 0.0
        while player.target is not None and waited < timeout:
            self.frame()
            waited += DT
            if isinstance(target, str) and target in app.world.actors:
                npc = app.world.actors[target]
                if player.distance_to(npc) <= TALK_DISTANCE - 0.4:
                    player.target = None
        self.frames(0.3)

    def click(self, cid: str) -> None:
        """A left click on a character's body, as a player would."""
        app = self.app
        assert app is not None
        self.frame()
        head = app.heads.get(cid)
        if head is None:
            raise PlaythroughError(f"click: {cid!r} is not on screen")
        pos = (head.centerx, head.bottom + head.h)
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1))
        self.clock.advance(LINE_GAP_S)
        waited = 0.0
        while app.partner is None and waited < 20:
            self.frame()
            waited += DT

    def wait_idle(self, timeout: float) -> None:
        assert self.rt is not None
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.frame()
            if self.rt.idle() and not (self.app and self.app.in_flight):
                return
        raise PlaythroughError(f"the runtime did not become idle within {timeout:.0f} s")

    def wait_reply(self, timeout: float, *, turn_only: bool = False) -> None:
        """Frames until every turn is done, the runtime is idle (unless ``turn_only``: then the
        background analysis may still run) and the bubbles are fully shown."""
        app = self.app
        assert app is not None
        self.frames(0.1)
        if turn_only:
            deadline = time.perf_counter() + timeout
            while app.in_flight and time.perf_counter() < deadline:
                self.frame()
            if app.in_flight:
                raise PlaythroughError(f"no reply within {timeout:.0f} s")
        else:
            self.wait_idle(timeout)
        waited = 0.0
        while any(b.revealing for b in app.bubbles.values()) and waited < 30:
            self.frame()
            waited += DT
        self.frames(0.6)

    def shot(self, name: str) -> None:
        app = self.app
        assert app is not None
        path = self.out / f"{name}.png"
        pygame.image.save(self.screen, str(path))
        bubble = app.bubbles.get(app.partner.id) if app.partner is not None else None
        self.shots.append(
            {
                "name": name,
                "file": path.name,
                "session": app.session,
                "partner": app.partner.id if app.partner is not None else None,
                "bubble": bubble.text if bubble is not None else "",
                "bubble_shown": bubble.text[: int(bubble.shown)] if bubble is not None else "",
                "composition": app.textbox.composition,
                "language": app.language,
            }
        )

    # -- results ---------------------------------------------------------------------------

    def result(self, data: dict[str, Any], wall_s: float) -> dict[str, Any]:
        streaming = [ms for ms, s in zip(self.frame_ms, self.streaming, strict=True) if s]
        return {
            "name": data.get("name", ""),
            "language": data.get("language", "en"),
            "backend": self.backend_name,
            "player": PLAYER_ID,
            "turns": [asdict(t) for t in self.turns],
            "shots": self.shots,
            "frames": {
                "count": len(self.frame_ms),
                "ms": [round(v, 3) for v in self.frame_ms],
                "streaming": self.streaming,
                "summary": summarise(self.frame_ms),
                "summary_streaming": summarise(streaming),
                "cpu_ms": [round(v, 3) for v in self.frame_cpu_ms],
                "summary_cpu_streaming": summarise(
                    [ms for ms, s in zip(self.frame_cpu_ms, self.streaming, strict=True) if s]
                ),
            },
            "wall_s": round(wall_s, 2),
        }


def summarise(values: list[float]) -> dict[str, float]:
    """p50 / p99 / max of frame times in ms (zeros when there are none)."""
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0, "n": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(p99, 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
    }
