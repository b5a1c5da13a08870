"""Reading persona files: size and encoding checks, YAML/JSON/TOML parsing, source positions.

This is the I/O edge of :mod:`engine.persona.load`. :func:`read_source` turns a path into a
:class:`Source`: the parsed data plus where each field sits in the file (1-based line and
column), so a validation error can point a writer at the exact spot. Every failure is a
:class:`~engine.errors.PersonaError`; no foreign exception escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import PersonaError

__all__ = [
    "MAX_PERSONA_BYTES",
    "PERSONA_SUFFIXES",
    "Loc",
    "Mark",
    "Source",
    "format_loc",
    "read_source",
]

#: Largest persona file read, in bytes. Checked before reading, so a huge file costs nothing.
MAX_PERSONA_BYTES = 1_000_000

#: File types read as persona files, in order of preference.
PERSONA_SUFFIXES = (".yaml", ".yml", ".json", ".toml")

# libyaml's parser when PyYAML was built with it (several times faster on large files; the
# same nodes, marks and errors), else PyYAML's own.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A YAML document may share nodes through anchors and aliases; walking it counts every
# visit so that an alias bomb is refused instead of expanding without end.
_MAX_NODE_VISITS = 200_000

Loc = tuple[str | int, ...]
Mark = tuple[int, int]


@dataclass
class Source:
    """One parsed persona file: its data and the position of every key and value."""

    path: Path
    data: dict[str, Any]
    key_marks: dict[Loc, Mark] = field(default_factory=dict)
    value_marks: dict[Loc, Mark] = field(default_factory=dict)
    problems: list[PersonaError] = field(default_factory=list)

    def mark(self, loc: Loc, *, key: bool = False) -> Mark | None:
        """The position of ``loc`` (its key if ``key``), else of its nearest enclosing field."""
        marks = (self.key_marks, self.value_marks) if key else (self.value_marks, self.key_marks)
        for end in range(len(loc), -1, -1):
            prefix = loc[:end]
            for table in marks:
                if prefix in table:
                    return table[prefix]
        return None

    def defines(self, loc: Loc) -> int:
        """How many leading parts of ``loc`` this file's data holds (0: none)."""
        node: Any = self.data
        depth = 0
        for part in loc:
            if isinstance(node, dict) and isinstance(part, str) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                break
            depth += 1
        return depth


def format_loc(loc: Loc) -> str:
    """``("examples", 2, "emotion")`` -> ``examples[2].emotion``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def read_source(path: Path) -> Source:
    """Read and parse one persona file, refusing what is too big, empty, binary or not UTF-8."""
    shown = str(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise PersonaError("is a folder, not a persona file", path=shown)
    if suffix not in PERSONA_SUFFIXES:
        raise PersonaError(
            f"unsupported file type {suffix or '(none)'!r}; use .yaml, .yml, .json or .toml",
            path=shown,
        )
    text = _read_text(path)
    if suffix == ".json":
        data = _parse_json(text, shown)
        key_marks, value_marks, _ = _yaml_marks(text)  # JSON is (almost always) valid YAML
    elif suffix == ".toml":
        data = _parse_toml(text, shown)
        key_marks, value_marks = _toml_marks(text)
    else:
        data, key_marks, value_marks, problems = _parse_yaml(text, shown)
        if not isinstance(data, dict):
            raise _not_a_mapping(data, shown)
        return Source(path, data, key_marks, value_marks, problems)
    if not isinstance(data, dict):
        raise _not_a_mapping(data, shown)
    return Source(path, data, key_marks, value_marks)


def _read_text(path: Path) -> str:
    shown = str(path)
    try:
        if path.is_dir():
            raise PersonaError("is a folder, not a persona file", path=shown)
        if not path.exists():
            raise PersonaError("no such file", path=shown)
        size = path.stat().st_size
        if size > MAX_PERSONA_BYTES:
            raise PersonaError(
                f"file is {size / 1_000_000:.1f} MB; persona files are limited to "
                f"{MAX_PERSONA_BYTES // 1_000_000} MB",
                path=shown,
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise PersonaError(f"cannot read file: {exc.strerror or exc}", path=shown) from exc
    if len(raw) > MAX_PERSONA_BYTES:  # grew between stat and read
        raise PersonaError(
            f"file exceeds the {MAX_PERSONA_BYTES // 1_000_000} MB limit", path=shown
        )
    if not raw.strip():
        raise PersonaError("file is empty", path=shown)
    if b"\x00" in raw[:8192]:
        raise PersonaError("file is binary, not a text persona file", path=shown)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise PersonaError(
            f"file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            path=shown,
            line=line,
            column=column,
        ) from exc


def _not_a_mapping(data: Any, shown: str) -> PersonaError:
    if data is None:
        return PersonaError("file is empty (only comments or blank lines)", path=shown)
    kind = type(data).__name__
    return PersonaError(
        f"expected a mapping of fields (name: ..., role: ...) at the top, got a {kind}",
        path=shown,
        line=1,
        column=1,
    )


# YAML -----------------------------------------------------------------------------------


def _parse_yaml(
    text: str, shown: str
) -> tuple[Any, dict[Loc, Mark], dict[Loc, Mark], list[PersonaError]]:
    loader: Any = None
    try:
        loader = _LOADER(text)  # the reader checks the first characters right away
        node = loader.get_single_node()
        if node is None:
            return None, {}, {}, []
        walker = _Walker(shown)
        walker.walk(node, ())
        data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        raise PersonaError(
            f"character {_char_name(exc.character)} is not allowed in YAML; remove it",
            path=shown,
            line=line,
            column=column,
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if "nesting depth" in str(exc.problem or ""):  # libyaml's own depth limit
            raise PersonaError(
                "YAML is nested too deeply",
                path=shown,
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
            ) from exc
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            started = exc.context_mark
            where = (
                f" started at line {started.line + 1}, column {started.column + 1}"
                if started
                else ""
            )
            problem = f"{exc.problem} ({exc.context}{where})"
        raise PersonaError(
            f"YAML syntax error: {problem}",
            path=shown,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from exc
    except yaml.YAMLError as exc:
        raise PersonaError(f"YAML error: {exc}", path=shown) from exc
    except RecursionError as exc:
        raise PersonaError("YAML is nested too deeply", path=shown) from exc
    except PersonaError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors leak plain errors (`!!int abc`)
        raise PersonaError(
            f"YAML value cannot be read ({type(exc).__name__}: {exc})", path=shown
        ) from exc
    finally:
        if loader is not None:
            loader.dispose()
    return data, walker.key_marks, walker.value_marks, walker.problems


def _line_column(text: str, position: int) -> Mark:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _char_name(character: Any) -> str:
    code = character if isinstance(character, int) else ord(str(character)[:1] or "\0")
    return f"U+{code:04X}"


def _yaml_marks(text: str) -> tuple[dict[Loc, Mark], dict[Loc, Mark], list[PersonaError]]:
    """Positions of a JSON document's keys, read through the YAML composer; empty if it cannot."""
    loader: Any = None
    try:
        loader = _LOADER(text)
        node = loader.get_single_node()
        if node is None:
            return {}, {}, []
        walker = _Walker("")
        walker.walk(node, ())
        return walker.key_marks, walker.value_marks, walker.problems
    except Exception:  # noqa: BLE001 - positions are a nicety; the JSON parser reports errors
        return {}, {}, []
    finally:
        if loader is not None:
            loader.dispose()


def _mark_of(node: Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Walker:
    """Records the position of every key and value in a composed YAML node tree."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.key_marks: dict[Loc, Mark] = {}
        self.value_marks: dict[Loc, Mark] = {}
        self.problems: list[PersonaError] = []
        self.visits = 0

    def walk(self, node: Node, loc: Loc) -> None:
        self.visits += 1
        if self.visits > _MAX_NODE_VISITS:
            raise PersonaError(
                "document expands to too many values (anchors and aliases nested too deeply)",
                path=self.shown,
            )
        self.value_marks.setdefault(loc, _mark_of(node))
        if isinstance(node, MappingNode):
            seen: dict[str, Mark] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    continue
                key = key_node.value
                if key == "<<":  # a merge key: its fields belong to this mapping
                    self.walk(value_node, loc)
                    continue
                if key in seen:
                    line, column = _mark_of(key_node)
                    self.problems.append(
                        PersonaError(
                            f"duplicate key {key!r} (first at line {seen[key][0]}); the later value would win",
                            path=self.shown,
                            line=line,
                            column=column,
                            field=format_loc((*loc, key)),
                        )
                    )
                    continue
                seen[key] = _mark_of(key_node)
                self.key_marks[(*loc, key)] = _mark_of(key_node)
                self.walk(value_node, (*loc, key))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*loc, index))


# JSON and TOML --------------------------------------------------------------------------


def _parse_json(text: str, shown: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PersonaError(
            f"JSON syntax error: {exc.msg}", path=shown, line=exc.lineno, column=exc.colno
        ) from exc
    except RecursionError as exc:
        raise PersonaError("JSON is nested too deeply", path=shown) from exc


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _parse_toml(text: str, shown: str) -> Any:
    import tomllib  # here: most characters are YAML, and `npc validate` starts faster without it

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_AT.search(message)
        line = int(found.group(1)) if found else None
        column = int(found.group(2)) if found else None
        message = _TOML_AT.sub("", message)
        raise PersonaError(
            f"TOML syntax error: {message}", path=shown, line=line, column=column
        ) from exc
    except RecursionError as exc:
        raise PersonaError("TOML is nested too deeply", path=shown) from exc


_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_TOML_KEY = re.compile(
    r"^(\s*)((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _toml_parts(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in dotted.split(".")]


def _toml_marks(text: str) -> tuple[dict[Loc, Mark], dict[Loc, Mark]]:
    """Line positions of TOML tables and keys (a line scan: good for the files writers write)."""
    key_marks: dict[Loc, Mark] = {}
    table: Loc = ()
    array_counts: dict[Loc, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TOML_HEADER.match(line)
        if header:
            parts: Loc = tuple(_toml_parts(header.group(2)))
            column = line.index(header.group(1)) + 1
            if header.group(1) == "[[":
                index = array_counts.get(parts, 0)
                array_counts[parts] = index + 1
                key_marks.setdefault(parts, (number, column))
                parts = (*parts, index)
            table = parts
            key_marks.setdefault(table, (number, column))
            continue
        key = _TOML_KEY.match(line)
        if key:
            loc = (*table, *_toml_parts(key.group(2)))
            key_marks.setdefault(loc, (number, len(key.group(1)) + 1))
    return key_marks, dict(key_marks)
