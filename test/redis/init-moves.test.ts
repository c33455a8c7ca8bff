import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { runCli } from '../helpers/cli.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { assertNothingLeft, makeRolloutProject, type RolloutProject } from '../helpers/rollout-project.js';
import { storeProject, twoVersions, type StoreProject } from '../helpers/store-project.js';

/**
 * A file-store project with live processes under a real PM2 moves into
 * Redis: its config gets coordination.redis (by hand, as an operator
 * would), then `switchyard init --yes` moves the policy and its history.
 * No process is touched (same pids, no restarts), the config is not
 * touched, and a router started afterwards serves the moved generation
 * from Redis. A second init is a no-op; a Redis holding another policy is
 * refused with exit 2.
 */
const available = redisServerAvailable();

describe.skipIf(!available)('init moves a live file-store project into Redis', () => {
  let redis: RedisServer;
  let project: RolloutProject;
  let other: StoreProject | undefined;
  const prefix = `sy-moved-${process.pid}`;
  let store: RedisStore;

  beforeAll(async () => {
    redis = await startRedis();
    project = await makeRolloutProject({ versions: ['1.0.0', '1.1.0'], prefix: 'sy-move-' });
    store = new RedisStore({ url: redis.url, prefix });
  });
  afterAll(async () => {
    await store?.close();
    await other?.cleanup();
    await project?.cleanup();
    await redis?.stop();
    await assertNothingLeft();
  });

  const live = async () => Object.fromEntries((await project.pm2Jlist()).filter((p) => p.name.startsWith(`${project.service}@`)).map((p) => [p.name, { pid: p.pid, restarts: p.pm2_env.restart_time ?? 0, status: p.pm2_env.status }]));

  it('moves the policy and its history; the pids are unchanged; a router on Redis serves the same generation', async () => {
    // Two active versions, none draining: the router started later has nothing to retire, so nothing is committed after the move.
    for (const args of [['deploy', '1.0.0'], ['deploy', '1.1.0', '--no-promote']]) {
      const deployed = await project.cliJson(args, { timeoutMs: 60_000 });
      expect(deployed.exitCode, deployed.stderr).toBe(0);
    }
    const filePolicy = await project.policy();
    const pidsBefore = await live();
    expect(Object.keys(pidsBefore)).toHaveLength(2);
    for (const p of Object.values(pidsBefore)) expect(p.status).toBe('online');

    const doc = parseDocument(await readFile(project.configPath, 'utf8'));
    doc.set('coordination', doc.createNode({ redis: redis.url, prefix }));
    const config = doc.toString();
    await writeFile(project.configPath, config);

    const moved = await project.cliJson(['init', '--yes']);
    expect(moved.exitCode, moved.stderr).toBe(0);
    expect(moved.json).toMatchObject({ ok: true, configKept: true, createdPolicy: false, moved: { kind: 'moved', generation: filePolicy.generation, skipped: [] } });
    expect(moved.json.moved.revisions).toBe(filePolicy.generation + 1);
    expect(await readFile(project.configPath, 'utf8')).toBe(config);

    // The same policy and every revision, byte for byte.
    expect(await store.read()).toEqual(filePolicy);
    for (let g = 0; g <= filePolicy.generation; g += 1) {
      expect(await store.revisionText(g)).toBe(await readFile(join(project.stateDir, 'history', `${g}.json`), 'utf8'));
    }
    expect(await live()).toEqual(pidsBefore);

    const started = await project.cliJson(['router', 'start'], { timeoutMs: 60_000 });
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.json).toMatchObject({ ok: true, generation: filePolicy.generation });
    const status = await project.routerStatus();
    expect(status.generation).toBe(filePolicy.generation);
    const ids = (s: any) => s.services[project.service].processes.map((p: any) => `${p.id} ${p.state} ${p.port}`).sort();
    expect(ids(status)).toEqual(ids(filePolicy));
    const login = await fetch(`${project.routerUrl}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: project.service, version: '1.0.0', terminal: 't1' }) });
    const target = filePolicy.services[project.service].processes.find((p: any) => p.version === '1.0.0');
    expect(await login.json()).toMatchObject({ action: 'connect', version: '1.0.0', port: target.port });
    expect(await live()).toEqual(pidsBefore);
    console.log(`moved generation ${filePolicy.generation} with ${moved.json.moved.revisions} revisions into Redis; pids unchanged: ${Object.values(pidsBefore).map((p) => p.pid).join(', ')}`);
  });

  it('a second init is a no-op that says so', async () => {
    const again = await project.cliJson(['init', '--yes']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ ok: true, moved: { kind: 'same' }, createdPolicy: false, createdToken: false });
    expect(again.stderr).toMatch(/already holds the policy/);
  });

  it('refuses, exit 2, to move another policy over the one in Redis', async () => {
    other = await storeProject('files', undefined, `coordination: { redis: ${JSON.stringify(redis.url)}, prefix: ${prefix} }\n`);
    await other.store.write(twoVersions('1.4.0'), 0);
    const head = (await store.read()).generation;
    const refused = await runCli(['init', '--yes', '--json'], { cwd: other.dir, env: other.env });
    expect(refused.exitCode).toBe(2);
    const error = JSON.parse(refused.stdout);
    expect(error).toMatchObject({ ok: false, error: 'redis_policy_differs' });
    expect(error.message).toContain(`generation ${head}`);
    expect(error.message).toMatch(/remove coordination.redis|delete its keys/);
    expect((await store.read()).generation).toBe(head);
  });
});
