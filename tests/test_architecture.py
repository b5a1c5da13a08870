"""The import rules of engine/, read from the source with :mod:`ast`.

- no module imports another module's underscore names (a leading underscore is private to the
  module that defines it);
- the pure packages (text, persona, lore, dialogue, safety) import neither memory, backends nor
  runtime;
- no import cycle between modules (imports inside functions and under ``TYPE_CHECKING`` count:
  they are dependencies all the same);
- no class named ``*Mixin`` in engine/memory: the store's parts (turns, recall, knowledge,
  rights) are modules of functions that take the store, not classes mixed into it.

Importing a package means importing its ``__init__``; importing a submodule through its package
(``from engine.dialogue import heuristics``) means importing the submodule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"

PURE = ("engine.text", "engine.persona", "engine.lore", "engine.dialogue", "engine.safety")
IMPURE = ("engine.memory", "engine.backends", "engine.runtime")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (a package means its __init__)
    names: tuple[str, ...]  # the names taken from it (empty for ``import x``)
    line: int


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _imports(root: Path) -> list[Import]:
    modules = _modules(root)
    found: list[Import] = []
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        found.append(Import(module, alias.name, (), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                if target not in modules:
                    continue
                names = []
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # ``from engine.dialogue import heuristics``
                        found.append(Import(module, sub, (), node.lineno))
                    else:
                        names.append(alias.name)
                if names:
                    found.append(Import(module, target, tuple(names), node.lineno))
    return found


def _private_imports(root: Path) -> list[str]:
    return [
        f"{i.module}:{i.line} imports {name} from {i.target}"
        for i in _imports(root)
        for name in i.names
        if name.startswith("_") and not name.startswith("__") and i.target != i.module
    ]


def _impure_imports(root: Path) -> list[str]:
    def within(module: str, packages: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in packages)

    return [
        f"{i.module}:{i.line} imports {i.target}"
        for i in _imports(root)
        if within(i.module, PURE) and within(i.target, IMPURE)
    ]


def _cycles(root: Path) -> list[list[str]]:
    graph: dict[str, set[str]] = {m: set() for m in _modules(root)}
    for i in _imports(root):
        if i.target != i.module:
            graph[i.module].add(i.target)
    # Tarjan's strongly connected components; a component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _mixins(root: Path, package: str = "engine.memory") -> list[str]:
    found = [
        (module, node.lineno, node.name)
        for module, path in _modules(root).items()
        if module == package or module.startswith(package + ".")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.ClassDef) and node.name.endswith("Mixin")
    ]
    return [f"{module}:{line} defines {name}" for module, line, name in sorted(found)]


def test_no_module_imports_another_modules_private_names() -> None:
    assert _private_imports(ENGINE) == []


def test_pure_packages_import_neither_memory_backends_nor_runtime() -> None:
    assert _impure_imports(ENGINE) == []


def test_no_import_cycles() -> None:
    assert _cycles(ENGINE) == []


def test_memory_has_no_mixins() -> None:
    assert _mixins(ENGINE) == []


@pytest.mark.parametrize("package", (*PURE, *IMPURE, "engine.cards", "engine.types"))
def test_every_package_says_what_it_holds(package: str) -> None:
    path = ENGINE.parent.joinpath(*package.split("."))
    init = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    assert init.exists(), f"{package} is missing"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert docstring, f"{init} has no docstring"


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    """Each rule fails on a small tree that breaks it."""
    root = tmp_path / "engine"
    for package in ("text", "memory", "runtime"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text('"""A package."""\n')
    (root / "__init__.py").write_text("")
    (root / "text" / "words.py").write_text(
        "from engine.memory.store import _helper\nfrom engine.runtime import core\n"
    )
    (root / "memory" / "store.py").write_text("def _helper() -> None: ...\n")
    (root / "runtime" / "core.py").write_text("from engine.runtime import scenes\n")
    (root / "runtime" / "scenes.py").write_text(
        "def f() -> None:\n    from engine.runtime.core import X\n"
    )
    assert _private_imports(root) == [
        "engine.text.words:1 imports _helper from engine.memory.store"
    ]
    assert _impure_imports(root) == [
        "engine.text.words:1 imports engine.memory.store",
        "engine.text.words:2 imports engine.runtime.core",
    ]
    assert _cycles(root) == [["engine.runtime.core", "engine.runtime.scenes"]]
    (root / "memory" / "recall.py").write_text(
        "class Base:\n    class RecallMixin: ...\n\n\nclass TurnsMixin(Base): ...\n"
    )
    (root / "runtime" / "mixins.py").write_text("class LoggingMixin: ...\n")
    assert _mixins(root) == [
        "engine.memory.recall:2 defines RecallMixin",
        "engine.memory.recall:5 defines TurnsMixin",
    ]
