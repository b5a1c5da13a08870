"""The plaza scene: walk up to a character and talk; they remember you next time.

Reads top to bottom like a pygame-ce example: constants, the :class:`App` with
``handle_event`` / ``update`` / ``draw``, and a ``run()`` loop that polls events, updates, draws
and ticks a clock. The engine's :class:`~engine.runtime.Runtime` does every slow thing (memory,
model) off the game thread; the scene only calls ``say``/``greet`` (they return at once) and
drains ``poll()`` once a frame, so a frame never waits for a reply.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pygame

from demo import palette as P
from demo.camera import Camera
from demo.figures import draw_person
from demo.fonts import Fonts
from demo.i18n import LANGUAGES, tr
from demo.panels import DebugPanel, MemoryPanel, RelationshipMeter, draw_status
from demo.scene import Environment
from demo.widgets import (
    Button,
    ChatLog,
    FlyingItem,
    Inventory,
    SpeechBubble,
    TextBox,
    Toasts,
    draw_item_icon,
    panel,
)
from demo.world import LANDMARKS, PLAYER_SPEED, TALK_DISTANCE, Actor, World
from engine import (
    LocalBackend,
    Look,
    Persona,
    Runtime,
    Sentence,
    TurnDone,
    TurnFailed,
    TurnStarted,
    TurnWarning,
)

log = logging.getLogger(__name__)

SIZE = (1280, 720)
FPS = 60
PLAYER_ID = "player"
PLAYER_LOOK = Look(
    skin="#e9c2a0", hair="#2b2118", outfit="#3d5a80", accent="#ee6c4d", hair_style="short"
)
HOMES = {
    "mira": (2.6, 12.2),
    "chen": (-10.2, 25.4),
    "bram": (11.2, 18.6),
    "lin": (6.8, 28.4),
}
EXTRA_HOMES = ((-3.0, 25.0), (12.0, 9.0), (-12.0, 10.0))
START = (0.0, 3.2)
MAX_PEOPLE = 4
GESTURES = {"wave": 1.8, "bow": 1.5, "nod": 1.3}


@dataclass
class TurnLog:
    """One finished turn, as written to a playthrough's log.json."""

    session: int
    character: str
    kind: str
    player_text: str
    sentences: list[str] = field(default_factory=list)
    text: str = ""
    bubble: str = ""
    emotion: str = ""
    emotion_strength: float = 0.0
    actions: list[dict[str, Any]] = field(default_factory=list)
    relationship: dict[str, Any] | None = None
    fallback: bool = False
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    backend: str = ""


PORTRAIT_HEIGHT = 120


def load_portraits(
    personas: Mapping[str, Persona], folder: str | Path | None
) -> dict[str, pygame.Surface]:
    """Each character's own picture (``look.image``, relative to ``folder``), scaled to a small
    portrait for the dialogue panel. A character without one, or whose picture does not load,
    has none: the procedural figure is drawn as always."""
    portraits: dict[str, pygame.Surface] = {}
    if folder is None:
        return portraits
    for cid, persona in personas.items():
        if not persona.look.image:
            continue
        try:
            picture = pygame.image.load(str(Path(folder) / persona.look.image))
        except (pygame.error, OSError, ValueError) as exc:
            log.warning("%s: cannot load its picture %s: %s", cid, persona.look.image, exc)
            continue
        w, h = picture.get_size()
        if w and h:
            size = (max(1, round(w * PORTRAIT_HEIGHT / h)), PORTRAIT_HEIGHT)
            portraits[cid] = pygame.transform.smoothscale(
                picture.convert_alpha() if pygame.display.get_surface() else picture, size
            )
    return portraits


class App:
    """The scene. Build it with a :class:`Runtime`; call :meth:`frame` once per frame."""

    def __init__(
        self,
        screen: pygame.Surface,
        runtime: Runtime,
        *,
        language: str = "en",
        player_name: str | None = None,
        session: int = 1,
        backend_name: str = "",
        characters_dir: str | Path | None = None,
    ) -> None:
        self.screen = screen
        self.rt = runtime
        self.language = language if language in LANGUAGES else "en"
        self.player_name = player_name
        self.session = session
        self.backend_name = backend_name
        w, h = screen.get_size()
        self.fonts = Fonts()
        self.fonts.preload()
        self.camera = Camera(w, h)
        self.env = Environment(self.camera, self.fonts)
        self.world = World()
        self.personas: dict[str, Persona] = dict(runtime.characters)
        self.portraits = load_portraits(self.personas, characters_dir)
        self._populate()
        self.player = self.world.actors[PLAYER_ID]
        self.camera.follow(self.player, 0.0, snap=True)
        self.partner: Actor | None = None
        self.pending_talk: str | None = None
        self.bubbles: dict[str, SpeechBubble] = {}
        self.player_bubble: SpeechBubble | None = None
        self.heads: dict[str, pygame.Rect] = {}
        self.textbox = TextBox(self.fonts, pygame.Rect(w // 2 - 380, h - 84, 760, 50), self.submit)
        self.chatlog = ChatLog(self.fonts, pygame.Rect(w - 376, 196, 360, 330))
        self.meter = RelationshipMeter()
        self.debug = DebugPanel()
        self.memory = MemoryPanel()
        self.toasts = Toasts()
        self.inventory = Inventory(self.fonts, (16, h - 112))
        self.flying: list[FlyingItem] = []
        self.lang_button = Button(pygame.Rect(w - 92, 12, 78, 34), "")
        self.last_result: Any = None
        self.turns: dict[int, TurnLog] = {}
        self.finished: list[TurnLog] = []
        self.in_flight: dict[int, str] = {}
        self.handles: dict[int, Any] = {}
        self.relationship_future: Future[Any] | None = None
        self.name_future: Future[Any] | None = (
            None if player_name else runtime.player_name(PLAYER_ID)
        )
        self.note = ""
        self.known_name: str | None = None
        self.time = 0.0
        self.running = True
        self._apply_language()

    # -- set-up ----------------------------------------------------------------------------

    def _populate(self) -> None:
        spare = list(EXTRA_HOMES)
        for cid, persona in list(self.personas.items())[:MAX_PEOPLE]:
            home = HOMES.get(cid) or (spare.pop(0) if spare else (0.0, 8.0))
            actor = Actor(
                cid,
                persona.name,
                persona.look,
                home[0],
                home[1],
                home=home,
                baseline=persona.emotions.baseline,
            )
            actor.emotion = actor.baseline
            self.world.add(actor)
        player = Actor(
            PLAYER_ID, "", PLAYER_LOOK, START[0], START[1], speed=PLAYER_SPEED, home=START
        )
        player.facing = "back"
        self.world.add(player)

    def display_name(self, cid: str) -> str:
        persona = self.personas.get(cid)
        return persona.display_name(self.language) if persona else cid

    def accent(self, cid: str) -> P.Colour:
        persona = self.personas.get(cid)
        return P.hex_rgb(persona.look.accent) if persona else P.UI_ACCENT

    def _apply_language(self) -> None:
        lang = self.language
        self.lang_button.label = "EN · 中文" if lang == "en" else "中文 · EN"
        self.chatlog.title = tr(lang, "chat_log")
        self.inventory.title = tr(lang, "inventory")
        self.textbox.help = tr(lang, "input_help")
        if self.partner is not None:
            self.textbox.placeholder = tr(
                lang, "input_placeholder", name=self.display_name(self.partner.id)
            )
        for cid, bubble in self.bubbles.items():
            bubble.name = self.display_name(cid)
        self.player.name = self.player_name or self.known_name or tr(lang, "you")

    def toggle_language(self) -> None:
        self.language = LANGUAGES[(LANGUAGES.index(self.language) + 1) % len(LANGUAGES)]
        self._apply_language()

    # -- conversation ----------------------------------------------------------------------

    def start_talk(self, cid: str) -> None:
        """Face ``cid``, open the text box and ask the runtime for a greeting."""
        npc = self.world.actors.get(cid)
        if npc is None or npc is self.player:
            return
        self.partner = npc
        self.pending_talk = None
        npc.talking_to = PLAYER_ID
        npc.target = None
        side = -1.0 if self.player.x <= npc.x else 1.0
        self.player.walk_to(npc.x + side * 1.7, npc.z - 0.5)
        self.player.talking_to = cid
        self.textbox.placeholder = tr(
            self.language, "input_placeholder", name=self.display_name(cid)
        )
        self.textbox.clear()
        self.textbox.activate()
        self.chatlog.add("", f"— {self.display_name(cid)} —", self.accent(cid), note=True)
        self.meter.set(None, instant=True)
        self._query_relationship(cid)
        if self.memory.visible:
            self.refresh_memories()
        handle = self.rt.greet(cid, PLAYER_ID, player_name=self.player_name)
        self._track(handle, cid, "greet", "")

    def end_talk(self) -> None:
        """Leave the conversation; a reply still being generated is cancelled."""
        if self.partner is not None:
            for handle_id, cid in list(self.in_flight.items()):
                if cid == self.partner.id and handle_id in self.handles:
                    self.rt.cancel(self.handles[handle_id])
            self.partner.talking_to = None
            self.partner.wait = 2.0
        self.player.talking_to = None
        self.partner = None
        self.textbox.deactivate()

    def submit(self, text: str) -> bool:
        """The player pressed Enter in the text box. Refused (the text stays) while the
        character is still answering the previous line."""
        if self.partner is None:
            return False
        cid = self.partner.id
        if cid in self.in_flight.values():
            return False
        self.chatlog.add(self.player.name, text, (120, 170, 240), player=True)
        bubble = SpeechBubble(PLAYER_ID, self.player.name, (120, 170, 240))
        bubble.finish(text)
        bubble.skip()
        self.player_bubble = bubble
        self.player.speaking = min(2.5, 0.3 + len(text) / 18)
        handle = self.rt.say(cid, PLAYER_ID, text, player_name=self.player_name)
        self._track(handle, cid, "say", text)
        return True

    def _track(self, handle: Any, cid: str, kind: str, text: str) -> None:
        self.turns[handle.id] = TurnLog(self.session, cid, kind, text)
        self.in_flight[handle.id] = cid
        self.handles[handle.id] = handle

    def _query_relationship(self, cid: str) -> None:
        self.relationship_future = self.rt.relationship(cid, PLAYER_ID)

    def refresh_memories(self) -> None:
        if self.partner is None:
            return
        self.memory.load(self.partner.id, self.rt.memories(self.partner.id, PLAYER_ID))

    def forget(self, memory_id: int) -> None:
        self.rt.forget_memory(memory_id)
        self.memory.records = [r for r in self.memory.records if int(r.id) != memory_id]

    # -- engine events ---------------------------------------------------------------------

    def poll_runtime(self) -> None:
        for event in self.rt.poll():
            if isinstance(event, TurnStarted):
                self._on_started(event)
            elif isinstance(event, Sentence):
                self._on_sentence(event)
            elif isinstance(event, TurnWarning):
                turn = self.turns.get(event.handle_id)
                if turn is not None:
                    turn.warnings.append(event.message)
                self.debug.warnings.append(event.message)
                log.info("turn warning: %s", event.message)
            elif isinstance(event, TurnDone):
                self._on_done(event)
            elif isinstance(event, TurnFailed):
                self._on_failed(event)

    def _bubble_for(self, cid: str) -> SpeechBubble:
        bubble = self.bubbles.get(cid)
        if bubble is None or bubble.done:
            bubble = SpeechBubble(cid, self.display_name(cid), self.accent(cid))
            self.bubbles[cid] = bubble
        return bubble

    def _on_started(self, event: TurnStarted) -> None:
        self.debug.warnings = []
        self.bubbles.pop(event.character, None)
        self._bubble_for(event.character)

    def _on_sentence(self, event: Sentence) -> None:
        self.player_bubble = None  # the reply takes the stage
        bubble = self._bubble_for(event.character)
        bubble.add(event.text)
        turn = self.turns.get(event.handle_id)
        if turn is not None:
            turn.sentences.append(event.text)
        actor = self.world.actors.get(event.character)
        if actor is not None:
            actor.speaking = min(4.0, actor.speaking + 0.4 + len(event.text) / 16)

    def _on_done(self, event: TurnDone) -> None:
        result = event.result
        cid = event.character
        self.in_flight.pop(event.handle_id, None)
        self.handles.pop(event.handle_id, None)
        bubble = self._bubble_for(cid)
        bubble.finish(result.text, fallback=result.fallback)
        self.last_result = result
        actor = self.world.actors.get(cid)
        if actor is not None:
            actor.set_emotion(result.emotion, max(0.35, result.emotion_strength))
            for action in result.actions:
                self.act(actor, action.name, dict(action.args))
        if result.text:
            self.chatlog.add(self.display_name(cid), result.text, self.accent(cid))
        if result.relationship is not None:
            self.meter.set(result.relationship)
        for key, delta in result.relationship_delta.items():
            if abs(delta) >= 0.5:
                self.toasts.add(
                    f"{tr(self.language, key)} {delta:+.0f}",
                    (120, 210, 150) if delta > 0 else (240, 130, 130),
                    2.5,
                )
        if self.memory.visible and self.partner is not None and self.partner.id == cid:
            self.refresh_memories()
        turn = self.turns.pop(event.handle_id, None)
        if turn is not None:
            turn.text = result.text
            turn.bubble = bubble.text
            turn.emotion = result.emotion
            turn.emotion_strength = result.emotion_strength
            turn.actions = [{"name": a.name, "args": dict(a.args)} for a in result.actions]
            turn.relationship = (
                result.relationship.model_dump() if result.relationship is not None else None
            )
            turn.fallback = result.fallback
            turn.backend = result.backend
            self.finished.append(turn)
        self.note = tr(self.language, "fallback_note") if result.fallback else ""

    def model_note(self) -> str:
        """The embedded model's reason for being unavailable (it crashed repeatedly), if it is."""
        backend = self.rt.backend
        if not isinstance(backend, LocalBackend):
            return ""
        status = backend.status
        if status.state != "unavailable":
            return ""
        return tr(self.language, "model_unavailable", reason=status.reason)

    def _on_failed(self, event: TurnFailed) -> None:
        cid = event.character
        self.in_flight.pop(event.handle_id, None)
        self.handles.pop(event.handle_id, None)
        log.warning("turn failed: %s", event.error)
        if event.fallback_text:
            bubble = self._bubble_for(cid)
            bubble.finish(event.fallback_text, fallback=True)
            self.chatlog.add(self.display_name(cid), event.fallback_text, self.accent(cid))
            self.note = self.model_note() or tr(self.language, "fallback_note")
        else:
            self.bubbles.pop(cid, None)  # cancelled: the player walked away
        turn = self.turns.pop(event.handle_id, None)
        if turn is not None:
            turn.text = event.fallback_text
            turn.bubble = self.bubbles[cid].text if cid in self.bubbles else ""
            turn.fallback = True
            turn.error = event.error
            self.finished.append(turn)

    def act(self, actor: Actor, name: str, args: Mapping[str, Any]) -> None:
        """Animate one validated action from a reply."""
        if name in GESTURES:
            actor.play(name, GESTURES[name])
        elif name == "give_item":
            item = str(args.get("item") or "gift")
            actor.play("give", 1.6)
            head = self.heads.get(actor.id)
            start = (
                (head.centerx + 30, head.bottom + 60)
                if head
                else (self.camera.width / 2, self.camera.height / 2)
            )
            phead = self.heads.get(PLAYER_ID)
            mid = (
                (phead.centerx, phead.bottom + 40)
                if phead
                else (self.camera.width / 2, self.camera.height - 200)
            )
            end = self.inventory.slot(len(self.inventory.items) + sum(1 for f in self.flying))
            self.flying.append(FlyingItem(item, start, mid, (float(end[0]), float(end[1]))))
        elif name == "walk_to":
            target = str(args.get("target") or "")
            landmark = LANDMARKS.get(target)
            if landmark is not None:
                actor.walk_to(*landmark.stand)
                actor.home = landmark.stand
                label = tr(self.language, f"landmark_{target}")
                self.toasts.add(
                    tr(
                        self.language, "action_walk", name=self.display_name(actor.id), target=label
                    ),
                    P.UI_ACCENT,
                )
        else:
            actor.play("flourish", 1.4)
            self.toasts.add(f"• {name.replace('_', ' ')} •", self.accent(actor.id), 2.5)

    # -- input -----------------------------------------------------------------------------

    def handle_event(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.running = False
            return
        if event.type == pygame.KEYDOWN and event.key == pygame.K_F1:
            self.debug.visible = not self.debug.visible
            return
        if event.type == pygame.KEYDOWN and event.key == pygame.K_F2:
            self.memory.visible = not self.memory.visible
            if self.memory.visible:
                self.refresh_memories()
            return
        if (event.type == pygame.KEYDOWN and event.key == pygame.K_F3) or self.lang_button.clicked(
            event
        ):
            self.toggle_language()
            return
        if self.memory.visible and event.type == pygame.MOUSEBUTTONDOWN:
            memory_id = self.memory.clicked_forget(event)
            if memory_id is not None:
                self.forget(memory_id)
                return
        if self.chatlog.handle_event(event):
            return
        if self.textbox.handle_event(event):
            return
        if event.type == pygame.KEYDOWN:
            if event.key == pygame.K_ESCAPE:
                if self.partner is not None:
                    self.end_talk()
                else:
                    self.running = False
            elif event.key in (pygame.K_e, pygame.K_RETURN) and self.partner is None:
                near = self.world.nearest(self.player, within=TALK_DISTANCE + 0.8)
                if near is not None:
                    self.start_talk(near.id)
            elif event.key == pygame.K_SPACE:
                for bubble in self.bubbles.values():
                    bubble.skip()
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            self.click(event.pos)

    def click(self, pos: tuple[int, int]) -> None:
        """Click a person to walk up and talk; click the ground to walk there."""
        for cid, head in self.heads.items():
            if cid == PLAYER_ID:
                continue
            body = pygame.Rect(head.x - head.w * 0.3, head.y, head.w * 1.6, head.h * 4.5)
            if body.collidepoint(pos):
                if self.partner is not None and self.partner.id == cid:
                    return
                self.end_talk()
                npc = self.world.actors[cid]
                self.pending_talk = cid
                self.player.walk_to(npc.x - 1.6, npc.z - 0.6)
                return
        ground = self.camera.unproject_ground(*pos)
        if ground is not None:
            self.end_talk()
            self.pending_talk = None
            self.player.walk_to(*ground)

    def _keyboard_move(self, dt: float) -> None:
        if self.textbox.active:
            return
        keys = pygame.key.get_pressed()
        dx = (keys[pygame.K_d] or keys[pygame.K_RIGHT]) - (keys[pygame.K_a] or keys[pygame.K_LEFT])
        dz = (keys[pygame.K_w] or keys[pygame.K_UP]) - (keys[pygame.K_s] or keys[pygame.K_DOWN])
        if dx or dz:
            n = math.hypot(dx, dz)
            step = self.player.speed * dt * 1.05
            self.player.walk_to(self.player.x + dx / n * step, self.player.z + dz / n * step)
            self.pending_talk = None

    # -- update ----------------------------------------------------------------------------

    def update(self, dt: float) -> None:
        self.time += dt
        self.env.time += dt
        self._keyboard_move(dt)
        self.poll_runtime()
        self.world.step(dt, PLAYER_ID)
        if self.partner is not None and self.player.target is None:
            self.player.face_towards(self.partner.x, self.partner.z)
        elif self.player.target is None:
            near = self.world.nearest(self.player, within=TALK_DISTANCE + 0.8)
            if near is not None:
                self.player.face_towards(near.x, near.z)
        if self.pending_talk and self.player.target is None:
            npc = self.world.actors.get(self.pending_talk)
            if npc is not None and self.player.distance_to(npc) <= TALK_DISTANCE + 1.0:
                self.start_talk(npc.id)
            else:
                self.pending_talk = None
        partner = (
            self.partner
            if self.partner is not None and self.partner.distance_to(self.player) < 7
            else None
        )
        self.camera.follow(self.player, dt, partner)
        for bubble in self.bubbles.values():
            bubble.update(dt)
        self.bubbles = {
            cid: b
            for cid, b in self.bubbles.items()
            if not (
                b.done and b.linger > (30.0 if self.partner and self.partner.id == cid else 6.0)
            )
        }
        if self.player_bubble is not None:
            self.player_bubble.update(dt)
            if self.player_bubble.linger > 3.0:
                self.player_bubble = None
        for item in self.flying:
            item.t += dt
            if item.done:
                self.inventory.items.append(item.name)
                self.toasts.add(tr(self.language, "received", item=item.name), (200, 230, 255))
        self.flying = [f for f in self.flying if not f.done]
        self.toasts.update(dt)
        self.textbox.update(dt)
        self.meter.update(dt)
        self.memory.update()
        if self.name_future is not None and self.name_future.done():
            try:
                known = self.name_future.result()
            except Exception as exc:  # no name is fine: the log says "You"
                log.debug("player name query failed: %s", exc)
                known = None
            self.name_future = None
            if known:
                self.known_name = str(known)
                self._apply_language()
        if self.relationship_future is not None and self.relationship_future.done():
            try:
                self.meter.set(self.relationship_future.result(), instant=True)
            except Exception as exc:  # keep the defaults; the first turn brings the numbers
                log.debug("relationship query failed: %s", exc)
            self.relationship_future = None

    @property
    def thinking(self) -> str | None:
        """The display name of a character whose reply is being generated, if any."""
        for cid in self.in_flight.values():
            return self.display_name(cid)
        return None

    # -- draw ------------------------------------------------------------------------------

    def draw(self) -> None:
        surf = self.screen
        cam = self.camera
        self.env.begin_frame()
        self.env.draw_background(surf)
        self.env.draw_shadows(surf)
        items = self.env.drawables()
        for actor in self.world.actors.values():
            if not cam.visible(actor.z):
                continue
            self.env.blit_shadow(surf, actor.x, actor.z, 0.42 * actor.look.height)
            items.append((actor.z, partial(self._draw_actor, actor=actor), None))
        items.sort(key=lambda item: -item[0])
        self.heads = {}
        for _, draw, key in items:
            self.env.draw_prop(surf, key, draw)
        self._draw_tags(surf)
        hud = self.chatlog.rect if self.partner is not None else None
        for cid, bubble in self.bubbles.items():
            head = self.heads.get(cid)
            if head is not None:
                bubble.draw(surf, self.fonts, head, avoid=hud)
        if self.player_bubble is not None and PLAYER_ID in self.heads:
            self.player_bubble.draw(surf, self.fonts, self.heads[PLAYER_ID], avoid=hud)
        for item in self.flying:
            draw_item_icon(surf, self.fonts, item.name, item.position(), 40)
        self._draw_hud(surf)

    def _draw_actor(self, surf: pygame.Surface, actor: Actor) -> None:
        sx, sy = self.camera.project(actor.x, 0.0, actor.z)
        self.heads[actor.id] = draw_person(surf, actor, sx, sy, self.camera.scale(actor.z))

    def _draw_tags(self, surf: pygame.Surface) -> None:
        near = (
            None
            if self.partner is not None
            else self.world.nearest(self.player, within=TALK_DISTANCE + 0.8)
        )
        for cid, head in self.heads.items():
            if cid == PLAYER_ID or cid in self.bubbles:
                continue
            if near is not None and near.id == cid:
                text = tr(self.language, "hint_talk", name=self.display_name(cid))
                label = self.fonts.render(text, 16, (30, 26, 36), bold=True)
                rect = label.get_rect(midbottom=(head.centerx, head.top - 12)).inflate(22, 10)
                pygame.draw.rect(surf, (255, 246, 220), rect, border_radius=14)
                pygame.draw.rect(surf, self.accent(cid), rect, 2, border_radius=14)
                surf.blit(label, label.get_rect(center=rect.center))
                key = pygame.Rect(0, 0, 10, 10)
                key.midtop = (head.centerx, rect.bottom)
                pygame.draw.polygon(
                    surf,
                    (255, 246, 220),
                    [
                        (head.centerx - 7, rect.bottom - 1),
                        (head.centerx + 7, rect.bottom - 1),
                        (head.centerx, rect.bottom + 8),
                    ],
                )
            elif head.h > 7:
                label = self.fonts.render(
                    self.display_name(cid), 13 if head.h < 40 else 15, (255, 255, 255), bold=True
                )
                rect = label.get_rect(midbottom=(head.centerx, head.top - 6)).inflate(12, 4)
                panel(surf, rect, (20, 20, 30, 140), 9)
                surf.blit(label, label.get_rect(center=rect.center))

    def _draw_hud(self, surf: pygame.Surface) -> None:
        w, h = surf.get_size()
        lang = self.language
        draw_status(surf, self.fonts, lang, self.backend_name, self.thinking, self.time, self.note)
        self.lang_button.draw(surf, self.fonts, size=14)
        if self.partner is not None:
            self.meter.draw(
                surf,
                self.fonts,
                pygame.Rect(w - 376, 56, 360, 130),
                lang,
                self.display_name(self.partner.id),
                self.accent(self.partner.id),
            )
            portrait = self.portraits.get(self.partner.id)
            if portrait is not None:
                frame = portrait.get_rect(topright=(w - 384, 56)).inflate(8, 8)
                panel(surf, frame, (18, 20, 30, 200), 10)
                pygame.draw.rect(surf, self.accent(self.partner.id), frame, 2, border_radius=10)
                surf.blit(portrait, portrait.get_rect(center=frame.center))
            self.chatlog.draw(surf)
        self.inventory.draw(surf)
        if self.textbox.active:
            self.textbox.draw(surf)
        else:
            hint = self.fonts.render(tr(lang, "hint_move"), 15, P.UI_TEXT)
            rect = hint.get_rect(midbottom=(w // 2, h - 14)).inflate(24, 10)
            panel(surf, rect, (18, 20, 30, 160), 14)
            surf.blit(hint, hint.get_rect(center=rect.center))
        left = pygame.Rect(16, 60, 440, h - 190)
        if self.debug.visible:
            self.debug.draw(surf, self.fonts, left, lang, self.last_result)
            left = left.move(452, 0)
        if self.memory.visible:
            name = self.display_name(self.partner.id) if self.partner is not None else None
            self.memory.draw(surf, self.fonts, left.inflate(-40, 0).move(-20, 0), lang, name)
        self.toasts.draw(surf, self.fonts, (w // 2, 90))

    # -- loop ------------------------------------------------------------------------------

    def frame(self, events: list[pygame.event.Event], dt: float) -> None:
        """One frame: events, update, draw. Never waits on the engine."""
        for event in events:
            self.handle_event(event)
        self.update(dt)
        self.draw()


def warm_up(rt: Runtime, timeout: float = 30.0) -> None:
    """Run one recall in English and Chinese before the first frame (behind the loading screen),
    so the store's one-time set-up (the Chinese word segmenter's dictionary, SQLite's first
    pages) never lands in the middle of a conversation."""
    first = next(iter(rt.characters), None)
    if first is None:
        return
    try:
        # a player nobody has met: nothing is recalled, so no memory's last access changes
        rt.recall(first, "warm-up", "hello 你好，欢迎", k=1).result(timeout=timeout)
    except Exception as exc:  # a slow or odd store only costs the warm-up
        log.info("warm-up recall failed: %s", exc)


def loading_screen(screen: pygame.Surface, fonts: Fonts, text: str) -> None:
    """A title card while the model loads."""
    w, h = screen.get_size()
    for y in range(0, h, 4):
        pygame.draw.rect(screen, P.mix(P.SKY_TOP, P.SKY_LOW, y / h), (0, y, w, 4))
    title = fonts.render("The Plaza · 广场", 54, (255, 255, 255), bold=True)
    screen.blit(title, title.get_rect(center=(w // 2, h // 2 - 30)))
    sub = fonts.render(text, 20, (255, 240, 220))
    screen.blit(sub, sub.get_rect(center=(w // 2, h // 2 + 30)))


def run(
    app: App,
    *,
    fps: int = FPS,
    max_frames: int = 0,
    on_frame: Callable[[float], None] | None = None,
) -> None:
    """The interactive loop: poll events, update, draw, flip, tick (``max_frames`` > 0 stops early)."""
    clock = pygame.time.Clock()
    dt = 1 / fps
    frames = 0
    while app.running and not (max_frames and frames >= max_frames):
        frames += 1
        start = time.perf_counter()
        app.frame(pygame.event.get(), dt)
        pygame.display.flip()
        if on_frame is not None:
            on_frame((time.perf_counter() - start) * 1000)
        dt = min(0.05, clock.tick(fps) / 1000)
