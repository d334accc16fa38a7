// One Workers Analytics Engine data point per request: what only the edge knows (which edge
// route answered, who produced the response, the edge's own error code, the embedding cache),
// for the edge dashboard. Low-cardinality fields only: never the raw path, a user or an IP.
//
// Data point layout (keep in step with worker/README.md, "Edge analytics"):
//   index1  route                      blob1 route            double1 HTTP status
//   blob2   method                     blob3 source           double2 duration in ms
//   blob4   error code ("" if none)    blob5 colo             blob6 embedding cache
//   blob7   layout version ("v1")
import manifest from "../bindings.json";

export const ANALYTICS_BINDING = manifest.analytics_engine_datasets[0].binding;
export const LAYOUT_VERSION = "v1";

/** Route names the dashboard groups by; anything else is plain proxying. */
export const ROUTES = Object.freeze({
  health: "health",
  chat: "chat_query",
  tutor: "tutor_chat",
  embeddings: "embeddings_generate",
  stream: "project_stream",
  upload: "recording_upload",
  blocked: "blocked",
  preflight: "preflight",
  proxy: "proxy",
});

/** Per-request facts the routes fill in as they learn them. */
export function observation(route) {
  return { route, source: "edge", code: "", cache: "" };
}

export function dataPoint(obs, { method, status, colo, durationMs }) {
  return {
    indexes: [obs.route],
    blobs: [obs.route, method, obs.source, obs.code, colo ?? "", obs.cache, LAYOUT_VERSION],
    doubles: [status, durationMs],
  };
}

/**
 * Write the request's data point; never fails or delays the request. On Cloudflare
 * writeDataPoint returns nothing; a binding that returns a promise (the tests' recorder)
 * is kept alive with waitUntil until it settles.
 */
export function recordRequest(env, ctx, obs, facts) {
  const dataset = env[ANALYTICS_BINDING];
  if (!dataset) return;
  try {
    const pending = dataset.writeDataPoint(dataPoint(obs, facts));
    if (pending && typeof pending.then === "function" && ctx) ctx.waitUntil(pending.catch(() => {}));
  } catch (err) {
    console.warn(`analytics write failed: ${err?.message ?? err}`);
  }
}
