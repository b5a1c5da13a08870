"""Fuzz every parser that reads outside input for a while and report executions and findings.

The targets (``engine.testing.fuzz``): persona files, card files (JSON, PNG, CHARX), lorebooks
and their key matching, the OpenAI-compatible event stream served by a local HTTP server, and a
player's line through a whole turn. Each runs under hypothesis for ``--seconds`` (structured
inputs, shrunk to a minimal example on a finding). ``--atheris`` also runs the byte-level
targets (cards, persona files) under atheris, coverage-guided, in a child process each.

A finding is an input that breaks a target's contract: an exception the engine does not
promise, or a run over its time bound.

    python bench/fuzz.py --seconds 60 --json fuzz.json
    python bench/fuzz.py --quick
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any

from _common import ROOT, parser, table, write

from engine.testing.fuzz import TARGETS, runner, strategies

_ATHERIS_CHILD = """
import sys
import atheris
import httpx2, numpy, openai, pydantic, sqlite_utils, yaml  # imported first: not instrumented
with atheris.instrument_imports(include=["engine"]):
    from engine.testing.fuzz import card_bytes, persona_text
target = sys.argv[1]
def one(data: bytes) -> None:
    if target == "card":
        card_bytes(data)
    else:
        persona_text(data.decode("utf-8", "replace"))
atheris.Setup([sys.argv[0], f"-max_total_time={sys.argv[2]}", "-rss_limit_mb=2048", "-timeout=5"], one)
atheris.Fuzz()
"""


def run_hypothesis(name: str, seconds: float) -> dict[str, Any]:
    from hypothesis import HealthCheck, given, settings

    run, close = runner(name, ROOT / "characters")
    strategy = strategies()[name]
    executions = 0
    findings: list[str] = []
    deadline = time.monotonic() + seconds

    def once(example: Any) -> None:
        nonlocal executions
        executions += 1
        run(example)

    started = time.perf_counter()
    try:
        while time.monotonic() < deadline:

            @settings(
                max_examples=50,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(strategy)
            def batch(example: Any) -> None:
                once(example)

            try:
                batch()
            except Exception as exc:  # noqa: BLE001 (a FuzzFinding, shrunk by hypothesis, or several)
                found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
                findings.extend(str(e).splitlines()[0][:200] for e in found)
                break
    finally:
        close()
    elapsed = time.perf_counter() - started
    return {"executions": executions, "seconds": elapsed, "findings": findings}


def run_atheris(name: str, seconds: float) -> dict[str, Any]:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return {"executions": 0, "seconds": 0.0, "findings": ["atheris is not installed"]}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _ATHERIS_CHILD, name, str(max(1, int(seconds)))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=seconds + 120,
    )
    elapsed = time.perf_counter() - started
    done = re.findall(r"Done (\d+) runs", proc.stderr)
    runs = [int(n) for n in re.findall(r"#(\d+)\s", proc.stderr)]
    executions = int(done[-1]) if done else max(runs, default=0)
    findings = []
    if proc.returncode != 0:
        tail = [
            line for line in proc.stderr.splitlines() if "FuzzFinding" in line or "Error" in line
        ]
        findings.append((tail[-1] if tail else f"exit status {proc.returncode}")[:200])
    return {"executions": executions, "seconds": elapsed, "findings": findings}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="time per target (default 20)")
    p.add_argument(
        "--atheris", action="store_true", help="also run the byte-level targets under atheris"
    )
    p.add_argument("--target", action="append", choices=TARGETS, help="only these targets")
    args = p.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    rows: list[list[Any]] = []
    metrics: dict[str, float] = {}
    total_findings = 0
    for name in args.target or TARGETS:
        result = run_hypothesis(name, seconds)
        rows.append(
            [
                "hypothesis",
                name,
                result["executions"],
                result["seconds"],
                len(result["findings"]),
                "; ".join(result["findings"]) or "-",
            ]
        )
        metrics[f"{name}_executions"] = result["executions"]
        metrics[f"{name}_findings"] = len(result["findings"])
        total_findings += len(result["findings"])
    if args.atheris:
        for name in ("card", "persona"):
            if args.target and name not in args.target:
                continue
            result = run_atheris(name, seconds)
            rows.append(
                [
                    "atheris",
                    name,
                    result["executions"],
                    result["seconds"],
                    len(result["findings"]),
                    "; ".join(result["findings"]) or "-",
                ]
            )
            metrics[f"atheris_{name}_executions"] = result["executions"]
            metrics[f"atheris_{name}_findings"] = len(result["findings"])
            total_findings += len(result["findings"])
    metrics["findings"] = total_findings
    table(
        f"Fuzzing ({seconds:g} s per target)",
        ["engine", "target", "executions", "seconds", "findings", "first finding"],
        rows,
    )
    write(
        args.json,
        metrics,
        data={"targets": list(args.target or TARGETS), "seconds_per_target": seconds},
    )


if __name__ == "__main__":
    main()
