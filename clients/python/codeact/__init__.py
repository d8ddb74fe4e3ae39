"""codeact: the Python client of the CodeAct platform."""

from .client import Client
from .errors import CodeActError
from .executor import Bundle, CellError, CellResult, ExecutorClient, Session, Status
from .policy import PolicyClient
from .settings import ConnectionSettings, KeepAliveConfig, TLSConfig

__all__ = [
    "Bundle",
    "CellError",
    "CellResult",
    "Client",
    "CodeActError",
    "ConnectionSettings",
    "ExecutorClient",
    "KeepAliveConfig",
    "PolicyClient",
    "Session",
    "Status",
    "TLSConfig",
]
