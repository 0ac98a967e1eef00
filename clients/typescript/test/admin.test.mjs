// The admin calls through the client against the real server: an administrator
// made as an operator would (`devora-server create-admin`), plain users beside
// them, and a model provider stand-in that never finishes, so that a job is
// still going when the administrator cancels it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import {
  ACCOUNT_STATUSES,
  ApiError,
  AUDIT_ACTIONS,
  DevoraClient,
  JOB_STATUSES,
  SIGN_IN_METHODS,
  USER_ROLES,
} from "../dist/index.js";
import { createAdmin, email, httpServer, password, startServer, stopServers } from "./server.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let baseUrl;
/** The administrator's client, and their account. */
let admin;
let adminUser;
/** What the tests share: a prefix the users made here start with, and those users. */
const tag = `adm${crypto.randomUUID().slice(0, 8)}`;
const users = [];

/** An OpenAI-compatible provider that lists a model and starts every reply, then never finishes it. */
function stuckProvider() {
  return httpServer(async (req, res) => {
    res.on("error", () => undefined);
    for await (const chunk of req) void chunk;
    if (req.method === "GET" && req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "gpt-4o-mini", object: "model", owned_by: "openai" }] }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Thinking" }, finish_reason: null }] })}\n\n`);
  });
}

/** A new plain user's client, with an email and a name starting with `tag`. */
async function plainUser(label) {
  const client = new DevoraClient({ baseUrl });
  const address = `${tag}-${label}-${crypto.randomUUID().slice(0, 4)}@example.com`;
  const { user } = await client.auth.register({ email: address, password, name: `${label} ${tag}` });
  return { client, user, email: address };
}

/** The ApiError a call rejects with. */
async function apiError(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

before(async () => {
  const provider = await stuckProvider();
  baseUrl = await startServer("admin", {
    LLM_BASE_URL: `${provider}/v1`,
    LLM_MODEL: "gpt-4o-mini",
    GENERATION_POLL_MS: "100",
  });
  const adminEmail = `boss-${tag}@example.com`; // not found by `q: tag`, a prefix
  await createAdmin("admin", adminEmail, password);
  admin = new DevoraClient({ baseUrl });
  adminUser = (await admin.auth.login({ email: adminEmail, password })).user;
  // Three plain users, made in this order: the list shows them newest first.
  for (const label of ["Ada", "Grace", "Linus"]) users.push(await plainUser(label));
});

after(stopServers);

test("create-admin made an administrator, who can sign in with that password", () => {
  assert.equal(adminUser.role, "admin");
  assert.equal(adminUser.status, "active");
});

test("admin calls: 401 signed out, 403 forbidden to a user who is not an administrator", async () => {
  const anonymous = new DevoraClient({ baseUrl });
  for (const call of [() => anonymous.admin.stats(), () => anonymous.admin.users()]) {
    const err = await apiError(call());
    assert.deepEqual([err.status, err.code], [401, "unauthenticated"]);
  }
  const { client } = users[0];
  const someone = users[1].user.id;
  const calls = {
    users: () => client.admin.users(),
    user: () => client.admin.user(someone),
    updateUser: () => client.admin.updateUser(someone, { status: "suspended" }),
    userProjects: () => client.admin.userProjects(someone),
    userJobs: () => client.admin.userJobs(someone),
    cancelJob: () => client.admin.cancelJob(someone),
    stats: () => client.admin.stats(),
    auditLog: () => client.admin.auditLog(),
    allUsers: async () => {
      for await (const user of client.admin.allUsers()) void user;
    },
  };
  for (const [name, call] of Object.entries(calls)) {
    const err = await apiError(call());
    assert.deepEqual([err.status, err.code], [403, "forbidden"], name);
  }
  // Nothing changed: the user is still active.
  assert.equal((await admin.admin.user(someone)).user.status, "active");
});

test("users: search by email or name prefix (any case), filter by role and status, page by page", async () => {
  const ids = users.map((u) => u.user.id);
  const newestFirst = [...ids].reverse();
  assert.deepEqual(
    (await admin.admin.users({ q: tag })).items.map((u) => u.id),
    newestFirst,
  );
  assert.deepEqual(
    (await admin.admin.users({ q: tag.toUpperCase() })).items.map((u) => u.id),
    newestFirst,
    "case-insensitive",
  );
  // A name prefix, and an email prefix.
  assert.deepEqual(
    (await admin.admin.users({ q: `grace ${tag}` })).items.map((u) => u.id),
    [ids[1]],
  );
  assert.deepEqual(
    (await admin.admin.users({ q: users[2].email.slice(0, tag.length + 4) })).items.map((u) => u.id),
    [ids[2]],
  );
  // Roles.
  const admins = await admin.admin.users({ role: "admin" });
  assert.ok(admins.items.some((u) => u.id === adminUser.id));
  assert.ok(admins.items.every((u) => u.role === "admin"));
  assert.deepEqual((await admin.admin.users({ q: tag, role: "user" })).items.length, 3);
  assert.deepEqual((await admin.admin.users({ q: tag, status: "suspended" })).items, []);
  for (const user of (await admin.admin.users()).items) {
    assert.ok(USER_ROLES.includes(user.role) && ACCOUNT_STATUSES.includes(user.status));
  }

  // Pages of two: the cursor carries the filters' place.
  const first = await admin.admin.users({ q: tag, limit: 2 });
  assert.deepEqual(
    first.items.map((u) => u.id),
    newestFirst.slice(0, 2),
  );
  assert.ok(first.next_cursor);
  const second = await admin.admin.users({ q: tag, limit: 2, cursor: first.next_cursor });
  assert.deepEqual(
    second.items.map((u) => u.id),
    newestFirst.slice(2),
  );
  assert.equal(second.next_cursor, null);
  const all = [];
  for await (const user of admin.admin.allUsers({ q: tag, limit: 1 })) all.push(user.id);
  assert.deepEqual(all, newestFirst);

  // Under withMeta: the data and the response's metadata.
  const { data, meta } = await admin.withMeta.admin.users({ q: tag, limit: 1 });
  assert.equal(data.items.length, 1);
  assert.equal(meta.status, 200);
  assert.ok(meta.requestId);

  const invalid = await apiError(admin.admin.users({ role: "superuser" }));
  assert.deepEqual([invalid.status, invalid.code, invalid.problem.errors[0].field], [422, "validation-failed", "role"]);
});

test("a user's detail: plan, usage, projects and storage, sessions, sign-in methods", async () => {
  const { client, user } = users[0];
  const project = await client.projects.create({ name: "Support case" });
  await client.projects.putFile(project.id, "notes.md", "hello");
  const detail = await admin.admin.user(user.id);
  assert.deepEqual(detail.user, { ...user, status: "active" });
  assert.equal(detail.subscription.plan_id, "free");
  assert.equal(detail.usage.plan_id, "free");
  assert.equal(detail.projects, 1);
  assert.equal(detail.storage_bytes, 5);
  assert.equal(detail.sessions.length, 1);
  assert.equal(detail.sessions[0].current, false);
  assert.deepEqual(detail.sign_in_methods, ["password"]);
  assert.ok(detail.sign_in_methods.every((m) => SIGN_IN_METHODS.includes(m)));

  const missing = await apiError(admin.admin.user("01a24f4f-d916-77a9-b15d-2dfd9894de91"));
  assert.deepEqual([missing.status, missing.code], [404, "not-found"]);
});

test("suspending revokes every session at once; reactivating lets the user sign in again", async () => {
  const { client, user, email: address } = users[1];
  // A second session, on another client.
  let ended = 0;
  const other = new DevoraClient({ baseUrl, onSessionEnded: () => ended++ });
  await other.auth.login({ email: address, password });
  assert.equal((await admin.admin.user(user.id)).sessions.length, 2);

  const suspended = await admin.admin.updateUser(user.id, { status: "suspended" });
  assert.deepEqual([suspended.id, suspended.status, suspended.role], [user.id, "suspended", "user"]);
  for (const session of [client, other]) {
    const err = await apiError(session.auth.me());
    assert.deepEqual([err.status, err.code], [401, "session-revoked"]);
  }
  assert.equal(ended, 1, "the client was told its session ended");
  assert.equal(other.tokens.get(), null, "and forgot its tokens");
  const refused = await apiError(new DevoraClient({ baseUrl }).auth.login({ email: address, password }));
  assert.deepEqual([refused.status, refused.code], [403, "account-suspended"]);
  assert.deepEqual((await admin.admin.user(user.id)).sessions, []);
  assert.deepEqual(
    (await admin.admin.users({ q: tag, status: "suspended" })).items.map((u) => u.id),
    [user.id],
  );

  const reactivated = await admin.admin.updateUser(user.id, { status: "active" });
  assert.equal(reactivated.status, "active");
  await client.auth.login({ email: address, password });
  assert.equal((await client.auth.me()).id, user.id);
});

test("role changes, and the protections: not one's own account, not an empty change, not an unknown user", async () => {
  const { user } = users[2];
  assert.equal((await admin.admin.updateUser(user.id, { role: "admin" })).role, "admin");
  assert.ok((await admin.admin.users({ q: tag, role: "admin" })).items.some((u) => u.id === user.id));
  assert.equal((await admin.admin.updateUser(user.id, { role: "user" })).role, "user");

  for (const request of [{ status: "suspended" }, { role: "user" }]) {
    const err = await apiError(admin.admin.updateUser(adminUser.id, request));
    assert.deepEqual([err.status, err.code], [409, "conflict"], JSON.stringify(request));
  }
  assert.equal((await admin.auth.me()).role, "admin", "the administrator is untouched");

  const empty = await apiError(admin.admin.updateUser(user.id, {}));
  assert.deepEqual([empty.status, empty.code], [422, "validation-failed"]);
  const missing = await apiError(admin.admin.updateUser("01a24f4f-d916-77a9-b15d-2dfd9894de91", { role: "user" }));
  assert.deepEqual([missing.status, missing.code], [404, "not-found"]);
});

test("a user's projects and jobs, and cancelling their job", async () => {
  const { client, user } = users[2];
  const project = await client.projects.create({ name: "Watched" });
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "Add a dark mode" });

  const projects = await admin.admin.userProjects(user.id, { limit: 10 });
  assert.deepEqual(
    projects.items.map((p) => p.id),
    [project.id],
  );
  const jobs = await admin.admin.userJobs(user.id);
  assert.deepEqual(
    jobs.items.map((j) => j.id),
    [job.id],
  );
  assert.deepEqual((await admin.admin.userJobs(user.id, { projectId: project.id })).items.length, 1);
  assert.deepEqual((await admin.admin.userJobs(user.id, { status: "succeeded" })).items, []);

  const cancelled = await admin.withMeta.admin.cancelJob(job.id);
  assert.equal(cancelled.meta.status, 202);
  assert.equal(cancelled.data.id, job.id);
  assert.ok(JOB_STATUSES.includes(cancelled.data.status));
  // Its owner sees it end as cancelled (a running job within about a second).
  let status = cancelled.data.status;
  for (let i = 0; i < 50 && status !== "cancelled"; i++) {
    await sleep(100);
    status = (await client.generation.job(job.id)).status;
  }
  assert.equal(status, "cancelled");
  // An ended job is left as it is, and nothing more is recorded.
  assert.equal((await admin.admin.cancelJob(job.id)).status, "cancelled");
  const entries = await admin.admin.auditLog({ target: job.id });
  assert.deepEqual(
    entries.items.map((e) => [e.action, e.target_type, e.actor]),
    [["job_cancelled", "job", adminUser.id]],
  );
  // Queued: cancelled at once; running: asked to stop.
  const [{ before, after }] = entries.items;
  assert.ok(
    (before.status === "queued" && after.status === "cancelled") ||
      (before.cancel_requested === "false" && after.cancel_requested === "true"),
    JSON.stringify({ before, after }),
  );

  const missing = await apiError(admin.admin.cancelJob("01a24f4f-d916-77a9-b15d-2dfd9894de91"));
  assert.deepEqual([missing.status, missing.code], [404, "not-found"]);
});

test("stats: users, subscriptions, projects, jobs and webhooks at a glance", async () => {
  const stats = await admin.admin.stats();
  assert.ok(stats.users.total >= users.length + 1);
  assert.ok(stats.users.new_7d >= users.length + 1);
  assert.equal(typeof stats.users.suspended, "number");
  assert.ok(Array.isArray(stats.subscriptions));
  assert.equal(typeof stats.projects, "number");
  for (const [status, count] of Object.entries(stats.jobs_24h.by_status)) {
    assert.ok(JOB_STATUSES.includes(status), status);
    assert.ok(count > 0);
  }
  assert.equal(typeof stats.jobs_24h.tokens, "number");
  assert.deepEqual(Object.keys(stats.webhooks_24h).sort(), ["failed", "pending", "received"]);
});

test("the audit log: who did what to whom, with before and after, filtered", async () => {
  const ada = users[0].user;
  const grace = users[1].user;
  const entries = [];
  for await (const entry of admin.admin.allAuditEntries({ target: grace.id, limit: 2 })) entries.push(entry);
  // Newest first: each read of the detail is recorded; the refused calls of a plain user are not.
  assert.deepEqual(
    entries.map((e) => e.action),
    ["user_reactivated", "user_viewed", "user_suspended", "user_viewed", "user_viewed"],
  );
  for (const entry of entries) {
    assert.equal(entry.actor, adminUser.id);
    assert.equal(entry.target_type, "user");
    assert.equal(entry.target_id, grace.id);
    assert.ok(AUDIT_ACTIONS.includes(entry.action));
    assert.ok(entry.request_id && entry.created_at);
  }
  const [reactivated, , suspended] = entries;
  assert.deepEqual(suspended.before, { role: "user", status: "active" });
  assert.deepEqual(suspended.after, { role: "user", status: "suspended" });
  assert.deepEqual(reactivated.before, { role: "user", status: "suspended" });
  assert.deepEqual(reactivated.after, { role: "user", status: "active" });

  // By action, and by action and target.
  const suspensions = await admin.admin.auditLog({ action: "user_suspended", target: grace.id });
  assert.deepEqual(
    suspensions.items.map((e) => e.id),
    [suspended.id],
  );
  const roles = await admin.admin.auditLog({ action: "user_role_changed", actor: adminUser.id });
  assert.deepEqual(
    roles.items.map((e) => [e.before.role, e.after.role]),
    [
      ["admin", "user"],
      ["user", "admin"],
    ],
  );
  // The views are recorded too.
  const views = await admin.admin.auditLog({ target: users[2].user.id });
  for (const action of ["user_projects_viewed", "user_jobs_viewed"]) {
    assert.ok(
      views.items.some((e) => e.action === action),
      action,
    );
  }
  assert.ok((await admin.admin.auditLog({ target: ada.id, action: "user_viewed" })).items.length >= 1);

  // The operator command's promotion, by the actor `cli`.
  const cli = await admin.admin.auditLog({ actor: "cli" });
  assert.deepEqual(
    cli.items.map((e) => [e.action, e.target_id, e.before?.role, e.after?.role]),
    [["user_role_changed", adminUser.id, "user", "admin"]],
  );

  // A time range: a Date or RFC 3339 text.
  const since = new Date(Date.parse(suspended.created_at));
  const later = await admin.admin.auditLog({ target: grace.id, from: since });
  assert.deepEqual(
    later.items.map((e) => e.action),
    ["user_reactivated", "user_viewed", "user_suspended"],
  );
  const before = await admin.admin.auditLog({ target: grace.id, to: suspended.created_at });
  assert.deepEqual(
    before.items.map((e) => e.action),
    ["user_viewed", "user_viewed"],
  );
  assert.deepEqual((await admin.admin.auditLog({ from: new Date(Date.now() + 3_600_000) })).items, []);

  const invalid = await apiError(admin.admin.auditLog({ from: "yesterday" }));
  assert.deepEqual([invalid.status, invalid.code, invalid.problem.errors[0].field], [422, "validation-failed", "from"]);
});

test("AUDIT_ACTIONS and SIGN_IN_METHODS are the served document's enums", async () => {
  const { schemas } = (await admin.service.openapi()).components;
  assert.deepEqual([...AUDIT_ACTIONS].sort(), [...schemas.AuditActionDto.enum].sort());
  assert.deepEqual([...SIGN_IN_METHODS].sort(), [...schemas.SignInMethod.enum].sort());
});
