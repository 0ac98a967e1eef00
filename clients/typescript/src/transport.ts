import { ApiError, isProblem } from "./errors.js";
import type { Problem } from "./generated/index.js";
import { responseMeta, type ResponseMeta } from "./meta.js";

/** One HTTP request the client makes. */
export interface Call {
  method: string;
  path: string;
  json?: unknown;
  raw?: Uint8Array | string;
  /** Sends the access token (and refreshes it when it has expired); true unless said otherwise. */
  authenticated?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Overrides the client's timeout; `null`: none. */
  timeoutMs?: number | null | undefined;
}

/** A whole answer: status, headers and the body, read to the end. */
export interface Answer {
  status: number;
  statusText: string;
  body: Uint8Array;
  meta: ResponseMeta;
}

/**
 * An answer whose success body is still arriving (`Transport.open`): `stream`
 * reads it. Error answers are read whole into `body`, with `stream` null.
 */
export interface StreamAnswer extends Answer {
  stream: ReadableStream<Uint8Array> | null;
}

/** The longest delay `setTimeout` keeps (about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** A timeout in milliseconds (`null`: none); a `RangeError` unless it is a number in 1..2^31-1. */
export function checkedTimeout(timeoutMs: number | null): number | null {
  if (timeoutMs !== null && !(timeoutMs >= 1 && timeoutMs <= MAX_TIMEOUT_MS)) {
    throw new RangeError(`timeoutMs must be null or between 1 and ${MAX_TIMEOUT_MS}, not ${timeoutMs}`);
  }
  return timeoutMs;
}

/** Sends calls to one API origin and reads their answers whole, within a timeout. */
export class Transport {
  readonly baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number | null;

  constructor(baseUrl: string, fetchImpl: typeof fetch, timeoutMs: number | null) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.#fetch = fetchImpl;
    this.#timeoutMs = checkedTimeout(timeoutMs);
  }

  /**
   * Resolves with the answer, whatever its status. Rejects with the signal's
   * reason when the caller aborts, and with an `ApiError` of kind `network` or
   * `timeout` when no whole answer came.
   */
  send(call: Call, accessToken: string | null): Promise<Answer> {
    return this.#exchange(call, accessToken, false);
  }

  /**
   * As `send`, but a success answer's body is left to be read as it arrives
   * (`stream`, for Server-Sent Events): the timeout covers the headers only,
   * and `call.signal` stays in charge of the body (aborting it ends the
   * stream). Error answers are read whole, within the timeout.
   */
  open(call: Call, accessToken: string | null): Promise<StreamAnswer> {
    return this.#exchange(call, accessToken, true);
  }

  async #exchange(call: Call, accessToken: string | null, streaming: boolean): Promise<StreamAnswer> {
    if (call.signal?.aborted) throw abortReason(call.signal);
    const timeoutMs = checkedTimeout(call.timeoutMs === undefined ? this.#timeoutMs : call.timeoutMs);
    const headers: Record<string, string> = { accept: "application/json", ...call.headers };
    let body: BodyInit | undefined;
    if (call.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(call.json);
    } else if (call.raw !== undefined) {
      headers["content-type"] = "application/octet-stream";
      body = typeof call.raw === "string" ? call.raw : new Blob([new Uint8Array(call.raw)]);
    }
    if (accessToken) headers["authorization"] = `Bearer ${accessToken}`;

    // One signal for the caller's abort and the timeout; it also covers reading the body.
    const controller = new AbortController();
    const outer = call.signal;
    const onAbort = (): void => controller.abort(outer && abortReason(outer));
    outer?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer =
      timeoutMs === null
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort(named(`No answer within ${timeoutMs} ms`, "TimeoutError"));
          }, timeoutMs);

    const init: RequestInit = { method: call.method, headers, signal: controller.signal };
    if (body !== undefined) init.body = body;
    const what = `${call.method} ${call.path}`;
    // A streamed body stays under the caller's signal after this returns.
    let keepListening = false;
    try {
      const res = await this.#fetch(`${this.baseUrl}${call.path}`, init);
      const answer = { status: res.status, statusText: res.statusText, meta: responseMeta(res.status, res.headers) };
      if (streaming && res.status >= 200 && res.status < 300) {
        keepListening = true;
        return { ...answer, body: new Uint8Array(0), stream: res.body ?? new Blob([]).stream() };
      }
      return { ...answer, body: new Uint8Array(await res.arrayBuffer()), stream: null };
    } catch (err) {
      if (outer?.aborted) throw abortReason(outer);
      if (timedOut || isFetchTimeout(err)) {
        const within = timedOut ? ` within ${timeoutMs} ms` : "";
        throw new ApiError(0, null, `${what}: no answer${within}`, null, { kind: "timeout", cause: err });
      }
      throw new ApiError(0, null, `${what}: the server could not be reached`, null, { kind: "network", cause: err });
    } finally {
      clearTimeout(timer);
      if (!keepListening) outer?.removeEventListener("abort", onAbort);
    }
  }
}

/** Node's fetch (undici) gives up by itself after long silences: that is a timeout too. */
const FETCH_TIMEOUTS = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

function isFetchTimeout(err: unknown): boolean {
  const cause: unknown = err instanceof Error ? err.cause : undefined;
  return typeof cause === "object" && cause !== null && FETCH_TIMEOUTS.has(String((cause as { code?: unknown }).code));
}

/** Whether an answer has a success status. */
export function succeeded(answer: Answer): boolean {
  return answer.status >= 200 && answer.status < 300;
}

function text(answer: Answer): string {
  return new TextDecoder().decode(answer.body);
}

/** The problem document of an error answer, if it is one. */
export function problemOf(answer: Answer): Problem | null {
  try {
    const parsed: unknown = JSON.parse(text(answer));
    return isProblem(parsed) ? parsed : null;
  } catch {
    return null; // Not JSON: a proxy's page, an empty body.
  }
}

/** `Retry-After` in seconds: delay-seconds, or an HTTP date from now. */
function retryAfter(headers: Headers): number | null {
  const value = headers.get("retry-after")?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number.parseInt(value, 10);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The `ApiError` (kind `http`) of an error answer. */
export function failure(answer: Answer): ApiError {
  return new ApiError(
    answer.status,
    problemOf(answer),
    `${answer.status} ${answer.statusText}`.trim(),
    retryAfter(answer.meta.headers),
    {
      meta: answer.meta,
    },
  );
}

/** The answer if it succeeded; otherwise rejects with its `ApiError`. */
export function ok<A extends Answer>(answer: A): A {
  if (!succeeded(answer)) throw failure(answer);
  return answer;
}

/** A success answer's body as text. */
export function textOf(answer: Answer): string {
  return text(answer);
}

/** A success answer's JSON body; an `ApiError` of kind `invalid-response` when it is not JSON. */
export function jsonOf<T>(answer: Answer): T {
  try {
    return JSON.parse(text(answer)) as T;
  } catch (err) {
    throw new ApiError(answer.status, null, `${answer.status}: the body is not JSON`, null, {
      kind: "invalid-response",
      cause: err,
      meta: answer.meta,
    });
  }
}

/** A `DOMException` where there is one (not in every React Native), else an `Error` of that name. */
function named(message: string, name: string): Error {
  return typeof DOMException === "function"
    ? new DOMException(message, name)
    : Object.assign(new Error(message), { name });
}

/** Why a signal aborted: its reason, or an `AbortError` where signals have no reason yet. */
export function abortReason(signal: AbortSignal): unknown {
  return (signal.reason as unknown) ?? named("The operation was aborted", "AbortError");
}

/** Rejects with the signal's reason as soon as it aborts, whatever `promise` does. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A query string from the parameters that are set. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A project's URL path. */
export function projectPath(id: string): string {
  return `/api/v2/projects/${encodeURIComponent(id)}`;
}

/** A generation job's URL path. */
export function jobPath(id: string): string {
  return `/api/v2/generation/jobs/${encodeURIComponent(id)}`;
}

/**
 * A file's URL path under its project, each segment percent-encoded. `.` and
 * `..` cannot be sent: URL parsers resolve them (even as `%2E%2E`), so the call
 * would reach another route (`../messages`). The server refuses them as paths anyway.
 */
export function filePath(id: string, path: string): string {
  const segments = path.split("/");
  if (segments.some((segment) => segment === "." || segment === "..")) {
    throw new TypeError(`Invalid file path "${path}": "." and ".." segments are not allowed`);
  }
  return `${projectPath(id)}/files/${segments.map(encodeURIComponent).join("/")}`;
}
