// Type-checked (not run) as a consumer would compile against the package, under
// Node's ESM resolution (`nodenext`), the strictest a consumer may use: here
// through the package's own name (self-reference), and by test/package.test.mjs
// in a project that installed the packed tarball. Every import in dist/*.d.ts
// must resolve, and the types must say what the server sends (numbers, not
// bigints; null to clear a field).
import {
  ApiError,
  DevoraClient,
  ERROR_CODES,
  FRAMEWORKS,
  MemoryTokenStore,
  OAUTH_PROVIDER_IDS,
  OPERATIONS,
  type ApiErrorKind,
  type ErrorCode,
  type FrameworkDto,
  type MessageDto,
  type OAuthProviderId,
  type OperationId,
  type ProjectDto,
  type RateLimit,
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

export { calls, clear, codes, describe, expiresInMs, frameworks, github, inMemory, method, pending, providers, retry };
