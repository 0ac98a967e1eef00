export {
  DevoraClient,
  MemoryStore,
  MemoryTokenStore,
  MemoryVerifierStore,
  OPERATIONS,
  SessionVerifierStore,
} from "./client.js";
export type {
  CallOptions,
  ClientOptions,
  OperationId,
  PageOptions,
  RequestOptions,
  Store,
  TokenStore,
  VerifierStore,
} from "./client.js";
export { ApiError, isProblem } from "./errors.js";
export type * from "./generated/index.js";
