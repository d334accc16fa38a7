// Per-IP rate limiting through the Rate Limiting binding as workerd runs it locally.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startWorker } from "./support/harness.mjs";

/** The binding counts in fixed one-minute windows; don't let a burst straddle two. */
async function awayFromWindowEdge(marginMs = 8000) {
  const intoWindow = Date.now() % 60000;
  if (intoWindow > 60000 - marginMs) await new Promise((r) => setTimeout(r, 60000 - intoWindow + 50));
}

async function burst(edge, count, ip, path = "/api/projects") {
  const statuses = [];
  const limited = [];
  for (let i = 0; i < count; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, count - i) }, () => edge.fetch(path, {}, ip)),
    );
    for (const res of batch) {
      statuses.push(res.status);
      if (res.status === 429) limited.push({ headers: res.headers, body: await res.json() });
      else await res.arrayBuffer();
    }
  }
  return { statuses, limited };
}

test("a burst of 150 from one IP at the default limit: 100 pass, the rest get 429 + Retry-After", async () => {
  const origin = await startOrigin();
  const edge = await startWorker({ originUrl: origin.url });
  try {
    await awayFromWindowEdge();
    const { statuses, limited } = await burst(edge, 150, "198.51.100.1");
    assert.equal(statuses.filter((s) => s === 200).length, 100);
    assert.equal(limited.length, 50);
    for (const { headers, body } of limited) {
      const retryAfter = Number(headers.get("Retry-After"));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal(body.error.code, "rate_limited");
      assert.equal(body.error.request_id, headers.get("X-Request-ID"));
    }
    assert.equal(origin.requests.filter((r) => r.url === "/api/projects").length, 100, "limited requests never reach the origin");
    const other = await edge.fetch("/api/projects", {}, "198.51.100.2");
    assert.equal(other.status, 200, "another IP has its own budget");
    await other.arrayBuffer();
  } finally {
    await edge.close();
    await origin.close();
  }
});

test("the limit is configurable and preflights don't spend it", async () => {
  const origin = await startOrigin();
  const edge = await startWorker({ originUrl: origin.url, vars: { RATE_LIMIT_PER_MINUTE: "5" } });
  try {
    await awayFromWindowEdge();
    for (let i = 0; i < 3; i++) {
      const pre = await edge.fetch(
        "/api/x",
        { method: "OPTIONS", headers: { Origin: "http://localhost:3000", "Access-Control-Request-Method": "GET" } },
        "198.51.100.9",
      );
      assert.equal(pre.status, 204);
    }
    const { statuses, limited } = await burst(edge, 7, "198.51.100.9");
    assert.equal(statuses.filter((s) => s === 200).length, 5);
    assert.equal(limited.length, 2);
    assert.equal(limited[0].headers.get("X-RateLimit-Limit"), "5");
  } finally {
    await edge.close();
    await origin.close();
  }
});
