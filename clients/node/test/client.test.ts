// The Node client against a live stack: real servers, real jails.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CodeActClient, CodeActError, agent, common } from "../src/index";
import { KEYS, LiveStack } from "./stack";

const stack = new LiveStack();
let acme: CodeActClient;
let globex: CodeActClient;

before(async () => {
  await stack.start();
  acme = new CodeActClient(stack.addresses.agent, { token: KEYS.acme });
  globex = new CodeActClient(stack.addresses.agent, { token: KEYS.globex });
});

after(async () => {
  acme?.close();
  globex?.close();
  await stack.stop();
});

function executorAs(token: string): CodeActClient {
  return new CodeActClient(stack.addresses.executor, { token });
}

test("a session keeps its state across cells", async () => {
  const client = executorAs(KEYS.acme);
  const session = await client.createSession({ memoryBytes: 256 << 20 });
  try {
    await session.run("x = 41");
    const cell = await session.run("print(x + 1)\nx * 2");
    assert.equal(cell.stdout, "42\n");
    assert.equal(cell.result, "82");
    assert.equal(session.info.limits?.memoryBytes, 256 << 20);
    const ids = (await client.listSessions()).map((s) => s.id);
    assert.ok(ids.includes(session.id));
  } finally {
    await session.delete();
    client.close();
  }
});

test("output streams as it is printed, and errors come back as values", async () => {
  const client = executorAs(KEYS.acme);
  const session = await client.createSession();
  try {
    const kinds: string[] = [];
    for await (const reply of session.stream("import sys\nprint('a')\nprint('b', file=sys.stderr)\n1/0")) {
      kinds.push(reply.event?.$case ?? "none");
    }
    assert.deepEqual(kinds.slice(0, 2), ["output", "output"]);
    assert.ok(kinds.includes("error") && kinds.at(-1) === "completion");
    const cell = await session.run("undefined_name");
    assert.equal(cell.error, "NameError: name 'undefined_name' is not defined");
  } finally {
    await session.delete();
    client.close();
  }
});

test("another tenant's session is NOT_FOUND, with the reason", async () => {
  const mine = executorAs(KEYS.acme);
  const theirs = executorAs(KEYS.globex);
  const session = await mine.createSession();
  try {
    await assert.rejects(
      theirs.call(theirs.executor, theirs.executor.getSession, { sessionId: session.id }),
      (err: unknown) => {
        assert.ok(err instanceof CodeActError);
        assert.equal(err.codeName, "NOT_FOUND");
        assert.equal(err.reason, "SESSION_NOT_FOUND");
        return true;
      },
    );
  } finally {
    await session.delete();
    mine.close();
    theirs.close();
  }
});

test("a wrong key is UNAUTHENTICATED", async () => {
  const client = executorAs("not-a-key");
  await assert.rejects(client.listSessions(), (err: unknown) => {
    assert.ok(err instanceof CodeActError);
    assert.equal(err.codeName, "UNAUTHENTICATED");
    assert.equal(err.reason, "API_KEY_INVALID");
    return true;
  });
  client.close();
});

test("a limit above the ceiling names the field", async () => {
  const client = executorAs(KEYS.acme);
  await assert.rejects(client.createSession({ memoryBytes: 2 ** 40 }), (err: unknown) => {
    assert.ok(err instanceof CodeActError);
    assert.equal(err.codeName, "RESOURCE_EXHAUSTED");
    assert.equal(err.reason, "LIMIT_ABOVE_CEILING");
    assert.equal(err.metadata.field, "limits.memory_bytes");
    assert.equal(err.retryAfterMs, undefined);
    return true;
  });
  client.close();
});

test("a quota error carries its retry delay", async () => {
  const client = executorAs(KEYS.globex);
  const sessions = [];
  try {
    for (let i = 0; i < 3; i++) sessions.push(await client.createSession());
    await assert.rejects(client.createSession(), (err: unknown) => {
      assert.ok(err instanceof CodeActError);
      assert.equal(err.reason, "SESSION_QUOTA_EXCEEDED");
      assert.equal(err.metadata.subject, "tenant:globex");
      assert.equal(err.retryAfterMs, 5000);
      return true;
    });
  } finally {
    for (const session of sessions) await session.delete();
    client.close();
  }
});

test("the policy service checks code", async () => {
  const client = new CodeActClient(stack.addresses.policy, { token: KEYS.acme });
  const denied = await client.check("import subprocess\nsubprocess.run(['id'])", "strict");
  assert.equal(denied.decision, common.Decision.DECISION_DENY);
  assert.ok(denied.findings.length > 0);
  const allowed = await client.check("import math\nprint(math.pi)");
  assert.equal(allowed.decision, common.Decision.DECISION_ALLOW);
  client.close();
});

test("the memory service keeps a conversation", async () => {
  const client = new CodeActClient(stack.addresses.memory, { token: KEYS.acme });
  const conversation = await client.createConversation({ from: "node" });
  await client.append(conversation.id, [{ payload: { $case: "userMessage", value: { text: "hello" } } }]);
  const events = await client.listEvents(conversation.id);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].payload, { $case: "userMessage", value: { text: "hello" } });
  const context = await client.context(conversation.id);
  assert.ok(context.messages.some((m) => m.content === "hello"));
  client.close();
});

test("the agent runs a task and streams its steps", async () => {
  stack.model.replies.push(
    { name: "execute_python", arguments: { code: "print(2 ** 10)" } },
    { name: "finish", arguments: { answer: "1024" } },
  );
  const session = await acme.createAgentSession();
  try {
    const events: agent.RunTaskResponse[] = [];
    for await (const event of session.run("What is 2 ** 10?")) events.push(event);
    const cases = events.map((e) => e.event?.$case);
    assert.ok(cases.includes("code"));
    const output = events.flatMap((e) => (e.event?.$case === "output" ? [e.event.value.text] : []));
    assert.equal(output.join(""), "1024\n");
    const end = events.at(-1)?.event;
    assert.equal(end?.$case, "end");
    assert.equal(end?.$case === "end" && end.value.outcome, agent.TaskOutcome.TASK_OUTCOME_FINISHED);
  } finally {
    await session.delete();
  }
});

test("the README's example runs", async () => {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const { join } = await import("node:path");
  const script = join(__dirname, "..", "examples", "session.js");
  const { stdout } = await promisify(execFile)(process.execPath, [script, stack.addresses.executor], {
    env: { ...process.env, CODEACT_API_KEY: KEYS.acme },
  });
  assert.equal(stdout, "42\n0\n1\n2\n");
});
