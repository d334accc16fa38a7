// bindings.json -> Miniflare options and a wrangler config. The manifest is the only
// place binding names live; nothing here spells a binding name by hand.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const WORKER_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = resolve(WORKER_DIR, "..");

export function loadManifest(path = resolve(WORKER_DIR, "bindings.json")) {
  return JSON.parse(readFileSync(path, "utf8"));
}

const withoutComments = (obj) => Object.fromEntries(Object.entries(obj).filter(([k]) => !k.startsWith("$")));

/** Vars for a run: production vars, then dev overrides (when local), then explicit overrides. */
export function resolveVars(manifest, { local = false, overrides = {} } = {}) {
  return {
    ...withoutComments(manifest.vars),
    ...(local ? withoutComments(manifest.dev_vars ?? {}) : {}),
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  };
}

/**
 * Miniflare options for the bundled Worker.
 * - vars/secrets become plain bindings (workerd has no separate secret store locally);
 * - the rate-limit binding's limit comes from its limit_var, so one setting drives it;
 * - Analytics Engine datasets use Miniflare's local simulator (writes are accepted and dropped);
 * - `aiUpstream` (URL) wires the AI binding to workerd's real Workers AI client, whose
 *   HTTP calls then reach that URL (tests use it; `make up` leaves AI unbound).
 */
export function miniflareOptions(manifest, { scriptPath, vars, secrets = {}, persistRoot = null, aiUpstream = null }) {
  const ratelimits = {};
  for (const rl of manifest.ratelimits ?? []) {
    const limit = Number(vars[rl.limit_var]);
    if (limit > 0) ratelimits[rl.binding] = { simple: { limit, period: rl.period } };
  }
  const missing = manifest.secrets.filter((name) => !secrets[name]);
  if (missing.length) throw new Error(`missing secrets: ${missing.join(", ")}`);
  return {
    name: manifest.worker_name,
    modules: true,
    scriptPath,
    modulesRoot: dirname(scriptPath),
    compatibilityDate: manifest.compatibility_date,
    bindings: { ...vars, ...secrets },
    kvNamespaces: manifest.kv_namespaces.map((kv) => kv.binding),
    r2Buckets: manifest.r2_buckets.map((r2) => r2.binding),
    ratelimits,
    analyticsEngineDatasets: Object.fromEntries(
      (manifest.analytics_engine_datasets ?? []).map((ds) => [ds.binding, { dataset: ds.dataset }]),
    ),
    ...(aiUpstream ? { ai: { binding: manifest.ai.binding, remoteProxyConnectionString: new URL(aiUpstream) } } : {}),
    ...(persistRoot ? { kvPersist: resolve(persistRoot, "kv"), r2Persist: resolve(persistRoot, "r2") } : {}),
  };
}

/** wrangler.json for teams deploying with wrangler; Pulumi reads bindings.json directly. */
export function wranglerConfig(manifest) {
  const vars = withoutComments(manifest.vars);
  return {
    $comment: "GENERATED from bindings.json by scripts/gen-wrangler-config.mjs; do not edit.",
    name: manifest.worker_name,
    main: manifest.bundle,
    compatibility_date: manifest.compatibility_date,
    kv_namespaces: manifest.kv_namespaces.map((kv) => ({ binding: kv.binding, id: `<${kv.title}-id>` })),
    r2_buckets: manifest.r2_buckets.map((r2) => ({ binding: r2.binding, bucket_name: r2.bucket_name })),
    ai: { binding: manifest.ai.binding },
    ratelimits: (manifest.ratelimits ?? []).map((rl) => ({
      name: rl.binding,
      namespace_id: rl.namespace_id,
      simple: { limit: Number(vars[rl.limit_var]), period: rl.period },
    })),
    analytics_engine_datasets: (manifest.analytics_engine_datasets ?? []).map((ds) => ({ binding: ds.binding, dataset: ds.dataset })),
    vars,
  };
}
