// One request id per request, shared with the origin so logs on both sides join up.

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = "X-Request-ID";

/** Keep a well-formed client id (useful for tracing); replace anything else. */
export function requestIdFor(request) {
  const supplied = request.headers.get(REQUEST_ID_HEADER);
  return supplied && SAFE_ID.test(supplied) ? supplied : crypto.randomUUID();
}
