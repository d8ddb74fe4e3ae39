"""Command line of one service: flags over settings, logging, serve."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from . import settings as settings_mod
from .logging import configure_logging
from .server import Service, serve
from .settings import ServerSettings, SettingsError

S = TypeVar("S", bound=ServerSettings)


def parser_for(service: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"codeact-server {service}", description=f"Run the {service} service."
    )
    parser.add_argument("--config", help="TOML settings file (default: $CODEACT_CONFIG)")
    parser.add_argument("--host", help="address to listen on")
    parser.add_argument("--port", type=int, help="gRPC port")
    parser.add_argument("--metrics-port", type=int, help="Prometheus port (0 any, -1 off)")
    parser.add_argument(
        "--dev", action="store_true", default=None, help="development mode: no authentication"
    )
    return parser


def load_settings(cls: type[S], argv: Sequence[str] | None) -> S:
    args = parser_for(cls.service).parse_args(argv)
    return settings_mod.load(
        cls,
        args.config,
        overrides={
            "host": args.host,
            "port": args.port,
            "metrics_port": args.metrics_port,
            "dev_mode": args.dev,
        },
    )


def run(cls: type[S], build: Callable[[S], Service], argv: Sequence[str] | None = None) -> None:
    """Parse flags, load settings, configure logging and serve until SIGTERM."""
    try:
        settings = load_settings(cls, argv)
        configure_logging(settings.log_level, settings.log_format, cls.service)
        service = build(settings)
        asyncio.run(serve(settings, service))
    except (SettingsError, ValueError) as exc:
        print(f"codeact-server {cls.service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
