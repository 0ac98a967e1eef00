export type {
  AdminApi,
  AdminCalls,
  AdminUserListOptions,
  AuditLogOptions,
  AuthApi,
  AuthCalls,
  BillingApi,
  BillingCalls,
  CallOptions,
  ClientOptions,
  GenerationApi,
  GenerationCalls,
  JobEndEvent,
  JobEventOf,
  JobEventsOptions,
  JobEventStream,
  JobListOptions,
  JobStreamUrls,
  MetaApi,
  PageOptions,
  ProjectCalls,
  ProjectsApi,
  ReconnectInfo,
  RequestOptions,
  ServiceApi,
  ServiceCalls,
  StreamUrlOptions,
  WatchOptions,
} from "./api.js";
export { DevoraClient } from "./client.js";
export { ApiError, isProblem } from "./errors.js";
export type { ApiErrorKind, ApiErrorOptions } from "./errors.js";
export type { RateLimit, Reply, ResponseMeta, WithMeta } from "./meta.js";
export { OPERATIONS } from "./operations.js";
export type { OperationId } from "./operations.js";
export { MemoryStore, MemoryTokenStore, MemoryVerifierStore, SessionVerifierStore } from "./stores.js";
export type { MaybePromise, Store, TokenStore, VerifierStore } from "./stores.js";
// The generated DTO types, and the values of every enum among them.
export type * from "./generated/index.js";
export {
  ACCOUNT_STATUSES,
  AUDIT_ACTIONS,
  BILLING_INTERVALS,
  COMPONENT_STATES,
  ERROR_CODES,
  FIELD_ERROR_CODES,
  FRAMEWORKS,
  INVOICE_STATUSES,
  JOB_ERROR_CODES,
  JOB_KINDS,
  JOB_STATUSES,
  MESSAGE_ROLES,
  OAUTH_CALLBACK_ERRORS,
  OAUTH_PROVIDER_IDS,
  OPERATION_KINDS,
  REFUSAL_REASONS,
  REVISION_KINDS,
  SIGN_IN_METHODS,
  SUBSCRIPTION_STATUSES,
  USER_ROLES,
} from "./generated/values.js";
