import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyStore } from '../../src/store/policy-store.js';
import { ensureToken } from '../../src/store/token.js';
import { closeAllBackends, startBackend, type BackendServer } from '../helpers/backends.js';
import { heartbeatSpec, hugeSpec, loginSpec, proxiedSpec, resolveSpec } from '../helpers/bad-requests.js';
import { describeSpec, rawSpec, sendAll, summarise } from '../helpers/bad-requests-wire.js';
import { ChildTracker } from '../helpers/child-processes.js';
import { freePort } from '../helpers/free-port.js';
import { closeHttp, http } from '../helpers/http.js';
import { guardUserPm2Home, makePm2Home, type Pm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';
import { badArgv } from './support/bad-argv.js';
import { badConfig } from './support/bad-config.js';
import { countByLabel, judgeCli, loadConfigsInProcess, runArgvInProcess, spawnEach, type ArgvInput } from './support/bad-runs.js';
import { report } from './support/project.js';
import { SIZE } from './support/size.js';

/**
 * At least 10,000 generated bad inputs (fast-check, fixed seed; FC_SEED
 * overrides it) across switchyard's three surfaces:
 * (a) the router's HTTP interface, one proxy-mode router, through an HTTP
 *     client and on raw sockets: every answer a 4xx JSON {error, message};
 * (b) config files: loadConfig from dist in process, and a spawned
 *     `switchyard policy show --config <file>` for a sample;
 * (c) command lines: main() from dist in a runner child, and a spawned CLI
 *     for a sample: exit 2 with a sentence on stderr, nothing written.
 * 0 crashes, 0 hangs (per-input timeouts), every one a clear error.
 */

const SEED = Number(process.env.FC_SEED ?? 20261126);
const MAX_BODY = 8192;
const MAX_HEADER_BYTES = 16 * 1024;
const children = new ChildTracker();
const userPm2HomeUntouched = guardUserPm2Home();
const totals: Record<string, number> = {};
let work: string;
let router: RouterProcess;
let backends: BackendServer[] = [];
let pm2: Pm2Home;
let project: string;
let cliEnv: Record<string, string | undefined>;

const sample = <T>(arb: fc.Arbitrary<T>, numRuns: number, offset: number) => (numRuns > 0 ? fc.sample(arb, { numRuns, seed: SEED + offset }) : []);
/** Every k-th of `items`, `count` of them. */
const spread = <T>(items: T[], count: number) => items.filter((_, i) => i % Math.max(1, Math.floor(items.length / count)) === 0).slice(0, count);
const failuresOf = (items: Array<{ problem?: string | undefined }>) => items.filter((o) => o.problem !== undefined).map((o) => o.problem!);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sy-rel-bad-'));
  backends = await Promise.all([startBackend({ version: '1.5.0' }), startBackend({ service: 'chat', version: '2.0.0' })]);
  router = await startRouter({
    mode: 'proxy',
    maxBodyBytes: MAX_BODY,
    policy: buildPolicy({
      lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: backends[0]!.port }, { version: '1.4.0', port: backends[0]!.port, state: 'draining' }] },
      chat: { target: '2.0.0', processes: [{ version: '2.0.0', port: backends[1]!.port }] },
    }, 1),
  });
  // A project for the command lines: valid config, empty policy, a release folder; nothing ever deployed.
  pm2 = await makePm2Home();
  project = join(work, 'project');
  await mkdir(join(project, 'release'), { recursive: true });
  await writeFile(join(project, 'switchyard.config.yaml'), [
    `router: { listen: "127.0.0.1:${await freePort()}" }`, `pm2Home: ${JSON.stringify(pm2.home)}`,
    'services:', '  lobby: { script: "releases/{version}/server.js", ports: "21900-21909", readiness: { timeout: 2s } }', ''].join('\n'));
  await new PolicyStore(join(project, '.switchyard')).init();
  await ensureToken(join(project, '.switchyard'));
  const scrub = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('SWITCHYARD_')).map((k) => [k, undefined]));
  cliEnv = { ...scrub, CI: 'true', NO_COLOR: '1', FORCE_COLOR: undefined, NODE_OPTIONS: undefined, PM2_HOME: pm2.home };
});

afterAll(async () => {
  await children.killAll();
  await stopAllRouters();
  await closeAllBackends();
  await closeHttp();
  await pm2?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  report(`bad-input total (${SIZE.name})`, `${Object.values(totals).reduce((a, b) => a + b, 0)} generated inputs: ${Object.entries(totals).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  userPm2HomeUntouched();
});

describe('bad input', () => {
  it(`router HTTP interface: ${SIZE.httpInputs} generated bad requests, each a 4xx JSON error`, async () => {
    const started = Date.now();
    const share = (pct: number) => Math.round((SIZE.httpInputs * pct) / 100);
    const token = () => router.token;
    const httpSpecs = [...sample(loginSpec, share(22), 11), ...sample(resolveSpec, share(14), 12), ...sample(heartbeatSpec(token), share(22), 13), ...sample(proxiedSpec, share(20), 14), ...sample(hugeSpec(MAX_BODY, token), share(4), 15)];
    const rawSpecs = sample(rawSpec(MAX_HEADER_BYTES), SIZE.httpInputs - httpSpecs.length, 16);
    const [httpOutcomes, rawOutcomes] = await Promise.all([sendAll(router, httpSpecs, 8, 10_000), sendAll(router, rawSpecs, 4, 10_000)]);
    const outcomes = [...httpOutcomes, ...rawOutcomes];
    const failed = outcomes.filter((o) => o.problem !== undefined);
    const hangs = failed.filter((o) => o.problem!.startsWith('no answer')).length;
    const health = await router.health(5_000);
    totals.http = outcomes.length;
    report(`bad-input http (${SIZE.name})`,
      `${outcomes.length} requests (${rawOutcomes.length} on raw sockets), ${failed.length} not a 4xx JSON error, ${hangs} without an answer, ` +
      `router ${health?.ok && router.alive() ? 'healthy' : 'NOT healthy'} after; ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED})\n  by kind (status×count): ${summarise(outcomes)}`);
    expect(failed.slice(0, 15).map((o) => `${o.problem}\n    for ${describeSpec(o.spec)}`)).toEqual([]);
    expect(outcomes).toHaveLength(SIZE.httpInputs);
    expect(health?.ok).toBe(true);
    expect(router.alive()).toBe(true);
    expect(router.stderr()).not.toContain('internal error');
    expect((await http(`${router.url}/page`, { headers: { 'x-switchyard-version': '1.5.0', 'x-switchyard-service': 'lobby' } })).status).toBe(200);
  });

  it(`config files: ${SIZE.configInputs} generated bad files, each refused with exit 2 and a sentence naming the file`, async () => {
    const started = Date.now();
    const dir = join(work, 'configs');
    await mkdir(dir);
    const configs = sample(badConfig, SIZE.configInputs, 21);
    const judged = await loadConfigsInProcess(dir, configs, 5_000);
    const inProcessS = (Date.now() - started) / 1000;
    const picked = spread(judged.map((j, i) => ({ ...j, i })), SIZE.spawnedConfigs);
    const spawned = await spawnEach(picked, 4, (j) => ({ args: ['policy', 'show', '--config', j.file, ...(j.i % 2 === 0 ? ['--json'] : [])], cwd: dir }), cliEnv, 20_000);
    const spawnedProblems = spawned.map((o, k) => judgeCli(o, picked[k]!.i % 2 === 0 ? ['--json'] : [])).map((p, k) => (p === undefined ? undefined : `${p}\n    for ${picked[k]!.file}`));
    const problems = [...failuresOf(judged), ...spawnedProblems.filter((p): p is string => p !== undefined)];
    totals.config = judged.length;
    report(`bad-input config (${SIZE.name})`,
      `${judged.length} generated config files through loadConfig in process (${inProcessS.toFixed(1)} s), ${spawned.length} of them through a spawned \`switchyard policy show\`; ` +
      `${problems.length} problems (crash, hang, accepted, exit other than 2, unclear message); ${((Date.now() - started) / 1000).toFixed(1)} s\n  by first mutation: ${countByLabel(configs)}`);
    expect(problems.slice(0, 15)).toEqual([]);
    expect(judged).toHaveLength(SIZE.configInputs);
  });

  it(`command lines: ${SIZE.argvInputs} generated bad command lines, each exit 2 with a sentence, nothing written`, async () => {
    const started = Date.now();
    const empty = join(work, 'empty');
    await mkdir(empty);
    const argvs = sample(badArgv, SIZE.argvInputs, 31);
    const inputs: ArgvInput[] = argvs.map((a) => ({ ...a, dir: a.cwd === 'empty' ? empty : project }));
    const outcomes = await runArgvInProcess(children, work, inputs, cliEnv, 10_000);
    const inProcessS = (Date.now() - started) / 1000;
    const problems = outcomes.map((o, i) => judgeCli(o, inputs[i]!.args)).flatMap((p, i) => (p === undefined ? [] : [`${p}\n    for ${inputs[i]!.label}: ${JSON.stringify(inputs[i]!.args)}`]));

    // A sample through the real entry point, each init in a fresh empty folder.
    const picked = spread(inputs, SIZE.spawnedArgvs);
    const folders = await Promise.all(picked.map((p) => (p.cwd === 'empty' ? mkdtemp(join(work, 'init-')) : Promise.resolve(project))));
    const spawned = await spawnEach(picked.map((p, k) => ({ ...p, dir: folders[k]! })), 4, (p) => ({ args: p.args, cwd: p.dir }), cliEnv, 20_000);
    for (const [k, o] of spawned.entries()) {
      const left = picked[k]!.cwd === 'empty' ? await readdir(folders[k]!) : [];
      const p = judgeCli({ ...o, left }, picked[k]!.args);
      if (p !== undefined) problems.push(`spawned: ${p}\n    for ${JSON.stringify(picked[k]!.args)}`);
    }
    // Nothing happened to the project: no revision written, no PM2 daemon started.
    const store = new PolicyStore(join(project, '.switchyard'));
    const generation = (await store.read()).generation;
    const revisions = (await store.history()).length;
    totals.argv = outcomes.length;
    report(`bad-input argv (${SIZE.name})`,
      `${outcomes.length} generated command lines through main() in process (${inProcessS.toFixed(1)} s, ${Math.max(...outcomes.map((o: any) => o.ms ?? 0))} ms the slowest), ` +
      `${spawned.length} of them through a spawned CLI; ${problems.length} problems (crash, hang, exit other than 2, unclear message, files written); ` +
      `policy still generation ${generation} with ${revisions} revision, PM2 daemon ${pm2.daemonPid() === undefined ? 'never started' : 'STARTED'}; ${((Date.now() - started) / 1000).toFixed(1)} s\n  by command and slot: ${countByLabel(argvs)}`);
    expect(problems.slice(0, 15)).toEqual([]);
    expect(outcomes).toHaveLength(SIZE.argvInputs);
    expect({ generation, revisions }).toEqual({ generation: 0, revisions: 1 });
    expect(pm2.daemonPid()).toBeUndefined();
    expect(await readdir(empty)).toEqual([]);
  });

  it('adds up to at least 10,000 generated inputs', () => {
    expect((totals.http ?? 0) + (totals.config ?? 0) + (totals.argv ?? 0)).toBeGreaterThanOrEqual(10_000);
  });
});
