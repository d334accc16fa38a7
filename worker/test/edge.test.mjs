// Cross-cutting edge behaviour: proxying, timeouts, CORS, security headers, size
// limits, blocked paths, request ids, health.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { GOOD_TOKEN, SECRET, json, startOrigin, startWorker, startWorkersAi } from "./support/harness.mjs";

const ALLOWED = "http://localhost:3000";

describe("proxy to the origin", () => {
  let origin, edge;
  before(async () => {
    origin = await startOrigin({
      "GET /slow": (req, res) => setTimeout(() => json(res, 200, { late: true }), 3000),
      "GET /redirect": (req, res) => {
        res.writeHead(307, { Location: "/elsewhere" });
        res.end();
      },
      "GET /boom": (req, res) => json(res, 503, { error: { code: "db_down", message: "x", request_id: "r" } }),
    });
    edge = await startWorker({ originUrl: origin.url, vars: { ORIGIN_TIMEOUT_MS: "500", MAX_BODY_BYTES: "1024" } });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });

  test("unrouted paths reach the origin with method, path, query and body", async () => {
    const res = await edge.fetch("/api/projects?limit=5", { method: "POST", body: "hello", headers: { "Content-Type": "text/plain" } });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).echo, { method: "POST", url: "/api/projects?limit=5" });
    const seen = origin.requests.at(-1);
    assert.equal(seen.body, "hello");
    assert.equal(seen.headers["x-forwarded-for"], "203.0.113.7");
  });

  test("client trust headers are replaced: the origin sees the edge's secret, never the client's", async () => {
    const res = await edge.fetch("/api/anything", {
      headers: { "X-Origin-Secret": "client-guess", "X-Forwarded-For": "1.2.3.4" },
    });
    await res.arrayBuffer();
    const seen = origin.requests.at(-1);
    assert.equal(seen.headers["x-origin-secret"], SECRET);
    assert.equal(seen.headers["x-forwarded-for"], "203.0.113.7");
  });

  test("origin timeout is a 504 in the error shape", async () => {
    const started = Date.now();
    const res = await edge.fetch("/slow");
    assert.equal(res.status, 504);
    const body = await res.json();
    assert.equal(body.error.code, "origin_timeout");
    assert.equal(body.error.request_id, res.headers.get("X-Request-ID"));
    assert.ok(Date.now() - started < 2500, "answered at the timeout, not when the origin finished");
  });

  test("origin errors and redirects pass through unchanged", async () => {
    const boom = await edge.fetch("/boom");
    assert.equal(boom.status, 503);
    assert.equal((await boom.json()).error.code, "db_down");
    const redirect = await edge.fetch("/redirect", { redirect: "manual" });
    assert.equal(redirect.status, 307);
    assert.equal(redirect.headers.get("Location"), "/elsewhere");
  });

  test("bodies over MAX_BODY_BYTES are 413, declared or streamed", async () => {
    const big = "x".repeat(2048);
    const declared = await edge.fetch("/api/projects", { method: "POST", body: big });
    assert.equal(declared.status, 413);
    assert.equal((await declared.json()).error.code, "payload_too_large");
    const streamed = await edge.fetch("/api/projects", {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(big));
          c.close();
        },
      }),
      duplex: "half",
    });
    assert.equal(streamed.status, 413);
    await streamed.arrayBuffer();
    const chat = await edge.fetch("/api/chat/query", { method: "POST", body: JSON.stringify({ query: big }), headers: { Authorization: GOOD_TOKEN } });
    assert.equal(chat.status, 413);
    await chat.arrayBuffer();
  });

  test("metrics and internal endpoints are not reachable through the edge", async () => {
    const before = origin.requests.length;
    for (const path of [
      "/api/metrics",
      "/api/metrics/",
      "//api//metrics",
      "/api/%6Detrics",
      "/metrics",
      "/api/internal/embeddings",
      "/API/INTERNAL/x",
      "/api/projects/p1/stream-authorization",
      "/api/projects/p1/stream-authorization/",
      "/API/Projects/p1/Stream-Authorization",
      "/api/projects/p1/stream%2Dauthorization",
      "/api/bad%E0%A4%A",
    ]) {
      const res = await edge.fetch(path, { method: path.includes("internal") ? "POST" : "GET", body: path.includes("internal") ? "{}" : undefined });
      assert.equal(res.status, 404, path);
      assert.equal((await res.json()).error.code, "not_found", path);
    }
    assert.equal(origin.requests.length, before, "nothing reached the origin");
  });

  test("X-Request-ID: a sane client id is kept and forwarded, junk is replaced", async () => {
    const kept = await edge.fetch("/api/x", { headers: { "X-Request-ID": "abc-123" } });
    await kept.arrayBuffer();
    assert.equal(kept.headers.get("X-Request-ID"), "abc-123");
    assert.equal(origin.requests.at(-1).headers["x-request-id"], "abc-123");
    const replaced = await edge.fetch("/api/x", { headers: { "X-Request-ID": "<script>" } });
    await replaced.arrayBuffer();
    assert.match(replaced.headers.get("X-Request-ID"), /^[0-9a-f-]{36}$/);
  });

  test("security headers on every response; CSP on API responses", async () => {
    for (const path of ["/api/x", "/health", "/api/metrics"]) {
      const res = await edge.fetch(path);
      await res.arrayBuffer();
      assert.equal(res.headers.get("X-Content-Type-Options"), "nosniff", path);
      assert.equal(res.headers.get("X-Frame-Options"), "DENY", path);
      assert.ok(res.headers.get("Referrer-Policy"), path);
      assert.match(res.headers.get("Content-Security-Policy"), /default-src 'none'/, path);
    }
  });

  test("health reports the worker and the origin", async () => {
    const res = await edge.fetch("/health");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(body.worker.status, "ok");
    assert.equal(body.origin.status, "ok");
  });
});

describe("origin lock: every request the edge sends carries the secret", () => {
  let origin, ai, edge;
  before(async () => {
    ai = await startWorkersAi();
    // The origin refuses anything without the secret, as production runs it (ORIGIN_ENFORCE=true).
    origin = await startOrigin({}, { enforce: true });
    edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url });
  });
  after(async () => {
    await edge.close();
    await Promise.all([origin.close(), ai.close()]);
  });

  test("the enforcing origin refuses a request that did not come through the edge", async () => {
    const direct = await fetch(`${origin.url}/api/projects`);
    assert.equal(direct.status, 403);
    assert.equal((await direct.json()).error.code, "origin_secret_required");
    const health = await fetch(`${origin.url}/api/health`);
    assert.equal(health.status, 200, "health checks are exempt");
  });

  test("every route works through the edge, and every origin request carried the secret", async () => {
    const before = origin.requests.length;
    const calls = [
      ["/api/projects?limit=5", { method: "GET" }],
      ["/api/projects", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } }],
      ["/api/projects/p1", { method: "DELETE" }],
      ["/api/auth/login", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } }],
      ["/health", { method: "GET" }],
      ["/api/chat/query", { method: "POST", body: JSON.stringify({ query: "cadence" }), headers: { Authorization: GOOD_TOKEN } }],
      ["/api/embeddings/generate", { method: "POST", body: JSON.stringify({ text: "scales" }), headers: { Authorization: GOOD_TOKEN } }],
      ["/api/projects/p1/stream", { method: "GET", headers: { Authorization: GOOD_TOKEN } }],
    ];
    for (const [path, init] of calls) {
      const res = await edge.fetch(path, init);
      await res.arrayBuffer();
      assert.notEqual(res.status, 403, `${path} was refused by the origin`);
    }
    const sent = origin.requests.slice(before);
    assert.ok(sent.length >= calls.length, "every call reached the origin");
    for (const r of sent) assert.equal(r.headers["x-origin-secret"], SECRET, `${r.method} ${r.url}`);
  });

  test("path variants of the chat route still go through the edge route (client embeddings dropped)", async () => {
    const forged = Array(768).fill(0.5);
    for (const path of ["/api/chat/query/", "//api/chat/query", "/api/chat/%71uery", "/api//chat/query"]) {
      const before = origin.requests.length;
      const res = await edge.fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: GOOD_TOKEN },
        body: JSON.stringify({ query: "what is rubato?", query_embedding: forged, embedding_model: "evil" }),
      });
      await res.arrayBuffer();
      const seen = origin.requests.slice(before).filter((r) => r.url !== "/api/internal/caller");
      assert.equal(seen.length, 1, path);
      assert.equal(seen[0].url, "/api/chat/query", path);
      const body = JSON.parse(seen[0].body);
      assert.notDeepEqual(body.query_embedding, forged, path);
      assert.equal(body.embedding_model, "@cf/baai/bge-base-en-v1.5", path);
    }
  });
});

describe("origin down", () => {
  test("proxying is a 502 and health is degraded (503)", async () => {
    const origin = await startOrigin();
    const deadUrl = origin.url;
    await origin.close();
    const edge = await startWorker({ originUrl: deadUrl });
    try {
      const res = await edge.fetch("/api/projects");
      assert.equal(res.status, 502);
      assert.equal((await res.json()).error.code, "origin_unavailable");
      const health = await edge.fetch("/health");
      assert.equal(health.status, 503);
      const body = await health.json();
      assert.equal(body.status, "degraded");
      assert.equal(body.worker.status, "ok");
      assert.equal(body.origin.status, "unreachable");
    } finally {
      await edge.close();
    }
  });
});

describe("CORS", () => {
  let origin, edge;
  before(async () => {
    origin = await startOrigin();
    edge = await startWorker({ originUrl: origin.url });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });

  const preflight = (from, headers = "authorization, content-type") =>
    edge.fetch("/api/chat/query", {
      method: "OPTIONS",
      headers: { Origin: from, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": headers },
    });

  test("preflight from an allowed origin: 204, echoed origin, credentials, never *", async () => {
    const before = origin.requests.length;
    const res = await preflight(ALLOWED);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("Access-Control-Allow-Origin"), ALLOWED);
    assert.equal(res.headers.get("Access-Control-Allow-Credentials"), "true");
    assert.match(res.headers.get("Access-Control-Allow-Methods"), /POST/);
    assert.match(res.headers.get("Access-Control-Allow-Headers"), /authorization/);
    assert.match(res.headers.get("Vary"), /Origin/);
    assert.equal(origin.requests.length, before, "preflights are answered at the edge");
  });

  test("preflight from another origin or with unlisted headers is denied", async () => {
    const res = await preflight("https://evil.example");
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("Access-Control-Allow-Origin"), null);
    assert.equal((await res.json()).error.code, "cors_origin_denied");
    const hdr = await preflight(ALLOWED, "x-origin-secret");
    assert.equal(hdr.status, 403);
    assert.equal((await hdr.json()).error.code, "cors_header_denied");
  });

  test("actual requests get CORS headers only for allowed origins", async () => {
    const ok = await edge.fetch("/api/x", { headers: { Origin: ALLOWED } });
    await ok.arrayBuffer();
    assert.equal(ok.headers.get("Access-Control-Allow-Origin"), ALLOWED);
    assert.match(ok.headers.get("Access-Control-Expose-Headers"), /X-Request-ID/);
    const denied = await edge.fetch("/api/x", { headers: { Origin: "https://evil.example" } });
    await denied.arrayBuffer();
    assert.equal(denied.headers.get("Access-Control-Allow-Origin"), null);
    assert.equal(denied.headers.get("Access-Control-Allow-Credentials"), null);
  });

  test("a '*' allow-list entry allows any origin but without credentials", async () => {
    const open = await startWorker({ originUrl: origin.url, vars: { ALLOWED_ORIGINS: "*" } });
    try {
      const res = await open.fetch("/api/chat/query", {
        method: "OPTIONS",
        headers: { Origin: "https://any.example", "Access-Control-Request-Method": "POST" },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("Access-Control-Allow-Origin"), "*");
      assert.equal(res.headers.get("Access-Control-Allow-Credentials"), null);
    } finally {
      await open.close();
    }
  });
});
