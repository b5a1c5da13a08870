"""Bad persona files: each gets a clear PersonaError naming the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_persona import WritePersona
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import PersonaError, TemplateError
from engine.persona import MAX_PERSONA_BYTES, load_persona, validate_file, validate_path


def only_error(path: Path) -> PersonaError:
    errors = validate_file(path)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def test_yaml_syntax_error_names_path_line_and_column(write_persona: WritePersona) -> None:
    path = write_persona("name: Ada\nstyle:\n  tone: [dry\n  quirks: []\n")
    error = only_error(path)
    assert str(error).startswith(f"{path}:")
    assert error.line is not None and error.line >= 3
    assert error.column is not None
    assert "YAML syntax error" in error.message


def test_yaml_bad_indentation_points_at_the_line(write_persona: WritePersona) -> None:
    error = only_error(write_persona("name: Ada\n  role: baker\n"))
    assert (error.line, error.column) == (2, 7)


def test_unknown_key_is_named_with_a_suggestion(write_persona: WritePersona) -> None:
    path = write_persona("name: Ada\npersonallity:\n  traits: [kind]\n")
    error = only_error(path)
    assert (error.line, error.column, error.field) == (2, 1, "personallity")
    assert error.suggestion == "personality"
    assert str(error) == (
        f"{path}:2:1: personallity: unknown field 'personallity' (did you mean 'personality'?)"
    )


def test_nested_unknown_key_suggests_a_field_at_its_level(write_persona: WritePersona) -> None:
    error = only_error(write_persona("name: Ada\nstyle:\n  catchphrase: [Hi]\n"))
    assert (error.line, error.column, error.field, error.suggestion) == (
        3,
        3,
        "style.catchphrase",
        "catchphrases",
    )


def test_key_at_the_wrong_level_suggests_where_it_belongs(write_persona: WritePersona) -> None:
    error = only_error(write_persona("name: Ada\ntraits: [kind]\n"))
    assert error.suggestion == "personality.traits"


@pytest.mark.parametrize(
    ("body", "field", "line", "words"),
    [
        ("name: Ada\nknowledge: just one fact\n", "knowledge", 2, "expected a list"),
        (
            "name: Ada\npersonality:\n  traits: [kind]\n  talkativeness: lots\n",
            "personality.talkativeness",
            4,
            "expected a number",
        ),
        ("name: [Ada]\n", "name", 1, "expected text"),
        ("name: Ada\nstyle: terse\n", "style", 2, "expected a mapping"),
        ("name: Ada\nexamples:\n  - player: hi\n", "examples[0].character", 3, "required"),
    ],
)
def test_wrong_types_name_the_field(
    write_persona: WritePersona, body: str, field: str, line: int, words: str
) -> None:
    error = only_error(write_persona(body))
    assert (error.field, error.line) == (field, line)
    assert words in error.message


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            "personality:\n  big_five:\n    openness: 1.5\n",
            "personality.big_five.openness",
            "at most 1",
        ),
        ("style:\n  max_reply_sentences: 0\n", "style.max_reply_sentences", "at least 1"),
        ("relationship:\n  trust: -500\n", "relationship.trust", "at least -100"),
        ("look:\n  hair: blue\n", "look.hair", "#a1b2c3"),
        ("look:\n  accessory: cape\n", "look.accessory", "must be one of"),
        ("emotions:\n  set: [happy]\n  baseline: neutral\n", "emotions.baseline", "not in set"),
    ],
)
def test_out_of_range_values_name_the_field(
    write_persona: WritePersona, body: str, field: str, words: str
) -> None:
    error = only_error(write_persona("name: Ada\n" + body))
    assert error.field == field
    assert words in error.message
    assert error.line is not None and error.line > 1


@pytest.mark.parametrize("name", ['""', "'   '"])
def test_empty_name_is_refused(write_persona: WritePersona, name: str) -> None:
    error = only_error(write_persona(f"name: {name}\n"))
    assert (error.field, error.line) == ("name", 1)
    assert "must not be empty" in error.message


def test_missing_name_is_refused(write_persona: WritePersona) -> None:
    error = only_error(write_persona("role: baker\n"))
    assert error.field == "name"
    assert "required" in error.message


def test_duplicate_action_names_are_refused(write_persona: WritePersona) -> None:
    path = write_persona("name: Ada\nactions:\n  - name: wave\n  - name: bow\n  - name: wave\n")
    error = only_error(path)
    assert (error.field, error.line) == ("actions", 3)
    assert "duplicate action names: wave" in error.message


def test_duplicate_yaml_keys_are_refused(write_persona: WritePersona) -> None:
    error = only_error(write_persona("name: Ada\nrole: baker\nrole: thief\n"))
    assert (error.field, error.line) == ("role", 3)
    assert "duplicate key" in error.message


def test_action_names_must_be_snake_case(write_persona: WritePersona) -> None:
    error = only_error(write_persona("name: Ada\nactions:\n  - name: Give Item\n"))
    assert error.field == "actions[0].name"
    assert "snake_case" in error.message


def test_extends_a_missing_template(write_persona: WritePersona) -> None:
    path = write_persona("name: Ada\nextends: bsae\n")
    error = only_error(path)
    assert isinstance(error, TemplateError)
    assert (error.path, error.line, error.field) == (str(path), 2, "extends")
    assert "'bsae' not found" in error.message
    assert error.suggestion == "base"


def test_template_cycle_is_refused(write_persona: WritePersona, cast_dir: Path) -> None:
    templates = cast_dir / "templates"
    write_persona("extends: b\nrole: a\n", "a.yaml", folder=templates)
    write_persona("extends: a\nrole: b\n", "b.yaml", folder=templates)
    path = write_persona("name: Ada\nextends: a\n")
    with pytest.raises(TemplateError) as caught:
        load_persona(path)
    assert "loop: a.yaml -> b.yaml -> a.yaml" in caught.value.message
    assert caught.value.field == "extends"


def test_template_extending_itself_is_refused(write_persona: WritePersona, cast_dir: Path) -> None:
    write_persona("extends: selfish\nrole: a\n", "selfish.yaml", folder=cast_dir / "templates")
    error = only_error(write_persona("name: Ada\nextends: selfish\n"))
    assert isinstance(error, TemplateError)


def test_extends_must_be_a_name(write_persona: WritePersona) -> None:
    error = only_error(write_persona("name: Ada\nextends: [base]\n"))
    assert error.field == "extends"


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"# only a comment\n"])
def test_empty_file_is_refused(cast_dir: Path, content: bytes) -> None:
    path = cast_dir / "empty.yaml"
    path.write_bytes(content)
    error = only_error(path)
    assert "empty" in error.message
    assert error.path == str(path)


def test_binary_file_is_refused(cast_dir: Path) -> None:
    path = cast_dir / "portrait.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert "binary" in only_error(path).message


def test_non_utf8_file_points_at_the_bad_byte(cast_dir: Path) -> None:
    path = cast_dir / "latin1.yaml"
    path.write_bytes("name: Ada\nrole: Café owner\n".encode("latin-1"))
    error = only_error(path)
    assert "not UTF-8" in error.message
    assert (error.line, error.column) == (2, 10)


def test_twenty_megabyte_file_is_refused_by_the_size_limit_before_it_is_read(
    cast_dir: Path,
) -> None:
    path = cast_dir / "huge.yaml"
    with path.open("wb") as handle:  # sparse: costs no disk and no time
        handle.truncate(20_000_000)
    error = only_error(path)
    # All NUL bytes: read, it would be refused as binary; the size is what is named.
    assert "limited to" in error.message and "20.0 MB" in error.message
    assert path.stat().st_size > MAX_PERSONA_BYTES


def test_top_level_list_is_refused(write_persona: WritePersona) -> None:
    assert "expected a mapping" in only_error(write_persona("- name: Ada\n")).message


def test_alias_bomb_is_refused(write_persona: WritePersona) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 9)
    ]
    error = only_error(write_persona("\n".join(lines) + "\n"))
    assert "aliases" in error.message


def test_deeply_nested_yaml_is_refused(write_persona: WritePersona) -> None:
    error = only_error(write_persona("name: " + "[" * 5000 + "]" * 5000 + "\n"))
    assert "nested too deeply" in error.message


def test_json_syntax_error_has_line_and_column(write_persona: WritePersona) -> None:
    error = only_error(write_persona('{\n  "name": "Ada",\n  "role": \n}\n', "ada.json"))
    assert (error.line, error.column) == (4, 1)
    assert "JSON syntax error" in error.message


def test_json_unknown_key_has_line_and_suggestion(write_persona: WritePersona) -> None:
    error = only_error(write_persona('{\n  "name": "Ada",\n  "rloe": "baker"\n}\n', "ada.json"))
    assert (error.line, error.field, error.suggestion) == (3, "rloe", "role")


def test_toml_syntax_error_has_line_and_column(write_persona: WritePersona) -> None:
    error = only_error(write_persona('name = "Ada"\nrole = \n', "ada.toml"))
    assert error.line == 2
    assert "TOML syntax error" in error.message


def test_toml_nested_error_points_at_the_key(write_persona: WritePersona) -> None:
    text = 'name = "Ada"\n\n[style]\ntone = "dry"\nmax_reply_sentences = 0\n'
    error = only_error(write_persona(text, "ada.toml"))
    assert (error.line, error.field) == (5, "style.max_reply_sentences")


def test_unsupported_extension_is_refused(write_persona: WritePersona) -> None:
    assert "unsupported file type" in only_error(write_persona("name: Ada\n", "ada.txt")).message


def test_folder_validates_every_persona_file_inside(
    write_persona: WritePersona, cast_dir: Path
) -> None:
    write_persona("name: Ada\n", "ada.yaml")
    write_persona("name: Bo\nrol: x\n", "bo.yaml")
    write_persona("{", "cy.json")
    write_persona('name = "Di"\n', "nested/di.toml")
    reports = {r.path.name: r for r in validate_path(cast_dir)}
    assert set(reports) == {"ada.yaml", "bo.yaml", "cy.json", "di.toml", "base.yaml"}
    assert {name for name, r in reports.items() if not r.ok} == {"bo.yaml", "cy.json"}


def test_folder_without_persona_files_is_reported(tmp_path: Path) -> None:
    (report,) = validate_path(tmp_path)
    assert "no persona files" in str(report.errors[0])


def test_nonexistent_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nobody.yaml"
    (report,) = validate_path(missing)
    assert str(report.errors[0]) == f"{missing}: no such file or folder"
    with pytest.raises(PersonaError, match="no such file"):
        load_persona(missing)


def test_folder_given_to_load_persona_is_a_clear_error(cast_dir: Path) -> None:
    with pytest.raises(PersonaError, match="is a folder"):
        load_persona(cast_dir)


def test_several_problems_are_all_reported_in_file_order(write_persona: WritePersona) -> None:
    errors = validate_file(write_persona("name: ''\nrol: x\nstyle:\n  max_reply_chars: 1\n"))
    assert [e.line for e in errors] == [1, 2, 4]


@pytest.mark.parametrize("value", ["no", "1984", "3.5"])
def test_yaml_scalar_that_is_not_text_says_to_quote_it(
    write_persona: WritePersona, value: str
) -> None:
    error = only_error(write_persona(f"name: Ada\nknowledge:\n  - {value}\n"))
    assert error.field == "knowledge[0]"
    assert "put it in quotes" in error.message


_YAMLISH = st.text(
    alphabet=st.sampled_from(list("abn:-[]{}'\"#&*!|>%@`,? \n\t\\0.1é陈")), max_size=120
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_YAMLISH, suffix=st.sampled_from([".yaml", ".json", ".toml"]))
def test_any_text_gives_persona_errors_never_an_exception(
    cast_dir: Path, text: str, suffix: str
) -> None:
    path = cast_dir / f"fuzz{suffix}"
    path.write_text(text, encoding="utf-8")
    errors = validate_file(path)
    assert all(isinstance(e, PersonaError) for e in errors)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_any_bytes_give_persona_errors_never_an_exception(cast_dir: Path, data: bytes) -> None:
    path = cast_dir / "fuzz.yaml"
    path.write_bytes(data)
    assert all(isinstance(e, PersonaError) for e in validate_file(path))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("name: !!int \n", "YAML value cannot be read"),
        ("name: !!int abc\n", "YAML value cannot be read"),
        ("name: !!python/object:os.system x\n", "could not determine a constructor"),
        ("name: Ada\n1: 2\n", "field name 1 is not text"),
        ("\x01name: Ada\n", "U+0001 is not allowed"),
        ("---\nname: a\n---\nname: b\n", "expected a single document"),
    ],
)
def test_odd_yaml_gives_a_persona_error(write_persona: WritePersona, text: str, words: str) -> None:
    assert words in only_error(write_persona(text)).message
