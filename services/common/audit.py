"""The audit trail: who did what to which resource, as JSON lines.

Separate from the request log on purpose: an operator keeps it longer,
ships it elsewhere, and it records facts (a session was created, a cell ran,
code was denied, a caller was refused), not traffic. Each record names the
service, the tenant, the principal (how the caller proved itself) and the
request id, so it joins the request log. Cells are recorded by hash and
size; their source only when the operator (or the tenant's configuration)
asks for it.
"""

from __future__ import annotations

import contextvars
import datetime
import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from .auth import current_caller
from .settings import ServerSettings
from .tenants import TenantsSource

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default=""
)


class AuditLog:
    """Appends audit records to a file (or the log stream, standard error)."""

    def __init__(
        self,
        service: str,
        path: str = "",
        cell_content: bool = False,
        tenants: TenantsSource | None = None,
    ) -> None:
        self.service = service
        self.path = path
        self.cell_content = cell_content
        self.tenants = tenants
        self._lock = threading.Lock()
        self._out: TextIO | None = None

    def record(self, event: str, tenant: str | None = None, **fields: Any) -> None:
        caller = current_caller.get()
        if tenant is None:
            tenant = caller.identity.tenant if caller is not None else ""
        entry = {
            "ts": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "audit": event,
            "service": self.service,
            "tenant": tenant,
            "request_id": current_request_id.get(),
        }
        if caller is not None:
            entry["principal"] = f"{caller.identity.method}:{caller.identity.key_id}"
        entry.update(fields)
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            out = self._stream()
            out.write(line)
            out.flush()

    def cell(self, tenant: str, session_id: str, code: str, language: str, **fields: Any) -> None:
        """An executed cell: its hash and size, and its source if enabled."""
        data = code.encode()
        extra: dict[str, Any] = {}
        if self._content_for(tenant):
            extra["code"] = code
        self.record(
            "cell.executed",
            tenant,
            session_id=session_id,
            language=language,
            code_sha256=hashlib.sha256(data).hexdigest(),
            code_bytes=len(data),
            **extra,
            **fields,
        )

    def _content_for(self, tenant: str) -> bool:
        if self.tenants is not None:
            own = self.tenants.current().get(tenant).audit_cell_content
            if own is not None:
                return own
        return self.cell_content

    def _stream(self) -> TextIO:
        if not self.path:
            # The log stream, as it is now (never a stream cached from the past).
            return sys.stderr
        if self._out is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        return self._out

    def close(self) -> None:
        with self._lock:
            if self._out is not None:
                self._out.close()
            self._out = None


def audit_log(settings: ServerSettings, service: str, tenants: TenantsSource) -> AuditLog:
    """The service's audit log, as its settings say."""
    return AuditLog(service, settings.audit_file, settings.audit_cell_content, tenants)
