"""Command line of one service: flags over settings, logging, serve."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
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
        workers = int(getattr(settings, "workers", 1))
        if workers > 1:
            raise SystemExit(_run_workers(settings, build, workers))
        service = build(settings)
        asyncio.run(serve(settings, service))
    except (SettingsError, ValueError) as exc:
        print(f"codeact-server {cls.service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _run_workers(settings: S, build: Callable[[S], Service], workers: int) -> int:
    """Fork worker processes that serve the same port; drain them on SIGTERM.
    If one dies, stop the rest (the supervisor restarts the whole service)."""
    if settings.port == 0:
        raise ValueError("workers > 1 needs a fixed port")
    children = []
    for index in range(workers):
        pid = os.fork()
        if pid == 0:
            metrics = settings.metrics_port
            if metrics > 0:
                metrics += index  # one metrics port per worker
            worker = dataclasses.replace(settings, metrics_port=metrics)
            try:
                asyncio.run(serve(worker, build(worker), reuse_port=True))
            finally:
                os._exit(0)
        children.append(pid)
    stopping = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        children.remove(pid)
        if not stopping:
            code = 1
            forward(signal.SIGTERM, None)
    return code
