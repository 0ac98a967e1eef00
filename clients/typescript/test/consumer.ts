// Type-checked (not run) as a consumer would compile against the built package,
// under Node's ESM resolution (`nodenext`), the strictest a consumer may use:
// every import in dist/*.d.ts must resolve, and the types must say what the
// server sends (numbers, not bigints; null to clear a field).
import { ApiError, DevoraClient, OPERATIONS, type OperationId, type TokenPair, type UpdateProjectRequest } from "../dist/index.js";

const client = new DevoraClient({ baseUrl: "http://localhost:8080" });
const tokens: TokenPair | null = client.tokens.get();
const expiresInMs: number | undefined = tokens ? tokens.expires_in * 1000 : undefined;
const clear: UpdateProjectRequest = { description: null, framework: null };
const operation: OperationId = "get_project";
const method: string = OPERATIONS[operation];
const retry: number | null = new ApiError(429, null, "429 Too Many Requests", 7).retryAfter;
export { clear, expiresInMs, method, retry };
