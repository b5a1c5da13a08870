"""The server's configuration: a TOML or YAML file for what the command line does not set.

Example ``serve.toml``::

    world = "world.db"
    characters = "characters"
    backend = "scripted"

    [keys]                       # key id -> hash; make one with `npc serve-key`
    game-backend = "sha256:9f86d08..."

    [limits]
    player_requests_per_minute = 30
    player_concurrent_turns = 1

Keys are stored as hashes only. The token secret comes from the environment variable named by
``token_secret_env`` (at least 16 bytes); without it a random secret is made at start, and
tokens minted before a restart stop working.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import EngineError
from engine.server.limits import LimitSettings

__all__ = ["ServerConfig", "load_config"]


class ServerConfig(BaseModel):
    """Everything ``npc serve`` needs; the command line overrides the file."""

    model_config = ConfigDict(extra="forbid")

    world: str = Field("world.db", description="The world's SQLite file.")
    characters: str = Field("characters", description="Folder of character files.")
    backend: str = Field("scripted", description="A backend spec, as `npc chat --backend`.")
    model: str | None = Field(None, description="Model name (or GGUF path for local).")
    base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8765, ge=0, le=65535, description="Port to listen on (0: any free port).")
    keys: dict[str, str] = Field(
        default_factory=dict, description="Server key id -> `sha256:<hex>` hash."
    )
    token_secret_env: str = Field(
        "NPC_TOKEN_SECRET", description="Environment variable with the token secret."
    )
    max_token_ttl_s: int = Field(
        3600, ge=1, le=86_400, description="Longest lifetime a minted token may ask for."
    )
    limits: LimitSettings = Field(default_factory=LimitSettings)
    max_concurrency: int = Field(
        8, ge=1, description="Model calls at once (the runtime's semaphore)."
    )
    shutdown_timeout_s: float = Field(
        10.0, ge=0, description="How long turns in flight may finish at shutdown."
    )
    switch_interval_ms: float = Field(
        0.25,
        gt=0,
        le=100,
        description="The interpreter's thread switch interval in this process (Python's default is 5 ms). "
        "The socket work and the runtime run on two threads sharing one interpreter lock; each socket write "
        "gives the lock up, and getting it back from a busy runtime thread waits up to this long.",
    )
    log_text: bool = Field(
        False, description="Put players' lines in the access log (off by default)."
    )
    allow_character_writes: bool = Field(
        True, description="Let a server key save and reload character files."
    )

    @field_validator("keys")
    @classmethod
    def _hashes(cls, keys: dict[str, str]) -> dict[str, str]:
        for key_id, digest in keys.items():
            hexpart = digest.removeprefix("sha256:")
            if (
                not digest.startswith("sha256:")
                or len(hexpart) != 64
                or not all(c in "0123456789abcdefABCDEF" for c in hexpart)
            ):
                raise ValueError(
                    f"key {key_id!r}: expected 'sha256:' and 64 hex digits (a hash, never the key)"
                )
        return keys


def load_config(path: str | Path) -> ServerConfig:
    """Read a TOML (``.toml``) or YAML file; :class:`EngineError` naming the file and field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data: Any = tomllib.loads(text) if file.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EngineError(f"{file}: cannot read the server config: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EngineError(f"{file}: the server config must be a table of settings")
    try:
        return ServerConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EngineError(f"{file}: {where}: {first['msg']}") from exc
