// GET /api/projects/{id}/stream: origin authorisation, then bytes from R2 with Range,
// ETag / If-None-Match and private caching; plus the local S3 -> R2 backfill adapter.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { AwsClient } from "aws4fetch";
import { REPO_ROOT } from "../scripts/manifest.mjs";
import { GOOD_TOKEN, SECRET, raw, startOrigin, startServer, startWorker, waitFor } from "./support/harness.mjs";

const KEY = "projects/u1/p1/score.pdf";
const PDF = Buffer.concat([Buffer.from("%PDF-1.7\n"), randomBytes(200_000), Buffer.from("\n%%EOF\n")]);
const auth = (extra = {}) => ({ headers: { Authorization: GOOD_TOKEN, ...extra } });
const bytes = async (res) => Buffer.from(await res.arrayBuffer());

describe("project streaming from R2", () => {
  let origin, edge;
  before(async () => {
    origin = await startOrigin();
    edge = await startWorker({ originUrl: origin.url });
    const bucket = await edge.mf.getR2Bucket("PDF_BUCKET");
    await bucket.put(KEY, new Uint8Array(PDF).buffer, { httpMetadata: { contentType: "application/pdf" } });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });

  test("full object: byte-identical, ETag, private caching, inline filename", async () => {
    const res = await edge.fetch("/api/projects/p1/stream", auth());
    assert.equal(res.status, 200);
    assert.ok((await bytes(res)).equals(PDF));
    assert.equal(res.headers.get("Content-Type"), "application/pdf");
    assert.equal(res.headers.get("Content-Length"), String(PDF.length));
    assert.match(res.headers.get("ETag"), /^"[0-9a-f]+"$/);
    assert.match(res.headers.get("Cache-Control"), /^private/);
    assert.equal(res.headers.get("Accept-Ranges"), "bytes");
    assert.match(res.headers.get("Content-Disposition"), /^inline; filename="score.pdf"/);
    const authCall = origin.requests.find((r) => r.url === "/api/projects/p1/stream-authorization");
    assert.equal(authCall.headers["x-origin-secret"], SECRET);
    assert.equal(authCall.headers.authorization, GOOD_TOKEN);
  });

  test("Range requests answer 206 with the exact bytes", async () => {
    const cases = [
      ["bytes=0-99", 0, 99],
      ["bytes=1000-", 1000, PDF.length - 1],
      ["bytes=-50", PDF.length - 50, PDF.length - 1],
      [`bytes=${PDF.length - 10}-${PDF.length + 500}`, PDF.length - 10, PDF.length - 1],
    ];
    for (const [range, first, last] of cases) {
      const res = await edge.fetch("/api/projects/p1/stream", auth({ Range: range }));
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get("Content-Range"), `bytes ${first}-${last}/${PDF.length}`, range);
      assert.equal(res.headers.get("Content-Length"), String(last - first + 1), range);
      assert.ok((await bytes(res)).equals(PDF.subarray(first, last + 1)), range);
    }
  });

  test("unsatisfiable ranges are 416 with the size; malformed or multi-ranges get the whole file", async () => {
    const res = await edge.fetch("/api/projects/p1/stream", auth({ Range: `bytes=${PDF.length}-` }));
    assert.equal(res.status, 416);
    assert.equal(res.headers.get("Content-Range"), `bytes */${PDF.length}`);
    assert.equal((await res.json()).error.code, "range_not_satisfiable");
    for (const range of ["bytes=0-1,5-9", "pages=1-2", "bytes=9-3"]) {
      const whole = await edge.fetch("/api/projects/p1/stream", auth({ Range: range }));
      assert.equal(whole.status, 200, range);
      assert.equal((await bytes(whole)).length, PDF.length, range);
    }
  });

  test("If-None-Match: 304 on a match (after authorisation), 200 otherwise", async () => {
    const full = await edge.fetch("/api/projects/p1/stream", auth());
    await full.arrayBuffer();
    const etag = full.headers.get("ETag");
    const cached = await edge.fetch("/api/projects/p1/stream", auth({ "If-None-Match": etag }));
    assert.equal(cached.status, 304);
    assert.equal(cached.headers.get("ETag"), etag);
    assert.match(cached.headers.get("Cache-Control"), /^private/);
    assert.equal((await cached.arrayBuffer()).byteLength, 0);
    const stale = await edge.fetch("/api/projects/p1/stream", auth({ "If-None-Match": '"other"' }));
    assert.equal(stale.status, 200);
    await stale.arrayBuffer();
    const denied = await edge.fetch("/api/projects/p1/stream", { headers: { "If-None-Match": etag } });
    assert.equal(denied.status, 401, "a cached copy is no way around authorisation");
    await denied.arrayBuffer();
    const failed = await edge.fetch("/api/projects/p1/stream", auth({ "If-Match": '"other"' }));
    assert.equal(failed.status, 412);
    assert.equal((await failed.json()).error.code, "precondition_failed");
  });

  test("HEAD returns headers only", async () => {
    const res = await edge.fetch("/api/projects/p1/stream", { method: "HEAD", ...auth() });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("ETag"), /^"/);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test("origin refusals pass through in the error shape; nothing is read from R2", async () => {
    const anon = await edge.fetch("/api/projects/p1/stream");
    assert.equal(anon.status, 401);
    assert.equal((await anon.json()).error.code, "not_authenticated");
    const missing = await edge.fetch("/api/projects/nope/stream", auth());
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "project_not_found");
  });

  test("an authorised key that is not in R2 is a 404 in the error shape", async () => {
    origin.grants.set("ghost", { bucket_binding: "PDF_BUCKET", key: "projects/u1/ghost/x.pdf", filename: "x.pdf", content_type: "application/pdf" });
    const res = await edge.fetch("/api/projects/ghost/stream", auth());
    assert.equal(res.status, 404);
    const body = await res.json();
    assert.equal(body.error.code, "object_not_found");
    assert.equal(body.error.request_id, res.headers.get("X-Request-ID"));
  });

  test("a grant naming an undeclared binding is rejected as a bad origin response", async () => {
    origin.grants.set("weird", { bucket_binding: "SOMETHING_ELSE", key: "k" });
    const res = await edge.fetch("/api/projects/weird/stream", auth());
    assert.equal(res.status, 502);
    assert.equal((await res.json()).error.code, "origin_bad_response");
  });
});

describe("local R2 backfill from the API's S3 server", () => {
  test("an R2 miss copies the object once, then R2 serves it (ranges included)", async () => {
    const s3Gets = [];
    const s3 = await startServer((req, res) => {
      s3Gets.push(req.url);
      if (!/^AWS4-HMAC-SHA256 Credential=local\//.test(req.headers.authorization ?? "")) {
        return raw(res, 403, "<Error><Code>AccessDenied</Code></Error>", { "Content-Type": "application/xml" });
      }
      if (req.url === `/piano-pdfs/${KEY}`) {
        res.writeHead(200, { "Content-Type": "application/pdf", "Content-Length": PDF.length });
        return res.end(PDF);
      }
      raw(res, 404, "<Error><Code>NoSuchKey</Code></Error>", { "Content-Type": "application/xml" });
    });
    const origin = await startOrigin();
    const edge = await startWorker({ originUrl: origin.url, local: true, vars: { LOCAL_R2_BACKFILL_S3_ENDPOINT: s3.url } });
    try {
      const first = await edge.fetch("/api/projects/p1/stream", auth());
      assert.equal(first.status, 200);
      assert.ok((await bytes(first)).equals(PDF));
      const part = await edge.fetch("/api/projects/p1/stream", auth({ Range: "bytes=0-8" }));
      assert.equal(part.status, 206);
      assert.equal((await bytes(part)).toString(), "%PDF-1.7\n");
      assert.equal(s3Gets.length, 1, "second read comes from R2");
      const stored = await (await edge.mf.getR2Bucket("PDF_BUCKET")).head(KEY);
      assert.equal(stored.size, PDF.length);
      origin.grants.set("gone", { bucket_binding: "PDF_BUCKET", key: "projects/u1/gone/x.pdf" });
      const gone = await edge.fetch("/api/projects/gone/stream", auth());
      assert.equal(gone.status, 404);
      await gone.arrayBuffer();
    } finally {
      await edge.close();
      await Promise.all([origin.close(), s3.close()]);
    }
  });
});


describe("local R2 backfill against the real S3 server the API uses (moto)", () => {
  const motoServer = process.env.MOTO_SERVER || resolve(REPO_ROOT, ".venv/bin/moto_server");
  test("an object uploaded through a presigned PUT streams back byte-identical", { skip: !existsSync(motoServer) && `no ${motoServer} (run make install)` }, async () => {
    const port = await freePort();
    const moto = spawn(motoServer, ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    const endpoint = `http://127.0.0.1:${port}`;
    const origin = await startOrigin();
    let edge;
    try {
      await waitFor(() => fetch(`${endpoint}/`).then(() => true, () => false), { timeoutMs: 20000, stepMs: 200 });
      const aws = new AwsClient({ accessKeyId: "local", secretAccessKey: "local", service: "s3", region: "us-east-1", retries: 0 });
      assert.equal((await aws.fetch(`${endpoint}/piano-pdfs`, { method: "PUT" })).status, 200);
      // What a browser does with the API's presigned URL: a plain PUT, no credentials.
      const presigned = await aws.sign(`${endpoint}/piano-pdfs/${KEY}`, { method: "PUT", headers: { "Content-Type": "application/pdf" }, aws: { signQuery: true } });
      const put = await fetch(presigned.url, { method: "PUT", headers: { "Content-Type": "application/pdf" }, body: PDF });
      assert.equal(put.status, 200);
      assert.equal((await fetch(`${endpoint}/piano-pdfs/${KEY}`)).status, 403, "moto refuses anonymous reads");
      edge = await startWorker({ originUrl: origin.url, local: true, vars: { LOCAL_R2_BACKFILL_S3_ENDPOINT: endpoint } });
      const res = await edge.fetch("/api/projects/p1/stream", auth());
      assert.equal(res.status, 200);
      assert.ok((await bytes(res)).equals(PDF));
      const tail = await edge.fetch("/api/projects/p1/stream", auth({ Range: "bytes=-7" }));
      assert.equal(tail.status, 206);
      assert.equal((await bytes(tail)).toString(), "\n%%EOF\n");
    } finally {
      await edge?.close();
      await origin.close();
      moto.kill("SIGTERM");
    }
  });
});

function freePort() {
  return new Promise((resolvePort) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}
