import { listenAddress, type ListenAddress } from '../config/fields.js';
import type { LoadedConfig } from '../config/load.js';
import { usageError } from '../core/errors.js';

/**
 * `router run|start|stop --listen host:port`: one more router with the same
 * config on another address. Each address has its own PM2 name, so several
 * routers of one project can run under one PM2 home: the config's own
 * address keeps `switchyard-router`, another port on the same host is
 * `switchyard-router-<port>`, another host `switchyard-router-<host>-<port>`.
 */

export const ROUTER_PM2_NAME = 'switchyard-router';

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

/** `host:port` as --listen takes it (IPv6 in brackets). */
export function listenText(listen: ListenAddress): string {
  return `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
}

/** The PM2 name of the router on `listen`, for a config whose own address is `configured`. */
export function routerPm2Name(configured: ListenAddress, listen: ListenAddress): string {
  if (listen.host === configured.host && listen.port === configured.port) return ROUTER_PM2_NAME;
  if (listen.host === configured.host) return `${ROUTER_PM2_NAME}-${listen.port}`;
  return `${ROUTER_PM2_NAME}-${listen.host.replace(/[^A-Za-z0-9.-]/g, '_')}-${listen.port}`;
}

/** Whether a PM2 name is one of switchyard's routers (any address). */
export function isRouterPm2Name(name: string): boolean {
  return /^switchyard-router(-[A-Za-z0-9._-]+)?$/.test(name);
}
