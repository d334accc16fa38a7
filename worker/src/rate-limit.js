// Per-IP rate limiting through Cloudflare's Rate Limiting binding (Miniflare runs the
// same binding locally, so the behaviour is real in tests and in `make up`).
import { errorResponse } from "./errors.js";
import { RATE_LIMIT_BINDING, RATE_LIMIT_PERIOD_SECONDS } from "./settings.js";

/** Client IP as Cloudflare reports it; Cloudflare overwrites any client-sent value. */
export function clientIp(request) {
  return request.headers.get("CF-Connecting-IP") || "unknown";
}

/** Seconds until the current fixed window ends (at least 1). */
export function retryAfterSeconds(nowMs = Date.now(), period = RATE_LIMIT_PERIOD_SECONDS) {
  const elapsed = Math.floor(nowMs / 1000) % period;
  return Math.max(1, period - elapsed);
}

/** Returns a 429 response when the caller is over the limit, otherwise null. */
export async function enforceRateLimit(request, env, settings, requestId) {
  const limiter = env[RATE_LIMIT_BINDING];
  if (!limiter || settings.rateLimitPerMinute === 0) return null;
  const { success } = await limiter.limit({ key: `ip:${clientIp(request)}` });
  if (success) return null;
  const retryAfter = retryAfterSeconds();
  return errorResponse(
    429,
    "rate_limited",
    `Too many requests: limit is ${settings.rateLimitPerMinute} per minute`,
    requestId,
    { "Retry-After": String(retryAfter), "X-RateLimit-Limit": String(settings.rateLimitPerMinute) },
  );
}
