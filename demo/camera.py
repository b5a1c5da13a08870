"""A pinhole camera looking along +z over the plaza: no rotation, so straight lines stay straight.

Screen x grows with world x, screen y grows as things get nearer or lower. ``project`` takes a
3D point (x, height y, z) in metres and returns pixels; ``scale`` is pixels per metre at depth z.
"""

from __future__ import annotations

from demo.world import Actor

NEAR = 0.8


class Camera:
    """Follows the player from behind and above, smoothing its motion."""

    def __init__(
        self, width: int, height: int, *, focal: float = 820.0, eye_height: float = 3.4
    ) -> None:
        self.width = width
        self.height = height
        self.focal = focal
        self.eye = eye_height
        self.horizon = height * 0.30
        self.x = 0.0
        self.z = -6.0
        self.follow_distance = 8.0
        self.still_frames = 0

    def target_for(self, player: Actor, partner: Actor | None = None) -> tuple[float, float]:
        """Where the camera wants to be: behind the player, or framing a conversation."""
        if partner is not None:
            x = (player.x + partner.x) / 2
            z = min(player.z, partner.z) - 6.4
        else:
            x = player.x * 0.8
            z = player.z - self.follow_distance
        return x, max(-8.0, min(z, 24.0))

    def follow(
        self, player: Actor, dt: float, partner: Actor | None = None, *, snap: bool = False
    ) -> None:
        """Ease towards the target position (``snap`` jumps straight there)."""
        tx, tz = self.target_for(player, partner)
        before = (self.x, self.z)
        k = 1.0 if snap else min(1.0, dt * 3.0)
        self.x += (tx - self.x) * k
        self.z += (tz - self.z) * k
        if abs(tx - self.x) < 0.004 and abs(tz - self.z) < 0.004:
            self.x, self.z = tx, tz  # settle exactly, so a resting view can be cached
        self.still_frames = self.still_frames + 1 if (self.x, self.z) == before else 0

    @property
    def key(self) -> tuple[float, float]:
        """Identifies the current view, for caches of what it sees."""
        return (self.x, self.z)

    def depth(self, z: float) -> float:
        return max(NEAR, z - self.z)

    def scale(self, z: float) -> float:
        """Pixels per metre at world depth ``z``."""
        return self.focal / self.depth(z)

    def project(self, x: float, y: float, z: float) -> tuple[float, float]:
        """Screen position of the world point (x, height y, z)."""
        d = self.depth(z)
        return (
            self.width / 2 + (x - self.x) * self.focal / d,
            self.horizon + (self.eye - y) * self.focal / d,
        )

    def unproject_ground(self, sx: float, sy: float) -> tuple[float, float] | None:
        """The ground point under screen pixel (sx, sy), or None above the horizon."""
        if sy <= self.horizon + 2:
            return None
        d = self.eye * self.focal / (sy - self.horizon)
        return self.x + (sx - self.width / 2) * d / self.focal, self.z + d

    def visible(self, z: float) -> bool:
        return z - self.z > NEAR
