"""Procedural people: every look and emotion draws, and emotions change the face."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

from demo.figures import EMOTIONS, draw_person  # noqa: E402
from demo.world import Actor  # noqa: E402
from engine.persona import Look  # noqa: E402

HAIR = ("short", "long", "bun", "bald", "ponytail")
ACCESSORIES = ("none", "hat", "glasses", "apron", "scarf", "headset")


def render(actor: Actor) -> pygame.Surface:
    surf = pygame.Surface((200, 300), pygame.SRCALPHA)
    surf.fill((0, 0, 0, 0))
    draw_person(surf, actor, 100, 290, 160)
    return surf


def person(emotion: str = "neutral", **look: object) -> Actor:
    actor = Actor("x", "X", Look(**look), 0.0, 0.0)  # type: ignore[arg-type]
    actor.age = 1.0  # eyes open (not mid-blink)
    actor.set_emotion(emotion, 0.9)
    return actor


@pytest.mark.parametrize("hair", HAIR)
@pytest.mark.parametrize("accessory", ACCESSORIES)
def test_every_look_draws_a_figure(hair: str, accessory: str) -> None:
    surf = render(person(hair_style=hair, accessory=accessory))
    rect = surf.get_bounding_rect(min_alpha=1)
    assert rect.h > 200 and rect.w > 40


@pytest.mark.parametrize("emotion", [e for e in EMOTIONS if e != "neutral"])
def test_each_emotion_changes_the_face(emotion: str) -> None:
    neutral = pygame.image.tobytes(render(person("neutral")), "RGB")
    other = pygame.image.tobytes(render(person(emotion)), "RGB")
    assert neutral != other


@pytest.mark.parametrize("gesture", ["wave", "bow", "nod", "give", "flourish"])
def test_gestures_change_the_pose(gesture: str) -> None:
    still = pygame.image.tobytes(render(person()), "RGB")
    actor = person()
    actor.play(gesture, 1.0)
    actor.gesture.t = 0.15  # type: ignore[union-attr]
    assert pygame.image.tobytes(render(actor), "RGB") != still


def test_taller_characters_are_drawn_taller() -> None:
    short = render(person(height=0.8)).get_bounding_rect()
    tall = render(person(height=1.2)).get_bounding_rect()
    assert tall.h > short.h
