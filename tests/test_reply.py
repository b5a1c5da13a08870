"""The reply format: rendering, tolerant parsing and the streaming splitter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.dialogue.reply import (
    ReplyStreamer,
    normalise_emotion,
    parse_reply,
    render_meta,
    split_sentences,
)
from engine.persona import Persona
from engine.text.sentences import ends_at_abbreviation
from engine.types import Action


@pytest.fixture(scope="module")
def persona() -> Persona:
    return Persona.model_validate(
        {
            "id": "mira",
            "name": "Mira",
            "names": {"zh": "米拉"},
            "emotions": {
                "set": ["neutral", "happy", "sad", "surprised", "thinking"],
                "baseline": "neutral",
            },
            "actions": [
                {"name": "wave"},
                {"name": "give_item", "parameters": [{"name": "item", "type": "string"}]},
                {
                    "name": "walk_to",
                    "parameters": [
                        {"name": "target", "choices": ["fountain", "tea_house", "stage"]}
                    ],
                },
                {"name": "pour", "parameters": [{"name": "cups", "type": "integer"}]},
            ],
            "relationship": {"max_change_per_turn": 5},
            "style": {"max_reply_chars": 200},
        }
    )


def test_render_meta_round_trips_through_parse(persona: Persona) -> None:
    meta = render_meta(
        "happy", 0.8, [Action(name="give_item", args={"item": "tea"})], {"affinity": 2, "trust": 0}
    )
    parsed = parse_reply("Have some tea. " + meta, persona)
    assert parsed.text == "Have some tea."
    assert (parsed.emotion, parsed.emotion_strength) == ("happy", 0.8)
    assert parsed.actions == [Action(name="give_item", args={"item": "tea"})]
    assert parsed.relationship_delta == {"affinity": 2.0}
    assert parsed.warnings == [] and parsed.had_meta


def test_render_meta_is_empty_without_content() -> None:
    assert render_meta() == ""


@pytest.mark.parametrize(
    ("raw", "emotion", "actions"),
    [
        # well formed
        (
            'Hello! <meta>{"emotion": "happy", "actions": [{"name": "wave"}]}</meta>',
            "happy",
            ["wave"],
        ),
        # closing tag missing
        ('Hello! <meta>{"emotion": "happy", "actions": [{"name": "wave"}]}', "happy", ["wave"]),
        # truncated JSON mid-object
        (
            'Hello! <meta>{"emotion": "happy", "actions": [{"name": "wave", "args": {',
            "happy",
            ["wave"],
        ),
        # truncated mid-string
        ('Hello! <meta>{"emotion": "surpr', "neutral", []),
        # half-written tag only
        ("Hello! <meta", "neutral", []),
        ("Hello! <meta>", "neutral", []),
        # single quotes and Python literals
        ("Hello! <meta>{'emotion': 'sad', 'actions': []}</meta>", "sad", []),
        # trailing commas
        ('Hello! <meta>{"emotion": "happy", "actions": ["wave",],}</meta>', "happy", ["wave"]),
        # unquoted keys
        ('Hello! <meta>{emotion: "happy", strength: 0.4}</meta>', "happy", []),
        # code fence instead of tags
        ('Hello!\n```json\n{"emotion": "thinking"}\n```', "thinking", []),
        # bare trailing object
        ('Hello! {"emotion": "happy", "actions": ["wave"]}', "happy", ["wave"]),
        # not JSON at all: key: value
        ("Hello! <meta>emotion: happy</meta>", "happy", []),
        # garbage
        ("Hello! <meta>@@@!!!</meta>", "neutral", []),
        # no structure at all
        ("Hello!", "neutral", []),
        # Chinese emotion words
        ('你好！<meta>{"emotion": "开心"}</meta>', "happy", []),
        ('你好！<meta>{"emotion": "伤心"}</meta>', "sad", []),
        ('你好！<meta>{"emotion": "有点惊讶"}</meta>', "surprised", []),
        ('你好！<meta>{"情绪": "沉思"}</meta>', "thinking", []),
        # English synonyms and case
        ('Hi. <meta>{"emotion": "JOYFUL"}</meta>', "happy", []),
        ('Hi. <meta>{"emotion": "Curious"}</meta>', "thinking", []),
        # an emotion the persona lacks falls back to a near one, or the baseline
        ('Hi. <meta>{"emotion": "excited"}</meta>', "happy", []),
        ('Hi. <meta>{"emotion": "angry"}</meta>', "sad", []),
        ('Hi. <meta>{"emotion": "hungry"}</meta>', "neutral", []),
        # action given as a string with a call, as a one-key object, and flat
        ('Hi. <meta>{"actions": ["give_item(item=tea)"]}</meta>', "neutral", ["give_item"]),
        (
            'Hi. <meta>{"actions": [{"give_item": {"item": "tea"}}]}</meta>',
            "neutral",
            ["give_item"],
        ),
        (
            'Hi. <meta>{"actions": [{"name": "give_item", "item": "tea"}]}</meta>',
            "neutral",
            ["give_item"],
        ),
        ('Hi. <meta>{"action": "wave"}</meta>', "neutral", ["wave"]),
    ],
)
def test_parse_reply_tolerates_malformed_structure(
    persona: Persona, raw: str, emotion: str, actions: list[str]
) -> None:
    parsed = parse_reply(raw, persona)
    assert parsed.emotion == emotion
    assert [a.name for a in parsed.actions] == actions
    assert "<" not in parsed.text and "{" not in parsed.text and "`" not in parsed.text
    assert parsed.text in ("Hello!", "你好！", "Hi.")


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ({"name": "dance"}, "unknown action"),
        ({"name": "give_item"}, "needs the argument 'item'"),
        ({"name": "give_item", "args": {"item": "tea", "count": 2}}, "has no parameter 'count'"),
        ({"name": "walk_to", "args": {"target": "moon"}}, "not one of"),
        ({"name": "pour", "args": {"cups": "many"}}, "expected a whole number, got text 'many'"),
        ({"name": "pour", "args": {"cups": 2.5}}, "expected a whole number, got 2.5"),
        ({"name": "give_item", "args": {"item": {"nested": 1}}}, "expected text, got a mapping"),
        (42, "unreadable action"),
    ],
)
def test_bad_actions_are_dropped_with_a_warning(
    persona: Persona, action: object, reason: str
) -> None:
    import json

    parsed = parse_reply(f"Sure. <meta>{json.dumps({'actions': [action]})}</meta>", persona)
    assert parsed.actions == []
    assert any(reason in w for w in parsed.warnings), parsed.warnings


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"target": "Fountain"}, {"target": "fountain"}),
        ({"target": "tea_house"}, {"target": "tea_house"}),
    ],
)
def test_action_choices_match_case_insensitively(
    persona: Persona, args: dict[str, str], expected: dict[str, str]
) -> None:
    parsed = parse_reply(
        "Follow me. " + render_meta(actions=[{"name": "walk_to", "args": args}]), persona
    )
    assert parsed.actions == [Action(name="walk_to", args=expected)]


def test_integer_arguments_are_coerced_from_strings(persona: Persona) -> None:
    parsed = parse_reply(
        'Two cups. <meta>{"actions": [{"name": "pour", "args": {"cups": "2"}}]}</meta>', persona
    )
    assert parsed.actions == [Action(name="pour", args={"cups": 2})]


@pytest.mark.parametrize(
    ("raw", "expected"), [(0.7, 0.7), (7, 0.7), (70, 0.7), ("0.3", 0.3), ("high", 0.8), (-1, 0.5)]
)
def test_emotion_strength_is_normalised(persona: Persona, raw: object, expected: float) -> None:
    import json

    parsed = parse_reply(
        f"Oh. <meta>{json.dumps({'emotion': 'happy', 'strength': raw})}</meta>", persona
    )
    assert parsed.emotion_strength == pytest.approx(expected)


def test_relationship_change_is_clamped_per_turn(persona: Persona) -> None:
    parsed = parse_reply(
        'Thanks! <meta>{"relationship": {"affinity": 50, "trust": "x", "love": 3}}</meta>', persona
    )
    assert parsed.relationship_delta == {"affinity": 5.0}
    assert len(parsed.warnings) == 3


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("Mira: Hello there.", "Hello there."),
        ("米拉：你好。", "你好。"),
        ('"Hello there."', "Hello there."),
        ("Hello <|im_end|>", "Hello"),
        ("", ""),
    ],
)
def test_speech_is_cleaned(persona: Persona, raw: str, text: str) -> None:
    assert parse_reply(raw, persona).text == text


def test_long_reply_is_cut_at_a_sentence_end(persona: Persona) -> None:
    parsed = parse_reply("This is a sentence. " * 30, persona)
    assert len(parsed.text) <= 200 and parsed.text.endswith(".")
    assert parsed.warnings


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hi there. How are you?", ["Hi there.", "How are you?"]),
        ("Wait... what?! Really.", ["Wait...", "what?!", "Really."]),
        ("Mr. Smith paid 3.50 for tea. Nice.", ["Mr. Smith paid 3.50 for tea.", "Nice."]),
        ("Use e.g. mint. Or not.", ["Use e.g. mint.", "Or not."]),
        ('She said "go home." Then left.', ['She said "go home."', "Then left."]),
        ("你好！我是陈掌柜。要喝茶吗？", ["你好！", "我是陈掌柜。", "要喝茶吗？"]),
        ("“来了？”他说。好……吧。", ["“来了？”", "他说。", "好……", "吧。"]),
        ("真的吗？！太好了", ["真的吗？！", "太好了"]),
        ("Hello.你好。", ["Hello.", "你好。"]),
        ("Line one\nLine two", ["Line one", "Line two"]),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def _stream(chunks: list[str], **kwargs: object) -> tuple[str, list[str], ReplyStreamer]:
    streamer = ReplyStreamer(**kwargs)  # type: ignore[arg-type]
    pieces = []
    for chunk in chunks:
        pieces.extend(streamer.feed(chunk))
    pieces.extend(streamer.close())
    deltas = "".join(p.text for p in pieces if p.kind == "delta")
    sentences = [p.text for p in pieces if p.kind == "sentence"]
    return deltas, sentences, streamer


def _chunkings(text: str) -> list[list[str]]:
    return [[text], list(text), [text[i : i + 3] for i in range(0, len(text), 3)]]


@pytest.mark.parametrize(
    "reply",
    [
        'Welcome! Have some tea. <meta>{"emotion": "happy"}</meta>',
        "Welcome! Have some tea.<META>{}</META>",
        'Welcome! Have some tea.\n```json\n{"emotion": "happy"}\n```',
        "Welcome! Have some tea.<|im_end|>",
        "Welcome! Have some tea.<end_of_turn>\n<start_of_turn>user",
    ],
)
def test_streamer_never_shows_the_structured_block(reply: str) -> None:
    for chunks in _chunkings(reply):
        deltas, sentences, _ = _stream(chunks)
        assert deltas.strip() == "Welcome! Have some tea."
        assert sentences == ["Welcome!", "Have some tea."]


def test_streamer_emits_sentences_as_soon_as_they_end() -> None:
    streamer = ReplyStreamer()
    assert [p.text for p in streamer.feed("你好！我") if p.kind == "sentence"] == ["你好！"]
    assert [
        p.text for p in streamer.feed("是陈掌柜。") if p.kind == "sentence"
    ] == []  # a quote may follow
    assert [p.text for p in streamer.feed("要") if p.kind == "sentence"] == ["我是陈掌柜。"]


def test_streamer_keeps_closing_quotes_with_their_sentence() -> None:
    _, sentences, _ = _stream(list("“要喝茶吗？”他笑了。"))
    assert sentences == ["“要喝茶吗？”", "他笑了。"]


def test_streamer_drops_a_leading_speaker_label() -> None:
    for chunks in _chunkings(" Mira: Hello. Bye."):
        deltas, sentences, _ = _stream(chunks, names=["Mira"])
        assert deltas == "Hello. Bye."
        assert sentences == ["Hello.", "Bye."]


def test_streamer_keeps_text_that_only_starts_like_a_label() -> None:
    deltas, _, _ = _stream(["Mi", "ra is my name."], names=["Mira"])
    assert deltas == "Mira is my name."


def test_streamer_stops_visible_text_at_max_chars() -> None:
    deltas, sentences, streamer = _stream(["One. Two. Three. Four."], max_chars=10)
    assert deltas == "One. Two. "
    assert sentences == ["One.", "Two."]
    assert streamer.truncated


def test_streamer_keeps_the_raw_text_for_parsing() -> None:
    raw = 'Hi. <meta>{"emotion": "happy"}</meta>'
    _, _, streamer = _stream(list(raw))
    assert streamer.raw == raw and streamer.in_meta


@settings(max_examples=200, deadline=None)
@given(
    speech=st.text(
        alphabet=st.sampled_from(list("ab c.!?。！？“”\"'<>metaMETA你好\n")), max_size=40
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=8), max_size=20),
)
def test_streamer_output_never_contains_the_block(speech: str, cuts: list[int]) -> None:
    reply = speech + '<meta>{"emotion": "happy"}</meta>'
    chunks, i = [], 0
    for cut in cuts:
        chunks.append(reply[i : i + cut])
        i += cut
    chunks.append(reply[i:])
    deltas, sentences, _ = _stream(chunks)
    assert '"emotion"' not in deltas and "<meta" not in deltas.lower()
    assert all("<meta" not in s.lower() for s in sentences)
    # Every visible character comes from the speech, in order.
    assert speech.lstrip().startswith(deltas) or deltas == ""


@pytest.mark.parametrize(
    ("word", "allowed", "expected"),
    [
        ("Happy", ["happy"], "happy"),
        ("高兴", ["happy"], "happy"),
        ("very sad", ["sad"], "sad"),
        ("blah", ["happy"], None),
    ],
)
def test_normalise_emotion(word: str, allowed: list[str], expected: str | None) -> None:
    assert normalise_emotion(word, allowed) == expected


def test_streamer_stops_at_another_speakers_turn() -> None:
    for chunks in _chunkings("Sure, follow me.\nAda: thanks!\nMira: welcome"):
        deltas, sentences, streamer = _stream(chunks, stops=["\nAda:"])
        assert deltas.strip() == "Sure, follow me." and sentences == ["Sure, follow me."]
        assert streamer.stopped


def test_streamer_meta_is_not_a_stop() -> None:
    _, _, streamer = _stream(['Hi. <meta>{"emotion": "happy"}</meta>'], stops=["\nAda:"])
    assert streamer.in_meta and not streamer.stopped


@pytest.mark.parametrize(
    "reply", ["<think>The player greets me. I should be warm.</think>\nHello there. Welcome!"]
)
def test_streamer_hides_a_reasoning_models_thinking(reply: str) -> None:
    for chunks in _chunkings(reply):
        deltas, sentences, _ = _stream(chunks)
        assert deltas == "Hello there. Welcome!"
        assert sentences == ["Hello there.", "Welcome!"]


def test_unfinished_thinking_shows_nothing(persona: Persona) -> None:
    deltas, sentences, _ = _stream(["<think>hmm, what", " should I say"])
    assert (deltas, sentences) == ("", [])
    assert parse_reply("<think>hmm</think> Hi! <meta>{}</meta>", persona).text == "Hi!"


@pytest.mark.parametrize(
    ("text", "abbreviation"),
    [("a nurse at St.", True), ("ask Dr.", True), ("J.", True), ("at the end.", False),
     ("no dot", False)],
)  # fmt: skip
def test_a_dot_after_an_abbreviation_ends_no_sentence(text: str, abbreviation: bool) -> None:
    assert ends_at_abbreviation(text) is abbreviation
