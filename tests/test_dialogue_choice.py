"""Grounding a reply and choosing between candidates, in English and Chinese."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_runtime import drain

from engine.backends.base import Capabilities, Chunk, GenerationParams
from engine.backends.render import render_compact
from engine.dialogue.choice import (
    GROUNDED,
    follows,
    greets_other,
    misnames,
    parrots,
    rate,
    reject,
    score,
    to_player,
    trim,
)
from engine.dialogue.grounding import (
    Ground,
    addresses_player,
    claims_as_own,
    compose,
    ground,
    in_own_words,
    is_question,
    is_small_talk,
)
from engine.dialogue.prompt import Prompt, assemble
from engine.runtime.events import TurnDone
from engine.text.script import is_cjk
from engine.types import Usage

ADA = ["Hi, I'm Ada. I'm a blacksmith from the north and my favourite drink is plum wine."]
XM = ["我叫小明，刚来这里。我最喜欢龙井。我是一名医生。"]
KNOW_EN = [
    "There is an open mic on the stage every evening at eight; sign up before seven.",
    "The lanterns are lit at dusk. A wish tag costs one coin at Bram's stall.",
]
KNOW_ZH = ["茶馆每天早上七点开门，晚上十一点打烊。", "泡绿茶的水不能太烫，八十度上下最好。"]


@pytest.mark.parametrize(
    ("question", "lines", "player", "note", "said"),
    [
        ("Do you remember what I do for a living?", ADA, "Ada",
         "Ada is a blacksmith from the north", ": you're a blacksmith from the north."),
        ("What do I like to drink?", ADA, "Ada",
         "Ada's favourite drink is plum wine", "your favourite drink is plum wine."),
        ("你还记得我最喜欢什么茶吗？", XM, "小明", "小明最喜欢龙井", "记得，你最喜欢龙井。"),
        ("我是做什么工作的？", XM, "小明", "小明是一名医生", "记得，你是一名医生。"),
    ],
)  # fmt: skip
def test_a_question_about_the_player_finds_what_they_said(
    question: str, lines: list[str], player: str, note: str, said: str
) -> None:
    items = ground(question, player=player, player_lines=lines, knowledge=[])
    assert items and items[0].kind == "memory" and items[0].asked
    assert note in items[0].note
    assert said in compose(items[0], language="zh" if player == "小明" else "en")


@pytest.mark.parametrize(
    ("question", "knowledge", "said"),
    [
        ("How much is a wish tag?", KNOW_EN, "A wish tag costs one coin at Bram's stall."),
        ("When is the open mic?", KNOW_EN, "There is an open mic on the stage every evening"),
        ("茶馆几点开门？", KNOW_ZH, "七点开门"),
        ("泡绿茶的水要多热？", KNOW_ZH, "八十度"),
    ],
)
def test_a_question_about_the_world_finds_the_knowledge_line(
    question: str, knowledge: list[str], said: str
) -> None:
    items = ground(question, player="Ada", player_lines=[], knowledge=knowledge)
    assert [i.kind for i in items] == ["knowledge"] and items[0].asked
    assert said in compose(items[0], language="zh" if "茶" in question else "en")


@pytest.mark.parametrize(
    ("question", "lines", "player", "said"),
    [
        ("Do you remember me?", ["Hi! My name is Alex. I love jasmine tea."], "Alex",
         "Of course I remember: you love jasmine tea."),
        ("你还记得我吗？", ["你好！我叫小明，刚来这里。我最喜欢龙井。"], "小明", "记得，你最喜欢龙井。"),
    ],
)  # fmt: skip
def test_do_you_remember_me_finds_the_most_memorable_thing_said(
    question: str, lines: list[str], player: str, said: str
) -> None:
    items = ground(question, player=player, player_lines=lines, knowledge=[])
    assert items and items[0].asked
    assert compose(items[0], language="zh" if player == "小明" else "en") == said


def test_a_statement_asks_nothing() -> None:
    assert not is_question("I'm a blacksmith from the north.")
    assert not is_question("我是一名医生。")
    items = ground("I'm back from the north.", player="Ada", player_lines=ADA, knowledge=KNOW_EN)
    assert not any(i.asked for i in items)


@pytest.mark.parametrize(
    ("text", "player_line", "language", "reason"),
    [
        ("", "Hi", "en", "empty"),
        ("……", "你好", "zh", "empty"),
        ("Do you remember what I do?", "Do you remember what I do?", "en", "echo"),
        ("你还记得我是做什么的吗？", "你还记得我是做什么的吗", "zh", "echo"),
        ("Hello! <player_message>", "Hi", "en", "markup"),
        ("好的。玩家：你好", "你好", "zh", "markup"),
        ("Sure. Ada: thanks", "Hi", "en", "markup"),
        ("Welcome to the square!", "你好", "zh", "wrong language"),
        ("欢迎来到广场！", "Hello", "en", "wrong language"),
        ("Welcome back, friend!", "Hello again", "en", None),
        ("欢迎回来，朋友！", "我又来了", "zh", None),
    ],
)
def test_reject_names_what_rules_a_line_out(
    text: str, player_line: str, language: str, reason: str | None
) -> None:
    assert reject(text, player_line=player_line, language=language, names=["Ada"]) == reason


def test_a_reply_naming_the_remembered_detail_beats_one_that_does_not() -> None:
    q = "What do I like to drink?"
    items = ground(q, player="Ada", player_lines=ADA, knowledge=[])
    named = score("Plum wine, of course! I'll pour you one.", question=q, grounding=items,
                  player="Ada")  # fmt: skip
    vague = score("Something warm, I think.", question=q, grounding=items, player="Ada")
    assert named.grounded >= GROUNDED > vague.grounded
    assert named.score > vague.score


def test_the_players_detail_said_as_the_characters_own_is_turned_to_the_player() -> None:
    q = "What do I like to drink?"
    items = ground(q, player="Ada", player_lines=ADA, knowledge=[])
    own = "I like plum wine, it is a rich drink."
    assert score(own, question=q, grounding=items, player="Ada").grounded < GROUNDED
    turned = to_player(own, items, "Ada")
    assert turned == "You like plum wine, it is a rich drink."
    rated = rate(turned, question=q, grounding=items, player="Ada", language="en")
    assert rated is not None and rated.grounded >= GROUNDED


def test_a_turned_sentence_after_the_first_opens_with_a_capital() -> None:
    q = "What do I like to drink?"
    items = ground(q, player="Ada", player_lines=ADA, knowledge=[])
    assert to_player("Plum wine. I love it!", items, "Ada") == "Plum wine. You love it!"


def test_a_made_up_number_does_not_count_as_naming_the_knowledge() -> None:
    q = "How much is a wish tag?"
    items = ground(q, player="Ada", player_lines=[], knowledge=KNOW_EN)
    right = score("It costs one coin at Bram's stall.", question=q, grounding=items, player="Ada")
    wrong = score("It costs 25 coins at Bram's stall.", question=q, grounding=items, player="Ada")
    assert right.grounded >= GROUNDED > wrong.grounded


@pytest.mark.parametrize(
    ("q", "right", "wrong"),
    [
        ("渡船早上几点开？", "六点一刻。", "六点四十。"),
        ("船票多少钱？", "十二块五。", "十二块。"),
    ],
)
def test_a_chinese_time_or_price_the_knowledge_does_not_hold_names_nothing(
    q: str, right: str, wrong: str
) -> None:
    knowledge = ["渡船每天早上六点一刻从北岸开，晚上九点收船。", "船票十二块五，小孩半价。"]
    items = ground(q, player="Ada", player_lines=[], knowledge=knowledge)
    said = score(right, question=q, grounding=items, player="Ada")
    made_up = score(wrong, question=q, grounding=items, player="Ada")
    assert said.grounded >= GROUNDED > made_up.grounded


def test_trim_keeps_whole_sentences() -> None:
    assert trim("One. Two! Three? Four.", 3) == "One. Two! Three?"
    assert trim("One. Two and then", 3) == "One."
    assert trim("好的。请坐！喝茶吗？还有", 3) == "好的。请坐！喝茶吗？"


def test_the_compact_transcript_puts_the_focus_right_before_the_question(cast: Any) -> None:
    q = "What do I like to drink?"
    items = ground(q, player="Ada", player_lines=ADA, knowledge=cast["mira"].knowledge)
    prompt = assemble(cast["mira"], f"<player_message>\n{q}\n</player_message>",
                      player_name="Ada", grounding=items, language="en")  # fmt: skip
    text = render_compact(prompt)
    assert text.endswith(f"(Mira remembers: Ada's favourite drink is plum wine.)\nAda: {q}\nMira:")
    assert "<player_message>" not in text and "<meta>" not in text


class _Candidates:
    """A base-model backend that answers with the next of ``texts`` on each call."""

    name = "candidates"
    capabilities = Capabilities(kind="model", mode="completion", structured="none")

    def __init__(self, *texts: str, greet: str = "Welcome, Ada!") -> None:
        self.texts = list(texts)
        self.calls = 0
        self.greet = greet

    async def stream(self, prompt: Prompt, params: GenerationParams | None = None) -> Any:
        text = self.texts[min(self.calls, len(self.texts) - 1)]
        self.calls += 1
        if self.greet and "Hi, I'm Ada" in prompt.user_text:
            text = self.greet  # the introduction before the question
        yield Chunk(text=text)
        yield Chunk(usage=Usage(prompt_tokens=10, completion_tokens=5, model="c"))


def _ask(make_runtime: Any, backend: _Candidates, question: str) -> Any:
    rt = make_runtime(backend)
    drain(rt, rt.say("mira", "p1", ADA[0], player_name="Ada"))
    backend.calls = 0
    done = drain(rt, rt.say("mira", "p1", question, player_name="Ada"))[-1]
    assert isinstance(done, TurnDone)
    return done.result


def test_the_first_grounded_candidate_is_shown_and_sampling_stops(make_runtime: Any) -> None:
    backend = _Candidates("Welcome!", "What do I like to drink?", "Plum wine, you said!", "Tea.")
    result = _ask(make_runtime, backend, "What do I like to drink?")
    assert result.text == "Plum wine, you said!" and not result.composed


def test_when_no_candidate_names_it_a_grounded_line_is_composed(make_runtime: Any) -> None:
    backend = _Candidates("Hello, Ada.", "<player_message>", "What do I like to drink?", "Hm.")
    result = _ask(make_runtime, backend, "What do I like to drink?")
    assert result.composed
    assert result.text == "Of course I remember: your favourite drink is plum wine."


def _tell(make_runtime: Any, backend: _Candidates, line: str, player: str) -> Any:
    rt = make_runtime(backend)
    done = drain(rt, rt.say("mira", player, line))[-1]
    assert isinstance(done, TurnDone)
    return done.result


def test_a_reply_claiming_what_the_player_told_gives_way_to_taking_it_in(
    make_runtime: Any,
) -> None:
    told = "I keep bees up on the hill above the mill."
    # one that only talks past it stays the model's
    past = _tell(
        make_runtime, _Candidates("The weather's fine.", "Hm, lanterns.", "Tea?"), told, "p1"
    )
    assert not past.composed
    # said as the character's own ("I keep bees too"): taken in instead
    own = _tell(make_runtime, _Candidates("Oh, I keep bees myself, up on the hill."), told, "p2")
    assert own.composed and own.text.lower().startswith(("you keep", "so you keep"))
    assert own.text.rstrip().endswith((".", "?")) and "?." not in own.text
    # a reply that takes it in is the model's own
    kept = _tell(make_runtime, _Candidates("Bees! Up by the mill? Lovely."), told, "p3")
    assert kept.text == "Bees! Up by the mill? Lovely." and not kept.composed


def test_rejected_lines_never_reach_the_history(make_runtime: Any) -> None:
    backend = _Candidates("<player_message>")
    rt = make_runtime(backend)
    drain(rt, rt.say("mira", "p1", "Hello there", player_name="Ada"))
    turns = rt.recent_turns("mira", "p1").result(5)
    assert all("<" not in t.text for t in turns)


@pytest.mark.parametrize(
    ("text", "keys", "own"),
    [
        # "you" elsewhere in the line does not make the trade the player's.
        ("Oh, long story. I was a blacksmith up north before you came.", {"blacksmith"}, True),
        ("You're a blacksmith, I remember.", {"blacksmith"}, False),
        ("我是银行的，你呢？", {"银行"}, True),
        ("你是银行的，我记得。", {"银行"}, False),
    ],
)
def test_the_clause_that_names_the_detail_decides_whose_it_is(
    text: str, keys: set[str], own: bool
) -> None:
    item = Ground(kind="memory", note="", said="", keys=frozenset(keys), asked=True)
    assert claims_as_own(text, "Ada", item) is own


@pytest.mark.parametrize(
    ("text", "player", "wrong"),
    [
        ("Your name is Mira, you're from the north.", "Ada", True),
        ("You're Ada, from the north.", "Ada", False),
        ("你叫米拉，是从北方来的。", "小明", True),
        ("你叫小明，是从北方来的。", "小明", False),
        # the player's own introduction said back as the character's
        ("婆婆，我叫小明，是送快递的，老家在东北。", "小明", True),
        ("Hi! I'm Ada, a blacksmith from the north.", "Ada", True),
        ("Ada! I'm glad you came back.", "Ada", False),
        # a player who gave no name is "Player" in the prompt, never to their face
        ("Hi, Player! I'm Mira.", "Player", True),
        ("欢迎你，Player！", "Player", True),
        ("Are you a chess player?", "Player", False),
        # the character introducing itself by a name no one has: the player's, not yet known
        ("别叫我，我姓陈，我叫小周。", "Player", True),
        ("我叫米拉，欢迎来广场。", "Player", False),
        ("我叫你一声妹子吧。", "Player", False),
        ("Hi there! My name's Priya and I fix bikes.", "Player", True),
        ("Call me Mira, everyone does.", "Player", False),
        # a name the player told of someone else given to the player
        ("Yes, your name is Pepper.", "Ada", True),
        ("Your name's Ada, and your dog is Pepper.", "Ada", False),
        ("记得，你叫豆豆。", "小明", True),
        ("记得，你叫小明。", "小明", False),
        ("记得，你叫阿怡。", "陈嘉怡", False),
        ("Your name's Rob, right?", "Robbie", False),
    ],
)
def test_a_reply_giving_the_player_another_name_is_ruled_out(
    text: str, player: str, wrong: bool
) -> None:
    assert misnames(text, player, ["Mira", "米拉", player]) is wrong
    rated = rate(text, question="Where am I from?", grounding=[], player=player,
                 language="zh" if is_cjk(text[0]) or player == "小明" else "en",
                 names=["Mira", "米拉", player])  # fmt: skip
    assert (rated is None) is wrong


def test_what_follows_an_opening_is_checked_sentence_by_sentence() -> None:
    items = ground("How much does a wish tag cost?", player="Ada", player_lines=[],
                   knowledge=KNOW_EN)  # fmt: skip
    kw = {"question": "How much does a wish tag cost?", "grounding": items, "player": "Ada",
          "language": "en", "names": ["Mira", "Ada"]}  # fmt: skip
    said = ["One coin at Bram's stall."]
    assert follows("Pick a nice one, they glow all night.", said=said, **kw)
    assert not follows("Or twenty coins for a big one.", said=said, **kw)  # a made-up price
    assert not follows("一个硬币。", said=said, **kw)  # the wrong language
    assert not follows("One coin at Bram's stall!", said=said, **kw)  # said already


@pytest.mark.parametrize(
    ("line", "pronouns", "said"),
    [
        ("The lighthouse on Skerry Isle is kept by her brother Tomas.", "she/her",
         "The lighthouse on Skerry Isle is kept by my brother Tomas."),
        ("Her boat is called the Grey Heron.", "she/her", "My boat is called the Grey Heron."),
        ("Bram sells supplies from his stall.", "he/him", "Bram sells supplies from his stall."),
        ("Lin answers in whichever language you use.", "she/her",
         "Lin answers in whichever language you use."),
        ("他的徒弟叫小周，正在学修怀表。", "他", "我的徒弟叫小周，正在学修怀表。"),
        # "her" that something is done to: "me", not "my"
        ("who gave her her first pony", "she/her", "who gave me my first pony"),
        ("Her aunt taught her to sail.", "she/her", "My aunt taught me to sail."),
    ],
)  # fmt: skip
def test_knowledge_about_the_character_is_said_in_their_own_words(
    line: str, pronouns: str, said: str
) -> None:
    assert in_own_words(line, pronouns) == said


@pytest.mark.parametrize(
    ("line", "pronouns", "names", "said"),
    [
        ("She is studying for an exam in the spring and practises on the visitors.", "she/her",
         ["Lin"], "I am studying for an exam in the spring and practise on the visitors."),
        ("The stall closes when Bram's knee says so.", "he/him", ["Bram"],
         "The stall closes when my knee says so."),
        ("Bram sells supplies from his stall.", "he/him", ["Bram"], "I sell supplies from my stall."),
        ("He watches the gate and sleeps in the tower.", "he/him", ["Oskar"],
         "I watch the gate and sleep in the tower."),
        ("She sells lanterns and candles to the visitors.", "she/her", ["Lin"],
         "I sell lanterns and candles to the visitors."),
        # another character's name or line stays as it is
        ("Bram sells supplies from his stall.", "she/her", ["Mira"],
         "Bram sells supplies from his stall."),
        ("Lin answers in whichever language you use.", "she/her", ["Mira", "米拉"],
         "Lin answers in whichever language you use."),
        ("沈师傅的年糕是全城最好的。", "他", ["沈师傅"], "我的年糕是全城最好的。"),
        ("沈师傅每天五点起来蒸年糕。", "他", ["沈师傅"], "我每天五点起来蒸年糕。"),
        ("沈师傅1992年开的这家店。", "他", ["沈师傅"], "我1992年开的这家店。"),
        ("In spring, when Oskar opens the gate, the carts come in.", "he/him", ["Oskar"],
         "In spring, when I open the gate, the carts come in."),
        ("Ask for Oskar at the gate.", "he/him", ["Oskar"], "Ask for Oskar at the gate."),
    ],
)  # fmt: skip
def test_knowledge_naming_the_character_is_said_in_the_first_person(
    line: str, pronouns: str, names: list[str], said: str
) -> None:
    assert in_own_words(line, pronouns, names) == said


def test_a_composed_answer_says_the_part_that_answers() -> None:
    places = ("Lantern Square has five spots: the fountain in the middle, Chen's tea house up the "
              "east steps, Bram's market stall by the west arch, the notice board beside the south "
              "gate, and the stage at the north end.")  # fmt: skip
    items = ground("Where is Chen's tea house?", player="Ada", player_lines=[], knowledge=[places])
    assert compose(items[0], language="en") == (
        "Lantern Square has five spots: Chen's tea house up the east steps."
    )
    lines = ["Good morning! I'm Oskar, a carpenter from the south, up here to fix the roof."]
    items = ground("Do you remember what my trade is?", player="Oskar", player_lines=lines,
                   knowledge=[])  # fmt: skip
    assert compose(items[0], language="en").endswith(": you're Oskar, a carpenter from the south.")


@pytest.mark.parametrize(
    "line", ["How's your evening going?", "Lovely night, isn't it?", "最近怎么样？"]
)
def test_small_talk_asks_for_no_knowledge(line: str) -> None:
    assert is_small_talk(line)
    items = ground(line, player="Ada", player_lines=[], knowledge=KNOW_EN + KNOW_ZH)
    assert not any(i.asked for i in items)


def test_tonight_finds_what_happens_every_evening() -> None:
    items = ground("What is there to do here tonight?", player="Ada", player_lines=[],
                   knowledge=KNOW_EN)  # fmt: skip
    assert items and items[0].asked and "open mic" in items[0].said


@pytest.mark.parametrize(
    ("lines", "question", "detail"),
    [
        (["I'm Oskar, a carpenter from the south."], "Where did I say I'm from?", "south"),
        (["I am a blacksmith from the north."], "Where am I from?", "north"),
        (["婆婆好！我叫王磊，是送快递的，老家在东北。"], "我是干什么的，您还记得吗？", "快递"),
        (["婆婆好！我叫王磊，是送快递的，老家在东北。"], "我老家是哪儿的？", "东北"),
        (["您好！我叫小林，是在银行上班的，老家在杭州。"], "您还记得我是做什么工作的吗？", "银行"),
        # names ending in a character that otherwise leads an adverb (都, 就, 还)
        (["我是京都人，在茶馆当学徒。"], "你还记得我是哪里人吗？", "京都"),
        (["我老家在首都，爱喝豆汁。"], "我老家在哪儿？", "首都"),
    ],
)
def test_origin_and_trade_are_found_however_they_were_said(
    lines: list[str], question: str, detail: str
) -> None:
    items = ground(question, player="X", player_lines=lines, knowledge=[])
    assert items and items[0].asked and any(detail in k for k in items[0].keys)


class _Opening:
    """A base model with more to say: each candidate's opening is followed by more text; a
    call with ``Prompt.lead`` set (the continuation) answers ``rest``."""

    name = "opening"
    capabilities = Capabilities(kind="model", mode="completion", structured="none")

    def __init__(self, first: str, rest: str) -> None:
        self.first, self.rest = first, rest
        self.leads: list[str] = []

    async def stream(self, prompt: Prompt, params: GenerationParams | None = None) -> Any:
        self.leads.append(prompt.lead)
        text = self.rest if prompt.lead else self.first
        if "Hi, I'm Ada" in prompt.user_text:
            text = "Welcome to the square, Ada!"
        for word in text.split(" "):
            yield Chunk(text=word + " ")
        yield Chunk(usage=Usage(prompt_tokens=10, completion_tokens=5, model="c"))

    async def aclose(self) -> None:
        return None


def test_the_chosen_opening_is_shown_and_the_model_finishes_it(make_runtime: Any) -> None:
    opening = "Plum wine, Ada, the one you told me about last time."
    backend = _Opening(opening + " This should never be shown.", "It suits a blacksmith. 二十。")
    rt = make_runtime(backend)
    drain(rt, rt.say("mira", "p1", ADA[0], player_name="Ada"))
    backend.leads.clear()
    done = drain(rt, rt.say("mira", "p1", "What do I like to drink?", player_name="Ada"))[-1]
    assert isinstance(done, TurnDone) and not done.result.composed
    # One candidate named it (sampling stopped), then one continuation of exactly that opening;
    # the continuation's Chinese sentence is not shown.
    assert backend.leads == ["", opening]
    assert done.result.text == opening + " It suits a blacksmith."


def test_what_the_player_tells_now_is_news_in_the_focus(cast: Any) -> None:
    line = "Hi Mira, I'm Ada. I'm a blacksmith from the north."
    items = ground(line, player="Ada", player_lines=[], knowledge=[])
    assert [(i.heard, i.asked) for i in items] == [(True, False)]
    prompt = assemble(cast["mira"], line, player_name="Ada", grounding=items, language="en")
    assert render_compact(prompt).endswith(
        "(Mira learns: Ada is a blacksmith from the north.)\nMira:"
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('"You\'re a baker, I know you," he said.', "You're a baker, I know you."),
        ('"What do you bake?" she asked, eyes on the table. "Bread?"', "What do you bake? Bread?"),
        ("Plain words, no story.", "Plain words, no story."),
    ],
)
def test_a_line_written_as_a_story_keeps_only_the_spoken_words(text: str, said: str) -> None:
    assert trim(text, 3) == said


def test_news_claimed_as_the_characters_own_does_not_end_the_sampling(make_runtime: Any) -> None:
    backend = _Candidates(
        "Oh, I'm a blacksmith from the north too.", "A blacksmith! Welcome, Ada.", greet=""
    )
    rt = make_runtime(backend)
    done = drain(rt, rt.say("mira", "p1", ADA[0], player_name="Ada"))[-1]
    assert isinstance(done, TurnDone)
    assert done.result.text == "A blacksmith! Welcome, Ada." and backend.calls == 2


def test_a_reply_that_takes_in_no_news_does_not_end_the_sampling(make_runtime: Any) -> None:
    backend = _Candidates("Yes.", "A blacksmith from the north! Sit down.", greet="")
    rt = make_runtime(backend)
    done = drain(rt, rt.say("mira", "p1", ADA[0], player_name="Ada"))[-1]
    assert isinstance(done, TurnDone)
    assert done.result.text == "A blacksmith from the north! Sit down."


@pytest.mark.parametrize(
    ("reply", "takes_in"),
    [
        ("Blacksmiths are always welcome at this fountain.", True),  # the trade
        ("Up north? Then our winters won't scare you.", True),  # where they are from
        ("The fountain is lovely tonight.", False),
    ],
)
def test_news_of_two_kinds_is_taken_in_by_naming_either(reply: str, takes_in: bool) -> None:
    line = "I'm a blacksmith from the north."
    items = ground(line, player="Ada", player_lines=[], knowledge=[])
    assert [i.heard for i in items] == [True] and {"blacksmith", "north"} <= items[0].keys
    assert score(reply, question=line, grounding=items, player="Ada").misses_news is not takes_in


@pytest.mark.parametrize(
    ("reply", "addressed"),
    [
        ("Ada, the fountain is lovely tonight.", True),
        ("Madam, the fountain is lovely tonight.", False),
    ],
)
def test_the_players_name_inside_another_word_does_not_speak_to_them(
    reply: str, addressed: bool
) -> None:
    line = "I'm a blacksmith from the north."
    items = ground(line, player="Ada", player_lines=[], knowledge=[])
    assert score(reply, question=line, grounding=items, player="Ada").misses_news is not addressed
    assert addresses_player(reply, "Ada") is addressed


def test_naming_only_the_head_of_a_detail_is_not_remembering_it() -> None:
    lines = ["Hi Mira! My name is Alex. I just arrived in town and I love jasmine tea."]
    items = ground("Do you remember what I like to drink?", player="Alex", player_lines=lines,
                   knowledge=[])  # fmt: skip
    weak = rate("Oh yes, that tea is the best in town.", question="Do you remember what I like?",
                grounding=items, player="Alex", language="en")  # fmt: skip
    named = rate("Jasmine tea, of course!", question="Do you remember what I like?",
                 grounding=items, player="Alex", language="en")  # fmt: skip
    assert weak is not None and not weak.good
    assert named is not None and named.good


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        ("At eight, don't be late!", True),
        ("Every week, unless I have something else planned.", False),  # near it, not it
    ],
)
def test_a_knowledge_answer_must_name_what_answers_it(reply: str, named: bool) -> None:
    items = ground("When does the open mic start?", player="Ada", player_lines=[],
                   knowledge=KNOW_EN)  # fmt: skip
    rated = rate(reply, question="When does the open mic start?", grounding=items,
                 player="Ada", language="en")  # fmt: skip
    assert rated is not None and rated.good is named


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        ("一个人六十块，娃娃半价。", True),
        ("你能不能开一趟车，把这地方给我叫来？", False),  # "一趟" is one trip, not the price
    ],
)
def test_a_chinese_answer_is_a_number_not_an_article(reply: str, named: bool) -> None:
    lines = ["坐一趟六十块一个人，一米二以下的娃娃半价。", "早上八点半开始拉人。"]
    items = ground("坐一回多少钱一个人？", player="阿杰", player_lines=[], knowledge=lines)
    rated = rate(reply, question="坐一回多少钱一个人？", grounding=items, player="阿杰",
                 language="zh")  # fmt: skip
    assert rated is not None and rated.good is named


def test_naming_a_statement_far_behind_the_best_is_no_answer() -> None:
    told = ["车上还有个搭档，叫黑子，跟了我六年了。", "家里就一个丫头，叫刘小雨，今年高三。"]
    items = ground("我家丫头叫啥你还记得不？", player="老刘", player_lines=told, knowledge=[])
    assert len(items) == 2 and items[0].score > 2 * items[1].score  # the daughter, the mate
    dog = rate("车上还有个搭档，叫黑子。", question="我家丫头叫啥你还记得不？", grounding=items,
               player="老刘", language="zh")  # fmt: skip
    girl = rate("你家丫头叫刘小雨嘛。", question="我家丫头叫啥你还记得不？", grounding=items,
                player="老刘", language="zh")  # fmt: skip
    assert dog is not None and not dog.good
    assert girl is not None and girl.good


def test_news_is_never_said_back_as_a_memory(make_runtime: Any) -> None:
    backend = _Candidates("<player_message>", greet="")
    rt = make_runtime(backend)
    done = drain(rt, rt.say("mira", "p1", ADA[0], player_name="Ada"))[-1]
    assert isinstance(done, TurnDone)
    # taken in as news ("You're Ada, a blacksmith ...? I'll remember that."), never as a memory
    text = done.result.text
    assert not any(lead in text for lead in ("I remember:", "haven't forgotten", "told me"))
    assert "blacksmith" in text and done.result.composed


def test_news_that_would_be_said_back_nearly_whole_is_taken_in_without_it(
    make_runtime: Any,
) -> None:
    """A long piece of news, said back with a lead, would be the player's line again: the
    character takes it in without repeating it."""
    line = "I'm learning the fiddle at the night class, my uncle played but my mum never did"
    backend = _Candidates("I'm learning the fiddle at the night class too.", greet="")
    rt = make_runtime(backend)
    done = drain(rt, rt.say("mira", "p1", line, player_name="Ada"))[-1]
    assert isinstance(done, TurnDone) and done.result.composed
    assert not parrots(done.result.text, line) and "fiddle" not in done.result.text
    # a short piece of news is still said back ("You're a blacksmith ...? I'll remember.")
    backend.texts, backend.calls = ["Oh, I'm a blacksmith too."], 0
    done = drain(rt, rt.say("mira", "p2", "I'm a blacksmith.", player_name="Bo"))[-1]
    assert isinstance(done, TurnDone) and "blacksmith" in done.result.text


@pytest.mark.parametrize(
    "line",
    ["你这丫头，你这丫头，你这丫头，你这丫头", "I know, I know, I know.", "哈哈哈哈哈哈哈哈"],
)
def test_a_line_caught_in_a_loop_is_never_shown(line: str) -> None:
    assert reject(line, player_line="Hi", language=None) == "repetition"


@pytest.mark.parametrize(
    "line", ["Ha ha ha!", "好好好", "茶要慢慢喝，话要慢慢说。", "ding, dong, ding."]
)
def test_a_little_repetition_is_speech(line: str) -> None:
    assert reject(line, player_line="Hi", language=None) is None


@pytest.mark.parametrize(
    ("text", "again"),
    [
        ("是呀，阿梅！好些日子没见了。", True),  # the greeting's first sentence, one word changed
        ("哎，阿梅！好些日子没见了。", True),
        ("是呀，阿梅！今天想喝点什么茶？", False),
        ("旺财呀，我记得，是条黄狗吧？", False),
    ],
)
def test_the_characters_last_line_said_again_sentence_by_sentence_is_ruled_out(
    text: str, again: bool
) -> None:
    greeting = "哎，阿梅！好些日子没见了。我记得你在菜市场卖鱼，你家狗叫旺财，后来怎么样了？"
    why = reject(text, player_line="您还记得我家狗叫啥吗？", language="zh", own_lines=[greeting])
    assert (why == "repeat") is again
    # nor any of the character's recent lines, not only the last
    earlier = reject(
        text, player_line="您还记得我家狗叫啥吗？", language="zh",
        own_lines=[greeting, "今天茶叶刚到，要不要尝尝？"],
    )  # fmt: skip
    assert (earlier == "repeat") is again
    # and a reply's next sentence may not copy it either
    assert follows(
        "我记得你在菜市场卖鱼，你家狗叫旺财，后来怎么样了？", said=[greeting, text],
        question="您还记得我家狗叫啥吗？", grounding=[], player="阿梅", language="zh",
    ) is False  # fmt: skip


def test_naming_the_part_of_a_line_that_was_not_asked_about_does_not_answer() -> None:
    lines = ["The bus to Carrow leaves from stand four at ten past seven in the morning and at "
             "five in the evening.", "Tickets are sold on board."]  # fmt: skip
    q = "When does the evening bus go?"
    items = ground(q, player="Ada", player_lines=[], knowledge=lines)
    wrong = score("It goes at ten past seven, from stand four.", question=q, grounding=items,
                  player="Ada")  # fmt: skip
    right = score("Five o'clock, from stand four.", question=q, grounding=items, player="Ada")
    setting = score("It goes to Carrow, lovely place.", question=q, grounding=items, player="Ada")
    assert right.grounded >= GROUNDED > max(wrong.grounded, setting.grounded)
    # a question that points at no part leaves every part an answer
    items = ground(
        "When does the bus to Carrow go?", player="Ada", player_lines=[], knowledge=lines
    )
    assert all(not g.weak for g in items if g.kind == "knowledge")


def test_a_line_written_as_a_script_or_with_a_stage_direction_is_markup() -> None:
    # the player's name is not yet known to the prompt on the line that tells it
    assert reject("(as he tells Rowan: \"I'm new here.", player_line="Name's Rowan.", language="en")
    assert reject('Rowan: "Welcome!"', player_line="Hi", language="en") == "markup"
    assert reject("Sure: it opens at eight.", player_line="When?", language="en") is None


def test_a_number_the_remembered_statement_does_not_hold_lowers_a_reply() -> None:
    from engine.dialogue.grounding import ground

    grounding = ground("How old will my lad be?", player="Kai",
                       player_lines=["My lad Jack turns nine in July."], knowledge=[])  # fmt: skip
    right = score("He'll be nine in July!", question="How old will my lad be?",
                  grounding=grounding, player="Kai")  # fmt: skip
    made_up = score("Nine in July, and it's his 10th birthday!", question="How old will my lad be?",
                    grounding=grounding, player="Kai")  # fmt: skip
    assert right.good and not made_up.good


def test_an_answer_written_as_a_quiz_key_is_markup() -> None:
    assert reject("答：一会。", player_line="灯谜会是星期几？", language="zh") == "markup"
    assert reject("我问他了：明天。", player_line="什么时候？", language="zh") is None


@pytest.mark.parametrize(
    ("line", "player", "reply", "asks_back"),
    [
        ("I love jasmine tea.", "Alex", "Do you love jasmine tea?", True),
        ("I love jasmine tea.", "Alex", "Jasmine tea? Good choice!", False),
        ("I love jasmine tea.", "Alex", "You love jasmine tea? Which kind?", False),
        ("I'm a blacksmith from the north.", "Ada", "Are you a blacksmith?", True),
        ("我最喜欢龙井。", "小明", "你喜欢龙井吗？", True),
        ("我最喜欢龙井。", "小明", "龙井？好眼光！", False),
        ("我最喜欢龙井。", "小明", "喜欢龙井好啊，我给你泡一壶明前的。", False),
    ],
)
def test_news_only_asked_back_is_not_taken_in(
    line: str, player: str, reply: str, asks_back: bool
) -> None:
    items = ground(line, player=player, player_lines=[], knowledge=[])
    assert [i.heard for i in items] == [True]
    rated = score(reply, question=line, grounding=items, player=player)
    assert rated.misses_news is asks_back


@pytest.mark.parametrize(
    ("reply", "player", "line", "wrong"),
    [
        ("Hello there, Zofia.", "Alex", "I'm Alex, my sister Zofia sent me.", True),
        ("Welcome back, Rua!", "Niamh", "Rua's been chasing your hens again.", True),
        ("Hello there, Alex.", "Alex", "I'm Alex, my sister Zofia sent me.", False),
        ("Hi Zofia!", "Alex", "Hi there.", False),  # no one the player spoke of
        ("Hello, Zofia's brother!", "Alex", "my sister Zofia sent me", False),
        ("Welcome to Lantern Square. Zofia sent you?", "Alex", "Zofia sent me", False),
        ("你好，朵朵！", "小芳", "我女儿朵朵想来看看。", True),
        ("欢迎光临，朵朵。", "小芳", "朵朵想来看看。", True),
        ("你好，小芳！", "小芳", "我女儿朵朵想来看看。", False),
        ("你好，阿芳！", "陈小芳", "我女儿朵朵想来看看。", False),
    ],
)
def test_a_greeting_by_the_name_of_someone_the_player_spoke_of_is_ruled_out(
    reply: str, player: str, line: str, wrong: bool
) -> None:
    assert greets_other(reply, player, line) is wrong
    rated = rate(reply, question=line, grounding=[], player=player, language=None)
    assert (rated is None) is wrong


def test_news_every_candidate_only_asks_back_is_taken_in_instead(make_runtime: Any) -> None:
    line = "Hi, I'm Bo. I love jasmine tea."
    backend = _Candidates("Do you love jasmine tea?", greet="")
    rt = make_runtime(backend)
    done = drain(rt, rt.say("mira", "p1", line, player_name="Bo"))[-1]
    assert isinstance(done, TurnDone)
    assert backend.calls > 1  # each asked back: sampling went on
    assert done.result.composed and not done.result.text.endswith("?")
    assert "jasmine tea" not in done.result.text or "remember" in done.result.text.lower()
