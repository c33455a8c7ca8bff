import { describe, expect, it } from 'vitest';
import { claimStop } from '../../src/core/policy-transitions.js';
import { commitChange } from '../../src/ops/commit.js';
import { rollback } from '../../src/ops/rollback.js';
import { playOnce, portBlocks } from './model-run.js';
import type { Action } from './model-world.js';
import { World } from './model-world.js';

/**
 * Fixed cases of the control plane's model: lists of actions that once
 * failed, replayed as they were found, and the interleaving behind the
 * failure of issue "One path for every change" (finding 7) played step by
 * step, so it stays found.
 */
const next = portBlocks(false);

/**
 * The two-router model's counterexample (seed -438491218, path "20"): leader
 * failovers mixed with rollbacks, promotes and deploys racing one another.
 * It reported "stopped lobby@1.0.0#0.g3 while 1.0.0 is the target".
 */
const FINDING_7: Action[] = [
  { kind: 'beat' }, { kind: 'race', a: { kind: 'disconnect', n: 1 }, b: { kind: 'beat' } }, { kind: 'deploy', version: '1.2.0', role: 'target' },
  { kind: 'race', a: { kind: 'tick', router: 0 }, b: { kind: 'rollback', version: '1.0.0' } }, { kind: 'promote', version: '1.0.0' },
  { kind: 'race', a: { kind: 'promote', version: '1.1.0' }, b: { kind: 'deploy', version: '1.1.0', role: 'target' } },
  { kind: 'race', a: { kind: 'tick' }, b: { kind: 'failover', afterMs: 0 } }, { kind: 'race', a: { kind: 'beat' }, b: { kind: 'beat' } },
  { kind: 'disconnect', n: 3 }, { kind: 'race', a: { kind: 'tick' }, b: { kind: 'failover', afterMs: 5 } },
  { kind: 'race', a: { kind: 'tick' }, b: { kind: 'failover', afterMs: 0 } }, { kind: 'race', a: { kind: 'promote', version: '1.2.0' }, b: { kind: 'connect', n: 3 } },
  { kind: 'beat' }, { kind: 'disconnect', n: 3 }, { kind: 'race', a: { kind: 'deploy', version: '1.1.0', role: 'target' }, b: { kind: 'rollback', version: '1.0.0' } },
  { kind: 'rollback', version: '1.0.0' }, { kind: 'race', a: { kind: 'tick' }, b: { kind: 'failover', afterMs: 13 } },
  { kind: 'race', a: { kind: 'deploy', version: '1.1.0', role: 'target' }, b: { kind: 'tick', router: 0 } },
  { kind: 'race', a: { kind: 'tick' }, b: { kind: 'failover', afterMs: 1 } }, { kind: 'connect', n: 2 },
];

/**
 * Found by the planted-bugs suite's plant-free run (seed 1974110290): a
 * deploy lands, a terminal connects to its process, the head goes back to
 * the deploy's claim before the loop saw the deploy's record, and the next
 * deploy marks that start abandoned. The loop deleted the failed process
 * while the terminal was on it; it now waits for its terminals to leave.
 */
const FINDING_8: Action[] = [
  { kind: 'ticks', n: 4, gapMs: 5 }, { kind: 'beat' }, { kind: 'tick' }, { kind: 'beat' }, { kind: 'deploy', version: '1.1.0', role: 'target' },
  { kind: 'beat' }, { kind: 'deploy', version: '1.1.0', role: 'target' }, { kind: 'connect', n: 1 }, { kind: 'beat' }, { kind: 'goBack', n: 1 },
  { kind: 'ticks', n: 4, gapMs: 5 }, { kind: 'connect', n: 1 },
  { kind: 'seq', steps: [
    { kind: 'deploy', version: '1.0.0', role: 'target' }, { kind: 'connect', n: 1 }, { kind: 'beat' }, { kind: 'deploy', version: '1.1.0', role: 'active' },
    { kind: 'promote', version: '1.1.0', skewMs: -300_000 }, { kind: 'tick' }, { kind: 'advance', ms: 360_000 }, { kind: 'tick' },
  ] },
];

describe('control plane model: fixed cases', () => {
  it('finding 8, as found: a failed start that terminals reached after the head went back is deleted only after they left', async () => {
    for (let i = 0; i < 5; i += 1) expect(await playOnce(FINDING_8, next(), 1)).toEqual([]);
  }, 120_000);

  it('finding 7, as found: ten replays of the counterexample keep every invariant', async () => {
    for (let i = 0; i < 10; i += 1) expect(await playOnce(FINDING_7, next(), 2)).toEqual([]);
  }, 120_000);

  it('finding 7, step by step: a stop claimed by a deposed leader, then a rollback to that version, then the new leader stops the stale incarnation while a new one serves', async () => {
    const world = await World.create(next(), 2);
    try {
      await world.run({ kind: 'deploy', version: '1.0.0', role: 'target' });
      await world.run({ kind: 'deploy', version: '1.1.0', role: 'target' });
      const head = await world.store.peek();
      const stale = head.services.lobby!.processes.find((p) => p.version === '1.0.0' && p.state === 'draining')!;
      // The leader (router 0) claimed the drained process's stop, then lost its lease before it acted.
      const deposed = world.leaderships[0]!.self;
      await commitChange({ store: world.store, clock: { now: () => new Date(), mono: () => performance.now() } }, 'claim stops (drained)', (p) => claimStop(p, 'lobby', [stale.id], { now: new Date(), reason: 'drained', owner: deposed }));
      await world.run({ kind: 'failover' });
      // A rollback to 1.0.0: its process is claimed for a stop, so a new incarnation is started, then it is the target.
      await world.command('rollback', {}, (deps) => rollback(deps, { service: world.service, to: '1.0.0', token: 'a'.repeat(64), env: {} }));
      const rolled = await world.store.peek();
      const fresh = rolled.services.lobby!.processes.find((p) => p.version === '1.0.0' && p.state === 'active')!;
      expect(rolled.services.lobby!.target).toBe('1.0.0');
      expect(fresh.id).not.toBe(stale.id);
      // The new leader takes the deposed one's claim over and stops the stale incarnation; the fresh one serves on.
      await world.run({ kind: 'tick', router: 1 });
      await world.loops[1]!.idle();
      const after = await world.store.peek();
      expect(after.services.lobby!.processes.find((p) => p.id === stale.id)?.state).toBe('retired');
      expect(world.pm2.running.has(stale.id)).toBe(false);
      expect(world.pm2.running.has(fresh.id)).toBe(true);
      await world.check('finding 7');
      expect(world.violations).toEqual([]);
    } finally {
      await world.close();
    }
  }, 60_000);
});
