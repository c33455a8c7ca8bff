import type { ListenAddress } from '../config/fields.js';

/**
 * The PM2 names of switchyard's routers. Each address has its own name, so
 * several routers of one project can run under one PM2 home: the config's
 * own address keeps `switchyard-router`, another port on the same host is
 * `switchyard-router-<port>`, another host `switchyard-router-<host>-<port>`.
 */

export const ROUTER_PM2_NAME = 'switchyard-router';

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
