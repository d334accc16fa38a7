"""The configured provider (None = extractive only)."""

from __future__ import annotations

from pydantic import SecretStr

from service.answers.providers.anthropic import AnthropicProvider
from service.answers.providers.base import LLMLimits, LLMProvider
from service.answers.providers.openai_compatible import OpenAICompatibleProvider
from service.answers.providers.workers_ai import WorkersAIProvider
from service.core.config import Settings
from service.providers.cloudflare import WorkersAIAccount
from service.providers.retry import RetryPolicy

# An overloaded provider (429/5xx) or a dropped connection is retried before the answer starts,
# and only while a retry can still beat the first-token timeout; past that the engine answers
# from the sources instead (extractive fallback), so the user never waits on a long backoff.
LLM_ATTEMPTS = 3
LLM_BACKOFF_SECONDS = 0.5


def llm_limits(settings: Settings) -> LLMLimits:
    return LLMLimits(
        timeout=settings.llm.timeout_seconds,
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
    )


def llm_retry(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        attempts=LLM_ATTEMPTS,
        backoff_seconds=LLM_BACKOFF_SECONDS,
        budget_seconds=settings.llm.first_token_timeout_seconds,
    )


def build_provider(settings: Settings) -> LLMProvider | None:
    limits, retry = llm_limits(settings), llm_retry(settings)
    model = provider_model(settings)
    if settings.llm.provider == "workers-ai":
        return WorkersAIProvider(WorkersAIAccount.from_settings(settings), model, limits, retry)
    keyed: dict[str, tuple[type[OpenAICompatibleProvider | AnthropicProvider], str, SecretStr]] = {
        "openai-compatible": (
            OpenAICompatibleProvider,
            settings.llm.openai_base_url,
            settings.llm.openai_api_key,
        ),
        "anthropic": (
            AnthropicProvider,
            settings.llm.anthropic_base_url,
            settings.llm.anthropic_api_key,
        ),
    }
    if settings.llm.provider not in keyed:
        return None
    provider, base_url, key = keyed[settings.llm.provider]
    return provider(base_url, model, key.get_secret_value(), limits, retry)


def provider_model(settings: Settings) -> str:
    return {
        "openai-compatible": settings.llm.openai_model,
        "anthropic": settings.llm.anthropic_model,
        "workers-ai": settings.llm.workers_ai_model,
    }.get(settings.llm.provider, "extractive")
