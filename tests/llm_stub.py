"""An OpenAI-compatible HTTP stub: the only fake in the tests, at the network
boundary where a real model would be. It replays scripted replies to
POST /v1/chat/completions (plain or streamed) and records every request."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: text, tool calls, or an HTTP error."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    # The error message of a non-200 reply, as the endpoint would word it.
    error_message: str = "stub error"
    delay: float = 0.0
    # Raw body to send instead (malformed JSON, for instance).
    raw: bytes | None = None
    # Stop a streamed reply after this many chunks (a truncated stream).
    truncate_after: int | None = None
    prompt_tokens: int = 11
    completion_tokens: int = 7


class LLMStub:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default = Reply(content="(stub) nothing scripted")
        # When nothing is scripted: a function of the request body (for load,
        # where many tasks run at once and a shared script would interleave).
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        stub = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as real endpoints do (a streamed reply closes its connection).
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without this, Nagle's
            # algorithm and delayed ACKs add 40 ms to every kept-alive request.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test)

            def _answer(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers)}
                )
                if stub.replies:
                    reply = stub.replies.popleft()
                elif stub.responder is not None:
                    reply = stub.responder(body)
                else:
                    reply = stub.default
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    error = {"message": reply.error_message, "type": "server"}
                    self._send(reply.status, {"error": error})
                elif reply.raw is not None:
                    self._send_raw(200, reply.raw)
                elif body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._send(200, _completion(body, reply))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                self._send_raw(status, json.dumps(payload).encode())

            def _send_raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                chunks = _stream_chunks(body, reply)
                if reply.truncate_after is not None:
                    chunks = chunks[: reply.truncate_after]
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if reply.truncate_after is None:
                    self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def start(self) -> LLMStub:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (the port then refuses connections); safe to call twice."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        """Forget the script and the recorded requests (between tests)."""
        self.replies.clear()
        self.requests.clear()
        self.default = Reply(content="(stub) nothing scripted")
        self.responder = None

    def script(self, *replies: Reply | str) -> None:
        for reply in replies:
            self.replies.append(Reply(content=reply) if isinstance(reply, str) else reply)


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.get("id", f"call_{i}"),
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(reply),
    }


def _stream_chunks(body: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    words = reply.content.split(" ") if reply.content else []
    for i, word in enumerate(words):
        chunks.append(chunk({"content": word if i == 0 else " " + word}))
    for i, call in enumerate(reply.tool_calls):
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call.get("id", f"call_{i}"),
                            "type": "function",
                            "function": {
                                "name": call["name"],
                                "arguments": json.dumps(call["arguments"]),
                            },
                        }
                    ]
                }
            )
        )
    last = chunk({}, "tool_calls" if reply.tool_calls else "stop")
    last["usage"] = _usage(reply)
    chunks.append(last)
    return chunks
