// A small, promise- and async-iterator-based wrapper over the generated
// @grpc/grpc-js clients in ./gen (ts-proto). Every call carries the token and
// a deadline; failures reject with CodeActError. Only reads are retried
// (on UNAVAILABLE, by the channel's retry policy); executions never are.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";

import { AgentServiceClient, AgentSession, RunTaskResponse, TaskOutcome } from "./gen/codeact/v1/agent";
import { Language, SandboxLimits } from "./gen/codeact/v1/common";
import { Event } from "./gen/codeact/v1/events";
import { ExecuteResponse, ExecutorServiceClient, Session, StreamName } from "./gen/codeact/v1/executor";
import { Conversation, GetContextResponse, MemoryServiceClient } from "./gen/codeact/v1/memory";
import { PlannerServiceClient } from "./gen/codeact/v1/planner";
import { CheckCodeResponse, PolicyServiceClient } from "./gen/codeact/v1/policy";
import { CodeActError, fromServiceError } from "./errors";

export interface TlsOptions {
  /** PEM file of the CA that signed the server; omitted: the system roots. */
  caFile?: string;
  /** Client certificate and key, for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Name expected in the server certificate, if not the target's host. */
  serverName?: string;
}

export interface ClientOptions {
  /** Bearer API key; defaults to $CODEACT_API_KEY. */
  token?: string;
  tls?: TlsOptions;
  /** Deadline of unary calls, in milliseconds (default 30 s). */
  timeoutMs?: number;
}

// Reads are idempotent: the channel retries them when the server is unavailable.
const IDEMPOTENT = [
  ["ExecutorService", ["GetSession", "ListSessions", "ListFiles", "DownloadFile", "GetRuntimeInfo"]],
  ["PolicyService", ["CheckCode", "ListProfiles", "GetProfile"]],
  ["MemoryService", ["GetConversation", "ListConversations", "ListEvents"]],
  ["AgentService", ["GetAgentSession", "ListAgentSessions"]],
] as const;

const SERVICE_CONFIG = JSON.stringify({
  methodConfig: [
    {
      name: IDEMPOTENT.flatMap(([service, methods]) =>
        methods.map((method) => ({ service: `codeact.v1.${service}`, method })),
      ),
      retryPolicy: {
        maxAttempts: 3,
        initialBackoff: "0.1s",
        maxBackoff: "1s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
});

type Callback<Res> = (error: grpc.ServiceError | null, response: Res) => void;
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: Callback<Res>,
) => grpc.ClientUnaryCall;
type StreamMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
) => grpc.ClientReadableStream<Res>;

export class CodeActClient {
  readonly executor: ExecutorServiceClient;
  readonly policy: PolicyServiceClient;
  readonly memory: MemoryServiceClient;
  readonly agent: AgentServiceClient;
  readonly planner: PlannerServiceClient;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(target: string, options: ClientOptions = {}) {
    this.token = options.token ?? process.env.CODEACT_API_KEY;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    const credentials = options.tls ? tlsCredentials(options.tls) : grpc.credentials.createInsecure();
    const channelOptions: grpc.ClientOptions = {
      "grpc.service_config": SERVICE_CONFIG,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.max_receive_message_length": 16 << 20,
      ...(options.tls?.serverName ? { "grpc.ssl_target_name_override": options.tls.serverName } : {}),
    };
    this.executor = new ExecutorServiceClient(target, credentials, channelOptions);
    // The other clients share the executor's channel (one connection).
    const shared = { ...channelOptions, channelOverride: this.executor.getChannel() };
    this.policy = new PolicyServiceClient(target, credentials, shared);
    this.memory = new MemoryServiceClient(target, credentials, shared);
    this.agent = new AgentServiceClient(target, credentials, shared);
    this.planner = new PlannerServiceClient(target, credentials, shared);
  }

  /** Metadata carrying the token. */
  metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.token) metadata.set("authorization", `Bearer ${this.token}`);
    return metadata;
  }

  /** One unary call as a promise; failures reject with CodeActError. */
  call<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    const deadline = new Date(Date.now() + this.timeoutMs);
    return new Promise((resolve, reject) => {
      method.call(client, request, this.metadata(), { deadline }, (error, response) =>
        error ? reject(fromServiceError(error)) : resolve(response),
      );
    });
  }

  /** A server stream as an async iterator; failures throw CodeActError. */
  async *stream<Req, Res>(client: grpc.Client, method: StreamMethod<Req, Res>, request: Req): AsyncGenerator<Res> {
    const call = method.call(client, request, this.metadata(), {});
    try {
      for await (const message of call) yield message as Res;
    } catch (error) {
      throw isServiceError(error) ? fromServiceError(error) : error;
    } finally {
      call.cancel();
    }
  }

  // --- executor -------------------------------------------------------------
  async createSession(limits?: Partial<SandboxLimits>, labels: Record<string, string> = {}): Promise<SandboxSession> {
    const reply = await this.call(this.executor, this.executor.createSession, {
      limits: limits ? SandboxLimits.fromPartial(limits) : undefined,
      labels,
      fitToCeilings: false,
    });
    return new SandboxSession(this, reply.session!);
  }

  async listSessions(): Promise<Session[]> {
    const reply = await this.call(this.executor, this.executor.listSessions, { pageSize: 0, pageToken: "" });
    return reply.sessions;
  }

  // --- policy ---------------------------------------------------------------
  check(code: string, profileName = ""): Promise<CheckCodeResponse> {
    return this.call(this.policy, this.policy.checkCode, {
      code,
      language: Language.LANGUAGE_PYTHON,
      profile: profileName ? { $case: "profileName", value: profileName } : undefined,
      extraModules: [],
    });
  }

  // --- memory ---------------------------------------------------------------
  async createConversation(labels: Record<string, string> = {}): Promise<Conversation> {
    const reply = await this.call(this.memory, this.memory.createConversation, { labels });
    return reply.conversation!;
  }

  async append(conversationId: string, events: Partial<Event>[]): Promise<Event[]> {
    const reply = await this.call(this.memory, this.memory.appendEvents, {
      conversationId,
      events: events.map((e) => Event.fromPartial(e)),
    });
    return reply.events;
  }

  async listEvents(conversationId: string): Promise<Event[]> {
    const reply = await this.call(this.memory, this.memory.listEvents, {
      conversationId,
      pageSize: 0,
      pageToken: "",
      types: [],
    });
    return reply.events;
  }

  context(conversationId: string, tokenBudget = 0): Promise<GetContextResponse> {
    return this.call(this.memory, this.memory.getContext, {
      conversationId,
      tokenBudget,
      appendEvents: [],
    });
  }

  // --- agent ----------------------------------------------------------------
  async createAgentSession(profileName = ""): Promise<AgentTaskSession> {
    const reply = await this.call(this.agent, this.agent.createAgentSession, { profileName });
    return new AgentTaskSession(this, reply.session!);
  }

  close(): void {
    this.executor.close();
  }
}

export interface CellResult {
  stdout: string;
  stderr: string;
  /** The repr of the cell's last expression, if any. */
  result?: string;
  /** "NameError: name 'x' is not defined", if the cell raised. */
  error?: string;
}

/** A sandboxed, stateful interpreter. */
export class SandboxSession {
  constructor(
    private readonly client: CodeActClient,
    readonly info: Session,
  ) {}

  get id(): string {
    return this.info.id;
  }

  /** The cell's events as they happen. */
  stream(code: string, language: Language = Language.LANGUAGE_PYTHON): AsyncGenerator<ExecuteResponse> {
    const executor = this.client.executor;
    return this.client.stream(executor, executor.execute, {
      sessionId: this.id,
      code,
      language,
      rollbackOnError: false,
    });
  }

  /** Run a cell and gather what it printed, returned and raised. */
  async run(code: string): Promise<CellResult> {
    const out: CellResult = { stdout: "", stderr: "" };
    for await (const reply of this.stream(code)) {
      const event = reply.event;
      if (event?.$case === "output") {
        if (event.value.name === StreamName.STREAM_NAME_STDERR) out.stderr += event.value.text;
        else out.stdout += event.value.text;
      } else if (event?.$case === "result") {
        out.result = event.value.data?.text["text/plain"];
      } else if (event?.$case === "error") {
        out.error = `${event.value.ename}: ${event.value.evalue}`;
      }
    }
    return out;
  }

  async delete(): Promise<void> {
    await this.client.call(this.client.executor, this.client.executor.deleteSession, { sessionId: this.id });
  }
}

/** An agent session: give it tasks, read their events. */
export class AgentTaskSession {
  constructor(
    private readonly client: CodeActClient,
    readonly info: AgentSession,
  ) {}

  get id(): string {
    return this.info.id;
  }

  /** The task's events as they happen; the last one is `end`. */
  run(task: string): AsyncGenerator<RunTaskResponse> {
    const agent = this.client.agent;
    return this.client.stream(agent, agent.runTask, { sessionId: this.id, task });
  }

  async delete(): Promise<void> {
    await this.client.call(this.client.agent, this.client.agent.deleteAgentSession, { sessionId: this.id });
  }
}

function tlsCredentials(tls: TlsOptions): grpc.ChannelCredentials {
  const read = (path?: string) => (path ? readFileSync(path) : null);
  return grpc.credentials.createSsl(read(tls.caFile), read(tls.keyFile), read(tls.certFile));
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === "object" && error !== null && "code" in error && "metadata" in error;
}

export { CodeActError, TaskOutcome };
