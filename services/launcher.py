"""`codeact-server`: run one service, or all five on loopback.

    codeact-server up [--dev] [--config FILE]   all services, one process each
    codeact-server <service> [flags]            one service (see --help)

`up` waits until every service answers its health check, prints where each
listens, and on SIGTERM or Ctrl-C drains them all. If one dies, it stops
the others and exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import settings as settings_mod
from services.common.channels import channel_credentials, channel_options
from services.common.settings import ServerSettings, SettingsError

SERVICES = ("agent", "planner", "policy", "executor", "memory")
_SETTINGS = {
    "agent": "services.agent.settings:AgentSettings",
    "planner": "services.planner.settings:PlannerSettings",
    "policy": "services.policy.settings:PolicySettings",
    "executor": "services.executor.settings:ExecutorSettings",
    "memory": "services.memory.settings:MemorySettings",
}


# Settings naming another service's address: `up` points them at the
# instance it starts unless they were set to something else.
LINKS = {
    ("memory", "planner_target"): "planner",
    ("agent", "planner_target"): "planner",
    ("agent", "policy_target"): "policy",
    ("agent", "executor_target"): "executor",
    ("agent", "memory_target"): "memory",
}


def settings_class(service: str) -> type[ServerSettings]:
    module, _, name = _SETTINGS[service].partition(":")
    cls: type[ServerSettings] = getattr(importlib.import_module(module), name)
    return cls


def wait_healthy(
    address: str,
    timeout: float,
    child: subprocess.Popen[bytes] | None = None,
    settings: ServerSettings | None = None,
) -> bool:
    """Poll grpc.health.v1 until SERVING, the timeout, or the child's exit
    (so a port already taken by someone else is not mistaken for ours).
    Over TLS when the service's settings turn it on, as one of our services
    would call it."""
    deadline = time.monotonic() + timeout
    credentials = channel_credentials(settings) if settings is not None else None
    if credentials is None:
        channel = grpc.insecure_channel(address)
    else:
        assert settings is not None
        channel = grpc.secure_channel(address, credentials, channel_options(settings))
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return False
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    return False


def _stop_all(children: dict[str, subprocess.Popen[bytes]], grace: float) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def up(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="codeact-server up", description="Run all services.")
    parser.add_argument("--dev", action="store_true", help="development mode: no authentication")
    parser.add_argument("--config", help="TOML settings file (default: $CODEACT_CONFIG)")
    parser.add_argument("--only", help="comma-separated subset of services to start")
    parser.add_argument("--startup-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",")] if args.only else list(SERVICES)
    unknown = set(wanted) - set(SERVICES)
    if unknown:
        parser.error(f"unknown services: {', '.join(sorted(unknown))}")
    overrides = {"dev_mode": True} if args.dev else {}
    addresses: dict[str, str] = {}
    loaded: dict[str, ServerSettings] = {}
    try:
        for name in wanted:
            cfg = settings_mod.load(settings_class(name), args.config, overrides=overrides)
            loaded[name] = cfg
            addresses[name] = f"{cfg.host}:{cfg.port}"
    except SettingsError as exc:
        print(f"codeact-server up: {exc}", file=sys.stderr)
        return 2
    env = os.environ.copy()
    for (name, field), target in LINKS.items():
        if name in loaded and target in addresses:
            default = getattr(settings_class(name), field)
            if getattr(loaded[name], field) == default:
                env[f"CODEACT_{name.upper()}_{field.upper()}"] = addresses[target]
    extra = (["--dev"] if args.dev else []) + (["--config", args.config] if args.config else [])
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for name in wanted:
        children[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}", *extra], env=env
        )
    for name in wanted:
        if not wait_healthy(addresses[name], args.startup_timeout, children[name], loaded[name]):
            print(
                f"codeact-server up: {name} did not become healthy on {addresses[name]}",
                file=sys.stderr,
            )
            _stop_all(children, 5.0)
            return 1
    first = loaded[wanted[0]]
    transport = "mTLS" if first.tls_require_client_cert else "TLS" if first.tls_cert_file else ""
    mode = "development mode, no auth" if args.dev else "API keys required"
    mode = f"{transport}, {mode}" if transport else mode
    print(f"codeact: {len(wanted)} services up ({mode})", flush=True)
    for name in wanted:
        print(f"  {name:<9} {addresses[name]}", flush=True)
    code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"codeact-server up: {name} exited with {child.returncode}", file=sys.stderr)
                stopping, code = True, 1
        time.sleep(0.2)
    _stop_all(children, 15.0)
    return code


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    if command == "up":
        raise SystemExit(up(rest))
    if command in SERVICES:
        module = importlib.import_module(f"services.{command}.__main__")
        module.main(rest)
        return
    print(f"codeact-server: unknown command {command!r}\n{__doc__}", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    main()
