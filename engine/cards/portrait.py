"""A procedural portrait drawn from a persona's ``look`` colours, written as PNG with zlib."""

from __future__ import annotations

import struct
import zlib

from engine.cards.containers import PNG_SIGNATURE, png_chunk
from engine.errors import CardError
from engine.persona.model import Persona


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def portrait_png(persona: Persona, *, width: int = 256, height: int = 320) -> bytes:
    """A procedural portrait of the persona (its ``look`` colours) as PNG bytes, made with zlib.

    A soft background, shoulders in the outfit colour with an accent trim, neck, head, hair in
    the persona's hair style, eyes, a smile and the accessory (hat, glasses, scarf, apron,
    headset). Deterministic: the same persona gives the same bytes.
    """
    if not (8 <= width <= 2048 and 8 <= height <= 2048):
        raise CardError(f"portrait size {width}x{height} is outside 8..2048")
    look = persona.look
    skin, hair, outfit, accent = (_rgb(c) for c in (look.skin, look.hair, look.outfit, look.accent))
    ink = (40, 30, 30)
    top = tuple(min(255, c // 3 + 150) for c in accent)
    bottom = tuple(min(255, c // 4 + 60) for c in outfit)
    cx, cy = width / 2, height * 0.38
    rx, ry = width * 0.19, height * 0.17
    eye_y, eye_dx, eye_r = cy + ry * 0.05, rx * 0.42, max(1.5, width * 0.017)
    mouth_y = cy + ry * 0.42
    neck_top, body_top = cy + ry * 0.7, cy + ry * 1.3
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
            if neck_top <= y < body_top and abs(x - cx) <= rx * 0.32:
                colour = accent if look.accessory == "scarf" and y > body_top - ry * 0.3 else skin
            if y >= body_top:
                half = rx * 1.5 + (y - body_top) * 0.9
                if abs(x - cx) <= half:
                    colour = accent if y - body_top < height * 0.02 else outfit
                    if (
                        look.accessory == "apron"
                        and abs(x - cx) <= rx * 0.8
                        and y - body_top > height * 0.06
                    ):
                        colour = accent
            if in_hair and (y < cy - ry * 0.35 or not in_head):
                colour = hair
            elif in_head:
                colour = skin
                ex = min(abs(x - (cx - eye_dx)), abs(x - (cx + eye_dx)))
                eye = ex * ex + (y - eye_y) ** 2
                if eye <= eye_r * eye_r:
                    colour = ink
                elif (
                    look.accessory == "glasses" and (eye_r * 2.2) ** 2 <= eye <= (eye_r * 2.8) ** 2
                ):
                    colour = ink
                mx, my = (x - cx) / (rx * 0.32), (y - mouth_y) / (ry * 0.16)
                if y >= mouth_y and 0.55 <= mx * mx + my * my <= 1.0:
                    colour = ink
            if look.hair_style == "bun":
                bx, by = (x - cx) / (rx * 0.45), (y - (cy - ry * 1.1)) / (ry * 0.35)
                if bx * bx + by * by <= 1.0:
                    colour = hair
            if look.accessory == "hat" and cy - ry * 1.3 <= y <= cy - ry * 0.6:
                brim = y >= cy - ry * 0.75
                if abs(x - cx) <= rx * (1.45 if brim else 0.95):
                    colour = accent if cy - ry * 0.9 <= y < cy - ry * 0.75 else outfit
            if look.accessory == "headset":
                hx, hy = (x - cx) / (rx * 1.2), (y - cy) / (ry * 1.2)
                ring = hx * hx + hy * hy
                if (0.9 <= ring <= 1.0 and y < cy) or (
                    abs(abs(x - cx) - rx * 1.1) <= rx * 0.12 and abs(y - cy) <= ry * 0.2
                ):
                    colour = ink
            rows += bytes(colour)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + png_chunk(b"IEND", b"")
    )
