"""Drawing in perspective: projected polygons, boxes and rings, glows and soft shadows.

:class:`Painter` holds a camera and the primitives every prop is built from. Soft sprites
(glows, shadows) are scaled through a :class:`SpriteCache` keyed by size in small steps, so a
moving camera reuses them instead of rescaling every frame. While a prop is being snapshotted
(see :mod:`demo.scene`), glows are recorded instead of blitted, to be added on top later.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import pygame

from demo import palette as P
from demo.camera import Camera
from demo.fonts import Fonts

Point = tuple[float, float]
MIN_PROP_DEPTH = 3.0  # small props nearer than this would fill the screen: leave them out
MAX_GLOW_PX = 320


class SpriteCache:
    """Scaled copies of a sprite, keyed by size in small geometric steps so a moving camera
    reuses them instead of rescaling every frame."""

    def __init__(self, limit: int = 256, *, step: float = 1.03) -> None:
        self._items: OrderedDict[tuple[int, int], pygame.Surface] = OrderedDict()
        self._limit = limit
        self._step = step
        self._log_step = math.log(step)

    def get(self, sprite: pygame.Surface, width: float) -> pygame.Surface:
        step = max(1, int(round(math.log(max(width, 1.0)) / self._log_step)))
        key = (id(sprite), step)
        surf = self._items.get(key)
        if surf is None:
            w = max(1, int(round(self._step**step)))
            h = max(1, int(round(sprite.get_height() * w / sprite.get_width())))
            # shrinking is smoothed; growing a soft sprite needs no filtering and costs far less
            grow = w > sprite.get_width()
            surf = (
                pygame.transform.scale(sprite, (w, h))
                if grow
                else pygame.transform.smoothscale(sprite, (w, h))
            )
            self._items[key] = surf
            if len(self._items) > self._limit:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return surf


def radial(size: int, colour: P.Colour, *, power: float = 2.0) -> pygame.Surface:
    """A soft round light on black, for additive blending: brightest at the centre."""
    surf = pygame.Surface((size, size))
    c = size / 2
    for r in range(int(c), 0, -1):
        k = (1 - r / c) ** power
        pygame.draw.circle(
            surf, (int(colour[0] * k), int(colour[1] * k), int(colour[2] * k)), (c, c), r
        )
    return surf


class Painter:
    """Primitives in perspective for one camera."""

    def __init__(self, camera: Camera, fonts: Fonts) -> None:
        self.cam = camera
        self.fonts = fonts
        self.cache = SpriteCache()
        self.time = 0.0
        self._glows: dict[int, pygame.Surface] = {}
        self._capture: list[tuple[float, ...]] | None = None
        shadow = pygame.Surface((256, 128), pygame.SRCALPHA)
        pygame.draw.ellipse(shadow, (30, 20, 30, 150), (28, 20, 200, 88))
        self.shadow = pygame.transform.gaussian_blur(shadow, 14)

    # -- primitives ------------------------------------------------------------------------

    def fog(self, c: P.Colour, z: float) -> P.Colour:
        return P.mix(c, P.HAZE, (self.cam.depth(z) - 14.0) / 70.0)

    def poly(
        self, surf: pygame.Surface, colour: P.Colour, pts3: Sequence[tuple[float, float, float]]
    ) -> None:
        pts = [self.cam.project(*p) for p in pts3]
        pygame.draw.polygon(surf, colour, pts)

    def box(
        self,
        surf: pygame.Surface,
        x0: float,
        x1: float,
        y0: float,
        y1: float,
        z0: float,
        z1: float,
        colour: P.Colour,
        *,
        top: P.Colour | None = None,
    ) -> None:
        """A solid box: visible side faces, the top (if below the eye) and the front."""
        cam = self.cam
        if not cam.visible(z1):
            return
        c = self.fog(colour, z0)
        side = P.shade(c, 0.78)
        if cam.x < x0:
            self.poly(surf, side, [(x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0)])
        elif cam.x > x1:
            self.poly(surf, side, [(x1, y0, z0), (x1, y0, z1), (x1, y1, z1), (x1, y1, z0)])
        if y1 < cam.eye:
            self.poly(
                surf,
                top or P.shade(c, 1.12),
                [(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)],
            )
        if cam.visible(z0):
            self.poly(surf, c, [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)])

    def ring(
        self,
        cx: float,
        y: float,
        cz: float,
        r: float,
        n: int = 36,
        a0: float = 0.0,
        a1: float = math.tau,
    ) -> list[Point]:
        return [
            self.cam.project(
                cx + r * math.cos(a0 + (a1 - a0) * i / n),
                y,
                cz + r * math.sin(a0 + (a1 - a0) * i / n),
            )
            for i in range(n + 1)
        ]

    def blit_glow(
        self,
        surf: pygame.Surface,
        x: float,
        y: float,
        z: float,
        radius_m: float,
        strength: int = 255,
    ) -> None:
        """Add a warm light (additive), skipping lights too close to the camera to matter."""
        if self.cam.depth(z) < MIN_PROP_DEPTH:
            return
        if self._capture is not None:
            self._capture.append((x, y, z, radius_m, float(strength)))
            return
        sx, sy = self.cam.project(x, y, z)
        size = min(MAX_GLOW_PX, 2 * radius_m * self.cam.scale(z))
        if size < 3:
            return
        base = self._glows.get(strength)
        if base is None:
            k = strength / 255
            base = self._glows[strength] = radial(
                192,
                (int(P.WARM_LIGHT[0] * k), int(P.WARM_LIGHT[1] * k), int(P.WARM_LIGHT[2] * k)),
                power=1.6,
            )
        glow = self.cache.get(base, size)
        surf.blit(glow, glow.get_rect(center=(sx, sy)), special_flags=pygame.BLEND_RGB_ADD)

    def blit_shadow(self, surf: pygame.Surface, x: float, z: float, radius_m: float) -> None:
        if self.cam.depth(z) < MIN_PROP_DEPTH - 1.0:
            return
        sx, sy = self.cam.project(x, 0.0, z)
        size = 2.3 * radius_m * self.cam.scale(z)
        if size < 2 or size > 900 or not -size < sx < self.cam.width + size:
            return
        sh = self.cache.get(self.shadow, size)
        surf.blit(sh, sh.get_rect(center=(sx, sy)))
