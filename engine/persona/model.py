"""The persona model: everything a writer says about a character, and what the engine needs to run it.

A persona file (``characters/<id>.yaml``) is validated strictly: an unknown key is an error,
so a misspelling never silently drops a writer's work. Field descriptions below reach the JSON
Schema (``npc schema``) that editors use for completion and hover help.

Loading files into these models is :mod:`engine.persona.load`.

Example::

    from engine import load_persona
    mira = load_persona("characters/mira.yaml")
    print(mira.name, mira.greetings.first_meeting[0])
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from engine.lore import LoreEntry
from engine.persona.scaffold import scaffold_yaml
from engine.text.patterns import check_linear

__all__ = [
    "ActionParam",
    "ActionSpec",
    "BigFive",
    "Boundaries",
    "BlockedTopic",
    "CardInfo",
    "EmotionSet",
    "ExampleAction",
    "ExampleExchange",
    "GenerationSettings",
    "Greetings",
    "Look",
    "Persona",
    "Personality",
    "PolicySettings",
    "RelationshipDefaults",
    "SpeakingStyle",
    "persona_json_schema",
    "scaffold_persona",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)


# For editors only: the validator below also accepts surrounding spaces and normalises case.
_COLOUR: dict[str, Any] = {"pattern": "^#[0-9a-fA-F]{6}$"}


class Look(_Strict):
    """How the demo draws the character (procedural art: colours and a few shapes)."""

    description: str = Field(
        "", description="A sentence on how the character looks, for writers and the prompt."
    )
    skin: str = Field("#e8c39e", description="Skin colour as #rrggbb.", json_schema_extra=_COLOUR)
    hair: str = Field("#3b2a20", description="Hair colour as #rrggbb.", json_schema_extra=_COLOUR)
    outfit: str = Field(
        "#4a7bd1", description="Main clothing colour as #rrggbb.", json_schema_extra=_COLOUR
    )
    accent: str = Field(
        "#f2c14e",
        description="Accent colour (scarf, apron, trim) as #rrggbb.",
        json_schema_extra=_COLOUR,
    )
    hair_style: Literal["short", "long", "bun", "bald", "ponytail"] = Field(
        "short", description="Hair shape."
    )
    height: float = Field(1.0, ge=0.7, le=1.3, description="Relative height, 1.0 is average.")
    accessory: Literal["none", "hat", "glasses", "apron", "scarf", "headset"] = Field(
        "none", description="One accessory drawn on the character."
    )
    image: str = Field(
        "",
        description=(
            "A picture of the character: a PNG path relative to this file (`npc import` keeps a "
            "card's own picture as <id>.png). The demo shows it as a portrait; `npc export "
            "--format png` embeds the card in it."
        ),
    )

    @field_validator("skin", "hair", "outfit", "accent")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        text = value.strip()
        if (
            len(text) != 7
            or not text.startswith("#")
            or any(c not in "0123456789abcdefABCDEF" for c in text[1:])
        ):
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

    traits: list[str] = Field(
        default_factory=list, description="Short adjectives or phrases: 'warm', 'dry humour'."
    )
    big_five: BigFive | None = Field(None, description="Optional Big Five scores.")
    talkativeness: float = Field(
        0.5,
        ge=0,
        le=1,
        description="How eagerly the character speaks up in a group scene when not addressed, 0..1.",
    )


class SpeakingStyle(_Strict):
    """How the character talks."""

    tone: str = Field("", description="Register and tone: 'casual', 'formal', '江湖口吻'.")
    quirks: list[str] = Field(
        default_factory=list, description="Verbal habits: 'ends questions with eh?'."
    )
    catchphrases: list[str] = Field(
        default_factory=list, description="Lines the character is known for."
    )
    max_reply_sentences: int = Field(3, ge=1, le=20, description="Longest reply, in sentences.")
    max_reply_chars: int = Field(
        400, ge=20, le=4000, description="Longest reply, in characters (hard limit)."
    )


class ExampleAction(_Strict):
    """An action the character takes in an example exchange."""

    name: str = Field(
        ..., min_length=1, description="An action name from the character's `actions`."
    )
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments by parameter name.")


class ExampleExchange(_Strict):
    """One example of the character answering a player: the strongest signal of voice."""

    player: str = Field(..., min_length=1, description="What the player says.")
    character: str = Field(..., min_length=1, description="What the character answers.")
    emotion: str | None = Field(
        None, description="The emotion the character shows (from `emotions.set`)."
    )
    actions: list[ExampleAction] = Field(
        default_factory=list, description="Actions the character takes."
    )


class Greetings(_Strict):
    """Opening lines. Placeholders: {player_name}, {character_name}, {remembered} (a detail recalled)."""

    first_meeting: list[str] = Field(
        default_factory=list, description="Lines for a player the character has never met."
    )
    returning: list[str] = Field(
        default_factory=list,
        description="Lines for a returning player; may use {player_name} and {remembered}.",
    )


class Boundaries(_Strict):
    """What the character will not do, and how it says no without breaking character."""

    refused_topics: list[str] = Field(
        default_factory=list, description="Topics the character declines to discuss."
    )
    ooc_rules: list[str] = Field(
        default_factory=list,
        description="Out-of-character rules for the model, placed last in the prompt.",
    )
    refusal_lines: list[str] = Field(
        default_factory=list,
        description="In-character lines used when a topic is refused or a reply is blocked.",
    )
    fallback_lines: list[str] = Field(
        default_factory=list,
        description="In-character lines used when the model fails or times out ('Sorry, my mind wandered...').",
    )


class ActionParam(_Strict):
    """A typed parameter of an action."""

    name: str = Field(
        ..., min_length=1, pattern=r"^[a-z_][a-z0-9_]*$", description="Parameter name (snake_case)."
    )
    type: Literal["string", "integer", "number", "boolean"] = Field(
        "string", description="Value type."
    )
    description: str = Field("", description="What the value means, shown to the model.")
    choices: list[str | int | float] | None = Field(
        None, description="If set, the only allowed values."
    )
    required: bool = Field(True, description="Whether the argument must be given.")


class ActionSpec(_Strict):
    """Something the character can do in the game; the game executes it, the engine validates it."""

    name: str = Field(
        ..., min_length=1, pattern=r"^[a-z_][a-z0-9_]*$", description="Action name (snake_case)."
    )
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
        default_factory=lambda: [
            "neutral",
            "happy",
            "sad",
            "angry",
            "surprised",
            "afraid",
            "thinking",
        ],
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
    familiarity: float = Field(
        0, ge=0, le=100, description="How well they know each other, 0..100."
    )
    max_change_per_turn: float = Field(
        5, gt=0, le=100, description="Largest change one turn may make to a value."
    )


class GenerationSettings(_Strict):
    """Sampling settings passed to the backend. Unset values use the backend's defaults."""

    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling.")
    max_tokens: int | None = Field(None, ge=1, le=8192, description="Longest reply in tokens.")
    presence_penalty: float | None = Field(
        None, ge=-2, le=2, description="OpenAI-style presence penalty."
    )
    frequency_penalty: float | None = Field(
        None, ge=-2, le=2, description="OpenAI-style frequency penalty."
    )
    seed: int | None = Field(
        None, description="Seed for reproducible sampling where the backend supports it."
    )


class BlockedTopic(_Strict):
    """A topic the character's policy blocks, in any language."""

    name: str = Field(..., min_length=1, description="Rule name, reported in the audit log.")
    words: list[str] = Field(
        default_factory=list, description="Words or phrases, matched after normalisation."
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions (RE2 syntax: no backreferences or lookaround), matched after normalisation.",
    )

    @field_validator("patterns")
    @classmethod
    def _linear_time(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            check_linear(pattern)
        return patterns


class PolicySettings(_Strict):
    """The character's safety policy; combined with the world's policy (the stricter wins)."""

    age_rating: Literal["all", "teen", "mature"] = Field("teen", description="Audience rating.")
    blocked_topics: list[BlockedTopic] = Field(default_factory=list, description="Blocked topics.")
    redact_pii: bool = Field(
        True, description="Redact personal information before storing or logging."
    )


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
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="Unknown extensions, kept verbatim."
    )
    extensions_file: str = Field(
        "",
        description=(
            "A JSON file (path relative to this file) holding extensions too large for the character "
            "file (`npc import` moves each one over 64 KB there); loaded into `extensions`."
        ),
    )
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Other card fields (V3 assets, nickname, timestamps...), kept verbatim.",
    )
    outer: dict[str, Any] = Field(
        default_factory=dict,
        description="Top-level card fields outside `data` (spec_version, V1 copies, editor fields), kept verbatim.",
    )


class Persona(_Strict):
    """A character: identity, personality, voice, knowledge, limits and what it can do."""

    id: str = Field(
        "",
        pattern=r"^$|^[a-z0-9][a-z0-9_-]*$",
        description="Stable id (defaults to the file name without extension). Memory is keyed by it.",
    )
    extends: str | None = Field(
        None, description="A template in characters/templates/ whose fields this inherits."
    )

    # identity
    name: str = Field(..., min_length=1, description="The character's name as players see it.")
    names: dict[str, str] = Field(
        default_factory=dict, description="Localized names by language code: {zh: 米拉, en: Mira}."
    )
    pronouns: str = Field("", description="Pronouns: 'she/her', '他'.")
    age: int | str | None = Field(None, description="Age in years, or a phrase ('ageless').")
    role: str = Field(
        "", description="What the character does in the world: 'plaza host', '茶馆掌柜'."
    )
    look: Look = Field(
        default_factory=Look, description="Appearance, for the demo's procedural art."
    )

    # inside
    personality: Personality = Field(
        default_factory=Personality, description="Traits and temperament."
    )
    style: SpeakingStyle = Field(
        default_factory=SpeakingStyle, description="How the character talks."
    )
    backstory: str = Field("", description="Where the character comes from; a paragraph or two.")
    knowledge: list[str] = Field(
        default_factory=list, description="Facts the character knows and may share."
    )
    goals: list[str] = Field(default_factory=list, description="What the character wants.")
    examples: list[ExampleExchange] = Field(
        default_factory=list, description="Example exchanges, in the character's voice."
    )
    greetings: Greetings = Field(default_factory=Greetings, description="Opening lines.")

    # languages
    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        description="Languages spoken, primary first: [en], [zh, en].",
    )
    language_mode: Literal["primary", "match_player"] = Field(
        "primary",
        description="'primary': always answer in the first language; 'match_player': answer in the player's language if spoken.",
    )

    # limits and abilities
    boundaries: Boundaries = Field(
        default_factory=Boundaries, description="Refusals and out-of-character rules."
    )
    actions: list[ActionSpec] = Field(
        default_factory=list, description="Actions the character may take."
    )
    emotions: EmotionSet = Field(
        default_factory=EmotionSet, description="Emotions the character may show."
    )
    relationship: RelationshipDefaults = Field(
        default_factory=RelationshipDefaults, description="Starting relationship with a new player."
    )
    generation: GenerationSettings = Field(
        default_factory=GenerationSettings, description="Sampling settings."
    )
    policy: PolicySettings = Field(
        default_factory=PolicySettings, description="Safety policy for this character."
    )
    lore: list[LoreEntry] = Field(
        default_factory=list, description="Lorebook entries inserted when their keys match."
    )
    lorebooks: list[str] = Field(
        default_factory=list,
        description=(
            "Lore files this character also uses: names of files in lore/ beside this file "
            "(lore/<name>.yaml, as `npc import` writes a World Info or lorebook file). Their "
            "entries follow the character's own `lore`."
        ),
    )
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


def scaffold_persona(
    name: str, *, template: str | None = None, schema_ref: str | None = None
) -> str:
    """The YAML text of a new, valid character called ``name``, every section commented.

    ``template`` becomes ``extends:``; ``schema_ref`` (a path or URL of the JSON Schema)
    becomes the ``# yaml-language-server: $schema=...`` line editors read.
    """
    return scaffold_yaml(name, template=template, schema_ref=schema_ref)
