// LOCAL TOPOLOGY ONLY. Locally the API writes uploads to an S3-compatible server
// (moto) through presigned URLs, while this Worker serves from Miniflare's R2. When
// LOCAL_R2_BACKFILL_S3_ENDPOINT is set (scripts/dev.mjs sets it; production never
// does) an R2 miss copies the object from that server into R2 once, and the normal
// R2 code path (get with range/onlyIf) then serves it. Requests are SigV4-signed
// (aws4fetch) because the S3 server refuses anonymous reads, as S3 does.
import { AwsClient } from "aws4fetch";

export async function backfillFromLocalS3(settings, bindingName, bucket, key) {
  const s3 = settings.localS3;
  if (!s3.endpoint) return false;
  const bucketName = s3.buckets[bindingName];
  if (!bucketName) return false;
  const client = new AwsClient({
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    service: "s3",
    region: s3.region,
    retries: 0,
  });
  const path = key.split("/").map(encodeURIComponent).join("/");
  const upstream = await client.fetch(`${s3.endpoint}/${encodeURIComponent(bucketName)}/${path}`);
  if (!upstream.ok) {
    console.warn(`local R2 backfill: ${bucketName}/${key} -> S3 ${upstream.status}`);
    await upstream.body?.cancel();
    return false;
  }
  const bytes = await upstream.arrayBuffer();
  await bucket.put(key, bytes, {
    httpMetadata: { contentType: upstream.headers.get("Content-Type") || "application/octet-stream" },
  });
  console.log(`local R2 backfill: copied ${bucketName}/${key} (${bytes.byteLength} bytes)`);
  return true;
}
