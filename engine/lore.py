"""Lorebook (world info) entries, inserted into the prompt when their keys match the conversation.

The model follows Character Card V3's ``lorebook`` entry, which is a superset of V2's
``character_book`` and close to SillyTavern World Info. This module holds:

- :class:`LoreEntry` and :class:`Lorebook` (an entry list plus book-level defaults);
- :func:`select_entries`, the matcher the prompt assembly calls each turn: primary keys,
  secondary keys combined by AND ANY / AND ALL / NOT ANY / NOT ALL, ``/regex/flags`` keys,
  case sensitivity, whole-word matching that treats Chinese/Japanese/Korean script as
  word-boundary-free, constant entries, scan depth, recursion, V3 ``@@`` decorators, and a
  token budget that keeps higher-priority entries;
- (in :mod:`engine.cards.lorebooks`) readers and writers for an embedded ``character_book``
  (V2/V3), a standalone ``lorebook_v3`` object and SillyTavern World Info JSON
  (:func:`~engine.cards.lorebooks.parse_lorebook`).

Example::

    from engine.lore import LoreEntry, select_entries
    book = [LoreEntry(keys=["Eldoria"], content="Eldoria is the forest {{char}} guards.")]
    chosen = select_entries(book, ["Where is Eldoria?"], budget_tokens=200,
                            macros={"char": "Seraphina"})
    chosen[0].content  # 'Eldoria is the forest Seraphina guards.'
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.text.patterns import LinearPattern, UnsupportedPatternError, compile_linear
from engine.text.script import UNSPACED
from engine.text.tokens import estimate_tokens

__all__ = [
    "LoreEntry",
    "Lorebook",
    "SelectiveLogic",
    "expand_macros",
    "select_entries",
    "strip_decorators",
]

logger = logging.getLogger(__name__)

SelectiveLogic = Literal["and_any", "and_all", "not_any", "not_all"]


class LoreEntry(BaseModel):
    """One lorebook entry: text inserted into the prompt when its keys appear in recent turns."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    keys: list[str] = Field(
        default_factory=list, description="Primary keys; any one matching triggers the entry."
    )
    content: str = Field("", description="The text inserted into the prompt.")
    name: str = Field("", description="Entry name (V3 `name`, World Info `comment`).")
    comment: str = Field("", description="Writer's note, never shown to the model.")
    secondary_keys: list[str] = Field(
        default_factory=list, description="Secondary keys, combined by `selective_logic`."
    )
    selective: bool = Field(False, description="Whether secondary keys are checked.")
    selective_logic: Literal["and_any", "and_all", "not_any", "not_all"] = Field(
        "and_any", description="How secondary keys combine with the primary match."
    )
    use_regex: bool = Field(False, description="Keys are regular expressions (or /pattern/flags).")
    case_sensitive: bool = Field(False, description="Match keys case-sensitively.")
    match_whole_words: bool | None = Field(
        None, description="Match keys only as whole words (None: the book's default)."
    )
    constant: bool = Field(False, description="Always inserted, whatever the keys.")
    enabled: bool = Field(True, description="Disabled entries are never inserted.")
    insertion_order: int = Field(
        100, description="Lower values are inserted earlier in the prompt."
    )
    priority: int = Field(
        10, description="When the budget is short, higher priority entries are kept."
    )
    position: str = Field(
        "before_char", description="Where the card asked for it (kept for export)."
    )
    scan_depth: int | None = Field(
        None, ge=0, description="How many recent messages to scan (None: the book's default)."
    )
    id: int | str | None = Field(None, description="The entry's id in its source book.")
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="Unknown extension fields, kept verbatim."
    )
    absent_fields: list[str] = Field(
        default_factory=list,
        description="Optional card fields the source entry did not have; export leaves them out again.",
    )

    @model_validator(mode="after")
    def _regex_keys_run_in_linear_time(self) -> LoreEntry:
        """Refuse a regex key the linear-time engine cannot run (backreference, lookaround).

        A key that is not a regular expression at all stays as the V3 spec says: no match."""
        for field in ("keys", "secondary_keys"):
            for index, key in enumerate(getattr(self, field)):
                try:
                    _regex_of(key, self.use_regex, self.case_sensitive)
                except UnsupportedPatternError as exc:
                    raise ValueError(f"{field}[{index}]: {exc}") from None
        return self


# --------------------------------------------------------------------------------------------
# Text helpers: macros and decorators
# --------------------------------------------------------------------------------------------

_MACRO = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(bot|char|user)>", re.IGNORECASE)


def expand_macros(text: str, macros: Mapping[str, str]) -> str:
    """Replace ``{{char}}``/``{{user}}`` (any case) and V1's ``<BOT>``/``<CHAR>``/``<USER>``.

    ``macros`` maps ``"char"`` and/or ``"user"`` to names; a macro without a value stays as is.

    >>> expand_macros("{{User}} meets <BOT>.", {"char": "Mira", "user": "Ann"})
    'Ann meets Mira.'
    """

    def repl(match: re.Match[str]) -> str:
        name = (match.group(1) or match.group(2)).lower()
        name = "char" if name in ("char", "bot") else "user"
        value = macros.get(name)
        return match.group(0) if value is None else value

    return _MACRO.sub(repl, text)


_DECORATOR_LINE = re.compile(r"^@@@?[A-Za-z_][\w]*(?:[ \t].*)?$")
_KNOWN_DECORATORS = frozenset(
    {"activate", "dont_activate", "scan_depth", "additional_keys", "exclude_keys"}
)
# Decorators the engine has no use for but recognises, so their fallbacks are not applied.
_IGNORED_DECORATORS = frozenset(
    {
        "depth",
        "instruct_depth",
        "reverse_depth",
        "reverse_instruct_depth",
        "role",
        "position",
        "activate_only_after",
        "activate_only_every",
        "keep_activate_after_match",
        "dont_activate_after_match",
        "instruct_scan_depth",
        "is_greeting",
        "ignore_on_max_context",
        "is_user_icon",
        "disable_ui_prompt",
    }
)


def _split_decorators(content: str) -> tuple[list[tuple[str, str]], str]:
    """Leading ``@@name value`` lines (V3 decorators) and the content without them.

    Fallback lines (``@@@name``) apply only when the decorator before them is not recognised.
    Returns the effective (name, value) pairs in order.
    """
    lines = content.split("\n")
    taken: list[tuple[str, str]] = []
    index = 0
    previous_resolved = True
    while index < len(lines) and _DECORATOR_LINE.match(lines[index].rstrip("\r")):
        line = lines[index].rstrip("\r")
        fallback = line.startswith("@@@")
        body = line[3:] if fallback else line[2:]
        name, _, value = body.partition(" ")
        name = name.strip().lower()
        value = value.strip()
        recognised = name in _KNOWN_DECORATORS or name in _IGNORED_DECORATORS
        if fallback:
            if not previous_resolved and recognised:
                taken.append((name, value))
                previous_resolved = True
        else:
            if recognised:
                taken.append((name, value))
            previous_resolved = recognised
        index += 1
    if index == 0:
        return [], content
    rest = "\n".join(lines[index:])
    return taken, rest.lstrip("\r\n")


def strip_decorators(content: str) -> str:
    """The entry content without its leading V3 ``@@`` decorator lines (what the model sees)."""
    return _split_decorators(content)[1]


# --------------------------------------------------------------------------------------------
# Key matching
# --------------------------------------------------------------------------------------------

# Scripts written without spaces between words: CJK, and Thai, Lao, Myanmar and Khmer.
_CJK_RANGES = UNSPACED
# A "word character" for whole-word matching: a letter or digit not from those scripts. They
# have no spaces between words, so such a neighbour never blocks a match.
_WORDISH = f"[^\\W{_CJK_RANGES}]"
_REGEX_KEY = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _regex_of(key: str, use_regex: bool, case_sensitive: bool) -> LinearPattern | None:
    """The linear-time pattern of a regex key; None when ``key`` is not a regex key or not a
    valid regular expression (never a match, as the V3 spec says); raises
    :class:`UnsupportedPatternError` for a valid pattern the linear-time engine cannot run."""
    stripped = key.strip()
    literal = _REGEX_KEY.match(stripped)
    if literal is not None:
        # `/pattern/flags`, as SillyTavern and V3 write regex keys (JavaScript flag letters).
        pattern, js_flags = literal.group(1), literal.group(2)
        flags = {
            "ignore_case": "i" in js_flags,
            "multiline": "m" in js_flags,
            "dotall": "s" in js_flags,
        }
    elif use_regex and stripped:
        pattern, flags = key, {"ignore_case": not case_sensitive}
    else:
        return None
    try:
        re.compile(_JS_NAMED_GROUP.sub("(?P<", pattern))
    except re.error as exc:
        logger.debug("lore key %r is not a valid regular expression: %s", key, exc)
        return None
    except RecursionError:
        return None
    return compile_linear(pattern, **flags)


@functools.lru_cache(maxsize=4096)
def _compile_key(
    key: str, use_regex: bool, case_sensitive: bool, whole_words: bool
) -> LinearPattern | re.Pattern[str] | None:
    """The compiled pattern for one key, or None when the key can never match.

    Regex keys come from cards and run on the linear-time engine (:mod:`engine.text.patterns`);
    plain keys are escaped literals on ``re``. Cached: keys are matched on every turn."""
    if not key.strip():
        return None
    if _REGEX_KEY.match(key.strip()) is not None or use_regex:
        try:
            return _regex_of(key, use_regex, case_sensitive)
        except UnsupportedPatternError as exc:
            # Entries are checked when built; one built with model_construct lands here.
            logger.warning("lore key %r skipped: %s", key, exc)
            return None
    flags = 0 if case_sensitive else re.IGNORECASE
    text = _normalise(key.strip())
    body = re.escape(text)
    if whole_words:
        if re.match(_WORDISH, text[0]):
            body = f"(?<!{_WORDISH})" + body
        if re.match(_WORDISH, text[-1]):
            # An English plural or possessive still names the key: "Shadowfangs", "Bram's".
            plural = "(?:'s|’s|es|s)?" if re.match(r"[A-Za-z]", text[-1]) else ""
            body = body + f"{plural}(?!{_WORDISH})"
    return re.compile(body, flags)


def _any_key(keys: Sequence[str], text: str, entry: LoreEntry, whole_words: bool) -> bool:
    return any(_key_in(key, text, entry, whole_words) for key in keys)


def _key_in(key: str, text: str, entry: LoreEntry, whole_words: bool) -> bool:
    pattern = _compile_key(key, entry.use_regex, entry.case_sensitive, whole_words)
    return pattern is not None and pattern.search(text) is not None


def _secondary_ok(
    keys: Sequence[str], logic: str, text: str, entry: LoreEntry, whole_words: bool
) -> bool:
    usable = [k for k in keys if k.strip()]
    if not usable:
        return True
    hits = [_key_in(k, text, entry, whole_words) for k in usable]
    if logic == "and_any":
        return any(hits)
    if logic == "and_all":
        return all(hits)
    if logic == "not_any":
        return not any(hits)
    return not all(hits)  # not_all


def _split_list(value: str) -> list[str]:
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",").strip() for p in parts if p.strip()]


class _Candidate:
    """An entry prepared for one selection: decorators parsed, scan settings resolved."""

    __slots__ = ("entry", "index", "text", "decorators", "depth", "whole_words")

    def __init__(self, entry: LoreEntry, index: int, scan_depth: int, whole_words: bool) -> None:
        self.entry = entry
        self.index = index
        decorators, self.text = _split_decorators(entry.content)
        self.decorators: dict[str, list[str]] = {}
        for name, value in decorators:
            self.decorators.setdefault(name, []).append(value)
        depth = entry.scan_depth if entry.scan_depth is not None else scan_depth
        override = self.decorators.get("scan_depth")
        if override:
            try:
                depth = max(0, int(float(override[0])))
            except ValueError:
                logger.debug(
                    "ignoring @@scan_depth %r in lore entry %r", override[0], entry.name or entry.id
                )
        self.depth = depth
        self.whole_words = (
            entry.match_whole_words if entry.match_whole_words is not None else whole_words
        )

    def matches(self, text: str) -> bool:
        entry = self.entry
        if not _any_key(entry.keys, text, entry, self.whole_words):
            return False
        if entry.selective and not _secondary_ok(
            entry.secondary_keys, entry.selective_logic, text, entry, self.whole_words
        ):
            return False
        for value in self.decorators.get("additional_keys", []):
            if not _any_key(_split_list(value), text, entry, self.whole_words):
                return False
        for value in self.decorators.get("exclude_keys", [])[:1]:
            if _any_key(_split_list(value), text, entry, self.whole_words):
                return False
        return True


def select_entries(
    entries: Sequence[LoreEntry],
    recent: Sequence[str],
    *,
    budget_tokens: int,
    scan_depth: int = 4,
    match_whole_words: bool = True,
    recursive: bool = False,
    macros: Mapping[str, str] | None = None,
) -> list[LoreEntry]:
    """The lore entries to insert this turn, in insertion order, within ``budget_tokens``.

    ``recent`` is the conversation, oldest first (newest last); each entry scans the last
    ``scan_depth`` texts (its own ``scan_depth`` wins). An entry is chosen when it is enabled,
    has content, and is constant or has a primary key in the scanned text with its secondary
    keys satisfying ``selective_logic``. Keys are matched case-insensitively unless the entry is
    case-sensitive; as whole words (an English plural or possessive ending allowed) unless the
    entry (or ``match_whole_words``) says otherwise, where Chinese/Japanese/Korean text counts
    as boundary everywhere; keys written
    ``/pattern/flags`` (or any key when ``use_regex``) are regular expressions, and an invalid
    one never matches. With ``recursive``, the content of chosen entries is scanned again for
    other entries' keys (``extensions.exclude_recursion`` / ``prevent_recursion`` honoured).

    When the chosen entries cost more than ``budget_tokens`` (estimated), constant entries are
    kept first, then higher ``priority``, then lower ``insertion_order``. The returned entries
    have V3 decorators removed from their content and, when ``macros`` is given
    (``{"char": ..., "user": ...}``), ``{{char}}``/``{{user}}`` expanded; unchanged entries are
    returned as they are.

    >>> e = LoreEntry(keys=["fountain"], content="The fountain is old.")
    >>> [x.content for x in select_entries([e], ["Nice fountain!"], budget_tokens=50)]
    ['The fountain is old.']
    >>> select_entries([e], ["A fountainhead"], budget_tokens=50)
    []
    """
    if budget_tokens <= 0:
        return []
    candidates = [
        _Candidate(entry, index, scan_depth, match_whole_words)
        for index, entry in enumerate(entries)
        if entry.enabled
    ]
    windows: dict[int, str] = {}

    def window(depth: int) -> str:
        if depth not in windows:
            texts = list(recent)[-depth:] if depth > 0 else []
            windows[depth] = _normalise("\n".join(texts))
        return windows[depth]

    chosen: dict[int, _Candidate] = {}
    for cand in candidates:
        if (
            not cand.text.strip()
            or "dont_activate" in cand.decorators
            and "activate" not in cand.decorators
        ):
            continue
        if cand.entry.constant or "activate" in cand.decorators or cand.matches(window(cand.depth)):
            chosen[cand.index] = cand

    if recursive:
        for _ in range(8):  # a bounded number of passes; entries rarely chain deeper
            buffer = _normalise(
                "\n".join(
                    c.text
                    for c in chosen.values()
                    if not c.entry.extensions.get("prevent_recursion")
                )
            )
            added = False
            for cand in candidates:
                if cand.index in chosen or not cand.text.strip():
                    continue
                if (
                    cand.entry.extensions.get("exclude_recursion")
                    or "dont_activate" in cand.decorators
                ):
                    continue
                if cand.matches(buffer):
                    chosen[cand.index] = cand
                    added = True
            if not added:
                break

    kept = _fit_budget(list(chosen.values()), budget_tokens, macros)
    kept.sort(key=lambda pair: (pair[0].entry.insertion_order, pair[0].index))
    return [entry for _, entry in kept]


def _fit_budget(
    chosen: list[_Candidate], budget_tokens: int, macros: Mapping[str, str] | None
) -> list[tuple[_Candidate, LoreEntry]]:
    ranked = sorted(
        chosen,
        key=lambda c: (not c.entry.constant, -c.entry.priority, c.entry.insertion_order, c.index),
    )
    used = 0
    kept: list[tuple[_Candidate, LoreEntry]] = []
    for cand in ranked:
        text = expand_macros(cand.text, macros) if macros else cand.text
        cost = estimate_tokens(text)
        if used + cost > budget_tokens:
            logger.debug(
                "lore entry %r left out: %d tokens over the budget",
                cand.entry.name or cand.entry.id,
                cost,
            )
            continue
        used += cost
        entry = (
            cand.entry
            if text == cand.entry.content
            else cand.entry.model_copy(update={"content": text})
        )
        kept.append((cand, entry))
    return kept


# --------------------------------------------------------------------------------------------
# Lorebook model and readers
# --------------------------------------------------------------------------------------------


class Lorebook(BaseModel):
    """A lorebook: entries plus the book-level defaults they fall back on."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    name: str | None = Field(None, description="The book's name (not used in prompts).")
    description: str | None = Field(
        None, description="The book's description (not used in prompts)."
    )
    scan_depth: int | None = Field(
        None, ge=0, description="Recent messages scanned for keys (None: the engine's default, 4)."
    )
    token_budget: int | None = Field(
        None, ge=0, description="Most tokens the book's entries may take in a prompt."
    )
    recursive_scanning: bool | None = Field(
        None, description="Whether chosen entries' content can trigger others."
    )
    case_sensitive: bool | None = Field(
        None, description="Default for entries that do not say (None: insensitive)."
    )
    match_whole_words: bool | None = Field(
        None, description="Default for entries that do not say (None: whole words)."
    )
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="Book-level extensions, kept verbatim."
    )
    entries: list[LoreEntry] = Field(default_factory=list, description="The entries.")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Other fields of the source book, kept verbatim."
    )
    absent_fields: list[str] = Field(
        default_factory=list,
        description="Fields the source book did not have; export leaves them out again.",
    )

    def select(
        self,
        recent: Sequence[str],
        *,
        budget_tokens: int | None = None,
        macros: Mapping[str, str] | None = None,
    ) -> list[LoreEntry]:
        """:func:`select_entries` with this book's defaults; the budget is the smaller of the two."""
        budget = self.token_budget if self.token_budget is not None else None
        if budget_tokens is not None:
            budget = budget_tokens if budget is None else min(budget, budget_tokens)
        entries = self.entries
        if self.case_sensitive is not None:
            # The book's default reaches entries that did not say (their card had no field).
            entries = [
                e.model_copy(update={"case_sensitive": self.case_sensitive})
                if "case_sensitive" in e.absent_fields
                else e
                for e in entries
            ]
        return select_entries(
            entries,
            recent,
            budget_tokens=budget if budget is not None else 10**9,
            scan_depth=self.scan_depth if self.scan_depth is not None else 4,
            match_whole_words=self.match_whole_words
            if self.match_whole_words is not None
            else True,
            recursive=bool(self.recursive_scanning),
            macros=macros,
        )

    def entries_with_defaults(self) -> list[LoreEntry]:
        """The entries with the book's ``scan_depth``, ``case_sensitive`` and
        ``match_whole_words`` filled in where an entry leaves them to the book.

        Used when a character takes a lore file's entries into its own ``lore``, where the
        book around them is gone (its ``token_budget`` and ``recursive_scanning`` do not carry).
        """
        out = []
        for entry in self.entries:
            update: dict[str, Any] = {}
            if entry.scan_depth is None and self.scan_depth is not None:
                update["scan_depth"] = self.scan_depth
            if entry.match_whole_words is None and self.match_whole_words is not None:
                update["match_whole_words"] = self.match_whole_words
            if self.case_sensitive is not None and "case_sensitive" in entry.absent_fields:
                update["case_sensitive"] = self.case_sensitive
            out.append(entry.model_copy(update=update) if update else entry)
        return out
