"""Turning validation problems into messages a writer can act on.

Helpers of :mod:`engine.persona.load`: map pydantic errors back to the file, line and
field that caused them (with "did you mean" suggestions), and check what no single field
shows (an example using an emotion or action the character does not have, a greeting with
an unknown placeholder).
"""

from __future__ import annotations

import difflib
import functools
import re
import string
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from engine.errors import PersonaError
from engine.persona.actions import check_args, describe_value
from engine.persona.io import Loc, Source, format_loc

if TYPE_CHECKING:
    from engine.persona.model import ActionSpec, Persona

__all__ = ["GREETING_PLACEHOLDERS", "error_at", "lint", "map_validation_errors", "source_for"]

#: Placeholders a greeting may use; the runtime fills them in.
GREETING_PLACEHOLDERS = frozenset({"player_name", "character_name", "remembered"})


def error_at(
    source: Source,
    message: str,
    loc: Loc,
    *,
    key: bool = True,
    cls: type[PersonaError] = PersonaError,
    suggestion: str | None = None,
) -> PersonaError:
    mark = source.mark(loc, key=key)
    return cls(
        message,
        path=str(source.path),
        line=mark[0] if mark else None,
        column=mark[1] if mark else None,
        field=format_loc(loc) or None,
        suggestion=suggestion,
    )


def source_for(loc: Loc, chain: list[Source]) -> Source:
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
        elif last and kind == "invalid_key":
            break
        elif last and kind in ("extra_forbidden", "missing"):
            loc.append(part)
        else:
            node = None
    return tuple(loc)


def map_validation_errors(
    exc: ValidationError, data: dict[str, Any], chain: list[Source], root: type[BaseModel]
) -> list[PersonaError]:
    """One PersonaError per field that failed, positioned in the file that supplied the value."""
    grouped: dict[Loc, list[Any]] = {}
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], data, error["type"])
        grouped.setdefault(loc, []).append(error)
    result = []
    for loc, errors in grouped.items():
        message, suggestion = _message_for(loc, errors, root)
        is_key = errors[0]["type"] == "extra_forbidden"
        source = source_for(loc, chain)
        result.append(error_at(source, message, loc, key=is_key, suggestion=suggestion))
    return result


def _message_for(loc: Loc, errors: list[Any], root: type[BaseModel]) -> tuple[str, str | None]:
    first = errors[0]
    kind = first["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        return f"unknown field {key!r}", _suggest_field(root, loc)
    if kind == "missing":
        return "required field is missing", None
    if kind == "invalid_key":
        return (
            f"field name {describe_value(first.get('input'))} is not text; quote it or remove it",
            None,
        )
    nouns = [_NOUNS[e["type"]] for e in errors if e["type"] in _NOUNS]
    if nouns and len(nouns) == len(errors):
        unique = list(dict.fromkeys(nouns))
        value = first.get("input")
        message = f"expected {' or '.join(unique)}, got {describe_value(value)}"
        if unique == ["text"] and isinstance(value, bool | int | float):
            # YAML reads yes/no/on/off as booleans and bare digits as numbers.
            message += "; put it in quotes to keep it as text"
        return message, None
    messages = list(dict.fromkeys(_clean_message(e) for e in errors if e["type"] not in _NOUNS))
    message = "; ".join(messages)
    suggestion = None
    if kind == "literal_error" and isinstance(first.get("input"), str):
        options = re.findall(r"'([^']*)'", str(first.get("ctx", {}).get("expected", "")))
        close = difflib.get_close_matches(first["input"], options, n=1)
        suggestion = close[0] if close else None
    return message, suggestion


_PATTERNS = {
    r"^[a-z_][a-z0-9_]*$": "must be snake_case: lowercase letters, digits and _ (like give_item)",
    r"^$|^[a-z0-9][a-z0-9_-]*$": "must be lowercase letters, digits, - and _ (like mira or old-chen)",
}


def _clean_message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    if kind in ("too_short", "string_too_short") and (
        value in ([], None) or (isinstance(value, str) and not value.strip())
    ):
        return "must not be empty"
    if kind == "greater_than_equal":
        message = f"must be at least {ctx.get('ge')}"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx.get('le')}"
    elif kind == "greater_than":
        message = f"must be more than {ctx.get('gt')}"
    elif kind == "less_than":
        message = f"must be less than {ctx.get('lt')}"
    elif kind == "literal_error":
        message = f"must be one of {ctx.get('expected')}"
    elif kind == "string_pattern_mismatch":
        message = _PATTERNS.get(str(ctx.get("pattern")), f"must match {ctx.get('pattern')}")
    elif kind == "too_short":
        message = f"needs at least {ctx.get('min_length')} item(s)"
    elif kind == "too_long":
        message = f"allows at most {ctx.get('max_length')} item(s)"
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message} (got {describe_value(value)})"
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


def _fields_at(root: type[BaseModel], loc: Loc) -> list[str]:
    annotation: Any = root
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


# Imported cards' fields are not where a writer meant to put a misplaced key.
_NOT_SUGGESTED = frozenset({"lore", "card"})


@functools.cache
def _all_field_paths(root: type[BaseModel]) -> dict[str, str]:
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
                if (
                    isinstance(inner, type)
                    and issubclass(inner, BaseModel)
                    and name not in _NOT_SUGGESTED
                ):
                    visit(
                        inner,
                        f"{dotted}[]." if get_origin(member) is list else f"{dotted}.",
                        depth + 1,
                    )

    visit(root, "", 0)
    return paths


def _suggest_field(root: type[BaseModel], loc: Loc) -> str | None:
    if not loc:
        return None
    key = str(loc[-1])
    local = _fields_at(root, loc[:-1])
    close = difflib.get_close_matches(key, local, n=1, cutoff=0.6)
    if close:
        return close[0]
    elsewhere = _all_field_paths(root)
    if key in elsewhere and elsewhere[key] != key:
        return elsewhere[key]
    close = difflib.get_close_matches(key, list(elsewhere), n=1, cutoff=0.8)
    return elsewhere[close[0]] if close else None


# checks that span fields ------------------------------------------------------------------


def lint(persona: Persona) -> list[tuple[Loc, str, str | None]]:
    """Problems no single field shows: example emotions and actions, greeting placeholders."""
    problems: list[tuple[Loc, str, str | None]] = []
    emotions = persona.emotions.set
    action_names = [a.name for a in persona.actions]
    for i, example in enumerate(persona.examples):
        if example.emotion is not None and example.emotion not in emotions:
            close = difflib.get_close_matches(example.emotion, emotions, n=1)
            problems.append(
                (
                    ("examples", i, "emotion"),
                    f"{example.emotion!r} is not in emotions.set {emotions}",
                    close[0] if close else None,
                )
            )
        for j, act in enumerate(example.actions):
            spec = persona.action(act.name)
            loc: Loc = ("examples", i, "actions", j)
            if spec is None:
                close = difflib.get_close_matches(act.name, action_names, n=1)
                known = ", ".join(action_names) or "none declared"
                problems.append(
                    (
                        (*loc, "name"),
                        f"{act.name!r} is not one of this character's actions ({known})",
                        close[0] if close else None,
                    )
                )
                continue
            problems.extend(_check_args(spec, act.args, loc))
    for kind in ("first_meeting", "returning"):
        for i, line in enumerate(getattr(persona.greetings, kind)):
            problem = _placeholder_problem(line)
            if problem:
                problems.append((("greetings", kind, i), problem[0], problem[1]))
    if persona.language_mode == "match_player" and len(persona.languages) < 2:
        problems.append(
            (("language_mode",), "match_player needs at least two languages in `languages`", None)
        )
    return problems


def _check_args(
    spec: ActionSpec, args: dict[str, Any], loc: Loc
) -> list[tuple[Loc, str, str | None]]:
    _, problems = check_args(spec, args, coerce=False)
    return [
        ((*loc, "args", *([p.argument] if p.argument is not None else [])), p.message, p.suggestion)
        for p in problems
    ]


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
