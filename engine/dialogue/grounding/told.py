"""What a statement the player made tells: the kinds of thing each tells (work, origin, name,
what someone is called, age, plans, what they must not eat, when and where something is,
likes), the detail it gives ("... from [Harrowdale]") and the words that show a reply named it.
Which sentences are statements is :mod:`engine.dialogue.grounding.statements`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from engine.dialogue import heuristics
from engine.dialogue.grounding.times import MONTH, WEEKDAY, WHEN
from engine.dialogue.grounding.words import (
    COMMON_ZH,
    HAN_CHAR,
    NUMBER_WORD,
    ORDINAL,
    PERSON_ZH,
    pairs,
    terms,
)
from engine.text.alternatives import by_script

__all__ = [
    "answers_held",
    "fact_keys",
    "news_keys",
    "heads",
    "kinds_stated",
    "most_memorable",
    "with_subject",
]

# The kinds of things a player says about themselves that a fact read from a line names
# (a fact "works as" tells work).
_TOLD_AS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("work", ("works as", "is a", "works at")),
    ("origin", ("comes from", "lives in")),
    ("name", ("name",)),
    ("age", ("age",)),
    ("likes", ("favourite", "likes", "loves")),
)

# Someone of the family named after how they are kin: "我女朋友小雯送的", "我闺女朵朵今年".
_KIN_NAMED = (
    # ("跟老伴儿桂兰出来溜达": with whom, and their name)
    r"(?:我(?:的|家)?|(?:跟|和|带着?|陪)|(?:^|(?<=[，,。]))\s*)"
    r"(?:女朋友|男朋友|对象|老婆|媳妇|老公|爱人|老伴儿?|儿子|女儿|闺女|妹妹|弟弟|姐姐|哥哥"
    r"|孙女|孙子|外孙女?|侄女|侄子|外甥女?)"
    r"(?:叫)?(?!今年|现在|最近|每天|也是|说过|以前|去年|明年|特别|非常|一直|已经|还是|就是|不是|喜欢|"
    r"最爱|最喜|在家|刚上|上学|上班|本来"
    # a day, not a name ("我跟男朋友五一要回湘潭", "和老婆国庆去")
    r"|[一二三四五六七八九十两零]{2}|国庆|周末|春节|过年|元旦|中秋|端午|清明|暑假|寒假)"
    r"([\u4e00-\u9fff]{2,3}?)"
    r"(?=送|今年|说|是|也|在|最|特|很|就|还|可|刚|都|给|跟|和|下个|上个|快|马上|才|已|满|要|出来|一起"
    r"|本来|[，。！,.!、])"
)

# A name said on its own, as a sentence, where someone says who they are ("Alright. Callum. Our
# Ellie's been on at me"): one capitalised word that is no greeting or word of assent.
_BARE_NAME = (
    r"^(?!(?:Alright|Morning|Evening|Afternoon|Hiya|Hello|Hey|Thanks|Cheers|Sorry|Right|Okay|Yes"
    r"|Yeah|Nope|Sure|Great|Lovely|Brilliant|Anyway|Well|Honestly|Seriously|Wow|Aye|Nah)\b)"
    r"([A-Z][a-z]{1,14})\s*[.!]?$"
)

# The player's own name, which says who they are, not what someone or something is called.
_SELF_NAME = by_script(
    r"我(?:名)?叫[\u4e00-\u9fff]{1,4}|(?:都)?叫我[\u4e00-\u9fff]{1,4}|我姓[\u4e00-\u9fff]{1,2}"
    rf"|{_BARE_NAME}"
    r"|\b(?:[Mm]y name is|[Mm]y name's|I'm called|I am called|[Cc]all me)\s+[A-Z][\w'-]*"
    r"|^\W*Name's\s+[A-Z][\w'-]*"
)

# A name, then the next sentence telling what the one named is: "so it's me and Rosie now.
# she's my beagle", "We got Biscuit in May. He's our spaniel."
_NAME_THEN_KIN = (
    r"\b([A-Z][a-z]{1,14})\b[^.!?]{0,25}[.!]\s+(?:[Ss]he|[Hh]e)(?:'s| is) (?:my|our) [a-z]+"
)
# The kin or pet and the name said after it in a sentence of its own.
_NAMED_AFTER = r"[.!]\s+([A-Z][a-z]{1,14})(?:,\s*[a-z]+)?\s*[.!]?$"
# The one just named, by name, then "she" or "he": "our eldest ... Isla, she's four".
_NAMED_THEN_SHE = r"[.!]\s+([A-Z][a-z]{1,14}), (?:she|he)\b"
# One of the family named a few words after how they are kin ("brought my daughter along as
# well, Tilly, she's nine"; "the wife, Aileen, she's due in March").
_KIN_THEN_NAME = (
    r"\b(?:[Mm]y|[Oo]ur|[Tt]he) (?:wife|husband|missus|partner|daughter|son|girl|boy|lad|lass"
    r"|mum|mam|mother|dad|father|sister|brother|gran|granny|grandson|granddaughter|kid|dog|cat"
    r"|pup|puppy)\b[^.!?,]{0,25}, ([A-Z][a-z]{1,14})(?=,| who\b| she\b| he\b|[.!]|$)"
)

# The player's name told as a surname ("我姓赵，赵大伟") or on its own ("Callum.").
_NAME_STATED = by_script(rf"我姓[\u4e00-\u9fff]|{_BARE_NAME}")

# "I'm a Galway man": where they are from, not what they do.
_DEMONYM = re.compile(r"\bI(?:'m| am) an? [A-Z][a-z]+ (?:man|woman|lad|lass|boy|girl)\b")


# The player's name told without "我" again, after a clause that has it: "我今天刚报的名，叫何佳慧".
# Not when that clause names something else the name is of ("我还带了条柯基上山，叫土豆").
_SELF_CLAUSE = r"^\W*我(?![^，,。！？]{0,12}?[条只匹头辆盆棵])[^，,。！？]{0,12}[，,]\s*"
_NAME_AFTER_SELF = by_script(_SELF_CLAUSE + r"(叫(?!我)[\u4e00-\u9fff]{2,4})(?=[，。！,.!～~\s]|$)")

# A statement that leaves out "I" ("Grew up in Stoke, came down this way for the work",
# "Moved here from Leeds", "Been teaching for years", "Work nights at the depot").
_NO_SUBJECT = re.compile(
    r"^\W*(?=(?:grew up|moved|work(?:ed)?|live[ds]?|teach|taught|run|drive|drove|been|spent|came"
    r"|come|started|retired|studied|trained|training|saving|planning|love|like|used to)\b)",
    re.IGNORECASE,
)


def with_subject(sentence: str) -> str:
    """``sentence`` with the "I" (我) it leaves out put back, else as it is: the player said it
    about themselves, and it is said back to them as "you ..." (not word for word)."""
    if HAN_CHAR.search(sentence):
        return sentence if PERSON_ZH.search(sentence) else "我" + sentence
    bare = re.match(_BARE_NAME, sentence.strip())
    if bare:
        return f"I'm {bare.group(1)}."  # "Callum." said as who they are
    named = re.match(r"^\W*[Nn]ame's\s+", sentence)
    if named:
        return "My name's " + sentence[named.end() :]
    found = _NO_SUBJECT.match(sentence)
    if found is None:
        return sentence
    rest = sentence[found.end() :]
    return f"I {rest[:1].lower()}{rest[1:]}"


@functools.lru_cache(maxsize=4096)
def _others(sentence: str) -> str:
    """``sentence`` without the player's own name: what someone else is called is left."""
    own = _NAME_AFTER_SELF.search(sentence)
    if own is not None:
        sentence = sentence[: own.start(1)] + " " + sentence[own.end(1) :]
    return _SELF_NAME.sub(" ", sentence)


# Trades named on their own, as people say what they do in passing ("I'm on nights all week,
# paramedic out of Alnwick", "I'm the shepherd up at Blakehope", "跑长途货运的"): a word for
# a job, in a sentence that is about the one who says it and no one else's ("my wife's a nurse").
_TRADES_EN = (
    "paramedic|nurse|midwife|doctor|surgeon|dentist|vet|pharmacist|carer|porter|teacher|lecturer"
    "|professor|tutor|shepherd|farmer|farmhand|gamekeeper|ranger|forester|fisherman|fishmonger"
    "|butcher|baker|chef|cook|waiter|waitress|barman|barmaid|bartender|barista|plumber"
    "|electrician|joiner|carpenter|builder|bricklayer|plasterer|roofer|welder|mechanic|engineer"
    "|labourer|postman|postwoman|postie|courier|driver|trucker|cabbie|pilot|sailor|firefighter"
    "|fireman|policeman|policewoman|copper|officer|soldier|guard|lawyer|solicitor|accountant"
    "|clerk|cashier|receptionist|librarian|journalist|reporter|photographer|artist|potter"
    "|musician|singer|actor|actress|dancer|hairdresser|barber|cleaner|gardener|landscaper"
    "|miner|fitter|machinist|technician|programmer|developer|designer|architect|surveyor"
    "|scientist|researcher|student|apprentice|priest|vicar|minister|social worker|care worker"
    "|lifeguard|coastguard|lollipop lady|dinner lady|shopkeeper|grocer|florist|tailor"
    "|seamstress|cobbler|blacksmith|thatcher|stonemason|glazier|decorator|painter|optician"
    "|physio|physiotherapist|therapist|counsellor|radiographer|optometrist|zookeeper"
    "|signalman|railwayman|milkman|binman|ferryman|lineman|boatman|stockman|herdsman|conductor"
)
_TRADE = by_script(
    rf"\b(?:{_TRADES_EN})s?\b(?!'s|’s)"  # not "builder's tea"
    # "Forty-one years a signalman", "I do the post round up in Cheriton"
    r"|\byears (?:as )?an? [a-z]+|\bI do the [a-z]+ (?:round|run|shift|rounds)\b"
    # "跑大车的", "开出租的": one who drives or runs something for a living
    r"|(?:^|[，,。\s])(?:跑|开)[\u4e00-\u9fff]{1,4}的(?=[，,。！!]|$)"
    r"|(?:^|[，,。\s])(?:跑|开|干|做|当|在)[\u4e00-\u9fff]{0,6}?(?:货运|运输|长途|出租|快递|外卖|网约车"
    r"|保安|保洁|护士|医生|大夫|老师|厨师|司机|会计|电工|木匠|瓦工|焊工|律师|警察|消防)"
    r"[\u4e00-\u9fff]{0,2}的?(?=[，。！,.!\s]|$)"
    r"|(?:^|[，,。\s])(?:护士|医生|大夫|老师|厨师|司机|会计|电工|木匠|瓦工|焊工|律师|警察|保安|快递员"
    r"|外卖员|程序员|设计师|工程师|服务员|收银员|售货员)(?=[，。！,.!\s]|$)",
    re.IGNORECASE,
)
# Whose job it is, when it is not the speaker's: "my wife's a nurse", "我老婆是护士".
_SOMEONE_ELSES = by_script(
    r"\b(?:my|our|his|her|their) (?!own\b|job\b|work\b|day\b|shift\b|name\b)[a-z]+(?:'s| is| was)\b"
    # "who wolf-whistles at the postman": a trade of someone met, not the speaker's own
    rf"|\b(?:at|to|for|with|from|by|like|than|of|my|our|his|her|their) (?:the |a |an |our |my )?"
    rf"(?:{_TRADES_EN})s?\b"
    r"|\b(?:he|she|they)(?:'s| is| was| are)\b"
    r"|(?:老婆|老公|媳妇|爱人|对象|儿子|女儿|闺女|爸|妈|哥|姐|弟|妹|他|她)[\u4e00-\u9fff]{0,3}?(?:是|在|当)",
    re.IGNORECASE,
)


# Statements of a kind that the fact patterns do not catch ("I'm a blacksmith", "我是一名医生").
# The place of "我佛山来的" (before 来的). Not how or when one came (刚, 坐高铁, 一个人, 开车),
# nor with whom (跟朋友).
_PLACE_CAME = (
    r"(?![刚才自一开坐走跑骑打专特是也就早晚昨今明又再先后都还跟和陪带被从这那俩两几头第])"
    r"[\u4e00-\u9fff]{2,4}?"
)


# Where one is from, said as a province or region of China, where in it, and 的 ("宁夏中卫的",
# "东北的"): the way 我…的 says it without 来自 or 人.
_REGION_OF = (
    r"(?:北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北"
    r"|湖南|广东|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古?|广西|西藏|宁夏|新疆|香港|澳门"
    r"|东北|西北|华北|江南|苏北|苏南|皖南|闽南|粤西|川西|湘西|鲁西|豫东)"
    r"[\u4e00-\u9fff]{0,4}?(?=的(?:[，,。！!～~]|$))"
)


# Whom one goes or came with, the one in the group.
_COMPANY = (
    r"\bwith (?:my|our) (?!own\b)((?:[a-z]+ ){0,2}?(?:[A-Z][a-z]+|[a-z]+))(?=[,.;!?]|$| and | to "
    r"| from | in | on | for | at | up | down | out )"
    r"|\b[Mm]e and (?:my |our )?((?:[a-z]+ ){0,2}?[a-z]+(?: [A-Z][a-z]+)?|[A-Z][a-z]+)\b"
    r"|(?:[我俺]|^|[，,]|是|这回|这次|这趟)(?:跟|和|同)(?![你您])([\u4e00-\u9fff]{1,8}?)"
    r"(?:一起|一块儿?|一路)?(?:要|准备|打算|说好)?(?:去|来|到|回|出来|过来)"
    r"|带着?了?(?:我|俺)?(?:家)?(?:那|的)?(?:个)?([\u4e00-\u9fff]{1,6}?)(?:一起|一块儿?)?(?:来|过来|出来)的"
)

# A count as said, "thirty-one" too.
_COUNT = rf"(?:{NUMBER_WORD})(?:-(?:one|two|three|four|five|six|seven|eight|nine)\b)?"

# Searched by the scripts of the sentence: a statement is read for every kind at once.
_STATED = {
    "work": by_script(
        r"\bI(?:'m| am) an? [a-z]+(?:er|or|ist|ian|smith|man|woman|cook|nurse|chef|maker)\b"
        # "I'm a midwife", "I'm a vet": what someone is, unless it is how they are.
        r"|\bI(?:'m| am) an? (?!bit\b|little\b|lot\b|big\b|huge\b|great\b|good\b|bad\b|"
        r"fan\b|new\b|real\b|total\b|tad\b|fool\b|mess\b|friend\b|guest\b|stranger\b)[a-z]{3,}\b"
        r"|\bI (?:work|teach|farm|fish|trade|sell|run|drive|cook|nurse)\b"
        # ("我现在开出租": what they do now)
        r"|我(?:现在|目前|如今|平时|一直)?(?:是一?[名个位]|在.{1,10}(?:工作|上班|教|当|做|开)|当"
        r"|开.{1,4}(?:店|车)|开出租)"
        # (within the clause: not "是腊八，每年过生日", "是有花生")
        r"|我?是(?!土生土长)[^，。！？,.!?；;]{0,10}(?:师|员|[学医]生|实习生|手|工|司机|老板|掌柜|护士)"
        # "…的老师，教音乐的" (one who teaches music)
        r"|(?:^|[，,])\s*教[\u4e00-\u9fff]{1,4}的"
        r"|\bI(?:'m| am) [A-Z][a-z]+, an? [a-z]+"
        r"|是(?:送|开|做|卖|修|教|跑|干|当|种|养)[\u4e00-\u9fff]{1,5}的"
        r"|在[\u4e00-\u9fff]{1,10}?(?:工作|上班|打工|教)"
        # "I fix lifts for a living", "在那边山梁上修风机的" (one who mends the turbines there)
        r"|\bfor a living\b|\bby trade\b|\bmy (?:job|work) is\b"
        # what fills their days, or has for years: "Most days I'm trying to get nine-year-olds
        # to hold a cello bow", "Been driving the recycling lorry round Huddersfield for eight
        # years" (not "I've been coming here for years")
        r"|\b(?:[Mm]ost days|[Ee]very day|[Bb]y day|[Mm]y day job),? I\b|\bmy day job\b"
        r"|\b[Bb]een (?!coming|going|visiting|walking|hiking|climbing|living|trying|waiting|"
        r"thinking|meaning|looking|hoping|wanting)[a-z]+ing\b[^.!?]{0,60}\bfor (?:[a-z-]+ ){0,2}"
        r"years\b"
        # "I make the pastries at the Linden Hotel": what they make or mend, and for whom
        r"|\bI (?:make|bake|build|fix|mend|repair|clean|paint|deliver|sew|brew|carve|look after)"
        r"\b[^.!?]{0,40}\b(?:at|for) (?:the |a )?[A-Z]"
        r"|当[\u4e00-\u9fff]{0,2}(?:医|师|员|工|司机|护士)"
        r"|(?:到|在|去)[\u4e00-\u9fff]{1,8}?(?:学校|小学|中学|大学|医院|工厂|厂|公司|店)里?"
        r"(?:教|当|做|上班|工作)"
        r"|在[\u4e00-\u9fff]{1,10}?(?:修|卖|开|送|种|养|教|跑|管|做|带)[\u4e00-\u9fff]{1,6}(?:的|[，。,]|$)"
        # years at the same work: "在矿上下了三十年井", "在厂里干了二十年"
        r"|在[^，。！？,.!?]{1,12}?[\u4e00-\u9fff](?<![住待呆活玩])了(?:[一二两三四五六七八九十几]{1,3}"
        r"|\d{1,2})多?年"
        # years at a trade, said in chat: "eighteen years now pullin a pot trailer", "I got nine
        # years runnin the crusher" (not "two years living here", "five years old")
        r"|\b(?:" + NUMBER_WORD + r")(?:-[a-z]+)? years (?:now |straight )?"
        r"(?!living\b|livin\b|coming\b|comin\b|going\b|goin\b|old\b)[a-z]{2,}in[g']?\b"
    ),
    "plans": by_script(
        r"\bI(?:'m| am) (?:training|saving|planning|going) (?:for|up|to)\b|\bI plan to\b"
        r"|\b(?:meant|supposed|going|hoping) to be (?:training|saving|practi[sc]ing) for\b"
        r"|\bI(?:'m| am) (?:training|saving|preparing|practi[sc]ing|getting ready)\b[^.!?]{0,40}\bfor\b"
        r"|\b(?:[Mm]y|[Tt]he) plan(?: is|'s)?\b|^\W*[Pp]lan(?: is|'s)\b|\bI (?:want|hope|intend) to\b"
        r"|打算|准备|计划|想(?=带|去|来|拍|买|学|考|开|办|找|换|搬|回)|要(?=去|带|回|搬|考|拍|办)"
        # going somewhere on a day to come: "我们后天一早去婺源", "下礼拜回老家"
        r"|(?:明天|后天|大后天|下周|下礼拜|下星期|下个?月|明年|过几天|过两天|这周末|周末)"
        r"[\u4e00-\u9fff]{0,6}?(?:去|回|走)"
    ),
    "likes": by_script(
        r"\bI (?:really |do |just )?(?:love|like|adore|enjoy|crave)\b|\bfavou?rite\b"
        r"|\bcan't get enough of\b|\bfond of\b|\bmy usual\b"
        # "I'd give anything for a peppermint tea", "I'd walk another mile for a slice of ..."
        r"|\bI'd (?:give|do) anything for\b|\bI'd (?:walk|drive|travel|queue|kill)\b[^.!?]{0,25}\bfor\b"
        r"|\blive on (?:the stuff|it|them)\b"
        r"|爱好|喜欢|最爱|爱吃|爱喝|馋|好一口|好这口|好这一口|最想|惦记|(?:就|特|挺|也|贼|老)爱"
        # how they spend their time off: "平时歇着就去水库钓鱼", "on my days off I'm up the crags"
        r"|(?:平时|平常|闲了|闲着|歇着|没事|周末|放假|休息)[\u4e00-\u9fff]{0,3}?(?:就|都|老|总)(?:去|爱|在|喜欢)"
        r"|\b(?:on my days? off|in my spare time|at (?:the )?weekends?|when I'm not working)\b"
        # what they cannot do without: "我一天不喝两杯就没精神", "can't start the day without"
        r"|不[\u4e00-\u9fff]{1,2}[一两几半俩]?[\u4e00-\u9fff]?就(?:难受|没精神|浑身|睡不着|不舒服|不得劲|没劲|心慌)"
        r"|\bcan't (?:start|get through|live|go|function|face)\b[^.!?]{0,30}\bwithout\b"
    ),
    # what they must not eat: "I'm allergic to feathers", "我对花生过敏", "我吃不了辣"
    "diet": by_script(
        r"\ballerg(?:ic|y|ies)\b|\bintolerant\b|\bcoeliac\b|\bceliac\b|\bvegetarian\b|\bvegan\b"
        r"|\bcan(?:'t|not) (?:eat|have|touch|stomach)\b|\bdon't eat\b"
        r"|过敏|忌口|吃素|不能吃|吃不了|不敢吃|吃不得|不能喝|喝不了|沾不得|不能碰|不敢碰|碰不得|不能沾"
    ),
    # what they fear or cannot abide: "can't do horror", "scared of heights", "他是个旱鸭子"
    "dislikes": by_script(
        r"\b(?:scared|afraid|frightened|terrified) of\b|\bcan't (?:stand|bear|abide|do)\b"
        r"|\bI (?:hate|loathe|detest)\b|\bphobi[ac]\b|\bnothing (?:scary|sad|gory|violent)\b"
        r"|怕(?!是|不是)|恐高|旱鸭子|不会游泳|受不了|讨厌|最烦|不爱(?:吃|喝|看|听)",
        re.IGNORECASE,
    ),
    # what ails them: "I've a bad knee", "I'm asthmatic", "腰间盘突出，坐久了就疼"
    "health": by_script(
        r"\b(?:bad|dodgy|gammy|sore|weak|stiff|wonky) (?:back|knees?|hips?|shoulders?|ankles?|legs?"
        r"|chest|heart|wrists?|neck)\b|\b(?:arthritis|asthma|asthmatic|diabetic|diabetes|migraines?"
        r"|slipped disc|sciatica|angina|epilep(?:sy|tic)|injur(?:y|ies|ed)|hip replacement|gout"
        r"|bypass|heart attack|stroke|type (?:1|one|2|two))\b"
        r"|\bhurt my\b|\bdid my [a-z]+ in\b|\bmy (?:back|knees?|hips?|shoulder|ankle|neck) (?:is|are|has|have|'s|gives?)\b"
        r"|[腰腿膝肩颈背胃头脚手][\u4e00-\u9fff]{0,3}(?:疼|痛|突出|不(?:太|大|怎么)?好|有毛病|受过伤)"
        r"|老毛病|关节炎|哮喘|糖尿病|高血压|风湿|老寒腿|骨折过|动过手术|痛风|心脏病|搭桥|中风|胃病",
        re.IGNORECASE,
    ),
    # when something is: "off to Iceland in March", "九月份就去武汉", "下礼拜三"
    "when": by_script(
        rf"\b(?:in|on|by|until|till|since|this|next|last|every) (?:{MONTH}|{WEEKDAY})"
        rf"|\b(?:{MONTH})\b(?: \d{{1,2}}(?:st|nd|rd|th)?)?|\b(?:{WEEKDAY})s?\b"
        r"|\b(?:next|this|last) (?:week|month|year|weekend|summer|winter|spring|autumn)\b"
        # a day of the month: "turns six on the 22nd", "by the twenty-first", "二十号"
        r"|\b(?:on|by|until|till|since|from|before|after) the (?:\d{1,2}(?:st|nd|rd|th)"
        r"|(?:twenty-?|thirty-?)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
        r"|tenth|eleventh|twelfth|(?:thir|four|fif|six|seven|eigh|nine)teenth|twentieth|thirtieth)\b"
        r"|[一二三四五六七八九十\d]{1,3}号"
        r"|\bbirthday\b|[一二三四五六七八九十\d]{1,3}月份?|[正腊冬]月|(?:下|上|这)个?(?:月|礼拜|星期|周)"
        r"|(?:礼拜|星期|周)[一二三四五六日天]|明年|今年[\u4e00-\u9fff]{0,2}(?:月|底|初)|生日"
    ),
    # where something is or goes: "off to Iceland", "去武汉读书", "works in Scarborough"
    "place": by_script(
        # (not "grew up in Hull", "born in Cork": where they are from)
        rf"(?<!grew up )(?<!born )(?<!raised )(?<!bred )"
        rf"\b(?:to|in|at|on|near|outside) (?:the )?(?!(?:{MONTH}|{WEEKDAY})\b)(?:St\.? |Mt\.? )?[A-Z][a-z]{{2,}}"
        r"|(?:去|到|在|回)[\u4e00-\u9fff]{2,3}?(?:读书|上学|念书|上大学|工作|打工|上班|玩|旅游|旅行|出差|度假|拍"
        r"|转转|逛逛|耍|看看|走走|看|爬|钓|赶|买)"
    ),
    # "My daughter Ffion's seven", "She's just turned 40", "我闺女今年六岁"
    "age": by_script(
        r"(?:\bis|'s|\bturned|\bturns|\bturning|\bwill be|'ll be)\s+"
        + _COUNT
        + r"(?=\s*(?:years?\b|months?\b|and\b|now\b|next\b|last\b|in\b|this\b|[,.;!?]|$))"
        # "my mam turns seventy on the 21st"
        r"|\b(?:turned|turns|turning)\s+(?:" + NUMBER_WORD + r")(?=\s+on\b)"
        r"|\d{1,3}\s*(?:years? old|岁)|[一二两三四五六七八九十]{1,3}岁|今年[\d一二两三四五六七八九十]{1,3}(?:岁|了)"
        # "It's my seventy-fifth on the third of August": a birthday by its number
        rf"|\bmy {ORDINAL}\b"
    ),
    # whom they go or came with: "moved here with my husband Felipe", "我跟男朋友阿杰要去雪乡",
    # "这回是带我那小孙子豆豆来的"
    "company": by_script(_COMPANY),
    "called": by_script(
        r"\b(?:called|named|name's|name is)\s+[A-Z]|(?:叫|名叫|名字是)[“\"「『]?[\u4e00-\u9fff]"
        r"|\b[Oo]ur (?!Lady\b|Lord\b|I\b)[A-Z][a-z]+\b"
        # "My whippet Noodle", "I've got a tortoise, Gus.", "我女朋友小雯送的"
        r"|\b(?:[Mm]y|[Oo]ur|an?) [a-z]+,? (?!I\b)[A-Z][a-z]+\b"
        rf"|{_NAMED_AFTER}|{_NAMED_THEN_SHE}|{_KIN_THEN_NAME}"
        # "... minding Biscuit this weekend, that's my springer spaniel"
        r"|\b[A-Z][a-z]+\b[^.!?]{0,25}, (?:that's|he's|she's|who's) (?:my|our|the) [a-z]+"
        rf"|{_KIN_NAMED}|{_NAME_THEN_KIN}"
    ),
    "origin": by_script(
        r"\bI(?:'m| am) from\b|\bI live\b|\bfrom [A-Z][a-z]+|\bI(?:'m| am)\b[^.!?]{0,40}\bfrom\b"
        r"|\bI (?:come|came) from\b|\bI grew up\b|我(?:来自|住在|是.{1,6}人)"
        # "从东北来的" (not "刚从广州拉了一车货回来": a trip, not where they are from)
        r"|从[^，。！？,.!?回了拉运带送买]{1,6}(?:过)?来(?:的|[，。！,.!]|$)"
        # "河南周口人，在这边成的家": a place and 人 opening what they tell
        r"|(?:^|[，,。])(?![一两几个这那大小好坏别客男女老病家外本用工商文读证主爱情仇敌恩我你您他她咱俺])"
        r"(?:(?![是不的有没很太个])[\u4e00-\u9fff]){2,6}人(?=[嘛呢啊呀哈吧啦]?(?:[，,。！!～~]|$))"
        # "我佛山来的" (not "我刚来的", "我坐高铁来的", "我一个人来的": how or when, not whence)
        rf"|我{_PLACE_CAME}来的"
        # "老家延吉的", "我老家在海边"; not "把老家那栋老房子翻修一下" (a house, not where from)
        r"|(?:^|[，,。；我])老家|\bborn and (?:bred|raised)\b|\b(?:born|raised) in\b"
        r"|土生土长|[在是][\u4e00-\u9fff]{1,8}长大的?"
        rf"|{_DEMONYM.pattern}"
        # "我宁夏中卫的", "我是东北的", "我叫小周，湖南湘潭的": a province or region, then where
        # in it, and 的
        rf"|(?:我是?|(?:^|(?<=[，,。；]))\s*){_REGION_OF}"
    ),
}


@functools.lru_cache(maxsize=4096)
def kinds_stated(sentence: str) -> frozenset[str]:
    if not HAN_CHAR.search(sentence):
        sentence = with_subject(sentence)  # "Grew up in Stoke" (Chinese kinds need no 我)
    others = _others(sentence)
    found = {
        kind
        for kind, pattern in _STATED.items()
        if pattern.search(others if kind == "called" else sentence)
    }
    predicates = {f.predicate.split()[0] if f.predicate.startswith("favourite") else f.predicate
                  for f in heuristics.extract_facts(sentence)}  # fmt: skip
    found |= {
        kind
        for kind, preds in _TOLD_AS
        if any(p == q or p.startswith(q) for p in predicates for q in preds)
    }
    if "work" not in found and _TRADE.search(sentence) and not _SOMEONE_ELSES.search(sentence):
        found.add("work")
    if _DEMONYM.search(sentence):
        found.discard("work")  # "I'm a Galway man" says where from, not what they do
    if "work" in found and _others_work(sentence):
        found.discard("work")
    if _NAME_AFTER_SELF.search(sentence) or _NAME_STATED.search(sentence):
        found.add("name")
    return frozenset(found)


# Whose work a Chinese clause tells, by how it opens: "他在深圳做程序员", "我男朋友在…当…".
_OTHERS_CLAUSE = re.compile(
    r"\s*(?:[他她]|(?:我的?|俺的?)?(?:男朋友|女朋友|对象|老婆|老公|媳妇|爱人|老伴儿?|儿子|女儿|闺女"
    r"|爸|妈|哥|姐|弟|妹|孙子|孙女))"
)


def _others_work(sentence: str) -> bool:
    """Whether the work ``sentence`` tells is someone else's: the clause it is told in opens
    with him, her or one of the speaker's family ("是我男朋友阿杰，他在深圳做程序员")."""
    if not HAN_CHAR.search(sentence):
        return False
    found = _DETAIL["work"].search(sentence)
    if found is None:
        return False
    clause = re.split(r"[，,。；;！!？?]", sentence[: found.start()])[-1]
    return _OTHERS_CLAUSE.match(clause) is not None


# Where the detail of a statement of each kind sits ("... from Harrowdale", "是一名医生").
_DETAIL = {
    # the player's own name: "我是新来的，叫林小雨", "My name's Ada", "call me Kit"
    "name": re.compile(
        r"(?:我(?:名)?叫|叫我|" + _SELF_CLAUSE + r"叫(?!我))([\u4e00-\u9fff]{2,4}?)"
        r"(?=[，。！？,.!?～~\s就吧啊呀]|$)"
        # "我姓赵，赵大伟": the full name when it follows, else the surname
        rf"|我姓[\u4e00-\u9fff][，,]{heuristics.NAME_AFTER_SURNAME}"  # from where the name starts
        r"|我姓([\u4e00-\u9fff]{1,2}?)(?=[，。！？,.!?～~\s]|$)"
        rf"|{_BARE_NAME}"
        r"|\b(?:[Mm]y name is|[Mm]y name's|I'm called|I am called|[Cc]all me|^\W*Name's)\s+"
        r"([A-Z][\w'-]*)"
    ),
    "called": re.compile(
        r"(?:\bcalled|\bnamed|\bname's|\bname is)\s+([A-Z][\w'-]*)"
        r"|(?:名叫|叫|名字是)(?:[“\"「『]([^”\"」』]{1,8})[”\"」』]|([\u4e00-\u9fff]{1,3}))"
        r"|\b[Oo]ur (?!Lady\b|Lord\b|I\b)([A-Z][a-z]+)\b"
        r"|\b(?:[Mm]y|[Oo]ur|an?) [a-z]+,? (?!I\b)([A-Z][a-z]+)\b"
        rf"|{_NAMED_AFTER}|{_NAMED_THEN_SHE}|{_KIN_THEN_NAME}"
        r"|\b([A-Z][a-z]+)\b[^.!?]{0,25}, (?:that's|he's|she's|who's) (?:my|our|the) [a-z]+"
        rf"|{_KIN_NAMED}|{_NAME_THEN_KIN}"
    ),
    "origin": re.compile(
        r"土生土长的([\u4e00-\u9fff]{1,6}?)人|在([\u4e00-\u9fff]{1,8}?)长大"
        r"|(?:\bfrom|\blive in|\bgrew up in|来自|住在|老家在?|从)\s*"
        r"((?:the )?[^,.;，。；]{1,30}?)(?=[,.;!?，。；！？]|$| and | but | to | up | so | where | with |来)"
        r"|我是(.{1,6}?)人|([\u4e00-\u9fff]{2,4}?)过来的"
        r"|(?:^|[，,。])(?![一两几个这那大小好坏别客男女老病家外本用工商文读证主爱情仇敌恩我你您他她咱俺])"
        r"((?:(?![是不的有没很太个])[\u4e00-\u9fff]){2,6}?)人(?=[嘛呢啊呀哈吧啦]?(?:[，,。！!～~]|$))"
        rf"|我({_PLACE_CAME})来的"
        rf"|(?:我是?|(?:^|(?<=[，,。；]))\s*)({_REGION_OF})"
    ),
    "health": re.compile(
        r"\b((?:bad|dodgy|gammy|sore|weak|stiff|wonky) (?:back|knees?|hips?|shoulders?|ankles?|legs?"
        r"|chest|heart|wrists?|neck))\b|\b(arthritis|asthma|asthmatic|diabetic|diabetes|migraines?"
        r"|slipped disc|sciatica|angina|epilep(?:sy|tic)|hip replacement)\b"
        r"|\bmy (back|knees?|hips?|shoulder|ankle|neck)\b"
        r"|([腰腿膝肩颈背胃头脚手][\u4e00-\u9fff]{0,3}?)(?:疼|痛|突出|不(?:太|大|怎么)?好|有毛病|受过伤)"
        r"|(关节炎|哮喘|糖尿病|高血压|风湿|老寒腿)",
        re.IGNORECASE,
    ),
    # how they spend their time off: "平时歇着就去水库钓鱼" -> "水库钓鱼"
    "likes": re.compile(
        r"(?:平时|平常|闲了|闲着|歇着|没事|周末|放假|休息)[\u4e00-\u9fff]{0,3}?(?:就|都|老|总)(?:去|爱|在|喜欢)"
        r"([\u4e00-\u9fff]{2,6}?)(?=[，。！？,.!?]|$)"
    ),
    "diet": re.compile(
        r"\ballergic to\s+((?:[a-z'-]+ ?){1,3}?)(?=[,.;!?]|$| so | and | but | which | too )"
        r"|\b([a-z]+) allergy\b"
        r"|\bcan(?:'t|not) (?:eat|have|touch|stomach)\s+((?:[a-z'-]+ ?){1,3}?)(?=[,.;!?]|$| so | and | but )"
        r"|对([\u4e00-\u9fff]{1,6}?)过敏|(?:不能吃|吃不了|不敢吃|吃不得|不能喝|喝不了)([\u4e00-\u9fff]{1,4})"
        r"|\b(vegetarian|vegan|coeliac|celiac)\b|(吃素)"
    ),
    "age": re.compile(
        r"(?:\bis|'s|\bturned|\bturns|\bturning|\baged?|\bwill be|'ll be)\s+(" + _COUNT + r")\b"
        r"|(\d{1,3})\s*(?:years? old|岁)|([一二两三四五六七八九十]{1,3})岁"
        r"|今年([\d一二两三四五六七八九十]{1,3})(?:岁|了)"
        rf"|\bmy ({ORDINAL})\b"
    ),
    "when": WHEN,
    "company": re.compile(_COMPANY),
    "place": re.compile(
        rf"\b(?:to|in|at|on|near|outside) (?:the )?(?!(?:{MONTH}|{WEEKDAY})\b)((?:St\.? |Mt\.? )?[A-Z][a-z]{{2,}}(?: [A-Z][a-z]+)?)"
        r"|(?:去|到|在|回)([\u4e00-\u9fff]{2,3}?)(?=读书|上学|念书|上大学|工作|打工|上班|玩|旅游|旅行|出差|度假|拍"
        r"|转转|逛逛|耍|看看|走走)"
        # where they do what they do: "在广州开花店", "在人民医院当护士", "住在城东" (not "现在开出租")
        r"|(?<![现正实存好自所])(?:在|住在|搬到)([\u4e00-\u9fff]{2,4}?)"
        r"(?=[开做当教卖修跑送干上住带管种养摆]|[，。！？,.!?]|$)"
    ),
    "work": re.compile(
        rf"\b((?:{_TRADES_EN}))s?\b"
        r"|(?:^|(?<=[，,]))((?:跑|开|干|做|当)[\u4e00-\u9fff]{1,6}?)的(?=[，。,.]|$)"
        r"|\bI do the ([a-z]+ (?:round|run|shift|rounds))\b|"
        r"(?:\bI'm an?|\bI am an?|\bwork as an?|\bI (?=teach|run|drive)|是一?[名个位]|"
        r"是(?=[\u4e00-\u9fff]{0,4}(?:师|员|生|手|工|司机|老板|掌柜|护士|医生)[，。,.]|[送开做卖修教跑干当种养])|"
        r"(?:^|(?<=[，,]))\s*教(?=[\u4e00-\u9fff]{1,4}的)|在.{1,10}?(?=教|当|做|开|跑|送|卖|修|带)|在(?=[\u4e00-\u9fff]{1,10}?(?:工作|上班|打工))|(?<=[学校])教|当(?=[\u4e00-\u9fff]{0,2}(?:医|师|员|工|司机|护士)))"
        r"\s*([\w\u3400-\u9fff'-]+)"
    ),
}


# Kinds asked for one value that a statement of another kind may still hold ("在广州开花店"
# tells work, and where): the value answers the question, the rest of the statement does not.
_VALUE_KINDS = frozenset({"place", "when", "age"})


def answers_held(asked: frozenset[str], sentence: str) -> frozenset[str]:
    """The kinds of ``asked`` that want one value (where, when, how old) and whose value
    ``sentence`` holds, stated as that kind or not: "我在哪儿开店？" of "在广州开花店" wants
    "广州", so a reply that says "深圳开花店" names the shop and misses the answer."""
    if not HAN_CHAR.search(sentence):
        sentence = with_subject(sentence)
    return frozenset(
        kind
        for kind in asked & _VALUE_KINDS
        if (found := _DETAIL[kind].search(sentence)) and any(found.groups())
    )


def news_keys(sentence: str, kinds: frozenset[str]) -> frozenset[str]:
    """The words that show a reply took in what ``sentence`` tells: the detail of each of its
    ``kinds`` ("I'm a blacksmith from the north": blacksmith and north; a reply that names
    either heard it), where :func:`fact_keys` gives the first kind's alone."""
    keys = frozenset().union(*(fact_keys(sentence, set(), frozenset({k})) for k in kinds))
    return keys or fact_keys(sentence, set(), kinds)


# A time told from the day it was said: "next week", "this summer", "下个月", "这礼拜六", "明年".
_RELATIVE_TIME = re.compile(r"(?:next|this|last)\b|[下上这]|明年", re.IGNORECASE)


def fact_keys(sentence: str, question_terms: set[str], kinds: frozenset[str]) -> frozenset[str]:
    """The words of ``sentence`` that name its detail of ``kinds`` (the first kind that has
    one, in name order), less the question's own; else those after the last word it shares
    with the question, the objects of the facts it states, or its words."""
    if not HAN_CHAR.search(sentence):
        sentence = with_subject(sentence)  # "Grew up in Hexham": the detail follows "I grew up in"
    for kind in sorted(kinds):
        detail = _DETAIL.get(kind)
        found = (
            detail.search(_others(sentence) if kind == "called" else sentence) if detail else None
        )
        if kind == "when" and found is not None and _RELATIVE_TIME.match(found.group(0)):
            # "下礼拜三，五月二十号，我生日": the date stays true; "next Wednesday" was true the
            # day it was said
            found = next(
                (m for m in WHEN.finditer(sentence) if not _RELATIVE_TIME.match(m.group(0))),
                found,
            )
        text = next((g for g in found.groups() if g), "") if found else ""
        if terms(text) - question_terms:
            return frozenset(terms(text) - question_terms)
        if kind in ("name", "called") and pairs(text):
            return pairs(text)  # a name of common characters ("钱有福"): matched as it is
    after = _after_shared(sentence, question_terms)
    if after:
        return after
    objects = [f.object for f in heuristics.extract_facts(sentence) if f.predicate != "name"]
    keys: set[str] = set()
    for obj in objects:
        keys |= terms(obj)
    if not keys:
        keys = terms(sentence) - question_terms
    return frozenset(keys - question_terms) or frozenset(keys)


def heads(sentence: str, keys: frozenset[str]) -> frozenset[str]:
    """Keys right after another key in ``sentence`` (English): the head of a detail."""
    words = re.findall(r"[A-Za-z0-9][\w'-]*", sentence)
    found = [next(iter(terms(w) & keys), None) for w in words]
    return frozenset(b for a, b in zip(found, found[1:], strict=False) if a and b and a != b)


_BOUNDARY_EN = frozenset(
    "at in on by from with for to who which that and but or because so when where while".split()
)


def _after_shared(sentence: str, question_terms: set[str]) -> frozenset[str]:
    """The words right after the last word the question shares with ``sentence``: what it
    asks for ("what's my parrot called?" -> "... called [Biscuit] who says ...")."""
    if HAN_CHAR.search(sentence):
        last = -1
        for i in range(len(sentence) - 1):
            if sentence[i : i + 2] in question_terms:
                last = i + 2
        if last < 0:
            return frozenset()
        tail = re.split(r"[，。！？；、,.!?;]", sentence[last:], maxsplit=1)[0][:6]
        # ("陈掌柜好": "好" alone names nothing a reply could be checked for)
        return frozenset(terms(tail) - question_terms - COMMON_ZH)
    words = re.findall(r"[A-Za-z0-9][\w'-]*", sentence)
    last = -1
    for i, word in enumerate(words):
        if terms(word) & question_terms:
            last = i
    if last < 0:
        return frozenset()
    picked: list[str] = []
    for word in words[last + 1 :]:
        if word.lower() in _BOUNDARY_EN and picked:
            break
        if picked and picked[0][:1].isupper() and not word[:1].isupper():
            break  # a name ("Lotte is coming up"): the name is the detail
        if terms(word):
            picked.append(word)
        if len(picked) == 3:
            break
    return frozenset(terms(" ".join(picked)) - question_terms)


def most_memorable(statements: Sequence[str], q_terms: set[str]) -> str | None:
    """The statement with the most to remember (a fact other than a name; newest on ties).

    A statement no fact is read from still counts when it weighs as much as the return
    greeting asks of a detail ("I repair clocks in the old tower"): the greeting says it back,
    so "Do you remember me?" can too. A name on its own never does.
    """
    best: tuple[float, int, str] | None = None
    for index, sentence in enumerate(statements):
        found = heuristics.extract_facts(sentence)
        facts = [f for f in found if f.predicate != "name"]
        if (
            not facts
            and not kinds_stated(sentence) - {"name"}
            and (found or heuristics.importance(sentence) < heuristics.MEMORABLE)
        ):
            continue
        score = heuristics.importance(sentence) + 2.0 * len(facts)
        if best is None or (score, index) >= best[:2]:
            best = (score, index, sentence)
    return best[2] if best else None
