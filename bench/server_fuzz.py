"""Schemathesis against ``npc serve``'s served OpenAPI document, longer than the test suite's run.

Every operation gets requests that Hypothesis draws from the document (valid and invalid
bodies, odd path and query values), sent with a server key to a server in this process over a
copy of the shipped characters (scripted backend).

Metrics: ``requests``, ``server_errors`` (answers with a 5xx; target 0), ``operations``.

Run: ``python bench/server_fuzz.py [--quick] [--examples N] [--json out.json]``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import ROOT, parser, table, write


def _caller(
    operation: Any,
    key: str,
    counts: dict[str, int],
    examples: int,
    given: Any,
    settings: Any,
    health: Any,
) -> Any:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(health), database=None
    )
    def call(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        counts["requests"] += 1
        if response.status_code >= 500:
            counts["5xx"] += 1

    return call


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=200, help="requests drawn per operation")
    args = p.parse_args()
    try:
        import schemathesis
        from hypothesis import HealthCheck, given, settings
    except ImportError:
        print("skipped: schemathesis is not installed (pip install -e '.[dev]')")
        return 0
    from engine.backends import ScriptedBackend
    from engine.server import LimitSettings, ServerConfig, build_service, hash_key, new_key
    from engine.server.run import ServerThread

    examples = 5 if args.quick else args.examples
    rows: list[list[Any]] = []
    total = errors = 0
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        folder = Path(tmp)
        shutil.copytree(ROOT / "characters", folder / "characters")
        key = new_key()
        unlimited = LimitSettings(key_requests_per_minute=10**9, player_requests_per_minute=10**9,
                                  player_concurrent_turns=256)  # fmt: skip
        config = ServerConfig(world=str(folder / "world.db"), characters=str(folder / "characters"),
                              keys={"fuzz": hash_key(key)}, limits=unlimited)  # fmt: skip
        with ServerThread(build_service(config, backend=ScriptedBackend())) as server:
            api = schemathesis.openapi.from_url(server.url + "/openapi.json")
            for result in api.get_all_operations():
                operation = result.ok()
                counts = {"requests": 0, "5xx": 0}
                call = _caller(operation, key, counts, examples, given, settings, HealthCheck)
                call()
                rows.append(
                    [
                        f"{operation.method.upper()} {operation.path}",
                        counts["requests"],
                        counts["5xx"],
                    ]
                )
                total += counts["requests"]
                errors += counts["5xx"]
    table("npc serve under schemathesis", ["operation", "requests", "5xx"], rows)
    write(args.json, {"requests": total, "server_errors": errors, "operations": len(rows)},
          data="served OpenAPI document", examples_per_operation=examples)  # fmt: skip
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
