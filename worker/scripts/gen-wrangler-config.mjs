// Writes worker/wrangler.json from bindings.json (a test checks it is in sync).
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { WORKER_DIR, loadManifest, wranglerConfig } from "./manifest.mjs";

const target = resolve(WORKER_DIR, "wrangler.json");
writeFileSync(target, `${JSON.stringify(wranglerConfig(loadManifest()), null, 2)}\n`);
console.log(target);
