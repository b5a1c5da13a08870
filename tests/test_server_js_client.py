"""The JavaScript client (engine/server/static/npc-client.js) under Node's own test runner,
against a live ``npc serve`` that the Node test starts (tests/js/npc-client.test.mjs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from fixtures_server import ROOT


def test_javascript_client_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "Node.js is not installed (apt-get install nodejs); the JavaScript client is untested"
        )
    env = {**os.environ, "NPC_PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    # Node 20 has WebSocket behind a flag; later versions have it always (the flag is ignored).
    flags = ["--experimental-websocket"] if subprocess.run(
        [node, "--experimental-websocket", "-e", "0"], capture_output=True, check=False
    ).returncode == 0 else []  # fmt: skip
    done = subprocess.run(
        [node, *flags, "--test", "tests/js/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and re.search(r"# pass [1-9]", done.stdout)
