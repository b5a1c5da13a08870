"""Fonts and a cache of rendered text.

Chinese needs a CJK font: the ``pylopdf-fonts-zh-cn`` package (Noto Sans SC, OFL) first, then
system fonts that cover CJK, then pygame's default font (Latin only). Noto Sans SC also carries
Latin glyphs, so one family serves both interface languages.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import pygame

log = logging.getLogger(__name__)

SYSTEM_CJK_FONTS = (
    "notosanscjksc",
    "notosanscjkscregular",
    "notosanscjk",
    "sourcehansanssc",
    "wenquanyimicrohei",
    "wenquanyizenhei",
    "microsoftyahei",
    "pingfangsc",
    "simhei",
    "unifont",
)


def cjk_font_path() -> Path | None:
    """The bundled Noto Sans SC file, or None when the font package is not installed."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    return path if path.exists() else None


SIGN_SIZES = (8, 10, 12, 14, 17, 20, 24, 28, 34, 40, 48)


class Fonts:
    """Fonts by pixel size, and rendered text surfaces cached by content."""

    def __init__(self, *, cache_size: int = 600) -> None:
        self._path = cjk_font_path()
        self._system: str | None = None
        if self._path is None:
            self._system = pygame.font.match_font(",".join(SYSTEM_CJK_FONTS))
            if self._system is None:
                log.warning("no CJK font found: Chinese text will not render")
        self._fonts: dict[tuple[int, bool], pygame.font.Font] = {}
        self._cache: OrderedDict[tuple[object, ...], pygame.Surface] = OrderedDict()
        self._cache_size = cache_size

    @property
    def source(self) -> str:
        """Where the font came from, for the debug panel."""
        if self._path is not None:
            return self._path.name
        return self._system or "pygame default"

    def preload(
        self, sizes: tuple[int, ...] = (11, 12, 13, 14, 15, 16, 17, 18, 20, 22, 26)
    ) -> None:
        """Open every size the interface uses up front, so no frame pays for it later."""
        for size in sizes:
            self.font(size)
            self.font(size, bold=True)
        for size in SIGN_SIZES:
            self.font(size, bold=True)

    def sign_size(self, pixels: float) -> int:
        """The nearest of a few sizes for text painted in the world (signs), so a moving camera
        reuses a handful of fonts and rendered labels instead of opening a font per pixel size."""
        return min(SIGN_SIZES, key=lambda size: abs(size - pixels))

    def font(self, size: int, *, bold: bool = False) -> pygame.font.Font:
        """The font at ``size`` pixels."""
        key = (size, bold)
        font = self._fonts.get(key)
        if font is None:
            font = pygame.font.Font(self._path or self._system, size)
            font.bold = bold
            self._fonts[key] = font
        return font

    def render(
        self,
        text: str,
        size: int,
        colour: tuple[int, int, int] | str = (255, 255, 255),
        *,
        wrap: int = 0,
        bold: bool = False,
        align: str = "left",
    ) -> pygame.Surface:
        """Antialiased text, wrapped at ``wrap`` pixels when given; cached."""
        key = (text, size, colour, wrap, bold, align)
        surf = self._cache.get(key)
        if surf is not None:
            self._cache.move_to_end(key)
            return surf
        font = self.font(size, bold=bold)
        font.align = {
            "left": pygame.FONT_LEFT,
            "center": pygame.FONT_CENTER,
            "right": pygame.FONT_RIGHT,
        }[align]
        surf = (
            font.render(text, True, colour, wraplength=wrap)
            if wrap
            else font.render(text, True, colour)
        )
        self._cache[key] = surf
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return surf

    def size(self, text: str, size: int, *, bold: bool = False) -> tuple[int, int]:
        """The unwrapped size of ``text``."""
        return self.font(size, bold=bold).size(text)
