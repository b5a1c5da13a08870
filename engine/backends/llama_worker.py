"""The embedded model's own process: llama.cpp behind one socket, and nothing else.

A native crash in llama.cpp (a segfault in a CPU kernel, a bad GGUF, an abort) takes down the
process it runs in; here that is this small process, never the game. The game side
(:mod:`engine.backends.local_process`) starts it as a plain script::

    python llama_worker.py FD PARENT_PID CONFIG_JSON

``FD`` is one end of a Unix socket pair carrying ``multiprocessing.connection`` frames
(pickled tuples). This module imports the standard library and ``llama_cpp`` only (never the
``engine`` package), so it starts quickly and is the one place ``import llama_cpp`` appears.

Messages in: ``("job", id, spec)`` (``spec["kind"]``: ``completion``, ``chat``, ``json``,
``warm``, a prompt evaluated into the cache with no reply, or ``several``, a few replies to one
prompt decoded side by side), ``("cancel", id)``, ``("drop", id, k)`` (reply ``k`` of a
``several`` job is no longer wanted). Messages out: ``("ready", info)`` or
``("load_error", message)`` once; then per job ``("prompt", id, tokens, untrimmed, cached)``
(``cached``: leading tokens already in the context's cache from the job before),
``("token", id, text, finish_reason, monotonic_stamp)`` (``("piece", id, k, text,
finish_reason, tokens, monotonic_stamp)`` for reply ``k`` of a ``several`` job; ``("alive", id)`` per token of a JSON
reply), and one of ``("done", id, completion_tokens, finish_reason)``, ``("json", id, raw)``,
``("error", id, message)``; and ``("log", level, text)`` for llama.cpp's own log lines.

The process exits when its socket closes (the game closed it or died), and on Linux also by
``PR_SET_PDEATHSIG`` when the thread that started it ends, so no orphan holds the model.

Weight repacking ("extra buffer types"): llama.cpp's AMX buffer type crashes on Q4_K models
(ggml-org/llama.cpp#20824). :func:`load_model` turns extra buffer types off when the build
reports ``AMX_INT8 = 1``, unless told otherwise; docs/backends.md has the measurements.
"""

from __future__ import annotations

import codecs
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
    path: str, *, n_ctx: int, n_threads: int, extra_buffers: bool | None, sequences: int = 1
) -> tuple[Any, dict[str, Any]]:
    """Load a GGUF with llama-cpp-python; ``extra_buffers=None`` means off when AMX is built in.

    ``Llama(...)`` has no keyword for ``llama_model_params.use_extra_bufts`` nor for the
    context's ``n_seq_max`` (0.3.36 drops unknown keywords silently), so the default model and
    context parameters are adjusted for the duration of this one load. ``sequences`` > 1 gives
    the context room for that many replies decoded side by side (:meth:`_Worker.several`), in
    one cache all of them share (``kv_unified``: the prompt they start from is held once).
    Returns the model and what was decided.
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

    context_defaults = native.llama_context_default_params

    def context_params() -> Any:
        value = context_defaults()
        if sequences > 1:
            value.n_seq_max = sequences
            value.kv_unified = True
        return value

    native.llama_model_default_params = params
    native.llama_context_default_params = context_params
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
        native.llama_context_default_params = context_defaults
    info = {
        "has_template": bool(llama.metadata.get("tokenizer.chat_template")),
        "amx": amx,
        "extra_buffers": bool(llama.model_params.use_extra_bufts),
        "system_info": system_info.strip(),
        "pid": os.getpid(),
        "sequences": sequences,
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


def _cached_prefix(llama: Any, ids: list[int]) -> int:
    """How many leading tokens of ``ids`` the context's cache holds from the job before."""
    held = 0
    for a, b in zip(llama.input_ids[: llama.n_tokens], ids, strict=False):
        if a != b:
            break
        held += 1
    return held


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
        #: The replies of a ``several`` job its caller no longer wants, by job.
        self.dropped: dict[int, set[int]] = {}
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
                elif spec["kind"] == "several":
                    self.several(rid, spec)
                else:
                    self.stream(rid, spec)
            except Exception as exc:  # noqa: BLE001 (anything from the library is reported)
                self.send(("error", rid, f"{type(exc).__name__}: {exc}"))
            self.cancelled.discard(rid)
            self.dropped.pop(rid, None)

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
        self.send(("prompt", rid, len(fitted), len(ids), _cached_prefix(llama, fitted)))
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

    def several(self, rid: int, spec: dict[str, Any]) -> None:
        """Sample one reply per entry of ``spec["samplers"]`` from the same prompt, side by
        side: the prompt is evaluated once (after what the cache already holds), each reply
        gets a sequence of its own starting from it, and every step decodes the next token of
        all replies still going in one batch. On a small CPU a batch of four tokens costs about
        twice one, so four replies take about half as long as one after another.

        Sends ``("piece", id, k, text, finish_reason, tokens, monotonic_stamp)`` per token of
        reply ``k`` (text held back while it may be the start of a stop sequence;
        ``finish_reason`` and the reply's token count on its last), then
        ``("done", id, tokens, None)``. A reply ends at an end-of-generation token, a stop
        sequence, ``max_tokens`` or a ``drop`` from the caller; the job ends when all have. The
        cache keeps the prompt, not the replies.
        """
        import llama_cpp
        import llama_cpp._internals as internals

        llama = self.llama
        samplers = spec["samplers"]
        count = min(len(samplers), int(llama.context_params.n_seq_max))
        if not count:
            self.send(("done", rid, 0, None))
            return
        # The prompt is fitted as for one reply, so it is the same prompt a reply streamed
        # alone would have (and the cache holds its start). Every reply's tokens take cells of
        # their own in the one cache the prompt shares: they divide what the prompt leaves.
        max_tokens = int(spec["max_tokens"])
        ids = self.tokens(rid, spec["text"], max_tokens, spec["n_ctx"])
        max_tokens = max(1, min(max_tokens, (spec["n_ctx"] - len(ids) - 1) // count))
        self._evaluate(ids)
        context = llama._ctx
        memory = llama_cpp.llama_get_memory(context.ctx)
        for k in range(1, count):
            llama_cpp.llama_memory_seq_cp(memory, 0, k, -1, -1)
        chains = [self._sampler(internals, options, llama._n_vocab) for options in samplers[:count]]
        vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        stops: list[str] = [s for s in spec["stops"] if s]
        batch = llama_cpp.llama_batch_init(count, 0, 1)
        texts = [""] * count
        # a character may span tokens: bytes are decoded as they complete it
        decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in range(count)]
        sent = [0] * count
        made = [0] * count
        # the first token of every reply comes from the logits of the prompt's last token
        tokens = [chain.sample(context, -1) for chain in chains]
        going = list(range(count))
        try:
            for step in range(max_tokens):
                dropped = self.dropped.get(rid, set())
                if rid in self.cancelled:
                    break
                still: list[int] = []
                for k in going:
                    if k in dropped:
                        continue
                    made[k] += 1
                    if llama_cpp.llama_vocab_is_eog(vocab, tokens[k]):
                        finish: str | None = "stop"
                    else:
                        piece = decoders[k].decode(self._detokenize(vocab, tokens[k]))
                        finish = self._piece(rid, k, piece, texts, sent, stops)
                    if finish is None and step + 1 >= max_tokens:
                        finish = "length"
                    if finish is not None:
                        piece = texts[k][sent[k] :]
                        self.send(("piece", rid, k, piece, finish, made[k], time.monotonic()))
                        continue
                    still.append(k)
                going = still
                if not going:
                    break
                for i, k in enumerate(going):
                    batch.token[i] = tokens[k]
                    batch.pos[i] = len(ids) + step
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = k
                    batch.logits[i] = True
                batch.n_tokens = len(going)
                if llama_cpp.llama_decode(context.ctx, batch) != 0:
                    raise RuntimeError("llama_decode found no room for the replies in the cache")
                for i, k in enumerate(going):
                    tokens[k] = chains[k].sample(context, i)
        finally:
            llama_cpp.llama_batch_free(batch)
            for chain in chains:
                chain.close()
            for k in range(1, count):
                llama_cpp.llama_memory_seq_rm(memory, k, -1, -1)
            # The cache holds the prompt again; its logits were overwritten, so the next job
            # evaluates the prompt's last token again even when its prompt is the same.
            if llama_cpp.llama_memory_seq_rm(memory, 0, len(ids) - 1, -1):
                llama.n_tokens = len(ids) - 1
            else:
                llama.reset()
        self.send(("done", rid, sum(made), None))

    def _evaluate(self, ids: list[int]) -> None:
        """Bring the replies' context to ``ids``, evaluating only what its cache lacks (always
        the last token, whose logits the replies start from)."""
        llama = self.llama
        held = min(_cached_prefix(llama, ids), len(ids) - 1)
        if held and llama._ctx.kv_cache_seq_rm(-1, held, -1):
            llama.n_tokens = held
        else:
            llama.reset()
            llama._ctx.kv_cache_clear()
        llama.eval(ids[llama.n_tokens :])

    @staticmethod
    def _sampler(internals: Any, options: dict[str, Any], n_vocab: int) -> Any:
        """A sampler chain like llama-cpp-python's own for one reply's settings."""
        chain = internals.LlamaSampler()
        chain.add_penalties(
            n_vocab=n_vocab,
            penalty_last_n=64,
            penalty_repeat=options["repeat_penalty"],
            penalty_freq=options["frequency_penalty"],
            penalty_present=options["presence_penalty"],
        )
        if options["temperature"] <= 0:
            chain.add_greedy()
            return chain
        chain.add_top_k(options["top_k"])
        chain.add_top_p(options["top_p"], 1)
        chain.add_min_p(options["min_p"], 1)
        chain.add_temp(options["temperature"])
        chain.add_dist(options.get("seed", 0xFFFFFFFF))
        return chain

    def _piece(
        self,
        rid: int,
        k: int,
        piece: str,
        texts: list[str],
        sent: list[int],
        stops: list[str],
    ) -> str | None:
        """Add the text of reply ``k``'s next token; send what is safe to show. "stop" when it
        reaches a stop sequence (cut before it), else None."""
        texts[k] += piece
        text = texts[k]
        cut = min((i for i in (text.find(s, max(0, sent[k] - len(s))) for s in stops) if i >= 0),
                  default=-1)  # fmt: skip
        if cut >= 0:
            texts[k] = text[:cut]
            return "stop"
        # hold back a tail that may be the start of a stop sequence
        hold = max((n for s in stops for n in range(min(len(s) - 1, len(text)), 0, -1)
                    if text.endswith(s[:n])), default=0)  # fmt: skip
        safe = len(text) - hold
        if safe > sent[k]:
            self.send(("piece", rid, k, text[sent[k] : safe], None, None, time.monotonic()))
            sent[k] = safe
        return None

    @staticmethod
    def _detokenize(vocab: Any, token: int) -> bytes:
        import llama_cpp

        buffer = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, 64, 0, False)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, -n, 0, False)
        return buffer.raw[:n]

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
            elif message[0] == "drop":
                self.dropped.setdefault(message[1], set()).add(message[2])


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
            sequences=config.get("sequences", 1),
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
