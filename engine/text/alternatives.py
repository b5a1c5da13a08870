"""A pattern's alternatives tried only where the scripts of the text let them match.

The engine's own patterns for reading a line (what a player tells about themselves, which
kind of thing they ask) hold English and Chinese alternatives side by side, and Python's
regular expressions try every alternative at every position of the text: an English line
pays for every Chinese alternative and the other way round. :func:`by_script` compiles,
beside the whole pattern, the top-level alternatives that can match a text with no Chinese
(CJK) characters, those that can match one with no Latin letters, and those that can match
one with neither; a search uses the ones the text's scripts leave.

An alternative is left out only where it cannot match: it needs a character of the missing
script at a place no quantifier makes optional (a literal, or a class of that script's
characters alone; lookarounds never count as a need). Anything the reading does not
understand counts as no need, so the alternative stays: the split can be slower than it
might be, never different. A case-insensitive pattern is also compiled case-sensitively for
lowered text, and that version (several times faster in Python's engine) is searched first:
a text it does not match is not searched again.

Searches return the whole pattern's own matches on the text as given (positions, groups),
whichever alternatives were tried.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from engine.text.script import CJK

__all__ = ["LATIN", "Alternatives", "by_script", "needed", "scripts_in"]

#: Latin letters as a case-insensitive pattern may match them (the Kelvin and Angstrom signs
#: fold to k and å).
LATIN = "A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\u212a\u212b"

_CJK_CHAR = re.compile(f"[{CJK}]")
_LATIN_CHAR = re.compile(f"[{LATIN}]")


def _ranges(spec: str) -> tuple[tuple[int, int], ...]:
    """The code point ranges of a character class body such as ``a-z\\u00c0``."""
    out = []
    i = 0
    while i < len(spec):
        lo = hi = ord(spec[i])
        if i + 2 < len(spec) and spec[i + 1] == "-":
            hi = ord(spec[i + 2])
            i += 3
        else:
            i += 1
        out.append((lo, hi))
    return tuple(out)


_SCRIPTS = {"cjk": _ranges(CJK), "latin": _ranges(LATIN)}


def _within(lo: int, hi: int, script: str) -> bool:
    return any(a <= lo and hi <= b for a, b in _SCRIPTS[script])


class _Reader:
    """Reads a pattern's source far enough to tell, for each top-level alternative, which
    scripts it needs (see the module docstring); anything else it steps over."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.i = 0

    def alternation(self) -> list[tuple[int, int, frozenset[str]]]:
        """(start, end, scripts needed) of each alternative, up to a ``)`` or the end."""
        out: list[tuple[int, int, frozenset[str]]] = []
        while True:
            start = self.i
            needs = self.sequence()
            out.append((start, self.i, needs))
            if self.i < len(self.src) and self.src[self.i] == "|":
                self.i += 1
                continue
            return out

    def sequence(self) -> frozenset[str]:
        needs: set[str] = set()
        while self.i < len(self.src) and self.src[self.i] not in "|)":
            item = self.item()
            if not self.optional():
                needs |= item
        return frozenset(needs)

    def optional(self) -> bool:
        """Step over a quantifier, if any; whether it lets the item be absent."""
        src, i = self.src, self.i
        if i >= len(src):
            return False
        if src[i] in "?*+":
            absent = src[i] != "+"
            i += 1
        elif src[i] == "{" and (found := re.match(r"\{(\d*)(?:,(\d*))?\}", src[i:])):
            absent = not found.group(1) or int(found.group(1)) == 0
            i += found.end()
        else:
            return False
        if i < len(src) and src[i] in "?+":  # lazy or possessive
            i += 1
        self.i = i
        return absent

    def item(self) -> frozenset[str]:
        src = self.src
        c = src[self.i]
        if c == "(":
            return self.group()
        if c == "[":
            return self.klass()
        if c == "\\":
            char = self.escape()
            return self.needs_of(char, char) if char is not None else frozenset()
        self.i += 1
        if c in ".^$":
            return frozenset()
        return self.needs_of(c, c)

    @staticmethod
    def needs_of(lo: str, hi: str) -> frozenset[str]:
        return frozenset(s for s in _SCRIPTS if _within(ord(lo), ord(hi), s))

    def escape(self) -> str | None:
        """The character an escape stands for, or None for a class, an anchor or a
        reference; steps over it."""
        src, i = self.src, self.i
        kind = src[i + 1] if i + 1 < len(src) else ""
        for letter, digits in (("u", 4), ("U", 8), ("x", 2)):
            if kind == letter:
                self.i = i + 2 + digits
                return chr(int(src[i + 2 : i + 2 + digits], 16))
        if kind == "N":
            end = src.index("}", i)
            self.i = end + 1
            return None
        self.i = i + 2
        if kind.isalnum():  # \d \w \s \b \A ..., a group reference, an octal escape
            return None
        return kind

    def klass(self) -> frozenset[str]:
        src = self.src
        self.i += 1
        negated = src[self.i] == "^"
        if negated:
            self.i += 1
        members: list[tuple[str, str] | None] = []
        first = True
        while self.i < len(src) and (src[self.i] != "]" or first):
            first = False
            lo: str | None
            if src[self.i] == "\\":
                lo = self.escape()
            else:
                lo = src[self.i]
                self.i += 1
            hi = lo
            if (
                lo is not None
                and self.i + 1 < len(src)
                and src[self.i] == "-"
                and src[self.i + 1] != "]"
            ):
                self.i += 1
                if src[self.i] == "\\":
                    hi = self.escape()
                else:
                    hi = src[self.i]
                    self.i += 1
            members.append((lo, hi) if lo is not None and hi is not None else None)
        self.i += 1  # the closing ]
        if negated or not members or None in members:
            return frozenset()
        needs = frozenset(_SCRIPTS)
        for member in members:
            assert member is not None
            needs &= self.needs_of(*member)
        return needs

    def group(self) -> frozenset[str]:
        src = self.src
        self.i += 1
        counts = True
        if src.startswith("?", self.i):
            head = re.match(
                r"\?(?:P<\w+>|(?P<flags>[aiLmsux]*(?:-[imsx]+)?):|(?P<other>=|!|<=|<!|P=|#))",
                src[self.i :],
            )
            if head is None:  # (?flags) for the whole pattern, or something not read here
                counts = False
                self._close()
                return frozenset()
            if "x" in (head.group("flags") or "").split("-")[0]:
                raise ValueError("a verbose group: its spaces and comments are not matched")
            if head.group("other"):  # a lookaround, a reference or a comment
                counts = False
            self.i += head.end()
        branches = self.alternation()
        self.i += 1  # the closing )
        return _shared(branches) if counts else frozenset()

    def _close(self) -> None:
        depth = 1
        while self.i < len(self.src) and depth:
            c = self.src[self.i]
            if c == "\\":
                self.i += 2
                continue
            depth += c == "("
            depth -= c == ")"
            self.i += 1


def _read(pattern: re.Pattern[str]) -> tuple[list[tuple[int, int, frozenset[str]]], bool]:
    """The top-level alternatives of ``pattern`` with the scripts each needs, and whether
    the whole source was read (a verbose pattern, whose spaces and comments are not what it
    matches, is not)."""
    if pattern.flags & re.VERBOSE:
        return [], False
    reader = _Reader(pattern.pattern)
    try:
        branches = reader.alternation()
    except (IndexError, ValueError):  # a source this reader does not follow
        return [], False
    return branches, reader.i >= len(pattern.pattern)


def _lowered_source(source: str) -> str:
    """``source`` for searching lowered text case-sensitively: its letters lowered (escapes
    kept), each character class holding its members as written and lowered (``[A-Z]`` becomes
    ``[A-Za-z]``)."""
    out: list[str] = []
    i = 0
    klass: list[str] | None = None  # the members of the class being read
    while i < len(source):
        c = source[i]
        if c == "\\":
            end = source.index("}", i) + 1 if source.startswith("N{", i + 1) else i + 2
            (out if klass is None else klass).append(source[i:end])
            i = end
            continue
        if klass is None:
            if source.startswith("(?P", i):  # a named group or a reference to one
                out.append("(?P")
                i += 3
                continue
            if c == "[":
                head = "[^" if source.startswith("[^", i) else "["
                out.append(head)
                i += len(head)
                klass = []
                if source.startswith("]", i):  # a ] first is a member
                    klass.append("\\]")
                    i += 1
                continue
            low = c.lower()
            out.append(low if len(low) == 1 else c)
        elif c == "]":
            members = "".join(klass)
            lowered = "".join(m if m.startswith("\\") else m.lower() for m in klass)
            out.append(members + (lowered if lowered != members else "") + "]")
            klass = None
        else:
            klass.append(c)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Variant:
    """The alternatives searched for texts of some scripts."""

    pattern: re.Pattern[str] | None  # None: no alternative can match
    exact: bool  # its matches are the whole pattern's (no capturing group was dropped)
    lowered: re.Pattern[str] | None  # a case-sensitive version for lowered text


def _variant(parts: list[str], whole: re.Pattern[str]) -> _Variant:
    if not parts:
        return _Variant(None, True, None)
    source = "|".join(parts)
    pattern = whole if source == whole.pattern else re.compile(source, whole.flags)
    # Group numbers shift when an alternative with groups is left out: such a variant only
    # tells whether the whole pattern can match.
    exact = pattern is whole or whole.groups == 0
    lowered = None
    if whole.flags & re.IGNORECASE:
        try:
            lowered = re.compile(_lowered_source(source), whole.flags & ~re.IGNORECASE)
        except (re.error, ValueError):
            lowered = None
    return _Variant(pattern, exact, lowered)


class Alternatives:
    """A compiled pattern searched with only the alternatives a text's scripts allow.

    Offers ``search``, ``finditer``, ``sub`` and the whole ``pattern``; results are exactly
    those of the whole pattern.
    """

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        source = pattern.pattern
        branches, read = _read(pattern)
        self._variants: dict[tuple[bool, bool], _Variant] = {}
        for has_latin in (True, False):
            for has_cjk in (True, False):
                missing = {s for s, has in (("latin", has_latin), ("cjk", has_cjk)) if not has}
                parts = (
                    [source[a:b] for a, b, needs in branches if not needs & missing]
                    if read
                    else [source]
                )
                self._variants[(has_latin, has_cjk)] = _variant(parts, pattern)

    def _searched(self, text: str) -> re.Pattern[str] | None:
        """The pattern to search ``text`` with, or None when nothing in it can match."""
        variant = self._variants[_scripts(text)]
        if variant.pattern is None:
            return None
        if variant.lowered is not None:
            lowered = text.lower()
            if len(lowered) == len(text) and variant.lowered.search(lowered) is None:
                return None
        if variant.exact:
            return variant.pattern
        return self.pattern if variant.pattern.search(text) is not None else None

    def search(self, text: str) -> re.Match[str] | None:
        pattern = self._searched(text)
        return None if pattern is None else pattern.search(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        pattern = self._searched(text)
        return iter(()) if pattern is None else pattern.finditer(text)

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
        pattern = self._searched(text)
        return text if pattern is None else pattern.sub(repl, text)


def needed(pattern: str | re.Pattern[str]) -> frozenset[str]:
    """The scripts ("latin", "cjk") every match of ``pattern`` has a character of, as far as
    its source can be read (see the module docstring); empty when it cannot be."""
    branches, read = _read(re.compile(pattern) if isinstance(pattern, str) else pattern)
    return _shared(branches) if read else frozenset()


def _shared(branches: list[tuple[int, int, frozenset[str]]]) -> frozenset[str]:
    """The scripts every one of ``branches`` (alternatives, as _Reader gives them) needs."""
    needs = frozenset(_SCRIPTS)
    for _start, _end, branch in branches:
        needs &= branch
    return needs


def scripts_in(text: str) -> frozenset[str]:
    """The scripts ("latin", "cjk") ``text`` has characters of."""
    has_latin, has_cjk = _scripts(text)
    return frozenset(s for s, has in (("latin", has_latin), ("cjk", has_cjk)) if has)


@functools.lru_cache(maxsize=256)
def _scripts(text: str) -> tuple[bool, bool]:
    """(has Latin letters, has CJK characters); a line is read by many patterns in a row."""
    return _LATIN_CHAR.search(text) is not None, _CJK_CHAR.search(text) is not None


def by_script(pattern: str | re.Pattern[str], flags: int = 0) -> Alternatives:
    """``pattern`` (compiled with ``flags`` if a string) as :class:`Alternatives`."""
    compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
    return Alternatives(compiled)
