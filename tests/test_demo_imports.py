"""The demo is a client of the engine: it imports only public modules and public names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "demo"
PUBLIC = {"engine"}


def _engine_imports(path: Path) -> list[tuple[str, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "engine"
        ):
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(
                (alias.name, "") for alias in node.names if alias.name.split(".")[0] == "engine"
            )
    return found


@pytest.mark.parametrize("path", sorted(DEMO.glob("*.py")), ids=lambda p: p.name)
def test_demo_module_uses_only_the_public_engine_api(path: Path) -> None:
    for module, name in _engine_imports(path):
        assert module in PUBLIC, f"{path.name} imports {module}"
        assert not name.startswith("_"), f"{path.name} imports private {module}.{name}"
