import type { Config } from '../config/load.js';
import { openStore } from '../store/open-store.js';
import type { RouterOptions } from './router-state.js';

/** The router's options, from a loaded config and the token. */
export function routerOptionsFromConfig(config: Config, token: string, log?: (line: string) => void): RouterOptions {
  const r = config.router;
  return {
    stateDir: config.stateDir,
    host: r.listen.host,
    port: r.listen.port,
    mode: r.mode,
    heartbeatIntervalMs: r.heartbeatIntervalMs,
    staleAfter: r.staleAfter,
    versionHeader: r.versionHeader,
    serviceHeader: r.serviceHeader,
    maxBodyBytes: r.maxBodyBytes,
    token,
    historyStore: openStore(config),
    ...(log ? { log } : {}),
  };
}
