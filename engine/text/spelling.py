"""Chat typed without care, written out: contractions left without their apostrophe ("im rico",
"hes my blue heeler", "dont") and a lone lowercase "i", so rules written for a line typed with
care read it too.
"""

from __future__ import annotations

import re

__all__ = ["spelled_out"]

# Contractions typed without their apostrophe in chat ("im rico", "hes my blue heeler", "dont
# make me"), and a lone lowercase "i"; not those spelled like a word of their own ("ill",
# "well", "its", "wed", "id", "hell", "shell", "were", "wont").
_SPELLED = {
    "i": "I", "im": "I'm", "ive": "I've", "hes": "he's", "shes": "she's", "thats": "that's",
    "whats": "what's", "wheres": "where's", "whos": "who's", "hows": "how's", "theres": "there's",
    "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "cant": "can't", "isnt": "isn't",
    "wasnt": "wasn't", "arent": "aren't", "werent": "weren't", "couldnt": "couldn't",
    "wouldnt": "wouldn't", "shouldnt": "shouldn't", "havent": "haven't", "hasnt": "hasn't",
    "youre": "you're", "theyre": "they're", "youve": "you've", "weve": "we've", "lemme": "let me",
}  # fmt: skip
_UNSPELLED = re.compile(r"(?<![\w'’])(" + "|".join(_SPELLED) + r")(?![\w'’])", re.IGNORECASE)


def spelled_out(text: str) -> str:
    """``text`` with the contractions chat leaves without an apostrophe written out ("im rico"
    -> "I'm rico", "i got nine years" -> "I got nine years"), so a line typed in lowercase is
    read as one typed with care. A word's first capital stays ("Im" -> "I'm", "Dont" -> "Don't")."""
    if not _UNSPELLED.search(text):
        return text

    def spell(m: re.Match[str]) -> str:
        word = m.group(1)
        full = _SPELLED[word.lower()]
        return full[0].upper() + full[1:] if word[0].isupper() else full

    return _UNSPELLED.sub(spell, text)
