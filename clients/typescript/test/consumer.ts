// Type-checked (not run) as a consumer would compile against the package, under
// Node's ESM resolution (`nodenext`), the strictest a consumer may use: here
// through the package's own name (self-reference), and by test/package.test.mjs
// in a project that installed the packed tarball. Every import in dist/*.d.ts
// must resolve, and the types must say what the server sends (numbers, not
// bigints; null to clear a field).
import {
  ApiError,
  AUDIT_ACTIONS,
  DevoraClient,
  ERROR_CODES,
  FRAMEWORKS,
  JOB_STATUSES,
  MemoryTokenStore,
  OAUTH_PROVIDER_IDS,
  OPERATIONS,
  REFUSAL_REASONS,
  REVISION_KINDS,
  type AdminUserDetail,
  type ApiErrorKind,
  type AuditActionDto,
  type AuditEntryDto,
  type ErrorCode,
  type FrameworkDto,
  type JobDto,
  type JobEndEvent,
  type JobEventDto,
  type JobEventStream,
  type JobStatusDto,
  type JobStreamUrls,
  type MessageDto,
  type OAuthProviderId,
  type OperationId,
  type ProjectDto,
  type RateLimit,
  type RefusalReasonDto,
  type RevisionDto,
  type RevisionKindDto,
  type RevisionPage,
  type TokenPair,
  type TokenStore,
  type UpdateProjectRequest,
  type WithMeta,
} from "@devora/api-client";

const client = new DevoraClient({ baseUrl: "http://localhost:8080" });
// The default store answers at once.
const tokens: TokenPair | null = client.tokens.get();
const expiresInMs: number | undefined = tokens ? tokens.expires_in * 1000 : undefined;
const clear: UpdateProjectRequest = { description: null, framework: null };
const operation: OperationId = "get_project";
const method: string = OPERATIONS[operation];
const retry: number | null = new ApiError(429, null, "429 Too Many Requests", 7).retryAfter;

// Runtime values of the enums, typed as their unions.
const codes: readonly ErrorCode[] = ERROR_CODES;
const frameworks: readonly FrameworkDto[] = FRAMEWORKS;
const providers: readonly OAuthProviderId[] = OAUTH_PROVIDER_IDS;

// Provider names are typed.
const github: Promise<string> = client.auth.startSignIn("github", "/projects");
// @ts-expect-error: not a provider this API knows.
void client.auth.startSignIn("myspace");

// A store may answer with promises (IndexedDB, React Native storage).
class AsyncStore implements TokenStore {
  #value: TokenPair | null = null;
  async get(): Promise<TokenPair | null> {
    return this.#value;
  }
  async set(value: TokenPair | null): Promise<void> {
    this.#value = value;
  }
}
const onAsyncStore = new DevoraClient({ baseUrl: "http://localhost:8080", tokens: new AsyncStore() });
const pending: Promise<TokenPair | null> = onAsyncStore.tokens.get();
const inMemory: DevoraClient<MemoryTokenStore> = client;

// Plain calls resolve with the data; withMeta with the data and the metadata.
async function calls(signal: AbortSignal): Promise<void> {
  const project: ProjectDto = await client.projects.get("id", { signal, timeoutMs: 5_000 });
  const withMeta: WithMeta<ProjectDto> = await client.withMeta.projects.get(project.id);
  const etag: string | null = withMeta.meta.etag;
  const limit: RateLimit | null = withMeta.meta.rateLimit;
  const replayed: boolean = (await client.withMeta.projects.create({ name: "x" }, { idempotencyKey: "k" })).meta
    .idempotentReplayed;
  const removed: void = await client.projects.delete(project.id);
  await client.auth.register({ email: "a@example.com", password: "p", name: "n" }, { signal });
  await client.auth.login({ email: "a@example.com", password: "p" }, { signal });
  await client.service.live({ signal });
  await client.refreshTokens({ signal });
  // The iterators take the list's options and yield typed items.
  const all: AsyncGenerator<ProjectDto, void, undefined> = client.projects.all({ limit: 50, signal });
  for await (const message of client.projects.allMessages(project.id, { limit: 10 })) {
    const typed: MessageDto = message;
    void typed;
  }
  void [etag, limit, replayed, removed, all];
}

// Revisions: a page, one, a restore (201 a new revision, 200 revision n itself), and every one.
async function revisions(signal: AbortSignal): Promise<void> {
  const page: RevisionPage = await client.projects.revisions("p", { limit: 10, signal });
  const one: RevisionDto = await client.projects.revision("p", 3, { signal });
  const restored = await client.withMeta.projects.restore("p", one.number, { signal });
  const created: boolean = restored.meta.status === 201;
  const kinds: readonly RevisionKindDto[] = REVISION_KINDS;
  const reasons: readonly RefusalReasonDto[] = REFUSAL_REASONS;
  for await (const revision of client.projects.allRevisions("p", { signal })) {
    const from: number | undefined = revision.restored_from;
    const before: string | undefined = revision.changes[0]?.before_sha256;
    void [from, before];
  }
  // @ts-expect-error: a revision number, not a string.
  void client.projects.revision("p", "3");
  void [page.next_cursor, created, kinds, reasons];
}

// Generation: typed jobs, and events narrowed by their `type`.
async function generation(signal: AbortSignal): Promise<void> {
  const job: JobDto = await client.generation.startAgentic(
    { project_id: "p", prompt: "Add a dark mode" },
    { idempotencyKey: "k", signal },
  );
  const statuses: readonly JobStatusDto[] = JOB_STATUSES;
  const page = await client.generation.jobs({ projectId: job.project_id ?? "p", status: "running", limit: 10 });
  const replayed: boolean = (await client.withMeta.generation.startFullstack({
    name: "Shop",
    frontend: "react",
    backend: "none",
    database: "none",
  })).meta.idempotentReplayed;
  const stream: JobEventStream = client.generation.events(job.id, { signal, lastEventId: 3, maxRetries: 5 });
  let output = "";
  for await (const event of stream) {
    switch (event.type) {
      case "delta":
        output += event.text;
        break;
      case "progress":
        void [event.progress, event.step];
        break;
      case "file":
        void [event.kind, event.path, event.from, event.size, event.sha256];
        break;
      case "file_refused":
        void [event.kind, event.path, event.reason, event.message];
        break;
      case "end":
        void event.error?.code;
        break;
      default:
        void event.seq;
    }
  }
  const resumeFrom: number = stream.lastEventId;
  const cancelled: JobDto = await stream.cancelJob();
  const end: JobEndEvent | null = await client.generation.watch(job.id, {
    lastEventId: resumeFrom,
    onEvent: (event: JobEventDto) => void event.at,
  });
  const urls: JobStreamUrls = await client.generation.streamUrls(job.id, { lastEventId: resumeFrom });
  // @ts-expect-error: not a job status.
  void client.generation.jobs({ status: "done" });
  const done: JobDto = await client.generation.job(job.id, { signal });
  const revision: number | undefined = done.revision;
  const refused: RefusalReasonDto[] = done.operations.flatMap((op) => (op.reason ? [op.reason] : []));
  void [statuses, page.next_cursor, replayed, output, cancelled, end?.status, urls.wsUrl, revision, refused, done.summary];
}

// Administration: typed filters, pages and entries.
async function administration(signal: AbortSignal): Promise<void> {
  const page = await client.admin.users({ q: "ada", role: "admin", status: "suspended", limit: 10, signal });
  const detail: AdminUserDetail = await client.admin.user(page.items[0]?.id ?? "u", { signal });
  const suspended = await client.admin.updateUser(detail.user.id, { status: "suspended" });
  const meta = (await client.withMeta.admin.cancelJob("j")).meta.status;
  const actions: readonly AuditActionDto[] = AUDIT_ACTIONS;
  for await (const entry of client.admin.allAuditEntries({ target: suspended.id, from: new Date(), to: "2030-01-01T00:00:00Z" })) {
    const typed: AuditEntryDto = entry;
    const before: string | undefined = typed.before?.["status"];
    void before;
  }
  const tokens: number = (await client.admin.stats()).jobs_24h.tokens;
  // @ts-expect-error: not a role.
  void client.admin.users({ role: "root" });
  // @ts-expect-error: not an audit action.
  void client.admin.auditLog({ action: "user_deleted" });
  void [meta, actions, tokens, detail.sign_in_methods];
}

// Failures are typed.
function describe(err: unknown): string {
  if (!(err instanceof ApiError)) return "not an API error";
  const kind: ApiErrorKind = err.kind;
  switch (kind) {
    case "http":
      return `${err.status} ${err.code ?? ""} ${err.requestId ?? ""}`;
    case "network":
    case "timeout":
      return `try again later (${String(err.cause)})`;
    case "invalid-response":
      return "the server sent something unexpected";
  }
}

export { administration, calls, clear, revisions, codes, generation, describe, expiresInMs, frameworks, github, inMemory, method, pending, providers, retry };
