"""The plaza's environment: sky, paving, buildings and props, drawn in perspective each frame.

Everything is built from projected 3D points (boxes, rings, prisms) so the plaza shifts with the
camera like a real space. Static pieces that never change with the camera (sky, ground tones,
glows, soft shadows) are rendered once; scaled sprites are cached by quantised size.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence

import pygame

from demo import palette as P
from demo.camera import Camera
from demo.fonts import Fonts
from demo.world import LANDMARKS, PLANTERS, PLAZA_X, PLAZA_Z

Point = tuple[float, float]
MIN_PROP_DEPTH = 3.0  # small props nearer than this would fill the screen: leave them out
MAX_GLOW_PX = 320
Drawable = tuple[float, Callable[[pygame.Surface], None], str | None]
BUILDS_PER_FRAME = 2  # prop snapshots made per frame once the camera rests

TREES = (
    (-15.2, 5.0, 1.15),
    (-16.2, 13.5, 1.0),
    (-15.6, 22.0, 1.1),
    (15.2, 5.5, 1.05),
    (16.0, 12.5, 1.2),
    (15.8, 27.5, 1.0),
    (-4.5, 36.8, 1.25),
    (2.0, 37.2, 1.1),
    (16.5, 35.5, 1.2),
)
LAMPS = (
    (-5.5, 11.5),
    (5.5, 11.5),
    (-5.5, 22.5),
    (5.5, 22.5),
    (-12.0, 16.0),
    (12.0, 14.0),
    (0.0, 29.5),
)
BENCHES = ((-4.5, 17.0), (4.5, 17.0))
LANTERN_STRINGS = (((-5.5, 11.5), (5.5, 11.5)), ((-5.5, 22.5), (5.5, 22.5)))


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


def _radial(size: int, colour: P.Colour, *, power: float = 2.0) -> pygame.Surface:
    """A soft round light on black, for additive blending: brightest at the centre."""
    surf = pygame.Surface((size, size))
    c = size / 2
    for r in range(int(c), 0, -1):
        k = (1 - r / c) ** power
        pygame.draw.circle(
            surf, (int(colour[0] * k), int(colour[1] * k), int(colour[2] * k)), (c, c), r
        )
    return surf


class Environment:
    """Draws the sky, ground and props for a camera. ``drawables()`` returns depth-sorted props."""

    def __init__(self, camera: Camera, fonts: Fonts) -> None:
        self.cam = camera
        self.fonts = fonts
        self.cache = SpriteCache()
        self._glows: dict[int, pygame.Surface] = {}
        self._bg: pygame.Surface | None = None
        self._bg_key: tuple[float, float] | None = None
        self._snapshots: dict[
            str,
            tuple[tuple[float, float], pygame.Surface, tuple[int, int], list[tuple[float, ...]]],
        ] = {}
        self._scratch: pygame.Surface | None = None
        self._capture: list[tuple[float, ...]] | None = None
        self._builds = 0
        self.time = 0.0
        w, h = camera.width, camera.height
        self.sky = self._make_sky(int(w * 1.6), int(camera.horizon) + 4)
        self.ground = self._make_ground(w, h - int(camera.horizon))
        self.vignette = self._make_vignette(w, h)
        self.shadow = pygame.Surface((256, 128), pygame.SRCALPHA)
        pygame.draw.ellipse(self.shadow, (30, 20, 30, 150), (28, 20, 200, 88))
        self.shadow = pygame.transform.gaussian_blur(self.shadow, 14)
        rng = random.Random(11)
        self.facades = self._make_facades(rng)
        self.side_blocks = self._make_side_blocks(rng)

    # -- static layers ---------------------------------------------------------------------

    def _make_sky(self, w: int, h: int) -> pygame.Surface:
        sky = pygame.Surface((w, h))
        for y in range(h):
            t = y / max(1, h - 1)
            c = (
                P.mix(P.SKY_TOP, P.SKY_MID, t / 0.55)
                if t < 0.55
                else P.mix(P.SKY_MID, P.SKY_LOW, (t - 0.55) / 0.45)
            )
            pygame.draw.line(sky, c, (0, y), (w, y))
        sun = _radial(420, (120, 90, 50), power=1.8)
        sky.blit(sun, (int(w * 0.62) - 210, h - 260), special_flags=pygame.BLEND_RGB_ADD)
        rng = random.Random(5)
        clouds = pygame.Surface((w, h), pygame.SRCALPHA)
        for _ in range(9):
            cx, cy = rng.uniform(0, w), rng.uniform(h * 0.15, h * 0.6)
            for _ in range(6):
                rw, rh = rng.uniform(60, 140), rng.uniform(18, 34)
                pygame.draw.ellipse(
                    clouds,
                    (255, 240, 228, 90),
                    (cx + rng.uniform(-90, 90), cy + rng.uniform(-12, 12), rw, rh),
                )
        sky.blit(pygame.transform.gaussian_blur(clouds, 6), (0, 0))
        # distant hills and a pagoda on the horizon
        hills = [(0, h)]
        for i in range(0, w + 40, 40):
            hills.append((i, h - 34 - 22 * math.sin(i / 170.0) - 12 * math.sin(i / 53.0 + 1)))
        hills.append((w, h))
        pygame.draw.polygon(sky, P.mix(P.SKY_LOW, (120, 120, 150), 0.45), hills)
        px, base = int(w * 0.3), h - 40
        for i in range(5):
            ww, hh = 46 - i * 7, 16
            y = base - i * hh
            pygame.draw.rect(
                sky, P.mix(P.SKY_LOW, (90, 90, 120), 0.6), (px - ww // 2 + 4, y - hh, ww - 8, hh)
            )
            pygame.draw.polygon(
                sky,
                P.mix(P.SKY_LOW, (70, 70, 100), 0.65),
                [
                    (px - ww // 2 - 6, y - hh + 4),
                    (px + ww // 2 + 6, y - hh + 4),
                    (px + ww // 2 - 6, y - hh - 4),
                    (px - ww // 2 + 6, y - hh - 4),
                ],
            )
        return sky

    def _make_vignette(self, w: int, h: int) -> pygame.Surface:
        """Corners darkened a little, warmly: multiplied over the background when it is painted."""
        small = pygame.Surface((160, 90))
        small.fill((255, 255, 255))
        for i in range(40, 0, -1):
            k = i / 40  # 1 at the rim
            shade = (int(255 - 60 * k**2.2), int(255 - 72 * k**2.2), int(255 - 84 * k**2.2))
            rect = pygame.Rect(0, 0, 160 * (0.7 + 0.9 * k), 90 * (0.7 + 0.9 * k))
            rect.center = (80, 52)
            pygame.draw.ellipse(small, shade, rect)
        return pygame.transform.smoothscale(small, (w, h))

    def _make_ground(self, w: int, h: int) -> pygame.Surface:
        ground = pygame.Surface((w, h))
        for y in range(h):
            t = (y / max(1, h - 1)) ** 0.5
            pygame.draw.line(ground, P.mix(P.GRASS_FAR, P.GRASS_NEAR, t), (0, y), (w, y))
        return ground

    def _make_facades(self, rng: random.Random) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        x = -44.0
        colours = [
            (214, 170, 130),
            (196, 120, 96),
            (226, 206, 170),
            (170, 150, 130),
            (206, 186, 150),
            (184, 140, 110),
        ]
        while x < 44:
            w = rng.uniform(5.5, 9.0)
            out.append(
                {
                    "x0": x,
                    "x1": x + w,
                    "h": rng.uniform(6.5, 11.5),
                    "colour": rng.choice(colours),
                    "roof": rng.choice(["gable", "flat", "eave"]),
                    "cols": max(2, int(w / 2.2)),
                    "z": 39.0 + rng.uniform(0, 1.5),
                }
            )
            x += w + rng.uniform(0.0, 0.6)
        return out

    def _make_side_blocks(self, rng: random.Random) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        colours = [(206, 176, 140), (190, 130, 104), (220, 200, 168), (176, 156, 136)]
        for side in (-1, 1):
            z = 1.0
            while z < 38:
                d = rng.uniform(5.0, 8.0)
                out.append(
                    {
                        "side": side,
                        "z0": z,
                        "z1": min(z + d, 38.5),
                        "h": rng.uniform(6.0, 10.0),
                        "colour": rng.choice(colours),
                    }
                )
                z += d + 0.4
        return out

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
            base = self._glows[strength] = _radial(
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

    # -- layers ----------------------------------------------------------------------------

    def draw_background(self, surf: pygame.Surface) -> None:
        """Sky, distant buildings, ground and paving; reused while the camera rests."""
        if (
            self._bg is not None
            and self._bg_key == self.cam.key
            and self._bg.get_size() == surf.get_size()
        ):
            surf.blit(self._bg, (0, 0))
            return
        self._paint_background(surf)
        surf.blit(self.vignette, (0, 0), special_flags=pygame.BLEND_RGB_MULT)
        if self.cam.still_frames > 0:
            if self._bg is None or self._bg.get_size() != surf.get_size():
                self._bg = pygame.Surface(surf.get_size())
            self._bg.blit(surf, (0, 0))
            self._bg_key = self.cam.key

    def begin_frame(self) -> None:
        self._builds = 0

    def draw_prop(
        self, surf: pygame.Surface, key: str | None, draw: Callable[[pygame.Surface], None]
    ) -> None:
        """Draw a prop; a static one is snapshotted once the camera rests and then just blitted."""
        if key is None or self.cam.still_frames < 2:
            draw(surf)
            return
        snap = self._snapshots.get(key)
        if snap is None or snap[0] != self.cam.key:
            if self._builds >= BUILDS_PER_FRAME:
                draw(surf)
                return
            self._builds += 1
            snap = self._snapshot(surf.get_size(), draw)
            self._snapshots[key] = snap
        _, sprite, pos, glows = snap
        surf.blit(sprite, pos)
        for x, y, z, r, strength in glows:
            self.blit_glow(surf, x, y, z, r, int(strength))

    def _snapshot(
        self, size: tuple[int, int], draw: Callable[[pygame.Surface], None]
    ) -> tuple[tuple[float, float], pygame.Surface, tuple[int, int], list[tuple[float, ...]]]:
        if self._scratch is None or self._scratch.get_size() != size:
            self._scratch = pygame.Surface(size, pygame.SRCALPHA)
        scratch = self._scratch
        scratch.fill((0, 0, 0, 0))
        self._capture = []
        try:
            draw(scratch)
            glows = self._capture
        finally:
            self._capture = None
        rect = scratch.get_bounding_rect()
        sprite = (
            scratch.subsurface(rect).copy()
            if rect.w and rect.h
            else pygame.Surface((1, 1), pygame.SRCALPHA)
        )
        return (self.cam.key, sprite, rect.topleft, glows)

    def _paint_background(self, surf: pygame.Surface) -> None:
        cam = self.cam
        hz = int(cam.horizon)
        sky_x = -int((self.sky.get_width() - cam.width) / 2 + cam.x * 6)
        surf.blit(self.sky, (sky_x, hz + 4 - self.sky.get_height()))
        surf.blit(self.ground, (0, hz))
        for block in self.facades:
            self._facade(surf, block)
        for block in self.side_blocks:
            self._side_block(surf, block)
        self._paving(surf)
        self._mosaic(surf)

    def _facade(self, surf: pygame.Surface, b: dict[str, object]) -> None:
        x0, x1, h, z = float(b["x0"]), float(b["x1"]), float(b["h"]), float(b["z"])  # type: ignore[arg-type]
        colour: P.Colour = b["colour"]  # type: ignore[assignment]
        c = self.fog(colour, z)
        left, t = self.cam.project(x0, h, z)
        r, bot = self.cam.project(x1, 0, z)
        if r < 0 or left > self.cam.width:
            return
        pygame.draw.rect(surf, c, (left, t, r - left, bot - t))
        s = self.cam.scale(z)
        cols = int(b["cols"])  # type: ignore[call-overload]
        win = self.fog((110, 96, 96), z)
        lit = self.fog(P.WARM_LIGHT, z)
        rows = max(1, int((h - 1.5) / 2.6))
        cw = (r - left) / cols
        for row in range(rows):
            wy = t + (1.0 + row * 2.6) * s
            for col in range(cols):
                wx = left + cw * col + cw * 0.3
                lit_now = (col * 7 + row * 3 + int(x0)) % 5 == 0
                pygame.draw.rect(surf, lit if lit_now else win, (wx, wy, cw * 0.4, 1.3 * s))
        pygame.draw.rect(
            surf, self.fog(P.WOOD_DARK, z), (left + cw * 0.3, bot - 2.2 * s, cw * 0.4, 2.2 * s)
        )
        roof = self.fog(P.ROOF, z) if b["roof"] != "flat" else P.shade(c, 0.8)
        if b["roof"] == "gable":
            pygame.draw.polygon(
                surf, roof, [(left - 0.3 * s, t), (r + 0.3 * s, t), ((left + r) / 2, t - 2.2 * s)]
            )
        elif b["roof"] == "eave":
            pygame.draw.polygon(
                surf,
                roof,
                [
                    (left - 0.8 * s, t - 0.2 * s),
                    (r + 0.8 * s, t - 0.2 * s),
                    (r - 0.2 * s, t - 1.4 * s),
                    (left + 0.2 * s, t - 1.4 * s),
                ],
            )
            pygame.draw.line(
                surf,
                roof,
                (left - 0.8 * s, t - 0.2 * s),
                (left - 1.0 * s, t - 0.6 * s),
                max(1, int(0.2 * s)),
            )
            pygame.draw.line(
                surf,
                roof,
                (r + 0.8 * s, t - 0.2 * s),
                (r + 1.0 * s, t - 0.6 * s),
                max(1, int(0.2 * s)),
            )
        else:
            pygame.draw.rect(
                surf, P.shade(c, 0.75), (left - 0.2 * s, t - 0.4 * s, r - left + 0.4 * s, 0.4 * s)
            )

    def _side_block(self, surf: pygame.Surface, b: dict[str, object]) -> None:
        side, z0, z1, h = int(b["side"]), float(b["z0"]), float(b["z1"]), float(b["h"])  # type: ignore[call-overload, arg-type]
        colour: P.Colour = b["colour"]  # type: ignore[assignment]
        if not self.cam.visible(z1):
            return
        z0v = max(z0, self.cam.z + 1.0)
        xi = 19.5 * side
        xo = xi + 8 * side
        far_x = self.cam.project(xi, 0, z1)[0]
        if (side < 0 and far_x < 0) or (side > 0 and far_x > self.cam.width):
            return  # the inner face is off screen, so the whole block is
        self.box(surf, min(xi, xo), max(xi, xo), 0, h, z0v, z1, colour)
        c = P.shade(self.fog(colour, (z0v + z1) / 2), 0.78)
        win = P.shade(c, 0.62)
        n = max(1, int((z1 - z0v) / 2.4))
        for i in range(n):
            za = z0v + 0.6 + i * 2.4
            zb = za + 1.0
            if zb > z1 - 0.3:
                break
            for yb in (1.4, 4.2):
                if yb + 1.4 < h:
                    self.poly(
                        surf,
                        win,
                        [(xi, yb, za), (xi, yb, zb), (xi, yb + 1.4, zb), (xi, yb + 1.4, za)],
                    )

    def _paving(self, surf: pygame.Surface) -> None:
        cam = self.cam
        x0, x1 = PLAZA_X
        z_start = max(PLAZA_Z[0], cam.z + 1.0)
        z_end = PLAZA_Z[1] + 1.0
        # the plaza floor in alternating rows, the rows fogging towards the horizon
        step = 1.25
        k = int(math.floor((z_start - PLAZA_Z[0]) / step))
        z = PLAZA_Z[0] + k * step
        while z < z_end:
            za, zb = max(z, z_start), min(z + step, z_end)
            colour = (
                P.mix(P.PAVE_B, P.TERRACOTTA, 0.28)
                if k % 6 == 3
                else (P.PAVE_A if k % 2 == 0 else P.PAVE_B)
            )
            self.poly(
                surf, self.fog(colour, za), [(x0, 0, za), (x1, 0, za), (x1, 0, zb), (x0, 0, zb)]
            )
            ya = cam.project(0, 0, za)[1]
            pygame.draw.line(
                surf,
                self.fog(P.PAVE_LINE, za),
                (cam.project(x0, 0, za)[0], ya),
                (cam.project(x1, 0, za)[0], ya),
            )
            z += step
            k += 1
        # staggered joints converge on the vanishing point
        line_near = self.fog(P.PAVE_LINE, z_start)
        xs = x0
        while xs <= x1 + 0.01:
            a = cam.project(xs, 0, z_start)
            b = cam.project(xs, 0, z_end)
            pygame.draw.line(surf, line_near, a, b)
            xs += 1.25
        # a darker kerb around the plaza
        for xa, xb in ((x0 - 0.8, x0), (x1, x1 + 0.8)):
            self.poly(
                surf,
                self.fog(P.BORDER, z_start),
                [(xa, 0, z_start), (xb, 0, z_start), (xb, 0, z_end), (xa, 0, z_end)],
            )

    def _mosaic(self, surf: pygame.Surface) -> None:
        fx, fz = LANDMARKS["fountain"].x, LANDMARKS["fountain"].z
        if not self.cam.visible(fz - 6.6):
            return
        for r, colour in (
            (6.6, P.BORDER),
            (6.2, P.TERRACOTTA),
            (5.2, P.CREAM),
            (4.6, P.SLATE),
            (4.2, P.CREAM),
        ):
            pygame.draw.polygon(surf, self.fog(colour, fz), self.ring(fx, 0, fz, r, 40))
        # radial spokes
        spoke = self.fog(P.TERRACOTTA, fz)
        for i in range(16):
            a = i * math.tau / 16
            pygame.draw.line(
                surf,
                spoke,
                self.cam.project(fx + 4.3 * math.cos(a), 0, fz + 4.3 * math.sin(a)),
                self.cam.project(fx + 5.1 * math.cos(a), 0, fz + 5.1 * math.sin(a)),
                2,
            )

    # -- props -----------------------------------------------------------------------------

    def drawables(self) -> list[Drawable]:
        """Props with their depth (larger z is farther), to sort together with the people."""
        items: list[Drawable] = [
            (LANDMARKS["fountain"].z - 3.2, self._fountain, None),
            (27.0, self._tea_house, "tea_house"),
            (20.2, self._market_stall, "market_stall"),
            (8.8, self._notice_board, "notice_board"),
            (31.0, self._stage, "stage"),
        ]
        near = self.cam.z + MIN_PROP_DEPTH
        for i, (x, z, size) in enumerate(TREES):
            if z > near:
                items.append(
                    (z, lambda s, x=x, z=z, size=size: self._tree(s, x, z, size), f"tree{i}")
                )
        for i, (x, z) in enumerate(LAMPS):
            if z > near:
                items.append((z, lambda s, x=x, z=z: self._lamp(s, x, z), f"lamp{i}"))
        for i, (x, z) in enumerate(BENCHES):
            if z > near - 1.0:
                items.append((z - 0.4, lambda s, x=x, z=z: self._bench(s, x, z), f"bench{i}"))
        for i, (x, z) in enumerate(PLANTERS):
            if z > near - 1.5:
                items.append((z - 0.6, lambda s, x=x, z=z: self._planter(s, x, z), f"planter{i}"))
        for i, (a, b) in enumerate(LANTERN_STRINGS):
            if min(a[1], b[1]) > near + 1.0:
                items.append(
                    (
                        max(a[1], b[1]) + 0.01,
                        lambda s, a=a, b=b: self._lantern_string(s, a, b),
                        f"string{i}",
                    )
                )
        return [item for item in items if self.cam.visible(item[0] + 6.0)]

    def draw_shadows(self, surf: pygame.Surface) -> None:
        """Soft contact shadows of the props."""
        near = self.cam.z + MIN_PROP_DEPTH
        for x, z, size in TREES:
            if z > near:
                self.blit_shadow(surf, x + 0.4, z, 1.6 * size)
        for x, z in LAMPS:
            if z > near:
                self.blit_shadow(surf, x + 0.2, z, 0.4)

    def _fountain(self, surf: pygame.Surface) -> None:
        cam = self.cam
        fx, fz = LANDMARKS["fountain"].x, LANDMARKS["fountain"].z
        r, h = 3.2, 0.7
        stone = self.fog(P.STONE, fz)
        wall = [
            *self.ring(fx, h, fz, r, 24, math.pi, math.tau),
            *reversed(self.ring(fx, 0, fz, r, 24, math.pi, math.tau)),
        ]
        pygame.draw.polygon(surf, P.shade(stone, 0.82), wall)
        pygame.draw.polygon(surf, P.shade(stone, 1.1), self.ring(fx, h, fz, r, 40))
        pygame.draw.polygon(surf, self.fog(P.WATER, fz), self.ring(fx, h - 0.05, fz, r - 0.35, 40))
        # ripples
        t = self.time
        for i in range(3):
            rr = 0.8 + ((t * 0.5 + i / 3) % 1.0) * 1.9
            pygame.draw.lines(
                surf, self.fog(P.WATER_LIGHT, fz), True, self.ring(fx, h - 0.04, fz, rr, 28), 1
            )
        # pillar and upper bowl
        lx, ty = cam.project(fx - 0.35, 2.0, fz)
        rx, by = cam.project(fx + 0.35, h, fz)
        pygame.draw.rect(surf, P.shade(stone, 0.9), (lx, ty, rx - lx, by - ty))
        pygame.draw.rect(surf, P.shade(stone, 0.72), (lx, ty, (rx - lx) * 0.3, by - ty))
        bowl = [
            *self.ring(fx, 2.0, fz, 1.3, 18, math.pi, math.tau),
            *reversed(self.ring(fx, 1.75, fz, 0.9, 18, math.pi, math.tau)),
        ]
        pygame.draw.polygon(surf, P.shade(stone, 0.85), bowl)
        pygame.draw.polygon(surf, self.fog(P.WATER, fz), self.ring(fx, 2.0, fz, 1.2, 24))
        tip = cam.project(fx, 2.7, fz)
        pygame.draw.circle(surf, P.shade(stone, 1.05), tip, max(2, 0.18 * cam.scale(fz)))
        # jets: droplets along parabolas from the top into the basin
        drop = self.fog(P.WATER_LIGHT, fz)
        s = cam.scale(fz)
        for j in range(10):
            a = j * math.tau / 10 + 0.2
            for k in range(7):
                u = (t * 0.9 + k / 7 + j * 0.13) % 1.0
                dist = 0.2 + u * 2.2
                y = 2.7 + 1.0 * u - 2.3 * u * u
                px, py = cam.project(fx + dist * math.cos(a), max(y, h), fz + dist * math.sin(a))
                pygame.draw.circle(surf, drop, (px, py), max(1, 0.05 * s))
        self.blit_glow(surf, fx, 2.5, fz, 1.2, 60)

    def _tea_house(self, surf: pygame.Surface) -> None:
        cam = self.cam
        x0, x1, z0, z1 = -16.0, -7.5, 27.0, 33.0
        self.box(surf, x0 - 0.3, x1 + 0.3, 0, 0.45, z0 - 0.3, z1, P.STONE_DARK)
        self.box(surf, x0, x1, 0.45, 3.4, z0, z1, P.CREAM)
        s = cam.scale(z0)
        # pillars, door and lattice windows on the front
        for px in (x0 + 0.25, x0 + 3.0, x1 - 3.0, x1 - 0.25):
            self.poly(
                surf,
                self.fog(P.RED, z0),
                [
                    (px - 0.18, 0.45, z0 - 0.02),
                    (px + 0.18, 0.45, z0 - 0.02),
                    (px + 0.18, 3.4, z0 - 0.02),
                    (px - 0.18, 3.4, z0 - 0.02),
                ],
            )
        mid = (x0 + x1) / 2
        self.poly(
            surf,
            self.fog((90, 50, 36), z0),
            [
                (mid - 1.0, 0.45, z0 - 0.01),
                (mid + 1.0, 0.45, z0 - 0.01),
                (mid + 1.0, 2.7, z0 - 0.01),
                (mid - 1.0, 2.7, z0 - 0.01),
            ],
        )
        self.poly(
            surf,
            self.fog(P.WARM_LIGHT, z0),
            [
                (mid - 0.85, 0.45, z0 - 0.02),
                (mid + 0.85, 0.45, z0 - 0.02),
                (mid + 0.85, 2.5, z0 - 0.02),
                (mid - 0.85, 2.5, z0 - 0.02),
            ],
        )
        for wx in (x0 + 1.6, x1 - 1.6):
            a = cam.project(wx - 0.9, 2.6, z0)
            b = cam.project(wx + 0.9, 1.3, z0)
            rect = pygame.Rect(a[0], a[1], b[0] - a[0], b[1] - a[1])
            pygame.draw.rect(surf, self.fog(P.WARM_LIGHT, z0), rect)
            lattice = self.fog(P.RED_DARK, z0)
            for i in range(1, 4):
                pygame.draw.line(
                    surf,
                    lattice,
                    (rect.x + rect.w * i / 4, rect.y),
                    (rect.x + rect.w * i / 4, rect.bottom),
                    max(1, int(s * 0.05)),
                )
            for i in range(1, 3):
                pygame.draw.line(
                    surf,
                    lattice,
                    (rect.x, rect.y + rect.h * i / 3),
                    (rect.right, rect.y + rect.h * i / 3),
                    max(1, int(s * 0.05)),
                )
            pygame.draw.rect(surf, lattice, rect, max(1, int(s * 0.08)))
        # a sweeping tiled roof with upturned eaves
        roof = self.fog(P.ROOF, z0)
        eave_l = cam.project(x0 - 1.2, 3.3, z0 - 1.0)
        eave_r = cam.project(x1 + 1.2, 3.3, z0 - 1.0)
        ridge_l = cam.project(x0 + 1.4, 5.6, (z0 + z1) / 2)
        ridge_r = cam.project(x1 - 1.4, 5.6, (z0 + z1) / 2)
        tip_l = cam.project(x0 - 1.7, 3.9, z0 - 1.1)
        tip_r = cam.project(x1 + 1.7, 3.9, z0 - 1.1)
        pygame.draw.polygon(surf, roof, [tip_l, eave_l, eave_r, tip_r, ridge_r, ridge_l])
        pygame.draw.lines(
            surf, P.shade(roof, 1.25), False, [tip_l, eave_l, eave_r, tip_r], max(2, int(s * 0.16))
        )
        for i in range(1, 14):
            u = i / 14
            pa = (eave_l[0] + (eave_r[0] - eave_l[0]) * u, eave_l[1])
            pb = (ridge_l[0] + (ridge_r[0] - ridge_l[0]) * u, ridge_l[1])
            pygame.draw.line(surf, P.shade(roof, 0.8), pa, pb, 1)
        pygame.draw.line(surf, P.shade(roof, 0.7), ridge_l, ridge_r, max(2, int(s * 0.22)))
        for end in (ridge_l, ridge_r):
            pygame.draw.circle(surf, self.fog(P.RED, z0), end, max(2, s * 0.2))
        # signboard
        sx, sy = cam.project(mid, 3.05, z0 - 0.05)
        board_w, board_h = 2.4 * s, 0.62 * s
        board = pygame.Rect(0, 0, board_w, board_h)
        board.center = (int(sx), int(sy))
        pygame.draw.rect(surf, self.fog((40, 30, 30), z0), board.inflate(4, 4), border_radius=3)
        pygame.draw.rect(surf, self.fog(P.RED_DARK, z0), board, border_radius=3)
        size = max(8, int(board_h * 0.62))
        label = self.fonts.render("茶 馆", size, self.fog(P.UI_ACCENT, z0), bold=True)
        surf.blit(label, label.get_rect(center=board.center))
        # red lanterns under the eaves
        for lx in (x0 - 0.4, x0 + 2.0, x1 - 2.0, x1 + 0.4):
            self._lantern(surf, lx, 2.8, z0 - 0.8, 0.32)

    def _lantern(self, surf: pygame.Surface, x: float, y: float, z: float, r: float) -> None:
        cam = self.cam
        if cam.depth(z) < MIN_PROP_DEPTH:
            return
        s = cam.scale(z)
        cx, cy = cam.project(x, y, z)
        pygame.draw.line(surf, P.INK, (cx, cy - r * s * 1.6), (cx, cy - r * s), 1)
        rect = pygame.Rect(0, 0, r * s * 2, r * s * 2.3)
        rect.center = (int(cx), int(cy))
        pygame.draw.ellipse(surf, P.RED, rect)
        pygame.draw.ellipse(surf, (236, 90, 70), rect.inflate(-rect.w * 0.5, -rect.h * 0.2))
        pygame.draw.rect(
            surf,
            P.UI_ACCENT,
            (rect.centerx - rect.w * 0.22, rect.top - 1, rect.w * 0.44, max(1, rect.h * 0.1)),
        )
        pygame.draw.rect(
            surf,
            P.UI_ACCENT,
            (rect.centerx - rect.w * 0.22, rect.bottom - 1, rect.w * 0.44, max(1, rect.h * 0.1)),
        )
        self.blit_glow(surf, x, y, z, r * 3.0, 110)

    def _market_stall(self, surf: pygame.Surface) -> None:
        cam = self.cam
        x0, x1, z0, z1 = 8.6, 13.4, 20.2, 21.9
        for px, pz in ((x0 + 0.1, z1 - 0.1), (x1 - 0.1, z1 - 0.1)):
            self.box(surf, px - 0.08, px + 0.08, 0, 2.8, pz - 0.08, pz + 0.08, P.WOOD_DARK)
        self.box(surf, x0, x1, 0, 1.0, z0, z1, P.WOOD)
        s = cam.scale(z0)
        for i in range(5):
            px = x0 + 0.2 + i * (x1 - x0 - 0.4) / 4
            self.poly(
                surf,
                self.fog(P.WOOD_DARK, z0),
                [
                    (px - 0.03, 0.05, z0 - 0.01),
                    (px + 0.03, 0.05, z0 - 0.01),
                    (px + 0.03, 0.95, z0 - 0.01),
                    (px - 0.03, 0.95, z0 - 0.01),
                ],
            )
        # produce on the counter
        goods = [(232, 84, 60), (250, 170, 60), (130, 180, 70), (240, 210, 80), (200, 60, 90)]
        for i in range(14):
            gx = x0 + 0.35 + i * (x1 - x0 - 0.7) / 13
            gz = z0 + 0.45 + (i % 2) * 0.5
            c = self.fog(goods[i % len(goods)], gz)
            for k in range(3):
                px, py = cam.project(gx + (k - 1) * 0.09, 1.08 + (k % 2) * 0.08, gz)
                pygame.draw.circle(surf, c, (px, py), max(1.5, 0.11 * cam.scale(gz)))
        for px, pz in ((x0 + 0.1, z0 - 0.2), (x1 - 0.1, z0 - 0.2)):
            self.box(surf, px - 0.08, px + 0.08, 0, 2.5, pz - 0.08, pz + 0.08, P.WOOD_DARK)
        # striped awning
        stripes = 8
        for i in range(stripes):
            xa = x0 - 0.4 + i * (x1 - x0 + 0.8) / stripes
            xb = xa + (x1 - x0 + 0.8) / stripes
            colour = self.fog((214, 64, 58) if i % 2 == 0 else (246, 236, 216), z0)
            self.poly(
                surf,
                colour,
                [
                    (xa, 2.5, z0 - 0.6),
                    (xb, 2.5, z0 - 0.6),
                    (xb, 2.95, z1 + 0.2),
                    (xa, 2.95, z1 + 0.2),
                ],
            )
            cx, cy = cam.project((xa + xb) / 2, 2.5, z0 - 0.6)
            pygame.draw.circle(
                surf,
                colour,
                (cx, cy),
                (xb - xa) * s / 2,
                draw_bottom_left=True,
                draw_bottom_right=True,
            )
        # price board
        bx, by = cam.project(x1 - 0.6, 1.5, z0 - 0.3)
        board = pygame.Rect(0, 0, 1.0 * s, 0.7 * s)
        board.center = (int(bx), int(by))
        pygame.draw.rect(surf, self.fog((50, 60, 54), z0), board, border_radius=2)
        pygame.draw.rect(surf, self.fog(P.WOOD, z0), board, max(1, int(0.06 * s)), border_radius=2)
        for i in range(3):
            y = board.y + board.h * (0.28 + i * 0.22)
            pygame.draw.line(
                surf,
                (230, 230, 220),
                (board.x + board.w * 0.18, y),
                (board.x + board.w * (0.5 + 0.1 * i), y),
                max(1, int(0.04 * s)),
            )

    def _notice_board(self, surf: pygame.Surface) -> None:
        cam = self.cam
        x0, x1, z = -8.8, -6.2, 8.9
        for px in (x0 + 0.15, x1 - 0.15):
            self.box(surf, px - 0.09, px + 0.09, 0, 2.5, z + 0.05, z + 0.2, P.WOOD_DARK)
        self.box(surf, x0, x1, 0.9, 2.2, z, z + 0.15, P.WOOD)
        self.poly(
            surf,
            self.fog((176, 136, 96), z),
            [
                (x0 + 0.12, 1.0, z - 0.01),
                (x1 - 0.12, 1.0, z - 0.01),
                (x1 - 0.12, 2.1, z - 0.01),
                (x0 + 0.12, 2.1, z - 0.01),
            ],
        )
        papers = [
            (250, 246, 232),
            (255, 226, 160),
            (210, 232, 250),
            (250, 210, 210),
            (226, 244, 214),
        ]
        rng = random.Random(3)
        for i in range(6):
            px = x0 + 0.3 + (i % 3) * 0.75 + rng.uniform(-0.05, 0.05)
            py = 1.15 + (i // 3) * 0.48 + rng.uniform(-0.04, 0.04)
            self.poly(
                surf,
                self.fog(papers[i % 5], z),
                [
                    (px, py, z - 0.02),
                    (px + 0.55, py, z - 0.02),
                    (px + 0.55, py + 0.4, z - 0.02),
                    (px, py + 0.4, z - 0.02),
                ],
            )
            a = cam.project(px + 0.08, py + 0.3, z)
            b = cam.project(px + 0.45, py + 0.3, z)
            pygame.draw.line(surf, self.fog((120, 110, 100), z), a, b, 1)
            pin = cam.project(px + 0.27, py + 0.36, z - 0.03)
            pygame.draw.circle(surf, P.RED, pin, max(1, 0.03 * cam.scale(z)))
        roof = self.fog(P.ROOF, z)
        self.poly(
            surf,
            roof,
            [
                (x0 - 0.25, 2.25, z - 0.25),
                (x1 + 0.25, 2.25, z - 0.25),
                (x1 + 0.1, 2.6, z + 0.1),
                (x0 - 0.1, 2.6, z + 0.1),
            ],
        )

    def _stage(self, surf: pygame.Surface) -> None:
        cam = self.cam
        x0, x1, z0, z1 = 4.0, 14.0, 31.0, 36.0
        self.box(surf, x0, x1, 0.9, 5.2, z1 - 0.4, z1, P.RED_DARK)
        # curtain folds on the back wall
        for i in range(16):
            xa = x0 + 0.3 + i * (x1 - x0 - 0.6) / 16
            colour = self.fog(P.RED if i % 2 else (160, 40, 40), z1)
            self.poly(
                surf,
                colour,
                [
                    (xa, 0.9, z1 - 0.41),
                    (xa + 0.3, 0.9, z1 - 0.41),
                    (xa + 0.3, 4.7, z1 - 0.41),
                    (xa, 4.7, z1 - 0.41),
                ],
            )
        for px in (x0 + 0.2, x1 - 0.2):
            self.box(surf, px - 0.18, px + 0.18, 0.9, 5.6, z1 - 0.8, z1 - 0.45, P.RED)
        self.box(surf, x0 - 0.2, x1 + 0.2, 5.2, 5.8, z1 - 0.9, z1, P.ROOF)
        self.box(surf, x0, x1, 0, 0.9, z0, z1, P.WOOD)
        # planks on the platform front
        s = cam.scale(z0)
        for i in range(1, 3):
            y = 0.9 * i / 3
            a = cam.project(x0, y, z0)
            b = cam.project(x1, y, z0)
            pygame.draw.line(surf, self.fog(P.WOOD_DARK, z0), a, b, max(1, int(0.04 * s)))
        self.box(surf, 7.6, 9.4, 0, 0.45, z0 - 0.6, z0, P.WOOD_DARK)
        # bunting across the front
        flags = [(230, 80, 70), (250, 200, 80), (80, 160, 210), (120, 190, 110)]
        n = 14
        prev = None
        for i in range(n + 1):
            u = i / n
            x = x0 + 0.2 + (x1 - x0 - 0.4) * u
            y = 5.05 - 0.7 * math.sin(math.pi * u)
            p = cam.project(x, y, z1 - 0.95)
            if prev is not None:
                pygame.draw.line(surf, P.INK, prev, p, 1)
                mx = ((prev[0] + p[0]) / 2, (prev[1] + p[1]) / 2)
                tri = [prev, p, (mx[0], mx[1] + 0.45 * cam.scale(z1))]
                pygame.draw.polygon(surf, self.fog(flags[i % 4], z1), tri)
            prev = p
        label_pos = cam.project((x0 + x1) / 2, 5.5, z1 - 0.95)
        label = self.fonts.render(
            "戏台 · STAGE", max(8, int(0.42 * cam.scale(z1))), self.fog(P.UI_ACCENT, z1), bold=True
        )
        surf.blit(label, label.get_rect(center=label_pos))

    def _tree(self, surf: pygame.Surface, x: float, z: float, size: float) -> None:
        cam = self.cam
        s = cam.scale(z)
        tx, ty = cam.project(x, 0, z)
        top = cam.project(x, 2.6 * size, z)
        pygame.draw.line(
            surf, self.fog(P.WOOD_DARK, z), (tx, ty), top, max(2, int(0.32 * size * s))
        )
        rng = random.Random(int(x * 100 + z))
        for layer, colour in enumerate(P.LEAF):
            c = self.fog(colour, z)
            for _ in range(4):
                ox = rng.uniform(-1.3, 1.3) * size * (1 - layer * 0.18)
                oy = (2.9 + layer * 0.45 + rng.uniform(-0.4, 0.5)) * size
                r = rng.uniform(0.7, 1.1) * size * (1 - layer * 0.12)
                px, py = cam.project(x + ox, oy, z)
                pygame.draw.circle(surf, c, (px - 0.15 * r * s * (layer - 1), py), r * s)

    def _lamp(self, surf: pygame.Surface, x: float, z: float) -> None:
        cam = self.cam
        s = cam.scale(z)
        base = cam.project(x, 0, z)
        top = cam.project(x, 3.6, z)
        dark = self.fog((40, 44, 50), z)
        pygame.draw.line(surf, dark, base, top, max(2, int(0.12 * s)))
        pygame.draw.rect(surf, dark, (base[0] - 0.15 * s, base[1] - 0.3 * s, 0.3 * s, 0.3 * s))
        head = pygame.Rect(0, 0, 0.42 * s, 0.55 * s)
        head.midbottom = (int(top[0]), int(top[1]))
        pygame.draw.rect(surf, self.fog(P.WARM_LIGHT, z), head)
        pygame.draw.rect(surf, dark, head, max(1, int(0.05 * s)))
        pygame.draw.polygon(
            surf,
            dark,
            [
                (head.left - 0.08 * s, head.top),
                (head.right + 0.08 * s, head.top),
                (head.centerx, head.top - 0.25 * s),
            ],
        )
        self.blit_glow(surf, x, 3.85, z, 1.4, 150)

    def _bench(self, surf: pygame.Surface, x: float, z: float) -> None:
        for lx in (x - 0.7, x + 0.7):
            self.box(surf, lx - 0.06, lx + 0.06, 0, 0.45, z - 0.25, z + 0.25, P.INK)
        self.box(surf, x - 0.9, x + 0.9, 0.45, 0.55, z - 0.3, z + 0.3, P.WOOD)
        self.box(surf, x - 0.9, x + 0.9, 0.6, 1.0, z + 0.25, z + 0.33, P.WOOD)

    def _planter(self, surf: pygame.Surface, x: float, z: float) -> None:
        """A stone flower bed: a low box, a hedge and flowers."""
        cam = self.cam
        if cam.depth(z - 0.6) < 1.5:
            return
        self.box(
            surf, x - 1.2, x + 1.2, 0, 0.5, z - 0.5, z + 0.5, P.STONE, top=P.shade(P.STONE, 1.05)
        )
        self.poly(
            surf,
            self.fog((92, 70, 52), z),
            [
                (x - 1.05, 0.5, z - 0.38),
                (x + 1.05, 0.5, z - 0.38),
                (x + 1.05, 0.5, z + 0.38),
                (x - 1.05, 0.5, z + 0.38),
            ],
        )
        rng = random.Random(int(x * 31 + z * 7))
        s = cam.scale(z)
        for layer, colour in enumerate(P.LEAF[:3]):
            c = self.fog(colour, z)
            for _ in range(6):
                px, py = cam.project(
                    x + rng.uniform(-0.95, 0.95),
                    0.62 + layer * 0.1 + rng.uniform(0, 0.12),
                    z + rng.uniform(-0.2, 0.25),
                )
                pygame.draw.circle(surf, c, (px, py), max(1.5, rng.uniform(0.16, 0.26) * s))
        flowers = [
            (250, 120, 140),
            (255, 210, 90),
            (250, 250, 245),
            (190, 120, 230),
            (255, 150, 80),
        ]
        for i in range(16):
            px, py = cam.project(
                x + rng.uniform(-1.0, 1.0), 0.8 + rng.uniform(0, 0.18), z + rng.uniform(-0.35, 0.2)
            )
            pygame.draw.circle(
                surf, self.fog(flowers[i % len(flowers)], z), (px, py), max(1.2, 0.06 * s)
            )

    def _lantern_string(
        self, surf: pygame.Surface, a: tuple[float, float], b: tuple[float, float]
    ) -> None:
        cam = self.cam
        pts = []
        n = 12
        for i in range(n + 1):
            u = i / n
            x = a[0] + (b[0] - a[0]) * u
            z = a[1] + (b[1] - a[1]) * u
            y = 3.9 - 0.9 * math.sin(math.pi * u)
            pts.append((x, y, z))
        pygame.draw.lines(surf, P.INK, False, [cam.project(*p) for p in pts], 1)
        for i, (x, y, z) in enumerate(pts[1:-1], start=1):
            if i % 2 == 0:
                self._lantern(surf, x, y - 0.25, z, 0.16)
            else:
                c = (255, 220, 120) if i % 4 == 1 else (255, 150, 110)
                px, py = cam.project(x, y - 0.05, z)
                pygame.draw.circle(surf, c, (px, py), max(1.5, 0.07 * cam.scale(z)))
