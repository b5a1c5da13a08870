"""Structured output on any OpenAI-compatible server: a reply that validates against a schema.

Servers differ in what they take: ``json_schema`` (OpenAI, vLLM), only ``json_object``
(DeepSeek), or no ``response_format`` at all (some proxies, older llama.cpp servers). A
:class:`StructuredOutput` asks with the strongest form it knows the server takes; when the
server refuses that form (HTTP 400/422/500 naming it), it steps down to the next one,
``json_schema`` -> ``json_object`` -> plain text, and keeps to it from then on (one refused
request per form, never retried). The reply is validated with pydantic and repaired once.

No HTTP here: the backend's ``ask(response_format, messages)`` sends each request and raises
:class:`FormatRefused` when the server refused its format.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from engine.backends.render import render_transcript
from engine.dialogue.prompt import Prompt
from engine.errors import BackendError, StructuredOutputError

__all__ = [
    "FormatRefused",
    "Structured",
    "StructuredOutput",
    "extract_json",
    "json_transcript",
    "refuses_format",
]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

Structured = Literal["json_schema", "json_object", "none"]
"""How a reply is asked for as JSON: the ``response_format`` sent, or none (plain text)."""

_WEAKER: dict[Structured, Structured] = {"json_schema": "json_object", "json_object": "none"}

#: ``ask(response_format, messages)``: one request, its reply text.
Ask = Callable[[dict[str, Any] | None, list[dict[str, Any]]], Awaitable[str]]


class FormatRefused(Exception):
    """The server refused the request's ``response_format`` (not worth a retry)."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(str(error))
        self.error = error


def refuses_format(error: BackendError) -> bool:
    """Whether a failed request was refused for its ``response_format`` (HTTP 400/422/500 whose
    message names it, as llama.cpp's server and OpenAI-compatible proxies answer)."""
    text = str(error).lower()
    return error.status_code in (400, 422, 500) and (
        "response_format" in text or "json_schema" in text or "response format" in text
    )


class StructuredOutput:
    """How one backend gets JSON from its server: the form in use, and the ask-validate-repair
    round of :meth:`complete`.

    ``name`` is the backend's (for the log); ``provider`` and ``model`` go into the errors.
    """

    def __init__(self, form: Structured, *, name: str, provider: str, model: str) -> None:
        self.form: Structured = form
        self._name = name
        self._provider = provider
        self._model = model

    def response_format(
        self, schema_name: str, json_schema: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The ``response_format`` of the form in use (None for plain text)."""
        if self.form == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": schema_name[:64], "schema": json_schema, "strict": False},
            }
        if self.form == "json_object":
            return {"type": "json_object"}
        return None

    def step_down(self, error: BackendError) -> None:
        """The server refused the form in use: use the next one from now on (``error`` is
        raised when plain text was refused, as there is nothing weaker)."""
        if self.form == "none":
            raise error
        before, self.form = self.form, _WEAKER[self.form]
        log.info(
            "%s refused response_format %s (HTTP %s); using %s from now on",
            self._name,
            before,
            error.status_code,
            self.form if self.form != "none" else "plain text with repair",
        )

    async def complete(
        self, ask: Ask, schema: type[T], *, refused: Callable[[BackendError], None] | None = None
    ) -> T:
        """A reply validated against ``schema``; one repair round if the first does not validate.

        ``refused`` hears of each refused form (after :meth:`step_down`). Raises
        :class:`~engine.errors.StructuredOutputError` (with the raw text) if the repaired reply
        still does not validate.
        """
        json_schema, instruction = _instruction(schema)
        messages: list[dict[str, Any]] = [{"role": "system", "content": instruction}]
        while True:
            response_format = self.response_format(schema.__name__, json_schema)
            try:
                raw = await ask(response_format, messages)
                break
            except FormatRefused as refusal:
                self.step_down(refusal.error)
                if refused is not None:
                    refused(refusal.error)
        try:
            return schema.model_validate_json(extract_json(raw))
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors()[:5]
            )
        log.info(
            "%s structured reply did not validate (%s); asking for a repair", self._name, problem
        )
        repair = [
            *messages,
            {"role": "assistant", "content": raw},
            {
                "role": "user",
                "content": f"That reply was not valid ({problem}). Send the corrected JSON object only.",
            },
        ]
        fixed = await ask(response_format, repair)
        try:
            return schema.model_validate_json(extract_json(fixed))
        except ValidationError as exc:
            raise StructuredOutputError(
                f"reply does not match {schema.__name__} after one repair: {exc.errors()[0]['msg']}",
                raw=fixed,
                provider=self._provider,
                model=self._model,
            ) from exc


def json_transcript(prompt: Prompt, extra: list[dict[str, Any]]) -> str:
    """A base-model prompt for a JSON answer: the transcript, the instruction, then ``JSON:``.

    Earlier attempts and their corrections (a repair round) appear as ``JSON:`` lines and notes.
    """
    head = render_transcript(prompt).rsplit("\n", 1)[0]  # without the trailing "Character:"
    lines = [head, ""]
    for message in extra:
        if message["role"] == "assistant":
            lines.append(f"JSON: {message['content']}")
        else:
            lines.append(str(message["content"]))
    lines.append("JSON:")
    return "\n".join(lines)


def extract_json(text: str) -> str:
    """The JSON object in a reply, without code fences or chatter around it."""
    stripped = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    if fence:
        stripped = fence.group(1).strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if start != -1 and end > start:
        return stripped[start : end + 1]
    return stripped


@functools.lru_cache(maxsize=64)
def _instruction(schema: type[BaseModel]) -> tuple[dict[str, Any], str]:
    """``schema``'s JSON schema and the instruction that asks for it, worked out once per model
    class (pydantic builds the schema afresh on every call, and every turn's analysis asks);
    both are read, never changed."""
    json_schema = schema.model_json_schema()
    return json_schema, (
        "Reply with a single JSON object only, no other text. It must match this JSON schema:\n"
        + json.dumps(json_schema, ensure_ascii=False)
    )
