// Bundle src/ into the single ES module that is deployed (and tested).
import { build } from "esbuild";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { WORKER_DIR, loadManifest } from "./manifest.mjs";

export async function buildWorker({ outfile } = {}) {
  const manifest = loadManifest();
  const target = outfile ?? resolve(WORKER_DIR, manifest.bundle);
  await build({
    entryPoints: [resolve(WORKER_DIR, manifest.main_module)],
    outfile: target,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    logLevel: "warning",
  });
  return target;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(await buildWorker());
}
