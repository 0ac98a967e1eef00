import type { CallOptions, JobEventsOptions, JobEventStream, ReconnectInfo } from "./api.js";
import { ApiError } from "./errors.js";
import type { JobDto, JobEventDto } from "./generated/index.js";
import { SseParser, type SseEvent } from "./sse.js";
import { abortReason, type Call, type StreamAnswer } from "./transport.js";

/** What the stream needs from the client. */
export interface EventFeed {
  /** Opens the stream (signed in, refreshing the token when it has expired). */
  open(call: Call): Promise<StreamAnswer>;
  job(id: string, options: CallOptions): Promise<JobDto>;
  cancel(id: string, options: CallOptions): Promise<JobDto>;
}

/** Waits before the first reconnection until the server sends its `retry:` hint. */
const DEFAULT_RETRY_MS = 1_000;
/** The longest wait between reconnections (unless the server's hint is longer). */
const DEFAULT_MAX_RETRY_MS = 30_000;
/** Three heartbeats missed: the connection is dead. */
const DEFAULT_IDLE_TIMEOUT_MS = 45_000;
/** The least wait once reconnections fail in a row, whatever the hint. */
const MIN_BACKOFF_MS = 100;

/** Every event type this client knows: a type added to `JobEventDto` fails to compile until it is listed. */
const KNOWN: { readonly [T in JobEventDto["type"]]: true } = {
  status: true,
  progress: true,
  delta: true,
  usage: true,
  file: true,
  file_refused: true,
  end: true,
};
const EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(KNOWN));
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Why a connection was dropped by this side. */
const IDLE = Symbol("idle");
const CLOSED = Symbol("closed");

/** A `text/event-stream` answer whose event's data is not a job event: the server (or a proxy) is wrong. */
function invalid(answer: StreamAnswer, message: string, cause?: unknown): ApiError {
  return new ApiError(answer.status, null, `job events: ${message}`, null, {
    kind: "invalid-response",
    meta: answer.meta,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The job event an SSE event carries; null for a type this client does not know (a newer server's). */
function decode(answer: StreamAnswer, sse: SseEvent): { seq: number; event: JobEventDto | null } {
  let value: unknown;
  try {
    value = JSON.parse(sse.data);
  } catch (err) {
    throw invalid(answer, "an event's data is not JSON", err);
  }
  if (typeof value !== "object" || value === null) throw invalid(answer, "an event's data is not an object");
  const { seq, type } = value as { seq?: unknown; type?: unknown };
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || typeof type !== "string") {
    throw invalid(answer, "an event has no `seq` or `type`");
  }
  return { seq, event: EVENT_TYPES.has(type) ? (value as JobEventDto) : null };
}

function checkedMs(name: string, value: number | null | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value !== null && !(value >= 0 && value <= 2_147_483_647)) {
    throw new RangeError(`${name} must be between 0 and 2147483647, not ${value}`);
  }
  return value;
}

/** A connection's failure that another connection may not have: no answer, a busy server, silence. */
function retryable(err: unknown): err is ApiError {
  return err instanceof ApiError && err.transient;
}

/** A connection dropped for its silence. */
function silent(idleMs: number | null): ApiError {
  return new ApiError(0, null, `job events: nothing received for ${idleMs} ms`, null, { kind: "timeout" });
}

/** An iterator whose first `next()` rejects with `err`. */
async function* rejecting(err: Error): AsyncGenerator<JobEventDto, void, undefined> {
  throw err;
}

/** Resolves after `ms`, or as soon as `signal` aborts (without rejecting: the caller looks at why). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * A job's events from `GET /generation/jobs/{id}/events`, in order and each
 * once: it reconnects with `Last-Event-ID` after a dropped connection and
 * ends after the `end` event.
 */
export class JobEvents implements JobEventStream {
  readonly jobId: string;
  readonly #source: EventFeed;
  readonly #signal: AbortSignal | undefined;
  readonly #timeoutMs: number | null | undefined;
  /** The options of the calls it makes besides the stream (reading the job). */
  readonly #callOptions: CallOptions;
  #retryMs = DEFAULT_RETRY_MS;
  #maxRetryMs = DEFAULT_MAX_RETRY_MS;
  #maxRetries = Number.POSITIVE_INFINITY;
  #idleTimeoutMs: number | null = DEFAULT_IDLE_TIMEOUT_MS;
  readonly #onReconnect: ((info: ReconnectInfo) => void) | undefined;
  /** Aborted by `close()` or the caller's signal: ends waits and the connection. */
  readonly #life = new AbortController();
  readonly #iterator: AsyncGenerator<JobEventDto, void, undefined>;
  #lastSeq = 0;
  #closed = false;

  constructor(source: EventFeed, jobId: string, options: JobEventsOptions) {
    this.jobId = jobId;
    this.#source = source;
    this.#signal = options.signal;
    this.#timeoutMs = options.timeoutMs;
    this.#callOptions = {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    };
    this.#onReconnect = options.onReconnect;
    let invalid: RangeError | null = null;
    try {
      this.#configure(options);
    } catch (err) {
      invalid = err as RangeError;
    }
    // Like every call, bad options reject (at the first `next()`) rather than throw.
    this.#iterator = invalid ? rejecting(invalid) : this.#run();
    if (invalid) this.#closed = true;
  }

  #configure(options: JobEventsOptions): void {
    const lastEventId = options.lastEventId ?? 0;
    if (!Number.isSafeInteger(lastEventId) || lastEventId < 0) {
      throw new RangeError(`lastEventId must be a whole number from 0, not ${lastEventId}`);
    }
    this.#lastSeq = lastEventId;
    this.#retryMs = checkedMs("retryMs", options.retryMs, DEFAULT_RETRY_MS) ?? DEFAULT_RETRY_MS;
    this.#maxRetryMs = checkedMs("maxRetryMs", options.maxRetryMs, DEFAULT_MAX_RETRY_MS) ?? DEFAULT_MAX_RETRY_MS;
    const maxRetries = options.maxRetries ?? Number.POSITIVE_INFINITY;
    if (!(maxRetries >= 0)) throw new RangeError(`maxRetries must be 0 or more, not ${maxRetries}`);
    this.#maxRetries = maxRetries;
    this.#idleTimeoutMs = checkedMs("idleTimeoutMs", options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS);
    if (this.#idleTimeoutMs === 0) throw new RangeError("idleTimeoutMs must be null or more than 0, not 0");
  }

  get lastEventId(): number {
    return this.#lastSeq;
  }

  get closed(): boolean {
    return this.#closed;
  }

  cancelJob(options: CallOptions = {}): Promise<JobDto> {
    return this.#source.cancel(this.jobId, options);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#life.abort(CLOSED);
  }

  next(): Promise<IteratorResult<JobEventDto, void>> {
    return this.#iterator.next();
  }

  return(): Promise<IteratorResult<JobEventDto, void>> {
    this.close();
    return this.#iterator.return(undefined);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stopped by the caller: rejects with the signal's reason, or ends after `close()`. */
  #stopped(): boolean {
    if (this.#signal?.aborted) throw abortReason(this.#signal);
    return this.#closed;
  }

  async *#run(): AsyncGenerator<JobEventDto, void, undefined> {
    const signal = this.#signal;
    const onAbort = (): void => this.#life.abort(signal && abortReason(signal));
    if (signal?.aborted) throw abortReason(signal);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      /** Reconnections since the last event arrived. */
      let reconnects = 0;
      for (;;) {
        if (this.#stopped()) return;
        const before = this.#lastSeq;
        /** Why the connection ended: an `ApiError`, or null when the server closed it. */
        let why: ApiError | null = null;
        let ended = false;
        try {
          // Whatever the connection brings is yielded from here; `ended` after the `end` event.
          for await (const event of this.#connection()) {
            reconnects = 0;
            yield event;
            if (event.type === "end") {
              ended = true;
              break;
            }
          }
        } catch (err) {
          if (this.#stopped()) return;
          if (!retryable(err)) throw err;
          why = err;
        }
        if (ended || this.#stopped()) return;
        if (why === null && this.#lastSeq === before) {
          // Closed at once with nothing after `lastEventId`: if the job has ended,
          // its `end` event is behind us (the caller resumed past it).
          try {
            const job = await this.#source.job(this.jobId, this.#callOptions);
            if (FINAL.has(job.status)) return;
          } catch (err) {
            if (this.#stopped()) return;
            if (!retryable(err)) throw err;
            why = err;
          }
        }
        if (this.#lastSeq !== before) reconnects = 0;
        const attempt = ++reconnects;
        if (attempt > this.#maxRetries) {
          throw (
            why ??
            new ApiError(0, null, `job events: the stream closed ${attempt} times in a row without an event`, null, {
              kind: "network",
            })
          );
        }
        const delayMs = this.#delay(attempt, why);
        this.#onReconnect?.({ attempt, delayMs, lastEventId: this.#lastSeq, error: why });
        await pause(delayMs, this.#life.signal);
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#closed = true;
    }
  }

  /** The wait before reconnection number `attempt` since the last event. */
  #delay(attempt: number, why: ApiError | null): number {
    // The server's hint first; then doubling (from 100 ms at least), to the cap.
    const base = attempt === 1 ? this.#retryMs : Math.max(this.#retryMs, MIN_BACKOFF_MS);
    const backoff = Math.min(base * 2 ** (attempt - 1), Math.max(this.#maxRetryMs, this.#retryMs));
    // Never shorter than the hint; spread out, so that many clients do not all come back at once.
    let delay = attempt === 1 ? backoff : backoff * (1 + Math.random() * 0.2);
    if (why?.retryAfter != null) delay = Math.max(delay, why.retryAfter * 1000);
    return Math.round(delay);
  }

  /**
   * One connection: the events after `lastSeq`, each new one once. Ends when
   * the server closes the stream; throws an `ApiError` when it could not be
   * opened, went silent (kind `timeout`), broke off (kind `network`) or sent
   * something that is not a job event (kind `invalid-response`).
   */
  async *#connection(): AsyncGenerator<JobEventDto, void, undefined> {
    const connection = new AbortController();
    const life = this.#life.signal;
    const stop = (): void => connection.abort(life.reason);
    life.addEventListener("abort", stop, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const idleMs = this.#idleTimeoutMs;
    const watchdog = (): void => {
      if (idleMs === null) return;
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(IDLE), idleMs);
    };
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      if (this.#lastSeq > 0) headers["last-event-id"] = String(this.#lastSeq);
      const answer = await this.#source.open({
        method: "GET",
        path: `/api/v2/generation/jobs/${encodeURIComponent(this.jobId)}/events`,
        headers,
        signal: connection.signal,
        timeoutMs: this.#timeoutMs,
      });
      const type = answer.meta.headers.get("content-type") ?? "";
      if (!type.toLowerCase().startsWith("text/event-stream")) {
        throw invalid(answer, `expected text/event-stream, got ${type || "no content type"}`);
      }
      if (!answer.stream) throw invalid(answer, "no body");
      reader = answer.stream.getReader();
      const parser = new SseParser();
      watchdog();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (connection.signal.reason === IDLE) throw silent(idleMs);
          if (life.aborted) throw life.reason;
          throw new ApiError(0, null, "job events: the connection was lost", null, { kind: "network", cause: err });
        }
        watchdog();
        const events = chunk.done ? parser.end() : parser.push(chunk.value);
        if (parser.retry !== null) this.#retryMs = parser.retry;
        for (const sse of events) {
          const { seq, event } = decode(answer, sse);
          if (seq <= this.#lastSeq) continue; // Seen before: never twice.
          this.#lastSeq = seq;
          if (event) yield event;
        }
        if (chunk.done) return;
      }
    } catch (err) {
      if (connection.signal.reason === IDLE) throw silent(idleMs);
      throw err;
    } finally {
      clearTimeout(idle);
      life.removeEventListener("abort", stop);
      connection.abort(CLOSED);
      reader?.cancel().catch(() => undefined);
    }
  }
}
