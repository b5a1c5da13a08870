"""Colours of the plaza at golden hour, and small colour helpers."""

from __future__ import annotations

Colour = tuple[int, int, int]

SKY_TOP: Colour = (58, 92, 150)
SKY_MID: Colour = (132, 160, 200)
SKY_LOW: Colour = (246, 200, 156)
HAZE: Colour = (226, 196, 168)
GRASS_NEAR: Colour = (96, 128, 70)
GRASS_FAR: Colour = (150, 160, 110)
PAVE_A: Colour = (214, 194, 166)
PAVE_B: Colour = (199, 178, 150)
PAVE_LINE: Colour = (172, 152, 128)
BORDER: Colour = (146, 124, 108)
TERRACOTTA: Colour = (186, 112, 84)
CREAM: Colour = (236, 220, 192)
SLATE: Colour = (112, 128, 146)
STONE: Colour = (178, 170, 160)
STONE_DARK: Colour = (132, 124, 118)
WATER: Colour = (96, 170, 200)
WATER_LIGHT: Colour = (190, 232, 246)
WOOD: Colour = (132, 88, 58)
WOOD_DARK: Colour = (88, 58, 40)
RED: Colour = (190, 52, 44)
RED_DARK: Colour = (130, 32, 30)
ROOF: Colour = (62, 70, 84)
WARM_LIGHT: Colour = (255, 214, 140)
LEAF: tuple[Colour, ...] = ((70, 112, 60), (88, 132, 66), (112, 150, 76), (136, 168, 88))
INK: Colour = (36, 32, 40)
PAPER: Colour = (250, 246, 238)
UI_DARK: Colour = (24, 26, 36)
UI_TEXT: Colour = (240, 238, 232)
UI_MUTED: Colour = (170, 172, 186)
UI_ACCENT: Colour = (255, 196, 92)


def hex_rgb(value: str) -> Colour:
    """'#a1b2c3' -> (161, 178, 195)."""
    v = value.lstrip("#")
    return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)


def mix(a: Colour, b: Colour, t: float) -> Colour:
    """Linear blend from ``a`` (t=0) to ``b`` (t=1)."""
    t = 0.0 if t < 0 else 1.0 if t > 1 else t
    return (
        int(a[0] + (b[0] - a[0]) * t),
        int(a[1] + (b[1] - a[1]) * t),
        int(a[2] + (b[2] - a[2]) * t),
    )


def shade(c: Colour, k: float) -> Colour:
    """Darker (k < 1) or lighter (k > 1) version of ``c``."""
    if k <= 1:
        return (int(c[0] * k), int(c[1] * k), int(c[2] * k))
    return mix(c, (255, 255, 255), k - 1)
