"""``python -m engine`` runs the ``npc`` command."""

from engine.cli import main

main()
