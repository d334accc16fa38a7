// scripts/dev.mjs (what `make up` starts): serves, persists under the given dir, and
// exits cleanly on SIGINT/SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { WORKER_DIR } from "../scripts/manifest.mjs";
import { startOrigin } from "./support/harness.mjs";

function startDev(env) {
  const child = spawn(process.execPath, [resolve(WORKER_DIR, "scripts/dev.mjs")], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = new Promise((resolveReady, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const match = /ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolveReady(match[1]);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (c) => (output += c));
    child.on("exit", (code) => reject(new Error(`dev.mjs exited early (${code}): ${output}`)));
  });
  const exited = new Promise((r) => child.on("exit", (code, signal) => r({ code, signal })));
  return { child, ready, exited, output: () => output };
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  test(`dev.mjs serves through the origin adapter and exits 0 on ${signal}`, async () => {
    const origin = await startOrigin();
    const persist = mkdtempSync(join(tmpdir(), "edge-dev-"));
    const dev = startDev({ ORIGIN_URL: origin.url, ORIGIN_SHARED_SECRET: "test-origin-secret", WORKER_PORT: "0", WORKER_PERSIST_DIR: persist });
    try {
      const base = await dev.ready;
      const health = await fetch(`${base}/health`);
      assert.equal(health.status, 200);
      assert.equal((await health.json()).worker.embedding_mode, "origin");
      const embed = await fetch(`${base}/api/embeddings/generate`, {
        method: "POST",
        headers: { Authorization: "Bearer good-token", "Content-Type": "application/json" },
        body: JSON.stringify({ text: "persist me" }),
      });
      assert.equal(embed.status, 200);
      assert.equal((await embed.json()).dimensions, 384);
      dev.child.kill(signal);
      const { code } = await dev.exited;
      assert.equal(code, 0, dev.output());
      assert.ok(existsSync(join(persist, "kv")), "KV persisted under WORKER_PERSIST_DIR");
    } finally {
      if (dev.child.exitCode === null) dev.child.kill("SIGKILL");
      await origin.close();
    }
  });
}

test("dev.mjs refuses to start without ORIGIN_SHARED_SECRET", async () => {
  const dev = startDev({ ORIGIN_SHARED_SECRET: "", WORKER_PORT: "0" });
  dev.ready.catch(() => {});
  const { code } = await dev.exited;
  assert.equal(code, 2);
  assert.match(dev.output(), /ORIGIN_SHARED_SECRET/);
});

/** GET over real HTTP from a chosen loopback source address. */
function getFrom(url, localAddress, headers = {}) {
  return new Promise((resolveGet, reject) => {
    const req = http.get(url, { localAddress, agent: false, headers }, (res) => {
      res.resume();
      res.on("end", () => resolveGet({ status: res.statusCode, retryAfter: res.headers["retry-after"] }));
    });
    req.on("error", reject);
  });
}

/** dev.mjs at 5 requests a minute, in front of a stub origin, away from a window edge. */
async function withLimitedDev(run) {
  const origin = await startOrigin();
  const persist = mkdtempSync(join(tmpdir(), "edge-dev-"));
  const dev = startDev({
    ORIGIN_URL: origin.url,
    ORIGIN_SHARED_SECRET: "test-origin-secret",
    WORKER_PORT: "0",
    WORKER_PERSIST_DIR: persist,
    RATE_LIMIT_PER_MINUTE: "5",
  });
  try {
    const base = await dev.ready;
    const intoWindow = Date.now() % 60000;
    if (intoWindow > 55000) await new Promise((r) => setTimeout(r, 60000 - intoWindow + 50));
    await run(base, origin);
  } finally {
    dev.child.kill("SIGTERM");
    await dev.exited;
    await origin.close();
  }
}

test("over real HTTP the limit is keyed by the socket's IP (127.0.0.1 vs 127.0.0.2)", () =>
  withLimitedDev(async (base) => {
    const first = [];
    for (let i = 0; i < 8; i++) first.push(await getFrom(`${base}/api/projects`, "127.0.0.1"));
    assert.deepEqual(first.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429, 429]);
    assert.match(first[5].retryAfter, /^\d+$/);
    const other = await getFrom(`${base}/api/projects`, "127.0.0.2");
    assert.equal(other.status, 200);
  }));

test("a client-sent CF-Connecting-IP is replaced by the socket's: rotating it doesn't dodge the limit", () =>
  withLimitedDev(async (base, origin) => {
    const statuses = [];
    for (let i = 0; i < 8; i++) {
      const spoofed = { "CF-Connecting-IP": `203.0.113.${i + 1}`, "X-Forwarded-For": `198.51.100.${i}` };
      statuses.push((await getFrom(`${base}/api/projects`, "127.0.0.3", spoofed)).status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    // What the origin was told is the socket's address, not the client's claim.
    const forwarded = origin.requests.filter((r) => r.url === "/api/projects").map((r) => r.headers["x-forwarded-for"]);
    assert.ok(forwarded.length === 5 && forwarded.every((ip) => ip === "127.0.0.3"), JSON.stringify(forwarded));
  }));
