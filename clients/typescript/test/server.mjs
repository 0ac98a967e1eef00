// Starts `devora-server` for the tests (DEVORA_SERVER_BIN, default
// ../../target/debug/devora-server) on a free port with a fresh SQLite file,
// and stand-in servers that misbehave on purpose.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const binary = process.env.DEVORA_SERVER_BIN ?? resolve(here, "../../../target/debug/devora-server");
export const SECRET = "client-test-secret-client-test-secret";

const cleanups = [];
let dir;

export function freePort() {
  return new Promise((done, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

/** The `DATABASE_URL` of the server `startServer(name)` starts: its own SQLite file. */
export function databaseUrl(name) {
  dir ??= mkdtempSync(join(tmpdir(), "devora-client-"));
  return `sqlite://${join(dir, `${name}.db`)}?mode=rwc`;
}

/**
 * Makes an administrator in the database of the server `startServer(name)`
 * started, as an operator would: `devora-server create-admin` (it creates the
 * account, or promotes the one with this email). Resolves with its output.
 */
export function createAdmin(name, adminEmail, adminPassword) {
  return new Promise((done, fail) => {
    execFile(
      binary,
      ["create-admin", "--email", adminEmail, "--password", adminPassword],
      { env: { ...process.env, DATABASE_URL: databaseUrl(name), RUST_LOG: "warn" } },
      (err, stdout, stderr) => (err ? fail(new Error(`create-admin failed: ${err.message}\n${stderr}`)) : done(stdout)),
    );
  });
}

/** Starts a server with its own SQLite file; `env` adds to or overrides the defaults. */
export async function startServer(name, env = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawn(binary, [], {
    env: {
      ...process.env,
      PORT: String(port),
      DATABASE_URL: databaseUrl(name),
      JWT_SECRET: SECRET,
      RATE_LIMIT_AUTH: "1000/min",
      RATE_LIMIT_LOGIN: "1000/min",
      RATE_LIMIT_LOGIN_IP: "1000/min",
      FREE_PLAN_MAX_PROJECTS: "1000",
      // GitHub sign-in, against a closed local port: starting a sign-in only builds a URL.
      GITHUB_CLIENT_ID: "client-test",
      GITHUB_CLIENT_SECRET: "client-test-secret",
      GITHUB_OAUTH_BASE: "http://127.0.0.1:9",
      GITHUB_API_BASE: "http://127.0.0.1:9",
      RUST_LOG: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  cleanups.push(() => server.kill("SIGTERM"));
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return url;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`devora-server did not become ready (${binary})`);
}

/** A local server that accepts connections and never answers. */
export function silentServer() {
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return listening(server, () => {
    for (const socket of sockets) socket.destroy();
  });
}

/** A local HTTP server answering every request with `handler(req, res)`. */
export function httpServer(handler) {
  const server = createHttpServer(handler);
  return listening(server, () => server.closeAllConnections());
}

function listening(server, drop) {
  return new Promise((done) => {
    server.listen(0, "127.0.0.1", () => {
      cleanups.push(() => {
        drop();
        server.close();
      });
      done(`http://127.0.0.1:${server.address().port}`);
    });
  });
}

/** Stops every server started here and removes their files. */
export function stopServers() {
  for (const cleanup of cleanups.splice(0)) cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

export const email = () => `client-${crypto.randomUUID()}@example.com`;
export const password = "client test passphrase";
