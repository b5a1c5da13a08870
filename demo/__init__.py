"""The plaza demo: a pygame-ce scene where characters talk, react and remember you.

Run it with ``python -m demo`` (see ``docs/demo.md``). It uses only the engine's public API.
"""
