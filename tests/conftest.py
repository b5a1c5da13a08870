"""Shared test set-up. Fixture modules live beside the tests as ``fixtures_<area>.py``."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

# Headless everything: no window, no sound device.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

pytest_plugins = sorted(p.stem for p in Path(__file__).parent.glob("fixtures_*.py"))
