import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failedError } from '../../core/errors.js';
import { Pm2Client } from '../../fleet/pm2-client.js';
import type { CommandModule } from '../commands.js';
import { packageFile } from '../../package-root.js';
import { openProject } from '../project.js';
import { routerUrl, waitForHealthy } from '../router-client.js';

export const ROUTER_PM2_NAME = 'switchyard-router';
const BIN = packageFile('bin/switchyard.js');
const START_TIMEOUT_MS = 15_000;

async function tail(path: string, lines: number): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log yet)';
  }
}

export const run: CommandModule['run'] = async (ctx) => {
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  // A router without a valid policy would only answer 503: say so now, not after the start timeout.
  await store.read();
  const url = routerUrl(config);
  const logDir = join(config.stateDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const logFile = join(logDir, 'router.log');

  const pm2 = await Pm2Client.connect(config.pm2Home);
  try {
    const existing = await pm2.describe(ROUTER_PM2_NAME);
    if (existing?.status === 'online') {
      const health = await waitForHealthy(url, 2000);
      if (health?.ok) {
        ctx.out.success(`the router is already running (pid ${existing.pid}) on ${url}, serving generation ${health.generation}`);
        ctx.out.result({ ok: true, alreadyRunning: true, pid: existing.pid, url, generation: health.generation });
        return;
      }
    }
    if (existing !== undefined) await pm2.delete(ROUTER_PM2_NAME);
    ctx.out.info(`starting ${ROUTER_PM2_NAME} under PM2 (PM2_HOME ${config.pm2Home})…`);
    await pm2.start({
      name: ROUTER_PM2_NAME,
      script: BIN,
      args: ['router', 'run', '--config', loaded.filepath],
      cwd: loaded.dir,
      env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => typeof e[1] === 'string')),
      killTimeoutMs: 15_000,
      outFile: logFile,
      errorFile: logFile,
    });
    const health = await waitForHealthy(url, START_TIMEOUT_MS);
    const described = await pm2.describe(ROUTER_PM2_NAME);
    if (health?.ok !== true) {
      throw failedError(
        'router_not_healthy',
        `The router did not answer ${url}/healthz within ${START_TIMEOUT_MS / 1000}s (PM2 status: ${described?.status ?? 'missing'}${health?.error ? `; ${health.error}` : ''}). Last lines of ${logFile}:\n${await tail(logFile, 20)}`,
      );
    }
    ctx.out.success(`router running on ${url} (pid ${described?.pid}), serving generation ${health.generation}; log: ${logFile}`);
    ctx.out.result({ ok: true, alreadyRunning: false, pid: described?.pid, url, generation: health.generation, log: logFile });
  } finally {
    pm2.disconnect();
  }
};
