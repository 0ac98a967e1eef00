export { DevoraClient, MemoryTokenStore, OPERATIONS } from "./client.js";
export type { ClientOptions, OperationId, PageOptions, RequestOptions, TokenStore } from "./client.js";
export { ApiError, isProblem } from "./errors.js";
export type * from "./generated/index.js";
