import type { Config, ServiceConfig } from '../config/schema.js';
import { deriveKey } from '../protocol/signing.js';

/**
 * What PM2 puts into the environment of every process it runs (its app
 * description, lower-case, and its own PM2_* settings). A process started
 * from one that runs under PM2 (the router replacing a lost process) must
 * not hand these on: given back to PM2 in a start, `name` and `pm_exec_path`
 * would make it start the router's own script under the router's name.
 */
const PM2_FIELDS = new Set([
  'automation', 'autorestart', 'autostart', 'created_at', 'exec_interpreter', 'exec_mode', 'instance_var', 'instances',
  'kill_retry_time', 'km_link', 'merge_logs', 'name', 'namespace', 'pmx', 'restart_time', 'status', 'treekill', 'unique_id',
  'unstable_restarts', 'username', 'vizion', 'vizion_running', 'watch', 'windowsHide', 'NODE_APP_INSTANCE',
]);

/** Whether a variable is PM2's bookkeeping or switchyard's own, never a service's. */
function notForAService(key: string): boolean {
  return key.startsWith('SWITCHYARD_') || key.startsWith('PM2_') || key.startsWith('pm_') || key.startsWith('axm_') || PM2_FIELDS.has(key);
}

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
    if (typeof value !== 'string' || notForAService(key)) continue;
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
