import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { projectPool, routerStart, deployOk } from '../helpers/project-pool.js';
import { PM2_BIN, waitFor, type RolloutProject, type RolloutProjectOptions } from '../helpers/rollout-project.js';
import { Terminal, login } from '../helpers/rollout-terminals.js';
import { execa } from 'execa';

/**
 * The control plane's races on a real fleet (PM2 under a temp PM2_HOME, the
 * router and its reconcile loop under that PM2, the sample service): the
 * cases of the control-plane issue, each a test that counts what it saw.
 */
const pool = projectPool();
const project = (opts: RolloutProjectOptions) => pool.make(opts);
afterAll(() => pool.cleanupAll(), 120_000);
const deploy = deployOk;

/** Logs in as the target version and asks the process it is given: the service answers, or why not. */
async function targetAnswers(p: RolloutProject): Promise<string | undefined> {
  try {
    let answer = await login(p.routerUrl, { service: p.service, version: '0.0.1', terminal: 'probe' });
    // Follow version-change messages as a terminal does (the target may move between two logins).
    for (let hop = 0; hop < 3 && answer.action === 'upgrade'; hop += 1) {
      answer = await login(p.routerUrl, { service: p.service, version: answer.targetVersion, terminal: 'probe' });
    }
    if (answer.action !== 'connect') return `login kept answering upgrade (to ${answer.targetVersion})`;
    const response = await fetch(`http://${answer.address}:${answer.port}/healthz`, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.ok ? undefined : `${answer.process ?? answer.port} answered ${response.status}`;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Polls targetAnswers until stopped: every failure, with what it was. */
function watchTarget(p: RolloutProject): { stop(): Promise<{ probes: number; failures: string[] }> } {
  let running = true;
  const failures: string[] = [];
  let probes = 0;
  const loop = (async () => {
    while (running) {
      const why = await targetAnswers(p);
      probes += 1;
      if (why !== undefined) failures.push(why);
      await sleep(40);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { probes, failures };
    },
  };
}

const live = (policy: any, version?: string) =>
  (policy.services.lobby?.processes ?? []).filter((q: any) => (version === undefined || q.version === version) && !['retired', 'failed'].includes(q.state));

describe('control plane races on a real PM2 fleet', () => {
  it('deploy → rollback at gaps from 0 to 1 s, 10 times: the target always answers', async () => {
    const p = await project({ versions: ['1.0.0', '1.1.0'], prefix: 'sy-race-rb-', heartbeatInterval: '200ms' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    const watch = watchTarget(p);
    const outcomes: string[] = [];
    for (let trial = 0; trial < 10; trial += 1) {
      const target = (await p.policy()).services.lobby.target as string;
      const other = target === '1.0.0' ? '1.1.0' : '1.0.0';
      await deploy(p, other);
      await sleep(trial * 100);
      const rolled = await p.cliJson(['rollback']);
      expect([0, 4], rolled.stderr).toContain(rolled.exitCode);
      outcomes.push(`${trial * 100}ms:${rolled.exitCode === 0 ? (rolled.json.restarted.length > 0 ? 'restarted' : 'revived') : 'conflict'}`);
      const after = await p.policy();
      expect(live(after, after.services.lobby.target).length, JSON.stringify(after.services.lobby.processes)).toBeGreaterThan(0);
      expect(await targetAnswers(p)).toBeUndefined();
    }
    // The drain of the version rolled away from still finishes, and the target keeps answering.
    await sleep(p.heartbeatMs * 6);
    const { probes, failures } = await watch.stop();
    console.log(`[races] deploy → rollback, 10 trials (${outcomes.join(', ')}): ${probes} target probes, ${failures.length} failed${failures.length > 0 ? `: ${failures.join(' | ')}` : ''}`);
    expect(failures).toEqual([]);
  }, 180_000);

  it('redeploying a draining version that holds a terminal brings it back: same pid, same session', async () => {
    const p = await project({ versions: ['1.0.0', '1.1.0'], prefix: 'sy-race-redeploy-' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    const t = new Terminal(p.routerUrl, 'lobby', 't-stays', '1.0.0');
    await t.connect();
    const before = live(await p.policy(), '1.0.0')[0];
    const pidBefore = (await p.pm2Jlist()).find((q) => q.name === before.id)!.pid;
    await deploy(p, '1.1.0');
    expect(live(await p.policy(), '1.0.0')[0].state).toBe('draining');
    const again = await deploy(p, '1.0.0');
    expect(again.processes).toEqual([]);
    const after = live(await p.policy(), '1.0.0');
    expect(after.map((q: any) => [q.id, q.state])).toEqual([[before.id, 'active']]);
    expect((await p.pm2Jlist()).find((q) => q.name === before.id)!.pid).toBe(pidBefore);
    expect(t.closed).toBeUndefined();
    expect((await t.echo('still here')).version).toBe('1.0.0');
    await waitFor('the router to count the terminal on 1.0.0', async () => {
      const s = await p.routerStatus();
      return s?.services.lobby.processes.find((q: any) => q.id === before.id)?.terminals === 1 ? true : undefined;
    });
    t.terminate();
  }, 120_000);

  it('a target process killed with -9 is restarted by PM2; one deleted from PM2 is never routed to, and the router starts a new incarnation in its place', async () => {
    const p = await project({ versions: ['1.0.0'], instances: 2, prefix: 'sy-race-missing-' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    const [first, second] = live(await p.policy(), '1.0.0');
    const jlist = await p.pm2Jlist();
    const firstPid = jlist.find((q) => q.name === first.id)!.pid;
    process.kill(firstPid, 'SIGKILL');
    await waitFor('PM2 to restart it, and it to answer again', async () => {
      const seen = (await p.pm2Jlist()).find((q) => q.name === first.id);
      if (seen === undefined || seen.pid === firstPid || seen.pm2_env.status !== 'online') return undefined;
      const ok = await fetch(`http://127.0.0.1:${first.port}/healthz`).then((r) => r.ok, () => false);
      return ok ? true : undefined;
    });
    expect(await targetAnswers(p)).toBeUndefined();

    // Gone from PM2 altogether (a hand-run `pm2 delete`): once the loop has seen it gone, it is never routed to,
    // and the loop starts a new incarnation in its place.
    const deleted = await execa(PM2_BIN, ['delete', second.id], { env: { ...process.env, ...p.env }, reject: false });
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    await waitFor('the router to see it gone (missing, or already replaced)', async () => {
      const s = await p.cliJson(['status']);
      const entry = s.json.services?.lobby?.processes?.find((q: any) => q.id === second.id);
      return s.json.problems?.some((q: any) => q.kind === 'missing' && q.id === second.id) || entry?.state !== 'active' ? true : undefined;
    });
    const given = new Set<string>();
    for (let i = 0; i < 20; i += 1) {
      const answer = await login(p.routerUrl, { service: 'lobby', version: '1.0.0', terminal: `t-${i}` });
      if (answer.action === 'connect') given.add(answer.process ?? String(answer.port));
    }
    expect(given.has(second.id)).toBe(false);
    const fresh = await waitFor('a new incarnation in its place, the lost one retired', async () => {
      const h = await p.policy();
      const next = live(h, '1.0.0').find((q: any) => q.id !== first.id && q.id !== second.id && q.state === 'active');
      return next !== undefined && h.services.lobby.processes.find((q: any) => q.id === second.id)?.state === 'retired' ? next : undefined;
    }, { timeoutMs: 20_000 });
    expect((await p.pm2Jlist()).filter((q) => q.name.startsWith('lobby@')).map((q) => q.name).sort()).toEqual([first.id, fresh.id].sort());
    const checked = await p.cliJson(['status', '--check']);
    expect(checked.exitCode, checked.stderr).toBe(0);
  }, 120_000);

  it('two deploys of one version at once: at most one starts it, and the target always answers', async () => {
    const p = await project({ versions: ['1.0.0', '1.1.0', '1.2.0', '1.3.0'], prefix: 'sy-race-twin-' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    const watch = watchTarget(p);
    const codes: string[] = [];
    for (const version of ['1.1.0', '1.2.0', '1.3.0']) {
      const runs = await Promise.all([p.cliJson(['deploy', version]), p.cliJson(['deploy', version])]);
      codes.push(runs.map((r) => r.exitCode).join('/'));
      for (const r of runs) expect([0, 4], r.stderr).toContain(r.exitCode);
      expect(runs.some((r) => r.exitCode === 0)).toBe(true);
      const policy = await p.policy();
      expect(policy.services.lobby.target).toBe(version);
      expect(live(policy, version).filter((q: any) => q.state === 'active')).toHaveLength(1);
      const running = (await p.pm2Jlist()).filter((q) => q.name.startsWith(`lobby@${version}#`));
      expect(running.map((q) => q.name)).toEqual(live(policy, version).map((q: any) => q.id));
    }
    const { probes, failures } = await watch.stop();
    console.log(`[races] two deploys at once, exit codes ${codes.join(', ')}: ${probes} target probes, ${failures.length} failed`);
    expect(failures).toEqual([]);
  }, 120_000);
});
