"""`codeact` subcommands for the services one by one: sandbox sessions,
running code, checking code, inspecting conversations. Each prints for a
person by default and JSON with --json (one object per line for streams)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from .client import Client
from .executor import CellResult
from .policy import DECISIONS
from .v1 import common_pb2, events_pb2

SEVERITIES = {
    common_pb2.SEVERITY_INFO: "info",
    common_pb2.SEVERITY_WARNING: "warning",
    common_pb2.SEVERITY_ERROR: "error",
}


def as_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def emit(value: Any) -> None:
    print(json.dumps(value, separators=(",", ":")), flush=True)


# --- sessions -------------------------------------------------------------------
def sessions(client: Client, args: argparse.Namespace) -> int:
    executor = client.executor
    if args.action == "create":
        limits = {"memory_bytes": args.memory} if args.memory else None
        session = executor.create_session(limits=limits)
        if args.json:
            emit(as_json(session.info))
        else:
            print(session.id)
    elif args.action == "list":
        found = executor.list_sessions()
        if args.json:
            emit([as_json(s) for s in found])
        else:
            for s in found:
                print(f"{s.id}  cells={s.execution_count}  mem={s.limits.memory_bytes >> 20}MiB")
    else:
        for session_id in args.ids:
            executor.get_session(session_id).delete()
            print(json.dumps({"deleted": session_id}) if args.json else f"deleted {session_id}")
    return 0


# --- exec -----------------------------------------------------------------------
def execute(client: Client, args: argparse.Namespace) -> int:
    """Run a file (or stdin) in a session, streaming its output."""
    code = sys.stdin.read() if args.file in (None, "-") else Path(args.file).read_text()
    language = common_pb2.LANGUAGE_BASH if args.bash else common_pb2.LANGUAGE_PYTHON
    session = (
        client.executor.get_session(args.session)
        if args.session
        else client.executor.create_session()
    )
    result = CellResult()
    images = 0
    try:
        for event in session.stream(code, language=language):
            result.add(event)
            kind = event.WhichOneof("event")
            if args.json:
                emit(as_json(event))
            elif kind == "output":
                stream = sys.stderr if event.output.name == 2 else sys.stdout
                stream.write(event.output.text)
                stream.flush()
            elif kind == "error":
                sys.stderr.write("".join(event.error.traceback))
            elif kind == "result":
                print(event.result.data.text.get("text/plain", ""))
            if kind in ("display", "result"):
                bundle = event.display.data if kind == "display" else event.result.data
                for mime, data in bundle.binary.items():
                    images += 1
                    path = _save(args.images, images, mime, data)
                    if not args.json:
                        print(f"[{mime} saved to {path}]")
    finally:
        if not args.session and not args.keep:
            session.delete()
        elif args.keep and not args.json:
            print(f"session kept: {session.id}", file=sys.stderr)
    return 0 if result.ok else 1


def _save(directory: Path, index: int, mime: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"output-{index}.{mime.split('/')[-1].split('+')[0]}"
    path.write_bytes(data)
    return path


# --- check ----------------------------------------------------------------------
def check(client: Client, args: argparse.Namespace) -> int:
    """Lint files with the policy service; exit 1 when any is denied."""
    denied = False
    reports = []
    for name in args.files:
        code = sys.stdin.read() if name == "-" else Path(name).read_text()
        reply = client.policy.check(code, args.profile)
        decision = DECISIONS.get(reply.decision, "UNSPECIFIED")
        denied |= decision == "DENY"
        if args.json:
            reports.append({"file": name, **as_json(reply)})
            continue
        for f in reply.findings:
            hint = f" (did you mean: {', '.join(f.suggestions)})" if f.suggestions else ""
            severity = SEVERITIES.get(f.severity, "info")
            print(f"{name}:{f.line}:{f.column + 1}: {severity} [{f.rule_id}] {f.message}{hint}")
        print(f"{name}: {decision} ({reply.profile_name})")
    if args.json:
        emit(reports)
    return 1 if denied else 0


# --- memory ---------------------------------------------------------------------
def memory(client: Client, args: argparse.Namespace) -> int:
    if args.action == "list":
        found = list(client.memory.conversations())
        if args.json:
            emit([as_json(c) for c in found])
        else:
            for c in found:
                labels = ",".join(f"{k}={v}" for k, v in sorted(c.labels.items()))
                print(f"{c.id}  events={c.event_count}  tokens={c.token_count}  {labels}")
    elif args.action == "show":
        events = list(client.memory.events(args.id))
        if args.json:
            emit([as_json(e) for e in events])
        else:
            for event in events:
                print(f"{event.id}  {_summary(event)}")
    else:
        context = client.memory.context(args.id, token_budget=args.budget)
        if args.json:
            emit(as_json(context))
        else:
            for m in context.messages:
                role = common_pb2.Role.Name(m.role).removeprefix("ROLE_").lower()
                print(f"--- {role}\n{m.content}")
            print(f"({context.token_count} tokens for {context.event_count} events)")
    return 0


def _summary(event: events_pb2.Event) -> str:
    kind = event.WhichOneof("payload") or "?"
    payload = getattr(event, kind) if kind != "?" else None
    text = ""
    for field in ("text", "code", "answer", "stdout", "message", "summary", "reason"):
        if payload is not None and hasattr(payload, field) and getattr(payload, field):
            text = str(getattr(payload, field))
            break
    one_line = " ".join(text.split())
    return f"{kind}: {one_line[:100]}" if one_line else kind


# --- completion -----------------------------------------------------------------
def completion(parser: argparse.ArgumentParser, shell: str) -> str:
    """A completion script for bash or zsh (zsh through bashcompinit)."""
    words: dict[str, list[str]] = {}
    top: list[str] = []
    for action in parser._actions:  # argparse keeps its subcommands here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                top.append(name)
                words[name] = _options(sub._option_string_actions, sub._actions)
    cases = "\n".join(
        f'        {name}) COMPREPLY=($(compgen -W "{" ".join(opts)}" -- "$cur"));;'
        for name, opts in words.items()
    )
    script = f"""_codeact() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "{" ".join(top)}" -- "$cur")); return
    fi
    case "${{COMP_WORDS[1]}}" in
{cases}
    esac
}}
complete -o default -F _codeact codeact
"""
    if shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    return script


def _options(strings: dict[str, argparse.Action], actions: Iterable[argparse.Action]) -> list[str]:
    names = sorted(s for s in strings if s.startswith("--"))
    for action in actions:
        if action.choices and not action.option_strings:
            names += [str(c) for c in action.choices]
    return names
