import type {
  AuthResponse,
  ChangePasswordRequest,
  CreateProjectRequest,
  FileEntry,
  FileList,
  Liveness,
  LoginRequest,
  MessageDto,
  MessagePage,
  OAuthProviderList,
  ProjectDto,
  ProjectPage,
  Readiness,
  RegisterRequest,
  ServiceInfo,
  SessionList,
  TokenPair,
  UpdateMeRequest,
  UpdateProjectRequest,
  UserDto,
} from "./generated/index.js";
import { ApiError, isProblem } from "./errors.js";

/** A slot for one value the client keeps between calls. */
export interface Store<T> {
  get(): T | null;
  set(value: T | null): void;
}

/** A value in memory: gone with the page. */
export class MemoryStore<T> implements Store<T> {
  #value: T | null = null;
  get(): T | null {
    return this.#value;
  }
  set(value: T | null): void {
    this.#value = value;
  }
}

/** Where the client keeps the signed-in user's tokens. */
export type TokenStore = Store<TokenPair>;

/** Tokens in memory: gone with the page. Persist them in your own store if you need to. */
export class MemoryTokenStore extends MemoryStore<TokenPair> {}

/**
 * Where the PKCE verifier of a provider sign-in waits between `auth.startSignIn`
 * (before the browser leaves for the provider) and `auth.exchange` (when it is
 * back): it must survive that navigation, in this tab only. `sessionStorage` is
 * per origin: `redirect_to` must come back to the origin that started the sign-in.
 */
export type VerifierStore = Store<string>;

/** `sessionStorage` (per tab, survives the provider round trip): the browser default. */
export class SessionVerifierStore implements VerifierStore {
  readonly #key: string;
  constructor(key = "devora.oauth.verifier") {
    this.#key = key;
  }
  get(): string | null {
    return sessionStorage.getItem(this.#key);
  }
  set(verifier: string | null): void {
    if (verifier === null) sessionStorage.removeItem(this.#key);
    else sessionStorage.setItem(this.#key, verifier);
  }
}

/** A verifier in memory: for environments without `sessionStorage` (servers, tests). */
export class MemoryVerifierStore extends MemoryStore<string> {}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export interface ClientOptions {
  /** The API's origin, e.g. `http://localhost:8080`. */
  baseUrl: string;
  tokens?: TokenStore;
  /** Where a provider sign-in's verifier waits; `sessionStorage` when there is one. */
  verifiers?: VerifierStore;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Called when the session has ended for good (refresh refused): sign the user in again. */
  onSessionEnded?: () => void;
}

/** Options every signed-in call takes. */
export interface CallOptions {
  /** Aborts the call (a component unmounted, a newer search started): it rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface PageOptions extends CallOptions {
  /** 1..100, default 20. */
  limit?: number;
  cursor?: string | null;
}

export interface RequestOptions extends CallOptions {
  /** Replays the first response for the same key and body within 24 hours. */
  idempotencyKey?: string;
}

interface Call {
  method: string;
  path: string;
  json?: unknown;
  raw?: Uint8Array | string;
  authenticated?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** Codes after which a refresh may help. */
const REFRESHABLE = new Set(["token-expired", "unauthenticated"]);

function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A project's URL path. */
function projectPath(id: string): string {
  return `/api/v2/projects/${encodeURIComponent(id)}`;
}

/**
 * A file path as URL path segments, each percent-encoded. `.` and `..` cannot
 * be sent: URL parsers resolve them (even as `%2E%2E`), so the call would reach
 * another route (`../messages`). The server refuses them as paths anyway.
 */
function filePath(path: string): string {
  const segments = path.split("/");
  if (segments.some((segment) => segment === "." || segment === "..")) {
    throw new TypeError(`Invalid file path "${path}": "." and ".." segments are not allowed`);
  }
  return segments.map(encodeURIComponent).join("/");
}

/** `Retry-After` in seconds: delay-seconds, or an HTTP date from now. */
function retryAfter(res: Response): number | null {
  const value = res.headers.get("retry-after")?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number.parseInt(value, 10);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * Which client method calls each operation of the OpenAPI document, by
 * `operationId`. The client's tests fail when the served document has an
 * operation this map does not name, so the client grows with the API.
 */
export const OPERATIONS = {
  service_info: "service.info",
  health_live: "service.live",
  health_ready: "service.ready",
  metrics: "service.metrics",
  openapi_json: "service.openapi",
  openapi_yaml: "service.openapiYaml",
  register: "auth.register",
  login: "auth.login",
  refresh: "refreshTokens",
  logout: "auth.logout",
  get_me: "auth.me",
  update_me: "auth.updateMe",
  change_password: "auth.changePassword",
  list_sessions: "auth.sessions",
  revoke_session: "auth.revokeSession",
  oauth_providers: "auth.providers",
  oauth_authorize: "auth.startSignIn",
  // The provider redirects the browser here; the app then calls `auth.exchange`.
  oauth_callback: "auth.exchange",
  oauth_exchange: "auth.exchange",
  list_projects: "projects.list",
  create_project: "projects.create",
  get_project: "projects.get",
  update_project: "projects.update",
  delete_project: "projects.delete",
  list_files: "projects.files",
  read_file: "projects.readFile",
  put_file: "projects.putFile",
  delete_file: "projects.deleteFile",
  list_messages: "projects.messages",
  post_message: "projects.postMessage",
} as const;

export type OperationId = keyof typeof OPERATIONS;

/**
 * The Devora API v2. Signed-in calls refresh the access token when it has
 * expired, once for any number of concurrent calls, and retry.
 */
export class DevoraClient {
  readonly #baseUrl: string;
  readonly #tokens: TokenStore;
  readonly #fetch: typeof fetch;
  readonly #onSessionEnded: (() => void) | undefined;
  readonly #verifiers: VerifierStore;
  #refreshing: Promise<boolean> | null = null;
  /** Counts sign-ins, so a sign-out can tell whether another sign-in replaced its session. */
  #signIns = 0;

  constructor(options: ClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#tokens = options.tokens ?? new MemoryTokenStore();
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#onSessionEnded = options.onSessionEnded;
    this.#verifiers =
      options.verifiers ??
      (typeof sessionStorage === "undefined" ? new MemoryVerifierStore() : new SessionVerifierStore());
  }

  get tokens(): TokenStore {
    return this.#tokens;
  }

  async #send(call: Call, accessToken: string | null): Promise<Response> {
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
    const init: RequestInit = { method: call.method, headers };
    if (body !== undefined) init.body = body;
    if (call.signal) init.signal = call.signal;
    return this.#fetch(`${this.#baseUrl}${call.path}`, init);
  }

  async #fail(res: Response): Promise<never> {
    const text = await res.text();
    let problem = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isProblem(parsed)) problem = parsed;
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(res.status, problem, `${res.status} ${res.statusText}`, retryAfter(res));
  }

  /** Signed in (register, login, OAuth exchange): these tokens replace any others. */
  #signedIn(signedIn: AuthResponse): AuthResponse {
    this.#signIns++;
    this.#tokens.set(signedIn.tokens);
    return signedIn;
  }

  /** The session is over for good (revoked, or its refresh refused): forget it and say so. */
  #endSession(): void {
    this.#tokens.set(null);
    this.#onSessionEnded?.();
  }

  /**
   * One refresh at a time, shared by every caller that needs it. Resolves with
   * whether there are tokens to retry with: false once the session has ended
   * (the refresh token was refused). A failure that says nothing about the
   * session (rate limited, server unavailable, network) rejects and keeps the
   * tokens. Tokens that changed meanwhile (a sign-in, a sign-out) are left alone.
   */
  async refreshTokens(): Promise<boolean> {
    this.#refreshing ??= (async () => {
      const current = this.#tokens.get();
      if (!current) return false;
      const res = await this.#send(
        { method: "POST", path: "/api/v2/auth/refresh", json: { refresh_token: current.refresh_token } },
        null,
      );
      const unchanged = this.#tokens.get()?.refresh_token === current.refresh_token;
      if (res.ok) {
        const refreshed = (await res.json()) as AuthResponse;
        if (unchanged) this.#tokens.set(refreshed.tokens);
        return this.#tokens.get() !== null;
      }
      if (res.status !== 401 && res.status !== 403) return this.#fail(res);
      if (!unchanged) return this.#tokens.get() !== null;
      this.#endSession();
      return false;
    })().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #call(call: Call): Promise<Response> {
    const authenticated = call.authenticated ?? true;
    const token = authenticated ? (this.#tokens.get()?.access_token ?? null) : null;
    const signIns = this.#signIns;
    const res = await this.#send(call, token);
    if (res.status !== 401 || !authenticated || !this.#tokens.get()) {
      return res.ok ? res : this.#fail(res);
    }
    const problem: unknown = await res.clone().json().catch(() => null);
    if (isProblem(problem) && problem.code === "session-revoked") {
      // Only if it is still this session: a sign-in may have replaced it meanwhile.
      if (this.#tokens.get()?.access_token === token) this.#endSession();
      return this.#fail(res);
    }
    if (!isProblem(problem) || !REFRESHABLE.has(problem.code)) return this.#fail(res);
    // Another call may have refreshed while this one was in flight.
    if (this.#tokens.get()?.access_token === token && !(await this.refreshTokens())) return this.#fail(res);
    // Retried only as the account it was made for: after a sign-out and another
    // sign-in meanwhile, a create or a message must not land in the new account.
    if (this.#signIns !== signIns) return this.#fail(res);
    const retried = await this.#send(call, this.#tokens.get()?.access_token ?? null);
    return retried.ok ? retried : this.#fail(retried);
  }

  async #json<T>(call: Call): Promise<T> {
    const res = await this.#call(call);
    return (await res.json()) as T;
  }

  async #text(call: Call): Promise<string> {
    const res = await this.#call(call);
    return res.text();
  }

  async #empty(call: Call): Promise<void> {
    await this.#call(call);
  }

  readonly service = {
    info: (): Promise<ServiceInfo> => this.#json({ method: "GET", path: "/api/v2", authenticated: false }),
    live: (): Promise<Liveness> => this.#json({ method: "GET", path: "/health/live", authenticated: false }),
    /** Resolves with the report whether the node is ready (200) or not (503). */
    ready: async (): Promise<Readiness> => {
      const res = await this.#send({ method: "GET", path: "/health/ready" }, null);
      if (res.status !== 200 && res.status !== 503) return this.#fail(res);
      return (await res.json()) as Readiness;
    },
    /** Prometheus text exposition. */
    metrics: (): Promise<string> => this.#text({ method: "GET", path: "/metrics", authenticated: false }),
    /** The OpenAPI 3.1 document, as JSON. */
    openapi: (): Promise<Record<string, unknown>> =>
      this.#json({ method: "GET", path: "/openapi.json", authenticated: false }),
    /** The OpenAPI 3.1 document, as YAML text. */
    openapiYaml: (): Promise<string> => this.#text({ method: "GET", path: "/openapi.yaml", authenticated: false }),
  };

  readonly auth = {
    register: async (request: RegisterRequest): Promise<AuthResponse> => {
      return this.#signedIn(
        await this.#json<AuthResponse>({
          method: "POST",
          path: "/api/v2/auth/register",
          json: request,
          authenticated: false,
        }),
      );
    },
    login: async (request: LoginRequest): Promise<AuthResponse> => {
      return this.#signedIn(
        await this.#json<AuthResponse>({
          method: "POST",
          path: "/api/v2/auth/login",
          json: request,
          authenticated: false,
        }),
      );
    },
    /**
     * Ends this session on the server, then forgets the tokens. When the server
     * could not be told (network, 429, 5xx), the call rejects and the tokens stay,
     * so signing out can be retried; the tokens are forgotten in every other case.
     */
    logout: async (): Promise<void> => {
      const current = this.#tokens.get();
      if (!current) return;
      const signIns = this.#signIns;
      try {
        await this.#empty({
          method: "POST",
          path: "/api/v2/auth/logout",
          json: { refresh_token: current.refresh_token },
          authenticated: false,
        });
      } catch (err) {
        if (!(err instanceof ApiError) || err.status === 429 || err.status >= 500) throw err;
      }
      // Unless another sign-in replaced this session meanwhile.
      if (this.#signIns === signIns) this.#tokens.set(null);
    },
    me: (options: CallOptions = {}): Promise<UserDto> =>
      this.#json({ method: "GET", path: "/api/v2/auth/me", signal: options.signal }),
    updateMe: (request: UpdateMeRequest, options: CallOptions = {}): Promise<UserDto> =>
      this.#json({ method: "PATCH", path: "/api/v2/auth/me", json: request, signal: options.signal }),
    changePassword: (request: ChangePasswordRequest, options: CallOptions = {}): Promise<void> =>
      this.#empty({ method: "POST", path: "/api/v2/auth/me/password", json: request, signal: options.signal }),
    sessions: (options: CallOptions = {}): Promise<SessionList> =>
      this.#json({ method: "GET", path: "/api/v2/auth/sessions", signal: options.signal }),
    revokeSession: (id: string, options: CallOptions = {}): Promise<void> =>
      this.#empty({
        method: "DELETE",
        path: `/api/v2/auth/sessions/${encodeURIComponent(id)}`,
        signal: options.signal,
      }),
    providers: (): Promise<OAuthProviderList> =>
      this.#json({ method: "GET", path: "/api/v2/auth/oauth/providers", authenticated: false }),
    /**
     * Where to send the browser (a full navigation, not `fetch`) to sign in with a
     * provider. Keeps a fresh PKCE verifier in this tab's `VerifierStore` and binds
     * the sign-in to it, so the login code it ends with is useless in any other
     * browser (no login CSRF).
     */
    startSignIn: async (provider: string, redirectTo?: string): Promise<string> => {
      const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
      this.#verifiers.set(verifier);
      const params = query({
        redirect_to: redirectTo,
        code_challenge: base64url(new Uint8Array(digest)),
        code_challenge_method: "S256",
      });
      return `${this.#baseUrl}/api/v2/auth/oauth/${encodeURIComponent(provider)}/authorize${params}`;
    },
    /**
     * Trades the one-time `?code=` the OAuth callback sent the browser back with,
     * proving with the verifier that this browser started the sign-in.
     */
    exchange: async (code: string): Promise<AuthResponse> => {
      const verifier = this.#verifiers.get();
      if (!verifier) throw new TypeError("No provider sign-in was started in this tab: call auth.startSignIn first");
      let signedIn: AuthResponse;
      try {
        signedIn = await this.#json<AuthResponse>({
          method: "POST",
          path: "/api/v2/auth/oauth/exchange",
          json: { code, code_verifier: verifier },
          authenticated: false,
        });
      } catch (err) {
        // Kept when trying again may work (network, 429, 5xx): the code may still be good.
        if (err instanceof ApiError && err.status !== 429 && err.status < 500) this.#verifiers.set(null);
        throw err;
      }
      this.#verifiers.set(null);
      return this.#signedIn(signedIn);
    },
  };

  readonly projects = {
    list: (page: PageOptions = {}): Promise<ProjectPage> =>
      this.#json({
        method: "GET",
        path: `/api/v2/projects${query({ limit: page.limit, cursor: page.cursor })}`,
        signal: page.signal,
      }),
    /** Every project, page after page. */
    all: async function* (this: DevoraClient, limit = 100, options: CallOptions = {}): AsyncGenerator<ProjectDto> {
      let cursor: string | null = null;
      do {
        const page: ProjectPage = await this.projects.list({ limit, cursor, ...options });
        yield* page.items;
        cursor = page.next_cursor;
      } while (cursor);
    }.bind(this),
    create: (request: CreateProjectRequest, options: RequestOptions = {}): Promise<ProjectDto> =>
      this.#json({
        method: "POST",
        path: "/api/v2/projects",
        json: request,
        headers: options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {},
        signal: options.signal,
      }),
    get: (id: string, options: CallOptions = {}): Promise<ProjectDto> =>
      this.#json({ method: "GET", path: projectPath(id), signal: options.signal }),
    update: (id: string, request: UpdateProjectRequest, options: CallOptions = {}): Promise<ProjectDto> =>
      this.#json({ method: "PATCH", path: projectPath(id), json: request, signal: options.signal }),
    delete: (id: string, options: CallOptions = {}): Promise<void> =>
      this.#empty({ method: "DELETE", path: projectPath(id), signal: options.signal }),
    files: (id: string, options: CallOptions = {}): Promise<FileList> =>
      this.#json({ method: "GET", path: `${projectPath(id)}/files`, signal: options.signal }),
    readFile: async (id: string, path: string, options: CallOptions = {}): Promise<Uint8Array> => {
      const res = await this.#call({
        method: "GET",
        path: `${projectPath(id)}/files/${filePath(path)}`,
        signal: options.signal,
      });
      return new Uint8Array(await res.arrayBuffer());
    },
    putFile: async (
      id: string,
      path: string,
      content: Uint8Array | string,
      options: CallOptions = {},
    ): Promise<FileEntry> =>
      this.#json({
        method: "PUT",
        path: `${projectPath(id)}/files/${filePath(path)}`,
        raw: content,
        signal: options.signal,
      }),
    deleteFile: async (id: string, path: string, options: CallOptions = {}): Promise<void> =>
      this.#empty({ method: "DELETE", path: `${projectPath(id)}/files/${filePath(path)}`, signal: options.signal }),
    messages: (id: string, page: PageOptions = {}): Promise<MessagePage> =>
      this.#json({
        method: "GET",
        path: `${projectPath(id)}/messages${query({ limit: page.limit, cursor: page.cursor })}`,
        signal: page.signal,
      }),
    postMessage: (id: string, content: string, options: RequestOptions = {}): Promise<MessageDto> =>
      this.#json({
        method: "POST",
        path: `${projectPath(id)}/messages`,
        json: { role: "user", content },
        headers: options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {},
        signal: options.signal,
      }),
  };
}
