// The package a team installs: `npm pack` from a clean copy of this directory
// (no dist/: `prepare` builds it), then what is in the tarball, then the
// tarball installed offline into a new project, imported under Node ESM and
// type-checked against, and used against the real server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

import { startServer, stopServers } from "./server.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const ts = require("typescript");
const tsc = require.resolve("typescript/bin/tsc");
const npmCli = process.env.npm_execpath;

let work;
let tarball;
let unpacked;
let consumer;

/** Runs npm (the one running these tests, if any) and returns its stdout; fails the test on a non-zero exit. */
function npm(args, cwd) {
  const [command, prefix] = npmCli?.endsWith(".js") ? [process.execPath, [npmCli]] : ["npm", []];
  const run = spawnSync(command, [...prefix, ...args], { cwd, encoding: "utf8" });
  assert.equal(run.status, 0, `npm ${args.join(" ")} failed:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "devora-package-"));
  // A clean copy: what a checkout has, without dist/.
  const source = join(work, "source");
  for (const entry of ["package.json", "package-lock.json", "tsconfig.json", "README.md", "scripts", "src"]) {
    cpSync(join(root, entry), join(source, entry), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(source, "node_modules"), "dir");
  // `prepare` prints to the same stdout: the JSON is the array at the end.
  const output = npm(["pack", "--json", "--pack-destination", work], source);
  assert.match(output, /build: dist\/ ready/, "npm pack ran prepare");
  const [packed] = JSON.parse(output.slice(output.search(/^\[/m)));
  tarball = join(work, packed.filename);
  unpacked = join(work, "unpacked");
  mkdirSync(unpacked);
  const untar = spawnSync("tar", ["-xzf", tarball, "-C", unpacked]);
  assert.equal(untar.status, 0, String(untar.stderr));
  unpacked = join(unpacked, "package");

  consumer = join(work, "consumer");
  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  npm(["install", "--offline", "--no-audit", "--no-fund", tarball], consumer);
});

after(() => {
  stopServers();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("npm pack builds the package (prepare) and ships dist, src, README and package.json only", () => {
  const shipped = [...files(unpacked)].map((path) => relative(unpacked, path).split(sep).join("/"));
  assert.ok(shipped.includes("dist/index.js") && shipped.includes("dist/index.d.ts"));
  const other = shipped.filter((path) => !/^(dist|src)\//.test(path) && !["package.json", "README.md"].includes(path));
  assert.deepEqual(other, []);
  assert.ok(!shipped.some((path) => path.startsWith("src/") && !path.endsWith(".ts")));
});

test("no empty JavaScript: type-only modules ship declarations only", () => {
  const empty = [];
  for (const path of files(join(unpacked, "dist"))) {
    if (!path.endsWith(".js")) continue;
    const code = readFileSync(path, "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "")
      .replace(/^\s*export\s*\{\s*\};?\s*$/gm, "")
      .trim();
    if (code === "") empty.push(relative(unpacked, path));
  }
  assert.deepEqual(empty, []);
  assert.ok(existsSync(join(unpacked, "dist/generated/ProjectDto.d.ts")));
  assert.ok(!existsSync(join(unpacked, "dist/generated/ProjectDto.js")));
  assert.ok(!existsSync(join(unpacked, "dist/api.js")));
});

test("every .js and .d.ts has a source map whose sources are in the package", () => {
  let maps = 0;
  for (const path of files(join(unpacked, "dist"))) {
    if (!path.endsWith(".js") && !path.endsWith(".d.ts")) continue;
    const [, url] = readFileSync(path, "utf8").match(/\/\/# sourceMappingURL=(\S+)\s*$/) ?? [];
    assert.ok(url, `${relative(unpacked, path)} names no source map`);
    const mapPath = resolve(dirname(path), url);
    assert.ok(existsSync(mapPath), `${relative(unpacked, path)}: ${url} is not in the package`);
    const map = JSON.parse(readFileSync(mapPath, "utf8"));
    assert.ok(map.sources.length > 0);
    for (const [i, source] of map.sources.entries()) {
      if (map.sourcesContent?.[i] != null) continue;
      const sourcePath = resolve(dirname(mapPath), map.sourceRoot ?? "", source);
      assert.ok(sourcePath.startsWith(unpacked + sep), `${url}: ${source} is outside the package`);
      assert.ok(existsSync(sourcePath), `${relative(unpacked, mapPath)}: ${source} is not in the package`);
    }
    maps++;
  }
  assert.ok(maps > 40, `${maps} source maps`);
});

/** Type-only generics whose left-out arguments default to `any`. */
const ANY_DEFAULTS = new Set([
  "AsyncGenerator",
  "AsyncIterator",
  "AsyncIterableIterator",
  "Generator",
  "Iterator",
  "IterableIterator",
]);

test("the published declarations never say any", () => {
  const found = [];
  for (const path of files(join(unpacked, "dist"))) {
    if (!path.endsWith(".d.ts")) continue;
    const text = readFileSync(path, "utf8");
    const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
    const where = (node) => {
      const { line } = file.getLineAndCharacterOfPosition(node.getStart());
      return `${relative(unpacked, path)}:${line + 1}: ${node.getText()}`;
    };
    const visit = (node) => {
      if (node.kind === ts.SyntaxKind.AnyKeyword) found.push(where(node));
      if (
        ts.isTypeReferenceNode(node) &&
        ANY_DEFAULTS.has(node.typeName.getText()) &&
        (node.typeArguments?.length ?? 0) < 3
      ) {
        found.push(`${where(node)} (its left-out arguments are any)`);
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
    // And the word itself outside comments: a grep over the code alone.
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    for (const line of code.split("\n"))
      if (/\bany\b/.test(line)) found.push(`${relative(unpacked, path)}: ${line.trim()}`);
  }
  assert.deepEqual(found, []);
});

test("the installed package imports under Node ESM, with the enum values", async () => {
  const check = `
    import assert from "node:assert/strict";
    import * as api from "@devora/api-client";
    const names = ["ERROR_CODES", "FIELD_ERROR_CODES", "OAUTH_CALLBACK_ERRORS", "OAUTH_PROVIDER_IDS", "USER_ROLES",
      "ACCOUNT_STATUSES", "FRAMEWORKS", "MESSAGE_ROLES", "COMPONENT_STATES", "REVISION_KINDS", "OPERATION_KINDS",
      "REFUSAL_REASONS", "BILLING_INTERVALS", "SUBSCRIPTION_STATUSES", "INVOICE_STATUSES", "JOB_KINDS", "JOB_STATUSES",
      "JOB_ERROR_CODES", "AUDIT_ACTIONS", "SIGN_IN_METHODS"];
    for (const name of names) assert.ok(Array.isArray(api[name]) && api[name].length > 0, name);
    assert.ok(api.ERROR_CODES.includes("not-found"));
    assert.deepEqual(api.OAUTH_PROVIDER_IDS, ["google", "github"]);
    for (const name of ["DevoraClient", "ApiError", "MemoryTokenStore", "MemoryStore", "MemoryVerifierStore", "SessionVerifierStore", "isProblem"]) {
      assert.equal(typeof api[name], "function", name);
    }
    assert.equal(typeof api.OPERATIONS.get_project, "string");
    const client = new api.DevoraClient({ baseUrl: process.argv[2] });
    const registered = await client.auth.register({ email: "package-" + crypto.randomUUID() + "@example.com", password: "package test passphrase", name: "Installed" });
    assert.equal((await client.auth.me()).id, registered.user.id);
    console.log("installed package works");
  `;
  writeFileSync(join(consumer, "check.mjs"), check);
  const baseUrl = await startServer("package");
  const run = spawnSync(process.execPath, ["check.mjs", baseUrl], { cwd: consumer, encoding: "utf8" });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /installed package works/);
});

test("a consumer type-checks against the installed package (strict, nodenext)", () => {
  cpSync(join(root, "test/consumer.ts"), join(consumer, "consumer.ts"));
  const config = JSON.parse(readFileSync(join(root, "tsconfig.consumer.json"), "utf8"));
  config.files = ["consumer.ts"];
  writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify(config));
  const run = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: consumer, encoding: "utf8" });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  // It compiled against the installed copy, not this checkout.
  const listed = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json", "--listFiles"], {
    cwd: consumer,
    encoding: "utf8",
  });
  assert.match(listed.stdout, /consumer\/node_modules\/@devora\/api-client\/dist\/index\.d\.ts/);
});
