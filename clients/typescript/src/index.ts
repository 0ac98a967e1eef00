export { DevoraClient, MemoryTokenStore } from "./client.js";
export type { ClientOptions, PageOptions, RequestOptions, TokenStore } from "./client.js";
export { ApiError, isProblem } from "./errors.js";
export type * from "./generated/index";
