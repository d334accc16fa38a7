"""A Cloudflare account's Workers AI REST endpoint, shared by the LLM, embedding and re-rank providers."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.core.config import Settings


@dataclass(frozen=True)
class WorkersAIAccount:
    base_url: str
    account_id: str
    token: str = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkersAIAccount:
        return cls(
            settings.cloudflare.workers_ai_base_url,
            settings.cloudflare.account_id,
            settings.cloudflare.workers_ai_api_token.get_secret_value(),
        )

    def run_url(self, model: str) -> str:
        """`POST /accounts/{id}/ai/run/{model}` runs any model; the body's shape is the model's."""
        return f"{self.base_url.rstrip('/')}/accounts/{self.account_id}/ai/run/{model}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}
