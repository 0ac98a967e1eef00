import type {
  AdminApi,
  AdminCalls,
  AuditLogOptions,
  AuthCalls,
  AuthApi,
  BillingApi,
  BillingCalls,
  CallOptions,
  ClientOptions,
  GenerationApi,
  GenerationCalls,
  JobEndEvent,
  JobEventsOptions,
  JobEventStream,
  JobListOptions,
  JobStreamUrls,
  MetaApi,
  ProjectCalls,
  ProjectsApi,
  RequestOptions,
  ServiceCalls,
  ServiceApi,
} from "./api.js";
import { ApiError } from "./errors.js";
import { JobEvents, type EventFeed } from "./events.js";
import type {
  AdminStatsDto,
  AdminUserDetail,
  AdminUserPage,
  AuditLogPage,
  AuthResponse,
  FileEntry,
  FileList,
  GenerationOptions,
  GenerationUsage,
  JobDto,
  JobPage,
  InvoicePage,
  Liveness,
  MessageDto,
  MessagePage,
  ModelList,
  OAuthProviderList,
  PlanList,
  ProjectDto,
  ProjectPage,
  Readiness,
  ReconcileReportDto,
  RedirectUrl,
  RevisionDto,
  RevisionPage,
  ServiceInfo,
  SessionList,
  StreamTicket,
  SubscriptionDto,
  UserDto,
} from "./generated/index.js";
import type { Reply, WithMeta } from "./meta.js";
import { Session } from "./session.js";
import {
  MemoryTokenStore,
  MemoryVerifierStore,
  SessionVerifierStore,
  type TokenStore,
  type VerifierStore,
} from "./stores.js";
import {
  abortReason,
  abortable,
  failure,
  filePath,
  jobPath,
  jsonOf,
  projectPath,
  query,
  textOf,
  Transport,
  type Answer,
  type Call,
} from "./transport.js";

/** The default `timeoutMs`. */
const DEFAULT_TIMEOUT_MS = 30_000;

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The parts of a call's options that every request takes. */
function requestOptions(options: CallOptions): Pick<Call, "signal" | "timeoutMs"> {
  return { signal: options.signal, timeoutMs: options.timeoutMs };
}

function idempotency(options: RequestOptions): Record<string, string> {
  return options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {};
}

const bytes = (answer: Answer): Uint8Array => answer.body;
const nothing = (): void => undefined;

/** Resolves with the data alone (`meta` false) or with `{ data, meta }` (`meta` true). */
type Finish<M extends boolean> = <T>(result: Promise<WithMeta<T>>) => Promise<Reply<T, M>>;

function finish<M extends boolean>(meta: M): Finish<M> {
  const withMeta = <T>(result: Promise<WithMeta<T>>): Promise<WithMeta<T>> => result;
  const dataOnly = <T>(result: Promise<WithMeta<T>>): Promise<T> => result.then((r) => r.data);
  return (meta ? withMeta : dataOnly) as Finish<M>;
}

/** A revision's path. */
function revisionPath(id: string, n: number): string {
  return `${projectPath(id)}/revisions/${encodeURIComponent(String(n))}`;
}

/** A job list's query string. */
function jobQuery(page: JobListOptions): string {
  return query({ limit: page.limit, cursor: page.cursor, project_id: page.projectId, status: page.status });
}

/** An account's path under the admin routes. */
function adminUserPath(id: string): string {
  return `/api/v2/admin/users/${encodeURIComponent(id)}`;
}

/** A time filter as RFC 3339 text. */
function rfc3339(time: Date | string | undefined): string | undefined {
  return time instanceof Date ? time.toISOString() : time;
}

/** The audit log's query string. */
function auditQuery(page: AuditLogOptions): string {
  return query({
    limit: page.limit,
    cursor: page.cursor,
    actor: page.actor,
    target: page.target,
    action: page.action,
    from: rfc3339(page.from),
    to: rfc3339(page.to),
  });
}

/** Every item of every page, from `cursor` on. */
async function* pages<T>(
  page: (cursor: string | null) => Promise<{ items: T[]; next_cursor: string | null }>,
  cursor: string | null,
): AsyncGenerator<T, void, undefined> {
  do {
    const { items, next_cursor } = await page(cursor);
    yield* items;
    cursor = next_cursor;
  } while (cursor);
}

/**
 * The Devora API v2. Signed-in calls refresh the access token when it has
 * expired, once for any number of concurrent calls, and retry. `S` is the
 * type of the token store passed as `tokens` (a `MemoryTokenStore` by default).
 */
export class DevoraClient<S extends TokenStore = MemoryTokenStore> {
  readonly #transport: Transport;
  readonly #session: Session;
  readonly #tokens: S;
  readonly #verifiers: VerifierStore;

  readonly service: ServiceApi;
  readonly auth: AuthApi;
  readonly projects: ProjectsApi;
  readonly billing: BillingApi;
  readonly generation: GenerationApi;
  readonly admin: AdminApi;
  /**
   * The same calls, resolving with `{ data, meta }`: the response's request id,
   * `ETag`, rate-limit state and `Idempotent-Replayed` beside the data.
   */
  readonly withMeta: MetaApi;

  constructor(options: ClientOptions<S>) {
    // Without `tokens`, S is its default, MemoryTokenStore.
    this.#tokens = options.tokens ?? (new MemoryTokenStore() as TokenStore as S);
    this.#transport = new Transport(
      options.baseUrl,
      options.fetch ?? globalThis.fetch.bind(globalThis),
      options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : options.timeoutMs,
    );
    this.#session = new Session(this.#tokens, this.#transport, options.onSessionEnded);
    this.#verifiers =
      options.verifiers ??
      (typeof sessionStorage === "undefined" ? new MemoryVerifierStore() : new SessionVerifierStore());

    this.service = this.#serviceCalls(finish(false));
    this.auth = {
      ...this.#authCalls(finish(false)),
      logout: (callOptions) => this.#logout(callOptions),
      startSignIn: (provider, redirectTo) => this.#startSignIn(provider, redirectTo),
    };
    const projects = this.#projectCalls(finish(false));
    this.projects = {
      ...projects,
      all: (page = {}) =>
        pages((cursor) => projects.list({ ...page, limit: page.limit ?? 100, cursor }), page.cursor ?? null),
      allMessages: (id, page = {}) =>
        pages((cursor) => projects.messages(id, { ...page, limit: page.limit ?? 100, cursor }), page.cursor ?? null),
      allRevisions: (id, page = {}) =>
        pages((cursor) => projects.revisions(id, { ...page, limit: page.limit ?? 100, cursor }), page.cursor ?? null),
    };
    this.billing = this.#billingCalls(finish(false));
    this.generation = this.#generationApi(this.#generationCalls(finish(false)));
    const admin = this.#adminCalls(finish(false));
    this.admin = {
      ...admin,
      allUsers: (page = {}) =>
        pages((cursor) => admin.users({ ...page, limit: page.limit ?? 100, cursor }), page.cursor ?? null),
      allAuditEntries: (page = {}) =>
        pages((cursor) => admin.auditLog({ ...page, limit: page.limit ?? 100, cursor }), page.cursor ?? null),
    };
    this.withMeta = {
      service: this.#serviceCalls(finish(true)),
      auth: this.#authCalls(finish(true)),
      projects: this.#projectCalls(finish(true)),
      billing: this.#billingCalls(finish(true)),
      generation: this.#generationCalls(finish(true)),
      admin: this.#adminCalls(finish(true)),
    };
  }

  /** The token store (the one passed as `tokens`). */
  get tokens(): S {
    return this.#tokens;
  }

  /**
   * Trades the refresh token for a new pair now; calls do it by themselves when
   * their access token has expired. Resolves with whether the client is still
   * signed in; see the README for what it rejects with. One refresh at a time:
   * concurrent callers share it, and aborting one caller's wait leaves the
   * refresh going (its new tokens must be kept: the old ones are spent).
   */
  refreshTokens(options: CallOptions = {}): Promise<boolean> {
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
    return abortable(this.#session.refresh(), options.signal);
  }

  /** Sends a call and decodes its success answer. */
  async #run<T>(call: Call, decode: (answer: Answer) => T): Promise<WithMeta<T>> {
    const answer = await this.#session.call(call);
    return { data: decode(answer), meta: answer.meta };
  }

  /** A call that signs in (register, login): its tokens replace any others. */
  async #signIn(call: Call): Promise<WithMeta<AuthResponse>> {
    const signedIn = await this.#run(call, jsonOf<AuthResponse>);
    await this.#session.signIn(signedIn.data);
    return signedIn;
  }

  #serviceCalls<M extends boolean>(out: Finish<M>): ServiceCalls<M> {
    const get = <T>(path: string, options: CallOptions, decode: (answer: Answer) => T): Promise<Reply<T, M>> =>
      out(this.#run({ method: "GET", path, authenticated: false, ...requestOptions(options) }, decode));
    return {
      info: (options = {}) => get("/api/v2", options, jsonOf<ServiceInfo>),
      live: (options = {}) => get("/health/live", options, jsonOf<Liveness>),
      ready: (options = {}) =>
        out(
          (async () => {
            const answer = await this.#transport.send(
              { method: "GET", path: "/health/ready", ...requestOptions(options) },
              null,
            );
            if (answer.status !== 200 && answer.status !== 503) throw failure(answer);
            return { data: jsonOf<Readiness>(answer), meta: answer.meta };
          })(),
        ),
      metrics: (options = {}) => get("/metrics", options, textOf),
      openapi: (options = {}) => get("/openapi.json", options, jsonOf<Record<string, unknown>>),
      openapiYaml: (options = {}) => get("/openapi.yaml", options, textOf),
    };
  }

  #authCalls<M extends boolean>(out: Finish<M>): AuthCalls<M> {
    const anonymous = (path: string, body: unknown, options: CallOptions): Call => ({
      method: "POST",
      path,
      json: body,
      authenticated: false,
      ...requestOptions(options),
    });
    return {
      register: (request, options = {}) => out(this.#signIn(anonymous("/api/v2/auth/register", request, options))),
      login: (request, options = {}) => out(this.#signIn(anonymous("/api/v2/auth/login", request, options))),
      me: (options = {}) =>
        out(this.#run({ method: "GET", path: "/api/v2/auth/me", ...requestOptions(options) }, jsonOf<UserDto>)),
      updateMe: (request, options = {}) =>
        out(
          this.#run(
            { method: "PATCH", path: "/api/v2/auth/me", json: request, ...requestOptions(options) },
            jsonOf<UserDto>,
          ),
        ),
      changePassword: (request, options = {}) =>
        out(
          this.#run(
            { method: "POST", path: "/api/v2/auth/me/password", json: request, ...requestOptions(options) },
            nothing,
          ),
        ),
      sessions: (options = {}) =>
        out(
          this.#run({ method: "GET", path: "/api/v2/auth/sessions", ...requestOptions(options) }, jsonOf<SessionList>),
        ),
      revokeSession: (id, options = {}) =>
        out(
          this.#run(
            { method: "DELETE", path: `/api/v2/auth/sessions/${encodeURIComponent(id)}`, ...requestOptions(options) },
            nothing,
          ),
        ),
      providers: (options = {}) =>
        out(
          this.#run(
            { method: "GET", path: "/api/v2/auth/oauth/providers", authenticated: false, ...requestOptions(options) },
            jsonOf<OAuthProviderList>,
          ),
        ),
      exchange: (code, options = {}) => out(this.#exchange(code, options)),
    };
  }

  async #exchange(code: string, options: CallOptions): Promise<WithMeta<AuthResponse>> {
    const verifier = await this.#verifiers.get();
    if (!verifier) throw new TypeError("No provider sign-in was started in this tab: call auth.startSignIn first");
    let signedIn: WithMeta<AuthResponse>;
    try {
      signedIn = await this.#run(
        {
          method: "POST",
          path: "/api/v2/auth/oauth/exchange",
          json: { code, code_verifier: verifier },
          authenticated: false,
          ...requestOptions(options),
        },
        jsonOf<AuthResponse>,
      );
    } catch (err) {
      // Kept when trying again may work (network, timeout, 429, 5xx, aborted): the code may still be good.
      if (err instanceof ApiError && !err.transient) await this.#verifiers.set(null);
      throw err;
    }
    await this.#verifiers.set(null);
    await this.#session.signIn(signedIn.data);
    return signedIn;
  }

  async #logout(options: CallOptions = {}): Promise<void> {
    const epoch = this.#session.epoch;
    const current = await this.#session.read();
    if (!current) return;
    try {
      await this.#run(
        {
          method: "POST",
          path: "/api/v2/auth/logout",
          json: { refresh_token: current.refresh_token },
          authenticated: false,
          ...requestOptions(options),
        },
        nothing,
      );
    } catch (err) {
      if (!(err instanceof ApiError) || err.transient) throw err;
    }
    // Unless another sign-in replaced this session meanwhile.
    await this.#session.signOut(epoch);
  }

  async #startSignIn(provider: string, redirectTo?: string): Promise<string> {
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    await this.#verifiers.set(verifier);
    const params = query({
      redirect_to: redirectTo,
      code_challenge: base64url(new Uint8Array(digest)),
      code_challenge_method: "S256",
    });
    return `${this.#transport.baseUrl}/api/v2/auth/oauth/${encodeURIComponent(provider)}/authorize${params}`;
  }

  #projectCalls<M extends boolean>(out: Finish<M>): ProjectCalls<M> {
    const run = <T>(call: Call, options: CallOptions, decode: (answer: Answer) => T): Promise<Reply<T, M>> =>
      out(this.#run({ ...call, ...requestOptions(options) }, decode));
    // File paths are checked first: a bad one rejects (never throws) with a TypeError.
    const file = async <T>(
      method: string,
      id: string,
      path: string,
      options: CallOptions,
      decode: (answer: Answer) => T,
      raw?: Uint8Array | string,
    ): Promise<Reply<T, M>> => {
      const call: Call = { method, path: filePath(id, path) };
      if (raw !== undefined) call.raw = raw;
      return run(call, options, decode);
    };
    return {
      list: (page = {}) =>
        run(
          { method: "GET", path: `/api/v2/projects${query({ limit: page.limit, cursor: page.cursor })}` },
          page,
          jsonOf<ProjectPage>,
        ),
      create: (request, options = {}) =>
        run(
          { method: "POST", path: "/api/v2/projects", json: request, headers: idempotency(options) },
          options,
          jsonOf<ProjectDto>,
        ),
      get: (id, options = {}) => run({ method: "GET", path: projectPath(id) }, options, jsonOf<ProjectDto>),
      update: (id, request, options = {}) =>
        run({ method: "PATCH", path: projectPath(id), json: request }, options, jsonOf<ProjectDto>),
      delete: (id, options = {}) => run({ method: "DELETE", path: projectPath(id) }, options, nothing),
      files: (id, options = {}) => run({ method: "GET", path: `${projectPath(id)}/files` }, options, jsonOf<FileList>),
      readFile: (id, path, options = {}) => file("GET", id, path, options, bytes),
      putFile: (id, path, content, options = {}) => file("PUT", id, path, options, jsonOf<FileEntry>, content),
      deleteFile: (id, path, options = {}) => file("DELETE", id, path, options, nothing),
      messages: (id, page = {}) =>
        run(
          { method: "GET", path: `${projectPath(id)}/messages${query({ limit: page.limit, cursor: page.cursor })}` },
          page,
          jsonOf<MessagePage>,
        ),
      postMessage: (id, content, options = {}) =>
        run(
          {
            method: "POST",
            path: `${projectPath(id)}/messages`,
            json: { role: "user", content },
            headers: idempotency(options),
          },
          options,
          jsonOf<MessageDto>,
        ),
      revisions: (id, page = {}) =>
        run(
          { method: "GET", path: `${projectPath(id)}/revisions${query({ limit: page.limit, cursor: page.cursor })}` },
          page,
          jsonOf<RevisionPage>,
        ),
      revision: (id, n, options = {}) =>
        run({ method: "GET", path: revisionPath(id, n) }, options, jsonOf<RevisionDto>),
      restore: (id, n, options = {}) =>
        run({ method: "POST", path: `${revisionPath(id, n)}/restore`, json: {} }, options, jsonOf<RevisionDto>),
    };
  }

  #billingCalls<M extends boolean>(out: Finish<M>): BillingCalls<M> {
    const run = <T>(call: Call, options: CallOptions, decode: (answer: Answer) => T): Promise<Reply<T, M>> =>
      out(this.#run({ ...call, ...requestOptions(options) }, decode));
    const post = (path: string, options: CallOptions, json?: unknown): Promise<Reply<SubscriptionDto, M>> =>
      run({ method: "POST", path, json: json ?? {} }, options, jsonOf<SubscriptionDto>);
    return {
      plans: (options = {}) =>
        run({ method: "GET", path: "/api/v2/billing/plans", authenticated: false }, options, jsonOf<PlanList>),
      subscription: (options = {}) =>
        run({ method: "GET", path: "/api/v2/billing/subscription" }, options, jsonOf<SubscriptionDto>),
      sync: (options = {}) => post("/api/v2/billing/subscription/sync", options),
      checkout: (request, options = {}) =>
        run({ method: "POST", path: "/api/v2/billing/checkout", json: request }, options, jsonOf<RedirectUrl>),
      portal: (options = {}) =>
        run({ method: "POST", path: "/api/v2/billing/portal", json: {} }, options, jsonOf<RedirectUrl>),
      cancel: (options = {}) => post("/api/v2/billing/subscription/cancel", options),
      resume: (options = {}) => post("/api/v2/billing/subscription/resume", options),
      invoices: (page = {}) =>
        run(
          { method: "GET", path: `/api/v2/billing/invoices${query({ limit: page.limit, cursor: page.cursor })}` },
          page,
          jsonOf<InvoicePage>,
        ),
    };
  }

  #generationCalls<M extends boolean>(out: Finish<M>): GenerationCalls<M> {
    const run = <T>(call: Call, options: CallOptions, decode: (answer: Answer) => T): Promise<Reply<T, M>> =>
      out(this.#run({ ...call, ...requestOptions(options) }, decode));
    const get = <T>(path: string, options: CallOptions, decode: (answer: Answer) => T): Promise<Reply<T, M>> =>
      run({ method: "GET", path }, options, decode);
    return {
      models: (options = {}) => get("/api/v2/generation/models", options, jsonOf<ModelList>),
      options: (options = {}) => get("/api/v2/generation/options", options, jsonOf<GenerationOptions>),
      startAgentic: (request, options = {}) =>
        run(
          { method: "POST", path: "/api/v2/generation/agentic", json: request, headers: idempotency(options) },
          options,
          jsonOf<JobDto>,
        ),
      startFullstack: (request, options = {}) =>
        run(
          { method: "POST", path: "/api/v2/generation/fullstack", json: request, headers: idempotency(options) },
          options,
          jsonOf<JobDto>,
        ),
      jobs: (page = {}) => get(`/api/v2/generation/jobs${jobQuery(page)}`, page, jsonOf<JobPage>),
      job: (id, options = {}) => get(jobPath(id), options, jsonOf<JobDto>),
      cancel: (id, options = {}) =>
        run({ method: "POST", path: `${jobPath(id)}/cancel`, json: {} }, options, jsonOf<JobDto>),
      ticket: (id, options = {}) =>
        run({ method: "POST", path: `${jobPath(id)}/ticket`, json: {} }, options, jsonOf<StreamTicket>),
      usage: (options = {}) => get("/api/v2/generation/usage", options, jsonOf<GenerationUsage>),
    };
  }

  #generationApi(calls: GenerationCalls): GenerationApi {
    const feed: EventFeed = {
      open: (call) => this.#session.open(call),
      job: (id, options) => calls.job(id, options),
      cancel: (id, options) => calls.cancel(id, options),
    };
    const events = (id: string, options: JobEventsOptions = {}): JobEventStream => new JobEvents(feed, id, options);
    return {
      ...calls,
      allJobs: (page = {}) =>
        pages((cursor) => calls.jobs({ ...page, limit: page.limit ?? 100, cursor }), page.cursor ?? null),
      events,
      watch: async (id, options = {}) => {
        let end: JobEndEvent | null = null;
        for await (const event of events(id, options)) {
          options.onEvent?.(event);
          if (event.type === "end") end = event;
        }
        return end;
      },
      streamUrls: async (id, options = {}) => {
        const after = options.lastEventId ?? 0;
        if (!Number.isSafeInteger(after) || after < 0) {
          throw new RangeError(`lastEventId must be a whole number from 0, not ${after}`);
        }
        const ticket = await calls.ticket(id, options);
        const resume = after > 0 ? `&last_event_id=${after}` : "";
        const absolute = (path: string): URL => {
          const base = typeof location === "undefined" ? undefined : location.href;
          return new URL(`${this.#transport.baseUrl}${path}${resume}`, base);
        };
        const ws = absolute(ticket.ws_url);
        ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
        return {
          ticket: ticket.ticket,
          expiresAt: ticket.expires_at,
          eventsUrl: absolute(ticket.events_url).href,
          wsUrl: ws.href,
        } satisfies JobStreamUrls;
      },
    };
  }

  #adminCalls<M extends boolean>(out: Finish<M>): AdminCalls<M> {
    const run = <T>(call: Call, options: CallOptions, decode: (answer: Answer) => T): Promise<Reply<T, M>> =>
      out(this.#run({ ...call, ...requestOptions(options) }, decode));
    return {
      users: (page = {}) =>
        run(
          {
            method: "GET",
            path: `/api/v2/admin/users${query({
              limit: page.limit,
              cursor: page.cursor,
              q: page.q,
              role: page.role,
              status: page.status,
            })}`,
          },
          page,
          jsonOf<AdminUserPage>,
        ),
      user: (id, options = {}) => run({ method: "GET", path: adminUserPath(id) }, options, jsonOf<AdminUserDetail>),
      updateUser: (id, request, options = {}) =>
        run({ method: "PATCH", path: adminUserPath(id), json: request }, options, jsonOf<UserDto>),
      userProjects: (id, page = {}) =>
        run(
          {
            method: "GET",
            path: `${adminUserPath(id)}/projects${query({ limit: page.limit, cursor: page.cursor })}`,
          },
          page,
          jsonOf<ProjectPage>,
        ),
      userJobs: (id, page = {}) =>
        run({ method: "GET", path: `${adminUserPath(id)}/jobs${jobQuery(page)}` }, page, jsonOf<JobPage>),
      cancelJob: (id, options = {}) =>
        run(
          { method: "POST", path: `/api/v2/admin/jobs/${encodeURIComponent(id)}/cancel`, json: {} },
          options,
          jsonOf<JobDto>,
        ),
      stats: (options = {}) => run({ method: "GET", path: "/api/v2/admin/stats" }, options, jsonOf<AdminStatsDto>),
      auditLog: (page = {}) =>
        run({ method: "GET", path: `/api/v2/admin/audit-log${auditQuery(page)}` }, page, jsonOf<AuditLogPage>),
      reconcileBilling: (options = {}) =>
        run({ method: "POST", path: "/api/v2/admin/billing/reconcile", json: {} }, options, jsonOf<ReconcileReportDto>),
    };
  }
}
