import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliResult } from '../helpers/cli.js';
import { freePorts } from '../helpers/free-port.js';
import { cliHeaders } from '../helpers/signed.js';
import { makePm2Home, pidAlive, USER_PM2_HOME, type Pm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, fetchHealth, jsonOk, projectCli, writeRouterProject, type RouterProject } from '../helpers/router-process.js';

/**
 * `router start --listen host:port`, twice: two more routers of one project
 * under one real PM2 daemon (private, short PM2_HOME), each with a PM2 name
 * of its own; `router stop --listen` stops exactly one of them, and `down`
 * stops the rest and the daemon. The config's own router is never started
 * here, so the two are the only routers PM2 runs.
 */

const userPm2Existed = existsSync(USER_PM2_HOME);
let pm2: Pm2Home;
let project: RouterProject;
let ports: number[];
const url = (port: number) => `http://127.0.0.1:${port}`;

beforeAll(async () => {
  pm2 = await makePm2Home();
  ports = await freePorts(3);
  project = await writeRouterProject({
    port: ports[0],
    pm2Home: pm2.home,
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 2),
    router: { url: ports.map(url).join(',') },
  });
});

afterAll(async () => {
  try {
    await pm2?.cleanup();
    await project?.cleanup();
  } finally {
    if (!userPm2Existed) expect(existsSync(USER_PM2_HOME), `${USER_PM2_HOME} was created`).toBe(false);
  }
});

const cli = (...args: string[]): Promise<CliResult> => projectCli(project, pm2.home)(...args);
const json = jsonOk;

describe('several routers of one project under PM2', () => {
  const pids: number[] = [];

  it('router start --listen twice: two routers, each its own PM2 name, both healthy', async () => {
    for (const port of ports.slice(1)) {
      const started = json(await cli('router', 'start', '--listen', `127.0.0.1:${port}`, '--json'));
      expect(started).toMatchObject({ ok: true, alreadyRunning: false, name: `switchyard-router-${port}`, url: url(port), generation: 2 });
      expect(started.log).toBe(`${project.stateDir}/logs/router-${port}.log`);
      pids.push(started.pid as number);
    }
    expect(new Set(pids).size).toBe(2);
    for (const port of ports.slice(1)) expect(await fetchHealth(url(port), 1000)).toMatchObject({ ok: true, generation: 2 });
    // The config's own address was not started: the routers listen only where --listen said.
    expect(await fetchHealth(url(ports[0]!), 500)).toBeUndefined();

    // Without coordination.redis neither drains: only the router on the config's own address would.
    const status = await fetch(`${url(ports[1]!)}/v1/status`, { headers: cliHeaders(project.token) });
    expect(((await status.json()) as { routers: unknown[] }).routers).toEqual([expect.objectContaining({ url: url(ports[1]!), leader: false })]);

    const again = json(await cli('router', 'start', '--listen', `127.0.0.1:${ports[1]}`, '--json'));
    expect(again).toMatchObject({ alreadyRunning: true, name: `switchyard-router-${ports[1]}`, pid: pids[0] });
  });

  it('router status fails over past the config\'s own (stopped) router and reports it', async () => {
    const status = json(await cli('router', 'status', '--json'));
    expect(status).toMatchObject({ url: url(ports[1]!), answering: true, healthy: true, failovers: [{ url: url(ports[0]!), reason: 'ECONNREFUSED', next: url(ports[1]!) }] });
    const text = await cli('router', 'status');
    expect(text.stderr).toContain(`the router at ${url(ports[0]!)} failed (ECONNREFUSED): failed over to ${url(ports[1]!)}`);
  });

  it('a bad --listen exits 2 and says what is expected', async () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:70000', 'a b:7400']) {
      const result = await cli('router', 'start', '--listen', bad);
      expect(result.exitCode, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/--listen: found .*, expected "host:port"/);
    }
    expect((await cli('router', 'stop', '--listen', 'nope')).exitCode).toBe(2);
  });

  it('router stop --listen stops that router only', async () => {
    const stopped = json(await cli('router', 'stop', '--listen', `127.0.0.1:${ports[1]}`, '--json'));
    expect(stopped).toMatchObject({ ok: true, wasRunning: true, stopped: [{ name: `switchyard-router-${ports[1]}`, pid: pids[0] }] });
    const deadline = Date.now() + 10_000;
    while (pidAlive(pids[0]!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pidAlive(pids[0]!)).toBe(false);
    expect(await fetchHealth(url(ports[1]!), 500)).toBeUndefined();
    expect(await fetchHealth(url(ports[2]!), 1000)).toMatchObject({ ok: true });
    expect(json(await cli('router', 'stop', '--json'))).toMatchObject({ wasRunning: false, stopped: [] });
  });

  it('router stop --all stops every router of this PM2 home', async () => {
    const again = json(await cli('router', 'start', '--listen', `127.0.0.1:${ports[1]}`, '--json'));
    expect((await cli('router', 'stop', '--all', '--listen', `127.0.0.1:${ports[1]}`)).exitCode).toBe(2);
    const stopped = json(await cli('router', 'stop', '--all', '--json'));
    expect(stopped.stopped.map((s: { name: string }) => s.name).sort()).toEqual([`switchyard-router-${ports[1]}`, `switchyard-router-${ports[2]}`].sort());
    for (const port of ports.slice(1)) expect(await fetchHealth(url(port), 500)).toBeUndefined();
    expect(pidAlive(again.pid as number)).toBe(false);
    // One back for down.
    pids[1] = json(await cli('router', 'start', '--listen', `127.0.0.1:${ports[2]}`, '--json')).pid as number;
  });

  it('down stops the remaining router and the PM2 daemon', async () => {
    const daemon = pm2.daemonPid();
    expect(daemon).toBeGreaterThan(0);
    const down = json(await cli('down', '--yes', '--json'));
    expect(down.hosts).toEqual([{ host: 'local', stopped: [`switchyard-router-${ports[2]}`] }]);
    expect(down.daemons).toMatchObject([{ stopped: true }]);
    expect(pidAlive(pids[1]!)).toBe(false);
    expect(pidAlive(daemon!)).toBe(false);
    expect(await fetchHealth(url(ports[2]!), 500)).toBeUndefined();
  });

  it('a bad router.url list exits 2, naming router.url', async () => {
    await writeFile(project.configPath, `router:\n  listen: 127.0.0.1:${ports[0]}\n  url: [${url(ports[1]!)}, "ftp://r2:7400"]\npm2Home: ${JSON.stringify(pm2.home)}\n`);
    const result = await cli('router', 'status');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/router\.url: found .*"ftp:\/\/r2:7400" is not one/);
  });
});
