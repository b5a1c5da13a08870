"""OpenAI-compatible providers (OpenAI, DeepSeek, Qwen, Ollama, vLLM, llama.cpp server...).

- :mod:`~engine.backends.openai.chat`: :class:`OpenAIBackend`, streaming chat with retries;
- :mod:`~engine.backends.openai.structured`: JSON replies against a schema, the
  ``response_format`` a server takes learned on its first refusal, one repair round;
- :mod:`~engine.backends.openai.services`: embeddings and moderation on the same providers;
- :mod:`~engine.backends.openai.retry`: the retry policy, timeouts and error mapping they share;
- :mod:`~engine.backends.openai.client`: the ``openai`` clients (a request template, a pool
  per event loop);
- :mod:`~engine.backends.openai.sse`: reading a server-sent event stream, bounded in size;
- :mod:`~engine.backends.openai.transport`: the lean HTTP transport for streamed responses.

May import :mod:`engine.errors`, :mod:`engine.types`, :mod:`engine.text`,
:mod:`engine.dialogue` (the prompt it renders), :mod:`engine.safety` (the moderation record)
and the rest of :mod:`engine.backends`; must not import memory or runtime.
"""

from __future__ import annotations

from engine.backends.openai.chat import OpenAIBackend
from engine.backends.openai.retry import RetryPolicy, Timeouts
from engine.backends.openai.services import OpenAIEmbedder, OpenAIModerator

__all__ = ["OpenAIBackend", "OpenAIEmbedder", "OpenAIModerator", "RetryPolicy", "Timeouts"]
