import type { Config } from './schema.js';

/** The URL the processes of a host send heartbeats to: router.url, or this machine's view of listen. */
export function advertisedRouterUrl(config: Config): string {
  return config.router.url ?? routerUrl(config);
}

/** The router's base URL as this machine reaches it (a wildcard listen address is reached on loopback). */
export function routerUrl(config: Config): string {
  let host = config.router.listen.host;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '::1';
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${shown}:${config.router.listen.port}`;
}
