"""The plaza's environment: sky, paving, buildings and props, drawn in perspective each frame.

Everything is built from projected 3D points (boxes, rings, prisms) so the plaza shifts with the
camera like a real space. What never changes with the camera (sky, ground tones, glows, soft
shadows) is rendered once. While the camera rests, the background is painted once and reused,
and static props are snapshotted into sprites (a couple per frame, so settling never spikes).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial

import pygame

from demo import palette as P
from demo.camera import Camera
from demo.fonts import Fonts
from demo.painter import MIN_PROP_DEPTH, radial
from demo.props import BENCHES, LAMPS, LANTERN_STRINGS, TREES, Props
from demo.world import LANDMARKS, PLANTERS, PLAZA_X, PLAZA_Z

Drawable = tuple[float, Callable[[pygame.Surface], None], str | None]
BUILDS_PER_FRAME = 2  # prop snapshots made per frame once the camera rests


class Environment(Props):
    """Draws the sky, ground and props for a camera. ``drawables()`` returns depth-sorted props."""

    def __init__(self, camera: Camera, fonts: Fonts) -> None:
        super().__init__(camera, fonts)
        self._bg: pygame.Surface | None = None
        self._bg_key: tuple[float, float] | None = None
        self._snapshots: dict[
            str,
            tuple[tuple[float, float], pygame.Surface, tuple[int, int], list[tuple[float, ...]]],
        ] = {}
        self._scratch: pygame.Surface | None = None
        self._builds = 0
        w, h = camera.width, camera.height
        self.sky = self._make_sky(int(w * 1.6), int(camera.horizon) + 4)
        self.ground = self._make_ground(w, h - int(camera.horizon))
        self.vignette = self._make_vignette(w, h)
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
        sun = radial(420, (120, 90, 50), power=1.8)
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
        hills: list[tuple[float, float]] = [(0.0, float(h))]
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
                items.append((z, partial(self._tree, x=x, z=z, size=size), f"tree{i}"))
        for i, (x, z) in enumerate(LAMPS):
            if z > near:
                items.append((z, partial(self._lamp, x=x, z=z), f"lamp{i}"))
        for i, (x, z) in enumerate(BENCHES):
            if z > near - 1.0:
                items.append((z - 0.4, partial(self._bench, x=x, z=z), f"bench{i}"))
        for i, (x, z) in enumerate(PLANTERS):
            if z > near - 1.5:
                items.append((z - 0.6, partial(self._planter, x=x, z=z), f"planter{i}"))
        for i, (a, b) in enumerate(LANTERN_STRINGS):
            if min(a[1], b[1]) > near + 1.0:
                items.append(
                    (
                        max(a[1], b[1]) + 0.01,
                        partial(self._lantern_string, a=a, b=b),
                        f"string{i}",
                    )
                )
        return [item for item in items if self.cam.visible(item[0] + 6.0)]

    def draw_shadows(self, surf: pygame.Surface) -> None:
        """Soft contact shadows of the props."""
        near = self.cam.z + MIN_PROP_DEPTH
        for x, z, size in TREES:
            if z > near:
                self.blit_shadow(surf, x + 0.3, z, 1.1 * size)
        for x, z in LAMPS:
            if z > near:
                self.blit_shadow(surf, x + 0.2, z, 0.4)
