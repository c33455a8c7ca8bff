import type { Config } from './schema.js';

/** The router's base URL as this machine reaches it (a wildcard listen address is reached on loopback). */
export function routerUrl(config: Config): string {
  let host = config.router.listen.host;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '::1';
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${shown}:${config.router.listen.port}`;
}
