// Local edge for `make up`: the bundled Worker in workerd (Miniflare) on 127.0.0.1:8787,
// in front of the API, with KV and R2 persisted under <repo>/.local/worker/.
//
// Environment:
//   ORIGIN_URL                  API base URL (default: manifest var, http://127.0.0.1:8080)
//   ORIGIN_SHARED_SECRET        required; the same value the API checks in X-Origin-Secret
//   WORKER_HOST / WORKER_PORT   listen address (default 127.0.0.1:8787; port 0 = any free port)
//   WORKER_PERSIST_DIR          default <repo>/.local/worker
//   LOCAL_S3_ENDPOINT           the API's local S3 server (moto); enables the R2 backfill adapter
//   LOCAL_R2_BACKFILL_BUCKETS   JSON {"PDF_BUCKET": "<s3 bucket>"} when S3 names differ from the manifest
//   LOCAL_S3_REGION / LOCAL_S3_ACCESS_KEY_ID / LOCAL_S3_SECRET_ACCESS_KEY
//                               credentials for that server (default: AWS_* env, else dummies moto accepts)
//   RATE_LIMIT_PER_MINUTE, ALLOWED_ORIGINS, ORIGIN_TIMEOUT_MS, MAX_BODY_BYTES, EMBEDDING_MODEL,
//   ORIGIN_HEALTH_PATH: override the manifest vars
// Embeddings use the explicitly named local adapter (EMBEDDING_MODE=origin): Workers AI
// is unreachable offline. Clients reach the Worker through front.mjs, which plays Cloudflare's
// part (CF-Connecting-IP from the socket, never from the client).
import { Miniflare } from "miniflare";
import { startFront } from "./front.mjs";
import { resolve } from "node:path";
import { buildWorker } from "./build.mjs";
import { REPO_ROOT, loadManifest, miniflareOptions, resolveVars } from "./manifest.mjs";

const env = process.env;
const manifest = loadManifest();
const secrets = Object.fromEntries(manifest.secrets.map((name) => [name, env[name]]));
if (!secrets.ORIGIN_SHARED_SECRET) {
  console.error("dev.mjs: ORIGIN_SHARED_SECRET must be set (the API must use the same value)");
  process.exit(2);
}
const overridable = ["ORIGIN_URL", "RATE_LIMIT_PER_MINUTE", "ALLOWED_ORIGINS", "ORIGIN_TIMEOUT_MS", "MAX_BODY_BYTES", "EMBEDDING_MODEL", "LOCAL_R2_BACKFILL_BUCKETS", "ORIGIN_HEALTH_PATH"];
const vars = resolveVars(manifest, {
  local: true,
  overrides: {
    ...Object.fromEntries(overridable.map((name) => [name, env[name]])),
    EMBEDDING_MODE: "origin",
    LOCAL_R2_BACKFILL_S3_ENDPOINT: env.LOCAL_S3_ENDPOINT ?? "",
    LOCAL_S3_REGION: env.LOCAL_S3_REGION ?? env.AWS_DEFAULT_REGION,
    LOCAL_S3_ACCESS_KEY_ID: env.LOCAL_S3_ACCESS_KEY_ID ?? env.AWS_ACCESS_KEY_ID,
    LOCAL_S3_SECRET_ACCESS_KEY: env.LOCAL_S3_SECRET_ACCESS_KEY ?? env.AWS_SECRET_ACCESS_KEY,
  },
});
const persistRoot = env.WORKER_PERSIST_DIR || resolve(REPO_ROOT, ".local", "worker");

const scriptPath = await buildWorker();
const mf = new Miniflare({
  ...miniflareOptions(manifest, { scriptPath, vars, secrets, persistRoot }),
  host: "127.0.0.1",
  port: 0, // only the front below talks to workerd
});
const workerUrl = await mf.ready;
const front = await startFront(workerUrl.href, {
  host: env.WORKER_HOST || "127.0.0.1",
  port: Number(env.WORKER_PORT ?? 8787),
});
const { address, port } = front.address();
const url = `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
console.log(`piano-edge ready on ${url} -> ${vars.ORIGIN_URL} (KV/R2 in ${persistRoot})`);

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`piano-edge: ${signal}, shutting down`);
  try {
    front.close();
    await mf.dispose();
    process.exit(0);
  } catch (err) {
    console.error(`piano-edge: shutdown failed: ${err}`);
    process.exit(1);
  }
}
// Miniflare's own exit hook would exit 128+signal before dispose() finishes; we
// dispose (which stops workerd) and exit 0 instead. Its process 'exit' hook stays.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.removeAllListeners(signal);
  process.on(signal, () => stop(signal));
}
