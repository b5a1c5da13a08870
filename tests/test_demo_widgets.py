"""The demo's pure pieces: IME text box, speech bubbles, sentence joining, world movement, camera."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

from demo.camera import Camera  # noqa: E402
from demo.fonts import Fonts  # noqa: E402
from demo.i18n import STRINGS  # noqa: E402
from demo.widgets import SpeechBubble, TextBox, join_sentences  # noqa: E402
from demo.world import LANDMARKS, Actor, World, blocked  # noqa: E402
from engine.persona import Look  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    pygame.display.init()
    pygame.font.init()
    return Fonts()


@pytest.fixture
def box(fonts: Fonts) -> tuple[TextBox, list[str]]:
    sent: list[str] = []
    tb = TextBox(fonts, pygame.Rect(0, 0, 400, 40), sent.append)
    tb.activate()
    yield tb, sent
    tb.deactivate()


def _key(key: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="")


def test_textbox_shows_ime_composition_without_committing_it(
    box: tuple[TextBox, list[str]],
) -> None:
    tb, _ = box
    tb.handle_event(pygame.event.Event(pygame.TEXTEDITING, text="ni'hao", start=6, length=0))
    assert tb.composition == "ni'hao"
    assert tb.text == ""


def test_textbox_enter_while_composing_belongs_to_the_ime(box: tuple[TextBox, list[str]]) -> None:
    tb, sent = box
    tb.handle_event(pygame.event.Event(pygame.TEXTEDITING, text="你好", start=2, length=0))
    tb.handle_event(_key(pygame.K_RETURN))
    assert sent == []


def test_textbox_commit_then_enter_submits_the_chinese_line(box: tuple[TextBox, list[str]]) -> None:
    tb, sent = box
    for text in ("你好", "，", "陈掌柜"):
        tb.handle_event(
            pygame.event.Event(pygame.TEXTEDITING, text=text, start=len(text), length=0)
        )
        tb.handle_event(pygame.event.Event(pygame.TEXTINPUT, text=text))
    tb.handle_event(_key(pygame.K_RETURN))
    assert sent == ["你好，陈掌柜"]
    assert tb.text == "" and tb.composition == ""


def test_textbox_edits_at_the_caret(box: tuple[TextBox, list[str]]) -> None:
    tb, sent = box
    for ch in "helo":
        tb.handle_event(pygame.event.Event(pygame.TEXTINPUT, text=ch))
    tb.handle_event(_key(pygame.K_LEFT))
    tb.handle_event(pygame.event.Event(pygame.TEXTINPUT, text="l"))
    tb.handle_event(_key(pygame.K_END))
    tb.handle_event(_key(pygame.K_BACKSPACE))
    tb.handle_event(_key(pygame.K_RETURN))
    assert sent == ["hell"]


def test_textbox_ignores_text_when_inactive(fonts: Fonts) -> None:
    tb = TextBox(fonts, pygame.Rect(0, 0, 400, 40), lambda _t: None)
    assert not tb.handle_event(pygame.event.Event(pygame.TEXTINPUT, text="w"))
    assert tb.text == ""


@pytest.mark.parametrize(
    ("parts", "joined"),
    [
        (["Hello there.", "How are you?"], "Hello there. How are you?"),
        (["你好。", "请坐。"], "你好。请坐。"),
        (["Welcome!", "请坐。"], "Welcome!请坐。"),
        (["  Spaced.  ", "", "Out."], "Spaced. Out."),
    ],
)
def test_join_sentences_spaces_latin_but_not_chinese(parts: list[str], joined: str) -> None:
    assert join_sentences(parts) == joined


def test_bubble_fills_sentence_by_sentence_and_ends_with_the_final_text() -> None:
    bubble = SpeechBubble("mira", "Mira", (255, 200, 100))
    assert bubble.waiting
    bubble.add("Hi Alex.")
    assert bubble.text == "Hi Alex." and not bubble.waiting
    bubble.add("Tea?")
    bubble.finish("Hi Alex. Tea?")
    assert bubble.text == "Hi Alex. Tea?"
    for _ in range(200):
        bubble.update(1 / 60)
    assert not bubble.revealing


def test_bubble_takes_the_final_text_when_sentences_differ() -> None:
    bubble = SpeechBubble("mira", "Mira", (255, 200, 100))
    bubble.add("Partial")
    bubble.finish("Sorry, my mind wandered.", fallback=True)
    assert bubble.text == "Sorry, my mind wandered." and bubble.fallback


def test_every_interface_string_exists_in_both_languages() -> None:
    assert set(STRINGS["en"]) == set(STRINGS["zh"])


@pytest.mark.parametrize("name", sorted(LANDMARKS))
def test_a_character_walks_to_every_landmark(name: str) -> None:
    world = World()
    actor = world.add(Actor("mira", "Mira", Look(), 0.0, 4.0))
    actor.talking_to = "player"  # no wandering off
    stand = LANDMARKS[name].stand
    actor.walk_to(*stand)
    for _ in range(60 * 40):
        world.step(1 / 60)
        assert not blocked(actor.x, actor.z, 0.3), "walked into a prop"
        if actor.target is None:
            break
    assert math.hypot(actor.x - stand[0], actor.z - stand[1]) < 1.0


def test_idle_characters_wander_near_home() -> None:
    world = World(seed=3)
    actor = world.add(Actor("lin", "Lin", Look(), 6.8, 28.4, home=(6.8, 28.4)))
    moved = False
    for _ in range(60 * 30):
        world.step(1 / 60)
        moved = moved or actor.moving
        assert math.hypot(actor.x - 6.8, actor.z - 28.4) < 3.0
    assert moved


@pytest.mark.parametrize("point", [(0.0, 10.0), (-6.0, 20.0), (9.0, 14.5)])
def test_camera_unprojects_the_ground_it_projects(point: tuple[float, float]) -> None:
    cam = Camera(1280, 720)
    sx, sy = cam.project(point[0], 0.0, point[1])
    ground = cam.unproject_ground(sx, sy)
    assert ground is not None
    assert ground[0] == pytest.approx(point[0], abs=1e-6) and ground[1] == pytest.approx(
        point[1], abs=1e-6
    )


def test_camera_comes_to_rest_behind_a_still_player() -> None:
    cam = Camera(1280, 720)
    player = Actor("player", "", Look(), 3.0, 9.0)
    for _ in range(600):
        cam.follow(player, 1 / 60)
    assert cam.still_frames > 10
    assert cam.key == cam.target_for(player)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT_DIR / "demo" / "playthroughs").glob("*.json")),
    ids=lambda p: p.stem,
)
def test_every_shipped_playthrough_is_well_formed(path) -> None:  # type: ignore[no-untyped-def]
    from demo.playthrough import load
    from engine.persona import load_characters

    data = load(path)
    people = set(load_characters(ROOT_DIR / "characters"))
    for session in data["sessions"]:
        for step in session["steps"]:
            for key in ("walk_to", "click"):
                target = step.get(key)
                if isinstance(target, str):
                    assert target in people or target in LANDMARKS, (
                        f"{path.name}: unknown {target!r}"
                    )
            for segment in step.get("ime", []):
                assert len(segment) == 2 and all(isinstance(part, str) for part in segment)


def test_a_malformed_playthrough_names_the_bad_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from demo.playthrough import PlaythroughError, load

    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"sessions": [{"steps": [{"walk_to": "mira"}, {"jump": 3}]}]}', encoding="utf-8"
    )
    with pytest.raises(PlaythroughError, match=r"sessions\[0\]\.steps\[1\].*jump"):
        load(bad)
