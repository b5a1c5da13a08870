"""The ``npc`` command: a thin shell over the engine's API.

Each module in this package contributes commands through a module-level ``COMMANDS`` list;
``main`` gathers them, so features add subcommands without touching this file. May import any
package; nothing in the engine imports it.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

import click

__all__ = ["main"]


@click.group(name="npc", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="npc-engine")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Persona, memory and voice for game characters.

    Validate and inspect character files, chat with a character, look into a world's memory.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            main.add_command(command)


_register()
