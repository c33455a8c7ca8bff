import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig } from '../../src/config/load.js';
import type { Config, ServiceConfig } from '../../src/config/schema.js';
import { leasedLeadership, soleLeadership, type Leadership } from '../../src/control/leadership.js';
import { ReconcileLoop } from '../../src/control/reconcile-loop.js';
import { RolloutLoop } from '../../src/control/rollout-loop.js';
import { isSwitchyardError } from '../../src/core/errors.js';
import type { Policy } from '../../src/core/policy-schema.js';
import type { Owner } from '../../src/core/policy-transitions.js';
import { TallyBook } from '../../src/core/tally.js';
import { LocalFleet } from '../../src/fleet/local-fleet.js';
import type { Fleets } from '../../src/fleet/fleets.js';
import type { OpsDeps } from '../../src/ops/deps.js';
import { newOwner } from '../../src/ops/owner.js';
import { Pm2Double } from '../helpers/pm2-double.js';
import { performAction, type Action } from './model-actions.js';
import { ModelTraffic, RolloutChecker } from './model-rollouts.js';
import { FaultyStore, type ModelLease } from './model-store.js';

export type { Action } from './model-actions.js';

export const INTERVAL = 1000;
const DRAIN_TIMEOUT_MS = 10 * 60_000;

/** One command run in the model: who it is, where it would be killed, and whether it was. */
export interface CommandContext {
  owner: Owner;
  kind: string;
  crash?: 'afterClaim' | 'afterStart';
  killed: boolean;
  kill(): void;
}

/**
 * The world of the control plane's model test: the shipped operations
 * (src/ops/) and the shipped reconcile loop, on the real file store with
 * faults played on it (model-store.ts), over the real LocalFleet adapter on
 * a double of PM2 itself (pm2-double.ts). Virtual time (`offset`) moves
 * heartbeats, drain deadlines and claims forward without waiting; every
 * command may run on a clock of its own (skewed) and on another host
 * (its liveness unknown to the routers). A command is killed by never
 * letting it go on: it does nothing more, as a killed process does.
 */
export class World {
  readonly pm2 = new Pm2Double();
  readonly fleets: Fleets;
  readonly tallies = new TallyBook({ intervalMs: INTERVAL, staleAfter: 3 });
  readonly violations: string[] = [];
  readonly terminals = new Map<string, number>();
  /** Processes killed from outside (a fault, not a decision): the control plane can only alarm about them. */
  readonly killed = new Set<string>();
  /** Processes that crashed and that PM2 restarts by itself: never lost, so never claimed lost nor replaced. */
  readonly pm2Restarted = new Set<string>();
  readonly counts = { actions: 0, refused: 0, conflicts: 0, crashes: 0, stops: 0, ticks: 0, rolloutTicks: 0, failovers: 0, unknown: 0, pruned: 0 };
  readonly seq = new Map<string, number>();
  /** The last token each router held (a deposed one keeps sending it). */
  readonly tokens = new Map<number, number>();
  private readonly hashes = new Map<number, string>();
  offset = 0;
  readonly loops: ReconcileLoop[] = [];
  /** Each router's rollout loop, under the same lease as its reconcile loop. */
  readonly rolloutLoops: RolloutLoop[] = [];
  readonly traffic = new ModelTraffic();
  readonly rollouts = new RolloutChecker();
  readonly leaderships: Leadership[] = [];
  readonly commands = new AsyncLocalStorage<CommandContext>();
  private readonly inFlight = new Set<string>();
  /** Which command claimed each incarnation it started. */
  readonly claimedBy = new Map<string, string>();
  /** True time (virtual) each process was first seen draining, with the `since` it was seen with. */
  private readonly drainSeen = new Map<string, { since: string; at: number }>();
  wentBack = false;
  /** The highest generation a router saw before the store went back (its alarm), -1 when none did. */
  regressedFrom = -1;
  private checkedGeneration = 0;

  private constructor(readonly dir: string, readonly config: Config, readonly store: FaultyStore, readonly lease: ModelLease) {
    const fleet = LocalFleet.over('local', this.pm2, join(dir, 'logs'));
    this.fleets = { get: async () => fleet, require: async () => fleet };
  }

  /** The loop of the router holding the lease. */
  get loop(): ReconcileLoop {
    return this.loops[this.lease.holder]!;
  }

  /** Virtual wall time, true (no skew). */
  now(): number {
    return Date.now() + this.offset;
  }

  /** `routers` reconcile loops share the store and the tally; above one, only the lease holder may act. */
  static async create(portBase: number, routers = 1, versions: readonly string[] = ['1.0.0', '1.1.0', '1.2.0', '1.2.0-rc.yml']): Promise<World> {
    const dir = await mkdtemp(join(tmpdir(), 'sy-model-'));
    // The real adapter checks the script is there; the double of PM2 never runs it.
    for (const v of versions) {
      await mkdir(join(dir, 'releases', v), { recursive: true });
      await writeFile(join(dir, 'releases', v, 'server.js'), '');
    }
    const raw = {
      hosts: { local: { address: '127.0.0.1' } },
      services: { lobby: {
        script: 'releases/{version}/server.js', ports: `${portBase}-${portBase + 199}`, readiness: { timeout: '5s' }, drain: { grace: 2, timeout: '10m' },
        rollout: { analysis: { interval: '1s', failureLimit: 2, inconclusiveLimit: 2, minRequests: 10, maxErrorRate: '5%' } },
      } },
    };
    const { config } = checkConfig(raw, join(dir, 'switchyard.config.yaml'), { cwd: dir, env: {} });
    const lease: ModelLease = { holder: 0, token: 1 };
    const store = new FaultyStore(config.stateDir, lease);
    await store.init();
    const world: World = new World(dir, config, store, lease);
    store.blocked = () => world.commands.getStore()?.killed === true;
    store.onCommit = (written) => world.noteDrains(written);
    for (let i = 0; i < routers; i += 1) {
      const self = newOwner('router');
      const leadership = routers === 1 ? soleLeadership(self) : leasedLeadership(self, {
        isLeader: () => lease.holder === i,
        fence: () => (lease.holder === i ? lease.token : world.tokens.get(i)),
        holder: () => ({ ownerId: world.leaderships[lease.holder]!.self.id }),
      });
      world.leaderships.push(leadership);
      world.loops.push(new ReconcileLoop({
        store,
        fleets: world.fleets,
        tallies: world.tallies,
        grace: { lobby: 2 },
        intervalMs: INTERVAL,
        self: leadership.self,
        ownerAlive: (o) => (o.id.startsWith('router-') ? leadership.ownerAlive(o) : world.ownerAlive(o)),
        lease: { mayAct: leadership.mayAct, fence: leadership.fence },
        replace: { config, dir, token: 'a'.repeat(64), env: {} },
        log: (line) => { if (process.env.MODEL_LOG === '1') console.log('LOOP', line); },
        // What the routers' alarm tells an operator: how far back the store went.
        onObserved: (_missing, _orphans, regression) => {
          if (regression !== undefined) world.regressedFrom = Math.max(world.regressedFrom, regression.highest);
        },
        clock: { now: () => new Date(world.now()), mono: () => performance.now() + world.offset },
      }));
    }
    for (const [i, leadership] of world.leaderships.entries()) {
      world.rolloutLoops.push(new RolloutLoop({
        store, fleets: world.fleets, config, self: leadership.self,
        sources: { traffic: world.traffic, checks: async () => [] },
        lease: { mayAct: leadership.mayAct, fence: leadership.fence },
        log: (line) => { if (process.env.MODEL_LOG === '1') console.log(`ROLLOUT ${i}`, line); },
        clock: { now: () => new Date(world.now()), mono: () => performance.now() + world.offset },
      }));
    }
    world.tokens.set(0, 1);
    world.pm2.onDelete = (name) => world.checkStop(name);
    world.pm2.onStart = (name, when) => world.onStart(name, when);
    return world;
  }

  get service(): ServiceConfig {
    return this.config.services.lobby!;
  }

  /** A command's liveness as the routers can tell it: known on this host, unknown on another. */
  ownerAlive(owner: Owner): boolean | undefined {
    if (owner.host !== hostname()) return undefined;
    return this.inFlight.has(owner.id);
  }

  /** The deps a command gets: this world's store and fleet, a clock `skewMs` off, an owner on this host or another. */
  depsFor(owner: Owner, skewMs: number): OpsDeps {
    return {
      config: this.config, dir: this.dir, store: this.store, fleets: this.fleets, owner, by: { user: 'model' },
      clock: { now: () => new Date(this.now() + skewMs), mono: () => performance.now() + this.offset },
      ownerAlive: (o) => this.ownerAlive(o),
    };
  }

  /** Runs one command as a process would: it may be killed at a crash point, and then does nothing more. */
  async command(kind: string, opts: { crash?: 'afterClaim' | 'afterStart'; remote?: boolean; skewMs?: number }, fn: (deps: OpsDeps) => Promise<unknown>): Promise<void> {
    const owner = { ...newOwner(kind), pid: 900_000 + Math.floor(Math.random() * 99_000), host: opts.remote === true ? 'ci-runner' : hostname() };
    let killed!: () => void;
    const dead = new Promise<'killed'>((resolve) => {
      killed = () => resolve('killed');
    });
    const ctx: CommandContext = { owner, kind, ...(opts.crash === undefined ? {} : { crash: opts.crash }), killed: false, kill: () => {
      ctx.killed = true;
      this.inFlight.delete(owner.id);
      killed();
    } };
    this.inFlight.add(owner.id);
    try {
      const outcome = await Promise.race([this.commands.run(ctx, () => fn(this.depsFor(owner, opts.skewMs ?? 0))), dead]);
      if (outcome === 'killed') this.counts.crashes += 1;
    } finally {
      this.inFlight.delete(owner.id);
    }
  }

  private onStart(name: string, when: 'before' | 'after'): 'hang' | undefined {
    const ctx = this.commands.getStore();
    if (ctx === undefined) return undefined;
    if (when === 'before') this.claimedBy.set(name, ctx.owner.id);
    if ((ctx.crash === 'afterClaim' && when === 'before') || (ctx.crash === 'afterStart' && when === 'after')) {
      ctx.kill();
      return 'hang';
    }
    return undefined;
  }

  async run(action: Action): Promise<void> {
    this.counts.actions += 1;
    try {
      await performAction(this, action);
    } catch (error) {
      if (isSwitchyardError(error) && error.kind === 'conflict') this.counts.conflicts += 1;
      else if (isSwitchyardError(error) && error.code === 'commit_unknown') this.counts.unknown += 1;
      else if (isSwitchyardError(error) && (error.kind === 'usage' || error.kind === 'failed')) this.counts.refused += 1;
      else this.violations.push(`${JSON.stringify(action)} threw ${(error as Error).stack ?? String(error)}`);
    }
  }

  /** At the instant of every stop: what authorised it, and what it cut off. */
  private async checkStop(id: string): Promise<void> {
    this.counts.stops += 1;
    const ctx = this.commands.getStore();
    const leaderOwner = this.leaderships[this.lease.holder]!.self.id;
    const head = await this.store.peek().catch(() => undefined);
    if (head === undefined) return;
    const svc = head.services.lobby;
    const p = svc?.processes.find((e) => e.id === id);
    const held = this.terminals.get(id) ?? 0;
    if (p === undefined) {
      // Only a prune deletes what the head does not name, and then nothing that holds terminals unconfirmed.
      if (ctx?.kind !== 'prune') this.violations.push(`stopped ${id}, which the policy does not name, from ${ctx?.kind ?? 'a router'}`);
      this.terminals.set(id, 0);
      return;
    }
    if (!['stopping', 'failed', 'retired'].includes(p.state)) return void this.violations.push(`stopped ${id} while the head says ${p.state}: no committed claim authorised it`);
    if (p.state !== 'stopping' && held > 0) this.violations.push(`deleted ${id} (${p.state}) while it held ${held} terminals`);
    if (p.state === 'stopping') {
      if (p.reason === 'lost' && this.pm2Restarted.has(id) && !this.killed.has(id)) this.violations.push(`stopped ${id} as lost while PM2 was restarting it after a crash (it never lost it)`);
      if (this.loops.length > 1 && p.owner?.id.startsWith('router-') && p.owner.id !== leaderOwner) this.violations.push(`stopped ${id} under the claim of ${p.owner.id}, a router that does not hold the lease (${leaderOwner} does)`);
      if (held > 0 && p.reason === 'drained') this.violations.push(`stopped ${id} as drained while it held ${held} terminals`);
      if (p.reason === 'deadline') {
        const began = this.drainSeen.get(id)?.at;
        if (began !== undefined && this.now() - began < DRAIN_TIMEOUT_MS - 5_000) this.violations.push(`stopped ${id} at its drain deadline ${Math.round((this.now() - began) / 1000)} s after its drain began (the timeout is ${DRAIN_TIMEOUT_MS / 1000} s): a clock made it fire early`);
      }
    }
    // A process of the version logins go to may be stopped under a claim made before its version took logins again
    // (a stale incarnation, with a new one serving), never as the last live one. A failed or retired entry serves
    // nothing, and one claimed lost is already gone: deleting those takes nothing away.
    if (p.state === 'stopping' && p.reason !== 'lost' && (p.version === svc!.target || p.version === svc!.canary?.version)) {
      const others = svc!.processes.filter((e) => e.id !== id && e.version === p.version && e.state === 'active' && this.pm2.running.has(e.id));
      if (others.length === 0) this.violations.push(`stopped ${id}, the last live process of ${p.version}, while it is the ${p.version === svc!.target ? 'target' : 'canary'}`);
    }
    this.terminals.set(id, 0);
  }

  /** When each drain truly began (virtual time), noted at the instant its revision landed. */
  noteDrains(written: Policy): void {
    for (const p of written.services.lobby?.processes ?? []) {
      if (p.state === 'draining' && this.drainSeen.get(p.id)?.since !== p.since) this.drainSeen.set(p.id, { since: p.since ?? '', at: this.now() });
    }
  }

  /** Invariants that hold after every step. */
  async check(step: string): Promise<void> {
    const head = await this.store.peek();
    const svc = head.services.lobby;
    if (svc?.target && !this.wentBack) {
      const active = svc.processes.filter((p) => p.version === svc.target && p.state === 'active');
      const live = active.filter((p) => this.pm2.running.has(p.id));
      // A kill racing a rollback can leave the target on a process that died after it was checked: that
      // is a fault from outside, which the loop alarms about; anything else is the control plane's doing.
      const killedFromOutside = active.length > 0 && active.every((p) => this.killed.has(p.id));
      if (live.length === 0 && !killedFromOutside) this.violations.push(`after ${step}: the target ${svc.target} has no live process (${svc.processes.filter((p) => p.version === svc.target).map((p) => `${p.id} ${p.state}${this.pm2.running.has(p.id) ? ' running' : ''}`).join(', ')})`);
    }
    for (const name of this.pm2.restarted.splice(0)) this.violations.push(`after ${step}: PM2 restarted ${name}, a running process, because a start reused its name`);
    await this.checkAbandons(head, step);
    await this.checkHistory(head, step);
    await this.rollouts.check((g) => this.store.revision(g).catch(() => undefined), head, step, this.violations);
  }

  /** A start is never marked abandoned while the command that claimed it still works on this host. */
  private async checkAbandons(head: Policy, step: string): Promise<void> {
    for (let g = this.checkedGeneration + 1; g <= head.generation; g += 1) {
      const [before, after] = await Promise.all([this.store.revision(g - 1).catch(() => undefined), this.store.revision(g).catch(() => undefined)]);
      if (before === undefined || after === undefined) continue;
      for (const p of after.services.lobby?.processes ?? []) {
        const was = before.services.lobby?.processes.find((e) => e.id === p.id);
        if (was?.state !== 'starting' || p.state !== 'failed' || was.owner === undefined) continue;
        if (after.change?.op?.startsWith(was.owner.id.split('-')[0]!) === true && !after.change.op.includes('claim')) continue;
        if (this.inFlight.has(was.owner.id) && was.owner.host === hostname()) this.violations.push(`after ${step}: ${p.id} was marked abandoned (generation ${g}, ${after.change?.op ?? '?'}) while ${was.owner.id} still worked on it`);
      }
    }
    this.checkedGeneration = head.generation;
  }

  private async checkHistory(head: Policy, step: string): Promise<void> {
    const names = (await readdir(join(this.config.stateDir, 'history'))).filter((n) => /^\d+\.json$/.test(n));
    const generations = names.map((n) => Number(n.slice(0, -5))).sort((a, b) => a - b);
    if (generations.length !== head.generation + 1 || generations.some((g, i) => g !== i)) this.violations.push(`after ${step}: history is not 0..${head.generation}: ${generations.join(',')}`);
    for (const g of generations) {
      const hash = createHash('sha256').update(await readFile(join(this.config.stateDir, 'history', `${g}.json`))).digest('hex');
      const seen = this.hashes.get(g);
      if (seen === undefined) this.hashes.set(g, hash);
      else if (seen !== hash) this.violations.push(`after ${step}: history/${g}.json was rewritten`);
    }
  }

  /** The head went back (a played failover): the lost generations may be written again, with other content. */
  forgetAbove(generation: number): void {
    for (const g of this.hashes.keys()) if (g > generation) this.hashes.delete(g);
    this.checkedGeneration = Math.min(this.checkedGeneration, generation);
    this.rollouts.forgetAbove(generation);
    this.wentBack = true;
  }

  /** No terminal left, an operator's look after a store that went back, a few intervals and passes: policy and fleet must agree. */
  async converge(prune: () => Promise<void>): Promise<void> {
    this.terminals.clear();
    this.store.faults.length = 0;
    this.store.readFaults = 0;
    this.pm2.staleLists = 0;
    await new Promise((r) => setTimeout(r, 60));
    // The operator reads the routers' alarm (a pass of each loop raises it), then confirms.
    if (this.wentBack) {
      for (const loop of this.loops) await loop.tick();
      await prune();
    }
    // Claims of commands on other hosts are judged on the loop's own clock: it sees them, then their lease passes.
    await this.loop.tick();
    await Promise.all(this.loops.map((l) => l.idle()));
    this.offset += 11 * 60_000;
    for (let i = 0; i < 4; i += 1) {
      await this.beat();
      await this.loop.tick();
      await this.loop.idle();
    }
    const head = await this.store.peek();
    for (const p of head.services.lobby?.processes ?? []) {
      const running = this.pm2.running.has(p.id);
      if (p.state === 'starting' || p.state === 'stopping') this.violations.push(`converged: ${p.id} is still ${p.state}`);
      if (p.state === 'draining') this.violations.push(`converged: ${p.id} still drains with no terminal`);
      if (p.state === 'active' && !running && !this.killed.has(p.id) && !this.wentBack) this.violations.push(`converged: ${p.id} is active but not running`);
      if ((p.state === 'failed' || p.state === 'retired') && running) this.violations.push(`converged: ${p.id} is ${p.state} but still runs`);
    }
    const named = new Set((head.services.lobby?.processes ?? []).map((p) => p.id));
    for (const id of this.pm2.running.keys()) if (!named.has(id)) this.violations.push(`converged: ${id} runs but no entry names it`);
  }

  /** Every running process reports its terminals, then an interval passes. */
  async beat(): Promise<void> {
    const mono = performance.now() + this.offset;
    for (const [id, run] of this.pm2.running) {
      const seq = this.seq.get(id) ?? 0;
      this.seq.set(id, seq + 1);
      const n = this.terminals.get(id) ?? 0;
      const version = run.app.env.SWITCHYARD_VERSION ?? '';
      this.tallies.ingest({ service: 'lobby', version, process: id, seq, terminals: n > 0 ? { [version]: n } : {} }, mono);
    }
    this.offset += INTERVAL;
  }

  async close(): Promise<void> {
    for (const loop of this.loops) loop.stop();
    await Promise.all(this.loops.map((l) => l.idle()));
    for (const loop of this.rolloutLoops) loop.stop();
    await this.pm2.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
