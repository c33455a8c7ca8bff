import { execa } from 'execa';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * The CLI's quick paths (issue 11): `--version` and `status` answered by the
 * router are served by bin/switchyard.js and dist/cli-fast.cjs alone, never
 * the ES module bundle with commander, zod, yaml, cosmiconfig or pm2
 * (dist/cli.mjs, dist/cli-chunks/); status prints what the full command
 * prints; and the router's address is reused only while the config file is
 * unchanged. Which ES modules load is read from a module hook
 * (record-loads.mjs) in the real built CLI: every path past the quick ones
 * starts by importing dist/cli.mjs.
 */

const RECORDER = resolve(import.meta.dirname, '../helpers/record-loads.mjs');
let router: RouterProcess;
let scratch: string;
let cacheHome: string;
let runs = 0;

async function cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string; loaded: string[] }> {
  const log = join(scratch, `loads-${++runs}.txt`);
  const result = await execa(process.execPath, ['--import', RECORDER, BIN, ...args], {
    cwd: router.dir,
    env: { ...router.env, SY_LOAD_LOG: log, XDG_CACHE_HOME: cacheHome },
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    timeout: 30_000,
  });
  const loaded = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr), loaded };
}

/** What the quick paths must not load: the ES module bundle (dist/cli.mjs, its chunks) and the heavy packages. */
const heavy = (loaded: string[]) => loaded.filter((url) => /\/dist\/cli\.mjs$|\/cli-chunks\/|\/node_modules\/(zod|yaml|cosmiconfig|pm2|commander)\//.test(url));

/** Status without what changes between two calls (heartbeat ages, the PM2 view). */
function stable(text: string) {
  const body = JSON.parse(text) as { generation: number; router: unknown; services: Record<string, { target: string; processes: Array<{ id: string; state: string; terminals: number }> }> };
  return {
    generation: body.generation,
    router: body.router,
    services: Object.fromEntries(Object.entries(body.services).map(([name, s]) => [name, { target: s.target, processes: s.processes.map((p) => [p.id, p.state, p.terminals]) }])),
  };
}

const userPm2HomeUntouched = guardUserPm2Home();

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sy-fast-'));
  cacheHome = join(scratch, 'cache');
  router = await startRouter({
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }, { version: '1.4.0', port: 7500, state: 'draining' }] } }, 3),
  });
});

afterAll(async () => {
  await stopAllRouters();
  await rm(scratch, { recursive: true, force: true });
  userPm2HomeUntouched();
});

describe('the CLI starts fast', () => {
  it('--version prints the package version without loading the bundle or commander', async () => {
    const pkg = JSON.parse(await readFile(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    const run = await cli(['--version']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
    // bin/switchyard.js answers it alone: no bundle, no commander.
    expect(run.loaded.filter((url) => url.startsWith('file:') && !url.endsWith('/bin/switchyard.js'))).toEqual([]);
    expect((await cli(['-V'])).stdout.trim()).toBe(pkg.version);
  });

  it('status --json: the first call loads the config in full, later ones only ask the router, and both print the same', async () => {
    const first = await cli(['status', '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    // The recorder works: the full path loads the command table's chunks.
    expect(heavy(first.loaded).length).toBeGreaterThan(0);
    const second = await cli(['status', '--json']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(heavy(second.loaded)).toEqual([]);
    expect(stable(second.stdout)).toEqual(stable(first.stdout));
    expect(stable(second.stdout)).toMatchObject({ generation: 3, router: { url: router.url, up: true } });
    const table = await cli(['status']);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/lobby\s+target 1\.5\.0/);
    expect(table.loaded.filter((url) => /\/dist\/cli\.mjs$|\/cli-chunks\/main\.mjs|\/node_modules\/(zod|yaml|cosmiconfig|pm2|commander)\//.test(url))).toEqual([]);
    const one = await cli(['status', '--json', '--service', 'lobby']);
    expect(heavy(one.loaded)).toEqual([]);
    expect(Object.keys(JSON.parse(one.stdout).services)).toEqual(['lobby']);
  });

  it('takes the full path (and its checks) for a changed config, an unknown service, or the router down', async () => {
    await cli(['status', '--json']);
    const unknown = await cli(['status', '--json', '--service', 'nope']);
    expect(heavy(unknown.loaded).length).toBeGreaterThan(0);

    // A config change is validated again before it is used: a broken value is reported as usual.
    await appendFile(router.configPath, 'services: 7\n');
    const broken = await cli(['status', '--json']);
    expect(broken.exitCode).toBe(2);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, error: 'config_invalid' });
    expect(heavy(broken.loaded).length).toBeGreaterThan(0);
  });

  it('status without the router falls back to the policy and PM2, with the warning', async () => {
    const text = await readFile(router.configPath, 'utf8');
    await router.stop({ keepDir: true });
    await writeFile(router.configPath, text.replace('services: 7\n', ''));
    await cli(['status', '--json']);
    const down = await cli(['status', '--json']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject({ generation: 3, router: { up: false } });
    expect(down.stderr).toContain('the router is not answering');
    await router.cleanup();
  });
});
