"""Whether a player's line asks something, whether it asks only to keep the conversation going
("How's your evening?"), and which kinds of thing about the player it asks (work, origin, ...).
"""

from __future__ import annotations

import functools
import re

from engine.dialogue.grounding.words import HAN_CHAR

__all__ = ["MEMORY_CUES", "is_question", "is_small_talk", "kinds_asked"]

_ASKING = re.compile(
    r"[?？]|[吗呢]\s*$|(?:^|[.!]\s+)\s*(what|when|where|who|why|how|which|do you|did you|can you|could you|"
    r"tell me|remind me|guess|bet you)\b|\bremember\b|\brecall\b|什么|啥|么子|咋|咩|几点|哪|多少|怎么|为什么|谁|告诉我|记得"
    r"|(?:叫|干|做|为)嘛|嘛时候"
    # a dare: "my name, go on", "考考你"
    r"|[,.]\s*go on(?: then)?\W*$|考考你|猜猜",
    re.IGNORECASE,
)


def is_question(text: str) -> bool:
    """Whether the player's line asks something (a question mark, a question word, "tell me")."""
    return _ASKING.search(text) is not None


_PHATIC = re.compile(
    r"^\W*(?:and |so |hey |well )?how(?:'s| is| are| was| has)\s+(?:you|your|it|things|life|"
    r"everything|the day|business|work)\b|\b(?:isn't|aren't|wasn't|don't you think) (?:it|you|they|we)\W*$"
    r"|\bright\W*$|(?:最近|今天|生意)?(?:怎么样|还好吗|好吗|忙吗)[啊呀呢吧]?\W*$|是不是\W*$|对吧\W*$",
    re.IGNORECASE,
)


def is_small_talk(text: str) -> bool:
    """Whether a question only keeps the conversation going ("How's your evening going?",
    "Lovely night, isn't it?", "最近怎么样？"): it asks for no fact."""
    return _PHATIC.search(text.strip()) is not None


# The kinds of things a player says about themselves, and the words that ask about them.
_ASKED_AS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "work",
        ("living", "work", "job", "do for", "what i do", "i do all day", "trade", "profession",
         "occupation", "paid to", "get paid", "before i retired", "used to do for", "clock in",
         "clock on",
         "工作", "职业", "做什么", "干什么", "哪行", "干哪", "做哪", "营生", "活儿", "为生", "上班",
         "教什么", "教哪"),
    ),
    (
        "origin",
        ("from", "hometown", "live", "grew up", "grow up", "raised", "born", "accent", "哪里人",
         "哪里的人", "哪里来",
         "打哪", "来自", "老家", "家乡", "娘家", "长大", "住在", "住哪", "住的"),
    ),
    (
        "name",
        ("my name", "who am i", "who i am", "what i'm called", "what am i called", "what i am called",
         "我的名字", "我叫什么", "怎么称呼我", "我姓什么", "叫我什么", "我是谁"),
    ),
    (
        "called",
        ("called", "'s name", "her name", "his name", "its name", "name of", "叫什么", "名字"),
    ),
    ("age", ("old", "age", "多大", "几岁", "年纪", "岁数")),
    (
        "plans",
        ("plan", "planning", "going to do", "training for", "saving for", "saving up",
         "preparing for", "getting ready for", "打算", "准备", "计划", "大事", "说要"),
    ),
    (
        "diet",
        ("allergic", "allergy", "allergies", "can't eat", "cannot eat", "can't have", "mustn't eat",
         "can't really eat", "can't really have", "can't touch",
         "can't i eat", "can't i have", "mustn't i eat", "not allowed to eat", "keep away from",
         "not supposed to eat", "intolerant", "steer clear", "stay off", "avoid eating",
         "food thing", "careful with", "careful about", "watch out for", "过敏", "不能吃", "吃不了", "不能喝", "喝不了", "忌口",
         "不敢吃", "吃不得", "不能碰", "不敢碰", "碰不得", "不能沾", "沾不得"),
    ),
    (
        "dislikes",
        ("scared of", "afraid of", "frightened of", "terrified of", "can't stand", "hate",
         "never give me", "not give me", "don't i like", "didn't i like", "dislike", "phobia",
         "怕啥", "怕什么", "讨厌", "受不了", "不喜欢", "最烦", "烦什么", "不爱"),
    ),
    (
        "health",
        ("health", "bad back", "bad knee", "bad hip", "injury", "injured", "what's wrong with me",
         "what's wrong with my", "what ails", "condition", "hurt", "ache", "sore", "giving me grief",
         "gives me grief", "giving me bother", "gives me bother", "playing up", "毛病", "哪疼",
         "哪儿疼", "哪里疼", "身体", "老伤", "什么病", "啥病", "不舒服"),
    ),
    (
        "when",
        ("when's", "when is", "when was", "when do", "when did", "when am", "when are", "when will",
         "which month", "what month", "which day", "what day", "what date", "how soon",
         "几月", "哪个月", "哪天", "几号", "什么时候", "哪一天"),
    ),
    (
        "place",
        ("which town", "which street", "what street", "which road", "what road", "哪条街", "哪条路",
         "哪条巷", "which city", "what town", "what city", "which country", "what country",
         "哪个城市", "哪座城", "哪个地方", "什么地方", "去哪", "在哪", "哪里去", "跑哪", "哪个学校",
         "哪所"),
    ),
    (
        "likes",
        ("like", "love", "favourite", "favorite", "enjoy", "drink", "eat", "food", "hobby",
         "hobbies", "pastime", "spare time", "free time", "my usual", "crave", "craving", "cup of", "flask",
         "breakfast",
         "喜欢", "爱", "最爱", "爱好", "馋", "惦记", "好这口", "哪口", "喝", "吃", "杯里", "泡的"),
    ),
)  # fmt: skip

# Colloquial question words, as the cues above spell them ("干啥营生" asks "干什么"): the
# north's 啥 and 咋, Cantonese 咩 ("叫咩名" asks 叫什么名), Tianjin's 嘛 where it asks
# ("叫嘛", "干嘛的", "为嘛"; not the particle of "广东人嘛"), the 么子 of Hunan and Jiangxi
# and the 啥子 of Sichuan ("做么子的", "叫啥子名字").
_COLLOQUIAL = (
    ("叫个啥", "叫啥"),
    ("啥子", "什么"),
    ("么子", "什么"),
    ("啥", "什么"),
    ("咩", "什么"),
    ("叫嘛", "叫什么"),
    ("干嘛", "干什么"),
    ("做嘛", "做什么"),
    ("为嘛", "为什么"),
    ("嘛时候", "什么时候"),
    ("咋", "怎么"),
    ("哪儿", "哪里"),
    ("俺", "我"),
)

# Asking about work in other words than the cues: "what is it I do again?".
_WORK_ASKED = re.compile(r"\bwhat (?:is |was )?(?:it )?(?:that )?i do\b")
# Asking where the player goes or is: "where am I off to?", "where's my sister living now?"
_PLACE_ASKED = re.compile(
    r"\bwhere(?:'d| (?:am|was|did|do|have|will|would)) i\b|\bwhere(?:'s| is| are) my\b"
)

# Asking whom one goes or came with: "who did I move here with?", "who rides shotgun with
# me?", "跟我一路去的那个是哪个？", "我跟谁一起来的？"
_COMPANY_ASKED = re.compile(
    r"\bwho\b[^?.!]{0,30}\bwith me\b|\bwho (?:did|do|was|am|were|will) i\b[^?.!]{0,30}\bwith\b"
    r"|(?:跟|和|陪|同)我[^，,。？?]{0,8}?的?(?:那个|那位)?(?:人)?(?:是)?(?:谁|哪个|哪位)"
    r"|我(?:是)?(?:跟|和|同)谁"
)

# Asking where one came from in more words: "我是从哪个地方跑过来的？" (not "你从哪儿买的？")
_CAME_FROM_ASKED = re.compile(r"从哪[^，,。？?]{0,6}来")


@functools.lru_cache(maxsize=1024)
def kinds_asked(question: str) -> frozenset[str]:
    """The kinds of thing about the player ``question`` asks (work, origin, ...); a turn asks
    this of the same sentences more than once (cached)."""
    low = question.lower()
    for said, written in _COLLOQUIAL:
        low = low.replace(said, written)
    found = {kind for kind, cues in _ASKED_BY if cues.search(low)}
    if _WORK_ASKED.search(low):
        found.add("work")
    if _PLACE_ASKED.search(low):
        found.add("place")
    if _CAME_FROM_ASKED.search(low):
        found.add("origin")
    if _COMPANY_ASKED.search(low):
        found.add("company")
    if "name" in found:
        found.discard("called")  # "我叫什么名字？" asks the player's own name
    if _GOING_TO_DO.search(low):
        # "我去那边是干什么？" asks what they go there for, not what they do for a living
        found.discard("work")
        found.add("plans")
    elif _GONE_TO_DO.search(low):
        # "你猜我礼拜天一般干啥去了？" asks how they spend the time: a pastime
        found.discard("work")
        found.add("likes")
    if "diet" in found:
        found.discard("likes")  # "我吃不了什么？" asks what they must not eat, not what they like
    if "origin" in found and re.search(r"\blive\b", low) and not re.search(r"\bfrom\b", low):
        # "where is it I live?" asks the street or the town they live in now
        found.discard("origin")
        found.add("place")
    elif "origin" in found:
        found.discard("place")  # "where am I from?" asks where they are from
    return frozenset(found)


def _cues(cues: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a kind's cues: Chinese ones anywhere, English ones as whole words, or
    their inflections ("old" is not in "told", "like" not in "likely"); one that begins with
    an apostrophe follows its word ("'s name" in "my dog's name")."""
    return re.compile(
        "|".join(
            re.escape(c)
            if HAN_CHAR.search(c)
            else rf"{'(?<![a-z])' if c[0].isalpha() else ''}{_inflected(c)}(?![a-z])"
            for c in cues
        )
    )


def _inflected(cue: str) -> str:
    """An English cue and its inflections: "like", "likes", "liked" (not "likely"), "drink",
    "drinking", "love", "loved" (not "lovely"). A dropped e is a cue of its own ("craving"):
    "living" asks what one does, not where one lives."""
    return rf"{re.escape(cue)}(?:s|es|d|ed|ing)?"


_GONE_TO_DO = re.compile(
    r"(?:干什么|做什么)去了?|\bwhat do i (?:get up to|do) (?:on|at) (?:the )?weekends?\b"
)
_GOING_TO_DO = re.compile(
    r"[去来][\u4e00-\u9fff]{0,4}?(?:是)?(?:干什么|做什么)|\bgoing (?:there|out there) for\b"
)

# Compiled once (a turn asks this of every line it answers).
_ASKED_BY = tuple((kind, _cues(cues)) for kind, cues in _ASKED_AS)


# Words that ask what the character remembers ("do you remember", "记得").
MEMORY_CUES = (
    "remember",
    "recall",
    "know about me",
    "told you",
    "did i tell",
    "'d i tell",
    "did i mention",
    "your memory",
    "记得",
    "记不记得",
    "还记",
    "说过",
    "讲过",
    "提过",
    "记着",
)
