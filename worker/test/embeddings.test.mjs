// Embedding cache (KV) through the Workers AI binding and through the local origin adapter.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { GOOD_TOKEN, SECRET, startOrigin, startWorker, startWorkersAi, waitFor } from "./support/harness.mjs";

const MODEL = "@cf/baai/bge-base-en-v1.5";
const keyFor = (model, text) => `embed:v1:${model}:${createHash("sha256").update(text).digest("hex")}`;

function generate(edge, text, token = GOOD_TOKEN) {
  return edge.fetch("/api/embeddings/generate", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: token } : {}) },
    body: JSON.stringify({ text }),
  });
}

describe("embeddings via the Workers AI binding (production path)", () => {
  let origin, ai, edge;
  before(async () => {
    origin = await startOrigin();
    ai = await startWorkersAi();
    edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url });
  });
  after(async () => {
    await edge.close();
    await Promise.all([origin.close(), ai.close()]);
  });

  test("miss calls Workers AI once and stores the vector under the documented key; hit does not", async () => {
    const first = await generate(edge, "  How do I play   a C Major scale? ");
    assert.equal(first.status, 200);
    const body = await first.json();
    assert.equal(body.cached, false);
    assert.equal(body.model, MODEL);
    assert.equal(body.dimensions, 768);
    assert.equal(body.embedding.length, 768);
    assert.equal(ai.calls.length, 1);
    assert.equal(ai.calls[0].model, MODEL);
    assert.deepEqual(ai.calls[0].body.inputs, { text: ["how do i play a c major scale?"] });

    const kv = await edge.mf.getKVNamespace("EMBEDDING_CACHE");
    const key = keyFor(MODEL, "how do i play a c major scale?");
    const stored = await waitFor(() => kv.get(key, "json"));
    assert.deepEqual(stored.embedding, body.embedding);

    const second = await generate(edge, "how do I play a C major SCALE?");
    const again = await second.json();
    assert.equal(again.cached, true);
    assert.deepEqual(again.embedding, body.embedding);
    assert.equal(ai.calls.length, 1, "cache hit must not call Workers AI");
  });

  test("unauthenticated callers are refused before any embedding work", async () => {
    const calls = ai.calls.length;
    const none = await generate(edge, "scales", null);
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error.code, "not_authenticated");
    const bad = await generate(edge, "scales", "Bearer forged");
    assert.equal(bad.status, 401, "origin's verdict is passed through");
    const err = await bad.json();
    assert.equal(err.error.code, "not_authenticated");
    assert.equal(ai.calls.length, calls);
  });

  test("auth check forwards the caller's token with the edge's secret", async () => {
    await generate(edge, "arpeggios");
    const me = origin.requests.filter((r) => r.url === "/api/internal/caller").at(-1);
    assert.equal(me.headers.authorization, GOOD_TOKEN);
    assert.equal(me.headers["x-origin-secret"], SECRET);
  });

  test("bad input is a 400 in the error shape", async () => {
    const empty = await generate(edge, "   ");
    assert.equal(empty.status, 400);
    assert.equal((await empty.json()).error.code, "validation_error");
    const notJson = await edge.fetch("/api/embeddings/generate", {
      method: "POST",
      headers: { Authorization: GOOD_TOKEN },
      body: "{nope",
    });
    assert.equal(notJson.status, 400);
    assert.equal((await notJson.json()).error.code, "invalid_json");
    const long = await generate(edge, "a".repeat(9000));
    assert.equal(long.status, 400);
    assert.equal((await long.json()).error.code, "validation_error");
  });
});

describe("Workers AI failure", () => {
  test("is a 502 in the error shape, and nothing is cached", async () => {
    const origin = await startOrigin();
    const ai = await startWorkersAi({ fail: true });
    const edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url });
    try {
      const res = await generate(edge, "pedalling");
      assert.equal(res.status, 502);
      const body = await res.json();
      assert.equal(body.error.code, "embedding_failed");
      assert.match(body.error.request_id, /.+/);
      const kv = await edge.mf.getKVNamespace("EMBEDDING_CACHE");
      assert.equal((await kv.list()).keys.length, 0);
    } finally {
      await edge.close();
      await Promise.all([origin.close(), ai.close()]);
    }
  });
});

describe("embeddings via the local origin adapter (EMBEDDING_MODE=origin)", () => {
  test("uses POST /api/internal/embeddings with the secret, then the KV cache", async () => {
    const origin = await startOrigin();
    const edge = await startWorker({ originUrl: origin.url, local: true });
    try {
      const first = await (await generate(edge, "Legato")).json();
      assert.equal(first.model, "all-MiniLM-L6-v2");
      assert.equal(first.dimensions, 384);
      assert.equal(first.cached, false);
      const calls = origin.requests.filter((r) => r.url === "/api/internal/embeddings");
      assert.equal(calls.length, 1);
      assert.equal(calls[0].headers["x-origin-secret"], SECRET);
      assert.deepEqual(JSON.parse(calls[0].body), { texts: ["legato"] });
      const kv = await edge.mf.getKVNamespace("EMBEDDING_CACHE");
      await waitFor(() => kv.get(keyFor("all-MiniLM-L6-v2", "legato")));
      const second = await (await generate(edge, "legato")).json();
      assert.equal(second.cached, true);
      assert.equal(origin.requests.filter((r) => r.url === "/api/internal/embeddings").length, 1);
    } finally {
      await edge.close();
      await origin.close();
    }
  });
});
