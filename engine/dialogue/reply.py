"""The reply format agreed with the model, and how the engine reads it.

A character's reply is the spoken text first, then at most ONE trailing block of structure::

    Welcome to the plaza! Have a cup of tea.
    <meta>{"emotion": "happy", "strength": 0.8,
           "actions": [{"name": "give_item", "args": {"item": "tea"}}],
           "relationship": {"affinity": 2, "trust": 1}}</meta>

Three pieces live here, all pure:

- :func:`render_meta` writes that block (used in the prompt's examples and by scripted backends);
- :func:`parse_reply` reads a finished reply tolerantly: a missing, half-written or truncated
  block, single quotes, trailing commas, a bare JSON object or a code fence instead of the tags,
  emotion words in Chinese or English synonyms, actions the persona does not have or arguments
  that do not validate. Nothing it cannot validate is kept; each problem becomes a warning;
- :class:`ReplyStreamer` splits a streamed reply into visible text deltas and whole sentences
  (English and Chinese punctuation, closing quotes) and never lets any part of the structured
  block through, even when ``<me`` and ``ta>`` arrive in different chunks.

Example::

    >>> streamer = ReplyStreamer()
    >>> [p.text for p in streamer.feed("Hi there. How are") if p.kind == "sentence"]
    ['Hi there.']
    >>> [p.text for p in streamer.feed(' you?<meta>{"emotion": "happy"}</meta>') + streamer.close()
    ...  if p.kind == "sentence"]
    ['How are you?']
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.persona.actions import check_args
from engine.persona.model import ActionParam, Persona
from engine.text.sentences import TERMINATORS, find_boundary, split_sentences
from engine.types import Action

__all__ = [
    "EMOTION_SYNONYMS",
    "ParsedReply",
    "ReplyStreamer",
    "StreamPiece",
    "normalise_emotion",
    "parse_reply",
    "render_meta",
    "split_sentences",
]

log = logging.getLogger(__name__)

META_OPEN = "<meta>"
META_CLOSE = "</meta>"

# Markers that start the structured part of a reply (lower case). Anything from the first one on
# is withheld from the visible stream. "```" covers models that fence the JSON instead of tagging.
_MARKERS = ("<meta", "```", "<|", "</s>", "<end_of_turn>", "<start_of_turn>")
# Prompt markup and template tokens a model may copy into its reply: the reply ends where one
# begins, whatever the backend. Any "<" followed by a tag name counts (``<player_message>``,
# ``<s>``, ``<![INST]``), as do ``[INST]``/``[SYS]`` and ``<<SYS>>``.
_TAG_START = re.compile(r"<[/!]?[a-z_|\[]|\[/?(?:inst|sys)\]|<<sys>>")
#: Labels of who speaks, in any transcript: a reply that reaches one has begun another turn.
ROLE_LABELS = ("Player", "User", "Assistant", "System", "Human", "玩家", "用户", "系统")

# Emotion words a model may use instead of the persona's names, in English and Chinese.
EMOTION_SYNONYMS: dict[str, str] = {
    # happy
    "happy": "happy", "joy": "happy", "joyful": "happy", "glad": "happy", "cheerful": "happy",
    "pleased": "happy", "content": "happy", "smiling": "happy", "smile": "happy", "amused": "happy",
    "delighted": "happy", "warm": "happy", "friendly": "happy", "grateful": "happy", "happiness": "happy",
    "开心": "happy", "高兴": "happy", "快乐": "happy", "喜悦": "happy", "愉快": "happy", "欢喜": "happy",
    "微笑": "happy", "满意": "happy", "喜": "happy", "乐": "happy", "欣慰": "happy",
    # sad
    "sad": "sad", "unhappy": "sad", "upset": "sad", "sorrow": "sad", "sorrowful": "sad",
    "melancholy": "sad", "disappointed": "sad", "lonely": "sad", "sadness": "sad", "hurt": "sad",
    "难过": "sad", "伤心": "sad", "悲伤": "sad", "失落": "sad", "忧伤": "sad", "沮丧": "sad", "悲": "sad",
    # angry
    "angry": "angry", "mad": "angry", "annoyed": "angry", "furious": "angry", "irritated": "angry",
    "anger": "angry", "frustrated": "angry", "grumpy": "angry",
    "生气": "angry", "愤怒": "angry", "恼火": "angry", "不满": "angry", "怒": "angry", "气愤": "angry",
    # surprised
    "surprised": "surprised", "surprise": "surprised", "shocked": "surprised", "amazed": "surprised",
    "astonished": "surprised", "startled": "surprised",
    "惊讶": "surprised", "吃惊": "surprised", "惊奇": "surprised", "震惊": "surprised", "惊": "surprised",
    # afraid
    "afraid": "afraid", "scared": "afraid", "fear": "afraid", "fearful": "afraid", "nervous": "afraid",
    "worried": "afraid", "anxious": "afraid", "frightened": "afraid",
    "害怕": "afraid", "恐惧": "afraid", "担心": "afraid", "紧张": "afraid", "惊恐": "afraid", "怕": "afraid",
    # thinking
    "thinking": "thinking", "thoughtful": "thinking", "pondering": "thinking", "curious": "thinking",
    "confused": "thinking", "puzzled": "thinking", "pensive": "thinking", "contemplative": "thinking",
    "思考": "thinking", "沉思": "thinking", "疑惑": "thinking", "好奇": "thinking", "困惑": "thinking",
    # shy
    "shy": "shy", "embarrassed": "shy", "bashful": "shy", "flustered": "shy", "blushing": "shy",
    "害羞": "shy", "羞涩": "shy", "尴尬": "shy", "腼腆": "shy",
    # excited
    "excited": "excited", "thrilled": "excited", "eager": "excited", "enthusiastic": "excited",
    "excitement": "excited",
    "兴奋": "excited", "激动": "excited", "期待": "excited",
    # neutral
    "neutral": "neutral", "calm": "neutral", "none": "neutral", "normal": "neutral", "plain": "neutral",
    "平静": "neutral", "中性": "neutral", "平常": "neutral", "冷静": "neutral", "淡定": "neutral",
}  # fmt: skip

# When a persona lacks an emotion, the nearest one it may have.
_EMOTION_FALLBACK: dict[str, tuple[str, ...]] = {
    "excited": ("happy",),
    "shy": ("happy", "neutral"),
    "thinking": ("neutral",),
    "afraid": ("surprised", "sad"),
    "surprised": ("excited", "thinking"),
    "angry": ("sad",),
}

_RELATIONSHIP_KEYS = ("affinity", "trust", "familiarity")


class ParsedReply(BaseModel):
    """What :func:`parse_reply` made of a reply."""

    text: str = Field(description="The spoken text, without the structured block.")
    emotion: str = Field(
        description="An emotion from the persona's set (its baseline when none usable)."
    )
    emotion_strength: float = Field(
        0.5, ge=0, le=1, description="How strongly the emotion shows, 0..1."
    )
    actions: list[Action] = Field(default_factory=list, description="Validated actions, in order.")
    relationship_delta: dict[str, float] = Field(
        default_factory=dict,
        description="Relationship change the model proposed, clamped per turn.",
    )
    warnings: list[str] = Field(
        default_factory=list, description="What was dropped or repaired, and why."
    )
    had_meta: bool = Field(False, description="Whether a structured block was found at all.")


# --------------------------------------------------------------------------------------------
# Writing the block


def render_meta(
    emotion: str | None = None,
    strength: float | None = None,
    actions: Iterable[Action | Mapping[str, Any]] = (),
    relationship: Mapping[str, float] | None = None,
) -> str:
    """The trailing ``<meta>{...}</meta>`` block for a reply; '' when there is nothing to say.

    >>> render_meta("happy", 0.8, [{"name": "wave"}])
    '<meta>{"emotion": "happy", "strength": 0.8, "actions": [{"name": "wave", "args": {}}]}</meta>'
    """
    data: dict[str, Any] = {}
    if emotion:
        data["emotion"] = emotion
        if strength is not None:
            data["strength"] = round(float(strength), 2)
    acts = []
    for action in actions:
        if isinstance(action, Action):
            acts.append({"name": action.name, "args": dict(action.args)})
        else:
            acts.append({"name": str(action["name"]), "args": dict(action.get("args") or {})})
    if acts:
        data["actions"] = acts
    if relationship:
        data["relationship"] = {k: v for k, v in relationship.items() if v}
        if not data["relationship"]:
            del data["relationship"]
    if not data:
        return ""
    return META_OPEN + json.dumps(data, ensure_ascii=False) + META_CLOSE


# --------------------------------------------------------------------------------------------
# Reading a finished reply


def parse_reply(text: str, persona: Persona, *, names: Sequence[str] = ()) -> ParsedReply:
    """Split ``text`` into speech and structure, validating the structure against ``persona``.

    Never raises on model output: whatever cannot be used is dropped with a warning, and a reply
    with no usable structure gets the persona's baseline emotion and no actions. ``names`` are
    extra speaker labels to strip from the start ("Mira:"); the persona's names always are.
    """
    warnings: list[str] = []
    text = re.sub(r"^\s*<think>.*?(</think>|$)", "", text or "", flags=re.DOTALL | re.IGNORECASE)
    speech, meta_text, had_meta = _split_meta(text)
    speech = clean_speech(speech, [persona.name, *persona.names.values(), *names])
    if len(speech) > persona.style.max_reply_chars:
        speech = _truncate(speech, persona.style.max_reply_chars)
        warnings.append(f"reply cut to {persona.style.max_reply_chars} characters")

    data: dict[str, Any] = {}
    if meta_text is not None:
        parsed, problems = _loads_tolerant(meta_text)
        warnings.extend(problems)
        if isinstance(parsed, dict):
            data = parsed
        elif parsed is not None:
            warnings.append("structured block is not an object; ignored")

    baseline = persona.emotions.baseline
    emotion, strength = baseline, 0.5
    raw_emotion = data.get("emotion", data.get("mood", data.get("情绪")))
    if raw_emotion is not None:
        found = normalise_emotion(str(raw_emotion), persona.emotions.set)
        if found is None:
            warnings.append(f"unknown emotion {raw_emotion!r}; using {baseline!r}")
        else:
            emotion = found
    raw_strength = data.get("strength", data.get("intensity", data.get("emotion_strength")))
    if raw_strength is not None:
        value = _strength(raw_strength)
        if value is None:
            warnings.append(f"bad emotion strength {raw_strength!r}; using 0.5")
        else:
            strength = value

    actions = _actions(data.get("actions", data.get("action")), persona, warnings)
    delta = _relationship(
        data.get("relationship"), persona.relationship.max_change_per_turn, warnings
    )
    return ParsedReply(
        text=speech,
        emotion=emotion,
        emotion_strength=strength,
        actions=actions,
        relationship_delta=delta,
        warnings=warnings,
        had_meta=had_meta,
    )


def normalise_emotion(word: str, allowed: Sequence[str]) -> str | None:
    """Map an emotion word (any case, English synonyms, Chinese) to a name in ``allowed``, or None."""
    key = word.strip().strip("\"'.,;:!?。！？").lower()
    if not key:
        return None
    if key in allowed:
        return key
    lowered = {a.lower(): a for a in allowed}
    if key in lowered:
        return lowered[key]
    canonical = EMOTION_SYNONYMS.get(key)
    if canonical is None:
        # "very happy", "有点害羞": find a known word inside.
        for synonym in sorted(EMOTION_SYNONYMS, key=len, reverse=True):
            if len(synonym) > 1 and synonym in key:
                canonical = EMOTION_SYNONYMS[synonym]
                break
    if canonical is None:
        return None
    if canonical in lowered:
        return lowered[canonical]
    for nearer in _EMOTION_FALLBACK.get(canonical, ()):
        if nearer in lowered:
            return lowered[nearer]
    return None


def clean_speech(text: str, names: Iterable[str] = ()) -> str:
    """Tidy spoken text: drop a leading "Name:" label, stray tags and wrapping quotes."""
    out = text.strip()
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        for sep in (":", "：", " :"):
            if out.lower().startswith(name.lower() + sep):
                out = out[len(name) + len(sep) :].lstrip()
                break
    out = re.sub(r"</?meta\b[^>]*>?", "", out, flags=re.IGNORECASE)
    out = re.sub(r"<\|[^|>]*\|>|</s>|<(end|start)_of_turn>\w*", "", out)
    out = out.strip()
    if len(out) >= 2 and out[0] == out[-1] and out[0] in "\"'" and out.count(out[0]) == 2:
        out = out[1:-1].strip()
    if len(out) >= 2 and out[0] == "“" and out[-1] == "”" and out.count("“") == 1:
        out = out[1:-1].strip()
    return re.sub(r"[ \t]+", " ", out)


_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def _thinking_prefix(text: str) -> int | None:
    """Length of a leading ``<think>...</think>`` block (0 if none), or None while it is open."""
    low = text.lower()
    if low.startswith(_THINK_OPEN):
        end = low.find(_THINK_CLOSE)
        return None if end < 0 else end + len(_THINK_CLOSE)
    if _THINK_OPEN.startswith(low):
        return None  # "<thi" could still become "<think>"
    return 0


def _truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, at the last sentence end inside it when there is one."""
    head = text[:limit]
    cut = max(head.rfind(c) for c in TERMINATORS)
    if cut >= limit // 2:
        return head[: cut + 1].rstrip()
    return head.rstrip() + "…"


def _split_meta(text: str) -> tuple[str, str | None, bool]:
    """(speech, structured text or None, whether a block was found)."""
    lower = text.lower()
    start = lower.find("<meta")
    if start >= 0:
        rest = text[start:]
        rest = re.sub(r"^<meta\b[^>{\[]*>?", "", rest, flags=re.IGNORECASE)
        end = rest.lower().find("</meta")
        if end >= 0:
            rest = rest[:end]
        return text[:start], rest, True
    fence = re.search(
        r"```(?:json|meta)?\s*(\{.*?)(?:```|$)", text, flags=re.DOTALL | re.IGNORECASE
    )
    if fence:
        return text[: fence.start()], fence.group(1), True
    # A bare trailing object that looks like ours: {"emotion": ...} or {"actions": ...}.
    bare = re.search(r"\{\s*[\"']?(emotion|actions|mood|relationship)[\"']?\s*:", text)
    if bare:
        return text[: bare.start()], text[bare.start() :], True
    return text, None, False


def _loads_tolerant(raw: str) -> tuple[Any, list[str]]:
    """Parse a JSON object a small model wrote, repairing what is commonly wrong."""
    text = raw.strip().strip("`").strip()
    if text.lower().startswith("json"):
        text = text[4:].strip()
    if not text:
        return None, ["empty structured block"]
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return _loose_pairs(text), ["structured block is not JSON; read key: value pairs"]
    text = text[start:]
    try:
        return json.loads(text), []
    except ValueError:
        pass
    try:
        obj, _end = json.JSONDecoder().raw_decode(text)
        return obj, []
    except ValueError:
        pass
    repaired = _repair_json(text)
    try:
        obj, _end = json.JSONDecoder().raw_decode(repaired)
        return obj, ["structured block repaired"]
    except ValueError:
        pass
    loose = _loose_pairs(text)
    if loose:
        return loose, ["structured block unreadable; kept the fields that could be read"]
    return None, ["structured block unreadable; ignored"]


def _repair_json(text: str) -> str:
    """Fix single quotes, Python literals, trailing commas, and close what a truncation left open."""
    out = text
    if '"' not in out:
        out = out.replace("'", '"')
    out = re.sub(r"\bTrue\b", "true", out)
    out = re.sub(r"\bFalse\b", "false", out)
    out = re.sub(r"\bNone\b", "null", out)
    out = re.sub(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)", r'\1"\2"\3', out)  # unquoted keys
    out = out.replace("“", '"').replace("”", '"').replace("：", ":").replace("，", ",")
    # Close an open string, drop a dangling key or comma, then close brackets in order.
    stack: list[str] = []
    in_string = False
    escape = False
    for ch in out:
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    if in_string:
        out += '"'
    out = out.rstrip()
    out = re.sub(r',\s*"[^"]*"\s*:?\s*$', "", out)  # a key with no value
    out = re.sub(r"[,:]\s*$", "", out)
    out = re.sub(r",\s*([}\]])", r"\1", out)
    out += "".join(reversed(stack))
    return re.sub(r",\s*([}\]])", r"\1", out)


def _loose_pairs(text: str) -> dict[str, Any]:
    """Read ``emotion: happy`` / ``"strength": 0.7`` pairs out of text that is not JSON."""
    found: dict[str, Any] = {}
    for key in ("emotion", "mood", "strength", "intensity"):
        m = re.search(
            rf"[\"']?{key}[\"']?\s*[:=：]\s*[\"']?([^\"',}}\n]+)", text, flags=re.IGNORECASE
        )
        if m:
            found[key] = m.group(1).strip()
    return found


def _strength(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        words = {
            "low": 0.3,
            "medium": 0.5,
            "high": 0.8,
            "very high": 1.0,
            "弱": 0.3,
            "中": 0.5,
            "强": 0.8,
        }
        return words.get(str(value).strip().lower())
    if math.isnan(number) or number < 0:
        return None
    if number > 1:
        number = number / 10 if number <= 10 else number / 100 if number <= 100 else 1.0
    return min(1.0, number)


def _actions(raw: Any, persona: Persona, warnings: list[str]) -> list[Action]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out: list[Action] = []
    for item in items:
        name, args = _action_shape(item)
        if name is None:
            warnings.append(f"unreadable action {item!r}; dropped")
            continue
        spec = persona.action(name)
        if spec is None:
            warnings.append(f"unknown action {name!r}; dropped")
            continue
        checked, problems = check_args(spec, _positional(args, spec.parameters), coerce=True)
        if problems:
            first = problems[0]
            about = f"argument {first.argument!r}: " if first.argument is not None else ""
            warnings.append(f"action {name!r} dropped: {about}{first.message}")
            continue
        out.append(Action(name=name, args=checked))
    return out


def _action_shape(item: Any) -> tuple[str | None, dict[str, Any]]:
    """Accept {"name", "args"}, {"name", ...flat args}, {"wave": {...}} and "wave" / "wave(x)"."""
    if isinstance(item, str):
        m = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s*(?:\((.*)\))?\s*", item)
        if not m:
            return None, {}
        args: dict[str, Any] = {}
        if m.group(2):
            for part in m.group(2).split(","):
                if "=" in part:
                    key, value = part.split("=", 1)
                    args[key.strip()] = value.strip().strip("\"'")
                elif part.strip():
                    args["_"] = part.strip().strip("\"'")
        return m.group(1).lower(), args
    if isinstance(item, dict):
        if "name" in item and isinstance(item["name"], str):
            if isinstance(item.get("args"), dict):
                return item["name"].strip().lower(), dict(item["args"])
            if isinstance(item.get("arguments"), dict):
                return item["name"].strip().lower(), dict(item["arguments"])
            flat = {k: v for k, v in item.items() if k not in ("name", "args", "arguments")}
            return item["name"].strip().lower(), flat
        if len(item) == 1:
            ((key, value),) = item.items()
            return str(key).strip().lower(), dict(value) if isinstance(value, dict) else {}
    return None, {}


def _positional(args: dict[str, Any], params: Sequence[ActionParam]) -> dict[str, Any]:
    """``wave(x)``'s unnamed argument given to the first parameter (when not also named)."""
    if "_" in args:
        positional = args.pop("_")
        if params and params[0].name not in args:
            args[params[0].name] = positional
    return args


def _relationship(raw: Any, limit: float, warnings: list[str]) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        warnings.append(f"relationship {raw!r} is not an object; ignored")
        return {}
    out: dict[str, float] = {}
    for key, value in raw.items():
        if key not in _RELATIONSHIP_KEYS:
            warnings.append(f"unknown relationship field {key!r}; ignored")
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            warnings.append(f"relationship {key}={value!r} is not a number; ignored")
            continue
        if math.isnan(number):
            continue
        clamped = max(-limit, min(limit, number))
        if clamped != number:
            warnings.append(f"relationship {key} change {number:g} clamped to {clamped:g}")
        if clamped:
            out[key] = clamped
    return out


# --------------------------------------------------------------------------------------------
# Streaming


@dataclass(frozen=True, slots=True)
class StreamPiece:
    """One output of :class:`ReplyStreamer`: visible text (``delta``) or a whole ``sentence``."""

    kind: Literal["delta", "sentence"]
    text: str


@functools.lru_cache(maxsize=256)
def _marker_tables(markers: tuple[str, ...]) -> tuple[re.Pattern[str], frozenset[str], int]:
    """For a streamer's markers (the same for every turn of a character and player): one
    pattern finding the earliest, every proper prefix of one (a chunk ending in one is held
    back until the next), and the longest such prefix's length."""
    find = re.compile("|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True)))
    prefixes = frozenset(m[:k] for m in markers for k in range(1, len(m)))
    return find, prefixes, max((len(m) - 1 for m in markers), default=0)


class ReplyStreamer:
    """Turns streamed chunks into visible deltas and sentences; withholds the structured block.

    Feed chunks as they arrive with :meth:`feed`, then call :meth:`close` once. The visible text
    never includes anything from ``<meta`` (or a code fence, or a chat template's special tokens)
    on; a leading speaker label ("Mira:") is dropped; visible text stops at ``max_chars``. The raw
    text (for :func:`parse_reply`) is kept in :attr:`raw`. ``stops`` are strings that end the
    reply when they appear (another speaker's turn, "\nAda:"): :attr:`stopped` then turns True
    and nothing from them on is shown.
    """

    def __init__(
        self, *, names: Sequence[str] = (), max_chars: int | None = None, stops: Sequence[str] = ()
    ) -> None:
        self.raw = ""
        self.visible = ""
        self.truncated = False
        self.stopped = False
        labels = [f"{n}{sep}" for n in (*names, *ROLE_LABELS) if n for sep in (":", "：")]
        self._stops = tuple(dict.fromkeys(s.lower() for s in (*stops, *labels) if s.strip()))
        self._markers = _MARKERS + self._stops
        self._find, self._prefixes, self._longest_prefix = _marker_tables(self._markers)
        self.sentences: list[str] = []
        self._names = [n for n in names if n]
        self._max = max_chars
        self._pending = ""  # text that might be the start of a marker or a speaker label
        self._sentence = ""  # visible text of the sentence in progress
        self._in_meta = False
        self._started = False  # past the leading whitespace / speaker label

    @property
    def in_meta(self) -> bool:
        """Whether the structured block has begun (all further text is withheld)."""
        return self._in_meta

    def feed(self, chunk: str) -> list[StreamPiece]:
        """Take the next chunk; return what may be shown now."""
        if not chunk:
            return []
        self.raw += chunk
        if self._in_meta:
            return []
        buf = self._pending + chunk
        self._pending = ""
        if not self._started:
            buf = buf.lstrip()
            if not buf:
                return []
            thought = _thinking_prefix(buf)
            if thought is None:
                self._pending = buf  # a reasoning model's <think> block, not finished yet
                return []
            buf = buf[thought:].lstrip()
            if not buf:
                return []
            label = self._label_state(buf)
            if label is None:
                self._pending = buf  # could still be "Mira:"
                return []
            buf = buf[label:].lstrip()
            self._started = True
            if not buf:
                return []
        lower = buf.lower()
        first = self._find.search(lower)
        hits = []
        if first is not None:  # the earliest marker; of those starting there, the least
            at = first.start()
            hits.append((at, min(m for m in self._markers if lower.startswith(m, at))))
        tag = _TAG_START.search(lower)
        if tag is not None:
            start = tag.start()
            while start and lower[start - 1] in "<[":  # "<<SYS>>", "[<s>"
                start -= 1
            hits.append((start, "<"))
        if hits:
            cut, marker = min(hits)
            self._in_meta = True
            self.stopped = marker in self._stops
            return self._show(buf[:cut])
        hold = self._holdback(lower)
        if hold:
            self._pending = buf[-hold:]
            buf = buf[:-hold]
        return self._show(buf)

    def close(self) -> list[StreamPiece]:
        """The stream ended: flush what was held back and the last, unfinished sentence."""
        pieces: list[StreamPiece] = []
        if not self._in_meta and self._pending:
            tail = self._pending
            self._pending = ""
            if not self._started and _thinking_prefix(tail.lstrip()) is None:
                tail = ""  # the stream ended inside a <think> block: nothing was said
            if not self._started:
                label = self._label_state(tail, final=True) or 0
                tail = tail[label:].lstrip()
                self._started = True
            pieces.extend(self._show(tail))
        if self._sentence.strip():
            pieces.append(self._emit_sentence(self._sentence))
        self._sentence = ""
        return pieces

    # -- internals

    def _label_state(self, buf: str, final: bool = False) -> int | None:
        """Length of a leading "Name:" label to drop (0 if none), or None if it is too early to tell."""
        low = buf.lower()
        for name in self._names:
            nl = name.lower()
            for sep in (":", "："):
                label = nl + sep
                if low.startswith(label):
                    return len(label)
                if label.startswith(low) and not final:
                    return None
        return 0

    def _holdback(self, lower: str) -> int:
        """How many trailing characters might begin a marker ("<me", "``")."""
        prefixes = self._prefixes
        hold = 0
        for k in range(min(self._longest_prefix, len(lower)), 0, -1):
            if lower[-k:] in prefixes:
                hold = k
                break
        # A "<" or "[" near the end may still become a tag ("< /", "[/IN").
        tail = lower[-7:]
        at = min((i for i in (tail.find("<"), tail.find("[")) if i >= 0), default=-1)
        if (
            at >= 0
            and not _TAG_START.search(tail[at:])
            and not tail[at + 1 :].strip(" /!").isdigit()
        ):
            hold = max(hold, len(tail) - at)
        return hold

    def _show(self, text: str) -> list[StreamPiece]:
        if not self.visible:
            text = text.lstrip()
        if not text:
            return []
        if self._max is not None:
            room = self._max - len(self.visible)
            if room <= 0:
                self.truncated = True
                return []
            if len(text) > room:
                text = text[:room]
                self.truncated = True
        self.visible += text
        pieces = [StreamPiece("delta", text)]
        self._sentence += text
        start = 0
        while True:
            end = find_boundary(self._sentence, start, final=False)
            if end is None:
                break
            piece = self._sentence[:end]
            self._sentence = self._sentence[end:]
            if piece.strip():
                pieces.append(self._emit_sentence(piece))
        return pieces

    def _emit_sentence(self, text: str) -> StreamPiece:
        sentence = text.strip()
        self.sentences.append(sentence)
        return StreamPiece("sentence", sentence)
