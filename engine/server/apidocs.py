"""The committed API documents, generated from the code: ``docs/api/openapi.json`` (HTTP) and
``docs/api/socket.schema.json`` (socket messages).

Regenerate after changing a route or a message: ``python -m engine.server.apidocs``; a test
fails while the committed files differ from what the code generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["documents", "main"]


def documents() -> dict[str, dict[str, Any]]:
    """File name -> document, as the code defines them now."""
    from engine.server.app import create_app
    from engine.server.protocol import socket_schema

    app = create_app(_DocService())  # type: ignore[arg-type]
    return {"openapi.json": app.openapi(), "socket.schema.json": socket_schema()}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


class _DocLimits:
    def __init__(self) -> None:
        from engine.server.limits import LimitSettings

        self.settings = LimitSettings()


class _DocService:
    """Just enough of a service for the app to describe its routes (no runtime)."""

    def __init__(self) -> None:
        self.limiter = _DocLimits()


def main(argv: list[str] | None = None) -> int:
    folder = Path(argv[0] if argv else "docs/api")
    folder.mkdir(parents=True, exist_ok=True)
    for name, document in documents().items():
        (folder / name).write_text(render(document), encoding="utf-8")
        sys.stdout.write(f"wrote {folder / name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
