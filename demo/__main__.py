"""``python -m demo``: the plaza. ``--playthrough FILE --headless --out DIR`` runs a scripted visit.

Examples::

    python -m demo                                   # embedded local model, world in your data dir
    python -m demo --backend scripted                # no model at all
    python -m demo --backend deepseek --model deepseek-chat
    python -m demo --playthrough demo/playthroughs/en_meeting.json --headless --out /tmp/run \\
        --backend replay:demo/recordings/en_meeting.jsonl
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo.paths import CHARACTERS, default_world

log = logging.getLogger("demo")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m demo", description="A plaza where characters remember you."
    )
    p.add_argument(
        "--backend",
        default="local",
        help="local (default), scripted, replay:PATH, or a preset (deepseek, ollama, ...)",
    )
    p.add_argument(
        "--model", default=None, help="model name for a preset, or a .gguf path for local"
    )
    p.add_argument("--base-url", default=None, help="base URL for an OpenAI-compatible server")
    p.add_argument(
        "--record", metavar="PATH", default=None, help="also write every reply to PATH for replay"
    )
    p.add_argument(
        "--world",
        metavar="PATH",
        default=None,
        help="world file (default: $XDG_DATA_HOME/npc-engine/plaza.db)",
    )
    p.add_argument("--new-world", action="store_true", help="start with a fresh world file")
    p.add_argument("--characters", default=str(CHARACTERS), help="directory of character files")
    p.add_argument(
        "--lang", choices=["en", "zh"], default="en", help="interface language (F3 switches)"
    )
    p.add_argument("--name", default=None, help="your name, told to the characters")
    p.add_argument("--playthrough", metavar="FILE", default=None, help="run a scripted playthrough")
    p.add_argument("--headless", action="store_true", help="no window (SDL dummy video driver)")
    p.add_argument(
        "--out",
        metavar="DIR",
        default="playthrough-out",
        help="where a playthrough writes PNGs and log.json",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frame cap (default 60; unpaced headless playthroughs use 0)",
    )
    p.add_argument(
        "--replay-delay",
        type=float,
        default=0.0,
        help="seconds between replayed chunks (to watch streaming)",
    )
    p.add_argument(
        "--frames", type=int, default=0, help="quit after this many frames (smoke tests)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for the embedded model (default: all cores but one, which the frame loop keeps)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def remove_world(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def backend_factory(args: argparse.Namespace) -> Callable[[], object]:
    """A function that builds a fresh backend (a restarted runtime gets its own)."""
    from engine import create_backend

    options: dict[str, Any] = {}
    if args.backend.startswith("replay:") and args.replay_delay:
        options["delay_s"] = args.replay_delay
    if args.backend == "local" or args.backend.endswith(".gguf"):
        options["n_threads"] = args.threads or max(1, (os.cpu_count() or 2) - 1)

    def make() -> object:
        if args.backend.startswith("replay:"):
            from demo.replay import as_recorded

            path = args.backend.removeprefix("replay:")
            backend = as_recorded(create_backend(args.backend, **options), path)
            if args.record:
                from engine import RecordingBackend

                backend = RecordingBackend(backend, args.record)
            return backend
        return create_backend(
            args.backend, model=args.model, base_url=args.base_url, record=args.record, **options
        )

    return make


def main(argv: list[str] | None = None) -> int:
    """Run the demo; an engine or playthrough error becomes a one-line message and exit code 2."""
    from demo.playthrough import PlaythroughError
    from engine import EngineError

    try:
        return _main(argv)
    except (EngineError, PlaythroughError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        os.environ["SDL_AUDIODRIVER"] = "dummy"
    os.environ.setdefault("SDL_IME_SHOW_UI", "1")
    # The engine's threads (model, store) share the interpreter lock with the frame loop: hand
    # it back every millisecond instead of every five, so a frame never queues behind them.
    sys.setswitchinterval(0.001)

    import pygame

    from demo.app import SIZE, App, loading_screen, run, warm_up
    from demo.fonts import Fonts
    from demo.i18n import tr
    from engine import Runtime, default_embedder, load_characters

    # Embeddings for recall and for finding the knowledge a question asks about, when the
    # offline model is installed (the README's set-up installs it).
    embedder = default_embedder("auto")
    pygame.display.init()
    pygame.font.init()
    screen = pygame.display.set_mode(SIZE)
    pygame.display.set_caption("The Plaza — npc-engine")
    pygame.key.stop_text_input()
    pygame.key.set_repeat(400, 35)
    characters = load_characters(args.characters)
    # Everything loaded so far lives for the whole run: keep the cyclic collector from walking
    # it again and again, which would show up as the occasional long frame.
    gc.collect()
    gc.freeze()
    make_backend = backend_factory(args)

    if args.playthrough:
        from demo.playthrough import Runner, load

        data = load(args.playthrough)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        world = Path(args.world) if args.world else out / "world.db"
        remove_world(world)
        if args.record:
            Path(args.record).unlink(missing_ok=True)
        names: list[str] = []

        def make_runtime(clock: Callable[[], float]) -> Runtime:
            backend = make_backend()
            names.append(str(getattr(backend, "name", args.backend)))
            return Runtime(
                world,
                backend=backend,
                characters=characters,
                clock=clock,
                freeze_gc=True,
                embedder=embedder,
            )  # type: ignore[arg-type]

        runner = Runner(screen, make_runtime, out, fps=args.fps if args.fps is not None else 0.0)
        runner.rt_backend_name = lambda: names[-1] if names else args.backend  # type: ignore[method-assign]
        result = runner.run(data)
        result["backend"] = names[-1] if names else args.backend
        (out / "log.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        summary = result["frames"]["summary"]
        print(
            f"{len(result['turns'])} turns, {len(result['shots'])} screenshots, frames p50 {summary['p50']} ms "
            f"p99 {summary['p99']} ms max {summary['max']} ms -> {out}"
        )
        pygame.quit()
        return 0

    world = Path(args.world) if args.world else default_world()
    world.parent.mkdir(parents=True, exist_ok=True)
    if args.new_world:
        remove_world(world)
    fonts = Fonts()
    loading_screen(screen, fonts, tr(args.lang, "loading"))
    pygame.display.flip()
    pygame.event.pump()
    started = time.perf_counter()
    backend = make_backend()
    rt = Runtime(world, backend=backend, characters=characters, freeze_gc=True, embedder=embedder)  # type: ignore[arg-type]
    warm_up(rt)
    log.info("runtime ready in %.1f s (world %s)", time.perf_counter() - started, world)
    app = App(
        screen,
        rt,
        language=args.lang,
        player_name=args.name,
        backend_name=str(getattr(backend, "name", args.backend)),
        characters_dir=args.characters,
    )
    gc.collect()
    gc.freeze()
    try:
        run(app, fps=int(args.fps or 60), max_frames=args.frames)
    finally:
        rt.close()
        pygame.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
