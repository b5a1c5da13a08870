"""``npc providers``: the OpenAI-compatible provider presets and which have a key set."""

from __future__ import annotations

import json

import click

__all__ = ["COMMANDS", "providers"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the presets as JSON.")
def providers(as_json: bool) -> None:
    """List provider presets: endpoint, key variable (and whether it is set), default model.

    Use a preset with `--backend NAME`; override its model with `--model` and its endpoint
    with `--base-url` or the variable in the 'URL env' column. Keys are never printed.

    \b
    npc providers
    npc providers --json
    """
    from rich.console import Console
    from rich.table import Table

    from engine.backends import PRESETS

    rows = [
        {
            "name": p.name,
            "label": p.label,
            "base_url": p.resolved_base_url(),
            "base_url_env": p.base_url_env,
            "key_env": p.key_env,
            "key_required": p.key_required,
            "key_set": bool(p.api_key()),
            "ready": p.has_key(),
            "default_model": p.default_model,
            "structured": p.structured,
            "notes": p.notes,
        }
        for p in PRESETS.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title="Provider presets", title_justify="left")
    for header in ("name", "provider", "base URL", "key", "default model", "structured"):
        table.add_column(header)
    for row in rows:
        if row["key_set"]:
            key = f"[green]{row['key_env']} set[/green]"
        elif row["key_required"]:
            key = f"[red]{row['key_env']} not set[/red]"
        else:
            key = "not needed"
        table.add_row(
            str(row["name"]),
            str(row["label"]),
            str(row["base_url"]),
            key,
            str(row["default_model"]),
            str(row["structured"]),
        )
    Console().print(table)
    click.echo("The local model ('--backend local') and '--backend scripted' need no key.")


COMMANDS = [providers]
