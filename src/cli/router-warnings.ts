import type { Config } from '../config/schema.js';
import { askRouters, failoverMessages, routerUrls } from './router-client.js';

/**
 * Warnings about the router after a change to the policy: a change is
 * committed either way, but nothing routes by it, and nothing retires
 * drained processes, while the router is down. Each warning is also told
 * to `warn` (stderr); the list goes in the --json result.
 */
export async function routerWarnings(config: Config, warn: (message: string) => void): Promise<string[]> {
  const urls = routerUrls(config);
  const asked = await askRouters(urls, '/healthz', undefined, 1000);
  // A failover is reported, never hidden: one warning per router that failed.
  const warnings: string[] = failoverMessages(asked.failovers);
  if (asked.body === undefined) {
    warnings.push(`the router is not answering at ${urls.join(', ')}: terminals are not routed by this change, and drained versions are not retired, until it runs (\`switchyard router start\`)`);
  }
  for (const w of warnings) warn(w);
  return warnings;
}
