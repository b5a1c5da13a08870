"""Whether a player's line asks something, and whether it asks only to keep the conversation
going ("How's your evening?").
"""

from __future__ import annotations

import re

__all__ = ["is_question", "is_small_talk"]

_ASKING = re.compile(
    r"[?？]|[吗呢]\s*$|(?:^|[.!]\s+)\s*(what|when|where|who|why|how|which|do you|did you|can you|could you|"
    r"tell me|remind me|guess|bet you)\b|\bremember\b|\brecall\b|什么|啥|咋|几点|哪|多少|怎么|为什么|谁|告诉我|记得"
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
