"""Which model endpoint serves a tenant: its own `[tenants.<name>.model]`
table, else the server's llm_* settings. Clients are kept per endpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass

from codeact.errors import FailedPrecondition
from services.common.tenants import TenantsSource

from .llm import LLMClient
from .settings import PlannerSettings

OPENAI_URL = "https://api.openai.com/v1"
NOT_CONFIGURED = (
    "no model endpoint is configured: set CODEACT_PLANNER_LLM_BASE_URL (and "
    "CODEACT_PLANNER_LLM_API_KEY or OPENAI_API_KEY, CODEACT_PLANNER_LLM_MODEL), the "
    "[planner] table's llm_base_url, or the tenant's [tenants.<name>.model] table"
)


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str
    model: str
    text_mode: bool


class Endpoints:
    def __init__(self, settings: PlannerSettings, tenants: TenantsSource) -> None:
        self.settings = settings
        self.tenants = tenants
        self._clients: dict[tuple[str, str], LLMClient] = {}

    def for_tenant(self, tenant: str) -> Endpoint:
        own = self.tenants.current().get(tenant).model
        settings = self.settings
        base_url = own.get("base_url") or settings.llm_base_url
        if not base_url and os.environ.get("OPENAI_API_KEY"):
            base_url = OPENAI_URL  # a key alone means OpenAI itself
        if not base_url:
            raise FailedPrecondition("LLM_NOT_CONFIGURED", NOT_CONFIGURED)
        if "api_key" in own or "api_key_env" in own:
            key = own.get("api_key") or os.environ.get(own.get("api_key_env", ""), "")
        else:
            key = settings.llm_api_key or os.environ.get("OPENAI_API_KEY", "")
        mode = own.get("mode") or settings.llm_mode
        return Endpoint(base_url, key, own.get("model") or settings.llm_model, mode == "text")

    def client(self, endpoint: Endpoint) -> LLMClient:
        key = (endpoint.base_url, endpoint.api_key)
        if key not in self._clients:
            self._clients[key] = LLMClient(endpoint.base_url, endpoint.api_key, self.settings)
        return self._clients[key]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
