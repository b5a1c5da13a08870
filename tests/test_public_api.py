"""The curated public API: sorted, every name importable, documented, and the one path the
README, the docs, the demo and the CLI import from."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parent.parent
# Internals that stay importable from their packages but are not the public API.
INTERNAL = ("assemble", "Section", "select_entries", "Ledger", "parse_reply", "estimate_tokens")


def _engine_imports(source: str, filename: str) -> list[tuple[str, tuple[str, ...], int]]:
    """(module, names, line) of every ``from engine... import`` / ``import engine...``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").split(".")[0] == "engine"
        ):
            found.append((node.module or "", tuple(a.name for a in node.names), node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "engine":
                    found.append((alias.name, (), node.lineno))
    return found


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)


def _is_package(module: str) -> bool:
    return (ROOT.joinpath(*module.split(".")) / "__init__.py").exists()


def test_all_is_sorted() -> None:
    assert engine.__all__ == sorted(engine.__all__)


def test_every_exported_name_resolves_and_has_a_docstring() -> None:
    for name in engine.__all__:
        value = getattr(engine, name)
        assert getattr(value, "__doc__", None), f"engine.{name} has no docstring"


@pytest.mark.parametrize("name", INTERNAL)
def test_internals_stay_out_of_the_public_api(name: str) -> None:
    assert name not in engine.__all__


def test_py_typed_marker_ships() -> None:
    assert (Path(engine.__file__).parent / "py.typed").exists()


def test_readme_example_imports_from_engine_only() -> None:
    imports = [
        i
        for block in _python_blocks(ROOT / "README.md")
        for i in _engine_imports(block, "README.md")
    ]
    assert imports, "the README has no example importing the engine"
    for module, names, _line in imports:
        assert module == "engine", f"README imports from {module}"
        assert set(names) <= set(engine.__all__), (
            f"README imports non-public {set(names) - set(engine.__all__)}"
        )


@pytest.mark.parametrize("doc", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_doc_examples_import_names_that_exist(doc: Path) -> None:
    for block in _python_blocks(doc):
        for module, names, _line in _engine_imports(block, str(doc)):
            imported = importlib.import_module(module)
            for name in names:
                assert hasattr(imported, name), f"{doc.name}: {module} has no {name}"
            if module == "engine":
                assert set(names) <= set(engine.__all__)


def test_demo_imports_only_the_public_api() -> None:
    for path in sorted((ROOT / "demo").rglob("*.py")):
        for module, names, line in _engine_imports(path.read_text(encoding="utf-8"), str(path)):
            where = f"{path.relative_to(ROOT)}:{line}"
            assert module == "engine", f"{where} imports from {module}, not from engine"
            assert set(names) <= set(engine.__all__), (
                f"{where} imports non-public {set(names) - set(engine.__all__)}"
            )


def test_cli_imports_only_public_names_of_packages() -> None:
    """The CLI takes what it needs from ``engine``, ``engine.errors`` or a package's ``__all__``,
    never from the module that defines a name."""
    for path in sorted((ROOT / "engine" / "cli").glob("*.py")):
        for module, names, line in _engine_imports(path.read_text(encoding="utf-8"), str(path)):
            if module.startswith("engine.cli"):
                continue
            where = f"{path.relative_to(ROOT)}:{line}"
            assert module == "engine.errors" or _is_package(module), (
                f"{where} imports from module {module}"
            )
            public = set(getattr(importlib.import_module(module), "__all__", ()))
            assert set(names) <= public, (
                f"{where} imports {set(names) - public} not in {module}.__all__"
            )


def test_the_main_seams_name_their_types() -> None:
    """No ``Any`` where a game plugs its pieces into the runtime."""
    import inspect

    from engine.runtime import SafetyGate

    runtime = inspect.signature(engine.Runtime.__init__).parameters
    for name in ("policy", "meter", "embedder", "backend", "moderator"):
        assert "Any" not in str(runtime[name].annotation), name
    assert "Any" not in str(inspect.signature(engine.Runtime.scene).return_annotation)
    for _name, method in inspect.getmembers(SafetyGate, inspect.isfunction):
        assert "Any" not in str(inspect.signature(method)), method
