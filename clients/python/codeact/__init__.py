"""codeact: the Python client of the CodeAct platform."""

from . import events
from .agent import OUTCOMES, AgentClient, AgentSession
from .client import Client
from .errors import CodeActError
from .executor import Bundle, CellError, CellResult, ExecutorClient, Session, Status
from .memory import MemoryClient, condenser
from .policy import PolicyClient
from .settings import ConnectionSettings, KeepAliveConfig, TLSConfig

__all__ = [
    "OUTCOMES",
    "AgentClient",
    "AgentSession",
    "Bundle",
    "CellError",
    "CellResult",
    "Client",
    "CodeActError",
    "ConnectionSettings",
    "ExecutorClient",
    "KeepAliveConfig",
    "MemoryClient",
    "PolicyClient",
    "Session",
    "Status",
    "TLSConfig",
    "condenser",
    "events",
]
