// LOCAL TOPOLOGY ONLY. Locally the API writes uploads to an S3-compatible server
// (moto) through presigned URLs, while this Worker serves from Miniflare's R2. When
// LOCAL_R2_BACKFILL_S3_ENDPOINT is set (scripts/dev.mjs sets it; production never
// does) an R2 miss copies the object from that server into R2 once, and the normal
// R2 code path (get with range/onlyIf) then serves it.

export async function backfillFromLocalS3(settings, bindingName, bucket, key) {
  if (!settings.localR2BackfillEndpoint) return false;
  const bucketName = settings.localR2BackfillBuckets[bindingName];
  if (!bucketName) return false;
  const path = key.split("/").map(encodeURIComponent).join("/");
  const upstream = await fetch(`${settings.localR2BackfillEndpoint}/${encodeURIComponent(bucketName)}/${path}`);
  if (!upstream.ok) {
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
