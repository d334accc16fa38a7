// GET|HEAD /api/projects/{id}/stream: the origin authorises the caller and names the
// object; the bytes come straight from R2 with Range, ETag and If-None-Match support.
import { HttpError } from "../errors.js";
import { parseRange, servedSpan } from "../byte-range.js";
import { backfillFromLocalS3 } from "../local-r2-backfill.js";
import { edgeHeaders, originFetch, originJson, passThrough } from "../origin.js";
import { R2_BUCKETS } from "../settings.js";

export const STREAM_PATH = /^\/api\/projects\/([A-Za-z0-9_-]{1,128})\/stream$/;
const CACHE_CONTROL = "private, max-age=0, must-revalidate";
const R2_INVALID_RANGE = "10039";

async function authorise(request, settings, requestId, projectId) {
  const upstream = await originFetch(settings, `/api/projects/${encodeURIComponent(projectId)}/stream-authorization`, {
    method: "GET",
    headers: edgeHeaders(requestId, settings, { authorization: request.headers.get("Authorization") }),
  });
  if (!upstream.ok) return { denied: passThrough(upstream) };
  const grant = await originJson(upstream, "stream-authorization");
  if (!grant || !Object.hasOwn(R2_BUCKETS, grant.bucket_binding) || typeof grant.key !== "string" || !grant.key) {
    throw new HttpError(502, "origin_bad_response", "Origin stream authorisation is malformed");
  }
  return { grant };
}

function contentDisposition(filename) {
  const name = typeof filename === "string" && filename ? filename : "document.pdf";
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `inline; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function objectHeaders(object, grant) {
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  if (grant.content_type) headers.set("Content-Type", grant.content_type);
  headers.set("ETag", object.httpEtag);
  headers.set("Last-Modified", object.uploaded.toUTCString());
  headers.set("Accept-Ranges", "bytes");
  headers.set("Cache-Control", CACHE_CONTROL);
  headers.set("Content-Disposition", contentDisposition(grant.filename));
  return headers;
}

async function getObject(bucket, key, request, range) {
  try {
    return await bucket.get(key, { onlyIf: request.headers, ...(range ? { range } : {}) });
  } catch (err) {
    if (String(err?.message ?? "").includes(R2_INVALID_RANGE)) return { unsatisfiable: true };
    throw err;
  }
}

async function rangeNotSatisfiable(bucket, key, grant) {
  const head = await bucket.head(key);
  const headers = head ? objectHeaders(head, grant) : new Headers({ "Cache-Control": CACHE_CONTROL });
  if (head) headers.set("Content-Range", `bytes */${head.size}`);
  headers.set("Content-Type", "application/json");
  return { status: 416, headers };
}

export async function streamProject(request, env, settings, requestId, projectId) {
  const { denied, grant } = await authorise(request, settings, requestId, projectId);
  if (denied) return denied;
  const bucket = env[grant.bucket_binding];
  if (!bucket) throw new HttpError(503, "storage_unavailable", `R2 binding ${grant.bucket_binding} is missing`);

  const range = parseRange(request.headers.get("Range"));
  if (range?.unsatisfiable) {
    const { status, headers } = await rangeNotSatisfiable(bucket, grant.key, grant);
    return errorBody(status, headers, requestId);
  }
  let object = await getObject(bucket, grant.key, request, range);
  if (object === null && (await backfillFromLocalS3(settings, grant.bucket_binding, bucket, grant.key))) {
    object = await getObject(bucket, grant.key, request, range);
  }
  if (object === null) throw new HttpError(404, "object_not_found", "The project's file is not in storage");
  if (object.unsatisfiable) {
    const { status, headers } = await rangeNotSatisfiable(bucket, grant.key, grant);
    return errorBody(status, headers, requestId);
  }

  const headers = objectHeaders(object, grant);
  if (!("body" in object) || !object.body) {
    // A precondition failed: If-None-Match/If-Modified-Since -> 304, If-Match/If-Unmodified-Since -> 412.
    const notModified = request.headers.has("If-None-Match") || request.headers.has("If-Modified-Since");
    if (notModified) return new Response(null, { status: 304, headers });
    headers.set("Content-Type", "application/json");
    return errorBody(412, headers, requestId, "precondition_failed", "A precondition on the object failed");
  }
  const { first, last } = servedSpan(range ? object.range : null, object.size);
  headers.set("Content-Length", String(last - first + 1));
  const body = request.method === "HEAD" ? null : object.body;
  if (request.method === "HEAD") await object.body.cancel();
  if (!range) return new Response(body, { status: 200, headers });
  headers.set("Content-Range", `bytes ${first}-${last}/${object.size}`);
  return new Response(body, { status: 206, headers });
}

function errorBody(status, headers, requestId, code = "range_not_satisfiable", message = "Requested range is not satisfiable") {
  return new Response(JSON.stringify({ error: { code, message, request_id: requestId } }), { status, headers });
}
