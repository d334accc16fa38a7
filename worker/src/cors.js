// CORS from the ALLOWED_ORIGINS allow-list. Credentials are allowed only for an
// echoed, listed origin; a "*" entry means "any origin, no credentials".
import { errorResponse } from "./errors.js";

const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "accept",
  "range",
  "if-none-match",
  "if-modified-since",
  "last-event-id",
  "x-request-id",
];
const EXPOSED_HEADERS =
  "X-Request-ID, Retry-After, ETag, Content-Range, Accept-Ranges, Content-Length, Content-Disposition";
const PREFLIGHT_MAX_AGE = "600";

function originPolicy(origin, allowedOrigins) {
  if (!origin) return null;
  if (allowedOrigins.includes(origin)) return { allowOrigin: origin, credentials: true };
  if (allowedOrigins.includes("*")) return { allowOrigin: "*", credentials: false };
  return null;
}

export function isPreflight(request) {
  return (
    request.method === "OPTIONS" &&
    request.headers.has("Origin") &&
    request.headers.has("Access-Control-Request-Method")
  );
}

/** Answer a preflight at the edge: 204 when allowed, 403 in the error shape when not. */
export function preflightResponse(request, settings, requestId) {
  const policy = originPolicy(request.headers.get("Origin"), settings.allowedOrigins);
  const requested = (request.headers.get("Access-Control-Request-Headers") || "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const unknown = requested.filter((h) => !ALLOWED_HEADERS.includes(h));
  if (!policy) {
    return errorResponse(403, "cors_origin_denied", "Origin is not allowed", requestId, { Vary: "Origin" });
  }
  if (unknown.length) {
    return errorResponse(403, "cors_header_denied", `Headers not allowed: ${unknown.join(", ")}`, requestId, {
      Vary: "Origin",
    });
  }
  const headers = new Headers({
    "Access-Control-Allow-Origin": policy.allowOrigin,
    "Access-Control-Allow-Methods": ALLOWED_METHODS,
    "Access-Control-Allow-Headers": ALLOWED_HEADERS.join(", "),
    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    Vary: "Origin",
  });
  if (policy.credentials) headers.set("Access-Control-Allow-Credentials", "true");
  return new Response(null, { status: 204, headers });
}

/** Decorate an actual response; disallowed origins get no CORS headers (the browser blocks). */
export function applyCors(headers, request, settings) {
  const policy = originPolicy(request.headers.get("Origin"), settings.allowedOrigins);
  const vary = headers.get("Vary") || "";
  if (!vary.split(",").some((v) => v.trim().toLowerCase() === "origin" || v.trim() === "*")) {
    headers.set("Vary", vary ? `${vary}, Origin` : "Origin");
  }
  headers.delete("Access-Control-Allow-Origin");
  headers.delete("Access-Control-Allow-Credentials");
  if (!policy) return;
  headers.set("Access-Control-Allow-Origin", policy.allowOrigin);
  headers.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
  if (policy.credentials) headers.set("Access-Control-Allow-Credentials", "true");
}
