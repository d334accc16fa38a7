// Talking to the origin (FastAPI behind the GCP load balancer): header hygiene,
// the shared-secret trust header, timeouts, and 502/504 in the API's error shape.
//
// Every request the edge sends to the origin carries X-Origin-Secret: production runs the
// origin with ORIGIN_ENFORCE=true, which refuses anything without it (health excepted), so
// the secret is what tells our Worker apart from any other Cloudflare customer's. A client
// can't use it to reach edge-only origin endpoints: those paths are refused before proxying
// (see index.js), and fields only the edge may set are stripped on the routes that take them.
import { HttpError } from "./errors.js";
import { REQUEST_ID_HEADER } from "./request-id.js";
import { clientIp } from "./rate-limit.js";

export const ORIGIN_SECRET_HEADER = "X-Origin-Secret";

// Hop-by-hop headers (RFC 9110 §7.6.1) plus ones the edge owns.
const DROPPED_REQUEST_HEADERS = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "x-origin-secret",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-real-ip",
  "cf-connecting-ip",
  "cf-worker",
];

const DROPPED_RESPONSE_HEADERS = ["connection", "keep-alive", "transfer-encoding", "x-origin-secret"];

/** Headers to send upstream: the client's minus anything that could forge trust, plus the secret. */
export function forwardHeaders(request, requestId, settings) {
  const headers = new Headers(request.headers);
  for (const name of DROPPED_REQUEST_HEADERS) headers.delete(name);
  headers.set(ORIGIN_SECRET_HEADER, settings.originSecret);
  const url = new URL(request.url);
  headers.set("X-Forwarded-For", clientIp(request));
  headers.set("X-Forwarded-Host", url.host);
  headers.set("X-Forwarded-Proto", url.protocol.replace(":", ""));
  headers.set(REQUEST_ID_HEADER, requestId);
  return headers;
}

/** Minimal headers for the edge's own calls (auth checks, embeddings, health). */
export function edgeHeaders(requestId, settings, { authorization = null } = {}) {
  const headers = new Headers({ Accept: "application/json", [REQUEST_ID_HEADER]: requestId });
  headers.set(ORIGIN_SECRET_HEADER, settings.originSecret);
  if (authorization) headers.set("Authorization", authorization);
  return headers;
}

export function responseHeaders(upstream) {
  const headers = new Headers(upstream.headers);
  for (const name of DROPPED_RESPONSE_HEADERS) headers.delete(name);
  return headers;
}

/**
 * fetch() against the origin with a time-to-headers budget. The timer stops once
 * headers arrive, so long SSE streams are not cut off.
 */
export async function originFetch(settings, pathAndQuery, init = {}, timeoutMs = settings.originTimeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(`${settings.originUrl}${pathAndQuery}`, {
      ...init,
      redirect: "manual",
      // A caller's own signal (an upload cut off at its limit) also ends the request.
      signal: init.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal,
    });
  } catch (err) {
    if (controller.signal.aborted) {
      throw new HttpError(504, "origin_timeout", `Origin did not respond within ${timeoutMs} ms`);
    }
    throw new HttpError(502, "origin_unavailable", `Origin request failed: ${err?.message ?? err}`);
  } finally {
    clearTimeout(timer);
  }
}

const ORIGIN_RESPONSES = new WeakSet();

/** Re-emit an origin response (streaming its body untouched). */
export function passThrough(upstream) {
  const response = new Response(upstream.body, {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: responseHeaders(upstream),
  });
  ORIGIN_RESPONSES.add(response);
  return response;
}

/** Was this response produced by the origin (as opposed to the edge itself)? */
export function isFromOrigin(response) {
  return ORIGIN_RESPONSES.has(response);
}

/** Read a JSON body from the origin, turning garbage into a 502. */
export async function originJson(upstream, what) {
  try {
    return await upstream.json();
  } catch {
    throw new HttpError(502, "origin_bad_response", `Origin sent an unreadable ${what} response`);
  }
}
