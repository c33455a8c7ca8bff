import { afterEach, describe, expect, it } from 'vitest';
import type { Policy } from '../../src/core/policy-schema.js';
import { TallyBook } from '../../src/core/tally.js';
import type { Fleet, FleetProcess } from '../../src/fleet/fleet.js';
import { DrainController } from '../../src/router/drain-controller.js';
import { RouterMetrics } from '../../src/router/metrics.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { tempDir } from '../helpers/cli.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';

/**
 * The drain controller's grace, deterministically (in process, a fake
 * fleet, a clock of our own): zero heartbeats count only from the moment a
 * process drains. An old target that reported zero terminals for a long
 * time while it was still the target must not be stopped at the first pass
 * after the promote: a terminal sent to it just before the promote may be
 * connecting right then (failures.test.ts shows the cut-off on a real fleet).
 */

const INTERVAL = 1000;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const ACTIVE = policyOf({ lobby: service('1.0.0', [proc('lobby@1.0.0#0', 'active', 7500), proc('lobby@1.1.0#0', 'active', 7501)]) }, 1);
const DRAINING = policyOf({
  lobby: service('1.1.0', [
    proc('lobby@1.0.0#0', 'draining', 7500, { since: '2026-11-25T10:00:00.000Z', drainDeadline: '2099-01-01T00:00:00.000Z' }),
    proc('lobby@1.1.0#0', 'active', 7501),
  ]),
}, 2);

async function setup() {
  const { dir, cleanup } = await tempDir('sy-drain-grace-');
  cleanups.push(cleanup);
  const store = new PolicyStore(dir);
  await store.init();
  let written = await store.read();
  for (const policy of [ACTIVE, DRAINING]) written = await store.write(structuredClone(policy) as Policy, written.generation);
  let current: Policy = structuredClone(ACTIVE) as Policy;
  let now = 0;
  const tallies = new TallyBook({ intervalMs: INTERVAL, staleAfter: 3 });
  tallies.setKnown(['lobby@1.0.0#0', 'lobby@1.1.0#0'], now);
  const metrics = new RouterMetrics({ policy: () => current, tally: (s) => tallies.tally(s, now) });
  const removed: string[] = [];
  const listed: FleetProcess[] = [{ id: 'lobby@1.0.0#0', pid: 1, status: 'online', cpu: 0, memory: 0, uptimeMs: 1, restarts: 0 }];
  const fleet: Fleet = {
    host: 'local',
    start: async () => undefined,
    remove: async (id: string) => void removed.push(id),
    list: async () => listed,
    logTail: async () => '',
    close: async () => undefined,
  } as unknown as Fleet;
  const controller = new DrainController({
    store,
    current: () => current,
    tallies,
    metrics,
    fleet: async () => fleet,
    graceFor: () => 2,
    intervalMs: INTERVAL,
    log: () => undefined,
    now: () => now,
  });
  let seq = 0;
  const beat = (terminals: Record<string, number>) => {
    now += INTERVAL;
    tallies.ingest({ service: 'lobby', version: '1.0.0', process: 'lobby@1.0.0#0', seq: seq++, terminals }, now);
  };
  return {
    controller, removed, store, beat,
    drain: () => {
      current = structuredClone(DRAINING) as Policy;
    },
  };
}

describe('drain controller grace', () => {
  it('does not stop an old target at the first pass after the promote, however long it reported zero before', async () => {
    const t = await setup();
    for (let i = 0; i < 10; i++) t.beat({});
    await t.controller.tick();
    expect(t.removed).toEqual([]);

    t.drain();
    await t.controller.tick();
    expect(t.removed).toEqual([]);
    t.beat({});
    await t.controller.tick();
    expect(t.removed).toEqual([]);
    t.beat({});
    await t.controller.tick();
    // Two zero heartbeats since it drained: grace 2 reached.
    expect(t.removed).toEqual(['lobby@1.0.0#0']);
    expect((await t.store.read()).services.lobby!.processes.find((p) => p.id === 'lobby@1.0.0#0')!.state).toBe('retired');
  });

  it('keeps a process whose first heartbeats after the drain report the terminal that just connected', async () => {
    const t = await setup();
    for (let i = 0; i < 10; i++) t.beat({});
    t.drain();
    await t.controller.tick();
    t.beat({ '1.0.0': 1 });
    await t.controller.tick();
    t.beat({ '1.0.0': 1 });
    await t.controller.tick();
    expect(t.removed).toEqual([]);
    // The terminal leaves: grace counts again from there.
    t.beat({});
    await t.controller.tick();
    expect(t.removed).toEqual([]);
    t.beat({});
    await t.controller.tick();
    expect(t.removed).toEqual(['lobby@1.0.0#0']);
  });
});
