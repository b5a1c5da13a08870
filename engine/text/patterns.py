"""Regular expressions that come from files and cards, run on a linear-time engine (pure).

A lorebook key such as ``/(a+)+$/`` takes exponential time on Python's backtracking ``re``,
and ``re`` holds the GIL while it runs, so one card could freeze every player's turn and the
game thread with them. Every pattern an author supplies (lorebook regex keys, blocked-topic
patterns) is therefore compiled here with RE2 (the ``google-re2`` package), whose matching time
is linear in the text. RE2 has no backreferences and no lookaround: such a pattern is refused
when the file is read, by :func:`compile_linear` raising :class:`UnsupportedPatternError` with
the reason, and the caller names the file and field.

Patterns the engine writes itself (from escaped literals) stay on ``re``.

Example::

    from engine.text.patterns import compile_linear
    rx = compile_linear("(a+)+$")
    rx.search("a" * 100_000 + "!") is None   # True, in well under a millisecond
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import re2

__all__ = [
    "MAX_PATTERN_CHARS",
    "LinearPattern",
    "UnsupportedPatternError",
    "check_linear",
    "compile_linear",
]

#: The longest pattern accepted from a file or card, in characters.
MAX_PATTERN_CHARS = 2000
#: Memory RE2 may use for one compiled pattern (its default is 8 MiB); a larger program is refused.
_MAX_PROGRAM_BYTES = 4 << 20
# JavaScript writes a named group `(?<name>...)`; RE2 reads it too, but Python's spelling is
# the common ground.
_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


class UnsupportedPatternError(ValueError):
    """A pattern the linear-time engine cannot run (backreference, lookaround, too large) or
    that is not a valid regular expression. A ``ValueError``, so a pydantic validator turns it
    into a validation error that names the field."""


class LinearPattern(Protocol):
    """What the engine uses of a compiled pattern (``re2`` and ``re`` patterns both fit)."""

    def search(self, string: str, /) -> Any: ...


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported once, by the caller, not on stderr
    options.max_mem = _MAX_PROGRAM_BYTES
    return options


def compile_linear(
    pattern: str, *, ignore_case: bool = False, multiline: bool = False, dotall: bool = False
) -> LinearPattern:
    """``pattern`` compiled for RE2 with the given flags, or :class:`UnsupportedPatternError`.

    The syntax is Python's / Perl's minus backreferences and lookaround; ``(?<name>...)`` is
    read as a named group as in JavaScript.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsupportedPatternError(
            f"pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}"
        )
    flags = "".join(f for f, on in (("i", ignore_case), ("m", multiline), ("s", dotall)) if on)
    body = _literal_escapes(_JS_NAMED_GROUP.sub("(?P<", pattern))
    source = f"(?{flags}){body}" if flags else body
    try:
        return re2.compile(source, _options())  # type: ignore[no-any-return]
    except re2.error as exc:
        reason = (
            exc.args[0].decode("utf-8", "replace")
            if exc.args and isinstance(exc.args[0], bytes)
            else str(exc)
        )
        raise UnsupportedPatternError(
            f"pattern {pattern!r} cannot run on the linear-time engine ({reason}); "
            "backreferences and lookaround are not supported"
        ) from None
    except (ValueError, TypeError) as exc:
        raise UnsupportedPatternError(f"pattern {pattern!r} is not valid: {exc}") from None


def _literal_escapes(pattern: str) -> str:
    """``pattern`` in RE2's spelling where Python's differs: a backslash before a non-ASCII
    character dropped (Python and JavaScript read ``\\é`` as ``é``; RE2 refuses the escape),
    and ``\\Z`` written ``\\z``."""
    if "\\" not in pattern:
        return pattern
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            following = pattern[i + 1]
            if following == "Z":
                out.append("\\z")  # Python's end of text; RE2 spells it \z
            else:
                out.append(following if not following.isascii() else char + following)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def check_linear(pattern: str, **flags: bool) -> str:
    """``pattern`` unchanged when :func:`compile_linear` accepts it; for field validators."""
    compile_linear(pattern, **flags)
    return pattern
