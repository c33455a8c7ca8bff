import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { cliEnv } from '../helpers/router-process.js';
import { storeProject, twoVersions, type StoreProject } from '../helpers/store-project.js';

// The policy commands and promote, unchanged, with the built CLI on a config that has coordination.redis.
const available = redisServerAvailable();

describe.skipIf(!available)('the CLI on the Redis store', () => {
  let redis: RedisServer;
  let project: StoreProject;
  const cli = (...args: string[]) => runCli([...args, '--json'], { cwd: project.dir, env: project.env });
  const json = async (...args: string[]) => {
    const result = await cli(...args);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as Record<string, any>;
  };

  beforeAll(async () => {
    redis = await startRedis();
    project = await storeProject('redis', redis.url);
    await project.store.write(twoVersions('1.4.0'), 0);
  });
  afterAll(async () => {
    await project?.cleanup();
    await redis?.stop();
  });

  it('show, validate, promote, history and diff work on the policy in Redis', async () => {
    expect(await json('policy', 'show')).toMatchObject({ generation: 1, services: { lobby: { target: '1.4.0' } } });
    expect(await json('policy', 'validate')).toMatchObject({ ok: true, valid: true, generation: 1, path: project.store.location });
    expect(project.store.location).toContain(redis.url);

    expect(await json('promote', '1.5.0')).toMatchObject({ ok: true, target: '1.5.0', previousTarget: '1.4.0', generation: 2, draining: ['lobby@1.4.0#0'] });
    const head = await project.store.read();
    expect(head.services.lobby?.processes.find((p) => p.version === '1.4.0')?.state).toBe('draining');

    const history = await json('policy', 'history');
    expect((history.revisions as Array<{ generation: number }>).map((r) => r.generation)).toEqual([0, 1, 2]);
    const diff = await json('policy', 'diff', '1', '2');
    expect(diff.changes).toEqual(expect.arrayContaining([{ kind: 'target', service: 'lobby', from: '1.4.0', to: '1.5.0' }]));
    // Nothing of the policy is kept in the state folder.
    expect(existsSync(join(project.dir, '.switchyard', 'policy.json'))).toBe(false);

    console.log('CLI on Redis: policy show, validate, promote, history (3 revisions) and diff answered from Redis');
  });

  it('init with SWITCHYARD_REDIS_URL creates the policy in Redis, not in the state folder', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const env = { ...cliEnv(join(dir, '.switchyard', 'pm2')), SWITCHYARD_REDIS_URL: redis.url };
      const result = await runCli(['init', '--yes', '--json'], { cwd: dir, env });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, createdPolicy: true, policy: `${redis.url} (keys switchyard:*)` });
      expect(existsSync(join(dir, '.switchyard', 'policy.json'))).toBe(false);
      expect(existsSync(join(dir, '.switchyard', 'token'))).toBe(true);
      const store = new RedisStore({ url: redis.url, prefix: 'switchyard' });
      expect((await store.read()).generation).toBe(0);
      await store.close();
      const shown = await runCli(['policy', 'show', '--json'], { cwd: dir, env });
      expect(JSON.parse(shown.stdout)).toMatchObject({ generation: 0 });
    } finally {
      await cleanup();
    }
  });
});
