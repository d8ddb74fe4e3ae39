"""Who is calling: bearer API keys mapped to tenants, compared as hashes.

Identity comes from credentials, never from request fields. Keys are held
only as SHA-256 digests; a presented token is hashed and looked up. The
development mode, which trusts everyone as tenant "dev", must be asked for.
"""

from __future__ import annotations

import contextvars
import hashlib
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeact.errors import Unauthenticated

DEV_TENANT = "dev"
HEALTH_PREFIX = "/grpc.health.v1.Health/"
# Server reflection only describes the (public) contracts; it is public unless
# the settings ask otherwise, so that `buf curl` and grpcurl work with -H alone.
REFLECTION_PREFIX = "/grpc.reflection."


@dataclass(frozen=True)
class Identity:
    """The authenticated caller."""

    tenant: str
    # How the caller proved it: "api_key" or "dev".
    method: str
    key_id: str = ""


current_identity: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "current_identity", default=None
)
# The caller's own credential, forwarded on calls made on its behalf.
current_credential: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_credential", default=None
)


def forwarded_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata that carries the current caller to another service."""
    credential = current_credential.get()
    return (("authorization", credential),) if credential else ()


def identity() -> Identity:
    """The caller of the RPC being served (set by the server interceptor)."""
    found = current_identity.get()
    if found is None:
        raise Unauthenticated("UNAUTHENTICATED", "no authenticated caller")
    return found


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """SHA-256 digests of API keys and the tenants they belong to."""

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self._by_digest: dict[str, str] = {}
        for tenant, key_digest in entries:
            self.add(tenant, key_digest)

    def add(self, tenant: str, key_digest: str) -> None:
        key_digest = key_digest.lower()
        if not tenant:
            raise ValueError("an API key needs a tenant")
        if len(key_digest) != 64 or any(c not in "0123456789abcdef" for c in key_digest):
            raise ValueError(f"tenant {tenant!r}: a key digest must be 64 hex characters")
        self._by_digest[key_digest] = tenant

    def tenant_for(self, key: str) -> str | None:
        # Looking up the digest leaks nothing useful through timing: a caller
        # cannot steer the digest of what it presents towards a stored one.
        return self._by_digest.get(digest(key))

    def __len__(self) -> int:
        return len(self._by_digest)

    @classmethod
    def from_sources(cls, file: str = "", inline: str = "") -> KeyRing:
        """Keys from a TOML file ([[keys]] tenant, sha256) and an inline list
        of "tenant:key" or "tenant:sha256:<hex>" entries."""
        ring = cls()
        if file:
            with open(Path(file), "rb") as f:
                data = tomllib.load(f)
            for entry in data.get("keys", []):
                ring.add(str(entry.get("tenant", "")), str(entry.get("sha256", "")))
        for item in filter(None, (part.strip() for part in inline.split(","))):
            tenant, sep, secret = item.partition(":")
            if not sep or not secret:
                raise ValueError("inline API keys are 'tenant:key' or 'tenant:sha256:<hex>'")
            if secret.startswith("sha256:"):
                ring.add(tenant, secret.removeprefix("sha256:"))
            else:
                ring.add(tenant, digest(secret))
        return ring


class Authenticator:
    """Turns request metadata into an Identity, or refuses."""

    def __init__(
        self, keys: KeyRing, dev_mode: bool = False, public_reflection: bool = True
    ) -> None:
        if not dev_mode and not len(keys):
            raise ValueError(
                "no API keys are configured: set CODEACT_API_KEYS or CODEACT_API_KEYS_FILE, "
                "or ask for development mode without auth (--dev)"
            )
        self.keys = keys
        self.dev_mode = dev_mode
        self.public_prefixes = (
            (HEALTH_PREFIX, REFLECTION_PREFIX) if public_reflection else (HEALTH_PREFIX,)
        )

    def authenticate(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]]
    ) -> Identity | None:
        """The caller's identity; None for public methods; Unauthenticated otherwise."""
        if method.startswith(self.public_prefixes):
            return None
        if self.dev_mode:
            return Identity(DEV_TENANT, "dev")
        header = next((v for k, v in metadata if k == "authorization"), None)
        if header is None:
            raise Unauthenticated(
                "API_KEY_MISSING", "missing 'authorization: Bearer <api key>' metadata"
            )
        text = header.decode() if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("API_KEY_MALFORMED", "authorization must be 'Bearer <api key>'")
        tenant = self.keys.tenant_for(token.strip())
        if tenant is None:
            raise Unauthenticated("API_KEY_INVALID", "the API key is not valid")
        return Identity(tenant, "api_key", digest(token.strip())[:12])
