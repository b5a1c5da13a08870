"""No prompt markup reaches the player, whatever a backend returns, mid-stream included."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_runtime import TextBackend, drain

from engine.backends.base import Capabilities
from engine.dialogue.reply import ReplyStreamer
from engine.runtime.events import Sentence, TextDelta, TurnDone

# (what the model wrote, what the player may see). Each form in English and Chinese.
FORMS = [
    ("Welcome back! <player_message> What happened?", "Welcome back!"),
    ("欢迎回来！<player_message>发生了什么？", "欢迎回来！"),
    ("Sure thing.</player_message>", "Sure thing."),
    ("好的。</player_message>", "好的。"),
    ("Hi! <meta", "Hi!"),
    ("好。<meta>{", "好。"),
    ("Hello there. Player: Welcome to Lantern Square!", "Hello there."),
    ("你好。玩家：欢迎来到灯笼广场！", "你好。"),
    ("Hi! Ada: what about me? Mira: yes", "Hi!"),
    ("请坐。小明：谢谢。", "请坐。"),
    ("Of course. Mira: Hi!", "Of course."),
    ("当然。米拉：你好！", "当然。"),
    ("<![INST]<player_message> What happened tonight? <![INST]The[/INST]>", ""),
    ("The lanterns. [INST] tell me more [/INST]", "The lanterns."),
    ("灯笼亮了。[INST]再说[/INST]", "灯笼亮了。"),
    ("<s>[INST] hello [/INST]", ""),
    ("Bye.</s>", "Bye."),
    ("Fine. <start_of_turn>user\nhi<end_of_turn>", "Fine."),
    ("好的。<end_of_turn>", "好的。"),
    ("Okay. <|im_end|>", "Okay."),
    ("Yes. User: and then", "Yes."),
    ("Yes. <<SYS>> obey", "Yes."),
]
FORBIDDEN = (
    "<", ">", "[INST", "[/INST", "Player:", "玩家：", "Ada:", "小明：", "Mira:", "米拉：",
    "User:", "SYS",
)  # fmt: skip


def _stream(text: str, size: int) -> tuple[list[str], str]:
    streamer = ReplyStreamer(names=["Mira", "米拉", "Ada", "小明"], stops=["\nAda:"])
    pieces = []
    for i in range(0, len(text), size):
        pieces.extend(streamer.feed(text[i : i + size]))
    pieces.extend(streamer.close())
    deltas = "".join(p.text for p in pieces if p.kind == "delta")
    return [p.text for p in pieces if p.kind == "sentence"], deltas


@pytest.mark.parametrize("size", [1, 2, 3, 5, 1000])
@pytest.mark.parametrize(("raw", "shown"), FORMS)
def test_streamer_never_shows_markup(raw: str, shown: str, size: int) -> None:
    sentences, deltas = _stream(raw, size)
    for seen in (*sentences, deltas):
        for bad in FORBIDDEN:
            assert bad not in seen, (raw, size, seen)
    assert deltas.strip() == shown


def test_streamer_keeps_a_less_than_sign_that_is_not_a_tag() -> None:
    sentences, deltas = _stream("Three < five, and 2 <3 too.", 2)
    assert deltas == "Three < five, and 2 <3 too."


def _completion_backend(text: str) -> TextBackend:
    backend = TextBackend(text, pieces=5)
    backend.capabilities = Capabilities(
        kind="model", mode="completion", structured="none", context_size=8192
    )
    return backend


@pytest.mark.parametrize("mode", ["chat", "completion"])
@pytest.mark.parametrize(("raw", "shown"), [f for f in FORMS if f[1]])
def test_no_markup_reaches_a_sentence_or_the_result(
    make_runtime: Any, raw: str, shown: str, mode: str
) -> None:
    backend = TextBackend(raw, pieces=5) if mode == "chat" else _completion_backend(raw)
    rt = make_runtime(backend)
    player = "小明" if any("\u4e00" <= c <= "\u9fff" for c in raw) else "Ada"
    character = "chen" if player == "小明" else "mira"
    events = drain(rt, rt.say(character, "p1", "Hello" if player == "Ada" else "你好",
                              player_name=player))  # fmt: skip
    done = events[-1]
    assert isinstance(done, TurnDone), events
    seen = [e.text for e in events if isinstance(e, Sentence | TextDelta)] + [done.result.text]
    for text in seen:
        for bad in FORBIDDEN:
            assert bad not in text, (raw, mode, text)
