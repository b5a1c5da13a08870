"""The embedded model's own process: llama.cpp behind one socket, and nothing else.

A native crash in llama.cpp (a segfault in a CPU kernel, a bad GGUF, an abort) takes down the
process it runs in; here that is this small process, never the game. The game side
(:mod:`engine.backends.local_process`) starts it as a plain script::

    python llama_worker.py FD PARENT_PID CONFIG_JSON

``FD`` is one end of a Unix socket pair carrying ``multiprocessing.connection`` frames
(pickled tuples). This module imports the standard library and ``llama_cpp`` only (never the
``engine`` package), so it starts quickly and is the one place ``import llama_cpp`` appears.

Messages in: ``("job", id, spec)`` (``spec["kind"]``: ``completion``, ``chat``, ``json`` or
``warm``, a prompt evaluated into the cache with no reply), ``("cancel", id)``. Messages out:
``("ready", info)`` or ``("load_error", message)`` once; then per job
``("prompt", id, tokens, untrimmed, cached)``
(``cached``: leading tokens already in the context's cache from the job before),
``("token", id, text, finish_reason, monotonic_stamp)`` (``("alive", id)`` per token of a
JSON reply), and one of ``("done", id,
completion_tokens, finish_reason)``, ``("json", id, raw)``, ``("error", id, message)``; and
``("log", level, text)`` for llama.cpp's own log lines.

The process exits when its socket closes (the game closed it or died), and on Linux also by
``PR_SET_PDEATHSIG`` when the thread that started it ends, so no orphan holds the model.

Weight repacking ("extra buffer types"): llama.cpp's AMX buffer type crashes on Q4_K models
(ggml-org/llama.cpp#20824). :func:`load_model` turns extra buffer types off when the build
reports ``AMX_INT8 = 1``, unless told otherwise; docs/backends.md has the measurements.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["amx_in_build", "fit_tokens", "load_model", "main"]

# ggml log levels: 1 debug, 2 info, 3 warn, 4 error, 5 continuation.
_LOG_LEVELS = {1: 10, 2: 10, 3: 20, 4: 40}


def amx_in_build(system_info: str) -> bool:
    """Whether llama.cpp's CPU backend was built with AMX (and so may use the AMX buffer type)."""
    return "AMX_INT8 = 1" in system_info


def load_model(
    path: str, *, n_ctx: int, n_threads: int, extra_buffers: bool | None
) -> tuple[Any, dict[str, Any]]:
    """Load a GGUF with llama-cpp-python; ``extra_buffers=None`` means off when AMX is built in.

    ``Llama(...)`` has no keyword for ``llama_model_params.use_extra_bufts`` (0.3.36 drops
    unknown keywords silently), so the default model parameters are adjusted for the duration
    of this one load. Returns the model and what was decided.
    """
    import llama_cpp
    import llama_cpp.llama_cpp as native

    system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    amx = amx_in_build(system_info)
    use = (not amx) if extra_buffers is None else extra_buffers
    original = native.llama_model_default_params

    def params() -> Any:
        value = original()
        value.use_extra_bufts = use
        return value

    native.llama_model_default_params = params
    try:
        llama = llama_cpp.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
    finally:
        native.llama_model_default_params = original
    info = {
        "has_template": bool(llama.metadata.get("tokenizer.chat_template")),
        "amx": amx,
        "extra_buffers": bool(llama.model_params.use_extra_bufts),
        "system_info": system_info.strip(),
        "pid": os.getpid(),
    }
    return llama, info


def fit_tokens(tokens: list[int], room: int) -> list[int]:
    """Drop tokens from the middle so at most ``room`` remain: keep the opening third and the end.

    The opening says who the character is and the end is the conversation; the middle
    (examples, older history) is what a budget would have cut first anyway.
    """
    if len(tokens) <= room:
        return tokens
    head = room // 3
    return tokens[:head] + tokens[len(tokens) - (room - head) :]


class _Worker:
    """One loaded model serving jobs one at a time, in the order they arrive.

    Replies and structured (JSON) jobs run in two contexts of the same model file: a JSON job
    (the analysis after a reply) has a prompt of its own, and in the replies' context it would
    evict the conversation that llama.cpp's prompt cache keeps, so the next reply would
    evaluate its whole prompt again (seconds on a small CPU) instead of the last few lines.
    The second context is loaded at the first JSON job (``load_side``).
    """

    def __init__(
        self, conn: Connection, llama: Any, load_side: Callable[[], Any] | None = None
    ) -> None:
        self.conn = conn
        self.llama = llama
        self.load_side = load_side
        self.side: Any = None
        self.send_lock = threading.Lock()
        self.jobs: queue.SimpleQueue[tuple[int, dict[str, Any]]] = queue.SimpleQueue()
        self.cancelled: set[int] = set()
        self.grammars: dict[str, Any] = {}

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock:
            self.conn.send(message)

    def serve(self) -> None:
        while True:
            rid, spec = self.jobs.get()
            if rid in self.cancelled:
                self.cancelled.discard(rid)
                self.send(("done", rid, 0, "cancelled"))
                continue
            try:
                if spec["kind"] == "json":
                    self.send(("json", rid, self.complete_json(rid, spec)))
                elif spec["kind"] == "warm":
                    self.warm(rid, spec)
                else:
                    self.stream(rid, spec)
            except Exception as exc:  # noqa: BLE001 (anything from the library is reported)
                self.send(("error", rid, f"{type(exc).__name__}: {exc}"))
            self.cancelled.discard(rid)

    def stop_check(self, rid: int) -> Callable[[Any, Any], bool]:
        return lambda _ids, _logits: rid in self.cancelled

    def structured(self) -> Any:
        """The context JSON jobs run in (the replies' own when no second one can be had)."""
        if self.side is None and self.load_side is not None:
            loader, self.load_side = self.load_side, None
            try:
                self.side = loader()
            except Exception as exc:  # noqa: BLE001 (memory or file trouble: share the first)
                self.send(("log", 30, f"second context not loaded, JSON jobs share one: {exc}"))
        return self.side if self.side is not None else self.llama

    def tokens(
        self, rid: int, text: str, max_tokens: int, n_ctx: int, llama: Any = None
    ) -> list[int]:
        llama = llama if llama is not None else self.llama
        ids: list[int] = llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        fitted = fit_tokens(ids, n_ctx - max_tokens - 1)
        held = list(llama.input_ids[: llama.n_tokens])
        cached = 0
        for a, b in zip(held, fitted, strict=False):
            if a != b:
                break
            cached += 1
        self.send(("prompt", rid, len(fitted), len(ids), cached))
        return fitted

    def stream(self, rid: int, spec: dict[str, Any]) -> None:
        import llama_cpp

        kwargs = dict(spec["kwargs"])
        chat = spec["kind"] == "chat"
        events: Iterator[Any]
        if chat:
            # The chat API takes no stopping criteria; cancellation is checked per event.
            messages = spec["messages"]
            joined = "\n".join(m["content"] for m in messages).encode("utf-8")
            count = len(self.llama.tokenize(joined, add_bos=True, special=False))
            self.send(("prompt", rid, count, count, 0))
            events = iter(
                self.llama.create_chat_completion(
                    messages=messages, stream=True, stop=spec["stops"] or None, **kwargs
                )
            )
        else:
            ids = self.tokens(rid, spec["text"], kwargs["max_tokens"], spec["n_ctx"])
            kwargs["stopping_criteria"] = llama_cpp.StoppingCriteriaList([self.stop_check(rid)])
            events = iter(
                self.llama.create_completion(prompt=ids, stream=True, stop=spec["stops"], **kwargs)
            )
        produced: list[str] = []
        finish: str | None = None
        for event in events:
            if rid in self.cancelled:
                break
            choice = event["choices"][0]
            text = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
            finish = choice.get("finish_reason") or finish
            produced.append(text or "")
            self.send(("token", rid, text or "", choice.get("finish_reason"), time.monotonic()))
        close = getattr(events, "close", None)
        if close is not None:
            close()
        # Streamed events may hold several tokens (text held back near a stop sequence), so
        # count the reply's tokens once it is complete.
        joined = "".join(produced).encode("utf-8")
        count = len(self.llama.tokenize(joined, add_bos=False, special=False)) if joined else 0
        self.send(("done", rid, count, finish))

    def warm(self, rid: int, spec: dict[str, Any]) -> None:
        """Evaluate a prompt into the replies' context and say nothing: the next reply whose
        prompt starts the same way evaluates only what follows (llama.cpp's prefix cache)."""
        import llama_cpp

        ids = self.tokens(rid, spec["text"], 1, spec["n_ctx"])
        for _event in self.llama.create_completion(
            prompt=ids,
            max_tokens=1,
            temperature=0.0,
            stream=True,
            stopping_criteria=llama_cpp.StoppingCriteriaList([self.stop_check(rid)]),
        ):
            pass
        self.send(("done", rid, 0, "warm"))

    def complete_json(self, rid: int, spec: dict[str, Any]) -> str:
        import llama_cpp
        from llama_cpp.llama_grammar import LlamaGrammar  # not re-exported for type checkers

        schema = spec["schema"]
        grammar = self.grammars.get(schema)
        if grammar is None:
            grammar = LlamaGrammar.from_json_schema(schema, verbose=False)
            self.grammars[schema] = grammar
        kwargs = dict(spec["kwargs"])
        llama = self.structured()
        # Streamed, with a sign of life per token: a long JSON reply is not a stalled worker.
        if spec.get("messages") is not None:
            events = llama.create_chat_completion(
                messages=spec["messages"], grammar=grammar, stream=True, **kwargs
            )
            pieces: list[str] = []
            for event in events:
                if rid in self.cancelled:
                    break
                pieces.append((event["choices"][0].get("delta") or {}).get("content") or "")
                self.send(("alive", rid))
            return "".join(pieces)
        ids = self.tokens(rid, spec["text"], kwargs["max_tokens"], spec["n_ctx"], llama)
        kwargs["stopping_criteria"] = llama_cpp.StoppingCriteriaList([self.stop_check(rid)])
        pieces = []
        for event in llama.create_completion(prompt=ids, grammar=grammar, stream=True, **kwargs):
            pieces.append(event["choices"][0]["text"] or "")
            self.send(("alive", rid))
        return "".join(pieces)

    def read(self) -> None:
        """Take jobs and cancels until the socket closes; then leave at once."""
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                os._exit(0)
            if message[0] == "job":
                self.jobs.put((message[1], message[2]))
            elif message[0] == "cancel":
                self.cancelled.add(message[1])


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


def _route_native_logs(send: Callable[[tuple[Any, ...]], None]) -> Any:
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def callback(level: int, text: bytes, user_data: Any) -> None:
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            with contextlib.suppress(Exception):
                send(("log", _LOG_LEVELS.get(level, 10), message))

    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback  # the caller keeps it alive: the C side holds only a pointer


def main(argv: list[str]) -> None:
    """Run the worker: ``FD PARENT_PID CONFIG_JSON``."""
    fd, parent, config = int(argv[0]), int(argv[1]), json.loads(argv[2])
    _die_with_parent(parent)
    faulthandler.enable()  # a native crash leaves a Python stack on stderr for the game's log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the game; it closes the socket
    conn = Connection(fd)
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            conn.send(message)

    try:
        callback = _route_native_logs(send)
        llama, info = load_model(
            config["path"],
            n_ctx=config["n_ctx"],
            n_threads=config["n_threads"],
            extra_buffers=config["extra_buffers"],
        )
    except Exception as exc:  # noqa: BLE001 (reported to the game, which names the file)
        send(("load_error", f"{type(exc).__name__}: {exc}"))
        conn.close()
        os._exit(3)

    def load_side() -> Any:
        return load_model(
            config["path"],
            n_ctx=config["n_ctx"],
            n_threads=config["n_threads"],
            extra_buffers=config["extra_buffers"],
        )[0]

    worker = _Worker(conn, llama, load_side)
    worker.send_lock = lock
    worker.callback = callback  # type: ignore[attr-defined]
    # Generation runs off the main thread: llama.cpp called from a process's main thread was
    # measured to run markedly slower on the development machine.
    threading.Thread(target=worker.serve, name="llama-jobs", daemon=True).start()
    send(("ready", info))
    worker.read()


if __name__ == "__main__":
    main(sys.argv[1:])
