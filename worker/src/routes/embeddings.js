// POST /api/embeddings/generate: a cached embedding for authenticated callers.
// The origin decides who is authenticated (caller.js); nothing about the caller is
// cached, only the embedding, which is the same for every user.
import { readJsonLimited } from "../body.js";
import { requireCaller } from "../caller.js";
import { HttpError } from "../errors.js";
import { MAX_EMBED_TEXT_CHARS, cachedEmbedding } from "../embeddings.js";

export async function generateEmbedding(request, env, settings, requestId, ctx, obs) {
  const denied = await requireCaller(request, settings, requestId);
  if (denied) return denied;
  const payload = await readJsonLimited(request, settings.maxBodyBytes);
  const text = payload?.text;
  if (typeof text !== "string" || !text.trim()) {
    throw new HttpError(400, "validation_error", "Field 'text' must be a non-empty string");
  }
  if (text.length > MAX_EMBED_TEXT_CHARS) {
    throw new HttpError(400, "validation_error", `Field 'text' is longer than ${MAX_EMBED_TEXT_CHARS} characters`);
  }
  const result = await cachedEmbedding(env, settings, text, requestId, ctx);
  obs.cache = result.cached ? "hit" : "miss";
  return Response.json(
    { model: result.model, dimensions: result.dimensions, embedding: result.embedding, cached: result.cached },
    { headers: { "Cache-Control": "no-store" } },
  );
}
