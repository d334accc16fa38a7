// The local stand-in for Cloudflare's own edge, in front of workerd: what Cloudflare does to
// every request before a Worker sees it, and nothing else.
//
// Cloudflare sets CF-Connecting-IP to the address of the connection, whatever the client sent.
// workerd (Miniflare) keeps a client-sent CF-Connecting-IP, so locally anyone could rotate it
// and dodge the per-IP rate limit. This front drops every client-sent CF-* header, sets
// CF-Connecting-IP from the socket, and streams the request and response through untouched.
import http from "node:http";

function socketAddress(req) {
  const address = req.socket.remoteAddress ?? "";
  return address.startsWith("::ffff:") ? address.slice(7) : address; // IPv4-mapped IPv6
}

export function frontHeaders(req) {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.toLowerCase().startsWith("cf-")) headers[name] = value;
  }
  headers["cf-connecting-ip"] = socketAddress(req);
  return headers;
}

/** Listens on host:port and forwards to the Worker at `target` (a URL). Resolves the server. */
export function startFront(target, { host, port }) {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: frontHeaders(req),
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    forward.on("error", (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: { code: "edge_unavailable", message: String(err.message) } }));
      } else {
        res.destroy(err);
      }
    });
    res.on("close", () => forward.destroy());
    req.pipe(forward);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
