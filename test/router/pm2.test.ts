import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliResult } from '../helpers/cli.js';
import { makePm2Home, pidAlive, USER_PM2_HOME, type Pm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, fetchHealth, jsonOk, projectCli, writeRouterProject, type RouterProject } from '../helpers/router-process.js';

/**
 * `switchyard router start|status|stop` with a real PM2 daemon in a private,
 * short PM2_HOME (in the config as pm2Home and in the CLI's environment).
 * The daemon is ended by its pid at the end; ~/.pm2 is never touched.
 */

const userPm2Existed = existsSync(USER_PM2_HOME);
let pm2: Pm2Home;
let project: RouterProject;

beforeAll(async () => {
  pm2 = await makePm2Home();
  project = await writeRouterProject({
    mode: 'redirect',
    pm2Home: pm2.home,
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 4),
  });
});

afterAll(async () => {
  try {
    await pm2?.cleanup();
    await project?.cleanup();
  } finally {
    // This suite must not have created the user's PM2 home.
    if (!userPm2Existed) expect(existsSync(USER_PM2_HOME), `${USER_PM2_HOME} was created`).toBe(false);
  }
});

const cli = (...args: string[]): Promise<CliResult> => projectCli(project, pm2.home)(...args);
const json = jsonOk;

describe('router under PM2', () => {
  let routerPid: number;

  it('router start runs it under PM2 and waits until it answers', async () => {
    expect(pm2.daemonPid()).toBeUndefined();
    const started = json(await cli('router', 'start', '--json'));
    expect(started).toMatchObject({ ok: true, alreadyRunning: false, url: project.url, generation: 4 });
    routerPid = started.pid as number;
    expect(routerPid).toBeGreaterThan(0);
    expect(pidAlive(routerPid)).toBe(true);
    expect(pm2.daemonPid()).toBeGreaterThan(0);
    expect(await fetchHealth(project.url, 1000, project.token)).toMatchObject({ ok: true, generation: 4, mode: 'redirect' });
  });

  it('router status: answering, its generation, PM2 online', async () => {
    // A new policy is picked up by the router PM2 runs, too.
    await project.writePolicy(buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 5));
    const deadline = Date.now() + 10_000;
    while ((await fetchHealth(project.url))?.generation !== 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const status = json(await cli('router', 'status', '--json'));
    expect(status).toMatchObject({ ok: true, url: project.url, answering: true, healthy: true, generation: 5, policyFileBroken: false });
    expect(status.pm2).toMatchObject({ status: 'online', pid: routerPid, restarts: 0 });

    const text = await cli('router', 'status');
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain('healthy');
    expect(text.stdout).toMatch(/PM2: online/);
  });

  it('router start again says it is already running', async () => {
    const again = json(await cli('router', 'start', '--json'));
    expect(again).toMatchObject({ ok: true, alreadyRunning: true, pid: routerPid });
    const text = await cli('router', 'start');
    expect(text.exitCode, text.stderr).toBe(0);
    expect(`${text.stdout}\n${text.stderr}`).toMatch(/already running/);
    expect(pidAlive(routerPid)).toBe(true);
  });

  it('router stop removes it from PM2; it no longer answers', async () => {
    const t0 = Date.now();
    const stopped = json(await cli('router', 'stop', '--json'));
    const stopMs = Date.now() - t0;
    expect(stopped).toMatchObject({ ok: true, wasRunning: true, pid: routerPid });
    // It ends on PM2's SIGINT by itself, well inside the 15 s kill timeout (not by PM2's SIGKILL after it).
    console.log(`router stop under PM2: ${stopMs} ms`);
    expect(stopMs).toBeLessThan(10_000);
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(`${project.stateDir}/logs/router.log`, 'utf8')).toContain('router stopped');
    const deadline = Date.now() + 10_000;
    while ((pidAlive(routerPid) || (await fetchHealth(project.url, 500)) !== undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pidAlive(routerPid)).toBe(false);
    expect(await fetchHealth(project.url)).toBeUndefined();

    const status = json(await cli('router', 'status', '--json'));
    expect(status).toMatchObject({ answering: false, healthy: false, generation: null, pm2: null });
    const twice = json(await cli('router', 'stop', '--json'));
    expect(twice).toMatchObject({ ok: true, wasRunning: false });
  });

  it('the PM2 daemon this suite started is ended by its pid, and nothing is left', async () => {
    const daemon = pm2.daemonPid();
    expect(daemon).toBeGreaterThan(0);
    await pm2.cleanup();
    expect(pidAlive(daemon!)).toBe(false);
    expect(existsSync(pm2.home)).toBe(false);
    if (!userPm2Existed) expect(existsSync(USER_PM2_HOME)).toBe(false);
  });
});
