// `npm run build` (and `prepare`, so `npm pack` and git installs build too):
// a clean dist/ from tsc, without the empty JavaScript that type-only modules
// compile to. Their .d.ts files stay; no JavaScript imports them (type imports
// are erased), which this script checks after removing them.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  console.error(`build: TypeScript is not installed in ${root}: run \`npm ci\` there first (it builds too)`);
  process.exit(1);
}
const built = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], { stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

/** Whether compiled JavaScript does nothing: only comments, `export {};` and its source map comment. */
function isEmptyModule(js) {
  return (
    js
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "")
      .replace(/^\s*export\s*\{\s*\};?\s*$/gm, "")
      .trim() === ""
  );
}

const removed = [];
for (const path of files(dist)) {
  if (path.endsWith(".js") && isEmptyModule(readFileSync(path, "utf8"))) {
    rmSync(path);
    rmSync(`${path}.map`, { force: true });
    removed.push(relative(dist, path));
  }
}

// Every relative import and re-export left must still resolve.
const specifier = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
const broken = [];
for (const path of files(dist)) {
  if (!path.endsWith(".js")) continue;
  for (const [, target] of readFileSync(path, "utf8").matchAll(specifier)) {
    if (!existsSync(join(dirname(path), target))) broken.push(`${relative(dist, path)} -> ${target}`);
  }
}
if (broken.length > 0) {
  console.error(`build: JavaScript imports a module that has no JavaScript:\n  ${broken.join("\n  ")}`);
  process.exit(1);
}
console.log(`build: dist/ ready; ${removed.length} type-only modules ship declarations only`);
