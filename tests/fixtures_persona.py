"""Fixtures for persona tests: a scratch characters folder with a template, and a writer."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHARACTERS = ROOT / "characters"

BASE_TEMPLATE = """\
role: square regular
style:
  tone: friendly
  max_reply_sentences: 2
boundaries:
  ooc_rules: [Stay in character.]
  fallback_lines: ["Sorry, what was that?"]
actions:
  - name: wave
  - name: walk_to
    parameters:
      - name: target
        choices: [fountain, stage]
emotions:
  set: [neutral, happy, sad]
  baseline: neutral
relationship:
  affinity: 7
"""

WritePersona = Callable[..., Path]


@pytest.fixture
def cast_dir(tmp_path: Path) -> Path:
    """A characters folder holding ``templates/base.yaml``."""
    folder = tmp_path / "characters"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "base.yaml").write_text(BASE_TEMPLATE, encoding="utf-8")
    return folder


@pytest.fixture
def write_persona(cast_dir: Path) -> WritePersona:
    """Write a persona file into ``cast_dir`` (text is dedented) and return its path."""

    def write(text: str, name: str = "hero.yaml", *, folder: Path | None = None) -> Path:
        path = (folder or cast_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
