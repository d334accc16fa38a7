// Request size limits. Bodies are read with a byte budget so a missing or lying
// Content-Length can't make the edge buffer more than MAX_BODY_BYTES.
import { HttpError } from "./errors.js";

function tooLarge(limit) {
  return new HttpError(413, "payload_too_large", `Request body exceeds ${limit} bytes`);
}

/** Reject early on a declared Content-Length over the limit. */
export function checkDeclaredLength(request, limit) {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
}

/** Read the whole body (or null when there is none), failing once it passes `limit` bytes. */
export async function readBodyLimited(request, limit) {
  checkDeclaredLength(request, limit);
  if (!request.body) return null;
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export async function readJsonLimited(request, limit) {
  const bytes = await readBodyLimited(request, limit);
  if (!bytes || bytes.byteLength === 0) throw new HttpError(400, "invalid_json", "Request body must be JSON");
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new HttpError(400, "invalid_json", "Request body is not valid JSON");
  }
}
