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
  list_plans: "billing.plans",
  get_subscription: "billing.subscription",
  sync_subscription: "billing.sync",
  create_checkout: "billing.checkout",
  create_portal: "billing.portal",
  cancel_subscription: "billing.cancel",
  resume_subscription: "billing.resume",
  list_invoices: "billing.invoices",
  // Stripe calls its webhook; the web app's side of it is `billing.sync`.
  stripe_webhook: "billing.sync",
  list_models: "generation.models",
  generation_options: "generation.options",
  start_agentic: "generation.startAgentic",
  start_fullstack: "generation.startFullstack",
  list_jobs: "generation.jobs",
  get_job: "generation.job",
  cancel_job: "generation.cancel",
  job_stream_ticket: "generation.ticket",
  job_events: "generation.events",
  // Browsers open the WebSocket themselves, at the URL this returns.
  job_websocket: "generation.streamUrls",
  generation_usage: "generation.usage",
  reconcile_billing: "admin.reconcileBilling",
} as const;

export type OperationId = keyof typeof OPERATIONS;
