"""Fixtures for ``npc serve`` tests: a real uvicorn server on loopback and small real clients.

``serve_world(...)`` starts a server over a fresh world file with the shipped characters (a
scripted backend unless another is given) and returns a :class:`Live` with its key; the
clients are ``urllib`` for HTTP and ``websockets``' synchronous client for sockets.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "fastapi", reason="npc serve needs the server extra: pip install -e '.[server]'"
)
pytest.importorskip(
    "websockets", reason="npc serve needs the server extra: pip install -e '.[server]'"
)

from websockets.sync.client import ClientConnection, connect  # noqa: E402

from engine.backends.scripted import ScriptedBackend  # noqa: E402
from engine.server import LimitSettings, ServerConfig, build_service, hash_key, new_key  # noqa: E402
from engine.server.run import ServerThread  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Live:
    """A running server and what a test needs to reach it."""

    thread: ServerThread
    key: str
    world: Path

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def service(self) -> Any:
        return self.thread.service

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: str | None = "key",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON or text) of one request; ``auth`` is "key", None or a token."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth is not None:
            request.add_header("Authorization", "Bearer " + (self.key if auth == "key" else auth))
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text, kind = (
                    response.status,
                    response.read().decode(),
                    response.headers.get("content-type", ""),
                )
        except urllib.error.HTTPError as exc:
            status, text, kind = exc.code, exc.read().decode(), exc.headers.get("content-type", "")
        return status, json.loads(text) if "json" in kind else text

    def token(self, player: str, characters: list[str] | None = None, ttl_s: int = 600) -> str:
        status, body = self.http(
            "POST", "/v1/tokens", {"player": player, "characters": characters, "ttl_s": ttl_s}
        )
        assert status == 200, body
        token: str = body["token"]
        return token

    def socket(self, *, player: str | None = None, token: str | None = None) -> ClientConnection:
        """A socket session, authenticated by the server key (as ``player``) or by a token."""
        query = []
        if player is not None:
            query.append(f"player={player}")
        if token is not None:
            query.append(f"token={token}")
        headers = {} if token is not None else {"Authorization": "Bearer " + self.key}
        url = self.thread.ws_url + "/v1/session" + ("?" + "&".join(query) if query else "")
        return connect(url, additional_headers=headers, open_timeout=10)


def receive(ws: ClientConnection, timeout: float = 20.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return message


def turn_messages(ws: ClientConnection, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Messages up to and including the next ``done`` or ``failed``."""
    out = []
    while True:
        message = receive(ws, timeout)
        out.append(message)
        if message["type"] in ("done", "failed"):
            return out


def start_server(
    folder: Path, *, backend: Any = None, limits: LimitSettings | None = None, **config: Any
) -> Live:
    key = new_key()
    world = folder / "world.db"
    # The shipped characters are never written to: saving needs a folder of the test's own.
    config.setdefault("allow_character_writes", "characters" in config)
    config.setdefault("characters", str(ROOT / "characters"))
    settings = ServerConfig(
        world=str(world),
        keys={"test": hash_key(key)},
        limits=limits or LimitSettings(),
        **config,
    )
    service = build_service(settings, backend=backend or ScriptedBackend())
    return Live(ServerThread(service).start(), key, world)


@pytest.fixture(scope="module")
def serve_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Live]]:
    """Start servers for this test module (stopped gracefully at its end)."""
    started: list[Live] = []

    def make(**options: Any) -> Live:
        live = start_server(tmp_path_factory.mktemp("serve"), **options)
        started.append(live)
        return live

    yield make
    for live in started:
        live.thread.stop()


@pytest.fixture(scope="module")
def live(serve_world: Callable[..., Live]) -> Live:
    """One server with the scripted backend and the default limits, for the whole module."""
    return serve_world()
