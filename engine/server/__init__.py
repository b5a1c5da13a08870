"""``npc serve``: the engine over the network, for games not written in Python.

One process serves one world: one :class:`~engine.runtime.Runtime` shared by every player,
reached over a WebSocket per player session or ``POST /v1/turns`` (JSON or Server-Sent
Events), with HTTP resources for characters, a player's memories and rights, usage and audit.

Modules, one concept each:

- :mod:`~engine.server.protocol`: the messages and bodies (pydantic; the schemas in
  ``docs/api/`` are generated from them);
- :mod:`~engine.server.auth`: server keys (hashed at rest) and signed player tokens;
- :mod:`~engine.server.limits`: limits per key and per player;
- :mod:`~engine.server.metrics`: Prometheus counters;
- :mod:`~engine.server.service`: the runtime, turns and shutdown, shared by the routes;
- :mod:`~engine.server.session`: one player's socket;
- :mod:`~engine.server.app`: the ASGI app and its routes;
- :mod:`~engine.server.config`: the config file;
- :mod:`~engine.server.run`: building everything from a config and running uvicorn.

``static/`` holds the studio page and the JavaScript client (``npc-client.js``).

May import any engine package (it is a shell over the public API, like ``engine.cli``);
nothing in the engine imports it. Needs the ``server`` extra (FastAPI, uvicorn, websockets).
"""

from __future__ import annotations

from engine.server.app import STATIC_DIR, create_app
from engine.server.auth import ApiError, Keyring, Principal, TokenSigner, hash_key, new_key
from engine.server.config import ServerConfig, load_config
from engine.server.limits import Limiter, LimitSettings
from engine.server.run import build_service, serve
from engine.server.service import Service

__all__ = [
    "STATIC_DIR",
    "ApiError",
    "Keyring",
    "LimitSettings",
    "Limiter",
    "Principal",
    "ServerConfig",
    "Service",
    "TokenSigner",
    "build_service",
    "create_app",
    "hash_key",
    "load_config",
    "new_key",
    "serve",
]
