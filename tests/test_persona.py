"""Loading personas: formats, ids, templates, cross-field checks, schema and scaffolds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures_persona import CHARACTERS, WritePersona

from engine.errors import PersonaError, TemplateError
from engine.persona import (
    Persona,
    find_character,
    load_characters,
    load_persona,
    persona_json_schema,
    scaffold_persona,
    template_names,
    validate_file,
    validate_path,
)


def test_load_persona_reads_a_yaml_character(write_persona: WritePersona) -> None:
    path = write_persona(
        """\
        name: Ada
        role: baker
        knowledge: [Bread rises overnight.]
        """
    )
    persona = load_persona(path)
    assert isinstance(persona, Persona)
    assert (persona.name, persona.role, persona.knowledge) == (
        "Ada",
        "baker",
        ["Bread rises overnight."],
    )


def test_id_defaults_to_the_file_stem(write_persona: WritePersona) -> None:
    assert load_persona(write_persona("name: Ada\n", "ada.yaml")).id == "ada"


def test_file_stem_is_slugged_into_an_id(write_persona: WritePersona) -> None:
    assert load_persona(write_persona("name: Ada\n", "Old Ada.yaml")).id == "old-ada"


def test_explicit_id_wins_over_the_file_stem(write_persona: WritePersona) -> None:
    assert load_persona(write_persona("id: baker\nname: Ada\n", "ada.yaml")).id == "baker"


def test_load_persona_accepts_a_string_path(write_persona: WritePersona) -> None:
    assert load_persona(str(write_persona("name: Ada\n"))).name == "Ada"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("ada.json", '{"name": "Ada", "style": {"tone": "dry"}, "knowledge": ["a", "b"]}'),
        ("ada.toml", 'name = "Ada"\nknowledge = ["a", "b"]\n\n[style]\ntone = "dry"\n'),
        ("ada.yml", "name: Ada\nstyle: {tone: dry}\nknowledge: [a, b]\n"),
    ],
)
def test_json_toml_and_yml_load_like_yaml(
    write_persona: WritePersona, name: str, text: str
) -> None:
    persona = load_persona(write_persona(text, name))
    assert (persona.id, persona.name, persona.knowledge) == ("ada", "Ada", ["a", "b"])


def test_utf8_bom_is_accepted(cast_dir: Path) -> None:
    path = cast_dir / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: Ada\n")
    assert load_persona(path).name == "Ada"


def test_extends_inherits_unset_fields(write_persona: WritePersona) -> None:
    persona = load_persona(write_persona("extends: base\nname: Ada\n"))
    assert persona.role == "square regular"
    assert [a.name for a in persona.actions] == ["wave", "walk_to"]
    assert persona.relationship.affinity == 7
    assert persona.extends == "base"


def test_extends_merges_mappings_field_by_field(write_persona: WritePersona) -> None:
    persona = load_persona(write_persona("extends: base\nname: Ada\nstyle:\n  tone: gruff\n"))
    assert persona.style.tone == "gruff"
    assert persona.style.max_reply_sentences == 2


def test_extends_replaces_lists_whole(write_persona: WritePersona) -> None:
    persona = load_persona(write_persona("extends: base\nname: Ada\nactions:\n  - name: bow\n"))
    assert [a.name for a in persona.actions] == ["bow"]


def test_extends_accepts_a_file_name_with_extension(write_persona: WritePersona) -> None:
    assert load_persona(write_persona("extends: base.yaml\nname: Ada\n")).role == "square regular"


def test_templates_chain(write_persona: WritePersona, cast_dir: Path) -> None:
    write_persona("extends: base\nrole: guard\n", "guard.yaml", folder=cast_dir / "templates")
    persona = load_persona(write_persona("extends: guard\nname: Ada\n"))
    assert persona.role == "guard"
    assert persona.relationship.affinity == 7


def test_template_dirs_are_searched_first(write_persona: WritePersona, tmp_path: Path) -> None:
    extra = tmp_path / "studio_templates"
    extra.mkdir()
    (extra / "base.yaml").write_text("role: studio default\n", encoding="utf-8")
    path = write_persona("extends: base\nname: Ada\n")
    assert load_persona(path, template_dirs=[extra]).role == "studio default"


def test_a_template_may_not_set_the_id(write_persona: WritePersona, cast_dir: Path) -> None:
    write_persona("id: shared\nrole: x\n", "withid.yaml", folder=cast_dir / "templates")
    with pytest.raises(PersonaError) as caught:
        load_persona(write_persona("extends: withid\nname: Ada\n"))
    assert caught.value.field == "id"
    assert caught.value.path is not None and caught.value.path.endswith("withid.yaml")


def test_error_in_a_template_points_at_the_template(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    write_persona("style:\n  max_reply_sentences: 99\n", "loud.yaml", folder=cast_dir / "templates")
    (error,) = validate_file(write_persona("extends: loud\nname: Ada\n"))
    assert error.path is not None and error.path.endswith("loud.yaml")
    assert (error.line, error.field) == (2, "style.max_reply_sentences")


def test_template_file_validates_without_a_name(cast_dir: Path) -> None:
    assert validate_file(cast_dir / "templates" / "base.yaml") == []


def test_template_file_still_rejects_unknown_keys(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    path = write_persona("rol: x\n", "bad.yaml", folder=cast_dir / "templates")
    (error,) = validate_file(path)
    assert error.suggestion == "role"


def test_load_characters_returns_personas_by_id_and_skips_templates(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    write_persona("name: Ada\n", "ada.yaml")
    write_persona('{"name": "Bo"}', "bo.json")
    (cast_dir / "notes.md").write_text("not a persona", encoding="utf-8")
    cast = load_characters(cast_dir)
    assert list(cast) == ["ada", "bo"]
    assert cast["bo"].name == "Bo"


def test_load_characters_refuses_two_files_with_one_id(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    write_persona("name: Ada\n", "ada.yaml")
    write_persona('{"name": "Ada again"}', "ada.json")
    with pytest.raises(PersonaError, match="already used"):
        load_characters(cast_dir)


def test_load_characters_raises_for_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="no such folder"):
        load_characters(tmp_path / "nowhere")


def test_load_characters_raises_for_an_invalid_file(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    write_persona("name: Ada\npersonallity: {}\n", "ada.yaml")
    with pytest.raises(PersonaError, match="personallity"):
        load_characters(cast_dir)


def test_load_persona_reports_how_many_more_problems(write_persona: WritePersona) -> None:
    path = write_persona("name: Ada\nrol: x\ngoal: [y]\n")
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    assert caught.value.line == 2
    assert "1 more problem" in str(caught.value)


def test_validate_path_reports_every_file_in_a_folder(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    write_persona("name: Ada\n", "ada.yaml")
    write_persona("name: Bo\nrol: x\n", "bo.yaml")
    reports = {r.path.name: r for r in validate_path(cast_dir)}
    assert set(reports) == {"ada.yaml", "bo.yaml", "base.yaml"}
    assert reports["ada.yaml"].ok and reports["base.yaml"].ok
    assert reports["base.yaml"].kind == "template"
    assert not reports["bo.yaml"].ok


def test_validate_path_flags_duplicate_ids_in_a_folder(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    write_persona("name: Ada\n", "ada.yaml")
    write_persona("id: ada\nname: Another Ada\n", "other.yaml")
    reports = {r.path.name: r for r in validate_path(cast_dir)}
    assert "already used" in str(reports["other.yaml"].errors[0])


# cross-field checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "suggestion"),
    [
        (
            "examples: [{player: hi, character: hello, emotion: hapy}]",
            "examples[0].emotion",
            "happy",
        ),
        (
            "examples: [{player: hi, character: hello, actions: [{name: wve}]}]",
            "examples[0].actions[0].name",
            "wave",
        ),
        (
            "examples: [{player: hi, character: hello, actions: [{name: walk_to, args: {target: fountian}}]}]",
            "examples[0].actions[0].args.target",
            "fountain",
        ),
        (
            "examples: [{player: hi, character: hello, actions: [{name: walk_to, args: {targte: stage}}]}]",
            "examples[0].actions[0].args.targte",
            "target",
        ),
        ("greetings: {returning: ['Hi {player_nme}!']}", "greetings.returning[0]", "{player_name}"),
    ],
)
def test_examples_and_greetings_are_checked_against_the_character(
    write_persona: WritePersona, body: str, field: str, suggestion: str
) -> None:
    errors = validate_file(write_persona(f"extends: base\nname: Ada\n{body}\n"))
    assert (field, suggestion) in [(e.field, e.suggestion) for e in errors]
    assert all(e.line is not None for e in errors)


def test_example_action_missing_a_required_argument(write_persona: WritePersona) -> None:
    body = "examples: [{player: hi, character: hello, actions: [{name: walk_to}]}]"
    (error,) = validate_file(write_persona(f"extends: base\nname: Ada\n{body}\n"))
    assert "needs the argument 'target'" in error.message


def test_example_argument_of_the_wrong_type(write_persona: WritePersona) -> None:
    text = """\
        name: Ada
        actions: [{name: pay, parameters: [{name: coins, type: integer}]}]
        examples: [{player: hi, character: here, actions: [{name: pay, args: {coins: lots}}]}]
        """
    (error,) = validate_file(write_persona(text))
    assert error.message == "expected a whole number, got text 'lots'"


def test_greeting_with_unbalanced_braces(write_persona: WritePersona) -> None:
    (error,) = validate_file(
        write_persona("name: Ada\ngreetings: {first_meeting: ['Hi {there']}\n")
    )
    assert "brace" in error.message


def test_greeting_with_every_known_placeholder_is_valid(write_persona: WritePersona) -> None:
    line = "'{player_name}, I am {character_name}; {remembered}. Braces: {{x}}'"
    assert validate_file(write_persona(f"name: Ada\ngreetings: {{returning: [{line}]}}\n")) == []


def test_match_player_needs_two_languages(write_persona: WritePersona) -> None:
    (error,) = validate_file(write_persona("name: Ada\nlanguage_mode: match_player\n"))
    assert error.field == "language_mode"


# schema, scaffold, lookup -----------------------------------------------------------------


def test_json_schema_describes_fields_and_forbids_extras() -> None:
    schema = persona_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert "name" in schema["required"]
    assert schema["properties"]["backstory"]["description"]


def test_template_schema_requires_nothing() -> None:
    assert "required" not in persona_json_schema(template=True)


@pytest.mark.parametrize("template", ["base", None])
def test_scaffold_is_a_valid_persona(cast_dir: Path, template: str | None) -> None:
    path = cast_dir / "tom.yaml"
    path.write_text(
        scaffold_persona('Old "Tom": {x}', template=template, schema_ref="s.json"), encoding="utf-8"
    )
    assert validate_file(path) == []
    persona = load_persona(path)
    assert persona.name == 'Old "Tom": {x}'
    assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=s.json")


def test_find_character_by_id_and_by_path(write_persona: WritePersona, cast_dir: Path) -> None:
    path = write_persona("name: Ada\n", "ada.yaml")
    assert find_character("ada", cast_dir) == path
    assert find_character(str(path), cast_dir / "elsewhere") == path


def test_find_character_suggests_a_close_id(write_persona: WritePersona, cast_dir: Path) -> None:
    write_persona("name: Ada\n", "ada.yaml")
    with pytest.raises(PersonaError) as caught:
        find_character("adaa", cast_dir)
    assert caught.value.suggestion == "ada"


def test_template_names_lists_the_templates_folder(
    cast_dir: Path, write_persona: WritePersona
) -> None:
    write_persona("role: guard\n", "guard.toml", folder=cast_dir / "templates")
    assert template_names(cast_dir) == ["base", "guard"]


def test_shipped_characters_load_from_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "characters"
    shutil.copytree(CHARACTERS, copy)
    assert sorted(load_characters(copy)) == ["bram", "chen", "lin", "mira"]


def test_resolved_persona_round_trips_through_json(write_persona: WritePersona) -> None:
    persona = load_persona(write_persona("extends: base\nname: Ada\n"))
    again = Persona.model_validate(json.loads(persona.model_dump_json()))
    assert again == persona


def test_template_error_is_a_persona_error() -> None:
    assert issubclass(TemplateError, PersonaError)
