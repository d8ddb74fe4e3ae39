"""One task: the CodeAct loop, streaming an event for every step.

context (memory) -> next action (planner) -> syntax check -> policy check
-> execute (executor, output streamed live) -> append (memory) -> repeat,
until finish, max iterations, the token budget, a cancel, a stuck loop or
an error. Policy refusals and failed cells go back to the model as
observations; they do not end the task.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from google.protobuf import timestamp_pb2

from codeact.errors import CodeActError, FailedPrecondition
from codeact.v1 import (
    agent_pb2,
    common_pb2,
    events_pb2,
    executor_pb2,
    memory_pb2,
    planner_pb2,
    policy_pb2,
)

from . import observations, stuck
from .downstream import Deadline, Downstream
from .editor import Editor
from .sessions import AgentSessionRecord, add_usage
from .settings import AgentSettings

log = structlog.get_logger("agent.loop")
# An event for the stream, or an error to fail the RPC with (only before any event).
Emit = Callable[[agent_pb2.RunTaskResponse | CodeActError], Awaitable[None]]
DEFAULT_MAX_ITERATIONS = 30
EXECUTE_MARGIN = 30.0
THOUGHT_LOGGED = "Your thought has been recorded."
SANDBOX_LOST = (
    "The sandbox session was lost and a new one was started: every variable, import "
    "and file is gone. Recreate what you need."
)
OUTCOME_NAMES = {
    agent_pb2.TASK_OUTCOME_MAX_ITERATIONS: "MAX_ITERATIONS",
    agent_pb2.TASK_OUTCOME_TOKEN_BUDGET: "TOKEN_BUDGET",
    agent_pb2.TASK_OUTCOME_CANCELLED: "CANCELLED",
    agent_pb2.TASK_OUTCOME_STUCK: "STUCK",
    agent_pb2.TASK_OUTCOME_ERROR: "ERROR",
}


class _End(Exception):
    def __init__(self, outcome: agent_pb2.TaskOutcome.ValueType, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def enabled_tools(profile: agent_pb2.AgentProfile) -> list[events_pb2.Tool.ValueType]:
    tools = []
    if profile.enable_python:
        tools.append(events_pb2.TOOL_EXECUTE_PYTHON)
    if profile.enable_bash:
        tools.append(events_pb2.TOOL_EXECUTE_BASH)
    if profile.enable_editor:
        tools.append(events_pb2.TOOL_EDIT_FILE)
    return [*tools, events_pb2.TOOL_THINK, events_pb2.TOOL_FINISH]


class TaskRun:
    def __init__(
        self,
        settings: AgentSettings,
        downstream: Downstream,
        record: AgentSessionRecord,
        task: str,
        deadline: Deadline,
        emit: Emit,
        replace_sandbox: Callable[[AgentSessionRecord, Deadline], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.downstream = downstream
        self.record = record
        self.profile = record.profile
        self.task = task
        self.deadline = deadline
        self._emit = emit
        self.replace_sandbox = replace_sandbox
        self.run_id = secrets.token_hex(6)
        self.step = 0
        self.usage = common_pb2.Usage()
        self.detector = stuck.StuckDetector()
        self.parse_failures = 0
        self.policy_profile: policy_pb2.PolicyProfile | None = None
        self.emitted = 0
        # Events not yet sent to memory, and how many have been given keys.
        self.pending: list[events_pb2.Event] = []
        self._stored = 0

    async def emit(self, **event: Any) -> None:
        self.emitted += 1
        await self._emit(agent_pb2.RunTaskResponse(step=self.step, time=_now(), **event))

    # --- the task ------------------------------------------------------------------------
    async def run(self) -> None:
        """Run to the end; the last event is always a TaskEnd."""
        started = time.monotonic()
        try:
            outcome, message = await self._loop()
        except _End as stop:
            outcome, message = stop.outcome, stop.message
        except asyncio.CancelledError:
            outcome, message = agent_pb2.TASK_OUTCOME_CANCELLED, "the task was cancelled"
        except CodeActError as exc:
            if not self.emitted and (
                exc.reason == "LLM_NOT_CONFIGURED"
                or exc.code in ("UNAUTHENTICATED", "PERMISSION_DENIED")
            ):
                # Nothing can start (no model configured, credentials refused
                # downstream): the RPC itself fails with the error's own code.
                await self._record_end(agent_pb2.TASK_OUTCOME_ERROR, exc.message)
                await self._emit(exc)
                return
            outcome, message = agent_pb2.TASK_OUTCOME_ERROR, f"{exc.reason}: {exc.message}"
            await self.emit(error=events_pb2.AgentError(reason=exc.reason, message=exc.message))
        except Exception:
            log.exception("agent.task_failed", session=self.record.id)
            outcome, message = agent_pb2.TASK_OUTCOME_ERROR, "internal error in the agent"
            await self.emit(error=events_pb2.AgentError(reason="INTERNAL", message=message))
        if outcome != agent_pb2.TASK_OUTCOME_FINISHED:
            await self._record_end(outcome, message)
        elapsed = time.monotonic() - started
        end = agent_pb2.TaskEnd(
            outcome=outcome, message=message, iterations=self.step, usage=self.usage
        )
        end.elapsed.FromNanoseconds(int(elapsed * 1e9))
        await self.emit(end=end)

    async def _record_end(self, outcome: agent_pb2.TaskOutcome.ValueType, message: str) -> None:
        """Leave why the task stopped in the conversation (best effort)."""
        error = events_pb2.AgentError(reason=OUTCOME_NAMES.get(outcome, "ERROR"), message=message)
        try:
            await asyncio.wait_for(self._append([events_pb2.Event(error=error)], now=True), 5.0)
        except (CodeActError, TimeoutError, asyncio.CancelledError):
            pass

    async def _loop(self) -> tuple[agent_pb2.TaskOutcome.ValueType, str]:
        await self._append([events_pb2.Event(user_message=events_pb2.UserMessage(text=self.task))])
        runtime = await self.downstream.runtime(self.deadline)
        prompt = planner_pb2.PromptOptions(
            task=self.task,
            enable_prompt_extensions=self.profile.enable_prompt_extensions,
            disabled_prompt_extensions=self.profile.disabled_prompt_extensions,
            available_packages=runtime.packages,
            allowed_imports=self.profile.allowed_imports,
        )
        limit = self.profile.max_iterations or DEFAULT_MAX_ITERATIONS
        for step in range(1, limit + 1):
            self.step = step
            context = await self._context()
            decision = await self._decide(context, prompt)
            await self._spend(decision.usage)
            if decision.HasField("parse_failure"):
                await self._parse_failure(decision)
                continue
            self.parse_failures = 0
            proposed = decision.action
            if proposed.thought:
                await self.emit(thought=events_pb2.Thought(text=proposed.thought))
            if proposed.action.tool == events_pb2.TOOL_FINISH:
                await self.emit(final_answer=events_pb2.FinalAnswer(text=proposed.answer))
                await self._append(
                    [
                        *self._thought_events(proposed),
                        events_pb2.Event(final_answer=events_pb2.FinalAnswer(text=proposed.answer)),
                    ],
                    now=True,
                )
                return agent_pb2.TASK_OUTCOME_FINISHED, proposed.answer
            reason = await self._act(proposed)
            if reason is not None:
                await self.emit(error=events_pb2.AgentError(reason="STUCK", message=reason))
                return agent_pb2.TASK_OUTCOME_STUCK, reason
        return agent_pb2.TASK_OUTCOME_MAX_ITERATIONS, f"stopped after {limit} iterations"

    # --- model ---------------------------------------------------------------------------
    async def _context(
        self, condenser: memory_pb2.CondenserSpec | None = None, budget: int | None = None
    ) -> memory_pb2.GetContextResponse:
        spec = condenser or (self.profile.condenser if self.profile.condenser.type else None)
        request = memory_pb2.GetContextRequest(
            conversation_id=self.record.conversation_id,
            condenser=spec,
            token_budget=self.profile.context_token_budget if budget is None else budget,
            append_events=self.pending,
        )
        context: memory_pb2.GetContextResponse = await self.downstream.call(
            self.downstream.memory.GetContext, request, self.deadline
        )
        self.pending = []
        if context.HasField("condensation"):
            await self.emit(condensation=context.condensation)
            reason = self.detector.add(stuck.Condensed())
            if reason is not None:
                raise _End(agent_pb2.TASK_OUTCOME_STUCK, reason)
        return context

    async def _decide(
        self, context: memory_pb2.GetContextResponse, prompt: planner_pb2.PromptOptions
    ) -> planner_pb2.ActionDecision:
        """The next action; a context overflow condenses harder and asks again."""
        for attempt in range(self.settings.max_context_retries + 1):
            request = planner_pb2.NextActionRequest(
                messages=context.messages,
                tools=enabled_tools(self.profile),
                model=self.profile.model,
                prompt=prompt,
            )
            try:
                reply: planner_pb2.NextActionResponse = await self.downstream.call(
                    self.downstream.planner.NextAction, request, self.deadline
                )
                return reply.decision
            except FailedPrecondition as exc:
                if (
                    exc.reason != "LLM_CONTEXT_OVERFLOW"
                    or attempt == self.settings.max_context_retries
                ):
                    raise
                context = await self._condense_harder(context)
        raise AssertionError("unreachable")

    async def _condense_harder(
        self, context: memory_pb2.GetContextResponse
    ) -> memory_pb2.GetContextResponse:
        keep_first = self.profile.condenser.keep_first or 2
        spec = memory_pb2.CondenserSpec(
            type=memory_pb2.CONDENSER_TYPE_AMORTIZED_FORGETTING,
            keep_first=keep_first,
            max_events=max(keep_first + 2, context.event_count // 2),
        )
        return await self._context(spec, max(1, context.token_count // 2))

    async def _spend(self, usage: common_pb2.Usage) -> None:
        add_usage(self.usage, usage)
        add_usage(self.record.usage, usage)
        await self.emit(usage=usage)
        budget = self.profile.token_budget
        if budget and self.usage.total_tokens >= budget:
            raise _End(
                agent_pb2.TASK_OUTCOME_TOKEN_BUDGET,
                f"spent {self.usage.total_tokens} tokens of a budget of {budget}",
            )

    async def _parse_failure(self, decision: planner_pb2.ActionDecision) -> None:
        self.parse_failures += 1
        failure = decision.parse_failure
        await self.emit(error=events_pb2.AgentError(reason="PARSE_FAILURE", message=failure.reason))
        said = decision.assistant_message
        raw = "\n\n".join(
            [said.content, *(f"{c.name}: {c.arguments_json}" for c in said.tool_calls)]
        ).strip()
        await self._append(
            [
                events_pb2.Event(thought=events_pb2.Thought(text=raw or "(an empty reply)")),
                events_pb2.Event(
                    error=events_pb2.AgentError(reason="FORMAT", message=failure.format_hint)
                ),
            ]
        )
        reason = self.detector.add(stuck.Message(raw))
        if reason is not None:
            raise _End(agent_pb2.TASK_OUTCOME_STUCK, reason)
        if self.parse_failures > self.settings.max_parse_retries:
            raise _End(
                agent_pb2.TASK_OUTCOME_ERROR,
                f"the model's replies could not be used {self.parse_failures} times in a row "
                f"(last: {failure.reason})",
            )

    # --- acting --------------------------------------------------------------------------
    def _thought_events(self, proposed: planner_pb2.ProposedAction) -> list[events_pb2.Event]:
        if not proposed.thought:
            return []
        return [events_pb2.Event(thought=events_pb2.Thought(text=proposed.thought))]

    async def _act(self, proposed: planner_pb2.ProposedAction) -> str | None:
        """Carry out an action, store it with its observation; a stuck reason or None."""
        action = proposed.action
        await self.emit(code=action)
        verdict: events_pb2.PolicyVerdict | None = None
        status: executor_pb2.ExecutionStatus.ValueType = executor_pb2.EXECUTION_STATUS_OK
        displays = 0
        syntax = ""
        if action.tool == events_pb2.TOOL_THINK:
            content = THOUGHT_LOGGED
        elif action.tool == events_pb2.TOOL_EDIT_FILE:
            editor = Editor(self.downstream, self.record.executor_session_id, self.deadline)
            content, failed = await editor.apply(action.edit)
            status = executor_pb2.EXECUTION_STATUS_ERROR if failed else status
        else:
            python = action.tool == events_pb2.TOOL_EXECUTE_PYTHON
            syntax = (observations.syntax_error(action.code) or "") if python else ""
            if syntax:
                content, status = syntax, executor_pb2.EXECUTION_STATUS_ERROR
            else:
                verdict = await self._check(action.code) if python else None
                if verdict is not None:
                    await self.emit(verdict=verdict)
                if verdict is not None and verdict.decision == common_pb2.DECISION_DENY:
                    content = observations.refusal(verdict.findings)
                    status = executor_pb2.EXECUTION_STATUS_ERROR
                else:
                    content, status, displays = await self._execute(action)
                    if verdict is not None and verdict.findings:
                        warnings = observations.findings_text(verdict.findings)
                        content = f"Policy warnings:\n{warnings}\n\n{content}"
        observation = events_pb2.Observation(
            content=content,
            status=status,
            tool_call_id=action.tool_call_id,
            display_count=displays,
        )
        await self.emit(observation=observation)
        stored = [*self._thought_events(proposed), events_pb2.Event(action=action)]
        if verdict is not None:
            stored.append(events_pb2.Event(policy_verdict=verdict))
        stored.append(events_pb2.Event(observation=observation))
        await self._append(stored)
        key = f"{action.tool}:{action.code}:{action.edit.SerializeToString().hex()}"
        failed = status not in (
            executor_pb2.EXECUTION_STATUS_OK,
            executor_pb2.EXECUTION_STATUS_UNSPECIFIED,
        )
        return self.detector.add(stuck.Step(key, content, failed, syntax))

    async def _check(self, code: str) -> events_pb2.PolicyVerdict:
        request = policy_pb2.CheckCodeRequest(code=code, language=common_pb2.LANGUAGE_PYTHON)
        if self.profile.allowed_imports:
            request.inline_profile.CopyFrom(await self._policy_profile())
        elif self.profile.policy_profile:
            request.profile_name = self.profile.policy_profile
        reply: policy_pb2.CheckCodeResponse = await self.downstream.call(
            self.downstream.policy.CheckCode, request, self.deadline
        )
        if any(f.rule_id == "import-not-available" for f in reply.findings):
            # The model's own modules in the workspace exist too: ask again with them.
            request.extra_modules.extend(await self._workspace_modules())
            if request.extra_modules:
                reply = await self.downstream.call(
                    self.downstream.policy.CheckCode, request, self.deadline
                )
        return events_pb2.PolicyVerdict(
            decision=reply.decision, findings=reply.findings, profile_name=reply.profile_name
        )

    async def _workspace_modules(self) -> list[str]:
        """Importable names at the top of the workspace: *.py files and packages."""
        reply: executor_pb2.ListFilesResponse = await self.downstream.call(
            self.downstream.executor_for(self.record.executor_session_id).ListFiles,
            executor_pb2.ListFilesRequest(session_id=self.record.executor_session_id),
            self.deadline,
        )
        names = set()
        for entry in reply.files:
            name = entry.path.rsplit("/", 1)[-1]
            stem = name.removesuffix(".py")
            if (entry.is_dir or name.endswith(".py")) and stem.isidentifier():
                names.add(stem)
        return sorted(names)

    async def _policy_profile(self) -> policy_pb2.PolicyProfile:
        """The named policy profile narrowed to the profile's allowed imports."""
        if self.policy_profile is None:
            reply: policy_pb2.GetProfileResponse = await self.downstream.call(
                self.downstream.policy.GetProfile,
                policy_pb2.GetProfileRequest(name=self.profile.policy_profile or "standard"),
                self.deadline,
            )
            profile = reply.profile
            del profile.allowed_imports[:]
            profile.allowed_imports.extend(self.profile.allowed_imports)
            self.policy_profile = profile
        return self.policy_profile

    async def _execute(
        self, action: events_pb2.CodeAction
    ) -> tuple[str, executor_pb2.ExecutionStatus.ValueType, int]:
        request = executor_pb2.ExecuteRequest(
            session_id=self.record.executor_session_id,
            code=action.code,
            language=common_pb2.LANGUAGE_BASH
            if action.tool == events_pb2.TOOL_EXECUTE_BASH
            else common_pb2.LANGUAGE_PYTHON,
            rollback_on_error=self.profile.rollback_on_error,
        )
        step_timeout = self.profile.step_timeout.ToTimedelta().total_seconds()
        if step_timeout > 0:
            request.timeout.CopyFrom(self.profile.step_timeout)
        cell = observations.CellObservation(self.settings.max_observation_chars)
        cap = (step_timeout or self.settings.call_timeout) + EXECUTE_MARGIN
        try:
            async for event in self.downstream.stream(
                self.downstream.executor_for(request.session_id).Execute,
                request,
                self.deadline,
                cap,
            ):
                kind = event.WhichOneof("event")
                if kind == "output":
                    await self.emit(output=event.output)
                elif kind == "display":
                    await self.emit(display=event.display)
                cell.add(event)
        except CodeActError as exc:
            # Gone from its executor, or the executor instance itself is gone
            # (with several instances, only the sessions it held are lost).
            lost_instance = exc.code == "UNAVAILABLE" and self.downstream.routes.routed
            if exc.reason != "SESSION_NOT_FOUND" and not lost_instance:
                raise
            await self.replace_sandbox(self.record, self.deadline)
            await self.emit(
                error=events_pb2.AgentError(reason="SANDBOX_REPLACED", message=SANDBOX_LOST)
            )
            return SANDBOX_LOST, executor_pb2.EXECUTION_STATUS_KILLED, 0
        return cell.text(), cell.status, cell.displays

    async def _append(self, events: list[events_pb2.Event], now: bool = False) -> None:
        """Store events. They wait for the next context request, which carries
        them (one call per step instead of two), unless `now` (the task ends)."""
        for event in events:
            self._stored += 1
            event.idempotency_key = f"{self.run_id}-{self._stored}"
        self.pending.extend(events)
        if now and self.pending:
            request = memory_pb2.AppendEventsRequest(
                conversation_id=self.record.conversation_id, events=self.pending
            )
            await self.downstream.call(self.downstream.memory.AppendEvents, request, self.deadline)
            self.pending = []
