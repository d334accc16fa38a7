// One Analytics Engine data point per request, with the edge's own view of it: route,
// who answered, the edge's error code, the embedding cache. Written through a recording
// binding inside workerd, so these are the exact points the deployed Worker writes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { GOOD_TOKEN, json, startOrigin, startWorker, startWorkersAi, waitFor } from "./support/harness.mjs";

const LAYOUT = ["route", "method", "source", "code", "colo", "cache", "version"];

function decode(point) {
  const blobs = Object.fromEntries(LAYOUT.map((name, i) => [name, point.blobs[i]]));
  return { ...blobs, index: point.indexes[0], status: point.doubles[0], durationMs: point.doubles[1] };
}

describe("edge analytics data points", () => {
  let origin, ai, edge;
  before(async () => {
    ai = await startWorkersAi();
    origin = await startOrigin({
      "GET /api/boom": (req, res) => json(res, 503, { error: { code: "db_down", message: "x", request_id: "r" } }),
    });
    edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url, analytics: true, vars: { RATE_LIMIT_PER_MINUTE: "3" } });
  });
  after(async () => {
    await edge.close();
    await Promise.all([origin.close(), ai.close()]);
  });

  async function pointFor(path, init = {}, ip = "198.51.100.1") {
    const before = edge.points.length;
    const res = await edge.fetch(path, init, ip);
    await res.arrayBuffer();
    await waitFor(() => edge.points.length > before);
    assert.equal(edge.points.length, before + 1, "exactly one point per request");
    return { res, point: decode(edge.points.at(-1)) };
  }

  test("a proxied request: route proxy, source origin, the origin's status, no raw path", async () => {
    const { point } = await pointFor("/api/boom?secret=1");
    assert.deepEqual(
      { route: point.route, index: point.index, method: point.method, source: point.source, code: point.code, status: point.status, version: point.version },
      { route: "proxy", index: "proxy", method: "GET", source: "origin", code: "", status: 503, version: "v1" },
    );
    assert.ok(point.durationMs >= 0);
    assert.ok(!JSON.stringify(edge.points.at(-1)).includes("/api/boom"), "paths never reach analytics");
  });

  test("edge-produced errors carry the edge's error code", async () => {
    const blocked = await pointFor("/api/metrics", {}, "198.51.100.2");
    assert.deepEqual([blocked.point.route, blocked.point.source, blocked.point.code, blocked.point.status], ["blocked", "edge", "not_found", 404]);
    const wrongMethod = await pointFor("/api/chat/query", { method: "GET" }, "198.51.100.2");
    assert.deepEqual([wrongMethod.point.route, wrongMethod.point.code, wrongMethod.point.status], ["chat_query", "method_not_allowed", 405]);
  });

  test("the embedding cache outcome is recorded: miss, then hit", async () => {
    const ask = () =>
      pointFor("/api/embeddings/generate", { method: "POST", headers: { Authorization: GOOD_TOKEN }, body: JSON.stringify({ text: "legato" }) }, "198.51.100.3");
    const first = await ask();
    assert.deepEqual([first.point.route, first.point.cache, first.point.status, first.point.source], ["embeddings_generate", "miss", 200, "edge"]);
    const second = await ask();
    assert.equal(second.point.cache, "hit");
  });

  test("rate-limited requests are recorded as such (and never reach the origin)", async () => {
    const ip = "198.51.100.9";
    let limited = null;
    for (let i = 0; i < 5 && !limited; i++) {
      const { res, point } = await pointFor("/api/projects", {}, ip);
      if (res.status === 429) limited = point;
    }
    assert.ok(limited, "the limiter engaged");
    assert.deepEqual([limited.code, limited.status, limited.source], ["rate_limited", 429, "edge"]);
  });

  test("preflights are recorded under their own route", async () => {
    const { point } = await pointFor(
      "/api/chat/query",
      { method: "OPTIONS", headers: { Origin: "http://localhost:3000", "Access-Control-Request-Method": "POST" } },
      "198.51.100.4",
    );
    assert.deepEqual([point.route, point.status, point.method], ["preflight", 204, "OPTIONS"]);
  });
});

test("without the recorder, the real (local) Analytics Engine binding accepts the writes", async () => {
  const origin = await startOrigin();
  const edge = await startWorker({ originUrl: origin.url });
  try {
    const res = await edge.fetch("/api/projects");
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await edge.close();
    await origin.close();
  }
});
