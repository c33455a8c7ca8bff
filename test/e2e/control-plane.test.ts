import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.js';
import { assertNothingLeft, makeRolloutProject, type RolloutProject } from '../helpers/rollout-project.js';

/**
 * Issue "One path for every change", end to end on a real PM2 with the
 * built CLI: a version PM2 would read as a file name, `policy apply` held to
 * the transition rules, and `status --prune` in a loop beside deploys.
 */
const RC = '1.4.0-rc.yml';

describe('the control plane end to end', () => {
  let p: RolloutProject;
  beforeAll(async () => {
    p = await makeRolloutProject({ versions: [RC, '1.5.0', '1.6.0', '1.7.0', '1.8.0', '1.9.0', '2.0.0', '2.1.0'], grace: 1, heartbeatInterval: '300ms', portCount: 20 });
    expect((await p.cli(['router', 'start'])).exitCode).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await p?.cleanup();
    await assertNothingLeft();
  }, 60_000);

  const names = async () => (await p.pm2Jlist()).map((q) => q.name);

  it(`the lifecycle of ${RC}: deployed, drained to zero and retired, deployed again and stopped at once, all gone from PM2`, async () => {
    const first = await p.cliJson(['deploy', RC]);
    expect(first.exitCode, first.stderr).toBe(0);
    const rcId = first.json.processes[0].id as string;
    expect(await names()).toContain(rcId);
    // 1.5.0 becomes the target; the router retires the drained rc (no terminal holds it).
    const next = await p.cliJson(['deploy', '1.5.0', '--wait', '--timeout', '30s']);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.json).toMatchObject({ previousTarget: RC, retiredAfterMs: expect.any(Number) });
    expect(await names()).not.toContain(rcId);
    // Again, not promoted, then drained at once.
    const again = await p.cliJson(['deploy', RC, '--no-promote']);
    expect(again.exitCode, again.stderr).toBe(0);
    const againId = again.json.processes[0].id as string;
    const now = await p.cliJson(['drain', RC, '--now']);
    expect(now.exitCode, now.stderr).toBe(0);
    expect(now.json.stopped).toEqual([againId]);
    expect(await names()).not.toContain(againId);
    const policy = await p.policy();
    expect(policy.services.lobby.processes.filter((q: { version: string }) => q.version === RC).map((q: { state: string }) => q.state)).toEqual(['retired', 'retired']);
    console.log(`[control plane] ${RC}: ${rcId} retired by the router after a promote, ${againId} stopped by drain --now; PM2 lists neither`);
  }, 90_000);

  it('policy apply refuses each change that breaks the rules (exit 2, naming it), applies an ordinary edit, and --force writes the reason into the history', async () => {
    const head = await p.policy();
    const lobby = head.services.lobby;
    const target = lobby.processes.find((q: { version: string; state: string }) => q.version === '1.5.0' && q.state === 'active');
    const retired = lobby.processes.find((q: { state: string }) => q.state === 'retired');
    const variant = async (name: string, change: (svc: any) => void) => {
      const policy = structuredClone(head);
      change(policy.services.lobby);
      await writeFile(join(p.dir, `${name}.json`), JSON.stringify(policy));
      return p.cliJson(['policy', 'apply', `${name}.json`]);
    };
    const refused: Array<[string, (svc: any) => void, string]> = [
      ['no-process-target', (svc) => { svc.target = '9.9.9'; }, 'the target 9.9.9 would have no active process'],
      ['retired-back', (svc) => { svc.processes = svc.processes.filter((q: any) => q.id !== target.id); svc.processes.find((q: any) => q.id === retired.id).state = 'active'; svc.target = retired.version; }, `${retired.id} is retired and would become active`],
      ['dropped-target', (svc) => { svc.processes = svc.processes.filter((q: any) => q.id !== target.id); }, `${target.id} is active and would be dropped`],
      ['shared-port', (svc) => { svc.processes.push({ ...target, id: `lobby@1.6.0#0`, version: '1.6.0' }); }, `would both hold port ${target.port}`],
      ['moved', (svc) => { svc.processes.find((q: any) => q.id === target.id).address = 'edge-9.example.com'; }, `${target.id} runs on local at 127.0.0.1:${target.port}`],
    ];
    for (const [name, change, says] of refused) {
      const result = await variant(name, change);
      expect(result.exitCode, `${name}: ${result.stderr}`).toBe(2);
      expect(result.json).toMatchObject({ ok: false, error: 'apply_refused' });
      expect(result.stderr).toContain(says);
      expect((await p.policy()).generation).toBe(head.generation);
    }
    const ordinary = await variant('ordinary', (svc) => { svc.login = 'allow'; });
    expect(ordinary.exitCode, ordinary.stderr).toBe(0);
    expect(ordinary.json).toMatchObject({ ok: true, changed: true, generation: head.generation + 1 });
    // Forced: written, with the reason and the override kept.
    await writeFile(join(p.dir, 'forced.json'), JSON.stringify({ ...(await p.policy()), services: { lobby: { ...(await p.policy()).services.lobby, login: 'force', target: '9.9.9' } } }));
    const noReason = await p.cliJson(['policy', 'apply', 'forced.json', '--force']);
    expect(noReason.exitCode).toBe(2);
    expect(noReason.json.error).toBe('reason_required');
    const withReason = await p.cliJson(['policy', 'apply', 'forced.json', '--force', '--reason', 'a drill: the target is set by hand']);
    expect(withReason.exitCode, withReason.stderr).toBe(0);
    const history = await p.cliJson(['policy', 'history']);
    const last = history.json.revisions.at(-1);
    expect(last.change).toMatchObject({ op: 'apply forced', forced: true, reason: 'a drill: the target is set by hand' });
    // Put it right again, the ordinary way.
    await writeFile(join(p.dir, 'back.json'), JSON.stringify({ ...(await p.policy()), services: { lobby: { ...(await p.policy()).services.lobby, target: '1.5.0' } } }));
    expect((await p.cliJson(['policy', 'apply', 'back.json'])).exitCode).toBe(0);
    console.log(`[control plane] policy apply: ${refused.length} refusals with exit 2 (${refused.map((r) => r[0]).join(', ')}), an ordinary edit applied, a forced one kept its reason in the history`);
  }, 90_000);

  it('status --prune --yes in a loop beside deploys of new versions deletes nothing a deploy claimed', async () => {
    const versions = ['1.6.0', '1.7.0', '1.8.0', '1.9.0', '2.0.0', '2.1.0'];
    let pruning = true;
    let prunes = 0;
    const deletedOrphans: string[] = [];
    const loop = (async () => {
      while (pruning && prunes < 200) {
        const r = await spawnCli(['status', '--prune', '--yes'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
        prunes += 1;
        for (const line of String(r.stderr).split('\n')) if (line.includes('deleted the orphan')) deletedOrphans.push(line);
      }
    })();
    const results: number[] = [];
    for (const v of versions) {
      const d = await p.cliJson(['deploy', v, '--no-promote'], { timeoutMs: 60_000 });
      results.push(d.exitCode);
      expect(d.exitCode, `${v}: ${d.stderr}`).toBe(0);
    }
    pruning = false;
    await loop;
    const policy = await p.policy();
    const running = new Set(await names());
    for (const v of versions) {
      const live = policy.services.lobby.processes.filter((q: { version: string; state: string }) => q.version === v && q.state === 'active');
      expect(live.length, v).toBe(1);
      expect(running.has(live[0].id), `${live[0].id} runs`).toBe(true);
    }
    expect(deletedOrphans).toEqual([]);
    console.log(`[control plane] ${versions.length} deploys beside ${prunes} prunes: ${results.filter((c) => c === 0).length} deployed, 0 claimed processes deleted as orphans`);
  }, 180_000);
});
