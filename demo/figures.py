"""People drawn procedurally from ``persona.look``: body, hair, outfit, face and pose.

One function, :func:`draw_person`, draws a person standing at a screen point at a given scale
(pixels per metre). The face shows the emotion (the nine names from the engine's contract);
arms and head take a pose from the emotion or from a running gesture (wave, bow, nod, give,
or a generic flourish for other actions). Nothing is cached: people move every frame.
"""

from __future__ import annotations

import math

import pygame

from demo import palette as P
from demo.world import Actor

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "afraid", "thinking", "shy", "excited")
BODY_METRES = 1.7

# (upper arm, forearm) angles in degrees from hanging straight down, positive away from the body
ARM_POSES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "neutral": ((10, 6), (10, 6)),
    "happy": ((18, 14), (18, 14)),
    "excited": ((140, 165), (140, 165)),
    "sad": ((3, -2), (3, -2)),
    "angry": ((48, -50), (48, -50)),
    "surprised": ((45, 140), (45, 140)),
    "afraid": ((22, -115), (22, -115)),
    "thinking": ((10, 6), (28, -150)),
    "shy": ((14, -55), (14, -55)),
}


def person_height(actor: Actor, scale: float) -> float:
    """Height in pixels of ``actor`` at ``scale`` pixels per metre."""
    return BODY_METRES * actor.look.height * scale


def _gesture_pose(
    actor: Actor,
) -> tuple[tuple[float, float] | None, tuple[float, float] | None, float, float]:
    """Arm overrides (left, right), bow amount and nod offset for the running gesture."""
    g = actor.gesture
    if g is None:
        return None, None, 0.0, 0.0
    p = g.progress
    env = math.sin(math.pi * p)
    if g.name == "wave":
        swing = 28 * math.sin(g.t * 11)
        return None, (150 * min(1, env * 3), 160 + swing), 0.0, 0.0
    if g.name == "bow":
        return (6, -12), (6, -12), env, 0.0
    if g.name == "nod":
        return None, None, 0.0, 0.025 * max(0.0, math.sin(g.t * 9)) * env
    if g.name == "give":
        return None, (70 * min(1, env * 3), 85 * min(1, env * 3)), 0.15 * env, 0.0
    lift = 110 * env
    return (lift, lift + 25), (lift, lift + 25), 0.0, 0.0


def draw_person(
    surf: pygame.Surface, actor: Actor, sx: float, sy: float, scale: float
) -> pygame.Rect:
    """Draw ``actor`` with feet at (sx, sy); returns the rectangle of the head (for tags and bubbles)."""
    look = actor.look
    u = person_height(actor, scale)
    skin, hair = P.hex_rgb(look.skin), P.hex_rgb(look.hair)
    outfit, accent = P.hex_rgb(look.outfit), P.hex_rgb(look.accent)
    legs = P.mix(P.shade(outfit, 0.45), (40, 40, 56), 0.5)
    t = actor.age
    emotion = actor.emotion if actor.emotion in EMOTIONS else "neutral"
    back = actor.facing == "back"
    side = {"left": -1, "right": 1}.get(actor.facing, 0)

    bob = math.sin(t * 2.1) * 0.004
    if actor.moving:
        bob += abs(math.sin(actor.walk_phase)) * 0.018
    if emotion == "excited" and not actor.moving:
        bob += abs(math.sin(t * 7)) * 0.03 * max(0.4, actor.emotion_strength)
    tremble = math.sin(t * 43) * 0.005 if emotion == "afraid" else 0.0
    left_g, right_g, bow, nod = _gesture_pose(actor)
    arm_l, arm_r = ARM_POSES[emotion]
    if left_g is not None:
        arm_l = left_g
    if right_g is not None:
        arm_r = right_g
    if actor.moving and actor.gesture is None:
        swing = math.sin(actor.walk_phase) * 14
        arm_l, arm_r = (8 + swing, 4 + swing), (8 - swing, 4 - swing)
    droop = 0.012 if emotion in ("sad", "shy") else 0.0

    def pt(fx: float, fy: float) -> tuple[float, float]:
        return (sx + (fx + tremble) * u, sy - (fy + bob) * u)

    # legs and shoes
    for i, lx in enumerate((-0.055, 0.055)):
        lift = 0.0
        dx = 0.0
        if actor.moving:
            phase = actor.walk_phase + i * math.pi
            lift = max(0.0, math.sin(phase)) * 0.05
            dx = math.sin(phase) * 0.05 * abs(side)
        top = pt(lx, 0.44)
        foot = pt(lx + dx, 0.03 + lift)
        pygame.draw.line(surf, legs, top, foot, max(2, int(0.075 * u)))
        shoe = pygame.Rect(0, 0, 0.1 * u, 0.05 * u)
        shoe.center = (int(foot[0] + side * 0.02 * u), int(foot[1]))
        pygame.draw.ellipse(surf, P.INK, shoe)

    shoulder_y = 0.70 - 0.09 * bow - droop
    head_x = side * 0.01 + (0.012 if emotion == "shy" else 0.0)
    head_y = 0.855 - 0.15 * bow - nod - droop * 1.5
    r = 0.125 * u
    hc = pt(head_x, head_y)

    # hair behind the head and body
    if look.hair_style == "long":
        rect = pygame.Rect(0, 0, 2.5 * r, 3.1 * r)
        rect.midtop = (int(hc[0]), int(hc[1] - 0.3 * r))
        pygame.draw.rect(surf, hair, rect, border_radius=int(r))
    elif look.hair_style == "ponytail":
        tail_side = -1 if side > 0 else 1
        tail = pygame.Rect(0, 0, 0.75 * r, 1.7 * r)
        tail.midtop = (
            int(hc[0] + tail_side * (0.95 * r if not back else 0.0)),
            int(hc[1] - 0.3 * r),
        )
        pygame.draw.ellipse(surf, P.shade(hair, 0.9), tail)

    # torso (a tunic whose hem covers the hips)
    torso = [
        pt(-0.13, shoulder_y),
        pt(0.13, shoulder_y),
        pt(0.105, 0.55),
        pt(0.15, 0.37),
        pt(-0.15, 0.37),
        pt(-0.105, 0.55),
    ]
    pygame.draw.polygon(surf, outfit, torso)
    # the late sun comes from the left: the right side of the body sits in shade
    pygame.draw.polygon(
        surf,
        P.shade(outfit, 0.86),
        [
            pt(0.06, shoulder_y),
            pt(0.13, shoulder_y),
            pt(0.105, 0.55),
            pt(0.15, 0.37),
            pt(0.08, 0.37),
            pt(0.05, 0.55),
        ],
    )
    pygame.draw.polygon(
        surf,
        P.shade(outfit, 0.8),
        [pt(-0.15, 0.37), pt(0.15, 0.37), pt(0.145, 0.40), pt(-0.145, 0.40)],
    )
    if not back:
        pygame.draw.line(surf, accent, pt(-0.11, 0.50), pt(0.11, 0.50), max(1, int(0.025 * u)))
    if look.accessory == "apron" and not back:
        apron = [pt(-0.09, 0.60), pt(0.09, 0.60), pt(0.12, 0.38), pt(-0.12, 0.38)]
        pygame.draw.polygon(surf, accent, apron)
        pygame.draw.rect(
            surf,
            P.shade(accent, 0.85),
            (*pt(-0.045, 0.50), 0.09 * u, 0.05 * u),
            max(1, int(0.01 * u)),
        )
        pygame.draw.line(
            surf, accent, pt(-0.07, 0.60), pt(-0.04, shoulder_y + 0.05), max(1, int(0.012 * u))
        )
        pygame.draw.line(
            surf, accent, pt(0.07, 0.60), pt(0.04, shoulder_y + 0.05), max(1, int(0.012 * u))
        )

    # arms: sleeve segments and a hand
    arm_w = max(2, int(0.055 * u))
    hands: list[tuple[float, float]] = []
    for sign, (a1, a2) in ((-1, arm_l), (1, arm_r)):
        shoulder = pt(sign * 0.12, shoulder_y - 0.02)
        ang1, ang2 = math.radians(a1), math.radians(a2)
        elbow = (
            shoulder[0] + sign * math.sin(ang1) * 0.15 * u,
            shoulder[1] + math.cos(ang1) * 0.15 * u,
        )
        hand = (elbow[0] + sign * math.sin(ang2) * 0.14 * u, elbow[1] + math.cos(ang2) * 0.14 * u)
        pygame.draw.line(surf, outfit, shoulder, elbow, arm_w)
        pygame.draw.circle(surf, outfit, elbow, arm_w / 2)
        pygame.draw.line(surf, P.shade(outfit, 0.92), elbow, hand, arm_w)
        pygame.draw.circle(surf, skin, hand, max(1.5, 0.032 * u))
        hands.append(hand)

    # long hair falls over the shoulders in front
    if look.hair_style == "long" and not back:
        for sx in (-1, 1):
            lock = pygame.Rect(0, 0, 0.5 * r, 2.2 * r)
            lock.midtop = (int(hc[0] + sx * 0.92 * r), int(hc[1] - 0.1 * r))
            pygame.draw.rect(surf, hair, lock, border_radius=int(0.25 * r))

    # neck, scarf
    pygame.draw.line(
        surf,
        P.shade(skin, 0.9),
        pt(head_x, shoulder_y),
        pt(head_x, shoulder_y + 0.07),
        max(2, int(0.05 * u)),
    )
    if look.accessory == "scarf":
        band = pygame.Rect(0, 0, 0.2 * u, 0.055 * u)
        band.center = (int(pt(head_x, shoulder_y)[0]), int(pt(head_x, shoulder_y + 0.01)[1]))
        pygame.draw.ellipse(surf, accent, band)
        tail_x = 0.05 if not back else -0.05
        pygame.draw.line(
            surf,
            accent,
            pt(head_x + tail_x, shoulder_y),
            pt(head_x + tail_x + 0.02, shoulder_y - 0.14),
            max(2, int(0.04 * u)),
        )

    # head
    face_skin = skin
    if emotion == "angry":
        face_skin = P.mix(skin, (230, 90, 80), 0.18 * actor.emotion_strength + 0.05)
    elif emotion == "afraid":
        face_skin = P.mix(skin, (220, 230, 240), 0.25)
    if look.hair_style != "bald":
        pygame.draw.aacircle(surf, hair, hc, r * 1.06)
    pygame.draw.circle(
        surf, P.shade(face_skin, 0.92), (hc[0] - r * 0.98, hc[1] + r * 0.15), r * 0.2
    )
    pygame.draw.circle(
        surf, P.shade(face_skin, 0.92), (hc[0] + r * 0.98, hc[1] + r * 0.15), r * 0.2
    )
    if back:
        pygame.draw.aacircle(surf, hair if look.hair_style != "bald" else face_skin, hc, r * 1.02)
    else:
        face_c = (hc[0] + side * 0.12 * r, hc[1] + 0.1 * r)
        face_r = r * (0.93 if look.hair_style != "bald" else 1.0)
        pygame.draw.aacircle(surf, face_skin, face_c, face_r)
        if r >= 8:  # a soft shadow under the cheek on the shaded side
            pygame.draw.aacircle(
                surf, P.shade(face_skin, 0.94), face_c, face_r, draw_bottom_right=True
            )
            pygame.draw.aacircle(
                surf, face_skin, (face_c[0] - 0.12 * r, face_c[1] - 0.08 * r), face_r * 0.93
            )
        if look.hair_style != "bald":
            fringe = pygame.Rect(0, 0, 2.0 * r, 1.0 * r)
            fringe.midtop = (int(hc[0] - side * 0.1 * r), int(hc[1] - 1.05 * r))
            pygame.draw.ellipse(surf, hair, fringe)
        else:
            pygame.draw.circle(
                surf, P.shade(face_skin, 1.25), (hc[0] - 0.35 * r, hc[1] - 0.5 * r), r * 0.18
            )
        _face(surf, actor, emotion, face_c, r, side)
    if look.hair_style == "bun":
        pygame.draw.aacircle(surf, hair, (hc[0], hc[1] - 1.05 * r), r * 0.45)
        pygame.draw.circle(surf, accent, (hc[0], hc[1] - 0.78 * r), r * 0.12)

    _accessory(surf, look.accessory, hc, r, back, side, accent, outfit)
    _emotion_mark(surf, actor, emotion, hc, r)
    head = pygame.Rect(0, 0, 2.2 * r, 2.2 * r)
    head.center = (int(hc[0]), int(hc[1]))
    if look.accessory == "hat":
        head.top -= int(0.5 * r)
    return head


def _face(
    surf: pygame.Surface, actor: Actor, emotion: str, c: tuple[float, float], r: float, side: int
) -> None:
    ink = (40, 30, 36)
    ex = 0.36 * r
    ey = c[1] + 0.02 * r
    dx = side * 0.22 * r
    eyes = [(c[0] - ex + dx, ey), (c[0] + ex + dx, ey)]
    k = actor.emotion_strength
    blink = (actor.age % 4.3) < 0.13
    small = r < 7
    lw = max(1, int(r * 0.09))
    ew, eh = 0.2 * r, 0.3 * r
    if small:
        for e in eyes:
            pygame.draw.circle(surf, ink, e, max(1, r * 0.12))
    elif emotion in ("happy", "shy") or blink:
        for e in eyes:
            if blink and emotion not in ("happy", "shy"):
                pygame.draw.line(surf, ink, (e[0] - ew * 0.6, e[1]), (e[0] + ew * 0.6, e[1]), lw)
            elif emotion == "shy":
                pygame.draw.arc(
                    surf,
                    ink,
                    (e[0] - ew * 0.7, e[1] - eh * 0.3, ew * 1.4, eh * 0.8),
                    math.pi * 1.1,
                    math.pi * 1.9,
                    lw,
                )
            else:
                pygame.draw.arc(
                    surf,
                    ink,
                    (e[0] - ew * 0.7, e[1] - eh * 0.3, ew * 1.4, eh * 0.9),
                    math.pi * 0.1,
                    math.pi * 0.9,
                    lw,
                )
    else:
        scale = {"surprised": 1.35, "afraid": 1.3, "excited": 1.2, "angry": 0.75, "sad": 0.9}.get(
            emotion, 1.0
        )
        look_x, look_y = 0.0, 0.0
        if emotion == "thinking":
            look_x, look_y = 0.25 * r, -0.08 * r
        for e in eyes:
            rect = pygame.Rect(0, 0, ew * scale, eh * scale)
            rect.center = (int(e[0] + look_x * 0.4), int(e[1] + look_y))
            if emotion in ("surprised", "afraid"):
                pygame.draw.ellipse(surf, (252, 252, 252), rect.inflate(ew * 0.5, ew * 0.4))
                pupil = rect.inflate(-rect.w * 0.35, -rect.h * 0.35)
                pygame.draw.ellipse(surf, ink, pupil)
            else:
                pygame.draw.ellipse(surf, ink, rect)
                hl = (rect.centerx - rect.w * 0.15, rect.top + rect.h * 0.3)
                pygame.draw.circle(surf, (255, 255, 255), hl, max(1, rect.w * 0.22))
                if emotion == "excited":
                    pygame.draw.circle(
                        surf,
                        (255, 255, 255),
                        (rect.centerx + rect.w * 0.2, rect.bottom - rect.h * 0.3),
                        max(1, rect.w * 0.12),
                    )

    # brows
    if not small:
        by = ey - 0.38 * r
        for i, e in enumerate(eyes):
            inner = 1 if i == 0 else -1  # direction towards the nose
            x0, x1 = e[0] - ew * 0.7, e[0] + ew * 0.7
            if emotion == "angry":
                y_in, y_out = by + 0.14 * r, by - 0.04 * r
            elif emotion in ("sad", "afraid"):
                y_in, y_out = by - 0.1 * r, by + 0.06 * r
            elif emotion == "surprised":
                y_in = y_out = by - 0.14 * r
            elif emotion == "thinking" and i == 1:
                y_in = y_out = by - 0.12 * r
            else:
                y_in = y_out = by
            a, b = ((x1, y_in), (x0, y_out)) if inner == 1 else ((x0, y_in), (x1, y_out))
            pygame.draw.line(
                surf, P.shade(P.hex_rgb(actor.look.hair), 0.7), a, b, max(1, int(r * 0.08))
            )

    # cheeks
    if emotion in ("happy", "shy", "excited") and not small:
        blush = P.mix(
            P.hex_rgb(actor.look.skin), (240, 110, 120), 0.55 if emotion == "shy" else 0.35
        )
        for e in eyes:
            rect = pygame.Rect(0, 0, 0.3 * r, 0.16 * r)
            rect.center = (int(e[0] + (e[0] - c[0]) * 0.25), int(e[1] + 0.3 * r))
            pygame.draw.ellipse(surf, blush, rect)

    # mouth
    mx, my = c[0] + dx * 0.8, c[1] + 0.45 * r
    mw = 0.42 * r
    mouth = (150, 60, 64)
    if actor.speaking > 0 and not small:
        h = 0.08 * r + abs(math.sin(actor.age * 15)) * 0.16 * r
        pygame.draw.ellipse(surf, mouth, (mx - mw * 0.4, my - h / 2, mw * 0.8, h))
        return
    if emotion in ("happy", "shy"):
        w = mw * (0.8 if emotion == "shy" else 1.0)
        pygame.draw.arc(
            surf, ink, (mx - w / 2, my - 0.2 * r, w, 0.3 * r), math.pi * 1.05, math.pi * 1.95, lw
        )
    elif emotion == "excited":
        pygame.draw.circle(
            surf,
            mouth,
            (mx, my - 0.04 * r),
            mw * 0.55,
            draw_bottom_left=True,
            draw_bottom_right=True,
        )
    elif emotion in ("sad", "angry"):
        w = mw * (0.8 + 0.2 * k)
        pygame.draw.arc(
            surf, ink, (mx - w / 2, my - 0.02 * r, w, 0.25 * r), math.pi * 0.15, math.pi * 0.85, lw
        )
    elif emotion == "surprised":
        pygame.draw.ellipse(surf, mouth, (mx - 0.1 * r, my - 0.08 * r, 0.2 * r, 0.26 * r))
    elif emotion == "afraid":
        pts = [
            (mx - mw / 2 + i * mw / 6, my + (0.03 * r if i % 2 else -0.03 * r)) for i in range(7)
        ]
        pygame.draw.lines(surf, ink, False, pts, lw)
    elif emotion == "thinking":
        pygame.draw.line(surf, ink, (mx - mw * 0.1, my), (mx + mw * 0.35, my - 0.04 * r), lw)
    else:
        pygame.draw.arc(
            surf,
            ink,
            (mx - mw * 0.4, my - 0.12 * r, mw * 0.8, 0.2 * r),
            math.pi * 1.1,
            math.pi * 1.9,
            lw,
        )


def _accessory(
    surf: pygame.Surface,
    kind: str,
    hc: tuple[float, float],
    r: float,
    back: bool,
    side: int,
    accent: P.Colour,
    outfit: P.Colour,
) -> None:
    lw = max(1, int(r * 0.08))
    if kind == "glasses" and not back:
        dx = side * 0.22 * r
        for ex in (-0.36, 0.36):
            pygame.draw.circle(
                surf, P.INK, (hc[0] + ex * r + dx + side * 0.12 * r, hc[1] + 0.12 * r), 0.22 * r, lw
            )
        pygame.draw.line(
            surf,
            P.INK,
            (hc[0] - 0.14 * r + dx, hc[1] + 0.1 * r),
            (hc[0] + 0.14 * r + dx, hc[1] + 0.1 * r),
            lw,
        )
    elif kind == "hat":
        colour = P.shade(outfit, 0.55)
        brim = pygame.Rect(0, 0, 2.7 * r, 0.55 * r)
        brim.center = (int(hc[0]), int(hc[1] - 0.62 * r))
        crown = pygame.Rect(0, 0, 1.7 * r, 0.95 * r)
        crown.midbottom = (brim.centerx, brim.centery)
        pygame.draw.rect(
            surf,
            colour,
            crown,
            border_top_left_radius=int(r * 0.4),
            border_top_right_radius=int(r * 0.4),
        )
        pygame.draw.rect(surf, accent, (crown.x, crown.bottom - 0.25 * r, crown.w, 0.2 * r))
        pygame.draw.ellipse(surf, colour, brim)
    elif kind == "headset":
        band = pygame.Rect(0, 0, 2.3 * r, 2.3 * r)
        band.center = (int(hc[0]), int(hc[1] + 0.05 * r))
        pygame.draw.arc(surf, P.INK, band, math.pi * 0.05, math.pi * 0.95, max(2, int(r * 0.14)))
        for sx in (-1, 1):
            pygame.draw.circle(surf, P.INK, (hc[0] + sx * 1.08 * r, hc[1] + 0.15 * r), 0.26 * r)
            pygame.draw.circle(surf, accent, (hc[0] + sx * 1.08 * r, hc[1] + 0.15 * r), 0.14 * r)
        if not back:
            pygame.draw.line(
                surf,
                P.INK,
                (hc[0] + 1.05 * r, hc[1] + 0.3 * r),
                (hc[0] + 0.45 * r, hc[1] + 0.72 * r),
                lw,
            )
            pygame.draw.circle(surf, accent, (hc[0] + 0.42 * r, hc[1] + 0.72 * r), 0.09 * r)


def _emotion_mark(
    surf: pygame.Surface, actor: Actor, emotion: str, hc: tuple[float, float], r: float
) -> None:
    """A small comic mark by the head: sparkles, '!', sweat, an anger vein, thought dots, a tear."""
    if r < 6 or actor.emotion_strength < 0.2:
        return
    t = actor.age
    if emotion == "excited":
        for i in range(3):
            a = t * 1.5 + i * 2.1
            px, py = hc[0] + math.cos(a) * 1.6 * r, hc[1] - 0.6 * r + math.sin(a) * 0.6 * r
            _sparkle(surf, (px, py), 0.22 * r * (0.7 + 0.3 * math.sin(t * 6 + i)), (255, 226, 120))
    elif emotion == "surprised":
        x, y = hc[0] + 1.3 * r, hc[1] - 1.2 * r
        pygame.draw.line(
            surf, (230, 70, 60), (x, y - 0.4 * r), (x, y + 0.15 * r), max(2, int(0.14 * r))
        )
        pygame.draw.circle(surf, (230, 70, 60), (x, y + 0.36 * r), max(1, 0.08 * r))
    elif emotion == "angry":
        x, y = hc[0] + 0.75 * r, hc[1] - 0.75 * r
        for a in range(4):
            ang = a * math.pi / 2 + math.pi / 4
            pygame.draw.arc(
                surf,
                (220, 50, 50),
                (
                    x + math.cos(ang) * 0.2 * r - 0.15 * r,
                    y + math.sin(ang) * 0.2 * r - 0.15 * r,
                    0.3 * r,
                    0.3 * r,
                ),
                ang + math.pi * 0.5,
                ang + math.pi * 1.2,
                max(1, int(0.08 * r)),
            )
    elif emotion == "afraid":
        x, y = hc[0] + 0.95 * r, hc[1] - 0.3 * r + (t * 0.6 % 1.0) * 0.3 * r
        pygame.draw.polygon(
            surf,
            (150, 200, 240),
            [(x, y - 0.25 * r), (x - 0.12 * r, y + 0.02 * r), (x + 0.12 * r, y + 0.02 * r)],
        )
        pygame.draw.circle(surf, (150, 200, 240), (x, y + 0.04 * r), 0.12 * r)
    elif emotion == "thinking":
        for i in range(3):
            on = int(t * 2.5) % 4 > i
            pygame.draw.circle(
                surf,
                (250, 250, 250) if on else (200, 200, 210),
                (hc[0] + (1.2 + i * 0.35) * r, hc[1] - (1.0 + i * 0.25) * r),
                0.1 * r + i * 0.03 * r,
            )
    elif emotion == "sad" and actor.emotion_strength > 0.5:
        y = hc[1] + 0.3 * r + (t * 0.5 % 1.0) * 0.5 * r
        pygame.draw.circle(surf, (140, 190, 240), (hc[0] - 0.42 * r, y), 0.08 * r)


def _sparkle(surf: pygame.Surface, c: tuple[float, float], size: float, colour: P.Colour) -> None:
    s = max(1.5, size)
    pts = [
        (c[0], c[1] - s),
        (c[0] + s * 0.25, c[1] - s * 0.25),
        (c[0] + s, c[1]),
        (c[0] + s * 0.25, c[1] + s * 0.25),
        (c[0], c[1] + s),
        (c[0] - s * 0.25, c[1] + s * 0.25),
        (c[0] - s, c[1]),
        (c[0] - s * 0.25, c[1] - s * 0.25),
    ]
    pygame.draw.polygon(surf, colour, pts)
