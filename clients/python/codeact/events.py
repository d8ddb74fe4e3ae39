"""Builders of trajectory events, for MemoryClient.append.

    from codeact import events
    memory.append(conversation_id, events.user("Plot the data", key="task"),
                  events.python("df.plot()", key="step-1"))

`key` is the idempotency key: appending an event with a key already stored in
the conversation returns the stored event instead of adding a copy.
"""

from __future__ import annotations

from .v1 import events_pb2, executor_pb2

Event = events_pb2.Event


def system(text: str, key: str = "") -> Event:
    return Event(system_prompt=events_pb2.SystemPrompt(text=text), idempotency_key=key)


def user(text: str, key: str = "") -> Event:
    return Event(user_message=events_pb2.UserMessage(text=text), idempotency_key=key)


def thought(text: str, key: str = "") -> Event:
    return Event(thought=events_pb2.Thought(text=text), idempotency_key=key)


def python(code: str, key: str = "", tool_call_id: str = "") -> Event:
    action = events_pb2.CodeAction(
        tool=events_pb2.TOOL_EXECUTE_PYTHON, code=code, tool_call_id=tool_call_id
    )
    return Event(action=action, idempotency_key=key)


def bash(command: str, key: str = "", tool_call_id: str = "") -> Event:
    action = events_pb2.CodeAction(
        tool=events_pb2.TOOL_EXECUTE_BASH, code=command, tool_call_id=tool_call_id
    )
    return Event(action=action, idempotency_key=key)


def observation(
    content: str,
    key: str = "",
    status: executor_pb2.ExecutionStatus.ValueType = executor_pb2.EXECUTION_STATUS_OK,
    tool_call_id: str = "",
) -> Event:
    return Event(
        observation=events_pb2.Observation(
            content=content, status=status, tool_call_id=tool_call_id
        ),
        idempotency_key=key,
    )


def answer(text: str, key: str = "") -> Event:
    return Event(final_answer=events_pb2.FinalAnswer(text=text), idempotency_key=key)


def error(reason: str, message: str, key: str = "") -> Event:
    return Event(error=events_pb2.AgentError(reason=reason, message=message), idempotency_key=key)
