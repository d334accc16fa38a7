// Query embeddings with a 24 h KV cache. Two embedders behind one interface:
//   "workers-ai": the production path, env.AI.run() (Workers AI binding);
//   "origin":     the explicitly named local adapter, POST /api/internal/embeddings on the
//                 origin, used where Workers AI can't be reached (local topology).
import { HttpError } from "./errors.js";
import { AI_BINDING, EMBEDDING_CACHE_BINDING } from "./settings.js";
import { edgeHeaders, originFetch, originJson } from "./origin.js";

export const EMBEDDING_CACHE_TTL_SECONDS = 24 * 60 * 60;
export const MAX_EMBED_TEXT_CHARS = 8192;

/** Same text -> same key: Unicode NFKC, trimmed, whitespace collapsed, lower-cased. */
export function normaliseText(text) {
  return text.normalize("NFKC").trim().replace(/\s+/g, " ").toLowerCase();
}

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function embeddingCacheKey(model, normalised) {
  return `embed:v1:${model}:${await sha256Hex(normalised)}`;
}

function checkVector(vector, what) {
  if (!Array.isArray(vector) || vector.length === 0 || !vector.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw new HttpError(502, "embedding_bad_response", `${what} returned an invalid embedding`);
  }
  return vector;
}

/** Production embedder: Workers AI text-embeddings output is {shape: [n, d], data: number[][]}. */
async function embedWithWorkersAi(env, settings, text) {
  const ai = env[AI_BINDING];
  if (!ai) throw new HttpError(503, "embedding_unavailable", "Workers AI binding is not configured");
  let output;
  try {
    output = await ai.run(settings.embeddingModel, { text: [text] });
  } catch (err) {
    throw new HttpError(502, "embedding_failed", `Workers AI failed: ${err?.message ?? err}`);
  }
  const vector = checkVector(output?.data?.[0], "Workers AI");
  const dimensions = Array.isArray(output.shape) ? output.shape[1] : vector.length;
  if (dimensions !== vector.length) {
    throw new HttpError(502, "embedding_bad_response", "Workers AI shape does not match its data");
  }
  return { model: settings.embeddingModel, dimensions, embedding: vector };
}

/** Local adapter: the origin's own embedder, trusted via the shared secret. */
async function embedWithOriginAdapter(settings, text, requestId) {
  const headers = edgeHeaders(requestId, settings);
  headers.set("Content-Type", "application/json");
  const upstream = await originFetch(settings, "/api/internal/embeddings", {
    method: "POST",
    headers,
    body: JSON.stringify({ texts: [text] }),
  });
  if (!upstream.ok) {
    await upstream.body?.cancel();
    throw new HttpError(502, "embedding_failed", `Origin embedder answered ${upstream.status}`);
  }
  const body = await originJson(upstream, "embedding");
  const vector = checkVector(body?.embeddings?.[0], "Origin embedder");
  if (typeof body.model !== "string" || (body.dimensions !== undefined && body.dimensions !== vector.length)) {
    throw new HttpError(502, "embedding_bad_response", "Origin embedder response is malformed");
  }
  return { model: body.model, dimensions: vector.length, embedding: vector };
}

/**
 * Embedding for `text`, from EMBEDDING_CACHE when present. Returns
 * {model, dimensions, embedding, cached}. Cache writes never fail the request.
 */
export async function cachedEmbedding(env, settings, text, requestId, ctx) {
  const normalised = normaliseText(text);
  if (!normalised) throw new HttpError(400, "validation_error", "Text to embed is empty");
  const key = await embeddingCacheKey(settings.embeddingModel, normalised);
  const cache = env[EMBEDDING_CACHE_BINDING];
  const hit = cache ? await cache.get(key, "json") : null;
  if (hit && Array.isArray(hit.embedding)) return { ...hit, cached: true };

  const fresh =
    settings.embeddingMode === "workers-ai"
      ? await embedWithWorkersAi(env, settings, normalised)
      : await embedWithOriginAdapter(settings, normalised, requestId);
  if (cache) {
    const write = cache
      .put(key, JSON.stringify(fresh), { expirationTtl: EMBEDDING_CACHE_TTL_SECONDS })
      .catch((err) => console.warn(`embedding cache write failed: ${err}`));
    if (ctx?.waitUntil) ctx.waitUntil(write);
    else await write;
  }
  return { ...fresh, cached: false };
}
