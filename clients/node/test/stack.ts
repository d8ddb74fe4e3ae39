// The live stack these tests run against: `codeact-server up` from the
// repository's virtualenv (all five services, real jails), and an
// OpenAI-compatible stub for the model, the only fake.
import { ChildProcess, spawn } from "node:child_process";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo, createServer as createTcpServer } from "node:net";
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const REPO = resolve(__dirname, "..", "..", "..", "..");
const SERVICES = ["agent", "planner", "policy", "executor", "memory"] as const;
export const KEYS = { acme: "node-acme-key", globex: "node-globex-key" };

export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** Replays scripted tool calls to POST /v1/chat/completions. */
export class ModelStub {
  readonly replies: ToolCall[] = [];
  requests = 0;
  private server: Server = createServer((req, res) => this.answer(req, res));

  async start(): Promise<string> {
    await new Promise<void>((done) => this.server.listen(0, "127.0.0.1", done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      this.requests += 1;
      const model = (JSON.parse(body || "{}") as { model?: string }).model ?? "stub";
      const call = this.replies.shift() ?? { name: "finish", arguments: { answer: "(nothing scripted)" } };
      const reply = {
        id: "chatcmpl-node",
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            finish_reason: "tool_calls",
            message: {
              role: "assistant",
              content: null,
              tool_calls: [
                {
                  id: `call_${this.requests}`,
                  type: "function",
                  function: { name: call.name, arguments: JSON.stringify(call.arguments) },
                },
              ],
            },
          },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(reply));
    });
  }

  stop(): void {
    this.server.close();
  }
}

export class LiveStack {
  readonly addresses: Record<string, string> = {};
  readonly model = new ModelStub();
  private process?: ChildProcess;

  async start(): Promise<void> {
    const modelUrl = await this.model.start();
    const ports = await Promise.all(SERVICES.map(() => freePort()));
    const state = mkdtempSync(join(tmpdir(), "codeact-node-"));
    chmodSync(state, 0o711); // jails run as other users and must traverse it
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CODEACT_API_KEYS: `acme:${KEYS.acme},globex:${KEYS.globex}`,
      CODEACT_LOG_LEVEL: "warning",
      CODEACT_AUDIT_FILE: "/dev/null",
      CODEACT_EXECUTOR_STATE_DIR: state,
      CODEACT_EXECUTOR_INSTANCE: "node",
      CODEACT_EXECUTOR_POOL_SIZE: "1",
      CODEACT_EXECUTOR_MAX_SESSIONS_PER_TENANT: "3",
      CODEACT_MEMORY_DSN: `sqlite://${join(state, "memory.db")}`,
      CODEACT_PLANNER_LLM_BASE_URL: modelUrl,
      CODEACT_PLANNER_LLM_MODEL: "stub-model",
    };
    SERVICES.forEach((name, i) => {
      env[`CODEACT_${name.toUpperCase()}_PORT`] = String(ports[i]);
      env[`CODEACT_${name.toUpperCase()}_METRICS_PORT`] = "-1";
      this.addresses[name] = `127.0.0.1:${ports[i]}`;
    });
    const python = process.env.CODEACT_PYTHON ?? join(REPO, ".venv", "bin", "python");
    const child = spawn(python, ["-m", "services.launcher", "up"], {
      cwd: REPO,
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.process = child;
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((ready, failed) => {
      child.once("exit", (code) => failed(new Error(`codeact-server up exited with ${code}`)));
      lines.on("line", (line) => {
        if (line.includes("services up")) ready();
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null) {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
    }
    this.model.stop();
  }
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createTcpServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => done(port));
    });
  });
}
