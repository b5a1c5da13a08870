"""Interface widgets: the IME-aware text box, speech bubbles, the chat log, buttons and toasts.

Each widget follows the pygame-ce examples' shape: ``handle_event`` for input, ``update(dt)``
for time, ``draw(surface)`` for pixels. None of them touch the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pygame

from demo import palette as P
from demo.fonts import Fonts

_PANELS: dict[tuple[int, int, tuple[int, ...], int], pygame.Surface] = {}


def panel(
    surf: pygame.Surface,
    rect: pygame.Rect,
    colour: tuple[int, ...] = (20, 22, 32, 200),
    radius: int = 12,
) -> None:
    """A translucent rounded rectangle (cached by size and colour)."""
    key = (rect.w, rect.h, tuple(colour), radius)
    bg = _PANELS.get(key)
    if bg is None:
        bg = pygame.Surface(rect.size, pygame.SRCALPHA)
        pygame.draw.rect(bg, colour, bg.get_rect(), border_radius=radius)
        if len(_PANELS) > 64:
            _PANELS.clear()
        _PANELS[key] = bg
    surf.blit(bg, rect)


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs and full-width punctuation."""
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xFF00 <= o <= 0xFFEF
        or 0x3000 <= o <= 0x303F
    )


def join_sentences(parts: list[str]) -> str:
    """Join sentences with a space between Latin text, none between Chinese."""
    out = ""
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if out and not (is_cjk(out[-1]) or is_cjk(part[0])):
            out += " "
        out += part
    return out


class TextBox:
    """A one-line text box that understands IME composition (TEXTEDITING) and commits (TEXTINPUT).

    The composition is drawn inline, underlined, at the caret, like a native text field; the IME
    candidate window is placed under the box with ``pygame.key.set_text_input_rect``.
    """

    def __init__(
        self,
        fonts: Fonts,
        rect: pygame.Rect,
        on_submit: Callable[[str], bool | None],
        *,
        size: int = 22,
    ) -> None:
        self.fonts = fonts
        self.rect = rect
        self.on_submit = on_submit
        self.size = size
        self.text = ""
        self.caret = 0
        self.composition = ""
        self.composition_caret = 0
        self.active = False
        self.placeholder = ""
        self.help = ""
        self.blink = 0.0
        self.scroll = 0

    def activate(self) -> None:
        """Focus the box and start receiving text (and IME) events."""
        self.active = True
        pygame.key.start_text_input()
        pygame.key.set_text_input_rect(self.rect)

    def deactivate(self) -> None:
        self.active = False
        self.composition = ""
        pygame.key.stop_text_input()

    def clear(self) -> None:
        self.text, self.caret, self.composition = "", 0, ""

    def handle_event(self, event: pygame.event.Event) -> bool:
        """Consume ``event`` if it is for the box; returns True when consumed."""
        if not self.active:
            return False
        if event.type == pygame.TEXTEDITING:
            self.composition = event.text
            self.composition_caret = event.start
            self.blink = 0.0
            return True
        if event.type == pygame.TEXTINPUT:
            self.composition = ""
            self.text = self.text[: self.caret] + event.text + self.text[self.caret :]
            self.caret += len(event.text)
            self.blink = 0.0
            return True
        if event.type != pygame.KEYDOWN:
            return False
        if self.composition:
            return True  # the IME owns the keyboard while composing
        key = event.key
        if key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            line = self.text.strip()
            if line:
                if self.on_submit(line) is not False:
                    self.clear()
            return True
        if key == pygame.K_BACKSPACE and self.caret > 0:
            self.text = self.text[: self.caret - 1] + self.text[self.caret :]
            self.caret -= 1
        elif key == pygame.K_DELETE:
            self.text = self.text[: self.caret] + self.text[self.caret + 1 :]
        elif key == pygame.K_LEFT:
            self.caret = max(0, self.caret - 1)
        elif key == pygame.K_RIGHT:
            self.caret = min(len(self.text), self.caret + 1)
        elif key == pygame.K_HOME:
            self.caret = 0
        elif key == pygame.K_END:
            self.caret = len(self.text)
        elif key == pygame.K_ESCAPE:
            return False
        self.blink = 0.0
        return key not in (
            pygame.K_ESCAPE,
            pygame.K_F1,
            pygame.K_F2,
            pygame.K_F3,
            pygame.K_PAGEUP,
            pygame.K_PAGEDOWN,
        )

    def update(self, dt: float) -> None:
        self.blink += dt

    def draw(self, surf: pygame.Surface) -> None:
        if not self.active:
            return
        r = self.rect
        panel(surf, r.inflate(12, 34).move(0, 9), (20, 22, 32, 170), 16)
        pygame.draw.rect(surf, (250, 248, 242), r, border_radius=12)
        pygame.draw.rect(surf, P.UI_ACCENT, r, 2, border_radius=12)
        inner = r.inflate(-28, 0)
        before, after = self.text[: self.caret], self.text[self.caret :]
        colour = (40, 36, 48)
        x = inner.x - self.scroll
        y = r.centery
        font = self.fonts.font(self.size)
        if not self.text and not self.composition:
            ph = self.fonts.render(self.placeholder, self.size, (150, 148, 160))
            surf.blit(ph, ph.get_rect(midleft=(inner.x, y)))
            caret_x = inner.x
        else:
            clip = surf.get_clip()
            surf.set_clip(inner)
            w_before = font.size(before)[0]
            w_comp = font.size(self.composition)[0] if self.composition else 0
            caret_px = w_before + (
                font.size(self.composition[: self.composition_caret])[0] if self.composition else 0
            )
            if caret_px - self.scroll > inner.w - 8:
                self.scroll = caret_px - inner.w + 8
            elif caret_px - self.scroll < 0:
                self.scroll = max(0, caret_px - 20)
            x = inner.x - self.scroll
            if before:
                surf.blit(
                    self.fonts.render(before, self.size, colour), (x, y - font.get_height() // 2)
                )
            if self.composition:
                comp = self.fonts.render(self.composition, self.size, (30, 110, 200))
                cx = x + w_before
                pygame.draw.rect(
                    surf,
                    (220, 234, 250),
                    (cx - 1, y - font.get_height() // 2, w_comp + 2, font.get_height()),
                )
                surf.blit(comp, (cx, y - font.get_height() // 2))
                pygame.draw.line(
                    surf,
                    (30, 110, 200),
                    (cx, y + font.get_height() // 2 - 3),
                    (cx + w_comp, y + font.get_height() // 2 - 3),
                    2,
                )
            if after:
                surf.blit(
                    self.fonts.render(after, self.size, colour),
                    (x + w_before + w_comp, y - font.get_height() // 2),
                )
            surf.set_clip(clip)
            caret_x = x + caret_px
        if (self.blink % 1.0) < 0.55:
            pygame.draw.line(surf, (40, 36, 48), (caret_x, y - 12), (caret_x, y + 12), 2)
        if self.help:
            hp = self.fonts.render(self.help, 14, P.UI_MUTED)
            surf.blit(hp, hp.get_rect(midtop=(r.centerx, r.bottom + 5)))


@dataclass
class SpeechBubble:
    """What a character is saying: fills sentence by sentence, typed out briskly."""

    character: str
    name: str
    accent: P.Colour
    sentences: list[str] = field(default_factory=list)
    shown: float = 0.0
    waiting: bool = True
    done: bool = False
    age: float = 0.0
    linger: float = 0.0
    fallback: bool = False

    @property
    def text(self) -> str:
        return join_sentences(self.sentences)

    def add(self, sentence: str) -> None:
        self.sentences.append(sentence)
        self.waiting = False

    def finish(self, text: str, *, fallback: bool = False) -> None:
        """The turn ended: make sure the bubble holds exactly the final text."""
        if text and join_sentences([text]) != self.text:
            self.sentences = [text]
        self.waiting = False
        self.done = True
        self.fallback = fallback

    def update(self, dt: float) -> None:
        self.age += dt
        full = self.text
        if self.shown < len(full):
            rate = 22.0 if full and is_cjk(full[min(int(self.shown), len(full) - 1)]) else 55.0
            self.shown = min(len(full), self.shown + rate * dt)
        elif self.done:
            self.linger += dt

    @property
    def revealing(self) -> bool:
        return self.shown < len(self.text)

    def skip(self) -> None:
        self.shown = float(len(self.text))

    def draw(
        self,
        surf: pygame.Surface,
        fonts: Fonts,
        head: pygame.Rect,
        *,
        avoid: pygame.Rect | None = None,
    ) -> pygame.Rect:
        """Draw above ``head``; returns the bubble's rectangle."""
        width = 400
        size = 20
        if self.waiting:
            dots = "·" * (1 + int(self.age * 3) % 3)
            body = fonts.render(f" {dots} ", 26, (90, 90, 100), bold=True)
        else:
            body = fonts.render(self.text[: int(self.shown)] or " ", size, (34, 32, 42), wrap=width)
        pad = 16
        rect = pygame.Rect(0, 0, max(body.get_width() + 2 * pad, 120), body.get_height() + 2 * pad)
        sw, sh = surf.get_size()
        rect.midbottom = (head.centerx, head.top - 18)
        rect.left = max(12, min(rect.left, sw - rect.w - 12))
        if avoid is not None and rect.colliderect(avoid):
            rect.right = min(rect.right, avoid.left - 8)
            rect.left = max(12, rect.left)
        if rect.top < 64:
            rect.top = 64
        shadow = rect.move(3, 4)
        panel(surf, shadow, (0, 0, 0, 60), 16)
        tail_x = max(rect.left + 24, min(head.centerx, rect.right - 24))
        tip = (
            (head.centerx, head.top - 4)
            if rect.bottom < head.top - 4
            else (tail_x, rect.bottom + 14)
        )
        pygame.draw.polygon(
            surf,
            (252, 250, 246),
            [(tail_x - 11, rect.bottom - 2), (tail_x + 11, rect.bottom - 2), tip],
        )
        pygame.draw.rect(surf, (252, 250, 246), rect, border_radius=16)
        pygame.draw.rect(surf, self.accent, rect, 3, border_radius=16)
        surf.blit(body, (rect.x + pad, rect.y + pad))
        tag = fonts.render(self.name, 15, (255, 255, 255), bold=True)
        tag_rect = tag.get_rect(bottomleft=(rect.x + 14, rect.y + 9)).inflate(14, 4)
        pygame.draw.rect(surf, P.shade(self.accent, 0.75), tag_rect, border_radius=9)
        surf.blit(tag, tag.get_rect(center=tag_rect.center))
        return rect


@dataclass
class LogEntry:
    speaker: str
    text: str
    colour: P.Colour
    player: bool = False
    note: bool = False


class ChatLog:
    """Every line of the conversation, newest at the bottom; the wheel or PgUp/PgDn scrolls it."""

    def __init__(self, fonts: Fonts, rect: pygame.Rect) -> None:
        self.fonts = fonts
        self.rect = rect
        self.entries: list[LogEntry] = []
        self.scroll = 0  # pixels scrolled up from the bottom
        self.title = ""

    def add(
        self, speaker: str, text: str, colour: P.Colour, *, player: bool = False, note: bool = False
    ) -> None:
        self.entries.append(LogEntry(speaker, text, colour, player, note))
        self.scroll = 0

    def handle_event(self, event: pygame.event.Event) -> bool:
        if event.type == pygame.MOUSEWHEEL and self.rect.collidepoint(pygame.mouse.get_pos()):
            self.scroll = max(0, self.scroll + event.y * 40)
            return True
        if event.type == pygame.KEYDOWN and event.key in (pygame.K_PAGEUP, pygame.K_PAGEDOWN):
            step = self.rect.h - 80
            self.scroll = max(0, self.scroll + (step if event.key == pygame.K_PAGEUP else -step))
            return True
        return False

    def draw(self, surf: pygame.Surface) -> None:
        r = self.rect
        panel(surf, r, (18, 20, 30, 190))
        title = self.fonts.render(self.title, 15, P.UI_MUTED, bold=True)
        surf.blit(title, (r.x + 14, r.y + 10))
        body = pygame.Rect(r.x + 12, r.y + 36, r.w - 24, r.h - 46)
        clip = surf.get_clip()
        surf.set_clip(body)
        y = body.bottom + self.scroll
        total = 0
        for entry in reversed(self.entries):
            if not entry.speaker:
                text = entry.text
            elif entry.text[:1] and is_cjk(entry.text[0]):
                text = f"{entry.speaker}：{entry.text}"
            else:
                text = f"{entry.speaker}: {entry.text}"
            colour = (
                P.UI_MUTED if entry.note else (P.UI_TEXT if not entry.player else (200, 226, 255))
            )
            line = self.fonts.render(text, 16, colour, wrap=body.w - 12)
            y -= line.get_height() + 8
            total += line.get_height() + 8
            if y > body.bottom:
                continue
            if y + line.get_height() < body.top:
                break
            pygame.draw.rect(surf, entry.colour, (body.x, y + 3, 3, line.get_height() - 6))
            surf.blit(line, (body.x + 10, y))
        surf.set_clip(clip)
        self.scroll = min(self.scroll, max(0, total - body.h))
        if self.scroll > 0:
            more = self.fonts.render("▼", 14, P.UI_ACCENT)
            surf.blit(more, more.get_rect(bottomright=(r.right - 10, r.bottom - 6)))


class Button:
    """A clickable label."""

    def __init__(self, rect: pygame.Rect, label: str) -> None:
        self.rect = rect
        self.label = label

    def clicked(self, event: pygame.event.Event) -> bool:
        return (
            event.type == pygame.MOUSEBUTTONDOWN
            and event.button == 1
            and self.rect.collidepoint(event.pos)
        )

    def draw(
        self, surf: pygame.Surface, fonts: Fonts, *, size: int = 15, colour: P.Colour = (60, 64, 84)
    ) -> None:
        hover = self.rect.collidepoint(pygame.mouse.get_pos())
        pygame.draw.rect(
            surf, P.shade(colour, 1.2) if hover else colour, self.rect, border_radius=8
        )
        label = fonts.render(self.label, size, P.UI_TEXT, bold=True)
        surf.blit(label, label.get_rect(center=self.rect.center))


@dataclass
class Toast:
    text: str
    colour: P.Colour
    age: float = 0.0
    life: float = 3.0


class Toasts:
    """Short notes that float up and fade: '+2 affinity', 'Mira heads to the stage'."""

    def __init__(self) -> None:
        self.items: list[Toast] = []

    def add(self, text: str, colour: P.Colour = P.UI_ACCENT, life: float = 3.0) -> None:
        self.items.append(Toast(text, colour, life=life))

    def update(self, dt: float) -> None:
        for toast in self.items:
            toast.age += dt
        self.items = [t for t in self.items if t.age < t.life]

    def draw(self, surf: pygame.Surface, fonts: Fonts, anchor: tuple[int, int]) -> None:
        x, y = anchor
        for i, toast in enumerate(reversed(self.items)):
            label = fonts.render(toast.text, 17, toast.colour, bold=True)
            rise = min(1.0, toast.age * 3) * 10
            rect = label.get_rect(center=(x, y - i * 30 - rise)).inflate(20, 8)
            panel(surf, rect, (18, 20, 30, 170), 10)
            surf.blit(label, label.get_rect(center=rect.center))


@dataclass
class FlyingItem:
    """A received item: floats from the giver's hand to the player, then into the item strip."""

    name: str
    start: tuple[float, float]
    mid: tuple[float, float]
    end: tuple[float, float]
    t: float = 0.0
    duration: float = 1.8

    @property
    def done(self) -> bool:
        return self.t >= self.duration

    def position(self) -> tuple[float, float]:
        u = min(1.0, self.t / self.duration)
        if u < 0.5:
            k = u / 0.5
            a, b = self.start, self.mid
        else:
            k = (u - 0.5) / 0.5
            a, b = self.mid, self.end
        k = k * k * (3 - 2 * k)
        x = a[0] + (b[0] - a[0]) * k
        y = a[1] + (b[1] - a[1]) * k - math.sin(math.pi * k) * 60
        return x, y


def item_colour(name: str) -> P.Colour:
    """A stable, pleasant colour for an item name."""
    h = sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 360
    colour = pygame.Color(0)
    colour.hsva = (h, 55, 92, 100)
    return (colour.r, colour.g, colour.b)


def draw_item_icon(
    surf: pygame.Surface, fonts: Fonts, name: str, center: tuple[float, float], size: int = 40
) -> None:
    """A round token with the item's first letter (or character)."""
    c = item_colour(name)
    pygame.draw.circle(surf, P.shade(c, 0.6), (center[0] + 2, center[1] + 3), size / 2)
    pygame.draw.circle(surf, c, center, size / 2)
    pygame.draw.circle(
        surf, P.shade(c, 1.3), (center[0] - size * 0.15, center[1] - size * 0.15), size * 0.14
    )
    glyph = fonts.render(name[:1].upper(), int(size * 0.5), (40, 30, 40), bold=True)
    surf.blit(glyph, glyph.get_rect(center=center))


class Inventory:
    """The strip of items the player has been given, bottom left."""

    def __init__(self, fonts: Fonts, origin: tuple[int, int]) -> None:
        self.fonts = fonts
        self.origin = origin
        self.items: list[str] = []
        self.title = ""

    def slot(self, index: int) -> tuple[int, int]:
        return (self.origin[0] + 34 + index * 58, self.origin[1] + 44)

    def draw(self, surf: pygame.Surface) -> None:
        if not self.items:
            return
        n = len(self.items)
        rect = pygame.Rect(self.origin[0], self.origin[1], 24 + n * 58, 96)
        panel(surf, rect, (18, 20, 30, 170))
        surf.blit(
            self.fonts.render(self.title, 13, P.UI_MUTED, bold=True), (rect.x + 10, rect.y + 6)
        )
        for i, name in enumerate(self.items):
            x, y = self.slot(i)
            draw_item_icon(surf, self.fonts, name, (x, y), 38)
            label = self.fonts.render(name[:10], 12, P.UI_TEXT)
            surf.blit(label, label.get_rect(midtop=(x, y + 22)))
