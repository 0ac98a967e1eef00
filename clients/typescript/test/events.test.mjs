// The event-stream machinery on its own, against stand-in servers that send
// what the real one does not (or not on demand): the event-stream format in
// all its forms, split anywhere; broken, silent and refused connections;
// replies that are not event streams. generation.test.mjs covers the real server.
import { test, after } from "node:test";
import assert from "node:assert/strict";

import { ApiError, DevoraClient } from "../dist/index.js";
import { SseParser } from "../dist/sse.js";
import { httpServer, stopServers } from "./server.mjs";

after(stopServers);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const JOB = "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e";
const EVENTS = `/api/v2/generation/jobs/${JOB}/events`;
const at = "2026-12-07T10:00:00Z";
const status = (seq, value = "running") => ({ type: "status", seq, at, status: value, attempt: 1 });
const delta = (seq, text) => ({ type: "delta", seq, at, text });
const end = (seq, value = "succeeded") => ({ type: "end", seq, at, status: value });
const frame = (event) => `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

/**
 * A stand-in API: `connections[i](req, res)` answers the i-th request for the
 * job's events (the last one answers any later); `job` is what `GET` of the job says.
 */
async function standIn(connections, job = { status: "running" }) {
  const seen = { requests: [], closed: 0, jobReads: 0 };
  const url = await httpServer(async (req, res) => {
    res.on("error", () => undefined);
    if (req.url === EVENTS) {
      const n = seen.requests.length;
      seen.requests.push({ lastEventId: req.headers["last-event-id"] ?? null, accept: req.headers.accept });
      req.on("close", () => seen.closed++);
      await connections[Math.min(n, connections.length - 1)](req, res);
      return;
    }
    if (req.url === `/api/v2/generation/jobs/${JOB}`) {
      seen.jobReads++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: JOB, ...job }));
      return;
    }
    res.writeHead(404).end();
  });
  return { client: new DevoraClient({ baseUrl: url }), seen };
}

const stream = (res) => res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });

function problem(res, status, code, headers = {}) {
  res.writeHead(status, { "content-type": "application/problem+json", ...headers });
  res.end(JSON.stringify({ type: `https://devora.dev/problems/${code}`, title: code, status, detail: code, code }));
}

async function collect(iterator) {
  const events = [];
  for await (const event of iterator) events.push(event);
  return events;
}

test("the parser follows the event-stream format, however the bytes are split", () => {
  const text = [
    "\uFEFFretry: 20\r\n\r\n",
    ": heartbeat\r\n\r\n",
    'id: 1\r\nevent: status\r\ndata: {"a":\r\ndata:  "é"}\r\n\r\n',
    "id: 2\ndata\ndata: x\n\n",
    "id: 3\revent: delta\rdata: third\r\r",
    "foo: bar\ndata:no space\n\n",
    "id\ndata: y\n\n",
    "id: 4\u0000\nretry: soon\ndata: z\n\n",
    "data: left unfinished",
  ].join("");
  const expected = [
    { type: "status", data: '{"a":\n "é"}', lastEventId: "1" },
    { type: "message", data: "\nx", lastEventId: "2" },
    { type: "delta", data: "third", lastEventId: "3" },
    { type: "message", data: "no space", lastEventId: "3" },
    { type: "message", data: "y", lastEventId: "" },
    { type: "message", data: "z", lastEventId: "" },
  ];
  const bytes = new TextEncoder().encode(text);
  const parse = (chunks) => {
    const parser = new SseParser();
    const events = chunks.flatMap((chunk) => parser.push(chunk));
    events.push(...parser.end());
    return { events, retry: parser.retry };
  };
  // Whole, byte by byte (splitting "\r\n" and the two bytes of "é"), and cut at every point.
  assert.deepEqual(parse([bytes]), { events: expected, retry: 20 });
  assert.deepEqual(parse([...bytes].map((b) => new Uint8Array([b]))), { events: expected, retry: 20 });
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(parse([bytes.subarray(0, cut), bytes.subarray(cut)]).events, expected, `cut at ${cut}`);
  }
});

test("events in order and once: odd formatting, a duplicate, an unknown type, a drop mid-event", async () => {
  const { client, seen } = await standIn([
    async (_req, res) => {
      stream(res);
      res.write("retry: 20\r\n\r\n: hello\r\n\r\n");
      // Data on two lines (joined with a line feed, JSON whitespace); CRLF split from its LF.
      const first = JSON.stringify(status(1, "queued"));
      const cut = first.indexOf(",") + 1;
      res.write(`id: 1\r\nevent: status\r\ndata: ${first.slice(0, cut)}\r\ndata: ${first.slice(cut)}\r`);
      await sleep(5);
      res.write("\n\r\n");
      res.write(frame({ type: "checkpoint", seq: 2, at }));
      res.write(frame(status(1, "queued")));
      res.write(frame(delta(3, "Hel")).replaceAll("\n", "\r"));
      const fourth = frame(delta(4, "lo"));
      res.write(fourth.slice(0, 20));
      await sleep(5);
      res.destroy();
    },
    async (_req, res) => {
      stream(res);
      res.write("retry: 20\n\n");
      res.write(frame(delta(3, "Hel")) + frame(delta(4, "lo")) + frame(end(5)));
      // And the connection stays open: the client leaves after `end`.
    },
  ]);
  const reconnects = [];
  const events = client.generation.events(JOB, { onReconnect: (info) => reconnects.push(info) });
  assert.deepEqual(await collect(events), [status(1, "queued"), delta(3, "Hel"), delta(4, "lo"), end(5)]);
  assert.equal(events.lastEventId, 5);
  assert.deepEqual(
    seen.requests.map((r) => r.lastEventId),
    [null, "3"],
    "resumed after the last whole event",
  );
  assert.equal(seen.requests[0].accept, "text/event-stream");
  assert.equal(reconnects.length, 1);
  assert.deepEqual(
    { ...reconnects[0], error: reconnects[0].error.kind },
    { attempt: 1, delayMs: 20, lastEventId: 3, error: "network" },
  );
  await sleep(20);
  assert.equal(seen.closed, 2, "the client closed the connection it left open");
});

test("failing connections back off and give up after maxRetries; refusals are not retried", async () => {
  const { client, seen } = await standIn([(_req, res) => problem(res, 503, "service-unavailable")]);
  const reconnects = [];
  const err = await collect(
    client.generation.events(JOB, { retryMs: 10, maxRetries: 2, onReconnect: (info) => reconnects.push(info) }),
  ).then(
    () => assert.fail("it succeeded"),
    (e) => e,
  );
  assert.ok(err instanceof ApiError);
  assert.deepEqual([err.status, err.code, err.transient], [503, "service-unavailable", true]);
  assert.equal(seen.requests.length, 3);
  assert.deepEqual(
    reconnects.map((r) => r.attempt),
    [1, 2],
  );
  assert.equal(reconnects[0].delayMs, 10);
  // Doubling, from 100 ms at least once connections fail in a row, with up to 20 % more.
  assert.ok(reconnects[1].delayMs >= 200 && reconnects[1].delayMs <= 240, `backed off to ${reconnects[1].delayMs}`);

  // maxRetries 0: a dropped connection is not made again.
  const once = await standIn([
    (_req, res) => {
      stream(res);
      res.write(frame(status(1)));
      setTimeout(() => res.destroy(), 10);
    },
  ]);
  const kept = [];
  await assert.rejects(
    (async () => {
      for await (const event of once.client.generation.events(JOB, { maxRetries: 0 })) kept.push(event);
    })(),
    (e) => e instanceof ApiError && e.kind === "network",
  );
  assert.deepEqual([kept, once.seen.requests.length], [[status(1)], 1]);

  // A 429 waits at least its Retry-After (aborted as soon as it says so).
  const limited = await standIn([(_req, res) => problem(res, 429, "quota-exceeded", { "retry-after": "2" })]);
  const controller = new AbortController();
  const waits = [];
  const onReconnect = (info) => {
    waits.push(info);
    controller.abort();
  };
  await assert.rejects(
    collect(limited.client.generation.events(JOB, { retryMs: 10, signal: controller.signal, onReconnect })),
    (e) => e.name === "AbortError",
  );
  assert.deepEqual(
    waits.map((w) => [w.delayMs, w.error.status]),
    [[2000, 429]],
  );

  for (const [code, statusCode] of [
    ["not-found", 404],
    ["unauthenticated", 401],
    ["validation-failed", 422],
  ]) {
    const refusing = await standIn([(_req, res) => problem(res, statusCode, code)]);
    await assert.rejects(
      collect(refusing.client.generation.events(JOB, { retryMs: 10 })),
      (e) => e instanceof ApiError && e.code === code && e.status === statusCode,
    );
    assert.equal(refusing.seen.requests.length, 1, `${code} is not retried`);
  }
});

test("a silent connection is dropped after idleTimeoutMs; a stream closed at once is retried while the job runs", async () => {
  const silent = await standIn([
    (_req, res) => {
      stream(res);
      res.write(`retry: 10\n\n${frame(status(1))}`);
    },
    (_req, res) => {
      stream(res);
      res.end(frame(end(2)));
    },
  ]);
  const reconnects = [];
  const events = await collect(
    silent.client.generation.events(JOB, { idleTimeoutMs: 100, onReconnect: (i) => reconnects.push(i) }),
  );
  assert.deepEqual(events, [status(1), end(2)]);
  assert.deepEqual(
    silent.seen.requests.map((r) => r.lastEventId),
    [null, "1"],
  );
  assert.equal(reconnects[0].error.kind, "timeout");

  // The server closed without an event: the job is still running, so it comes back.
  const closing = await standIn([
    (_req, res) => {
      stream(res);
      res.end("retry: 10\n\n");
    },
    (_req, res) => {
      stream(res);
      res.end(frame(status(1)) + frame(end(2)));
    },
  ]);
  assert.deepEqual(await collect(closing.client.generation.events(JOB)), [status(1), end(2)]);
  assert.equal(closing.seen.jobReads, 1);

  // ... and when the job has ended, there is nothing more to wait for.
  const over = await standIn(
    [
      (_req, res) => {
        stream(res);
        res.end("retry: 10\n\n");
      },
    ],
    { status: "succeeded" },
  );
  assert.deepEqual(await collect(over.client.generation.events(JOB, { lastEventId: 9 })), []);
  assert.deepEqual(
    over.seen.requests.map((r) => r.lastEventId),
    ["9"],
  );
});

test("a reply that is not a job event stream is an ApiError of kind invalid-response, not retried", async () => {
  for (const answer of [
    (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>Sign in to the hotel Wi-Fi</html>");
    },
    (_req, res) => {
      stream(res);
      res.end("data: {not json\n\n");
    },
    (_req, res) => {
      stream(res);
      res.end('data: {"type":"delta"}\n\n');
    },
  ]) {
    const { client, seen } = await standIn([answer]);
    await assert.rejects(
      collect(client.generation.events(JOB, { retryMs: 10 })),
      (e) => e instanceof ApiError && e.kind === "invalid-response" && e.status === 200,
    );
    assert.equal(seen.requests.length, 1);
  }
});

test("close(), break and an abort stop the stream and its connection", async () => {
  const endless = (_req, res) => {
    stream(res);
    res.write(`retry: 10\n\n${frame(status(1))}`);
    let seq = 1;
    const timer = setInterval(() => res.write(frame(delta(++seq, "x"))), 10);
    res.on("close", () => clearInterval(timer));
  };

  const closing = await standIn([endless]);
  const events = closing.client.generation.events(JOB);
  const seen = [];
  for await (const event of events) {
    seen.push(event);
    if (seen.length === 3) events.close();
  }
  assert.equal(seen.length, 3);
  assert.equal(events.closed, true);
  assert.equal(events.lastEventId, 3);
  assert.deepEqual(await events.next(), { value: undefined, done: true });

  const breaking = await standIn([endless]);
  for await (const event of breaking.client.generation.events(JOB)) {
    if (event.seq === 2) break;
  }
  await sleep(20);
  assert.equal(breaking.seen.closed, 1, "break closed the connection");

  const aborting = await standIn([endless]);
  const controller = new AbortController();
  const reason = new DOMException("the page went away", "AbortError");
  let count = 0;
  await assert.rejects(
    (async () => {
      for await (const event of aborting.client.generation.events(JOB, { signal: controller.signal })) {
        void event;
        if (++count === 2) controller.abort(reason);
      }
    })(),
    (err) => err === reason,
  );
  await sleep(20);
  assert.deepEqual([aborting.seen.requests.length, aborting.seen.closed], [1, 1]);

  // An abort while waiting to reconnect ends the wait at once.
  const dropping = await standIn([(_req, res) => res.destroy()]);
  const waiting = new AbortController();
  const started = Date.now();
  setTimeout(() => waiting.abort(), 50);
  await assert.rejects(
    collect(dropping.client.generation.events(JOB, { retryMs: 10_000, signal: waiting.signal })),
    (err) => err.name === "AbortError",
  );
  assert.ok(Date.now() - started < 1000);
});

test("stream URLs are absolute on the client's base URL: https gives wss, a path prefix is kept", async () => {
  const requests = [];
  const ticket = {
    ticket: "gt_abc",
    expires_at: "2026-12-07T10:01:00Z",
    events_url: `/api/v2/generation/jobs/${JOB}/events?ticket=gt_abc`,
    ws_url: `/api/v2/generation/jobs/${JOB}/ws?ticket=gt_abc`,
  };
  const fetchImpl = async (url, init) => {
    requests.push([init.method, url]);
    return new Response(JSON.stringify(ticket), { status: 201, headers: { "content-type": "application/json" } });
  };
  const client = new DevoraClient({ baseUrl: "https://api.example.com/devora/", fetch: fetchImpl });
  const urls = await client.generation.streamUrls(JOB, { lastEventId: 12 });
  assert.deepEqual(requests, [["POST", `https://api.example.com/devora/api/v2/generation/jobs/${JOB}/ticket`]]);
  assert.deepEqual(urls, {
    ticket: "gt_abc",
    expiresAt: "2026-12-07T10:01:00Z",
    eventsUrl: `https://api.example.com/devora/api/v2/generation/jobs/${JOB}/events?ticket=gt_abc&last_event_id=12`,
    wsUrl: `wss://api.example.com/devora/api/v2/generation/jobs/${JOB}/ws?ticket=gt_abc&last_event_id=12`,
  });
  const plain = new DevoraClient({ baseUrl: "http://localhost:8080", fetch: fetchImpl });
  assert.equal(
    (await plain.generation.streamUrls(JOB)).wsUrl,
    `ws://localhost:8080/api/v2/generation/jobs/${JOB}/ws?ticket=gt_abc`,
  );
});
