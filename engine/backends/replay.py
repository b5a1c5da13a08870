"""Record any backend's replies to a file, and replay them exactly, so a playthrough is reproducible.

The file is JSON lines, one call per line, keyed by a sha256 of the rendered prompt and the
generation parameters (:func:`~engine.backends.render.prompt_key`). A line holds the prompt's
sections (to explain a miss), the streamed chunks as they arrived (so replay has the same
chunking), the usage, or the validated object of a ``complete_json`` call, or the engine
error the call ended in.

Example::

    backend = RecordingBackend(create_backend("deepseek"), "run.jsonl")
    ...                                       # play; every reply is written down
    backend = ReplayBackend("run.jsonl")      # in CI: the same replies, no network

A request that was never recorded raises :class:`~engine.errors.ReplayMissError` naming its
hash and the first prompt section where it differs from the closest recording.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from engine import errors
from engine.backends.base import Backend, Capabilities, Chunk, GenerationParams
from engine.backends.render import prompt_key, section_texts
from engine.dialogue.prompt import Prompt
from engine.errors import BackendError, ReplayMissError
from engine.types import Usage

__all__ = ["RecordingBackend", "ReplayBackend"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

FORMAT_VERSION = 1


def _schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    return {"name": schema.__name__, "json_schema": schema.model_json_schema()}


def _error_record(exc: BackendError) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": exc.message,
        "provider": exc.provider,
        "model": exc.model,
        "status_code": exc.status_code,
        "request_id": exc.request_id,
    }


def _rebuild_error(record: dict[str, Any]) -> BackendError:
    cls = getattr(errors, str(record.get("type")), BackendError)
    if not (isinstance(cls, type) and issubclass(cls, BackendError)) or cls is ReplayMissError:
        cls = BackendError
    return cls(
        str(record.get("message", "recorded failure")),
        provider=record.get("provider"),
        model=record.get("model"),
        status_code=record.get("status_code"),
        request_id=record.get("request_id"),
    )


class RecordingBackend:
    """Wraps ``inner``; passes every call through and appends it to ``path`` (JSON lines).

    Streams are written once they finish, fail with an engine error, or are cancelled by the
    caller (marked ``cancelled``, with the chunks the caller received).
    """

    def __init__(self, inner: Backend, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The wrapped backend's name."""
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped backend's capabilities."""
        return self.inner.capabilities

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def _base(
        self,
        prompt: Prompt,
        params: GenerationParams | None,
        kind: str,
        schema: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "key": prompt_key(prompt, params, kind=kind, schema=schema),
            "kind": kind,
            "backend": self.inner.name,
            "capabilities": self.inner.capabilities.model_dump(mode="json"),
            "sections": section_texts(prompt),
            "params": (params or GenerationParams()).model_dump(mode="json"),
        }

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """Stream from the wrapped backend, writing the chunks down when the stream ends."""
        entry = self._base(prompt, params, "stream", None)
        chunks: list[dict[str, Any]] = []
        try:
            async for chunk in self.inner.stream(prompt, params):
                chunks.append(chunk.model_dump(mode="json", exclude_none=True))
                yield chunk
        except BackendError as exc:
            self._write({**entry, "chunks": chunks, "error": _error_record(exc)})
            raise
        except (asyncio.CancelledError, GeneratorExit):
            # The game stopped listening (a cancelled turn): keep what it saw, so a replay of
            # the same playthrough finds this request and cancels at the same point.
            self._write({**entry, "chunks": chunks, "cancelled": True})
            raise
        self._write({**entry, "chunks": chunks})

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """Call the wrapped backend and write down the validated object."""
        entry = self._base(prompt, params, "json", _schema_of(schema))
        try:
            result = await self.inner.complete_json(prompt, schema, params)
        except BackendError as exc:
            self._write({**entry, "error": _error_record(exc)})
            raise
        self._write({**entry, "result": result.model_dump(mode="json")})
        return result

    async def aclose(self) -> None:
        """Close the wrapped backend."""
        await self.inner.aclose()


class ReplayBackend:
    """Serves the calls recorded in ``path``, with the same chunks, usage and errors.

    The same request recorded several times is answered in recorded order (the last answer
    repeats once they run out). ``delay_s`` spaces out streamed chunks (for demos).
    """

    def __init__(self, path: str | Path, *, delay_s: float = 0.0) -> None:
        self.path = Path(path)
        self.delay_s = delay_s
        if not self.path.exists():
            raise errors.BackendUnavailableError(f"no recording at {self.path}", provider="replay")
        self._entries: list[dict[str, Any]] = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise errors.BackendUnavailableError(
                    f"{self.path}:{number}: not a JSON line ({exc.msg})", provider="replay"
                ) from exc
            if not isinstance(entry, dict) or "key" not in entry:
                raise errors.BackendUnavailableError(
                    f"{self.path}:{number}: not a recording", provider="replay"
                )
            self._entries.append(entry)
        self._by_key: dict[str, list[dict[str, Any]]] = {}
        for entry in self._entries:
            self._by_key.setdefault(entry["key"], []).append(entry)
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        first = self._entries[0] if self._entries else {}
        recorded = Capabilities.model_validate(first.get("capabilities") or {})
        self._capabilities = recorded.model_copy(update={"kind": "replay"})
        self._recorded_name = str(first.get("backend", "empty"))

    @property
    def name(self) -> str:
        """``replay:`` and the recorded backend's name."""
        return f"replay:{self._recorded_name}"

    @property
    def capabilities(self) -> Capabilities:
        """The recorded backend's capabilities, with kind ``replay``."""
        return self._capabilities

    def _take(
        self,
        prompt: Prompt,
        params: GenerationParams | None,
        kind: str,
        schema: dict[str, Any] | None,
    ) -> dict[str, Any]:
        key = prompt_key(prompt, params, kind=kind, schema=schema)
        with self._lock:
            entries = self._by_key.get(key)
            if entries:
                index = self._served.get(key, 0)
                self._served[key] = index + 1
                return entries[min(index, len(entries) - 1)]
        raise self._miss(key, prompt, params, kind)

    def _miss(
        self, key: str, prompt: Prompt, params: GenerationParams | None, kind: str
    ) -> ReplayMissError:
        wanted = [tuple(s) for s in section_texts(prompt)]
        candidates = [e for e in self._entries if e.get("kind") == kind]
        if not candidates:
            return ReplayMissError(
                f"no recording for {kind} request {key} in {self.path} (it holds no {kind} calls)",
                key=key,
                provider="replay",
            )

        def shared(entry: dict[str, Any]) -> int:
            recorded = [tuple(s) for s in entry.get("sections", [])]
            return sum(1 for a, b in zip(wanted, recorded, strict=False) if a == b)

        closest = max(candidates, key=shared)
        recorded = [tuple(s) for s in closest.get("sections", [])]
        differing: str | None = None
        detail = ""
        for index in range(max(len(wanted), len(recorded))):
            now = wanted[index] if index < len(wanted) else None
            then = recorded[index] if index < len(recorded) else None
            if now != then:
                differing = (now or then or ("?", ""))[0]
                detail = f"recorded {_excerpt(then)} vs now {_excerpt(now)}"
                break
        if differing is None:
            differing = "params"
            detail = f"recorded {closest.get('params')} vs now {(params or GenerationParams()).model_dump(mode='json')}"
        return ReplayMissError(
            f"no recording for request {key}; closest recording {closest['key'][:12]} first differs in "
            f"section '{differing}': {detail}",
            key=key,
            differing_section=differing,
            provider="replay",
        )

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """The recorded chunks of this request, in order; a recorded failure is raised again."""
        entry = self._take(prompt, params, "stream", None)
        for raw in entry.get("chunks", []):
            await asyncio.sleep(self.delay_s)
            chunk = Chunk.model_validate(raw)
            yield chunk
        if entry.get("error"):
            raise _rebuild_error(entry["error"])

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """The recorded object for this request, validated against ``schema`` again."""
        entry = self._take(prompt, params, "json", _schema_of(schema))
        await asyncio.sleep(0)
        if entry.get("error"):
            raise _rebuild_error(entry["error"])
        return schema.model_validate(entry["result"])

    async def aclose(self) -> None:
        """Nothing to release."""

    @property
    def usage_recorded(self) -> list[Usage]:
        """The usage of every recorded stream, in file order (for reports)."""
        out: list[Usage] = []
        for entry in self._entries:
            for raw in entry.get("chunks", []):
                if raw.get("usage"):
                    out.append(Usage.model_validate(raw["usage"]))
        return out


def _excerpt(section: tuple[Any, ...] | None) -> str:
    if section is None:
        return "(no section)"
    name, text = section[0], str(section[1])
    short = text if len(text) <= 80 else text[:77] + "..."
    return f"{name}={short!r}"
