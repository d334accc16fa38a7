// Cross-cutting edge behaviour: proxying, timeouts, CORS, security headers, size
// limits, blocked paths, request ids, health.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { SECRET, json, startOrigin, startWorker } from "./support/harness.mjs";

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

  test("client trust headers are stripped; the secret is not added to plain proxying", async () => {
    const res = await edge.fetch("/api/anything", {
      headers: { "X-Origin-Secret": SECRET, "X-Forwarded-For": "1.2.3.4" },
    });
    await res.arrayBuffer();
    const seen = origin.requests.at(-1);
    assert.equal(seen.headers["x-origin-secret"], undefined);
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
    const chat = await edge.fetch("/api/chat/query", { method: "POST", body: JSON.stringify({ query: big }) });
    assert.equal(chat.status, 413);
    await chat.arrayBuffer();
  });

  test("metrics and internal endpoints are not reachable through the edge", async () => {
    const before = origin.requests.length;
    for (const path of ["/api/metrics", "/api/metrics/", "//api//metrics", "/api/%6Detrics", "/metrics", "/api/internal/embeddings", "/API/INTERNAL/x"]) {
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
