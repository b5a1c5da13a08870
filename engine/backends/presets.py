"""Provider presets: every OpenAI-compatible service the engine knows, as data.

A preset says where a provider lives (``base_url``), which environment variable holds its key,
which model to use when none is given (model names change often: override with ``model=``),
what it supports (``json_schema`` or only ``json_object``, usage in the stream) and its quirks
(a narrower temperature range, a cap on stop sequences, fields it needs in ``extra_body``).
``npc providers`` lists them.

Example::

    from engine.backends import PRESETS, create_backend
    print(PRESETS["deepseek"].base_url)
    backend = create_backend("deepseek")   # reads DEEPSEEK_API_KEY
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.backends.base import Capabilities

__all__ = ["PRESETS", "Preset"]


class Preset(BaseModel):
    """One provider: endpoint, key variable, default model, capabilities and quirks."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Short name used on the command line: 'deepseek'.")
    label: str = Field(description="Human name: 'DeepSeek'.")
    base_url: str = Field(description="The OpenAI-compatible endpoint, ending in the API version.")
    base_url_env: str | None = Field(
        None, description="Environment variable that overrides base_url."
    )
    key_env: str | None = Field(description="Environment variable holding the API key.")
    key_required: bool = Field(True, description="False for local servers that accept any key.")
    default_model: str = Field(description="Model used when none is given.")
    mode: Literal["chat", "completion"] = Field(
        "chat", description="Chat messages or a completion transcript."
    )
    structured: Literal["json_schema", "json_object", "none"] = Field(
        "json_object", description="Strongest structured-output mode the provider accepts."
    )
    context_size: int = Field(32_768, description="Context window of the default model, in tokens.")
    stream_usage: bool = Field(
        True, description="Accepts stream_options.include_usage and reports usage."
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Fields added to every request body."
    )
    temperature_range: tuple[float, float] = Field(
        (0.0, 2.0), description="Allowed temperature, inclusive."
    )
    max_stop: int | None = Field(
        None, description="Most stop sequences the provider accepts (None: 4 is safe)."
    )
    message_names: bool = Field(False, description="Accepts the 'name' field on chat messages.")
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="Request field for the reply length limit."
    )
    notes: str = Field("", description="What to know when using it.")

    def api_key(self) -> str | None:
        """The key from the environment, or None."""
        return os.environ.get(self.key_env) if self.key_env else None

    def has_key(self) -> bool:
        """Whether a key is set (always True for providers that need none)."""
        return bool(self.api_key()) or not self.key_required

    def resolved_base_url(self) -> str:
        """``base_url``, unless the override variable is set."""
        if self.base_url_env and os.environ.get(self.base_url_env):
            return os.environ[self.base_url_env]
        return self.base_url

    def capabilities(self) -> Capabilities:
        """What a backend on this preset can do."""
        return Capabilities(
            kind="model",
            mode=self.mode,
            structured=self.structured,
            context_size=self.context_size,
            streamed_usage=self.stream_usage,
        )


def _p(**fields: Any) -> Preset:
    return Preset(**fields)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _p(
            name="openai",
            label="OpenAI",
            base_url="https://api.openai.com/v1",
            base_url_env="OPENAI_BASE_URL",
            key_env="OPENAI_API_KEY",
            default_model="gpt-4o-mini",
            structured="json_schema",
            context_size=128_000,
            message_names=True,
            token_limit_field="max_completion_tokens",
            notes="max_completion_tokens (required by reasoning models, accepted by all).",
        ),
        _p(
            name="deepseek",
            label="DeepSeek",
            base_url="https://api.deepseek.com/v1",
            key_env="DEEPSEEK_API_KEY",
            default_model="deepseek-chat",
            structured="json_object",
            context_size=64_000,
            notes="json_object only: the schema goes in the prompt and replies are validated.",
        ),
        _p(
            name="qwen",
            label="Qwen (DashScope compatible mode)",
            base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
            key_env="DASHSCOPE_API_KEY",
            default_model="qwen-plus",
            structured="json_object",
            context_size=131_072,
            extra_body={"enable_thinking": False},
            notes="Qwen3 models think by default; enable_thinking=false keeps first tokens fast.",
        ),
        _p(
            name="kimi",
            label="Kimi (Moonshot)",
            base_url="https://api.moonshot.cn/v1",
            key_env="MOONSHOT_API_KEY",
            default_model="moonshot-v1-8k",
            structured="json_object",
            context_size=8_192,
            temperature_range=(0.0, 1.0),
            notes="temperature 0..1.",
        ),
        _p(
            name="glm",
            label="GLM (Zhipu BigModel)",
            base_url="https://open.bigmodel.cn/api/paas/v4",
            key_env="ZHIPUAI_API_KEY",
            default_model="glm-4-flash",
            structured="json_object",
            context_size=128_000,
            temperature_range=(0.01, 1.0),
            max_stop=1,
            notes="temperature (0, 1]; one stop sequence.",
        ),
        _p(
            name="ernie",
            label="ERNIE (Baidu Qianfan v2)",
            base_url="https://qianfan.baidubce.com/v2",
            key_env="QIANFAN_API_KEY",
            default_model="ernie-4.0-turbo-8k",
            structured="json_object",
            context_size=8_192,
            temperature_range=(0.01, 1.0),
            max_stop=4,
            notes="temperature (0, 1]; up to four stop sequences.",
        ),
        _p(
            name="doubao",
            label="Doubao (Volcengine Ark)",
            base_url="https://ark.cn-beijing.volces.com/api/v3",
            key_env="ARK_API_KEY",
            default_model="doubao-seed-1-6-flash-250615",
            structured="json_object",
            context_size=32_768,
            extra_body={"thinking": {"type": "disabled"}},
            temperature_range=(0.0, 1.0),
            notes="The model may be an endpoint id (ep-...); seed models think unless disabled.",
        ),
        _p(
            name="ollama",
            label="Ollama",
            base_url="http://localhost:11434/v1",
            base_url_env="OLLAMA_BASE_URL",
            key_env="OLLAMA_API_KEY",
            key_required=False,
            default_model="qwen2.5:3b",
            structured="json_schema",
            context_size=8_192,
        ),
        _p(
            name="vllm",
            label="vLLM",
            base_url="http://localhost:8000/v1",
            base_url_env="VLLM_BASE_URL",
            key_env="VLLM_API_KEY",
            key_required=False,
            default_model="Qwen/Qwen2.5-1.5B-Instruct",
            structured="json_schema",
            context_size=32_768,
        ),
        _p(
            name="lmstudio",
            label="LM Studio",
            base_url="http://localhost:1234/v1",
            base_url_env="LMSTUDIO_BASE_URL",
            key_env="LMSTUDIO_API_KEY",
            key_required=False,
            default_model="qwen2.5-3b-instruct",
            structured="json_schema",
            context_size=8_192,
        ),
        _p(
            name="llamacpp",
            label="llama.cpp server",
            base_url="http://localhost:8080/v1",
            base_url_env="LLAMACPP_BASE_URL",
            key_env="LLAMACPP_API_KEY",
            key_required=False,
            default_model="default",
            structured="json_schema",
            context_size=4_096,
            notes="Serves whichever model it was started with; the model name is ignored.",
        ),
    )
}
