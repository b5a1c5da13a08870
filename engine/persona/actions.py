"""An action's arguments checked against its declared parameters.

One checker for both places arguments come from: a persona file's examples, checked strictly
(the writer typed them: a value must already have the parameter's type), and a model's reply,
checked with coercion (a model writes ``"2"`` for 2 and ``"Fountain"`` for the choice
``fountain``). Both get the same problems, in the same words.

Example::

    values, problems = check_args(spec, {"cups": "2"}, coerce=True)
    # values == {"cups": 2}, problems == []
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.persona.model import ActionParam, ActionSpec

__all__ = ["ArgProblem", "check_args", "describe_value"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}

_NOUNS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}

_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


@dataclass(frozen=True, slots=True)
class ArgProblem:
    """One thing wrong with an action's arguments."""

    argument: str | None
    """The argument at fault, or None when the arguments as a whole are (one is missing)."""
    message: str
    suggestion: str | None = None
    """A close match to offer ("did you mean"), if any."""


def describe_value(value: Any) -> str:
    """A value as a writer would name it in a message: ``text 'lots'``, ``a list``, ``2.5``."""
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


def check_args(
    spec: ActionSpec, args: Mapping[str, Any], *, coerce: bool
) -> tuple[dict[str, Any], list[ArgProblem]]:
    """The arguments as the game receives them, and every problem found (in the order given).

    ``coerce=False`` checks a value's type as written; ``coerce=True`` converts text to numbers
    and booleans where it reads as one and matches choices case-insensitively. A missing
    optional argument (or one given as null when coercing) is left out of the result.
    """
    params = {p.name: p for p in spec.parameters}
    values: dict[str, Any] = {}
    problems: list[ArgProblem] = []
    for name, value in args.items():
        param = params.get(name)
        if param is None:
            close = difflib.get_close_matches(name, list(params), n=1)
            problems.append(
                ArgProblem(name, f"{spec.name} has no parameter {name!r}", _first(close))
            )
            continue
        if coerce and value is None:
            continue
        converted = _convert(value, param) if coerce else _as_typed(value, param)
        if converted is _BAD:
            problems.append(
                ArgProblem(name, f"expected {_NOUNS[param.type]}, got {describe_value(value)}")
            )
            continue
        chosen = _choice(converted, param, fold=coerce)
        if chosen is _BAD:
            options = [str(c) for c in param.choices or []]
            close = difflib.get_close_matches(str(value), options, n=1)
            problems.append(
                ArgProblem(name, f"{value!r} is not one of: {', '.join(options)}", _first(close))
            )
            continue
        values[name] = chosen
    for name, param in params.items():
        if param.required and name not in values and not _named(name, problems):
            problems.append(ArgProblem(None, f"{spec.name} needs the argument {name!r}"))
    return values, problems


class _Bad:
    """Marks a value that does not fit (None is a value an argument may not hold, so not it)."""


_BAD: Any = _Bad()


def _first(matches: list[str]) -> str | None:
    return matches[0] if matches else None


def _named(name: str, problems: list[ArgProblem]) -> bool:
    return any(p.argument == name for p in problems)


def _as_typed(value: Any, param: ActionParam) -> Any:
    """``value`` if it already has the parameter's type (a bool is no number), else _BAD."""
    if not isinstance(value, _TYPES[param.type]):
        return _BAD
    if param.type != "boolean" and isinstance(value, bool):
        return _BAD
    return value


def _convert(value: Any, param: ActionParam) -> Any:
    """``value`` converted to the parameter's type where it reads as one, else _BAD."""
    if param.type == "string":
        return _BAD if isinstance(value, dict | list) else str(value).strip()
    if param.type == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        return True if word in _TRUE else False if word in _FALSE else _BAD
    if isinstance(value, bool):
        return _BAD
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _BAD
    if math.isnan(number):
        return _BAD
    if param.type == "integer":
        return int(number) if number.is_integer() else _BAD
    return number


def _choice(value: Any, param: ActionParam, *, fold: bool) -> Any:
    """The declared choice ``value`` is (case-insensitively when ``fold``), ``value`` itself when
    the parameter has no choices, or _BAD."""
    if param.choices is None:
        return value
    for choice in param.choices:
        if value == choice:
            return choice
        if fold and isinstance(choice, str) and str(value).strip().lower() == choice.lower():
            return choice
    return _BAD
