"""Characters as data: the persona model, loading persona files, checking them, new-file scaffolds.

- :mod:`~engine.persona.model`: the strict pydantic models (:class:`Persona` and its parts);
- :mod:`~engine.persona.load`: reading files, ``extends:`` templates, validation reports;
- :mod:`~engine.persona.check`: pydantic errors mapped to file, line and field; the checks
  beyond the schema (``lint``);
- :mod:`~engine.persona.actions`: an action's arguments against its parameters, one checker
  for a file's examples (strict) and a model's reply (coerced);
- :mod:`~engine.persona.io`: reading a file's text and where each key sits in it;
- :mod:`~engine.persona.scaffold`: the commented YAML of a new character.

Pure: may import :mod:`engine.errors`, :mod:`engine.lore` and :mod:`engine.text`; must not
import memory, backends or runtime.

Example::

    from engine.persona import load_persona
    mira = load_persona("characters/mira.yaml")
"""

from __future__ import annotations

from engine.persona.check import GREETING_PLACEHOLDERS
from engine.persona.io import MAX_PERSONA_BYTES, PERSONA_SUFFIXES
from engine.persona.load import (
    MAX_EXTENSIONS_FILE_BYTES,
    MAX_TEMPLATE_DEPTH,
    FileReport,
    find_character,
    load_characters,
    load_lore_file,
    load_persona,
    template_names,
    validate_file,
    validate_path,
)
from engine.persona.model import (
    ActionParam,
    ActionSpec,
    BigFive,
    BlockedTopic,
    Boundaries,
    CardInfo,
    EmotionSet,
    ExampleAction,
    ExampleExchange,
    GenerationSettings,
    Greetings,
    Look,
    Persona,
    Personality,
    PolicySettings,
    RelationshipDefaults,
    SpeakingStyle,
    persona_json_schema,
    scaffold_persona,
)

__all__ = [
    "GREETING_PLACEHOLDERS",
    "MAX_EXTENSIONS_FILE_BYTES",
    "MAX_PERSONA_BYTES",
    "MAX_TEMPLATE_DEPTH",
    "PERSONA_SUFFIXES",
    "ActionParam",
    "ActionSpec",
    "BigFive",
    "BlockedTopic",
    "Boundaries",
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
    "load_lore_file",
    "load_persona",
    "persona_json_schema",
    "scaffold_persona",
    "template_names",
    "validate_file",
    "validate_path",
]
