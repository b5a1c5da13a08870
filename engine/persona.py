"""The persona model: everything a writer says about a character, and what the engine needs to run it.

A persona file (``characters/<id>.yaml``) is validated strictly: an unknown key is an error,
so a misspelling never silently drops a writer's work. Field descriptions below reach the JSON
Schema (``npc schema``) that editors use for completion and hover help.

Example::

    from engine import load_persona
    mira = load_persona("characters/mira.yaml")
    print(mira.name, mira.greetings.first_meeting[0])
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from engine._persona_io import (
    MAX_PERSONA_BYTES,
    PERSONA_SUFFIXES,
    Loc,
    Source,
    format_loc,
    read_source,
)
from engine.errors import PersonaError, TemplateError
from engine.lore import LoreEntry

__all__ = [
    "GREETING_PLACEHOLDERS",
    "MAX_PERSONA_BYTES",
    "MAX_TEMPLATE_DEPTH",
    "PERSONA_SUFFIXES",
    "ActionParam",
    "ActionSpec",
    "BigFive",
    "Boundaries",
    "BlockedTopic",
    "CardInfo",
    "EmotionSet",
    "ExampleAction",
    "ExampleExchange",
    "FileReport",
    "GenerationSettings",
    "Greetings",
    "Look",
    "Persona",
    "Personality",
    "PolicySettings",
    "RelationshipDefaults",
    "SpeakingStyle",
    "find_character",
    "load_characters",
    "load_persona",
    "persona_json_schema",
    "template_names",
    "validate_file",
    "validate_path",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)


class Look(_Strict):
    """How the demo draws the character (procedural art: colours and a few shapes)."""

    description: str = Field("", description="A sentence on how the character looks, for writers and the prompt.")
    skin: str = Field("#e8c39e", description="Skin colour as #rrggbb.")
    hair: str = Field("#3b2a20", description="Hair colour as #rrggbb.")
    outfit: str = Field("#4a7bd1", description="Main clothing colour as #rrggbb.")
    accent: str = Field("#f2c14e", description="Accent colour (scarf, apron, trim) as #rrggbb.")
    hair_style: Literal["short", "long", "bun", "bald", "ponytail"] = Field("short", description="Hair shape.")
    height: float = Field(1.0, ge=0.7, le=1.3, description="Relative height, 1.0 is average.")
    accessory: Literal["none", "hat", "glasses", "apron", "scarf", "headset"] = Field(
        "none", description="One accessory drawn on the character."
    )

    @field_validator("skin", "hair", "outfit", "accent")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        text = value.strip()
        if len(text) != 7 or not text.startswith("#") or any(c not in "0123456789abcdefABCDEF" for c in text[1:]):
            raise ValueError(f"expected a colour like '#a1b2c3', got {value!r}")
        return text.lower()


class BigFive(_Strict):
    """Optional Big Five scores, each 0..1. They shade tone in the prompt and talkativeness in groups."""

    openness: float = Field(0.5, ge=0, le=1, description="Curiosity and imagination, 0..1.")
    conscientiousness: float = Field(0.5, ge=0, le=1, description="Order and diligence, 0..1.")
    extraversion: float = Field(0.5, ge=0, le=1, description="Sociability and talkativeness, 0..1.")
    agreeableness: float = Field(0.5, ge=0, le=1, description="Warmth and cooperativeness, 0..1.")
    neuroticism: float = Field(0.5, ge=0, le=1, description="Emotional volatility, 0..1.")


class Personality(_Strict):
    """Who the character is inside."""

    traits: list[str] = Field(default_factory=list, description="Short adjectives or phrases: 'warm', 'dry humour'.")
    big_five: BigFive | None = Field(None, description="Optional Big Five scores.")
    talkativeness: float = Field(
        0.5, ge=0, le=1, description="How eagerly the character speaks up in a group scene when not addressed, 0..1."
    )


class SpeakingStyle(_Strict):
    """How the character talks."""

    tone: str = Field("", description="Register and tone: 'casual', 'formal', '江湖口吻'.")
    quirks: list[str] = Field(default_factory=list, description="Verbal habits: 'ends questions with eh?'.")
    catchphrases: list[str] = Field(default_factory=list, description="Lines the character is known for.")
    max_reply_sentences: int = Field(3, ge=1, le=20, description="Longest reply, in sentences.")
    max_reply_chars: int = Field(400, ge=20, le=4000, description="Longest reply, in characters (hard limit).")


class ExampleAction(_Strict):
    """An action the character takes in an example exchange."""

    name: str = Field(..., min_length=1, description="An action name from the character's `actions`.")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments by parameter name.")


class ExampleExchange(_Strict):
    """One example of the character answering a player: the strongest signal of voice."""

    player: str = Field(..., min_length=1, description="What the player says.")
    character: str = Field(..., min_length=1, description="What the character answers.")
    emotion: str | None = Field(None, description="The emotion the character shows (from `emotions.set`).")
    actions: list[ExampleAction] = Field(default_factory=list, description="Actions the character takes.")


class Greetings(_Strict):
    """Opening lines. Placeholders: {player_name}, {character_name}, {remembered} (a detail recalled)."""

    first_meeting: list[str] = Field(default_factory=list, description="Lines for a player the character has never met.")
    returning: list[str] = Field(
        default_factory=list,
        description="Lines for a returning player; may use {player_name} and {remembered}.",
    )


class Boundaries(_Strict):
    """What the character will not do, and how it says no without breaking character."""

    refused_topics: list[str] = Field(default_factory=list, description="Topics the character declines to discuss.")
    ooc_rules: list[str] = Field(
        default_factory=list, description="Out-of-character rules for the model, placed last in the prompt."
    )
    refusal_lines: list[str] = Field(
        default_factory=list, description="In-character lines used when a topic is refused or a reply is blocked."
    )
    fallback_lines: list[str] = Field(
        default_factory=list,
        description="In-character lines used when the model fails or times out ('Sorry, my mind wandered...').",
    )


class ActionParam(_Strict):
    """A typed parameter of an action."""

    name: str = Field(..., min_length=1, pattern=r"^[a-z_][a-z0-9_]*$", description="Parameter name (snake_case).")
    type: Literal["string", "integer", "number", "boolean"] = Field("string", description="Value type.")
    description: str = Field("", description="What the value means, shown to the model.")
    choices: list[str | int | float] | None = Field(None, description="If set, the only allowed values.")
    required: bool = Field(True, description="Whether the argument must be given.")


class ActionSpec(_Strict):
    """Something the character can do in the game; the game executes it, the engine validates it."""

    name: str = Field(..., min_length=1, pattern=r"^[a-z_][a-z0-9_]*$", description="Action name (snake_case).")
    description: str = Field("", description="When to use it, shown to the model.")
    parameters: list[ActionParam] = Field(default_factory=list, description="Typed parameters.")

    @field_validator("parameters")
    @classmethod
    def _unique_params(cls, value: list[ActionParam]) -> list[ActionParam]:
        names = [p.name for p in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate parameter names: {', '.join(dupes)}")
        return value


class EmotionSet(_Strict):
    """The emotions the character can show, which the demo maps to faces and poses."""

    set: list[str] = Field(
        default_factory=lambda: ["neutral", "happy", "sad", "angry", "surprised", "afraid", "thinking"],
        min_length=1,
        description="Allowed emotion names.",
    )
    baseline: str = Field("neutral", description="The resting emotion; must be in `set`.")

    @field_validator("set")
    @classmethod
    def _unique_emotions(cls, value: list[str]) -> list[str]:
        dupes = sorted({name for name in value if value.count(name) > 1})
        if dupes:
            raise ValueError(f"duplicate emotion names: {', '.join(dupes)}")
        return value

    @field_validator("baseline")
    @classmethod
    def _baseline_in_set(cls, value: str, info: ValidationInfo) -> str:
        # Validated after `set` (field order), so `set` is in info.data unless it was invalid.
        emotions = info.data.get("set")
        if emotions is not None and value not in emotions:
            raise ValueError(f"baseline {value!r} is not in set {emotions}")
        return value


class RelationshipDefaults(_Strict):
    """Where a relationship with a new player starts. Values run -100..100 (familiarity 0..100)."""

    affinity: float = Field(0, ge=-100, le=100, description="Liking, -100..100.")
    trust: float = Field(0, ge=-100, le=100, description="Trust, -100..100.")
    familiarity: float = Field(0, ge=0, le=100, description="How well they know each other, 0..100.")
    max_change_per_turn: float = Field(5, gt=0, le=100, description="Largest change one turn may make to a value.")


class GenerationSettings(_Strict):
    """Sampling settings passed to the backend. Unset values use the backend's defaults."""

    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling.")
    max_tokens: int | None = Field(None, ge=1, le=8192, description="Longest reply in tokens.")
    presence_penalty: float | None = Field(None, ge=-2, le=2, description="OpenAI-style presence penalty.")
    frequency_penalty: float | None = Field(None, ge=-2, le=2, description="OpenAI-style frequency penalty.")
    seed: int | None = Field(None, description="Seed for reproducible sampling where the backend supports it.")


class BlockedTopic(_Strict):
    """A topic the character's policy blocks, in any language."""

    name: str = Field(..., min_length=1, description="Rule name, reported in the audit log.")
    words: list[str] = Field(default_factory=list, description="Words or phrases, matched after normalisation.")
    patterns: list[str] = Field(default_factory=list, description="Regular expressions, matched after normalisation.")


class PolicySettings(_Strict):
    """The character's safety policy; combined with the world's policy (the stricter wins)."""

    age_rating: Literal["all", "teen", "mature"] = Field("teen", description="Audience rating.")
    blocked_topics: list[BlockedTopic] = Field(default_factory=list, description="Blocked topics.")
    redact_pii: bool = Field(True, description="Redact personal information before storing or logging.")


class CardInfo(_Strict):
    """Fields carried from a Character Card (V1/V2/V3) so export is lossless."""

    spec: str = Field("", description="Original spec: chara_card_v2, chara_card_v3 or v1.")
    scenario: str = Field("", description="The card's scenario text.")
    system_prompt: str = Field("", description="The card's system prompt ({{original}} allowed).")
    post_history_instructions: str = Field("", description="Instructions placed after the history.")
    creator: str = Field("", description="Card creator.")
    creator_notes: str = Field("", description="Notes from the creator.")
    character_version: str = Field("", description="The card's own version string.")
    tags: list[str] = Field(default_factory=list, description="Card tags.")
    raw_description: str = Field("", description="The card's description, verbatim.")
    raw_personality: str = Field("", description="The card's personality, verbatim.")
    raw_mes_example: str = Field("", description="The card's mes_example, verbatim.")
    raw_first_mes: str = Field("", description="The card's first_mes, verbatim.")
    extensions: dict[str, Any] = Field(default_factory=dict, description="Unknown extensions, kept verbatim.")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Other card fields (V3 assets, nickname, timestamps...), kept verbatim."
    )


class Persona(_Strict):
    """A character: identity, personality, voice, knowledge, limits and what it can do."""

    id: str = Field(
        "",
        pattern=r"^$|^[a-z0-9][a-z0-9_-]*$",
        description="Stable id (defaults to the file name without extension). Memory is keyed by it.",
    )
    extends: str | None = Field(None, description="A template in characters/templates/ whose fields this inherits.")

    # identity
    name: str = Field(..., min_length=1, description="The character's name as players see it.")
    names: dict[str, str] = Field(
        default_factory=dict, description="Localized names by language code: {zh: 米拉, en: Mira}."
    )
    pronouns: str = Field("", description="Pronouns: 'she/her', '他'.")
    age: int | str | None = Field(None, description="Age in years, or a phrase ('ageless').")
    role: str = Field("", description="What the character does in the world: 'plaza host', '茶馆掌柜'.")
    look: Look = Field(default_factory=Look, description="Appearance, for the demo's procedural art.")

    # inside
    personality: Personality = Field(default_factory=Personality, description="Traits and temperament.")
    style: SpeakingStyle = Field(default_factory=SpeakingStyle, description="How the character talks.")
    backstory: str = Field("", description="Where the character comes from; a paragraph or two.")
    knowledge: list[str] = Field(default_factory=list, description="Facts the character knows and may share.")
    goals: list[str] = Field(default_factory=list, description="What the character wants.")
    examples: list[ExampleExchange] = Field(default_factory=list, description="Example exchanges, in the character's voice.")
    greetings: Greetings = Field(default_factory=Greetings, description="Opening lines.")

    # languages
    languages: list[str] = Field(
        default_factory=lambda: ["en"], min_length=1, description="Languages spoken, primary first: [en], [zh, en]."
    )
    language_mode: Literal["primary", "match_player"] = Field(
        "primary",
        description="'primary': always answer in the first language; 'match_player': answer in the player's language if spoken.",
    )

    # limits and abilities
    boundaries: Boundaries = Field(default_factory=Boundaries, description="Refusals and out-of-character rules.")
    actions: list[ActionSpec] = Field(default_factory=list, description="Actions the character may take.")
    emotions: EmotionSet = Field(default_factory=EmotionSet, description="Emotions the character may show.")
    relationship: RelationshipDefaults = Field(
        default_factory=RelationshipDefaults, description="Starting relationship with a new player."
    )
    generation: GenerationSettings = Field(default_factory=GenerationSettings, description="Sampling settings.")
    policy: PolicySettings = Field(default_factory=PolicySettings, description="Safety policy for this character.")
    lore: list[LoreEntry] = Field(default_factory=list, description="Lorebook entries inserted when their keys match.")
    card: CardInfo | None = Field(None, description="Fields kept from an imported Character Card.")

    @field_validator("actions")
    @classmethod
    def _unique_actions(cls, value: list[ActionSpec]) -> list[ActionSpec]:
        names = [a.name for a in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate action names: {', '.join(dupes)}")
        return value

    def display_name(self, language: str | None = None) -> str:
        """The name in ``language`` if the writer gave one, else ``name``."""
        if language and language in self.names:
            return self.names[language]
        return self.name

    def action(self, name: str) -> ActionSpec | None:
        """The action named ``name``, or None."""
        return next((a for a in self.actions if a.name == name), None)


# Loading and validation ------------------------------------------------------------------

#: Placeholders a greeting may use; the runtime fills them in.
GREETING_PLACEHOLDERS = frozenset({"player_name", "character_name", "remembered"})

#: Longest chain of ``extends:`` (a character, its template, that template's template...).
MAX_TEMPLATE_DEPTH = 8

_TEMPLATES_DIR = "templates"


@dataclass
class FileReport:
    """The outcome of validating one file: its kind, its problems, and the persona if it loaded."""

    path: Path
    kind: Literal["character", "template"]
    errors: list[PersonaError] = field(default_factory=list)
    persona: Persona | None = None

    @property
    def ok(self) -> bool:
        """True when the file has no problems."""
        return not self.errors


def load_persona(path: str | Path, *, template_dirs: Sequence[str | Path] = ()) -> Persona:
    """Load, merge (``extends:``) and validate one character file.

    YAML, JSON and TOML are read by extension. Templates are looked up in ``template_dirs``
    and then in ``templates/`` next to the file. When the file sets no ``id``, the id is the
    file name without its extension. Raises :class:`PersonaError` (or :class:`TemplateError`)
    naming the file, line, column and field of the first problem.

    Example::

        mira = load_persona("characters/mira.yaml")
        mira.id, mira.name  # ("mira", "Mira")
    """
    persona, errors = _validate(Path(path), template=False, template_dirs=template_dirs)
    if errors:
        raise _first_of(errors, Path(path))
    assert persona is not None
    return persona


def load_characters(directory: str | Path = "characters") -> dict[str, Persona]:
    """Load every character file directly inside ``directory`` (``templates/`` is skipped).

    Returns personas by id, in file-name order. Raises :class:`PersonaError` for the first
    file that does not validate, and when two files claim the same id.

    Example::

        cast = load_characters("characters")
        sorted(cast)  # ["bram", "chen", "lin", "mira"]
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise PersonaError("no such folder" if not folder.exists() else "not a folder", path=str(folder))
    cast: dict[str, Persona] = {}
    origin: dict[str, Path] = {}
    for file in _persona_files_in(folder, recursive=False):
        persona = load_persona(file)
        if persona.id in cast:
            raise PersonaError(
                f"id {persona.id!r} is already used by {origin[persona.id]}", path=str(file), field="id"
            )
        cast[persona.id] = persona
        origin[persona.id] = file
    return cast


def validate_file(path: str | Path, *, template: bool | None = None) -> list[PersonaError]:
    """Every problem in one file (empty when valid). Templates (files under ``templates/``)
    are checked as partial personas: fields such as ``name`` may be left to the character."""
    file = Path(path)
    is_template = _is_template(file) if template is None else template
    return _validate(file, template=is_template)[1]


def validate_path(path: str | Path) -> list[FileReport]:
    """Validate a file, or every persona file in a folder and its sub-folders.

    A path that does not exist, or a folder with no persona files, gives one report with the
    error. Two characters in one folder with the same id are reported on the second.
    """
    target = Path(path)
    if target.is_dir():
        files = _persona_files_in(target, recursive=True)
        if not files:
            error = PersonaError(
                f"no persona files ({', '.join(PERSONA_SUFFIXES)}) in this folder", path=str(target)
            )
            return [FileReport(target, "character", [error])]
    elif target.exists():
        files = [target]
    else:
        return [FileReport(target, "character", [PersonaError("no such file or folder", path=str(target))])]
    reports = []
    for file in files:
        kind: Literal["character", "template"] = "template" if _is_template(file) else "character"
        persona, errors = _validate(file, template=kind == "template")
        reports.append(FileReport(file, kind, errors, persona))
    _check_duplicate_ids(reports)
    return reports


def find_character(ref: str | Path, directory: str | Path = "characters") -> Path:
    """The file for ``ref``: a path to a persona file, or a character id in ``directory``."""
    candidate = Path(ref)
    if candidate.is_file():
        return candidate
    folder = Path(directory)
    for suffix in PERSONA_SUFFIXES:
        file = folder / f"{ref}{suffix}"
        if file.is_file():
            return file
    known = [f.stem for f in _persona_files_in(folder, recursive=False)] if folder.is_dir() else []
    close = difflib.get_close_matches(str(ref), known, n=1)
    listing = f" (known: {', '.join(known)})" if known else ""
    raise PersonaError(
        f"no character {str(ref)!r} in {folder}{listing}", path=str(ref), suggestion=close[0] if close else None
    )


def template_names(directory: str | Path = "characters") -> list[str]:
    """Names usable in ``extends:`` for characters in ``directory``."""
    folder = Path(directory) / _TEMPLATES_DIR
    if not folder.is_dir():
        return []
    return sorted({f.stem for f in _persona_files_in(folder, recursive=False)})


def persona_json_schema(*, template: bool = False) -> dict[str, Any]:
    """The JSON Schema of a persona file, for editors (``npc schema``).

    With ``template=True`` no field is required, which suits files in ``templates/``.
    """
    schema = Persona.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    if template:
        schema.pop("required", None)
        schema["title"] = "PersonaTemplate"
        schema["description"] = "A persona template: any persona field, none required. " + str(
            schema.get("description", "")
        )
    return schema


# internals -------------------------------------------------------------------------------


def _is_template(file: Path) -> bool:
    return file.parent.name == _TEMPLATES_DIR


def _persona_files_in(folder: Path, *, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    found = []
    for file in folder.glob(pattern):
        relative = file.relative_to(folder).parts
        if any(part.startswith(".") for part in relative):
            continue
        if not recursive and file.parent != folder:
            continue
        if file.suffix.lower() in PERSONA_SUFFIXES and file.is_file():
            found.append(file)
    return sorted(found)


def _first_of(errors: list[PersonaError], path: Path) -> PersonaError:
    first = errors[0]
    if len(errors) == 1:
        return first
    more = len(errors) - 1
    return type(first)(
        f"{first.message} (and {more} more problem{'s' if more > 1 else ''}: run `npc validate {path}`)",
        path=first.path,
        line=first.line,
        column=first.column,
        field=first.field,
        suggestion=first.suggestion,
    )


def _check_duplicate_ids(reports: list[FileReport]) -> None:
    seen: dict[tuple[Path, str], Path] = {}
    for report in reports:
        if report.kind != "character" or report.persona is None:
            continue
        key = (report.path.parent, report.persona.id)
        if key in seen:
            report.errors.append(
                PersonaError(f"id {report.persona.id!r} is already used by {seen[key]}", path=str(report.path), field="id")
            )
        else:
            seen[key] = report.path


def _template_dirs(file: Path, extra: Sequence[str | Path]) -> list[Path]:
    dirs = [Path(d) for d in extra]
    dirs.append(file.parent if _is_template(file) else file.parent / _TEMPLATES_DIR)
    return dirs


def _find_template(name: str, dirs: Sequence[Path]) -> Path | None:
    for folder in dirs:
        if Path(name).suffix.lower() in PERSONA_SUFFIXES:
            candidates = [folder / name]
        else:
            candidates = [folder / f"{name}{suffix}" for suffix in PERSONA_SUFFIXES]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    return None


def _error_at(source: Source, message: str, loc: Loc, *, key: bool = True, cls: type[PersonaError] = PersonaError, suggestion: str | None = None) -> PersonaError:
    mark = source.mark(loc, key=key)
    return cls(
        message,
        path=str(source.path),
        line=mark[0] if mark else None,
        column=mark[1] if mark else None,
        field=format_loc(loc) or None,
        suggestion=suggestion,
    )


def _load_chain(file: Path, template_dirs: Sequence[str | Path]) -> list[Source]:
    """The file and the templates it extends, child first."""
    chain: list[Source] = []
    current = file
    while True:
        source = read_source(current)
        chain.append(source)
        parent = source.data.get("extends")
        if parent is None:
            return chain
        if not isinstance(parent, str) or not parent.strip():
            raise _error_at(source, "extends: expected the name of a template", ("extends",), key=False)
        dirs = _template_dirs(current, template_dirs)
        found = _find_template(parent.strip(), dirs)
        if found is None:
            known = sorted({f.stem for d in dirs if d.is_dir() for f in _persona_files_in(d, recursive=False)})
            close = difflib.get_close_matches(parent.strip(), known, n=1)
            listing = f"; available: {', '.join(known)}" if known else ""
            raise _error_at(
                source,
                f"template {parent.strip()!r} not found in {', '.join(str(d) for d in dirs)}{listing}",
                ("extends",),
                key=False,
                cls=TemplateError,
                suggestion=close[0] if close else None,
            )
        resolved = [s.path.resolve() for s in chain]
        if found.resolve() in resolved:
            loop = " -> ".join([s.path.name for s in chain[resolved.index(found.resolve()):]] + [found.name])
            raise _error_at(source, f"templates extend each other in a loop: {loop}", ("extends",), key=False, cls=TemplateError)
        if len(chain) > MAX_TEMPLATE_DEPTH:
            raise _error_at(
                source, f"more than {MAX_TEMPLATE_DEPTH} levels of templates", ("extends",), key=False, cls=TemplateError
            )
        current = found


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Fields set in ``override`` win; mappings merge field by field; lists are replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(
    file: Path, *, template: bool, template_dirs: Sequence[str | Path] = ()
) -> tuple[Persona | None, list[PersonaError]]:
    try:
        chain = _load_chain(file, template_dirs)
    except PersonaError as exc:
        return None, [exc]
    errors = [problem for source in chain for problem in source.problems]
    data: dict[str, Any] = {}
    for source in reversed(chain):
        inherited = dict(source.data)
        if source is not chain[0] and "id" in inherited:
            errors.append(_error_at(source, "a template cannot set id (every character needs its own)", ("id",)))
            inherited.pop("id")
        data = _deep_merge(data, inherited)
    if template:
        data.setdefault("name", "(template)")
    if not template and not data.get("id"):
        slug = _slug(file.stem)
        if not slug:
            errors.append(_error_at(chain[0], f"cannot make an id from the file name {file.name!r}; set id:", ("id",)))
        data["id"] = slug or "invalid"
    try:
        persona = Persona.model_validate(data)
    except ValidationError as exc:
        errors.extend(_map_validation_errors(exc, data, chain))
        return None, _sorted(errors)
    for loc, message, suggestion in _lint(persona):
        source = _source_for(loc, chain)
        errors.append(_error_at(source, message, loc, key=False, suggestion=suggestion))
    return (None if errors else persona), _sorted(errors)


def _sorted(errors: list[PersonaError]) -> list[PersonaError]:
    return sorted(errors, key=lambda e: (e.path or "", e.line or 0, e.column or 0))


def _slug(stem: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")


def _source_for(loc: Loc, chain: list[Source]) -> Source:
    """The file that supplied the value at ``loc``: the deepest match, the child on a tie."""
    best = chain[0]
    depth = best.defines(loc)
    for source in chain[1:]:
        found = source.defines(loc)
        if found > depth:
            best, depth = source, found
    return best


# pydantic error -> writer-facing message ----------------------------------------------

_NOUNS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "none_required": "nothing (null)",
}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _clean_loc(raw: tuple[int | str, ...], data: Any, kind: str) -> Loc:
    """Drop pydantic's union tags ('int', 'constrained-str') so the path matches the file."""
    loc: list[str | int] = []
    node = data
    for index, part in enumerate(raw):
        last = index == len(raw) - 1
        if isinstance(node, dict) and part in node:
            node = node[part]
            loc.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            loc.append(part)
        elif last and kind in ("extra_forbidden", "missing"):
            loc.append(part)
        else:
            node = None
    return tuple(loc)


def _map_validation_errors(exc: ValidationError, data: dict[str, Any], chain: list[Source]) -> list[PersonaError]:
    grouped: dict[Loc, list[Any]] = {}
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], data, error["type"])
        grouped.setdefault(loc, []).append(error)
    result = []
    for loc, errors in grouped.items():
        message, suggestion = _message_for(loc, errors)
        is_key = errors[0]["type"] == "extra_forbidden"
        source = _source_for(loc, chain)
        result.append(_error_at(source, message, loc, key=is_key, suggestion=suggestion))
    return result


def _message_for(loc: Loc, errors: list[Any]) -> tuple[str, str | None]:
    first = errors[0]
    kind = first["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        return f"unknown field {key!r}", _suggest_field(loc)
    if kind == "missing":
        return "required field is missing", None
    nouns = [_NOUNS[e["type"]] for e in errors if e["type"] in _NOUNS]
    if nouns and len(nouns) == len(errors):
        unique = list(dict.fromkeys(nouns))
        return f"expected {' or '.join(unique)}, got {_describe(first.get('input'))}", None
    messages = list(dict.fromkeys(_clean_message(e) for e in errors if e["type"] not in _NOUNS))
    message = "; ".join(messages)
    suggestion = None
    if kind == "literal_error" and isinstance(first.get("input"), str):
        options = re.findall(r"'([^']*)'", str(first.get("ctx", {}).get("expected", "")))
        close = difflib.get_close_matches(first["input"], options, n=1)
        suggestion = close[0] if close else None
    return message, suggestion


def _clean_message(error: Any) -> str:
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return message[len("Value error, "):]
    if error["type"] in ("too_short", "string_too_short") and error.get("input") in ("", [], None):
        return "must not be empty"
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message} (got {_describe(value)})"
    return message


def _unwrap(annotation: Any) -> list[Any]:
    """The members of a union (or the annotation itself)."""
    if get_origin(annotation) in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _unwrap(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for member in _unwrap(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            if isinstance(part, str) and part in member.model_fields:
                return member.model_fields[part].annotation
        elif get_origin(member) is list and isinstance(part, int):
            return get_args(member)[0]
        elif get_origin(member) is dict and isinstance(part, str):
            return get_args(member)[1]
    return None


def _fields_at(loc: Loc) -> list[str]:
    annotation: Any = Persona
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    return [
        name
        for member in _unwrap(annotation)
        if isinstance(member, type) and issubclass(member, BaseModel)
        for name in member.model_fields
    ]


def _all_field_paths() -> dict[str, str]:
    """Every field name in the persona tree -> its dotted path (the first one found)."""
    paths: dict[str, str] = {}

    def visit(model: type[BaseModel], prefix: str, depth: int) -> None:
        for name, info in model.model_fields.items():
            dotted = f"{prefix}{name}"
            paths.setdefault(name, dotted)
            if depth >= 3:
                continue
            for member in _unwrap(info.annotation):
                inner = get_args(member)[0] if get_origin(member) is list else member
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner is not LoreEntry:
                    visit(inner, f"{dotted}[]." if get_origin(member) is list else f"{dotted}.", depth + 1)

    visit(Persona, "", 0)
    return paths


def _suggest_field(loc: Loc) -> str | None:
    if not loc:
        return None
    key = str(loc[-1])
    local = _fields_at(loc[:-1])
    close = difflib.get_close_matches(key, local, n=1, cutoff=0.6)
    if close:
        return close[0]
    elsewhere = _all_field_paths()
    if key in elsewhere and elsewhere[key] != key:
        return elsewhere[key]
    close = difflib.get_close_matches(key, list(elsewhere), n=1, cutoff=0.8)
    return elsewhere[close[0]] if close else None


# checks that span fields ------------------------------------------------------------------

_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _lint(persona: Persona) -> list[tuple[Loc, str, str | None]]:
    """Problems no single field shows: example emotions and actions, greeting placeholders."""
    problems: list[tuple[Loc, str, str | None]] = []
    emotions = persona.emotions.set
    action_names = [a.name for a in persona.actions]
    for i, example in enumerate(persona.examples):
        if example.emotion is not None and example.emotion not in emotions:
            close = difflib.get_close_matches(example.emotion, emotions, n=1)
            problems.append(
                (("examples", i, "emotion"), f"{example.emotion!r} is not in emotions.set {emotions}", close[0] if close else None)
            )
        for j, act in enumerate(example.actions):
            spec = persona.action(act.name)
            loc: Loc = ("examples", i, "actions", j)
            if spec is None:
                close = difflib.get_close_matches(act.name, action_names, n=1)
                known = ", ".join(action_names) or "none declared"
                problems.append(((*loc, "name"), f"{act.name!r} is not one of this character's actions ({known})", close[0] if close else None))
                continue
            problems.extend(_check_args(spec, act.args, loc))
    for kind in ("first_meeting", "returning"):
        for i, line in enumerate(getattr(persona.greetings, kind)):
            problem = _placeholder_problem(line)
            if problem:
                problems.append((("greetings", kind, i), problem[0], problem[1]))
    if persona.language_mode == "match_player" and len(persona.languages) < 2:
        problems.append((("language_mode",), "match_player needs at least two languages in `languages`", None))
    return problems


def _check_args(spec: ActionSpec, args: dict[str, Any], loc: Loc) -> list[tuple[Loc, str, str | None]]:
    problems: list[tuple[Loc, str, str | None]] = []
    params = {p.name: p for p in spec.parameters}
    for name, value in args.items():
        param = params.get(name)
        if param is None:
            close = difflib.get_close_matches(name, list(params), n=1)
            problems.append(((*loc, "args", name), f"{spec.name} has no parameter {name!r}", close[0] if close else None))
            continue
        wanted = _TYPE_CHECKS[param.type]
        if not isinstance(value, wanted) or (param.type != "boolean" and isinstance(value, bool)):
            problems.append(((*loc, "args", name), f"expected a {param.type}, got {_describe(value)}", None))
        elif param.choices is not None and value not in param.choices:
            options = ", ".join(str(c) for c in param.choices)
            close = difflib.get_close_matches(str(value), [str(c) for c in param.choices], n=1)
            problems.append(((*loc, "args", name), f"{value!r} is not one of: {options}", close[0] if close else None))
    for name, param in params.items():
        if param.required and name not in args:
            problems.append(((*loc, "args"), f"{spec.name} needs the argument {name!r}", None))
    return problems


def _placeholder_problem(line: str) -> tuple[str, str | None] | None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(line) if name is not None]
    except ValueError as exc:
        return f"unbalanced braces ({exc}); write {{{{ or }}}} for a literal brace", None
    for name in fields:
        if name not in GREETING_PLACEHOLDERS:
            allowed = sorted(GREETING_PLACEHOLDERS)
            close = difflib.get_close_matches(name, allowed, n=1)
            return (
                f"unknown placeholder {{{name}}}; use {', '.join('{' + p + '}' for p in allowed)}",
                "{" + close[0] + "}" if close else None,
            )
    return None
