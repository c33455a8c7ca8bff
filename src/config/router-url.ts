import type { Config } from './schema.js';

/**
 * What processes get as SWITCHYARD_ROUTER_URL: router.url's routers,
 * comma-separated in the order they are tried, or this machine's view of
 * listen when router.url is unset.
 */
export function advertisedRouterUrl(config: Config): string {
  return config.router.urls.length > 0 ? config.router.urls.join(',') : routerUrl(config);
}

/**
 * The routers the CLI asks, in order: router.url's list when it names
 * several routers, else this machine's router (listen), as with one router.
 */
export function routerUrls(config: Config): string[] {
  return config.router.urls.length > 1 ? [...config.router.urls] : [routerUrl(config)];
}

/** The router's base URL as this machine reaches it (a wildcard listen address is reached on loopback). */
export function routerUrl(config: Config): string {
  let host = config.router.listen.host;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '::1';
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${shown}:${config.router.listen.port}`;
}
