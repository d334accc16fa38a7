// POST /api/chat/query: embedding attached under the shared secret, spoofing stripped,
// and the origin's SSE streamed through without buffering.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { GOOD_API_KEY, GOOD_TOKEN, SECRET, startOrigin, startWorker, startWorkersAi } from "./support/harness.mjs";

function ask(edge, body, headers = {}) {
  return edge.fetch("/api/chat/query", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: GOOD_TOKEN, ...headers },
    body: JSON.stringify(body),
  });
}

function withTimeout(promise, message, ms = 5000) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function readEvents(response) {
  const text = await response.text();
  return text
    .split("\n\n")
    .filter(Boolean)
    .map((block) => Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)])));
}

describe("chat query forwarding", () => {
  let origin, ai, edge;
  let release = null;
  before(async () => {
    ai = await startWorkersAi();
    origin = await startOrigin({
      // Sends one event, then holds the stream open until the test releases it.
      "POST /api/chat/slow-sse-marker": () => {},
    });
    edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url });
  });
  after(async () => {
    release?.();
    await edge.close();
    await Promise.all([origin.close(), ai.close()]);
  });

  test("adds the edge embedding with the secret; the origin trusts it", async () => {
    const res = await ask(edge, { query: "What is a cadence?", session_id: "s1" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("Content-Type"), /^text\/event-stream/);
    const events = await readEvents(res);
    assert.equal(JSON.parse(events[0].data).embedding_source, "edge");
    const seen = origin.requests.filter((r) => r.url === "/api/chat/query").at(-1);
    assert.equal(seen.headers["x-origin-secret"], SECRET);
    const body = JSON.parse(seen.body);
    assert.equal(body.query, "What is a cadence?");
    assert.equal(body.session_id, "s1");
    assert.equal(body.embedding_model, "@cf/baai/bge-base-en-v1.5");
    assert.equal(body.query_embedding.length, 768);
    assert.equal(seen.headers.authorization, GOOD_TOKEN);
  });

  test("client-supplied secret header and embedding fields never reach the origin", async () => {
    const forged = Array(768).fill(0.5);
    const res = await ask(
      edge,
      { query: "forged?", query_embedding: forged, embedding_model: "evil" },
      { "X-Origin-Secret": "guessed-wrong" },
    );
    await res.text();
    const seen = origin.requests.filter((r) => r.url === "/api/chat/query").at(-1);
    const body = JSON.parse(seen.body);
    assert.notDeepEqual(body.query_embedding, forged);
    assert.equal(body.embedding_model, "@cf/baai/bge-base-en-v1.5");
    assert.equal(seen.headers["x-origin-secret"], SECRET, "only the edge's own secret is sent");
  });

  test("a client's embedding with a wrong secret is dropped even when the edge can't embed", async () => {
    // Query is not a string, so the edge attaches nothing; the forged fields must still go.
    const res = await ask(edge, { query: 42, query_embedding: [1, 2, 3], embedding_model: "x" }, { "X-Origin-Secret": "nope" });
    await res.text();
    const seen = origin.requests.filter((r) => r.url === "/api/chat/query").at(-1);
    const body = JSON.parse(seen.body);
    assert.equal(body.query_embedding, undefined);
    assert.equal(body.embedding_model, undefined);
    assert.equal(seen.headers["x-origin-secret"], SECRET, "the edge's secret, as on every origin call");
  });

  test("SSE is relayed event by event, not buffered until the origin finishes", async () => {
    let releaseStream;
    const released = new Promise((r) => (releaseStream = r));
    release = releaseStream;
    const slowOrigin = await startOrigin({
      "POST /api/chat/query": async (req, res) => {
        res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
        res.write('event: token\ndata: {"text":"first"}\n\n');
        await released; // the origin only finishes after the client has seen event 1
        res.end('event: done\ndata: {}\n\n');
      },
    });
    const slowEdge = await startWorker({ originUrl: slowOrigin.url, aiUrl: ai.url });
    try {
      const res = await withTimeout(ask(slowEdge, { query: "stream please" }), "response was held until the origin finished");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("Content-Length"), null);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const first = await withTimeout(reader.read(), "first event was buffered");
      assert.match(decoder.decode(first.value), /"first"/);
      releaseStream();
      let rest = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += decoder.decode(value);
      }
      assert.match(rest, /event: done/);
    } finally {
      releaseStream();
      await slowEdge.close();
      await slowOrigin.close();
    }
  });

  test("invalid JSON is a 400 at the edge; origin errors pass through untouched", async () => {
    const bad = await edge.fetch("/api/chat/query", { method: "POST", body: "{", headers: { "Content-Type": "application/json", Authorization: GOOD_TOKEN } });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, "invalid_json");
    const get = await edge.fetch("/api/chat/query");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("Allow"), "POST");
  });
});

describe("chat query when the edge's secret is wrong", () => {
  test("the edge can't verify the caller, so it embeds nothing and the origin computes its own", async () => {
    const ai = await startWorkersAi();
    const origin = await startOrigin();
    const edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url, secret: "stale-secret" });
    try {
      const events = await readEvents(await ask(edge, { query: "What is rubato?" }));
      assert.equal(JSON.parse(events[0].data).embedding_source, "origin");
    } finally {
      await edge.close();
      await Promise.all([origin.close(), ai.close()]);
    }
  });
});

describe("chat query when Workers AI is down", () => {
  test("degrades to forwarding without an embedding", async () => {
    const ai = await startWorkersAi({ fail: true });
    const origin = await startOrigin();
    const edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url });
    try {
      const res = await ask(edge, { query: "still works?" });
      assert.equal(res.status, 200);
      const events = await readEvents(res);
      assert.equal(JSON.parse(events[0].data).embedding_source, "origin");
      const body = JSON.parse(origin.requests.at(-1).body);
      assert.equal(body.query_embedding, undefined);
    } finally {
      await edge.close();
      await Promise.all([origin.close(), ai.close()]);
    }
  });
});

describe("the chat route checks the caller before it spends anything", () => {
  let origin, ai, edge;
  before(async () => {
    ai = await startWorkersAi();
    origin = await startOrigin();
    edge = await startWorker({ originUrl: origin.url, aiUrl: ai.url });
  });
  after(async () => {
    await edge.close();
    await Promise.all([origin.close(), ai.close()]);
  });

  for (const [name, headers, code] of [
    ["no credentials", { Authorization: "" }, "not_authenticated"],
    ["a forged token", { Authorization: "Bearer forged" }, "not_authenticated"],
    ["a forged API key", { Authorization: "", "X-API-Key": "pk_forged" }, "not_authenticated"],
  ]) {
    test(`${name}: 401, no Workers AI call, no KV write, nothing forwarded`, async () => {
      const aiCalls = ai.calls.length;
      const question = `anonymous question ${name} ${Date.now()}`;
      const res = await ask(edge, { query: question }, headers);
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, code);
      assert.equal(ai.calls.length, aiCalls, "no embedding was paid for");
      assert.equal(origin.requests.filter((r) => r.url === "/api/chat/query" && r.body.includes(question)).length, 0);
      // The same question from a real user is a cache miss: nothing was written for the anonymous one.
      const ok = await ask(edge, { query: question });
      assert.equal(ok.status, 200);
      await ok.text();
      const forwarded = origin.requests.filter((r) => r.url === "/api/chat/query").at(-1);
      assert.equal(forwarded.headers["x-edge-embedding-cache"], "miss");
    });
  }

  test("a personal API key is checked by the origin and then used", async () => {
    const res = await ask(edge, { query: "What is a trill?" }, { Authorization: "", "X-API-Key": GOOD_API_KEY });
    assert.equal(res.status, 200);
    await res.text();
    const check = origin.requests.filter((r) => r.url === "/api/internal/caller").at(-1);
    assert.equal(check.headers["x-api-key"], GOOD_API_KEY);
    assert.equal(check.headers["x-origin-secret"], SECRET);
  });
});
