import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, makeRolloutProject, type RolloutProject } from '../helpers/rollout-project.js';

/**
 * The rollout commands' surface for CI (issue 11): --dry-run changes
 * nothing, --port chooses the port, promote of the target is a no-op,
 * rollback --to, an unknown service exits 2, a --wait timeout still says
 * what was deployed, and a change made while the router is down warns.
 * A real PM2 under a temp PM2_HOME, the built CLI; the router is not started
 * until the last test.
 */
let p: RolloutProject;

beforeAll(async () => {
  p = await makeRolloutProject({ versions: ['1.0.0', '1.1.0', '1.2.0'], prefix: 'sy-surface-', portCount: 20 });
}, 60_000);

afterAll(async () => {
  await p?.cleanup();
  await assertNothingLeft();
}, 60_000);

describe('rollout commands for CI', () => {
  it('deploy --dry-run prints the plan and the diff, changes nothing, exits 0', async () => {
    const before = await p.policy();
    const dry = await p.cliJson(['deploy', '1.0.0', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.json).toMatchObject({ ok: true, dryRun: true, generation: before.generation, wouldWrite: before.generation + 1 });
    expect(dry.json.start).toEqual([expect.objectContaining({ id: `lobby@1.0.0#0.g${before.generation + 1}`, host: 'local' })]);
    expect(dry.json.changes).toEqual(expect.arrayContaining([expect.stringMatching(/target none → 1\.0\.0/)]));
    expect(await p.policy()).toEqual(before);
    expect(await p.pm2Jlist()).toEqual([]);
  });

  it('deploy --port starts on that port; with the router down it succeeds and warns', async () => {
    const port = p.ports.from + 7;
    const deployed = await p.cliJson(['deploy', '1.0.0', '--port', String(port)]);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    expect(deployed.json.hosts[0].ports).toEqual([port]);
    expect(deployed.json.warnings).toEqual([expect.stringMatching(/router is not answering/)]);
    expect(deployed.stderr).toMatch(/warning: the router is not answering/);
    const wrong = await p.cliJson(['deploy', '1.1.0', '--port', `${port},${port + 1}`]);
    expect(wrong.exitCode).toBe(2);
    expect(wrong.json).toMatchObject({ ok: false, error: 'invalid_port' });
  });

  it('promote of the current target is a no-op with exit 0; --dry-run changes nothing', async () => {
    const before = (await p.policy()).generation;
    const again = await p.cliJson(['promote', '1.0.0']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ ok: true, unchanged: true, generation: before });
    await p.cliJson(['deploy', '1.1.0', '--no-promote']);
    const dry = await p.cliJson(['promote', '1.1.0', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(dry.json.changes).toEqual(expect.arrayContaining(['lobby: target 1.0.0 → 1.1.0']));
    expect((await p.policy()).services.lobby.target).toBe('1.0.0');
  });

  it('rollback --to names the version; an unknown service exits 2', async () => {
    expect((await p.cliJson(['promote', '1.1.0'])).exitCode).toBe(0);
    await p.cliJson(['deploy', '1.2.0']);
    const rolled = await p.cliJson(['rollback', '--to', '1.0.0']);
    expect(rolled.exitCode, rolled.stderr).toBe(0);
    expect(rolled.json).toMatchObject({ ok: true, target: '1.0.0', previousTarget: '1.2.0' });
    const unknown = await p.cliJson(['status', '--service', 'nope']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.json).toMatchObject({ ok: false, error: 'unknown_service' });
  });

  it('a --wait that times out exits 3 and still reports what was deployed', async () => {
    // The router is down, so nothing retires the previous target: the wait must time out.
    const waited = await p.cliJson(['deploy', '1.2.0', '--wait', '--timeout', '1s']);
    expect(waited.exitCode, waited.stderr).toBe(3);
    expect(waited.json).toMatchObject({ ok: false, error: 'wait_timeout', deployed: { version: '1.2.0', previousTarget: '1.0.0', promoted: true } });
    expect(waited.json.deployed.generation).toBe((await p.policy()).generation);
  });
});
