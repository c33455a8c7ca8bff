import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ListenAddress } from '../config/fields.js';
import { routerUrl } from '../config/router-url.js';
import type { Config } from '../config/schema.js';
import { failedError } from '../core/errors.js';
import { isServing, pm2Health } from '../core/pm2-health.js';
import { packageFile } from '../package-root.js';
import { tailOf } from './local-fleet.js';
import { Pm2Client, pm2DaemonRunning, type Pm2Process } from './pm2-client.js';
import { addressInUse, listenFailure } from './port-holder.js';
import { fetchHealth, waitForHealthy, type Health } from './router-health.js';
import { listenText, ROUTER_PM2_NAME } from './router-names.js';

/**
 * PM2's supervision of the router (DESIGN.md: "PM2 supervision of the
 * router lives in fleet/"): start `switchyard router run` under PM2 and
 * watch it until it answers /healthz, or take it out of PM2 again with the
 * reason and its log's last lines. `router start` and the operations that
 * bring a router back after PM2's daemon died both come through here.
 */

const BIN = packageFile('bin/switchyard.js');
/**
 * How long a router that runs but does not answer yet is waited for. A crash is seen at once (PM2's restart
 * count); only a slow start (a loaded host, a store far away) uses this up.
 */
const START_TIMEOUT_MS = 30_000;
/** How often a starting router is looked at, in PM2 and on /healthz. */
const POLL_MS = 150;

export interface RouterLaunch {
  /** The config the router runs with (router.listen already --listen's address). */
  config: Config;
  configFile: string;
  /** The config's folder: the router's working folder. */
  dir: string;
  /** Its PM2 name (router-names.ts). */
  name: string;
  /** --listen's address, passed on to `router run`, when it is not the config's own. */
  listen?: ListenAddress;
  /** The router's environment, given whole (PM2 would otherwise keep its daemon's). */
  env: NodeJS.ProcessEnv;
}

export interface RouterRunning {
  name: string;
  pid: number | undefined;
  url: string;
  generation: number | null;
  /** It answered already: nothing was started. */
  alreadyRunning: boolean;
  log: string;
}

type StartOutcome =
  | { kind: 'healthy'; health: Health; described: Pm2Process | undefined }
  | { kind: 'failed'; reason: string };

/**
 * Watches a router PM2 has just started: healthy once /healthz answers ok
 * while PM2 still runs the process it started; failed as soon as PM2 shows
 * it exited (a restart, errored or stopped), or at the start timeout.
 */
async function watchStart(pm2: Pm2Client, name: string, url: string): Promise<StartOutcome> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const [described, health] = await Promise.all([pm2.describe(name), fetchHealth(url, 500)]);
    if (described === undefined) return { kind: 'failed', reason: 'The router vanished from PM2 while starting' };
    if (described.restarts > 0 || pm2Health(described.status) === 'gone') {
      return { kind: 'failed', reason: `The router exited while starting (PM2 status ${described.status}, ${described.restarts} restart${described.restarts === 1 ? '' : 's'})` };
    }
    if (health?.ok === true && isServing(described.status)) return { kind: 'healthy', health, described };
    if (Date.now() > deadline) {
      return { kind: 'failed', reason: `The router did not answer ${url}/healthz within ${START_TIMEOUT_MS / 1000}s (PM2 status: ${described.status}${health === undefined ? '' : '; it answers, but has no valid policy'})` };
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Where the router's output goes: router.log for the config's own, <name>.log for one on another address. */
export function routerLogFile(stateDir: string, name: string): string {
  return join(stateDir, 'logs', name === ROUTER_PM2_NAME ? 'router.log' : `${name.slice('switchyard-'.length)}.log`);
}

/**
 * Starts the router under PM2 unless PM2 already runs it healthy, and
 * returns once it answers /healthz. A router PM2 lists but that does not
 * answer is replaced; one that fails to start is taken out of PM2 (not left
 * for PM2 to restart over and over) and the error carries its log's tail.
 * `info` hears the one line worth telling while it starts.
 */
export async function startRouterUnderPm2(launch: RouterLaunch, info?: (message: string) => void): Promise<RouterRunning> {
  const { config, name } = launch;
  const url = routerUrl(config);
  const logFile = routerLogFile(config.stateDir, name);
  await mkdir(join(config.stateDir, 'logs'), { recursive: true });
  const { host, port } = config.router.listen;
  const busy = () => addressInUse(host, port);
  // Something else on the address and no PM2 here that could be running our router: say so now, starting nothing.
  if ((await busy()) && !pm2DaemonRunning(config.pm2Home)) throw failedError('router_listen_failed', await listenFailure(host, port, undefined));
  const pm2 = await Pm2Client.connect(config.pm2Home);
  try {
    const existing = await pm2.describe(name);
    if (existing !== undefined && isServing(existing.status)) {
      const health = await waitForHealthy(url, 2000);
      if (health?.ok) return { name, pid: existing.pid, url, generation: health.generation, alreadyRunning: true, log: logFile };
    }
    if (existing !== undefined) await pm2.delete(name);
    if (await busy()) throw failedError('router_listen_failed', await listenFailure(host, port, undefined));
    info?.(`starting ${name} under PM2 (PM2_HOME ${config.pm2Home})…`);
    await pm2.start({
      name,
      script: BIN,
      args: ['router', 'run', '--config', launch.configFile, ...(launch.listen === undefined ? [] : ['--listen', listenText(launch.listen)])],
      cwd: launch.dir,
      env: Object.fromEntries(Object.entries(launch.env).filter((e): e is [string, string] => typeof e[1] === 'string')),
      killTimeoutMs: 15_000,
      outFile: logFile,
      errorFile: logFile,
    });
    const outcome = await watchStart(pm2, name, url);
    if (outcome.kind !== 'healthy') {
      await pm2.delete(name).catch(() => undefined);
      throw failedError('router_not_healthy', `${outcome.reason}; it was removed from PM2. Last lines of ${logFile}:\n${(await tailOf(logFile, 20)) || '(no log yet)'}`);
    }
    return { name, pid: outcome.described?.pid, url, generation: outcome.health.generation, alreadyRunning: false, log: logFile };
  } finally {
    pm2.disconnect();
  }
}
