"""How long `npc` takes to start and finish: --version, --help and validate characters/.

Every `npc` command pays the interpreter's start and the imports it needs; the targets are
under 0.2 s for each of these three (issue 20). Each command runs in a fresh process, several
times; the table gives the fastest run (the machine's own speed, least disturbed by other
work) and the median, in wall-clock and CPU seconds.

    python bench/cli.py [--runs 20] [--json out/cli.json] [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from _common import ROOT, parser, table, write

TARGET_S = 0.2

COMMANDS = {
    "version": ["--version"],
    "help": ["--help"],
    "validate": ["validate", "-q", "characters"],
}


def run_once(args: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one `npc ARGS` in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules load from bytecode
    code = "from engine.cli import main; main()"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"npc {' '.join(args)} failed (exit {os.waitstatus_to_exitcode(status)})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    args = p.parse_args()
    runs = 2 if args.quick else max(1, args.runs)
    run_once(["--version"])  # bytecode written, files in the page cache
    rows = []
    metrics: dict[str, float] = {}
    for name, command in COMMANDS.items():
        walls, cpus = zip(*(run_once(command) for _ in range(runs)), strict=True)
        best, median = min(walls), statistics.median(walls)
        rows.append(
            [
                f"npc {' '.join(command)}",
                best,
                median,
                min(cpus),
                "yes" if best < TARGET_S else "NO",
            ]
        )
        metrics |= {
            f"{name}_min_s": best,
            f"{name}_median_s": median,
            f"{name}_cpu_min_s": min(cpus),
        }
    table(
        f"npc start-up, {runs} runs each (target: fastest under {TARGET_S} s)",
        ["command", "wall min s", "wall median s", "cpu min s", "within target"],
        rows,
    )
    write(args.json, metrics, data="characters/", runs=runs, target_s=TARGET_S)


if __name__ == "__main__":
    main()
