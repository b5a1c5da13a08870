"""The curated public API: sorted, every name importable, documented."""

from __future__ import annotations

import engine


def test_all_is_sorted() -> None:
    assert engine.__all__ == sorted(engine.__all__)


def test_every_exported_name_resolves_and_has_a_docstring() -> None:
    for name in engine.__all__:
        value = getattr(engine, name)
        assert getattr(value, "__doc__", None), f"engine.{name} has no docstring"


def test_py_typed_marker_ships() -> None:
    from pathlib import Path

    assert (Path(engine.__file__).parent / "py.typed").exists()
