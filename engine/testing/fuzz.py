"""Fuzz targets for every parser that reads outside input, and the strategies that feed them.

Each target takes one input and either returns or raises :class:`FuzzFinding`: an exception the
engine does not promise (anything but the documented error of that parser), or a run over its
time bound. The same targets run briefly under hypothesis in the tests and longer in
``bench/fuzz.py`` (hypothesis, or atheris with ``--atheris`` for the byte-level ones).

Targets:

- :func:`persona_text`: a persona file's YAML (only :class:`~engine.errors.PersonaError`);
- :func:`card_bytes`: a card file, JSON, PNG or CHARX (only :class:`~engine.errors.CardError`);
- :func:`lorebook`: a lorebook object, then its keys matched against a line (only
  ``CardError``, and matching within :data:`MATCH_BOUND_S`);
- :class:`StreamTarget`: an event stream served by a local HTTP server to the OpenAI-compatible
  backend (only :class:`~engine.errors.BackendError`);
- :class:`TurnTarget`: a player's line through a whole turn of a runtime (a ``TurnDone``, or a
  ``TurnFailed`` with an in-character fallback; never a silent cancel).

``hypothesis`` is imported only by :func:`strategies` (a development dependency).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.errors import BackendError, CardError, PersonaError

__all__ = [
    "MATCH_BOUND_S",
    "TARGETS",
    "FuzzFinding",
    "StreamTarget",
    "TurnTarget",
    "card_bytes",
    "lorebook",
    "persona_text",
    "runner",
    "strategies",
]

#: Longest a lorebook may take to match one line (its own work, on a line under the cap).
MATCH_BOUND_S = 0.1
#: Longest a turn may take end to end with the scripted backend.
TURN_BOUND_S = 5.0


class FuzzFinding(AssertionError):
    """An input broke a parser's contract; the message says how."""


def _unexpected(target: str, exc: BaseException) -> FuzzFinding:
    return FuzzFinding(f"{target}: unexpected {type(exc).__name__}: {exc}")


def persona_text(text: str) -> None:
    """Load ``text`` as a persona file: it loads, or a PersonaError names file and line."""
    from engine.persona import load_persona

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_persona(path)
        except PersonaError as exc:
            if "fuzzed.yaml" not in str(exc):
                raise FuzzFinding(f"persona error without the file name: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 (the finding is any other exception)
            raise _unexpected("persona", exc) from exc


def card_bytes(raw: bytes) -> None:
    """Read ``raw`` as a card and map it to a persona: a card, or a CardError."""
    from engine.cards import card_to_persona, read_card

    try:
        card = read_card(raw)
        card_to_persona(card)
    except (CardError, PersonaError):
        pass
    except Exception as exc:  # noqa: BLE001
        raise _unexpected("card", exc) from exc


def lorebook(data: Any, line: str) -> None:
    """Parse ``data`` as a lorebook and match it against ``line`` within :data:`MATCH_BOUND_S`."""
    from engine.cards.lorebooks import parse_lorebook
    from engine.lore import select_entries

    try:
        book = parse_lorebook(data)
    except CardError:
        return
    except Exception as exc:  # noqa: BLE001
        raise _unexpected("lorebook", exc) from exc
    try:
        # Keys are compiled once per card (cached): compile them first, then time the match.
        select_entries(book.entries, ["x"], budget_tokens=500, recursive=True)
        started = time.thread_time()  # this thread's CPU: the work, not a loaded machine's waits
        select_entries(book.entries, [line], budget_tokens=500, recursive=True)
    except Exception as exc:  # noqa: BLE001
        raise _unexpected("lore matching", exc) from exc
    elapsed = time.thread_time() - started
    if elapsed > MATCH_BOUND_S:
        raise FuzzFinding(
            f"lore matching took {elapsed * 1000:.0f} ms on a {len(line)}-character line"
        )


class StreamTarget:
    """A local HTTP server that answers each request with chosen bytes, and the backend that
    reads them. ``run(pieces)`` serves ``pieces`` as a chunked event stream."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._pieces: Sequence[bytes] = ()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fuzz-stream", daemon=True
        )
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        from engine.backends import OpenAIBackend
        from engine.backends.openai.retry import RetryPolicy

        self.backend = OpenAIBackend(
            base_url=self.url + "/v1", model="m", api_key="k", retry=RetryPolicy(max_retries=0)
        )

    async def _start(self) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                )
                for piece in self._pieces:
                    if piece:
                        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def run(self, pieces: Sequence[bytes]) -> None:
        """Stream one reply made of ``pieces``: text, or a BackendError, within 10 s."""
        from engine.dialogue.prompt import Prompt, Section

        self._pieces = pieces
        prompt = Prompt(
            sections=(Section.system("persona", "You are Mira."),), character="Mira", player="Ada"
        )

        async def read() -> None:
            async for _chunk in self.backend.stream(prompt):
                pass

        try:
            asyncio.run_coroutine_threadsafe(read(), self._loop).result(10)
        except BackendError:
            pass
        except Exception as exc:  # noqa: BLE001
            raise _unexpected("event stream", exc) from exc

    def close(self) -> None:
        async def stop() -> None:
            await self.backend.aclose()
            self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class TurnTarget:
    """A runtime with the scripted backend on a throw-away world; ``run(text, name)`` plays one
    turn and checks the game got an answer."""

    def __init__(self, characters: str | Path) -> None:
        from engine.backends.scripted import ScriptedBackend
        from engine.runtime import Runtime

        self._folder = tempfile.TemporaryDirectory()
        self.runtime = Runtime(
            Path(self._folder.name) / "world.db",
            backend=ScriptedBackend(),
            characters=characters,
            freeze_gc=False,
        )
        self.character = sorted(self.runtime.characters)[0]
        self.turns = 0

    def run(self, text: str, player_name: str | None = None) -> None:
        from engine.errors import EngineError
        from engine.runtime.events import TurnDone, TurnFailed

        self.turns += 1
        try:
            handle = self.runtime.say(
                self.character, f"p{self.turns % 7}", text, player_name=player_name
            )
        except EngineError:
            return  # refused at once, with a clear error
        deadline = time.monotonic() + TURN_BOUND_S
        while not handle.done:
            if time.monotonic() > deadline:
                raise FuzzFinding(
                    f"a {len(text)}-character line got no answer within {TURN_BOUND_S} s"
                )
            time.sleep(0.002)
        events = [e for e in self.runtime.poll() if getattr(e, "handle_id", None) == handle.id]
        failed = [e for e in events if isinstance(e, TurnFailed)]
        if failed and (failed[0].error == "cancelled" or not failed[0].fallback_text):
            raise FuzzFinding(f"turn failed without an answer: {failed[0].error!r}")
        if not failed and not any(isinstance(e, TurnDone) for e in events):
            raise FuzzFinding("turn ended with neither TurnDone nor TurnFailed")
        if failed and not failed[0].error.startswith(("too_long", "quota")):
            raise FuzzFinding(f"turn failed: {failed[0].error}")

    def close(self) -> None:
        self.runtime.close(timeout=5.0)
        self._folder.cleanup()


def strategies() -> dict[str, Any]:
    """Hypothesis strategies for each target's input, by target name."""
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    json_values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
        ),
        max_leaves=20,
    )
    keys = st.text(max_size=30) | st.from_regex(
        r"/[a-z()+*?|\\.\[\]{}^$1-9]{1,12}/[imsgu]{0,3}", fullmatch=True
    )
    entry = st.fixed_dictionaries(
        {"keys": st.lists(keys, max_size=3), "content": st.text(max_size=40)},
        optional={
            "secondary_keys": st.lists(keys, max_size=2),
            "use_regex": st.booleans(),
            "case_sensitive": st.booleans(),
            "selective": st.booleans(),
            "constant": st.booleans(),
            "extensions": st.dictionaries(st.text(max_size=10), json_values, max_size=3),
        },
    )
    book = (
        st.fixed_dictionaries({"entries": st.lists(entry | json_values, max_size=4)}) | json_values
    )
    card = st.fixed_dictionaries(
        {
            "spec": st.sampled_from(["chara_card_v2", "chara_card_v3", "x"]),
            "spec_version": st.text(max_size=4),
        },
        optional={
            "data": st.fixed_dictionaries(
                {"name": st.text(max_size=20), "description": st.text(max_size=60)},
                optional={"character_book": book, "extensions": json_values, "tags": json_values},
            )
        },
    )
    yaml_lines = st.lists(
        st.sampled_from(
            [
                "name: Mira",
                "role: baker",
                "age: -3",
                "style:",
                "  tone: warm",
                "policy:",
                "  blocked_topics:",
                "    - name: x",
                "      patterns: ['(a+)+$']",
                "extends: nope",
                "greetings: {first: [hi]}",
                "emotions: {set: [a], baseline: b}",
                "- [",
                "]: :",
                "\t",
            ]
        )
        | st.text(max_size=30),
        max_size=12,
    ).map("\n".join)
    lines = st.text(max_size=300) | st.text(
        alphabet=st.characters(codec="utf-8"), min_size=1900, max_size=2100
    )
    return {
        "persona": yaml_lines,
        "card": st.binary(max_size=400) | card.map(lambda c: json.dumps(c).encode("utf-8")),
        "lorebook": st.tuples(book, st.text(max_size=200) | st.just("a" * 1990 + "!")),
        "stream": st.lists(
            st.binary(max_size=60)
            | st.sampled_from(
                [
                    b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n',
                    b"data: [DONE]\n\n",
                    b"\n",
                    b"data: ",
                    b"\xff\xfe",
                    b":comment\n",
                    b"data: {}\n\n",
                ]
            ),
            max_size=8,
        ),
        "turn": st.tuples(lines | st.text(max_size=40), st.none() | st.text(max_size=80)),
    }


#: Target names, in the order the bench reports them.
TARGETS: tuple[str, ...] = ("persona", "card", "lorebook", "stream", "turn")


def runner(name: str, characters: str | Path) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """``(run, close)`` for one target: ``run(example)`` takes what its strategy draws."""
    if name == "persona":
        return persona_text, lambda: None
    if name == "card":
        return card_bytes, lambda: None
    if name == "lorebook":
        return lambda example: lorebook(*example), lambda: None
    if name == "stream":
        stream = StreamTarget()
        return stream.run, stream.close
    if name == "turn":
        turn = TurnTarget(characters)
        return lambda example: turn.run(*example), turn.close
    raise ValueError(f"unknown fuzz target {name!r}; known: {', '.join(TARGETS)}")
