"""What a reply should be grounded on: the player's remembered words and the character's knowledge.

Pure functions over text. :func:`ground` picks, for the line being answered, the few things
the character remembers the player saying about themselves and the one knowledge line most
relevant to it; the prompt places them right before the reply (small base models follow what
is nearest), the candidate choice (:mod:`engine.dialogue.choice`) prefers a reply that names them, and
:func:`compose` says one of them as the character when no candidate does.

Relevance is lexical (English words, lightly stemmed; Chinese character bigrams) plus a short
table of the kinds of things people say about themselves (work, origin, name, age, likes, plans,
what they must not eat, when and where), so
"what do I do for a living?" finds "I'm a blacksmith" without sharing a word with it, and the kinds
of thing words name ("my dog" asks about "my whippet Noodle").

The modules, each one concept (they import one another's public names only, never this
package's ``__init__``):

- :mod:`~engine.dialogue.grounding.words`: the words a line is matched on (stems, bigrams);
- :mod:`~engine.dialogue.grounding.item`: :class:`Ground`, one thing to ground a reply on;
- :mod:`~engine.dialogue.grounding.asking`: whether a line asks, what about, and whether only
  to chat;
- :mod:`~engine.dialogue.grounding.statements`: which of the player's sentences tell something;
- :mod:`~engine.dialogue.grounding.told`: what a statement tells, of which kind, and its detail;
- :mod:`~engine.dialogue.grounding.times`: the months, days and dates a line names;
- :mod:`~engine.dialogue.grounding.related`: what kind of thing a word names (a whippet, a dog);
- :mod:`~engine.dialogue.grounding.knowledge`: which knowledge line answers, and where in it;
- :mod:`~engine.dialogue.grounding.finding`: :func:`ground`, which puts the above together;
- :mod:`~engine.dialogue.grounding.naming`: whether a reply names an item, from whose side;
- :mod:`~engine.dialogue.grounding.saying`: an item said as the character (:func:`compose`).

>>> g = ground("What do I like to drink?", player="Ada",
...            player_lines=["I'm a blacksmith. My favourite drink is plum wine."], knowledge=[])
>>> [(x.kind, x.note) for x in g]
[('memory', "Ada's favourite drink is plum wine.")]
>>> compose(g[0], language="en")
'Of course I remember: your favourite drink is plum wine.'
"""

from __future__ import annotations

from engine.dialogue.grounding.asking import is_question, is_small_talk
from engine.dialogue.grounding.finding import ground
from engine.dialogue.grounding.item import Ground
from engine.dialogue.grounding.naming import (
    addresses_player,
    claims_as_own,
    mentions,
    names_player,
)
from engine.dialogue.grounding.saying import acknowledge, compose, in_own_words, speakable
from engine.dialogue.grounding.words import terms

__all__ = [
    "Ground",
    "acknowledge",
    "addresses_player",
    "claims_as_own",
    "compose",
    "ground",
    "in_own_words",
    "is_question",
    "is_small_talk",
    "mentions",
    "names_player",
    "speakable",
    "terms",
]
