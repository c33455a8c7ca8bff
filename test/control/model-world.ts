import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig } from '../../src/config/load.js';
import type { Config, ServiceConfig } from '../../src/config/schema.js';
import { leasedLeadership, soleLeadership, type Leadership } from '../../src/control/leadership.js';
import { ownerOf } from '../../src/ops/owner.js';
import { ReconcileLoop } from '../../src/control/reconcile-loop.js';
import { isSwitchyardError } from '../../src/core/errors.js';
import type { Policy } from '../../src/core/policy-schema.js';
import { claimStop, drain, retire } from '../../src/core/policy-transitions.js';
import { TallyBook } from '../../src/core/tally.js';
import { launch } from '../../src/ops/launch.js';
import { applyRole, type DeadProcesses, type Role } from '../../src/ops/roles.js';
import { liveInFleet } from '../../src/fleet/alive.js';
import { bringBack } from '../../src/ops/bring-back.js';
import { conflictError, usageError } from '../../src/core/errors.js';
import type { CommitOptions } from '../../src/store/store.js';
import { commitIfChanged } from '../../src/store/commit-if-changed.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { FleetDouble } from '../helpers/fleet-double.js';

/**
 * The world of the control plane's model test: the real policy store on
 * disk, the real launch (claim → start → record), the real reconcile loop,
 * and a fleet double in place of PM2. Each command does what the CLI
 * command of the same name does. Virtual time (`offset`) moves heartbeats,
 * drain deadlines and claim expiry forward without waiting.
 */
export type Action =
  | { kind: 'deploy'; version: string; role: 'target' | 'active'; crash?: 'afterClaim' | 'afterStart' }
  | { kind: 'promote'; version: string }
  | { kind: 'rollback'; version: string }
  | { kind: 'drain'; version: string }
  | { kind: 'drainNow'; version: string }
  | { kind: 'tick'; router?: number }
  /** With several routers: the leader's lease lapses and the next router takes a new one. */
  | { kind: 'failover'; afterMs?: number }
  | { kind: 'beat' }
  | { kind: 'connect'; n: number }
  | { kind: 'disconnect'; n: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'kill' }
  | { kind: 'race'; a: Action; b: Action };

const INTERVAL = 1000;
class Crash extends Error {}

/** The drain leader's lease as the model keeps it: who holds it, and its fencing token. */
interface ModelLease {
  holder: number;
  token: number;
}

/**
 * The file store with the Redis commit script's fencing check: a commit
 * carrying a token older than the newest lease is refused.
 */
class FencedStore extends PolicyStore {
  fenced = 0;

  constructor(stateDir: string, private readonly lease: ModelLease) {
    super(stateDir);
  }

  override async write(next: Policy, expectedGeneration: number, opts?: CommitOptions): Promise<Policy> {
    if (opts?.fence !== undefined && opts.fence < this.lease.token && ++this.fenced > 0) throw conflictError('lease_fenced', `lease ${opts.fence} is older than lease ${this.lease.token}`);
    return super.write(next, expectedGeneration, opts);
  }
}

export class World {
  readonly fleet = new FleetDouble();
  readonly tallies = new TallyBook({ intervalMs: INTERVAL, staleAfter: 3 });
  readonly violations: string[] = [];
  readonly terminals = new Map<string, number>();
  /** Processes killed from outside (a fault, not a decision): the control plane can only alarm about them. */
  readonly killed = new Set<string>();
  readonly counts = { actions: 0, refused: 0, conflicts: 0, crashes: 0, stops: 0, ticks: 0, failovers: 0 };
  private readonly seq = new Map<string, number>();
  /** The last token each router held (a deposed one keeps sending it). */
  readonly tokens = new Map<number, number>();
  private readonly hashes = new Map<number, string>();
  private offset = 0;
  readonly loops: ReconcileLoop[] = [];
  readonly leaderships: Leadership[] = [];
  private constructor(readonly dir: string, readonly config: Config, readonly store: FencedStore, readonly lease: ModelLease) {}

  /** The loop of the router holding the lease. */
  get loop(): ReconcileLoop {
    return this.loops[this.lease.holder]!;
  }

  /** `routers` reconcile loops share the store and the tally; above one, only the lease holder may act. */
  static async create(portBase: number, routers = 1): Promise<World> {
    const dir = await mkdtemp(join(tmpdir(), 'sy-model-'));
    const raw = {
      hosts: { local: { address: '127.0.0.1' } },
      services: { lobby: { script: 'releases/{version}/server.js', ports: `${portBase}-${portBase + 199}`, readiness: { timeout: '5s' }, drain: { grace: 2, timeout: '10m' } } },
    };
    const { config } = checkConfig(raw, join(dir, 'switchyard.config.yaml'), { cwd: dir, env: {} });
    const lease: ModelLease = { holder: 0, token: 1 };
    const store = new FencedStore(config.stateDir, lease);
    await store.init();
    const world: World = new World(dir, config, store, lease);
    for (let i = 0; i < routers; i += 1) {
      const self = ownerOf('router', new Date(), 0);
      const leadership = routers === 1 ? soleLeadership(self) : leasedLeadership(self, {
        isLeader: () => lease.holder === i,
        fence: () => (lease.holder === i ? lease.token : world.tokens.get(i)),
        holder: () => ({ ownerId: world.leaderships[lease.holder]!.self.id }),
      });
      world.leaderships.push(leadership);
      world.loops.push(new ReconcileLoop({
        store,
        fleet: async () => world.fleet,
        tallies: { processView: (id, now) => world.tallies.processView(id, now), zeroStreak: (id, now) => world.tallies.zeroStreak(id, now), forget: (id) => world.tallies.forget(id) },
        graceFor: () => 2,
        intervalMs: INTERVAL,
        self: leadership.self,
        ownerAlive: leadership.ownerAlive,
        mayAct: leadership.mayAct,
        fence: leadership.fence,
        log: () => undefined,
        monoNow: () => performance.now() + world.offset,
        wallNow: () => Date.now() + world.offset,
      }));
    }
    world.tokens.set(0, 1);
    world.fleet.onRemove = (id) => world!.checkStop(id);
    return world;
  }

  get service(): ServiceConfig {
    return this.config.services.lobby!;
  }

  async run(action: Action): Promise<void> {
    this.counts.actions += 1;
    try {
      await this.perform(action);
    } catch (error) {
      if (error instanceof Crash) this.counts.crashes += 1;
      else if (isSwitchyardError(error) && error.kind === 'conflict') this.counts.conflicts += 1;
      else if (isSwitchyardError(error) && (error.kind === 'usage' || error.kind === 'failed')) this.counts.refused += 1;
      else this.violations.push(`${JSON.stringify(action)} threw ${(error as Error).stack ?? String(error)}`);
    }
  }

  private async perform(action: Action): Promise<void> {
    const now = () => new Date();
    switch (action.kind) {
      case 'race':
        await Promise.all([this.run(action.a), this.run(action.b)]);
        return;
      case 'deploy':
        return this.deploy(action.version, action.role === 'target' ? { kind: 'target' } : { kind: 'active' }, action.crash);
      case 'promote': {
        // As the promote command: refused when PM2 no longer runs any active process of the version.
        const { live, dead } = await this.serving(action.version, ['active']);
        if (live.length === 0 && dead.length > 0) throw usageError('version_down', `${action.version} is down`);
        await commitIfChanged(this.store, (p) => applyRole(p, this.service, action.version, { kind: 'target' }, now()), { retries: 0 });
        return;
      }
      case 'rollback': {
        const { live, dead } = await this.serving(action.version);
        const lost = this.lost(dead);
        const back = live.length > 0 ? await bringBack(() => commitIfChanged(this.store, (p) => applyRole(p, this.service, action.version, { kind: 'rollback' }, now(), lost), { retries: 0 })) : undefined;
        if (back === undefined) await this.launch(action.version, { kind: 'rollback' }, undefined, lost);
        return;
      }
      case 'drain':
        await commitIfChanged(this.store, (p) => drain(p, 'lobby', action.version, now(), this.service.drain.timeoutMs), { retries: 0 });
        return;
      case 'drainNow':
        return this.drainNow(action.version);
      case 'tick':
        this.counts.ticks += 1;
        await (this.loops[(action.router ?? this.lease.holder) % this.loops.length] ?? this.loop).tick();
        return;
      case 'failover':
        if (this.loops.length < 2) return;
        // Later, so that a pass racing it may already hold the old token.
        if (action.afterMs !== undefined) await new Promise((r) => setTimeout(r, action.afterMs));
        this.lease.holder = (this.lease.holder + 1) % this.loops.length;
        this.lease.token += 1;
        this.tokens.set(this.lease.holder, this.lease.token);
        this.counts.failovers += 1;
        return;
      case 'beat':
        return this.beat();
      case 'connect': {
        const head = await this.store.read();
        const target = head.services.lobby?.target;
        const p = head.services.lobby?.processes.find((e) => e.version === target && e.state === 'active' && this.fleet.running.has(e.id));
        if (p !== undefined) this.terminals.set(p.id, (this.terminals.get(p.id) ?? 0) + action.n);
        return;
      }
      case 'disconnect':
        for (const [id, n] of this.terminals) this.terminals.set(id, Math.max(0, n - action.n));
        return;
      case 'advance':
        this.offset += action.ms;
        return;
      case 'kill': {
        const head = await this.store.read();
        const svc = head.services.lobby;
        // A draining process dies: the loop must see it lost and retire it (an active one only alarms).
        const victim = svc?.processes.find((p) => this.fleet.running.has(p.id) && p.state === 'draining');
        if (victim !== undefined) {
          this.killed.add(victim.id);
          await this.fleet.kill(victim.id);
        }
        return;
      }
    }
  }

  /** As the commands do: the version's entries, split by whether PM2 really runs them. */
  private async serving(version: string, states: readonly string[] = ['active', 'draining']) {
    const head = await this.store.read();
    return liveInFleet(this.fleet, (head.services.lobby?.processes ?? []).filter((p) => p.version === version && states.includes(p.state)));
  }

  private lost(dead: readonly { id: string }[]): DeadProcesses {
    // The command that claims them exits right after: its pid is gone, so the loop takes the claims over.
    return { ids: dead.map((p) => p.id), owner: { id: 'cli-exited', pid: 999_999_999, host: hostname() } };
  }

  private async deploy(version: string, role: Role, crash?: 'afterClaim' | 'afterStart'): Promise<void> {
    const { live, dead } = await this.serving(version);
    const lost = this.lost(dead);
    // As the command: bring the live processes back, or start new ones when they went away meanwhile.
    if (live.length > 0 && (await bringBack(() => commitIfChanged(this.store, (p) => applyRole(p, this.service, version, role, new Date(), lost)))) !== undefined) return;
    await this.launch(version, role, crash, lost);
  }

  private async launch(version: string, role: Role, crash?: 'afterClaim' | 'afterStart', lost?: DeadProcesses): Promise<void> {
    // A crashed command's claims name an owner that no longer runs on this host.
    const owner = crash === undefined ? ownerOf('deploy', new Date(), 60_000) : { id: `deploy-dead-${Math.random().toString(16).slice(2, 8)}`, pid: 999_999_999, host: hostname() };
    await launch({
      config: this.config, dir: this.dir, service: this.service, version, store: this.store, fleets: this.fleet, token: 'a'.repeat(64), env: {}, owner,
      finish: (p) => applyRole(p, this.service, version, role, new Date(), lost),
      ...(crash === undefined ? {} : {
        afterClaim: async (ids: readonly string[]) => {
          if (crash === 'afterStart') {
            const claimed = (await this.store.read()).services.lobby!.processes.filter((p) => ids.includes(p.id));
            for (const p of claimed) {
              // A start that fails (the port taken meanwhile) is a crash before the start: nothing runs.
              await this.fleet.start({ id: p.id, service: 'lobby', version, host: p.host, address: p.address, port: p.port, script: '', args: [], cwd: '', env: {}, killTimeoutMs: 1000 }).catch(() => undefined);
            }
          }
          throw new Crash('the command was killed');
        },
      }),
    });
  }

  private async drainNow(version: string): Promise<void> {
    const owner = ownerOf('drain', new Date(), 60_000);
    const claimed = await commitIfChanged(this.store, (head) => {
      const drained = drain(head, 'lobby', version, new Date(), this.service.drain.timeoutMs);
      const ids = drained.services.lobby!.processes.filter((p) => p.version === version && p.state === 'draining').map((p) => p.id);
      return ids.length === 0 ? drained : claimStop(drained, 'lobby', ids, { now: new Date(), reason: 'now', owner, terminals: Object.fromEntries(ids.map((id) => [id, this.terminals.get(id) ?? 0])) });
    }, { retries: 0 });
    const mine = claimed.policy.services.lobby!.processes.filter((p) => p.state === 'stopping' && p.owner?.id === owner.id);
    for (const p of mine) await this.fleet.remove(p.id);
    if (mine.length > 0) await commitIfChanged(this.store, (h) => {
      const ids = mine.map((p) => p.id).filter((id) => h.services.lobby!.processes.some((e) => e.id === id && e.state === 'stopping'));
      return ids.length === 0 ? h : retire(h, 'lobby', ids, new Date());
    });
  }

  /** Every running process reports its terminals, then an interval passes. */
  async beat(): Promise<void> {
    const mono = performance.now() + this.offset;
    for (const { spec } of this.fleet.running.values()) {
      const seq = this.seq.get(spec.id) ?? 0;
      this.seq.set(spec.id, seq + 1);
      const n = this.terminals.get(spec.id) ?? 0;
      this.tallies.ingest({ service: 'lobby', version: spec.version, process: spec.id, seq, terminals: n > 0 ? { [spec.version]: n } : {} }, mono);
    }
    this.offset += INTERVAL;
  }

  /** At the instant of every stop: what authorised it, and what it cut off. */
  private async checkStop(id: string): Promise<void> {
    this.counts.stops += 1;
    // Who leads at the instant the stop is called (the lease may pass on while the head is read below).
    const leaderOwner = this.leaderships[this.lease.holder]!.self.id;
    const head = await this.store.read();
    const svc = head.services.lobby;
    const p = svc?.processes.find((e) => e.id === id);
    if (svc === undefined || p === undefined) return void this.violations.push(`stopped ${id}, which the policy does not name`);
    if (!['stopping', 'failed', 'retired'].includes(p.state)) return void this.violations.push(`stopped ${id} while the head says ${p.state}: no committed claim authorised it`);
    if (p.state !== 'stopping') return;
    // A router acts only on its own claims: a stop under a router's claim is that router's, and it must hold the lease.
    if (this.loops.length > 1 && p.owner?.id.startsWith('router-') && p.owner.id !== leaderOwner) this.violations.push(`stopped ${id} under the claim of ${p.owner.id}, a router that does not hold the lease (${leaderOwner} does)`);
    if (p.version === svc.target || p.version === svc.canary?.version) this.violations.push(`stopped ${id} while ${p.version} is the ${p.version === svc.target ? 'target' : 'canary'}`);
    const held = this.terminals.get(id) ?? 0;
    if (held > 0 && p.reason === 'drained') this.violations.push(`stopped ${id} as drained while it held ${held} terminals`);
    if (held > 0) this.terminals.set(id, 0);
  }

  /** Invariants that hold after every step. */
  async check(step: string): Promise<void> {
    const head = await this.store.read();
    const svc = head.services.lobby;
    if (svc?.target) {
      const active = svc.processes.filter((p) => p.version === svc.target && p.state === 'active');
      const live = active.filter((p) => this.fleet.running.has(p.id));
      // A kill racing a rollback can leave the target on a process that died after it was checked: that
      // is a fault from outside, which the loop alarms about; anything else is the control plane's doing.
      const killedFromOutside = active.length > 0 && active.every((p) => this.killed.has(p.id));
      if (live.length === 0 && !killedFromOutside) this.violations.push(`after ${step}: the target ${svc.target} has no live process (${svc.processes.filter((p) => p.version === svc.target).map((p) => `${p.id} ${p.state}${this.fleet.running.has(p.id) ? ' running' : ''}`).join(', ')})`);
    }
    await this.checkHistory(head, step);
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

  /** No terminal left, a few intervals and passes: the policy and the fleet must agree. */
  async converge(): Promise<void> {
    this.terminals.clear();
    for (let i = 0; i < 4; i += 1) {
      await this.beat();
      await this.loop.tick();
    }
    const head = await this.store.read();
    for (const p of head.services.lobby?.processes ?? []) {
      const running = this.fleet.running.has(p.id);
      if (p.state === 'starting' || p.state === 'stopping') this.violations.push(`converged: ${p.id} is still ${p.state}`);
      if (p.state === 'draining') this.violations.push(`converged: ${p.id} still drains with no terminal`);
      if (p.state === 'active' && !running && !this.killed.has(p.id)) this.violations.push(`converged: ${p.id} is active but not running (it should be missing: only killed processes of other versions are, and those were retired)`);
      if ((p.state === 'failed' || p.state === 'retired') && running) this.violations.push(`converged: ${p.id} is ${p.state} but still runs`);
    }
    const named = new Set((head.services.lobby?.processes ?? []).map((p) => p.id));
    for (const id of this.fleet.running.keys()) if (!named.has(id)) this.violations.push(`converged: ${id} runs but no entry names it`);
  }

  async close(): Promise<void> {
    for (const loop of this.loops) loop.stop();
    await this.fleet.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
