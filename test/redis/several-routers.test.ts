import { readFile, writeFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/sdk/client.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { leaderOf, spawnProjectRouter, useRedis, type ProjectRouter } from '../helpers/redis-routers.js';
import { makeRolloutProject, type RolloutProject } from '../helpers/rollout-project.js';
import { heartbeatHeaders } from '../helpers/signed.js';

// Three real routers on one state in a real redis-server, with real PM2 and the built CLI:
// one policy, one fleet-wide tally, exactly one drain leader, and a leader that dies or is paused.
const available = redisServerAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setRouterUrl(project: RolloutProject, url: string): Promise<void> {
  const doc = parseDocument(await readFile(project.configPath, 'utf8'));
  doc.setIn(['router', 'url'], url);
  await writeFile(project.configPath, doc.toString());
}

async function postHeartbeat(url: string, token: string, body: object): Promise<number> {
  const text = JSON.stringify(body);
  const response = await fetch(`${url}/v1/heartbeat`, { method: 'POST', headers: heartbeatHeaders(token, text), body: text });
  return response.status;
}

/** Lines of a router's log saying it retired a process or claimed its stop. */
function actions(router: ProjectRouter): string[] {
  return router.stderr().split('\n').filter((l) => / retired \(| claimed the stop of |deleted .* from PM2/.test(l));
}

describe.skipIf(!available)('several routers on Redis', () => {
  let redis: RedisServer;
  let project: RolloutProject;
  let routers: ProjectRouter[] = [];
  const prefix = `sy-several-${process.pid}`;

  beforeAll(async () => {
    redis = await startRedis();
    project = await makeRolloutProject({ versions: ['1.0.0', '1.1.0', '1.2.0'], grace: 12, heartbeatInterval: '300ms' });
    await useRedis(project.configPath, redis.url, prefix);
    const store = new RedisStore({ url: redis.url, prefix });
    await store.init();
    await store.close();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(routers.map((r) => r.stop()));
    await project?.cleanup();
    await redis?.stop();
  }, 60_000);

  it('three routers list each other with exactly one leader, and heartbeats sent to one show in every tally', async () => {
    // The first router takes the lease before the others start.
    routers.push(await spawnProjectRouter(project.dir, project.env, project.token, project.routerPort));
    await routers[0]!.waitStatus((s) => leaderOf(s) === routers[0]!.url);
    routers.push(await spawnProjectRouter(project.dir, project.env, project.token));
    routers.push(await spawnProjectRouter(project.dir, project.env, project.token));
    for (const router of routers) {
      const status = await router.waitStatus((s) => s.routers?.length === 3);
      expect(status.routers.filter((r: { leader: boolean }) => r.leader)).toHaveLength(1);
      expect(leaderOf(status)).toBe(routers[0]!.url);
      expect(status.routers.map((r: { url: string }) => r.url).sort()).toEqual(routers.map((r) => r.url).sort());
      expect(status.coordination).toMatchObject({ ok: true, redis: redis.url });
    }
    // The CLI shows the same: in --json, and as a line for people.
    const cliStatus = await project.cliJson(['status']);
    expect(cliStatus.exitCode, cliStatus.stderr).toBe(0);
    expect(cliStatus.json.routers).toHaveLength(3);
    expect(leaderOf(cliStatus.json)).toBe(routers[0]!.url);
    expect(cliStatus.json.coordination).toMatchObject({ ok: true });
    // Processes heartbeat to the second router; the first (the leader) must count them too.
    // Listed second, third, first: the processes fail over when one is killed or paused below.
    await setRouterUrl(project, [routers[1]!.url, routers[2]!.url, routers[0]!.url].join(','));
    const deploy = await project.cliJson(['deploy', '1.0.0']);
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    const id = deploy.json.processes?.[0]?.id ?? (await new RedisStore({ url: redis.url, prefix }).read()).services.lobby!.processes[0]!.id;

    // A heartbeat with terminals, sent to the third router only, is in every router's tally within one interval.
    const human = await project.cli(['status']);
    expect(human.stdout).toContain(`routers: `);
    expect(human.stdout).toContain(`${routers[0]!.url} (leader)`);
    const policy = await routers[0]!.waitStatus((s) => s.services?.lobby?.processes?.some((p: { id: string; heartbeat: { stale: boolean } }) => p.id === id && !p.heartbeat.stale));
    expect(policy.services.lobby.processes[0].id).toBe(id);
    // The process itself is paused meanwhile, so only these heartbeats speak for it (seq 0 is a restart).
    const pid = (await project.pm2Jlist()).find((p) => p.name === id)!.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      const sentAt = Date.now();
      let seq = 0;
      let sending = true;
      const beats = (async () => {
        while (sending && seq < 200) {
          expect(await postHeartbeat(routers[2]!.url, project.token, { service: 'lobby', version: '1.0.0', process: id, seq, terminals: { '1.0.0': 7 } })).toBe(204);
          seq += 1;
          await sleep(project.heartbeatMs);
        }
      })();
      const seen = await Promise.all(routers.map(async (router) => {
        await router.waitStatus((s) => s.services?.lobby?.tally?.some((e: { version: string; terminals: number }) => e.version === '1.0.0' && e.terminals === 7), 5000);
        return Date.now() - sentAt;
      }));
      sending = false;
      await beats;
      console.log(`a heartbeat sent to one router was in all three tallies after ${Math.max(...seen)} ms (heartbeat interval ${project.heartbeatMs} ms)`);
      expect(Math.max(...seen)).toBeLessThan(5000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }, 120_000);

  it('the leader is SIGKILLed while a version drains: another router takes over and retires it exactly once', async () => {
    const leader = routers[0]!;
    const deploy = await project.cliJson(['deploy', '1.1.0']);
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    // Terminals log in through the client SDK with every router listed, the leader first, while it is killed.
    const client = createClient({ router: routers.map((r) => r.url), service: 'lobby', retries: 0, timeoutMs: 2000 });
    const logins = { ok: 0, failed: 0 };
    let logging = true;
    const loop = (async () => {
      for (let i = 0; logging && i < 2000; i += 1) {
        try {
          const result = await client.login({ version: '1.1.0', terminal: `t-${i}` });
          if (result.version === '1.1.0') logins.ok += 1;
          else logins.failed += 1;
        } catch {
          logins.failed += 1;
        }
        await sleep(10);
      }
    })();
    await sleep(300);
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    const others = routers.slice(1);
    const after = await others[0]!.waitStatus((s) => {
      const l = leaderOf(s);
      return l !== undefined && l !== leader.url;
    }, 10_000);
    const takeoverMs = Date.now() - killedAt;
    const newLeader = others.find((r) => r.url === leaderOf(after))!;
    console.log(`leader SIGKILLed: ${newLeader.url} took over after ${takeoverMs} ms`);

    logging = false;
    await loop;
    console.log(`client SDK during the leader's SIGKILL: ${logins.ok} logins ok, ${logins.failed} failed, ${client.failovers} failovers`);
    expect(logins.failed).toBe(0);
    expect(logins.ok).toBeGreaterThan(0);
    // Sticky: one failover away from the dead router, then the next router keeps answering.
    expect(client.failovers).toBe(1);
    const retired = await newLeader.waitStatus((s) => s.services?.lobby?.processes?.every((p: { version: string; state: string }) => p.version !== '1.0.0' || p.state === 'retired'), 30_000);
    expect(retired.services.lobby.processes.filter((p: { version: string }) => p.version === '1.0.0').length).toBeGreaterThan(0);
    const names = (await project.pm2Jlist()).map((p) => p.name);
    expect(names.some((n) => n.startsWith('lobby@1.0.0'))).toBe(false);
    // Exactly once: one retirement, by one router.
    const retiredLines = others.flatMap((r) => actions(r).filter((l) => /lobby@1\.0\.0.* retired \(/.test(l)));
    expect(retiredLines, others.map((r) => r.stderr()).join('\n---\n')).toHaveLength(1);
    routers = others;
  }, 120_000);

  it('a leader paused with SIGSTOP past its lease changes nothing when it resumes', async () => {
    const leaderUrl = leaderOf(await routers[0]!.waitStatus((s) => leaderOf(s) !== undefined));
    const leader = routers.find((r) => r.url === leaderUrl)!;
    const other = routers.find((r) => r !== leader)!;
    const deploy = await project.cliJson(['deploy', '1.2.0']);
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    leader.child.kill('SIGSTOP');
    await other.waitStatus((s) => leaderOf(s) === other.url, 10_000);
    await other.waitStatus((s) => s.services?.lobby?.processes?.every((p: { version: string; state: string }) => p.version !== '1.1.0' || p.state === 'retired'), 30_000);
    const generation = (await other.status()).generation;
    const before = actions(leader).length;
    leader.child.kill('SIGCONT');
    // Give the woken router a few intervals to do whatever it would do.
    await sleep(2000);
    const status = await other.waitStatus((s) => leaderOf(s) === other.url);
    expect(status.generation).toBe(generation);
    expect(actions(leader).slice(before)).toEqual([]);
    expect(leader.stderr()).toMatch(/not the leader/);
    const retiredLines = routers.flatMap((r) => actions(r).filter((l) => /lobby@1\.1\.0.* retired \(/.test(l)));
    expect(retiredLines).toHaveLength(1);
  }, 120_000);
});
