// The typed client against the real server: node's test runner starts
// `devora-server` (see server.mjs) and drives it through the client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import {
  ACCOUNT_STATUSES,
  ApiError,
  COMPONENT_STATES,
  DevoraClient,
  ERROR_CODES,
  FIELD_ERROR_CODES,
  FRAMEWORKS,
  MemoryTokenStore,
  MESSAGE_ROLES,
  OAUTH_PROVIDER_IDS,
  OPERATIONS,
  OPERATION_KINDS,
  REFUSAL_REASONS,
  REVISION_KINDS,
  USER_ROLES,
} from "../dist/index.js";
import { SECRET, email, password, startServer, stopServers } from "./server.mjs";

let baseUrl;

// Every problem the server sends these tests, recorded to check its codes against ERROR_CODES.
const problems = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (...args) => {
  const res = await realFetch(...args);
  if (res.headers.get("content-type")?.startsWith("application/problem+json")) problems.push(await res.clone().json());
  return res;
};

before(async () => {
  baseUrl = await startServer("client");
});

after(stopServers);

async function signedIn(fetchImpl, url = baseUrl) {
  const client = new DevoraClient(fetchImpl ? { baseUrl: url, fetch: fetchImpl } : { baseUrl: url });
  const res = await client.auth.register({ email: email(), password, name: "Client Test" });
  return { client, user: res.user };
}

test("service endpoints answer", async () => {
  const client = new DevoraClient({ baseUrl });
  const info = await client.service.info();
  assert.equal(info.api_version, "v2");
  assert.equal((await client.service.live()).status, "ok");
  assert.equal((await client.service.ready()).checks.database.status, "up");
});

test("register, me, update, sessions, logout", async () => {
  const { client, user } = await signedIn();
  assert.equal((await client.auth.me()).id, user.id);
  assert.equal((await client.auth.updateMe({ name: "Renamed" })).name, "Renamed");
  const sessions = await client.auth.sessions();
  assert.equal(sessions.items.length, 1);
  assert.equal(sessions.items[0].current, true);
  const { access_token: spent } = client.tokens.get();
  await client.auth.logout();
  assert.equal(client.tokens.get(), null);
  // The server ended the session: its access token no longer works.
  const res = await fetch(`${baseUrl}/api/v2/auth/me`, { headers: { authorization: `Bearer ${spent}` } });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).code, "session-revoked");
});

test("register signs the client in: no login, one session", async () => {
  const client = new DevoraClient({ baseUrl });
  const registered = await client.auth.register({ email: email(), password, name: "Registered" });
  assert.deepEqual(client.tokens.get(), registered.tokens);
  assert.equal((await client.auth.me()).id, registered.user.id);
  const sessions = await client.auth.sessions();
  assert.equal(sessions.items.length, 1, "register made the only session");
  assert.equal(sessions.items[0].current, true);
});

test("problems become ApiErrors with their code and request id", async () => {
  const client = new DevoraClient({ baseUrl });
  await assert.rejects(
    client.auth.login({ email: email(), password: "wrong password here" }),
    (err) => err instanceof ApiError && err.code === "invalid-credentials" && typeof err.requestId === "string",
  );
  const { client: other } = await signedIn();
  await assert.rejects(
    other.projects.create({ name: " " }),
    (err) => err instanceof ApiError && err.status === 422 && err.problem.errors[0].field === "name",
  );
});

test("projects, files and messages round-trip", async () => {
  const { client } = await signedIn();
  const project = await client.projects.create({ name: "Client project", framework: "nextjs" });
  assert.equal((await client.projects.get(project.id)).framework, "nextjs");
  const updated = await client.projects.update(project.id, { description: "Made by the client" });
  assert.equal(updated.description, "Made by the client");

  const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
  const entry = await client.projects.putFile(project.id, "assets/data file.bin", bytes);
  assert.equal(entry.size, 6);
  assert.deepEqual(await client.projects.readFile(project.id, "assets/data file.bin"), bytes);
  assert.deepEqual(
    (await client.projects.files(project.id)).items.map((f) => f.path),
    ["assets/data file.bin"],
  );
  await client.projects.deleteFile(project.id, "assets/data file.bin");
  assert.equal((await client.projects.files(project.id)).items.length, 0);

  const first = await client.projects.postMessage(project.id, "Hello", { idempotencyKey: "m-1" });
  const again = await client.projects.postMessage(project.id, "Hello", { idempotencyKey: "m-1" });
  assert.equal(first.id, again.id);
  assert.deepEqual(
    (await client.projects.messages(project.id)).items.map((m) => m.content),
    ["Hello"],
  );

  for (let i = 0; i < 4; i++) await client.projects.create({ name: `Extra ${i}` });
  const all = [];
  for await (const p of client.projects.all({ limit: 2 })) all.push(p.name);
  assert.equal(all.length, 5);
  assert.equal(all[0], "Extra 3");

  await client.projects.delete(project.id);
  await assert.rejects(client.projects.get(project.id), (err) => err instanceof ApiError && err.code === "not-found");
});

/** The same access token, expired: re-signed with the server's secret, `exp` in the past. */
function expired(accessToken) {
  const [header, payload] = accessToken.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
  const now = Math.floor(Date.now() / 1000);
  const body = Buffer.from(JSON.stringify({ ...claims, iat: now - 1000, exp: now - 300 })).toString("base64url");
  const signature = createHmac("sha256", SECRET).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${signature}`;
}

/** A fetch that holds back refresh responses until `release()`. */
function holdingRefreshes() {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  let refreshes = 0;
  const hold = async (url, init) => {
    if (!String(url).endsWith("/api/v2/auth/refresh")) return fetch(url, init);
    refreshes++;
    const res = await fetch(url, init);
    await gate;
    return res;
  };
  const started = async () => {
    while (refreshes === 0) await new Promise((r) => setTimeout(r, 5));
  };
  return { fetch: hold, release, started };
}

/**
 * A store that answers later, as IndexedDB or React Native storage do: every
 * get and set waits a few milliseconds (at random, so writes the client does
 * not order itself may land out of order).
 */
class SlowStore {
  #value = null;
  async get() {
    await pause();
    return this.#value;
  }
  async set(value) {
    await pause();
    this.#value = value;
  }
}
const pause = () => new Promise((r) => setTimeout(r, 1 + Math.floor(Math.random() * 8)));

// The refresh and sign-in/sign-out guarantees, with a store that answers at once and one that does not.
for (const [kind, newStore] of [
  ["memory store", () => new MemoryTokenStore()],
  ["asynchronous store", () => new SlowStore()],
]) {
  /** A client on `newStore()` (and `options`), signed in as a new user. */
  async function signedInWith(options = {}, url = baseUrl) {
    const client = new DevoraClient({ baseUrl: url, tokens: newStore(), ...options });
    const res = await client.auth.register({ email: email(), password, name: "Client Test" });
    return { client, user: res.user };
  }
  /** Replaces the access token with an expired one. */
  async function spoil(client) {
    const tokens = await client.tokens.get();
    await client.tokens.set({ ...tokens, access_token: expired(tokens.access_token) });
    return tokens;
  }

  test(`an expired access token is refreshed once for many concurrent calls (${kind})`, async () => {
    let refreshes = 0;
    const codes = [];
    const counting = async (url, init) => {
      if (String(url).endsWith("/api/v2/auth/refresh")) refreshes++;
      const res = await fetch(url, init);
      if (res.status === 401) codes.push((await res.clone().json()).code);
      return res;
    };
    const { client } = await signedInWith({ fetch: counting });
    const tokens = await spoil(client);
    const results = await Promise.all(Array.from({ length: 6 }, () => client.auth.me()));
    assert.equal(results.length, 6);
    assert.ok(codes.length > 0 && codes.every((c) => c === "token-expired"), `the server said ${codes}`);
    assert.equal(refreshes, 1, "one refresh for every concurrent caller");
    assert.notEqual((await client.tokens.get()).refresh_token, tokens.refresh_token, "the refresh token rotated");
  });

  test(`a refresh refused for a reason that is not the session keeps the session (${kind})`, async () => {
    const busy = await startServer(`busy-${kind.split(" ")[0]}`, { RATE_LIMIT_WRITES: "1/min" });
    let ended = false;
    const { client } = await signedInWith({ onSessionEnded: () => (ended = true) }, busy);
    await spoil(client);
    await client.auth.me(); // the one refresh the `writes` quota allows
    await spoil(client);
    const before = await client.tokens.get();
    const refused = await failure(client.auth.me());
    assert.deepEqual([refused.status, refused.code], [429, "quota-exceeded"]);
    assert.ok(refused.error.retryAfter >= 1);
    assert.equal(ended, false, "a rate-limited refresh does not end the session");
    assert.deepEqual(await client.tokens.get(), before, "and keeps the tokens for a later try");
  });

  test(`signing in while a refresh is in flight keeps the new sign-in (${kind})`, async () => {
    const held = holdingRefreshes();
    const { client } = await signedInWith({ fetch: held.fetch });
    await spoil(client);
    const pending = client.auth.me();
    await held.started();
    const other = email();
    await new DevoraClient({ baseUrl }).auth.register({ email: other, password, name: "Other" });
    const fresh = await client.auth.login({ email: other, password });
    held.release();
    // The call was made for the first account: it is not retried as the second.
    assert.equal((await failure(pending)).code, "token-expired");
    assert.deepEqual(await client.tokens.get(), fresh.tokens, "the late refresh did not overwrite the new tokens");
  });

  test(`a call is never retried as another account signed in meanwhile (${kind})`, async () => {
    // Hold back the answer to the first project create (a 401: its token expired).
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    let held = false;
    let reached;
    const arrived = new Promise((resolve) => (reached = resolve));
    const holding = async (url, init) => {
      const res = await fetch(url, init);
      if (!held && init?.method === "POST" && String(url).endsWith("/api/v2/projects")) {
        held = true;
        reached();
        await gate;
      }
      return res;
    };
    const { client } = await signedInWith({ fetch: holding });
    await spoil(client);
    const pending = client.projects.create({ name: "Meant for the first account" });
    await arrived;
    await client.auth.logout();
    const second = email();
    await new DevoraClient({ baseUrl }).auth.register({ email: second, password, name: "Second" });
    await client.auth.login({ email: second, password });
    release();
    assert.equal((await failure(pending)).status, 401);
    assert.deepEqual((await client.projects.list()).items, [], "nothing was created in the second account");
  });

  test(`signing out while a refresh is in flight stays signed out (${kind})`, async () => {
    const held = holdingRefreshes();
    let ended = 0;
    const { client } = await signedInWith({ fetch: held.fetch, onSessionEnded: () => ended++ });
    await spoil(client);
    const pending = client.auth.me();
    await held.started();
    await client.auth.logout();
    held.release();
    assert.equal((await failure(pending)).status, 401);
    assert.equal(await client.tokens.get(), null, "the late refresh did not bring the tokens back");
    assert.equal(ended, 0, "signing out is not a session that ended on its own");
  });

  test(`a session that cannot be refreshed ends (${kind})`, async () => {
    let ended = false;
    const { client } = await signedInWith({ onSessionEnded: () => (ended = true) });
    const store = client.tokens;
    await store.set({ ...(await store.get()), access_token: "spoiled", refresh_token: "not-a-real-refresh-token" });
    await assert.rejects(client.auth.me(), (err) => err instanceof ApiError && err.status === 401);
    assert.equal(ended, true);
    assert.equal(await store.get(), null);
  });
}

/** `code` and `status` of the ApiError a call rejects with. */
async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${err}`);
    return { status: err.status, code: err.code, error: err };
  }
  assert.fail("the call succeeded");
}

test("every operation of the served document has a client method", async () => {
  const client = new DevoraClient({ baseUrl });
  const doc = await client.service.openapi();
  const served = [];
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) served.push(op.operationId);
  }
  assert.ok(served.length > 20);
  const missing = served.filter((id) => !(id in OPERATIONS));
  assert.deepEqual(missing, [], "operations without a client method: add them to the client and OPERATIONS");
  const stale = Object.keys(OPERATIONS).filter((id) => !served.includes(id));
  assert.deepEqual(stale, [], "OPERATIONS names operations the server no longer has");
  for (const [id, member] of Object.entries(OPERATIONS)) {
    const fn = member.split(".").reduce((obj, key) => obj?.[key], client);
    assert.equal(typeof fn, "function", `${id} -> client.${member} is not a function`);
  }
});

test("a call can be aborted, and only that call", async () => {
  const { client } = await signedIn();
  const project = await client.projects.create({ name: "Abortable" });
  const controller = new AbortController();
  const aborted = client.projects.get(project.id, { signal: controller.signal });
  const other = client.projects.list({ limit: 5 });
  controller.abort();
  await assert.rejects(aborted, (err) => err.name === "AbortError");
  assert.equal((await other).items[0].id, project.id);
  await assert.rejects(client.auth.me({ signal: AbortSignal.abort() }), (err) => err.name === "AbortError");
  assert.equal((await client.auth.me()).name, "Client Test", "the session is untouched");
});

test("metrics and the YAML document are text", async () => {
  const client = new DevoraClient({ baseUrl });
  assert.match(await client.service.metrics(), /^# (HELP|TYPE) /m);
  assert.match(await client.service.openapiYaml(), /^openapi: 3\.1\.0$/m);
});

test("another user's project, file and session are not found", async () => {
  const { client: owner } = await signedIn();
  const { client: other } = await signedIn();
  const project = await owner.projects.create({ name: "Private" });
  await owner.projects.putFile(project.id, "secret.txt", "mine");
  assert.equal((await failure(other.projects.get(project.id))).code, "not-found");
  assert.equal((await failure(other.projects.readFile(project.id, "secret.txt"))).code, "not-found");
  assert.equal((await failure(other.projects.putFile(project.id, "secret.txt", "theirs"))).code, "not-found");
  assert.equal((await failure(other.projects.delete(project.id))).code, "not-found");
  const [session] = (await owner.auth.sessions()).items;
  assert.equal((await failure(other.auth.revokeSession(session.id))).status, 404);
  assert.equal(new TextDecoder().decode(await owner.projects.readFile(project.id, "secret.txt")), "mine");
});

test("bad files and reused idempotency keys are refused with their codes", async () => {
  const { client } = await signedIn();
  const project = await client.projects.create({ name: "Rules" }, { idempotencyKey: "p-1" });
  const replay = await client.projects.create({ name: "Rules" }, { idempotencyKey: "p-1" });
  assert.equal(replay.id, project.id);
  const reused = await failure(client.projects.create({ name: "Other" }, { idempotencyKey: "p-1" }));
  assert.deepEqual([reused.status, reused.code], [422, "idempotency-key-reused"]);

  // Dot segments would be resolved by the URL parser into another route: the client refuses them.
  for (const path of ["a/../../etc/passwd", "../messages", "./x"]) {
    await assert.rejects(client.projects.putFile(project.id, path, "x"), TypeError, path);
  }
  for (const path of ["a\\b.txt", "x\u0000y", "\u202egnp.exe"]) {
    const refused = await failure(client.projects.putFile(project.id, path, "x"));
    assert.deepEqual([refused.status, refused.code], [422, "validation-failed"], JSON.stringify(path));
  }
  await client.projects.putFile(project.id, "src", "a file");
  const conflict = await failure(client.projects.putFile(project.id, "src/app.ts", "x"));
  assert.deepEqual([conflict.status, conflict.code], [409, "conflict"]);
  assert.equal((await failure(client.projects.readFile(project.id, "missing.txt"))).code, "not-found");
  assert.equal((await failure(client.projects.list({ limit: 0 }))).code, "validation-failed");
  assert.deepEqual(
    (await client.projects.files(project.id)).items.map((f) => f.path),
    ["src"],
  );
});

test("changing the password ends the other sessions", async () => {
  const account = email();
  const first = new DevoraClient({ baseUrl });
  await first.auth.register({ email: account, password, name: "Two Tabs" });
  let ended = false;
  const second = new DevoraClient({ baseUrl, onSessionEnded: () => (ended = true) });
  await second.auth.login({ email: account, password });
  const wrong = await failure(
    first.auth.changePassword({ current_password: "not the password", new_password: "a brand new passphrase" }),
  );
  assert.deepEqual(
    [wrong.status, wrong.code, wrong.error.problem.errors[0].field],
    [422, "validation-failed", "current_password"],
  );
  await first.auth.changePassword({ current_password: password, new_password: "a brand new passphrase" });
  assert.equal((await first.auth.me()).email, account);
  assert.equal((await failure(second.auth.me())).status, 401);
  assert.equal(ended, true);
  assert.equal((await failure(second.auth.login({ email: account, password }))).code, "invalid-credentials");
  await second.auth.login({ email: account, password: "a brand new passphrase" });
});

test("a provider sign-in is bound to the tab that started it", async () => {
  const client = new DevoraClient({ baseUrl });
  assert.deepEqual(
    (await client.auth.providers()).items.map((p) => p.id),
    ["github"],
  );
  // No sign-in started in this tab: nothing to prove it with.
  await assert.rejects(client.auth.exchange("a-code-from-a-link"), TypeError);

  const url = new URL(await client.auth.startSignIn("github", "/projects"));
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  assert.match(url.searchParams.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
  // The server accepts the challenge and sends the browser on to the provider.
  const res = await fetch(url, { redirect: "manual" });
  assert.equal(res.status, 302);
  assert.ok(res.headers.get("location").startsWith("http://127.0.0.1:9/login/oauth/authorize?"));
  // An unknown code is refused, and the verifier is used up either way.
  assert.equal((await failure(client.auth.exchange("not-a-code"))).code, "login-code-invalid");
  await assert.rejects(client.auth.exchange("not-a-code"), TypeError);

  const unknown = await fetch(await client.auth.startSignIn("myspace"), { redirect: "manual" });
  assert.equal(unknown.status, 404);
});

test("a rate-limited call says when to retry", async () => {
  const tight = await startServer("tight", { RATE_LIMIT_READS: "2/min" });
  const { client } = await signedIn(undefined, tight);
  await client.auth.me();
  await client.auth.me();
  const refused = await failure(client.auth.me());
  assert.deepEqual([refused.status, refused.code], [429, "quota-exceeded"]);
  assert.ok(refused.error.retryAfter >= 1 && refused.error.retryAfter <= 60, `retryAfter ${refused.error.retryAfter}`);
});

test("withMeta calls resolve with the data and the response's metadata", async () => {
  const { client } = await signedIn();
  const created = await client.withMeta.projects.create({ name: "With meta" }, { idempotencyKey: "meta-1" });
  assert.equal(created.data.name, "With meta");
  assert.equal(created.meta.status, 201);
  assert.equal(created.meta.idempotentReplayed, false);
  assert.match(created.meta.requestId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    { ...created.meta.rateLimit, remaining: 0, reset: 0 },
    { policy: "writes", quota: 30, window: 60, remaining: 0, reset: 0 },
  );
  assert.ok(created.meta.rateLimit.remaining >= 0 && created.meta.rateLimit.remaining < 30);
  assert.ok(created.meta.rateLimit.reset >= 0 && created.meta.rateLimit.reset <= 60);
  assert.equal(created.meta.headers.get("location"), `/api/v2/projects/${created.data.id}`);

  const replayed = await client.withMeta.projects.create({ name: "With meta" }, { idempotencyKey: "meta-1" });
  assert.equal(replayed.meta.idempotentReplayed, true);
  assert.equal(replayed.data.id, created.data.id);

  const read = await client.withMeta.projects.get(created.data.id);
  assert.match(read.meta.etag, /^"[0-9a-f]+"$/);
  assert.equal(read.meta.rateLimit.policy, "reads");
  // The plain calls still resolve with the data alone.
  assert.deepEqual(await client.projects.get(created.data.id), read.data);
  const removed = await client.withMeta.projects.delete(created.data.id);
  assert.deepEqual([removed.data, removed.meta.status], [undefined, 204]);
  assert.equal((await client.withMeta.service.ready()).data.status, "up");
  assert.equal((await client.withMeta.auth.me()).meta.rateLimit.policy, "reads");
});

test("a rate-limited call's error carries the rate-limit state", async () => {
  const tight = await startServer("tight-meta", { RATE_LIMIT_READS: "1/min" });
  const { client } = await signedIn(undefined, tight);
  await client.auth.me();
  const refused = await failure(client.auth.me());
  assert.equal(refused.status, 429);
  assert.deepEqual([refused.error.meta.rateLimit.policy, refused.error.meta.rateLimit.remaining], ["reads", 0]);
  assert.equal(refused.error.requestId, refused.error.meta.requestId);
  assert.equal(refused.error.transient, true);
});

test("the iterators take the list's options: limit, cursor and signal", async () => {
  const { client } = await signedIn();
  let pages = 0;
  const counting = new DevoraClient({
    baseUrl,
    tokens: client.tokens,
    fetch: async (url, init) => {
      if (new URL(url).pathname === "/api/v2/projects" && init.method === "GET") pages++;
      return fetch(url, init);
    },
  });
  for (let i = 0; i < 5; i++) await client.projects.create({ name: `P${i}` });
  const names = [];
  for await (const p of counting.projects.all({ limit: 2 })) names.push(p.name);
  assert.deepEqual(names, ["P4", "P3", "P2", "P1", "P0"]);
  assert.equal(pages, 3, "pages of 2");
  // From a cursor on.
  const first = await client.projects.list({ limit: 2 });
  const rest = [];
  for await (const p of client.projects.all({ limit: 2, cursor: first.next_cursor })) rest.push(p.name);
  assert.deepEqual(rest, ["P2", "P1", "P0"]);

  const project = first.items[0];
  for (let i = 0; i < 3; i++) await client.projects.postMessage(project.id, `m${i}`);
  const contents = [];
  for await (const m of client.projects.allMessages(project.id, { limit: 2 })) contents.push(m.content);
  assert.deepEqual(contents, ["m0", "m1", "m2"]);

  // Aborting stops the iteration with the signal's reason.
  const controller = new AbortController();
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const p of client.projects.all({ limit: 2, signal: controller.signal })) {
        seen.push(p.name);
        controller.abort();
      }
    })(),
    (err) => err.name === "AbortError",
  );
  assert.deepEqual(seen, ["P4", "P3"], "the page in hand, then no more");
});

test("the enum values match what the server sends", async () => {
  const { client } = await signedIn();
  const me = await client.auth.me();
  assert.ok(USER_ROLES.includes(me.role) && ACCOUNT_STATUSES.includes(me.status));
  const ready = await client.service.ready();
  for (const state of [ready.status, ready.checks.database.status, ready.checks.redis.status]) {
    assert.ok(COMPONENT_STATES.includes(state), state);
  }
  for (const provider of (await client.auth.providers()).items) assert.ok(OAUTH_PROVIDER_IDS.includes(provider.id));
  for (const framework of FRAMEWORKS) {
    assert.equal((await client.projects.create({ name: framework, framework })).framework, framework);
  }
  const project = (await client.projects.list({ limit: 1 })).items[0];
  assert.ok(MESSAGE_ROLES.includes((await client.projects.postMessage(project.id, "hi")).role));
  // And the served document lists exactly these values.
  const { schemas } = (await client.service.openapi()).components;
  const values = {
    ErrorCode: ERROR_CODES,
    FieldErrorCode: FIELD_ERROR_CODES,
    OAuthProviderId: OAUTH_PROVIDER_IDS,
    UserRole: USER_ROLES,
    AccountStatus: ACCOUNT_STATUSES,
    FrameworkDto: FRAMEWORKS,
    MessageRoleDto: MESSAGE_ROLES,
    ComponentState: COMPONENT_STATES,
    RevisionKindDto: REVISION_KINDS,
    OperationKindDto: OPERATION_KINDS,
    RefusalReasonDto: REFUSAL_REASONS,
  };
  for (const [schema, list] of Object.entries(values))
    assert.deepEqual([...list].sort(), [...schemas[schema].enum].sort(), schema);
});

// Last: it checks what every test above saw.
test("every problem the tests saw has a code in ERROR_CODES and field codes in FIELD_ERROR_CODES", () => {
  assert.ok(problems.length >= 20, `only ${problems.length} problems seen`);
  const codes = new Set(problems.map((p) => p.code));
  assert.deepEqual(
    [...codes].filter((code) => !ERROR_CODES.includes(code)),
    [],
  );
  const fieldCodes = new Set(problems.flatMap((p) => p.errors ?? []).map((e) => e.code));
  assert.ok(fieldCodes.size > 0);
  assert.deepEqual(
    [...fieldCodes].filter((code) => !FIELD_ERROR_CODES.includes(code)),
    [],
  );
  console.log(`problem codes seen: ${[...codes].sort().join(", ")}; field codes: ${[...fieldCodes].sort().join(", ")}`);
});

test("billing: plans are public; without Stripe the rest is not-configured, naming the variable", async () => {
  const anonymous = new DevoraClient({ baseUrl });
  const plans = await anonymous.billing.plans();
  assert.deepEqual(
    plans.items.map((p) => p.id),
    ["free", "pro", "team"],
  );
  assert.equal(typeof plans.version, "number");
  const { data, meta } = await anonymous.withMeta.billing.plans();
  assert.equal(data.items[0].id, "free");
  assert.ok(meta.etag, "the plans carry an ETag");

  const { client } = await signedIn();
  const calls = {
    subscription: () => client.billing.subscription(),
    sync: () => client.billing.sync(),
    checkout: () => client.billing.checkout({ plan_id: "pro", interval: "month" }),
    portal: () => client.billing.portal(),
    cancel: () => client.billing.cancel(),
    resume: () => client.billing.resume(),
    invoices: () => client.billing.invoices({ limit: 5 }),
  };
  for (const [name, call] of Object.entries(calls)) {
    await assert.rejects(
      call(),
      (err) =>
        err instanceof ApiError &&
        err.status === 503 &&
        err.code === "not-configured" &&
        err.problem?.detail?.includes("STRIPE_SECRET_KEY"),
      name,
    );
  }
});

test("admin: reconcile is refused to a user who is not an administrator", async () => {
  const { client } = await signedIn();
  await assert.rejects(
    client.admin.reconcileBilling(),
    (err) => err instanceof ApiError && err.status === 403 && err.code === "forbidden",
  );
});
