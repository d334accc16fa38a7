// The API's error shape, so clients see one format whether the edge or the origin answered.

export class HttpError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function errorResponse(status, code, message, requestId, headers = {}) {
  return new Response(JSON.stringify({ error: { code, message, request_id: requestId } }), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function httpErrorResponse(err, requestId) {
  return errorResponse(err.status, err.code, err.message, requestId, err.headers);
}
