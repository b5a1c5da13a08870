"""The times a player's line names: months, weekdays and dates, in English and Chinese ("in
October", "腊月十八", "1月8号", "next week", "下个月"), so a question and a statement can be
matched on the time they share, and a "which month" or "which day" asked is answered by one.
"""

from __future__ import annotations

import functools
import re

__all__ = ["MONTH", "WEEKDAY", "WHEN", "names_day", "names_month", "times_named"]

# Typed in lower case in chat too ("october 3rd", "friday"), but for the months that are
# other words as well ("may", "march", "august").
MONTH = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
    "|january|february|april|june|july|september|october|november|december"
)
WEEKDAY = (
    "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    "|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
)

#: A time a statement tells, its words in the group that matched.
WHEN = re.compile(
    rf"\b((?:{MONTH})(?: \d{{1,2}}(?:st|nd|rd|th)?)?|(?:{WEEKDAY})s?)\b"
    r"|\b((?:next|this|last) (?:week|month|year|weekend|summer|winter|spring|autumn))\b"
    r"|((?:[正腊冬]月|[一二三四五六七八九十\d]{1,3}月)(?:初?[一二三四五六七八九十廿\d]{1,3}[号日]?)?份?"
    r"|(?:下|上|这)个?(?:月|礼拜|星期|周)[一二三四五六日天]?"
    r"|(?:礼拜|星期|周)[一二三四五六日天]|明年[\u4e00-\u9fff]{0,3})"
)


def names_month(text: str) -> bool:
    """Whether ``text`` names a month ("in October", "十月", "腊月")."""
    return _MONTH_NAMED.search(text) is not None


_MONTH_NAMED = re.compile(rf"\b(?:{MONTH})\b|[一二三四五六七八九十\d正腊冬]{{1,3}}月")


def names_day(text: str) -> bool:
    """Whether ``text`` names a day: a weekday, a date ("the 14th", "腊月十八", "1月8号", "初八")
    or one near ("tomorrow", "明天", "周六"); "明年" or "in the spring" names none."""
    return _DAY_NAMED.search(text) is not None


_DAY_NAMED = re.compile(
    rf"\b(?:{WEEKDAY})s?\b|\b\d{{1,2}}(?:st|nd|rd|th)\b|\b(?:{MONTH}) \d{{1,2}}\b"
    r"|\b(?:tomorrow|tonight|today|the day after)\b"
    r"|[\d一二三四五六七八九十廿]{1,3}[号日]|月(?:初)?[\d一二三四五六七八九十廿]{1,3}|初[一二三四五六七八九十]"
    r"|[明后今昨前]天|(?:礼拜|星期|周)[一二三四五六日天]",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def times_named(text: str) -> frozenset[str]:
    """The times ``text`` names, as said ("下个月", "next week", "October"), lower case: a
    question and a statement that name the same one are about the same thing."""
    return frozenset(
        next(g for g in m.groups() if g).lower() for m in WHEN.finditer(text) if any(m.groups())
    )
