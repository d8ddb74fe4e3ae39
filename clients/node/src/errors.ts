// gRPC failures as CodeActError, with the reason, metadata and retry delay
// the servers put in google.rpc.Status (ErrorInfo, RetryInfo).
import { Metadata, ServiceError, status } from "@grpc/grpc-js";
import { BinaryReader } from "@bufbuild/protobuf/wire";

const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";
const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";

export class CodeActError extends Error {
  /** The gRPC status code, e.g. 5. */
  readonly code: status;
  /** Its name, e.g. "NOT_FOUND". */
  readonly codeName: string;
  /** The ErrorInfo reason, e.g. "SESSION_NOT_FOUND". */
  readonly reason: string;
  readonly metadata: Record<string, string>;
  /** From RetryInfo: how long to wait before trying again. */
  readonly retryAfterMs?: number;

  constructor(code: status, message: string, reason: string, metadata: Record<string, string>, retryAfterMs?: number) {
    const codeName = status[code] ?? "UNKNOWN";
    super(`${codeName} ${reason}: ${message}`);
    this.name = "CodeActError";
    this.code = code;
    this.codeName = codeName;
    this.reason = reason;
    this.metadata = metadata;
    this.retryAfterMs = retryAfterMs;
  }
}

export function fromServiceError(err: ServiceError): CodeActError {
  const code = err.code ?? status.UNKNOWN;
  let reason = status[code] ?? "UNKNOWN";
  let metadata: Record<string, string> = {};
  let retryAfterMs: number | undefined;
  for (const detail of statusDetails(err.metadata)) {
    if (detail.typeUrl === ERROR_INFO) {
      ({ reason, metadata } = errorInfo(detail.value));
    } else if (detail.typeUrl === RETRY_INFO) {
      retryAfterMs = retryDelayMs(detail.value);
    }
  }
  return new CodeActError(code, err.details || err.message, reason, metadata, retryAfterMs);
}

interface Any {
  typeUrl: string;
  value: Uint8Array;
}

function statusDetails(metadata: Metadata | undefined): Any[] {
  const raw = metadata?.get("grpc-status-details-bin")?.[0];
  if (!(raw instanceof Buffer)) return [];
  const details: Any[] = [];
  const reader = new BinaryReader(raw);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 3) details.push(any(reader.bytes()));
    else reader.skip(wireType);
  }
  return details;
}

function any(bytes: Uint8Array): Any {
  const reader = new BinaryReader(bytes);
  const found: Any = { typeUrl: "", value: new Uint8Array() };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) found.typeUrl = reader.string();
    else if (field === 2) found.value = reader.bytes();
    else reader.skip(wireType);
  }
  return found;
}

function errorInfo(bytes: Uint8Array): { reason: string; metadata: Record<string, string> } {
  const reader = new BinaryReader(bytes);
  let reason = "";
  const metadata: Record<string, string> = {};
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) reason = reader.string();
    else if (field === 3) {
      const entry = new BinaryReader(reader.bytes());
      let key = "";
      let value = "";
      while (entry.pos < entry.len) {
        const [f, w] = entry.tag();
        if (f === 1) key = entry.string();
        else if (f === 2) value = entry.string();
        else entry.skip(w);
      }
      metadata[key] = value;
    } else reader.skip(wireType);
  }
  return { reason, metadata };
}

function retryDelayMs(bytes: Uint8Array): number {
  const reader = new BinaryReader(bytes);
  let ms = 0;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1) {
      reader.skip(wireType);
      continue;
    }
    const duration = new BinaryReader(reader.bytes());
    while (duration.pos < duration.len) {
      const [f, w] = duration.tag();
      if (f === 1) ms += Number(duration.int64()) * 1000;
      else if (f === 2) ms += duration.int32() / 1e6;
      else duration.skip(w);
    }
  }
  return ms;
}
