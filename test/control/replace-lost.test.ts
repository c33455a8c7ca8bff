import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, makeRolloutProject, PM2_BIN, waitFor, type RolloutProject } from '../helpers/rollout-project.js';

/**
 * A process of the target lost from PM2 (deleted behind switchyard's back,
 * or gone with a daemon that died) is replaced by the router's reconcile
 * loop: a new incarnation, claimed and started through the one launch path,
 * the lost one recorded retired. The router runs under PM2 itself, so
 * nothing of PM2's bookkeeping in its environment may reach the new process
 * (PM2 would start the router's own script again under its name).
 */
describe('a lost process of the target is replaced by the router', () => {
  let p: RolloutProject;
  afterAll(async () => {
    await p?.cleanup();
    await assertNothingLeft();
  });

  it('starts a new incarnation on the same host within a few intervals, retires the lost one, and starts nothing else', async () => {
    p = await makeRolloutProject({ versions: ['1.0.0'], heartbeatInterval: '300ms' });
    expect((await p.cli(['router', 'start'])).exitCode).toBe(0);
    const deployed = await p.cliJson(['deploy', '1.0.0']);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    const lost = deployed.json.processes[0].id as string;
    const at = Date.now();
    await execa(PM2_BIN, ['delete', lost], { env: { ...process.env, PM2_HOME: p.pm2Home } });
    const fresh = await waitFor('a new incarnation of 1.0.0 online', async () => {
      const named = (await p.pm2Jlist()).filter((q) => q.name.startsWith('lobby@1.0.0#') && q.name !== lost && q.pm2_env.status === 'online');
      return named.length > 0 ? named[0]!.name : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100 });
    const replacedMs = Date.now() - at;
    const policy = await waitFor('the lost one recorded retired', async () => {
      const h = await p.policy();
      return h.services.lobby.processes.find((q: { id: string }) => q.id === lost)?.state === 'retired' ? h : undefined;
    }, { timeoutMs: 10_000 });
    expect(policy.services.lobby.target).toBe('1.0.0');
    expect(policy.services.lobby.processes.find((q: { id: string }) => q.id === fresh).state).toBe('active');
    // Only the router and the new process run: no second router was started by a leaked environment.
    expect((await p.pm2Jlist()).map((q) => q.name).sort()).toEqual([fresh, 'switchyard-router'].sort());
    const login = await (await fetch(`${p.routerUrl}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: 'lobby', version: '1.0.0', terminal: 't' }) })).json() as { action: string; port: number };
    expect(login.action).toBe('connect');
    expect((await fetch(`http://127.0.0.1:${login.port}/healthz`)).ok).toBe(true);
    console.log(`[replace lost] ${lost} deleted from PM2: ${fresh} online ${replacedMs} ms later, the lost one retired; logins reach the new one`);
  }, 60_000);
});
