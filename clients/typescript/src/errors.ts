import type { ErrorCode, Problem } from "./generated/index.js";

/** A failed call: the server's problem document when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;
  /** Seconds to wait before retrying (`Retry-After`, on 429 and 409 `idempotency-in-flight`). */
  readonly retryAfter: number | null;

  constructor(status: number, problem: Problem | null, fallback: string, retryAfter: number | null = null) {
    super(problem ? `${problem.title}: ${problem.detail}` : fallback);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  /** The stable error code (`not-found`, `quota-exceeded`, ...), if the server sent a problem. */
  get code(): ErrorCode | null {
    return this.problem?.code ?? null;
  }

  /** Quote this when reporting a problem. */
  get requestId(): string | null {
    return this.problem?.request_id ?? null;
  }
}

export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v["type"] === "string" && typeof v["status"] === "number" && typeof v["code"] === "string";
}
