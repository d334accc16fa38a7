// POST /api/v1/upload through the Worker in workerd: the body streams to the origin (never
// buffered, never under the 1 MiB JSON cap), UPLOAD_MAX_BODY_BYTES is enforced up front or while
// it streams, and the origin's answers (an early 413 included) come back unchanged.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash } from "node:crypto";
import { SECRET, startWorker, waitFor } from "./support/harness.mjs";

const MiB = 1024 * 1024;
const UPLOAD_LIMIT = 4 * MiB;

/**
 * An origin that reads the upload as it streams: it records when each request's first bytes
 * arrived and answers with the size and SHA-256 of what it got, or, past `originLimit` bytes,
 * with a 413 at once, then reads and drops the rest as uvicorn does (closing instead would
 * leave workerd with a lost connection rather than the answer).
 */
async function startStreamingOrigin({ originLimit = Infinity } = {}) {
  const seen = [];
  const firstBytes = [];
  const server = http.createServer((req, res) => {
    const record = { url: req.url, headers: req.headers, bytes: 0, sha256: null, aborted: false };
    seen.push(record);
    const hash = createHash("sha256");
    let answered = false;
    req.on("data", (chunk) => {
      if (record.bytes === 0) firstBytes.push(record);
      record.bytes += chunk.length;
      hash.update(chunk);
      if (record.bytes > originLimit && !answered) {
        answered = true;
        res.writeHead(413, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: { code: "file_too_large", message: "origin says no", request_id: "o" } }));
      }
    });
    req.on("aborted", () => (record.aborted = true));
    req.on("error", () => (record.aborted = true));
    req.on("end", () => {
      if (answered) return;
      record.sha256 = hash.digest("hex");
      res.writeHead(201, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ id: "r1", status: "uploaded", bytes: record.bytes, sha256: record.sha256 }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    firstBytes,
    close: () => new Promise((r) => server.close(r)),
  };
}

function payload(size) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Over real HTTP to workerd's socket, as a client's request arrives: Content-Length and all
 * (Miniflare's dispatchFetch streams every body without one). */
function overHttp(edge, path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", "203.0.113.7");
  return fetch(`${edge.base}${path}`, { ...init, headers });
}

/** A request body the test feeds piece by piece; `gate` holds back everything after the first. */
function gatedStream(bytes, pieceSize, gate) {
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset > 0) await gate;
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + pieceSize));
      offset += pieceSize;
    },
  });
}

describe("recording uploads through the edge", () => {
  let origin, edge;
  before(async () => {
    origin = await startStreamingOrigin();
    edge = await startWorker({ originUrl: origin.url, vars: { UPLOAD_MAX_BODY_BYTES: String(UPLOAD_LIMIT), MAX_BODY_BYTES: "1024" } });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });

  test("a body far over the JSON cap reaches the origin intact, with its length", async () => {
    const body = payload(3 * MiB);
    const res = await overHttp(edge, "/api/v1/upload", {
      method: "POST",
      body,
      headers: { "Content-Type": "multipart/form-data; boundary=x", Authorization: "Bearer t" },
    });
    assert.equal(res.status, 201);
    const answer = await res.json();
    assert.equal(answer.bytes, body.length);
    assert.equal(answer.sha256, sha256(body));
    const seen = origin.seen.at(-1);
    assert.equal(seen.headers["content-length"], String(body.length));
    assert.equal(seen.headers["x-origin-secret"], SECRET);
    assert.equal(seen.headers.authorization, "Bearer t");
    assert.equal(seen.headers["content-type"], "multipart/form-data; boundary=x");
  });

  test("the body is streamed: the origin has the first bytes before the client sends the rest", async () => {
    const body = payload(2 * MiB);
    let release;
    const gate = new Promise((r) => (release = r));
    const before = origin.firstBytes.length;
    const pending = edge.fetch("/api/v1/upload", { method: "POST", body: gatedStream(body, 64 * 1024, gate), duplex: "half" });
    // A buffering edge would wait for the end of the body, which the gate holds back: deadlock.
    const deadline = Date.now() + 10000;
    while (origin.firstBytes.length === before) {
      assert.ok(Date.now() < deadline, "the origin saw nothing while the client was still sending");
      await new Promise((r) => setTimeout(r, 20));
    }
    release();
    const res = await pending;
    assert.equal(res.status, 201);
    const answer = await res.json();
    assert.equal(answer.bytes, body.length);
    assert.equal(answer.sha256, sha256(body));
  });

  test("a declared length over UPLOAD_MAX_BODY_BYTES is refused before anything reaches the origin", async () => {
    const count = origin.seen.length;
    const res = await overHttp(edge, "/api/v1/upload", { method: "POST", body: payload(UPLOAD_LIMIT + 1) });
    assert.equal(res.status, 413);
    const body = await res.json();
    assert.equal(body.error.code, "file_too_large");
    assert.equal(body.error.request_id, res.headers.get("X-Request-ID"));
    assert.equal(origin.seen.length, count);
  });

  test("a chunked body is cut off once it passes the limit", async () => {
    const res = await edge.fetch("/api/v1/upload", {
      method: "POST",
      body: gatedStream(payload(UPLOAD_LIMIT + 256 * 1024), 256 * 1024, Promise.resolve()),
      duplex: "half",
    });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).error.code, "file_too_large");
    const seen = origin.seen.at(-1);
    assert.ok(seen.bytes <= UPLOAD_LIMIT, `the origin got ${seen.bytes} bytes`);
    assert.equal(seen.sha256, null, "the origin never saw a complete body");
    await waitFor(() => seen.aborted);
  });

  test("other methods are 405; other routes keep the 1 MiB JSON cap", async () => {
    const get = await edge.fetch("/api/v1/upload");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("Allow"), "POST");
    await get.arrayBuffer();
    const other = await edge.fetch("/api/v1/context", { method: "PUT", body: "x".repeat(2048) });
    assert.equal(other.status, 413);
    assert.equal((await other.json()).error.code, "payload_too_large");
  });
});

describe("an origin that refuses while the body is still arriving", () => {
  let origin, edge;
  before(async () => {
    origin = await startStreamingOrigin({ originLimit: MiB });
    edge = await startWorker({ originUrl: origin.url, vars: { UPLOAD_MAX_BODY_BYTES: String(64 * MiB) } });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });

  test("the origin's 413 comes back to the client", async () => {
    const res = await edge.fetch("/api/v1/upload", {
      method: "POST",
      body: gatedStream(payload(8 * MiB), 128 * 1024, Promise.resolve()),
      duplex: "half",
    });
    assert.equal(res.status, 413);
    const body = await res.json();
    assert.equal(body.error.message, "origin says no");
  });
});
