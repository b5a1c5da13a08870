"""Where the demo finds characters, playthroughs and recordings, and keeps its world file."""

from __future__ import annotations

import os
from pathlib import Path

DEMO = Path(__file__).resolve().parent
CHARACTERS = DEMO.parent / "characters"
PLAYTHROUGHS = DEMO / "playthroughs"
RECORDINGS = DEMO / "recordings"


def data_dir() -> Path:
    """$XDG_DATA_HOME/npc-engine, or ~/.local/share/npc-engine."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "npc-engine"


def default_world() -> Path:
    """The plaza's world file in the user's data directory."""
    return data_dir() / "plaza.db"
