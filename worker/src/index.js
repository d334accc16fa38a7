// piano-edge: the Cloudflare Worker in front of the FastAPI origin.
// Order per request: request id -> settings -> CORS preflight -> rate limit -> route,
// then security + CORS headers on whatever comes back, then one analytics data point.
import { applyCors, isPreflight, preflightResponse } from "./cors.js";
import { ConfigError, loadSettings } from "./settings.js";
import { HttpError, errorResponse, httpErrorResponse } from "./errors.js";
import { REQUEST_ID_HEADER, requestIdFor } from "./request-id.js";
import { applySecurityHeaders } from "./security-headers.js";
import { enforceRateLimit } from "./rate-limit.js";
import { checkDeclaredLength, readBodyLimited } from "./body.js";
import { forwardHeaders, isFromOrigin, originFetch, passThrough } from "./origin.js";
import { ROUTES, observation, recordRequest } from "./analytics.js";
import { health } from "./routes/health.js";
import { chatQuery } from "./routes/chat.js";
import { generateEmbedding } from "./routes/embeddings.js";
import { STREAM_PATH, streamProject } from "./routes/stream.js";
import { UPLOAD_PATH, streamUpload } from "./routes/upload.js";
import { TUTOR_PATH, tutorChat } from "./routes/tutor.js";

/**
 * The path the origin will route on: percent-decoded (uvicorn decodes before Starlette
 * matches), repeated slashes collapsed and a trailing slash dropped. Routing decisions use
 * it, so `/api/chat/%71uery` or `/api/chat/query/` can't slip past an edge route into plain
 * proxying. Null when the path can't be decoded.
 */
export function canonicalPath(pathname) {
  let path;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  path = path.replace(/\/{2,}/g, "/");
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

// Origin endpoints only the edge itself calls; clients never reach them through the edge.
const EDGE_ONLY_ORIGIN_PATH = /^\/api\/(internal(\/.*)?|projects\/[^/]+\/stream-authorization)$/;

/** Paths the edge never exposes (compared case-insensitively on the canonical path). */
function isBlockedPath(path) {
  if (path === null) return true;
  const lower = path.toLowerCase();
  return lower === "/api/metrics" || lower === "/metrics" || EDGE_ONLY_ORIGIN_PATH.test(lower);
}

function methodNotAllowed(allowed) {
  return new HttpError(405, "method_not_allowed", `Use ${allowed}`, { Allow: allowed });
}

/** Everything without an edge route goes to the origin unchanged (minus trust headers). */
async function proxy(request, settings, requestId) {
  const url = new URL(request.url);
  const hasBody = !["GET", "HEAD"].includes(request.method);
  checkDeclaredLength(request, settings.maxBodyBytes);
  const body = hasBody ? await readBodyLimited(request, settings.maxBodyBytes) : null;
  const upstream = await originFetch(settings, `${url.pathname}${url.search}`, {
    method: request.method,
    headers: forwardHeaders(request, requestId, settings),
    body,
  });
  return passThrough(upstream);
}

async function route(request, env, settings, requestId, ctx, obs) {
  const path = canonicalPath(new URL(request.url).pathname);
  if (isBlockedPath(path)) {
    obs.route = ROUTES.blocked;
    throw new HttpError(404, "not_found", "Not found");
  }
  if (path === "/health") {
    obs.route = ROUTES.health;
    if (!["GET", "HEAD"].includes(request.method)) throw methodNotAllowed("GET, HEAD");
    return health(request, env, settings, requestId);
  }
  if (path === "/api/chat/query") {
    obs.route = ROUTES.chat;
    if (request.method !== "POST") throw methodNotAllowed("POST");
    return chatQuery(request, env, settings, requestId, ctx, obs);
  }
  if (path === TUTOR_PATH) {
    obs.route = ROUTES.tutor;
    if (request.method !== "POST") throw methodNotAllowed("POST");
    return tutorChat(request, settings, requestId);
  }
  if (path === "/api/embeddings/generate") {
    obs.route = ROUTES.embeddings;
    if (request.method !== "POST") throw methodNotAllowed("POST");
    return generateEmbedding(request, env, settings, requestId, ctx, obs);
  }
  const stream = STREAM_PATH.exec(path);
  if (stream) {
    obs.route = ROUTES.stream;
    if (!["GET", "HEAD"].includes(request.method)) throw methodNotAllowed("GET, HEAD");
    return streamProject(request, env, settings, requestId, stream[1]);
  }
  if (path === UPLOAD_PATH) {
    obs.route = ROUTES.upload;
    if (request.method !== "POST") throw methodNotAllowed("POST");
    return streamUpload(request, settings, requestId);
  }
  return proxy(request, settings, requestId);
}

/** Responses from fetch() or R2 can have immutable headers; copy before decorating. */
function finalise(response, request, settings, requestId) {
  const { pathname } = new URL(request.url);
  const out = new Response(response.body, response);
  out.headers.set(REQUEST_ID_HEADER, requestId);
  applySecurityHeaders(out.headers, pathname);
  if (settings) applyCors(out.headers, request, settings);
  return out;
}

export default {
  async fetch(request, env, ctx) {
    const started = Date.now();
    const requestId = requestIdFor(request);
    const obs = observation(ROUTES.proxy);
    let settings = null;
    let response;
    try {
      settings = loadSettings(env);
      if (isPreflight(request)) {
        obs.route = ROUTES.preflight;
        response = finalise(preflightResponse(request, settings, requestId), request, null, requestId);
        recordRequest(env, ctx, obs, facts(request, response, started));
        return response;
      }
      response = await enforceRateLimit(request, env, settings, requestId);
      if (response) obs.code = "rate_limited";
      else response = await route(request, env, settings, requestId, ctx, obs);
      if (isFromOrigin(response)) obs.source = "origin";
    } catch (err) {
      if (err instanceof HttpError) {
        obs.code = err.code;
        response = httpErrorResponse(err, requestId);
      } else if (err instanceof ConfigError) {
        obs.code = "edge_misconfigured";
        console.error(`edge misconfigured: ${err.message}`);
        response = errorResponse(503, "edge_misconfigured", "The edge is misconfigured", requestId);
      } else {
        obs.code = "internal_error";
        console.error(`unhandled edge error: ${err?.stack ?? err}`);
        response = errorResponse(500, "internal_error", "Unexpected edge error", requestId);
      }
    }
    const out = finalise(response, request, settings, requestId);
    recordRequest(env, ctx, obs, facts(request, out, started));
    return out;
  },
};

/** Status and timing for the data point; workerd's clock advances across I/O (origin, KV, R2). */
function facts(request, response, started) {
  return { method: request.method, status: response.status, colo: request.cf?.colo, durationMs: Date.now() - started };
}
