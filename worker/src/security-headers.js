// Security headers on every edge response; a locked-down CSP for API (JSON/SSE/PDF) responses.

const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export function isApiPath(pathname) {
  return pathname === "/health" || pathname.startsWith("/api/");
}

export function applySecurityHeaders(headers, pathname) {
  headers.set("X-Content-Type-Options", "nosniff");
  headers.set("X-Frame-Options", "DENY");
  headers.set("Referrer-Policy", "strict-origin-when-cross-origin");
  headers.set("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
  if (isApiPath(pathname)) headers.set("Content-Security-Policy", API_CSP);
}
