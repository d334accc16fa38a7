"""The configured provider (None = extractive only)."""

from __future__ import annotations

from service.answers.providers.anthropic import AnthropicProvider
from service.answers.providers.base import LLMProvider
from service.answers.providers.openai_compatible import OpenAICompatibleProvider
from service.answers.providers.workers_ai import WorkersAIProvider
from service.core.config import Settings


def build_provider(settings: Settings) -> LLMProvider | None:
    common = {
        "timeout": settings.llm_timeout_seconds,
        "max_tokens": settings.llm_max_tokens,
        "temperature": settings.llm_temperature,
    }
    if settings.llm_provider == "openai-compatible":
        return OpenAICompatibleProvider(
            settings.llm_openai_base_url,
            settings.llm_openai_model,
            settings.llm_openai_api_key.get_secret_value(),
            **common,  # type: ignore[arg-type]
        )
    if settings.llm_provider == "anthropic":
        return AnthropicProvider(
            settings.anthropic_base_url,
            settings.anthropic_model,
            settings.anthropic_api_key.get_secret_value(),
            **common,  # type: ignore[arg-type]
        )
    if settings.llm_provider == "workers-ai":
        return WorkersAIProvider(
            settings.workers_ai_base_url,
            settings.cloudflare_account_id,
            settings.workers_ai_api_token.get_secret_value(),
            settings.workers_ai_llm_model,
            **common,  # type: ignore[arg-type]
        )
    return None


def provider_model(settings: Settings) -> str:
    return {
        "openai-compatible": settings.llm_openai_model,
        "anthropic": settings.anthropic_model,
        "workers-ai": settings.workers_ai_llm_model,
    }.get(settings.llm_provider, "extractive")
