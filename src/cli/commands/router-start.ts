import { isServing, pm2Health } from '../../core/pm2-health.js';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failedError } from '../../core/errors.js';
import { Pm2Client, pm2DaemonRunning, type Pm2Process } from '../../fleet/pm2-client.js';
import { addressInUse, listenFailure } from '../../router/port-holder.js';
import type { CommandModule } from '../commands.js';
import { packageFile } from '../../package-root.js';
import { openProject } from '../project.js';
import { requireToken } from '../../store/token.js';
import { fetchHealth, routerUrl, waitForHealthy, type Health } from '../router-client.js';
import { listenText, ROUTER_PM2_NAME, routerPm2Name, withListen } from '../router-listen.js';

export { ROUTER_PM2_NAME } from '../router-listen.js';
const BIN = packageFile('bin/switchyard.js');
const START_TIMEOUT_MS = 15_000;
/** How often a starting router is looked at, in PM2 and on /healthz. */
const POLL_MS = 150;

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

async function tail(path: string, lines: number): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log yet)';
  }
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const project = await openProject(ctx);
  const { store } = project;
  // --listen: one more router with the same config on another address, under a PM2 name of its own.
  const loaded = withListen(project.loaded, options.listen);
  const { config } = loaded;
  // Before anything is made (logs, PM2 home): without the state's token the router could only refuse heartbeats.
  await requireToken(config.stateDir, config.router.urls);
  const name = routerPm2Name(project.loaded.config.router.listen, config.router.listen);
  // A router without a valid policy would only answer 503: say so now, not after the start timeout.
  await store.read();
  const url = routerUrl(config);
  const logDir = join(config.stateDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const shownName = name === ROUTER_PM2_NAME ? '' : ` ${name}`;
  const logFile = join(logDir, name === ROUTER_PM2_NAME ? 'router.log' : `${name.slice('switchyard-'.length)}.log`);

  const { host, port } = config.router.listen;
  const busy = () => addressInUse(host, port);
  // Something else on the address and no PM2 here that could be running our router: say so now, starting nothing.
  if ((await busy()) && !pm2DaemonRunning(config.pm2Home)) throw failedError('router_listen_failed', await listenFailure(host, port, undefined));
  const pm2 = await Pm2Client.connect(config.pm2Home);
  try {
    const existing = await pm2.describe(name);
    if (existing !== undefined && isServing(existing.status)) {
      const health = await waitForHealthy(url, 2000);
      if (health?.ok) {
        ctx.out.success(`the router${shownName} is already running (pid ${existing.pid}) on ${url}, serving generation ${health.generation}`);
        ctx.out.result({ ok: true, alreadyRunning: true, name, pid: existing.pid, url, generation: health.generation });
        return;
      }
    }
    if (existing !== undefined) await pm2.delete(name);
    if (await busy()) throw failedError('router_listen_failed', await listenFailure(host, port, undefined));
    ctx.out.info(`starting ${name} under PM2 (PM2_HOME ${config.pm2Home})…`);
    await pm2.start({
      name,
      script: BIN,
      args: ['router', 'run', '--config', loaded.filepath, ...(options.listen === undefined ? [] : ['--listen', listenText(config.router.listen)])],
      cwd: loaded.dir,
      env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => typeof e[1] === 'string')),
      killTimeoutMs: 15_000,
      outFile: logFile,
      errorFile: logFile,
    });
    const outcome = await watchStart(pm2, name, url);
    if (outcome.kind !== 'healthy') {
      // A router that failed is not left for PM2 to restart over and over.
      await pm2.delete(name).catch(() => undefined);
      throw failedError('router_not_healthy', `${outcome.reason}; it was removed from PM2. Last lines of ${logFile}:\n${await tail(logFile, 20)}`);
    }
    const { health, described } = outcome;
    ctx.out.success(`router${shownName} running on ${url} (pid ${described?.pid}), serving generation ${health.generation}; log: ${logFile}`);
    ctx.out.result({ ok: true, alreadyRunning: false, name, pid: described?.pid, url, generation: health.generation, log: logFile });
  } finally {
    pm2.disconnect();
  }
};
