"""Action arguments: one checker for a file's examples (strict) and a model's reply (coerced)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.dialogue.reply import parse_reply, render_meta
from engine.persona import ActionSpec, Persona
from engine.persona.actions import ArgProblem, check_args

POUR = ActionSpec.model_validate(
    {
        "name": "pour",
        "parameters": [
            {"name": "cups", "type": "integer"},
            {"name": "tea", "choices": ["green", "black"], "required": False},
            {"name": "hot", "type": "boolean", "required": False},
            {"name": "share", "type": "number", "required": False},
        ],
    }
)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, ArgProblem(None, "pour needs the argument 'cups'")),
        ({"cups": 1, "cusp": 2}, ArgProblem("cusp", "pour has no parameter 'cusp'", "cups")),
        ({"cups": "lots"}, ArgProblem("cups", "expected a whole number, got text 'lots'")),
        ({"cups": 2.5}, ArgProblem("cups", "expected a whole number, got 2.5")),
        (
            {"cups": 1, "tea": "gren"},
            ArgProblem("tea", "'gren' is not one of: green, black", "green"),
        ),
        (
            {"cups": 1, "hot": "maybe"},
            ArgProblem("hot", "expected true or false, got text 'maybe'"),
        ),
    ],
)
@pytest.mark.parametrize("coerce", [False, True])
def test_both_modes_find_the_same_problem_in_the_same_words(
    args: dict[str, Any], problem: ArgProblem, coerce: bool
) -> None:
    values, problems = check_args(POUR, args, coerce=coerce)
    assert problems == [problem]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"cups": "2"}, {"cups": 2}),
        ({"cups": 2.0, "share": "0.5"}, {"cups": 2, "share": 0.5}),
        ({"cups": 1, "tea": " Green "}, {"cups": 1, "tea": "green"}),
        ({"cups": 1, "hot": "yes"}, {"cups": 1, "hot": True}),
        ({"cups": 1, "tea": None}, {"cups": 1}),
    ],
)
def test_coercion_gives_the_game_typed_values(
    args: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert check_args(POUR, args, coerce=True) == (expected, [])


@pytest.mark.parametrize(
    "args", [{"cups": "2"}, {"cups": True}, {"cups": 1, "tea": "Green"}, {"cups": 1, "hot": 1}]
)
def test_a_file_must_already_use_the_parameter_type(args: dict[str, Any]) -> None:
    _, problems = check_args(POUR, args, coerce=False)
    assert len(problems) == 1


def test_a_reply_drops_an_action_for_the_problem_a_file_would_be_told_of() -> None:
    persona = Persona.model_validate({"id": "ada", "name": "Ada", "actions": [POUR.model_dump()]})
    parsed = parse_reply(
        "Here. " + render_meta(actions=[{"name": "pour", "args": {"cups": "lots"}}]), persona
    )
    _, (problem,) = check_args(POUR, {"cups": "lots"}, coerce=False)
    assert parsed.actions == []
    assert parsed.warnings == [f"action 'pour' dropped: argument 'cups': {problem.message}"]
