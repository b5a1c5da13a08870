"""Limits per server key and per player: requests, turns running at once, connections, sizes.

Counted in memory, per process, on the server's event loop (no locks needed). Each limit is
checked before the work starts and refused with an :class:`~engine.server.auth.ApiError`
carrying a 429 (or 413/422 for sizes) and a machine-readable code. Players' counters are kept
apart from keys' (a key acting for a player counts against both).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from engine.server.auth import ApiError, Principal

__all__ = ["LimitSettings", "Limiter", "Slot"]


class LimitSettings(BaseModel):
    """The server's limits (the ``limits`` table of its config file)."""

    key_requests_per_minute: int = Field(
        6000, ge=1, description="Requests (HTTP calls and socket messages) per key."
    )
    player_requests_per_minute: int = Field(60, ge=1, description="Requests per player.")
    key_concurrent_turns: int = Field(256, ge=1, description="Turns running at once per key.")
    player_concurrent_turns: int = Field(2, ge=1, description="Turns running at once per player.")
    key_connections: int = Field(
        2000, ge=1, description="Open sockets per key (its players' included)."
    )
    player_connections: int = Field(4, ge=1, description="Open sockets per player.")
    max_message_bytes: int = Field(
        16_384, ge=256, description="Largest socket message or HTTP body."
    )
    max_line_chars: int = Field(2000, ge=1, description="Longest player line (characters).")
    max_file_bytes: int = Field(
        262_144, ge=1024, description="Largest character file sent to validate or save."
    )


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


@dataclass
class Slot:
    """A held unit of a counted limit (a running turn, an open socket); release it once."""

    limiter: Limiter
    kind: str
    subjects: tuple[str, ...]
    released: bool = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        counts = self.limiter.counts(self.kind)
        for subject in self.subjects:
            left = counts.get(subject, 0) - 1
            if left > 0:
                counts[subject] = left
            else:
                counts.pop(subject, None)


class Limiter:
    """Token buckets for request rates and counters for turns and sockets."""

    #: Buckets idle this long are dropped (full again anyway), so memory stays bounded.
    IDLE_S = 120.0

    def __init__(
        self, settings: LimitSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._counts: dict[str, dict[str, int]] = {"turns": {}, "connections": {}}
        self._last_sweep = clock()

    def counts(self, kind: str) -> dict[str, int]:
        return self._counts[kind]

    def _subjects(self, principal: Principal, player: str | None) -> list[tuple[str, bool]]:
        """(subject, is_player) pairs a request counts against."""
        subjects = [(f"key:{principal.key_id}", False)]
        if player is not None:
            subjects.append((f"player:{player}", True))
        return subjects

    def hit(self, principal: Principal, player: str | None = None) -> None:
        """Count one request; 429 ``rate_limited`` when a bucket is empty."""
        now = self._clock()
        if now - self._last_sweep > self.IDLE_S:
            self._sweep(now)
        s = self.settings
        taken: list[_Bucket] = []
        for subject, is_player in self._subjects(principal, player):
            # A token's requests count against its player only: players of one key must not
            # starve each other through the key's bucket.
            if not is_player and not principal.is_key:
                continue
            rate = (s.player_requests_per_minute if is_player else s.key_requests_per_minute) / 60.0
            capacity = rate * 60.0
            bucket = self._buckets.get(subject)
            if bucket is None:
                bucket = self._buckets[subject] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                for b in taken:
                    b.tokens += 1.0
                wait = (1.0 - bucket.tokens) / rate
                raise ApiError(429, "rate_limited", f"too many requests; retry in {wait:.1f} s")
            bucket.tokens -= 1.0
            taken.append(bucket)

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for subject in [k for k, b in self._buckets.items() if now - b.stamp > self.IDLE_S]:
            del self._buckets[subject]

    def acquire(self, kind: str, principal: Principal, player: str | None) -> Slot:
        """Hold a turn (``kind="turns"``) or a socket (``"connections"``); 429 when full."""
        s = self.settings
        caps = {
            "turns": (s.key_concurrent_turns, s.player_concurrent_turns, "too_many_turns"),
            "connections": (s.key_connections, s.player_connections, "too_many_connections"),
        }
        key_cap, player_cap, code = caps[kind]
        counts = self._counts[kind]
        subjects = self._subjects(principal, player)
        for subject, is_player in subjects:
            if counts.get(subject, 0) >= (player_cap if is_player else key_cap):
                whose = "this player" if is_player else "this key"
                raise ApiError(429, code, f"{whose} already has the most {kind} allowed at once")
        for subject, _ in subjects:
            counts[subject] = counts.get(subject, 0) + 1
        return Slot(self, kind, tuple(subject for subject, _ in subjects))

    def check_line(self, text: str) -> None:
        """422 ``line_too_long`` for a player line over the cap."""
        if len(text) > self.settings.max_line_chars:
            raise ApiError(
                422, "line_too_long",
                f"the line has {len(text)} characters; at most {self.settings.max_line_chars} are accepted",
            )  # fmt: skip
