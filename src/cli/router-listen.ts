import { listenAddress, type ListenAddress } from '../config/fields.js';
import type { LoadedConfig } from '../config/load.js';
import { usageError } from '../core/errors.js';

/**
 * `router run|start|stop --listen host:port`: one more router with the same
 * config on another address, under a PM2 name of its own (fleet/router-names.ts).
 */

export { isRouterPm2Name, listenText, ROUTER_PM2_NAME, routerPm2Name } from '../fleet/router-names.js';

/** The --listen value as an address; a bad one exits 2, saying what is expected. */
export function parseListenOption(value: unknown): ListenAddress {
  const parsed = listenAddress.safeParse(value);
  if (!parsed.success) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw usageError('invalid_listen', `--listen: found ${shown}, expected ${parsed.error.issues[0]?.message ?? 'host:port'}`);
  }
  return parsed.data;
}

/** The loaded config with router.listen set to --listen's address (unchanged without --listen). */
export function withListen(loaded: LoadedConfig, value: unknown): LoadedConfig {
  if (value === undefined) return loaded;
  const listen = parseListenOption(value);
  return { ...loaded, config: { ...loaded.config, router: { ...loaded.config.router, listen } } };
}
