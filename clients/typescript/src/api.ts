// The shape of the client's calls (types only: this module ships no JavaScript).
import type {
  AccountStatus,
  AdminStatsDto,
  AdminUserDetail,
  AdminUserPage,
  AgenticRequest,
  AuditActionDto,
  AuditEntryDto,
  AuditLogPage,
  AuthResponse,
  ChangePasswordRequest,
  CheckoutRequest,
  InvoicePage,
  PlanList,
  ReconcileReportDto,
  RedirectUrl,
  RevisionDto,
  RevisionPage,
  SubscriptionDto,
  CreateProjectRequest,
  FileEntry,
  FileList,
  FullstackRequest,
  GenerationOptions,
  GenerationUsage,
  JobDto,
  JobEventDto,
  JobPage,
  JobStatusDto,
  Liveness,
  LoginRequest,
  MessageDto,
  MessagePage,
  ModelList,
  OAuthProviderId,
  OAuthProviderList,
  ProjectDto,
  ProjectPage,
  Readiness,
  RegisterRequest,
  ServiceInfo,
  SessionList,
  StreamTicket,
  UpdateMeRequest,
  UpdateProjectRequest,
  UpdateUserRequest,
  UserDto,
  UserRole,
} from "./generated/index.js";
import type { ApiError } from "./errors.js";
import type { Reply } from "./meta.js";
import type { TokenStore, VerifierStore } from "./stores.js";

export interface ClientOptions<S extends TokenStore = TokenStore> {
  /** The API's origin, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** Where the tokens live; a `MemoryTokenStore` unless you pass one (it may be asynchronous). */
  tokens?: S;
  /** Where a provider sign-in's verifier waits; `sessionStorage` when there is one. */
  verifiers?: VerifierStore;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /**
   * How long each request may take, its whole answer read, before the call fails
   * with an `ApiError` of kind `timeout`: milliseconds, or `null` for no limit.
   * Default 30 000.
   */
  timeoutMs?: number | null;
  /** Called when the session has ended for good (revoked, or its refresh refused): sign the user in again. */
  onSessionEnded?: () => void;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call (a component unmounted, a newer search started): it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** This call's own timeout (see `ClientOptions.timeoutMs`). */
  timeoutMs?: number | null;
}

/** A list's options; the iterators (`projects.all`, `projects.allMessages`, `projects.allRevisions`, ...) take the same. */
export interface PageOptions extends CallOptions {
  /** 1..100, default 20 (the iterators ask for 100 a page unless told). */
  limit?: number;
  /** Where to start: a `next_cursor` from an earlier page. */
  cursor?: string | null;
}

export interface RequestOptions extends CallOptions {
  /** Replays the first response for the same key and body within 24 hours. */
  idempotencyKey?: string;
}

/** The service's own endpoints. `M`: whether the calls resolve with `{ data, meta }`. */
export interface ServiceCalls<M extends boolean = false> {
  info(options?: CallOptions): Promise<Reply<ServiceInfo, M>>;
  live(options?: CallOptions): Promise<Reply<Liveness, M>>;
  /** Resolves with the report whether the node is ready (200) or not (503). */
  ready(options?: CallOptions): Promise<Reply<Readiness, M>>;
  /** Prometheus text exposition. */
  metrics(options?: CallOptions): Promise<Reply<string, M>>;
  /** The OpenAPI 3.1 document, as JSON. */
  openapi(options?: CallOptions): Promise<Reply<Record<string, unknown>, M>>;
  /** The OpenAPI 3.1 document, as YAML text. */
  openapiYaml(options?: CallOptions): Promise<Reply<string, M>>;
}

export type ServiceApi = ServiceCalls;

/** Accounts and sessions. `M`: whether the calls resolve with `{ data, meta }`. */
export interface AuthCalls<M extends boolean = false> {
  /** Creates the account and signs this client in with it (no login needed). */
  register(request: RegisterRequest, options?: CallOptions): Promise<Reply<AuthResponse, M>>;
  /** Signs this client in; these tokens replace any others. */
  login(request: LoginRequest, options?: CallOptions): Promise<Reply<AuthResponse, M>>;
  me(options?: CallOptions): Promise<Reply<UserDto, M>>;
  updateMe(request: UpdateMeRequest, options?: CallOptions): Promise<Reply<UserDto, M>>;
  /** Ends every other session of the account. */
  changePassword(request: ChangePasswordRequest, options?: CallOptions): Promise<Reply<void, M>>;
  sessions(options?: CallOptions): Promise<Reply<SessionList, M>>;
  revokeSession(id: string, options?: CallOptions): Promise<Reply<void, M>>;
  providers(options?: CallOptions): Promise<Reply<OAuthProviderList, M>>;
  /**
   * Trades the one-time `?code=` the OAuth callback sent the browser back with,
   * proving with the verifier that this browser started the sign-in, and signs
   * this client in. Rejects with a `TypeError` when no sign-in was started here.
   */
  exchange(code: string, options?: CallOptions): Promise<Reply<AuthResponse, M>>;
}

export interface AuthApi extends AuthCalls {
  /**
   * Ends this session on the server, then forgets the tokens. When the server
   * could not be told (network, timeout, 429, 5xx, aborted), the call rejects
   * and the tokens stay, so signing out can be retried; the tokens are
   * forgotten in every other case. Resolves at once when not signed in.
   */
  logout(options?: CallOptions): Promise<void>;
  /**
   * Where to send the browser (a full navigation, not `fetch`) to sign in with a
   * provider. Keeps a fresh PKCE verifier in this tab's `VerifierStore` and binds
   * the sign-in to it, so the login code it ends with is useless in any other
   * browser (no login CSRF). Makes no request.
   */
  startSignIn(provider: OAuthProviderId, redirectTo?: string): Promise<string>;
}

/** Projects, their files and their conversation. `M`: whether the calls resolve with `{ data, meta }`. */
export interface ProjectCalls<M extends boolean = false> {
  list(options?: PageOptions): Promise<Reply<ProjectPage, M>>;
  create(request: CreateProjectRequest, options?: RequestOptions): Promise<Reply<ProjectDto, M>>;
  get(id: string, options?: CallOptions): Promise<Reply<ProjectDto, M>>;
  update(id: string, request: UpdateProjectRequest, options?: CallOptions): Promise<Reply<ProjectDto, M>>;
  delete(id: string, options?: CallOptions): Promise<Reply<void, M>>;
  files(id: string, options?: CallOptions): Promise<Reply<FileList, M>>;
  /** A file's bytes. Rejects with a `TypeError` for a path with a `.` or `..` segment. */
  readFile(id: string, path: string, options?: CallOptions): Promise<Reply<Uint8Array, M>>;
  /** Creates or replaces a file. Rejects with a `TypeError` for a path with a `.` or `..` segment. */
  putFile(id: string, path: string, content: Uint8Array | string, options?: CallOptions): Promise<Reply<FileEntry, M>>;
  /** Rejects with a `TypeError` for a path with a `.` or `..` segment. */
  deleteFile(id: string, path: string, options?: CallOptions): Promise<Reply<void, M>>;
  messages(id: string, options?: PageOptions): Promise<Reply<MessagePage, M>>;
  postMessage(id: string, content: string, options?: RequestOptions): Promise<Reply<MessageDto, M>>;
  /** A page of the project's revisions (each job's changes, each files-API change, each restore), newest first. */
  revisions(id: string, options?: PageOptions): Promise<Reply<RevisionPage, M>>;
  /** Revision `n` (1, 2, ...): what made it, its summary, the paths it changed with their SHA-256 before and after. */
  revision(id: string, n: number, options?: CallOptions): Promise<Reply<RevisionDto, M>>;
  /**
   * Returns the files to their state after revision `n`, as a new revision (201),
   * which can be restored away in turn. When the files are already in that state
   * nothing is recorded and it resolves with revision `n` itself (200): compare
   * `number` with `n`, or read `meta.status` under `withMeta`.
   */
  restore(id: string, n: number, options?: CallOptions): Promise<Reply<RevisionDto, M>>;
}

export interface ProjectsApi extends ProjectCalls {
  /** Every project, newest first, page after page (`limit` a page, 100 unless told). */
  all(options?: PageOptions): AsyncGenerator<ProjectDto, void, undefined>;
  /** A project's whole conversation, oldest first, page after page (`limit` a page, 100 unless told). */
  allMessages(id: string, options?: PageOptions): AsyncGenerator<MessageDto, void, undefined>;
  /** A project's every revision, newest first, page after page (`limit` a page, 100 unless told). */
  allRevisions(id: string, options?: PageOptions): AsyncGenerator<RevisionDto, void, undefined>;
}

/**
 * Plans and the signed-in user's subscription. `M`: whether the calls resolve with
 * `{ data, meta }`. On a server without Stripe every call but `plans` rejects with
 * an `ApiError` of code `not-configured`.
 */
export interface BillingCalls<M extends boolean = false> {
  /** The plans on offer and what each grants (public; no sign-in needed). */
  plans(options?: CallOptions): Promise<Reply<PlanList, M>>;
  /** The plan granted now and the subscription behind it. */
  subscription(options?: CallOptions): Promise<Reply<SubscriptionDto, M>>;
  /** Fetches the subscription from Stripe now: call it on the checkout success page. */
  sync(options?: CallOptions): Promise<Reply<SubscriptionDto, M>>;
  /** A Stripe Checkout URL for a plan and interval: send the browser there. 409 `conflict` when already subscribed. */
  checkout(request: CheckoutRequest, options?: CallOptions): Promise<Reply<RedirectUrl, M>>;
  /** A Stripe customer-portal URL (change plan, payment method, invoices). */
  portal(options?: CallOptions): Promise<Reply<RedirectUrl, M>>;
  /** Cancels at the end of the current period; the plan holds until then. */
  cancel(options?: CallOptions): Promise<Reply<SubscriptionDto, M>>;
  /** Undoes a pending cancel. */
  resume(options?: CallOptions): Promise<Reply<SubscriptionDto, M>>;
  /** A page of invoices, newest first. */
  invoices(options?: PageOptions): Promise<Reply<InvoicePage, M>>;
}

export type BillingApi = BillingCalls;

/** A job list's options: a page, and filters. */
export interface JobListOptions extends PageOptions {
  /** Only this project's jobs. */
  projectId?: string;
  /** Only jobs with this status. */
  status?: JobStatusDto;
}

/** The job event of one type: `JobEventOf<"delta">` has `text`. */
export type JobEventOf<T extends JobEventDto["type"]> = Extract<JobEventDto, { type: T }>;

/** The last event of every job: its final `status`, and `error` when it failed. */
export type JobEndEvent = JobEventOf<"end">;

/** What `JobEventsOptions.onReconnect` is told before each reconnection. */
export interface ReconnectInfo {
  /** Which reconnection this is since the last event arrived: 1, 2, ... */
  attempt: number;
  /** How long it waits before connecting again. */
  delayMs: number;
  /** The `Last-Event-ID` it will resume after. */
  lastEventId: number;
  /**
   * Why the last connection ended: an `ApiError` (kind `network` when it broke off or
   * could not be made, `timeout` when it went silent or got no answer, `http` for a
   * 429 or 5xx), or null when the server closed it before the `end` event.
   */
  error: ApiError | null;
}

/** How `generation.events` follows a job. */
export interface JobEventsOptions extends CallOptions {
  /**
   * Start after this event: the `seq` (SSE `id`) of the last event you have, from
   * an earlier stream's `lastEventId`. 0 or left out: from the first event.
   */
  lastEventId?: number | null;
  /** The wait before reconnecting until the server sends its `retry:` hint (it does at once: 2000). Default 1000. */
  retryMs?: number;
  /** The longest wait between reconnections as they back off (the server's hint wins if longer). Default 30 000. */
  maxRetryMs?: number;
  /**
   * How many times in a row it may reconnect without receiving an event; past
   * that it rejects with the last connection's `ApiError`. Default: no limit
   * (like `EventSource`; abort with `signal` to stop). 0: never reconnect.
   */
  maxRetries?: number;
  /**
   * A connection silent this long is dropped and made again (the server sends a
   * comment every 15 s while a job is quiet). Default 45 000; `null`: never.
   */
  idleTimeoutMs?: number | null;
  /** Told before each reconnection: show "reconnecting...", log, count. */
  onReconnect?: (info: ReconnectInfo) => void;
}

/**
 * A job's events, in order and each once, following the job live until its
 * `end` event: `for await (const event of stream)`. A dropped connection is made
 * again after a wait (the server's `retry:` hint, backing off while connections
 * fail), resuming after the last event seen, so nothing is lost or repeated.
 */
export interface JobEventStream extends AsyncIterator<JobEventDto, void, undefined> {
  [Symbol.asyncIterator](): JobEventStream;
  readonly jobId: string;
  /**
   * The `seq` of the last event received (or the `lastEventId` it started from):
   * pass it as `lastEventId` to a later `generation.events` to carry on where this one stopped.
   */
  readonly lastEventId: number;
  /** Whether the stream has stopped (its `end` event, `close()`, an error or an abort). */
  readonly closed: boolean;
  /**
   * Asks the server to stop the job (`POST /generation/jobs/{id}/cancel`) and
   * resolves with the job as it is now. Keep reading: the stream goes on to the
   * `end` event, whose `status` is `cancelled` unless the job ended first.
   */
  cancelJob(options?: CallOptions): Promise<JobDto>;
  /** Stops watching (the job goes on): the connection closes and the iteration ends. */
  close(): void;
}

/** What `generation.watch` takes: the stream's options, and a callback for each event. */
export interface WatchOptions extends JobEventsOptions {
  /** Called with each event, in order, `end` included. An exception stops the watch and rejects it. */
  onEvent?: (event: JobEventDto) => void;
}

/** What `generation.streamUrls` takes. */
export interface StreamUrlOptions extends CallOptions {
  /** Resume after this event: adds `&last_event_id=` to both URLs. */
  lastEventId?: number | null;
}

/** A job's stream URLs for a browser, with a single-use ticket in each (valid 60 s). */
export interface JobStreamUrls {
  ticket: string;
  /** When the ticket expires (RFC 3339). */
  expiresAt: string;
  /** Absolute `http:`/`https:` URL for `new EventSource(url)`. */
  eventsUrl: string;
  /** Absolute `ws:`/`wss:` URL for `new WebSocket(url)`. */
  wsUrl: string;
}

/**
 * Generation jobs: start them, read and list them, cancel them, and their
 * usage. `M`: whether the calls resolve with `{ data, meta }`. On a server with
 * no model provider, `models`, `startAgentic` and `startFullstack` reject with
 * an `ApiError` of code `not-configured`; reading jobs works.
 */
export interface GenerationCalls<M extends boolean = false> {
  /** The models the provider offers that the caller's plan allows; `default` marks the one used when a request names none. */
  models(options?: CallOptions): Promise<Reply<ModelList, M>>;
  /** The choices of a full-stack request (frontend, backend, database, features). */
  options(options?: CallOptions): Promise<Reply<GenerationOptions, M>>;
  /** Starts an agentic job on one of the caller's projects (202: queued). */
  startAgentic(request: AgenticRequest, options?: RequestOptions): Promise<Reply<JobDto, M>>;
  /** Creates a project and starts the job that generates it: the job's `project_id` names the new project. */
  startFullstack(request: FullstackRequest, options?: RequestOptions): Promise<Reply<JobDto, M>>;
  /** A page of the caller's jobs, newest first, optionally of one project or status. */
  jobs(options?: JobListOptions): Promise<Reply<JobPage, M>>;
  job(id: string, options?: CallOptions): Promise<Reply<JobDto, M>>;
  /** Stops a job (a running one within about a second) and resolves with it as it is now; an ended job is left as it is. */
  cancel(id: string, options?: CallOptions): Promise<Reply<JobDto, M>>;
  /** A single-use ticket (60 s) for the job's event stream or WebSocket; its URLs are paths. See `streamUrls`. */
  ticket(id: string, options?: CallOptions): Promise<Reply<StreamTicket, M>>;
  /** This period's generations, tokens and concurrent jobs against the plan. */
  usage(options?: CallOptions): Promise<Reply<GenerationUsage, M>>;
}

export interface GenerationApi extends GenerationCalls {
  /** Every job (with the list's filters), newest first, page after page (`limit` a page, 100 unless told). */
  allJobs(options?: JobListOptions): AsyncGenerator<JobDto, void, undefined>;
  /**
   * Follows a job's Server-Sent Events (`GET /generation/jobs/{id}/events`,
   * signed in as the client). Makes no request until iterated. The iteration
   * ends after the `end` event (at once when `lastEventId` is already past it),
   * rejects with the signal's reason when `signal` aborts, and with an
   * `ApiError` when the stream cannot be had (404 `not-found`, 422 for a bad
   * `lastEventId`, 401 once the session has ended) or after `maxRetries`.
   */
  events(id: string, options?: JobEventsOptions): JobEventStream;
  /**
   * `events` with a callback: calls `onEvent` with each event and resolves with
   * the `end` event (null when `lastEventId` was already past it).
   */
  watch(id: string, options?: WatchOptions): Promise<JobEndEvent | null>;
  /**
   * Gets a ticket and returns the job's stream URLs for a browser, absolute
   * (on the client's `baseUrl`), `ws:`/`wss:` for the WebSocket. Each URL works
   * once, within 60 s: get new ones for every connection.
   */
  streamUrls(id: string, options?: StreamUrlOptions): Promise<JobStreamUrls>;
}

/** `admin.users`' options: a page, a search and filters. */
export interface AdminUserListOptions extends PageOptions {
  /** A prefix of the email or the name, case-insensitive (at most 100 characters). */
  q?: string;
  /** Only accounts with this role. */
  role?: UserRole;
  /** Only accounts with this status. */
  status?: AccountStatus;
}

/** `admin.auditLog`'s options: a page and filters. */
export interface AuditLogOptions extends PageOptions {
  /** An administrator's user id, or `cli` for the server's operator commands (`create-admin`, ...). */
  actor?: string;
  /** The target's id (a user's or a job's). */
  target?: string;
  action?: AuditActionDto;
  /** Entries at or after this time (a `Date`, or RFC 3339 text). */
  from?: Date | string;
  /** Entries before this time (a `Date`, or RFC 3339 text). */
  to?: Date | string;
}

/**
 * Operator calls: administrators only. Every call rejects with an `ApiError`
 * of status 403, code `forbidden`, for anyone else (401 when signed out). The
 * calls marked audited add an entry to the audit log. `M`: whether the calls
 * resolve with `{ data, meta }`.
 */
export interface AdminCalls<M extends boolean = false> {
  /** A page of accounts, newest first: search by email or name prefix (`q`), filter by role and status. */
  users(options?: AdminUserListOptions): Promise<Reply<AdminUserPage, M>>;
  /**
   * An account with its plan and subscription, this period's usage, projects
   * and storage, live sessions and sign-in methods. Audited (`user_viewed`).
   */
  user(id: string, options?: CallOptions): Promise<Reply<AdminUserDetail, M>>;
  /**
   * Changes an account's role or status (at least one; 422 for neither).
   * Suspending revokes every session of the account at once: its calls answer
   * 401 `session-revoked`, and signing in 403 `account-suspended`, until it is
   * reactivated. 409 `conflict` for the caller's own account and for the last
   * active administrator; 404 `not-found` for no such account. Audited with
   * before and after (`user_role_changed`, `user_suspended`, `user_reactivated`).
   */
  updateUser(id: string, request: UpdateUserRequest, options?: CallOptions): Promise<Reply<UserDto, M>>;
  /**
   * A page of an account's projects (metadata, never file contents), newest first.
   * Audited (`user_projects_viewed`).
   */
  userProjects(id: string, options?: PageOptions): Promise<Reply<ProjectPage, M>>;
  /**
   * A page of an account's generation jobs, newest first, with the filters of
   * `generation.jobs`. Audited (`user_jobs_viewed`).
   */
  userJobs(id: string, options?: JobListOptions): Promise<Reply<JobPage, M>>;
  /**
   * Stops any user's job, as its owner could (a queued one at once, a running one
   * within about a second), and resolves with the job as it is now. Audited
   * (`job_cancelled`) unless the job had already ended.
   */
  cancelJob(id: string, options?: CallOptions): Promise<Reply<JobDto, M>>;
  /** Users, subscriptions by plan and status, projects, jobs and webhook deliveries of the last 24 h (cached 10 s). */
  stats(options?: CallOptions): Promise<Reply<AdminStatsDto, M>>;
  /** A page of the audit log, newest first: who did what to whom, when, with the filters given. */
  auditLog(options?: AuditLogOptions): Promise<Reply<AuditLogPage, M>>;
  /** Compares every subscription at Stripe with Devora's state and repairs drift. Audited (`billing_reconciled`). */
  reconcileBilling(options?: CallOptions): Promise<Reply<ReconcileReportDto, M>>;
}

export interface AdminApi extends AdminCalls {
  /** Every account matching the options, newest first, page after page (`limit` a page, 100 unless told). */
  allUsers(options?: AdminUserListOptions): AsyncGenerator<UserDto, void, undefined>;
  /** Every audit entry matching the options, newest first, page after page (`limit` a page, 100 unless told). */
  allAuditEntries(options?: AuditLogOptions): AsyncGenerator<AuditEntryDto, void, undefined>;
}

/** Every call that makes one request, resolving with `{ data, meta }`. */
export interface MetaApi {
  service: ServiceCalls<true>;
  auth: AuthCalls<true>;
  projects: ProjectCalls<true>;
  billing: BillingCalls<true>;
  generation: GenerationCalls<true>;
  admin: AdminCalls<true>;
}
