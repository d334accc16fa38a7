// Local edge overhead figures: the same requests straight to an origin and through the
// Worker in workerd, on this machine. Writes JSON (default <repo>/.local/bench/edge.json).
// These are local numbers (no network, no Cloudflare PoP): they bound what the Worker's
// own code adds, not production latency.
//   node scripts/bench.mjs [--requests 300] [--out path]
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./manifest.mjs";
import { GOOD_TOKEN, startOrigin, startWorker } from "../test/support/harness.mjs";

const { values } = parseArgs({ options: { requests: { type: "string", default: "300" }, out: { type: "string" } } });
const N = Number(values.requests);
const out = resolve(values.out ?? resolve(REPO_ROOT, ".local", "bench", "edge.json"));

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50_ms: +at(0.5).toFixed(2), p95_ms: +at(0.95).toFixed(2), p99_ms: +at(0.99).toFixed(2) };
}

async function time(n, fn) {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm-up
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const measured = await fn(t0); // a number overrides the whole-call time
    samples.push(typeof measured === "number" ? measured : performance.now() - t0);
  }
  return summary(samples);
}

const origin = await startOrigin();
const edge = await startWorker({ originUrl: origin.url, local: true, vars: { RATE_LIMIT_PER_MINUTE: "0" } });
try {
  const direct = await time(N, async () => (await fetch(`${origin.url}/api/health`)).arrayBuffer());
  const proxied = await time(N, async () => (await fetch(`${edge.base}/api/health`)).arrayBuffer());
  const embedBody = JSON.stringify({ text: "how do I practise scales?" });
  const embedHit = await time(N, async () =>
    (await fetch(`${edge.base}/api/embeddings/generate`, {
      method: "POST",
      headers: { Authorization: GOOD_TOKEN, "Content-Type": "application/json" },
      body: embedBody,
    })).arrayBuffer(),
  );
  const sseFirstByte = await time(N, async (t0) => {
    const res = await fetch(`${edge.base}/api/chat/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: "what is a cadence?" }),
    });
    const reader = res.body.getReader();
    await reader.read();
    const firstChunk = performance.now() - t0;
    while (!(await reader.read()).done); // drain, so connections close cleanly
    return firstChunk;
  });
  const result = {
    measured_at: new Date().toISOString(),
    note: "loopback only; origin is the in-process contract server, embeddings via the origin adapter + KV",
    origin_direct: direct,
    through_edge_proxy: proxied,
    edge_overhead_p50_ms: +(proxied.p50_ms - direct.p50_ms).toFixed(2),
    embeddings_generate_kv_hit_incl_auth_check: embedHit,
    chat_sse_first_chunk_kv_hit: sseFirstByte,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${out}`);
} finally {
  await edge.close();
  await origin.close();
}
