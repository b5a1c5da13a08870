"""Loading persona files: read YAML, JSON or TOML, merge ``extends:`` templates, validate.

Loading (:func:`load_persona`, :func:`load_characters`) reads YAML, JSON or TOML, merges
``extends:`` templates from ``templates/`` next to the file (mappings merge field by field,
lists are replaced), and reports every problem as a :class:`~engine.errors.PersonaError`
carrying ``path:line:column: field: message`` and, for a misspelt key, a suggestion.
:func:`validate_path` checks files and folders and returns every problem instead of raising.

Example::

    from engine import load_persona
    mira = load_persona("characters/mira.yaml")
    print(mira.name, mira.greetings.first_meeting[0])
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from engine.errors import PersonaError, TemplateError
from engine.lore import Lorebook
from engine.persona.check import error_at, lint, map_validation_errors, source_for
from engine.persona.io import PERSONA_SUFFIXES, Source, read_source
from engine.persona.model import Persona

__all__ = [
    "MAX_EXTENSIONS_FILE_BYTES",
    "MAX_TEMPLATE_DEPTH",
    "FileReport",
    "find_character",
    "load_characters",
    "load_lore_file",
    "load_persona",
    "template_names",
    "validate_file",
    "validate_path",
]


#: Longest chain of ``extends:`` (a character, its template, that template's template...).
MAX_TEMPLATE_DEPTH = 8

_TEMPLATES_DIR = "templates"


@dataclass
class FileReport:
    """The outcome of validating one file: its kind, its problems, and the persona if it loaded."""

    path: Path
    kind: Literal["character", "template", "lorebook"]
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
        raise PersonaError(
            "no such folder" if not folder.exists() else "not a folder", path=str(folder)
        )
    cast: dict[str, Persona] = {}
    origin: dict[str, Path] = {}
    for file in _persona_files_in(folder, recursive=False):
        persona = load_persona(file)
        if persona.id in cast:
            raise PersonaError(
                f"id {persona.id!r} is already used by {origin[persona.id]}",
                path=str(file),
                field="id",
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
        return [
            FileReport(
                target, "character", [PersonaError("no such file or folder", path=str(target))]
            )
        ]
    reports = []
    read = _reading_once()
    for file in files:
        if _is_lore_file(file):
            reports.append(FileReport(file, "lorebook", _lore_file(file)[1]))
            continue
        kind: Literal["character", "template"] = "template" if _is_template(file) else "character"
        persona, errors = _validate(file, template=kind == "template", read=read)
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
        f"no character {str(ref)!r} in {folder}{listing}",
        path=str(ref),
        suggestion=close[0] if close else None,
    )


def template_names(directory: str | Path = "characters") -> list[str]:
    """Names usable in ``extends:`` for characters in ``directory``."""
    folder = Path(directory) / _TEMPLATES_DIR
    if not folder.is_dir():
        return []
    return sorted({f.stem for f in _persona_files_in(folder, recursive=False)})


def load_lore_file(path: str | Path) -> Lorebook:
    """Load one lore file (``lore/<name>.yaml``: a :class:`~engine.lore.Lorebook` as YAML,
    JSON or TOML). Raises :class:`PersonaError` naming the file, line and field."""
    book, errors = _lore_file(Path(path))
    if errors or book is None:
        raise _first_of(errors, Path(path))
    return book


# internals -------------------------------------------------------------------------------


_LORE_DIR = "lore"


def _is_template(file: Path) -> bool:
    return file.parent.name == _TEMPLATES_DIR


def _is_lore_file(file: Path) -> bool:
    return file.parent.name == _LORE_DIR


def _lore_file(file: Path) -> tuple[Lorebook | None, list[PersonaError]]:
    try:
        source = read_source(file)
    except PersonaError as exc:
        return None, [exc]
    try:
        book = Lorebook.model_validate(source.data)
    except ValidationError as exc:
        return None, _sorted(
            [*source.problems, *map_validation_errors(exc, source.data, [source], Lorebook)]
        )
    return (None, source.problems) if source.problems else (book, [])


#: Largest side file of card extensions read (the card reader's own JSON limit).
MAX_EXTENSIONS_FILE_BYTES = 8 * 1024 * 1024


def _add_side_extensions(
    data: dict[str, Any], file: Path, chain: list[Source]
) -> list[PersonaError]:
    """Merge ``card.extensions_file`` (large verbatim card extensions) into ``card.extensions``."""
    card = data.get("card")
    name = card.get("extensions_file") if isinstance(card, dict) else None
    if not isinstance(name, str) or not name.strip() or not isinstance(card, dict):
        return []
    loc = ("card", "extensions_file")
    side = file.parent / name.strip()
    try:
        size = side.stat().st_size
        if size > MAX_EXTENSIONS_FILE_BYTES:
            raise ValueError(
                f"is {size / 1_000_000:.1f} MB, over the {MAX_EXTENSIONS_FILE_BYTES // 1_000_000} MB limit"
            )
        loaded = json.loads(side.read_bytes().decode("utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError(f"holds a {type(loaded).__name__}, expected an object")
    except FileNotFoundError:
        return [
            error_at(
                source_for(loc, chain), f"extensions file {str(side)!r} not found", loc, key=False
            )
        ]
    except (OSError, ValueError, RecursionError) as exc:
        return [
            error_at(
                source_for(loc, chain), f"extensions file {str(side)!r}: {exc}", loc, key=False
            )
        ]
    inline = card.get("extensions")
    inline = inline if isinstance(inline, dict) else {}
    data["card"] = {**card, "extensions": {**loaded, **inline}}
    return []


def _check_image(data: dict[str, Any], file: Path, chain: list[Source]) -> list[PersonaError]:
    look = data.get("look")
    image = look.get("image") if isinstance(look, dict) else None
    if not isinstance(image, str) or not image.strip():
        return []
    if not (file.parent / image.strip()).is_file():
        loc = ("look", "image")
        return [
            error_at(
                source_for(loc, chain),
                f"image {image.strip()!r} not found next to this file",
                loc,
                key=False,
            )
        ]
    return []


def _add_lorebooks(data: dict[str, Any], file: Path, chain: list[Source]) -> list[PersonaError]:
    """Append the entries of the lore files named in ``lorebooks`` to ``data["lore"]``."""
    names = data.get("lorebooks")
    if not isinstance(names, list) or not names:
        return []
    folder = (file.parent.parent if _is_template(file) else file.parent) / _LORE_DIR
    errors: list[PersonaError] = []
    entries: list[Any] = list(data.get("lore") or []) if isinstance(data.get("lore"), list) else []
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            continue  # the model reports the type
        found = next(
            (
                folder / f"{name.strip()}{s}"
                for s in PERSONA_SUFFIXES
                if (folder / f"{name.strip()}{s}").is_file()
            ),
            None,
        )
        loc = ("lorebooks", index)
        if found is None:
            known = (
                sorted({f.stem for f in _persona_files_in(folder, recursive=False)})
                if folder.is_dir()
                else []
            )
            close = difflib.get_close_matches(name, known, n=1)
            listing = f"; available: {', '.join(known)}" if known else ""
            errors.append(
                error_at(
                    source_for(loc, chain),
                    f"lore file {name!r} not found in {folder}{listing}",
                    loc,
                    key=False,
                    suggestion=close[0] if close else None,
                )
            )
            continue
        book, problems = _lore_file(found)
        errors.extend(problems)
        if book is not None:
            entries.extend(e.model_dump() for e in book.entries_with_defaults())
    if isinstance(data.get("lore"), list) or "lore" not in data:
        data["lore"] = entries
    return errors


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
                PersonaError(
                    f"id {report.persona.id!r} is already used by {seen[key]}",
                    path=str(report.path),
                    field="id",
                )
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


def _reading_once() -> Callable[[Path], Source]:
    """:func:`read_source` that reads and parses each file once (a folder's characters share
    their templates; parsing is most of the time a folder's check takes)."""
    sources: dict[Path, Source] = {}

    def read(path: Path) -> Source:
        key = path.resolve()
        if key not in sources:
            sources[key] = read_source(path)
        return sources[key]

    return read


def _load_chain(
    file: Path, template_dirs: Sequence[str | Path], read: Callable[[Path], Source] = read_source
) -> list[Source]:
    """The file and the templates it extends, child first."""
    chain: list[Source] = []
    current = file
    while True:
        source = read(current)
        chain.append(source)
        parent = source.data.get("extends")
        if parent is None:
            return chain
        if not isinstance(parent, str) or not parent.strip():
            raise error_at(
                source, "extends: expected the name of a template", ("extends",), key=False
            )
        dirs = _template_dirs(current, template_dirs)
        found = _find_template(parent.strip(), dirs)
        if found is None:
            known = sorted(
                {f.stem for d in dirs if d.is_dir() for f in _persona_files_in(d, recursive=False)}
            )
            close = difflib.get_close_matches(parent.strip(), known, n=1)
            listing = f"; available: {', '.join(known)}" if known else ""
            raise error_at(
                source,
                f"template {parent.strip()!r} not found in {', '.join(str(d) for d in dirs)}{listing}",
                ("extends",),
                key=False,
                cls=TemplateError,
                suggestion=close[0] if close else None,
            )
        resolved = [s.path.resolve() for s in chain]
        if found.resolve() in resolved:
            loop = " -> ".join(
                [s.path.name for s in chain[resolved.index(found.resolve()) :]] + [found.name]
            )
            raise error_at(
                source,
                f"templates extend each other in a loop: {loop}",
                ("extends",),
                key=False,
                cls=TemplateError,
            )
        if len(chain) > MAX_TEMPLATE_DEPTH:
            raise error_at(
                source,
                f"more than {MAX_TEMPLATE_DEPTH} levels of templates",
                ("extends",),
                key=False,
                cls=TemplateError,
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
    file: Path,
    *,
    template: bool,
    template_dirs: Sequence[str | Path] = (),
    read: Callable[[Path], Source] = read_source,
) -> tuple[Persona | None, list[PersonaError]]:
    try:
        chain = _load_chain(file, template_dirs, read)
    except PersonaError as exc:
        return None, [exc]
    errors = [problem for source in chain for problem in source.problems]
    data: dict[str, Any] = {}
    for source in reversed(chain):
        inherited = dict(source.data)
        if source is not chain[0] and "id" in inherited:
            errors.append(
                error_at(
                    source, "a template cannot set id (every character needs its own)", ("id",)
                )
            )
            inherited.pop("id")
        data = _deep_merge(data, inherited)
    if template:
        data.setdefault("name", "(template)")
    errors.extend(_add_lorebooks(data, file, chain))
    errors.extend(_add_side_extensions(data, file, chain))
    errors.extend(_check_image(data, file, chain))
    if not template and not data.get("id"):
        slug = _slug(file.stem)
        if not slug:
            errors.append(
                error_at(
                    chain[0],
                    f"cannot make an id from the file name {file.name!r}; set id:",
                    ("id",),
                )
            )
        data["id"] = slug or "invalid"
    try:
        persona = Persona.model_validate(data)
    except ValidationError as exc:
        errors.extend(map_validation_errors(exc, data, chain, Persona))
        return None, _sorted(errors)
    for loc, message, suggestion in lint(persona):
        source = source_for(loc, chain)
        errors.append(error_at(source, message, loc, key=False, suggestion=suggestion))
    return (None if errors else persona), _sorted(errors)


def _sorted(errors: list[PersonaError]) -> list[PersonaError]:
    return sorted(errors, key=lambda e: (e.path or "", e.line or 0, e.column or 0))


def _slug(stem: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")
