// POST /api/chat/query: attach the (cached) query embedding, forward, and stream the
// origin's SSE back as it arrives (no buffering). The origin trusts an embedding only on a
// request carrying the shared secret, which every edge request does, so the client's own
// embedding fields are always removed here.
import { checkDeclaredLength, readJsonLimited } from "../body.js";
import { checkCaller } from "../caller.js";
import { MAX_EMBED_TEXT_CHARS, cachedEmbedding } from "../embeddings.js";
import { forwardHeaders, originFetch, passThrough } from "../origin.js";

// Fields only the edge may set; anything a client sends under these names is dropped.
const EDGE_OWNED_FIELDS = ["query_embedding", "embedding_model"];

export async function chatQuery(request, env, settings, requestId, ctx, obs) {
  // An anonymous or forged token must not cost an embedding and a KV write: a 401 ends here.
  // Any other answer (the origin doesn't recognise this edge, the account is disabled) only
  // skips the edge embedding; the origin then rules on the forwarded request itself.
  checkDeclaredLength(request, settings.maxBodyBytes); // an oversized body is refused first
  const caller = await checkCaller(request, settings, requestId);
  if (caller.status === 401) return caller.response;
  if (!caller.verified) await caller.response.body?.cancel();
  const payload = await readJsonLimited(request, settings.maxBodyBytes);
  const body = payload && typeof payload === "object" && !Array.isArray(payload) ? { ...payload } : payload;
  const headers = forwardHeaders(request, requestId, settings);
  headers.set("Content-Type", "application/json");
  // Compressed SSE tends to be buffered by the compressor; ask for the raw stream.
  headers.set("Accept-Encoding", "identity");

  if (body && typeof body === "object" && !Array.isArray(body)) {
    for (const field of EDGE_OWNED_FIELDS) delete body[field];
    // Over-long queries are left for the origin to validate and embed.
    if (caller.verified && typeof body.query === "string" && body.query.trim() && body.query.length <= MAX_EMBED_TEXT_CHARS) {
      try {
        const embedded = await cachedEmbedding(env, settings, body.query, requestId, ctx);
        body.query_embedding = embedded.embedding;
        body.embedding_model = embedded.model;
        headers.set("X-Edge-Embedding-Cache", embedded.cached ? "hit" : "miss");
        obs.cache = embedded.cached ? "hit" : "miss";
      } catch (err) {
        // Degrade: the origin can embed the query itself.
        obs.cache = "error";
        console.warn(`query embedding failed, forwarding without it: ${err?.message ?? err}`);
      }
    }
  }
  // Validation of the rest of the payload is the origin's job (one schema, one place).
  const upstream = await originFetch(settings, "/api/chat/query", {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const response = passThrough(upstream);
  if ((upstream.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    response.headers.set("Cache-Control", "no-cache, no-transform");
    response.headers.set("X-Accel-Buffering", "no");
  }
  return response;
}
