"""Who is calling: a bearer API key, a client certificate, or a signed
internal identity from another of our services.

Identity comes from credentials, never from request fields. Keys are held
only as SHA-256 digests; a presented token is hashed and looked up (keys in
the tenants file can expire or be revoked). Under mutual TLS a certificate
whose subject the tenants file maps to a tenant identifies that tenant. A
service calling another on a caller's behalf forwards the caller: a signed,
short-lived internal identity when the services share a secret, otherwise
the caller's own bearer key. The development mode, which trusts everyone as
tenant "dev", must be asked for.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeact.errors import Unauthenticated

from .tenants import TenantsSource

DEV_TENANT = "dev"
HEALTH_PREFIX = "/grpc.health.v1.Health/"
# Server reflection only describes the (public) contracts; it is public unless
# the settings ask otherwise, so that `buf curl` and grpcurl work with -H alone.
REFLECTION_PREFIX = "/grpc.reflection."


@dataclass(frozen=True)
class Identity:
    """The authenticated caller."""

    tenant: str
    # How the caller proved it: "api_key", "certificate", "internal" or "dev".
    method: str
    # A short digest prefix of the key, or the certificate subject.
    key_id: str = ""


INTERNAL_IDENTITY_KEY = "x-codeact-identity"
# A signed identity is good for this long: long enough for one downstream
# call (retries included), short enough that a leaked one is soon worthless.
INTERNAL_IDENTITY_TTL = 300.0


class InternalIdentity:
    """Signs and checks identities that our services pass to each other
    (HMAC-SHA256 over the tenant, method, key id and expiry)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the internal secret must be at least 16 bytes")
        self._secret = secret

    def sign(self, who: Identity, now: float | None = None) -> str:
        expires = (time.time() if now is None else now) + INTERNAL_IDENTITY_TTL
        body = {"t": who.tenant, "m": who.method, "k": who.key_id, "e": round(expires, 3)}
        payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload.decode()}.{self._mac(payload)}"

    def verify(self, token: str, now: float | None = None) -> Identity:
        payload, _, mac = token.strip().rpartition(".")
        if not payload or not hmac.compare_digest(mac, self._mac(payload.encode())):
            raise Unauthenticated(
                "INTERNAL_IDENTITY_INVALID", "the internal identity's signature does not match"
            )
        try:
            body = json.loads(base64.urlsafe_b64decode(payload.encode()))
            tenant, method, key_id, expires = body["t"], body["m"], body["k"], float(body["e"])
        except (ValueError, KeyError, TypeError):
            raise Unauthenticated(
                "INTERNAL_IDENTITY_INVALID", "the internal identity cannot be read"
            ) from None
        if expires <= (time.time() if now is None else now):
            raise Unauthenticated("INTERNAL_IDENTITY_EXPIRED", "the internal identity has expired")
        method = str(method)
        # Vouched for once or through several services, it is still "internal".
        if not method.startswith("internal:"):
            method = f"internal:{method}"
        return Identity(str(tenant), method, str(key_id))

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of the RPC being served, with what it takes to
    act on its behalf downstream."""

    identity: Identity
    # The caller's own "Bearer ..." header, if it came with one.
    credential: str | None = None
    internal: InternalIdentity | None = None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata that carries this caller to another of our services."""
        if self.internal is not None:
            return ((INTERNAL_IDENTITY_KEY, self.internal.sign(self.identity)),)
        if self.credential:
            return (("authorization", self.credential),)
        raise Unauthenticated(
            "INTERNAL_IDENTITY_UNAVAILABLE",
            f"the caller proved itself with a {self.identity.method} and this service has no "
            "internal_secret to vouch for it downstream",
        )


current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "current_caller", default=None
)


def forwarded_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata that carries the current caller to another service."""
    caller = current_caller.get()
    return caller.metadata() if caller is not None else ()


def identity() -> Identity:
    """The caller of the RPC being served (set by the chassis)."""
    found = current_caller.get()
    if found is None:
        raise Unauthenticated("UNAUTHENTICATED", "no authenticated caller")
    return found.identity


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


AuthContext = Callable[[], Mapping[str, Sequence[bytes]]]


class Authenticator:
    """Turns request metadata (and the TLS peer) into an Identity, or refuses."""

    def __init__(
        self,
        keys: KeyRing,
        dev_mode: bool = False,
        public_reflection: bool = True,
        tenants: TenantsSource | None = None,
        internal: InternalIdentity | None = None,
        internal_peers: Sequence[str] = (),
        certificates: bool = False,
    ) -> None:
        self.keys = keys
        self.tenants = tenants or TenantsSource(None)
        self.internal = internal
        self.internal_peers = frozenset(internal_peers)
        self.dev_mode = dev_mode
        if not dev_mode and not (len(keys) or tenants is not None or internal or certificates):
            raise ValueError(
                "no API keys are configured: set CODEACT_API_KEYS, CODEACT_API_KEYS_FILE or "
                "a tenants file, or ask for development mode without auth (--dev)"
            )
        self.public_prefixes = (
            (HEALTH_PREFIX, REFLECTION_PREFIX) if public_reflection else (HEALTH_PREFIX,)
        )

    def authenticate(
        self,
        method: str,
        metadata: Sequence[tuple[str, str | bytes]],
        peer: AuthContext | None = None,
    ) -> Identity | None:
        """The caller's identity; None for public methods; Unauthenticated otherwise.

        A bearer key wins over the certificate (an internal service's
        certificate says nothing of the tenant it calls for); a signed
        internal identity wins over both."""
        if method.startswith(self.public_prefixes):
            return None
        if self.dev_mode:
            return Identity(DEV_TENANT, "dev")
        signed = header = None
        for key, value in metadata:
            if key == INTERNAL_IDENTITY_KEY:
                signed = value
            elif key == "authorization":
                header = value
        if signed is not None:
            return self._internal(signed, peer)
        if header is not None:
            return self._api_key(header)
        subjects = _subjects(peer() if peer is not None else {})
        if subjects:
            return self._certificate(subjects)
        raise Unauthenticated(
            "API_KEY_MISSING", "missing 'authorization: Bearer <api key>' metadata"
        )

    def _api_key(self, header: str | bytes) -> Identity:
        text = header.decode() if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("API_KEY_MALFORMED", "authorization must be 'Bearer <api key>'")
        key_digest = digest(token)
        tenant = self.keys.tenant_for(token)
        if tenant is not None:
            return Identity(tenant, "api_key", key_digest[:12])
        entry = self.tenants.current().keys.get(key_digest)
        if entry is None:
            raise Unauthenticated("API_KEY_INVALID", "the API key is not valid")
        if entry.revoked:
            raise Unauthenticated(
                "API_KEY_REVOKED", "the API key was revoked", metadata={"key_id": entry.id}
            )
        if entry.expires is not None and entry.expires <= time.time():
            raise Unauthenticated(
                "API_KEY_EXPIRED", "the API key has expired", metadata={"key_id": entry.id}
            )
        return Identity(entry.tenant, "api_key", entry.id or key_digest[:12])

    def _certificate(self, subjects: Sequence[str]) -> Identity:
        mapping = self.tenants.current().certificates
        for subject in subjects:
            tenant = mapping.get(subject)
            if tenant is not None:
                return Identity(tenant, "certificate", subject)
        raise Unauthenticated(
            "CERTIFICATE_NOT_MAPPED",
            f"the client certificate ({subjects[0]}) is not mapped to a tenant; "
            "present an API key or map the certificate in the tenants file",
            metadata={"subject": subjects[0]},
        )

    def _internal(self, token: str | bytes, peer: AuthContext | None) -> Identity:
        if self.internal is None:
            raise Unauthenticated(
                "INTERNAL_IDENTITY_UNTRUSTED",
                "this service accepts no internal identities (no internal_secret is set)",
            )
        if self.internal_peers:
            subjects = _subjects(peer() if peer is not None else {})
            if not self.internal_peers.intersection(subjects):
                raise Unauthenticated(
                    "INTERNAL_PEER_UNTRUSTED",
                    "internal identities are accepted only over mTLS from our services",
                )
        return self.internal.verify(token.decode() if isinstance(token, bytes) else token)


def _subjects(context: Mapping[str, Sequence[bytes]]) -> list[str]:
    """The verified client certificate's names: common name, then SANs."""
    names = [
        *context.get("x509_common_name", ()),
        *context.get("x509_subject_alternative_name", ()),
    ]
    return [n.decode(errors="replace") for n in names]
