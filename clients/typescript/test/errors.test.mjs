// What calls reject with when no good answer comes: a closed port, a server
// that never answers, one that stalls mid-body or sends something that is not
// JSON, and the caller's own abort, for every call.
import { test, after } from "node:test";
import assert from "node:assert/strict";

import { ApiError, DevoraClient, OPERATIONS } from "../dist/index.js";
import { freePort, httpServer, silentServer, stopServers } from "./server.mjs";

after(stopServers);

const tokens = { access_token: "a", refresh_token: "r", token_type: "Bearer", expires_in: 900 };

/** The ApiError a call rejects with. */
async function apiError(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${err?.stack ?? err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

test("a closed port is an ApiError of kind network, the fetch failure kept as its cause", async () => {
  const client = new DevoraClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
  for (const call of [
    () => client.service.info(),
    () => client.auth.login({ email: "a@example.com", password: "x" }),
  ]) {
    const err = await apiError(call());
    assert.equal(err.kind, "network");
    assert.equal(err.status, 0);
    assert.equal(err.code, null);
    assert.equal(err.transient, true);
    assert.ok(err.cause instanceof TypeError, `cause ${err.cause}`);
    assert.equal(err.cause.cause?.code, "ECONNREFUSED");
  }

  // Signed in: the tokens stay, so the call can be retried once the server is back.
  let ended = false;
  const signedIn = new DevoraClient({
    baseUrl: `http://127.0.0.1:${await freePort()}`,
    onSessionEnded: () => (ended = true),
  });
  signedIn.tokens.set(tokens);
  assert.equal((await apiError(signedIn.auth.me())).kind, "network");
  assert.equal((await apiError(signedIn.refreshTokens())).kind, "network");
  assert.equal((await apiError(signedIn.auth.logout())).kind, "network");
  assert.deepEqual(signedIn.tokens.get(), tokens, "a sign-out the server never heard of keeps the tokens");
  assert.equal(ended, false);

  // A provider sign-in that could not be finished can be finished later: the verifier stays.
  await signedIn.auth.startSignIn("github");
  assert.equal((await apiError(signedIn.auth.exchange("code"))).kind, "network");
  assert.equal(
    (await apiError(signedIn.auth.exchange("code"))).kind,
    "network",
    "not a TypeError: the verifier was kept",
  );
});

test("a server that never answers is an ApiError of kind timeout", async () => {
  const url = await silentServer();
  const client = new DevoraClient({ baseUrl: url, timeoutMs: 150 });
  const started = Date.now();
  const err = await apiError(client.auth.register({ email: "a@example.com", password: "x", name: "x" }));
  assert.equal(err.kind, "timeout");
  assert.equal(err.status, 0);
  assert.equal(err.transient, true);
  assert.equal(err.cause?.name, "TimeoutError");
  assert.match(err.message, /POST \/api\/v2\/auth\/register: no answer within 150 ms/);
  assert.ok(Date.now() - started < 5000);

  // A call's own timeout overrides the client's; `null` is none.
  const patient = new DevoraClient({ baseUrl: url, timeoutMs: null });
  assert.equal((await apiError(patient.service.live({ timeoutMs: 100 }))).kind, "timeout");
  patient.tokens.set(tokens);
  assert.equal((await apiError(patient.projects.list({ timeoutMs: 100 }))).kind, "timeout");

  // A refresh (shared by every call) runs under the client's timeout.
  client.tokens.set(tokens);
  assert.equal((await apiError(client.refreshTokens())).kind, "timeout");
  assert.deepEqual(client.tokens.get(), tokens, "a refresh that got no answer keeps the tokens");

  await assert.rejects(patient.service.live({ timeoutMs: 0 }), RangeError);
  assert.throws(() => new DevoraClient({ baseUrl: url, timeoutMs: -1 }), RangeError);
});

test("fetch's own timeouts (undici's headers and body timeouts) are kind timeout too", async () => {
  const undici = async () => {
    const cause = Object.assign(new Error("Headers Timeout Error"), { code: "UND_ERR_HEADERS_TIMEOUT" });
    throw new TypeError("fetch failed", { cause });
  };
  const err = await apiError(new DevoraClient({ baseUrl: "http://127.0.0.1:9", fetch: undici }).service.live());
  assert.equal(err.kind, "timeout");
  assert.equal(err.cause.cause.code, "UND_ERR_HEADERS_TIMEOUT");
});

test("a timeout covers the whole body, not just the headers", async () => {
  const url = await httpServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"name":'); // ... and never the rest.
  });
  const err = await apiError(new DevoraClient({ baseUrl: url, timeoutMs: 200 }).service.info());
  assert.equal(err.kind, "timeout");
});

test("the caller's abort wins over the timeout and is no ApiError", async () => {
  const url = await silentServer();
  const client = new DevoraClient({ baseUrl: url, timeoutMs: 5000 });
  const controller = new AbortController();
  const pending = client.auth.login({ email: "a@example.com", password: "x" }, { signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(pending, (err) => err.name === "AbortError" && !(err instanceof ApiError));
});

test("a success whose body is not JSON is an ApiError of kind invalid-response", async () => {
  const url = await httpServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html", "x-request-id": "req-1" });
    res.end("<html>Sign in to the hotel Wi-Fi</html>");
  });
  const err = await apiError(new DevoraClient({ baseUrl: url }).service.info());
  assert.equal(err.kind, "invalid-response");
  assert.equal(err.status, 200);
  assert.equal(err.transient, false);
  assert.ok(err.cause instanceof SyntaxError);
  assert.equal(err.requestId, "req-1");
});

test("an error without a problem document keeps its status and request id", async () => {
  const url = await httpServer((_req, res) => {
    res.writeHead(502, { "content-type": "text/html", "x-request-id": "req-2", "retry-after": "3" });
    res.end("<html>Bad gateway</html>");
  });
  const err = await apiError(new DevoraClient({ baseUrl: url }).service.info());
  assert.deepEqual(
    [err.kind, err.status, err.problem, err.code, err.requestId, err.retryAfter],
    ["http", 502, null, null, "req-2", 3],
  );
  assert.equal(err.transient, true);
  assert.equal(err.meta.status, 502);
});

test("every call takes a signal: an aborted one rejects with its reason and sends nothing", async () => {
  let requests = 0;
  const counting = async () => {
    requests++;
    return new Response("{}", { status: 200 });
  };
  const client = new DevoraClient({ baseUrl: "http://127.0.0.1:9", fetch: counting });
  client.tokens.set(tokens);
  await client.auth.startSignIn("github");
  const reason = new DOMException("the page went away", "AbortError");
  const signal = AbortSignal.abort(reason);
  const project = "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e";
  const collect = async (iterator) => {
    for await (const item of iterator) void item;
  };
  // Each client method, called with the signal as its options, on `client` or `client.withMeta`.
  const calls = {
    "service.info": (c) => c.service.info({ signal }),
    "service.live": (c) => c.service.live({ signal }),
    "service.ready": (c) => c.service.ready({ signal }),
    "service.metrics": (c) => c.service.metrics({ signal }),
    "service.openapi": (c) => c.service.openapi({ signal }),
    "service.openapiYaml": (c) => c.service.openapiYaml({ signal }),
    "auth.register": (c) => c.auth.register({ email: "a@example.com", password: "p", name: "n" }, { signal }),
    "auth.login": (c) => c.auth.login({ email: "a@example.com", password: "p" }, { signal }),
    refreshTokens: () => client.refreshTokens({ signal }),
    "auth.logout": (c) => c.auth.logout({ signal }),
    "auth.me": (c) => c.auth.me({ signal }),
    "auth.updateMe": (c) => c.auth.updateMe({ name: "n" }, { signal }),
    "auth.changePassword": (c) => c.auth.changePassword({ current_password: "a", new_password: "b" }, { signal }),
    "auth.sessions": (c) => c.auth.sessions({ signal }),
    "auth.revokeSession": (c) => c.auth.revokeSession(project, { signal }),
    "auth.providers": (c) => c.auth.providers({ signal }),
    "auth.exchange": (c) => c.auth.exchange("code", { signal }),
    "projects.list": (c) => c.projects.list({ signal }),
    "projects.create": (c) => c.projects.create({ name: "n" }, { signal, idempotencyKey: "k" }),
    "projects.get": (c) => c.projects.get(project, { signal }),
    "projects.update": (c) => c.projects.update(project, { name: "n" }, { signal }),
    "projects.delete": (c) => c.projects.delete(project, { signal }),
    "projects.files": (c) => c.projects.files(project, { signal }),
    "projects.readFile": (c) => c.projects.readFile(project, "a.txt", { signal }),
    "projects.putFile": (c) => c.projects.putFile(project, "a.txt", "x", { signal }),
    "projects.deleteFile": (c) => c.projects.deleteFile(project, "a.txt", { signal }),
    "projects.messages": (c) => c.projects.messages(project, { signal }),
    "projects.postMessage": (c) => c.projects.postMessage(project, "hi", { signal }),
    "projects.all": (c) => collect(c.projects.all({ signal })),
    "projects.allMessages": (c) => collect(c.projects.allMessages(project, { signal })),
    "projects.revisions": (c) => c.projects.revisions(project, { signal }),
    "projects.revision": (c) => c.projects.revision(project, 1, { signal }),
    "projects.restore": (c) => c.projects.restore(project, 1, { signal }),
    "projects.allRevisions": (c) => collect(c.projects.allRevisions(project, { signal })),
    "billing.plans": (c) => c.billing.plans({ signal }),
    "billing.subscription": (c) => c.billing.subscription({ signal }),
    "billing.sync": (c) => c.billing.sync({ signal }),
    "billing.checkout": (c) => c.billing.checkout({ plan_id: "pro", interval: "month" }, { signal }),
    "billing.portal": (c) => c.billing.portal({ signal }),
    "billing.cancel": (c) => c.billing.cancel({ signal }),
    "billing.resume": (c) => c.billing.resume({ signal }),
    "billing.invoices": (c) => c.billing.invoices({ signal }),
    "generation.models": (c) => c.generation.models({ signal }),
    "generation.options": (c) => c.generation.options({ signal }),
    "generation.startAgentic": (c) =>
      c.generation.startAgentic({ project_id: project, prompt: "p" }, { signal, idempotencyKey: "k" }),
    "generation.startFullstack": (c) =>
      c.generation.startFullstack({ name: "n", frontend: "react", backend: "none", database: "none" }, { signal }),
    "generation.jobs": (c) => c.generation.jobs({ signal }),
    "generation.job": (c) => c.generation.job(project, { signal }),
    "generation.cancel": (c) => c.generation.cancel(project, { signal }),
    "generation.ticket": (c) => c.generation.ticket(project, { signal }),
    "generation.usage": (c) => c.generation.usage({ signal }),
    "generation.allJobs": (c) => collect(c.generation.allJobs({ signal })),
    "generation.events": (c) => collect(c.generation.events(project, { signal })),
    "generation.watch": (c) => c.generation.watch(project, { signal }),
    "generation.streamUrls": (c) => c.generation.streamUrls(project, { signal }),
    "admin.users": (c) => c.admin.users({ q: "ada", role: "user", status: "active", signal }),
    "admin.user": (c) => c.admin.user(project, { signal }),
    "admin.updateUser": (c) => c.admin.updateUser(project, { status: "suspended" }, { signal }),
    "admin.userProjects": (c) => c.admin.userProjects(project, { signal }),
    "admin.userJobs": (c) => c.admin.userJobs(project, { status: "running", signal }),
    "admin.cancelJob": (c) => c.admin.cancelJob(project, { signal }),
    "admin.stats": (c) => c.admin.stats({ signal }),
    "admin.auditLog": (c) => c.admin.auditLog({ action: "user_suspended", from: new Date(0), signal }),
    "admin.allUsers": (c) => collect(c.admin.allUsers({ signal })),
    "admin.allAuditEntries": (c) => collect(c.admin.allAuditEntries({ signal })),
    "admin.reconcileBilling": (c) => c.admin.reconcileBilling({ signal }),
  };
  // startSignIn makes no request: it only builds the URL to send the browser to.
  const requesting = Object.values(OPERATIONS).filter((member) => member !== "auth.startSignIn");
  assert.deepEqual(
    requesting.filter((member) => !(member in calls)),
    [],
    "a client method this test does not abort",
  );

  for (const [member, call] of Object.entries(calls)) {
    await assert.rejects(call(client), (err) => err === reason, member);
    // And the same call under withMeta, where there is one.
    const [namespace, method] = member.split(".");
    if (method && method in client.withMeta[namespace]) {
      await assert.rejects(call(client.withMeta), (err) => err === reason, `withMeta.${member}`);
    }
  }
  assert.equal(requests, 0, "nothing was sent");
  assert.deepEqual(client.tokens.get(), tokens, "and the session is untouched");
});

test("without DOMException or signal reasons (older React Native), aborts and timeouts still have their names", async () => {
  const url = await silentServer();
  const client = new DevoraClient({ baseUrl: url, timeoutMs: 100 });
  // A signal as older runtimes have it: aborted, with no reason.
  const signal = { aborted: true, reason: undefined, addEventListener() {}, removeEventListener() {} };
  const saved = globalThis.DOMException;
  delete globalThis.DOMException;
  try {
    await assert.rejects(client.service.live({ signal }), (err) => err instanceof Error && err.name === "AbortError");
    await assert.rejects(client.refreshTokens({ signal }), (err) => err.name === "AbortError");
    const err = await apiError(client.service.live());
    assert.deepEqual([err.kind, err.cause?.name], ["timeout", "TimeoutError"]);
  } finally {
    globalThis.DOMException = saved;
  }
});
