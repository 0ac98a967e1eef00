// Generation through the client against the real server, wired to a small
// OpenAI-compatible stand-in written here: starting jobs, following their
// Server-Sent Events (to the end, resumed, across a dropped connection,
// cancelled), a reply in the file protocol with its file events, operations
// and revision, restoring revisions, browser tickets for the SSE and WebSocket
// URLs, lists, usage, and the typed errors, including a server with no
// provider configured.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { request } from "node:http";

import {
  ApiError,
  DevoraClient,
  ERROR_CODES,
  JOB_ERROR_CODES,
  JOB_KINDS,
  JOB_STATUSES,
  OPERATION_KINDS,
  REFUSAL_REASONS,
  REVISION_KINDS,
} from "../dist/index.js";
import { SECRET, email, httpServer, password, startServer, stopServers } from "./server.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the stand-in answers: a few words, or many slowly when the prompt says `[slow]`. */
const WORDS = ["Hello", " from", " the", " stand", "-in", "."];
const SLOW_WORDS = Array.from({ length: 30 }, (_, i) => `w${i} `);

/**
 * What the stand-in answers when the prompt says `[protocol]`: a reply in the
 * file protocol (version 1) that writes `src/App.tsx`, edits it, deletes
 * `old.css`, tries to write outside the project, and sums up.
 */
const APP_WRITTEN = "export default function App() {\n  return <h1>Hello</h1>;\n}\n";
const APP_EDITED = "export default function App() {\n  return <h1>Hello, Devora</h1>;\n}\n";
const SUMMARY = "Added an App component that greets Devora; removed old.css.";
const PROTOCOL_REPLY = [
  "I will add the app.\n",
  '<devora-write path="src/App.tsx">\n',
  "```tsx\n",
  APP_WRITTEN,
  "```\n",
  "</devora-write>\n",
  '<devora-edit path="src/App.tsx">\n',
  "<<<<<<< SEARCH\n",
  "  return <h1>Hello</h1>;\n",
  "=======\n",
  "  return <h1>Hello, Devora</h1>;\n",
  ">>>>>>> REPLACE\n",
  "</devora-edit>\n",
  '<devora-delete path="old.css"/>\n',
  '<devora-write path="../../etc/passwd">\nroot::0:0:root:/root:/bin/sh\n</devora-write>\n',
  `<devora-summary>${SUMMARY}</devora-summary>\n`,
  "Done.",
].join("");
/** The protocol reply cut in pieces of 7 characters, so that tags arrive split across chunks. */
const PROTOCOL_PIECES = PROTOCOL_REPLY.match(/[\s\S]{1,7}/g);

/** The chat completion requests the stand-in received, parsed. */
const completions = [];

/** An OpenAI-compatible model provider: streamed chat completions and a model list. */
function llmStandIn() {
  return httpServer(async (req, res) => {
    res.on("error", () => undefined);
    let body = "";
    for await (const chunk of req) body += chunk;
    if (req.method === "GET" && req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "gpt-4o-mini", object: "model", owned_by: "openai" }] }));
      return;
    }
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "not here" } }));
      return;
    }
    const parsed = JSON.parse(body);
    completions.push(parsed);
    const slow = JSON.stringify(parsed.messages).includes("[slow]");
    const protocol = parsed.messages.at(-1)?.content?.includes("[protocol]");
    const chunk = (value) => res.write(`data: ${JSON.stringify(value)}\n\n`);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    for (const word of protocol ? PROTOCOL_PIECES : slow ? SLOW_WORDS : WORDS) {
      if (res.destroyed) return; // The job was cancelled: the server hung up.
      chunk({ choices: [{ index: 0, delta: { content: word }, finish_reason: null }] });
      await sleep(slow ? 30 : 10);
    }
    chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
    chunk({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } });
    res.end("data: [DONE]\n\n");
  });
}

let baseUrl;
let unconfigured;

before(async () => {
  const llm = await llmStandIn();
  [baseUrl, unconfigured] = await Promise.all([
    startServer("generation", {
      LLM_BASE_URL: `${llm}/v1`,
      LLM_MODEL: "gpt-4o-mini",
      GENERATION_POLL_MS: "100",
      RATE_LIMIT_GENERATION: "10000/min",
    }),
    startServer("generation-off"),
  ]);
});

after(stopServers);

/** A new user's client (with `fetch` if given) and a project of theirs. */
async function signedIn(options = {}, url = baseUrl) {
  const client = new DevoraClient({ baseUrl: url, ...options });
  await client.auth.register({ email: email(), password, name: "Generation Test" });
  const project = await client.projects.create({ name: "Generated" });
  return { client, project };
}

/** Every event of a stream, and what it ended with. */
async function collect(stream, onEvent = () => undefined) {
  const events = [];
  for await (const event of stream) {
    events.push(event);
    await onEvent(event, events);
  }
  return events;
}

/** Asserts the events are the job's log from `from` on: seq without gaps or repeats, one `end` last. */
function assertLog(events, from = 1) {
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => from + i),
    "seq counts up by one",
  );
  assert.equal(events.filter((e) => e.type === "end").length, 1, "one end event");
  assert.equal(events.at(-1).type, "end", "the end event is last");
  for (const event of events) {
    assert.ok(["status", "progress", "delta", "usage", "file", "file_refused", "end"].includes(event.type), event.type);
    assert.equal(typeof event.at, "string");
  }
}

const deltas = (events) =>
  events
    .filter((e) => e.type === "delta")
    .map((e) => e.text)
    .join("");

/** The ApiError a promise rejects with. */
async function apiError(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${err?.stack ?? err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

test("models and options", async () => {
  const { client } = await signedIn();
  const { items } = await client.generation.models();
  assert.deepEqual(items, [{ id: "gpt-4o-mini", owned_by: "openai", default: true }]);
  const options = await client.generation.options();
  for (const key of ["frontend", "backend", "database", "features"]) {
    assert.ok(Array.isArray(options[key]) && options[key].length > 0, key);
  }
  const { meta } = await client.withMeta.generation.models();
  assert.equal(meta.rateLimit.policy, "reads");
});

test("an agentic job, watched to its end: every event in order, the deltas make the output", async () => {
  const { client, project } = await signedIn();
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "Build a recipe box" });
  assert.deepEqual([job.kind, job.status, job.project_id, job.model], ["agentic", "queued", project.id, "gpt-4o-mini"]);
  const stream = client.generation.events(job.id);
  assert.equal(stream.jobId, job.id);
  const events = await collect(stream);
  assertLog(events);
  assert.equal(stream.closed, true);
  assert.equal(stream.lastEventId, events.at(-1).seq);
  assert.deepEqual(events[0], { ...events[0], type: "status", status: "queued" });
  const end = events.at(-1);
  assert.equal(end.status, "succeeded");
  assert.equal(end.error, undefined);
  const usage = events.find((e) => e.type === "usage");
  assert.deepEqual(usage.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, estimated: false });

  const done = await client.generation.job(job.id);
  assert.equal(done.status, "succeeded");
  assert.equal(done.output, WORDS.join(""));
  assert.equal(deltas(events), done.output, "the deltas join to the job's output");
  assert.ok(completions.some((c) => c.stream === true && JSON.stringify(c.messages).includes("Build a recipe box")));

  // Watching an ended job replays its log; resuming past its end yields nothing.
  const seen = [];
  const watched = await client.generation.watch(job.id, { onEvent: (event) => seen.push(event) });
  assert.deepEqual(seen, events);
  assert.deepEqual(watched, end);
  assert.deepEqual(await collect(client.generation.events(job.id, { lastEventId: end.seq })), []);
  assert.equal(await client.generation.watch(job.id, { lastEventId: end.seq }), null);
  assert.deepEqual(await collect(client.generation.events(job.id, { lastEventId: end.seq - 2 })), events.slice(-2));
});

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

test("a job edits files by the protocol: file events, its operations and revision; restore and undo", async () => {
  const { client, project } = await signedIn();
  // Revision 1: a change through the files API.
  await client.projects.putFile(project.id, "old.css", "body {}\n");
  const [first] = (await client.projects.revisions(project.id)).items;
  assert.deepEqual([first.number, first.kind, first.job_id], [1, "files", undefined]);
  assert.deepEqual(first.changes, [{ path: "old.css", after_sha256: sha256("body {}\n") }]);

  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "[protocol] Add an App" });
  const events = await collect(client.generation.events(job.id));
  assertLog(events);
  assert.equal(events.at(-1).status, "succeeded");
  assert.equal(deltas(events), PROTOCOL_REPLY, "the deltas carry the reply as the model wrote it");

  // Each applied operation is a `file` event, in the reply's order; the hostile path is refused.
  const files = events.filter((e) => e.type === "file");
  assert.deepEqual(
    files.map(({ kind, path, size, sha256 }) => ({ kind, path, size, sha256 })),
    [
      { kind: "write", path: "src/App.tsx", size: APP_WRITTEN.length, sha256: sha256(APP_WRITTEN) },
      { kind: "edit", path: "src/App.tsx", size: APP_EDITED.length, sha256: sha256(APP_EDITED) },
      { kind: "delete", path: "old.css", size: undefined, sha256: undefined },
    ],
  );
  const refused = events.filter((e) => e.type === "file_refused");
  assert.equal(refused.length, 1);
  assert.deepEqual([refused[0].kind, refused[0].reason], ["write", "invalid-path"]);
  assert.match(refused[0].message, /\.\./);
  assert.ok(REFUSAL_REASONS.includes(refused[0].reason) && OPERATION_KINDS.includes(refused[0].kind));
  // The file list agrees with the last event of each path: the edited file, and nothing else.
  const list = await client.projects.files(project.id);
  assert.deepEqual(
    list.items.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
    [{ path: "src/App.tsx", size: APP_EDITED.length, sha256: files[1].sha256 }],
  );
  assert.equal(new TextDecoder().decode(await client.projects.readFile(project.id, "src/App.tsx")), APP_EDITED);

  // The job: its summary, its operations (applied and refused, in order) and its revision.
  const done = await client.generation.job(job.id);
  assert.equal(done.summary, SUMMARY);
  assert.equal(done.revision, 2);
  assert.deepEqual(
    done.operations.map(({ kind, path, applied, reason }) => ({ kind, path, applied, reason })),
    [
      { kind: "write", path: "src/App.tsx", applied: true, reason: undefined },
      { kind: "edit", path: "src/App.tsx", applied: true, reason: undefined },
      { kind: "delete", path: "old.css", applied: true, reason: undefined },
      { kind: "write", path: undefined, applied: false, reason: "invalid-path" },
    ],
  );
  assert.equal(done.operations[1].sha256, sha256(APP_EDITED));
  assert.equal(done.operations[3].message, refused[0].message);

  // The revisions: the job's is the newest, with its job, summary and changes (one per path).
  const page = await client.projects.revisions(project.id);
  assert.deepEqual(
    page.items.map((r) => [r.number, r.kind]),
    [
      [2, "job"],
      [1, "files"],
    ],
  );
  const revision = await client.projects.revision(project.id, done.revision);
  assert.deepEqual(page.items[0], revision);
  assert.deepEqual([revision.kind, revision.job_id, revision.summary], ["job", job.id, SUMMARY]);
  assert.deepEqual(revision.changes, [
    { path: "old.css", before_sha256: sha256("body {}\n") },
    { path: "src/App.tsx", after_sha256: sha256(APP_EDITED) },
  ]);
  assert.ok(REVISION_KINDS.includes(revision.kind));

  // Restoring revision 1 undoes the job: a new revision (201, Location), old.css back, App.tsx gone.
  const undo = await client.withMeta.projects.restore(project.id, 1);
  assert.equal(undo.meta.status, 201);
  assert.deepEqual([undo.data.number, undo.data.kind, undo.data.restored_from], [3, "restore", 1]);
  assert.equal(undo.meta.headers.get("location"), `/api/v2/projects/${project.id}/revisions/3`);
  assert.equal(new TextDecoder().decode(await client.projects.readFile(project.id, "old.css")), "body {}\n");
  assert.deepEqual(
    (await client.projects.files(project.id)).items.map((f) => f.path),
    ["old.css"],
  );
  // Restoring revision 2 undoes the restore: the job's changes are back.
  const redo = await client.withMeta.projects.restore(project.id, 2);
  assert.equal(redo.meta.status, 201);
  assert.deepEqual([redo.data.number, redo.data.kind, redo.data.restored_from], [4, "restore", 2]);
  assert.equal(new TextDecoder().decode(await client.projects.readFile(project.id, "src/App.tsx")), APP_EDITED);
  assert.deepEqual(
    (await client.projects.files(project.id)).items.map((f) => f.path),
    ["src/App.tsx"],
  );
  // The same restore again changes nothing: 200 and revision 2 itself, nothing recorded.
  const again = await client.withMeta.projects.restore(project.id, 2);
  assert.equal(again.meta.status, 200);
  assert.deepEqual(again.data, revision);
  assert.equal((await client.projects.restore(project.id, 2)).number, 2);
  const all = [];
  for await (const r of client.projects.allRevisions(project.id, { limit: 1 })) all.push(r.number);
  assert.deepEqual(all, [4, 3, 2, 1]);

  // The conversation: the prompt, then the assistant's reply with the summary.
  const messages = (await client.projects.messages(project.id)).items;
  assert.deepEqual(
    messages.map((m) => m.role),
    ["user", "assistant"],
  );
  assert.ok(messages[1].content.includes(SUMMARY), messages[1].content);

  // 404 for a revision that does not exist, and for another user's project.
  const missing = "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e";
  for (const call of [
    () => client.projects.revision(project.id, 99),
    () => client.projects.restore(project.id, 99),
    () => client.projects.revision(project.id, 0),
    () => client.projects.revisions(missing),
    () => client.projects.revision(missing, 1),
  ]) {
    const err = await apiError(call());
    assert.deepEqual([err.kind, err.status, err.code, err.transient], ["http", 404, "not-found", false]);
  }
  const { client: stranger } = await signedIn();
  assert.equal((await apiError(stranger.projects.revisions(project.id))).code, "not-found");
  assert.equal((await apiError(stranger.projects.restore(project.id, 1))).code, "not-found");
  assert.equal((await apiError(client.projects.revisions(project.id, { cursor: "nonsense!" }))).status, 422);
});

test("a watch aborted mid-job resumes with lastEventId: nothing lost, nothing repeated", async () => {
  const { client, project } = await signedIn();
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "[slow] Write a long story" });
  const controller = new AbortController();
  const first = client.generation.events(job.id, { signal: controller.signal });
  const before = [];
  await assert.rejects(
    collect(first, (event, all) => {
      before.push(event);
      if (event.type === "delta" && all.filter((e) => e.type === "delta").length === 2) controller.abort();
    }),
    (err) => err.name === "AbortError",
  );
  assert.equal(first.closed, true);
  assert.equal(first.lastEventId, before.at(-1).seq);
  assert.notEqual((await client.generation.job(job.id)).status, "succeeded", "aborted while the job ran");

  const rest = await collect(client.generation.events(job.id, { lastEventId: first.lastEventId }));
  assert.equal(rest[0].seq, first.lastEventId + 1);
  const all = [...before, ...rest];
  assertLog(all);
  assert.equal(all.at(-1).status, "succeeded");
  assert.equal(deltas(all), (await client.generation.job(job.id)).output);
  assert.equal(deltas(all), SLOW_WORDS.join(""));
});

/**
 * A fetch whose first event stream breaks in the middle of an event, after
 * `keep` chunks with events; the server's `retry: 2000` is shortened to 50 on
 * the way (as a server might hint), and each stream request's Last-Event-ID recorded.
 */
function breakingFetch(keep) {
  const resumedFrom = [];
  let broken = false;
  const fetchImpl = async (url, init) => {
    const res = await fetch(url, init);
    if (!new URL(url).pathname.endsWith("/events") || res.status !== 200) return res;
    resumedFrom.push(new Headers(init.headers).get("last-event-id"));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let withEvents = 0;
    const breakNow = !broken;
    broken = true;
    const body = new ReadableStream({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        const text = decoder.decode(value, { stream: true }).replace("retry: 2000", "retry: 50");
        if (breakNow && text.includes("data:") && ++withEvents > keep) {
          // Half an event, then the connection drops.
          controller.enqueue(encoder.encode(text.slice(0, Math.ceil(text.indexOf("data:") + 12))));
          controller.error(new TypeError("terminated"));
          await reader.cancel();
          return;
        }
        controller.enqueue(encoder.encode(text));
      },
      cancel: () => reader.cancel(),
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { fetch: fetchImpl, resumedFrom };
}

test("a dropped connection is made again after the server's retry hint, resuming after the last event", async () => {
  const breaking = breakingFetch(2);
  const { client, project } = await signedIn({ fetch: breaking.fetch });
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "[slow] Keep going" });
  const reconnects = [];
  const stream = client.generation.events(job.id, { onReconnect: (info) => reconnects.push(info) });
  const events = await collect(stream);
  assertLog(events);
  assert.equal(events.at(-1).status, "succeeded");
  assert.equal(deltas(events), SLOW_WORDS.join(""));
  assert.equal(reconnects.length, 1);
  const [reconnect] = reconnects;
  assert.equal(reconnect.delayMs, 50, "the server's retry hint");
  assert.equal(reconnect.attempt, 1);
  assert.equal(reconnect.error.kind, "network");
  assert.ok(reconnect.lastEventId >= 2);
  assert.deepEqual(breaking.resumedFrom, [null, String(reconnect.lastEventId)], "Last-Event-ID on the reconnection");
});

test("cancelling through the stream ends the job cancelled, with the end event", async () => {
  const { client, project } = await signedIn();
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "[slow] Something long" });
  const stream = client.generation.events(job.id);
  let cancelled;
  let cancelledAt;
  const events = await collect(stream, async (event) => {
    if (event.type === "delta" && !cancelled) {
      cancelledAt = Date.now();
      cancelled = await stream.cancelJob();
    }
  });
  assert.equal(cancelled.id, job.id);
  assert.ok(cancelled.cancel_requested || cancelled.status === "cancelled");
  assertLog(events);
  assert.equal(events.at(-1).status, "cancelled");
  assert.ok(Date.now() - cancelledAt < 1500, `ended ${Date.now() - cancelledAt} ms after the cancel`);
  const ended = await client.generation.job(job.id);
  assert.equal(ended.status, "cancelled");
  assert.notEqual(ended.output, SLOW_WORDS.join(""), "it stopped before the model finished");
  // Cancelling an ended job changes nothing.
  assert.equal((await client.generation.cancel(job.id)).status, "cancelled");
});

/** A WebSocket client as much as the test needs: the handshake, text frames in, one masked text frame out. */
function webSocket(url) {
  const target = new URL(url);
  assert.match(target.protocol, /^wss?:$/);
  target.protocol = "http:";
  return new Promise((resolve, reject) => {
    const req = request(target, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": randomBytes(16).toString("base64"),
      },
    });
    req.on("upgrade", (res, socket, head) => resolve({ status: res.statusCode, socket: frames(socket, head) }));
    req.on("response", async (res) => {
      let body = "";
      for await (const chunk of res) body += chunk;
      resolve({ status: res.statusCode, problem: JSON.parse(body) });
    });
    req.on("error", reject);
    req.end();
  });
}

function frames(socket, head) {
  let buffer = Buffer.from(head);
  const queue = [];
  let wake = () => undefined;
  let closed = false;
  const parse = () => {
    for (;;) {
      if (buffer.length < 2) break;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) break;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) break;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) break;
      queue.push({ opcode: buffer[0] & 0x0f, payload: buffer.subarray(offset, offset + length) });
      buffer = buffer.subarray(offset + length);
    }
    wake();
  };
  socket.on("data", (data) => {
    buffer = Buffer.concat([buffer, data]);
    parse();
  });
  socket.on("close", () => {
    closed = true;
    wake();
  });
  parse();
  return {
    /** The next frame, or null once the connection has closed. */
    async next() {
      while (queue.length === 0 && !closed) await new Promise((resolve) => (wake = resolve));
      return queue.shift() ?? null;
    },
    sendText(text) {
      const payload = Buffer.from(text);
      assert.ok(payload.length < 126);
      const mask = randomBytes(4);
      const masked = payload.map((byte, i) => byte ^ mask[i % 4]);
      socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    },
    end: () => socket.destroy(),
  };
}

test("stream URLs for browsers: absolute, each ticket works once; the WebSocket cancels", async () => {
  const { client, project } = await signedIn();
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "For the browser" });
  await client.generation.watch(job.id);

  const urls = await client.generation.streamUrls(job.id);
  assert.ok(Date.parse(urls.expiresAt) > Date.now());
  const events = new URL(urls.eventsUrl);
  assert.equal(events.origin, baseUrl);
  assert.equal(events.pathname, `/api/v2/generation/jobs/${job.id}/events`);
  assert.equal(events.searchParams.get("ticket"), urls.ticket);
  assert.equal(new URL(urls.wsUrl).protocol, "ws:");
  assert.equal(new URL(urls.wsUrl).host, events.host);

  // The SSE URL, with no Authorization (as EventSource sends it): once.
  const res = await fetch(urls.eventsUrl);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const text = await res.text();
  assert.match(text, /^retry: 2000\n\nid: 1\nevent: status\ndata: \{"type":"status","seq":1,/);
  assert.match(text, /event: end\ndata: \{"type":"end",[^\n]*"status":"succeeded"/);
  const again = await fetch(urls.eventsUrl);
  assert.equal(again.status, 401);
  assert.equal((await again.json()).code, "ticket-invalid");
  // Its WebSocket URL carries the same ticket: spent too.
  assert.equal((await webSocket(urls.wsUrl)).problem.code, "ticket-invalid");

  // Resuming: a fresh ticket, after an event.
  const resumed = await client.generation.streamUrls(job.id, { lastEventId: 3 });
  assert.equal(new URL(resumed.eventsUrl).searchParams.get("last_event_id"), "3");
  assert.match(await (await fetch(resumed.eventsUrl)).text(), /^retry: 2000\n\nid: 4\n/);

  // The WebSocket: events as JSON text frames; {"type":"cancel"} stops the job; closed with 1000 after `end`.
  const slow = await client.generation.startAgentic({ project_id: project.id, prompt: "[slow] Over a socket" });
  const ws = await webSocket((await client.generation.streamUrls(slow.id)).wsUrl);
  assert.equal(ws.status, 101);
  const received = [];
  let closeCode = null;
  for (let frame = await ws.socket.next(); frame; frame = await ws.socket.next()) {
    if (frame.opcode === 0x8) {
      closeCode = frame.payload.readUInt16BE(0);
      break;
    }
    if (frame.opcode !== 0x1) continue;
    const event = JSON.parse(frame.payload.toString("utf8"));
    received.push(event);
    if (event.type === "delta" && received.filter((e) => e.type === "delta").length === 1) {
      ws.socket.sendText(JSON.stringify({ type: "cancel" }));
    }
  }
  ws.socket.end();
  assert.equal(closeCode, 1000);
  assertLog(received);
  assert.equal(received.at(-1).status, "cancelled");
  const reused = await webSocket((await client.generation.streamUrls(slow.id)).wsUrl);
  assert.equal(reused.status, 101, "a fresh ticket for each connection");
  reused.socket.end();
});

test("full-stack jobs create their project; starts are idempotent", async () => {
  const { client } = await signedIn();
  const options = await client.generation.options();
  const request = {
    name: "Shop",
    description: "Sells things",
    frontend: options.frontend[0],
    backend: options.backend[0],
    database: options.database[0],
    features: options.features.slice(0, 2),
  };
  const first = await client.withMeta.generation.startFullstack(request, { idempotencyKey: "fullstack-1" });
  assert.equal(first.meta.status, 202);
  assert.equal(first.meta.headers.get("location"), `/api/v2/generation/jobs/${first.data.id}`);
  assert.equal(first.data.kind, "fullstack");
  assert.equal((await client.projects.get(first.data.project_id)).name, "Shop");
  const replay = await client.withMeta.generation.startFullstack(request, { idempotencyKey: "fullstack-1" });
  assert.equal(replay.meta.idempotentReplayed, true);
  assert.equal(replay.data.id, first.data.id);
  const reused = await apiError(
    client.generation.startFullstack({ ...request, name: "Other" }, { idempotencyKey: "fullstack-1" }),
  );
  assert.deepEqual([reused.status, reused.code], [422, "idempotency-key-reused"]);
  assert.equal((await client.generation.watch(first.data.id)).status, "succeeded");

  const project = first.data.project_id;
  const agentic = await client.generation.startAgentic({ project_id: project, prompt: "More" }, { idempotencyKey: "a-1" });
  const again = await client.generation.startAgentic({ project_id: project, prompt: "More" }, { idempotencyKey: "a-1" });
  assert.equal(again.id, agentic.id);
  await client.generation.watch(agentic.id);
});

test("jobs list with filters and pages; usage counts them", async () => {
  const { client, project } = await signedIn();
  const other = await client.projects.create({ name: "Other" });
  const jobs = [];
  for (const [target, prompt] of [
    [project.id, "One"],
    [project.id, "Two"],
    [other.id, "Three"],
  ]) {
    const job = await client.generation.startAgentic({ project_id: target, prompt });
    await client.generation.watch(job.id);
    jobs.push(job);
  }
  const slow = await client.generation.startAgentic({ project_id: other.id, prompt: "[slow] Four" });
  await client.generation.cancel(slow.id);
  assert.equal((await client.generation.watch(slow.id)).status, "cancelled");

  const page = await client.generation.jobs({ limit: 2 });
  assert.deepEqual(
    page.items.map((j) => j.id),
    [slow.id, jobs[2].id],
    "newest first",
  );
  assert.ok(page.next_cursor);
  const next = await client.generation.jobs({ limit: 2, cursor: page.next_cursor });
  assert.deepEqual(
    next.items.map((j) => j.id),
    [jobs[1].id, jobs[0].id],
  );
  assert.equal(next.next_cursor, null);
  const ofProject = await client.generation.jobs({ projectId: project.id });
  assert.deepEqual(
    ofProject.items.map((j) => j.prompt),
    ["Two", "One"],
  );
  const cancelled = await client.generation.jobs({ status: "cancelled" });
  assert.deepEqual(
    cancelled.items.map((j) => j.id),
    [slow.id],
  );
  const succeededOfOther = await client.generation.jobs({ projectId: other.id, status: "succeeded" });
  assert.deepEqual(
    succeededOfOther.items.map((j) => j.prompt),
    ["Three"],
  );
  const all = [];
  for await (const job of client.generation.allJobs({ limit: 1 })) all.push(job.id);
  assert.deepEqual(all, [slow.id, jobs[2].id, jobs[1].id, jobs[0].id]);
  for (const job of page.items) {
    assert.ok(JOB_STATUSES.includes(job.status) && JOB_KINDS.includes(job.kind));
  }

  const usage = await client.generation.usage();
  assert.equal(usage.plan_id, "free");
  assert.equal(usage.generations.used, 4);
  assert.ok(usage.tokens.used >= 45, `tokens used: ${usage.tokens.used}`);
  assert.equal(usage.concurrent_jobs.used, 0);
  assert.ok(Date.parse(usage.resets_at) > Date.parse(usage.period_start));

  // Another user sees none of them.
  const { client: stranger } = await signedIn();
  assert.deepEqual((await stranger.generation.jobs()).items, []);
  assert.equal((await apiError(stranger.generation.job(jobs[0].id))).code, "not-found");
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

test("the stream refreshes an expired access token like every call", async () => {
  const { client, project } = await signedIn();
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "Fresh token" });
  const tokens = client.tokens.get();
  client.tokens.set({ ...tokens, access_token: expired(tokens.access_token) });
  assertLog(await collect(client.generation.events(job.id)));
  assert.notEqual(client.tokens.get().refresh_token, tokens.refresh_token, "refreshed");
});

test("typed errors: 404, 422, a bad lastEventId, and 503 not-configured without a provider", async () => {
  const { client, project } = await signedIn();
  const missing = "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e";
  for (const call of [
    () => client.generation.job(missing),
    () => client.generation.cancel(missing),
    () => client.generation.ticket(missing),
    () => client.generation.streamUrls(missing),
    () => collect(client.generation.events(missing)),
    () => client.generation.watch(missing),
  ]) {
    const err = await apiError(call());
    assert.deepEqual([err.kind, err.status, err.code], ["http", 404, "not-found"]);
    assert.equal(err.transient, false);
  }

  const blank = await apiError(client.generation.startAgentic({ project_id: project.id, prompt: "  " }));
  assert.deepEqual([blank.status, blank.code, blank.problem.errors[0].field], [422, "validation-failed", "prompt"]);
  const model = await apiError(client.generation.startAgentic({ project_id: project.id, prompt: "x", model: "gpt-9" }));
  assert.deepEqual([model.status, model.code], [422, "validation-failed"]);
  const choice = await apiError(
    client.generation.startFullstack({ name: "X", frontend: "cobol", backend: "none", database: "none" }),
  );
  assert.deepEqual([choice.status, choice.code], [422, "validation-failed"]);
  assert.equal((await apiError(client.generation.jobs({ status: "bogus" }))).status, 422);
  assert.equal((await apiError(client.generation.jobs({ projectId: "not-a-uuid" }))).status, 422);
  assert.equal((await apiError(client.generation.jobs({ limit: 0 }))).status, 422);
  // The server refuses a Last-Event-ID that is not a number; the client never sends one.
  const job = await client.generation.startAgentic({ project_id: project.id, prompt: "Ids" });
  const res = await fetch(`${baseUrl}/api/v2/generation/jobs/${job.id}/events`, {
    headers: { authorization: `Bearer ${client.tokens.get().access_token}`, "last-event-id": "seven" },
  });
  assert.deepEqual([res.status, (await res.json()).code], [422, "validation-failed"]);
  for (const lastEventId of [-1, 1.5, Number.NaN]) {
    await assert.rejects(collect(client.generation.events(job.id, { lastEventId })), RangeError);
  }
  await client.generation.watch(job.id);
  // Two jobs at once is over the free plan's concurrent jobs.
  const running = await client.generation.startAgentic({ project_id: project.id, prompt: "[slow] One at a time" });
  const limit = await apiError(client.generation.startAgentic({ project_id: project.id, prompt: "Second" }));
  assert.deepEqual([limit.status, limit.code], [403, "plan-limit"]);
  await client.generation.cancel(running.id);
  await client.generation.watch(running.id);

  // No provider configured: starting and models are 503 not-configured naming LLM_BASE_URL; reading works.
  const { client: off, project: offProject } = await signedIn({}, unconfigured);
  for (const call of [
    () => off.generation.models(),
    () => off.generation.startAgentic({ project_id: offProject.id, prompt: "Hello" }),
    () => off.generation.startFullstack({ name: "X", frontend: "react", backend: "none", database: "none" }),
  ]) {
    const err = await apiError(call());
    assert.deepEqual([err.status, err.code], [503, "not-configured"]);
    assert.match(err.problem.detail, /LLM_BASE_URL/);
    assert.ok(ERROR_CODES.includes(err.code));
  }
  assert.deepEqual(await off.generation.jobs(), { items: [], next_cursor: null });
  assert.equal((await off.generation.usage()).generations.used, 0);
  assert.ok((await off.generation.options()).frontend.length > 0);
  assert.equal((await apiError(off.generation.job(missing))).code, "not-found");
  assert.ok(JOB_ERROR_CODES.length > 0);
});
