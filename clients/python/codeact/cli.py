"""`codeact`: the CodeAct platform from the command line.

    codeact run "Plot the first 10 Fibonacci numbers"   a task through the agent
    codeact eval [SUITE ...]                              a model on a task suite
    codeact sessions list | create | delete ID...         sandbox sessions
    codeact exec [FILE|-] [--session ID] [--bash]         run code, streaming output
    codeact check FILE... [--profile strict]              lint code with the policy service
    codeact memory list | show ID | context ID            conversations
    codeact completion bash|zsh                           shell completion

Each command takes --target (the service it talks to; the agent is
$CODEACT_TARGET or 127.0.0.1:50051, the others $CODEACT_<SERVICE>_TARGET or
their default port), --token (or $CODEACT_API_KEY), --tls-* and --json.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import commands
from .client import Client
from .console import Printer
from .errors import CodeActError
from .evals import PACKAGED_SUITE, load_suite, run_suite
from .settings import TLSConfig
from .v1 import agent_pb2, common_pb2

DEFAULT_TARGETS = {
    "agent": ("CODEACT_TARGET", "127.0.0.1:50051"),
    "policy": ("CODEACT_POLICY_TARGET", "127.0.0.1:50053"),
    "executor": ("CODEACT_EXECUTOR_TARGET", "127.0.0.1:50054"),
    "memory": ("CODEACT_MEMORY_TARGET", "127.0.0.1:50055"),
}


def _connection(parser: argparse.ArgumentParser, service: str = "agent") -> None:
    variable, default = DEFAULT_TARGETS[service]
    parser.add_argument("--target", default=os.environ.get(variable, default))
    parser.add_argument("--token", default=None, help="API key (default: $CODEACT_API_KEY)")
    parser.add_argument("--tls-ca", default=None, help="CA of the server (turns TLS on)")
    parser.add_argument("--tls-cert", default=None, help="client certificate, for mTLS")
    parser.add_argument("--tls-key", default=None, help="the client certificate's key")
    parser.add_argument("--json", action="store_true", help="JSON output (lines for streams)")


def _agent_options(parser: argparse.ArgumentParser) -> None:
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
    root = argparse.ArgumentParser(
        prog="codeact",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one task and show its steps")
    run.add_argument("task")
    _connection(run)
    _agent_options(run)
    run.add_argument("--images", type=Path, default=Path("codeact-images"), help="where figures go")
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    evaluate = commands.add_parser("eval", help="success rate and turns on a task suite")
    evaluate.add_argument("suite", nargs="*", type=Path, help="task files or directories")
    _connection(evaluate)
    _agent_options(evaluate)
    evaluate.add_argument(
        "--executor",
        default=os.environ.get("CODEACT_EXECUTOR_TARGET", "127.0.0.1:50054"),
        help="the executor, to define each task's tools in the agent's sandbox",
    )
    sessions = commands.add_parser("sessions", help="sandbox sessions on the executor")
    sessions.add_argument("action", choices=("list", "create", "delete"))
    sessions.add_argument("ids", nargs="*", help="sessions to delete")
    sessions.add_argument("--memory", type=int, default=0, help="bytes of memory (create)")
    _connection(sessions, "executor")
    execute = commands.add_parser("exec", help="run a file (or stdin) in a sandbox session")
    execute.add_argument("file", nargs="?", help="Python (or bash) source; - or none for stdin")
    execute.add_argument("--session", help="an existing session (default: a new one)")
    execute.add_argument("--keep", action="store_true", help="keep the new session afterwards")
    execute.add_argument("--bash", action="store_true", help="run it as bash")
    execute.add_argument("--images", type=Path, default=Path("codeact-images"))
    _connection(execute, "executor")
    check = commands.add_parser("check", help="check files with the policy service")
    check.add_argument("files", nargs="+", help="Python files; - for stdin")
    check.add_argument("--profile", default="", help="policy profile (server default)")
    _connection(check, "policy")
    memory = commands.add_parser("memory", help="inspect conversations")
    memory.add_argument("action", choices=("list", "show", "context"))
    memory.add_argument("id", nargs="?", help="a conversation (show, context)")
    memory.add_argument("--budget", type=int, default=0, help="token budget (context)")
    _connection(memory, "memory")
    complete = commands.add_parser("completion", help="print a shell completion script")
    complete.add_argument("shell", choices=("bash", "zsh"))
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
            if args.json:
                commands.emit(commands.as_json(event))
            else:
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
            if args.json:
                commands.emit(
                    {
                        "task": result.task.name,
                        "success": result.success,
                        "turns": result.turns,
                        "outcome": result.outcome,
                        "answer": result.answer,
                        "expected": result.task.answer,
                    }
                )
                continue
            print(
                f"{mark} {result.task.name}: {result.turns} turns, {result.outcome}, "
                f"answer {result.answer!r} (expected {result.task.answer!r})",
                flush=True,
            )
    rate = passed / len(tasks)
    summary = f"success rate {passed}/{len(tasks)} = {rate:.1%}; "
    summary += f"average turns {turns / len(tasks):.1f}"
    if args.json:
        commands.emit({"passed": passed, "tasks": len(tasks), "average_turns": turns / len(tasks)})
    else:
        print(summary)
    return 0


COMMANDS = {
    "sessions": commands.sessions,
    "exec": commands.execute,
    "check": commands.check,
    "memory": commands.memory,
}


def main(argv: Sequence[str] | None = None) -> None:
    root = parser()
    args = root.parse_args(argv)
    if args.command == "completion":
        print(commands.completion(root, args.shell), end="")
        raise SystemExit(0)
    if args.command == "memory" and args.action != "list" and not args.id:
        root.error(f"memory {args.action} needs a conversation id")
    try:
        if args.command in COMMANDS:
            with Client(args.target, token=args.token, tls=_tls(args), timeout=60) as client:
                code = COMMANDS[args.command](client, args)
        else:
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
