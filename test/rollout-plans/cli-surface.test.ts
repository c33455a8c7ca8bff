import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, makeRolloutProject, type RolloutProject } from '../helpers/rollout-project.js';

/**
 * The surface of `deploy --steps` and `rollout …` for people and CI, with
 * no router running (so nothing moves the plan but the commands): a bad
 * plan exits 2 naming its step before anything starts; dry runs change
 * nothing; the first step is committed and the command returns; a second
 * rollout is refused before it starts anything; status, pause, resume and
 * promote; `--wait` times out with exit 3 and says where the plan is.
 * Real PM2 under a temp PM2_HOME, the built CLI.
 */
let p: RolloutProject;

beforeAll(async () => {
  p = await makeRolloutProject({ versions: ['1.0.0', '1.1.0', '1.2.0'], prefix: 'sy-plan-cli-' });
}, 60_000);

afterAll(async () => {
  await p?.cleanup();
  await assertNothingLeft();
}, 60_000);

describe('deploy --steps and rollout commands', () => {
  it.each<[string, string[], string, RegExp]>([
    ['a weight that goes down', ['--steps', '10:2m,5:1m,100'], 'invalid_steps', /step 2 \("5:1m"\): expected a canary weight above the step before's 10/],
    ['a pause that is no duration', ['--steps', '10:soon,100'], 'invalid_steps', /step 1 \("10:soon"\): expected a pause that is a duration/],
    ['no plan configured', ['--steps'], 'no_plan', /services\.lobby\.rollout\.steps is not set .* like --steps 10:2m,50:5m,100/],
    ['with --canary', ['--steps', '10,100', '--canary', '5'], 'steps_conflict', /leave out --canary/],
  ])('%s exits 2 naming what is wrong, before anything starts', async (_what, flags, error, message) => {
    const bad = await p.cliJson(['deploy', '1.0.0', ...flags]);
    expect(bad.exitCode).toBe(2);
    expect(bad.json).toMatchObject({ ok: false, error });
    expect(bad.json.message).toMatch(message);
    expect(await p.pm2Jlist()).toEqual([]);
  });

  it('a dry run shows the canary and the plan, and changes nothing; the first step is committed and the command returns', async () => {
    expect((await p.cliJson(['deploy', '1.0.0'])).exitCode).toBe(0);
    const before = await p.policy();
    const dry = await p.cliJson(['deploy', '1.1.0', '--steps', '10:1m,100', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.json.changes).toEqual(expect.arrayContaining(['lobby: canary none → 1.1.0 at 10%', 'lobby: rollout of 1.1.0 started: plan 10:1m,100']));
    expect(await p.policy()).toEqual(before);

    const started = await p.cliJson(['deploy', '1.1.0', '--steps', '10:1m,100']);
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.json).toMatchObject({ ok: true, version: '1.1.0', canary: 10, rollout: { state: 'progressing', step: 1, steps: 2, canary: 10, plan: '10:1m,100', from: '1.0.0', by: { kind: 'ci' } } });
    expect(started.stderr).toMatch(/rollout of lobby@1\.1\.0 started: plan 10:1m,100, step 1 \(canary 10%\) committed/);
    expect(started.json.warnings).toEqual([expect.stringMatching(/router is not answering/)]);

    const other = await p.cliJson(['deploy', '1.2.0', '--steps', '50,100']);
    expect(other.exitCode).toBe(2);
    expect(other.json).toMatchObject({ ok: false, error: 'rollout_in_progress' });
    expect((await p.pm2Jlist()).some((x) => x.name.startsWith('lobby@1.2.0'))).toBe(false);
  });

  it('rollout status, pause, resume and promote', async () => {
    const status = await p.cliJson(['rollout', 'status']);
    expect(status.exitCode, status.stderr).toBe(0);
    const view = status.json.rollouts.lobby;
    expect(view).toMatchObject({ version: '1.1.0', state: 'progressing', step: 1, verdicts: [] });
    expect(view.pauseLeftMs).toBeGreaterThan(30_000);
    expect((await p.cli(['rollout', 'status'])).stdout).toMatch(/lobby: rollout of 1\.1\.0 \(from 1\.0\.0\): PROGRESSING\n {2}plan {6}10:1m,100\n {2}step {6}1 of 2, canary 10%, held \d+s more/);

    const paused = await p.cliJson(['rollout', 'pause', '--reason', 'looking at the dashboards']);
    expect(paused.json).toMatchObject({ ok: true, verb: 'pause', unchanged: false, rollout: { state: 'paused', reason: 'looking at the dashboards', pauseLeftMs: null } });
    expect((await p.cliJson(['rollout', 'pause'])).json).toMatchObject({ ok: true, unchanged: true });
    const dry = await p.cliJson(['rollout', 'resume', '--dry-run']);
    expect(dry.json.changes).toEqual([expect.stringMatching(/^lobby: rollout of 1\.1\.0 progressing$/)]);
    expect((await p.policy()).services.lobby.rollout.state).toBe('paused');
    expect((await p.cliJson(['rollout', 'resume'])).json).toMatchObject({ ok: true, rollout: { state: 'progressing' } });

    const promoted = await p.cliJson(['rollout', 'promote']);
    expect(promoted.exitCode, promoted.stderr).toBe(0);
    expect(promoted.json).toMatchObject({ ok: true, verb: 'promote', rollout: { state: 'completed', reason: expect.stringMatching(/promoted, skipping the remaining steps, by hand/) } });
    const policy = await p.policy();
    expect(policy.services.lobby).toMatchObject({ target: '1.1.0', canary: null });
    const history = await p.cliJson(['policy', 'history']);
    expect(JSON.stringify(history.json)).toMatch(/rollout of 1\.1\.0 completed/);
  });

  it('--wait with the router down times out with exit 3, says where the plan is, and the plan goes on', async () => {
    const waited = await p.cliJson(['deploy', '1.2.0', '--steps', '20:1s,100', '--wait', '--timeout', '1s'], { timeoutMs: 60_000 });
    expect(waited.exitCode, waited.stderr).toBe(3);
    expect(waited.json).toMatchObject({ ok: false, error: 'rollout_timeout', rollout: { state: 'progressing', step: 1 }, deployed: { version: '1.2.0' } });
    expect(waited.json.message).toMatch(/it goes on, run by the router/);
    expect((await p.policy()).services.lobby.rollout).toMatchObject({ version: '1.2.0', state: 'progressing' });
    const none = await p.cliJson(['rollout', 'abort', '--dry-run']);
    expect(none.exitCode, none.stderr).toBe(0);
  });
});
