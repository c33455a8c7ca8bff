import type { Config } from '../config/schema.js';
import { fetchHealth, routerUrl } from './router-client.js';

/**
 * Warnings about the router after a change to the policy: a change is
 * committed either way, but nothing routes by it, and nothing retires
 * drained processes, while the router is down. Each warning is also told
 * to `warn` (stderr); the list goes in the --json result.
 */
export async function routerWarnings(config: Config, warn: (message: string) => void): Promise<string[]> {
  const url = routerUrl(config);
  const health = await fetchHealth(url);
  const warnings: string[] = [];
  if (health === undefined) {
    warnings.push(`the router is not answering at ${url}: terminals are not routed by this change, and drained versions are not retired, until it runs (\`switchyard router start\`)`);
  }
  for (const w of warnings) warn(w);
  return warnings;
}
