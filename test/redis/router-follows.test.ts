import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { runCli } from '../helpers/cli.js';
import { closeHttp, postJson } from '../helpers/http.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { cliEnv, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';
import { cliHeaders } from '../helpers/signed.js';
import { twoVersions } from '../helpers/store-project.js';

// Real routers (`switchyard router run` with coordination) following the policy in a real redis-server:
// pub/sub propagation, and a Redis SIGKILL + restart from its AOF under logins.
const available = redisServerAvailable();
const WRITES = 30;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** When each router logged "policy generation <g> loaded" (router run stamps every line). */
function loadTimes(router: RouterProcess): Map<number, number> {
  const times = new Map<number, number>();
  for (const m of router.stderr().matchAll(/^(\S+) policy generation (\d+) loaded/gm)) times.set(Number(m[2]), Date.parse(m[1]!));
  return times;
}

/** Writes one generation after another, waiting for every router to serve each; returns write → served latencies. */
async function propagation(store: RedisStore, routers: RouterProcess[], writes: number): Promise<number[]> {
  const started = new Map<number, number>();
  for (let i = 0; i < writes; i += 1) {
    const head = await store.read();
    const t0 = Date.now();
    const written = await store.write(twoVersions(i % 2 === 0 ? '1.4.0' : '1.5.0'), head.generation);
    started.set(written.generation, t0);
    await Promise.all(routers.map((r) => r.waitForGeneration(written.generation, 15_000)));
  }
  const latencies: number[] = [];
  for (const router of routers) {
    const times = loadTimes(router);
    for (const [generation, t0] of started) latencies.push(times.get(generation)! - t0);
  }
  return latencies.sort((a, b) => a - b);
}

async function signedStatus(router: RouterProcess): Promise<any> {
  const response = await fetch(`${router.url}/v1/status`, { headers: cliHeaders(router.token) });
  return response.json();
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function report(label: string, latencies: number[]): string {
  return `${label}: ${latencies.length} write→serving samples, p50 ${percentile(latencies, 50)} ms, p90 ${percentile(latencies, 90)} ms, p99 ${percentile(latencies, 99)} ms, slowest ${latencies.slice(-3).join(", ")} ms`;
}

describe.skipIf(!available)('routers on Redis', () => {
  let redis: RedisServer;
  let store: RedisStore;
  let routers: RouterProcess[] = [];
  const prefix = `sy-routers-${process.pid}`;

  beforeAll(async () => {
    redis = await startRedis();
    store = new RedisStore({ url: redis.url, prefix });
    await store.init();
    await store.write(twoVersions('1.5.0'), 0);
    const extraYaml = `coordination: { redis: "${redis.url}", prefix: ${prefix} }\nservices:\n  lobby: { script: "releases/{version}/server.js", ports: 7500-7599 }\n`;
    routers = await Promise.all([0, 1, 2].map(() => startRouter({ policy: null, expectHealthy: true, extraYaml })));
  }, 60_000);
  afterAll(async () => {
    await stopAllRouters();
    await store?.close();
    await closeHttp();
    await redis?.stop();
  });

  it('serves the policy from Redis and follows every write through pub/sub', async () => {
    for (const router of routers) expect((await router.health())?.generation).toBe(1);
    const latencies = await propagation(store, routers, WRITES);
    console.log(report('pub/sub propagation, 3 routers', latencies));
    expect(latencies).toHaveLength(3 * WRITES);
    expect(latencies.every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
    const login = await postJson(`${routers[1]!.url}/v1/login`, { service: 'lobby', version: '1.5.0', terminal: 't-1' });
    const target = (await store.read()).services.lobby!.target;
    expect(login.json()).toMatchObject(target === '1.5.0' ? { action: 'connect', version: '1.5.0' } : { action: 'upgrade', targetVersion: target });
  }, 120_000);

  it('keeps answering logins while Redis is SIGKILLed; a write meanwhile fails with exit 1 naming Redis; nothing is lost after the restart', async () => {
    const before = (await store.read()).generation;
    const logins = { ok: 0, failed: 0 };
    let outage = true;
    const loop = (async () => {
      for (let i = 0; outage && i < 5000; i += 1) {
        const router = routers[i % routers.length]!;
        const answer = await postJson(`${router.url}/v1/login`, { service: 'lobby', version: '1.5.0', terminal: `t-${i}` }, undefined).catch(() => undefined);
        if (answer?.status === 200) logins.ok += 1;
        else logins.failed += 1;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    await redis.kill('SIGKILL');
    await Promise.all(routers.map((r) => r.waitForHealth((h) => h.ok && h.fileBroken === true && /Redis/.test(h.error ?? ''), 15_000)));

    // The tally says it is not fleet-wide now, and how old the shared part is.
    const during = await signedStatus(routers[0]!);
    expect(during.coordination).toMatchObject({ ok: false, redis: redis.url });
    expect(during.coordination.error).toBeTruthy();

    const project = routers[0]!;
    const started = Date.now();
    const write = await runCli(['rollback', '--json'], { cwd: project.dir, env: cliEnv(project.pm2Home) });
    const tookMs = Date.now() - started;
    expect(write.exitCode, write.stderr).toBe(1);
    expect(write.stderr).toContain(`Redis at ${redis.url} is unavailable for`);
    expect(JSON.parse(write.stdout)).toMatchObject({ ok: false, error: 'redis_unavailable' });

    await redis.restart();
    await Promise.all(routers.map((r) => r.waitForHealth((h) => h.ok && !h.fileBroken, 15_000)));
    await waitFor(async () => (await signedStatus(routers[0]!)).coordination?.ok === true, 10_000);
    outage = false;
    await loop;
    console.log(`Redis outage: ${logins.ok} logins answered, ${logins.failed} failed; the rollback during the outage exited 1 after ${tookMs} ms`);
    expect(logins.failed).toBe(0);
    expect(logins.ok).toBeGreaterThan(0);
    expect(tookMs).toBeLessThan(10_000);

    // The AOF (appendfsync always) kept every committed generation, and writes work again.
    expect((await store.read()).generation).toBe(before);
    expect((await store.history()).map((e) => e.generation)).toEqual([...Array(before + 1).keys()]);
    const latencies = await propagation(store, routers, 10);
    console.log(report('pub/sub propagation after the Redis restart', latencies));
    await writeFile(join(project.dir, 'again.json'), JSON.stringify(twoVersions('1.5.0')));
    const applied = await runCli(['policy', 'apply', 'again.json', '--json'], { cwd: project.dir, env: cliEnv(project.pm2Home) });
    expect(applied.exitCode, applied.stderr).toBe(0);
    for (const router of routers) await router.waitForGeneration((await store.read()).generation, 15_000);
  }, 120_000);
});
