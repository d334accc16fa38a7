// Test harness: the bundled Worker in workerd (Miniflare), a real HTTP origin on
// 127.0.0.1 that speaks the API contracts, and a Workers AI wire endpoint.
import { Miniflare } from "miniflare";
import http from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildWorker } from "../../scripts/build.mjs";
import { loadManifest, miniflareOptions, resolveVars } from "../../scripts/manifest.mjs";

export const SECRET = "test-origin-secret";
export const GOOD_TOKEN = "Bearer good-token";
export const GOOD_API_KEY = "pk_good-api-key";

let bundlePromise = null;
function bundle() {
  bundlePromise ??= buildWorker({ outfile: join(mkdtempSync(join(tmpdir(), "piano-edge-")), "index.js") });
  return bundlePromise;
}

export function errorBody(code, message = code) {
  return JSON.stringify({ error: { code, message, request_id: "origin-rid" } });
}

/** A node HTTP server; `handler(req, res, body)` gets the fully read request body. */
export async function startServer(handler) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      Promise.resolve(handler(req, res, Buffer.concat(chunks))).catch((err) => {
        res.writeHead(500).end(String(err));
      });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  // The AI binding's proxy client also tries a WebSocket RPC session; refuse it.
  server.on("upgrade", (_req, socket) => socket.destroy());
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

export function deterministicVector(text, dims) {
  let seed = [...text].reduce((acc, ch) => (acc * 31 + ch.codePointAt(0)) >>> 0, 7);
  return Array.from({ length: dims }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed % 2000) / 1000 - 1;
  });
}

/** Paths the origin serves without X-Origin-Secret under ORIGIN_ENFORCE (health checks). */
export const ENFORCEMENT_EXEMPT = new Set(["/api/health", "/api/live", "/api/ready"]);

/**
 * Origin implementing the edge contracts. `routes` maps "METHOD /path" (or a RegExp
 * key via `match`) to handlers that override the defaults. Every request is recorded.
 * `enforce` mirrors ORIGIN_ENFORCE=true: anything but a health path without the secret is 403.
 */
export async function startOrigin(routes = {}, { enforce = false } = {}) {
  const requests = [];
  const grants = new Map([["p1", { bucket_binding: "PDF_BUCKET", key: "projects/u1/p1/score.pdf", filename: "score.pdf", content_type: "application/pdf" }]]);
  const defaults = {
    "GET /api/health": (req, res) => json(res, 200, { status: "ok", database: "ok" }),
    "GET /api/live": (req, res) => json(res, 200, { status: "alive" }),
    "GET /api/ready": (req, res) => json(res, 200, { status: "ready", database: "ok", migrations: "ok", storage: "ok" }),
    "GET /api/auth/me": (req, res) =>
      req.headers.authorization === GOOD_TOKEN
        ? json(res, 200, { id: "u1", email: "t@example.com", role: "teacher" })
        : raw(res, 401, errorBody("not_authenticated")),
    // The origin's rule: edge-only (secret), a good bearer token or API key, nothing spent.
    "GET /api/internal/caller": (req, res) => {
      if (req.headers["x-origin-secret"] !== SECRET) return raw(res, 403, errorBody("forbidden"));
      const good = req.headers.authorization === GOOD_TOKEN || req.headers["x-api-key"] === GOOD_API_KEY;
      if (!good) return raw(res, 401, errorBody("not_authenticated"));
      res.writeHead(204);
      res.end();
    },
    "POST /api/internal/embeddings": (req, res, body) => {
      if (req.headers["x-origin-secret"] !== SECRET) return raw(res, 403, errorBody("forbidden"));
      const { texts } = JSON.parse(body);
      json(res, 200, { model: "all-MiniLM-L6-v2", dimensions: 384, embeddings: texts.map((t) => deterministicVector(t, 384)) });
    },
    "POST /api/chat/query": (req, res, body) => {
      // The origin's rule: a precomputed embedding counts only with the right secret.
      const payload = JSON.parse(body);
      const trusted = req.headers["x-origin-secret"] === SECRET && Array.isArray(payload.query_embedding);
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      res.write(`event: meta\ndata: ${JSON.stringify({ embedding_source: trusted ? "edge" : "origin" })}\n\n`);
      res.end(`event: done\ndata: {}\n\n`);
    },
  };
  const table = { ...defaults, ...routes };
  const origin = await startServer(async (req, res, body) => {
    requests.push({ method: req.method, url: req.url, headers: req.headers, body: body.toString("utf8") });
    const path = req.url.split("?")[0];
    if (enforce && !ENFORCEMENT_EXEMPT.has(path) && req.headers["x-origin-secret"] !== SECRET) {
      return raw(res, 403, errorBody("origin_secret_required"));
    }
    const streamAuth = /^\/api\/projects\/([^/]+)\/stream-authorization$/.exec(path);
    const handler = table[`${req.method} ${path}`];
    if (handler) return handler(req, res, body);
    if (streamAuth && table["stream-authorization"]) return table["stream-authorization"](req, res, streamAuth[1]);
    if (streamAuth) {
      if (req.headers["x-origin-secret"] !== SECRET) return raw(res, 403, errorBody("forbidden"));
      if (req.headers.authorization !== GOOD_TOKEN) return raw(res, 401, errorBody("not_authenticated"));
      const grant = grants.get(decodeURIComponent(streamAuth[1]));
      return grant ? json(res, 200, grant) : raw(res, 404, errorBody("project_not_found"));
    }
    json(res, 200, { echo: { method: req.method, url: req.url } });
  });
  return { ...origin, requests, grants };
}

export function json(res, status, obj, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(obj));
}

export function raw(res, status, text, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(text);
}

/**
 * Workers AI as workerd's AI binding sees it: workerd's own `cloudflare-internal:ai-api`
 * client POSTs {inputs, options} to https://workers-binding.ai/run?version=3 with the
 * model in cf-consn-model-id; Miniflare relays that call here (MF-URL / MF-Header-*).
 * The answer uses the documented bge-base-en-v1.5 output: {shape: [n, 768], data: [[...]]}.
 */
export async function startWorkersAi({ fail = false } = {}) {
  const calls = [];
  const server = await startServer((req, res, body) => {
    const call = {
      url: req.headers["mf-url"],
      model: req.headers["mf-header-cf-consn-model-id"],
      body: JSON.parse(body.toString("utf8")),
    };
    calls.push(call);
    if (fail) {
      return raw(res, 500, JSON.stringify({ internalCode: 3001, name: "InferenceUpstreamError", description: "Server error" }));
    }
    if (!call.url?.startsWith("https://workers-binding.ai/run") || !Array.isArray(call.body?.inputs?.text)) {
      return raw(res, 400, JSON.stringify({ internalCode: 5006, name: "InvalidInput", description: "bad input" }));
    }
    const data = call.body.inputs.text.map((t) => deterministicVector(t, 768));
    json(res, 200, { shape: [data.length, 768], data });
  });
  return { ...server, calls };
}

// Stands in for an Analytics Engine dataset: the designated worker's default export builds the
// binding, and every writeDataPoint() is forwarded to a Node function (SINK), so tests see the
// exact points the Worker writes. Miniflare's own simulator accepts writes and drops them.
const ANALYTICS_RECORDER = `export default function (env) {
  return {
    writeDataPoint(point) {
      return env.SINK.fetch("http://analytics.sink/", { method: "POST", body: JSON.stringify(point ?? null) });
    },
  };
}`;

/**
 * Start the Worker. `vars` override manifest vars (production values by default).
 * `analytics: true` binds a recorder in place of the Analytics Engine dataset; the points
 * it received are in `points`.
 */
export async function startWorker({ originUrl, vars = {}, secret = SECRET, aiUrl = null, local = false, analytics = false } = {}) {
  const manifest = loadManifest();
  const scriptPath = await bundle();
  const resolved = resolveVars(manifest, { local, overrides: { ORIGIN_URL: originUrl, ...vars } });
  const edgeOptions = miniflareOptions(manifest, {
    scriptPath,
    vars: resolved,
    secrets: { ORIGIN_SHARED_SECRET: secret },
    aiUpstream: aiUrl,
  });
  const points = [];
  let options = { ...edgeOptions, host: "127.0.0.1", port: 0 };
  if (analytics) {
    const { analyticsEngineDatasets, ...rest } = edgeOptions;
    const wrappedBindings = Object.fromEntries(Object.keys(analyticsEngineDatasets).map((name) => [name, "analytics-recorder"]));
    const recorder = {
      name: "analytics-recorder",
      modules: true,
      script: ANALYTICS_RECORDER,
      serviceBindings: {
        SINK: async (req) => {
          points.push(JSON.parse(await req.text()));
          return new Response(null, { status: 204 });
        },
      },
    };
    options = { host: "127.0.0.1", port: 0, workers: [{ ...rest, wrappedBindings }, recorder] };
  }
  const mf = new Miniflare(options);
  const base = (await mf.ready).href.replace(/\/$/, "");
  return {
    mf,
    base,
    points,
    /** dispatch a request from a given client IP (Cloudflare sets CF-Connecting-IP). */
    fetch(path, init = {}, ip = "203.0.113.7") {
      const headers = new Headers(init.headers);
      if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", ip);
      return mf.dispatchFetch(`http://edge.test${path}`, { ...init, headers });
    },
    close: () => mf.dispose(),
  };
}

export async function waitFor(predicate, { timeoutMs = 3000, stepMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
