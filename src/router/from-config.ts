import type { Config } from '../config/load.js';
import { RedisPolicySource } from './redis-policy-source.js';
import { openStore } from '../store/open-store.js';
import type { RouterOptions } from './router-state.js';

/** With coordination the policy is read from Redis: checked this often besides pub/sub and reconnects. */
const REDIS_POLL_MS = 2000;

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
    limits: {
      headersTimeoutMs: r.headersTimeoutMs,
      requestTimeoutMs: r.requestTimeoutMs,
      keepAliveTimeoutMs: r.keepAliveTimeoutMs,
      maxConnections: r.maxConnections,
      maxConnectionsPerClient: r.maxConnectionsPerClient,
    },
    proxy: r.proxy,
    historyStore: openStore(config),
    ...(log ? { log } : {}),
    ...(config.coordination === undefined ? {} : {
      policySource: (hooks) => new RedisPolicySource({ url: config.coordination!.redis, prefix: config.coordination!.prefix, pollMs: REDIS_POLL_MS, ...hooks }),
    }),
  };
}
