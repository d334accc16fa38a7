// GET /health: the edge's own state plus a bounded probe of the origin's health.
import { edgeHeaders, originFetch } from "../origin.js";

const HEALTH_TIMEOUT_MS = 5000;

export async function health(request, env, settings, requestId) {
  const started = Date.now();
  let origin;
  try {
    const upstream = await originFetch(
      settings,
      settings.originHealthPath,
      { method: "GET", headers: edgeHeaders(requestId, settings) },
      Math.min(HEALTH_TIMEOUT_MS, settings.originTimeoutMs),
    );
    let body = null;
    try {
      body = await upstream.json();
    } catch {
      body = null;
    }
    origin = {
      status: upstream.ok ? "ok" : "error",
      http_status: upstream.status,
      latency_ms: Date.now() - started,
      detail: body,
    };
  } catch (err) {
    origin = { status: "unreachable", error: err.code ?? "origin_unavailable", latency_ms: Date.now() - started };
  }
  const healthy = origin.status === "ok";
  return Response.json(
    {
      status: healthy ? "ok" : "degraded",
      worker: { status: "ok", embedding_mode: settings.embeddingMode },
      origin,
      request_id: requestId,
    },
    { status: healthy ? 200 : 503, headers: { "Cache-Control": "no-store" } },
  );
}
