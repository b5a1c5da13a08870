"""The scene with a live runtime: failures fall back in character, the world file persists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

from demo.app import App  # noqa: E402
from engine.backends import create_backend  # noqa: E402
from engine.persona import load_characters  # noqa: E402
from engine.runtime import Runtime  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def screen() -> pygame.Surface:
    pygame.display.init()
    pygame.font.init()
    return pygame.display.set_mode((1280, 720))


def _frames_until(app: App, done, limit: int | None = None, timeout: float = 60.0) -> int:  # type: ignore[no-untyped-def]
    # bounded by time (starting a model process on a loaded machine takes seconds) and, where a
    # test gives one, by a number of frames (animations advance a fixed 1/60 s per frame)
    import time

    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline and (limit is None or n < limit):
        app.frame(pygame.event.get(), 1 / 60)
        if done():
            return n
        n += 1
        time.sleep(0.002)  # let the runtime's threads run between frames
    raise AssertionError("the scene never got there")


def test_a_failed_reply_shows_the_in_character_fallback(
    screen: pygame.Surface, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(
        json.dumps({"key": "nothing-matches", "kind": "stream", "chunks": []}) + "\n",
        encoding="utf-8",
    )
    chars = load_characters(ROOT / "characters")
    with Runtime(
        tmp_path / "w.db", backend=create_backend(f"replay:{empty}"), characters=chars
    ) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="replay")
        app.start_talk("mira")
        _frames_until(app, lambda: not app.in_flight)
        app.submit("Tell me about the plaza.")
        _frames_until(app, lambda: not app.in_flight)
        turn = app.finished[-1]
        assert turn.fallback and turn.error
        assert turn.text in chars["mira"].boundaries.fallback_lines
        assert app.bubbles["mira"].text == turn.text
        assert app.running


def test_an_unavailable_embedded_model_says_why_on_the_status_line(
    screen: pygame.Surface, tmp_path: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the local extra)")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a model at all")
    chars = load_characters(ROOT / "characters")
    with Runtime(tmp_path / "w.db", backend=create_backend(str(bad)), characters=chars) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="local:broken")
        app.start_talk("mira")
        _frames_until(app, lambda: not app.in_flight)
        app.submit("Hello!")
        _frames_until(app, lambda: not app.in_flight)
        assert app.finished[-1].fallback
        assert app.note.startswith("Model unavailable:") and "broken.gguf" in app.note


def test_frames_never_wait_for_the_model(screen: pygame.Surface, tmp_path: Path) -> None:
    # a slow replay: chunks spaced out, so frames keep drawing while the reply trickles in
    chars = load_characters(ROOT / "characters")
    backend = create_backend("scripted")
    with Runtime(tmp_path / "w.db", backend=backend, characters=chars) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="scripted")
        app.start_talk("bram")
        waiting = 0  # frames drawn while the greeting was still being made
        for _ in range(240):  # frame times are bench/frames.py's
            waiting += bool(app.in_flight)
            app.frame(pygame.event.get(), 1 / 60)
            if not app.in_flight and app.finished:
                break
        assert app.finished, "the greeting never arrived within 240 frames"
        assert waiting >= 2, "a frame waited for the whole greeting"


def test_the_world_file_lives_in_the_data_dir_and_new_world_starts_fresh(tmp_path: Path) -> None:
    world = tmp_path / "npc-engine" / "plaza.db"
    world.parent.mkdir(parents=True)
    chars = load_characters(ROOT / "characters")

    def remembered() -> list[str]:
        with Runtime(world, backend=create_backend("scripted"), characters=chars) as rt:
            return [m.text for m in rt.memories("mira", "player").result(timeout=30)]

    with Runtime(world, backend=create_backend("scripted"), characters=chars) as rt:
        rt.observe("mira", "The player gave you a paper lantern.", player="player").result(
            timeout=30
        )
    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
        "XDG_DATA_HOME": str(tmp_path),
    }
    cmd = [sys.executable, "-m", "demo", "--headless", "--backend", "scripted", "--frames", "3"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    assert remembered() == ["The player gave you a paper lantern."]
    subprocess.run(
        [*cmd, "--new-world"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
    )
    assert world.exists()
    assert remembered() == []


def test_a_given_item_floats_into_the_item_strip(screen: pygame.Surface, tmp_path: Path) -> None:
    chars = load_characters(ROOT / "characters")
    with Runtime(tmp_path / "w.db", backend=create_backend("scripted"), characters=chars) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="scripted")
        app.start_talk("bram")
        _frames_until(app, lambda: not app.in_flight)
        app.submit("I'm new here and I've got no money.")
        _frames_until(app, lambda: not app.in_flight and len(app.finished) == 2)
        given = [a for a in app.finished[-1].actions if a["name"] == "give_item"]
        assert given, app.finished[-1]
        assert app.flying or app.inventory.items
        _frames_until(app, lambda: not app.flying, limit=400)
        assert app.inventory.items == [given[0]["args"]["item"]]
        assert (
            app.world.actors["bram"].gesture is None
            or app.world.actors["bram"].gesture.name == "give"
        )


def test_walk_to_sends_the_character_to_the_landmark(
    screen: pygame.Surface, tmp_path: Path
) -> None:
    from demo.world import LANDMARKS

    chars = load_characters(ROOT / "characters")
    with Runtime(tmp_path / "w.db", backend=create_backend("scripted"), characters=chars) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="scripted")
        mira = app.world.actors["mira"]
        app.act(mira, "walk_to", {"target": "stage"})
        _frames_until(app, lambda: mira.target is None, limit=60 * 30)
        stand = LANDMARKS["stage"].stand
        assert abs(mira.x - stand[0]) < 1.0 and abs(mira.z - stand[1]) < 1.0


def test_language_toggle_switches_interface_strings(screen: pygame.Surface, tmp_path: Path) -> None:
    chars = load_characters(ROOT / "characters")
    with Runtime(tmp_path / "w.db", backend=create_backend("scripted"), characters=chars) as rt:
        app = App(screen, rt, backend_name="scripted")
        assert app.chatlog.title == "Conversation"
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_F3, mod=0, unicode=""))
        app.frame(pygame.event.get(), 1 / 60)
        assert app.language == "zh" and app.chatlog.title == "对话记录"
        assert app.display_name("chen") == chars["chen"].display_name("zh")


def test_forget_button_removes_the_memory_from_the_world(
    screen: pygame.Surface, tmp_path: Path
) -> None:
    chars = load_characters(ROOT / "characters")
    with Runtime(tmp_path / "w.db", backend=create_backend("scripted"), characters=chars) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="scripted")
        app.start_talk("mira")
        _frames_until(app, lambda: not app.in_flight)
        app.submit("I collect old maps.")
        _frames_until(app, lambda: not app.in_flight and rt.idle())
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_F2, mod=0, unicode=""))
        _frames_until(app, lambda: bool(app.memory.records) and bool(app.memory.buttons))
        before = {m.id for m in rt.memories("mira", "player").result(timeout=30)}
        button, memory_id = app.memory.buttons[0]
        pygame.event.post(
            pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=button.rect.center, button=1)
        )
        app.frame(pygame.event.get(), 1 / 60)
        rt.wait_idle(30)
        after = {m.id for m in rt.memories("mira", "player").result(timeout=30)}
        assert memory_id in before and after == before - {memory_id}
        assert all(int(r.id) != memory_id for r in app.memory.records)


def test_leaving_mid_reply_cancels_it_and_a_second_line_waits(
    screen: pygame.Surface, tmp_path: Path
) -> None:
    chars = load_characters(ROOT / "characters")
    recording = tmp_path / "slow.jsonl"

    # record a greeting and one scripted reply, then replay them slowly so the reply is still
    # streaming when the player leaves
    def clock() -> float:
        return 1_780_000_000.0

    scripted = create_backend("scripted", record=recording)
    with Runtime(tmp_path / "a.db", backend=scripted, characters=chars, clock=clock) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="scripted")
        app.start_talk("mira")
        _frames_until(app, lambda: not app.in_flight and rt.idle())
        assert app.submit("Tell me about the fountain.")
        _frames_until(app, lambda: not app.in_flight and rt.idle())
    slow = create_backend(f"replay:{recording}", delay_s=0.1)
    with Runtime(tmp_path / "b.db", backend=slow, characters=chars, clock=clock) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="replay")
        app.start_talk("mira")
        _frames_until(app, lambda: not app.in_flight and rt.idle())
        assert app.submit("Tell me about the fountain.")
        assert not app.submit("And the stage?"), "a second line must wait for the reply"
        # TurnStarted replaced the greeting's bubble with a waiting one: the reply is under way
        _frames_until(app, lambda: "mira" in app.bubbles and not app.bubbles["mira"].done)
        app.end_talk()
        _frames_until(app, lambda: not app.in_flight)
        assert app.finished[-1].error and not app.finished[-1].text
        assert "mira" not in app.bubbles


def test_a_bad_backend_is_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "demo", "--headless", "--backend", "nosuch", "--frames", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown backend 'nosuch'" in proc.stderr and "Traceback" not in proc.stderr


def test_a_character_with_its_own_picture_shows_it_in_the_dialogue_panel(
    screen: pygame.Surface, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "chars"
    shutil.copytree(ROOT / "characters", folder)
    picture = pygame.Surface((40, 60))
    picture.fill((255, 0, 255))  # a colour the scene never draws
    pygame.image.save(picture, str(folder / "mira.png"))
    text = (folder / "mira.yaml").read_text(encoding="utf-8")
    (folder / "mira.yaml").write_text(
        text.replace("look:\n", "look:\n  image: mira.png\n", 1), encoding="utf-8"
    )
    chars = load_characters(folder)
    assert chars["mira"].look.image == "mira.png"
    with Runtime(tmp_path / "w.db", backend=create_backend("scripted"), characters=chars) as rt:
        app = App(screen, rt, player_name="Alex", backend_name="scripted", characters_dir=folder)
        assert set(app.portraits) == {"mira"}
        app.start_talk("mira")
        _frames_until(app, lambda: not app.in_flight)
        app.draw()
        shown = pygame.surfarray.array3d(screen)
        magenta = (shown[:, :, 0] == 255) & (shown[:, :, 1] == 0) & (shown[:, :, 2] == 255)
        assert magenta.sum() > 40 * 60  # the portrait, scaled up to the panel's height
