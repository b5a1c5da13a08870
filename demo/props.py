"""The plaza's props, each drawn from projected 3D shapes: fountain, tea house, market stall,
notice board, stage, trees, lamps, benches, planters and strings of lanterns."""

from __future__ import annotations

import math
import random

import pygame

from demo import palette as P
from demo.painter import MIN_PROP_DEPTH, Painter
from demo.world import LANDMARKS

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


class Props(Painter):
    """Draw functions for every prop; :class:`demo.scene.Environment` orders and caches them."""

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
            pygame.draw.circle(surf, self.fog(P.RED, z0), end, max(2, s * 0.12))
        # signboard
        sx, sy = cam.project(mid, 3.05, z0 - 0.05)
        board_w, board_h = 2.4 * s, 0.62 * s
        board = pygame.Rect(0, 0, board_w, board_h)
        board.center = (int(sx), int(sy))
        pygame.draw.rect(surf, self.fog((40, 30, 30), z0), board.inflate(4, 4), border_radius=3)
        pygame.draw.rect(surf, self.fog(P.RED_DARK, z0), board, border_radius=3)
        size = self.fonts.sign_size(board_h * 0.62)
        label = self.fonts.render("茶 馆", size, P.UI_ACCENT, bold=True)
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
        size = self.fonts.sign_size(0.42 * cam.scale(z1))
        label = self.fonts.render("戏台 · STAGE", size, P.UI_ACCENT, bold=True)
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
