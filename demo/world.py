"""The plaza as data: landmarks, obstacles, and the people who walk around it.

Pure logic (no pygame): positions are metres on the ground plane, ``x`` to the right and ``z``
away from the viewer. The renderer projects them; the tests can step the world without a display.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from engine import Look

PLAZA_X = (-18.0, 18.0)
PLAZA_Z = (0.0, 38.0)
WALK_X = (-17.0, 17.0)
WALK_Z = (0.6, 36.0)
TALK_DISTANCE = 2.6
PLAYER_SPEED = 3.6
NPC_SPEED = 1.7


@dataclass(frozen=True)
class Landmark:
    """A place characters can ``walk_to``: where it is and where to stand to use it."""

    name: str
    x: float
    z: float
    stand: tuple[float, float]


LANDMARKS: dict[str, Landmark] = {
    "fountain": Landmark("fountain", 0.0, 17.0, (0.0, 12.9)),
    "tea_house": Landmark("tea_house", -11.75, 30.0, (-11.0, 25.6)),
    "market_stall": Landmark("market_stall", 11.0, 21.0, (10.6, 18.9)),
    "notice_board": Landmark("notice_board", -7.5, 9.0, (-7.4, 7.7)),
    "stage": Landmark("stage", 9.0, 33.5, (8.4, 29.6)),
}


@dataclass(frozen=True)
class Circle:
    """A round obstacle on the ground."""

    x: float
    z: float
    r: float

    def push_out(self, x: float, z: float, pad: float) -> tuple[float, float]:
        dx, dz = x - self.x, z - self.z
        dist = math.hypot(dx, dz)
        limit = self.r + pad
        if dist >= limit:
            return x, z
        if dist < 1e-6:
            return self.x, self.z - limit
        return self.x + dx / dist * limit, self.z + dz / dist * limit


@dataclass(frozen=True)
class Box:
    """A rectangular obstacle on the ground (axis aligned)."""

    x0: float
    z0: float
    x1: float
    z1: float

    def push_out(self, x: float, z: float, pad: float) -> tuple[float, float]:
        x0, z0, x1, z1 = self.x0 - pad, self.z0 - pad, self.x1 + pad, self.z1 + pad
        if not (x0 < x < x1 and z0 < z < z1):
            return x, z
        exits = [(x - x0, (x0, z)), (x1 - x, (x1, z)), (z - z0, (x, z0)), (z1 - z, (x, z1))]
        return min(exits, key=lambda e: e[0])[1]


OBSTACLES: tuple[Circle | Box, ...] = (
    Circle(0.0, 17.0, 3.3),  # fountain basin
    Box(-16.0, 27.0, -7.5, 33.0),  # tea house
    Box(8.6, 20.2, 13.4, 21.9),  # market stall counter
    Box(-8.8, 8.8, -6.2, 9.3),  # notice board
    Box(4.0, 31.0, 14.0, 36.0),  # stage
    Box(-5.4, 16.2, -3.6, 17.8),  # bench west of the fountain
    Box(3.6, 16.2, 5.4, 17.8),  # bench east of the fountain
    *(
        Box(x - 1.3, z - 0.6, x + 1.3, z + 0.6)
        for x, z in ((-7.0, 4.0), (7.0, 4.0), (-13.0, 20.0), (13.0, 9.5))
    ),  # planters
)
PLANTERS = ((-7.0, 4.0), (7.0, 4.0), (-13.0, 20.0), (13.0, 9.5))


def blocked(x: float, z: float, pad: float = 0.35) -> bool:
    """True if a person of radius ``pad`` standing at (x, z) would overlap an obstacle."""
    for ob in OBSTACLES:
        if ob.push_out(x, z, pad) != (x, z):
            return True
    return False


@dataclass
class Gesture:
    """A short animation: wave, bow, nod, give, or a generic flourish for other actions."""

    name: str
    duration: float
    t: float = 0.0

    @property
    def progress(self) -> float:
        return min(1.0, self.t / self.duration) if self.duration > 0 else 1.0


@dataclass
class Actor:
    """Someone on the plaza: the player or a character."""

    id: str
    name: str
    look: Look
    x: float
    z: float
    speed: float = NPC_SPEED
    home: tuple[float, float] = (0.0, 0.0)
    wander_radius: float = 1.6
    baseline: str = "neutral"
    emotion: str = "neutral"
    emotion_strength: float = 0.0
    emotion_time: float = 0.0
    facing: str = "front"  # front, back, left, right
    target: tuple[float, float] | None = None
    moving: bool = False
    walk_phase: float = 0.0
    talking_to: str | None = None
    speaking: float = 0.0  # seconds of mouth movement left
    gesture: Gesture | None = None
    wait: float = 0.0
    age: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def set_emotion(self, emotion: str, strength: float = 0.8) -> None:
        """Show ``emotion`` for a while; it fades back to the baseline."""
        self.emotion = emotion or self.baseline
        self.emotion_strength = strength
        self.emotion_time = 0.0

    def play(self, gesture: str, duration: float = 1.6) -> None:
        """Start a gesture animation, replacing any running one."""
        self.gesture = Gesture(gesture, duration)

    def walk_to(self, x: float, z: float) -> None:
        """Walk to (x, z) avoiding obstacles; stops near blocked goals."""
        self.target = (min(max(x, WALK_X[0]), WALK_X[1]), min(max(z, WALK_Z[0]), WALK_Z[1]))

    def distance_to(self, other: Actor) -> float:
        return math.hypot(self.x - other.x, self.z - other.z)

    def face_towards(self, x: float, z: float) -> None:
        dx, dz = x - self.x, z - self.z
        if abs(dx) > abs(dz) * 1.4:
            self.facing = "right" if dx > 0 else "left"
        elif dz > 0.3:
            self.facing = "back"
        else:
            self.facing = "front"


class World:
    """Everyone on the plaza and the rules they move by. ``step(dt)`` advances it."""

    def __init__(self, *, seed: int = 7) -> None:
        self.actors: dict[str, Actor] = {}
        self.time = 0.0
        self.rng = random.Random(seed)

    def add(self, actor: Actor) -> Actor:
        actor.rng = random.Random(self.rng.random())
        actor.wait = 1.0 + actor.rng.random() * 3.0
        self.actors[actor.id] = actor
        return actor

    def nearest(self, actor: Actor, *, within: float) -> Actor | None:
        """The closest other actor within ``within`` metres, if any."""
        best: Actor | None = None
        best_d = within
        for other in self.actors.values():
            if other is actor:
                continue
            d = actor.distance_to(other)
            if d <= best_d:
                best, best_d = other, d
        return best

    def step(self, dt: float, player_id: str = "player") -> None:
        """Advance animations, wandering and walking by ``dt`` seconds."""
        self.time += dt
        for actor in self.actors.values():
            actor.age += dt
            actor.emotion_time += dt
            if actor.emotion != actor.baseline and actor.emotion_time > 14.0:
                actor.set_emotion(actor.baseline, 0.0)
            actor.speaking = max(0.0, actor.speaking - dt)
            if actor.gesture is not None:
                actor.gesture.t += dt
                if actor.gesture.t >= actor.gesture.duration:
                    actor.gesture = None
            if actor.id != player_id:
                self._wander(actor, dt)
            self._move(actor, dt)

    def _wander(self, actor: Actor, dt: float) -> None:
        if actor.talking_to is not None:
            other = self.actors.get(actor.talking_to)
            if other is not None and actor.target is None:
                actor.face_towards(other.x, other.z)
            return
        if actor.target is not None:
            return
        actor.wait -= dt
        if actor.wait > 0:
            return
        actor.wait = 3.0 + actor.rng.random() * 5.0
        for _ in range(8):
            angle = actor.rng.random() * math.tau
            radius = actor.wander_radius * math.sqrt(actor.rng.random())
            x = actor.home[0] + math.cos(angle) * radius
            z = actor.home[1] + math.sin(angle) * radius
            if not blocked(x, z):
                actor.walk_to(x, z)
                return

    def _move(self, actor: Actor, dt: float) -> None:
        if actor.target is None:
            actor.moving = False
            return
        tx, tz = actor.target
        dx, dz = tx - actor.x, tz - actor.z
        dist = math.hypot(dx, dz)
        if dist < 0.05:
            actor.target = None
            actor.moving = False
            if actor.id == "player":
                actor.facing = "back"
            return
        step = min(dist, actor.speed * dt)
        heading = math.atan2(dz, dx)
        moved = False
        for turn in (0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5):
            nx = actor.x + math.cos(heading + turn) * step
            nz = actor.z + math.sin(heading + turn) * step
            if not blocked(nx, nz):
                actor.face_towards(nx, nz)
                actor.x, actor.z = nx, nz
                moved = True
                break
        if not moved or (dist < 0.6 and blocked(tx, tz)):
            actor.target = None
            actor.moving = False
            return
        actor.moving = True
        actor.walk_phase += step * 2.2
