"""The plaza demo: a pygame-ce scene where characters talk, react and remember you.

Run it with ``python -m demo`` (see ``docs/demo.md``). It uses only the engine's public API.
"""

import os

# pygame prints a greeting on import; the demo has its own status line.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
