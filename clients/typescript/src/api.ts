// The shape of the client's calls (types only: this module ships no JavaScript).
import type {
  AuthResponse,
  ChangePasswordRequest,
  CheckoutRequest,
  InvoicePage,
  PlanList,
  ReconcileReportDto,
  RedirectUrl,
  SubscriptionDto,
  CreateProjectRequest,
  FileEntry,
  FileList,
  Liveness,
  LoginRequest,
  MessageDto,
  MessagePage,
  OAuthProviderId,
  OAuthProviderList,
  ProjectDto,
  ProjectPage,
  Readiness,
  RegisterRequest,
  ServiceInfo,
  SessionList,
  UpdateMeRequest,
  UpdateProjectRequest,
  UserDto,
} from "./generated/index.js";
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

/** A list's options; the iterators (`projects.all`, `projects.allMessages`) take the same. */
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
}

export interface ProjectsApi extends ProjectCalls {
  /** Every project, newest first, page after page (`limit` a page, 100 unless told). */
  all(options?: PageOptions): AsyncGenerator<ProjectDto, void, undefined>;
  /** A project's whole conversation, oldest first, page after page (`limit` a page, 100 unless told). */
  allMessages(id: string, options?: PageOptions): AsyncGenerator<MessageDto, void, undefined>;
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

/** Operator calls: administrators only (others get 403 `forbidden`). */
export interface AdminCalls<M extends boolean = false> {
  /** Compares every subscription at Stripe with Devora's state and repairs drift. */
  reconcileBilling(options?: CallOptions): Promise<Reply<ReconcileReportDto, M>>;
}

export type AdminApi = AdminCalls;

/** Every call that makes one request, resolving with `{ data, meta }`. */
export interface MetaApi {
  service: ServiceCalls<true>;
  auth: AuthCalls<true>;
  projects: ProjectCalls<true>;
  billing: BillingCalls<true>;
  admin: AdminCalls<true>;
}
