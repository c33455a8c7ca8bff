import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { tlsFiles } from '../helpers/redis-tls.js';
import { cliEnv } from '../helpers/router-process.js';

// rediss:// with the built CLI against a redis-server that speaks only TLS, its CA trusted through NODE_EXTRA_CA_CERTS.
const available = redisServerAvailable();

describe.skipIf(!available)('Redis over TLS', () => {
  let redis: RedisServer;
  let certs: { dir: string; cleanup: () => Promise<void> };
  let project: { dir: string; cleanup: () => Promise<void> };
  let ca: string;

  beforeAll(async () => {
    certs = await tempDir('sy-tls-');
    const tls = tlsFiles(certs.dir);
    ca = tls.ca;
    redis = await startRedis({ tls });
    project = await tempDir();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
    await project?.cleanup();
    await certs?.cleanup();
  });

  it('creates and reads the policy over rediss://, and fails clearly (exit 1) when the certificate is not trusted', async () => {
    expect(redis.url).toMatch(/^rediss:\/\//);
    const env = { ...cliEnv(join(project.dir, '.switchyard', 'pm2')), SWITCHYARD_REDIS_URL: redis.url };
    const init = await runCli(['init', '--yes', '--json'], { cwd: project.dir, env: { ...env, NODE_EXTRA_CA_CERTS: ca } });
    expect(init.exitCode, init.stderr).toBe(0);
    expect(existsSync(join(project.dir, '.switchyard', 'policy.json'))).toBe(false);
    const shown = await runCli(['policy', 'show', '--json'], { cwd: project.dir, env: { ...env, NODE_EXTRA_CA_CERTS: ca } });
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ generation: 0 });

    const untrusted = await runCli(['policy', 'show'], { cwd: project.dir, env: { ...env, NODE_EXTRA_CA_CERTS: undefined } });
    expect(untrusted.exitCode).toBe(1);
    expect(untrusted.stderr).toContain(`Redis at ${redis.url} is unavailable`);
    console.log(`TLS: init and policy show over rediss:// passed; untrusted certificate: ${untrusted.stderr.trim().split('\n')[0]}`);
  }, 60_000);
});
