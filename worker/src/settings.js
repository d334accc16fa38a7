// Typed view of the Worker's vars and secrets. Names come from bindings.json; this
// module turns the strings Cloudflare hands us into numbers/lists once per request.
import manifest from "../bindings.json";

export const EMBEDDING_MODES = Object.freeze(["workers-ai", "origin"]);

export class ConfigError extends Error {}

function positiveInt(raw, name, fallback) {
  if (raw === undefined || raw === null || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function csv(raw) {
  return String(raw ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

function jsonObject(raw, name) {
  if (!raw) return {};
  try {
    const value = JSON.parse(raw);
    if (value && typeof value === "object" && !Array.isArray(value)) return value;
  } catch {
    // fall through
  }
  throw new ConfigError(`${name} must be a JSON object`);
}

/** R2 binding name -> bucket name, as declared in the manifest. */
export const R2_BUCKETS = Object.freeze(
  Object.fromEntries(manifest.r2_buckets.map((b) => [b.binding, b.bucket_name])),
);

export const RATE_LIMIT_BINDING = manifest.ratelimits[0].binding;
export const RATE_LIMIT_PERIOD_SECONDS = manifest.ratelimits[0].period;
export const EMBEDDING_CACHE_BINDING = "EMBEDDING_CACHE";
export const AI_BINDING = manifest.ai.binding;

export function loadSettings(env) {
  const originUrl = String(env.ORIGIN_URL ?? "").replace(/\/+$/, "");
  if (!/^https?:\/\//.test(originUrl)) throw new ConfigError("ORIGIN_URL must be an http(s) URL");
  const embeddingMode = env.EMBEDDING_MODE || "workers-ai";
  if (!EMBEDDING_MODES.includes(embeddingMode)) {
    throw new ConfigError(`EMBEDDING_MODE must be one of ${EMBEDDING_MODES.join(", ")}`);
  }
  if (!env.ORIGIN_SHARED_SECRET) throw new ConfigError("ORIGIN_SHARED_SECRET is not set");
  const healthPath = env.ORIGIN_HEALTH_PATH || "/api/ready";
  return Object.freeze({
    originUrl,
    originSecret: env.ORIGIN_SHARED_SECRET,
    originTimeoutMs: positiveInt(env.ORIGIN_TIMEOUT_MS, "ORIGIN_TIMEOUT_MS", 30000),
    originHealthPath: healthPath.startsWith("/") ? healthPath : `/${healthPath}`,
    allowedOrigins: csv(env.ALLOWED_ORIGINS),
    rateLimitPerMinute: positiveInt(env.RATE_LIMIT_PER_MINUTE, "RATE_LIMIT_PER_MINUTE", 100),
    maxBodyBytes: positiveInt(env.MAX_BODY_BYTES, "MAX_BODY_BYTES", 1048576),
    // POST /api/v1/upload only: the origin's audio limit (50 MiB) plus multipart framing.
    uploadMaxBodyBytes: positiveInt(env.UPLOAD_MAX_BODY_BYTES, "UPLOAD_MAX_BODY_BYTES", 52494336),
    // Time to the origin's headers on an upload: it answers once the whole body has arrived.
    uploadTimeoutMs: positiveInt(env.UPLOAD_TIMEOUT_MS, "UPLOAD_TIMEOUT_MS", 300000),
    embeddingMode,
    embeddingModel: env.EMBEDDING_MODEL || "@cf/baai/bge-base-en-v1.5",
    // Local topology only (see local-r2-backfill.js); unset in production.
    localS3: {
      endpoint: String(env.LOCAL_R2_BACKFILL_S3_ENDPOINT ?? "").replace(/\/+$/, ""),
      region: env.LOCAL_S3_REGION || "us-east-1",
      accessKeyId: env.LOCAL_S3_ACCESS_KEY_ID || "local",
      secretAccessKey: env.LOCAL_S3_SECRET_ACCESS_KEY || "local",
      buckets: { ...R2_BUCKETS, ...jsonObject(env.LOCAL_R2_BACKFILL_BUCKETS, "LOCAL_R2_BACKFILL_BUCKETS") },
    },
  });
}
