"""``npc serve`` and ``npc serve-key``: the engine over the network, and keys for it.

``npc serve`` runs :mod:`engine.server` (FastAPI and uvicorn, imported only when the command
runs, so ``npc --help`` stays fast). Settings come from ``--config`` (TOML or YAML, see
:class:`engine.server.config.ServerConfig`), then the options given on the command line.
``npc serve-key`` makes a server key and prints it with the hash a config file keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["COMMANDS", "serve_command", "serve_key_command"]


@click.command("serve")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A TOML or YAML file of server settings (keys, limits...).")  # fmt: skip
@click.option("--world", default=None, help="The world's SQLite file [default: world.db].")
@click.option("--characters", default=None, help="Folder of character files [default: characters].")
@click.option("--backend", default=None, help="local, scripted, a preset, ... [default: scripted].")
@click.option("--model", default=None, help="Model name (or a GGUF path for local).")
@click.option("--base-url", default=None, help="Base URL of an OpenAI-compatible server.")
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port [default: 8765].")
def serve_command(config_path: Path | None, **overrides: Any) -> None:
    """Serve a world's characters over WebSocket and HTTP, with the studio page at /studio.

    With no key in the config, a key for this run is made and printed once (with a studio
    link that carries it in the URL fragment, which browsers never send to a server).

    \b
    Examples:
      npc serve --backend scripted --port 8765
      npc serve --config serve.toml
    """
    from engine.errors import EngineError
    from engine.server import ServerConfig, hash_key, load_config, new_key, serve

    try:
        config = load_config(config_path) if config_path else ServerConfig()
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if not config.keys:
        key = new_key()
        config = config.model_copy(update={"keys": {"run": hash_key(key)}})
        port = config.port
        click.echo(
            "No server key configured; a key for this run only (not stored anywhere):", err=True
        )
        click.echo(f"  {key}", err=True)
        click.echo(f"  studio: http://{config.host}:{port}/studio/#key={key}", err=True)
    try:
        serve(config)
    except (EngineError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:  # Ctrl-C after the graceful shutdown: a normal end
        pass


@click.command("serve-key")
@click.option(
    "--id", "key_id", default="game", show_default=True, help="The key's id in the config."
)
def serve_key_command(key_id: str) -> None:
    """Make a server key; print it once, and the config line that stores only its hash.

    \b
    Example:
      npc serve-key --id game-backend >> secrets.txt
    """
    from engine.server import hash_key, new_key

    key = new_key()
    click.echo(f"key:    {key}")
    click.echo(f'config: [keys] {key_id} = "{hash_key(key)}"')


COMMANDS = [serve_command, serve_key_command]
