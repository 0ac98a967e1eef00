// The typed client against the real server: node's test runner starts
// `devora-server` (DEVORA_SERVER_BIN, default ../../target/debug/devora-server)
// on a free port with a fresh SQLite file, and drives it through the client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { ApiError, DevoraClient, MemoryTokenStore } from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.DEVORA_SERVER_BIN ?? resolve(here, "../../../target/debug/devora-server");
let server;
let dir;
let baseUrl;

function freePort() {
  return new Promise((done, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "devora-client-"));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  server = spawn(binary, [], {
    env: {
      ...process.env,
      PORT: String(port),
      DATABASE_URL: `sqlite://${join(dir, "client.db")}?mode=rwc`,
      JWT_SECRET: "client-test-secret-client-test-secret",
      RATE_LIMIT_AUTH: "1000/min",
      RATE_LIMIT_LOGIN: "1000/min",
      RATE_LIMIT_LOGIN_IP: "1000/min",
      FREE_PLAN_MAX_PROJECTS: "1000",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${baseUrl}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`devora-server did not become ready (${binary})`);
});

after(() => {
  server?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const email = () => `client-${crypto.randomUUID()}@example.com`;
const password = "client test passphrase";

async function signedIn(fetchImpl) {
  const client = new DevoraClient(fetchImpl ? { baseUrl, fetch: fetchImpl } : { baseUrl });
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
  await client.auth.logout();
  assert.equal(client.tokens.get(), null);
  await assert.rejects(client.auth.me(), (err) => err instanceof ApiError && err.status === 401);
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
  assert.deepEqual((await client.projects.files(project.id)).items.map((f) => f.path), ["assets/data file.bin"]);
  await client.projects.deleteFile(project.id, "assets/data file.bin");
  assert.equal((await client.projects.files(project.id)).items.length, 0);

  const first = await client.projects.postMessage(project.id, "Hello", { idempotencyKey: "m-1" });
  const again = await client.projects.postMessage(project.id, "Hello", { idempotencyKey: "m-1" });
  assert.equal(first.id, again.id);
  assert.deepEqual((await client.projects.messages(project.id)).items.map((m) => m.content), ["Hello"]);

  for (let i = 0; i < 4; i++) await client.projects.create({ name: `Extra ${i}` });
  const all = [];
  for await (const p of client.projects.all(2)) all.push(p.name);
  assert.equal(all.length, 5);
  assert.equal(all[0], "Extra 3");

  await client.projects.delete(project.id);
  await assert.rejects(client.projects.get(project.id), (err) => err instanceof ApiError && err.code === "not-found");
});

test("an expired access token is refreshed once for many concurrent calls", async () => {
  let refreshes = 0;
  const counting = (url, init) => {
    if (String(url).endsWith("/api/v2/auth/refresh")) refreshes++;
    return fetch(url, init);
  };
  const { client } = await signedIn(counting);
  const tokens = client.tokens.get();
  // Spoil the access token, as its expiry would.
  client.tokens.set({ ...tokens, access_token: "expired.access.token" });
  const results = await Promise.all(Array.from({ length: 6 }, () => client.auth.me()));
  assert.equal(results.length, 6);
  assert.equal(refreshes, 1, "one refresh for every concurrent caller");
  assert.notEqual(client.tokens.get().refresh_token, tokens.refresh_token, "the refresh token rotated");
});

test("a session that cannot be refreshed ends", async () => {
  let ended = false;
  const store = new MemoryTokenStore();
  const client = new DevoraClient({ baseUrl, tokens: store, onSessionEnded: () => (ended = true) });
  await client.auth.register({ email: email(), password, name: "Ends" });
  store.set({ ...store.get(), access_token: "spoiled", refresh_token: "not-a-real-refresh-token" });
  await assert.rejects(client.auth.me(), (err) => err instanceof ApiError && err.status === 401);
  assert.equal(ended, true);
  assert.equal(store.get(), null);
});
