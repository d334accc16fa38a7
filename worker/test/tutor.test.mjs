// POST /api/v1/chat: the tutor's SSE relayed as it arrives, anonymous callers stopped at the
// edge, the body cap and the method enforced before the origin spends anything.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { GOOD_TOKEN, SECRET, startOrigin, startWorker } from "./support/harness.mjs";

function withTimeout(promise, message, ms = 5000) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe("tutor chat forwarding", () => {
  let origin, edge, releaseStream;
  const released = new Promise((r) => (releaseStream = r));
  before(async () => {
    origin = await startOrigin({
      "POST /api/v1/chat": async (req, res) => {
        res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store" });
        res.write('event: tool_call\ndata: {"type":"tool_call","name":"search_knowledge_base"}\n\n');
        await released; // the origin finishes only after the client has seen the first event
        res.write('event: delta\ndata: {"type":"delta","text":"hi"}\n\n');
        res.end("data: [DONE]\n\n");
      },
    });
    edge = await startWorker({ originUrl: origin.url, vars: { MAX_BODY_BYTES: "1024" } });
  });
  after(async () => {
    releaseStream();
    await edge.close();
    await origin.close();
  });

  test("streams event by event with the edge's secret and the caller's token", async () => {
    const res = await withTimeout(
      edge.fetch("/api/v1/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: GOOD_TOKEN },
        body: JSON.stringify({ message: "How did my last take go?" }),
      }),
      "response was held until the origin finished",
    );
    assert.equal(res.status, 200);
    assert.match(res.headers.get("Content-Type"), /^text\/event-stream/);
    assert.equal(res.headers.get("Cache-Control"), "no-cache, no-transform");
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const first = await withTimeout(reader.read(), "first event was buffered");
    assert.match(decoder.decode(first.value), /tool_call/);
    releaseStream();
    let rest = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value);
    }
    assert.match(rest, /"text":"hi"/);
    assert.match(rest, /data: \[DONE\]/);
    const seen = origin.requests.filter((r) => r.url === "/api/v1/chat").at(-1);
    assert.equal(seen.headers["x-origin-secret"], SECRET);
    assert.equal(seen.headers.authorization, GOOD_TOKEN);
    assert.equal(seen.headers["accept-encoding"], "identity");
    assert.deepEqual(JSON.parse(seen.body), { message: "How did my last take go?" });
  });

  test("an anonymous caller, a wrong method or an oversized body never reaches the origin", async () => {
    const before = origin.requests.filter((r) => r.url === "/api/v1/chat").length;
    const anon = await edge.fetch("/api/v1/chat", { method: "POST", body: '{"message":"hi"}' });
    assert.equal(anon.status, 401);
    const get = await edge.fetch("/api/v1/chat", { headers: { Authorization: GOOD_TOKEN } });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("Allow"), "POST");
    const big = await edge.fetch("/api/v1/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: GOOD_TOKEN },
      body: JSON.stringify({ message: "x".repeat(5000) }),
    });
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error.code, "payload_too_large");
    assert.equal(origin.requests.filter((r) => r.url === "/api/v1/chat").length, before);
  });
});
