"""What a word names a kind of: a whippet is a dog, a daughter a child, 毛尖 a tea (a drink).

A player tells in one word and asks in another ("my whippet Noodle" ... "what's my dog
called?", "儿子许浩" ... "我家孩子叫啥", "plum wine" ... "what do I like to drink?"): the words
share no letter, but both name the same kind of thing. :func:`related` gives the kinds a line
names, so a question and a statement that name the same kind count as sharing a word.

The table is everyday vocabulary of what people tell about themselves (family, pets, drinks,
food, pastimes, trips, birthdays, businesses, vehicles, instruments), with a few phrases a word
alone does not give ("off to Iceland", "turning eight"), in English (word stems, as :func:`~engine.dialogue.grounding.words.terms`
makes them) and Chinese (substrings). A kind is written ``@kind`` so it never equals a word.
"""

from __future__ import annotations

import functools
import re

from engine.dialogue.grounding.words import NUMBER_WORD, ORDINAL, stem

__all__ = ["NAMED_KINDS", "related"]

#: The kinds of thing a player names by a name of its own: their people and their pets.
NAMED_KINDS = frozenset(
    {"@child", "@partner", "@parent", "@sibling", "@grandparent", "@dog", "@cat", "@pet"}
)

# kind -> (English words, Chinese words). A word may name more than one kind ("girl": a child
# or a girlfriend). English words are matched as whole words (after the plural is dropped).
_KINDS: dict[str, tuple[str, str]] = {
    "@child": (
        "child children kid kids son sons daughter daughters boy lad lass girl baby toddler "
        "youngster little'un nipper teenager eldest youngest nephew niece grandson granddaughter "
        "grandchild grandkid",
        "孩子 儿子 女儿 闺女 娃 小孩 宝宝 崽 小子 丫头 侄子 侄女 外甥 孙子 孙女 外孙",
    ),
    "@partner": (
        "wife husband partner missus hubby fiance fiancee girlfriend boyfriend spouse girl",
        "老婆 老公 媳妇 爱人 对象 丈夫 妻子 女朋友 男朋友 女友 男友 老伴 那口子 孩子他妈 孩子他爸 孩他妈 孩他爸",
    ),
    "@parent": (
        "mum mom mam mother dad father parent parents mama papa",
        "妈 爸 母亲 父亲 爹",
    ),
    "@sibling": ("brother sister sibling twin", "哥哥 姐姐 弟弟 妹妹 我哥 我姐 我弟 我妹"),
    "@grandparent": (
        "grandma grandmother gran granny nan nana grandad grandpa grandfather",
        "爷爷 奶奶 姥姥 姥爷 外婆 外公",
    ),
    "@dog": (
        "dog pup puppy hound whippet spaniel terrier collie labrador retriever greyhound lurcher "
        "poodle beagle corgi dachshund sheepdog husky pug mutt",
        "狗 柯基 金毛 柴犬 泰迪 哈士奇 边牧 犬 拉布拉多 比熊",
    ),
    "@cat": ("cat kitten kitty tabby moggy", "猫"),
    "@pet": (
        "pet dog pup puppy cat kitten parrot budgie canary bird rabbit bunny hamster guinea "
        "tortoise turtle ferret horse pony donkey goat hen chicken goldfish snake lizard "
        "whippet spaniel terrier collie labrador greyhound lurcher tabby",
        "宠物 狗 猫 鹦鹉 八哥 兔 仓鼠 乌龟 鸟 骑马 小马 驴 金鱼 柯基 金毛 柴犬",
    ),
    "@drink": (
        "drink tea coffee beer ale lager wine cider whisky whiskey gin rum vodka "
        "brandy juice milk cocoa lemonade pint latte espresso cappuccino brew smoothie",
        "喝 茶 咖啡 酒(?!店) 奶茶 豆浆 果汁 牛奶 可乐 汽水 饮料",
    ),
    "@food": (
        "eat food dish meal cake pie pastry bread noodle soup stew curry pizza pasta chip "
        "cheese biscuit sandwich burger sausage dumpling",
        "吃 饭 面条 拉面 汤面 面馆 米粉 螺蛳粉 河粉 酸辣粉 肠粉 米线 饺子 包子 火锅 馄饨 粥 馋 嗦 小吃 点心",
    ),
    "@pastime": (
        "hobby hobbies pastime spare weekend weekends",
        "爱好 兴趣 没事 闲 业余 消遣 周末",
    ),
    "@vehicle": (
        "car van bike bicycle motorbike motorcycle scooter lorry truck tractor boat motor drive "
        "landie jeep pickup camper campervan minibus taxi cab quad",
        "车 摩托 电动车 单车 自行车 三轮 船 解放 东风 五菱 皮卡 面包车",
    ),
    "@trip": (
        "holiday holidays trip travel travelling traveling flight fly abroad cruise tour vacation "
        "getaway honeymoon",
        "旅游 旅行 度假 出去玩 去玩 出差 蜜月 婚纱照 机票",
    ),
    "@birthday": ("birthday bday", "生日 过生"),
    "@business": (
        "shop cafe café pub restaurant bakery stall salon business firm garage bar takeaway diner "
        "chippy",
        "店 馆 铺 餐厅 饭店 摊 公司 厂 生意",
    ),
    "@instrument": (
        "instrument guitar fiddle violin viola cello piano keyboard drum ukulele banjo flute "
        "clarinet trumpet saxophone harp accordion mandolin",
        "乐器 琴 吉他 二胡 笛 打鼓 架子鼓 鼓手 唢呐 琵琶 古筝 萨克斯",
    ),
}


def _compile() -> tuple[dict[str, frozenset[str]], list[tuple[str, re.Pattern[str]]]]:
    english: dict[str, set[str]] = {}
    chinese: list[tuple[str, re.Pattern[str]]] = []
    for kind, (en, zh) in _KINDS.items():
        for word in en.split():
            english.setdefault(stem(word), set()).add(kind)
        chinese.append((kind, re.compile("|".join(zh.split()))))
    return {w: frozenset(k) for w, k in english.items()}, chinese


_ENGLISH, _CHINESE = _compile()

_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
# Nothing but spaces and punctuation that ends a sentence before a word: it opens a sentence.
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s*)\W*$")


# A child said as a young one: "my wee girl", "our little lad", "the youngest one".
_CHILD_WORDS = re.compile(
    r"\b(?:wee|little|baby|youngest|eldest) (?:girl|boy|lad|lass|one)s?\b", re.IGNORECASE
)


# Kinds named by more than a word: going somewhere ("off to Iceland"), a birthday coming
# ("turning eight in June"), one of the family called "our" and their name ("Our Ellie's been
# on at me", as the north of England says it).
_PHRASES: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (frozenset({"@trip"}),
     re.compile(r"\b(?:off|heading|going|flying|travelling|traveling) (?:out )?to [A-Z]")),
    (frozenset({"@birthday"}),
     re.compile(rf"\bturn(?:s|ing)? (?:{NUMBER_WORD})\b|满[\d一二两三四五六七八九十]{{1,3}}岁")),
    (frozenset({"@child", "@sibling"}), re.compile(r"\b[Oo]ur (?!Lady\b|Lord\b)[A-Z][a-z]+\b")),
    (frozenset({"@sibling"}), re.compile(r"\bour kid\b")),
    # "my wee girl", "our little lad": a child, not a girlfriend
    (frozenset({"@child"}), _CHILD_WORDS),
    # "It's my seventy-fifth on the third of August", "my 40th"
    (frozenset({"@birthday"}),
     re.compile(rf"\bmy {ORDINAL}\b")),
    (frozenset({"@vehicle"}),
     re.compile(r"\b(?:Land ?Rover|Range Rover|Defender|Transit|Hilux|Volvo|Fiesta|Corsa)\b")),
)  # fmt: skip


_PARTNER_WORDS = re.compile(
    r"\b(?:wife|husband|partner|missus|hubby|fianc[eé]e?|girlfriend|boyfriend|spouse)\b",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=8192)
def related(text: str) -> frozenset[str]:
    """The kinds of thing ``text`` names (``@drink`` for "plum wine", ``@child`` for "儿子")."""
    found = {kind for kinds, pattern in _PHRASES if pattern.search(text) for kind in kinds}
    for match in _WORD.finditer(text):
        word = match.group()
        if (
            word[0].isupper()
            and match.start()
            and not _SENTENCE_START.search(text, 0, match.start())
        ):
            continue  # a name ("my whippet Noodle"), not a noodle
        word = re.sub(r"'[a-z]+$", "", word.lower())  # "wife's", "wife'll"
        kinds = _ENGLISH.get(stem(word)) or _ENGLISH.get(word.removesuffix("s"), frozenset())
        found |= kinds  # "cats": too short for the stemmer to drop the plural
    if _CHILD_WORDS.search(text) and not _PARTNER_WORDS.search(text):
        found.discard("@partner")  # "girl" of "my wee girl" only
    for kind, pattern in _CHINESE:
        if pattern.search(text):
            found.add(kind)
    return frozenset(found)
