"""``create_backend``: one string picks a backend, for the CLI, the demo and configuration files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.backends.base import Backend
from engine.backends.presets import PRESETS
from engine.errors import BadRequestError

__all__ = ["create_backend"]


def create_backend(
    spec: str = "local",
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    record: str | Path | None = None,
    **options: Any,
) -> Backend:
    """Build a backend from a short spec.

    ``spec`` is ``"local"`` (the embedded model; ``model`` may be a GGUF path), a path to a
    ``.gguf`` file, ``"scripted"``, ``"replay:PATH"``, a preset name (``"deepseek"``,
    ``"ollama"``, ... see :data:`PRESETS`), or ``"openai-compatible"`` with ``base_url``.
    ``record=PATH`` wraps the result so every reply is also written to PATH for replay.
    Other keyword options go to the backend's constructor.

    >>> create_backend("scripted").name
    'scripted'
    """
    backend: Backend
    name = spec.strip()
    if name == "scripted":
        from engine.backends.scripted import ScriptedBackend

        backend = ScriptedBackend(**options)
    elif name.startswith("replay:"):
        from engine.backends.replay import ReplayBackend

        backend = ReplayBackend(name.removeprefix("replay:"), **options)
    elif name == "local" or name.endswith(".gguf"):
        from engine.backends.local import LocalBackend

        path = name if name.endswith(".gguf") else model
        backend = LocalBackend(path, **options)
    elif name in PRESETS or name in ("openai-compatible", "custom"):
        from engine.backends.openai.chat import OpenAIBackend

        preset = PRESETS.get(name)
        if preset is None and not base_url:
            raise BadRequestError(f"backend {name!r} needs base_url=")
        backend = OpenAIBackend(
            preset=preset, model=model, base_url=base_url, api_key=api_key, **options
        )
    else:
        known = ", ".join(["local", "scripted", "replay:PATH", *sorted(PRESETS)])
        raise BadRequestError(f"unknown backend {spec!r}; choose one of: {known}")
    if record is not None:
        from engine.backends.replay import RecordingBackend

        backend = RecordingBackend(backend, record)
    return backend
