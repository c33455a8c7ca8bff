import { afterEach, describe, expect, it } from 'vitest';
import type { Policy, ProcessEntry } from '../../src/core/policy-schema.js';
import { promote, rollback, type Owner } from '../../src/core/policy-transitions.js';
import { TallyBook } from '../../src/core/tally.js';
import { ReconcileLoop } from '../../src/control/reconcile-loop.js';
import type { Fleet, FleetProcess, ProbeResult } from '../../src/fleet/fleet.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { tempDir } from '../helpers/cli.js';
import { np, started } from '../helpers/policy-builder.js';

/**
 * The reconcile loop's grace, deterministically (in process, a real policy
 * store in a temp folder, a fleet double, clocks of our own): zero
 * heartbeats count only from the moment a process drains. An old target
 * that reported zero terminals for a long time while it was still the
 * target must not be stopped at the first pass after the promote: a
 * terminal sent to it just before the promote may be connecting right then
 * (failures.test.ts shows the cut-off on a real fleet). Silence is never
 * zero. And the stop follows the protocol: claimed (`stopping`, owned by the
 * loop) in a committed generation before the fleet is asked to remove the
 * process, recorded `retired` after.
 */

const INTERVAL = 1000;
const DAY = 24 * 3600_000;
const WALL0 = Date.parse('2026-11-25T10:00:00.000Z');
const OLD = 'lobby@1.0.0#0.g1';
const NEW = 'lobby@1.1.0#0.g2';
const SELF: Owner = { id: 'router-test' };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** What the fleet saw when it was asked to remove a process: the head policy's entry at that instant. */
interface Removal {
  id: string;
  entry: ProcessEntry | undefined;
  generation: number;
}

/** PM2 for one host, in memory: lists what runs, records every remove with the policy at that moment. */
class FleetDouble implements Fleet {
  readonly host = 'local';
  readonly remote = false;
  readonly running = new Map<string, string>();
  readonly removals: Removal[] = [];
  /** Runs once inside the next list(): after the pass read the policy, before it claims anything. */
  duringNextList: (() => Promise<unknown>) | undefined;

  constructor(private readonly store: PolicyStore, ids: string[]) {
    for (const id of ids) this.running.set(id, 'online');
  }

  async list(): Promise<FleetProcess[]> {
    const hook = this.duringNextList;
    this.duringNextList = undefined;
    await hook?.();
    return [...this.running].map(([id, status], i) => ({ id, pid: 1000 + i, status, cpu: 0, memory: 0, uptimeMs: 1, restarts: 0 }));
  }

  async remove(id: string): Promise<void> {
    const head = await this.store.read();
    this.removals.push({ id, entry: head.services.lobby?.processes.find((p) => p.id === id), generation: head.generation });
    // As PM2's delete: gone from the list; an unknown name is no error (local-fleet checks first).
    this.running.delete(id);
  }

  resolvePath(path: string): string {
    return path;
  }
  async probe(): Promise<ProbeResult> {
    throw new Error('the reconcile loop never probes');
  }
  async copyFolder(): Promise<'none'> {
    throw new Error('the reconcile loop never copies');
  }
  async start(): Promise<void> {
    throw new Error('the reconcile loop never starts a process');
  }
  async logTail(): Promise<string> {
    return '';
  }
  async close(): Promise<void> {}
}

async function setup() {
  const { dir, cleanup } = await tempDir('sy-drain-grace-');
  cleanups.push(cleanup);
  const store = new PolicyStore(dir);
  await store.init();
  let mono = 0;
  const wall = () => new Date(WALL0 + mono);
  // A deploy of both versions, 1.0.0 the target: claimed, started, ready, promoted.
  await store.update((p) => started(p, 'lobby', [np(OLD, 7500), np(NEW, 7501)], wall()));
  await store.update((p) => promote(p, 'lobby', '1.0.0', wall(), DAY));
  const fleet = new FleetDouble(store, [OLD, NEW]);
  const tallies = new TallyBook({ intervalMs: INTERVAL, staleAfter: 3 });
  const retired: string[] = [];
  const logs: string[] = [];
  const loop = new ReconcileLoop({
    store,
    fleets: { get: async () => fleet, require: async () => fleet },
    tallies,
    grace: { lobby: 2 },
    intervalMs: INTERVAL,
    self: SELF,
    ownerAlive: () => undefined,
    log: (line) => logs.push(line),
    metrics: { retired: (service, reason) => retired.push(`${service} ${reason}`), cutOff: () => undefined },
    clock: { now: wall, mono: () => mono },
  });
  let seq = 0;
  const t = {
    store, fleet, loop, retired, logs,
    removed: () => fleet.removals.map((r) => r.id),
    state: async (id = OLD) => (await store.read()).services.lobby!.processes.find((p) => p.id === id),
    /** One heartbeat interval passes and the old process reports `terminals`. */
    beat: (terminals: Record<string, number>) => {
      mono += INTERVAL;
      tallies.ingest({ service: 'lobby', version: '1.0.0', process: OLD, seq: seq++, terminals }, mono);
    },
    /** One interval passes without a heartbeat from the old process. */
    silence: () => {
      mono += INTERVAL;
    },
    tick: async () => {
      const plan = await loop.tick();
      expect(plan, t.logs.join('\n')).toBeDefined();
      return plan!;
    },
    /** A pass, then `n` intervals each with a heartbeat of `terminals` and a pass; nothing may be stopped meanwhile. */
    passes: async (n: number, terminals: Record<string, number> = {}) => {
      await t.tick();
      for (let i = 0; i < n; i++) {
        t.beat(terminals);
        await t.tick();
      }
      expect(t.removed()).toEqual([]);
    },
    /** `n` intervals without a heartbeat, a pass each; nothing may be stopped meanwhile. */
    quietPasses: async (n: number) => {
      for (let i = 0; i < n; i++) {
        t.silence();
        await t.tick();
      }
      expect(t.removed()).toEqual([]);
    },
    drain: () => store.update((p) => promote(p, 'lobby', '1.1.0', wall(), DAY)),
    rollback: (to: string) => store.update((p) => rollback(p, 'lobby', to, wall(), DAY)),
  };
  return t;
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** The old process was stopped by the protocol: claimed stopping by the loop in a committed generation before the remove, retired after. */
async function expectStoppedByClaim(t: Setup, reason: string): Promise<void> {
  expect(t.removed()).toEqual([OLD]);
  const [removal] = t.fleet.removals;
  expect(removal!.entry).toMatchObject({ state: 'stopping', reason, owner: { id: SELF.id } });
  const after = await t.store.read();
  expect(after.generation).toBeGreaterThan(removal!.generation);
  expect(await t.state()).toMatchObject({ state: 'retired', reason });
  expect((await t.state())!.owner).toBeUndefined();
  expect(t.fleet.running.has(OLD)).toBe(false);
  expect(t.retired).toEqual([`lobby ${reason}`]);
  // The claim and the retire are separate committed generations, in that order.
  const history = await t.store.history();
  const revisions = await Promise.all(history.map((h) => t.store.revision(h.generation)));
  const stateAt = revisions.map((r) => r.services.lobby?.processes.find((p) => p.id === OLD)?.state);
  expect(stateAt.indexOf('stopping')).toBeGreaterThan(-1);
  expect(stateAt.indexOf('retired')).toBeGreaterThan(stateAt.indexOf('stopping'));
  expect(revisions[stateAt.indexOf('stopping')]!.generation).toBe(removal!.generation);
}

/** From a pass that has seen the drain: one zero interval is not enough (grace 2); the second stops it, by the protocol. */
async function expectGraceThenStop(t: Setup): Promise<void> {
  await t.passes(1);
  t.beat({});
  await t.tick();
  await expectStoppedByClaim(t, 'drained');
}

describe('reconcile loop grace', () => {
  it('does not stop an old target at the first pass after the promote, however long it reported zero before', async () => {
    const t = await setup();
    for (let i = 0; i < 10; i++) t.beat({});
    await t.passes(0);
    await t.drain();
    await t.passes(0);
    expect((await t.state())!.state).toBe('draining');
    await expectGraceThenStop(t);
    // The new target is untouched.
    expect((await t.state(NEW))!.state).toBe('active');
    expect(t.fleet.running.has(NEW)).toBe(true);
  });

  it('keeps a process whose first heartbeats after the drain report the terminal that just connected', async () => {
    const t = await setup();
    for (let i = 0; i < 10; i++) t.beat({});
    await t.drain();
    await t.passes(0);
    await t.passes(2, { '1.0.0': 1 });
    // The terminal leaves: grace counts again from there.
    await expectGraceThenStop(t);
  });

  it('never takes silence for zero: a stale process is kept until fresh zero heartbeats', async () => {
    const t = await setup();
    for (let i = 0; i < 10; i++) t.beat({});
    await t.drain();
    await t.passes(0);
    // Well past the stale window (3 intervals) without a heartbeat, a pass every interval.
    await t.quietPasses(12);
    expect((await t.state())!.state).toBe('draining');
    // It speaks again: the first fresh zero counts 1, not the 10 it had before.
    await expectGraceThenStop(t);
  });

  it('keeps a process whose version a rollback made the target before the claim', async () => {
    const t = await setup();
    await t.drain();
    await t.passes(0);
    await t.passes(1);
    await t.rollback('1.0.0');
    await t.passes(6);
    expect(await t.state()).toMatchObject({ state: 'active' });
    expect((await t.store.read()).services.lobby!.target).toBe('1.0.0');
    // Drained again later: the count starts from this drain, not from the zeros it reported as the target.
    await t.rollback('1.1.0');
    await t.passes(0);
    await expectGraceThenStop(t);
  });

  it.each<[string, (t: Setup) => Promise<unknown>, string]>([
    ['a rollback lands between the decision and the claim', (t) => t.rollback('1.0.0'), 'active'],
    ['the process is brought back and drained again', async (t) => {
      await t.rollback('1.0.0');
      t.silence();
      await t.rollback('1.1.0');
    }, 'draining'],
  ])('drops its decision when %s', async (_label, meanwhile, state) => {
    const t = await setup();
    await t.drain();
    await t.passes(0);
    await t.passes(1);
    t.beat({});
    // The pass that decides to stop reads the policy first; the change commits while it asks PM2.
    t.fleet.duringNextList = () => meanwhile(t);
    const plan = await t.tick();
    expect(plan.claimStops.map((d) => d.id)).toEqual([OLD]);
    expect(t.removed()).toEqual([]);
    expect(await t.state()).toMatchObject({ state });
    expect(t.fleet.running.has(OLD)).toBe(true);
    if (state === 'draining') {
      // The new drain gets its own grace, counted from the first pass that sees it.
      await t.passes(0);
      await expectGraceThenStop(t);
    }
  });

  it('claims a draining process PM2 lost as lost and records it retired in the same pass', async () => {
    const t = await setup();
    t.beat({ '1.0.0': 2 });
    await t.drain();
    t.fleet.running.delete(OLD);
    const plan = await t.tick();
    expect(plan.claimStops).toMatchObject([{ id: OLD, reason: 'lost', terminals: 2 }]);
    expect(await t.state()).toMatchObject({ state: 'retired', reason: 'lost', terminalsCutOff: 2 });
    expect(t.retired).toEqual(['lobby lost']);
    // Any remove it asked for came under the committed claim.
    expect(t.fleet.removals.every((r) => r.entry?.state === 'stopping')).toBe(true);
  });

  it('leaves every process running while no heartbeat says anything', async () => {
    const t = await setup();
    await t.drain();
    await t.quietPasses(8);
    const policy: Policy = await t.store.read();
    expect(policy.services.lobby!.processes.map((p) => p.state)).toEqual(['draining', 'active']);
  });
});
