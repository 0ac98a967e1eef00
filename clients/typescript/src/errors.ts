import type { ErrorCode, Problem } from "./generated/index.js";
import type { ResponseMeta } from "./meta.js";

/**
 * Why a call failed:
 * - `http`: the server answered with an error status (`status`, and `problem` when it sent one);
 * - `network`: no answer could be had (connection refused or reset, DNS, CORS, offline); `status` 0;
 * - `timeout`: no complete answer within the call's `timeoutMs`; `status` 0;
 * - `invalid-response`: a success status whose body is not the JSON the call expects.
 *
 * `network`, `timeout` and `invalid-response` keep the underlying error as `cause`.
 */
export type ApiErrorKind = "http" | "network" | "timeout" | "invalid-response";

export interface ApiErrorOptions {
  /** `http` unless said otherwise. */
  kind?: ApiErrorKind;
  /** The error behind this one (the `fetch` rejection, the JSON parse error). */
  cause?: unknown;
  /** The response's metadata, when there was a response. */
  meta?: ResponseMeta | null;
}

/** A failed call: the server's problem document when it sent one. */
export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  /** The HTTP status; 0 when no response came (`network`, `timeout`). */
  readonly status: number;
  readonly problem: Problem | null;
  /** Seconds to wait before retrying (`Retry-After`, on 429 and 409 `idempotency-in-flight`). */
  readonly retryAfter: number | null;
  /** The response's metadata (request id, rate limit); null when no response came. */
  readonly meta: ResponseMeta | null;

  constructor(
    status: number,
    problem: Problem | null,
    fallback: string,
    retryAfter: number | null = null,
    options: ApiErrorOptions = {},
  ) {
    super(
      problem ? `${problem.title}: ${problem.detail}` : fallback,
      "cause" in options ? { cause: options.cause } : {},
    );
    this.name = "ApiError";
    this.kind = options.kind ?? "http";
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
    this.meta = options.meta ?? null;
  }

  /** The stable error code (`not-found`, `quota-exceeded`, ...), if the server sent a problem. */
  get code(): ErrorCode | null {
    return this.problem?.code ?? null;
  }

  /** Quote this when reporting a problem: the problem's `request_id`, else `X-Request-Id`. */
  get requestId(): string | null {
    return this.problem?.request_id ?? this.meta?.requestId ?? null;
  }

  /**
   * Whether the same call may succeed later: no answer came (`network`,
   * `timeout`), or the server was busy (429, 5xx).
   */
  get transient(): boolean {
    return this.kind === "network" || this.kind === "timeout" || this.status === 429 || this.status >= 500;
  }
}

export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v["type"] === "string" && typeof v["status"] === "number" && typeof v["code"] === "string";
}
