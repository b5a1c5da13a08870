"""A procedural portrait drawn from a persona's ``look`` colours, written as PNG with zlib."""

from __future__ import annotations

import struct
import zlib

from engine.cards._containers import _PNG_SIGNATURE, _chunk
from engine.persona import Persona


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def portrait_png(persona: Persona, *, width: int = 256, height: int = 320) -> bytes:
    """A procedural portrait of the persona (its ``look`` colours) as PNG bytes, made with zlib.

    A soft background, shoulders in the outfit colour with an accent trim, a head, hair in the
    persona's hair style and two eyes. Deterministic: the same persona gives the same bytes.
    """
    look = persona.look
    skin, hair, outfit, accent = (_rgb(c) for c in (look.skin, look.hair, look.outfit, look.accent))
    top = tuple(min(255, c // 3 + 150) for c in accent)
    bottom = tuple(min(255, c // 4 + 60) for c in outfit)
    cx, cy = width / 2, height * 0.40
    rx, ry = width * 0.20, height * 0.19
    eye_y, eye_dx, eye_r = cy + ry * 0.05, rx * 0.42, max(2.0, width * 0.018)
    body_top = cy + ry * 0.85
    long_hair = look.hair_style in ("long", "ponytail")
    rows = bytearray()
    for y in range(height):
        t = y / max(1, height - 1)
        background = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        rows.append(0)  # filter type: none
        dy = (y - cy) / ry
        for x in range(width):
            dx = (x - cx) / rx
            colour = background
            in_head = dx * dx + dy * dy <= 1.0
            hair_dx, hair_dy = (x - cx) / (rx * 1.12), (y - (cy - ry * 0.08)) / (ry * 1.1)
            in_hair = hair_dx * hair_dx + hair_dy * hair_dy <= 1.0 and look.hair_style != "bald"
            if long_hair and abs(x - cx) <= rx * 1.15 and cy <= y <= body_top + height * 0.12:
                colour = hair
            if y >= body_top:
                half = rx * 1.6 + (y - body_top) * 0.9
                if abs(x - cx) <= half:
                    colour = accent if y - body_top < height * 0.025 else outfit
            if in_hair and (y < cy - ry * 0.35 or not in_head):
                colour = hair
            elif in_head:
                colour = skin
                ex = min(abs(x - (cx - eye_dx)), abs(x - (cx + eye_dx)))
                if ex * ex + (y - eye_y) ** 2 <= eye_r * eye_r:
                    colour = (40, 30, 30)
            if look.hair_style == "bun":
                bx, by = (x - cx) / (rx * 0.45), (y - (cy - ry * 1.1)) / (ry * 0.35)
                if bx * bx + by * by <= 1.0:
                    colour = hair
            rows += bytes(colour)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + _chunk(b"IEND", b"")
