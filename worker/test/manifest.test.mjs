// bindings.json is the single source of binding names: the generated wrangler config
// and the Miniflare options must carry exactly what it declares.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { WORKER_DIR, loadManifest, miniflareOptions, resolveVars, wranglerConfig } from "../scripts/manifest.mjs";

const manifest = loadManifest();

test("committed wrangler.json is regenerated from bindings.json (run `npm run config`)", () => {
  const committed = JSON.parse(readFileSync(resolve(WORKER_DIR, "wrangler.json"), "utf8"));
  assert.deepEqual(committed, wranglerConfig(manifest));
});

test("Miniflare options declare every manifest binding, var and secret", () => {
  const vars = resolveVars(manifest);
  const opts = miniflareOptions(manifest, {
    scriptPath: "/tmp/x/index.js",
    vars,
    secrets: { ORIGIN_SHARED_SECRET: "s" },
    aiUpstream: "http://127.0.0.1:1/",
  });
  assert.deepEqual(opts.kvNamespaces, ["EMBEDDING_CACHE", "SEARCH_CACHE", "LLM_CACHE"]);
  assert.deepEqual(opts.r2Buckets, ["PDF_BUCKET", "KNOWLEDGE_BUCKET"]);
  assert.equal(opts.ai.binding, "AI");
  assert.deepEqual(opts.ratelimits, { RATE_LIMITER: { simple: { limit: 100, period: 60 } } });
  assert.deepEqual(opts.analyticsEngineDatasets, { EDGE_ANALYTICS: { dataset: "piano_edge" } });
  for (const name of [...Object.keys(vars), ...manifest.secrets]) assert.ok(name in opts.bindings, name);
  assert.equal(opts.bindings.EMBEDDING_MODE, "workers-ai");
});

test("local runs switch to the named origin adapter; production vars stay production", () => {
  assert.equal(resolveVars(manifest, { local: true }).EMBEDDING_MODE, "origin");
  assert.equal(resolveVars(manifest).EMBEDDING_MODE, "workers-ai");
  assert.ok(!("$comment" in resolveVars(manifest, { local: true })));
});

test("a missing secret is refused", () => {
  assert.throws(() => miniflareOptions(manifest, { scriptPath: "/tmp/x.js", vars: resolveVars(manifest) }), /ORIGIN_SHARED_SECRET/);
});
