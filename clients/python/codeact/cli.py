"""`codeact`: run a task through the agent, or measure a model on a suite.

    codeact run "Plot the first 10 Fibonacci numbers"
    codeact eval [SUITE ...]        (default: the packaged example suite)

The agent's address comes from --target or $CODEACT_TARGET (default
127.0.0.1:50051), the key from --token or $CODEACT_API_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .client import Client
from .console import Printer
from .errors import CodeActError
from .evals import PACKAGED_SUITE, load_suite, run_suite
from .settings import TLSConfig
from .v1 import agent_pb2, common_pb2


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=os.environ.get("CODEACT_TARGET", "127.0.0.1:50051"))
    parser.add_argument("--token", default=None, help="API key (default: $CODEACT_API_KEY)")
    parser.add_argument("--tls-ca", default=None, help="CA of the server (turns TLS on)")
    parser.add_argument("--tls-cert", default=None, help="client certificate, for mTLS")
    parser.add_argument("--tls-key", default=None, help="the client certificate's key")
    parser.add_argument("--profile", default="", help="agent profile name (server default)")
    parser.add_argument("--model", default="", help="model name at the endpoint")
    parser.add_argument("--text-mode", action="store_true", help="code blocks instead of tools")
    parser.add_argument("--max-iterations", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per task")


def _profile(args: argparse.Namespace) -> agent_pb2.AgentProfile | None:
    profile = agent_pb2.AgentProfile(max_iterations=args.max_iterations)
    if args.model:
        profile.model.model = args.model
    if args.text_mode:
        profile.model.mode = common_pb2.ACTION_MODE_TEXT
    return profile if profile.ByteSize() else None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="codeact", description=__doc__.split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one task and show its steps")
    run.add_argument("task")
    _connection(run)
    run.add_argument("--images", type=Path, default=Path("codeact-images"), help="where figures go")
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    evaluate = commands.add_parser("eval", help="success rate and turns on a task suite")
    evaluate.add_argument("suite", nargs="*", type=Path, help="task files or directories")
    _connection(evaluate)
    evaluate.add_argument(
        "--executor",
        default=os.environ.get("CODEACT_EXECUTOR_TARGET", "127.0.0.1:50054"),
        help="the executor, to define each task's tools in the agent's sandbox",
    )
    return root


def _tls(args: argparse.Namespace) -> TLSConfig | None:
    """TLS from the flags, else from $CODEACT_TLS_* (None: plaintext)."""
    if not (args.tls_ca or args.tls_cert or args.tls_key):
        return TLSConfig.from_env()
    return TLSConfig(ca_file=args.tls_ca, cert_file=args.tls_cert, key_file=args.tls_key)


def run_task(args: argparse.Namespace) -> int:
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    printer = Printer(sys.stdout, color, args.images)
    outcome = agent_pb2.TASK_OUTCOME_UNSPECIFIED
    with (
        Client(args.target, token=args.token, tls=_tls(args), timeout=60) as client,
        client.agent.create_session(args.profile, _profile(args)) as session,
    ):
        for event in session.run(args.task, timeout=args.timeout):
            printer.show(event)
            if event.WhichOneof("event") == "end":
                outcome = event.end.outcome
    return 0 if outcome == agent_pb2.TASK_OUTCOME_FINISHED else 1


def evaluate(args: argparse.Namespace) -> int:
    tasks = load_suite(args.suite or [PACKAGED_SUITE])
    passed = turns = 0
    with (
        Client(args.target, token=args.token, tls=_tls(args), timeout=60) as client,
        Client(args.executor, token=args.token, tls=_tls(args), timeout=60) as executor,
    ):
        results = run_suite(
            tasks, client.agent, executor.executor, args.profile, _profile(args), args.timeout
        )
        for result in results:
            passed += result.success
            turns += result.turns
            mark = "PASS" if result.success else "FAIL"
            print(
                f"{mark} {result.task.name}: {result.turns} turns, {result.outcome}, "
                f"answer {result.answer!r} (expected {result.task.answer!r})",
                flush=True,
            )
    rate = passed / len(tasks)
    print(
        f"success rate {passed}/{len(tasks)} = {rate:.1%}; average turns {turns / len(tasks):.1f}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = run_task(args) if args.command == "run" else evaluate(args)
    except CodeActError as exc:
        print(f"codeact: {exc}", file=sys.stderr)
        code = 2
    except (ValueError, OSError) as exc:
        print(f"codeact: {exc}", file=sys.stderr)
        code = 2
    raise SystemExit(code)


if __name__ == "__main__":
    main()
