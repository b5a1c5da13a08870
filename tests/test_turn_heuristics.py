"""The pure parts of a turn: heuristics after a reply, greetings, who answers in a group."""

from __future__ import annotations

import pytest

from engine.dialogue.facts import fact_sentence
from engine.dialogue.heuristics import (
    choose_line,
    extract_facts,
    importance,
    remembered_detail,
    second_person,
    sentiment,
    summarise,
)
from engine.dialogue.prompt import assemble
from engine.persona import Persona
from engine.runtime.greeting import compose_greeting
from engine.runtime.scenes import addressed, choose_responder
from engine.types import Fact


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("My name is Ada and I love sailing.", [("name", "Ada"), ("loves", "sailing")]),
        ("Call me Bob.", [("name", "Bob")]),
        ("I'm Ada.", [("name", "Ada")]),
        ("I'm sorry, I'm tired.", []),
        ("I'm from Leeds and I work as a baker.", [("comes from", "Leeds"), ("works as", "baker")]),
        ("My favourite colour is green.", [("favourite colour", "green")]),
        ("My sister keeps bees on the hill.", [("sister", "keeps bees on the hill")]),
        ("我叫小林，我最喜欢龙井。", [("name", "小林"), ("favourite", "龙井")]),
        ("我来自杭州。", [("comes from", "杭州")]),
        ("我是土生土长的河口镇人，小时候常来。", [("comes from", "河口镇")]),
        ("我今年25岁", [("age", "25")]),
        ("我姓钱，钱有福，在菜场卖鱼的。", [("name", "钱有福")]),
        ("我姓钱，你呢？", []),
        ("What is your name?", []),
    ],
)
def test_extract_facts(text: str, facts: list[tuple[str, str]]) -> None:
    assert [(f.predicate, f.object) for f in extract_facts(text)] == facts


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("hi", "My mother died last winter."),
        ("ok", "我答应过妈妈要去看海。"),
        ("Nice weather.", "I promise I'll keep your secret!"),
    ],
)
def test_importance_ranks_disclosures_above_small_talk(low: str, high: str) -> None:
    assert 1 <= importance(low) < importance(high) <= 10


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("Thank you, this is a gift for you!", 1),
        ("You are useless, shut up.", -1),
        ("谢谢你！", 1),
        ("闭嘴", -1),
    ],
)
def test_sentiment_nudges_affinity(text: str, sign: int) -> None:
    assert sentiment(text)["affinity"] * sign > 0


def test_neutral_line_has_no_sentiment() -> None:
    assert sentiment("The fountain is in the middle.") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My sister and I", "Your sister and you"),
        ("I'm tired of my job", "you're tired of your job"),
        ("我的猫", "你的猫"),
        ("我女朋友最爱喝你家的龙井", "你女朋友最爱喝我家的龙井"),  # the character's own tea
        ("Plum wine. I love it! my dog does too", "Plum wine. You love it! Your dog does too"),
        ("I like it. I do", "you like it. You do"),
        ("Our Jack turns nine.", "Your Jack turns nine."),
        ("the wife'll be in later, Maureen.", "your wife'll be in later, Maureen."),
        ("The missus and I", "Your missus and you"),
        ("I fixed the husband of my neighbour", "you fixed the husband of your neighbour"),
        # what the player says of the character's side is turned too
        ("My daughter is seven, she loves your lanterns.",
         "Your daughter is seven, she loves my lanterns."),
        ("I think you sell the best tea in town", "you think I sell the best tea in town"),
        ("I brought you a cake", "you brought me a cake"),
        ("Your tea is great. I come every week", "My tea is great. You come every week"),
        ("you're the best. Thank you!", "I'm the best. Thank you!"),
        ("俺是黑龙江鹤岗的，俺们那嘎达冷", "你是黑龙江鹤岗的，你们那嘎达冷"),
        # "you" after before / until / as does something
        ("Leeds, before you ask where I'm from", "Leeds, before I ask where you're from"),
        ("I waited until you came", "you waited until I came"),
        ("I gave it to you before lunch", "you gave it to me before lunch"),
    ],
)  # fmt: skip
def test_second_person(text: str, expected: str) -> None:
    assert second_person(text) == expected


def test_remembered_detail_picks_the_memorable_sentence_not_the_name() -> None:
    lines = ["hi", "I'm Ada. My sister keeps bees on the hill.", "ok bye"]
    assert remembered_detail(lines, chinese=False) == "you said your sister keeps bees on the hill"
    assert remembered_detail(["hi", "ok"], chinese=False) is None
    assert remembered_detail(["我妹妹在山上养蜂。"], chinese=True) == "你妹妹在山上养蜂"
    assert remembered_detail(["I love sailing."], chinese=True) == "你说过“I love sailing”"


def test_remembered_detail_leaves_out_the_greeting_that_opens_a_line() -> None:
    # Said to the character, not told about the player: "我还记着呢：陈掌柜好，……" read wrong.
    told = ["陈掌柜好，我叫小红，在医院当护士，我最爱喝龙井。"]
    assert remembered_detail(told, chinese=True) == "你在医院当护士，你最爱喝龙井"
    told = ["Hi Mira, I'm a blacksmith from Harrowdale."]
    assert remembered_detail(told, chinese=False) == "you said you're a blacksmith from Harrowdale"
    # The player is greeted by name: a name clause goes, and what follows keeps a subject.
    told = ["I'm Ada, a blacksmith from the north."]
    assert remembered_detail(told, chinese=False) == "you said you're a blacksmith from the north"
    told = ["I'm Tess, I repair clocks in the old tower, and my cat is called Pudding."]
    assert (
        remembered_detail(told, chinese=False)
        == "you said you repair clocks in the old tower, and your cat is called Pudding"
    )
    # A name told as the surname first: "我姓钱，钱有福" is the name, the rest is the detail.
    told = ["我姓钱，钱有福，在菜场卖鱼的。"]
    assert remembered_detail(told, chinese=True) == "你在菜场卖鱼的"
    told = ["我姓钱，你呢？"]
    assert remembered_detail(told, chinese=True) is None


def test_summary_keeps_important_lines_in_order_and_stays_short() -> None:
    lines = [
        ("Ada", "hi"),
        ("Ada", "My sister keeps bees."),
        ("Mira", "Lovely!"),
        ("Ada", "I promised to visit."),
    ]
    text = summarise(lines, "Earlier: Ada arrived.")
    assert text.startswith("Earlier: Ada arrived.")
    assert text.index("bees") < text.index("promised") and "hi" not in text.split("|")[-1]
    assert len(summarise([("Ada", "word " * 100)] * 50, max_chars=300)) <= 300


def test_choose_line_is_stable() -> None:
    lines = ["a", "b", "c"]
    assert choose_line(lines, "key") == choose_line(lines, "key")
    assert choose_line([], "key") == ""


def test_returning_greeting_uses_name_and_detail(cast: dict[str, Persona]) -> None:
    text, language = compose_greeting(
        cast["mira"], name="Ada", met=True, player_lines=["I love sailing in the bay."], key="k"
    )
    assert language == "en" and "Ada" in text and "you said you love sailing in the bay" in text


def test_first_meeting_greeting_for_a_new_player(cast: dict[str, Persona]) -> None:
    text, _ = compose_greeting(cast["chen"], name=None, met=False, player_lines=[], key="k")
    assert text in cast["chen"].greetings.first_meeting


def test_bilingual_character_greets_in_the_players_language(cast: dict[str, Persona]) -> None:
    text, language = compose_greeting(
        cast["lin"], name="小林", met=True, player_lines=["我最喜欢猜灯谜。"], key="k"
    )
    assert language == "zh" and "小林" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bram, what do you sell?", "bram"),
        ("陈掌柜，来壶茶。", "chen"),
        ("Hi Mira! And hello Bram.", "mira"),
        ("Lovely evening, everyone.", "mira"),  # the most talkative
    ],
)
def test_who_answers(cast: dict[str, Persona], text: str, expected: str) -> None:
    present = {c: cast[c] for c in ("mira", "bram", "chen")}
    assert choose_responder(text, present) == expected


def test_a_character_is_less_eager_right_after_speaking(cast: dict[str, Persona]) -> None:
    present = {c: cast[c] for c in ("mira", "bram")}
    assert choose_responder("Nice night.", present, last_speaker="mira") == "bram"


def test_names_inside_words_do_not_count(cast: dict[str, Persona]) -> None:
    assert addressed("Abramovich was here", {"bram": cast["bram"]}) == []


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("what do I like to drink?", []),
        ("Do you remember what I do for a living?", []),
        ("What's my favourite drink again?", []),
        ("I'm from Leeds, do you know it?", [("comes from", "Leeds")]),
        ("我最喜欢喝什么茶，你还记得吗？", []),
        ("我是哪里人来着？", []),
        ("我最喜欢什么", []),
        ("我叫小明，你叫什么？", [("name", "小明")]),
    ],
)
def test_a_question_is_never_read_as_a_fact(text: str, facts: list[tuple[str, str]]) -> None:
    assert [(f.predicate, f.object) for f in extract_facts(text)] == facts


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("I have a cat called Pepper.", [("cat", "Pepper")]),
        ("My sister Juno is visiting next week.", [("sister", "Juno")]),
        ("I'm a beekeeper from Carrow Hill.", [("is a", "beekeeper"),
                                                ("comes from", "Carrow Hill")]),
        # Where someone is from, said without a place name, is still where they are from.
        ("I'm a blacksmith from the north.", [("is a", "blacksmith"), ("comes from", "the north")]),
        ("I'm Oskar, a carpenter from the south.", [("name", "Oskar"), ("is a", "carpenter"),
                                                    ("comes from", "the south")]),
        ("I grew up in the mountains.", [("comes from", "the mountains")]),
        ("我叫王磊，是送快递的，老家在东北。", [("name", "王磊"), ("comes from", "东北"),
                                            ("is a", "送快递")]),
        ("我叫小林，是在银行上班的。", [("name", "小林"), ("works at", "银行")]),
        ("Name's Rowan.", [("name", "Rowan")]),
        ("我叫小明，是从苏州来的。", [("name", "小明"), ("comes from", "苏州")]),
        ("我家还养了一只小狗，叫豆豆。", [("小狗", "豆豆")]),
    ],
)  # fmt: skip
def test_facts_keep_the_named_relation(text: str, facts: list[tuple[str, str]]) -> None:
    assert [(f.predicate, f.object) for f in extract_facts(text)] == facts


@pytest.mark.parametrize(
    ("fact", "sentence"),
    [
        (("Ada", "favourite drink", "plum wine"), "Ada's favourite drink is plum wine"),
        (("Ada", "is a", "blacksmith"), "Ada is a blacksmith"),
        (("Ada", "works as", "engineer"), "Ada works as an engineer"),
        (("Ada", "loves", "sailing"), "Ada loves sailing"),
        (("Ada", "comes from", "Leeds"), "Ada comes from Leeds"),
        (("Ada", "cat", "Pepper"), "Ada's cat is called Pepper"),
        (("Ada", "sister", "keeps bees on the hill"), "Ada's sister keeps bees on the hill"),
        (("Ada", "age", "25"), "Ada is 25 years old"),
        (("小明", "favourite", "龙井"), "小明最喜欢龙井"),
        (("小明", "comes from", "苏州"), "小明来自苏州"),
        (("小明", "小狗", "豆豆"), "小明的小狗叫豆豆"),
        (("李娜", "works at", "医院"), "李娜在医院工作"),
    ],
)
def test_a_fact_reads_as_a_sentence_about_its_subject(
    fact: tuple[str, str, str], sentence: str
) -> None:
    assert fact_sentence(*fact) == sentence


def test_the_prompt_shows_facts_as_sentences() -> None:
    persona = Persona(name="Mira")
    fact = Fact(id=1, character="mira", player="p1", subject="Ada", predicate="favourite drink",
                object="plum wine", confidence=0.9, created=0.0)  # fmt: skip
    prompt = assemble(persona, "Hi", player_name="Ada", facts=[fact])
    section = prompt.section("facts")
    assert section is not None
    assert "- Ada's favourite drink is plum wine" in section.messages[0].content


def test_a_returning_greeting_never_leaves_its_detail_slot_empty(cast: dict[str, Persona]) -> None:
    # Nothing memorable told but a name, and every one of chen's returning lines wants a detail.
    for key in "abcdefgh":
        text, _ = compose_greeting(cast["chen"], name="钱有福", met=True, key=key,
                                   player_lines=["陈掌柜好！我姓钱，钱有福。"])  # fmt: skip
        assert "：。" not in text and "我记得，" not in text and text.startswith("钱有福")
        text, _ = compose_greeting(cast["chen"], name=None, met=True, key=key,
                                   player_lines=["陈掌柜好！"])  # fmt: skip
        assert "：。" not in text and "{" not in text and text.startswith("朋友")
