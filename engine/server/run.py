"""Building a :class:`~engine.server.service.Service` from a config and running it under uvicorn.

:func:`serve` runs until SIGINT or SIGTERM, then shuts down gracefully: the service drains
first (``/readyz`` turns 503, new turns are refused, turns in flight finish within
``shutdown_timeout_s``, sockets close with 1001), then uvicorn stops and the runtime flushes
the store. Log records from uvicorn pass through :class:`RedactCredentials`, so a token in a
socket's query string never reaches a log.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import uvicorn

from engine.server.app import create_app
from engine.server.auth import Keyring, TokenSigner
from engine.server.config import ServerConfig
from engine.server.limits import Limiter
from engine.server.service import Service

__all__ = [
    "RedactCredentials",
    "Server",
    "ServerThread",
    "build_service",
    "install_redaction",
    "serve",
    "uvicorn_config",
]

log = logging.getLogger(__name__)

_SECRET = re.compile(
    r"(npc_sk_[A-Za-z0-9_\-]+|npt1\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+|([?&](?:token|key)=)[^&\s\"']+)"
)


def _scrub(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group(2) or "") + "[redacted]", text)


class RedactCredentials(logging.Filter):
    """Replaces server keys, player tokens and ``token=`` query values in a record by ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = (
                tuple(_scrub(a) if isinstance(a, str) else a for a in record.args)
                if isinstance(record.args, tuple)
                else record.args
            )
        if isinstance(record.msg, str):
            record.msg = _scrub(record.msg)
        return True


def install_redaction() -> None:
    """Put :class:`RedactCredentials` on the loggers uvicorn and websockets write to."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "websockets.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())


def build_service(config: ServerConfig, *, backend: Any = None, characters: Any = None) -> Service:
    """The runtime (world file, characters, backend) with keys and limits from ``config``.

    ``backend`` and ``characters`` override the config's (tests pass built ones).
    """
    from engine.backends import create_backend
    from engine.runtime import Runtime, TurnSettings

    if backend is None:
        backend = create_backend(config.backend, model=config.model, base_url=config.base_url)
    secret_text = os.environ.get(config.token_secret_env, "")
    if secret_text and len(secret_text.encode()) < 16:
        raise ValueError(f"{config.token_secret_env} must hold at least 16 bytes")
    if not secret_text:
        log.warning(
            "%s is not set: player tokens will not survive a restart", config.token_secret_env
        )
    secret = secret_text.encode() if secret_text else secrets.token_bytes(32)
    settings = TurnSettings(max_line_chars=config.limits.max_line_chars)
    runtime = Runtime(
        config.world,
        backend=backend,
        characters=characters if characters is not None else config.characters,
        max_concurrency=config.max_concurrency,
        settings=settings,
    )
    return Service(
        runtime,
        Keyring(config.keys, TokenSigner(secret)),
        Limiter(config.limits),
        characters_dir=str(Path(config.characters)) if characters is None else None,
        shutdown_timeout_s=config.shutdown_timeout_s,
        max_token_ttl_s=config.max_token_ttl_s,
        allow_character_writes=config.allow_character_writes,
        log_text=config.log_text,
    )


class Server(uvicorn.Server):
    """uvicorn's server that drains the service before it stops serving."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets: Any = None) -> None:
        await self.service.drain()
        await super().shutdown(sockets)


def uvicorn_config(service: Service, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for the app: no access log of its own (ours leaves out the query),
    frames capped a little over the message limit."""
    install_redaction()
    return uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        access_log=False,
        ws_max_size=service.limiter.settings.max_message_bytes * 2,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        # Messages are small JSON; a compressor per socket would cost ~40 KB of memory each.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=int(service.shutdown_timeout_s) + 5,
        lifespan="on",
        **options,
    )


def serve(config: ServerConfig) -> None:
    """Serve ``config``'s world until interrupted (blocks)."""
    access = logging.getLogger("engine.server.access")
    if access.level == logging.NOTSET:  # one JSON line per request unless configured otherwise
        access.setLevel(logging.INFO)
    service = build_service(config)
    sys.setswitchinterval(config.switch_interval_ms / 1000)
    Server(uvicorn_config(service, config.host, config.port, log_level="info"), service).run()


class ServerThread:
    """Serve a service on loopback from a background thread (tests, benchmarks, embedding).

    >>> with ServerThread(service) as srv:          # doctest: +SKIP
    ...     urllib.request.urlopen(srv.url + "/healthz")
    """

    def __init__(
        self, service: Service, *, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> None:
        import threading

        options.setdefault("log_level", "warning")
        self.service = service
        self.server = Server(uvicorn_config(service, host, port, **options), service)
        self._thread = threading.Thread(target=self.server.run, name="npc-serve", daemon=True)

    def start(self) -> ServerThread:
        import time

        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    @property
    def port(self) -> int:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down gracefully (as on SIGTERM) and wait."""
        self.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
