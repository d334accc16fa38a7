// Who is asking, checked before the edge spends anything on a request (a Workers AI call, a KV
// write). The origin decides (GET /api/internal/caller, edge-only): a bearer token or a
// personal API key, with the same rules as every other route, without charging the caller's
// rate limits (the request the edge forwards afterwards is the one that counts).
import { HttpError } from "./errors.js";
import { edgeHeaders, originFetch, passThrough } from "./origin.js";

export const CALLER_CHECK_PATH = "/api/internal/caller";

/**
 * { verified: true } for a good caller; otherwise { verified: false, status, response } with
 * the origin's answer. 401 when there are no credentials at all (no origin call).
 */
export async function checkCaller(request, settings, requestId) {
  const authorization = request.headers.get("Authorization");
  const apiKey = request.headers.get("X-API-Key");
  if (!authorization && !apiKey) {
    throw new HttpError(401, "not_authenticated", "Authorization header is required", { "WWW-Authenticate": "Bearer" });
  }
  const headers = edgeHeaders(requestId, settings, { authorization });
  if (apiKey) headers.set("X-API-Key", apiKey);
  const upstream = await originFetch(settings, CALLER_CHECK_PATH, { method: "GET", headers });
  if (upstream.ok) {
    await upstream.body?.cancel();
    return { verified: true };
  }
  return { verified: false, status: upstream.status, response: passThrough(upstream) };
}

/** Null when the caller is authenticated, else the response to send them. */
export async function requireCaller(request, settings, requestId) {
  const check = await checkCaller(request, settings, requestId);
  return check.verified ? null : check.response;
}
