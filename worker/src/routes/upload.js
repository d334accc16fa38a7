// POST /api/v1/upload: a practice recording (multipart/form-data, up to 50 MB) streamed to the
// origin as it arrives, never buffered here. The JSON routes' MAX_BODY_BYTES (1 MiB) doesn't
// apply; UPLOAD_MAX_BODY_BYTES does: refused before the body on a declared Content-Length,
// counted while a chunked body streams. The origin does everything else (auth, the audio's
// format, size, hash and decoding) and stores the file in R2; its answer, including a 413 it
// sends before the body has finished, comes back unchanged.
import { HttpError } from "../errors.js";
import { forwardHeaders, originFetch, passThrough } from "../origin.js";

export const UPLOAD_PATH = "/api/v1/upload";

function tooLarge(limit) {
  return new HttpError(413, "file_too_large", `The upload is larger than ${limit} bytes`);
}

/**
 * Passes bytes through; once past `limit` it aborts the origin request. (Erroring the stream
 * is not enough: the origin would see a body that simply ended.)
 */
function counted(body, limit, abort) {
  let total = 0;
  return body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        total += chunk.byteLength;
        if (total > limit) {
          abort.abort();
          controller.error(tooLarge(limit));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

export async function streamUpload(request, settings, requestId) {
  const limit = settings.uploadMaxBodyBytes;
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const cutOff = new AbortController();
  // A declared length has been checked, and workerd holds the client to it: that body goes on
  // as it is, length included. A chunked one is counted on the way.
  let body = null;
  if (request.body) body = declared !== null ? request.body : counted(request.body, limit, cutOff);
  const url = new URL(request.url);
  try {
    const upstream = await originFetch(
      settings,
      `${url.pathname}${url.search}`,
      { method: "POST", headers: forwardHeaders(request, requestId, settings), body, signal: cutOff.signal },
      settings.uploadTimeoutMs,
    );
    return passThrough(upstream);
  } catch (err) {
    if (cutOff.signal.aborted) throw tooLarge(limit);
    throw err;
  }
}
