"""Frame times of the plaza demo while replies stream from the embedded model.

Runs a playthrough headless (SDL dummy driver) at a 60 fps cap, twice: with the embedded local
model (replies generated on the engine's threads while the scene draws) and, as the baseline in
the same run, with the scripted backend (no model work at all). Reports the frame-time
percentiles over the frames during which a reply was being generated.

    python bench/frames.py                 # the English first meeting + return visit
    python bench/frames.py --quick         # one line to Mira
    python bench/frames.py --json out.json

Targets: frame_p99_ms <= 16.7 (one 60 Hz frame) and frame_max_ms <= 50.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, parser, table, write

PLAYTHROUGHS = ROOT / "demo" / "playthroughs"


def run(playthrough: Path, backend: str, out: Path, fps: int) -> dict:
    """Run one headless playthrough in a fresh process; returns its log.json."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    cmd = [
        sys.executable,
        "-m",
        "demo",
        "--playthrough",
        str(playthrough),
        "--headless",
        "--out",
        str(out),
        "--backend",
        backend,
        "--fps",
        str(fps),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(
            f"playthrough failed ({backend}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return json.loads((out / "log.json").read_text(encoding="utf-8"))


def local_model_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "pygame"))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--playthrough",
        default=None,
        help="playthrough file (default: en_meeting, or quick with --quick)",
    )
    p.add_argument("--fps", type=int, default=60)
    args = p.parse_args()
    if not local_model_available():
        print("skipped: the embedded model (llama-cpp-python) or pygame-ce is not installed")
        return
    playthrough = (
        Path(args.playthrough)
        if args.playthrough
        else PLAYTHROUGHS / ("quick.json" if args.quick else "en_meeting.json")
    )
    results = {}
    # --quick skips the scripted baseline to stay within seconds; the full run has both
    backends = ("local",) if args.quick else ("local", "scripted")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            started = time.perf_counter()
            log = run(playthrough, backend, Path(tmp) / backend, args.fps)
            results[backend] = (log, time.perf_counter() - started)
    local, local_s = results["local"]
    base, base_s = results.get(
        "scripted", ({"frames": {"summary": {"p50": 0.0, "p99": 0.0, "max": 0.0, "n": 0}}}, 0.0)
    )
    streaming = local["frames"]["summary_streaming"]
    cpu = local["frames"]["summary_cpu_streaming"]
    overall = local["frames"]["summary"]
    baseline = base["frames"]["summary"]
    if not streaming["n"]:
        raise SystemExit("no frame was drawn while a reply streamed")
    metrics = {
        "frame_p50_ms": streaming["p50"],
        "frame_p99_ms": streaming["p99"],
        "frame_max_ms": streaming["max"],
        "streaming_frames": streaming["n"],
        "frame_cpu_p99_ms": cpu["p99"],
        "all_frames_p99_ms": overall["p99"],
        **(
            {
                "baseline_frame_p50_ms": baseline["p50"],
                "baseline_frame_p99_ms": baseline["p99"],
                "baseline_frame_max_ms": baseline["max"],
            }
            if baseline["n"]
            else {}
        ),
        "frames_over_50ms": sum(
            1
            for ms, s in zip(local["frames"]["ms"], local["frames"]["streaming"], strict=True)
            if s and ms > 50
        ),
        "turns": len(local["turns"]),
    }
    rows = [
        [
            "local model, while streaming",
            streaming["n"],
            streaming["p50"],
            streaming["p99"],
            streaming["max"],
        ],
        ["local model, all frames", overall["n"], overall["p50"], overall["p99"], overall["max"]],
        ["local model, game-thread CPU", cpu["n"], cpu["p50"], cpu["p99"], cpu["max"]],
    ]
    if baseline["n"]:
        rows.append(
            [
                "scripted baseline, all frames",
                baseline["n"],
                baseline["p50"],
                baseline["p99"],
                baseline["max"],
            ]
        )
    table(
        f"Frame times, {playthrough.name}, {args.fps} fps cap (ms)",
        ["run", "frames", "p50", "p99", "max"],
        rows,
    )
    print(
        f"\ntargets: p99 <= 16.7 ms, max <= 50 ms · wall {local_s:.0f} s (local), {base_s:.0f} s (scripted)"
    )
    write(
        args.json,
        metrics,
        data=str(playthrough.relative_to(ROOT))
        if playthrough.is_relative_to(ROOT)
        else str(playthrough),
        backend=local.get("backend"),
        fps_cap=args.fps,
        load_average=os.getloadavg(),
    )


if __name__ == "__main__":
    main()
