import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { ChildTracker } from '../helpers/child-processes.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { leaderOf, spawnProjectRouter, useRedis, type ProjectRouter } from '../helpers/redis-routers.js';
import { assertNothingLeft, waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { editConfig, ok, planProject, reachedAt, stepsCommitted, terminalsUnderLoad } from '../helpers/rollout-plans.js';

/**
 * Two real routers on one state in a real redis-server, real PM2, the
 * built CLI. Terminals go through the second router only, so the leader
 * judges the canary on figures it never saw itself (every router's counts
 * are summed through Redis). The leader is SIGKILLed in the middle of the
 * plan: the other takes the lease and finishes the plan from the
 * committed state, and each step is in the history once.
 */
const available = redisServerAvailable();
const children = new ChildTracker();

describe.skipIf(!available)('a progressive rollout across two routers on Redis', () => {
  let redis: RedisServer;
  let project: RolloutProject;
  let store: RedisStore;
  const routers: ProjectRouter[] = [];
  const prefix = `sy-plans-${process.pid}`;

  beforeAll(async () => {
    redis = await startRedis();
    project = await planProject({ prefix: 'sy-plan-redis-', mode: 'proxy', releases: { '1.0.0': 'counting', '1.1.0': 'counting' }, bare: true });
    await useRedis(project.configPath, redis.url, prefix);
    store = new RedisStore({ url: redis.url, prefix });
    await store.init();
  }, 60_000);

  afterAll(async () => {
    await children.killAll();
    await Promise.all(routers.map((r) => r.stop()));
    await store?.close();
    await project?.cleanup();
    await redis?.stop();
    await assertNothingLeft();
  }, 60_000);

  it('the leader SIGKILLed mid-plan: the other router finishes it, each step once in the history', async () => {
    const a = await spawnProjectRouter(project.dir, project.env, project.token, project.routerPort);
    routers.push(a);
    await a.waitStatus((s) => leaderOf(s) === a.url);
    const b = await spawnProjectRouter(project.dir, project.env, project.token);
    routers.push(b);
    await b.waitStatus((s) => s.routers?.length === 2 && leaderOf(s) === a.url);
    // Heartbeats go to the second router first; the first takes them if it dies.
    await editConfig(project, (doc) => doc.setIn(['router', 'url'], `${b.url},${a.url}`));
    ok(await project.cli(['deploy', '1.0.0'], { timeoutMs: 60_000 }), 'switchyard deploy 1.0.0');
    project.daemonPid();
    await project.pm2Jlist();
    const load = await terminalsUnderLoad(children, b.url, project.service, 'proxy');

    const deploy = await project.cliJson(['deploy', '1.1.0', '--steps', '20:2s,50:4s,100'], { timeoutMs: 60_000 });
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    const id = (await store.read()).services.lobby!.rollout!.id;
    await waitFor('step 2 committed by the first router', async () => ((await store.read()).services.lobby!.rollout!.step === 1 ? true : undefined), { timeoutMs: 20_000 });
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await b.waitStatus((s) => leaderOf(s) === b.url, 15_000);
    const tookOverMs = Date.now() - killedAt;
    await waitFor('the plan to complete on the second router', async () => ((await store.read()).services.lobby!.rollout!.state === 'completed' ? true : undefined), { timeoutMs: 30_000 });
    const head = await store.read();
    const revisions = await Promise.all(Array.from({ length: head.generation + 1 }, (_, g) => store.revision(g)));
    const steps = stepsCommitted(revisions, 'lobby', id);
    const moves = (r: ProjectRouter) => r.stderr().split('\n').filter((l) => /rollout of lobby@1\.1\.0: (advance|complete) \(generation/.test(l)).map((l) => l.replace(/^\S+ /, '').slice(0, 60));
    const wallMs = reachedAt(revisions, 'lobby', id, 'completed')! - Date.parse(head.services.lobby!.rollout!.startedAt);
    const counts = await load.finish(30_000);
    console.log(`rollout-plans: two routers on Redis, plan 20:2s,50:4s,100: the leader SIGKILLed at step 2; the other led ${tookOverMs} ms later and completed the plan ${wallMs} ms after its first step; steps in the history ${JSON.stringify(steps)}; moves by the first: ${JSON.stringify(moves(a))}, by the second: ${JSON.stringify(moves(b))}; terminals through the second router: ${counts.counters.requestsOk} requests ok, ${counts.counters.requestsFailed} failed`);
    expect(steps).toEqual([0, 1, 2]);
    expect(moves(a).some((l) => l.includes('advance'))).toBe(true);
    expect(moves(b).some((l) => l.includes('complete'))).toBe(true);
    expect(head.services.lobby).toMatchObject({ target: '1.1.0', canary: null });
    // Every verdict the first router judged was on the second router's traffic, through Redis.
    expect(head.services.lobby!.rollout!.recent.some((v) => (v.requests ?? 0) > 0)).toBe(true);
    expect(counts.counters.requestsFailed).toBe(0);
  }, 150_000);
});
