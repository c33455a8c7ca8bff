import type { Config, ServiceConfig } from '../config/schema.js';
import { deriveKey } from '../protocol/signing.js';

/**
 * The whole environment a service process starts with: the caller's
 * environment, the service's own `env`, then the variables switchyard gives
 * every process (DESIGN.md), which nothing may override. `token` is the
 * router's secret: the process is given only its own key, derived from it
 * and the process id, so it can sign for itself and for nobody else.
 */
export function processEnv(opts: {
  base: NodeJS.ProcessEnv;
  config: Config;
  service: ServiceConfig;
  routerUrl: string;
  token: string;
  version: string;
  id: string;
  port: number;
}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(opts.base)) {
    // The CLI's own switchyard settings and PM2's bookkeeping must not leak into a service.
    if (typeof value !== 'string' || key.startsWith('SWITCHYARD_') || key === 'PM2_HOME' || key === 'pm_id') continue;
    env[key] = value;
  }
  Object.assign(env, opts.service.env);
  env.PORT = String(opts.port);
  env.SWITCHYARD_SERVICE = opts.service.name;
  env.SWITCHYARD_VERSION = opts.version;
  env.SWITCHYARD_PROCESS = opts.id;
  env.SWITCHYARD_ROUTER_URL = opts.routerUrl;
  env.SWITCHYARD_TOKEN = deriveKey(opts.token, opts.id);
  env.SWITCHYARD_HEARTBEAT_MS = String(opts.config.router.heartbeatIntervalMs);
  return env;
}
