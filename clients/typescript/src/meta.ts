/** The rate-limit policy a response counted against (`RateLimit` and `RateLimit-Policy`). */
export interface RateLimit {
  /** The policy's name: `reads`, `writes`, `auth`, ... */
  policy: string;
  /** Requests the policy allows per window (`q`), when the server said. */
  quota: number | null;
  /** The window, in seconds (`w`), when the server said. */
  window: number | null;
  /** Requests left in the current window (`r`). */
  remaining: number | null;
  /** Seconds until the window resets (`t`). */
  reset: number | null;
}

/** What a response said besides its body. */
export interface ResponseMeta {
  /** The HTTP status. */
  status: number;
  /** `X-Request-Id`: quote it when reporting a problem. */
  requestId: string | null;
  /** `ETag` of a cached read (a project), to compare versions. */
  etag: string | null;
  /** The rate-limit policy this route belongs to, and what is left of it. */
  rateLimit: RateLimit | null;
  /** `Idempotent-Replayed: true`: the stored answer to an earlier request with the same `Idempotency-Key`. */
  idempotentReplayed: boolean;
  /** Every header, for anything else. */
  headers: Headers;
}

/** A call's result with its response's metadata: what `client.withMeta.*` calls resolve with. */
export interface WithMeta<T> {
  data: T;
  meta: ResponseMeta;
}

/** What a call resolves with: its data, or `{ data, meta }` under `withMeta` (`M` true). */
export type Reply<T, M extends boolean> = M extends true ? WithMeta<T> : T;

/** One member of an RFC 8941 list: `"name";k=v;k2=v2`. */
interface Member {
  name: string;
  params: Map<string, number>;
}

/** The members of a structured-field list such as `"reads";r=98;t=2, "burst";r=4;t=1`. */
function members(value: string | null): Member[] {
  if (!value) return [];
  const found: Member[] = [];
  for (const item of value.split(",")) {
    const [rawName = "", ...rawParams] = item.split(";").map((part) => part.trim());
    const name = rawName.replace(/^"(.*)"$/, "$1");
    if (!name) continue;
    const params = new Map<string, number>();
    for (const param of rawParams) {
      const [key, raw] = param.split("=");
      const number = raw === undefined ? Number.NaN : Number(raw.trim());
      if (key && Number.isFinite(number)) params.set(key.trim(), number);
    }
    found.push({ name, params });
  }
  return found;
}

/** The first policy of `RateLimit`, with its quota and window from `RateLimit-Policy`. */
export function rateLimit(headers: Headers): RateLimit | null {
  const [state] = members(headers.get("ratelimit"));
  const policies = members(headers.get("ratelimit-policy"));
  const named = state ?? policies[0];
  if (!named) return null;
  const policy = policies.find((p) => p.name === named.name);
  return {
    policy: named.name,
    quota: policy?.params.get("q") ?? null,
    window: policy?.params.get("w") ?? null,
    remaining: state?.params.get("r") ?? null,
    reset: state?.params.get("t") ?? null,
  };
}

/** The metadata of a response. */
export function responseMeta(status: number, headers: Headers): ResponseMeta {
  return {
    status,
    requestId: headers.get("x-request-id"),
    etag: headers.get("etag"),
    rateLimit: rateLimit(headers),
    idempotentReplayed: headers.get("idempotent-replayed")?.trim().toLowerCase() === "true",
    headers,
  };
}
