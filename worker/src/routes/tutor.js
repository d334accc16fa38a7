// POST /api/v1/chat: the practice tutor's answer stream. An anonymous or forged token ends here
// (it would cost the origin a session write and tool calls); everything else is the origin's
// to validate, and its SSE is passed back as it arrives, unbuffered and uncompressed.
import { checkDeclaredLength, readBodyLimited } from "../body.js";
import { checkCaller } from "../caller.js";
import { forwardHeaders, originFetch, passThrough } from "../origin.js";

export const TUTOR_PATH = "/api/v1/chat";

export async function tutorChat(request, settings, requestId) {
  checkDeclaredLength(request, settings.maxBodyBytes); // an oversized body is refused first
  const caller = await checkCaller(request, settings, requestId);
  if (caller.status === 401) return caller.response;
  if (!caller.verified) await caller.response.body?.cancel();
  const body = await readBodyLimited(request, settings.maxBodyBytes);
  const headers = forwardHeaders(request, requestId, settings);
  // Compressed SSE tends to be buffered by the compressor; ask for the raw stream.
  headers.set("Accept-Encoding", "identity");
  const upstream = await originFetch(settings, TUTOR_PATH, { method: "POST", headers, body });
  const response = passThrough(upstream);
  if ((upstream.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    response.headers.set("Cache-Control", "no-cache, no-transform");
    response.headers.set("X-Accel-Buffering", "no");
  }
  return response;
}
