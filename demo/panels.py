"""Information panels: status line, relationship meter, F1 debug panel, F2 memory panel."""

from __future__ import annotations

import math
from concurrent.futures import Future
from typing import Any

import pygame

from demo import palette as P
from demo.fonts import Fonts
from demo.i18n import stage_name, tr
from demo.widgets import Button, panel

SECTION_COLOURS = [
    (255, 196, 92),
    (120, 200, 170),
    (130, 170, 250),
    (240, 130, 130),
    (200, 150, 240),
    (180, 210, 110),
    (240, 170, 120),
]


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draw_status(
    surf: pygame.Surface,
    fonts: Fonts,
    lang: str,
    backend: str,
    thinking: str | None,
    t: float,
    note: str = "",
) -> None:
    """Top-left pill: the active backend and whether a reply is being generated."""
    text = tr(lang, "backend", name=backend)
    state = tr(lang, "thinking", name=thinking) if thinking else tr(lang, "ready")
    a = fonts.render(text, 15, P.UI_TEXT, bold=True)
    b = fonts.render(state, 15, P.UI_ACCENT if thinking else (150, 220, 160))
    w = a.get_width() + b.get_width() + 64
    rect = pygame.Rect(12, 12, w, 34)
    panel(surf, rect, (18, 20, 30, 200), 17)
    dot = (rect.x + 18, rect.centery)
    if thinking:
        for i in range(8):
            ang = t * 6 + i * math.tau / 8
            k = (i + 1) / 8
            pygame.draw.circle(
                surf,
                P.mix((60, 60, 70), P.UI_ACCENT, k),
                (dot[0] + math.cos(ang) * 6, dot[1] + math.sin(ang) * 6),
                1.8,
            )
    else:
        pygame.draw.circle(surf, (120, 220, 140), dot, 5)
    surf.blit(a, a.get_rect(midleft=(rect.x + 32, rect.centery)))
    sep_x = rect.x + 40 + a.get_width()
    pygame.draw.line(surf, (80, 84, 100), (sep_x, rect.y + 8), (sep_x, rect.bottom - 8))
    surf.blit(b, b.get_rect(midleft=(sep_x + 10, rect.centery)))
    if note:
        n = fonts.render(note, 13, (255, 170, 150))
        surf.blit(n, (rect.x + 8, rect.bottom + 4))


class RelationshipMeter:
    """Affinity, trust and familiarity with the current partner, easing to new values."""

    def __init__(self) -> None:
        self.values = {"affinity": 0.0, "trust": 0.0, "familiarity": 0.0}
        self.targets = dict(self.values)
        self.stage = "stranger"
        self.flash = 0.0

    def set(self, relationship: Any, *, instant: bool = False) -> None:
        for key in self.targets:
            self.targets[key] = float(getattr(relationship, key, 0.0) or 0.0)
        self.stage = str(getattr(relationship, "stage", "stranger") or "stranger")
        if instant:
            self.values = dict(self.targets)
        else:
            self.flash = 1.0

    def update(self, dt: float) -> None:
        k = min(1.0, dt * 4)
        for key, target in self.targets.items():
            self.values[key] += (target - self.values[key]) * k
        self.flash = max(0.0, self.flash - dt)

    def draw(
        self,
        surf: pygame.Surface,
        fonts: Fonts,
        rect: pygame.Rect,
        lang: str,
        name: str,
        accent: P.Colour,
    ) -> None:
        panel(surf, rect, (18, 20, 30, 200))
        if self.flash > 0:
            pygame.draw.rect(
                surf, P.mix((18, 20, 30), accent, self.flash), rect, 2, border_radius=12
            )
        title = fonts.render(name, 18, P.UI_TEXT, bold=True)
        surf.blit(title, (rect.x + 14, rect.y + 8))
        stage = fonts.render(stage_name(lang, self.stage), 14, accent, bold=True)
        pill = stage.get_rect(topright=(rect.right - 14, rect.y + 12)).inflate(14, 4)
        pygame.draw.rect(surf, P.shade(accent, 0.35), pill, border_radius=9)
        surf.blit(stage, stage.get_rect(center=pill.center))
        y = rect.y + 42
        for key, lo in (("affinity", -100.0), ("trust", -100.0), ("familiarity", 0.0)):
            value = self.values[key]
            label = fonts.render(tr(lang, key), 13, P.UI_MUTED)
            surf.blit(label, (rect.x + 14, y))
            bar = pygame.Rect(rect.x + 100, y + 5, rect.w - 160, 8)
            pygame.draw.rect(surf, (50, 54, 70), bar, border_radius=4)
            if lo < 0:
                mid = bar.centerx
                w = bar.w / 2 * max(-1.0, min(1.0, value / 100))
                fill = (
                    pygame.Rect(mid, bar.y, w, bar.h)
                    if w >= 0
                    else pygame.Rect(mid + w, bar.y, -w, bar.h)
                )
                pygame.draw.rect(
                    surf, (120, 210, 150) if value >= 0 else (230, 110, 110), fill, border_radius=4
                )
                pygame.draw.line(surf, (120, 124, 140), (mid, bar.y - 2), (mid, bar.bottom + 1))
            else:
                fill = pygame.Rect(bar.x, bar.y, bar.w * max(0.0, min(1.0, value / 100)), bar.h)
                pygame.draw.rect(surf, (130, 170, 250), fill, border_radius=4)
            num = fonts.render(f"{value:+.0f}" if lo < 0 else f"{value:.0f}", 13, P.UI_TEXT)
            surf.blit(num, num.get_rect(midright=(rect.right - 12, y + 9)))
            y += 22


class DebugPanel:
    """F1: what the last reply was built from: memories and lore with scores, prompt section sizes."""

    def __init__(self) -> None:
        self.visible = False
        self.warnings: list[str] = []

    def draw(
        self, surf: pygame.Surface, fonts: Fonts, rect: pygame.Rect, lang: str, result: Any
    ) -> None:
        panel(surf, rect, (14, 16, 26, 225))
        x, y = rect.x + 16, rect.y + 12
        surf.blit(fonts.render(tr(lang, "debug_title"), 18, P.UI_ACCENT, bold=True), (x, y))
        y += 32
        if result is None:
            surf.blit(fonts.render(tr(lang, "debug_none"), 15, P.UI_MUTED), (x, y))
            return
        width = rect.w - 32
        surf.blit(fonts.render(tr(lang, "debug_sections"), 15, P.UI_TEXT, bold=True), (x, y))
        y += 24
        sections = dict(result.sections)
        total = max(1, sum(sections.values()))
        bx = x
        for i, tokens in enumerate(sections.values()):
            w = max(2, int(width * tokens / total))
            pygame.draw.rect(surf, SECTION_COLOURS[i % len(SECTION_COLOURS)], (bx, y, w, 12))
            bx += w
        y += 18
        col = 0
        for i, (name, tokens) in enumerate(sections.items()):
            label = fonts.render(f"{name} {tokens}", 13, P.UI_TEXT)
            lx = x + col * (width // 3)
            pygame.draw.rect(surf, SECTION_COLOURS[i % len(SECTION_COLOURS)], (lx, y + 5, 8, 8))
            surf.blit(label, (lx + 12, y))
            col += 1
            if col == 3:
                col, y = 0, y + 18
        y += 26 if col else 8
        usage = result.usage
        line = tr(
            lang,
            "debug_usage",
            prompt=usage.prompt_tokens,
            completion=usage.completion_tokens,
            ms=int(usage.latency_ms),
            backend=result.backend,
        )
        usage_text = fonts.render(line, 13, P.UI_MUTED, wrap=width)
        surf.blit(usage_text, (x, y))
        y += usage_text.get_height() + 4
        actions = ", ".join(
            a.name + (f"({', '.join(str(v) for v in a.args.values())})" if a.args else "")
            for a in result.actions
        )
        delta = " ".join(f"{k} {v:+.0f}" for k, v in result.relationship_delta.items() if v)
        reply = tr(
            lang,
            "debug_reply",
            emotion=result.emotion,
            strength=result.emotion_strength,
            actions=actions or "—",
            delta=delta or "—",
        )
        reply_text = fonts.render(reply, 13, P.UI_TEXT, wrap=width)
        surf.blit(reply_text, (x, y))
        y += reply_text.get_height() + 12
        surf.blit(
            fonts.render(
                f"{tr(lang, 'debug_memories')} ({len(result.memories)})", 15, P.UI_TEXT, bold=True
            ),
            (x, y),
        )
        y += 24
        for recalled in result.memories[:7]:
            s = recalled.score
            pygame.draw.rect(surf, (50, 54, 70), (x, y + 4, 44, 8), border_radius=4)
            pygame.draw.rect(
                surf,
                (120, 210, 150),
                (x, y + 4, 44 * max(0.0, min(1.0, s.total)), 8),
                border_radius=4,
            )
            surf.blit(fonts.render(f"{s.total:.2f}", 13, P.UI_ACCENT), (x + 50, y))
            text = fonts.render(_short(recalled.memory.text, 90), 13, P.UI_TEXT, wrap=width - 90)
            surf.blit(text, (x + 90, y))
            y += text.get_height() + 1
            parts = f"rel {s.relevance:.2f} · rec {s.recency:.2f} · imp {s.importance:.2f} · lex {s.lexical:.2f} · sem {s.semantic:.2f}"
            surf.blit(fonts.render(parts, 12, P.UI_MUTED), (x + 90, y))
            y += 20
            if y > rect.bottom - 80:
                break
        y += 6
        surf.blit(
            fonts.render(
                f"{tr(lang, 'debug_lore')} ({len(result.lore)})", 15, P.UI_TEXT, bold=True
            ),
            (x, y),
        )
        y += 22
        for name in result.lore[:6]:
            if y > rect.bottom - 22:
                break
            surf.blit(fonts.render("• " + _short(name, 60), 13, P.UI_TEXT), (x, y))
            y += 18
        for message in self.warnings[-3:]:
            if y > rect.bottom - 22:
                break
            note = fonts.render(
                tr(lang, "warning", message=_short(message, 120)), 12, (255, 190, 140), wrap=width
            )
            surf.blit(note, (x, y))
            y += note.get_height() + 4


class MemoryPanel:
    """F2: what the current partner remembers about the player, each with a "forget" button."""

    def __init__(self) -> None:
        self.visible = False
        self.character: str | None = None
        self.future: Future[Any] | None = None
        self.records: list[Any] = []
        self.error = ""
        self.buttons: list[tuple[Button, int]] = []

    def load(self, character: str, future: Future[Any]) -> None:
        self.character = character
        self.future = future

    def update(self) -> None:
        """Pick up a finished query without ever waiting for it."""
        if self.future is not None and self.future.done():
            try:
                self.records = list(self.future.result())
                self.error = ""
            except Exception as exc:  # shown in the panel; the scene keeps running
                self.error = str(exc)
            self.future = None

    def clicked_forget(self, event: pygame.event.Event) -> int | None:
        for button, memory_id in self.buttons:
            if button.clicked(event):
                return memory_id
        return None

    def draw(
        self, surf: pygame.Surface, fonts: Fonts, rect: pygame.Rect, lang: str, name: str | None
    ) -> None:
        panel(surf, rect, (14, 16, 26, 225))
        x, y = rect.x + 16, rect.y + 12
        self.buttons = []
        if name is None:
            surf.blit(
                fonts.render(tr(lang, "memory_pick"), 15, P.UI_MUTED, wrap=rect.w - 32), (x, y)
            )
            return
        surf.blit(
            fonts.render(
                tr(lang, "memory_title", name=name), 18, P.UI_ACCENT, bold=True, wrap=rect.w - 32
            ),
            (x, y),
        )
        y += 36
        if self.error:
            surf.blit(fonts.render(self.error, 14, (255, 150, 140), wrap=rect.w - 32), (x, y))
            return
        if self.future is not None and not self.records:
            surf.blit(fonts.render(tr(lang, "memory_loading"), 15, P.UI_MUTED), (x, y))
            return
        if not self.records:
            surf.blit(fonts.render(tr(lang, "memory_none"), 15, P.UI_MUTED), (x, y))
            return
        for record in self.records:
            text = fonts.render(_short(record.text, 140), 14, P.UI_TEXT, wrap=rect.w - 120)
            if y + text.get_height() > rect.bottom - 12:
                break
            kind = fonts.render(
                f"{tr(lang, 'kind_' + record.kind)} · {record.importance:.0f}", 11, P.UI_MUTED
            )
            surf.blit(kind, (x, y))
            surf.blit(text, (x, y + 14))
            button = Button(pygame.Rect(rect.right - 86, y + 8, 70, 24), tr(lang, "forget"))
            button.draw(surf, fonts, size=12, colour=(120, 60, 64))
            self.buttons.append((button, int(record.id)))
            y += text.get_height() + 24
